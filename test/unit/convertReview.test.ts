/**
 * Review of the TF.js → ONNX converter (src/engine/convert): edge cases of layout bookkeeping, Keras
 * configs and TF graph ops, each checked against tfjs. The first group are bugs the review found (each
 * failed before its fix); the others pin edge cases that converted correctly from the start.
 *
 * References are computed on tfjs's **cpu** backend: the wasm backend is itself wrong for some of these
 * (PReLU alpha [H,W,1], _FusedMatMul with transpose_b, FusedDepthwiseConv2dNative+LeakyRelu's alpha), and
 * its cpu gradients are wrong for AvgPool 'same', MirrorPad and half-pixel nearest resizing, so those
 * gradients are checked by central differences of the ONNX forward pass instead.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { UserError } from '../../src/engine/errors';
import { Explainer } from '../../src/engine/explain';
import { saveLayersModel } from '../../src/engine/model/saveModel';
import { cleanupTempDirs, relativeError, tempDir } from './helpers';

before(async () => {
  await initBackend();
});
after(cleanupTempDirs);

const L = tf.layers;
const glorot = (seed: number) => tf.initializers.glorotUniform({ seed });
const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;
/** A linear head (Flatten when needed, Dense 3): the model's output is its logits. */
const head = (x: tf.SymbolicTensor, seed = 50) =>
  apply(L.dense({ units: 3, kernelInitializer: glorot(seed), name: 'logits' }), x.shape.length > 2 ? apply(L.flatten(), x) : x);
const conv = (filters: number, seed: number, extra: Partial<Parameters<typeof L.conv2d>[0]> = {}) =>
  L.conv2d({ filters, kernelSize: 3, padding: 'same', kernelInitializer: glorot(seed), biasInitializer: 'ones', ...extra });

async function saveLayers(model: tf.LayersModel): Promise<string> {
  const dir = tempDir('convert-review-');
  await saveLayersModel(model, dir);
  return dir;
}

/** Runs f on tfjs's cpu backend (the reference), then returns to the engine's backend. */
async function onCpu<T>(f: () => T): Promise<T> {
  const backend = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    return f();
  } finally {
    await tf.setBackend(backend);
  }
}

interface Converted {
  ex: Explainer;
  logits: Float32Array;
  /** d logit[target] / d input from the ONNX gradient builder. */
  grad: (target: number) => Promise<Float32Array>;
  /** Central difference of logit[target] along a random direction, and the gradient's prediction of it. */
  directional: (target: number, eps?: number) => Promise<[number, number]>;
  dispose: () => void;
}

async function openOnnx(dir: string, x: tf.Tensor, opts: { output?: string | number } = {}): Promise<Converted> {
  const ex = await Explainer.open(dir, { runtime: 'onnx', ...opts });
  assert.equal(ex.model.conversion?.converted, true);
  const trace = await ex.runtime.trace(x);
  const logits = trace.logits.dataSync() as Float32Array;
  const n = logits.length;
  const grad = async (target: number) =>
    (await trace.vjp(tf.oneHot([target], n).toFloat() as tf.Tensor2D, ['input'])).get('input')!.dataSync() as Float32Array;
  const logitAt = async (xx: tf.Tensor, target: number) => {
    const t = await ex.runtime.trace(xx);
    const v = t.logits.dataSync()[target];
    t.dispose();
    return v;
  };
  const directional = async (target: number, eps = 1e-3): Promise<[number, number]> => {
    const d = tf.randomNormal(x.shape, 0, 1, 'float32', 99);
    const measured = ((await logitAt(tf.add(x, tf.mul(d, eps)), target)) - (await logitAt(tf.sub(x, tf.mul(d, eps)), target))) / (2 * eps);
    const g = await grad(target);
    const predicted = tf.sum(tf.mul(tf.tensor(g, x.shape), d)).dataSync()[0];
    return [measured, predicted];
  };
  return { ex, logits, grad, directional, dispose: () => { trace.dispose(); ex.dispose(); } };
}

/**
 * A Layers model whose output is its logits: ONNX logits equal tfjs's (cpu) within 1e-5, and (unless
 * `gradient` is 'none') the input gradient equals tfjs's autodiff on cpu ('autodiff') or the central
 * difference of the ONNX forward pass ('fd', for ops whose tfjs gradient is wrong or missing).
 */
async function expectLayersModel(model: tf.LayersModel, what: string, gradient: 'autodiff' | 'fd' | 'none' = 'autodiff') {
  const shape = [1, ...(model.inputs[0].shape.slice(1) as number[])];
  const x = tf.randomUniform(shape, -1, 1, 'float32', 7);
  const c = await openOnnx(await saveLayers(model), x);
  try {
    const expected = await onCpu(() => (model.predict(x) as tf.Tensor).dataSync());
    assert.ok(relativeError(c.logits, expected) <= 1e-5, `${what}: logits ${Array.from(c.logits.slice(0, 4))} vs tfjs ${Array.from(expected.slice(0, 4))}`);
    const target = 1;
    if (gradient === 'autodiff') {
      const g = await c.grad(target);
      const n = expected.length;
      const stock = await onCpu(() => tf.tidy(() =>
        tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(model.apply(xx) as tf.Tensor, tf.oneHot([target], n).toFloat())))(x).dataSync()));
      assert.ok(relativeError(g, stock) <= 1e-4, `${what}: input gradient relative error ${relativeError(g, stock).toExponential(2)}`);
    } else if (gradient === 'fd') {
      const [measured, predicted] = await c.directional(target);
      assert.ok(Math.abs(measured - predicted) <= 2e-3 * Math.max(1, Math.abs(measured)), `${what}: directional derivative ${measured} vs gradient ${predicted}`);
    }
  } finally {
    c.dispose();
    x.dispose();
  }
}

// --- hand-written GraphModels, spelled as the TF.js converter writes them ---------------------------

const b64 = (v: string) => Buffer.from(v).toString('base64');
const S = (v: string) => ({ s: b64(v) });
const I = (v: number) => ({ i: String(v) });
const B = (v: boolean) => ({ b: v });
const Li = (v: number[]) => ({ list: { i: v.map(String) } });
const Ls = (v: string[]) => ({ list: { s: v.map(b64) } });
const INT = { type: 'DT_INT32' };
const gnode = (name: string, op: string, input: string[] = [], attr: Record<string, unknown> = {}) => ({ name, op, input, attr: { T: { type: 'DT_FLOAT' }, ...attr } });
interface GraphWeight { name: string; data: ArrayLike<number>; shape: number[]; dtype?: 'float32' | 'int32' }
const ints = (name: string, data: number[], shape = [data.length]): GraphWeight => ({ name, data, shape, dtype: 'int32' });
const randn = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 0.5, 'float32', seed).dataSync() as Float32Array;
const floats = (name: string, shape: number[], seed: number): GraphWeight => ({ name, data: randn(shape, seed), shape });
const CONV = { strides: Li([1, 1, 1, 1]), padding: S('SAME'), data_format: S('NHWC'), dilations: Li([1, 1, 1, 1]) };

const GH = 6;
const GW = 5;
const GC = 3;

/** model.json + shard of a GraphModel: input `image` [-1, 6, 5, 3], the given nodes, then (unless `raw`) Reshape → MatMul `logits`. */
function writeGraph(nodes: object[], weights: GraphWeight[], opts: { last?: string; flat?: number; extra?: Record<string, unknown> } = {}): string {
  const tail: object[] = [];
  const all = [...weights];
  if (opts.last) {
    const n = opts.flat!;
    tail.push(gnode('flat', 'Reshape', [opts.last, 'flat_shape'], { Tshape: INT }),
      gnode('logits', 'MatMul', ['flat', 'dense'], { transpose_a: B(false), transpose_b: B(false) }));
    all.push(ints('flat_shape', [-1, n]), floats('dense', [n, 3], 9));
  }
  const consts = all.map((w) => gnode(w.name, 'Const', [], { dtype: { type: w.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' } }));
  const image = gnode('image', 'Placeholder', [], { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [-1, GH, GW, GC].map((d) => ({ size: String(d) })) } } });
  const modelJson = {
    format: 'graph-model', generatedBy: '2.15.0', convertedBy: 'convertReview.test.ts',
    modelTopology: { node: [image, ...consts, ...nodes, ...tail], library: {}, versions: { producer: 1395 } },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: all.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype ?? 'float32' })) }],
    ...opts.extra,
  };
  const dir = tempDir('convert-review-graph-');
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
  fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'),
    Buffer.concat(all.map((w) => Buffer.from((w.dtype === 'int32' ? Int32Array.from(w.data) : Float32Array.from(w.data)).buffer))));
  return dir;
}

/** The GraphModel's output `node` computed by tfjs on the cpu backend. */
async function graphReference(dir: string, x: tf.Tensor, node = 'logits'): Promise<Float32Array> {
  const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const data = fs.readFileSync(path.join(dir, 'group1-shard1of1.bin'));
  const backend = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    const model = await tf.loadGraphModel(tf.io.fromMemory({
      modelTopology: mj.modelTopology, weightSpecs: mj.weightsManifest[0].weights,
      weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength), signature: mj.signature,
    }));
    const out = (model.execute({ image: x }, node) as tf.Tensor).dataSync() as Float32Array;
    model.dispose();
    return out;
  } finally {
    await tf.setBackend(backend);
  }
}

/** ONNX logits equal tfjs's (cpu) for the graph, and the ONNX input gradient matches central differences. */
async function expectGraph(dir: string, what: string, opts: { gradient?: boolean; referenceDir?: string } = {}) {
  const x = tf.randomUniform([1, GH, GW, GC], -1, 1, 'float32', 5);
  const c = await openOnnx(dir, x);
  try {
    const expected = await graphReference(opts.referenceDir ?? dir, x);
    assert.ok(relativeError(c.logits, expected) <= 1e-5, `${what}: logits ${Array.from(c.logits)} vs tfjs ${Array.from(expected)}`);
    if (opts.gradient !== false) {
      const [measured, predicted] = await c.directional(1);
      assert.ok(Math.abs(measured - predicted) <= 2e-3 * Math.max(1, Math.abs(measured)), `${what}: directional derivative ${measured} vs gradient ${predicted}`);
    }
  } finally {
    c.dispose();
    x.dispose();
  }
}

// =====================================================================================================
// Bugs the review found (each failed before its fix)
// =====================================================================================================

describe('converter review: bugs found and fixed', () => {
  it('a layer output far larger than any image model\'s (UpSampling2D ×300 of a 32×32 input: 92 M values) is refused before ONNX Runtime runs it', async () => {
    // Was: ×2000 made a ~1 KB model.json whose ONNX probe allocated > 23 GB (the engine was SIGKILLed after
    // minutes). ×300 checks the cap (checkLayerOutputSizes) without exhausting the machine if it regressed.
    const input = tf.input({ shape: [32, 32, 1] });
    let x = apply(L.upSampling2d({ size: [300, 300], name: 'huge_up' }), input);
    x = apply(L.globalAveragePooling2d({}), x);
    const model = tf.model({ inputs: input, outputs: apply(L.dense({ units: 2, kernelInitializer: glorot(3) }), x) });
    const dir = await saveLayers(model);
    let opened: Explainer | undefined;
    let error: unknown;
    try {
      opened = await Explainer.open(dir, { runtime: 'onnx' });
    } catch (err) {
      error = err;
    }
    opened?.dispose();
    assert.ok(error instanceof UserError && /huge_up/.test(error.message),
      `expected a one-sentence refusal naming the layer; got ${opened ? 'a converted model' : String(error)}`);
  });

  it('a GraphModel output chosen by its signature key converts (as it does by node name or index)', async () => {
    const n = GH * GW * GC;
    const signature = {
      inputs: { image: { name: 'image:0', dtype: 'DT_FLOAT' } },
      outputs: { scores: { name: 'Identity:0', dtype: 'DT_FLOAT' }, aux: { name: 'Identity_1:0', dtype: 'DT_FLOAT' } },
    };
    const dir = writeGraph([
      gnode('flat', 'Reshape', ['image', 'flat_shape'], { Tshape: INT }),
      gnode('a', 'MatMul', ['flat', 'ka'], { transpose_a: B(false), transpose_b: B(false) }),
      gnode('b', 'MatMul', ['flat', 'kb'], { transpose_a: B(false), transpose_b: B(false) }),
      gnode('probs', 'Softmax', ['a']),
      gnode('Identity', 'Identity', ['probs']),
      gnode('Identity_1', 'Identity', ['b']),
    ], [ints('flat_shape', [-1, n]), floats('ka', [n, 4], 1), floats('kb', [n, 5], 2)], { extra: { signature } });
    const x = tf.randomUniform([1, GH, GW, GC], 0, 1, 'float32', 3);
    // Was: auto silently ran tfjs ("… has no output "aux"; its outputs are: Identity, Identity_1") because
    // graphModelIO accepted the key and the converted model's output lookup did not (now: ConvertedModel.chosen).
    const c = await openOnnx(dir, x, { output: 'aux' });
    try {
      assert.equal(c.ex.runtime.numClasses, 5);
      assert.ok(relativeError(c.logits, await graphReference(dir, x, 'b')) <= 1e-5);
    } finally {
      c.dispose();
    }
  });

  it('Rescaling with a per-channel scale or offset (a list, as Keras 3 allows and tfjs runs) gives tfjs\'s logits, not NaN or a dropped offset', async () => {
    // Was: Number([a, b, c]) is NaN: a list scale gave NaN logits, and a list offset (NaN, hence falsy) was
    // silently skipped. The declared-shape check cannot see either.
    for (const [scale, offset] of [[[0.5, 2, -1], 0], [2, [0.1, 0.2, 0.3]], [[0.5, 2, -1], [0.1, -0.2, 0.3]]] as const) {
      const input = tf.input({ shape: [5, 4, 3] });
      const r = apply(L.rescaling({ scale: scale as unknown as number, offset: offset as unknown as number }), input);
      const model = tf.model({ inputs: input, outputs: head(apply(L.conv2d({ filters: 2, kernelSize: 3, kernelInitializer: glorot(1) }), r)) });
      await expectLayersModel(model, `Rescaling scale ${JSON.stringify(scale)} offset ${JSON.stringify(offset)}`, 'none');
    }
  });

  it('a model with a layer applied twice (shared weights) opens and converts', async () => {
    // Was: neither runtime opened it: layerGraph.ts read `layer.output`, which throws for a layer with several
    // inbound nodes; now each call records its own output shape (LayerNode.outputShape).
    const input = tf.input({ shape: [6, 5, 3] });
    const shared = L.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: glorot(1), name: 'shared' });
    const a = apply(shared, input);
    const b = apply(shared, a);
    await expectLayersModel(tf.model({ inputs: input, outputs: head(apply(L.add(), [a, b])) }), 'shared conv');
  });

  it('a GraphModel reshaping by its own shape (Keras Reshape in a SavedModel: Shape → StridedSlice → Pack → Reshape) converts', async () => {
    // Was: the probe marked Shape(x) as image-dependent, so conversion stopped at "op Shape is not supported".
    // The converted graph is fixed to batch 1 and the probed size, so Shape/Size/Rank are folded like weights.
    const F = 4;
    const dir = writeGraph([
      gnode('conv', 'Conv2D', ['image', 'k'], CONV),
      gnode('shape', 'Shape', ['conv'], { out_type: INT }),
      gnode('batch', 'StridedSlice', ['shape', 'zero', 'one', 'one'], { T: INT, Index: INT, shrink_axis_mask: I(1), begin_mask: I(0), end_mask: I(0), ellipsis_mask: I(0), new_axis_mask: I(0) }),
      gnode('target', 'Pack', ['batch', 'rows', 'cols'], { T: INT, N: I(3), axis: I(0) }),
      gnode('reshape', 'Reshape', ['conv', 'target'], { Tshape: INT }),
    ], [floats('k', [3, 3, GC, F], 1), ints('zero', [0]), ints('one', [1]), ints('rows', [GH * GW], []), ints('cols', [F], [])], { last: 'reshape', flat: GH * GW * F });
    await expectGraph(dir, 'Shape-driven Reshape');
  });

  it('StridedSlice with a shrink axis whose begin_mask bit is also set takes begin[i] (TF and tfjs ignore the masks on shrink axes)', async () => {
    // Was: begin_mask was applied before shrink_axis_mask, so x[:, 3] spelled with begin_mask bit 1 read row 0.
    const F = 4;
    const dir = writeGraph([
      gnode('conv', 'Conv2D', ['image', 'k'], CONV),
      gnode('row', 'StridedSlice', ['conv', 'sb', 'se', 'ss'], { Index: INT, begin_mask: I(15), end_mask: I(13), shrink_axis_mask: I(2), ellipsis_mask: I(0), new_axis_mask: I(0) }),
    ], [floats('k', [3, 3, GC, F], 1), ints('sb', [0, 3, 0, 0]), ints('se', [0, 4, 0, 0]), ints('ss', [1, 1, 1, 1])], { last: 'row', flat: GW * F });
    await expectGraph(dir, 'shrink + begin_mask', { gradient: false });
  });
});

// =====================================================================================================
// Edge cases checked that already convert correctly
// =====================================================================================================

describe('converter review: layout bookkeeping (Layers)', () => {
  it('channels-first values mixed with lower-rank and channels-last values: broadcasts, concatenations, permutes, reshapes', async () => {
    const cases: [string, () => tf.LayersModel][] = [
      ['Add of a conv map and a Dense vector', () => {
        const i = tf.input({ shape: [6, 5, 3] });
        const c = apply(conv(4, 1), i);
        const d = apply(L.dense({ units: 4, kernelInitializer: glorot(2) }), apply(L.globalAveragePooling2d({}), c));
        return tf.model({ inputs: i, outputs: head(apply(L.add(), [c, d])) });
      }],
      ['SE block: Multiply by a [1,1,C] gate', () => {
        const i = tf.input({ shape: [6, 5, 3] });
        const c = apply(conv(4, 1), i);
        const s = apply(L.reshape({ targetShape: [1, 1, 4] }), apply(L.dense({ units: 4, activation: 'sigmoid', kernelInitializer: glorot(2) }), apply(L.globalAveragePooling2d({}), c)));
        return tf.model({ inputs: i, outputs: head(apply(L.multiply(), [c, s])) });
      }],
      ...[1, 2, 3, -1].map((axis): [string, () => tf.LayersModel] => [`Concatenate axis ${axis} of a conv map and the input`, () => {
        const i = tf.input({ shape: [6, 5, 3] });
        return tf.model({ inputs: i, outputs: head(apply(L.concatenate({ axis }), [i, apply(conv(3, 1), i)])) });
      }]),
      ...[[2, 1, 3], [3, 2, 1], [1, 3, 2], [3, 1, 2]].map((dims): [string, () => tf.LayersModel] => [`Permute ${dims} then conv`, () => {
        const i = tf.input({ shape: [6, 5, 3] });
        return tf.model({ inputs: i, outputs: head(apply(conv(2, 4), apply(L.permute({ dims }), apply(conv(4, 1), i)))) });
      }]),
      ['Reshape a conv map to [5,6,4] then conv', () => {
        const i = tf.input({ shape: [6, 5, 3] });
        return tf.model({ inputs: i, outputs: head(apply(conv(2, 4), apply(L.reshape({ targetShape: [5, 6, 4] }), apply(conv(4, 1), i)))) });
      }],
      ['Reshape to [30,4] then Dense on rank 3', () => {
        const i = tf.input({ shape: [6, 5, 3] });
        return tf.model({ inputs: i, outputs: head(apply(L.dense({ units: 2, kernelInitializer: glorot(9) }), apply(L.reshape({ targetShape: [30, 4] }), apply(conv(4, 1), i)))) });
      }],
      ['Dense on a rank-4 channels-first map, then conv', () => {
        const i = tf.input({ shape: [5, 4, 3] });
        const d = apply(L.dense({ units: 6, activation: 'relu', kernelInitializer: glorot(2) }), apply(conv(4, 1), i));
        return tf.model({ inputs: i, outputs: head(apply(L.conv2d({ filters: 2, kernelSize: 1, kernelInitializer: glorot(4) }), d)) });
      }],
      ['asymmetric Cropping2D and ZeroPadding2D', () => {
        const i = tf.input({ shape: [7, 6, 3] });
        const c = apply(L.cropping2D({ cropping: [[2, 0], [1, 3]] }), apply(conv(4, 1), i));
        return tf.model({ inputs: i, outputs: head(apply(conv(2, 3), apply(L.zeroPadding2d({ padding: [[2, 0], [1, 3]] }), c))) });
      }],
      ['softmax activation on an inner conv (channel axis of a channels-first map)', () => {
        const i = tf.input({ shape: [6, 5, 3] });
        return tf.model({ inputs: i, outputs: head(apply(conv(4, 1, { activation: 'softmax' }), i)) });
      }],
    ];
    for (const [what, build] of cases) await expectLayersModel(build(), what);
  });

  it('UpSampling2D nearest and bilinear with non-square maps and factors [2,3], [3,2], [1,2]', async () => {
    for (const interpolation of ['nearest', 'bilinear'] as const) {
      for (const size of [[2, 3], [3, 2], [1, 2]]) {
        const i = tf.input({ shape: [5, 4, 3] });
        const model = tf.model({ inputs: i, outputs: head(apply(L.upSampling2d({ size, interpolation }), apply(conv(2, 1), i))) });
        // tfjs's cpu ResizeBilinearGrad swaps height and width on non-square maps: central differences instead.
        await expectLayersModel(model, `${interpolation} ×${size}`, interpolation === 'bilinear' ? 'fd' : 'autodiff');
      }
    }
  });

  it('PReLU with alpha [H,W,C], shared axes [1,2], [1], [3], [1,2,3], and after a Dense', async () => {
    for (const sharedAxes of [undefined, [1, 2], [1], [3], [1, 2, 3]]) {
      const i = tf.input({ shape: [5, 4, 3] });
      const p = apply(L.prelu({ sharedAxes, alphaInitializer: tf.initializers.randomUniform({ minval: 0.1, maxval: 0.9, seed: 3 }) }), apply(L.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: glorot(1) }), i));
      // sharedAxes [3] (alpha [5,4,1]) is wrong on tfjs's wasm backend (0.24 relative); the cpu reference agrees with ONNX.
      await expectLayersModel(tf.model({ inputs: i, outputs: head(p) }), `PReLU shared ${JSON.stringify(sharedAxes)}`);
    }
    const i = tf.input({ shape: [5, 4, 3] });
    const d = apply(L.prelu({ alphaInitializer: tf.initializers.randomUniform({ minval: 0.1, maxval: 0.9, seed: 3 }) }), apply(L.dense({ units: 5, kernelInitializer: glorot(1) }), apply(L.flatten(), i)));
    await expectLayersModel(tf.model({ inputs: i, outputs: head(d) }), 'PReLU after Dense');
  });

  it('LayerNormalization over axis -1, [1,2,3], [1,2], [2,3], [1,3], [1] of a channels-first map', async () => {
    for (const axis of [-1, [1, 2, 3], [1, 2], [2, 3], [1, 3], [1]]) {
      const i = tf.input({ shape: [5, 4, 3] });
      const n = apply(L.layerNormalization({ axis, gammaInitializer: tf.initializers.randomNormal({ mean: 1, stddev: 0.3, seed: 2 }), betaInitializer: tf.initializers.randomNormal({ stddev: 0.3, seed: 3 }) }),
        apply(L.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: glorot(1) }), i));
      await expectLayersModel(tf.model({ inputs: i, outputs: head(n) }), `LayerNormalization axis ${JSON.stringify(axis)}`);
    }
  });
});

describe('converter review: Keras configs (Layers)', () => {
  /** Random statistics, so BatchNormalization is not the identity. */
  function randomizeNorms(model: tf.LayersModel): tf.LayersModel {
    model.layers.forEach((layer, k) => {
      if (layer.getClassName() !== 'BatchNormalization') return;
      const names = layer.weights.map((v) => v.name);
      layer.setWeights(layer.getWeights().map((w, j) => (names[j].includes('variance') ? tf.randomUniform(w.shape, 0.5, 2, 'float32', k * 7 + j) : tf.randomNormal(w.shape, 0, 0.5, 'float32', k * 7 + j))));
    });
    return model;
  }

  it('BatchNormalization with center and/or scale off, after a conv, a Dense and the input', async () => {
    for (const [center, scale] of [[true, true], [false, true], [true, false], [false, false]]) {
      for (const where of ['conv', 'dense', 'input']) {
        const i = tf.input({ shape: [5, 4, 3] });
        let x: tf.SymbolicTensor = i;
        if (where === 'conv') x = apply(L.conv2d({ filters: 4, kernelSize: 3, kernelInitializer: glorot(1) }), i);
        if (where === 'dense') x = apply(L.dense({ units: 6, kernelInitializer: glorot(1) }), apply(L.flatten(), i));
        x = apply(L.batchNormalization({ center, scale }), x);
        // tfjs's cpu autodiff through BatchNormalization without gamma or beta throws: central differences.
        await expectLayersModel(randomizeNorms(tf.model({ inputs: i, outputs: head(x) })), `BN center=${center} scale=${scale} after ${where}`, 'fd');
      }
    }
  });

  it('Conv1D valid/same with strides and dilation, 1-D pooling, BatchNormalization on a channels-first sequence', async () => {
    for (const padding of ['valid', 'same'] as const) {
      for (const [strides, dilationRate] of [[1, 1], [2, 1], [1, 2]]) {
        const i = tf.input({ shape: [11, 3] });
        const c = apply(L.conv1d({ filters: 4, kernelSize: 3, padding, strides, dilationRate, kernelInitializer: glorot(1), biasInitializer: 'ones', activation: 'tanh' }), i);
        // tfjs has no gradient for dilated convolutions: central differences.
        await expectLayersModel(tf.model({ inputs: i, outputs: head(c) }), `Conv1D ${padding} s${strides} d${dilationRate}`, dilationRate > 1 ? 'fd' : 'autodiff');
      }
    }
    const i = tf.input({ shape: [11, 3] });
    let c = apply(L.conv1d({ filters: 4, kernelSize: 3, kernelInitializer: glorot(1) }), i);
    c = apply(L.maxPooling1d({ poolSize: 3, strides: 2, padding: 'same' }), c);
    c = apply(L.batchNormalization({}), c);
    c = apply(L.averagePooling1d({ poolSize: 2, strides: 1, padding: 'same' }), c);
    const model = randomizeNorms(tf.model({ inputs: i, outputs: head(apply(L.globalAveragePooling1d({}), c)) }));
    await expectLayersModel(model, 'Conv1D + pooling1D + BN', 'fd');
  });

  it('\'same\' pooling with strides other than the pool size (average over valid pixels only)', async () => {
    for (const [poolSize, strides] of [[2, 1], [3, 2], [2, 3], [3, 1]]) {
      for (const kind of ['max', 'avg'] as const) {
        const i = tf.input({ shape: [7, 6, 3] });
        const c = apply(L.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: glorot(1) }), i);
        const p = kind === 'max' ? L.maxPooling2d({ poolSize, strides, padding: 'same' }) : L.averagePooling2d({ poolSize, strides, padding: 'same' });
        // tfjs's cpu AvgPoolGrad divides by the full window at 'same' borders: central differences for avg.
        await expectLayersModel(tf.model({ inputs: i, outputs: head(apply(p, c)) }), `${kind} pool ${poolSize}/${strides} same`, kind === 'avg' ? 'fd' : 'autodiff');
      }
    }
  });

  it('every built-in activation on Conv2D, Dense, DepthwiseConv2D (multiplier 2), SeparableConv2D and Activation layers', async () => {
    const acts = ['relu', 'relu6', 'swish', 'gelu', 'hardSigmoid', 'elu', 'selu', 'softplus', 'softsign', 'mish', 'tanh', 'sigmoid', 'linear', 'softmax'];
    for (const activation of acts) {
      for (const kind of ['conv', 'dense', 'depthwise', 'separable', 'activation']) {
        const i = tf.input({ shape: [6, 5, 3] });
        const a = activation as 'relu';
        let x: tf.SymbolicTensor;
        if (kind === 'conv') x = apply(L.conv2d({ filters: 4, kernelSize: 3, activation: a, kernelInitializer: glorot(1), biasInitializer: 'ones' }), i);
        else if (kind === 'dense') x = apply(L.dense({ units: 4, activation: a, kernelInitializer: glorot(1) }), apply(L.flatten(), i));
        else if (kind === 'depthwise') x = apply(L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, activation: a, depthwiseInitializer: glorot(1) }), i);
        else if (kind === 'separable') x = apply(L.separableConv2d({ filters: 4, kernelSize: 3, activation: a, depthwiseInitializer: glorot(1), pointwiseInitializer: glorot(2) }), i);
        else x = apply(L.activation({ activation: a }), apply(L.conv2d({ filters: 4, kernelSize: 3, kernelInitializer: glorot(1) }), i));
        await expectLayersModel(tf.model({ inputs: i, outputs: head(x) }), `${activation} on ${kind}`, 'none');
      }
    }
  });

  it('Sequential inside Functional inside Functional; strides and dilations as per-axis lists', async () => {
    const seq = tf.sequential({ name: 'inner_seq', layers: [L.conv2d({ inputShape: [6, 5, 4], filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: glorot(1), activation: 'relu' }), L.batchNormalization({})] });
    const mi = tf.input({ shape: [6, 5, 3] });
    const m = apply(seq as unknown as tf.layers.Layer, apply(L.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: glorot(2) }), mi));
    const mid = tf.model({ inputs: mi, outputs: apply(L.add(), [m, apply(L.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: glorot(4) }), mi)]), name: 'mid' });
    const i = tf.input({ shape: [6, 5, 3] });
    const outer = tf.model({ inputs: i, outputs: head(apply(L.globalAveragePooling2d({}), apply(mid as unknown as tf.layers.Layer, i))) });
    outer.layers.forEach((l) => l instanceof tf.LayersModel && l.layers.forEach((ll) => ll instanceof tf.LayersModel && ll.layers.forEach((bn) => {
      if (bn.getClassName() === 'BatchNormalization') bn.setWeights(bn.getWeights().map((w, j) => tf.randomUniform(w.shape, 0.5, 1.5, 'float32', j)));
    })));
    await expectLayersModel(outer, 'nested', 'fd');
    const j = tf.input({ shape: [9, 8, 3] });
    let c = apply(L.conv2d({ filters: 4, kernelSize: [3, 2], strides: [2, 1], padding: 'same', kernelInitializer: glorot(1) }), j);
    c = apply(L.conv2d({ filters: 4, kernelSize: [2, 3], dilationRate: [1, 2], padding: 'same', kernelInitializer: glorot(2) }), c);
    await expectLayersModel(tf.model({ inputs: j, outputs: head(c) }), 'per-axis strides and dilations', 'fd');
  });

  it('a final Dense with sigmoid (and a softmax Dense before Dropout + Reshape) is attributed before its squashing', async () => {
    for (const [activation, tail] of [['sigmoid', false], ['softmax', true]] as const) {
      const i = tf.input({ shape: [5, 4, 3] });
      const flat = apply(L.flatten(), i);
      let y = apply(L.dense({ units: 4, kernelInitializer: glorot(2), activation, name: 'out' }), flat);
      if (tail) y = apply(L.reshape({ targetShape: [2, 2] }), apply(L.dropout({ rate: 0.5 }), y));
      const model = tf.model({ inputs: i, outputs: y });
      const reference = tf.model({ inputs: i, outputs: apply(L.dense({ units: 4, name: 'out_logits' }), flat) });
      reference.getLayer('out_logits').setWeights(model.getLayer('out').getWeights());
      const x = tf.randomUniform([1, 5, 4, 3], -1, 1, 'float32', 7);
      const c = await openOnnx(await saveLayers(model), x);
      assert.equal(c.ex.runtime.outputActivation, activation);
      const expected = await onCpu(() => (reference.predict(x) as tf.Tensor).dataSync());
      assert.ok(relativeError(c.logits, expected) <= 1e-5, `${activation}: logits before the squashing`);
      c.dispose();
    }
  });
});

describe('converter review: TF graph ops', () => {
  const F = 4;
  const k = () => floats('k', [3, 3, GC, F], 1);
  const flatOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

  it('constants of shapes [C], [1,1,C], [W,C], [H,W,C], [1,1,1,C], [], [H,1,1] on either side of a channels-first map', async () => {
    for (const shape of [[F], [1, 1, F], [GW, F], [GH, GW, F], [1, 1, 1, F], [], [GH, 1, 1]]) {
      for (const [op, order] of [['AddV2', ['conv', 'c']], ['Sub', ['c', 'conv']], ['RealDiv', ['conv', 'c']]] as const) {
        const data = op === 'RealDiv' ? Float32Array.from(randn([Math.max(1, flatOf(shape))], 3), (v) => 1 + Math.abs(v)) : randn([Math.max(1, flatOf(shape))], 3);
        const dir = writeGraph([gnode('conv', 'Conv2D', ['image', 'k'], CONV), gnode('y', op, [...order])],
          [k(), { name: 'c', data: data.slice(0, flatOf(shape)), shape }], { last: 'y', flat: GH * GW * F });
        await expectGraph(dir, `${op} with a constant of shape ${JSON.stringify(shape)}`);
      }
    }
  });

  it('Mean/Sum/Max/Min over various axes, with and without keep_dims, of a channels-first map', async () => {
    for (const [axes, keep] of [[[3], true], [[3], false], [[1], true], [[1], false], [[2, 3], false], [[-1], false], [[1, 3], true], [[1, 2], false]] as [number[], boolean][]) {
      const norm = axes.map((a) => (a + 4) % 4);
      const out = [1, GH, GW, F].flatMap((d, i) => (norm.includes(i) ? (keep ? [1] : []) : [d]));
      for (const op of ['Mean', 'Sum', 'Max', 'Min']) {
        const dir = writeGraph([gnode('conv', 'Conv2D', ['image', 'k'], CONV), gnode('r', op, ['conv', 'axes'], { keep_dims: B(keep), Tidx: INT })],
          [k(), ints('axes', axes)], { last: 'r', flat: flatOf(out) });
        // Max/Min: the directional derivative crosses ties; logits only.
        await expectGraph(dir, `${op} ${JSON.stringify(axes)} keep ${keep}`, { gradient: op === 'Mean' || op === 'Sum' });
      }
    }
  });

  it('ConcatV2 along axes 1, 2, 3, -1, -3 of a channels-first map and the channels-last input; with a constant operand', async () => {
    for (const axis of [1, 2, 3, -1, -3]) {
      const dir = writeGraph([gnode('conv', 'Conv2D', ['image', 'k3'], CONV), gnode('cat', 'ConcatV2', ['conv', 'image', 'axis'], { N: I(2), Tidx: INT })],
        [floats('k3', [3, 3, GC, GC], 1), ints('axis', [axis], [])], { last: 'cat', flat: GH * GW * GC * 2 });
      await expectGraph(dir, `ConcatV2 axis ${axis}`);
    }
    const dir = writeGraph([gnode('conv', 'Conv2D', ['image', 'k'], CONV), gnode('cat', 'ConcatV2', ['conv', 'extra', 'axis'], { N: I(2), Tidx: INT })],
      [k(), floats('extra', [1, GH, GW, 2], 4), ints('axis', [3], [])], { last: 'cat', flat: GH * GW * (F + 2) });
    await expectGraph(dir, 'ConcatV2 with a constant');
  });

  it('StridedSlice with masks, negative indices, steps, shrink axes, short specs and ends past the size; Slice with size -1', async () => {
    const cases: [string, number[], number[], number[], Record<string, number>, number][] = [
      ['channels 1:3', [0, 0, 0, 1], [0, 0, 0, 3], [1, 1, 1, 1], { b: 7, e: 7 }, GH * GW * 2],
      ['rows -3:-1', [0, -3, 0, 0], [0, -1, 0, 0], [1, 1, 1, 1], { b: 13, e: 13 }, 2 * GW * F],
      ['columns 1:5:2', [0, 0, 1, 0], [0, 0, 5, 0], [1, 1, 2, 1], { b: 11, e: 11 }, GH * 2 * F],
      ['shrink channel 2', [0, 0, 0, 2], [0, 0, 0, 3], [1, 1, 1, 1], { b: 7, e: 7, s: 8 }, GH * GW],
      ['shrink row -1', [0, -1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], { b: 13, e: 13, s: 2 }, GW * F],
      ['two axes given', [0, 1], [1, 4], [1, 1], {}, 3 * GW * F],
      ['end past the size', [0, 2, 0, 0], [1, 100, 100, 100], [1, 1, 1, 1], {}, (GH - 2) * GW * F],
    ];
    for (const [what, b, e, s, m, n] of cases) {
      const dir = writeGraph([gnode('conv', 'Conv2D', ['image', 'k'], CONV),
        gnode('ss', 'StridedSlice', ['conv', 'sb', 'se', 'sst'], { Index: INT, begin_mask: I(m.b ?? 0), end_mask: I(m.e ?? 0), shrink_axis_mask: I(m.s ?? 0), ellipsis_mask: I(0), new_axis_mask: I(0) })],
      [k(), ints('sb', b), ints('se', e), ints('sst', s)], { last: 'ss', flat: n });
      await expectGraph(dir, `StridedSlice ${what}`);
    }
    const dir = writeGraph([gnode('conv', 'Conv2D', ['image', 'k'], CONV), gnode('sl', 'Slice', ['conv', 'begin', 'size'], { Index: INT })],
      [k(), ints('begin', [0, 1, 2, 1]), ints('size', [1, -1, 2, 2])], { last: 'sl', flat: (GH - 1) * 2 * 2 });
    await expectGraph(dir, 'Slice');
  });

  it('Pad and MirrorPad REFLECT (asymmetric, channel padding); Transpose; Softmax of a channels-first map', async () => {
    await expectGraph(writeGraph([gnode('conv', 'Conv2D', ['image', 'k'], CONV), gnode('p', 'Pad', ['conv', 'pads'], { Tpaddings: INT })],
      [k(), ints('pads', [0, 0, 1, 2, 0, 3, 1, 0], [4, 2])], { last: 'p', flat: (GH + 3) * (GW + 3) * (F + 1) }), 'Pad');
    // tfjs's cpu MirrorPad gradient is wrong (relative error 1.4); the ONNX one matches central differences.
    await expectGraph(writeGraph([gnode('conv', 'Conv2D', ['image', 'k'], CONV), gnode('p', 'MirrorPad', ['conv', 'pads'], { Tpaddings: INT, mode: S('REFLECT') })],
      [k(), ints('pads', [0, 0, 1, 2, 2, 1, 0, 0], [4, 2])], { last: 'p', flat: (GH + 3) * (GW + 3) * F }), 'MirrorPad');
    for (const perm of [[0, 3, 1, 2], [0, 2, 1, 3], [0, 1, 3, 2]]) {
      await expectGraph(writeGraph([gnode('conv', 'Conv2D', ['image', 'k'], CONV), gnode('t', 'Transpose', ['conv', 'perm'], { Tperm: INT })],
        [k(), ints('perm', perm)], { last: 't', flat: GH * GW * F }), `Transpose ${perm}`);
    }
    await expectGraph(writeGraph([gnode('conv', 'Conv2D', ['image', 'k'], CONV), gnode('s', 'Softmax', ['conv'])], [k()], { last: 's', flat: GH * GW * F }), 'Softmax');
  });

  it('ResizeBilinear / ResizeNearestNeighbor with align_corners or half_pixel_centers, up and down, non-square', async () => {
    const cases: [string, boolean, boolean, number, number][] = [
      ['ResizeBilinear', false, false, 12, 15], ['ResizeBilinear', true, false, 12, 15], ['ResizeBilinear', false, true, 12, 15],
      ['ResizeBilinear', false, true, 4, 3], ['ResizeBilinear', true, false, 4, 3],
      ['ResizeNearestNeighbor', false, false, 12, 15], ['ResizeNearestNeighbor', true, false, 11, 7], ['ResizeNearestNeighbor', false, true, 13, 9],
    ];
    for (const [op, align, half, h, w] of cases) {
      const dir = writeGraph([gnode('conv', 'Conv2D', ['image', 'k'], CONV), gnode('r', op, ['conv', 'size'], { align_corners: B(align), half_pixel_centers: B(half) })],
        [k(), ints('size', [h, w])], { last: 'r', flat: h * w * F });
      await expectGraph(dir, `${op} align ${align} half ${half} → ${h}×${w}`);
    }
  });

  it('fused ops: _FusedConv2D / FusedDepthwiseConv2dNative with BiasAdd + Relu/Relu6/Elu/Sigmoid/LeakyRelu(alpha)/Prelu([C] and [H,W,C]); _FusedMatMul with transpose_b', async () => {
    const tails: [string[], string[], Record<string, unknown>][] = [
      [['BiasAdd'], ['bias'], {}], [['BiasAdd', 'Relu'], ['bias'], {}], [['BiasAdd', 'Relu6'], ['bias'], {}], [['BiasAdd', 'Elu'], ['bias'], {}],
      [['BiasAdd', 'Sigmoid'], ['bias'], {}], [['BiasAdd', 'LeakyRelu'], ['bias'], { leakyrelu_alpha: { f: 0.15 } }],
      [['BiasAdd', 'Prelu'], ['bias', 'alpha'], {}], [['BiasAdd', 'Prelu'], ['bias', 'alpha3'], {}],
    ];
    for (const [ops, args, extra] of tails) {
      const params = (c: number): GraphWeight[] => [floats('bias', [c], 2), floats('alpha', [c], 5), floats('alpha3', [GH, GW, c], 6)].filter((p) => args.includes(p.name));
      await expectGraph(writeGraph([gnode('y', '_FusedConv2D', ['image', 'k', ...args], { ...CONV, fused_ops: Ls(ops), num_args: I(args.length), epsilon: { f: 0 }, ...extra })],
        [k(), ...params(F)], { last: 'y', flat: GH * GW * F }), `_FusedConv2D ${ops}`, { gradient: false });
      // FusedDepthwiseConv2dNative + LeakyRelu: tfjs's wasm backend ignores leakyrelu_alpha and its cpu backend gives
      // NaN, so that one is checked against the unfused DepthwiseConv2dNative → BiasAdd → LeakyRelu.
      const dwWeights = [floats('dk', [3, 3, GC, 2], 3), ...params(2 * GC)];
      const unfused = ops.includes('LeakyRelu') ? writeGraph([gnode('dw', 'DepthwiseConv2dNative', ['image', 'dk'], CONV), gnode('b', 'BiasAdd', ['dw', 'bias']), gnode('y', 'LeakyRelu', ['b'], { alpha: { f: 0.15 } })],
        dwWeights, { last: 'y', flat: GH * GW * 2 * GC }) : undefined;
      await expectGraph(writeGraph([gnode('y', 'FusedDepthwiseConv2dNative', ['image', 'dk', ...args], { ...CONV, fused_ops: Ls(ops), num_args: I(args.length), ...extra })],
        dwWeights, { last: 'y', flat: GH * GW * 2 * GC }), `FusedDepthwiseConv2dNative ${ops}`, { gradient: false, referenceDir: unfused });
    }
    const n = GH * GW * GC;
    for (const transposeB of [false, true]) {
      for (const ops of [['BiasAdd'], ['BiasAdd', 'Relu'], ['BiasAdd', 'Prelu']]) {
        const prelu = ops.includes('Prelu');
        // _FusedMatMul with transpose_b is wrong on tfjs's wasm backend (0.1–0.3 relative); cpu is the reference.
        const dir = writeGraph([
          gnode('flat0', 'Reshape', ['image', 'shape0'], { Tshape: INT }),
          gnode('h', '_FusedMatMul', ['flat0', 'mk', 'mb', ...(prelu ? ['ma'] : [])], { transpose_a: B(false), transpose_b: B(transposeB), fused_ops: Ls(ops), num_args: I(prelu ? 2 : 1), epsilon: { f: 0 } }),
        ], [ints('shape0', [-1, n]), floats('mk', transposeB ? [7, n] : [n, 7], 4), floats('mb', [7], 5), ...(prelu ? [floats('ma', [7], 6)] : [])], { last: 'h', flat: 7 });
        await expectGraph(dir, `_FusedMatMul transpose_b=${transposeB} ${ops}`, { gradient: false });
      }
    }
  });

  it('AddN of channels-first and channels-last values; Identity chains and control inputs; a Split constant read as name:1; an int32 constant cast to float', async () => {
    await expectGraph(writeGraph([gnode('c1', 'Conv2D', ['image', 'k1'], CONV), gnode('c2', 'Conv2D', ['image', 'k2'], CONV), gnode('s', 'AddN', ['c1', 'image', 'c2'], { N: I(3) })],
      [floats('k1', [3, 3, GC, GC], 1), floats('k2', [3, 3, GC, GC], 2)], { last: 's', flat: GH * GW * GC }), 'AddN');
    await expectGraph(writeGraph([gnode('conv', 'Conv2D', ['image', 'k', '^image'], CONV), gnode('i1', 'Identity', ['conv', '^k']), gnode('i2', 'Identity', ['i1']), gnode('r', 'Tanh', ['i2', '^i1'])],
      [k()], { last: 'r', flat: GH * GW * F }), 'Identity chain with control inputs');
    await expectGraph(writeGraph([gnode('split', 'Split', ['split_axis', 'kk'], { num_split: I(2) }), gnode('c1', 'Conv2D', ['image', 'split'], CONV),
      gnode('c2', 'Conv2D', ['image', 'split:1'], CONV), gnode('d', 'Sub', ['c1', 'c2'])],
    [ints('split_axis', [3], []), floats('kk', [3, 3, GC, 2 * F], 3)], { last: 'd', flat: GH * GW * F }), 'Split constant, second output');
    await expectGraph(writeGraph([gnode('cf', 'Cast', ['ic'], { SrcT: INT, DstT: { type: 'DT_FLOAT' } }), gnode('m', 'Mul', ['image', 'cf']), gnode('conv', 'Conv2D', ['m', 'k'], CONV)],
      [ints('ic', [2, -3, 5]), k()], { last: 'conv', flat: GH * GW * F }), 'int32 constant cast to float');
  });
});
