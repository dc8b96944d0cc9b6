// How models are named and described wherever they are shown, and what the engine reports for the Model view.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backendText, imageSizeText, inputTensorText, modelChoices, modelName } from '../../src/shared/modelText';
import { ExplainService } from '../../src/engine/service';
import { cleanupTempDirs, tempDir } from './helpers';

after(cleanupTempDirs);

describe('model wording (status bar, Model view, picker and panel say the same)', () => {
  it('names a TF.js model by its folder and a single-file model by its folder and file', () => {
    assert.equal(modelName('/w/models/mnist-cnn/model.json'), 'mnist-cnn');
    assert.equal(modelName('C:\\w\\models\\cats\\model.json'), 'cats');
    assert.equal(modelName('/w/models/mnist-cnn-onnx/model.onnx'), 'mnist-cnn-onnx/model.onnx');
    assert.equal(modelName('C:\\w\\keras\\resnet18.keras'), 'keras/resnet18.keras');
    assert.equal(modelName('resnet18.h5'), 'resnet18.h5');
    // A folder given as the model (the setting may name one) is called by its name.
    assert.equal(modelName('/w/models/mnist-cnn/'), 'mnist-cnn');
  });

  it('says threads one way: "2 threads", and nothing for one', () => {
    assert.equal(backendText({ name: 'onnxruntime', threads: 2 }), 'onnxruntime · 2 threads');
    assert.equal(backendText({ name: 'wasm', threads: 1 }), 'wasm');
  });

  it('shows the model\'s own input tensor with its layout, and the image size apart', () => {
    assert.equal(inputTensorText({ shape: [1, 3, 224, 224], layout: 'NCHW' }), '[1, 3, 224, 224] NCHW');
    assert.equal(inputTensorText({ shape: [1, 784] }), '[1, 784]');
    assert.equal(imageSizeText({ height: 224, width: 224, channels: 3 }), '224×224, 3 channels');
    assert.equal(imageSizeText({ height: 28, width: 28, channels: 1 }), '28×28, 1 channel');
  });

  it('marks the model in use in the picker, by file or by its folder, and only that one', () => {
    const found = ['/w/a/model.json', '/w/b/model.onnx', '/w/c/model.json'];
    const rel = (p: string) => p.replace('/w/', '');
    const byFile = modelChoices(found, '/w/b/model.onnx', rel);
    assert.deepEqual(byFile.map((c) => [c.label, c.description, c.current]), [
      ['a', 'a/model.json', false],
      ['$(check) b/model.onnx', 'current · b/model.onnx', true],
      ['c', 'c/model.json', false],
    ]);
    assert.deepEqual(modelChoices(found, '/w/c/', rel).map((c) => c.current), [false, false, true]);
    assert.deepEqual(modelChoices(found, undefined, rel).map((c) => c.current), [false, false, false]);
  });
});

describe('what the engine reports for the Model view', () => {
  it('an NCHW ONNX model: its real input tensor [1, 1, 28, 28] NCHW and a 28×28×1 image', async () => {
    const service = new ExplainService();
    try {
      const info = await service.open({ modelPath: 'examples/mnist-cnn-onnx/model.onnx' });
      assert.deepEqual(info.modelInput, { shape: [1, 1, 28, 28], layout: 'NCHW' });
      assert.deepEqual(info.imageSize, { height: 28, width: 28, channels: 1 });
      // The engine's own view of the input stays [H, W, C].
      assert.deepEqual(info.inputShape, [28, 28, 1]);
    } finally {
      service.dispose();
    }
  });

  it('a preset given by the extension says where it came from; without one, the model folder\'s file is named', async () => {
    const service = new ExplainService();
    try {
      const given = await service.open({ modelPath: 'examples/mnist-cnn', preprocessing: 'symmetric', preprocessingSource: 'the saliencyLens.preprocessing setting' });
      assert.match(given.preprocessing, /^symmetric .*\(the saliencyLens\.preprocessing setting\)$/);
      const own = await service.open({ modelPath: 'examples/mnist-cnn' });
      assert.match(own.preprocessing, /\(.*mnist-cnn[\\/]saliency-lens\.json\)$/);
    } finally {
      service.dispose();
    }
  });

  it('new class names alone keep the version (the maps are the same) and report their source; new weights change it', async () => {
    const dir = tempDir('saliency-labels-');
    fs.copyFileSync('examples/mnist-cnn-onnx/model.onnx', path.join(dir, 'model.onnx'));
    const model = path.join(dir, 'model.onnx');
    const service = new ExplainService();
    try {
      const before = await service.open({ modelPath: model });
      assert.equal(before.labelsSource, undefined);
      assert.equal(before.labels[3], 'class 3');
      // Without saliency-lens.json the default preset does not claim one, and with one holding no preset it says so.
      assert.match(before.preprocessing, /no saliency-lens\.json beside the model/);
      fs.writeFileSync(path.join(dir, 'labels.txt'), Array.from({ length: 10 }, (_, i) => `digit ${i}`).join('\n'));
      fs.writeFileSync(path.join(dir, 'saliency-lens.json'), '{ "description": "names only" }\n');
      const renamed = await service.open({ modelPath: model });
      assert.equal(renamed.labels[3], 'digit 3', 'the engine read the new names');
      assert.equal(renamed.labelsSource, path.join(dir, 'labels.txt'));
      assert.equal(renamed.version, before.version, 'same maps: same version');
      assert.match(renamed.preprocessing, /saliency-lens\.json gives no "preprocessing"/);
      assert.doesNotMatch(renamed.preprocessing, /no saliency-lens\.json/);
      const later = new Date(Date.now() + 5000);
      fs.utimesSync(model, later, later);
      assert.notEqual((await service.open({ modelPath: model })).version, before.version, 'the model file changed: a new version');
    } finally {
      service.dispose();
    }
  });
});
