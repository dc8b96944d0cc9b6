import * as path from 'node:path';
import * as vscode from 'vscode';
import { buildHtmlReport, ReportEntry } from '../shared/htmlReport';
import { EXPORTS_FOLDER, IMAGE_FORMATS_TEXT } from '../shared/imageFiles';
import { listInputImages } from '../engine/io/folderImages';
import { DEFAULT_METHODS, isMethodName, METHOD_NAMES, MethodName } from '../shared/methods';
import { ENGINE, EngineReportEntryParams } from '../shared/protocol';
import { panelSettings, type PanelHost } from './explainPanel';
import { DEFAULT_CLIP_PERCENTILE } from '../shared/normalize';
import { preprocessingChoice } from './preprocessingChoice';


export interface FolderReportOutcome {
  ok: boolean;
  error?: string;
  file?: string;
  images?: number;
  failed?: number;
}

/**
 * "Explain Folder…": explains every image of a folder (not recursive; our exports are not inputs) with the
 * current model, one engine request per image under a cancellable progress, and writes one self-contained
 * HTML report into the extension's storage, which opens in a panel; a notification offers to save a copy
 * elsewhere, reveal it, or open it in a browser.
 */
export async function explainFolder(host: PanelHost, folder: vscode.Uri, storage: vscode.Uri, methods?: string[]): Promise<FolderReportOutcome> {
  let images: string[];
  try {
    images = listInputImages(folder.fsPath);
  } catch (err) {
    const error = `${folder.fsPath}: the folder cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    void vscode.window.showErrorMessage(error);
    return { ok: false, error };
  }
  if (images.length === 0) {
    const error = `${folder.fsPath}: folder has no ${IMAGE_FORMATS_TEXT} images`;
    void vscode.window.showWarningMessage(error);
    return { ok: false, error };
  }
  const modelPath = await host.model();
  if (!modelPath) return { ok: false, error: 'No model selected.' };
  const config = vscode.workspace.getConfiguration('saliencyLens');
  // The methods of every image: the command's argument, else the setting.
  const chosen = methods ?? config.get<string[]>('reportMethods', [...DEFAULT_METHODS]);
  const unknown = chosen.filter((m) => !isMethodName(m));
  if (unknown.length || chosen.length === 0) {
    const error = `saliencyLens.reportMethods: ${unknown.length ? `unknown method ${unknown.map((m) => `"${m}"`).join(', ')}` : 'no method'}; methods: ${METHOD_NAMES.join(', ')}`;
    void vscode.window.showErrorMessage(error);
    return { ok: false, error };
  }
  const choice = preprocessingChoice(host.presetFor(modelPath));
  const { preprocessing } = choice;
  try {
    return await vscode.window.withProgress({
      location: vscode.ProgressLocation.Notification, title: `Saliency Lens: explaining ${path.basename(folder.fsPath)}`, cancellable: true,
    }, async (progress, token) => {
      const model = await host.engine.request(ENGINE.open, { modelPath, ...choice }, token);
      host.onModelInfo(model);
      const entries: ReportEntry[] = [];
      const display = panelSettings(host.displayChoice());
      for (const name of images) {
        progress.report({ message: `${name} (${entries.length + 1}/${images.length})`, increment: 100 / images.length });
        const params: EngineReportEntryParams = {
          modelPath, imagePath: path.join(folder.fsPath, name), preprocessing,
          // Drawn as the panels draw: the colormap and opacity chosen last, clipped at the default percentile.
          colormap: display.colormap, opacity: display.opacity, clipPercentile: DEFAULT_CLIP_PERCENTILE,
          methods: chosen as MethodName[],
        };
        entries.push(await host.engine.request(ENGINE.reportEntry, params, token));
      }
      const html = buildHtmlReport({
        title: `Saliency Lens report: ${path.basename(folder.fsPath)}`,
        model: model.path,
        backend: `${model.backend.name}, ${model.backend.threads} thread(s)`,
        preprocessing: model.preprocessing,
        created: new Date().toLocaleString(),
        spatialLayers: model.spatialLayers.map((l) => l.name),
      }, entries);
      const dir = vscode.Uri.joinPath(storage, 'reports');
      await vscode.workspace.fs.createDirectory(dir);
      const file = vscode.Uri.joinPath(dir, `${path.basename(folder.fsPath)}-report.html`);
      await vscode.workspace.fs.writeFile(file, Buffer.from(html, 'utf8'));
      showReport(html, path.basename(folder.fsPath));
      const failed = entries.filter((e) => e.error).length;
      host.log.info(`report of ${images.length} images (${failed} failed): ${file.fsPath} (${html.length} bytes)`);
      void offerReport(host, file, folder, `Report of ${images.length} image${images.length === 1 ? '' : 's'}${failed ? `, ${failed} failed` : ''} written.`);
      return { ok: true, file: file.fsPath, images: images.length, failed };
    });
  } catch (err) {
    const error = (err as Error).message;
    void vscode.window.showErrorMessage(error, 'Open Log').then((a) => a && host.log.show());
    return { ok: false, error };
  }
}

/** The report in a panel: static HTML (no script), its own CSP allowing only inline styles and data: images. */
function showReport(html: string, folderName: string): void {
  const panel = vscode.window.createWebviewPanel('saliencyLens.report', `Report: ${folderName}`, vscode.ViewColumn.Active, { enableScripts: false });
  panel.webview.html = html;
}

const SAVE_AS = 'Save Report As…';
const REVEAL = 'Reveal';
const OPEN_IN_BROWSER = 'Open in Browser';

/** The report's file can be shown by this machine's file manager and browser: a local desktop window. */
const isLocalDesktop = () => vscode.env.uiKind === vscode.UIKind.Desktop && !vscode.env.remoteName && vscode.env.appHost === 'desktop';

/**
 * What can be done with a written report, offered only where it works: Save Report As… always (a copy out of
 * the extension's storage, proposed in the folder's exports folder); Reveal in the OS file manager on a local
 * desktop, or in the Explorer when the file is in the workspace; Open in Browser on a local desktop.
 */
function reportActions(file: vscode.Uri, saved: boolean): string[] {
  const inWorkspace = vscode.workspace.getWorkspaceFolder(file) !== undefined;
  return [
    ...(saved ? [] : [SAVE_AS]),
    ...(isLocalDesktop() || inWorkspace ? [REVEAL] : []),
    ...(isLocalDesktop() ? [OPEN_IN_BROWSER] : []),
  ];
}

async function offerReport(host: PanelHost, file: vscode.Uri, folder: vscode.Uri, message: string, saved = false): Promise<void> {
  const action = await vscode.window.showInformationMessage(message, ...reportActions(file, saved));
  try {
    if (action === SAVE_AS) {
      const target = await vscode.window.showSaveDialog({
        defaultUri: vscode.Uri.joinPath(folder, EXPORTS_FOLDER, path.basename(file.path)),
        filters: { 'HTML report': ['html'] },
        title: 'Save Report As',
      });
      if (!target) return;
      await vscode.workspace.fs.createDirectory(target.with({ path: path.posix.dirname(target.path) }));
      // The dialog has asked before replacing an existing file.
      await vscode.workspace.fs.copy(file, target, { overwrite: true });
      host.log.info(`report saved as ${target.fsPath}`);
      await offerReport(host, target, folder, `Report saved as ${target.fsPath}.`, true);
    } else if (action === REVEAL) {
      await vscode.commands.executeCommand(isLocalDesktop() ? 'revealFileInOS' : 'revealInExplorer', file);
    } else if (action === OPEN_IN_BROWSER) {
      await vscode.env.openExternal(file);
    }
  } catch (err) {
    void vscode.window.showErrorMessage(`The report could not be ${action === SAVE_AS ? 'saved' : 'opened'}: ${(err as Error).message}`);
  }
}
