import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fileError, firstLine, UserError } from '../errors';
import { convertTfjsModel } from '../convert/convertModel';
import { checkGraphTopology, checkLayerOutputSizes, checkLayersTopology } from './checkTopology';
import { flattenLayersModel } from '../runtimes/tfjs/layerGraph';
import { ConversionError } from '../convert/onnxWriter';
import { GraphNodeDef, GraphRuntime } from '../runtimes/tfjs/graphRuntime';
import { LayersRuntime } from '../runtimes/tfjs/layersRuntime';
import type { OnnxRuntime } from '../runtimes/onnx/onnxRuntime';
import type { ModelRuntime } from '../runtimes/types';
import { isKerasFile, readKerasFile } from './keras';
import { isOnnxFile, ModelFiles, readModelFiles, resolveModelJson } from './readArtifacts';
import { imagenetLabels, Labels, ModelSettings, readLabels, readModelSettings } from './sidecar';

export interface LoadOptions {
  /** Which output to attribute when the model has several (name or index); default the first. */
  output?: string | number;
  /** Resolves free input dimensions, without batch: [height, width, channels]. */
  inputShape?: number[];
  /** Use the built-in ImageNet class names (the model must have 1000 classes). */
  labels?: 'imagenet';
  /**
   * What runs TF.js models: ONNX Runtime on the converted graph, tfjs, or (auto, the default) ONNX
   * Runtime whenever the model converts and tfjs otherwise.
   */
  runtime?: RuntimeChoice;
}

export const RUNTIME_CHOICES = ['auto', 'onnx', 'tfjs'] as const;
export type RuntimeChoice = (typeof RUNTIME_CHOICES)[number];

export function isRuntimeChoice(v: unknown): v is RuntimeChoice {
  return (RUNTIME_CHOICES as readonly unknown[]).includes(v);
}

/** The choice the engine process was started with (the extension passes its saliencyLens.runtime setting). */
export function defaultRuntimeChoice(): RuntimeChoice {
  const v = process.env.SALIENCY_LENS_RUNTIME;
  return isRuntimeChoice(v) ? v : 'auto';
}

export interface LoadedModel {
  runtime: ModelRuntime;
  files: ModelFiles;
  labels?: Labels;
  settings?: ModelSettings;
  /** Things the user should know that did not stop loading (e.g. a label count mismatch). */
  warnings: string[];
  /**
   * Preprocessing when no saliency-lens.json says, and why: ONNX models with a 3-channel NCHW input
   * (PyTorch exports) get ImageNet statistics, the others 0..1.
   */
  defaultPreprocessing?: { spec: string; reason: string };
  /**
   * How a TF.js model runs: converted to ONNX, or on tfjs and why (the layer or op that did not convert,
   * or the user's choice). Undefined for ONNX files.
   */
  conversion?: { converted: boolean; reason: string };
}

async function buildRuntime(files: ModelFiles, opts: LoadOptions): Promise<{ runtime: ModelRuntime; conversion: LoadedModel['conversion'] }> {
  const topology = files.artifacts!.modelTopology as { node?: unknown };
  if (files.format === 'graph-model') checkGraphTopology(topology.node, files.modelJson);
  else checkLayersTopology(topology, files.modelJson);
  const handler = tf.io.fromMemory(files.artifacts!);
  let model: tf.LayersModel | tf.GraphModel;
  try {
    model = files.format === 'graph-model' ? await tf.loadGraphModel(handler) : await tf.loadLayersModel(handler);
  } catch (err) {
    throw fileError(files.modelJson, `could not build the model (${firstLine(err)})`);
  }
  if (model instanceof tf.LayersModel) {
    try {
      checkLayerOutputSizes(flattenLayersModel(model).nodes, files.modelJson);
    } catch (err) {
      model.dispose();
      throw err;
    }
  }
  const nodes = model instanceof tf.GraphModel ? (files.artifacts!.modelTopology as { node: GraphNodeDef[] }).node : undefined;
  const choice = opts.runtime ?? defaultRuntimeChoice();
  let reason = 'tfjs chosen (--runtime tfjs / saliencyLens.runtime)';
  if (choice !== 'tfjs') {
    try {
      const runtime = await runConverted(files, model, nodes, opts);
      model.dispose();
      // Keras files reach the converter as the TF.js Layers model they describe: name what the user has.
      const from = isKerasFile(files.modelJson) ? 'Keras file' : runtime.convertedFrom;
      return { runtime, conversion: { converted: true, reason: `converted from a ${from} to ONNX at load time` } };
    } catch (err) {
      // Whatever stops the ONNX path, tfjs gets its turn (and says so, or fails with its own sentence).
      // (A UserError already names the file: its sentence is kept without the path.)
      const detail = err instanceof UserError ? err.message.replace(`${files.modelJson}: `, '') : firstLine(err);
      reason = err instanceof ConversionError ? `could not convert to ONNX: ${err.what} (${err.why})` : `ONNX Runtime could not run it (${detail})`;
      if (choice === 'onnx') {
        model.dispose();
        throw fileError(files.modelJson, `${reason}; run it with --runtime tfjs (saliencyLens.runtime "tfjs")`);
      }
    }
  }
  try {
    const runtime = model instanceof tf.GraphModel ? new GraphRuntime(model, nodes!, opts) : new LayersRuntime(model, opts);
    return { runtime, conversion: { converted: false, reason } };
  } catch (err) {
    model.dispose();
    if (err instanceof UserError) throw fileError(files.modelJson, err.message);
    throw fileError(files.modelJson, `could not be prepared for attribution (${firstLine(err)})`);
  }
}

/**
 * The TF.js model converted to ONNX and run by ONNX Runtime. A ConversionError (a layer or op without a
 * conversion, or a gradient rule missing for what it was written as) leaves the model to tfjs.
 */
async function runConverted(files: ModelFiles, model: tf.LayersModel | tf.GraphModel, nodes: GraphNodeDef[] | undefined, opts: LoadOptions): Promise<OnnxRuntime> {
  let converted;
  try {
    converted = convertTfjsModel(model, nodes, { output: opts.output, inputShape: opts.inputShape });
  } catch (err) {
    if (err instanceof UserError) throw fileError(files.modelJson, err.message);
    if (err instanceof ConversionError) throw err;
    throw new ConversionError('model', firstLine(err));
  }
  const { OnnxRuntime } = await import('../runtimes/onnx/onnxRuntime');
  try {
    return await OnnxRuntime.fromConverted(files.modelJson, converted);
  } catch (err) {
    // A rule the gradient builder lacks for what the converter wrote: the model still runs on tfjs.
    const unsupported = err instanceof UserError && /is not supported for gradients yet/.exec(err.message);
    if (unsupported) throw new ConversionError('gradients', err.message.replace(`${files.modelJson}: `, ''));
    throw err;
  }
}

/** Loads an ONNX model (the .onnx file and its external data) with ONNX Runtime. */
async function loadOnnx(file: string, opts: LoadOptions): Promise<{ files: ModelFiles; runtime: OnnxRuntime }> {
  let runtime: OnnxRuntime;
  try {
    // Loaded on demand: ONNX Runtime's native binding loads with the module, and TF.js models never need it.
    const { OnnxRuntime } = await import('../runtimes/onnx/onnxRuntime');
    runtime = await OnnxRuntime.load(file, { output: opts.output, inputShape: opts.inputShape });
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw fileError(file, `could not be prepared for attribution (${firstLine(err)})`);
  }
  const files: ModelFiles = { modelJson: runtime.file, dir: path.dirname(runtime.file), format: 'onnx', dataFiles: runtime.model.externalFiles };
  return { files, runtime };
}

/** Why the default preprocessing applies, true whether or not a saliency-lens.json exists (it may hold only labels). */
function noPreprocessingGiven(settings: ModelSettings | undefined): string {
  return settings ? `${settings.source} gives no "preprocessing"` : 'no saliency-lens.json beside the model';
}

/**
 * Loads a model with its labels and settings: a TF.js model folder (or its model.json), or an .onnx
 * file (or a folder holding one). Every failure names the file.
 */
export async function loadModel(modelPath: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const target = resolveModelJson(modelPath);
  // Read first: saliency-lens.json may give the input size of a model whose size is free.
  const settings = readModelSettings(path.dirname(target));
  if (!opts.inputShape && settings?.inputSize) opts = { ...opts, inputShape: settings.inputSize };
  let files: ModelFiles;
  let runtime: ModelRuntime;
  let defaultPreprocessing: LoadedModel['defaultPreprocessing'];
  let conversion: LoadedModel['conversion'];
  // Notes from reading the file itself (Keras layers done by the engine, a float16 ONNX model computed in float32).
  let formatWarnings: string[] = [];
  if (isOnnxFile(target)) {
    const onnx = await loadOnnx(target, opts);
    ({ files, runtime } = onnx);
    formatWarnings = onnx.runtime.model.notes;
    const spec = onnx.runtime.defaultPreprocessing;
    if (spec) defaultPreprocessing = { spec, reason: `default for ONNX models with a 3-channel NCHW input (PyTorch); ${noPreprocessingGiven(settings)}` };
  } else if (isKerasFile(target)) {
    // Keras files become the TF.js Layers artifacts they describe (never code: see keras/), then load as such.
    const keras = await readKerasFile(target);
    formatWarnings = keras.warnings;
    files = { modelJson: target, dir: path.dirname(target), format: 'layers-model', artifacts: keras.artifacts };
    ({ runtime, conversion } = await buildRuntime(files, opts));
  } else {
    files = readModelFiles(target);
    ({ runtime, conversion } = await buildRuntime(files, opts));
  }
  try {
    const warnings: string[] = [...formatWarnings];
    // Asked for by the caller, they win; asked for by saliency-lens.json, a labels file beside the model wins.
    const fromSettings = () => ({ ...imagenetLabels(), source: `ImageNet-1k class names (built in), as ${settings!.source} asks` });
    let labels = opts.labels === 'imagenet' ? imagenetLabels() : readLabels(files.dir) ?? (settings?.labels === 'imagenet' ? fromSettings() : undefined);
    if (labels && labels.names.length !== runtime.numClasses) {
      warnings.push(`${labels.source} has ${labels.names.length} labels but the model has ${runtime.numClasses} classes; labels ignored`);
      labels = undefined;
    }
    if (!labels && runtime.numClasses === 1000) {
      warnings.push('the model has 1000 classes and no labels file: if it was trained on ImageNet, use its class names with ' +
        '"labels": "imagenet" in saliency-lens.json beside the model (or --labels imagenet)');
    }
    defaultPreprocessing ??= { spec: 'unit', reason: `default; ${noPreprocessingGiven(settings)}` };
    return { runtime, files, labels, settings, warnings, defaultPreprocessing, conversion };
  } catch (err) {
    runtime.dispose();
    throw err;
  }
}
