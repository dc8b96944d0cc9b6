/** The class picker: top-5 predictions as one-click chips, and a searchable list of every class. */
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import type { PredictionMsg } from '../src/shared/protocol';
import { formatPercent, h, optionLabel, replaceChildren } from './dom';

export class ClassPicker {
  readonly element: HTMLElement;
  private chips = h('div', { class: 'chips', role: 'group', 'aria-label': 'Top predictions' });
  private search: VscodeSingleSelect;
  private labels: string[] = [];
  private predictions: PredictionMsg[] = [];
  private selected: number | undefined;

  constructor(private readonly onSelect: (classIndex: number) => void) {
    this.search = h('vscode-single-select', { combobox: true, filter: 'contains', 'data-testid': 'class-search', label: 'Search all classes', class: 'class-search' });
    this.search.addEventListener('change', () => {
      const v = Number(this.search.value);
      if (Number.isInteger(v) && v >= 0 && v !== this.selected) this.onSelect(v);
    });
    this.element = h(
      'div',
      { class: 'class-picker' },
      h('span', { class: 'field-label' }, 'Class'),
      this.chips,
      h('div', { class: 'field class-search-field' }, h('span', { class: 'field-label', 'aria-hidden': 'true' }, 'All classes'), this.search),
    );
    this.renderChips();
  }

  setLabels(labels: string[]): void {
    this.labels = labels;
    replaceChildren(this.search, ...labels.map((label, i) => h('vscode-option', { value: String(i) }, optionLabel(i, label))));
    this.syncSearch();
  }

  setPredictions(predictions: PredictionMsg[]): void {
    this.predictions = predictions.slice(0, 5);
    this.renderChips();
  }

  setSelected(classIndex: number | undefined): void {
    this.selected = classIndex;
    for (const chip of Array.from(this.chips.querySelectorAll<HTMLButtonElement>('.chip'))) {
      const on = Number(chip.dataset.classIndex) === classIndex;
      chip.classList.toggle('selected', on);
      chip.setAttribute('aria-pressed', String(on));
    }
    this.syncSearch();
  }

  private syncSearch(): void {
    const v = this.selected === undefined ? '' : String(this.selected);
    this.search.value = v;
    void this.search.updateComplete.then(() => {
      if (this.search.value !== v) this.search.value = v;
    });
  }

  private renderChips(): void {
    if (this.predictions.length === 0) {
      replaceChildren(this.chips, h('span', { class: 'chips-empty' }, 'Predictions appear after the first run…'));
      return;
    }
    replaceChildren(
      this.chips,
      ...this.predictions.map((p, rank) => {
        const pct = formatPercent(p.probability);
        const label = p.label || this.labels[p.index] || `class ${p.index}`;
        const bar = h('span', { class: 'chip-bar', 'aria-hidden': 'true' });
        bar.style.width = `${Math.max(0, Math.min(1, p.probability)) * 100}%`;
        const chip = h(
          'button',
          {
            type: 'button',
            class: 'chip',
            'data-testid': 'class-chip',
            'data-class-index': p.index,
            'aria-pressed': 'false',
            title: `#${rank + 1}: ${label} (class ${p.index}), p = ${p.probability.toFixed(4)}, logit = ${p.logit.toFixed(3)}`,
          },
          h('span', { class: 'chip-label' }, label),
          h('span', { class: 'chip-prob' }, pct),
          bar,
        );
        chip.addEventListener('click', () => this.onSelect(p.index));
        return chip;
      }),
    );
    this.setSelected(this.selected);
  }
}
