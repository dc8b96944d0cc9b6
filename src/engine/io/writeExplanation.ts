import * as fs from 'node:fs';
import * as path from 'node:path';
import { ColormapName, colorize } from '../../shared/colormaps';
import { centredNormalize, mapRange, minMaxNormalize } from '../../shared/normalize';
import { overlayHeatmap } from '../../shared/overlay';
import { bilinearResize } from '../../shared/resize';
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

/** A map brought from model-input space onto the original image's pixel grid. */
export function mapAtImageSize(map: AttributionMap, width: number, height: number): Float32Array {
  return bilinearResize(map.data, map.width, map.height, width, height);
}

/** The overlay's RGBA over `pixels` (any size: the map is resized to it): heatmap coloured and alpha-blended on top. */
export function overlayRgba(pixels: { width: number; height: number; data: Uint8Array | Uint8ClampedArray }, map: AttributionMap, opts: RenderOptions): Uint8ClampedArray {
  const { width, height } = pixels;
  const values = mapAtImageSize(map, width, height);
  // As the panel draws it: a signed map centred on 0 (the colormap's middle is "no evidence"), either clipped alike.
  const clip = { clipPercentile: opts.clipPercentile };
  const { normalized } = map.signed ? centredNormalize(values, clip) : minMaxNormalize(values, clip);
  const heat = colorize(normalized, opts.colormap);
  return overlayHeatmap(pixels.data, heat, normalized, opts.opacity, width, height);
}

/** The overlay as the user sees it, as PNG: at the image's size, a small one enlarged to a viewable size (viewableSize.ts). */
export function renderOverlay(result: ImageExplanation, map: AttributionMap, opts: RenderOptions): Buffer {
  const { width, height } = result.pixels;
  const picture = viewable({ width, height, data: overlayRgba(result.pixels, map, opts) });
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
 */
export function writeExplanation(result: ImageExplanation, outDir: string, opts: RenderOptions, extra: Record<string, unknown>,
  name = path.basename(result.image.file).replace(/\.[^.]+$/, '')): WrittenFiles {
  fs.mkdirSync(outDir, { recursive: true });
  const stem = path.join(outDir, name);
  const written: WrittenFiles = { report: `${stem}.json`, overlays: [], arrays: [] };
  // Raw maps at the image's real size, also when a large image was explained through a downscaled copy.
  const { width, height } = result.image;
  for (const map of result.maps) {
    const png = `${stem}.${map.method}.png`;
    fs.writeFileSync(png, renderOverlay(result, map, opts));
    written.overlays.push(png);
    const npy = `${stem}.${map.method}.npy`;
    fs.writeFileSync(npy, encodeNpyFloat32(mapAtImageSize(map, width, height), [height, width]));
    written.arrays.push(npy);
  }
  fs.writeFileSync(written.report, JSON.stringify(reportOf(result, extra), null, 2));
  return written;
}
