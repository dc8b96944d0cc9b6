/**
 * The methods view's grid: one tile per chosen method, in registry order. A tile shows the method's map
 * on its own scale (a signed map centred on 0) with its colour bar, the method's label, family and time,
 * what it measured (Integrated Gradients' completeness residual), or where it stands: waiting, computing
 * (with progress), cancelled, or its error in one sentence. Tiles are rebuilt only when what they show changes.
 */
import type { EngineProgressMsg, MethodTileStatus } from '../src/shared/protocol';
import { FAMILIES, methodSpec, type MethodName } from '../src/shared/methods';
import type { ColormapName } from '../src/shared/colormaps';
import { Colorbar, statsNote } from './colorbar';
import { h, replaceChildren } from './dom';
import { mapTile } from './tiles';
import { layerLabel } from '../src/shared/layerNames';
import type { MethodResult } from './methodResults';

export interface MethodTileView {
  method: MethodName;
  status: MethodTileStatus;
  /** Identifies the result (or the computation) the tile stands for. */
  key: string;
  result?: MethodResult;
  error?: string;
  progress?: EngineProgressMsg;
}

export interface GridLook {
  image: HTMLImageElement;
  colormap: ColormapName;
  opacity: number;
  /** The model's spatial layers: a CAM's layer is named as the layer picker names it. */
  spatialLayers: readonly string[];
}

/** "0.4 ms", "12 ms", "3.2 s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '';
  if (ms < 10) return `${Number(ms.toPrecision(2))} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toPrecision(3))} s`;
}

/** The request's time: the forward pass it needed (and shared gradients) plus the method; the total when the engine says it. */
export function requestTime(r: MethodResult): number {
  const t = r.timings;
  return t.total ?? (t.pass ?? t.forward ?? 0) + (t[r.method] ?? 0);
}

const familyLabel = (method: MethodName) => FAMILIES.find((f) => f.name === methodSpec(method).family)?.label ?? '';

const STATUS_TEXT: Record<Exclude<MethodTileStatus, 'drawn' | 'error'>, string> = {
  queued: 'Waiting…',
  computing: 'Computing…',
  cancelled: 'Cancelled: not computed',
};

export class MethodGrid {
  readonly element = h('div', { class: 'compare-grid methods-grid', 'data-testid': 'methods-grid', role: 'list' });
  private readonly cells = new Map<MethodName, { signature: string; cell: HTMLElement; progress?: HTMLProgressElement; text?: HTMLElement }>();

  /** Called with a drawn tile's method when it is clicked. */
  onSelect: (method: MethodName, result: MethodResult) => void = () => {};

  clear(): void {
    this.cells.clear();
    replaceChildren(this.element);
  }

  render(views: MethodTileView[], look: GridLook): void {
    const wanted = new Set(views.map((v) => v.method));
    for (const m of [...this.cells.keys()]) if (!wanted.has(m)) this.cells.delete(m);
    const cells = views.map((v) => {
      const signature = [v.status, v.key, v.error ?? '', look.colormap, look.opacity, look.image.src.length, look.image.naturalWidth].join('|');
      const old = this.cells.get(v.method);
      if (old && old.signature === signature) return old.cell;
      const made = this.tile(v, look);
      this.cells.set(v.method, { signature, ...made });
      if (v.progress) this.showProgress(v.method, v.progress);
      return made.cell;
    });
    replaceChildren(this.element, ...cells);
  }

  /** Moves a computing tile's progress bar (no rebuild). */
  showProgress(method: MethodName, p: EngineProgressMsg): void {
    const c = this.cells.get(method);
    if (!c?.progress || !c.text) return;
    c.progress.max = Math.max(1, p.total);
    c.progress.value = Math.min(p.done, p.total);
    c.text.textContent = `${p.done.toLocaleString('en-US')} of ${p.total.toLocaleString('en-US')} model inputs`;
  }

  private tile(v: MethodTileView, look: GridLook): { cell: HTMLElement; progress?: HTMLProgressElement; text?: HTMLElement } {
    const spec = methodSpec(v.method);
    const r = v.result;
    const layer = r?.map.layer ? ` · ${layerLabel(r.map.layer, look.spatialLayers)}` : '';
    let progress: HTMLProgressElement | undefined;
    let text: HTMLElement | undefined;
    let cover: HTMLElement | undefined;
    if (v.status === 'error') {
      cover = h('span', { class: 'tile-error', 'data-testid': 'tile-error' }, v.error ?? 'Failed.');
    } else if (v.status !== 'drawn') {
      text = h('span', { class: 'tile-progress-text' });
      if (v.status === 'computing') progress = h('progress', { class: 'tile-progress', 'data-testid': 'tile-progress' });
      cover = h('span', { class: 'tile-status' }, STATUS_TEXT[v.status], progress, text);
    }
    const below: HTMLElement[] = [];
    if (r) {
      const bar = new Colorbar();
      bar.update([{ label: r.map.signed ? 'signed' : '', min: r.map.min, max: r.map.max, signed: r.map.signed, note: statsNote(r.map.stats), clip: r.map.display.clip }], look.colormap);
      below.push(bar.element);
      for (const note of r.notes) below.push(h('span', { class: 'tile-note' }, note));
    }
    const tile = mapTile({
      testId: 'method-tile',
      title: spec.label,
      detail: r ? formatDuration(requestTime(r)) : '',
      subtitle: `${familyLabel(v.method)}${layer}`,
      image: look.image,
      map: r?.map,
      colormap: look.colormap,
      opacity: look.opacity,
      cover,
      below,
    });
    tile.classList.add('method-tile');
    tile.dataset.method = v.method;
    tile.dataset.status = v.status;
    if (r) {
      const t = r.timings;
      const pass = t.pass !== undefined ? `forward + gradients ${formatDuration(t.pass)}` : `forward ${formatDuration(t.forward ?? 0)}`;
      tile.title = `${spec.label}: ${spec.shows}.\n${pass}, ${spec.label} ${formatDuration(t[v.method] ?? 0)}.\nShow it in the explain panel.`;
      tile.addEventListener('click', () => this.onSelect(v.method, r));
    } else {
      tile.title = `${spec.label}: ${spec.shows}.`;
      tile.setAttribute('aria-disabled', 'true');
    }
    return { cell: h('div', { role: 'listitem', class: 'compare-cell', 'data-method': v.method }, tile), progress, text };
  }
}
