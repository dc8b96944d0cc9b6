import { A } from '../runtimes/onnx/proto';
import { Constant, ConversionError, OnnxWriter, permute, storageAxis, Value } from './onnxWriter';

/**
 * The building blocks both converters (Keras layers, TF graph ops) write with: convolutions, pooling,
 * normalization, activations, in the source's channels-last semantics (kernels HWIO, 'same' padding as
 * TensorFlow computes it) and emitted channels-first for ONNX Runtime.
 */

export type Padding = 'same' | 'valid' | number[][];

export interface ConvSpec {
  /** Kernel in TensorFlow's layout: [kh, kw, in, out] (Conv2D) or [kh, kw, in, multiplier] (depthwise). */
  kernel: Constant;
  bias?: Constant;
  strides: number[];
  dilations: number[];
  /** 'same'/'valid', or explicit [begin, end] per spatial axis. */
  padding: Padding;
  depthwise?: boolean;
}

/** TensorFlow's 'same' padding: output ceil(in/s), the odd pixel at the end. */
function samePads(size: number, k: number, s: number, d: number): [number, number] {
  const effective = (k - 1) * d + 1;
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + effective - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** ONNX pads [begins..., ends...] for spatial sizes, kernel, strides, dilations. */
export function onnxPads(padding: Padding, sizes: number[], kernel: number[], strides: number[], dilations: number[]): number[] {
  let pairs: number[][];
  if (padding === 'valid') pairs = sizes.map(() => [0, 0]);
  else if (padding === 'same') pairs = sizes.map((n, i) => samePads(n, kernel[i], strides[i], dilations[i]));
  else pairs = padding;
  return [...pairs.map((p) => p[0]), ...pairs.map((p) => p[1])];
}

function spatialOut(sizes: number[], kernel: number[], strides: number[], dilations: number[], pads: number[]): number[] {
  const n = sizes.length;
  return sizes.map((size, i) => Math.floor((size + pads[i] + pads[i + n] - ((kernel[i] - 1) * dilations[i] + 1)) / strides[i]) + 1);
}

/** Conv2D / Conv1D / DepthwiseConv2D in channels-last semantics, run as an ONNX Conv. */
export function conv(w: OnnxWriter, x: Value, spec: ConvSpec, hint: string): Value {
  const rank = x.shape.length;
  const spatial = rank - 2;
  const k = spec.kernel;
  if (k.shape.length !== spatial + 2) throw new ConversionError(hint, `kernel of shape ${JSON.stringify(k.shape)} for a rank-${rank} input`);
  const kernelSize = k.shape.slice(0, spatial);
  const inChannels = x.shape[rank - 1];
  let weight: Constant;
  let group = 1;
  if (spec.depthwise) {
    // [kh, kw, in, mult] → [in·mult, 1, kh, kw]: output channel c·mult + m reads input channel c.
    const mult = k.shape[spatial + 1];
    const p = permute(k, [spatial, spatial + 1, ...kernelSize.map((_, i) => i)]);
    weight = { data: p.data, shape: [k.shape[spatial] * mult, 1, ...kernelSize] };
    group = inChannels;
  } else {
    // HWIO → OIHW; a kernel with fewer input channels than the input is a grouped convolution.
    weight = permute(k, [spatial + 1, spatial, ...kernelSize.map((_, i) => i)]);
    group = inChannels / k.shape[spatial];
  }
  if (!Number.isInteger(group) || group < 1) {
    throw new ConversionError(hint, `kernel of ${k.shape[spatial]} input channels for an input of ${inChannels}`);
  }
  const sizes = x.shape.slice(1, rank - 1);
  const pads = onnxPads(spec.padding, sizes, kernelSize, spec.strides, spec.dilations);
  const inputs = [w.first(x), w.f32(weight.data, weight.shape, `${hint}/kernel`)];
  if (spec.bias) inputs.push(w.f32(spec.bias.data, [spec.bias.data.length], `${hint}/bias`));
  const name = w.op('Conv', inputs, [
    A.ints('kernel_shape', kernelSize), A.ints('strides', spec.strides), A.ints('dilations', spec.dilations),
    A.ints('pads', pads), A.i('group', group),
  ], hint);
  const out = spatialOut(sizes, kernelSize, spec.strides, spec.dilations, pads);
  return { name, shape: [1, ...out, weight.shape[0]], channelsFirst: true };
}

/**
 * A transposed convolution in channels-last semantics (kernel [kh, kw, out, in], as Keras's Conv2DTranspose
 * and TF's Conv2DBackpropInput hold it) as an ONNX ConvTranspose: the adjoint of the forward convolution
 * from `outSizes` with the same padding rule, the remainder of the size as output_padding.
 */
export function convTranspose(w: OnnxWriter, x: Value, spec: { kernel: Constant; bias?: Constant; strides: number[]; dilations: number[]; padding: Padding; outSizes: number[] }, hint: string): Value {
  const rank = x.shape.length;
  const spatial = rank - 2;
  const k = spec.kernel;
  const kernelSize = k.shape.slice(0, spatial);
  if (k.shape.length !== spatial + 2 || k.shape[spatial + 1] !== x.shape[rank - 1]) {
    throw new ConversionError(hint, `kernel of shape ${JSON.stringify(k.shape)} for an input of ${x.shape[rank - 1]} channels`);
  }
  // [kh, kw, out, in] → [in, out, kh, kw]
  const weight = permute(k, [spatial + 1, spatial, ...kernelSize.map((_, i) => i)]);
  const sizes = x.shape.slice(1, rank - 1);
  const pads = onnxPads(spec.padding, spec.outSizes, kernelSize, spec.strides, spec.dilations);
  const outputPadding = sizes.map((n, i) => spec.outSizes[i] - ((n - 1) * spec.strides[i] + (kernelSize[i] - 1) * spec.dilations[i] + 1 - pads[i] - pads[i + spatial]));
  if (outputPadding.some((p, i) => p < 0 || p >= Math.max(spec.strides[i], spec.dilations[i]))) {
    throw new ConversionError(hint, `output size ${JSON.stringify(spec.outSizes)} cannot come from input ${JSON.stringify(sizes)}`);
  }
  const inputs = [w.first(x), w.f32(weight.data, weight.shape, `${hint}/kernel`)];
  if (spec.bias) inputs.push(w.f32(spec.bias.data, [spec.bias.data.length], `${hint}/bias`));
  const name = w.op('ConvTranspose', inputs, [
    A.ints('kernel_shape', kernelSize), A.ints('strides', spec.strides), A.ints('dilations', spec.dilations), A.ints('pads', pads),
    A.ints('output_padding', outputPadding),
  ], hint);
  return { name, shape: [1, ...spec.outSizes, weight.shape[1]], channelsFirst: true };
}

/** Keras's Conv2DTranspose output length (no output_padding given): 'valid' in·s + max(k − s, 0), 'same' in·s. */
export function transposedLength(n: number, k: number, s: number, padding: 'same' | 'valid'): number {
  return padding === 'same' ? n * s : n * s + Math.max(k - s, 0);
}

export interface PoolSpec {
  kind: 'max' | 'avg';
  size: number[];
  strides: number[];
  padding: Padding;
}

/** MaxPool / AvgPool with TensorFlow's 'same' (average over valid pixels only). */
export function pool(w: OnnxWriter, x: Value, spec: PoolSpec, hint: string): Value {
  const rank = x.shape.length;
  const sizes = x.shape.slice(1, rank - 1);
  const ones = sizes.map(() => 1);
  const pads = onnxPads(spec.padding, sizes, spec.size, spec.strides, ones);
  const attrs = [A.ints('kernel_shape', spec.size), A.ints('strides', spec.strides), A.ints('pads', pads)];
  if (spec.kind === 'avg') attrs.push(A.i('count_include_pad', 0));
  const name = w.op(spec.kind === 'max' ? 'MaxPool' : 'AveragePool', [w.first(x)], attrs, hint);
  const out = spatialOut(sizes, spec.size, spec.strides, ones, pads);
  return { name, shape: [1, ...out, x.shape[rank - 1]], channelsFirst: true };
}

/** Mean / max / sum over axes given in the model's layout. */
export function reduce(w: OnnxWriter, x: Value, kind: 'mean' | 'max' | 'sum' | 'min', axes: number[], keepDims: boolean, hint: string): Value {
  const rank = x.shape.length;
  const norm = [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  if (norm.some((a) => a < 0 || a >= rank)) throw new ConversionError(hint, `reduction axes ${JSON.stringify(axes)} for rank ${rank}`);
  const shape = keepDims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
  // Kept dims keep the storage. Dropping axes keeps it too when what remains is in the model's order
  // (global pooling of a channels-first map leaves [1, C]); otherwise reduce in the model's layout.
  const remaining = x.shape.map((_, a) => a).filter((a) => !norm.includes(a));
  const inStorageOrder = [...remaining].sort((a, b) => storageAxis(x, a) - storageAxis(x, b));
  const storageKeepsOrder = inStorageOrder.every((a, i) => a === remaining[i]);
  const stored = keepDims || storageKeepsOrder ? x : { ...x, name: w.last(x), channelsFirst: false };
  const storageAxes = norm.map((a) => storageAxis(stored, a));
  const keep = A.i('keepdims', keepDims ? 1 : 0);
  const op = { mean: 'ReduceMean', max: 'ReduceMax', sum: 'ReduceSum', min: 'ReduceMin' }[kind];
  // Opset 17: ReduceSum takes its axes as an input, the others as an attribute.
  const name = kind === 'sum'
    ? w.op(op, [stored.name, w.i64(storageAxes)], [keep], hint)
    : w.op(op, [stored.name], [A.ints('axes', storageAxes), keep], hint);
  return { name, shape, channelsFirst: keepDims && x.channelsFirst };
}

/** y = x·scale + offset per channel (the model's last axis): inference BatchNorm, Keras Normalization. */
export function channelAffine(w: OnnxWriter, x: Value, scale: Float32Array | undefined, offset: Float32Array | undefined, hint: string): Value {
  const channels = x.shape[x.shape.length - 1];
  let y = x;
  if (scale) y = w.elementwise('Mul', [y, { data: scale, shape: [channels] }], `${hint}/mul`);
  if (offset) y = w.elementwise('Add', [y, { data: offset, shape: [channels] }], `${hint}/add`);
  return y;
}

/** Inference BatchNormalization from its statistics. */
export function batchNorm(w: OnnxWriter, x: Value, p: { gamma?: Float32Array; beta?: Float32Array; mean: Float32Array; variance: Float32Array; epsilon: number }, hint: string): Value {
  const scale = p.variance.map((v, i) => (p.gamma ? p.gamma[i] : 1) / Math.sqrt(v + p.epsilon));
  const offset = p.mean.map((m, i) => (p.beta ? p.beta[i] : 0) - m * scale[i]);
  if (x.shape.length >= 3 && x.channelsFirst) {
    // Channels-first: ONNX's own BatchNormalization, which ORT fuses into the convolution before it.
    const c = scale.length;
    const name = w.op('BatchNormalization', [x.name, w.f32(scale, [c], `${hint}/scale`), w.f32(offset, [c], `${hint}/offset`),
      w.f32(new Float32Array(c), [c], `${hint}/mean`), w.f32(new Float32Array(c).fill(1), [c], `${hint}/variance`)], [A.f('epsilon', 0)], hint);
    return { name, shape: x.shape, channelsFirst: true };
  }
  return channelAffine(w, x, scale, offset, hint);
}

/** Matrix product over the last axis with a constant [in, out] matrix, plus an optional bias. */
export function dense(w: OnnxWriter, x: Value, kernel: Constant, bias: Constant | undefined, hint: string): Value {
  const [inUnits, outUnits] = kernel.shape;
  if (x.shape[x.shape.length - 1] !== inUnits) {
    throw new ConversionError(hint, `kernel of ${inUnits} inputs for an input of shape ${JSON.stringify(x.shape)}`);
  }
  const shape = [...x.shape.slice(0, -1), outUnits];
  const kernelName = w.f32(kernel.data, kernel.shape, `${hint}/kernel`);
  if (x.shape.length === 2) {
    const inputs = [w.last(x), kernelName];
    if (bias) inputs.push(w.f32(bias.data, [outUnits], `${hint}/bias`));
    return { name: w.op('Gemm', inputs, [], hint), shape, channelsFirst: false };
  }
  let y: Value = { name: w.op('MatMul', [w.last(x), kernelName], [], bias ? `${hint}/MatMul` : hint), shape, channelsFirst: false };
  if (bias) y = w.elementwise('Add', [y, bias], hint);
  return y;
}

/** Keras / TF activations by name (tfjs spellings and Keras ones). */
export function activation(w: OnnxWriter, x: Value, name: string, hint: string): Value {
  const key = name.replace(/_/g, '').toLowerCase();
  switch (key) {
    case 'linear': case 'identity': return x;
    case 'relu': return w.unary('Relu', x, hint);
    case 'relu6': return clip(w, x, 0, 6, hint);
    case 'sigmoid': return w.unary('Sigmoid', x, hint);
    case 'hardsigmoid': return w.unary('HardSigmoid', x, hint, [A.f('alpha', 0.2), A.f('beta', 0.5)]);
    case 'tanh': return w.unary('Tanh', x, hint);
    case 'swish': case 'silu': return w.elementwise('Mul', [x, w.unary('Sigmoid', x, `${hint}/sigmoid`)], hint);
    case 'elu': return w.unary('Elu', x, hint, [A.f('alpha', 1)]);
    case 'selu': return w.unary('Selu', x, hint);
    case 'softplus': return w.unary('Softplus', x, hint);
    case 'softsign': return w.unary('Softsign', x, hint);
    case 'gelu': {
      // 0.5·x·(1 + erf(x/√2)), as tfjs and Keras (approximate=False) compute it.
      const e = w.unary('Erf', w.elementwise('Mul', [x, scalar(Math.SQRT1_2)], `${hint}/scaled`), `${hint}/erf`);
      const cdf = w.elementwise('Mul', [w.elementwise('Add', [e, scalar(1)], `${hint}/one_plus`), scalar(0.5)], `${hint}/cdf`);
      return w.elementwise('Mul', [x, cdf], hint);
    }
    case 'gelunew': {
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): tfjs's gelu_new.
      const cube = w.elementwise('Mul', [w.elementwise('Mul', [x, x], `${hint}/sq`), x], `${hint}/cube`);
      const inner = w.elementwise('Add', [x, w.elementwise('Mul', [cube, scalar(0.044715)], `${hint}/c`)], `${hint}/inner`);
      const t = w.unary('Tanh', w.elementwise('Mul', [inner, scalar(Math.sqrt(2 / Math.PI))], `${hint}/s`), `${hint}/tanh`);
      const half = w.elementwise('Mul', [w.elementwise('Add', [t, scalar(1)], `${hint}/one_plus`), scalar(0.5)], `${hint}/half`);
      return w.elementwise('Mul', [x, half], hint);
    }
    case 'mish': {
      const t = w.unary('Tanh', w.unary('Softplus', x, `${hint}/softplus`), `${hint}/tanh`);
      return w.elementwise('Mul', [x, t], hint);
    }
    case 'softmax': return softmax(w, x, -1, hint, false);
    case 'logsoftmax': return softmax(w, x, -1, hint, true);
    default: throw new ConversionError(hint, `activation "${name}" is not supported for conversion`);
  }
}

export const scalar = (v: number): Constant => ({ data: Float32Array.of(v), shape: [] });

export function clip(w: OnnxWriter, x: Value, lo: number | undefined, hi: number | undefined, hint: string): Value {
  const bound = (v: number | undefined) => (v === undefined ? '' : w.scalar(v));
  const inputs = [x.name, bound(lo), bound(hi)];
  while (inputs[inputs.length - 1] === '') inputs.pop();
  return { name: w.op('Clip', inputs, [], hint), shape: x.shape, channelsFirst: x.channelsFirst };
}

export function softmax(w: OnnxWriter, x: Value, axis: number, hint: string, log: boolean): Value {
  return w.unary(log ? 'LogSoftmax' : 'Softmax', x, hint, [A.i('axis', storageAxis(x, axis))]);
}

/** LeakyReLU with a constant slope. */
export function leakyRelu(w: OnnxWriter, x: Value, alpha: number, hint: string): Value {
  return w.unary('LeakyRelu', x, hint, [A.f('alpha', alpha)]);
}

/** Zero (or reflected, or edge) padding; pads per model axis as [begin, end]. */
export function pad(w: OnnxWriter, x: Value, pairs: number[][], hint: string, mode: 'constant' | 'reflect' | 'edge' = 'constant'): Value {
  const rank = x.shape.length;
  if (pairs.length !== rank) throw new ConversionError(hint, `padding for ${pairs.length} axes on a rank-${rank} input`);
  if (pairs.every((p) => p[0] === 0 && p[1] === 0)) return x;
  const stored = new Array(rank);
  pairs.forEach((p, a) => (stored[storageAxis(x, a)] = p));
  const pads = [...stored.map((p: number[]) => p[0]), ...stored.map((p: number[]) => p[1])];
  const name = w.op('Pad', [x.name, w.i64(pads)], [A.s('mode', mode)], hint);
  return { name, shape: x.shape.map((d, a) => d + pairs[a][0] + pairs[a][1]), channelsFirst: x.channelsFirst };
}

/** Slice with start/end per model axis (end exclusive, already clamped), step 1 or more. */
export function slice(w: OnnxWriter, x: Value, begin: number[], end: number[], steps: number[], hint: string): Value {
  const axes: number[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const st: number[] = [];
  x.shape.forEach((d, a) => {
    if (begin[a] === 0 && end[a] === d && steps[a] === 1) return;
    axes.push(storageAxis(x, a));
    starts.push(begin[a]);
    ends.push(end[a]);
    st.push(steps[a]);
  });
  if (!axes.length) return x;
  const name = w.op('Slice', [x.name, w.i64(starts), w.i64(ends), w.i64(axes), w.i64(st)], [], hint);
  const shape = x.shape.map((d, a) => Math.max(0, Math.ceil((end[a] - begin[a]) / steps[a])));
  return { name, shape, channelsFirst: x.channelsFirst };
}

/** Concatenation along a model axis; all inputs take one storage. */
export function concat(w: OnnxWriter, xs: Value[], axis: number, hint: string): Value {
  const rank = xs[0].shape.length;
  const a = axis < 0 ? axis + rank : axis;
  const first = rank >= 3 && xs.some((x) => x.channelsFirst);
  const probe: Value = { name: '', shape: xs[0].shape, channelsFirst: first };
  const name = w.op('Concat', xs.map((x) => w.as(x, first)), [A.i('axis', storageAxis(probe, a))], hint);
  const shape = [...xs[0].shape];
  shape[a] = xs.reduce((n, x) => n + x.shape[a], 0);
  return { name, shape, channelsFirst: first };
}

/** Transpose by a permutation of the model's axes; the result is in the model's layout. */
export function transposeModel(w: OnnxWriter, x: Value, perm: number[], hint: string): Value {
  const shape = perm.map((p) => x.shape[p]);
  if (perm.every((p, i) => p === i)) return x;
  if (x.channelsFirst) {
    // Composing with the storage permutation: stored axis of model axis p.
    const storedPerm = perm.map((p) => storageAxis(x, p));
    return { name: w.op('Transpose', [x.name], [A.ints('perm', storedPerm)], hint), shape, channelsFirst: false };
  }
  return { name: w.op('Transpose', [x.name], [A.ints('perm', perm)], hint), shape, channelsFirst: false };
}

/**
 * Linear resampling of the spatial axes by constant matrices (nearest or bilinear, any pixel
 * convention): y = A_h · x · A_wᵀ, as two MatMuls the gradient builder knows.
 */
export function resize(w: OnnxWriter, x: Value, outH: number, outW: number, matrixFor: (inSize: number, outSize: number) => Float32Array, hint: string): Value {
  const [, h, wd, c] = x.shape;
  const t = w.first(x);
  let y = t;
  if (outW !== wd) {
    // [1, C, H, W] · A_wᵀ [W, outW]
    const aw = matrixFor(wd, outW);
    const awT = permute({ data: aw, shape: [outW, wd] }, [1, 0]);
    y = w.op('MatMul', [y, w.f32(awT.data, [wd, outW], `${hint}/width`)], [], `${hint}/width`);
  }
  if (outH !== h) {
    // A_h [outH, H] · [1, C, H, outW]
    y = w.op('MatMul', [w.f32(matrixFor(h, outH), [outH, h], `${hint}/height`), y], [], `${hint}/height`);
  }
  if (y === t) return x;
  return { name: y, shape: [1, outH, outW, c], channelsFirst: true };
}

/** Nearest-neighbour resampling matrix (integer upsampling repeats each pixel). */
export function nearestMatrix(inSize: number, outSize: number, alignCorners = false, halfPixel = false): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = halfPixel ? (o + 0.5) * scale : o * scale;
    let i = alignCorners ? Math.round(src) : Math.floor(src);
    i = Math.min(inSize - 1, Math.max(0, i));
    m[o * inSize + i] = 1;
  }
  return m;
}

/** Bilinear resampling matrix: TF's legacy convention by default, or half-pixel centres / aligned corners. */
export function bilinearMatrix(inSize: number, outSize: number, alignCorners = false, halfPixel = false): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = halfPixel ? Math.max(0, (o + 0.5) * scale - 0.5) : o * scale;
    const lo = Math.min(Math.floor(src), inSize - 1);
    const hi = Math.min(lo + 1, inSize - 1);
    const frac = src - lo;
    m[o * inSize + lo] += 1 - frac;
    m[o * inSize + hi] += frac;
  }
  return m;
}
