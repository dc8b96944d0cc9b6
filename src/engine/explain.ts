import * as tf from '@tensorflow/tfjs';
import { BackendInfo, initBackend } from './backend';
import { fileError, firstLine, UserError } from './errors';
import { DecodedImage, readImageFile } from './image/decode';
import { describePreprocessing, imageToTensor, ModelInputSpec, parsePreprocessing, Preprocessing } from './image/preprocess';
import { gradcam, gradcamMap, resolveGradcamLayer } from './methods/gradcam';
import { saliency, saliencyFromGradient } from './methods/saliency';
import { AttributionMap, classSeed } from './methods/types';
import { LoadedModel, loadModel, LoadOptions } from './model/loadModel';
import type { LayerRow, SpatialLayer, Trace } from './runtimes/types';
import type { OnnxRuntime } from './runtimes/onnx/onnxRuntime';

export type MethodName = 'saliency' | 'gradcam';
export const METHODS: readonly MethodName[] = ['saliency', 'gradcam'];

export interface Prediction {
  index: number;
  label: string;
  /** Softmax (or sigmoid, for sigmoid outputs) of the logits. */
  probability: number;
  logit: number;
}

export interface ExplainOptions {
  methods?: MethodName[];
  /** Class to explain: an index, a label, or 'top' (the predicted class, default). */
  target?: string | number;
  /** Grad-CAM layer; default: the runtime's automatic choice. */
  layer?: string;
  /** Keep the gradient's sign in the saliency map. */
  signed?: boolean;
  topK?: number;
}

export interface TensorExplanation {
  predictions: Prediction[];
  target: Prediction;
  maps: AttributionMap[];
  /**
   * Milliseconds per phase: forward, saliency, gradcam (backward passes), total; or, when one native run
   * computed the forward pass and the gradients together (ONNX), pass, then saliency and gradcam for the maps.
   */
  timings: Record<string, number>;
  /** Things worth telling the user about these maps, e.g. a Grad-CAM with no positive evidence. */
  notes: string[];
}

export interface ImageExplanation extends TensorExplanation {
  image: { file: string; width: number; height: number; format: string };
  /** Image pixels (RGBA) for overlays. */
  pixels: DecodedImage;
  modelInput: ModelInputSpec;
  preprocessing: string;
}

export interface CompareOptions {
  /** Classes to compare, in order; default the `top` highest logits. */
  classes?: number[];
  /** How many top classes when `classes` is not given (default 4). */
  top?: number;
  method: MethodName;
  layer?: string;
  signed?: boolean;
  /** Also the map of S_a − S_b; 'top2' = the two highest logits, chosen in the same pass. */
  contrast?: [number, number] | 'top2';
}

/** At most this many classes side by side (the compare view's grid). */
export const MAX_COMPARED = 6;

export interface ComparisonResult {
  /** Predictions of the compared classes, in the order of `maps`. */
  predictions: Prediction[];
  /** Every class, highest logit first (to pick other classes from). */
  ranked: Prediction[];
  /** One map per class, in the order asked. */
  maps: AttributionMap[];
  /** The map of S_a − S_b (saliency: signed, positive where a pixel's increase favours a). */
  contrast?: { classes: [number, number]; map: AttributionMap };
  layer?: string;
  /** Milliseconds: forward, backward (all classes and the contrast), total. */
  timings: Record<string, number>;
}

export interface ModelSummary {
  path: string;
  format: string;
  inputShape: number[];
  imageSpec: ModelInputSpec;
  numClasses: number;
  outputName: string;
  outputActivation: string;
  labels?: string;
  preprocessing: { spec: string; source: string };
  layers: LayerRow[];
  totalParams: number;
  spatialLayers: SpatialLayer[];
  defaultSpatialLayer?: string;
  warnings: string[];
}

export interface OpenOptions extends LoadOptions {
  /** Overrides the preprocessing the model folder declares. */
  preprocessing?: string;
  /** Image size a flat input encodes, e.g. [28, 28, 1]; inferred for square sizes. */
  imageShape?: [number, number, number];
}

/** How many pixels a model input holds, as an image: [H,W,C] inputs directly, flat ones inferred. */
export function imageSpecForInput(inputShape: number[], given?: [number, number, number]): ModelInputSpec {
  if (given) return { height: given[0], width: given[1], channels: given[2] as 1 | 3 | 4 };
  if (inputShape.length === 3) {
    const c = inputShape[2];
    if (c !== 1 && c !== 3 && c !== 4) throw new UserError(`the model's input has ${c} channels; images have 1, 3 or 4`);
    return { height: inputShape[0], width: inputShape[1], channels: c };
  }
  if (inputShape.length === 2) return { height: inputShape[0], width: inputShape[1], channels: 1 };
  if (inputShape.length === 1) {
    const n = inputShape[0];
    for (const channels of [1, 3] as const) {
      const side = Math.round(Math.sqrt(n / channels));
      if (side * side * channels === n) return { height: side, width: side, channels };
    }
    throw new UserError(`the model's flat input of ${n} values is not a square image; give the image shape (HxWxC)`);
  }
  throw new UserError(`the model's input shape ${JSON.stringify(inputShape)} is not an image`);
}

/** What computes a model's maps, for the CLI, logs, status bar and reports. */
export interface ComputeInfo {
  name: string;
  threads: number;
  note: string;
  /** 'onnxruntime' or 'tfjs'; for TF.js models whether they were converted, and why not when they were not. */
  runtime: { engine: string; converted?: boolean; reason?: string };
}

const now = () => performance.now();

/** A forward pass with what the maps need from it (see Explainer.forwardPass). */
interface Pass {
  /** Forward and gradients came from one run (the maps then only need reducing). */
  fused: boolean;
  ranked: Prediction[];
  classIndex: number;
  activation(layer: string): tf.Tensor4D;
  /** The class's gradient at 'input' or a layer; owned by the pass. */
  gradient(target: string): Promise<tf.Tensor>;
  dispose(): void;
}

/** An opened model ready to explain images: the engine's main entry, shared by CLI, tests and extension. */
export class Explainer {
  readonly imageSpec: ModelInputSpec;
  readonly preprocessing: Preprocessing;
  readonly preprocessingSource: string;

  private constructor(readonly model: LoadedModel, readonly backend: BackendInfo, opts: OpenOptions) {
    const runtime = model.runtime;
    this.imageSpec = imageSpecForInput(runtime.inputShape, opts.imageShape);
    const [spec, source] = opts.preprocessing
      ? [opts.preprocessing, 'given']
      : model.settings?.preprocessing
        ? [model.settings.preprocessing, model.settings.source]
        : model.defaultPreprocessing
          ? [model.defaultPreprocessing.spec, model.defaultPreprocessing.reason]
          : ['unit', 'default (no saliency-lens.json beside the model)'];
    this.preprocessing = parsePreprocessing(spec);
    this.preprocessingSource = source;
  }

  static async open(modelPath: string, opts: OpenOptions = {}): Promise<Explainer> {
    const backend = await initBackend();
    const model = await loadModel(modelPath, opts);
    try {
      return new Explainer(model, backend, opts);
    } catch (err) {
      model.runtime.dispose();
      throw err;
    }
  }

  get runtime() {
    return this.model.runtime;
  }

  /**
   * What computes the maps: ONNX Runtime (for .onnx models and TF.js models converted at load time), else
   * the tfjs backend; `runtime` says which and, for TF.js models, why (the conversion, or what stopped it).
   */
  get compute(): ComputeInfo {
    const rt = this.runtime;
    const conversion = this.model.conversion;
    const runtime = { engine: rt.kind === 'onnx' ? 'onnxruntime' : 'tfjs', ...(conversion ? { converted: conversion.converted, reason: conversion.reason } : {}) };
    // (A type-only import: the ONNX module loads its native binding only when an ONNX model is opened.)
    if (rt.kind === 'onnx') {
      const from = conversion ? `, ${conversion.reason}` : '';
      return { name: 'onnxruntime', threads: (rt as OnnxRuntime).threads, note: `ONNX Runtime on the CPU (native)${from}; tfjs ${this.backend.name} reduces the maps`, runtime };
    }
    const why = conversion ? `; ${conversion.reason}` : '';
    return { ...this.backend, note: `${this.backend.note}${why}`, runtime };
  }

  labelOf(index: number): string {
    return this.model.labels?.names[index] ?? `class ${index}`;
  }

  /** Resolves a class given as index, label or 'top' against the model's classes. */
  resolveTarget(target: string | number | undefined, topIndex: number): number {
    const n = this.runtime.numClasses;
    if (target === undefined || target === 'top') return topIndex;
    const asNumber = typeof target === 'number' ? target : /^\d+$/.test(target.trim()) ? Number(target) : undefined;
    if (asNumber !== undefined) {
      if (!Number.isInteger(asNumber) || asNumber < 0 || asNumber >= n) {
        throw new UserError(`class ${asNumber} is out of range: the model has ${n} classes (0–${n - 1})`);
      }
      return asNumber;
    }
    const names = this.model.labels?.names;
    const wanted = String(target).trim().toLowerCase();
    const index = names?.findIndex((l) => l.toLowerCase() === wanted) ?? -1;
    if (index < 0) {
      const hint = names ? `labels come from ${this.model.labels!.source}, e.g. ${names.slice(0, 5).join(', ')}` : 'the model has no labels file; use a class index';
      throw new UserError(`no class labelled "${target}" (${hint})`);
    }
    return index;
  }

  /** Preprocesses an image file into the model's input tensor [1, ...inputShape]. */
  prepare(image: DecodedImage): tf.Tensor {
    return tf.tidy(() => tf.reshape(imageToTensor(image, this.imageSpec, this.preprocessing), [1, ...this.runtime.inputShape]));
  }

  private predictions(logits: Float32Array): Prediction[] {
    const act = this.runtime.outputActivation;
    let probs: Float32Array;
    if (act === 'sigmoid') {
      probs = logits.map((v) => 1 / (1 + Math.exp(-v)));
    } else {
      const max = logits.reduce((m, v) => Math.max(m, v), -Infinity);
      const exps = logits.map((v) => Math.exp(v - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      probs = exps.map((v) => v / sum);
    }
    return Array.from(logits, (logit, index) => ({ index, label: this.labelOf(index), probability: probs[index], logit }))
      .sort((a, b) => b.logit - a.logit);
  }

  /**
   * Maps of several classes for one input, for comparing them: one forward pass, then one backward
   * pass per class (to the Grad-CAM layer, or to the input for saliency). With `contrast: [a, b]`,
   * also the map of the logit difference S_a − S_b: evidence for a over b.
   */
  compareTensor(x: tf.Tensor, opts: CompareOptions): Promise<ComparisonResult> {
    return this.guarded(() => this.compareNow(x, opts));
  }

  /**
   * A failure inside the runtime that is no UserError comes from running this model (a malformed file
   * that tfjs accepted, a kernel that refuses its shapes): one sentence naming the model file.
   */
  private async guarded<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw fileError(this.model.files.modelJson, `could not be run on ${this.compute.name} (${firstLine(err)})`);
    }
  }

  private async compareNow(x: tf.Tensor, opts: CompareOptions): Promise<ComparisonResult> {
    const runtime = this.runtime;
    const n = runtime.numClasses;
    const pair = Array.isArray(opts.contrast) ? opts.contrast : [];
    for (const c of [...(opts.classes ?? []), ...pair]) this.resolveTarget(c, 0);
    if (opts.classes && (opts.classes.length < 1 || opts.classes.length > MAX_COMPARED || new Set(opts.classes).size !== opts.classes.length)) {
      throw new UserError(`compare 1 to ${MAX_COMPARED} different classes, not ${JSON.stringify(opts.classes)}`);
    }
    if (pair.length && pair[0] === pair[1]) throw new UserError(`a contrast needs two different classes, not ${pair[0]} and ${pair[1]}`);
    const layer = opts.method === 'gradcam' ? resolveGradcamLayer(runtime, opts.layer) : undefined;
    const t0 = now();
    const trace = await runtime.trace(x, layer ? [layer] : []);
    try {
      const ranked = this.predictions(trace.logits.dataSync() as Float32Array);
      const forward = now() - t0;
      const classes = opts.classes ?? ranked.slice(0, Math.min(opts.top ?? 4, n)).map((p) => p.index);
      const seeds = classes.map((c) => classSeed(n, c));
      const contrastPair: [number, number] | undefined = opts.contrast === 'top2'
        ? (ranked.length >= 2 ? [ranked[0].index, ranked[1].index] : undefined)
        : opts.contrast;
      if (contrastPair) {
        const [a, b] = contrastPair;
        const seed = classSeed(n, a);
        seed[b] -= 1;
        seeds.push(seed);
      }
      // A saliency contrast keeps its sign: |∇(S_a − S_b)| would read the same for "a vs b" and "b vs a".
      const signed = seeds.map((_, i) => (i < classes.length ? opts.signed : true));
      const all = await this.mapsForSeeds(trace, seeds, layer, signed);
      const maps = all.slice(0, classes.length);
      const contrast = contrastPair ? { classes: contrastPair, map: all[classes.length] } : undefined;
      const total = now() - t0;
      return {
        predictions: classes.map((c) => ranked.find((p) => p.index === c)!),
        ranked, maps, contrast, layer,
        timings: { forward, backward: total - forward, total },
      };
    } finally {
      trace.dispose();
    }
  }

  /**
   * One map per seed row from a trace: Grad-CAM at `layer`, else saliency. Runtimes that take a batch of
   * seeds (ONNX) get all rows in one backward run; the others one run per row.
   */
  private async mapsForSeeds(trace: Trace, seeds: Float32Array[], layer: string | undefined, signed: (boolean | undefined)[]): Promise<AttributionMap[]> {
    const n = this.runtime.numClasses;
    const imageSize: [number, number] = [this.imageSpec.height, this.imageSpec.width];
    const mapOf = (g: tf.Tensor, i: number) =>
      (layer ? gradcamMap(trace.activation(layer), g, layer) : saliencyFromGradient(g, { signed: signed[i], imageSize }));
    if (trace.batchedSeeds && seeds.length > 1) {
      const rows = new Float32Array(seeds.length * n);
      seeds.forEach((s, i) => rows.set(s, i * n));
      const seed = tf.tensor2d(rows, [seeds.length, n]);
      const target = layer ?? 'input';
      const g = (await trace.vjp(seed, [target])).get(target)!;
      const parts = tf.split(g, seeds.length, 0);
      try {
        return parts.map(mapOf);
      } finally {
        tf.dispose([seed, g, ...parts]);
      }
    }
    const maps: AttributionMap[] = [];
    for (const [i, values] of seeds.entries()) {
      const seed = tf.tensor2d(values, [1, n]);
      try {
        maps.push(layer ? await gradcam(trace, seed, layer) : await saliency(trace, seed, { signed: signed[i], imageSize }));
      } finally {
        seed.dispose();
      }
    }
    return maps;
  }

  /**
   * One forward pass and what the maps need from it: the predictions, the class explained, the layer's
   * activations and the class's gradients. Runtimes that can (ONNX Runtime) do it all in one run, with
   * the predicted class chosen inside it; the others trace once and differentiate per target.
   */
  private async forwardPass(x: tf.Tensor, target: string | number | undefined, layer: string | undefined, targets: string[]): Promise<Pass> {
    const runtime = this.runtime;
    const keep = layer ? [layer] : [];
    if (runtime.explainPass && targets.length) {
      const fixed = target === undefined || target === 'top' ? 'top' : this.resolveTarget(target, 0);
      const pass = await runtime.explainPass(x, fixed, keep, targets);
      return {
        fused: true,
        ranked: this.predictions(pass.logits),
        classIndex: pass.classIndex,
        activation: (l) => pass.activations.get(l)!,
        gradient: async (t) => pass.grads.get(t)!,
        dispose: () => [...pass.activations.values(), ...pass.grads.values()].forEach((t) => t.dispose()),
      };
    }
    const trace = await runtime.trace(x, keep);
    const ranked = this.predictions(trace.logits.dataSync() as Float32Array);
    const classIndex = this.resolveTarget(target, ranked[0].index);
    const seed = tf.tensor2d(classSeed(runtime.numClasses, classIndex), [1, runtime.numClasses]);
    const owned: tf.Tensor[] = [seed];
    return {
      fused: false,
      ranked,
      classIndex,
      activation: (l) => trace.activation(l),
      gradient: async (t) => {
        const g = (await trace.vjp(seed, [t])).get(t)!;
        owned.push(g);
        return g;
      },
      dispose: () => {
        owned.forEach((t) => t.dispose());
        trace.dispose();
      },
    };
  }

  /** Explains one preprocessed input. One forward pass serves predictions and every method. */
  explainTensor(x: tf.Tensor, opts: ExplainOptions = {}): Promise<TensorExplanation> {
    return this.guarded(() => this.explainNow(x, opts));
  }

  private async explainNow(x: tf.Tensor, opts: ExplainOptions): Promise<TensorExplanation> {
    const methods = opts.methods ?? ['saliency', 'gradcam'];
    const layer = methods.includes('gradcam') ? resolveGradcamLayer(this.runtime, opts.layer) : undefined;
    const targets = [...(layer ? [layer] : []), ...(methods.includes('saliency') ? ['input'] : [])];
    const timings: Record<string, number> = {};
    const t0 = now();
    const pass = await this.forwardPass(x, opts.target, layer, targets);
    try {
      const { ranked, classIndex } = pass;
      // A fused pass is forward and backward in one run: timed as `pass`, the maps after it only reduce.
      timings[pass.fused ? 'pass' : 'forward'] = now() - t0;
      const target = ranked.find((p) => p.index === classIndex)!;
      const maps: AttributionMap[] = [];
      const notes: string[] = [];
      // Grad-CAM first: its backward pass stops at the layer, so it is timed on its own.
      if (layer) {
        const t1 = now();
        maps.push(gradcamMap(pass.activation(layer), await pass.gradient(layer), layer));
        timings.gradcam = now() - t1;
        if (maps[maps.length - 1].data.every((v) => v === 0)) {
          notes.push(`Grad-CAM at layer "${layer}" is zero everywhere: by its linear estimate the layer holds no positive evidence ` +
            `for "${this.labelOf(classIndex)}"; try another layer or saliency`);
        }
      }
      if (methods.includes('saliency')) {
        const t2 = now();
        const grad = await pass.gradient('input');
        maps.unshift(saliencyFromGradient(grad, { signed: opts.signed, imageSize: [this.imageSpec.height, this.imageSpec.width] }));
        timings.saliency = now() - t2;
      }
      timings.total = now() - t0;
      return { predictions: ranked.slice(0, opts.topK ?? 5), target, maps, timings, notes };
    } finally {
      pass.dispose();
    }
  }

  async explainImage(pixels: DecodedImage, file: string, opts: ExplainOptions = {}): Promise<ImageExplanation> {
    const x = this.prepare(pixels);
    try {
      const result = await this.explainTensor(x, opts);
      return {
        ...result,
        image: { file, width: pixels.width, height: pixels.height, format: pixels.format },
        pixels,
        modelInput: this.imageSpec,
        preprocessing: describePreprocessing(this.preprocessing),
      };
    } finally {
      x.dispose();
    }
  }

  explainFile(file: string, opts: ExplainOptions = {}): Promise<ImageExplanation> {
    return this.explainImage(readImageFile(file), file, opts);
  }

  summary(): ModelSummary {
    const rt = this.runtime;
    const layers = rt.layerTable();
    return {
      path: this.model.files.modelJson,
      format: this.model.files.format,
      inputShape: rt.inputShape,
      imageSpec: this.imageSpec,
      numClasses: rt.numClasses,
      outputName: rt.outputName,
      outputActivation: rt.outputActivation,
      labels: this.model.labels?.source,
      preprocessing: { spec: describePreprocessing(this.preprocessing), source: this.preprocessingSource },
      layers,
      totalParams: layers.reduce((n, l) => n + l.params, 0),
      spatialLayers: rt.spatialLayers(),
      defaultSpatialLayer: rt.defaultSpatialLayer(),
      warnings: this.model.warnings,
    };
  }

  dispose(): void {
    this.runtime.dispose();
  }
}
