/**
 * Methods view webview: for the explain panel's image, class and layer, one tile per chosen attribution
 * method. Protocol: `ready` → `subject` (again on every change) → one `explain` request per method, in
 * registry order, one at a time, each answered by `explanation` or `error` (with `progress` meanwhile);
 * `cancel` stops the one in flight and leaves the rest uncomputed; clicking a drawn tile sends `selectMethod`.
 * Results are cached by everything a map depends on, so nothing is computed twice.
 */
import type { CompareSubject, HostToMethods, MethodsToHost, MethodTileStatus, PanelSettings } from '../src/shared/protocol';
import { isColormapName, type ColormapName } from '../src/shared/colormaps';
import { isMethodName, METHOD_NAMES, methodSpec, type MethodName, type MethodOptions } from '../src/shared/methods';
import { h, mountView, optionLabel, replaceChildren } from './dom';
import { loadState, post, saveState } from './vscodeApi';
import { layerFor, optionsFor, progressText, whyUnavailable } from './methodCall';
import { MethodChecklist } from './methodChecklist';
import { methodResult, ResultCache, resultKey } from './methodResults';
import { MethodGrid, type MethodTileView } from './methodTiles';

/** Shown until the user chooses: the fast methods of each family, and two that show what perturbation costs. */
const DEFAULT_CHOICE: readonly MethodName[] = ['saliency', 'gradxinput', 'smoothgrad', 'ig', 'gradcam', 'gradcam++', 'hirescam', 'scorecam', 'occlusion'];

interface SavedMethodsState {
  methods: MethodName[];
}

function parseSaved(raw: unknown): SavedMethodsState {
  const s = (raw ?? {}) as Partial<SavedMethodsState>;
  const methods = Array.isArray(s.methods) ? s.methods.filter((m): m is MethodName => typeof m === 'string' && isMethodName(m)) : undefined;
  return { methods: methods ?? [...DEFAULT_CHOICE] };
}

const send = (m: MethodsToHost) => post<MethodsToHost>(m);

interface InFlight {
  requestId: number;
  method: MethodName;
  key: string;
  options: MethodOptions;
  cancelling: boolean;
}

class MethodsView {
  private saved = parseSaved(loadState());
  private subject?: CompareSubject;
  private colormap: ColormapName = 'jet';
  private opacity = 0.5;
  private readonly results = new ResultCache();
  /** Failures by result key (retried when the method is ticked again). */
  private readonly errors = new Map<string, { method: MethodName; message: string }>();
  /** Keys the user cancelled: left uncomputed until Compute. */
  private readonly cancelled = new Set<string>();
  private inFlight?: InFlight;
  private latestRequest = 0;
  private readonly image = new Image();

  private readonly checklist = new MethodChecklist();
  private readonly grid = new MethodGrid();
  private readonly title = h('div', { class: 'header-title' });
  private readonly meta = h('div', { class: 'header-meta', 'data-testid': 'methods-meta' });
  private readonly status = h('div', { class: 'compare-status', 'data-testid': 'methods-status', role: 'status' });
  private readonly cancelButton = h('button', { type: 'button', class: 'compare-add', 'data-testid': 'methods-cancel' }, 'Cancel');
  private readonly computeButton = h('button', { type: 'button', class: 'compare-add', 'data-testid': 'methods-compute' }, 'Compute');
  private readonly body = h('div', { class: 'compare-body' });
  private readonly emptyNote = h('div', { class: 'compare-empty', 'data-testid': 'methods-empty', role: 'status' });

  constructor(root: HTMLElement) {
    this.checklist.onToggle = (method, on) => this.toggle(method, on);
    this.grid.onSelect = (method, result) => this.subject && send({ type: 'selectMethod', method, options: result.options, imagePath: this.subject.imagePath });
    this.cancelButton.addEventListener('click', () => this.cancel());
    this.computeButton.addEventListener('click', () => this.computeCancelled());
    this.image.addEventListener('load', () => this.render());
    replaceChildren(this.body,
      this.checklist.element,
      h('p', { class: 'compare-scale-note', 'data-testid': 'methods-scale-note' },
        'Each tile is on its own scale: its lowest value to its highest, or for signed maps ±its largest magnitude with 0 in the middle. ' +
        'Compare where methods put the evidence, not how bright they are.'),
      this.grid.element,
      h('div', { class: 'compare-status-row' }, this.status, this.cancelButton, this.computeButton));
    replaceChildren(root, h('div', { class: 'app compare-app methods-app' },
      h('header', { class: 'header' }, h('div', { class: 'header-text' }, this.title, this.meta)),
      this.emptyNote, this.body));
    this.body.hidden = true;
    this.cancelButton.hidden = true;
    this.computeButton.hidden = true;
    this.emptyNote.textContent = 'Explain an image to compare attribution methods on it here.';
    this.checklist.update(this.saved.methods, undefined);
    window.addEventListener('message', (ev: MessageEvent) => this.onMessage(ev.data as HostToMethods));
    send({ type: 'ready' });
  }

  private onMessage(msg: HostToMethods): void {
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'subject':
        this.applySettings(msg.settings);
        return this.setSubject(msg.subject);
      case 'display':
        // The explain panel's colormap or opacity changed: redrawn here, nothing recomputed.
        this.applySettings(msg);
        return this.render();
      case 'refresh':
        return this.setSubject(msg.subject);
      case 'setMethods':
        return this.choose(msg.methods.filter(isMethodName));
      case 'empty':
        this.subject = undefined;
        this.grid.clear();
        this.body.hidden = true;
        this.emptyNote.hidden = false;
        this.emptyNote.textContent = msg.message;
        replaceChildren(this.title, 'Compare methods');
        replaceChildren(this.meta);
        return;
      case 'busy':
        return this.setStatus(msg.message, 'busy');
      case 'progress':
        if (this.inFlight?.requestId === msg.requestId) {
          this.grid.showProgress(this.inFlight.method, msg.progress);
          this.setStatus(`Computing ${this.position()}… ${progressText(msg.progress)}`, 'busy');
        }
        return;
      case 'explanation':
        return this.onAnswer(msg.requestId, (f) => {
          try {
            this.results.set(f.key, methodResult(msg.result, f.method, f.options));
          } catch (err) {
            this.errors.set(f.key, { method: f.method, message: (err as Error).message });
          }
        });
      case 'error':
        if (msg.requestId === undefined) return this.setStatus(msg.message, 'error');
        return this.onAnswer(msg.requestId, (f) => {
          if (f.cancelling) this.cancelled.add(f.key);
          else this.errors.set(f.key, { method: f.method, message: msg.message });
        });
    }
  }

  /** An answer ends the request in flight: record it, show it, send the next. */
  private onAnswer(requestId: number, record: (f: InFlight) => void): void {
    const f = this.inFlight;
    if (!f || f.requestId !== requestId) return;
    this.inFlight = undefined;
    record(f);
    this.render();
    this.next();
  }

  private applySettings(settings: Pick<PanelSettings, 'colormap' | 'opacity'>): void {
    if (isColormapName(settings.colormap)) this.colormap = settings.colormap;
    if (settings.opacity >= 0 && settings.opacity <= 1) this.opacity = settings.opacity;
  }

  private setSubject(subject: CompareSubject): void {
    const imageChanged = this.subject?.imageUri !== subject.imageUri;
    this.subject = subject;
    this.emptyNote.hidden = true;
    this.body.hidden = false;
    replaceChildren(this.title, subject.imageName);
    this.checklist.update(this.saved.methods, subject);
    if (imageChanged) this.image.src = subject.imageUri;
    this.render();
    this.next();
  }

  private persist(methods: MethodName[]): void {
    this.saved = { methods };
    saveState(this.saved);
  }

  private toggle(method: MethodName, on: boolean): void {
    const chosen = this.saved.methods.filter((m) => m !== method);
    // A method ticked again is retried where it failed.
    if (on) {
      chosen.push(method);
      for (const [key, e] of this.errors) if (e.method === method) this.errors.delete(key);
    }
    this.choose(chosen);
  }

  private choose(methods: MethodName[]): void {
    this.persist(METHOD_NAMES.filter((m) => methods.includes(m)));
    this.checklist.update(this.saved.methods, this.subject);
    this.render();
    this.next();
  }

  /** The tiles shown: the chosen methods the model can run, in registry order. */
  private shown(): MethodName[] {
    return METHOD_NAMES.filter((m) => this.saved.methods.includes(m) && !whyUnavailable(m, this.subject));
  }

  private tileOf(method: MethodName, subject: CompareSubject): MethodTileView {
    const key = resultKey(subject, method);
    const result = this.results.get(key);
    let status: MethodTileStatus = 'queued';
    if (result) status = 'drawn';
    else if (this.inFlight?.key === key) status = 'computing';
    else if (this.errors.has(key)) status = 'error';
    else if (this.cancelled.has(key)) status = 'cancelled';
    return { method, status, key, result, error: this.errors.get(key)?.message };
  }

  /** Sends the request for the first tile still waiting, unless one is in flight. */
  private next(): void {
    const subject = this.subject;
    if (!subject || this.inFlight) return this.renderStatus();
    const tile = this.shown().map((m) => this.tileOf(m, subject)).find((t) => t.status === 'queued');
    if (!tile) return this.renderStatus();
    const options = optionsFor(tile.method, subject);
    const requestId = ++this.latestRequest;
    this.inFlight = { requestId, method: tile.method, key: tile.key, options, cancelling: false };
    send({
      type: 'explain', requestId, imagePath: subject.imagePath, modelPath: subject.model.path,
      request: { methods: [tile.method], options: { [tile.method]: options }, classIndex: subject.classIndex, layer: layerFor(tile.method, subject) },
    });
    this.render();
    this.renderStatus();
  }

  /** Stops the request in flight and leaves the waiting tiles uncomputed; drawn tiles stay. */
  private cancel(): void {
    const subject = this.subject;
    if (!subject) return;
    for (const t of this.shown().map((m) => this.tileOf(m, subject))) if (t.status === 'queued') this.cancelled.add(t.key);
    if (this.inFlight && !this.inFlight.cancelling) {
      this.inFlight.cancelling = true;
      send({ type: 'cancel', requestId: this.inFlight.requestId });
    }
    this.render();
    this.renderStatus();
  }

  private computeCancelled(): void {
    const subject = this.subject;
    if (!subject) return;
    for (const m of this.shown()) this.cancelled.delete(resultKey(subject, m));
    this.render();
    this.next();
  }

  /** "3 of 9: Score-CAM" for the request in flight. */
  private position(): string {
    const f = this.inFlight;
    if (!f) return '';
    const shown = this.shown();
    const i = shown.indexOf(f.method);
    // A method unticked while it computes still finishes (and is cached), outside the count.
    return i < 0 ? methodSpec(f.method).label : `${i + 1} of ${shown.length}: ${methodSpec(f.method).label}`;
  }

  private renderStatus(): void {
    const subject = this.subject;
    if (!subject) return;
    const tiles = this.shown().map((m) => this.tileOf(m, subject));
    const count = (s: MethodTileStatus) => tiles.filter((t) => t.status === s).length;
    const waiting = count('queued') + count('computing');
    this.cancelButton.hidden = waiting === 0;
    this.computeButton.hidden = count('cancelled') === 0 || waiting > 0;
    if (this.inFlight) return this.setStatus(`Computing ${this.position()}…`, 'busy');
    const failed = count('error');
    const parts = [`${count('drawn')} of ${tiles.length} maps`];
    if (failed) parts.push(`${failed} failed`);
    if (count('cancelled')) parts.push(`${count('cancelled')} cancelled`);
    this.setStatus(tiles.length ? `${parts.join(', ')}.` : 'Tick the methods to compare.', failed ? 'error' : 'info');
  }

  private render(): void {
    const subject = this.subject;
    if (!subject) return;
    const tiles = this.shown().map((m) => this.tileOf(m, subject));
    const target = tiles.find((t) => t.result)?.result?.target;
    const classIndex = subject.classIndex ?? target?.index;
    const model = subject.model.path.split(/[\\/]/).slice(-2).join('/');
    const cls = classIndex === undefined ? 'top class' : `class ${optionLabel(classIndex, subject.model.labels[classIndex] ?? '')}`;
    replaceChildren(this.meta, `${model} · ${cls}${subject.layer ? ` · layer ${subject.layer}` : ''}`);
    // Drawn once the image has loaded (its load event renders again).
    if (!this.image.naturalWidth) return;
    this.grid.render(tiles, { image: this.image, colormap: this.colormap, opacity: this.opacity });
    send({ type: 'rendered', tiles: tiles.map((t) => ({ method: t.method, status: t.status, error: t.error })) });
  }

  private setStatus(text: string, kind: 'busy' | 'error' | 'info'): void {
    const target = this.body.hidden ? this.emptyNote : this.status;
    if (this.body.hidden && kind === 'info') return;
    target.textContent = text;
    target.dataset.kind = kind;
  }
}

mountView((root) => new MethodsView(root));
