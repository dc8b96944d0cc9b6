import * as tf from '@tensorflow/tfjs';
import { gradientCam, gradientCamMap, CamWeighting, weightedCam } from './camBase';
import type { AttributionMap } from './types';

/** Grad-CAM (Selvaraju et al. 2017; as pytorch-grad-cam): α_k = mean over h,w of G_k. */
export const gradcamWeights: CamWeighting = (_a, g) => tf.mean(g, [1, 2], true);

/**
 * Grad-CAM from a layer's activations A [1,h,w,K] and the gradient G = ∂S_c/∂A:
 * map = ReLU(Σ_k α_k A_k), at the layer's resolution.
 */
export function gradcamFromActivations(activation: tf.Tensor4D, gradient: tf.Tensor4D): Float32Array {
  const alpha = tf.tidy(() => gradcamWeights(activation, gradient));
  try {
    return weightedCam(activation, alpha);
  } finally {
    alpha.dispose();
  }
}

/** The Grad-CAM map of a layer from its activations and the class's gradient there. */
export function gradcamMap(activation: tf.Tensor4D, gradient: tf.Tensor, layer: string): AttributionMap {
  return gradientCamMap('gradcam', gradcamWeights, activation, gradient, layer);
}

export const gradcam = gradientCam('gradcam', gradcamWeights);
