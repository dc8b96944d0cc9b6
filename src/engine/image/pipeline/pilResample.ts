/**
 * PIL's `Image.resize((dstW, dstH), filter)` in TypeScript, bit for bit on 8-bit images (Pillow 9.4
 * src/libImaging/Resample.c and, for NEAREST, Geometry.c `ImagingScaleAffine`), so a PIL-based pipeline
 * (torchvision on PIL images, timm, HuggingFace) gets the very pixels its model was trained on.
 *
 * What makes it exact (facts from Pillow's source, checked against Pillow 9.4 by test/unit/resample.test.ts):
 * - Each output index has its own taps: the kernel widened by in/out when shrinking (the antialias), centred at
 *   (i+0.5)·in/out, bounds rounded as PIL does, weights normalised to sum 1 (`precompute_coeffs`).
 * - 8-bit: weights become 22-bit integers, sums start at 2^21 and are shifted down and clipped to 0..255; the
 *   horizontal pass runs first into an 8-bit intermediate. That intermediate rounding and clipping is why a
 *   float implementation of the same kernels differs by several levels on bicubic.
 * - A pass whose size is unchanged is skipped (PIL skips it, and running it would blur).
 * Only the requested window is computed: the horizontal pass covers just the window's columns and the rows the
 * window's vertical taps read; each of those values is the one the full resize computes.
 */
import { checkPlane, outputWindow, type Plane, type Window } from './plane';
import type { Interpolation } from './spec';

/** PIL's filters under our names (`area` is PIL's BOX). */
export type PilFilter = Interpolation;

const PRECISION_BITS = 22;
const ROUNDING = 1 << (PRECISION_BITS - 1);

interface Kernel {
  support: number;
  at: (x: number) => number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

// Hamming's constants are C floats (0.54f, 0.46f) in Pillow, widened to double.
const HAMMING_A = Math.fround(0.54);
const HAMMING_B = Math.fround(0.46);

/** Pillow's filter functions and supports, as written in Resample.c. */
const KERNELS: Record<Exclude<PilFilter, 'nearest'>, Kernel> = {
  area: { support: 0.5, at: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    at: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  hamming: {
    support: 1,
    at: (x) => {
      const a = Math.abs(x);
      if (a === 0) return 1;
      if (a >= 1) return 0;
      const px = a * Math.PI;
      return (Math.sin(px) / px) * (HAMMING_A + HAMMING_B * Math.cos(px));
    },
  },
  bicubic: {
    // Keys' cubic with a = -0.5.
    support: 2,
    at: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, at: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** One axis's taps for outputs [from, from+count): output k reads inputs first[k] .. first[k]+size[k]-1. */
interface Taps {
  first: Int32Array;
  size: Int32Array;
  /** Row k's weights start at k·stride (PIL's ksize). */
  stride: number;
  weights: Float64Array;
}

/** Pillow's `precompute_coeffs` for the whole input range [0, inSize), restricted to outputs [from, from+count). */
function axisTaps(inSize: number, outSize: number, from: number, count: number, kernel: Kernel): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = kernel.support * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const invScale = 1 / filterScale;
  const first = new Int32Array(count);
  const size = new Int32Array(count);
  const weights = new Float64Array(count * stride);
  for (let k = 0; k < count; k++) {
    const center = (from + k + 0.5) * scale;
    // C's (int) truncates; PIL then clamps to the image.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const base = k * stride;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = kernel.at((x + xmin - center + 0.5) * invScale);
      weights[base + x] = w;
      total += w;
    }
    if (total !== 0) for (let x = 0; x < xmax; x++) weights[base + x] /= total;
    first[k] = xmin;
    size[k] = xmax;
  }
  return { first, size, stride, weights };
}

/** Pillow's `normalize_coeffs_8bpc`: weights as 22-bit fixed point, rounded half away from zero by truncation. */
function fixedPoint(weights: Float64Array): Int32Array {
  const out = new Int32Array(weights.length);
  const one = 1 << PRECISION_BITS;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    out[i] = Math.trunc(w < 0 ? -0.5 + w * one : 0.5 + w * one);
  }
  return out;
}

/** Rows [firstRow, firstRow+rows) of an interleaved image, each `rowLen` samples from `offset` of its row. */
interface Stage<T> {
  data: T;
  rowStride: number;
  offset: number;
  firstRow: number;
}

/**
 * Horizontal 8-bit pass over source rows [y0, y1) into a new image of taps.first.length columns. Sums are exact
 * JS integers (below 2^31, as PIL's C ints); `>> 22` floors like C's arithmetic shift and the clamped array clips.
 */
function horizontal8(src: Uint8Array, srcWidth: number, channels: number, y0: number, y1: number, taps: Taps, weights: Int32Array): Uint8Array {
  const cols = taps.first.length;
  const out = new Uint8Array((y1 - y0) * cols * channels);
  const clip = new Uint8ClampedArray(out.buffer);
  const rowStride = srcWidth * channels;
  let o = 0;
  for (let y = y0; y < y1; y++) {
    const row = y * rowStride;
    for (let k = 0; k < cols; k++) {
      const base = k * taps.stride;
      const n = taps.size[k];
      const start = row + taps.first[k] * channels;
      for (let c = 0; c < channels; c++) {
        let ss = ROUNDING;
        for (let j = 0, p = start + c; j < n; j++, p += channels) ss += src[p] * weights[base + j];
        clip[o++] = ss >> PRECISION_BITS;
      }
    }
  }
  return out;
}

/** Vertical 8-bit pass: output row k sums stage rows taps.first[k].. (source row numbers) over rowLen samples. */
function vertical8(stage: Stage<Uint8Array>, rowLen: number, taps: Taps, weights: Int32Array): Uint8Array {
  const rows = taps.first.length;
  const out = new Uint8Array(rows * rowLen);
  const clip = new Uint8ClampedArray(out.buffer);
  // Summing row by row into one accumulator reads memory in order; integer sums do not depend on the order.
  const acc = new Float64Array(rowLen);
  for (let k = 0; k < rows; k++) {
    acc.fill(ROUNDING);
    const base = k * taps.stride;
    for (let j = 0; j < taps.size[k]; j++) {
      const w = weights[base + j];
      const start = (taps.first[k] + j - stage.firstRow) * stage.rowStride + stage.offset;
      for (let x = 0; x < rowLen; x++) acc[x] += stage.data[start + x] * w;
    }
    const o = k * rowLen;
    for (let x = 0; x < rowLen; x++) clip[o + x] = acc[x] >> PRECISION_BITS;
  }
  return out;
}

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal float pass: PIL's double weights, each value clamped to 0..255 as the 8-bit pass clips. */
function horizontalFloat(src: Float32Array, srcWidth: number, channels: number, y0: number, y1: number, taps: Taps): Float32Array {
  const cols = taps.first.length;
  const out = new Float32Array((y1 - y0) * cols * channels);
  const rowStride = srcWidth * channels;
  const weights = taps.weights;
  let o = 0;
  for (let y = y0; y < y1; y++) {
    const row = y * rowStride;
    for (let k = 0; k < cols; k++) {
      const base = k * taps.stride;
      const n = taps.size[k];
      const start = row + taps.first[k] * channels;
      for (let c = 0; c < channels; c++) {
        let ss = 0;
        for (let j = 0, p = start + c; j < n; j++, p += channels) ss += src[p] * weights[base + j];
        out[o++] = clamp255(ss);
      }
    }
  }
  return out;
}

function verticalFloat(stage: Stage<Float32Array>, rowLen: number, taps: Taps): Float32Array {
  const rows = taps.first.length;
  const out = new Float32Array(rows * rowLen);
  const acc = new Float64Array(rowLen);
  for (let k = 0; k < rows; k++) {
    acc.fill(0);
    const base = k * taps.stride;
    for (let j = 0; j < taps.size[k]; j++) {
      const w = taps.weights[base + j];
      const start = (taps.first[k] + j - stage.firstRow) * stage.rowStride + stage.offset;
      for (let x = 0; x < rowLen; x++) acc[x] += stage.data[start + x] * w;
    }
    const o = k * rowLen;
    for (let x = 0; x < rowLen; x++) out[o + x] = clamp255(acc[x]);
  }
  return out;
}

/**
 * NEAREST's source index per output, as `ImagingScaleAffine` computes it: a double position starting at
 * in/out·0.5 and advanced by in/out per output (accumulated, so it is rebuilt from output 0), truncated.
 */
function nearestIndices(inSize: number, outSize: number, from: number, count: number): Int32Array {
  const step = inSize / outSize;
  const out = new Int32Array(count);
  let pos = step * 0.5;
  for (let i = 0; i < from + count; i++) {
    // PIL leaves a pixel past the edge untouched; the accumulated position stays below inSize − step/2 anyway.
    if (i >= from) out[i - from] = Math.min(inSize - 1, Math.trunc(pos));
    pos += step;
  }
  return out;
}

function copyPixels(src: Plane, cols: Int32Array, rows: Int32Array): Plane {
  const { channels } = src;
  const data = src.data instanceof Uint8Array ? new Uint8Array(cols.length * rows.length * channels) : new Float32Array(cols.length * rows.length * channels);
  let o = 0;
  for (let y = 0; y < rows.length; y++) {
    const row = rows[y] * src.width;
    for (let x = 0; x < cols.length; x++) {
      const p = (row + cols[x]) * channels;
      for (let c = 0; c < channels; c++) data[o++] = src.data[p + c];
    }
  }
  return { data, width: cols.length, height: rows.length, channels };
}

function range(from: number, count: number): Int32Array {
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = from + i;
  return out;
}

/** PIL's Image.resize((dstW, dstH), filter) (Pillow Resample.c / Geometry.c), windowed. Uint8 planes: PIL's integer arithmetic bit for bit (22-bit weights, horizontal pass first into an 8-bit intermediate of only the rows the vertical pass reads, a pass skipped when its size is unchanged); Float32 planes: the same weights in double, intermediate clamped to [0,255] as PIL clips; output same array type. */
export function pilResize(src: Plane, dstW: number, dstH: number, filter: PilFilter, window?: Window): Plane {
  checkPlane(src, 'pilResize');
  const win = outputWindow(dstW, dstH, window, 'pilResize');
  if (filter === 'nearest') {
    return copyPixels(src, nearestIndices(src.width, dstW, win.left, win.width), nearestIndices(src.height, dstH, win.top, win.height));
  }
  const kernel = KERNELS[filter];
  if (!kernel) throw new RangeError(`pilResize: unknown filter ${String(filter)}`);
  const { channels } = src;
  const needHorizontal = dstW !== src.width;
  const needVertical = dstH !== src.height;
  if (!needHorizontal && !needVertical) return copyPixels(src, range(win.left, win.width), range(win.top, win.height));

  const rowLen = win.width * channels;
  const rowTaps = needVertical ? axisTaps(src.height, dstH, win.top, win.height, kernel) : undefined;
  // Source rows the vertical pass reads (bounds grow with the output index), or the window's rows when it is skipped.
  const y0 = rowTaps ? rowTaps.first[0] : win.top;
  const y1 = rowTaps ? rowTaps.first[win.height - 1] + rowTaps.size[win.height - 1] : win.top + win.height;
  const colTaps = needHorizontal ? axisTaps(src.width, dstW, win.left, win.width, kernel) : undefined;

  if (src.data instanceof Uint8Array) {
    let stage: Stage<Uint8Array> = { data: src.data, rowStride: src.width * channels, offset: win.left * channels, firstRow: 0 };
    if (colTaps) {
      const data = horizontal8(src.data, src.width, channels, y0, y1, colTaps, fixedPoint(colTaps.weights));
      if (!rowTaps) return { data, width: win.width, height: win.height, channels };
      stage = { data, rowStride: rowLen, offset: 0, firstRow: y0 };
    }
    const data = vertical8(stage, rowLen, rowTaps!, fixedPoint(rowTaps!.weights));
    return { data, width: win.width, height: win.height, channels };
  }
  let stage: Stage<Float32Array> = { data: src.data, rowStride: src.width * channels, offset: win.left * channels, firstRow: 0 };
  if (colTaps) {
    const data = horizontalFloat(src.data, src.width, channels, y0, y1, colTaps);
    if (!rowTaps) return { data, width: win.width, height: win.height, channels };
    stage = { data, rowStride: rowLen, offset: 0, firstRow: y0 };
  }
  return { data: verticalFloat(stage, rowLen, rowTaps!), width: win.width, height: win.height, channels };
}
