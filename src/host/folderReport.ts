import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { buildHtmlReport, ReportEntry } from '../shared/htmlReport';
import { IMAGE_FILE } from '../shared/imageFiles';
import { DEFAULT_METHODS, isMethodName, METHOD_NAMES, MethodName } from '../shared/methods';
import { ColormapChoice, ENGINE, EngineReportEntryParams } from '../shared/protocol';
import type { PanelHost } from './explainPanel';


export interface FolderReportOutcome {
  ok: boolean;
  error?: string;
  file?: string;
  images?: number;
  failed?: number;
}

/**
 * "Explain Folder…": explains every image of a folder (not recursive) with the current model, one
 * engine request per image under a cancellable progress, and writes one self-contained HTML report
 * into the extension's storage, which opens in a panel.
 */
export async function explainFolder(host: PanelHost, folder: vscode.Uri, storage: vscode.Uri, methods?: string[]): Promise<FolderReportOutcome> {
  const images = (await fs.promises.readdir(folder.fsPath)).filter((f) => IMAGE_FILE.test(f)).sort();
  if (images.length === 0) {
    const error = `${folder.fsPath}: folder has no PNG, JPEG, BMP, GIF or WebP images`;
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
  const preprocessing = host.presetFor(modelPath) ?? (config.get<string>('preprocessing')?.trim() || undefined);
  try {
    return await vscode.window.withProgress({
      location: vscode.ProgressLocation.Notification, title: `Saliency Lens: explaining ${path.basename(folder.fsPath)}`, cancellable: true,
    }, async (progress, token) => {
      const model = await host.engine.request(ENGINE.open, { modelPath, preprocessing }, token);
      host.onModelInfo(model);
      const entries: ReportEntry[] = [];
      for (const name of images) {
        progress.report({ message: `${name} (${entries.length + 1}/${images.length})`, increment: 100 / images.length });
        const params: EngineReportEntryParams = {
          modelPath, imagePath: path.join(folder.fsPath, name), preprocessing,
          colormap: config.get<ColormapChoice>('colormap', 'jet'), opacity: config.get('opacity', 0.5),
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
      }, entries);
      const dir = vscode.Uri.joinPath(storage, 'reports');
      await vscode.workspace.fs.createDirectory(dir);
      const file = vscode.Uri.joinPath(dir, `${path.basename(folder.fsPath)}-report.html`);
      await vscode.workspace.fs.writeFile(file, Buffer.from(html, 'utf8'));
      showReport(html, path.basename(folder.fsPath));
      const failed = entries.filter((e) => e.error).length;
      host.log.info(`report of ${images.length} images (${failed} failed): ${file.fsPath}`);
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
