import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../errors';
import type { SpatialLayer, LayerRow, ModelRuntime, OutputActivation, Trace } from '../types';
import { findConvChains, fusedConvStep, hiddenSlots } from './convFusion';
import { flattenLayersModel, LayerGraph, LayerNode } from './layerGraph';
import { DerivedWeights, layerBackward } from './layerBackward';
import { makePlan, Plan, slotsLeadingTo, slotsReachableFrom, Step } from './steps';
import { pickDefaultLayer } from './spatialLayers';
import { unknownLayer } from '../../methods/layers';
import { checkSoftmaxCoversOutput, layerRows, outputLayerNames, OutputPlan, planOutput, resolveOutputIndex, spatialCandidates } from './layerOutput';

type Tensor = tf.Tensor;

/** Linear activation with the shape tfjs layers expect of an activation object. */
const LINEAR_ACTIVATION = { apply: (x: Tensor) => x, getClassName: () => 'linear', getConfig: () => ({}) };

/**
 * Runs a Layers model layer by layer and differentiates it with per-layer input-only rules
 * (layerBackward.ts), so no weight gradient is ever computed and any intermediate layer,
 * nested ones included, can be a Grad-CAM target.
 */
export class LayersRuntime implements ModelRuntime {
  readonly kind = 'layers' as const;
  readonly inputShape: number[];
  readonly numClasses: number;
  readonly outputActivation: OutputActivation;
  readonly outputName: string;
  private readonly graph: LayerGraph;
  private readonly output: OutputPlan;
  private readonly weights = new DerivedWeights();
  private readonly slotByName = new Map<string, number>();
  private candidates?: SpatialLayer[];
  /** Every layer on its own: any layer's output can be kept. */
  private readonly plainPlan: Plan;
  /** Conv/BN/activation chains fused (convFusion.ts): the fast path, used unless a hidden layer is asked for. */
  private readonly fusedPlan: Plan;

  constructor(private readonly model: tf.LayersModel, opts: { output?: string | number; inputShape?: number[]; fuse?: boolean } = {}) {
    if (model.inputs.length !== 1) {
      throw new UserError(`the model has ${model.inputs.length} inputs; Saliency Lens explains models with one image input`);
    }
    this.graph = flattenLayersModel(model);
    const outputIndex = resolveOutputIndex(model, opts.output);
    this.outputName = outputLayerNames(model)[outputIndex];
    this.output = planOutput(this.graph, this.graph.outputSlots[outputIndex]);
    this.outputActivation = this.output.activation;
    checkSoftmaxCoversOutput(this.graph, this.output);
    const outShape = (Array.isArray(model.outputShape[0]) ? model.outputShape[outputIndex] : model.outputShape) as (number | null)[];
    this.numClasses = outShape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1);
    const declared = model.inputs[0].shape.slice(1);
    this.inputShape = declared.map((d, i) => {
      const v = d ?? opts.inputShape?.[i];
      if (v == null) throw new UserError(`the model's input has a free dimension (${JSON.stringify(declared)}); give the input size`);
      return v;
    });
    for (const node of this.graph.nodes) node.outputs.forEach((s, i) => this.slotByName.set(i === 0 ? node.name : `${node.name}:${i}`, s));
    this.plainPlan = makePlan(this.graph.nodes.map((n) => this.plainStep(n)), this.graph.inputSlots, new Set());
    this.fusedPlan = opts.fuse === false ? this.plainPlan : this.buildFusedPlan();
  }

  private plainStep(node: LayerNode): Step {
    const linearized = node === this.output.linearized;
    return {
      name: node.name,
      inputs: node.inputs,
      outputs: node.outputs,
      forward: (xs) => {
        const out = this.runNode(node, xs);
        return Array.isArray(out) ? out : [out];
      },
      backward: (xs, ys, dys) => layerBackward({
        name: node.name, layer: node.layer, inputs: xs, outputs: ys, dys, linearized, weights: this.weights,
        apply: (inputs) => this.runNode(node, inputs),
      }),
    };
  }

  private buildFusedPlan(): Plan {
    const graph = this.graph;
    const chains = findConvChains(graph, new Set([...graph.outputSlots, this.output.slot]));
    const lastOf = new Map(chains.map((c) => [c.act ?? c.bn ?? c.conv, c]));
    const inner = new Set(chains.flatMap((c) => [c.pad, c.conv, c.bn, c.act].filter((n) => n && n !== (c.act ?? c.bn ?? c.conv))));
    const steps: Step[] = [];
    for (const node of graph.nodes) {
      const chain = lastOf.get(node);
      if (chain) steps.push(fusedConvStep(chain, this.weights));
      else if (!inner.has(node)) steps.push(this.plainStep(node));
    }
    return makePlan(steps, graph.inputSlots, new Set(chains.flatMap(hiddenSlots)));
  }

  private runNode(node: LayerNode, xs: Tensor[]): Tensor | Tensor[] {
    const layer = node.layer as unknown as { activation?: unknown };
    const saved = layer.activation;
    const linearize = node === this.output.linearized;
    if (linearize) layer.activation = LINEAR_ACTIVATION;
    try {
      return node.layer.apply(xs.length === 1 ? xs[0] : xs, node.callArgs) as Tensor | Tensor[];
    } finally {
      if (linearize) layer.activation = saved;
    }
  }

  private slotOf(name: string): number {
    if (name === 'input') return this.graph.inputSlots[0];
    const slot = this.slotByName.get(name);
    if (slot === undefined) {
      const names = this.spatialLayers().map((c) => c.name);
      throw unknownLayer(name, names);
    }
    return slot;
  }

  /** The fused plan, unless a layer to keep lives inside a fused chain. */
  private planKeeping(keep: string[]): Plan {
    return keep.some((name) => this.fusedPlan.hidden.has(this.slotOf(name))) ? this.plainPlan : this.fusedPlan;
  }

  async trace(x: Tensor, keep: string[] = []): Promise<Trace> {
    const plan = this.planKeeping(keep);
    const logitSlot = this.output.slot;
    const needed = slotsLeadingTo(plan.steps, [logitSlot]);
    const slots: (Tensor | undefined)[] = new Array(this.graph.slotCount);
    try {
      tf.tidy(() => {
        slots[this.graph.inputSlots[0]] = x;
        for (const step of plan.steps) {
          if (!step.outputs.some((s) => needed.has(s))) continue;
          step.forward(step.inputs.map((s) => slots[s]!)).forEach((t, i) => (slots[step.outputs[i]] = t !== x ? tf.keep(t) : t));
        }
      });
    } catch (err) {
      slots.forEach((t) => t !== x && t?.dispose());
      throw err;
    }
    const logits = tf.tidy(() => tf.reshape(slots[logitSlot]!, [1, -1])) as tf.Tensor2D;
    const runtime = this;
    const valueOf = (layer: string): Tensor => {
      const t = slots[runtime.slotOf(layer)];
      if (!t) {
        throw plan.hidden.has(runtime.slotOf(layer))
          ? new Error(`layer "${layer}" is inside a fused block: name it in trace(x, keep)`)
          : new UserError(`the output does not depend on layer "${layer}"`);
      }
      return t;
    };
    return {
      logits,
      activation: (layer: string) => valueOf(layer) as tf.Tensor4D,
      async vjp(seed: tf.Tensor2D, targets: string[]) {
        targets.forEach(valueOf);
        return runtime.backward(plan, slots as Tensor[], logitSlot, seed, targets);
      },
      dispose() {
        const owned = new Set(slots.filter((t): t is Tensor => !!t && t !== x));
        owned.forEach((t) => t.dispose());
        logits.dispose();
      },
    };
  }

  /**
   * Logits of a batch [n, ...inputShape] in one pass through the fused plan. Keras layers compute each
   * sample on its own at inference (batch norm uses its moving statistics), so rows do not mix.
   */
  async forwardBatch(x: Tensor): Promise<Float32Array> {
    const plan = this.fusedPlan;
    const logitSlot = this.output.slot;
    const needed = slotsLeadingTo(plan.steps, [logitSlot]);
    const logits = tf.tidy(() => {
      const slots: (Tensor | undefined)[] = new Array(this.graph.slotCount);
      slots[this.graph.inputSlots[0]] = x;
      for (const step of plan.steps) {
        if (!step.outputs.some((s) => needed.has(s))) continue;
        step.forward(step.inputs.map((s) => slots[s]!)).forEach((t, i) => (slots[step.outputs[i]] = t));
      }
      return tf.reshape(slots[logitSlot]!, [x.shape[0], -1]);
    });
    try {
      return logits.dataSync() as Float32Array;
    } finally {
      logits.dispose();
    }
  }

  private backward(plan: Plan, slots: Tensor[], logitSlot: number, seed: tf.Tensor2D, targets: string[]): Map<string, Tensor> {
    const targetSlots = targets.map((t) => this.slotOf(t));
    const reach = slotsReachableFrom(plan.steps, targetSlots);
    const firstStep = Math.min(...targetSlots.map((s) => plan.producer.get(s)!));
    const kept = tf.tidy(() => {
      const grads = new Map<number, Tensor>();
      grads.set(logitSlot, tf.reshape(seed, slots[logitSlot].shape));
      for (let i = plan.steps.length - 1; i > firstStep; i--) {
        const step = plan.steps[i];
        const dys = step.outputs.map((s) => grads.get(s));
        if (dys.every((d) => d === undefined) || !step.inputs.some((s) => reach.has(s))) continue;
        const dxs = step.backward(step.inputs.map((s) => slots[s]), step.outputs.map((s) => slots[s]), dys);
        step.inputs.forEach((s, k) => {
          const dx = dxs[k];
          if (!dx || !reach.has(s)) return;
          const prev = grads.get(s);
          grads.set(s, prev ? tf.add(prev, dx) : dx);
        });
      }
      return targetSlots.map((s) => grads.get(s) ?? tf.zerosLike(slots[s]));
    });
    return new Map(targets.map((t, i) => [t, kept[i]]));
  }

  layerTable(): LayerRow[] {
    return layerRows(this.graph);
  }

  spatialLayers(): SpatialLayer[] {
    this.candidates ??= spatialCandidates(this.graph, this.output.slot);
    return this.candidates;
  }

  defaultSpatialLayer(): string | undefined {
    return pickDefaultLayer(this.spatialLayers());
  }

  dispose(): void {
    this.weights.dispose();
    this.model.dispose();
  }
}
