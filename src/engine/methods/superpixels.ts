/**
 * SLIC superpixels (Achanta et al. 2012, "SLIC Superpixels Compared to State-of-the-Art Superpixel
 * Methods"): k-means on (CIELAB colour, position) with each centre searching only a 2S×2S window,
 * distance d_lab + (m/S)·d_xy, then connectivity enforced. The regions LIME and Kernel SHAP switch on
 * and off. Written here: npm has no maintained SLIC that works on raw arrays.
 */
import type { Regions } from './perturbation';

export interface SlicOptions {
  /** Superpixels wanted (about; connectivity can add or merge a few). */
  segments: number;
  /** m: weight of spatial against colour distance (Achanta's default 10 for CIELAB). */
  compactness?: number;
  iterations?: number;
}

/**
 * Segments an image given as 0..255 values in image order (row, column, channel) with 1, 3 or 4
 * channels (grayscale is read as gray RGB; a 4th channel, alpha, is ignored).
 */
export function slic(pixels: Float32Array, height: number, width: number, channels: number, opts: SlicOptions): Regions {
  const n = height * width;
  if (pixels.length !== n * channels) throw new Error(`slic: ${pixels.length} values for a ${height}×${width}×${channels} image`);
  const k = Math.max(1, Math.min(Math.round(opts.segments), n));
  const m = opts.compactness ?? 10;
  const iterations = opts.iterations ?? 10;
  const lab = toLab(pixels, n, channels);
  const step = Math.sqrt(n / k);

  const centres = gridSeeds(lab, height, width, k);
  const count = centres.length / 5;
  const labels = new Int32Array(n).fill(-1);
  const dist = new Float64Array(n);
  const spatial = (m / step) ** 2;
  const reach = Math.ceil(step);
  const sums = new Float64Array(count * 5);
  const sizes = new Int32Array(count);

  for (let it = 0; it < iterations; it++) {
    dist.fill(Infinity);
    // Assignment: each centre claims the pixels of its 2S×2S window that it is closest to.
    for (let c = 0; c < count; c++) {
      const [cl, ca, cb, cy, cx] = centres.subarray(c * 5, c * 5 + 5);
      const y0 = Math.max(0, Math.floor(cy - reach));
      const y1 = Math.min(height - 1, Math.ceil(cy + reach));
      const x0 = Math.max(0, Math.floor(cx - reach));
      const x1 = Math.min(width - 1, Math.ceil(cx + reach));
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          const p = y * width + x;
          const dl = lab[3 * p] - cl;
          const da = lab[3 * p + 1] - ca;
          const db = lab[3 * p + 2] - cb;
          const d = dl * dl + da * da + db * db + spatial * ((y - cy) ** 2 + (x - cx) ** 2);
          if (d < dist[p]) {
            dist[p] = d;
            labels[p] = c;
          }
        }
      }
    }
    // Update: each centre moves to the mean colour and position of its pixels (an empty one stays).
    sums.fill(0);
    sizes.fill(0);
    for (let p = 0; p < n; p++) {
      const c = labels[p];
      if (c < 0) continue;
      sizes[c]++;
      sums[c * 5] += lab[3 * p];
      sums[c * 5 + 1] += lab[3 * p + 1];
      sums[c * 5 + 2] += lab[3 * p + 2];
      sums[c * 5 + 3] += Math.floor(p / width);
      sums[c * 5 + 4] += p % width;
    }
    for (let c = 0; c < count; c++) {
      if (sizes[c] === 0) continue;
      for (let t = 0; t < 5; t++) centres[c * 5 + t] = sums[c * 5 + t] / sizes[c];
    }
  }
  return enforceConnectivity(labels, height, width, Math.floor(n / k / 4));
}

/**
 * sRGB on 0..255 → CIELAB (D65), three values per pixel. Gray images become gray RGB, so a = b = 0 and
 * SLIC segments on lightness alone.
 */
export function toLab(pixels: Float32Array, n: number, channels: number): Float32Array {
  const out = new Float32Array(3 * n);
  const lin = (v: number) => {
    const s = Math.min(Math.max(v / 255, 0), 1);
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116);
  for (let p = 0; p < n; p++) {
    const o = p * channels;
    const r = lin(pixels[o]);
    const g = channels >= 3 ? lin(pixels[o + 1]) : r;
    const b = channels >= 3 ? lin(pixels[o + 2]) : r;
    // Linear sRGB → XYZ, normalized by the D65 white point.
    const x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
    const y = 0.2126729 * r + 0.7151522 * g + 0.072175 * b;
    const z = (0.0193339 * r + 0.119192 * g + 0.9503041 * b) / 1.08883;
    const fx = f(x);
    const fy = f(y);
    const fz = f(z);
    out[3 * p] = 116 * fy - 16;
    out[3 * p + 1] = 500 * (fx - fy);
    out[3 * p + 2] = 200 * (fy - fz);
  }
  return out;
}

/**
 * Centres [L, a, b, y, x] on a regular grid of about k cells (rows and columns in the image's aspect),
 * each moved to the lowest colour gradient of its 3×3 neighbourhood so no seed starts on an edge.
 */
function gridSeeds(lab: Float32Array, height: number, width: number, k: number): Float64Array {
  const step = Math.sqrt((height * width) / k);
  const rows = Math.max(1, Math.min(height, Math.round(height / step)));
  const cols = Math.max(1, Math.min(width, Math.round(width / step)));
  const centres = new Float64Array(rows * cols * 5);
  const gradient = (y: number, x: number) => {
    const at = (yy: number, xx: number) => 3 * (Math.min(height - 1, Math.max(0, yy)) * width + Math.min(width - 1, Math.max(0, xx)));
    let g = 0;
    for (let t = 0; t < 3; t++) {
      g += (lab[at(y, x + 1) + t] - lab[at(y, x - 1) + t]) ** 2 + (lab[at(y + 1, x) + t] - lab[at(y - 1, x) + t]) ** 2;
    }
    return g;
  };
  let c = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let by = Math.floor(((i + 0.5) * height) / rows);
      let bx = Math.floor(((j + 0.5) * width) / cols);
      let best = Infinity;
      const [y0, x0] = [by, bx];
      for (let y = Math.max(0, y0 - 1); y <= Math.min(height - 1, y0 + 1); y++) {
        for (let x = Math.max(0, x0 - 1); x <= Math.min(width - 1, x0 + 1); x++) {
          const g = gradient(y, x);
          if (g < best) [best, by, bx] = [g, y, x];
        }
      }
      const p = 3 * (by * width + bx);
      centres.set([lab[p], lab[p + 1], lab[p + 2], by, bx], 5 * c++);
    }
  }
  return centres;
}

/**
 * Makes every superpixel one 4-connected piece. Each connected component of a cluster is a candidate; a
 * cluster's largest component, and any other component larger than `minSize`, become segments; the rest
 * (orphans of the clustering) are absorbed by the segments around them, grown breadth-first, so each
 * segment stays connected. (Achanta's reference code merges each small piece into the piece before it in
 * raster order, which on noisy textures cascades into a few huge segments; keeping every cluster's
 * largest piece keeps the count near the one asked for.) Pixels no centre reached (label −1) form
 * segments only when they are large.
 */
export function enforceConnectivity(labels: Int32Array, height: number, width: number, minSize: number): Regions {
  const n = height * width;
  const comp = new Int32Array(n).fill(-1);
  const queue = new Int32Array(n);
  const sizes: number[] = [];
  const firstPixel: number[] = [];
  for (let start = 0; start < n; start++) {
    if (comp[start] >= 0) continue;
    firstPixel.push(start);
    sizes.push(floodFill(labels, comp, queue, start, sizes.length, height, width));
  }
  // The largest component of each cluster (the first, on ties).
  const largest = new Map<number, number>();
  for (let c = 0; c < sizes.length; c++) {
    const label = labels[firstPixel[c]];
    const best = largest.get(label);
    if (label >= 0 && (best === undefined || sizes[c] > sizes[best])) largest.set(label, c);
  }
  const segmentOf = new Int32Array(sizes.length).fill(-1);
  let count = 0;
  for (let c = 0; c < sizes.length; c++) {
    if (sizes[c] > minSize || largest.get(labels[firstPixel[c]]) === c) segmentOf[c] = count++;
  }
  // Segments grow into the orphan pixels next to them, breadth-first from every segment at once.
  const out = new Int32Array(n);
  let tail = 0;
  for (let p = 0; p < n; p++) {
    out[p] = segmentOf[comp[p]];
    if (out[p] >= 0) queue[tail++] = p;
  }
  for (let head = 0; head < tail; head++) {
    const p = queue[head];
    const y = Math.floor(p / width);
    const x = p - y * width;
    for (const q of [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, y > 0 ? p - width : -1, y < height - 1 ? p + width : -1]) {
      if (q >= 0 && out[q] < 0) {
        out[q] = out[p];
        queue[tail++] = q;
      }
    }
  }
  return { labels: out, count };
}

/** Numbers `value` the component of `start` (same input label, 4-connected); returns its size. */
function floodFill(labels: Int32Array, out: Int32Array, queue: Int32Array, start: number, value: number, height: number, width: number): number {
  const label = labels[start];
  let head = 0;
  let tail = 0;
  queue[tail++] = start;
  out[start] = value;
  while (head < tail) {
    const p = queue[head++];
    const y = Math.floor(p / width);
    const x = p - y * width;
    if (x > 0 && out[p - 1] < 0 && labels[p - 1] === label) out[queue[tail++] = p - 1] = value;
    if (x < width - 1 && out[p + 1] < 0 && labels[p + 1] === label) out[queue[tail++] = p + 1] = value;
    if (y > 0 && out[p - width] < 0 && labels[p - width] === label) out[queue[tail++] = p - width] = value;
    if (y < height - 1 && out[p + width] < 0 && labels[p + width] === label) out[queue[tail++] = p + width] = value;
  }
  return tail;
}

/**
 * Superpixels of a model input (x in image order). SLIC wants sRGB on 0..255 for its CIELAB distances and
 * its compactness scale; the input is preprocessed, but every preprocessing is an affine map per channel,
 * so rescaling each channel's min–max to 0..255 recovers the pixels up to a contrast stretch, without
 * needing to know the preset. (A Caffe-style BGR input is read as RGB: red and blue swap roles in the
 * colour distance, which changes little for segmentation.)
 */
export function segmentInput(x: Float32Array, image: { height: number; width: number; channels: number }, segments: number): Regions {
  const { height, width, channels } = image;
  const pixels = new Float32Array(x.length);
  for (let c = 0; c < channels; c++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = c; i < x.length; i += channels) {
      lo = Math.min(lo, x[i]);
      hi = Math.max(hi, x[i]);
    }
    const scale = hi > lo ? 255 / (hi - lo) : 0;
    for (let i = c; i < x.length; i += channels) pixels[i] = (x[i] - lo) * scale;
  }
  return slic(pixels, height, width, channels, { segments });
}
