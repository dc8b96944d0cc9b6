/**
 * What the perturbation methods (occlusion, RISE, LIME, Kernel SHAP) share: the input and its baseline as
 * plain arrays in image order, perturbed copies built chunk by chunk for the batch runner and scored,
 * and a bound on how many forward passes one map may take.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import { baselineFor, BaselineKind } from './baselines';
import { ScoreKind, targetScores } from './scores';
import type { MethodContext } from './types';

/** Forward passes one map may take at most: beyond this a map takes hours even natively batched. */
export const MAX_FORWARD_PASSES = 100_000;

/** Refuses an option combination that needs more than MAX_FORWARD_PASSES, saying which and how to fix it. */
export function checkPasses(what: string, passes: number, advice: string): void {
  if (passes > MAX_FORWARD_PASSES) {
    throw new UserError(`${what} needs ${passes.toLocaleString('en')} forward passes, more than the limit of ${MAX_FORWARD_PASSES.toLocaleString('en')}; ${advice}`);
  }
}

/**
 * The input's values in image order (row, column, channel): every layout the engine hands a runtime
 * ([H,W,C], [H,W], or flat for MLPs) stores the image so.
 */
export function inputValues(ctx: MethodContext): Float32Array {
  return Float32Array.from(ctx.x.dataSync() as Float32Array);
}

/** The baseline image (preprocessed like x) in image order. */
export function baselineValues(ctx: MethodContext, kind: string): Float32Array {
  const b = baselineFor(kind as BaselineKind, ctx.x, ctx.image, { preprocessing: ctx.preprocessing });
  try {
    return Float32Array.from(b.dataSync() as Float32Array);
  } finally {
    b.dispose();
  }
}

/**
 * The scores (see ScoreKind) of `count` perturbed inputs. `fill(i, row)` writes input i in image order;
 * inputs are built only for the chunk the batch runner asks for, never all at once.
 */
export async function scorePerturbed(ctx: MethodContext, count: number, kind: ScoreKind,
  fill: (i: number, row: Float32Array) => void): Promise<Float64Array> {
  const shape = ctx.runtime.inputShape;
  const size = ctx.x.size;
  const logits = await ctx.batch.forward(count, (start, end) => {
    const values = new Float32Array((end - start) * size);
    for (let i = start; i < end; i++) fill(i, values.subarray((i - start) * size, (i - start + 1) * size));
    return tf.tensor(values, [end - start, ...shape]);
  });
  return targetScores(logits, ctx.runtime.numClasses, ctx.target, kind, ctx.runtime.outputActivation);
}

/** An image split into regions (superpixels): each pixel's region, row-major, 0 … count − 1. */
export interface Regions {
  labels: Int32Array;
  count: number;
}

/** Writes x with every region switched off (`on[region]` = 0) replaced by the baseline. */
export function fillRegions(row: Float32Array, x: Float32Array, baseline: Float32Array, regions: Regions, on: ArrayLike<number>, channels: number): void {
  const { labels } = regions;
  for (let p = 0, o = 0; p < labels.length; p++, o += channels) {
    const from = on[labels[p]] ? x : baseline;
    for (let c = 0; c < channels; c++) row[o + c] = from[o + c];
  }
}

/** A map giving every pixel its region's value. */
export function regionMap(values: ArrayLike<number>, regions: Regions): Float32Array {
  return Float32Array.from(regions.labels, (r) => values[r]);
}
