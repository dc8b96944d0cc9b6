/**
 * Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"), as arithmetic on
 * the blocks' attention probabilities. Each block's heads are fused into one T×T matrix A (mean, as the
 * paper; max or min, as jacobgil/vit-explain offers), optionally with its lowest weights set to zero
 * (vit-explain's discard_ratio); the residual connection is accounted for as ½(A + I), rows renormalized to
 * sum to 1; the blocks multiply, last block on the left: R = Â_L ⋯ Â_1. Row i of R is how much of token i's
 * final representation flows from each input token.
 */

export const HEAD_FUSIONS = ['mean', 'max', 'min'] as const;
export type HeadFusion = (typeof HEAD_FUSIONS)[number];

export interface RolloutInput {
  /** Each block's probabilities [heads, T, T], input side first. */
  blocks: readonly Float32Array[];
  heads: readonly number[];
  tokens: number;
  /** Special tokens in front of the patches; the first is the class token. 0: the head pools the patches. */
  skip: number;
}

export interface RolloutOptions {
  headFusion: HeadFusion;
  /** Fraction of each fused matrix's weights, the lowest, set to zero before the identity is added. */
  discardRatio: number;
}

/** One block's heads fused into a T×T matrix, in float64. */
export function fuseHeads(block: Float32Array, heads: number, tokens: number, fusion: HeadFusion): Float64Array {
  const plane = tokens * tokens;
  if (block.length !== heads * plane) throw new RangeError(`attention of ${block.length} values for ${heads} heads of ${tokens}×${tokens}`);
  const out = new Float64Array(plane);
  for (let p = 0; p < plane; p++) {
    let v = block[p];
    for (let h = 1; h < heads; h++) {
      const w = block[h * plane + p];
      v = fusion === 'mean' ? v + w : fusion === 'max' ? Math.max(v, w) : Math.min(v, w);
    }
    out[p] = fusion === 'mean' ? v / heads : v;
  }
  return out;
}

/**
 * Sets the ⌊T²·ratio⌋ lowest weights of the fused matrix to zero, as vit-explain does: chosen over the
 * whole matrix, not per row, and the class token's attention to itself (entry 0, 0) is never dropped
 * (`protectFirst`; vit-explain's "don't drop the class token" keeps only that entry).
 */
export function discardLowest(a: Float64Array, ratio: number, protectFirst: boolean): void {
  const count = Math.min(Math.floor(a.length * ratio), a.length);
  if (count <= 0) return;
  // The count-th lowest value; of the entries equal to it, the first ones by index make up the count
  // (a typed-array sort of the values: ViT-B/16's 197² entries per block in a few ms, unlike sorting indices).
  const threshold = Float64Array.from(a).sort()[count - 1];
  let ties = count;
  for (const v of a) if (v < threshold) ties--;
  for (let i = 0; i < a.length; i++) {
    const drop = a[i] < threshold || (a[i] === threshold && ties-- > 0);
    // The protected entry keeps its place among the lowest: one fewer is dropped, as in vit-explain.
    if (drop && !(protectFirst && i === 0)) a[i] = 0;
  }
}

/**
 * ½(A + I) with each row divided by its own sum. (vit-explain writes `a / a.sum(dim=-1)`, which broadcasts
 * row j's sum over column j; the two agree when nothing is discarded, since every row of ½(A + I) then sums to 1.)
 */
export function withResidual(a: Float64Array, tokens: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < tokens; i++) {
    let sum = 0;
    for (let j = 0; j < tokens; j++) {
      const v = (a[i * tokens + j] + (i === j ? 1 : 0)) / 2;
      out[i * tokens + j] = v;
      sum += v;
    }
    for (let j = 0; j < tokens; j++) out[i * tokens + j] /= sum;
  }
  return out;
}

/**
 * The rollout map over the patch tokens, row by row: the class token's row of R, or, without special tokens,
 * the mean of R's rows (every token's flow, as the patches are pooled).
 */
export function rolloutMap(input: RolloutInput, options: RolloutOptions): Float64Array {
  const { blocks, heads, tokens, skip } = input;
  return patchRow(tokens, skip, blocks.length, (b) => {
    const fused = fuseHeads(blocks[b], heads[b], tokens, options.headFusion);
    discardLowest(fused, options.discardRatio, skip > 0);
    return withResidual(fused, tokens);
  });
}

/**
 * One block's heads as Chefer et al. 2021b weigh them: the mean over heads of max(0, ∂y/∂A ⊙ A), in float64.
 */
export function gradientWeightedHeads(block: Float32Array, gradient: Float32Array, heads: number, tokens: number): Float64Array {
  const plane = tokens * tokens;
  if (block.length !== heads * plane || gradient.length !== block.length) {
    throw new RangeError(`attention of ${block.length} values and gradient of ${gradient.length} for ${heads} heads of ${tokens}×${tokens}`);
  }
  const out = new Float64Array(plane);
  for (let h = 0; h < heads; h++) {
    for (let p = 0; p < plane; p++) {
      const v = gradient[h * plane + p] * block[h * plane + p];
      if (v > 0) out[p] += v;
    }
  }
  for (let p = 0; p < plane; p++) out[p] /= heads;
  return out;
}

/**
 * Gradient-weighted rollout (Chefer, Gur & Wolf 2021b, "Generic Attention-model Explainability"): R = I and,
 * block by block from the input side, R ← R + Ā·R with Ā the block's gradient-weighted heads; the map is read
 * from R as rolloutMap reads it.
 */
export function gradientRolloutMap(input: RolloutInput & { gradients: readonly Float32Array[] }): Float64Array {
  const { blocks, gradients, heads, tokens, skip } = input;
  return patchRow(tokens, skip, blocks.length, (b) => {
    const m = gradientWeightedHeads(blocks[b], gradients[b], heads[b], tokens);
    for (let i = 0; i < tokens; i++) m[i * tokens + i] += 1;
    return m;
  });
}

/**
 * The class token's row (or the mean row, without special tokens) of M_L ⋯ M_1 over the patch tokens. Only
 * that row is needed, so it is carried from the last block back to the first as a row vector (T² per block
 * instead of T³).
 */
function patchRow(tokens: number, skip: number, blocks: number, matrix: (block: number) => Float64Array): Float64Array {
  let row = new Float64Array(tokens);
  if (skip > 0) row[0] = 1;
  else row.fill(1 / tokens);
  for (let b = blocks - 1; b >= 0; b--) {
    const a = matrix(b);
    const next = new Float64Array(tokens);
    for (let i = 0; i < tokens; i++) {
      const r = row[i];
      if (r === 0) continue;
      for (let j = 0; j < tokens; j++) next[j] += r * a[i * tokens + j];
    }
    row = next;
  }
  return row.slice(skip);
}
