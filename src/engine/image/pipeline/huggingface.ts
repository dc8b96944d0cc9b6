/**
 * A HuggingFace image processor's `preprocessor_config.json` read as a PipelineSpec.
 *
 * The meaning of every key is that of transformers' slow (PIL) processors, checked in its source:
 * image_processing_utils.py (`get_size_dict`, `convert_to_size_dict`: an int `size` is a square when the class
 * defaults to square, else the shorter edge; an int `crop_size` is always a square), image_transforms.py
 * (`get_resize_output_image_size`: shorter edge to s, longer `int(s·long/short)`; `resize`: PIL `Image.resize`
 * on uint8; `center_crop`: offset `(h−ch)//2`, zero-padded when smaller) and each class's
 * models/<name>/image_processing_<name>.py for its defaults. The file is untrusted: every value is checked, and
 * anything that would change the tensor in a way a PipelineSpec cannot say is refused in one sentence.
 */
import * as fs from 'node:fs';
import { fileError, firstLine } from '../../errors';
import type { PipelineSpec, ResizeStep, CropStep, Interpolation } from './spec';

/** The file HuggingFace writes beside a model. */
export const HF_PREPROCESSOR_FILE = 'preprocessor_config.json';

/** Real configs are under 2 KB; anything near this is not one. */
const MAX_CONFIG_BYTES = 1024 * 1024;
/** Largest edge accepted for `size` and `crop_size`. */
const MAX_EDGE = 8192;

/** image_utils.py: IMAGENET_STANDARD_MEAN/STD, OPENAI_CLIP_MEAN/STD. */
const IMAGENET_STANDARD = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const OPENAI_CLIP = { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] };

/** PILImageResampling codes (image_utils.py) in the order PIL numbers them. */
const RESAMPLE: readonly Interpolation[] = ['nearest', 'lanczos', 'bilinear', 'bicubic', 'area', 'hamming'];
const RESAMPLE_NAMES = ['NEAREST', 'LANCZOS', 'BILINEAR', 'BICUBIC', 'BOX', 'HAMMING'];

type SizeDict = { height: number; width: number } | { shortest_edge: number };

/** What a known processor class does when a key is absent, and which `size` forms its `resize` takes. */
interface ProcessorClass {
  /** transformers file the defaults come from. */
  file: string;
  defaultToSquare: boolean;
  resample: number;
  size: SizeDict;
  doCenterCrop: boolean;
  cropSize: [number, number];
  mean: number[];
  std: number[];
  /** The `size` forms its `resize` accepts (ViT, DeiT and BEiT raise on anything but height/width). */
  sizeForms: ReadonlyArray<'height_width' | 'shortest_edge'>;
}

const KNOWN: Record<string, ProcessorClass> = {
  ViTImageProcessor: {
    file: 'models/vit/image_processing_vit.py',
    defaultToSquare: true, resample: 2, size: { height: 224, width: 224 },
    doCenterCrop: false, cropSize: [224, 224], ...IMAGENET_STANDARD, sizeForms: ['height_width'],
  },
  DeiTImageProcessor: {
    file: 'models/deit/image_processing_deit.py',
    defaultToSquare: true, resample: 3, size: { height: 256, width: 256 },
    doCenterCrop: true, cropSize: [224, 224], ...IMAGENET_STANDARD, sizeForms: ['height_width'],
  },
  BeitImageProcessor: {
    file: 'models/beit/image_processing_beit.py',
    defaultToSquare: true, resample: 3, size: { height: 256, width: 256 },
    doCenterCrop: true, cropSize: [224, 224], ...IMAGENET_STANDARD, sizeForms: ['height_width'],
  },
  CLIPImageProcessor: {
    file: 'models/clip/image_processing_clip.py',
    defaultToSquare: false, resample: 3, size: { shortest_edge: 224 },
    doCenterCrop: true, cropSize: [224, 224], ...OPENAI_CLIP, sizeForms: ['shortest_edge', 'height_width'],
  },
  // Also microsoft/resnet-50 and the other ConvNext-processed models. Its crop comes from crop_pct, not do_center_crop.
  ConvNextImageProcessor: {
    file: 'models/convnext/image_processing_convnext.py',
    defaultToSquare: false, resample: 3, size: { shortest_edge: 384 },
    doCenterCrop: false, cropSize: [224, 224], ...IMAGENET_STANDARD, sizeForms: ['shortest_edge'],
  },
};

/** Keys that never change pixel_values: bookkeeping, label maps for segmentation, output layout. */
const HARMLESS = new Set([
  'processor_class', '_processor_class', 'image_processor_type', 'feature_extractor_type', 'auto_map', 'use_fast',
  'backend', 'model_input_names', 'do_reduce_labels', 'reduce_labels', 'data_format', 'input_data_format',
  'return_tensors', 'device', 'disable_grouping',
]);
/** Keys read below. */
const READ = new Set([
  'do_resize', 'size', 'resample', 'do_center_crop', 'crop_size', 'crop_pct', 'do_rescale', 'rescale_factor',
  'do_normalize', 'image_mean', 'image_std', 'do_convert_rgb', 'use_square_size', 'default_to_square',
]);

/** Reads `file` (untrusted JSON: size-capped read, every field type-checked) into a pipeline. */
export function readHuggingFacePipeline(file: string): PipelineSpec {
  return huggingFacePipeline(parseJson(readCapped(file), file), file);
}

/** Same from parsed JSON. `file` only names it in messages. */
export function huggingFacePipeline(config: unknown, file: string): PipelineSpec {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw fileError(file, 'is not a JSON object of image processor settings');
  }
  const c = config as Record<string, unknown>;
  const fail = (problem: string) => fileError(file, problem);
  const { typeName, known, note } = processorType(c, fail);
  rejectUnreadKeys(c, typeName, known, fail);

  // Booleans: absent or null -> the class's default (`x if x is not None else self.x` in every preprocess).
  const flag = (key: string, fallback: boolean | undefined): boolean => {
    const v = c[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) throw fail(`has no "${key}", and ${typeName} is not a processor Saliency Lens knows, so its default is unknown; add "${key}": true or false`);
      return fallback;
    }
    if (typeof v !== 'boolean') throw fail(`has "${key}": ${show(v)}; expected true or false`);
    return v;
  };

  if (!flag('do_resize', known ? true : undefined)) {
    throw fail(`has "do_resize": false, so images would reach the model at their own size; Saliency Lens needs a resize to the model's input size`);
  }
  const defaultToSquare = squareRule(c, typeName, known, fail);
  const resample = resampleOf(c, known, fail);
  const size = sizeOf(c, typeName, known, defaultToSquare, fail);

  // Checked even when the crop is off, so a malformed value never passes unseen.
  const cropSize = c.crop_size !== undefined && c.crop_size !== null ? cropSizeOf(c, known, fail) : undefined;
  let resize: ResizeStep;
  let crop: CropStep = { kind: 'none' };
  const described: string[] = [];
  const step = (edge: ResizeStep['edge'], sz: ResizeStep['size']): ResizeStep => ({
    edge, size: sz, interpolation: RESAMPLE[resample], antialias: true, convention: 'half-pixel', arithmetic: 'pil-uint8',
  });
  if (typeName === 'ConvNextImageProcessor') {
    // image_processing_convnext.py `resize`: below 384 the shorter edge goes to int(s/crop_pct) and a centre crop
    // of s×s follows; from 384 on the image is stretched to s×s ("warping (no cropping)").
    const s = (size as { shortest_edge: number }).shortest_edge;
    const pct = cropPct(c, fail);
    if (s < 384) {
      const shorter = Math.trunc(s / pct);
      resize = step('shorter', shorter);
      crop = { kind: 'center', offset: 'floor', size: [s, s] };
      described.push(`shorter edge to ${shorter} (${s}/crop_pct ${pct})`, `centre crop ${s}×${s}`);
    } else {
      resize = step('both', [s, s]);
      described.push(`stretch to ${s}×${s}`);
    }
    // transformers 4 ignores do_center_crop here and transformers 5 crops again: refuse rather than guess.
    if (flag('do_center_crop', false)) throw fail(`has "do_center_crop": true for ConvNextImageProcessor, which crops through "crop_pct" instead; transformers versions disagree on what it means, so remove it`);
  } else {
    if ('shortest_edge' in size) {
      resize = step('shorter', size.shortest_edge);
      described.push(`shorter edge to ${size.shortest_edge}`);
    } else {
      resize = step('both', [size.height, size.width]);
      described.push(`stretch to ${size.height}×${size.width}`);
    }
    if (flag('do_center_crop', known?.doCenterCrop)) {
      const [ch, cw] = cropSize ?? cropSizeOf(c, known, fail);
      crop = { kind: 'center', offset: 'floor', size: [ch, cw] };
      described.push(`centre crop ${ch}×${cw}`);
    } else {
      described.push('no crop');
    }
  }
  described[0] += ` (${RESAMPLE_NAMES[resample]})`;

  // do_convert_rgb: the runner always makes RGB as PIL's convert('RGB') does (channels 'pil'); a config that turns
  // it off only differs for images that are not RGB already, which the model could not take as they are.
  if (c.do_convert_rgb !== undefined && c.do_convert_rgb !== null && typeof c.do_convert_rgb !== 'boolean') {
    throw fail(`has "do_convert_rgb": ${show(c.do_convert_rgb)}; expected true or false`);
  }

  const affine = affineOf(c, known, flag, fail, described);
  return {
    name: `huggingface (${typeName})`,
    source: `${file}: ${typeName}${note}: ${described.join(', ')}`,
    channels: 'pil',
    resize,
    crop,
    affine,
  };
}

/** The custom affine with the lead's optional `scale`: value = (p·scale − mean)/std, p on 0..255. */
interface ScaledAffine { preset: 'custom'; mean: number[]; std: number[]; scale: number }

function affineOf(
  c: Record<string, unknown>,
  known: ProcessorClass | undefined,
  flag: (key: string, fallback: boolean | undefined) => boolean,
  fail: (p: string) => Error,
  described: string[],
): ScaledAffine {
  // image_transforms.py `rescale` multiplies by rescale_factor, `normalize` then takes (x − mean)/std.
  const f = c.rescale_factor;
  let factor = 1 / 255; // the default of every class and of BaseImageProcessor
  if (f !== undefined && f !== null) {
    // Pixels are 0..255: a factor above 1 makes no image processor's input (and 1e308 overflows to Infinity).
    if (!(typeof f === 'number' && Number.isFinite(f) && f > 0 && f <= 1)) {
      throw fail(`has "rescale_factor": ${show(f)}; expected a number in (0, 1] such as 0.00392156862745098 (1/255)`);
    }
    factor = f;
  }
  const scale = flag('do_rescale', known ? true : undefined) ? factor : 1;
  // Checked even when normalize is off; the defaults are needed only when it is on.
  const givenMean = c.image_mean !== undefined && c.image_mean !== null ? stats(c, 'image_mean', undefined, false, fail) : undefined;
  const givenStd = c.image_std !== undefined && c.image_std !== null ? stats(c, 'image_std', undefined, true, fail) : undefined;
  let mean = [0];
  let std = [1];
  if (flag('do_normalize', known ? true : undefined)) {
    mean = givenMean ?? stats(c, 'image_mean', known?.mean, false, fail);
    std = givenStd ?? stats(c, 'image_std', known?.std, true, fail);
    if (mean.length !== std.length && mean.length !== 1 && std.length !== 1) {
      throw fail(`has ${mean.length} "image_mean" values and ${std.length} "image_std" values; give 1 or 3 of each`);
    }
    described.push(`scale ${scale}, mean ${mean.join(',')}, std ${std.join(',')}`);
  } else {
    described.push(`scale ${scale}, no normalize`);
  }
  return { preset: 'custom', mean, std, scale };
}

function stats(c: Record<string, unknown>, key: string, fallback: number[] | undefined, positive: boolean, fail: (p: string) => Error): number[] {
  const v = c[key];
  if (v === undefined || v === null) {
    if (!fallback) throw fail(`has no "${key}" and its processor type is not one Saliency Lens knows, so the default is unknown; add "${key}": [r, g, b]`);
    return fallback.slice();
  }
  // normalize() takes a float or one value per channel.
  const values = typeof v === 'number' ? [v] : v;
  const ok = Array.isArray(values) && (values.length === 1 || values.length === 3) &&
    values.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
  if (!ok) throw fail(`has "${key}": ${show(v)}; expected 1 or 3 ${positive ? 'positive ' : ''}numbers, one per RGB channel`);
  return (values as number[]).slice();
}

/** image_processor_type wins over the legacy feature_extractor_type, as AutoImageProcessor reads them. */
function processorType(c: Record<string, unknown>, fail: (p: string) => Error): { typeName: string; known?: ProcessorClass; note: string } {
  const key = c.image_processor_type !== undefined && c.image_processor_type !== null ? 'image_processor_type' : 'feature_extractor_type';
  const raw = c[key];
  if (raw === undefined || raw === null) {
    return { typeName: 'BaseImageProcessor', note: ' (the file names no processor type; read with BaseImageProcessor\'s meaning)' };
  }
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 100) throw fail(`has "${key}": ${show(raw)}; expected a class name such as "ViTImageProcessor"`);
  // XFeatureExtractor is the old name of XImageProcessor (a subclass with no changes); the Fast and Pil variants
  // take the same settings. Fast ones compute in float on tensors: the slow processor's PIL arithmetic is used.
  let base = raw.replace(/FeatureExtractor$/, 'ImageProcessor');
  const fast = /ImageProcessorFast$/.test(base);
  base = base.replace(/ImageProcessor(Fast|Pil)$/, 'ImageProcessor');
  const known = Object.prototype.hasOwnProperty.call(KNOWN, base) ? KNOWN[base] : undefined;
  if (!known) {
    return { typeName: raw, note: ' (not a processor Saliency Lens knows; read with BaseImageProcessor\'s meaning, transformers image_processing_utils.py and image_processing_backends.py)' };
  }
  const notes = [`transformers ${known.file}`];
  if (raw !== base) notes.push(fast ? `saved as ${raw}; the slow processor's PIL arithmetic is used` : `saved as ${raw}`);
  return { typeName: base, known, note: ` (${notes.join('; ')})` };
}

/** Any key that is neither read nor known to be harmless must be off (false or null): it may change the tensor. */
function rejectUnreadKeys(c: Record<string, unknown>, typeName: string, known: ProcessorClass | undefined, fail: (p: string) => Error): void {
  for (const [key, value] of Object.entries(c)) {
    if (HARMLESS.has(key)) continue;
    const readHere = READ.has(key) &&
      // crop_pct is ConvNext's; ViT, DeiT, BEiT and CLIP never read it, an unknown class might.
      !(key === 'crop_pct' && typeName !== 'ConvNextImageProcessor' && !known) &&
      !(key === 'use_square_size' && typeName !== 'CLIPImageProcessor');
    if (readHere) continue;
    if (value === false || value === null) continue; // a step that is off
    throw fail(`has "${key}": ${show(value)}, which ${typeName} may apply to the image and Saliency Lens cannot reproduce; remove it or set it to false if the model does not need it`);
  }
}

/**
 * Whether an int `size` means a square: the class's rule (ViT/DeiT/BEiT true, CLIP/ConvNext false,
 * BaseImageProcessor true). A `default_to_square` key that disagrees is refused: transformers 4 ignores it and 5 uses it.
 */
function squareRule(c: Record<string, unknown>, typeName: string, known: ProcessorClass | undefined, fail: (p: string) => Error): boolean {
  const rule = known ? known.defaultToSquare : true;
  const v = c.default_to_square;
  if (v === undefined || v === null) return rule;
  if (typeof v !== 'boolean') throw fail(`has "default_to_square": ${show(v)}; expected true or false`);
  if (known && v !== rule) {
    throw fail(`has "default_to_square": ${v}, but ${typeName} reads an int "size" as ${rule ? 'a square' : 'the shorter edge'}; transformers versions disagree, so remove it`);
  }
  return v;
}

function resampleOf(c: Record<string, unknown>, known: ProcessorClass | undefined, fail: (p: string) => Error): number {
  const v = c.resample;
  // Absent: the class's default; for other classes BaseImageProcessor's resize falls back to BILINEAR.
  if (v === undefined || v === null) return known ? known.resample : 2;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < RESAMPLE.length) return v;
  throw fail(`has "resample": ${show(v)}; expected a PIL resampling code from 0 to 5 (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)`);
}

function edge(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= MAX_EDGE;
}

/** `size` as image_processing_utils.py `get_size_dict` reads it, then restricted to what the class's resize takes. */
function sizeOf(c: Record<string, unknown>, typeName: string, known: ProcessorClass | undefined, square: boolean, fail: (p: string) => Error): SizeDict {
  const v = c.size;
  const bad = (why: string) => fail(`has "size": ${show(v)}; ${why}`);
  let size: SizeDict;
  if (v === undefined || v === null) {
    if (!known) throw fail(`has no "size", and ${typeName} is not a processor Saliency Lens knows, so its default is unknown; add "size": {"height": H, "width": W} or {"shortest_edge": S}`);
    size = { ...known.size };
  } else if (typeof v === 'number') {
    if (!edge(v)) throw bad(`expected a whole number of pixels from 1 to ${MAX_EDGE}`);
    size = square ? { height: v, width: v } : { shortest_edge: v };
  } else if (Array.isArray(v)) {
    // convert_to_size_dict: a tuple or list is (height, width).
    if (v.length !== 2 || !v.every(edge)) throw bad(`a list must be [height, width] in whole pixels`);
    size = { height: v[0] as number, width: v[1] as number };
  } else if (typeof v === 'object') {
    const d = v as Record<string, unknown>;
    const keys = Object.keys(d).sort().join(',');
    if (keys === 'height,width') {
      if (!edge(d.height) || !edge(d.width)) throw bad(`"height" and "width" must be whole numbers of pixels from 1 to ${MAX_EDGE}`);
      size = { height: d.height, width: d.width };
    } else if (keys === 'shortest_edge') {
      if (!edge(d.shortest_edge)) throw bad(`"shortest_edge" must be a whole number of pixels from 1 to ${MAX_EDGE}`);
      size = { shortest_edge: d.shortest_edge };
    } else if (keys === 'longest_edge,shortest_edge') {
      // CLIP (transformers 4) ignores longest_edge; BaseImageProcessor (5) caps with get_size_with_aspect_ratio's
      // rounding, which is not torchvision's max_size. Neither is one ResizeStep.
      throw bad(`"shortest_edge" with "longest_edge" is resized differently by different transformers versions, so Saliency Lens cannot reproduce it`);
    } else if (keys === 'longest_edge') {
      throw bad(`a "longest_edge" alone is not a size these image processors can resize to`);
    } else if (keys === 'max_height,max_width') {
      throw bad(`"max_height"/"max_width" fits each image inside a box and leaves its size free (usually with padding), which a fixed-size classifier input cannot reproduce`);
    } else {
      throw bad(`expected {"height", "width"}, {"shortest_edge"}, a number or [height, width]`);
    }
  } else {
    throw bad(`expected {"height", "width"}, {"shortest_edge"}, a number or [height, width]`);
  }

  // CLIP's legacy use_square_size (for Kosmos-2): {shortest_edge: s} becomes {height: s, width: s}.
  if (c.use_square_size === true && typeName === 'CLIPImageProcessor' && 'shortest_edge' in size) {
    size = { height: size.shortest_edge, width: size.shortest_edge };
  } else if (c.use_square_size !== undefined && c.use_square_size !== null && typeof c.use_square_size !== 'boolean') {
    throw fail(`has "use_square_size": ${show(c.use_square_size)}; expected true or false`);
  }

  const form = 'shortest_edge' in size ? 'shortest_edge' : 'height_width';
  if (known && !known.sizeForms.includes(form)) {
    const wants = known.sizeForms[0] === 'shortest_edge' ? '{"shortest_edge": S}' : '{"height": H, "width": W}';
    throw fail(`has "size": ${show(v ?? known.size)}, but ${typeName} only resizes to ${wants} (transformers ${known.file})`);
  }
  return size;
}

/** `crop_size`: an int is always a square (get_size_dict(crop_size, default_to_square=True)). */
function cropSizeOf(c: Record<string, unknown>, known: ProcessorClass | undefined, fail: (p: string) => Error): [number, number] {
  const v = c.crop_size;
  if (v === undefined || v === null) {
    if (!known) throw fail(`has "do_center_crop": true but no "crop_size", and its processor type is not one Saliency Lens knows; add "crop_size": {"height": H, "width": W}`);
    return [...known.cropSize];
  }
  if (edge(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every(edge)) return [v[0] as number, v[1] as number];
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const d = v as Record<string, unknown>;
    if (Object.keys(d).sort().join(',') === 'height,width' && edge(d.height) && edge(d.width)) return [d.height, d.width];
  }
  throw fail(`has "crop_size": ${show(v)}; expected {"height": H, "width": W} or a whole number of pixels from 1 to ${MAX_EDGE}`);
}

/** ConvNext: `crop_pct` absent or null means 224/256 ("backwards compatibility where the value in config is None"). */
function cropPct(c: Record<string, unknown>, fail: (p: string) => Error): number {
  const v = c.crop_pct;
  if (v === undefined || v === null) return 224 / 256;
  if (typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 1) return v;
  throw fail(`has "crop_pct": ${show(v)}; expected a fraction above 0 and at most 1, such as 0.875`);
}

/** Reads at most MAX_CONFIG_BYTES; a larger file is refused from its size alone, before any of it is parsed. */
function readCapped(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw fileError(file, `cannot be read (${firstLine(err, 200)})`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw fileError(file, 'is not a regular file');
    if (st.size > MAX_CONFIG_BYTES) throw fileError(file, `is ${st.size} bytes, more than the ${MAX_CONFIG_BYTES} bytes an image processor config can be`);
    // One byte more than the cap, in case the file grew since fstat.
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n < buf.length; n += got) got = fs.readSync(fd, buf, n, buf.length - n, n);
    if (n > MAX_CONFIG_BYTES) throw fileError(file, `is more than the ${MAX_CONFIG_BYTES} bytes an image processor config can be`);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    throw fileError(file, `is not valid JSON (${firstLine(err, 200)})`);
  }
}

/** A value for a message: JSON, cut short. */
function show(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
