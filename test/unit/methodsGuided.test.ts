/**
 * Guided Backpropagation and Guided Grad-CAM against PyTorch (scripts/methods/guided_refs.py).
 *
 * The references follow Springenberg et al. 2015 as pytorch-grad-cam's GuidedBackpropReLU and Captum's
 * GuidedBackprop implement it: every nn.ReLU passes back grad_out·(input > 0)·(grad_out > 0), other
 * activations (guided_vgg's ReLU6, an ONNX Clip) keep their ordinary gradient. Guided Grad-CAM follows
 * Selvaraju et al. 2017 §3.2: the guided gradient times the raw Grad-CAM upsampled bilinearly
 * (align_corners=False) to the input, channel by channel; our maps then reduce each pixel like saliency
 * (max |·| over channels, or the signed value there). The inputs keep every ReLU and max-pool window
 * away from a kink (kinkMargin), so the gradients must agree to float32 rounding.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { UserError } from '../../src/engine/errors';
import { Explainer } from '../../src/engine/explain';
import { cleanupTempDirs, openModel, perPixelSaliency, relativeError } from './helpers';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'methods');
const TOL = 1e-4;

interface GuidedRef {
  class: number;
  inputShape: number[];
  kinkMargin: number;
  layer: { tensor: string; shape: number[] };
  input: number[];
  logits: number[];
  guided: number[];
  gradcam: number[];
  guidedGradcam: number[];
}

before(async () => {
  await initBackend();
});
after(cleanupTempDirs);

/** NCHW [1, C, H, W] values → NHWC, as the engine lays inputs and gradients out. */
function toNhwc(values: ArrayLike<number>, [, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(values.length);
  for (let ci = 0; ci < c; ci++) {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(y * w + x) * c + ci] = values[(ci * h + y) * w + x];
  }
  return out;
}

for (const name of ['guided_resnet', 'guided_vgg']) {
  describe(`${name}: Guided Backprop and Guided Grad-CAM equal PyTorch`, () => {
    const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as GuidedRef;
    const [, channels, height, width] = ref.inputShape;
    let ex: Explainer;
    let x: tf.Tensor;
    before(async () => {
      ex = await Explainer.open(path.join(FIXTURES, `${name}.onnx`));
      x = tf.tensor(toNhwc(ref.input, ref.inputShape), [1, height, width, channels]);
    });
    after(() => {
      x.dispose();
      ex.runtime.dispose();
    });

    it('the raw guided input gradient', async () => {
      const seed = tf.oneHot([ref.class], ex.runtime.numClasses).toFloat() as tf.Tensor2D;
      const { logits, gradient } = await ex.runtime.gradientBatch!(x, seed, { guided: true });
      assert.ok(relativeError(logits, ref.logits) <= TOL, 'logits');
      const err = relativeError(gradient.dataSync(), toNhwc(ref.guided, ref.inputShape));
      assert.ok(err <= TOL, `guided gradient: relative error ${err.toExponential(2)}`);
      // The guided rule changed something: the ordinary gradient is far from it.
      const plain = await ex.runtime.gradientBatch!(x, seed);
      assert.ok(relativeError(plain.gradient.dataSync(), toNhwc(ref.guided, ref.inputShape)) > 1e-2, 'guided equals the ordinary gradient');
      tf.dispose([seed, gradient, plain.gradient]);
    });

    it('the maps, unsigned and signed, with no tensor left behind', async () => {
      const guided = toNhwc(ref.guided, ref.inputShape);
      const product = toNhwc(ref.guidedGradcam, ref.inputShape);
      for (const signed of [false, true]) {
        const before = tf.memory().numTensors;
        const result = await ex.explainTensor(x, { methods: ['guided-backprop', 'guided-gradcam'], target: ref.class, layer: ref.layer.tensor, signed });
        assert.equal(tf.memory().numTensors, before, 'tensors leaked');
        const [gb, ggc] = result.maps;
        assert.equal(gb.method, 'guided-backprop');
        assert.equal(ggc.method, 'guided-gradcam');
        for (const map of [gb, ggc]) {
          assert.equal(map.width, width);
          assert.equal(map.height, height);
          assert.equal(map.signed, signed);
        }
        assert.deepEqual(ggc.layerSize, ref.layer.shape.slice(2));
        const gbErr = relativeError(gb.data, perPixelSaliency(guided, channels, signed));
        assert.ok(gbErr <= TOL, `guided backprop (signed ${signed}): relative error ${gbErr.toExponential(2)}`);
        const ggcErr = relativeError(ggc.data, perPixelSaliency(product, channels, signed));
        assert.ok(ggcErr <= TOL, `guided Grad-CAM (signed ${signed}): relative error ${ggcErr.toExponential(2)}`);
      }
    });
  });
}

describe('Guided Backpropagation on tfjs', () => {
  it('says plainly that it needs ONNX Runtime', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3, activation: 'relu' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3 }),
      ],
    });
    const ex = await openModel(model, { runtime: 'tfjs' });
    model.dispose();
    try {
      assert.notEqual(ex.runtime.kind, 'onnx');
      const x = tf.randomNormal([1, 8, 8, 1], 0, 1, 'float32', 3);
      for (const method of ['guided-backprop', 'guided-gradcam'] as const) {
        await assert.rejects(ex.explainTensor(x, { methods: [method], target: 0 }), (err: Error) => {
          assert.ok(err instanceof UserError, `not a UserError: ${err.message}`);
          assert.match(err.message, /^Guided (Backpropagation|Grad-CAM multiplies Grad-CAM with Guided Backpropagation, which) needs ONNX Runtime to change the ReLU gradient; this model runs on tfjs/);
          return true;
        });
      }
      x.dispose();
    } finally {
      ex.runtime.dispose();
    }
  });
});
