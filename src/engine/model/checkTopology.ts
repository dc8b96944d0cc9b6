import { fileError } from '../errors';

/**
 * Sizes in a model's topology that tfjs would run unchecked: a negative stride in a GraphModel corrupts
 * the wasm backend's memory for the whole process, a zero pool or kernel size divides by zero. Checked
 * before tfjs builds anything, so a malformed model.json (or Keras config) is one sentence.
 */

/** Upper bound for any window size, stride or dilation: far above real models, far below overflow. */
const MAX_SIZE = 65536;

/** Keras config keys holding positive window sizes, strides or counts (snake_case as files store them). */
const POSITIVE_KEYS = new Set(['kernel_size', 'strides', 'dilation_rate', 'pool_size', 'size', 'depth_multiplier', 'filters', 'units',
  'target_shape', 'dims', 'height', 'width']);
/** Keras config keys holding non-negative paddings and croppings. */
const NON_NEGATIVE_KEYS = new Set(['padding', 'cropping']);
/** Keras input shapes: batch and free dimensions are null, the rest positive. */
const SHAPE_KEYS = new Set(['batch_input_shape', 'batch_shape', 'input_shape']);
/** GraphDef attributes holding positive sizes, and non-negative paddings. */
const GRAPH_POSITIVE_ATTRS = ['strides', 'dilations', 'ksize'];

const isInt = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= MAX_SIZE;

function numbersIn(v: unknown): unknown[] {
  if (Array.isArray(v)) return v.flatMap(numbersIn);
  return [v];
}

function describe(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/** Walks a Layers topology (any nesting) and checks every size-like config value. */
export function checkLayersTopology(topology: unknown, file: string): void {
  const stack: { value: unknown; layer?: string }[] = [{ value: topology }];
  while (stack.length) {
    const { value, layer } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      for (const v of value) stack.push({ value: v, layer });
      continue;
    }
    const obj = value as Record<string, unknown>;
    const name = typeof obj.name === 'string' ? obj.name : layer;
    for (const [key, v] of Object.entries(obj)) {
      const where = `layer ${JSON.stringify(name ?? '?')}`;
      if (POSITIVE_KEYS.has(key) && typeof v !== 'string' && v !== null && v !== undefined) {
        // -1 is Reshape's "the rest"; everything else must be a positive integer.
        const ok = numbersIn(v).every((n) => isInt(n, 1) || (key === 'target_shape' && n === -1));
        if (!ok) throw fileError(file, `${where} has ${key} ${describe(v)}; expected positive whole numbers`);
      } else if (NON_NEGATIVE_KEYS.has(key) && typeof v !== 'string' && v !== null && v !== undefined) {
        if (!numbersIn(v).every((n) => isInt(n, 0))) throw fileError(file, `${where} has ${key} ${describe(v)}; expected whole numbers ≥ 0`);
      } else if (SHAPE_KEYS.has(key) && v !== null && v !== undefined) {
        if (!Array.isArray(v) || !v.every((n) => n === null || isInt(n, 1))) {
          throw fileError(file, `${where} has ${key} ${describe(v)}; expected sizes that are positive whole numbers (or null)`);
        }
      } else {
        stack.push({ value: v, layer: name });
      }
    }
  }
}

/** Checks the window attributes of every GraphDef node. */
export function checkGraphTopology(nodes: unknown, file: string): void {
  if (!Array.isArray(nodes)) throw fileError(file, 'has a Graph "modelTopology" without a "node" list');
  for (const node of nodes as { name?: unknown; attr?: Record<string, { list?: { i?: unknown[] } }> }[]) {
    if (node === null || typeof node !== 'object') throw fileError(file, 'has a graph node that is not an object');
    for (const key of GRAPH_POSITIVE_ATTRS) {
      const values = node.attr?.[key]?.list?.i;
      if (values === undefined) continue;
      if (!Array.isArray(values) || !values.every((v) => isInt(Number(v), 1) && String(Number(v)) === String(v).trim())) {
        throw fileError(file, `node ${describe(node.name)} has ${key} ${describe(values)}; expected positive whole numbers`);
      }
    }
  }
}

/** Values one layer may output: 64 Mi (256 MB of float32), as for ONNX inputs, far above image classifiers'. */
export const MAX_LAYER_VALUES = 2 ** 26;

/**
 * After tfjs built a Layers model: every layer's output size must be positive (a kernel or dilation larger
 * than its input gives a negative size that tfjs does not refuse, and wasm kernels then write out of
 * bounds) and bounded (an UpSampling2D of 2000× in a 1 KB model.json would take tens of GB to run).
 */
export function checkLayerOutputSizes(layers: { name: string; outputShape: (number | null)[] }[], file: string): void {
  for (const layer of layers) {
    const dims = layer.outputShape.filter((d) => d !== null);
    if (!dims.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0)) {
      throw fileError(file, `layer ${describe(layer.name)} would output shape ${describe(layer.outputShape)}: its window or stride does not fit its input`);
    }
    const values = (dims as number[]).reduce((a, b) => a * b, 1);
    if (values > MAX_LAYER_VALUES) {
      throw fileError(file, `layer ${describe(layer.name)} would output ${values.toLocaleString('en-US')} values (shape ${describe(layer.outputShape)}), ` +
        `more than the ${MAX_LAYER_VALUES.toLocaleString('en-US')} Saliency Lens computes per layer`);
    }
  }
}
