/**
 * Sanity check by model-parameter randomization (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").
 * A map that explains the model must change when the model's learned weights are replaced by random ones;
 * a map that stays the same shows the image (edges, contrast), not the model.
 *
 * - **Cascading**: the layers with weights are randomized one more at a time from the output back, each
 *   step keeping the layers randomized before it (Adebayo's cascading randomization; Quantus MPRT's
 *   `layer_order="top_down"`). The last step has every layer random.
 * - **Independent**: one layer at a time, the others trained (Quantus MPRT's `layer_order="independent"`).
 * - **Similarity**: Spearman rank correlation of the absolute maps (Adebayo's "Spearman rank correlation
 *   (ABS)"; Quantus MPRT's default `similarity_func=correlation_spearman, abs=True`), from ./similarity.
 *   NaN when a map is constant: a randomized Grad-CAM often has no positive evidence left, and a constant map
 *   keeps none of the original's ranking.
 * - **Randomizing a tensor**: each weight tensor of a chosen layer is replaced by independent normal values
 *   with the tensor's own mean and (population) standard deviation, seeded per tensor (the seed and the
 *   tensor's name), so a layer gets the same random weights in every step of both modes. Adebayo et al.
 *   re-initialize from a truncated normal of the layer's initializer; Quantus permutes each weight tensor
 *   (TensorFlow) or calls `reset_parameters()` (PyTorch); Xplique draws uniform [0, 1). Matching the
 *   trained tensor's mean and spread keeps activations at the trained scale, so the random network neither
 *   overflows nor dies, and what differs from the trained one is the arrangement of the weights alone.
 *   BatchNormalization's running mean and variance are data statistics, not learned weights: kept
 *   (runtimes/onnx/weights.ts says how weights are grouped into layers).
 * - **Seed**: 42 by default, Quantus MPRT's.
 *
 * Each randomized model is a new ONNX Runtime over a copy of the loaded graph (`OnnxRuntime.withInitializers`);
 * the user's files are never written, and at most one copy (with its native sessions) is alive at a time.
 */
import { INSENSITIVE_NOTE } from '../../shared/measures';
import { UserError } from '../errors';
import { seededNormal, seededUniform } from '../methods/random';
import type { OnnxRuntime } from '../runtimes/onnx/onnxRuntime';
import { floatValues, WeightLayer } from '../runtimes/onnx/weights';
import type { ModelRuntime } from '../runtimes/types';
import { MapLike, spearman } from './similarity';

export type RandomizationMode = 'cascading' | 'independent';

/** Quantus MPRT's default seed. */
export const DEFAULT_SEED = 42;

/**
 * A map whose rank correlation with the trained model's map stays above this once every layer is random is
 * flagged. ρ > 0.5 is a strong rank correlation by the usual reading: the two maps still order their pixels
 * largely alike (ρ² > 0.25 of the rank variance shared) although nothing the model learned is left. Measured
 * here (seed 42, full cascading randomization): the trained MobileNetV2 of nsfwjs on a photo — Grad-CAM −0.13,
 * saliency 0.12, Gradient × Input 0.25 (Adebayo et al. report gradients and Grad-CAM falling to about 0 and
 * Gradient × Input staying higher); an edge map of the image, which ignores the model, stays at 1. On the
 * bundled MNIST CNN Grad-CAM falls to about 0 or to a constant map (no ranking left), while saliency stays at 0.6–0.76 on every
 * example digit and is flagged: on black-background digits the random network's gradient still follows the
 * strokes, the failure the check exists to show.
 */
export const INSENSITIVE_THRESHOLD = 0.5;

/** A cascade covering this share of the learned parameters counts as every layer random (scalars and tiny constants aside). */
export const COMPLETE_COVERAGE = 0.99;


export interface RandomizationOptions {
  /** The method's map on a runtime (the trained model or a randomized copy); see methodMapOf. */
  mapOf(runtime: ModelRuntime): Promise<MapLike>;
  /** Default both, cascading first. */
  modes?: readonly RandomizationMode[];
  seed?: number;
  /** Layers to randomize, by name (weightLayers lists them); default every layer with weights. */
  layers?: readonly string[];
  /** Default INSENSITIVE_THRESHOLD. */
  threshold?: number;
  /** Keep each step's map in the result (default true; the panel shows them). */
  keepMaps?: boolean;
  /** Steps done out of all (each step builds a randomized model and computes one map). */
  progress?(done: number, total: number): void;
}

export interface RandomizationStep {
  mode: RandomizationMode;
  /** The layer this step randomized. */
  layer: string;
  /** Every layer random in this step (cascading: this one and those before it). */
  randomized: string[];
  /** Spearman rank correlation of |map| with |original map|; NaN when a map is constant. */
  similarity: number;
  map?: MapLike;
}

export interface RandomizationResult {
  seed: number;
  threshold: number;
  /** Layers with weights, from the output back. */
  layers: { name: string; type: string; size: number }[];
  original: MapLike;
  cascading: RandomizationStep[];
  independent: RandomizationStep[];
  /** Similarity with every chosen layer random (the last cascading step). */
  fullyRandomized: number;
  /** The fully randomized map is still above the threshold. */
  insensitive: boolean;
  /** INSENSITIVE_NOTE when flagged. */
  note?: string;
  /**
   * Share of the model's learned parameters the chosen layers hold (1 = every weight randomized at the end of the
   * cascade). Below COMPLETE_COVERAGE the result says so: "every layer random" would not be true.
   */
  coverage: number;
  /** Why the coverage is short, when it is. */
  coverageNote?: string;
}

/** FNV-1a of the seed and a tensor's name: each tensor its own stream, the same in every step. */
function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${seed}\u0000${name}`) h = Math.imul(h ^ ch.codePointAt(0)!, 0x01000193);
  return h >>> 0;
}

/** Normal values with the mean and population standard deviation of `values`, seeded by (seed, name). */
export function randomizedWeights(name: string, values: Float32Array, seed: number): Float32Array {
  let mean = 0;
  for (let i = 0; i < values.length; i++) mean += values[i];
  mean /= values.length;
  let variance = 0;
  for (let i = 0; i < values.length; i++) variance += (values[i] - mean) ** 2;
  const std = Math.sqrt(variance / values.length);
  const normal = seededNormal(seededUniform(tensorSeed(seed, name)));
  const out = new Float32Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = mean + std * normal();
  return out;
}

function onnxRuntimeOf(runtime: ModelRuntime): OnnxRuntime {
  if (runtime.kind !== 'onnx') {
    throw new UserError('The randomization check needs the model on ONNX Runtime, and this model runs on tfjs, whose weights Saliency Lens cannot copy.');
  }
  return runtime as OnnxRuntime;
}

/** The layers to randomize: those named, in the order from the output back, or all. */
function chosenLayers(runtime: OnnxRuntime, names?: readonly string[]): WeightLayer[] {
  const all = runtime.weightLayers();
  if (!all.length) throw new UserError('The model has no layers with weights to randomize.');
  if (!names) return all;
  if (!names.length) throw new UserError('Name at least one layer to randomize, or none for every layer.');
  const unknown = names.filter((n) => !all.some((l) => l.name === n));
  if (unknown.length) {
    throw new UserError(`The model has no layer with weights named ${unknown.map((n) => `"${n}"`).join(', ')}; layers: ${all.map((l) => l.name).join(', ')}.`);
  }
  return all.filter((l) => names.includes(l.name));
}

/**
 * A copy of the model with the given layers' weights randomized (seeded): a new runtime, to dispose.
 * `memo` keeps each tensor's random values across steps.
 */
export async function randomizedRuntime(runtime: ModelRuntime, layers: readonly WeightLayer[], seed = DEFAULT_SEED,
  memo = new Map<string, Float32Array>()): Promise<OnnxRuntime> {
  const rt = onnxRuntimeOf(runtime);
  const replaced = new Map<string, Float32Array>();
  for (const name of layers.flatMap((l) => l.initializers)) {
    let values = memo.get(name);
    if (!values) {
      values = randomizedWeights(name, floatValues(rt.model.graph.initializers.get(name)!), seed);
      memo.set(name, values);
    }
    replaced.set(name, values);
  }
  return rt.withInitializers(replaced);
}

function checkMap(map: MapLike, what: string): void {
  for (let i = 0; i < map.data.length; i++) {
    if (!Number.isFinite(map.data[i])) throw new UserError(`The map ${what} has values that are not finite numbers.`);
  }
}

/** Runs the cascading and/or independent randomization of `runtime`'s layers and compares each map with the original. */
export async function modelRandomization(runtime: ModelRuntime, opts: RandomizationOptions): Promise<RandomizationResult> {
  const rt = onnxRuntimeOf(runtime);
  const seed = opts.seed ?? DEFAULT_SEED;
  const threshold = opts.threshold ?? INSENSITIVE_THRESHOLD;
  if (!Number.isInteger(seed)) throw new UserError(`The randomization seed must be an integer, got ${seed}.`);
  if (!(threshold > -1 && threshold < 1)) throw new UserError(`The similarity threshold must lie between −1 and 1, got ${threshold}.`);
  const modes = opts.modes ?? ['cascading', 'independent'];
  if (!modes.length || modes.some((m) => m !== 'cascading' && m !== 'independent')) {
    throw new UserError(`Randomization modes are "cascading" and "independent", got ${JSON.stringify(modes)}.`);
  }
  const layers = chosenLayers(rt, opts.layers);
  const original = await opts.mapOf(runtime);
  checkMap(original, 'of the trained model');
  if (original.data.length > 0 && Array.prototype.every.call(original.data, (v: number) => Math.abs(v) === Math.abs(original.data[0]))) {
    throw new UserError('The map of the trained model is constant, so there is no ranking for the randomization check to compare.');
  }
  const memo = new Map<string, Float32Array>();
  const runs: { mode: RandomizationMode; layer: string; randomized: WeightLayer[] }[] = [];
  if (modes.includes('cascading')) layers.forEach((l, i) => runs.push({ mode: 'cascading', layer: l.name, randomized: layers.slice(0, i + 1) }));
  if (modes.includes('independent')) layers.forEach((l) => runs.push({ mode: 'independent', layer: l.name, randomized: [l] }));
  // Without the cascading curve, one more run with every layer random gives the flag its number.
  const extra = modes.includes('cascading') ? undefined : { mode: 'cascading' as const, layer: layers[layers.length - 1].name, randomized: layers };
  const total = runs.length + (extra ? 1 : 0);
  const steps: RandomizationStep[] = [];
  let done = 0;
  for (const run of extra ? [...runs, extra] : runs) {
    const copy = await randomizedRuntime(rt, run.randomized, seed, memo);
    let map: MapLike;
    try {
      map = await opts.mapOf(copy);
    } finally {
      copy.dispose();
    }
    checkMap(map, `with layer "${run.layer}"${run.randomized.length > 1 ? ` and the ${run.randomized.length - 1} after it` : ''} randomized`);
    steps.push({
      mode: run.mode, layer: run.layer, randomized: run.randomized.map((l) => l.name),
      similarity: spearman(original, map, { absolute: true }),
      map: opts.keepMaps === false ? undefined : map,
    });
    opts.progress?.(++done, total);
  }
  const cascading = steps.slice(0, modes.includes('cascading') ? layers.length : 0);
  const independent = steps.filter((s, i) => s.mode === 'independent' && i < runs.length);
  const fullyRandomized = (extra ? steps[steps.length - 1] : cascading[cascading.length - 1]).similarity;
  // NaN (a constant randomized map) kept none of the original's ranking: not flagged.
  const insensitive = fullyRandomized > threshold;
  const learned = rt.learnedParameterCount();
  const coverage = learned > 0 ? Math.min(1, layers.reduce((n, l) => n + l.size, 0) / learned) : 1;
  const coverageNote = coverage < COMPLETE_COVERAGE && !opts.layers
    ? `only ${(coverage * 100).toFixed(1)} % of the model's weights could be randomized (the others are held where the check cannot reach them, e.g. behind Constant or Cast nodes, or shared with BatchNorm statistics)`
    : undefined;
  return {
    coverage, ...(coverageNote ? { coverageNote } : {}),
    seed, threshold,
    layers: layers.map((l) => ({ name: l.name, type: l.type, size: l.size })),
    original, cascading, independent, fullyRandomized, insensitive,
    ...(insensitive ? { note: INSENSITIVE_NOTE } : {}),
  };
}
