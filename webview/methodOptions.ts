/**
 * A method's options as form controls, generated from its OptionSpec list in the registry: a number field
 * (min, max, whole-number step), a select, a checkbox, a colour input, or a text field of layer names with
 * the model's spatial layers as hints. A value the registry refuses shows its message beside the field and
 * is not passed on; the form reports a complete, valid set of options only.
 */
import { resolveOptions, type MethodOptions, type MethodSpec, type OptionSpec, type OptionValue } from '../src/shared/methods';
import { h } from './dom';
import { fullLayerName, moduleOutputs, shortLayerNames } from '../src/shared/layerNames';

interface Field {
  option: OptionSpec;
  input: HTMLInputElement | HTMLSelectElement;
  error: HTMLElement;
  read(): OptionValue;
  write(value: OptionValue): void;
}

let formCount = 0;

export class MethodOptionsForm {
  readonly element: HTMLElement;
  private readonly fields: Field[] = [];

  /**
   * @param values every option set (the remembered ones over the defaults)
   * @param layers the model's spatial layers: hints for, and the check of, layer-name options
   * @param onChange a complete set of valid options after the user changed one
   */
  constructor(readonly spec: MethodSpec, values: Readonly<MethodOptions>, private readonly layers: readonly string[],
    private readonly onChange: (options: MethodOptions) => void) {
    const id = `opts${++formCount}`;
    this.element = h('div', { class: 'method-options', 'data-testid': 'method-options', 'data-method': spec.name, role: 'group', 'aria-label': `${spec.label} options` });
    spec.options.forEach((option, i) => {
      const field = this.makeField(option, `${id}-${i}`);
      field.write(values[option.name] ?? option.default);
      this.fields.push(field);
    });
    this.element.hidden = this.fields.length === 0;
    this.committed = this.snapshot();
  }

  /** Shows these values (the same method's options changed elsewhere), dropping any error shown. */
  setValues(values: Readonly<MethodOptions>): void {
    for (const f of this.fields) {
      f.write(values[f.option.name] ?? f.option.default);
      this.showError(f, undefined);
    }
    this.committed = this.snapshot();
  }

  /** The current values as text when every field is valid (what was last reported, to report a set once). */
  private snapshot(): string | undefined {
    const options: MethodOptions = {};
    for (const f of this.fields) {
      const v = this.check(f);
      if (!v.ok) return undefined;
      options[f.option.name] = v.value;
    }
    return JSON.stringify(options);
  }

  /** Whether every field holds a value the registry accepts. */
  get valid(): boolean {
    return this.fields.every((f) => this.check(f).ok);
  }

  private makeField(o: OptionSpec, id: string): Field {
    const error = h('span', { class: 'option-error', 'data-testid': 'option-error', role: 'alert', id: `${id}-error` });
    error.hidden = true;
    const common = { id, 'data-testid': `option-${o.name}`, 'data-option': o.name, title: o.help, 'aria-describedby': `${id}-error` };
    let field: Field;
    switch (o.kind) {
      case 'number': {
        const input = h('input', { ...common, type: 'number', class: 'option-input option-number', min: o.min, max: o.max, step: o.integer ? 1 : 'any' });
        field = { option: o, input, error, read: () => input.value, write: (v) => (input.value = String(v)) };
        break;
      }
      case 'choice': {
        const select = h('select', { ...common, class: 'option-input option-select' }, ...o.choices.map((c) => h('option', { value: c.value }, c.label)));
        field = { option: o, input: select, error, read: () => select.value, write: (v) => (select.value = String(v)) };
        break;
      }
      case 'boolean': {
        const input = h('input', { ...common, type: 'checkbox', class: 'option-checkbox' });
        field = { option: o, input, error, read: () => input.checked, write: (v) => (input.checked = v === true) };
        break;
      }
      case 'color': {
        const input = h('input', { ...common, type: 'color', class: 'option-color' });
        field = { option: o, input, error, read: () => input.value, write: (v) => (input.value = String(v)) };
        break;
      }
      case 'layers': {
        // Offered as the layer picker shows them; the engine reads those forms as it reads full names.
        const shown = [...shortLayerNames(this.layers).values()];
        const list = h('datalist', { id: `${id}-layers` }, ...shown.map((l) => h('option', { value: l })));
        const example = shown.slice(0, 2).join(',');
        const input = h('input', {
          ...common, type: 'text', class: 'option-input option-layers', list: `${id}-layers`, spellcheck: 'false',
          placeholder: example ? `e.g. ${example}` : 'layer names, comma-separated',
        });
        field = { option: o, input, error, read: () => input.value, write: (v) => (input.value = String(v)) };
        this.element.append(list);
        break;
      }
    }
    const label = h('label', { class: `option-label${o.kind === 'boolean' ? ' option-label-inline' : ''}`, for: id, title: o.help }, o.label);
    const row = o.kind === 'boolean' ? [field.input, label] : [label, field.input];
    this.element.append(h('div', { class: `option-field option-kind-${o.kind}`, 'data-field': o.name }, h('div', { class: 'option-row' }, ...row), error));
    // Typing shows what is wrong at once; a value is taken when committed (Enter, leaving the field, a pick).
    field.input.addEventListener('input', () => {
      const v = this.check(field);
      this.showError(field, v.ok ? undefined : v.message);
    });
    field.input.addEventListener('change', () => this.commit(field));
    field.input.addEventListener('keydown', (ev) => {
      if ((ev as KeyboardEvent).key === 'Enter') this.commit(field);
    });
    return field;
  }

  /** The registry's verdict on one field's value, plus the layer names this model has. */
  private check(f: Field): { ok: true; value: OptionValue } | { ok: false; message: string } {
    const raw = f.read();
    let value: OptionValue;
    try {
      value = resolveOptions(this.spec, { [f.option.name]: raw })[f.option.name];
    } catch (err) {
      return { ok: false, message: (err as Error).message };
    }
    if (f.option.kind === 'layers' && typeof value === 'string' && value) {
      const modules = moduleOutputs(this.layers);
      const unknown = value.split(',').filter((l) => !modules.has(l) && fullLayerName(this.layers, l) === undefined);
      if (unknown.length) {
        const shown = [...shortLayerNames(this.layers).values()];
        const some = shown.slice(0, 8).join(', ') + (shown.length > 8 ? `, … (${shown.length} in all)` : '');
        const known = this.layers.length ? `; its spatial layers: ${some}` : '; it has none';
        return { ok: false, message: `this model has no spatial layer ${unknown.map((l) => `"${l}"`).join(', ')}${known}` };
      }
    }
    return { ok: true, value };
  }

  private showError(f: Field, message: string | undefined): void {
    f.error.textContent = message ?? '';
    f.error.hidden = message === undefined;
    f.input.toggleAttribute('aria-invalid', message !== undefined);
    f.input.closest('.option-field')?.classList.toggle('invalid', message !== undefined);
  }

  private committed?: string;

  private commit(changed: Field): void {
    const verdicts = this.fields.map((f) => ({ f, v: this.check(f) }));
    for (const { f, v } of verdicts) this.showError(f, v.ok ? undefined : v.message);
    if (!verdicts.every(({ v }) => v.ok)) return;
    const options: MethodOptions = {};
    for (const { f, v } of verdicts) if (v.ok) options[f.option.name] = v.value;
    // Enter then blur commit twice: report a set once.
    const text = JSON.stringify(options);
    if (text === this.committed) return;
    this.committed = text;
    // A number written as "25.0" or a layer list with spaces reads back as the registry keeps it.
    if (changed.option.kind !== 'boolean') changed.write(options[changed.option.name]);
    this.onChange(options);
  }
}
