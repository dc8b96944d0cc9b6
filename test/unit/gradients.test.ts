import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import type { ModelRuntime } from '../../src/engine/runtimes/types';
import { ConvInputGradient } from '../../src/engine/runtimes/tfjs/convGrad';
import { BORROWED_KERNELS, REPLACED_KERNELS } from '../../src/engine/runtimes/tfjs/wasmFallbacks';
import {
  buildDepthwiseNet, buildLinear, buildMobileNetV2, buildNested, buildResNet18, buildSmallResidual, buildSqueezeNetLike,
} from '../fixtures/architectures';
import { cleanupTempDirs, logitsModelOf, openModel, perPixelSaliency, relativeError, seedFor, stockInputGradient } from './helpers';

/** Input gradient of logit c through our runtime (the layer-by-layer VJP). */
async function runtimeInputGradient(ex: { runtime: Pick<ModelRuntime, 'trace' | 'numClasses'> }, x: tf.Tensor, c: number): Promise<Float32Array> {
  const trace = await ex.runtime.trace(x);
  const seed = seedFor(ex.runtime.numClasses, c);
  const g = (await trace.vjp(seed, ['input'])).get('input')!;
  const data = g.dataSync() as Float32Array;
  g.dispose();
  seed.dispose();
  trace.dispose();
  return data;
}

before(async () => {
  await initBackend();
});
after(cleanupTempDirs);

/** A kernel with d−1 zeros between taps: conv with it equals conv with dilation d. */
function dilateKernel(kernel: tf.Tensor4D, d: number): tf.Tensor4D {
  if (d === 1) return kernel;
  const [kh, kw, ci, co] = kernel.shape;
  const k = kernel.arraySync();
  const out = Array.from({ length: (kh - 1) * d + 1 }, (_, i) => Array.from({ length: (kw - 1) * d + 1 }, (_, j) =>
    i % d === 0 && j % d === 0 ? k[i / d][j / d] : Array.from({ length: ci }, () => new Array(co).fill(0))));
  return tf.tensor4d(out);
}

describe('convolution input gradients as forward convolutions', () => {
  // Every stride/padding/dilation/size combination that changes the index bookkeeping.
  const cases = [
    { h: 9, w: 8, k: 3, s: 1, d: 1, pad: 'same' },
    { h: 9, w: 8, k: 3, s: 2, d: 1, pad: 'same' },
    { h: 10, w: 10, k: 3, s: 2, d: 1, pad: 'same' },
    { h: 11, w: 7, k: 7, s: 2, d: 1, pad: 'valid' },
    { h: 12, w: 12, k: 1, s: 2, d: 1, pad: 'same' },
    { h: 10, w: 9, k: 3, s: 1, d: 2, pad: 'same' },
    { h: 13, w: 13, k: 5, s: 3, d: 1, pad: 'valid' },
    { h: 8, w: 8, k: 2, s: 2, d: 1, pad: 'valid' },
    { h: 14, w: 11, k: 4, s: 3, d: 1, pad: 'same' },
    { h: 9, w: 9, k: 1, s: 3, d: 1, pad: 'valid' },
  ] as const;
  // 3 input channels: a stem, whose strided phases run stacked in one convolution; 12: phase by phase.
  for (const c of [...cases, ...cases.filter((k) => k.s > 1).map((k) => ({ ...k, channels: 12 }))] as (typeof cases[number] & { channels?: number })[]) {
    const ci = c.channels ?? 3;
    it(`conv2d ${c.h}×${c.w}×${ci} k${c.k} s${c.s} d${c.d} ${c.pad} matches tf.grad`, () => {
      tf.tidy(() => {
        const x = tf.randomNormal([1, c.h, c.w, ci], 0, 1, 'float32', 1) as tf.Tensor4D;
        const kernel = tf.randomNormal([c.k, c.k, ci, 5], 0, 1, 'float32', 2) as tf.Tensor4D;
        const y = tf.conv2d(x, kernel, c.s, c.pad, 'NHWC', c.d);
        const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
        // tfjs has no gradient for dilated convolutions: the reference spells the dilation out in the kernel.
        const spelled = dilateKernel(kernel, c.d);
        const stock = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, spelled, c.s, c.pad), dy)))(x);
        const prepared = ConvInputGradient.conv2d(kernel, { kernel: [c.k, c.k], strides: [c.s, c.s], dilations: [c.d, c.d], padding: c.pad });
        const ours = prepared.apply(dy, x.shape);
        prepared.dispose();
        assert.deepEqual(ours.shape, x.shape);
        assert.ok(relativeError(ours.dataSync(), stock.dataSync()) < 1e-5);
      });
    });
  }
  for (const [s, m, pad] of [[1, 1, 'same'], [2, 1, 'same'], [2, 2, 'valid'], [1, 3, 'valid']] as const) {
    it(`depthwise stride ${s} multiplier ${m} ${pad} matches tf.grad on cpu`, async () => {
      // The wasm backend has no depthwise backprop kernel of its own: the reference runs on cpu.
      const expected = await (async () => {
        await tf.setBackend('cpu');
        try {
          return tf.tidy(() => {
            const x = tf.randomNormal([1, 9, 10, 4], 0, 1, 'float32', 4) as tf.Tensor4D;
            const kernel = tf.randomNormal([3, 3, 4, m], 0, 1, 'float32', 5) as tf.Tensor4D;
            const y = tf.depthwiseConv2d(x, kernel, s, pad);
            const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 6) as tf.Tensor4D;
            const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(xx as tf.Tensor4D, kernel, s, pad), dy)))(x);
            return { x: x.arraySync(), kernel: kernel.arraySync(), dy: dy.arraySync(), g: g.dataSync().slice() };
          });
        } finally {
          await tf.setBackend('wasm');
        }
      })();
      tf.tidy(() => {
        const x = tf.tensor4d(expected.x);
        const kernel = tf.tensor4d(expected.kernel);
        const prepared = ConvInputGradient.depthwise(kernel, { kernel: [3, 3], strides: [s, s], dilations: [1, 1], padding: pad });
        const ours = prepared.apply(tf.tensor4d(expected.dy), x.shape);
        prepared.dispose();
        assert.deepEqual(ours.shape, x.shape);
        assert.ok(relativeError(ours.dataSync(), expected.g) < 1e-5);
      });
    });
  }
});

describe('model input gradients match tfjs autodiff (the stock path)', () => {
  const models: [string, () => tf.LayersModel][] = [
    ['small residual', () => buildSmallResidual({ seed: 3 })],
    ['ResNet-18 shape at 64²', () => buildResNet18({ inputSize: 64, classes: 10, seed: 4 })],
    ['MobileNetV2 shape at 64²', () => buildMobileNetV2({ inputSize: 64, classes: 10, seed: 5 })],
    ['nested (transfer learning)', () => buildNested({ seed: 6 })],
    ['SqueezeNet-like fire modules', () => buildSqueezeNetLike({ seed: 7 })],
  ];
  for (const [name, build] of models) {
    it(name, async () => {
      const model = build();
      const reference = logitsModelOf(model);
      const ex = await openModel(model);
      const x = tf.randomUniform([1, ...ex.runtime.inputShape], 0, 1, 'float32', 11);
      for (const c of [0, ex.runtime.numClasses - 1]) {
        const err = relativeError(await runtimeInputGradient(ex, x, c), stockInputGradient(reference, x, c));
        assert.ok(err < 1e-4, `class ${c}: relative error ${err}`);
      }
      x.dispose();
      ex.dispose();
      model.dispose();
      reference.dispose();
    });
  }
});

describe('exact and numerical cases', () => {
  it("a linear model's saliency is |W_c|, max over channels", async () => {
    const model = buildLinear({ height: 6, width: 5, channels: 3, classes: 4, seed: 9 });
    const kernel = model.getLayer('predictions').getWeights()[0];
    const w = kernel.arraySync() as number[][]; // [h·w·c, classes]
    const ex = await openModel(model);
    const x = tf.randomUniform([1, 6, 5, 3], 0, 1, 'float32', 1);
    for (let c = 0; c < 4; c++) {
      const map = (await ex.explainTensor(x, { methods: ['saliency'], target: c })).maps[0];
      const expected = new Float32Array(30);
      for (let p = 0; p < 30; p++) expected[p] = Math.max(...[0, 1, 2].map((ch) => Math.abs(w[p * 3 + ch][c])));
      assert.equal(map.width, 5);
      assert.equal(map.height, 6);
      const maxDiff = Math.max(...map.data.map((v, i) => Math.abs(v - expected[i])));
      assert.ok(maxDiff < 1e-5, `class ${c}: max diff ${maxDiff}`);
    }
    ex.dispose();
  });

  it('saliency matches central finite differences of the logit on a small smooth CNN', async () => {
    // tanh / sigmoid / ELU have no kinks, so central differences are accurate to O(eps²).
    const input = tf.input({ shape: [10, 10, 3] });
    const init = (seed: number) => tf.initializers.glorotNormal({ seed });
    let h = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh', kernelInitializer: init(1) }).apply(input) as tf.SymbolicTensor;
    h = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'sigmoid', depthwiseInitializer: init(2) }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'elu', kernelInitializer: init(3) }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.averagePooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: init(4) }).apply(h) as tf.SymbolicTensor;
    const ex = await openModel(tf.model({ inputs: input, outputs: out }));
    const x = tf.randomUniform([1, 10, 10, 3], 0, 1, 'float32', 13);
    const c = 2;
    const grad = await runtimeInputGradient(ex, x, c);
    const xs = x.dataSync();
    const logitAt = async (values: Float32Array) => {
      const t = tf.tensor(values, x.shape);
      const trace = await ex.runtime.trace(t);
      const v = trace.logits.dataSync()[c];
      trace.dispose();
      t.dispose();
      return v;
    };
    const eps = 1e-2;
    const scale = Math.max(...grad.map(Math.abs));
    for (let k = 0; k < 40; k++) {
      const i = (k * 7919) % xs.length;
      const plus = Float32Array.from(xs);
      const minus = Float32Array.from(xs);
      plus[i] += eps;
      minus[i] -= eps;
      const fd = ((await logitAt(plus)) - (await logitAt(minus))) / (2 * eps);
      assert.ok(Math.abs(fd - grad[i]) < 2e-3 * scale, `coordinate ${i}: finite difference ${fd}, gradient ${grad[i]}`);
    }
    x.dispose();
    ex.dispose();
  });

  it('BatchNormalization without scale (where tf.grad fails in tfjs 4.22) equals the same net with gamma = 1', async () => {
    const model = buildDepthwiseNet({ seed: 21, bnWithoutScale: true });
    const twin = buildDepthwiseNet({ seed: 21, bnWithoutScale: false });
    for (const layer of model.layers) {
      const weights = layer.getWeights();
      const target = twin.getLayer(layer.name);
      if (target.getWeights().length === weights.length + 1) target.setWeights([tf.onesLike(weights[0]), ...weights]);
      else target.setWeights(weights);
    }
    const ex = await openModel(model);
    const x = tf.randomUniform([1, ...ex.runtime.inputShape], 0, 1, 'float32', 22);
    const reference = logitsModelOf(twin);
    const err = relativeError(await runtimeInputGradient(ex, x, 1), stockInputGradient(reference, x, 1));
    assert.ok(err < 1e-5, `relative error ${err}`);
    x.dispose();
    ex.dispose();
  });

  it('the softmax bypass attributes the logit, not the probability', async () => {
    const model = buildSmallResidual({ seed: 31, softmax: true });
    const reference = logitsModelOf(model);
    const ex = await openModel(model);
    assert.equal(ex.runtime.outputActivation, 'softmax');
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 32);
    const ours = await runtimeInputGradient(ex, x, 0);
    const logitGrad = stockInputGradient(reference, x, 0);
    const probGrad = tf.tidy(() => tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(model.apply(xx) as tf.Tensor, seedFor(5, 0))))(x).dataSync());
    assert.ok(relativeError(ours, logitGrad) < 1e-5);
    assert.ok(relativeError(ours, probGrad) > 0.1, 'the probability gradient is a different vector');
    // The predictions still report probabilities: softmax of the logits, summing to 1.
    const result = await ex.explainTensor(x, { methods: ['saliency'], topK: 5 });
    const probs = (model.predict(x) as tf.Tensor).dataSync();
    for (const p of result.predictions) assert.ok(Math.abs(p.probability - probs[p.index]) < 1e-5);
    x.dispose();
    ex.dispose();
    reference.dispose();
  });
});

describe('signed saliency', () => {
  for (const [what, build, shape] of [
    ['3 channels', () => buildSmallResidual({ seed: 51, classes: 4 }), [16, 16, 3]],
    ['1 channel (grayscale)', () => buildSmallResidual({ seed: 52, classes: 4, inputSize: 12, channels: 1 }), [12, 12, 1]],
  ] as const) {
    it(`${what}: per pixel the channel gradient of largest magnitude, sign kept; its magnitude is the unsigned map`, async () => {
      const ex = await openModel(build());
      assert.deepEqual(ex.runtime.inputShape, [...shape]);
      const x = tf.randomUniform([1, ...shape], 0, 1, 'float32', 53);
      const grad = await runtimeInputGradient(ex, x, 2);
      const expected = perPixelSaliency(grad, shape[2], true);
      const signed = (await ex.explainTensor(x, { methods: ['saliency'], target: 2, signed: true })).maps[0];
      const unsigned = (await ex.explainTensor(x, { methods: ['saliency'], target: 2 })).maps[0];
      assert.ok(signed.signed);
      assert.ok(relativeError(signed.data, expected) < 1e-6);
      assert.ok(signed.data.some((v) => v < 0) && signed.data.some((v) => v > 0), 'both signs occur');
      assert.ok(relativeError(signed.data.map(Math.abs), unsigned.data) < 1e-6);
      x.dispose();
      ex.dispose();
    });
  }
});

describe('backends', () => {
  it('wasm and cpu give the same input gradients on a depthwise/BN/ReLU6 model (no max-pool ties)', async () => {
    const model = buildDepthwiseNet({ seed: 41, bnWithoutScale: true });
    const ex = await openModel(model);
    const x = tf.randomUniform([1, ...ex.runtime.inputShape], 0, 1, 'float32', 42);
    const onWasm = await runtimeInputGradient(ex, x, 3);
    await tf.setBackend('cpu');
    try {
      const onCpu = await runtimeInputGradient(ex, x, 3);
      assert.ok(relativeError(onWasm, onCpu) < 1e-4, `relative error ${relativeError(onWasm, onCpu)}`);
    } finally {
      await tf.setBackend('wasm');
    }
    x.dispose();
    ex.dispose();
  });

  it('kernels borrowed from cpu for wasm compute what cpu computes', async () => {
    assert.deepEqual([...BORROWED_KERNELS, ...REPLACED_KERNELS].every((k) => tf.getKernel(k, 'wasm') !== undefined), true);
    const run = () => tf.tidy(() => {
      const x = tf.randomNormal([1, 7, 6, 3], 0, 1, 'float32', 51) as tf.Tensor4D;
      const f = tf.randomNormal([3, 3, 3, 2], 0, 1, 'float32', 52) as tf.Tensor4D;
      const dwFilter = tf.grad((ff: tf.Tensor) => tf.sum(tf.square(tf.depthwiseConv2d(x, ff as tf.Tensor4D, 2, 'same'))))(f);
      const dwInput = tf.grad((xx: tf.Tensor) => tf.sum(tf.square(tf.depthwiseConv2d(xx as tf.Tensor4D, f, 2, 'same'))))(x);
      const convFilter = tf.grad((ff: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, tf.reshape(ff, [3, 3, 3, 2]) as tf.Tensor4D, 1, 'valid'))))(f);
      const gatherGrad = tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, [0, 2, 2], 1)))(tf.randomNormal([2, 4], 0, 1, 'float32', 53));
      // Overlapping 'same' max-pool windows after a convolution: the case stock wasm got wrong (REPLACED_KERNELS).
      const img = tf.randomUniform([1, 8, 8, 3], 0, 1, 'float32', 54) as tf.Tensor4D;
      const k4 = tf.randomNormal([3, 3, 3, 4], 0, 0.5, 'float32', 55) as tf.Tensor4D;
      const poolInput = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(tf.tanh(tf.conv2d(xx as tf.Tensor4D, k4, 1, 'same')), 3, 2, 'same'),
        tf.randomNormal([1, 4, 4, 4], 0, 1, 'float32', 56))))(img);
      return [dwFilter, dwInput, convFilter, gatherGrad, poolInput].map((t) => Array.from(t.dataSync()));
    });
    const wasm = run();
    await tf.setBackend('cpu');
    const cpu = run();
    await tf.setBackend('wasm');
    wasm.forEach((w, i) => assert.ok(relativeError(w, cpu[i]) < 1e-5, `result ${i}`));
  });
});
