import { onnx } from 'onnx-proto';
import { fileSliceOf, readSlice } from './weightFile';

/**
 * Small helpers over the protobufjs classes of `onnx-proto`: int64 fields arrive as Long objects,
 * attributes as a list, tensors in one of several storage fields. Everything the runtime reads from
 * or writes into a ModelProto goes through here.
 */

export const DataType = onnx.TensorProto.DataType;
export const AttrType = onnx.AttributeProto.AttributeType;

type LongLike = number | { toNumber(): number } | null | undefined;

/** int64 proto fields are Long objects (or numbers when small): a plain number. */
export function num(v: LongLike): number {
  if (v == null) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export function nums(v: LongLike[] | null | undefined): number[] {
  return (v ?? []).map(num);
}

export function findAttr(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export function attrInt(node: onnx.INodeProto, name: string, fallback: number): number {
  const a = findAttr(node, name);
  return a ? num(a.i) : fallback;
}

export function attrInts(node: onnx.INodeProto, name: string): number[] | undefined {
  const a = findAttr(node, name);
  return a ? nums(a.ints) : undefined;
}

export function attrFloat(node: onnx.INodeProto, name: string, fallback: number): number {
  const a = findAttr(node, name);
  return a ? (a.f ?? fallback) : fallback;
}

export function attrFloats(node: onnx.INodeProto, name: string): number[] | undefined {
  const a = findAttr(node, name);
  return a ? [...(a.floats ?? [])] : undefined;
}

export function attrString(node: onnx.INodeProto, name: string, fallback: string): string {
  const a = findAttr(node, name);
  return a?.s ? Buffer.from(a.s).toString('utf8') : fallback;
}

/** Attribute builders for nodes we emit. */
export const A = {
  i: (name: string, v: number): onnx.IAttributeProto => ({ name, type: AttrType.INT, i: v }),
  ints: (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: AttrType.INTS, ints: v }),
  f: (name: string, v: number): onnx.IAttributeProto => ({ name, type: AttrType.FLOAT, f: v }),
  floats: (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: AttrType.FLOATS, floats: v }),
  s: (name: string, v: string): onnx.IAttributeProto => ({ name, type: AttrType.STRING, s: Buffer.from(v, 'utf8') }),
  t: (name: string, v: onnx.ITensorProto): onnx.IAttributeProto => ({ name, type: AttrType.TENSOR, t: v }),
};

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

export function isFloatType(t: number | undefined): boolean {
  return t !== undefined && FLOAT_TYPES.has(t);
}

/** ORT's names of tensor element types, for messages and for probe results. */
export const TYPE_NAMES: Record<number, string> = {
  [DataType.FLOAT]: 'float32', [DataType.UINT8]: 'uint8', [DataType.INT8]: 'int8', [DataType.UINT16]: 'uint16',
  [DataType.INT16]: 'int16', [DataType.INT32]: 'int32', [DataType.INT64]: 'int64', [DataType.STRING]: 'string',
  [DataType.BOOL]: 'bool', [DataType.FLOAT16]: 'float16', [DataType.DOUBLE]: 'float64', [DataType.UINT32]: 'uint32',
  [DataType.UINT64]: 'uint64', [DataType.BFLOAT16]: 'bfloat16',
};

export function tensorSize(t: onnx.ITensorProto): number {
  return nums(t.dims).reduce((a, b) => a * b, 1);
}

const ELEMENT_BYTES: Record<number, number> = {
  [DataType.DOUBLE]: 8, [DataType.INT64]: 8, [DataType.UINT64]: 8, [DataType.FLOAT]: 4, [DataType.INT32]: 4, [DataType.UINT32]: 4,
  [DataType.FLOAT16]: 2, [DataType.BFLOAT16]: 2, [DataType.INT16]: 2, [DataType.UINT16]: 2,
};

/** Bytes a tensor's values take in memory (its raw data, or elements × width when stored in typed fields). */
export function tensorBytes(t: onnx.ITensorProto): number {
  if (t.rawData && t.rawData.length > 0) return t.rawData.length;
  const slice = fileSliceOf(t);
  if (slice) return slice.length;
  return tensorSize(t) * (ELEMENT_BYTES[t.dataType ?? 0] ?? 1);
}

/** A tensor's raw bytes: held in memory, or read now from the file they were left in (weightFile.ts); undefined for typed fields. */
export function tensorData(t: onnx.ITensorProto): Uint8Array | undefined {
  if (t.rawData && t.rawData.length > 0) return t.rawData;
  const slice = fileSliceOf(t);
  return slice ? readSlice(slice) : undefined;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/**
 * The values of a (small) tensor as numbers: for constants the rules need (pads, starts, a Clip bound).
 * Weights stay in the proto and never pass through here.
 */
export function tensorValues(t: onnx.ITensorProto): number[] {
  const n = tensorSize(t);
  const data = tensorData(t);
  const raw = data ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : undefined;
  const type = t.dataType ?? DataType.UNDEFINED;
  if (raw) {
    const read: Record<number, [number, (o: number) => number]> = {
      [DataType.FLOAT]: [4, (o) => raw.readFloatLE(o)],
      [DataType.DOUBLE]: [8, (o) => raw.readDoubleLE(o)],
      [DataType.INT64]: [8, (o) => Number(raw.readBigInt64LE(o))],
      [DataType.UINT64]: [8, (o) => Number(raw.readBigUInt64LE(o))],
      [DataType.INT32]: [4, (o) => raw.readInt32LE(o)],
      [DataType.UINT32]: [4, (o) => raw.readUInt32LE(o)],
      [DataType.INT16]: [2, (o) => raw.readInt16LE(o)],
      [DataType.UINT16]: [2, (o) => raw.readUInt16LE(o)],
      [DataType.INT8]: [1, (o) => raw.readInt8(o)],
      [DataType.UINT8]: [1, (o) => raw.readUInt8(o)],
      [DataType.BOOL]: [1, (o) => raw.readUInt8(o)],
      [DataType.FLOAT16]: [2, (o) => halfToFloat(raw.readUInt16LE(o))],
    };
    const reader = read[type];
    if (!reader) throw new Error(`cannot read tensor "${t.name}" of type ${TYPE_NAMES[type] ?? type}`);
    const [width, at] = reader;
    if (raw.length < n * width) throw new Error(`tensor "${t.name}" holds ${raw.length} bytes, expected ${n * width}`);
    return Array.from({ length: n }, (_, i) => at(i * width));
  }
  switch (type) {
    case DataType.FLOAT: return [...(t.floatData ?? [])];
    case DataType.DOUBLE: return [...(t.doubleData ?? [])];
    case DataType.INT64: return nums(t.int64Data);
    case DataType.UINT64: case DataType.UINT32: return nums(t.uint64Data);
    case DataType.FLOAT16: return (t.int32Data ?? []).map(halfToFloat);
    default: return [...(t.int32Data ?? [])];
  }
}

export function floatTensor(name: string, dims: number[], values: ArrayLike<number>): onnx.ITensorProto {
  const data = Float32Array.from(values);
  return { name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function int64Tensor(name: string, dims: number[], values: ArrayLike<number>): onnx.ITensorProto {
  const data = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
  return { name, dims, dataType: DataType.INT64, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** A graph input or output: element type and dimensions (a string is a free dimension; omitted: unknown shape). */
export function valueInfo(name: string, elemType?: number, dims?: (number | string)[]): onnx.IValueInfoProto {
  if (elemType === undefined) return { name };
  const shape = dims && { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name, type: { tensorType: { elemType, shape } } };
}

/** Dimensions of a graph input as numbers, or strings for free ones ('' when neither is given). */
export function declaredDims(info: onnx.IValueInfoProto): (number | string)[] | undefined {
  const shape = info.type?.tensorType?.shape;
  if (!shape) return undefined;
  return (shape.dim ?? []).map((d) => (d.dimValue != null && num(d.dimValue) > 0 ? num(d.dimValue) : d.dimParam ?? ''));
}
