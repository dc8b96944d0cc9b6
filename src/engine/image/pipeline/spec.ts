/**
 * A preprocessing pipeline as data: how an image file becomes the model's input tensor. Every framework's eval
 * transform is one value of this type (presets.ts); the runner (run.ts) and the geometry (geometry.ts) read it.
 *
 * Order, as every framework does it: channels (alpha, grey) -> resize -> centre crop or letterbox -> affine
 * (channel order, scale, mean, std). Pixel values are on the 0..255 scale until the affine.
 */
import type { Preprocessing } from '../preprocess';

/** `area` is PIL's BOX filter (HF resample 4), `hamming` PIL's HAMMING (HF resample 5). */
export type Interpolation = 'nearest' | 'bilinear' | 'bicubic' | 'area' | 'lanczos' | 'hamming';
export const INTERPOLATIONS: readonly Interpolation[] = ['nearest', 'bilinear', 'bicubic', 'area', 'lanczos', 'hamming'];

/**
 * Where output pixel i samples the source (x = scale = in/out): half-pixel `(i+0.5)·x−0.5` (PIL, torch
 * align_corners=False, TF2, OpenCV), align-corners `i·(in−1)/(out−1)`, legacy-tf `i·x` (TF1 and tfjs's
 * `resizeBilinear` defaults: top-left aligned).
 */
export type PixelConvention = 'half-pixel' | 'align-corners' | 'legacy-tf';
export const PIXEL_CONVENTIONS: readonly PixelConvention[] = ['half-pixel', 'align-corners', 'legacy-tf'];

export type ResizeEdge = 'both' | 'shorter' | 'longer';

export interface ResizeStep {
  /** `both`: stretch to [height, width]; `shorter`/`longer`: that edge to `size`, the aspect ratio kept. */
  edge: ResizeEdge;
  /**
   * Pixels; for `both` [height, width] or one number for a square. Absent: bound from the model's input (divided
   * by the crop's fraction when there is one, floored as timm does).
   */
  size?: number | [number, number];
  interpolation: Interpolation;
  /** PIL-style kernel widening when downscaling (torchvision on PIL images, HF, timm); implies half-pixel. */
  antialias: boolean;
  /** Sample positions when antialias is off. */
  convention: PixelConvention;
  /**
   * `pil-uint8`: PIL's integer arithmetic (22-bit weights, each pass rounded to 8 bits) on 8-bit images, so
   * PIL-based pipelines are reproduced bit for bit; `float`: the same kernels in float (tf, torch tensors).
   */
  arithmetic: 'pil-uint8' | 'float';
  /** torchvision's `max_size`: the longer edge is capped at this after a `shorter` resize. */
  maxSize?: number;
}

/** How the resized image becomes the model's input size. */
export type CropStep =
  | { kind: 'none' }
  /**
   * A centre crop of the model's input size (`size` [height, width], where a config states one, must equal it:
   * nothing is resized after the crop); the offset `(resized − crop)/2` rounds half to even (torchvision,
   * timm) or down (HuggingFace). A resized image smaller than the crop is padded with black first.
   */
  | { kind: 'center'; fraction?: number; offset: 'half-even' | 'floor'; size?: [number, number] }
  /** The whole image fitted inside the input (longer edge), the rest filled with `fill` (0..255 per RGB channel). */
  | { kind: 'letterbox'; fill: [number, number, number] };

/**
 * Channels before the resize: `composite` blends transparent pixels over white and makes grey as
 * 0.299R+0.587G+0.114B in float (the engine's historic behaviour); `pil` drops alpha and makes grey with PIL's
 * integer "L" formula, as `Image.convert('RGB' | 'L')` does before every PIL-based pipeline.
 */
export type ChannelMode = 'composite' | 'pil';

export interface PipelineSpec {
  /** Short name for messages: "torchvision", "timm (crop 0.95)", "imagenet". */
  name: string;
  /** Where the numbers come from, e.g. "torchvision 0.14 transforms: Resize(256), CenterCrop(224)". */
  source?: string;
  channels: ChannelMode;
  /** What transparent pixels are blended over in `composite` mode (0..255 RGB); default white. */
  background?: [number, number, number];
  resize: ResizeStep;
  crop: CropStep;
  /** The per-channel affine after the resize (today's presets: raw, unit, symmetric, imagenet, caffe, custom). */
  affine: Preprocessing;
}

/** The engine's historic pipeline with an affine preset: a half-pixel bilinear stretch in float, no crop. */
export function stretchPipeline(affine: Preprocessing, name: string): PipelineSpec {
  return {
    name,
    channels: 'composite',
    resize: { edge: 'both', interpolation: 'bilinear', antialias: false, convention: 'half-pixel', arithmetic: 'float' },
    crop: { kind: 'none' },
    affine,
  };
}

