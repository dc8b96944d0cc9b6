import type { Emitter } from './emitter';
import type { GNode } from './graph';

/**
 * What every gradient rule gets (RuleContext) and the helpers the rule modules share: the seed axis
 * (gshape, axis0), reshapes and zeros of gradients, and summing a broadcast gradient back.
 */

/** Thrown while building a multi-seed or batched graph through an op that mixes the seed (or batch) axis. */
export class NotBatchable extends Error {}

/** `seeds` of a batched graph: as many as the input rows, known at run time (a Reshape target's -1). */
export const BATCH = -1;

export interface RuleContext {
  node: GNode;
  e: Emitter;
  /** Gradient of each output; undefined where none reaches it. */
  dy: (string | undefined)[];
  /** Which inputs need a gradient. */
  needs: boolean[];
  /** Seeds run at once (the gradients' axis 0), or BATCH in a batched graph. */
  seeds: number;
  /** The forward tensors carry a batch of inputs on axis 0, one per seed (a batched graph). */
  batched: boolean;
  /** Guided Backpropagation: ReLUs pass back only positive gradients (see `relu`). */
  guided: boolean;
  opset: number;
  /** Concrete forward shape of any tensor of the model. */
  shape(t: string): number[];
  /** Values of a constant (or input-independent) tensor, when known. */
  value(t: string): number[] | undefined;
  unsupported(detail?: string): never;
  /** Name of the node's Indices output (MaxPool): the forward node is rewritten to produce it. */
  maxPoolIndices(): string;
}

export type Rule = (c: RuleContext) => (string | undefined)[];

export const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);
export const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
/** Slice end meaning "to the end" for negative steps. */
export const BEFORE_START = -(2 ** 62);

export function axis0(c: RuleContext): void {
  if (c.seeds !== 1) throw new NotBatchable(c.node.name);
}

/** Shape of the gradient of a tensor of forward shape `s`: its batch axis carries the seeds. */
export function gshape(c: RuleContext, s: number[]): number[] {
  if (c.seeds === 1) return s;
  if (s.length === 0 || s[0] !== 1) throw new NotBatchable(c.node.name);
  return [c.seeds, ...s.slice(1)];
}

/** A Reshape target for a gradient: the forward shape with the seed axis. */
export function gradReshape(c: RuleContext, g: string, forward: number[]): string {
  return c.e.reshape(g, gshape(c, forward));
}

/** Reshapes a forward tensor: in a batched graph its axis 0 is the batch, as a gradient's. */
export function forwardReshape(c: RuleContext, t: string, forward: number[]): string {
  return c.batched ? gradReshape(c, t, forward) : c.e.reshape(t, forward);
}

/** Zeros shaped like the gradient of forward tensor t (in a batched graph, t's own shape at run time). */
export function gradZeros(c: RuleContext, t: string): string {
  return c.batched ? c.e.zerosLike(t) : c.e.zeros(gshape(c, c.shape(t)));
}

/** Sums a gradient of forward shape `from` down to the shape `to` it was broadcast from. */
export function unbroadcast(c: RuleContext, g: string, from: number[], to: number[]): string {
  const lead = from.length - to.length;
  const axes: number[] = [];
  for (let i = 0; i < from.length; i++) {
    if (i < lead || (to[i - lead] === 1 && from[i] !== 1)) axes.push(i);
  }
  if (lead > 0) axis0(c);
  let r = c.e.reduceSum(g, axes, true);
  if (lead > 0) r = gradReshape(c, r, to);
  return r;
}

export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

