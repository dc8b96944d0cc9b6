/**
 * Integrated Gradients (Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks"):
 * IG(x) = (x − x′) ⊙ ∫₀¹ ∂S/∂x(x′ + α(x − x′)) dα, summed over colour channels (signed), with S = seed·logits
 * and x′ a baseline (baselines.ts). Completeness says Σ IG = S(x) − S(x′); the residual of the quadrature
 * is reported in the map's stats.
 */
import * as tf from '@tensorflow/tfjs';
import { methodSpec } from '../../shared/methods';
import { UserError } from '../errors';
import { BaselineKind, baselineFor } from './baselines';
import { sumOverChannels } from './gradXInput';
import type { AttributionMap, AttributionMethod, MethodContext } from './types';

export type IntegrationRule = 'riemann' | 'trapezoid' | 'gausslegendre';

/** Points α on [0, 1] and their weights (which sum to 1). */
export interface PathQuadrature {
  alphas: Float64Array;
  weights: Float64Array;
}

/** Above this share of |S(x) − S(x′)|, the completeness residual earns a note. */
export const RESIDUAL_NOTE_FRACTION = 0.05;

/**
 * m-point Gauss–Legendre nodes and weights on [−1, 1], ascending: the roots of the Legendre polynomial
 * P_m found by Newton's method from Tricomi's estimate cos(π(i − ¼)/(m + ½)), with P_m and P_m′ from the
 * three-term recurrence (k+1)P_{k+1} = (2k+1)tP_k − kP_{k−1}; weights 2 / ((1 − t²) P_m′(t)²).
 */
export function gaussLegendre(m: number): { nodes: Float64Array; weights: Float64Array } {
  if (!Number.isInteger(m) || m < 1) throw new RangeError(`Gauss–Legendre needs a whole number of points ≥ 1, not ${m}`);
  const nodes = new Float64Array(m);
  const weights = new Float64Array(m);
  for (let i = 0; i < Math.ceil(m / 2); i++) {
    let t = Math.cos((Math.PI * (i + 0.75)) / (m + 0.5));
    let dp = 1;
    for (let iter = 0; iter < 100; iter++) {
      let p0 = 1;
      let p1 = t;
      for (let k = 2; k <= m; k++) {
        const p2 = ((2 * k - 1) * t * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      // p1 = P_m(t), p0 = P_{m−1}(t); P_m′(t) = m (t P_m − P_{m−1}) / (t² − 1).
      dp = (m * (t * p1 - p0)) / (t * t - 1);
      const step = p1 / dp;
      t -= step;
      if (Math.abs(step) <= 1e-15) break;
    }
    const w = 2 / ((1 - t * t) * dp * dp);
    // Symmetric about 0: the i-th largest root t and its mirror −t.
    nodes[m - 1 - i] = t;
    nodes[i] = -t;
    weights[m - 1 - i] = w;
    weights[i] = w;
  }
  return { nodes, weights };
}

/**
 * The path's points and weights for a rule with m points:
 * - riemann: midpoints α_k = (k − ½)/m, weights 1/m (Captum's riemann_middle);
 * - trapezoid: α_k = k/(m − 1) for k = 0 … m − 1, weights h = 1/(m − 1), halved at both ends (m ≥ 2);
 * - gausslegendre: Gauss–Legendre nodes mapped to [0, 1], α = (t + 1)/2, weights w/2 (Captum's default).
 */
export function pathQuadrature(rule: IntegrationRule, m: number): PathQuadrature {
  switch (rule) {
    case 'riemann':
      return { alphas: Float64Array.from({ length: m }, (_, k) => (k + 0.5) / m), weights: new Float64Array(m).fill(1 / m) };
    case 'trapezoid': {
      if (m < 2) throw new UserError(`ig option "steps" is ${m}; the trapezoid rule needs at least 2 steps (both ends of the path)`);
      const h = 1 / (m - 1);
      const weights = new Float64Array(m).fill(h);
      weights[0] = weights[m - 1] = h / 2;
      return { alphas: Float64Array.from({ length: m }, (_, k) => (k === m - 1 ? 1 : k * h)), weights };
    }
    case 'gausslegendre': {
      const { nodes, weights } = gaussLegendre(m);
      return { alphas: nodes.map((t) => (t + 1) / 2), weights: weights.map((w) => w / 2) };
    }
    default:
      throw new UserError(`ig option "rule" is "${String(rule)}"; it takes riemann, trapezoid or gausslegendre`);
  }
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>, offset = 0) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[offset + i];
  return s;
};

/**
 * IG of x from baseline x′ along the straight path, with the path's gradients run through the batch
 * runner. The baseline itself is one more row (weight 0) when the rule has no point at α = 0, so that
 * S(x′) comes from the same runs.
 */
export async function integratedGradients(ctx: MethodContext, baseline: tf.Tensor, q: PathQuadrature): Promise<AttributionMap> {
  const { x, image, target, batch, pass } = ctx;
  const m = q.alphas.length;
  const atBaseline = q.alphas.indexOf(0);
  const alphas = atBaseline < 0 ? [...q.alphas, 0] : [...q.alphas];
  const weights = atBaseline < 0 ? [...q.weights, 0] : [...q.weights];
  const baselineRow = atBaseline < 0 ? m : atBaseline;
  const ones = new Array<number>(x.rank - 1).fill(1);
  const diff = tf.sub(x, baseline);
  let integral: tf.Tensor = tf.zerosLike(x);
  try {
    const rows = (start: number, end: number) => tf.tidy(() =>
      tf.add(baseline, tf.mul(tf.tensor(alphas.slice(start, end), [end - start, ...ones]), diff)));
    const logits = await batch.gradients(alphas.length, rows, target.seed, (start, gradient) => {
      const k = gradient.shape[0];
      const next = tf.tidy(() => {
        const w = tf.tensor(weights.slice(start, start + k), [k, ...ones]);
        return tf.add(integral, tf.sum(tf.mul(tf.reshape(gradient, [k, ...x.shape.slice(1)]), w), 0, true));
      });
      integral.dispose();
      integral = next;
    });
    const attribution = tf.mul(diff, integral);
    let data: Float32Array;
    let total: number;
    try {
      data = sumOverChannels(attribution, [image.height, image.width]);
      total = data.reduce((a, b) => a + b, 0);
    } finally {
      attribution.dispose();
    }
    const classes = target.seed.length;
    const logitChange = dot(target.seed, pass.logits) - dot(target.seed, logits, baselineRow * classes);
    const completenessResidual = Math.abs(total - logitChange);
    const notes: string[] = [];
    if (completenessResidual > RESIDUAL_NOTE_FRACTION * Math.abs(logitChange) && completenessResidual > 1e-6) {
      const share = logitChange === 0 ? 'while S(x) − S(baseline) is 0' : `${(100 * completenessResidual / Math.abs(logitChange)).toFixed(1)} % of S(x) − S(baseline)`;
      notes.push(`Integrated Gradients' attributions miss the logit change by ${completenessResidual.toPrecision(3)} (${share}); ` +
        `more steps (now ${m}) or the Gauss–Legendre rule would bring them closer`);
    }
    return {
      method: 'ig', width: image.width, height: image.height, data, signed: true,
      stats: { completenessResidual, logitChange }, ...(notes.length ? { notes } : {}),
    };
  } finally {
    diff.dispose();
    integral.dispose();
  }
}

export const ig: AttributionMethod = {
  spec: methodSpec('ig'),
  needs: () => ({}),
  async attribute(ctx) {
    const { options, x, image, preprocessing } = ctx;
    const q = pathQuadrature(options.rule as IntegrationRule, Number(options.steps));
    const baseline = baselineFor(options.baseline as BaselineKind, x, image, {
      preprocessing, color: String(options.color), seed: Number(options.seed),
    });
    try {
      return await integratedGradients(ctx, baseline, q);
    } finally {
      baseline.dispose();
    }
  },
};
