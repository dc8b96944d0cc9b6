import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createMessageConnection, IPCMessageReader, IPCMessageWriter, MessageConnection, ResponseError } from 'vscode-jsonrpc/node';
import {
  base64ToFloat32, ENGINE, ENGINE_PARTIAL, ENGINE_PROGRESS, EnginePartialMsg, EngineProgressMsg, ExplanationMsg, ModelInfoMsg, ModelInputMsg, USER_ERROR_CODE,
} from '../../src/shared/protocol';
import { PNG } from 'pngjs';
import { cleanupTempDirs, tempDir } from './helpers';

/** The bundled engine process, spoken to over JSON-RPC the way the extension host does. */
let child: cp.ChildProcess;
let rpc: MessageConnection;
const example = path.resolve('examples/mnist-cnn');
const digit = path.resolve('examples/digits/digit-7-29.png');

before(() => {
  child = cp.fork(path.resolve('dist/engineProcess.js'), [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  rpc = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
  rpc.listen();
});
after(() => {
  rpc.dispose();
  child.kill();
  cleanupTempDirs();
});

describe('a fresh engine process whose first requests open the model twice at once', () => {
  it('answers every one (one backend start shared by both models)', async () => {
    // The panel, the compare view and a folder report after a preset change: two preprocessings, two explainers
    // opened concurrently before the backend has started. Two tfjs backend starts at once broke tfjs's kernels.
    const fresh = cp.fork(path.resolve('dist/engineProcess.js'), [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const conn = createMessageConnection(new IPCMessageReader(fresh), new IPCMessageWriter(fresh));
    conn.listen();
    try {
      const answers = await Promise.all([
        conn.sendRequest<ExplanationMsg>(ENGINE.explain.method, { modelPath: example, imagePath: digit, preprocessing: 'unit' }),
        conn.sendRequest<ExplanationMsg>(ENGINE.explain.method, { modelPath: example, imagePath: digit, preprocessing: 'torchvision' }),
        conn.sendRequest<ExplanationMsg>(ENGINE.explain.method, { modelPath: example, imagePath: digit, preprocessing: 'unit', classIndex: 2 }),
      ]);
      assert.equal(answers[0].predictions[0].label, '7');
      assert.equal(answers[1].inputRegion?.covers, 'crop');
      assert.equal(answers[2].target.index, 2);
    } finally {
      conn.dispose();
      fresh.kill();
    }
  });
});

describe('engine process over JSON-RPC', () => {
  it('reports its backend', async () => {
    const info = await rpc.sendRequest<{ pid: number; backend: { name: string } }>(ENGINE.info.method, {});
    assert.equal(info.pid, child.pid);
    assert.equal(info.backend.name, 'wasm');
  });

  it('opens the example model: labels, layers, Grad-CAM default', async () => {
    const model = await rpc.sendRequest<ModelInfoMsg>(ENGINE.open.method, { modelPath: example });
    assert.equal(model.numClasses, 10);
    assert.deepEqual(model.labels, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.equal(model.defaultSpatialLayer, 'conv2');
    assert.deepEqual(model.spatialLayers.map((l) => l.name), ['conv1', 'pool1', 'conv2', 'pool2']);
    assert.equal(model.outputActivation, 'softmax');
  });

  it('explains a digit, and another class on request, with raw maps that decode', async () => {
    const top = await rpc.sendRequest<ExplanationMsg>(ENGINE.explain.method, { modelPath: example, imagePath: digit });
    assert.equal(top.predictions[0].label, '7');
    assert.equal(top.target.index, 7);
    assert.deepEqual([top.imageWidth, top.imageHeight], [28, 28]);
    const saliency = top.maps.find((m) => m.method === 'saliency')!;
    const values = base64ToFloat32(saliency.data);
    assert.equal(values.length, saliency.width * saliency.height);
    assert.equal(Math.max(...values), saliency.max);
    const other = await rpc.sendRequest<ExplanationMsg>(ENGINE.explain.method, { modelPath: example, imagePath: digit, classIndex: 1 });
    assert.equal(other.target.index, 1);
    assert.notDeepEqual(base64ToFloat32(other.maps[0].data), values, 'another class, another map');
  });

  it('a long method reports progress tagged with its request\'s progressId, up to every input', async () => {
    const heard: EngineProgressMsg[] = [];
    const listening = rpc.onNotification(ENGINE_PROGRESS, (p: EngineProgressMsg) => heard.push(p));
    try {
      const result = await rpc.sendRequest<ExplanationMsg>(ENGINE.explain.method, {
        modelPath: example, imagePath: digit, methods: ['smoothgrad'], options: { smoothgrad: { samples: 40 } }, progressId: 17,
      });
      assert.equal(result.maps[0].method, 'smoothgrad');
      assert.deepEqual(result.maps[0].options, { samples: 40, sigma: 0.15, seed: 0, signed: false });
      assert.ok(heard.length >= 1, 'progress was sent');
      assert.ok(heard.every((p) => p.progressId === 17 && p.method === 'smoothgrad' && p.total === 40));
      assert.deepEqual(heard.map((p) => p.done), [...heard.map((p) => p.done)].sort((a, b) => a - b), 'done only grows');
      assert.equal(heard.at(-1)!.done, 40);
    } finally {
      listening.dispose();
    }
  });

  it('sends the predictions first, then each map as it is done, all before the answer and equal to it', async () => {
    const heard: string[] = [];
    const partials: EnginePartialMsg[] = [];
    const listening = [
      rpc.onNotification(ENGINE_PROGRESS, (p: EngineProgressMsg) => p.progressId === 23 && heard.push(`progress ${p.method}`)),
      rpc.onNotification(ENGINE_PARTIAL, (p: EnginePartialMsg) => {
        if (p.progressId !== 23) return;
        partials.push(p);
        heard.push(p.kind === 'map' ? `map ${p.map.method}` : 'predictions');
      }),
    ];
    try {
      const result = await rpc.sendRequest<ExplanationMsg>(ENGINE.explain.method, {
        modelPath: example, imagePath: digit, methods: ['gradcam', 'smoothgrad'], options: { smoothgrad: { samples: 24 } }, progressId: 23,
      });
      // The notifications were all sent before the answer, and arrive in order on the one channel.
      const order = [...new Set(heard)];
      assert.deepEqual(order, ['predictions', 'map gradcam', 'progress smoothgrad', 'map smoothgrad'], heard.join(', '));
      const first = partials[0];
      assert.ok(first.kind === 'predictions');
      assert.deepEqual(first.predictions, result.predictions);
      assert.deepEqual(first.target, result.target);
      assert.deepEqual([first.imageWidth, first.imageHeight], [result.imageWidth, result.imageHeight]);
      const maps = partials.flatMap((p) => (p.kind === 'map' ? [p.map] : []));
      assert.deepEqual(maps, result.maps, 'the streamed maps are the answer\'s maps');
    } finally {
      listening.forEach((l) => l.dispose());
    }
  });

  it('serves requests side by side: a single-pass map asked for after a slow method is answered first', async () => {
    const order: string[] = [];
    const slow = rpc.sendRequest<ExplanationMsg>(ENGINE.explain.method, {
      modelPath: example, imagePath: digit, methods: ['smoothgrad'], options: { smoothgrad: { samples: 400 } }, progressId: 31,
    }).then((r) => (order.push('smoothgrad'), r));
    const fast = rpc.sendRequest<ExplanationMsg>(ENGINE.explain.method, { modelPath: example, imagePath: digit, methods: ['gradcam'] })
      .then((r) => (order.push('gradcam'), r));
    const [s, f] = await Promise.all([slow, fast]);
    assert.deepEqual(order, ['gradcam', 'smoothgrad']);
    assert.equal(s.maps[0].method, 'smoothgrad');
    assert.equal(f.maps[0].method, 'gradcam');
  });

  it('answers bad input with a user error naming the file, and keeps serving', async () => {
    const broken = tempDir();
    fs.writeFileSync(path.join(broken, 'model.json'), 'not json');
    await assert.rejects(rpc.sendRequest(ENGINE.open.method, { modelPath: broken }),
      (e: ResponseError<void>) => e.code === USER_ERROR_CODE && e.message.includes(path.join(broken, 'model.json')) && /not valid JSON/.test(e.message));
    await assert.rejects(rpc.sendRequest(ENGINE.explain.method, { modelPath: example, imagePath: digit, classIndex: 12 }),
      (e: ResponseError<void>) => e.code === USER_ERROR_CODE && /class 12 is out of range/.test(e.message));
    const again = await rpc.sendRequest<ExplanationMsg>(ENGINE.explain.method, { modelPath: example, imagePath: digit });
    assert.equal(again.predictions[0].label, '7');
  });

  it('shows the tensor the model sees: the digit as unit and symmetric inputs', async () => {
    const unit = await rpc.sendRequest<ModelInputMsg>(ENGINE.modelInput.method, { modelPath: example, imagePath: digit });
    assert.deepEqual([unit.width, unit.height, unit.channels], [28, 28, 1]);
    const pixels = PNG.sync.read(fs.readFileSync(digit));
    const brightest = Math.max(...Array.from({ length: 28 * 28 }, (_, i) => pixels.data[i * 4]));
    assert.equal(unit.min[0], 0);
    assert.ok(Math.abs(unit.max[0] - brightest / 255) < 1e-6, 'the brightest pixel over 255');
    assert.match(unit.preprocessing, /^unit/);
    const picture = Buffer.from(unit.rgba, 'base64');
    assert.equal(picture.length, 28 * 28 * 4);
    const symmetric = await rpc.sendRequest<ModelInputMsg>(ENGINE.modelInput.method, { modelPath: example, imagePath: digit, preprocessing: 'symmetric' });
    assert.equal(symmetric.min[0], -1);
    assert.match(symmetric.preprocessing, /^symmetric/);
  });

  it('reloads a model whose files changed on disk', async () => {
    const dir = tempDir();
    for (const f of fs.readdirSync(example)) fs.copyFileSync(path.join(example, f), path.join(dir, f));
    const before = await rpc.sendRequest<ExplanationMsg>(ENGINE.explain.method, { modelPath: dir, imagePath: digit });
    // Training wrote new weights: scale every weight, which changes the logits.
    const shard = path.join(dir, 'group1-shard1of1.bin');
    const weights = new Float32Array(new Uint8Array(fs.readFileSync(shard)).buffer);
    fs.writeFileSync(shard, Buffer.from(weights.map((w) => w * 0.5).buffer));
    const after = await rpc.sendRequest<ExplanationMsg>(ENGINE.explain.method, { modelPath: dir, imagePath: digit });
    assert.notEqual(after.predictions[0].logit, before.predictions[0].logit);
  });
});
