/**
 * Turning a decoded map into pixels: placed on the image's (display) size — resized bilinearly over the whole
 * image, or only over the model's input region when the input covers part of it (placement.ts) — coloured with a
 * colormap, and read under the pointer. Placed maps are memoized per size so that a colormap change only
 * re-colours (a lookup per pixel).
 */
import { placeMap, regionOnDisplay, regionValueAt, scaleRegion, type Region } from '../src/shared/placement';
import { colorize, type ColormapName } from '../src/shared/colormaps';
import type { DecodedMap } from './mapStore';
import { h } from './dom';

/** Longest side of the on-screen heatmap canvas; export always uses the natural size. */
export const MAX_DISPLAY_SIDE = 1024;

export function displaySize(naturalW: number, naturalH: number, maxSide = MAX_DISPLAY_SIDE): { w: number; h: number } {
  const s = Math.min(1, maxSide / Math.max(naturalW, naturalH));
  return { w: Math.max(1, Math.round(naturalW * s)), h: Math.max(1, Math.round(naturalH * s)) };
}

const placedCache = new WeakMap<DecodedMap, { w: number; h: number; data: Float32Array }>();

/** The map's region on a W×H rendering of its image (undefined: the whole image). */
function regionOn(map: DecodedMap, W: number, H: number): Region | undefined {
  const p = map.placement;
  return p && scaleRegion(p.region, p.imageWidth, p.imageHeight, W, H);
}

/**
 * The normalized map at w x h over the image (memoized for the last size per map): NaN where the model's
 * input does not reach.
 */
export function resizedNormalized(map: DecodedMap, w: number, h: number): Float32Array {
  const hit = placedCache.get(map);
  if (hit && hit.w === w && hit.h === h) return hit.data;
  const data = placeMap(map.normalized, map.width, map.height, regionOn(map, w, h), w, h, w, h);
  placedCache.set(map, { w, h, data });
  return data;
}

/** Colours the map at w x h into RGBA; transparent (no heat) outside the model's input. */
export function heatPixels(map: DecodedMap, w: number, h: number, colormap: ColormapName): Uint8ClampedArray {
  return colorize(resizedNormalized(map, w, h), colormap, { nanTransparent: true });
}

/** Draws the coloured map into `canvas` at the display size of an image of natural size W x H. */
export function paintHeatmap(canvas: HTMLCanvasElement, map: DecodedMap, naturalW: number, naturalH: number, colormap: ColormapName): void {
  const { w, h } = displaySize(naturalW, naturalH);
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const pixels = heatPixels(map, w, h, colormap);
  ctx.putImageData(new ImageData(pixels, w, h), 0, 0);
}

/**
 * The raw map value at original-image pixel (x, y) of a W x H image: the placed map's value there (same
 * half-pixel-centre convention as `bilinearResize`), in the map's raw units; NaN outside the model's input.
 */
export function valueAt(map: DecodedMap, naturalW: number, naturalH: number, x: number, y: number): number {
  return regionValueAt(map.raw, map.width, map.height, regionOn(map, naturalW, naturalH), naturalW, naturalH, x, y);
}

/**
 * The model's input region over a picture of the image: a box placed in percentages of its container (so it zooms
 * and pans with the picture), outlined, with everything outside it dimmed. None when the input covers the whole image.
 */
export function regionMark(map: DecodedMap | null | undefined): HTMLElement | null {
  const p = map?.placement;
  if (!p) return null;
  const box = regionOnDisplay(p.region, p.imageWidth, p.imageHeight, 100, 100);
  const mark = h('div', { class: 'map-region', 'data-testid': 'map-region', 'data-covers': p.region.covers, title: `Map covers: ${p.region.text}` });
  Object.assign(mark.style, { left: `${box.left}%`, top: `${box.top}%`, width: `${box.width}%`, height: `${box.height}%` });
  return mark;
}
