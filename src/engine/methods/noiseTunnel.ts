/**
 * The noise tunnel: gradients of N noisy copies x + ε, ε ~ N(0, σ²), reduced three ways (Captum's
 * NoiseTunnel nt_type 'smoothgrad', 'smoothgrad_sq', 'vargrad'):
 * - SmoothGrad (Smilkov et al. 2017): the mean gradient, then per pixel like saliency (max |·| over
 *   channels, or the signed value there). Captum's NoiseTunnel over Saliency averages |g| instead; we
 *   average g and take the magnitude after, as the paper does, so the signed option has a meaning.
 * - SmoothGrad² (Hooker et al. 2019): the mean of g², max over channels.
 * - VarGrad (Adebayo et al. 2018): the variance E[g²] − E[g]², max over channels.
 * σ = sigma · (max(x) − min(x)) of the preprocessed input (Smilkov et al.'s "noise level").
 */
import * as tf from '@tensorflow/tfjs';
import { MethodName, methodSpec } from '../../shared/methods';
import { seededNormal, seededUniform } from './random';
import { reduceInputGradient } from './saliency';
import type { AttributionMap, AttributionMethod, MethodContext } from './types';

/** Per-value first and second moments of the noisy gradients, [inputSize] each. */
export interface GradientMoments {
  mean: Float32Array;
  meanSquare: Float32Array;
  /** The noise's standard deviation in input units. */
  sigma: number;
}

/**
 * Moments of seed·∂logits/∂x over `samples` noisy copies of x. The noise is one stream of standard
 * normals from the seed, taken in order: copy i adds σ · normals[i·size … (i+1)·size) to x. It is made
 * chunk by chunk as the batch runner asks for rows, never all copies at once.
 */
export async function noisyGradientMoments(ctx: MethodContext, samples: number, sigmaFraction: number, seed: number): Promise<GradientMoments> {
  const { x, batch, target } = ctx;
  const size = x.size;
  const shape = x.shape.slice(1);
  const xs = x.dataSync() as Float32Array;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of xs) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const sigma = sigmaFraction * (hi - lo);
  const normal = seededNormal(seededUniform(seed));
  // Float64 sums: the variance E[g²] − E[g]² cancels, and float32 sums of many samples would lose it.
  const sum = new Float64Array(size);
  const sumSquares = new Float64Array(size);
  const rows = (start: number, end: number) => {
    const values = new Float32Array((end - start) * size);
    for (let i = 0; i < values.length; i++) values[i] = xs[i % size] + sigma * normal();
    return tf.tensor(values, [end - start, ...shape]);
  };
  await batch.gradients(samples, rows, target.seed, (_start, gradient) => {
    const g = gradient.dataSync() as Float32Array;
    for (let i = 0; i < g.length; i++) {
      const j = i % size;
      sum[j] += g[i];
      sumSquares[j] += g[i] * g[i];
    }
  });
  return { mean: Float32Array.from(sum, (s) => s / samples), meanSquare: Float32Array.from(sumSquares, (s) => s / samples), sigma };
}

type Reduction = 'smoothgrad' | 'smoothgrad_sq' | 'vargrad';

/** One value per input value, by the noise tunnel's reduction, before reducing over channels. */
function reduceMoments(m: GradientMoments, how: Reduction): Float32Array {
  switch (how) {
    case 'smoothgrad':
      return m.mean;
    case 'smoothgrad_sq':
      return m.meanSquare;
    case 'vargrad':
      // Clamped: rounding can leave a tiny negative where the gradient hardly varies.
      return m.meanSquare.map((sq, i) => Math.max(0, sq - m.mean[i] * m.mean[i]));
  }
}

function noiseTunnel(name: MethodName, how: Reduction): AttributionMethod {
  return {
    spec: methodSpec(name),
    // The shared pass's gradient is not used: every sample is noisy, none is x itself.
    needs: () => ({}),
    async attribute(ctx): Promise<AttributionMap> {
      const { options, image, x } = ctx;
      const moments = await noisyGradientMoments(ctx, Number(options.samples), Number(options.sigma), Number(options.seed));
      const signed = how === 'smoothgrad' && options.signed === true;
      const values = tf.tensor(reduceMoments(moments, how), x.shape);
      try {
        const data = reduceInputGradient(values, { signed, imageSize: [image.height, image.width] });
        return { method: name, width: image.width, height: image.height, data, signed, stats: { noiseSigma: moments.sigma } };
      } finally {
        values.dispose();
      }
    },
  };
}

export const smoothgrad = noiseTunnel('smoothgrad', 'smoothgrad');
export const smoothgradSq = noiseTunnel('smoothgrad-sq', 'smoothgrad_sq');
export const vargrad = noiseTunnel('vargrad', 'vargrad');
