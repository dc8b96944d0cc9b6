import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveLayersModel } from '../../src/engine/model/saveModel';
import { Explainer, OpenOptions } from '../../src/engine/explain';

const made: string[] = [];

export function tempDir(prefix = 'saliency-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function cleanupTempDirs(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export async function saveToTemp(model: tf.LayersModel): Promise<string> {
  const dir = tempDir();
  await saveLayersModel(model, dir);
  return dir;
}

export async function openModel(model: tf.LayersModel, opts: OpenOptions = {}): Promise<Explainer> {
  return Explainer.open(await saveToTemp(model), opts);
}

/** max |a−b| / max |b|: a scale-aware error that ignores tiny entries of large arrays. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Pearson correlation of two equally long arrays (NaN when either is constant). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/**
 * The saliency map by hand from an input gradient laid out [pixel][channel]: per pixel the channel
 * value of largest magnitude, its absolute value, or (signed) with its sign.
 */
export function perPixelSaliency(grad: Float32Array, channels: number, signed = false): Float32Array {
  return Float32Array.from({ length: grad.length / channels }, (_, p) => {
    const v = Array.from(grad.subarray(p * channels, (p + 1) * channels)).reduce((best, g) => (Math.abs(g) > Math.abs(best) ? g : best), 0);
    return signed ? v : Math.abs(v);
  });
}

/** A one-hot [1, n] seed for class c. */
export function seedFor(n: number, c: number): tf.Tensor2D {
  return tf.oneHot([c], n).toFloat() as tf.Tensor2D;
}

/** Returns a model whose final layer runs without its softmax: the logits, for reference gradients. */
export function logitsModelOf(model: tf.LayersModel): tf.LayersModel {
  const config = model.getConfig() as unknown as { layers: { config: Record<string, unknown> }[] };
  const clone = JSON.parse(JSON.stringify(config));
  const last = clone.layers[clone.layers.length - 1].config;
  if (last.activation === 'softmax') last.activation = 'linear';
  const logits = (model.constructor as unknown as { fromConfig: (c: unknown, cfg: unknown) => tf.LayersModel }).fromConfig(
    model.constructor, clone);
  logits.setWeights(model.getWeights());
  return logits;
}

/** Reference input gradient of logit c through tfjs's own autodiff (the stock path). */
export function stockInputGradient(logitsModel: tf.LayersModel, x: tf.Tensor, c: number): Float32Array {
  return tf.tidy(() => {
    const n = (logitsModel.outputs[0].shape[1]) as number;
    const seed = seedFor(n, c);
    return tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(logitsModel.apply(xx) as tf.Tensor, seed)))(x);
  }).dataSync() as Float32Array;
}
