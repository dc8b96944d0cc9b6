import { onnx } from 'onnx-proto';
import { fileError } from '../../errors';
import { emitBackward } from './backward';
import { batchRewrites } from './batching';
import { Emitter } from './emitter';
import { BATCH } from './gradRules';
import type { GNode } from './graph';
import type { OnnxModel } from './onnxModel';
import { A, DataType, num, valueInfo } from './proto';

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
 * Builds the model one session runs: an NHWC input transposed to the model's input (for NCHW models),
 * the forward nodes needed, the backward nodes for the requested gradients, and outputs for the logits,
 * kept activations and gradients. Weights are shared with the loaded model (not copied) until encoded.
 */
export function buildSessionModel(m: OnnxModel, plan: SessionPlan): SessionModel {
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
  const handOut = (t: string) => (handedOutNhwc(m, t) ? e.transpose(t, TO_NHWC) : t);
  const result: SessionModel = { bytes: new Uint8Array(), feed, feedDims, kept: new Map(), grads: new Map() };
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
      let out = grad && handedOutNhwc(m, t) ? e.transpose(grad, TO_NHWC) : grad;
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
  const model: onnx.IModelProto = {
    irVersion: Math.max(num(source.irVersion), 4),
    opsetImport: source.opsetImport,
    producerName: 'saliency-lens',
    functions: source.functions,
    graph: {
      name: source.graph?.name || 'model',
      node: nodes,
      initializer: [...(source.graph?.initializer ?? []).filter((t) => nested || used.has(t.name ?? '')), ...e.initializers],
      sparseInitializer: (source.graph?.sparseInitializer ?? []).filter((t) => nested || used.has(t.values?.name ?? '')),
      input: inputs,
      output: outputs.map((o) => valueInfo(o)),
    },
  };
  result.bytes = onnx.ModelProto.encode(model).finish();
  return result;
}
