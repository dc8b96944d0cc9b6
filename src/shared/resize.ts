/**
 * Bilinear resampling of single-channel float maps (e.g. a 7x7 Grad-CAM map or a 224x224 saliency
 * map brought onto the original image size).
 *
 * Pure TypeScript, no imports: used by the webview (browser) and the CLI (node).
 */

export interface AxisTaps {
  i0: Int32Array;
  i1: Int32Array;
  /** Weight of i1; i0 gets 1 - w. */
  w: Float32Array;
}

/**
 * Source sample positions for each destination index along one axis, half-pixel centers:
 * src = (dst + 0.5) * (srcSize / dstSize) - 0.5, clamped to [0, srcSize - 1]; with `alignCorners`
 * (torch's align_corners=True) src = dst * (srcSize - 1) / (dstSize - 1).
 */
export function axisTaps(srcSize: number, dstSize: number, opts: { alignCorners?: boolean } = {}): AxisTaps {
  const i0 = new Int32Array(dstSize);
  const i1 = new Int32Array(dstSize);
  const w = new Float32Array(dstSize);
  const scale = opts.alignCorners ? (dstSize > 1 ? (srcSize - 1) / (dstSize - 1) : 0) : srcSize / dstSize;
  const last = srcSize - 1;
  for (let d = 0; d < dstSize; d++) {
    let s = opts.alignCorners ? d * scale : (d + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    if (s > last) s = last;
    const lo = Math.floor(s);
    const hi = lo < last ? lo + 1 : last;
    i0[d] = lo;
    i1[d] = hi;
    w[d] = s - lo;
  }
  return { i0, i1, w };
}

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
}

/**
 * Resizes a row-major `srcW` x `srcH` map to `dstW` x `dstH` with bilinear interpolation and
 * half-pixel centers: the source coordinate of destination pixel x is (x + 0.5) * srcW / dstW - 0.5,
 * clamped to the edge. This is the convention of OpenCV's INTER_LINEAR and
 * `tf.image.resizeBilinear(..., alignCorners=false, halfPixelCenters=true)`, and of PIL's BILINEAR
 * when upscaling. When downscaling there is no antialiasing (like OpenCV/TF, unlike PIL, which
 * widens its filter): an exact 2x reduction averages each 2x2 block.
 *
 * Equal sizes return an exact copy.
 */
export function bilinearResize(
  src: Float32Array,
  srcW: number,
  srcH: number,
  dstW: number,
  dstH: number,
): Float32Array {
  checkSize('srcW', srcW);
  checkSize('srcH', srcH);
  checkSize('dstW', dstW);
  checkSize('dstH', dstH);
  if (src.length !== srcW * srcH) {
    throw new RangeError(`source has ${src.length} values, expected ${srcW}x${srcH} = ${srcW * srcH}`);
  }
  if (srcW === dstW && srcH === dstH) return new Float32Array(src);

  const xs = axisTaps(srcW, dstW);
  const ys = axisTaps(srcH, dstH);
  const out = new Float32Array(dstW * dstH);
  for (let y = 0; y < dstH; y++) {
    const row0 = ys.i0[y] * srcW;
    const row1 = ys.i1[y] * srcW;
    const wy = ys.w[y];
    const base = y * dstW;
    for (let x = 0; x < dstW; x++) {
      const x0 = xs.i0[x];
      const x1 = xs.i1[x];
      const wx = xs.w[x];
      const top = src[row0 + x0] + (src[row0 + x1] - src[row0 + x0]) * wx;
      const bottom = src[row1 + x0] + (src[row1 + x1] - src[row1 + x0]) * wx;
      out[base + x] = top + (bottom - top) * wy;
    }
  }
  return out;
}
