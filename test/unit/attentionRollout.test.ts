/**
 * Attention rollout (src/engine/methods/attentionRollout.ts, rollout.ts; the attention read from the graph by
 * runtimes/onnx/attention.ts): against rollout computed by hand in PyTorch on the tiny ViT fixtures
 * (scripts/onnx/export_rollout_refs.py: attention captured from nn.MultiheadAttention and recomputed from its
 * weights; mean/max/min head fusion, with and without discarding), closed forms for uniform, identity and mixed
 * attention, and the refusals: a CNN, windowed attention (Swin), a contrast of two classes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { tokenFixtureImage } from '../fixtures/tokenImage';
import { UserError } from '../../src/engine/errors';
import { Explainer } from '../../src/engine/explain';
import { discardLowest, gradientRolloutMap, HeadFusion, rolloutMap } from '../../src/engine/methods/rollout';
import { OnnxRuntime } from '../../src/engine/runtimes/onnx/onnxRuntime';
import { NO_ATTENTION_REASON, unavailableReason } from '../../src/shared/methodAvailability';
import { methodSpec } from '../../src/shared/methods';
import { bilinearResize } from '../../src/shared/resize';
import { relativeError } from './helpers';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'onnx', 'tokens');
const MNIST_CNN = path.join(__dirname, '..', '..', 'examples', 'mnist-cnn-onnx', 'model.onnx');

interface RolloutRef {
  tokens: number;
  heads: number;
  blocks: number;
  special: number;
  rollouts: { headFusion: HeadFusion; discardRatio: number; map: number[] }[];
}

const REFS = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'rollout.ref.json'), 'utf8')) as Record<string, RolloutRef>;

/** The models' input sizes and patch grids (export_token_fixtures.py, export_rollout_refs.py). */
const GEOMETRY: Record<string, { input: [number, number]; grid: [number, number] }> = {
  vit_p16: { input: [64, 64], grid: [4, 4] },
  vit_p16_4d: { input: [64, 64], grid: [4, 4] },
  vit_p8_reg: { input: [48, 80], grid: [6, 10] },
  vit_p32: { input: [64, 96], grid: [2, 3] },
  vit_gap: { input: [64, 64], grid: [4, 4] },
};

const image = tokenFixtureImage;

before(async () => {
  await initBackend();
});

describe('attention rollout against PyTorch', () => {
  for (const [name, ref] of Object.entries(REFS)) {
    describe(name, () => {
      let ex: Explainer;
      let x: tf.Tensor;
      const { input, grid } = GEOMETRY[name];
      before(async () => {
        ex = await Explainer.open(path.join(FIXTURES, `${name}.onnx`));
        x = image(...input);
      });
      after(() => {
        x.dispose();
        ex.dispose();
      });

      it('finds every block\'s attention, its heads, the tokens and the patch grid', () => {
        const layout = (ex.runtime as OnnxRuntime).attentionLayout();
        assert.ok(layout, 'attention found');
        assert.equal(layout.tensors.length, ref.blocks);
        assert.deepEqual(layout.heads, Array(ref.blocks).fill(ref.heads));
        assert.equal(layout.tokens, ref.tokens);
        assert.equal(layout.skip, ref.special);
        assert.deepEqual([layout.height, layout.width], grid);
      });

      for (const r of ref.rollouts) {
        it(`headFusion ${r.headFusion}, discardRatio ${r.discardRatio}`, async () => {
          const attention = await (ex.runtime as OnnxRuntime).attentionMatrices(x);
          const ours = rolloutMap(attention, r);
          assert.ok(relativeError(ours, r.map) < 1e-5, `patch grid: relative error ${relativeError(ours, r.map)}`);
          // Through the explainer: the grid upsampled to the model input, and the class-independence said.
          const map = (await ex.explainTensor(x, { methods: ['rollout'], options: { rollout: { headFusion: r.headFusion, discardRatio: r.discardRatio } } })).maps[0];
          assert.deepEqual([map.height, map.width], input);
          assert.deepEqual(map.layerSize, grid);
          const expected = bilinearResize(Float32Array.from(r.map), grid[1], grid[0], input[1], input[0]);
          assert.ok(relativeError(map.data, expected) < 1e-5, `upsampled: relative error ${relativeError(map.data, expected)}`);
          assert.ok(map.notes?.some((n) => /does not depend on the class/.test(n)));
          assert.equal(map.notes?.some((n) => /no class token/.test(n)), ref.special === 0, 'the mean over rows is said for models without a class token');
        });
      }
    });
  }

  it('gives every class the same map', async () => {
    const ex = await Explainer.open(path.join(FIXTURES, 'vit_p16.onnx'));
    const x = image(64, 64);
    try {
      const maps = await Promise.all([0, 3].map(async (target) => (await ex.explainTensor(x, { methods: ['rollout'], target })).maps[0]));
      assert.deepEqual(Array.from(maps[0].data), Array.from(maps[1].data));
    } finally {
      x.dispose();
      ex.dispose();
    }
  });
});

/** L blocks of one [heads, T, T] attention, the same in every block. */
function blocksOf(heads: Float32Array[], tokens: number, layers: number) {
  const block = new Float32Array(heads.length * tokens * tokens);
  heads.forEach((h, i) => block.set(h, i * tokens * tokens));
  return { blocks: Array(layers).fill(block), heads: Array(layers).fill(heads.length), tokens };
}

const uniform = (t: number) => new Float32Array(t * t).fill(1 / t);
const identity = (t: number) => {
  const a = new Float32Array(t * t);
  for (let i = 0; i < t; i++) a[i * t + i] = 1;
  return a;
};
const mean = { headFusion: 'mean' as HeadFusion, discardRatio: 0 };

/** Every value equal to `expected` up to float32 rounding of the attention given (the rollout itself is float64). */
function assertAll(values: ArrayLike<number>, expected: number, what: string) {
  for (let i = 0; i < values.length; i++) {
    assert.ok(Math.abs(values[i] - expected) <= 1e-6 * Math.abs(expected) + 1e-12, `${what}: ${values[i]} ≠ ${expected}`);
  }
}

describe('attention rollout in closed form', () => {
  const T = 17;

  it('uniform attention: each block is ½I + ½J/T, so after L blocks every patch gets (1 − 2^−L)/T of the class token', () => {
    for (const layers of [1, 2, 5]) {
      const map = rolloutMap({ ...blocksOf([uniform(T)], T, layers), skip: 1 }, mean);
      assert.equal(map.length, T - 1);
      assertAll(map, (1 - 2 ** -layers) / T, `${layers} blocks`);
    }
  });

  it('without a class token the rows are averaged: uniform, 1/T per patch, for uniform and for identity attention', () => {
    assertAll(rolloutMap({ ...blocksOf([uniform(T)], T, 3), skip: 0 }, mean), 1 / T, 'uniform');
    assertAll(rolloutMap({ ...blocksOf([identity(T)], T, 3), skip: 0 }, mean), 1 / T, 'identity');
  });

  it('identity attention keeps the class token to itself: zero on every patch', () => {
    assertAll(rolloutMap({ ...blocksOf([identity(T)], T, 4), skip: 1 }, mean), 0, 'identity');
  });

  it('head fusion of an identity head and a uniform head, one block: mean 1/(4T), max 1/(3T − 1), min 0', () => {
    const input = { ...blocksOf([identity(T), uniform(T)], T, 1), skip: 1 };
    // mean: ½I + J/(2T); ½(that + I) = ¾I + J/(4T), rows already summing to 1.
    assertAll(rolloutMap(input, { headFusion: 'mean', discardRatio: 0 }), 1 / (4 * T), 'mean');
    // max: 1 on the diagonal, 1/T off it; ½(F + I) has row sums 1 + (T − 1)/(2T); off-diagonal 1/(2T) over that.
    assertAll(rolloutMap(input, { headFusion: 'max', discardRatio: 0 }), 1 / (3 * T - 1), 'max');
    // min: I/T; ½(F + I) is diagonal.
    assertAll(rolloutMap(input, { headFusion: 'min', discardRatio: 0 }), 0, 'min');
  });

  it('discarding zeroes the ⌊T²·ratio⌋ lowest weights of the whole matrix, sparing the class token\'s own entry', () => {
    const a = () => Float64Array.from([0.6, 0.4, 0.7, 0.3]);
    const half = a();
    discardLowest(half, 0.5, true);
    assert.deepEqual(Array.from(half), [0.6, 0, 0.7, 0]);
    const most = a();
    discardLowest(most, 0.75, true);
    assert.deepEqual(Array.from(most), [0.6, 0, 0.7, 0], 'entry (0, 0) is among the three lowest but kept');
    const unprotected = a();
    discardLowest(unprotected, 0.75, false);
    assert.deepEqual(Array.from(unprotected), [0, 0, 0.7, 0]);
    // Ties at the cut: the first by index go (torch.topk leaves their order open).
    const tied = Float64Array.from([0.2, 0.2, 0.2, 0.4]);
    discardLowest(tied, 0.5, false);
    assert.deepEqual(Array.from(tied), [0, 0, 0.2, 0.4]);
    const tiedProtected = Float64Array.from([0.2, 0.2, 0.2, 0.4]);
    discardLowest(tiedProtected, 0.5, true);
    assert.deepEqual(Array.from(tiedProtected), [0.2, 0, 0.2, 0.4]);
    // Then ½(A + I), rows renormalized: row 0 = [1, 0], so the patch gets nothing from the class token.
    const block = Float32Array.from([0.6, 0.4, 0.7, 0.3]);
    assertAll(rolloutMap({ blocks: [block], heads: [1], tokens: 2, skip: 1 }, { headFusion: 'mean', discardRatio: 0.5 }), 0, 'discarded');
    // Kept: ½([0.6, 0.4] + [1, 0]) = [0.8, 0.2].
    assertAll(rolloutMap({ blocks: [block], heads: [1], tokens: 2, skip: 1 }, mean), 0.2, 'kept');
  });

  it('a ViT whose queries, keys and values are zero attends uniformly: the map is (1 − 2^−L)/T everywhere', async () => {
    const rt = await OnnxRuntime.load(path.join(FIXTURES, 'vit_p16.onnx'));
    const g = rt.model.graph;
    // The in-projection of every block: the MatMul weight giving q, k and v, and the bias the next Add adds.
    const names = g.nodes.filter((n) => /self_attention\/MatMul$/.test(n.name)).flatMap((n) => {
      const add = g.consumers.get(n.outputs[0])!.find((c) => c.op === 'Add')!;
      // torch.onnx may pass a bias through an Identity.
      const bias = add.inputs.find((i) => i !== n.outputs[0])!;
      return [n.inputs[1], g.producer.get(bias)?.op === 'Identity' ? g.producer.get(bias)!.inputs[0] : bias];
    });
    assert.equal(names.length, 4, 'two blocks');
    // The export shares one initializer between equal biases (nn.MultiheadAttention starts them at zero): zeroed once.
    const zeroed = await rt.withInitializers(new Map([...new Set(names)].map((n) => [n, new Float32Array(g.initializerSize(n))])));
    const x = image(64, 64);
    try {
      const attention = await zeroed.attentionMatrices(x);
      for (const block of attention.blocks) assertAll(block, 1 / 17, 'attention');
      assertAll(rolloutMap(attention, mean), 0.75 / 17, 'rollout');
    } finally {
      x.dispose();
      zeroed.dispose();
      rt.dispose();
    }
  });
});

interface GradRolloutRef {
  name: string;
  input: { closedForm: 'tokenFixtureImage'; size: [number, number] };
  seed: { class: number } | { contrast: [number, number] };
  grid: [number, number];
  skip: number;
  map: number[];
}

const GRAD_REFS = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'gradRollout.ref.json'), 'utf8')) as Record<string, GradRolloutRef[]>;

describe('gradient-weighted rollout against PyTorch autograd (attention written out by hand in float64)', () => {
  for (const [name, cases] of Object.entries(GRAD_REFS)) {
    it(`${name}: ${cases.map((c) => c.name).join(', ')}`, async () => {
      const ex = await Explainer.open(path.join(FIXTURES, `${name}.onnx`));
      try {
        for (const c of cases) {
          const [h, w] = c.input.size;
          const x = image(h, w);
          try {
            const got = 'class' in c.seed
              ? (await ex.explainTensor(x, { methods: ['grad-rollout'], target: c.seed.class })).maps[0].data
              : (await ex.compareTensor(x, { method: 'grad-rollout', classes: c.seed.contrast, contrast: c.seed.contrast })).contrast!.map.data;
            const expected = bilinearResize(Float32Array.from(c.map), c.grid[1], c.grid[0], w, h);
            // Without a class token the map is 1/T (R = I's mean row) plus the gradient's part: compare that part.
            const floor = c.skip ? 0 : 1 / (c.grid[0] * c.grid[1]);
            const less = (a: ArrayLike<number>) => Array.from(a, (v) => v - floor);
            const err = relativeError(less(got), less(expected));
            assert.ok(err <= 2e-5, `${c.name}: relative error ${err}`);
          } finally {
            x.dispose();
          }
        }
      } finally {
        ex.dispose();
      }
    });
  }
});

describe('gradient-weighted rollout (Chefer et al. 2021b) in closed form and against the full matrices', () => {
  const T = 5;
  it('a zero gradient leaves R = I: nothing on the patches from the class token, 1/T each as the rows\' mean', () => {
    const { blocks, heads, tokens } = blocksOf([uniform(T), identity(T)], T, 3);
    const gradients = blocks.map((b) => new Float32Array(b.length));
    assertAll(gradientRolloutMap({ blocks, gradients, heads, tokens, skip: 1 }), 0, 'class token row');
    assertAll(gradientRolloutMap({ blocks, gradients, heads, tokens, skip: 0 }), 1 / T, 'mean row');
  });

  it('one block of uniform attention and a constant gradient g: R = I + (g/T)·J, so g/T on every patch; a negative g is clamped to nothing', () => {
    const { blocks, heads, tokens } = blocksOf([uniform(T)], T, 1);
    for (const g of [0.5, 2]) {
      const gradients = [new Float32Array(T * T).fill(g)];
      assertAll(gradientRolloutMap({ blocks, gradients, heads, tokens, skip: 1 }), g / T, `g = ${g}`);
    }
    assertAll(gradientRolloutMap({ blocks, gradients: [new Float32Array(T * T).fill(-1)], heads, tokens, skip: 1 }), 0, 'g = −1');
  });

  it('equals R = I; R += Ā·R over full T×T matrices, Ā = mean over heads of max(0, G ⊙ A)', () => {
    let state = 7;
    const rand = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const H = 3;
    const L = 4;
    const blocks = Array.from({ length: L }, () => Float32Array.from({ length: H * T * T }, () => Math.abs(rand())));
    const gradients = Array.from({ length: L }, () => Float32Array.from({ length: H * T * T }, rand));
    let r: number[][] = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (i === j ? 1 : 0)));
    for (let b = 0; b < L; b++) {
      const abar = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => {
        let sum = 0;
        for (let h = 0; h < H; h++) sum += Math.max(0, gradients[b][h * T * T + i * T + j] * blocks[b][h * T * T + i * T + j]);
        return sum / H;
      }));
      r = r.map((row, i) => row.map((v, j) => v + abar[i].reduce((sum, a, k) => sum + a * r[k][j], 0)));
    }
    const input = { blocks, gradients, heads: Array(L).fill(H), tokens: T };
    const classRow = gradientRolloutMap({ ...input, skip: 1 });
    const meanRow = gradientRolloutMap({ ...input, skip: 0 });
    for (let j = 1; j < T; j++) assert.ok(Math.abs(classRow[j - 1] - r[0][j]) <= 1e-12 * Math.abs(r[0][j]) + 1e-15, `class row, patch ${j}`);
    for (let j = 0; j < T; j++) {
      const want = r.reduce((sum, row) => sum + row[j], 0) / T;
      assert.ok(Math.abs(meanRow[j] - want) <= 1e-12 * Math.abs(want) + 1e-15, `mean row, token ${j}`);
    }
  });
});

describe('attention rollout refuses', () => {
  const refusal = (err: Error) => err instanceof UserError && err.message === `Attention rollout ${NO_ATTENTION_REASON} (try Grad-CAM or an input method)`;

  it('a CNN, with the method\'s "not available" sentence', async () => {
    const ex = await Explainer.open(MNIST_CNN);
    const x = tf.zeros([1, ...ex.runtime.inputShape]);
    try {
      assert.equal((ex.runtime as OnnxRuntime).attentionLayout(), undefined);
      await assert.rejects(ex.explainTensor(x, { methods: ['rollout'] }), refusal);
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('windowed attention (Swin): no attention over the whole patch grid', async () => {
    const ex = await Explainer.open(path.join(FIXTURES, 'swin.onnx'));
    const x = image(32, 32);
    try {
      await assert.rejects(ex.explainTensor(x, { methods: ['rollout'] }), refusal);
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('gradient-weighted rollout likewise, on a CNN and on windowed attention', async () => {
    const why = (err: Error) => err instanceof UserError && err.message === `Gradient-weighted rollout ${NO_ATTENTION_REASON} (try Grad-CAM or an input method)`;
    for (const [file, size] of [[MNIST_CNN, undefined], [path.join(FIXTURES, 'swin.onnx'), 32]] as const) {
      const ex = await Explainer.open(file);
      const x = size ? image(size, size) : tf.zeros([1, ...ex.runtime.inputShape]);
      try {
        await assert.rejects(ex.explainTensor(x, { methods: ['grad-rollout'] }), why);
      } finally {
        x.dispose();
        ex.dispose();
      }
    }
  });

  it('a contrast of two classes, which a class-independent map cannot show', async () => {
    const ex = await Explainer.open(path.join(FIXTURES, 'vit_p16.onnx'));
    const x = image(64, 64);
    try {
      await assert.rejects(ex.compareTensor(x, { method: 'rollout', classes: [0], contrast: [0, 3] }),
        (err: Error) => err instanceof UserError && /same for every class, so it cannot contrast two classes/.test(err.message));
    } finally {
      x.dispose();
      ex.dispose();
    }
  });
});

describe('Grad-CAM on a token layer says what its pooled weights are worth', () => {
  const notesOf = async (name: string, size: [number, number], method: 'gradcam' | 'hirescam' = 'gradcam') => {
    const ex = await Explainer.open(path.join(FIXTURES, `${name}.onnx`));
    const x = image(...size);
    try {
      return (await ex.explainTensor(x, { methods: [method] })).notes;
    } finally {
      x.dispose();
      ex.dispose();
    }
  };
  const pooled = /weighs each channel by the gradient pooled over all tokens/;
  it('on a class-token ViT: pointing to gradient-weighted rollout and HiResCAM', async () => {
    const notes = await notesOf('vit_p16', [64, 64]);
    assert.ok(notes.some((n) => pooled.test(n) && /Gradient-weighted rollout .* or HiResCAM/.test(n)), notes.join(' | '));
    assert.ok(!(await notesOf('vit_p16', [64, 64], 'hirescam')).some((n) => pooled.test(n)), 'HiResCAM keeps the gradient per token');
  });
  it('on a ViT that pools its patches: HiResCAM only (rollout\'s case was measured with a class token)', async () => {
    const notes = await notesOf('vit_gap', [64, 64]);
    assert.ok(notes.some((n) => pooled.test(n) && /HiResCAM/.test(n) && !/rollout/.test(n)), notes.join(' | '));
  });
  it('not on Swin (windowed attention) nor on ConvNeXt', async () => {
    for (const name of ['swin', 'convnext']) assert.ok(!(await notesOf(name, [32, 32])).some((n) => pooled.test(n)), name);
  });
});

describe('the panel is told which models rollout can run on', () => {
  it('a ViT states its attention blocks, a CNN none, and the picker reason follows', async () => {
    await initBackend();
    const vit = await Explainer.open(path.join(FIXTURES, 'vit_p16.onnx'));
    const cnn = await Explainer.open(MNIST_CNN);
    try {
      const blocks = vit.summary().attentionBlocks;
      assert.ok(blocks !== undefined && blocks >= 1, `ViT attention blocks: ${blocks}`);
      assert.equal(cnn.summary().attentionBlocks, undefined);
      const spec = methodSpec('rollout');
      const onnx = { name: 'onnxruntime', threads: 1, note: '' };
      assert.equal(unavailableReason(spec, { spatialLayers: vit.summary().spatialLayers, backend: onnx, attentionBlocks: blocks }), undefined);
      assert.equal(unavailableReason(spec, { spatialLayers: cnn.summary().spatialLayers, backend: onnx }), NO_ATTENTION_REASON);
    } finally {
      vit.dispose();
      cnn.dispose();
    }
  });
});
