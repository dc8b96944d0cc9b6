/**
 * The sparse system of ROAD's linear imputation (roadImputation.ts) on a pixel grid, and a multigrid V-cycle that
 * preconditions conjugate gradients on it. Plain (Jacobi-preconditioned) CG needs about as many iterations as the
 * widest removed region is across (500–650 for a 224² Grad-CAM blob, ~20 s for ROAD's 18 imputations); with a
 * V-cycle the count stays nearly flat with size (Briggs, Henson & McCormick, "A Multigrid Tutorial", ch. 3–5).
 *
 * The operator on one grid: for each removed pixel i, (A·u)_i = W_i·u_i − Σ_{removed neighbours j} w_ij·u_j, with
 * w = 1/6 (direct) and 1/12 (diagonal) and W_i the weight of its in-image neighbours. It is symmetric positive
 * definite whenever one pixel is kept.
 * Coarse grids halve each side; a coarse pixel is an unknown when all the pixels of its 2×2 block are, and it
 * carries the same stencil (rediscretization). Prolongation P copies a coarse value to the block's unknowns,
 * restriction is Pᵀ (the sum of the block's residuals). The coarse operator is not the Galerkin product PᵀAP
 * (diagonal 7/3, direct −1/2, diagonal −1/12 for this stencil) but the rediscretized stencil (1, −1/6, −1/12): a
 * weaker coarse correction, which only slows convergence (measured: 1–8 iterations at 224²); the preconditioner
 * stays symmetric positive definite, so CG still converges to the same solution. Smoothing is
 * Gauss–Seidel, forward before the coarse correction and backward after, so the V-cycle is a symmetric positive
 * definite operator, as CG's preconditioner must be.
 */
/** Neighbour offsets [dy, dx] and weights of the reference implementation (road_evaluation, pytorch-grad-cam). */
export const NEIGHBOUR_WEIGHTS: readonly (readonly [number, number, number])[] = [
  [-1, -1, 1 / 12], [-1, 0, 1 / 6], [-1, 1, 1 / 12],
  [0, -1, 1 / 6], [0, 1, 1 / 6],
  [1, -1, 1 / 12], [1, 0, 1 / 6], [1, 1, 1 / 12],
];

/** One grid's system: unknowns in raster order, their matrix rows in compressed form. */
export interface GridSystem {
  width: number;
  height: number;
  n: number;
  /** Pixel (row·width + column) of each unknown. */
  pixels: Int32Array;
  /** Each pixel's unknown index, −1 when kept. */
  unknownOf: Int32Array;
  diag: Float64Array;
  rowStart: Int32Array;
  nbr: Int32Array;
  nbrW: Float64Array;
}

export function gridSystem(width: number, height: number, removed: Uint8Array): GridSystem {
  const unknownOf = new Int32Array(width * height).fill(-1);
  let n = 0;
  for (let p = 0; p < removed.length; p++) if (removed[p]) unknownOf[p] = n++;
  const pixels = new Int32Array(n);
  for (let p = 0; p < removed.length; p++) if (removed[p]) pixels[unknownOf[p]] = p;
  const diag = new Float64Array(n);
  const rowStart = new Int32Array(n + 1);
  const nbr = new Int32Array(n * 8);
  const nbrW = new Float64Array(n * 8);
  let e = 0;
  for (let i = 0; i < n; i++) {
    const y = Math.floor(pixels[i] / width);
    const x = pixels[i] - y * width;
    rowStart[i] = e;
    for (const [dy, dx, w] of NEIGHBOUR_WEIGHTS) {
      const yy = y + dy;
      const xx = x + dx;
      if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
      diag[i] += w;
      const j = unknownOf[yy * width + xx];
      if (j >= 0) {
        nbr[e] = j;
        nbrW[e++] = w;
      }
    }
  }
  rowStart[n] = e;
  return { width, height, n, pixels, unknownOf, diag, rowStart, nbr, nbrW };
}

/** out = A·v. */
export function multiply(s: GridSystem, v: Float64Array, out: Float64Array): void {
  const { n, diag, rowStart, nbr, nbrW } = s;
  for (let i = 0; i < n; i++) {
    let acc = diag[i] * v[i];
    for (let k = rowStart[i], end = rowStart[i + 1]; k < end; k++) acc -= nbrW[k] * v[nbr[k]];
    out[i] = acc;
  }
}

/** One Gauss–Seidel sweep on A·u = b, in raster order or backwards. */
function sweep(s: GridSystem, u: Float64Array, b: Float64Array, backward: boolean): void {
  const { n, diag, rowStart, nbr, nbrW } = s;
  for (let t = 0; t < n; t++) {
    const i = backward ? n - 1 - t : t;
    let acc = b[i];
    for (let k = rowStart[i], end = rowStart[i + 1]; k < end; k++) acc += nbrW[k] * u[nbr[k]];
    u[i] = acc / diag[i];
  }
}

/** Unknowns at which the hierarchy stops coarsening; there the V-cycle relaxes more instead. */
const COARSEST_UNKNOWNS = 64;
/** Gauss–Seidel sweeps before and after each coarse correction, and on the coarsest grid (each way). */
const SMOOTHING_SWEEPS = 2;
const COARSEST_SWEEPS = 20;

interface Level {
  system: GridSystem;
  /** Each unknown's coarse unknown (−1: none, its block has a kept pixel). */
  parent?: Int32Array;
  coarse?: Level;
  /** Work vectors: right-hand side, residual, solution. */
  b: Float64Array;
  r: Float64Array;
  z: Float64Array;
}

export interface Multigrid {
  /** z = M⁻¹·r, one V-cycle from zero. */
  apply(r: Float64Array, z: Float64Array): void;
  levels: number;
}

export function multigrid(fine: GridSystem): Multigrid {
  const top = level(fine);
  let depth = 1;
  for (let l = top; l.system.n > COARSEST_UNKNOWNS && l.system.width >= 4 && l.system.height >= 4; l = l.coarse!) {
    const { width, height, pixels, n } = l.system;
    const w2 = Math.ceil(width / 2);
    const h2 = Math.ceil(height / 2);
    // A coarse pixel is an unknown when its whole block (clipped to the image) is.
    const count = new Uint8Array(w2 * h2);
    for (let i = 0; i < n; i++) {
      const y = Math.floor(pixels[i] / width);
      const x = pixels[i] - y * width;
      count[(y >> 1) * w2 + (x >> 1)]++;
    }
    const removed = new Uint8Array(w2 * h2);
    for (let y2 = 0; y2 < h2; y2++) {
      for (let x2 = 0; x2 < w2; x2++) {
        const size = (Math.min(height, 2 * y2 + 2) - 2 * y2) * (Math.min(width, 2 * x2 + 2) - 2 * x2);
        removed[y2 * w2 + x2] = count[y2 * w2 + x2] === size ? 1 : 0;
      }
    }
    const coarse = gridSystem(w2, h2, removed);
    if (coarse.n === 0) break;
    const parent = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const y = Math.floor(pixels[i] / width);
      const x = pixels[i] - y * width;
      parent[i] = coarse.unknownOf[(y >> 1) * w2 + (x >> 1)];
    }
    l.parent = parent;
    l.coarse = level(coarse);
    depth++;
  }
  return {
    levels: depth,
    apply(r, z) {
      vcycle(top, r, z);
    },
  };
}

function level(system: GridSystem): Level {
  return { system, b: new Float64Array(system.n), r: new Float64Array(system.n), z: new Float64Array(system.n) };
}

function vcycle(l: Level, b: Float64Array, u: Float64Array): void {
  const s = l.system;
  u.fill(0);
  if (!l.coarse) {
    for (let k = 0; k < COARSEST_SWEEPS; k++) sweep(s, u, b, false);
    for (let k = 0; k < COARSEST_SWEEPS; k++) sweep(s, u, b, true);
    return;
  }
  for (let k = 0; k < SMOOTHING_SWEEPS; k++) sweep(s, u, b, false);
  // Residual, restricted by summing each block's.
  const res = l.r;
  multiply(s, u, res);
  const c = l.coarse;
  c.b.fill(0);
  const parent = l.parent!;
  for (let i = 0; i < s.n; i++) if (parent[i] >= 0) c.b[parent[i]] += b[i] - res[i];
  vcycle(c, c.b, c.z);
  for (let i = 0; i < s.n; i++) if (parent[i] >= 0) u[i] += c.z[parent[i]];
  for (let k = 0; k < SMOOTHING_SWEEPS; k++) sweep(s, u, b, true);
}
