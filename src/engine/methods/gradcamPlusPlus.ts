import * as tf from '@tensorflow/tfjs';
import { CamWeighting, gradientCam } from './camBase';

/** pytorch-grad-cam's eps in α's denominator. */
const EPS = 1e-6;

/**
 * Grad-CAM++ (Chattopadhyay et al. 2018), as pytorch-grad-cam computes it: the paper's closed form for
 * α (its Eq. 19) with the exponential's higher derivatives taken as powers of the first,
 *   α_ij,k = G² / (2G² + Σ_ij A_k · G³ + eps),
 *   w_k = Σ_ij ReLU(G_ij,k) · α_ij,k.
 */
export const gradcamPlusPlusWeights: CamWeighting = (a, g) => {
  const g2 = tf.square(g);
  const g3 = tf.mul(g2, g);
  const sumA = tf.sum(a, [1, 2], true);
  // pytorch-grad-cam also sets α to 0 where G = 0; the eps already makes it 0 there.
  const alpha = tf.div(g2, tf.add(tf.add(tf.mul(g2, 2), tf.mul(sumA, g3)), EPS));
  return tf.sum(tf.mul(tf.relu(g), alpha), [1, 2], true);
};

export const gradcamPlusPlus = gradientCam('gradcam++', gradcamPlusPlusWeights);
