import { onnx } from 'onnx-proto';
import { A, DataType, floatTensor, int64Tensor, valueInfo } from '../runtimes/onnx/proto';

/** The opset converted graphs are written in: ScatterElements with reduction (MaxPool gradients) needs ≥ 16. */
export const CONVERTED_OPSET = 17;

/**
 * A tensor of the source model while it is written as ONNX. Source models (Keras, TF graphs) are
 * channels-last; ONNX Runtime runs convolutions channels-first. A value of rank ≥ 3 may be stored
 * either way: `channelsFirst` says its channel axis (the model's last) sits at axis 1. Shapes are
 * always the model's own (batch 1), so every rule reasons in the user's layout and asks for the
 * storage it needs; transposes are inserted only where the storage changes, and cached.
 */
export interface Value {
  name: string;
  /** Shape in the model's own layout, batch included. */
  shape: number[];
  channelsFirst: boolean;
}

/** A constant operand in the model's own layout (weights, biases, scalars). */
export interface Constant {
  data: Float32Array;
  shape: number[];
}

export class ConversionError extends Error {
  constructor(readonly what: string, readonly why: string) {
    super(`${what}: ${why}`);
  }
}

const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** Axis permutation moving the last axis to position 1, and back. */
export function toFirstPerm(rank: number): number[] {
  return [0, rank - 1, ...Array.from({ length: rank - 2 }, (_, i) => i + 1)];
}
export function toLastPerm(rank: number): number[] {
  return [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2), 1];
}

/** Where the model's axis `a` of a rank-r value lives in its storage. */
export function storageAxis(v: Value, a: number): number {
  const r = v.shape.length;
  const axis = a < 0 ? a + r : a;
  if (!v.channelsFirst || axis === 0) return axis;
  return axis === r - 1 ? 1 : axis + 1;
}

/** Permutes a constant's values: out[i] = in[perm applied], for a dense row-major array. */
export function permute(c: Constant, perm: number[]): Constant {
  const inShape = c.shape;
  const outShape = perm.map((p) => inShape[p]);
  const inStrides = inShape.map((_, i) => prod(inShape.slice(i + 1)));
  const out = new Float32Array(c.data.length);
  const idx = new Array(outShape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < idx.length; k++) src += idx[k] * inStrides[perm[k]];
    out[o] = c.data[src];
    for (let k = idx.length - 1; k >= 0; k--) {
      if (++idx[k] < outShape[k]) break;
      idx[k] = 0;
    }
  }
  return { data: out, shape: outShape };
}

/**
 * Writes one ONNX graph: nodes named after the source (`conv1/Conv`), weights as initializers, and the
 * layout bookkeeping of `Value`s. Only standard ONNX ops that the gradient builder has rules for.
 */
export class OnnxWriter {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private readonly taken = new Set<string>();
  private readonly stored = new Map<string, string>();
  private readonly smallConstants = new Map<string, string>();

  /** A name not used yet, from a hint such as "conv1/Conv". */
  fresh(hint: string): string {
    let name = hint;
    for (let i = 1; this.taken.has(name); i++) name = `${hint}_${i}`;
    this.taken.add(name);
    return name;
  }

  reserve(name: string): void {
    this.taken.add(name);
  }

  /** Emits one node; returns its outputs, named from the hint (`conv1/Conv`, `conv1/Conv:1`). */
  node(op: string, inputs: string[], attrs: onnx.IAttributeProto[], hint: string, outputs = 1): string[] {
    const names = Array.from({ length: outputs }, (_, i) => this.fresh(i === 0 ? hint : `${hint}:${i}`));
    this.nodes.push({ opType: op, name: this.fresh(`${hint}#node`), input: inputs, output: names, attribute: attrs });
    return names;
  }

  op(op: string, inputs: string[], attrs: onnx.IAttributeProto[], hint: string): string {
    return this.node(op, inputs, attrs, hint)[0];
  }

  f32(data: ArrayLike<number>, dims: number[], hint: string): string {
    const small = data.length <= 16;
    const key = small ? `f|${dims.join(',')}|${Array.from(data).join(',')}` : '';
    if (small && this.smallConstants.has(key)) return this.smallConstants.get(key)!;
    const name = this.fresh(hint);
    this.initializers.push(floatTensor(name, dims, data));
    if (small) this.smallConstants.set(key, name);
    return name;
  }

  i64(values: number[], hint = 'ints'): string {
    const key = `i|${values.join(',')}`;
    const known = this.smallConstants.get(key);
    if (known) return known;
    const name = this.fresh(`const/${hint}`);
    this.initializers.push(int64Tensor(name, [values.length], values));
    this.smallConstants.set(key, name);
    return name;
  }

  scalar(v: number): string {
    return this.f32([v], [], 'const/scalar');
  }

  /** The value stored channels-first (rank ≥ 3), transposing once if needed. */
  first(v: Value): string {
    if (v.channelsFirst || v.shape.length < 3) return v.name;
    return this.transposed(v.name, toFirstPerm(v.shape.length));
  }

  /** The value stored in the model's own (channels-last) layout. */
  last(v: Value): string {
    if (!v.channelsFirst) return v.name;
    return this.transposed(v.name, toLastPerm(v.shape.length));
  }

  private transposed(name: string, perm: number[]): string {
    const key = `${name}|${perm.join(',')}`;
    let t = this.stored.get(key);
    if (!t) {
      t = this.op('Transpose', [name], [A.ints('perm', perm)], `${name}/transpose`);
      this.stored.set(key, t);
    }
    return t;
  }

  /** A value in the given storage. */
  as(v: Value, channelsFirst: boolean): string {
    return channelsFirst ? this.first(v) : this.last(v);
  }

  /**
   * A constant broadcast against a value of rank r in the value's storage: right-aligned to the
   * model's shape, then permuted as the value is stored.
   */
  constantFor(c: Constant, rank: number, channelsFirst: boolean, hint: string): string {
    if (!channelsFirst || c.shape.length === 0 || prod(c.shape) === 1) return this.f32(c.data, c.shape, hint);
    const full = [...new Array(Math.max(0, rank - c.shape.length)).fill(1), ...c.shape];
    const p = permute({ data: c.data, shape: full }, toFirstPerm(rank));
    return this.f32(p.data, p.shape, hint);
  }

  /** Elementwise op over values and constants with numpy broadcasting; the result keeps the storage of its values. */
  elementwise(op: string, operands: (Value | Constant)[], hint: string, attrs: onnx.IAttributeProto[] = []): Value {
    const values = operands.filter((o): o is Value => 'name' in o);
    const rank = Math.max(...operands.map((o) => o.shape.length));
    // Channels-first only when every value has the full rank: a lower-rank value broadcasts by the model's axes.
    const first = values.some((v) => v.channelsFirst) && values.every((v) => v.shape.length === rank) && rank >= 3;
    const shape = broadcastShapes(operands.map((o) => o.shape));
    const inputs = operands.map((o) => ('name' in o ? this.as(o, first) : this.constantFor(o, rank, first, `${hint}/const`)));
    return { name: this.op(op, inputs, attrs, hint), shape, channelsFirst: first };
  }

  unary(op: string, v: Value, hint: string, attrs: onnx.IAttributeProto[] = []): Value {
    return { name: this.op(op, [v.name], attrs, hint), shape: v.shape, channelsFirst: v.channelsFirst };
  }

  /** Reshape in the model's own layout (Flatten, Reshape: element order is the model's). */
  reshape(v: Value, shape: number[], hint: string): Value {
    if (!v.channelsFirst && sameShape(v.shape, shape)) return v;
    return { name: this.op('Reshape', [this.last(v), this.i64(shape)], [], hint), shape, channelsFirst: false };
  }

  model(input: { name: string; dims: number[] }, outputs: string[]): onnx.IModelProto {
    return {
      irVersion: 8,
      opsetImport: [{ domain: '', version: CONVERTED_OPSET }],
      producerName: 'saliency-lens',
      graph: {
        name: 'converted',
        node: this.nodes,
        initializer: this.initializers,
        input: [valueInfo(input.name, DataType.FLOAT, input.dims)],
        output: outputs.map((o) => valueInfo(o)),
      },
    };
  }
}

export function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function broadcastShapes(shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array(rank).fill(1);
  for (const s of shapes) {
    s.forEach((d, i) => {
      const k = rank - s.length + i;
      if (d !== 1) {
        if (out[k] !== 1 && out[k] !== d) throw new ConversionError('shapes', `cannot broadcast ${JSON.stringify(shapes)}`);
        out[k] = d;
      }
    });
  }
  return out;
}
