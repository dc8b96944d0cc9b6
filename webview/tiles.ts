/**
 * Map tiles, as the compare and methods views draw them: the image with one heatmap over it, a title
 * and a detail, and what a view adds below (a colour bar, figures, an error). Also the scale the maps of
 * a grid are drawn on: each map on its own (as decoded), or one range shared by all.
 */
import type { ColormapName } from '../src/shared/colormaps';
import type { DecodedMap } from './mapStore';
import { displaySize, heatPixels, regionMark } from './heatmap';
import { h, type Child } from './dom';

/** Longest side a tile's heatmap is drawn at: tiles grow with the view (about a quarter of it), CSS scales them. */
const TILE_SIDE = 512;

/** `raw` mapped linearly so that min → 0 and max → 1 (clamped; non-finite values count as 0). */
function rescale(raw: Float32Array, min: number, max: number): Float32Array {
  const out = new Float32Array(raw.length);
  const range = max - min;
  if (!(range > 0) || !Number.isFinite(range)) return out;
  // Multiplied by the inverse, as minMaxNormalize does: a map spanning the shared range draws exactly as on its own.
  const inv = 1 / range;
  for (let i = 0; i < raw.length; i++) {
    const t = ((Number.isFinite(raw[i]) ? raw[i] : 0) - min) * inv;
    out[i] = t <= 0 ? 0 : t >= 1 ? 1 : t;
  }
  return out;
}

/**
 * The maps as drawn. Per map: as decoded (each spans its own range; a signed map is centred on 0).
 * Shared: one range over all of them, so intensities compare — for signed maps ±the largest |value|,
 * keeping 0 at the colormap's middle; else the lowest minimum to the highest maximum.
 */
export function scaledMaps(maps: DecodedMap[], shared: boolean): { maps: DecodedMap[]; range?: { min: number; max: number } } {
  if (!shared || maps.length === 0) return { maps };
  let range: { min: number; max: number };
  if (maps.some((m) => m.signed)) {
    const bound = Math.max(...maps.map((m) => Math.max(Math.abs(m.min), Math.abs(m.max))));
    range = { min: -bound, max: bound };
  } else {
    range = { min: Math.min(...maps.map((m) => m.min)), max: Math.max(...maps.map((m) => m.max)) };
  }
  return { maps: maps.map((m) => ({ ...m, normalized: rescale(m.raw, range.min, range.max), min: range.min, max: range.max })), range };
}

export interface TileContent {
  /** data-testid of the tile; its canvas gets `${testId}-canvas`. */
  testId: string;
  title: string;
  detail: string;
  image: HTMLImageElement;
  /** The map to draw over the image; without one the image shows alone (with `cover` over it). */
  map?: DecodedMap;
  colormap: ColormapName;
  opacity: number;
  /** Shown over the image when there is no map (a progress bar, an error). */
  cover?: Child;
  /** Under the title (a family, a layer). */
  subtitle?: Child;
  /** Under the image (a colour bar, figures, notes). */
  below?: Child[];
}

/**
 * One tile as a button (clicking it shows the map in the explain panel). `data-drawn` says whether a
 * heatmap was painted; `data-min`/`data-max` are the ends of the scale it was drawn on.
 */
export function mapTile(c: TileContent): HTMLButtonElement {
  const img = c.image;
  const picture = h('img', { class: 'tile-image', src: img.src, alt: '' });
  const stage = h('div', { class: 'tile-stage' }, picture);
  stage.style.aspectRatio = `${img.naturalWidth || 1} / ${img.naturalHeight || 1}`;
  let drawn = false;
  if (c.map && img.naturalWidth) {
    const { w, h: hh } = displaySize(img.naturalWidth, img.naturalHeight, TILE_SIDE);
    const canvas = h('canvas', { class: 'tile-heat', width: w, height: hh, 'data-testid': `${c.testId}-canvas` });
    canvas.style.opacity = String(c.opacity);
    const ctx = canvas.getContext('2d');
    if (ctx) {
      ctx.putImageData(new ImageData(heatPixels(c.map, w, hh, c.colormap), w, hh), 0, 0);
      drawn = true;
    }
    // Over the heat (which its CSS opacity fades), so the dimming and the outline keep their strength.
    stage.append(canvas);
    const mark = regionMark(c.map);
    if (mark) stage.append(mark);
  } else if (c.cover) {
    stage.append(h('div', { class: 'tile-cover' }, c.cover));
  }
  return h('button', { type: 'button', class: 'compare-tile', 'data-testid': c.testId, 'data-drawn': String(drawn),
    'data-min': c.map?.min, 'data-max': c.map?.max },
  h('span', { class: 'tile-title' }, h('span', { class: 'tile-label' }, c.title), h('span', { class: 'tile-detail' }, c.detail)),
  c.subtitle ? h('span', { class: 'tile-subtitle' }, c.subtitle) : null,
  stage,
  ...(c.below ?? []));
}
