import * as path from 'node:path';
import * as vscode from 'vscode';
import { IMAGE_EXTENSIONS, IMAGE_FILE } from '../shared/imageFiles';
import { DEFAULT_METHODS, methodSpec } from '../shared/methods';
import { methodsByFamily, unavailableReason } from '../shared/methodAvailability';
import { ExplanationMsg, ModelInfoMsg, ViewMode } from '../shared/protocol';
import { ExplainPanel, PanelHost } from './explainPanel';
import { explainFolder } from './folderReport';
import { chooseModel } from './modelPicker';

const IMAGE_FILTER = { Images: [...IMAGE_EXTENSIONS] };

/** The image a command applies to: its argument (Explorer, editor title), the active image preview, or a pick. */
async function targetImage(arg: unknown): Promise<vscode.Uri | undefined> {
  if (arg instanceof vscode.Uri) return arg;
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputCustom && IMAGE_FILE.test(input.uri.fsPath)) return input.uri;
  const picked = await vscode.window.showOpenDialog({ title: 'Image to explain', canSelectMany: false, filters: IMAGE_FILTER });
  return picked?.[0];
}

/** A command's summary of an explanation; tests read it, users see the panel. */
export interface ExplainOutcome {
  ok: boolean;
  error?: string;
  result?: ExplanationMsg;
}

async function outcome(panel: ExplainPanel): Promise<ExplainOutcome> {
  try {
    return { ok: true, result: await panel.result() };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

type ViewItem = vscode.QuickPickItem & { view?: ViewMode };

/**
 * "Explain with…": the two default methods side by side, then every registry method under its family
 * (its `shows` line as detail). A method the model cannot run is listed with the reason, and not offered.
 */
function viewItems(model: ModelInfoMsg): ViewItem[] {
  const pair = DEFAULT_METHODS.map((m) => methodSpec(m).label).join(' and ');
  const items: ViewItem[] = [{ label: `${pair} side by side`, view: 'side-by-side' }];
  for (const group of methodsByFamily()) {
    items.push({ label: group.label, kind: vscode.QuickPickItemKind.Separator });
    for (const spec of group.methods) {
      const reason = unavailableReason(spec, model);
      items.push(reason
        ? { label: `$(circle-slash) ${spec.label}`, description: reason, detail: spec.shows }
        : { label: spec.label, description: spec.name, detail: spec.shows, view: spec.name as ViewMode });
    }
  }
  return items;
}

export function registerCommands(host: PanelHost, state: vscode.Memento, storage: vscode.Uri): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('saliencyLens.explainImage', async (arg?: unknown) => {
      const image = await targetImage(arg);
      if (!image) return undefined;
      return outcome(ExplainPanel.show(host, image));
    }),

    vscode.commands.registerCommand('saliencyLens.selectModel', async () => {
      const chosen = await chooseModel(state, true);
      if (!chosen) return undefined;
      host.log.info(`model: ${chosen}`);
      const config = vscode.workspace.getConfiguration('saliencyLens');
      if (config.get<string>('model')?.trim()) {
        // The setting wins over the remembered pick: make the pick the setting, as the user just asked.
        await config.update('model', chosen, vscode.ConfigurationTarget.Workspace);
      }
      // Open panels follow the chosen model; with none open, the Model view still shows it.
      if (ExplainPanel.open.length) await Promise.all(ExplainPanel.open.map((p) => p.sendInit()));
      else await host.openModel(chosen);
      return chosen;
    }),

    vscode.commands.registerCommand('saliencyLens.explainWith', async (arg?: unknown) => {
      const image = await targetImage(arg);
      const modelPath = image && (await host.model());
      if (!image || !modelPath) return undefined;
      // The model first: which methods it can run decides what the pick offers.
      // Shown in the status bar and the Model view on failure (a toast with an action button would stay up for good).
      const { model, error } = await host.openModel(modelPath);
      if (!model) return { ok: false, error };
      const view = await vscode.window.showQuickPick(viewItems(model), { title: `Explain ${path.basename(image.fsPath)} with…`, matchOnDetail: true });
      if (!view) return undefined;
      if (!view.view) {
        void vscode.window.showWarningMessage(`${view.label.replace('$(circle-slash) ', '')} ${view.description ?? 'is not available for this model'}.`);
        return undefined;
      }
      const classes = [{ label: 'Top prediction', index: undefined as number | undefined },
        ...model.labels.map((label, index) => ({ label, description: `class ${index}`, index }))];
      const target = await vscode.window.showQuickPick(classes, { title: 'Class to explain', matchOnDescription: true });
      if (!target) return undefined;
      return outcome(ExplainPanel.show(host, image, { classIndex: target.index, view: view.view }));
    }),

    vscode.commands.registerCommand('saliencyLens.explainFolder', async (arg?: unknown) => {
      const folder = arg instanceof vscode.Uri ? arg
        : (await vscode.window.showOpenDialog({ title: 'Folder of images to explain', canSelectFiles: false, canSelectFolders: true }))?.[0];
      return folder ? explainFolder(host, folder, storage) : undefined;
    }),

    vscode.commands.registerCommand('saliencyLens.showLog', () => host.log.show()),
  ];
}
