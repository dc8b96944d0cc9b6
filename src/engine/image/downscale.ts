/**
 * Area (box) downscaling of RGBA pixels: each output pixel is the average of the source area it covers,
 * fractional pixels at the cell edges weighted by how much of them falls inside. Colours are averaged
 * weighted by alpha (premultiplied), so a transparent pixel's colour does not bleed into its neighbours.
 *
 * It walks the source one row at a time and keeps only two output rows of sums, so the memory beside the
 * source and the result is a few rows, whatever the image size.
 */
import type { Size } from './budget';

interface Coverage {
  /** The first output cell each source pixel falls in. */
  first: Int32Array;
  /** The share (0..1] of that source pixel inside its first cell; the rest falls in the next cell. */
  share: Float64Array;
}

/** How source pixels 0..from-1 fall into output cells 0..to-1 (to ≤ from): cell k covers [k·from/to, (k+1)·from/to). */
function coverage(from: number, to: number): Coverage {
  const first = new Int32Array(from);
  const share = new Float64Array(from);
  for (let x = 0; x < from; x++) {
    // Integer arithmetic: the cell boundary (k+1)·from/to compared with x, all scaled by `to`.
    const k = Math.floor((x * to) / from);
    first[x] = k;
    share[x] = k + 1 >= to ? 1 : Math.min(1, ((k + 1) * from - x * to) / to);
  }
  return { first, share };
}

export function areaDownscale(src: { width: number; height: number; data: Uint8Array }, out: Size): Uint8Array {
  const { width: W, height: H, data } = src;
  const { width: w, height: h } = out;
  if (w > W || h > H || w < 1 || h < 1) throw new Error(`areaDownscale: ${W}×${H} cannot shrink to ${w}×${h}`);
  const cols = coverage(W, w);
  const rows = coverage(H, h);
  const cellArea = (W / w) * (H / h);
  const dst = new Uint8Array(w * h * 4);
  const line = new Float64Array(w * 4);
  let acc = new Float64Array(w * 4);
  let next = new Float64Array(w * 4);
  let accRow = 0;

  const flush = () => {
    const o = accRow * w * 4;
    for (let i = 0; i < w * 4; i += 4) {
      const a = acc[i + 3];
      dst[o + i] = a > 0 ? Math.round(acc[i] / a) : 0;
      dst[o + i + 1] = a > 0 ? Math.round(acc[i + 1] / a) : 0;
      dst[o + i + 2] = a > 0 ? Math.round(acc[i + 2] / a) : 0;
      dst[o + i + 3] = Math.min(255, Math.round(a / cellArea));
    }
    [acc, next] = [next, acc];
    next.fill(0);
    accRow++;
  };

  for (let y = 0; y < H; y++) {
    line.fill(0);
    for (let x = 0, i = y * W * 4; x < W; x++, i += 4) {
      const a = data[i + 3];
      const o = cols.first[x] * 4;
      const s0 = cols.share[x];
      line[o] += data[i] * a * s0;
      line[o + 1] += data[i + 1] * a * s0;
      line[o + 2] += data[i + 2] * a * s0;
      line[o + 3] += a * s0;
      if (s0 < 1) {
        const s1 = 1 - s0;
        line[o + 4] += data[i] * a * s1;
        line[o + 5] += data[i + 1] * a * s1;
        line[o + 6] += data[i + 2] * a * s1;
        line[o + 7] += a * s1;
      }
    }
    while (accRow < rows.first[y]) flush();
    const s0 = rows.share[y];
    for (let i = 0; i < w * 4; i++) acc[i] += line[i] * s0;
    if (s0 < 1) for (let i = 0; i < w * 4; i++) next[i] += line[i] * (1 - s0);
  }
  while (accRow < h) flush();
  return dst;
}
