/**
 * Upsample (opset 7–10) is read as the Resize-11 that computes the same (opset.ts): its forward output equals
 * ONNX Runtime's own Upsample on the unchanged model, nearest and linear, integer and fractional scales, scales
 * as an attribute (opset 7) and as an input (opset 9); and its input gradient passes finite differences taken
 * on ONNX Runtime's Upsample (the reference session runs the model as written, Upsample included).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/engine/errors';
import { OnnxRuntime } from '../../src/engine/runtimes/onnx/onnxRuntime';
import { A, buildModel, Init, ModelSpec, randn, size } from '../fixtures/onnxBuilder';
import { expectMatch, useGradTestDir } from './onnxGradHelpers';

const t = useGradTestDir();

/** x [dims] → Upsample(mode, scales) → Mul by a weight (so the gradient seed is not uniform per cell). */
function upsample(dims: number[], mode: string, scales: number[], opset: number): ModelSpec {
  const out = dims.map((d, i) => Math.floor(d * scales[i]));
  const inits: Init[] = [{ name: 'w', dims: out, values: randn(size(out), 5) }];
  const inputs = ['x'];
  const attrs = [A.s('mode', mode)];
  if (opset >= 9) {
    inits.push({ name: 'scales', dims: [scales.length], values: scales, type: 'float32' });
    inputs.push('scales');
  } else {
    attrs.push(A.floats('scales', scales));
  }
  return {
    input: { name: 'x', dims },
    nodes: [
      { op: 'Upsample', inputs, outputs: ['up'], attrs, name: 'the_upsample' },
      { op: 'Mul', inputs: ['up', 'w'], outputs: ['y'], name: 'weigh' },
    ],
    inits,
    outputs: ['y'],
    opset,
  };
}

const CASES = [
  { mode: 'nearest', scales: [1, 1, 2, 2] },
  { mode: 'nearest', scales: [1, 1, 1.5, 2.5] },
  { mode: 'linear', scales: [1, 1, 2, 2] },
  { mode: 'linear', scales: [1, 1, 1.5, 2.5] },
];
const DIMS = [1, 2, 4, 5];

describe('Upsample (opset 7–10) as Resize', () => {
  for (const opset of [7, 9]) {
    for (const { mode, scales } of CASES) {
      it(`opset ${opset}, ${mode} × ${scales.slice(2).join('×')}: forward equals ONNX Runtime's Upsample`, async () => {
        const spec = upsample(DIMS, mode, scales, opset);
        const bytes = buildModel(spec);
        const file = path.join(t.dir, `upsample_${opset}_${mode}_${scales.join('_')}.onnx`);
        fs.writeFileSync(file, bytes);
        const x = randn(size(DIMS), 11);
        const reference = await ort.InferenceSession.create(bytes);
        const expected = (await reference.run({ x: new ort.Tensor('float32', x, DIMS) })).y.data as Float32Array;
        await reference.release();
        const runtime = await OnnxRuntime.load(file, { layout: 'asis' });
        try {
          assert.equal(runtime.model.graph.nodes[0].op, 'Resize');
          const xt = tf.tensor(x, DIMS);
          const trace = await runtime.trace(xt);
          const ours = trace.logits.dataSync();
          assert.equal(ours.length, expected.length);
          for (let i = 0; i < ours.length; i++) assert.ok(Math.abs(ours[i] - expected[i]) <= 1e-6 * Math.max(1, Math.abs(expected[i])), `element ${i}: ${ours[i]} vs ${expected[i]}`);
          trace.dispose();
          xt.dispose();
        } finally {
          runtime.dispose();
        }
      });
      it(`opset ${opset}, ${mode} × ${scales.slice(2).join('×')}: input gradient passes finite differences`, () =>
        expectMatch(upsample(DIMS, mode, scales, opset), { coords: size(DIMS), eps: 0.5 }));
    }
  }

  it('refuses an Upsample mode other than nearest and linear, naming it', async () => {
    const spec = upsample(DIMS, 'cubic', [1, 1, 2, 2], 9);
    const file = path.join(t.dir, 'upsample_cubic.onnx');
    fs.writeFileSync(file, buildModel(spec));
    await assert.rejects(OnnxRuntime.load(file, { layout: 'asis' }), (err: Error) =>
      err instanceof UserError && /operator "Upsample" has mode "cubic"/.test(err.message));
  });
});
