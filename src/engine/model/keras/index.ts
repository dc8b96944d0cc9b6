import * as fs from 'node:fs';
import type * as tf from '@tensorflow/tfjs';
import { fileError } from '../../errors';
import { assembleArtifacts } from './assemble';
import { Hdf5File } from './hdf5';
import { Keras3Weights } from './keras3Weights';
import { LegacyWeights } from './legacyWeights';
import { MAX_CONFIG_BYTES, MAX_FILE_BYTES } from './limits';
import { translateModelConfig } from './translate';
import type { WeightSource } from './weightSource';
import { readKerasArchive } from './zipArchive';

export interface KerasModel {
  /** For `tf.loadLayersModel(tf.io.fromMemory(artifacts))`, like a TF.js model.json folder. */
  artifacts: tf.io.ModelArtifacts;
  /** The Keras version that wrote the file, when it says. */
  kerasVersion?: string;
  /** What the user should know: dropped training-only layers, a Resizing done by the engine, … */
  warnings: string[];
}

/** A Keras model file, by extension: `.keras` (Keras 3) or `.h5` / `.hdf5` (Keras 2, or Keras 3's legacy writer). */
export function isKerasFile(file: string): boolean {
  return /\.(keras|h5|hdf5)$/i.test(file);
}

const SAVE_HINT = 'save the whole model with model.save("model.keras") (or model.save("model.h5"))';

function parseJson(file: string, text: string, what: string): unknown {
  if (text.length > MAX_CONFIG_BYTES) throw fileError(file, `has a ${what} that is too large`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw fileError(file, `has a ${what} that is not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
}

function readFile(file: string): Buffer {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw fileError(file, 'no such file');
  }
  if (!stat.isFile()) throw fileError(file, 'is not a file');
  if (stat.size > MAX_FILE_BYTES) throw fileError(file, `is larger than ${MAX_FILE_BYTES / 1024 ** 3} GiB, more than Saliency Lens loads`);
  if (stat.size === 0) throw fileError(file, 'is empty');
  return fs.readFileSync(file);
}

/** A `.h5` model: root attributes `model_config`, `keras_version`, `backend` and group `model_weights`. */
function readH5(file: string, data: Buffer) {
  const h5 = Hdf5File.open(file, data);
  const rootAttrs = h5.attrs(h5.root);
  const config = h5.stringAttr(h5.root, 'model_config');
  if (config === undefined) {
    const weightsOnly = 'layer_names' in rootAttrs || h5.group(h5.root, 'layers') || h5.group(h5.root, 'vars') || h5.group(h5.root, 'model_weights');
    if (weightsOnly) throw fileError(file, `holds weights only (written by save_weights), not the model's architecture; ${SAVE_HINT}`);
    throw fileError(file, `is an HDF5 file but not a Keras model (no model_config attribute); ${SAVE_HINT}`);
  }
  const group = h5.group(h5.root, 'model_weights');
  if (!group) throw fileError(file, `holds the model's architecture without its weights (no model_weights group); ${SAVE_HINT}`);
  const kerasVersion = h5.stringAttr(h5.root, 'keras_version') ?? h5.stringAttr(group, 'keras_version');
  const backend = h5.stringAttr(h5.root, 'backend');
  const modelConfig = parseJson(file, config, 'model_config attribute');
  const translation = translateModelConfig(file, modelConfig, kerasVersion);
  const source: WeightSource = new LegacyWeights(h5, group, new Set(translation.leaves.keys()));
  return { translation, source, kerasVersion, backend };
}

/** A `.keras` archive: config.json, metadata.json (keras_version), model.weights.h5. */
async function readArchive(file: string, data: Buffer) {
  const archive = await readKerasArchive(file, data);
  const metadata = archive.metadata ? parseJson(file, archive.metadata.toString('utf8'), 'metadata.json') : undefined;
  const version = (metadata as { keras_version?: unknown } | undefined)?.keras_version;
  const kerasVersion = typeof version === 'string' ? version : undefined;
  const modelConfig = parseJson(file, archive.config.toString('utf8'), 'config.json');
  const translation = translateModelConfig(file, modelConfig, kerasVersion);
  const h5 = Hdf5File.open(file, archive.weights, 'model.weights.h5 inside the archive');
  return { translation, source: new Keras3Weights(h5) as WeightSource, kerasVersion, backend: undefined };
}

/**
 * Reads a Keras model file into TF.js Layers-model artifacts. The format is told by the content (a zip
 * or HDF5 signature), so a renamed file still reads. Everything the file may get wrong is one sentence
 * naming it (a UserError): custom or Lambda layers, unsafe archives, weights-only files, missing or
 * misshapen weights, corrupt or truncated data.
 */
export async function readKerasFile(file: string): Promise<KerasModel> {
  const data = readFile(file);
  const zip = data[0] === 0x50 && data[1] === 0x4b;
  const hdf5 = data.length >= 8 && data[0] === 0x89 && data[1] === 0x48 && data[2] === 0x44 && data[3] === 0x46;
  if (!zip && !hdf5 && /\.keras$/i.test(file)) throw fileError(file, 'is not a .keras archive (not a zip file)');
  const read = zip ? await readArchive(file, data) : readH5(file, data);
  const artifacts = await assembleArtifacts(file, read.translation, read.source, { kerasVersion: read.kerasVersion, backend: read.backend });
  return { artifacts, kerasVersion: read.kerasVersion, warnings: read.translation.warnings };
}
