/** Encoding RGBA pixels for showing them (the panel's display copy, report pictures). */
import { PNG } from 'pngjs';

/** True when every pixel's alpha is 255: the picture can drop its alpha channel (PNG RGB, or JPEG). */
export function isOpaque(rgba: Uint8Array | Uint8ClampedArray): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return false;
  return true;
}

/** PNG of RGBA pixels; an opaque picture is written as RGB (a quarter fewer bytes before compression). */
export function encodePng(img: { width: number; height: number; data: Uint8Array | Uint8ClampedArray }): Buffer {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return PNG.sync.write(png, { colorType: isOpaque(img.data) ? 2 : 6, inputColorType: 6, inputHasAlpha: true });
}
