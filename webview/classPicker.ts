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

/** Keys for the ranking, shown in titles here and wired in keyboard.ts (one source for both). */
export const CLASS_KEYS = { previous: '[', next: ']', ranks: ['1', '2', '3', '4', '5'] } as const;

export class ClassPicker {
  readonly element: HTMLElement;
  private chips = h('div', { class: 'chips', role: 'group', 'aria-label': 'Top predictions' });
  private search: ClassSearch;
  private labels: string[] = [];
  private predictions: PredictionMsg[] = [];
  private selected: number | undefined;
  private previousButton = h('button', {
    type: 'button', class: 'step-button', 'data-testid': 'previous-class', 'aria-label': 'Previous class',
    title: `Previous class in the ranking (${CLASS_KEYS.previous})`,
  }, '‹');
  private nextButton = h('button', {
    type: 'button', class: 'step-button', 'data-testid': 'next-class', 'aria-label': 'Next class',
    title: `Next class in the ranking (${CLASS_KEYS.next})`,
  }, '›');

  /** @param info what is known of any class (probability, logit), e.g. a class explained from outside the top 5. */
  constructor(private readonly onSelect: (classIndex: number) => void, private readonly info: (classIndex: number) => PredictionMsg | undefined = () => undefined) {
    this.search = new ClassSearch((classIndex) => this.onSelect(classIndex));
    this.previousButton.addEventListener('click', () => this.step(-1));
    this.nextButton.addEventListener('click', () => this.step(1));
    this.element = h(
      'div',
      { class: 'class-picker' },
      h('span', { class: 'field-label' }, 'Class'),
      h('span', { class: 'step-buttons' }, this.previousButton, this.nextButton),
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
    this.renderChips();
    this.search.setChosen(classIndex);
  }

  /** Picks the prediction of this rank (0 = the top one), if there is one. */
  pickRank(rank: number): void {
    const p = this.predictions[rank];
    if (p && p.index !== this.selected) this.onSelect(p.index);
  }

  /**
   * Moves through the ranking by `delta`, stopping at its ends. From a class outside it, the next is the top
   * prediction and the previous the last one.
   */
  step(delta: number): void {
    if (!this.predictions.length) return;
    const at = this.predictions.findIndex((p) => p.index === this.selected);
    const rank = at < 0 ? (delta > 0 ? 0 : this.predictions.length - 1) : Math.max(0, Math.min(this.predictions.length - 1, at + delta));
    this.pickRank(rank);
  }

  private renderChips(): void {
    const ranked = this.predictions.length > 0;
    const at = this.predictions.findIndex((p) => p.index === this.selected);
    this.previousButton.disabled = !ranked || at === 0;
    this.nextButton.disabled = !ranked || at === this.predictions.length - 1;
    if (!ranked) {
      replaceChildren(this.chips, h('span', { class: 'chips-empty' }, 'Predictions appear after the first run…'));
      return;
    }
    const chips = this.predictions.map((p, rank) => this.chip(p, `#${rank + 1}`, `key ${CLASS_KEYS.ranks[rank]}`));
    // A class picked from "All classes" says its probability too, after the top 5.
    if (this.selected !== undefined && at < 0) {
      const p = this.info(this.selected) ?? { index: this.selected, label: this.labels[this.selected] ?? '', probability: NaN, logit: NaN };
      const chip = this.chip(p, 'Outside the top 5', undefined);
      chip.classList.add('chip-outside');
      chip.dataset.testid = 'class-chip-picked';
      chips.push(chip);
    }
    // Re-rendered on every selection: the chip that had the keyboard focus keeps it.
    const focused = this.chips.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset.classIndex : undefined;
    replaceChildren(this.chips, ...chips);
    if (focused !== undefined) chips.find((c) => c.dataset.classIndex === focused)?.focus();
  }

  private chip(p: PredictionMsg, rankText: string, key: string | undefined): HTMLButtonElement {
    const known = Number.isFinite(p.probability);
    // Outside the top 5 a probability is often "<0.1%": the logit says more there.
    const figure = !known ? '…' : key ? formatPercent(p.probability) : `${formatPercent(p.probability)} · logit ${p.logit.toFixed(2)}`;
    const label = p.label || this.labels[p.index] || `class ${p.index}`;
    const bar = h('span', { class: 'chip-bar', 'aria-hidden': 'true' });
    bar.style.width = `${known ? Math.max(0, Math.min(1, p.probability)) * 100 : 0}%`;
    const on = p.index === this.selected;
    const figures = known ? `p = ${p.probability.toFixed(4)}, logit = ${p.logit.toFixed(3)}` : 'probability not known yet';
    const chip = h(
      'button',
      {
        type: 'button',
        class: on ? 'chip selected' : 'chip',
        'data-testid': 'class-chip',
        'data-class-index': p.index,
        'aria-pressed': String(on),
        title: `${rankText}: ${label} (class ${p.index}), ${figures}${key ? ` (${key})` : ''}`,
      },
      h('span', { class: 'chip-label' }, label),
      h('span', { class: 'chip-prob', 'data-testid': 'chip-prob' }, figure),
      bar,
    );
    chip.addEventListener('click', () => this.onSelect(p.index));
    return chip;
  }
}
