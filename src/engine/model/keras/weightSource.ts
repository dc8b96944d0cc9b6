import type { Leaf } from './translate';

/** One stored weight of a layer: its variable name when the file records it, its shape, its values on demand. */
export interface SourceWeight {
  name?: string;
  shape: number[];
  read(): Float32Array;
}

/** Where a layer's weights are in the file (decoded only when asked for). */
export interface WeightSource {
  /** What to call the weights in messages, e.g. "model.weights.h5" or "model_weights". */
  readonly where: string;
  /** The layer's stored weights, in the file's order; undefined when the file has none for it. */
  weightsOf(layerName: string, leaf: Leaf): SourceWeight[] | undefined;
}
