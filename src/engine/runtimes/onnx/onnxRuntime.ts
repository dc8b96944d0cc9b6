import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { fileError, firstLine, UserError } from '../../errors';
import type { ExplainPass, GradientOptions, SpatialLayer, LayerRow, ModelRuntime, OutputActivation, Trace } from '../types';
import { emitBackward } from './backward';
import { OnnxGraph, type GNode } from './graph';
import { Emitter } from './emitter';
import { BATCH, NotBatchable } from './gradRules';
import { analyzeModel, analyzeOnnx, OnnxLoadOptions, OnnxModel } from './onnxModel';
import type { ConvertedModel } from '../../convert/types';
import { fullLayerName, layerLabel, moduleOutputs } from '../../../shared/layerNames';
import { unknownLayer } from '../../methods/layers';
import { isFloatType, tensorBytes } from './proto';
import { buildSessionModel, handedOutNhwc, refuseFor, SessionModel, SessionPlan } from './sessionModel';
import { weightLayers, WeightLayer, withReplacedInitializers, learnedParameterCount } from './weights';
import { blindTokenLayers, findPatchEmbedding, layoutsFromGeometry, PatchEmbedding, TokenGrid, tokenGrids } from './tokenGrid';
import { AttentionGradients, AttentionLayout, AttentionMatrices, AttentionSource, findAttention, headsFirst } from './attention';
import { holdCopies } from './weightFile';

/** Sessions kept at most, however small the model. */
const MAX_SESSIONS = 6;

/**
 * Each session holds its own copy of the weights and ORT's prepacked forms of them: measured about 3×
 * the weight bytes per session (ResNet-18: 47 MB of weights, ~150 MB per session). The sessions kept
 * are budgeted to about 1.5 GiB in all, always at least the session in use. Tests lower it.
 */
export const SESSION_BUDGET = { bytes: 1.5 * 2 ** 30 };
const BYTES_PER_WEIGHT_BYTE = 3;

/**
 * Candidates that only pool, pad, reshape or pass values through: Grad-CAM's default skips them for the
 * layer before (sharper, and axes 1–2 are still image space), as the TF.js runtimes do.
 */
const RESAMPLING = new Set(['MaxPool', 'AveragePool', 'LpPool', 'Pad', 'Dropout', 'Reshape', 'Flatten', 'Transpose', 'Identity',
  'Squeeze', 'Unsqueeze', 'Slice', 'Split', 'Cast', 'Resize', 'Upsample', 'DepthToSpace', 'SpaceToDepth']);

/** Ops that only move or relabel values. */
const REARRANGING = new Set(['Transpose', 'Reshape', 'Identity', 'Cast', 'Squeeze', 'Unsqueeze', 'Flatten', 'Dropout']);

/** What batched runs of one kind (forward, gradient, guided gradient) do: run as one batch, or row by row and why. */
export type BatchDecision = { batched: true } | { batched: false; reason: string };

/** Batched and single runs agree when ‖batched − single‖ ≤ this × ‖single‖ (float32 reordering; mixed rows are far off). */
const BATCH_AGREEMENT = 1e-3;

/** Values of n rows, row-major: the logits and (gradient runs) the input gradient as handed out. */
interface RowValues {
  logits: Float32Array;
  grad?: Float32Array;
}

interface SessionEntry {
  ready: Promise<{ session: ort.InferenceSession; model: SessionModel }>;
  busy: number;
  lastUsed: number;
}

/** A tensor's values as the Float32Array ONNX Runtime takes (tfjs's cpu backend may hand back other arrays after a cast). */
function float32Of(t: tf.Tensor): Float32Array {
  const data = t.dataSync();
  return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
}

function defaultThreads(): number {
  const fromEnv = Number(process.env.SALIENCY_LENS_ORT_THREADS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 8));
}

/**
 * An ONNX model run by ONNX Runtime (native). Gradients come from backward graphs this runtime writes
 * with standard ONNX ops (gradRules.ts) and appends to the model, so ORT runs them natively too.
 * Sessions are built once per job and cached: forward (predictions), forward keeping a layer, and one
 * forward+backward session per set of gradient targets (input, a Grad-CAM layer, …). A gradient
 * session recomputes the forward pass inside ORT rather than shipping activations back and forth.
 * Batched sessions (forwardBatch, gradientBatch) take a free batch axis, so one serves every chunk size;
 * graphs that would mix rows run one row at a time instead (batching.ts, and a check against single runs).
 */
export class OnnxRuntime implements ModelRuntime, AttentionSource {
  readonly kind = 'onnx' as const;
  readonly inputShape: number[];
  readonly numClasses: number;
  readonly outputActivation: OutputActivation;
  readonly outputName: string;
  /** Preprocessing to assume without a saliency-lens.json: ImageNet statistics for 3-channel NCHW (PyTorch) models. */
  readonly defaultPreprocessing?: string;
  private readonly sessions = new Map<string, SessionEntry>();
  /** Target sets whose backward path mixes the seed axis: run one seed at a time. */
  private readonly oneSeedOnly = new Set<string>();
  /** Per batched session key: whether its batched runs matched single runs, or why rows run one at a time. */
  private readonly batching = new Map<string, BatchDecision>();
  /** Guided Backpropagation changes the Relu rule of the backward graphs (gradRules.ts). */
  readonly backwardRules = ['guided'] as const;
  private candidates?: SpatialLayer[];
  private chosen?: { name?: string; reason?: string };
  private blind?: Set<string>;
  /** The patch-embedding convolution of a transformer, and the token tensors read as its grid (tokenGrid.ts). */
  readonly patchEmbedding?: PatchEmbedding;
  private readonly grids: ReadonlyMap<string, TokenGrid> = new Map();
  /** 4-D tensors whose image axes cannot be told (tokenGrid.ts layoutsFromGeometry): not listed as spatial layers. */
  private readonly unreadable: ReadonlySet<string> = new Set();
  /** A transformer's attention probabilities (attention.ts); null once known to have none. */
  private attention?: AttentionLayout | null;
  private clock = 0;
  private disposed = false;
  /** Bytes of the model's initializers: what each session copies. */
  private readonly weightBytes: number;
  /** Lets go of the private copies of the weights this runtime's sessions map (weightFile.ts). */
  private readonly releaseCopies: () => void;

  static async load(file: string, opts: OnnxLoadOptions = {}): Promise<OnnxRuntime> {
    const threads = opts.threads ?? defaultThreads();
    const runtime = new OnnxRuntime(await analyzeOnnx(file, opts, threads), threads);
    try {
      runtime.checkGradients();
    } catch (err) {
      runtime.dispose();
      throw err;
    }
    return runtime;
  }

  /**
   * A TensorFlow model converted to ONNX (src/engine/convert): run natively, listed and addressed by the
   * source's own layer names and shapes. `file` is the model's file, named in messages.
   */
  static async fromConverted(file: string, converted: ConvertedModel, opts: OnnxLoadOptions = {}): Promise<OnnxRuntime> {
    const threads = opts.threads ?? defaultThreads();
    // Encoded and decoded once: the graph code reads protobufjs messages (Long fields, defaults), as from a file.
    const proto = onnx.ModelProto.decode(onnx.ModelProto.encode(converted.model).finish());
    const layout = converted.input.dims.length === 4 ? 'NHWC' : 'asis';
    const facts = { outputs: [converted.output], layouts: converted.layouts };
    const model = await analyzeModel(file, proto, [], { ...opts, layout, output: 0 }, threads, facts);
    const runtime = new OnnxRuntime(model, threads, converted);
    runtime.checkGradients();
    return runtime;
  }

  private constructor(readonly model: OnnxModel, readonly threads: number, private readonly source?: ConvertedModel) {
    const { dims, layout } = model.input;
    this.inputShape = layout === 'NCHW' ? [dims[2], dims[3], dims[1]] : dims.slice(1);
    this.numClasses = (model.facts.shapes.get(model.output.logits) ?? []).reduce((a, b) => a * b, 1);
    this.outputActivation = model.output.activation;
    this.outputName = model.output.name;
    if (layout === 'NCHW' && dims[1] === 3) this.defaultPreprocessing = 'imagenet';
    this.weightBytes = [...model.graph.initializers.values()].reduce((n, t) => n + tensorBytes(t), 0);
    this.releaseCopies = holdCopies(model.graph.model.graph?.initializer ?? []);
    if (!source) {
      // Tensors permuted to channels-last inside Swin/ConvNeXt blocks are handed out as such, not misread as NCHW.
      const geometry = layoutsFromGeometry(model);
      for (const [t, l] of geometry.layouts) model.layouts.set(t, l);
      this.unreadable = geometry.unreadable;
      this.patchEmbedding = findPatchEmbedding(model);
      this.grids = tokenGrids(model, this.patchEmbedding);
    }
  }

  /** The layers with weights, from the output back (weights.ts). */
  /** The learned parameters the logits depend on (weights.ts `learnedParameterCount`): what randomized layers cover. */
  learnedParameterCount(): number {
    return learnedParameterCount(this.model);
  }

  weightLayers(): WeightLayer[] {
    const sourceLayers = this.source?.layers.map((l) => ({ name: l.name, type: l.type, params: l.params, tensor: l.tensor }));
    return weightLayers({ model: this.model, sourceLayers });
  }

  /**
   * A new runtime over a copy of this model whose named float initializers hold other values (same
   * sizes): for sanity checks on randomized weights. This runtime, its model and the user's file are
   * untouched; the copy has its own sessions, so dispose it when done.
   */
  async withInitializers(replaced: ReadonlyMap<string, Float32Array>): Promise<OnnxRuntime> {
    const proto = withReplacedInitializers(this.model.graph.model, replaced);
    const graph = new OnnxGraph(proto, this.model.graph.opset, this.file);
    // Shapes stay; the probe's values (constants the backward rules read) stay unless computed from a replaced weight.
    const changed = graph.descendants(replaced.keys(), undefined, false);
    if (![...this.model.facts.values.keys()].some((t) => changed.has(t))) {
      return new OnnxRuntime({ ...this.model, graph }, this.threads, this.source);
    }
    const { dims, layout } = this.model.input;
    if (this.source) {
      const facts = { outputs: [this.source.output], layouts: this.source.layouts };
      const model = await analyzeModel(this.file, proto, [], { layout, output: 0 }, this.threads, facts);
      return new OnnxRuntime(model, this.threads, this.source);
    }
    // The size this model was loaded at, in the [height, width, channels] order analyzeModel reads for free dimensions.
    const inputShape = dims.length === 4 ? (layout === 'NHWC' ? dims.slice(1) : [dims[2], dims[3], dims[1]]) : dims.slice(1);
    const model = await analyzeModel(this.file, proto, this.model.externalFiles, { layout, inputShape, output: this.outputName }, this.threads);
    return new OnnxRuntime(model, this.threads);
  }

  /** Sessions kept at once: as many as fit in the weight budget, at least one, at most MAX_SESSIONS. */
  get sessionLimit(): number {
    const perSession = Math.max(1, this.weightBytes * BYTES_PER_WEIGHT_BYTE);
    return Math.min(MAX_SESSIONS, Math.max(1, Math.floor(SESSION_BUDGET.bytes / perSession)));
  }

  /** What the model was converted from, when it was not an ONNX file. */
  get convertedFrom(): string | undefined {
    return this.source?.source;
  }

  get file(): string {
    return this.model.file;
  }

  /** Refuses at load time what a saliency map would refuse later: an op without a rule between input and logits. */
  private checkGradients(): void {
    const g = this.model.graph;
    emitBackward(g, this.model.facts, new Emitter(g.opset, new Set(g.names)),
      { logits: this.model.output.logits, seed: 'seed', seeds: 1, targets: [this.model.input.name] }, refuseFor(this.file));
  }

  /** A layer given by node name or tensor name (or 'input') → the tensor. */
  resolveTensor(layer: string): string {
    if (layer === 'input') return this.model.input.name;
    if (this.source) {
      const name = this.canonicalLayerName(layer);
      const found = name ? this.source.layers.find((l) => l.name === name) : undefined;
      if (found?.tensor) return found.tensor;
      if (found) throw new UserError(`layer "${found.name}" does not lead to the output "${this.outputName}"`);
      const names = this.spatialLayers().map((c) => c.name);
      throw unknownLayer(layer, names);
    }
    const node = this.model.graph.byName.get(layer);
    if (node) return node.outputs[0];
    if (this.model.facts.shapes.has(layer) && !this.model.graph.initializers.has(layer)) return layer;
    const module = this.moduleOutput(layer);
    if (module) return this.model.graph.byName.get(module)!.outputs[0];
    const names = this.spatialLayers().map((c) => c.name);
    throw unknownLayer(layer, names);
  }

  /**
   * A tensor name → the name of the node producing it (the name layers are listed by); a PyTorch module
   * path (`encoder.layers.encoder_layer_11.ln_1`) → the spatial layer that is the module's output.
   */
  canonicalLayerName(name: string): string | undefined {
    if (this.source) return sourceLayerName(this.source, name);
    if (this.model.graph.byName.has(name)) return name;
    const node = this.model.graph.producer.get(name);
    if (node) return node.outputs[0] === name ? node.name : undefined;
    return this.moduleOutput(name);
  }

  /**
   * A layer as shown (layerNames.ts): a PyTorch module path (`layer4`, `encoder.layers.encoder_layer_11.ln_1`)
   * → the spatial layer that is the module's output; `layer1.0/Add` or `fc/Gemm` → that node.
   */
  private moduleOutput(path: string): string | undefined {
    const spatial = this.spatialLayers().map((c) => c.name);
    return moduleOutputs(spatial).get(path) ?? fullLayerName(spatial, path)
      // A layer as the layer table shows it (the CLI's inspect), spatial or not.
      ?? fullLayerName(this.layerTable().map((l) => l.name), path, spatial);
  }

  /** Shape of a tensor as handed out: NHWC for 4-D NCHW tensors, [rows, h, w, C] for token tensors. */
  private handedShape(tensor: string, seeds = 1): number[] {
    const grid = this.grids.get(tensor);
    if (grid) return [seeds, grid.height, grid.width, grid.channels];
    const s = this.model.facts.shapes.get(tensor)!;
    const shape = handedOutNhwc(this.model, tensor) ? [s[0], s[2], s[3], s[1]] : [...s];
    if (shape.length) shape[0] = shape[0] === 1 ? seeds : shape[0];
    return shape;
  }

  private session(key: string, plan: SessionPlan): SessionEntry {
    let entry = this.sessions.get(key);
    if (!entry) {
      const model = buildSessionModel(this.model, plan, this.grids);
      const what = plan.grads ? `gradient graph for ${plan.grads.targets.join(', ')}` : 'model';
      const ready = ort.InferenceSession.create(model.bytes, {
        graphOptimizationLevel: 'all',
        intraOpNumThreads: this.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        logSeverityLevel: 3,
        // The memory pattern pre-plans one block per run on top of the arena: measured on ViT-B/16's gradient
        // session, 1.17 GB peak with it, 1.04 GB without, runs as fast (ResNet-18: 24 ms either way).
        enableMemPattern: false,
        // Several sessions take turns on the same cores, and idle threads that keep spinning after a run
        // steal them from the next session: stop spinning when a run ends (spinning within a run stays).
        // Measured, explaining one image (forward, Grad-CAM, saliency), 2 threads: ResNet-18 92–109 ms with
        // spinning, 38–43 ms without any, 36 ms stopping at the end of each run; MobileNetV2 58 / 23 / 18 ms.
        extra: { session: { force_spinning_stop: '1', ...model.config } },
      }).then((session) => ({ session, model }), (err) => {
        this.sessions.delete(key);
        throw fileError(this.file, `ONNX Runtime could not prepare the ${what} (${firstLine(err)})`);
      });
      entry = { ready, busy: 0, lastUsed: 0 };
      this.sessions.set(key, entry);
      this.evict(key);
    }
    entry.lastUsed = ++this.clock;
    return entry;
  }

  /** Releases the least recently used idle sessions beyond sessionLimit, never the one just asked for nor busy ones. */
  private evict(keep: string): void {
    const limit = this.sessionLimit;
    while (this.sessions.size > limit) {
      const idle = [...this.sessions].filter(([k, e]) => e.busy === 0 && k !== keep).sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0];
      if (!idle) return;
      this.sessions.delete(idle[0]);
      idle[1].ready.then(({ session }) => session.release(), () => undefined);
    }
  }

  private async run(key: string, plan: SessionPlan, feeds: (m: SessionModel) => Record<string, ort.Tensor>) {
    if (this.disposed) throw new Error('the ONNX runtime was disposed');
    const entry = this.session(key, plan);
    entry.busy++;
    try {
      const { session, model } = await entry.ready;
      return { model, out: await session.run(feeds(model)) };
    } finally {
      entry.busy--;
      entry.lastUsed = ++this.clock;
      // Sessions kept past the limit while busy go once idle.
      if (!this.disposed) this.evict(key);
    }
  }

  private feedOf(x: tf.Tensor): Float32Array {
    const { dims, layout } = this.model.input;
    const expected = dims.reduce((a, b) => a * b, 1);
    if (x.size !== expected) {
      throw new Error(`input of ${x.size} values for a model that takes ${expected} (${layout} ${JSON.stringify(dims)})`);
    }
    return float32Of(x);
  }

  async trace(x: tf.Tensor, keep: string[] = [], early?: (logits: Float32Array) => void): Promise<Trace> {
    const tensors = keep.map((k) => this.resolveTensor(k));
    const data = this.feedOf(x);
    const unique = [...new Set(tensors)];
    const key = `forward|${unique.join('|')}`;
    if (early && unique.length) await this.tellEarly(x, key, early);
    const { model, out } = await this.run(key, { logits: true, keep: unique },
      (m) => ({ [m.feed]: new ort.Tensor('float32', data, m.feedDims) }));
    const logits = tf.tensor2d(out[model.logits!].data as Float32Array, [1, this.numClasses]);
    const activations = new Map<string, tf.Tensor>();
    keep.forEach((layer, i) => {
      const value = out[model.kept.get(tensors[i])!];
      activations.set(layer, tf.tensor(value.data as Float32Array, this.handedShape(tensors[i])));
    });
    const runtime = this;
    return {
      logits,
      activation(layer: string) {
        const a = activations.get(layer);
        if (!a) throw new Error(`layer "${layer}" was not kept: name it in trace(x, keep)`);
        return a as tf.Tensor4D;
      },
      vjp: (seed: tf.Tensor2D, targets: string[]) => runtime.vjp(data, seed, targets),
      batchedSeeds: true,
      dispose() {
        logits.dispose();
        activations.forEach((a) => a.dispose());
      },
    };
  }

  /** The attention Softmax of each block of a ViT-style model, or undefined (CNNs, windowed attention, converted models). */
  attentionLayout(): AttentionLayout | undefined {
    if (this.attention === undefined) this.attention = (this.source ? undefined : findAttention(this.model, this.patchEmbedding, this.grids)) ?? null;
    return this.attention ?? undefined;
  }

  /** Every block's attention probabilities for x, from one forward run that keeps them. */
  async attentionMatrices(x: tf.Tensor): Promise<AttentionMatrices> {
    const layout = this.requiredAttention();
    const data = this.feedOf(x);
    const { model, out } = await this.run('attention', { logits: false, keep: layout.tensors },
      (m) => ({ [m.feed]: new ort.Tensor('float32', data, m.feedDims) }));
    return { ...layout, blocks: this.perBlock(layout, out, model.kept) };
  }

  /**
   * Every block's attention probabilities for x and the gradient of seed·logits with respect to each, from
   * one run (the forward that keeps them and the backward to them).
   */
  async attentionGradients(x: tf.Tensor, seed: Float32Array): Promise<AttentionGradients> {
    const layout = this.requiredAttention();
    if (seed.length !== this.numClasses) throw new Error(`seed of ${seed.length} classes for a model with ${this.numClasses}`);
    const data = this.feedOf(x);
    const targets = [...layout.tensors].sort();
    const { model, out } = await this.run(`attention-grad|${targets.join('|')}`, { logits: false, keep: layout.tensors, grads: { targets, seeds: 1 } },
      (m) => ({ [m.feed]: new ort.Tensor('float32', data, m.feedDims), [m.seed!]: new ort.Tensor('float32', seed, [1, this.numClasses]) }));
    return { ...layout, blocks: this.perBlock(layout, out, model.kept), gradients: this.perBlock(layout, out, model.grads) };
  }

  private requiredAttention(): AttentionLayout {
    const layout = this.attentionLayout();
    if (!layout) throw new UserError(`the model ${this.file} has no attention over its patch tokens`);
    return layout;
  }

  /** Each block's tensor among a run's outputs as [heads, T, T] (zeros for a gradient the run does not reach). */
  private perBlock(layout: AttentionLayout, out: ort.InferenceSession.OnnxValueMapType, outputOf: ReadonlyMap<string, string | undefined>): Float32Array[] {
    return layout.tensors.map((t, i) => {
      const name = outputOf.get(t);
      const values = name ? out[name].data as Float32Array : new Float32Array(layout.heads[i] * layout.tokens ** 2);
      return headsFirst(values, layout.heads[i], layout.tokens, handedOutNhwc(this.model, t));
    });
  }

  /** The logits from the plain forward session, when the session `key` is still to be prepared. */
  private async tellEarly(x: tf.Tensor, key: string, early: (logits: Float32Array) => void): Promise<void> {
    if (this.sessions.has(key)) return;
    const trace = await this.trace(x);
    try {
      early(trace.logits.dataSync() as Float32Array);
    } finally {
      trace.dispose();
    }
  }

  /** Predictions, activations and one class's gradients in one run (see ModelRuntime.explainPass). */
  async explainPass(x: tf.Tensor, target: number | 'top', keep: string[], targets: string[], early?: (logits: Float32Array) => void): Promise<ExplainPass> {
    const data = this.feedOf(x);
    const keptTensors = keep.map((k) => this.resolveTensor(k));
    const gradTensors = targets.map((t) => this.resolveTensor(t));
    const uniqueKept = [...new Set(keptTensors)];
    const uniqueGrads = [...new Set(gradTensors)].sort();
    const top = target === 'top';
    if (!top && !(Number.isInteger(target) && target >= 0 && target < this.numClasses)) throw new Error(`class ${target} out of range`);
    const key = `pass|${top ? 'top' : 'seed'}|${uniqueKept.join('|')}|${uniqueGrads.join('|')}`;
    if (early) await this.tellEarly(x, key, early);
    const { model, out } = await this.run(key, { logits: true, keep: uniqueKept, grads: { targets: uniqueGrads, seeds: 1, top } }, (m) => {
      const feeds: Record<string, ort.Tensor> = { [m.feed]: new ort.Tensor('float32', data, m.feedDims) };
      if (m.seed) {
        const seed = new Float32Array(this.numClasses);
        seed[target as number] = 1;
        feeds[m.seed] = new ort.Tensor('float32', seed, [1, this.numClasses]);
      }
      return feeds;
    });
    const logits = Float32Array.from(out[model.logits!].data as Float32Array);
    // ArgMax in the graph returns the first maximum, as this does.
    const classIndex = top ? logits.reduce((best, v, i) => (v > logits[best] ? i : best), 0) : (target as number);
    const activations = new Map<string, tf.Tensor4D>(keep.map((layer, i) => {
      const value = out[model.kept.get(keptTensors[i])!].data as Float32Array;
      const a: tf.Tensor = tf.tensor(value, this.handedShape(keptTensors[i]));
      return [layer, a as tf.Tensor4D];
    }));
    const grads = new Map<string, tf.Tensor>(targets.map((t, i) => {
      const name = model.grads.get(gradTensors[i]);
      const shape = this.handedShape(gradTensors[i]);
      return [t, name ? tf.tensor(out[name].data as Float32Array, shape) : tf.zeros(shape)];
    }));
    return { logits, classIndex, activations, grads };
  }

  /** seed·∂logits/∂target for each target; a seed of several rows gives gradients with that many rows. */
  async vjp(input: Float32Array, seed: tf.Tensor2D, targets: string[]): Promise<Map<string, tf.Tensor>> {
    const [rows, classes] = seed.shape;
    if (classes !== this.numClasses) throw new Error(`seed of ${classes} classes for a model with ${this.numClasses}`);
    const tensors = targets.map((t) => this.resolveTensor(t));
    const unique = [...new Set(tensors)].sort();
    const seedData = float32Of(seed);
    const setKey = unique.join('|');
    let values: Map<string, Float32Array> | undefined;
    if (rows > 1 && !this.oneSeedOnly.has(setKey)) {
      try {
        values = await this.gradients(input, seedData, rows, unique);
      } catch (err) {
        if (!(err instanceof NotBatchable)) throw err;
        this.oneSeedOnly.add(setKey);
      }
    }
    if (!values) {
      const parts: Map<string, Float32Array>[] = [];
      for (let r = 0; r < rows; r++) {
        parts.push(await this.gradients(input, seedData.subarray(r * classes, (r + 1) * classes), 1, unique));
      }
      values = new Map(unique.map((t) => {
        const joined = new Float32Array(parts.reduce((n, p) => n + p.get(t)!.length, 0));
        let at = 0;
        for (const p of parts) {
          joined.set(p.get(t)!, at);
          at += p.get(t)!.length;
        }
        return [t, joined];
      }));
    }
    return new Map(targets.map((target, i) => [target, tf.tensor(values!.get(tensors[i])!, this.handedShape(tensors[i], rows))]));
  }

  private async gradients(input: Float32Array, seed: Float32Array, seeds: number, tensors: string[]): Promise<Map<string, Float32Array>> {
    const key = `grad|${seeds}|${tensors.join('|')}`;
    const { model, out } = await this.run(key, { logits: false, keep: [], grads: { targets: tensors, seeds } }, (m) => ({
      [m.feed]: new ort.Tensor('float32', input, m.feedDims),
      [m.seed!]: new ort.Tensor('float32', seed, [seeds, this.numClasses]),
    }));
    return new Map(tensors.map((t) => {
      const name = model.grads.get(t);
      const size = this.handedShape(t, seeds).reduce((a, b) => a * b, 1);
      return [t, name ? (out[name].data as Float32Array) : new Float32Array(size)];
    }));
  }

  /** What batched runs of a kind do so far ('forward', 'gradient', 'guided'); undefined until decided. */
  batchDecision(kind: 'forward' | 'gradient' | 'guided'): BatchDecision | undefined {
    return this.batching.get(batchKey(kind));
  }

  /** Logits of a batch x [n, ...inputShape], n·classes values row by row, in one run where the graph batches. */
  async forwardBatch(x: tf.Tensor): Promise<Float32Array> {
    const { n, data } = this.batchFeed(x);
    return (await this.rows('forward', n, data)).logits;
  }

  /**
   * For each row i of x [n, ...inputShape], the gradient of seeds[i]·logits(x_i) with respect to the
   * input ([n, ...inputShape], as vjp hands out 'input') and the rows' logits, in one run where the
   * graph batches. `guided`: Guided Backpropagation's ReLU rule.
   */
  async gradientBatch(x: tf.Tensor, seeds: tf.Tensor2D, opts: GradientOptions = {}): Promise<{ logits: Float32Array; gradient: tf.Tensor }> {
    const { n, data } = this.batchFeed(x);
    if (seeds.shape[0] !== n || seeds.shape[1] !== this.numClasses) {
      throw new Error(`seeds of shape ${JSON.stringify(seeds.shape)} for ${n} inputs of a model with ${this.numClasses} classes`);
    }
    const values = await this.rows(opts.guided ? 'guided' : 'gradient', n, data, float32Of(seeds));
    return { logits: values.logits, gradient: tf.tensor(values.grad!, [n, ...this.inputShape]) };
  }

  private batchFeed(x: tf.Tensor): { n: number; data: Float32Array } {
    const n = x.shape[0] ?? 0;
    const size = this.model.input.dims.reduce((a, b) => a * b, 1);
    if (x.rank < 1 || x.size !== n * size) {
      throw new Error(`a batch of shape ${JSON.stringify(x.shape)} for a model that takes [n, ${this.inputShape.join(', ')}]`);
    }
    return { n, data: float32Of(x) };
  }

  /**
   * n rows in one batched run, unless this kind of run is known not to batch. The first batched run of
   * several distinct rows is checked against runs of its first row alone and of its last row that differs
   * from the first (through the same session: with one row, the batched graph is the model's own, so
   * any difference comes from rows mixing); a graph that fails to batch, or whose rows disagree, runs
   * one row at a time through single-input sessions from then on (still correct, only slower).
   */
  private async rows(kind: 'forward' | 'gradient' | 'guided', n: number, data: Float32Array, seeds?: Float32Array): Promise<RowValues> {
    const key = batchKey(kind);
    const rowSize = data.length / Math.max(n, 1);
    const classes = this.numClasses;
    const rowData = (r: number) => data.subarray(r * rowSize, (r + 1) * rowSize);
    const rowSeed = (r: number) => seeds?.subarray(r * classes, (r + 1) * classes);
    if (n === 0) return { logits: new Float32Array(0), grad: seeds ? new Float32Array(0) : undefined };
    if (this.batching.get(key)?.batched !== false) {
      let out: RowValues | undefined;
      try {
        out = await this.batchedRun(kind, n, data, seeds);
      } catch (err) {
        if (this.disposed) throw err;
        this.refuseBatching(key, err instanceof NotBatchable ? err.message : `ONNX Runtime could not run it (${firstLine(err)})`);
      }
      if (out && (n === 1 || this.batching.get(key)?.batched)) return out;
      if (out) {
        const last = lastDistinctRow(data, n, rowSize);
        const checks = [...new Set([0, last ?? 0])];
        let agree = true;
        for (const r of checks) {
          const one = await this.batchedRun(kind, 1, rowData(r), rowSeed(r));
          const error = Math.max(relativeL2(rowOf(out.logits, r, classes), one.logits),
            one.grad ? relativeL2(rowOf(out.grad!, r, rowSize), one.grad) : 0);
          if (!(error <= BATCH_AGREEMENT)) {
            agree = false;
            this.refuseBatching(key, `row ${r} of a batched run differs from a single run (relative error ${error.toExponential(1)})`);
            break;
          }
        }
        // Identical rows cannot show rows mixing: decide on a later batch.
        if (agree && last !== undefined) this.batching.set(key, { batched: true });
        if (agree) return out;
      }
    }
    const result: RowValues = { logits: new Float32Array(n * classes), grad: seeds ? new Float32Array(n * rowSize) : undefined };
    for (let r = 0; r < n; r++) {
      const one = await this.singleRow(kind, rowData(r), rowSeed(r));
      result.logits.set(one.logits, r * classes);
      if (result.grad) result.grad.set(one.grad!, r * rowSize);
    }
    return result;
  }

  private refuseBatching(key: string, reason: string): void {
    this.batching.set(key, { batched: false, reason });
    // Its session (if one was made) will not be used again.
    const entry = this.sessions.get(key);
    if (entry && entry.busy === 0) {
      this.sessions.delete(key);
      entry.ready.then(({ session }) => session.release(), () => undefined);
    }
  }

  /** One run of the batched session of this kind: the feed and seeds take n rows. */
  private async batchedRun(kind: 'forward' | 'gradient' | 'guided', n: number, data: Float32Array, seeds?: Float32Array): Promise<RowValues> {
    const input = this.model.input.name;
    const plan: SessionPlan = kind === 'forward'
      ? { logits: true, keep: [], batched: true }
      : { logits: true, keep: [], batched: true, grads: { targets: [input], seeds: BATCH, guided: kind === 'guided' } };
    const { model, out } = await this.run(batchKey(kind), plan, (m) => {
      const feeds: Record<string, ort.Tensor> = { [m.feed]: new ort.Tensor('float32', data, [n, ...m.feedDims.slice(1)]) };
      if (m.seed) feeds[m.seed] = new ort.Tensor('float32', seeds!, [n, this.numClasses]);
      return feeds;
    });
    const values = this.rowValues(model, out, n, !!seeds);
    // A graph that pins a batch of 1 somewhere gives the wrong number of rows.
    if (values.logits.length !== n * this.numClasses || (values.grad && values.grad.length !== data.length)) {
      throw new NotBatchable(`a batched run of ${n} rows gave ${values.logits.length / this.numClasses} rows of logits`);
    }
    return values;
  }

  /** One input row through a single-input session: the forward session, or a gradient session that also gives the logits. */
  private async singleRow(kind: 'forward' | 'gradient' | 'guided', data: Float32Array, seed?: Float32Array): Promise<RowValues> {
    const input = this.model.input.name;
    const key = kind === 'forward' ? 'forward|' : `row|${kind}|${input}`;
    const plan: SessionPlan = kind === 'forward'
      ? { logits: true, keep: [] }
      : { logits: true, keep: [], grads: { targets: [input], seeds: 1, guided: kind === 'guided' } };
    const { model, out } = await this.run(key, plan, (m) => {
      const feeds: Record<string, ort.Tensor> = { [m.feed]: new ort.Tensor('float32', data, m.feedDims) };
      if (m.seed) feeds[m.seed] = new ort.Tensor('float32', seed!, [1, this.numClasses]);
      return feeds;
    });
    return this.rowValues(model, out, 1, !!seed);
  }

  private rowValues(model: SessionModel, out: ort.InferenceSession.OnnxValueMapType, n: number, withGrad: boolean): RowValues {
    const logits = Float32Array.from(out[model.logits!].data as Float32Array);
    if (!withGrad) return { logits };
    const name = model.grads.get(this.model.input.name);
    const size = n * this.inputShape.reduce((a, b) => a * b, 1);
    // Logits that do not depend on the input have a zero gradient.
    return { logits, grad: name ? Float32Array.from(out[name].data as Float32Array) : new Float32Array(size) };
  }

  /**
   * Layers as listed to the user: nodes with a float output (pure shape arithmetic — Shape, Gather,
   * Concat of int64 — is no layer), their output shape without the batch axis, and their float weights
   * (int64 index constants are no parameters), shared ones counted once.
   */
  layerTable(): LayerRow[] {
    if (this.source) return this.source.layers.map(({ tensor: _tensor, ...row }) => row);
    const g = this.model.graph;
    const { types, shapes } = this.model.facts;
    const isFloat = (t: string) => types.get(t)?.startsWith('float') ?? true;
    const batch = this.model.input.dims[0];
    const counted = new Set<string>();
    // torch.onnx.export writes a weight used twice (or equal to another, as zero biases of a fresh model are)
    // once, and an Identity per further use: no layer, its weight counted where it is used.
    const weightOf = new Map<string, string>();
    for (const n of g.nodes) {
      const source = n.inputs[0] && (weightOf.get(n.inputs[0]) ?? n.inputs[0]);
      if (n.op === 'Identity' && source && g.initializers.has(source)) weightOf.set(n.outputs[0], source);
    }
    const isLayer = (n: GNode) => n.op !== 'Constant' && !weightOf.has(n.outputs[0]) && n.outputs.some((o) => o && isFloat(o));
    return g.nodes.filter(isLayer).map((n) => {
      let params = 0;
      for (const input of n.inputs) {
        const i = input && (weightOf.get(input) ?? input);
        const t = i ? g.initializers.get(i) : undefined;
        if (!t || counted.has(i) || !isFloatType(t.dataType ?? undefined)) continue;
        counted.add(i);
        params += g.initializerSize(i);
      }
      const shape = shapes.get(n.outputs[0]) ?? [];
      // Only a leading batch axis is dropped: Shape's [4] stays [4].
      return { name: n.name, type: n.op, outputShape: shape.length && shape[0] === batch ? shape.slice(1) : [...shape], params };
    });
  }

  spatialLayers(): SpatialLayer[] {
    if (this.source) this.candidates ??= this.source.candidates;
    if (!this.candidates) {
      const { graph, facts, output, input } = this.model;
      const fromInput = graph.descendants([input.name], facts.types, true);
      const toLogits = graph.ancestors([output.logits]);
      // The image itself, only transposed or reshaped (an NHWC model's first Transpose), is no layer to explain.
      const image = new Set([input.name]);
      this.candidates = [];
      for (const node of graph.nodes) {
        const t = node.outputs[0];
        if (REARRANGING.has(node.op) && image.has(node.inputs[0])) {
          image.add(t);
          continue;
        }
        if (!t || t === output.logits || !fromInput.has(t) || !toLogits.has(t)) continue;
        const grid = this.grids.get(t);
        if (grid) {
          this.candidates.push({ name: node.name, type: node.op, height: grid.height, width: grid.width, channels: grid.channels });
          continue;
        }
        const s = facts.shapes.get(t);
        if (!s || s.length !== 4 || s[0] !== 1 || this.unreadable.has(t)) continue;
        const [h, w, k] = this.model.layouts.get(t) === 'NHWC' ? s.slice(1) : [s[2], s[3], s[1]];
        if (h > 1 && w > 1) this.candidates.push({ name: node.name, type: node.op, height: h, width: w, channels: k });
      }
    }
    return this.candidates;
  }

  defaultSpatialLayer(): string | undefined {
    return this.automaticLayer().name;
  }

  tokenLayer(name: string): { blind: boolean; attention?: { classToken: boolean } } | undefined {
    if (this.source) return undefined;
    const tensor = this.resolveTensor(name);
    if (!this.grids.has(tensor)) return undefined;
    const attention = this.attentionLayout();
    return { blind: this.blindTokens().has(tensor), attention: attention && { classToken: attention.skip > 0 } };
  }

  /** Token layers whose patch tokens get no gradient (tokenGrid.ts), found once. */
  private blindTokens(): Set<string> {
    this.blind ??= this.grids.size ? blindTokenLayers(this.model, this.grids) : new Set<string>();
    return this.blind;
  }

  /** Why the automatic layer is the one it is, in a sentence (undefined for converted models: their source chose). */
  defaultSpatialLayerReason(): string | undefined {
    return this.automaticLayer().reason;
  }

  /**
   * The last candidate that does more than pool or reshape, skipping token layers whose patch tokens get
   * no gradient (after a class-token head's last attention): their CAM would be blank. On a ViT that is the
   * normalization before the last block's attention, the layer pytorch-grad-cam recommends.
   */
  private automaticLayer(): { name?: string; reason?: string } {
    if (this.source) return { name: this.source.defaultLayer };
    if (this.chosen) return this.chosen;
    const candidates = this.spatialLayers();
    const tensorOf = (c: SpatialLayer) => this.model.graph.byName.get(c.name)!.outputs[0];
    const blind = this.blindTokens();
    const sighted = candidates.filter((c) => !blind.has(tensorOf(c)));
    const pick = [...sighted].reverse().find((c) => !RESAMPLING.has(c.type)) ?? sighted.at(-1) ?? candidates.at(-1);
    this.chosen = { name: pick?.name, reason: pick && this.reasonFor(pick, candidates, blind) };
    return this.chosen;
  }

  private reasonFor(pick: SpatialLayer, candidates: SpatialLayer[], blind: Set<string>): string {
    const tensor = this.model.graph.byName.get(pick.name)!.outputs[0];
    const grid = this.grids.get(tensor);
    const size = `${pick.height}×${pick.width}`;
    const name = layerLabel(pick.name, candidates.map((c) => c.name));
    const later = candidates.slice(candidates.indexOf(pick) + 1).filter((c) => blind.has(this.model.graph.byName.get(c.name)!.outputs[0]));
    const tokens = grid
      ? `its ${grid.tokens} tokens read as the ${size} patch grid${grid.skip ? ` (${grid.skip} class/register token${grid.skip > 1 ? 's' : ''} dropped)` : ''}`
      : `a ${size} spatial output`;
    if (later.length) {
      const norm = pick.type === 'LayerNormalization' ? ' It is the normalization before the last attention, the layer pytorch-grad-cam recommends for ViTs.' : '';
      return `${name}: after it only the class token reaches the classifier, so the patch tokens of the ${later.length} later ` +
        `token layers get no gradient and their Grad-CAM would be blank; this is the last layer whose patch tokens do, ${tokens}.${norm}`;
    }
    return `${name}: the last layer before the classifier that does more than pool or reshape, ${tokens}.`;
  }

  dispose(): void {
    this.disposed = true;
    const released = [...this.sessions.values()].map((entry) => entry.ready.then(({ session }) => session.release(), () => undefined));
    this.sessions.clear();
    // After the sessions: Windows cannot delete a file a session still maps.
    void Promise.allSettled(released).then(this.releaseCopies);
  }
}

function batchKey(kind: 'forward' | 'gradient' | 'guided'): string {
  return kind === 'forward' ? 'batch|forward' : `batch|${kind}`;
}

function rowOf(values: Float32Array, r: number, size: number): Float32Array {
  return values.subarray(r * size, (r + 1) * size);
}

/** ‖a − b‖ / ‖b‖ (the difference itself when b is zero). */
function relativeL2(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return norm > 0 ? Math.sqrt(diff / norm) : Math.sqrt(diff);
}

/** The last row that differs from row 0, if any. */
function lastDistinctRow(data: Float32Array, n: number, size: number): number | undefined {
  for (let r = n - 1; r > 0; r--) {
    for (let i = 0; i < size; i++) if (data[r * size + i] !== data[i]) return r;
  }
  return undefined;
}

/** A source layer named in full, or by the short form shown for long graph scopes (`MobilenetV2/Conv_1/Relu6`). */
function sourceLayerName(converted: ConvertedModel, name: string): string | undefined {
  return fullLayerName(converted.layers.map((l) => l.name), name);
}
