/**
 * Weighted least squares with an optional ridge penalty, in float64: the surrogate fit of LIME and the
 * constrained Shapley regression of Kernel SHAP. Minimizes Σ_i w_i (y_i − b − x_i·β)² + α|β|², the
 * intercept b (when fitted) unpenalized, as scikit-learn's Ridge with sample weights (LIME's model).
 */

export interface WeightedProblem {
  /** Rows of the design matrix, each `features` long (row-major). */
  x: Float64Array;
  y: Float64Array;
  /** Sample weights, ≥ 0. */
  weights: Float64Array;
  features: number;
}

export interface RegressionFit {
  coef: Float64Array;
  intercept: number;
  /** Weighted R² of the fit on its own samples (LIME's `score`). */
  r2: number;
  /** A tiny ridge had to be added because the normal equations were singular (too few distinct samples). */
  regularized: boolean;
}

export interface RegressionOptions {
  /** Ridge penalty α on the coefficients (0: plain weighted least squares). */
  alpha: number;
  intercept: boolean;
}

export function weightedRegression(p: WeightedProblem, opts: RegressionOptions): RegressionFit {
  const { x, y, weights, features: k } = p;
  const n = y.length;
  if (x.length !== n * k || weights.length !== n) throw new Error(`weightedRegression: ${n} targets, ${weights.length} weights, ${x.length} design values for ${k} features`);
  let wSum = 0;
  for (let i = 0; i < n; i++) wSum += weights[i];
  if (!(wSum > 0)) throw new Error('weightedRegression: every sample weight is zero');

  // Centring on the weighted means makes the intercept drop out of the normal equations (sklearn does the same).
  const xMean = new Float64Array(k);
  let yMean = 0;
  if (opts.intercept) {
    for (let i = 0; i < n; i++) {
      const w = weights[i] / wSum;
      yMean += w * y[i];
      for (let j = 0; j < k; j++) xMean[j] += w * x[i * k + j];
    }
  }

  // Normal equations A β = c with A = XcᵀWXc + αI, c = XcᵀW yc (upper triangle of A accumulated).
  const a = new Float64Array(k * k);
  const c = new Float64Array(k);
  const row = new Float64Array(k);
  const nz = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const w = weights[i];
    if (w === 0) continue;
    // The design rows of LIME and SHAP are mostly 0/±1 with many zeros once centred away: skip exact zeros.
    let m = 0;
    for (let j = 0; j < k; j++) {
      const v = x[i * k + j] - xMean[j];
      if (v !== 0) {
        row[m] = v;
        nz[m++] = j;
      }
    }
    const r = w * (y[i] - yMean);
    for (let u = 0; u < m; u++) {
      const ju = nz[u];
      const wv = w * row[u];
      c[ju] += row[u] * r;
      for (let v = u; v < m; v++) a[ju * k + nz[v]] += wv * row[v];
    }
  }
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < i; j++) a[i * k + j] = a[j * k + i];
    a[i * k + i] += opts.alpha;
  }

  let regularized = false;
  let coef = choleskySolve(a, c, k);
  if (!coef) {
    // Singular (fewer distinct samples than features): the smallest ridge that makes it solvable, which
    // tends to the minimum-norm least-squares solution as it shrinks.
    let trace = 0;
    for (let i = 0; i < k; i++) trace += a[i * k + i];
    for (let jitter = 1e-10 * Math.max(trace / k, 1e-300); !coef; jitter *= 100) {
      const b = a.slice();
      for (let i = 0; i < k; i++) b[i * k + i] += jitter;
      coef = choleskySolve(b, c, k);
    }
    regularized = true;
  }

  let intercept = 0;
  if (opts.intercept) {
    intercept = yMean;
    for (let j = 0; j < k; j++) intercept -= coef[j] * xMean[j];
  }
  return { coef, intercept, r2: weightedR2(p, coef, intercept, wSum), regularized };
}

function weightedR2(p: WeightedProblem, coef: Float64Array, intercept: number, wSum: number): number {
  const { x, y, weights, features: k } = p;
  let yMean = 0;
  for (let i = 0; i < y.length; i++) yMean += (weights[i] / wSum) * y[i];
  let res = 0;
  let tot = 0;
  for (let i = 0; i < y.length; i++) {
    let pred = intercept;
    for (let j = 0; j < k; j++) pred += coef[j] * x[i * k + j];
    res += weights[i] * (y[i] - pred) ** 2;
    tot += weights[i] * (y[i] - yMean) ** 2;
  }
  return tot > 0 ? 1 - res / tot : res === 0 ? 1 : 0;
}

/** Solves A z = c for symmetric positive definite A (k×k, row-major); undefined when A is not (numerically). */
export function choleskySolve(a: Float64Array, c: Float64Array, k: number): Float64Array | undefined {
  const l = new Float64Array(k * k);
  let maxDiag = 0;
  for (let i = 0; i < k; i++) maxDiag = Math.max(maxDiag, a[i * k + i]);
  const tiny = 1e-13 * maxDiag;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * k + j];
      for (let t = 0; t < j; t++) s -= l[i * k + t] * l[j * k + t];
      if (i === j) {
        if (!(s > tiny)) return undefined;
        l[i * k + i] = Math.sqrt(s);
      } else {
        l[i * k + j] = s / l[j * k + j];
      }
    }
  }
  // L u = c, then Lᵀ z = u.
  const z = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let s = c[i];
    for (let t = 0; t < i; t++) s -= l[i * k + t] * z[t];
    z[i] = s / l[i * k + i];
  }
  for (let i = k - 1; i >= 0; i--) {
    let s = z[i];
    for (let t = i + 1; t < k; t++) s -= l[t * k + i] * z[t];
    z[i] = s / l[i * k + i];
  }
  return z;
}
