/**
 * ROAD's noisy linear imputation (Rong, Leemann et al. 2022, "A Consistent and Efficient Evaluation Strategy
 * for Attribution Methods", §4): every removed pixel becomes the weighted mean of its 8 neighbours, removed
 * neighbours included, so the removed pixels of one region solve a sparse linear system together; then
 * Gaussian noise is added. Removal so leaves no sharp-edged hole the model could read as a signal of its own.
 *
 * As the authors' code (road_evaluation `NoisyLinearImputer`, copied into pytorch-grad-cam's metrics/road.py):
 * - weights 1/6 for the 4 direct neighbours and 1/12 for the 4 diagonal ones; neighbours outside the image
 *   drop out and the mean is taken over the weights that remain;
 * - one mask for all channels; each channel solved on its own; noise added after the solve, σ = 0.01 by
 *   default, in model-input units (both references add it to the tensor the model reads).
 * They solve with a direct sparse solver (spsolve); we solve with conjugate gradients preconditioned by a multigrid
 * V-cycle (roadMultigrid.ts), whose memory is a few vectors per grid level and whose time is bounded by an
 * iteration cap (see `SolverOptions`).
 */
import { UserError } from '../errors';
import { gridSystem, multigrid, multiply, NEIGHBOUR_WEIGHTS } from './roadMultigrid';

export { NEIGHBOUR_WEIGHTS };

export interface SolverOptions {
  /**
   * Stop when ‖r‖₂ ≤ tolerance·‖b‖₂ (r the residual of the weighted system below, b its right-hand side).
   * 1e-6 left a largest error of 6e-6 at 224² (against a 1e-10 solve), far below the 0.01 noise that follows.
   */
  tolerance?: number;
  /**
   * Iterations at most per channel. With the multigrid preconditioner 1e-6 takes 1–8 (measured at 224² on
   * discs and scattered masks of 10–90 %); 1000 bounds the time should a mask converge badly.
   */
  maxIterations?: number;
}

export const DEFAULT_TOLERANCE = 1e-6;
export const DEFAULT_MAX_ITERATIONS = 1000;

export interface ImputationStats {
  /** Iterations of the slowest channel. */
  iterations: number;
  /** The largest final ‖r‖/‖b‖ over channels. */
  relativeResidual: number;
}

/**
 * Fills the removed pixels (`removed[p]` ≠ 0, p = row·width + column) of an image in image order
 * (row, column, channel) and returns the filled copy. `normal` supplies the noise, one draw per removed pixel
 * and channel in that order (pixel by pixel, channels innermost).
 *
 * The system, for each removed pixel i with in-image neighbours N(i) and weight sum W_i = Σ_{j∈N(i)} w_ij:
 *   W_i·u_i − Σ_{j∈N(i) removed} w_ij·u_j = Σ_{j∈N(i) kept} w_ij·v_j,
 * i.e. u_i is the weighted mean of its neighbours. Written so (rows scaled by W_i) the matrix is symmetric
 * (w_ij = w_ji) and positive definite whenever some pixel is kept (every removed region then touches a kept
 * pixel), which conjugate gradients need. Solved from the Jacobi start (u_i = kept neighbours' weighted sum / W_i).
 */
export function noisyLinearImputation(values: Float32Array, width: number, height: number, channels: number,
  removed: Uint8Array, noise: number, normal: () => number, solver: SolverOptions = {}): { filled: Float32Array; stats: ImputationStats } {
  if (values.length !== width * height * channels || removed.length !== width * height) {
    throw new Error(`noisyLinearImputation: ${values.length} values and a mask of ${removed.length} for a ${width}×${height}×${channels} image`);
  }
  if (!removed.some((r) => r === 0)) {
    throw new UserError('Noisy linear imputation needs at least one kept pixel to take values from; every pixel was removed.');
  }
  const result = linearImputation(values, width, height, channels, removed,
    solver.tolerance ?? DEFAULT_TOLERANCE, solver.maxIterations ?? DEFAULT_MAX_ITERATIONS);
  if (noise !== 0) {
    const { filled } = result;
    for (let p = 0; p < removed.length; p++) {
      if (removed[p]) for (let c = 0; c < channels; c++) filled[p * channels + c] += noise * normal();
    }
  }
  return result;
}

/** The noise-free imputation: the system's solution in the removed pixels, the kept ones as they were. */
function linearImputation(values: Float32Array, width: number, height: number, channels: number, removed: Uint8Array,
  tolerance: number, maxIterations: number): { filled: Float32Array; stats: ImputationStats } {
  const filled = Float32Array.from(values);
  const system = gridSystem(width, height, removed);
  const { n, pixels, unknownOf, diag } = system;
  const stats: ImputationStats = { iterations: 0, relativeResidual: 0 };
  if (n === 0) return { filled, stats };
  // Right-hand sides: the kept neighbours' weighted values, per channel.
  const rhs = new Float64Array(n * channels);
  for (let i = 0; i < n; i++) {
    const y = Math.floor(pixels[i] / width);
    const x = pixels[i] - y * width;
    for (const [dy, dx, w] of NEIGHBOUR_WEIGHTS) {
      const yy = y + dy;
      const xx = x + dx;
      if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
      const q = yy * width + xx;
      if (unknownOf[q] < 0) for (let c = 0; c < channels; c++) rhs[i * channels + c] += w * values[q * channels + c];
    }
  }
  const preconditioner = multigrid(system);
  const b = new Float64Array(n);
  const u = new Float64Array(n);
  const r = new Float64Array(n);
  const z = new Float64Array(n);
  const d = new Float64Array(n);
  const ad = new Float64Array(n);
  for (let c = 0; c < channels; c++) {
    let bNorm = 0;
    for (let i = 0; i < n; i++) {
      b[i] = rhs[i * channels + c];
      // Start from the Jacobi step: the kept neighbours' mean over all weights (exact for an isolated pixel).
      u[i] = b[i] / diag[i];
      bNorm += b[i] * b[i];
    }
    bNorm = Math.sqrt(bNorm);
    multiply(system, u, ad);
    let rr = 0;
    for (let i = 0; i < n; i++) {
      r[i] = b[i] - ad[i];
      rr += r[i] * r[i];
    }
    preconditioner.apply(r, z);
    let rz = 0;
    for (let i = 0; i < n; i++) {
      d[i] = z[i];
      rz += r[i] * z[i];
    }
    const goal = tolerance * (bNorm > 0 ? bNorm : 1);
    let it = 0;
    while (Math.sqrt(rr) > goal && it < maxIterations) {
      multiply(system, d, ad);
      let dAd = 0;
      for (let i = 0; i < n; i++) dAd += d[i] * ad[i];
      const alpha = rz / dAd;
      rr = 0;
      for (let i = 0; i < n; i++) {
        u[i] += alpha * d[i];
        r[i] -= alpha * ad[i];
        rr += r[i] * r[i];
      }
      preconditioner.apply(r, z);
      let rzNext = 0;
      for (let i = 0; i < n; i++) rzNext += r[i] * z[i];
      const beta = rzNext / rz;
      rz = rzNext;
      for (let i = 0; i < n; i++) d[i] = z[i] + beta * d[i];
      it++;
    }
    stats.iterations = Math.max(stats.iterations, it);
    stats.relativeResidual = Math.max(stats.relativeResidual, Math.sqrt(rr) / (bNorm > 0 ? bNorm : 1));
    for (let i = 0; i < n; i++) filled[pixels[i] * channels + c] = u[i];
  }
  return { filled, stats };
}
