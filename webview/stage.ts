/**
 * The image area: one pane (image + heatmap canvas) or three side by side (the image, then the two
 * pickers' maps), each fitted to the available space at the image's aspect ratio. Reports the pointer
 * position in original image pixels.
 */
import type { MethodName } from '../src/shared/protocol';
import { methodSpec } from '../src/shared/methods';
import { h, replaceChildren } from './dom';

export interface Pane {
  method?: MethodName;
  caption?: HTMLElement;
  element: HTMLElement;
  frame: HTMLElement;
  image: HTMLImageElement;
  canvas?: HTMLCanvasElement;
  message: HTMLElement;
}

const GAP = 12;

export class Stage {
  readonly element = h('div', { class: 'stage' });
  private panes: Pane[] = [];
  private natural = { w: 0, h: 0 };
  private src = '';
  private multi = false;
  private observer = new ResizeObserver(() => this.layout());

  /** Called with original-image pixel coordinates under the pointer, or null when it leaves. */
  onHover: (pos: { x: number; y: number } | null) => void = () => {};

  constructor() {
    this.observer.observe(this.element);
  }

  setImage(src: string, naturalW: number, naturalH: number): void {
    this.src = src;
    this.natural = { w: naturalW, h: naturalH };
    for (const p of this.panes) p.image.src = src;
    this.layout();
  }

  get naturalSize(): { w: number; h: number } {
    return this.natural;
  }

  /**
   * Rebuilds the panes: one map over the image, or side by side the bare image and then each map
   * (several methods in a row). Unchanged methods keep their panes, so nothing flickers.
   */
  setMethods(methods: MethodName[], sideBySide: boolean): void {
    const multi = sideBySide;
    const wanted: (MethodName | undefined)[] = multi ? [undefined, ...methods] : methods.slice(0, 1);
    if (multi === this.multi && wanted.length === this.panes.length && wanted.every((m, i) => this.panes[i].method === m)) return;
    this.multi = multi;
    this.panes = wanted.map((m, i) => this.makePane(m, i === 0));
    replaceChildren(this.element, ...this.panes.map((p) => p.element));
    this.element.classList.toggle('stage-multi', this.panes.length > 1);
    this.layout();
  }

  /** The pane of the n-th shown map (0 = the first picker's). */
  pane(slot: number): Pane | undefined {
    return this.panes.filter((p) => p.method)[slot];
  }

  private makePane(method: MethodName | undefined, first: boolean): Pane {
    const image = h('img', { class: 'pane-image', alt: '', draggable: 'false', 'data-testid': first ? 'image' : undefined });
    if (this.src) image.src = this.src;
    let canvas: HTMLCanvasElement | undefined;
    if (method) {
      const testid = this.multi ? `${method}-canvas` : 'heatmap-canvas';
      canvas = h('canvas', { class: 'pane-heatmap', 'data-testid': testid, 'data-method': method, width: 1, height: 1 });
    }
    const message = h('div', { class: 'pane-message', role: 'status', 'data-testid': method ? 'pane-message' : undefined });
    message.hidden = true;
    const frame = h('div', { class: 'pane-frame' }, image, canvas, message);
    const caption = this.multi ? h('figcaption', { class: 'pane-caption' }, method ? methodSpec(method).label : 'Image') : undefined;
    const element = h('figure', { class: 'pane', 'data-pane': method ?? 'image' }, frame, caption);
    frame.addEventListener('mousemove', (ev) => this.hover(frame, ev));
    frame.addEventListener('mouseleave', () => this.onHover(null));
    return { method, caption, element, frame, image, canvas, message };
  }

  private hover(frame: HTMLElement, ev: MouseEvent): void {
    const r = frame.getBoundingClientRect();
    const { w, h } = this.natural;
    if (!w || !h || r.width <= 0 || r.height <= 0) return;
    const x = Math.floor(((ev.clientX - r.left) / r.width) * w);
    const y = Math.floor(((ev.clientY - r.top) / r.height) * h);
    if (x < 0 || y < 0 || x >= w || y >= h) this.onHover(null);
    else this.onHover({ x, y });
  }

  /** Sizes every frame to the largest box of the image's aspect ratio that fits. */
  layout(): void {
    const { w, h } = this.natural;
    if (!w || !h || this.panes.length === 0) return;
    const box = this.element.getBoundingClientRect();
    const caption = this.panes.length > 1 ? 24 : 0;
    const n = this.panes.length;
    // Side by side prefers a row; a narrow panel stacks the panes when that shows them larger.
    const rowScale = Math.min((box.width - GAP * (n - 1)) / n / w, (box.height - caption) / h);
    const colScale = Math.min(box.width / w, (box.height - GAP * (n - 1)) / n / h - caption / h);
    const column = n > 1 && colScale > rowScale * 1.15;
    const scale = Math.max(0.01, column ? colScale : rowScale);
    this.element.classList.toggle('stage-column', column);
    const fw = Math.max(1, Math.floor(w * scale));
    const fh = Math.max(1, Math.floor(h * scale));
    // Upscaled small images (e.g. 28x28 digits) keep their pixels crisp; the heatmap stays smooth.
    const pixelated = scale >= 3;
    for (const p of this.panes) {
      p.frame.style.width = `${fw}px`;
      p.frame.style.height = `${fh}px`;
      p.image.classList.toggle('pixelated', pixelated);
    }
  }

  dispose(): void {
    this.observer.disconnect();
  }
}
