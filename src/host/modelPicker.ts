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

/** Models in the workspace: TF.js model.json files (Layers or Graph models) and ONNX files. */
async function findModels(): Promise<vscode.Uri[]> {
  const found = await vscode.workspace.findFiles('**/{model.json,*.onnx,*.keras,*.h5,*.hdf5}', '**/node_modules/**', 200);
  return found.sort((a, b) => a.fsPath.localeCompare(b.fsPath));
}

/** How a model is named in the list: its folder for TF.js, its file name for ONNX. */
function modelLabel(uri: vscode.Uri): string {
  return /\.(onnx|keras|h5|hdf5)$/i.test(uri.fsPath) ? path.basename(uri.fsPath) : path.basename(path.dirname(uri.fsPath));
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
    label: modelLabel(uri),
    description: vscode.workspace.asRelativePath(uri),
    uri,
  }));
  items.push({ label: '$(folder-opened) Browse…', description: 'a model.json, a TF.js model folder, an .onnx file or a Keras .keras/.h5 file elsewhere' });
  const choice = await vscode.window.showQuickPick(items, {
    title: 'Saliency Lens: Select Model',
    placeHolder: found.length ? 'Models found in this workspace (TF.js, Keras and ONNX)' : 'No model.json, .onnx, .keras or .h5 file found in this workspace',
  });
  if (!choice) return undefined;
  let chosen = choice.uri?.fsPath;
  if (!chosen) {
    const picked = await vscode.window.showOpenDialog({
      title: 'Select a model (TF.js model.json or its folder, an .onnx file, or a Keras .keras/.h5 file)',
      canSelectFiles: true,
      canSelectFolders: true,
      filters: { Models: ['json', 'onnx', 'keras', 'h5', 'hdf5'] },
    });
    chosen = picked?.[0]?.fsPath;
  }
  if (chosen) await state.update(REMEMBERED, chosen);
  return chosen;
}
