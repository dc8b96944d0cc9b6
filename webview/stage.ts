/**
 * The image area: one pane (image + heatmap canvas) or three side by side (the image, then the two
 * pickers' maps), each fitted to the available space at the image's aspect ratio. Panes that would be
 * too narrow in a row are stacked, one under the other, at the panel's width (the panel then scrolls).
 * Zoom and pan (zoom.ts) apply to every pane alike; the pointer is reported in original image pixels,
 * and a small readout follows it.
 */
import type { MethodName } from '../src/shared/protocol';
import { methodSpec } from '../src/shared/methods';
import { h, replaceChildren } from './dom';
import { displaySize, regionMark } from './heatmap';
import type { DecodedMap } from './mapStore';
import { FIT, imagePoint, isFit, transformFor, ZoomInput, type ZoomView } from './zoom';

export interface Pane {
  method?: MethodName;
  caption?: HTMLElement;
  element: HTMLElement;
  frame: HTMLElement;
  /** What zoom and pan move: the image and the heatmap. */
  content: HTMLElement;
  image: HTMLImageElement;
  canvas?: HTMLCanvasElement;
  message: HTMLElement;
}

const GAP = 12;
const CAPTION = 24;
/** Narrower than this, side-by-side panes are stacked instead of shrunk. */
export const MIN_PANE_WIDTH = 240;
/** A stacked pane is at most this share of the window's height, so a tall image still shows whole. */
const STACKED_MAX_HEIGHT = 0.75;
/** Screen pixels per image pixel from which pixels are drawn as squares, not smoothed. */
const PIXELATED_FROM = 3;

export class Stage {
  readonly element = h('div', {
    class: 'stage', tabindex: 0, 'data-testid': 'stage', 'aria-label': 'Image and maps. Ctrl+wheel or + and - zoom, drag pans, double-click or 0 fits',
  });
  /** The value readout that follows the pointer. */
  private readonly tip = h('div', { class: 'stage-tip', 'data-testid': 'cursor-readout', role: 'tooltip' });
  /** While zoomed: how far, and a click to fit again. */
  private readonly zoomBadge = h('button', { type: 'button', class: 'stage-zoom', 'data-testid': 'zoom-fit', title: 'Fit the image (double-click, or 0)' });
  private panes: Pane[] = [];
  private natural = { w: 0, h: 0 };
  private src = '';
  private multi = false;
  private frameSize = { w: 0, h: 0 };
  private pointer?: { clientX: number; clientY: number; frame: HTMLElement };
  private observer = new ResizeObserver(() => this.layout());
  private zoom: ZoomInput;

  /** Called with original-image pixel coordinates under the pointer, or null when it leaves. */
  onHover: (pos: { x: number; y: number } | null) => void = () => {};
  /** Called when the user zooms or pans (not when a view is restored). */
  onZoom: (view: ZoomView) => void = () => {};

  constructor() {
    this.tip.hidden = true;
    this.zoomBadge.hidden = true;
    this.element.append(this.tip, this.zoomBadge);
    this.observer.observe(this.element);
    this.zoom = new ZoomInput(this.element, (target) => this.frameOf(target), (view) => {
      this.applyZoom();
      this.rehover();
      this.onZoom(view);
    });
    this.zoomBadge.addEventListener('click', () => this.zoom.fit());
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

  get zoomView(): ZoomView {
    return this.zoom.current;
  }

  /** Shows a saved view (undefined = fitted). */
  setZoom(view: ZoomView | undefined): void {
    this.zoom.restore(view ?? FIT);
    this.applyZoom();
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
    this.pointer = undefined;
    replaceChildren(this.element, ...this.panes.map((p) => p.element), this.tip, this.zoomBadge);
    this.element.classList.toggle('stage-multi', this.panes.length > 1);
    this.layout();
  }

  /** The pane of the n-th shown map (0 = the first picker's). */
  pane(slot: number): Pane | undefined {
    return this.panes.filter((p) => p.method)[slot];
  }

  /** The readout near the pointer: its lines, or nothing to hide it. */
  setTip(lines: string[] | null): void {
    const p = this.pointer;
    if (!lines?.length || !p) {
      this.tip.hidden = true;
      return;
    }
    replaceChildren(this.tip, ...lines.map((line) => h('div', {}, line)));
    this.tip.hidden = false;
    // Beside the pointer, flipped to the other side near the window's right or bottom edge.
    const offset = 14;
    const { offsetWidth: tw, offsetHeight: th } = this.tip;
    const left = p.clientX + offset + tw > window.innerWidth ? p.clientX - offset - tw : p.clientX + offset;
    const top = p.clientY + offset + th > window.innerHeight ? p.clientY - offset - th : p.clientY + offset;
    this.tip.style.left = `${Math.max(0, left)}px`;
    this.tip.style.top = `${Math.max(0, top)}px`;
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
    const content = h('div', { class: 'pane-content' }, image, canvas);
    const frame = h('div', { class: 'pane-frame', 'data-testid': first ? 'frame' : undefined }, content, message);
    const caption = this.multi ? h('figcaption', { class: 'pane-caption' }, method ? methodSpec(method).label : 'Image') : undefined;
    const element = h('figure', { class: 'pane', 'data-pane': method ?? 'image' }, frame, caption);
    frame.addEventListener('mousemove', (ev) => this.hover(frame, ev));
    frame.addEventListener('mouseleave', () => {
      this.pointer = undefined;
      this.onHover(null);
    });
    return { method, caption, element, frame, content, image, canvas, message };
  }

  private frameOf(target: EventTarget | null): HTMLElement | undefined {
    const frame = (target as Element | null)?.closest?.('.pane-frame');
    return frame && this.panes.some((p) => p.frame === frame) ? (frame as HTMLElement) : undefined;
  }

  private hover(frame: HTMLElement, ev: { clientX: number; clientY: number }): void {
    this.pointer = { clientX: ev.clientX, clientY: ev.clientY, frame };
    const r = frame.getBoundingClientRect();
    const { w, h } = this.natural;
    if (!w || !h || r.width <= 0 || r.height <= 0) return;
    // The frame stays put; its content is zoomed and panned, so the pane fraction maps through the view.
    const p = imagePoint(this.zoom.current, (ev.clientX - r.left) / r.width, (ev.clientY - r.top) / r.height);
    const x = Math.floor(p.u * w);
    const y = Math.floor(p.v * h);
    if (x < 0 || y < 0 || x >= w || y >= h) this.onHover(null);
    else this.onHover({ x, y });
  }

  /** After a zoom, the pixel under a still pointer has changed. */
  private rehover(): void {
    if (this.pointer && this.pointer.frame.isConnected) this.hover(this.pointer.frame, this.pointer);
  }

  private applyZoom(): void {
    const view = this.zoom.current;
    const transform = transformFor(view, this.frameSize.w, this.frameSize.h);
    const { w } = this.natural;
    const screenPerImagePixel = w ? (this.frameSize.w * view.scale) / w : 0;
    // The heatmap canvas has the image's pixels unless the image is larger than the display cap; only where it has
    // them are its squares worth showing crisp.
    const canvasAtImagePixels = w > 0 && displaySize(w, this.natural.h).w === w;
    for (const p of this.panes) {
      p.content.style.transform = transform;
      // Upscaled small images (e.g. 28x28 digits) keep their pixels crisp; the heatmap stays smooth until zoomed in.
      p.image.classList.toggle('pixelated', screenPerImagePixel >= PIXELATED_FROM);
      p.canvas?.classList.toggle('pixelated', !isFit(view) && canvasAtImagePixels && screenPerImagePixel >= PIXELATED_FROM);
    }
    this.element.classList.toggle('stage-zoomed', !isFit(view));
    this.zoomBadge.hidden = isFit(view);
    this.zoomBadge.textContent = `${view.scale.toFixed(1)}× · Fit`;
  }

  /** Sizes every frame: the largest box of the image's aspect ratio that fits, or stacked at the panel's width. */
  layout(): void {
    const { w, h } = this.natural;
    if (!w || !h || this.panes.length === 0) return;
    const box = this.element.getBoundingClientRect();
    const n = this.panes.length;
    const caption = n > 1 ? CAPTION : 0;
    const rowScale = Math.min((box.width - GAP * (n - 1)) / n / w, (box.height - caption) / h);
    const colScale = Math.min(box.width / w, (box.height - GAP * (n - 1)) / n / h - caption / h);
    // Too narrow in a row (decided on the width alone, so the stacked stage's own height cannot flip it back):
    // stacked at the full width, and the panel scrolls rather than shrinking them.
    const stacked = n > 1 && (box.width - GAP * (n - 1)) / n < MIN_PANE_WIDTH;
    const column = stacked || (n > 1 && colScale > rowScale * 1.15);
    const stackedScale = Math.min(box.width / w, (window.innerHeight * STACKED_MAX_HEIGHT) / h);
    const scale = Math.max(0.01, stacked ? stackedScale : column ? colScale : rowScale);
    this.element.classList.toggle('stage-column', column);
    this.element.classList.toggle('stage-stacked', stacked);
    const fw = Math.max(1, Math.floor(w * scale));
    const fh = Math.max(1, Math.floor(h * scale));
    this.frameSize = { w: fw, h: fh };
    for (const p of this.panes) {
      p.frame.style.width = `${fw}px`;
      p.frame.style.height = `${fh}px`;
    }
    this.applyZoom();
  }

  dispose(): void {
    this.observer.disconnect();
  }
}

/**
 * Marks the model's input region over a pane's picture (outlined, the rest dimmed), or clears it: `map` is the map
 * the pane shows. The mark moves with zoom and pan, being inside the pane's content. Unchanged marks stay.
 */
export function showRegion(pane: Pane, map: DecodedMap | undefined): void {
  const old = pane.content.querySelector<HTMLElement>(':scope > .map-region');
  const mark = regionMark(map);
  if (old && mark && old.style.cssText === mark.style.cssText && old.title === mark.title) return;
  old?.remove();
  if (mark) pane.content.append(mark);
}
