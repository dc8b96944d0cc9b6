/**
 * The preprocessing pipeline as data: parsing every form (names, NAME+AFFINE, JSON over a preset), the refusals,
 * the geometry bound to an image (hand-computed crop boxes for each framework's formulas), the neighbouring
 * pipelines and the sensitivity note on a model built so that the pixel grids disagree.
 * (Each preset's pixels against its framework: pipelinePresets.test.ts; the resamplers: resample.test.ts.)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { UserError } from '../../src/engine/errors';
import { parsePipeline, describePipeline } from '../../src/engine/image/pipeline/presets';
import { bindPipeline, regionOnRealImage, roundHalfEven } from '../../src/engine/image/pipeline/geometry';
import { neighbourPipelines } from '../../src/engine/image/pipeline/neighbours';
import { Explainer } from '../../src/engine/explain';
import type { DecodedImage } from '../../src/engine/image/decode';
import { A, buildModel } from '../fixtures/onnxBuilder';
import { readModelSettings } from '../../src/engine/model/sidecar';
import { loadImageFile } from '../../src/engine/image/load';
import { nsfwModelDir } from '../fixtures/realModels';

const input224 = { width: 224, height: 224 };

function refuses(text: string, pattern: RegExp): void {
  assert.throws(() => parsePipeline(text), (err: unknown) => err instanceof UserError && pattern.test(err.message), text);
}

describe('parsePipeline', () => {
  it('reads the framework presets with their steps', () => {
    const tv = parsePipeline('torchvision');
    assert.deepEqual([tv.resize.edge, tv.resize.interpolation, tv.resize.antialias, tv.resize.arithmetic], ['shorter', 'bilinear', true, 'pil-uint8']);
    assert.deepEqual(tv.crop, { kind: 'center', fraction: 0.875, offset: 'half-even' });
    assert.deepEqual(tv.affine, { preset: 'imagenet' });
    assert.equal(parsePipeline('timm').resize.interpolation, 'bicubic');
    assert.deepEqual(parsePipeline('keras-caffe').affine, { preset: 'caffe' });
    assert.deepEqual(parsePipeline('keras-tf').affine, { preset: 'symmetric' });
    const legacy = parsePipeline('tfjs-legacy');
    assert.deepEqual([legacy.resize.convention, legacy.resize.antialias, legacy.crop.kind], ['legacy-tf', false, 'none']);
  });

  it('keeps the affine presets as the historic half-pixel stretch', () => {
    for (const name of ['raw', 'unit', 'symmetric', 'imagenet', 'caffe', 'custom:0.5;0.25']) {
      const p = parsePipeline(name);
      assert.deepEqual([p.resize.edge, p.resize.convention, p.resize.antialias, p.resize.arithmetic, p.crop.kind, p.channels], ['both', 'half-pixel', false, 'float', 'none', 'composite'], name);
    }
    assert.equal(describePipeline(parsePipeline('imagenet'), input224), 'imagenet (mean/std)');
  });

  it('takes another affine after +, and JSON over a preset', () => {
    const p = parsePipeline('tfjs-legacy+symmetric');
    assert.deepEqual(p.affine, { preset: 'symmetric' });
    assert.equal(p.resize.convention, 'legacy-tf');
    const j = parsePipeline('{"preset":"timm","crop":{"fraction":0.95},"resize":{"interpolation":"lanczos"}}');
    assert.deepEqual(j.crop, { kind: 'center', fraction: 0.95, offset: 'half-even' });
    assert.equal(j.resize.interpolation, 'lanczos');
    assert.equal(j.resize.edge, 'shorter');
    const box = parsePipeline('{"preset":"unit","crop":{"kind":"letterbox","fill":[114,114,114]}}');
    assert.deepEqual(box.crop, { kind: 'letterbox', fill: [114, 114, 114] });
    assert.match(describePipeline(j, input224), /^timm \(edited\): shorter edge 235 \(lanczos, antialiased\), centre crop 224×224, imagenet/);
  });

  it('refuses what it cannot reproduce, in one sentence each', () => {
    refuses('pytorch', /Unknown preprocessing "pytorch".*torchvision/);
    refuses('nope+unit', /Unknown preprocessing "nope" before "\+"/);
    refuses('torchvision+blue', /Unknown preprocessing "blue"/);
    refuses('{"preset":"timm",', /not valid JSON/);
    refuses('{"preset":"timm","colour":1}', /unknown key "colour"/);
    refuses('{"resize":{"interpolation":"bicubic","antialias":false}}', /bicubic resizing is available with antialiasing only/);
    refuses('{"preset":"torchvision","resize":{"convention":"legacy-tf"}}', /antialiasing uses half-pixel centres/);
    refuses('{"preset":"torchvision","crop":"none"}', /shorter-edge resize keeps the aspect ratio/);
    refuses('{"crop":{"fraction":1.5}}', /crop.fraction" must be a number in \(0, 1\]/);
    refuses('{"resize":{"size":0}}', /resize.size" must be a whole number/);
    refuses('huggingface', /reads preprocessor_config.json beside the model/);
    refuses('{"preset":"torchvision","crop":{"fill":[1,2,3]}}', /"crop.fill" does not apply to a centre crop/);
    refuses('{"preset":"unit","crop":{"kind":"letterbox","fraction":0.5}}', /"crop.fraction" does not apply to a letterbox/);
    assert.throws(() => parsePipeline('huggingface', { modelDir: os.tmpdir() }), /reads preprocessor_config.json beside the model, and .* has none\./);
  });
});

describe('bindPipeline: where the input lies on the image', () => {
  it('torchvision on 451×300: shorter edge 256 → 384×256, crop offset (80, 16)', () => {
    const g = bindPipeline(parsePipeline('torchvision'), input224, { width: 451, height: 300 });
    assert.deepEqual(g.resized, { width: 384, height: 256 });
    assert.deepEqual(g.window, { left: 80, top: 16, width: 224, height: 224 });
    const sx = 451 / 384;
    const sy = 300 / 256;
    assert.equal(g.inputRegion.covers, 'crop');
    assert.ok(Math.abs(g.inputRegion.x - 80 * sx) < 1e-9 && Math.abs(g.inputRegion.width - 224 * sx) < 1e-9);
    assert.ok(Math.abs(g.inputRegion.y - 16 * sy) < 1e-9 && Math.abs(g.inputRegion.height - 224 * sy) < 1e-9);
    assert.equal(g.inputRegion.text, 'centre crop 263.1×262.5 at (94, 18.8) of the 451×300 image');
  });

  it('a region bound on a downscaled working copy is told in the file\'s own pixels', () => {
    const working = bindPipeline(parsePipeline('torchvision'), input224, { width: 451, height: 300 }).inputRegion;
    const real = regionOnRealImage(working, { width: 451, height: 300 }, { width: 902, height: 600 });
    assert.deepEqual([real.x, real.y, real.width, real.height], [working.x * 2, working.y * 2, working.width * 2, working.height * 2]);
    assert.equal(real.text, 'centre crop 526.2×525 at (187.9, 37.5) of the 902×600 image');
    assert.equal(regionOnRealImage(working, { width: 451, height: 300 }, { width: 451, height: 300 }), working);
    const whole = bindPipeline(parsePipeline('unit'), input224, { width: 451, height: 300 }).inputRegion;
    assert.equal(regionOnRealImage(whole, { width: 451, height: 300 }, { width: 902, height: 600 }).text, 'the whole 902×600 image, stretched');
  });

  it('rounds a half offset to even (torchvision) or down (HuggingFace)', () => {
    assert.deepEqual([roundHalfEven(80.5), roundHalfEven(79.5), roundHalfEven(2.5), roundHalfEven(-1.5), roundHalfEven(3.2)], [80, 80, 2, -2, 3]);
    // 602×400 → 385×256: offset (385−224)/2 = 80.5.
    const even = bindPipeline(parsePipeline('torchvision'), input224, { width: 602, height: 400 });
    const floor = bindPipeline(parsePipeline('{"preset":"torchvision","crop":{"offset":"floor"}}'), input224, { width: 602, height: 400 });
    assert.equal(even.resized.width, 385);
    assert.equal(even.window.left, 80);
    assert.equal(floor.window.left, 80);
    // 598×400 → 382.72 → 382 wide: (382−224)/2 = 79 exactly; 603 → 385.92 → 385 again. 1000×400 → 640: 208.
    assert.equal(bindPipeline(parsePipeline('torchvision'), input224, { width: 1000, height: 400 }).window.left, 208);
  });

  it('pads a crop larger than the resized image: ⌊Δ/2⌋ before (torchvision), ⌈Δ/2⌉ (HuggingFace floor)', () => {
    const spec = '{"preset":"torchvision","resize":{"size":199}}';
    const tv = bindPipeline(parsePipeline(spec), input224, { width: 300, height: 300 });
    assert.deepEqual([tv.resized.width, tv.window.left, tv.window.top], [199, -12, -12]);
    const hf = bindPipeline(parsePipeline(spec.replace('}}', '},"crop":{"offset":"floor"}}')), input224, { width: 300, height: 300 });
    assert.deepEqual([hf.window.left, hf.window.top], [-13, -13]);
    assert.ok(hf.inputRegion.x < 0, 'the region reaches outside the image');
  });

  it('a stretch covers the whole image; a letterbox centres the fitted image', () => {
    const s = bindPipeline(parsePipeline('tfjs-legacy'), input224, { width: 451, height: 300 });
    assert.deepEqual(s.inputRegion, { x: 0, y: 0, width: 451, height: 300, covers: 'whole', text: 'the whole 451×300 image, stretched' });
    const lb = bindPipeline(parsePipeline('{"preset":"unit","crop":{"kind":"letterbox"}}'), input224, { width: 400, height: 200 });
    assert.deepEqual(lb.resized, { width: 224, height: 112 });
    assert.deepEqual([lb.window.left, lb.window.top], [0, -56]);
    // 112 rows of the input are the image (scale 200/112): the region is 224·(400/224) wide, 224·(200/112) tall.
    assert.ok(Math.abs(lb.inputRegion.y - -56 * (200 / 112)) < 1e-9 && Math.abs(lb.inputRegion.height - 400) < 1e-9);
    assert.equal(lb.inputRegion.covers, 'letterbox');
  });

  it('places a legacy-TF or align-corners crop by where those grids sample', () => {
    // Legacy TF samples resized pixel j at source index j·s, whose centre is j·s + 0.5: offset = left·s + 0.5(1 − s).
    const g = bindPipeline(parsePipeline('{"preset":"tfjs-legacy","resize":{"edge":"shorter"},"crop":{"kind":"center"}}'), { width: 100, height: 100 }, { width: 400, height: 200 });
    const s = 2;
    assert.deepEqual(g.resized, { width: 200, height: 100 });
    assert.equal(g.window.left, 50);
    assert.ok(Math.abs(g.x.offset - (50 * s + 0.5 * (1 - s))) < 1e-12 && g.x.scale === s);
    const a = bindPipeline(parsePipeline('{"preset":"tfjs-legacy","resize":{"edge":"shorter","convention":"align-corners"},"crop":{"kind":"center"}}'), { width: 100, height: 100 }, { width: 400, height: 200 });
    assert.ok(Math.abs(a.x.scale - 399 / 199) < 1e-12);
  });

  it('refuses a size or crop fraction beyond 8192 px, and a maxSize not above the size (as torchvision does)', () => {
    const image = { width: 451, height: 300 };
    assert.throws(() => bindPipeline(parsePipeline('{"preset":"timm","crop":{"fraction":1e-300}}'), input224, image), /would resize to .* px \(crop fraction 1e-300\); an edge must be 1–8192 px/);
    assert.throws(() => bindPipeline(parsePipeline('{"preset":"timm","crop":{"fraction":0.02}}'), input224, image), /would resize to 11200 px/);
    assert.throws(() => bindPipeline(parsePipeline('{"preset":"timm","resize":{"maxSize":10}}'), input224, image), /caps the longer edge at 10 px, which is not above the 256 px/);
    assert.equal(bindPipeline(parsePipeline('{"preset":"timm","resize":{"maxSize":300}}'), input224, image).resized.width, 300);
  });

  it('refuses a stretch to another size than the model takes, and a crop size that disagrees', () => {
    assert.throws(() => bindPipeline(parsePipeline('{"resize":{"size":[100,120]}}'), input224, { width: 50, height: 50 }), /resizes to 120×100 but the model takes 224×224/);
    const spec = parsePipeline('torchvision');
    spec.crop = { kind: 'center', offset: 'floor', size: [256, 256] };
    assert.throws(() => bindPipeline(spec, input224, { width: 500, height: 400 }), /crops 256×256 but the model takes 224×224/);
  });
});

describe('neighbourPipelines', () => {
  it('torchvision on a large photo: without antialiasing, and stretched without the crop', () => {
    const labels = neighbourPipelines(parsePipeline('torchvision'), input224, { width: 451, height: 300 }).map((n) => n.label);
    assert.deepEqual(labels, ['without antialiasing', 'with the whole image stretched instead of the centre crop']);
  });

  it('tfjs-legacy: antialiasing, the two other grids, and a crop when the aspect changes', () => {
    const labels = neighbourPipelines(parsePipeline('tfjs-legacy'), input224, { width: 451, height: 300 }).map((n) => n.label);
    assert.equal(labels.length, 4);
    assert.match(labels[0], /with antialiasing/);
    assert.match(labels[1], /half-pixel/);
    assert.match(labels[2], /align-corners/);
    assert.match(labels[3], /shorter-edge resize and centre crop/);
  });

  it('an image already at the input size has no resize to disagree on', () => {
    assert.deepEqual(neighbourPipelines(parsePipeline('unit'), input224, input224), []);
  });
});

describe('the sensitivity note', () => {
  // Logit 0 = the first input value, logit 1 = 0.75: class 0 wins when pixel 0 of the 4→2 resize is bright.
  // On a row [255, 0, 0, 0] TF1's grid samples source 0 (value 1 under unit), half-pixel centres average 0 and 1 (0.5).
  let dir: string;
  async function open(preprocessing: string): Promise<Explainer> {
    dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'sl-sensitivity-'));
    const file = path.join(dir, 'pick.onnx');
    fs.writeFileSync(file, buildModel({
      input: { name: 'input', dims: [1, 1, 1, 2] },
      nodes: [
        { op: 'Flatten', inputs: ['input'], outputs: ['flat'], attrs: [A.i('axis', 1)] },
        { op: 'Gemm', inputs: ['flat', 'w', 'b'], outputs: ['logits'], attrs: [A.i('transB', 1)] },
      ],
      inits: [{ name: 'w', dims: [2, 2], values: [1, 0, 0, 0] }, { name: 'b', dims: [2], values: [0, 0.75] }],
      outputs: ['logits'],
    }));
    return Explainer.open(file, { preprocessing });
  }
  const row = (values: number[]): DecodedImage => ({ width: values.length, height: 1, format: 'png', data: Uint8Array.from(values.flatMap((v) => [v, v, v, 255])) });

  it('names the grid under which the top class changes', async () => {
    const ex = await open('tfjs-legacy');
    try {
      const result = await ex.explainImage(row([255, 0, 0, 0]), 'row.png', { methods: ['saliency'], sensitivity: true });
      assert.equal(result.predictions[0].index, 0);
      const notes = result.sensitivity ?? [];
      const halfPixel = notes.find((n) => /half-pixel/.test(n.pipeline));
      assert.ok(halfPixel, JSON.stringify(notes));
      assert.equal(halfPixel.top.index, 1);
      assert.match(halfPixel.text, /^Preprocessed with half-pixel centres \(TF2, PyTorch\), the top class is class 1 \(\d+%\), not class 0 \(\d+%\)\.$/);
      // Align-corners samples source 0 too (scale (4−1)/(2−1) = 3): it agrees, so it is not reported.
      assert.ok(!notes.some((n) => /align-corners/.test(n.pipeline)));
    } finally {
      ex.dispose();
    }
  });

  it('on a one-output sigmoid model, names the pipeline that crosses 50%', async () => {
    dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'sl-sensitivity-'));
    const file = path.join(dir, 'sigmoid.onnx');
    // logit = x0 − 0.75: +0.25 on TF1's grid, −0.25 with half-pixel centres.
    fs.writeFileSync(file, buildModel({
      input: { name: 'input', dims: [1, 1, 1, 2] },
      nodes: [
        { op: 'Flatten', inputs: ['input'], outputs: ['flat'], attrs: [A.i('axis', 1)] },
        { op: 'Gemm', inputs: ['flat', 'w', 'b'], outputs: ['z'], attrs: [A.i('transB', 1)] },
        { op: 'Sigmoid', inputs: ['z'], outputs: ['p'] },
      ],
      inits: [{ name: 'w', dims: [1, 2], values: [1, 0] }, { name: 'b', dims: [1], values: [-0.75] }],
      outputs: ['p'],
    }));
    const ex = await Explainer.open(file, { preprocessing: 'tfjs-legacy' });
    try {
      const result = await ex.explainImage(row([255, 0, 0, 0]), 'row.png', { methods: ['saliency'], sensitivity: true });
      const note = result.sensitivity?.find((n) => /half-pixel/.test(n.pipeline));
      assert.ok(note, JSON.stringify(result.sensitivity));
      assert.match(note.text, /^Preprocessed with half-pixel centres \(TF2, PyTorch\), class 0 scores 44%, not 56%: the other side of the decision\.$/);
    } finally {
      ex.dispose();
    }
  });

  it('says nothing when every neighbour agrees', async () => {
    const ex = await open('tfjs-legacy');
    try {
      const result = await ex.explainImage(row([200, 200, 200, 200]), 'flat.png', { methods: ['saliency'], sensitivity: true });
      assert.deepEqual(result.sensitivity, []);
    } finally {
      ex.dispose();
    }
  });
});

describe('the sensitivity note on a real TF.js classifier (nsfwjs MobileNetV2, its own tfjs-legacy pipeline)', () => {
  // Classes: 0 Drawing, 1 Hentai, 2 Neutral, 3 Porn, 4 Sexy. The grey "camera" photo is a Drawing at 79% through
  // tf.image.resizeBilinear's defaults and Neutral once the 512→224 shrink is antialiased.
  const photos = path.join(__dirname, '..', 'fixtures', 'pipelines', 'photos');
  it('warns on the photo whose top class rests on antialiasing, and not on one that holds', async () => {
    const ex = await Explainer.open(nsfwModelDir('mobilenet_v2_mid'), { preprocessing: 'tfjs-legacy' });
    const antialiased = await Explainer.open(nsfwModelDir('mobilenet_v2_mid'), { preprocessing: '{"preset":"tfjs-legacy","resize":{"antialias":true,"convention":"half-pixel"}}' });
    try {
      const camera = await loadImageFile(path.join(photos, 'camera.png'));
      const result = await ex.explainImage(camera, 'camera.png', { methods: ['saliency'], sensitivity: true });
      assert.equal(result.predictions[0].index, 0);
      const note = result.sensitivity?.find((n) => /antialiasing/.test(n.pipeline));
      assert.ok(note, JSON.stringify(result.sensitivity));
      // The note's class is what that pipeline, set explicitly, predicts.
      const direct = await antialiased.explainImage(camera, 'camera.png', { methods: ['saliency'] });
      assert.equal(note.top.index, direct.predictions[0].index);
      assert.ok(Math.abs(note.top.probability - direct.predictions[0].probability) < 1e-5);
      assert.notEqual(note.top.index, 0);
      const cat = await ex.explainImage(await loadImageFile(path.join(photos, 'chelsea.png')), 'chelsea.png', { methods: ['saliency'], sensitivity: true });
      assert.deepEqual(cat.sensitivity, []);
    } finally {
      ex.dispose();
      antialiased.dispose();
    }
  });
});

describe('which pipeline a model gets', () => {
  const tiny = (dir: string) => {
    const file = path.join(dir, 'model.onnx');
    fs.writeFileSync(file, buildModel({
      input: { name: 'input', dims: [1, 3, 4, 4] },
      nodes: [{ op: 'Flatten', inputs: ['input'], outputs: ['flat'], attrs: [A.i('axis', 1)] }, { op: 'Gemm', inputs: ['flat', 'w'], outputs: ['logits'], attrs: [A.i('transB', 1)] }],
      inits: [{ name: 'w', dims: [2, 48], values: Array.from({ length: 96 }, (_, i) => (i % 7) - 3) }],
      outputs: ['logits'],
    }));
    return file;
  };

  it('a preprocessor_config.json found beside the model but not reproducible is a warning, not a refusal', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-hf-'));
    const file = tiny(dir);
    fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({ image_processor_type: 'SiglipImageProcessor', size: { height: 4, width: 4 } }));
    const ex = await Explainer.open(file);
    try {
      assert.equal(ex.preprocessing.preset, 'imagenet', 'the PyTorch-style default');
      assert.ok(ex.model.warnings.some((w) => /^preprocessor_config.json beside the model was not used \(.*SiglipImageProcessor.*\), so the model gets imagenet/.test(w)), ex.model.warnings.join('\n'));
    } finally {
      ex.dispose();
    }
    // Asked for by name, the same file is refused, naming it.
    await assert.rejects(Explainer.open(file, { preprocessing: 'huggingface' }), (err: Error) => err instanceof UserError && err.message.includes('preprocessor_config.json') && /SiglipImageProcessor/.test(err.message));
    // A usable one is used, and the Model view says where it came from.
    fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({ image_processor_type: 'ViTImageProcessor', size: { height: 4, width: 4 }, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] }));
    const hf = await Explainer.open(file);
    try {
      assert.equal(hf.preprocessingSource, path.join(dir, 'preprocessor_config.json'));
      assert.match(hf.preprocessingText, /^huggingface \(ViTImageProcessor\): stretch to 4×4 \(bilinear, antialiased\)/);
    } finally {
      hf.dispose();
    }
  });

  it('a size that cannot fit the model is refused when it opens, naming saliency-lens.json', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-fit-'));
    const file = tiny(dir);
    const settings = path.join(dir, 'saliency-lens.json');
    fs.writeFileSync(settings, JSON.stringify({ preprocessing: { preset: 'timm', resize: { edge: 'both', size: [300, 300] }, crop: 'none' } }));
    await assert.rejects(Explainer.open(file), (err: Error) => err instanceof UserError && err.message.startsWith(`${settings}: preprocessing "timm (edited)" resizes to 300×300 but the model takes 4×4`));
  });
});

describe('saliency-lens.json', () => {
  it('takes a pipeline object and refuses a bad one naming the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-sidecar-'));
    const file = path.join(dir, 'saliency-lens.json');
    fs.writeFileSync(file, JSON.stringify({ preprocessing: { preset: 'timm', crop: { fraction: 0.95 } } }));
    const settings = readModelSettings(dir)!;
    assert.deepEqual(parsePipeline(settings.preprocessing!).crop, { kind: 'center', fraction: 0.95, offset: 'half-even' });
    fs.writeFileSync(file, JSON.stringify({ preprocessing: { preset: 'timm', crop: { fraction: 2 } } }));
    assert.throws(() => readModelSettings(dir), (err: unknown) => err instanceof UserError && err.message.includes(file) && /fraction/.test(err.message));
    fs.writeFileSync(file, JSON.stringify({ preprocessing: 7 }));
    assert.throws(() => readModelSettings(dir), /expected a name such as "imagenet" or "torchvision"/);
  });
});
