import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ENGINE, ModelInfoMsg } from '../shared/protocol';
import { ExplainPanel, PanelHost } from './explainPanel';

/**
 * The Model view's "use the ImageNet class names" for an unlabelled 1000-class model: the user's choice
 * is written where the engine reads it, `"labels": "imagenet"` in saliency-lens.json beside the model
 * (other keys kept), and the model is opened again so the view and panels show the names.
 */
export async function useImagenetLabels(host: PanelHost, modelFile: string): Promise<void> {
  const settingsFile = path.join(path.dirname(modelFile), 'saliency-lens.json');
  let settings: Record<string, unknown> = {};
  try {
    if (fs.existsSync(settingsFile)) settings = JSON.parse(await fs.promises.readFile(settingsFile, 'utf8'));
  } catch (err) {
    void vscode.window.showErrorMessage(`${settingsFile}: is not valid JSON (${(err as Error).message}); fix it, then try again.`);
    return;
  }
  await fs.promises.writeFile(settingsFile, `${JSON.stringify({ ...settings, labels: 'imagenet' }, null, 2)}\n`);
  host.log.info(`${settingsFile}: "labels": "imagenet"`);
  const panels = ExplainPanel.open.filter((p) => p.engineContext?.modelPath && path.resolve(p.engineContext.modelPath) === path.resolve(modelFile));
  if (panels.length) {
    await Promise.all(panels.map((p) => p.sendInit()));
    return;
  }
  try {
    host.onModelInfo(await host.engine.request(ENGINE.open, { modelPath: modelFile }));
  } catch (err) {
    void vscode.window.showErrorMessage((err as Error).message);
  }
}
