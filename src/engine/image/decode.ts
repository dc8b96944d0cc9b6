/**
 * Image decoding: file bytes -> 8-bit RGBA (plus the 16-bit samples of a 16-bit file), whatever the source format.
 *
 * The format is sniffed from magic bytes (never the extension), the dimensions are read from the header
 * and the decoder's peak memory checked against MEMORY_BOUND_BYTES before any pixel is decoded, and every
 * library failure becomes a UserError of the form "FILE: what is wrong" (no stack traces reach the user).
 * This file holds the pure-JS decoders (PNG, JPEG, BMP, GIF) at full size; load.ts decides when to decode
 * downscaled instead, and sends WebP and TIFF (which no JS decoder here reads) to sharp (sharpCodec.ts).
 *
 * 16 bits per sample: `data` is always 8-bit RGBA (what the panel shows and overlays are drawn on); a file with more
 * than 8 bits per sample also keeps its samples in `data16`, which preprocessing reads instead, so a model sees the
 * full precision of a 16-bit PNG or TIFF.
 *
 * Library facts this file relies on (checked against the installed versions):
 * - pngjs 7: `PNG.sync.read` yields 8-bit RGBA (palette, grey, tRNS and Adam7 interlacing are expanded); a
 *   16-bit file with `skipRescale: true` yields a Uint16Array of 16-bit RGBA instead (grey expanded, alpha 65535).
 *   A truncated file throws "There are some read requests waitng on finished stream".
 * - jpeg-js 0.4.4: needs the EOI marker (a truncated file throws "marker was not found"); we also check for
 *   EOI ourselves so a partly decoded image can never slip through. `tolerantDecoding: false` turns
 *   out-of-range block references into errors instead of silently skipped blocks.
 * - bmp-js 0.1.0: pixel data is ABGR, not RGBA; 24-bit (and lower) pixels get alpha 0; it ignores the
 *   header size and the pixel-data offset (so BITMAPV4/V5 headers decode as garbage) and assumes a fixed byte
 *   layout for BI_BITFIELDS. We therefore hand it a normalised copy with a 40-byte header, and decode
 *   16-bit and bit-field images ourselves.
 * - omggif 1.0.10: `decodeAndBlitFrameRGBA` only writes the frame's opaque pixels into a screen-sized
 *   buffer, so a zeroed buffer gives the first frame composited onto a transparent logical screen. It
 *   prints a warning with console.log for over-long LZW streams, which we silence.
 */
import * as fs from 'node:fs';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import * as bmp from 'bmp-js';
import { GifReader } from 'omggif';
import { imageSize } from 'image-size';
import { fileError, UserError } from '../errors';
import { checkMemory, MEMORY_BOUND_BYTES, type Size } from './budget';
import { jpegLayout, jsDecodePeak, pngLayout } from './peakMemory';
import { tiffEndsEarly } from './tiffIfd';
import { jpegHasEnd } from './jpegSegments';

export type ImageFormat = 'png' | 'jpeg' | 'bmp' | 'gif' | 'webp' | 'tiff';

export interface DecodedImage {
  width: number;
  height: number;
  /** RGBA, 4 bytes per pixel, row-major, top row first. */
  data: Uint8Array;
  /**
   * The same pixels at 16 bits per sample (0..65535, RGBA, same layout), present only when the file has more than
   * 8 bits per sample; `data` is then these rounded to 8 bits. Preprocessing reads this when present.
   */
  data16?: Uint16Array;
  format: ImageFormat;
  /** The EXIF orientation the file states (2–8), and whether the pixels were turned upright by it (see orientation.ts). */
  orientation?: { stated: number; applied: boolean };
  /** The file's own size when `data` is a downscaled working copy (see load.ts); absent when it is full size. */
  original?: Size;
}

export const FORMAT_NAME: Record<ImageFormat, string> = { png: 'PNG', jpeg: 'JPEG', bmp: 'BMP', gif: 'GIF', webp: 'WebP', tiff: 'TIFF' };

/** The formats we read, for "not an image" messages. */
export const KNOWN_FORMATS = 'a PNG, JPEG, WebP, TIFF, BMP or GIF image';

/** Identifies the format from the first bytes of the file, or undefined when it is none we know. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  const b = bytes;
  const ascii = (at: number, s: string) => {
    if (b.length < at + s.length) return false;
    for (let i = 0; i < s.length; i++) if (b[at + i] !== s.charCodeAt(i)) return false;
    return true;
  };
  if (b.length >= 8 && b[0] === 0x89 && ascii(1, 'PNG') && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) {
    return 'png';
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  // Little- or big-endian TIFF (42) and BigTIFF (43).
  if (b.length >= 4 && ((ascii(0, 'II') && b[3] === 0 && (b[2] === 42 || b[2] === 43)) || (ascii(0, 'MM') && b[2] === 0 && (b[3] === 42 || b[3] === 43)))) {
    return 'tiff';
  }
  if (ascii(0, 'BM')) return 'bmp';
  return undefined;
}

/** Reads and decodes an image file at full size. */
export function readImageFile(file: string): DecodedImage {
  return decodeImage(readImageBytes(file), file);
}

/** An image file's bytes, or one sentence saying why they cannot be read. */
export function readImageBytes(file: string): Uint8Array {
  let bytes: Buffer;
  try {
    // The file itself is held in memory while it decodes: one larger than the bound is refused unread.
    const { size } = fs.statSync(file);
    if (size > MEMORY_BOUND_BYTES) {
      throw fileError(file, `the file is ${Math.round(size / 2 ** 20)} MB, more than the ${MEMORY_BOUND_BYTES / 2 ** 20} MB memory bound for an image`);
    }
    bytes = fs.readFileSync(file);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw fileError(file, 'file not found');
    if (code === 'EISDIR') throw fileError(file, 'is a folder, not an image file');
    if (code === 'EACCES' || code === 'EPERM') throw fileError(file, 'permission denied; the file cannot be read');
    throw fileError(file, `the file cannot be read (${code ?? describe(err)})`);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The format of an image we can decode, or the one-sentence reason we cannot. */
export function decodableFormat(bytes: Uint8Array, file: string): ImageFormat {
  if (bytes.length === 0) throw fileError(file, `the file is empty; not ${KNOWN_FORMATS}`);
  const format = sniffFormat(bytes);
  if (!format) throw fileError(file, `not ${KNOWN_FORMATS}`);
  return format;
}

/**
 * Decodes PNG, JPEG, BMP or GIF bytes to RGBA at full size with the JS decoders. `file` is only used in error
 * messages. WebP and TIFF need sharp: loadImage (load.ts) decodes them.
 */
export function decodeImage(bytes: Uint8Array, file: string): DecodedImage {
  const format = decodableFormat(bytes, file);
  // sharp decodes these, asynchronously (loadImage): this synchronous decoder cannot.
  if (format === 'webp' || format === 'tiff') throw fileError(file, `${FORMAT_NAME[format]} images need the asynchronous loader (loadImage, through sharp); this reader takes PNG, JPEG, BMP and GIF`);
  try {
    switch (format) {
      case 'png':
        return decodePng(bytes, file);
      case 'jpeg':
        return decodeJpeg(bytes, file);
      case 'gif':
        return decodeGif(bytes, file);
      case 'bmp':
        return decodeBmp(bytes, file);
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw corrupt(file, format, reasonOf(err));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Shared helpers

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * True when a decoder's message (pngjs, jpeg-js, omggif, bmp-js or libvips) means it ran out of data: said to the
 * user as "the file ends early".
 */
export function endsEarlyMessage(msg: string): boolean {
  return /read requests waitng|waiting on finished stream|unexpected end|premature end|end of (file|data|stream|input)|out of range|exceeded buffer limits|Invalid block size|offset is outside|read error|not enough data|truncated|short read/i.test(msg);
}

/** A short, human reason for a library error: never a stack, never more than one line. */
function reasonOf(err: unknown): string {
  const msg = describe(err).split('\n')[0].trim();
  if (endsEarlyMessage(msg)) return 'the file ends early';
  if (err instanceof TypeError && /undefined|null/.test(msg)) return 'invalid structure';
  return msg.length > 100 ? msg.slice(0, 97) + '...' : msg || 'unknown error';
}

/** The sentence for a WebP or TIFF where sharp (their only decoder here) cannot run; `why` is sharp's load failure. */
export function needsSharp(file: string, format: ImageFormat, why: string): UserError {
  return fileError(file, `${FORMAT_NAME[format]} images are decoded by sharp, which could not load on this platform (${why}); convert it to PNG`);
}

export function corrupt(file: string, format: ImageFormat, reason: string): UserError {
  return fileError(file, `the ${FORMAT_NAME[format]} data is truncated or corrupt (${reason})`);
}

/** Checks header dimensions: a valid size whose full decode fits the memory bound; call before decoding pixels. */
function checkDimensions(file: string, format: ImageFormat, width: number, height: number, bytes: Uint8Array): void {
  checkValidSize(file, format, width, height);
  const layout = format === 'png' ? pngLayout(bytes) : format === 'jpeg' ? jpegLayout(bytes) : undefined;
  checkMemory(file, { width, height }, jsDecodePeak(format, { width, height }, bytes.length, layout));
}

function checkValidSize(file: string, format: ImageFormat, width: number, height: number): void {
  if (!Number.isFinite(width) || !Number.isFinite(height) || width <= 0 || height <= 0) {
    throw corrupt(file, format, `the header gives an invalid size of ${width}×${height}`);
  }
}

/** Header dimensions (reads only headers; GIF's logical screen, BMP's absolute height), checked to be valid. */
export function imageHeaderSize(bytes: Uint8Array, file: string, format: ImageFormat): Size {
  if (format === 'gif' && bytes.length >= 10) {
    const size = { width: bytes[6] | (bytes[7] << 8), height: bytes[8] | (bytes[9] << 8) };
    checkValidSize(file, format, size.width, size.height);
    return size;
  }
  // libtiff decodes what it has of a cut-off TIFF (with a warning), and image-size says only "Missing tags".
  if (format === 'tiff' && tiffEndsEarly(bytes)) throw corrupt(file, format, 'the file ends early');
  let size: { width?: number; height?: number };
  try {
    size = imageSize(bytes);
  } catch (err) {
    throw corrupt(file, format, `cannot read the image size from the header: ${reasonOf(err)}`);
  }
  checkValidSize(file, format, size.width ?? 0, size.height ?? 0);
  return { width: size.width ?? 0, height: size.height ?? 0 };
}

/** Header dimensions (reads only headers), checked against the memory bound of a full decode. */
function headerSize(bytes: Uint8Array, file: string, format: 'png' | 'jpeg'): Size {
  const size = imageHeaderSize(bytes, file, format);
  checkDimensions(file, format, size.width, size.height, bytes);
  return size;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A plain Uint8Array view (not a Buffer subclass) over the same memory. */
function plain(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkDecodedSize(file: string, format: ImageFormat, expected: { width: number; height: number }, got: { width: number; height: number; data: Uint8Array }): void {
  if (got.width !== expected.width || got.height !== expected.height || got.data.length !== got.width * got.height * 4) {
    throw corrupt(file, format, `decoded ${got.width}×${got.height} pixels, the header says ${expected.width}×${expected.height}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// PNG

function decodePng(bytes: Uint8Array, file: string): DecodedImage {
  const dims = headerSize(bytes, file, 'png');
  if (pngLayout(bytes)?.bitDepth === 16) return decodePng16(bytes, file, dims);
  // 8-bit RGBA: pngjs expands palette/grey and scales 1-, 2- and 4-bit samples.
  const png = PNG.sync.read(asBuffer(bytes), { checkCRC: true, skipRescale: false });
  const out = { width: png.width, height: png.height, data: plain(png.data) };
  checkDecodedSize(file, 'png', dims, out);
  return { ...out, format: 'png' };
}

/** A 16-bit PNG: its samples as they are (skipRescale) in `data16`, and rounded to 8 bits in `data`. */
function decodePng16(bytes: Uint8Array, file: string, dims: Size): DecodedImage {
  const png = PNG.sync.read(asBuffer(bytes), { checkCRC: true, skipRescale: true });
  const raw = png.data as unknown as Uint16Array | Buffer;
  if (!(raw instanceof Uint16Array)) throw corrupt(file, 'png', 'the 16-bit samples did not decode as 16-bit');
  const data = to8Bit(raw);
  checkDecodedSize(file, 'png', dims, { width: png.width, height: png.height, data });
  return { width: png.width, height: png.height, data, data16: raw, format: 'png' };
}

/** 16-bit samples rounded to 8 bits (v·255/65535 to the nearest: k·257 -> k), as pngjs rounds them. */
export function to8Bit(samples: Uint16Array): Uint8Array {
  const out = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = Math.floor((samples[i] * 255) / 65535 + 0.5);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// JPEG

function decodeJpeg(bytes: Uint8Array, file: string): DecodedImage {
  const dims = headerSize(bytes, file, 'jpeg');
  if (!jpegHasEnd(bytes)) throw corrupt(file, 'jpeg', 'no end-of-image marker: the file ends early');
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      tolerantDecoding: false,
      // Our own bound was checked above from the header; these keep jpeg-js from allocating more than it implies.
      maxResolutionInMP: Math.ceil((dims.width * dims.height) / 1e6),
      maxMemoryUsageInMB: Math.ceil(MEMORY_BOUND_BYTES / 2 ** 20),
    });
  } catch (err) {
    const msg = describe(err);
    if (/maxMemoryUsageInMB|maxResolutionInMP|allocate enough memory/.test(msg)) {
      throw fileError(file, `the JPEG is too large to decode (${msg.split('\n')[0]})`);
    }
    throw err;
  }
  checkDecodedSize(file, 'jpeg', dims, img);
  return { width: img.width, height: img.height, data: plain(img.data), format: 'jpeg' };
}

// ---------------------------------------------------------------------------------------------------------
// GIF

function decodeGif(bytes: Uint8Array, file: string): DecodedImage {
  // Logical screen size straight from the header (bytes 6..9, little-endian).
  if (bytes.length < 13) throw corrupt(file, 'gif', 'the file ends early');
  let width = bytes[6] | (bytes[7] << 8);
  let height = bytes[8] | (bytes[9] << 8);
  checkDimensions(file, 'gif', width, height, bytes);
  // The constructor only walks the block structure (no LZW decoding).
  let reader = new GifReader(bytes);
  if (reader.numFrames() < 1) throw corrupt(file, 'gif', 'it contains no image');
  let frame = reader.frameInfo(0);
  if (frame.palette_offset === null) throw corrupt(file, 'gif', 'the first frame has no colour table');
  const right = frame.x + frame.width;
  const bottom = frame.y + frame.height;
  if (right > width || bottom > height) {
    // A frame larger than the logical screen: grow the screen (as browsers do) by patching a copy's header.
    width = Math.max(width, right);
    height = Math.max(height, bottom);
    checkDimensions(file, 'gif', width, height, bytes);
    if (width > 0xffff || height > 0xffff) throw corrupt(file, 'gif', 'the first frame lies outside the image');
    const patched = bytes.slice();
    patched[6] = width & 0xff;
    patched[7] = width >> 8;
    patched[8] = height & 0xff;
    patched[9] = height >> 8;
    reader = new GifReader(patched);
    frame = reader.frameInfo(0);
  }
  const data = new Uint8Array(width * height * 4); // transparent black: what shows through transparent pixels
  const log = console.log;
  console.log = () => undefined; // omggif reports over-long LZW streams with console.log
  try {
    reader.decodeAndBlitFrameRGBA(0, data);
  } finally {
    console.log = log;
  }
  return { width, height, data, format: 'gif' };
}

// ---------------------------------------------------------------------------------------------------------
// BMP

interface BmpHeader {
  pixelOffset: number;
  dibSize: number;
  width: number;
  /** Absolute height; `topDown` says which way the rows go. */
  height: number;
  topDown: boolean;
  bpp: number;
  compression: number;
  colorsUsed: number;
  paletteOffset: number;
  masks: { r: number; g: number; b: number; a: number };
}

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

function readBmpHeader(bytes: Uint8Array, file: string): BmpHeader {
  if (bytes.length < 26) throw corrupt(file, 'bmp', 'the file ends early');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pixelOffset = view.getUint32(10, true);
  const dibSize = view.getUint32(14, true);
  if (dibSize === 12) throw fileError(file, 'OS/2 1.x BMP files are not supported; convert it to PNG');
  if (dibSize < 40) throw corrupt(file, 'bmp', `unknown header size ${dibSize}`);
  if (bytes.length < 14 + 40) throw corrupt(file, 'bmp', 'the file ends early');
  const width = view.getInt32(18, true);
  const rawHeight = view.getInt32(22, true);
  const bpp = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  const colorsUsed = view.getUint32(46, true);
  checkDimensions(file, 'bmp', width, Math.abs(rawHeight), bytes);
  if (compression === 4 || compression === 5) {
    throw fileError(file, 'BMP files with embedded JPEG or PNG data are not supported; convert it to PNG');
  }
  const valid =
    (compression === BI_RGB && [1, 4, 8, 16, 24, 32].includes(bpp)) ||
    (compression === BI_RLE8 && bpp === 8) ||
    (compression === BI_RLE4 && bpp === 4) ||
    ((compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) && (bpp === 16 || bpp === 32));
  if (!valid) throw corrupt(file, 'bmp', `unsupported combination of ${bpp} bits per pixel and compression ${compression}`);

  let masks = { r: 0, g: 0, b: 0, a: 0 };
  let paletteOffset = 14 + dibSize;
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    // Masks sit inside V2+ headers (52+ bytes), or right after a 40-byte header.
    const at = dibSize >= 52 ? 14 + 40 : 14 + dibSize;
    const count = dibSize >= 56 || compression === BI_ALPHABITFIELDS ? 4 : 3;
    if (bytes.length < at + 4 * count) throw corrupt(file, 'bmp', 'the file ends early');
    masks = {
      r: view.getUint32(at, true),
      g: view.getUint32(at + 4, true),
      b: view.getUint32(at + 8, true),
      a: count === 4 ? view.getUint32(at + 12, true) : 0,
    };
    if (dibSize === 40) paletteOffset += 4 * count;
  } else if (bpp === 16) {
    masks = { r: 0x7c00, g: 0x03e0, b: 0x001f, a: 0 }; // BI_RGB 16-bit is X1R5G5B5
  } else if (bpp === 32 && dibSize >= 56) {
    // A V3+ header with BI_RGB may still name an alpha mask; the RGB layout is fixed.
    masks = { r: 0x00ff0000, g: 0x0000ff00, b: 0x000000ff, a: view.getUint32(14 + 52, true) };
  }
  return {
    pixelOffset,
    dibSize,
    width,
    height: Math.abs(rawHeight),
    topDown: rawHeight < 0,
    bpp,
    compression,
    colorsUsed,
    paletteOffset,
    masks,
  };
}

function decodeBmp(bytes: Uint8Array, file: string): DecodedImage {
  const h = readBmpHeader(bytes, file);
  if (h.pixelOffset >= bytes.length) throw corrupt(file, 'bmp', 'the file ends before the pixel data');
  if (h.bpp === 16 || (h.bpp === 32 && h.compression !== BI_RGB)) return decodeBmpBitfields(bytes, file, h);

  const stride = Math.ceil((h.bpp * h.width) / 32) * 4;
  if (h.compression === BI_RGB && bytes.length - h.pixelOffset < stride * h.height) {
    throw corrupt(file, 'bmp', 'the file ends early');
  }

  // Normalised copy for bmp-js: 14-byte file header + 40-byte info header + palette + pixels, so that its
  // fixed offsets (palette at 54, pixels right after the palette) hold for any original header size.
  const paletteCount = h.bpp <= 8 ? h.colorsUsed || 1 << h.bpp : 0;
  if (paletteCount > 1 << h.bpp && h.bpp <= 8) throw corrupt(file, 'bmp', `palette of ${paletteCount} colours`);
  const paletteBytes = paletteCount * 4;
  if (h.paletteOffset + paletteBytes > bytes.length) throw corrupt(file, 'bmp', 'the file ends inside the palette');
  const pixels = bytes.subarray(h.pixelOffset);
  const norm = Buffer.alloc(54 + paletteBytes + pixels.length);
  norm.write('BM', 0, 'latin1');
  norm.writeUInt32LE(norm.length, 2);
  norm.writeUInt32LE(54 + paletteBytes, 10);
  norm.set(bytes.subarray(14, 54), 14);
  norm.writeUInt32LE(40, 14);
  norm.writeUInt32LE(paletteCount, 46);
  norm.set(bytes.subarray(h.paletteOffset, h.paletteOffset + paletteBytes), 54);
  norm.set(pixels, 54 + paletteBytes);

  const decoded = bmp.decode(norm);
  const abgr = decoded.data;
  const n = h.width * h.height;
  if (decoded.width !== h.width || decoded.height !== h.height || abgr.length !== n * 4) {
    throw corrupt(file, 'bmp', 'decoded size does not match the header');
  }
  // bmp-js gives ABGR; 32-bit BI_RGB carries alpha in byte 0, everything else gets alpha 0 (meaning opaque).
  const useAlpha = h.bpp === 32 && anyNonZeroAlphaAbgr(abgr);
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n * 4; i += 4) {
    out[i] = abgr[i + 3];
    out[i + 1] = abgr[i + 2];
    out[i + 2] = abgr[i + 1];
    out[i + 3] = useAlpha ? abgr[i] : 255;
  }
  return { width: h.width, height: h.height, data: out, format: 'bmp' };
}

function anyNonZeroAlphaAbgr(abgr: Uint8Array): boolean {
  for (let i = 0; i < abgr.length; i += 4) if (abgr[i] !== 0) return true;
  return false;
}

/** 16- and 32-bit pixels described by channel masks (BI_BITFIELDS, or the implicit 16-bit 5-5-5 layout). */
function decodeBmpBitfields(bytes: Uint8Array, file: string, h: BmpHeader): DecodedImage {
  const stride = Math.ceil((h.bpp * h.width) / 32) * 4;
  if (bytes.length - h.pixelOffset < stride * h.height) throw corrupt(file, 'bmp', 'the file ends early');
  if (h.masks.r === 0 && h.masks.g === 0 && h.masks.b === 0) throw corrupt(file, 'bmp', 'empty colour masks');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const channel = (mask: number) => {
    mask >>>= 0;
    if (mask === 0) return undefined;
    let shift = 0;
    while (((mask >>> shift) & 1) === 0) shift++;
    let bits = 0;
    while (shift + bits < 32 && ((mask >>> (shift + bits)) & 1) === 1) bits++;
    const max = bits >= 32 ? 0xffffffff : 2 ** bits - 1;
    return { mask, shift, scale: 255 / max };
  };
  const chans = [channel(h.masks.r), channel(h.masks.g), channel(h.masks.b), channel(h.masks.a)];
  const out = new Uint8Array(h.width * h.height * 4);
  for (let y = 0; y < h.height; y++) {
    const row = h.pixelOffset + (h.topDown ? y : h.height - 1 - y) * stride;
    for (let x = 0; x < h.width; x++) {
      const px = h.bpp === 16 ? view.getUint16(row + 2 * x, true) : view.getUint32(row + 4 * x, true);
      const o = (y * h.width + x) * 4;
      for (let c = 0; c < 4; c++) {
        const ch = chans[c];
        out[o + c] = ch ? Math.round((((px & ch.mask) >>> 0) >>> ch.shift) * ch.scale) : 255;
      }
    }
  }
  if (chans[3]) {
    // An alpha mask whose values are all 0 is an unused field (common): treat the image as opaque.
    let any = false;
    for (let i = 3; i < out.length && !any; i += 4) any = out[i] !== 0;
    if (!any) for (let i = 3; i < out.length; i += 4) out[i] = 255;
  }
  return { width: h.width, height: h.height, data: out, format: 'bmp' };
}
