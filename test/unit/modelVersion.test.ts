import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ExplainService } from '../../src/engine/service';
import { Explainer } from '../../src/engine/explain';
import { cleanupTempDirs, tempDir } from './helpers';

after(cleanupTempDirs);

describe('the model version the engine reports (watch mode tells a new checkpoint from a repeated file event)', () => {
  it('is the same while a Keras file is unchanged, and changes when it is rewritten in place or renamed over', async () => {
    const dir = tempDir('saliency-version-');
    for (const f of ['model.keras', 'labels.txt', 'saliency-lens.json']) fs.copyFileSync(path.join('examples/mnist-cnn-keras', f), path.join(dir, f));
    const model = path.join(dir, 'model.keras');
    const service = new ExplainService();
    try {
      const v1 = (await service.open({ modelPath: model })).version;
      assert.ok(v1, 'a version is reported');
      assert.equal((await service.open({ modelPath: model })).version, v1, 'unchanged files: same version');
      // Other checkpoints written beside it (one file per epoch, or the .h5 twin) are not this model.
      fs.copyFileSync('examples/mnist-cnn-keras/model.h5', path.join(dir, 'model.h5'));
      fs.copyFileSync(model, path.join(dir, 'model-02.keras'));
      assert.equal((await service.open({ modelPath: model })).version, v1, 'files beside it: same version');
      // In place: same bytes, a later mtime (what a checkpoint of identical weights looks like on disk).
      const later = new Date(Date.now() + 5000);
      fs.writeFileSync(model, fs.readFileSync(model));
      fs.utimesSync(model, later, later);
      const v2 = (await service.open({ modelPath: model })).version;
      assert.notEqual(v2, v1);
      // Atomic: a new file renamed over the model.
      fs.writeFileSync(path.join(dir, '.tmp'), fs.readFileSync('test/fixtures/keras/mnist-cnn-checkpoint.keras'));
      fs.renameSync(path.join(dir, '.tmp'), model);
      const v3 = (await service.open({ modelPath: model })).version;
      assert.notEqual(v3, v2);
      assert.equal((await service.open({ modelPath: model })).version, v3);
    } finally {
      service.dispose();
    }
  });

  it('a TF.js model is its model.json and the shards it lists: images, exports and stray files beside it are not', async () => {
    const dir = tempDir('saliency-version-tfjs-');
    for (const f of fs.readdirSync('examples/mnist-cnn')) fs.copyFileSync(path.join('examples/mnist-cnn', f), path.join(dir, f));
    const service = new ExplainService();
    try {
      const v1 = (await service.open({ modelPath: dir })).version;
      assert.ok(v1);
      fs.mkdirSync(path.join(dir, 'saliency-lens-exports'));
      fs.copyFileSync('examples/digits/digit-7-29.png', path.join(dir, 'saliency-lens-exports', 'digit.saliency.png'));
      fs.copyFileSync('examples/digits/digit-7-29.png', path.join(dir, 'sample.png'));
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'epoch 3');
      assert.equal((await service.open({ modelPath: dir })).version, v1, 'files beside the model: same version');
      const shard = path.join(dir, 'group1-shard1of1.bin');
      const later = new Date(Date.now() + 5000);
      fs.utimesSync(shard, later, later);
      assert.notEqual((await service.open({ modelPath: dir })).version, v1, 'a rewritten shard: a new version');
    } finally {
      service.dispose();
    }
  });

  it('requests with two preprocessings at once both finish: the model one replaces is disposed only once unused', async () => {
    const service = new ExplainService();
    const imagePath = 'examples/digits/digit-7-29.png';
    const realDispose = Explainer.prototype.dispose;
    let disposed = 0;
    Explainer.prototype.dispose = function (this: Explainer) {
      disposed++;
      return realDispose.call(this);
    };
    try {
      // The panel (its preset) and another request (the model's default) on the same model, interleaved: each opening
      // replaces the other's explainer while it still runs.
      const asked = ['unit', 'raw', 'unit', 'raw'].map((preprocessing) => service.explain({ modelPath: 'examples/mnist-cnn', imagePath, preprocessing, methods: ['saliency'] }));
      const answers = await Promise.all(asked);
      for (const a of answers) assert.equal(a.maps.length, 1);
      // Each ran with its own preprocessing: the two give different logits, and the same preprocessing the same.
      const top = answers.map((a) => a.predictions[0].logit);
      assert.notEqual(top[0], top[1]);
      assert.equal(top[0], top[2]);
      assert.equal(top[1], top[3]);
      // Four openings, each replacing the one before: the three replaced are disposed once their request is done
      // (none leaks, none twice), the current one when the service is.
      await new Promise((r) => setImmediate(r));
      assert.equal(disposed, 3);
      service.dispose();
      await new Promise((r) => setImmediate(r));
      assert.equal(disposed, 4);
    } finally {
      Explainer.prototype.dispose = realDispose;
      service.dispose();
    }
  });
});
