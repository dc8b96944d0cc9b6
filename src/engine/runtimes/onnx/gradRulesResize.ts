import { axis0, gradReshape, normAxis, prod, Rule, RuleContext } from './gradContext';
import { attrInt, attrInts, attrString } from './proto';

/**
 * Resize (opset 11+) in modes nearest and linear. Both are separable and linear in x: along each resized
 * axis, output cell i is Σ_p M[i, p]·x[p] with a small sampling matrix M [out, in] fixed by the shapes and
 * attributes. The gradient is dy multiplied by Mᵀ along each such axis, with M computed here and written
 * into the graph as a constant. Where M only repeats each input cell k times in a row (nearest upsampling
 * by an integer factor, as torch's nn.Upsample exports), a Reshape and ReduceSum do the same for less.
 */

/** Where output cell i of an axis samples the input, in input coordinates (ONNX's coordinate_transformation_mode). */
function sourceCoordinate(mode: string, i: number, scale: number, outLen: number, inLen: number): number {
  // ONNX Runtime computes these in float32: rounded the same way, exact ties (x.5) stay ties for nearest.
  const f = Math.fround;
  const s = f(scale);
  switch (mode) {
    case 'half_pixel':
      return f(f(f(i + 0.5) / s) - 0.5);
    case 'pytorch_half_pixel':
      return outLen > 1 ? f(f(f(i + 0.5) / s) - 0.5) : 0;
    case 'align_corners':
      return outLen === 1 ? 0 : f(f(i * (inLen - 1)) / (outLen - 1));
    case 'asymmetric':
      return f(i / s);
    case 'tf_half_pixel_for_nn':
      return f(f(i + 0.5) / s);
    case 'half_pixel_symmetric': {
      const adjustment = f(outLen / f(s * inLen));
      const offset = f(f(inLen / 2) * f(1 - adjustment));
      return f(offset + f(f(f(i + 0.5) / s) - 0.5));
    }
    default:
      throw new Error(`coordinate mode ${mode}`);
  }
}

/** The input cell nearest to x (ONNX's nearest_mode), clamped into the axis. */
function nearestCell(mode: string, x: number, inLen: number): number {
  let k: number;
  if (mode === 'floor') k = Math.floor(x);
  else if (mode === 'ceil') k = Math.ceil(x);
  else if (mode === 'round_prefer_ceil') k = Math.floor(x + 0.5);
  else k = Math.ceil(x - 0.5); // round_prefer_floor
  return Math.min(Math.max(k, 0), inLen - 1);
}

interface Sampling {
  mode: 'nearest' | 'linear';
  coordinates: string;
  nearest: string;
}

/** M [out, in] of one axis, row-major. */
function samplingMatrix(s: Sampling, scale: number, outLen: number, inLen: number): Float32Array {
  const m = new Float32Array(outLen * inLen);
  for (let i = 0; i < outLen; i++) {
    const x = sourceCoordinate(s.coordinates, i, scale, outLen, inLen);
    if (s.mode === 'nearest') {
      m[i * inLen + nearestCell(s.nearest, x, inLen)] = 1;
      continue;
    }
    // Linear: the coordinate clamped into the axis, split between its two neighbours (edges repeat).
    const at = Math.min(Math.max(x, 0), inLen - 1);
    const lo = Math.floor(at);
    const t = at - lo;
    m[i * inLen + lo] += 1 - t;
    if (t > 0) m[i * inLen + lo + 1] += t;
  }
  return m;
}

const isIdentity = (m: Float32Array, outLen: number, inLen: number) =>
  outLen === inLen && m.every((v, k) => v === (Math.floor(k / inLen) === k % inLen ? 1 : 0));

/** k when row i of M is one-hot at ⌊i/k⌋ (each input cell repeated k times in a row), else undefined. */
function repeatFactor(m: Float32Array, outLen: number, inLen: number): number | undefined {
  if (outLen % inLen !== 0) return undefined;
  const k = outLen / inLen;
  for (let i = 0; i < outLen; i++) {
    for (let p = 0; p < inLen; p++) if (m[i * inLen + p] !== (p === Math.floor(i / k) ? 1 : 0)) return undefined;
  }
  return k;
}

function transposed(m: Float32Array, outLen: number, inLen: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let i = 0; i < outLen; i++) for (let p = 0; p < inLen; p++) t[p * outLen + i] = m[i * inLen + p];
  return t;
}

/**
 * dy [… out …] → [… in …] along `axis`: Σ_i M[i, p]·dy[i]. `shape` is g's forward shape (axis 0 the seeds').
 * The last axis is a MatMul by M, the one before by Mᵀ from the left; others are reshaped to the latter.
 */
function alongAxis(c: RuleContext, g: string, shape: number[], axis: number, m: Float32Array, inLen: number): string {
  const e = c.e;
  const rank = shape.length;
  const outLen = shape[axis];
  const result = [...shape.slice(0, axis), inLen, ...shape.slice(axis + 1)];
  const k = repeatFactor(m, outLen, inLen);
  if (k !== undefined) {
    return e.reduceSum(gradReshape(c, g, [...shape.slice(0, axis), inLen, k, ...shape.slice(axis + 1)]), [axis + 1], false);
  }
  if (axis === rank - 1) return e.op('MatMul', [g, e.f32(m, [outLen, inLen])]);
  const mt = e.f32(transposed(m, outLen, inLen), [inLen, outLen]);
  if (axis === rank - 2) return e.op('MatMul', [mt, g]);
  const post = prod(shape.slice(axis + 1));
  const viewed = axis === 0 ? e.reshape(g, [1, outLen, post]) : gradReshape(c, g, [shape[0], prod(shape.slice(1, axis)), outLen, post]);
  return gradReshape(c, e.op('MatMul', [mt, viewed]), result);
}

/**
 * Per-axis scale of a Resize (what its coordinate transformation divides by), from its scales or sizes input
 * (opset 18's `axes` naming which).
 */
function resizeScales(c: RuleContext, xs: number[]): number[] {
  const p = c.node.proto;
  const rank = xs.length;
  const [, , scalesIn, sizesIn] = c.node.inputs;
  const axes = (attrInts(p, 'axes') ?? xs.map((_, i) => i)).map((a) => normAxis(a, rank));
  const given = (t: string | undefined) => {
    if (!t) return undefined;
    const v = c.value(t);
    if (!v) return c.unsupported('its scales or sizes depend on the input');
    return v.length ? v : undefined;
  };
  const scales = given(scalesIn);
  const sizes = scales ? undefined : given(sizesIn);
  if (!scales && !sizes) return c.unsupported('it gives neither scales nor sizes');
  if (sizes && attrString(p, 'keep_aspect_ratio_policy', 'stretch') !== 'stretch') {
    return c.unsupported(`with keep_aspect_ratio_policy "${attrString(p, 'keep_aspect_ratio_policy', 'stretch')}"`);
  }
  // Unnamed axes keep scale 1. With sizes, ONNX Runtime's scale is out/in (in float32).
  const out = xs.map(() => 1);
  axes.forEach((a, k) => (out[a] = scales ? scales[k] : Math.fround(sizes![k]) / Math.fround(xs[a])));
  return out;
}

const COORDINATE_MODES = ['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn'];
const NEAREST_MODES = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];

/** Resize, opset 11 on: X, roi, scales, sizes. The roi matters only to tf_crop_and_resize, which is refused. */
const resize: Rule = (c) => {
  if (c.needs.slice(1).some(Boolean)) return c.unsupported('its scales or sizes depend on the input');
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const p = c.node.proto;
  const mode = attrString(p, 'mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear') return c.unsupported(`in "${mode}" mode`);
  if (attrInt(p, 'antialias', 0)) return c.unsupported('with antialias');
  const coordinates = attrString(p, 'coordinate_transformation_mode', 'half_pixel');
  if (!COORDINATE_MODES.includes(coordinates)) return c.unsupported(`with coordinate_transformation_mode "${coordinates}"`);
  const nearest = attrString(p, 'nearest_mode', 'round_prefer_floor');
  if (mode === 'nearest' && !NEAREST_MODES.includes(nearest)) return c.unsupported(`with nearest_mode "${nearest}"`);
  const xs = c.shape(c.node.inputs[0]);
  const ys = c.shape(c.node.outputs[0]);
  const scales = resizeScales(c, xs);
  const sampling: Sampling = { mode, coordinates, nearest };
  let g = dy;
  const shape = [...ys];
  for (let a = 0; a < xs.length; a++) {
    const m = samplingMatrix(sampling, scales[a], ys[a], xs[a]);
    if (isIdentity(m, ys[a], xs[a])) continue;
    if (a === 0) axis0(c);
    g = alongAxis(c, g, shape, a, m, xs[a]);
    shape[a] = xs[a];
  }
  return [g];
};

export const RESIZE_RULES: Record<string, Rule> = { Resize: resize };
