/**
 * The affine presets (raw, unit, symmetric, imagenet, caffe, custom:MEAN;STD): their names, parsing and one-line
 * descriptions. They are the last step of every pipeline (pipeline/spec.ts); alone they mean the engine's historic
 * conversion, a half-pixel bilinear stretch of the composited image to the model's input (`imageToTensor`).
 * Every preset is an affine map per channel, so doing it after the resize gives the same result as before it.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import { AFFINE_PRESETS } from '../../shared/protocol';
import type { DecodedImage } from './decode';
import { runPipeline } from './pipeline/run';
import { stretchPipeline } from './pipeline/spec';

export type PresetName = (typeof AFFINE_PRESETS)[number];

/**
 * Custom mean/std are on the [0,1] pixel scale: value = (p/255 - mean) / std, like torchvision's Normalize; `scale`
 * replaces the 1/255 where a framework states another (a HuggingFace `rescale_factor`, or 1 without rescaling).
 */
export type Preprocessing = { preset: PresetName } | { preset: 'custom'; mean: number[]; std: number[]; scale?: number };

export interface ModelInputSpec {
  height: number;
  width: number;
  channels: 1 | 3 | 4;
}

export const PRESET_NAMES: readonly PresetName[] = AFFINE_PRESETS;

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
    case 'custom': {
      const scale = p.scale === undefined || p.scale === 1 / 255 ? '' : `; scale ${p.scale}`;
      return `custom (mean ${p.mean.join(',')}; std ${p.std.join(',')}${scale})`;
    }
  }
}

/**
 * The historic conversion (a half-pixel bilinear stretch to the model's input, then `prep`): float32
 * [1, spec.height, spec.width, spec.channels]. Transparent pixels show white unless the model takes 4 channels.
 */
export function imageToTensor(img: DecodedImage, spec: ModelInputSpec, prep: Preprocessing, background?: [number, number, number]): tf.Tensor4D {
  const { values } = runPipeline(img, { ...stretchPipeline(prep, prep.preset), background }, spec);
  return tf.tensor4d(values, [1, spec.height, spec.width, spec.channels], 'float32');
}
