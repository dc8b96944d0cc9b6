/**
 * A tiny element builder. Attributes only go through setAttribute (never `style=` strings), so the
 * panel stays valid under a strict CSP; inline styles are set as element.style properties instead.
 */

export type AttrValue = string | number | boolean | undefined | null;
export type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, AttrValue> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) setAttr(el, name, value);
  append(el, ...children);
  return el;
}

export function setAttr(el: Element, name: string, value: AttrValue): void {
  if (name === 'style') throw new Error('use element.style, not a style attribute (CSP)');
  if (value === undefined || value === null || value === false) el.removeAttribute(name);
  else el.setAttribute(name, value === true ? '' : String(value));
}

export function append(el: Element, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
}

/** Replaces all children of `el`. */
export function replaceChildren(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

/** A compact number for labels: 3 significant digits, exponent form for very small/large values. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(3)));
}

/** A class as the pickers name it: "7 · seven", or "class 7" without a label. */
export function optionLabel(index: number, label: string): string {
  if (!label || label === `class ${index}`) return `class ${index}`;
  // Labels that are the index itself (digits) need no prefix.
  return label === String(index) ? label : `${index} · ${label}`;
}

export function formatPercent(p: number): string {
  const v = p * 100;
  if (v >= 99.95) return `${v.toFixed(0)}%`;
  if (v >= 10) return `${v.toFixed(1)}%`;
  if (v >= 0.1) return `${v.toFixed(1)}%`;
  return v > 0 ? '<0.1%' : '0%';
}

/** Starts a view on the page's #app element (made if missing) once the document has loaded. */
export function mountView(create: (root: HTMLElement) => void): void {
  const start = () => create(document.getElementById('app') ?? document.body.appendChild(h('div', { id: 'app' })));
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
  else start();
}
