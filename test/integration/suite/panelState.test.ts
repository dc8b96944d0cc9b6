// State that stays true, inside VS Code's extension host: class names, a broken model, a model switch with several
// panels, and the views restored after a reload (through their serializers).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExplainOutcome } from '../../../src/host/commands';
import type { ExplainPanel } from '../../../src/host/explainPanel';
import { A, buildModel, randn, size, type Init } from '../../fixtures/onnxBuilder';
import { EXTENSION_ID, api, workspacePath } from './workbench';


/** Polls until `check` holds (or the deadline passes); the assertion after it says what was wanted. */
async function until(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

const setModel = (value: string | undefined) =>
  vscode.workspace.getConfiguration('saliencyLens').update('model', value, vscode.ConfigurationTarget.Workspace);

/** An unlabelled 1000-class CNN (what a torchvision export without its names looks like), in a folder of its own. */
function thousandClassModel(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-1000-'));
  const w = (name: string, dims: number[], seed: number): Init => ({ name, dims, values: randn(size(dims), seed, 0.3) });
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(file, buildModel({
    input: { name: 'x', dims: [1, 3, 16, 16] },
    nodes: [
      { op: 'Conv', inputs: ['x', 'W1', 'B1'], outputs: ['c1'], attrs: [A.ints('kernel_shape', [3, 3]), A.ints('pads', [1, 1, 1, 1])], name: 'conv1' },
      { op: 'Relu', inputs: ['c1'], outputs: ['r1'], name: 'relu1' },
      { op: 'GlobalAveragePool', inputs: ['r1'], outputs: ['g'], name: 'gap' },
      { op: 'Flatten', inputs: ['g'], outputs: ['f'], name: 'flatten' },
      { op: 'Gemm', inputs: ['f', 'Wd', 'Bd'], outputs: ['logits'], attrs: [A.i('transB', 1)], name: 'fc' },
    ],
    inits: [w('W1', [8, 3, 3, 3], 1), w('B1', [8], 2), w('Wd', [1000, 8], 3), w('Bd', [1000], 4)],
    outputs: ['logits'],
  }));
  return file;
}

describe('Saliency Lens: state that stays true', function () {
  this.timeout(180_000);
  const digit = (name = 'digit-7-29.png') => workspacePath('digits', name);
  const tfjsModel = () => workspacePath('mnist-cnn');
  const onnxModel = () => workspacePath('mnist-cnn-onnx', 'model.onnx');
  const made: string[] = [];

  afterEach(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  after(async () => {
    await setModel(undefined);
    for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function explain(image: string): Promise<ExplainPanel> {
    const outcome = await vscode.commands.executeCommand<ExplainOutcome>('saliencyLens.explainImage', vscode.Uri.file(image));
    assert.ok(outcome?.ok, `explained ${path.basename(image)}: ${outcome?.error}`);
    const panel = (await api()).panels().find((p) => p.image.fsPath === image);
    assert.ok(panel, 'its panel is open');
    return panel;
  }

  it('"Use ImageNet Class Names" puts the names into the panel\'s search list and the Model view, without a "model updated"', async () => {
    const a = await api();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const modelFile = thousandClassModel();
    made.push(path.dirname(modelFile));
    await setModel(modelFile);
    const panel = await explain(digit());
    await until(() => panel.labelsShown?.count === 1000);
    assert.deepEqual(panel.labelsShown, { count: 1000, first: 'class 0', last: 'class 999' }, 'the search list held numbered classes');
    const output = () => a.modelTree.getChildren(a.modelTree.getChildren()[1]);
    assert.ok(output().some((n) => n.command?.command === 'saliencyLens.useImagenetLabels'), 'the Model view offers the names');
    const updates = panel.modelUpdates;
    const latest = panel.latest;

    await vscode.commands.executeCommand('saliencyLens.useImagenetLabels', modelFile);
    await until(() => panel.labelsShown?.first === 'tench');
    // The webview says what its search list holds now: every ImageNet name.
    assert.deepEqual(panel.labelsShown, { count: 1000, first: 'tench', last: 'toilet tissue' });
    // The file event of the same write comes a moment later: it must not announce a new model either.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(panel.modelUpdates, updates, 'no "Model updated … Show previous" for new names');
    assert.equal(panel.latest, latest, 'the maps were kept, not recomputed');
    const labels = output().find((n) => n.label === 'labels');
    assert.match(labels?.description ?? '', /ImageNet-1k class names .*saliency-lens\.json/, 'the Model view says where the names come from');
    assert.ok(!output().some((n) => n.command?.command === 'saliencyLens.useImagenetLabels'), 'no longer offered');
    const input = a.modelTree.getChildren(a.modelTree.getChildren()[0]);
    assert.doesNotMatch(input.find((n) => n.label === 'preprocessing')?.description ?? '', /no saliency-lens\.json/,
      'a saliency-lens.json is there now: the preset source says what it holds');
    // The model's real input tensor, and the image apart.
    assert.equal(input.find((n) => n.label === 'tensor')?.description, '[1, 3, 16, 16] NCHW');
    assert.equal(input.find((n) => n.label === 'image')?.description, '16×16, 3 channels');
  });

  it('a broken model, then a good one: the status bar and the Model view never claim the wrong model, and the error clears', async () => {
    const a = await api();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    // A good model first, so there is a previous model to claim wrongly.
    await setModel(tfjsModel());
    await explain(digit());
    assert.match(a.status.text, /mnist-cnn · /);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');

    const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'broken-model-'));
    made.push(broken);
    fs.writeFileSync(path.join(broken, 'model.json'), '{ "modelTopology": ');
    await setModel(broken);
    const outcome = await vscode.commands.executeCommand<ExplainOutcome>('saliencyLens.explainImage', vscode.Uri.file(digit()));
    assert.equal(outcome?.ok, false);
    assert.match(outcome!.error!, /is not valid JSON/);
    assert.match(a.status.text, new RegExp(`${path.basename(broken)}: not loaded`), `status bar: ${a.status.text}`);
    assert.doesNotMatch(a.status.text, /mnist-cnn/);
    assert.equal(a.modelTree.getChildren()[0]?.label, 'Not loaded');
    assert.match(a.modelTree.getChildren()[0]?.description ?? '', /is not valid JSON/);
    assert.equal(a.modelTree.title, `Model: ${path.basename(broken)}`);
    const panel = a.panels()[0];
    assert.equal(panel.engineContext, undefined, 'the panel claims no model');

    // The user picks a good model (what Select Model… and Retry do for an open panel).
    await setModel(tfjsModel());
    await panel.sendInit();
    await until(() => panel.latest !== undefined);
    assert.ok(panel.latest, 'maps computed with the good model');
    assert.match(a.status.text, /^\$\(eye\) mnist-cnn · /, `status bar: ${a.status.text}`);
    assert.deepEqual(a.modelTree.getChildren().map((n) => n.label), ['Input', 'Output', 'Layers']);
    assert.equal(a.modelTree.title, 'Model: mnist-cnn', 'the Model view names the model as the status bar does');
  });

  it('switching the model with three panels open loads it once, with one progress notification', async () => {
    const a = await api();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await setModel(tfjsModel());
    const panels = [];
    for (const name of ['digit-7-29.png', 'digit-2-5.png', 'digit-0-0.png']) panels.push(await explain(digit(name)));
    assert.equal(a.panels().length, 3);
    const delay = a.loads.progressDelayMs;
    // Every load long enough to notify: what is counted is how many notifications a switch raises.
    a.loads.progressDelayMs = 0;
    try {
      const [started, notified] = [a.loads.started, a.loads.notifications];
      await setModel(onnxModel());
      // What Select Model… does once the user has chosen.
      await Promise.all(a.panels().map((p) => p.sendInit()));
      assert.equal(a.loads.started - started, 1, 'one engine load for the three panels');
      assert.equal(a.loads.notifications - notified, 1, 'one "loading" notification');
      for (const p of panels) assert.equal(p.engineContext?.model.path, onnxModel());
    } finally {
      a.loads.progressDelayMs = delay;
    }
  });

  it('the Compare and Methods views come back after a reload through their serializers (code-server\'s dev host cannot reload mid-test)', async () => {
    const a = await api();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await setModel(tfjsModel());
    await explain(digit());
    const manifest = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as { activationEvents: string[] };
    for (const type of ['saliencyLens.comparePanel', 'saliencyLens.methodsPanel']) {
      assert.ok(manifest.activationEvents.includes(`onWebviewPanel:${type}`), `activates to restore ${type}`);
    }

    // What VS Code does on a reload: a panel of the persisted type, handed to the registered serializer with its state.
    const restored = vscode.window.createWebviewPanel('saliencyLens.comparePanel', 'Compare classes', vscode.ViewColumn.Two, { enableScripts: true });
    const before = a.compare.controllers.length;
    await a.compare.deserializeWebviewPanel(restored, { method: 'gradcam', sharedScale: true, contrast: true });
    assert.equal(a.compare.controllers.length, before + 1, 'a compare controller drives the restored panel');
    const view = a.compare.controllers.at(-1)!;
    await until(() => view.lastRendered?.drawnTiles === 4);
    assert.equal(view.lastRendered?.drawnTiles, 4, 'the restored view compares the explain panel\'s image again');
    assert.equal(view.lastRendered?.classes[0], 7);
    // The compare command now reveals the restored panel instead of opening a second one.
    await vscode.commands.executeCommand('saliencyLens.compareClasses');
    assert.equal(a.compare.controllers.at(-1), view);

    const methods = vscode.window.createWebviewPanel('saliencyLens.methodsPanel', 'Compare methods', vscode.ViewColumn.Two, { enableScripts: true });
    await a.methods.deserializeWebviewPanel(methods, { methods: ['saliency', 'gradcam'] });
    const controller = a.methods.controller;
    assert.ok(controller, 'a methods controller drives the restored panel');
    await until(() => controller.lastRendered?.some((t) => t.method === 'saliency' && t.status === 'drawn') === true, 90_000);
    assert.equal(controller.lastRendered?.find((t) => t.method === 'saliency')?.status, 'drawn');
  });
});
