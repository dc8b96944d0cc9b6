/**
 * Which pipeline a model gets, and where it came from: the one given (setting, panel, CLI), else the model's
 * `saliency-lens.json`, else a HuggingFace `preprocessor_config.json` beside it, else the model's inferred default.
 * Each is checked against the model's input size here, once, so a size that cannot fit is told when the model opens
 * (naming the file that asked for it) rather than on every image.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError, UserError } from '../../errors';
import { bindPipeline, type Size } from './geometry';
import { HF_PREPROCESSOR_FILE } from './huggingface';
import { parsePipeline } from './presets';
import type { PipelineSpec } from './spec';

export interface PipelineChoice {
  pipeline: PipelineSpec;
  /** As the UI says it: "given", a file's path, or the default's reason. */
  source: string;
  /** A pipeline file found beside the model but not usable, said so (the model opens with the default instead). */
  warning?: string;
}

export interface PipelineCandidates {
  given?: string;
  /** `saliency-lens.json`'s pipeline and its path. */
  settings?: { preprocessing?: string; source: string };
  /** The model's inferred default (e.g. imagenet for a PyTorch-style ONNX model). */
  fallback?: { spec: string; reason: string };
}

export function choosePipeline(c: PipelineCandidates, modelDir: string, input: Size): PipelineChoice {
  const ctx = { modelDir };
  if (c.given) return { pipeline: checked(c.given, ctx, input), source: 'given' };
  if (c.settings?.preprocessing) return { pipeline: checked(c.settings.preprocessing, ctx, input, c.settings.source), source: c.settings.source };
  const [spec, reason] = c.fallback ? [c.fallback.spec, c.fallback.reason] : ['unit', 'default (no saliency-lens.json beside the model)'];
  const hf = path.join(modelDir, HF_PREPROCESSOR_FILE);
  if (fs.existsSync(hf)) {
    try {
      return { pipeline: checked('huggingface', ctx, input), source: hf };
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      // Found, not asked for: a config we cannot reproduce must not stop the model from opening.
      const warning = `${HF_PREPROCESSOR_FILE} beside the model was not used (${err.message.replace(/\.$/, '')}), so the model gets ${spec}; name a pipeline in saliency-lens.json or the preprocessing setting to choose another`;
      return { pipeline: parsePipeline(spec, ctx), source: reason, warning };
    }
  }
  return { pipeline: parsePipeline(spec, ctx), source: reason };
}

/** Parsed and bound to the model's input once (an image of the input's own size), naming `file` in any refusal. */
function checked(text: string, ctx: { modelDir: string }, input: Size, file?: string): PipelineSpec {
  try {
    const spec = parsePipeline(text, ctx);
    bindPipeline(spec, input, input);
    return spec;
  } catch (err) {
    if (!(err instanceof UserError) || !file || err.message.startsWith(file)) throw err;
    throw fileError(file, err.message.charAt(0).toLowerCase() + err.message.slice(1).replace(/\.$/, ''));
  }
}
