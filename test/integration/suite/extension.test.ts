// Runs inside VS Code's extension host (code-server here; desktop VS Code via test-electron).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { onnx } from 'onnx-proto';
import type { SaliencyLensApi } from '../../../src/extension';
import type { ExplainOutcome } from '../../../src/host/commands';
import { base64ToFloat32, ENGINE, ExplanationMsg } from '../../../src/shared/protocol';
import { api, EXTENSION_ID, workspacePath } from './workbench';


async function enginePid(a: SaliencyLensApi): Promise<number> {
  return (await a.engine.request(ENGINE.info, {})).pid;
}

describe('Saliency Lens in a real VS Code', function () {
  this.timeout(120_000);
  const digit = () => workspacePath('digits', 'digit-7-29.png');
  const model = () => workspacePath('mnist-cnn');

  before(async () => {
    // The example workspace holds two models (TF.js and ONNX): without a choice, Explain Image would ask.
    await vscode.workspace.getConfiguration('saliencyLens').update('model', model(), vscode.ConfigurationTarget.Workspace);
  });

  after(async () => {
    await vscode.workspace.getConfiguration('saliencyLens').update('model', undefined, vscode.ConfigurationTarget.Workspace);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('activates and registers its commands', async () => {
    const exported = await api();
    assert.ok(exported.engine, 'exports its engine client');
    const commands = await vscode.commands.getCommands(true);
    const declared = (vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
    assert.ok(declared.length >= 10 && declared.includes('saliencyLens.measureTrust'), `declared: ${declared.join(', ')}`);
    for (const c of declared) assert.ok(commands.includes(c), `${c} (declared in package.json) is registered`);
  });

  it('explains the bundled digit through the real engine process: predictions and both maps', async () => {
    const outcome = await vscode.commands.executeCommand<ExplainOutcome>('saliencyLens.explainImage', vscode.Uri.file(digit()));
    assert.ok(outcome?.ok, `explained: ${outcome?.error}`);
    const result = outcome.result!;
    assert.equal(result.predictions[0].label, '7');
    assert.ok(result.predictions[0].probability > 0.9);
    assert.deepEqual(result.maps.map((m) => m.method).sort(), ['gradcam', 'saliency']);
    const saliency = result.maps.find((m) => m.method === 'saliency')!;
    assert.deepEqual([saliency.width, saliency.height], [28, 28]);
    assert.ok(saliency.max > saliency.min, 'a map with structure');
    assert.equal(result.maps.find((m) => m.method === 'gradcam')!.layer, 'conv2');
    assert.equal((await api()).panels().length, 1, 'one panel for the image');
  });

  it('explaining the same image again reveals its panel instead of opening another', async () => {
    await vscode.commands.executeCommand('saliencyLens.explainImage', vscode.Uri.file(digit()));
    assert.equal((await api()).panels().length, 1);
  });

  it('the compare view draws one tile per class (top 4 by default, then 2 and 6), each equal to that class\'s own map', async () => {
    const a = await api();
    await vscode.commands.executeCommand('saliencyLens.compareClasses');
    const view = a.compare.controllers.at(-1);
    assert.ok(view, 'a compare view opened');
    const drawn = async (classes: number[] | undefined) => {
      const deadline = Date.now() + 30_000;
      const matches = () => view.lastRendered && (classes ? view.lastRendered.classes.join() === classes.join() : view.lastRendered.classes.length === 4);
      while (!matches() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(matches(), `rendered ${JSON.stringify(view.lastRendered)}, wanted ${classes ?? 'the top 4'}`);
      return view.lastRendered!;
    };
    const first = await drawn(undefined);
    assert.equal(first.drawnTiles, 4);
    assert.equal(first.classes[0], 7, 'the top class first');
    assert.ok(first.sharedScale, 'shared scale is on by default');
    assert.ok(first.contrast, 'the contrast of the top two is shown by default');
    for (const classes of [[1, 2], [0, 1, 2, 3, 8, 9]]) {
      view.setClasses(classes);
      assert.equal((await drawn(classes)).drawnTiles, classes.length);
    }
    // Each tile is that class's Grad-CAM, as the explain panel computes it on its own.
    const single = await a.engine.request(ENGINE.explain, { modelPath: model(), imagePath: digit(), classIndex: 8, methods: ['gradcam'] });
    const tile = view.lastComparison!.maps[view.lastComparison!.predictions.findIndex((p) => p.index === 8)];
    const [ours, theirs] = [base64ToFloat32(tile.data), base64ToFloat32(single.maps[0].data)];
    assert.equal(ours.length, theirs.length);
    assert.ok(single.maps[0].max > 0, 'a map with evidence');
    assert.ok(ours.every((v, i) => Math.abs(v - theirs[i]) <= 1e-6 * single.maps[0].max), 'the tile is the class\'s own Grad-CAM');
  });

  it('the methods view draws one tile per chosen method for the digit, each the engine\'s own map of that method', async () => {
    const a = await api();
    await vscode.commands.executeCommand('saliencyLens.compareMethods');
    const view = a.methods.controller;
    assert.ok(view, 'a methods view opened');
    const settled = () => view.lastRendered && view.lastRendered.length > 0 && view.lastRendered.every((t) => t.status === 'drawn' || t.status === 'error');
    const deadline = Date.now() + 90_000;
    while (!settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const tiles = view.lastRendered ?? [];
    assert.ok(settled(), `tiles: ${JSON.stringify(tiles)}`);
    // The view's default choice, in registry order: the example CNN has convolutional layers, so its CAMs too.
    assert.deepEqual(tiles.map((t) => t.method), ['saliency', 'gradxinput', 'smoothgrad', 'ig', 'gradcam', 'gradcam++', 'hirescam', 'scorecam', 'occlusion']);
    for (const t of tiles) assert.ok(t.status === 'drawn' || /has no implementation/.test(t.error ?? ''), `${t.method}: ${t.error}`);
    for (const m of ['saliency', 'gradcam'] as const) assert.equal(tiles.find((t) => t.method === m)?.status, 'drawn', m);
    // Each drawn tile is the method's map for the panel's class (7) as the engine computes it on its own.
    for (const t of tiles.filter((x) => x.status === 'drawn')) {
      const shown: ExplanationMsg = view.results.get(t.method)!;
      assert.equal(shown.target.index, 7, t.method);
      const own = await a.engine.request(ENGINE.explain, { modelPath: model(), imagePath: digit(), classIndex: 7, methods: [t.method] });
      const [ours, theirs] = [base64ToFloat32(shown.maps[0].data), base64ToFloat32(own.maps[0].data)];
      const scale = Math.max(Math.abs(own.maps[0].min), Math.abs(own.maps[0].max));
      assert.ok(scale > 0, `${t.method}: a map with evidence`);
      assert.equal(ours.length, theirs.length, t.method);
      assert.ok(ours.every((v, i) => Math.abs(v - theirs[i]) <= 1e-5 * scale), `${t.method}: the tile is the method's own map`);
    }
    // Fewer methods: their tiles, from the cache.
    view.setMethods(['gradcam', 'saliency']);
    const until = Date.now() + 10_000;
    while (view.lastRendered?.length !== 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(view.lastRendered?.map((t) => [t.method, t.status]), [['saliency', 'drawn'], ['gradcam', 'drawn']]);
  });

  it('the trust table measures each chosen method for the digit: the engine\'s own numbers, the randomization check flags saliency and not Grad-CAM', async () => {
    const a = await api();
    await vscode.commands.executeCommand('saliencyLens.measureTrust');
    const view = a.methods.controller;
    assert.ok(view, 'the methods view opened');
    view.setMethods(['saliency', 'gradcam']);
    view.showTab('trust', ['curves', 'road', 'randomization']);
    const settled = () => view.lastTrust?.tab === 'trust' && view.lastTrust.rows.length === 2 &&
      view.lastTrust.rows.every((r) => r.status === 'measured' || r.status === 'error') && view.lastTrust.rows.every((r) => r.values.randomization !== null || r.errors?.randomization);
    const deadline = Date.now() + 100_000;
    while (!settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.ok(settled(), `rows: ${JSON.stringify(view.lastTrust)}`);
    const rows = view.lastTrust!.rows;
    assert.deepEqual(rows.map((r) => [r.method, r.status]), [['saliency', 'measured'], ['gradcam', 'measured']]);
    assert.ok(view.lastTrust!.curves >= 1, 'the deletion chart draws the measured methods');
    // The row's numbers are the engine's own for the panel's class (7), layer and seed 0, asked for here directly.
    for (const row of rows) {
      const own = await a.engine.request(ENGINE.evaluate, { modelPath: model(), imagePath: digit(), method: row.method, classIndex: 7, measures: ['curves', 'road'], seed: 0 });
      if (own.evaluation.errors?.curves) {
        assert.equal(row.values.deletionAuc, null, `${row.method}: ${own.evaluation.errors.curves}`);
        continue;
      }
      assert.ok(Math.abs(row.values.deletionAuc! - own.evaluation.deletion!.auc) < 1e-9, `${row.method} deletion`);
      assert.ok(Math.abs(row.values.insertionAuc! - own.evaluation.insertion!.auc) < 1e-9, `${row.method} insertion`);
      assert.ok(Math.abs(row.values.road! - own.evaluation.road!.combined) < 1e-9, `${row.method} ROAD`);
    }
    // On this trained CNN saliency's map barely changes with every layer random (it follows the strokes), Grad-CAM's does.
    const [saliency, gradcam] = rows;
    assert.equal(saliency.insensitive, true, `saliency after randomization: ${saliency.values.randomization}`);
    assert.ok(!gradcam.insensitive && gradcam.values.randomization! < 0.5, `Grad-CAM after randomization: ${gradcam.values.randomization}`);
    assert.equal(view.evaluations.get('saliency')?.classIndex, 7);
    // Back to the tiles: the later tests change the panel, and the Maps tab recomputes only maps.
    view.showTab('maps');
  });

  it('the Model view lists the example model: input, output, every layer with shape and parameters, and totals', async () => {
    const tree = (await api()).modelTree;
    const roots = tree.getChildren();
    assert.deepEqual(roots.map((r) => r.label), ['Input', 'Output', 'Layers']);
    assert.match(roots[0].description ?? '', /^\[1, 28, 28, 1\] NHWC$/);
    assert.ok(tree.getChildren(roots[0]).some((n) => n.label === 'preprocessing' && /unit/.test(n.description ?? '')));
    assert.ok(tree.getChildren(roots[1]).some((n) => /its softmax is removed/.test(n.description ?? '')));
    assert.equal(roots[2].description, '6 · 5,258 parameters');
    const layers = tree.getChildren(roots[2]);
    assert.deepEqual(layers.map((l) => l.label), ['conv1', 'pool1', 'conv2', 'pool2', 'flatten', 'predictions']);
    assert.equal(layers[0].description, 'Conv2D [26, 26, 8] · 80');
    assert.equal(layers[2].description, 'Conv2D [11, 11, 16] · 1,168 · Grad-CAM, auto');
    assert.equal(layers[5].description, 'Dense [10] · 4,010');
    assert.deepEqual(layers.filter((l) => l.gradcamLayer).map((l) => l.label), ['conv1', 'pool1', 'conv2', 'pool2']);
  });

  it('"Use for Grad-CAM" on a layer recomputes the open panel at that layer', async () => {
    const a = await api();
    const conv1 = a.modelTree.getChildren(a.modelTree.getChildren()[2]).find((l) => l.label === 'conv1')!;
    await vscode.commands.executeCommand('saliencyLens.useLayerForGradcam', conv1);
    const panel = a.panels()[0];
    const deadline = Date.now() + 20_000;
    while (panel.latest?.maps.find((m) => m.method === 'gradcam')?.layer !== 'conv1' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const gradcam = panel.latest?.maps.find((m) => m.method === 'gradcam');
    assert.equal(gradcam?.layer, 'conv1');
    assert.deepEqual([gradcam?.width, gradcam?.height], [26, 26]);
    assert.match(a.modelTree.getChildren(a.modelTree.getChildren()[2])[0].description ?? '', /Grad-CAM/);
  });

  it('new weights written on disk (training) reload the model and recompute the open panel', async () => {
    const panel = (await api()).panels()[0];
    const before = panel.latest!;
    const updates = panel.modelUpdates;
    const shard = workspacePath('mnist-cnn', 'group1-shard1of1.bin');
    const weights = new Float32Array(new Uint8Array(fs.readFileSync(shard)).buffer);
    fs.writeFileSync(shard, Buffer.from(weights.map((w) => w * 0.5).buffer));
    const deadline = Date.now() + 30_000;
    while ((panel.modelUpdates === updates || panel.latest === before) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(panel.modelUpdates, updates + 1, 'one reload');
    assert.notEqual(panel.latest!.predictions[0].logit, before.predictions[0].logit, 'maps from the new weights');
  });

  it('a preset picked in the panel is remembered for the model and used', async () => {
    const a = await api();
    await a.panels()[0].usePreprocessing('symmetric');
    const input = a.modelTree.getChildren(a.modelTree.getChildren()[0]);
    assert.match(input.find((n) => n.label === 'preprocessing')?.description ?? '', /^symmetric/);
    await a.panels()[0].usePreprocessing('unit');
    assert.match(a.modelTree.getChildren(a.modelTree.getChildren()[0]).find((n) => n.label === 'preprocessing')?.description ?? '', /^unit/);
  });

  it('a framework pipeline picked in the panel crops, and the maps say where they lie', async () => {
    const a = await api();
    const panel = a.panels()[0];
    try {
      await panel.usePreprocessing('torchvision');
      // The 28×28 digit, torchvision bound to a 28×28 input: shorter edge ⌊28/0.875⌋ = 32, centre crop 28 at (2, 2).
      const described = a.modelTree.getChildren(a.modelTree.getChildren()[0]).find((n) => n.label === 'preprocessing')?.description ?? '';
      assert.match(String(described), /^torchvision: shorter edge 32 \(bilinear, antialiased\), centre crop 28×28/);
      // Answers to requests made before the switch may still arrive: wait for the cropped one.
      const deadline = Date.now() + 30_000;
      while (panel.latest?.inputRegion?.covers !== 'crop' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const region = panel.latest?.inputRegion;
      assert.ok(region, 'the explanation carries its region');
      assert.equal(region.covers, 'crop');
      // Pixel edges: crop left 2 of 32 resized columns, each 28/32 of an image pixel wide.
      assert.deepEqual([region.x, region.y, region.width, region.height], [2 * 28 / 32, 2 * 28 / 32, 28 * 28 / 32, 28 * 28 / 32]);
    } finally {
      await panel.usePreprocessing('unit');
      // Let the panel (and the views following it) finish with 'unit' before the next test shares the engine.
      const deadline = Date.now() + 30_000;
      while (panel.latest?.inputRegion?.covers !== 'whole' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('Explain Folder… writes one self-contained HTML report of every image and opens it', async () => {
    const outcome = await vscode.commands.executeCommand<{ ok: boolean; file?: string; images?: number; failed?: number; error?: string }>(
      'saliencyLens.explainFolder', vscode.Uri.file(workspacePath('digits')));
    assert.ok(outcome?.ok, JSON.stringify(outcome));
    assert.equal(outcome.images, 6);
    assert.equal(outcome.failed, 0);
    const html = fs.readFileSync(outcome.file!, 'utf8');
    for (const f of fs.readdirSync(workspacePath('digits')).filter((n) => n.endsWith('.png'))) {
      assert.ok(html.includes(`<h2>${f} — explained: ${f.split('-')[1]}</h2>`), f);
    }
    assert.ok(!/<script/i.test(html));
  });

  it('cancelling a request stops the engine, and the next request starts a fresh one', async () => {
    const a = await api();
    const before = await enginePid(a);
    const source = new vscode.CancellationTokenSource();
    const request = a.engine.request(ENGINE.explain, { modelPath: model(), imagePath: digit() }, source.token);
    source.cancel();
    await assert.rejects(request, (e: Error) => e.name === 'EngineCancelled' /* the test bundle has its own copy of the class */);
    const after = await enginePid(a);
    assert.notEqual(after, before, 'a new engine process');
    const result = await a.engine.request(ENGINE.explain, { modelPath: model(), imagePath: digit() });
    assert.equal(result.predictions[0].label, '7');
  });

  it('cancelling one request does not fail another one in flight on the same engine', async () => {
    const a = await api();
    const source = new vscode.CancellationTokenSource();
    const other = a.engine.request(ENGINE.explain, { modelPath: model(), imagePath: digit(), classIndex: 2 });
    const cancelled = a.engine.request(ENGINE.explain, { modelPath: model(), imagePath: digit() }, source.token);
    source.cancel();
    await assert.rejects(cancelled, (e: Error) => e.name === 'EngineCancelled');
    assert.equal((await other).target.index, 2, 'sent again on a fresh engine');
  });

  it('a request the engine is stopped under again and again, for other requests\' cancels, is sent again each time', async () => {
    const a = await api();
    const other = a.engine.request(ENGINE.explain, { modelPath: model(), imagePath: digit(), classIndex: 2 });
    const pids = new Set<number>();
    for (let i = 0; i < 3; i++) {
      pids.add(await enginePid(a));
      const source = new vscode.CancellationTokenSource();
      const cancelled = a.engine.request(ENGINE.explain, { modelPath: model(), imagePath: digit() }, source.token);
      source.cancel();
      await assert.rejects(cancelled, (e: Error) => e.name === 'EngineCancelled');
    }
    assert.equal(pids.size, 3, 'three engine processes stopped in turn');
    assert.equal((await other).target.index, 2, 'sent again after each stop');
  });

  it('restarts the engine after it is killed and tells why', async () => {
    const a = await api();
    const pid = await enginePid(a);
    const restarts = a.engine.restartCount;
    const told = new Promise<string>((resolve) => {
      const sub = a.engine.onDidCrash((reason) => {
        sub.dispose();
        resolve(reason);
      });
    });
    process.kill(pid, 'SIGKILL');
    assert.match(await told, /stopped unexpectedly \(signal SIGKILL/);
    const result = await a.engine.request(ENGINE.explain, { modelPath: model(), imagePath: digit(), classIndex: 3 });
    assert.equal(result.target.index, 3);
    assert.notEqual(await enginePid(a), pid);
    assert.equal(a.engine.restartCount, restarts + 1);
  });

  it('explains the digit with the ONNX example (exported from PyTorch): panel, Model view and compare view', async () => {
    const a = await api();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const onnxModel = workspacePath('mnist-cnn-onnx', 'model.onnx');
    await vscode.workspace.getConfiguration('saliencyLens').update('model', onnxModel, vscode.ConfigurationTarget.Workspace);
    const outcome = await vscode.commands.executeCommand<ExplainOutcome>('saliencyLens.explainImage', vscode.Uri.file(digit()));
    assert.ok(outcome?.ok, `explained: ${outcome?.error}`);
    const result = outcome.result!;
    assert.equal(result.predictions[0].label, '7');
    assert.ok(result.predictions[0].probability > 0.9);
    const saliency = result.maps.find((m) => m.method === 'saliency')!;
    const gradcam = result.maps.find((m) => m.method === 'gradcam')!;
    assert.deepEqual([saliency.width, saliency.height], [28, 28]);
    assert.ok(saliency.max > saliency.min && gradcam.max > gradcam.min, 'maps with structure');
    assert.ok(gradcam.layer && gradcam.width > 1 && gradcam.width < 28, `Grad-CAM at an inner layer: ${gradcam.layer} ${gradcam.width}`);
    // The engine's maps for this class through the RPC equal the panel's.
    const direct = await a.engine.request(ENGINE.explain, { modelPath: onnxModel, imagePath: digit(), classIndex: 7 });
    assert.equal(direct.maps.find((m) => m.method === 'saliency')!.data, saliency.data);
    // The Model view lists the ONNX nodes with shapes and parameters.
    const roots = a.modelTree.getChildren();
    // The model's own NCHW tensor (the engine reads a 28×28×1 image into it).
    assert.match(roots[0].description ?? '', /^\[1, 1, 28, 28\] NCHW$/);
    // PyTorch's node names carry the module path: conv1 groups its Conv node.
    const modules = a.modelTree.getChildren(roots[2]);
    const conv1 = modules.find((n) => n.label === 'conv1');
    assert.equal(conv1?.description, 'module', modules.map((n) => `${n.label}: ${n.description}`).join('; '));
    assert.match(a.modelTree.getChildren(conv1)[0].description ?? '', /^Conv \[8, 26, 26\] · 80/);
    const total = /· ([\d,]+) parameters/.exec(roots[2].description ?? '')?.[1];
    assert.ok(total && Number(total.replace(/,/g, '')) > 1000, `parameter total: ${roots[2].description}`);
    // And the compare view works on it.
    await vscode.commands.executeCommand('saliencyLens.compareClasses');
    const view = a.compare.controllers.at(-1)!;
    const deadline = Date.now() + 30_000;
    while (!(view.lastRendered?.drawnTiles === 4 && view.lastComparison?.imagePath === digit()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(view.lastRendered?.drawnTiles, 4);
    // Watch: new weights in the .onnx file (training exported again) reload it and recompute the panel and the compare view.
    const panel = a.panels()[0];
    const [before, updates, comparedBefore] = [panel.latest!, panel.modelUpdates, view.lastComparison];
    const proto = onnx.ModelProto.decode(fs.readFileSync(onnxModel));
    const fc = proto.graph!.initializer!.find((t) => t.dims?.length === 2)!;
    const weights = new Float32Array(Uint8Array.from(fc.rawData!).buffer);
    fc.rawData = new Uint8Array(weights.map((w) => w * 0.5).buffer);
    fs.writeFileSync(onnxModel, onnx.ModelProto.encode(proto).finish());
    const until = Date.now() + 30_000;
    while ((panel.modelUpdates === updates || panel.latest === before || view.lastComparison === comparedBefore) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(panel.modelUpdates, updates + 1, 'one reload');
    assert.notEqual(panel.latest!.predictions[0].logit, before.predictions[0].logit, 'logits from the new weights');
    assert.notEqual(view.lastComparison, comparedBefore, 'the compare view recomputed');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('a vision transformer (the MNIST ViT example) as a new user meets it: Grad-CAM says what it is worth, the attention methods draw', async () => {
    const a = await api();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const vit = workspacePath('mnist-vit-onnx', 'model.onnx');
    await vscode.workspace.getConfiguration('saliencyLens').update('model', vit, vscode.ConfigurationTarget.Workspace);
    try {
      const outcome = await vscode.commands.executeCommand<ExplainOutcome>('saliencyLens.explainImage', vscode.Uri.file(digit()));
      assert.ok(outcome?.ok, `explained: ${outcome?.error}`);
      assert.equal(outcome.result!.predictions[0].label, '7');
      const gradcam = outcome.result!.maps.find((m) => m.method === 'gradcam')!;
      // The automatic layer: the norm before the last attention (its patch tokens still get a gradient), by its module path.
      assert.equal(gradcam.layer, '/encoder/layers/encoder_layer_2/ln_1/LayerNormalization');
      assert.ok(gradcam.max > gradcam.min, 'not blank');
      assert.ok(outcome.result!.notes.some((n) => /pooled over all tokens.*Gradient-weighted rollout/.test(n)), outcome.result!.notes.join(' | '));
      // The methods view offers the attention methods for this model and draws them, each the engine's own map.
      await vscode.commands.executeCommand('saliencyLens.compareMethods');
      const view = a.methods.controller!;
      const settled = () => view.lastRendered?.some((t) => t.method === 'grad-rollout') && view.lastRendered.every((t) => t.status === 'drawn' || t.status === 'error');
      const deadline = Date.now() + 90_000;
      while (!settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const tiles = view.lastRendered ?? [];
      for (const m of ['rollout', 'grad-rollout'] as const) {
        assert.equal(tiles.find((t) => t.method === m)?.status, 'drawn', `${m}: ${JSON.stringify(tiles.find((t) => t.method === m))}`);
        const shown = base64ToFloat32(view.results.get(m)!.maps[0].data);
        const own = await a.engine.request(ENGINE.explain, { modelPath: vit, imagePath: digit(), classIndex: 7, methods: [m] });
        const theirs = base64ToFloat32(own.maps[0].data);
        const scale = Math.max(Math.abs(own.maps[0].min), Math.abs(own.maps[0].max));
        assert.ok(scale > 0 && shown.every((v, i) => Math.abs(v - theirs[i]) <= 1e-5 * scale), `${m}: the tile is the method's own map`);
      }
    } finally {
      await vscode.workspace.getConfiguration('saliencyLens').update('model', model(), vscode.ConfigurationTarget.Workspace);
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    }
  });

  it('a broken model gives one sentence naming its model.json', async () => {
    const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'broken-model-'));
    fs.writeFileSync(path.join(broken, 'model.json'), '{ "modelTopology": ');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.workspace.getConfiguration('saliencyLens').update('model', broken, vscode.ConfigurationTarget.Workspace);
    const outcome = await vscode.commands.executeCommand<ExplainOutcome>('saliencyLens.explainImage', vscode.Uri.file(digit()));
    assert.equal(outcome?.ok, false);
    assert.ok(outcome?.error?.includes(path.join(broken, 'model.json')), outcome?.error);
    assert.match(outcome!.error!, /is not valid JSON/);
    assert.doesNotMatch(outcome!.error!, /\n\s+at /, 'no stack trace');
  });
});
