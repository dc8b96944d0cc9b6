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
 * - sharp (libvips) streams baseline JPEG and non-interlaced PNG through in strips, shrinking JPEG on load;
 *   an interlaced PNG is decoded whole first, and a progressive JPEG keeps every DCT coefficient (2 bytes per
 *   sample) until its last scan.
 */
import type { ImageFormat } from './decode';
import type { Size } from './budget';

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

/** JPEG frame header facts: walks the marker segments to the first SOFn. */
export function jpegLayout(bytes: Uint8Array): PixelLayout | undefined {
  let i = 2;
  while (i + 9 < bytes.length) {
    if (bytes[i] !== 0xff) return undefined;
    const m = bytes[i + 1];
    if (m === 0xff) {
      i += 1;
      continue;
    }
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      const progressive = m === 0xc2 || m === 0xc6 || m === 0xca || m === 0xce;
      return { channels: bytes[i + 9], bitDepth: bytes[i + 4], interlaced: progressive };
    }
    if (m === 0xda || m === 0xd9) return undefined;
    i += 2 + ((bytes[i + 2] << 8) | bytes[i + 3]);
  }
  return undefined;
}

function rawBytes(size: Size, layout: PixelLayout): number {
  return size.height * (1 + Math.ceil((size.width * layout.channels * layout.bitDepth) / 8));
}

/** Peak bytes of decoding the whole image with our JS decoders (pngjs, jpeg-js, omggif, bmp-js). */
export function jsDecodePeak(format: ImageFormat, size: Size, fileBytes: number, layout?: PixelLayout): number {
  const px = size.width * size.height;
  switch (format) {
    case 'png': {
      const l = layout ?? { channels: 4, bitDepth: 16, interlaced: false };
      return fileBytes + 3 * rawBytes(size, l) + 4 * px + (l.bitDepth === 16 ? 8 * px : 0);
    }
    case 'jpeg':
      return fileBytes + JPEG_JS_BYTES_PER_PIXEL * px;
    case 'gif':
      return fileBytes + 4 * px;
    case 'bmp':
    case 'webp':
      return 2 * fileBytes + 8 * px;
  }
}

/** Peak bytes of decoding a PNG or JPEG with sharp straight to `out` (shrink-on-load), RGBA out. */
export function sharpDecodePeak(format: 'png' | 'jpeg', size: Size, fileBytes: number, out: Size, layout?: PixelLayout): number {
  const base = fileBytes + STREAMING_OVERHEAD + 2 * 4 * out.width * out.height;
  const l = layout ?? { channels: 4, bitDepth: 16, interlaced: true };
  if (!l.interlaced) return base;
  const whole = format === 'png' ? rawBytes(size, l) : 2 * l.channels * size.width * size.height;
  return base + whole;
}
