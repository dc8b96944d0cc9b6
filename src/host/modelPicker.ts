import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { modelChoices } from '../shared/modelText';

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

/** The model in use: the setting, else the one remembered for this workspace. */
export function currentModel(state: vscode.Memento): string | undefined {
  const configured = configuredModel();
  if (configured) return configured;
  const remembered = state.get<string>(REMEMBERED);
  return remembered && fs.existsSync(remembered) ? remembered : undefined;
}

/**
 * The model to use: the setting, else the one remembered for this workspace, else the only one in
 * the workspace, else the user's pick (`onAsk` is called just before asking). `pick` always asks.
 */
export async function chooseModel(state: vscode.Memento, pick = false, onAsk?: () => void): Promise<string | undefined> {
  const current = currentModel(state);
  if (!pick && current) return current;
  const found = await findModels();
  if (!pick && found.length === 1) {
    await state.update(REMEMBERED, found[0].fsPath);
    return found[0].fsPath;
  }
  onAsk?.();
  type Item = vscode.QuickPickItem & { path?: string };
  // The model in use is marked, and listed first.
  const choices = modelChoices(found.map((u) => u.fsPath), current, (p) => vscode.workspace.asRelativePath(p));
  const items: Item[] = [...choices.filter((c) => c.current), ...choices.filter((c) => !c.current)]
    .map((c) => ({ label: c.label, description: c.description, path: c.path }));
  items.push({ label: '$(folder-opened) Browse…', description: 'a model.json, a TF.js model folder, an .onnx file or a Keras .keras/.h5 file elsewhere' });
  const choice = await vscode.window.showQuickPick(items, {
    title: 'Saliency Lens: Select Model',
    placeHolder: found.length ? 'Models found in this workspace (TF.js, Keras and ONNX)' : 'No model.json, .onnx, .keras or .h5 file found in this workspace',
  });
  if (!choice) return undefined;
  let chosen = choice.path;
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

/**
 * The model panels use, asked for once however many panels want it at the same moment (panels restored
 * together share one question instead of stacking pickers). Each caller's `onAsk` hears when the user is asked.
 */
export class ModelChooser {
  private picking?: Promise<string | undefined>;
  private asking = false;
  private readonly askers = new Set<() => void>();

  constructor(private readonly state: vscode.Memento) {}

  choose(onAsk?: () => void): Promise<string | undefined> {
    if (onAsk) {
      if (this.asking) onAsk();
      else this.askers.add(onAsk);
    }
    this.picking ??= chooseModel(this.state, false, () => {
      this.asking = true;
      this.askers.forEach((f) => f());
    }).finally(() => {
      this.picking = undefined;
      this.asking = false;
      this.askers.clear();
    });
    return this.picking;
  }
}
