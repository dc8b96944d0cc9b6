import type { SpatialLayer } from '../types';

/** A layer output usable for Grad-CAM: [batch, H, W, C] with more than one spatial cell. */
export function isSpatialCandidate(shape: (number | null)[]): boolean {
  // Batch: unknown (Layers) or 1 (a Graph model run on one image); anything else is not an activation of the image.
  return shape.length === 4 && (shape[0] == null || shape[0] === 1) && shape[1] != null && shape[2] != null && shape[3] != null &&
    shape[1] * shape[2] > 1;
}

/**
 * Pooling and noise layers only resample what the layer before them saw; reshaping and dense layers on
 * 4-D tensors may leave axes 1–2 that are no longer image space.
 */
const RESAMPLING = /pool|dropout|noise|pad|cropping|permute|reshape|dense|flatten/i;

/**
 * The last spatial layer before the classifier, skipping layers that only pool or pad:
 * pooling halves the resolution and adds no evidence, so the layer before it makes a
 * sharper map (the usual choice in Grad-CAM practice: the last convolutional block).
 */
export function pickDefaultLayer(candidates: SpatialLayer[]): string | undefined {
  for (let i = candidates.length - 1; i >= 0; i--) {
    if (!RESAMPLING.test(candidates[i].type)) return candidates[i].name;
  }
  return candidates[candidates.length - 1]?.name;
}
