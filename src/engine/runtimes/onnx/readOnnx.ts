import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { fileError, firstLine } from '../../errors';
import { num } from './proto';
import { scanModelFile } from './scanOnnx';
import { checkStoredBytes, privateCopy, referToFile, stampOf } from './weightFile';

/** protobuf cannot hold more in one message: an ONNX model whose weights live outside must still fit once inlined. */
const MAX_INLINE_BYTES = 2 ** 31 - 1;

/**
 * Initializers of the main graph this large stay in a private copy of their file (weightFile.ts): ONNX
 * Runtime maps them from there, and nothing reads them into memory unless asked (weight randomization,
 * float16 widening).
 */
export const LEAVE_IN_FILE_BYTES = { min: 1 << 20 };

export interface OnnxFile {
  /** Absolute path of the .onnx file. */
  file: string;
  dir: string;
  model: onnx.ModelProto;
  /** External-data files the model reads, absolute (what a change on disk should reload). */
  externalFiles: string[];
}

/** A name from the file, quoted for a one-line message: newlines and control characters escaped, long names cut. */
function q(name: string | null | undefined): string {
  const s = String(name ?? '');
  return JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}…` : s);
}

/** Decodes the protobuf and checks it looks like a model, so a PNG renamed .onnx is named as such. */
export function decodeModel(bytes: Uint8Array, file: string): onnx.ModelProto {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    const why = /index out of range/.test(String(err)) ? 'it is truncated or not an ONNX file' : 'it is not an ONNX file';
    throw fileError(file, `could not be read as an ONNX model: ${why} (${firstLine(err, 200)})`);
  }
  const graph = model.graph;
  if (!graph || num(model.irVersion) <= 0 || (graph.node ?? []).length === 0 || (graph.output ?? []).length === 0) {
    throw fileError(file, 'is not an ONNX model (no graph with nodes and outputs in it)');
  }
  return model;
}

/** Entries of external_data as a map: location, offset, length, checksum. */
function externalEntries(t: onnx.ITensorProto): Map<string, string> {
  return new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
}

/**
 * Every tensor a model can hold: initializers (dense and sparse) and tensor attributes of every graph,
 * nested If/Loop/Scan bodies included, function bodies and training graphs. ONNX Runtime resolves the
 * external data of each of them, so each must be read here, through the checks below.
 */
function allTensors(model: onnx.ModelProto): onnx.ITensorProto[] {
  const tensors: onnx.ITensorProto[] = [];
  const sparse = (s: onnx.ISparseTensorProto | null | undefined) => {
    if (s?.values) tensors.push(s.values);
    if (s?.indices) tensors.push(s.indices);
  };
  // Explicit stacks: a deeply nested file must not overflow the call stack.
  const graphs: (onnx.IGraphProto | null | undefined)[] = [model.graph];
  const nodeLists: (onnx.INodeProto[] | null | undefined)[] = (model.functions ?? []).map((f) => f.node);
  for (const info of model.trainingInfo ?? []) graphs.push(info.initialization, info.algorithm);
  while (graphs.length || nodeLists.length) {
    const g = graphs.pop();
    if (g) {
      for (const t of g.initializer ?? []) tensors.push(t);
      (g.sparseInitializer ?? []).forEach(sparse);
      nodeLists.push(g.node);
    }
    for (const node of nodeLists.pop() ?? []) {
      for (const a of node.attribute ?? []) {
        if (a.t) tensors.push(a.t);
        for (const t of a.tensors ?? []) tensors.push(t);
        sparse(a.sparseTensor);
        (a.sparseTensors ?? []).forEach(sparse);
        graphs.push(a.g);
        for (const g2 of a.graphs ?? []) graphs.push(g2);
      }
    }
  }
  return tensors;
}

const isExternal = (t: onnx.ITensorProto) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;

/**
 * Second guard for allTensors: any object anywhere in the decoded model still marked EXTERNAL (a place
 * the walk above missed) would make ONNX Runtime read a file relative to the working directory.
 */
function findExternal(model: onnx.ModelProto): onnx.ITensorProto | undefined {
  const stack: unknown[] = [model];
  while (stack.length) {
    const v = stack.pop();
    if (!v || typeof v !== 'object' || ArrayBuffer.isView(v)) continue;
    if (Array.isArray(v)) {
      // Arrays of numbers, strings or Longs (tensor data) hold no tensors: skip them whole.
      const first = v[0];
      if (first && typeof first === 'object' && typeof (first as { toNumber?: unknown }).toNumber !== 'function') for (const x of v) stack.push(x);
      continue;
    }
    if (isExternal(v as onnx.ITensorProto)) return v as onnx.ITensorProto;
    for (const key of Object.keys(v)) stack.push((v as Record<string, unknown>)[key]);
  }
  return undefined;
}

/**
 * Reads the bytes of tensors stored outside the model (data_location EXTERNAL) into raw_data, so the
 * model can be handed to ONNX Runtime as one buffer. Locations must stay inside the model's folder,
 * also through symlinks: a model is data and must not read files elsewhere.
 */
function inlineExternalData(model: onnx.ModelProto, file: string): string[] {
  const dir = path.dirname(file);
  const realDir = fs.realpathSync(dir);
  const files = new Map<string, { size: number; stamp: ReturnType<typeof stampOf>; real: string; copy?: ReturnType<typeof privateCopy> | null }>();
  const dense = new Set<onnx.ITensorProto>(model.graph?.initializer ?? []);
  let total = 0;
  for (const t of allTensors(model)) {
    if (!isExternal(t)) continue;
    const entries = externalEntries(t);
    const location = entries.get('location');
    if (!location) throw fileError(file, `tensor ${q(t.name)} is stored externally but names no location`);
    // The path is named in messages (and opened): a location with control characters is no file name.
    if (/[\u0000-\u001f\u007f]/.test(location)) {
      throw fileError(file, `external data location ${q(location)} of tensor ${q(t.name)} is not a usable file name`);
    }
    const target = path.resolve(dir, location);
    if (path.isAbsolute(location) || path.relative(dir, target).startsWith('..')) {
      throw fileError(file, `external data ${q(location)} of tensor ${q(t.name)} points outside the model's folder`);
    }
    if (!fs.existsSync(target)) throw fileError(target, `external data file is missing (tensor ${q(t.name)} of ${path.basename(file)} is stored there)`);
    if (path.relative(realDir, fs.realpathSync(target)).startsWith('..')) {
      throw fileError(target, 'external data file links outside the model\'s folder');
    }
    if (!fs.statSync(target).isFile()) throw fileError(target, 'external data is not a regular file');
    let info = files.get(target);
    if (!info) {
      const real = fs.realpathSync(target);
      info = { size: fs.statSync(real).size, stamp: stampOf(real), real };
      files.set(target, info);
    }
    // Decimal byte counts, as the ONNX spec writes them: "abc", "-1" or "1.5" is a broken file, not a short one.
    for (const key of ['offset', 'length']) {
      const v = entries.get(key);
      if (v !== undefined && !/^\d{1,15}$/.test(v)) {
        throw fileError(file, `tensor ${q(t.name)} has a malformed external-data ${key} ${q(v)} (expected a byte count)`);
      }
    }
    const offset = Number(entries.get('offset') ?? 0);
    const length = entries.has('length') ? Number(entries.get('length')) : info.size - offset;
    if (length < 0 || offset + length > info.size) {
      throw fileError(target, `external data is truncated: tensor ${q(t.name)} needs bytes ${offset}–${offset + length}, the file has ${info.size}`);
    }
    total += length;
    if (total > MAX_INLINE_BYTES) throw fileError(file, 'weights are larger than 2 GB, which Saliency Lens cannot load yet');
    checkStoredBytes(t, length, file);
    t.externalData = [];
    t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
    // Large weights stay in a private copy of their file; the rest (and tensors inside nodes, which sessions copy as they are) is read now.
    const leave = dense.has(t) && length >= LEAVE_IN_FILE_BYTES.min;
    if (leave && info.copy === undefined) info.copy = privateCopy(info.real, info.stamp, target) ?? null;
    if (leave && info.copy) {
      t.rawData = new Uint8Array(0);
      referToFile(t, { ...info.copy, offset, length, shown: target });
    } else {
      t.rawData = readBytes(info.real, offset, length);
    }
  }
  const left = findExternal(model);
  if (left) throw fileError(file, `tensor ${q(left.name)} is stored externally in a place Saliency Lens cannot read it from`);
  return [...files.keys()];
}

function readBytes(file: string, offset: number, length: number): Uint8Array {
  const out = Buffer.alloc(length);
  const fd = fs.openSync(file, 'r');
  try {
    for (let done = 0; done < length;) {
      const n = fs.readSync(fd, out, done, length - done, offset + done);
      if (n <= 0) throw fileError(file, `ended before byte ${offset + length}`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/**
 * Decodes the model, leaving the raw data of large initializers in a private copy of the file (weightFile.ts);
 * when the walk meets anything unexpected, or no copy can be made, reads the file whole.
 */
function readModel(file: string): onnx.ModelProto {
  const real = fs.realpathSync(file);
  // Taken before the scan: the copy must be of the file the offsets were read from.
  const stamp = stampOf(real);
  let scanned: ReturnType<typeof scanModelFile> | undefined;
  try {
    scanned = scanModelFile(real, LEAVE_IN_FILE_BYTES.min);
  } catch {
    scanned = undefined;
  }
  if (scanned) {
    const model = decodeModel(scanned.bytes, file);
    if (scanned.leftOut.size === 0) return model;
    const initializers = model.graph?.initializer ?? [];
    for (const [i, { length }] of scanned.leftOut) {
      const t = initializers[i];
      if (!t || t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) throw fileError(file, 'has a malformed initializer list');
      checkStoredBytes(t, length, file);
    }
    const copy = privateCopy(real, stamp, file);
    if (copy) {
      for (const [i, { offset, length }] of scanned.leftOut) referToFile(initializers[i], { ...copy, offset, length, shown: file });
      return model;
    }
  }
  return decodeModel(fs.readFileSync(file), file);
}

/** Reads an .onnx file and the external-data files beside it; every failure names the file. */
export function readOnnxFile(modelPath: string): OnnxFile {
  const file = path.resolve(modelPath);
  if (!fs.existsSync(file)) throw fileError(modelPath, 'no such file');
  if (!fs.statSync(file).isFile()) throw fileError(file, 'is not a file');
  const model = readModel(file);
  const externalFiles = inlineExternalData(model, file);
  return { file, dir: path.dirname(file), model, externalFiles };
}
