import * as tf from '@tensorflow/tfjs';
import { CamWeighting, gradientCam } from './camBase';

/** pytorch-grad-cam's eps under Σ A. */
const EPS = 1e-7;

/**
 * XGrad-CAM (Fu et al. 2020, Eq. 9; as pytorch-grad-cam): w_k = Σ_ij (G_k ⊙ A_k) / (Σ_ij A_k + eps), the
 * weights that satisfy the paper's sensitivity and conservation axioms.
 */
export const xgradcamWeights: CamWeighting = (a, g) =>
  tf.div(tf.sum(tf.mul(g, a), [1, 2], true), tf.add(tf.sum(a, [1, 2], true), EPS));

export const xgradcam = gradientCam('xgradcam', xgradcamWeights);
