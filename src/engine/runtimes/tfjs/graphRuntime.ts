import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../errors';
import type { GradcamCandidate, LayerRow, ModelRuntime, OutputActivation, Trace } from '../types';
import { isSpatialCandidate, pickDefaultLayer } from './gradcamLayers';

type Tensor = tf.Tensor;

export interface GraphNodeDef {
  name: string;
  op: string;
  input?: string[];
}

const NON_COMPUTE = new Set(['Const', 'Placeholder', 'NoOp']);
const PASS_THROUGH = new Set(['Identity', 'Reshape', 'Squeeze']);
const SQUASH_OPS: Record<string, OutputActivation> = { Softmax: 'softmax', Sigmoid: 'sigmoid' };

/** 'a/b:1' → 'a/b'; '^a' (control input) → undefined. */
function inputNode(ref: string): string | undefined {
  if (ref.startsWith('^')) return undefined;
  return ref.replace(/:\d+$/, '');
}

/**
 * A TF.js GraphModel behind the runtime interface. Gradients come from tf.grad over
 * `execute`; Grad-CAM feeds a layer's activation back in place of the node
 * (`execute({input, [node]: a}, logits)`), so branches around the node still see the input.
 */
export class GraphRuntime implements ModelRuntime {
  readonly kind = 'graph' as const;
  readonly inputShape: number[];
  readonly numClasses: number;
  readonly outputActivation: OutputActivation;
  readonly outputName: string;
  private readonly inputName: string;
  private readonly logitsNode: string;
  private readonly nodes = new Map<string, GraphNodeDef>();
  private readonly order: string[];
  private shapes?: Map<string, number[]>;

  constructor(private readonly model: tf.GraphModel, nodeDefs: GraphNodeDef[], opts: { output?: string | number; inputShape?: number[] } = {}) {
    for (const n of nodeDefs) this.nodes.set(n.name, n);
    if (model.inputs.length !== 1) {
      throw new UserError(`the model has ${model.inputs.length} inputs; Saliency Lens explains models with one image input`);
    }
    this.inputName = model.inputs[0].name.replace(/:\d+$/, '');
    const declared = (model.inputs[0].shape ?? []).slice(1);
    this.inputShape = declared.map((d, i) => {
      const v = d === -1 || d == null ? opts.inputShape?.[i] : d;
      if (v == null) throw new UserError(`the model's input has a free dimension (${JSON.stringify(declared)}); give the input size`);
      return v;
    });
    // outputNodes gives signature keys when the model has a signature; outputs[].name is the node.
    const outputs = model.outputs.map((o) => o.name.replace(/:\d+$/, ''));
    const keys = model.outputNodes;
    const choice = typeof opts.output === 'string' && keys.includes(opts.output) ? keys.indexOf(opts.output) : opts.output;
    const index = opts.output === undefined ? 0 : typeof choice === 'number' ? choice : outputs.indexOf(choice as string);
    if (index < 0 || index >= outputs.length) {
      throw new UserError(`the model has no output "${opts.output}"; its outputs are: ${outputs.join(', ')}`);
    }
    this.outputName = outputs[index];
    const { node, activation } = this.findLogits(inputNode(this.outputName)!);
    this.logitsNode = node;
    this.outputActivation = activation;
    this.order = this.topologicalOrder(this.logitsNode);
    const probe = tf.tidy(() => this.execute(tf.zeros([1, ...this.inputShape]), [this.logitsNode])[0].size);
    this.numClasses = probe;
  }

  /** Walks back from the output through Identity/Reshape to a Softmax/Sigmoid, whose input is the logits. */
  private findLogits(output: string): { node: string; activation: OutputActivation } {
    let name = output;
    for (;;) {
      const def = this.nodes.get(name);
      if (!def) return { node: output, activation: 'none' };
      const squash = SQUASH_OPS[def.op];
      if (squash) return { node: inputNode(def.input![0])!, activation: squash };
      if (!PASS_THROUGH.has(def.op) || !def.input?.length) return { node: output, activation: 'none' };
      name = inputNode(def.input[0])!;
    }
  }

  /**
   * Nodes the logits depend on, ordered by longest distance from the input. A plain DFS order is
   * topological too, but can put a node inside an early residual branch after the block outputs
   * that follow it; depth order puts the last block's output last, as in the Layers model.
   */
  private topologicalOrder(to: string): string[] {
    const seen = new Set<string>();
    const postOrder: string[] = [];
    const stack: [string, boolean][] = [[to, false]];
    while (stack.length) {
      const [name, done] = stack.pop()!;
      if (done) {
        postOrder.push(name);
        continue;
      }
      if (seen.has(name)) continue;
      seen.add(name);
      stack.push([name, true]);
      for (const dep of this.inputsOf(name)) if (!seen.has(dep)) stack.push([dep, false]);
    }
    const depth = new Map<string, number>();
    for (const name of postOrder) depth.set(name, 1 + Math.max(-1, ...this.inputsOf(name).map((d) => depth.get(d) ?? 0)));
    return postOrder.map((name, i) => ({ name, i, d: depth.get(name)! })).sort((a, b) => a.d - b.d || a.i - b.i).map((e) => e.name);
  }

  private inputsOf(name: string): string[] {
    return (this.nodes.get(name)?.input ?? []).map(inputNode).filter((d): d is string => d !== undefined);
  }

  private execute(feeds: Tensor | tf.NamedTensorMap, outputs: string[]): Tensor[] {
    const inputs = feeds instanceof tf.Tensor ? { [this.inputName]: feeds } : feeds;
    // execute() unwraps a one-element result: normalize to an array.
    const out = this.model.execute(inputs, outputs);
    return Array.isArray(out) ? out : [out];
  }

  private computeNodes(): string[] {
    return this.order.filter((n) => !NON_COMPUTE.has(this.nodes.get(n)?.op ?? 'Const'));
  }

  /** Output shapes of every compute node, from one forward pass on zeros (once). */
  private nodeShapes(): Map<string, number[]> {
    if (!this.shapes) {
      const names = this.computeNodes();
      const shapes = tf.tidy(() => this.execute(tf.zeros([1, ...this.inputShape]), names).map((t) => t.shape));
      this.shapes = new Map(names.map((n, i) => [n, shapes[i]]));
    }
    return this.shapes;
  }

  private checkLayer(layer: string): void {
    if (layer === 'input') return;
    const def = this.nodes.get(layer);
    if (!def || NON_COMPUTE.has(def.op)) {
      const names = this.gradcamCandidates().map((c) => c.name);
      throw new UserError(`the model has no layer "${layer}"; nodes usable for Grad-CAM: ${names.join(', ') || 'none'}`);
    }
  }

  async trace(x: Tensor): Promise<Trace> {
    const logits = tf.tidy(() => tf.reshape(this.execute(x, [this.logitsNode])[0], [1, -1])) as tf.Tensor2D;
    const activations = new Map<string, Tensor>();
    const runtime = this;
    const activation = (layer: string): tf.Tensor4D => {
      runtime.checkLayer(layer);
      let a = activations.get(layer);
      if (!a) {
        a = runtime.execute(x, [layer])[0];
        activations.set(layer, a);
      }
      return a as tf.Tensor4D;
    };
    const seeded = (out: Tensor, seed: tf.Tensor2D) => tf.sum(tf.mul(tf.reshape(out, [1, -1]), seed)) as tf.Scalar;
    return {
      logits,
      activation,
      async vjp(seed: tf.Tensor2D, targets: string[]) {
        const result = new Map<string, Tensor>();
        for (const target of targets) {
          if (target === 'input') {
            result.set(target, tf.grad((xx: Tensor) => seeded(runtime.execute(xx, [runtime.logitsNode])[0], seed))(x));
          } else {
            const a = activation(target);
            const f = (aa: Tensor) => seeded(runtime.execute({ [runtime.inputName]: x, [target]: aa }, [runtime.logitsNode])[0], seed);
            result.set(target, tf.grad(f)(a));
          }
        }
        return result;
      },
      dispose() {
        logits.dispose();
        activations.forEach((t) => t.dispose());
      },
    };
  }

  layerTable(): LayerRow[] {
    const shapes = this.nodeShapes();
    const weights = this.model.weights;
    return this.computeNodes().map((name) => {
      const def = this.nodes.get(name)!;
      const params = (def.input ?? []).reduce((sum, ref) => {
        const dep = inputNode(ref);
        const w = dep && this.nodes.get(dep)?.op === 'Const' ? weights[dep] : undefined;
        return sum + (w ? w.reduce((n, t) => n + t.size, 0) : 0);
      }, 0);
      return { name, type: def.op, outputShape: (shapes.get(name) ?? []).slice(1), params };
    });
  }

  gradcamCandidates(): GradcamCandidate[] {
    const shapes = this.nodeShapes();
    return this.computeNodes()
      .filter((n) => n !== this.logitsNode && isSpatialCandidate(shapes.get(n) ?? []))
      .map((n) => {
        const s = shapes.get(n)!;
        return { name: n, type: this.nodes.get(n)!.op, height: s[1], width: s[2], channels: s[3] };
      });
  }

  defaultGradcamLayer(): string | undefined {
    return pickDefaultLayer(this.gradcamCandidates());
  }

  dispose(): void {
    this.model.dispose();
  }
}
