/**
 * Deletion and insertion curves (src/engine/metrics/faithfulness.ts) against expectations computed another way:
 * - a linear model with sigmoid heads, where every point of a curve is W_c·v + b_c of the perturbed image v,
 *   computed here by hand, and where ordering pixels by their true contributions W_c ⊙ x is provably the
 *   fastest descent of the logit (and so of σ(logit)) for every fraction;
 * - the chance level: a constant map against random orders, averaged over seeds;
 * - trapezoids and step counts by hand; endpoints against the model run on the baseline itself;
 * - a counting stub runtime for the chunking, tf.memory() for leaks.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { UserError } from '../../src/engine/errors';
import type { Explainer } from '../../src/engine/explain';
import { baselineFor } from '../../src/engine/methods/baselines';
import { evaluateFaithfulness, FaithfulnessModel, FaithfulnessOptions, stepCounts, trapezoidAuc } from '../../src/engine/metrics/faithfulness';
import { pixelOrder, randomOrder } from '../../src/engine/metrics/pixelOrder';
import type { ModelRuntime } from '../../src/engine/runtimes/types';
import { bilinearResize } from '../../src/shared/resize';
import { mulberry32 } from '../fixtures/seededRandom';
import { cleanupTempDirs, openModel } from './helpers';

const [H, W, C, CLASSES] = [8, 8, 3, 3];
const N = H * W;
const TARGET = 0;

function uniformValues(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

/** logits = W·flatten(x) + b with a sigmoid per class: σ is monotone in the class's own logit. */
const KERNEL = uniformValues(N * C * CLASSES, 11, -1, 1);
const BIAS = uniformValues(CLASSES, 12, -0.5, 0.5);
const X = uniformValues(N * C, 13);

function linearSigmoidModel(): tf.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.flatten({ inputShape: [H, W, C] }));
  model.add(tf.layers.dense({ units: CLASSES, activation: 'sigmoid' }));
  model.layers[1].setWeights([tf.tensor2d(KERNEL, [N * C, CLASSES]), tf.tensor1d(BIAS)]);
  return model;
}

/** A small softmax CNN (not additive), for the endpoints under a softmax head. */
function cnnModel(): tf.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [H, W, C], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: CLASSES, activation: 'softmax' }));
  model.setWeights(model.getWeights().map((t, i) => tf.tensor(uniformValues(t.size, 40 + i, -1, 1), t.shape)));
  return model;
}

/** The class logit of the linear model on an image v (image order), by hand in float64. */
function linearLogit(v: ArrayLike<number>, cls = TARGET): number {
  let s = BIAS[cls];
  for (let i = 0; i < v.length; i++) s += KERNEL[i * CLASSES + cls] * v[i];
  return s;
}

/** Per pixel Σ_channels W_c·(x − baseline): the true contributions to the class logit. */
function contributions(baseline: ArrayLike<number>, cls = TARGET): Float32Array {
  const out = new Float32Array(N);
  for (let i = 0; i < N * C; i++) out[Math.floor(i / C)] += KERNEL[i * CLASSES + cls] * (X[i] - baseline[i]);
  return out;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const mapOf = (data: Float32Array) => ({ width: W, height: H, data });
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const variance = (v: number[]) => {
  const m = mean(v);
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1);
};

let linear: Explainer;
let cnn: Explainer;
let x: tf.Tensor;

before(async () => {
  await initBackend();
  linear = await openModel(linearSigmoidModel());
  cnn = await openModel(cnnModel());
  x = tf.tensor(X, [1, H, W, C]);
});

after(() => {
  x.dispose();
  linear.runtime.dispose();
  cnn.runtime.dispose();
  cleanupTempDirs();
});

describe('faithfulness: deletion and insertion on a linear model', () => {
  it('the model reads its sigmoid head', () => {
    assert.equal(linear.runtime.outputActivation, 'sigmoid');
  });

  it('the true contributions W_c ⊙ x beat the random order and their reversed order', async () => {
    const zeros = new Float32Array(N * C); // 'black' under the default 'unit' preprocessing
    const truth = contributions(zeros);
    const opts: FaithfulnessOptions = { steps: 16, baseline: 'black', seed: 5 };
    const best = await evaluateFaithfulness(linear, x, mapOf(truth), TARGET, opts);
    const reversed = await evaluateFaithfulness(linear, x, mapOf(truth.map((v) => -v)), TARGET, opts);
    const random = best.random!;
    for (const key of ['auc', 'logitAuc'] as const) {
      assert.ok(best.deletion[key] < random.deletion[key], `deletion ${key} ${best.deletion[key]} < random ${random.deletion[key]}`);
      assert.ok(best.deletion[key] < reversed.deletion[key], `deletion ${key} ${best.deletion[key]} < reversed ${reversed.deletion[key]}`);
      assert.ok(best.insertion[key] > random.insertion[key], `insertion ${key} ${best.insertion[key]} > random ${random.insertion[key]}`);
      assert.ok(best.insertion[key] > reversed.insertion[key], `insertion ${key} ${best.insertion[key]} > reversed ${reversed.insertion[key]}`);
    }
    // Removing the k largest contributions leaves the smallest possible logit for every k: pointwise, not only in area.
    best.deletion.curve.logit.forEach((v, k) => {
      assert.ok(v <= random.deletion.curve.logit[k] + 1e-5, `point ${k}`);
      assert.ok(v <= reversed.deletion.curve.logit[k] + 1e-5, `point ${k}`);
      assert.ok(best.insertion.curve.logit[k] >= random.insertion.curve.logit[k] - 1e-5, `point ${k}`);
    });
  });

  it('every point is the linear model on the perturbed image, by hand (mean baseline)', async () => {
    // Chunks of 3 and 1 rows too: a chunk's rows build on each other, a new chunk starts afresh.
    for (const maxRows of [undefined, 3, 1]) await checkByHand(maxRows);
  });

  async function checkByHand(maxRows: number | undefined): Promise<void> {
    const channelMean = new Float64Array(C);
    for (let i = 0; i < N * C; i++) channelMean[i % C] += X[i] / N;
    const meanImage = Float32Array.from(X, (_, i) => channelMean[i % C]);
    const truth = contributions(meanImage);
    const steps = 6; // 64 pixels in 6 steps: counts 0, 10, 21, 32, 42, 53, 64 (floor(k·64/6))
    const res = await evaluateFaithfulness(linear, x, mapOf(truth), TARGET, { steps, baseline: 'mean', reference: false, maxRows });
    assert.deepEqual(res.deletion.curve.pixels, [0, 10, 21, 32, 42, 53, 64]);
    assert.deepEqual(res.deletion.curve.fractions, [0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1]);
    assert.equal(res.random, undefined);
    // Distinct contributions: the order is a plain descending sort, no tie to break.
    const order = Array.from({ length: N }, (_, p) => p).sort((a, b) => truth[b] - truth[a]);
    for (const [kind, from, to] of [['deletion', X, meanImage], ['insertion', meanImage, X]] as const) {
      res[kind].curve.pixels.forEach((count, k) => {
        const v = Float64Array.from(from);
        for (const p of order.slice(0, count)) for (let ch = 0; ch < C; ch++) v[p * C + ch] = to[p * C + ch];
        const logit = linearLogit(v);
        const got = res[kind].curve.logit[k];
        assert.ok(Math.abs(got - logit) <= 1e-4 * Math.max(1, Math.abs(logit)), `${kind} point ${k}: ${got} vs ${logit}`);
        assert.ok(Math.abs(res[kind].curve.probability[k] - sigmoid(logit)) <= 1e-5, `${kind} probability ${k}`);
      });
    }
  }

  it('a map at another resolution is brought to the input size bilinearly', async () => {
    const small = uniformValues(16, 21, -1, 1);
    const a = await evaluateFaithfulness(linear, x, { width: 4, height: 4, data: small }, TARGET, { steps: 8 });
    const b = await evaluateFaithfulness(linear, x, mapOf(bilinearResize(small, 4, 4, W, H)), TARGET, { steps: 8 });
    assert.deepEqual(a, b);
  });
});

describe('faithfulness: chance level', () => {
  it('a constant map visits pixels in the random order of its seed, exactly', async () => {
    const res = await evaluateFaithfulness(linear, x, mapOf(new Float32Array(N).fill(0.3)), TARGET, { steps: 8, seed: 17 });
    assert.deepEqual(res.deletion.curve, res.random!.deletion.curve);
    assert.deepEqual(res.insertion.curve, res.random!.insertion.curve);
  });

  it('a constant map equals the random order in expectation over seeds (tolerance 4 standard errors)', async () => {
    const seeds = Array.from({ length: 12 }, (_, i) => i + 1);
    const constant = mapOf(new Float32Array(N).fill(1));
    const truth = contributions(new Float32Array(N * C));
    const stats = { constant: { d: [] as number[], i: [] as number[] }, random: { d: [] as number[], i: [] as number[] }, truth: { d: [] as number[] } };
    for (const s of seeds) {
      const c = await evaluateFaithfulness(linear, x, constant, TARGET, { steps: 16, seed: s, reference: false });
      // Different seeds for the reference: independent samples of the random-order curve.
      const r = await evaluateFaithfulness(linear, x, constant, TARGET, { steps: 16, seed: 1000 + s, order: 'random', reference: false });
      const t = await evaluateFaithfulness(linear, x, mapOf(truth), TARGET, { steps: 16, seed: s, reference: false });
      stats.constant.d.push(c.deletion.auc);
      stats.constant.i.push(c.insertion.auc);
      stats.random.d.push(r.deletion.auc);
      stats.random.i.push(r.insertion.auc);
      stats.truth.d.push(t.deletion.auc);
    }
    const n = seeds.length;
    for (const key of ['d', 'i'] as const) {
      const se = Math.sqrt(variance(stats.constant[key]) / n + variance(stats.random[key]) / n);
      const diff = Math.abs(mean(stats.constant[key]) - mean(stats.random[key]));
      assert.ok(se > 0 && diff <= 4 * se, `${key}: |${diff}| ≤ 4·${se}`);
    }
    // The tolerance is tight enough to tell a real map from chance.
    const se = Math.sqrt(variance(stats.random.d) / n);
    assert.ok(mean(stats.random.d) - mean(stats.truth.d) > 4 * se, 'the true map stands out of the chance band');
  });

  it('ties keep a seeded order: the higher value first, the tie-break reproducible and seed-dependent', () => {
    const values = Float32Array.from({ length: 40 }, (_, i) => (i % 2 ? 1 : 0));
    const a = pixelOrder(values, 3);
    assert.deepEqual(a, pixelOrder(values, 3));
    assert.ok(Array.from(a.subarray(0, 20)).every((p) => p % 2 === 1));
    assert.ok(Array.from(a.subarray(20)).every((p) => p % 2 === 0));
    assert.notDeepEqual(a, pixelOrder(values, 4));
    assert.deepEqual(pixelOrder(new Float32Array(40), 9), randomOrder(40, 9));
    assert.deepEqual(Array.from(randomOrder(40, 9)).sort((p, q) => p - q), Array.from({ length: 40 }, (_, i) => i));
  });

  it('the order is a descending sort with ties in the random order of the seed (against a comparator sort)', () => {
    const rand = mulberry32(77);
    const pool = [0, -0, 1, -1, 1e-40, -1e-40, 3.5, -3.5, 1e30, -1e30];
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + Math.floor(rand() * 500);
      const values = Float32Array.from({ length: n }, () => (rand() < 0.5 ? pool[Math.floor(rand() * pool.length)] : (rand() - 0.5) * 10 ** Math.floor(rand() * 8 - 4)));
      const rank = new Int32Array(n);
      randomOrder(n, trial).forEach((p, i) => (rank[p] = i));
      const expected = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[b] - values[a] || rank[a] - rank[b]);
      assert.deepEqual(Array.from(pixelOrder(values, trial)), expected, `trial ${trial}`);
    }
  });
});

describe('faithfulness: areas, steps and endpoints', () => {
  it('the AUC is the trapezoid by hand over equally spaced fractions', () => {
    // h = 1/3: (1 + 0.5)/2·h + (0.5 + 0.25)/2·h + (0.25 + 0)/2·h = 1.25/3
    assert.ok(Math.abs(trapezoidAuc([1, 0.5, 0.25, 0]) - 1.25 / 3) < 1e-15);
    assert.equal(trapezoidAuc([0, 1]), 0.5);
    assert.ok(Math.abs(trapezoidAuc([0.7, 0.7, 0.7]) - 0.7) < 1e-15);
    // Xplique's points: floor(k·N/steps)
    assert.deepEqual(stepCounts(10, 4), [0, 2, 5, 7, 10]);
    assert.deepEqual(stepCounts(50176, 20).slice(0, 3), [0, 2508, 5017]);
  });

  it('the reported AUCs are the trapezoids of the reported curves', async () => {
    const res = await evaluateFaithfulness(cnn, x, mapOf(uniformValues(N, 31)), 1, { steps: 5 });
    for (const s of [res.deletion, res.insertion, res.random!.deletion, res.random!.insertion]) {
      const p = s.curve.probability;
      const byHand = ((p[0] + p[1]) / 2 + (p[1] + p[2]) / 2 + (p[2] + p[3]) / 2 + (p[3] + p[4]) / 2 + (p[4] + p[5]) / 2) / 5;
      assert.ok(Math.abs(s.auc - byHand) < 1e-12);
      assert.ok(s.auc >= 0 && s.auc <= 1);
    }
  });

  it('deletion at 100 % and insertion at 0 % are the model on the baseline; the other ends on the input', async () => {
    const unitBlack = new Float32Array(N * C);
    const channelMean = new Float64Array(C);
    for (let i = 0; i < N * C; i++) channelMean[i % C] += X[i] / N;
    const blurred = baselineFor('blur', x, { height: H, width: W, channels: C });
    const baselines = {
      black: unitBlack,
      mean: Float32Array.from(X, (_, i) => channelMean[i % C]),
      blur: Float32Array.from(blurred.dataSync() as Float32Array),
    };
    blurred.dispose();
    const softmaxOf = async (v: Float32Array, cls: number) => {
      const t = tf.tensor(v, [1, H, W, C]);
      const trace = await cnn.runtime.trace(t);
      const logits = Array.from(trace.logits.dataSync());
      trace.dispose();
      t.dispose();
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      return { logit: logits[cls], probability: e[cls] / e.reduce((a, b) => a + b, 0) };
    };
    const cls = 2;
    const onInput = await softmaxOf(X, cls);
    for (const [name, base] of Object.entries(baselines) as [keyof typeof baselines, Float32Array][]) {
      const res = await evaluateFaithfulness(cnn, x, mapOf(uniformValues(N, 32)), cls, { steps: 7, baseline: name });
      const onBase = await softmaxOf(base, cls);
      for (const [got, want] of [
        [res.deletion.curve.probability.at(-1)!, onBase.probability], [res.insertion.curve.probability[0], onBase.probability],
        [res.deletion.curve.logit.at(-1)!, onBase.logit], [res.insertion.curve.logit[0], onBase.logit],
        [res.deletion.curve.probability[0], onInput.probability], [res.insertion.curve.probability.at(-1)!, onInput.probability],
        [res.random!.deletion.curve.logit.at(-1)!, onBase.logit], [res.random!.insertion.curve.logit.at(-1)!, onInput.logit],
      ]) assert.ok(Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${name}: ${got} vs ${want}`);
    }
  });
});

describe('faithfulness: resources and bad options', () => {
  /** A runtime computing the linear model in JS that records the rows of every forward run. */
  function countingRuntime(chunks: number[]): ModelRuntime {
    return {
      kind: 'onnx', inputShape: [H, W, C], numClasses: CLASSES, outputActivation: 'sigmoid', outputName: 'y',
      layerTable: () => [], spatialLayers: () => [], defaultSpatialLayer: () => undefined,
      trace: () => Promise.reject(new Error('the batch runner must use forwardBatch')),
      async forwardBatch(batch: tf.Tensor) {
        const rows = batch.shape[0];
        chunks.push(rows);
        const v = batch.dataSync();
        const out = new Float32Array(rows * CLASSES);
        for (let r = 0; r < rows; r++) for (let c = 0; c < CLASSES; c++) out[r * CLASSES + c] = linearLogit(v.subarray(r * N * C, (r + 1) * N * C), c);
        return out;
      },
      dispose() {},
    };
  }

  it('a hundred steps run in chunks of at most maxRows, each input built once', async () => {
    const chunks: number[] = [];
    const model: FaithfulnessModel = { runtime: countingRuntime(chunks), image: { height: H, width: W, channels: C } };
    let last = 0;
    const res = await evaluateFaithfulness(model, x, mapOf(uniformValues(N, 41)), TARGET, { steps: 100, maxRows: 5, progress: (done) => (last = done) });
    // Rows: the input, the baseline, and 99 interior points for each of four curves.
    const rows = 2 + 4 * 99;
    assert.equal(res.forwardPasses, rows);
    assert.equal(chunks.reduce((a, b) => a + b, 0), rows);
    assert.ok(Math.max(...chunks) <= 5, `largest chunk ${Math.max(...chunks)}`);
    assert.equal(chunks.length, Math.ceil(rows / 5));
    assert.equal(last, rows);
    assert.ok(Math.abs(res.deletion.curve.logit[100] - linearLogit(new Float32Array(N * C))) < 1e-9);
  });

  it('leaves no tensor behind', async () => {
    const map = mapOf(uniformValues(N, 51));
    await evaluateFaithfulness(linear, x, map, TARGET, { steps: 4, baseline: 'blur' });
    const before = tf.memory().numTensors;
    for (const baseline of ['black', 'blur', 'mean'] as const) await evaluateFaithfulness(linear, x, map, TARGET, { steps: 12, baseline });
    assert.equal(tf.memory().numTensors, before);
  });

  it('bad options are a UserError of one sentence', async () => {
    const map = mapOf(uniformValues(N, 61));
    const bad: [FaithfulnessOptions, number, { width: number; height: number; data: Float32Array }, RegExp][] = [
      [{ steps: 0 }, TARGET, map, /steps from 1 to 100, not 0/],
      [{ steps: 101 }, TARGET, map, /not 101/],
      [{ steps: 2.5 }, TARGET, map, /whole number of steps/],
      [{ baseline: 'noise' as never }, TARGET, map, /unknown baseline "noise"/],
      [{ baseline: 'purple' as never }, TARGET, map, /baselines: black, blur, mean/],
      [{ order: 'sorted' as never }, TARGET, map, /unknown pixel order/],
      [{ seed: 0.5 }, TARGET, map, /seed/],
      [{}, 7, map, /class 7 is out of range/],
      [{}, TARGET, { width: 5, height: 5, data: new Float32Array(24) }, /24 values, not 5×5/],
      [{}, TARGET, mapOf(Float32Array.from(uniformValues(N, 62), (v, i) => (i === 9 ? NaN : v))), /non-finite value at pixel 9/],
    ];
    for (const [opts, cls, m, message] of bad) {
      await assert.rejects(evaluateFaithfulness(linear, x, m, cls, opts), (err: Error) => {
        assert.ok(err instanceof UserError, `${err.name}: ${err.message}`);
        assert.match(err.message, message);
        assert.ok(!err.message.includes('\n'));
        return true;
      });
    }
  });
});
