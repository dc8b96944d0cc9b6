import * as vscode from 'vscode';
import type { ModelInfoMsg } from '../shared/protocol';
import { backendText, modelName } from '../shared/modelText';

/**
 * Shows the active model and the backend computing its maps, or the model that failed to load (never the
 * previous one as if it were still in use); clicking it selects another model.
 */
export class ModelStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('saliencyLens.model', vscode.StatusBarAlignment.Right, 100);

  constructor() {
    this.item.name = 'Saliency Lens model';
    this.item.command = 'saliencyLens.selectModel';
  }

  /** What the item says (tests read it). */
  get text(): string {
    return this.item.text;
  }

  show(info: ModelInfoMsg): void {
    const backend = backendText(info.backend);
    this.item.text = `$(eye) ${modelName(info.path)} · ${backend}`;
    this.item.backgroundColor = undefined;
    this.item.tooltip = new vscode.MarkdownString(
      `**Saliency Lens**\n\nModel: \`${info.path}\` (${info.format}, ${info.numClasses} classes)\n\n` +
      `Backend: ${backend} — ${info.backend.note}\n\nPreprocessing: ${info.preprocessing}\n\nClick to select another model.`);
    this.item.show();
  }

  /** The model at `modelPath` did not load: say so until a model loads. */
  fail(modelPath: string, message: string): void {
    this.item.text = `$(error) ${modelName(modelPath)}: not loaded`;
    this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
    const tooltip = new vscode.MarkdownString('**Saliency Lens**\n\n');
    tooltip.appendText(`${message}\n\n`);
    tooltip.appendMarkdown('Click to select another model.');
    this.item.tooltip = tooltip;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
