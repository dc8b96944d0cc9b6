import * as tf from '@tensorflow/tfjs';
import { methodSpec } from '../../shared/methods';
import { AttributionMap, AttributionMethod, takeData } from './types';

export interface SaliencyOptions {
  /** Keep the sign: per pixel, the channel gradient with the largest magnitude, sign included. */
  signed?: boolean;
  /** Height and width of the image the input encodes (flat inputs are reshaped to it). */
  imageSize: [number, number];
}

/** Reduces an input gradient [1,H,W,C] (or flat [1,H·W·C]) to one value per pixel: max of |g| over channels, or the signed value there. */
export function reduceInputGradient(grad: tf.Tensor, opts: SaliencyOptions): Float32Array {
  const [h, w] = opts.imageSize;
  return takeData(tf.tidy(() => {
    const g = tf.reshape(grad, [h, w, -1]);
    if (!opts.signed) return tf.max(tf.abs(g), 2);
    // One channel (grayscale): the gradient is the signed map (tf.oneHot refuses a depth of 1).
    if (g.shape[2] === 1) return tf.reshape(g, [h, w]);
    // argmax of |g| over channels, then pick the signed value there.
    const pick = tf.oneHot(tf.argMax(tf.abs(g), 2), g.shape[2] as number);
    return tf.sum(tf.mul(g, pick), 2);
  }));
}

/** M = |∂S_c/∂x| reduced over colour channels by max (Simonyan et al. 2014). */
export function saliencyFromGradient(grad: tf.Tensor, opts: SaliencyOptions): AttributionMap {
  const [height, width] = opts.imageSize;
  return { method: 'saliency', width, height, data: reduceInputGradient(grad, opts), signed: !!opts.signed };
}

export const saliency: AttributionMethod = {
  spec: methodSpec('saliency'),
  needs: () => ({ gradients: ['input'] }),
  async attribute({ pass, options, image }) {
    return saliencyFromGradient(await pass.gradient('input'), { signed: options.signed === true, imageSize: [image.height, image.width] });
  },
};
