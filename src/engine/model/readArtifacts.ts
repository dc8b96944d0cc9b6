import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fileError } from '../errors';

export type ModelFormat = 'layers-model' | 'graph-model';

export interface ModelFiles {
  /** Absolute path of model.json. */
  modelJson: string;
  dir: string;
  format: ModelFormat;
  artifacts: tf.io.ModelArtifacts;
}

const BYTES_PER_DTYPE: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, string: 0 };

/** Accepts a model folder or the path of its model.json. */
export function resolveModelJson(modelPath: string): string {
  const abs = path.resolve(modelPath);
  if (!fs.existsSync(abs)) throw fileError(modelPath, 'no such file or folder');
  if (fs.statSync(abs).isDirectory()) {
    const json = path.join(abs, 'model.json');
    if (!fs.existsSync(json)) throw fileError(modelPath, 'folder has no model.json (expected a TensorFlow.js model folder)');
    return json;
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
    throw fileError(modelJson, `is not valid JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json) || !json.modelTopology) {
    throw fileError(modelJson, 'is not a TensorFlow.js model (no "modelTopology")');
  }
  const format = detectFormat(json, modelJson);
  const manifest = json.weightsManifest as tf.io.WeightsManifestConfig | undefined;
  if (!Array.isArray(manifest)) throw fileError(modelJson, 'has no "weightsManifest" list of weight files');

  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of manifest) {
    let groupBytes = 0;
    for (const shard of group.paths ?? []) {
      const shardPath = path.resolve(dir, shard);
      if (path.relative(dir, shardPath).startsWith('..') || path.isAbsolute(shard)) {
        throw fileError(modelJson, `weight file "${shard}" points outside the model folder`);
      }
      if (!fs.existsSync(shardPath)) throw fileError(shardPath, 'weight file is missing (listed in model.json)');
      if (!fs.statSync(shardPath).isFile()) throw fileError(shardPath, 'weight file is not a regular file');
      const buf = fs.readFileSync(shardPath);
      groupBytes += buf.length;
      buffers.push(buf);
    }
    const needed = (group.weights ?? []).reduce((n, w) => n + expectedBytes(w), 0);
    if (groupBytes < needed) {
      const shardList = (group.paths ?? []).join(', ');
      throw fileError(path.resolve(dir, group.paths?.[group.paths.length - 1] ?? ''),
        `weights are truncated: model.json expects ${needed} bytes in ${shardList}, found ${groupBytes}`);
    }
    weightSpecs.push(...(group.weights ?? []));
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
