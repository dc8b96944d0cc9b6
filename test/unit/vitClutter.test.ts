/**
 * Where the engine's maps of a vision transformer point, on a model that has to find its object: the clutter ViT
 * (test/fixtures/onnx/vit-clutter, written by scripts/onnx/train_vit_clutter.py: one MNIST digit pasted on a
 * cluttered 64×64 canvas among fragments of other digits; torchvision VisionTransformer, patch 8, 4 blocks, 83.1%
 * held-out). Independent expectations, from the script: each canvas's label, PyTorch's predicted class, and the
 * digit's bounding box. Over the canvases PyTorch classifies correctly, each map (at 64×64; CAMs come at their
 * 8×8 layer and are upsampled as the panel draws them) is scored by
 *   - energy: the mean share of its positive mass inside the box over the mean share of the canvas the box covers
 *     (chance: 1×);
 *   - pointing: how often its maximum falls inside the box grown by one patch (8 px) on every side.
 * The thresholds sit below the figures measured on these 40 canvases (in the comments).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/backend';
import { Explainer, type ImageExplanation } from '../../src/engine/explain';
import type { AttributionMap } from '../../src/engine/methods/types';
import { layerLabel } from '../../src/shared/layerNames';
import type { MethodName } from '../../src/shared/methods';
import { bilinearResize } from '../../src/shared/resize';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'onnx', 'vit-clutter');
const CANVAS = 64;
const PATCH = 8;
const METHODS: MethodName[] = ['grad-rollout', 'rollout', 'gradcam', 'hirescam'];

interface Canvas {
  label: number;
  /** PyTorch's predicted class. */
  prediction: number;
  /** [x0, y0, x1, y1) in pixels. */
  box: [number, number, number, number];
}

const CANVASES = Object.entries(JSON.parse(fs.readFileSync(path.join(FIXTURE, 'held-out', 'boxes.json'), 'utf8')) as Record<string, Canvas>);
const CORRECT = CANVASES.filter(([, c]) => c.label === c.prediction);

/** The map at the canvas's 64×64, as the panel draws it. */
function atCanvasSize(map: AttributionMap): Float32Array {
  return map.width === CANVAS && map.height === CANVAS ? map.data : bilinearResize(map.data, map.width, map.height, CANVAS, CANVAS);
}

const inBox = (x: number, y: number, [x0, y0, x1, y1]: Canvas['box'], grow = 0) =>
  x >= x0 - grow && x < x1 + grow && y >= y0 - grow && y < y1 + grow;

/** The share of the map's positive mass inside the box, the box's share of the canvas, and whether the map's
 * maximum is inside the box grown by one patch. */
function score(map: AttributionMap, box: Canvas['box']): { share: number; area: number; hit: boolean } {
  const data = atCanvasSize(map);
  let inside = 0;
  let total = 0;
  let best = 0;
  for (let i = 1; i < data.length; i++) if (data[i] > data[best]) best = i;
  data.forEach((v, i) => {
    const positive = Math.max(0, v);
    total += positive;
    if (inBox(i % CANVAS, Math.floor(i / CANVAS), box)) inside += positive;
  });
  const area = ((box[2] - box[0]) * (box[3] - box[1])) / (CANVAS * CANVAS);
  return { share: total > 0 ? inside / total : 0, area, hit: inBox(best % CANVAS, Math.floor(best / CANVAS), box, PATCH) };
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

describe('the clutter ViT (test/fixtures/onnx/vit-clutter): where its maps point', () => {
  let ex: Explainer;
  const results = new Map<string, ImageExplanation>();
  before(async () => {
    await initBackend();
    ex = await Explainer.open(path.join(FIXTURE, 'model.onnx'));
    for (const [file] of CORRECT) results.set(file, await ex.explainFile(path.join(FIXTURE, 'held-out', file), { methods: METHODS }));
  });
  after(() => ex?.dispose());

  /** Energy (× chance) and pointing of one method over the correctly classified canvases. */
  function localisation(method: MethodName): { energy: number; pointing: number; text: string } {
    const scores = CORRECT.map(([file, c]) => {
      const map = results.get(file)!.maps.find((m) => m.method === method);
      assert.ok(map, `${method} map for ${file}`);
      const side = CANVAS / PATCH;
      assert.ok((map.width === CANVAS && map.height === CANVAS) || (map.width === side && map.height === side), `${method}: ${map.width}×${map.height}`);
      return score(map, c.box);
    });
    const energy = mean(scores.map((s) => s.share)) / mean(scores.map((s) => s.area));
    const pointing = mean(scores.map((s) => (s.hit ? 1 : 0)));
    return { energy, pointing, text: `${method}: energy ${energy.toFixed(2)}× chance, pointing ${pointing.toFixed(3)} over ${scores.length} canvases` };
  }

  it('holds 40 correctly and 10 wrongly classified canvases, and classifies every one as PyTorch did', async () => {
    assert.equal(CORRECT.length, 40);
    assert.equal(CANVASES.length - CORRECT.length, 10);
    for (const [file, c] of CANVASES) {
      const r = results.get(file) ?? (await ex.explainFile(path.join(FIXTURE, 'held-out', file), { methods: ['saliency'] }));
      assert.equal(r.target.index, c.prediction, `${file}: PyTorch predicted ${c.prediction}`);
    }
  });

  it('takes Grad-CAM\'s automatic layer at the last block\'s ln_1 (encoder.layers.encoder_layer_3.ln_1)', () => {
    const summary = ex.summary();
    assert.ok(summary.defaultSpatialLayer);
    assert.equal(layerLabel(summary.defaultSpatialLayer, summary.spatialLayers.map((l) => l.name)), 'encoder.layers.encoder_layer_3.ln_1');
  });

  it('gradient-weighted rollout puts the most energy in the digit\'s box and points at it', () => {
    // Measured: 6.07× chance (share 0.474 of the mass, the box 0.078 of the canvas), pointing 0.975.
    const r = localisation('grad-rollout');
    assert.ok(r.energy >= 3, r.text);
    assert.ok(r.pointing >= 0.8, r.text);
    // Rollout (3.27×) and Grad-CAM at the automatic layer (3.05×) put about half as much there.
    for (const other of ['rollout', 'gradcam'] as const) {
      const o = localisation(other);
      assert.ok(r.energy > 1.5 * o.energy, `${r.text}; ${o.text}`);
    }
  });

  it('rollout points at the digit', () => {
    // Measured: pointing 0.950 (energy 3.27× chance), though its map is the same for every class.
    const r = localisation('rollout');
    assert.ok(r.pointing >= 0.8, r.text);
  });

  it('HiResCAM at the automatic layer puts well over chance energy in the box', () => {
    // Measured: 4.76× chance, pointing 0.800.
    const r = localisation('hirescam');
    assert.ok(r.energy >= 2.5, r.text);
  });

  it('Grad-CAM at the automatic layer is above chance, but weak', () => {
    // Measured: 3.05× chance as the ratio of means, but a median per canvas of 2.45×, under chance on some canvases
    // (the lowest 0.37×), and pointing only 0.725 (gradient-weighted rollout: 0.975). The margin is wide on purpose:
    // this test says only that the automatic layer is not blind, not that Grad-CAM localises well here.
    const r = localisation('gradcam');
    assert.ok(r.energy >= 1.2, r.text);
  });
});
