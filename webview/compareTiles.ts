/**
 * The compare view's grid: one tile per class (image + heatmap, titled with label and probability),
 * plus the contrast tile. Maps are drawn on a shared scale or each on its own (tiles.ts).
 */
import type { ComparisonMsg, PredictionMsg } from '../src/shared/protocol';
import { isSigned, methodSpec, type MethodOptions } from '../src/shared/methods';
import type { ColormapName } from '../src/shared/colormaps';
import { decodeMap, FULL_RANGE, placementOf, type DecodedMap } from './mapStore';
import { formatPercent, h, optionLabel, replaceChildren } from './dom';
import { mapTile, scaledMaps } from './tiles';

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

/** @param options the method's options as requested (they say whether its maps are signed, where the maps do not). */
export function decodeComparison(result: ComparisonMsg, options: MethodOptions): DecodedComparison {
  const spec = methodSpec(result.method);
  // The engine keeps a contrast's sign whenever the method can (|∇(S_a − S_b)| would read the same both ways).
  const contrastSigned = spec.signed === 'option' || spec.signed === true;
  const placement = placementOf(result);
  return {
    classes: result.predictions.map((p) => p.index),
    predictions: result.predictions,
    maps: result.maps.map((m) => decodeMap(m, isSigned(spec, options), FULL_RANGE, placement)),
    contrast: result.contrast && { classes: result.contrast.classes, map: decodeMap(result.contrast.map, contrastSigned, FULL_RANGE, placement) },
  };
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
    const draw = { image: img, colormap: opts.colormap, opacity: opts.opacity };
    const tiles = maps.map((map, i) => {
      const p = c.predictions[i];
      const name = optionLabel(p.index, labels[p.index] ?? '');
      const tile = mapTile({ ...draw, testId: 'compare-tile', map, title: name, detail: formatPercent(p.probability) });
      tile.dataset.classIndex = String(p.index);
      tile.title = `Show class ${name} in the explain panel`;
      tile.setAttribute('aria-pressed', String(p.index === opts.currentClass));
      tile.addEventListener('click', () => this.onSelect(p.index));
      return tile;
    });
    if (c.contrast) {
      const [a, b] = c.contrast.classes;
      const name = (k: number) => labels[k] ?? `class ${k}`;
      const signed = c.contrast.map.signed;
      const tile = mapTile({ ...draw, testId: 'compare-contrast', map: c.contrast.map, title: `${name(a)} vs ${name(b)}`,
        detail: signed ? 'signed, own scale' : 'own scale' });
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
}
