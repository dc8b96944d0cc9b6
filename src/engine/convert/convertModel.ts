import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors';
import { dataInputs, GraphNodeDef, parseRef } from '../runtimes/tfjs/graphDef';
import { graphModelIO } from '../runtimes/tfjs/graphRuntime';
import { flattenLayersModel } from '../runtimes/tfjs/layerGraph';
import { checkSoftmaxCoversOutput, planOutput, resolveOutputIndex } from '../runtimes/tfjs/layerOutput';
import { convertGraph, probeGraph } from './graphToOnnx';
import { convertLayersModel } from './layersToOnnx';
import type { ConvertedModel } from './types';

export interface ConvertOptions {
  output?: string | number;
  inputShape?: number[];
}

/** The Layers model's input shape without batch, free sizes given by the user. */
function layersInputShape(model: tf.LayersModel, given?: number[]): number[] {
  if (model.inputs.length !== 1) {
    throw new UserError(`the model has ${model.inputs.length} inputs; Saliency Lens explains models with one image input`);
  }
  const declared = model.inputs[0].shape.slice(1);
  return declared.map((d, i) => {
    const v = d ?? given?.[i];
    if (v == null) throw new UserError(`the model's input has a free dimension (${JSON.stringify(declared)}); give the input size`);
    return v;
  });
}

/**
 * A loaded TF.js model written as ONNX. Throws ConversionError naming the layer or op that has no
 * conversion (the caller runs the model on tfjs then), UserError for what no runtime could explain.
 */
export function convertTfjsModel(model: tf.LayersModel | tf.GraphModel, nodes: GraphNodeDef[] | undefined, opts: ConvertOptions): ConvertedModel {
  if (model instanceof tf.LayersModel) {
    const graph = flattenLayersModel(model);
    const index = resolveOutputIndex(model, opts.output);
    checkSoftmaxCoversOutput(graph, planOutput(graph, graph.outputSlots[index]));
    return convertLayersModel(model, layersInputShape(model, opts.inputShape), index);
  }
  const io = graphModelIO(model, opts);
  const defs = nodes ?? [];
  const refs = new Set<string>(defs.map((n) => n.name));
  for (const n of defs) for (const r of dataInputs(n)) if (parseRef(r)[1] > 0) refs.add(r);
  const probe = probeGraph(model, defs, io.inputName, io.inputShape, [...refs]);
  const weights = model.weights;
  const byName = new Map(defs.map((n) => [n.name, n]));
  return convertGraph({
    nodes: defs,
    inputName: io.inputName,
    inputShape: io.inputShape,
    outputs: io.outputs.map((ref) => ({ ref, name: ref })),
    chosen: io.outputIndex,
    probe,
    params: (node) => dataInputs(node).reduce((sum, ref) => {
      const dep = parseRef(ref)[0];
      const w = byName.get(dep)?.op === 'Const' ? weights[dep] : undefined;
      return sum + (w ? w.reduce((n, t) => n + t.size, 0) : 0);
    }, 0),
  });
}
