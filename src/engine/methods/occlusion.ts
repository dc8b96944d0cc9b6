/**
 * Occlusion (Zeiler & Fergus 2014; Captum's `Occlusion`): a square window slides over the image and is
 * replaced by the baseline; a pixel's attribution is the mean, over the windows covering it, of
 * S(x) − S(x with the window replaced). S is seed·logits (the class logit, or S_a − S_b for a
 * contrast): occlusion measures evidence, and logits keep it additive and free of softmax saturation.
 */
import { methodSpec } from '../../shared/methods';
import { UserError } from '../errors';
import { checkPasses, baselineValues, inputValues, scorePerturbed } from './perturbation';
import type { AttributionMap, AttributionMethod, MethodContext } from './types';

/** Window start positions along an axis of `length`: every `stride`, plus one flush with the end so every pixel is covered. */
export function windowStarts(length: number, window: number, stride: number): number[] {
  const last = length - window;
  const starts: number[] = [];
  for (let s = 0; s < last; s += stride) starts.push(s);
  starts.push(last);
  return starts;
}

/** The window and stride an occlusion uses: 0 = automatic (an eighth of the shorter side; half the window). */
export function occlusionGeometry(height: number, width: number, window: number, stride: number): { window: number; stride: number } {
  const w = window > 0 ? window : Math.max(1, Math.round(Math.min(height, width) / 8));
  return { window: w, stride: stride > 0 ? stride : Math.max(1, Math.round(w / 2)) };
}

async function occlusion(ctx: MethodContext): Promise<AttributionMap> {
  const { height, width, channels } = ctx.image;
  const geometry = occlusionGeometry(height, width, Number(ctx.options.window), Number(ctx.options.stride));
  if (geometry.stride > geometry.window) {
    // Pixels between windows would be covered by none and get no attribution at all.
    throw new UserError(`occlusion option "stride" (${geometry.stride} px) is larger than the window (${geometry.window} px): ` +
      'pixels between windows would get no attribution; use a stride no larger than the window');
  }
  // A window larger than the image covers the whole side.
  const wy = Math.min(geometry.window, height);
  const wx = Math.min(geometry.window, width);
  const ys = windowStarts(height, wy, geometry.stride);
  const xs = windowStarts(width, wx, geometry.stride);
  const windows = ys.length * xs.length;
  checkPasses(`Occlusion with a ${geometry.window}-pixel window and stride ${geometry.stride} on a ${height}×${width} input`, windows + 1,
    'use a larger stride (or window)');

  const x = inputValues(ctx);
  const baseline = baselineValues(ctx, String(ctx.options.baseline));
  const windowAt = (i: number) => ({ y0: ys[Math.floor(i / xs.length)], x0: xs[i % xs.length] });
  // Row 0 is x itself: S(x) then comes from the same batched runs as the occluded scores.
  const scores = await scorePerturbed(ctx, windows + 1, 'logit', (i, row) => {
    row.set(x);
    if (i === 0) return;
    const { y0, x0 } = windowAt(i - 1);
    for (let y = y0; y < y0 + wy; y++) {
      const from = (y * width + x0) * channels;
      row.set(baseline.subarray(from, from + wx * channels), from);
    }
  });

  const sum = new Float64Array(height * width);
  const covered = new Uint32Array(height * width);
  for (let i = 0; i < windows; i++) {
    const drop = scores[0] - scores[i + 1];
    const { y0, x0 } = windowAt(i);
    for (let y = y0; y < y0 + wy; y++) {
      for (let p = y * width + x0, end = p + wx; p < end; p++) {
        sum[p] += drop;
        covered[p]++;
      }
    }
  }
  return {
    method: 'occlusion', width, height, signed: true,
    data: Float32Array.from(sum, (s, p) => s / covered[p]),
    stats: { windows, window: geometry.window, stride: geometry.stride },
  };
}

export const occlusionMethod: AttributionMethod = {
  spec: methodSpec('occlusion'),
  needs: () => ({}),
  attribute: occlusion,
};
