/**
 * One of the explain panel's method pickers: every registry method grouped by family (labels from the
 * registry, its `shows` line as tooltip and under the picker), the ones this model cannot run disabled
 * with the reason, and the chosen method's options below it.
 */
import { methodSpec, type MethodName, type MethodOptions } from '../src/shared/methods';
import { methodsByFamily, unavailableReason, type ModelCapabilities } from '../src/shared/methodAvailability';
import { h, replaceChildren } from './dom';
import { MethodOptionsForm } from './methodOptions';

export interface MethodSlotHandlers {
  pick(method: MethodName): void;
  options(method: MethodName, options: MethodOptions): void;
}

export class MethodSlot {
  readonly element: HTMLElement;
  private readonly select: HTMLSelectElement;
  private readonly shows = h('div', { class: 'method-shows', 'data-testid': 'method-shows' });
  private readonly optionsHost = h('div', { class: 'method-options-host' });
  private form?: MethodOptionsForm;
  private method?: MethodName;
  private layers: string[] = [];

  constructor(readonly index: number, label: string, private readonly on: MethodSlotHandlers) {
    const id = `method-picker-${index}`;
    this.select = h('select', { id, class: 'method-picker', 'data-testid': 'method-picker', 'aria-label': label });
    this.fillOptions(undefined);
    this.select.addEventListener('change', () => {
      const name = this.select.value as MethodName;
      if (name !== this.method) this.on.pick(name);
    });
    this.element = h('div', { class: 'method-slot', 'data-testid': `method-slot-${index}` },
      h('div', { class: 'method-head' }, h('label', { class: 'field-label', for: id }, label), this.select, this.shows),
      this.optionsHost);
  }

  /**
   * Lists every method by family; those the model cannot run are disabled and say why. The options form is
   * built again on the next setMethod (the layer hints are the model's).
   */
  setModel(model: ModelCapabilities): void {
    this.layers = model.spatialLayers.map((l) => l.name);
    this.fillOptions(model);
    this.method = undefined;
  }

  private fillOptions(model: ModelCapabilities | undefined): void {
    replaceChildren(this.select, ...methodsByFamily().map((group) =>
      h('optgroup', { label: group.label, 'data-family': group.family }, ...group.methods.map((spec) => {
        const reason = model && unavailableReason(spec, model);
        return h('option', {
          value: spec.name, disabled: !!reason, 'data-reason': reason || undefined,
          title: reason ? `${spec.label} ${reason}` : spec.shows,
        }, reason ? `${spec.label} (${reason.split(';')[0]})` : spec.label);
      }))));
  }

  /** Shows `method` with these options (every one set). */
  setMethod(method: MethodName, options: Readonly<MethodOptions>): void {
    const spec = methodSpec(method);
    this.select.value = method;
    this.select.title = spec.shows;
    this.shows.textContent = spec.shows;
    this.shows.title = `${spec.shows}. ${spec.use}. ${spec.paper}`;
    if (this.method === method && this.form) {
      this.form.setValues(options);
    } else {
      this.form = new MethodOptionsForm(spec, options, this.layers, (o) => this.on.options(method, o));
      replaceChildren(this.optionsHost, this.form.element);
      this.optionsHost.hidden = this.form.element.hidden;
    }
    this.method = method;
  }

  /** The same method's options changed in the other picker. */
  syncOptions(method: MethodName, options: Readonly<MethodOptions>): void {
    if (this.method === method) this.form?.setValues(options);
  }

  set hidden(v: boolean) {
    this.element.hidden = v;
  }
}
