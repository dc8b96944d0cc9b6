import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { CompareOptions, Explainer } from '../../src/engine/explain';
import { UserError } from '../../src/engine/errors';
import { buildMlp, buildMobileNetV2, buildNested, buildResNet18, buildSmallResidual } from '../fixtures/architectures';
import { saveAsGraphModel } from '../fixtures/graphModelWriter';
import { cleanupTempDirs, openModel, relativeError, tempDir } from './helpers';

before(async () => {
  await initBackend();
});
after(cleanupTempDirs);

/** Grad-CAM by the definition, in plain loops: α_k = mean_hw G_k; map = ReLU(Σ_k α_k A_k). */
function gradcamByHand(a: number[][][], g: number[][][]): Float32Array {
  const h = a.length;
  const w = a[0].length;
  const k = a[0][0].length;
  const alpha = new Array(k).fill(0);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) for (let c = 0; c < k; c++) alpha[c] += g[i][j][c] / (h * w);
  const out = new Float32Array(h * w);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += alpha[c] * a[i][j][c];
      out[i * w + j] = Math.max(s, 0);
    }
  }
  return out;
}

describe('Grad-CAM values', () => {
  it('equals a hand computation from the layer activations and the stock gradient of the head', async () => {
    const model = buildSmallResidual({ seed: 5, softmax: false });
    const ex = await openModel(model);
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 6);
    const c = 3;
    // Activations of block_out from a sub-model; the gradient from tfjs autodiff through the rest.
    const upTo = tf.model({ inputs: model.inputs, outputs: model.getLayer('block_out').output as tf.SymbolicTensor });
    const a = upTo.predict(x) as tf.Tensor4D;
    const head = (t: tf.Tensor) => ['last_conv', 'avg_pool', 'predictions'].reduce((v, name) => model.getLayer(name).apply(v) as tf.Tensor, t);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(head(t), tf.oneHot([c], 5))))(a);
    const expected = gradcamByHand((a.arraySync() as number[][][][])[0], (g.arraySync() as number[][][][])[0]);
    const map = (await ex.explainTensor(x, { methods: ['gradcam'], target: c, layer: 'block_out' })).maps[0];
    assert.equal(map.layer, 'block_out');
    assert.deepEqual([map.height, map.width], [16, 16]);
    assert.ok(expected.some((v) => v > 0), 'the case is not degenerate');
    assert.ok(relativeError(map.data, expected) < 1e-5, `relative error ${relativeError(map.data, expected)}`);
    tf.dispose([x, a, g]);
    ex.dispose();
  });

  it('at a layer followed by global average pooling and a dense layer, reduces to CAM: α_k = W[k,c]/(h·w)', async () => {
    const model = buildSmallResidual({ seed: 8, softmax: true });
    const ex = await openModel(model);
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 9);
    const a = (tf.model({ inputs: model.inputs, outputs: model.getLayer('last_conv').output as tf.SymbolicTensor }).predict(x) as tf.Tensor4D).arraySync()[0];
    const w = model.getLayer('predictions').getWeights()[0].arraySync() as number[][];
    for (const c of [0, 4]) {
      const g = a.map((row) => row.map(() => w.map((wk) => wk[c] / 256)));
      const map = (await ex.explainTensor(x, { methods: ['gradcam'], target: c })).maps[0];
      assert.equal(map.layer, 'last_conv');
      assert.ok(relativeError(map.data, gradcamByHand(a, g)) < 1e-5);
    }
    x.dispose();
    ex.dispose();
  });
});

describe('Grad-CAM layer choice', () => {
  const cases: [string, () => tf.LayersModel, string][] = [
    ['small residual', () => buildSmallResidual({ seed: 1 }), 'last_conv'],
    ['ResNet-18 shape (branching)', () => buildResNet18({ inputSize: 64, classes: 10, seed: 2 }), 'conv5_block2_out'],
    ['MobileNetV2 shape', () => buildMobileNetV2({ inputSize: 64, classes: 10, seed: 3 }), 'out_relu'],
    ['nested model (transfer learning)', () => buildNested({ seed: 4 }), 'backbone/backbone_conv2'],
  ];
  for (const [name, build, expected] of cases) {
    it(`${name}: ${expected}`, async () => {
      const ex = await openModel(build());
      assert.equal(ex.runtime.defaultSpatialLayer(), expected);
      const x = tf.randomUniform([1, ...ex.runtime.inputShape], 0, 1, 'float32', 1);
      const map = (await ex.explainTensor(x, { methods: ['gradcam'] })).maps[0];
      assert.equal(map.layer, expected);
      assert.ok(map.data.every(Number.isFinite) && map.data.some((v) => v > 0), 'a non-trivial map');
      x.dispose();
      ex.dispose();
    });
  }

  it('lists candidates input side first, each with a spatial output, and refuses layers without one', async () => {
    const ex = await openModel(buildNested({ seed: 4 }));
    const names = ex.runtime.spatialLayers().map((c) => c.name);
    assert.deepEqual(names, ['backbone/backbone_conv1', 'backbone/backbone_pool', 'backbone/backbone_conv2']);
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 1);
    const pooled = (await ex.explainTensor(x, { methods: ['gradcam'], layer: 'backbone/backbone_pool' })).maps[0];
    assert.deepEqual([pooled.height, pooled.width], [8, 8]);
    await assert.rejects(() => ex.explainTensor(x, { methods: ['gradcam'], layer: 'fc1' }),
      (e: Error) => e instanceof UserError && /"fc1" has no spatial output for Grad-CAM/.test(e.message) && /backbone\/backbone_conv2/.test(e.message));
    await assert.rejects(() => ex.explainTensor(x, { methods: ['gradcam'], layer: 'nope' }),
      (e: Error) => e instanceof UserError && /no layer "nope"/.test(e.message));
    x.dispose();
    ex.dispose();
  });
});

describe('GraphModel', () => {
  for (const fused of [true, false]) {
    it(`the same network as Layers and as Graph model (${fused ? 'fused ops' : 'plain ops'}) gives the same maps`, async () => {
      // At 64² the last stage is 2×2: still spatial, so it is the automatic choice.
      const model = buildResNet18({ inputSize: 64, classes: 6, seed: 12 });
      const graphDir = tempDir();
      const conversion = await saveAsGraphModel(model, graphDir, { fused });
      // The tfjs runtimes (the fallback for models that do not convert); convert.test.ts checks ONNX against them.
      const layers = await openModel(model, { runtime: 'tfjs' });
      const graph = await Explainer.open(graphDir, { runtime: 'tfjs' });
      assert.equal(graph.runtime.kind, 'graph');
      assert.equal(graph.runtime.outputActivation, 'softmax');
      const node = conversion.layerNodes['conv5_block2_out'];
      assert.equal(graph.runtime.defaultSpatialLayer(), node, 'automatic choice is the last block output');
      const x = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 13);
      for (const c of [0, 5]) {
        const l = await layers.explainTensor(x, { target: c });
        const g = await graph.explainTensor(x, { target: c, layer: node });
        assert.deepEqual(g.predictions.map((p) => p.index), l.predictions.map((p) => p.index));
        for (const m of [0, 1]) {
          assert.equal(g.maps[m].method, l.maps[m].method);
          assert.ok(relativeError(g.maps[m].data, l.maps[m].data) < 1e-4, `${l.maps[m].method} class ${c}`);
        }
      }
      // A layer in the middle, with a skip connection around the rest of the network.
      const mid = (await graph.explainTensor(x, { methods: ['gradcam'], layer: conversion.layerNodes['conv4_block1_out'] })).maps[0];
      const midLayers = (await layers.explainTensor(x, { methods: ['gradcam'], layer: 'conv4_block1_out' })).maps[0];
      assert.ok(relativeError(mid.data, midLayers.data) < 1e-4);
      x.dispose();
      layers.dispose();
      graph.dispose();
    });
  }
});

describe('flat-input models', () => {
  it('an MLP on 784 pixels gets a 28×28 saliency map, and Grad-CAM says it needs a convolutional layer', async () => {
    const model = buildMlp({ seed: 2 });
    const ex = await openModel(model);
    assert.deepEqual(ex.imageSpec, { height: 28, width: 28, channels: 1 });
    const x = tf.randomUniform([1, 784], 0, 1, 'float32', 3);
    const map = (await ex.explainTensor(x, { methods: ['saliency'], target: 7 })).maps[0];
    assert.deepEqual([map.height, map.width], [28, 28]);
    // Pixel p's saliency is |∂S_7/∂x_p|, read straight from the flat gradient.
    const flat = tf.tidy(() => tf.abs(tf.grad((xx: tf.Tensor) => {
      const hidden = model.layers[1].apply(xx) as tf.Tensor;
      const kernel = model.getLayer('predictions').getWeights();
      return tf.sum(tf.mul(tf.add(tf.matMul(hidden as tf.Tensor2D, kernel[0] as tf.Tensor2D), kernel[1]), tf.oneHot([7], 10)));
    })(x)).dataSync());
    assert.ok(relativeError(map.data, flat) < 1e-5);
    await assert.rejects(() => ex.explainTensor(x, { methods: ['gradcam'] }),
      (e: Error) => e instanceof UserError && /Grad-CAM needs a convolutional layer/.test(e.message));
    x.dispose();
    ex.dispose();
  });
});

describe('memory', () => {
  it('tf.memory().numTensors after 20 explanations equals that after 1 (Layers and Graph, on tfjs and converted to ONNX)', async () => {
    const model = buildResNet18({ inputSize: 32, classes: 4, seed: 1 });
    const graphDir = tempDir();
    await saveAsGraphModel(model, graphDir);
    const explainers = [];
    for (const runtime of ['tfjs', 'onnx'] as const) explainers.push(await openModel(model, { runtime }), await Explainer.open(graphDir, { runtime }));
    for (const ex of explainers) {
      const x = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 2);
      await ex.explainTensor(x, { target: 1 });
      const afterOne = tf.memory().numTensors;
      for (let i = 0; i < 19; i++) await ex.explainTensor(x, { target: i % 4 });
      assert.equal(tf.memory().numTensors, afterOne, ex.runtime.kind);
      x.dispose();
      ex.dispose();
    }
  });
});

describe('comparing classes', () => {
  it('maps of several classes from one forward pass equal the single-class explanations', async () => {
    const ex = await openModel(buildResNet18({ inputSize: 64, classes: 8, seed: 21 }));
    const x = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 22);
    for (const method of ['gradcam', 'saliency'] as const) {
      const result = await ex.compareTensor(x, { classes: [0, 3, 5, 7], method });
      assert.equal(result.maps.length, 4);
      for (const [i, c] of [0, 3, 5, 7].entries()) {
        const single = (await ex.explainTensor(x, { methods: [method], target: c })).maps[0];
        assert.ok(relativeError(result.maps[i].data, single.data) < 1e-6, `${method} class ${c}`);
      }
      assert.deepEqual(result.predictions.map((p) => p.index).sort(), [0, 3, 5, 7]);
    }
    x.dispose();
    ex.dispose();
  });

  it('the contrast map "A vs B" is Grad-CAM of the logit difference, from the two classes\' own gradients', async () => {
    const model = buildSmallResidual({ seed: 23, classes: 5 });
    const ex = await openModel(model);
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 24);
    const layer = 'block_out';
    const result = await ex.compareTensor(x, { classes: [1, 4], method: 'gradcam', layer, contrast: [1, 4] });
    // Independent: activations and each class's gradient at the layer, then Grad-CAM of their difference by hand.
    const trace = await ex.runtime.trace(x, [layer]);
    const a = (trace.activation(layer).arraySync() as number[][][][])[0];
    const grad = async (c: number) => {
      const g = (await trace.vjp(tf.oneHot([c], 5).toFloat() as tf.Tensor2D, [layer])).get(layer)!;
      const v = (g.arraySync() as number[][][][])[0];
      g.dispose();
      return v;
    };
    const ga = await grad(1);
    const gb = await grad(4);
    trace.dispose();
    const diff = ga.map((row, i) => row.map((px, j) => px.map((v, k) => v - gb[i][j][k])));
    const expected = gradcamByHand(a, diff);
    assert.ok(expected.some((v) => v > 0), 'the case is not degenerate');
    assert.ok(relativeError(result.contrast!.map.data, expected) < 1e-5);
    // And it is not simply one class's map.
    assert.ok(relativeError(result.contrast!.map.data, result.maps[0].data) > 1e-3);
    x.dispose();
    ex.dispose();
  });

  it('an out-of-range class in a comparison is a clear error', async () => {
    const ex = await openModel(buildSmallResidual({ seed: 2, classes: 5 }));
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 1);
    await assert.rejects(() => ex.compareTensor(x, { classes: [0, 9], method: 'saliency' }),
      (e: Error) => e instanceof UserError && /class 9 is out of range/.test(e.message));
    for (const [opts, pattern] of [
      [{ classes: [0, 1.5] }, /class 1.5 is out of range/],
      [{ classes: [1, 1] }, /compare 1 to 6 different classes/],
      [{ classes: [] }, /compare 1 to 6 different classes/],
      [{ classes: [0, 1], contrast: [2, 2] }, /two different classes/],
    ] as const) {
      await assert.rejects(() => ex.compareTensor(x, { ...opts, classes: [...opts.classes], method: 'gradcam' } as CompareOptions),
        (e: Error) => e instanceof UserError && pattern.test(e.message), JSON.stringify(opts));
    }
    x.dispose();
    ex.dispose();
  });

  it('without classes: the top 4, and with contrast "top2" the two highest, in the same pass', async () => {
    const ex = await openModel(buildSmallResidual({ seed: 3, classes: 6 }));
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 4);
    const result = await ex.compareTensor(x, { method: 'gradcam', contrast: 'top2' });
    const top = result.ranked.map((p) => p.index);
    assert.deepEqual(result.predictions.map((p) => p.index), top.slice(0, 4));
    assert.deepEqual(result.contrast?.classes, [top[0], top[1]]);
    const explicit = await ex.compareTensor(x, { method: 'gradcam', classes: [top[0]], contrast: [top[0], top[1]] });
    assert.ok(relativeError(result.contrast!.map.data, explicit.contrast!.map.data) < 1e-6);
    x.dispose();
    ex.dispose();
  });
});
