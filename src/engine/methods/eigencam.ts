import * as tf from '@tensorflow/tfjs';
import { methodSpec } from '../../shared/methods';
import { camMap } from './camBase';
import { firstPrincipalProjection } from './principalDirection';
import type { AttributionMethod } from './types';

/**
 * Eigen-CAM (Muhammad & Yeasin 2020), as pytorch-grad-cam computes it (get_2d_projection): the layer's
 * activations as an (h·w × K) matrix, each channel centred over the positions (the paper does not centre;
 * pytorch-grad-cam does), projected onto its first right singular vector; then ReLU.
 *
 * An SVD's sign is arbitrary and pytorch-grad-cam's EigenCAM leaves it; we orient the projection so that
 * its largest magnitude is positive (flip when |min| > |max|), the sign correction pytorch-grad-cam offers
 * as get_2d_projection_with_sign_correction (Seg-Eigen-CAM, Chung & Ying 2025, Eq. 13). No gradients:
 * the map is the same for every class.
 */
export function eigencamFromActivations(activation: tf.Tensor4D): Float32Array {
  const [, h, w, k] = activation.shape;
  const rows = tf.reshape(activation, [h * w, k]) as tf.Tensor2D;
  let projection: Float32Array;
  try {
    projection = firstPrincipalProjection(rows);
  } finally {
    rows.dispose();
  }
  return orientAndRectify(projection);
}

/** ±p with its largest magnitude positive, then ReLU. */
export function orientAndRectify(p: Float32Array): Float32Array {
  let min = 0;
  let max = 0;
  for (const v of p) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const sign = -min > max ? -1 : 1;
  return p.map((v) => Math.max(0, sign * v));
}

export const eigencam: AttributionMethod = {
  spec: methodSpec('eigencam'),
  needs: (layers) => ({ keep: layers.slice(0, 1) }),
  async attribute({ pass, layers }) {
    const [layer] = layers;
    const a = pass.activation(layer);
    return camMap('eigencam', layer, eigencamFromActivations(a), [a.shape[1], a.shape[2]]);
  },
};
