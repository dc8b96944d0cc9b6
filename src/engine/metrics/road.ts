/**
 * ROAD, RemOve And Debias (Rong, Leemann et al. 2022, "A Consistent and Efficient Evaluation Strategy for
 * Attribution Methods"): remove a fraction of the pixels in the map's order, fill them by noisy linear imputation
 * (roadImputation.ts) and read the class probability.
 * - MoRF (most relevant first): the p % of pixels with the highest attribution removed; a faithful map makes
 *   the probability fall fast. LeRF (least relevant first): the p % lowest removed; it should stay high.
 * - Defaults as pytorch-grad-cam's ROADMostRelevantFirstAverage / ROADLeastRelevantFirstAverage / ROADCombined:
 *   percentiles 10, 20, …, 90; noise σ 0.01; the combined score is the mean over percentiles of
 *   (LeRF(p) − MoRF(p)) / 2, in [−0.5, 0.5], higher is better. pytorch-grad-cam averages differences from the
 *   unperturbed score, which cancel in LeRF − MoRF; it also counts its percentile as the pixels *kept*
 *   (removing 100 − p %), which over the symmetric default set gives the same mean.
 * - The percentile counts removed pixels as Quantus' ROAD does: the first ⌊N·p/100⌋ of the ranking
 *   (N = height·width: maps hold one value per pixel, and one mask covers every channel, as in the reference). The ranking is pixelOrder (pixelOrder.ts, shared with deletion/insertion):
 *   ties broken by a seeded shuffle, not by position, so a flat region (Grad-CAM's zeros) is not removed row
 *   by row. Quantus reports accuracy over a data set; for one image we report the probability.
 * - The noise of the k-th perturbed input (MoRF inputs first, then LeRF) is seeded from seed + k; ties from seed.
 * - The imputation solve takes ~0.1–0.2 s per input at 224² (multigrid-preconditioned CG, roadMultigrid.ts); the
 *   2·9 + 1 inputs go through BatchRunner.forward in chunks, each imputed only when its chunk is built.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import { batchRunner, BatchRunner } from '../methods/batch';
import { seededNormal, seededUniform } from '../methods/random';
import { probabilities } from '../methods/scores';
import type { ModelRuntime } from '../runtimes/types';
import { pixelOrder } from './pixelOrder';
import { mapAtSize, type MapLike } from './similarity';
import { ImputationStats, noisyLinearImputation, SolverOptions } from './roadImputation';

export const DEFAULT_ROAD_PERCENTILES: readonly number[] = [10, 20, 30, 40, 50, 60, 70, 80, 90];
/** σ of the imputation noise in model-input units (road_evaluation, pytorch-grad-cam and Quantus: 0.01). */
export const DEFAULT_ROAD_NOISE = 0.01;
/** Percentiles at most: each costs two imputations and two forward passes. */
export const MAX_ROAD_PERCENTILES = 99;

export interface RoadOptions extends SolverOptions {
  /** Percent of the pixels removed at each point, each in (0, 100). */
  percentiles?: readonly number[];
  /** σ of the Gaussian noise added to imputed values, in model-input units (≥ 0). */
  noise?: number;
  seed?: number;
  /** A batch runner to reuse (its progress reporting included); default a new one on the runtime. */
  batch?: BatchRunner;
}

export interface RoadInput {
  runtime: ModelRuntime;
  /** The preprocessed input [1, ...inputShape], its values in image order (row, column, channel). */
  x: tf.Tensor;
  /** The image the input encodes. */
  image: { height: number; width: number; channels: number };
  /** The attribution map; a map of another size (a CAM at its layer's size) is resized to the image first. */
  map: MapLike;
  classIndex: number;
}

export interface RoadResult {
  percentiles: number[];
  /** Class probability with the p % most relevant pixels imputed, per percentile. */
  morf: number[];
  /** Class probability with the p % least relevant pixels imputed. */
  lerf: number[];
  /** Mean over percentiles of (LeRF − MoRF) / 2 (pytorch-grad-cam's ROADCombined). */
  combined: number;
  /** Class probability of the unperturbed input. */
  original: number;
  /** The imputation solver's worst case over all perturbed inputs. */
  solver: ImputationStats;
}

function checkOptions(input: RoadInput, opts: RoadOptions): { percentiles: number[]; noise: number; seed: number } {
  const percentiles = [...(opts.percentiles ?? DEFAULT_ROAD_PERCENTILES)];
  if (percentiles.length === 0 || percentiles.length > MAX_ROAD_PERCENTILES) {
    throw new UserError(`ROAD needs between 1 and ${MAX_ROAD_PERCENTILES} percentiles, got ${percentiles.length}.`);
  }
  for (const p of percentiles) {
    if (!(Number.isFinite(p) && p > 0 && p < 100)) throw new UserError(`ROAD percentiles must be numbers strictly between 0 and 100, got ${p}.`);
  }
  const noise = opts.noise ?? DEFAULT_ROAD_NOISE;
  if (!(Number.isFinite(noise) && noise >= 0)) throw new UserError(`ROAD's noise must be a number ≥ 0, got ${noise}.`);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new UserError(`ROAD's seed must be an integer, got ${seed}.`);
  if (opts.tolerance !== undefined && !(opts.tolerance > 0 && opts.tolerance < 1)) {
    throw new UserError(`ROAD's solver tolerance must be between 0 and 1, got ${opts.tolerance}.`);
  }
  if (opts.maxIterations !== undefined && !(Number.isInteger(opts.maxIterations) && opts.maxIterations > 0 && opts.maxIterations <= 100_000)) {
    throw new UserError(`ROAD's solver iteration cap must be an integer from 1 to 100000, got ${opts.maxIterations}.`);
  }
  const { runtime, x, image, classIndex } = input;
  if (x.size !== image.height * image.width * image.channels) {
    throw new UserError(`ROAD: the input has ${x.size} values, not the ${image.height}×${image.width}×${image.channels} image it should encode.`);
  }
  if (!(Number.isInteger(classIndex) && classIndex >= 0 && classIndex < runtime.numClasses)) {
    throw new UserError(`ROAD: class ${classIndex} is not one of the model's ${runtime.numClasses} classes.`);
  }
  const { map } = input;
  if (!(Number.isInteger(map.width) && Number.isInteger(map.height) && map.width > 0 && map.height > 0 && map.data.length === map.width * map.height)) {
    throw new UserError(`ROAD: the map must be width × height values, got ${map.width}×${map.height} with ${map.data.length}.`);
  }
  for (let i = 0; i < map.data.length; i++) {
    if (!Number.isFinite(map.data[i])) throw new UserError(`ROAD: the map has a value that is not a finite number (at index ${i}).`);
  }
  return { percentiles, noise, seed };
}

/** MoRF and LeRF curves and the combined score of one map. */
export async function road(input: RoadInput, opts: RoadOptions = {}): Promise<RoadResult> {
  const { percentiles, noise, seed } = checkOptions(input, opts);
  const { runtime, image } = input;
  const { width, height, channels } = image;
  const pixels = width * height;
  const mapValues = mapAtSize(input.map, width, height);
  const order = pixelOrder(mapValues, seed);
  const values = Float32Array.from(input.x.dataSync() as Float32Array);
  const solver: ImputationStats = { iterations: 0, relativeResidual: 0 };

  // Row 0 is the input itself; rows 1…P are MoRF, P+1…2P LeRF. Each row is imputed only when its chunk is built.
  const count = 1 + 2 * percentiles.length;
  const fill = (row: number, out: Float32Array) => {
    if (row === 0) {
      out.set(values);
      return;
    }
    const k = row - 1;
    const lerf = k >= percentiles.length;
    const removedCount = Math.floor((pixels * percentiles[lerf ? k - percentiles.length : k]) / 100);
    const removed = new Uint8Array(pixels);
    for (let r = 0; r < removedCount; r++) removed[order[lerf ? pixels - 1 - r : r]] = 1;
    const normal = seededNormal(seededUniform((seed + k) >>> 0));
    const { filled, stats } = noisyLinearImputation(values, width, height, channels, removed, noise, normal, opts);
    solver.iterations = Math.max(solver.iterations, stats.iterations);
    solver.relativeResidual = Math.max(solver.relativeResidual, stats.relativeResidual);
    out.set(filled);
  };
  const batch = opts.batch ?? batchRunner(runtime);
  const size = values.length;
  const logits = await batch.forward(count, (start, end) => {
    const rows = new Float32Array((end - start) * size);
    for (let i = start; i < end; i++) fill(i, rows.subarray((i - start) * size, (i - start + 1) * size));
    return tf.tensor(rows, [end - start, ...runtime.inputShape]);
  });
  const classes = runtime.numClasses;
  const prob = (row: number) => probabilities(logits.subarray(row * classes, (row + 1) * classes), runtime.outputActivation)[input.classIndex];
  const morf = percentiles.map((_, k) => prob(1 + k));
  const lerf = percentiles.map((_, k) => prob(1 + percentiles.length + k));
  const combined = morf.reduce((s, m, k) => s + (lerf[k] - m) / 2, 0) / percentiles.length;
  return { percentiles, morf, lerf, combined, original: prob(0), solver };
}
