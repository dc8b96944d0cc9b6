/**
 * LIME for images (Ribeiro, Singh & Guestrin 2016; the `lime` package's LimeImageExplainer): superpixels
 * switched on and off at random (z ∈ {0,1}^K, the first sample all on), switched-off ones replaced by the
 * baseline, and a weighted ridge regression (α = 1, intercept, as lime's default Ridge) of the class
 * probability (a contrast: seed·logits) on z. A pixel's attribution is its superpixel's coefficient.
 */
import { methodSpec } from '../../shared/methods';
import { weightedRegression } from './linearRegression';
import { baselineValues, fillRegions, inputValues, regionMap, scorePerturbed } from './perturbation';
import { seededUniform } from './random';
import { segmentInput } from './superpixels';
import type { AttributionMap, AttributionMethod, MethodContext } from './types';

/**
 * The sample weight of a coalition z: lime_image's kernel sqrt(exp(−d²/σ²)) of the cosine distance d of z
 * to the all-on vector, d = 1 − √(|z|/K) (1 for the empty coalition, as scikit-learn's cosine distance
 * gives for a zero vector). This is the paper's exp(−d²/σ'²) with σ' = σ√2; we follow the package, so a
 * kernel width means what it means in lime.
 */
export function limeWeight(onCount: number, features: number, kernelWidth: number): number {
  const d = onCount === 0 ? 1 : 1 - Math.sqrt(onCount / features);
  return Math.sqrt(Math.exp(-(d * d) / (kernelWidth * kernelWidth)));
}

async function lime(ctx: MethodContext): Promise<AttributionMap> {
  const { height, width, channels } = ctx.image;
  const samples = Number(ctx.options.samples);
  const kernelWidth = Number(ctx.options.kernelWidth);
  const x = inputValues(ctx);
  const baseline = baselineValues(ctx, String(ctx.options.baseline));
  const regions = segmentInput(x, ctx.image, Number(ctx.options.segments));
  const k = regions.count;

  // Each superpixel on with probability ½ (lime draws randint(0, 2)); the first sample is x itself.
  const rand = seededUniform(Number(ctx.options.seed));
  const z = new Float64Array(samples * k);
  const weights = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    let on = 0;
    for (let j = 0; j < k; j++) on += z[i * k + j] = i === 0 || rand() < 0.5 ? 1 : 0;
    weights[i] = limeWeight(on, k, kernelWidth);
  }
  const scores = await scorePerturbed(ctx, samples, 'probability', (i, row) =>
    fillRegions(row, x, baseline, regions, z.subarray(i * k, (i + 1) * k), channels));

  const fit = weightedRegression({ x: z, y: scores, weights, features: k }, { alpha: 1, intercept: true });
  return {
    method: 'lime', width, height, signed: true,
    data: regionMap(fit.coef, regions),
    stats: { segments: k, r2: fit.r2, intercept: fit.intercept },
  };
}

export const limeMethod: AttributionMethod = {
  spec: methodSpec('lime'),
  needs: () => ({}),
  attribute: lime,
};
