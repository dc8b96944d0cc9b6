/**
 * NumPy .npy files for raw float32 maps (format version 1.0 when writing).
 *
 * Layout: magic "\x93NUMPY", version bytes (1, 0), header length (uint16 little-endian), then an
 * ASCII header — a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (7, 7), }
 * padded with spaces and terminated by '\n' so that magic + version + length + header is a
 * multiple of 64 bytes (the alignment current NumPy writes and the spec recommends) — followed by
 * the data in C order, little-endian float32.
 */

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ALIGN = 64;

function shapeText(shape: number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** Encodes a C-ordered float32 array of the given shape as a .npy (version 1.0) file. */
export function encodeNpyFloat32(data: Float32Array, shape: number[]): Buffer {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`invalid dimension ${d} in shape [${shape.join(', ')}]`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new RangeError(`shape [${shape.join(', ')}] holds ${count} values but data has ${data.length}`);
  }
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText(shape)}, }`;
  const prefix = MAGIC.length + 2 + 2;
  // header = dict + padding spaces + '\n'; total prefix + header is a multiple of ALIGN
  const unpadded = prefix + dict.length + 1;
  const headerLen = dict.length + 1 + ((ALIGN - (unpadded % ALIGN)) % ALIGN);
  if (headerLen > 0xffff) throw new RangeError('npy header too long for format version 1.0');
  const header = dict + ' '.repeat(headerLen - dict.length - 1) + '\n';

  const out = Buffer.alloc(prefix + headerLen + data.length * 4);
  MAGIC.copy(out, 0);
  out[6] = 1; // major version
  out[7] = 0; // minor version
  out.writeUInt16LE(headerLen, 8);
  out.write(header, prefix, 'latin1');
  let off = prefix + headerLen;
  for (let i = 0; i < data.length; i++, off += 4) out.writeFloatLE(data[i], off);
  return out;
}

/**
 * Decodes a .npy file holding little-endian float32 data in C order (versions 1.0, 2.0 and 3.0 of
 * the format). Throws on anything else.
 */
export function decodeNpyFloat32(buf: Uint8Array): { data: Float32Array; shape: number[] } {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) throw new Error('not a .npy file (bad magic)');
  const major = b[6];
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = b.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (b.length < 12) throw new Error('truncated .npy header');
    headerLen = b.readUInt32LE(8);
    headerStart = 12;
  } else {
    throw new Error(`unsupported .npy format version ${major}.${b[7]}`);
  }
  if (b.length < headerStart + headerLen) throw new Error('truncated .npy header');
  const header = b.toString(major === 3 ? 'utf8' : 'latin1', headerStart, headerStart + headerLen);

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  if (descr !== '<f4') throw new Error(`unsupported .npy dtype ${descr ?? '(missing)'}; expected '<f4'`);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  if (fortran !== 'False') throw new Error('unsupported .npy layout: only C order (fortran_order False) is read');
  const shapeMatch = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!shapeMatch) throw new Error('.npy header has no shape');
  const shape = shapeMatch[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const v = Number(s.replace(/L$/, ''));
      if (!Number.isInteger(v) || v < 0) throw new Error(`invalid .npy shape (${shapeMatch[1]})`);
      return v;
    });
  const count = shape.reduce((a, c) => a * c, 1);
  const dataStart = headerStart + headerLen;
  if (b.length < dataStart + count * 4) {
    throw new Error(`truncated .npy data: expected ${count} float32 values`);
  }
  const data = new Float32Array(count);
  for (let i = 0, off = dataStart; i < count; i++, off += 4) data[i] = b.readFloatLE(off);
  return { data, shape };
}
