/**
 * sharp (libvips, prebuilt per platform from the npm registry) for what our JS decoders cannot do within
 * bounds: decoding a large PNG or JPEG straight to a small size (JPEG shrinks in the DCT on load, PNG streams
 * in strips), and encoding the panel's display copy.
 *
 * Loaded on first use and optional: where no sharp binary exists for the platform the JS decoders serve
 * instead (decode whole within the memory bound, then area-downscale), so nothing depends on it to work.
 */
import type SharpModule from 'sharp';
import { fileError, firstLine } from '../errors';
import { MAX_DECODE_PIXELS, type Size } from './budget';

type Sharp = typeof SharpModule;

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

/**
 * Decodes a PNG or JPEG to 8-bit sRGB RGBA of exactly `out`: shrinks on load, then a triangle filter widened to
 * the scale (area-like). The caller has checked the memory bound from the header. Warnings pass (camera files
 * often carry harmless ones, e.g. extraneous bytes before a marker), errors fail; the caller checks that a JPEG
 * has its end marker.
 */
export async function decodeToSize(sharp: Sharp, bytes: Uint8Array, file: string, formatName: string, out: Size): Promise<Uint8Array> {
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS, sequentialRead: true, failOn: 'error' })
      .resize(out.width, out.height, { fit: 'fill', kernel: 'linear' })
      .toColourspace('srgb')
      .ensureAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.width !== out.width || info.height !== out.height || info.channels !== 4 || data.length !== out.width * out.height * 4) {
      throw new Error(`decoded ${info.width}×${info.height}×${info.channels}, expected ${out.width}×${out.height}×4`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (err) {
    throw fileError(file, `the ${formatName} data is truncated or corrupt (${firstLine(err, 100)})`);
  }
}

/** RGBA pixels resized to `out` and encoded: JPEG (quality 90) when opaque, else PNG. */
export async function encodeResized(sharp: Sharp, rgba: { width: number; height: number; data: Uint8Array }, out: Size, opaque: boolean): Promise<{ mime: string; bytes: Buffer }> {
  let pipeline = sharp(rgba.data, { raw: { width: rgba.width, height: rgba.height, channels: 4 } });
  if (out.width !== rgba.width || out.height !== rgba.height) pipeline = pipeline.resize(out.width, out.height, { fit: 'fill', kernel: 'linear' });
  if (opaque) return { mime: 'image/jpeg', bytes: await pipeline.removeAlpha().jpeg({ quality: 90 }).toBuffer() };
  return { mime: 'image/png', bytes: await pipeline.png({ compressionLevel: 6 }).toBuffer() };
}
