/**
 * RISE (Petsiuk, Das & Saenko 2018): N random masks, each a g×g grid of cells kept with probability p,
 * upsampled bilinearly to (g+1)·cell size and cropped at a random shift (so cell borders fall anywhere);
 * map = Σ_i P_c(x ⊙ M_i) M_i / (N·p). P_c is the class probability (a contrast: seed·logits, which can
 * be negative, so that map is signed). Masks are made from (seed, index) alone: the same seed gives the
 * same masks however the batch runner chunks them, and they are made again for the sum instead of kept.
 */
import { methodSpec } from '../../shared/methods';
import { axisTaps } from '../../shared/resize';
import { inputValues, scorePerturbed } from './perturbation';
import { seededUniform } from './random';
import type { AttributionMap, AttributionMethod, MethodContext } from './types';

export interface RiseMaskSpec {
  height: number;
  width: number;
  grid: number;
  keep: number;
  seed: number;
}

/** A generator of RISE masks: `mask(i, out)` writes mask i (height·width values in [0, 1], row-major). */
export function riseMasks(spec: RiseMaskSpec): (i: number, out: Float32Array) => void {
  const { height, width, grid: g, keep } = spec;
  const cellY = Math.ceil(height / g);
  const cellX = Math.ceil(width / g);
  // Bilinear upsampling g → (g+1)·cell with half-pixel centres (skimage's resize, order 1): for each
  // upsampled row/column the two grid cells it mixes and the weight of the second.
  const ty = axisTaps(g, (g + 1) * cellY);
  const tx = axisTaps(g, (g + 1) * cellX);
  const cells = new Float32Array(g * g);
  const rowsAlongX = new Float32Array(g * width);
  return (i, out) => {
    const rand = seededUniform(mixSeed(spec.seed, i));
    for (let c = 0; c < g * g; c++) cells[c] = rand() < keep ? 1 : 0;
    const dy = Math.floor(rand() * cellY);
    const dx = Math.floor(rand() * cellX);
    // Separable: interpolate each grid row along x at the cropped columns, then mix two rows per output row.
    for (let a = 0; a < g; a++) {
      for (let x = 0; x < width; x++) {
        const t = tx.w[x + dx];
        rowsAlongX[a * width + x] = (1 - t) * cells[a * g + tx.i0[x + dx]] + t * cells[a * g + tx.i1[x + dx]];
      }
    }
    for (let y = 0; y < height; y++) {
      const lo = ty.i0[y + dy];
      const hi = ty.i1[y + dy];
      const t = ty.w[y + dy];
      for (let x = 0; x < width; x++) out[y * width + x] = (1 - t) * rowsAlongX[lo * width + x] + t * rowsAlongX[hi * width + x];
    }
  };
}

/** An independent generator seed per (seed, mask index): a 32-bit integer hash of the pair. */
function mixSeed(seed: number, i: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

async function rise(ctx: MethodContext): Promise<AttributionMap> {
  const { height, width, channels } = ctx.image;
  const count = Number(ctx.options.masks);
  const keep = Number(ctx.options.keep);
  const spec = { height, width, grid: Number(ctx.options.grid), keep, seed: Number(ctx.options.seed) };
  const x = inputValues(ctx);
  const mask = new Float32Array(height * width);
  const makeMask = riseMasks(spec);
  const scores = await scorePerturbed(ctx, count, 'probability', (i, row) => {
    makeMask(i, mask);
    for (let p = 0, o = 0; p < mask.length; p++, o += channels) {
      for (let c = 0; c < channels; c++) row[o + c] = x[o + c] * mask[p];
    }
  });
  const sum = new Float64Array(height * width);
  for (let i = 0; i < count; i++) {
    makeMask(i, mask);
    const s = scores[i];
    for (let p = 0; p < mask.length; p++) sum[p] += s * mask[p];
  }
  return {
    method: 'rise', width, height, signed: ctx.target.contrast !== undefined,
    data: Float32Array.from(sum, (v) => v / (count * keep)),
  };
}

export const riseMethod: AttributionMethod = {
  spec: methodSpec('rise'),
  needs: () => ({}),
  attribute: rise,
};
