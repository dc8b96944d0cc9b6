/**
 * Compare view webview: maps of 2–6 classes of the current image side by side, on a shared or
 * per-map scale, and the contrast map "A vs B". Protocol: `ready` → `subject` → `compare` requests
 * answered by `comparison`/`error`; clicking a tile sends `selectClass`.
 */
import type { CompareRequest, CompareSubject, CompareToHost, ComparisonMsg, HostToCompare, MethodName, PanelSettings, PredictionMsg } from '../src/shared/protocol';
import { isColormapName, type ColormapName } from '../src/shared/colormaps';
import { h, optionLabel, replaceChildren } from './dom';
import { loadState, post, saveState } from './vscodeApi';
import { Colorbar } from './colorbar';
import { decodeComparison, scaledMaps, TileGrid, type DecodedComparison } from './compareTiles';

export const MIN_CLASSES = 2;
export const MAX_CLASSES = 6;

interface SavedCompareState {
  method: MethodName;
  sharedScale: boolean;
  contrast: boolean;
}

function parseSaved(raw: unknown): SavedCompareState {
  const s = (raw ?? {}) as Partial<SavedCompareState>;
  return {
    method: s.method === 'saliency' ? 'saliency' : 'gradcam',
    sharedScale: s.sharedScale !== false,
    contrast: s.contrast !== false,
  };
}

const send = (m: CompareToHost) => post<CompareToHost>(m);

class CompareView {
  private saved = parseSaved(loadState());
  private subject?: CompareSubject;
  private colormap: ColormapName = 'jet';
  private opacity = 0.5;
  /** undefined until the first answer: the engine picks the top 4. */
  private classes?: number[];
  private pair?: [number, number];
  private ranked: PredictionMsg[] = [];
  private result?: DecodedComparison;
  private latestRequest = 0;
  private image = new Image();

  private readonly grid = new TileGrid();
  private readonly colorbar = new Colorbar();
  private readonly title = h('div', { class: 'header-title' });
  private readonly meta = h('div', { class: 'header-meta' });
  private readonly status = h('div', { class: 'compare-status', 'data-testid': 'compare-status', role: 'status' });
  private readonly methodButtons = new Map<MethodName, HTMLButtonElement>();
  private readonly sharedToggle = h('input', { type: 'checkbox', id: 'shared-scale', 'data-testid': 'shared-scale' });
  private readonly contrastToggle = h('input', { type: 'checkbox', id: 'contrast', 'data-testid': 'contrast-toggle' });
  private readonly contrastA = h('select', { 'data-testid': 'contrast-a', 'aria-label': 'Class A' });
  private readonly contrastB = h('select', { 'data-testid': 'contrast-b', 'aria-label': 'Class B' });
  private readonly chips = h('div', { class: 'compare-chips', 'data-testid': 'compare-classes', role: 'group', 'aria-label': 'Compared classes' });
  private readonly addClass = h('select', { 'data-testid': 'add-class', 'aria-label': 'Add a class' });
  private readonly scaleNote = h('div', { class: 'compare-scale-note', 'data-testid': 'scale-note' });
  private readonly body = h('div', { class: 'compare-body' });
  private readonly emptyNote = h('div', { class: 'compare-empty', 'data-testid': 'compare-empty' });

  constructor(root: HTMLElement) {
    const methods = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Method', 'data-testid': 'compare-method' });
    for (const [method, label] of [['gradcam', 'Grad-CAM'], ['saliency', 'Saliency']] as const) {
      const b = h('button', { type: 'button', class: 'segment', 'data-method': method }, label);
      b.addEventListener('click', () => this.setMethod(method));
      methods.append(b);
      this.methodButtons.set(method, b);
    }
    this.sharedToggle.checked = this.saved.sharedScale;
    this.sharedToggle.addEventListener('change', () => {
      this.persist({ sharedScale: this.sharedToggle.checked });
      this.render();
    });
    this.contrastToggle.checked = this.saved.contrast;
    this.contrastToggle.addEventListener('change', () => {
      this.persist({ contrast: this.contrastToggle.checked });
      this.request();
    });
    const onPair = () => {
      this.pair = [Number(this.contrastA.value), Number(this.contrastB.value)];
      if (this.contrastToggle.checked) this.request();
    };
    this.contrastA.addEventListener('change', onPair);
    this.contrastB.addEventListener('change', onPair);
    this.addClass.addEventListener('change', () => {
      const c = Number(this.addClass.value);
      if (this.classes && Number.isInteger(c) && c >= 0 && !this.classes.includes(c) && this.classes.length < MAX_CLASSES) {
        this.classes = [...this.classes, c];
        this.request();
      }
      this.addClass.value = '';
    });
    this.grid.onSelect = (c) => send({ type: 'selectClass', classIndex: c });
    this.grid.setImage(this.image);
    this.image.addEventListener('load', () => this.render());

    replaceChildren(this.body,
      h('div', { class: 'compare-toolbar', role: 'toolbar', 'aria-label': 'Compare options' },
        methods,
        h('label', { class: 'check', for: 'shared-scale', title: 'All class maps normalized together, so intensities compare across classes' },
          this.sharedToggle, 'Shared scale'),
        h('span', { class: 'compare-contrast-controls' },
          h('label', { class: 'check', for: 'contrast', title: 'Map of S_A − S_B: where the evidence for A over B lies' }, this.contrastToggle, 'Contrast'),
          this.contrastA, h('span', { class: 'muted' }, 'vs'), this.contrastB)),
      h('div', { class: 'compare-classes-row' }, this.chips, this.addClass),
      h('div', { class: 'compare-legend', 'data-testid': 'compare-legend' }, this.scaleNote, this.colorbar.element),
      this.grid.element,
      this.status);
    replaceChildren(root, h('div', { class: 'app compare-app' },
      h('header', { class: 'header' }, h('div', { class: 'header-text' }, this.title, this.meta)),
      this.emptyNote, this.body));
    this.body.hidden = true;
    this.emptyNote.textContent = 'Explain an image to compare its classes here.';
    window.addEventListener('message', (ev: MessageEvent) => this.onMessage(ev.data as HostToCompare));
    send({ type: 'ready' });
  }

  private persist(change: Partial<SavedCompareState>): void {
    this.saved = { ...this.saved, ...change };
    saveState(this.saved);
  }

  private onMessage(msg: HostToCompare): void {
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'subject':
        this.applySettings(msg.settings);
        this.classes = undefined;
        this.pair = undefined;
        this.result = undefined;
        this.grid.clear();
        return this.setSubject(msg.subject);
      case 'refresh':
        return this.setSubject(msg.subject);
      case 'setClasses':
        this.classes = msg.classes.slice(0, MAX_CLASSES);
        return this.request();
      case 'empty':
        this.subject = undefined;
        this.body.hidden = true;
        this.emptyNote.hidden = false;
        this.emptyNote.textContent = msg.message;
        replaceChildren(this.title, 'Compare classes');
        replaceChildren(this.meta);
        return;
      case 'busy':
        this.setStatus(msg.message, 'busy');
        return;
      case 'comparison':
        if (msg.requestId === this.latestRequest) this.onComparison(msg.result);
        return;
      case 'error':
        if (msg.requestId === undefined || msg.requestId === this.latestRequest) this.setStatus(msg.message, 'error');
        return;
    }
  }

  private applySettings(settings: PanelSettings): void {
    if (isColormapName(settings.colormap)) this.colormap = settings.colormap;
    this.opacity = settings.opacity;
  }

  private setSubject(subject: CompareSubject): void {
    const imageChanged = this.subject?.imageUri !== subject.imageUri;
    this.subject = subject;
    this.emptyNote.hidden = true;
    this.body.hidden = false;
    replaceChildren(this.title, subject.imageName);
    const model = subject.model.path.split(/[\\/]/).slice(-2).join('/');
    replaceChildren(this.meta, `${model} · ${subject.model.numClasses} classes`);
    // A model without a spatial layer can only compare saliency.
    const gradcamOk = subject.model.gradcamLayers.length > 0;
    this.methodButtons.get('gradcam')!.disabled = !gradcamOk;
    if (!gradcamOk && this.saved.method === 'gradcam') this.persist({ method: 'saliency' });
    this.renderMethod();
    if (imageChanged) this.image.src = subject.imageUri;
    this.request();
  }

  private setMethod(method: MethodName): void {
    if (method === this.saved.method) return;
    this.persist({ method });
    this.renderMethod();
    this.request();
  }

  private renderMethod(): void {
    for (const [m, b] of this.methodButtons) {
      b.setAttribute('aria-pressed', String(m === this.saved.method));
      b.classList.toggle('active', m === this.saved.method);
    }
  }

  private removeClass(c: number): void {
    if (!this.classes || this.classes.length <= MIN_CLASSES) return;
    this.classes = this.classes.filter((k) => k !== c);
    this.request();
  }

  private request(): void {
    if (!this.subject) return;
    const request: CompareRequest = { method: this.saved.method, classes: this.classes };
    if (this.saved.method === 'gradcam' && this.subject.layer) request.layer = this.subject.layer;
    const pair = this.pair;
    if (this.contrastToggle.checked && pair && pair[0] !== pair[1]) request.contrast = pair;
    const requestId = ++this.latestRequest;
    this.setStatus('Computing…', 'busy');
    send({ type: 'compare', requestId, request });
  }

  private onComparison(result: ComparisonMsg): void {
    this.ranked = result.ranked;
    this.result = decodeComparison(result);
    this.classes = this.result.classes;
    const firstAnswer = !this.pair;
    if (firstAnswer && this.ranked.length >= 2) this.pair = [this.ranked[0].index, this.ranked[1].index];
    const maps = result.maps.length + (result.contrast ? 1 : 0);
    const where = result.method === 'gradcam' && result.layer ? ` at ${result.layer}` : '';
    this.setStatus(`${maps} maps${where} in ${Math.round(result.timings.total ?? 0)} ms from one forward pass`, 'info');
    this.renderPickers();
    // The contrast was on but had no pair yet: ask again with it.
    if (firstAnswer && this.contrastToggle.checked && this.pair) return this.request();
    this.render();
  }

  private labelOf(c: number): string {
    return optionLabel(c, this.subject?.model.labels[c] ?? '');
  }

  private renderPickers(): void {
    const classes = this.classes ?? [];
    replaceChildren(this.chips, ...classes.map((c) => {
      const remove = h('button', { type: 'button', class: 'chip-remove', title: `Remove ${this.labelOf(c)}`, 'aria-label': `Remove ${this.labelOf(c)}`,
        disabled: classes.length <= MIN_CLASSES }, '×');
      remove.addEventListener('click', () => this.removeClass(c));
      return h('span', { class: 'compare-chip', 'data-class-index': c }, this.labelOf(c), remove);
    }));
    const byRank = this.ranked.map((p) => p.index);
    const option = (c: number) => {
      const p = this.ranked.find((r) => r.index === c);
      return h('option', { value: c }, `${this.labelOf(c)}${p ? ` (${(p.probability * 100).toFixed(1)}%)` : ''}`);
    };
    replaceChildren(this.addClass,
      h('option', { value: '' }, classes.length >= MAX_CLASSES ? `At most ${MAX_CLASSES} classes` : 'Add class…'),
      ...byRank.filter((c) => !classes.includes(c)).map(option));
    this.addClass.disabled = classes.length >= MAX_CLASSES;
    for (const [select, value] of [[this.contrastA, this.pair?.[0]], [this.contrastB, this.pair?.[1]]] as const) {
      replaceChildren(select, ...byRank.map(option));
      if (value !== undefined) select.value = String(value);
    }
  }

  private render(): void {
    const result = this.result;
    // Drawn once the image has loaded (its load event renders again).
    if (!result || !this.subject || !this.image.naturalWidth) return;
    const shared = this.sharedToggle.checked;
    const drawn = this.grid.render(result, this.subject.model.labels, {
      sharedScale: shared, colormap: this.colormap, opacity: this.opacity, currentClass: this.subject.classIndex,
    });
    this.renderLegend(result, shared);
    send({ type: 'rendered', classes: result.classes, drawnTiles: drawn, contrast: !!result.contrast, sharedScale: shared });
  }

  private renderLegend(result: DecodedComparison, shared: boolean): void {
    const { range } = scaledMaps(result.maps, shared);
    this.scaleNote.textContent = shared
      ? `Shared scale: all ${result.maps.length} class maps span the same range, so brighter means more evidence across classes.`
      : 'Per-map scale: each tile spans its own range; compare shapes, not intensities, across classes.';
    this.scaleNote.dataset.scale = shared ? 'shared' : 'per-map';
    const entries = shared && range
      ? [{ label: 'all classes', min: range.min, max: range.max }]
      : result.maps.map((m, i) => ({ label: this.labelOf(result.classes[i]), min: m.min, max: m.max }));
    if (result.contrast) {
      const [a, b] = result.contrast.classes;
      entries.push({ label: `${this.labelOf(a)} vs ${this.labelOf(b)}`, min: result.contrast.map.min, max: result.contrast.map.max });
    }
    this.colorbar.update(entries, this.colormap);
  }

  private setStatus(text: string, kind: 'busy' | 'error' | 'info'): void {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }
}

function start(): void {
  new CompareView(document.getElementById('app') ?? document.body.appendChild(h('div', { id: 'app' })));
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
