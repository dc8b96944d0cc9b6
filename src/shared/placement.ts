/**
 * Where a map lies on the image. A model's input may cover only part of the image (a centre crop) or more than
 * the image (a letterbox): the map covers exactly that rectangle, the input region, given in the image's own
 * pixels (edges at integers). These functions draw a map of any size (a 224×224 saliency, a 7×7 Grad-CAM) onto
 * any rendering of the image, bilinear with half-pixel centres inside the region and NaN (no attribution) outside.
 * Without a region, or with the whole image as the region, they give exactly `bilinearResize`.
 *
 * Pure TypeScript: used by the webview (browser), the host and the CLI (node).
 */
import { bilinearResize } from './resize';

/** A rectangle of the image, in its own pixels: x, y of the top-left corner, edges at integers. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The sentence the hover readout gives outside the region. */
export const OUTSIDE_REGION_TEXT = "outside the model's input (no attribution)";

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

function checkRegion(r: Region): void {
  if (![r.x, r.y, r.width, r.height].every(Number.isFinite) || !(r.width > 0) || !(r.height > 0)) {
    throw new RangeError(`the input region must have finite coordinates and a positive size, got ${r.x},${r.y} ${r.width}×${r.height}`);
  }
}

/** Whether the region is absent or is exactly the whole image (then maps are simply resized onto it). */
export function coversWholeImage(region: Region | undefined, imageW: number, imageH: number): boolean {
  return !region || (region.x === 0 && region.y === 0 && region.width === imageW && region.height === imageH);
}

/** The region on a W×H image, given on an imageW×imageH one (the same picture at another size, e.g. a display copy). */
export function scaleRegion(region: Region, imageW: number, imageH: number, W: number, H: number): Region {
  if (W === imageW && H === imageH) return region;
  const sx = W / imageW;
  const sy = H / imageH;
  return { x: region.x * sx, y: region.y * sy, width: region.width * sx, height: region.height * sy };
}

interface Taps {
  i0: Int32Array;
  i1: Int32Array;
  /** Weight of i1; i0 gets 1 − w. */
  w: Float32Array;
  /** 1 where the output pixel's centre lies inside the region. */
  inside: Uint8Array;
}

/**
 * Along one axis: output pixel i's centre lies at image coordinate X = (i+0.5)·imageSize/outSize; inside
 * [start, start+length) it samples the map at u = (X − start)·mapSize/length − 0.5 (half-pixel centres), clamped
 * to the map's edge.
 */
function regionTaps(mapSize: number, start: number, length: number, imageSize: number, outSize: number): Taps {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w = new Float32Array(outSize);
  const inside = new Uint8Array(outSize);
  const last = mapSize - 1;
  const end = start + length;
  for (let i = 0; i < outSize; i++) {
    const X = ((i + 0.5) * imageSize) / outSize;
    if (X < start || X >= end) continue;
    inside[i] = 1;
    let u = ((X - start) * mapSize) / length - 0.5;
    if (u < 0) u = 0;
    if (u > last) u = last;
    const lo = Math.floor(u);
    i0[i] = lo;
    i1[i] = lo < last ? lo + 1 : last;
    w[i] = u - lo;
  }
  return { i0, i1, w, inside };
}

/**
 * The map sampled at every pixel of an outW×outH rendering of the imageW×imageH image: bilinear with half-pixel
 * centres inside `region`, NaN outside it. `region` undefined (or the whole image) gives `bilinearResize` exactly.
 */
export function placeMap(map: Float32Array, mapW: number, mapH: number, region: Region | undefined,
  imageW: number, imageH: number, outW: number, outH: number): Float32Array {
  if (coversWholeImage(region, imageW, imageH)) return bilinearResize(map, mapW, mapH, outW, outH);
  for (const [name, v] of [['mapW', mapW], ['mapH', mapH], ['imageW', imageW], ['imageH', imageH], ['outW', outW], ['outH', outH]] as const) checkSize(name, v);
  if (map.length !== mapW * mapH) throw new RangeError(`the map has ${map.length} values, expected ${mapW}×${mapH} = ${mapW * mapH}`);
  const r = region as Region;
  checkRegion(r);
  const xs = regionTaps(mapW, r.x, r.width, imageW, outW);
  const ys = regionTaps(mapH, r.y, r.height, imageH, outH);
  const out = new Float32Array(outW * outH).fill(NaN);
  for (let y = 0; y < outH; y++) {
    if (!ys.inside[y]) continue;
    const row0 = ys.i0[y] * mapW;
    const row1 = ys.i1[y] * mapW;
    const wy = ys.w[y];
    const base = y * outW;
    for (let x = 0; x < outW; x++) {
      if (!xs.inside[x]) continue;
      const x0 = xs.i0[x];
      const x1 = xs.i1[x];
      const wx = xs.w[x];
      // The same arithmetic as bilinearResize, so a region equal to the image would give the same numbers.
      const top = map[row0 + x0] + (map[row0 + x1] - map[row0 + x0]) * wx;
      const bottom = map[row1 + x0] + (map[row1 + x1] - map[row1 + x0]) * wx;
      out[base + x] = top + (bottom - top) * wy;
    }
  }
  return out;
}

/**
 * The map's value at image pixel (x, y) of the imageW×imageH image (its centre, x+0.5, y+0.5), as `placeMap` at
 * the image's own size gives it; NaN outside the region. Non-finite map values count as 0.
 */
export function regionValueAt(map: Float32Array, mapW: number, mapH: number, region: Region | undefined,
  imageW: number, imageH: number, x: number, y: number): number {
  let u: number;
  let v: number;
  if (coversWholeImage(region, imageW, imageH)) {
    // bilinearResize's own expression, so the readout and the drawn map agree to the last bit.
    u = (x + 0.5) * (mapW / imageW) - 0.5;
    v = (y + 0.5) * (mapH / imageH) - 0.5;
  } else {
    const r = region as Region;
    const X = x + 0.5;
    const Y = y + 0.5;
    if (X < r.x || X >= r.x + r.width || Y < r.y || Y >= r.y + r.height) return NaN;
    u = ((X - r.x) * mapW) / r.width - 0.5;
    v = ((Y - r.y) * mapH) / r.height - 0.5;
  }
  u = clamp(u, 0, mapW - 1);
  v = clamp(v, 0, mapH - 1);
  const x0 = Math.floor(u);
  const y0 = Math.floor(v);
  const x1 = Math.min(x0 + 1, mapW - 1);
  const y1 = Math.min(y0 + 1, mapH - 1);
  const wx = u - x0;
  const wy = v - y0;
  const at = (xx: number, yy: number) => {
    const value = map[yy * mapW + xx];
    return Number.isFinite(value) ? value : 0;
  };
  const top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * wx;
  const bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * wx;
  return top + (bottom - top) * wy;
}

/** The region's box on an outW×outH rendering of the imageW×imageH image, in that rendering's pixels (may reach outside it). */
export function regionOnDisplay(region: Region, imageW: number, imageH: number, outW: number, outH: number): { left: number; top: number; width: number; height: number } {
  const sx = outW / imageW;
  const sy = outH / imageH;
  return { left: region.x * sx, top: region.y * sy, width: region.width * sx, height: region.height * sy };
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
