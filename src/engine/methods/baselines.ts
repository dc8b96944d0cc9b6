/**
 * Baseline inputs: what a "removed" pixel becomes, for Integrated Gradients' path start and the
 * perturbation methods' replaced regions. Every baseline is an *image* first (black pixels, a colour,
 * noise, a blurred or mean copy of the image) and then goes through the model's own preprocessing, so
 * "black" is a black picture even where preprocessing maps pixel 0 to something other than 0 (ImageNet
 * mean/std, symmetric, Caffe).
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import type { DecodedImage } from '../image/decode';
import { imageToTensor, Preprocessing } from '../image/preprocess';
import { seededUniform } from './random';

export type BaselineKind = 'black' | 'blur' | 'noise' | 'color' | 'mean';

export const BASELINE_KINDS: readonly BaselineKind[] = ['black', 'blur', 'noise', 'color', 'mean'];

/** The image an input encodes (a flat input is this image flattened, pixel by pixel, channels last). */
export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

export interface BaselineOptions {
  /** How image pixels become model inputs; without it, the engine's default 'unit' (p / 255). */
  preprocessing?: Preprocessing;
  /** 'color': the colour as #rrggbb (default black). */
  color?: string;
  /** 'noise': the seed of the uniform noise. */
  seed?: number;
}

/**
 * The blur's Gaussian σ as a fraction of the image's shorter side: 0.05 is σ ≈ 11 px at 224², close to
 * the strongest blur of Fong & Vedaldi 2017 ("Meaningful Perturbations", σ = 10 at 224²), which removes
 * object detail but keeps colours and coarse layout.
 */
export const BLUR_SIGMA_FRACTION = 0.05;

/**
 * A baseline for input x [1, ...inputShape] (preprocessed), shaped like x; the caller disposes it.
 * - black: black pixels (opaque), preprocessed.
 * - color: every pixel the colour (#rrggbb), preprocessed.
 * - noise: every pixel value uniform on 0..255 (seeded, alpha opaque), preprocessed.
 * - blur: x blurred with a Gaussian of σ = BLUR_SIGMA_FRACTION · the shorter side.
 * - mean: every pixel the image's per-channel mean.
 * Blur and mean work on x directly: every preprocessing is a per-channel affine map and both are
 * averages with weights that sum to 1, so they commute with it.
 */
export function baselineFor(kind: BaselineKind, x: tf.Tensor, image: ImageShape, opts: BaselineOptions = {}): tf.Tensor {
  const { height: h, width: w, channels: c } = image;
  if (x.size !== h * w * c) throw new Error(`baselineFor: an input of ${x.size} values is not a ${h}×${w}×${c} image`);
  const prep = opts.preprocessing ?? { preset: 'unit' };
  return tf.tidy(() => {
    const img = tf.reshape(x, [1, h, w, c]) as tf.Tensor4D;
    let out: tf.Tensor;
    switch (kind) {
      case 'black':
        out = tf.broadcastTo(pixelInput([0, 0, 0], c, prep), [1, h, w, c]);
        break;
      case 'color':
        out = tf.broadcastTo(pixelInput(parseColor(opts.color ?? '#000000'), c, prep), [1, h, w, c]);
        break;
      case 'noise':
        out = uniformNoiseInput(h, w, c, prep, opts.seed ?? 0);
        break;
      case 'blur':
        out = gaussianBlur(img, BLUR_SIGMA_FRACTION * Math.min(h, w));
        break;
      case 'mean':
        out = tf.broadcastTo(tf.mean(img, [1, 2], true), [1, h, w, c]);
        break;
      default:
        throw new UserError(`unknown baseline "${String(kind)}"; baselines: ${BASELINE_KINDS.join(', ')}`);
    }
    return tf.reshape(out, x.shape);
  });
}

/** #rrggbb → [r, g, b] on 0..255. */
function parseColor(color: string): [number, number, number] {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (!m) throw new UserError(`a baseline colour is written #rrggbb, not "${color}"`);
  return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
}

/** One opaque pixel through the model's preprocessing (channel conversion included): [c] values. */
function pixelInput(rgb: [number, number, number], channels: number, prep: Preprocessing): tf.Tensor1D {
  const pixel: DecodedImage = { width: 1, height: 1, data: new Uint8Array([...rgb, 255]), format: 'png' };
  return tf.reshape(imageToTensor(pixel, { height: 1, width: 1, channels: channels as 1 | 3 | 4 }, prep), [channels]);
}

/**
 * Uniform pixel values on [0, 255) per colour channel (alpha opaque), through the preprocessing. The
 * preprocessing is affine per channel, so it is read off a black and a white pixel instead of decoding
 * a noise image (a grayscale model thus sees uniform luminance).
 */
function uniformNoiseInput(h: number, w: number, c: number, prep: Preprocessing, seed: number): tf.Tensor {
  const offset = pixelInput([0, 0, 0], c, prep);
  const scale = tf.div(tf.sub(pixelInput([255, 255, 255], c, prep), offset), 255);
  const rand = seededUniform(seed);
  const values = new Float32Array(h * w * c);
  for (let i = 0; i < values.length; i++) values[i] = c === 4 && i % 4 === 3 ? 255 : 255 * rand();
  return tf.add(tf.mul(tf.tensor4d(values, [1, h, w, c]), scale), offset);
}

/**
 * Separable Gaussian blur of [1, H, W, C], kernel cut at 3σ and normalized, edges mirrored (symmetric
 * padding keeps each output a weighted mean of image values, so a flat image stays flat).
 */
function gaussianBlur(img: tf.Tensor4D, sigma: number): tf.Tensor4D {
  const [, h, w, c] = img.shape;
  const radius = Math.min(Math.ceil(3 * sigma), h, w);
  if (!(sigma > 0) || radius < 1) return img.clone();
  const taps = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const total = taps.reduce((a, b) => a + b, 0);
  const kernel = taps.map((t) => t / total);
  // Depthwise: the same 1-D kernel for each channel, once down the rows and once along them.
  const perChannel = kernel.flatMap((k) => new Array<number>(c).fill(k));
  const vertical = tf.tensor4d(perChannel, [kernel.length, 1, c, 1]);
  const horizontal = tf.tensor4d(perChannel, [1, kernel.length, c, 1]);
  const padded = tf.mirrorPad(img, [[0, 0], [radius, radius], [radius, radius], [0, 0]], 'symmetric');
  return tf.depthwiseConv2d(tf.depthwiseConv2d(padded, vertical, 1, 'valid'), horizontal, 1, 'valid');
}
