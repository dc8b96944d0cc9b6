import * as path from 'node:path';
import * as vscode from 'vscode';
import { isMethodName, type MethodName, type MethodOptions } from '../shared/methods';
import {
  ENGINE, EngineExplainParams, ExplainRequest, ExplanationMsg, HostToMethods, MethodsToHost, MethodTileMsg,
} from '../shared/protocol';
import { ExplainPanel, PanelHost } from './explainPanel';
import { FollowerView, followerPanel, PanelFollower, panelBesideExplain } from './panelFollower';

export const METHODS_PANEL_TYPE = 'saliencyLens.methodsPanel';
const TITLE = 'Compare methods';

/**
 * The methods view: for the explain panel's current image, class and layer, one tile per chosen method.
 * Its webview asks for one method per request, in order; this controller runs them on the engine with
 * progress and a cancel, and hands a clicked tile's method to the explain panel.
 */
export class MethodsController extends PanelFollower<HostToMethods> {
  protected readonly emptyMessage = 'Explain an image to compare attribution methods on it here.';
  private readonly renderedEmitter = new vscode.EventEmitter<MethodTileMsg[]>();
  /** Fires each time the webview has updated its tiles. */
  readonly onDidRender = this.renderedEmitter.event;
  /** The tiles the webview shows, as it last said (tests read them). */
  lastRendered?: MethodTileMsg[];
  /** Every map the engine answered with, by method (tests compare them with the explain panel's). */
  readonly results = new Map<MethodName, ExplanationMsg>();

  constructor(host: PanelHost, view: FollowerView) {
    super(host, view, TITLE, 'methods.js');
    this.disposables.push(this.renderedEmitter);
  }

  /** Show exactly these methods (commands and tests). */
  setMethods(methods: MethodName[]): void {
    this.post({ type: 'setMethods', methods });
  }

  private async explain(requestId: number, request: ExplainRequest, imagePath: string, modelPath: string): Promise<void> {
    const context = this.panelFor(imagePath, modelPath)?.engineContext;
    if (!context) {
      this.post({ type: 'error', requestId, message: `The explain panel of ${path.basename(imagePath)} has closed or changed.` });
      return void this.sendSubject();
    }
    const method = request.methods?.[0];
    if (request.methods?.length !== 1 || !method || !isMethodName(method)) {
      return this.post({ type: 'error', requestId, message: 'The methods view asks for one registry method per request.' });
    }
    const params: EngineExplainParams = { ...request, modelPath: context.modelPath, imagePath: context.imagePath, preprocessing: context.preprocessing };
    const result = await this.run(requestId, `methods view ${method}`, (token, progress) => this.host.engine.request(ENGINE.explain, params, token, progress));
    if (!result) return;
    this.results.set(method, result);
    this.post({ type: 'explanation', requestId, result });
  }

  private selectMethod(method: MethodName, options: MethodOptions, imagePath: string): void {
    const panel = this.panelFor(imagePath);
    if (panel && isMethodName(method)) panel.showMethod(method, options);
  }

  protected onMessage(message: MethodsToHost): void {
    switch (message.type) {
      case 'ready':
        return void this.sendSubject();
      case 'explain':
        return void this.explain(message.requestId, message.request, message.imagePath, message.modelPath);
      case 'cancel':
        return this.cancel(message.requestId);
      case 'selectMethod':
        return this.selectMethod(message.method, message.options, message.imagePath);
      case 'rendered':
        this.lastRendered = message.tiles;
        return this.renderedEmitter.fire(message.tiles);
      case 'log':
        return this.host.log.info(`[methods] ${message.message}`);
    }
  }
}

/**
 * The methods view, opened as a panel beside the explain panel (one at a time), and restored after a window
 * reload (its webview keeps its chosen methods with setState).
 */
export class MethodsViews implements vscode.WebviewPanelSerializer, vscode.Disposable {
  private open?: { panel: vscode.WebviewPanel; controller: MethodsController };

  constructor(private readonly host: PanelHost) {}

  /** The open view's controller, if any. */
  get controller(): MethodsController | undefined {
    return this.open?.controller;
  }

  /** Opens (or reveals) the methods view in the column right of the explain panel. */
  openBeside(): MethodsController {
    const existing = this.open;
    if (existing) {
      existing.panel.reveal(existing.panel.viewColumn, true);
      return existing.controller;
    }
    return this.adopt(panelBesideExplain(this.host, METHODS_PANEL_TYPE, TITLE));
  }

  /**
   * VS Code restored the methods panel after a window reload: it follows the current explain panel again. Its
   * state is the webview's own (it reads it back with getState).
   */
  async deserializeWebviewPanel(panel: vscode.WebviewPanel, _state?: unknown): Promise<void> {
    if (this.open) return panel.dispose();
    this.adopt(followerPanel(this.host, panel));
  }

  private adopt({ panel, view, release }: ReturnType<typeof followerPanel>): MethodsController {
    const controller = new MethodsController(this.host, view);
    this.open = { panel, controller };
    const sub = panel.onDidDispose(() => {
      this.open = undefined;
      controller.dispose();
      sub.dispose();
      release();
    });
    return controller;
  }

  dispose(): void {
    this.open?.panel.dispose();
  }
}
