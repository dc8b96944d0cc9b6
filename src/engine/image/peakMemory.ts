/**
 * A decoder's peak memory for one image, estimated from the file's header alone, so an image that cannot be
 * decoded within MEMORY_BOUND_BYTES is refused before any pixel buffer is allocated.
 *
 * The per-pixel figures are what the decoders keep at once (peak RSS measured with Node 20 on an 81-megapixel
 * JPEG and a 36-megapixel PNG):
 * - pngjs: the inflated chunks, their concatenation and the unfiltered copy (3 × the raw size; 511 MB RSS for a
 *   36-megapixel RGB PNG), then 8-bit RGBA (and 16-bit RGBA first for 16-bit files);
 * - jpeg-js: ~19 bytes per pixel (1.55 GB for an 81-megapixel photo), rounded up to 20;
 * - omggif and bmp-js: the RGBA screen (bmp-js also an ABGR copy and our normalised copy of the file);
 * - sharp (libvips) streams baseline JPEG, non-interlaced PNG and TIFF through in strips, shrinking JPEG on load
 *   (a TIFF's strips are what the file says: see TiffLayout.pieceBytes);
 *   libwebp decodes a WebP's whole frame;
 *   an interlaced PNG is decoded whole first, and a progressive JPEG keeps every DCT coefficient (2 bytes per
 *   sample) until its last scan.
 */
import type { ImageFormat } from './decode';
import type { Size } from './budget';
import { readIfd0, TIFF_TAG } from './tiffIfd';
import { isFrameHeader, jpegSegments } from './jpegSegments';

/** What the PNG IHDR and the JPEG frame header say beyond the size. */
export interface PixelLayout {
  /** Samples per pixel in the file (PNG colour type; JPEG components). */
  channels: number;
  bitDepth: number;
  /** Adam7-interlaced PNG or progressive JPEG: the decoder needs the whole image before the first row. */
  interlaced: boolean;
}

/** Strip buffers, thread pools and caches of a streaming decoder, whatever the image size. */
const STREAMING_OVERHEAD = 64 * 2 ** 20;
const JPEG_JS_BYTES_PER_PIXEL = 20;

/** PNG IHDR facts (the IHDR is always the first chunk), or undefined when the header is cut short. */
export function pngLayout(bytes: Uint8Array): PixelLayout | undefined {
  if (bytes.length < 29 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return undefined;
  const bitDepth = bytes[24];
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[bytes[25]] ?? 4;
  return { channels, bitDepth, interlaced: bytes[28] === 1 };
}

/** JPEG frame header facts, from the first SOFn segment. */
export function jpegLayout(bytes: Uint8Array): PixelLayout | undefined {
  for (const s of jpegSegments(bytes)) {
    if (!isFrameHeader(s.marker)) continue;
    if (s.payload + 5 >= bytes.length) return undefined;
    const progressive = s.marker === 0xc2 || s.marker === 0xc6 || s.marker === 0xca || s.marker === 0xce;
    return { channels: bytes[s.payload + 5], bitDepth: bytes[s.payload], interlaced: progressive };
  }
  return undefined;
}

/** What libtiff hands libvips at once for a TIFF's first page, beyond PixelLayout. */
export interface TiffLayout extends PixelLayout {
  /** 1 unsigned integer, 2 signed, 3 floating point. */
  sampleFormat: number;
  /** Bits of every sample (one value per channel in the file; TIFF allows them to differ). */
  bitsPerSample: number[];
  /**
   * Bytes the TIFF reader holds at once for the largest piece it decodes whole: one strip, or one row of tiles
   * (libvips asks libtiff for a row of tiles at a time); twice that for PlanarConfiguration 2 (each channel's piece,
   * then the interleaved copy), plus 4 bytes a pixel for YCbCr outside JPEG compression (libtiff's RGBA reader).
   */
  pieceBytes: number;
}

/**
 * TIFF first-page facts from its first directory, or undefined when the directory cannot be read. Defaults are
 * the TIFF 6.0 ones: bilevel (1 bit), one sample, one strip for the whole image (RowsPerStrip 2^32-1), chunky.
 */
export function tiffLayout(bytes: Uint8Array, size: Size): TiffLayout | undefined {
  const tags = readIfd0(bytes);
  if (!tags) return undefined;
  const first = (tag: number) => tags.get(tag)?.[0];
  const bitsPerSample = tags.get(TIFF_TAG.bitsPerSample) ?? [1];
  const channels = first(TIFF_TAG.samplesPerPixel) ?? 1;
  const bitDepth = Math.max(...bitsPerSample);
  const planar = first(TIFF_TAG.planarConfiguration) === 2;
  const rowBytes = (width: number) => Math.ceil((width * channels * bitDepth) / 8);
  const tileWidth = first(TIFF_TAG.tileWidth);
  const tileLength = first(TIFF_TAG.tileLength);
  const tiled = tileWidth !== undefined && tileLength !== undefined && tileWidth > 0 && tileLength > 0;
  // A row of tiles is whole tiles, past the right and bottom edges too; a strip is at most the image's height.
  const rows = tiled ? tileLength : Math.min(first(TIFF_TAG.rowsPerStrip) || size.height, size.height);
  const width = tiled ? Math.ceil(size.width / tileWidth) * tileWidth : size.width;
  const compression = first(TIFF_TAG.compression) ?? 1;
  // JPEG-compressed YCbCr comes out of libjpeg as RGB (libvips asks for JPEGCOLORMODE_RGB); other YCbCr does not.
  const ycbcrRgba = first(TIFF_TAG.photometric) === 6 && compression !== 6 && compression !== 7;
  return {
    channels,
    bitDepth,
    interlaced: false,
    sampleFormat: first(TIFF_TAG.sampleFormat) ?? 1,
    bitsPerSample,
    pieceBytes: (planar ? 2 : 1) * rows * rowBytes(width) + (ycbcrRgba ? 4 * rows * width : 0),
  };
}

function rawBytes(size: Size, layout: PixelLayout): number {
  return size.height * (1 + Math.ceil((size.width * layout.channels * layout.bitDepth) / 8));
}

/**
 * Peak bytes of decoding the whole image with our JS decoders (pngjs, jpeg-js, omggif, bmp-js), and for PNG and
 * JPEG (which can state an EXIF orientation) the turned copy orientImage makes of the result: 8-bit RGBA, and the
 * 16-bit samples of a 16-bit PNG.
 */
export function jsDecodePeak(format: ImageFormat, size: Size, fileBytes: number, layout?: PixelLayout): number {
  const px = size.width * size.height;
  switch (format) {
    case 'png': {
      const l = layout ?? { channels: 4, bitDepth: 16, interlaced: false };
      const decoded = 4 * px + (l.bitDepth === 16 ? 8 * px : 0);
      return fileBytes + 3 * rawBytes(size, l) + 2 * decoded;
    }
    case 'jpeg':
      return fileBytes + JPEG_JS_BYTES_PER_PIXEL * px + 4 * px;
    case 'gif':
      return fileBytes + 4 * px;
    case 'bmp':
    case 'webp':
    case 'tiff':
      return 2 * fileBytes + 8 * px;
  }
}

/**
 * Peak bytes of decoding with sharp straight to `out` (shrink-on-load, or the whole image when `out` is its size),
 * RGBA out at `bytesPerSample`, plus our 8-bit copy and a turned copy of both (EXIF orientation). libwebp decodes
 * the whole frame first (4 bytes per pixel); libtiff decodes one strip or one row of tiles at a time, and a
 * strip can be the whole page (a deflated strip of zeros compresses 1000:1: measured, a 12000×12000 16-bit RGB
 * TIFF of 840 KB in one strip peaked at 1.17 GB RSS, as three planes 1.69 GB, in 16-row strips 396 MB).
 */
export function sharpDecodePeak(format: 'png' | 'jpeg' | 'webp' | 'tiff', size: Size, fileBytes: number, out: Size, layout?: PixelLayout | TiffLayout, bytesPerSample: 1 | 2 = 1): number {
  const outPx = out.width * out.height;
  const base = fileBytes + STREAMING_OVERHEAD + 2 * (4 * bytesPerSample * outPx) + 2 * 4 * outPx;
  if (format === 'webp') return base + 4 * size.width * size.height;
  // Without a readable directory, the worst case: the whole page as one strip of 16-bit RGBA.
  if (format === 'tiff') return base + (layout && 'pieceBytes' in layout ? layout.pieceBytes : 8 * size.width * size.height);
  const l = layout ?? { channels: 4, bitDepth: 16, interlaced: true };
  if (!l.interlaced) return base;
  const whole = format === 'png' ? rawBytes(size, l) : 2 * l.channels * size.width * size.height;
  return base + whole;
}
