import * as tf from '@tensorflow/tfjs';
import { methodSpec } from '../../shared/methods';
import { bilinearResize } from '../../shared/resize';
import { camMap, CamWeighting, weightedCam } from './camBase';
import type { AttributionMethod } from './types';

/**
 * LayerCAM (Jiang et al. 2021; as pytorch-grad-cam): map = ReLU(Σ_k ReLU(G_k) ⊙ A_k) — only positive
 * gradients weigh each position, which keeps earlier layers' maps meaningful.
 */
export const layercamWeights: CamWeighting = (_a, g) => tf.relu(g);

/**
 * Several layers' maps in one: each divided by its maximum (an all-zero map stays zero), resized to the
 * largest one's size (bilinear, half-pixel centres: torch's align_corners=False, cv2.resize, and what the
 * panel draws with), then the element-wise maximum — the paper's fusion; pytorch-grad-cam averages the
 * scaled maps instead, which dims what only one layer sees.
 */
export function fuseLayerMaps(maps: { data: Float32Array; height: number; width: number }[]): { data: Float32Array; height: number; width: number } {
  const { height, width } = maps.reduce((a, b) => (b.height * b.width > a.height * a.width ? b : a));
  const data = new Float32Array(height * width);
  for (const m of maps) {
    const max = m.data.reduce((a, v) => Math.max(a, v), 0);
    const resized = bilinearResize(m.data, m.width, m.height, width, height);
    for (let i = 0; i < data.length; i++) data[i] = Math.max(data[i], max > 0 ? resized[i] / max : 0);
  }
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
