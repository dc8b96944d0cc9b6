import type * as tf from '@tensorflow/tfjs';
import { CamWeighting, gradientCam } from './camBase';

/**
 * HiResCAM (Draelos & Carin 2020; as pytorch-grad-cam): map = ReLU(Σ_k G_k ⊙ A_k) — the gradient itself
 * weighs each position, not its spatial mean (which is what makes the map faithful for a CNN ending in
 * one linear layer).
 */
export const hirescamWeights: CamWeighting = (_a, g) => g.clone() as tf.Tensor;

export const hirescam = gradientCam('hirescam', hirescamWeights);
