import * as tf from '@tensorflow/tfjs';
import { methodSpec } from '../../shared/methods';
import { AttributionMethod, takeData } from './types';

/**
 * Sums an input-shaped tensor [1, ...inputShape] over colour channels: one signed value per pixel,
 * row-major [H·W]. (A flat input is its image flattened channels last, so the reshape holds for it too.)
 */
export function sumOverChannels(t: tf.Tensor, imageSize: [number, number]): Float32Array {
  const [h, w] = imageSize;
  return takeData(tf.tidy(() => tf.sum(tf.reshape(t, [h, w, -1]), 2)));
}

/**
 * Gradient × Input (Shrikumar et al. 2016, "Not Just a Black Box"; Captum's InputXGradient):
 * x ⊙ ∂S/∂x, summed over colour channels, signed. For a linear model it is each pixel's exact share
 * of the logit (bias aside).
 */
export const gradxinput: AttributionMethod = {
  spec: methodSpec('gradxinput'),
  needs: () => ({ gradients: ['input'] }),
  async attribute({ pass, x, image }) {
    const grad = await pass.gradient('input');
    const product = tf.tidy(() => tf.mul(x, tf.reshape(grad, x.shape)));
    try {
      return { method: 'gradxinput', width: image.width, height: image.height, data: sumOverChannels(product, [image.height, image.width]), signed: true };
    } finally {
      product.dispose();
    }
  },
};
