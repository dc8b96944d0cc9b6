import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError, UserError } from '../errors';
import { parsePipeline } from '../image/pipeline/presets';
import { HF_PREPROCESSOR_FILE } from '../image/pipeline/huggingface';
import { jsonErrorDetail } from './readArtifacts';

/** Files beside the model file that name the classes, in the order we look for them. */
const LABEL_FILES = ['labels.txt', 'labels.json', 'classes.txt', 'metadata.json'];

/** Files beside the model that change how it is read: its labels and settings. */
export const SIDECAR_FILES: readonly string[] = [...LABEL_FILES, 'saliency-lens.json', HF_PREPROCESSOR_FILE];

export interface Labels {
  names: string[];
  source: string;
}

function parseLabelJson(value: unknown, file: string): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    // Teachable Machine: metadata.json with a "labels" array.
    if (Array.isArray(obj.labels)) return obj.labels.map(String);
    const keys = Object.keys(obj);
    if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) {
      if (keys.some((k) => Number(k) >= keys.length)) throw fileError(file, `label indices must run from 0 to ${keys.length - 1}`);
      const names: string[] = [];
      for (const k of keys) names[Number(k)] = String(obj[k]);
      return Array.from(names, (n, i) => n ?? `class ${i}`);
    }
  }
  throw fileError(file, 'does not hold labels (expected a JSON array, an index→name object, or {"labels": [...]})');
}

/** Reads class names from beside the model; undefined when there are none. */
export function readLabels(modelDir: string): Labels | undefined {
  for (const name of LABEL_FILES) {
    const file = path.join(modelDir, name);
    if (!fs.existsSync(file)) continue;
    const text = fs.readFileSync(file, 'utf8');
    if (name.endsWith('.txt')) {
      const names = text.split(/\r?\n/).map((l) => l.trim());
      while (names.length && names[names.length - 1] === '') names.pop();
      return { names, source: file };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw fileError(file, `is not valid JSON (${jsonErrorDetail(err)})`);
    }
    if (name === 'metadata.json' && !(parsed && typeof parsed === 'object' && 'labels' in (parsed as object))) continue;
    return { names: parseLabelJson(parsed, file), source: file };
  }
  return undefined;
}

export interface ModelSettings {
  /** Preprocessing pipeline, e.g. "unit", "torchvision", or an object's JSON text (image/pipeline/presets.ts). */
  preprocessing?: string;
  /** Built-in class names to use without a labels file: "imagenet" (the 1000 ImageNet-1k classes). */
  labels?: 'imagenet';
  /** Input [height, width] for models whose input size is free. */
  inputSize?: number[];
  description?: string;
  source: string;
}

/** Optional `saliency-lens.json` beside the model file: how the model wants its input prepared. */
export function readModelSettings(modelDir: string): ModelSettings | undefined {
  const file = path.join(modelDir, 'saliency-lens.json');
  if (!fs.existsSync(file)) return undefined;
  let json: { preprocessing?: unknown; labels?: unknown; inputSize?: unknown; description?: unknown };
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw fileError(file, `is not valid JSON (${jsonErrorDetail(err)})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw fileError(file, 'is not a JSON object of settings (e.g. {"preprocessing": "imagenet", "inputSize": [224, 224]})');
  }
  // A pipeline is a name ("timm", "imagenet") or an object over a preset ({"preset": "timm", "crop": {...}}),
  // which travels on as its JSON text: one string form for every place a pipeline is set.
  const given = json.preprocessing;
  if (given !== undefined && typeof given !== 'string' && !(given !== null && typeof given === 'object' && !Array.isArray(given))) {
    throw fileError(file, `has "preprocessing": ${JSON.stringify(given).slice(0, 80)}; expected a name such as "imagenet" or "torchvision", or an object such as {"preset": "timm", "crop": {"fraction": 0.95}}`);
  }
  const preprocessing = typeof given === 'object' ? JSON.stringify(given) : given;
  if (preprocessing !== undefined) {
    // Checked here, where the file is known: the Explainer parses it again and would not name the file.
    try {
      parsePipeline(preprocessing, { modelDir });
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      throw fileError(file, err.message.charAt(0).toLowerCase() + err.message.slice(1).replace(/\.$/, ''));
    }
  }
  if (json.labels !== undefined && json.labels !== 'imagenet') {
    throw fileError(file, `has "labels": ${JSON.stringify(json.labels)}; the built-in names are "imagenet" (or put a labels.txt beside the model)`);
  }
  const size = json.inputSize;
  if (size !== undefined && !(Array.isArray(size) && size.length === 2 && size.every((d) => Number.isInteger(d) && d > 0 && d <= 8192))) {
    throw fileError(file, `has "inputSize": ${JSON.stringify(size)}; expected [height, width] in pixels, e.g. [224, 224]`);
  }
  const description = typeof json.description === 'string' ? json.description : undefined;
  return { preprocessing, labels: json.labels, inputSize: size as number[] | undefined, description, source: file };
}

/** The 1000 ImageNet-1k class names in torchvision's order (scripts/onnx/export_imagenet_names.py). */
export function imagenetLabels(): Labels {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return { names: require('./imagenetClasses.json') as string[], source: 'ImageNet-1k class names (built in)' };
}
