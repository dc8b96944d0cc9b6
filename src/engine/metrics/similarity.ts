/**
 * How alike two attribution maps are: Spearman rank correlation (Adebayo et al. 2018 use it, of absolute
 * values, for the randomization sanity check) and SSIM (Wang et al. 2004). Both match the Python references
 * the literature's tools use, checked on fixtures (test/fixtures/metrics/similarity.json):
 * - `spearman` = scipy.stats.spearmanr: Pearson correlation of average ranks (ties share their mean rank);
 * - `ssim` = skimage.metrics.structural_similarity with its defaults for 2-D grey images: 7×7 uniform window,
 *   K1 = 0.01, K2 = 0.03, sample covariance (N/(N−1)), the mean of the SSIM image over the pixels at least 3
 *   from every edge (skimage crops the filter's radius). skimage needs `data_range` for float images (0.19
 *   would take the float dtype's range, 2; newer versions refuse): ours defaults to max − min over both maps.
 * Maps of different sizes (a 7×7 CAM and a 224² saliency map) are compared at the larger one's size: the other
 * is brought there with bilinearResize (half-pixel centres, src/shared/resize.ts).
 */
import { UserError } from '../errors';
import { bilinearResize } from '../../shared/resize';

/** A single-channel map, row-major (an AttributionMap is one). */
export interface MapLike {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

/** skimage's default window side for a uniform filter. */
export const SSIM_WINDOW = 7;
const K1 = 0.01;
const K2 = 0.03;

function checkMap(name: string, m: MapLike): void {
  if (!Number.isInteger(m.width) || !Number.isInteger(m.height) || m.width <= 0 || m.height <= 0 || m.data.length !== m.width * m.height) {
    throw new UserError(`The ${name} map must be a positive width × height with width·height values, got ${m.width}×${m.height} with ${m.data.length} values.`);
  }
  for (let i = 0; i < m.data.length; i++) {
    if (!Number.isFinite(m.data[i])) throw new UserError(`The ${name} map has a value that is not a finite number (at index ${i}).`);
  }
}

/** A map's values at width×height: as they are when it has that size, else resized (bilinear, half-pixel centres). */
export function mapAtSize(map: MapLike, width: number, height: number): ArrayLike<number> {
  if (map.width === width && map.height === height) return map.data;
  return bilinearResize(Float32Array.from(map.data), map.width, map.height, width, height);
}

/** Both maps' values at one size: the smaller (by pixel count; the first on a tie) is resized to the other's size. */
export function sameSize(a: MapLike, b: MapLike): { width: number; height: number; a: Float64Array; b: Float64Array } {
  checkMap('first', a);
  checkMap('second', b);
  if (a.width === b.width && a.height === b.height) {
    return { width: a.width, height: a.height, a: Float64Array.from(a.data), b: Float64Array.from(b.data) };
  }
  const [big, small, smallIsA] = a.width * a.height > b.width * b.height ? [a, b, false] : [b, a, true];
  const resized = Float64Array.from(mapAtSize(small, big.width, big.height));
  const other = Float64Array.from(big.data);
  return { width: big.width, height: big.height, a: smallIsA ? resized : other, b: smallIsA ? other : resized };
}

/** Ranks 1…n with ties given the mean of the ranks they span (scipy.stats.rankdata 'average'). */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => values[i] - values[j]);
  const ranks = new Float64Array(n);
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && values[order[end]] === values[order[start]]) end++;
    const rank = (start + 1 + end) / 2; // mean of ranks start+1 … end
    for (let k = start; k < end; k++) ranks[order[k]] = rank;
    start = end;
  }
  return ranks;
}

/** Pearson correlation; NaN when either side is constant (as scipy, which warns and returns nan). */
function pearson(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma;
    const db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa === 0 || sbb === 0) return NaN;
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

export interface SpearmanOptions {
  /** Rank |a| and |b| (Adebayo et al.'s sanity check compares absolute maps). */
  absolute?: boolean;
}

/**
 * Spearman rank correlation of two maps (scipy.stats.spearmanr on the flattened maps), in [−1, 1];
 * NaN when a map is constant (no ranking to compare).
 */
export function spearman(a: MapLike, b: MapLike, opts: SpearmanOptions = {}): number {
  // |v| before any resizing (Adebayo et al. compare absolute maps): a resize would average + and − into 0.
  const m = opts.absolute ? sameSize(absolute(a), absolute(b)) : sameSize(a, b);
  return pearson(averageRanks(m.a), averageRanks(m.b));
}

function absolute(map: MapLike): MapLike {
  return { width: map.width, height: map.height, data: Float64Array.from(map.data, Math.abs) };
}

export interface SsimOptions {
  /** The maps' value range (skimage's data_range); default max − min over both maps. */
  dataRange?: number;
}

/** Box sums of side `win` along rows then columns (separable), for every window fully inside the image. */
function windowMeans(v: Float64Array, w: number, h: number, win: number): Float64Array {
  const ow = w - win + 1;
  const oh = h - win + 1;
  const rows = new Float64Array(h * ow);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < win; k++) s += v[y * w + x + k];
      rows[y * ow + x] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  const area = win * win;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < win; k++) s += rows[(y + k) * ow + x];
      out[y * ow + x] = s / area;
    }
  }
  return out;
}

/**
 * Mean SSIM of two maps (skimage.metrics.structural_similarity, defaults above), at most 1 (identical maps).
 * skimage filters the whole image and then drops a 3-pixel border; the windows it keeps are exactly those
 * fully inside the image, which are all this computes (so its padding mode never matters).
 */
export function ssim(a: MapLike, b: MapLike, opts: SsimOptions = {}): number {
  const m = sameSize(a, b);
  const { width: w, height: h } = m;
  if (w < SSIM_WINDOW || h < SSIM_WINDOW) {
    throw new UserError(`SSIM needs maps of at least ${SSIM_WINDOW}×${SSIM_WINDOW} pixels (its window), got ${w}×${h}.`);
  }
  let range = opts.dataRange;
  if (range === undefined) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < m.a.length; i++) {
      lo = Math.min(lo, m.a[i], m.b[i]);
      hi = Math.max(hi, m.a[i], m.b[i]);
    }
    range = hi - lo;
    // Two equal constant maps: identical, whatever the window statistics say.
    if (range === 0) return 1;
  } else if (!(Number.isFinite(range) && range > 0)) {
    throw new UserError(`SSIM's data range must be a positive number, got ${range}.`);
  }
  const n = m.a.length;
  const aa = new Float64Array(n);
  const bb = new Float64Array(n);
  const ab = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    aa[i] = m.a[i] * m.a[i];
    bb[i] = m.b[i] * m.b[i];
    ab[i] = m.a[i] * m.b[i];
  }
  const ux = windowMeans(m.a, w, h, SSIM_WINDOW);
  const uy = windowMeans(m.b, w, h, SSIM_WINDOW);
  const uxx = windowMeans(aa, w, h, SSIM_WINDOW);
  const uyy = windowMeans(bb, w, h, SSIM_WINDOW);
  const uxy = windowMeans(ab, w, h, SSIM_WINDOW);
  const np = SSIM_WINDOW * SSIM_WINDOW;
  const covNorm = np / (np - 1);
  const c1 = (K1 * range) ** 2;
  const c2 = (K2 * range) ** 2;
  let sum = 0;
  for (let i = 0; i < ux.length; i++) {
    const vx = covNorm * (uxx[i] - ux[i] * ux[i]);
    const vy = covNorm * (uyy[i] - uy[i] * uy[i]);
    const vxy = covNorm * (uxy[i] - ux[i] * uy[i]);
    sum += ((2 * ux[i] * uy[i] + c1) * (2 * vxy + c2)) / ((ux[i] ** 2 + uy[i] ** 2 + c1) * (vx + vy + c2));
  }
  return sum / ux.length;
}
