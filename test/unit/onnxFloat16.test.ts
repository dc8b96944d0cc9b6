/**
 * float16 ONNX models (test/fixtures/onnx/float16, written by scripts/onnx/export_float16_fixtures.py) are
 * computed in float32: a float16-input model and a float32 model that casts to float16 inside both load,
 * give PyTorch's float64 logits and input gradient on the same (float16) weights to float32 rounding, and
 * carry the note that says so.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { loadModel } from '../../src/engine/model/loadModel';
import { FLOAT16_NOTE, widenFloat16 } from '../../src/engine/runtimes/onnx/float16';
import type { OnnxRuntime } from '../../src/engine/runtimes/onnx/onnxRuntime';
import { decodeModel } from '../../src/engine/runtimes/onnx/readOnnx';
import { DataType } from '../../src/engine/runtimes/onnx/proto';
import { relativeError } from './helpers';

const DIR = path.join(__dirname, '..', 'fixtures', 'onnx', 'float16');
const ref = JSON.parse(fs.readFileSync(path.join(DIR, 'reference.json'), 'utf8')) as { input: number[]; logits: number[]; class: number; grad: number[] };

/** [1,C,H,W] row-major → [1,H,W,C]. */
function toNhwc(v: ArrayLike<number>, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let ci = 0; ci < c; ci++) for (let i = 0; i < h * w; i++) out[i * c + ci] = v[ci * h * w + i];
  return out;
}

describe('float16 ONNX models', () => {
  before(async () => {
    await initBackend();
  });

  for (const name of ['fp16_io', 'fp16_inside']) {
    it(`${name}: logits and saliency equal PyTorch on the float16 weights, with the float32 note`, async () => {
      const loaded = await loadModel(path.join(DIR, `${name}.onnx`));
      const runtime = loaded.runtime as OnnxRuntime;
      try {
        assert.ok(loaded.warnings.includes(FLOAT16_NOTE), `warnings: ${JSON.stringify(loaded.warnings)}`);
        const x = tf.tensor(toNhwc(ref.input, 3, 8, 8), [1, 8, 8, 3]);
        const trace = await runtime.trace(x);
        const logits = trace.logits.dataSync();
        assert.ok(relativeError(logits, ref.logits) <= 1e-5, `logits ${Array.from(logits)} vs ${ref.logits}`);
        const seed = tf.oneHot(tf.tensor1d([ref.class], 'int32'), ref.logits.length).toFloat() as tf.Tensor2D;
        const grad = (await trace.vjp(seed, ['input'])).get('input')!;
        const expected = toNhwc(ref.grad, 3, 8, 8);
        const ours = grad.dataSync();
        assert.ok(expected.some((v) => v !== 0), 'the reference gradient is all zeros');
        assert.ok(relativeError(ours, expected) <= 1e-5, `input gradient: max relative error ${relativeError(ours, expected)}`);
        tf.dispose([x, seed, grad]);
        trace.dispose();
      } finally {
        runtime.dispose();
      }
    });
  }

  it('widens every float16 place: initializers, Constant values, Cast targets, inputs and outputs', () => {
    const file = path.join(DIR, 'fp16_inside.onnx');
    const model = decodeModel(fs.readFileSync(file), file);
    assert.equal(widenFloat16(model), true);
    const g = model.graph!;
    assert.ok(g.initializer!.every((t) => t.dataType === DataType.FLOAT));
    const constant = g.node!.find((n) => n.opType === 'Constant')!;
    assert.equal(constant.attribute![0].t!.dataType, DataType.FLOAT);
    assert.deepEqual(Array.from(new Float32Array(Uint8Array.from(constant.attribute![0].t!.rawData!).buffer)), [0.5]);
    for (const cast of g.node!.filter((n) => n.opType === 'Cast')) assert.equal(Number(cast.attribute![0].i), DataType.FLOAT);
    // A model without float16 is left alone, and says so.
    assert.equal(widenFloat16(model), false);
  });
});
