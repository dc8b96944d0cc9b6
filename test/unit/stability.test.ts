/**
 * Stability: a map that ignores its input is perfectly stable (1.0 by both measures); with no noise a deterministic
 * method is perfectly stable too; saliency on the bundled MNIST CNN is a correlation in (−1, 1), below 1 under
 * noise (the gradient moves), and the same twice with one seed. Bad options are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Explainer } from '../../src/engine/explain';
import { readImageFile } from '../../src/engine/image/decode';
import { mapStability, stability } from '../../src/engine/metrics/stability';
import { UserError } from '../../src/engine/errors';

const ROOT = path.join(__dirname, '..', '..');
const MODEL = path.join(ROOT, 'examples', 'mnist-cnn');
const DIGIT = path.join(ROOT, 'examples', 'digits', 'digit-3-4.png');

test('a map that ignores the input is perfectly stable (Spearman 1, SSIM 1)', async () => {
  const fixed = { width: 9, height: 8, data: Float32Array.from({ length: 72 }, (_, i) => Math.sin(i)) };
  const x = tf.randomUniform([1, 8, 9, 1], 0, 1, 'float32', 4);
  const seen: number[][] = [];
  try {
    const result = await mapStability(x, async (input) => {
      seen.push(Array.from(input.dataSync()));
      return fixed;
    }, { samples: 4, seed: 1 });
    assert.equal(result.spearman, 1);
    assert.equal(result.ssim, 1);
    assert.equal(result.samples.length, 4);
    // It was shown the input, then 4 distinct noisy copies of it.
    assert.equal(seen.length, 5);
    assert.deepEqual(seen[0], Array.from(x.dataSync()));
    for (let k = 1; k < 5; k++) assert.notDeepEqual(seen[k], seen[0]);
  } finally {
    x.dispose();
  }
});

test('noise: σ is the fraction of the input range, Gaussian, seeded per copy', async () => {
  const n = 4096;
  const x = tf.tensor(Float32Array.from({ length: n }, (_, i) => (i % 2 ? 2 : -2)), [1, n]);
  const copies: Float32Array[] = [];
  try {
    const result = await mapStability(x, async (input) => {
      copies.push(Float32Array.from(input.dataSync()));
      return { width: 8, height: 8, data: Float32Array.from({ length: 64 }, (_, i) => i) };
    }, { samples: 1, noise: 0.1, seed: 3 });
    assert.ok(Math.abs(result.sigma - 0.4) < 1e-6); // 0.1 × (2 − (−2))
    const d = copies[1].map((v, i) => v - copies[0][i]);
    const mean = d.reduce((a, b) => a + b, 0) / n;
    const sd = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
    // Sample σ of 4096 draws: within 5 % of 0.4 (its standard error is 1.1 %).
    assert.ok(Math.abs(sd - 0.4) < 0.02 && Math.abs(mean) < 0.03, `mean ${mean}, sd ${sd}`);
  } finally {
    x.dispose();
  }
});

test('saliency on the bundled MNIST CNN: stable at zero noise, in (−1, 1) under noise, seeded', async () => {
  const ex = await Explainer.open(MODEL);
  const x = ex.prepare(readImageFile(DIGIT));
  try {
    const still = await stability(ex, x, 'saliency', { samples: 2, noise: 0 });
    assert.equal(still.spearman, 1);
    assert.ok(Math.abs(still.ssim! - 1) < 1e-12);

    const before = tf.memory().numTensors;
    const result = await stability(ex, x, 'saliency', { samples: 3, seed: 7 });
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    assert.equal(result.classIndex, 3);
    assert.ok(result.spearman > -1 && result.spearman < 1, `spearman ${result.spearman}`);
    assert.ok(result.ssim! > -1 && result.ssim! < 1, `ssim ${result.ssim}`);
    const again = await stability(ex, x, 'saliency', { samples: 3, seed: 7 });
    assert.deepEqual(again, result);
    const other = await stability(ex, x, 'saliency', { samples: 3, seed: 8 });
    assert.notEqual(other.spearman, result.spearman);
  } finally {
    x.dispose();
    ex.dispose();
  }
});

test('bad stability options are refused with a UserError', async () => {
  const x = tf.zeros([1, 4]);
  const mapOf = async () => ({ width: 2, height: 2, data: [1, 2, 3, 4] });
  try {
    for (const opts of [{ samples: 0 }, { samples: 1.5 }, { samples: 1000 }, { noise: -0.1 }, { noise: 2 }, { noise: NaN }, { seed: 0.5 }]) {
      await assert.rejects(mapStability(x, mapOf, opts), UserError, JSON.stringify(opts));
    }
  } finally {
    x.dispose();
  }
});
