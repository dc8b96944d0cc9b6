import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import type { ModelRuntime, Trace } from '../runtimes/types';
import { AttributionMap, takeData } from './types';

/** Picks the Grad-CAM layer: the one asked for, checked, else the runtime's default. */
export function resolveGradcamLayer(runtime: ModelRuntime, requested?: string): string {
  const candidates = runtime.spatialLayers();
  if (requested) {
    requested = runtime.canonicalLayerName?.(requested) ?? requested;
    const hit = candidates.find((c) => c.name === requested);
    if (hit) return hit.name;
    const known = runtime.layerTable().find((r) => r.name === requested);
    if (known) {
      throw new UserError(`layer "${requested}" has no spatial output for Grad-CAM (its output is ${JSON.stringify(known.outputShape)}); ` +
        `use one of: ${candidates.map((c) => c.name).join(', ') || 'none'}`);
    }
    throw new UserError(`the model has no layer "${requested}"; layers usable for Grad-CAM: ${candidates.map((c) => c.name).join(', ') || 'none'}`);
  }
  const auto = runtime.defaultSpatialLayer();
  if (!auto) throw new UserError('Grad-CAM needs a convolutional layer with a spatial output, and this model has none (use saliency instead)');
  return auto;
}

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

export async function gradcam(trace: Trace, seed: tf.Tensor2D, layer: string, gradient?: tf.Tensor): Promise<AttributionMap> {
  const g = gradient ?? (await trace.vjp(seed, [layer])).get(layer)!;
  try {
    return gradcamMap(trace.activation(layer), g, layer);
  } finally {
    if (!gradient) g.dispose();
  }
}
