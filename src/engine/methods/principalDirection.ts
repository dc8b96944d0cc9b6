import * as tf from '@tensorflow/tfjs';
import { seededUniform } from './random';

/** Power steps between two squarings of the matrix. */
const STEPS_PER_ROUND = 32;
/**
 * Squarings at most: each squares the ratio of the two largest eigenvalues, so k of them make a step worth
 * 2^k plain ones; 20 resolve eigenvalues 1e-5 apart. A squaring costs n³: they stop at a budget of
 * about 2·10⁹ multiply-adds (a second or two), which only two nearly equal eigenvalues of a big matrix reach.
 */
const MAX_SQUARINGS = 20;
const SQUARING_BUDGET = 2e9;
/** Converged when ‖Cv − λv‖ ≤ TOLERANCE · λ. */
const TOLERANCE = 1e-10;

/**
 * The unit eigenvector of the largest eigenvalue of a symmetric positive semi-definite n×n matrix C
 * (row-major, float64), and that eigenvalue. Power iteration from a fixed pseudo-random start; when it
 * converges slowly (two close eigenvalues) the matrix is squared, which squares their ratio. Stops when
 * the residual is small against C itself, so a repeated top eigenvalue (any vector of its eigenspace
 * is an answer) also ends.
 */
export function topEigenvector(c: Float64Array, n: number): { vector: Float64Array; value: number } {
  const random = seededUniform(12345);
  let v = Float64Array.from({ length: n }, () => random() + 0.5);
  normalize(v);
  let m = c;
  let value = 0;
  const squarings = Math.min(MAX_SQUARINGS, Math.floor(SQUARING_BUDGET / n ** 3));
  for (let round = 0; round <= squarings; round++) {
    if (round > 0) m = squared(m, n);
    for (let step = 0; step < STEPS_PER_ROUND; step++) {
      const next = multiply(m, v, n);
      // M v = 0 for a v with a component along every eigenvector: C is zero, and every vector is an answer.
      if (!normalize(next)) return { vector: v, value: 0 };
      v = next;
      const cv = multiply(c, v, n);
      value = dot(v, cv);
      let residual = 0;
      for (let i = 0; i < n; i++) residual += (cv[i] - value * v[i]) ** 2;
      if (Math.sqrt(residual) <= TOLERANCE * value) return { vector: v, value };
    }
  }
  return { vector: v, value };
}

/**
 * The projection of the rows of X (n×m, e.g. positions × channels) onto their first principal direction
 * after centring each column: X_c·v₁ with v₁ the top right singular vector of X_c — through the eigen-
 * decomposition of the smaller Gram matrix (X_cᵀX_c, m×m, or X_cX_cᵀ, n×n, where X_c·v₁ = σ₁u₁). The
 * sign is the eigensolver's: arbitrary, as an SVD's.
 */
export function firstPrincipalProjection(x: tf.Tensor2D): Float32Array {
  const [n, m] = x.shape;
  const centred = tf.tidy(() => tf.sub(x, tf.mean(x, 0, true)));
  try {
    const byColumns = m <= n;
    const gram = tf.tidy(() => (byColumns ? tf.matMul(centred, centred, true, false) : tf.matMul(centred, centred, false, true)));
    const size = byColumns ? m : n;
    const { vector, value } = topEigenvector(Float64Array.from(gram.dataSync()), size);
    gram.dispose();
    if (!byColumns) return Float32Array.from(vector, (u) => u * Math.sqrt(value));
    return tf.tidy(() => tf.matMul(centred, tf.tensor2d(Float32Array.from(vector), [m, 1])).dataSync() as Float32Array);
  } finally {
    centred.dispose();
  }
}

function multiply(m: Float64Array, v: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const row = i * n;
    for (let j = 0; j < n; j++) s += m[row + j] * v[j];
    out[i] = s;
  }
  return out;
}

/** M·M scaled to a largest entry of 1 (the scale does not change eigenvectors; it keeps powers finite). */
function squared(m: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const a = m[i * n + k];
      if (a === 0) continue;
      const rowK = k * n;
      const rowI = i * n;
      for (let j = 0; j < n; j++) out[rowI + j] += a * m[rowK + j];
    }
  }
  const max = out.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  if (max > 0) for (let i = 0; i < out.length; i++) out[i] /= max;
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Scales v to unit length in place; false when v is zero. */
function normalize(v: Float64Array): boolean {
  const norm = Math.sqrt(dot(v, v));
  if (!(norm > 0)) return false;
  for (let i = 0; i < v.length; i++) v[i] /= norm;
  return true;
}
