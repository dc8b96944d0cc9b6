import * as tf from '@tensorflow/tfjs';
import { methodSpec } from '../../shared/methods';
import { bilinearResize } from '../../shared/resize';
import { UserError } from '../errors';
import { gradcamFromActivations } from './gradcam';
import { reduceInputGradient } from './saliency';
import type { AttributionMethod, MethodContext } from './types';

/**
 * The Guided Backpropagation gradient of the target at the input, [1, ...inputShape] (Springenberg et
 * al. 2015): the backward pass with every ReLU passing back only positive gradients where its input
 * was positive. Only runtimes that build their own backward graphs can change that rule (ONNX Runtime).
 */
async function guidedGradient(ctx: MethodContext, subject: string): Promise<tf.Tensor> {
  const { runtime } = ctx;
  if (!runtime.gradientBatch || !runtime.backwardRules?.includes('guided')) {
    throw new UserError(`${subject} ONNX Runtime to change the ReLU gradient; this model runs on tfjs ` +
      '(it did not convert to ONNX, or the tfjs runtime was chosen)');
  }
  let gradient: tf.Tensor | undefined;
  await ctx.batch.gradients(1, () => ctx.x.clone(), ctx.target.seed, (_start, g) => {
    gradient = g.clone();
  }, { guided: true });
  return gradient!;
}

export const guidedBackprop: AttributionMethod = {
  spec: methodSpec('guided-backprop'),
  needs: () => ({}),
  async attribute(ctx) {
    const { height, width } = ctx.image;
    const signed = ctx.options.signed === true;
    const gradient = await guidedGradient(ctx, 'Guided Backpropagation needs');
    try {
      return { method: 'guided-backprop', width, height, data: reduceInputGradient(gradient, { signed, imageSize: [height, width] }), signed };
    } finally {
      gradient.dispose();
    }
  },
};

/**
 * Guided Grad-CAM (Selvaraju et al. 2017, §3.2): the Guided Backpropagation gradient multiplied, channel
 * by channel, with the layer's Grad-CAM upsampled bilinearly (half-pixel centres, as OpenCV's resize in
 * pytorch-grad-cam's example) to the input size, then reduced per pixel like saliency. The CAM keeps its
 * raw values (pytorch-grad-cam scales it to [0, 1] first): maps of different classes stay on one scale.
 */
export const guidedGradcam: AttributionMethod = {
  spec: methodSpec('guided-gradcam'),
  needs: (layers) => ({ keep: layers.slice(0, 1), gradients: layers.slice(0, 1) }),
  async attribute(ctx) {
    const [layer] = ctx.layers;
    const { height, width, channels } = ctx.image;
    const signed = ctx.options.signed === true;
    const gradient = await guidedGradient(ctx, 'Guided Grad-CAM multiplies Grad-CAM with Guided Backpropagation, which needs');
    try {
      const activation = ctx.pass.activation(layer);
      const [, h, w] = activation.shape;
      const cam = bilinearResize(gradcamFromActivations(activation, (await ctx.pass.gradient(layer)) as tf.Tensor4D), w, h, width, height);
      const product = tf.tidy(() => tf.mul(tf.reshape(gradient, [height, width, channels]), tf.tensor3d(cam, [height, width, 1])));
      try {
        const data = reduceInputGradient(product, { signed, imageSize: [height, width] });
        return { method: 'guided-gradcam', width, height, data, signed, layer, layerSize: [h, w] };
      } finally {
        product.dispose();
      }
    } finally {
      gradient.dispose();
    }
  },
};
