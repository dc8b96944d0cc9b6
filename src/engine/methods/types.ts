import type * as tf from '@tensorflow/tfjs';

/** A raw attribution map in model-input space, row-major, not normalized. */
export interface AttributionMap {
  method: 'saliency' | 'gradcam';
  width: number;
  height: number;
  data: Float32Array;
  /** Grad-CAM: the layer used and its spatial size before upsampling. */
  layer?: string;
  layerSize?: [number, number];
  signed?: boolean;
}

/** One-hot seed on the logits: d(seed·logits) = d(logit_c). */
export function classSeed(numClasses: number, classIndex: number): Float32Array {
  const seed = new Float32Array(numClasses);
  seed[classIndex] = 1;
  return seed;
}

/** Copies a tensor's values out and frees it: the maps leave the engine as plain arrays. */
export function takeData(t: tf.Tensor): Float32Array {
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}
