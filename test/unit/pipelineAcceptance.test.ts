/**
 * Issue 14's acceptance: a torchvision-trained classifier, opened with the `torchvision` preset, sees what PyTorch
 * saw. test/fixtures/pipelines/acceptance.onnx is a small conv/bn/relu/pool/linear CNN (seeded, 10 classes, its
 * last layer scaled so the softmax is not flat); scripts/preprocess/write_pipeline_fixtures.py ran chelsea.png
 * through torchvision's own Compose([Resize(256), CenterCrop(224), ToTensor(), Normalize]) and the model in torch,
 * and stored the softmax top-5. The engine must give the same five classes within 1e-4 and name the torchvision
 * crop as the part of the photo the explanation covers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/backend';
import { Explainer, type ImageExplanation } from '../../src/engine/explain';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'pipelines');

interface Acceptance {
  model: string;
  photo: string;
  preprocessing: string;
  input: { layout: string; shape: number[] };
  classes: number;
  top5: [number, number][];
  cropBox: { x: number; y: number; width: number; height: number };
  neighbours: Record<string, number>;
}

const ref = (JSON.parse(fs.readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8')) as { acceptance: Acceptance }).acceptance;
const photo = path.join(FIXTURES, 'photos', ref.photo);

describe('acceptance: a torchvision classifier with the torchvision preset predicts as in PyTorch', () => {
  let ex: Explainer;
  let explanation: ImageExplanation;
  before(async () => {
    await initBackend();
    ex = await Explainer.open(path.join(FIXTURES, ref.model), { preprocessing: ref.preprocessing });
    explanation = await ex.explainFile(photo, { methods: ['saliency'] });
  });
  after(() => ex?.dispose());

  it('reads the model as PyTorch exported it: NCHW 3×224×224, 10 classes', () => {
    assert.equal(ex.runtime.kind, 'onnx');
    const [, c, h, w] = ref.input.shape;
    assert.deepEqual(ex.runtime.inputShape, [h, w, c], 'the engine holds images channels-last');
    assert.equal(ex.runtime.numClasses, ref.classes);
    assert.deepEqual(ex.imageSpec, { height: 224, width: 224, channels: 3 });
  });

  it('the top-5 classes are PyTorch\'s, their probabilities within 1e-4', (t) => {
    const ours = explanation.predictions.slice(0, 5);
    assert.deepEqual(ours.map((p) => p.index), ref.top5.map(([i]) => i), 'top-5 classes, in order');
    const worst = Math.max(...ours.map((p, k) => Math.abs(p.probability - ref.top5[k][1])));
    t.diagnostic(`max |p − p_torch| over the top 5: ${worst.toExponential(2)} (top-1 ${ref.top5[0][0]} at ${ref.top5[0][1].toFixed(4)})`);
    assert.ok(worst <= 1e-4, `probabilities ${worst} off PyTorch's`);
  });

  it('the explanation covers torchvision\'s crop: 224 of the 384×256 resize at (80, 16), in the photo\'s pixels', () => {
    const r = explanation.inputRegion;
    assert.equal(r.covers, 'crop');
    // Hand-computed: Resize(256) makes 451×300 into 384×256 (int(256·451/300) = 384); CenterCrop(224) starts at
    // round((384−224)/2) = 80, round((256−224)/2) = 16; one resized pixel is 451/384 × 300/256 photo pixels.
    const byHand = { x: (80 * 451) / 384, y: (16 * 300) / 256, width: (224 * 451) / 384, height: (224 * 300) / 256 };
    for (const key of ['x', 'y', 'width', 'height'] as const) {
      assert.ok(Math.abs(r[key] - byHand[key]) < 1e-9, `${key}: ${r[key]}, by hand ${byHand[key]}`);
      assert.ok(Math.abs(r[key] - ref.cropBox[key]) < 1e-9, `${key}: ${r[key]}, the script's ${ref.cropBox[key]}`);
    }
    assert.deepEqual({ width: explanation.image.width, height: explanation.image.height }, { width: 451, height: 300 });
  });

  it('the test can fail: a wrong input moves the probabilities far beyond 1e-4', async () => {
    // Measured in PyTorch by the script: a crop one pixel over, torch's tensor resize without antialiasing, a stretch.
    for (const [what, delta] of Object.entries(ref.neighbours)) assert.ok(delta > 1e-3, `${what}: only ${delta}`);
    // And in the engine: the historic stretch with the same ImageNet affine.
    const stretched = await Explainer.open(path.join(FIXTURES, ref.model), { preprocessing: 'imagenet' });
    try {
      const p = (await stretched.explainFile(photo, { methods: ['saliency'] })).predictions;
      const byIndex = new Map(p.map((q) => [q.index, q.probability]));
      const moved = Math.max(...ref.top5.map(([i, prob]) => Math.abs((byIndex.get(i) ?? 0) - prob)));
      assert.ok(moved > 1e-3, `the stretch moves the top-5 probabilities by only ${moved}`);
    } finally {
      stretched.dispose();
    }
  });
});
