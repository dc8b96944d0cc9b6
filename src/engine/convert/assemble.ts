import { pickDefaultLayer } from '../runtimes/tfjs/spatialLayers';
import type { SpatialLayer } from '../runtimes/types';
import type { OnnxWriter, Value } from './onnxWriter';
import type { ConvertedModel, SourceLayer } from './types';

/**
 * The finished conversion, as both converters hand it over: the ONNX model with the logits as its one
 * output, the storage layout of every 4-D value written, and the source's view (layers, Grad-CAM candidates
 * and the default among them, picked as the tfjs runtimes pick it).
 */
export function assembleConverted(w: OnnxWriter, parts: {
  source: ConvertedModel['source'];
  input: { name: string; dims: number[] };
  output: ConvertedModel['output'];
  values: Iterable<Value>;
  layers: SourceLayer[];
  candidates: SpatialLayer[];
}): ConvertedModel {
  const layouts = new Map<string, 'NCHW' | 'NHWC'>();
  for (const v of parts.values) if (v.shape.length === 4) layouts.set(v.name, v.channelsFirst ? 'NCHW' : 'NHWC');
  return {
    source: parts.source,
    model: w.model(parts.input, [parts.output.logits]),
    input: parts.input,
    output: parts.output,
    layouts,
    layers: parts.layers,
    candidates: parts.candidates,
    defaultLayer: pickDefaultLayer(parts.candidates),
  };
}
