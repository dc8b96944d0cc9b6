import * as tf from '@tensorflow/tfjs';
import { methodSpec } from '../../shared/methods';
import { axisTaps } from '../../shared/resize';
import { camMap, weightedCam } from './camBase';
import { probabilities } from './scores';
import type { AttributionMethod, MethodContext } from './types';

/** pytorch-grad-cam's eps under max − min when scaling a channel's mask. */
const EPS = 1e-8;

/**
 * Channels that get a mask: every channel that is not constant over the layer (its mask would carry no
 * position; the authors' code skips it, pytorch-grad-cam scores an all-zero mask: we give it weight 0 and
 * save its pass), or with `maxChannels` > 0, only that many of them with the largest mean activation
 * (ties: lower index).
 */
export function scoredChannels(activation: Float32Array, k: number, maxChannels: number): number[] {
  const positions = activation.length / k;
  const min = new Float64Array(k).fill(Infinity);
  const max = new Float64Array(k).fill(-Infinity);
  const mean = new Float64Array(k);
  for (let p = 0; p < positions; p++) {
    for (let c = 0; c < k; c++) {
      const v = activation[p * k + c];
      if (v < min[c]) min[c] = v;
      if (v > max[c]) max[c] = v;
      mean[c] += v / positions;
    }
  }
  const varying = Array.from({ length: k }, (_, c) => c).filter((c) => max[c] > min[c]);
  if (maxChannels <= 0 || maxChannels >= varying.length) return varying;
  return varying.sort((a, b) => mean[b] - mean[a] || a - b).slice(0, maxChannels).sort((a, b) => a - b);
}

/**
 * The masked inputs of channels[start..end): each channel's activation resized to the image (bilinear,
 * corners aligned, as torch's UpsamplingBilinear2d), scaled to [0, 1] by its own min and max
 * ((M − min)/(max − min + eps)), times the preprocessed input x. [end − start, ...inputShape].
 * Plain loops: tfjs's broadcasting multiply of n masks with the image took seconds on wasm for a
 * ResNet-18 layer's 512 channels at 224², these take a fraction of one.
 */
function maskedInputs(ctx: MethodContext, a: { data: Float32Array; h: number; w: number; k: number }, image: Float32Array,
  channels: number[], start: number, end: number): tf.Tensor {
  const { height: H, width: W, channels: C } = ctx.image;
  const { h, w, k } = a;
  const rows = axisTaps(h, H, { alignCorners: true });
  const cols = axisTaps(w, W, { alignCorners: true });
  const out = new Float32Array((end - start) * H * W * C);
  const across = new Float64Array(h * W); // each source row resized along x
  const up = new Float64Array(H * W);
  for (let n = start; n < end; n++) {
    const ch = channels[n];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < W; x++) {
        const v0 = a.data[(y * w + cols.i0[x]) * k + ch];
        const v1 = a.data[(y * w + cols.i1[x]) * k + ch];
        across[y * W + x] = v0 + (v1 - v0) * cols.w[x];
      }
    }
    let min = Infinity;
    let max = -Infinity;
    for (let y = 0; y < H; y++) {
      const r0 = rows.i0[y] * W;
      const r1 = rows.i1[y] * W;
      const fy = rows.w[y];
      for (let x = 0; x < W; x++) {
        const v = across[r0 + x] + (across[r1 + x] - across[r0 + x]) * fy;
        up[y * W + x] = v;
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    const scale = 1 / (max - min + EPS);
    let o = (n - start) * H * W * C;
    for (let p = 0, i = 0; p < H * W; p++) {
      const m = (up[p] - min) * scale;
      for (let c = 0; c < C; c++, i++, o++) out[o] = image[i] * m;
    }
  }
  return tf.tensor(out, [end - start, ...ctx.runtime.inputShape]);
}

/**
 * Score-CAM (Wang et al. 2020), as pytorch-grad-cam's ScoreCAM with its default target: each channel's
 * score is the class logit of the input masked by that channel's upsampled map, the channel weights are the
 * softmax of those scores over the channels, and map = ReLU(Σ_k w_k A_k). (The authors' code, haofanwang/
 * Score-CAM, weighs each channel by the class's softmax probability of its masked input instead.) A contrast target scores seed·logits = S_a − S_b of each masked
 * input, which is the same rule with its seed. Channels not scored (constant, or beyond `maxChannels`) weigh 0.
 */
export const scorecam: AttributionMethod = {
  spec: methodSpec('scorecam'),
  needs: (layers) => ({ keep: layers.slice(0, 1) }),
  async attribute(ctx) {
    const [layer] = ctx.layers;
    const activation = ctx.pass.activation(layer);
    const [, h, w, k] = activation.shape;
    const values = activation.dataSync() as Float32Array;
    const channels = scoredChannels(values, k, Number(ctx.options.maxChannels));
    const weights = new Float32Array(k);
    if (channels.length) {
      const image = ctx.x.dataSync() as Float32Array;
      const a = { data: values, h, w, k };
      const logits = await ctx.batch.forward(channels.length, (start, end) => maskedInputs(ctx, a, image, channels, start, end));
      const classes = ctx.runtime.numClasses;
      const seed = ctx.target.seed;
      const scores = Float64Array.from(channels, (_, i) => {
        let s = 0;
        for (let c = 0; c < classes; c++) s += seed[c] * logits[i * classes + c];
        return s;
      });
      probabilities(scores, 'softmax').forEach((v, i) => (weights[channels[i]] = v));
    }
    const wt = tf.tensor4d(weights, [1, 1, 1, k]);
    try {
      const map = camMap('scorecam', layer, weightedCam(activation, wt), [h, w]);
      map.stats = { channelsScored: channels.length };
      return map;
    } finally {
      wt.dispose();
    }
  },
};
