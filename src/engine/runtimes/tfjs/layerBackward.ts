import * as tf from '@tensorflow/tfjs';
import { ConvInputGradient } from './convGrad';
import { convGeometry, pair, variable } from './layerConfig';

type Tensor = tf.Tensor;
type Config = Record<string, unknown>;


/**
 * Tensors derived from a layer's weights (flipped kernels, BN scales), made once per layer and
 * kept until the model is disposed: the backward pass is run many times per model.
 */
export class DerivedWeights {
  private readonly cache = new Map<string, { dispose(): void }>();
  get<T extends { dispose(): void }>(key: string, make: () => T): T {
    let v = this.cache.get(key);
    if (!v) {
      v = make();
      if (v instanceof tf.Tensor) tf.keep(v);
      this.cache.set(key, v);
    }
    return v as T;
  }
  dispose(): void {
    this.cache.forEach((v) => v.dispose());
    this.cache.clear();
  }
}

export interface BackwardStep {
  name: string;
  layer: tf.layers.Layer;
  inputs: Tensor[];
  outputs: Tensor[];
  /** Gradient for each output; missing ones are zero. */
  dys: (Tensor | undefined)[];
  /** The layer's own activation was bypassed (softmax/sigmoid at the model's end). */
  linearized: boolean;
  weights: DerivedWeights;
  /** Runs the layer forward; used by the generic fallback. */
  apply(xs: Tensor[]): Tensor | Tensor[];
}

const IDENTITY_LAYERS = new Set([
  'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout',
  'ActivityRegularization', 'Masking', 'InputLayer',
]);



/**
 * ∂y/∂z applied to dy for an activation whose output y is known; undefined when the
 * activation needs its input or has no closed form here (the generic path handles those).
 */
export function activationGrad(name: string, dy: Tensor, y: Tensor, config: Config = {}): Tensor | undefined {
  switch (name) {
    case 'linear':
      return dy;
    case 'relu':
      return tf.mul(dy, tf.step(y));
    case 'relu6':
      return clippedReluGrad(dy, y, 6);
    case 'sigmoid':
      return tf.mul(dy, tf.mul(y, tf.sub(1, y)));
    case 'tanh':
      return tf.mul(dy, tf.sub(1, tf.square(y)));
    case 'elu':
      return tf.mul(dy, tf.where(tf.greater(y, 0), tf.onesLike(y), tf.add(y, 1)));
    case 'leakyrelu': {
      const alpha = Number(config.alpha ?? 0.3);
      return tf.mul(dy, tf.where(tf.greater(y, 0), tf.onesLike(y), tf.fill(y.shape, alpha)));
    }
    default:
      return undefined;
  }
}

/**
 * dy where 0 < y < max, for y = min(max(z, 0), max). Since y lies in [0, max], y·(max − y) > 0
 * exactly there: four arithmetic passes, where comparisons and logicalAnd run 20× slower on wasm.
 */
function clippedReluGrad(dy: Tensor, y: Tensor, max: number): Tensor {
  return tf.mul(dy, tf.step(tf.mul(y, tf.sub(max, y))));
}

function reluLayerGrad(config: Config, dy: Tensor, y: Tensor): Tensor | undefined {
  const maxValue = config.maxValue as number | null | undefined;
  if (maxValue == null) return tf.mul(dy, tf.step(y));
  return clippedReluGrad(dy, y, maxValue);
}


/** Gradient through the layer's own activation, back to its pre-activation z. */
function preActivationGrad(step: BackwardStep, config: Config, dy: Tensor): Tensor | undefined {
  const name = step.linearized ? 'linear' : String(config.activation ?? 'linear');
  return activationGrad(name, dy, step.outputs[0]);
}

/** Fast, input-only rules for the layers real image models are made of. */
function fastRule(step: BackwardStep, dy: Tensor): (Tensor | undefined)[] | undefined {
  const { layer, inputs } = step;
  const type = layer.getClassName();
  const config = layer.getConfig() as Config;
  const x = inputs[0];
  if (IDENTITY_LAYERS.has(type)) return [dy];
  switch (type) {
    case 'Dense': {
      const kernel = variable(layer, 'kernel');
      const dz = preActivationGrad(step, config, dy);
      if (!kernel || !dz || x.rank !== 2) return undefined;
      return [tf.matMul(dz as tf.Tensor2D, kernel as tf.Tensor2D, false, true)];
    }
    case 'Conv2D': {
      const kernel = variable(layer, 'kernel') as tf.Tensor4D | undefined;
      const dz = preActivationGrad(step, config, dy);
      const geometry = kernel && convGeometry(config, kernel.shape);
      if (!kernel || !dz || !geometry || (config.groups ?? 1) !== 1) return undefined;
      const grad = step.weights.get(`${step.name}:conv`, () => ConvInputGradient.conv2d(kernel, geometry));
      return [grad.apply(dz as tf.Tensor4D, x.shape)];
    }
    case 'DepthwiseConv2D': {
      const kernel = variable(layer, 'depthwiseKernel') as tf.Tensor4D | undefined;
      const dz = preActivationGrad(step, config, dy);
      const geometry = kernel && convGeometry(config, kernel.shape);
      if (!kernel || !dz || !geometry) return undefined;
      const grad = step.weights.get(`${step.name}:conv`, () => ConvInputGradient.depthwise(kernel, geometry));
      return [grad.apply(dz as tf.Tensor4D, x.shape)];
    }
    case 'BatchNormalization': {
      const axis = config.axis as number;
      if (axis !== -1 && axis !== x.rank - 1) return undefined;
      const scale = step.weights.get(`${step.name}:scale`, () => tf.tidy(() => {
        const variance = variable(layer, 'movingVariance')!;
        const gamma = variable(layer, 'gamma');
        const inv = tf.rsqrt(tf.add(variance, Number(config.epsilon ?? 1e-3)));
        return gamma ? tf.mul(gamma, inv) : inv;
      }));
      return [tf.mul(dy, scale)];
    }
    case 'Activation':
      return [activationGrad(step.linearized ? 'linear' : String(config.activation), dy, step.outputs[0])];
    case 'ReLU':
      return [reluLayerGrad(config, dy, step.outputs[0])];
    case 'LeakyReLU':
      return [activationGrad('leakyrelu', dy, step.outputs[0], config)];
    case 'ELU':
      return Number(config.alpha ?? 1) === 1 ? [activationGrad('elu', dy, step.outputs[0])] : undefined;
    case 'Softmax':
      return step.linearized ? [dy] : undefined;
    case 'Flatten':
    case 'Reshape':
      return [tf.reshape(dy, x.shape)];
    case 'Permute': {
      const dims = (config.dims as number[]).map((d) => d);
      const forward = [0, ...dims];
      const inverse = forward.map((_, i) => forward.indexOf(i));
      return [tf.transpose(dy, inverse)];
    }
    case 'ZeroPadding2D': {
      if ((config.dataFormat ?? 'channelsLast') !== 'channelsLast') return undefined;
      const [[top], [left]] = config.padding as number[][];
      const [, h, w] = x.shape;
      return [tf.slice(dy, [0, top, left, 0], [-1, h, w, -1])];
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      if ((config.dataFormat ?? 'channelsLast') !== 'channelsLast') return undefined;
      const poolSize = pair(config.poolSize, 2);
      const strides = pair(config.strides ?? config.poolSize, 2);
      const pad = config.padding === 'same' ? 'same' : 'valid';
      if (type === 'MaxPooling2D') {
        return [tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: step.outputs[0] },
          { filterSize: poolSize, strides, pad }) as Tensor];
      }
      return [tf.engine().runKernel('AvgPoolGrad', { dy, input: x }, { filterSize: poolSize, strides, pad }) as Tensor];
    }
    case 'GlobalAveragePooling2D': {
      if ((config.dataFormat ?? 'channelsLast') !== 'channelsLast' || config.keepDims) return undefined;
      const [n, h, w, c] = x.shape;
      return [tf.tile(tf.reshape(tf.div(dy, h * w), [n, 1, 1, c]), [1, h, w, 1])];
    }
    case 'Add':
      return inputs.every((t) => tf.util.arraysEqual(t.shape, dy.shape)) ? inputs.map(() => dy) : undefined;
    case 'Average':
      return inputs.every((t) => tf.util.arraysEqual(t.shape, dy.shape)) ? inputs.map(() => tf.div(dy, inputs.length)) : undefined;
    case 'Concatenate': {
      const axis = (config.axis as number) < 0 ? dy.rank + (config.axis as number) : (config.axis as number);
      return tf.split(dy, inputs.map((t) => t.shape[axis]), axis);
    }
    default:
      return undefined;
  }
}

/** Local autodiff of the layer's own forward: correct for any layer, slower than the rules. */
function genericRule(step: BackwardStep, dys: Tensor[]): Tensor[] {
  const f = (...xs: Tensor[]) => {
    const out = step.apply(xs);
    if (!Array.isArray(out)) return out;
    // Several outputs: seed them all at once through a weighted sum.
    return tf.addN(out.map((o, i) => tf.sum(tf.mul(o, dys[i]))));
  };
  return tf.grads(f)(step.inputs, step.outputs.length === 1 ? dys[0] : undefined);
}

/** Gradients with respect to each input of one layer call. */
export function layerBackward(step: BackwardStep): (Tensor | undefined)[] {
  const dys = step.outputs.map((o, i) => step.dys[i] ?? tf.zerosLike(o));
  if (step.outputs.length === 1) {
    const fast = fastRule(step, dys[0]);
    if (fast && fast.every((g) => g !== undefined)) return fast;
  }
  return genericRule(step, dys);
}
