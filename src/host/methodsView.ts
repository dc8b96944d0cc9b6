import * as vscode from 'vscode';
import { isMethodName, type MethodName, type MethodOptions } from '../shared/methods';
import type { Measure } from '../shared/measures';
import {
  ENGINE, EngineEvaluateParams, EngineExplainParams, EvaluateRequest, EvaluationMsg, ExplainRequest, ExplanationMsg, HostToMethods,
  MethodsTab, MethodsToHost, MethodTileMsg,
} from '../shared/protocol';
import type { PanelHost } from './explainPanel';
import { FollowerView, followerPanel, PanelFollower, panelBesideExplain } from './panelFollower';

/** The trust table as the webview drew it. */
export type TrustRowsRendered = Extract<MethodsToHost, { type: 'renderedTrust' }>;

export const METHODS_PANEL_TYPE = 'saliencyLens.methodsPanel';
const TITLE = 'Compare methods';

/**
 * The methods view: for the explain panel's current image, class and layer, one tile per chosen method
 * (Maps tab), or one row of trust measures per method with their curves (Trust tab). Its webview asks for one
 * method per request, in order; this controller runs them on the engine with progress and a cancel, and hands a
 * clicked tile's or row's method to the explain panel.
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
  private readonly trustEmitter = new vscode.EventEmitter<TrustRowsRendered>();
  /** Fires each time the webview has drawn its trust table. */
  readonly onDidRenderTrust = this.trustEmitter.event;
  /** The trust table as the webview last drew it (tests read it). */
  lastTrust?: TrustRowsRendered;
  /** Every evaluation the engine answered with, by method (tests compare them with the CLI's). */
  readonly evaluations = new Map<MethodName, EvaluationMsg>();
  /** A tab asked for before the webview said it was ready: sent again on `ready`, until the webview shows it. */
  private wantedTab?: { type: 'setTab'; tab: MethodsTab; measures?: Measure[] };

  constructor(host: PanelHost, view: FollowerView) {
    super(host, view, TITLE, 'methods.js');
    this.disposables.push(this.renderedEmitter, this.trustEmitter);
  }

  /** Shows a tab (commands and tests); for the trust table, with these measures ticked. */
  showTab(tab: MethodsTab, measures?: Measure[]): void {
    this.wantedTab = { type: 'setTab', tab, ...(measures ? { measures } : {}) };
    this.post(this.wantedTab);
  }

  /** Show exactly these methods (commands and tests). */
  setMethods(methods: MethodName[]): void {
    this.post({ type: 'setMethods', methods });
  }

  private async explain(requestId: number, request: ExplainRequest, imagePath: string, modelPath: string): Promise<void> {
    const context = this.contextFor(requestId, imagePath, modelPath);
    if (!context) return;
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

  private async evaluate(requestId: number, request: EvaluateRequest, imagePath: string, modelPath: string): Promise<void> {
    const context = this.contextFor(requestId, imagePath, modelPath);
    if (!context) return;
    if (!isMethodName(request.method)) return this.post({ type: 'error', requestId, message: `"${String(request.method)}" is not a method of the registry.` });
    const params: EngineEvaluateParams = { ...request, modelPath: context.modelPath, imagePath: context.imagePath, preprocessing: context.preprocessing };
    const result = await this.run(requestId, `trust measures of ${request.method}`, (token, progress) => this.host.engine.request(ENGINE.evaluate, params, token, progress));
    if (!result) return;
    this.evaluations.set(request.method, result);
    this.post({ type: 'evaluation', requestId, result });
  }

  private selectMethod(method: MethodName, options: MethodOptions, imagePath: string): void {
    const panel = this.panelFor(imagePath);
    if (panel && isMethodName(method)) panel.showMethod(method, options);
  }

  protected onMessage(message: MethodsToHost): void {
    switch (message.type) {
      case 'ready':
        if (this.wantedTab) this.post(this.wantedTab);
        return void this.sendSubject();
      case 'explain':
        return void this.explain(message.requestId, message.request, message.imagePath, message.modelPath);
      case 'evaluate':
        return void this.evaluate(message.requestId, message.request, message.imagePath, message.modelPath);
      case 'cancel':
        return this.cancel(message.requestId);
      case 'selectMethod':
        return this.selectMethod(message.method, message.options, message.imagePath);
      case 'rendered':
        this.lastRendered = message.tiles;
        return this.renderedEmitter.fire(message.tiles);
      case 'renderedTrust':
        if (this.wantedTab?.tab === message.tab) this.wantedTab = undefined;
        this.lastTrust = message;
        return this.trustEmitter.fire(message);
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
