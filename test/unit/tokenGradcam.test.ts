/**
 * Grad-CAM on transformer-shaped models (test/fixtures/onnx/tokens, written by
 * scripts/onnx/export_token_fixtures.py from torchvision's ViT, Swin and ConvNeXt at tiny widths): our maps
 * against the reshape-transform Grad-CAM computed by hand in PyTorch, the patch grid read from the model
 * at its input size, and the automatic layer of class-token models.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { tokenFixtureImage } from '../fixtures/tokenImage';
import { Explainer } from '../../src/engine/explain';
import { OnnxRuntime } from '../../src/engine/runtimes/onnx/onnxRuntime';
import { tokenGridOf } from '../../src/engine/runtimes/onnx/tokenGrid';
import { torchModulePath } from '../../src/shared/layerNames';
import { pearson, relativeError } from './helpers';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'onnx', 'tokens');

interface Reference {
  model: string;
  inputSize: [number, number];
  patch: number;
  grid: [number, number];
  special: number | null;
  logits: number[];
  class: number;
  cams: { layer: string; kind: string; height: number; width: number; channels: number; map: number[] }[];
  blank: string[];
}

const reference = (name: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.ref.json`), 'utf8')) as Reference;

const image = tokenFixtureImage;

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

before(async () => {
  await initBackend();
});

describe('token grids', () => {
  const vitB16 = { node: 'conv', patch: [16, 16] as [number, number], height: 14, width: 14 };
  it('a ViT-B/16 block output: the class token dropped, 14×14 patches', () => {
    assert.deepEqual(tokenGridOf([1, 197, 768], vitB16), { skip: 1, height: 14, width: 14, channels: 768, tokens: 197 });
  });
  it('class and register tokens are dropped (DINOv2 with 4 registers: 5 special tokens)', () => {
    assert.deepEqual(tokenGridOf([1, 201, 384], vitB16), { skip: 5, height: 14, width: 14, channels: 384, tokens: 201 });
  });
  it('not tokens: channels-first [1, C, h·w], attention weights [1, T, T], a batch axis other than 1', () => {
    assert.equal(tokenGridOf([1, 768, 196], vitB16), undefined);
    assert.equal(tokenGridOf([1, 197, 197], vitB16), undefined);
    assert.equal(tokenGridOf([197, 1, 768], vitB16), undefined);
  });
  it('hierarchical models: the patch grid merged 2, 4, 8 fold, no special tokens', () => {
    const swin = { node: 'conv', patch: [4, 4] as [number, number], height: 56, width: 56 };
    assert.deepEqual(tokenGridOf([1, 49, 768], swin), { skip: 0, height: 7, width: 7, channels: 768, tokens: 49 });
    assert.deepEqual(tokenGridOf([1, 784, 192], swin), { skip: 0, height: 28, width: 28, channels: 192, tokens: 784 });
  });
});

describe('PyTorch module paths from torch.onnx.export node names', () => {
  it('reads scopes, containers repeating their parent name', () => {
    assert.equal(torchModulePath('/encoder/layers/encoder_layer_11/ln_1/LayerNormalization'), 'encoder.layers.encoder_layer_11.ln_1');
    assert.equal(torchModulePath('/features/features.1/features.1.0/norm1/LayerNormalization'), 'features.1.0.norm1');
    assert.equal(torchModulePath('/layer4/layer4.1/relu_1/Relu'), 'layer4.1.relu_1');
    assert.equal(torchModulePath('/Gather'), undefined);
    assert.equal(torchModulePath('conv1'), undefined);
  });
});

const FIXTURE_NAMES = ['vit_p16', 'vit_p8_reg', 'vit_p32', 'swin', 'convnext'];

describe('Grad-CAM at token and channels-last layers equals the reshape transform by hand in PyTorch', () => {
  for (const name of FIXTURE_NAMES) {
    describe(name, () => {
      const ref = reference(name);
      let ex: Explainer;
      let x: tf.Tensor;
      before(async () => {
        ex = await Explainer.open(path.join(FIXTURES, ref.model));
        x = image(...ref.inputSize);
      });
      after(() => {
        x?.dispose();
        ex?.dispose();
      });

      it('logits', async () => {
        const trace = await ex.runtime.trace(x);
        const logits = trace.logits.dataSync();
        trace.dispose();
        assert.ok(pearson(logits, ref.logits) >= 0.9999 && relativeError(logits, ref.logits) <= 1e-4, `${relativeError(logits, ref.logits)}`);
      });

      for (const cam of ref.cams) {
        it(`${cam.layer} (${cam.kind}): ${cam.height}×${cam.width} map`, async () => {
          const map = (await ex.explainTensor(x, { methods: ['gradcam'], layer: cam.layer, target: ref.class })).maps[0];
          assert.deepEqual([map.height, map.width], [cam.height, cam.width]);
          const r = pearson(map.data, cam.map);
          let diff = 0;
          for (let i = 0; i < cam.map.length; i++) diff = Math.max(diff, Math.abs(map.data[i] - cam.map[i]));
          assert.ok(r >= 0.999, `Pearson r ${r}`);
          assert.ok(diff <= 1e-3 * maxAbs(cam.map), `max difference ${diff} for maps up to ${maxAbs(cam.map)}`);
          const layer = ex.runtime.spatialLayers().find((l) => l.name === map.layer)!;
          assert.equal(layer.channels, cam.channels);
        });
      }
    });
  }
});

describe('the patch grid is read from the patch embedding at the input size', () => {
  for (const name of ['vit_p16', 'vit_p8_reg', 'vit_p32']) {
    const ref = reference(name);
    it(`${name}: ${ref.inputSize.join('×')} input, patch ${ref.patch} → ${ref.grid.join('×')} grid, ${ref.special} special token(s)`, async () => {
      const ex = await Explainer.open(path.join(FIXTURES, ref.model));
      const x = image(...ref.inputSize);
      try {
        const rt = ex.runtime as OnnxRuntime;
        assert.deepEqual(rt.inputShape, [...ref.inputSize, 3]);
        const embed = rt.patchEmbedding!;
        assert.deepEqual([embed.patch, embed.height, embed.width], [[ref.patch, ref.patch], ...ref.grid]);
        const tokenLayers = rt.spatialLayers().filter((l) => l.name.startsWith('/encoder/layers/'));
        assert.ok(tokenLayers.length >= 10, `${tokenLayers.length} token layers`);
        for (const l of tokenLayers) assert.deepEqual([l.height, l.width], ref.grid, l.name);
        // Handed out as [1, h, w, C] with the special tokens gone: activation and gradient alike.
        const layer = rt.canonicalLayerName('encoder.layers.encoder_layer_0')!;
        const trace = await rt.trace(x, [layer]);
        const seed = tf.oneHot([ref.class], rt.numClasses).toFloat() as tf.Tensor2D;
        const grad = (await trace.vjp(seed, [layer])).get(layer)!;
        const channels = tokenLayers.find((l) => l.name === layer)!.channels;
        assert.deepEqual(trace.activation(layer).shape, [1, ...ref.grid, channels]);
        assert.deepEqual(grad.shape, [1, ...ref.grid, channels]);
        trace.dispose();
        seed.dispose();
        grad.dispose();
      } finally {
        x.dispose();
        ex.dispose();
      }
    });
  }
});

describe('the automatic layer', () => {
  for (const name of ['vit_p16', 'vit_p8_reg', 'vit_p32']) {
    const ref = reference(name);
    it(`${name} (class-token head): not the last block's output, whose Grad-CAM is blank, but the norm before the last attention`, async () => {
      const ex = await Explainer.open(path.join(FIXTURES, ref.model));
      const x = image(...ref.inputSize);
      try {
        const rt = ex.runtime as OnnxRuntime;
        const auto = rt.defaultSpatialLayer()!;
        assert.equal(torchModulePath(auto), 'encoder.layers.encoder_layer_1.ln_1');
        const [blankLayer] = ref.blank;
        const lastBlock = rt.canonicalLayerName(blankLayer)!;
        assert.ok(lastBlock && lastBlock !== auto, lastBlock);
        const result = await ex.explainTensor(x, { methods: ['gradcam'], target: ref.class });
        const map = result.maps[0];
        assert.equal(map.layer, auto);
        const expected = ref.cams.find((c) => c.layer === 'encoder.layers.encoder_layer_1.ln_1')!.map;
        assert.ok(maxAbs(map.data) > 0 && Math.min(...map.data) < Math.max(...map.data), 'the automatic map is blank');
        assert.ok(pearson(map.data, expected) >= 0.999, `${pearson(map.data, expected)}`);
        // What PyTorch says of the last block: its patch tokens get no gradient, so its map is blank.
        const blank = (await ex.explainTensor(x, { methods: ['gradcam'], layer: blankLayer, target: ref.class })).maps[0];
        assert.equal(maxAbs(blank.data), 0);
        const reason = rt.defaultSpatialLayerReason()!;
        assert.match(reason, /^encoder\.layers\.encoder_layer_1\.ln_1: after it only the class token reaches the classifier/);
      } finally {
        x.dispose();
        ex.dispose();
      }
    });
  }

  for (const [name, module] of [['swin', 'norm'], ['convnext', 'features.3.1']]) {
    it(`${name} (average-pooled): the last layer before pooling, ${module}`, async () => {
      const ex = await Explainer.open(path.join(FIXTURES, `${name}.onnx`));
      try {
        const rt = ex.runtime as OnnxRuntime;
        assert.equal(rt.defaultSpatialLayer(), rt.canonicalLayerName(module));
        assert.match(rt.defaultSpatialLayerReason()!, new RegExp(`^${module.replace(/\./g, '\\.')}: the last layer before the classifier`));
      } finally {
        ex.dispose();
      }
    });
  }
});
