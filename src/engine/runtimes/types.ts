import type * as tf from '@tensorflow/tfjs';

/** What the model's last layer applied to its logits; attribution always targets the logits. */
export type OutputActivation = 'softmax' | 'sigmoid' | 'none';

export interface LayerRow {
  name: string;
  type: string;
  /** Output shape without the batch dimension; null for unknown dimensions. */
  outputShape: (number | null)[];
  params: number;
}

export interface SpatialLayer {
  name: string;
  type: string;
  /** Spatial size of the layer's output (height, width) and its channels. */
  height: number;
  width: number;
  channels: number;
}

/**
 * One forward pass, kept alive so several backward passes (saliency, Grad-CAM, other classes)
 * reuse it. Dispose it when done: it owns the tensors it saved.
 */
export interface Trace {
  /** [1, classes] logits (before softmax/sigmoid). */
  readonly logits: tf.Tensor2D;
  /** Output of a layer kept for Grad-CAM (must be named in `keep` when tracing). */
  activation(layer: string): tf.Tensor4D;
  /**
   * Vector-Jacobian product: seed·∂logits/∂target for each target ('input' or a layer name).
   * The returned tensors belong to the caller.
   */
  vjp(seed: tf.Tensor2D, targets: string[]): Promise<Map<string, tf.Tensor>>;
  /** vjp takes a seed of several rows [S, classes] and returns gradients with S rows (one backward run). */
  readonly batchedSeeds?: boolean;
  dispose(): void;
}

export interface GradientOptions {
  /** Guided Backpropagation: through each ReLU only positive gradients where the input was positive. */
  guided?: boolean;
}

export interface ExplainPass {
  logits: Float32Array;
  classIndex: number;
  activations: Map<string, tf.Tensor4D>;
  grads: Map<string, tf.Tensor>;
}

/** The small interface every attribution method is written against (DESIGN.md §1). */
export interface ModelRuntime {
  readonly kind: 'layers' | 'graph' | 'onnx';
  /** Model input shape without batch, dynamic dimensions resolved. */
  readonly inputShape: number[];
  readonly numClasses: number;
  readonly outputActivation: OutputActivation;
  /** Name of the output attributed (the first unless chosen). */
  readonly outputName: string;
  layerTable(): LayerRow[];
  /** Layers with a 4-D spatial output that the logits depend on, input side first. */
  spatialLayers(): SpatialLayer[];
  /** The candidate Grad-CAM uses when the user names none. */
  defaultSpatialLayer(): string | undefined;
  /** Optional: why that candidate, in a sentence (say, a ViT's last layers whose patch tokens get no gradient). */
  defaultSpatialLayerReason?(): string | undefined;
  /**
   * The listed name (layerTable, spatialLayers) of a layer the user named another way, e.g. an
   * ONNX tensor name for its producing node; undefined when the runtime knows no other names.
   */
  canonicalLayerName?(name: string): string | undefined;
  /**
   * Optional: whether a spatial layer is a transformer's token layer read as a patch grid: whether its patch
   * tokens get no gradient (after a class-token head's last attention: a gradient CAM there is blank), and
   * whether the model has full attention over its patches (a ViT), with a class token or pooling its patches.
   */
  tokenLayer?(name: string): { blind: boolean; attention?: { classToken: boolean } } | undefined;
  /**
   * Runs the model on x ([1, H, W, C], as the engine prepares it); native runtimes run asynchronously.
   * `early`: as in explainPass, the logits first when keeping these layers needs a run to be prepared.
   */
  trace(x: tf.Tensor, keep?: string[], early?: (logits: Float32Array) => void): Promise<Trace>;
  /**
   * Optional: predictions, kept activations and the class's gradients at `targets` from one pass, for
   * runtimes where a trace and each gradient cost a forward pass of their own (ONNX Runtime). `target`
   * is a class index, or 'top' for the predicted class, chosen inside the pass. The tensors belong to the caller.
   * `early` hears the logits first when the pass must be prepared (a new gradient graph takes far longer than a
   * forward run), so a caller can show the predictions while it is.
   */
  explainPass?(x: tf.Tensor, target: number | 'top', keep: string[], targets: string[], early?: (logits: Float32Array) => void): Promise<ExplainPass>;
  /**
   * Optional: logits of a batch x [n, ...inputShape] in one run, n·classes values row by row. Runtimes
   * without it are run one row at a time (methods/batch.ts).
   */
  forwardBatch?(x: tf.Tensor): Promise<Float32Array>;
  /**
   * Optional: for each row i of x [n, ...inputShape], the gradient of seeds[i]·logits(x_i) with respect
   * to the input, in one run, and the rows' logits. `guided`: ReLUs pass back only positive gradients
   * where their input was positive (Guided Backpropagation). The gradient tensor belongs to the caller.
   */
  gradientBatch?(x: tf.Tensor, seeds: tf.Tensor2D, opts?: GradientOptions): Promise<{ logits: Float32Array; gradient: tf.Tensor }>;
  /** Which backward rules the runtime can change (Guided Backpropagation needs `guided`). */
  readonly backwardRules?: readonly 'guided'[];
  dispose(): void;
}
