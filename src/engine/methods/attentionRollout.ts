import { methodSpec, type MethodName } from '../../shared/methods';
import { NO_ATTENTION_REASON } from '../../shared/methodAvailability';
import { bilinearResize } from '../../shared/resize';
import { UserError } from '../errors';
import { isAttentionSource, type AttentionLayout, type AttentionSource } from '../runtimes/onnx/attention';
import { gradientRolloutMap, HeadFusion, rolloutMap } from './rollout';
import type { ModelRuntime } from '../runtimes/types';
import type { AttributionMap, AttributionMethod, MethodContext } from './types';

const spec = methodSpec('rollout');

/** The runtime as a reader of the model's attention, or the sentence why this model cannot run `label`. */
function attentionSourceOf(runtime: ModelRuntime, label: string): AttentionSource {
  if (!isAttentionSource(runtime)) {
    throw new UserError(`${label} needs ONNX Runtime to read the attention inside the model; this model runs on tfjs ` +
      '(it did not convert to ONNX, or the tfjs runtime was chosen)');
  }
  if (!runtime.attentionLayout()) throw new UserError(`${label} ${NO_ATTENTION_REASON} (try Grad-CAM or an input method)`);
  return runtime;
}

/** A map on the patch grid as the methods return it: upsampled bilinearly (half-pixel centres, as vit-explain's cv2.resize). */
function patchGridMap(method: MethodName, grid: Float64Array, layout: AttentionLayout, image: MethodContext['image'], notes: string[]): AttributionMap {
  const { height: h, width: w } = layout;
  if (layout.skip === 0) {
    notes.push(`This model has no class token (its head pools the patch tokens), so ${methodSpec(method).label.toLowerCase()} shows the mean of every token's flow.`);
  }
  return {
    method,
    width: image.width,
    height: image.height,
    data: bilinearResize(Float32Array.from(grid), w, h, image.width, image.height),
    signed: false,
    layerSize: [h, w],
    stats: { attentionBlocks: layout.tensors.length, tokens: layout.tokens },
    notes,
  };
}

/**
 * Attention rollout (rollout.ts) over the attention probabilities the ONNX runtime reads from the graph
 * (runtimes/onnx/attention.ts), in a forward run of its own that keeps them. The map lives on the patch grid.
 * It does not depend on the class explained, so a contrast of two classes is refused rather than shown as a map.
 */
export const attentionRollout: AttributionMethod = {
  spec,
  needs: () => ({}),
  async attribute(ctx) {
    const source = attentionSourceOf(ctx.runtime, spec.label);
    if (ctx.target.contrast) {
      throw new UserError(`${spec.label} is the same for every class, so it cannot contrast two classes; use a gradient or CAM method`);
    }
    const attention = await source.attentionMatrices(ctx.x);
    const grid = rolloutMap(attention, { headFusion: ctx.options.headFusion as HeadFusion, discardRatio: Number(ctx.options.discardRatio) });
    return patchGridMap('rollout', grid, attention, ctx.image, [`${spec.label} does not depend on the class: every class gets this map.`]);
  },
};

const gradSpec = methodSpec('grad-rollout');

/**
 * Gradient-weighted rollout (rollout.ts `gradientRolloutMap`): the attention and the target's gradient with
 * respect to it from one run; class-specific, so a contrast (seed e_a − e_b) is a map like any other.
 */
export const gradientRollout: AttributionMethod = {
  spec: gradSpec,
  needs: () => ({}),
  async attribute(ctx) {
    const source = attentionSourceOf(ctx.runtime, gradSpec.label);
    const attention = await source.attentionGradients(ctx.x, ctx.target.seed);
    return patchGridMap('grad-rollout', gradientRolloutMap(attention), attention, ctx.image, []);
  },
};
