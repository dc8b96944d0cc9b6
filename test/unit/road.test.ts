/**
 * ROAD: the noisy linear imputation checked by hand on small images (one removed pixel: the weighted mean of its
 * neighbours, 1/6 direct and 1/12 diagonal, over the weights inside the image; two adjacent removed pixels: the
 * 2×2 system solved by hand; a block in a linear ramp: the ramp, since the weighted mean of a symmetric
 * neighbourhood reproduces an affine image) plus exactly the seeded noise; then MoRF and LeRF on a linear model
 * whose true contributions are known. Solver tolerance 1e-6 relative residual: hand values are met to 1e-5.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { noisyLinearImputation } from '../../src/engine/metrics/roadImputation';
import { road } from '../../src/engine/metrics/road';
import { pixelOrder } from '../../src/engine/metrics/pixelOrder';
import { seededNormal, seededUniform } from '../../src/engine/methods/random';
import { probabilities } from '../../src/engine/methods/scores';
import { UserError } from '../../src/engine/errors';
import { bilinearResize } from '../../src/shared/resize';
import { cleanupTempDirs, openModel } from './helpers';
import { mulberry32 } from '../fixtures/seededRandom';

after(cleanupTempDirs);

const TOL = 1e-5;
/** A 5×5 image with no symmetry, so a wrong neighbour or weight changes the answer. */
const V = [
  [3, 1, 4, 1, 5],
  [9, 2, 6, 5, 3],
  [5, 8, 9, 7, 9],
  [3, 2, 3, 8, 4],
  [6, 2, 6, 4, 3],
];
const flat = Float32Array.from(V.flat());
const noNoise = () => 0;

function mask(...pixels: [number, number][]): Uint8Array {
  const m = new Uint8Array(25);
  for (const [y, x] of pixels) m[y * 5 + x] = 1;
  return m;
}

test('one removed interior pixel becomes the weighted mean of its 8 neighbours', () => {
  const { filled } = noisyLinearImputation(flat, 5, 5, 1, mask([2, 2]), 0, noNoise);
  const expected = (V[1][2] + V[3][2] + V[2][1] + V[2][3]) / 6 + (V[1][1] + V[1][3] + V[3][1] + V[3][3]) / 12;
  assert.ok(Math.abs(filled[12] - expected) < TOL, `${filled[12]} vs ${expected}`);
  // Every other pixel is kept as it was.
  for (let i = 0; i < 25; i++) if (i !== 12) assert.equal(filled[i], flat[i]);
});

test('a removed corner and edge pixel take the mean over the weights inside the image', () => {
  const { filled } = noisyLinearImputation(flat, 5, 5, 1, mask([0, 0], [4, 2]), 0, noNoise);
  const corner = (V[0][1] / 6 + V[1][0] / 6 + V[1][1] / 12) / (5 / 12);
  const edge = ((V[4][1] + V[4][3] + V[3][2]) / 6 + (V[3][1] + V[3][3]) / 12) / (3 / 6 + 2 / 12);
  assert.ok(Math.abs(filled[0] - corner) < TOL);
  assert.ok(Math.abs(filled[22] - edge) < TOL);
});

test('two adjacent removed pixels solve their 2×2 system (each the mean of the other and its kept neighbours)', () => {
  // u1 at (2,1), u2 at (2,2): u1 = k1 + u2/6, u2 = k2 + u1/6, k = the kept neighbours' weighted sum.
  const k1 = (V[1][1] + V[3][1] + V[2][0]) / 6 + (V[1][0] + V[1][2] + V[3][0] + V[3][2]) / 12;
  const k2 = (V[1][2] + V[3][2] + V[2][3]) / 6 + (V[1][1] + V[1][3] + V[3][1] + V[3][3]) / 12;
  const u1 = (k1 + k2 / 6) / (1 - 1 / 36);
  const u2 = k2 + u1 / 6;
  const { filled } = noisyLinearImputation(flat, 5, 5, 1, mask([2, 1], [2, 2]), 0, noNoise);
  assert.ok(Math.abs(filled[11] - u1) < TOL, `${filled[11]} vs ${u1}`);
  assert.ok(Math.abs(filled[12] - u2) < TOL, `${filled[12]} vs ${u2}`);
});

test('a removed 3×3 block of a linear ramp is filled with the ramp, then exactly the seeded noise per pixel and channel', () => {
  // Two channels: 2x + 3y + 1 and −x + 0.5y.
  const ramp = new Float32Array(25 * 2);
  for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) {
    ramp[(y * 5 + x) * 2] = 2 * x + 3 * y + 1;
    ramp[(y * 5 + x) * 2 + 1] = -x + 0.5 * y;
  }
  const block = mask([1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [2, 3], [3, 1], [3, 2], [3, 3]);
  const sigma = 0.5;
  const { filled, stats } = noisyLinearImputation(ramp, 5, 5, 2, block, sigma, seededNormal(seededUniform(7)));
  assert.ok(stats.relativeResidual <= 1e-6);
  const draws = seededNormal(seededUniform(7));
  for (let p = 0; p < 25; p++) {
    for (let c = 0; c < 2; c++) {
      const expected = block[p] ? ramp[p * 2 + c] + sigma * draws() : ramp[p * 2 + c];
      assert.ok(Math.abs(filled[p * 2 + c] - expected) < TOL, `pixel ${p} channel ${c}: ${filled[p * 2 + c]} vs ${expected}`);
    }
  }
});

test('a large removed block of a 64×64 ramp is the ramp (the multigrid-preconditioned path)', () => {
  const w = 64;
  const ramp = Float32Array.from({ length: w * w }, (_, p) => 0.05 * (p % w) - 0.03 * Math.floor(p / w) + 0.5);
  const removed = new Uint8Array(w * w);
  for (let y = 12; y < 52; y++) for (let x = 10; x < 54; x++) removed[y * w + x] = 1;
  const { filled, stats } = noisyLinearImputation(ramp, w, w, 1, removed, 0, noNoise);
  assert.ok(stats.relativeResidual <= 1e-6, JSON.stringify(stats));
  for (let p = 0; p < w * w; p++) assert.ok(Math.abs(filled[p] - ramp[p]) < TOL, `pixel ${p}: ${filled[p]} vs ${ramp[p]}`);
});

test('a large removed region at 224²: every imputed pixel is the weighted mean of its neighbours, in few iterations', () => {
  const w = 224;
  const values = Float32Array.from({ length: w * w * 3 }, (_, i) => Math.sin(i * 0.001) + 0.3 * Math.cos(i * 0.37));
  const removed = new Uint8Array(w * w);
  // A disc of 90 % of the image (a Grad-CAM blob at its largest percentile) plus scattered pixels.
  for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) removed[y * w + x] = (y - 112) ** 2 + (x - 112) ** 2 < 0.9 * w * w / Math.PI || (x * 7 + y * 13) % 11 === 0 ? 1 : 0;
  const { filled, stats } = noisyLinearImputation(values, w, w, 3, removed, 0, noNoise);
  assert.ok(stats.relativeResidual <= 1e-6 && stats.iterations <= 50, JSON.stringify(stats));
  let worst = 0;
  for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) {
    if (!removed[y * w + x]) continue;
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      let weight = 0;
      for (const [dy, dx, wt] of [[-1, -1, 1 / 12], [-1, 0, 1 / 6], [-1, 1, 1 / 12], [0, -1, 1 / 6], [0, 1, 1 / 6], [1, -1, 1 / 12], [1, 0, 1 / 6], [1, 1, 1 / 12]]) {
        const yy = y + dy;
        const xx = x + dx;
        if (yy < 0 || yy >= w || xx < 0 || xx >= w) continue;
        sum += wt * filled[(yy * w + xx) * 3 + c];
        weight += wt;
      }
      worst = Math.max(worst, Math.abs(filled[(y * w + x) * 3 + c] - sum / weight));
    }
  }
  // Values are O(1); float32 storage alone leaves ~1e-7.
  assert.ok(worst < 1e-4, `largest deviation from the neighbour mean: ${worst}`);
});

/** logits = (W·x, −W·x): p(class 0) = σ(2W·x) rises with W·x, so W ⊙ x (summed over channels) is the true contribution map. */
function linearPair(h: number, w: number, c: number, seed: number): { model: tf.LayersModel; weights: Float32Array } {
  const rand = mulberry32(seed);
  const n = h * w * c;
  const weights = Float32Array.from({ length: n }, () => 0.03 * (2 * rand() - 1));
  const kernel = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    kernel[i * 2] = weights[i];
    kernel[i * 2 + 1] = -weights[i];
  }
  const model = tf.sequential();
  model.add(tf.layers.flatten({ inputShape: [h, w, c] }));
  model.add(tf.layers.dense({ units: 2 }));
  model.layers[1].setWeights([tf.tensor2d(kernel, [n, 2]), tf.zeros([2])]);
  return { model, weights };
}

test('ROAD on a linear model: the true-contribution map drops the probability faster under MoRF than LeRF', async () => {
  const [H, W, C] = [16, 16, 3];
  const { model, weights } = linearPair(H, W, C, 5);
  const ex = await openModel(model, { runtime: 'tfjs' });
  const rand = mulberry32(9);
  const values = Float32Array.from({ length: H * W * C }, () => rand());
  const x = tf.tensor(values, [1, H, W, C]);
  const contributions = new Float32Array(H * W);
  for (let p = 0; p < H * W; p++) for (let c = 0; c < C; c++) contributions[p] += weights[p * C + c] * values[p * C + c];
  const image = { height: H, width: W, channels: C };
  const map = { width: W, height: H, data: contributions };
  try {
    const before = tf.memory().numTensors;
    const result = await road({ runtime: ex.runtime, x, image, map, classIndex: 0 }, { seed: 3 });
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    for (let k = 0; k < result.percentiles.length; k++) {
      assert.ok(result.morf[k] < result.original && result.original < result.lerf[k], `p=${result.percentiles[k]}: MoRF ${result.morf[k]}, original ${result.original}, LeRF ${result.lerf[k]}`);
    }
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    assert.ok(Math.abs(result.combined - (mean(result.lerf) - mean(result.morf)) / 2) < 1e-12);
    assert.ok(result.combined > 0);
    // The reversed map swaps the two orders: its combined score is negative.
    const reversed = await road({ runtime: ex.runtime, x, image, map: { ...map, data: contributions.map((v) => -v) }, classIndex: 0 }, { seed: 3 });
    assert.ok(reversed.combined < 0, `reversed ${reversed.combined}`);

    // Plumbing: MoRF at 30 % is the model's probability on the image imputed by hand with seed 3 + 2.
    const order = pixelOrder(contributions, 3);
    const removed = new Uint8Array(H * W);
    for (let r = 0; r < Math.floor(H * W * 0.3); r++) removed[order[r]] = 1;
    const { filled } = noisyLinearImputation(values, W, H, C, removed, 0.01, seededNormal(seededUniform(5)));
    const input = tf.tensor(filled, [1, H, W, C]);
    const out = model.predict(input) as tf.Tensor;
    const expected = probabilities(out.dataSync() as Float32Array, 'none')[0];
    tf.dispose([input, out]);
    assert.ok(Math.abs(result.morf[2] - expected) < 1e-5, `${result.morf[2]} vs ${expected}`);

    // A map of another size (a CAM at its layer's size) is bilinearly resized to the image first.
    const small = { width: 8, height: 8, data: Float32Array.from({ length: 64 }, (_, i) => contributions[Math.floor(i / 8) * 32 + (i % 8) * 2]) };
    const resized = { width: W, height: H, data: bilinearResize(small.data, 8, 8, W, H) };
    assert.deepEqual(await road({ runtime: ex.runtime, x, image, map: small, classIndex: 0 }, { seed: 3, percentiles: [30, 70] }),
      await road({ runtime: ex.runtime, x, image, map: resized, classIndex: 0 }, { seed: 3, percentiles: [30, 70] }));

    // Seeded: the same result twice.
    const again = await road({ runtime: ex.runtime, x, image, map, classIndex: 0 }, { seed: 3 });
    assert.deepEqual(again, result);
  } finally {
    x.dispose();
    ex.dispose();
  }
});

test('bad ROAD options and inputs are refused with a UserError', async () => {
  const { model } = linearPair(8, 8, 1, 2);
  const ex = await openModel(model, { runtime: 'tfjs' });
  const x = tf.zeros([1, 8, 8, 1]);
  const input = { runtime: ex.runtime, x, image: { height: 8, width: 8, channels: 1 }, map: { width: 8, height: 8, data: new Float32Array(64) }, classIndex: 0 };
  try {
    for (const opts of [{ percentiles: [] }, { percentiles: [0] }, { percentiles: [100] }, { percentiles: [NaN] }, { noise: -1 }, { seed: 1.5 }, { tolerance: 0 }, { maxIterations: 0 }]) {
      await assert.rejects(road(input, opts), UserError, JSON.stringify(opts));
    }
    await assert.rejects(road({ ...input, classIndex: 2 }), UserError);
    await assert.rejects(road({ ...input, map: { width: 8, height: 8, data: new Float32Array(10) } }), UserError);
    await assert.rejects(road({ ...input, map: { width: 8, height: 8, data: new Float32Array(64).fill(NaN) } }), UserError);
    await assert.rejects(road({ ...input, image: { height: 4, width: 4, channels: 1 } }), UserError);
  } finally {
    x.dispose();
    ex.dispose();
  }
});
