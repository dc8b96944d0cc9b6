import * as tf from '@tensorflow/tfjs';
import { methodSpec } from '../../shared/methods';
import { camMap, CamWeighting, weightedCam } from './camBase';
import { AttributionMethod, takeData } from './types';

/**
 * LayerCAM (Jiang et al. 2021; as pytorch-grad-cam): map = ReLU(Σ_k ReLU(G_k) ⊙ A_k) — only positive
 * gradients weigh each position, which keeps earlier layers' maps meaningful.
 */
export const layercamWeights: CamWeighting = (_a, g) => tf.relu(g);

/**
 * Several layers' maps in one: each divided by its maximum (an all-zero map stays zero), resized to the
 * largest one's size (bilinear, half-pixel centres as torch's align_corners=False and cv2.resize), then
 * the element-wise maximum — the paper's fusion; pytorch-grad-cam averages the scaled maps instead,
 * which dims what only one layer sees.
 */
export function fuseLayerMaps(maps: { data: Float32Array; height: number; width: number }[]): { data: Float32Array; height: number; width: number } {
  const largest = maps.reduce((a, b) => (b.height * b.width > a.height * a.width ? b : a));
  const { height, width } = largest;
  const data = takeData(tf.tidy(() => {
    const scaled = maps.map((m) => {
      const max = m.data.reduce((a, v) => Math.max(a, v), 0);
      const t = tf.tensor4d(m.data, [1, m.height, m.width, 1]);
      const unit = max > 0 ? tf.div(t, max) : t;
      return m.height === height && m.width === width ? unit : tf.image.resizeBilinear(unit, [height, width], false, true);
    });
    return scaled.reduce((a, b) => tf.maximum(a, b));
  }));
  return { data, height, width };
}

export const layercam: AttributionMethod = {
  spec: methodSpec('layercam'),
  // Every fused layer is kept and differentiated in the one shared pass.
  needs: (layers) => ({ keep: layers, gradients: layers }),
  async attribute({ pass, layers }) {
    const maps = [];
    for (const layer of layers) {
      const a = pass.activation(layer);
      const g = (await pass.gradient(layer)) as tf.Tensor4D;
      const weights = tf.tidy(() => layercamWeights(a, g));
      try {
        maps.push({ data: weightedCam(a, weights), height: a.shape[1], width: a.shape[2] });
      } finally {
        weights.dispose();
      }
    }
    const fused = maps.length === 1 ? maps[0] : fuseLayerMaps(maps);
    const map = camMap('layercam', layers[0], fused.data, [fused.height, fused.width]);
    if (layers.length > 1) (map.notes ??= []).push(`LayerCAM fuses layers ${layers.map((l) => `"${l}"`).join(', ')} at ${fused.height}×${fused.width}`);
    return map;
  },
};
