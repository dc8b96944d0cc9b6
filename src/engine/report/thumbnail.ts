/**
 * Report pictures sized for viewing: at most THUMBNAIL_SIDE on the long side, encoded as whichever of PNG
 * and JPEG is smaller (PNG for drawings and digits, JPEG for photos), so a report of photos stays small.
 */
import * as jpeg from 'jpeg-js';
import { fitLongSide } from '../image/budget';
import { areaDownscale } from '../image/downscale';
import { encodePng, isOpaque } from '../image/encode';

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

/** Downscales by area averaging (every source pixel counts, so fine detail does not alias); the image itself when it fits. */
export function thumbnailPixels(img: Rgba, maxSide = THUMBNAIL_SIDE): Rgba {
  const out = fitLongSide(img, maxSide);
  if (out.width === img.width && out.height === img.height) return img;
  const data = img.data instanceof Uint8Array ? img.data : new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return { ...out, data: areaDownscale({ width: img.width, height: img.height, data }, out) };
}

/**
 * The smallest of: PNG, JPEG (only for opaque pictures: JPEG has no alpha), and `original` — the file's own
 * bytes, offered when the picture was not downscaled.
 */
export function embedPicture(img: Rgba, original?: EmbeddedPicture & { bytes: number }): EmbeddedPicture {
  const png = encodePng(img);
  const candidates: { mime: string; bytes: Buffer | undefined; base64?: string; size: number }[] = [{ mime: 'image/png', bytes: png, size: png.length }];
  if (isOpaque(img.data)) {
    const jpg = jpeg.encode({ data: Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), width: img.width, height: img.height }, JPEG_QUALITY).data;
    candidates.push({ mime: 'image/jpeg', bytes: jpg, size: jpg.length });
  }
  if (original) candidates.push({ mime: original.mime, bytes: undefined, base64: original.base64, size: original.bytes });
  const best = candidates.reduce((a, b) => (b.size < a.size ? b : a));
  return { mime: best.mime, base64: best.base64 ?? best.bytes!.toString('base64') };
}
