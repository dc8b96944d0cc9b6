/**
 * Explain panel webview: entry point. Wires the UI modules to the host protocol
 * (src/shared/protocol.ts): `ready` → `init` → `explain` requests answered by `explanation`/`error`.
 * Colouring, opacity, colormap and view changes are local; only missing maps are requested.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import { methodSpec } from '../src/shared/methods';
import type { ExplainRequest, ExplanationMsg, HostToWebview, MethodName, ModelInfoMsg, PredictionMsg, WebviewToHost } from '../src/shared/protocol';
import { h, replaceChildren } from './dom';
import { post, loadState, saveState } from './vscodeApi';
import { isViewMode, parseSavedState, resolveState, savedImagePath, type PanelState } from './state';
import { MapCache, type DecodedMap, type Selection } from './mapStore';
import { paintHeatmap, valueAt } from './heatmap';
import { Stage } from './stage';
import { Controls } from './controls';
import { ClassPicker } from './classPicker';
import { Colorbar } from './colorbar';
import { StatusArea } from './status';
import { exportName, renderExportPng } from './exporter';
import { formatValue, optionLabel } from './dom';
import { InputInspector } from './inputInspector';

interface Pending {
  classIndex?: number;
  layer: string;
  signed: boolean;
  methods: MethodName[];
  signature: string;
}

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
  private failed = new Set<string>();
  private nextRequestId = 1;
  private hostBusy: string | undefined;
  private busyTimer: ReturnType<typeof setTimeout> | undefined;
  private hoverPos: { x: number; y: number } | null = null;

  private stage = new Stage();
  private controls: Controls;
  private picker: ClassPicker;
  private colorbar = new Colorbar();
  private status: StatusArea;
  private header = h('div', { class: 'header-title' });
  private modelInfo = h('div', { class: 'header-meta' });
  private hoverReadout = h('div', { class: 'hover-readout', 'data-testid': 'hover-readout', 'aria-live': 'off' });
  private exportPngButton = h('vscode-button', { 'data-testid': 'export-png', secondary: true, title: 'Save the overlay as shown (natural image size)' }, 'Export PNG');
  private exportNpyButtons = h('span', { class: 'export-npy' });
  private compareButton = h('vscode-button', { 'data-testid': 'open-compare', secondary: true, title: 'Maps of several classes side by side, and the contrast of two' }, 'Compare classes');

  constructor(root: HTMLElement) {
    this.controls = new Controls({
      viewMode: (mode) => this.update({ viewMode: mode }),
      colormap: (colormap) => this.update({ colormap }),
      opacity: (opacity) => this.update({ opacity }),
      layer: (layer) => this.update({ layer }),
      signed: (signed) => this.update({ signed }),
    });
    this.picker = new ClassPicker((classIndex) => this.update({ classIndex }));
    this.status = new StatusArea((action) => this.send({ type: 'action', action }));
    this.stage.onHover = (pos) => {
      this.hoverPos = pos;
      this.renderHover();
    };
    this.exportPngButton.addEventListener('click', () => this.exportPng());
    this.compareButton.addEventListener('click', () => this.send({ type: 'compare' }));
    this.updateBanner.hidden = true;
    this.previousButton.addEventListener('click', () => {
      this.showingPrevious = !this.showingPrevious;
      this.renderUpdateBanner();
      this.render();
    });

    replaceChildren(
      root,
      h('header', { class: 'header' }, h('div', { class: 'header-text' }, this.header, this.modelInfo), this.status.busy,
        h('div', { class: 'header-actions' }, this.compareButton, this.exportPngButton, this.exportNpyButtons)),
      this.picker.element,
      this.controls.element,
      this.inspector.element,
      this.updateBanner,
      this.status.banner,
      this.stage.element,
      h('footer', { class: 'footer' }, this.colorbar.element, this.hoverReadout),
    );
    this.applyStateToControls();
    this.stage.setMode(this.state.viewMode);
    this.renderHover();
    this.renderExportButtons();
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
      case 'explanation':
        this.onExplanation(msg.requestId, msg.result);
        break;
      case 'error':
        this.onError(msg.requestId, msg.message, msg.actions);
        break;
      case 'invalidate':
        void this.onInvalidate(msg.reason, msg.imageUri);
        break;
      case 'modelInput':
        this.inspector.show(msg.input);
        break;
      case 'modelUpdated':
        this.onModelUpdated(msg.time, msg.model);
        break;
      case 'setClass':
        if (this.model && msg.classIndex >= 0 && msg.classIndex < this.model.numClasses) this.update({ classIndex: msg.classIndex });
        break;
      case 'setLayer':
        if (this.model?.spatialLayers.some((l) => l.name === msg.layer)) {
          this.controls.setLayer(msg.layer === this.model.defaultSpatialLayer ? undefined : msg.layer);
          this.update({ layer: msg.layer === this.model.defaultSpatialLayer ? undefined : msg.layer });
        }
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
    if (initial?.view !== undefined && isViewMode(initial.view)) this.state.viewMode = initial.view;
    // A remembered class or layer that this model does not have is dropped.
    if (this.state.classIndex !== undefined && this.state.classIndex >= model.numClasses) this.state.classIndex = undefined;
    if (this.state.layer && !model.spatialLayers.some((l) => l.name === this.state.layer)) this.state.layer = undefined;
    this.resetResults();
    this.status.clearError();
    this.hostBusy = undefined;
    this.renderHeader();
    this.picker.setLabels(model.labels);
    this.picker.setPredictions([]);
    this.controls.setLayers(model.spatialLayers, model.defaultSpatialLayer, this.state.layer);
    this.applyStateToControls();
    this.stage.setMode(this.state.viewMode);
    this.persist();
    await this.loadImage(imageUri);
    this.refresh();
  }

  /** Training wrote a new version: recompute what is shown, keep the old maps one click away. */
  private onModelUpdated(time: string, model: ModelInfoMsg): void {
    this.previous = this.cache;
    this.cache = new MapCache();
    this.pending.clear();
    this.failed.clear();
    this.model = model;
    this.showingPrevious = false;
    this.updateText.textContent = `Model updated at ${time}.`;
    this.updateBanner.hidden = false;
    this.renderUpdateBanner();
    this.refresh();
  }

  private renderUpdateBanner(): void {
    this.previousButton.textContent = this.showingPrevious ? 'Show current' : 'Show previous';
    this.updateBanner.classList.toggle('showing-previous', this.showingPrevious);
  }

  /** Where shown maps come from: the current model's, or the previous version's while flipped. */
  private shownCache(): MapCache {
    return this.showingPrevious && this.previous ? this.previous : this.cache;
  }

  private async onInvalidate(reason: string, imageUri?: string): Promise<void> {
    this.resetResults();
    this.status.clearError();
    if (reason) this.hostBusy = reason;
    this.renderBusy();
    if (imageUri) await this.loadImage(imageUri);
    this.refresh();
  }

  private onExplanation(requestId: number, result: ExplanationMsg): void {
    const req = this.pending.get(requestId);
    if (!req) return; // answer to a request made before an invalidate/init: stale
    this.pending.delete(requestId);
    this.hostBusy = undefined;
    try {
      this.cache.store(result, req);
    } catch (e) {
      this.status.showError(`The maps could not be read: ${(e as Error).message}`);
    }
    this.predictions = result.predictions;
    const topBefore = this.topIndex;
    if (result.predictions.length) this.topIndex = result.predictions[0].index;
    if (this.state.classIndex === undefined && this.topIndex !== topBefore) this.postSelection();
    for (const p of result.predictions) this.classInfo.set(p.index, p);
    this.classInfo.set(result.target.index, result.target);
    this.picker.setPredictions(this.predictions);
    this.picker.setSelected(this.effectiveClass());
    this.status.clearError();
    this.refresh();
  }

  private onError(requestId: number | undefined, message: string, actions?: string[]): void {
    if (requestId !== undefined) {
      const req = this.pending.get(requestId);
      if (!req) return; // stale
      this.pending.delete(requestId);
      this.failed.add(req.signature); // do not re-ask until the user changes something
    }
    this.hostBusy = undefined;
    this.status.showError(message, actions);
    this.renderBusy();
    this.render();
  }

  // ---- state ------------------------------------------------------------------------------------

  private update(change: Partial<PanelState>): void {
    const before = this.state;
    this.state = { ...this.state, ...change };
    this.persist();
    if (change.viewMode !== undefined && change.viewMode !== before.viewMode) {
      this.stage.setMode(this.state.viewMode);
      this.controls.setApplicable(this.state.viewMode);
      this.renderExportButtons();
    }
    const selectionChanged = 'classIndex' in change || 'layer' in change || 'signed' in change;
    if (selectionChanged) {
      this.failed.clear();
      this.picker.setSelected(this.effectiveClass());
      this.postSelection();
    }
    if (selectionChanged || change.viewMode !== undefined) this.refresh();
    else this.render(); // colormap / opacity: local only
  }

  private persist(): void {
    this.saved = { ...this.state };
    // imagePath lets the host's WebviewPanelSerializer reopen this panel after a window reload.
    saveState({ ...this.state, imagePath: this.imagePath });
  }

  private applyStateToControls(): void {
    this.controls.setViewMode(this.state.viewMode);
    this.controls.setColormap(this.state.colormap);
    this.controls.setOpacity(this.state.opacity);
    this.controls.setSigned(this.state.signed);
    this.controls.setApplicable(this.state.viewMode);
    this.picker.setSelected(this.effectiveClass());
  }

  private resetResults(): void {
    this.cache.clear();
    this.previous = undefined;
    this.showingPrevious = false;
    this.updateBanner.hidden = true;
    this.pending.clear();
    this.failed.clear();
    this.predictions = [];
    this.topIndex = undefined;
    this.classInfo.clear();
    this.picker.setPredictions([]);
  }

  /** Tells the host what the panel shows (the compare view marks the class and uses the layer). */
  private postSelection(): void {
    this.send({ type: 'selection', classIndex: this.effectiveClass(), layer: this.state.layer, signed: this.state.signed });
  }

  private effectiveClass(): number | undefined {
    return this.state.classIndex ?? this.topIndex;
  }

  private resolvedLayer(): string {
    return this.state.layer ?? this.model?.defaultSpatialLayer ?? 'auto';
  }

  private selection(): Selection | undefined {
    const classIndex = this.effectiveClass();
    if (classIndex === undefined) return undefined;
    return { classIndex, layer: this.resolvedLayer(), signed: this.state.signed };
  }

  private methodsAvailable(): MethodName[] {
    return this.model && this.model.spatialLayers.length === 0 ? ['saliency'] : ['saliency', 'gradcam'];
  }

  // ---- requests ---------------------------------------------------------------------------------

  /** Requests whatever the current selection lacks (both methods, so switching views is instant), then renders. */
  private refresh(): void {
    if (!this.model || !this.imageReady) return;
    const sel = this.selection();
    const methods = this.methodsAvailable().filter((m) => !sel || this.cache.get(m, sel) === undefined);
    if (methods.length) {
      const classIndex = this.state.classIndex;
      const signature = `${classIndex ?? 'top'}|${this.resolvedLayer()}|${this.state.signed}|${methods.join(',')}`;
      const inFlight = [...this.pending.values()].some((p) => p.signature === signature);
      if (!inFlight && !this.failed.has(signature)) {
        const request: ExplainRequest = { signed: this.state.signed };
        if (classIndex !== undefined) request.classIndex = classIndex;
        if (this.state.layer !== undefined) request.layer = this.state.layer;
        if (methods.length < this.methodsAvailable().length || this.methodsAvailable().length === 1) request.methods = methods;
        const requestId = this.nextRequestId++;
        this.pending.set(requestId, { classIndex, layer: this.resolvedLayer(), signed: this.state.signed, methods, signature });
        this.send({ type: 'explain', requestId, request });
      }
    }
    this.render();
  }

  // ---- rendering --------------------------------------------------------------------------------

  private async loadImage(uri: string): Promise<void> {
    this.imageReady = false;
    const img = new Image();
    img.src = uri;
    try {
      await img.decode();
    } catch {
      const message = `The image ${this.imageName || ''} could not be displayed.`.replace('  ', ' ');
      this.status.showError(message);
      this.send({ type: 'imageError', message });
      return;
    }
    this.stage.setImage(uri, img.naturalWidth, img.naturalHeight);
    this.imageReady = true;
    this.renderHeader();
  }

  private shownMethods(): MethodName[] {
    return this.state.viewMode === 'side-by-side' ? ['saliency', 'gradcam'] : [this.state.viewMode];
  }

  /** The cached map for a method under the current selection: a map, null (answered without one) or undefined (not yet). */
  private mapFor(method: MethodName): DecodedMap | null | undefined {
    const sel = this.selection();
    if (!sel) return undefined;
    const entry = this.shownCache().get(method, sel);
    return entry === undefined ? undefined : entry.map;
  }

  private render(): void {
    const { w, h: ht } = this.stage.naturalSize;
    const bars: { label: string; min: number; max: number }[] = [];
    const notes: string[] = [...(this.model?.warnings ?? [])];
    const sel = this.selection();
    for (const method of this.shownMethods()) {
      const pane = this.stage.pane(method);
      if (!pane?.canvas) continue;
      const map = this.mapFor(method);
      const entry = sel ? this.shownCache().get(method, sel) : undefined;
      if (entry) notes.push(...entry.notes);
      if (map && w && ht) {
        paintHeatmap(pane.canvas, map, w, ht, this.state.colormap);
        pane.canvas.hidden = false;
        pane.canvas.style.opacity = String(this.state.opacity);
        pane.message.hidden = true;
        bars.push({ label: methodSpec(method).label, min: map.min, max: map.max });
      } else {
        pane.canvas.hidden = true;
        pane.message.hidden = false;
        pane.message.textContent =
          map === null
            ? `No ${methodSpec(method).label} map for this model${entry?.notes.length ? '' : '.'}`
            : this.pending.size
              ? `Computing ${methodSpec(method).label}…`
              : this.model ? `${methodSpec(method).label} not computed.` : 'Waiting for the model…';
        pane.message.classList.toggle('pane-message-absent', map === null);
      }
    }
    this.colorbar.update(bars, this.state.colormap);
    this.status.setNotes(notes);
    this.renderBusy();
    this.renderHover();
  }

  private renderBusy(): void {
    if (this.busyTimer) clearTimeout(this.busyTimer);
    this.busyTimer = undefined;
    if (this.hostBusy) {
      this.status.setBusy(this.hostBusy);
    } else if (this.pending.size) {
      const label = this.classLabel(this.state.classIndex);
      this.busyTimer = setTimeout(() => this.status.setBusy(`Computing maps for ${label}…`), BUSY_DELAY_MS);
    } else {
      this.status.setBusy(undefined);
    }
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
    if (w && ht) this.header.append(h('span', { class: 'header-dim' }, ` ${w}×${ht}`));
    if (!m) {
      replaceChildren(this.modelInfo, 'No model yet');
      return;
    }
    const modelName = m.path.split(/[\\/]/).filter(Boolean).slice(-2).join('/');
    const backend = `${m.backend.name}${m.backend.threads > 1 ? ` · ${m.backend.threads} threads` : ''}`;
    replaceChildren(
      this.modelInfo,
      h('span', { class: 'meta-item', title: m.path }, modelName),
      h('span', { class: 'meta-item' }, `${m.format} · ${m.numClasses} classes`),
      h('span', { class: 'meta-badge', title: 'Runtime backend' }, backend),
    );
  }

  private renderHover(): void {
    const pos = this.hoverPos;
    if (!pos) {
      this.hoverReadout.textContent = this.imageReady ? 'Hover the image to read map values' : '';
      this.hoverReadout.classList.add('hint');
      return;
    }
    this.hoverReadout.classList.remove('hint');
    const { w, h: ht } = this.stage.naturalSize;
    const parts = [`x ${pos.x}, y ${pos.y} px`];
    for (const method of this.shownMethods()) {
      const map = this.mapFor(method);
      if (map) parts.push(`${methodSpec(method).label} ${formatValue(valueAt(map, w, ht, pos.x, pos.y))}`);
    }
    this.hoverReadout.textContent = parts.join('  ·  ');
    this.hoverReadout.dataset.x = String(pos.x);
    this.hoverReadout.dataset.y = String(pos.y);
  }

  private renderExportButtons(): void {
    const make = (method: MethodName, testid: string, text: string) => {
      const b = h('vscode-button', { 'data-testid': testid, secondary: true, title: `Save the raw ${methodSpec(method).label} map as .npy` }, text);
      b.addEventListener('click', () => this.exportNpy(method));
      return b;
    };
    if (this.state.viewMode === 'side-by-side') {
      replaceChildren(this.exportNpyButtons, make('saliency', 'export-npy', 'Saliency .npy'), make('gradcam', 'export-npy-gradcam', 'Grad-CAM .npy'));
    } else {
      replaceChildren(this.exportNpyButtons, make(this.state.viewMode, 'export-npy', 'Export raw map'));
    }
  }

  // ---- export -----------------------------------------------------------------------------------

  private exportPng(): void {
    const img = this.stage.pane(this.shownMethods()[0])?.image;
    if (!img || !this.imageReady) return;
    const panels: (DecodedMap | null)[] =
      this.state.viewMode === 'side-by-side' ? [null, this.mapFor('saliency') ?? null, this.mapFor('gradcam') ?? null] : [this.mapFor(this.state.viewMode) ?? null];
    if (panels.every((p) => p === null)) {
      this.status.showError('There is no heatmap to export yet.');
      return;
    }
    try {
      const dataUrl = renderExportPng(img, panels, this.state.colormap, this.state.opacity);
      this.send({ type: 'exportPng', dataUrl, suggestedName: exportName(this.imageName, [this.state.viewMode, this.classSlug()], 'png') });
    } catch (e) {
      this.status.showError(`The PNG could not be rendered: ${(e as Error).message}`);
    }
  }

  private exportNpy(method: MethodName): void {
    const sel = this.selection();
    if (!sel) return;
    this.send({
      type: 'exportNpy',
      method,
      suggestedName: exportName(this.imageName, [method, this.classSlug()], 'npy'),
      request: { classIndex: sel.classIndex, layer: this.state.layer, signed: this.state.signed },
    });
  }

  private classSlug(): string {
    const c = this.effectiveClass();
    if (c === undefined) return '';
    const label = this.classInfo.get(c)?.label ?? this.model?.labels[c];
    return label && label !== `class ${c}` ? `${c}-${label}` : `class${c}`;
  }
}

function start(): void {
  const root = document.getElementById('app') ?? document.body.appendChild(h('div', { id: 'app' }));
  root.classList.add('app');
  new ExplainPanel(root);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
