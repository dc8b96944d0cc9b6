import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { fileError, firstLine, UserError } from '../../errors';
import type { OutputActivation } from '../types';
import { OnnxGraph, TensorFacts } from './graph';
import { FLOAT16_NOTE, widenFloat16 } from './float16';
import { opsetOf, upgradeToMinOpset } from './opset';
import { Emitter } from './emitter';
import { A, attrInt, DataType, declaredDims, floatTensor, num, tensorBytes, TYPE_NAMES, valueInfo } from './proto';
import { readOnnxFile } from './readOnnx';
import { checkStoredBytes, copiesOf, discardUnheld, externalDataConfig, fileSliceOf, sessionInitializers } from './weightFile';

/**
 * How the engine's image tensor [1,H,W,C] reaches the model: transposed to NCHW (PyTorch exports),
 * as is (NHWC), or flat/3-D inputs fed unchanged. 'asis' feeds any input in the model's own layout
 * (used by tests of single ops).
 */
export type InputLayout = 'NCHW' | 'NHWC' | 'asis';

export interface OnnxLoadOptions {
  /** Which output to attribute (name or index); default the first. */
  output?: string | number;
  /** Size for free input dimensions: [height, width] or [height, width, channels]. */
  inputShape?: number[];
  /** Overrides the layout decided from the input's shape. */
  layout?: InputLayout;
  /** ONNX Runtime intra-op threads. */
  threads?: number;
}

export interface OnnxModel {
  file: string;
  externalFiles: string[];
  graph: OnnxGraph;
  facts: TensorFacts;
  input: {
    /** The model's input tensor. */
    name: string;
    /** Its shape in the model's layout, batch 1. */
    dims: number[];
    layout: InputLayout;
  };
  output: {
    /** The graph output chosen. */
    name: string;
    /** The tensor attributed: the output, or the input of a final Softmax/Sigmoid. */
    logits: string;
    activation: OutputActivation;
  };
  /** Layout of 4-D tensors (those not listed are read as NCHW, ONNX's own layout). */
  layouts: Map<string, 'NCHW' | 'NHWC'>;
  /** What the user should know about how the model is run (e.g. float16 computed in float32): shown as warnings. */
  notes: string[];
}

const isChannels = (d: number | string) => d === 1 || d === 3 || d === 4;

/**
 * NCHW or NHWC from a 4-D input shape. With both axes 1 and 3 fixed: the one that is 1, 3 or 4 when
 * only one is, else the smaller ([1,32,32,6] is NHWC), NCHW on a tie (PyTorch's). With one fixed: a
 * channel count there, or else the fixed side tells which end holds the channels.
 */
export function chooseLayout(dims: (number | string)[]): 'NCHW' | 'NHWC' {
  const [, a, , c] = dims;
  if (typeof a === 'number' && typeof c === 'number') {
    if (isChannels(a) !== isChannels(c)) return isChannels(a) ? 'NCHW' : 'NHWC';
    return c < a ? 'NHWC' : 'NCHW';
  }
  if (typeof c === 'number' && isChannels(c)) return 'NHWC';
  if (typeof a === 'number' && !isChannels(a)) return 'NHWC';
  return 'NCHW';
}

function describeDims(dims: (number | string)[]): string {
  return `[${dims.map((d) => (typeof d === 'number' ? d : d || '?')).join(', ')}]`;
}

/** Largest input accepted: 64 Mi float32 values (256 MB), far above any image classifier's. */
const MAX_INPUT_VALUES = 2 ** 26;

/** A name from the file, quoted for a one-line message: newlines and control characters escaped, long names cut. */
function quoted(name: string | null | undefined): string {
  const s = String(name ?? '');
  return JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}…` : s);
}

function chooseInput(graph: onnx.IGraphProto, file: string, opts: OnnxLoadOptions): OnnxModel['input'] {
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) {
    const names = inputs.slice(0, 5).map((i) => quoted(i.name)).join(', ') + (inputs.length > 5 ? ', …' : '');
    throw fileError(file, `has ${inputs.length} inputs${inputs.length ? ` (${names})` : ''}; Saliency Lens explains models with one image input`);
  }
  const info = inputs[0];
  const name = info.name ?? '';
  const shown = quoted(name);
  const elemType = info.type?.tensorType?.elemType;
  if (elemType !== DataType.FLOAT) {
    throw fileError(file, `input ${shown} is ${TYPE_NAMES[elemType ?? 0] ?? 'not a tensor'}; Saliency Lens feeds float32 images`);
  }
  const declared = declaredDims(info);
  if (!declared || declared.length < 2 || declared.length > 4) {
    throw fileError(file, `input ${shown} has shape ${declared ? describeDims(declared) : 'unknown'}; expected [batch, channels, height, width], [batch, height, width, channels] or a flat [batch, values]`);
  }
  const batch = declared[0];
  if (typeof batch === 'number' && batch !== 1) {
    throw fileError(file, `input ${shown} has a fixed batch of ${batch}; export the model with batch 1 or a free batch dimension`);
  }
  const layout: InputLayout = opts.layout ?? (declared.length === 4 ? chooseLayout(declared) : 'asis');
  // Where each of the given [height, width, channels] goes in the model's dims.
  const slots = declared.length === 4 ? (layout === 'NHWC' ? [1, 2, 3] : [2, 3, 1]) : declared.length === 3 ? [1, 2] : [];
  const dims = declared.map((d, i) => {
    if (i === 0) return 1;
    if (typeof d === 'number') return d;
    const slot = slots.indexOf(i);
    const given = declared.length === 2 && opts.inputShape ? opts.inputShape.reduce((a, b) => a * b, 1) : opts.inputShape?.[slot];
    return slot >= 0 || declared.length === 2 ? given ?? -1 : -1;
  });
  if (dims.some((d) => d < 0)) {
    throw fileError(file, `input ${shown} has a free size ${describeDims(declared)}, so the image size to use is unknown; ` +
      'give it in saliency-lens.json beside the model ("inputSize": [224, 224]) or with --input-size 224x224 on the command line');
  }
  // Refused before the probe allocates it: a [1,3,30000,30000] input is 10.8 GB of float32.
  const values = dims.reduce((a, b) => a * b, 1);
  if (values > MAX_INPUT_VALUES) {
    throw fileError(file, `input ${shown} of shape ${describeDims(dims)} holds ${values.toLocaleString('en-US')} values, ` +
      `more than the ${MAX_INPUT_VALUES.toLocaleString('en-US')} Saliency Lens can explain`);
  }
  return { name, dims, layout };
}

const PASS_THROUGH = new Set(['Identity', 'Dropout', 'Flatten', 'Reshape', 'Squeeze', 'Unsqueeze']);
const SQUASHERS: Record<string, OutputActivation> = { Softmax: 'softmax', LogSoftmax: 'softmax', Sigmoid: 'sigmoid' };

function chooseOutput(graph: OnnxGraph, file: string, choice: string | number | undefined): OnnxModel['output'] & { squash?: string } {
  const names = (graph.model.graph!.output ?? []).map((o) => o.name ?? '');
  const index = choice === undefined ? 0 : typeof choice === 'number' ? choice : names.indexOf(choice);
  if (index < 0 || index >= names.length) throw fileError(file, `has no output "${choice}"; its outputs are: ${names.join(', ')}`);
  const name = names[index];
  let t = name;
  // The graph refuses tensors written twice; the visited set still guarantees this walk ends.
  const visited = new Set<string>();
  for (let node = graph.producer.get(t); node && !visited.has(t); node = graph.producer.get(t)) {
    visited.add(t);
    if (SQUASHERS[node.op]) return { name, logits: node.inputs[0], activation: SQUASHERS[node.op], squash: node.name };
    if (!PASS_THROUGH.has(node.op)) break;
    t = node.inputs[0];
  }
  return { name, logits: name, activation: 'none' };
}

/** A softmax over part of the output (say per position) is not a classifier head: refuse it, as for TF.js models. */
function checkSoftmaxCovers(graph: OnnxGraph, shapes: Map<string, number[]>, out: ReturnType<typeof chooseOutput>, file: string) {
  if (!out.squash || out.activation !== 'softmax') return;
  const node = graph.byName.get(out.squash)!;
  const shape = shapes.get(out.logits) ?? [];
  const axis = attrInt(node.proto, 'axis', graph.opset >= 13 ? -1 : 1);
  const a = axis < 0 ? axis + shape.length : axis;
  const spread = graph.opset >= 13 ? shape.filter((d, i) => i !== a && d !== 1) : shape.slice(0, a).filter((d) => d !== 1);
  if (spread.length > 0) {
    throw fileError(file, `the model's softmax runs over part of its output (shape ${JSON.stringify(shape)}); ` +
      'Saliency Lens explains classifiers whose output is one vector of classes');
  }
}

/** Bytes a float tensor holds: raw data, the slice of a file it refers to, or float_data values. */
function storedBytes(t: onnx.ITensorProto): number {
  if (t.rawData && t.rawData.length > 0) return t.rawData.length;
  return fileSliceOf(t)?.length ?? (t.floatData ?? []).length * 4;
}

/** Float initializers of at least this many bytes are zeros in the probe rather than loaded. */
const PROBE_ZEROS_BYTES = 2 ** 20;

/** Values worth keeping from the probe: small and fixed for every input of this size. */
const SMALL = 4096;

/**
 * The model as the probe runs it: the given nodes (all, or those a few outputs need) with every tensor
 * in `outputs` exposed. Large float weights are not loaded: zeros of their shape stand in (ConstantOfShape,
 * made when read and freed after), as shapes and types do not depend on their values; values computed from
 * them are not kept. Loading VGG-11's 507 MB of weights took most of the probe's time and memory.
 */
function probeModel(graph: OnnxGraph, input: OnnxModel['input'], nodes: onnx.INodeProto[], outputs: string[], file: string, shapesOf: readonly string[] = []) {
  const read = new Set(nodes.flatMap((n) => n.input ?? []));
  const nested = nodes.some((n) => (n.attribute ?? []).some((a) => a.g || (a.graphs ?? []).length));
  const all = (graph.model.graph?.initializer ?? []).filter((t) => nested || read.has(t.name ?? ''));
  const fed = all.filter((t) => t.dataType === DataType.FLOAT && tensorBytes(t) >= PROBE_ZEROS_BYTES);
  // Zeros are made by the declared shape, which ONNX Runtime never gets to check against the bytes: check it here.
  for (const t of fed) checkStoredBytes(t, storedBytes(t), file);
  const fedSet = new Set(fed);
  const weights = sessionInitializers(all.filter((t) => !fedSet.has(t)));
  const e = new Emitter(graph.opset, new Set(graph.names), 'saliency_lens_probe');
  const zeros: onnx.INodeProto[] = fed.map((t) => ({
    opType: 'ConstantOfShape', name: e.fresh('zeros'), input: [e.i64((t.dims ?? []).map(num))], output: [t.name ?? ''],
    attribute: [A.t('value', floatTensor('', [1], [0]))],
  }));
  // Tensors wanted only for their shape are handed out as their Shape: Swin-T's 600 activations whose shapes
  // ONNX Runtime could not infer, handed out whole, took half the probe's time and most of its memory.
  const shapeOutputs = new Map(shapesOf.map((t) => [e.op('Shape', [t], [], 'shape_of'), t]));
  const model: onnx.IModelProto = {
    ...graph.model,
    graph: {
      ...graph.model.graph,
      node: [...zeros, ...nodes, ...e.nodes],
      initializer: [...weights.initializer, ...e.initializers],
      input: [valueInfo(input.name, DataType.FLOAT, input.dims)],
      output: [...outputs, ...shapeOutputs.keys()].map((o) => valueInfo(o)),
      valueInfo: [],
    },
  };
  return { bytes: onnx.ModelProto.encode(model).finish(), folder: weights.folder, fed: fed.map((t) => t.name ?? ''), shapeOutputs };
}

/**
 * Concrete shapes and element types of every tensor (the backward rules need them), and the values of
 * small input-independent tensors (shape computations, pads, bounds). ONNX Runtime infers shapes and
 * types when it prepares a session exposing every tensor; what it leaves unknown, and the small tensors
 * whose values are kept, are then computed by a second session of only the nodes they need (shape
 * arithmetic, not the network, for a model exported with fixed shapes), on a zero input.
 */
async function probe(graph: OnnxGraph, input: OnnxModel['input'], file: string, threads: number): Promise<TensorFacts> {
  const outputs = [...new Set(graph.nodes.flatMap((n) => n.outputs.filter(Boolean)))];
  const everything = probeModel(graph, input, graph.nodes.map((n) => n.proto), outputs, file);
  // Values that change with the input, or were computed from the zeros standing in for large weights, are not kept.
  const varying = graph.descendants([input.name, ...everything.fed], undefined, false);
  const options = (folder: string | undefined): ort.InferenceSession.SessionOptions => ({
    graphOptimizationLevel: 'disabled', intraOpNumThreads: threads, logSeverityLevel: 3, extra: { session: externalDataConfig(folder) },
  });
  const inferred = new Map<string, { dims: number[]; type: string }>();
  /** Element types of the tensors, as ONNX Runtime inferred them (also where it could not infer the shape). */
  const typeOf = new Map<string, string>();
  let result: ort.InferenceSession.OnnxValueMapType = {};
  let shapeOutputs = new Map<string, string>();
  let session: ort.InferenceSession | undefined;
  try {
    session = await ort.InferenceSession.create(everything.bytes, options(everything.folder));
    // A shape left unknown or symbolic (or empty: a scalar's reads the same) is computed.
    for (const meta of session.outputMetadata ?? []) {
      if (!meta.isTensor || meta.type === 'string') continue;
      if (meta.type) typeOf.set(meta.name, meta.type);
      const dims = meta.shape;
      if (dims.length === 0 || !dims.every((d): d is number => typeof d === 'number' && d >= 0)) continue;
      if (dims.reduce((a, b) => a * b, 1) <= SMALL && !varying.has(meta.name)) continue;
      inferred.set(meta.name, { dims: [...dims], type: meta.type });
    }
    const fetches = session.outputNames.filter((name) => !inferred.has(name));
    await session.release();
    session = undefined;
    if (fetches.length) {
      // Values are kept only of tensors that do not vary: of the others (of known type) the shape is enough.
      const shapeOnly = (t: string) => varying.has(t) && typeOf.has(t);
      const needed = probeModel(graph, input, graph.nodesFor(fetches).map((n) => n.proto), fetches.filter((t) => !shapeOnly(t)), file, fetches.filter(shapeOnly));
      shapeOutputs = needed.shapeOutputs;
      session = await ort.InferenceSession.create(needed.bytes, options(needed.folder));
      const size = input.dims.reduce((a, b) => a * b, 1);
      const feeds = session.inputNames.includes(input.name) ? { [input.name]: new ort.Tensor('float32', new Float32Array(size), input.dims) } : {};
      result = await session.run(feeds);
    }
  } catch (err) {
    throw fileError(file, `ONNX Runtime could not run the model (${firstLine(err)})`);
  } finally {
    await session?.release();
  }
  const facts: TensorFacts = { shapes: new Map(), types: new Map(), values: new Map() };
  for (const [name, { dims, type }] of inferred) {
    facts.shapes.set(name, dims);
    facts.types.set(name, type);
  }
  for (const [name, value] of Object.entries(result)) {
    const tensor = value as ort.Tensor;
    const shapeOf = shapeOutputs.get(name);
    if (shapeOf !== undefined) {
      facts.shapes.set(shapeOf, Array.from(tensor.data as BigInt64Array, Number));
      facts.types.set(shapeOf, typeOf.get(shapeOf)!);
      continue;
    }
    facts.shapes.set(name, [...tensor.dims]);
    facts.types.set(name, tensor.type);
    if (tensor.size <= SMALL && !varying.has(name) && tensor.type !== 'string') {
      facts.values.set(name, Array.from(tensor.data as ArrayLike<number | bigint>, Number));
    }
  }
  for (const [name, t] of graph.initializers) {
    facts.shapes.set(name, (t.dims ?? []).map(num));
    facts.types.set(name, TYPE_NAMES[t.dataType ?? 0] ?? 'unknown');
  }
  facts.shapes.set(input.name, input.dims);
  facts.types.set(input.name, 'float32');
  return facts;
}

/** Ops whose 4-D output is NCHW whatever their input: ONNX's convolution and pooling layout. */
const NCHW_OPS = new Set(['Conv', 'ConvTranspose', 'MaxPool', 'AveragePool', 'LpPool', 'GlobalAveragePool', 'GlobalMaxPool',
  'BatchNormalization', 'InstanceNormalization', 'LRN', 'DepthToSpace', 'SpaceToDepth', 'MaxUnpool']);
/** Ops whose output keeps the layout of their (first 4-D) input. */
const SAME_LAYOUT = new Set(['Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Clip', 'Tanh', 'Exp', 'Neg',
  'Add', 'Sub', 'Mul', 'Div', 'Sum', 'Max', 'Min', 'Where', 'Identity', 'Dropout', 'Cast', 'Concat', 'Split', 'Slice', 'Pad',
  'Elu', 'Selu', 'Softplus', 'Sqrt', 'Abs', 'Erf', 'Pow', 'Softsign', 'Reciprocal', 'Log', 'Mish', 'Gelu', 'Mean']);

/** Follows NCHW/NHWC through the graph so activations can be handed out as [1,h,w,k]. */
function tensorLayouts(graph: OnnxGraph, shapes: Map<string, number[]>, input: OnnxModel['input']): Map<string, 'NCHW' | 'NHWC'> {
  const layouts = new Map<string, 'NCHW' | 'NHWC'>();
  const is4d = (t: string) => shapes.get(t)?.length === 4;
  if (is4d(input.name)) layouts.set(input.name, input.layout === 'NHWC' ? 'NHWC' : 'NCHW');
  for (const node of graph.nodes) {
    const from = node.inputs.find((i) => i && is4d(i) && layouts.has(i));
    for (const o of node.outputs) {
      if (!o || !is4d(o)) continue;
      let layout: 'NCHW' | 'NHWC' | undefined;
      if (NCHW_OPS.has(node.op)) layout = 'NCHW';
      else if (SAME_LAYOUT.has(node.op) && from) layout = layouts.get(from);
      else if (node.op === 'Transpose' && from) {
        const perm = (node.proto.attribute ?? []).find((a) => a.name === 'perm')?.ints?.map(num) ?? [3, 2, 1, 0];
        const moved = perm.map((p) => layouts.get(from)![p]).join('');
        if (moved === 'NCHW' || moved === 'NHWC') layout = moved;
      }
      if (layout) layouts.set(o, layout);
    }
  }
  return layouts;
}

/**
 * What a converter knows about the model it wrote (TF.js → ONNX): the outputs as the source names them,
 * with their logits, and the storage layout of the tensors it wrote.
 */
export interface SourceFacts {
  outputs: { name: string; logits: string; activation: OutputActivation }[];
  layouts: Map<string, 'NCHW' | 'NHWC'>;
}

function chooseSourceOutput(source: SourceFacts, file: string, choice: string | number | undefined): OnnxModel['output'] {
  const names = source.outputs.map((o) => o.name);
  const index = choice === undefined ? 0 : typeof choice === 'number' ? choice : names.indexOf(choice);
  if (index < 0 || index >= names.length) throw fileError(file, `has no output "${choice}"; its outputs are: ${names.join(', ')}`);
  return source.outputs[index];
}

/** Reads, checks and probes an .onnx model: everything the runtime needs before building sessions. */
export async function analyzeOnnx(modelPath: string, opts: OnnxLoadOptions, threads: number): Promise<OnnxModel> {
  const { file, model, externalFiles } = readOnnxFile(modelPath);
  const copies = copiesOf(model.graph?.initializer ?? []);
  let analyzed: OnnxModel | undefined;
  try {
    analyzed = await analyzeModel(file, model, externalFiles, opts, threads);
    return analyzed;
  } finally {
    // Private copies of the weights (weightFile.ts) the result no longer refers to (the load failed, or float16
    // weights were widened into memory) are removed now; the others are held by the runtime made from it.
    const kept = analyzed ? copiesOf(analyzed.graph.model.graph?.initializer ?? []) : new Set<string>();
    discardUnheld([...copies].filter((c) => !kept.has(c)));
  }
}

/** Checks and probes a decoded model (from a file, or written by a converter with its `source` facts). */
export async function analyzeModel(file: string, model: onnx.ModelProto, externalFiles: string[], opts: OnnxLoadOptions, threads: number,
  source?: SourceFacts): Promise<OnnxModel> {
  opsetOf(model, file);
  upgradeToMinOpset(model, file);
  const notes: string[] = [];
  if (widenFloat16(model)) notes.push(FLOAT16_NOTE);
  const input = chooseInput(model.graph!, file, opts);
  let graph: OnnxGraph;
  try {
    graph = new OnnxGraph(model, opsetOf(model, file), file);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw fileError(file, `has a malformed graph (${firstLine(err)})`);
  }
  const out = source ? chooseSourceOutput(source, file, opts.output) : chooseOutput(graph, file, opts.output);
  const facts = await probe(graph, input, file, threads);
  if (!source) checkSoftmaxCovers(graph, facts.shapes, out, file);
  const logitsType = facts.types.get(out.logits);
  if (logitsType !== 'float32') throw fileError(file, `output "${out.name}" is ${logitsType ?? 'not a tensor'}; expected float32 scores`);
  const logitsShape = facts.shapes.get(out.logits) ?? [];
  if (logitsShape.length > 1 && logitsShape[0] !== 1) {
    throw fileError(file, `output "${out.name}" has shape ${JSON.stringify(logitsShape)} for one image; expected [1, classes]`);
  }
  const layouts = tensorLayouts(graph, facts.shapes, input);
  for (const [t, layout] of source?.layouts ?? []) layouts.set(t, layout);
  return {
    file, externalFiles, graph, facts, input,
    output: { name: out.name, logits: out.logits, activation: out.activation },
    layouts,
    notes,
  };
}
