import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { encodeNpyFloat32 } from '../engine/io/npy';
import { SIDECAR_FILES } from '../engine/model/sidecar';
import { placeMap } from '../shared/placement';
import { EXPORTS_FOLDER } from '../shared/imageFiles';
import { isMethodName, MethodOptions } from '../shared/methods';
import {
  base64ToFloat32, DisplayImageMsg, ENGINE, EngineProgressMsg, ExplainPartial, PRESETS, EngineExplainParams, ExplainRequest, ExplanationMsg, HostToWebview,
  MethodName, ModelInfoMsg, PanelSettings, ViewMode, WebviewToHost,
} from '../shared/protocol';
import { EngineCancelled, EngineClient, EngineCrashed, EngineUserError } from './engineClient';
import { ModelLoads } from './modelLoads';
import { isColormapName } from '../shared/colormaps';
import { modelName } from '../shared/modelText';
import { panelHtml } from './panelHtml';
import { preprocessingChoice, type PreprocessingChoice } from './preprocessingChoice';
import { imageDisplay } from './imageDisplay';

export const PANEL_VIEW_TYPE = 'saliencyLens.explain';

/** What panels share: the engine, the log, and how to pick a model. */
export interface PanelHost {
  extensionUri: vscode.Uri;
  engine: EngineClient;
  /** Model loads shared across panels (one engine request and one notification per model). */
  loads: ModelLoads;
  log: vscode.LogOutputChannel;
  /** The model panels use; asks the user when there is none yet (calling `onAsk` first). */
  model(onAsk?: () => void): Promise<string | undefined>;
  onModelInfo(info: ModelInfoMsg): void;
  /** A model did not load: nothing may go on claiming the previous one. */
  onModelFailed(modelPath: string, message: string): void;
  /**
   * Opens a model for the Model view and the status bar when no panel shows it; a failure is shown there and in
   * a toast that goes away by itself. Resolves with the model, or the sentence saying why it did not load.
   */
  openModel(modelPath: string): Promise<{ model?: ModelInfoMsg; error?: string }>;
  /** The colormap and opacity last chosen in a panel (this workspace), which the next panel starts with. */
  displayChoice(): PanelDisplay | undefined;
  rememberDisplay(display: PanelDisplay): void;
  /** Preset chosen in a panel for this model (remembered per model), if any. */
  presetFor(modelPath: string): string | undefined;
  rememberPreset(modelPath: string, preset: string): Thenable<void>;
  /** The Grad-CAM layer chosen in the Model view, if any. */
  chosenLayer(): string | undefined;
}

/** Largest side of a map an export accepts (a map this large is 1 GB of float32 already). */
const MAX_EXPORT_SIDE = 16384;
/** Largest image a raw map is exported at from the panel: 50 megapixels is 200 MB of float32, resized on the host. */
const MAX_EXPORT_PIXELS = 50_000_000;

/**
 * What changed in a panel: which one is current, its model (loaded or updated on disk), its image, what it
 * shows ('class'; 'layer': what maps are computed with — the CAM layer, signed saliency, a method's options).
 */
export type PanelChange = 'current' | 'model' | 'modelUpdated' | 'image' | 'class' | 'layer' | 'display' | 'closed';

/** What the panel shows: its class, its CAM layer (undefined = automatic), signed saliency, its methods and their options. */
export interface PanelSelection {
  classIndex?: number;
  layer?: string;
  signed: boolean;
  /** The methods in view, and every registry method's options as the panel computes it (every option set). */
  methods?: MethodName[];
  options?: Partial<Record<MethodName, MethodOptions>>;
}

/** Actions offered with errors; the webview sends the label back. */
const SELECT_MODEL = 'Select Model…';
const OPEN_LOG = 'Open Log';
const RETRY = 'Retry';

/** How maps are drawn: what a panel's user chose, which the views beside it and the next panel follow. */
export type PanelDisplay = Pick<PanelSettings, 'colormap' | 'opacity'>;

/** A display choice as the webview sent it, if it is one. */
function validDisplay(colormap: unknown, opacity: unknown): PanelDisplay | undefined {
  return isColormapName(colormap) && typeof opacity === 'number' && opacity >= 0 && opacity <= 1 ? { colormap, opacity } : undefined;
}

/**
 * The display settings every webview starts from (colormap, opacity, view): the colormap and opacity last
 * chosen in a panel, else the settings (the user's defaults, never rewritten by a choice made in a panel).
 */
export function panelSettings(chosen?: PanelDisplay): PanelSettings {
  const c = vscode.workspace.getConfiguration('saliencyLens');
  const view = c.get<string>('defaultView', 'side-by-side');
  return {
    colormap: chosen?.colormap ?? c.get('colormap', 'jet'),
    opacity: chosen?.opacity ?? c.get('opacity', 0.5),
    // 'side-by-side' or a registry method; anything else (a method since removed) falls back to the default.
    defaultView: view === 'side-by-side' || isMethodName(view) ? view : 'side-by-side',
  };
}

/** Engine progress reaches the webview at most this often (and always at the end). */
const PROGRESS_INTERVAL_MS = 100;



/**
 * The files of a model folder whose change means a new model version: TF.js model.json and shards, ONNX
 * files and their external data, labels and settings.
 */
const MODEL_FILES = `{model.json,*.bin,*.onnx,*.onnx.data,*.data,*.keras,*.h5,*.hdf5,${SIDECAR_FILES.join(',')}}`;

/** The same class names from the same source. */
function sameLabels(a: ModelInfoMsg, b: ModelInfoMsg): boolean {
  return a.labelsSource === b.labelsSource && a.labels.length === b.labels.length && a.labels.every((l, i) => l === b.labels[i]);
}

function modelDir(modelPath: string): string {
  return fs.existsSync(modelPath) && fs.statSync(modelPath).isDirectory() ? modelPath : path.dirname(modelPath);
}

/** One explain panel per image: shows its maps, answers the webview's requests through the engine. */
export class ExplainPanel implements vscode.Disposable {
  private static readonly panels = new Map<string, ExplainPanel>();
  private static currentPanel?: ExplainPanel;
  private static readonly changed = new vscode.EventEmitter<{ panel: ExplainPanel; what: PanelChange }>();
  /** A panel became current, loaded its model, saw the model change on disk, or showed another class. */
  static readonly onDidChange = ExplainPanel.changed.event;
  private modelInfo?: ModelInfoMsg;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly pending = new vscode.CancellationTokenSource();
  /** The webview's explain requests still running, each with its own cancel (the panel's Cancel button). */
  private readonly running = new Map<number, vscode.CancellationTokenSource>();
  private modelPath?: string;
  private firstResult: Promise<ExplanationMsg>;
  private settleFirst!: { resolve(r: ExplanationMsg): void; reject(e: Error): void };
  private modelWatcher?: vscode.Disposable;
  private lastResult?: ExplanationMsg;
  /** Milestones of the first explanation (ms since the panel was created), logged once for speed work. */
  private readonly created = Date.now();
  private readonly milestones: string[] = [];
  private initGeneration = 0;
  /** How many times the model was reloaded after changing on disk (tests read it). */
  modelUpdates = 0;

  /** Shows the panel for `image` (revealing it when open) and resolves with its first explanation. */
  static show(host: PanelHost, image: vscode.Uri, initial?: { classIndex?: number; view?: ViewMode }): ExplainPanel {
    const existing = ExplainPanel.panels.get(image.fsPath);
    if (existing) {
      existing.panel.reveal(vscode.ViewColumn.Beside);
      if (initial) void existing.sendInit(initial);
      return existing;
    }
    // Beside the image, or with the other explain panels when one is open (no new split per image).
    const column = ExplainPanel.open.find((p) => p.panel.viewColumn !== undefined)?.panel.viewColumn ?? vscode.ViewColumn.Beside;
    const panel = vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, `Explain: ${path.basename(image.fsPath)}`, column, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(host.extensionUri, 'dist'), vscode.Uri.joinPath(host.extensionUri, 'media')],
    });
    return new ExplainPanel(host, panel, image, initial);
  }

  /** Restores a panel after a window reload from the state its webview saved. */
  static revive(host: PanelHost, panel: vscode.WebviewPanel, state: { imagePath?: string } | undefined): void {
    if (!state?.imagePath || !fs.existsSync(state.imagePath)) {
      panel.webview.html = '<p>The image this panel explained is gone.</p>';
      return;
    }
    new ExplainPanel(host, panel, vscode.Uri.file(state.imagePath));
  }

  static get open(): ExplainPanel[] {
    return [...ExplainPanel.panels.values()];
  }

  /** The explain panel looked at last: what the compare view works on. */
  static get current(): ExplainPanel | undefined {
    return ExplainPanel.currentPanel;
  }

  private setCurrent(): void {
    if (ExplainPanel.currentPanel === this) return;
    ExplainPanel.currentPanel = this;
    ExplainPanel.changed.fire({ panel: this, what: 'current' });
  }

  /** The model this panel explains with and how, once loaded. */
  get engineContext(): { modelPath: string; imagePath: string; preprocessing?: string; model: ModelInfoMsg } | undefined {
    if (!this.modelPath || !this.modelInfo) return undefined;
    return { modelPath: this.modelPath, imagePath: this.image.fsPath, preprocessing: this.preprocessing(this.modelPath), model: this.modelInfo };
  }

  private shown: PanelSelection = { signed: false };

  /** What the panel shows, as its webview last said (the class falls back to the latest explanation's). */
  get selection(): PanelSelection {
    return { ...this.shown, classIndex: this.shown.classIndex ?? this.lastResult?.target.index };
  }

  private onSelection(next: PanelSelection): void {
    const before = this.selection;
    this.shown = next;
    const after = this.selection;
    // Options first reported (with the first explanation) are not a change: only a later different set is.
    const optionsChanged = before.options !== undefined && JSON.stringify(before.options) !== JSON.stringify(after.options);
    if (before.layer !== after.layer || before.signed !== after.signed || optionsChanged) {
      ExplainPanel.changed.fire({ panel: this, what: 'layer' });
    } else if (before.classIndex !== after.classIndex) ExplainPanel.changed.fire({ panel: this, what: 'class' });
  }

  /** Shows `method` with `options` (a Methods view tile was clicked), keeping the focus where it is. */
  showMethod(method: MethodName, options: MethodOptions): void {
    this.panel.reveal(undefined, true);
    this.post({ type: 'showMethod', method, options });
  }

  /** Shows `classIndex` (a compare-view tile was clicked), keeping the focus where it is. */
  showClass(classIndex: number): void {
    this.panel.reveal(undefined, true);
    this.post({ type: 'setClass', classIndex });
  }

  /** The image as a data: URL (a display-sized copy of a large one), so webviews can read its pixels without tainting canvases. */
  imageDataUrl(): Promise<string> {
    return this.imageDisplay().then((d) => d.dataUrl);
  }

  /** The picture the webview shows and the image's real size (the webview draws on the one, measures in the other). */
  private imageDisplay(): Promise<DisplayImageMsg> {
    return imageDisplay(this.image.fsPath, this.host.engine);
  }

  private constructor(private readonly host: PanelHost, readonly panel: vscode.WebviewPanel, readonly image: vscode.Uri,
    private initial?: { classIndex?: number; view?: ViewMode }) {
    ExplainPanel.panels.set(image.fsPath, this);
    this.setCurrent();
    this.firstResult = new Promise((resolve, reject) => (this.settleFirst = { resolve, reject }));
    this.firstResult.catch(() => undefined);
    panel.iconPath = vscode.Uri.joinPath(host.extensionUri, 'media', 'icon.svg');
    panel.webview.html = panelHtml(panel.webview, host.extensionUri, panel.title);
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.onDidChangeViewState((e) => e.webviewPanel.active && this.setCurrent()),
      panel.webview.onDidReceiveMessage((m: WebviewToHost) => this.onMessage(m)),
      this.watch(new vscode.RelativePattern(vscode.Uri.file(path.dirname(image.fsPath)), path.basename(image.fsPath)), () => {
        this.imageDisplay().then(
          (d) => {
            this.post({ type: 'invalidate', reason: 'The image changed on disk.', imageUri: d.dataUrl, imageWidth: d.width, imageHeight: d.height });
            ExplainPanel.changed.fire({ panel: this, what: 'image' });
          },
          (err) => this.host.log.warn(`${image.fsPath}: ${(err as Error).message}`));
      }),
    );
  }

  /** The first explanation this panel shows (or its first error). */
  result(): Promise<ExplanationMsg> {
    return this.firstResult;
  }

  /** The most recent explanation sent to the webview. */
  get latest(): ExplanationMsg | undefined {
    return this.lastResult;
  }

  /** Preprocessing for a model: the preset picked for it in a panel, else the setting, else the model's own. */
  private preprocessing(modelPath: string): string | undefined {
    return this.preprocessingParams(modelPath).preprocessing;
  }

  /** The preprocessing the host gives the engine and where it comes from (absent: the model's own, which the engine names). */
  private preprocessingParams(modelPath: string): PreprocessingChoice {
    return preprocessingChoice(this.host.presetFor(modelPath));
  }

  /** The colormap and opacity chosen in this panel, once the user has chosen. */
  display?: PanelDisplay;
  /** The class names the webview's search list holds, as it last said (tests read it). */
  labelsShown?: { count: number; first: string; last: string };

  /** The panel's preset picker: remember the preset for this model, reload with it. */
  async usePreprocessing(preset: string): Promise<void> {
    if (!this.modelPath || !(PRESETS as readonly string[]).includes(preset)) return;
    await this.host.rememberPreset(this.modelPath, preset);
    await this.sendInit();
  }

  private async sendModelInput(): Promise<void> {
    if (!this.modelPath) return;
    try {
      const input = await this.host.engine.request(ENGINE.modelInput, {
        modelPath: this.modelPath, imagePath: this.image.fsPath, ...this.preprocessingParams(this.modelPath),
      }, this.pending.token);
      this.post({ type: 'modelInput', input });
    } catch (err) {
      this.report(err);
    }
  }

  /** Shows Grad-CAM at `layer` (the Model view's "Use for Grad-CAM"). */
  showLayer(layer: string): void {
    this.post({ type: 'setLayer', layer });
  }

  private watch(pattern: vscode.GlobPattern, onChange: () => void): vscode.Disposable {
    const watcher = vscode.workspace.createFileSystemWatcher(pattern);
    let timer: NodeJS.Timeout | undefined;
    // Debounced: a save or a checkpoint writes several times in a row.
    const fire = () => {
      clearTimeout(timer);
      timer = setTimeout(onChange, 300);
    };
    return vscode.Disposable.from(watcher, watcher.onDidChange(fire), watcher.onDidCreate(fire), { dispose: () => clearTimeout(timer) });
  }

  private post(message: HostToWebview): void {
    void this.panel.webview.postMessage(message);
  }

  private fail(message: string, actions: string[], requestId?: number): void {
    this.host.log.warn(`${path.basename(this.image.fsPath)}: ${message}`);
    this.post({ type: 'error', requestId, message, actions });
    this.settleFirst.reject(new Error(message));
  }

  /** Turns an engine failure into one sentence with the actions that can fix it. */
  private report(err: unknown, requestId?: number, modelPath = this.modelPath): void {
    if (err instanceof EngineCancelled) return this.fail('Cancelled.', [RETRY], requestId);
    if (err instanceof EngineUserError) {
      const aboutModel = modelPath && err.message.includes(modelDir(modelPath));
      return this.fail(err.message, aboutModel ? [SELECT_MODEL, OPEN_LOG] : [OPEN_LOG], requestId);
    }
    if (err instanceof EngineCrashed) return this.fail(err.message, [RETRY, OPEN_LOG], requestId);
    this.fail(`Something went wrong: ${(err as Error).message}`, [OPEN_LOG], requestId);
  }

  /** (Re)loads the model and sends the webview what it needs to ask for maps; a newer call supersedes an older one. */
  async sendInit(initial = this.initial): Promise<void> {
    this.initial = undefined;
    const generation = ++this.initGeneration;
    const current = () => generation === this.initGeneration && !this.disposed;
    // The image first, so the panel shows it (and no model it does not have) while a model is chosen or loads.
    let image = this.modelInfo ? undefined : await this.sendImage();
    if (!current()) return;
    const modelPath = await this.host.model(() => current() && this.post({ type: 'busy', message: 'Choose a model…' }));
    if (!current()) return;
    if (!modelPath) {
      if (this.modelInfo) await this.dropModel();
      return this.fail('No model selected: choose a TF.js model.json, a Keras .keras/.h5 file or an .onnx model to explain this image with.', [SELECT_MODEL]);
    }
    this.post({ type: 'busy', message: `Loading ${modelName(modelPath)}…` });
    let model: ModelInfoMsg;
    try {
      model = await this.host.loads.load({ modelPath, ...this.preprocessingParams(modelPath) }, this.pending.token);
    } catch (err) {
      if (current()) await this.modelFailed(err, modelPath);
      return;
    }
    try {
      image ??= await this.imageDisplay();
    } catch (err) {
      if (current()) this.report(err);
      return;
    }
    if (!current()) return;
    this.modelPath = modelPath;
    this.modelInfo = model;
    this.host.onModelInfo(model);
    this.mark('model open');
    this.watchModel(modelPath);
    this.post({
      type: 'init', imageUri: image.dataUrl, imageWidth: image.width, imageHeight: image.height,
      imageName: path.basename(this.image.fsPath), imagePath: this.image.fsPath, model, settings: panelSettings(this.host.displayChoice()), initial,
    });
    const chosen = this.host.chosenLayer();
    if (chosen) this.showLayer(chosen);
    ExplainPanel.changed.fire({ panel: this, what: 'model' });
  }

  /** Shows the image alone (no model yet); resolves with what was sent, or undefined when the image cannot be read (reported). */
  private async sendImage(): Promise<DisplayImageMsg | undefined> {
    try {
      const image = await this.imageDisplay();
      this.post({ type: 'image', imageUri: image.dataUrl, imageWidth: image.width, imageHeight: image.height, imageName: path.basename(this.image.fsPath), imagePath: this.image.fsPath });
      return image;
    } catch (err) {
      this.report(err);
      return undefined;
    }
  }

  /** The panel no longer has a model: the webview drops its maps and preset, and the views beside it follow. */
  private async dropModel(): Promise<void> {
    this.modelPath = undefined;
    this.modelInfo = undefined;
    this.modelWatcher?.dispose();
    this.modelWatcher = undefined;
    await this.sendImage();
    ExplainPanel.changed.fire({ panel: this, what: 'model' });
  }

  /**
   * The chosen model did not load: the panel keeps the image and says why, and nothing claims the previous model.
   * A load the user cancelled leaves the panel as it was (its model still loaded), with Retry.
   */
  private async modelFailed(err: unknown, modelPath: string): Promise<void> {
    if (err instanceof EngineCancelled) return this.disposed ? undefined : this.report(err);
    this.host.onModelFailed(modelPath, err instanceof Error ? err.message : String(err));
    if (this.modelInfo) await this.dropModel();
    this.report(err, undefined, modelPath);
  }

  private watchModel(modelPath: string): void {
    this.modelWatcher?.dispose();
    // Only the model's own files: exports or images saved beside it must not reload it.
    this.modelWatcher = this.watch(new vscode.RelativePattern(vscode.Uri.file(modelDir(modelPath)), MODEL_FILES), () => void this.reloadModel(modelPath));
  }

  /**
   * The model's files changed (training wrote a checkpoint): load the new version and tell the webview,
   * which recomputes and keeps the old maps. model.json and its shards are written one after another, so
   * a version that does not load yet is retried for a few seconds before the error is shown.
   */
  private async reloadModel(modelPath: string): Promise<void> {
    const generation = ++this.initGeneration;
    const changedAt = Date.now();
    let lastError: unknown;
    for (const wait of [0, 250, 500, 1000, 2000]) {
      if (wait) await new Promise((r) => setTimeout(r, wait));
      if (generation !== this.initGeneration || this.disposed) return;
      try {
        // Not a load sent before the files changed: it may have read the old version.
        const model = await this.host.loads.load({ modelPath, ...this.preprocessingParams(modelPath) }, this.pending.token, false, changedAt);
        if (generation !== this.initGeneration) return;
        // A late or repeated event of a write already loaded (an in-place rewrite is several writes): not a new
        // version, and announcing it would make "Show previous" show the current maps. New class names alone
        // (a labels file, "labels": "imagenet") change no map: the panel renames, and keeps its maps.
        if (model.version !== undefined && model.version === this.modelInfo?.version) {
          if (sameLabels(model, this.modelInfo)) {
            this.host.log.info(`${modelName(modelPath)}: files unchanged since the last load, not reloaded`);
            return;
          }
          this.modelInfo = model;
          this.host.onModelInfo(model);
          this.host.log.info(`${modelName(modelPath)}: class names from ${model.labelsSource ?? 'no labels file'}`);
          this.post({ type: 'labelsChanged', model });
          ExplainPanel.changed.fire({ panel: this, what: 'model' });
          return;
        }
        this.host.onModelInfo(model);
        this.modelUpdates++;
        const time = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
        this.host.log.info(`${modelName(modelPath)} changed on disk: reloaded at ${time}`);
        this.modelInfo = model;
        this.post({ type: 'modelUpdated', time, model });
        ExplainPanel.changed.fire({ panel: this, what: 'modelUpdated' });
        return;
      } catch (err) {
        if (!(err instanceof EngineUserError)) return this.report(err);
        lastError = err;
      }
    }
    // The panel keeps the last version's maps (what the files held before), and says why the new one did not load.
    this.host.onModelFailed(modelPath, (lastError as Error).message);
    this.report(lastError, undefined, modelPath);
  }

  /** The model's files changed (e.g. its class names were written beside it): load them now rather than on the file event. */
  modelFilesChanged(): Promise<void> {
    return this.modelPath ? this.reloadModel(this.modelPath) : Promise.resolve();
  }

  /**
   * Answers one of the webview's explain requests. Its progress goes to the webview, which shows it with a
   * Cancel button (so no notification here); a cancel stops the engine and is reported as such, not as an error.
   */
  private async explain(requestId: number, request: ExplainRequest): Promise<void> {
    if (!this.modelPath) return;
    const params: EngineExplainParams = {
      ...request, modelPath: this.modelPath, imagePath: this.image.fsPath, preprocessing: this.preprocessing(this.modelPath),
    };
    const source = new vscode.CancellationTokenSource();
    const closing = this.pending.token.onCancellationRequested(() => source.cancel());
    this.running.set(requestId, source);
    let sentAt = 0;
    const progress = (p: EngineProgressMsg) => {
      const now = Date.now();
      if (p.done < p.total && now - sentAt < PROGRESS_INTERVAL_MS) return;
      sentAt = now;
      this.post({ type: 'progress', requestId, method: p.method, done: p.done, total: p.total });
    };
    try {
      // Predictions and each map go to the webview as they are ready, ahead of the answer.
      const partial = (p: ExplainPartial) => {
        if (p.kind === 'predictions' && !this.milestones.some((m) => m.startsWith('first predictions'))) this.mark('first predictions sent');
        this.post({ type: 'partial', requestId, partial: p });
      };
      const generation = this.initGeneration;
      const result = await this.host.engine.request(ENGINE.explain, params, source.token, { progress, partial });
      // An answer about a model the panel has since left (switched, or a new version) is the webview's to drop.
      if (generation !== this.initGeneration) return this.post({ type: 'explanation', requestId, result });
      const classBefore = this.selection.classIndex;
      this.lastResult = result;
      this.post({ type: 'explanation', requestId, result });
      if (this.selection.classIndex !== classBefore) ExplainPanel.changed.fire({ panel: this, what: 'class' });
      if (!this.milestones.some((m) => m.startsWith('first maps'))) {
        this.mark('first maps sent');
        this.host.log.info(`timing ${path.basename(this.image.fsPath)}: ${this.milestones.join(', ')} (engine: ${JSON.stringify(result.timings)})`);
      }
      this.settleFirst.resolve(result);
    } catch (err) {
      if (!(err instanceof EngineCancelled)) return this.report(err, requestId);
      if (this.disposed) return;
      this.host.log.info(`${path.basename(this.image.fsPath)}: explain ${request.methods?.join(', ') ?? ''} cancelled`);
      this.post({ type: 'cancelled', requestId });
      this.settleFirst.reject(new Error('Cancelled.'));
    } finally {
      this.running.delete(requestId);
      closing.dispose();
      source.dispose();
    }
  }

  private mark(what: string): void {
    if (this.milestones.length < 8) this.milestones.push(`${what} ${Date.now() - this.created} ms`);
  }

  private async onMessage(message: WebviewToHost): Promise<void> {
    switch (message.type) {
      case 'ready':
        this.mark('webview ready');
        return this.sendInit();
      case 'explain':
        return this.explain(message.requestId, message.request);
      case 'cancel':
        this.running.get(message.requestId)?.cancel();
        return;
      case 'exportPng':
        return this.save(message.suggestedName, { 'PNG image': ['png'] }, () => Buffer.from(message.dataUrl.split(',')[1] ?? '', 'base64'))
          .catch((err) => this.report(err));
      case 'exportNpy':
        return this.exportNpy(message);
      case 'action':
        return this.onAction(message.action);
      case 'modelInput':
        return this.sendModelInput();
      case 'setPreprocessing':
        return this.usePreprocessing(message.preset);
      case 'imageError':
        return this.fail(message.message, [OPEN_LOG]);
      case 'labelsShown':
        this.labelsShown = { count: message.count, first: message.first, last: message.last };
        this.host.log.debug(`${path.basename(this.image.fsPath)}: ${message.count} class names in the search list (${message.first} … ${message.last})`);
        return;
      case 'display': {
        const display = validDisplay(message.colormap, message.opacity);
        if (!display) return;
        this.display = display;
        this.host.rememberDisplay(display);
        ExplainPanel.changed.fire({ panel: this, what: 'display' });
        return;
      }
      case 'selection':
        return this.onSelection({
          classIndex: message.classIndex, layer: message.layer, signed: message.signed, methods: message.methods, options: message.options,
        });
      case 'compare':
        this.setCurrent();
        await vscode.commands.executeCommand('saliencyLens.compareClasses');
        return;
      case 'compareMethods':
        this.setCurrent();
        await vscode.commands.executeCommand('saliencyLens.compareMethods');
        return;
      case 'measureTrust':
        this.setCurrent();
        await vscode.commands.executeCommand('saliencyLens.measureTrust');
        return;
      case 'log':
        this.host.log.info(`[webview] ${message.message}`);
    }
  }

  /**
   * Saves the raw map the webview shows (its own copy: a map that took minutes is not computed again), at the
   * image's size as the CLI writes it: resized over the whole image, or over the model's input region when that
   * covers only part of it, with NaN (no attribution) outside.
   */
  private async exportNpy(message: Extract<WebviewToHost, { type: 'exportNpy' }>): Promise<void> {
    const { method, suggestedName, map, imageWidth: w, imageHeight: h, inputRegion: region } = message;
    const side = (n: unknown) => Number.isInteger(n) && (n as number) > 0 && (n as number) <= MAX_EXPORT_SIDE;
    let values: Float32Array | undefined;
    try {
      values = base64ToFloat32(map.data);
    } catch {
      values = undefined;
    }
    const count = (n: unknown) => Number.isInteger(n) && (n as number) > 0;
    const regionOk = !region || ([region.x, region.y, region.width, region.height].every(Number.isFinite) && region.width > 0 && region.height > 0);
    if (!isMethodName(method) || !side(map.width) || !side(map.height) || !count(w) || !count(h) || values?.length !== map.width * map.height || !regionOk) {
      return this.fail(`The ${method} map to export is malformed.`, [OPEN_LOG]);
    }
    // The map is resized here, on the extension host: an image of many megapixels would hold it for seconds.
    if (w * h > MAX_EXPORT_PIXELS) {
      return this.fail(`${path.basename(this.image.fsPath)} is ${w}×${h}: a raw map at that size (${Math.ceil((w * h * 4) / 2 ** 20)} MB) is more than ` +
        `the panel exports (${MAX_EXPORT_PIXELS / 1e6} megapixels); the CLI writes it: saliency-lens explain --model … --image ${path.basename(this.image.fsPath)}`, [OPEN_LOG]);
    }
    const raw = values;
    try {
      await this.save(suggestedName, { 'NumPy array': ['npy'] }, () => encodeNpyFloat32(placeMap(raw, map.width, map.height, region, w, h, w, h), [h, w]));
    } catch (err) {
      this.report(err);
    }
  }

  private async onAction(action: string): Promise<void> {
    if (action === SELECT_MODEL) await vscode.commands.executeCommand('saliencyLens.selectModel');
    else if (action === OPEN_LOG) this.host.log.show();
    else if (action === RETRY) await this.sendInit();
  }

  /**
   * Asks where to save, proposing the exports folder beside the image (a folder run never reads it back as an
   * input); the dialog confirms any overwrite, and the folder is made only once the user has accepted.
   */
  private async save(suggestedName: string, filters: Record<string, string[]>, bytes: () => Uint8Array): Promise<void> {
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.file(path.join(path.dirname(this.image.fsPath), EXPORTS_FOLDER, suggestedName)),
      filters,
    });
    if (!target) return;
    try {
      await vscode.workspace.fs.createDirectory(target.with({ path: path.posix.dirname(target.path) }));
      await vscode.workspace.fs.writeFile(target, bytes());
      this.host.log.info(`saved ${target.fsPath}`);
    } catch (err) {
      this.fail(`Could not save ${target.fsPath}: ${(err as Error).message}`, [OPEN_LOG]);
    }
  }

  private disposed = false;

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    ExplainPanel.panels.delete(this.image.fsPath);
    if (ExplainPanel.currentPanel === this) {
      ExplainPanel.currentPanel = ExplainPanel.open.at(-1);
      if (ExplainPanel.currentPanel) ExplainPanel.changed.fire({ panel: ExplainPanel.currentPanel, what: 'current' });
      else ExplainPanel.changed.fire({ panel: this, what: 'closed' });
    }
    // Closing a panel abandons its pending requests.
    this.pending.cancel();
    this.pending.dispose();
    this.modelWatcher?.dispose();
    this.settleFirst.reject(new Error('The panel was closed.'));
    this.disposables.forEach((d) => d.dispose());
    this.panel.dispose();
  }
}
