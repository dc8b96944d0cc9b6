import * as tf from '@tensorflow/tfjs';
import { A } from '../runtimes/onnx/proto';
import { isSpatialCandidate } from '../runtimes/tfjs/spatialLayers';
import type { SpatialLayer } from '../runtimes/types';
import { dataInputs, dependencyOrder, findGraphLogits, GraphAttr, GraphNodeDef, parseRef } from '../runtimes/tfjs/graphDef';
import { Constant, ConversionError, OnnxWriter, Value } from './onnxWriter';
import {
  activation, batchNorm, bilinearMatrix, clip, concat, conv, convTranspose, dense, leakyRelu, nearestMatrix, pad, Padding, pool, reduce, resize,
  slice, softmax, transposeModel,
} from './ops';
import type { ConvertedModel, SourceLayer } from './types';
import { assembleConverted } from './assemble';

/** Ops whose value is the size of their input, not its values. */
const SHAPE_OF = new Set(['Shape', 'Size', 'Rank', 'ShapeN']);

/** Ops that are no layer of the model: weights, feeds, bookkeeping. */
const NON_COMPUTE = new Set(['Const', 'Placeholder', 'NoOp']);
const str = (a: GraphAttr | undefined, fallback = '') => (a?.s !== undefined ? Buffer.from(a.s, 'base64').toString('utf8') : fallback);
const ints = (a: GraphAttr | undefined) => (a?.list?.i ?? []).map(Number);
const strs = (a: GraphAttr | undefined) => (a?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));
const int = (a: GraphAttr | undefined, fallback = 0) => (a?.i !== undefined ? Number(a.i) : fallback);
const float = (a: GraphAttr | undefined, fallback = 0) => (a?.f !== undefined ? Number(a.f) : fallback);
const bool = (a: GraphAttr | undefined) => Boolean(a?.b);

/** What the converter knows about a tensor of the graph: a value of the ONNX graph, or a constant (weights, folded shapes). */
type Known = { value: Value } | { constant: Constant };

/** Results of running the model once on zeros with tfjs: every node's shape, and the values of input-independent ones. */
export interface GraphProbe {
  shapes: Map<string, number[]>;
  constants: Map<string, Constant>;
}

/**
 * Runs the GraphModel once on a zero image: the shape of every tensor (TF graphs do not store them) and
 * the values of every tensor that does not depend on the image (weights, dequantized; shape arithmetic,
 * folded), so conversion needs no shape inference of its own.
 */
export function probeGraph(model: tf.GraphModel, nodes: GraphNodeDef[], inputName: string, inputShape: number[], refs: string[]): GraphProbe {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const varying = new Set<string>([inputName]);
  // Nodes are not always in order: iterate to a fixed point. Shape, Size and Rank depend only on the image's
  // size, which the converted graph fixes (batch 1, the probed size): their values are constants of it.
  let changed = true;
  while (changed) {
    changed = false;
    for (const n of nodes) {
      if (varying.has(n.name) || SHAPE_OF.has(n.op)) continue;
      if (dataInputs(n).some((r) => varying.has(parseRef(r)[0]))) {
        varying.add(n.name);
        changed = true;
      }
    }
  }
  const wanted = refs.filter((r) => {
    const op = byName.get(parseRef(r)[0])?.op;
    return op !== undefined && op !== 'Placeholder' && op !== 'NoOp';
  });
  const shapes = new Map<string, number[]>();
  const constants = new Map<string, Constant>();
  tf.tidy(() => {
    const outs = model.execute({ [inputName]: tf.zeros([1, ...inputShape]) }, wanted);
    const list = Array.isArray(outs) ? outs : [outs];
    list.forEach((t, i) => {
      const ref = wanted[i];
      shapes.set(ref, [...t.shape]);
      if (!varying.has(parseRef(ref)[0])) constants.set(ref, { data: Float32Array.from(t.dataSync() as ArrayLike<number>), shape: [...t.shape] });
    });
  });
  shapes.set(inputName, [1, ...inputShape]);
  return { shapes, constants };
}

interface NodeContext {
  w: OnnxWriter;
  node: GraphNodeDef;
  attr: Record<string, GraphAttr>;
  /** Data inputs, resolved. */
  ins: Known[];
  /** Output shape from the probe. */
  shape: number[];
  value(i: number): Value;
  constant(i: number): Constant;
  hint: string;
}

type OpRule = (c: NodeContext) => Value;

function nhwc(c: NodeContext): void {
  const format = str(c.attr.data_format, 'NHWC');
  if (format !== 'NHWC' && format !== 'NWC') throw new ConversionError(c.node.name, `data format ${format} (only channels-last converts)`);
}

function tfPadding(c: NodeContext, rank: number): Padding {
  const p = str(c.attr.padding, 'VALID');
  if (p === 'SAME') return 'same';
  if (p === 'VALID') return 'valid';
  if (p === 'EXPLICIT') {
    const e = ints(c.attr.explicit_paddings);
    return Array.from({ length: rank - 2 }, (_, i) => [e[2 * (i + 1)], e[2 * (i + 1) + 1]]);
  }
  throw new ConversionError(c.node.name, `padding ${p}`);
}

const spatialOf = (v: number[]) => v.slice(1, -1);

/** The ops a TF.js converter fuses after a convolution or matmul: BiasAdd, then one activation, or FusedBatchNorm. */
function fusedTail(c: NodeContext, y: Value, ops: string[], firstArg: number): Value {
  const w = c.w;
  let arg = firstArg;
  let out = y;
  for (const op of ops) {
    switch (op) {
      case 'BiasAdd': out = w.elementwise('Add', [out, c.constant(arg++)], `${c.hint}/BiasAdd`); break;
      case 'FusedBatchNorm': {
        const [scale, offset, mean, variance] = [0, 1, 2, 3].map((k) => c.constant(arg + k).data);
        arg += 4;
        out = batchNorm(w, out, { gamma: scale, beta: offset, mean, variance, epsilon: float(c.attr.epsilon, 1e-3) }, `${c.hint}/BatchNorm`);
        break;
      }
      case 'Add': {
        const k = c.ins[arg++];
        out = w.elementwise('Add', [out, 'value' in k ? k.value : k.constant], `${c.hint}/Add`);
        break;
      }
      case 'Relu': out = activation(w, out, 'relu', c.hint); break;
      case 'Relu6': out = clip(w, out, 0, 6, c.hint); break;
      case 'Elu': out = activation(w, out, 'elu', c.hint); break;
      case 'Sigmoid': out = activation(w, out, 'sigmoid', c.hint); break;
      case 'Tanh': out = activation(w, out, 'tanh', c.hint); break;
      case 'LeakyRelu': out = leakyRelu(w, out, float(c.attr.leakyrelu_alpha, 0.2), c.hint); break;
      case 'Prelu': out = prelu(w, out, c.constant(arg++), c.hint); break;
      default: throw new ConversionError(c.node.name, `fused op ${op}`);
    }
  }
  return out;
}

function prelu(w: OnnxWriter, x: Value, alpha: Constant, hint: string): Value {
  const slope = w.constantFor(alpha, x.shape.length, x.channelsFirst, `${hint}/alpha`);
  return { name: w.op('PRelu', [x.name, slope], [], hint), shape: x.shape, channelsFirst: x.channelsFirst };
}

function convolution(depthwise: boolean, fused: boolean): OpRule {
  return (c) => {
    nhwc(c);
    const x = c.value(0);
    const rank = x.shape.length;
    const strides = ints(c.attr.strides);
    const dilations = ints(c.attr.dilations);
    const y = conv(c.w, x, {
      kernel: c.constant(1), depthwise, padding: tfPadding(c, rank),
      strides: strides.length ? spatialOf(strides) : new Array(rank - 2).fill(1),
      dilations: dilations.length ? spatialOf(dilations) : new Array(rank - 2).fill(1),
    }, fused && strs(c.attr.fused_ops).length ? `${c.hint}/conv` : c.hint);
    return fused ? fusedTail(c, y, strs(c.attr.fused_ops), 2) : y;
  };
}

function matMul(fused: boolean): OpRule {
  return (c) => {
    if (bool(c.attr.transpose_a)) throw new ConversionError(c.node.name, 'MatMul with transpose_a');
    let kernel = c.constant(1);
    if (bool(c.attr.transpose_b)) {
      const [o, i] = kernel.shape;
      const t = new Float32Array(kernel.data.length);
      for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) t[b * o + a] = kernel.data[a * i + b];
      kernel = { data: t, shape: [i, o] };
    }
    const ops = fused ? strs(c.attr.fused_ops) : [];
    // BiasAdd folds into the Gemm; activations follow.
    const bias = ops[0] === 'BiasAdd' ? c.constant(2) : undefined;
    const y = dense(c.w, c.value(0), kernel, bias, ops.length > (bias ? 1 : 0) ? `${c.hint}/MatMul` : c.hint);
    return fused ? fusedTail(c, y, ops.slice(bias ? 1 : 0), bias ? 3 : 2) : y;
  };
}

/** Elementwise op over inputs that are values or constants (numpy broadcasting). */
function elementwise(op: string): OpRule {
  return (c) => c.w.elementwise(op, c.ins.map((k) => ('value' in k ? k.value : k.constant)), c.hint);
}

function unaryOp(op: string, attrs = (_c: NodeContext) => [] as ReturnType<typeof A.f>[]): OpRule {
  return (c) => c.w.unary(op, c.value(0), c.hint, attrs(c));
}

function tfReduce(kind: 'mean' | 'max' | 'sum' | 'min'): OpRule {
  return (c) => {
    const axes = Array.from(c.constant(1).data);
    return reduce(c.w, c.value(0), kind, axes, bool(c.attr.keep_dims), c.hint);
  };
}

function tfPool(kind: 'max' | 'avg'): OpRule {
  return (c) => {
    nhwc(c);
    const x = c.value(0);
    return pool(c.w, x, { kind, size: spatialOf(ints(c.attr.ksize)), strides: spatialOf(ints(c.attr.strides)), padding: tfPadding(c, x.shape.length) }, c.hint);
  };
}

/** Reshape, Squeeze, ExpandDims: the probe knows the output shape; the element order is the model's. */
const toProbedShape: OpRule = (c) => c.w.reshape(c.value(0), c.shape, c.hint);

function resizeOp(kind: 'bilinear' | 'nearest'): OpRule {
  return (c) => {
    const [, h, w] = c.shape;
    const align = bool(c.attr.align_corners);
    const half = bool(c.attr.half_pixel_centers);
    const matrix = kind === 'bilinear' ? bilinearMatrix : nearestMatrix;
    return resize(c.w, c.value(0), h, w, (n, m) => matrix(n, m, align, half), c.hint);
  };
}

/** StridedSlice without ellipsis/new axes, positive strides: a Slice, then the shrunk axes dropped. */
const stridedSlice: OpRule = (c) => {
  const x = c.value(0);
  if (int(c.attr.ellipsis_mask) || int(c.attr.new_axis_mask)) throw new ConversionError(c.node.name, 'StridedSlice with ellipsis or new axes');
  const [b, e, s] = [1, 2, 3].map((i) => Array.from(c.constant(i).data));
  const rank = x.shape.length;
  const begin = new Array(rank).fill(0);
  const end = [...x.shape];
  const steps = new Array(rank).fill(1);
  for (let a = 0; a < b.length; a++) {
    const size = x.shape[a];
    const step = s[a] ?? 1;
    if (step <= 0) throw new ConversionError(c.node.name, 'StridedSlice with a negative stride');
    const norm = (v: number) => Math.min(size, Math.max(0, v < 0 ? v + size : v));
    if (int(c.attr.shrink_axis_mask) & (1 << a)) {
      // A shrunk axis takes begin[a] itself: TensorFlow ignores the masks there.
      begin[a] = norm(b[a]);
      end[a] = begin[a] + 1;
    } else {
      begin[a] = int(c.attr.begin_mask) & (1 << a) ? 0 : norm(b[a]);
      end[a] = int(c.attr.end_mask) & (1 << a) ? size : norm(e[a]);
    }
    steps[a] = step;
  }
  const y = slice(c.w, x, begin, end, steps, c.hint);
  return c.w.reshape(y, c.shape, `${c.hint}/shrink`);
};

const sliceOp: OpRule = (c) => {
  const x = c.value(0);
  const begin = Array.from(c.constant(1).data);
  const size = Array.from(c.constant(2).data);
  return slice(c.w, x, begin, begin.map((v, a) => (size[a] === -1 ? x.shape[a] : v + size[a])), begin.map(() => 1), c.hint);
};

const padOp: OpRule = (c) => {
  const pads = c.constant(1);
  const pairs = Array.from({ length: pads.shape[0] }, (_, a) => [pads.data[2 * a], pads.data[2 * a + 1]]);
  if (c.node.op === 'PadV2' && c.ins[2] && c.constant(2).data[0] !== 0) throw new ConversionError(c.node.name, 'padding with a non-zero value');
  if (c.node.op === 'MirrorPad') {
    const mode = str(c.attr.mode);
    if (mode !== 'REFLECT') throw new ConversionError(c.node.name, `MirrorPad mode ${mode}`);
    return pad(c.w, c.value(0), pairs, c.hint, 'reflect');
  }
  return pad(c.w, c.value(0), pairs, c.hint);
};

const RULES: Record<string, OpRule> = {
  Conv2D: convolution(false, false),
  _FusedConv2D: convolution(false, true),
  DepthwiseConv2dNative: convolution(true, false),
  FusedDepthwiseConv2dNative: convolution(true, true),
  // tf.nn.conv2d_transpose: (output sizes, filter, input); the probe knows the output size.
  Conv2DBackpropInput: (c) => {
    nhwc(c);
    const x = c.value(2);
    const rank = x.shape.length;
    const strides = ints(c.attr.strides);
    const dilations = ints(c.attr.dilations);
    return convTranspose(c.w, x, {
      kernel: c.constant(1), padding: tfPadding(c, rank), outSizes: c.shape.slice(1, -1),
      strides: strides.length ? spatialOf(strides) : new Array(rank - 2).fill(1),
      dilations: dilations.length ? spatialOf(dilations) : new Array(rank - 2).fill(1),
    }, c.hint);
  },
  MatMul: matMul(false),
  _FusedMatMul: matMul(true),
  BiasAdd: elementwise('Add'),
  Add: elementwise('Add'),
  AddV2: elementwise('Add'),
  AddN: elementwise('Sum'),
  Sub: elementwise('Sub'),
  Mul: elementwise('Mul'),
  RealDiv: elementwise('Div'),
  Div: elementwise('Div'),
  Maximum: elementwise('Max'),
  Minimum: elementwise('Min'),
  Relu: unaryOp('Relu'),
  Relu6: (c) => clip(c.w, c.value(0), 0, 6, c.hint),
  Elu: unaryOp('Elu', () => [A.f('alpha', 1)]),
  Selu: unaryOp('Selu'),
  Sigmoid: unaryOp('Sigmoid'),
  Tanh: unaryOp('Tanh'),
  Softplus: unaryOp('Softplus'),
  Softsign: unaryOp('Softsign'),
  Exp: unaryOp('Exp'),
  Neg: unaryOp('Neg'),
  Sqrt: unaryOp('Sqrt'),
  Rsqrt: (c) => c.w.unary('Reciprocal', c.w.unary('Sqrt', c.value(0), `${c.hint}/sqrt`), c.hint),
  Square: (c) => c.w.elementwise('Mul', [c.value(0), c.value(0)], c.hint),
  Abs: unaryOp('Abs'),
  Log: unaryOp('Log'),
  Erf: unaryOp('Erf'),
  LeakyRelu: (c) => leakyRelu(c.w, c.value(0), float(c.attr.alpha, 0.2), c.hint),
  Prelu: (c) => prelu(c.w, c.value(0), c.constant(1), c.hint),
  Softmax: (c) => softmax(c.w, c.value(0), -1, c.hint, false),
  LogSoftmax: (c) => softmax(c.w, c.value(0), -1, c.hint, true),
  FusedBatchNorm: (c) => fusedBatchNorm(c),
  FusedBatchNormV2: (c) => fusedBatchNorm(c),
  FusedBatchNormV3: (c) => fusedBatchNorm(c),
  MaxPool: tfPool('max'),
  AvgPool: tfPool('avg'),
  Mean: tfReduce('mean'),
  Sum: tfReduce('sum'),
  Max: tfReduce('max'),
  Min: tfReduce('min'),
  Pad: padOp,
  PadV2: padOp,
  MirrorPad: padOp,
  ConcatV2: (c) => {
    const axis = c.constant(c.ins.length - 1).data[0];
    const parts = c.ins.slice(0, -1).map((k, i) => ('value' in k ? k.value : constantValue(c, i)));
    return concat(c.w, parts, axis, c.hint);
  },
  Reshape: toProbedShape,
  Squeeze: toProbedShape,
  ExpandDims: toProbedShape,
  Transpose: (c) => transposeModel(c.w, c.value(0), Array.from(c.constant(1).data), c.hint),
  StridedSlice: stridedSlice,
  Slice: sliceOp,
  Identity: (c) => c.value(0),
  StopGradient: (c) => c.value(0),
  Snapshot: (c) => c.value(0),
  Cast: (c) => {
    const to = c.attr.DstT?.type;
    if (to !== undefined && to !== 'DT_FLOAT') throw new ConversionError(c.node.name, `Cast to ${to} of the image`);
    return c.value(0);
  },
  ResizeBilinear: resizeOp('bilinear'),
  ResizeNearestNeighbor: resizeOp('nearest'),
};

function fusedBatchNorm(c: NodeContext): Value {
  nhwc(c);
  if (bool(c.attr.is_training)) throw new ConversionError(c.node.name, 'batch normalization in training mode');
  const [scale, offset, mean, variance] = [1, 2, 3, 4].map((i) => c.constant(i).data);
  return batchNorm(c.w, c.value(0), { gamma: scale, beta: offset, mean, variance, epsilon: float(c.attr.epsilon, 1e-3) }, c.hint);
}

/** A constant operand of a concat, written as an initializer in the model's layout. */
function constantValue(c: NodeContext, i: number): Value {
  const k = c.constant(i);
  return { name: c.w.f32(k.data, k.shape, `${c.hint}/const_${i}`), shape: k.shape, channelsFirst: false };
}

export interface GraphConversionInput {
  nodes: GraphNodeDef[];
  inputName: string;
  inputShape: number[];
  /** Graph outputs as node references, with the names the user sees for them. */
  outputs: { ref: string; name: string }[];
  probe: GraphProbe;
  /** Index into `outputs` of the output asked for (the only one converted). */
  chosen: number;
  /** Parameters of a node: elements of the weights it reads. */
  params: (node: GraphNodeDef) => number;
}

/**
 * Writes a TF GraphDef (as the TF.js converter saves it, fused ops included) as an ONNX graph. Every
 * node the outputs depend on is written, in dependency order; image-independent ones were folded by the
 * probe. Names are the graph's own; shapes are checked against tfjs's at every node.
 */
export function convertGraph(input: GraphConversionInput): ConvertedModel {
  const nodes = new Map(input.nodes.map((n) => [n.name, n]));
  const { shapes, constants } = input.probe;
  const w = new OnnxWriter();
  for (const n of input.nodes) w.reserve(n.name);
  const inputName = input.inputName;
  const dims = [1, ...input.inputShape];
  const known = new Map<string, Known>([[inputName, { value: { name: inputName, shape: dims, channelsFirst: false } }]]);
  // Only the chosen output and what it depends on: another head's ops do not stop the conversion.
  const chosen = input.outputs[input.chosen];
  const logits = { ...chosen, ...findGraphLogits(nodes, chosen.ref) };
  const logitNode = parseRef(logits.ref)[0];
  const order = dependencyOrder(nodes, [logitNode]);
  const layers: SourceLayer[] = [];

  const resolve = (ref: string): Known => {
    const key = ref.includes(':') && !ref.endsWith(':0') ? ref : parseRef(ref)[0];
    const k = known.get(key) ?? (constants.has(key) ? { constant: constants.get(key)! } : undefined);
    if (!k) throw new ConversionError(ref, 'an input that could not be converted');
    return k;
  };

  for (const name of order) {
    const node = nodes.get(name)!;
    if (known.has(name) || constants.has(name) || node.op === 'Placeholder' || node.op === 'NoOp') continue;
    const rule = RULES[node.op];
    if (!rule) throw new ConversionError(name, `op ${node.op} is not supported for conversion`);
    const ins = dataInputs(node).map(resolve);
    const shape = shapes.get(name);
    if (!shape) throw new ConversionError(name, 'no shape from the probe');
    const ctx: NodeContext = {
      w, node, attr: node.attr ?? {}, ins, shape, hint: name,
      value(i) {
        const k = ins[i];
        if (!k || !('value' in k)) throw new ConversionError(name, `input ${i} is expected to depend on the image`);
        return k.value;
      },
      constant(i) {
        const k = ins[i];
        if (!k || !('constant' in k)) throw new ConversionError(name, `input ${i} depends on the image where a constant is expected`);
        return k.constant;
      },
    };
    const y = rule(ctx);
    if (y.shape.length !== shape.length || y.shape.some((d, i) => d !== shape[i])) {
      throw new ConversionError(name, `converted shape ${JSON.stringify(y.shape)} differs from the model's ${JSON.stringify(shape)}`);
    }
    known.set(name, { value: y });
    if (!NON_COMPUTE.has(node.op)) {
      layers.push({ name, type: node.op, outputShape: shape.slice(1), params: input.params(node), tensor: y.name });
    }
  }

  const k = resolve(logits.ref);
  if (!('value' in k)) throw new ConversionError(logits.name, 'does not depend on the image');
  const output = { name: logits.name, logits: w.last(k.value), activation: logits.activation };
  const candidates: SpatialLayer[] = layers.filter((l) => l.name !== logitNode && isSpatialCandidate([1, ...l.outputShape]))
    .map((l) => ({ name: l.name, type: l.type, height: l.outputShape[0]!, width: l.outputShape[1]!, channels: l.outputShape[2]! }));
  const values = [...known.values()].flatMap((v) => ('value' in v ? [v.value] : []));
  return assembleConverted(w, { source: 'TF.js Graph model', input: { name: inputName, dims }, output, values, layers, candidates });
}

