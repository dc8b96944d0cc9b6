import * as tf from '@tensorflow/tfjs';
import { methodSpec } from '../../shared/methods';
import { AttributionMap, AttributionMethod, takeData } from './types';

/**
 * Grad-CAM (Selvaraju et al. 2017) from a layer's activations A [1,h,w,K] and the gradient
 * G = ∂S_c/∂A: α_k = mean over h,w of G_k; map = ReLU(Σ_k α_k A_k), at the layer's resolution.
 */
export function gradcamFromActivations(activation: tf.Tensor4D, gradient: tf.Tensor4D): Float32Array {
  return takeData(tf.tidy(() => {
    const alpha = tf.mean(gradient, [1, 2]); // [1, K]
    const weighted = tf.sum(tf.mul(activation, tf.reshape(alpha, [1, 1, 1, -1])), 3); // [1, h, w]
    return tf.relu(weighted);
  }));
}

/** The Grad-CAM map of a layer from its activations and the class's gradient there. */
export function gradcamMap(activation: tf.Tensor4D, gradient: tf.Tensor, layer: string): AttributionMap {
  const [, h, w] = activation.shape;
  return { method: 'gradcam', width: w, height: h, data: gradcamFromActivations(activation, gradient as tf.Tensor4D), layer, layerSize: [h, w] };
}

export const gradcam: AttributionMethod = {
  spec: methodSpec('gradcam'),
  needs: (layers) => ({ keep: layers.slice(0, 1), gradients: layers.slice(0, 1) }),
  async attribute({ pass, layers }) {
    const [layer] = layers;
    return gradcamMap(pass.activation(layer), await pass.gradient(layer), layer);
  },
};
