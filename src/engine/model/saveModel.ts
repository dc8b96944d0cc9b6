import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

/**
 * Writes model artifacts as a TF.js model folder (`model.json` + one weight shard), the layout
 * `tensorflowjs_converter` and `model.save('file://…')` produce, without needing tfjs-node.
 */
export function writeModelArtifacts(dir: string, artifacts: tf.io.ModelArtifacts, shardName = 'group1-shard1of1.bin'): void {
  fs.mkdirSync(dir, { recursive: true });
  const weightData = artifacts.weightData
    ? Buffer.from(tf.io.CompositeArrayBuffer.join(artifacts.weightData))
    : Buffer.alloc(0);
  const modelJson: Record<string, unknown> = {
    format: artifacts.format,
    generatedBy: artifacts.generatedBy ?? 'saliency-lens',
    convertedBy: artifacts.convertedBy ?? null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [shardName], weights: artifacts.weightSpecs ?? [] }],
  };
  if (artifacts.userDefinedMetadata) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
  if (artifacts.signature) modelJson.signature = artifacts.signature;
  fs.writeFileSync(path.join(dir, shardName), weightData);
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
}

/** Saves a LayersModel to a folder on disk. */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    writeModelArtifacts(dir, artifacts);
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }));
}
