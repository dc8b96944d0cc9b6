/**
 * The per-channel affine of a preset: value = p·scale[c] + offset[c] with p on 0..255, for the channel order the
 * model sees, and whether RGB is swapped to BGR first (caffe).
 */
import { UserError } from '../../errors';
import type { Preprocessing } from '../preprocess';

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
/** Caffe means in BGR order, on the 0..255 scale. */
const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68];

/**
 * Per-channel affine map value = p * scale[c] + offset[c] (p on 0..255), for the channel order the model sees,
 * and whether channels are RGB->BGR swapped first.
 * Stats given for RGB apply to 1 channel as their mean; a 4th (alpha) channel gets the preset's plain scaling.
 */
export function affine(p: Preprocessing, channels: 1 | 3 | 4): { scale: number[]; offset: number[]; bgr: boolean } {
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
      return meanStd(mean, std, p.scale);
    }
  }
}

function meanStd(mean: number[], std: number[], pixelScale = 1 / 255): { scale: number[]; offset: number[]; bgr: boolean } {
  // 1/(255·s) written so for the default scale, as every preset has always computed it.
  const scale = pixelScale === 1 / 255 ? std.map((s) => 1 / (255 * s)) : std.map((s) => pixelScale / s);
  return { scale, offset: mean.map((m, i) => -m / std[i]), bgr: false };
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

