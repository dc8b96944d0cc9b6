/**
 * Which registry methods a loaded model can be explained with, and in one phrase why not: the explain
 * panel's method pickers and the "Explain with…" command offer every method and say why some are off.
 */
import { FAMILIES, METHODS, type MethodFamily, type MethodSpec } from './methods';
import type { ModelInfoMsg } from './protocol';

/** What availability depends on: the model's spatial layers and the runtime that computes its maps. */
export type ModelCapabilities = Pick<ModelInfoMsg, 'spatialLayers' | 'backend' | 'attentionBlocks'>;

const RUNTIME_LABELS: Record<string, string> = { onnxruntime: 'ONNX Runtime' };

/**
 * Why attention rollout cannot run on a model whose blocks do not attend over all patch tokens (a CNN, windowed
 * attention as in Swin): the engine finds out when it reads the graph, and says it in these words.
 */
export const NO_ATTENTION_REASON = 'needs a vision transformer whose blocks attend over all patch tokens; this model has none';

/** Why `spec` cannot run on this model ("needs …"), or undefined when it can. */
export function unavailableReason(spec: MethodSpec, model: ModelCapabilities): string | undefined {
  if (spec.target === 'layer' && model.spatialLayers.length === 0) {
    return 'needs a convolutional layer; this model has none';
  }
  if (spec.runtime && model.backend.name !== spec.runtime) {
    // A tfjs backend is named by itself (wasm, cpu, tensorflow): say it is tfjs.
    return `needs ${RUNTIME_LABELS[spec.runtime] ?? spec.runtime}; this model runs on tfjs (${model.backend.name})`;
  }
  if (spec.needsAttention && !model.attentionBlocks) return NO_ATTENTION_REASON;
  return undefined;
}

export interface FamilyGroup {
  family: MethodFamily;
  label: string;
  methods: MethodSpec[];
}

/** The registry's methods grouped by family, families and methods in registry order. */
export function methodsByFamily(): FamilyGroup[] {
  return FAMILIES.map((f) => ({ family: f.name, label: f.label, methods: (METHODS as readonly MethodSpec[]).filter((m) => m.family === f.name) }))
    .filter((g) => g.methods.length > 0);
}
