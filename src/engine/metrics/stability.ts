/**
 * Stability of a map under small input noise: the mean similarity between the map of the image and the maps of
 * N slightly noised copies of it (issue 12's "stability" row; the idea of Alvarez-Melis & Jaakkola 2018, "On the
 * Robustness of Interpretability Methods", and Yeh et al. 2019's max-sensitivity, measured here as rank agreement
 * rather than a distance so that methods of different scales compare). Similarity is Spearman rank correlation
 * and SSIM (similarity.ts). 1 = the map does not move.
 * - The noise is Gaussian with σ = `noise` × the input's value range (max − min of the preprocessed input),
 *   added to the preprocessed input, unclipped. Default 0.05: about 13 grey levels of 255, a change a person
 *   barely sees (SmoothGrad's 0.1–0.2 is chosen to *change* the map).
 * - N = 5 copies by default; copy k's noise is seeded from seed + k.
 * - The class is fixed to the one explained on the original image, so a copy whose top class flips is still
 *   explained for the same class.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import type { Explainer, ExplainOptions } from '../explain';
import type { MethodName, MethodOptions } from '../../shared/methods';
import { seededNormal, seededUniform } from '../methods/random';
import type { AttributionMap } from '../methods/types';
import { MapLike, spearman, ssim, SSIM_WINDOW } from './similarity';

export const DEFAULT_STABILITY_SAMPLES = 5;
export const DEFAULT_STABILITY_NOISE = 0.05;
/** Noisy copies at most: each is one full explanation. */
export const MAX_STABILITY_SAMPLES = 100;

export interface StabilityOptions {
  /** Noisy copies (1 … 100). */
  samples?: number;
  /** σ of the noise as a fraction of the input's value range (0 … 1; 0 gives copies equal to the input). */
  noise?: number;
  seed?: number;
  /** Compare |map| ranks (as the randomization check does); default the maps as the method gives them. */
  absolute?: boolean;
}

export interface StabilitySample {
  spearman: number;
  /** null when the maps are smaller than SSIM's 7×7 window. */
  ssim: number | null;
}

export interface StabilityResult {
  /** Mean Spearman correlation with the original map (NaN if a map was constant: no ranking to compare). */
  spearman: number;
  /** Mean SSIM with the original map; null when the maps are smaller than 7×7. */
  ssim: number | null;
  samples: StabilitySample[];
  /** The noise's σ in input units. */
  sigma: number;
}

/** Computes one map for an input [1, ...inputShape]; the input is the caller's (not disposed here). */
export type MapOf = (x: tf.Tensor) => Promise<MapLike>;

function checkOptions(opts: StabilityOptions): { samples: number; noise: number; seed: number } {
  const samples = opts.samples ?? DEFAULT_STABILITY_SAMPLES;
  if (!(Number.isInteger(samples) && samples >= 1 && samples <= MAX_STABILITY_SAMPLES)) {
    throw new UserError(`Stability needs from 1 to ${MAX_STABILITY_SAMPLES} noisy copies, got ${samples}.`);
  }
  const noise = opts.noise ?? DEFAULT_STABILITY_NOISE;
  if (!(Number.isFinite(noise) && noise >= 0 && noise <= 1)) {
    throw new UserError(`Stability's noise must be a fraction of the input range from 0 to 1, got ${noise}.`);
  }
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new UserError(`Stability's seed must be an integer, got ${seed}.`);
  return { samples, noise, seed };
}

/** Stability of the maps `mapOf` gives around input x [1, ...inputShape]. */
export async function mapStability(x: tf.Tensor, mapOf: MapOf, opts: StabilityOptions = {}): Promise<StabilityResult> {
  const { samples, noise, seed } = checkOptions(opts);
  const values = x.dataSync() as Float32Array;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  const sigma = noise * (hi - lo);
  const reference = await mapOf(x);
  const withSsim = reference.width >= SSIM_WINDOW && reference.height >= SSIM_WINDOW;
  const out: StabilitySample[] = [];
  for (let k = 0; k < samples; k++) {
    const normal = seededNormal(seededUniform((seed + k) >>> 0));
    const noisy = tf.tensor(Float32Array.from(values, (v) => v + sigma * normal()), x.shape);
    let map: MapLike;
    try {
      map = await mapOf(noisy);
    } finally {
      noisy.dispose();
    }
    out.push({
      spearman: spearman(reference, map, { absolute: opts.absolute }),
      ssim: withSsim ? ssim(reference, map) : null,
    });
  }
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  return {
    spearman: mean(out.map((s) => s.spearman)),
    ssim: withSsim ? mean(out.map((s) => s.ssim!)) : null,
    samples: out,
    sigma,
  };
}

export interface MethodStabilityOptions extends StabilityOptions {
  /** The method's options (what is not given takes the registry's default). */
  options?: MethodOptions;
  /** Class to explain: as ExplainOptions.target (default the top class of the original image). */
  target?: string | number;
  /** The CAM layer, as ExplainOptions.layer. */
  layer?: string;
  signed?: boolean;
}

/** Stability of one method's map of input x: each map through the Explainer, for the class of the original image. */
export async function stability(ex: Explainer, x: tf.Tensor, method: MethodName, opts: MethodStabilityOptions = {}): Promise<StabilityResult & { classIndex: number }> {
  checkOptions(opts);
  const base: ExplainOptions = {
    methods: [method],
    options: opts.options ? { [method]: opts.options } : undefined,
    layer: opts.layer,
    signed: opts.signed,
    topK: 1,
  };
  // The first call resolves the class; every later one (the noisy copies) is pinned to it.
  let classIndex: number | undefined;
  const mapOf = async (input: tf.Tensor): Promise<AttributionMap> => {
    const result = await ex.explainTensor(input, { ...base, target: classIndex ?? opts.target });
    classIndex ??= result.target.index;
    return result.maps[0];
  };
  const result = await mapStability(x, mapOf, opts);
  return { ...result, classIndex: classIndex! };
}
