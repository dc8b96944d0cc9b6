import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  CompareRequest, CompareSubject, CompareToHost, ComparisonMsg, ENGINE, EngineCompareParams, HostToCompare,
} from '../shared/protocol';
import { EngineCancelled, EngineUserError } from './engineClient';
import { ExplainPanel, PanelChange, PanelHost, panelSettings } from './explainPanel';
import { panelHtml } from './panelHtml';

export const COMPARE_VIEW_ID = 'saliencyLens.compare';
const COMPARE_PANEL_TYPE = 'saliencyLens.comparePanel';

/** What a compare webview drew last (tests wait for it). */
export interface CompareRendered {
  classes: number[];
  drawnTiles: number;
  contrast: boolean;
  sharedScale: boolean;
}

/** The webview a controller drives, and whether it can be seen (a hidden side bar need not recompute). */
interface CompareHostView {
  webview: vscode.Webview;
  visible(): boolean;
  onDidBecomeVisible: vscode.Event<void>;
}

/** Changes after which the maps must be computed again (a new class in the panel only moves the mark). */
const RECOMPUTE: readonly PanelChange[] = ['modelUpdated', 'image', 'layer'];

/**
 * One compare webview (the side-bar view or a panel beside the explain panel): it follows the current
 * explain panel's image, model and selection, asks the engine for the maps of the chosen classes, and
 * sends a clicked tile's class back to that panel.
 */
export class CompareController implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly pending = new vscode.CancellationTokenSource();
  private readonly webview: vscode.Webview;
  private subjectKey?: string;
  private generation = 0;
  /** Changed while hidden: what to send when the view is seen again (a full subject or a refresh). */
  private stale?: 'subject' | 'refresh';
  private readonly renderedEmitter = new vscode.EventEmitter<CompareRendered>();
  /** Fires each time the webview has drawn a comparison. */
  readonly onDidRender = this.renderedEmitter.event;
  lastRendered?: CompareRendered;
  /** The engine's answer to the latest request (tests compare it with single-class maps). */
  lastComparison?: ComparisonMsg;

  constructor(private readonly host: PanelHost, private readonly view: CompareHostView, title: string) {
    this.webview = view.webview;
    this.webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(host.extensionUri, 'dist'), vscode.Uri.joinPath(host.extensionUri, 'media')],
    };
    this.webview.html = panelHtml(this.webview, host.extensionUri, title, 'compare.js');
    this.disposables.push(
      this.renderedEmitter,
      this.webview.onDidReceiveMessage((m: CompareToHost) => this.onMessage(m)),
      ExplainPanel.onDidChange(({ panel, what }) => this.onPanelChange(panel, what)),
      view.onDidBecomeVisible(() => {
        const stale = this.stale;
        this.stale = undefined;
        if (stale) void this.sendSubject(stale === 'refresh');
      }),
    );
  }

  private onPanelChange(panel: ExplainPanel, what: PanelChange): void {
    if (what !== 'closed' && panel !== ExplainPanel.current) return;
    if (what === 'class') {
      // Only the mark moves: cheap, so hidden views get it too.
      this.post({ type: 'current', classIndex: panel.selection.classIndex });
      return;
    }
    const refreshOnly = RECOMPUTE.includes(what);
    if (!this.view.visible()) {
      this.stale = this.stale === 'subject' || !refreshOnly ? 'subject' : 'refresh';
      return;
    }
    void this.sendSubject(refreshOnly);
  }

  /** Requests the maps again (e.g. the Model view chose another Grad-CAM layer). */
  refresh(): Promise<void> {
    if (!this.view.visible()) {
      this.stale ??= 'refresh';
      return Promise.resolve();
    }
    return this.sendSubject(true);
  }

  /** Compare exactly these classes (commands and tests). */
  setClasses(classes: number[]): void {
    this.post({ type: 'setClasses', classes });
  }

  private post(message: HostToCompare): void {
    void this.webview.postMessage(message);
  }

  private async subject(panel: ExplainPanel): Promise<CompareSubject | undefined> {
    const context = panel.engineContext;
    if (!context) return undefined;
    const selection = panel.selection;
    const usable = (l: string | undefined) => (l && context.model.spatialLayers.some((g) => g.name === l) ? l : undefined);
    return {
      imageUri: await panel.imageDataUrl(),
      imageName: path.basename(panel.image.fsPath),
      imagePath: panel.image.fsPath,
      model: context.model,
      classIndex: selection.classIndex,
      layer: usable(selection.layer) ?? usable(this.host.chosenLayer()),
      signed: selection.signed,
    };
  }

  /** Tells the webview what to compare: a new subject, or the same one to request again. The latest call wins. */
  private async sendSubject(refreshOnly = false): Promise<void> {
    const generation = ++this.generation;
    const panel = ExplainPanel.current;
    if (!panel) {
      this.subjectKey = undefined;
      return this.post({ type: 'empty', message: 'Explain an image to compare its classes here.' });
    }
    let subject: CompareSubject | undefined;
    try {
      subject = await this.subject(panel);
    } catch (err) {
      if (generation === this.generation) this.post({ type: 'error', message: `Could not read ${panel.image.fsPath}: ${(err as Error).message}` });
      return;
    }
    // A newer call, or another panel became current, while the image was read: this subject is stale.
    if (generation !== this.generation || panel !== ExplainPanel.current) return;
    if (!subject) return this.post({ type: 'busy', message: `Waiting for ${path.basename(panel.image.fsPath)}'s model…` });
    const key = `${subject.imagePath}\u0000${subject.model.path}`;
    if (refreshOnly && key === this.subjectKey) return this.post({ type: 'refresh', subject });
    this.subjectKey = key;
    this.post({ type: 'subject', subject, settings: panelSettings() });
  }

  /** The current panel, if it still shows what the webview's request was made for. */
  private panelFor(imagePath: string, modelPath?: string): ExplainPanel | undefined {
    const panel = ExplainPanel.current;
    const context = panel?.engineContext;
    if (!panel || !context || context.imagePath !== imagePath || (modelPath !== undefined && context.model.path !== modelPath)) return undefined;
    return panel;
  }

  private async compare(requestId: number, request: CompareRequest, imagePath: string, modelPath: string): Promise<void> {
    const context = this.panelFor(imagePath, modelPath)?.engineContext;
    if (!context) {
      this.post({ type: 'error', requestId, message: `The explain panel of ${path.basename(imagePath)} has closed or changed.` });
      return void this.sendSubject();
    }
    const params: EngineCompareParams = { ...request, modelPath: context.modelPath, imagePath: context.imagePath, preprocessing: context.preprocessing };
    try {
      const result = await this.host.engine.request(ENGINE.compare, params, this.pending.token);
      this.lastComparison = result;
      this.post({ type: 'comparison', requestId, result });
    } catch (err) {
      const message = err instanceof EngineCancelled ? 'Cancelled.' : (err as Error).message;
      if (!(err instanceof EngineUserError)) this.host.log.warn(`compare: ${message}`);
      this.post({ type: 'error', requestId, message });
    }
  }

  private onMessage(message: CompareToHost): void {
    switch (message.type) {
      case 'ready':
        return void this.sendSubject();
      case 'compare':
        return void this.compare(message.requestId, message.request, message.imagePath, message.modelPath);
      case 'selectClass': {
        const panel = this.panelFor(message.imagePath);
        const n = panel?.engineContext?.model.numClasses ?? 0;
        if (panel && Number.isInteger(message.classIndex) && message.classIndex >= 0 && message.classIndex < n) panel.showClass(message.classIndex);
        return;
      }
      case 'rendered':
        this.lastRendered = { classes: message.classes, drawnTiles: message.drawnTiles, contrast: message.contrast, sharedScale: message.sharedScale };
        return this.renderedEmitter.fire(this.lastRendered);
      case 'log':
        return this.host.log.info(`[compare] ${message.message}`);
    }
  }

  dispose(): void {
    this.pending.cancel();
    this.pending.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}

/** The side bar's "Compare Classes" view, and the same view opened as a panel beside the explain panel. */
export class CompareViews implements vscode.WebviewViewProvider, vscode.Disposable {
  private readonly live = new Set<CompareController>();
  private panel?: { panel: vscode.WebviewPanel; controller: CompareController };

  constructor(private readonly host: PanelHost) {}

  get controllers(): CompareController[] {
    return [...this.live];
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    const visible = new vscode.EventEmitter<void>();
    const sub = view.onDidChangeVisibility(() => view.visible && visible.fire());
    const controller = new CompareController(this.host, { webview: view.webview, visible: () => view.visible, onDidBecomeVisible: visible.event }, 'Compare classes');
    this.track(controller, view.onDidDispose, () => {
      sub.dispose();
      visible.dispose();
    });
  }

  /** Opens (or reveals) the compare panel in the column right of the explain panel. */
  openBeside(): CompareController {
    const column = (ExplainPanel.current?.panel.viewColumn ?? vscode.ViewColumn.One) + 1;
    const existing = this.panel;
    if (existing) {
      existing.panel.reveal(existing.panel.viewColumn ?? column, true);
      return existing.controller;
    }
    const panel = vscode.window.createWebviewPanel(COMPARE_PANEL_TYPE, 'Compare classes', { viewColumn: column, preserveFocus: true }, {
      enableScripts: true,
      retainContextWhenHidden: true,
    });
    panel.iconPath = vscode.Uri.joinPath(this.host.extensionUri, 'media', 'icon.svg');
    const visible = new vscode.EventEmitter<void>();
    const sub = panel.onDidChangeViewState((e) => e.webviewPanel.visible && visible.fire());
    const controller = new CompareController(this.host, { webview: panel.webview, visible: () => panel.visible, onDidBecomeVisible: visible.event }, 'Compare classes');
    this.panel = { panel, controller };
    this.track(controller, panel.onDidDispose, () => {
      this.panel = undefined;
      sub.dispose();
      visible.dispose();
    });
    return controller;
  }

  private track(controller: CompareController, onDispose: vscode.Event<void>, also: () => void): void {
    this.live.add(controller);
    const sub = onDispose(() => {
      this.live.delete(controller);
      controller.dispose();
      sub.dispose();
      also();
    });
  }

  dispose(): void {
    this.panel?.panel.dispose();
    this.live.forEach((c) => c.dispose());
  }
}
