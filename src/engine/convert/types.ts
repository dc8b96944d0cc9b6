import type { onnx } from 'onnx-proto';
import type { SpatialLayer, LayerRow, OutputActivation } from '../runtimes/types';

/** A layer (Keras) or node (TF graph) of the source model, as the user knows it, and the ONNX tensor holding its output. */
export interface SourceLayer extends LayerRow {
  tensor: string;
}

/**
 * A TensorFlow model written as ONNX for ONNX Runtime, with the user's view of it kept: layer names,
 * shapes in the model's own (channels-last) layout, Grad-CAM candidates and which outputs are logits.
 */
export interface ConvertedModel {
  /** What the model was converted from, for messages and reports. */
  source: 'TF.js Layers model' | 'TF.js Graph model';
  model: onnx.IModelProto;
  /** The ONNX input: the model's own [1, H, W, C] (or a flat input), fed as is. */
  input: { name: string; dims: number[] };
  /**
   * The output asked for (resolved as the source resolves it: name, signature key or index) and the tensor
   * attributed, before a final softmax/sigmoid. Only what it depends on is converted: another head with a
   * layer that does not convert does not stop it.
   */
  output: { name: string; logits: string; activation: OutputActivation };
  /** Storage layout of 4-D tensors the converter wrote (channels-first ones are handed out as NHWC). */
  layouts: Map<string, 'NCHW' | 'NHWC'>;
  /** The source's layers in order, each with its output tensor ('' for layers the output does not depend on). */
  layers: SourceLayer[];
  /** Grad-CAM candidates as the source names them, on the path to the output. */
  candidates: SpatialLayer[];
  defaultLayer?: string;
}
