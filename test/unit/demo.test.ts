import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { decodeNpyFloat32 } from '../../src/engine/io/npy';
import { cleanupTempDirs, tempDir } from './helpers';

after(cleanupTempDirs);

describe('the demo on the bundled example (what `npm run demo` runs)', () => {
  it('writes overlays, raw maps and reports, and predicts each bundled digit as its file name says', () => {
    const out = tempDir('saliency-demo-');
    const res = spawnSync(process.execPath, ['dist/cli.js', 'explain', '--model', 'examples/mnist-cnn', '--image', 'examples/digits', '--out', out],
      { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /backend wasm/);
    assert.match(res.stdout, new RegExp(`results in ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const digits = fs.readdirSync('examples/digits').filter((f) => f.endsWith('.png'));
    assert.ok(digits.length >= 5, 'the example ships several digits');
    for (const file of digits) {
      const stem = file.replace(/\.png$/, '');
      const label = stem.split('-')[1];
      const report = JSON.parse(fs.readFileSync(path.join(out, `${stem}.json`), 'utf8'));
      assert.equal(report.predictions[0].label, label, `${file} predicted as ${report.predictions[0].label}`);
      assert.equal(report.explainedClass.label, label);
      assert.equal(report.backend.name, 'wasm');
      for (const method of ['saliency', 'gradcam']) {
        const png = PNG.sync.read(fs.readFileSync(path.join(out, `${stem}.${method}.png`)));
        assert.deepEqual([png.width, png.height], [28, 28], 'overlay at the image size');
        const npy = decodeNpyFloat32(fs.readFileSync(path.join(out, `${stem}.${method}.npy`)));
        assert.deepEqual(npy.shape, [28, 28]);
        assert.ok(npy.data.every(Number.isFinite));
        assert.ok(Math.min(...npy.data) >= 0, 'absolute saliency and ReLU-ed Grad-CAM are non-negative');
        // An all-zero map is legitimate for Grad-CAM (no positive evidence at the layer), never silent.
        const allZero = npy.data.every((v) => v === 0);
        if (method === 'saliency') assert.ok(!allZero, `saliency of ${file} is all zero`);
        else assert.equal(allZero, report.notes.some((n: string) => /zero everywhere/.test(n)), `Grad-CAM of ${file}: a zero map comes with a note`);
        // The overlay is not a flat colour: the map shows through.
        const distinct = new Set<number>();
        for (let i = 0; i < png.data.length; i += 4) distinct.add(png.data.readUInt32BE(i));
        assert.ok(distinct.size > 20, `${method} overlay of ${file} has ${distinct.size} colours`);
      }
      const gradcam = report.maps.find((m: { method: string }) => m.method === 'gradcam');
      assert.equal(gradcam.layer, 'conv2');
    }
  });
});
