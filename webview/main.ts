/**
 * Explain panel webview: entry point. Wires the UI modules to the host protocol
 * (src/shared/protocol.ts): `ready` → `init` → `explain` requests answered by `explanation`/`error`
 * (with `progress` while a long method runs, `cancelled` after Cancel).
 * Every method, family and option comes from the registry (src/shared/methods.ts). Only the maps in view
 * are requested, each keyed by method, options, class and layer; colouring, opacity and going back to a
 * cached map are local.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
// The input inspector's toggle.
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import { isMethodName, isSinglePass, METHOD_NAMES, methodSpec, resolveOptions, type MethodName, type MethodOptions } from '../src/shared/methods';
import { unavailableReason } from '../src/shared/methodAvailability';
import { float32ToBase64 } from '../src/shared/protocol';
import { backendText, modelName } from '../src/shared/modelText';
import { layerLabel } from '../src/shared/layerNames';
import type { ExplainPartial, ExplainRequest, ExplanationMsg, HostToWebview, ModelInfoMsg, PredictionMsg, WebviewToHost } from '../src/shared/protocol';
import { formatPercent, formatValue, h, mountView, optionLabel, replaceChildren } from './dom';
import { post, loadState, saveState } from './vscodeApi';
import {
  changedOptions, isViewMode, optionsOf, parseSavedState, resolveState, savedImagePath, shownMethods, withView, type PanelState,
} from './state';
import { cacheKey, MapCache, withDisplay, type AnswerContext, type CacheEntry, type DecodedMap, type MethodCall } from './mapStore';
import { paintHeatmap, valueAt } from './heatmap';
import { OUTSIDE_REGION_TEXT } from '../src/shared/placement';
import { showRegion, Stage } from './stage';
import { Controls } from './controls';
import { ClassPicker } from './classPicker';
import { Colorbar, statsNote, type ColorbarEntry } from './colorbar';
import { StatusArea } from './status';
import { exportName, renderExportPng } from './exporter';
import type { LegendContent } from './legendStrip';
import { InputInspector } from './inputInspector';
import { MethodSlot } from './methodPicker';
import { installClassKeys } from './keyboard';

interface Pending {
  classIndex?: number;
  layer: string;
  calls: MethodCall[];
  /** The calls' cache keys with the class as asked (undefined = 'top'): what is in flight. */
  keys: string[];
  /** Known once the predictions arrived, ahead of the maps. */
  answer?: AnswerContext;
  /** Methods whose maps arrived ahead of the answer (already stored and drawn). */
  arrived: Set<MethodName>;
}

/** Why a map in view is not there: its request failed (until the user changes something) or was cancelled. */
type Outcome = { kind: 'failed'; message: string } | { kind: 'cancelled' };

/** Delay before a local "Computing…" shows, so cached or fast answers do not flicker. */
const BUSY_DELAY_MS = 150;

class ExplainPanel {
  private saved = parseSavedState(loadState());
  private imagePath = savedImagePath(loadState());
  private state: PanelState = resolveState(this.saved);
  private model: ModelInfoMsg | undefined;
  private imageName = '';
  private imageReady = false;
  private predictions: PredictionMsg[] = [];
  private topIndex: number | undefined;
  private classInfo = new Map<number, PredictionMsg>();
  private cache = new MapCache();
  /** Maps of the model version before the last on-disk update, and whether they are shown instead. */
  private previous?: MapCache;
  private showingPrevious = false;
  private readonly inspector = new InputInspector({
    show: () => this.send({ type: 'modelInput' }),
    preset: (preset) => this.send({ type: 'setPreprocessing', preset }),
  });
  private readonly updateText = h('span', { class: 'model-updated-text' });
  private readonly previousButton = h('button', { class: 'link-button', 'data-testid': 'show-previous', type: 'button' }, 'Show previous');
  private readonly updateBanner = h('div', { class: 'model-updated', 'data-testid': 'model-updated', role: 'status' }, this.updateText, this.previousButton);
  private pending = new Map<number, Pending>();
  private outcomes = new Map<string, Outcome>();
  /** Calls whose request together with others failed: asked for alone, so one method's failure hides no other map. */
  private solo = new Set<string>();
  private nextRequestId = 1;
  private hostBusy: string | undefined;
  private busyTimer: ReturnType<typeof setTimeout> | undefined;
  private busyShown = false;
  /** The latest progress of a running request. */
  private progress?: { requestId: number; method: MethodName; done: number; total: number };
  /** A neutral word shown where progress was ("Cancelled."), until the next request. */
  private notice?: string;
  private hoverPos: { x: number; y: number } | null = null;
  /** Pictures asked to load so far: only the latest is shown. */
  private imageLoads = 0;

  private stage = new Stage();
  private controls: Controls;
  private slots: MethodSlot[];
  private methodBar = h('div', { class: 'method-bar', role: 'group', 'aria-label': 'Methods' });
  private picker: ClassPicker;
  private colorbar = new Colorbar();
  private status: StatusArea;
  private header = h('div', { class: 'header-title' });
  private modelInfo = h('div', { class: 'header-meta' });
  /** Where the maps lie when the model's input covers only part of the image: "map covers: centre crop …". */
  private regionNote = h('div', { class: 'header-region', 'data-testid': 'map-covers', hidden: true });
  /** The sensitivity note: neighbouring preprocessing pipelines under which the top class differs. */
  private sensitivityNote = h('div', { class: 'sensitivity-note', 'data-testid': 'sensitivity-note', role: 'status', hidden: true });
  private hoverReadout = h('div', { class: 'hover-readout', 'data-testid': 'hover-readout', 'aria-live': 'off' });
  private exportPngButton = h('vscode-button', { 'data-testid': 'export-png', secondary: true, title: 'Save the overlay as shown, same clip and gamma (at the image\'s size; a large image at its 2048 px display copy)' }, 'Export PNG');
  private exportLegendButton = h('vscode-button', { 'data-testid': 'export-png-legend', secondary: true, title: 'The overlay as shown with a legend under it: image, class, probability, method and colour bar' }, 'Export PNG with legend');
  private exportNpyButtons = h('span', { class: 'export-npy' });
  private compareButton = h('vscode-button', { 'data-testid': 'open-compare', secondary: true, title: 'Maps of several classes side by side, and the contrast of two' }, 'Compare classes');
  private compareMethodsButton = h('vscode-button', { 'data-testid': 'open-methods', secondary: true, title: 'One map per method for this image and class, with the time each took' }, 'Compare methods');
  private trustButton = h('vscode-button', { 'data-testid': 'open-trust', secondary: true, title: 'Which map to trust: deletion and insertion curves, ROAD and stability of each method\'s map, in a sortable table' }, 'Trust measures');

  constructor(root: HTMLElement) {
    this.controls = new Controls({
      layout: (layout) => this.update({ layout }),
      colormap: (colormap) => this.update({ colormap }),
      opacity: (opacity) => this.update({ opacity }),
      clip: (clip) => this.update({ clip }),
      gamma: (gamma) => this.update({ gamma }),
      layer: (layer) => this.update({ layer }),
    });
    this.slots = ['Method', 'Compare with'].map((label, i) => new MethodSlot(i, label, {
      pick: (method) => this.pickMethod(i, method),
      options: (method, options) => this.setOptions(i, method, options),
    }));
    this.methodBar.append(...this.slots.map((s) => s.element));
    this.picker = new ClassPicker((classIndex) => this.update({ classIndex }), (classIndex) => this.classInfo.get(classIndex));
    this.status = new StatusArea((action) => this.send({ type: 'action', action }), () => this.cancel());
    this.stage.onHover = (pos) => {
      this.hoverPos = pos;
      this.renderHover();
    };
    // Zoom and pan only move the panes: remembered, nothing recomputed or repainted.
    this.stage.onZoom = (zoom) => {
      this.state = { ...this.state, zoom };
      this.persist();
    };
    installClassKeys(document, { pickRank: (rank) => this.picker.pickRank(rank), step: (delta) => this.picker.step(delta) });
    this.exportPngButton.addEventListener('click', () => this.exportPng(false));
    this.exportLegendButton.addEventListener('click', () => this.exportPng(true));
    this.compareButton.addEventListener('click', () => this.send({ type: 'compare' }));
    this.compareMethodsButton.addEventListener('click', () => this.send({ type: 'compareMethods' }));
    this.trustButton.addEventListener('click', () => this.send({ type: 'measureTrust' }));
    this.updateBanner.hidden = true;
    this.previousButton.addEventListener('click', () => {
      this.showingPrevious = !this.showingPrevious;
      this.renderUpdateBanner();
      this.render();
    });

    replaceChildren(
      root,
      h('header', { class: 'header' }, h('div', { class: 'header-text' }, this.header, this.regionNote, this.modelInfo), this.status.busy,
        h('div', { class: 'header-actions' }, this.compareButton, this.compareMethodsButton, this.trustButton, this.exportPngButton, this.exportLegendButton, this.exportNpyButtons)),
      this.picker.element,
      this.sensitivityNote,
      this.methodBar,
      this.controls.element,
      this.inspector.element,
      this.updateBanner,
      this.status.banner,
      this.stage.element,
      h('footer', { class: 'footer' }, this.colorbar.element, this.hoverReadout),
    );
    this.applyStateToControls();
    this.applyView();
    this.renderHover();
    window.addEventListener('message', (ev: MessageEvent) => this.onMessage(ev.data as HostToWebview));
    this.send({ type: 'ready' });
  }

  // ---- messages ---------------------------------------------------------------------------------

  private send(msg: WebviewToHost): void {
    post(msg);
  }

  private onMessage(msg: HostToWebview): void {
    if (!msg || typeof msg !== 'object' || typeof (msg as { type?: unknown }).type !== 'string') return;
    switch (msg.type) {
      case 'init':
        void this.onInit(msg);
        break;
      case 'busy':
        this.hostBusy = msg.message || undefined;
        this.renderBusy();
        break;
      case 'partial':
        this.onPartial(msg.requestId, msg.partial);
        break;
      case 'explanation':
        this.onExplanation(msg.requestId, msg.result);
        break;
      case 'error':
        this.onError(msg.requestId, msg.message, msg.actions);
        break;
      case 'progress':
        if (this.pending.has(msg.requestId)) {
          this.progress = { requestId: msg.requestId, method: msg.method, done: msg.done, total: msg.total };
          this.renderBusy();
          this.renderProgressInPanes();
        }
        break;
      case 'cancelled':
        this.onCancelled(msg.requestId);
        break;
      case 'invalidate':
        void this.onInvalidate(msg.reason, msg.imageUri, realSizeOf(msg));
        break;
      case 'modelInput':
        this.inspector.show(msg.input);
        break;
      case 'modelUpdated':
        this.onModelUpdated(msg.time, msg.model);
        break;
      case 'labelsChanged':
        this.onLabelsChanged(msg.model);
        break;
      case 'image':
        void this.onImageOnly(msg.imageUri, msg.imageName, msg.imagePath, realSizeOf(msg));
        break;
      case 'setClass':
        if (this.model && msg.classIndex >= 0 && msg.classIndex < this.model.numClasses) this.update({ classIndex: msg.classIndex });
        break;
      case 'setLayer':
        this.onSetLayer(msg.layer);
        break;
      case 'showMethod':
        this.onShowMethod(msg.method, msg.options);
        break;
    }
  }

  private async onInit(msg: Extract<HostToWebview, { type: 'init' }>): Promise<void> {
    const { imageUri, imageName, model, settings, initial } = msg;
    this.model = model;
    this.inspector.setPreprocessing(model.preprocessing);
    if (this.inspector.visible) this.send({ type: 'modelInput' });
    this.imageName = imageName;
    if (msg.imagePath) this.imagePath = msg.imagePath;
    this.state = resolveState(this.saved, settings);
    // "Explain with…" choices override the remembered class and view, once.
    if (initial?.classIndex !== undefined) this.state.classIndex = initial.classIndex;
    if (initial?.view !== undefined && isViewMode(initial.view)) Object.assign(this.state, withView(this.state.methods, initial.view));
    // A remembered class or layer that this model does not have is dropped.
    if (this.state.classIndex !== undefined && this.state.classIndex >= model.numClasses) this.state.classIndex = undefined;
    if (this.state.layer && !model.spatialLayers.some((l) => l.name === this.state.layer)) this.state.layer = undefined;
    this.resetResults();
    this.status.clearError();
    this.hostBusy = undefined;
    this.renderHeader();
    this.showLabels(model.labels);
    this.picker.setPredictions([]);
    this.controls.setLayers(model.spatialLayers, model.defaultSpatialLayer, this.state.layer, model.defaultSpatialLayerReason);
    for (const slot of this.slots) slot.setModel(model);
    this.applyStateToControls();
    this.applyView();
    this.persist();
    // A colormap or opacity this panel kept from before (its own choice) is what the views beside it draw with.
    if (this.state.colormap !== settings.colormap || this.state.opacity !== settings.opacity) {
      this.send({ type: 'display', colormap: this.state.colormap, opacity: this.state.opacity });
    }
    await this.loadImage(imageUri, realSizeOf(msg));
    this.refresh();
  }

  /** Training wrote a new version: recompute what is shown, keep the old maps one click away. */
  private onModelUpdated(time: string, model: ModelInfoMsg): void {
    this.previous = this.cache;
    this.cache = new MapCache();
    this.pending.clear();
    this.outcomes.clear();
    this.model = model;
    // New labels (e.g. "Use ImageNet Class Names") must reach the search list, not only the chips.
    this.showLabels(model.labels);
    for (const slot of this.slots) slot.setModel(model);
    this.applyView();
    this.showingPrevious = false;
    this.updateText.textContent = `Model updated at ${time}.`;
    this.updateBanner.hidden = false;
    this.renderUpdateBanner();
    this.refresh();
  }

  /** The same model with new class names: the search list, chips and captions rename; the maps stay. */
  private onLabelsChanged(model: ModelInfoMsg): void {
    if (!this.model) return;
    this.model = model;
    const renamed = (p: PredictionMsg): PredictionMsg => ({ ...p, label: model.labels[p.index] ?? p.label });
    this.predictions = this.predictions.map(renamed);
    for (const [i, p] of this.classInfo) this.classInfo.set(i, renamed(p));
    this.showLabels(model.labels);
    this.picker.setPredictions(this.predictions);
    this.picker.setSelected(this.effectiveClass());
    this.render();
  }

  /** Every class name into the search list, and the host told which (it logs them; tests read them). */
  private showLabels(labels: string[]): void {
    this.picker.setLabels(labels);
    this.send({ type: 'labelsShown', count: labels.length, first: labels[0] ?? '', last: labels.at(-1) ?? '' });
  }

  /**
   * The image without a model (none chosen yet, or the chosen one did not load): shown as it is, with no maps,
   * preset or model info from a model that is not in use.
   */
  private async onImageOnly(imageUri: string, imageName: string, imagePath: string, realSize?: ImageSize): Promise<void> {
    this.model = undefined;
    this.resetResults();
    this.inspector.setPreprocessing(undefined);
    this.imageName = imageName;
    this.imagePath = imagePath;
    this.persist();
    this.renderHeader();
    this.render();
    await this.loadImage(imageUri, realSize);
  }

  /** A Methods view tile: that method in the first pane, with its options (kept only where they are valid). */
  private onShowMethod(method: MethodName, options: MethodOptions): void {
    if (!isMethodName(method)) return;
    let chosen: MethodOptions;
    try {
      chosen = changedOptions(methodSpec(method), resolveOptions(methodSpec(method), options));
    } catch {
      chosen = this.state.options[method] ?? {};
    }
    const methods: [MethodName, MethodName] = [method, this.state.methods[1] === method ? this.state.methods[0] : this.state.methods[1]];
    this.update({ methods, options: { ...this.state.options, [method]: chosen } });
    this.applyStateToControls();
  }

  /** The Model view's "Use for Grad-CAM": this layer for the CAMs, and Grad-CAM in view when no CAM is. */
  private onSetLayer(name: string): void {
    const model = this.model;
    if (!model?.spatialLayers.some((l) => l.name === name)) return;
    const layer = name === model.defaultSpatialLayer ? undefined : name;
    this.controls.setLayer(layer);
    const change: Partial<PanelState> = { layer };
    if (!shownMethods(this.state).some((m) => methodSpec(m).target === 'layer')) {
      Object.assign(change, { layout: 'side-by-side', methods: [this.state.methods[0], 'gradcam'] });
    }
    this.update(change);
  }

  private renderUpdateBanner(): void {
    this.previousButton.textContent = this.showingPrevious ? 'Show current' : 'Show previous';
    this.updateBanner.classList.toggle('showing-previous', this.showingPrevious);
  }

  /** Where shown maps come from: the current model's, or the previous version's while flipped. */
  private shownCache(): MapCache {
    return this.showingPrevious && this.previous ? this.previous : this.cache;
  }

  private async onInvalidate(reason: string, imageUri?: string, realSize?: ImageSize): Promise<void> {
    this.resetResults();
    this.status.clearError();
    if (reason) this.hostBusy = reason;
    this.renderBusy();
    if (imageUri) await this.loadImage(imageUri, realSize);
    this.refresh();
  }

  /** Ahead of the answer: the predictions (chips and class shown at once), then each map as it is ready. */
  private onPartial(requestId: number, partial: ExplainPartial): void {
    const req = this.pending.get(requestId);
    if (!req || !partial || typeof partial !== 'object') return; // stale
    if (partial.kind === 'predictions') {
      req.answer = { target: partial.target, imageWidth: partial.imageWidth, imageHeight: partial.imageHeight, inputRegion: partial.inputRegion };
      this.showPredictions(partial.predictions, partial.target);
    } else if (partial.kind === 'map' && req.answer) {
      try {
        this.cache.storeMap(partial.map, req.answer, req);
        req.arrived.add(partial.map.method);
      } catch (e) {
        this.status.showError(`The ${partial.map.method} map could not be read: ${(e as Error).message}`);
      }
    }
    this.render();
  }

  private onExplanation(requestId: number, result: ExplanationMsg): void {
    const req = this.pending.get(requestId);
    if (!req) return; // answer to a request made before an invalidate/init: stale
    this.pending.delete(requestId);
    this.hostBusy = undefined;
    try {
      this.cache.store(result, req, req.arrived);
    } catch (e) {
      this.status.showError(`The maps could not be read: ${(e as Error).message}`);
    }
    this.showPredictions(result.predictions, result.target);
    this.showSensitivity(result.sensitivity ?? []);
    this.status.clearError();
    this.refresh();
  }

  /** One line per neighbouring pipeline that changes the top class, under the predictions; hidden when none does. */
  private showSensitivity(notes: { text: string }[]): void {
    replaceChildren(this.sensitivityNote, ...notes.map((n) => h('p', {}, n.text)));
    this.sensitivityNote.hidden = notes.length === 0;
  }

  /** The chips, the class shown and what the panel tells the host about it. */
  private showPredictions(predictions: PredictionMsg[], target: PredictionMsg): void {
    this.predictions = predictions;
    const topBefore = this.topIndex;
    if (predictions.length) this.topIndex = predictions[0].index;
    if (this.state.classIndex === undefined && this.topIndex !== topBefore) this.postSelection();
    for (const p of predictions) this.classInfo.set(p.index, p);
    this.classInfo.set(target.index, target);
    this.picker.setPredictions(this.predictions);
    this.picker.setSelected(this.effectiveClass());
  }

  private onError(requestId: number | undefined, message: string, actions?: string[]): void {
    if (requestId !== undefined) {
      const req = this.pending.get(requestId);
      if (!req) return; // stale
      this.pending.delete(requestId);
      if (req.calls.length > 1) {
        // Which method failed is unknown: each is asked for alone, and the one that fails says so.
        for (const key of req.keys) this.solo.add(key);
        this.refresh();
        return;
      }
      for (const key of req.keys) this.outcomes.set(key, { kind: 'failed', message }); // not asked again until the user changes something
    }
    this.hostBusy = undefined;
    this.status.showError(message, actions);
    this.renderBusy();
    this.render();
  }

  /** The host stopped a request: its maps stay absent (one click computes them), the rest stays shown. */
  private onCancelled(requestId: number): void {
    const req = this.pending.get(requestId);
    if (!req) return;
    this.pending.delete(requestId);
    // Maps that arrived before the cancel stay; the others wait for a click.
    req.calls.forEach((call, i) => req.arrived.has(call.method) || this.outcomes.set(req.keys[i], { kind: 'cancelled' }));
    this.notice = 'Cancelled.';
    this.render();
  }

  /** Cancel: stop every request in flight. */
  private cancel(): void {
    for (const requestId of this.pending.keys()) this.send({ type: 'cancel', requestId });
  }

  // ---- state ------------------------------------------------------------------------------------

  private update(change: Partial<PanelState>): void {
    const before = this.state;
    this.state = { ...this.state, ...change };
    this.persist();
    const viewChanged = this.state.layout !== before.layout || this.state.methods.join() !== before.methods.join();
    if (viewChanged) this.applyView();
    if (viewChanged || 'classIndex' in change || 'layer' in change || 'options' in change) {
      // A failed request may succeed with other choices; a cancelled one waits to be asked for.
      for (const [key, outcome] of this.outcomes) if (outcome.kind === 'failed') this.outcomes.delete(key);
      this.picker.setSelected(this.effectiveClass());
      this.postSelection();
      this.refresh();
    } else {
      this.render(); // colormap / clip / gamma / opacity: local only
    }
    // The views beside the panel draw with its colormap, and the next panel starts with the choice.
    if (('colormap' in change && change.colormap !== before.colormap) || ('opacity' in change && change.opacity !== before.opacity)) {
      this.send({ type: 'display', colormap: this.state.colormap, opacity: this.state.opacity });
    }
  }

  /** A picker chose a method; the other picker keeps its own. */
  private pickMethod(slot: number, method: MethodName): void {
    const methods: [MethodName, MethodName] = [...this.state.methods];
    methods[slot] = method;
    this.update({ methods });
  }

  /** A method's options changed (all valid): remembered per method, and the other picker shows them too. */
  private setOptions(slot: number, method: MethodName, options: MethodOptions): void {
    const changed = changedOptions(methodSpec(method), options);
    const all = { ...this.state.options };
    if (Object.keys(changed).length) all[method] = changed;
    else delete all[method];
    this.slots.forEach((s, i) => i !== slot && s.syncOptions(method, options));
    this.update({ options: all });
  }

  private persist(): void {
    this.saved = { ...this.state };
    // imagePath lets the host's WebviewPanelSerializer reopen this panel after a window reload.
    saveState({ ...this.state, imagePath: this.imagePath });
  }

  private applyStateToControls(): void {
    this.controls.setColormap(this.state.colormap);
    this.controls.setClip(this.state.clip);
    this.controls.setGamma(this.state.gamma);
    this.controls.setOpacity(this.state.opacity);
    this.picker.setSelected(this.effectiveClass());
    this.stage.setZoom(this.state.zoom);
  }

  /** The pickers, panes, layer field and export buttons for the methods in view. */
  private applyView(): void {
    const shown = shownMethods(this.state);
    const sideBySide = this.state.layout === 'side-by-side';
    this.stage.setMethods(shown, sideBySide);
    this.controls.setLayout(this.state.layout);
    this.slots.forEach((slot, i) => slot.setMethod(this.state.methods[i], optionsOf(this.state, this.state.methods[i])));
    this.slots[1].hidden = !sideBySide;
    this.controls.setLayerApplicable(shown.some((m) => methodSpec(m).target === 'layer'));
    this.renderExportButtons();
  }

  private resetResults(): void {
    this.cache.clear();
    this.previous = undefined;
    this.showingPrevious = false;
    this.updateBanner.hidden = true;
    this.pending.clear();
    this.outcomes.clear();
    this.solo.clear();
    this.progress = undefined;
    this.notice = undefined;
    this.predictions = [];
    this.topIndex = undefined;
    this.classInfo.clear();
    this.picker.setPredictions([]);
    this.showSensitivity([]);
  }

  /**
   * Tells the host what the panel shows (the compare view marks the class and uses the layer), and every
   * method's options as the panel would compute it, so the views that follow the panel compute alike.
   */
  private postSelection(): void {
    const methods = shownMethods(this.state);
    const options: Partial<Record<MethodName, MethodOptions>> = {};
    for (const m of METHOD_NAMES) options[m] = optionsOf(this.state, m);
    this.send({
      type: 'selection', classIndex: this.effectiveClass(), layer: this.state.layer,
      signed: optionsOf(this.state, 'saliency').signed === true, methods, options,
    });
  }

  private effectiveClass(): number | undefined {
    return this.state.classIndex ?? this.topIndex;
  }

  private resolvedLayer(): string {
    return this.state.layer ?? this.model?.defaultSpatialLayer ?? 'auto';
  }

  /** Why the model cannot run this method, if it cannot. */
  private unavailable(method: MethodName): string | undefined {
    return this.model ? unavailableReason(methodSpec(method), this.model) : undefined;
  }

  /** The methods in view with every option set, each once. */
  private shownCalls(): MethodCall[] {
    return [...new Set(shownMethods(this.state))].map((method) => ({ method, options: optionsOf(this.state, method) }));
  }

  /** A call's key as it is asked for (the class undefined = the top prediction). */
  private requestKey(call: MethodCall): string {
    return cacheKey(call, this.state.classIndex ?? 'top', this.resolvedLayer());
  }

  // ---- requests ---------------------------------------------------------------------------------

  /** Requests the maps in view that are neither cached nor in flight (one request), then renders. */
  private refresh(): void {
    if (!this.model || !this.imageReady) return;
    const classIndex = this.effectiveClass();
    const inFlight = new Set([...this.pending.values()].flatMap((p) => p.keys));
    const calls = this.shownCalls().filter((call) => {
      if (this.unavailable(call.method)) return false;
      if (classIndex !== undefined && this.cache.get(call, classIndex, this.resolvedLayer())) return false;
      const key = this.requestKey(call);
      return !inFlight.has(key) && !this.outcomes.has(key);
    });
    // Single-pass maps share one request (one pass serves them all); a method that runs many inputs goes alone,
    // so it holds back no other map; a call whose shared request failed is asked for alone too.
    const together = calls.filter((c) => !this.solo.has(this.requestKey(c)) && isSinglePass(methodSpec(c.method), c.options));
    for (const group of [together, ...calls.filter((c) => !together.includes(c)).map((c) => [c])]) {
      if (group.length) this.request(group);
    }
    this.render();
  }

  /** One explain request for these calls (one forward pass serves them all). */
  private request(calls: MethodCall[]): void {
    const request: ExplainRequest = {
      methods: calls.map((c) => c.method),
      options: Object.fromEntries(calls.map((c) => [c.method, c.options])),
    };
    if (this.state.classIndex !== undefined) request.classIndex = this.state.classIndex;
    if (this.state.layer !== undefined) request.layer = this.state.layer;
    const requestId = this.nextRequestId++;
    this.pending.set(requestId, {
      classIndex: this.state.classIndex, layer: this.resolvedLayer(), calls, keys: calls.map((c) => this.requestKey(c)), arrived: new Set(),
    });
    this.notice = undefined;
    this.send({ type: 'explain', requestId, request });
  }

  // ---- rendering --------------------------------------------------------------------------------

  /**
   * `realSize`: the image's own size when `uri` is a smaller display copy of it. The stage measures in it (hover
   * coordinates, the header's size, the maps' aspect); the picture is only drawn, scaled to the frame.
   */
  private async loadImage(uri: string, realSize?: ImageSize): Promise<void> {
    this.imageReady = false;
    const load = ++this.imageLoads;
    const img = new Image();
    img.src = uri;
    try {
      await img.decode();
    } catch {
      if (load !== this.imageLoads) return;
      const message = `The image ${this.imageName || ''} could not be displayed.`.replace('  ', ' ');
      this.status.showError(message);
      this.send({ type: 'imageError', message });
      return;
    }
    // A later picture (init, invalidate, image) may have come while this one decoded: it wins.
    if (load !== this.imageLoads) return;
    this.stage.setImage(uri, realSize?.width ?? img.naturalWidth, realSize?.height ?? img.naturalHeight);
    this.imageReady = true;
    this.renderHeader();
  }

  /** The cached outcome for a call under the current class and layer: undefined = not yet. */
  private entryFor(call: MethodCall): CacheEntry | undefined {
    const classIndex = this.effectiveClass();
    return classIndex === undefined ? undefined : this.shownCache().get(call, classIndex, this.resolvedLayer());
  }

  /** The map as drawn: normalized under the panel's clip and gamma. */
  private mapFor(call: MethodCall): DecodedMap | null | undefined {
    return this.drawn(this.entryFor(call)?.map);
  }

  private drawn<M extends DecodedMap | null | undefined>(map: M): M {
    return (map ? withDisplay(map, { clip: this.state.clip, gamma: this.state.gamma }) : map) as M;
  }

  /** "Grad-CAM · conv2d_2": a CAM says its layer. */
  private mapTitle(method: MethodName, map: DecodedMap | null | undefined): string {
    const spec = methodSpec(method);
    const layer = spec.target === 'layer' ? map?.layer ?? this.state.layer ?? this.model?.defaultSpatialLayer : undefined;
    return layer ? `${spec.label} · ${layerLabel(layer, this.model?.spatialLayers.map((l) => l.name) ?? [])}` : spec.label;
  }

  private render(): void {
    const { w, h: ht } = this.stage.naturalSize;
    const bars: ColorbarEntry[] = [];
    const notes: string[] = [...(this.model?.warnings ?? [])];
    const running = new Set([...this.pending.values()].flatMap((p) => p.keys));
    let covers: string | undefined;
    shownMethods(this.state).forEach((method, slot) => {
      const pane = this.stage.pane(slot);
      if (!pane?.canvas) return;
      const call = { method, options: optionsOf(this.state, method) };
      const spec = methodSpec(method);
      const entry = this.entryFor(call);
      const map = this.drawn(entry?.map);
      if (entry) notes.push(...entry.notes);
      const title = this.mapTitle(method, map);
      if (pane.caption) pane.caption.textContent = title;
      showRegion(pane, map && w && ht ? map : undefined);
      covers ??= map?.placement?.region.text;
      if (map && w && ht) {
        paintHeatmap(pane.canvas, map, w, ht, this.state.colormap);
        pane.canvas.hidden = false;
        pane.canvas.style.opacity = String(this.state.opacity);
        pane.message.hidden = true;
        bars.push(barEntry(title, map));
        return;
      }
      pane.canvas.hidden = true;
      pane.message.hidden = false;
      const key = this.requestKey(call);
      const reason = this.unavailable(method);
      const outcome = this.outcomes.get(key);
      let text: string;
      let action: HTMLElement | undefined;
      if (reason) text = `${spec.label} ${reason}.`;
      else if (map === null) text = `No ${spec.label} map for this model${entry?.notes.length ? '' : '.'}`;
      else if (running.has(key)) text = this.computingText(method);
      else if (outcome?.kind === 'cancelled') {
        text = `${spec.label}: cancelled.`;
        action = h('button', { type: 'button', class: 'link-button', 'data-testid': 'compute' }, 'Compute');
        action.addEventListener('click', () => {
          this.outcomes.delete(key);
          this.refresh();
        });
      } else if (outcome?.kind === 'failed') text = `${spec.label} could not be computed: ${outcome.message}`;
      else text = this.model ? `${spec.label} not computed.` : 'Waiting for the model…';
      replaceChildren(pane.message, text, action ? ' ' : null, action);
      pane.message.classList.toggle('pane-message-absent', map === null || !!reason);
    });
    this.regionNote.hidden = !covers;
    this.regionNote.textContent = covers ? `map covers: ${covers}` : '';
    this.colorbar.update(bars, this.state.colormap);
    this.status.setNotes(notes);
    this.renderBusy();
    this.renderHover();
  }

  /** "Computing SmoothGrad… 12/25 inputs" while its progress is known. */
  private computingText(method: MethodName): string {
    const p = this.progress && this.pending.has(this.progress.requestId) && this.progress.method === method ? this.progress : undefined;
    return `Computing ${methodSpec(method).label}…${p ? ` ${p.done}/${p.total} inputs` : ''}`;
  }

  /** Progress of a running method in its pane (without repainting the maps shown). */
  private renderProgressInPanes(): void {
    shownMethods(this.state).forEach((method, slot) => {
      const pane = this.stage.pane(slot);
      if (pane && !pane.message.hidden && method === this.progress?.method && pane.message.textContent?.startsWith('Computing')) {
        pane.message.textContent = this.computingText(method);
      }
    });
  }

  private renderBusy(): void {
    if (this.hostBusy) {
      this.stopBusyTimer();
      this.status.setBusy(this.hostBusy);
      return;
    }
    if (this.pending.size) {
      const p = this.progress && this.pending.has(this.progress.requestId) ? this.progress : undefined;
      if (p) {
        this.stopBusyTimer();
        this.busyShown = true;
        const text = `${methodSpec(p.method).label} ${p.done}/${p.total} inputs`;
        this.status.setActivity({ text, progress: p, cancellable: true });
      } else if (this.busyShown) {
        const labels = [...new Set([...this.pending.values()].flatMap((r) => r.calls.filter((c) => !r.arrived.has(c.method)).map((c) => methodSpec(c.method).label)))];
        this.status.setActivity({ text: `Computing ${joinAnd(labels)} for ${this.classLabel(this.state.classIndex)}…`, cancellable: true });
      } else if (!this.busyTimer) {
        this.busyTimer = setTimeout(() => {
          this.busyTimer = undefined;
          this.busyShown = true;
          this.renderBusy();
        }, BUSY_DELAY_MS);
      }
      return;
    }
    this.stopBusyTimer();
    this.busyShown = false;
    this.progress = undefined;
    if (this.notice) this.status.setNotice(this.notice);
    else this.status.setBusy(undefined);
  }

  private stopBusyTimer(): void {
    if (this.busyTimer) clearTimeout(this.busyTimer);
    this.busyTimer = undefined;
  }

  private classLabel(index: number | undefined): string {
    if (index === undefined) return 'the top class';
    const label = this.classInfo.get(index)?.label ?? this.model?.labels[index] ?? `class ${index}`;
    return optionLabel(index, label);
  }

  private renderHeader(): void {
    const m = this.model;
    const { w, h: ht } = this.stage.naturalSize;
    this.header.textContent = this.imageName || 'Image';
    this.header.title = this.imageName; // the full name where the header ellipsizes it
    if (w && ht) this.header.append(h('span', { class: 'header-dim' }, ` ${w}×${ht}`));
    if (!m) {
      replaceChildren(this.modelInfo, 'No model yet');
      return;
    }
    const backend = backendText(m.backend);
    replaceChildren(
      this.modelInfo,
      h('span', { class: 'meta-item', title: m.path }, modelName(m.path)),
      h('span', { class: 'meta-item' }, `${m.format} · ${m.numClasses} classes`),
      h('span', { class: 'meta-badge', title: 'Runtime backend' }, backend),
    );
  }

  private renderHover(): void {
    const pos = this.hoverPos;
    if (!pos) {
      this.hoverReadout.textContent = this.imageReady ? 'Hover the image to read map values' : '';
      this.hoverReadout.classList.add('hint');
      this.stage.setTip(null);
      return;
    }
    this.hoverReadout.classList.remove('hint');
    const { w, h: ht } = this.stage.naturalSize;
    const parts = [`x ${pos.x}, y ${pos.y} px`];
    let outside = false;
    for (const call of this.shownCalls()) {
      const map = this.mapFor(call);
      if (!map) continue;
      const v = valueAt(map, w, ht, pos.x, pos.y);
      // NaN: the pixel lies outside the model's input; said once, however many maps are shown.
      if (Number.isNaN(v)) outside = true;
      else parts.push(`${methodSpec(call.method).label} ${formatValue(v)}`);
    }
    if (outside) parts.push(OUTSIDE_REGION_TEXT);
    this.hoverReadout.textContent = parts.join('  ·  ');
    this.stage.setTip(parts);
    this.hoverReadout.dataset.x = String(pos.x);
    this.hoverReadout.dataset.y = String(pos.y);
  }

  private renderExportButtons(): void {
    const shown = shownMethods(this.state);
    replaceChildren(this.exportNpyButtons, ...shown.map((method, slot) => {
      const label = methodSpec(method).label;
      const b = h('vscode-button', {
        'data-testid': slot === 0 ? 'export-npy' : `export-npy-${slot + 1}`, 'data-method': method, secondary: true,
        title: `Save the raw ${label} map as .npy at the image's size (raw values: no clip or gamma; NaN where the model's input does not reach, e.g. outside a centre crop)`,
      }, `${method}.npy`); // one label whatever the view: the file it writes
      b.addEventListener('click', () => this.exportNpy(method));
      return b;
    }));
  }

  // ---- export -----------------------------------------------------------------------------------

  private exportPng(withLegend: boolean): void {
    const img = this.stage.pane(0)?.image;
    if (!img || !this.imageReady) return;
    const shown = shownMethods(this.state);
    const maps = shown.map((method) => this.mapFor({ method, options: optionsOf(this.state, method) }) ?? null);
    const panels = this.state.layout === 'side-by-side' ? [null, ...maps] : maps;
    if (maps.every((p) => p === null)) {
      this.status.showError('There is no heatmap to export yet.');
      return;
    }
    try {
      const legend = withLegend ? this.exportLegend(shown, maps) : undefined;
      const dataUrl = renderExportPng(img, panels, this.state.colormap, this.state.opacity, legend);
      const parts = [...shown, this.classSlug(), withLegend ? 'legend' : ''];
      this.send({ type: 'exportPng', dataUrl, suggestedName: exportName(this.imageName, parts, 'png') });
    } catch (e) {
      this.status.showError(`The PNG could not be rendered: ${(e as Error).message}`);
    }
  }

  /** What the export's legend states: the image, the class with its probability, and each map's colour bar entry. */
  private exportLegend(shown: MethodName[], maps: (DecodedMap | null)[]): LegendContent {
    const c = this.effectiveClass();
    const info = c === undefined ? undefined : this.classInfo.get(c);
    const label = info?.label ?? (c === undefined ? undefined : this.model?.labels[c]);
    const classLine = c === undefined ? 'class unknown'
      : `${optionLabel(c, label ?? '')}${info ? ` · probability ${formatPercent(info.probability)}` : ''}`;
    const bars = shown.flatMap((method, i) => {
      const map = maps[i];
      return map ? [barEntry(this.mapTitle(method, map), map)] : [];
    });
    const covers = maps.find((m) => m?.placement)?.placement?.region.text;
    return { imageName: this.imageName, classLine, bars, covers };
  }

  /** Sends the raw map shown (the host writes it at the image's size): nothing is computed again. */
  private exportNpy(method: MethodName): void {
    const entry = this.entryFor({ method, options: optionsOf(this.state, method) });
    if (!entry?.map) {
      this.status.showError(`There is no ${methodSpec(method).label} map to export yet.`);
      return;
    }
    const { map } = entry;
    // The host writes it at the image's size, NaN outside the model's input when that covers only part of it.
    const msg: ExportNpyMsg = {
      type: 'exportNpy',
      method,
      suggestedName: exportName(this.imageName, [method, this.classSlug()], 'npy'),
      map: { width: map.width, height: map.height, data: float32ToBase64(map.raw) },
      imageWidth: entry.imageWidth,
      imageHeight: entry.imageHeight,
      inputRegion: map.placement?.region,
    };
    this.send(msg);
  }

  /** The class in file names, unless it is the top prediction (then the name is the CLI's `<image>.<method>`). */
  private classSlug(): string {
    const c = this.effectiveClass();
    if (c === undefined || c === this.topIndex) return '';
    const label = this.classInfo.get(c)?.label ?? this.model?.labels[c];
    return label && label !== `class ${c}` ? `${c}-${label}` : `class${c}`;
  }
}

function joinAnd(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

mountView((root) => {
  root.classList.add('app');
  new ExplainPanel(root);
});

/** A map's colour bar entry, in the panel's legend and the exported one alike: the range drawn, clip and gamma. */
function barEntry(label: string, map: DecodedMap): ColorbarEntry {
  return { label, min: map.min, max: map.max, signed: map.signed, note: statsNote(map.stats), clip: map.display.clip, gamma: map.display.gamma };
}

type ImageSize = { width: number; height: number };

type ExportNpyMsg = Extract<WebviewToHost, { type: 'exportNpy' }>;

/** The real image size a host message carries, if it carries one (a display copy of a large image). */
function realSizeOf(msg: { imageWidth?: number; imageHeight?: number }): ImageSize | undefined {
  return msg.imageWidth && msg.imageHeight ? { width: msg.imageWidth, height: msg.imageHeight } : undefined;
}
