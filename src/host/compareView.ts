import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  CompareRequest, CompareSubject, CompareToHost, ComparisonMsg, ENGINE_COMPARE, EngineCompareParams, HostToCompare, PanelSettings, ViewMode,
} from '../shared/protocol';
import { EngineCancelled, EngineUserError } from './engineClient';
import { ExplainPanel, PanelHost } from './explainPanel';
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

function settings(): PanelSettings {
  const c = vscode.workspace.getConfiguration('saliencyLens');
  return { colormap: c.get('colormap', 'jet'), opacity: c.get('opacity', 0.5), defaultView: c.get<ViewMode>('defaultView', 'side-by-side') };
}

/**
 * One compare webview (the side-bar view or a panel beside the explain panel): it follows the current
 * explain panel's image and model, asks the engine for the maps of the chosen classes, and sends a
 * clicked tile's class back to that panel.
 */
export class CompareController implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly pending = new vscode.CancellationTokenSource();
  private subjectKey?: string;
  private readonly renderedEmitter = new vscode.EventEmitter<CompareRendered>();
  /** Fires each time the webview has drawn a comparison. */
  readonly onDidRender = this.renderedEmitter.event;
  lastRendered?: CompareRendered;
  /** The engine's answer to the latest request (tests compare it with single-class maps). */
  lastComparison?: ComparisonMsg;

  constructor(private readonly host: PanelHost, private readonly webview: vscode.Webview, title: string) {
    webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(host.extensionUri, 'dist'), vscode.Uri.joinPath(host.extensionUri, 'media')],
    };
    webview.html = panelHtml(webview, host.extensionUri, title, 'compare.js');
    this.disposables.push(
      this.renderedEmitter,
      webview.onDidReceiveMessage((m: CompareToHost) => this.onMessage(m)),
      ExplainPanel.onDidChange(({ panel, what }) => {
        if (what === 'closed') return void this.sendSubject();
        if (panel !== ExplainPanel.current) return;
        // A new image or model starts over; a new version of the same model, or another class in the panel, refreshes.
        void this.sendSubject(what === 'modelUpdated' || what === 'class');
      }),
    );
  }

  /** Requests the maps again (e.g. the Model view chose another Grad-CAM layer). */
  refresh(): Promise<void> {
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
    const layer = this.host.chosenLayer();
    return {
      imageUri: await panel.imageDataUrl(),
      imageName: path.basename(panel.image.fsPath),
      imagePath: panel.image.fsPath,
      model: context.model,
      classIndex: panel.classIndex,
      layer: layer && context.model.gradcamLayers.some((l) => l.name === layer) ? layer : undefined,
    };
  }

  /** Tells the webview what to compare: a new subject, or the same one to request again. */
  private async sendSubject(refreshOnly = false): Promise<void> {
    const panel = ExplainPanel.current;
    if (!panel) {
      this.subjectKey = undefined;
      return this.post({ type: 'empty', message: 'Explain an image to compare its classes here.' });
    }
    let subject: CompareSubject | undefined;
    try {
      subject = await this.subject(panel);
    } catch (err) {
      return this.post({ type: 'error', message: `Could not read ${panel.image.fsPath}: ${(err as Error).message}` });
    }
    if (!subject) return this.post({ type: 'busy', message: `Waiting for ${path.basename(panel.image.fsPath)}'s model…` });
    const key = `${subject.imagePath}\u0000${subject.model.path}`;
    if (refreshOnly && key === this.subjectKey) return this.post({ type: 'refresh', subject });
    this.subjectKey = key;
    this.post({ type: 'subject', subject, settings: settings() });
  }

  private async compare(requestId: number, request: CompareRequest): Promise<void> {
    const context = ExplainPanel.current?.engineContext;
    if (!context) return;
    const params: EngineCompareParams = { ...request, modelPath: context.modelPath, imagePath: context.imagePath, preprocessing: context.preprocessing };
    try {
      const result = await this.host.engine.request<ComparisonMsg>(ENGINE_COMPARE, params, this.pending.token);
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
        return void this.compare(message.requestId, message.request);
      case 'selectClass':
        return ExplainPanel.current?.showClass(message.classIndex);
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
  private readonly createdEmitter = new vscode.EventEmitter<CompareController>();
  /** Fires when a compare webview (view or panel) is created. */
  readonly onDidCreate = this.createdEmitter.event;

  constructor(private readonly host: PanelHost) {}

  get controllers(): CompareController[] {
    return [...this.live];
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.track(new CompareController(this.host, view.webview, 'Compare classes'), view.onDidDispose);
  }

  /** Opens (or reveals) the compare panel beside the explain panel. */
  openBeside(): CompareController {
    const existing = this.panel;
    if (existing) {
      existing.panel.reveal(vscode.ViewColumn.Beside, true);
      return existing.controller;
    }
    const panel = vscode.window.createWebviewPanel(COMPARE_PANEL_TYPE, 'Compare classes', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      retainContextWhenHidden: true,
    });
    panel.iconPath = vscode.Uri.joinPath(this.host.extensionUri, 'media', 'icon.svg');
    const controller = new CompareController(this.host, panel.webview, 'Compare classes');
    this.panel = { panel, controller };
    this.track(controller, panel.onDidDispose, () => (this.panel = undefined));
    return controller;
  }

  private panel?: { panel: vscode.WebviewPanel; controller: CompareController };

  private track(controller: CompareController, onDispose: vscode.Event<void>, also?: () => void): void {
    this.live.add(controller);
    const sub = onDispose(() => {
      this.live.delete(controller);
      controller.dispose();
      sub.dispose();
      also?.();
    });
    this.createdEmitter.fire(controller);
  }

  dispose(): void {
    this.panel?.panel.dispose();
    this.live.forEach((c) => c.dispose());
    this.createdEmitter.dispose();
  }
}
