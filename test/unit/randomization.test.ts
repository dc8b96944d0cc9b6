import { INSENSITIVE_NOTE } from '../../src/shared/measures';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { initBackend } from '../../src/engine/backend';
import { UserError } from '../../src/engine/errors';
import { Explainer } from '../../src/engine/explain';
import { readImageFile } from '../../src/engine/image/decode';
import {
  INSENSITIVE_THRESHOLD, modelRandomization, randomizedRuntime, randomizedWeights,
} from '../../src/engine/metrics/randomization';
import { methodMapOf } from '../../src/engine/metrics/randomizationMaps';
import { OnnxRuntime } from '../../src/engine/runtimes/onnx/onnxRuntime';
import { attrInt } from '../../src/engine/runtimes/onnx/proto';
import { floatValues } from '../../src/engine/runtimes/onnx/weights';
import { buildModel } from '../fixtures/onnxBuilder';
import { cleanupTempDirs, openModel, tempDir } from './helpers';

const ROOT = path.resolve(__dirname, '../..');
const TFJS_MODEL = path.join(ROOT, 'examples/mnist-cnn');
const ONNX_MODEL = path.join(ROOT, 'examples/mnist-cnn-onnx/model.onnx');
const DIGIT = path.join(ROOT, 'examples/digits/digit-0-0.png');

before(async () => {
  await initBackend();
});
after(cleanupTempDirs);

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function weightsOf(rt: OnnxRuntime, name: string): Float32Array {
  return floatValues(rt.model.graph.initializers.get(name)!);
}

function meanStd(v: Float32Array): [number, number] {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return [mean, Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length)];
}

async function openDigit(model: string) {
  const ex = await Explainer.open(model);
  const x = ex.prepare(readImageFile(DIGIT));
  const top = (await ex.explainTensor(x, { methods: ['saliency'] })).target.index;
  const gradcam = methodMapOf(ex, x, { method: 'gradcam', classIndex: top });
  return { ex, x, top, gradcam };
}

/** Sobel gradient magnitude of the image the input encodes: a "map" that never looks at the model. */
function edgeMap(x: tf.Tensor, height: number, width: number) {
  const v = x.dataSync();
  const at = (i: number, j: number) => v[Math.min(height - 1, Math.max(0, i)) * width + Math.min(width - 1, Math.max(0, j))];
  const data = new Float32Array(height * width);
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width; j++) {
      const gx = at(i - 1, j + 1) + 2 * at(i, j + 1) + at(i + 1, j + 1) - at(i - 1, j - 1) - 2 * at(i, j - 1) - at(i + 1, j - 1);
      const gy = at(i + 1, j - 1) + 2 * at(i + 1, j) + at(i + 1, j + 1) - at(i - 1, j - 1) - 2 * at(i - 1, j) - at(i - 1, j + 1);
      data[i * width + j] = Math.hypot(gx, gy);
    }
  }
  return { width, height, data };
}

describe('model-parameter randomization: weight copies', () => {
  it('groups the weights by layer from the output back, as the graph reads them', async () => {
    const ex = await Explainer.open(ONNX_MODEL);
    const converted = await Explainer.open(TFJS_MODEL);
    try {
      // By hand from the graphs (inspected with the layer table): conv1 → conv2 → fc, each with a bias.
      assert.deepEqual((ex.runtime as OnnxRuntime).weightLayers().map((l) => [l.name, l.initializers, l.size]), [
        ['/fc/Gemm', ['fc.weight', 'fc.bias'], 4010],
        ['/conv2/Conv', ['onnx::Conv_22', 'onnx::Conv_23'], 1168],
        ['/conv1/Conv', ['conv1.weight', 'conv1.bias'], 80],
      ]);
      // Converted from TF.js: the source's layer names, and the Dense layer although its output is the softmax's.
      assert.deepEqual((converted.runtime as OnnxRuntime).weightLayers().map((l) => [l.name, l.type, l.size]), [
        ['predictions', 'Dense', 4010], ['conv2', 'Conv2D', 1168], ['conv1', 'Conv2D', 80],
      ]);
    } finally {
      ex.dispose();
      converted.dispose();
    }
  });

  it('puts seeded normal weights with the original mean and spread into the chosen layer only, and runs them', async () => {
    const ex = await Explainer.open(ONNX_MODEL);
    const rt = ex.runtime as OnnxRuntime;
    const layers = rt.weightLayers();
    const fc = layers[0];
    const before = new Map(layers.flatMap((l) => l.initializers).map((n) => [n, weightsOf(rt, n)]));
    const a = await randomizedRuntime(rt, [fc], 7);
    const b = await randomizedRuntime(rt, [fc], 7);
    const c = await randomizedRuntime(rt, [fc], 8);
    const x = ex.prepare(readImageFile(DIGIT));
    try {
      for (const name of fc.initializers) {
        const original = before.get(name)!;
        const randomized = weightsOf(a, name);
        assert.deepEqual(randomized, weightsOf(b, name), `${name}: the same seed gives the same weights`);
        assert.notDeepEqual(randomized, weightsOf(c, name), `${name}: another seed gives other weights`);
        assert.notDeepEqual(randomized, original);
        // n values of N(μ, σ²): sample mean within 4σ/√n of μ, sample std within 4·σ/√(2n) of σ (≈ 4 standard errors).
        const [mu, sigma] = meanStd(original);
        const [m, s] = meanStd(randomized);
        const n = original.length;
        assert.ok(Math.abs(m - mu) <= (4 * sigma) / Math.sqrt(n), `${name}: mean ${m} vs ${mu}`);
        assert.ok(Math.abs(s - sigma) <= (4 * sigma) / Math.sqrt(2 * n), `${name}: std ${s} vs ${sigma}`);
      }
      for (const name of layers.slice(1).flatMap((l) => l.initializers)) {
        assert.deepEqual(weightsOf(a, name), before.get(name), `${name}: a layer not chosen keeps its weights`);
      }
      for (const [name, values] of before) assert.deepEqual(weightsOf(rt, name), values, `${name}: the loaded model is untouched`);

      // The copy really runs its new weights: its logits are the Gemm of the trained features with them, by hand.
      const gemm = rt.model.graph.byName.get('/fc/Gemm')!;
      assert.equal(attrInt(gemm.proto, 'transB', 0), 1);
      const trace = await rt.trace(x, ['/Flatten']);
      const features = Float32Array.from(trace.activation('/Flatten').dataSync());
      trace.dispose();
      const [w, bias] = fc.initializers.map((n) => weightsOf(a, n));
      const expected = Array.from({ length: 10 }, (_, k) => bias[k] + features.reduce((s, f, i) => s + f * w[k * features.length + i], 0));
      const copyTrace = await a.trace(x);
      const logits = Array.from(copyTrace.logits.dataSync());
      copyTrace.dispose();
      logits.forEach((l, k) => assert.ok(Math.abs(l - expected[k]) <= 1e-4 * (1 + Math.abs(expected[k])), `logit ${k}: ${l} vs ${expected[k]}`));
    } finally {
      x.dispose();
      [a, b, c].forEach((r) => r.dispose());
      ex.dispose();
    }
  });

  it('randomizes BatchNorm scale and offset but keeps its statistics, and leaves weights shared with them', async () => {
    const model = tf.sequential({ layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, name: 'c' }),
      tf.layers.batchNormalization({ name: 'bn' }),
      tf.layers.flatten({ name: 'f' }),
      tf.layers.dense({ units: 3, name: 'd' }),
    ] });
    // Untrained: the conv bias, the BatchNorm offset and its (folded) mean are all zeros, written as one tensor.
    const shared = await openModel(model);
    // Trained-like: every weight its own values.
    model.getLayer('c').setWeights([tf.randomNormal([3, 3, 1, 4], 0, 1, 'float32', 1), tf.tensor1d([0.1, -0.2, 0.3, 0.05])]);
    model.getLayer('bn').setWeights([tf.tensor1d([1.1, 0.9, 1.3, 0.7]), tf.tensor1d([0.2, -0.1, 0.05, 0.3]), tf.tensor1d([0.5, -0.5, 0.1, 0.2]), tf.tensor1d([2, 0.5, 1.5, 3])]);
    const trained = await openModel(model);
    try {
      const layersOf = (ex: Explainer) => (ex.runtime as OnnxRuntime).weightLayers().map((l) => [l.name, l.initializers]);
      const rt = shared.runtime as OnnxRuntime;
      const bn = rt.model.graph.nodes.find((n) => n.op === 'BatchNormalization')!;
      assert.equal(bn.inputs[2], bn.inputs[3], 'the fixture shares the zero offset and mean');
      assert.deepEqual(layersOf(shared), [['d', ['d/kernel', 'd/bias']], ['bn', [bn.inputs[1]]], ['c', ['c/kernel']]]);
      const rtTrained = trained.runtime as OnnxRuntime;
      const bnTrained = rtTrained.model.graph.nodes.find((n) => n.op === 'BatchNormalization')!;
      const layers = rtTrained.weightLayers();
      assert.deepEqual(layers.find((l) => l.name === 'bn')!.initializers, bnTrained.inputs.slice(1, 3));
      const copy = await randomizedRuntime(rtTrained, layers, 5);
      try {
        for (const stat of bnTrained.inputs.slice(3)) assert.deepEqual(weightsOf(copy, stat), weightsOf(rtTrained, stat), `${stat} is kept`);
        for (const name of bnTrained.inputs.slice(1, 3)) assert.notDeepEqual(weightsOf(copy, name), weightsOf(rtTrained, name), `${name} is randomized`);
      } finally {
        copy.dispose();
      }
    } finally {
      shared.dispose();
      trained.dispose();
    }
  });

  it('probes the copy again when a constant the gradients read is computed from a replaced weight', async () => {
    // y = (x·W) ⊙ (−b): −b is input-independent, so the load probe records its value; b is replaced below.
    const W = [0.5, -1, 2, 1.5, 0.25, -0.5, -2, 1, 0.75, 1, -1.25, 0.5];
    const file = path.join(tempDir(), 'scaled.onnx');
    fs.writeFileSync(file, buildModel({
      input: { name: 'x', dims: [1, 4] },
      nodes: [
        { op: 'MatMul', inputs: ['x', 'W'], outputs: ['h'] },
        { op: 'Neg', inputs: ['b'], outputs: ['nb'] },
        { op: 'Mul', inputs: ['h', 'nb'], outputs: ['y'] },
      ],
      inits: [{ name: 'W', dims: [4, 3], values: W }, { name: 'b', dims: [3], values: [1, 2, 3] }],
      outputs: ['y'],
    }));
    const rt = await OnnxRuntime.load(file);
    const b = Float32Array.from([-0.5, 4, 0.25]);
    const copy = await rt.withInitializers(new Map([['b', b]]));
    const x = tf.tensor2d([[1, -2, 0.5, 3]]);
    const seed = tf.tensor2d([[0, 1, 0]]);
    try {
      const trace = await copy.trace(x);
      const logits = Array.from(trace.logits.dataSync());
      const grad = (await trace.vjp(seed, ['input'])).get('input')!;
      const gradient = Array.from(grad.dataSync());
      grad.dispose();
      trace.dispose();
      const xs = [1, -2, 0.5, 3];
      const expected = [0, 1, 2].map((k) => -b[k] * xs.reduce((s, v, i) => s + v * W[i * 3 + k], 0));
      logits.forEach((l, k) => assert.ok(Math.abs(l - expected[k]) < 1e-5, `logit ${k}: ${l} vs ${expected[k]}`));
      // ∂y_1/∂x_i = W[i][1]·(−b_1), with the new b.
      gradient.forEach((g, i) => assert.ok(Math.abs(g - W[i * 3 + 1] * -b[1]) < 1e-5, `gradient ${i}: ${g}`));
      assert.deepEqual(copy.model.facts.values.get('nb'), [0.5, -4, -0.25]);
      assert.deepEqual(rt.model.facts.values.get('nb'), [-1, -2, -3], 'the loaded model keeps its own');
    } finally {
      tf.dispose([x, seed]);
      copy.dispose();
      rt.dispose();
    }
  });

  it('randomizedWeights is a pure function of the seed and the tensor name', () => {
    const v = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 0.1 + 0.02);
    assert.deepEqual(randomizedWeights('w', v, 1), randomizedWeights('w', v, 1));
    assert.notDeepEqual(randomizedWeights('w', v, 1), randomizedWeights('v', v, 1));
    // A tensor with one value throughout has no spread to draw from: it stays.
    assert.deepEqual(randomizedWeights('b', new Float32Array(5).fill(0.25), 3), new Float32Array(5).fill(0.25));
  });
});

describe('model-parameter randomization: the check', () => {
  it('Grad-CAM on the trained example loses its similarity layer by layer, and nothing on disk changes', async () => {
    const files = [path.join(TFJS_MODEL, 'model.json'), path.join(TFJS_MODEL, 'group1-shard1of1.bin'), ONNX_MODEL];
    const hashes = files.map(sha256);
    const { ex, x, gradcam } = await openDigit(TFJS_MODEL);
    const onnx = await openDigit(ONNX_MODEL);
    try {
      assert.equal(ex.runtime.kind, 'onnx');
      for (const { ex: e, gradcam: mapOf } of [{ ex, gradcam }, onnx]) {
        const r = await modelRandomization(e.runtime, { mapOf, seed: 42 });
        const names = r.layers.map((l) => l.name);
        assert.equal(r.cascading.length, names.length);
        assert.equal(r.independent.length, names.length);
        r.cascading.forEach((s, i) => {
          assert.equal(s.layer, names[i]);
          assert.deepEqual(s.randomized, names.slice(0, i + 1), 'cascading keeps the layers randomized before');
          assert.equal(s.map!.data.length, r.original.data.length);
        });
        r.independent.forEach((s, i) => assert.deepEqual(s.randomized, [names[i]]));
        // Fully randomized: below the threshold, or NaN (a constant map keeps no ranking at all).
        const last = r.fullyRandomized;
        assert.ok(Number.isNaN(last) || last < INSENSITIVE_THRESHOLD, `${e.runtime.outputName}: ${last}`);
        assert.equal(r.insensitive, false);
        assert.equal(r.note, undefined);
        assert.equal(last, r.cascading[r.cascading.length - 1].similarity);
        // Every learned parameter was randomized by the end of the cascade: the layers hold as many as the model's
        // layer table counts (an independent count: the Model view's totals).
        assert.equal(r.layers.reduce((n, l) => n + l.size, 0), e.summary().totalParams);
        assert.equal(r.coverage, 1);
        assert.equal(r.coverageNote, undefined);
      }
    } finally {
      [x, onnx.x].forEach((t) => t.dispose());
      ex.dispose();
      onnx.ex.dispose();
    }
    assert.deepEqual(files.map(sha256), hashes, 'the model files are byte-identical');
  });

  it('flags a map computed from the image alone (an edge map)', async () => {
    const { ex, x } = await openDigit(TFJS_MODEL);
    try {
      const { height, width } = ex.imageSpec;
      let calls = 0;
      const r = await modelRandomization(ex.runtime, {
        mapOf: async () => {
          calls++;
          return edgeMap(x, height, width);
        },
      });
      assert.equal(calls, 1 + 2 * r.layers.length, 'one map of the trained model and one per step');
      for (const s of [...r.cascading, ...r.independent]) assert.ok(Math.abs(s.similarity - 1) < 1e-12);
      assert.equal(r.insensitive, true);
      assert.equal(r.note, INSENSITIVE_NOTE);
      assert.match(r.note!, /insensitive to the model's weights: this map may show the image, not the model/);
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('independent mode alone still measures the fully randomized model', async () => {
    const { ex, x, gradcam } = await openDigit(ONNX_MODEL);
    try {
      const both = await modelRandomization(ex.runtime, { mapOf: gradcam, keepMaps: false });
      const steps: number[] = [];
      const only = await modelRandomization(ex.runtime, { mapOf: gradcam, modes: ['independent'], progress: (d) => steps.push(d) });
      assert.equal(only.cascading.length, 0);
      assert.deepEqual(only.independent.map((s) => s.similarity), both.independent.map((s) => s.similarity));
      assert.ok(Object.is(only.fullyRandomized, both.fullyRandomized));
      assert.deepEqual(steps, [1, 2, 3, 4]);
      assert.equal(both.cascading[0].map, undefined, 'keepMaps: false keeps no maps');
      // Weights are seeded per tensor: conv1 randomized alone gives the same map as its independent step above.
      const conv1 = await modelRandomization(ex.runtime, { mapOf: gradcam, layers: ['/conv1/Conv'], modes: ['cascading'] });
      assert.deepEqual(conv1.cascading.map((s) => s.randomized), [['/conv1/Conv']]);
      assert.ok(Object.is(conv1.fullyRandomized, both.independent[2].similarity));
      assert.ok(conv1.coverage < 0.5 && conv1.coverageNote === undefined, 'a chosen subset covers part of the model, by choice: no note');
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('leaks no tensor and releases every session of the randomized copies, one copy alive at a time', async () => {
    const { ex, x, gradcam } = await openDigit(ONNX_MODEL);
    const rt = ex.runtime as OnnxRuntime;
    // The trained model's own sessions are made before counting, so every session counted belongs to a copy.
    await gradcam(rt);
    const create = ort.InferenceSession.create;
    // The runtime's own class: loadModel imports it dynamically, which may be another module instance than this file's.
    const runtimeClass = Object.getPrototypeOf(rt) as OnnxRuntime;
    const withInitializers = runtimeClass.withInitializers;
    let created = 0;
    let released = 0;
    let alive = 0;
    let mostAlive = 0;
    (ort.InferenceSession as { create: unknown }).create = async (...args: unknown[]) => {
      const session = await (create as (...a: unknown[]) => Promise<ort.InferenceSession>).apply(ort.InferenceSession, args);
      created++;
      const release = session.release.bind(session);
      session.release = async () => {
        released++;
        return release();
      };
      return session;
    };
    runtimeClass.withInitializers = async function (this: OnnxRuntime, replaced) {
      const copy = await withInitializers.call(this, replaced);
      mostAlive = Math.max(mostAlive, ++alive);
      const dispose = copy.dispose.bind(copy);
      copy.dispose = () => {
        alive--;
        dispose();
      };
      return copy;
    };
    const tensors = tf.memory().numTensors;
    try {
      await modelRandomization(rt, { mapOf: gradcam });
      // Disposing releases sessions once their creation settles: let those callbacks run.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      (ort.InferenceSession as { create: unknown }).create = create;
      runtimeClass.withInitializers = withInitializers;
    }
    try {
      assert.equal(tf.memory().numTensors, tensors);
      assert.ok(created >= 6, `each of the 6 copies runs at least one session (${created} sessions)`);
      assert.equal(released, created);
      assert.equal(mostAlive, 1);
      assert.equal(alive, 0);
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('refuses the tfjs runtime, unknown layers and constant maps with one sentence', async () => {
    const tfjs = await Explainer.open(TFJS_MODEL, { runtime: 'tfjs' });
    const { ex, x, gradcam } = await openDigit(ONNX_MODEL);
    try {
      await assert.rejects(modelRandomization(tfjs.runtime, { mapOf: gradcam }), (e: Error) => e instanceof UserError && /runs on tfjs/.test(e.message));
      await assert.rejects(modelRandomization(ex.runtime, { mapOf: gradcam, layers: ['nope'] }), (e: Error) => e instanceof UserError && /no layer with weights named "nope"/.test(e.message));
      const flat = async () => ({ width: 2, height: 2, data: new Float32Array(4).fill(3) });
      await assert.rejects(modelRandomization(ex.runtime, { mapOf: flat }), (e: Error) => e instanceof UserError && /constant/.test(e.message));
    } finally {
      x.dispose();
      ex.dispose();
      tfjs.dispose();
    }
  });
});
