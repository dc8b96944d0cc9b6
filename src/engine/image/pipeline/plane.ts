/**
 * The image and output-window types the resamplers (pilResample.ts, tfResize.ts) share, and the argument checks
 * they both make. Bad arguments here are the caller's bug, not the user's, so they throw RangeError.
 */

/** An interleaved image (row-major, `channels` values per pixel). Uint8Array = 8-bit samples; Float32Array = values on the 0..255 scale (16-bit images). */
export interface Plane {
  data: Uint8Array | Float32Array;
  width: number;
  height: number;
  channels: number;
}

/** The part of a resize's output to compute: [left, left+width) × [top, top+height) of the dstW×dstH result. Every output pixel depends only on its own weights, so a window equals the same pixels of the full resize. */
export interface Window {
  left: number;
  top: number;
  width: number;
  height: number;
}

function positiveInteger(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${what} must be a positive integer, got ${value}`);
}

/** Throws RangeError unless `src` has positive integer sizes and exactly width·height·channels samples. */
export function checkPlane(src: Plane, who: string): void {
  positiveInteger(src.width, `${who}: source width`);
  positiveInteger(src.height, `${who}: source height`);
  positiveInteger(src.channels, `${who}: source channels`);
  const expected = src.width * src.height * src.channels;
  if (src.data.length !== expected) {
    throw new RangeError(`${who}: ${src.width}×${src.height}×${src.channels} needs ${expected} samples, got ${src.data.length}`);
  }
}

/** Checks the output size and window; returns the window (the whole output when none is given). */
export function outputWindow(dstW: number, dstH: number, window: Window | undefined, who: string): Window {
  positiveInteger(dstW, `${who}: output width`);
  positiveInteger(dstH, `${who}: output height`);
  if (!window) return { left: 0, top: 0, width: dstW, height: dstH };
  const { left, top, width, height } = window;
  positiveInteger(width, `${who}: window width`);
  positiveInteger(height, `${who}: window height`);
  if (!Number.isInteger(left) || !Number.isInteger(top) || left < 0 || top < 0 || left + width > dstW || top + height > dstH) {
    throw new RangeError(`${who}: window ${width}×${height} at (${left}, ${top}) is not inside the ${dstW}×${dstH} output`);
  }
  return { left, top, width, height };
}
