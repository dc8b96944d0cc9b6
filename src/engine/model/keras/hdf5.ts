import * as jsfive from 'jsfive';
import { fileError, UserError } from '../../errors';
import { MAX_FILTER_RATIO, MAX_WEIGHT_BYTES } from './limits';

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Where the HDF5 signature is (0, or after a user block of 512·2^k bytes), or -1. */
function signatureAt(data: Uint8Array): number {
  for (let at = 0; at + 8 <= data.length && at <= 1 << 20; at = at === 0 ? 512 : at * 2) {
    if (SIGNATURE.every((b, i) => data[at + i] === b)) return at;
  }
  return -1;
}

/** The end-of-file address the superblock declares (8-byte offsets only), or undefined. */
function declaredEnd(data: Uint8Array, at: number): number | undefined {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = data[at + 8];
  let base: number;
  let eof: number;
  if (version === 0 || version === 1) {
    if (data[at + 13] !== 8) return undefined;
    const p = at + (version === 0 ? 24 : 28);
    if (p + 24 > data.length) return Infinity;
    base = Number(view.getBigUint64(p, true));
    eof = Number(view.getBigUint64(p + 16, true));
  } else if (version === 2 || version === 3) {
    if (data[at + 9] !== 8) return undefined;
    if (at + 36 > data.length) return Infinity;
    base = Number(view.getBigUint64(at + 12, true));
    eof = Number(view.getBigUint64(at + 28, true));
  } else {
    return undefined;
  }
  return base + eof;
}

function detail(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].slice(0, 160);
}

export type H5Group = jsfive.Group;
export type H5Dataset = jsfive.Dataset;

export function isDataset(node: unknown): node is H5Dataset {
  return node instanceof jsfive.Dataset;
}

/** h5py writes numpy byte strings fixed-length, padded with NULs. */
function unpad(s: string): string {
  return s.replace(/\0+$/, '');
}

/**
 * An HDF5 file read from memory with jsfive, every access guarded: a malformed file gives one
 * sentence naming it (`label` says which part, e.g. "model.weights.h5 inside the archive"),
 * and no dataset is decoded before its size is checked against the file.
 */
export class Hdf5File {
  private decoded = 0;
  readonly root: H5Group;

  private constructor(readonly file: string, readonly label: string, private readonly size: number, root: H5Group) {
    this.root = root;
  }

  /** `label` names the HDF5 data when it is not the file itself, e.g. "model.weights.h5 inside the archive". */
  static open(file: string, data: Uint8Array, label = ''): Hdf5File {
    const at = signatureAt(data);
    if (at < 0) throw fileError(file, `${subject(label)} not an HDF5 file (no HDF5 signature)`);
    const end = declaredEnd(data, at);
    if (end !== undefined && end > data.length) {
      throw fileError(file, `${subject(label)} truncated: its HDF5 header declares ${end === Infinity ? 'more' : end} bytes but there are only ${data.length}`);
    }
    const copy = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    const root = guardWith(file, label, 'its superblock', () => new jsfive.File(copy, 'model'));
    return new Hdf5File(file, label, data.length, root);
  }

  /** Runs a jsfive read; anything it throws becomes one sentence naming the file. */
  guard<T>(what: string, fn: () => T): T {
    return guardWith(this.file, this.label, what, fn);
  }

  /** The child at `path` (relative to `from`), or undefined when there is none. */
  child(from: H5Group, path: string): H5Group | H5Dataset | undefined {
    return this.guard(`${from.name}/${path}`, () => {
      let node: H5Group | H5Dataset | null = from;
      for (const part of path.split('/')) {
        if (!node || isDataset(node) || !node.keys.includes(part)) return undefined;
        node = node.get(part);
      }
      return node ?? undefined;
    });
  }

  group(from: H5Group, path: string): H5Group | undefined {
    const node = this.child(from, path);
    return node && !isDataset(node) ? node : undefined;
  }

  keys(group: H5Group): string[] {
    return this.guard(group.name, () => group.keys);
  }

  attrs(node: H5Group | H5Dataset): Record<string, unknown> {
    return this.guard(`the attributes of ${node.name}`, () => node.attrs as Record<string, unknown>);
  }

  /** A string attribute (h5py writes them as variable-length or fixed-length byte strings). */
  stringAttr(node: H5Group | H5Dataset, name: string): string | undefined {
    const value = this.attrs(node)[name];
    if (value === undefined) return undefined;
    if (typeof value === 'string') return unpad(value);
    if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') return unpad(value[0]);
    throw fileError(this.file, `attribute "${name}" of ${node.name} is not text`);
  }

  /** A list of strings, also when Keras split it into `name0`, `name1`, … (attributes over 64 KB). */
  stringListAttr(node: H5Group, name: string): string[] | undefined {
    const attrs = this.attrs(node);
    const asList = (v: unknown): string[] => {
      const list = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) {
        throw fileError(this.file, `attribute "${name}" of ${node.name} is not a list of names`);
      }
      return (list as string[]).map(unpad);
    };
    if (name in attrs) return asList(attrs[name]);
    if (!(`${name}0` in attrs)) return undefined;
    const out: string[] = [];
    for (let i = 0; `${name}${i}` in attrs; i++) out.push(...asList(attrs[`${name}${i}`]));
    return out;
  }

  /** A float dataset as float32, its size checked against the file before it is decoded. */
  readFloat32(ds: H5Dataset, what: string): { shape: number[]; data: Float32Array } {
    const { shape, dtype, filtered } = this.guard(what, () => ({
      shape: ds.shape, dtype: ds.dtype,
      filtered: (ds as unknown as { _dataobjects?: { filter_pipeline?: unknown } })._dataobjects?.filter_pipeline != null,
    }));
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw fileError(this.file, `weight ${what} has a malformed shape`);
    const m = typeof dtype === 'string' ? /^[<>=|]?([fiu])(\d+)$/.exec(dtype) : null;
    if (!m) throw fileError(this.file, `weight ${what} is not numeric (HDF5 type ${JSON.stringify(dtype).slice(0, 60)})`);
    const itemSize = Number(m[2]);
    const count = shape.reduce((a, b) => a * b, 1);
    const bytes = count * itemSize;
    const bound = filtered ? this.size * MAX_FILTER_RATIO : this.size;
    if (bytes > bound) throw fileError(this.file, `${subject(this.label)} corrupt or truncated: weight ${what} declares ${bytes} bytes, more than the file can hold`);
    this.decoded += count * 4;
    if (this.decoded > MAX_WEIGHT_BYTES) throw fileError(this.file, `weights exceed ${MAX_WEIGHT_BYTES / 1024 ** 3} GiB, more than Saliency Lens loads`);
    const bfloat16 = m[1] === 'u' && itemSize === 2 && this.guard(what, () => (ds.attrs as Record<string, unknown>).dtype) === 'bfloat16';
    const values = this.guard(what, () => ds.value);
    if (!values || values.length !== count) throw fileError(this.file, `${subject(this.label)} corrupt: weight ${what} holds ${values?.length ?? 0} values, its shape says ${count}`);
    const data = new Float32Array(count);
    if (bfloat16) {
      const bits = new Uint32Array(data.buffer);
      for (let i = 0; i < count; i++) bits[i] = Number(values[i]) << 16;
    } else {
      for (let i = 0; i < count; i++) data[i] = Number(values[i]);
    }
    return { shape, data };
  }
}

function guardWith<T>(file: string, label: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw fileError(file, `${subject(label)} corrupt or truncated: could not read ${what} (${detail(err)})`);
  }
}

function subject(label: string): string {
  return label ? `${label} is` : 'is';
}
