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

/**
 * [n, qh, qw, sh·sw·C] with channels in (rh, rw, c) order → [n, qh·sh, qw·sw, C], row q·sh + rh.
 * A 4-D transpose: wasm's DepthToSpace is a scalar loop ten times slower.
 */
function interleavePhases(phases: tf.Tensor4D, sh: number, sw: number, channels: number): tf.Tensor4D {
  const [n, qh, qw] = phases.shape;
  const rows = tf.transpose(tf.reshape(phases, [n * qh, qw, sh, sw * channels]), [0, 2, 1, 3]);
  return tf.reshape(rows, [n, qh * sh, qw * sw, channels]);
}

/** Below this many input channels, a strided conv's phases run as one convolution (see `stacked`). */
const STACK_PHASES_MAX_CHANNELS = 8;

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
  /**
   * All phases in one convolution, for strided convolutions with few input channels (a network's
   * stem, e.g. 7×7/2 on RGB): each phase alone would write 3 channels, which XNNPACK computes at a
   * fraction of its speed; together they write s²·3, and depth-to-space interleaves them.
   */
  private stacked?: tf.Tensor4D;

  private constructor(
    private readonly g: ConvGeometry,
    /** [rh][rw] phases; a single phase for stride 1. */
    private readonly phases: Phase[][],
    private readonly depthwiseMultiplier: number | undefined,
  ) {}

  /** kernel: [kh, kw, in, out] of a Conv2D layer. */
  static conv2d(kernel: tf.Tensor4D, g: ConvGeometry): ConvInputGradient {
    const grad = new ConvInputGradient(g, ConvInputGradient.split(kernel, g, (k) => tf.transpose(tf.reverse(k, [0, 1]), [0, 1, 3, 2])), undefined);
    const [sh, sw] = g.strides;
    if (sh === sw && sh > 1 && kernel.shape[2] <= STACK_PHASES_MAX_CHANNELS) grad.stacked = grad.stackPhases(kernel.shape[2], kernel.shape[3]);
    return grad;
  }

  /**
   * [mh, mw, out, s²·in]: every phase's flipped sub-kernel, aligned to the largest tap count. A phase
   * with fewer taps reads the same padded gradient from a later offset, so its taps sit at the end.
   */
  private stackPhases(inChannels: number, outChannels: number): tf.Tensor4D {
    const mh = Math.max(...this.phases.flat().map((p) => p.taps[0]));
    const mw = Math.max(...this.phases.flat().map((p) => p.taps[1]));
    return tf.keep(tf.tidy(() => tf.concat(this.phases.flat().map(({ kernel, taps: [th, tw] }) =>
      kernel ? tf.pad(kernel, [[mh - th, 0], [mw - tw, 0], [0, 0], [0, 0]]) : tf.zeros([mh, mw, outChannels, inChannels])), 3) as tf.Tensor4D));
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
      // Phases side by side in channels, (rh, rw, c) order, as one convolution or one per phase.
      const phases = this.stacked
        ? this.correlate(dy, this.stacked, [this.stacked.shape[0] - 1, qh - outH, this.stacked.shape[1] - 1, qw - outW], [1, 1])
        : tf.concat(this.phases.flat().map(({ kernel, taps: [mh, mw] }) => kernel
          ? this.correlate(dy, kernel, [mh - 1, qh - outH, mw - 1, qw - outW], [1, 1])
          : tf.zeros([n, qh, qw, channels])), 3) as tf.Tensor4D;
      grad = tf.slice(interleavePhases(phases, sh, sw, channels), [0, pt, pl, 0], [n, inH, inW, channels]) as tf.Tensor4D;
    }
    const m = this.depthwiseMultiplier;
    if (m === undefined || m === 1) return grad;
    // Output channel c·M+m came from input channel c: sum the M contributions back.
    return tf.sum(tf.reshape(grad, [n, inH, inW, inShape[3], m]), 4) as tf.Tensor4D;
  }

  dispose(): void {
    this.stacked?.dispose();
    this.phases.flat().forEach((p) => p.kernel?.dispose());
  }
}
