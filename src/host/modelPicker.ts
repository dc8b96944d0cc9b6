import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

const REMEMBERED = 'saliencyLens.model';

/** The model setting, resolved against the first workspace folder when relative. */
function configuredModel(): string | undefined {
  const value = vscode.workspace.getConfiguration('saliencyLens').get<string>('model')?.trim();
  if (!value) return undefined;
  if (path.isAbsolute(value)) return value;
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return root ? path.join(root, value) : value;
}

/** TF.js model.json files in the workspace (Layers or Graph models). */
async function findModels(): Promise<vscode.Uri[]> {
  return vscode.workspace.findFiles('**/model.json', '**/node_modules/**', 200);
}

/**
 * The model to use: the setting, else the one remembered for this workspace, else the only one in
 * the workspace, else the user's pick. `pick` always asks.
 */
export async function chooseModel(state: vscode.Memento, pick = false): Promise<string | undefined> {
  if (!pick) {
    const configured = configuredModel();
    if (configured) return configured;
    const remembered = state.get<string>(REMEMBERED);
    if (remembered && fs.existsSync(remembered)) return remembered;
  }
  const found = await findModels();
  if (!pick && found.length === 1) {
    await state.update(REMEMBERED, found[0].fsPath);
    return found[0].fsPath;
  }
  type Item = vscode.QuickPickItem & { uri?: vscode.Uri };
  const items: Item[] = found.map((uri) => ({
    label: path.basename(path.dirname(uri.fsPath)),
    description: vscode.workspace.asRelativePath(uri),
    uri,
  }));
  items.push({ label: '$(folder-opened) Browse…', description: 'a model.json or a TF.js model folder elsewhere' });
  const choice = await vscode.window.showQuickPick(items, {
    title: 'Saliency Lens: Select Model',
    placeHolder: found.length ? 'TF.js models found in this workspace' : 'No model.json found in this workspace',
  });
  if (!choice) return undefined;
  let chosen = choice.uri?.fsPath;
  if (!chosen) {
    const picked = await vscode.window.showOpenDialog({
      title: 'Select a TF.js model (model.json or its folder)',
      canSelectFiles: true,
      canSelectFolders: true,
      filters: { 'TF.js model': ['json'] },
    });
    chosen = picked?.[0]?.fsPath;
  }
  if (chosen) await state.update(REMEMBERED, chosen);
  return chosen;
}
