/** The toolbar: view mode, colormap, opacity, Grad-CAM layer and signed/absolute saliency. */
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js';
import type { ColormapChoice, SpatialLayerMsg, ViewMode } from '../src/shared/protocol';
import { COLORMAPS, isColormapName } from '../src/shared/colormaps';
import { shortLayerNames } from '../src/shared/layerNames';
import { h, replaceChildren } from './dom';
import { isViewMode } from './state';

const VIEW_LABELS: Record<ViewMode, string> = { saliency: 'Saliency', gradcam: 'Grad-CAM', 'side-by-side': 'Side by side' };
const AUTO_LAYER = '';

export interface ControlHandlers {
  viewMode(mode: ViewMode): void;
  colormap(name: ColormapChoice): void;
  opacity(value: number): void;
  /** undefined = the automatic layer */
  layer(name: string | undefined): void;
  signed(value: boolean): void;
}

export class Controls {
  readonly element: HTMLElement;
  private viewButtons = new Map<ViewMode, HTMLButtonElement>();
  private colormapSelect: VscodeSingleSelect;
  private opacityInput: HTMLInputElement;
  private opacityText: HTMLOutputElement;
  private layerSelect: VscodeSingleSelect;
  private layerField: HTMLElement;
  private signedToggle: VscodeCheckbox;
  private defaultLayer: string | undefined;

  constructor(private readonly on: ControlHandlers) {
    const modes = h('div', { class: 'segmented', role: 'group', 'aria-label': 'View', 'data-testid': 'view-mode' });
    for (const mode of Object.keys(VIEW_LABELS) as ViewMode[]) {
      const b = h('button', { type: 'button', class: 'segment', 'data-mode': mode, 'aria-pressed': 'false' }, VIEW_LABELS[mode]);
      b.addEventListener('click', () => {
        this.setViewMode(mode);
        this.on.viewMode(mode);
      });
      modes.append(b);
      this.viewButtons.set(mode, b);
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

    this.layerSelect = h('vscode-single-select', { 'data-testid': 'layer-select', label: 'Grad-CAM layer', class: 'select-layer' });
    this.layerSelect.addEventListener('change', () => {
      const v = this.layerSelect.value;
      this.on.layer(v === AUTO_LAYER || v === this.defaultLayer ? undefined : v);
    });

    this.signedToggle = h('vscode-checkbox', { toggle: true, 'data-testid': 'signed-toggle', label: 'Signed' });
    this.signedToggle.title = 'Signed saliency keeps negative evidence; off shows absolute values';
    this.signedToggle.addEventListener('change', () => this.on.signed(this.signedToggle.checked));

    this.layerField = field('Layer', this.layerSelect);
    this.element = h(
      'div',
      { class: 'toolbar', role: 'toolbar', 'aria-label': 'Display options' },
      modes,
      field('Colormap', this.colormapSelect),
      field('Opacity', h('div', { class: 'slider-wrap' }, this.opacityInput, this.opacityText)),
      this.layerField,
      h('div', { class: 'field field-toggle' }, this.signedToggle),
    );
  }

  setViewMode(mode: ViewMode): void {
    for (const [m, b] of this.viewButtons) {
      b.setAttribute('aria-pressed', String(m === mode));
      b.classList.toggle('active', m === mode);
    }
  }

  setColormap(name: ColormapChoice): void {
    this.colormapSelect.value = name;
  }

  setOpacity(v: number): void {
    this.opacityInput.value = String(Math.round(v * 100));
    this.opacityText.value = `${Math.round(v * 100)}%`;
  }

  setSigned(v: boolean): void {
    this.signedToggle.checked = v;
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

  /** Options that do not apply to the current view are dimmed, not hidden, so the layout stays put. */
  setApplicable(mode: ViewMode): void {
    this.layerField.classList.toggle('inapplicable', mode === 'saliency');
    this.signedToggle.closest('.field')?.classList.toggle('inapplicable', mode === 'gradcam');
  }
}

function field(label: string, control: HTMLElement): HTMLElement {
  return h('div', { class: 'field' }, h('span', { class: 'field-label', 'aria-hidden': 'true' }, label), control);
}

export { isViewMode };
