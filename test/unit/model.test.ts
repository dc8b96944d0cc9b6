import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { Explainer } from '../../src/engine/explain';
import { UserError } from '../../src/engine/errors';
import { readLabels } from '../../src/engine/model/sidecar';
import { LayersRuntime } from '../../src/engine/runtimes/tfjs/layersRuntime';
import { buildMobileNetV2, buildResNet18, buildSmallResidual } from '../fixtures/architectures';
import { cleanupTempDirs, relativeError, saveToTemp, seedFor, tempDir } from './helpers';

before(async () => {
  await initBackend();
});
after(cleanupTempDirs);

describe('labels beside the model', () => {
  const cases: [string, string, string[]][] = [
    ['labels.txt', 'cat\r\ndog\nbird\n\n', ['cat', 'dog', 'bird']],
    ['labels.json', JSON.stringify(['cat', 'dog', 'bird']), ['cat', 'dog', 'bird']],
    ['labels.json', JSON.stringify({ 2: 'bird', 0: 'cat', 1: 'dog' }), ['cat', 'dog', 'bird']],
    ['metadata.json', JSON.stringify({ tfjsVersion: '1.3.1', labels: ['cat', 'dog', 'bird'] }), ['cat', 'dog', 'bird']],
  ];
  for (const [file, text, expected] of cases) {
    it(`${file}: ${text.slice(0, 40)}`, () => {
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, file), text);
      assert.deepEqual(readLabels(dir)?.names, expected);
    });
  }
  it('no labels file: none', () => assert.equal(readLabels(tempDir()), undefined));
  it('a labels.json that is not labels is an error naming it', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'labels.json'), '{"a": 1}');
    assert.throws(() => readLabels(dir), (e: Error) => e instanceof UserError && e.message.includes('labels.json') && /does not hold labels/.test(e.message));
  });
  it('a label count that does not match the classes is ignored with a warning', async () => {
    const dir = await saveToTemp(buildSmallResidual({ classes: 5 }));
    fs.writeFileSync(path.join(dir, 'labels.txt'), 'a\nb\n');
    const ex = await Explainer.open(dir);
    assert.match(ex.summary().warnings.join(), /has 2 labels but the model has 5 classes/);
    assert.equal(ex.labelOf(3), 'class 3');
    ex.dispose();
  });
});

describe('built-in ImageNet class names', () => {
  /** A tiny 1000-class model: 4×4 grayscale in, one dense layer out. */
  const thousandClasses = () => {
    const m = tf.sequential();
    m.add(tf.layers.flatten({ inputShape: [4, 4, 1] }));
    m.add(tf.layers.dense({ units: 1000, kernelInitializer: 'glorotUniform' }));
    return saveToTemp(m);
  };
  const settings = (dir: string, json: unknown) => fs.writeFileSync(path.join(dir, 'saliency-lens.json'), JSON.stringify(json));

  it('"labels": "imagenet" in saliency-lens.json names the 1000 classes in torchvision\'s order', async () => {
    const dir = await thousandClasses();
    settings(dir, { labels: 'imagenet' });
    const ex = await Explainer.open(dir);
    assert.deepEqual([ex.labelOf(0), ex.labelOf(1), ex.labelOf(281), ex.labelOf(999)], ['tench', 'goldfish', 'tabby', 'toilet tissue']);
    assert.equal(ex.summary().warnings.length, 0);
    assert.equal(await ex.resolveTarget('tabby', 0), 281, 'classes can be asked for by name');
    ex.dispose();
  });

  it('without labels, a 1000-class model says how to name its classes; a labels file wins over the setting; the option wins over both', async () => {
    const dir = await thousandClasses();
    let ex = await Explainer.open(dir);
    assert.match(ex.summary().warnings.join(), /1000 classes and no labels file.*"labels": "imagenet"/);
    assert.equal(ex.labelOf(5), 'class 5');
    ex.dispose();
    settings(dir, { labels: 'imagenet', preprocessing: 'unit' });
    fs.writeFileSync(path.join(dir, 'labels.txt'), Array.from({ length: 1000 }, (_, i) => `mine ${i}`).join('\n'));
    ex = await Explainer.open(dir);
    assert.equal(ex.labelOf(5), 'mine 5');
    ex.dispose();
    ex = await Explainer.open(dir, { labels: 'imagenet' });
    assert.equal(ex.labelOf(5), 'electric ray');
    ex.dispose();
  });

  it('ImageNet names on a model without 1000 classes are ignored with a warning; an unknown name set is an error naming the file', async () => {
    const dir = await saveToTemp(buildSmallResidual({ classes: 5 }));
    settings(dir, { labels: 'imagenet' });
    const ex = await Explainer.open(dir);
    assert.match(ex.summary().warnings.join(), /1000 labels but the model has 5 classes/);
    assert.equal(ex.labelOf(0), 'class 0');
    ex.dispose();
    settings(dir, { labels: 'coco' });
    await assert.rejects(Explainer.open(dir), (e: Error) => e instanceof UserError && e.message.includes('saliency-lens.json') && /"coco"/.test(e.message));
  });
});

describe('outputs', () => {
  it('a model with two outputs explains the first by default and the one chosen by name', async () => {
    const input = tf.input({ shape: [8, 8, 3] });
    const features = tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', name: 'features', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
    const flat = tf.layers.flatten().apply(features) as tf.SymbolicTensor;
    const main = tf.layers.dense({ units: 3, activation: 'softmax', name: 'main', kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }).apply(flat) as tf.SymbolicTensor;
    const aux = tf.layers.dense({ units: 7, name: 'aux', kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) }).apply(flat) as tf.SymbolicTensor;
    const dir = await saveToTemp(tf.model({ inputs: input, outputs: [main, aux] }));
    const first = await Explainer.open(dir);
    assert.equal(first.runtime.outputName, 'main');
    assert.equal(first.runtime.numClasses, 3);
    assert.equal(first.runtime.outputActivation, 'softmax');
    const second = await Explainer.open(dir, { output: 'aux' });
    assert.equal(second.runtime.numClasses, 7);
    assert.equal(second.runtime.outputActivation, 'none');
    const x = tf.randomUniform([1, 8, 8, 3], 0, 1, 'float32', 4);
    assert.equal((await second.explainTensor(x, { target: 6 })).target.index, 6);
    await assert.rejects(Explainer.open(dir, { output: 'nope' }), (e: Error) => e instanceof UserError && /no output "nope"; its outputs are: main, aux/.test(e.message));
    x.dispose();
    first.dispose();
    second.dispose();
  });
});

describe('output heads', () => {
  it('a softmax over part of the output is refused with a clear sentence', async () => {
    const input = tf.input({ shape: [4, 4, 3] });
    const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
    const dense = tf.layers.dense({ units: 6 }).apply(flat) as tf.SymbolicTensor;
    const grid = tf.layers.reshape({ targetShape: [2, 3] }).apply(dense) as tf.SymbolicTensor;
    const out = tf.layers.activation({ activation: 'softmax' }).apply(grid) as tf.SymbolicTensor;
    const dir = await saveToTemp(tf.model({ inputs: input, outputs: out }));
    await assert.rejects(Explainer.open(dir), (e: Error) => e instanceof UserError && /softmax runs over part of its output \(shape \[2,3\]\)/.test(e.message));
  });
});

describe('fused and layer-by-layer execution agree', () => {
  for (const [name, build] of [
    ['ResNet-18 shape', () => buildResNet18({ inputSize: 64, classes: 8, seed: 3 })],
    ['MobileNetV2 shape', () => buildMobileNetV2({ inputSize: 64, classes: 8, seed: 4 })],
  ] as const) {
    it(`${name}: logits, input gradients, and Grad-CAM at a layer inside a fused block`, async () => {
      const model = build();
      const fused = new LayersRuntime(model);
      const plain = new LayersRuntime(model, { fuse: false });
      const x = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 5);
      const seed = seedFor(8, 2);
      const run = async (rt: LayersRuntime, keep: string[] = []) => {
        const trace = await rt.trace(x, keep);
        const logits = trace.logits.dataSync().slice();
        const grad = (await trace.vjp(seed, ['input'])).get('input')!;
        const g = grad.dataSync().slice();
        grad.dispose();
        trace.dispose();
        return { logits, g };
      };
      const a = await run(fused);
      const b = await run(plain);
      assert.ok(relativeError(a.logits, b.logits) < 1e-5, 'logits');
      assert.ok(relativeError(a.g, b.g) < 1e-4, 'input gradients');
      // A batch-norm output exists only layer by layer: keeping it switches plans transparently.
      const hidden = name.startsWith('ResNet') ? 'conv2_block1_1_bn' : 'block_1_expand_BN';
      const trace = await fused.trace(x, [hidden]);
      const grad = (await trace.vjp(seed, [hidden])).get(hidden)!;
      assert.equal(grad.shape.length, 4);
      assert.ok(grad.abs().max().dataSync()[0] > 0);
      grad.dispose();
      trace.dispose();
      x.dispose();
      seed.dispose();
      plain.dispose();
    });
  }
});
