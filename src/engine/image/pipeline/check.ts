/**
 * Which step combinations a pipeline may have: each refusal is one sentence saying what to change. The runner
 * (run.ts) relies on these, so it never meets a combination it has no exact arithmetic for.
 */
import { UserError } from '../../errors';
import type { PipelineSpec } from './spec';

export function checkPipeline(spec: PipelineSpec): void {
  const { resize, crop } = spec;
  const fail = (what: string) => {
    throw new UserError(`Preprocessing "${spec.name}": ${what}.`);
  };
  // Antialiased kernels are PIL's, which sample at pixel centres; the other grids exist only without it (tf, torch).
  if (resize.antialias && resize.convention !== 'half-pixel') fail(`antialiasing uses half-pixel centres; set "convention": "half-pixel" or "antialias": false`);
  if (!resize.antialias && resize.interpolation !== 'nearest' && resize.interpolation !== 'bilinear') {
    fail(`${resize.interpolation} resizing is available with antialiasing only (PIL's kernels); without it use nearest or bilinear`);
  }
  if (resize.arithmetic === 'pil-uint8' && !resize.antialias && resize.interpolation !== 'nearest') {
    fail(`PIL's 8-bit arithmetic always antialiases; set "antialias": true or "arithmetic": "float"`);
  }
  if (resize.edge !== 'both' && crop.kind === 'none') {
    fail(`a ${resize.edge}-edge resize keeps the aspect ratio, so it needs a centre crop (or a letterbox) to reach the model's input size`);
  }
  if (resize.maxSize !== undefined && resize.edge !== 'shorter') fail('"maxSize" caps a shorter-edge resize only');
  if (crop.kind === 'letterbox' && (resize.size !== undefined || resize.edge !== 'both')) {
    fail('a letterbox fits the whole image inside the model\'s input, so its resize takes no size or edge');
  }
}
