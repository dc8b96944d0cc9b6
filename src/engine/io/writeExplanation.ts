import * as fs from 'node:fs';
import * as path from 'node:path';
import { ColormapName, colorize } from '../../shared/colormaps';
import { centredNormalize, mapRange, minMaxNormalize } from '../../shared/normalize';
import { overlayHeatmap } from '../../shared/overlay';
import { placeMap, regionOnDisplay } from '../../shared/placement';
import type { InputRegionMsg } from '../../shared/protocol';
import type { ImageExplanation } from '../explain';
import type { AttributionMap } from '../methods/types';
import { encodeNpyFloat32 } from './npy';
import { encodePngRgba } from './png';
import { viewable } from './viewableSize';

export interface RenderOptions {
  colormap: ColormapName;
  opacity: number;
  /** Saturate values above this percentile (e.g. 99) so a few hot pixels do not wash out the map. */
  clipPercentile?: number;
}

/**
 * Where the maps lie on the image: the model's input region, in the pixels of the imageWidth×imageHeight image.
 * Absent when the input covers the whole image (maps are then stretched over it, as they always were).
 */
export interface MapPlacement {
  region: InputRegionMsg;
  imageWidth: number;
  imageHeight: number;
}

/** The placement of an explanation's maps, none when its input covers the whole image. */
export function placementFor(result: ImageExplanation): MapPlacement | undefined {
  const region = result.inputRegion;
  return region && region.covers !== 'whole' ? { region, imageWidth: result.image.width, imageHeight: result.image.height } : undefined;
}

/** VS Code's default focus border: the colour the panel outlines the input region with. */
const OUTLINE_RGB = [0x00, 0x78, 0xd4] as const;

/**
 * A map brought from model-input space onto a width×height rendering of the original image: bilinear over the
 * whole image, or over the input region only, with NaN (no attribution) outside it.
 */
export function mapAtImageSize(map: AttributionMap, width: number, height: number, placement?: MapPlacement): Float32Array {
  const region = placement && scaledRegion(placement, width, height);
  return placeMap(map.data, map.width, map.height, region, width, height, width, height);
}

function scaledRegion(p: MapPlacement, width: number, height: number) {
  const sx = width / p.imageWidth;
  const sy = height / p.imageHeight;
  return { x: p.region.x * sx, y: p.region.y * sy, width: p.region.width * sx, height: p.region.height * sy };
}

/**
 * The overlay's RGBA over `pixels` (any size: the map is placed on it): heatmap coloured and alpha-blended on top.
 * With a placement, outside the input region there is no heat and the image is dimmed; the region is outlined.
 */
export function overlayRgba(pixels: { width: number; height: number; data: Uint8Array | Uint8ClampedArray }, map: AttributionMap, opts: RenderOptions,
  placement?: MapPlacement): Uint8ClampedArray {
  const { width, height } = pixels;
  const values = mapAtImageSize(map, width, height, placement);
  // As the panel draws it: a signed map centred on 0 (the colormap's middle is "no evidence"), either clipped alike.
  const clip = { clipPercentile: opts.clipPercentile };
  const normalize = (v: Float32Array) => (map.signed ? centredNormalize(v, clip) : minMaxNormalize(v, clip)).normalized;
  const normalized = placement ? normalizeInside(values, normalize) : normalize(values);
  const heat = colorize(normalized, opts.colormap, { nanTransparent: true });
  const out = overlayHeatmap(pixels.data, heat, normalized, opts.opacity, width, height);
  if (placement) outlineRegion(out, width, height, placement);
  return out;
}

/** Normalized over the pixels inside the region only (NaN elsewhere stays NaN): the outside would count as zeros. */
function normalizeInside(values: Float32Array, normalize: (v: Float32Array) => Float32Array): Float32Array {
  let n = 0;
  for (const v of values) if (!Number.isNaN(v)) n++;
  const inside = new Float32Array(n);
  for (let i = 0, k = 0; i < values.length; i++) if (!Number.isNaN(values[i])) inside[k++] = values[i];
  const scaled = normalize(inside);
  const out = new Float32Array(values.length).fill(NaN);
  for (let i = 0, k = 0; i < values.length; i++) if (!Number.isNaN(values[i])) out[i] = scaled[k++];
  return out;
}

/** A 1 px outline on the ring of pixels just outside the region, as the panel draws it (its parts on the picture only). */
function outlineRegion(rgba: Uint8ClampedArray, width: number, height: number, p: MapPlacement): void {
  const box = regionOnDisplay(p.region, p.imageWidth, p.imageHeight, width, height);
  const x0 = Math.round(box.left) - 1;
  const y0 = Math.round(box.top) - 1;
  const x1 = Math.round(box.left + box.width);
  const y1 = Math.round(box.top + box.height);
  const paint = (x: number, y: number) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const o = 4 * (y * width + x);
    rgba[o] = OUTLINE_RGB[0];
    rgba[o + 1] = OUTLINE_RGB[1];
    rgba[o + 2] = OUTLINE_RGB[2];
  };
  for (let x = x0; x <= x1; x++) {
    paint(x, y0);
    paint(x, y1);
  }
  for (let y = y0; y <= y1; y++) {
    paint(x0, y);
    paint(x1, y);
  }
}

/** The overlay as the user sees it, as PNG: at the image's size, a small one enlarged to a viewable size (viewableSize.ts). */
export function renderOverlay(result: ImageExplanation, map: AttributionMap, opts: RenderOptions, placement?: MapPlacement): Buffer {
  const { width, height } = result.pixels;
  const picture = viewable({ width, height, data: overlayRgba(result.pixels, map, opts, placement) });
  return encodePngRgba(picture.data, picture.width, picture.height);
}

export interface WrittenFiles {
  report: string;
  overlays: string[];
  arrays: string[];
}

/** JSON-safe report of one explanation (no pixel data). */
export function reportOf(result: ImageExplanation, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    image: result.image,
    modelInput: result.modelInput,
    preprocessing: result.preprocessing,
    predictions: result.predictions,
    explainedClass: result.target,
    maps: result.maps.map((m) => ({
      method: m.method,
      layer: m.layer,
      layerSize: m.layerSize,
      signed: m.signed,
      options: m.options,
      stats: m.stats,
      modelSpace: [m.height, m.width],
      ...mapRange(m.data),
    })),
    notes: result.notes,
    timingsMs: Object.fromEntries(Object.entries(result.timings).map(([k, v]) => [k, Math.round(v * 100) / 100])),
    ...extra,
  };
}

/**
 * Writes, per map, `<stem>.<method>.png` (overlay, at least 512 px long) and `<stem>.<method>.npy` (raw float32 map at the
 * image's size, unnormalized), plus `<stem>.json` with predictions, class, layer and timings.
 *
 * The explanation's `inputRegion` is the part of the image the model's input covers. Unless it is the whole image,
 * the maps lie only inside it: the overlays dim the rest and outline it, the .npy holds NaN outside it. The JSON
 * states it as `"inputRegion"` (with its sentence, e.g. "centre crop 263×263 at (94, 0) of the 451×300 image").
 */
export function writeExplanation(result: ImageExplanation, outDir: string, opts: RenderOptions, extra: Record<string, unknown>,
  name = path.basename(result.image.file).replace(/\.[^.]+$/, '')): WrittenFiles {
  fs.mkdirSync(outDir, { recursive: true });
  const stem = path.join(outDir, name);
  const written: WrittenFiles = { report: `${stem}.json`, overlays: [], arrays: [] };
  // Raw maps at the image's real size, also when a large image was explained through a downscaled copy.
  const { width, height } = result.image;
  const placement = placementFor(result);
  for (const map of result.maps) {
    const png = `${stem}.${map.method}.png`;
    fs.writeFileSync(png, renderOverlay(result, map, opts, placement));
    written.overlays.push(png);
    const npy = `${stem}.${map.method}.npy`;
    fs.writeFileSync(npy, encodeNpyFloat32(mapAtImageSize(map, width, height, placement), [height, width]));
    written.arrays.push(npy);
  }
  const inputRegion = result.inputRegion;
  const region = inputRegion ? { inputRegion: { ...inputRegion, npy: placement ? 'NaN outside the region' : 'the whole image' } } : {};
  fs.writeFileSync(written.report, JSON.stringify(reportOf(result, { ...region, ...extra }), null, 2));
  return written;
}
