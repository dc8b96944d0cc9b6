import * as tf from '@tensorflow/tfjs';

/**
 * Input gradients of convolutions computed as *forward* convolutions, which tfjs-wasm runs on
 * XNNPACK: its Conv2DBackpropInput is a scalar loop and it has no depthwise backprop at all
 * (DESIGN.md §4). The gradient of a strided convolution is a stride-1 correlation of the
 * zero-interleaved output gradient with the spatially flipped kernel.
 */

export interface ConvGeometry {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: 'same' | 'valid';
}

/** Padding tfjs/TensorFlow put before the first row/column: floor(total / 2). */
function padBefore(inSize: number, outSize: number, k: number, stride: number, dilation: number, padding: 'same' | 'valid'): number {
  if (padding === 'valid') return 0;
  const effective = (k - 1) * dilation + 1;
  const total = Math.max((outSize - 1) * stride + effective - inSize, 0);
  return Math.floor(total / 2);
}

/** Puts stride−1 zeros after every element along H and W: [N,H,W,C] → [N,H·sh,W·sw,C]. */
function interleaveZeros(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [n, h, w, c] = dy.shape;
  const six = tf.reshape(dy, [n, h, 1, w, 1, c]);
  const padded = tf.pad(six, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return tf.reshape(padded, [n, h * sh, w * sw, c]);
}

/** Pads (positive) or crops (negative) each spatial side. */
function padOrCrop(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  let y = x;
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    y = tf.pad(y, [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]]);
  }
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [, h, w] = y.shape;
    const t = Math.max(-top, 0);
    const l = Math.max(-left, 0);
    y = tf.slice(y, [0, t, l, 0], [-1, h - t - Math.max(-bottom, 0), w - l - Math.max(-right, 0), -1]);
  }
  return y;
}

/**
 * Lays out the output gradient so that a stride-1 'valid' correlation with the flipped kernel
 * yields exactly the input gradient of size inH × inW.
 */
function spreadForCorrelation(dy: tf.Tensor4D, inH: number, inW: number, g: ConvGeometry): tf.Tensor4D {
  const [, outH, outW] = dy.shape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  const pt = padBefore(inH, outH, kh, sh, dh, g.padding);
  const pl = padBefore(inW, outW, kw, sw, dw, g.padding);
  const spread = interleaveZeros(dy, sh, sw);
  // After interleaving the length is out·s; the true gradient support ends at (out−1)·s + 1.
  const bottom = inH + pt - (outH - 1) * sh - 1 - (sh - 1);
  const right = inW + pl - (outW - 1) * sw - 1 - (sw - 1);
  return padOrCrop(spread, (kh - 1) * dh - pt, bottom, (kw - 1) * dw - pl, right);
}

/** Kernel [kh,kw,in,out] → flipped in space with in/out swapped: [kh,kw,out,in]. */
export function flipConvKernel(kernel: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]));
}

/** Depthwise kernel [kh,kw,C,M] → flipped in space, laid out as [kh,kw,C·M,1]. */
export function flipDepthwiseKernel(kernel: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, c, m] = kernel.shape;
  return tf.tidy(() => tf.reshape(tf.reverse(kernel, [0, 1]), [kh, kw, c * m, 1]));
}

export function conv2dInputGrad(dy: tf.Tensor4D, inShape: number[], flipped: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const spread = spreadForCorrelation(dy, inShape[1], inShape[2], g);
  return tf.conv2d(spread, flipped, 1, 'valid', 'NHWC', g.dilations);
}

export function depthwiseInputGrad(dy: tf.Tensor4D, inShape: number[], flipped: tf.Tensor4D, multiplier: number, g: ConvGeometry): tf.Tensor4D {
  const spread = spreadForCorrelation(dy, inShape[1], inShape[2], g);
  const perOutput = tf.depthwiseConv2d(spread, flipped, 1, 'valid', 'NHWC', g.dilations);
  if (multiplier === 1) return perOutput;
  const [n, h, w] = perOutput.shape;
  // Output channel c·M+m came from input channel c: sum the M contributions back.
  return tf.sum(tf.reshape(perOutput, [n, h, w, inShape[3], multiplier]), 4) as tf.Tensor4D;
}
