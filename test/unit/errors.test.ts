import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { initBackend } from '../../src/engine/backend';
import { main } from '../../src/cli';
import { buildSmallResidual } from '../fixtures/architectures';
import { cleanupTempDirs, saveToTemp, tempDir } from './helpers';

/** Runs the CLI in-process and returns its exit code and what it printed to stderr. */
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  const lines: string[] = [];
  const original = { error: console.error, log: console.log, warn: console.warn };
  console.error = (...a: unknown[]) => lines.push(a.join(' '));
  console.log = () => {};
  console.warn = () => {};
  try {
    const code = await main(args);
    return { code, stderr: lines.join('\n') };
  } finally {
    Object.assign(console, original);
  }
}

/** Asserts a clean failure: non-zero exit, one line, naming `file` and matching `problem`. */
async function expectError(args: string[], file: string | undefined, problem: RegExp) {
  const { code, stderr } = await cli(args);
  assert.notEqual(code, 0, 'exit code');
  assert.equal(stderr.split('\n').length, 1, `one line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at |internal error/, 'no stack trace');
  if (file) assert.ok(stderr.includes(file), `names ${file}: ${stderr}`);
  assert.match(stderr, problem);
}

function hashTree(dir: string): string {
  const h = crypto.createHash('sha256');
  for (const f of fs.readdirSync(dir).sort()) h.update(f).update(fs.readFileSync(path.join(dir, f)));
  return h.digest('hex');
}

let modelDir = '';
let goodImage = '';
const work = () => tempDir('saliency-err-');

before(async () => {
  await initBackend();
  modelDir = await saveToTemp(buildSmallResidual({ seed: 1, classes: 5 }));
  fs.writeFileSync(path.join(modelDir, 'labels.txt'), 'cat\ndog\nbird\nfish\nfrog\n');
  const png = new PNG({ width: 20, height: 20 });
  png.data.fill(128);
  goodImage = path.join(work(), 'good.png');
  fs.writeFileSync(goodImage, PNG.sync.write(png));
});
after(cleanupTempDirs);

/** A copy of the good model folder, for breaking one file of it. */
function modelCopy(): string {
  const dir = work();
  for (const f of fs.readdirSync(modelDir)) fs.copyFileSync(path.join(modelDir, f), path.join(dir, f));
  return dir;
}

describe('bad models', () => {
  it('a path that does not exist', async () => {
    const missing = path.join(work(), 'nowhere');
    await expectError(['explain', '--model', missing, '--image', goodImage], missing, /no such file or folder/);
  });
  it('a folder without model.json', async () => {
    const dir = work();
    await expectError(['explain', '--model', dir, '--image', goodImage], dir, /has no model\.json/);
  });
  it('model.json that is not JSON', async () => {
    const dir = modelCopy();
    fs.writeFileSync(path.join(dir, 'model.json'), '{"modelTopology": ');
    await expectError(['explain', '--model', dir, '--image', goodImage], path.join(dir, 'model.json'), /is not valid JSON/);
  });
  it('model.json that is JSON but not a model', async () => {
    const dir = modelCopy();
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ name: 'package', version: '1.0.0' }));
    await expectError(['inspect', '--model', dir], path.join(dir, 'model.json'), /is not a TensorFlow\.js model/);
  });
  it('a missing weight shard', async () => {
    const dir = modelCopy();
    fs.unlinkSync(path.join(dir, 'group1-shard1of1.bin'));
    await expectError(['explain', '--model', dir, '--image', goodImage], 'group1-shard1of1.bin', /weight file is missing/);
  });
  it('a truncated weight shard', async () => {
    const dir = modelCopy();
    const shard = path.join(dir, 'group1-shard1of1.bin');
    fs.writeFileSync(shard, fs.readFileSync(shard).subarray(0, 100));
    await expectError(['explain', '--model', dir, '--image', goodImage], 'group1-shard1of1.bin', /weights are truncated: model\.json expects \d+ bytes .* found 100/);
  });
  it('a weight path that escapes the model folder', async () => {
    const dir = modelCopy();
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['../../etc/passwd'];
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    await expectError(['inspect', '--model', dir], 'model.json', /points outside the model folder/);
  });
  it('a weight file that is a symlink to a file outside the folder', async () => {
    const dir = modelCopy();
    const outside = path.join(work(), 'elsewhere.bin');
    fs.copyFileSync(path.join(dir, 'group1-shard1of1.bin'), outside);
    fs.unlinkSync(path.join(dir, 'group1-shard1of1.bin'));
    fs.symlinkSync(outside, path.join(dir, 'group1-shard1of1.bin'));
    await expectError(['inspect', '--model', dir], 'group1-shard1of1.bin', /links outside the model folder/);
  });
  it('a malformed weights manifest', async () => {
    const dir = modelCopy();
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = 'group1-shard1of1.bin';
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    await expectError(['inspect', '--model', dir], 'model.json', /malformed "weightsManifest"/);
  });
  it('a layer type tfjs does not know', async () => {
    const dir = modelCopy();
    const text = fs.readFileSync(path.join(dir, 'model.json'), 'utf8').replace('"class_name":"GlobalAveragePooling2D"', '"class_name":"MyCustomPooling"');
    fs.writeFileSync(path.join(dir, 'model.json'), text);
    await expectError(['inspect', '--model', dir], 'model.json', /could not build the model .*MyCustomPooling/);
  });
});

describe('bad images', () => {
  it('a file that is not an image', async () => {
    const file = path.join(work(), 'notes.png');
    fs.writeFileSync(file, 'these are my notes, not pixels');
    await expectError(['explain', '--model', modelDir, '--image', file], file, /not a PNG, JPEG, WebP, TIFF, BMP or GIF image/);
  });
  it('a truncated PNG', async () => {
    const file = path.join(work(), 'cut.png');
    fs.writeFileSync(file, fs.readFileSync(goodImage).subarray(0, 60));
    await expectError(['explain', '--model', modelDir, '--image', file], file, /PNG data is truncated or corrupt/);
  });
  it('a truncated JPEG', async () => {
    const file = path.join(work(), 'cut.jpg');
    const full = jpeg.encode({ width: 32, height: 32, data: Buffer.alloc(32 * 32 * 4, 200) }, 90).data;
    fs.writeFileSync(file, full.subarray(0, Math.floor(full.length / 2)));
    await expectError(['explain', '--model', modelDir, '--image', file], file, /JPEG data is truncated or corrupt/);
  });
  it('an image too large to decode within the memory bound is refused from its header, before decoding', async () => {
    // A PNG signature and IHDR claiming 60000×40000, 16-bit RGBA, interlaced (decoded whole), and no pixel data at all.
    const ihdr = Buffer.alloc(25);
    ihdr.writeUInt32BE(13, 0);
    ihdr.write('IHDR', 4, 'latin1');
    ihdr.writeUInt32BE(60000, 8);
    ihdr.writeUInt32BE(40000, 12);
    ihdr[16] = 16;
    ihdr[17] = 6;
    ihdr[20] = 1;
    const file = path.join(work(), 'huge.png');
    fs.writeFileSync(file, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr]));
    await expectError(['explain', '--model', modelDir, '--image', file], file, /60000×40000 \(2400\.0 megapixels\); decoding it needs about \d+ MB, more than the 1024 MB memory bound/);
  });
  it('an image that does not exist', async () => {
    const file = path.join(work(), 'missing.png');
    await expectError(['explain', '--model', modelDir, '--image', file], file, /file not found/);
  });
});

describe('bad requests', () => {
  it('a class index out of range', async () => {
    await expectError(['explain', '--model', modelDir, '--image', goodImage, '--class', '7', '--out', work()], undefined,
      /class 7 is out of range: the model has 5 classes \(0–4\)/);
  });
  it('an unknown label names the labels file', async () => {
    await expectError(['explain', '--model', modelDir, '--image', goodImage, '--class', 'zebra', '--out', work()], 'labels.txt',
      /no class labelled "zebra"/);
  });
  it('an unknown layer lists the usable ones', async () => {
    await expectError(['explain', '--model', modelDir, '--image', goodImage, '--layer', 'conv99', '--out', work()], undefined,
      /no layer "conv99"; spatial layers \(for the CAM methods\): .*last_conv/);
  });
  it('a layer without spatial output', async () => {
    await expectError(['explain', '--model', modelDir, '--image', goodImage, '--layer', 'avg_pool', '--out', work()], undefined,
      /"avg_pool" has no spatial output for Grad-CAM/);
  });
  it('an unknown method, colormap or preset', async () => {
    await expectError(['explain', '--model', modelDir, '--image', goodImage, '--method', 'deeplift'], undefined, /unknown method "deeplift"; choose from saliency, gradxinput/);
    await expectError(['explain', '--model', modelDir, '--image', goodImage, '--colormap', 'rainbow'], undefined, /unknown colormap "rainbow"/);
    await expectError(['explain', '--model', modelDir, '--image', goodImage, '--preset', 'fancy', '--out', work()], undefined, /fancy/);
  });
  it('an image shape that does not hold the model\'s input', async () => {
    await expectError(['explain', '--model', modelDir, '--image', goodImage, '--image-shape', '2x2x1', '--out', work()], undefined,
      /the image shape 2x2x1 holds 4 values; the model's input/);
  });
  it('a method option out of range, for no chosen method, or malformed', async () => {
    await expectError(['explain', '--model', modelDir, '--image', goodImage, '--method', 'smoothgrad', '--samples', '0', '--out', work()], undefined,
      /--samples: smoothgrad option "samples" is 0; it takes 1 to 1000/);
    await expectError(['explain', '--model', modelDir, '--image', goodImage, '--method', 'saliency', '--sigma', '0.2', '--out', work()], undefined,
      /--sigma is an option of smoothgrad, smoothgrad-sq, vargrad; none of them is in --method/);
    await expectError(['explain', '--model', modelDir, '--image', goodImage, '--method', 'ig', '--option', 'ig.steps', '--out', work()], undefined,
      /--option expects METHOD\.NAME=VALUE/);
    await expectError(['explain', '--model', modelDir, '--image', goodImage, '--method', 'ig', '--option', 'ig.rule=simpson', '--out', work()], undefined,
      /ig option "rule" takes one of riemann, trapezoid, gausslegendre/);
  });
  it('a label works where an index does', async () => {
    const out = work();
    const { code } = await cli(['explain', '--model', modelDir, '--image', goodImage, '--class', 'Bird', '--out', out]);
    assert.equal(code, 0);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'good.json'), 'utf8'));
    assert.equal(report.explainedClass.index, 2);
    assert.equal(report.explainedClass.label, 'bird');
  });
});

describe('outputs of several images', () => {
  it('two images with the same name from different folders do not overwrite each other', async () => {
    const out = work();
    const other = path.join(work(), 'good.png');
    fs.copyFileSync(goodImage, other);
    const { code } = await cli(['explain', '--model', modelDir, '--image', goodImage, '--image', other, '--out', out]);
    assert.equal(code, 0);
    const reports = fs.readdirSync(out).filter((f) => f.endsWith('.json')).sort();
    assert.deepEqual(reports, ['good-png.json', 'good.json']);
  });
});

describe('nothing the user has is changed', () => {
  it('failed runs leave the model folder and image untouched', async () => {
    const before = hashTree(modelDir);
    const imageBefore = fs.readFileSync(goodImage);
    await cli(['explain', '--model', modelDir, '--image', goodImage, '--class', '99', '--out', work()]);
    await cli(['explain', '--model', modelDir, '--image', goodImage, '--layer', 'nope', '--out', work()]);
    assert.equal(hashTree(modelDir), before);
    assert.deepEqual(fs.readFileSync(goodImage), imageBefore);
  });
});

describe('the bundled CLI', () => {
  it('exits with code 2 and one line on stderr for a bad model', () => {
    const cliPath = path.resolve('dist/cli.js');
    assert.ok(fs.existsSync(cliPath), 'npm test builds dist/cli.js first');
    const res = spawnSync(process.execPath, [cliPath, 'inspect', '--model', path.join(work(), 'none')], { encoding: 'utf8' });
    assert.equal(res.status, 2);
    assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    assert.match(res.stderr, /^saliency-lens: .*none: no such file or folder/);
  });
});
