import type { onnx } from 'onnx-proto';
import { DataType, floatTensor, tensorData, tensorValues } from './proto';

/** What the user reads when a model was widened (the model's warnings list). */
export const FLOAT16_NOTE = 'computed in float32 (the model stores float16 weights)';

const HALF = DataType.FLOAT16;

/** Attributes that name an element type (Cast's `to`, RandomNormal's `dtype`, …). */
const TYPE_ATTRS = new Set(['to', 'dtype']);

let table: Float32Array | undefined;

/** Every float16 bit pattern's value: a weight of millions of halves converts by lookup. */
function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    const raw = Buffer.alloc(2);
    for (let h = 0; h < 65536; h++) {
      raw.writeUInt16LE(h);
      table[h] = tensorValues({ dataType: HALF, dims: [1], rawData: raw })[0];
    }
  }
  return table;
}

function widenTensor(t: onnx.ITensorProto): onnx.ITensorProto {
  const dims = (t.dims ?? []).map(Number);
  const raw = tensorData(t);
  let wide: onnx.ITensorProto;
  if (raw) {
    const n = dims.reduce((a, b) => a * b, 1);
    if (raw.length !== n * 2) throw new Error(`tensor "${t.name}" holds ${raw.length} bytes, expected ${n * 2}`);
    const lut = halfTable();
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = lut[raw[2 * i] | (raw[2 * i + 1] << 8)];
    wide = floatTensor(t.name ?? '', dims, values);
  } else {
    // int32_data: one half's bits per entry.
    wide = floatTensor(t.name ?? '', dims, tensorValues(t));
  }
  return { ...wide, dims: t.dims, docString: t.docString };
}

function widenValueInfo(info: onnx.IValueInfoProto): void {
  const tt = info.type?.tensorType;
  if (tt?.elemType === HALF) tt.elemType = DataType.FLOAT;
}

/**
 * Rewrites a model that stores or computes in float16 to compute in float32: float16 initializers and
 * tensor attributes (Constant values, ConstantOfShape fills) become float32, Cast (and any `to`/`dtype`
 * attribute) to float16 casts to float32, float16 inputs, outputs and value infos are float32. The
 * gradient rules and the engine's float32 images then apply as to any float32 model; values are the
 * float16 weights exactly, only the arithmetic is wider. Returns whether anything changed.
 */
export function widenFloat16(model: onnx.ModelProto): boolean {
  let changed = false;
  const graphs: (onnx.IGraphProto | null | undefined)[] = [model.graph];
  const nodeLists: (onnx.INodeProto[] | null | undefined)[] = (model.functions ?? []).map((f) => f.node);
  while (graphs.length || nodeLists.length) {
    const g = graphs.pop();
    if (g) {
      g.initializer = (g.initializer ?? []).map((t) => {
        if (t.dataType !== HALF) return t;
        changed = true;
        return widenTensor(t);
      });
      for (const info of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) {
        if (info.type?.tensorType?.elemType === HALF) changed = true;
        widenValueInfo(info);
      }
      nodeLists.push(g.node);
    }
    for (const node of nodeLists.pop() ?? []) {
      for (const a of node.attribute ?? []) {
        if (a.t?.dataType === HALF) {
          a.t = widenTensor(a.t);
          changed = true;
        }
        if (a.tensors?.some((t) => t.dataType === HALF)) {
          a.tensors = a.tensors.map((t) => (t.dataType === HALF ? widenTensor(t) : t));
          changed = true;
        }
        if (TYPE_ATTRS.has(a.name ?? '') && Number(a.i ?? 0) === HALF) {
          a.i = DataType.FLOAT;
          changed = true;
        }
        graphs.push(a.g);
        for (const g2 of a.graphs ?? []) graphs.push(g2);
      }
    }
  }
  return changed;
}
