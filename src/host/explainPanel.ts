import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { encodeNpyFloat32 } from '../engine/io/npy';
import { SIDECAR_FILES } from '../engine/model/sidecar';
import { bilinearResize } from '../shared/resize';
import { isMethodName, MethodOptions } from '../shared/methods';
import {
  base64ToFloat32, ENGINE, EngineProgressMsg, ModelInputMsg, PRESETS, EngineExplainParams, ExplainRequest, ExplanationMsg, HostToWebview,
  MethodName, ModelInfoMsg, PanelSettings, ViewMode, WebviewToHost,
} from '../shared/protocol';
import { EngineCancelled, EngineClient, EngineCrashed, EngineUserError } from './engineClient';
import { panelHtml } from './panelHtml';

export const PANEL_VIEW_TYPE = 'saliencyLens.explain';

/** What panels share: the engine, the log, and how to pick a model. */
export interface PanelHost {
  extensionUri: vscode.Uri;
  engine: EngineClient;
  log: vscode.LogOutputChannel;
  /** The model panels use; asks the user when there is none yet. */
  model(): Promise<string | undefined>;
  onModelInfo(info: ModelInfoMsg): void;
  /** Preset chosen in a panel for this model (remembered per model), if any. */
  presetFor(modelPath: string): string | undefined;
  rememberPreset(modelPath: string, preset: string): Thenable<void>;
  /** The Grad-CAM layer chosen in the Model view, if any. */
  chosenLayer(): string | undefined;
}

/** Largest side of a map or image an export accepts (an image this large is 1 GB of float32 already). */
const MAX_EXPORT_SIDE = 16384;

const IMAGE_MIME: Record<string, string> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.bmp': 'image/bmp', '.gif': 'image/gif', '.webp': 'image/webp',
};

/**
 * What changed in a panel: which one is current, its model (loaded or updated on disk), its image, what it
 * shows ('class'; 'layer': what maps are computed with — the CAM layer, signed saliency, a method's options).
 */
export type PanelChange = 'current' | 'model' | 'modelUpdated' | 'image' | 'class' | 'layer' | 'closed';

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

/** The display settings every webview starts from (colormap, opacity, view). */
export function panelSettings(): PanelSettings {
  const c = vscode.workspace.getConfiguration('saliencyLens');
  const view = c.get<string>('defaultView', 'side-by-side');
  return {
    colormap: c.get('colormap', 'jet'),
    opacity: c.get('opacity', 0.5),
    // 'side-by-side' or a registry method; anything else (a method since removed) falls back to the default.
    defaultView: view === 'side-by-side' || isMethodName(view) ? view : 'side-by-side',
  };
}

/** Engine progress reaches the webview at most this often (and always at the end). */
const PROGRESS_INTERVAL_MS = 100;

/** The setting: empty means "what the model folder declares". */
function configuredPreprocessing(): string | undefined {
  return vscode.workspace.getConfiguration('saliencyLens').get<string>('preprocessing')?.trim() || undefined;
}

/** The image as a data: URL, so the webview can read its pixels for exports without tainting canvases. */
async function imageDataUrl(file: string): Promise<string> {
  const mime = IMAGE_MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  return `data:${mime};base64,${(await fs.promises.readFile(file)).toString('base64')}`;
}

/**
 * The files of a model folder whose change means a new model version: TF.js model.json and shards, ONNX
 * files and their external data, labels and settings.
 */
const MODEL_FILES = `{model.json,*.bin,*.onnx,*.onnx.data,*.data,*.keras,*.h5,*.hdf5,${SIDECAR_FILES.join(',')}}`;

function modelDir(modelPath: string): string {
  return fs.existsSync(modelPath) && fs.statSync(modelPath).isDirectory() ? modelPath : path.dirname(modelPath);
}

/** Runs `work`, showing a cancellable notification only if it takes longer than a moment. */
async function withDelayedProgress<T>(title: string, work: (token: vscode.CancellationToken) => Promise<T>, outer?: vscode.CancellationToken): Promise<T> {
  const source = new vscode.CancellationTokenSource();
  const outerSub = outer?.onCancellationRequested(() => source.cancel());
  const task = work(source.token);
  let done = false;
  const timer = setTimeout(() => {
    if (done) return;
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (_, token) => {
      token.onCancellationRequested(() => source.cancel());
      return task.catch(() => undefined);
    });
  }, 400);
  try {
    return await task;
  } finally {
    done = true;
    clearTimeout(timer);
    outerSub?.dispose();
    source.dispose();
  }
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

  imageDataUrl(): Promise<string> {
    return imageDataUrl(this.image.fsPath);
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
        imageDataUrl(image.fsPath).then(
          (imageUri) => {
            this.post({ type: 'invalidate', reason: 'The image changed on disk.', imageUri });
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
    return this.host.presetFor(modelPath) ?? configuredPreprocessing();
  }

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
        modelPath: this.modelPath, imagePath: this.image.fsPath, preprocessing: this.preprocessing(this.modelPath),
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
    const modelPath = await this.host.model();
    if (generation !== this.initGeneration) return;
    if (!modelPath) return this.fail('No model selected: choose a TF.js model.json, a Keras .keras/.h5 file or an .onnx model to explain this image with.', [SELECT_MODEL]);
    this.post({ type: 'busy', message: `Loading ${path.basename(modelDir(modelPath))}…` });
    try {
      const model = await withDelayedProgress('Saliency Lens: loading model', (token) =>
        this.host.engine.request(ENGINE.open, { modelPath, preprocessing: this.preprocessing(modelPath) }, token), this.pending.token);
      const imageUri = await imageDataUrl(this.image.fsPath);
      if (generation !== this.initGeneration) return;
      this.modelPath = modelPath;
      this.modelInfo = model;
      this.host.onModelInfo(model);
      this.mark('model open');
      this.watchModel(modelPath);
      this.post({
        type: 'init', imageUri, imageName: path.basename(this.image.fsPath), imagePath: this.image.fsPath, model, settings: panelSettings(), initial,
      });
      const chosen = this.host.chosenLayer();
      if (chosen) this.showLayer(chosen);
      ExplainPanel.changed.fire({ panel: this, what: 'model' });
    } catch (err) {
      if (generation === this.initGeneration) this.report(err, undefined, modelPath);
    }
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
    let lastError: unknown;
    for (const wait of [0, 250, 500, 1000, 2000]) {
      if (wait) await new Promise((r) => setTimeout(r, wait));
      if (generation !== this.initGeneration || this.disposed) return;
      try {
        const model = await this.host.engine.request(ENGINE.open, { modelPath, preprocessing: this.preprocessing(modelPath) }, this.pending.token);
        if (generation !== this.initGeneration) return;
        // A late or repeated event of a write already loaded (an in-place rewrite is several writes): not a new
        // version, and announcing it would make "Show previous" show the current maps.
        if (model.version !== undefined && model.version === this.modelInfo?.version) {
          this.host.log.info(`${path.basename(modelDir(modelPath))}: files unchanged since the last load, not reloaded`);
          return;
        }
        this.host.onModelInfo(model);
        this.modelUpdates++;
        const time = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
        this.host.log.info(`${path.basename(modelDir(modelPath))} changed on disk: reloaded at ${time}`);
        this.modelInfo = model;
        this.post({ type: 'modelUpdated', time, model });
        ExplainPanel.changed.fire({ panel: this, what: 'modelUpdated' });
        return;
      } catch (err) {
        if (!(err instanceof EngineUserError)) return this.report(err);
        lastError = err;
      }
    }
    this.report(lastError, undefined, modelPath);
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
      // Another request's progress (the engine's progress names the method, not the request).
      if (request.methods && !request.methods.includes(p.method)) return;
      const now = Date.now();
      if (p.done < p.total && now - sentAt < PROGRESS_INTERVAL_MS) return;
      sentAt = now;
      this.post({ type: 'progress', requestId, method: p.method, done: p.done, total: p.total });
    };
    try {
      const result = await this.host.engine.request(ENGINE.explain, params, source.token, progress);
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
      case 'log':
        this.host.log.info(`[webview] ${message.message}`);
    }
  }

  /**
   * Saves the raw map the webview shows (its own copy: a map that took minutes is not computed again), resized
   * to the image's size as the CLI writes it.
   */
  private async exportNpy(message: Extract<WebviewToHost, { type: 'exportNpy' }>): Promise<void> {
    const { method, suggestedName, map, imageWidth: w, imageHeight: h } = message;
    const side = (n: unknown) => Number.isInteger(n) && (n as number) > 0 && (n as number) <= MAX_EXPORT_SIDE;
    let values: Float32Array | undefined;
    try {
      values = base64ToFloat32(map.data);
    } catch {
      values = undefined;
    }
    if (!isMethodName(method) || !side(map.width) || !side(map.height) || !side(w) || !side(h) || values?.length !== map.width * map.height) {
      return this.fail(`The ${method} map to export is malformed.`, [OPEN_LOG]);
    }
    const raw = values;
    try {
      await this.save(suggestedName, { 'NumPy array': ['npy'] }, () => encodeNpyFloat32(bilinearResize(raw, map.width, map.height, w, h), [h, w]));
    } catch (err) {
      this.report(err);
    }
  }

  private async onAction(action: string): Promise<void> {
    if (action === SELECT_MODEL) await vscode.commands.executeCommand('saliencyLens.selectModel');
    else if (action === OPEN_LOG) this.host.log.show();
    else if (action === RETRY) await this.sendInit();
  }

  private async save(suggestedName: string, filters: Record<string, string[]>, bytes: () => Uint8Array): Promise<void> {
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.file(path.join(path.dirname(this.image.fsPath), suggestedName)),
      filters,
    });
    if (!target) return;
    try {
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
