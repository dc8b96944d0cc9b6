import { PNG } from 'pngjs';

/** Encodes 8-bit RGBA pixels (row-major, width x height x 4 bytes) as a PNG file. */
export function encodePngRgba(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`width and height must be positive integers, got ${width}x${height}`);
  }
  if (rgba.length !== width * height * 4) {
    throw new RangeError(`RGBA data has ${rgba.length} bytes, expected ${width}x${height}x4 = ${width * height * 4}`);
  }
  const png = new PNG({ width, height, colorType: 6, inputColorType: 6, inputHasAlpha: true });
  png.data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  return PNG.sync.write(png, { colorType: 6, inputColorType: 6, inputHasAlpha: true });
}
