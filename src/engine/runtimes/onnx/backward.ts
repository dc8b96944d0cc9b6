import type { onnx } from 'onnx-proto';
import type { Emitter } from './emitter';
import type { GNode, OnnxGraph, TensorFacts } from './graph';
import { BATCH, NotBatchable, RULES, RuleContext } from './gradRules';

export interface BackwardRequest {
  /** Tensor holding the logits. */
  logits: string;
  /** Graph input [seeds, classes]: the vector (or vectors) the Jacobian is multiplied with. */
  seed: string;
  /** Rows of the seed; BATCH (gradRules.ts) for a batched graph, whose row count is known at run time. */
  seeds: number;
  /**
   * The forward pass runs a batch of inputs, one per seed row (axis 0 of every tensor on the path is the
   * batch), rather than one input under several seeds. Implies seeds = BATCH.
   */
  batched?: boolean;
  /** Guided Backpropagation: ReLUs pass back only positive gradients where their input was positive. */
  guided?: boolean;
  /** Tensors whose gradients are wanted. */
  targets: string[];
}

export interface BackwardGraph {
  /** Gradient tensor per target; undefined when the logits do not depend on the target. */
  grads: Map<string, string | undefined>;
  /** Forward nodes rewritten for the backward pass (MaxPool producing its Indices). */
  rewritten: Map<GNode, onnx.INodeProto>;
}

export type Refuse = (node: GNode, detail?: string) => never;

/**
 * Appends to `e` the reverse-mode pass seed·∂logits/∂target for each target, through only the nodes on
 * paths from the targets to the logits (constants and weights never get gradients). Contributions to a
 * tensor from several consumers are summed once, just before its producer runs backward.
 */
export function emitBackward(graph: OnnxGraph, facts: TensorFacts, e: Emitter, req: BackwardRequest, refuse: Refuse): BackwardGraph {
  const fromTargets = graph.descendants(req.targets, facts.types, true);
  const toLogits = graph.ancestors([req.logits]);
  const live = (t: string) => !!t && fromTargets.has(t) && toLogits.has(t);
  const path = graph.nodes.filter((n) => n.inputs.some((i) => i && fromTargets.has(i)) && n.outputs.some(live));
  const shapeOf = (t: string) => {
    const s = facts.shapes.get(t);
    if (!s) throw new Error(`no shape known for tensor "${t}"`);
    return s;
  };
  const batched = !!req.batched;
  if (batched && req.seeds !== BATCH) throw new Error('a batched backward graph takes seeds = BATCH');
  if (req.seeds !== 1) {
    for (const n of path) {
      for (const t of [...n.inputs, ...n.outputs]) {
        if (live(t) && shapeOf(t)[0] !== 1) throw new NotBatchable(t);
      }
    }
  }
  const rewritten = new Map<GNode, onnx.INodeProto>();
  const parts = new Map<string, string[]>();
  const done = new Map<string, string | undefined>();
  const gradOf = (t: string): string | undefined => {
    if (!done.has(t)) {
      const list = parts.get(t);
      done.set(t, list && list.length ? e.sum(list) : undefined);
    }
    return done.get(t);
  };
  if (live(req.logits)) {
    const shape = shapeOf(req.logits);
    const seeded = req.seeds !== 1 || shape[0] === 1 ? [req.seeds, ...shape.slice(1)] : shape;
    parts.set(req.logits, [e.reshape(req.seed, seeded)]);
  }
  for (let k = path.length - 1; k >= 0; k--) {
    const node = path[k];
    const dy = node.outputs.map((o) => (live(o) ? gradOf(o) : undefined));
    if (dy.every((d) => d === undefined)) continue;
    const rule = RULES[node.op];
    if (!rule) refuse(node);
    const ctx: RuleContext = {
      node,
      e,
      dy,
      needs: node.inputs.map((i) => !!i && fromTargets.has(i)),
      seeds: req.seeds,
      batched,
      guided: !!req.guided,
      opset: graph.opset,
      shape: shapeOf,
      value: (t) => facts.values.get(t) ?? graph.constantValues(t),
      unsupported: (detail) => refuse(node, detail),
      maxPoolIndices: () => {
        if (node.outputs[1]) return node.outputs[1];
        const proto = rewritten.get(node);
        if (proto) return proto.output![1];
        const name = e.fresh('argmax');
        rewritten.set(node, { ...node.proto, output: [node.outputs[0], name] });
        return name;
      },
    };
    const dxs = rule(ctx);
    node.inputs.forEach((input, i) => {
      const dx = dxs[i];
      if (!dx || !ctx.needs[i]) return;
      if (done.has(input)) throw new Error(`gradient of "${input}" used before it was complete`);
      parts.set(input, [...(parts.get(input) ?? []), dx]);
    });
  }
  return { grads: new Map(req.targets.map((t) => [t, gradOf(t)])), rewritten };
}
