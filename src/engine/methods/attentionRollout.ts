import { methodSpec } from '../../shared/methods';
import { NO_ATTENTION_REASON } from '../../shared/methodAvailability';
import { bilinearResize } from '../../shared/resize';
import { UserError } from '../errors';
import { isAttentionSource } from '../runtimes/onnx/attention';
import { HeadFusion, rolloutMap } from './rollout';
import type { AttributionMethod } from './types';

const spec = methodSpec('rollout');

/**
 * Attention rollout (rollout.ts) over the attention probabilities the ONNX runtime reads from the graph
 * (runtimes/onnx/attention.ts), in a forward run of its own that keeps them. The map lives on the patch grid;
 * it is upsampled bilinearly (half-pixel centres, as vit-explain's cv2.resize) to the model input. It does not
 * depend on the class explained, so a contrast of two classes is refused rather than shown as a map.
 */
export const attentionRollout: AttributionMethod = {
  spec,
  needs: () => ({}),
  async attribute(ctx) {
    const { runtime, image } = ctx;
    if (!isAttentionSource(runtime)) {
      throw new UserError(`${spec.label} needs ONNX Runtime to read the attention inside the model; this model runs on tfjs ` +
        '(it did not convert to ONNX, or the tfjs runtime was chosen)');
    }
    if (!runtime.attentionLayout()) throw new UserError(`${spec.label} ${NO_ATTENTION_REASON} (try Grad-CAM or an input method)`);
    if (ctx.target.contrast) {
      throw new UserError(`${spec.label} is the same for every class, so it cannot contrast two classes; use a gradient or CAM method`);
    }
    const attention = await runtime.attentionMatrices(ctx.x);
    const grid = Float32Array.from(rolloutMap(attention, {
      headFusion: ctx.options.headFusion as HeadFusion,
      discardRatio: Number(ctx.options.discardRatio),
    }));
    const { height: h, width: w } = attention;
    const notes = [`${spec.label} does not depend on the class: every class gets this map.`];
    if (attention.skip === 0) {
      notes.push(`This model has no class token (its head pools the patch tokens), so ${spec.label.toLowerCase()} shows the mean of every token's flow.`);
    }
    return {
      method: 'rollout',
      width: image.width,
      height: image.height,
      data: bilinearResize(grid, w, h, image.width, image.height),
      signed: false,
      layerSize: [h, w],
      stats: { attentionBlocks: attention.blocks.length, tokens: attention.tokens },
      notes,
    };
  },
};
