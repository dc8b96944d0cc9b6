import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CompareSubject, DisplayMsg, EngineProgressMsg, PanelSettings } from '../shared/protocol';
import { EngineCancelled, EngineUserError } from './engineClient';
import { ExplainPanel, PanelChange, PanelHost, panelSettings } from './explainPanel';
import { panelHtml } from './panelHtml';

/** The webview a follower drives, and whether it can be seen (a hidden view need not recompute). */
export interface FollowerView {
  webview: vscode.Webview;
  visible(): boolean;
  onDidBecomeVisible: vscode.Event<void>;
}

/** What every follower's webview understands (compare and methods views alike). */
export type FollowerMessage =
  | { type: 'subject'; subject: CompareSubject; settings: PanelSettings }
  | { type: 'refresh'; subject: CompareSubject }
  | { type: 'empty'; message: string }
  | { type: 'busy'; message: string }
  | { type: 'error'; requestId?: number; message: string; stale?: boolean }
  | { type: 'progress'; requestId: number; progress: EngineProgressMsg }
  | DisplayMsg;

/** Changes after which the maps must be computed again (the rest resend the whole subject). */
const RECOMPUTE: readonly PanelChange[] = ['modelUpdated', 'image', 'layer', 'class'];

/** The image file's size and mtime, and whether it is read upright: a new value means new pixels. */
async function imageVersion(file: string): Promise<string> {
  const st = await fs.promises.stat(file);
  const upright = vscode.workspace.getConfiguration('saliencyLens').get<boolean>('exifOrientation', true);
  return `${st.size}:${st.mtimeMs}${upright ? '' : ':as-stored'}`;
}

/**
 * A webview that follows the current explain panel (compare view, methods view): it is told the panel's
 * image, model and selection, sent again when they change (or once it is seen again, when it was hidden
 * meanwhile), and its requests run on the engine with a cancel and progress each.
 */
export abstract class PanelFollower<ToWebview extends { type: string }> implements vscode.Disposable {
  protected readonly disposables: vscode.Disposable[] = [];
  protected readonly webview: vscode.Webview;
  private readonly closing = new vscode.CancellationTokenSource();
  private readonly running = new Map<number, vscode.CancellationTokenSource>();
  private subjectKey?: string;
  private generation = 0;
  /** Changed while hidden: what to send when the view is seen again (a full subject or a refresh). */
  private stale?: 'subject' | 'refresh';

  /** Says what the webview shows when no explain panel is open. */
  protected abstract readonly emptyMessage: string;

  constructor(protected readonly host: PanelHost, private readonly view: FollowerView, title: string, script: string) {
    this.webview = view.webview;
    this.webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(host.extensionUri, 'dist'), vscode.Uri.joinPath(host.extensionUri, 'media')],
    };
    this.webview.html = panelHtml(this.webview, host.extensionUri, title, script);
    this.disposables.push(
      this.closing,
      this.webview.onDidReceiveMessage((m: unknown) => m && typeof m === 'object' && this.onMessage(m)),
      ExplainPanel.onDidChange(({ panel, what }) => this.onPanelChange(panel, what)),
      view.onDidBecomeVisible(() => {
        const stale = this.stale;
        this.stale = undefined;
        if (stale) void this.sendSubject(stale === 'refresh');
      }),
    );
  }

  protected abstract onMessage(message: object): void;

  /**
   * The panel shows another class. Returns true when the follower dealt with it (the compare view only
   * moves its mark); false makes it a change to recompute.
   */
  protected onClass(_panel: ExplainPanel): boolean {
    return false;
  }

  private onPanelChange(panel: ExplainPanel, what: PanelChange): void {
    if (what !== 'closed' && panel !== ExplainPanel.current) return;
    if (what === 'class' && this.onClass(panel)) return;
    // Drawn locally: hidden views get it too.
    if (what === 'display') {
      const { colormap, opacity } = this.settingsOf(panel);
      return this.post({ type: 'display', colormap, opacity });
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

  protected post(message: ToWebview | FollowerMessage): void {
    void this.webview.postMessage(message);
  }

  private async subject(panel: ExplainPanel): Promise<CompareSubject | undefined> {
    const context = panel.engineContext;
    if (!context) return undefined;
    const selection = panel.selection;
    const usable = (l: string | undefined) => (l && context.model.spatialLayers.some((g) => g.name === l) ? l : undefined);
    const [imageUri, version] = await Promise.all([panel.imageDataUrl(), imageVersion(panel.image.fsPath)]);
    return {
      imageUri,
      imageName: path.basename(panel.image.fsPath),
      imagePath: panel.image.fsPath,
      model: context.model,
      classIndex: selection.classIndex,
      layer: usable(selection.layer) ?? usable(this.host.chosenLayer()),
      signed: selection.signed,
      options: selection.options,
      imageVersion: version,
    };
  }

  /** Tells the webview what to show: a new subject, or the same one to request again. The latest call wins. */
  protected async sendSubject(refreshOnly = false): Promise<void> {
    const generation = ++this.generation;
    const panel = ExplainPanel.current;
    if (!panel) {
      this.subjectKey = undefined;
      return this.post({ type: 'empty', message: this.emptyMessage });
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
    this.post({ type: 'subject', subject, settings: this.settingsOf(panel) });
  }

  /** The settings the view draws with: the panel's colormap and opacity as its user chose them. */
  private settingsOf(panel: ExplainPanel): PanelSettings {
    return { ...panelSettings(this.host.displayChoice()), ...panel.display };
  }

  /**
   * The engine context of the current panel if it still shows what a request was made for; otherwise the request is
   * answered as stale (not a failure of its method) and the webview is told the current subject.
   */
  protected contextFor(requestId: number, imagePath: string, modelPath: string): ExplainPanel['engineContext'] {
    const context = this.panelFor(imagePath, modelPath)?.engineContext;
    if (!context) {
      this.post({ type: 'error', requestId, message: `The explain panel of ${path.basename(imagePath)} has closed or changed.`, stale: true });
      void this.sendSubject();
    }
    return context;
  }

  /** The current panel, if it still shows what the webview's request was made for. */
  protected panelFor(imagePath: string, modelPath?: string): ExplainPanel | undefined {
    const panel = ExplainPanel.current;
    const context = panel?.engineContext;
    if (!panel || !context || context.imagePath !== imagePath || (modelPath !== undefined && context.model.path !== modelPath)) return undefined;
    return panel;
  }

  /**
   * Runs one engine request of the webview's: cancellable by `cancel(requestId)` or by closing the view, its
   * progress passed on. Resolves with the result, or posts the failure as one sentence and resolves undefined.
   */
  protected async run<R>(requestId: number, what: string,
    work: (token: vscode.CancellationToken, progress: (p: EngineProgressMsg) => void) => Promise<R>): Promise<R | undefined> {
    const source = new vscode.CancellationTokenSource();
    const closed = this.closing.token.onCancellationRequested(() => source.cancel());
    this.running.set(requestId, source);
    try {
      return await work(source.token, (progress) => this.post({ type: 'progress', requestId, progress }));
    } catch (err) {
      const message = err instanceof EngineCancelled ? 'Cancelled.' : (err as Error).message.split('\n')[0];
      if (!(err instanceof EngineUserError) && !(err instanceof EngineCancelled)) this.host.log.warn(`${what}: ${message}`);
      this.post({ type: 'error', requestId, message });
      return undefined;
    } finally {
      this.running.delete(requestId);
      closed.dispose();
      source.dispose();
    }
  }

  /** Stops a request of this webview's (the engine process is stopped; it restarts on the next request). */
  protected cancel(requestId: number): void {
    this.running.get(requestId)?.cancel();
  }

  dispose(): void {
    this.closing.cancel();
    this.disposables.forEach((d) => d.dispose());
  }
}

/**
 * A webview panel in the column right of the current explain panel (kept alive while hidden), and the
 * follower view over it; `release` frees what watches it once the panel is disposed.
 */
export function panelBesideExplain(host: PanelHost, viewType: string, title: string): { panel: vscode.WebviewPanel; view: FollowerView; release(): void } {
  const column = (ExplainPanel.current?.panel.viewColumn ?? vscode.ViewColumn.One) + 1;
  const panel = vscode.window.createWebviewPanel(viewType, title, { viewColumn: column, preserveFocus: true }, {
    enableScripts: true,
    retainContextWhenHidden: true,
  });
  return followerPanel(host, panel);
}

/** The follower view over a webview panel (a new one, or one VS Code restored after a window reload). */
export function followerPanel(host: PanelHost, panel: vscode.WebviewPanel): { panel: vscode.WebviewPanel; view: FollowerView; release(): void } {
  panel.iconPath = vscode.Uri.joinPath(host.extensionUri, 'media', 'icon.svg');
  const visible = new vscode.EventEmitter<void>();
  const sub = panel.onDidChangeViewState((e) => e.webviewPanel.visible && visible.fire());
  return {
    panel,
    view: { webview: panel.webview, visible: () => panel.visible, onDidBecomeVisible: visible.event },
    release: () => {
      sub.dispose();
      visible.dispose();
    },
  };
}
