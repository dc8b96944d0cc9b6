import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../errors';
import type { SpatialLayer, LayerRow, OutputActivation } from '../types';
import { isSpatialCandidate } from './spatialLayers';
import { slotsLeadingTo } from './steps';
import type { LayerGraph, LayerNode } from './layerGraph';

/** Layers that only reshape or pass values through: a softmax before them is still "the end". */
const PASS_THROUGH = new Set(['Flatten', 'Reshape', 'Dropout', 'InputLayer']);
const SQUASHERS: Record<string, OutputActivation> = { softmax: 'softmax', sigmoid: 'sigmoid' };

/** Where a Layers model's logits are, for one of its outputs. */
export interface OutputPlan {
  /** Slot holding the logits. */
  slot: number;
  activation: OutputActivation;
  /** A Dense/Conv layer whose own softmax/sigmoid we skip. */
  linearized?: LayerNode;
}

/** Names of the layers producing a model's outputs (Sequential models leave `outputNames` unset). */
export function outputLayerNames(model: tf.LayersModel): string[] {
  return model.outputs.map((o) => (o as unknown as { sourceLayer?: { name: string } }).sourceLayer?.name ?? o.name);
}

/** The index of the output chosen by name or index (default the first). */
export function resolveOutputIndex(model: tf.LayersModel, choice: string | number | undefined): number {
  const names = outputLayerNames(model);
  if (choice === undefined) return 0;
  const index = typeof choice === 'number' ? choice : names.indexOf(choice);
  if (index < 0 || index >= names.length) {
    throw new UserError(`the model has no output "${choice}"; its outputs are: ${names.join(', ')}`);
  }
  return index;
}

/** Finds the logits: the input of a final softmax/sigmoid, or a final layer run without it. */
export function planOutput(graph: LayerGraph, outSlot: number): OutputPlan {
  let slot = outSlot;
  for (;;) {
    const node = graph.nodes[graph.producer[slot]];
    if (!node) return { slot: outSlot, activation: 'none' };
    const type = node.layer.getClassName();
    const config = node.layer.getConfig() as Record<string, unknown>;
    if (PASS_THROUGH.has(type)) {
      slot = node.inputs[0];
      continue;
    }
    if (type === 'Softmax') return { slot: node.inputs[0], activation: 'softmax' };
    const squash = SQUASHERS[String(config.activation)];
    if (!squash) return { slot: outSlot, activation: 'none' };
    if (type === 'Activation') return { slot: node.inputs[0], activation: squash };
    return { slot: node.outputs[0], activation: squash, linearized: node };
  }
}

/** Probabilities are a softmax over the whole logit vector: refuse heads that normalize only part of it. */
export function checkSoftmaxCoversOutput(graph: LayerGraph, plan: OutputPlan): void {
  if (plan.activation !== 'softmax') return;
  const node = graph.nodes[graph.producer[plan.slot]];
  const first = node?.outputShape;
  const spread = (first ?? []).slice(1).filter((d) => d !== 1);
  if (spread.length > 1) {
    throw new UserError(`the model's softmax runs over part of its output (shape ${JSON.stringify(first?.slice(1))}); ` +
      'Saliency Lens explains classifiers whose output is one vector of classes');
  }
}

/** The model's layers as listed to the user: name, class, output shape without batch, parameters. */
export function layerRows(graph: LayerGraph): LayerRow[] {
  return graph.nodes.map((node) => ({ name: node.name, type: node.layer.getClassName(), outputShape: node.outputShape.slice(1), params: node.layer.countParams() }));
}

/** Layers with a spatial 4-D output that the logits depend on, input side first (Grad-CAM targets). */
export function spatialCandidates(graph: LayerGraph, logitSlot: number): SpatialLayer[] {
  const feedsLogits = slotsLeadingTo(graph.nodes, [logitSlot]);
  const candidates: SpatialLayer[] = [];
  for (const node of graph.nodes) {
    const slot = node.outputs[0];
    if (!feedsLogits.has(slot) || slot === logitSlot) continue;
    const first = node.outputShape;
    if (isSpatialCandidate(first)) {
      candidates.push({ name: node.name, type: node.layer.getClassName(), height: first[1]!, width: first[2]!, channels: first[3]! });
    }
  }
  return candidates;
}
