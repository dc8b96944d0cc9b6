import type * as tf from '@tensorflow/tfjs';

type Tensor = tf.Tensor;

/**
 * One unit of execution in a traced model: a layer call, or several fused into one. Values live in
 * numbered slots shared by all steps of a plan.
 */
export interface Step {
  name: string;
  inputs: number[];
  outputs: number[];
  forward(xs: Tensor[]): Tensor[];
  /** Gradient for each input, given the forward values and the output gradients (undefined = zero). */
  backward(xs: Tensor[], ys: Tensor[], dys: (Tensor | undefined)[]): (Tensor | undefined)[];
}

/** Steps in execution order, and which step produces each slot (-1: model input; undefined: not computed). */
export interface Plan {
  steps: Step[];
  producer: Map<number, number>;
  /** Slots this plan never materializes (inside fused steps). */
  hidden: Set<number>;
}

export function makePlan(steps: Step[], inputSlots: number[], hidden: Set<number>): Plan {
  const producer = new Map<number, number>(inputSlots.map((s) => [s, -1]));
  steps.forEach((step, i) => step.outputs.forEach((s) => producer.set(s, i)));
  return { steps, producer, hidden };
}

interface Edges {
  inputs: number[];
  outputs: number[];
}

/** Slots whose value depends on any of `from` (forward reachability). */
export function slotsReachableFrom(nodes: Edges[], from: number[]): Set<number> {
  const reach = new Set(from);
  for (const node of nodes) {
    if (node.inputs.some((s) => reach.has(s))) node.outputs.forEach((s) => reach.add(s));
  }
  return reach;
}

/** Slots that `to` depends on (backward reachability). */
export function slotsLeadingTo(nodes: Edges[], to: number[]): Set<number> {
  const needed = new Set(to);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if (node.outputs.some((s) => needed.has(s))) node.inputs.forEach((s) => needed.add(s));
  }
  return needed;
}
