import type * as tf from '@tensorflow/tfjs';
import type { Explainer } from '../explain';
import type { AttributionMap } from '../methods/types';
import type { ModelRuntime } from '../runtimes/types';
import type { MethodName, MethodOptions } from '../../shared/methods';

/**
 * One registry method's map of one input and class on any runtime of a model: what the randomization check
 * computes on the trained model and on each randomized copy. The class and the layer stay the trained model's
 * (Adebayo et al. explain the same label on every randomized network).
 */
export interface MethodMapSpec {
  method: MethodName;
  /** The method's options; the registry's defaults fill the rest. */
  options?: MethodOptions;
  /** The class explained (fixed: a randomized model predicts something else). */
  classIndex: number;
  /** CAMs: the spatial layer (default: the runtime's choice, the same on every copy of the graph). */
  layer?: string;
}

/** A function giving the method's map of x on a runtime of `ex`'s model: the `mapOf` of modelRandomization. */
export function methodMapOf(ex: Explainer, x: tf.Tensor, spec: MethodMapSpec): (runtime: ModelRuntime) => Promise<AttributionMap> {
  return async (runtime) => {
    const result = await ex.onRuntime(runtime).explainTensor(x, {
      methods: [spec.method], options: { [spec.method]: spec.options ?? {} }, target: spec.classIndex, layer: spec.layer,
    });
    return result.maps[0];
  };
}
