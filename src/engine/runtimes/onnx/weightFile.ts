import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { fileError, firstLine } from '../../errors';

/**
 * Weights left in a file: a tensor whose bytes are large is not read into memory at load time; it
 * records where its bytes are (a file, an offset, a length), and sessions hand that place to ONNX Runtime
 * as external data, which maps the file instead of receiving a copy through the encoded model. Measured on
 * VGG-11 (507 MB of weights): reading and encoding the weights for each session cost seconds and several
 * copies of the weights in memory.
 *
 * The file is the engine's private copy of the user's (privateCopy), never the user's own: ONNX Runtime keeps
 * reading a mapped weight for the session's life when it does not copy it (MatMul weights not prepacked,
 * Gather tables), so a training script rewriting model.onnx in place would crash the engine (SIGBUS on a
 * truncated file) or swap weights silently. onnxruntime-node's in-memory `externalData` option was measured as
 * the alternative: its binding copies the buffer into every session (+201 MB anonymous memory per session for
 * a 201 MB weight, PSS flat with a mapped file), so sessions could no longer share the weights.
 */
export interface Stamp {
  size: number;
  mtimeMs: number;
}

export interface FileSlice {
  /** Absolute path of the file holding the bytes: a private copy (privateCopy). */
  file: string;
  /** The folder ONNX Runtime resolves `location` in, and `file` relative to it. */
  folder: string;
  location: string;
  offset: number;
  length: number;
  /** The file's size and modification time when it was made: a later change must not mix old graph and new bytes. */
  stamp: Stamp;
  /** The user's file the bytes were copied from, named in messages. */
  shown: string;
}

const slices = new WeakMap<onnx.ITensorProto, FileSlice>();

export function stampOf(file: string): Stamp {
  const st = fs.statSync(file);
  return { size: st.size, mtimeMs: st.mtimeMs };
}

function sameStamp(a: Stamp, b: Stamp): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/** Element widths of fixed-width ONNX types (strings and 4-bit types have none): what a tensor's raw bytes must add up to. */
const WIDTH: Record<number, number> = {
  1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1,
};

/**
 * Refuses a tensor whose stored bytes do not fill its shape: checked before anything trusts the shape
 * (the probe makes zeros of it), so a small file cannot declare gigabytes.
 */
export function checkStoredBytes(t: onnx.ITensorProto, stored: number, file: string): void {
  const width = WIDTH[t.dataType ?? 0];
  if (width === undefined) return;
  const dims = (t.dims ?? []).map(Number);
  const needs = dims.some((d) => d < 0) ? -1 : dims.reduce((a, b) => a * b, 1) * width;
  if (stored !== needs) {
    const shape = `[${dims.join(', ')}]`;
    throw fileError(file, `tensor ${JSON.stringify(String(t.name ?? '').slice(0, 120))} holds ${stored} bytes, its shape ${shape} needs ${needs < 0 ? 'a size that is not a byte count' : needs}`);
  }
}

/** Records that t's bytes are `slice` of a file (t itself holds none). */
export function referToFile(t: onnx.ITensorProto, slice: FileSlice): void {
  slices.set(t, slice);
}

export function fileSliceOf(t: onnx.ITensorProto): FileSlice | undefined {
  return slices.get(t);
}

/** Throws when the slice's file changed since the model was read (its bytes may no longer match the graph). */
function checkUnchanged(slice: FileSlice): void {
  let now: Stamp | undefined;
  try {
    now = stampOf(slice.file);
  } catch {
    now = undefined;
  }
  if (!now || !sameStamp(now, slice.stamp)) {
    throw fileError(slice.shown, `has lost its weights: their copy ${slice.file} was changed or removed; open the model again`);
  }
}

/** The bytes of a slice, read from its file now. */
export function readSlice(slice: FileSlice): Uint8Array {
  checkUnchanged(slice);
  const out = Buffer.alloc(slice.length);
  const fd = fs.openSync(slice.file, 'r');
  try {
    let done = 0;
    while (done < slice.length) {
      const n = fs.readSync(fd, out, done, slice.length - done, slice.offset + done);
      if (n <= 0) throw fileError(slice.file, `ended before the weights stored at bytes ${slice.offset}–${slice.offset + slice.length}`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/**
 * Initializers as a session's model holds them: tensors left in their file become ONNX external data
 * (location relative to `folder`, which ONNX Runtime is told through the session option
 * `session.model_external_initializers_file_folder_path`), the others are as they are.
 */
export function sessionInitializers(tensors: onnx.ITensorProto[]): { initializer: onnx.ITensorProto[]; folder?: string } {
  let folder: string | undefined;
  const checked = new Set<string>();
  const initializer = tensors.map((t) => {
    const slice = slices.get(t);
    if (!slice) return t;
    // One folder per session: a tensor from elsewhere (never made by readOnnx) travels inline.
    folder ??= slice.folder;
    if (slice.folder !== folder) return { ...t, rawData: readSlice(slice) };
    if (!checked.has(slice.file)) {
      checkUnchanged(slice);
      checked.add(slice.file);
    }
    return {
      name: t.name, dims: t.dims, dataType: t.dataType, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: slice.location },
        { key: 'offset', value: String(slice.offset) },
        { key: 'length', value: String(slice.length) },
      ],
    };
  });
  return { initializer, folder };
}

/**
 * Private copies: one folder per process (os.tmpdir()/saliency-lens-weights-<pid>-<random>), one file per
 * model read, held by the runtimes whose tensors refer to it and removed when the last is disposed, and
 * with the folder when the process exits. Folders of processes that died without exiting are removed at
 * the next load.
 */
const FOLDER_PREFIX = 'saliency-lens-weights-';
let ownFolder: string | undefined;
let copiesMade = 0;
/** Copy → how many runtimes hold it. */
const holders = new Map<string, number>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeStaleFolders(): void {
  const tmp = os.tmpdir();
  let names: string[];
  try {
    names = fs.readdirSync(tmp);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^saliency-lens-weights-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid || alive(pid)) continue;
    try {
      fs.rmSync(path.join(tmp, name), { recursive: true, force: true });
    } catch {
      // Another process may be removing it too, or it is not ours to remove.
    }
  }
}

function privateFolder(): string {
  if (!ownFolder) {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), `${FOLDER_PREFIX}${process.pid}-`));
    process.on('exit', () => {
      try {
        fs.rmSync(folder, { recursive: true, force: true });
      } catch {
        // Left to the next load's removeStaleFolders.
      }
    });
    ownFolder = folder;
  }
  return ownFolder;
}

function removeCopy(copy: string): void {
  holders.delete(copy);
  try {
    fs.rmSync(copy, { force: true });
  } catch {
    // Windows cannot delete a file a session still maps: it goes with the folder at exit or at the next load.
  }
}

/**
 * Copies the user's file `real` (as it was at `before`, when the caller started reading it) into the
 * private folder, for slices whose offsets the caller took from `real`. Throws one sentence when the
 * file changed meanwhile; returns undefined when no copy can be made (no space), and the caller reads the
 * weights into memory instead.
 */
export function privateCopy(real: string, before: Stamp, shown: string): Pick<FileSlice, 'file' | 'folder' | 'location' | 'stamp'> | undefined {
  let folder: string;
  let copy: string;
  const location = `${++copiesMade}-${path.basename(real)}`;
  try {
    removeStaleFolders();
    folder = privateFolder();
    copy = path.join(folder, location);
    // A reflink where the file system has them (instant, no space), else a plain copy.
    fs.copyFileSync(real, copy, fs.constants.COPYFILE_FICLONE);
  } catch (err) {
    if (ownFolder) removeCopy(path.join(ownFolder, location));
    if (process.env.SALIENCY_LENS_DEBUG) console.error(`no private copy of ${real}: ${firstLine(err)}`);
    return undefined;
  }
  let after: Stamp | undefined;
  try {
    after = stampOf(real);
  } catch {
    after = undefined;
  }
  const stamp = stampOf(copy);
  if (!after || !sameStamp(after, before) || stamp.size !== before.size) {
    removeCopy(copy);
    throw fileError(shown, 'changed while it was being read; open it again');
  }
  holders.set(copy, 0);
  return { file: copy, folder, location, stamp };
}

/** The private copies the tensors' bytes are in. */
export function copiesOf(tensors: Iterable<onnx.ITensorProto>): Set<string> {
  const out = new Set<string>();
  for (const t of tensors) {
    const file = slices.get(t)?.file;
    if (file && holders.has(file)) out.add(file);
  }
  return out;
}

/** A runtime's hold on the copies its tensors' bytes are in; the returned function lets go (once). */
export function holdCopies(tensors: Iterable<onnx.ITensorProto>): () => void {
  const held = [...copiesOf(tensors)];
  for (const c of held) holders.set(c, (holders.get(c) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const c of held) {
      const n = (holders.get(c) ?? 1) - 1;
      if (n > 0) holders.set(c, n);
      else removeCopy(c);
    }
  };
}

/** Removes those of `copies` no runtime holds (a load that failed, or whose weights were all read into memory). */
export function discardUnheld(copies: Iterable<string>): void {
  for (const c of copies) if (holders.get(c) === 0) removeCopy(c);
}

/** The session config entries (ONNX Runtime's `extra.session`) that let a session read the weights left in `folder`. */
export function externalDataConfig(folder: string | undefined): Record<string, string> {
  return folder ? { model_external_initializers_file_folder_path: folder } : {};
}
