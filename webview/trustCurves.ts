/**
 * The trust tab's curves, drawn with Chart.js: "Deletion" and "Insertion", the class probability (0–1) against the
 * fraction of pixels removed or revealed (0–1), one line per measured method and the random order's line dashed
 * (one per chart: it is the same for every method of one image and class). Line, text, grid and tooltip colours
 * and the font are VS Code's, read from CSS variables (media/panel.css, `.trust-panel`) and read again when the
 * theme changes, so light, dark and high-contrast themes all read well. Past six methods the colours repeat, each
 * round with its own point mark (the legend and the table's swatch show it). The selected line is drawn thicker.
 */
import { Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip, type ChartDataset, type PointStyle } from 'chart.js';
import { formatScore, MEASURE_SPECS, type CurveSummary } from '../src/shared/measures';
import type { MethodName } from '../src/shared/methods';
import { h } from './dom';

// Only what a line chart needs, so the bundle carries no other chart type.
Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip);

/** How many line colours the theme gives (`--sl-chart-0` … in panel.css: blue, red, green, yellow, orange, purple). */
export const CHART_COLORS = 6;

export interface CurveSeries {
  method: MethodName;
  label: string;
  /** Its row's index: its colour and mark (lineStyle; the table's swatch shows the same). */
  color: number;
  deletion?: CurveSummary;
  insertion?: CurveSummary;
}

interface Palette {
  lines: string[];
  foreground: string;
  grid: string;
  random: string;
  tooltip: { background: string; foreground: string; border: string };
  font: { family: string; size: number };
}

type Kind = 'deletion' | 'insertion';

const AXIS: Record<Kind, string> = {
  deletion: 'fraction of pixels removed',
  insertion: 'fraction of pixels revealed',
};

/**
 * One mark per round of the colours, so rows 1 and 7 differ: the first round a plain line (no points), then points
 * of one shape. Five rounds of six colours cover the registry's methods.
 */
export const LINE_MARKS = ['line', 'circle', 'rect', 'triangle', 'rectRot'] as const satisfies readonly PointStyle[];
export type LineMark = (typeof LINE_MARKS)[number];

/** The colour slot (0…CHART_COLORS-1) and the mark of the `index`-th row's line. */
export function lineStyle(index: number): { color: number; mark: LineMark } {
  return { color: index % CHART_COLORS, mark: LINE_MARKS[Math.floor(index / CHART_COLORS) % LINE_MARKS.length] };
}

const percent = (v: number) => `${Math.round(v * 100)}%`;

export class TrustCurves {
  readonly element: HTMLElement;
  private readonly note = h('p', { class: 'trust-curves-note', 'data-testid': 'trust-curves-note', role: 'status' });
  private readonly boxes: Record<Kind, HTMLElement>;
  private readonly canvases: Record<Kind, HTMLCanvasElement>;
  private charts?: Record<Kind, Chart<'line'>>;
  private series: CurveSeries[] = [];
  private selected?: MethodName;
  private readonly observer: MutationObserver;

  constructor() {
    this.canvases = {
      deletion: h('canvas', { 'data-testid': 'trust-chart-deletion', role: 'img', 'aria-label': 'Deletion curves' }),
      insertion: h('canvas', { 'data-testid': 'trust-chart-insertion', role: 'img', 'aria-label': 'Insertion curves' }),
    };
    const figure = (kind: Kind, title: string, reads: string) =>
      h('figure', { class: 'trust-chart', 'data-chart': kind },
        h('figcaption', { class: 'trust-chart-title', title: reads }, title),
        h('div', { class: 'trust-chart-box' }, this.canvases[kind]));
    this.boxes = {
      deletion: figure('deletion', 'Deletion', 'The class probability as the top pixels are removed first: a faithful map drops it fast.'),
      insertion: figure('insertion', 'Insertion', 'The class probability as the top pixels are revealed first: a faithful map raises it fast.'),
    };
    this.element = h('div', { class: 'trust-curves', 'data-testid': 'trust-curves' },
      this.note, h('div', { class: 'trust-charts' }, this.boxes.deletion, this.boxes.insertion));
    // VS Code swaps the body's class (vscode-light, vscode-dark, vscode-high-contrast) when the theme changes.
    this.observer = new MutationObserver(() => this.draw());
    this.observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  }

  /** Lines drawn in the Deletion chart, not counting the random order's. */
  get lines(): number {
    return this.series.filter((s) => s.deletion).length;
  }

  /** Draws the curves of `series` (those without curves are left out), `selected` thicker. */
  update(series: CurveSeries[], selected: MethodName | undefined): void {
    const next = series.filter((s) => s.deletion || s.insertion);
    // The view draws on every message: the charts only when what they show changed.
    const same = this.charts && selected === this.selected && next.length === this.series.length &&
      next.every((s, i) => {
        const o = this.series[i];
        return s.method === o.method && s.color === o.color && s.deletion === o.deletion && s.insertion === o.insertion;
      });
    this.series = next;
    this.selected = selected;
    if (!same) this.draw();
  }

  private draw(): void {
    const empty = this.series.length === 0;
    this.note.hidden = !empty;
    this.note.textContent = empty ? `Tick ${MEASURE_SPECS.curves.label}: each measured method then draws its curves here.` : '';
    this.element.querySelector('.trust-charts')!.toggleAttribute('hidden', empty);
    if (empty && !this.charts) return;
    const palette = this.palette();
    this.charts ??= { deletion: this.make('deletion'), insertion: this.make('insertion') };
    for (const kind of ['deletion', 'insertion'] as const) {
      const chart = this.charts[kind];
      chart.data.datasets = this.datasets(kind, palette);
      this.style(chart, palette);
      chart.update('none');
    }
  }

  private datasets(kind: Kind, palette: Palette): ChartDataset<'line'>[] {
    const out: ChartDataset<'line'>[] = [];
    const anySelected = this.series.some((s) => s.method === this.selected);
    for (const s of this.series) {
      const c = s[kind];
      if (!c) continue;
      const style = lineStyle(s.color);
      const colour = palette.lines[style.color];
      const dots = style.mark !== 'line';
      const selected = s.method === this.selected;
      out.push({
        label: s.label,
        data: c.fractions.map((x, i) => ({ x, y: c.probability[i] })),
        borderColor: colour,
        backgroundColor: colour,
        borderWidth: selected ? 4 : anySelected ? 1.5 : 2,
        pointStyle: style.mark,
        pointRadius: dots ? 3 : 0,
        pointHoverRadius: 4,
        tension: 0,
        order: selected ? 0 : 1,
      });
    }
    // The random order is the same for every method of this image and class: one line, from any of them.
    const reference = this.series.find((s) => s[kind])?.[kind];
    if (reference) {
      out.push({
        label: 'Random order',
        data: reference.fractions.map((x, i) => ({ x, y: reference.randomProbability[i] })),
        borderColor: palette.random,
        backgroundColor: palette.random,
        borderDash: [6, 4],
        borderWidth: 1.5,
        // Its legend entry is a dashed line, like the line.
        pointStyle: 'line',
        pointRadius: 0,
        pointHoverRadius: 3,
        tension: 0,
        order: 2,
      });
    }
    return out;
  }

  private make(kind: Kind): Chart<'line'> {
    return new Chart(this.canvases[kind], {
      type: 'line',
      data: { datasets: [] },
      options: {
        animation: false,
        responsive: true,
        // The box has a fixed height (panel.css); the chart fills it at any width.
        maintainAspectRatio: false,
        interaction: { mode: 'nearest', intersect: false },
        scales: {
          x: { type: 'linear', min: 0, max: 1, title: { display: true, text: AXIS[kind] }, ticks: { callback: (v) => percent(Number(v)), maxTicksLimit: 6 } },
          y: { type: 'linear', min: 0, max: 1, title: { display: true, text: 'class probability' }, ticks: { maxTicksLimit: 6 } },
        },
        plugins: {
          // In row order, though the selected line is drawn last (on top).
          // Each entry drawn as its line's mark (a plain line for the first six), so repeated colours differ here too.
          legend: { position: 'bottom', labels: { usePointStyle: true, boxWidth: 10, boxHeight: 8, sort: (a, b) => (a.datasetIndex ?? 0) - (b.datasetIndex ?? 0) } },
          tooltip: {
            borderWidth: 1,
            callbacks: {
              label: (ctx) => `${ctx.dataset.label}: ${formatScore(ctx.parsed.y ?? 0)} at ${percent(ctx.parsed.x ?? 0)}`,
            },
          },
        },
      },
    });
  }

  /** Text, grid and tooltip colours and the font from the theme. */
  private style(chart: Chart<'line'>, p: Palette): void {
    const o = chart.options;
    const font = { family: p.font.family, size: p.font.size };
    const small = { family: p.font.family, size: Math.max(9, p.font.size - 2) };
    for (const axis of [o.scales!.x!, o.scales!.y!]) {
      axis.ticks!.color = p.foreground;
      axis.ticks!.font = small;
      axis.grid!.color = p.grid;
      axis.border!.color = p.grid;
      const title = (axis as { title: { color: string; font: typeof font } }).title;
      title.color = p.foreground;
      title.font = small;
    }
    o.plugins!.legend!.labels!.color = p.foreground;
    o.plugins!.legend!.labels!.font = small;
    const tip = o.plugins!.tooltip!;
    tip.backgroundColor = p.tooltip.background;
    tip.titleColor = p.tooltip.foreground;
    tip.bodyColor = p.tooltip.foreground;
    tip.borderColor = p.tooltip.border;
    tip.titleFont = font;
    tip.bodyFont = small;
  }

  /** The theme's colours as CSS resolves them now (panel.css gives each a fallback outside VS Code). */
  private palette(): Palette {
    const css = getComputedStyle(this.element);
    const read = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
    const foreground = read('--sl-chart-fg', '#cccccc');
    const size = Number.parseFloat(read('--sl-chart-font-size', '13'));
    return {
      lines: Array.from({ length: CHART_COLORS }, (_, i) => read(`--sl-chart-${i}`, foreground)),
      foreground,
      grid: read('--sl-chart-grid', 'rgba(128, 128, 128, 0.35)'),
      random: read('--sl-chart-random', foreground),
      tooltip: {
        background: read('--sl-chart-tip-bg', '#252526'),
        foreground: read('--sl-chart-tip-fg', foreground),
        border: read('--sl-chart-tip-border', 'rgba(128, 128, 128, 0.5)'),
      },
      font: { family: read('--sl-chart-font', 'sans-serif'), size: Number.isFinite(size) && size > 0 ? size : 13 },
    };
  }

  dispose(): void {
    this.observer.disconnect();
    if (this.charts) for (const c of Object.values(this.charts)) c.destroy();
  }
}
