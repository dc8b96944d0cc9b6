import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ModelInfoMsg } from '../shared/protocol';

/** Shows the active model and the backend computing its maps; clicking it selects another model. */
export class ModelStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('saliencyLens.model', vscode.StatusBarAlignment.Right, 100);

  constructor() {
    this.item.name = 'Saliency Lens model';
    this.item.command = 'saliencyLens.selectModel';
  }

  show(info: ModelInfoMsg): void {
    const name = path.basename(path.dirname(info.path));
    const backend = `${info.backend.name}${info.backend.threads > 1 ? ` ×${info.backend.threads}` : ''}`;
    this.item.text = `$(eye) ${name} · ${backend}`;
    this.item.tooltip = new vscode.MarkdownString(
      `**Saliency Lens**\n\nModel: \`${info.path}\` (${info.format}, ${info.numClasses} classes)\n\n` +
      `Backend: ${backend} — ${info.backend.note}\n\nPreprocessing: ${info.preprocessing}\n\nClick to select another model.`);
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
