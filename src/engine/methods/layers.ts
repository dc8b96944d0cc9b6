import { UserError } from '../errors';
import type { ModelRuntime } from '../runtimes/types';
import { shortLayerNames } from '../../shared/layerNames';

/** The spatial layers as the panel's picker shows them, for a message. */
function shownList(spatial: readonly string[]): string {
  return [...shortLayerNames(spatial).values()].join(', ') || 'none';
}

/** The sentence for a layer the model does not have. */
export function unknownLayer(layer: string, spatial: readonly string[]): UserError {
  return new UserError(`the model has no layer "${layer}"; spatial layers (for the CAM methods): ${shownList(spatial)}`);
}

/** Picks the spatial layer a CAM uses: the one asked for, checked, else the runtime's default. */
export function resolveSpatialLayer(runtime: ModelRuntime, requested: string | undefined, method = 'Grad-CAM'): string {
  const candidates = runtime.spatialLayers();
  if (requested) {
    requested = runtime.canonicalLayerName?.(requested) ?? requested;
    const hit = candidates.find((c) => c.name === requested);
    if (hit) return hit.name;
    const known = runtime.layerTable().find((r) => r.name === requested);
    if (known) {
      throw new UserError(`layer "${requested}" has no spatial output for ${method} (its output is ${JSON.stringify(known.outputShape)}); ` +
        `use one of: ${shownList(candidates.map((c) => c.name))}`);
    }
    throw unknownLayer(requested, candidates.map((c) => c.name));
  }
  const auto = runtime.defaultSpatialLayer();
  if (!auto) throw new UserError(`${method} needs a convolutional layer with a spatial output, and this model has none (use an input method such as saliency)`);
  return auto;
}
