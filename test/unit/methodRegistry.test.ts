/**
 * The registry's contract, for every method on every runtime (tfjs Layers, tfjs Graph, ONNX Runtime on a
 * converted model, ONNX Runtime on an .onnx file): the map has the shape its target says, finite values,
 * the sign the registry declares, the same values under the same seed, no tensor leak; and where a method
 * cannot apply, one clear sentence.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Explainer } from '../../src/engine/explain';
import { UserError } from '../../src/engine/errors';
import { unimplementedMethods } from '../../src/engine/methods/registry';
import { isSigned, isSinglePass, METHODS, MethodName, MethodOptions, MethodSpec, methodSpec, resolveOptions } from '../../src/shared/methods';
import { NO_ATTENTION_REASON } from '../../src/shared/methodAvailability';
import { buildSmallResidual } from '../fixtures/architectures';
import { saveAsGraphModel } from '../fixtures/graphModelWriter';
import { cleanupTempDirs, saveToTemp, tempDir } from './helpers';

/** Options that keep every method cheap on 16×16 inputs while exercising its sampling. */
const CHEAP: Partial<Record<MethodName, MethodOptions>> = {
  smoothgrad: { samples: 3 },
  'smoothgrad-sq': { samples: 3 },
  vargrad: { samples: 3 },
  ig: { steps: 4, baseline: 'noise', seed: 5 },
  scorecam: { batch: 4 },
  occlusion: { window: 4, stride: 4 },
  rise: { masks: 24, grid: 4, seed: 3 },
  lime: { samples: 24, segments: 8, seed: 3 },
  kernelshap: { samples: 24, segments: 8, seed: 3 },
};

const specs = METHODS as readonly MethodSpec[];
const stochastic = (spec: MethodSpec) => spec.options.some((o) => o.name === 'seed');

interface RuntimeCase {
  name: string;
  open: () => Promise<Explainer>;
}

let layersDir = '';
let graphDir = '';
const ONNX_FILE = path.join(__dirname, '..', 'fixtures', 'onnx', 'tiny_resnet.onnx');

before(async () => {
  const model = buildSmallResidual({ inputSize: 16, channels: 3, classes: 5, seed: 11 });
  layersDir = await saveToTemp(model);
  graphDir = tempDir();
  await saveAsGraphModel(model, graphDir);
  model.dispose();
});
after(cleanupTempDirs);

const RUNTIMES: RuntimeCase[] = [
  { name: 'tfjs Layers', open: () => Explainer.open(layersDir, { runtime: 'tfjs' }) },
  { name: 'tfjs Graph', open: () => Explainer.open(graphDir, { runtime: 'tfjs' }) },
  { name: 'ONNX Runtime (converted TF.js)', open: () => Explainer.open(layersDir, { runtime: 'onnx' }) },
  { name: 'ONNX Runtime (.onnx)', open: () => Explainer.open(ONNX_FILE) },
];

test('every registry method has an implementation', () => {
  assert.deepEqual(unimplementedMethods(), []);
});

test('every registry option default is inside its own range and passes validation', () => {
  for (const spec of specs) {
    const resolved = resolveOptions(spec, {});
    for (const o of spec.options) assert.equal(resolved[o.name], o.default, `${spec.name}.${o.name}`);
    assert.match(spec.cost(resolved), /^\d+ forward/, `${spec.name} states its cost in passes`);
    assert.throws(() => resolveOptions(spec, { noSuchOption: 1 }), /no option "noSuchOption"/);
  }
});

for (const rt of RUNTIMES) {
  describe(`every method on ${rt.name}`, () => {
    let ex: Explainer;
    let x: tf.Tensor;
    before(async () => {
      ex = await rt.open();
      const [h, w, c] = [ex.imageSpec.height, ex.imageSpec.width, ex.imageSpec.channels];
      // A smooth, structured input: gradients and perturbations both have something to find.
      x = tf.tidy(() => tf.reshape(tf.sin(tf.mul(tf.range(0, h * w * c), 0.37)), [1, ...ex.runtime.inputShape]));
    });
    after(() => {
      x.dispose();
      ex.dispose();
    });

    for (const spec of specs) {
      test(spec.name, async () => {
        const name = spec.name as MethodName;
        const guided = name === 'guided-backprop' || name === 'guided-gradcam';
        const opts = { methods: [name], options: { [name]: CHEAP[name] ?? {} }, target: 1 };
        if (guided && !ex.runtime.backwardRules?.includes('guided')) {
          await assert.rejects(ex.explainTensor(x, opts), (err: Error) => err instanceof UserError && /Guided Backprop/.test(err.message) && /ONNX Runtime/.test(err.message));
          return;
        }
        if (spec.needsAttention) {
          // These models are CNNs: no attention to roll out (test/unit/attentionRollout.test.ts runs these on ViTs).
          const why = ex.runtime.kind === 'onnx' ? NO_ATTENTION_REASON : 'needs ONNX Runtime';
          await assert.rejects(ex.explainTensor(x, opts), (err: Error) => err instanceof UserError && err.message.startsWith(`${spec.label} ${why}`));
          return;
        }
        // The first run may fill the runtime's caches (flipped kernels, sessions); the second must leave nothing behind.
        const inputsRun: number[] = [];
        const first = await ex.explainTensor(x, { ...opts, progress: (p) => inputsRun.push(p.total) });
        // The panel asks for single-pass maps apart from the others (which would hold them back): the registry must
        // say which run more model inputs than the shared pass's one.
        const options = resolveOptions(spec, CHEAP[name] ?? {});
        assert.equal(isSinglePass(spec, options), Math.max(0, ...inputsRun) <= 1, `${name}: cost "${spec.cost(options)}", ran ${Math.max(0, ...inputsRun)} inputs`);
        const before = tf.memory().numTensors;
        const second = await ex.explainTensor(x, opts);
        assert.equal(tf.memory().numTensors, before, 'no tensor leak');
        const [map] = first.maps;
        assert.equal(first.maps.length, 1);
        assert.equal(map.method, name);
        assert.equal(first.target.index, 1);
        if (spec.target === 'layer') {
          const layer = ex.runtime.spatialLayers().find((l) => l.name === map.layer);
          assert.ok(layer, `${name} names its layer (${map.layer})`);
          if (name !== 'guided-gradcam') assert.deepEqual([map.height, map.width], [layer!.height, layer!.width]);
        }
        if (spec.target === 'input' || name === 'guided-gradcam') {
          assert.deepEqual([map.height, map.width], [ex.imageSpec.height, ex.imageSpec.width]);
        }
        assert.equal(map.data.length, map.width * map.height);
        assert.ok(map.data.every(Number.isFinite), 'finite values');
        assert.ok(map.data.some((v) => v !== 0), 'not all zero');
        const signed = isSigned(methodSpec(name), resolveOptions(methodSpec(name), CHEAP[name] ?? {}));
        assert.equal(!!map.signed, signed, 'signed as the registry says');
        if (!signed) assert.ok(map.data.every((v) => v >= 0), 'an unsigned map has no negative values');
        assert.deepEqual(Array.from(second.maps[0].data), Array.from(map.data), 'same input and seed → same map');
        if (stochastic(spec)) {
          const seed = Number(resolveOptions(spec, CHEAP[name] ?? {}).seed) + 1;
          const other = await ex.explainTensor(x, { ...opts, options: { [name]: { ...CHEAP[name], seed } } });
          assert.notDeepEqual(Array.from(other.maps[0].data), Array.from(map.data), 'another seed → another sample');
        }
      });
    }
  });
}

test('a CAM on a model without spatial layers says which method needs one', async () => {
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [16], units: 3 })] });
  const ex = await Explainer.open(await saveToTemp(model), { imageShape: [4, 4, 1] });
  model.dispose();
  const x = tf.ones([1, 16]);
  try {
    for (const spec of specs.filter((s) => s.target === 'layer')) {
      await assert.rejects(ex.explainTensor(x, { methods: [spec.name as MethodName] }),
        (err: Error) => err instanceof UserError && err.message.includes(spec.label) && /spatial/.test(err.message));
    }
  } finally {
    x.dispose();
    ex.dispose();
  }
});

test('an option out of range is refused naming the method and option', async () => {
  const ex = await Explainer.open(layersDir, { runtime: 'tfjs' });
  const x = tf.zeros([1, ...ex.runtime.inputShape]);
  try {
    await assert.rejects(ex.explainTensor(x, { methods: ['smoothgrad'], options: { smoothgrad: { samples: 0 } } }),
      (err: Error) => err instanceof UserError && /smoothgrad option "samples" is 0; it takes 1 to/.test(err.message));
    await assert.rejects(ex.explainTensor(x, { methods: ['ig'], options: { ig: { rule: 'simpson' } } }),
      (err: Error) => err instanceof UserError && /ig option "rule" takes one of riemann, trapezoid, gausslegendre/.test(err.message));
    // A stride beyond the window would leave pixels no window covers (no attribution, 0/0).
    await assert.rejects(ex.explainTensor(x, { methods: ['occlusion'], options: { occlusion: { window: 2, stride: 5 } } }),
      (err: Error) => err instanceof UserError && /stride" \(5 px\) is larger than the window \(2 px\)/.test(err.message));
  } finally {
    x.dispose();
    ex.dispose();
  }
});

test('a class out of range is refused before any tensor is made, for methods with and without gradients', async () => {
  const ex = await Explainer.open(layersDir, { runtime: 'tfjs' });
  const x = tf.zeros([1, ...ex.runtime.inputShape]);
  try {
    const before = tf.memory().numTensors;
    for (const method of ['occlusion', 'eigencam', 'saliency'] as MethodName[]) {
      await assert.rejects(ex.explainTensor(x, { methods: [method], target: 99, options: { occlusion: { window: 4 } } }),
        (err: Error) => err instanceof UserError && /class 99 is out of range/.test(err.message));
    }
    assert.equal(tf.memory().numTensors, before, 'nothing left behind');
  } finally {
    x.dispose();
    ex.dispose();
  }
});

test('comparing classes runs a perturbation method\'s inputs once, and each class gets the map it gets alone', async () => {
  const ex = await Explainer.open(ONNX_FILE);
  const x = tf.randomNormal([1, ...ex.runtime.inputShape], 0, 1, 'float32', 3);
  const runtime = ex.runtime as { forwardBatch?: (x: tf.Tensor) => Promise<Float32Array> };
  const original = runtime.forwardBatch!.bind(ex.runtime);
  let rows = 0;
  runtime.forwardBatch = (t) => {
    rows += t.shape[0];
    return original(t);
  };
  try {
    const options = { rise: { masks: 40, grid: 4, seed: 2 } };
    const compared = await ex.compareTensor(x, { method: 'rise', options: options.rise, classes: [0, 3, 5], contrast: [0, 3] });
    assert.equal(rows, 40, 'the 40 masked inputs ran once for three classes and a contrast');
    for (const [i, c] of [0, 3, 5].entries()) {
      const alone = await ex.explainTensor(x, { methods: ['rise'], options, target: c });
      assert.deepEqual(Array.from(compared.maps[i].data), Array.from(alone.maps[0].data), `class ${c}`);
    }
    assert.ok(compared.contrast && compared.contrast.map.signed, 'the contrast map is signed');
  } finally {
    runtime.forwardBatch = original;
    x.dispose();
    ex.dispose();
  }
});
