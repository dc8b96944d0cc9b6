import type { onnx } from 'onnx-proto';
import { A, DataType, floatTensor, int64Tensor } from './proto';

/**
 * Writes the nodes and constants we append to a model: unique names under one prefix, small constants
 * shared, and the few ops whose form depends on the opset (ReduceSum's axes, ScatterElements' reduction)
 * spelled for the model's opset. Only standard ONNX ops, so ONNX Runtime runs them natively.
 */
export class Emitter {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  /** @param taken names already used in the model (tensors and nodes) */
  constructor(readonly opset: number, private readonly taken: Set<string>, private readonly prefix = 'saliency_lens') {}

  /** A fresh tensor (or node) name that collides with nothing in the model. */
  fresh(hint: string): string {
    for (;;) {
      const name = `${this.prefix}/${hint}_${this.counter++}`;
      if (!this.taken.has(name)) {
        this.taken.add(name);
        return name;
      }
    }
  }

  /** Emits one node; returns its output names. */
  node(op: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], outputs = 1, hint = op): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(hint));
    this.nodes.push({ opType: op, name: this.fresh(`${hint}_node`), input: inputs, output: names, attribute: attrs });
    return names;
  }

  op(op: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], hint = op): string {
    return this.node(op, inputs, attrs, 1, hint)[0];
  }

  /** A float32 constant (small ones are shared). */
  f32(values: ArrayLike<number>, dims: number[]): string {
    return this.constant('f', values, dims, (name) => floatTensor(name, dims, values));
  }

  scalar(v: number): string {
    return this.f32([v], []);
  }

  i64(values: ArrayLike<number>, dims: number[] = [values.length]): string {
    return this.constant('i', values, dims, (name) => int64Tensor(name, dims, values));
  }

  private constant(kind: string, values: ArrayLike<number>, dims: number[], make: (name: string) => onnx.ITensorProto): string {
    const small = values.length <= 64;
    const key = small ? `${kind}|${dims.join(',')}|${Array.from(values).join(',')}` : '';
    const known = small ? this.constants.get(key) : undefined;
    if (known) return known;
    const name = this.fresh(kind === 'f' ? 'const' : 'ints');
    this.initializers.push(make(name));
    if (small) this.constants.set(key, name);
    return name;
  }

  // --- shape ops -------------------------------------------------------------------------------

  reshape(x: string, shape: number[]): string {
    if (shape.filter((d) => d < 0).length > 1) throw new Error(`reshape to ${JSON.stringify(shape)}: more than one inferred axis`);
    return this.op('Reshape', [x, this.i64(shape)]);
  }

  transpose(x: string, perm: number[]): string {
    if (perm.every((p, i) => p === i)) return x;
    return this.op('Transpose', [x], [A.ints('perm', perm)]);
  }

  slice(x: string, starts: number[], ends: number[], axes: number[], steps?: number[]): string {
    const inputs = [x, this.i64(starts), this.i64(ends), this.i64(axes)];
    if (steps) inputs.push(this.i64(steps));
    return this.op('Slice', inputs);
  }

  /** Zero padding; pads as ONNX spells them: all begins, then all ends. */
  pad(x: string, pads: number[]): string {
    if (pads.every((p) => p === 0)) return x;
    return this.op('Pad', [x, this.i64(pads)], [A.s('mode', 'constant')]);
  }

  /** Sum over axes; opset 13 moved the axes from an attribute to an input. */
  reduceSum(x: string, axes: number[], keepdims: boolean): string {
    if (axes.length === 0) return x;
    const keep = A.i('keepdims', keepdims ? 1 : 0);
    if (this.opset >= 13) return this.op('ReduceSum', [x, this.i64(axes)], [keep]);
    return this.op('ReduceSum', [x], [A.ints('axes', axes), keep]);
  }

  /** Broadcasts x to a shape (numpy rules: the seed axis of a gradient survives a 1 in `shape`). */
  expand(x: string, shape: number[]): string {
    if (shape.some((d) => d < 0)) throw new Error(`expand to unknown shape ${JSON.stringify(shape)}`);
    return this.op('Expand', [x, this.i64(shape)]);
  }

  zeros(shape: number[]): string {
    if (shape.some((d) => d < 0)) throw new Error(`zeros of unknown shape ${JSON.stringify(shape)}`);
    const value: onnx.ITensorProto = floatTensor('', [1], [0]);
    return this.op('ConstantOfShape', [this.i64(shape)], [A.t('value', value)], 'zeros');
  }

  /** Float zeros of t's shape at run time (for shapes only known then, e.g. a batch of any size). */
  zerosLike(t: string): string {
    const value: onnx.ITensorProto = floatTensor('', [1], [0]);
    return this.op('ConstantOfShape', [this.op('Shape', [t])], [A.t('value', value)], 'zeros');
  }

  // --- arithmetic ------------------------------------------------------------------------------

  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }

  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }

  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }

  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }

  neg(a: string): string {
    return this.op('Neg', [a]);
  }

  /** Sums gradient contributions (one input passes through). */
  sum(xs: string[]): string {
    if (xs.length === 1) return xs[0];
    return this.op('Sum', xs, [], 'accumulate');
  }

  /** cond ? a : b with broadcasting. */
  where(cond: string, a: string, b: string): string {
    return this.op('Where', [cond, a, b]);
  }

  greater(a: string, b: string): string {
    return this.op('Greater', [a, b]);
  }

  less(a: string, b: string): string {
    return this.op('Less', [a, b]);
  }

  and(a: string, b: string): string {
    return this.op('And', [a, b]);
  }

  not(a: string): string {
    return this.op('Not', [a]);
  }

  /** ScatterElements along axis 1, adding at repeated indices (opset 16) or assuming none repeat. */
  scatter(data: string, indices: string, updates: string, add: boolean): string {
    const attrs = [A.i('axis', 1)];
    if (add) {
      if (this.opset < 16) throw new Error('ScatterElements with reduction needs opset 16');
      attrs.push(A.s('reduction', 'add'));
    }
    return this.op('ScatterElements', [data, indices, updates], attrs);
  }

  cast(x: string, to: number): string {
    return this.op('Cast', [x], [A.i('to', to)]);
  }

  /** A bool mask as float 0/1. */
  maskOf(cond: string): string {
    return this.cast(cond, DataType.FLOAT);
  }
}
