import * as vscode from 'vscode';
import { isMethodName } from '../shared/methods';
import { CompareRequest, CompareToHost, ComparisonMsg, ENGINE, EngineCompareParams, HostToCompare } from '../shared/protocol';
import { ExplainPanel, PanelHost } from './explainPanel';
import { FollowerView, followerPanel, PanelFollower, panelBesideExplain } from './panelFollower';

export const COMPARE_VIEW_ID = 'saliencyLens.compare';
export const COMPARE_PANEL_TYPE = 'saliencyLens.comparePanel';

/** What a compare webview drew last (tests wait for it). */
export interface CompareRendered {
  classes: number[];
  drawnTiles: number;
  contrast: boolean;
  sharedScale: boolean;
}

/**
 * One compare webview (the side-bar view or a panel beside the explain panel): it follows the current
 * explain panel's image, model and selection, asks the engine for the maps of the chosen classes with
 * the chosen method, and sends a clicked tile's class back to that panel.
 */
export class CompareController extends PanelFollower<HostToCompare> {
  protected readonly emptyMessage = 'Explain an image to compare its classes here.';
  private readonly renderedEmitter = new vscode.EventEmitter<CompareRendered>();
  /** Fires each time the webview has drawn a comparison. */
  readonly onDidRender = this.renderedEmitter.event;
  lastRendered?: CompareRendered;
  /** The engine's answer to the latest request (tests compare it with single-class maps). */
  lastComparison?: ComparisonMsg;

  constructor(host: PanelHost, view: FollowerView, title: string) {
    super(host, view, title, 'compare.js');
    this.disposables.push(this.renderedEmitter);
  }

  /** Only the mark moves: cheap, so hidden views get it too. */
  protected override onClass(panel: ExplainPanel): boolean {
    this.post({ type: 'current', classIndex: panel.selection.classIndex });
    return true;
  }

  /** Compare exactly these classes (commands and tests). */
  setClasses(classes: number[]): void {
    this.post({ type: 'setClasses', classes });
  }

  private async compare(requestId: number, request: CompareRequest, imagePath: string, modelPath: string): Promise<void> {
    const context = this.contextFor(requestId, imagePath, modelPath);
    if (!context) return;
    if (!isMethodName(request.method)) return this.post({ type: 'error', requestId, message: `There is no method "${request.method}".` });
    const params: EngineCompareParams = { ...request, modelPath: context.modelPath, imagePath: context.imagePath, preprocessing: context.preprocessing };
    const result = await this.run(requestId, 'compare', (token, progress) => this.host.engine.request(ENGINE.compare, params, token, progress));
    if (!result) return;
    this.lastComparison = result;
    this.post({ type: 'comparison', requestId, result });
  }

  protected onMessage(message: CompareToHost): void {
    switch (message.type) {
      case 'ready':
        return void this.sendSubject();
      case 'compare':
        return void this.compare(message.requestId, message.request, message.imagePath, message.modelPath);
      case 'cancel':
        return this.cancel(message.requestId);
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
}

/**
 * The side bar's "Compare Classes" view, and the same view opened as a panel beside the explain panel (restored
 * after a window reload: its webview keeps its own choices with setState).
 */
export class CompareViews implements vscode.WebviewViewProvider, vscode.WebviewPanelSerializer, vscode.Disposable {
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
    const existing = this.panel;
    if (existing) {
      existing.panel.reveal(existing.panel.viewColumn, true);
      return existing.controller;
    }
    return this.adopt(panelBesideExplain(this.host, COMPARE_PANEL_TYPE, 'Compare classes'));
  }

  /**
   * VS Code restored the compare panel after a window reload: it follows the current explain panel again. Its
   * state is the webview's own (it reads it back with getState).
   */
  async deserializeWebviewPanel(panel: vscode.WebviewPanel, _state?: unknown): Promise<void> {
    // One compare panel at a time: a second restored one (it cannot happen through our commands) is closed.
    if (this.panel) return panel.dispose();
    this.adopt(followerPanel(this.host, panel));
  }

  private adopt({ panel, view, release }: ReturnType<typeof followerPanel>): CompareController {
    const controller = new CompareController(this.host, view, 'Compare classes');
    this.panel = { panel, controller };
    this.track(controller, panel.onDidDispose, () => {
      this.panel = undefined;
      release();
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
