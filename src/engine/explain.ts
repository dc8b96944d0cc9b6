import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BackendInfo, initBackend } from './backend';
import { fileError, firstLine, UserError } from './errors';
import type { DecodedImage } from './image/decode';
import { loadImageFile, realSize } from './image/load';
import { WORKING_LONG_SIDE } from './image/budget';
import type { ModelInputSpec, Preprocessing } from './image/preprocess';
import { describePipeline, isHistoric } from './image/pipeline/presets';
import { choosePipeline } from './image/pipeline/choose';
import { runPipeline } from './image/pipeline/run';
import { bindPipeline, regionOnRealImage } from './image/pipeline/geometry';
import { pipelineSensitivity, type PipelineDisagreement } from './sensitivity';
import type { PipelineSpec } from './image/pipeline/spec';
import type { InputRegionMsg } from '../shared/protocol';
import type { Measure } from '../shared/measures';
import { findMethod, MethodName, MethodOptions, MethodSpec, OptionValue, resolveOptions, DEFAULT_METHODS } from '../shared/methods';
import { layerLabel } from '../shared/layerNames';
import { batchRunner } from './methods/batch';
import { resolveSpatialLayer } from './methods/layers';
import { implementationOf } from './methods/registry';
import { probabilities } from './methods/scores';
import { AttributionMap, AttributionMethod, AttributionTarget, classSeed, SharedPass } from './methods/types';
import { LoadedModel, loadModel, LoadOptions } from './model/loadModel';
import type { LayerRow, ModelRuntime, SpatialLayer } from './runtimes/types';
import type { OnnxRuntime } from './runtimes/onnx/onnxRuntime';

export type { MethodName } from '../shared/methods';

/** Progress of a long method: rows (model inputs) done out of all; of an evaluation, measures done out of all. */
export type ProgressListener = (p: { method: MethodName; done: number; total: number; measure?: Measure; step?: { done: number; total: number } }) => void;

export interface Prediction {
  index: number;
  label: string;
  /** Softmax (or sigmoid, for sigmoid outputs) of the logits. */
  probability: number;
  logit: number;
}

export interface ExplainOptions {
  /** Methods in the order their maps come back (default saliency and Grad-CAM). */
  methods?: readonly MethodName[];
  /** Options per method; what is not given takes the registry's default. */
  options?: Partial<Record<MethodName, MethodOptions>>;
  progress?: ProgressListener;
  /** Class to explain: an index, a label, or 'top' (the predicted class, default). */
  target?: string | number;
  /** Grad-CAM layer; default: the runtime's automatic choice. */
  layer?: string;
  /** Keep the sign in every method that has a `signed` option (unless its options say otherwise). */
  signed?: boolean;
  topK?: number;
  /**
   * Hears results before the whole explanation is done, so a caller can show them at once: the predictions
   * (top-K) and the explained class right after the forward pass, then each map as soon as it is computed.
   */
  partial?: PartialListener;
  /** Also check whether the top class survives neighbouring preprocessing pipelines (a few forward runs). */
  sensitivity?: boolean;
}

export type PartialListener = (p: { kind: 'predictions'; predictions: Prediction[]; target: Prediction } | { kind: 'map'; map: AttributionMap }) => void;

export interface TensorExplanation {
  predictions: Prediction[];
  target: Prediction;
  maps: AttributionMap[];
  /**
   * Milliseconds: `forward` (or `pass`, when one native run computed the forward pass and the gradients the
   * maps share, as on ONNX Runtime), then one entry per method (what its map took after that), and `total`.
   */
  timings: Record<string, number>;
  /** Things worth telling the user about these maps, e.g. a Grad-CAM with no positive evidence. */
  notes: string[];
}

export interface ImageExplanation extends TensorExplanation {
  /** The file and its real size (also when `pixels` is a downscaled working copy). */
  image: { file: string; width: number; height: number; format: string };
  /** The part of the image the model's input covers, in its real pixels. */
  inputRegion: InputRegionMsg;
  /** Neighbouring pipelines under which the top class differs (asked with `sensitivity`); empty when none does. */
  sensitivity?: PipelineDisagreement[];
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
  options?: MethodOptions;
  layer?: string;
  signed?: boolean;
  progress?: ProgressListener;
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
  /** The map of S_a − S_b (signed where the method can be: positive where a pixel favours a). */
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
  defaultSpatialLayerReason?: string;
  /** Blocks with full attention over the patch tokens (attention rollout's input); absent: none. */
  attentionBlocks?: number;
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
  if (given) {
    const [h, w, c] = given;
    const size = inputShape.reduce((a, b) => a * b, 1);
    if (h * w * c !== size) throw new UserError(`the image shape ${h}x${w}x${c} holds ${h * w * c} values; the model's input ${JSON.stringify(inputShape)} takes ${size}`);
    if (c !== 1 && c !== 3 && c !== 4) throw new UserError(`the image shape ${h}x${w}x${c} has ${c} channels; images have 1, 3 or 4`);
    return { height: h, width: w, channels: c };
  }
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
interface Pass extends SharedPass {
  /** Forward and gradients came from one run (the maps then only need reducing). */
  fused: boolean;
  ranked: Prediction[];
  classIndex: number;
  dispose(): void;
}

/** A method ready to run: its implementation, every option set, and the layers it attributes to. */
interface PlannedMethod {
  impl: AttributionMethod;
  options: MethodOptions;
  layers: string[];
}

const unique = (items: string[]) => [...new Set(items)];

/** An opened model ready to explain images: the engine's main entry, shared by CLI, tests and extension. */
export class Explainer {
  readonly imageSpec: ModelInputSpec;
  /** How an image becomes the model's input (resize, crop, affine). */
  readonly pipeline: PipelineSpec;
  /** The pipeline's last step, the per-channel affine (what baselines and the input view need). */
  readonly preprocessing: Preprocessing;
  readonly preprocessingSource: string;

  private constructor(readonly model: LoadedModel, readonly backend: BackendInfo, private readonly opts: OpenOptions) {
    const runtime = model.runtime;
    this.imageSpec = imageSpecForInput(runtime.inputShape, opts.imageShape);
    const choice = choosePipeline(
      { given: opts.preprocessing, settings: model.settings, fallback: model.defaultPreprocessing },
      path.dirname(model.files.modelJson),
      this.imageSpec,
    );
    // The model's warnings list is shared with copies of this explainer (onRuntime): told once.
    if (choice.warning && !model.warnings.includes(choice.warning)) model.warnings.push(choice.warning);
    this.pipeline = choice.pipeline;
    const source = choice.source;
    this.preprocessing = this.pipeline.affine;
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
   * This model's explainer over another runtime of it (a copy with other weights, as the randomization check
   * makes): the same input, preprocessing, labels and method planning. The runtime stays the caller's to dispose.
   */
  onRuntime(runtime: ModelRuntime): Explainer {
    return new Explainer({ ...this.model, runtime }, this.backend, this.opts);
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

  private warmed?: Promise<void>;

  /**
   * Runs the model once on a blank input, so the first image's predictions come at the speed of a forward run
   * (ONNX Runtime prepares a session on first use, which takes several forward runs' time). For interactive use.
   */
  warmPredictions(): Promise<void> {
    if (!this.warmed) {
      const warming = this.guarded(async () => {
        const x = tf.zeros([1, ...this.runtime.inputShape]);
        try {
          (await this.runtime.trace(x)).dispose();
        } finally {
          x.dispose();
        }
      });
      this.warmed = warming;
      // A failure is told once and not kept: the next open tries again.
      warming.catch(() => {
        if (this.warmed === warming) this.warmed = undefined;
      });
    }
    return this.warmed;
  }

  /** Preprocesses an image file into the model's input tensor [1, ...inputShape]. */
  prepare(image: DecodedImage): tf.Tensor {
    return this.prepareInput(image).x;
  }

  /** The model's input tensor for an image, and the part of the image (in its real pixels) that input covers. */
  prepareInput(image: DecodedImage): { x: tf.Tensor; inputRegion: InputRegionMsg } {
    const { values, geometry } = runPipeline(image, this.pipeline, this.imageSpec);
    const x = tf.tensor(values, [1, ...this.runtime.inputShape], 'float32');
    return { x, inputRegion: regionOnRealImage(geometry.inputRegion, image, realSize(image)) };
  }

  /** The part of an image (in its real pixels) the model's input covers, without preparing the input. */
  inputRegionOf(image: DecodedImage): InputRegionMsg {
    return regionOnRealImage(bindPipeline(this.pipeline, this.imageSpec, image).inputRegion, image, realSize(image));
  }

  private sensitivityCache = new WeakMap<DecodedImage, Promise<PipelineDisagreement[]>>();

  /** Whether the top class hangs on the preprocessing, once per image (a class change asks again). */
  private sensitivityOf(pixels: DecodedImage, top: Prediction): Promise<PipelineDisagreement[]> {
    let found = this.sensitivityCache.get(pixels);
    if (!found) {
      found = this.guarded(() => pipelineSensitivity(this, pixels, top));
      this.sensitivityCache.set(pixels, found);
      found.catch(() => this.sensitivityCache.delete(pixels));
    }
    return found;
  }

  /** One line saying how images become this model's input. */
  get preprocessingText(): string {
    return describePipeline(this.pipeline, this.imageSpec);
  }

  private predictions(logits: Float32Array): Prediction[] {
    const probs = probabilities(logits, this.runtime.outputActivation);
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

  /**
   * Each method with every option set (from the registry's defaults, `signed` and the options given),
   * and the spatial layers of the CAMs (the one asked for, else the automatic choice; LayerCAM's fused ones).
   */
  private plan(methods: readonly MethodName[], given: ExplainOptions['options'], layer: string | undefined, signed?: boolean): PlannedMethod[] {
    return methods.map((name) => {
      let spec;
      let options: MethodOptions;
      try {
        spec = findMethod(name);
        const defaults: Record<string, OptionValue> = signed !== undefined && spec.options.some((o) => o.name === 'signed') ? { signed } : {};
        options = resolveOptions(spec, { ...defaults, ...given?.[name] });
      } catch (err) {
        throw new UserError((err as Error).message);
      }
      const fused = String(options.layers ?? '').split(',').filter(Boolean);
      const layers = spec.target === 'layer'
        ? unique([layer, ...fused].map((l) => resolveSpatialLayer(this.runtime, l, spec.label)))
        : [];
      return { impl: implementationOf(spec.name as MethodName), options, layers };
    });
  }

  /** What a CAM's map needs said: why it is blank, and on a ViT's token layer, how far Grad-CAM's weights can be trusted. */
  private camNotes(spec: MethodSpec, map: AttributionMap, target: AttributionTarget): string[] {
    if (spec.family !== 'cam' || !map.layer) return [];
    const token = this.runtime.tokenLayer?.(map.layer);
    const shown = layerLabel(map.layer, this.runtime.spatialLayers().map((l) => l.name));
    const blank = map.data.every((v) => v === 0);
    // Gradient-free CAMs (Eigen-CAM, Score-CAM) still draw there: only a blank map is explained so.
    if (blank && token?.blind) {
      return [`${spec.label} at layer "${shown}" is blank: after this layer only the class token reaches the classifier, so its ` +
        'patch tokens get no gradient; choose an earlier layer (the automatic one is the last that works)'];
    }
    const notes: string[] = [];
    if (blank) {
      notes.push(`${spec.label} at layer "${shown}" is zero everywhere: the layer shows no positive evidence ` +
        `for "${this.labelOf(target.classIndex)}" by this method; try another layer or an input method`);
    }
    if (token?.attention && spec.poolsGradient) {
      // Measured on class-token ViTs (test/unit/vitClutter.test.ts); without a class token only HiResCAM's case carries over.
      const instead = token.attention.classToken
        ? 'Gradient-weighted rollout (class-specific, through the attention) or HiResCAM (the gradient kept per token) point'
        : 'HiResCAM (the gradient kept per token) points';
      notes.push(`${spec.label} weighs each channel by the gradient pooled over all tokens, which on a vision transformer often ` +
        `lights background patches; ${instead} at the evidence more reliably`);
    }
    return notes;
  }

  /** Runs one planned method against a shared pass, timed, with its options and notes attached. */
  private async attribute(p: PlannedMethod, x: tf.Tensor, target: AttributionTarget, pass: SharedPass, progress?: ProgressListener,
    forwardMemo?: Map<string, Float32Array>): Promise<AttributionMap> {
    const name = p.impl.spec.name as MethodName;
    const batch = batchRunner(this.runtime, {
      progress: progress && ((done, total) => progress({ method: name, done, total })),
      maxRows: typeof p.options.batch === 'number' ? p.options.batch : undefined,
      forwardMemo,
    });
    const map = await p.impl.attribute({
      runtime: this.runtime, x, target, layers: p.layers, options: p.options, pass, batch,
      image: { height: this.imageSpec.height, width: this.imageSpec.width, channels: this.imageSpec.channels },
      preprocessing: this.preprocessing,
    });
    map.options = p.options;
    for (const note of this.camNotes(p.impl.spec, map, target)) (map.notes ??= []).push(note);
    return map;
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
    const options = opts.options ? { [opts.method]: opts.options } : undefined;
    const [planned] = this.plan([opts.method], options, opts.layer, opts.signed);
    const needs = planned.impl.needs(planned.layers);
    const gradTargets = needs.gradients ?? [];
    const t0 = now();
    const trace = await runtime.trace(x, unique([...(needs.keep ?? []), ...gradTargets.filter((t) => t !== 'input')]));
    const owned: tf.Tensor[] = [];
    try {
      const logits = trace.logits.dataSync() as Float32Array;
      const ranked = this.predictions(logits);
      const forward = now() - t0;
      const classes = opts.classes ?? ranked.slice(0, Math.min(opts.top ?? 4, n)).map((p) => p.index);
      const targets: AttributionTarget[] = classes.map((c) => ({ classIndex: c, seed: classSeed(n, c) }));
      const contrastPair: [number, number] | undefined = opts.contrast === 'top2'
        ? (ranked.length >= 2 ? [ranked[0].index, ranked[1].index] : undefined)
        : opts.contrast;
      if (contrastPair) {
        const [a, b] = contrastPair;
        const seed = classSeed(n, a);
        seed[b] -= 1;
        targets.push({ classIndex: a, seed, contrast: contrastPair });
      }
      // The gradients every target needs from the shared pass, in one backward run where the runtime takes several seeds.
      const prefetched = new Map<string, tf.Tensor[]>();
      if (trace.batchedSeeds && targets.length > 1 && gradTargets.length) {
        const rows = new Float32Array(targets.length * n);
        targets.forEach((t, i) => rows.set(t.seed, i * n));
        const seed = tf.tensor2d(rows, [targets.length, n]);
        owned.push(seed);
        const grads = await trace.vjp(seed, gradTargets);
        for (const [t, g] of grads) {
          const parts = tf.split(g, targets.length, 0);
          owned.push(g, ...parts);
          prefetched.set(t, parts);
        }
      }
      const all: AttributionMap[] = [];
      // Perturbation methods and Score-CAM run the same perturbed inputs for every class: each chunk runs once.
      const forwardMemo = new Map<string, Float32Array>();
      for (const [i, target] of targets.entries()) {
        const seed = tf.tensor2d(target.seed, [1, n]);
        owned.push(seed);
        const cache = new Map<string, tf.Tensor>();
        const pass: SharedPass = {
          logits,
          activation: (l) => trace.activation(l),
          async gradient(t) {
            const ready = prefetched.get(t)?.[i] ?? cache.get(t);
            if (ready) return ready;
            const g = (await trace.vjp(seed, [t])).get(t)!;
            owned.push(g);
            cache.set(t, g);
            return g;
          },
        };
        // A contrast keeps its sign: |∇(S_a − S_b)| would read the same for "a vs b" and "b vs a".
        const p = target.contrast && planned.options.signed === false ? { ...planned, options: { ...planned.options, signed: true } } : planned;
        all.push(await this.attribute(p, x, target, pass, opts.progress, forwardMemo));
      }
      const maps = all.slice(0, classes.length);
      const contrast = contrastPair ? { classes: contrastPair, map: all[classes.length] } : undefined;
      const total = now() - t0;
      return {
        predictions: classes.map((c) => ranked.find((p) => p.index === c)!),
        ranked, maps, contrast, layer: planned.layers[0],
        timings: { forward, backward: total - forward, total },
      };
    } finally {
      tf.dispose(owned);
      trace.dispose();
    }
  }

  /**
   * One forward pass and what the maps need from it: the predictions, the class explained, the layers'
   * activations and the class's gradients. Runtimes that can (ONNX Runtime) do it all in one run, with
   * the predicted class chosen inside it; the others trace once and differentiate per target.
   */
  private async forwardPass(x: tf.Tensor, target: string | number | undefined, keep: string[], targets: string[],
    early?: (logits: Float32Array) => void): Promise<Pass> {
    const runtime = this.runtime;
    if (runtime.explainPass && targets.length) {
      const fixed = target === undefined || target === 'top' ? 'top' : this.resolveTarget(target, 0);
      const pass = await runtime.explainPass(x, fixed, keep, targets, early);
      return {
        fused: true,
        logits: pass.logits,
        ranked: this.predictions(pass.logits),
        classIndex: pass.classIndex,
        activation: (l) => pass.activations.get(l)!,
        gradient: async (t) => pass.grads.get(t)!,
        dispose: () => [...pass.activations.values(), ...pass.grads.values()].forEach((t) => t.dispose()),
      };
    }
    // A class given by index or label is checked before the trace, so a bad one leaves nothing behind.
    const fixed = target === undefined || target === 'top' ? undefined : this.resolveTarget(target, 0);
    const trace = await runtime.trace(x, keep, early);
    const logits = trace.logits.dataSync() as Float32Array;
    const ranked = this.predictions(logits);
    const classIndex = fixed ?? ranked[0].index;
    const seed = tf.tensor2d(classSeed(runtime.numClasses, classIndex), [1, runtime.numClasses]);
    const owned: tf.Tensor[] = [seed];
    const cache = new Map<string, tf.Tensor>();
    return {
      fused: false,
      logits,
      ranked,
      classIndex,
      activation: (l) => trace.activation(l),
      gradient: async (t) => {
        let g = cache.get(t);
        if (!g) {
          g = (await trace.vjp(seed, [t])).get(t)!;
          owned.push(g);
          cache.set(t, g);
        }
        return g;
      },
      dispose: () => {
        owned.forEach((t) => t.dispose());
        trace.dispose();
      },
    };
  }

  /** Explains one preprocessed input. One forward pass serves predictions and what every method shares. */
  explainTensor(x: tf.Tensor, opts: ExplainOptions = {}): Promise<TensorExplanation> {
    return this.guarded(() => this.explainNow(x, opts));
  }

  private async explainNow(x: tf.Tensor, opts: ExplainOptions): Promise<TensorExplanation> {
    const planned = this.plan(opts.methods ?? DEFAULT_METHODS, opts.options, opts.layer, opts.signed);
    const needs = planned.map((p) => p.impl.needs(p.layers));
    const keep = unique(needs.flatMap((n) => n.keep ?? []));
    const targets = unique(needs.flatMap((n) => n.gradients ?? []));
    const timings: Record<string, number> = {};
    const t0 = now();
    const topK = opts.topK ?? 5;
    let told = false;
    // The predictions as soon as there are logits: from a forward run ahead of a pass still being prepared.
    const tell = (ranked: Prediction[], classIndex: number) => {
      if (told || !opts.partial) return;
      told = true;
      opts.partial({ kind: 'predictions', predictions: ranked.slice(0, topK), target: ranked.find((p) => p.index === classIndex)! });
    };
    const early = opts.partial && ((logits: Float32Array) => {
      const ranked = this.predictions(logits);
      tell(ranked, opts.target === undefined || opts.target === 'top' ? ranked[0].index : this.resolveTarget(opts.target, 0));
    });
    const pass = await this.forwardPass(x, opts.target, keep, targets, early);
    try {
      const { ranked, classIndex } = pass;
      // A fused pass is forward and backward in one run: timed as `pass`, the maps after it only reduce.
      timings[pass.fused ? 'pass' : 'forward'] = now() - t0;
      const target = ranked.find((p) => p.index === classIndex)!;
      const predictions = ranked.slice(0, topK);
      tell(ranked, classIndex);
      const maps: AttributionMap[] = [];
      for (const p of planned) {
        const t1 = now();
        const map = await this.attribute(p, x, { classIndex, seed: classSeed(this.runtime.numClasses, classIndex) }, pass, opts.progress);
        timings[p.impl.spec.name] = now() - t1;
        maps.push(map);
        opts.partial?.({ kind: 'map', map });
      }
      timings.total = now() - t0;
      const notes = maps.flatMap((m) => m.notes ?? []);
      return { predictions, target, maps, timings, notes };
    } finally {
      pass.dispose();
    }
  }

  async explainImage(pixels: DecodedImage, file: string, opts: ExplainOptions = {}): Promise<ImageExplanation> {
    const { x, inputRegion } = this.prepareInput(pixels);
    try {
      const result = await this.explainTensor(x, opts);
      const sensitivity = opts.sensitivity ? await this.sensitivityOf(pixels, result.predictions[0]) : undefined;
      // A framework's arithmetic is reproduced on the file's pixels; a huge image is only held downscaled.
      const notes = pixels.original && !isHistoric(this.pipeline)
        ? [...result.notes, `The image is larger than ${WORKING_LONG_SIDE} px, so its model input was prepared from a downscaled copy and may differ slightly from what ${this.pipeline.name} gives.`]
        : result.notes;
      return {
        ...result,
        notes,
        ...(sensitivity ? { sensitivity } : {}),
        image: { file, ...realSize(pixels), format: pixels.format },
        pixels,
        modelInput: this.imageSpec,
        inputRegion,
        preprocessing: this.preprocessingText,
      };
    } finally {
      x.dispose();
    }
  }

  async explainFile(file: string, opts: ExplainOptions = {}): Promise<ImageExplanation> {
    return this.explainImage(await loadImageFile(file), file, opts);
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
      preprocessing: { spec: this.preprocessingText, source: this.preprocessingSource },
      layers,
      totalParams: layers.reduce((n, l) => n + l.params, 0),
      spatialLayers: rt.spatialLayers(),
      defaultSpatialLayer: rt.defaultSpatialLayer(),
      defaultSpatialLayerReason: rt.defaultSpatialLayerReason?.(),
      attentionBlocks: rt.kind === 'onnx' ? (rt as OnnxRuntime).attentionLayout()?.tensors.length : undefined,
      warnings: this.model.warnings,
    };
  }

  dispose(): void {
    this.runtime.dispose();
  }
}
