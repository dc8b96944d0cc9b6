import * as tf from '@tensorflow/tfjs';
import { flattenLayersModel, LayerGraph, LayerNode } from '../runtimes/tfjs/layerGraph';
import { layerRows, outputLayerNames, planOutput, spatialCandidates } from '../runtimes/tfjs/layerOutput';
import { slotsLeadingTo } from '../runtimes/tfjs/steps';
import { Constant, ConversionError, OnnxWriter, Value } from './onnxWriter';
import {
  activation, batchNorm, bilinearMatrix, clip, concat, conv, convTranspose, dense, leakyRelu, nearestMatrix, pad, Padding, pool, reduce,
  resize, scalar, slice, softmax, transposedLength, transposeModel,
} from './ops';
import type { ConvertedModel } from './types';
import { assembleConverted } from './assemble';
import { A } from '../runtimes/onnx/proto';

type Config = Record<string, unknown>;

/** Everything a layer's rule sees: its inputs, config, weights by short name, and the writer. */
interface LayerContext {
  w: OnnxWriter;
  node: LayerNode;
  type: string;
  config: Config;
  xs: Value[];
  weight(name: string): Constant;
  optionalWeight(name: string): Constant | undefined;
  /** The layer's own activation, unless it is the output layer's softmax/sigmoid we attribute before. */
  activate(y: Value): Value;
  hint: string;
}

type LayerRule = (c: LayerContext) => Value;

const list = (v: unknown, n: number, fallback: number): number[] => {
  if (v == null) return new Array(n).fill(fallback);
  if (Array.isArray(v)) return v.length === n ? v.map(Number) : new Array(n).fill(Number(v[0]));
  return new Array(n).fill(Number(v));
};

function channelsLast(c: LayerContext): void {
  const format = c.config.dataFormat ?? 'channelsLast';
  if (format !== 'channelsLast') throw new ConversionError(c.node.name, `data format ${String(format)} (only channels-last converts)`);
}

function padding(c: LayerContext): Padding {
  const p = c.config.padding;
  if (p === 'same' || p === 'valid') return p;
  throw new ConversionError(c.node.name, `padding "${String(p)}"`);
}

function convolution(c: LayerContext, depthwise: boolean): Value {
  channelsLast(c);
  const x = c.xs[0];
  const spatial = x.shape.length - 2;
  const kernel = c.weight(depthwise ? 'depthwise_kernel' : 'kernel');
  let pads = c.config.padding === 'causal' ? undefined : padding(c);
  const dilations = list(c.config.dilationRate, spatial, 1);
  if (!pads) {
    // Conv1D 'causal': all padding at the start.
    pads = [[(kernel.shape[0] - 1) * dilations[0], 0]];
  }
  const y = conv(c.w, x, {
    kernel, bias: c.optionalWeight('bias'), strides: list(c.config.strides, spatial, 1), dilations, padding: pads, depthwise,
  }, c.hint);
  return c.activate(y);
}

function separable(c: LayerContext): Value {
  channelsLast(c);
  const x = c.xs[0];
  const spatial = x.shape.length - 2;
  const depth = conv(c.w, x, {
    kernel: c.weight('depthwise_kernel'), strides: list(c.config.strides, spatial, 1), dilations: list(c.config.dilationRate, spatial, 1),
    padding: padding(c), depthwise: true,
  }, `${c.hint}/depthwise`);
  const pointwise = c.weight('pointwise_kernel');
  const y = conv(c.w, depth, { kernel: pointwise, bias: c.optionalWeight('bias'), strides: list(1, spatial, 1), dilations: list(1, spatial, 1), padding: 'valid' }, c.hint);
  return c.activate(y);
}

function pooling(kind: 'max' | 'avg', spatial: number): LayerRule {
  return (c) => {
    channelsLast(c);
    const size = list(c.config.poolSize, spatial, 2);
    const strides = c.config.strides == null ? size : list(c.config.strides, spatial, 1);
    return pool(c.w, c.xs[0], { kind, size, strides, padding: padding(c) }, c.hint);
  };
}

function globalPooling(kind: 'mean' | 'max'): LayerRule {
  return (c) => {
    channelsLast(c);
    const rank = c.xs[0].shape.length;
    const axes = Array.from({ length: rank - 2 }, (_, i) => i + 1);
    return reduce(c.w, c.xs[0], kind, axes, Boolean(c.config.keepDims), c.hint);
  };
}

function merge(op: 'Add' | 'Sub' | 'Mul' | 'Max' | 'Min' | 'Mean'): LayerRule {
  return (c) => {
    if (c.xs.length < 2) throw new ConversionError(c.node.name, `merges ${c.xs.length} input`);
    if (op === 'Mean' || op === 'Max' || op === 'Min') {
      // Variadic ops with broadcasting; Mean as Sum × 1/n (Sum and Mul have gradient rules everywhere).
      const combined = c.w.elementwise(op === 'Mean' ? 'Sum' : op, c.xs, op === 'Mean' ? `${c.hint}/sum` : c.hint);
      return op === 'Mean' ? c.w.elementwise('Mul', [combined, scalar(1 / c.xs.length)], c.hint) : combined;
    }
    let y = c.xs[0];
    c.xs.slice(1).forEach((x, i) => (y = c.w.elementwise(op, [y, x], i === c.xs.length - 2 ? c.hint : `${c.hint}/${i}`)));
    return y;
  };
}

/** Keras's static Reshape target (with one -1) for an input of `count` elements. */
function reshapeTarget(target: number[], count: number, what: string): number[] {
  const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const free = target.filter((d) => d === -1).length;
  if (free > 1 || (free === 0 && known !== count) || (free === 1 && count % known !== 0)) {
    throw new ConversionError(what, `cannot reshape ${count} values to ${JSON.stringify(target)}`);
  }
  return target.map((d) => (d === -1 ? count / known : d));
}

const identity: LayerRule = (c) => c.xs[0];

/** Per Keras class name: how the layer is written in ONNX. */
const RULES: Record<string, LayerRule> = {
  Conv1D: (c) => convolution(c, false),
  Conv2D: (c) => convolution(c, false),
  DepthwiseConv2D: (c) => convolution(c, true),
  SeparableConv2D: separable,
  Conv2DTranspose: (c) => {
    channelsLast(c);
    if (list(c.config.dilationRate, 2, 1).some((d) => d !== 1)) throw new ConversionError(c.node.name, 'Conv2DTranspose with dilation');
    const pads = padding(c);
    if (Array.isArray(pads)) throw new ConversionError(c.node.name, 'explicit padding');
    const kernel = c.weight('kernel');
    const strides = list(c.config.strides, 2, 1);
    const outSizes = c.xs[0].shape.slice(1, 3).map((n, i) => transposedLength(n, kernel.shape[i], strides[i], pads));
    const y = convTranspose(c.w, c.xs[0], { kernel, bias: c.optionalWeight('bias'), strides, dilations: [1, 1], padding: pads, outSizes }, c.hint);
    return c.activate(y);
  },
  Dense: (c) => c.activate(dense(c.w, c.xs[0], c.weight('kernel'), c.optionalWeight('bias'), c.hint)),
  BatchNormalization: (c) => {
    const rank = c.xs[0].shape.length;
    const axis = Number(Array.isArray(c.config.axis) ? c.config.axis[0] : c.config.axis ?? -1);
    if (axis !== -1 && axis !== rank - 1) throw new ConversionError(c.node.name, `normalizes axis ${axis} (only the channel axis converts)`);
    return batchNorm(c.w, c.xs[0], {
      gamma: c.optionalWeight('gamma')?.data, beta: c.optionalWeight('beta')?.data,
      mean: c.weight('moving_mean').data, variance: c.weight('moving_variance').data, epsilon: Number(c.config.epsilon ?? 1e-3),
    }, c.hint);
  },
  LayerNormalization: (c) => {
    const x = c.xs[0];
    const rank = x.shape.length;
    const axes = (Array.isArray(c.config.axis) ? c.config.axis : [c.config.axis ?? -1]).map((a) => Number(a) < 0 ? Number(a) + rank : Number(a));
    const w = c.w;
    const mean = reduce(w, x, 'mean', axes, true, `${c.hint}/mean`);
    const centred = w.elementwise('Sub', [x, mean], `${c.hint}/centred`);
    const variance = reduce(w, w.elementwise('Mul', [centred, centred], `${c.hint}/square`), 'mean', axes, true, `${c.hint}/variance`);
    const std = w.unary('Sqrt', w.elementwise('Add', [variance, scalar(Number(c.config.epsilon ?? 1e-3))], `${c.hint}/plus_eps`), `${c.hint}/std`);
    let y = w.elementwise('Div', [centred, std], `${c.hint}/normalized`);
    // gamma/beta span the normalized axes: in the model's layout, shape [x.shape[a] or 1 per axis after the first normalized one].
    const paramShape = x.shape.map((d, i) => (axes.includes(i) ? d : 1)).slice(Math.min(...axes));
    const gamma = c.optionalWeight('gamma');
    const beta = c.optionalWeight('beta');
    if (gamma) y = w.elementwise('Mul', [y, { data: gamma.data, shape: paramShape }], `${c.hint}/gamma`);
    if (beta) y = w.elementwise('Add', [y, { data: beta.data, shape: paramShape }], c.hint);
    return y;
  },
  Activation: (c) => c.activate(c.xs[0]),
  ReLU: (c) => {
    const max = c.config.maxValue as number | null | undefined;
    return max == null ? activation(c.w, c.xs[0], 'relu', c.hint) : clip(c.w, c.xs[0], 0, Number(max), c.hint);
  },
  LeakyReLU: (c) => leakyRelu(c.w, c.xs[0], Number(c.config.alpha ?? 0.3), c.hint),
  PReLU: (c) => {
    const alpha = c.weight('alpha');
    const x = c.xs[0];
    const slope = c.w.constantFor(alpha, x.shape.length, x.channelsFirst, `${c.hint}/alpha`);
    return { name: c.w.op('PRelu', [x.name, slope], [], c.hint), shape: x.shape, channelsFirst: x.channelsFirst };
  },
  ELU: (c) => c.w.unary('Elu', c.xs[0], c.hint, [A.f('alpha', Number(c.config.alpha ?? 1))]),
  Softmax: (c) => {
    const axis = Number(Array.isArray(c.config.axis) ? c.config.axis[0] : c.config.axis ?? -1);
    return softmax(c.w, c.xs[0], axis, c.hint, false);
  },
  MaxPooling1D: pooling('max', 1),
  AveragePooling1D: pooling('avg', 1),
  MaxPooling2D: pooling('max', 2),
  AveragePooling2D: pooling('avg', 2),
  GlobalAveragePooling1D: globalPooling('mean'),
  GlobalAveragePooling2D: globalPooling('mean'),
  GlobalMaxPooling1D: globalPooling('max'),
  GlobalMaxPooling2D: globalPooling('max'),
  ZeroPadding2D: (c) => {
    channelsLast(c);
    const p = c.config.padding as number[][];
    return pad(c.w, c.xs[0], [[0, 0], p[0], p[1], [0, 0]], c.hint);
  },
  Cropping2D: (c) => {
    channelsLast(c);
    const [[top, bottom], [left, right]] = c.config.cropping as number[][];
    const [, h, wd, ch] = c.xs[0].shape;
    return slice(c.w, c.xs[0], [0, top, left, 0], [1, h - bottom, wd - right, ch], [1, 1, 1, 1], c.hint);
  },
  UpSampling2D: (c) => {
    channelsLast(c);
    const [sh, sw] = list(c.config.size, 2, 2);
    const [, h, wd] = c.xs[0].shape;
    // tfjs: resizeNearestNeighbor / resizeBilinear with their defaults (no corner alignment, no half-pixel centres).
    const matrix = c.config.interpolation === 'bilinear' ? bilinearMatrix : nearestMatrix;
    return resize(c.w, c.xs[0], h * sh, wd * sw, (n, m) => matrix(n, m), c.hint);
  },
  Resizing: (c) => {
    const [, h, wd] = c.xs[0].shape;
    const height = Number(c.config.height);
    const width = Number(c.config.width);
    // tfjs 4.22 resizes with alignCorners = !cropToAspectRatio; cropping to the aspect ratio is not converted.
    if (c.config.cropToAspectRatio) throw new ConversionError(c.node.name, 'Resizing with crop_to_aspect_ratio');
    const matrix = c.config.interpolation === 'nearest' ? nearestMatrix : bilinearMatrix;
    return resize(c.w, c.xs[0], height, width, (n, m) => matrix(n, m, true), c.hint);
  },
  Rescaling: (c) => {
    // Scale and offset: scalars, or one value per channel (Keras 3 allows lists).
    const perChannel = (v: unknown, fallback: number): Constant => {
      const values = Array.isArray(v) ? v.map(Number) : [Number(v ?? fallback)];
      if (values.some((n) => !Number.isFinite(n))) throw new ConversionError(c.node.name, `Rescaling by ${JSON.stringify(v)}`);
      return { data: Float32Array.from(values), shape: values.length === 1 ? [] : [values.length] };
    };
    const scale = perChannel(c.config.scale, 1);
    const offset = perChannel(c.config.offset, 0);
    const scaled = c.w.elementwise('Mul', [c.xs[0], scale], `${c.hint}/scale`);
    return offset.data.some((v) => v !== 0) ? c.w.elementwise('Add', [scaled, offset], c.hint) : scaled;
  },
  Add: merge('Add'),
  Subtract: merge('Sub'),
  Multiply: merge('Mul'),
  Average: merge('Mean'),
  Maximum: merge('Max'),
  Minimum: merge('Min'),
  Concatenate: (c) => concat(c.w, c.xs, Number(c.config.axis ?? -1), c.hint),
  Flatten: (c) => {
    const count = c.xs[0].shape.reduce((a, b) => a * b, 1);
    return c.w.reshape(c.xs[0], [1, count], c.hint);
  },
  Reshape: (c) => {
    const count = c.xs[0].shape.reduce((a, b) => a * b, 1);
    return c.w.reshape(c.xs[0], [1, ...reshapeTarget((c.config.targetShape as number[]).map(Number), count, c.node.name)], c.hint);
  },
  Permute: (c) => transposeModel(c.w, c.xs[0], [0, ...(c.config.dims as number[]).map(Number)], c.hint),
  Dropout: identity,
  SpatialDropout1D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
  InputLayer: identity,
};

/** The layer's weights by their short names (kernel, bias, gamma, moving_mean…). */
function weightsOf(layer: tf.layers.Layer): Map<string, Constant> {
  const byName = new Map<string, Constant>();
  for (const v of layer.weights) {
    const full = (v as unknown as { originalName?: string }).originalName ?? v.name;
    const short = full.split('/').pop()!.replace(/:\d+$/, '');
    byName.set(short, { data: v.read().dataSync() as Float32Array, shape: v.shape.map(Number) });
  }
  return byName;
}

function activationName(config: Config): string {
  const a = config.activation;
  if (a == null) return 'linear';
  if (typeof a === 'string') return a;
  return String((a as { className?: string; class_name?: string }).className ?? (a as { class_name?: string }).class_name ?? a);
}

/**
 * Writes a TF.js Layers model (nested models flattened) as an ONNX graph for ONNX Runtime. Every layer
 * keeps its name; its output is checked against the shape tfjs declares, so a rule that misreads a
 * config fails here (and the model runs on tfjs) instead of giving a wrong map.
 */
export function convertLayersModel(model: tf.LayersModel, inputShape: number[], chosen = 0): ConvertedModel {
  if (model.inputs.length !== 1) throw new ConversionError('model', `${model.inputs.length} inputs`);
  const graph: LayerGraph = flattenLayersModel(model);
  const w = new OnnxWriter();
  const inputName = w.fresh(model.inputLayers?.[0]?.name ?? 'input');
  const dims = [1, ...inputShape];
  const slots: (Value | undefined)[] = new Array(graph.slotCount);
  slots[graph.inputSlots[0]] = { name: inputName, shape: dims, channelsFirst: false };
  const plan = planOutput(graph, graph.outputSlots[chosen]);
  const needed = slotsLeadingTo(graph.nodes, [plan.slot]);
  /** The output layer's value before its own softmax/sigmoid (the logits), when it has one. */
  let preActivation: Value | undefined;

  for (const node of graph.nodes) {
    if (!needed.has(node.outputs[0])) continue;
    const type = node.layer.getClassName();
    const rule = RULES[type];
    if (!rule) throw new ConversionError(node.name, `layer class ${type} is not supported for conversion`);
    if (node.outputs.length !== 1) throw new ConversionError(node.name, `${node.outputs.length} outputs`);
    const xs = node.inputs.map((s) => slots[s]!);
    const config = node.layer.getConfig() as Config;
    const weights = weightsOf(node.layer);
    const ctx: LayerContext = {
      w, node, type, config, xs, hint: node.name,
      weight(name) {
        const v = weights.get(name);
        if (!v) throw new ConversionError(node.name, `has no weight "${name}"`);
        return v;
      },
      optionalWeight: (name) => weights.get(name),
      activate(y) {
        const act = activationName(config);
        if (act === 'linear') return y;
        if (node === plan.linearized) preActivation = y;
        return activation(w, y, act, `${node.name}/${act}`);
      },
    };
    const y = rule(ctx);
    const declared = node.outputShape.slice(1);
    if (declared.some((d, i) => d != null && d !== y.shape[i + 1]) || declared.length !== y.shape.length - 1) {
      throw new ConversionError(node.name, `converted output shape ${JSON.stringify(y.shape.slice(1))} differs from the model's ${JSON.stringify(declared)}`);
    }
    slots[node.outputs[0]] = y;
  }

  const logits = w.last((plan.linearized ? preActivation : undefined) ?? slots[plan.slot]!);
  const output = { name: outputLayerNames(model)[chosen], logits, activation: plan.activation };
  const rows = layerRows(graph);
  const layers = graph.nodes.map((node, i) => ({ ...rows[i], tensor: slots[node.outputs[0]]?.name ?? '' }));
  return assembleConverted(w, {
    source: 'TF.js Layers model', input: { name: inputName, dims }, output,
    values: slots.filter((v): v is Value => v !== undefined), layers, candidates: spatialCandidates(graph, plan.slot),
  });
}

