import * as tf from '@tensorflow/tfjs';
import { ConvInputGradient, ExplicitPads } from './convGrad';
import type { DerivedWeights } from './layerBackward';
import { activationGrad } from './layerBackward';
import { convGeometry, variable } from './layerConfig';
import type { LayerGraph, LayerNode } from './layerGraph';
import type { Step } from './steps';

type Tensor = tf.Tensor;
type Config = Record<string, unknown>;
type FusedActivation = 'linear' | 'relu' | 'relu6';

/**
 * [ZeroPadding2D →] Conv2D|DepthwiseConv2D [→ BatchNormalization] [→ ReLU/ReLU6]: the block real
 * CNNs are made of. Run as one fused convolution with the batch norm folded into its weights, the
 * padding made explicit and the activation fused, it skips three memory-bound passes forward and
 * two backward. Only chains whose inner outputs nobody else reads are fused.
 */
export interface ConvChain {
  pad?: LayerNode;
  conv: LayerNode;
  bn?: LayerNode;
  act?: LayerNode;
  activation: FusedActivation;
}

const config = (node: LayerNode) => node.layer.getConfig() as Config;
const type = (node: LayerNode) => node.layer.getClassName();

/** The fusable activation a node applies, if it is only an activation. */
function activationOf(node: LayerNode): FusedActivation | undefined {
  const c = config(node);
  if (type(node) === 'Activation' && ['relu', 'relu6', 'linear'].includes(String(c.activation))) return c.activation as FusedActivation;
  if (type(node) === 'ReLU' && !c.negativeSlope && !c.threshold) {
    if (c.maxValue == null) return 'relu';
    if (Number(c.maxValue) === 6) return 'relu6';
  }
  return undefined;
}

export function findConvChains(graph: LayerGraph, protectedSlots: Set<number>): ConvChain[] {
  const consumers = new Map<number, LayerNode[]>();
  for (const node of graph.nodes) for (const s of node.inputs) consumers.set(s, [...(consumers.get(s) ?? []), node]);
  /** The one node reading `slot`, when nothing else (including the model's outputs) does. */
  const soleConsumer = (slot: number) => {
    const c = consumers.get(slot);
    return c?.length === 1 && !protectedSlots.has(slot) ? c[0] : undefined;
  };
  const chains: ConvChain[] = [];
  for (const conv of graph.nodes) {
    if (type(conv) !== 'Conv2D' && type(conv) !== 'DepthwiseConv2D') continue;
    const c = config(conv);
    const own = String(c.activation ?? 'linear');
    if (!['linear', 'relu', 'relu6'].includes(own) || (c.groups ?? 1) !== 1 || !convGeometry(c, [1, 1])) continue;
    const chain: ConvChain = { conv, activation: own as FusedActivation };
    const producer = graph.nodes[graph.producer[conv.inputs[0]]];
    const padConfig = producer && config(producer);
    // Only conv2d takes explicit padding in tfjs; a depthwise conv keeps its ZeroPadding2D.
    if (producer && type(producer) === 'ZeroPadding2D' && type(conv) === 'Conv2D' && c.padding === 'valid' && soleConsumer(conv.inputs[0]) === conv &&
        (padConfig.dataFormat ?? 'channelsLast') === 'channelsLast') {
      chain.pad = producer;
    }
    let tail = conv;
    if (own === 'linear') {
      const next = soleConsumer(conv.outputs[0]);
      if (next && type(next) === 'BatchNormalization' && [-1, 3].includes(Number(config(next).axis))) {
        chain.bn = next;
        tail = next;
      }
      const after = soleConsumer(tail.outputs[0]);
      const act = after && activationOf(after);
      if (after && act) {
        chain.act = after;
        chain.activation = act;
      }
    }
    if (chain.pad || chain.bn || chain.act) chains.push(chain);
  }
  return chains;
}

/** Slots a fused chain computes internally and never materializes. */
export function hiddenSlots(chain: ConvChain): number[] {
  const members = [chain.pad, chain.conv, chain.bn, chain.act].filter((n): n is LayerNode => !!n);
  return members.slice(0, -1).map((n) => n.outputs[0]);
}

interface Folded {
  kernel: tf.Tensor4D;
  bias: tf.Tensor1D;
  dispose(): void;
}

/** Conv weights with the batch norm folded in: W·s and (b − mean)·s + beta, s = gamma/√(var+ε). */
function foldWeights(chain: ConvChain): Folded {
  const [kernel, bias] = tf.tidy(() => {
    const depthwise = type(chain.conv) === 'DepthwiseConv2D';
    let w = variable(chain.conv.layer, depthwise ? 'depthwiseKernel' : 'kernel') as tf.Tensor4D;
    const outChannels = depthwise ? w.shape[2] * w.shape[3] : w.shape[3];
    let b = variable(chain.conv.layer, 'bias') ?? tf.zeros([outChannels]);
    if (chain.bn) {
      const bn = chain.bn.layer;
      const eps = Number(config(chain.bn).epsilon ?? 1e-3);
      const gamma = variable(bn, 'gamma');
      const beta = variable(bn, 'beta');
      const inv = tf.rsqrt(tf.add(variable(bn, 'movingVariance')!, eps));
      const scale = gamma ? tf.mul(gamma, inv) : inv;
      w = tf.mul(w, depthwise ? tf.reshape(scale, [w.shape[2], w.shape[3]]) : scale) as tf.Tensor4D;
      b = tf.mul(tf.sub(b, variable(bn, 'movingMean')!), scale);
      if (beta) b = tf.add(b, beta);
    }
    return [tf.keep(w), tf.keep(b as tf.Tensor1D)] as const;
  });
  return { kernel, bias, dispose: () => tf.dispose([kernel, bias]) };
}

/** The fused chain as one executable step; its name is its last layer's, where its output lives. */
export function fusedConvStep(chain: ConvChain, weights: DerivedWeights): Step {
  const last = chain.act ?? chain.bn ?? chain.conv;
  const c = config(chain.conv);
  const depthwise = type(chain.conv) === 'DepthwiseConv2D';
  const pads = chain.pad ? (config(chain.pad).padding as ExplicitPads) : undefined;
  const folded = () => weights.get(`${last.name}:folded`, () => foldWeights(chain));
  const geometry = () => convGeometry(c, folded().kernel.shape, pads)!;
  const input = (chain.pad ?? chain.conv).inputs[0];
  return {
    name: last.name,
    inputs: [input],
    outputs: last.outputs,
    forward([x]) {
      const { kernel, bias } = folded();
      const g = geometry();
      const pad = Array.isArray(g.padding) ? [[0, 0], ...g.padding, [0, 0]] as tf.backend_util.ExplicitPadding : g.padding;
      const args = { x: x as tf.Tensor4D, filter: kernel, strides: g.strides, dataFormat: 'NHWC' as const, dilations: g.dilations, bias, activation: chain.activation };
      return [depthwise ? tf.fused.depthwiseConv2d({ ...args, pad: pad as 'same' | 'valid' }) : tf.fused.conv2d({ ...args, pad })];
    },
    backward([x], [y], [dy]) {
      if (!dy) return [undefined];
      const dz = activationGrad(chain.activation, dy, y)!;
      const grad = weights.get(`${last.name}:fusedgrad`, () =>
        depthwise ? ConvInputGradient.depthwise(folded().kernel, geometry()) : ConvInputGradient.conv2d(folded().kernel, geometry()));
      return [grad.apply(dz as tf.Tensor4D, x.shape)];
    },
  };
}
