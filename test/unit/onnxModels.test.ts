/**
 * Whole models exported from PyTorch (test/fixtures/onnx, written by scripts/onnx/export_fixtures.py):
 * our logits, input gradients, contrast gradient and Grad-CAM tensor gradients against PyTorch autograd,
 * and the engine's Grad-CAM map against one computed by hand from PyTorch's activation and gradient.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { Explainer } from '../../src/engine/explain';
import { gradcamMap } from '../../src/engine/methods/gradcam';
import { pearson, perPixelSaliency, relativeError } from './helpers';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'onnx');

interface Reference {
  model: string;
  inputShape: number[];
  inputLayout: 'NCHW' | 'NHWC';
  input: number[];
  logits: number[];
  classes: number[];
  saliency_grad: { class: number; grad: number[] }[];
  contrast: { a: number; b: number; grad: number[] };
  gradcam: { tensor: string; node: string; op: string; shape: number[]; activation: number[]; grads: { class: number; grad: number[] }[] };
}

const names = fs.existsSync(FIXTURES) ? fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.ref.json')).map((f) => f.slice(0, -'.ref.json'.length)) : [];

function assertClose(ours: ArrayLike<number>, ref: ArrayLike<number>, what: string): void {
  const r = pearson(ours, ref);
  const err = relativeError(ours, ref);
  assert.ok(r >= 0.9999, `${what}: Pearson r ${r}`);
  assert.ok(err <= 1e-4, `${what}: max relative error ${err.toExponential(2)}`);
}

/** [1,C,H,W] row-major → [1,H,W,C]. */
function toNhwc(v: ArrayLike<number>, [, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(v.length);
  for (let ci = 0; ci < c; ci++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) out[(y * w + x) * c + ci] = v[(ci * h + y) * w + x];
    }
  }
  return out;
}

/** Grad-CAM by hand from an NCHW activation and gradient: ReLU(Σ_k mean(G_k)·A_k). */
function gradcamByHand(act: number[], grad: number[], [, k, h, w]: number[]): Float32Array {
  const map = new Float32Array(h * w);
  for (let c = 0; c < k; c++) {
    let alpha = 0;
    for (let i = 0; i < h * w; i++) alpha += grad[c * h * w + i] / (h * w);
    for (let i = 0; i < h * w; i++) map[i] += alpha * act[c * h * w + i];
  }
  return map.map((v) => Math.max(0, v));
}

before(async () => {
  await initBackend();
});

describe('ONNX sessions', () => {
  it('more layers than sessions kept: each Grad-CAM still answers, and equals its first answer', async () => {
    const ex = await Explainer.open(path.join(FIXTURES, 'tiny_mobilenetv2.onnx'));
    try {
      const layers = ex.runtime.spatialLayers().map((c) => c.name);
      assert.ok(layers.length > 8, `${layers.length} candidates`);
      const x = tf.randomNormal([1, ...ex.runtime.inputShape], 0, 1, 'float32', 3);
      const first = new Map<string, Float32Array>();
      for (const round of [0, 1]) {
        for (const layer of layers) {
          const map = (await ex.explainTensor(x, { methods: ['gradcam'], layer, target: 1 })).maps[0];
          if (round === 0) first.set(layer, map.data);
          else assert.ok(relativeError(map.data, first.get(layer)!) <= 1e-6, layer);
        }
      }
      x.dispose();
    } finally {
      ex.dispose();
    }
  });
});

describe('ONNX models exported from PyTorch match autograd', () => {
  it('the fixtures are there', () => assert.ok(names.length > 0, `no *.ref.json in ${FIXTURES}`));
  for (const name of names) {
    describe(name, () => {
      const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.ref.json`), 'utf8')) as Reference;
      const nchw = ref.inputLayout === 'NCHW';
      const layoutOf = (v: ArrayLike<number>, shape: number[]) => (nchw ? toNhwc(v, shape) : Float32Array.from(v));
      let ex: Explainer;
      let x: tf.Tensor;
      before(async () => {
        ex = await Explainer.open(path.join(FIXTURES, ref.model));
        x = tf.tensor(layoutOf(ref.input, ref.inputShape), [1, ...ex.runtime.inputShape]);
      });
      after(() => {
        x?.dispose();
        ex?.dispose();
      });
      const seed = (values: [number, number][]) => {
        const s = new Float32Array(ex.runtime.numClasses);
        for (const [c, v] of values) s[c] += v;
        return tf.tensor2d(s, [1, s.length]);
      };

      it('reads the input layout and shape', () => {
        assert.equal(ex.runtime.kind, 'onnx');
        const [, a, b, c] = ref.inputShape;
        assert.deepEqual(ex.runtime.inputShape, nchw ? [b, c, a] : [a, b, c]);
        assert.equal(ex.preprocessing.preset, nchw && a === 3 ? 'imagenet' : 'unit');
      });

      it('logits', async () => {
        const trace = await ex.runtime.trace(x);
        assertClose(trace.logits.dataSync(), ref.logits, 'logits');
        trace.dispose();
      });

      it('input gradients of two classes and of their difference', async () => {
        const trace = await ex.runtime.trace(x);
        const cases: [string, [number, number][], number[]][] = [
          ...ref.saliency_grad.map((s): [string, [number, number][], number[]] => [`class ${s.class}`, [[s.class, 1]], s.grad]),
          [`logit ${ref.contrast.a} − logit ${ref.contrast.b}`, [[ref.contrast.a, 1], [ref.contrast.b, -1]], ref.contrast.grad],
        ];
        for (const [what, values, expected] of cases) {
          const s = seed(values);
          const g = (await trace.vjp(s, ['input'])).get('input')!;
          assert.deepEqual(g.shape, [1, ...ex.runtime.inputShape]);
          assertClose(g.dataSync(), layoutOf(expected, ref.inputShape), what);
          tf.dispose([s, g]);
        }
        trace.dispose();
      });

      it(`Grad-CAM tensor ${ref.gradcam.tensor}: activation, gradients, and the engine's map`, async () => {
        const cam = ref.gradcam;
        assert.ok(ex.runtime.spatialLayers().some((c) => c.name === cam.node), `${cam.node} is not a Grad-CAM candidate`);
        // By node name and by tensor name: both name the same tensor.
        for (const layer of [cam.node, cam.tensor]) {
          const trace = await ex.runtime.trace(x, [layer]);
          assertClose(trace.activation(layer).dataSync(), toNhwc(cam.activation, cam.shape), `${layer} activation`);
          for (const g of cam.grads) {
            const s = seed([[g.class, 1]]);
            const grad = (await trace.vjp(s, [layer])).get(layer)!;
            assertClose(grad.dataSync(), toNhwc(g.grad, cam.shape), `${layer} gradient of class ${g.class}`);
            const map = gradcamMap(trace.activation(layer), grad, layer);
            grad.dispose();
            assert.deepEqual([map.height, map.width], cam.shape.slice(2));
            const expected = gradcamByHand(cam.activation, g.grad, cam.shape);
            assert.ok(relativeError(map.data, expected) <= 1e-4, `Grad-CAM map of class ${g.class}: ${relativeError(map.data, expected)}`);
            if (expected.some((v) => v > 0)) assert.ok(pearson(map.data, expected) >= 0.9999, `Grad-CAM map of class ${g.class}`);
            s.dispose();
          }
          trace.dispose();
        }
      });

      it('one run predicts, picks the top class inside the run, and gives PyTorch\'s saliency and Grad-CAM for it', async () => {
        assert.ok(ex.runtime.explainPass, 'the ONNX runtime explains in one pass');
        const cam = ref.gradcam;
        const top = ref.logits.indexOf(Math.max(...ref.logits));
        for (const target of [undefined, top, ref.classes[1]]) {
          const c = target ?? top;
          const result = await ex.explainTensor(x, { layer: cam.node, target });
          assert.equal(result.target.index, c);
          assert.equal(result.predictions[0].index, top);
          const [saliencyMap, camMap] = result.maps;
          // Saliency: per pixel, the largest |∂S_c/∂x| over channels, from PyTorch's gradient.
          const grad = layoutOf(ref.saliency_grad.find((s) => s.class === c)!.grad, ref.inputShape);
          const expected = perPixelSaliency(grad, ex.runtime.inputShape[2]);
          assert.ok(relativeError(saliencyMap.data, expected) <= 1e-4, `saliency of class ${c}: ${relativeError(saliencyMap.data, expected)}`);
          const camExpected = gradcamByHand(cam.activation, cam.grads.find((g) => g.class === c)!.grad, cam.shape);
          assert.ok(relativeError(camMap.data, camExpected) <= 1e-4, `Grad-CAM of class ${c}: ${relativeError(camMap.data, camExpected)}`);
        }
      });

      it('comparing classes (all seeds in one backward run) gives each class\'s own maps, and PyTorch\'s contrast', async () => {
        const cam = ref.gradcam;
        const [a, b] = [ref.contrast.a, ref.contrast.b];
        for (const method of ['saliency', 'gradcam'] as const) {
          const compared = await ex.compareTensor(x, { classes: ref.classes, method, layer: cam.node, contrast: [a, b] });
          for (const [i, c] of ref.classes.entries()) {
            const single = (await ex.explainTensor(x, { methods: [method], layer: cam.node, target: c })).maps[0];
            assert.ok(relativeError(compared.maps[i].data, single.data) <= 1e-5, `${method} of class ${c}`);
          }
          if (method === 'saliency') {
            const grad = layoutOf(ref.contrast.grad, ref.inputShape);
            // Signed: per pixel the channel with the largest |∂(S_a − S_b)/∂x|, with its sign.
            const expected = perPixelSaliency(grad, ex.runtime.inputShape[2], true);
            assert.deepEqual(compared.contrast!.classes, [a, b]);
            assert.ok(compared.contrast!.map.signed, 'the saliency contrast keeps its sign');
            assert.ok(relativeError(compared.contrast!.map.data, expected) <= 1e-4, `saliency of S_${a} − S_${b}`);
          }
        }
      });

      it('the Explainer draws the same Grad-CAM, the layer named by node or by tensor', async () => {
        const cam = ref.gradcam;
        for (const layer of [cam.node, cam.tensor]) {
          for (const g of cam.grads) {
            const result = await ex.explainTensor(x, { methods: ['gradcam'], layer, target: g.class });
            const map = result.maps[0];
            assert.equal(map.layer, cam.node);
            const expected = gradcamByHand(cam.activation, g.grad, cam.shape);
            assert.ok(relativeError(map.data, expected) <= 1e-4, `${layer}, class ${g.class}: ${relativeError(map.data, expected)}`);
          }
        }
      });
    });
  }
});
