/**
 * Zoom and pan of the stage, shared by every pane so the image and the maps stay in register.
 * The view is kept in image-relative units (the centre of what is seen, as a fraction of the image's
 * width and height, and a scale over the fitted size), so it survives a resize or a reload at
 * another panel width. Pure functions for the arithmetic; `ZoomInput` turns pointer, wheel and key
 * events into new views.
 */

export interface ZoomView {
  /** 1 = the image fitted to its pane; up to MAX_ZOOM. */
  scale: number;
  /** Centre of the visible part, as fractions (0..1) of the image's width and height. */
  cx: number;
  cy: number;
}

export const MIN_ZOOM = 1;
export const MAX_ZOOM = 16;
export const FIT: Readonly<ZoomView> = { scale: 1, cx: 0.5, cy: 0.5 };
/** One + / - key press, or one wheel notch of about 100 px. */
const KEY_STEP = 1.5;

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** The view with its scale in range and its centre kept so that no part outside the image shows. */
export function clampView(v: ZoomView): ZoomView {
  const raw = clamp(Number.isFinite(v.scale) ? v.scale : 1, MIN_ZOOM, MAX_ZOOM);
  // Zooming in and out by the same steps lands a rounding error away from 1: that is the fitted view.
  const scale = Math.abs(raw - 1) < 1e-6 ? 1 : raw;
  const half = 0.5 / scale;
  return {
    scale,
    cx: clamp(Number.isFinite(v.cx) ? v.cx : 0.5, half, 1 - half),
    cy: clamp(Number.isFinite(v.cy) ? v.cy : 0.5, half, 1 - half),
  };
}

export function isFit(v: ZoomView): boolean {
  return v.scale === 1;
}

/** The image point (fractions of width and height) shown at pane fraction (px, py). */
export function imagePoint(v: ZoomView, px: number, py: number): { u: number; v: number } {
  return { u: v.cx + (px - 0.5) / v.scale, v: v.cy + (py - 0.5) / v.scale };
}

/** Zoom by `factor` about pane fraction (px, py): the image point there stays there (unless the clamp moves it). */
export function zoomAbout(v: ZoomView, factor: number, px: number, py: number): ZoomView {
  const p = imagePoint(v, px, py);
  const scale = clamp(v.scale * factor, MIN_ZOOM, MAX_ZOOM);
  return clampView({ scale, cx: p.u - (px - 0.5) / scale, cy: p.v - (py - 0.5) / scale });
}

/** Moves the content by (dx, dy) pane fractions (a drag to the right shows more of the left). */
export function panBy(v: ZoomView, dx: number, dy: number): ZoomView {
  return clampView({ scale: v.scale, cx: v.cx - dx / v.scale, cy: v.cy - dy / v.scale });
}

/** The CSS transform of a pane's content (transform-origin 0 0) for a pane of fw x fh CSS pixels. */
export function transformFor(v: ZoomView, fw: number, fh: number): string {
  if (isFit(v)) return '';
  const tx = fw * (0.5 - v.cx * v.scale);
  const ty = fh * (0.5 - v.cy * v.scale);
  return `translate(${tx.toFixed(3)}px, ${ty.toFixed(3)}px) scale(${v.scale})`;
}

/** A saved view, validated: anything malformed is undefined (the image is then shown fitted). */
export function parseZoom(raw: unknown): ZoomView | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, unknown>;
  const ok = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (!ok(r.scale) || !ok(r.cx) || !ok(r.cy)) return undefined;
  if ((r.scale as number) < MIN_ZOOM || (r.scale as number) > MAX_ZOOM) return undefined;
  if ((r.cx as number) < 0 || (r.cx as number) > 1 || (r.cy as number) < 0 || (r.cy as number) > 1) return undefined;
  return clampView({ scale: r.scale as number, cx: r.cx as number, cy: r.cy as number });
}

/** Wheel delta in pixels (line and page modes converted), so a mouse notch and a pinch step compare. */
function wheelPixels(ev: WheelEvent): number {
  const unit = ev.deltaMode === WheelEvent.DOM_DELTA_LINE ? 16 : ev.deltaMode === WheelEvent.DOM_DELTA_PAGE ? 400 : 1;
  return clamp(ev.deltaY * unit, -200, 200);
}

/**
 * Listens on the stage: Ctrl+wheel (and a trackpad pinch, which Chromium sends as Ctrl+wheel) zooms
 * about the pointer, a drag pans while zoomed, a double click fits again, and + / - / 0 do the same
 * from the keyboard while the stage has the focus. `frameAt` names the pane frame under a point.
 */
export class ZoomInput {
  private view: ZoomView = { ...FIT };
  private drag?: { id: number; x: number; y: number; frame: HTMLElement };

  constructor(
    private readonly stage: HTMLElement,
    private readonly frameAt: (target: EventTarget | null) => HTMLElement | undefined,
    private readonly onChange: (view: ZoomView) => void,
  ) {
    stage.addEventListener('wheel', (ev) => this.onWheel(ev), { passive: false });
    stage.addEventListener('pointerdown', (ev) => this.onPointerDown(ev));
    stage.addEventListener('pointermove', (ev) => this.onPointerMove(ev));
    stage.addEventListener('pointerup', (ev) => this.endDrag(ev));
    stage.addEventListener('pointercancel', (ev) => this.endDrag(ev));
    stage.addEventListener('dblclick', (ev) => {
      if (this.frameAt(ev.target)) this.fit();
    });
    stage.addEventListener('keydown', (ev) => this.onKey(ev));
  }

  get current(): ZoomView {
    return this.view;
  }

  /** Sets the view (e.g. restored from state) without reporting it back. */
  restore(view: ZoomView | undefined): void {
    this.view = clampView(view ?? FIT);
  }

  /** Back to the fitted image (reported like any change). */
  fit(): void {
    this.set({ ...FIT });
  }

  private set(view: ZoomView): void {
    const next = clampView(view);
    if (next.scale === this.view.scale && next.cx === this.view.cx && next.cy === this.view.cy) return;
    this.view = next;
    this.onChange(next);
  }

  private fraction(frame: HTMLElement, ev: { clientX: number; clientY: number }): { px: number; py: number } | undefined {
    const r = frame.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) return undefined;
    return { px: (ev.clientX - r.left) / r.width, py: (ev.clientY - r.top) / r.height };
  }

  private onWheel(ev: WheelEvent): void {
    if (!ev.ctrlKey) return; // a plain wheel scrolls the panel
    const frame = this.frameAt(ev.target);
    const at = frame && this.fraction(frame, ev);
    if (!at) return;
    ev.preventDefault();
    this.set(zoomAbout(this.view, Math.exp(-wheelPixels(ev) * Math.log(KEY_STEP) / 100), at.px, at.py));
  }

  private onPointerDown(ev: PointerEvent): void {
    const frame = this.frameAt(ev.target);
    if (!frame || ev.button !== 0 || isFit(this.view)) return;
    ev.preventDefault();
    this.drag = { id: ev.pointerId, x: ev.clientX, y: ev.clientY, frame };
    frame.setPointerCapture?.(ev.pointerId);
    this.stage.classList.add('stage-panning');
  }

  private onPointerMove(ev: PointerEvent): void {
    const d = this.drag;
    if (!d || ev.pointerId !== d.id) return;
    const r = d.frame.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) return;
    const dx = (ev.clientX - d.x) / r.width;
    const dy = (ev.clientY - d.y) / r.height;
    d.x = ev.clientX;
    d.y = ev.clientY;
    this.set(panBy(this.view, dx, dy));
  }

  private endDrag(ev: PointerEvent): void {
    if (!this.drag || ev.pointerId !== this.drag.id) return;
    this.drag.frame.releasePointerCapture?.(ev.pointerId);
    this.drag = undefined;
    this.stage.classList.remove('stage-panning');
  }

  private onKey(ev: KeyboardEvent): void {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === '+' || ev.key === '=') this.set(zoomAbout(this.view, KEY_STEP, 0.5, 0.5));
    else if (ev.key === '-' || ev.key === '_') this.set(zoomAbout(this.view, 1 / KEY_STEP, 0.5, 0.5));
    else if (ev.key === '0') this.fit();
    else return;
    ev.preventDefault();
  }
}
