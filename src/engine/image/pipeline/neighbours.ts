/**
 * The pipelines a model could just as plausibly have been fed, next to the one in use: what the sensitivity note
 * (engine/sensitivity.ts) runs to warn when the top class hangs on a preprocessing detail. Each differs from the
 * active pipeline in one respect that frameworks are known to disagree on:
 * 1. antialiasing, when the resize shrinks the image (PIL and torchvision on PIL images antialias; torch tensors
 *    before torchvision 0.17 and TF's resize by default do not);
 * 2. the pixel grid, when antialiasing is off (tfjs's resizeBilinear defaults to TF1's grid; TF2 and PyTorch use
 *    half-pixel centres; align-corners is the third);
 * 3. the framing: a centre crop or letterbox against a stretch of the whole image, and a stretch against
 *    torchvision's resize-and-crop.
 * At most four, so the note costs at most four forward runs.
 */
import type { Size } from './geometry';
import { bindPipeline } from './geometry';
import type { PipelineSpec, PixelConvention } from './spec';

export interface NeighbourPipeline {
  /** How it differs, as the note says it: "without antialiasing", "with half-pixel centres". */
  label: string;
  spec: PipelineSpec;
}

const GRID_LABEL: Record<PixelConvention, string> = {
  'half-pixel': 'with half-pixel centres (TF2, PyTorch)',
  'legacy-tf': "with TF1's pixel grid (tf.image.resizeBilinear's defaults)",
  'align-corners': 'with align-corners sampling',
};

export const MAX_NEIGHBOURS = 4;

export function neighbourPipelines(spec: PipelineSpec, input: Size, image: Size): NeighbourPipeline[] {
  const out: NeighbourPipeline[] = [];
  const { resize, crop } = spec;
  const add = (label: string, change: Partial<PipelineSpec>) => out.push({ label, spec: { ...spec, ...change, name: `${spec.name}, ${label}` } });
  const resized = bindPipeline(spec, input, image).resized;
  const shrinks = resized.width < image.width || resized.height < image.height;
  const smooth = resize.interpolation !== 'nearest';

  if (shrinks && smooth) {
    if (resize.antialias) {
      // Without antialiasing only nearest and bilinear exist here (tfResize), so bicubic and the rest compare as bilinear.
      const label = resize.interpolation === 'bilinear' ? 'without antialiasing' : 'bilinear without antialiasing';
      add(label, { resize: { ...resize, interpolation: 'bilinear', antialias: false, arithmetic: 'float', convention: 'half-pixel' } });
    } else {
      add('with antialiasing (as PIL resizes)', { resize: { ...resize, antialias: true, convention: 'half-pixel', arithmetic: 'float' } });
    }
  }
  if (!resize.antialias && (resized.width !== image.width || resized.height !== image.height)) {
    for (const convention of ['half-pixel', 'legacy-tf', 'align-corners'] as const) {
      if (convention !== resize.convention) add(GRID_LABEL[convention], { resize: { ...resize, convention } });
    }
  }
  if (crop.kind !== 'none') {
    add(`with the whole image stretched instead of the ${crop.kind === 'center' ? 'centre crop' : 'letterbox'}`, {
      resize: { ...resize, edge: 'both', size: undefined, maxSize: undefined },
      crop: { kind: 'none' },
    });
  } else if (Math.abs(image.width / image.height - input.width / input.height) > 0.05) {
    // The aspect ratio changes under a stretch: a crop is what most eval transforms do instead.
    add("with a shorter-edge resize and centre crop (torchvision's framing)", {
      resize: { ...resize, edge: 'shorter', size: undefined },
      crop: { kind: 'center', fraction: 0.875, offset: 'half-even' },
    });
  }
  return out.slice(0, MAX_NEIGHBOURS);
}
