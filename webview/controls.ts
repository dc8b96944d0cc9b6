/** The toolbar: one map or two side by side, colormap, display clip and gamma, opacity, and the CAMs' layer. */
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import type { ColormapChoice, SpatialLayerMsg } from '../src/shared/protocol';
import { COLORMAPS, isColormapName } from '../src/shared/colormaps';
import { shortLayerNames } from '../src/shared/layerNames';
import { h, replaceChildren } from './dom';
import type { Layout } from './state';
import { CLIP_CHOICES, GAMMA_RANGE } from './mapStore';

const LAYOUT_LABELS: Record<Layout, string> = { single: 'One map', 'side-by-side': 'Side by side' };
const AUTO_LAYER = '';
const LAYER_TITLE = 'The spatial layer every class activation map (CAM) is computed at';

export interface ControlHandlers {
  layout(layout: Layout): void;
  colormap(name: ColormapChoice): void;
  opacity(value: number): void;
  /** A display clip percentile; null = the full min–max range. */
  clip(percentile: number | null): void;
  gamma(value: number): void;
  /** undefined = the automatic layer */
  layer(name: string | undefined): void;
}

export class Controls {
  readonly element: HTMLElement;
  private layoutButtons = new Map<Layout, HTMLButtonElement>();
  private colormapSelect: VscodeSingleSelect;
  private clipSelect: VscodeSingleSelect;
  private gammaInput: HTMLInputElement;
  private gammaText: HTMLOutputElement;
  private opacityInput: HTMLInputElement;
  private opacityText: HTMLOutputElement;
  private layerSelect: VscodeSingleSelect;
  private layerField: HTMLElement;
  private defaultLayer: string | undefined;

  constructor(private readonly on: ControlHandlers) {
    const modes = h('div', { class: 'segmented', role: 'group', 'aria-label': 'View', 'data-testid': 'view-mode' });
    for (const layout of Object.keys(LAYOUT_LABELS) as Layout[]) {
      const b = h('button', { type: 'button', class: 'segment', 'data-mode': layout, 'aria-pressed': 'false' }, LAYOUT_LABELS[layout]);
      b.addEventListener('click', () => {
        this.setLayout(layout);
        this.on.layout(layout);
      });
      modes.append(b);
      this.layoutButtons.set(layout, b);
    }

    this.colormapSelect = h('vscode-single-select', { 'data-testid': 'colormap', label: 'Colormap', class: 'select-colormap' });
    for (const name of COLORMAPS) this.colormapSelect.append(h('vscode-option', { value: name }, name));
    this.colormapSelect.addEventListener('change', () => {
      const v = this.colormapSelect.value;
      if (isColormapName(v)) this.on.colormap(v);
    });

    this.clipSelect = h('vscode-single-select', { 'data-testid': 'clip', label: 'Clip', class: 'select-clip' });
    this.clipSelect.title = 'Values above this percentile draw at the top of the scale, so a few extreme pixels do not hide the rest';
    for (const p of CLIP_CHOICES) this.clipSelect.append(h('vscode-option', { value: clipValue(p) }, p === null ? 'none' : `${p}th pct`));
    this.clipSelect.addEventListener('change', () => {
      const v = this.clipSelect.value;
      const p = CLIP_CHOICES.find((c) => clipValue(c) === v);
      if (p !== undefined) this.on.clip(p);
    });

    // Gamma on a log2 scale, so 1 sits in the middle and 0.25 and 4 at the ends.
    this.gammaInput = h('input', {
      type: 'range', min: Math.log2(GAMMA_RANGE.min), max: Math.log2(GAMMA_RANGE.max), step: 0.25, id: 'gamma', 'data-testid': 'gamma',
      'aria-label': 'Gamma', class: 'slider', title: 'Normalized value v is drawn as v^gamma: below 1 lifts faint values, above 1 dims them',
    });
    this.gammaText = h('output', { class: 'slider-value', for: 'gamma' });
    this.gammaInput.addEventListener('input', () => {
      const g = 2 ** Number(this.gammaInput.value);
      this.gammaText.value = formatGamma(g);
      this.on.gamma(g);
    });

    this.opacityInput = h('input', {
      type: 'range', min: 0, max: 100, step: 1, id: 'opacity', 'data-testid': 'opacity', 'aria-label': 'Heatmap opacity', class: 'slider',
    });
    this.opacityText = h('output', { class: 'slider-value', for: 'opacity' });
    this.opacityInput.addEventListener('input', () => {
      const v = Number(this.opacityInput.value) / 100;
      this.opacityText.value = `${Math.round(v * 100)}%`;
      this.on.opacity(v);
    });

    this.layerSelect = h('vscode-single-select', { 'data-testid': 'layer-select', label: 'CAM layer', class: 'select-layer' });
    this.layerSelect.title = LAYER_TITLE;
    this.layerSelect.addEventListener('change', () => {
      const v = this.layerSelect.value;
      this.on.layer(v === AUTO_LAYER || v === this.defaultLayer ? undefined : v);
    });

    this.layerField = field('CAM layer', this.layerSelect);
    this.element = h(
      'div',
      { class: 'toolbar', role: 'toolbar', 'aria-label': 'Display options' },
      modes,
      field('Colormap', this.colormapSelect),
      field('Clip', this.clipSelect),
      field('Gamma', h('div', { class: 'slider-wrap' }, this.gammaInput, this.gammaText)),
      field('Opacity', h('div', { class: 'slider-wrap' }, this.opacityInput, this.opacityText)),
      this.layerField,
    );
  }

  setLayout(layout: Layout): void {
    for (const [m, b] of this.layoutButtons) {
      b.setAttribute('aria-pressed', String(m === layout));
      b.classList.toggle('active', m === layout);
    }
  }

  setColormap(name: ColormapChoice): void {
    this.colormapSelect.value = name;
  }

  setClip(p: number | null): void {
    this.clipSelect.value = clipValue(p);
  }

  setGamma(g: number): void {
    this.gammaInput.value = String(Math.log2(g));
    this.gammaText.value = formatGamma(g);
  }

  setOpacity(v: number): void {
    this.opacityInput.value = String(Math.round(v * 100));
    this.opacityText.value = `${Math.round(v * 100)}%`;
  }

  /** Fills the layer picker; the automatic layer is marked "(auto)", and the title says why it was chosen. */
  setLayers(layers: SpatialLayerMsg[], defaultLayer: string | undefined, selected: string | undefined, reason?: string): void {
    this.defaultLayer = defaultLayer;
    this.layerSelect.title = `${LAYER_TITLE}${reason ? `\nAutomatic layer ${reason}` : ''}`;
    const options: HTMLElement[] = [];
    if (!defaultLayer || !layers.some((l) => l.name === defaultLayer)) {
      options.push(h('vscode-option', { value: AUTO_LAYER }, layers.length ? 'automatic (auto)' : 'no convolutional layer'));
    }
    const short = shortLayerNames(layers.map((l) => l.name));
    for (const l of layers) {
      const auto = l.name === defaultLayer ? ' (auto)' : '';
      // Long graph scopes shown short; the full name is the value and in the description.
      const full = short.get(l.name) !== l.name ? ` · ${l.name}` : '';
      options.push(h('vscode-option', { value: l.name, description: `${l.type} · ${l.height}×${l.width}×${l.channels}${full}` }, `${short.get(l.name)}${auto}`));
    }
    replaceChildren(this.layerSelect, ...options);
    this.layerSelect.disabled = layers.length === 0;
    this.setLayer(selected);
  }

  setLayer(selected: string | undefined): void {
    const value = selected ?? this.defaultLayer ?? AUTO_LAYER;
    // Options are read from the slot asynchronously; set the value after they are in.
    void this.layerSelect.updateComplete.then(() => (this.layerSelect.value = value));
    this.layerSelect.value = value;
  }

  /** The layer is dimmed, not hidden, when no map in view is a CAM, so the layout stays put. */
  setLayerApplicable(applicable: boolean): void {
    this.layerField.classList.toggle('inapplicable', !applicable);
  }
}

function field(label: string, control: HTMLElement): HTMLElement {
  return h('div', { class: 'field' }, h('span', { class: 'field-label', 'aria-hidden': 'true' }, label), control);
}

function clipValue(p: number | null): string {
  return p === null ? 'none' : String(p);
}

/** "0.59", "1", "2.8": two significant digits. */
export function formatGamma(g: number): string {
  return String(Number(g.toPrecision(2)));
}
