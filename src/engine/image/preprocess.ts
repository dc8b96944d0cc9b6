/**
 * Decoded RGBA image -> model input tensor [1, height, width, channels] (float32). A 16-bit image's samples
 * (`data16`) are used at full precision, on the same 0..255 scale as 8-bit ones (so unit gives v/65535).
 *
 * Order of operations: alpha composited over a background (unless the model takes 4 channels) -> channel
 * conversion (1 channel: luminance 0.299R + 0.587G + 0.114B, as PIL's "L" mode, kept as a float) -> bilinear
 * resize (half-pixel centres) when the size differs -> per-channel preprocessing. Every preset is an affine map
 * per channel, so doing it after the resize gives the same result as doing it before.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import type { DecodedImage } from './decode';

export type PresetName = 'raw' | 'unit' | 'symmetric' | 'imagenet' | 'caffe';

/** Custom mean/std are on the [0,1] pixel scale: value = (p/255 - mean) / std, like torchvision's Normalize. */
export type Preprocessing = { preset: PresetName } | { preset: 'custom'; mean: number[]; std: number[] };

export interface ModelInputSpec {
  height: number;
  width: number;
  channels: 1 | 3 | 4;
}

export const PRESET_NAMES: readonly PresetName[] = ['raw', 'unit', 'symmetric', 'imagenet', 'caffe'];

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
/** Caffe means in BGR order, on the 0..255 scale. */
const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68];

const ALLOWED =
  'use one of raw, unit, symmetric, imagenet, caffe, or custom:MEAN;STD (for example custom:0.5,0.5,0.5;0.25,0.25,0.25)';

/** Parses a preprocessing setting such as "imagenet" or "custom:0.5,0.5,0.5;0.25,0.25,0.25". */
export function parsePreprocessing(spec: string): Preprocessing {
  const s = spec.trim();
  const lower = s.toLowerCase();
  if ((PRESET_NAMES as readonly string[]).includes(lower)) return { preset: lower as PresetName };
  if (lower.startsWith('custom:')) {
    const body = s.slice('custom:'.length);
    const parts = body.split(';');
    if (parts.length !== 2) {
      throw new UserError(`Preprocessing "${spec}" needs a mean and a std separated by ";"; ${ALLOWED}.`);
    }
    const mean = parseNumbers(parts[0], 'mean', spec);
    const std = parseNumbers(parts[1], 'std', spec);
    if (std.some((v) => v <= 0)) throw new UserError(`Preprocessing "${spec}": every std value must be greater than 0.`);
    return { preset: 'custom', mean, std };
  }
  throw new UserError(`Unknown preprocessing "${spec}"; ${ALLOWED}.`);
}

function parseNumbers(text: string, what: string, spec: string): number[] {
  const items = text.split(',').map((t) => t.trim());
  const values = items.map((t) => (t === '' ? NaN : Number(t)));
  if (values.some((v) => !Number.isFinite(v))) {
    throw new UserError(`Preprocessing "${spec}": the ${what} must be comma-separated numbers; ${ALLOWED}.`);
  }
  if (![1, 3, 4].includes(values.length)) {
    throw new UserError(`Preprocessing "${spec}": the ${what} needs 1, 3 or 4 values, not ${values.length}.`);
  }
  return values;
}

/** One line for logs and the UI, e.g. "imagenet (mean/std)". */
export function describePreprocessing(p: Preprocessing): string {
  switch (p.preset) {
    case 'raw':
      return 'raw (0..255)';
    case 'unit':
      return 'unit (0..1)';
    case 'symmetric':
      return 'symmetric (-1..1)';
    case 'imagenet':
      return 'imagenet (mean/std)';
    case 'caffe':
      return 'caffe (BGR, mean subtracted, 0..255)';
    case 'custom':
      return `custom (mean ${p.mean.join(',')}; std ${p.std.join(',')})`;
  }
}

/**
 * Per-channel affine map value = p * scale[c] + offset[c] (p on 0..255), for the channel order the model sees,
 * and whether channels are RGB->BGR swapped first.
 * Stats given for RGB apply to 1 channel as their mean; a 4th (alpha) channel gets the preset's plain scaling.
 */
function affine(p: Preprocessing, channels: 1 | 3 | 4): { scale: number[]; offset: number[]; bgr: boolean } {
  const fill = (v: number) => new Array<number>(channels).fill(v);
  switch (p.preset) {
    case 'raw':
      return { scale: fill(1), offset: fill(0), bgr: false };
    case 'unit':
      return { scale: fill(1 / 255), offset: fill(0), bgr: false };
    case 'symmetric':
      return { scale: fill(1 / 127.5), offset: fill(-1), bgr: false };
    case 'imagenet':
      return meanStd(expandRgbStats(IMAGENET_MEAN, channels, 0), expandRgbStats(IMAGENET_STD, channels, 1));
    case 'caffe': {
      const mean = expandRgbStats(CAFFE_MEAN_BGR, channels, 0);
      return { scale: fill(1), offset: mean.map((m) => -m), bgr: channels !== 1 };
    }
    case 'custom': {
      const mean = customStats(p.mean, channels, 'mean', 0);
      const std = customStats(p.std, channels, 'std', 1);
      return meanStd(mean, std);
    }
  }
}

function meanStd(mean: number[], std: number[]): { scale: number[]; offset: number[]; bgr: boolean } {
  return { scale: std.map((s) => 1 / (255 * s)), offset: mean.map((m, i) => -m / std[i]), bgr: false };
}

function average(v: number[]): number {
  return v.reduce((a, b) => a + b, 0) / v.length;
}

/** Three per-colour values -> values for 1 (their mean), 3, or 4 channels (alpha gets `alphaValue`). */
function expandRgbStats(rgb: number[], channels: 1 | 3 | 4, alphaValue: number): number[] {
  if (channels === 1) return [average(rgb)];
  if (channels === 3) return rgb.slice();
  return [...rgb, alphaValue];
}

function customStats(values: number[], channels: 1 | 3 | 4, what: string, alphaValue: number): number[] {
  if (values.length === 1) return new Array<number>(channels).fill(values[0]);
  if (values.length === channels) return values.slice();
  if (values.length === 3) return expandRgbStats(values, channels, alphaValue);
  throw new UserError(
    `Custom preprocessing gives ${values.length} ${what} values but the model takes ${channels} channel${channels === 1 ? '' : 's'}; give 1 or ${channels}.`,
  );
}

/**
 * Converts a decoded image to the model's input: float32 [1, spec.height, spec.width, spec.channels].
 * `background` (RGB, 0..255, default white) shows through transparent pixels unless the model takes 4 channels.
 */
export function imageToTensor(
  img: DecodedImage,
  spec: ModelInputSpec,
  prep: Preprocessing,
  background: [number, number, number] = [255, 255, 255],
): tf.Tensor4D {
  const { width: w, height: h } = img;
  // A 16-bit file's own samples when it has them (full precision), else the 8-bit ones.
  const data = img.data16 ?? img.data;
  const c = spec.channels;
  if (![1, 3, 4].includes(c)) throw new UserError(`The model takes ${String(c)} channels; only 1, 3 or 4 are supported.`);
  if (!(spec.height > 0 && spec.width > 0)) throw new UserError(`The model input size ${spec.height}×${spec.width} is not valid.`);
  if (data.length !== w * h * 4) throw new Error(`imageToTensor: ${data.length} samples for a ${w}×${h} RGBA image`);
  const { scale, offset, bgr } = affine(prep, c);
  // The presets are written for 0..255: 16-bit samples are brought onto that scale (v·255/65535, not rounded).
  const full = img.data16 ? 65535 : 255;
  const unit = 255 / full;

  // Composite and convert channels on the CPU (one pass, exact), still on the 0..255 scale.
  const n = w * h;
  const values = new Float32Array(n * c);
  const [bgR, bgG, bgB] = background;
  for (let i = 0, o = 0; i < n * 4; i += 4, o += c) {
    let r = data[i] * unit;
    let g = data[i + 1] * unit;
    let b = data[i + 2] * unit;
    const a = data[i + 3];
    if (c === 4) {
      values[o] = bgr ? b : r;
      values[o + 1] = g;
      values[o + 2] = bgr ? r : b;
      values[o + 3] = a * unit;
      continue;
    }
    if (a !== full) {
      const t = a / full;
      r = r * t + bgR * (1 - t);
      g = g * t + bgG * (1 - t);
      b = b * t + bgB * (1 - t);
    }
    if (c === 1) {
      values[o] = 0.299 * r + 0.587 * g + 0.114 * b;
    } else {
      values[o] = bgr ? b : r;
      values[o + 1] = g;
      values[o + 2] = bgr ? r : b;
    }
  }

  return tf.tidy(() => {
    let x: tf.Tensor4D = tf.tensor4d(values, [1, h, w, c], 'float32');
    if (h !== spec.height || w !== spec.width) {
      x = tf.image.resizeBilinear(x, [spec.height, spec.width], false, true);
    }
    return tf.add(tf.mul(x, tf.tensor1d(scale, 'float32')), tf.tensor1d(offset, 'float32')) as tf.Tensor4D;
  });
}
