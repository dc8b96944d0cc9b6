import * as tf from '@tensorflow/tfjs';
import { fileError, firstLine, UserError } from '../../errors';
import type { Leaf, Special, Translation } from './translate';
import type { SourceWeight, WeightSource } from './weightSource';

/**
 * Builds the TF.js artifacts: the translated topology, and the file's weights named and ordered as tfjs
 * names them (`layer/kernel`, nested models' layers by their own names). The translated model is built
 * once with tfjs to learn each layer's weight names and shapes; every stored weight is checked against
 * them, so a missing or misshapen weight is named here rather than failing deep inside tfjs.
 */

const BUILD_TIMEOUT_MS = 30_000;

interface Expected {
  name: string;
  shape: number[];
}

/** Keras 3 names a DepthwiseConv2D's kernel `kernel`; Keras 2 and tfjs `depthwise_kernel`. */
const ALIASES: Record<string, string[]> = { depthwise_kernel: ['kernel'] };

const shapeText = (s: number[]) => `[${s.join(', ')}]`;
const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Leaf layers (not containers) with their expected weights, through nested models. */
function leafLayers(model: tf.LayersModel): { name: string; weights: Expected[] }[] {
  const out: { name: string; weights: Expected[] }[] = [];
  const walk = (layers: tf.layers.Layer[]) => {
    for (const layer of layers) {
      if (layer instanceof tf.LayersModel) walk(layer.layers);
      else if (layer.weights.length) out.push({ name: layer.name, weights: layer.weights.map((w) => ({ name: w.originalName, shape: w.shape as number[] })) });
    }
  };
  walk(model.layers);
  return out;
}

function flatNumbers(value: unknown): number[] | undefined {
  const flat = Array.isArray(value) ? value.flat(Infinity) : [value];
  return flat.every((v) => typeof v === 'number' && Number.isFinite(v)) ? (flat as number[]) : undefined;
}

/** Per-channel values of length n from a scalar or n values. */
function perChannel(values: ArrayLike<number> | undefined, n: number): Float32Array | undefined {
  if (!values) return undefined;
  if (values.length === 1) return new Float32Array(n).fill(values[0]);
  return values.length === n ? Float32Array.from(values) : undefined;
}

/** The BatchNormalization weights that stand for a Normalization or per-channel Rescaling layer. */
function specialWeights(file: string, layer: string, special: Special, stored: SourceWeight[] | undefined, expected: Expected[]): Map<string, Float32Array> {
  const n = expected[expected.length - 1].shape[0];
  const byName = (v: string, pos: number) => stored?.find((w) => w.name === v) ?? (stored?.every((w) => !w.name) ? stored[pos] : undefined);
  let a: Float32Array | undefined; // mean, or scale
  let b: Float32Array | undefined; // variance, or offset
  if (special.kind === 'normalization') {
    if (special.mean !== undefined) {
      a = perChannel(flatNumbers(special.mean), n);
      b = perChannel(flatNumbers(special.variance), n);
    } else {
      a = perChannel(byName('mean', 0)?.read(), n);
      b = perChannel(byName('variance', 1)?.read(), n);
    }
    if (!a || !b) throw fileError(file, `layer "${layer}" (Normalization) has no mean and variance for its ${n} channels`);
  } else {
    a = perChannel(flatNumbers(special.scale), n);
    b = perChannel(flatNumbers(special.offset), n);
    if (!a || !b) throw fileError(file, `layer "${layer}" (Rescaling) has a scale or offset that does not match its ${n} channels`);
  }
  const ones = new Float32Array(n).fill(1);
  const zeros = new Float32Array(n);
  const out = new Map<string, Float32Array>();
  if (special.kind === 'normalization' && !special.invert) {
    // Keras: (x − mean) / max(√variance, 1e-7); tfjs BatchNormalization with ε = 0: (x − mean) / √variance.
    out.set('moving_mean', a);
    out.set('moving_variance', b.map((v) => Math.max(v, 1e-14)));
  } else {
    // Keras: mean + x · max(√variance, 1e-7), or x · scale + offset: γ·x + β with mean 0, variance 1.
    out.set('gamma', special.kind === 'normalization' ? b.map((v) => Math.max(Math.sqrt(v), 1e-7)) : a);
    out.set('beta', special.kind === 'normalization' ? a : b);
    out.set('moving_mean', zeros);
    out.set('moving_variance', ones);
  }
  return out;
}

/** Pairs the stored weights with the expected ones: by variable name when the file records names, else by position. */
function match(file: string, source: WeightSource, layer: string, leaf: Leaf, stored: SourceWeight[], expected: Expected[]): SourceWeight[] {
  const named = stored.length > 0 && stored.every((w) => w.name);
  return expected.map((e, i) => {
    const variable = e.name.slice(e.name.lastIndexOf('/') + 1);
    let found: SourceWeight | undefined;
    if (named) {
      const accepted = [variable, ...(ALIASES[variable] ?? [])];
      found = stored.find((w) => accepted.includes(w.name!));
    } else {
      if (stored.length !== expected.length) {
        const missing = stored.length < expected.length ? ` (no "${expected[stored.length].name.slice(expected[stored.length].name.lastIndexOf('/') + 1)}")` : '';
        throw fileError(file, `layer "${layer}" (${leaf.className}) has ${stored.length} weights in ${source.where} but the model needs ${expected.length}${missing}`);
      }
      found = stored[i];
    }
    if (!found) throw fileError(file, `layer "${layer}" (${leaf.className}) has no weight "${variable}" in ${source.where}`);
    if (!sameShape(found.shape, e.shape)) {
      throw fileError(file, `weight "${variable}" of layer "${layer}" has shape ${shapeText(found.shape)} in ${source.where} but the model needs ${shapeText(e.shape)}`);
    }
    return found;
  });
}

export async function assembleArtifacts(file: string, translation: Translation, source: WeightSource, meta: { kerasVersion?: string; backend?: string }): Promise<tf.io.ModelArtifacts> {
  const modelTopology = { model_config: translation.modelConfig, keras_version: meta.kerasVersion ?? 'unknown', backend: meta.backend ?? 'tensorflow' };
  let model: tf.LayersModel;
  try {
    // tfjs can leave its promise pending on a config it cannot wire: bounded here, never a hang.
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('TF.js did not finish building it')), BUILD_TIMEOUT_MS);
    });
    try {
      model = await Promise.race([tf.models.modelFromJSON({ modelTopology } as unknown as tf.io.ModelJSON), stalled]);
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    throw fileError(file, `has a model that TF.js cannot build (${firstLine(err, 200)})`);
  }
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const data: Float32Array[] = [];
  try {
    for (const { name, weights } of leafLayers(model)) {
      const leaf = translation.leaves.get(name);
      if (!leaf) throw fileError(file, `has a layer "${name}" that the model config does not describe`);
      const stored = source.weightsOf(name, leaf);
      let values: Float32Array[];
      if (leaf.special) {
        const computed = specialWeights(file, name, leaf.special, stored, weights);
        values = weights.map((e) => computed.get(e.name.slice(e.name.lastIndexOf('/') + 1))!);
      } else {
        if (!stored || stored.length === 0) throw fileError(file, `has no weights for layer "${name}" (${leaf.className}) in ${source.where}`);
        values = match(file, source, name, leaf, stored, weights).map((w) => w.read());
      }
      weights.forEach((e, i) => {
        const count = e.shape.reduce((x, y) => x * y, 1);
        if (!values[i] || values[i].length !== count) throw fileError(file, `weight "${e.name}" holds ${values[i]?.length ?? 0} values, the model needs ${count}`);
        weightSpecs.push({ name: e.name, shape: e.shape, dtype: 'float32' });
        data.push(values[i]);
      });
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw fileError(file, `has weights that could not be read (${firstLine(err, 200)})`);
  } finally {
    model.dispose();
  }
  const total = data.reduce((n, d) => n + d.length, 0);
  const joined = new Float32Array(total);
  let at = 0;
  for (const d of data) {
    joined.set(d, at);
    at += d.length;
  }
  return { modelTopology, format: 'layers-model', weightSpecs, weightData: joined.buffer };
}
