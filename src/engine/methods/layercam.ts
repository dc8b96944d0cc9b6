import * as tf from '@tensorflow/tfjs';
import { methodSpec } from '../../shared/methods';
import { bilinearResize } from '../../shared/resize';
import { camMap, CamWeighting, weightedCam } from './camBase';
import type { AttributionMap, AttributionMethod } from './types';

/**
 * LayerCAM (Jiang et al. 2021; as pytorch-grad-cam): map = ReLU(Σ_k ReLU(G_k) ⊙ A_k) — only positive
 * gradients weigh each position, which keeps earlier layers' maps meaningful.
 */
export const layercamWeights: CamWeighting = (_a, g) => tf.relu(g);

/** One layer's map at its own size, row-major. */
interface LayerMap {
  data: Float32Array;
  height: number;
  width: number;
}

/** γ of the paper's Eq. 9, tanh(γ·M / max M): lifts the weak but real evidence of shallow layers. */
export const LAYERCAM_GAMMA = 2;

/**
 * Several layers' maps in one, as the paper fuses them (Jiang et al. 2021, Eq. 9), applied to every fused
 * map as torchcam's LayerCAM.fuse_cams does: each scaled to tanh(γ·M / max M) (an all-zero map stays zero),
 * resized to the largest one's size (bilinear, half-pixel centres: torch's align_corners=False,
 * cv2.resize, and what the panel draws with), then the element-wise maximum. pytorch-grad-cam averages
 * the maps instead, which dims what only one layer sees.
 */
export function fuseLayerMaps(maps: LayerMap[]): LayerMap {
  const { height, width } = maps.reduce((a, b) => (b.height * b.width > a.height * a.width ? b : a));
  const data = new Float32Array(height * width);
  for (const m of maps) {
    const max = m.data.reduce((a, v) => Math.max(a, v), 0);
    const scaled = m.data.map((v) => (max > 0 ? Math.tanh((LAYERCAM_GAMMA * v) / max) : 0));
    const resized = bilinearResize(scaled, m.width, m.height, width, height);
    for (let i = 0; i < data.length; i++) data[i] = Math.max(data[i], resized[i]);
  }
  return { data, height, width };
}

export const layercam: AttributionMethod = {
  spec: methodSpec('layercam'),
  // Every fused layer is kept and differentiated in the one shared pass.
  needs: (layers) => ({ keep: layers, gradients: layers }),
  async attribute({ pass, layers }) {
    const maps: LayerMap[] = [];
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
    if (maps.length === 1) return camMap('layercam', layers[0], maps[0].data, [maps[0].height, maps[0].width]);
    const fused = fuseLayerMaps(maps);
    // Labelled with the first layer, at that layer's own size; the map itself has the fused (largest) size.
    const map: AttributionMap = {
      method: 'layercam', width: fused.width, height: fused.height, data: fused.data,
      layer: layers[0], layerSize: [maps[0].height, maps[0].width],
    };
    const listed = layers.map((l, i) => `"${l}" (${maps[i].height}×${maps[i].width})`).join(', ');
    map.notes = [`LayerCAM fuses layers ${listed} at ${fused.height}×${fused.width}`];
    return map;
  },
};
