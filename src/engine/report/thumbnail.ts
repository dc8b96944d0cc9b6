/**
 * Report pictures sized for viewing: at most THUMBNAIL_SIDE on the long side, encoded as whichever of PNG
 * and JPEG is smaller (PNG for drawings and digits, JPEG for photos), so a report of photos stays small.
 */
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/** Long side of a report picture, in pixels: a report shows them at most this large. */
export const THUMBNAIL_SIDE = 512;
/** JPEG quality of photo thumbnails: no visible blocking at viewing size. */
const JPEG_QUALITY = 85;

export interface Rgba {
  width: number;
  height: number;
  /** RGBA, 4 bytes per pixel, row-major. */
  data: Uint8Array | Uint8ClampedArray;
}

export interface EmbeddedPicture {
  mime: string;
  base64: string;
}

/** The size that fits `maxSide` with the aspect ratio kept; never larger than the original. */
export function fitWithin(width: number, height: number, maxSide = THUMBNAIL_SIDE): { width: number; height: number } {
  const s = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * s)), height: Math.max(1, Math.round(height * s)) };
}

/** Downscales by area averaging (every source pixel counts, so fine detail does not alias); the image itself when it fits. */
export function thumbnailPixels(img: Rgba, maxSide = THUMBNAIL_SIDE): Rgba {
  const { width: tw, height: th } = fitWithin(img.width, img.height, maxSide);
  if (tw === img.width && th === img.height) return img;
  const out = new Uint8ClampedArray(tw * th * 4);
  const sx = img.width / tw;
  const sy = img.height / th;
  for (let y = 0; y < th; y++) {
    const y0 = Math.floor(y * sy);
    const y1 = Math.max(y0 + 1, Math.min(img.height, Math.floor((y + 1) * sy)));
    for (let x = 0; x < tw; x++) {
      const x0 = Math.floor(x * sx);
      const x1 = Math.max(x0 + 1, Math.min(img.width, Math.floor((x + 1) * sx)));
      let r = 0, g = 0, b = 0, a = 0;
      for (let yy = y0; yy < y1; yy++) {
        let i = 4 * (yy * img.width + x0);
        for (let xx = x0; xx < x1; xx++, i += 4) {
          r += img.data[i];
          g += img.data[i + 1];
          b += img.data[i + 2];
          a += img.data[i + 3];
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = 4 * (y * tw + x);
      out[o] = r / n;
      out[o + 1] = g / n;
      out[o + 2] = b / n;
      out[o + 3] = a / n;
    }
  }
  return { width: tw, height: th, data: out };
}

function isOpaque(img: Rgba): boolean {
  for (let i = 3; i < img.data.length; i += 4) if (img.data[i] !== 255) return false;
  return true;
}

function encodePng(img: Rgba): Buffer {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  // Opaque pictures drop the alpha channel: a quarter fewer bytes before compression.
  const colorType = isOpaque(img) ? 2 : 6;
  return PNG.sync.write(png, { colorType, inputColorType: 6, inputHasAlpha: true });
}

/**
 * The smallest of: PNG, JPEG (only for opaque pictures: JPEG has no alpha), and `original` — the file's own
 * bytes, offered when the picture was not downscaled.
 */
export function embedPicture(img: Rgba, original?: EmbeddedPicture & { bytes: number }): EmbeddedPicture {
  const png = encodePng(img);
  const candidates: { mime: string; bytes: Buffer | undefined; base64?: string; size: number }[] = [{ mime: 'image/png', bytes: png, size: png.length }];
  if (isOpaque(img)) {
    const jpg = jpeg.encode({ data: Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), width: img.width, height: img.height }, JPEG_QUALITY).data;
    candidates.push({ mime: 'image/jpeg', bytes: jpg, size: jpg.length });
  }
  if (original) candidates.push({ mime: original.mime, bytes: undefined, base64: original.base64, size: original.bytes });
  const best = candidates.reduce((a, b) => (b.size < a.size ? b : a));
  return { mime: best.mime, base64: best.base64 ?? best.bytes!.toString('base64') };
}
