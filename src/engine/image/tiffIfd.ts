/**
 * The first IFD (image file directory) of a TIFF structure: the tags a TIFF file's first page has, and what an
 * EXIF block holds (EXIF is a TIFF structure inside JPEG, PNG and WebP files). Header bytes only, bounds-checked:
 * a damaged directory gives undefined, never a throw, so a bad EXIF block cannot stop an image from decoding.
 * Classic TIFF and BigTIFF, either byte order.
 */

/** Tag numbers this engine reads. */
export const TIFF_TAG = {
  bitsPerSample: 258,
  compression: 259,
  photometric: 262,
  orientation: 274,
  samplesPerPixel: 277,
  rowsPerStrip: 278,
  planarConfiguration: 284,
  tileWidth: 322,
  tileLength: 323,
  extraSamples: 338,
  sampleFormat: 339,
} as const;

/** Entry types whose values are unsigned integers (BYTE, SHORT, LONG, LONG8); others are skipped. */
const INTEGER_SIZE: Record<number, number> = { 1: 1, 3: 2, 4: 4, 16: 8 };
/** At most this many values are read per tag (bits per sample has one per channel). */
const MAX_VALUES = 16;

interface Entry {
  tag: number;
  type: number;
  count: number;
  /** Where the values are: inside the entry, or at the offset it holds (relative to the structure's start). */
  valuesAt: number;
}

/** Bytes per value of each TIFF entry type (BYTE, ASCII, SHORT, LONG, RATIONAL, ..., LONG8, SLONG8, IFD8). */
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };

/** IFD0's entries, or undefined without a valid header and directory; `complete` is false when the directory is cut short. */
function ifd0(bytes: Uint8Array, start: number): { view: DataView; le: boolean; entries: Entry[]; complete: boolean; end: number } | undefined {
  const n = bytes.length - start;
  if (start < 0 || n < 8) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, n);
  const order = view.getUint16(0, false);
  if (order !== 0x4949 && order !== 0x4d4d) return undefined;
  const le = order === 0x4949;
  const magic = view.getUint16(2, le);
  if (magic !== 42 && magic !== 43) return undefined;
  const big = magic === 43;
  if (big && (n < 16 || view.getUint16(4, le) !== 8)) return undefined;
  const ifd = big ? Number(view.getBigUint64(8, le)) : view.getUint32(4, le);
  const countSize = big ? 8 : 2;
  const entrySize = big ? 20 : 12;
  const inlineSize = big ? 8 : 4;
  if (ifd < 8 || ifd + countSize > n) return undefined;
  const count = big ? Number(view.getBigUint64(ifd, le)) : view.getUint16(ifd, le);
  const entries: Entry[] = [];
  for (let k = 0; k < count; k++) {
    const at = ifd + countSize + k * entrySize;
    if (at + entrySize > n) return { view, le, entries, complete: false, end: ifd + countSize + count * entrySize };
    const type = view.getUint16(at + 2, le);
    const total = big ? Number(view.getBigUint64(at + 4, le)) : view.getUint32(at + 4, le);
    const inline = at + 4 + (big ? 8 : 4);
    const outside = total * (TYPE_SIZE[type] ?? 1) > inlineSize;
    const valuesAt = outside ? (big ? Number(view.getBigUint64(inline, le)) : view.getUint32(inline, le)) : inline;
    entries.push({ tag: view.getUint16(at, le), type, count: total, valuesAt });
  }
  return { view, le, entries, complete: true, end: ifd + countSize + count * entrySize };
}

function readValues(view: DataView, le: boolean, e: Entry, max: number): number[] | undefined {
  const size = INTEGER_SIZE[e.type];
  const values = Math.min(e.count, max);
  if (!size || values < 1 || e.valuesAt + values * size > view.byteLength) return undefined;
  const read: number[] = [];
  for (let v = 0; v < values; v++) {
    const o = e.valuesAt + v * size;
    read.push(size === 1 ? view.getUint8(o) : size === 2 ? view.getUint16(o, le) : size === 4 ? view.getUint32(o, le) : Number(view.getBigUint64(o, le)));
  }
  return read;
}

/**
 * The integer tags of IFD0 of the TIFF structure starting at `start` in `bytes` (its offsets are relative to
 * `start`), each with its first values; undefined when there is no valid TIFF header or directory there.
 */
export function readIfd0(bytes: Uint8Array, start = 0): Map<number, number[]> | undefined {
  const dir = ifd0(bytes, start);
  if (!dir || (!dir.complete && dir.entries.length === 0)) return undefined;
  const tags = new Map<number, number[]>();
  for (const e of dir.entries) {
    const values = readValues(dir.view, dir.le, e, MAX_VALUES);
    if (values) tags.set(e.tag, values);
  }
  return tags;
}

/**
 * The tags libtiff and libvips read to decode a first page: size, sample layout, compression and its tables,
 * colour interpretation, strips and tiles. A private or descriptive tag (a maker note, a software name) pointing
 * past the end of the file does not stop the pixels from decoding, so it is not checked.
 */
const DECODER_TAGS = new Set([
  256, 257, 258, 259, 262, 273, 274, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325, 338, 339, 347, 529, 530, 531, 532,
]);

/** Strip and tile offsets with their byte counts. */
const DATA_TAGS: [number, number][] = [[273, 279], [324, 325]];
/** More strips or tiles than this are not checked one by one (a 500-megapixel image in 8-row strips has fewer). */
const MAX_PIECES = 1 << 20;

/**
 * True when a TIFF's first page reaches past the end of the file: its directory, the values of a tag the decoder
 * reads, or a strip or tile of pixels. libtiff only warns about some of these (and decodes what it has), so the
 * caller refuses them.
 */
export function tiffEndsEarly(bytes: Uint8Array): boolean {
  const dir = ifd0(bytes, 0);
  if (!dir) return true;
  if (!dir.complete || dir.end > bytes.length) return true;
  for (const e of dir.entries) {
    if (DECODER_TAGS.has(e.tag) && e.valuesAt + e.count * (TYPE_SIZE[e.type] ?? 1) > bytes.length) return true;
  }
  for (const [offsetsTag, countsTag] of DATA_TAGS) {
    const offsets = dir.entries.find((e) => e.tag === offsetsTag);
    const counts = dir.entries.find((e) => e.tag === countsTag);
    if (!offsets || !counts) continue;
    const at = readValues(dir.view, dir.le, offsets, MAX_PIECES) ?? [];
    const sizes = readValues(dir.view, dir.le, counts, MAX_PIECES) ?? [];
    for (let i = 0; i < Math.min(at.length, sizes.length); i++) if (at[i] + sizes[i] > bytes.length) return true;
  }
  return false;
}
