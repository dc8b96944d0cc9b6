import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { UserError } from '../../src/engine/errors';
import { Explainer } from '../../src/engine/explain';
import { saveLayersModel } from '../../src/engine/model/saveModel';
import { modelVersion } from '../../src/engine/service';
import {
  buildDepthwiseNet, buildLinear, buildMlp, buildMobileNetV2, buildNested, buildResNet18, buildSmallResidual, buildSqueezeNetLike,
  randomizeBatchNorm,
} from '../fixtures/architectures';
import { saveAsGraphModel } from '../fixtures/graphModelWriter';
import { nsfwModelDir, REAL_DIR } from '../fixtures/realModels';
import { cleanupTempDirs, pearson, relativeError, stockInputGradient, tempDir } from './helpers';

before(async () => {
  await initBackend();
});
after(cleanupTempDirs);

async function saveLayers(model: tf.LayersModel): Promise<string> {
  const dir = tempDir('convert-layers-');
  await saveLayersModel(model, dir);
  return dir;
}

async function saveGraph(model: tf.LayersModel, fused: boolean): Promise<string> {
  const dir = tempDir('convert-graph-');
  await saveAsGraphModel(model, dir, { fused });
  return dir;
}

/** Maps agree: Pearson r ≥ 0.9999, or equal when both are flat (a Grad-CAM without positive evidence is all zeros). */
function agreement(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const flat = (v: ArrayLike<number>) => Array.prototype.every.call(v, (x: number) => x === v[0]);
  if (flat(a) && flat(b)) return relativeError(a, b) <= 1e-5 ? 1 : 0;
  return pearson(a, b);
}

const topK = (logits: ArrayLike<number>, k: number) => Array.from(logits, (v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, k).map((p) => p[1]);

/**
 * The same model folder on tfjs and converted to ONNX: logits equal (relative 1e-5), and the saliency
 * and Grad-CAM maps of two classes agree (Pearson r ≥ 0.9999). Returns both for further checks.
 */
async function expectSameOnBothRuntimes(dir: string, opts: { classes?: number[]; saliency?: boolean; gradcam?: boolean } = {}) {
  const tfjs = await Explainer.open(dir, { runtime: 'tfjs' });
  const onnx = await Explainer.open(dir, { runtime: 'onnx' });
  try {
    assert.equal(onnx.runtime.kind, 'onnx');
    assert.equal(onnx.model.conversion?.converted, true);
    assert.notEqual(tfjs.runtime.kind, 'onnx');
    assert.deepEqual(onnx.runtime.inputShape, tfjs.runtime.inputShape);
    assert.equal(onnx.runtime.numClasses, tfjs.runtime.numClasses);
    assert.equal(onnx.runtime.outputActivation, tfjs.runtime.outputActivation);
    assert.deepEqual(onnx.runtime.layerTable().map((l) => [l.name, l.type]), tfjs.runtime.layerTable().map((l) => [l.name, l.type]));
    const x = tf.randomUniform([1, ...tfjs.runtime.inputShape], 0, 1, 'float32', 11);
    const [ta, tb] = [await tfjs.runtime.trace(x), await onnx.runtime.trace(x)];
    const [la, lb] = [ta.logits.dataSync(), tb.logits.dataSync()];
    ta.dispose();
    tb.dispose();
    assert.ok(relativeError(lb, la) <= 1e-5, `logits differ: relative error ${relativeError(lb, la).toExponential(2)}`);
    assert.deepEqual(topK(lb, 5), topK(la, 5));
    const layer = onnx.runtime.defaultSpatialLayer();
    assert.equal(layer, tfjs.runtime.defaultSpatialLayer(), 'the same automatic Grad-CAM layer');
    const methods = [...(opts.saliency === false ? [] : ['saliency' as const]), ...(layer && opts.gradcam !== false ? ['gradcam' as const] : [])];
    for (const target of opts.classes ?? [0, Math.min(1, tfjs.runtime.numClasses - 1)]) {
      const a = await tfjs.explainTensor(x, { methods, target });
      const b = await onnx.explainTensor(x, { methods, target });
      for (const [i, m] of a.maps.entries()) {
        const r = agreement(b.maps[i].data, m.data);
        assert.ok(r >= 0.9999, `${m.method} of class ${target}: r = ${r.toFixed(6)}`);
      }
    }
    x.dispose();
    return { tfjs, onnx };
  } catch (err) {
    tfjs.dispose();
    onnx.dispose();
    throw err;
  }
}

async function checkAndClose(dir: string, opts?: Parameters<typeof expectSameOnBothRuntimes>[1]) {
  const { tfjs, onnx } = await expectSameOnBothRuntimes(dir, opts);
  tfjs.dispose();
  onnx.dispose();
}

const FIXTURES: [string, () => tf.LayersModel][] = [
  ['linear', () => buildLinear({ seed: 3 })],
  ['flat MLP', () => buildMlp({ seed: 3 })],
  ['nested (transfer learning)', () => buildNested({ seed: 3 })],
  ['depthwise, BN without scale', () => {
    const m = buildDepthwiseNet({ seed: 3, bnWithoutScale: true });
    randomizeBatchNorm(m, 5);
    return m;
  }],
  ['fire modules', () => buildSqueezeNetLike({ seed: 3, softmax: true })],
  ['residual', () => buildSmallResidual({ seed: 3 })],
  ['ResNet-18 shape', () => {
    const m = buildResNet18({ inputSize: 64, classes: 10, seed: 3 });
    randomizeBatchNorm(m, 6);
    return m;
  }],
  // BatchNorm left as built: randomized statistics push many ReLU6 inputs onto the kinks at 0 and 6, where
  // float rounding legitimately flips masks between any two runtimes (tfjs's own cpu and wasm disagree
  // there as much, r ≈ 0.9998); the ResNet and depthwise fixtures randomize BN.
  ['MobileNetV2 shape', () => buildMobileNetV2({ inputSize: 64, classes: 10, seed: 3 })],
];

describe('conversion equals the model: fixture architectures', () => {
  for (const [name, build] of FIXTURES) {
    it(`${name}: as a Layers model, and as a Graph model with the converter's fused ops and with plain ops`, async () => {
      const model = build();
      await checkAndClose(await saveLayers(model));
      await checkAndClose(await saveGraph(model, true));
      await checkAndClose(await saveGraph(model, false));
      model.dispose();
    });
  }
});

/** A Layers model of the layer kinds the fixtures above do not have, each checked against tfjs's own forward pass and autodiff. */
function buildZoo(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const input = tf.input({ shape: [16, 16, 3], name: 'image' });
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;
  let x = apply(tf.layers.rescaling({ scale: 2, offset: -1, name: 'rescale' }), input);
  x = apply(tf.layers.zeroPadding2d({ padding: [[1, 2], [1, 1]], name: 'pad' }), x);
  x = apply(tf.layers.separableConv2d({ filters: 8, kernelSize: 3, activation: 'swish', depthwiseInitializer: init(1), pointwiseInitializer: init(2), biasInitializer: 'ones', name: 'sep' }), x);
  x = apply(tf.layers.cropping2D({ cropping: [[1, 0], [0, 0]], name: 'crop' }), x);
  const a = apply(tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'elu', kernelInitializer: init(3), name: 'branch_a' }), x);
  const b = apply(tf.layers.conv2d({ filters: 6, kernelSize: 1, strides: 1, activation: 'selu', kernelInitializer: init(4), name: 'branch_b' }), x);
  const c = apply(tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'gelu', kernelInitializer: init(5), name: 'branch_c' }), x);
  const avg = apply(tf.layers.average({ name: 'avg' }), [a, b]);
  const mx = apply(tf.layers.maximum({ name: 'max' }), [b, c]);
  const mn = apply(tf.layers.minimum({ name: 'min' }), [a, c]);
  const prod = apply(tf.layers.multiply({ name: 'mul' }), [avg, mx]);
  x = apply(tf.layers.concatenate({ name: 'concat' }), [prod, mn, avg]);
  x = apply(tf.layers.layerNormalization({ name: 'norm', gammaInitializer: tf.initializers.randomNormal({ seed: 6, mean: 1, stddev: 0.2 }), betaInitializer: tf.initializers.randomNormal({ seed: 7, stddev: 0.2 }) }), x);
  x = apply(tf.layers.prelu({ alphaInitializer: tf.initializers.randomUniform({ minval: 0.1, maxval: 0.3, seed: 8 }), name: 'prelu' }), x);
  x = apply(tf.layers.averagePooling2d({ poolSize: 2, padding: 'same', name: 'avgpool' }), x);
  x = apply(tf.layers.upSampling2d({ size: [2, 2], name: 'up_nearest' }), x);
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'softplus', kernelInitializer: init(9), name: 'down' }), x);
  x = apply(tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear', name: 'up_bilinear' }), x);
  x = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, activation: 'tanh', depthwiseInitializer: init(10), name: 'dw' }), x);
  x = apply(tf.layers.leakyReLU({ alpha: 0.2, name: 'leaky' }), x);
  x = apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'maxpool' }), x);
  const pooledMax = apply(tf.layers.globalMaxPooling2d({ name: 'gmp' }), x);
  const perm = apply(tf.layers.permute({ dims: [3, 1, 2], name: 'permute' }), x);
  // [8, 7, 7] after the permute: rows of the channel-major order, then flat. (Square maps throughout:
  // tfjs's cpu ResizeBilinearGrad, the reference below, swaps height and width on non-square ones.)
  const flat = apply(tf.layers.flatten({ name: 'flatten' }), apply(tf.layers.reshape({ targetShape: [56, 7], name: 'reshape' }), perm));
  const joined = apply(tf.layers.concatenate({ name: 'features' }), [pooledMax, flat]);
  const hidden = apply(tf.layers.dense({ units: 12, activation: 'softsign', kernelInitializer: init(11), name: 'fc' }), joined);
  const relu6 = apply(tf.layers.reLU({ maxValue: 6, name: 'relu6' }), hidden);
  const logits = apply(tf.layers.dense({ units: 5, kernelInitializer: init(12), name: 'logits' }), relu6);
  const probs = apply(tf.layers.softmax({ name: 'probs' }), logits);
  const aux = apply(tf.layers.dense({ units: 3, activation: 'sigmoid', kernelInitializer: init(13), name: 'aux' }), relu6);
  return tf.model({ inputs: input, outputs: [probs, aux], name: 'zoo' });
}

describe('conversion equals the model: layer kinds', () => {
  it('separable, dilated, padded, cropped, merged, normalized, resampled and permuted layers give tfjs\'s logits and input gradients', async () => {
    const model = buildZoo();
    const dir = await saveLayers(model);
    for (const output of [0, 1]) {
      const ex = await Explainer.open(dir, { runtime: 'onnx', output });
      assert.equal(ex.model.conversion?.converted, true);
      assert.equal(ex.runtime.outputActivation, output === 0 ? 'softmax' : 'sigmoid');
      const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 21);
      // The logits by tfjs: the model up to the layer before the softmax, or the aux Dense without its sigmoid.
      const reference = tf.model({ inputs: model.inputs, outputs: model.getLayer('logits').output as tf.SymbolicTensor });
      const expected = output === 0 ? (reference.predict(x) as tf.Tensor).dataSync()
        : tf.tidy(() => {
          const hidden = tf.model({ inputs: model.inputs, outputs: model.getLayer('relu6').output as tf.SymbolicTensor }).predict(x) as tf.Tensor;
          const [k, bias] = model.getLayer('aux').getWeights();
          return tf.add(tf.matMul(hidden as tf.Tensor2D, k as tf.Tensor2D), bias).dataSync();
        });
      const trace = await ex.runtime.trace(x);
      const logits = trace.logits.dataSync();
      assert.ok(relativeError(logits, expected) <= 1e-5, `output ${output}: logits relative error ${relativeError(logits, expected).toExponential(2)}`);
      if (output === 0) {
        const grad = (await trace.vjp(tf.oneHot([2], 5).toFloat() as tf.Tensor2D, ['input'])).get('input')!.dataSync();
        // tfjs's autodiff on its cpu backend: the wasm backend's MaxPoolGrad is wrong for overlapping windows
        // (wasmFallbacks.ts replaces it; this reference must not depend on that).
        await tf.setBackend('cpu');
        const stock = stockInputGradient(reference, x, 2);
        await tf.setBackend('wasm');
        assert.ok(relativeError(grad, stock) <= 1e-4, `input gradient relative error ${relativeError(grad, stock).toExponential(2)}`);
        // A Grad-CAM activation is read in the model's own layout ([1, H, W, C]), equal to tfjs's.
        const inner = await ex.runtime.trace(x, ['down']);
        const act = inner.activation('down');
        const tfAct = tf.model({ inputs: model.inputs, outputs: model.getLayer('down').output as tf.SymbolicTensor }).predict(x) as tf.Tensor;
        assert.deepEqual(act.shape, tfAct.shape);
        assert.ok(relativeError(act.dataSync(), tfAct.dataSync()) <= 1e-5);
        inner.dispose();
      }
      trace.dispose();
      x.dispose();
      ex.dispose();
    }
    model.dispose();
  });

  it('Conv2DTranspose (valid and same, kernel larger and smaller than the stride) gives tfjs\'s logits and input gradients', async () => {
    for (const [kernelSize, strides, padding] of [[3, 2, 'same'], [3, 2, 'valid'], [2, 3, 'valid'], [2, 3, 'same'], [4, 2, 'same']] as const) {
      const input = tf.input({ shape: [5, 6, 3] });
      let x = tf.layers.conv2dTranspose({ filters: 4, kernelSize, strides, padding, activation: 'relu', name: 'up',
        kernelInitializer: tf.initializers.glorotUniform({ seed: kernelSize * 10 + strides }), biasInitializer: 'ones' }).apply(input) as tf.SymbolicTensor;
      x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
      x = tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }), name: 'logits' }).apply(x) as tf.SymbolicTensor;
      const model = tf.model({ inputs: input, outputs: x });
      const ex = await Explainer.open(await saveLayers(model), { runtime: 'onnx' });
      const what = `k ${kernelSize} s ${strides} ${padding}`;
      assert.equal(ex.model.conversion?.converted, true, what);
      const xs = tf.randomUniform([1, 5, 6, 3], 0, 1, 'float32', 4);
      const trace = await ex.runtime.trace(xs);
      const expected = (model.predict(xs) as tf.Tensor).dataSync();
      assert.ok(relativeError(trace.logits.dataSync(), expected) <= 1e-5, what);
      const grad = (await trace.vjp(tf.tensor2d([[0, 1, 0]]), ['input'])).get('input')!.dataSync();
      await tf.setBackend('cpu');
      const stock = stockInputGradient(model, xs, 1);
      await tf.setBackend('wasm');
      assert.ok(relativeError(grad, stock) <= 1e-5, `${what}: input gradient relative error ${relativeError(grad, stock).toExponential(2)}`);
      trace.dispose();
      ex.dispose();
      model.dispose();
    }
  });

  it('a GraphModel with Conv2DBackpropInput (tf.nn.conv2d_transpose) gives tfjs\'s logits and Grad-CAM', async () => {
    // Written by hand as the TF.js converter spells nodes: attrs in protobuf JSON, strings base64.
    const b64 = (v: string) => Buffer.from(v).toString('base64');
    const filter = tf.randomNormal([3, 3, 4, 3], 0, 0.5, 'float32', 1);
    const dense = tf.randomNormal([10 * 12 * 4, 5], 0, 0.1, 'float32', 2);
    const weights = [
      { name: 'filter', shape: [3, 3, 4, 3], dtype: 'float32' as const },
      { name: 'sizes', shape: [4], dtype: 'int32' as const },
      { name: 'flat_shape', shape: [2], dtype: 'int32' as const },
      { name: 'dense', shape: [480, 5], dtype: 'float32' as const },
    ];
    const data = Buffer.concat([Buffer.from(filter.dataSync().buffer), Buffer.from(Int32Array.of(1, 10, 12, 4).buffer),
      Buffer.from(Int32Array.of(-1, 480).buffer), Buffer.from(dense.dataSync().buffer)]);
    const node = (name: string, op: string, input: string[], attr: Record<string, unknown> = {}) => ({ name, op, input, attr });
    const modelJson = {
      format: 'graph-model', generatedBy: '2.15.0', convertedBy: 'hand-written test fixture',
      modelTopology: {
        node: [
          node('image', 'Placeholder', [], { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '5' }, { size: '6' }, { size: '3' }] } } }),
          node('filter', 'Const', [], { dtype: { type: 'DT_FLOAT' } }),
          node('sizes', 'Const', [], { dtype: { type: 'DT_INT32' } }),
          node('flat_shape', 'Const', [], { dtype: { type: 'DT_INT32' } }),
          node('dense', 'Const', [], { dtype: { type: 'DT_FLOAT' } }),
          node('model/up/conv2d_transpose', 'Conv2DBackpropInput', ['sizes', 'filter', 'image'], {
            T: { type: 'DT_FLOAT' }, strides: { list: { i: ['1', '2', '2', '1'] } }, padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') },
            dilations: { list: { i: ['1', '1', '1', '1'] } }, explicit_paddings: { list: {} },
          }),
          node('model/up/Relu', 'Relu', ['model/up/conv2d_transpose'], { T: { type: 'DT_FLOAT' } }),
          node('model/flatten/Reshape', 'Reshape', ['model/up/Relu', 'flat_shape'], { T: { type: 'DT_FLOAT' } }),
          node('model/logits/MatMul', 'MatMul', ['model/flatten/Reshape', 'dense'], { T: { type: 'DT_FLOAT' }, transpose_a: { b: false }, transpose_b: { b: false } }),
          node('Identity', 'Identity', ['model/logits/MatMul'], { T: { type: 'DT_FLOAT' } }),
        ],
        library: {}, versions: { producer: 1395 },
      },
      weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights }],
    };
    const dir = tempDir('convert-deconv-');
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
    fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), data);
    await checkAndClose(dir);
    const ex = await Explainer.open(dir, { runtime: 'onnx' });
    assert.deepEqual(ex.runtime.spatialLayers().map((c) => [c.name, c.height, c.width]), [['model/up/conv2d_transpose', 10, 12], ['model/up/Relu', 10, 12]]);
    ex.dispose();
  });

  it('the layer table lists the model\'s own layers with its shapes, and Grad-CAM layers are the spatial ones', async () => {
    const model = buildZoo();
    const ex = await Explainer.open(await saveLayers(model), { runtime: 'onnx' });
    const rows = ex.runtime.layerTable();
    assert.deepEqual(rows.map((r) => r.name).sort(), model.layers.slice(1).map((l) => l.name).sort());
    const sep = rows.find((r) => r.name === 'sep')!;
    assert.deepEqual(sep.outputShape, [17, 16, 8]);
    assert.equal(sep.type, 'SeparableConv2D');
    assert.equal(sep.params, model.getLayer('sep').countParams());
    const names = ex.runtime.spatialLayers().map((c) => c.name);
    assert.ok(names.includes('down') && names.includes('maxpool') && !names.includes('fc') && !names.includes('gmp'), names.join(','));
    ex.dispose();
    model.dispose();
  });
});

describe('real converter-written models', () => {
  it('human-models emotion (64×64 grayscale, fused ops, depthwise, max-pool, Mean) gives tfjs\'s predictions, saliency and Grad-CAM', async () => {
    // Saliency agrees since wasm's MaxPoolGrad was replaced (wasmFallbacks.ts): before, r was 0.92 here.
    await checkAndClose(path.join(REAL_DIR, 'human-emotion'), { classes: [0] });
  });

  it('human-models antispoof (128×128, one sigmoid output) gives tfjs\'s prediction and Grad-CAM', async () => {
    // Its saliency on tfjs takes ~18 s a class; the finite-difference test below checks the ONNX gradients.
    await checkAndClose(path.join(REAL_DIR, 'human-antispoof'), { saliency: false });
  });

  it('their ONNX saliency gradients are the directional derivatives of the logit (central differences)', async () => {
    for (const dir of [path.join(REAL_DIR, 'human-emotion'), nsfwModelDir('mobilenet_v2_mid')]) {
      const ex = await Explainer.open(dir, { runtime: 'onnx' });
      const x = tf.randomUniform([1, ...ex.runtime.inputShape], 0, 1, 'float32', 5);
      const trace = await ex.runtime.trace(x);
      const n = ex.runtime.numClasses;
      const target = topK(trace.logits.dataSync(), 1)[0];
      const grad = (await trace.vjp(tf.oneHot([target], n).toFloat() as tf.Tensor2D, ['input'])).get('input')!;
      const logitAt = async (xx: tf.Tensor) => {
        const t = await ex.runtime.trace(xx);
        const v = t.logits.dataSync()[target];
        t.dispose();
        return v;
      };
      const predicted: number[] = [];
      const measured: number[] = [];
      for (let k = 0; k < 6; k++) {
        const d = tf.randomNormal(x.shape, 0, 1, 'float32', 40 + k);
        const eps = 1e-3;
        measured.push(((await logitAt(tf.add(x, tf.mul(d, eps)))) - (await logitAt(tf.sub(x, tf.mul(d, eps))))) / (2 * eps));
        predicted.push(tf.sum(tf.mul(grad, d)).dataSync()[0]);
      }
      // ReLU kinks within ±eps make single directions noisy; the six together must agree closely.
      assert.ok(pearson(predicted, measured) >= 0.99, `${dir}: predicted ${predicted.map((v) => v.toFixed(3))} measured ${measured.map((v) => v.toFixed(3))}`);
      trace.dispose();
      ex.dispose();
    }
  });

  it('nsfwjs MobileNetV2 GraphModel (224², TF-Hub scopes, uint8-quantized weights) gives tfjs\'s top-5 and Grad-CAM, addressed by short names', async () => {
    const dir = nsfwModelDir('mobilenet_v2_mid');
    const { tfjs, onnx } = await expectSameOnBothRuntimes(dir, { saliency: false });
    const layer = onnx.runtime.defaultSpatialLayer()!;
    assert.match(layer, /^StatefulPartitionedCall\/.*\/MobilenetV2\/Conv_1\/Relu6$/);
    // The shortened name shown to users is accepted wherever a layer is named.
    assert.equal(onnx.runtime.canonicalLayerName?.('MobilenetV2/Conv_1/Relu6'), layer);
    const x = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 3);
    const byShort = await onnx.explainTensor(x, { methods: ['gradcam'], layer: 'MobilenetV2/Conv_1/Relu6', target: 0 });
    const byFull = await onnx.explainTensor(x, { methods: ['gradcam'], layer, target: 0 });
    assert.deepEqual(byShort.maps[0].data, byFull.maps[0].data);
    x.dispose();
    tfjs.dispose();
    onnx.dispose();
  });

  it('nsfwjs MobileNetV2 Layers model (224²) gives tfjs\'s predictions, saliency and Grad-CAM', async () => {
    await checkAndClose(nsfwModelDir('mobilenet_v2'));
  });
});

describe('Keras files', () => {
  it('a .keras, a Keras 2 .h5, a Keras 3 .h5 and a TF.js folder holding the same weights give identical maps on ONNX Runtime', async () => {
    const dir = path.join(__dirname, '..', 'fixtures', 'keras');
    const sources = ['cnn.keras', 'cnn.h5', 'cnn_keras3.h5', 'cnn-tfjs'].map((f) => path.join(dir, f));
    const results: Awaited<ReturnType<Explainer['explainTensor']>>[] = [];
    for (const source of sources) {
      const ex = await Explainer.open(source, { runtime: 'onnx' });
      assert.equal(ex.model.conversion?.converted, true, source);
      assert.match(ex.compute.note, source.endsWith('-tfjs') ? /converted from a TF\.js Layers model/ : /converted from a Keras file/);
      const x = tf.randomUniform([1, ...ex.runtime.inputShape], 0, 1, 'float32', 8);
      results.push(await ex.explainTensor(x, { target: 1 }));
      x.dispose();
      ex.dispose();
    }
    assert.equal(results[0].maps.length, 2);
    for (const r of results.slice(1)) {
      assert.deepEqual(r.predictions.map((p) => p.logit), results[0].predictions.map((p) => p.logit));
      r.maps.forEach((m, i) => assert.deepEqual(m.data, results[0].maps[i].data, m.method));
    }
  });

  it('a Keras file\'s version (what reloads it) follows the file and its sidecars, not the images beside it', () => {
    const dir = tempDir('keras-version-');
    const file = path.join(dir, 'model.keras');
    fs.copyFileSync(path.join(__dirname, '..', 'fixtures', 'keras', 'cnn.keras'), file);
    const before = modelVersion(file);
    fs.writeFileSync(path.join(dir, 'photo.png'), 'not looked at');
    assert.equal(modelVersion(file), before);
    fs.writeFileSync(path.join(dir, 'labels.txt'), 'a\nb\n');
    const withLabels = modelVersion(file);
    assert.notEqual(withLabels, before);
    fs.appendFileSync(file, Buffer.from([0]));
    assert.notEqual(modelVersion(file), withLabels);
  });

  it('a nested Keras model with BatchNormalization without scale converts and agrees with tfjs', async () => {
    await checkAndClose(path.join(__dirname, '..', 'fixtures', 'keras', 'nested.keras'));
  });
});

describe('runtime choice and fallback', () => {
  /** TimeDistributed has no conversion: a model that needs one shows the fallback. */
  async function unconvertibleModelDir(): Promise<string> {
    const input = tf.input({ shape: [8, 8, 1] });
    let x = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', name: 'conv' }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 2 }), name: 'rows' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }).apply(x) as tf.SymbolicTensor;
    return saveLayers(tf.model({ inputs: input, outputs: x }));
  }

  it('auto runs a model that does not convert on tfjs and names the layer that kept it there', async () => {
    const dir = await unconvertibleModelDir();
    const ex = await Explainer.open(dir);
    assert.equal(ex.runtime.kind, 'layers');
    assert.equal(ex.model.conversion?.converted, false);
    assert.match(ex.model.conversion!.reason, /could not convert to ONNX: rows \(layer class TimeDistributed is not supported for conversion\)/);
    assert.match(ex.compute.note, /TimeDistributed/);
    assert.equal(ex.compute.runtime.engine, 'tfjs');
    const maps = await ex.explainTensor(tf.zeros([1, 8, 8, 1]), {});
    assert.equal(maps.maps.length, 2);
    ex.dispose();
  });

  it('only the chosen output is converted: another head with a layer that does not convert does not stop it', async () => {
    const input = tf.input({ shape: [8, 8, 1] });
    const features = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', name: 'conv' }).apply(input) as tf.SymbolicTensor;
    const main = tf.layers.dense({ units: 3, activation: 'softmax', name: 'main' }).apply(tf.layers.flatten().apply(features)) as tf.SymbolicTensor;
    const rows = tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 2 }), name: 'rows' }).apply(features) as tf.SymbolicTensor;
    const aux = tf.layers.dense({ units: 4, name: 'aux' }).apply(tf.layers.flatten().apply(rows)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [main, aux] });
    const dir = await saveLayers(model);
    const first = await Explainer.open(dir, { output: 'main' });
    assert.equal(first.runtime.kind, 'onnx');
    const x = tf.randomUniform([1, 8, 8, 1], 0, 1, 'float32', 2);
    const reference = tf.model({ inputs: model.inputs, outputs: model.getLayer('main').input as tf.SymbolicTensor });
    const [k, b] = model.getLayer('main').getWeights();
    const expected = tf.add(tf.matMul(reference.predict(x) as tf.Tensor2D, k as tf.Tensor2D), b).dataSync();
    const trace = await first.runtime.trace(x);
    assert.ok(relativeError(trace.logits.dataSync(), expected) <= 1e-5);
    trace.dispose();
    // The other head's layers are listed but lead nowhere on this output.
    await assert.rejects(first.explainTensor(x, { methods: ['gradcam'], layer: 'rows' }), (e: Error) => e instanceof UserError);
    first.dispose();
    const second = await Explainer.open(dir, { output: 'aux' });
    assert.equal(second.runtime.kind, 'layers');
    assert.match(second.model.conversion!.reason, /TimeDistributed/);
    second.dispose();
  });

  it('onnx refuses it in one sentence naming the file and the layer; tfjs is taken when asked for', async () => {
    const dir = await unconvertibleModelDir();
    await assert.rejects(Explainer.open(dir, { runtime: 'onnx' }), (e: Error) => e instanceof UserError &&
      e.message.startsWith(path.join(dir, 'model.json')) && /TimeDistributed/.test(e.message) && /--runtime tfjs/.test(e.message) && !e.message.includes('\n'));
    const converts = await saveLayers(buildSmallResidual({ seed: 1 }));
    const forced = await Explainer.open(converts, { runtime: 'tfjs' });
    assert.equal(forced.runtime.kind, 'layers');
    assert.match(forced.model.conversion!.reason, /tfjs chosen/);
    forced.dispose();
    const auto = await Explainer.open(converts);
    assert.equal(auto.runtime.kind, 'onnx');
    assert.equal(auto.compute.name, 'onnxruntime');
    assert.match(auto.compute.note, /converted from a TF\.js Layers model/);
    assert.deepEqual(auto.compute.runtime, { engine: 'onnxruntime', converted: true, reason: auto.model.conversion!.reason });
    auto.dispose();
  });
});
