import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { decodeNpyFloat32 } from '../../src/engine/io/npy';
import { embeddedImages } from './embeddedImages';
import { cleanupTempDirs, tempDir } from './helpers';

after(cleanupTempDirs);

describe('the demo on the bundled example (what `npm run demo` runs)', () => {
  it('writes overlays, raw maps and reports, and predicts each bundled digit as its file name says', () => {
    const out = tempDir('saliency-demo-');
    const res = spawnSync(process.execPath, ['dist/cli.js', 'explain', '--model', 'examples/mnist-cnn', '--image', 'examples/digits', '--out', out],
      { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    // The TF.js example runs converted to ONNX (the default runtime choice, auto).
    assert.match(res.stdout, /backend onnxruntime, \d thread\(s\) — ONNX Runtime on the CPU \(native\), converted from a TF\.js Layers model/);
    assert.match(res.stdout, new RegExp(`results in ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const digits = fs.readdirSync('examples/digits').filter((f) => f.endsWith('.png'));
    assert.ok(digits.length >= 5, 'the example ships several digits');
    for (const file of digits) {
      const stem = file.replace(/\.png$/, '');
      const label = stem.split('-')[1];
      const report = JSON.parse(fs.readFileSync(path.join(out, `${stem}.json`), 'utf8'));
      assert.equal(report.predictions[0].label, label, `${file} predicted as ${report.predictions[0].label}`);
      assert.equal(report.explainedClass.label, label);
      assert.equal(report.backend.name, 'onnxruntime');
      assert.equal(report.runtime.engine, 'onnxruntime');
      assert.equal(report.runtime.converted, true);
      for (const method of ['saliency', 'gradcam']) {
        const png = PNG.sync.read(fs.readFileSync(path.join(out, `${stem}.${method}.png`)));
        assert.deepEqual([png.width, png.height], [532, 532], 'overlay enlarged 19× to a viewable size (at least 512 px)');
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

describe('the demo\'s ViT (examples/mnist-vit-onnx) in the CLI', () => {
  it('names the Grad-CAM layer by its module path, says the pooled-weights note once, and keeps it in every image\'s JSON', () => {
    const out = tempDir('saliency-demo-vit-');
    const res = spawnSync(process.execPath, ['dist/cli.js', 'explain', '--model', 'examples/mnist-vit-onnx/model.onnx', '--image', 'examples/digits', '--out', out],
      { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    const digits = fs.readdirSync('examples/digits').filter((f) => f.endsWith('.png'));
    assert.equal(res.stdout.match(/gradcam [\d.]+ ms \(layer encoder\.layers\.encoder_layer_2\.ln_1\)/g)?.length, digits.length, res.stdout);
    assert.equal(res.stdout.match(/note: Grad-CAM weighs each channel by the gradient pooled over all tokens/g)?.length, 1, res.stdout);
    for (const file of digits) {
      const report = JSON.parse(fs.readFileSync(path.join(out, file.replace(/\.png$/, '.json')), 'utf8'));
      assert.ok(report.notes.some((n: string) => /pooled over all tokens/.test(n)), file);
    }
  });
});

describe('batch report', () => {
  it('the demo writes one self-contained HTML report with every digit, its overlays, top-k and timings', () => {
    const out = tempDir('saliency-report-');
    const res = spawnSync(process.execPath, ['dist/cli.js', 'explain', '--model', 'examples/mnist-cnn', '--image', 'examples/digits', '--out', out],
      { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    const digits = fs.readdirSync('examples/digits').filter((f) => f.endsWith('.png'));
    for (const file of digits) {
      const label = file.split('-')[1];
      assert.ok(html.includes(`<h2>${file} — explained: ${label}</h2>`), `section for ${file}`);
    }
    // Self-contained: images inline, no script, nothing fetched.
    assert.equal((html.match(/<img /g) ?? []).length, digits.length * 3, 'image + two overlays per digit');
    assert.ok(!/src="(?!data:)/.test(html), 'every image is a data: URL');
    assert.ok(!/<script/i.test(html));
    assert.match(html, /forward \+ gradients \d+\.\d ms · Saliency \d+\.\d ms · Grad-CAM \d+\.\d ms/);
    // The embedded overlay is the one the CLI wrote beside it (the image fits a thumbnail, so at its size; the file is
    // its 19× nearest-neighbour enlargement): the same pixels when embedded as PNG, within JPEG's rounding when that was smaller.
    const written = PNG.sync.read(fs.readFileSync(path.join(out, 'digit-7-29.saliency.png')));
    const embedded = embeddedImages(html).find((i) => i.alt === 'saliency of digit-7-29.png');
    assert.ok(embedded, 'the saliency overlay of digit-7-29.png is embedded');
    const factor = written.width / embedded.width;
    assert.deepEqual([embedded.width, embedded.height, factor], [28, 28, 19]);
    let diff = 0;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const w = (y * factor * written.width + x * factor) * 4;
        const e = (y * 28 + x) * 4;
        for (let c = 0; c < 3; c++) diff += Math.abs(written.data[w + c] - embedded.data[e + c]);
      }
    }
    const meanDiff = diff / (3 * 28 * 28);
    assert.ok(embedded.mime === 'image/png' ? meanDiff === 0 : meanDiff < 6, `${embedded.mime} differs from the written overlay by ${meanDiff.toFixed(2)} on average`);
  });

  it('a bad image among good ones is listed with its reason, the others are explained, and the exit code says so', () => {
    const dir = tempDir('saliency-batch-');
    for (const f of ['digit-0-0.png', 'digit-3-4.png']) fs.copyFileSync(path.join('examples/digits', f), path.join(dir, f));
    fs.writeFileSync(path.join(dir, 'broken.png'), 'not an image');
    const out = tempDir('saliency-report-');
    const res = spawnSync(process.execPath, ['dist/cli.js', 'explain', '--model', 'examples/mnist-cnn', '--image', dir, '--out', out], { encoding: 'utf8' });
    assert.equal(res.status, 2);
    assert.match(res.stderr.trim(), /broken\.png: not a PNG, JPEG, WebP, TIFF, BMP or GIF image$/);
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    assert.match(html, /3 images, 1 failed/);
    assert.match(html, /class="error">.*broken\.png: not a PNG/);
    assert.ok(fs.existsSync(path.join(out, 'digit-3-4.json')));
  });
});

describe('the Keras example (examples/mnist-cnn-keras, what `npm run demo` also runs)', () => {
  const cli = (model: string) => {
    const out = tempDir('saliency-demo-keras-');
    const res = spawnSync(process.execPath, ['dist/cli.js', 'explain', '--model', model, '--image', 'examples/digits', '--out', out], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    return { out, stdout: res.stdout };
  };
  const digits = fs.readdirSync('examples/digits').filter((f) => f.endsWith('.png'));

  it('the CNN saved as .keras (Keras 3) and .h5 (Keras 2) by our writer explains every digit exactly as the TF.js folder it came from', () => {
    // The expectation is the TF.js model's own output, not stored numbers: the Keras files hold the same weights.
    const tfjs = cli('examples/mnist-cnn');
    for (const file of ['model.keras', 'model.h5']) {
      const keras = cli(`examples/mnist-cnn-keras/${file}`);
      assert.match(keras.stdout, new RegExp(`model \\S*examples/mnist-cnn-keras/${file.replace('.', '\\.')} \\(`), 'the Keras file itself is the model');
      assert.match(keras.stdout, /backend onnxruntime/);
      for (const digit of digits) {
        const stem = digit.replace(/\.png$/, '');
        const a = JSON.parse(fs.readFileSync(path.join(tfjs.out, `${stem}.json`), 'utf8'));
        const b = JSON.parse(fs.readFileSync(path.join(keras.out, `${stem}.json`), 'utf8'));
        const what = `${file}, ${digit}`;
        assert.equal(b.predictions[0].label, stem.split('-')[1], `${what}: the digit its name says`);
        assert.deepEqual(b.predictions.map((p: { index: number }) => p.index), a.predictions.map((p: { index: number }) => p.index), `${what}: same top-5`);
        b.predictions.forEach((p: { logit: number }, i: number) =>
          assert.ok(Math.abs(p.logit - a.predictions[i].logit) <= 1e-5 * Math.max(1, Math.abs(a.predictions[i].logit)), `${what}: logit ${i}`));
        assert.equal(b.explainedClass.index, a.explainedClass.index);
        assert.equal(b.runtime.engine, 'onnxruntime');
        for (const method of ['saliency', 'gradcam']) {
          const bytesA = fs.readFileSync(path.join(tfjs.out, `${stem}.${method}.npy`));
          const bytesB = fs.readFileSync(path.join(keras.out, `${stem}.${method}.npy`));
          const x = decodeNpyFloat32(bytesA);
          const y = decodeNpyFloat32(bytesB);
          assert.deepEqual(y.shape, x.shape);
          let worst = 0;
          x.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - y.data[i]))));
          assert.ok(worst <= 1e-6, `${what}: ${method} maps differ by ${worst}`);
          if (method === 'saliency') assert.ok(bytesA.equals(bytesB), `${what}: the saliency .npy files are the same bytes`);
        }
      }
    }
  });

  it('scripts/keras/write_example.py writes exactly the bundled files (skipped without Debian\'s python3-h5py)', (t) => {
    const python = '/usr/bin/python3';
    if (spawnSync(python, ['-c', 'import h5py, numpy'], { encoding: 'utf8' }).status !== 0) return t.skip('no /usr/bin/python3 with h5py and numpy');
    const out = tempDir('saliency-keras-example-');
    const checkpoint = path.join(tempDir('saliency-keras-checkpoint-'), 'checkpoint.keras');
    for (let run = 0; run < 2; run++) {
      const res = spawnSync(python, ['scripts/keras/write_example.py', out, checkpoint], { encoding: 'utf8' });
      assert.equal(res.status, 0, res.stderr);
      for (const f of ['model.keras', 'model.h5', 'labels.txt', 'saliency-lens.json']) {
        assert.ok(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join('examples/mnist-cnn-keras', f))), `run ${run + 1}: ${f} as bundled`);
      }
      assert.ok(fs.readFileSync(checkpoint).equals(fs.readFileSync('test/fixtures/keras/mnist-cnn-checkpoint.keras')), `run ${run + 1}: the E2E checkpoint as stored`);
    }
  });
});
