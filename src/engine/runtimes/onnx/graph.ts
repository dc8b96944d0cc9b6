import type { onnx } from 'onnx-proto';
import { attrFloat, attrFloats, attrInt, attrInts, findAttr, tensorSize, tensorValues } from './proto';

/** One node of the model, in topological order. */
export interface GNode {
  index: number;
  proto: onnx.INodeProto;
  /** The node's name, or its first output when it has none (or shares its name with another node). */
  name: string;
  /** op_type, prefixed with the domain for non-standard ops ("com.microsoft.FusedConv"). */
  op: string;
  /** '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
}

/** Ops whose outputs carry no gradient even when they are float: gradients stop there. */
const NON_DIFFERENTIABLE = new Set([
  'Shape', 'Size', 'ConstantOfShape', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor',
  'ArgMax', 'ArgMin', 'Floor', 'Ceil', 'Round', 'Sign', 'NonZero', 'Range', 'RandomNormalLike', 'RandomUniformLike',
  'RandomNormal', 'RandomUniform', 'EyeLike', 'IsNaN', 'IsInf', 'Multinomial', 'Bernoulli',
]);

/** Ops whose output values depend only on the input's shape, not its values. */
const SHAPE_ONLY = new Set(['Shape', 'Size', 'EyeLike', 'ConstantOfShape']);

/** What one run of the model tells about every tensor (see probe in loadOnnx.ts). */
export interface TensorFacts {
  shapes: Map<string, number[]>;
  types: Map<string, string>;
  /** Values of small tensors that do not depend on the input's values (shapes, pads, Clip bounds). */
  values: Map<string, number[]>;
}

/**
 * The model's graph with the indexes the runtime needs: producers, consumers, constants, and which
 * tensors depend on which. Node order is topological (sorted here if the file was not).
 */
export class OnnxGraph {
  readonly nodes: GNode[];
  readonly producer = new Map<string, GNode>();
  readonly consumers = new Map<string, GNode[]>();
  readonly initializers = new Map<string, onnx.ITensorProto>();
  /** Every tensor and node name in the model, so emitted names never collide. */
  readonly names = new Set<string>();
  readonly byName = new Map<string, GNode>();

  constructor(readonly model: onnx.ModelProto, readonly opset: number) {
    const graph = model.graph!;
    for (const t of graph.initializer ?? []) this.initializers.set(t.name ?? '', t);
    const raw = (graph.node ?? []).map((proto) => ({
      proto,
      op: proto.domain && proto.domain !== 'ai.onnx' ? `${proto.domain}.${proto.opType}` : proto.opType ?? '',
      inputs: [...(proto.input ?? [])],
      outputs: [...(proto.output ?? [])],
    }));
    this.nodes = topoSort(raw, new Set([...this.initializers.keys(), ...(graph.input ?? []).map((i) => i.name ?? '')]))
      .map((n, index) => ({ ...n, index, name: '' }));
    const nameCount = new Map<string, number>();
    for (const n of this.nodes) if (n.proto.name) nameCount.set(n.proto.name, (nameCount.get(n.proto.name) ?? 0) + 1);
    for (const n of this.nodes) {
      n.name = n.proto.name && nameCount.get(n.proto.name) === 1 ? n.proto.name : n.outputs[0] ?? `node ${n.index}`;
      this.byName.set(n.name, n);
      for (const o of n.outputs) if (o) this.producer.set(o, n);
      for (const i of n.inputs) {
        if (!i) continue;
        const list = this.consumers.get(i) ?? [];
        if (!list.includes(n)) list.push(n);
        this.consumers.set(i, list);
      }
      if (n.proto.name) this.names.add(n.proto.name);
      for (const t of [...n.inputs, ...n.outputs]) if (t) this.names.add(t);
    }
    for (const t of this.initializers.keys()) this.names.add(t);
    for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) this.names.add(v.name ?? '');
  }

  /** Tensors the given tensors are computed from, themselves included. */
  ancestors(tensors: Iterable<string>): Set<string> {
    const seen = new Set<string>();
    const stack = [...tensors];
    while (stack.length) {
      const t = stack.pop()!;
      if (!t || seen.has(t)) continue;
      seen.add(t);
      const p = this.producer.get(t);
      if (p) stack.push(...p.inputs);
    }
    return seen;
  }

  /** Nodes needed to compute the given tensors, in order. */
  nodesFor(tensors: Iterable<string>): GNode[] {
    const need = this.ancestors(tensors);
    return this.nodes.filter((n) => n.outputs.some((o) => need.has(o)));
  }

  /**
   * Tensors whose value changes with the given tensors: `differentiable` follows only float
   * outputs of ops that have a gradient (the set backward passes run through); otherwise every
   * dependence except through ops that only read shapes.
   */
  descendants(from: Iterable<string>, types: Map<string, string> | undefined, differentiable: boolean): Set<string> {
    const set = new Set(from);
    for (const n of this.nodes) {
      if (!n.inputs.some((i) => i && set.has(i))) continue;
      if (differentiable ? NON_DIFFERENTIABLE.has(n.op) : SHAPE_ONLY.has(n.op)) continue;
      for (const o of n.outputs) {
        if (!o) continue;
        const type = types?.get(o);
        if (differentiable && type !== undefined && !type.startsWith('float')) continue;
        set.add(o);
      }
    }
    return set;
  }

  /** A constant's values when it is an initializer or a Constant node's output. */
  constantValues(name: string): number[] | undefined {
    const init = this.initializers.get(name);
    if (init) return tensorValues(init);
    const p = this.producer.get(name);
    if (p?.op !== 'Constant') return undefined;
    const t = findAttr(p.proto, 'value')?.t;
    if (t) return tensorValues(t);
    const ints = attrInts(p.proto, 'value_ints');
    if (ints) return ints;
    const floats = attrFloats(p.proto, 'value_floats');
    if (floats) return floats;
    if (findAttr(p.proto, 'value_int')) return [attrInt(p.proto, 'value_int', 0)];
    if (findAttr(p.proto, 'value_float')) return [attrFloat(p.proto, 'value_float', 0)];
    return undefined;
  }

  /** Element count of the initializers a node reads. */
  initializerSize(name: string): number {
    const t = this.initializers.get(name);
    return t ? tensorSize(t) : 0;
  }
}

type RawNode = Omit<GNode, 'index' | 'name'>;

/** Kahn's algorithm, keeping the file's order among ready nodes. */
function topoSort(nodes: RawNode[], available: Set<string>): RawNode[] {
  const produced = new Set<string>();
  for (const n of nodes) for (const o of n.outputs) if (o) produced.add(o);
  const ready = new Set(available);
  const out: RawNode[] = [];
  const pending = [...nodes];
  // Nested graphs (If/Loop bodies) may read outer tensors; only direct inputs order the nodes.
  while (pending.length) {
    const i = pending.findIndex((n) => n.inputs.every((t) => !t || ready.has(t) || !produced.has(t)));
    if (i < 0) throw new Error('the graph has a cycle');
    const [n] = pending.splice(i, 1);
    out.push(n);
    for (const o of n.outputs) if (o) ready.add(o);
  }
  return out;
}

