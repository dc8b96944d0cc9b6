/**
 * The compare view's grid: one tile per class (image + heatmap, titled with label and probability),
 * plus the contrast tile. Maps are normalized together (shared scale) or each on its own.
 */
import type { ComparisonMsg, PredictionMsg } from '../src/shared/protocol';
import { normalizeShared } from '../src/shared/normalize';
import type { ColormapName } from '../src/shared/colormaps';
import { decodeMap, type DecodedMap } from './mapStore';
import { displaySize, heatPixels } from './heatmap';
import { formatPercent, h, optionLabel, replaceChildren } from './dom';

/** Longest side a tile's heatmap is drawn at (tiles are small; CSS scales them). */
const TILE_SIDE = 320;

export interface TileOptions {
  sharedScale: boolean;
  colormap: ColormapName;
  opacity: number;
  /** The explain panel's class: its tile is marked. */
  currentClass?: number;
}

export interface DecodedComparison {
  classes: number[];
  predictions: PredictionMsg[];
  maps: DecodedMap[];
  contrast?: { classes: [number, number]; map: DecodedMap };
}

export function decodeComparison(result: ComparisonMsg): DecodedComparison {
  return {
    classes: result.predictions.map((p) => p.index),
    predictions: result.predictions,
    maps: result.maps.map(decodeMap),
    contrast: result.contrast && { classes: result.contrast.classes, map: decodeMap(result.contrast.map) },
  };
}

/** The maps as drawn: normalized together when the scale is shared, else each by its own range. */
export function scaledMaps(maps: DecodedMap[], shared: boolean): { maps: DecodedMap[]; range?: { min: number; max: number } } {
  if (!shared) return { maps };
  const { normalized, stats } = normalizeShared(maps.map((m) => m.raw));
  return { maps: maps.map((m, i) => ({ ...m, normalized: normalized[i] })), range: stats };
}

export class TileGrid {
  readonly element = h('div', { class: 'compare-grid', 'data-testid': 'compare-grid', role: 'list' });
  private image?: HTMLImageElement;

  /** Called with the class of a clicked tile. */
  onSelect: (classIndex: number) => void = () => {};

  setImage(image: HTMLImageElement): void {
    this.image = image;
  }

  clear(): void {
    replaceChildren(this.element);
  }

  /** Draws the tiles; returns how many were drawn with a heatmap. */
  render(c: DecodedComparison, labels: string[], opts: TileOptions): number {
    const img = this.image;
    if (!img || !img.naturalWidth) return 0;
    const { maps } = scaledMaps(c.maps, opts.sharedScale);
    const tiles = maps.map((map, i) => {
      const p = c.predictions[i];
      const tile = this.tile(map, img, opts, optionLabel(p.index, labels[p.index] ?? ''), formatPercent(p.probability), 'compare-tile');
      tile.dataset.classIndex = String(p.index);
      tile.title = `Show class ${optionLabel(p.index, labels[p.index] ?? '')} in the explain panel`;
      tile.setAttribute('aria-pressed', String(p.index === opts.currentClass));
      tile.addEventListener('click', () => this.onSelect(p.index));
      return tile;
    });
    if (c.contrast) {
      const [a, b] = c.contrast.classes;
      const name = (k: number) => labels[k] ?? `class ${k}`;
      const signed = c.contrast.map.signed;
      const tile = this.tile(c.contrast.map, img, opts, `${name(a)} vs ${name(b)}`, signed ? 'signed, own scale' : 'own scale', 'compare-contrast');
      tile.title = `Evidence for ${name(a)} over ${name(b)}: the map of the logit difference S_${a} − S_${b}` +
        (signed ? ' (signed: above 0 a brighter pixel favours the first class)' : '');
      tile.classList.add('contrast');
      tile.addEventListener('click', () => this.onSelect(a));
      tiles.push(tile);
    }
    // Buttons keep their role (and aria-pressed) inside list items.
    replaceChildren(this.element, ...tiles.map((t) => h('div', { role: 'listitem', class: 'compare-cell' }, t)));
    return tiles.slice(0, maps.length).filter((t) => t.dataset.drawn === 'true').length;
  }

  private tile(map: DecodedMap, img: HTMLImageElement, opts: TileOptions, title: string, detail: string, testId: string): HTMLButtonElement {
    const { w, h: hh } = displaySize(img.naturalWidth, img.naturalHeight, TILE_SIDE);
    const canvas = h('canvas', { class: 'tile-heat', width: w, height: hh, 'data-testid': `${testId}-canvas` });
    canvas.style.opacity = String(opts.opacity);
    const ctx = canvas.getContext('2d');
    let drawn = false;
    if (ctx) {
      ctx.putImageData(new ImageData(heatPixels(map, w, hh, opts.colormap), w, hh), 0, 0);
      drawn = true;
    }
    const picture = h('img', { class: 'tile-image', src: img.src, alt: '' });
    const stage = h('div', { class: 'tile-stage' }, picture, canvas);
    stage.style.aspectRatio = `${img.naturalWidth} / ${img.naturalHeight}`;
    return h('button', { type: 'button', class: 'compare-tile', 'data-testid': testId, 'data-drawn': String(drawn),
      'data-max': map.max, 'data-min': map.min },
    h('span', { class: 'tile-title' }, h('span', { class: 'tile-label' }, title), h('span', { class: 'tile-detail' }, detail)),
    stage);
  }
}
