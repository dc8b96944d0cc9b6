/**
 * The tfjs Layers runtime's batched forward pass: each row's logits equal a trace of that row alone, on
 * residual, nested and depthwise models (fused conv chains included), and nothing is left behind.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { LayersRuntime } from '../../src/engine/runtimes/tfjs/layersRuntime';
import { buildDepthwiseNet, buildNested, buildSmallResidual } from '../fixtures/architectures';
import { relativeError } from './helpers';

const MODELS = [
  ['residual', () => buildSmallResidual({ inputSize: 12, channels: 3, classes: 5, seed: 4 })],
  ['nested', () => buildNested({ inputSize: 12, classes: 4, seed: 5 })],
  ['depthwise', () => buildDepthwiseNet({ inputSize: 12, classes: 3, seed: 6 })],
] as const;

for (const [name, build] of MODELS) {
  test(`forwardBatch rows equal single traces: ${name}`, async () => {
    const model = build();
    const runtime = new LayersRuntime(model);
    const n = 5;
    const x = tf.randomNormal([n, ...runtime.inputShape], 0, 1, 'float32', 9);
    try {
      // The first pass may fill the runtime's derived-weight cache (fused kernels); the second must leave nothing.
      await runtime.forwardBatch(x);
      const before = tf.memory().numTensors;
      const batched = await runtime.forwardBatch(x);
      assert.equal(tf.memory().numTensors, before, 'no tensor left');
      assert.equal(batched.length, n * runtime.numClasses);
      for (let r = 0; r < n; r++) {
        const row = tf.slice(x, r, 1);
        const trace = await runtime.trace(row);
        const single = trace.logits.dataSync() as Float32Array;
        trace.dispose();
        row.dispose();
        const got = batched.subarray(r * runtime.numClasses, (r + 1) * runtime.numClasses);
        assert.ok(relativeError(got, single) < 1e-5, `row ${r}: ${relativeError(got, single)}`);
      }
    } finally {
      x.dispose();
      runtime.dispose();
    }
  });
}
