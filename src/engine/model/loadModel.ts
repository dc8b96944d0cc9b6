import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fileError, UserError } from '../errors';
import { GraphNodeDef, GraphRuntime } from '../runtimes/tfjs/graphRuntime';
import { LayersRuntime } from '../runtimes/tfjs/layersRuntime';
import type { OnnxRuntime } from '../runtimes/onnx/onnxRuntime';
import type { ModelRuntime } from '../runtimes/types';
import { isOnnxFile, ModelFiles, readModelFiles, resolveModelJson } from './readArtifacts';
import { imagenetLabels, Labels, ModelSettings, readLabels, readModelSettings } from './sidecar';

export interface LoadOptions {
  /** Which output to attribute when the model has several (name or index); default the first. */
  output?: string | number;
  /** Resolves free input dimensions, without batch: [height, width, channels]. */
  inputShape?: number[];
  /** Use the built-in ImageNet class names (the model must have 1000 classes). */
  labels?: 'imagenet';
}

export interface LoadedModel {
  runtime: ModelRuntime;
  files: ModelFiles;
  labels?: Labels;
  settings?: ModelSettings;
  /** Things the user should know that did not stop loading (e.g. a label count mismatch). */
  warnings: string[];
  /**
   * Preprocessing the format suggests when no saliency-lens.json says: ONNX models with a 3-channel
   * NCHW input (PyTorch exports) get ImageNet statistics.
   */
  defaultPreprocessing?: { spec: string; reason: string };
}

/** tfjs messages are often one long line with a stack; keep the first sentence. */
function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0].slice(0, 300);
}

async function buildRuntime(files: ModelFiles, opts: LoadOptions): Promise<ModelRuntime> {
  const handler = tf.io.fromMemory(files.artifacts!);
  let model: tf.LayersModel | tf.GraphModel;
  try {
    model = files.format === 'graph-model' ? await tf.loadGraphModel(handler) : await tf.loadLayersModel(handler);
  } catch (err) {
    throw fileError(files.modelJson, `could not build the model (${firstLine(err)})`);
  }
  try {
    if (model instanceof tf.GraphModel) {
      const nodes = (files.artifacts!.modelTopology as { node: GraphNodeDef[] }).node;
      return new GraphRuntime(model, nodes, opts);
    }
    return new LayersRuntime(model, opts);
  } catch (err) {
    model.dispose();
    if (err instanceof UserError) throw fileError(files.modelJson, err.message);
    throw fileError(files.modelJson, `could not be prepared for attribution (${firstLine(err)})`);
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
  if (isOnnxFile(target)) {
    const onnx = await loadOnnx(target, opts);
    ({ files, runtime } = onnx);
    const spec = onnx.runtime.defaultPreprocessing;
    if (spec) defaultPreprocessing = { spec, reason: 'default for ONNX models with a 3-channel NCHW input (PyTorch); no saliency-lens.json beside the model' };
  } else {
    files = readModelFiles(target);
    runtime = await buildRuntime(files, opts);
  }
  try {
    const warnings: string[] = [];
    // Asked for by the caller, they win; asked for by saliency-lens.json, a labels file beside the model wins.
    let labels = opts.labels === 'imagenet' ? imagenetLabels() : readLabels(files.dir) ?? (settings?.labels === 'imagenet' ? imagenetLabels() : undefined);
    if (labels && labels.names.length !== runtime.numClasses) {
      warnings.push(`${labels.source} has ${labels.names.length} labels but the model has ${runtime.numClasses} classes; labels ignored`);
      labels = undefined;
    }
    if (!labels && runtime.numClasses === 1000) {
      warnings.push('the model has 1000 classes and no labels file: if it was trained on ImageNet, use its class names with ' +
        '"labels": "imagenet" in saliency-lens.json beside the model (or --labels imagenet)');
    }
    return { runtime, files, labels, settings, warnings, defaultPreprocessing };
  } catch (err) {
    runtime.dispose();
    throw err;
  }
}
