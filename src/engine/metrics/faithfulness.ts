/**
 * Deletion and insertion curves (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for
 * Explanation of Black-box Models", §4.1): how fast the class probability falls as the pixels a map ranks
 * highest are removed (deletion: lower area is better), and how fast it rises as they are revealed on a
 * baseline (insertion: higher area is better), with a random order as the chance reference.
 *
 * Defaults and conventions follow Xplique's Deletion/Insertion (xplique.metrics.fidelity.CausalFidelity):
 * - `steps` = 10 intervals, i.e. steps + 1 points from 0 % to 100 % of the pixels; point k changes
 *   floor(k·N/steps) pixels (N = H·W, all channels of a pixel together);
 * - AUC by the trapezoid rule with the points equally spaced at k/steps on [0, 1], so a probability curve's
 *   AUC lies in [0, 1];
 * - baseline: Xplique sets removed features to 0.0 in model-input space. Ours is an image ('black' by default)
 *   put through the model's preprocessing (methods/baselines.ts): the same under the engine's default 'unit'
 *   preprocessing (p/255), and still a black picture under ImageNet mean/std. 'blur' and 'mean' as for the
 *   attribution methods (RISE's insertion starts from a blurred image).
 * - signed maps are ranked by their value, not its magnitude (Xplique's advice: negative evidence goes last);
 *   ties (Grad-CAM's zeros, a constant map) in a seeded random order (pixelOrder.ts).
 * Xplique scores the raw model output by default; we record both the class probability (softmax, or sigmoid
 * for sigmoid heads: methods/scores.ts) and the logit, and report the AUC of each (the probability's is the
 * headline, as in the paper).
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import type { Explainer } from '../explain';
import type { Preprocessing } from '../image/preprocess';
import { baselineFor, ImageShape } from '../methods/baselines';
import { batchRunner } from '../methods/batch';
import { probabilities } from '../methods/scores';
import type { ModelRuntime } from '../runtimes/types';
import { pixelOrder, randomOrder } from './pixelOrder';
import { mapAtSize, type MapLike } from './similarity';

export const FAITHFULNESS_BASELINES = ['black', 'blur', 'mean'] as const;
export type FaithfulnessBaseline = (typeof FAITHFULNESS_BASELINES)[number];
export const PIXEL_ORDERS = ['map', 'random'] as const;
export type PixelOrderKind = (typeof PIXEL_ORDERS)[number];

/**
 * Rows per forward run unless told: 40 ResNet-18 rows at 224² (ONNX Runtime, 2 threads) ran ~10 % faster in
 * chunks of 8–14 than in one chunk of 40, and a 10-row chunk holds a quarter of the activations.
 */
export const CHUNK_ROWS = 10;

/** Xplique's default. */
export const DEFAULT_STEPS = 10;
/** More points than this add forward passes but no information a curve of 224² pixels can show. */
export const MAX_STEPS = 100;

export interface FaithfulnessOptions {
  /** Intervals between 0 % and 100 % (steps + 1 points); 1 … MAX_STEPS, default DEFAULT_STEPS. */
  steps?: number;
  /** What a removed pixel becomes (default 'black'). */
  baseline?: FaithfulnessBaseline;
  /** 'map' (default): most attributed first; 'random': a seeded random order (the reference itself). */
  order?: PixelOrderKind;
  /** Seed of the random order and of the tie-break between equal map values (default 0). */
  seed?: number;
  /** Also the random-order curves (default true); they double the forward passes. */
  reference?: boolean;
  /** Rows per forward run at most (default CHUNK_ROWS; the batch runner's bound applies too). */
  maxRows?: number;
  /** Rows done and rows in all, after each forward chunk. */
  progress?: (done: number, total: number) => void;
}

/** What the curves need of a model: the runtime, the image the input encodes, and how pixels became inputs. */
export interface FaithfulnessModel {
  runtime: ModelRuntime;
  image: ImageShape;
  /** Absent: the engine's default 'unit'. */
  preprocessing?: Preprocessing;
}

/** A map at any resolution (an AttributionMap, or a CAM at its layer's size) is brought to the input's H×W. */
export type { MapLike } from './similarity';

export interface Curve {
  /** k/steps for k = 0 … steps: the x axis of the AUC. */
  fractions: number[];
  /** Pixels removed (deletion) or revealed (insertion) at each point: floor(k·N/steps). */
  pixels: number[];
  probability: number[];
  logit: number[];
}

export interface CurveScore {
  curve: Curve;
  /** Trapezoid area under the probability curve over [0, 1]. */
  auc: number;
  /** The same for the logit curve (not bounded: logits are not). */
  logitAuc: number;
}

export interface FaithfulnessResult {
  deletion: CurveScore;
  insertion: CurveScore;
  /** The same curves for a seeded random order; absent when `reference` is false. */
  random?: { deletion: CurveScore; insertion: CurveScore };
  steps: number;
  baseline: FaithfulnessBaseline;
  order: PixelOrderKind;
  seed: number;
  classIndex: number;
  /** Forward passes run (the endpoints are shared by every curve). */
  forwardPasses: number;
}

/** Pixels changed at each of the steps + 1 points: floor(k·N/steps), exactly (integer arithmetic). */
export function stepCounts(pixels: number, steps: number): number[] {
  return Array.from({ length: steps + 1 }, (_, k) => Math.floor((k * pixels) / steps));
}

/** Trapezoid area of values at equally spaced points 0, 1/n, …, 1 (n = values.length − 1 ≥ 1). */
export function trapezoidAuc(values: ArrayLike<number>): number {
  const n = values.length - 1;
  if (n < 1) throw new Error('trapezoidAuc needs at least two points');
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (values[i] + values[i + 1]) / 2;
  return sum / n;
}

interface Resolved {
  steps: number;
  baseline: FaithfulnessBaseline;
  order: PixelOrderKind;
  seed: number;
  reference: boolean;
}

/** Options with defaults set; a bad one is a UserError of one sentence. */
export function resolveFaithfulnessOptions(opts: FaithfulnessOptions = {}): Resolved {
  const steps = opts.steps ?? DEFAULT_STEPS;
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS) {
    throw new UserError(`deletion and insertion take a whole number of steps from 1 to ${MAX_STEPS}, not ${String(steps)}`);
  }
  const baseline = opts.baseline ?? 'black';
  if (!FAITHFULNESS_BASELINES.includes(baseline)) {
    throw new UserError(`unknown baseline "${String(baseline)}" for deletion and insertion; baselines: ${FAITHFULNESS_BASELINES.join(', ')}`);
  }
  const order = opts.order ?? 'map';
  if (!PIXEL_ORDERS.includes(order)) {
    throw new UserError(`unknown pixel order "${String(order)}"; orders: ${PIXEL_ORDERS.join(', ')}`);
  }
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new UserError(`the seed of the random order is a whole number, not ${String(seed)}`);
  return { steps, baseline, order, seed, reference: opts.reference ?? true };
}

function modelOf(source: Explainer | FaithfulnessModel): FaithfulnessModel {
  if ('imageSpec' in source) {
    const { height, width, channels } = source.imageSpec;
    return { runtime: source.runtime, image: { height, width, channels }, preprocessing: source.preprocessing };
  }
  return source;
}

/** The map at the input's H×W (bilinear, half-pixel centres), checked: one finite value per pixel. */
function mapAtInputSize(map: MapLike, image: ImageShape): ArrayLike<number> {
  if (!(map.width > 0 && map.height > 0) || map.data.length !== map.width * map.height) {
    throw new UserError(`the map holds ${map.data.length} values, not ${map.width}×${map.height}`);
  }
  for (let i = 0; i < map.data.length; i++) {
    if (!Number.isFinite(map.data[i])) throw new UserError(`the map has a non-finite value at pixel ${i}; it cannot order the pixels`);
  }
  return mapAtSize(map, image.width, image.height);
}

/** One curve to compute: its direction and its pixel order. */
interface CurvePlan {
  kind: 'deletion' | 'insertion';
  order: Int32Array;
}

/**
 * Deletion and insertion curves of `map` for class `classIndex` on input x [1, ...inputShape] (preprocessed),
 * with the random-order reference. Every point's input goes through the batch runner, built chunk by chunk;
 * the 0 % and 100 % points are the input and the baseline for every curve, so they run once.
 */
export async function evaluateFaithfulness(source: Explainer | FaithfulnessModel, x: tf.Tensor, map: MapLike, classIndex: number,
  opts: FaithfulnessOptions = {}): Promise<FaithfulnessResult> {
  const o = resolveFaithfulnessOptions(opts);
  const { runtime, image, preprocessing } = modelOf(source);
  const { height: h, width: w, channels: c } = image;
  const n = h * w;
  if (x.size !== n * c) throw new UserError(`the input holds ${x.size} values, not a ${h}×${w}×${c} image`);
  const classes = runtime.numClasses;
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= classes) {
    throw new UserError(`class ${classIndex} is out of range: the model has ${classes} classes (0–${classes - 1})`);
  }
  const values = mapAtInputSize(map, image);

  const input = Float32Array.from(x.dataSync() as Float32Array);
  const base = baselineFor(o.baseline, x, image, { preprocessing });
  let baseline: Float32Array;
  try {
    baseline = Float32Array.from(base.dataSync() as Float32Array);
  } finally {
    base.dispose();
  }

  const mapOrder = o.order === 'map' ? pixelOrder(values, o.seed) : randomOrder(n, o.seed);
  const plans: CurvePlan[] = [{ kind: 'deletion', order: mapOrder }, { kind: 'insertion', order: mapOrder }];
  // With order 'random' the map's curves are the reference already (same seed): nothing more to run.
  const extraReference = o.reference && o.order === 'map';
  if (extraReference) {
    const chance = randomOrder(n, o.seed);
    plans.push({ kind: 'deletion', order: chance }, { kind: 'insertion', order: chance });
  }

  const { steps } = o;
  const counts = stepCounts(n, steps);
  const interior = steps - 1;
  // Rows: 0 = the input, 1 = the baseline, then each curve's points 1 … steps − 1.
  const rowCount = 2 + plans.length * interior;
  /**
   * Writes row `row`; `previous`, when given, holds row − 1 of the same chunk. A curve's point k differs from
   * its point k − 1 only in the pixels counts[k − 1] … counts[k] − 1 of its order, so it starts from there:
   * each pixel is written once per curve and chunk instead of once per point (10× fewer scattered writes
   * at 20 steps).
   */
  const fill = (row: number, out: Float32Array, previous?: Float32Array) => {
    if (row < 2) {
      out.set(row === 0 ? input : baseline);
      return;
    }
    const plan = plans[Math.floor((row - 2) / interior)];
    const k = ((row - 2) % interior) + 1;
    const [from, to] = plan.kind === 'deletion' ? [input, baseline] : [baseline, input];
    const continues = previous !== undefined && k > 1;
    out.set(continues ? previous : from);
    for (let j = continues ? counts[k - 1] : 0; j < counts[k]; j++) {
      const at = plan.order[j] * c;
      for (let ch = 0; ch < c; ch++) out[at + ch] = to[at + ch];
    }
  };

  const size = n * c;
  const shape = runtime.inputShape;
  const batch = batchRunner(runtime, { maxRows: opts.maxRows ?? CHUNK_ROWS, progress: opts.progress });
  const logits = await batch.forward(rowCount, (start, end) => {
    const rows = new Float32Array((end - start) * size);
    for (let r = start; r < end; r++) {
      const at = (r - start) * size;
      fill(r, rows.subarray(at, at + size), r > start ? rows.subarray(at - size, at) : undefined);
    }
    return tf.tensor(rows, [end - start, ...shape]);
  });

  const probability = new Float64Array(rowCount);
  const logit = new Float64Array(rowCount);
  for (let r = 0; r < rowCount; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    logit[r] = row[classIndex];
    probability[r] = probabilities(row, runtime.outputActivation)[classIndex];
  }

  const fractions = counts.map((_, k) => k / steps);
  const score = (index: number): CurveScore => {
    const kind = plans[index].kind;
    const rowOf = (k: number) => (k === 0 ? (kind === 'deletion' ? 0 : 1) : k === steps ? (kind === 'deletion' ? 1 : 0) : 2 + index * interior + k - 1);
    const rows = fractions.map((_, k) => rowOf(k));
    const curve: Curve = {
      fractions,
      pixels: counts,
      probability: rows.map((r) => probability[r]),
      logit: rows.map((r) => logit[r]),
    };
    return { curve, auc: trapezoidAuc(curve.probability), logitAuc: trapezoidAuc(curve.logit) };
  };

  const deletion = score(0);
  const insertion = score(1);
  const random = !o.reference ? undefined : extraReference ? { deletion: score(2), insertion: score(3) } : { deletion, insertion };
  return {
    deletion, insertion, ...(random ? { random } : {}),
    steps, baseline: o.baseline, order: o.order, seed: o.seed, classIndex, forwardPasses: rowCount,
  };
}
