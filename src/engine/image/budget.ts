/**
 * How big an image may get inside the engine: the working copy the methods see, the copy the panel shows,
 * and the memory a decoder may use. One place for the three bounds, so the decoders, the display copy and
 * the refusal message agree.
 *
 * Why these numbers: the model input is at most ~1000 px, so a 4096 px working copy loses nothing a map can
 * show while keeping every per-pixel buffer (RGBA, tensors, overlays) under 64 MB; the panel draws at most a
 * screen's width, so 2048 px is sharp on a HiDPI half-screen panel; 1 GiB is what the engine process can
 * spend on decoding beside a loaded model without the machine swapping.
 */
import { fileError, UserError } from '../errors';

/** The decoded working image is at most this long on its long side (aspect ratio kept). */
export const WORKING_LONG_SIDE = 4096;
/** The copy of the image sent to the panel is at most this long on its long side. */
export const DISPLAY_LONG_SIDE = 2048;
/** A decoder may use at most this much memory (estimated from the header) for one image. */
export const MEMORY_BOUND_BYTES = 1024 * 2 ** 20;
/**
 * At most this many pixels are decoded, whatever the memory: a streaming decoder (sharp's) stays small on any
 * size, but its time grows with the pixels (a PNG inflates every row). 500 megapixels is beyond any camera.
 */
export const MAX_DECODE_PIXELS = 500_000_000;

export interface Size {
  width: number;
  height: number;
}

/** `size` scaled to fit `longSide` on its long side, aspect ratio kept (each side at least 1 px); unchanged if it already fits. */
export function fitLongSide(size: Size, longSide: number): Size {
  const long = Math.max(size.width, size.height);
  if (long <= longSide) return { width: size.width, height: size.height };
  const scale = longSide / long;
  return {
    width: Math.max(1, Math.min(longSide, Math.round(size.width * scale))),
    height: Math.max(1, Math.min(longSide, Math.round(size.height * scale))),
  };
}

/**
 * Throws, before any pixel is decoded, when decoding an image of `size` needs more than the memory bound.
 * `neededBytes` is the decoder's estimated peak for it.
 */
export function checkMemory(file: string, size: Size, neededBytes: number): void {
  if (neededBytes > MEMORY_BOUND_BYTES) throw tooLarge(file, size, neededBytes);
  if (size.width * size.height > MAX_DECODE_PIXELS) {
    throw fileError(file, `the image is ${size.width}×${size.height} (${megapixels(size)} megapixels), more than the ${MAX_DECODE_PIXELS / 1e6}-megapixel limit for decoding`);
  }
}

const megapixels = (size: Size) => ((size.width * size.height) / 1e6).toFixed(1);

export function tooLarge(file: string, size: Size, neededBytes: number): UserError {
  const mp = megapixels(size);
  const mb = (b: number) => Math.ceil(b / 2 ** 20);
  return fileError(
    file,
    `the image is ${size.width}×${size.height} (${mp} megapixels); decoding it needs about ${mb(neededBytes)} MB, more than the ${mb(MEMORY_BOUND_BYTES)} MB memory bound`,
  );
}

/**
 * True when the file itself can be shown: no longer than the display bound, and upright. A file with an EXIF
 * orientation is re-encoded from the engine's working image instead: the engine turns it upright by default
 * (as a browser would) but reads it as stored when told to, and only its own copy matches its maps either way
 * (its size is then the upright one, where the header's is the stored one).
 */
export function showsAsIs(header: Size & { orientation?: number }): boolean {
  return Math.max(header.width, header.height) <= DISPLAY_LONG_SIDE && (!header.orientation || header.orientation === 1);
}
