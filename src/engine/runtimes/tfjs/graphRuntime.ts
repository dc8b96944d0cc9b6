import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../errors';
import type { SpatialLayer, LayerRow, ModelRuntime, OutputActivation, Trace } from '../types';
import { isSpatialCandidate, pickDefaultLayer } from './spatialLayers';
import { fullLayerName } from '../../../shared/layerNames';
import { dependencyOrder, findGraphLogits, GraphNodeDef, parseRef } from './graphDef';

type Tensor = tf.Tensor;

export type { GraphNodeDef };

const NON_COMPUTE = new Set(['Const', 'Placeholder', 'NoOp']);

/** 'a/b:1' → 'a/b'; '^a' (control input) → undefined. */
function inputNode(ref: string): string | undefined {
  if (ref.startsWith('^')) return undefined;
  return ref.replace(/:\d+$/, '');
}

/** The GraphModel's input (node name, shape without batch with free sizes resolved) and the output chosen. */
export function graphModelIO(model: tf.GraphModel, opts: { output?: string | number; inputShape?: number[] }) {
  if (model.inputs.length !== 1) {
    throw new UserError(`the model has ${model.inputs.length} inputs; Saliency Lens explains models with one image input`);
  }
  const inputName = model.inputs[0].name.replace(/:\d+$/, '');
  const declared = (model.inputs[0].shape ?? []).slice(1);
  const inputShape = declared.map((d, i) => {
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
  return { inputName, inputShape, outputs, outputName: outputs[index], outputIndex: index };
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
    ({ inputName: this.inputName, inputShape: this.inputShape, outputName: this.outputName } = graphModelIO(model, opts));
    const { ref, activation } = findGraphLogits(this.nodes, this.outputName);
    this.logitsNode = parseRef(ref)[0];
    this.outputActivation = activation;
    this.order = dependencyOrder(this.nodes, [this.logitsNode]);
    const probe = tf.tidy(() => this.execute(tf.zeros([1, ...this.inputShape]), [this.logitsNode])[0].size);
    this.numClasses = probe;
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
      const names = this.spatialLayers().map((c) => c.name);
      throw new UserError(`the model has no layer "${layer}"; spatial nodes (for the CAM methods): ${names.join(', ') || 'none'}`);
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

  spatialLayers(): SpatialLayer[] {
    const shapes = this.nodeShapes();
    return this.computeNodes()
      .filter((n) => n !== this.logitsNode && isSpatialCandidate(shapes.get(n) ?? []))
      .map((n) => {
        const s = shapes.get(n)!;
        return { name: n, type: this.nodes.get(n)!.op, height: s[1], width: s[2], channels: s[3] };
      });
  }

  /** A node named in full or by the short form shown for long scopes. */
  canonicalLayerName(name: string): string | undefined {
    return fullLayerName(this.computeNodes(), name);
  }

  defaultSpatialLayer(): string | undefined {
    return pickDefaultLayer(this.spatialLayers());
  }

  dispose(): void {
    this.model.dispose();
  }
}
