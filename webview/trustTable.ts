/**
 * The trust tab's table: one row per shown method with a thumbnail of its map over the image, its label and family,
 * the time its map took, and one column per trust number (SCALARS: label, "lower/higher is better" under it, how to
 * read it as its tooltip). A cell shows its number (3 decimals), "…" while it is being measured, "–" when its
 * measure is not ticked, "n/a" with the measure's note when it ran but gives no number, or a mark with the
 * measure's sentence. Headers sort (again: reversed; rows without a number last; arrows show the sort only);
 * clicking a row, or Enter on it, selects it.
 */
import type { TrustRowMsg } from '../src/shared/protocol';
import {
  formatScore, INSENSITIVE_NOTE, MEASURE_SPECS, MEASURES, SCALARS, scalarHint, type Measure, type MethodEvaluation, type ScalarSpec,
} from '../src/shared/measures';
import { FAMILIES, METHOD_NAMES, methodSpec, type MethodName } from '../src/shared/methods';
import type { ColormapName } from '../src/shared/colormaps';
import { displaySize, heatPixels, regionMark } from './heatmap';
import { h, replaceChildren } from './dom';
import { formatDuration, requestTime } from './methodTiles';
import type { MethodResult } from './methodResults';
import { hasMeasure, SCALAR_CURVES } from './trustResults';
import { lineStyle } from './trustCurves';

export type TrustRowStatus = TrustRowMsg['status'];

export interface TrustRowView {
  method: MethodName;
  status: TrustRowStatus;
  /** The map's result key (a thumbnail is redrawn only when it changes). */
  key: string;
  /** The method's map: the thumbnail and the time. */
  result?: MethodResult;
  evaluation?: MethodEvaluation;
  /** The ticked measures. */
  ticked: readonly Measure[];
  /** Why the row has no numbers at all: its map or its whole request failed. */
  error?: string;
  /** Measures whose request failed as a whole (Retry failed asks them again; a measure's own sentence is final). */
  retriable?: readonly Measure[];
  /** Per measure, why it has no number. */
  errors: Partial<Record<Measure, string>>;
  /** What the row is doing, when it is waiting or busy ("Stability (2 of 3 measures)"). */
  activity?: string;
  /** The index of its curves' colour and mark (lineStyle; the swatch next to its label). */
  color: number;
}

export interface TableLook {
  image: HTMLImageElement;
  colormap: ColormapName;
  opacity: number;
}

/** A column sort: a SCALARS name and a direction. */
export interface TrustSort {
  by: ScalarSpec['name'];
  dir: 'asc' | 'desc';
}

/** The sort as `renderedTrust` reports it: "insertionAuc:desc". */
export const sortName = (s: TrustSort | undefined): string | undefined => (s ? `${s.by}:${s.dir}` : undefined);

/** The row's numbers by SCALARS name, null where it has none. */
export function rowValues(e: MethodEvaluation | undefined): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const s of SCALARS) {
    const v = e ? s.value(e) : undefined;
    out[s.name] = typeof v === 'number' && Number.isFinite(v) ? v : null;
  }
  return out;
}

/** `rows` in registry order, or by one column (rows without its number last, whichever the direction). */
export function sortRows<T extends { method: MethodName; evaluation?: MethodEvaluation }>(rows: T[], sort: TrustSort | undefined): T[] {
  const registry = (r: T) => METHOD_NAMES.indexOf(r.method);
  const byRegistry = [...rows].sort((a, b) => registry(a) - registry(b));
  if (!sort) return byRegistry;
  const sign = sort.dir === 'asc' ? 1 : -1;
  const value = (r: T) => rowValues(r.evaluation)[sort.by];
  return byRegistry.sort((a, b) => {
    const va = value(a);
    const vb = value(b);
    if (va === null || vb === null) return va === null ? (vb === null ? 0 : 1) : -1;
    return (va - vb) * sign;
  });
}

/** Shown when no method is ticked (the table's empty row and the view's status line). */
export const NO_METHODS_NOTE = 'Tick the methods to measure.';

/** The view's button that asks again what failed, and how a failed row or cell says so. */
export const RETRY_LABEL = 'Retry failed';
export const RETRY_HINT = `${RETRY_LABEL} asks for it again.`;

/** A note of src/shared/measures.ts (lower case, no final period) as a sentence of a tooltip. */
const sentence = (note: string) => `${note.charAt(0).toUpperCase()}${note.slice(1)}`;

/** Sentences joined as a tooltip: each ends with one period. */
const sentences = (...parts: (string | undefined)[]) =>
  parts.filter((p): p is string => !!p).map((p) => sentence(p.replace(/\.$/, ''))).join('. ') + '.';

/** What a measure that ran says of a number it could not give (randomization: a constant map). */
function noNumberNote(e: MethodEvaluation | undefined, s: ScalarSpec): string {
  return (s.measure === 'randomization' ? e?.randomization?.note : undefined) ?? `${MEASURE_SPECS[s.measure].label} gave no number for this map`;
}

/** The first click on a column puts its best rows first. */
const bestFirst = (s: ScalarSpec): TrustSort['dir'] => (s.better === 'higher' ? 'desc' : 'asc');

const familyLabel = (method: MethodName) => FAMILIES.find((f) => f.name === methodSpec(method).family)?.label ?? '';

/** Longest side of a row's thumbnail canvas (drawn smaller, in THUMB_BOX). */
const THUMB_SIDE = 96;

/** The box a thumbnail fits in, CSS pixels: a portrait image gets narrower, a wide one shorter, never stretched. */
const THUMB_BOX = { width: 56, height: 72 };

export class TrustTable {
  readonly element: HTMLElement;
  private readonly head = h('tr');
  private readonly tbody = h('tbody');
  private readonly notes = h('ul', { class: 'trust-notes', 'data-testid': 'trust-notes' });
  private readonly sortButtons = new Map<string, HTMLButtonElement>();
  private readonly thumbs = new Map<MethodName, { signature: string; element: HTMLElement }>();
  private sort?: TrustSort;
  private selected?: MethodName;

  /** A row was clicked (or Enter pressed on it). */
  onSelect: (method: MethodName) => void = () => {};
  /** The sort changed (the view keeps it and draws again). */
  onSort: (sort: TrustSort | undefined) => void = () => {};

  constructor() {
    const methodHeader = this.sortHeader('method', 'Method', 'Registry order');
    this.head.append(h('th', { scope: 'col', class: 'trust-thumb-col' }, h('span', { class: 'trust-sr-only' }, 'Map')),
      methodHeader, h('th', { scope: 'col', title: 'The time the map took' }, 'Time'),
      ...SCALARS.map((s) => this.sortHeader(s.name, s.label, scalarHint(s), `${s.better} is better`)));
    this.element = h('div', { class: 'trust-table-wrap' },
      h('div', { class: 'trust-table-scroll', 'data-testid': 'trust-table-scroll' },
        h('table', { class: 'trust-table', 'data-testid': 'trust-table' }, h('thead', {}, this.head), this.tbody)),
      this.notes);
  }

  /** Sorts by `sort` from the next render on (undefined: registry order) and marks the headers. */
  setSort(sort: TrustSort | undefined): void {
    this.sort = sort;
    for (const [name, button] of this.sortButtons) {
      const th = button.parentElement!;
      const dir = sort ? (sort.by === name ? sort.dir : undefined) : name === 'method' ? 'asc' : undefined;
      th.setAttribute('aria-sort', dir === 'asc' ? 'ascending' : dir === 'desc' ? 'descending' : 'none');
    }
  }

  /** Draws the rows (sorted) and returns them in the order shown. */
  render(rows: TrustRowView[], selected: MethodName | undefined, look: TableLook): TrustRowView[] {
    this.selected = selected;
    const focused = (document.activeElement as HTMLElement | null)?.closest?.('tr[data-method]')?.getAttribute('data-method');
    const ordered = sortRows(rows, this.sort);
    const wanted = new Set(rows.map((r) => r.method));
    for (const m of [...this.thumbs.keys()]) if (!wanted.has(m)) this.thumbs.delete(m);
    replaceChildren(this.tbody, ...ordered.map((r) => this.row(r, look)));
    if (ordered.length === 0) {
      this.tbody.append(h('tr', {}, h('td', { colspan: 3 + SCALARS.length, class: 'trust-empty' }, NO_METHODS_NOTE)));
    }
    // Rows are rebuilt on every change: keep the keyboard where it was.
    if (focused) this.tbody.querySelector<HTMLElement>(`tr[data-method="${CSS.escape(focused)}"]`)?.focus();
    this.renderNotes(ordered);
    return ordered;
  }

  /** Moves a row's activity line (progress) without drawing the table again. */
  showActivity(method: MethodName, text: string): void {
    const line = this.tbody.querySelector(`tr[data-method="${CSS.escape(method)}"] [data-testid="trust-activity"]`);
    if (line) line.textContent = text;
  }

  /** A sortable header: its label (the sort arrow after it), and which way is better on a small second line. */
  private sortHeader(name: string, text: string, hint: string, better?: string): HTMLTableCellElement {
    const button = h('button', { type: 'button', class: 'trust-sort', 'data-sort': name, title: hint },
      h('span', { class: 'trust-sort-label', 'data-testid': 'trust-sort-label' }, text),
      better ? h('span', { class: 'trust-better', 'data-testid': 'trust-better' }, better) : null);
    button.addEventListener('click', () => this.onSort(this.nextSort(name)));
    this.sortButtons.set(name, button);
    return h('th', { scope: 'col', 'aria-sort': name === 'method' ? 'ascending' : 'none', 'data-scalar': name }, button);
  }

  /** Another click on the sorted column reverses it; the Method column goes back to registry order. */
  private nextSort(name: string): TrustSort | undefined {
    const spec = SCALARS.find((s) => s.name === name);
    if (!spec) return undefined;
    if (this.sort?.by === spec.name) return { by: spec.name, dir: this.sort.dir === 'asc' ? 'desc' : 'asc' };
    return { by: spec.name, dir: bestFirst(spec) };
  }

  private row(r: TrustRowView, look: TableLook): HTMLTableRowElement {
    const spec = methodSpec(r.method);
    const selected = r.method === this.selected;
    const tr = h('tr', {
      class: 'trust-row', tabindex: 0, 'data-method': r.method, 'data-status': r.status, 'data-testid': 'trust-row',
      'aria-current': selected ? 'true' : undefined, title: `${spec.label}: show its map in the explain panel.`,
    });
    const style = lineStyle(r.color);
    const label = h('td', { class: 'trust-method' },
      h('span', { class: 'trust-label' },
        h('span', { class: 'trust-swatch', 'data-color': style.color, 'data-mark': style.mark, 'data-testid': 'trust-swatch', 'aria-hidden': 'true' }), spec.label),
      h('span', { class: 'trust-family' }, familyLabel(r.method)),
      r.activity ? h('span', { class: 'trust-activity', 'data-testid': 'trust-activity' }, r.activity) : null);
    const time = h('td', { class: 'trust-time', 'data-testid': 'trust-time' }, r.result ? formatDuration(requestTime(r.result)) : '');
    const took = Object.entries(r.evaluation?.ms ?? {}).filter(([m]) => m !== 'map')
      .map(([m, ms]) => `${MEASURE_SPECS[m as Measure]?.label ?? m} ${formatDuration(ms!)}`);
    if (took.length) time.title = `Measures took: ${took.join(', ')}.`;
    tr.append(h('td', { class: 'trust-thumb' }, this.thumbnail(r, look)), label, time);
    if (r.error) {
      tr.append(h('td', { colspan: SCALARS.length, class: 'trust-row-error' },
        h('span', { 'data-testid': 'trust-row-error' }, r.error), ' ', h('span', { class: 'trust-retry', 'data-testid': 'trust-retry' }, RETRY_HINT)));
    } else {
      for (const s of SCALARS) tr.append(this.cell(r, s));
    }
    tr.addEventListener('click', () => this.onSelect(r.method));
    tr.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter' && ev.key !== ' ') return;
      ev.preventDefault();
      this.onSelect(r.method);
    });
    return tr;
  }

  private cell(r: TrustRowView, s: ScalarSpec): HTMLTableCellElement {
    const td = h('td', { class: 'trust-value', 'data-scalar': s.name, 'data-testid': 'trust-cell' });
    const value = rowValues(r.evaluation)[s.name];
    const error = r.errors[s.measure];
    if (value !== null) {
      td.textContent = formatScore(value);
      td.title = sentences(scalarHint(s));
      const field = SCALAR_CURVES[s.name];
      const curve = field && r.evaluation?.[field];
      if (curve) td.title = sentences(`Random order: ${formatScore(curve.randomAuc)}`, scalarHint(s));
      const rnd = s.measure === 'randomization' ? r.evaluation?.randomization : undefined;
      if (rnd?.insensitive) {
        td.dataset.insensitive = 'true';
        td.append(h('span', { class: 'trust-flag', 'data-testid': 'trust-insensitive' }, 'insensitive'));
        td.title = sentences(rnd.note ?? INSENSITIVE_NOTE, scalarHint(s));
      }
    } else if (hasMeasure(r.evaluation, s.measure)) {
      // The measure ran but has no number to give (e.g. the fully randomized map is constant): say so, not "…".
      td.textContent = 'n/a';
      td.dataset.na = 'true';
      td.title = sentences(noNumberNote(r.evaluation, s), scalarHint(s));
    } else if (error !== undefined) {
      td.dataset.error = 'true';
      td.append(h('span', { class: 'trust-error-mark', role: 'img', 'aria-label': `${MEASURE_SPECS[s.measure].label} failed` }, '⚠'));
      td.title = r.retriable?.includes(s.measure) ? `${error} ${RETRY_HINT}` : error;
    } else if (!r.ticked.includes(s.measure)) {
      td.textContent = '–';
      td.title = `Tick ${MEASURE_SPECS[s.measure].label} to measure it.`;
    } else if (r.status === 'cancelled') {
      td.textContent = '–';
      td.title = 'Cancelled: Compute measures it.';
    } else {
      td.textContent = '…';
      td.title = r.status === 'measuring' ? 'Measuring…' : 'Waiting to be measured…';
    }
    return td;
  }

  /** The map over the image, small, on the map's own scale as the Maps tab draws it. */
  private thumbnail(r: TrustRowView, look: TableLook): HTMLElement {
    const img = look.image;
    const signature = [r.key, !!r.result, look.colormap, look.opacity, img.src.length, img.naturalWidth].join('|');
    const old = this.thumbs.get(r.method);
    if (old && old.signature === signature) return old.element;
    const stage = h('div', { class: 'trust-thumb-stage', 'data-testid': 'trust-thumb', 'data-drawn': 'false' });
    if (img.naturalWidth) {
      const scale = Math.min(THUMB_BOX.width / img.naturalWidth, THUMB_BOX.height / img.naturalHeight);
      stage.style.width = `${Math.max(1, Math.round(img.naturalWidth * scale))}px`;
      stage.style.height = `${Math.max(1, Math.round(img.naturalHeight * scale))}px`;
      stage.append(h('img', { class: 'tile-image', src: img.src, alt: '' }));
      if (r.result) {
        const { w, h: hh } = displaySize(img.naturalWidth, img.naturalHeight, THUMB_SIDE);
        const canvas = h('canvas', { class: 'trust-thumb-heat', width: w, height: hh });
        canvas.style.opacity = String(look.opacity);
        const ctx = canvas.getContext('2d');
        if (ctx) {
          ctx.putImageData(new ImageData(heatPixels(r.result.map, w, hh, look.colormap), w, hh), 0, 0);
          stage.dataset.drawn = 'true';
        }
        stage.append(canvas);
        const mark = regionMark(r.result.map);
        if (mark) stage.append(mark);
      }
    }
    this.thumbs.set(r.method, { signature, element: stage });
    return stage;
  }

  /** The sentences cells only hint at: each measure that failed and each flag, written out under the table. */
  private renderNotes(rows: TrustRowView[]): void {
    const items: HTMLElement[] = [];
    for (const r of rows) {
      if (r.error) continue;
      const label = methodSpec(r.method).label;
      for (const m of MEASURES) {
        const error = r.errors[m];
        if (error !== undefined && !hasMeasure(r.evaluation, m)) {
          items.push(h('li', { class: 'trust-note-error', 'data-method': r.method, 'data-measure': m }, `${label} — ${MEASURE_SPECS[m].label}: ${error}${r.retriable?.includes(m) ? ` ${RETRY_HINT}` : ''}`));
        }
      }
      const rnd = r.evaluation?.randomization;
      if (rnd?.insensitive) items.push(h('li', { class: 'trust-note-flag', 'data-method': r.method }, `${label}: ${sentences(rnd.note ?? INSENSITIVE_NOTE)}`));
      const values = rowValues(r.evaluation);
      for (const s of SCALARS) {
        if (values[s.name] === null && hasMeasure(r.evaluation, s.measure)) {
          items.push(h('li', { class: 'trust-note-info', 'data-method': r.method, 'data-scalar': s.name }, `${label} — ${s.label}: ${sentences(noNumberNote(r.evaluation, s))}`));
        }
      }
    }
    replaceChildren(this.notes, ...items);
    this.notes.hidden = items.length === 0;
  }
}
