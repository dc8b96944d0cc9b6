/**
 * sharp (libvips, prebuilt per platform from the npm registry) for what our JS decoders cannot do: decoding WebP
 * (libwebp) and TIFF (libtiff) at all, decoding a large PNG, JPEG, WebP or TIFF straight to a small size (JPEG
 * shrinks in the DCT on load, PNG and TIFF stream in strips), and encoding the panel's display copy.
 *
 * Loaded on first use and optional: where no sharp binary exists for the platform the JS decoders serve
 * instead (decode whole within the memory bound, then area-downscale); only WebP and TIFF then cannot be read,
 * which the user is told in one sentence.
 */
import type SharpModule from 'sharp';
import { firstLine } from '../errors';
import { MAX_DECODE_PIXELS, type Size } from './budget';
import { corrupt, endsEarlyMessage, to8Bit, type ImageFormat } from './decode';

export type Sharp = typeof SharpModule;

let loaded: Sharp | null | undefined;
let loadFailure = '';

/** sharp, or undefined when it cannot load here (no prebuilt binary for this platform); never throws. */
export function sharpIfAvailable(): Sharp | undefined {
  if (loaded === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = require('sharp') as Sharp;
      // One image at a time and nothing kept between requests: the engine's memory is for the model.
      loaded.cache(false);
    } catch (err) {
      loaded = null;
      loadFailure = firstLine(err);
    }
  }
  return loaded ?? undefined;
}

/** Why sharp did not load (for the log), or '' when it did or was not tried. */
export function sharpLoadFailure(): string {
  return loadFailure;
}

/** Decoded pixels: 8-bit RGBA, and the 16-bit samples when they were asked for. */
export interface SharpPixels {
  data: Uint8Array;
  data16?: Uint16Array;
}

/**
 * Decodes a PNG, JPEG, WebP or TIFF (its first page) to RGBA of exactly `out`: the whole image when `out` is
 * its size, else shrunk on load, then a triangle filter widened to the scale (area-like). `depth` 16 keeps 16 bits
 * per sample (in `data16`; `data` is them rounded to 8 bits). The caller has checked the memory bound from the
 * header. Warnings pass unless `failOn` is 'warning' (camera files often carry harmless ones, e.g. extraneous bytes
 * before a marker), errors fail, in one sentence naming the file; the caller checks that a JPEG has its end marker.
 *
 * An embedded ICC profile is ignored (`ignoreIcc`): the samples come out as stored, as pngjs and jpeg-js give
 * them and as PIL's convert('RGB') and torchvision's decode_jpeg gave them to the models being explained. Left on,
 * sharp 0.35 converts a Display P3 JPEG to sRGB (up to 15 levels off) and leaves 16-bit samples in P3.
 */
export async function decodeToSize(sharp: Sharp, bytes: Uint8Array, file: string, format: ImageFormat, size: Size, out: Size, depth: 8 | 16 = 8,
  failOn: 'error' | 'warning' = 'error'): Promise<SharpPixels> {
  try {
    let pipeline = sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS, sequentialRead: true, failOn, ignoreIcc: true });
    if (out.width !== size.width || out.height !== size.height) pipeline = pipeline.resize(out.width, out.height, { fit: 'fill', kernel: 'linear' });
    const { data, info } = await pipeline
      .toColourspace(depth === 16 ? 'rgb16' : 'srgb')
      .ensureAlpha()
      .raw({ depth: depth === 16 ? 'ushort' : 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const samples = out.width * out.height * 4;
    if (info.width !== out.width || info.height !== out.height || info.channels !== 4 || data.length !== samples * (depth / 8)) {
      throw new Error(`decoded ${info.width}×${info.height}×${info.channels}, the header says ${out.width}×${out.height}×4`);
    }
    if (depth === 8) return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
    // Native-endian ushort samples; copied only when the buffer is not 2-byte aligned.
    const data16 = data.byteOffset % 2 === 0 ? new Uint16Array(data.buffer, data.byteOffset, samples) : new Uint16Array(Uint8Array.from(data).buffer);
    return { data: to8Bit(data16), data16 };
  } catch (err) {
    throw corrupt(file, format, sharpReason(err));
  }
}

/**
 * libvips' message as a short reason: the loaders' prefixes dropped ("tiff2vips:", "Input buffer has corrupt
 * header: webp:"), and a read past the data said as the file ending early.
 */
export function sharpReason(err: unknown): string {
  const msg = firstLine(err, 200);
  if (endsEarlyMessage(msg)) return 'the file ends early';
  if (/unsupported image format/i.test(msg)) return 'its structure cannot be read';
  let reason = msg.replace(/^Input (buffer|file) (has corrupt header|contains unsupported image format):?\s*/i, '');
  for (let i = 0; i < 3; i++) reason = reason.replace(/^(\w+2vips|vips_?\w*|VipsJpeg|VipsForeignLoad\w*|webp|tiff|png|jpeg|TIFF\w*|LibTiff)\s*:\s*/i, '');
  reason = reason.trim();
  if (!reason) return 'unknown error';
  return reason.length > 100 ? reason.slice(0, 97) + '...' : reason;
}

/** RGBA pixels resized to `out` and encoded: JPEG (quality 90) when opaque, else PNG. */
export async function encodeResized(sharp: Sharp, rgba: { width: number; height: number; data: Uint8Array }, out: Size, opaque: boolean): Promise<{ mime: string; bytes: Buffer }> {
  let pipeline = sharp(rgba.data, { raw: { width: rgba.width, height: rgba.height, channels: 4 } });
  if (out.width !== rgba.width || out.height !== rgba.height) pipeline = pipeline.resize(out.width, out.height, { fit: 'fill', kernel: 'linear' });
  if (opaque) return { mime: 'image/jpeg', bytes: await pipeline.removeAlpha().jpeg({ quality: 90 }).toBuffer() };
  return { mime: 'image/png', bytes: await pipeline.png({ compressionLevel: 6 }).toBuffer() };
}
