import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import {
  buildDepthwiseNet,
  buildLinear,
  buildMlp,
  buildMobileNetV2,
  buildNested,
  buildResNet18,
  buildSmallResidual,
  buildSqueezeNetLike,
  countTrainableParams,
} from '../fixtures/architectures';

before(async () => {
  await initBackend();
});

/** Runs predict on a seeded uniform input and returns the output values; disposes everything. */
function predictValues(model: tf.LayersModel, shape: number[], seed = 123): Float32Array {
  return tf.tidy(() => {
    const x = tf.randomUniform(shape, 0, 1, 'float32', seed);
    return (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
  });
}

function outputShape(model: tf.LayersModel, shape: number[]): number[] {
  return tf.tidy(() => (model.predict(tf.zeros(shape)) as tf.Tensor).shape);
}

function spatial(model: tf.LayersModel, layerName: string): number[] {
  const shape = model.getLayer(layerName).outputShape as (number | null)[];
  return shape.slice(1) as number[];
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function assertDeterministic(build: (seed: number) => tf.LayersModel, inputShape: number[]): void {
  const a = build(7);
  const b = build(7);
  const c = build(8);
  try {
    const ya = predictValues(a, inputShape);
    const yb = predictValues(b, inputShape);
    const yc = predictValues(c, inputShape);
    assert.ok(ya.every(Number.isFinite), 'outputs are finite');
    assert.deepEqual(Array.from(ya), Array.from(yb), 'same seed gives identical predictions');
    assert.ok(maxAbsDiff(ya, yc) > 1e-4, 'different seed gives different predictions');
  } finally {
    a.dispose();
    b.dispose();
    c.dispose();
  }
}

function assertSoftmaxRows(values: Float32Array, classes: number): void {
  for (let r = 0; r < values.length / classes; r++) {
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += values[r * classes + k];
    assert.ok(Math.abs(sum - 1) < 1e-4, `row ${r} sums to ${sum}`);
  }
}

describe('ResNet-18', () => {
  it('has the torchvision parameter count, stage sizes and output shape', () => {
    const model = buildResNet18();
    try {
      assert.equal(countTrainableParams(model), 11_689_512);
      // 4,800 BN moving statistics (mean + variance) are non-trainable.
      assert.equal(model.countParams() - countTrainableParams(model), 9_600);
      assert.deepEqual(spatial(model, 'conv1_relu'), [112, 112, 64]);
      assert.deepEqual(spatial(model, 'pool1_pool'), [56, 56, 64]);
      assert.deepEqual(spatial(model, 'conv2_block2_out'), [56, 56, 64]);
      assert.deepEqual(spatial(model, 'conv3_block2_out'), [28, 28, 128]);
      assert.deepEqual(spatial(model, 'conv4_block2_out'), [14, 14, 256]);
      assert.deepEqual(spatial(model, 'conv5_block2_out'), [7, 7, 512]);
      const y = predictValues(model, [1, 224, 224, 3]);
      assert.equal(y.length, 1000);
      assertSoftmaxRows(y, 1000);
      assert.ok(Math.max(...y) < 0.99, 'softmax is not saturated on a uniform-noise image');
    } finally {
      model.dispose();
    }
  });

  it('BatchNormalization is not the identity', () => {
    const model = buildResNet18({ inputSize: 32, classes: 10 });
    try {
      const bnLayer = model.getLayer('conv3_block1_2_bn');
      const byName = new Map(bnLayer.weights.map((w) => [w.originalName.split('/').pop(), w.read().dataSync()]));
      const variance = byName.get('moving_variance');
      const mean = byName.get('moving_mean');
      assert.ok(variance && mean);
      assert.ok(variance.every((v) => v >= 0.5 && v <= 1.5));
      assert.ok(variance.some((v) => Math.abs(v - 1) > 0.05));
      assert.ok(mean.some((v) => Math.abs(v) > 0.01));
    } finally {
      model.dispose();
    }
  });

  it('logits option, other sizes and determinism', () => {
    const logits = buildResNet18({ inputSize: 64, classes: 10, softmax: false });
    try {
      assert.deepEqual(outputShape(logits, [2, 64, 64, 3]), [2, 10]);
      assert.equal(logits.getLayer('predictions').getConfig().activation, 'linear');
    } finally {
      logits.dispose();
    }
    assertDeterministic((seed) => buildResNet18({ seed }), [1, 224, 224, 3]);
  });
});

describe('MobileNetV2', () => {
  it('has the Keras parameter count, 7x7 last conv and output shape', () => {
    const model = buildMobileNetV2();
    try {
      assert.equal(countTrainableParams(model), 3_504_872);
      assert.equal(model.countParams(), 3_538_984);
      assert.deepEqual(spatial(model, 'Conv1_relu'), [112, 112, 32]);
      assert.deepEqual(spatial(model, 'block_16_project_BN'), [7, 7, 320]);
      assert.deepEqual(spatial(model, 'out_relu'), [7, 7, 1280]);
      // Residual adds exist exactly where stride is 1 and channels match: 10 of them.
      assert.equal(model.layers.filter((l) => l.getClassName() === 'Add').length, 10);
      const y = predictValues(model, [1, 224, 224, 3]);
      assert.equal(y.length, 1000);
      assertSoftmaxRows(y, 1000);
    } finally {
      model.dispose();
    }
  });

  it('is deterministic', () => {
    assertDeterministic((seed) => buildMobileNetV2({ seed }), [1, 224, 224, 3]);
  });
});

describe('small models', () => {
  it('SqueezeNet-like: logits by default, softmax on request', () => {
    const model = buildSqueezeNetLike();
    const soft = buildSqueezeNetLike({ softmax: true, classes: 3, inputSize: 32 });
    try {
      assert.deepEqual(outputShape(model, [2, 64, 64, 3]), [2, 10]);
      assert.ok(model.layers.every((l) => l.getClassName() !== 'Dense'), 'no Dense layer');
      assert.equal(model.layers.filter((l) => l.getClassName() === 'Concatenate').length, 3);
      assertSoftmaxRows(predictValues(soft, [2, 32, 32, 3]), 3);
    } finally {
      model.dispose();
      soft.dispose();
    }
    assertDeterministic((seed) => buildSqueezeNetLike({ seed }), [1, 64, 64, 3]);
  });

  it('SmallResidual: last_conv keeps full resolution', () => {
    const model = buildSmallResidual();
    const gray = buildSmallResidual({ channels: 1, classes: 2, inputSize: 8, softmax: false });
    try {
      assert.deepEqual(outputShape(model, [2, 16, 16, 3]), [2, 5]);
      assert.deepEqual(spatial(model, 'last_conv').slice(0, 2), [16, 16]);
      assert.equal(model.getLayer('last_conv').getClassName(), 'Conv2D');
      assert.ok(model.layers.some((l) => l.getClassName() === 'Add'));
      assertSoftmaxRows(predictValues(model, [2, 16, 16, 3]), 5);
      assert.deepEqual(outputShape(gray, [3, 8, 8, 1]), [3, 2]);
    } finally {
      model.dispose();
      gray.dispose();
    }
    assertDeterministic((seed) => buildSmallResidual({ seed }), [2, 16, 16, 3]);
  });

  it('Nested: the backbone is a LayersModel used as a layer', () => {
    const model = buildNested();
    try {
      assert.deepEqual(outputShape(model, [2, 16, 16, 3]), [2, 4]);
      const backbone = model.getLayer('backbone');
      assert.ok(backbone instanceof tf.LayersModel);
      assert.equal(backbone.getLayer('backbone_conv2').getClassName(), 'Conv2D');
      assert.ok(model.layers.some((l) => l.getClassName() === 'GlobalAveragePooling2D'));
    } finally {
      model.dispose();
    }
    assertDeterministic((seed) => buildNested({ seed }), [2, 16, 16, 3]);
  });

  it('DepthwiseNet: depthwise strides 1 and 2, multipliers 1 and 2, BN without scale, no max-pool', () => {
    const model = buildDepthwiseNet();
    try {
      assert.deepEqual(outputShape(model, [2, 16, 16, 3]), [2, 4]);
      const dws = model.layers.filter((l) => l.getClassName() === 'DepthwiseConv2D').map((l) => l.getConfig());
      const strides = new Set(dws.map((c) => JSON.stringify(c.strides)));
      const multipliers = new Set(dws.map((c) => c.depthMultiplier));
      assert.ok(strides.has('[1,1]') && strides.has('[2,2]'), `strides ${[...strides]}`);
      assert.ok(multipliers.has(1) && multipliers.has(2));
      const bns = model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
      assert.ok(bns.some((l) => l.getConfig().scale === false));
      assert.ok(model.layers.every((l) => !l.getClassName().startsWith('MaxPooling')));
      assert.ok(model.layers.some((l) => l.getClassName() === 'AveragePooling2D'));
      assert.ok(model.layers.some((l) => l.getClassName() === 'ReLU'));
    } finally {
      model.dispose();
    }
    assertDeterministic((seed) => buildDepthwiseNet({ seed }), [2, 16, 16, 3]);
  });

  it('DepthwiseNet with a scaled BN takes input gradients (tfjs cannot through scale:false BN)', () => {
    const model = buildDepthwiseNet({ bnWithoutScale: false });
    try {
      assert.ok(model.layers.every((l) => l.getClassName() !== 'BatchNormalization' || l.getConfig().scale !== false));
      const g = tf.tidy(() => {
        const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 9);
        return tf.grad((inp: tf.Tensor) => (model.apply(inp) as tf.Tensor).slice([0, 1], [1, 1]).sum())(x).dataSync();
      });
      assert.ok(g.every(Number.isFinite));
      assert.ok(g.some((v) => v !== 0));
    } finally {
      model.dispose();
    }
  });

  it('MLP', () => {
    const model = buildMlp();
    try {
      assert.deepEqual(outputShape(model, [3, 784]), [3, 10]);
      assert.equal(countTrainableParams(model), 784 * 32 + 32 + 32 * 10 + 10);
      assertSoftmaxRows(predictValues(model, [3, 784]), 10);
    } finally {
      model.dispose();
    }
    assertDeterministic((seed) => buildMlp({ seed }), [2, 784]);
  });

  it('Linear: input gradient of class c is column c of the kernel', () => {
    const model = buildLinear();
    try {
      assert.deepEqual(outputShape(model, [2, 6, 5, 3]), [2, 4]);
      const [kernel] = model.getLayer('predictions').getWeights();
      const c = 2;
      const grad = tf.tidy(() => {
        const x = tf.randomUniform([1, 6, 5, 3], 0, 1, 'float32', 5);
        const g = tf.grad((inp: tf.Tensor) => (model.apply(inp) as tf.Tensor).slice([0, c], [1, 1]).sum())(x);
        return g.dataSync() as Float32Array;
      });
      const column = tf.tidy(() => kernel.slice([0, c], [90, 1]).dataSync() as Float32Array);
      assert.ok(maxAbsDiff(grad, column) < 1e-6);
    } finally {
      model.dispose();
    }
    assertDeterministic((seed) => buildLinear({ seed }), [2, 6, 5, 3]);
  });
});
