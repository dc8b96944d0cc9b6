import * as tf from '@tensorflow/tfjs';

type Layer = tf.layers.Layer;
type SymbolicTensor = tf.SymbolicTensor & {
  sourceLayer: Layer;
  inputs: SymbolicTensor[];
  callArgs: Record<string, unknown>;
  nodeIndex: number;
  tensorIndex: number;
};

/** One call of one layer in a model flattened across nested sub-models. */
export interface LayerNode {
  /** Unique name: nested layers are prefixed with their model's name ('backbone/conv2'). */
  name: string;
  layer: Layer;
  inputs: number[];
  outputs: number[];
  callArgs: Record<string, unknown>;
  /** This call's first output shape (with batch): a layer applied twice has one per call. */
  outputShape: (number | null)[];
}

/** A model flattened to value slots and the layer calls between them, in execution order. */
export interface LayerGraph {
  nodes: LayerNode[];
  inputSlots: number[];
  outputSlots: number[];
  slotCount: number;
  /** For each slot, the index of the node producing it (-1 for inputs). */
  producer: number[];
}

function isContainer(layer: Layer): layer is tf.LayersModel {
  return layer instanceof tf.LayersModel;
}

/**
 * Flattens a Layers model, inlining models used as layers (transfer learning wrappers,
 * Sequential inside functional), so any inner layer can be traced and attributed.
 */
export function flattenLayersModel(model: tf.LayersModel): LayerGraph {
  const nodes: LayerNode[] = [];
  const producer: number[] = [];
  let slotCount = 0;
  const newSlot = (node: number) => {
    producer.push(node);
    return slotCount++;
  };

  const expand = (container: tf.LayersModel, inputSlots: number[], prefix: string): number[] => {
    const slotOf = new Map<number, number>();
    (container.inputs as SymbolicTensor[]).forEach((st, i) => slotOf.set(st.id, inputSlots[i]));
    // Layer calls already expanded: key "layerName#nodeIndex" → output slots.
    const calls = new Map<string, number[]>();

    const resolve = (st: SymbolicTensor): number => {
      const known = slotOf.get(st.id);
      if (known !== undefined) return known;
      const layer = st.sourceLayer;
      const key = `${layer.name}#${st.nodeIndex}`;
      let outs = calls.get(key);
      if (!outs) {
        const ins = st.inputs.map(resolve);
        if (isContainer(layer)) {
          outs = expand(layer, ins, `${prefix}${layer.name}/`);
        } else {
          const index = nodes.length;
          // layer.output throws for a layer applied more than once: read this call's node instead.
          const call = layer.inboundNodes[st.nodeIndex] as unknown as { outputShapes: (number | null)[] | (number | null)[][] };
          const shapes = call.outputShapes;
          const several = Array.isArray(shapes[0]);
          const count = several ? shapes.length : 1;
          outs = Array.from({ length: Math.max(count, st.tensorIndex + 1) }, () => newSlot(index));
          const { mask: _mask, ...callArgs } = st.callArgs ?? {};
          const outputShape = (several ? shapes[0] : shapes) as (number | null)[];
          nodes.push({ name: prefix + layer.name, layer, inputs: ins, outputs: outs, callArgs, outputShape });
        }
        calls.set(key, outs);
      }
      const slot = outs[st.tensorIndex];
      slotOf.set(st.id, slot);
      return slot;
    };
    return (container.outputs as SymbolicTensor[]).map(resolve);
  };

  const inputSlots = model.inputs.map(() => newSlot(-1));
  const outputSlots = expand(model, inputSlots, '');
  return { nodes, inputSlots, outputSlots, slotCount, producer };
}
