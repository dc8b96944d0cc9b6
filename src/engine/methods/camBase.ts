import * as tf from '@tensorflow/tfjs';
import { MethodName, methodSpec } from '../../shared/methods';
import { AttributionMap, AttributionMethod, MethodContext, takeData } from './types';

/**
 * The shared base of the class-activation methods (the role of pytorch-grad-cam's BaseCAM): a CAM is
 * ReLU(Σ_k W_k ⊙ A_k) over a spatial layer's activations A [1,h,w,K], and each method only says how it
 * weighs the channels — one weight per channel ([1,1,1,K], Grad-CAM and kin) or one per position and
 * channel ([1,h,w,K], HiResCAM, LayerCAM). Maps stay at the layer's resolution; the panel upsamples.
 */

/** Channel weights from the activations A and the target's gradient G = seed·∂logits/∂A, both [1,h,w,K]. */
export type CamWeighting = (activation: tf.Tensor4D, gradient: tf.Tensor4D) => tf.Tensor;

/** ReLU(Σ_k W_k ⊙ A_k) as [h·w] values; `weights` broadcasts against A ([1,1,1,K] or [1,h,w,K]). */
export function weightedCam(activation: tf.Tensor4D, weights: tf.Tensor): Float32Array {
  return takeData(tf.tidy(() => tf.relu(tf.sum(tf.mul(activation, weights), 3))));
}

/** A CAM at its layer's resolution. */
export function camMap(method: MethodName, layer: string, data: Float32Array, [height, width]: [number, number]): AttributionMap {
  return { method, width, height, data, layer, layerSize: [height, width] };
}

/** The map of a weighting at one layer. */
export function gradientCamMap(method: MethodName, weigh: CamWeighting, activation: tf.Tensor4D, gradient: tf.Tensor, layer: string): AttributionMap {
  const [, h, w] = activation.shape;
  const g = gradient as tf.Tensor4D;
  const data = tf.tidy(() => weigh(activation, g));
  try {
    return camMap(method, layer, weightedCam(activation, data), [h, w]);
  } finally {
    data.dispose();
  }
}

/** A gradient CAM at the chosen layer: the shared pass keeps its activation and differentiates to it. */
export function gradientCam(name: MethodName, weigh: CamWeighting): AttributionMethod {
  return {
    spec: methodSpec(name),
    needs: (layers) => ({ keep: layers.slice(0, 1), gradients: layers.slice(0, 1) }),
    async attribute({ pass, layers }: MethodContext) {
      const [layer] = layers;
      return gradientCamMap(name, weigh, pass.activation(layer), await pass.gradient(layer), layer);
    },
  };
}
