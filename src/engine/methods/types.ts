import type * as tf from '@tensorflow/tfjs';
import type { MethodName, MethodOptions, MethodSpec } from '../../shared/methods';
import type { Preprocessing } from '../image/preprocess';
import type { ModelRuntime } from '../runtimes/types';
import type { BatchRunner } from './batch';

/** A raw attribution map in model-input space (CAMs: at their layer's size), row-major, not normalized. */
export interface AttributionMap {
  method: MethodName;
  width: number;
  height: number;
  data: Float32Array;
  /** CAMs: the layer used (the first, when several were fused) and its spatial size before upsampling. */
  layer?: string;
  layerSize?: [number, number];
  signed?: boolean;
  /** The options the map was computed with, every one set. */
  options?: MethodOptions;
  /** What the method measured about its own map, e.g. Integrated Gradients' completeness residual. */
  stats?: Record<string, number>;
  /** Things worth telling the user about this map (a CAM with no positive evidence, a residual too large). */
  notes?: string[];
}

/** What is explained: a class, or the difference of two classes' logits (compare view's contrast). */
export interface AttributionTarget {
  /** The class whose probability perturbation methods follow (for a contrast, the first class). */
  classIndex: number;
  /** The vector the logits are multiplied with: one-hot of the class, or e_a − e_b for a contrast. */
  seed: Float32Array;
  /** Set for S_a − S_b. */
  contrast?: [number, number];
}

/**
 * What a shared forward pass of the image gives every method that needs it: the logits, the kept layers'
 * activations and the target's gradients at 'input' or a layer. One pass serves all methods explained
 * together (on ONNX Runtime, one run computes it all).
 */
export interface SharedPass {
  readonly logits: Float32Array;
  activation(layer: string): tf.Tensor4D;
  /** seed·∂logits/∂target; owned by the pass. */
  gradient(target: string): Promise<tf.Tensor>;
}

/** What a method needs from the shared pass, given the layers it attributes to. */
export interface PassNeeds {
  /** Layers whose activations it reads. */
  keep?: string[];
  /** 'input' and/or layers where it reads the target's gradient. */
  gradients?: string[];
}

export interface MethodContext {
  readonly runtime: ModelRuntime;
  /** The preprocessed input [1, ...inputShape]. */
  readonly x: tf.Tensor;
  readonly target: AttributionTarget;
  /** Height, width and channels of the image the input encodes (a flat input is this image flattened). */
  readonly image: { height: number; width: number; channels: number };
  /** How image pixels became x (baselines made of pixels, e.g. black, go through it too); absent: 'unit'. */
  readonly preprocessing?: Preprocessing;
  /** CAMs: the spatial layers to attribute to, the chosen one first. Empty for input methods. */
  readonly layers: string[];
  /** Every option set (resolveOptions). */
  readonly options: MethodOptions;
  readonly pass: SharedPass;
  /** Many inputs through the model, chunked and batched; reports progress. */
  readonly batch: BatchRunner;
}

/**
 * One attribution method over the runtime interface (the role of Captum's `Attribution` and
 * pytorch-grad-cam's `BaseCAM`). Its spec comes from the registry in src/shared/methods.ts.
 */
export interface AttributionMethod {
  readonly spec: MethodSpec;
  /** What the shared pass must hold for this method. */
  needs(layers: string[]): PassNeeds;
  attribute(ctx: MethodContext): Promise<AttributionMap>;
}

/** One-hot seed on the logits: d(seed·logits) = d(logit_c). */
export function classSeed(numClasses: number, classIndex: number): Float32Array {
  const seed = new Float32Array(numClasses);
  seed[classIndex] = 1;
  return seed;
}

/** Copies a tensor's values out and frees it: the maps leave the engine as plain arrays. */
export function takeData(t: tf.Tensor): Float32Array {
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}
