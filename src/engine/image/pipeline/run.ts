/**
 * Runs a pipeline on a decoded image: the model's input values (NHWC, float32) and where they lie on the image.
 *
 * Every step runs here on the CPU, in the frameworks' own arithmetic: PIL's integer resampling for PIL-based
 * pipelines (pilResample.ts), tfjs's cpu kernels' formulas for the TF grids (tfResize.ts). Neither tf ops (whose
 * backends differ around 1e-3) nor sharp (up to 2/255 off PIL) could reproduce them. Only the window the model
 * sees is resampled: each output pixel has its own weights, so the numbers are those of the full resize.
 */
import { UserError } from '../../errors';
import type { DecodedImage } from '../decode';
import type { ModelInputSpec } from '../preprocess';
import { affine } from './affine';
import { bindPipeline, type BoundPipeline } from './geometry';
import { pilResize } from './pilResample';
import type { Plane, Window } from './plane';
import type { PipelineSpec } from './spec';
import { tfResize } from './tfResize';

export interface PreparedInput {
  /** [height · width · channels], row-major, channels last. */
  values: Float32Array;
  geometry: BoundPipeline;
}

/** White shows through transparent pixels in `composite` mode (the engine's historic background). */
const WHITE: [number, number, number] = [255, 255, 255];

export function runPipeline(img: DecodedImage, spec: PipelineSpec, input: ModelInputSpec): PreparedInput {
  const c = input.channels;
  if (![1, 3, 4].includes(c)) throw new UserError(`The model takes ${String(c)} channels; only 1, 3 or 4 are supported.`);
  if (!(input.height > 0 && input.width > 0)) throw new UserError(`The model input size ${input.height}×${input.width} is not valid.`);
  const geometry = bindPipeline(spec, input, img);
  const plane = channelPlane(img, c, spec);
  const resized = resizeWindow(plane, spec, geometry);
  const values = applyAffine(resized, spec, geometry, input);
  return { values, geometry };
}

/** The image as `channels` interleaved channels on the 0..255 scale: bytes where PIL's 8-bit arithmetic applies. */
function channelPlane(img: DecodedImage, channels: 1 | 3 | 4, spec: PipelineSpec): Plane {
  const { width, height } = img;
  const mode = spec.channels;
  const n = width * height;
  if ((img.data16 ?? img.data).length !== n * 4) throw new Error(`runPipeline: ${(img.data16 ?? img.data).length} samples for a ${width}×${height} RGBA image`);
  if (mode === 'pil' && spec.resize.arithmetic === 'pil-uint8' && !img.data16) return { data: pilChannels(img.data, n, channels), width, height, channels };
  // An opaque 8-bit RGB image composites to its own bytes: kept as bytes (a quarter of the memory of floats, and
  // the float resamplers read them as the same numbers). PIL's 8-bit arithmetic is only for PIL-based pipelines.
  if (mode === 'composite' && channels === 3 && !img.data16 && spec.resize.arithmetic === 'float' && opaque(img.data)) {
    return { data: pilChannels(img.data, n, 3), width, height, channels };
  }
  // A 16-bit file's own samples at full precision, brought onto the 0..255 scale (v·255/65535, not rounded).
  const data = img.data16 ?? img.data;
  const full = img.data16 ? 65535 : 255;
  const unit = 255 / full;
  const out = new Float32Array(n * channels);
  const [bgR, bgG, bgB] = spec.background ?? WHITE;
  for (let i = 0, o = 0; i < n * 4; i += 4, o += channels) {
    let r = data[i] * unit;
    let g = data[i + 1] * unit;
    let b = data[i + 2] * unit;
    const a = data[i + 3];
    if (channels === 4) {
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
      out[o + 3] = a * unit;
      continue;
    }
    // PIL's convert('RGB') drops alpha; the historic mode blends it over white.
    if (mode === 'composite' && a !== full) {
      const t = a / full;
      r = r * t + bgR * (1 - t);
      g = g * t + bgG * (1 - t);
      b = b * t + bgB * (1 - t);
    }
    if (channels === 1) {
      out[o] = 0.299 * r + 0.587 * g + 0.114 * b;
    } else {
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
    }
  }
  return { data: out, width, height, channels };
}

function opaque(rgba: Uint8Array): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return false;
  return true;
}

/** PIL's convert('RGB' | 'L' | 'RGBA') of 8-bit RGBA: alpha dropped, grey by PIL's integer luma (ITU-R 601-2). */
function pilChannels(rgba: Uint8Array, n: number, channels: 1 | 3 | 4): Uint8Array {
  if (channels === 4) return rgba.slice(0, n * 4);
  const out = new Uint8Array(n * channels);
  for (let i = 0, o = 0; i < n * 4; i += 4, o += channels) {
    if (channels === 1) {
      // Pillow Convert.c: L = (R·19595 + G·38470 + B·7471 + 0x8000) >> 16.
      out[o] = (rgba[i] * 19595 + rgba[i + 1] * 38470 + rgba[i + 2] * 7471 + 0x8000) >> 16;
    } else {
      out[o] = rgba[i];
      out[o + 1] = rgba[i + 1];
      out[o + 2] = rgba[i + 2];
    }
  }
  return out;
}

/** The part of the resized image inside the input window (clipped to the resized image), resampled. */
function resizeWindow(plane: Plane, spec: PipelineSpec, g: BoundPipeline): { plane: Plane; left: number; top: number } {
  const { resized, window } = g;
  const left = Math.max(0, window.left);
  const top = Math.max(0, window.top);
  const win: Window = {
    left,
    top,
    width: Math.min(resized.width, window.left + window.width) - left,
    height: Math.min(resized.height, window.top + window.height) - top,
  };
  const { resize } = spec;
  if (resized.width === plane.width && resized.height === plane.height) return { plane: cut(plane, win), left, top };
  // Bytes take PIL's integer arithmetic in pilResize: a float pipeline hands it floats.
  const pilInput = resize.arithmetic === 'float' && plane.data instanceof Uint8Array ? { ...plane, data: Float32Array.from(plane.data) } : plane;
  const out = resize.antialias || resize.arithmetic === 'pil-uint8'
    ? pilResize(pilInput, resized.width, resized.height, resize.interpolation, win)
    : tfResize(plane, resized.width, resized.height, resize.interpolation as 'bilinear' | 'nearest', resize.convention, win);
  return { plane: out, left, top };
}

function cut(p: Plane, w: Window): Plane {
  if (w.left === 0 && w.top === 0 && w.width === p.width && w.height === p.height) return p;
  const c = p.channels;
  const data = p.data instanceof Uint8Array ? new Uint8Array(w.width * w.height * c) : new Float32Array(w.width * w.height * c);
  for (let y = 0; y < w.height; y++) {
    const from = ((w.top + y) * p.width + w.left) * c;
    data.set(p.data.subarray(from, from + w.width * c), y * w.width * c);
  }
  return { data, width: w.width, height: w.height, channels: c };
}

/**
 * The input grid: the resampled window at its place, the rest filled (black where a crop is larger than the
 * image, as torchvision and HuggingFace pad; the letterbox's colour), then value = p·scale + offset per channel in
 * float32 as the historic presets computed it (tf.mul then tf.add), with BGR models' channels swapped.
 */
function applyAffine(r: { plane: Plane; left: number; top: number }, spec: PipelineSpec, g: BoundPipeline, input: ModelInputSpec): Float32Array {
  const c = input.channels;
  const { scale, offset, bgr } = affine(spec.affine, c);
  const f32 = Math.fround;
  const sc = scale.map(f32);
  const of = offset.map(f32);
  const fill = fillValues(spec, c);
  const { width: W, height: H } = input;
  const out = new Float32Array(W * H * c);
  const src = r.plane;
  const x0 = r.left - g.window.left;
  const y0 = r.top - g.window.top;
  for (let y = 0; y < H; y++) {
    const sy = y - y0;
    const rowInside = sy >= 0 && sy < src.height;
    for (let x = 0; x < W; x++) {
      const sx = x - x0;
      const inside = rowInside && sx >= 0 && sx < src.width;
      const from = (sy * src.width + sx) * c;
      const o = (y * W + x) * c;
      for (let k = 0; k < c; k++) {
        // BGR: output channel 0 reads blue (2), 2 reads red (0); grey and alpha stay.
        const read = bgr && c >= 3 && k !== 1 && k !== 3 ? 2 - k : k;
        const p = inside ? src.data[from + read] : fill[read];
        out[o + k] = f32(f32(p * sc[k]) + of[k]);
      }
    }
  }
  return out;
}

function fillValues(spec: PipelineSpec, c: number): number[] {
  const rgb = spec.crop.kind === 'letterbox' ? spec.crop.fill : [0, 0, 0];
  if (c === 1) return [0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]];
  return c === 4 ? [...rgb, 255] : [...rgb];
}
