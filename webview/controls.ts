/** The toolbar: one map or two side by side, colormap, opacity, and the CAMs' layer. */
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import type { ColormapChoice, SpatialLayerMsg } from '../src/shared/protocol';
import { COLORMAPS, isColormapName } from '../src/shared/colormaps';
import { shortLayerNames } from '../src/shared/layerNames';
import { h, replaceChildren } from './dom';
import type { Layout } from './state';

const LAYOUT_LABELS: Record<Layout, string> = { single: 'One map', 'side-by-side': 'Side by side' };
const AUTO_LAYER = '';

export interface ControlHandlers {
  layout(layout: Layout): void;
  colormap(name: ColormapChoice): void;
  opacity(value: number): void;
  /** undefined = the automatic layer */
  layer(name: string | undefined): void;
}

export class Controls {
  readonly element: HTMLElement;
  private layoutButtons = new Map<Layout, HTMLButtonElement>();
  private colormapSelect: VscodeSingleSelect;
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
    this.layerSelect.title = 'The spatial layer every class activation map (CAM) is computed at';
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

  setOpacity(v: number): void {
    this.opacityInput.value = String(Math.round(v * 100));
    this.opacityText.value = `${Math.round(v * 100)}%`;
  }

  /** Fills the layer picker; the automatic layer is marked "(auto)". */
  setLayers(layers: SpatialLayerMsg[], defaultLayer: string | undefined, selected: string | undefined): void {
    this.defaultLayer = defaultLayer;
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
