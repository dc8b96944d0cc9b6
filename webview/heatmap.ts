/**
 * Turning a decoded map into pixels: bilinear resize to the image's (display) size, colouring with a
 * colormap, sampling a value under the pointer. Resized maps are memoized per size so that a colormap
 * change only re-colours (a lookup per pixel).
 */
import { bilinearResize } from '../src/shared/resize';
import { colorize, type ColormapName } from '../src/shared/colormaps';
import type { DecodedMap } from './mapStore';

/** Longest side of the on-screen heatmap canvas; export always uses the natural size. */
export const MAX_DISPLAY_SIDE = 1024;

export function displaySize(naturalW: number, naturalH: number, maxSide = MAX_DISPLAY_SIDE): { w: number; h: number } {
  const s = Math.min(1, maxSide / Math.max(naturalW, naturalH));
  return { w: Math.max(1, Math.round(naturalW * s)), h: Math.max(1, Math.round(naturalH * s)) };
}

const resizedCache = new WeakMap<DecodedMap, { w: number; h: number; data: Float32Array }>();

/** The normalized map resized to w x h (memoized for the last size per map). */
export function resizedNormalized(map: DecodedMap, w: number, h: number): Float32Array {
  const hit = resizedCache.get(map);
  if (hit && hit.w === w && hit.h === h) return hit.data;
  const data = bilinearResize(map.normalized, map.width, map.height, w, h);
  resizedCache.set(map, { w, h, data });
  return data;
}

/** Colours the map at w x h into RGBA. */
export function heatPixels(map: DecodedMap, w: number, h: number, colormap: ColormapName): Uint8ClampedArray {
  return colorize(resizedNormalized(map, w, h), colormap);
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
 * The raw map value at original-image pixel (x, y) of a W x H image: the bilinear resize's value
 * there (same half-pixel-centre convention as `bilinearResize`), in the map's raw units.
 */
export function valueAt(map: DecodedMap, naturalW: number, naturalH: number, x: number, y: number): number {
  const sx = clamp((x + 0.5) * (map.width / naturalW) - 0.5, 0, map.width - 1);
  const sy = clamp((y + 0.5) * (map.height / naturalH) - 0.5, 0, map.height - 1);
  const x0 = Math.floor(sx);
  const y0 = Math.floor(sy);
  const x1 = Math.min(x0 + 1, map.width - 1);
  const y1 = Math.min(y0 + 1, map.height - 1);
  const wx = sx - x0;
  const wy = sy - y0;
  const r = map.raw;
  const at = (xx: number, yy: number) => {
    const v = r[yy * map.width + xx];
    return Number.isFinite(v) ? v : 0;
  };
  const top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * wx;
  const bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * wx;
  return top + (bottom - top) * wy;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
