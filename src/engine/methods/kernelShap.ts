/**
 * Kernel SHAP (Lundberg & Lee 2017) over superpixels: coalitions z ∈ {0,1}^K (switched-off superpixels
 * replaced by the baseline) weighted by the Shapley kernel π(z) = (K−1) / (C(K,|z|)·|z|·(K−|z|)), and a
 * weighted least-squares fit constrained to Σφ = f(x) − f(baseline). As the `shap` package's
 * KernelExplainer does: the empty and full coalitions (infinite weight) enter exactly, through the
 * constraint, by eliminating one variable; coalition sizes are enumerated completely, smallest and
 * largest first (each with its complement), while the budget allows, and the rest sampled in pairs.
 * With 2^K − 2 ≤ samples every coalition is enumerated and φ are the exact Shapley values.
 * f is the class probability (a contrast: seed·logits).
 */
import { methodSpec } from '../../shared/methods';
import { weightedRegression } from './linearRegression';
import { baselineValues, fillRegions, inputValues, regionMap, scorePerturbed } from './perturbation';
import { seededUniform } from './random';
import { segmentInput } from './superpixels';
import type { AttributionMap, AttributionMethod, MethodContext } from './types';

/** Coalitions (0/1 per superpixel: 1 = kept) with their kernel weights. */
export interface Coalitions {
  masks: Uint8Array[];
  weights: number[];
  /** Every coalition was enumerated (the result is exact). */
  exhaustive: boolean;
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

/** Every subset of {0 … k−1} of `size` elements, as 0/1 masks, in lexicographic order. */
function* subsetsOfSize(k: number, size: number): Generator<Uint8Array> {
  const idx = Array.from({ length: size }, (_, i) => i);
  for (;;) {
    const m = new Uint8Array(k);
    for (const i of idx) m[i] = 1;
    yield m;
    let j = size - 1;
    while (j >= 0 && idx[j] === k - size + j) j--;
    if (j < 0) return;
    idx[j]++;
    for (let t = j + 1; t < size; t++) idx[t] = idx[t - 1] + 1;
  }
}

const complement = (m: Uint8Array) => m.map((v) => 1 - v);

/**
 * The coalitions Kernel SHAP evaluates for K features within `budget`, and their weights (summing to 1).
 * Sizes s and K − s share the kernel's weight; they are taken whole, in pairs, from the outside in (where
 * the kernel is heaviest) while a size's share of the remaining budget covers all its subsets; the rest
 * of the budget draws sizes by their remaining kernel mass and a random subset of each, with its
 * complement; a coalition drawn again adds to its weight instead of costing a pass.
 */
export function shapCoalitions(k: number, budget: number, seed: number): Coalitions {
  const masks: Uint8Array[] = [];
  const weights: number[] = [];
  if (k < 2) return { masks, weights, exhaustive: true };
  if (k < 31 && 2 ** k - 2 <= budget) {
    for (let s = 1; s < k; s++) {
      const w = (k - 1) / (binomial(k, s) * s * (k - s));
      for (const m of subsetsOfSize(k, s)) {
        masks.push(m);
        weights.push(w);
      }
    }
    const total = weights.reduce((a, b) => a + b, 0);
    return { masks, weights: weights.map((w) => w / total), exhaustive: true };
  }

  const sizes = Math.ceil((k - 1) / 2); // s = 1 … sizes; s and K − s paired when s < K − s
  const paired = Math.floor((k - 1) / 2);
  const sizeWeight = Array.from({ length: sizes }, (_, i) => ((k - 1) / ((i + 1) * (k - i - 1))) * (i < paired ? 2 : 1));
  const norm = sizeWeight.reduce((a, b) => a + b, 0);
  for (let i = 0; i < sizes; i++) sizeWeight[i] /= norm;

  let left = budget;
  let full = 0;
  let remaining = sizeWeight.slice();
  for (let i = 0; i < sizes; i++) {
    const s = i + 1;
    const count = binomial(k, s) * (i < paired ? 2 : 1);
    if ((left * remaining[i]) / count < 1 - 1e-8) break;
    full++;
    left -= count;
    if (remaining[i] < 1) remaining = remaining.map((w) => w / (1 - remaining[i]));
    const w = sizeWeight[i] / count;
    for (const m of subsetsOfSize(k, s)) {
      masks.push(m);
      weights.push(w);
      if (i < paired) {
        masks.push(complement(m));
        weights.push(w);
      }
    }
  }

  if (full < sizes && left > 0) {
    const fixed = masks.length;
    // Remaining sizes drawn by their kernel mass (paired sizes draw two coalitions, so half each).
    const draw = sizeWeight.slice(full).map((w, j) => (j + full < paired ? w / 2 : w));
    const drawTotal = draw.reduce((a, b) => a + b, 0);
    const rand = seededUniform(seed);
    const seen = new Map<string, number>();
    const order = Array.from({ length: k }, (_, i) => i);
    for (let tries = 0; left > 0 && tries < 4 * budget; tries++) {
      let u = rand() * drawTotal;
      let j = 0;
      while (j < draw.length - 1 && u >= draw[j]) u -= draw[j++];
      const i = j + full;
      const s = i + 1;
      // A uniform subset of size s: the first s of a partial Fisher–Yates shuffle.
      const m = new Uint8Array(k);
      for (let t = 0; t < s; t++) {
        const r = t + Math.floor(rand() * (k - t));
        [order[t], order[r]] = [order[r], order[t]];
        m[order[t]] = 1;
      }
      const key = maskKey(m);
      const at = seen.get(key);
      if (at === undefined) {
        seen.set(key, masks.length);
        masks.push(m);
        weights.push(1);
        left--;
        if (i < paired && left > 0) {
          masks.push(complement(m));
          weights.push(1);
          left--;
        }
      } else {
        weights[at]++;
        // The complement was added right after the first draw (when the budget allowed it).
        if (i < paired && at + 1 < masks.length && weights.length > at + 1 && isComplement(masks[at], masks[at + 1])) weights[at + 1]++;
      }
    }
    // The drawn coalitions share the kernel mass of the sizes not enumerated, in proportion to their draws.
    const mass = sizeWeight.slice(full).reduce((a, b) => a + b, 0);
    let drawn = 0;
    for (let t = fixed; t < weights.length; t++) drawn += weights[t];
    for (let t = fixed; t < weights.length; t++) weights[t] *= mass / drawn;
  }
  return { masks, weights, exhaustive: full === sizes };
}

function maskKey(m: Uint8Array): string {
  let key = '';
  for (let i = 0; i < m.length; i += 16) {
    let v = 0;
    for (let b = 0; b < 16 && i + b < m.length; b++) v |= m[i + b] << b;
    key += String.fromCharCode(v);
  }
  return key;
}

function isComplement(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] + b[i] !== 1) return false;
  return true;
}

/**
 * φ from the coalitions' scores, Σφ = fx − f0 exactly: with v = φ_{K−1} eliminated,
 * y − f0 − z_{K−1}(fx − f0) = Σ_{j<K−1} φ_j (z_j − z_{K−1}), solved by weighted least squares.
 */
export function shapleyRegression(c: Coalitions, scores: ArrayLike<number>, fx: number, f0: number, k: number): { phi: Float64Array; regularized: boolean } {
  const phi = new Float64Array(k);
  const total = fx - f0;
  if (k === 1 || c.masks.length === 0) {
    // One feature takes the whole change; with none sampled (K ≥ 2, no budget) it is shared evenly.
    phi.fill(total / k);
    return { phi, regularized: k > 1 };
  }
  const n = c.masks.length;
  const vars = k - 1;
  const design = new Float64Array(n * vars);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const m = c.masks[i];
    const last = m[k - 1];
    for (let j = 0; j < vars; j++) design[i * vars + j] = m[j] - last;
    y[i] = scores[i] - f0 - last * total;
  }
  const fit = weightedRegression({ x: design, y, weights: Float64Array.from(c.weights), features: vars }, { alpha: 0, intercept: false });
  let sum = 0;
  for (let j = 0; j < vars; j++) sum += phi[j] = fit.coef[j];
  phi[k - 1] = total - sum;
  return { phi, regularized: fit.regularized };
}

async function kernelShap(ctx: MethodContext): Promise<AttributionMap> {
  const { height, width, channels } = ctx.image;
  const x = inputValues(ctx);
  const baseline = baselineValues(ctx, String(ctx.options.baseline));
  const regions = segmentInput(x, ctx.image, Number(ctx.options.segments));
  const k = regions.count;
  const c = shapCoalitions(k, Number(ctx.options.samples), Number(ctx.options.seed));

  // Rows 0 and 1 are the full and empty coalitions: f(x) and f(baseline) from the same batched runs.
  const all = new Uint8Array(k).fill(1);
  const none = new Uint8Array(k);
  const coalition = (i: number) => (i === 0 ? all : i === 1 ? none : c.masks[i - 2]);
  const scores = await scorePerturbed(ctx, c.masks.length + 2, 'probability', (i, row) =>
    fillRegions(row, x, baseline, regions, coalition(i), channels));
  const [fx, f0] = [scores[0], scores[1]];
  const { phi, regularized } = shapleyRegression(c, scores.subarray(2), fx, f0, k);

  let sum = 0;
  for (const v of phi) sum += v;
  const notes: string[] = [];
  if (regularized && k > 1) {
    notes.push(`Kernel SHAP evaluated ${c.masks.length} coalitions for ${k} superpixels, too few to determine every value; raise the samples or lower the superpixels`);
  }
  return {
    method: 'kernelshap', width, height, signed: true,
    data: regionMap(phi, regions),
    stats: { segments: k, coalitions: c.masks.length, exact: c.exhaustive ? 1 : 0, efficiencyGap: Math.abs(sum - (fx - f0)), fx, fBaseline: f0 },
    ...(notes.length ? { notes } : {}),
  };
}

export const kernelShapMethod: AttributionMethod = {
  spec: methodSpec('kernelshap'),
  needs: () => ({}),
  attribute: kernelShap,
};
