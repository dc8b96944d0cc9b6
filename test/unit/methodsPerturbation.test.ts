/**
 * The perturbation family (occlusion, RISE, LIME, Kernel SHAP), each against an expectation computed
 * another way: closed forms of linear models (occlusion; Shapley values of an additive score), Shapley
 * values by brute force over every coalition through the runtime (a non-additive model), the same model
 * on two runtimes (tfjs and ONNX Runtime) that must agree, sampling statistics of the RISE masks, and
 * the optimality conditions of the weighted ridge fit.
 *
 * Linear models and additive scores: LIME, RISE and Kernel SHAP follow the class *probability*, which
 * is not additive even for a linear model (the softmax couples the classes). A contrast target (the
 * compare view's S_a − S_b) makes every method follow seed·logits instead; for a linear model that is
 * exactly Σ_pixels (W_a − W_b)·x + const, additive over pixels and so over superpixels, with Shapley
 * value g_r(x) − g_r(baseline) for region r. That is the clean closed form used below.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { UserError } from '../../src/engine/errors';
import { Explainer } from '../../src/engine/explain';
import { weightedRegression } from '../../src/engine/methods/linearRegression';
import { shapCoalitions } from '../../src/engine/methods/kernelShap';
import { windowStarts } from '../../src/engine/methods/occlusion';
import { riseMasks } from '../../src/engine/methods/rise';
import { segmentInput } from '../../src/engine/methods/superpixels';
import type { AttributionMap } from '../../src/engine/methods/types';
import type { MethodName, MethodOptions } from '../../src/shared/methods';
import { mulberry32 } from '../fixtures/seededRandom';
import { cleanupTempDirs, openModel, relativeError } from './helpers';

const RESNET = path.join(__dirname, '..', 'fixtures', 'onnx', 'tiny_resnet.onnx');
const PERTURBATION: readonly MethodName[] = ['occlusion', 'rise', 'lime', 'kernelshap'];

before(async () => {
  await initBackend();
});
after(cleanupTempDirs);

function uniformValues(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

interface Linear {
  model: tf.LayersModel;
  /** Dense kernel [inputs, classes], row-major. */
  kernel: Float32Array;
  classes: number;
}

/** logits = W·flatten(x) + b, with seeded weights; `flat` takes the image flattened (an MLP's input). */
function linearModel(h: number, w: number, c: number, classes: number, seed: number, flat = false): Linear {
  const n = h * w * c;
  const model = tf.sequential();
  if (flat) {
    model.add(tf.layers.dense({ inputShape: [n], units: classes }));
  } else {
    model.add(tf.layers.flatten({ inputShape: [h, w, c] }));
    model.add(tf.layers.dense({ units: classes }));
  }
  const kernel = uniformValues(n * classes, seed, -1, 1);
  model.layers[model.layers.length - 1].setWeights([tf.tensor2d(kernel, [n, classes]), tf.tensor1d(uniformValues(classes, seed + 1, -0.5, 0.5))]);
  return { model, kernel, classes };
}

/** A small non-additive CNN ending in softmax (3×3 conv + ReLU, dense). */
function cnnModel(h: number, w: number, c: number, classes: number, seed: number): tf.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [h, w, c], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: classes, activation: 'softmax' }));
  model.setWeights(model.getWeights().map((t, i) => tf.tensor(uniformValues(t.size, seed + i, -1, 1), t.shape)));
  return model;
}

/**
 * A softmax CNN (non-additive in the superpixels) on a 16×12 colour image that SLIC splits into 8 regions,
 * on tfjs: small enough to evaluate all 2^8 coalitions in the test.
 */
async function nonAdditiveSetup(): Promise<{ ex: Explainer; values: Float32Array; segments: number; regions: ReturnType<typeof segmentInput>; shape: number[]; x: tf.Tensor }> {
  const [h, w, c, segments] = [16, 12, 3, 7];
  const ex = await openModel(cnnModel(h, w, c, 5, 53), { runtime: 'tfjs' });
  const values = uniformValues(h * w * c, 13);
  const regions = segmentInput(values, { height: h, width: w, channels: c }, segments);
  return { ex, values, segments, regions, shape: [1, h, w, c], x: tf.tensor(values, [1, h, w, c]) };
}

/** Per pixel, Σ_channels (W_a − W_b)·(x − baseline) (b = −1: W_a alone). */
function linearContributions(lin: Linear, x: Float32Array, baseline: Float32Array, channels: number, a: number, b = -1): Float64Array {
  const out = new Float64Array(x.length / channels);
  for (let i = 0; i < x.length; i++) {
    const w = lin.kernel[i * lin.classes + a] - (b >= 0 ? lin.kernel[i * lin.classes + b] : 0);
    out[Math.floor(i / channels)] += w * (x[i] - baseline[i]);
  }
  return out;
}

/** Every pixel replaced by its channel's mean over the image (the 'mean' baseline, by hand). */
function meanImage(x: Float32Array, channels: number): Float32Array {
  const mean = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) mean[i % channels] += x[i] / (x.length / channels);
  return Float32Array.from(x, (_, i) => mean[i % channels]);
}

async function mapOf(ex: Explainer, x: tf.Tensor, method: MethodName, options: MethodOptions = {}, target = 0): Promise<AttributionMap> {
  return (await ex.explainTensor(x, { methods: [method], options: { [method]: options }, target })).maps[0];
}

/** The map of the contrast S_a − S_b (the compare view's path). */
async function contrastMapOf(ex: Explainer, x: tf.Tensor, method: MethodName, options: MethodOptions, a: number, b: number): Promise<AttributionMap> {
  const r = await ex.compareTensor(x, { method, options, classes: [a], contrast: [a, b] });
  return r.contrast!.map;
}

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const rank = (v: ArrayLike<number>) => {
    const order = Array.from(v, (_, i) => i).sort((i, j) => v[i] - v[j]);
    const r = new Array<number>(v.length);
    order.forEach((i, k) => (r[i] = k));
    return r;
  };
  const ra = rank(a);
  const rb = rank(b);
  const n = a.length;
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (ra[i] - rb[i]) ** 2;
  return 1 - (6 * d2) / (n * (n * n - 1));
}

/** The class probability of one input straight through the runtime's trace, softmax by hand. */
async function probabilityOf(ex: Explainer, values: Float32Array, shape: number[], target: number): Promise<number> {
  const t = tf.tensor(values, shape);
  const trace = await ex.runtime.trace(t);
  const logits = Array.from(trace.logits.dataSync());
  trace.dispose();
  t.dispose();
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  return exps[target] / exps.reduce((a, b) => a + b, 0);
}

/** x with every region whose entry of `on` is 0 replaced by the baseline. */
function switchRegions(x: Float32Array, baseline: Float32Array, labels: Int32Array, channels: number, on: (region: number) => boolean): Float32Array {
  return Float32Array.from(x, (v, i) => (on(labels[Math.floor(i / channels)]) ? v : baseline[i]));
}

/** v(S) for every coalition S of k regions (bit r set = region r kept): the target's probability. */
async function coalitionValues(ex: Explainer, x: Float32Array, baseline: Float32Array, labels: Int32Array, k: number,
  shape: number[], target: number): Promise<Float64Array> {
  const v = new Float64Array(2 ** k);
  const channels = shape[shape.length - 1];
  for (let s = 0; s < 2 ** k; s++) v[s] = await probabilityOf(ex, switchRegions(x, baseline, labels, channels, (r) => ((s >> r) & 1) === 1), shape, target);
  return v;
}

const popcount = (s: number) => s.toString(2).split('').filter((b) => b === '1').length;

/** Shapley values from the definition: φ_i = Σ_{S ∌ i} |S|!(k−|S|−1)!/k! · (v(S ∪ i) − v(S)). */
function shapleyValues(v: Float64Array, k: number): Float64Array {
  const fact = (n: number): number => (n <= 1 ? 1 : n * fact(n - 1));
  const phi = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    for (let s = 0; s < 2 ** k; s++) {
      if ((s >> i) & 1) continue;
      const size = popcount(s);
      phi[i] += ((fact(size) * fact(k - size - 1)) / fact(k)) * (v[s | (1 << i)] - v[s]);
    }
  }
  return phi;
}

/** Banzhaf values, the uniform average of marginal contributions: what equal coalition weights estimate. */
function banzhafValues(v: Float64Array, k: number): Float64Array {
  const beta = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    for (let s = 0; s < 2 ** k; s++) if (!((s >> i) & 1)) beta[i] += (v[s | (1 << i)] - v[s]) / 2 ** (k - 1);
  }
  return beta;
}

/** mean |a − b| / max |b|. */
function meanAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < b.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / b.length / maxAbs(b);
}

/** Solves A·u = b (n×n, row-major) by Gaussian elimination with partial pivoting. */
function solveLinear(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const u = Float64Array.from(b);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r * n + col]) > Math.abs(m[pivot * n + col])) pivot = r;
    for (let c = 0; c < n; c++) [m[col * n + c], m[pivot * n + c]] = [m[pivot * n + c], m[col * n + c]];
    [u[col], u[pivot]] = [u[pivot], u[col]];
    for (let r = col + 1; r < n; r++) {
      const f = m[r * n + col] / m[col * n + col];
      for (let c = col; c < n; c++) m[r * n + c] -= f * m[col * n + c];
      u[r] -= f * u[col];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    for (let c = r + 1; c < n; c++) u[r] -= m[r * n + c] * u[c];
    u[r] /= m[r * n + r];
  }
  return u;
}

/** Region values of a per-pixel map (every pixel of a region must carry the same value). */
function regionValues(map: AttributionMap, labels: Int32Array, count: number): Float64Array {
  const out = new Float64Array(count).fill(NaN);
  labels.forEach((r, p) => {
    if (Number.isNaN(out[r])) out[r] = map.data[p];
    else assert.equal(map.data[p], out[r], `region ${r} is not one value`);
  });
  return out;
}

describe('occlusion', () => {
  const [H, W, C] = [8, 8, 3];
  const lin = linearModel(H, W, C, 4, 11);
  const xValues = uniformValues(H * W * C, 5);

  for (const runtime of ['tfjs', 'auto'] as const) {
    it(`with a 1-pixel window equals W_c ⊙ (x − baseline) summed over channels on a linear model (${runtime === 'tfjs' ? 'tfjs' : 'ONNX Runtime'})`, async () => {
      const ex = await openModel(lin.model, { runtime });
      assert.equal(ex.runtime.kind, runtime === 'tfjs' ? 'layers' : 'onnx');
      const x = tf.tensor(xValues, [1, H, W, C]);
      try {
        for (const c of [0, 3]) {
          const map = await mapOf(ex, x, 'occlusion', { window: 1, stride: 1, baseline: 'mean' }, c);
          const expected = linearContributions(lin, xValues, meanImage(xValues, C), C, c);
          assert.equal(map.signed, true);
          assert.ok(relativeError(map.data, expected) < 1e-4, `class ${c}: ${relativeError(map.data, expected)}`);
        }
        // Black on the default 'unit' preprocessing is 0: the contribution is W_c ⊙ x.
        const black = await mapOf(ex, x, 'occlusion', { window: 1, stride: 1, baseline: 'black' }, 1);
        assert.ok(relativeError(black.data, linearContributions(lin, xValues, new Float32Array(xValues.length), C, 1)) < 1e-4);
      } finally {
        x.dispose();
        ex.dispose();
      }
    });
  }

  it('replaces with black as the model\'s preprocessing sees it (ImageNet mean/std)', async () => {
    const ex = await openModel(lin.model, { preprocessing: 'imagenet' });
    const x = tf.tensor(xValues, [1, H, W, C]);
    try {
      const map = await mapOf(ex, x, 'occlusion', { window: 1, stride: 1, baseline: 'black' }, 0);
      // A black pixel p = 0 becomes (0 − mean) / std per channel.
      const [mean, std] = [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]];
      const black = Float32Array.from(xValues, (_, i) => -mean[i % 3] / std[i % 3]);
      assert.ok(relativeError(map.data, linearContributions(lin, xValues, black, C, 0)) < 1e-4);
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('averages a pixel over the windows that cover it (2-pixel window, stride 1)', async () => {
    const ex = await openModel(lin.model);
    const x = tf.tensor(xValues, [1, H, W, C]);
    try {
      const map = await mapOf(ex, x, 'occlusion', { window: 2, stride: 1, baseline: 'mean' }, 2);
      const contrib = linearContributions(lin, xValues, meanImage(xValues, C), C, 2);
      // Every 2×2 window (top-left corner 0…H−2): its drop is the sum of its pixels' contributions.
      const sum = new Float64Array(H * W);
      const covering = new Float64Array(H * W);
      for (let y0 = 0; y0 <= H - 2; y0++) {
        for (let x0 = 0; x0 <= W - 2; x0++) {
          const pixels = [[y0, x0], [y0, x0 + 1], [y0 + 1, x0], [y0 + 1, x0 + 1]].map(([y, xx]) => y * W + xx);
          const drop = pixels.reduce((s, p) => s + contrib[p], 0);
          for (const p of pixels) {
            sum[p] += drop;
            covering[p]++;
          }
        }
      }
      const expected = sum.map((s, p) => s / covering[p]);
      assert.ok(relativeError(map.data, expected) < 1e-4, String(relativeError(map.data, expected)));
      assert.equal(map.stats!.windows, (H - 1) * (W - 1));
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('works on a flat (MLP) input, shaped back to the image', async () => {
    const flat = linearModel(H, W, 1, 3, 21, true);
    const ex = await openModel(flat.model);
    const values = uniformValues(H * W, 8);
    const x = tf.tensor(values, [1, H * W]);
    try {
      const map = await mapOf(ex, x, 'occlusion', { window: 1, stride: 1, baseline: 'mean' }, 1);
      assert.equal(map.width, W);
      assert.equal(map.height, H);
      assert.ok(relativeError(map.data, linearContributions(flat, values, meanImage(values, 1), 1, 1)) < 1e-4);
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('places windows every stride plus one flush with the far edge', () => {
    assert.deepEqual(windowStarts(8, 3, 2), [0, 2, 4, 5]);
    assert.deepEqual(windowStarts(8, 2, 2), [0, 2, 4, 6]);
    assert.deepEqual(windowStarts(8, 8, 4), [0]);
  });
});

describe('Kernel SHAP', () => {
  for (const [samples, C] of [[60, 3], [5000, 3], [60, 1]] as const) {
    it(`gives the exact Shapley values of an additive score (${samples < 4094 ? 'sampled coalitions' : 'every coalition'}, ${C === 3 ? 'colour' : 'grayscale'})`, async () => {
      const [H, W] = [16, 16];
      const lin = linearModel(H, W, C, 3, 31);
      const xValues = uniformValues(H * W * C, 7);
      const ex = await openModel(lin.model);
      const x = tf.tensor(xValues, [1, H, W, C]);
      try {
        const regions = segmentInput(xValues, { height: H, width: W, channels: C }, 12);
        const map = await contrastMapOf(ex, x, 'kernelshap', { samples, segments: 12, baseline: 'mean' }, 0, 2);
        assert.equal(map.stats!.segments, regions.count);
        assert.equal(map.stats!.exact, 2 ** regions.count - 2 <= samples ? 1 : 0);
        const perPixel = linearContributions(lin, xValues, meanImage(xValues, C), C, 0, 2);
        const expected = new Float64Array(regions.count);
        regions.labels.forEach((r, p) => (expected[r] += perPixel[p]));
        const phi = regionValues(map, regions.labels, regions.count);
        assert.ok(relativeError(phi, expected) < 1e-4, `${Array.from(phi)} vs ${Array.from(expected)}`);
        assert.ok(map.stats!.efficiencyGap < 1e-6 * maxAbs(expected), `efficiency gap ${map.stats!.efficiencyGap}`);
      } finally {
        x.dispose();
        ex.dispose();
      }
    });
  }

  it('equals Shapley values computed by brute force over every coalition (non-additive model, probability)', async () => {
    const [h, w, c] = [12, 12, 3];
    const ex = await openModel(cnnModel(h, w, c, 5, 41), { runtime: 'tfjs' });
    const values = uniformValues(h * w * c, 9);
    const x = tf.tensor(values, [1, h, w, c]);
    try {
      const regions = segmentInput(values, { height: h, width: w, channels: c }, 6);
      const k = regions.count;
      assert.ok(k >= 3 && k <= 8, `${k} superpixels`);
      const target = 2;
      const map = await mapOf(ex, x, 'kernelshap', { samples: 2 ** k, segments: 6, baseline: 'mean' }, target);
      assert.equal(map.stats!.exact, 1);

      // v(S) for every coalition S straight through the runtime, softmax by hand; φ from the definition.
      const expected = shapleyValues(await coalitionValues(ex, values, meanImage(values, c), regions.labels, k, [1, h, w, c], target), k);
      const phi = regionValues(map, regions.labels, k);
      assert.ok(relativeError(phi, expected) < 1e-4, `${Array.from(phi)} vs ${Array.from(expected)}`);
      assert.ok(maxAbs(expected) > 1e-3, 'the model must depend on the image for this test to mean anything');
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('with sampled coalitions (2^K − 2 > samples) comes within 4 % of brute-force Shapley values, efficiency exact', async () => {
    // K = 8 superpixels, 200 of the 254 coalitions: sizes 1, 2 (and 7, 6) enumerated, sizes 3, 5 (paired)
    // and 4 drawn by their kernel mass. Tolerance: over sampling seeds 1…8 the mean |φ − φ_exact| stays
    // ≤ 2.4 % of max |φ_exact| here (2.1 % at seed 1), while equal coalition weights give ≈ 10 %, drawn
    // coalitions left unscaled to their kernel mass ≈ 15 %, equal mass per size ≈ 5.5 %. Subtler kernel
    // errors hide in the sampling noise; the test below pins the kernel mass per size exactly.
    const { ex, values, segments, regions, shape, x } = await nonAdditiveSetup();
    try {
      const k = regions.count;
      assert.equal(k, 8);
      const target = 1;
      const map = await mapOf(ex, x, 'kernelshap', { samples: 200, segments, baseline: 'mean', seed: 1 }, target);
      assert.equal(map.stats!.exact, 0, 'the sampled branch');
      assert.ok(map.stats!.coalitions <= 200);

      const v = await coalitionValues(ex, values, meanImage(values, 3), regions.labels, k, shape, target);
      const expected = shapleyValues(v, k);
      const phi = regionValues(map, regions.labels, k);
      assert.ok(maxAbs(expected) > 0.1, 'the model must depend on the image for this test to mean anything');
      // Equal weights estimate Banzhaf values; they must lie well outside the tolerance for it to test the kernel.
      assert.ok(meanAbsError(banzhafValues(v, k), expected) > 0.08, 'Shapley and Banzhaf values too close to tell the kernel');
      const error = meanAbsError(phi, expected);
      assert.ok(error < 0.04, `mean |φ − φ_exact| / max |φ_exact| = ${error}`);
      // Efficiency holds exactly (up to float32 scores through two code paths): Σφ = v(all) − v(none).
      const total = v[2 ** k - 1] - v[0];
      assert.ok(Math.abs(phi.reduce((a, b) => a + b, 0) - total) < 1e-5, `Σφ ${phi.reduce((a, b) => a + b, 0)} vs ${total}`);
      assert.ok(map.stats!.efficiencyGap < 1e-12, `efficiency gap ${map.stats!.efficiencyGap}`);
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('samples coalitions as shap does: whole sizes first, complements paired, weights summing to 1', () => {
    // K = 10, budget 100: size 1 (10 + 10 complements) fits; size 2 (45 + 45) does not and is sampled.
    const c = shapCoalitions(10, 100, 3);
    assert.equal(c.exhaustive, false);
    assert.ok(c.masks.length <= 100 && c.masks.length >= 90, `${c.masks.length} coalitions`);
    const size = (m: Uint8Array) => m.reduce((a, b) => a + b, 0);
    assert.deepEqual(c.masks.slice(0, 20).map(size), Array.from({ length: 20 }, (_, i) => (i % 2 ? 9 : 1)));
    const keys = new Set(c.masks.map((m) => m.join('')));
    assert.equal(keys.size, c.masks.length, 'a coalition evaluated twice');
    assert.ok(Math.abs(c.weights.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    // The Shapley kernel's mass per coalition size s (all C(K,s) coalitions together) is ∝ (K−1)/(s(K−s)).
    // K = 8, budget 200: sizes 1, 7, 2, 6 enumerated carry exactly their mass; the drawn sizes 3, 4, 5
    // share exactly what is left, whatever the draws.
    const k8 = shapCoalitions(8, 200, 1);
    const mass = Array.from({ length: 8 }, (_, s) => (s === 0 ? 0 : 7 / (s * (8 - s))));
    const massTotal = mass.reduce((a, b) => a + b, 0);
    const weightOfSizes = (sizes: number[]) => k8.weights.reduce((a, w, i) => a + (sizes.includes(size(k8.masks[i])) ? w : 0), 0);
    for (const sizes of [[1], [7], [2], [6], [3, 4, 5]]) {
      const expected = sizes.reduce((a, s) => a + mass[s], 0) / massTotal;
      assert.ok(Math.abs(weightOfSizes(sizes) - expected) < 1e-12, `sizes ${sizes}: weight ${weightOfSizes(sizes)}, kernel mass ${expected}`);
    }
    // Enumerated coalitions carry the Shapley kernel's weight ratio between sizes: π(1) / π(2) = C(10,2)·2·8 / (C(10,1)·1·9).
    const all = shapCoalitions(6, 62, 0);
    assert.equal(all.exhaustive, true);
    const w1 = all.weights[all.masks.findIndex((m) => size(m) === 1)];
    const w3 = all.weights[all.masks.findIndex((m) => size(m) === 3)];
    assert.ok(Math.abs(w1 / w3 - (20 * 3 * 3) / (6 * 1 * 5)) < 1e-9);
  });
});

describe('LIME', () => {
  it('recovers the signs and order of a linear score\'s per-superpixel contributions', async () => {
    const [H, W, C] = [16, 16, 3];
    const lin = linearModel(H, W, C, 3, 51);
    const xValues = uniformValues(H * W * C, 13);
    const ex = await openModel(lin.model);
    const x = tf.tensor(xValues, [1, H, W, C]);
    try {
      const regions = segmentInput(xValues, { height: H, width: W, channels: C }, 12);
      const map = await contrastMapOf(ex, x, 'lime', { samples: 1000, segments: 12, baseline: 'mean' }, 1, 0);
      const perPixel = linearContributions(lin, xValues, meanImage(xValues, C), C, 1, 0);
      const expected = new Float64Array(regions.count);
      regions.labels.forEach((r, p) => (expected[r] += perPixel[p]));
      const beta = regionValues(map, regions.labels, regions.count);
      const big = maxAbs(expected);
      for (let r = 0; r < regions.count; r++) {
        if (Math.abs(expected[r]) > 0.05 * big) assert.equal(Math.sign(beta[r]), Math.sign(expected[r]), `region ${r}: ${beta[r]} vs ${expected[r]}`);
      }
      assert.ok(spearman(beta, expected) > 0.95, `Spearman ${spearman(beta, expected)}`);
      assert.equal(beta.indexOf(Math.max(...beta)), expected.indexOf(Math.max(...expected)));
      assert.equal(beta.indexOf(Math.min(...beta)), expected.indexOf(Math.min(...expected)));
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('is the α = 1 weighted ridge, with lime\'s kernel √exp(−d²/w²), of the probability on a non-additive model', async () => {
    const { ex, values, segments, regions, shape, x } = await nonAdditiveSetup();
    try {
      const k = regions.count;
      const [samples, kernelWidth, seed, target] = [150, 0.25, 4, 1];
      const map = await mapOf(ex, x, 'lime', { samples, segments, kernelWidth, baseline: 'mean', seed }, target);

      // lime's draw, reproduced from the seed: the first sample all on, then superpixel by superpixel on
      // when the seed's stream gives < ½. Each sample's score is its coalition's probability, by brute force.
      const v = await coalitionValues(ex, values, meanImage(values, 3), regions.labels, k, shape, target);
      const rand = mulberry32(seed);
      const z = Array.from({ length: samples }, (_, i) => Array.from({ length: k }, (): number => (i === 0 || rand() < 0.5 ? 1 : 0)));
      const y = z.map((row) => v[row.reduce((s, on, r) => s | (on << r), 0)]);
      // lime_image: d = cosine distance of z to the all-on vector (1 for the empty sample, as sklearn gives).
      const cosineDistance = (row: number[]) => {
        const dot = row.reduce((a, b) => a + b, 0);
        return dot === 0 ? 1 : 1 - dot / (Math.sqrt(dot) * Math.sqrt(k));
      };
      const limeKernel = z.map((row) => Math.sqrt(Math.exp(-(cosineDistance(row) ** 2) / kernelWidth ** 2)));

      // argmin Σ w_i (y_i − b − z_i·β)² + |β|²: normal equations in (β, b), b unpenalized (sklearn's Ridge).
      const ridge = (weights: number[]) => {
        const n = k + 1;
        const a = new Float64Array(n * n);
        const rhs = new Float64Array(n);
        z.forEach((row, i) => {
          const u = [...row, 1];
          for (let p = 0; p < n; p++) {
            rhs[p] += weights[i] * u[p] * y[i];
            for (let q = 0; q < n; q++) a[p * n + q] += weights[i] * u[p] * u[q];
          }
        });
        for (let p = 0; p < k; p++) a[p * n + p] += 1;
        const u = solveLinear(a, rhs, n);
        return { coef: u.subarray(0, k), intercept: u[k] };
      };
      const expected = ridge(limeKernel);
      const beta = regionValues(map, regions.labels, k);
      const error = relativeError(beta, expected.coef);
      assert.ok(error < 1e-4, `relative error ${error}: ${Array.from(beta)} vs ${Array.from(expected.coef)}`);
      assert.ok(Math.abs(map.stats!.intercept - expected.intercept) < 1e-5, `intercept ${map.stats!.intercept} vs ${expected.intercept}`);
      // The weights decide the answer here: without the square root, or with equal weights, it is another one.
      for (const [what, weights] of [['exp(−d²/w²)', limeKernel.map((w) => w * w)], ['equal weights', limeKernel.map(() => 1)]] as const) {
        assert.ok(relativeError(ridge(weights).coef, expected.coef) > 0.02, `${what} gives nearly the same coefficients`);
      }
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('fits the weighted ridge regression: its gradient vanishes at the solution', () => {
    const rand = mulberry32(4);
    const [n, k] = [40, 5];
    const xs = Float64Array.from({ length: n * k }, () => (rand() < 0.5 ? 1 : 0));
    const y = Float64Array.from({ length: n }, () => rand());
    const weights = Float64Array.from({ length: n }, () => rand());
    for (const [alpha, intercept] of [[1, true], [0, false], [0.3, true]] as const) {
      const fit = weightedRegression({ x: xs, y, weights, features: k }, { alpha, intercept });
      // ∂/∂β_j = −2 Σ w r x_j + 2αβ_j and ∂/∂b = −2 Σ w r must be 0 (r the residual).
      const residual = Array.from(y, (yi, i) => yi - fit.intercept - Array.from(fit.coef).reduce((s, b, j) => s + b * xs[i * k + j], 0));
      for (let j = 0; j < k; j++) {
        const g = -residual.reduce((s, r, i) => s + weights[i] * r * xs[i * k + j], 0) + alpha * fit.coef[j];
        assert.ok(Math.abs(g) < 1e-10, `α=${alpha}: ∂/∂β_${j} = ${g}`);
      }
      if (intercept) assert.ok(Math.abs(residual.reduce((s, r, i) => s + weights[i] * r, 0)) < 1e-10);
      else assert.equal(fit.intercept, 0);
    }
  });
});

describe('RISE', () => {
  it('makes masks whose mean is the keep probability (within sampling error), smooth and shifted', () => {
    for (const keep of [0.5, 0.2]) {
      const spec = { height: 24, width: 20, grid: 5, keep, seed: 3 };
      const make = riseMasks(spec);
      const n = 1500;
      const mask = new Float32Array(spec.height * spec.width);
      const means: number[] = [];
      for (let i = 0; i < n; i++) {
        make(i, mask);
        assert.ok(mask.every((v) => v >= 0 && v <= 1));
        means.push(mask.reduce((a, b) => a + b, 0) / mask.length);
      }
      const mean = means.reduce((a, b) => a + b, 0) / n;
      const sd = Math.sqrt(means.reduce((a, m) => a + (m - mean) ** 2, 0) / (n - 1));
      assert.ok(Math.abs(mean - keep) < 4 * (sd / Math.sqrt(n)), `keep ${keep}: mean ${mean} ± ${sd / Math.sqrt(n)}`);
    }
    // Bilinear: values between 0 and 1 occur; two masks of one seed differ; the same index gives the same mask.
    const make = riseMasks({ height: 16, width: 16, grid: 4, keep: 0.5, seed: 1 });
    const [a, b, a2] = [new Float32Array(256), new Float32Array(256), new Float32Array(256)];
    make(0, a);
    make(1, b);
    make(0, a2);
    assert.ok(a.some((v) => v > 0.05 && v < 0.95));
    assert.notDeepEqual(a, b);
    assert.deepEqual(a, a2);
    // The random shift makes masks stationary: unshifted, a pixel on a cell centre varies as a Bernoulli
    // (variance keep·(1 − keep)) and one between two centres as their mean (half that), so the variance
    // across masks would swing by 2× along a row or column; shifted, it stays nearly flat inside the image.
    const [h, w, n] = [24, 24, 3000];
    const shifted = riseMasks({ height: h, width: w, grid: 4, keep: 0.5, seed: 2 });
    const m = new Float32Array(h * w);
    const [s1, s2] = [new Float64Array(h * w), new Float64Array(h * w)];
    for (let i = 0; i < n; i++) {
      shifted(i, m);
      m.forEach((v, p) => ((s1[p] += v), (s2[p] += v * v)));
    }
    const variance = (p: number) => s2[p] / n - (s1[p] / n) ** 2;
    for (const line of [(t: number) => t * w + w / 2, (t: number) => (h / 2) * w + t]) {
      const inner = Array.from({ length: 16 }, (_, t) => variance(line(t + 4)));
      assert.ok(Math.max(...inner) / Math.min(...inner) < 1.4, `variance along a line: ${inner.map((v) => v.toFixed(3))}`);
    }
  });

  it('is seeded: the same seed gives the same map, another seed another', async () => {
    const ex = await Explainer.open(RESNET);
    const x = tf.tensor(uniformValues(32 * 32 * 3, 17, -2, 2), [1, 32, 32, 3]);
    try {
      const a = await mapOf(ex, x, 'rise', { masks: 64, seed: 5 });
      const b = await mapOf(ex, x, 'rise', { masks: 64, seed: 5 });
      const c = await mapOf(ex, x, 'rise', { masks: 64, seed: 6 });
      assert.deepEqual(a.data, b.data);
      assert.notDeepEqual(a.data, c.data);
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('is the probability times the mean mask over keep: P everywhere for a model that ignores the image', async () => {
    const lin = linearModel(12, 12, 1, 3, 61);
    lin.model.layers[1].setWeights([tf.zeros([144, 3]), tf.tensor1d([0.3, -0.2, 1])]);
    const ex = await openModel(lin.model);
    const x = tf.tensor(uniformValues(144, 3), [1, 12, 12, 1]);
    try {
      const map = await mapOf(ex, x, 'rise', { masks: 2000, grid: 4, keep: 0.4 }, 0);
      const p = Math.exp(0.3) / (Math.exp(0.3) + Math.exp(-0.2) + Math.exp(1));
      const mean = map.data.reduce((a, b) => a + b, 0) / map.data.length;
      // Σ M_i / (N·keep) averages to 1 per pixel: a 2 % band is > 6 standard errors at 2000 masks.
      assert.ok(Math.abs(mean / p - 1) < 0.02, `mean ${mean}, P ${p}`);
      assert.ok(map.data.every((v) => Math.abs(v / p - 1) < 0.15));
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('concentrates where the class probability depends on the image', async () => {
    // Class 0's logit grows with the mean of a 6×6 region; the other classes' logits are constant. Far
    // from the region a mask is independent of P, so the map there is E[P]; inside it is E[P·M]/keep ≤
    // E[P]/keep: the ratio is at most 1/keep, hence keep = 0.25 (ratio ≤ 4) to ask for 2.
    const [H, W] = [20, 20];
    const model = tf.sequential();
    model.add(tf.layers.flatten({ inputShape: [H, W, 1] }));
    model.add(tf.layers.dense({ units: 4 }));
    const kernel = new Float32Array(H * W * 4);
    const inside = (p: number) => Math.floor(p / W) >= 3 && Math.floor(p / W) < 9 && p % W >= 11 && p % W < 17;
    for (let p = 0; p < H * W; p++) if (inside(p)) kernel[p * 4] = 20 / 36;
    model.layers[1].setWeights([tf.tensor2d(kernel, [H * W, 4]), tf.tensor1d([-16, 0, 0, 0])]);
    const ex = await openModel(model);
    const x = tf.ones([1, H, W, 1]);
    try {
      const map = await mapOf(ex, x, 'rise', { masks: 1000, grid: 5, keep: 0.25 }, 0);
      let [inSum, inCount, outSum, outCount] = [0, 0, 0, 0];
      map.data.forEach((v, p) => (inside(p) ? ((inSum += v), inCount++) : ((outSum += v), outCount++)));
      const ratio = inSum / inCount / (outSum / outCount);
      assert.ok(ratio >= 2, `mean inside / outside = ${ratio}`);
    } finally {
      x.dispose();
      ex.dispose();
    }
  });
});

describe('every perturbation method', () => {
  it('gives the same maps on tfjs and on ONNX Runtime for the same model', async () => {
    const [h, w, c] = [12, 12, 3];
    const model = cnnModel(h, w, c, 5, 71);
    const tfjs = await openModel(model, { runtime: 'tfjs' });
    const onnx = await openModel(model);
    assert.equal(tfjs.runtime.kind, 'layers');
    assert.equal(onnx.runtime.kind, 'onnx');
    const x = tf.tensor(uniformValues(h * w * c, 23), [1, h, w, c]);
    const options: Partial<Record<MethodName, MethodOptions>> = {
      occlusion: { window: 3, stride: 2, baseline: 'blur' }, rise: { masks: 100, grid: 4 }, lime: { samples: 80, segments: 10, baseline: 'black' }, kernelshap: { samples: 100, segments: 10, baseline: 'blur' },
    };
    try {
      for (const method of PERTURBATION) {
        const a = await mapOf(tfjs, x, method, options[method], 1);
        const b = await mapOf(onnx, x, method, options[method], 1);
        assert.equal(a.width, w);
        assert.equal(a.height, h);
        assert.ok(maxAbs(a.data) > 0, `${method}: an all-zero map`);
        assert.ok(relativeError(a.data, b.data) < 1e-3, `${method}: tfjs vs ONNX ${relativeError(a.data, b.data)}`);
      }
    } finally {
      x.dispose();
      tfjs.dispose();
      onnx.dispose();
    }
  });

  it('runs on an ONNX model without leaking tensors, maps finite and of the input\'s size', async () => {
    const ex = await Explainer.open(RESNET);
    const x = tf.tensor(uniformValues(32 * 32 * 3, 29, -2, 2), [1, 32, 32, 3]);
    try {
      const options: Partial<Record<MethodName, MethodOptions>> = {
        occlusion: {}, rise: { masks: 200 }, lime: { samples: 100 }, kernelshap: { samples: 200 },
      };
      await mapOf(ex, x, 'occlusion'); // warm-up (sessions, kernels)
      for (const method of PERTURBATION) {
        const before = tf.memory().numTensors;
        const map = await mapOf(ex, x, method, options[method]);
        assert.equal(tf.memory().numTensors, before, `${method} leaked tensors`);
        assert.equal(map.width, 32);
        assert.equal(map.height, 32);
        assert.ok(map.data.every(Number.isFinite));
        if (method === 'kernelshap') assert.ok(map.stats!.efficiencyGap < 1e-9, `efficiency gap ${map.stats!.efficiencyGap}`);
      }
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('refuses bad options and unbounded costs with a UserError', async () => {
    const lin = linearModel(400, 400, 1, 2, 81);
    const ex = await openModel(lin.model);
    const x = tf.zeros([1, 400, 400, 1]);
    try {
      const cases: [MethodName, MethodOptions, RegExp][] = [
        ['rise', { masks: 0 }, /masks/],
        ['rise', { keep: 1 }, /keep/],
        ['occlusion', { window: -1 }, /window/],
        ['occlusion', { baseline: 'noise' }, /baseline/],
        ['lime', { kernelWidth: 0 }, /kernelWidth/],
        ['kernelshap', { segments: 2 }, /segments/],
        // 160,000 one-pixel windows: more forward passes than allowed.
        ['occlusion', { window: 1, stride: 1 }, /forward passes.*stride/],
      ];
      for (const [method, options, message] of cases) {
        await assert.rejects(mapOf(ex, x, method, options), (err: unknown) => err instanceof UserError && message.test(err.message), `${method} ${JSON.stringify(options)}`);
      }
    } finally {
      x.dispose();
      ex.dispose();
    }
  });
});
