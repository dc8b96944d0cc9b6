import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { UserError } from '../../src/engine/errors';
import { isKerasFile, readKerasFile } from '../../src/engine/model/keras';
import { readModelFiles } from '../../src/engine/model/readArtifacts';
import { cleanupTempDirs, relativeError, tempDir } from './helpers';

// Fixtures and expected outputs: scripts/keras/write_keras_fixtures.py (numpy forward passes).
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'keras');
const fixture = (name: string) => path.join(FIXTURES, name);
const expected = JSON.parse(fs.readFileSync(fixture('expected.json'), 'utf8')) as Record<string, { input: number[]; shape: number[]; output: number[] }>;

before(async () => {
  await initBackend();
});
after(cleanupTempDirs);

async function predict(artifacts: tf.io.ModelArtifacts, model: string): Promise<Float32Array> {
  const m = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  try {
    const { input, shape } = expected[model];
    return tf.tidy(() => (m.predict(tf.tensor(input, shape)) as tf.Tensor).dataSync() as Float32Array);
  } finally {
    m.dispose();
  }
}

/** A UserError whose message names the file and matches what is wrong, in one line. */
async function refuses(file: string, what: RegExp): Promise<void> {
  await assert.rejects(readKerasFile(file), (e: Error) => {
    assert.ok(e instanceof UserError, `not a UserError: ${e.stack}`);
    assert.ok(e.message.startsWith(`${file}: `), `does not name the file: ${e.message}`);
    assert.match(e.message, what);
    assert.ok(!e.message.includes('\n') && !/\bat .*\.(js|ts):\d+/.test(e.message), `not one line: ${e.message}`);
    return true;
  });
}

describe('Keras files by extension', () => {
  it('.keras, .h5 and .hdf5 are Keras files; others are not', () => {
    for (const f of ['m.keras', 'M.H5', 'a/b/model.hdf5']) assert.ok(isKerasFile(f), f);
    for (const f of ['model.json', 'model.onnx', 'model.keras.json', 'h5']) assert.ok(!isKerasFile(f), f);
  });
});

describe('Keras models give the outputs numpy computes', () => {
  const cases: [string, string, string | undefined][] = [
    ['cnn.keras', 'cnn', '3.8.0'],
    ['cnn.h5', 'cnn', '2.15.0'],
    ['cnn_keras3.h5', 'cnn', '3.8.0'],
    ['nested.keras', 'nested', '3.5.0'],
    ['nested.h5', 'nested', '2.15.0'],
    ['preprocess.keras', 'preprocess', '3.8.0'],
  ];
  for (const [file, model, version] of cases) {
    it(`${file}`, async () => {
      const read = await readKerasFile(fixture(file));
      assert.equal(read.kerasVersion, version);
      const out = await predict(read.artifacts, model);
      assert.ok(relativeError(out, expected[model].output) < 1e-5, `relative error ${relativeError(out, expected[model].output)}`);
    });
  }

  it('a .keras, an .h5 and a TF.js folder with the same weights predict exactly alike', async () => {
    const keras = await predict((await readKerasFile(fixture('cnn.keras'))).artifacts, 'cnn');
    const h5 = await predict((await readKerasFile(fixture('cnn.h5'))).artifacts, 'cnn');
    const k3h5 = await predict((await readKerasFile(fixture('cnn_keras3.h5'))).artifacts, 'cnn');
    const tfjs = await predict(readModelFiles(fixture('cnn-tfjs')).artifacts!, 'cnn');
    assert.deepEqual(Array.from(keras), Array.from(tfjs));
    assert.deepEqual(Array.from(h5), Array.from(tfjs));
    assert.deepEqual(Array.from(k3h5), Array.from(tfjs));
  });

  it('weights are named as tfjs names them, nested models\' by their own layers', async () => {
    const { artifacts } = await readKerasFile(fixture('nested.keras'));
    assert.deepEqual(artifacts.weightSpecs!.map((w) => w.name), [
      'block_conv/kernel', 'block_conv/bias', 'block_bn/beta', 'block_bn/moving_mean', 'block_bn/moving_variance',
      'head_conv/kernel', 'head_conv/bias', 'predictions/kernel', 'predictions/bias',
    ]);
    const topology = artifacts.modelTopology as { model_config: { class_name: string }; keras_version: string };
    assert.equal(topology.model_config.class_name, 'Functional');
    assert.equal(topology.keras_version, '3.5.0');
    assert.equal((artifacts.weightData as ArrayBuffer).byteLength, artifacts.weightSpecs!.reduce((n, w) => n + 4 * w.shape.reduce((a, b) => a * b, 1), 0));
  });

  it('Keras 3 preprocessing: augmentation layers are dropped with a warning, Resizing becomes the input size, Normalization runs', async () => {
    const read = await readKerasFile(fixture('preprocess.keras'));
    assert.match(read.warnings.join('\n'), /training-only layers dropped.*random_flip \(RandomFlip\).*random_translation \(RandomTranslation\)/);
    assert.match(read.warnings.join('\n'), /"resizing" \(Resizing to 8×8\).*model input is 8×8/);
    const config = JSON.stringify(read.artifacts.modelTopology);
    assert.ok(!/Random|"Resizing"|"Normalization"|__keras_tensor__|"module"/.test(config), 'translated config still holds Keras 3 or dropped classes');
    const m = await tf.loadLayersModel(tf.io.fromMemory(read.artifacts));
    assert.deepEqual(m.inputs[0].shape, [null, 8, 8, 3]);
    assert.deepEqual(m.layers.map((l) => l.name), ['image', 'prep', 'conv', 'gap', 'probs']);
    m.dispose();
  });
});

describe('Keras files that are refused, each in one sentence naming the file', () => {
  it('a Lambda layer (.keras and .h5)', async () => {
    await refuses(fixture('lambda.keras'), /layer "lambda_1" is a Lambda layer \(Python code\); Saliency Lens never runs code from model files/);
    await refuses(fixture('lambda.h5'), /layer "lambda" is a Lambda layer/);
  });
  it('a custom registered class', () => refuses(fixture('custom.keras'), /layer "swish_gate" is the custom class SwishGate from module my_package\.layers \(Python code\)/));
  it('an .h5 of weights only says what to save instead', () => refuses(fixture('weights_only.h5'), /holds weights only.*model\.save\("model\.keras"\)/));
  it('a missing weight', async () => {
    await refuses(fixture('missing_weight.keras'), /layer "dense" \(Dense\) has 1 weights in model\.weights\.h5 but the model needs 2 \(no "bias"\)/);
    await refuses(fixture('missing_weight.h5'), /layer "batch_normalization" \(BatchNormalization\) has no weight "moving_variance"/);
  });
  it('a weight of the wrong shape', async () => {
    await refuses(fixture('wrong_shape.keras'), /weight "kernel" of layer "conv2d" has shape \[3, 3, 1, 5\] in model\.weights\.h5 but the model needs \[3, 3, 1, 4\]/);
    await refuses(fixture('wrong_shape.h5'), /weight "kernel" of layer "dense" has shape \[64, 4\].*needs \[64, 3\]/);
  });
  it('a zip entry that escapes the archive', () => refuses(fixture('zip_slip.keras'), /archive entry "\.\.\/\.\.\/evil\.txt" points outside the archive/));
  it('a zip bomb (expansion ratio)', () => refuses(fixture('zip_bomb.keras'), /"assets\/zeros\.bin" would expand .* to 64\.0 MiB.*zip bomb/));
  it('a zip entry larger than its header declares', () => refuses(fixture('zip_lie.keras'), /"model\.weights\.h5" does not hold the 100 bytes its header declares/));
  it('a truncated .h5', async () => {
    const data = fs.readFileSync(fixture('cnn.h5'));
    const file = path.join(tempDir(), 'truncated.h5');
    fs.writeFileSync(file, data.subarray(0, Math.floor(data.length * 0.6)));
    await refuses(file, /is truncated: its HDF5 header declares \d+ bytes but there are only \d+/);
  });
  it('a .keras whose model.weights.h5 is corrupt', async () => {
    const data = Buffer.from(fs.readFileSync(fixture('cnn.keras')));
    // Zero the HDF5 structures after the superblock of the stored model.weights.h5 (entries are stored uncompressed).
    const at = data.indexOf(Buffer.from([0x89, 0x48, 0x44, 0x46])) + 96;
    data.fill(0, at, at + 1000);
    const file = path.join(tempDir(), 'corrupt.keras');
    fs.writeFileSync(file, data);
    await refuses(file, /model\.weights\.h5 inside the archive is corrupt or truncated|has no weights|has shape|holds/);
  });
  it('a corrupt or truncated zip', async () => {
    const data = fs.readFileSync(fixture('cnn.keras'));
    const file = path.join(tempDir(), 'truncated.keras');
    fs.writeFileSync(file, data.subarray(0, data.length - 200));
    await refuses(file, /is not a readable \.keras archive/);
    fs.writeFileSync(file, Buffer.from('not a zip at all'));
    await refuses(file, /is not a \.keras archive/);
  });
  it('an HDF5 file that is not a Keras model', async () => {
    const data = fs.readFileSync(fixture('cnn.keras'));
    // model.weights.h5 alone: an HDF5 file with no model_config.
    const start = data.indexOf(Buffer.from([0x89, 0x48, 0x44, 0x46]));
    const file = path.join(tempDir(), 'weights.h5');
    fs.writeFileSync(file, data.subarray(start));
    await refuses(file, /holds weights only|not a Keras model/);
  });
});

describe('mutated Keras files end quickly with a result or one sentence', () => {
  // Seeded byte flips, zeroed spans and truncations of every good fixture: never a crash, hang or stack trace.
  let seed = 20261206;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (const name of ['cnn.h5', 'cnn.keras', 'nested.h5', 'nested.keras', 'preprocess.keras']) {
    it(name, async () => {
      const good = fs.readFileSync(fixture(name));
      const dir = tempDir();
      for (let i = 0; i < 40; i++) {
        const data = Buffer.from(good);
        const kind = i % 3;
        let bytes = data;
        if (kind === 0) for (let k = 0; k < 8; k++) data[Math.floor(rand() * data.length)] ^= 1 << Math.floor(rand() * 8);
        else if (kind === 1) { const at = Math.floor(rand() * data.length); data.fill(0, at, at + 1 + Math.floor(rand() * 64)); }
        else bytes = data.subarray(0, Math.floor(rand() * data.length));
        const file = path.join(dir, `m${i}${path.extname(name)}`);
        fs.writeFileSync(file, bytes);
        const t0 = Date.now();
        try {
          await readKerasFile(file);
        } catch (e) {
          assert.ok(e instanceof UserError, `mutation ${i} (${kind}) threw ${(e as Error).stack}`);
          assert.ok(!(e as Error).message.includes('\n'), (e as Error).message);
        }
        assert.ok(Date.now() - t0 < 5000, `mutation ${i} took ${Date.now() - t0} ms`);
      }
    });
  }
});
