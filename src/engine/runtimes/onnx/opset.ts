import type { onnx } from 'onnx-proto';
import { fileError } from '../../errors';
import { A, attrFloat, attrFloats, attrInts, attrString, findAttr, floatTensor, int64Tensor, num } from './proto';

/** The oldest opset the gradient graphs are written for (Pad, Slice, Clip take inputs; ScatterElements exists). */
export const MIN_OPSET = 11;

/**
 * For each op, the oldest version whose meaning is unchanged up to opset 11 (once the obsolete
 * attributes stripped below are gone). A model made only of these ops can be relabelled opset 11.
 */
const SAME_UNTIL_11: Record<string, number> = {
  Conv: 1, ConvTranspose: 1, MaxPool: 1, AveragePool: 1, GlobalAveragePool: 1, GlobalMaxPool: 1, LRN: 1,
  BatchNormalization: 1, Relu: 1, LeakyRelu: 1, PRelu: 7, Sigmoid: 1, HardSigmoid: 1, Tanh: 1, Exp: 1, Neg: 1, Sqrt: 1,
  Softmax: 1, LogSoftmax: 1, Add: 1, Sub: 1, Mul: 1, Div: 1, Sum: 8, Max: 8, Min: 8, Gemm: 1, MatMul: 1, Identity: 1,
  Dropout: 7, Flatten: 1, Reshape: 1, Squeeze: 1, Unsqueeze: 1, Transpose: 1, Concat: 1, Split: 2, Shape: 1, Gather: 1,
  Cast: 6, Constant: 1, ReduceMean: 1, ReduceSum: 1, Where: 9, Expand: 8, ConstantOfShape: 9, Equal: 7, Greater: 7,
  Less: 7, Not: 1, And: 7, Floor: 1, Ceil: 1, Clip: 1, Pad: 1, Slice: 1,
};

/** Upsample's modes (opset 7–10) and their Resize (opset 11) equivalents. */
const UPSAMPLE_MODES = new Set(['nearest', 'linear']);

/**
 * Upsample (opset 7–10; gone from opset 11, where ONNX Runtime refuses it) as the Resize-11 that computes
 * the same: output cell i of an axis reads input coordinate i / scale ("asymmetric"), nearest taking the
 * cell below it ("floor", as ONNX Runtime's Upsample does), linear interpolating between the two around it.
 * Opset 7–8 give the scales as an attribute, 9–10 as the second input; Resize-11 takes them third, after an
 * empty region of interest.
 */
function upsampleAsResize(node: onnx.INodeProto, from: number, constant: (t: (name: string) => onnx.ITensorProto) => string,
  refuse: (op: string, why: string) => never): void {
  // Upsample-1 (opset 1–6) took height_scale / width_scale and a "bilinear" mode.
  if (from < 7) refuse('Upsample', 'changed meaning before opset 7');
  const mode = attrString(node, 'mode', 'nearest');
  if (!UPSAMPLE_MODES.has(mode)) refuse('Upsample', `has mode "${mode}", which Saliency Lens reads only as nearest or linear`);
  let scales: string;
  if (from < 9) {
    const values = attrFloats(node, 'scales');
    if (!values) refuse('Upsample', 'gives no scales');
    scales = constant((n) => floatTensor(n, [values!.length], values!));
  } else {
    scales = node.input?.[1] ?? '';
    if (!scales) refuse('Upsample', 'gives no scales input');
  }
  const roi = constant((n) => floatTensor(n, [0], []));
  node.opType = 'Resize';
  node.input = [node.input![0], roi, scales];
  node.attribute = [A.s('mode', mode), A.s('coordinate_transformation_mode', 'asymmetric'), A.s('nearest_mode', 'floor')];
}

/** Attributes older schemas had and opset 11 refuses; their default meaning is what opset 11 does. */
const OBSOLETE_ATTRS = ['consumed_inputs', 'is_test'];

function defaultVersion(model: onnx.ModelProto): onnx.IOperatorSetIdProto | undefined {
  return (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
}

export function opsetOf(model: onnx.ModelProto, file: string): number {
  const entry = defaultVersion(model);
  if (!entry) throw fileError(file, 'does not say which ONNX opset it uses (no opset_import for the default domain)');
  return num(entry.version);
}

/**
 * Models older than opset 11 are relabelled opset 11 when every op in them reads the same there:
 * Clip, Pad, Slice and Reshape move their attribute parameters to constant inputs, obsolete attributes
 * go, Upsample becomes Resize. Anything else (legacy broadcasting with an axis, …) is refused with a clear message.
 */
export function upgradeToMinOpset(model: onnx.ModelProto, file: string): void {
  const entry = defaultVersion(model)!;
  const from = num(entry.version);
  if (from >= MIN_OPSET) return;
  const graph = model.graph!;
  let counter = 0;
  const taken = new Set<string>((graph.node ?? []).flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])]));
  (graph.initializer ?? []).forEach((t) => taken.add(t.name ?? ''));
  const constant = (t: (name: string) => onnx.ITensorProto) => {
    let name: string;
    do name = `saliency_lens/upgrade_${counter++}`; while (taken.has(name));
    taken.add(name);
    graph.initializer = [...(graph.initializer ?? []), t(name)];
    return name;
  };
  const refuse = (op: string, why: string): never => {
    throw fileError(file, `uses opset ${from}, and operator "${op}" ${why}; re-export the model with opset ${MIN_OPSET} or newer`);
  };
  for (const node of graph.node ?? []) {
    const op = node.opType ?? '';
    if (node.domain && node.domain !== 'ai.onnx') continue;
    if (op === 'Upsample') {
      upsampleAsResize(node, from, constant, refuse);
      continue;
    }
    const since = SAME_UNTIL_11[op];
    if (since === undefined || from < since) refuse(op, `changed meaning before opset ${MIN_OPSET}`);
    const attrs = (node.attribute ?? []).filter((a) => !OBSOLETE_ATTRS.includes(a.name ?? ''));
    const drop = (names: string[]) => attrs.filter((a) => !names.includes(a.name ?? ''));
    let kept = attrs;
    if (['Add', 'Sub', 'Mul', 'Div', 'Gemm'].includes(op) && findAttr(node, 'broadcast')) {
      if (findAttr(node, 'axis')) refuse(op, 'broadcasts along an axis (legacy broadcasting)');
      kept = drop(['broadcast']);
    } else if (op === 'BatchNormalization') {
      if (findAttr(node, 'spatial') && num(findAttr(node, 'spatial')!.i) === 0) refuse(op, 'normalizes per position (spatial = 0)');
      kept = drop(['spatial']);
    } else if (op === 'Concat' && !findAttr(node, 'axis')) {
      kept = [...attrs, A.i('axis', 1)];
    } else if (op === 'Clip') {
      const lo = findAttr(node, 'min') ? constant((n) => floatTensor(n, [], [attrFloat(node, 'min', 0)])) : '';
      const hi = findAttr(node, 'max') ? constant((n) => floatTensor(n, [], [attrFloat(node, 'max', 0)])) : '';
      node.input = [node.input![0], lo, hi];
      kept = drop(['min', 'max']);
    } else if (op === 'Pad') {
      const pads = attrInts(node, 'pads') ?? attrInts(node, 'paddings') ?? [];
      const value = constant((n) => floatTensor(n, [], [attrFloat(node, 'value', 0)]));
      node.input = [node.input![0], constant((n) => int64Tensor(n, [pads.length], pads)), value];
      kept = [...drop(['pads', 'paddings', 'value', 'mode']), A.s('mode', attrString(node, 'mode', 'constant'))];
    } else if (op === 'Slice') {
      const starts = attrInts(node, 'starts') ?? [];
      const ends = attrInts(node, 'ends') ?? [];
      const axes = attrInts(node, 'axes') ?? starts.map((_, i) => i);
      const ints = (v: number[]) => constant((n) => int64Tensor(n, [v.length], v));
      node.input = [node.input![0], ints(starts), ints(ends), ints(axes)];
      kept = drop(['starts', 'ends', 'axes']);
    } else if (op === 'Reshape' && findAttr(node, 'shape')) {
      const shape = attrInts(node, 'shape')!;
      node.input = [node.input![0], constant((n) => int64Tensor(n, [shape.length], shape))];
      kept = drop(['shape']);
    }
    node.attribute = kept;
  }
  entry.version = MIN_OPSET;
  // IR 3 wanted every initializer listed as a graph input; the constants added here are not.
  if (num(model.irVersion) < 4) model.irVersion = 4;
}
