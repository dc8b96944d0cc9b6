/**
 * Methods view webview: for the explain panel's image, class and layer, two tabs over the chosen attribution
 * methods. Maps: one tile per method. Trust: one row of trust measures per method, sortable, with the deletion
 * and insertion curves. Protocol: `ready` → `subject` (again on every change) → one request at a time for the
 * whole view, in registry order: on Maps `explain` for a map not cached (answered by `explanation` or `error`); on
 * Trust `evaluate` for the ticked measures a method lacks (answered by `evaluation`, which brings the map the
 * measures ran on, or `error`), and `explain` only for a row's thumbnail when no measure is missing; `progress`
 * meanwhile. `cancel` stops the one in flight and leaves the rest undone until Compute; Retry failed asks again
 * what failed. A request the subject or the tab moved on from is cancelled so the new queue goes on (its late
 * answer is still kept). Clicking a drawn tile or a row sends `selectMethod`; `setTab` chooses the tab (and the
 * measures). Only what the tab shows is computed; maps and measures are cached by everything they depend on, so
 * nothing is computed twice.
 */
import type {
  CompareSubject, EngineProgressMsg, ExplanationMsg, HostToMethods, MethodsTab, MethodsToHost, MethodTileStatus, PanelSettings,
} from '../src/shared/protocol';
import { isColormapName, type ColormapName } from '../src/shared/colormaps';
import { isMethodName, METHOD_NAMES, methodSpec, type MethodName, type MethodOptions } from '../src/shared/methods';
import { DEFAULT_MEASURES, isMeasure, MEASURE_SPECS, MEASURES, SCALARS, type Measure } from '../src/shared/measures';
import { h, mountView, optionLabel, replaceChildren } from './dom';
import { layerLabel } from '../src/shared/layerNames';
import { loadState, post, saveState } from './vscodeApi';
import { layerFor, optionsFor, progressText, whyUnavailable } from './methodCall';
import { MethodChecklist } from './methodChecklist';
import { methodResult, ResultCache, resultKey } from './methodResults';
import { MethodGrid, type MethodTileView } from './methodTiles';
import { NO_METHODS_NOTE, RETRY_LABEL, rowValues, sortName, sortRows, TrustTable, type TrustRowView, type TrustSort } from './trustTable';
import { TrustCurves } from './trustCurves';
import { EvaluationStore } from './trustResults';
import { trustRow } from './trustRows';

/**
 * Shown until the user chooses: the fast methods of each family, two that show what perturbation costs, and the
 * attention methods (tiles only for the models that can run them: vision transformers).
 */
const DEFAULT_CHOICE: readonly MethodName[] = ['saliency', 'gradxinput', 'smoothgrad', 'ig', 'gradcam', 'gradcam++', 'hirescam', 'scorecam', 'occlusion',
  'rollout', 'grad-rollout'];

interface SavedMethodsState {
  methods: MethodName[];
  tab: MethodsTab;
  /** The trust measures ticked, in MEASURES order. */
  measures: Measure[];
  /** The trust table's column sort (none: registry order). */
  sort?: TrustSort;
}

const inMeasureOrder = (measures: readonly string[]): Measure[] => MEASURES.filter((m) => measures.includes(m));

/** A saved state of any version (older ones had only `methods`): what it says that still holds, defaults for the rest. */
function parseSaved(raw: unknown): SavedMethodsState {
  const s = (raw && typeof raw === 'object' ? raw : {}) as Partial<Record<keyof SavedMethodsState, unknown>>;
  const methods = Array.isArray(s.methods) ? s.methods.filter((m): m is MethodName => typeof m === 'string' && isMethodName(m)) : undefined;
  const measures = Array.isArray(s.measures) ? inMeasureOrder(s.measures.filter((m): m is Measure => typeof m === 'string' && isMeasure(m))) : undefined;
  const sort = s.sort as Partial<TrustSort> | undefined;
  const sortValid = !!sort && SCALARS.some((c) => c.name === sort.by) && (sort.dir === 'asc' || sort.dir === 'desc');
  return {
    methods: methods ?? [...DEFAULT_CHOICE],
    tab: s.tab === 'trust' ? 'trust' : 'maps',
    measures: measures ?? [...DEFAULT_MEASURES],
    sort: sortValid ? (sort as TrustSort) : undefined,
  };
}

const send = (m: MethodsToHost) => post<MethodsToHost>(m);

interface InFlight {
  requestId: number;
  /** A map (`explain`) or trust measures (`evaluate`). */
  kind: 'map' | 'evaluate';
  method: MethodName;
  key: string;
  options: MethodOptions;
  /** The measures an `evaluate` asked for. */
  measures: Measure[];
  cancelling: boolean;
  progress?: EngineProgressMsg;
}

/** The next request the shown tab needs. */
type Job = { kind: 'map'; method: MethodName; key: string } | { kind: 'evaluate'; method: MethodName; key: string; measures: Measure[] };

const TAB_LABELS: Record<MethodsTab, string> = { maps: 'Maps', trust: 'Trust' };

class MethodsView {
  private saved = parseSaved(loadState());
  private subject?: CompareSubject;
  private colormap: ColormapName = 'jet';
  private opacity = 0.5;
  private readonly results = new ResultCache();
  /** Failures by result key (retried when the method is ticked again). */
  private readonly errors = new Map<string, { method: MethodName; message: string }>();
  /** Trust measures by the same keys, merged measure by measure. */
  private readonly evaluations = new EvaluationStore();
  /** The row last clicked (its curves drawn thicker). */
  private selected?: MethodName;
  /** Keys the user cancelled: left uncomputed (and unmeasured) until Compute. */
  private readonly cancelled = new Set<string>();
  private inFlight?: InFlight;
  /** Requests the subject or the tab moved on from (cancel sent): a late map or measure is still kept. */
  private readonly abandoned = new Map<number, InFlight>();
  /** The host said the subject changed: nothing is asked until it sends the new one. */
  private awaitingSubject = false;
  private latestRequest = 0;
  private readonly image = new Image();

  private readonly checklist = new MethodChecklist();
  private readonly grid = new MethodGrid();
  private readonly title = h('div', { class: 'header-title' });
  private readonly meta = h('div', { class: 'header-meta', 'data-testid': 'methods-meta' });
  private readonly status = h('div', { class: 'compare-status', 'data-testid': 'methods-status', role: 'status' });
  private readonly cancelButton = h('button', { type: 'button', class: 'compare-add', 'data-testid': 'methods-cancel' }, 'Cancel');
  private readonly computeButton = h('button', {
    type: 'button', class: 'compare-add', 'data-testid': 'methods-compute', title: 'Compute the maps and measures that were cancelled.',
  }, 'Compute');
  private readonly retryButton = h('button', {
    type: 'button', class: 'compare-add', 'data-testid': 'methods-retry', title: 'Ask again for the maps and measures that failed.',
  }, RETRY_LABEL);
  private readonly body = h('div', { class: 'compare-body' });
  private readonly emptyNote = h('div', { class: 'compare-empty', 'data-testid': 'methods-empty', role: 'status' });

  private readonly tabButtons = new Map<MethodsTab, HTMLButtonElement>();
  private readonly panels = new Map<MethodsTab, HTMLElement>();
  private readonly measureBoxes = new Map<Measure, HTMLInputElement>();
  private readonly table = new TrustTable();
  private readonly curves = new TrustCurves();

  constructor(root: HTMLElement) {
    this.checklist.onToggle = (method, on) => this.toggle(method, on);
    this.grid.onSelect = (method, result) => this.select(method, result.options);
    this.table.onSelect = (method) => this.select(method);
    this.table.onSort = (sort) => {
      this.persist({ sort });
      this.table.setSort(sort);
      this.render();
    };
    this.table.setSort(this.saved.sort);
    this.cancelButton.addEventListener('click', () => this.cancel());
    this.computeButton.addEventListener('click', () => this.computeCancelled());
    this.retryButton.addEventListener('click', () => this.retryFailed());
    this.image.addEventListener('load', () => this.render());
    this.panels.set('maps', h('div', { class: 'methods-panel' },
      h('p', { class: 'compare-scale-note', 'data-testid': 'methods-scale-note' },
        'Each tile is on its own scale: its lowest value to its highest, or for signed maps ±its largest magnitude with 0 in the middle. ' +
        'Compare where methods put the evidence, not how bright they are.'),
      this.grid.element));
    this.panels.set('trust', h('div', { class: 'methods-panel trust-panel' },
      this.measureChecklist(), this.table.element, this.curves.element));
    replaceChildren(this.body,
      this.checklist.element,
      this.tabList(),
      ...this.panels.values(),
      h('div', { class: 'compare-status-row' }, this.status, this.cancelButton, this.computeButton, this.retryButton));
    for (const [name, panel] of this.panels) {
      panel.id = `methods-panel-${name}`;
      panel.setAttribute('role', 'tabpanel');
      panel.setAttribute('aria-labelledby', `methods-tab-${name}`);
      panel.dataset.testid = `methods-panel-${name}`;
    }
    this.markTab(this.saved.tab);
    replaceChildren(root, h('div', { class: 'app compare-app methods-app' },
      h('header', { class: 'header' }, h('div', { class: 'header-text' }, this.title, this.meta)),
      this.emptyNote, this.body));
    this.body.hidden = true;
    this.cancelButton.hidden = true;
    this.computeButton.hidden = true;
    this.retryButton.hidden = true;
    this.emptyNote.textContent = 'Explain an image to compare attribution methods on it here.';
    this.checklist.update(this.saved.methods, undefined);
    this.tickMeasureBoxes();
    window.addEventListener('message', (ev: MessageEvent) => this.onMessage(ev.data as HostToMethods));
    send({ type: 'ready' });
  }

  private onMessage(msg: HostToMethods): void {
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'subject':
        this.applySettings(msg.settings);
        this.awaitingSubject = false;
        return this.setSubject(msg.subject);
      case 'display':
        // The explain panel's colormap or opacity changed: redrawn here, nothing recomputed.
        this.applySettings(msg);
        return this.render();
      case 'refresh':
        this.awaitingSubject = false;
        return this.setSubject(msg.subject);
      case 'setMethods':
        return this.choose(msg.methods.filter(isMethodName));
      case 'empty':
        this.awaitingSubject = false;
        this.subject = undefined;
        this.dropStale();
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
          this.inFlight.progress = msg.progress;
          if (this.inFlight.kind === 'map') this.grid.showProgress(this.inFlight.method, msg.progress);
          if (this.saved.tab === 'trust') this.table.showActivity(this.inFlight.method, this.busyText());
          this.setStatus(this.busyText(), 'busy');
        }
        return;
      case 'explanation':
        return this.onAnswer(msg.requestId, (f, stale) => {
          // An answer of the wrong kind ends the request as a failure, so it is not asked again and again.
          if (f.kind !== 'map') {
            if (!stale) this.evaluations.fail(f.key, f.method, 'The host answered the trust measures with a map.', f.measures);
            return;
          }
          this.storeMap(f, msg.result, stale);
        });
      case 'error':
        if (msg.requestId === undefined) return this.setStatus(msg.message, 'error');
        return this.onAnswer(msg.requestId, (f, stale) => {
          // A request for a subject gone is no failure of its method: the next subject's queue asks what it needs.
          if (stale) return;
          if (msg.stale) this.awaitingSubject = true;
          else if (f.cancelling) this.cancelled.add(f.key);
          else if (f.kind === 'map') this.errors.set(f.key, { method: f.method, message: msg.message });
          else this.evaluations.fail(f.key, f.method, msg.message, f.measures);
        });
      case 'evaluation':
        return this.onAnswer(msg.requestId, (f, stale) => {
          if (f.kind !== 'evaluate') {
            if (!stale) this.errors.set(f.key, { method: f.method, message: 'The host answered the map request with trust measures.' });
            return;
          }
          this.evaluations.merge(f.key, msg.result.evaluation, f.measures);
          // The map the measures ran on is the method's map: cached, so neither tab computes it again.
          this.storeMap(f, msg.result.explanation, stale);
        });
      case 'setTab':
        if (msg.measures) this.setMeasures(msg.measures.filter(isMeasure));
        return this.showTab(msg.tab === 'trust' ? 'trust' : 'maps');
    }
  }

  /** An answer ends the request in flight (or one abandoned: `stale`): record it, show it, send the next. */
  private onAnswer(requestId: number, record: (f: InFlight, stale: boolean) => void): void {
    const abandoned = this.abandoned.get(requestId);
    const f = abandoned ?? this.inFlight;
    if (!f || f.requestId !== requestId) return;
    if (abandoned) this.abandoned.delete(requestId);
    else this.inFlight = undefined;
    record(f, !!abandoned);
    this.render();
    this.next();
  }

  /** Caches the map of `f`'s method from an answer; a map missing from a current answer is that method's error. */
  private storeMap(f: InFlight, explanation: ExplanationMsg | undefined, stale: boolean): void {
    if (this.results.has(f.key) && f.kind === 'evaluate') return;
    try {
      if (!explanation) throw new Error(`The host answered without the ${methodSpec(f.method).label} map.`);
      this.results.set(f.key, methodResult(explanation, f.method, f.options));
    } catch (err) {
      if (!stale) this.errors.set(f.key, { method: f.method, message: (err as Error).message });
    }
  }

  /**
   * The request in flight when the subject or the tab moved on from it: cancelled, without marking anything
   * cancelled (it is asked again when wanted), so that the new subject's or tab's queue goes on now.
   */
  private dropStale(): void {
    const f = this.inFlight;
    if (!f || (this.subject && this.stillWanted(f, this.subject))) return;
    this.inFlight = undefined;
    this.abandoned.set(f.requestId, f);
    // The host answers every request, cancelled or not; a bound all the same, should some answer never come.
    if (this.abandoned.size > 32) this.abandoned.delete(this.abandoned.keys().next().value!);
    if (!f.cancelling) send({ type: 'cancel', requestId: f.requestId });
  }

  /** Whether the shown subject and tab still want `f`: a shown method's key; on Maps, an evaluation only for its map or when nothing else waits. */
  private stillWanted(f: InFlight, subject: CompareSubject): boolean {
    if (!this.shown().some((m) => resultKey(subject, m) === f.key)) return false;
    if (this.saved.tab === 'maps' && f.kind === 'evaluate' && this.results.has(f.key)) return !this.nextJob(subject);
    return true;
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
    this.dropStale();
    this.render();
    this.next();
  }

  private persist(change: Partial<SavedMethodsState>): void {
    this.saved = { ...this.saved, ...change };
    saveState(this.saved);
  }

  /** The Maps / Trust tab bar (arrow keys move between the tabs, as for any tab list). */
  private tabList(): HTMLElement {
    const list = h('div', { class: 'methods-tabs', role: 'tablist', 'aria-label': 'Show', 'data-testid': 'methods-tabs' });
    for (const tab of ['maps', 'trust'] as const) {
      const button = h('button', {
        type: 'button', role: 'tab', class: 'methods-tab', id: `methods-tab-${tab}`, 'aria-controls': `methods-panel-${tab}`,
        'data-testid': `methods-tab-${tab}`, 'data-tab': tab,
      }, TAB_LABELS[tab]);
      button.addEventListener('click', () => this.showTab(tab));
      button.addEventListener('keydown', (ev) => {
        if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') return;
        ev.preventDefault();
        const other = tab === 'maps' ? 'trust' : 'maps';
        this.showTab(other);
        this.tabButtons.get(other)?.focus();
      });
      this.tabButtons.set(tab, button);
      list.append(button);
    }
    return list;
  }

  /** Shows `tab`, keeps it, and asks for what it shows. */
  private showTab(tab: MethodsTab): void {
    this.persist({ tab });
    this.markTab(tab);
    if (this.subject) this.dropStale();
    this.render();
    // The Trust tab posts its own render; the Maps tab says it is showing too (the host waits for it).
    if (tab === 'maps' || !this.subject) this.postTrust(this.subject ? this.trustRows(this.subject) : []);
    this.next();
  }

  /** Selects `tab`'s button and shows its panel only. */
  private markTab(tab: MethodsTab): void {
    for (const [name, button] of this.tabButtons) {
      const on = name === tab;
      button.setAttribute('aria-selected', String(on));
      button.tabIndex = on ? 0 : -1;
      button.classList.toggle('active', on);
      this.panels.get(name)!.hidden = !on;
    }
  }

  /** One checkbox per trust measure, labelled as everywhere else (MEASURE_SPECS), with what it runs as its tooltip. */
  private measureChecklist(): HTMLElement {
    return h('fieldset', { class: 'trust-measures', 'data-testid': 'trust-measures' }, h('legend', {}, 'Measures'),
      ...MEASURES.map((m) => {
        const box = h('input', { type: 'checkbox', id: `measure-${m}`, 'data-measure': m });
        box.addEventListener('change', () => {
          this.setMeasures(box.checked ? [...this.saved.measures, m] : this.saved.measures.filter((x) => x !== m));
          this.render();
          this.next();
        });
        this.measureBoxes.set(m, box);
        return h('label', { class: 'check', for: `measure-${m}`, title: MEASURE_SPECS[m].runs }, box, MEASURE_SPECS[m].label);
      }));
  }

  private setMeasures(measures: Measure[]): void {
    this.persist({ measures: inMeasureOrder(measures) });
    this.tickMeasureBoxes();
  }

  private tickMeasureBoxes(): void {
    for (const [m, box] of this.measureBoxes) box.checked = this.saved.measures.includes(m);
  }

  /** A tile or row was clicked: the explain panel shows that map. */
  private select(method: MethodName, options?: MethodOptions): void {
    const subject = this.subject;
    if (!subject) return;
    this.selected = method;
    send({ type: 'selectMethod', method, options: options ?? this.results.get(resultKey(subject, method))?.options ?? optionsFor(method, subject), imagePath: subject.imagePath });
    if (this.saved.tab === 'trust') this.renderTrust();
  }

  private toggle(method: MethodName, on: boolean): void {
    const chosen = this.saved.methods.filter((m) => m !== method);
    // A method ticked again is retried where it failed.
    if (on) {
      chosen.push(method);
      for (const [key, e] of this.errors) if (e.method === method) this.errors.delete(key);
      this.evaluations.retry(method);
    }
    this.choose(chosen);
  }

  private choose(methods: MethodName[]): void {
    this.persist({ methods: METHOD_NAMES.filter((m) => methods.includes(m)) });
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

  /**
   * The shown tab's next request: on Maps the first tile without its map; on Trust, row by row, the ticked measures
   * a row has neither a number nor an error for (the answer brings its map too), else its map if not cached (the
   * thumbnail: no measure ticked, or all of them failed).
   */
  private nextJob(subject: CompareSubject): Job | undefined {
    if (this.saved.tab === 'maps') {
      const tile = this.shown().map((m) => this.tileOf(m, subject)).find((t) => t.status === 'queued');
      return tile && { kind: 'map', method: tile.method, key: tile.key };
    }
    for (const method of this.shown()) {
      const key = resultKey(subject, method);
      if (this.cancelled.has(key) || this.errors.has(key)) continue;
      const measures = this.evaluations.missing(key, this.saved.measures);
      if (measures.length) return { kind: 'evaluate', method, key, measures };
      if (!this.results.has(key)) return { kind: 'map', method, key };
    }
    return undefined;
  }

  /** Sends the shown tab's next request, unless one is in flight (one at a time for the whole view). */
  private next(): void {
    const subject = this.subject;
    if (!subject || this.inFlight || this.awaitingSubject) return this.renderStatus();
    const job = this.nextJob(subject);
    if (!job) return this.renderStatus();
    const { method, key } = job;
    const options = optionsFor(method, subject);
    const requestId = ++this.latestRequest;
    const measures = job.kind === 'evaluate' ? job.measures : [];
    this.inFlight = { requestId, kind: job.kind, method, key, options, measures, cancelling: false };
    const target = { imagePath: subject.imagePath, modelPath: subject.model.path };
    const layer = layerFor(method, subject);
    if (job.kind === 'map') {
      send({ type: 'explain', requestId, ...target, request: { methods: [method], options: { [method]: options }, classIndex: subject.classIndex, layer } });
    } else {
      send({ type: 'evaluate', requestId, ...target, request: { method, options, classIndex: subject.classIndex, layer, measures, seed: 0 } });
    }
    this.render();
    this.renderStatus();
  }

  /** Stops the request in flight and leaves what waits undone (until Compute); drawn tiles and measured rows stay. */
  private cancel(): void {
    const subject = this.subject;
    if (!subject) return;
    const waiting = this.saved.tab === 'maps'
      ? this.shown().map((m) => this.tileOf(m, subject)).filter((t) => t.status === 'queued').map((t) => t.key)
      : this.trustRows(subject).filter((r) => r.status === 'queued').map((r) => r.key);
    for (const key of waiting) this.cancelled.add(key);
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

  /** Forgets what failed for the shown methods (maps, and measures whose request failed), so it is asked again. */
  private retryFailed(): void {
    const subject = this.subject;
    if (!subject) return;
    const keys = this.shown().map((m) => resultKey(subject, m));
    for (const key of keys) this.errors.delete(key);
    this.evaluations.retryKeys(keys);
    this.render();
    this.next();
  }

  /**
   * What the request in flight is doing: "Computing 3 of 9: Score-CAM… RISE: 1,200 of 4,000 model inputs",
   * "Measuring 2 of 9: SmoothGrad — Randomization (3 of 3 measures) · 4 of 12 steps".
   */
  private busyText(): string {
    const f = this.inFlight;
    if (!f) return '';
    const p = f.progress;
    if (f.kind === 'map') return `Computing ${this.position()}…${p ? ` ${progressText(p)}` : ''}`;
    if (!p?.measure) return `Measuring ${this.position()}…`;
    // `done` counts the measures finished: the one running is the next.
    const step = p.step ? ` · ${p.step.done.toLocaleString('en-US')} of ${p.step.total.toLocaleString('en-US')} steps` : '';
    return `Measuring ${this.position()} — ${MEASURE_SPECS[p.measure].label} (${Math.min(p.done + 1, p.total)} of ${p.total} measures)${step}`;
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
    if (this.saved.tab === 'trust') return this.renderTrustStatus(subject);
    const tiles = this.shown().map((m) => this.tileOf(m, subject));
    const count = (s: MethodTileStatus) => tiles.filter((t) => t.status === s).length;
    const waiting = count('queued') + count('computing');
    const failed = count('error');
    // A request in flight can be cancelled even when no tile waits for it (the Trust tab's measures, an unticked method).
    this.showButtons(waiting > 0 || !!this.inFlight, count('cancelled') > 0, failed > 0);
    if (this.inFlight) return this.setStatus(this.busyText(), 'busy');
    const parts = [`${count('drawn')} of ${tiles.length} maps`];
    if (failed) parts.push(`${failed} failed`);
    if (count('cancelled')) parts.push(`${count('cancelled')} cancelled`);
    this.setStatus(tiles.length ? `${parts.join(', ')}.` : 'Tick the methods to compare.', failed ? 'error' : 'info');
  }

  private renderTrustStatus(subject: CompareSubject): void {
    const rows = this.trustRows(subject);
    const count = (s: TrustRowView['status']) => rows.filter((r) => r.status === s).length;
    const waiting = count('queued') + count('computing') + count('measuring');
    const failed = count('error');
    this.showButtons(waiting > 0 || !!this.inFlight, count('cancelled') > 0, rows.some((r) => r.status === 'error' || r.retriable?.length));
    if (this.inFlight) return this.setStatus(this.busyText(), 'busy');
    if (!rows.length) return this.setStatus(NO_METHODS_NOTE, 'info');
    if (!this.saved.measures.length) return this.setStatus('Tick the measures to take on each map.', 'info');
    const parts = [`${count('measured')} of ${rows.length} methods measured`];
    if (failed) parts.push(`${failed} failed`);
    if (count('cancelled')) parts.push(`${count('cancelled')} cancelled`);
    this.setStatus(`${parts.join(', ')}.`, failed ? 'error' : 'info');
  }

  /** Cancel while something waits; else Compute for what was cancelled, Retry failed for what failed. */
  private showButtons(waiting: boolean, cancelled: boolean, failed: boolean): void {
    this.cancelButton.hidden = !waiting;
    this.computeButton.hidden = waiting || !cancelled;
    this.retryButton.hidden = waiting || !failed;
  }

  /** A row of the trust table: where its map and measures stand (trustRows.ts decides), and what it shows. */
  private trustRowOf(method: MethodName, subject: CompareSubject, index: number): TrustRowView {
    const key = resultKey(subject, method);
    const f = this.inFlight?.key === key ? this.inFlight : undefined;
    return trustRow({
      method, index, key, result: this.results.get(key), mapError: this.errors.get(key)?.message, evaluations: this.evaluations,
      ticked: this.saved.measures, inFlight: f?.kind, busy: f ? this.busyText() : '', cancelled: this.cancelled.has(key),
    });
  }

  private trustRows(subject: CompareSubject): TrustRowView[] {
    return this.shown().map((m, i) => this.trustRowOf(m, subject, i));
  }

  /** Draws the trust table and its curves, then tells the host what they show. */
  private renderTrust(): void {
    const subject = this.subject;
    if (!subject) return this.postTrust([]);
    const rows = this.trustRows(subject);
    const shown = this.table.render(rows, this.selected, { image: this.image, colormap: this.colormap, opacity: this.opacity });
    this.curves.update(rows.map((r) => ({
      method: r.method, label: methodSpec(r.method).label, color: r.color, deletion: r.evaluation?.deletion, insertion: r.evaluation?.insertion,
    })), this.selected);
    this.postTrust(shown);
  }

  private postTrust(rows: TrustRowView[]): void {
    const ordered = sortRows(rows, this.saved.sort);
    send({
      type: 'renderedTrust',
      tab: this.saved.tab,
      rows: ordered.map((r) => ({
        method: r.method, status: r.status, values: rowValues(r.evaluation),
        ...(Object.keys(r.errors).length ? { errors: r.errors } : {}),
        ...(r.evaluation?.randomization?.insensitive ? { insensitive: true } : {}),
      })),
      sortedBy: sortName(this.saved.sort),
      selected: this.selected,
      curves: this.curves.lines,
    });
  }

  private render(): void {
    const subject = this.subject;
    if (!subject) return;
    const tiles = this.shown().map((m) => this.tileOf(m, subject));
    const target = tiles.find((t) => t.result)?.result?.target;
    const classIndex = subject.classIndex ?? target?.index;
    const model = subject.model.path.split(/[\\/]/).slice(-2).join('/');
    const cls = classIndex === undefined ? 'top class' : `class ${optionLabel(classIndex, subject.model.labels[classIndex] ?? '')}`;
    const spatialLayers = subject.model.spatialLayers.map((l) => l.name);
    replaceChildren(this.meta, `${model} · ${cls}${subject.layer ? ` · layer ${layerLabel(subject.layer, spatialLayers)}` : ''}`);
    if (this.saved.tab === 'trust') this.renderTrust();
    // Drawn once the image has loaded (its load event renders again).
    if (!this.image.naturalWidth) return;
    this.grid.render(tiles, { image: this.image, colormap: this.colormap, opacity: this.opacity, spatialLayers });
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
