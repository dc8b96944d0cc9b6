import * as vscode from 'vscode';
import { registerCommands } from './host/commands';
import { EngineClient } from './host/engineClient';
import { ExplainPanel, PANEL_VIEW_TYPE, PanelHost } from './host/explainPanel';
import { chooseModel } from './host/modelPicker';
import { COMPARE_VIEW_ID, CompareViews } from './host/compareView';
import { MethodsViews } from './host/methodsView';
import { ModelNode, ModelTreeProvider, USE_IMAGENET_LABELS } from './host/modelTree';
import { useImagenetLabels } from './host/imagenetLabels';
import { ModelStatus } from './host/statusBar';

/** What the extension exports: the integration tests drive the engine through it. */
export interface SaliencyLensApi {
  engine: EngineClient;
  panels(): ExplainPanel[];
  modelTree: ModelTreeProvider;
  compare: CompareViews;
  methods: MethodsViews;
}

export function activate(context: vscode.ExtensionContext): SaliencyLensApi {
  const log = vscode.window.createOutputChannel('Saliency Lens', { log: true });
  // The engine reads the runtime choice once, at start: a changed setting restarts it (the next request loads anew).
  const runtimeEnv = () => ({ SALIENCY_LENS_RUNTIME: vscode.workspace.getConfiguration('saliencyLens').get<string>('runtime') || 'auto' });
  const engine = new EngineClient(vscode.Uri.joinPath(context.extensionUri, 'dist', 'engineProcess.js').fsPath, log, runtimeEnv);
  const status = new ModelStatus();
  const modelTree = new ModelTreeProvider();
  const treeView = vscode.window.createTreeView('saliencyLens.model', { treeDataProvider: modelTree, showCollapseAll: true });
  // Panels restored together share one question instead of stacking model pickers.
  let picking: Promise<string | undefined> | undefined;
  const host: PanelHost = {
    extensionUri: context.extensionUri,
    engine,
    log,
    model: () => (picking ??= chooseModel(context.workspaceState).finally(() => (picking = undefined))),
    onModelInfo: (info) => {
      log.info(`${info.path}: ${info.backend.name} — ${info.backend.note}`);
      status.show(info);
      modelTree.show(info);
      treeView.title = modelTree.title;
    },
    chosenLayer: () => modelTree.chosenLayer,
    presetFor: (modelPath) => context.workspaceState.get<string>(`saliencyLens.preset:${modelPath}`),
    rememberPreset: (modelPath, preset) => context.workspaceState.update(`saliencyLens.preset:${modelPath}`, preset),
  };
  const compare = new CompareViews(host);
  const methods = new MethodsViews(host);
  context.subscriptions.push(
    log, engine, status, modelTree, treeView, compare, methods,
    vscode.window.registerWebviewViewProvider(COMPARE_VIEW_ID, compare, { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.commands.registerCommand('saliencyLens.compareClasses', async () => {
      if (ExplainPanel.current) return void compare.openBeside();
      // Nothing to compare yet: show the view, which says how to start.
      await vscode.commands.executeCommand(`${COMPARE_VIEW_ID}.focus`);
    }),
    // Without an explain panel the view opens anyway and says how to start.
    vscode.commands.registerCommand('saliencyLens.compareMethods', () => void methods.openBeside()),
    vscode.commands.registerCommand(USE_IMAGENET_LABELS, (modelFile?: string) => modelFile && useImagenetLabels(host, modelFile)),
    vscode.commands.registerCommand('saliencyLens.useLayerForGradcam', (node?: ModelNode) => {
      if (!node?.gradcamLayer) return;
      modelTree.useLayer(node.gradcamLayer);
      log.info(`Grad-CAM layer: ${node.gradcamLayer}`);
      for (const panel of ExplainPanel.open) panel.showLayer(node.gradcamLayer);
      for (const view of compare.controllers) void view.refresh();
      void methods.controller?.refresh();
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('saliencyLens.runtime')) return;
      log.info(`runtime setting changed to ${runtimeEnv().SALIENCY_LENS_RUNTIME}: restarting the engine`);
      engine.restart();
      for (const panel of ExplainPanel.open) void panel.sendInit();
    }),
    engine.onDidCrash((reason) => {
      void vscode.window.showWarningMessage(reason, 'Open Log').then((a) => a && log.show());
    }),
    ...registerCommands(host, context.workspaceState, context.globalStorageUri),
    vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, state) => ExplainPanel.revive(host, panel, state as { imagePath?: string } | undefined),
    }),
  );
  log.info('Saliency Lens activated');
  return { engine, panels: () => ExplainPanel.open, modelTree, compare, methods };
}

export function deactivate(): void {
  // Disposables registered on the context stop the engine process.
}
