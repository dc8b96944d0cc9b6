/**
 * Folder runs and their report: which files of a folder are inputs (not our exports), pictures sized for
 * viewing, and the summary table at the top of the report.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { Explainer } from '../../src/engine/explain';
import { listInputImages } from '../../src/engine/io/folderImages';
import { writeExplanation } from '../../src/engine/io/writeExplanation';
import { reportEntryFor } from '../../src/engine/report/reportEntry';
import { embedPicture, THUMBNAIL_SIDE, thumbnailPixels } from '../../src/engine/report/thumbnail';
import { buildHtmlReport, ReportEntry } from '../../src/shared/htmlReport';
import { EXPORTS_FOLDER, exportedStems, exportName, inputImages } from '../../src/shared/imageFiles';
import { METHOD_NAMES } from '../../src/shared/methods';
import { embeddedImages } from './embeddedImages';
import { cleanupTempDirs, tempDir } from './helpers';

const MODEL = 'examples/mnist-cnn-onnx/model.onnx';
const DIGITS = 'examples/digits';

after(cleanupTempDirs);

/** A photo-like picture: smooth gradients plus pixel noise (what JPEG compresses far better than PNG). */
function photo(width: number, height: number, seed = 1): PNG {
  const png = new PNG({ width, height });
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      png.data[i] = (255 * x) / width * 0.7 + rand() * 60;
      png.data[i + 1] = (255 * y) / height * 0.7 + rand() * 60;
      png.data[i + 2] = 128 + 100 * Math.sin((x + y) / 37) * 0.5 + rand() * 40;
      png.data[i + 3] = 255;
    }
  }
  return png;
}

describe('a folder run lists its inputs, not our exports', () => {
  it('skips the exports folder, any folder, and the files the panel and the CLI write', async () => {
    const dir = tempDir('saliency-listing-');
    const inputs = ['digit-0-0.png', 'digit-7-29.png'];
    for (const f of inputs) fs.copyFileSync(path.join(DIGITS, f), path.join(dir, f));
    // A user's own files that only look like ours: kept.
    fs.copyFileSync(path.join(DIGITS, 'digit-1-25.png'), path.join(dir, 'holiday.v2.png'));
    fs.copyFileSync(path.join(DIGITS, 'digit-2-5.png'), path.join(dir, 'saliency.png'));
    // The CLI's outputs written into the folder itself, by the CLI's own writer.
    const explainer = await Explainer.open(MODEL);
    try {
      for (const f of inputs) {
        const result = await explainer.explainFile(path.join(dir, f), { methods: ['saliency', 'gradcam'] });
        writeExplanation(result, dir, { colormap: 'jet', opacity: 0.5 }, {});
      }
    } finally {
      explainer.dispose();
    }
    assert.ok(fs.existsSync(path.join(dir, 'digit-0-0.gradcam.png')), 'the CLI wrote its overlays beside the inputs');
    // The panel's exports, named by the panel's naming function, for every registry method.
    for (const method of METHOD_NAMES) {
      fs.writeFileSync(path.join(dir, exportName('digit-7-29.png', [method, '281-tabby cat'], 'png')), 'x');
      fs.writeFileSync(path.join(dir, exportName('digit-7-29.png', [method, '', 'legend'], 'png')), 'x');
    }
    fs.writeFileSync(path.join(dir, 'report.html'), '<html></html>');
    // The exports folder, with an image in it, and a folder whose name looks like an image.
    fs.mkdirSync(path.join(dir, EXPORTS_FOLDER));
    fs.copyFileSync(path.join(DIGITS, 'digit-3-4.png'), path.join(dir, EXPORTS_FOLDER, 'digit-3-4.png'));
    fs.mkdirSync(path.join(dir, 'album.png'));
    assert.deepEqual(listInputImages(dir), ['digit-0-0.png', 'digit-7-29.png', 'holiday.v2.png', 'saliency.png']);
  });

  it('every name the panel gives an export is recognised with its image, and only those', () => {
    for (const method of METHOD_NAMES) {
      for (const ext of ['png', 'npy'] as const) {
        for (const image of ['my.photo.jpeg', 'img.lime.jpg', 'cat photo.png']) {
          const name = exportName(image, [method, '7-seven'], ext);
          assert.deepEqual(inputImages([{ name: image, isFile: true }, { name, isFile: true }]), [image], `${name} is ${image}'s export`);
        }
      }
    }
    for (const name of ['photo.png', 'photo.v2.png', 'gradcam.png', 'photo.gradcam.jpg', 'photo.gradcamish.png']) {
      assert.deepEqual(exportedStems(name), [], name);
    }
  });

  it('a user\'s image named like an export is explained unless the image it would come from is beside it', () => {
    const files = (...names: string[]) => names.map((name) => ({ name, isFile: true }));
    assert.deepEqual(inputImages(files('sunset.rise.png', 'citrus.lime.png', 'v2.occlusion.png')), ['citrus.lime.png', 'sunset.rise.png', 'v2.occlusion.png']);
    assert.deepEqual(inputImages(files('sunset.rise.png', 'sunset.jpg')), ['sunset.jpg']);
  });
});

describe('report pictures sized for viewing', () => {
  it('downscales by area averaging to the long side, keeping the aspect ratio', () => {
    // 4x2 in two flat halves → 2x1 at long side 2: each output pixel is its half's colour.
    const data = new Uint8Array(4 * 2 * 4);
    for (let y = 0; y < 2; y++) {
      for (let x = 0; x < 4; x++) data.set(x < 2 ? [10, 20, 30, 255] : [200, 100 + y * 50, 0, 255], 4 * (y * 4 + x));
    }
    const t = thumbnailPixels({ width: 4, height: 2, data }, 2);
    assert.deepEqual([t.width, t.height], [2, 1]);
    assert.deepEqual([...t.data], [10, 20, 30, 255, 200, 125, 0, 255]);
    const small = { width: 28, height: 28, data: new Uint8Array(28 * 28 * 4) };
    assert.equal(thumbnailPixels(small), small, 'a picture that fits is not resampled');
  });

  it('embeds the smaller of PNG and JPEG: JPEG for a photo, PNG for a flat drawing', () => {
    const p = photo(300, 200);
    const photoPick = embedPicture({ width: 300, height: 200, data: p.data });
    assert.equal(photoPick.mime, 'image/jpeg');
    const pngSize = PNG.sync.write(p, { colorType: 2 }).length;
    assert.ok(Buffer.from(photoPick.base64, 'base64').length < pngSize);
    const flat = new Uint8Array(300 * 200 * 4).fill(255);
    assert.equal(embedPicture({ width: 300, height: 200, data: flat }).mime, 'image/png');
  });

  let html = '';
  let entries: ReportEntry[] = [];
  const big = { width: 1500, height: 1000 };
  before(async () => {
    const dir = tempDir('saliency-report-photos-');
    fs.writeFileSync(path.join(dir, 'wide.png'), PNG.sync.write(photo(big.width, big.height)));
    fs.writeFileSync(path.join(dir, 'tall.png'), PNG.sync.write(photo(300, 900, 7)));
    fs.copyFileSync(path.join(DIGITS, 'digit-7-29.png'), path.join(dir, 'digit-7-29.png'));
    const explainer = await Explainer.open(MODEL);
    try {
      for (const f of listInputImages(dir)) {
        const result = await explainer.explainFile(path.join(dir, f), { methods: ['saliency', 'gradcam'] });
        entries.push(reportEntryFor(result, { colormap: 'jet', opacity: 0.5 }));
      }
    } finally {
      explainer.dispose();
    }
    entries.push({ name: 'broken.png', overlays: [], predictions: [], timings: {}, notes: [], error: 'broken.png: not a PNG, JPEG, BMP, GIF or WebP image' });
    html = buildHtmlReport({ title: 'test report', model: MODEL, backend: 'onnxruntime', preprocessing: 'unit', created: 'now' }, entries);
  });

  it('every embedded picture is at most THUMBNAIL_SIDE on its long side, with the image\'s aspect ratio', () => {
    const pictures = embeddedImages(html);
    assert.equal(pictures.length, 3 * 3, 'image and two overlays for each of the three good images');
    const sizes: Record<string, [number, number]> = { 'wide.png': [big.width, big.height], 'tall.png': [300, 900], 'digit-7-29.png': [28, 28] };
    for (const p of pictures) {
      const image = Object.keys(sizes).find((n) => p.alt === n || p.alt.endsWith(` of ${n}`))!;
      assert.ok(image, p.alt);
      const [w, h] = sizes[image];
      assert.ok(Math.max(p.width, p.height) <= THUMBNAIL_SIDE, `${p.alt}: ${p.width}x${p.height}`);
      const expected = Math.max(w, h) > THUMBNAIL_SIDE ? THUMBNAIL_SIDE : Math.max(w, h);
      assert.equal(Math.max(p.width, p.height), expected, `${p.alt}: long side`);
      assert.ok(Math.abs(p.width / p.height - w / h) < 0.01, `${p.alt}: aspect ${p.width}x${p.height} vs ${w}x${h}`);
    }
    // The 1500x1000 photo and its overlays: far below the 6 MB of raw pixels, and below its own PNG file.
    const wide = pictures.filter((p) => p.alt === 'wide.png' || p.alt.endsWith(' of wide.png'));
    assert.ok(wide.every((p) => p.bytes.length < 200_000), wide.map((p) => p.bytes.length).join(', '));
  });

  it('the summary table lists every image with its top class, linked to its entry', () => {
    const table = /<table class="summary">([\s\S]*?)<\/table>/.exec(html);
    assert.ok(table, 'a summary table');
    assert.ok(html.indexOf('<table class="summary">') < html.indexOf('<section'), 'above the entries');
    const rows = [...table[1].matchAll(/<tr( class="failed")?><td><a href="#([^"]+)">([^<]+)<\/a><\/td>(.*?)<\/tr>/g)];
    assert.deepEqual(rows.map((r) => r[3]), entries.map((e) => e.name), 'one row per image, in order');
    for (const [, failed, id, name, cells] of rows) {
      const entry = entries.find((e) => e.name === name)!;
      assert.match(html, new RegExp(`<section class="card" id="${id}">`), `${name}: the link leads to its entry`);
      if (entry.error) {
        assert.ok(failed, `${name} is marked failed`);
        assert.match(cells, /<td class="error">broken\.png: not a PNG[^<]*<\/td>$/, `${name}: the reason in the error column`);
        continue;
      }
      const top = /<td class="top">([^<]*)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td>/.exec(cells);
      assert.ok(top, `${name}: top class, probability, explained, time`);
      assert.equal(top[1], entry.predictions[0].label);
      assert.equal(top[2], `${(entry.predictions[0].probability * 100).toFixed(1)}%`);
      assert.equal(top[3], entry.target!.label);
      assert.match(top[4], /^\d+\.\d ms$/);
      assert.ok(cells.endsWith('<td class="error"></td>'), `${name}: no error`);
    }
    const digit = entries.find((e) => e.name === 'digit-7-29.png')!;
    assert.equal(digit.predictions[0].label, '7', 'the digit is recognised (the table states the model\'s real answer)');
  });
});
