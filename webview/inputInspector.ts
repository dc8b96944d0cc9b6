/**
 * Preprocessing inspector: the exact tensor the model sees (after resize, channel conversion and
 * normalization), drawn back as an image with its value range, and a picker for this model's preset.
 * Mismatched preprocessing is the most common cause of nonsense maps.
 */
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import { PRESETS, type ModelInputMsg } from '../src/shared/protocol';
import { formatValue, h, replaceChildren } from './dom';

export class InputInspector {
  readonly element: HTMLElement;
  private readonly toggle: VscodeCheckbox;
  private readonly presetSelect: VscodeSingleSelect;
  private readonly canvas = h('canvas', { 'data-testid': 'model-input-canvas', class: 'model-input-canvas' });
  private readonly caption = h('div', { 'data-testid': 'model-input-caption', class: 'model-input-caption' });
  private readonly figure = h('figure', { class: 'model-input', 'data-testid': 'model-input' }, this.canvas, this.caption);

  constructor(on: { show(): void; preset(preset: string): void }) {
    this.toggle = h('vscode-checkbox', { toggle: true, 'data-testid': 'show-input', label: 'Model input' });
    this.toggle.title = 'Show the tensor the model receives: after resizing, channel conversion and normalization';
    this.toggle.addEventListener('change', () => {
      this.figure.hidden = !this.toggle.checked;
      if (this.toggle.checked) on.show();
    });
    this.presetSelect = h('vscode-single-select', { 'data-testid': 'preset-select', label: 'Preprocessing', class: 'select-preset' });
    replaceChildren(this.presetSelect, ...PRESETS.map((p) => h('vscode-option', { value: p }, p)));
    this.presetSelect.addEventListener('change', () => on.preset(this.presetSelect.value));
    this.figure.hidden = true;
    this.element = h('div', { class: 'input-inspector', 'data-testid': 'input-inspector' },
      h('div', { class: 'input-inspector-controls' }, this.toggle, h('span', { class: 'field-label' }, 'Preset'), this.presetSelect),
      this.figure);
    // Nothing to inspect, and no preset in use, until a model is loaded.
    this.element.hidden = true;
  }

  get visible(): boolean {
    return this.toggle.checked;
  }

  /**
   * The preset in use, read from the model's description ("unit (0..1) (…/saliency-lens.json)"); undefined when
   * there is no model (none chosen yet, or it did not load): the inspector hides rather than show a preset not in use.
   */
  setPreprocessing(description: string | undefined): void {
    this.element.hidden = description === undefined;
    if (description === undefined) {
      this.toggle.checked = false;
      this.figure.hidden = true;
      return;
    }
    // The description starts with the pipeline's name and then ":" or " (": "tfjs-legacy+symmetric: …" is no preset.
    // and an edited preset ("timm (edited): …") is not that preset either.
    const preset = PRESETS.find((p) => description.startsWith(`${p}:`) || (description.startsWith(`${p} (`) && !description.startsWith(`${p} (edited)`)));
    const value = preset ?? '';
    void this.presetSelect.updateComplete.then(() => (this.presetSelect.value = value));
    this.presetSelect.value = value;
    this.presetSelect.title = `In use: ${description}`;
  }

  show(input: ModelInputMsg): void {
    const bytes = Uint8ClampedArray.from(atob(input.rgba), (c) => c.charCodeAt(0));
    this.canvas.width = input.width;
    this.canvas.height = input.height;
    this.canvas.getContext('2d')!.putImageData(new ImageData(bytes, input.width, input.height), 0, 0);
    // Shown large with crisp pixels: a 28×28 input is what the model sees, not a blur of it.
    const scale = Math.max(1, Math.floor(224 / Math.max(input.width, input.height)));
    this.canvas.style.width = `${input.width * scale}px`;
    this.canvas.style.height = `${input.height * scale}px`;
    const ranges = input.min.map((lo, c) => `${input.channels > 1 ? `c${c} ` : ''}${formatValue(lo)}…${formatValue(input.max[c])}`).join(', ');
    this.caption.textContent = `What the model sees: ${input.height}×${input.width}×${input.channels} · ${input.preprocessing} · values ${ranges}`;
  }
}
