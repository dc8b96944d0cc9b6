/**
 * Named pipelines, and the one parser for every place a pipeline is set (the `saliencyLens.preprocessing` setting,
 * `saliency-lens.json`, `--preprocessing`, the panel's Preset picker). Forms:
 * - a name: a framework preset (`torchvision`, `timm`, …) or one of the historic affine presets (`unit`, …,
 *   `custom:MEAN;STD`), which keep their meaning: a half-pixel bilinear stretch, no crop;
 * - `NAME+AFFINE`: a framework's resize and crop with another affine (`tfjs-legacy+symmetric`);
 * - JSON `{"preset": "timm", "crop": {"fraction": 0.95}, ...}`: any field over a preset (see `overrideKeys`);
 * - `huggingface`: the `preprocessor_config.json` beside the model.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../errors';
import { describePreprocessing, parsePreprocessing, type Preprocessing } from '../preprocess';
import { PRESETS, type FrameworkPipeline } from '../../../shared/protocol';
import { edgeTarget, MAX_RESIZE_EDGE, stretchSize, type Size } from './geometry';
import { HF_PREPROCESSOR_FILE, readHuggingFacePipeline } from './huggingface';
import { checkPipeline } from './check';
import { INTERPOLATIONS, PIXEL_CONVENTIONS, stretchPipeline, type CropStep, type PipelineSpec, type ResizeStep } from './spec';

const IMAGENET: Preprocessing = { preset: 'imagenet' };

/** A shorter-edge PIL resize then a centre crop, as torchvision's and timm's ImageNet eval transforms. */
function pilCenterCrop(name: string, source: string, interpolation: ResizeStep['interpolation']): PipelineSpec {
  return {
    name,
    source,
    channels: 'pil',
    resize: { edge: 'shorter', interpolation, antialias: true, convention: 'half-pixel', arithmetic: 'pil-uint8' },
    crop: { kind: 'center', fraction: 0.875, offset: 'half-even' },
    affine: IMAGENET,
  };
}

/** A PIL nearest stretch as `keras.utils.load_img(path, target_size)` does by default, then a Keras mode. */
function kerasMode(mode: string, affine: Preprocessing): PipelineSpec {
  return {
    name: `keras-${mode}`,
    source: `keras.utils.load_img (nearest, no aspect kept) then applications.imagenet_utils.preprocess_input(mode="${mode}")`,
    channels: 'pil',
    resize: { edge: 'both', interpolation: 'nearest', antialias: true, convention: 'half-pixel', arithmetic: 'pil-uint8' },
    crop: { kind: 'none' },
    affine,
  };
}

/** The framework presets, each reproducing its framework's eval transform for the model's input size. */
export const FRAMEWORK_PRESETS: Readonly<Record<Exclude<FrameworkPipeline, 'huggingface'>, PipelineSpec>> = {
  // torchvision: Resize(256) on a PIL image (antialiased), CenterCrop(224) (round half to even), ToTensor, Normalize.
  torchvision: pilCenterCrop('torchvision', 'torchvision ImageNet eval: Resize(256), CenterCrop(224), ToTensor, Normalize', 'bilinear'),
  // timm transforms_imagenet_eval: Resize(floor(size / crop_pct), bicubic), CenterCrop(size), crop_pct 0.875.
  timm: pilCenterCrop('timm', 'timm transforms_imagenet_eval: bicubic, crop_pct 0.875', 'bicubic'),
  'keras-caffe': kerasMode('caffe', { preset: 'caffe' }),
  'keras-tf': kerasMode('tf', { preset: 'symmetric' }),
  'keras-torch': kerasMode('torch', IMAGENET),
  // tf.image.resizeBilinear(x, size) with its defaults (alignCorners=false, halfPixelCenters=false: TF1's grid).
  'tfjs-legacy': {
    name: 'tfjs-legacy',
    source: 'tf.image.resizeBilinear with its default flags (TF1 pixel grid), then x/255',
    channels: 'composite',
    resize: { edge: 'both', interpolation: 'bilinear', antialias: false, convention: 'legacy-tf', arithmetic: 'float' },
    crop: { kind: 'none' },
    affine: { preset: 'unit' },
  },
};

/** Every name the parser takes, for the setting's description, the panel's picker and messages. */
export const PIPELINE_NAMES: readonly string[] = PRESETS;

const ALLOWED = `use one of ${PIPELINE_NAMES.join(', ')}, custom:MEAN;STD, NAME+AFFINE (e.g. tfjs-legacy+symmetric) or a JSON object such as {"preset":"timm","crop":{"fraction":0.95}}`;

export interface PipelineContext {
  /** The model's folder, where `huggingface` finds preprocessor_config.json. */
  modelDir?: string;
}

/** Parses any pipeline text (see the file comment); every error is one sentence naming what to write instead. */
export function parsePipeline(text: string, ctx: PipelineContext = {}): PipelineSpec {
  const s = text.trim();
  const spec = s.startsWith('{') ? parseJsonPipeline(s, ctx) : parseNamed(s, ctx);
  checkPipeline(spec);
  return spec;
}

function parseNamed(s: string, ctx: PipelineContext): PipelineSpec {
  const plus = s.indexOf('+');
  const base = (plus < 0 ? s : s.slice(0, plus)).trim();
  const lower = base.toLowerCase();
  const pipeline = basePipeline(lower, ctx) ?? (plus < 0 ? stretchPipeline(affineOf(s), s) : undefined);
  if (!pipeline) throw new UserError(`Unknown preprocessing "${base}" before "+"; ${ALLOWED}.`);
  if (plus < 0) return pipeline;
  const affineText = s.slice(plus + 1).trim();
  return { ...pipeline, name: `${lower}+${affineText}`, affine: affineOf(affineText) };
}

/** A framework preset or `huggingface`; undefined for the affine presets (they are parsed as such). */
function basePipeline(name: string, ctx: PipelineContext): PipelineSpec | undefined {
  if (name === 'huggingface') {
    if (!ctx.modelDir) throw new UserError(`Preprocessing "huggingface" reads ${HF_PREPROCESSOR_FILE} beside the model, and no model folder is known here.`);
    const file = path.join(ctx.modelDir, HF_PREPROCESSOR_FILE);
    if (!fs.existsSync(file)) throw new UserError(`Preprocessing "huggingface" reads ${HF_PREPROCESSOR_FILE} beside the model, and ${ctx.modelDir} has none.`);
    return readHuggingFacePipeline(file);
  }
  const preset = Object.prototype.hasOwnProperty.call(FRAMEWORK_PRESETS, name) ? FRAMEWORK_PRESETS[name as keyof typeof FRAMEWORK_PRESETS] : undefined;
  return preset && structuredClone(preset);
}

function affineOf(text: string): Preprocessing {
  try {
    return parsePreprocessing(text);
  } catch (err) {
    if (err instanceof UserError && /^Unknown preprocessing/.test(err.message)) throw new UserError(`Unknown preprocessing "${text}"; ${ALLOWED}.`);
    throw err;
  }
}

// ---- JSON form -------------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

function parseJsonPipeline(s: string, ctx: PipelineContext): PipelineSpec {
  let json: unknown;
  try {
    json = JSON.parse(s);
  } catch (err) {
    throw new UserError(`Preprocessing ${clip(s)} is not valid JSON (${(err as Error).message}).`);
  }
  if (!isObject(json)) throw new UserError(`Preprocessing ${clip(s)} must be a JSON object; ${ALLOWED}.`);
  onlyKeys(json, ['preset', 'resize', 'crop', 'affine', 'channels'], 'JSON');
  const presetName = json.preset === undefined ? 'unit' : json.preset;
  if (typeof presetName !== 'string') throw new UserError(`Preprocessing "preset" must be a name such as "timm", not ${clip(JSON.stringify(presetName))}.`);
  const base = parseNamed(presetName, ctx);
  const spec: PipelineSpec = { ...base, name: `${base.name} (edited)` };
  if (json.channels !== undefined) spec.channels = oneOf(json.channels, ['composite', 'pil'] as const, 'channels');
  if (json.affine !== undefined) {
    if (typeof json.affine !== 'string') throw new UserError(`Preprocessing "affine" must be a preset name or custom:MEAN;STD, not ${clip(JSON.stringify(json.affine))}.`);
    spec.affine = affineOf(json.affine);
  }
  if (json.resize !== undefined) spec.resize = resizeOver(base.resize, json.resize);
  if (json.crop !== undefined) spec.crop = cropOver(base.crop, json.crop);
  return spec;
}

function resizeOver(base: ResizeStep, v: unknown): ResizeStep {
  if (!isObject(v)) throw new UserError(`Preprocessing "resize" must be an object such as {"interpolation": "bicubic"}.`);
  onlyKeys(v, ['edge', 'size', 'interpolation', 'antialias', 'convention', 'arithmetic', 'maxSize'], '"resize"');
  const r: ResizeStep = { ...base };
  if (v.edge !== undefined) r.edge = oneOf(v.edge, ['both', 'shorter', 'longer'] as const, 'resize.edge');
  if (v.interpolation !== undefined) r.interpolation = oneOf(v.interpolation, INTERPOLATIONS, 'resize.interpolation');
  if (v.convention !== undefined) r.convention = oneOf(v.convention, PIXEL_CONVENTIONS, 'resize.convention');
  if (v.arithmetic !== undefined) r.arithmetic = oneOf(v.arithmetic, ['pil-uint8', 'float'] as const, 'resize.arithmetic');
  if (v.antialias !== undefined) {
    if (typeof v.antialias !== 'boolean') throw new UserError('Preprocessing "resize.antialias" must be true or false.');
    r.antialias = v.antialias;
  }
  if (v.size !== undefined) {
    const ok = (n: unknown) => Number.isInteger(n) && (n as number) > 0 && (n as number) <= MAX_RESIZE_EDGE;
    if (!(ok(v.size) || (Array.isArray(v.size) && v.size.length === 2 && v.size.every(ok)))) {
      throw new UserError(`Preprocessing "resize.size" must be a whole number of pixels or [height, width] (1–${MAX_RESIZE_EDGE}), not ${clip(JSON.stringify(v.size))}.`);
    }
    r.size = v.size as number | [number, number];
  }
  if (v.maxSize !== undefined) {
    if (!(Number.isInteger(v.maxSize) && (v.maxSize as number) > 0)) throw new UserError('Preprocessing "resize.maxSize" must be a whole number of pixels.');
    r.maxSize = v.maxSize as number;
  }
  return r;
}

function cropOver(base: CropStep, v: unknown): CropStep {
  if (v === 'none') return { kind: 'none' };
  if (!isObject(v)) throw new UserError(`Preprocessing "crop" must be "none" or an object such as {"fraction": 0.95} or {"kind": "letterbox"}.`);
  onlyKeys(v, ['kind', 'fraction', 'offset', 'fill'], '"crop"');
  const kind = v.kind === undefined ? (base.kind === 'none' ? 'center' : base.kind) : oneOf(v.kind, ['none', 'center', 'letterbox'] as const, 'crop.kind');
  if (kind === 'none') return { kind };
  const stray = Object.keys(v).find((k) => k !== 'kind' && !(kind === 'letterbox' ? ['fill'] : ['fraction', 'offset']).includes(k));
  if (stray) throw new UserError(`Preprocessing "crop.${stray}" does not apply to a ${kind === 'letterbox' ? 'letterbox' : 'centre crop'}.`);
  if (kind === 'letterbox') {
    const fill = v.fill === undefined ? [0, 0, 0] : v.fill;
    if (!(Array.isArray(fill) && fill.length === 3 && fill.every((c) => typeof c === 'number' && c >= 0 && c <= 255))) {
      throw new UserError('Preprocessing "crop.fill" must be three values 0–255, e.g. [114, 114, 114].');
    }
    return { kind, fill: fill as [number, number, number] };
  }
  const old = base.kind === 'center' ? base : undefined;
  const crop: CropStep = { kind, offset: v.offset === undefined ? (old?.offset ?? 'half-even') : oneOf(v.offset, ['half-even', 'floor'] as const, 'crop.offset') };
  const fraction = v.fraction === undefined ? old?.fraction : v.fraction;
  if (fraction !== undefined) {
    if (!(typeof fraction === 'number' && fraction > 0 && fraction <= 1)) throw new UserError(`Preprocessing "crop.fraction" must be a number in (0, 1], e.g. 0.875, not ${clip(JSON.stringify(fraction))}.`);
    crop.fraction = fraction;
  }
  return crop;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], key: string): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new UserError(`Preprocessing "${key}" must be one of ${allowed.join(', ')}, not ${clip(JSON.stringify(v))}.`);
}

function onlyKeys(v: Json, allowed: string[], where: string): void {
  const unknown = Object.keys(v).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new UserError(`Preprocessing ${where} has unknown key "${unknown[0]}"; it takes ${allowed.join(', ')}.`);
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

/**
 * One line for the UI, logs and reports, with the sizes bound to the model's input: "torchvision: shorter edge 256
 * (bilinear, antialiased), centre crop 224×224, imagenet (mean/std)". An affine preset alone reads as it always has.
 */
export function describePipeline(spec: PipelineSpec, input: Size): string {
  const affine = describePreprocessing(spec.affine);
  if (isHistoric(spec)) return spec.name === spec.affine.preset || !spec.name.includes('+') ? affine : `${spec.name}: ${affine}`;
  const { resize, crop } = spec;
  const how = resize.interpolation === 'nearest' ? 'nearest' : `${resize.interpolation}, ${resize.antialias ? 'antialiased' : `no antialiasing, ${resize.convention} grid`}`;
  const resizeText = crop.kind === 'letterbox'
    ? `fit inside ${input.width}×${input.height} (${how})`
    : resize.edge === 'both'
      ? (([h, w]) => `stretch to ${w}×${h} (${how})`)(stretchSize(spec, input))
      : `${resize.edge} edge ${edgeTarget(spec, input)}${resize.maxSize ? ` (at most ${resize.maxSize})` : ''} (${how})`;
  const cropText = crop.kind === 'center'
    ? `, centre crop ${input.width}×${input.height}${crop.offset === 'floor' ? ' (offset floored)' : ''}`
    : crop.kind === 'letterbox' ? `, padded with rgb(${crop.fill.join(',')})` : '';
  return `${spec.name}: ${resizeText}${cropText}, ${affine}`;
}

/** The engine's historic stretch (what an affine preset alone means). */
export function isHistoric(spec: PipelineSpec): boolean {
  const h = stretchPipeline(spec.affine, spec.name);
  return spec.channels === h.channels && JSON.stringify([spec.resize, spec.crop]) === JSON.stringify([h.resize, h.crop]);
}
