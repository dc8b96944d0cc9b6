import * as tf from '@tensorflow/tfjs';
import type { ConvGeometry, ExplicitPads } from './convGrad';

type Config = Record<string, unknown>;

/** Current value of a layer's weight variable (kernel, bias, gamma…), if it has one. */
export function variable(layer: tf.layers.Layer, prop: string): tf.Tensor | undefined {
  const v = (layer as unknown as Record<string, { read(): tf.Tensor } | null | undefined>)[prop];
  return v ? v.read() : undefined;
}

/** Keras configs give sizes as a number or a pair. */
export function pair(v: unknown, fallback: number): [number, number] {
  if (v == null) return [fallback, fallback];
  if (Array.isArray(v)) return [Number(v[0]), Number(v[v.length > 1 ? 1 : 0])];
  return [Number(v), Number(v)];
}

/** Geometry of a channels-last Conv2D/DepthwiseConv2D layer; undefined for layouts the fast rules do not cover. */
export function convGeometry(config: Config, kernelShape: number[], explicitPads?: ExplicitPads): ConvGeometry | undefined {
  const padding = config.padding as string;
  if ((config.dataFormat ?? 'channelsLast') !== 'channelsLast') return undefined;
  if (padding !== 'same' && padding !== 'valid') return undefined;
  return {
    kernel: [kernelShape[0], kernelShape[1]],
    strides: pair(config.strides, 1),
    dilations: pair(config.dilationRate, 1),
    padding: explicitPads ?? padding,
  };
}
