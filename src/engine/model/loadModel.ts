import * as tf from '@tensorflow/tfjs';
import { fileError, UserError } from '../errors';
import { GraphNodeDef, GraphRuntime } from '../runtimes/tfjs/graphRuntime';
import { LayersRuntime } from '../runtimes/tfjs/layersRuntime';
import type { ModelRuntime } from '../runtimes/types';
import { ModelFiles, readModelFiles } from './readArtifacts';
import { Labels, ModelSettings, readLabels, readModelSettings } from './sidecar';

export interface LoadOptions {
  /** Which output to attribute when the model has several (name or index); default the first. */
  output?: string | number;
  /** Resolves free input dimensions, without batch: [height, width, channels]. */
  inputShape?: number[];
}

export interface LoadedModel {
  runtime: ModelRuntime;
  files: ModelFiles;
  labels?: Labels;
  settings?: ModelSettings;
  /** Things the user should know that did not stop loading (e.g. a label count mismatch). */
  warnings: string[];
}

/** tfjs messages are often one long line with a stack; keep the first sentence. */
function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0].slice(0, 300);
}

async function buildRuntime(files: ModelFiles, opts: LoadOptions): Promise<ModelRuntime> {
  const handler = tf.io.fromMemory(files.artifacts);
  let model: tf.LayersModel | tf.GraphModel;
  try {
    model = files.format === 'graph-model' ? await tf.loadGraphModel(handler) : await tf.loadLayersModel(handler);
  } catch (err) {
    throw fileError(files.modelJson, `could not build the model (${firstLine(err)})`);
  }
  try {
    if (model instanceof tf.GraphModel) {
      const nodes = (files.artifacts.modelTopology as { node: GraphNodeDef[] }).node;
      return new GraphRuntime(model, nodes, opts);
    }
    return new LayersRuntime(model, opts);
  } catch (err) {
    model.dispose();
    if (err instanceof UserError) throw fileError(files.modelJson, err.message);
    throw fileError(files.modelJson, `could not be prepared for attribution (${firstLine(err)})`);
  }
}

/** Loads a TF.js model folder with its labels and settings; every failure names the file. */
export async function loadModel(modelPath: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const files = readModelFiles(modelPath);
  const runtime = await buildRuntime(files, opts);
  try {
    const warnings: string[] = [];
    let labels = readLabels(files.dir);
    if (labels && labels.names.length !== runtime.numClasses) {
      warnings.push(`${labels.source} has ${labels.names.length} labels but the model has ${runtime.numClasses} classes; labels ignored`);
      labels = undefined;
    }
    return { runtime, files, labels, settings: readModelSettings(files.dir), warnings };
  } catch (err) {
    runtime.dispose();
    throw err;
  }
}
