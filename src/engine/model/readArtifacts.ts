import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fileError } from '../errors';
import { isKerasFile } from './keras';

export type ModelFormat = 'layers-model' | 'graph-model' | 'onnx';

export interface ModelFiles {
  /** Absolute path of the model file: model.json for TF.js models, the .onnx file for ONNX models. */
  modelJson: string;
  dir: string;
  format: ModelFormat;
  /** TF.js models: topology and weights read from model.json and its shards. */
  artifacts?: tf.io.ModelArtifacts;
  /** Files besides the model file whose change makes a new model version (ONNX: its external-data files). */
  dataFiles?: string[];
}

/**
 * JSON.parse's complaint, for a one-line message: V8 quotes the text around the error, and in a corrupt
 * file that text may hold newlines and other control characters.
 */
export function jsonErrorDetail(err: unknown): string {
  const text = String((err as Error)?.message ?? err).replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** An ONNX model file (by extension; the content is checked when it is read). */
export function isOnnxFile(file: string): boolean {
  return /\.onnx$/i.test(file);
}

const BYTES_PER_DTYPE: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, string: 0 };

/** A manifest group as model.json must spell it: paths (strings) and weights with integer shapes. */
type ManifestGroup = tf.io.WeightsManifestConfig[number];

function checkGroup(group: unknown, modelJson: string): asserts group is ManifestGroup {
  const g = group as Partial<ManifestGroup> | null;
  const ok = g !== null && typeof g === 'object' && Array.isArray(g.paths) && g.paths.every((p: unknown) => typeof p === 'string') &&
    Array.isArray(g.weights) && g.weights.every((w: tf.io.WeightsManifestEntry) => w && typeof w.name === 'string' && Array.isArray(w.shape) &&
      w.shape.every((d: number) => Number.isInteger(d) && d >= 0));
  if (!ok) throw fileError(modelJson, 'has a malformed "weightsManifest" (each group needs "paths" and "weights" with integer shapes)');
}

/** Accepts a model folder (with model.json, or a single .onnx file) or the path of the model file. */
export function resolveModelJson(modelPath: string): string {
  const abs = path.resolve(modelPath);
  if (!fs.existsSync(abs)) throw fileError(modelPath, 'no such file or folder');
  if (fs.statSync(abs).isDirectory()) {
    const json = path.join(abs, 'model.json');
    if (fs.existsSync(json)) return json;
    const models = fs.readdirSync(abs).filter((f) => isOnnxFile(f) || isKerasFile(f)).sort();
    if (models.length === 1) return path.join(abs, models[0]);
    if (models.length > 1) throw fileError(modelPath, `folder has several models (${models.join(', ')}); choose one`);
    throw fileError(modelPath, 'folder has no model.json, .onnx, .keras or .h5 file (expected a TensorFlow.js model folder, an ONNX model or a Keras file)');
  }
  return abs;
}

function expectedBytes(spec: tf.io.WeightsManifestEntry): number {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  return count * (BYTES_PER_DTYPE[dtype] ?? 4);
}

function detectFormat(json: Record<string, unknown>, file: string): ModelFormat {
  const topology = json.modelTopology as Record<string, unknown> | undefined;
  if (json.format === 'graph-model' || (topology && Array.isArray(topology.node))) return 'graph-model';
  if (json.format === 'layers-model' || (topology && (topology.class_name || topology.model_config))) return 'layers-model';
  throw fileError(file, 'is not a TensorFlow.js model (no Layers "modelTopology" or Graph "node" list)');
}

/**
 * Reads model.json and its weight shards, checking everything a broken export gets wrong,
 * so the user hears which file is bad instead of a tfjs stack trace. Shards must stay
 * inside the model folder: a model is data, and its manifest cannot point elsewhere.
 */
export function readModelFiles(modelPath: string): ModelFiles {
  const modelJson = resolveModelJson(modelPath);
  const dir = path.dirname(modelJson);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  } catch (err) {
    throw fileError(modelJson, `is not valid JSON (${jsonErrorDetail(err)})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json) || !json.modelTopology) {
    throw fileError(modelJson, 'is not a TensorFlow.js model (no "modelTopology")');
  }
  const format = detectFormat(json, modelJson);
  const manifest = json.weightsManifest as tf.io.WeightsManifestConfig | undefined;
  if (!Array.isArray(manifest)) throw fileError(modelJson, 'has no "weightsManifest" list of weight files');

  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  const realDir = fs.realpathSync(dir);
  for (const group of manifest) {
    checkGroup(group, modelJson);
    const groupBuffers: Buffer[] = [];
    for (const shard of group.paths) {
      // Named in messages and opened: a name with newlines or control characters is no weight file's.
      if (/[\u0000-\u001f\u007f]/.test(shard)) {
        throw fileError(modelJson, `weight file name ${JSON.stringify(shard.slice(0, 120))} holds control characters`);
      }
      const shardPath = path.resolve(dir, shard);
      if (path.isAbsolute(shard) || path.relative(dir, shardPath).startsWith('..')) {
        throw fileError(modelJson, `weight file "${shard}" points outside the model folder`);
      }
      if (!fs.existsSync(shardPath)) throw fileError(shardPath, 'weight file is missing (listed in model.json)');
      // A symlink could still lead elsewhere: the real path must stay inside the folder too.
      if (path.relative(realDir, fs.realpathSync(shardPath)).startsWith('..')) {
        throw fileError(shardPath, 'weight file links outside the model folder');
      }
      if (!fs.statSync(shardPath).isFile()) throw fileError(shardPath, 'weight file is not a regular file');
      groupBuffers.push(fs.readFileSync(shardPath));
    }
    const groupData = Buffer.concat(groupBuffers);
    const needed = group.weights.reduce((n, w) => n + expectedBytes(w), 0);
    if (groupData.length < needed) {
      throw fileError(path.resolve(dir, group.paths[group.paths.length - 1] ?? ''),
        `weights are truncated: model.json expects ${needed} bytes in ${group.paths.join(', ')}, found ${groupData.length}`);
    }
    // Exactly what the manifest describes: surplus bytes in one group must not shift the next group's weights.
    buffers.push(groupData.subarray(0, needed));
    weightSpecs.push(...group.weights);
  }
  const joined = Buffer.concat(buffers);
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology as object,
    format,
    weightSpecs,
    weightData: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength),
    userDefinedMetadata: json.userDefinedMetadata as { [key: string]: {} } | undefined,
    signature: json.signature as object | undefined,
    modelInitializer: json.modelInitializer as object | undefined,
  };
  return { modelJson, dir, format, artifacts };
}
