/**
 * Which methods the methods view shows: a checkbox per registry method, grouped by family. Methods the
 * model cannot run (a CAM without a spatial layer) are disabled, saying why.
 */
import type { CompareSubject } from '../src/shared/protocol';
import type { MethodName } from '../src/shared/methods';
import { methodsByFamily } from '../src/shared/methodAvailability';
import { h } from './dom';
import { whyUnavailable } from './methodCall';

export class MethodChecklist {
  readonly element: HTMLElement;
  private readonly boxes = new Map<MethodName, HTMLInputElement>();

  /** Called with the method and whether it is now ticked. */
  onToggle: (method: MethodName, on: boolean) => void = () => {};

  constructor() {
    const groups = methodsByFamily().map((g) => h('fieldset', { class: 'method-family', 'data-family': g.family },
      h('legend', {}, g.label),
      ...g.methods.map((spec) => {
        const name = spec.name as MethodName;
        const box = h('input', { type: 'checkbox', id: `method-${name}`, 'data-method': name });
        box.addEventListener('change', () => this.onToggle(name, box.checked));
        this.boxes.set(name, box);
        const label = h('label', { class: 'check', for: `method-${name}`, title: `${spec.shows}. ${spec.use}.` }, box, spec.label);
        label.dataset.about = label.title;
        return label;
      })));
    this.element = h('details', { class: 'methods-picker', 'data-testid': 'methods-picker', open: true },
      h('summary', {}, 'Methods'), h('div', { class: 'method-families' }, ...groups));
  }

  /** Ticks the chosen methods; disables those the subject's model cannot run. */
  update(chosen: readonly MethodName[], subject: CompareSubject | undefined): void {
    for (const [name, box] of this.boxes) {
      const why = whyUnavailable(name, subject);
      box.checked = chosen.includes(name);
      box.disabled = !!why;
      const label = box.parentElement!;
      label.classList.toggle('unavailable', !!why);
      label.title = why ? `Not for this model: ${why}` : label.dataset.about ?? '';
    }
  }
}
