/**
 * tfjs's `tf.image.resizeBilinear` / `resizeNearestNeighbor` as its cpu backend computes them
 * (tfjs-backend-cpu kernels ResizeBilinear.js and ResizeNearestNeighbor.js, tfjs 4.22), in plain TypeScript so
 * a tf-trained model's resize runs before the tensor exists and only over the window that is kept.
 *
 * The three pixel conventions are tfjs's three legal flag pairs: legacy-tf (alignCorners=false,
 * halfPixelCenters=false, TF1's default: output i samples i·in/out), half-pixel (false, true) and align-corners
 * (true, false). The arithmetic follows the kernel step by step in doubles (the source position, floor/ceil
 * neighbours, then top, bottom and their blend), stored as float32, so the values are tfjs cpu's exactly.
 * No antialias: tfjs has none.
 */
import { checkPlane, outputWindow, type Plane, type Window } from './plane';
import type { Interpolation, PixelConvention } from './spec';

export type TfMethod = Extract<Interpolation, 'bilinear' | 'nearest'>;

/** in/out, or (in−1)/(out−1) for align-corners when out > 1 (tfjs's effective sizes). */
function ratio(inSize: number, outSize: number, convention: PixelConvention): number {
  return convention === 'align-corners' && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
}

/** Bilinear neighbours and blend fraction per output index in [from, from+count). */
function bilinearAxis(inSize: number, outSize: number, convention: PixelConvention, from: number, count: number) {
  const r = ratio(inSize, outSize, convention);
  const lo = new Int32Array(count);
  const hi = new Int32Array(count);
  const frac = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const i = from + k;
    const pos = convention === 'half-pixel' ? r * (i + 0.5) - 0.5 : r * i;
    const floor = Math.max(0, Math.floor(pos));
    lo[k] = floor;
    hi[k] = Math.min(inSize - 1, Math.ceil(pos));
    frac[k] = pos - floor;
  }
  return { lo, hi, frac };
}

/** Nearest source index per output index in [from, from+count): align-corners rounds, the others floor. */
function nearestAxis(inSize: number, outSize: number, convention: PixelConvention, from: number, count: number): Int32Array {
  const r = ratio(inSize, outSize, convention);
  const out = new Int32Array(count);
  for (let k = 0; k < count; k++) {
    const i = from + k;
    const pos = convention === 'half-pixel' ? r * (i + 0.5) : r * i;
    const index = Math.min(inSize - 1, convention === 'align-corners' ? Math.round(pos) : Math.floor(pos));
    out[k] = Math.max(0, index);
  }
  return out;
}

/** tfjs cpu's ResizeBilinear / ResizeNearestNeighbor arithmetic for one pixel convention, windowed. Float32 in and out. */
export function tfResize(src: Plane, dstW: number, dstH: number, method: TfMethod, convention: PixelConvention, window?: Window): Plane {
  checkPlane(src, 'tfResize');
  const win = outputWindow(dstW, dstH, window, 'tfResize');
  if (method !== 'bilinear' && method !== 'nearest') throw new RangeError(`tfResize: unknown method ${String(method)}`);
  if (convention !== 'half-pixel' && convention !== 'align-corners' && convention !== 'legacy-tf') {
    throw new RangeError(`tfResize: unknown pixel convention ${String(convention)}`);
  }
  const { channels, data: x } = src;
  const rowStride = src.width * channels;
  const out = new Float32Array(win.width * win.height * channels);
  let o = 0;
  if (method === 'nearest') {
    const cols = nearestAxis(src.width, dstW, convention, win.left, win.width);
    const rows = nearestAxis(src.height, dstH, convention, win.top, win.height);
    for (let y = 0; y < win.height; y++) {
      const row = rows[y] * rowStride;
      for (let k = 0; k < win.width; k++) {
        const p = row + cols[k] * channels;
        for (let c = 0; c < channels; c++) out[o++] = x[p + c];
      }
    }
    return { data: out, width: win.width, height: win.height, channels };
  }
  const cols = bilinearAxis(src.width, dstW, convention, win.left, win.width);
  const rows = bilinearAxis(src.height, dstH, convention, win.top, win.height);
  for (let y = 0; y < win.height; y++) {
    const top = rows.lo[y] * rowStride;
    const bottom = rows.hi[y] * rowStride;
    const fy = rows.frac[y];
    for (let k = 0; k < win.width; k++) {
      const left = cols.lo[k] * channels;
      const right = cols.hi[k] * channels;
      const fx = cols.frac[k];
      for (let c = 0; c < channels; c++) {
        const tl = x[top + left + c];
        const tr = x[top + right + c];
        const bl = x[bottom + left + c];
        const br = x[bottom + right + c];
        // The kernel's exact expression order: each row blended in x, then the rows in y.
        const t = tl + (tr - tl) * fx;
        const b = bl + (br - bl) * fx;
        out[o++] = t + (b - t) * fy;
      }
    }
  }
  return { data: out, width: win.width, height: win.height, channels };
}
