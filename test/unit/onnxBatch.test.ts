/**
 * Native batching on ONNX Runtime: forwardBatch and gradientBatch of n different inputs must equal n
 * single runs (trace + vjp, whose sessions take one input and have their own tests against PyTorch),
 * row by row, on every ONNX fixture, on a TF.js model converted at load time and on graphs built here to
 * exercise the rules a batch changes. Graphs that cannot batch must still give correct rows.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { Explainer } from '../../src/engine/explain';
import { OnnxRuntime, SESSION_BUDGET } from '../../src/engine/runtimes/onnx/onnxRuntime';
import { A, buildModel, Init, ModelSpec, randn, size } from '../fixtures/onnxBuilder';
import { cleanupTempDirs, relativeError, tempDir } from './helpers';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'onnx');
const TOL = 1e-5;

let dir: string;
before(async () => {
  await initBackend();
  dir = tempDir('saliency-batch-');
});
after(cleanupTempDirs);

type Kind = 'forward' | 'gradient' | 'guided';
/** The runtime's single-input path for a guided row (no vjp takes the guided rule). */
type SingleRow = (kind: Kind, data: Float32Array, seed?: Float32Array) => Promise<{ logits: Float32Array; grad?: Float32Array }>;

/** Row i of x and seeds through trace + vjp: the reference every batched row must equal. */
async function singleRun(rt: OnnxRuntime, x: tf.Tensor, seeds: tf.Tensor2D, i: number) {
  const row = tf.slice(x, i, 1);
  const seed = tf.slice(seeds, i, 1) as tf.Tensor2D;
  const trace = await rt.trace(row);
  const grad = (await trace.vjp(seed, ['input'])).get('input')!;
  const out = { logits: trace.logits.dataSync() as Float32Array, grad: grad.dataSync() as Float32Array };
  trace.dispose();
  tf.dispose([row, seed, grad]);
  return out;
}

/** forwardBatch and gradientBatch (plain and guided) of n distinct inputs, each row against a single run. */
async function expectRowsMatch(rt: OnnxRuntime, n: number, seed: number, what: string) {
  const classes = rt.numClasses;
  const rowSize = size(rt.inputShape);
  const x = tf.randomNormal([n, ...rt.inputShape], 0, 1, 'float32', seed);
  const seeds = tf.randomNormal([n, classes], 0, 1, 'float32', seed + 1) as tf.Tensor2D;
  const logits = await rt.forwardBatch(x);
  const plain = await rt.gradientBatch(x, seeds);
  const guided = await rt.gradientBatch(x, seeds, { guided: true });
  assert.equal(logits.length, n * classes);
  assert.deepEqual(plain.gradient.shape, [n, ...rt.inputShape]);
  assert.deepEqual(guided.gradient.shape, [n, ...rt.inputShape]);
  const plainData = plain.gradient.dataSync() as Float32Array;
  const guidedData = guided.gradient.dataSync() as Float32Array;
  const xData = x.dataSync() as Float32Array;
  const seedData = seeds.dataSync() as Float32Array;
  const singleRow = (rt as unknown as { singleRow: SingleRow }).singleRow.bind(rt);
  for (let i = 0; i < n; i++) {
    const one = await singleRun(rt, x, seeds, i);
    const rowLogits = logits.subarray(i * classes, (i + 1) * classes);
    assert.ok(relativeError(rowLogits, one.logits) <= TOL, `${what} n=${n} row ${i}: forwardBatch logits`);
    assert.ok(relativeError(plain.logits.subarray(i * classes, (i + 1) * classes), one.logits) <= TOL, `${what} n=${n} row ${i}: gradientBatch logits`);
    const g = plainData.subarray(i * rowSize, (i + 1) * rowSize);
    assert.ok(one.grad.some((v) => v !== 0), `${what}: zero gradient`);
    const err = relativeError(g, one.grad);
    assert.ok(err <= TOL, `${what} n=${n} row ${i}: gradient relative error ${err.toExponential(2)}`);
    const guidedOne = await singleRow('guided', xData.subarray(i * rowSize, (i + 1) * rowSize), seedData.subarray(i * classes, (i + 1) * classes));
    const gErr = relativeError(guidedData.subarray(i * rowSize, (i + 1) * rowSize), guidedOne.grad!);
    assert.ok(gErr <= TOL, `${what} n=${n} row ${i}: guided gradient relative error ${gErr.toExponential(2)}`);
  }
  tf.dispose([x, seeds, plain.gradient, guided.gradient]);
}

async function checkModel(rt: OnnxRuntime, what: string, expectBatched = true) {
  const before = tf.memory().numTensors;
  for (const [n, seed] of [[1, 11], [3, 12], [5, 13]]) await expectRowsMatch(rt, n, seed, what);
  for (const kind of ['forward', 'gradient', 'guided'] as const) {
    const decision = rt.batchDecision(kind);
    assert.equal(decision?.batched, expectBatched, `${what} ${kind}: ${JSON.stringify(decision)}`);
  }
  assert.equal(tf.memory().numTensors, before, `${what}: tensors leaked`);
}

function write(spec: ModelSpec, name: string): string {
  const file = path.join(dir, `${name}.onnx`);
  fs.writeFileSync(file, buildModel(spec));
  return file;
}

const w = (name: string, dims: number[], seed: number, scale = 0.5): Init => ({ name, dims, values: randn(size(dims), seed, scale) });
const ints = (name: string, values: number[]): Init => ({ name, dims: [values.length], values, type: 'int64' });

describe('OnnxRuntime batches natively: every row equals a single run', () => {
  for (const file of fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.onnx')).sort()) {
    it(file, async () => {
      const rt = await OnnxRuntime.load(path.join(FIXTURES, file));
      try {
        await checkModel(rt, file);
      } finally {
        rt.dispose();
      }
    });
  }

  it('a TF.js Layers model converted to ONNX at load time (examples/mnist-cnn)', async () => {
    const ex = await Explainer.open(path.join(__dirname, '..', '..', 'examples', 'mnist-cnn'));
    try {
      assert.equal(ex.runtime.kind, 'onnx');
      await checkModel(ex.runtime as OnnxRuntime, 'mnist-cnn');
    } finally {
      ex.runtime.dispose();
    }
  });

  it('the rules a batch changes: MaxPool phases (opset 13), Split with an unused part, strided Slice, ReduceMax without keepdims', async () => {
    const spec: ModelSpec = {
      input: { name: 'x', dims: [1, 3, 12, 12] },
      opset: 13,
      nodes: [
        { op: 'Conv', inputs: ['x', 'W1'], outputs: ['c1'], attrs: [A.ints('kernel_shape', [3, 3]), A.ints('pads', [1, 1, 1, 1])] },
        { op: 'Relu', inputs: ['c1'], outputs: ['r1'] },
        // Overlapping windows below opset 16: one scatter per phase, Indices counting from the batch's start.
        { op: 'MaxPool', inputs: ['r1'], outputs: ['mp'], attrs: [A.ints('kernel_shape', [3, 3]), A.ints('pads', [1, 1, 1, 1])] },
        { op: 'Split', inputs: ['mp', 'halves'], outputs: ['s1', 's2'], attrs: [A.i('axis', 1)] },
        { op: 'Slice', inputs: ['s1', 'st', 'en', 'ax', 'sp'], outputs: ['sl'] },
        { op: 'Conv', inputs: ['sl', 'W2'], outputs: ['c2'], attrs: [A.ints('kernel_shape', [3, 3]), A.ints('pads', [1, 1, 1, 1]), A.ints('strides', [2, 2])] },
        { op: 'Pad', inputs: ['c2', 'pads'], outputs: ['pd'], attrs: [A.s('mode', 'reflect')] },
        { op: 'AveragePool', inputs: ['pd'], outputs: ['ap'], attrs: [A.ints('kernel_shape', [3, 3]), A.ints('strides', [2, 2])] },
        { op: 'ReduceMax', inputs: ['ap'], outputs: ['rm'], attrs: [A.ints('axes', [3]), A.i('keepdims', 0)] },
        { op: 'Softmax', inputs: ['rm'], outputs: ['sm'], attrs: [A.i('axis', -1)] },
        { op: 'Flatten', inputs: ['sm'], outputs: ['f'] },
        { op: 'Gemm', inputs: ['f', 'Wf'], outputs: ['y'], attrs: [A.i('transB', 1)] },
      ],
      inits: [w('W1', [8, 3, 3, 3], 1), ints('halves', [4, 4]), ints('st', [1]), ints('en', [12]), ints('ax', [2]), ints('sp', [2]),
        w('W2', [8, 4, 3, 3], 2), ints('pads', [0, 0, 1, 1, 0, 0, 1, 1]), w('Wf', [5, 16], 3, 2)],
      outputs: ['y'],
    };
    const rt = await OnnxRuntime.load(write(spec, 'rules'));
    try {
      await checkModel(rt, 'rules');
      // Several seeds over one input take the same rules (with the seed axis on the gradients only).
      const x = tf.randomNormal([1, ...rt.inputShape], 0, 1, 'float32', 14);
      const seeds = tf.randomNormal([3, rt.numClasses], 0, 1, 'float32', 15) as tf.Tensor2D;
      const trace = await rt.trace(x);
      const all = (await trace.vjp(seeds, ['input'])).get('input')!;
      const allData = all.dataSync() as Float32Array;
      const rowSize = size(rt.inputShape);
      for (let i = 0; i < 3; i++) {
        const seed = tf.slice(seeds, i, 1) as tf.Tensor2D;
        const one = await singleRun(rt, x, seed, 0);
        seed.dispose();
        assert.ok(relativeError(allData.subarray(i * rowSize, (i + 1) * rowSize), one.grad) <= TOL, `seed ${i}`);
      }
      trace.dispose();
      tf.dispose([x, seeds, all]);
    } finally {
      rt.dispose();
    }
  });

  it('a flat MLP input, and a self-attention block (MatMul of two batched tensors)', async () => {
    const mlp: ModelSpec = {
      input: { name: 'x', dims: [1, 20] },
      nodes: [
        { op: 'Gemm', inputs: ['x', 'W1', 'b1'], outputs: ['h'], attrs: [A.i('transB', 1)] },
        { op: 'Relu', inputs: ['h'], outputs: ['r'] },
        { op: 'Gemm', inputs: ['r', 'W2'], outputs: ['y'], attrs: [A.i('transB', 1)] },
      ],
      inits: [w('W1', [16, 20], 41), w('b1', [16], 42, 0.1), w('W2', [5, 16], 43)],
      outputs: ['y'],
    };
    const attention: ModelSpec = {
      input: { name: 'x', dims: [1, 4, 6] },
      nodes: [
        { op: 'MatMul', inputs: ['x', 'Wq'], outputs: ['q'] },
        { op: 'MatMul', inputs: ['x', 'Wk'], outputs: ['k'] },
        { op: 'MatMul', inputs: ['x', 'Wv'], outputs: ['v'] },
        { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attrs: [A.ints('perm', [0, 2, 1])] },
        { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
        { op: 'Softmax', inputs: ['s'], outputs: ['p'], attrs: [A.i('axis', -1)] },
        { op: 'MatMul', inputs: ['p', 'v'], outputs: ['o'] },
        { op: 'Relu', inputs: ['o'], outputs: ['r'] },
        { op: 'ReduceMean', inputs: ['r'], outputs: ['m'], attrs: [A.ints('axes', [1]), A.i('keepdims', 0)] },
        { op: 'Gemm', inputs: ['m', 'Wo'], outputs: ['y'], attrs: [A.i('transB', 1)] },
      ],
      inits: [w('Wq', [6, 6], 44), w('Wk', [6, 6], 45), w('Wv', [6, 6], 46), w('Wo', [3, 6], 47)],
      outputs: ['y'],
    };
    for (const [spec, name] of [[mlp, 'mlp'], [attention, 'attention']] as const) {
      const rt = await OnnxRuntime.load(write(spec, name), { layout: 'asis' });
      try {
        await checkModel(rt, name);
      } finally {
        rt.dispose();
      }
    }
  });

  it('a ViT-style graph (a batch-1 class token Expanded and Concatenated) runs row by row, correctly', async () => {
    const d = 6;
    const spec: ModelSpec = {
      input: { name: 'x', dims: [1, 3, 8, 8] },
      nodes: [
        { op: 'Conv', inputs: ['x', 'Wp'], outputs: ['p'], attrs: [A.ints('kernel_shape', [4, 4]), A.ints('strides', [4, 4])] },
        { op: 'Reshape', inputs: ['p', 'tokensShape'], outputs: ['t'] },
        { op: 'Transpose', inputs: ['t'], outputs: ['tt'], attrs: [A.ints('perm', [0, 2, 1])] },
        { op: 'Expand', inputs: ['cls', 'clsShape'], outputs: ['cx'] },
        { op: 'Concat', inputs: ['cx', 'tt'], outputs: ['seq'], attrs: [A.i('axis', 1)] },
        { op: 'Add', inputs: ['seq', 'pos'], outputs: ['a'] },
        { op: 'Relu', inputs: ['a'], outputs: ['r'] },
        // Mean over the tokens (no attention here to carry the patches into the class token).
        { op: 'ReduceMean', inputs: ['r'], outputs: ['h'], attrs: [A.ints('axes', [1]), A.i('keepdims', 0)] },
        { op: 'Gemm', inputs: ['h', 'Wh'], outputs: ['y'], attrs: [A.i('transB', 1)] },
      ],
      inits: [w('Wp', [d, 3, 4, 4], 4), ints('tokensShape', [1, d, 4]), w('cls', [1, 1, d], 5), ints('clsShape', [1, 1, d]),
        w('pos', [1, 5, d], 6), w('Wh', [4, d], 7)],
      outputs: ['y'],
    };
    const rt = await OnnxRuntime.load(write(spec, 'vit'));
    try {
      await checkModel(rt, 'vit', false);
      const decision = rt.batchDecision('gradient');
      assert.ok(decision && !decision.batched && /Concat/.test(decision.reason), JSON.stringify(decision));
    } finally {
      rt.dispose();
    }
  });

  it('a graph whose rows depend on the batch size through shape arithmetic is caught by comparing with single runs', async () => {
    // y = Gemm(GAP(conv(x) · batch size)): the structure batches, but every row is scaled by n.
    const spec: ModelSpec = {
      input: { name: 'x', dims: [1, 3, 6, 6] },
      nodes: [
        { op: 'Conv', inputs: ['x', 'W'], outputs: ['c'], attrs: [A.ints('kernel_shape', [3, 3])] },
        { op: 'Relu', inputs: ['c'], outputs: ['r'] },
        { op: 'Shape', inputs: ['x'], outputs: ['s'] },
        { op: 'Gather', inputs: ['s', 'zero'], outputs: ['n'] },
        { op: 'Cast', inputs: ['n'], outputs: ['nf'], attrs: [A.i('to', 1)] },
        { op: 'Mul', inputs: ['r', 'nf'], outputs: ['m'] },
        { op: 'GlobalAveragePool', inputs: ['m'], outputs: ['g'] },
        { op: 'Flatten', inputs: ['g'], outputs: ['f'] },
        { op: 'Gemm', inputs: ['f', 'Wf'], outputs: ['y'], attrs: [A.i('transB', 1)] },
      ],
      inits: [w('W', [4, 3, 3, 3], 8), ints('zero', [0]), w('Wf', [3, 4], 9)],
      outputs: ['y'],
    };
    const rt = await OnnxRuntime.load(write(spec, 'shape_arith'));
    try {
      await checkModel(rt, 'shape arithmetic', false);
      for (const kind of ['forward', 'gradient', 'guided'] as const) {
        const decision = rt.batchDecision(kind);
        assert.ok(decision && !decision.batched && /differs from a single run/.test(decision.reason), JSON.stringify(decision));
      }
    } finally {
      rt.dispose();
    }
  });

  it('identical rows decide nothing: the first batch of distinct rows is still checked', async () => {
    const rt = await OnnxRuntime.load(path.join(FIXTURES, 'tiny_resnet.onnx'));
    try {
      const one = tf.randomNormal([1, ...rt.inputShape], 0, 1, 'float32', 21);
      const same = tf.tile(one, [3, 1, 1, 1]);
      const logits = await rt.forwardBatch(same);
      assert.equal(rt.batchDecision('forward'), undefined);
      const single = await rt.trace(one);
      const expected = single.logits.dataSync() as Float32Array;
      for (let i = 0; i < 3; i++) assert.ok(relativeError(logits.subarray(i * rt.numClasses, (i + 1) * rt.numClasses), expected) <= TOL);
      single.dispose();
      tf.dispose([one, same]);
      await expectRowsMatch(rt, 3, 22, 'tiny_resnet after identical rows');
      assert.deepEqual(rt.batchDecision('forward'), { batched: true });
    } finally {
      rt.dispose();
    }
  });

  it('keeps within the session budget: one session at a time still gives correct rows', async () => {
    const saved = SESSION_BUDGET.bytes;
    SESSION_BUDGET.bytes = 1;
    const rt = await OnnxRuntime.load(path.join(FIXTURES, 'tiny_mobilenetv2.onnx'));
    try {
      assert.equal(rt.sessionLimit, 1);
      const sessions = (rt as unknown as { sessions: Map<string, unknown> }).sessions;
      for (const [n, seed] of [[3, 31], [5, 32]]) {
        await expectRowsMatch(rt, n, seed, 'budget');
        assert.ok(sessions.size <= 1, `${sessions.size} sessions kept`);
      }
      assert.deepEqual(rt.batchDecision('gradient'), { batched: true });
    } finally {
      SESSION_BUDGET.bytes = saved;
      rt.dispose();
    }
  });

  it('refuses a batch that does not fit the model, and seeds that do not fit the batch', async () => {
    const rt = await OnnxRuntime.load(path.join(FIXTURES, 'tiny_vgg.onnx'));
    try {
      const x = tf.zeros([2, 5, 5, 3]);
      await assert.rejects(rt.forwardBatch(x), /batch of shape/);
      const good = tf.zeros([2, ...rt.inputShape]);
      const seeds = tf.zeros([3, rt.numClasses]) as tf.Tensor2D;
      await assert.rejects(rt.gradientBatch(good, seeds), /seeds of shape/);
      tf.dispose([x, good, seeds]);
    } finally {
      rt.dispose();
    }
  });
});
