/**
 * What the compare and methods views ask the engine for, for a method: its options (the explain
 * panel's where it says, its signed switch, the registry's defaults for the rest), its layer, and the
 * registry's methods as a picker lists them.
 */
import type { CompareSubject, EngineProgressMsg } from '../src/shared/protocol';
import { isMethodName, methodSpec, resolveOptions, type MethodName, type MethodOptions } from '../src/shared/methods';
import { methodsByFamily, unavailableReason } from '../src/shared/methodAvailability';
import { h } from './dom';

/** Every option of `method` set, as the explain panel would compute it. */
export function optionsFor(method: MethodName, subject: CompareSubject): MethodOptions {
  const spec = methodSpec(method);
  const signed: MethodOptions = subject.signed !== undefined && spec.options.some((o) => o.name === 'signed') ? { signed: subject.signed } : {};
  try {
    return resolveOptions(spec, { ...signed, ...subject.options?.[method] });
  } catch {
    // Options the registry no longer takes (a panel of another version): the defaults, rather than no map.
    return resolveOptions(spec, signed);
  }
}

/** The layer a CAM is asked for (undefined = the model's automatic choice); input methods take none. */
export function layerFor(method: MethodName, subject: CompareSubject): string | undefined {
  return methodSpec(method).target === 'layer' ? subject.layer : undefined;
}

/** Why the subject's model cannot run `method`, or undefined when it can. */
export function whyUnavailable(method: MethodName, subject: CompareSubject | undefined): string | undefined {
  return subject ? unavailableReason(methodSpec(method), subject.model) : undefined;
}

/** A <select> of every registry method, grouped by family; methods the model cannot run are disabled, saying why. */
export function methodSelect(attrs: Record<string, string>): HTMLSelectElement {
  return h('select', attrs, ...methodsByFamily().map((g) =>
    h('optgroup', { label: g.label }, ...g.methods.map((m) => h('option', { value: m.name, title: m.shows }, m.label)))));
}

/** Disables the options of methods the subject's model cannot run, with the reason as their tooltip. */
export function markUnavailable(select: HTMLSelectElement, subject: CompareSubject | undefined): void {
  for (const option of Array.from(select.options)) {
    const why = whyUnavailable(option.value as MethodName, subject);
    option.disabled = !!why;
    option.title = why ? `${option.textContent}: ${why}` : methodSpec(option.value as MethodName).shows;
  }
}

/** "RISE: 1,200 of 4,000 model inputs". */
export function progressText(p: EngineProgressMsg): string {
  const label = isMethodName(p.method) ? methodSpec(p.method).label : p.method;
  return `${label}: ${p.done.toLocaleString('en-US')} of ${p.total.toLocaleString('en-US')} model inputs`;
}
