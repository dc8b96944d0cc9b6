import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/engine/errors';
import { STRIDED_CONV } from '../../src/engine/runtimes/onnx/gradRules';
import { OnnxRuntime } from '../../src/engine/runtimes/onnx/onnxRuntime';
import { onnx } from 'onnx-proto';
import { A, buildModel, Init, modelProto, ModelSpec, NodeSpec, randn, size } from '../fixtures/onnxBuilder';
import { checkGradient } from '../fixtures/onnxGradCheck';
import { Attr, chain, expectMatch, expectSeedsAtOnce, single, useGradTestDir, w } from './onnxGradHelpers';

const kit = useGradTestDir();

function convSpec(o: { c: number; m: number; h: number; w: number; k: [number, number]; s?: [number, number]; d?: [number, number];
  pads?: number[]; group?: number; bias?: boolean; autoPad?: string; seed?: number }): ModelSpec {
  const group = o.group ?? 1;
  const inits = [w('W', [o.m, o.c / group, ...o.k], o.seed ?? 1)];
  const attrs = [A.ints('kernel_shape', o.k), A.i('group', group), A.ints('strides', o.s ?? [1, 1]), A.ints('dilations', o.d ?? [1, 1])];
  if (o.autoPad) attrs.push(A.s('auto_pad', o.autoPad));
  else attrs.push(A.ints('pads', o.pads ?? [0, 0, 0, 0]));
  const extra = ['W'];
  if (o.bias) {
    inits.push(w('B', [o.m], 2));
    extra.push('B');
  }
  return single('Conv', [1, o.c, o.h, o.w], attrs, inits, extra);
}

describe('ONNX gradient rules against finite differences: convolutions', () => {
  const cases: [string, Parameters<typeof convSpec>[0]][] = [
    ['3×3 stride 1, pads 1, bias', { c: 3, m: 5, h: 7, w: 6, k: [3, 3], pads: [1, 1, 1, 1], bias: true }],
    ['3×3 stride 2, asymmetric pads', { c: 3, m: 4, h: 9, w: 8, k: [3, 3], s: [2, 2], pads: [0, 1, 2, 0] }],
    ['3×2 kernel, strides 2×3, dilation 2×1', { c: 2, m: 3, h: 11, w: 10, k: [3, 2], s: [2, 3], d: [2, 1], pads: [1, 0, 2, 1] }],
    ['grouped (2 groups), stride 1', { c: 4, m: 6, h: 6, w: 7, k: [3, 3], pads: [1, 1, 1, 1], group: 2, bias: true }],
    ['grouped (2 groups), stride 2', { c: 4, m: 6, h: 8, w: 7, k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1], group: 2 }],
    ['depthwise, multiplier 2, stride 1, dilation 2', { c: 4, m: 8, h: 9, w: 9, k: [3, 3], d: [2, 2], pads: [2, 2, 2, 2], group: 4 }],
    ['depthwise, stride 2', { c: 3, m: 3, h: 8, w: 9, k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1], group: 3 }],
    ['auto_pad SAME_UPPER, stride 2', { c: 3, m: 4, h: 9, w: 8, k: [3, 3], s: [2, 2], autoPad: 'SAME_UPPER' }],
    ['auto_pad SAME_LOWER, even kernel', { c: 2, m: 3, h: 7, w: 6, k: [4, 4], autoPad: 'SAME_LOWER' }],
    ['auto_pad VALID, stride 2, trailing rows unused', { c: 2, m: 3, h: 9, w: 8, k: [2, 2], s: [2, 2], autoPad: 'VALID' }],
    ['1×1, pads beyond the kernel (output larger than input)', { c: 3, m: 2, h: 5, w: 4, k: [1, 1], pads: [2, 1, 0, 2] }],
    ['7×7 stride 2 stem', { c: 3, m: 8, h: 16, w: 16, k: [7, 7], s: [2, 2], pads: [3, 3, 3, 3] }],
    ['1×1 stride 2 downsample', { c: 4, m: 6, h: 8, w: 8, k: [1, 1], s: [2, 2] }],
  ];
  for (const [name, o] of cases) {
    // Strided ones both ways: the phase decomposition and ConvTranspose (the runtime picks per layer).
    const methods = (o.s ?? [1, 1]).some((v) => v > 1) ? (['phases', 'transpose'] as const) : (['auto'] as const);
    for (const method of methods) {
      // Convolutions are linear in x: a large ε is exact up to rounding (ORT has no float64 Conv).
      it(`${name}${method === 'auto' ? '' : ` (${method})`}`, async () => {
        STRIDED_CONV.method = method;
        try {
          await expectMatch(convSpec(o), { eps: 0.5 });
        } finally {
          STRIDED_CONV.method = 'auto';
        }
      });
    }
  }
});

describe('ONNX gradient rules against finite differences: transposed convolutions', () => {
  const deconv = (o: { c: number; m: number; h: number; w: number; k: [number, number]; s: [number, number]; pads: number[]; op?: number[];
    d?: [number, number]; group?: number }) => {
    const group = o.group ?? 1;
    const attrs = [A.ints('kernel_shape', o.k), A.ints('strides', o.s), A.ints('pads', o.pads), A.i('group', group), A.ints('dilations', o.d ?? [1, 1])];
    if (o.op) attrs.push(A.ints('output_padding', o.op));
    return single('ConvTranspose', [1, o.c, o.h, o.w], attrs, [w('W', [o.c, o.m / group, ...o.k], 3), w('B', [o.m], 4)], ['W', 'B']);
  };
  const cases: [string, Parameters<typeof deconv>[0]][] = [
    ['2×2 stride 2 (Keras UpSampling-like)', { c: 3, m: 4, h: 5, w: 4, k: [2, 2], s: [2, 2], pads: [0, 0, 0, 0] }],
    ['3×3 stride 2, pads 1, output_padding 1 (Keras "same")', { c: 2, m: 3, h: 4, w: 5, k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1], op: [1, 1] }],
    ['3×3 stride 1, asymmetric pads', { c: 2, m: 2, h: 5, w: 5, k: [3, 3], s: [1, 1], pads: [0, 1, 2, 0] }],
    ['grouped, stride 2, dilation 2', { c: 4, m: 6, h: 4, w: 4, k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1], d: [2, 2], group: 2 }],
    ['kernel smaller than stride (2×2, stride 3, output_padding 1)', { c: 2, m: 2, h: 3, w: 4, k: [2, 2], s: [3, 3], pads: [0, 0, 0, 0], op: [1, 1] }],
  ];
  for (const [name, o] of cases) {
    // Linear in x: a large ε is exact up to rounding.
    it(name, async () => expectMatch(deconv(o), { eps: 0.5 }));
  }
});

/**
 * Input gradient of the two stacked max-pools of the tie test (3×3 stride 2 ceil_mode, then 3×3 stride 1
 * pads 1), by direct loops: each window's dy goes to its first (or last) maximum in row-major order,
 * padding and cells past the input (ceil_mode) excluded. `ties` counts windows with several maxima.
 */
function tiedPoolsGrad(x: Float32Array, dims: number[], seed: Float32Array, pick: 'first' | 'last'): { dx: number[]; ties: number } {
  let ties = 0;
  const pool = (v: ArrayLike<number>, c: number, h: number, w: number, s: number, p: number) => {
    const oh = Math.ceil((h + 2 * p - 3) / s) + 1;
    const ow = Math.ceil((w + 2 * p - 3) / s) + 1;
    const y: number[] = [];
    const arg: number[] = [];
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let best = -Infinity;
          let at = -1;
          let count = 0;
          for (let a = 0; a < 3; a++) {
            for (let b = 0; b < 3; b++) {
              const r = i * s - p + a;
              const q = j * s - p + b;
              if (r < 0 || q < 0 || r >= h || q >= w) continue;
              const k = (ch * h + r) * w + q;
              if (v[k] > best) [best, at, count] = [v[k], k, 1];
              else if (v[k] === best) {
                count++;
                if (pick === 'last') at = k;
              }
            }
          }
          if (count > 1) ties++;
          y.push(best);
          arg.push(at);
        }
      }
    }
    return { y, arg, oh, ow };
  };
  const [, c, h, w] = dims;
  const p1 = pool(x, c, h, w, 2, 0);
  const p2 = pool(p1.y, c, p1.oh, p1.ow, 1, 1);
  const dp = new Array(p1.y.length).fill(0);
  p2.arg.forEach((k, o) => (dp[k] += seed[o]));
  const dx = new Array(x.length).fill(0);
  p1.arg.forEach((k, o) => (dx[k] += dp[o]));
  return { dx, ties };
}

describe('ONNX gradient rules: pooling', () => {
  const maxPool = (dims: number[], k: number[], s: number[], pads: number[], extra: Attr[] = [], opset = 17) =>
    single('MaxPool', dims, [A.ints('kernel_shape', k), A.ints('strides', s), A.ints('pads', pads), ...extra], [], [], opset);
  it('overlapping max-pool 3×3 stride 2, padded (scatter with add)', () => expectMatch(maxPool([1, 3, 9, 10], [3, 3], [2, 2], [1, 1, 1, 1])));
  it('overlapping max-pool with ceil_mode and dilation', () =>
    expectMatch(maxPool([1, 2, 10, 9], [3, 2], [2, 1], [0, 1, 1, 0], [A.i('ceil_mode', 1), A.ints('dilations', [2, 1])])));
  it('overlapping max-pool at opset 13 (disjoint phases, no adding scatter)', () => expectMatch(maxPool([1, 3, 9, 10], [3, 3], [2, 2], [1, 1, 1, 1], [], 13)));
  it('overlapping max-pool stride 1 at opset 13', () => expectMatch(maxPool([1, 2, 6, 7], [3, 3], [1, 1], [1, 1, 1, 1], [], 13)));
  it('non-overlapping max-pool 2×2', () => expectMatch(maxPool([1, 3, 8, 9], [2, 2], [2, 2], [0, 0, 0, 0])));
  it('max-pool 7×7 stride 1 at opset 13 (49 phases, under the cap of 64)', () => expectMatch(maxPool([1, 2, 9, 8], [7, 7], [1, 1], [3, 3, 3, 3], [], 13)));
  // Exactly tied windows have no derivative, so the finite-difference checks above skip them. PyTorch
  // (and ONNX Runtime's forward, whose Indices the rule scatters to) give dy to the first maximum in
  // row-major window order; GoogLeNet's stacked pools (maxpool3, then inception4a's 3×3 stride-1 pool)
  // on near-constant activations meet such ties in thousands of windows.
  for (const opset of [13, 17]) {
    it(`stacked GoogLeNet max-pools on tied values send dy to each window's first maximum (opset ${opset})`, async () => {
      const dims = [1, 2, 9, 9];
      const pools = chain(dims, [
        { op: 'MaxPool', inputs: ['x'], outputs: ['p'], name: 'pool_s2_ceil',
          attrs: [A.ints('kernel_shape', [3, 3]), A.ints('strides', [2, 2]), A.ints('pads', [0, 0, 0, 0]), A.i('ceil_mode', 1)] },
        { op: 'MaxPool', inputs: ['p'], outputs: ['y'], name: 'pool_s1_pad1',
          attrs: [A.ints('kernel_shape', [3, 3]), A.ints('strides', [1, 1]), A.ints('pads', [1, 1, 1, 1]), A.i('ceil_mode', 1)] },
      ], [], opset);
      const file = path.join(kit.dir, `tied_pools_${opset}.onnx`);
      fs.writeFileSync(file, buildModel(pools));
      const runtime = await OnnxRuntime.load(file, { layout: 'asis' });
      // Three levels only: most windows hold several equal maxima.
      const x = Float32Array.from(randn(size(dims), 11), (v) => Math.min(2, Math.max(0, Math.round(v + 1))));
      const seed = randn(runtime.numClasses, 12);
      const trace = await runtime.trace(tf.tensor(x, dims), []);
      const seedT = tf.tensor2d(seed, [1, runtime.numClasses]);
      const ours = (await trace.vjp(seedT, ['input'])).get('input')!;
      const got = Array.from(ours.dataSync());
      tf.dispose([ours, seedT]);
      trace.dispose();
      runtime.dispose();
      const first = tiedPoolsGrad(x, dims, seed, 'first');
      const last = tiedPoolsGrad(x, dims, seed, 'last');
      assert.ok(first.ties > 20, `only ${first.ties} tied windows`);
      assert.notDeepEqual(first.dx, last.dx, 'the tie rule makes no difference on this input');
      got.forEach((v, i) => assert.ok(Math.abs(v - first.dx[i]) <= 1e-5, `x[${i}]: ${v} vs ${first.dx[i]}`));
    });
  }
  it('an overlapping max-pool needing more than 64 phases below opset 16 is refused at load, saying to re-export', async () => {
    const file = path.join(kit.dir, 'spp.onnx');
    fs.writeFileSync(file, buildModel(maxPool([1, 2, 16, 16], [9, 9], [1, 1], [4, 4, 4, 4], [], 13)));
    await assert.rejects(OnnxRuntime.load(file, { layout: 'asis' }), (e: Error) => e instanceof UserError && e.message.startsWith(`${file}: `) &&
      /node "the_MaxPool".*81 scatters below opset 16; re-export the model with opset 16 or newer/.test(e.message) && !e.message.includes('\n'));
    // Opset 16 has ScatterElements with reduction "add": one scatter, whatever the windows.
    fs.writeFileSync(file, buildModel(maxPool([1, 2, 16, 16], [9, 9], [1, 1], [4, 4, 4, 4], [], 16)));
    (await OnnxRuntime.load(file, { layout: 'asis' })).dispose();
  });
  const avgPool = (dims: number[], k: number[], s: number[], pads: number[], extra: Attr[] = []) =>
    single('AveragePool', dims, [A.ints('kernel_shape', k), A.ints('strides', s), A.ints('pads', pads), ...extra]);
  for (const include of [0, 1]) {
    it(`average pool 3×3 stride 2, pads, count_include_pad ${include}`, () =>
      expectMatch(avgPool([1, 3, 9, 8], [3, 3], [2, 2], [1, 1, 1, 0], [A.i('count_include_pad', include)])));
    it(`average pool ceil_mode, count_include_pad ${include}`, () =>
      expectMatch(avgPool([1, 2, 8, 7], [3, 3], [2, 2], [1, 0, 0, 1], [A.i('count_include_pad', include), A.i('ceil_mode', 1)])));
  }
  it('average pool 2×2 tiling (odd size)', () => expectMatch(avgPool([1, 3, 9, 8], [2, 2], [2, 2], [0, 0, 0, 0])));
  it('average pool 2×2 tiling with ceil_mode', () => expectMatch(avgPool([1, 2, 7, 9], [2, 2], [2, 2], [0, 0, 0, 0], [A.i('ceil_mode', 1)])));
  it('global average pool', () => expectMatch(single('GlobalAveragePool', [1, 4, 5, 6])));
  for (const keep of [0, 1]) {
    it(`ReduceMean over H, W (keepdims ${keep}, axes as attribute)`, () =>
      expectMatch(single('ReduceMean', [1, 3, 5, 4], [A.ints('axes', [2, 3]), A.i('keepdims', keep)])));
  }
  it('ReduceMean with axes as input (opset 18)', () =>
    expectMatch(single('ReduceMean', [1, 3, 5, 4], [A.i('keepdims', 0)], [{ name: 'axes', dims: [2], values: [-1, -2], type: 'int64' }], ['axes'], 18)));
  it('ReduceSum over channels (opset 13)', () =>
    expectMatch(single('ReduceSum', [1, 3, 5, 4], [], [{ name: 'axes', dims: [1], values: [1], type: 'int64' }], ['axes'], 13)));
});

describe('ONNX gradient rules: activations and elementwise ops', () => {
  const dims = [1, 3, 5, 6];
  it('Relu', () => expectMatch(single('Relu', dims)));
  it('LeakyRelu', () => expectMatch(single('LeakyRelu', dims, [A.f('alpha', 0.2)])));
  it('PRelu (per-channel slope)', () => expectMatch(single('PRelu', dims, [], [w('slope', [3, 1, 1], 4)], ['slope'])));
  // A final Sigmoid would be read as the output's squashing function (and skipped): scale after it.
  it('Sigmoid', () =>
    expectMatch(chain(dims, [{ op: 'Sigmoid', inputs: ['x'], outputs: ['s'] }, { op: 'Mul', inputs: ['s', 'k'], outputs: ['y'] }], [w('k', [6], 3)])));
  it('Tanh', () => expectMatch(single('Tanh', dims)));
  it('HardSigmoid', () => expectMatch(single('HardSigmoid', dims, [A.f('alpha', 1 / 6), A.f('beta', 0.5)]), { x: randn(90, 3, 3) }));
  it('HardSwish', () => expectMatch(single('HardSwish', dims), { x: randn(90, 5, 3) }));
  it('Clip with min and max inputs (ReLU6)', () =>
    expectMatch(single('Clip', dims, [], [{ name: 'lo', dims: [], values: [0] }, { name: 'hi', dims: [], values: [1] }], ['lo', 'hi'])));
  it('Clip with only a max', () => expectMatch(single('Clip', dims, [], [{ name: 'hi', dims: [], values: [0.3] }], ['', 'hi'])));
  it('Mul with Sigmoid (SiLU: both inputs depend on x)', () =>
    expectMatch(chain(dims, [{ op: 'Sigmoid', inputs: ['x'], outputs: ['s'] }, { op: 'Mul', inputs: ['x', 's'], outputs: ['y'] }])));
  it('squeeze-and-excitation block (broadcast Mul)', () =>
    expectMatch(chain([1, 4, 5, 5], [
      { op: 'GlobalAveragePool', inputs: ['x'], outputs: ['p'] },
      { op: 'Conv', inputs: ['p', 'W1', 'B1'], outputs: ['q'], attrs: [A.ints('kernel_shape', [1, 1])] },
      { op: 'Relu', inputs: ['q'], outputs: ['r'] },
      { op: 'Conv', inputs: ['r', 'W2'], outputs: ['t'], attrs: [A.ints('kernel_shape', [1, 1])] },
      { op: 'HardSigmoid', inputs: ['t'], outputs: ['g'], attrs: [A.f('alpha', 1 / 6), A.f('beta', 0.5)] },
      { op: 'Mul', inputs: ['x', 'g'], outputs: ['y'] },
    ], [w('W1', [2, 4, 1, 1], 5, 1), w('B1', [2], 6, 0.2), w('W2', [4, 2, 1, 1], 7, 2)]), { eps: 1e-3 }));
  it('Add with broadcast bias, Sub, Div by a constant', () =>
    expectMatch(chain(dims, [
      { op: 'Add', inputs: ['x', 'b'], outputs: ['a'] },
      { op: 'Sub', inputs: ['c', 'a'], outputs: ['s'] },
      { op: 'Div', inputs: ['s', 'd'], outputs: ['y'] },
    ], [w('b', [3, 1, 1], 8), w('c', [1, 1, 6], 9), { name: 'd', dims: [3, 1, 1], values: [2, -0.5, 4] }])));
  it('Div where both inputs depend on x', () =>
    expectMatch(chain(dims, [
      { op: 'Sigmoid', inputs: ['x'], outputs: ['s'] },
      { op: 'Add', inputs: ['s', 'one'], outputs: ['t'] },
      { op: 'Div', inputs: ['x', 't'], outputs: ['y'] },
    ], [{ name: 'one', dims: [], values: [1] }])));
  it('Max and Min of two branches, Where', () =>
    expectMatch(chain(dims, [
      { op: 'Mul', inputs: ['x', 'k'], outputs: ['a'] },
      { op: 'Max', inputs: ['x', 'a'], outputs: ['m'] },
      { op: 'Min', inputs: ['m', 'cap'], outputs: ['n'] },
      { op: 'Greater', inputs: ['x', 'zero'], outputs: ['cond'] },
      { op: 'Where', inputs: ['cond', 'n', 'a'], outputs: ['y'] },
    ], [{ name: 'k', dims: [], values: [0.3] }, { name: 'cap', dims: [], values: [0.8] }, { name: 'zero', dims: [], values: [0] }])));
  it('Softmax and LogSoftmax inside the network', () =>
    expectMatch(chain([1, 3, 4], [
      { op: 'Softmax', inputs: ['x'], outputs: ['s'], attrs: [A.i('axis', -1)] },
      { op: 'Mul', inputs: ['s', 'k'], outputs: ['t'] },
      { op: 'LogSoftmax', inputs: ['t'], outputs: ['l'], attrs: [A.i('axis', 1)] },
      { op: 'Mul', inputs: ['l', 'k'], outputs: ['y'] },
    ], [w('k', [3, 4], 10, 2)])));
  it('BatchNormalization (inference)', () =>
    expectMatch(single('BatchNormalization', dims, [A.f('epsilon', 1e-3)],
      [w('g', [3], 11), w('b', [3], 12), w('mean', [3], 13), { name: 'var', dims: [3], values: [0.5, 1.5, 2] }], ['g', 'b', 'mean', 'var'])));
});

describe('ONNX gradient rules: ops of converted TF.js/Keras models', () => {
  const dims = [1, 3, 5, 6];
  const n = size(dims);
  // Inputs kept away from the ops' singular points and kinks.
  const positive = Float32Array.from(randn(n, 50), (v) => Math.abs(v) + 0.5);
  const awayFromZero = Float32Array.from(randn(n, 51), (v) => Math.sign(v) * (Math.abs(v) + 0.5));
  it('Elu (alpha 0.7)', () => expectMatch(single('Elu', dims, [A.f('alpha', 0.7)])));
  it('Selu (default alpha and gamma)', () => expectMatch(single('Selu', dims)));
  it('Selu (alpha 1.2, gamma 0.8)', () => expectMatch(single('Selu', dims, [A.f('alpha', 1.2), A.f('gamma', 0.8)])));
  it('Softplus', () => expectMatch(single('Softplus', dims, [], [], [], 17), { x: randn(n, 52, 3) }));
  it('Softsign', () => expectMatch(single('Softsign', dims), { x: randn(n, 53, 3) }));
  it('Erf', () => expectMatch(single('Erf', dims)));
  it('Sqrt (positive inputs)', () => expectMatch(single('Sqrt', dims), { x: positive }));
  it('Reciprocal (inputs away from 0)', () => expectMatch(single('Reciprocal', dims), { x: awayFromZero }));
  it('Abs', () => expectMatch(single('Abs', dims)));
  it('Log (positive inputs)', () => expectMatch(single('Log', dims), { x: positive }));
  for (const b of [2, 0.5]) {
    it(`Pow with a constant exponent ${b} (positive inputs)`, () =>
      expectMatch(single('Pow', dims, [], [{ name: 'b', dims: [], values: [b] }], ['b']), { x: positive }));
  }
  it('Pow with an int64 exponent', () =>
    expectMatch(single('Pow', dims, [], [{ name: 'b', dims: [], values: [3], type: 'int64' }], ['b'])));
  it('Pow with a per-channel exponent that broadcasts x (summed back)', () =>
    expectMatch(single('Pow', [1, 1, 5, 6], [], [{ name: 'b', dims: [3, 1, 1], values: [2, 0.5, 1.5] }], ['b']), { x: positive.slice(0, 30) }));
  it('Pow whose exponent depends on the input is refused at load', async () => {
    const file = path.join(kit.dir, 'pow.onnx');
    fs.writeFileSync(file, buildModel(chain(dims, [{ op: 'Pow', inputs: ['x', 'x'], outputs: ['y'], name: 'the_Pow' }])));
    await assert.rejects(OnnxRuntime.load(file, { layout: 'asis' }), (e: Error) => e instanceof UserError &&
      /node "the_Pow".*its exponent depends on the input/.test(e.message));
  });
  it('Mish (opset 18)', () => expectMatch(single('Mish', dims, [], [], [], 18), { x: randn(n, 54, 2) }));
  for (const approximate of ['none', 'tanh']) {
    it(`Gelu, approximate "${approximate}" (opset 20)`, () =>
      expectMatch(single('Gelu', dims, [A.s('approximate', approximate)], [], [], 20), { x: randn(n, 55, 2) }));
  }
  it('Mean of three inputs, one broadcast', () =>
    expectMatch(chain(dims, [
      { op: 'Sigmoid', inputs: ['x'], outputs: ['s'] },
      { op: 'ReduceMean', inputs: ['x'], outputs: ['r'], attrs: [A.ints('axes', [1])] },
      { op: 'Mean', inputs: ['x', 's', 'r'], outputs: ['m'] },
      { op: 'Mul', inputs: ['m', 'k'], outputs: ['y'] },
    ], [w('k', [6], 56, 2)])));
  // Only the extrema get a gradient: every coordinate is checked, not a random 40.
  for (const op of ['ReduceMax', 'ReduceMin']) {
    for (const keep of [0, 1]) {
      it(`${op} over H, W (keepdims ${keep}, axes as attribute, opset 17)`, () =>
        expectMatch(single(op, dims, [A.ints('axes', [2, 3]), A.i('keepdims', keep)]), { coords: n }));
      it(`${op} over W (keepdims ${keep}, axes as input, opset 18)`, () =>
        expectMatch(single(op, dims, [A.i('keepdims', keep)], [{ name: 'axes', dims: [1], values: [-1], type: 'int64' }], ['axes'], 18), { coords: n }));
    }
    it(`${op} over everything but the batch (no axes, opset 18)`, () =>
      expectMatch(chain(dims, [
        { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['r'] },
        { op, inputs: ['r', 'axes'], outputs: ['y'] },
      ], [{ name: 'shape', dims: [2], values: [1, -1], type: 'int64' }, { name: 'axes', dims: [1], values: [1], type: 'int64' }], 18), { coords: n }));
  }
  it('GlobalMaxPool', () => expectMatch(single('GlobalMaxPool', dims), { coords: n }));
  it('ReduceMax and GlobalMaxPool give tied maxima all of dy, as tfjs does (no splitting)', async () => {
    // Two rows of four with ties: [1, 3, 3, 0] and [2, 2, 2, 2].
    const x = [1, 3, 3, 0, 2, 2, 2, 2];
    for (const spec of [
      single('ReduceMax', [1, 2, 4], [A.ints('axes', [2]), A.i('keepdims', 0)]),
      chain([1, 2, 4, 1], [{ op: 'GlobalMaxPool', inputs: ['x'], outputs: ['p'] }, { op: 'Flatten', inputs: ['p'], outputs: ['y'] }]),
    ]) {
      const file = path.join(kit.dir, `ties_${spec.nodes[0].op}.onnx`);
      fs.writeFileSync(file, buildModel(spec));
      const runtime = await OnnxRuntime.load(file, { layout: 'asis' });
      const xt = tf.tensor(x, [1, ...runtime.inputShape]);
      const trace = await runtime.trace(xt);
      const seed = tf.tensor2d([[0.5, -2]]);
      const g = (await trace.vjp(seed, ['input'])).get('input')!;
      assert.deepEqual(Array.from(g.dataSync()), [0, 0.5, 0.5, 0, -2, -2, -2, -2]);
      tf.dispose([xt, seed, g]);
      trace.dispose();
      runtime.dispose();
    }
  });
  // Asymmetric pads on H and W; reflect allows at most length − 1 (H = 5 takes 4 before).
  const padTo = (mode: string, pads: number[], opset = 17, axes?: number[]) => single('Pad', [1, 2, 5, 6], [A.s('mode', mode)],
    [{ name: 'pads', dims: [pads.length], values: pads, type: 'int64' },
      ...(axes ? [{ name: 'axes', dims: [axes.length], values: axes, type: 'int64' as const }] : [])],
    ['pads', ...(axes ? ['', 'axes'] : [])], opset);
  it('Pad reflect, asymmetric on H and W', () => expectMatch(padTo('reflect', [0, 0, 2, 1, 0, 0, 1, 3])));
  it('Pad reflect, length − 1 before on H, one side only on W', () => expectMatch(padTo('reflect', [0, 0, 4, 0, 0, 0, 0, 5])));
  it('Pad edge, asymmetric on H and W, pads longer than the axis', () => expectMatch(padTo('edge', [0, 0, 1, 7, 0, 0, 3, 2])));
  it('Pad edge with axes as input (opset 18)', () => expectMatch(padTo('edge', [2, 0, 1, 4], 18, [2, -1])));
  it('Pad reflect on channels too (opset 18 axes)', () => expectMatch(padTo('reflect', [1, 0, 1, 3], 18, [1, 3])));
  it('several seeds at once through every new rule (one batch, as one run per seed)', () =>
    expectSeedsAtOnce(chain([1, 3, 6, 5], [
      { op: 'Pad', inputs: ['x', 'reflectPads'], outputs: ['p'], attrs: [A.s('mode', 'reflect')], name: 'pad' },
      { op: 'Elu', inputs: ['p'], outputs: ['elu'] },
      { op: 'Selu', inputs: ['elu'], outputs: ['selu'] },
      { op: 'Pad', inputs: ['selu', 'edgePads'], outputs: ['q'], attrs: [A.s('mode', 'edge')] },
      { op: 'Softplus', inputs: ['q'], outputs: ['sp'] },
      { op: 'Sqrt', inputs: ['sp'], outputs: ['sq'] },
      { op: 'Log', inputs: ['sq'], outputs: ['lg'] },
      { op: 'Softsign', inputs: ['lg'], outputs: ['ss'] },
      { op: 'Erf', inputs: ['ss'], outputs: ['er'] },
      { op: 'Abs', inputs: ['er'], outputs: ['ab'] },
      { op: 'Pow', inputs: ['sp', 'half'], outputs: ['pw'] },
      { op: 'Reciprocal', inputs: ['sp'], outputs: ['rc'] },
      { op: 'Mish', inputs: ['q'], outputs: ['mi'] },
      { op: 'Gelu', inputs: ['q'], outputs: ['ge'], attrs: [A.s('approximate', 'tanh')] },
      { op: 'Mean', inputs: ['ab', 'pw', 'rc', 'mi', 'ge'], outputs: ['mean'] },
      { op: 'ReduceMin', inputs: ['mean', 'axisW'], outputs: ['rmin'], attrs: [A.i('keepdims', 1)] },
      { op: 'GlobalMaxPool', inputs: ['mean'], outputs: ['gmax'] },
      { op: 'Add', inputs: ['rmin', 'gmax'], outputs: ['s'] },
      { op: 'ReduceMax', inputs: ['s', 'axisH'], outputs: ['rmax'], attrs: [A.i('keepdims', 0)] },
      { op: 'Flatten', inputs: ['rmax'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'W'], outputs: ['y'], attrs: [A.i('transB', 1)] },
    ], [{ name: 'reflectPads', dims: [8], values: [0, 0, 2, 1, 0, 0, 1, 3], type: 'int64' },
      { name: 'edgePads', dims: [8], values: [0, 0, 0, 1, 0, 0, 2, 0], type: 'int64' }, { name: 'half', dims: [], values: [0.5] },
      { name: 'axisW', dims: [1], values: [3], type: 'int64' }, { name: 'axisH', dims: [1], values: [2], type: 'int64' },
      w('W', [4, 3], 57, 1)], 20), 'new_rules', ['pad'], true));
});

describe('ONNX gradient rules: dense layers and shape ops', () => {
  it('Gemm with transB, alpha, beta and a bias', () =>
    expectMatch(single('Gemm', [1, 6], [A.i('transB', 1), A.f('alpha', 0.7), A.f('beta', 1.3)], [w('W', [4, 6], 14), w('C', [4], 15)], ['W', 'C'])));
  it('Gemm without transB', () => expectMatch(single('Gemm', [1, 6], [], [w('W', [6, 4], 16)], ['W'])));
  it('Gemm with the input as B (transA)', () =>
    expectMatch(chain([1, 6], [
      { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['xr'] },
      { op: 'Gemm', inputs: ['W', 'xr'], outputs: ['z'], attrs: [A.i('transA', 1)] },
      { op: 'Reshape', inputs: ['z', 'flat'], outputs: ['y'] },
    ], [w('W', [3, 4], 17), { name: 'shape', dims: [2], values: [3, 2], type: 'int64' }, { name: 'flat', dims: [2], values: [1, -1], type: 'int64' }])));
  it('MatMul with a constant weight (3-D input)', () => expectMatch(single('MatMul', [1, 5, 6], [], [w('W', [6, 4], 18)], ['W'])));
  it('MatMul with a constant left operand', () =>
    expectMatch(chain([1, 6, 5], [{ op: 'MatMul', inputs: ['W', 'x'], outputs: ['y'] }], [w('W', [4, 6], 19)])));
  it('MatMul of two tensors that depend on x', () =>
    expectMatch(chain([1, 4, 4], [
      { op: 'Transpose', inputs: ['x'], outputs: ['t'], attrs: [A.ints('perm', [0, 2, 1])] },
      { op: 'MatMul', inputs: ['x', 't'], outputs: ['y'] },
    ])));
  // A dot product has a rank-0 output (Reshapes around it make the model's [1, 5] → [1, 1]).
  const dot = (left: string, right: string, inits: Init[] = []) => chain([1, 5], [
    { op: 'Reshape', inputs: ['x', 'flat5'], outputs: ['v'] },
    { op: 'MatMul', inputs: [left, right], outputs: ['s'] },
    { op: 'Reshape', inputs: ['s', 'one'], outputs: ['y'] },
  ], [{ name: 'flat5', dims: [1], values: [5], type: 'int64' }, { name: 'one', dims: [2], values: [1, 1], type: 'int64' }, ...inits]);
  it('MatMul of two 1-D tensors (a dot product with a constant)', () => expectMatch(dot('W', 'v', [w('W', [5], 22)]), { eps: 0.5 }));
  it('MatMul of a 1-D tensor with itself (v·v)', () => expectMatch(dot('v', 'v')));
  it('Concat of two branches along channels, then Split', () =>
    expectMatch(chain([1, 3, 4, 5], [
      { op: 'Relu', inputs: ['x'], outputs: ['a'] },
      { op: 'Sigmoid', inputs: ['x'], outputs: ['b'] },
      { op: 'Concat', inputs: ['a', 'x', 'b'], outputs: ['c'], attrs: [A.i('axis', 1)] },
      { op: 'Split', inputs: ['c', 'split'], outputs: ['p', 'q'], attrs: [A.i('axis', 1)] },
      { op: 'Mul', inputs: ['q', 'k'], outputs: ['y'] },
    ], [{ name: 'split', dims: [2], values: [4, 5], type: 'int64' }, w('k', [5, 1, 1], 20)])));
  it('Slice with steps, negative starts and a clamped end', () =>
    expectMatch(single('Slice', [1, 3, 9, 8], [], [
      { name: 'starts', dims: [2], values: [1, -7], type: 'int64' },
      { name: 'ends', dims: [2], values: [100, 7], type: 'int64' },
      { name: 'axes', dims: [2], values: [2, 3], type: 'int64' },
      { name: 'steps', dims: [2], values: [2, 3], type: 'int64' },
    ], ['starts', 'ends', 'axes', 'steps'])));
  it('Pad (constant, with a negative pad that crops)', () =>
    expectMatch(single('Pad', [1, 2, 5, 6], [A.s('mode', 'constant')],
      [{ name: 'pads', dims: [8], values: [0, 0, 2, -1, 0, 0, 1, 3], type: 'int64' }, { name: 'v', dims: [], values: [0.5] }], ['pads', 'v'])));
  it('Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Identity, Dropout', () =>
    expectMatch(chain([1, 2, 3, 4], [
      { op: 'Transpose', inputs: ['x'], outputs: ['t'], attrs: [A.ints('perm', [0, 2, 3, 1])] },
      { op: 'Flatten', inputs: ['t'], outputs: ['f'], attrs: [A.i('axis', 1)] },
      { op: 'Unsqueeze', inputs: ['f', 'ax'], outputs: ['u'] },
      { op: 'Identity', inputs: ['u'], outputs: ['i'] },
      { op: 'Dropout', inputs: ['i'], outputs: ['d'] },
      { op: 'Squeeze', inputs: ['d', 'ax'], outputs: ['s'] },
      { op: 'Reshape', inputs: ['s', 'shape'], outputs: ['r'] },
      { op: 'Mul', inputs: ['r', 'k'], outputs: ['y'] },
    ], [{ name: 'ax', dims: [1], values: [2], type: 'int64' }, { name: 'shape', dims: [3], values: [1, 6, -1], type: 'int64' }, w('k', [6, 4], 21)])));
});

describe('ONNX gradient rules: Dropout in training mode', () => {
  const dropout = (ratio: number) => chain([1, 3, 4], [
    { op: 'Dropout', inputs: ['x', 'ratio', 'training'], outputs: ['d'] },
    { op: 'Mul', inputs: ['d', 'd'], outputs: ['y'] },
  ], [{ name: 'ratio', dims: [], values: [ratio], type: 'float32' }, { name: 'training', dims: [], values: [1], type: 'bool' }]);
  it('with ratio 0 (as torchvision exports Swin\'s attention) is the identity', () => expectMatch(dropout(0)));
  it('with a ratio above 0 is refused at load: it drops at random', async () => {
    const file = path.join(kit.dir, 'dropout-training.onnx');
    fs.writeFileSync(file, buildModel(dropout(0.1)));
    await assert.rejects(OnnxRuntime.load(file, { layout: 'asis' }), (e: Error) => e instanceof UserError &&
      /operator "Dropout" .*in training mode/.test(e.message) && !e.message.includes('\n'));
  });
});

describe('ONNX gradient rules: LayerNormalization, Gather and GatherElements (transformers)', () => {
  const ints = (name: string, dims: number[], values: number[]): Init => ({ name, dims, values, type: 'int64' });
  const layerNorm = (dims: number[], axis: number, bias: boolean) => {
    const normalized = dims.slice(axis < 0 ? axis + dims.length : axis);
    const inits = [w('S', normalized, 30, 1), ...(bias ? [w('B', normalized, 31)] : [])];
    return single('LayerNormalization', dims, [A.i('axis', axis), A.f('epsilon', 1e-3)], inits, bias ? ['S', 'B'] : ['S']);
  };
  it('LayerNormalization over the last axis, with a bias', () => expectMatch(layerNorm([1, 5, 6], -1, true)));
  it('LayerNormalization over the last two axes (axis −2), without a bias', () => expectMatch(layerNorm([1, 3, 4, 5], -2, false)));
  it('LayerNormalization over the last two axes (axis 2, positive), with a bias', () => expectMatch(layerNorm([1, 3, 4, 5], 2, true)));
  it('LayerNormalization whose Mean and InvStdDev outputs are used too', () =>
    expectMatch(chain([1, 4, 6], [
      { op: 'LayerNormalization', inputs: ['x', 'S'], outputs: ['n', 'mu', 'inv'], attrs: [A.f('epsilon', 1e-2)] },
      { op: 'Add', inputs: ['n', 'mu'], outputs: ['a'] },
      { op: 'Mul', inputs: ['a', 'inv'], outputs: ['y'] },
    ], [w('S', [6], 32, 1)])));
  it('LayerNormalization whose Mean alone reaches the output', () =>
    expectMatch(chain([1, 4, 6], [
      { op: 'LayerNormalization', inputs: ['x', 'S'], outputs: ['n', 'mu'] },
      { op: 'Mul', inputs: ['mu', 'k'], outputs: ['y'] },
    ], [w('S', [6], 33, 1), w('k', [4, 3], 34, 1)])));

  const gather = (dims: number[], axis: number, idxDims: number[], idx: number[], opset = 17) =>
    chain(dims, [
      { op: 'Gather', inputs: ['x', 'i'], outputs: ['g'], attrs: [A.i('axis', axis)] },
      { op: 'Mul', inputs: ['g', 'g'], outputs: ['y'] },
    ], [ints('i', idxDims, idx)], opset);
  it('Gather of the class token (scalar index 0 on axis 1 drops the axis)', () => expectMatch(gather([1, 5, 4], 1, [], [0])));
  it('Gather with a negative scalar index on the last axis', () => expectMatch(gather([1, 3, 5], 2, [], [-2])));
  it('Gather with repeated and negative 1-D indices (the gradient accumulates)', () =>
    expectMatch(gather([1, 5, 3], 1, [5], [2, 0, 2, -1, 4])));
  it('Gather with 2-D indices', () => expectMatch(gather([1, 2, 4, 3], 2, [2, 2], [0, 3, 3, -1])));
  it('Gather on axis 0 (rows of a reshaped input)', () =>
    expectMatch(chain([1, 6], [
      { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['r'] },
      { op: 'Gather', inputs: ['r', 'i'], outputs: ['g'], attrs: [A.i('axis', 0)] },
      { op: 'Mul', inputs: ['g', 'g'], outputs: ['p'] },
      { op: 'Reshape', inputs: ['p', 'flat'], outputs: ['y'] },
    ], [ints('shape', [2], [3, 2]), ints('i', [4], [2, 0, 2, -3]), ints('flat', [2], [1, -1])])));
  it('Gather below opset 16 with indices that do not repeat (a plain scatter)', () =>
    expectMatch(gather([1, 5, 3], 1, [3], [4, -5, 2], 13)));
  it('Gather below opset 16 with repeated indices is refused at load, saying to re-export', async () => {
    const file = path.join(kit.dir, 'gather13.onnx');
    fs.writeFileSync(file, buildModel(gather([1, 5, 3], 1, [2], [1, 1], 13)));
    await assert.rejects(OnnxRuntime.load(file, { layout: 'asis' }), (e: Error) => e instanceof UserError &&
      /operator "Gather" .*re-export the model with opset 16 or newer/.test(e.message) && !e.message.includes('\n'));
  });

  const gatherElements = (opset = 17) => chain([1, 4, 3], [
    { op: 'GatherElements', inputs: ['x', 'i'], outputs: ['g'], attrs: [A.i('axis', 1)] },
    { op: 'Mul', inputs: ['g', 'g'], outputs: ['y'] },
  ], [ints('i', [1, 3, 3], [0, 3, -1, 3, 3, 0, 1, -4, 2])], opset);
  it('GatherElements with repeated and negative indices', () => expectMatch(gatherElements()));
  it('GatherElements with indices computed from the input (ArgMax: a max over an axis)', () =>
    expectMatch(chain([1, 3, 5, 4], [
      { op: 'ArgMax', inputs: ['x'], outputs: ['am'], attrs: [A.i('axis', 2), A.i('keepdims', 1)] },
      { op: 'GatherElements', inputs: ['x', 'am'], outputs: ['g'], attrs: [A.i('axis', 2)] },
      { op: 'Mul', inputs: ['g', 'k'], outputs: ['y'] },
    ], [w('k', [3, 1, 4], 35, 1)])));
  it('GatherElements below opset 16 with repeated indices is refused at load', async () => {
    const file = path.join(kit.dir, 'gatherElements13.onnx');
    fs.writeFileSync(file, buildModel(gatherElements(13)));
    await assert.rejects(OnnxRuntime.load(file, { layout: 'asis' }), (e: Error) => e instanceof UserError &&
      /operator "GatherElements" .*opset 16 or newer/.test(e.message));
  });

  // ViT in small: 2×2 patches of a 6×6 image → 9 tokens after a class token, a LayerNorm, one head of self-attention
  // (without it the class token would not depend on the image), the final LayerNorm, the class token out, a head.
  const vit: NodeSpec[] = [
    { op: 'Conv', inputs: ['x', 'Wp', 'Bp'], outputs: ['p'], attrs: [A.ints('kernel_shape', [2, 2]), A.ints('strides', [2, 2])], name: 'patch_embed' },
    { op: 'Reshape', inputs: ['p', 'tokensShape'], outputs: ['pt'] },
    { op: 'Transpose', inputs: ['pt'], outputs: ['tokens'], attrs: [A.ints('perm', [0, 2, 1])] },
    { op: 'Concat', inputs: ['cls', 'tokens'], outputs: ['seq'], attrs: [A.i('axis', 1)] },
    { op: 'Add', inputs: ['seq', 'pos'], outputs: ['emb'] },
    { op: 'LayerNormalization', inputs: ['emb', 'S', 'B'], outputs: ['ln'], attrs: [A.f('epsilon', 1e-6)], name: 'ln_1' },
    { op: 'Transpose', inputs: ['ln'], outputs: ['lnT'], attrs: [A.ints('perm', [0, 2, 1])] },
    { op: 'MatMul', inputs: ['ln', 'lnT'], outputs: ['scores'] },
    { op: 'Softmax', inputs: ['scores'], outputs: ['attn'], attrs: [A.i('axis', -1)] },
    { op: 'MatMul', inputs: ['attn', 'ln'], outputs: ['mixed'] },
    { op: 'Add', inputs: ['emb', 'mixed'], outputs: ['block'] },
    { op: 'LayerNormalization', inputs: ['block', 'S2'], outputs: ['final'], attrs: [A.i('axis', -1), A.f('epsilon', 1e-6)] },
    { op: 'Gather', inputs: ['final', 'zero'], outputs: ['c'], attrs: [A.i('axis', 1)] },
    { op: 'Gemm', inputs: ['c', 'Wh', 'Bh'], outputs: ['y'], attrs: [A.i('transB', 1)] },
  ];
  const vitInits = [w('Wp', [4, 3, 2, 2], 36), w('Bp', [4], 37), ints('tokensShape', [3], [1, 4, 9]), w('cls', [1, 1, 4], 38),
    w('pos', [1, 10, 4], 39), w('S', [4], 40, 1), w('B', [4], 41), w('S2', [4], 44, 1), ints('zero', [], [0]), w('Wh', [5, 4], 42), w('Bh', [5], 43)];
  it('a tiny ViT (patch conv, class token, LayerNorm, Gather of the class token, Gemm) end to end', () =>
    expectMatch(chain([1, 3, 6, 6], vit, vitInits)));
  it('LayerNormalization and a class-token Gather run several seeds at once', () =>
    expectSeedsAtOnce(chain([1, 3, 6, 6], vit, vitInits), 'vit', ['ln_1'], true));
});

describe('ONNX gradients at an intermediate tensor (Grad-CAM) and through small nets', () => {
  const convAttrs = (k: number, s = 1, p = 1) => [A.ints('kernel_shape', [k, k]), A.ints('strides', [s, s]), A.ints('pads', [p, p, p, p])];
  // The part after the Grad-CAM tensor has float64 kernels in ORT, so its finite differences are exact.
  const tail: NodeSpec[] = [
    { op: 'Relu', inputs: ['c1'], outputs: ['t'], name: 'relu1' },
    { op: 'Mul', inputs: ['t', 'K2'], outputs: ['c2'] },
    { op: 'Relu', inputs: ['c2'], outputs: ['r2'] },
    { op: 'MaxPool', inputs: ['r2'], outputs: ['m'], attrs: [A.ints('kernel_shape', [3, 3]), A.ints('strides', [1, 1]), A.ints('pads', [1, 1, 1, 1])] },
    { op: 'Add', inputs: ['m', 'c2'], outputs: ['s'] },
    { op: 'ReduceMean', inputs: ['s'], outputs: ['g'], attrs: [A.ints('axes', [2, 3])] },
    { op: 'Flatten', inputs: ['g'], outputs: ['f'] },
    { op: 'Gemm', inputs: ['f', 'Wd', 'Bd'], outputs: ['y'], attrs: [A.i('transB', 1)] },
  ];
  const inits = [w('W1', [6, 3, 3, 3], 22), w('B1', [6], 23, 0.1), w('K2', [6, 1, 1], 24, 1), w('Wd', [5, 6], 26), w('Bd', [5], 27)];
  const head: NodeSpec[] = [{ op: 'Conv', inputs: ['x', 'W1', 'B1'], outputs: ['c1'], attrs: convAttrs(3), name: 'conv1' }];
  const full = chain([1, 3, 10, 9], [...head, ...tail], inits);
  it('input gradient of a small conv/pool/residual net', () => expectMatch(full, { eps: 1e-2 }));
  // At the convolution's output rather than after its ReLU: a ReLU's exact zeros are kinks finite differences cannot see past.
  for (const [label, target] of [['node name', 'conv1'], ['tensor name', 'c1']]) {
    it(`gradient at an intermediate tensor given by ${label}`, () => {
      const sub: ModelSpec = { input: { name: 'c1', dims: [1, 6, 10, 9] }, nodes: tail, inits, outputs: ['y'] };
      return expectMatch(full, { target, sub });
    });
  }

  it('the finite-difference reference does not batch rows through a model that mixes its batch axis', async () => {
    // With batch 1, y = k·x + k2·(x − mean over axis 0) = k·x; a batch of rows would blend in k2 through the mean.
    const spec = chain([1, 3, 4], [
      { op: 'ReduceMean', inputs: ['x'], outputs: ['m'], attrs: [A.ints('axes', [0]), A.i('keepdims', 1)] },
      { op: 'Sub', inputs: ['x', 'm'], outputs: ['d'] },
      { op: 'Mul', inputs: ['d', 'k2'], outputs: ['e'] },
      { op: 'Mul', inputs: ['x', 'k'], outputs: ['f'] },
      { op: 'Add', inputs: ['e', 'f'], outputs: ['y'] },
    ], [w('k', [3, 4], 42, 1), w('k2', [3, 4], 43, 1)], 13);
    const r = await checkGradient(spec, { dir: kit.dir, coords: 12 });
    r.runtime.dispose();
    assert.equal(r.checked, 12);
    assert.ok(r.error <= 1e-4, `max relative error ${r.error.toExponential(2)}`);
  });

  it("a linear model's input gradient is exactly W_c (NCHW image through the NHWC interface)", async () => {
    const [c, h, wd, classes] = [3, 4, 5, 6];
    const weights = randn(classes * c * h * wd, 28);
    const spec = chain([1, c, h, wd], [
      { op: 'Flatten', inputs: ['x'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'W', 'B'], outputs: ['y'], attrs: [A.i('transB', 1)] },
    ], [{ name: 'W', dims: [classes, c * h * wd], values: weights }, w('B', [classes], 29)]);
    const file = path.join(kit.dir, 'linear.onnx');
    fs.writeFileSync(file, buildModel(spec));
    const runtime = await OnnxRuntime.load(file);
    assert.deepEqual(runtime.inputShape, [h, wd, c]);
    const x = tf.randomNormal([1, h, wd, c], 0, 1, 'float32', 3);
    const trace = await runtime.trace(x);
    for (let k = 0; k < classes; k++) {
      const seed = tf.oneHot([k], classes).toFloat() as tf.Tensor2D;
      const g = (await trace.vjp(seed, ['input'])).get('input')!;
      assert.deepEqual(g.shape, [1, h, wd, c]);
      const got = g.dataSync();
      for (let ci = 0; ci < c; ci++) {
        for (let y = 0; y < h; y++) {
          for (let xx = 0; xx < wd; xx++) {
            assert.equal(got[(y * wd + xx) * c + ci], weights[k * c * h * wd + (ci * h + y) * wd + xx]);
          }
        }
      }
      g.dispose();
      seed.dispose();
    }
    trace.dispose();
    x.dispose();
    runtime.dispose();
  });

  it('several seeds in one run equal one run per seed (and fall back when the seed axis is mixed)', async () => {
    const moved = chain([1, 3, 10, 9], [
      ...head,
      { op: 'Relu', inputs: ['c1'], outputs: ['t'] },
      { op: 'Transpose', inputs: ['t'], outputs: ['tt'], attrs: [A.ints('perm', [1, 0, 2, 3])] },
      { op: 'Flatten', inputs: ['tt'], outputs: ['ff'], attrs: [A.i('axis', 0)] },
      { op: 'Gemm', inputs: ['ff', 'Wm'], outputs: ['y'], attrs: [A.i('transB', 1)] },
    ], [...inits, w('Wm', [4, 540], 30, 0.1)]);
    assert.equal(moved.nodes.length, 5);
    await expectSeedsAtOnce(full, 'full', ['conv1'], true);
    await expectSeedsAtOnce(moved, 'moved', ['conv1'], false);
  });

  it('weights in float_data and int64_data, and a Reshape whose shape is computed from Shape (PyTorch view(n, -1))', () => {
    const spec = chain([1, 3, 6, 5], [
      { op: 'Conv', inputs: ['x', 'W'], outputs: ['c'], attrs: convAttrs(3) },
      { op: 'Pad', inputs: ['c', 'pads'], outputs: ['p'] },
      { op: 'Shape', inputs: ['p'], outputs: ['s'] },
      { op: 'Gather', inputs: ['s', 'zero'], outputs: ['n'], attrs: [A.i('axis', 0)] },
      { op: 'Unsqueeze', inputs: ['n', 'axis0'], outputs: ['n1'] },
      { op: 'Concat', inputs: ['n1', 'minus1'], outputs: ['shape'], attrs: [A.i('axis', 0)] },
      { op: 'Reshape', inputs: ['p', 'shape'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'Wd'], outputs: ['y'], attrs: [A.i('transB', 1)] },
    ], [w('W', [2, 3, 3, 3], 40), { name: 'pads', dims: [8], values: [0, 0, 1, 0, 0, 0, 0, 1], type: 'int64' },
      { name: 'zero', dims: [], values: [0], type: 'int64' }, { name: 'axis0', dims: [1], values: [0], type: 'int64' },
      { name: 'minus1', dims: [1], values: [-1], type: 'int64' }, w('Wd', [4, 2 * 7 * 6], 41)]);
    // Store the weights the other ways ONNX allows: float_data and int64_data instead of raw_data.
    const proto = modelProto(spec);
    for (const t of proto.graph!.initializer!) {
      const raw = Buffer.from(t.rawData!);
      if (t.dataType === 1) t.floatData = Array.from({ length: raw.length / 4 }, (_, i) => raw.readFloatLE(4 * i));
      else t.int64Data = Array.from({ length: raw.length / 8 }, (_, i) => Number(raw.readBigInt64LE(8 * i)));
      t.rawData = undefined;
    }
    return expectMatch(spec, { eps: 0.5, bytes: onnx.ModelProto.encode(proto).finish() });
  });

  it('an opset 8 model (Clip and Pad with attributes, BatchNorm with spatial) is upgraded and differentiated', () =>
    expectMatch(chain([1, 3, 6, 5], [
      { op: 'Pad', inputs: ['x'], outputs: ['p'], attrs: [A.ints('pads', [0, 0, 1, 0, 0, 0, 0, 2]), A.s('mode', 'constant')] },
      { op: 'BatchNormalization', inputs: ['p', 'g', 'b', 'mean', 'var'], outputs: ['n'], attrs: [A.i('spatial', 1)] },
      { op: 'Clip', inputs: ['n'], outputs: ['c'], attrs: [A.f('min', 0), A.f('max', 1)] },
      { op: 'MaxPool', inputs: ['c'], outputs: ['y'], attrs: [A.ints('kernel_shape', [3, 3]), A.ints('strides', [2, 2])] },
    ], [w('g', [3], 31), w('b', [3], 32), w('mean', [3], 33), { name: 'var', dims: [3], values: [1, 2, 0.5] }], 8)));
});
