/**
 * Overlay pictures the CLI writes are at least VIEWABLE_LONG_SIDE long: a 28×28 MNIST digit's overlay is
 * blown up by a whole factor with nearest-neighbour (19× -> 532×532), so every image pixel stays a square
 * block of one colour and nothing is smoothed away or invented. Maps saved as numbers (.npy) keep the image's
 * own size; only the picture is enlarged.
 */
import type { Rgba } from '../report/thumbnail';

/** The shortest long side of an overlay picture, in pixels. */
export const VIEWABLE_LONG_SIDE = 512;

/** The whole factor that brings `size`'s long side to at least VIEWABLE_LONG_SIDE (1 when it is already). */
export function viewableFactor(size: { width: number; height: number }): number {
  const long = Math.max(size.width, size.height);
  return long >= VIEWABLE_LONG_SIDE || long < 1 ? 1 : Math.ceil(VIEWABLE_LONG_SIDE / long);
}

/** Nearest-neighbour enlargement by a whole `factor`: pixel (x, y) becomes the factor×factor block at (x·f, y·f). */
export function enlargeNearest(img: Rgba, factor: number): Rgba {
  if (factor === 1) return img;
  const { width: w, height: h, data } = img;
  const W = w * factor;
  const out = new Uint8Array(W * h * factor * 4);
  for (let y = 0; y < h; y++) {
    // One enlarged row, then copied factor-1 times below itself.
    const row = y * factor * W * 4;
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 4;
      for (let k = 0; k < factor; k++) out.set(data.subarray(s, s + 4), row + (x * factor + k) * 4);
    }
    for (let k = 1; k < factor; k++) out.copyWithin(row + k * W * 4, row, row + W * 4);
  }
  return { width: W, height: h * factor, data: out };
}

/** An overlay picture at a viewable size: enlarged by nearest-neighbour when it is smaller than VIEWABLE_LONG_SIDE. */
export function viewable(img: Rgba): Rgba {
  return enlargeNearest(img, viewableFactor(img));
}
