import * as vscode from 'vscode';
import { registerCommands } from './host/commands';
import { EngineClient } from './host/engineClient';
import { ExplainPanel, PANEL_VIEW_TYPE, PanelDisplay, PanelHost } from './host/explainPanel';
import { ModelChooser } from './host/modelPicker';
import { COMPARE_PANEL_TYPE, COMPARE_VIEW_ID, CompareViews } from './host/compareView';
import { METHODS_PANEL_TYPE, MethodsViews } from './host/methodsView';
import { ModelLoads } from './host/modelLoads';
import { ModelNode, ModelTreeProvider, USE_IMAGENET_LABELS } from './host/modelTree';
import { useImagenetLabels } from './host/imagenetLabels';
import { ModelStatus } from './host/statusBar';
import { preprocessingChoice } from './host/preprocessingChoice';

/** What the extension exports: the integration tests drive the engine through it. */
export interface SaliencyLensApi {
  engine: EngineClient;
  panels(): ExplainPanel[];
  modelTree: ModelTreeProvider;
  compare: CompareViews;
  methods: MethodsViews;
  /** Model loads shared across panels (tests count loads and notifications). */
  loads: ModelLoads;
  status: ModelStatus;
}

/** Where the colormap and opacity last chosen in a panel are kept (per workspace; the settings stay the user's). */
const DISPLAY_CHOICE = 'saliencyLens.display';

export function activate(context: vscode.ExtensionContext): SaliencyLensApi {
  const log = vscode.window.createOutputChannel('Saliency Lens', { log: true });
  // The engine reads the runtime choice once, at start: a changed setting restarts it (the next request loads anew).
  // Settings the engine process reads once, at start: a change restarts it.
  const engineEnv = () => {
    const config = vscode.workspace.getConfiguration('saliencyLens');
    return {
      SALIENCY_LENS_RUNTIME: config.get<string>('runtime') || 'auto',
      SALIENCY_LENS_EXIF_ORIENTATION: config.get<boolean>('exifOrientation', true) ? 'on' : 'off',
    };
  };
  const engine = new EngineClient(vscode.Uri.joinPath(context.extensionUri, 'dist', 'engineProcess.js').fsPath, log, engineEnv);
  const status = new ModelStatus();
  const modelTree = new ModelTreeProvider();
  const treeView = vscode.window.createTreeView('saliencyLens.model', { treeDataProvider: modelTree, showCollapseAll: true });
  const chooser = new ModelChooser(context.workspaceState);
  const loads = new ModelLoads(engine);
  const host: PanelHost = {
    extensionUri: context.extensionUri,
    engine,
    loads,
    log,
    model: (onAsk) => chooser.choose(onAsk),
    onModelInfo: (info) => {
      log.info(`${info.path}: ${info.backend.name} — ${info.backend.note}`);
      status.show(info);
      modelTree.show(info);
      treeView.title = modelTree.title;
    },
    onModelFailed: (modelPath, message) => {
      log.warn(`${modelPath}: not loaded: ${message}`);
      status.fail(modelPath, message);
      modelTree.fail(modelPath, message);
      treeView.title = modelTree.title;
    },
    openModel: async (modelPath) => {
      try {
        const model = await loads.load({ modelPath, ...preprocessingChoice(host.presetFor(modelPath)) });
        host.onModelInfo(model);
        return { model };
      } catch (err) {
        const message = (err as Error).message;
        host.onModelFailed(modelPath, message);
        // No action button: an error toast with one stays until dismissed; the status bar keeps saying it meanwhile.
        void vscode.window.showErrorMessage(message);
        return { error: message };
      }
    },
    displayChoice: () => context.workspaceState.get<PanelDisplay>(DISPLAY_CHOICE),
    rememberDisplay: (display) => void context.workspaceState.update(DISPLAY_CHOICE, display),
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
    vscode.commands.registerCommand('saliencyLens.compareMethods', () => methods.openBeside().showTab('maps')),
    vscode.commands.registerCommand('saliencyLens.measureTrust', () => methods.openBeside().showTab('trust')),
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
      // The user set a new default: it applies from the next panel on, over a choice made in a panel.
      if (e.affectsConfiguration('saliencyLens.colormap') || e.affectsConfiguration('saliencyLens.opacity')) {
        void context.workspaceState.update(DISPLAY_CHOICE, undefined);
      }
      const changed = ENGINE_SETTINGS.filter((name) => e.affectsConfiguration(`saliencyLens.${name}`));
      if (!changed.length) return;
      log.info(`${changed.join(', ')} setting changed (${JSON.stringify(engineEnv())}): restarting the engine`);
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
    // The views beside the panel come back too: they follow whichever explain panel is current once it is restored.
    vscode.window.registerWebviewPanelSerializer(COMPARE_PANEL_TYPE, compare),
    vscode.window.registerWebviewPanelSerializer(METHODS_PANEL_TYPE, methods),
  );
  log.info('Saliency Lens activated');
  return { engine, panels: () => ExplainPanel.open, modelTree, compare, methods, loads, status };
}

/** The settings the engine process starts with (engineEnv): changing one restarts it and reopens the panels. */
const ENGINE_SETTINGS = ['runtime', 'exifOrientation'] as const;

export function deactivate(): void {
  // Disposables registered on the context stop the engine process.
}
