import * as fs from 'node:fs';

/**
 * Reads an .onnx file without reading its large weights: a protobuf walk over the file that copies every
 * field except the raw data of large initializers of the main graph, whose place in the file (offset,
 * length) it records instead. The copy is a smaller ModelProto (lengths rewritten) for the ordinary
 * decoder, assembled from runs of neighbouring fields copied as they are. Anything unexpected throws, and
 * the caller reads the file whole instead (whose decoder words the error for the user).
 */

export interface ScannedModel {
  /** The model's bytes with the large raw data left out. */
  bytes: Uint8Array;
  /** Index in graph.initializer → where its raw data lies in the file. */
  leftOut: Map<number, { offset: number; length: number }>;
  size: number;
  /** Pieces the bytes were assembled from (runs of copied fields and new headers). */
  parts: number;
}

const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;

/** Positioned reads through a buffer: the walk mostly moves forward over small fields. */
class FileReader {
  private readonly buf = Buffer.alloc(1 << 20);
  private start = 0;
  private filled = 0;
  pos = 0;

  constructor(private readonly fd: number, readonly size: number) {}

  private byte(): number {
    if (this.pos >= this.size) throw new Error('unexpected end of file');
    if (this.pos < this.start || this.pos >= this.start + this.filled) {
      this.start = this.pos;
      this.filled = fs.readSync(this.fd, this.buf, 0, this.buf.length, this.pos);
      if (this.filled <= 0) throw new Error('unexpected end of file');
    }
    return this.buf[this.pos++ - this.start];
  }

  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      const b = this.byte();
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw new Error('malformed varint');
  }

  /** Fills `out` with the file's bytes from `from` on. */
  readInto(out: Uint8Array, from: number): void {
    for (let done = 0; done < out.length;) {
      const n = fs.readSync(this.fd, out, done, out.length - done, from + done);
      if (n <= 0) throw new Error('unexpected end of file');
      done += n;
    }
  }
}

function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** Field header and length prefix of a length-delimited field holding `length` bytes. */
function header(field: number, length: number): Uint8Array {
  return Uint8Array.from([...varintBytes(field * 8 + 2), ...varintBytes(length)]);
}

/** Bytes [from, to) of the file, copied as they are. */
interface FileRange {
  from: number;
  to: number;
}

/** A message as rewritten: runs of fields copied from the file and new headers, `size` bytes in all. */
interface Walked {
  parts: (FileRange | Uint8Array)[];
  size: number;
  /** Whether anything inside was left out (else the message is copied as it is). */
  changed: boolean;
}

/**
 * More parts than this and the file is read whole instead. A part is a run of copied fields or a header
 * around left-out raw data: a real model has a few per large weight, while one part per field let a
 * small file of millions of repeated fields exhaust the memory.
 */
export const SCAN_LIMITS = { parts: 1 << 16 };

/**
 * Walks the fields of one message in [pos, end): `inner(field, length)` may rewrite a length-delimited
 * field (returning its new contents, the reader left anywhere in it), drop it (null) or decline
 * (undefined); neighbouring fields that are copied as they are form one run.
 */
function walk(r: FileReader, end: number, inner: (field: number, length: number) => Walked | null | undefined, count: { parts: number }): Walked {
  const out: Walked = { parts: [], size: 0, changed: false };
  let runStart = r.pos;
  const add = (part: FileRange | Uint8Array, size: number) => {
    if (++count.parts > SCAN_LIMITS.parts) throw new Error('too many parts');
    out.parts.push(part);
    out.size += size;
  };
  const endRun = (at: number) => {
    if (at > runStart) add({ from: runStart, to: at }, at - runStart);
  };
  while (r.pos < end) {
    const fieldStart = r.pos;
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) r.varint();
    else if (wire === 1) r.pos += 8;
    else if (wire === 5) r.pos += 4;
    else if (wire === 2) {
      const length = r.varint();
      if (r.pos + length > end) throw new Error('field runs past its message');
      const bodyStart = r.pos;
      const taken = inner(field, length);
      r.pos = bodyStart + length;
      if (taken === undefined || (taken && !taken.changed)) continue;
      endRun(fieldStart);
      out.changed = true;
      if (taken) {
        const h = header(field, taken.size);
        add(h, h.length);
        // Already counted where they were made.
        for (const p of taken.parts) out.parts.push(p);
        out.size += taken.size;
      }
      runStart = r.pos;
      continue;
    } else throw new Error(`wire type ${wire} is not used by ONNX`);
    if (r.pos > end) throw new Error('field runs past its message');
  }
  endRun(r.pos);
  return out;
}

/** Scans `file`, leaving out raw data of at least `minBytes` in the main graph's initializers. */
export function scanModelFile(file: string, minBytes: number): ScannedModel {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const r = new FileReader(fd, size);
    const count = { parts: 0 };
    const leftOut = new Map<number, { offset: number; length: number }>();
    let index = 0;
    let rawFields = 0;
    const tensor = (field: number, length: number) => {
      if (field !== TENSOR_RAW_DATA) return undefined;
      // protobuf keeps the last raw_data of a tensor; a file that repeats it is read whole, by the decoder's rule.
      if (rawFields++) throw new Error('raw_data given twice');
      if (length < minBytes) return undefined;
      leftOut.set(index, { offset: r.pos, length });
      return null;
    };
    const graph = (field: number, length: number) => {
      if (field !== GRAPH_INITIALIZER) return undefined;
      rawFields = 0;
      const walked = walk(r, r.pos + length, tensor, count);
      index++;
      return walked;
    };
    let graphs = 0;
    const model = walk(r, size, (field, length) => {
      if (field !== MODEL_GRAPH) return undefined;
      // protobuf merges repeated occurrences of a message field; a file that does so is read whole instead.
      if (graphs++) throw new Error('more than one graph field');
      return walk(r, r.pos + length, graph, count);
    }, count);
    const bytes = new Uint8Array(model.size);
    let at = 0;
    for (const p of model.parts) {
      if (p instanceof Uint8Array) bytes.set(p, at);
      else r.readInto(bytes.subarray(at, at + p.to - p.from), p.from);
      at += p instanceof Uint8Array ? p.length : p.to - p.from;
    }
    return { bytes, leftOut, size, parts: model.parts.length };
  } finally {
    fs.closeSync(fd);
  }
}
