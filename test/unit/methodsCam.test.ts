import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { UserError } from '../../src/engine/errors';
import { ExplainOptions, Explainer } from '../../src/engine/explain';
import { readImageFile } from '../../src/engine/image/decode';
import { topEigenvector } from '../../src/engine/methods/principalDirection';
import type { AttributionMap } from '../../src/engine/methods/types';
import { methodSpec, MethodName } from '../../src/shared/methods';
import { buildMlp } from '../fixtures/architectures';
import { cleanupTempDirs, openModel, relativeError } from './helpers';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'methods');
const EXAMPLES = path.join(__dirname, '..', '..', 'examples');
const CAMS = ['gradcam', 'gradcam++', 'xgradcam', 'hirescam', 'layercam', 'eigencam', 'scorecam'] as const satisfies readonly MethodName[];
type Cam = (typeof CAMS)[number];

before(async () => {
  await initBackend();
});
after(cleanupTempDirs);

interface RefCase {
  method: Cam;
  /** ONNX node names; the first is the CAM's layer, the rest LayerCAM fuses. */
  layers: string[];
  target?: number;
  contrast?: [number, number];
  options?: Record<string, number>;
  height: number;
  width: number;
  map: number[];
  /** Eigen-CAM: `map` is the projection before ReLU, with the SVD's own sign. */
  projection?: boolean;
  channelsScored?: number;
}

interface Reference {
  model: string;
  inputShape: number[];
  input: number[];
  cases: RefCase[];
}

function toNhwc(v: ArrayLike<number>, [, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(v.length);
  for (let ci = 0; ci < c; ci++) {
    for (let i = 0; i < h * w; i++) out[i * c + ci] = v[ci * h * w + i];
  }
  return out;
}

/** The expected Eigen-CAM from a projection of either sign: oriented so its largest magnitude is positive, then ReLU. */
function orientedRelu(p: ArrayLike<number>): Float32Array {
  const values = Array.from(p);
  const flip = -Math.min(0, ...values) > Math.max(0, ...values);
  return Float32Array.from(values, (v) => Math.max(0, flip ? -v : v));
}

async function camOf(ex: Explainer, x: tf.Tensor, method: Cam, opts: Omit<ExplainOptions, 'methods'> = {}): Promise<AttributionMap> {
  return (await ex.explainTensor(x, { ...opts, methods: [method] })).maps[0];
}

describe('CAMs match PyTorch (scripts/methods/cam_refs.py)', () => {
  const files = fs.readdirSync(FIXTURES).filter((f) => /^cam_.*\.json$/.test(f));
  it('the fixtures are there', () => assert.ok(files.length >= 2, `no cam_*.json in ${FIXTURES}`));
  for (const file of files) {
    describe(file, () => {
      const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8')) as Reference;
      let ex: Explainer;
      let x: tf.Tensor;
      before(async () => {
        ex = await Explainer.open(path.join(FIXTURES, ref.model));
        x = tf.tensor(toNhwc(ref.input, ref.inputShape), [1, ...ex.runtime.inputShape]);
      });
      after(() => {
        x?.dispose();
        ex?.dispose();
      });
      it('covers every CAM', () => assert.deepEqual(new Set(ref.cases.map((c) => c.method)), new Set(CAMS)));
      for (const c of ref.cases) {
        const what = `${c.method} at ${c.layers.join(' + ')}${c.target !== undefined ? `, class ${c.target}` : ''}` +
          `${c.contrast ? `, contrast ${c.contrast.join(' − ')}` : ''}${c.options ? ` ${JSON.stringify(c.options)}` : ''}`;
        it(what, async () => {
          const options = { ...c.options, ...(c.layers.length > 1 ? { layers: c.layers.slice(1).join(',') } : {}) };
          let map: AttributionMap;
          if (c.contrast) {
            const compared = await ex.compareTensor(x, { method: c.method, classes: [c.contrast[0]], contrast: c.contrast, layer: c.layers[0], options });
            map = compared.contrast!.map;
          } else {
            map = await camOf(ex, x, c.method, { layer: c.layers[0], target: c.target, options: { [c.method]: options } });
          }
          assert.equal(map.method, c.method);
          assert.equal(map.layer, c.layers[0]);
          assert.deepEqual([map.height, map.width], [c.height, c.width]);
          const expected = c.projection ? orientedRelu(c.map) : Float32Array.from(c.map);
          assert.ok(expected.some((v) => v > 0), 'the reference has positive evidence');
          const err = relativeError(map.data, expected);
          assert.ok(err <= (c.method === 'scorecam' ? 1e-3 : 1e-4), `relative error ${err}`);
          if (c.channelsScored !== undefined) assert.equal(map.stats?.channelsScored, c.channelsScored);
        });
      }
    });
  }
});

/** A seeded layer initializer. */
const init = (seed: number) => tf.initializers.randomNormal({ mean: 0, stddev: 0.5, seed });

/** conv 3×3 (ReLU) → global average pool → dense (logits): the CAM paper's architecture. */
function gapModel(): tf.LayersModel {
  const input = tf.input({ shape: [6, 7, 3] });
  const conv = tf.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1), biasInitializer: init(2), name: 'conv' }).apply(input) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(conv) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 4, kernelInitializer: init(3), biasInitializer: init(4), name: 'logits' }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

/** Per position, Σ_k w_k A[p,k]; A is [positions][channels]. */
const channelMap = (a: number[][], w: number[]) => Float32Array.from(a, (row) => Math.max(0, row.reduce((s, v, k) => s + v * w[k], 0)));

describe('closed forms on a conv → global average pool → dense model', () => {
  // There G = ∂S_c/∂A = W[k,c]/(h·w) at every position, so each CAM has a closed form in the dense weights.
  for (const runtime of ['onnx', 'tfjs'] as const) {
    it(`on ${runtime === 'onnx' ? 'ONNX Runtime (converted)' : 'tfjs'}`, async () => {
      const model = gapModel();
      const ex = await openModel(model, runtime === 'tfjs' ? { runtime: 'tfjs' } : {});
      assert.equal(ex.runtime.kind === 'onnx', runtime === 'onnx');
      const x = tf.randomUniform([1, 6, 7, 3], 0, 1, 'float32', 5);
      const upTo = tf.model({ inputs: model.inputs, outputs: model.getLayer('conv').output as tf.SymbolicTensor });
      const aT = upTo.predict(x) as tf.Tensor;
      const a = (aT.reshape([42, 5]).arraySync() as number[][]);
      const dense = model.getLayer('logits').getWeights()[0].arraySync() as number[][];
      const hw = 42;
      const sumA = [0, 1, 2, 3, 4].map((k) => a.reduce((s, row) => s + row[k], 0));
      let layercamDiffers = false;
      for (const c of [0, 1]) {
        const g = dense.map((row) => row[c] / hw);
        const gradcam = channelMap(a, g);
        assert.ok(gradcam.some((v) => v > 0), `class ${c} has evidence at the layer`);
        if (c === 0) assert.ok(gradcam.some((v) => v === 0), 'and somewhere none: the ReLU matters');
        const maps = Object.fromEntries(await Promise.all(CAMS.filter((m) => m !== 'eigencam' && m !== 'scorecam')
          .map(async (m) => [m, (await camOf(ex, x, m, { target: c })).data] as const)));
        const near = (m: string, expected: Float32Array, tol = 1e-5) => {
          const err = relativeError(maps[m], expected);
          assert.ok(err <= tol, `${m}, class ${c}: relative error ${err}`);
        };
        near('gradcam', gradcam);
        // Constant G over positions: the element-wise product sums to the mean-gradient weighting.
        near('hirescam', gradcam);
        // Σ_ij G·A / Σ_ij A = g_k: XGrad-CAM's weights are Grad-CAM's (up to its eps over Σ A).
        near('xgradcam', gradcam);
        // Only the positive weights.
        near('layercam', channelMap(a, g.map((v) => Math.max(0, v))));
        // α = g²/(2g² + S_k g³ + eps) at each of the h·w positions: w_k = h·w · ReLU(g_k)·g_k² / (2g_k² + S_k g_k³ + eps).
        near('gradcam++', channelMap(a, g.map((v, k) => (hw * Math.max(0, v) * v * v) / (2 * v * v + sumA[k] * v ** 3 + 1e-6))));
        layercamDiffers ||= relativeError(maps.layercam, gradcam) > 1e-3;
      }
      assert.ok(layercamDiffers, 'some weights are negative, so LayerCAM differs from Grad-CAM');
      tf.dispose([x, aT]);
      ex.dispose();
    });
  }
});

describe('Eigen-CAM', () => {
  it('of a rank-one layer A[i,j,k] = x[i,j]·v[k] is ±(x − mean x)·|v|, oriented and rectified', async () => {
    const input = tf.input({ shape: [6, 9, 1] });
    const conv = tf.layers.conv2d({ filters: 4, kernelSize: 1, useBias: false, name: 'conv' }).apply(input) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(conv) as tf.SymbolicTensor;
    const logits = tf.layers.dense({ units: 3, kernelInitializer: init(7) }).apply(pooled) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: logits });
    const v = [0.5, -1.25, 0.75, 2];
    model.getLayer('conv').setWeights([tf.tensor4d(v, [1, 1, 1, 4])]);
    const ex = await openModel(model);
    const xs = Float32Array.from({ length: 54 }, (_, i) => Math.sin(i * 1.7) + (i % 9) / 9);
    const x = tf.tensor4d(xs, [1, 6, 9, 1]);
    const mean = xs.reduce((s, u) => s + u, 0) / xs.length;
    const norm = Math.hypot(...v);
    const expected = orientedRelu(Array.from(xs, (u) => (u - mean) * norm));
    for (const target of [0, 2]) {
      const map = await camOf(ex, x, 'eigencam', { target });
      assert.deepEqual([map.height, map.width], [6, 9]);
      assert.ok(relativeError(map.data, expected) <= 1e-5, `class ${target}: ${relativeError(map.data, expected)}`);
    }
    x.dispose();
    ex.dispose();
  });

  it('finds the top eigenvector when the two largest eigenvalues are 1e-4 apart, and ends on a repeated one', () => {
    const n = 40;
    // Q from Gram–Schmidt on seeded vectors; C = Q diag(λ) Qᵀ.
    let s = 1;
    const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647) - 0.5;
    const q: number[][] = [];
    while (q.length < n) {
      const u = Array.from({ length: n }, rand);
      for (const b of q) {
        const d = u.reduce((t, ui, i) => t + ui * b[i], 0);
        b.forEach((bi, i) => (u[i] -= d * bi));
      }
      const len = Math.hypot(...u);
      q.push(u.map((ui) => ui / len));
    }
    const build = (lambda: number[]) => {
      const c = new Float64Array(n * n);
      lambda.forEach((l, k) => {
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) c[i * n + j] += l * q[k][i] * q[k][j];
      });
      return c;
    };
    const spread = Array.from({ length: n }, (_, k) => (k === 0 ? 1 : k === 1 ? 0.9999 : 0.9 - k / (2 * n)));
    const close = topEigenvector(build(spread), n);
    const along = Math.abs(close.vector.reduce((t, vi, i) => t + vi * q[0][i], 0));
    assert.ok(1 - along <= 1e-8, `|<v, q1>| = ${along}`);
    assert.ok(Math.abs(close.value - 1) <= 1e-9);
    const repeated = topEigenvector(build(spread.map((l, k) => (k === 1 ? 1 : l))), n);
    const inSpan = Math.hypot(...[0, 1].map((k) => repeated.vector.reduce((t, vi, i) => t + vi * q[k][i], 0)));
    assert.ok(1 - inSpan <= 1e-8, `norm within the top eigenspace ${inSpan}`);
  });
});

describe('Score-CAM', () => {
  it('equals a hand computation on a linear model (conv 1×1 → flatten → dense), on both runtimes', async () => {
    const input = tf.input({ shape: [5, 7, 3] });
    const conv = tf.layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: init(11), biasInitializer: init(12), name: 'conv' }).apply(input) as tf.SymbolicTensor;
    const flat = tf.layers.flatten({}).apply(conv) as tf.SymbolicTensor;
    const logits = tf.layers.dense({ units: 3, kernelInitializer: init(13), biasInitializer: init(14), name: 'logits' }).apply(flat) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: logits });
    const [wc, bc] = model.getLayer('conv').getWeights().map((t) => Array.from(t.dataSync()));
    const [wd, bd] = model.getLayer('logits').getWeights().map((t) => Array.from(t.dataSync()));
    const P = 35;
    const xs = Array.from({ length: P * 3 }, (_, i) => Math.cos(i * 0.9) + 0.2);
    // 1×1 conv, 3 channels in and out, kernel [1,1,in,out]: A[p,k] = b[k] + Σ_c x[p,c]·W[c,k].
    const convOf = (xv: number[]) => Array.from({ length: P * 3 }, (_, i) => {
      const [p, k] = [Math.floor(i / 3), i % 3];
      return bc[k] + [0, 1, 2].reduce((s, c) => s + xv[p * 3 + c] * wc[c * 3 + k], 0);
    });
    const logitsOf = (xv: number[]) => {
      const a = convOf(xv);
      return [0, 1, 2].map((j) => bd[j] + a.reduce((s, v, i) => s + v * wd[i * 3 + j], 0));
    };
    const a = convOf(xs);
    const target = 1;
    // The layer is at the input's size: each mask is its channel scaled to [0, 1], no resizing.
    const scores = [0, 1, 2].map((k) => {
      const ak = Array.from({ length: P }, (_, p) => a[p * 3 + k]);
      const [lo, hi] = [Math.min(...ak), Math.max(...ak)];
      return logitsOf(xs.map((v, i) => v * (ak[Math.floor(i / 3)] - lo) / (hi - lo + 1e-8)))[target];
    });
    const top = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - top));
    const w = e.map((v) => v / e.reduce((t, u) => t + u, 0));
    const expected = Float32Array.from({ length: P }, (_, p) => Math.max(0, [0, 1, 2].reduce((s, k) => s + w[k] * a[p * 3 + k], 0)));
    assert.ok(expected.some((v) => v > 0) && Math.max(...w) < 0.999, 'a non-trivial case');
    const x = tf.tensor4d(xs, [1, 5, 7, 3]);
    for (const opts of [{}, { runtime: 'tfjs' as const }]) {
      const ex = await openModel(model, opts);
      const map = await camOf(ex, x, 'scorecam', { target });
      assert.ok(relativeError(map.data, expected) <= 1e-5, `${ex.runtime.kind}: ${relativeError(map.data, expected)}`);
      ex.dispose();
    }
    x.dispose();
  });

  it('batch 1 and batch 32 give the same map, each masked image counted in the progress', async () => {
    const ex = await Explainer.open(path.join(FIXTURES, 'cam_resnet.onnx'));
    const x = tf.randomNormal([1, ...ex.runtime.inputShape], 0, 1, 'float32', 21);
    const k = ex.runtime.spatialLayers().find((l) => l.name === ex.runtime.defaultSpatialLayer())!.channels;
    const maps: AttributionMap[] = [];
    for (const batch of [1, 32]) {
      let last = { done: 0, total: 0 };
      maps.push(await camOf(ex, x, 'scorecam', { target: 2, options: { scorecam: { batch } }, progress: (p) => (last = p) }));
      assert.equal(last.total, maps[maps.length - 1].stats!.channelsScored);
      assert.equal(last.done, last.total);
      assert.ok(last.total > 1 && last.total <= k);
    }
    assert.ok(maps[0].data.some((v) => v > 0));
    assert.ok(relativeError(maps[0].data, maps[1].data) <= 1e-6, `${relativeError(maps[0].data, maps[1].data)}`);
    x.dispose();
    ex.dispose();
  });
});

describe('the example MNIST CNN on ONNX Runtime and on tfjs', () => {
  it('every CAM agrees between the two runtimes', async () => {
    const model = path.join(EXAMPLES, 'mnist-cnn');
    const onnx = await Explainer.open(model);
    const tfjs = await Explainer.open(model, { runtime: 'tfjs' });
    assert.equal(onnx.runtime.kind, 'onnx');
    assert.equal(tfjs.runtime.kind, 'layers');
    const x = onnx.prepare(readImageFile(path.join(EXAMPLES, 'digits', 'digit-3-4.png')));
    for (const layer of ['conv1', 'conv2']) {
      for (const method of CAMS) {
        const options = method === 'layercam' && layer === 'conv2' ? { layercam: { layers: 'conv1' } } : undefined;
        const [a, b] = [await camOf(onnx, x, method, { layer, options, target: 3 }), await camOf(tfjs, x, method, { layer, options, target: 3 })];
        assert.deepEqual([a.height, a.width, a.layer], [b.height, b.width, b.layer]);
        assert.ok(b.data.some((v) => v > 0), `${method} at ${layer} is not all zero`);
        const err = relativeError(a.data, b.data);
        assert.ok(err <= 1e-4, `${method} at ${layer}: relative error ${err}`);
      }
    }
    x.dispose();
    onnx.dispose();
    tfjs.dispose();
  });
});

describe('LayerCAM fusion', () => {
  /** Bilinear resize with half-pixel centres (torch align_corners=False), edges clamped. */
  function resize(m: Float32Array, h: number, w: number, H: number, W: number): Float32Array {
    const src = (o: number, n: number, N: number) => Math.min(Math.max((o + 0.5) * (n / N) - 0.5, 0), n - 1);
    return Float32Array.from({ length: H * W }, (_, i) => {
      const [y, xx] = [src(Math.floor(i / W), h, H), src(i % W, w, W)];
      const [y0, x0] = [Math.floor(y), Math.floor(xx)];
      const [y1, x1] = [Math.min(y0 + 1, h - 1), Math.min(x0 + 1, w - 1)];
      const [fy, fx] = [y - y0, xx - x0];
      const at = (r: number, c: number) => m[r * w + c];
      return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
    });
  }

  it('with two layers of different sizes, keeps per position the larger of the two maps scaled to tanh(2·M / max M) (Eq. 9)', async () => {
    const ex = await Explainer.open(path.join(FIXTURES, 'cam_vgg.onnx'));
    const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'cam_vgg.json'), 'utf8')) as Reference & { layers: Record<string, { node: string }> };
    const [coarse, fine] = [ref.layers.block3.node, ref.layers.block2.node];
    const x = tf.randomNormal([1, ...ex.runtime.inputShape], 0, 1, 'float32', 31);
    const a = await camOf(ex, x, 'layercam', { layer: coarse, target: 4 });
    const b = await camOf(ex, x, 'layercam', { layer: fine, target: 4 });
    const fused = await camOf(ex, x, 'layercam', { layer: coarse, target: 4, options: { layercam: { layers: fine } } });
    assert.deepEqual([a.height, b.height, fused.height, fused.width], [8, 16, 16, 16]);
    // Labelled with the first layer at that layer's own size; the note names both layers.
    assert.equal(fused.layer, coarse);
    assert.deepEqual(fused.layerSize, [8, 8]);
    assert.deepEqual(b.layerSize, [16, 16]);
    const note = fused.notes?.find((n) => n.startsWith('LayerCAM fuses')) ?? '';
    assert.ok(note.includes(`"${coarse}" (8×8)`) && note.includes(`"${fine}" (16×16)`) && note.endsWith('at 16×16'), note);
    const peak = (m: Float32Array) => m.reduce((s, v) => Math.max(s, v), 0);
    const scale = (m: Float32Array) => m.map((v) => Math.tanh((2 * v) / peak(m)));
    const up = resize(scale(a.data), 8, 8, 16, 16);
    const own = scale(b.data);
    const expected = Float32Array.from(own, (v, i) => Math.max(v, up[i]));
    assert.ok(relativeError(fused.data, expected) <= 1e-5, `${relativeError(fused.data, expected)}`);
    // Both layers matter: the fused map is neither one alone.
    assert.ok(relativeError(fused.data, own) > 0.05);
    assert.ok(relativeError(fused.data, up) > 0.05);
    // The scaling matters: the plain max of the max-normalized maps is another map.
    const upPlain = resize(a.data, 8, 8, 16, 16);
    const plain = Float32Array.from(b.data, (v, i) => Math.max(v / peak(b.data), upPlain[i] / peak(a.data)));
    assert.ok(relativeError(fused.data, plain) > 0.05, `${relativeError(fused.data, plain)}`);
    x.dispose();
    ex.dispose();
  });
});

describe('CAMs without a spatial layer', () => {
  it('an MLP: each CAM says, by its name, that it needs a convolutional layer', async () => {
    const ex = await openModel(buildMlp({ seed: 2 }));
    const x = tf.randomUniform([1, 784], 0, 1, 'float32', 3);
    for (const method of CAMS) {
      const label = methodSpec(method).label;
      await assert.rejects(() => camOf(ex, x, method, { target: 1 }),
        (e: Error) => e instanceof UserError && e.message.startsWith(`${label} needs a convolutional layer`), method);
    }
    x.dispose();
    ex.dispose();
  });
});

describe('CAM memory', () => {
  it('leaves no tensor behind, on either runtime', async () => {
    for (const opts of [{}, { runtime: 'tfjs' as const }]) {
      const ex = await Explainer.open(path.join(EXAMPLES, 'mnist-cnn'), opts);
      const x = tf.randomUniform([1, 28, 28, 1], 0, 1, 'float32', 4);
      const run = () => ex.explainTensor(x, { methods: [...CAMS], layer: 'conv2', options: { layercam: { layers: 'conv1' }, scorecam: { maxChannels: 4 } } });
      await run();
      const before = tf.memory().numTensors;
      await run();
      await ex.compareTensor(x, { method: 'scorecam', classes: [1, 2], contrast: [1, 2], options: { maxChannels: 3 } });
      assert.equal(tf.memory().numTensors, before, `runtime ${ex.runtime.kind}`);
      x.dispose();
      ex.dispose();
    }
  });
});
