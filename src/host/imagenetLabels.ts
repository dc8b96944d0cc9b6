import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ExplainPanel, PanelHost } from './explainPanel';

/**
 * The Model view's "use the ImageNet class names" for an unlabelled 1000-class model: the user's choice
 * is written where the engine reads it, `"labels": "imagenet"` in saliency-lens.json beside the model
 * (other keys kept). Open panels of the model take the new names and keep their maps (only names changed);
 * the Model view shows where the names come from.
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
  if (!settings || typeof settings !== 'object' || Array.isArray(settings)) {
    void vscode.window.showErrorMessage(`${settingsFile}: is not a JSON object of settings; fix it, then try again.`);
    return;
  }
  await fs.promises.writeFile(settingsFile, `${JSON.stringify({ ...settings, labels: 'imagenet' }, null, 2)}\n`);
  host.log.info(`${settingsFile}: "labels": "imagenet"`);
  const panels = ExplainPanel.open.filter((p) => p.engineContext?.modelPath && path.resolve(p.engineContext.model.path) === path.resolve(modelFile));
  if (panels.length) await Promise.all(panels.map((p) => p.modelFilesChanged()));
  else await host.openModel(modelFile);
}
