/**
 * A pipeline bound to one image and one model input: the resized size, the window of it the model sees, and where
 * that window lies on the original image (the crop box the panel draws). Pure arithmetic, no pixels.
 *
 * Sizes follow the frameworks' own formulas: a shorter-edge resize to s gives the longer edge int(s·long/short)
 * (torchvision `_compute_resized_output_size`, HuggingFace `get_resize_output_image_size`); a crop fraction f binds
 * the resize to floor(crop/f) (timm `transforms_imagenet_eval`); the centre crop's offset (resized − crop)/2 rounds
 * half to even (torchvision's Python `round`) or down (HuggingFace `center_crop`), and a crop larger than the image
 * pads black before it by ⌊Δ/2⌋ (torchvision) or ⌈Δ/2⌉ (HuggingFace, whose floor of −Δ/2 gives that).
 */
import { UserError } from '../../errors';
import type { InputRegionMsg } from '../../../shared/protocol';
import type { PipelineSpec } from './spec';

export interface Size {
  width: number;
  height: number;
}

/** The input's [left, left+width) × [top, top+height) in the resized image; parts outside it are filled. */
export interface InputWindow {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Original coordinate (pixel edges at integers) of the centre of input pixel i: (i + 0.5)·scale + offset. */
export interface AxisPlacement {
  scale: number;
  offset: number;
}

export interface BoundPipeline {
  resized: Size;
  window: InputWindow;
  x: AxisPlacement;
  y: AxisPlacement;
  inputRegion: InputRegionMsg;
}

/** Python's round(): halves go to the even neighbour (torchvision's crop offset uses it). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function bindPipeline(spec: PipelineSpec, input: Size, image: Size): BoundPipeline {
  const crop = spec.crop;
  if (crop.kind === 'center' && crop.size && (crop.size[0] !== input.height || crop.size[1] !== input.width)) {
    throw new UserError(`Preprocessing "${spec.name}" crops ${crop.size[1]}×${crop.size[0]} but the model takes ${input.width}×${input.height}; they must agree.`);
  }
  const resized = resizedSize(spec, input, image);
  const window = inputWindow(spec, input, resized);
  const x = placement(spec, image.width, resized.width, window.left);
  const y = placement(spec, image.height, resized.height, window.top);
  const covers = spec.crop.kind === 'none' ? 'whole' : spec.crop.kind === 'letterbox' ? 'letterbox' : 'crop';
  // A stretch is drawn over the whole image. On the legacy-TF and align-corners grids the model's samples sit
  // (s−1)/2 image pixels off the half-pixel ones (under half a model pixel), which the drawing leaves out.
  const box = covers === 'whole'
    ? { x: 0, y: 0, width: image.width, height: image.height }
    : { x: x.offset, y: y.offset, width: input.width * x.scale, height: input.height * y.scale };
  return { resized, window, x, y, inputRegion: { ...box, covers, text: regionText(covers, box, image) } };
}

function resizedSize(spec: PipelineSpec, input: Size, image: Size): Size {
  const { resize, crop } = spec;
  if (crop.kind === 'letterbox') {
    const s = Math.min(input.width / image.width, input.height / image.height);
    return { width: clampSide(Math.round(image.width * s)), height: clampSide(Math.round(image.height * s)) };
  }
  if (resize.edge === 'both') {
    const [h, w] = stretchSize(spec, input);
    checkTarget(spec, Math.max(h, w));
    if (crop.kind === 'none' && (h !== input.height || w !== input.width)) {
      throw new UserError(`Preprocessing "${spec.name}" resizes to ${w}×${h} but the model takes ${input.width}×${input.height}; add a centre crop or drop the size.`);
    }
    return { width: w, height: h };
  }
  const target = edgeTarget(spec, input);
  checkTarget(spec, target);
  if (resize.maxSize !== undefined && resize.maxSize <= target) {
    // torchvision refuses this too (max_size must be strictly greater than the requested size).
    throw new UserError(`Preprocessing "${spec.name}" caps the longer edge at ${resize.maxSize} px, which is not above the ${target} px it resizes the shorter edge to; raise "maxSize" or drop it.`);
  }
  const short = Math.min(image.width, image.height);
  const long = Math.max(image.width, image.height);
  let [newShort, newLong] = resize.edge === 'shorter' ? [target, Math.trunc((target * long) / short)] : [Math.trunc((target * short) / long), target];
  if (resize.maxSize !== undefined && newLong > resize.maxSize) {
    [newShort, newLong] = [Math.trunc((resize.maxSize * newShort) / newLong), resize.maxSize];
  }
  // torchvision orders (short, long) as (w, h) when w <= h, so a square image's "shorter" side is its width.
  return image.width <= image.height
    ? { width: clampSide(newShort), height: clampSide(newLong) }
    : { width: clampSide(newLong), height: clampSide(newShort) };
}

const clampSide = (n: number) => Math.max(1, n);

/** The largest edge a pipeline may resize to, as `resize.size` takes: beyond it a size or fraction is a mistake. */
export const MAX_RESIZE_EDGE = 8192;

function checkTarget(spec: PipelineSpec, edge: number): void {
  if (Number.isFinite(edge) && edge >= 1 && edge <= MAX_RESIZE_EDGE) return;
  const fraction = spec.crop.kind === 'center' && spec.crop.fraction !== undefined ? ` (crop fraction ${spec.crop.fraction})` : '';
  throw new UserError(`Preprocessing "${spec.name}" would resize to ${Number.isFinite(edge) ? Math.round(edge) : edge} px${fraction}; an edge must be 1–${MAX_RESIZE_EDGE} px.`);
}

const cropFraction = (spec: PipelineSpec) => (spec.crop.kind === 'center' ? (spec.crop.fraction ?? 1) : 1);

/** A stretch's [height, width]: the size given, else the model's input over the crop fraction (timm's floor). */
export function stretchSize(spec: PipelineSpec, input: Size): [number, number] {
  const size = spec.resize.size;
  if (size === undefined) return [Math.floor(input.height / cropFraction(spec)), Math.floor(input.width / cropFraction(spec))];
  return typeof size === 'number' ? [size, size] : size;
}

/** What a shorter- or longer-edge resize brings that edge to: the size given, else the input's edge over the crop fraction. */
export function edgeTarget(spec: PipelineSpec, input: Size): number {
  const size = spec.resize.size;
  if (typeof size === 'number') return size;
  if (Array.isArray(size)) return Math.min(...size);
  const edge = spec.resize.edge === 'longer' ? Math.max(input.width, input.height) : Math.min(input.width, input.height);
  return Math.floor(edge / cropFraction(spec));
}

function inputWindow(spec: PipelineSpec, input: Size, resized: Size): InputWindow {
  const { crop } = spec;
  const start = (inSize: number, outSize: number): number => {
    const delta = outSize - inSize;
    if (crop.kind === 'letterbox') return Math.floor(delta / 2);
    if (crop.kind === 'none') return 0;
    if (crop.offset === 'floor') return Math.floor(delta / 2);
    // torchvision pads ⌊−Δ/2⌋ before a crop larger than the image, else rounds half to even.
    return delta < 0 ? -Math.floor(-delta / 2) : roundHalfEven(delta / 2);
  };
  return { left: start(input.width, resized.width), top: start(input.height, resized.height), width: input.width, height: input.height };
}

/** Where input pixel i's centre lies on the original axis, for the resize's sampling grid. */
function placement(spec: PipelineSpec, original: number, resized: number, start: number): AxisPlacement {
  const convention = spec.resize.antialias ? 'half-pixel' : spec.resize.convention;
  if (convention === 'half-pixel' || resized === original) {
    const scale = original / resized;
    return { scale, offset: start * scale };
  }
  // legacy TF samples resized pixel j at source index j·s (its centre: j·s + 0.5); align-corners at j·(n−1)/(m−1).
  const scale = convention === 'legacy-tf' ? original / resized : resized > 1 ? (original - 1) / (resized - 1) : 0;
  return { scale, offset: start * scale + 0.5 * (1 - scale) };
}

/**
 * A region bound on a working copy of `working` size, on the file's `real` pixels (the same region when the sizes
 * agree): the box scaled and its sentence said again for the real size.
 */
export function regionOnRealImage(region: InputRegionMsg, working: Size, real: Size): InputRegionMsg {
  if (real.width === working.width && real.height === working.height) return region;
  const sx = real.width / working.width;
  const sy = real.height / working.height;
  const box = { x: region.x * sx, y: region.y * sy, width: region.width * sx, height: region.height * sy };
  return { ...box, covers: region.covers, text: regionText(region.covers, box, real) };
}

function regionText(covers: InputRegionMsg['covers'], box: { x: number; y: number; width: number; height: number }, image: Size): string {
  const n = (v: number) => String(Math.round(v * 10) / 10);
  const of = `of the ${image.width}×${image.height} image`;
  if (covers === 'whole') return `the whole ${image.width}×${image.height} image, stretched`;
  const what = covers === 'crop' ? 'centre crop' : 'letterbox';
  return `${what} ${n(box.width)}×${n(box.height)} at (${n(box.x)}, ${n(box.y)}) ${of}`;
}
