import type { OutputActivation } from '../types';

/** A GraphDef node as model.json spells it (protobuf JSON: int64 as strings, strings base64). */
export interface GraphNodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, GraphAttr>;
}

export interface GraphAttr {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { s?: string[]; i?: (string | number)[]; f?: number[] };
}

const PASS_THROUGH = new Set(['Identity', 'Reshape', 'Squeeze', 'StopGradient', 'Snapshot']);
const SQUASH_OPS: Record<string, OutputActivation> = { Softmax: 'softmax', Sigmoid: 'sigmoid' };

/** 'a/b:1' → ['a/b', 1]. */
export function parseRef(ref: string): [string, number] {
  const m = /^(.*?)(?::(\d+))?$/.exec(ref)!;
  return [m[1], m[2] ? Number(m[2]) : 0];
}

/** A node's data inputs (control inputs '^a' dropped). */
export function dataInputs(n: GraphNodeDef): string[] {
  return (n.input ?? []).filter((r) => !r.startsWith('^'));
}

/** Walks back from an output through Identity/Reshape to a Softmax/Sigmoid, whose input is the logits. */
export function findGraphLogits(nodes: Map<string, GraphNodeDef>, output: string): { ref: string; activation: OutputActivation } {
  let ref = output;
  for (;;) {
    const def = nodes.get(parseRef(ref)[0]);
    if (!def) return { ref: output, activation: 'none' };
    const squash = SQUASH_OPS[def.op];
    const ins = dataInputs(def);
    if (squash) return { ref: ins[0], activation: squash };
    if (!PASS_THROUGH.has(def.op) || !ins.length) return { ref: output, activation: 'none' };
    ref = ins[0];
  }
}

/**
 * Nodes the targets depend on, ordered by longest distance from the inputs. A plain DFS order is
 * topological too, but can put a node inside an early residual branch after the block outputs that
 * follow it; depth order puts the last block's output last, as in the Layers model.
 */
export function dependencyOrder(nodes: Map<string, GraphNodeDef>, targets: string[]): string[] {
  const seen = new Set<string>();
  const postOrder: string[] = [];
  const deps = (name: string) => dataInputs(nodes.get(name) ?? { name, op: '' }).map((r) => parseRef(r)[0]).filter((d) => nodes.has(d));
  const stack: [string, boolean][] = targets.map((t): [string, boolean] => [t, false]).reverse();
  while (stack.length) {
    const [name, done] = stack.pop()!;
    if (done) {
      postOrder.push(name);
      continue;
    }
    if (seen.has(name)) continue;
    seen.add(name);
    stack.push([name, true]);
    for (const dep of deps(name)) if (!seen.has(dep)) stack.push([dep, false]);
  }
  const depth = new Map<string, number>();
  for (const name of postOrder) depth.set(name, 1 + Math.max(-1, ...deps(name).map((d) => depth.get(d) ?? 0)));
  return postOrder.map((name, i) => ({ name, i, d: depth.get(name)! })).sort((a, b) => a.d - b.d || a.i - b.i).map((e) => e.name);
}
