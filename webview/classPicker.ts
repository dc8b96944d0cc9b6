/** The class picker: top-5 predictions as one-click chips, and a searchable list of every class. */
import type { PredictionMsg } from '../src/shared/protocol';
import { formatPercent, h, optionLabel, replaceChildren } from './dom';

/**
 * A searchable list of every class, as an ARIA 1.2 combobox (input + listbox). Typing filters by
 * "contains" and highlights the first match; arrows move the highlight, Enter picks it, Escape or
 * leaving the field puts back the chosen class. Ours rather than vscode-single-select, whose Enter
 * after typing picked no option, which read as class 0.
 */
class ClassSearch {
  readonly element: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly list: HTMLUListElement;
  private texts: string[] = [];
  private matches: number[] = [];
  private active = -1; // position in `matches`, -1 when nothing is highlighted
  private chosen: number | undefined;

  constructor(private readonly onPick: (classIndex: number) => void) {
    const listId = `class-search-list-${Math.random().toString(36).slice(2)}`;
    this.input = h('input', {
      type: 'text', role: 'combobox', class: 'class-search-input', 'aria-label': 'Search all classes', 'aria-autocomplete': 'list',
      'aria-expanded': 'false', 'aria-controls': listId, placeholder: 'Search all classes…', spellcheck: 'false', autocomplete: 'off',
    });
    this.list = h('ul', { id: listId, role: 'listbox', class: 'class-search-list', 'aria-label': 'Classes' });
    this.list.hidden = true;
    this.element = h('div', { class: 'class-search', 'data-testid': 'class-search' }, this.input, this.list);

    this.input.addEventListener('focus', () => this.input.select());
    this.input.addEventListener('input', () => this.filter(this.input.value, 0));
    this.input.addEventListener('click', () => {
      if (this.list.hidden) this.openAll();
    });
    this.input.addEventListener('keydown', (ev) => this.onKey(ev));
    this.input.addEventListener('blur', () => this.close());
    // Keep the focus in the field while the mouse is on the list, so the click lands before blur closes it.
    this.list.addEventListener('mousedown', (ev) => ev.preventDefault());
    this.list.addEventListener('click', (ev) => {
      const index = this.optionIndex(ev.target);
      if (index !== undefined) this.pick(index);
    });
    this.list.addEventListener('mousemove', (ev) => {
      const index = this.optionIndex(ev.target);
      if (index !== undefined) this.highlight(this.matches.indexOf(index), false);
    });
  }

  setLabels(labels: string[]): void {
    this.texts = labels.map((label, i) => optionLabel(i, label));
    if (!this.list.hidden) this.filter(this.input.value, 0);
    this.showChosen();
  }

  setChosen(classIndex: number | undefined): void {
    this.chosen = classIndex;
    if (this.list.hidden) this.showChosen();
  }

  private onKey(ev: KeyboardEvent): void {
    const open = !this.list.hidden;
    switch (ev.key) {
      case 'ArrowDown':
      case 'ArrowUp':
        if (!open) this.openAll();
        else this.highlight(Math.max(0, Math.min(this.matches.length - 1, this.active + (ev.key === 'ArrowDown' ? 1 : -1))), true);
        break;
      case 'Enter':
        if (!open) return;
        if (this.active >= 0) this.pick(this.matches[this.active]);
        else this.close();
        break;
      case 'Escape':
        if (!open) return;
        this.close();
        break;
      default:
        return;
    }
    ev.preventDefault();
    ev.stopPropagation();
  }

  /** The whole list, with the chosen class highlighted. */
  private openAll(): void {
    const at = this.chosen === undefined ? 0 : Math.max(0, this.chosen);
    this.filter('', at);
  }

  /** Lists the classes whose text contains `query` (any case) and highlights the one at position `at`. */
  private filter(query: string, at: number): void {
    const q = query.trim().toLowerCase();
    this.matches = [];
    this.texts.forEach((text, i) => {
      if (!q || text.toLowerCase().includes(q)) this.matches.push(i);
    });
    replaceChildren(this.list, ...this.matches.map((i) =>
      h('li', { id: `${this.list.id}-${i}`, role: 'option', class: 'class-search-option', 'data-index': i, 'aria-selected': 'false' }, this.texts[i])));
    if (this.matches.length === 0) this.list.append(h('li', { class: 'class-search-empty', 'aria-hidden': 'true' }, 'No class matches'));
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
    this.highlight(this.matches.length ? Math.min(at, this.matches.length - 1) : -1, true);
  }

  private highlight(position: number, scroll: boolean): void {
    const before = this.list.querySelector('[aria-selected="true"]');
    before?.setAttribute('aria-selected', 'false');
    this.active = position;
    const el = position >= 0 ? this.list.querySelector<HTMLElement>(`[data-index="${this.matches[position]}"]`) : null;
    if (el) {
      el.setAttribute('aria-selected', 'true');
      this.input.setAttribute('aria-activedescendant', el.id);
      if (scroll) el.scrollIntoView({ block: 'nearest' });
    } else {
      this.input.removeAttribute('aria-activedescendant');
    }
  }

  private pick(classIndex: number): void {
    this.close();
    this.input.value = this.texts[classIndex] ?? '';
    if (classIndex !== this.chosen) this.onPick(classIndex);
  }

  private close(): void {
    this.list.hidden = true;
    replaceChildren(this.list);
    this.matches = [];
    this.active = -1;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
    this.showChosen();
  }

  private showChosen(): void {
    this.input.value = this.chosen === undefined ? '' : (this.texts[this.chosen] ?? `class ${this.chosen}`);
  }

  private optionIndex(target: EventTarget | null): number | undefined {
    const li = (target as Element | null)?.closest?.('li[role="option"]');
    return li ? Number((li as HTMLElement).dataset.index) : undefined;
  }
}

export class ClassPicker {
  readonly element: HTMLElement;
  private chips = h('div', { class: 'chips', role: 'group', 'aria-label': 'Top predictions' });
  private search: ClassSearch;
  private labels: string[] = [];
  private predictions: PredictionMsg[] = [];
  private selected: number | undefined;

  constructor(private readonly onSelect: (classIndex: number) => void) {
    this.search = new ClassSearch((classIndex) => this.onSelect(classIndex));
    this.element = h(
      'div',
      { class: 'class-picker' },
      h('span', { class: 'field-label' }, 'Class'),
      this.chips,
      h('div', { class: 'field class-search-field' }, h('span', { class: 'field-label', 'aria-hidden': 'true' }, 'All classes'), this.search.element),
    );
    this.renderChips();
  }

  setLabels(labels: string[]): void {
    this.labels = labels;
    this.search.setLabels(labels);
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
    this.search.setChosen(classIndex);
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
