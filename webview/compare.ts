/**
 * Compare view webview: maps of 2–6 classes of the current image side by side, for any registry method
 * (its options as the explain panel uses them), on a shared or per-map scale, and the contrast map
 * "A vs B". Protocol: `ready` → `subject` → `compare` requests answered by `comparison`/`error` (with
 * `progress` meanwhile; `cancel` stops one); clicking a tile sends `selectClass`. One request is in flight
 * at a time: what the user changes meanwhile is asked for when the answer arrives.
 */
import type {
  CompareRequest, CompareSubject, CompareToHost, ComparisonMsg, EngineProgressMsg, HostToCompare, PanelSettings, PredictionMsg,
} from '../src/shared/protocol';
import { isColormapName, type ColormapName } from '../src/shared/colormaps';
import { DEFAULT_METHODS, isMethodName, METHOD_NAMES, methodSpec, type MethodName, type MethodOptions } from '../src/shared/methods';
import { h, mountView, optionLabel, replaceChildren } from './dom';
import { layerLabel } from '../src/shared/layerNames';
import { loadState, post, saveState } from './vscodeApi';
import { Colorbar, type ColorbarEntry } from './colorbar';
import { decodeComparison, TileGrid, type DecodedComparison } from './compareTiles';
import { scaledMaps } from './tiles';
import { layerFor, markUnavailable, methodSelect, optionsFor, progressText, whyUnavailable } from './methodCall';

export const MIN_CLASSES = 2;
export const MAX_CLASSES = 6;
/** Arrow keys in a closed <select> fire `change` per key press: wait until the choice settles. */
const PAIR_SETTLE_MS = 350;

interface SavedCompareState {
  method: MethodName;
  sharedScale: boolean;
  contrast: boolean;
}

function parseSaved(raw: unknown): SavedCompareState {
  const s = (raw ?? {}) as Partial<SavedCompareState>;
  return {
    method: typeof s.method === 'string' && isMethodName(s.method) ? s.method : 'gradcam',
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
  /** undefined until the first answer: the engine picks the top 4 (and the top two for the contrast). */
  private classes?: number[];
  private pair?: [number, number];
  private ranked: PredictionMsg[] = [];
  private result?: DecodedComparison;
  private latestRequest = 0;
  /** The options the latest request asked for (they say whether its maps are signed). */
  private requestedOptions: MethodOptions = {};
  private inFlight = false;
  private wanted = false;
  private pairTimer?: ReturnType<typeof setTimeout>;
  private image = new Image();

  private readonly grid = new TileGrid();
  private readonly colorbar = new Colorbar();
  private readonly title = h('div', { class: 'header-title' });
  private readonly meta = h('div', { class: 'header-meta' });
  private readonly status = h('div', { class: 'compare-status', 'data-testid': 'compare-status', role: 'status' });
  private readonly methodPicker = methodSelect({ 'data-testid': 'compare-method', 'aria-label': 'Method' });
  private readonly cancelButton = h('button', { type: 'button', class: 'compare-add', 'data-testid': 'compare-cancel', hidden: true }, 'Cancel');
  private readonly sharedToggle = h('input', { type: 'checkbox', id: 'shared-scale', 'data-testid': 'shared-scale' });
  private readonly contrastToggle = h('input', { type: 'checkbox', id: 'contrast', 'data-testid': 'contrast-toggle' });
  private readonly contrastA = h('select', { 'data-testid': 'contrast-a', 'aria-label': 'Class A' });
  private readonly contrastB = h('select', { 'data-testid': 'contrast-b', 'aria-label': 'Class B' });
  private readonly chips = h('div', { class: 'compare-chips', 'data-testid': 'compare-classes', role: 'group', 'aria-label': 'Compared classes' });
  private readonly addClass = h('select', { 'data-testid': 'add-class', 'aria-label': 'Class to add' });
  private readonly addButton = h('button', { type: 'button', class: 'compare-add', 'data-testid': 'add-class-button' }, 'Add');
  private readonly scaleNote = h('div', { class: 'compare-scale-note', 'data-testid': 'scale-note' });
  private readonly body = h('div', { class: 'compare-body' });
  private readonly emptyNote = h('div', { class: 'compare-empty', 'data-testid': 'compare-empty', role: 'status' });

  constructor(root: HTMLElement) {
    this.methodPicker.addEventListener('change', () => isMethodName(this.methodPicker.value) && this.setMethod(this.methodPicker.value));
    this.cancelButton.addEventListener('click', () => send({ type: 'cancel', requestId: this.latestRequest }));
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
      clearTimeout(this.pairTimer);
      this.pairTimer = setTimeout(() => {
        this.pair = [Number(this.contrastA.value), Number(this.contrastB.value)];
        if (this.contrastToggle.checked) this.request();
      }, PAIR_SETTLE_MS);
    };
    this.contrastA.addEventListener('change', onPair);
    this.contrastB.addEventListener('change', onPair);
    this.addButton.addEventListener('click', () => this.addChosenClass());
    this.grid.onSelect = (c) => this.subject && send({ type: 'selectClass', classIndex: c, imagePath: this.subject.imagePath });
    this.grid.setImage(this.image);
    this.image.addEventListener('load', () => this.render());

    replaceChildren(this.body,
      h('div', { class: 'compare-toolbar', role: 'toolbar', 'aria-label': 'Compare options' },
        this.methodPicker,
        h('label', { class: 'check', for: 'shared-scale', title: 'All class maps normalized together, so intensities compare across classes' },
          this.sharedToggle, 'Shared scale'),
        h('span', { class: 'compare-contrast-controls' },
          h('label', { class: 'check', for: 'contrast', title: 'Map of S_A − S_B: where the evidence for A over B lies' }, this.contrastToggle, 'Contrast'),
          this.contrastA, h('span', { class: 'muted' }, 'vs'), this.contrastB)),
      h('div', { class: 'compare-classes-row' }, this.chips, this.addClass, this.addButton),
      h('div', { class: 'compare-legend', 'data-testid': 'compare-legend' }, this.scaleNote, this.colorbar.element),
      this.grid.element,
      h('div', { class: 'compare-status-row' }, this.status, this.cancelButton));
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
      case 'display':
        // The explain panel's colormap or opacity changed: redrawn here, nothing recomputed.
        this.applySettings(msg);
        return this.render();
      case 'refresh':
        return this.setSubject(msg.subject);
      case 'current':
        if (this.subject) {
          this.subject = { ...this.subject, classIndex: msg.classIndex };
          this.render();
        }
        return;
      case 'setClasses':
        this.classes = this.validClasses(msg.classes);
        return this.request();
      case 'empty':
        this.subject = undefined;
        this.result = undefined;
        this.grid.clear();
        this.body.hidden = true;
        this.emptyNote.hidden = false;
        this.emptyNote.textContent = msg.message;
        replaceChildren(this.title, 'Compare classes');
        replaceChildren(this.meta);
        return;
      case 'busy':
        return this.setStatus(msg.message, 'busy');
      case 'comparison':
        return this.onAnswer(msg.requestId, () => this.onComparison(msg.result));
      case 'progress':
        if (msg.requestId === this.latestRequest && this.inFlight) this.showProgress(msg.progress);
        return;
      case 'error':
        if (msg.requestId === undefined) return this.setStatus(msg.message, 'error');
        return this.onAnswer(msg.requestId, () => this.setStatus(msg.message, 'error'));
    }
  }

  /** An answer ends the request in flight; the latest one is shown, and what was asked for meanwhile is sent. */
  private onAnswer(requestId: number, show: () => void): void {
    if (requestId !== this.latestRequest) return;
    this.inFlight = false;
    this.cancelButton.hidden = true;
    show();
    if (this.wanted) {
      this.wanted = false;
      this.request();
    }
  }

  private applySettings(settings: Pick<PanelSettings, 'colormap' | 'opacity'>): void {
    if (isColormapName(settings.colormap)) this.colormap = settings.colormap;
    this.opacity = settings.opacity;
  }

  /** Classes valid for the current model, at most MAX_CLASSES, without repeats. */
  private validClasses(classes: number[]): number[] | undefined {
    const n = this.subject?.model.numClasses ?? 0;
    const valid = [...new Set(classes.filter((c) => Number.isInteger(c) && c >= 0 && c < n))].slice(0, MAX_CLASSES);
    return valid.length ? valid : undefined;
  }

  private setSubject(subject: CompareSubject): void {
    const imageChanged = this.subject?.imageUri !== subject.imageUri;
    this.subject = subject;
    this.emptyNote.hidden = true;
    this.body.hidden = false;
    replaceChildren(this.title, subject.imageName);
    const model = subject.model.path.split(/[\\/]/).slice(-2).join('/');
    replaceChildren(this.meta, `${model} · ${subject.model.numClasses} classes`);
    // A reloaded model may have fewer classes: keep what still exists.
    if (this.classes) this.classes = this.validClasses(this.classes);
    if (this.pair && !this.pair.every((c) => c < subject.model.numClasses)) this.pair = undefined;
    this.renderMethod();
    if (imageChanged) this.image.src = subject.imageUri;
    this.request();
  }

  /** The method shown: the saved one, unless the model cannot run it (then the first that it can, not saved). */
  private get method(): MethodName {
    return [this.saved.method, ...DEFAULT_METHODS, ...METHOD_NAMES].find((m) => !whyUnavailable(m, this.subject)) ?? this.saved.method;
  }

  private setMethod(method: MethodName): void {
    if (method === this.method) return;
    this.persist({ method });
    this.renderMethod();
    this.request();
  }

  private renderMethod(): void {
    markUnavailable(this.methodPicker, this.subject);
    this.methodPicker.value = this.method;
    this.methodPicker.title = methodSpec(this.method).shows;
  }

  private addChosenClass(): void {
    const c = Number(this.addClass.value);
    if (this.addClass.value === '' || !this.classes || this.classes.includes(c) || this.classes.length >= MAX_CLASSES) return;
    this.classes = [...this.classes, c];
    this.request();
  }

  private removeClass(c: number): void {
    if (!this.classes || this.classes.length <= MIN_CLASSES) return;
    this.classes = this.classes.filter((k) => k !== c);
    this.request();
  }

  private request(): void {
    const subject = this.subject;
    if (!subject) return;
    if (this.inFlight) {
      this.wanted = true;
      return;
    }
    const method = this.method;
    this.requestedOptions = optionsFor(method, subject);
    const request: CompareRequest = { method, options: this.requestedOptions, classes: this.classes };
    const layer = layerFor(method, subject);
    if (layer) request.layer = layer;
    if (this.contrastToggle.checked) {
      const pair = this.pair;
      if (!pair) request.contrast = 'top2';
      else if (pair[0] !== pair[1]) request.contrast = pair;
    }
    const requestId = ++this.latestRequest;
    this.inFlight = true;
    this.cancelButton.hidden = false;
    this.setStatus(`Computing ${methodSpec(method).label}…`, 'busy');
    send({ type: 'compare', requestId, request, imagePath: subject.imagePath, modelPath: subject.model.path });
  }

  private onComparison(result: ComparisonMsg): void {
    this.ranked = result.ranked;
    this.result = decodeComparison(result, this.requestedOptions);
    this.classes = this.result.classes;
    if (result.contrast) this.pair = result.contrast.classes;
    else if (!this.pair && this.ranked.length >= 2) this.pair = [this.ranked[0].index, this.ranked[1].index];
    const maps = result.maps.length + (result.contrast ? 1 : 0);
    const spec = methodSpec(result.method);
    const spatialLayers = this.subject?.model.spatialLayers.map((l) => l.name) ?? [];
    const where = spec.target === 'layer' && result.layer ? ` at ${layerLabel(result.layer, spatialLayers)}` : '';
    const samePair = this.contrastToggle.checked && this.pair && this.pair[0] === this.pair[1];
    this.setStatus(samePair ? 'Pick two different classes for the contrast.'
      : `${maps} ${spec.label} maps${where} in ${Math.round(result.timings.total ?? 0)} ms from one forward pass`, samePair ? 'error' : 'info');
    this.renderPickers();
    this.render();
  }

  private showProgress(p: EngineProgressMsg): void {
    this.setStatus(`Computing… ${progressText(p)}`, 'busy');
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
    const full = classes.length >= MAX_CLASSES;
    replaceChildren(this.addClass,
      h('option', { value: '' }, full ? `At most ${MAX_CLASSES} classes` : 'Class to add…'),
      ...byRank.filter((c) => !classes.includes(c)).map(option));
    this.addClass.disabled = full;
    this.addButton.disabled = full;
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
    const contrastNote = result.contrast
      ? ` The contrast tile has its own scale${result.contrast.map.signed ? ' (signed: above 0 favours A, below 0 favours B)' : ' (0: no evidence for A over B)'}.`
      : '';
    this.scaleNote.textContent = (shared
      ? `Shared scale: all ${result.maps.length} class maps span the same range, so brighter means more evidence across classes.`
      : 'Per-map scale: each tile spans its own range; compare shapes, not intensities, across classes.') + contrastNote;
    this.scaleNote.dataset.scale = shared ? 'shared' : 'per-map';
    const entries: ColorbarEntry[] = shared && range
      ? [{ label: 'all classes', min: range.min, max: range.max }]
      : result.maps.map((m, i) => ({ label: this.labelOf(result.classes[i]), min: m.min, max: m.max, clip: m.display.clip }));
    if (result.contrast) {
      const [a, b] = result.contrast.classes;
      entries.push({ label: `${this.labelOf(a)} vs ${this.labelOf(b)}`, min: result.contrast.map.min, max: result.contrast.map.max });
    }
    this.colorbar.update(entries, this.colormap);
  }

  /** Status under the grid, or in the note that stands in for the grid while there is none. */
  private setStatus(text: string, kind: 'busy' | 'error' | 'info'): void {
    const target = this.body.hidden ? this.emptyNote : this.status;
    if (this.body.hidden && kind === 'info') return;
    target.textContent = text;
    target.dataset.kind = kind;
  }
}

mountView((root) => new CompareView(root));
