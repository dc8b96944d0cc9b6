import { fileError } from '../../errors';
import {
  CODE_LAYERS, CONTAINERS, INFERENCE_IDENTITIES, isKerasModule, KERAS_BUILTINS_UNSUPPORTED, POINTWISE, TFJS_LAYERS, tfjsActivation,
} from './classes';

/**
 * Translates a Keras model config (Keras 2 / tf.keras, or Keras 3 with its `module` / `registered_name`
 * objects, `args`/`kwargs` nodes, `batch_shape` and dtype policies) into the Keras 2 schema that
 * tfjs-layers 4.22 deserializes. Every class is checked against the built-in tables first: custom and
 * code-carrying layers are refused by name; training-only layers are dropped; preprocessing layers that
 * tfjs lacks or runs differently are rewritten into ones it runs as Keras does.
 */

type Json = Record<string, unknown>;
type Ref = [string, number, number];

/** Weights that are not the file's as they stand: computed from the layer's config or statistics. */
export type Special =
  | { kind: 'normalization'; invert: boolean; mean?: unknown; variance?: unknown }
  | { kind: 'affine'; scale: unknown; offset: unknown };

export interface Leaf {
  /** The Keras class in the file. */
  className: string;
  /** Keras 3 weights: the layer's group in model.weights.h5 (without "/vars"), e.g. "layers/functional/layers/conv2d". */
  path: string;
  special?: Special;
}

export interface Translation {
  /** `{class_name, config}` in the Keras 2 schema. */
  modelConfig: Json;
  /** Every layer that is not a container, by name (tfjs names weights `layer/weight`). */
  leaves: Map<string, Leaf>;
  warnings: string[];
}

interface Ctx {
  file: string;
  major: number;
  minor: number;
  leaves: Map<string, Leaf>;
  warnings: string[];
  dropped: string[];
  /** InputLayer configs fed by the model input (through pointwise layers): resized when a Resizing is folded. */
  chainInputs: Json[];
  inputSize?: [number, number];
  nonFloat32?: string;
}

interface Translated {
  /** The tfjs entry, or null when the container is an identity (everything in it was dropped). */
  entry: Json | null;
  /** Its output is the model input, up to pointwise layers. */
  outputIsInput: boolean;
}

const isObject = (v: unknown): v is Json => !!v && typeof v === 'object' && !Array.isArray(v);

/** Keras's class-name → snake_case (saving_lib names container entries so). */
export function toSnakeCase(name: string): string {
  return name.replace(/\W+/g, '').replace(/(.)([A-Z][a-z]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

function uniqueName(base: string, used: Map<string, number>): string {
  const n = used.get(base);
  if (n === undefined) {
    used.set(base, 0);
    return base;
  }
  used.set(base, n + 1);
  return `${base}_${n + 1}`;
}

function bad(ctx: Ctx, problem: string): never {
  throw fileError(ctx.file, problem);
}

function layerName(entry: Json, ctx: Ctx): string {
  const config = isObject(entry.config) ? entry.config : {};
  const name = entry.name ?? config.name;
  if (typeof name !== 'string' || !name) bad(ctx, `has a model config with a layer without a name (class ${String(entry.class_name)})`);
  return name;
}

/** Refuses Lambda layers and any class that is not built into Keras: the file would need its Python code. */
function checkSafe(entry: Json, name: string, ctx: Ctx): string {
  const className = entry.class_name;
  if (typeof className !== 'string') bad(ctx, `layer "${name}" has no class name in the model config`);
  const never = 'Saliency Lens never runs code from model files';
  if (CODE_LAYERS.has(className)) {
    bad(ctx, `layer "${name}" is a ${className} layer (Python code); ${never}, so rebuild the model with built-in layers instead (e.g. Rescaling, Activation)`);
  }
  const module = entry.module;
  const registered = entry.registered_name;
  const builtin = CONTAINERS.has(className) || TFJS_LAYERS.has(className) || INFERENCE_IDENTITIES.has(className) ||
    KERAS_BUILTINS_UNSUPPORTED.has(className) || POINTWISE.has(className);
  const custom = ('module' in entry && !isKerasModule(module)) ||
    (typeof registered === 'string' && registered !== className) || !builtin;
  if (custom) {
    const from = typeof module === 'string' && module ? ` from module ${module}` : '';
    bad(ctx, `layer "${name}" is the custom class ${className}${from} (Python code); ${never}, so only built-in Keras layers can be explained`);
  }
  return className;
}

function refuseUnsupported(ctx: Ctx, name: string, className: string, why = 'which Saliency Lens cannot run yet'): never {
  bad(ctx, `layer "${name}" is a Keras ${className} layer, ${why}`);
}

/** A dtype or dtype policy → "float32" (the engine computes in float32). */
function dtypeOf(value: unknown, ctx: Ctx): string {
  const name = isObject(value) ? (isObject(value.config) ? value.config.name : undefined) : value;
  if (typeof name === 'string' && name !== 'float32' && /float|bfloat/.test(name)) ctx.nonFloat32 ??= name;
  return 'float32';
}

function activationOf(value: unknown, name: string, ctx: Ctx): string {
  let act: unknown = value;
  if (isObject(value)) {
    // Keras 3: {module: "keras.activations", class_name: "function", config: "relu", registered_name: "relu"}.
    const builtin = isKerasModule(value.module) && (value.class_name === 'function' || typeof value.config !== 'string');
    act = builtin ? (typeof value.config === 'string' ? value.config : value.class_name) : undefined;
    if (!builtin || typeof act !== 'string') {
      bad(ctx, `layer "${name}" uses the custom activation ${JSON.stringify(value.config ?? value.class_name)} (Python code); Saliency Lens never runs code from model files`);
    }
  }
  if (act === undefined || act === null) return 'linear';
  if (typeof act !== 'string') bad(ctx, `layer "${name}" has a malformed activation`);
  const mapped = tfjsActivation(act, ctx.major);
  if (!mapped) bad(ctx, `layer "${name}" uses the activation "${act}", which Saliency Lens cannot run yet`);
  return mapped;
}

function numberList(value: unknown): number[] | undefined {
  const flat = Array.isArray(value) ? value.flat(Infinity) : [value];
  return flat.every((v) => typeof v === 'number' && Number.isFinite(v)) ? (flat as number[]) : undefined;
}

/** A built-in layer's config in the form tfjs reads; initializers, regularizers and constraints are dropped. */
function cleanConfig(className: string, config: Json, name: string, ctx: Ctx): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(config)) {
    if (/_(initializer|regularizer|constraint)$/.test(k)) continue;
    if (['build_config', 'compile_config', 'lora_rank', 'lora_alpha', 'quantization_config', 'optional', 'ragged', 'input_tensor'].includes(k)) continue;
    out[k] = v;
  }
  out.name = name;
  out.dtype = dtypeOf(config.dtype, ctx);
  if (config.quantization_config != null || (typeof config.dtype === 'object' && /int8|int4|float8/.test(JSON.stringify(config.dtype)))) {
    refuseUnsupported(ctx, name, className, 'quantized, which Saliency Lens cannot read yet (save the float model)');
  }
  if ('activation' in config) out.activation = activationOf(config.activation, name, ctx);
  if (typeof config.groups === 'number' && config.groups !== 1) refuseUnsupported(ctx, name, className, `with groups=${config.groups}, which tfjs cannot run`);
  delete out.groups;
  if (config.keepdims === true) refuseUnsupported(ctx, name, className, 'with keepdims=True, which tfjs cannot run');
  delete out.keepdims;
  if (className === 'Conv2DTranspose' && config.output_padding != null) refuseUnsupported(ctx, name, className, 'with output_padding, which tfjs cannot run');
  if (className === 'ReLU') {
    if (Number(config.negative_slope ?? 0) !== 0 || Number(config.threshold ?? 0) !== 0) {
      refuseUnsupported(ctx, name, className, 'with negative_slope or threshold, which tfjs cannot run');
    }
    delete out.negative_slope;
    delete out.threshold;
  }
  if (className === 'LeakyReLU' && 'negative_slope' in config) {
    out.alpha = config.negative_slope;
    delete out.negative_slope;
  }
  if ((className === 'BatchNormalization' || className === 'LayerNormalization') && Array.isArray(config.axis) && config.axis.length === 1) {
    out.axis = config.axis[0];
  }
  if (className === 'InputLayer') {
    const shape = config.batch_shape ?? config.batch_input_shape;
    if (!Array.isArray(shape)) bad(ctx, `input layer "${name}" has no input shape in the model config`);
    return { batch_input_shape: shape, dtype: 'float32', sparse: false, name };
  }
  return out;
}

/** tfjs refs `[layer, node, tensor, kwargs]` of one call, from either node format. */
function nodeRefs(node: unknown, ctx: Ctx, name: string): Ref[] {
  const refs: Ref[] = [];
  const isRef = (v: unknown): v is Ref => Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && Number.isInteger(v[1]) && Number.isInteger(v[2]);
  if (Array.isArray(node)) {
    // Keras 2: [[layer, node, tensor, kwargs], …]
    for (const r of node) {
      if (!isRef(r)) bad(ctx, `layer "${name}" has a malformed inbound node in the model config`);
      refs.push([r[0], r[1], r[2]]);
    }
    return refs;
  }
  if (!isObject(node)) bad(ctx, `layer "${name}" has a malformed inbound node in the model config`);
  // Keras 3: {args: [...], kwargs: {...}} with {class_name: "__keras_tensor__", config: {keras_history: [layer, node, tensor]}}.
  const walk = (v: unknown, depth: number): void => {
    if (depth > 8) return;
    if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
    else if (isObject(v)) {
      if (v.class_name === '__keras_tensor__') {
        const h = isObject(v.config) ? v.config.keras_history : undefined;
        if (!isRef(h)) bad(ctx, `layer "${name}" has a malformed tensor reference in the model config`);
        refs.push([h[0], h[1], h[2]]);
      } else if (!('class_name' in v)) Object.values(v).forEach((x) => walk(x, depth + 1));
    }
  };
  walk(node.args, 0);
  if (refs.length === 0) bad(ctx, `layer "${name}" is called without tensor inputs, which Saliency Lens cannot follow`);
  return refs;
}

/** `input_layers` / `output_layers`: one ref, a list of refs, or (Keras 3) a dict of them. */
function tensorList(value: unknown, ctx: Ctx, what: string): Ref[] {
  const out: Ref[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth > 8) bad(ctx, `has a malformed ${what} list in the model config`);
    if (Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && Number.isInteger(v[1]) && Number.isInteger(v[2])) out.push([v[0], v[1], v[2]]);
    else if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
    else if (isObject(v)) Object.values(v).forEach((x) => walk(x, depth + 1));
    else bad(ctx, `has a malformed ${what} list in the model config`);
  };
  walk(value, 0);
  if (out.length === 0) bad(ctx, `model config lists no ${what}`);
  return out;
}

/** The spatial size of a layer's input when its config records it (Keras 3 `build_config`). */
function knownInputSize(entry: Json): [number, number] | undefined {
  const shape = isObject(entry.build_config) ? entry.build_config.input_shape : undefined;
  if (Array.isArray(shape) && shape.length === 4 && Number.isInteger(shape[1]) && Number.isInteger(shape[2])) return [shape[1] as number, shape[2] as number];
  return undefined;
}

type Action =
  | { kind: 'keep'; entry: Json; pointwise: boolean }
  | { kind: 'identity'; pointwise: true };

/**
 * What becomes of one non-container layer. `inputIsInput`: its input is the model input up to
 * pointwise layers, where a Resizing (or CenterCrop of unknown input size) can become the input size.
 */
function translateLayer(entry: Json, className: string, name: string, config: Json, ctx: Ctx, inputIsInput: boolean, path: string): Action {
  const keep = (cls: string, cfg: Json, special?: Special, pointwise = false): Action => {
    if (ctx.leaves.has(name)) bad(ctx, `has two layers named "${name}"; layer names must be unique`);
    ctx.leaves.set(name, { className, path, special });
    return { kind: 'keep', entry: { class_name: cls, name, config: cfg }, pointwise };
  };
  const drop = (): Action => {
    ctx.dropped.push(`${name} (${className})`);
    return { kind: 'identity', pointwise: true };
  };
  const size = (): [number, number] => {
    const h = config.height;
    const w = config.width;
    if (!Number.isInteger(h) || !Number.isInteger(w) || (h as number) < 1 || (w as number) < 1) bad(ctx, `layer "${name}" (${className}) has no valid height and width`);
    return [h as number, w as number];
  };
  const fold = (hw: [number, number], how: string): Action => {
    ctx.inputSize = hw;
    ctx.warnings.push(`layer "${name}" (${className} to ${hw[0]}×${hw[1]}) is done by Saliency Lens's own image ${how}: the model input is ${hw[0]}×${hw[1]}`);
    return { kind: 'identity', pointwise: true };
  };
  const bn = (center: boolean, scale: boolean): Json => ({
    name, axis: -1, momentum: 0.99, epsilon: 0, center, scale, dtype: 'float32', trainable: false,
  });

  if (INFERENCE_IDENTITIES.has(className)) return drop();
  switch (className) {
    case 'RandomCrop': {
      // Since Keras 3.6 RandomCrop is an identity at inference; before, it cropped and resized.
      if (ctx.major > 3 || (ctx.major === 3 && ctx.minor >= 6)) return drop();
      if (inputIsInput) return fold(size(), 'resizing (Keras before 3.6 center-crops and resizes here at inference)');
      return refuseUnsupported(ctx, name, className, 'which crops and resizes at inference in Keras before 3.6; Saliency Lens can only take it at the model input');
    }
    case 'Resizing': {
      // tfjs 4.22's Resizing resizes with align-corners and drops the batch dimension from its output shape.
      if (inputIsInput) return fold(size(), 'resizing');
      return refuseUnsupported(ctx, name, className, 'which resizes inside the model; Saliency Lens can only take a Resizing at the model input');
    }
    case 'CenterCrop': {
      const [h, w] = size();
      const known = knownInputSize(entry) ?? (inputIsInput ? ctx.inputSize : undefined);
      if (known && known[0] >= h && known[1] >= w) {
        const top = Math.floor((known[0] - h) / 2);
        const left = Math.floor((known[1] - w) / 2);
        return keep('Cropping2D', { name, cropping: [[top, known[0] - h - top], [left, known[1] - w - left]], data_format: 'channels_last', dtype: 'float32' });
      }
      if (inputIsInput) return fold([h, w], 'resizing (not center-cropping: crop your images to the subject)');
      return refuseUnsupported(ctx, name, className, 'whose input size is not known, which Saliency Lens cannot run inside the model');
    }
    case 'Normalization': {
      const axis = config.axis;
      const axes = axis === null || axis === undefined ? [] : Array.isArray(axis) ? axis : [axis];
      const last = knownInputSize(entry) ? 3 : undefined;
      if (!(axes.length === 0 || (axes.length === 1 && (axes[0] === -1 || axes[0] === last)))) {
        refuseUnsupported(ctx, name, className, `over axis ${JSON.stringify(axis)}, which Saliency Lens cannot run yet (only the channel axis)`);
      }
      const invert = config.invert === true;
      const fromConfig = config.mean !== undefined && config.mean !== null;
      const special: Special = { kind: 'normalization', invert, ...(fromConfig ? { mean: config.mean, variance: config.variance } : {}) };
      return keep('BatchNormalization', bn(invert, invert), special, true);
    }
    case 'Rescaling': {
      if (typeof config.scale === 'number' && (config.offset === undefined || typeof config.offset === 'number')) {
        return keep('Rescaling', { name, scale: config.scale, offset: config.offset ?? 0, dtype: 'float32' }, undefined, true);
      }
      if (!numberList(config.scale) || (config.offset !== undefined && !numberList(config.offset))) {
        refuseUnsupported(ctx, name, className, 'with a scale or offset that is not numbers');
      }
      return keep('BatchNormalization', bn(true, true), { kind: 'affine', scale: config.scale, offset: config.offset ?? 0 }, true);
    }
  }
  if (TFJS_LAYERS.has(className)) return keep(className, cleanConfig(className, config, name, ctx));
  return refuseUnsupported(ctx, name, className);
}

function containerConfig(entry: Json, ctx: Ctx, name: string): Json {
  const config = entry.config;
  if (Array.isArray(config)) return { name, layers: config }; // very old Keras 2 Sequential: a bare list
  if (!isObject(config) || !Array.isArray(config.layers)) bad(ctx, `model "${name}" has no layer list in its config`);
  return config;
}

function translateContainer(entry: Json, className: string, name: string, ctx: Ctx, fromInput: boolean, path: string): Translated {
  return className === 'Sequential'
    ? translateSequential(containerConfig(entry, ctx, name), name, ctx, fromInput, path)
    : translateFunctional(containerConfig(entry, ctx, name), name, ctx, fromInput, path);
}

function child(path: string, unique: string): string {
  return `${path ? `${path}/` : ''}layers/${unique}`;
}

function translateSequential(config: Json, name: string, ctx: Ctx, fromInput: boolean, path: string): Translated {
  const entries = config.layers as unknown[];
  const out: Json[] = [];
  const used = new Map<string, number>();
  let isInput = fromInput;
  let start = 0;
  const first = entries[0];
  if (isObject(first) && first.class_name === 'InputLayer') {
    const inputName = layerName(first, ctx);
    checkSafe(first, inputName, ctx);
    out.push({ class_name: 'InputLayer', name: inputName, config: cleanConfig('InputLayer', isObject(first.config) ? first.config : {}, inputName, ctx) });
    start = 1;
  } else {
    // Keras 2 puts the input shape on the first layer; Keras 3 records it as build_input_shape.
    const firstConfig = isObject(first) && isObject(first.config) ? first.config : {};
    const shape = firstConfig.batch_input_shape ?? config.build_input_shape;
    if (Array.isArray(shape)) {
      out.push({ class_name: 'InputLayer', name: `${name}_input`, config: { batch_input_shape: shape, dtype: 'float32', sparse: false, name: `${name}_input` } });
    }
  }
  if (out.length && fromInput) ctx.chainInputs.push(out[0].config as Json);
  for (const raw of entries.slice(start)) {
    if (!isObject(raw)) bad(ctx, `model "${name}" has a malformed layer in its config`);
    const lname = layerName(raw, ctx);
    const className = checkSafe(raw, lname, ctx);
    const lpath = child(path, uniqueName(toSnakeCase(className), used));
    if (CONTAINERS.has(className)) {
      const nested = translateContainer(raw, className, lname, ctx, isInput, lpath);
      if (nested.entry) out.push({ ...nested.entry, name: lname });
      isInput = nested.entry ? isInput && nested.outputIsInput : isInput;
      continue;
    }
    const lconfig = { ...(isObject(raw.config) ? raw.config : {}) };
    delete lconfig.batch_input_shape;
    const action = translateLayer(raw, className, lname, lconfig, ctx, isInput, lpath);
    if (action.kind === 'keep') out.push(action.entry);
    isInput = isInput && action.pointwise;
  }
  if (out.every((e) => e.class_name === 'InputLayer')) return { entry: null, outputIsInput: isInput };
  return { entry: { class_name: 'Sequential', config: { name, layers: out } }, outputIsInput: isInput };
}

function translateFunctional(config: Json, name: string, ctx: Ctx, fromInput: boolean, path: string): Translated {
  const entries = config.layers as unknown[];
  const key = (r: Ref) => `${r[0]}|${r[1]}|${r[2]}`;
  const classes = new Map<string, string>();
  for (const e of entries) if (isObject(e) && typeof e.class_name === 'string') classes.set(String(e.name ?? (isObject(e.config) ? e.config.name : '')), e.class_name);
  // Keras 3 Sequential models have no node of their own before their first call; tfjs (like Keras 2) counts one.
  const fix = (r: Ref): Ref => (ctx.major >= 3 && classes.get(r[0]) === 'Sequential' ? [r[0], r[1] + 1, r[2]] : r);
  const alias = new Map<string, Ref>();
  const resolve = (r: Ref): Ref => {
    for (let i = 0; alias.has(key(r)) && i < 10_000; i++) r = alias.get(key(r))!;
    return r;
  };
  const isInput = new Set<string>();
  const out: Json[] = [];
  const used = new Map<string, number>();
  for (const raw of entries) {
    if (!isObject(raw)) bad(ctx, `model "${name}" has a malformed layer in its config`);
    const lname = layerName(raw, ctx);
    const className = checkSafe(raw, lname, ctx);
    const lpath = child(path, uniqueName(toSnakeCase(className), used));
    if (!Array.isArray(raw.inbound_nodes)) bad(ctx, `layer "${lname}" has no inbound_nodes list in the model config`);
    const nodes = raw.inbound_nodes.map((n) => nodeRefs(n, ctx, lname).map((r) => resolve(fix(r))));
    const single = nodes.length === 1 && nodes[0].length === 1;
    const fedByInput = single && isInput.has(key(nodes[0][0]));
    // The node index of this layer's k-th call as its consumers (fixed) spell it.
    const nodeBase = CONTAINERS.has(className) ? 1 : 0;
    const asIdentity = () => nodes.forEach((refs, k) => alias.set(key([lname, k + nodeBase, 0]), refs[0]));
    const markInput = () => nodes.forEach((_, k) => isInput.add(key([lname, k + nodeBase, 0])));
    const push = (e: Json) => out.push({ ...e, name: lname, inbound_nodes: nodes.map((refs) => refs.map((r) => [r[0], r[1], r[2], {}])) });

    if (className === 'InputLayer') {
      const cfg = cleanConfig('InputLayer', isObject(raw.config) ? raw.config : {}, lname, ctx);
      out.push({ class_name: 'InputLayer', name: lname, config: cfg, inbound_nodes: [] });
      if (fromInput) {
        ctx.chainInputs.push(cfg);
        isInput.add(key([lname, 0, 0]));
      }
      continue;
    }
    if (CONTAINERS.has(className)) {
      const nested = translateContainer(raw, className, lname, ctx, fedByInput, lpath);
      if (!nested.entry) {
        asIdentity();
      } else {
        push(nested.entry);
        if (fedByInput && nested.outputIsInput) markInput();
      }
      continue;
    }
    const action = translateLayer(raw, className, lname, isObject(raw.config) ? raw.config : {}, ctx, fedByInput, lpath);
    if (action.kind === 'identity') {
      if (nodes.some((refs) => refs.length !== 1)) refuseUnsupported(ctx, lname, className, 'called on several tensors at once');
      asIdentity();
    } else {
      push(action.entry);
      if (fedByInput && action.pointwise) markInput();
    }
  }
  const inputs = tensorList(config.input_layers, ctx, 'input');
  const outputs = tensorList(config.output_layers, ctx, 'output').map((r) => resolve(fix(r)));
  checkGraph(ctx, name, out, inputs, outputs);
  return {
    entry: {
      class_name: 'Functional',
      config: { name, layers: out, input_layers: inputs, output_layers: outputs },
    },
    outputIsInput: outputs.every((r) => isInput.has(key(r))),
  };
}

/**
 * Every reference must name a layer of the same model and one of its calls: tfjs's deserializer does
 * not always report a dangling one (its promise can stay pending), so it is caught here.
 */
function checkGraph(ctx: Ctx, model: string, layers: Json[], inputs: Ref[], outputs: Ref[]): void {
  const calls = new Map<string, number>();
  for (const l of layers) {
    const n = Array.isArray(l.inbound_nodes) ? l.inbound_nodes.length : 0;
    calls.set(String(l.name), l.class_name === 'InputLayer' ? 1 : CONTAINERS.has(String(l.class_name)) ? n + 1 : n);
  }
  const check = (r: unknown[], user: string) => {
    const count = calls.get(String(r[0]));
    if (count === undefined) bad(ctx, `${user} reads from a layer "${String(r[0])}" that model "${model}" does not have`);
    if ((r[1] as number) < 0 || (r[1] as number) >= count || (r[2] as number) < 0 || (r[2] as number) > 1024) {
      bad(ctx, `${user} reads call ${String(r[1])} of layer "${String(r[0])}", which model "${model}" does not make`);
    }
  };
  for (const l of layers) {
    for (const node of (l.inbound_nodes ?? []) as unknown[][][]) {
      // A call with no inputs leaves tfjs waiting for ever, like a dangling one.
      if (node.length === 0) bad(ctx, `layer "${String(l.name)}" is called with no inputs`);
      for (const r of node) check(r, `layer "${String(l.name)}"`);
    }
  }
  for (const r of inputs) {
    check(r, `model "${model}"`);
    if (!layers.some((l) => l.name === r[0] && l.class_name === 'InputLayer')) bad(ctx, `model "${model}" lists "${r[0]}" as an input, but it is not an input layer`);
  }
  for (const r of outputs) check(r, `model "${model}"`);
}

/** Translates a whole model config; `kerasVersion` is the version that wrote the file (e.g. "3.8.0"). */
export function translateModelConfig(file: string, modelConfig: unknown, kerasVersion: string | undefined): Translation {
  const [major, minor] = (kerasVersion ?? '').split('.').map((s) => parseInt(s, 10));
  const ctx: Ctx = {
    file, major: Number.isFinite(major) ? major : guessMajor(modelConfig), minor: Number.isFinite(minor) ? minor : 0,
    leaves: new Map(), warnings: [], dropped: [], chainInputs: [],
  };
  if (!isObject(modelConfig) || typeof modelConfig.class_name !== 'string') bad(ctx, 'has a model config that is not a Keras model ({class_name, config})');
  const name = typeof (modelConfig.config as Json | undefined)?.name === 'string' ? String((modelConfig.config as Json).name) : 'model';
  const className = checkSafe(modelConfig, name, ctx);
  if (!CONTAINERS.has(className)) bad(ctx, `holds a single ${className} layer, not a Sequential or Functional model`);
  const top = translateContainer(modelConfig, className, name, ctx, true, '');
  if (!top.entry) bad(ctx, 'has a model with no layers that compute anything');
  if (ctx.inputSize) {
    for (const input of ctx.chainInputs) {
      const shape = input.batch_input_shape;
      if (Array.isArray(shape) && shape.length === 4) input.batch_input_shape = [shape[0], ctx.inputSize[0], ctx.inputSize[1], shape[3]];
    }
  }
  if (ctx.dropped.length) ctx.warnings.push(`training-only layers dropped (identities at inference): ${ctx.dropped.join(', ')}`);
  if (ctx.nonFloat32) ctx.warnings.push(`the model was saved with dtype policy "${ctx.nonFloat32}"; Saliency Lens computes in float32`);
  return { modelConfig: top.entry, leaves: ctx.leaves, warnings: ctx.warnings };
}

/** Without a version: Keras 3 configs carry `module` keys and `{args, kwargs}` nodes. */
function guessMajor(config: unknown): number {
  return JSON.stringify(config ?? null).includes('"__keras_tensor__"') || (isObject(config) && 'module' in config) ? 3 : 2;
}
