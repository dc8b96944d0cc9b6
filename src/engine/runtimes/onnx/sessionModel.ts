import { onnx } from 'onnx-proto';
import { fileError } from '../../errors';
import { emitBackward } from './backward';
import { batchRewrites } from './batching';
import { Emitter } from './emitter';
import { BATCH } from './gradRules';
import type { GNode } from './graph';
import type { OnnxModel } from './onnxModel';
import { A, DataType, num, tensorBytes, valueInfo } from './proto';
import { externalDataConfig, sessionInitializers } from './weightFile';
import type { TokenGrid } from './tokenGrid';

/** What one ONNX Runtime session computes. */
export interface SessionPlan {
  /** Output the logits ([1, classes]). */
  logits: boolean;
  /** Tensors to output (4-D NCHW ones as NHWC). */
  keep: string[];
  /**
   * Gradients of seed·logits with respect to these tensors (4-D NCHW ones as NHWC). With `top`, the seed
   * is not an input but the one-hot of the logits' argmax, computed in the same run. `guided`: Guided
   * Backpropagation's ReLU rule (gradRules.ts). Batched plans take one seed row per input row.
   */
  grads?: { targets: string[]; seeds: number; top?: boolean; guided?: boolean };
  /**
   * Feed a batch of inputs: the input's axis 0 is a free dimension "batch" (one session serves every
   * batch size), the logits come out [batch, classes] and the seed is [batch, classes]. Throws
   * NotBatchable when the graph would mix rows (batching.ts).
   */
  batched?: boolean;
}

export interface SessionModel {
  bytes: Uint8Array;
  /** Graph input fed with the engine's [1,H,W,C] image (or the model's own layout for 'asis'); [n,H,W,C] when batched. */
  feed: string;
  /** The feed's dimensions for one input (batched sessions take any count on axis 0). */
  feedDims: number[];
  /** Graph input [seeds, classes] for gradient sessions. */
  seed?: string;
  logits?: string;
  kept: Map<string, string>;
  /** Output per target; undefined when the logits do not depend on it (its gradient is zero). */
  grads: Map<string, string | undefined>;
  /** Session config entries (ONNX Runtime's `extra.session`) for weights read from their file (weightFile.ts). */
  config: Record<string, string>;
}

/** The refusal every user sees for an op without a rule: one sentence naming the file, op and node. */
export function refuseFor(file: string) {
  return (node: GNode, detail?: string): never => {
    throw fileError(file, `operator "${node.op}" (node "${node.name}") is not supported for gradients yet${detail ? ` (${detail})` : ''}`);
  };
}

/** Whether a tensor is handed out transposed from NCHW to NHWC. */
export function handedOutNhwc(m: OnnxModel, tensor: string): boolean {
  const shape = m.facts.shapes.get(tensor);
  if (tensor === m.input.name) return m.input.layout === 'NCHW';
  return shape?.length === 4 && m.input.layout !== 'asis' && (m.layouts.get(tensor) ?? 'NCHW') === 'NCHW';
}

const TO_NHWC = [0, 2, 3, 1];

/**
 * Sessions with a matrix weight above `max`, or matrix weights above `total` in all, are not prepacked by ONNX
 * Runtime. Prepacking copies a MatMul/Gemm weight into the layout its kernel reads fastest, once per session and
 * per way the weight is used (forward and backward). Measured on VGG-11 (a 411 MB first classifier layer), a
 * gradient session took 7.4 s to create and 1.7 GB with prepacking, 1.8 s and 0.9 GB without, and ran as fast
 * (one image is a single row, which the packed layout does not speed up). On ViT-B/16 (340 MB of MatMul weights,
 * 2 threads, CPU seconds): the saliency session 3.0–3.8 s to create with prepacking, 1.5–1.9 s without; the
 * forward session 1.3 s and 0.07 s; runs 12–20 % faster with it. Above `total` only one session fits in the
 * runtime's session budget (3× the weight bytes each), so every change of method creates a session again.
 */
export const PREPACK_LIMIT_BYTES = { max: 64 * 2 ** 20, total: 256 * 2 ** 20 };

function prepackingConfig(m: OnnxModel, nodes: onnx.INodeProto[]): Record<string, string> {
  const init = m.graph.initializers;
  const matrices = new Set<string>();
  for (const n of nodes) {
    if (n.opType === 'MatMul' || n.opType === 'Gemm') for (const i of n.input ?? []) if (init.has(i)) matrices.add(i);
  }
  const sizes = [...matrices].map((i) => tensorBytes(init.get(i)!));
  const total = sizes.reduce((a, b) => a + b, 0);
  return sizes.some((b) => b > PREPACK_LIMIT_BYTES.max) || total > PREPACK_LIMIT_BYTES.total ? { disable_prepacking: '1' } : {};
}

/**
 * Builds the model one session runs: an NHWC input transposed to the model's input (for NCHW models),
 * the forward nodes needed, the backward nodes for the requested gradients, and outputs for the logits,
 * kept activations and gradients. Large weights stay in the model's file and reach ONNX Runtime as external
 * data (weightFile.ts); the others are shared with the loaded model until encoded.
 */
export function buildSessionModel(m: OnnxModel, plan: SessionPlan, tokens: ReadonlyMap<string, TokenGrid> = new Map()): SessionModel {
  const g = m.graph;
  const e = new Emitter(g.opset, new Set(g.names));
  const pre: onnx.INodeProto[] = [];
  const inputs: onnx.IValueInfoProto[] = [];
  const { name: inputName, dims, layout } = m.input;
  let feed = inputName;
  let feedDims = dims;
  if (layout === 'NCHW') {
    feed = e.fresh('input_nhwc');
    feedDims = [dims[0], dims[2], dims[3], dims[1]];
    pre.push({ opType: 'Transpose', name: e.fresh('to_nchw'), input: [feed], output: [inputName], attribute: [A.ints('perm', [0, 3, 1, 2])] });
  }
  const batched = !!plan.batched;
  const classes = (m.facts.shapes.get(m.output.logits) ?? []).reduce((a, b) => a * b, 1);
  // One name for the free batch axis of the feed and the seed: ONNX Runtime checks they agree.
  const rows = (dims: number[]): (number | string)[] => (batched ? ['batch', ...dims.slice(1)] : dims);
  inputs.push(valueInfo(feed, DataType.FLOAT, rows(feedDims)));
  const outputs: string[] = [];
  // Token tensors [rows, k + h·w, C] go out as the image-shaped [rows, h, w, C] every CAM reads: special tokens dropped.
  const asGrid = (x: string, grid: TokenGrid) =>
    e.reshape(grid.skip ? e.slice(x, [grid.skip], [grid.tokens], [1]) : x, [-1, grid.height, grid.width, grid.channels]);
  const handOut = (t: string, x = t) => {
    const grid = tokens.get(t);
    if (grid) return asGrid(x, grid);
    return handedOutNhwc(m, t) ? e.transpose(x, TO_NHWC) : x;
  };
  const result: SessionModel = { bytes: new Uint8Array(), feed, feedDims, kept: new Map(), grads: new Map(), config: {} };
  if (plan.logits) {
    result.logits = e.reshape(m.output.logits, batched ? [-1, classes] : [1, -1]);
    outputs.push(result.logits);
  }
  for (const t of plan.keep) {
    const out = handOut(t);
    result.kept.set(t, out);
    if (!outputs.includes(out)) outputs.push(out);
  }
  let rewritten = new Map<GNode, onnx.INodeProto>();
  if (plan.grads) {
    let seed: string;
    if (batched && (plan.grads.top || plan.grads.seeds !== BATCH)) throw new Error('a batched session takes one seed per input row');
    if (plan.grads.top) {
      // The predicted class's one-hot: ArgMax → OneHot over the classes, so one run both predicts and explains.
      const flat = result.logits ?? e.reshape(m.output.logits, [1, -1]);
      const index = e.op('ArgMax', [flat], [A.i('axis', 1), A.i('keepdims', 1)]);
      const oneHot = e.op('OneHot', [index, e.i64([classes], []), e.f32([0, 1], [2])], [A.i('axis', -1)]);
      seed = e.reshape(oneHot, [1, classes]);
    } else {
      seed = g.names.has('seed') ? e.fresh('seed') : 'seed';
      g.names.add(seed);
      inputs.push(valueInfo(seed, DataType.FLOAT, batched ? ['batch', classes] : [plan.grads.seeds, classes]));
      result.seed = seed;
    }
    const { targets, seeds, guided } = plan.grads;
    const back = emitBackward(g, m.facts, e, { logits: m.output.logits, seed, seeds, targets, batched, guided }, refuseFor(m.file));
    rewritten = back.rewritten;
    for (const [t, grad] of back.grads) {
      let out = grad && handOut(t, grad);
      // Two targets whose gradients are one tensor still get one output each.
      if (out && outputs.includes(out)) out = e.op('Identity', [out]);
      result.grads.set(t, out);
      if (out) outputs.push(out);
    }
  }
  // Forward nodes: whatever the outputs and the emitted nodes read, and the nodes rewritten for them.
  const needed = new Set<string>([...plan.keep, ...(plan.logits ? [m.output.logits] : [])]);
  for (const n of e.nodes) for (const i of n.input ?? []) needed.add(i);
  for (const n of rewritten.keys()) needed.add(n.outputs[0]);
  const forwardNodes = g.nodesFor(needed);
  if (batched) for (const [n, proto] of batchRewrites(m, e, forwardNodes)) rewritten.set(n, proto);
  const forward = forwardNodes.map((n) => rewritten.get(n) ?? n.proto);
  const nodes = [...pre, ...forward, ...e.nodes];
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  const nested = forward.some((n) => (n.attribute ?? []).some((a) => a.g || (a.graphs ?? []).length));
  const source = m.graph.model;
  const weights = sessionInitializers((source.graph?.initializer ?? []).filter((t) => nested || used.has(t.name ?? '')));
  result.config = { ...externalDataConfig(weights.folder), ...prepackingConfig(m, nodes) };
  const model: onnx.IModelProto = {
    irVersion: Math.max(num(source.irVersion), 4),
    opsetImport: source.opsetImport,
    producerName: 'saliency-lens',
    functions: source.functions,
    graph: {
      name: source.graph?.name || 'model',
      node: nodes,
      initializer: [...weights.initializer, ...e.initializers],
      sparseInitializer: (source.graph?.sparseInitializer ?? []).filter((t) => nested || used.has(t.values?.name ?? '')),
      input: inputs,
      output: outputs.map((o) => valueInfo(o)),
    },
  };
  result.bytes = onnx.ModelProto.encode(model).finish();
  return result;
}
