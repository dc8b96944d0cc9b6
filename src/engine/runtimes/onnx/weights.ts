import { onnx } from 'onnx-proto';
import type { OnnxGraph } from './graph';
import type { OnnxModel } from './onnxModel';
import { DataType, floatTensor, nums, tensorData, tensorSize } from './proto';

/**
 * The model's learned weights grouped into layers, and copies of the model with some of them replaced
 * (for the model-parameter randomization check, metrics/randomization.ts). Nothing here writes to the
 * loaded model or to any file: a copy shares the unchanged weights and holds new tensors for the rest.
 */

/** One layer's weights: the initializers read by the layer's own nodes. */
export interface WeightLayer {
  /** As the layer table lists it: the source layer (converted models) or the ONNX node. */
  name: string;
  type: string;
  /** Float32 initializers, each of two values or more. */
  initializers: string[];
  /** Their values in all. */
  size: number;
}


/** ONNX ops whose initializer inputs are learned weights. */
const WEIGHTED_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'BatchNormalization', 'InstanceNormalization',
  'LayerNormalization', 'GroupNormalization', 'PRelu']);

/**
 * BatchNormalization's inputs 3 and 4 are the running mean and variance: statistics of the training data,
 * not learned parameters (Adebayo et al. re-initialize the trainable weights), and a randomized variance
 * could turn negative. Scale and bias are randomized; the statistics are kept.
 */
const KEPT_INPUTS: Record<string, number[]> = { BatchNormalization: [3, 4] };

/** What weightLayers reads: the analyzed model, and for converted models the source's layers and their tensors. */
export interface WeightSource {
  model: OnnxModel;
  /** Converted models: every source layer with its output tensor ('' when the output does not depend on it). */
  sourceLayers?: { name: string; type: string; params: number; tensor: string }[];
}

function isWeight(graph: OnnxGraph, name: string): boolean {
  const t = name ? graph.initializers.get(name) : undefined;
  return !!t && t.dataType === DataType.FLOAT && tensorSize(t) >= 2;
}

type Node = OnnxGraph['nodes'][number];

/** The weight inputs of one node (BatchNormalization's statistics left out). */
function weightInputs(graph: OnnxGraph, node: Node): string[] {
  const kept = KEPT_INPUTS[node.op] ?? [];
  return node.inputs.filter((name, i) => !kept.includes(i) && isWeight(graph, name));
}

/**
 * Whether a weight is read only by the layer's own nodes, and never as a BatchNorm statistic: writers
 * deduplicate equal constants (the converter gives an untrained zero bias and a zero BatchNorm mean one
 * tensor), and randomizing a shared tensor would change its other readers too.
 */
function ownedBy(graph: OnnxGraph, name: string, nodes: ReadonlySet<Node>): boolean {
  return (graph.consumers.get(name) ?? []).every((c) => nodes.has(c) && !(KEPT_INPUTS[c.op] ?? []).some((i) => c.inputs[i] === name));
}

/**
 * The layers with weights that the logits depend on, from the output back (the order of cascading
 * randomization). ONNX files: each Conv, Gemm, MatMul, normalization or PRelu node with float weights,
 * joined by the Add right after it when that Add reads a weight (a bias written separately, as for
 * MatMul). Converted models: each source layer with parameters, holding the weights read by the nodes
 * that compute its output from the previous layers' outputs (a Keras Dense = MatMul + Add, a BatchNorm
 * folded into scale and offset). A weight read by anything else as well is left out (ownedBy).
 */
export function weightLayers(source: WeightSource): WeightLayer[] {
  const { graph, output } = source.model;
  // Weights the logits are computed from (a converted Dense's output is its softmax, past the logits).
  const needed = graph.ancestors([output.logits]);
  const anchors = source.sourceLayers ? convertedLayers(source) : onnxLayers(graph);
  const claimed = new Set<string>();
  const layers: WeightLayer[] = [];
  for (const a of anchors.sort((p, q) => q.order - p.order)) {
    const initializers = a.initializers.filter((name) => needed.has(name) && !claimed.has(name) && ownedBy(graph, name, a.nodes));
    if (!initializers.length) continue;
    initializers.forEach((name) => claimed.add(name));
    layers.push({ name: a.name, type: a.type, initializers, size: initializers.reduce((n, name) => n + graph.initializerSize(name), 0) });
  }
  return layers;
}

/**
 * The learned parameters the logits are computed from: elements of every float initializer they depend on, except
 * BatchNormalization's statistics (kept by design). What the randomized layers cover is measured against it: weights
 * the grouping cannot reach (behind Constant, Identity or Cast nodes; float16; a tensor shared with a statistic) show.
 */
export function learnedParameterCount(model: OnnxModel): number {
  const { graph, output } = model;
  const needed = graph.ancestors([output.logits]);
  let count = 0;
  for (const [name, t] of graph.initializers) {
    // Size 1: scalars (epsilons, exponents, scale factors), not weights.
    if (!needed.has(name) || (t.dataType !== DataType.FLOAT && t.dataType !== DataType.FLOAT16) || tensorSize(t) < 2) continue;
    const statistic = (graph.consumers.get(name) ?? []).some((c) => (KEPT_INPUTS[c.op] ?? []).some((i) => c.inputs[i] === name));
    if (!statistic) count += tensorSize(t);
  }
  return count;
}

interface Anchor {
  name: string;
  type: string;
  tensor: string;
  /** Topological position of the node producing the layer's output. */
  order: number;
  initializers: string[];
  /** The nodes computing the layer's output from the previous layers'. */
  nodes: Set<Node>;
}

function onnxLayers(graph: OnnxGraph): Anchor[] {
  const anchors: Anchor[] = [];
  for (const node of graph.nodes) {
    if (!WEIGHTED_OPS.has(node.op)) continue;
    const initializers = weightInputs(graph, node);
    if (!initializers.length) continue;
    let tensor = node.outputs[0];
    let order = node.index;
    const nodes = new Set([node]);
    const next = graph.consumers.get(tensor) ?? [];
    if (next.length === 1 && next[0].op === 'Add') {
      const bias = next[0].inputs.find((i) => i !== tensor && isWeight(graph, i));
      if (bias) {
        initializers.push(bias);
        tensor = next[0].outputs[0];
        order = next[0].index;
        nodes.add(next[0]);
      }
    }
    anchors.push({ name: node.name, type: node.op, tensor, order, initializers: [...new Set(initializers)], nodes });
  }
  return anchors;
}

function convertedLayers(source: WeightSource): Anchor[] {
  const { graph, input } = source.model;
  const rows = source.sourceLayers!.filter((r) => r.tensor);
  // A layer's nodes are those between its output and the outputs of other layers (or the image).
  const boundaries = new Set([input.name, ...rows.map((r) => r.tensor)]);
  const anchors: Anchor[] = [];
  for (const row of rows) {
    const producer = graph.producer.get(row.tensor);
    if (row.params === 0 || !producer) continue;
    const initializers: string[] = [];
    const nodes = new Set<Node>();
    const seen = new Set<string>();
    const stack = [row.tensor];
    while (stack.length) {
      const t = stack.pop()!;
      if (!t || seen.has(t) || (t !== row.tensor && boundaries.has(t))) continue;
      seen.add(t);
      const node = graph.producer.get(t);
      if (!node) continue;
      nodes.add(node);
      for (const w of weightInputs(graph, node)) if (!initializers.includes(w)) initializers.push(w);
      stack.push(...node.inputs);
    }
    anchors.push({ name: row.name, type: row.type, tensor: row.tensor, order: producer.index, initializers, nodes });
  }
  return anchors;
}

/** A float32 initializer's values, copied (raw data is little-endian, as ONNX stores it). */
export function floatValues(t: onnx.ITensorProto): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new Error(`tensor "${t.name}" is not float32`);
  const n = tensorSize(t);
  const raw = tensorData(t);
  if (raw) {
    if (raw.length !== n * 4) throw new Error(`tensor "${t.name}" holds ${raw.length} bytes, expected ${n * 4}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  const data = t.floatData ?? [];
  if (data.length !== n) throw new Error(`tensor "${t.name}" holds ${data.length} values, expected ${n}`);
  return Float32Array.from(data);
}

/**
 * A copy of the model whose named initializers hold new values (same sizes); every other field and
 * weight is shared with the original, which is left as it was.
 */
export function withReplacedInitializers(model: onnx.ModelProto, replaced: ReadonlyMap<string, Float32Array>): onnx.ModelProto {
  const graph = model.graph!;
  const found = new Set<string>();
  const initializer = (graph.initializer ?? []).map((t) => {
    const values = replaced.get(t.name ?? '');
    if (!values) return t;
    if (t.dataType !== DataType.FLOAT) throw new Error(`initializer "${t.name}" is not float32`);
    if (values.length !== tensorSize(t)) throw new Error(`initializer "${t.name}" holds ${tensorSize(t)} values, not ${values.length}`);
    found.add(t.name!);
    return onnx.TensorProto.create(floatTensor(t.name!, nums(t.dims), values));
  });
  const missing = [...replaced.keys()].filter((name) => !found.has(name));
  if (missing.length) throw new Error(`the model has no float initializer ${missing.map((m) => `"${m}"`).join(', ')}`);
  return new onnx.ModelProto({ ...model, graph: new onnx.GraphProto({ ...graph, initializer }) });
}
