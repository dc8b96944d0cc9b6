/**
 * Normalization of raw attribution maps to [0, 1] for colouring.
 *
 * Pure TypeScript, no imports: used by the webview (browser), the host and the CLI.
 *
 * Conventions shared by every function here:
 * - Non-finite inputs (NaN, ±Infinity) are treated as 0, both when computing statistics
 *   and when producing normalized values. A map never yields NaN.
 * - A constant map (max == min after sanitizing/clipping) normalizes to all zeros.
 */

export interface MapStats {
  /** The value mapped to 0. */
  min: number;
  /**
   * The value mapped to 1. With `clipPercentile` this is the percentile value (values above it
   * saturate to 1), otherwise the true maximum.
   */
  max: number;
}

/**
 * How maps are drawn unless the user says otherwise (panel, folder report): saturated above the 99th percentile,
 * PAIR saliency's default display clip (Captum's outlier_perc=2 is the 98th). A few extreme pixels otherwise set
 * the top of the scale and the rest of a saliency map is barely visible.
 */
export const DEFAULT_CLIP_PERCENTILE = 99;

export interface NormalizeOptions {
  /**
   * Percentile in [0, 100], e.g. 99: values above the 99th percentile saturate to 1.
   * Undefined or 100 means no clipping.
   */
  clipPercentile?: number;
}

export interface NormalizeResult {
  normalized: Float32Array;
  stats: MapStats;
}

export interface SharedNormalizeResult {
  normalized: Float32Array[];
  stats: MapStats;
}

function finiteOrZero(v: number): number {
  return Number.isFinite(v) ? v : 0;
}

function checkPercentile(p: number): void {
  if (!Number.isFinite(p) || p < 0 || p > 100) {
    throw new RangeError(`percentile must be a number in [0, 100], got ${p}`);
  }
}

/** Percentile of an already sorted (ascending) array, numpy's default 'linear' method. */
function sortedPercentile(sorted: Float64Array, p: number): number {
  const n = sorted.length;
  if (n === 1) return sorted[0];
  const h = ((n - 1) * p) / 100;
  const lo = Math.floor(h);
  if (lo >= n - 1) return sorted[n - 1];
  const frac = h - lo;
  const a = sorted[lo];
  const b = sorted[lo + 1];
  return frac === 0 ? a : a + frac * (b - a);
}

/** Copies the values of several arrays into one ascending-sorted Float64Array, non-finite -> 0. */
function sortedCopy(arrays: ArrayLike<number>[]): Float64Array {
  let total = 0;
  for (const a of arrays) total += a.length;
  const out = new Float64Array(total);
  let k = 0;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) out[k++] = finiteOrZero(a[i]);
  }
  out.sort();
  return out;
}

/**
 * The p-th percentile (p in [0, 100]) with linear interpolation between order statistics,
 * matching `numpy.percentile(values, p)` (method 'linear'): with the values sorted ascending,
 * h = (n - 1) * p / 100 and the result is v[floor(h)] + (h - floor(h)) * (v[floor(h)+1] - v[floor(h)]).
 * Non-finite values count as 0. Throws RangeError for an empty input or p outside [0, 100].
 */
export function percentile(values: ArrayLike<number>, p: number): number {
  checkPercentile(p);
  if (values.length === 0) throw new RangeError('percentile of an empty array');
  return sortedPercentile(sortedCopy([values]), p);
}

/** min and max (non-finite as 0) and, if asked, the clip percentile over several maps. */
/** Raw min and max of a map (non-finite values count as 0, as in normalization). */
export function mapRange(map: ArrayLike<number>): MapStats {
  return statsOf([map]);
}

function statsOf(maps: ArrayLike<number>[], opts?: NormalizeOptions): MapStats {
  let min = Infinity;
  let max = -Infinity;
  let count = 0;
  for (const m of maps) {
    for (let i = 0; i < m.length; i++) {
      const v = finiteOrZero(m[i]);
      if (v < min) min = v;
      if (v > max) max = v;
    }
    count += m.length;
  }
  if (count === 0) return { min: 0, max: 0 };
  const p = opts?.clipPercentile;
  if (p !== undefined && p !== 100) {
    checkPercentile(p);
    max = sortedPercentile(sortedCopy(maps), p);
  }
  return { min, max };
}

function applyStats(map: Float32Array, stats: MapStats): Float32Array {
  const out = new Float32Array(map.length);
  const range = stats.max - stats.min;
  // Constant (or degenerate after clipping) map: all zeros, never NaN.
  if (!(range > 0) || !Number.isFinite(range)) return out;
  const inv = 1 / range;
  for (let i = 0; i < map.length; i++) {
    const t = (finiteOrZero(map[i]) - stats.min) * inv;
    out[i] = t <= 0 ? 0 : t >= 1 ? 1 : t;
  }
  return out;
}

/**
 * Min-max normalization of one map to [0, 1]: (v - min) / (max - min).
 * With `clipPercentile` the upper bound is that percentile of the map (values above saturate to 1).
 * Returns the normalized copy and the bounds used.
 */
export function minMaxNormalize(map: Float32Array, opts?: NormalizeOptions): NormalizeResult {
  const stats = statsOf([map], opts);
  return { normalized: applyStats(map, stats), stats };
}

/**
 * Normalizes several maps with one common min/max (taken over all of them), so that maps of
 * different classes can be compared on the same scale. `clipPercentile` is taken over the
 * pooled values of all maps.
 */
export function normalizeShared(maps: Float32Array[], opts?: NormalizeOptions): SharedNormalizeResult {
  const stats = statsOf(maps, opts);
  return { normalized: maps.map((m) => applyStats(m, stats)), stats };
}

/**
 * A signed map on a scale centred on 0: v → 0.5 + v / (2·bound), so 0 sits in the colormap's middle and
 * evidence for and against reach its two ends equally. `bound` (the colour bar's ±end) is max|v|, or with
 * `clipPercentile` that percentile of |v| (values beyond ±bound saturate to 1 and 0).
 */
export function centredNormalize(map: Float32Array, opts?: NormalizeOptions): { normalized: Float32Array; bound: number } {
  const p = opts?.clipPercentile;
  let bound: number;
  if (p !== undefined && p !== 100 && map.length > 0) {
    checkPercentile(p);
    const magnitudes = new Float64Array(map.length);
    for (let i = 0; i < map.length; i++) magnitudes[i] = Math.abs(finiteOrZero(map[i]));
    bound = sortedPercentile(magnitudes.sort(), p);
  } else {
    const { min, max } = mapRange(map);
    bound = Math.max(Math.abs(min), Math.abs(max));
  }
  const normalized = new Float32Array(map.length);
  const inv = bound > 0 ? 0.5 / bound : 0;
  for (let i = 0; i < map.length; i++) {
    const t = 0.5 + finiteOrZero(map[i]) * inv;
    normalized[i] = t <= 0 ? 0 : t >= 1 ? 1 : t;
  }
  return { normalized, bound };
}

/**
 * Gamma on normalized values, for display: v → v^γ (γ < 1 lifts faint values, γ > 1 dims them). A signed
 * map (0.5 = zero) keeps its sign: the distance from the middle, |v − 0.5|·2, is raised to γ.
 * γ = 1 returns the input itself.
 */
export function applyGamma(normalized: Float32Array, gamma: number, signed: boolean): Float32Array {
  if (!(gamma > 0) || !Number.isFinite(gamma)) throw new RangeError(`gamma must be a positive number, got ${gamma}`);
  if (gamma === 1) return normalized;
  const out = new Float32Array(normalized.length);
  for (let i = 0; i < normalized.length; i++) {
    const v = normalized[i] <= 0 ? 0 : normalized[i] >= 1 ? 1 : normalized[i] || 0;
    if (signed) {
      const d = v - 0.5;
      out[i] = 0.5 + Math.sign(d) * 0.5 * Math.pow(Math.abs(d) * 2, gamma);
    } else {
      out[i] = Math.pow(v, gamma);
    }
  }
  return out;
}
