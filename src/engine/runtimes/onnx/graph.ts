import type { onnx } from 'onnx-proto';
import { fileError } from '../../errors';
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

  constructor(readonly model: onnx.ModelProto, readonly opset: number, file: string) {
    const graph = model.graph!;
    for (const t of graph.initializer ?? []) this.initializers.set(t.name ?? '', t);
    const raw = (graph.node ?? []).map((proto) => ({
      proto,
      op: proto.domain && proto.domain !== 'ai.onnx' ? `${proto.domain}.${proto.opType}` : proto.opType ?? '',
      inputs: [...(proto.input ?? [])],
      outputs: [...(proto.output ?? [])],
    }));
    checkSingleAssignment(raw, new Set((graph.input ?? []).map((i) => i.name ?? '')), this.initializers, file);
    this.nodes = topoSort(raw, file).map((n, index) => ({ ...n, index, name: '' }));
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

const nodeLabel = (n: RawNode) => n.proto.name || n.outputs.find(Boolean) || n.op;

/**
 * Every tensor has one source: a graph input, an initializer or one node. A name assigned twice (or
 * a node writing its own input) makes producer chains loop, and ONNX forbids it.
 */
function checkSingleAssignment(nodes: RawNode[], inputs: Set<string>, initializers: Map<string, unknown>, file: string): void {
  const producedBy = new Map<string, RawNode>();
  for (const n of nodes) {
    for (const o of n.outputs) {
      if (!o) continue;
      if (n.inputs.includes(o)) throw fileError(file, `node "${nodeLabel(n)}" writes tensor "${o}", which is also its own input`);
      if (inputs.has(o)) throw fileError(file, `node "${nodeLabel(n)}" writes tensor "${o}", which is also an input of the graph`);
      if (initializers.has(o)) throw fileError(file, `node "${nodeLabel(n)}" writes tensor "${o}", which is also an initializer`);
      const other = producedBy.get(o);
      if (other === n) throw fileError(file, `node "${nodeLabel(n)}" writes tensor "${o}" twice`);
      if (other) throw fileError(file, `tensor "${o}" is written by two nodes ("${nodeLabel(other)}" and "${nodeLabel(n)}")`);
      producedBy.set(o, n);
    }
  }
}

/**
 * Kahn's algorithm: a node is ready once the nodes producing its inputs are placed; among ready nodes
 * the earliest in the file goes first (a min-heap of file positions), so a sorted file keeps its order.
 * Inputs no node produces (graph inputs, initializers, names nested graphs read) do not order nodes.
 */
function topoSort(nodes: RawNode[], file: string): RawNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  const waiting = new Array<number>(nodes.length).fill(0);
  const dependents: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    for (const t of n.inputs) {
      const p = t ? producer.get(t) : undefined;
      if (p === undefined) continue;
      waiting[i]++;
      dependents[p].push(i);
    }
  });
  const heap = new MinHeap();
  waiting.forEach((w, i) => w === 0 && heap.push(i));
  const out: RawNode[] = [];
  while (heap.size) {
    const i = heap.pop();
    out.push(nodes[i]);
    for (const d of dependents[i]) if (--waiting[d] === 0) heap.push(d);
  }
  if (out.length < nodes.length) {
    // Walk back through unplaced producers until one repeats: that node lies on a cycle.
    let i = waiting.findIndex((w) => w > 0);
    const seen = new Set<number>();
    while (!seen.has(i)) {
      seen.add(i);
      i = nodes[i].inputs.map((t) => (t ? producer.get(t) : undefined)).find((p) => p !== undefined && waiting[p] > 0)!;
    }
    throw fileError(file, `has a cycle in its graph: node "${nodeLabel(nodes[i])}" depends on its own output`);
  }
  return out;
}

/** Binary min-heap of numbers. */
class MinHeap {
  private readonly a: number[] = [];

  get size(): number {
    return this.a.length;
  }

  push(v: number): void {
    const a = this.a;
    let i = a.push(v) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent] <= v) break;
      a[i] = a[parent];
      i = parent;
    }
    a[i] = v;
  }

  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= a.length) break;
        if (child + 1 < a.length && a[child + 1] < a[child]) child++;
        if (a[child] >= last) break;
        a[i] = a[child];
        i = child;
      }
      a[i] = last;
    }
    return top;
  }
}
