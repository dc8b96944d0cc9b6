import type { Emitter } from './emitter';
import { axis0, forwardReshape, gradReshape, normAxis, prod, range, Rule } from './gradContext';
import { attrFloat, attrInt } from './proto';

/**
 * Gradient rules of the normalizations that use the input's own statistics: LayerNormalization,
 * InstanceNormalization and GroupNormalization. All three are x̂ = (x − μ)·σ⁻¹ over some axes, then a
 * per-element affine map; they differ only in which axes and how scale broadcasts.
 */

interface Normalized {
  /** σ⁻¹ = 1/√(var + ε), with the normalized axes kept as 1s. */
  invStd: string;
  xHat: string;
  /** Mean over the normalized axes, kept as 1s. */
  meanOf: (t: string) => string;
  /** 1/M, M the count of elements normalized together. */
  inv: string;
}

/** The statistics of x over `axes`, recomputed from x (cheap elementwise ops and reductions). */
function normalize(e: Emitter, x: string, xs: number[], axes: number[], epsilon: number): Normalized {
  const inv = e.scalar(1 / prod(axes.map((a) => xs[a])));
  const meanOf = (t: string) => e.mul(e.reduceSum(t, axes, true), inv);
  const centred = e.sub(x, meanOf(x));
  const variance = meanOf(e.mul(centred, centred));
  const invStd = e.op('Reciprocal', [e.op('Sqrt', [e.add(variance, e.scalar(epsilon))])]);
  return { invStd, xHat: e.mul(centred, invStd), meanOf, inv };
}

/** Input gradient through x̂ given g = ∂L/∂x̂: σ⁻¹·(g − mean(g) − x̂·mean(g·x̂)). */
function throughNormalization(e: Emitter, n: Normalized, g: string): string {
  return e.mul(n.invStd, e.sub(e.sub(g, n.meanOf(g)), e.mul(n.xHat, n.meanOf(e.mul(g, n.xHat)))));
}

/**
 * LayerNormalization (opset 17) over axes axis…rank−1, Y = x̂·scale + B. With g = dy·scale the input gradient
 * is throughNormalization(g), plus the Mean and InvStdDev outputs' gradients where the model uses them:
 * ∂μ/∂x = 1/M and ∂σ⁻¹/∂x = −σ⁻²·x̂/M.
 */
const layerNorm: Rule = (c) => {
  if (c.needs.slice(1).some(Boolean)) return c.unsupported('its scale or bias depends on the input');
  const [dy, dMean, dInvStd] = c.dy;
  if (!c.needs[0] || (!dy && !dMean && !dInvStd)) return [];
  const e = c.e;
  const p = c.node.proto;
  const [x, scale] = c.node.inputs;
  const xs = c.shape(x);
  const axes = range(normAxis(attrInt(p, 'axis', -1), xs.length), xs.length);
  if (axes.includes(0)) axis0(c);
  const n = normalize(e, x, xs, axes, attrFloat(p, 'epsilon', 1e-5));
  const parts: string[] = [];
  if (dy) parts.push(throughNormalization(e, n, e.mul(dy, scale)));
  if (dInvStd) parts.push(e.mul(e.mul(dInvStd, e.neg(e.mul(n.invStd, n.invStd))), e.mul(n.xHat, n.inv)));
  if (dMean) {
    const spread = e.mul(dMean, n.inv);
    // Alone, the statistics' gradient has 1s on the normalized axes: broadcast it to x's shape.
    parts.push(parts.length ? spread : e.op('Expand', [spread, e.op('Shape', [x])]));
  }
  return [e.sum(parts)];
};

/** InstanceNormalization: each (item, channel) normalized over its spatial axes, then scale[c]·x̂ + B[c]. */
const instanceNorm: Rule = (c) => {
  if (c.needs.slice(1).some(Boolean)) return c.unsupported('its scale or bias depends on the input');
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const e = c.e;
  const [x, scale] = c.node.inputs;
  const xs = c.shape(x);
  const perChannel = e.reshape(scale, [xs[1], ...new Array(xs.length - 2).fill(1)]);
  const n = normalize(e, x, xs, range(2, xs.length), attrFloat(c.node.proto, 'epsilon', 1e-5));
  return [throughNormalization(e, n, e.mul(dy, perChannel))];
};

/**
 * GroupNormalization: x [N, C, …] viewed as [N, G, C/G·…], each group normalized, then scale·x̂ + bias.
 * Opset 18 gave scale and bias one value per group; opset 21 one per channel (the paper's form).
 */
const groupNorm: Rule = (c) => {
  if (c.needs.slice(1).some(Boolean)) return c.unsupported('its scale or bias depends on the input');
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const e = c.e;
  const p = c.node.proto;
  const [x, scale] = c.node.inputs;
  const xs = c.shape(x);
  const groups = attrInt(p, 'num_groups', 0);
  if (groups <= 0 || xs[1] % groups !== 0) return c.unsupported(`with num_groups ${groups} for ${xs[1]} channels`);
  const grouped = [xs[0], groups, prod(xs.slice(1)) / groups];
  const perChannel = c.opset >= 21;
  const scaleShape = c.shape(scale);
  if (scaleShape.length !== 1 || scaleShape[0] !== (perChannel ? xs[1] : groups)) {
    return c.unsupported(`with a scale of shape ${JSON.stringify(scaleShape)} at opset ${c.opset}`);
  }
  // g = dy·scale, as [N, G, C/G·…].
  const g = perChannel
    ? gradReshape(c, e.mul(dy, e.reshape(scale, [xs[1], ...new Array(xs.length - 2).fill(1)])), grouped)
    : e.mul(gradReshape(c, dy, grouped), e.reshape(scale, [groups, 1]));
  const n = normalize(e, forwardReshape(c, x, grouped), grouped, [2], attrFloat(p, 'epsilon', 1e-5));
  return [gradReshape(c, throughNormalization(e, n, g), xs)];
};

export const NORMALIZATION_RULES: Record<string, Rule> = {
  LayerNormalization: layerNorm,
  InstanceNormalization: instanceNorm,
  GroupNormalization: groupNorm,
};
