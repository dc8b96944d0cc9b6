import * as tf from '@tensorflow/tfjs';

/**
 * Input gradients of convolutions computed as *forward* convolutions, which tfjs-wasm runs on
 * XNNPACK: its Conv2DBackpropInput is a scalar loop and it has no depthwise backprop at all
 * (DESIGN.md §4).
 *  - stride 1: a 'valid' correlation of the padded output gradient with the flipped kernel;
 *  - stride s > 1: polyphase. Input row i = q·s + r − pad only receives kernel taps k ≡ r (mod s),
 *    so each of the s² phases is a small stride-1 correlation with the sub-kernel w[r::s], and
 *    the phases interleave back into the gradient. Same multiply count as the forward pass,
 *    where zero-stuffing the output gradient would cost s² times more.
 */

/** Explicit [[top, bottom], [left, right]] padding, as a folded ZeroPadding2D gives. */
export type ExplicitPads = [[number, number], [number, number]];

export interface ConvGeometry {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: 'same' | 'valid' | ExplicitPads;
}

/** Padding before the first row (axis 0) or column (axis 1), as tfjs/TensorFlow compute it. */
function padBefore(g: ConvGeometry, axis: 0 | 1, inSize: number, outSize: number): number {
  if (g.padding === 'valid') return 0;
  if (Array.isArray(g.padding)) return g.padding[axis][0];
  const effective = (g.kernel[axis] - 1) * g.dilations[axis] + 1;
  return Math.floor(Math.max((outSize - 1) * g.strides[axis] + effective - inSize, 0) / 2);
}

/** Crops the sides given as negative amounts; returns the padding left to apply (all ≥ 0). */
function cropNegative(x: tf.Tensor4D, [top, bottom, left, right]: number[]): [tf.Tensor4D, number[]] {
  if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) return [x, [top, bottom, left, right]];
  const [, h, w] = x.shape;
  const t = Math.max(-top, 0);
  const l = Math.max(-left, 0);
  const cropped = tf.slice(x, [0, t, l, 0], [-1, h - t - Math.max(-bottom, 0), w - l - Math.max(-right, 0), -1]);
  return [cropped, [top, bottom, left, right].map((p) => Math.max(p, 0))];
}

/** One stride-1 correlation: flipped kernel, with the tap count and offset of one phase per axis. */
interface Phase {
  /** Flipped (sub-)kernel: [mh, mw, out, in] for conv2d, [mh, mw, C·M, 1] for depthwise; null when no tap falls in this phase. */
  kernel: tf.Tensor4D | null;
  taps: [number, number];
}

/**
 * Input gradient of one convolution layer, with its flipped kernels prepared once.
 * Owns tensors: dispose() when the model goes away.
 */
export class ConvInputGradient {
  private constructor(
    private readonly g: ConvGeometry,
    /** [rh][rw] phases; a single phase for stride 1. */
    private readonly phases: Phase[][],
    private readonly depthwiseMultiplier: number | undefined,
  ) {}

  /** kernel: [kh, kw, in, out] of a Conv2D layer. */
  static conv2d(kernel: tf.Tensor4D, g: ConvGeometry): ConvInputGradient {
    return new ConvInputGradient(g, ConvInputGradient.split(kernel, g, (k) => tf.transpose(tf.reverse(k, [0, 1]), [0, 1, 3, 2])), undefined);
  }

  /** kernel: [kh, kw, C, M] of a DepthwiseConv2D layer. */
  static depthwise(kernel: tf.Tensor4D, g: ConvGeometry): ConvInputGradient {
    const [, , c, m] = kernel.shape;
    const flip = (k: tf.Tensor4D) => tf.reshape(tf.reverse(k, [0, 1]), [k.shape[0], k.shape[1], c * m, 1]) as tf.Tensor4D;
    return new ConvInputGradient(g, ConvInputGradient.split(kernel, g, flip), m);
  }

  private static split(kernel: tf.Tensor4D, g: ConvGeometry, flip: (k: tf.Tensor4D) => tf.Tensor4D): Phase[][] {
    const [kh, kw, ci, co] = kernel.shape;
    const [sh, sw] = g.strides;
    if ((sh > 1 || sw > 1) && (g.dilations[0] > 1 || g.dilations[1] > 1)) {
      throw new Error('convolutions with both stride and dilation above 1 are not defined');
    }
    return Array.from({ length: sh }, (_, rh) => Array.from({ length: sw }, (_, rw) => {
      const taps: [number, number] = [Math.max(0, Math.ceil((kh - rh) / sh)), Math.max(0, Math.ceil((kw - rw) / sw))];
      if (taps[0] === 0 || taps[1] === 0) return { kernel: null, taps };
      const sub = () => (sh === 1 && sw === 1 ? kernel : tf.stridedSlice(kernel, [rh, rw, 0, 0], [kh, kw, ci, co], [sh, sw, 1, 1]) as tf.Tensor4D);
      // keep: prepared once inside some backward pass's tidy, used by every later one.
      return { kernel: tf.keep(tf.tidy(() => flip(sub()))), taps };
    }));
  }

  /**
   * Stride-1 correlation of x, padded by [top, bottom, left, right], with a flipped kernel. The padding
   * goes to the convolution as explicit padding (XNNPACK pads on the fly): tf.pad would copy x.
   */
  private correlate(x: tf.Tensor4D, kernel: tf.Tensor4D, pads: number[], dilations: [number, number]): tf.Tensor4D {
    const [input, [t, b, l, r]] = cropNegative(x, pads);
    const pad: tf.backend_util.ExplicitPadding = [[0, 0], [t, b], [l, r], [0, 0]];
    return this.depthwiseMultiplier === undefined
      ? tf.conv2d(input, kernel, 1, pad, 'NHWC', dilations)
      : tf.depthwiseConv2d(input, kernel, 1, pad, 'NHWC', dilations);
  }

  /** Channels of the gradient before depthwise multipliers are summed. */
  private outChannels(dy: tf.Tensor4D, inShape: number[]): number {
    return this.depthwiseMultiplier === undefined ? inShape[3] : dy.shape[3];
  }

  apply(dy: tf.Tensor4D, inShape: number[]): tf.Tensor4D {
    const [n, outH, outW] = dy.shape;
    const [, inH, inW] = inShape;
    const g = this.g;
    const [sh, sw] = g.strides;
    const pt = padBefore(g, 0, inH, outH);
    const pl = padBefore(g, 1, inW, outW);
    let grad: tf.Tensor4D;
    if (sh === 1 && sw === 1) {
      const [dh, dw] = g.dilations;
      const [kh, kw] = g.kernel;
      grad = this.correlate(dy, this.phases[0][0].kernel!, [(kh - 1) * dh - pt, inH + pt - outH, (kw - 1) * dw - pl, inW + pl - outW], g.dilations);
    } else {
      // Phase (rh, rw) yields input rows q·sh + rh − pt for q in [0, qh): a common grid for all phases.
      const qh = Math.ceil((inH + pt) / sh);
      const qw = Math.ceil((inW + pl) / sw);
      const channels = this.outChannels(dy, inShape);
      const rows = this.phases.map((phaseRow) => tf.stack(phaseRow.map(({ kernel, taps: [mh, mw] }) => {
        if (!kernel) return tf.zeros([n, qh, qw, channels]);
        return this.correlate(dy, kernel, [mh - 1, qh - outH, mw - 1, qw - outW], [1, 1]);
      }), 3)); // each [n, qh, qw, sw, C]
      const interleaved = tf.reshape(tf.stack(rows, 2), [n, qh * sh, qw * sw, channels]);
      grad = tf.slice(interleaved, [0, pt, pl, 0], [n, inH, inW, channels]) as tf.Tensor4D;
    }
    const m = this.depthwiseMultiplier;
    if (m === undefined || m === 1) return grad;
    // Output channel c·M+m came from input channel c: sum the M contributions back.
    return tf.sum(tf.reshape(grad, [n, inH, inW, inShape[3], m]), 4) as tf.Tensor4D;
  }

  dispose(): void {
    this.phases.flat().forEach((p) => p.kernel?.dispose());
  }
}
