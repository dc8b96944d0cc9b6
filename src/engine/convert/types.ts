import type { onnx } from 'onnx-proto';
import type { GradcamCandidate, LayerRow, OutputActivation } from '../runtimes/types';

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
  /** Every model output in order, with the tensor attributed (before a final softmax/sigmoid). */
  outputs: { name: string; logits: string; activation: OutputActivation }[];
  /** The output asked for (an index into `outputs`), resolved as the source resolves it (name, signature key or index). */
  chosen: number;
  /** Storage layout of 4-D tensors the converter wrote (channels-first ones are handed out as NHWC). */
  layouts: Map<string, 'NCHW' | 'NHWC'>;
  /** The source's layers in order, each with its output tensor. */
  layers: SourceLayer[];
  /** Grad-CAM candidates as the source names them, per output (the path to each output differs). */
  candidates: (output: number) => GradcamCandidate[];
  defaultLayer: (output: number) => string | undefined;
}
