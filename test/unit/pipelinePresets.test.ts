/**
 * Each framework preset against what the framework itself makes of real photos, and the historic presets against
 * the engine's historic conversion and tfjs's own kernels.
 *
 * - Framework presets: test/fixtures/pipelines, written by scripts/preprocess/write_pipeline_fixtures.py with
 *   torchvision 0.14 and Pillow 9.4 (torchvision, timm built from torchvision as timm does) or numpy ports of Keras's
 *   load_img + preprocess_input and HuggingFace's slow processors (manifest.json says which, per case). The
 *   reference is the 8-bit image after the framework's resize and crop (or torchvision's own float32 tensor), so
 *   "the same 8-bit image" is checked, not only the 1/255 tolerance; the crop box must be the framework's.
 * - Historic presets (unit, imagenet, caffe, …): byte-identical to the engine's conversion before pipelines existed,
 *   kept below as `historicImageToTensor` (tfjs ops on the cpu backend).
 * - tfjs-legacy: tfjs's cpu `tf.image.resizeBilinear(x, size)` with its default flags, then the affine, exactly.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import type { DecodedImage } from '../../src/engine/image/decode';
import { loadImageFile } from '../../src/engine/image/load';
import type { ModelInputSpec } from '../../src/engine/image/preprocess';
import { parsePipeline } from '../../src/engine/image/pipeline/presets';
import { runPipeline } from '../../src/engine/image/pipeline/run';
import { decodeNpyFloat32 } from '../../src/engine/io/npy';
import { mulberry32 } from '../fixtures/seededRandom';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'pipelines');

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
interface Affine {
  order: 'rgb' | 'bgr';
  scale: number;
  mean: number[];
  std: number[];
}
interface Case {
  id: string;
  photo: string;
  sourceCrop: Box | null;
  imageSize: { width: number; height: number };
  preprocessing: string;
  modelDir: string | null;
  input: ModelInputSpec;
  resized: { width: number; height: number };
  cropBox: Box;
  affine: Affine;
  reference: { kind: 'library' | 'port'; what: string };
  uint8: string | null;
  float32: string | null;
}

const manifest = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8')) as { cases: Case[]; versions: Record<string, string> };
const caseById = (id: string): Case => {
  const c = manifest.cases.find((k) => k.id === id);
  assert.ok(c, `no case ${id} in manifest.json`);
  return c;
};

// ---- reading the fixtures ---------------------------------------------------------------------------------------

const photos = new Map<string, Promise<DecodedImage>>();
function photo(name: string): Promise<DecodedImage> {
  if (!photos.has(name)) photos.set(name, loadImageFile(path.join(FIXTURES, 'photos', name)));
  return photos.get(name)!;
}

/** A rectangle of an 8-bit image, as PIL's Image.crop cut it in the script. */
function cropImage(img: DecodedImage, box: Box): DecodedImage {
  const data = new Uint8Array(box.width * box.height * 4);
  for (let y = 0; y < box.height; y++) {
    const from = ((box.y + y) * img.width + box.x) * 4;
    data.set(img.data.subarray(from, from + box.width * 4), y * box.width * 4);
  }
  return { width: box.width, height: box.height, data, format: img.format };
}

async function caseImage(c: Case): Promise<DecodedImage> {
  const img = await photo(c.photo);
  return c.sourceCrop ? cropImage(img, c.sourceCrop) : img;
}

/** The framework's 8-bit RGB image after resize and crop, read with pngjs (not the engine's decoder). */
function readU8(name: string): Uint8Array {
  const png = PNG.sync.read(fs.readFileSync(path.join(FIXTURES, name)));
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let i = 0, o = 0; i < png.data.length; i += 4, o += 3) rgb.set(png.data.subarray(i, i + 3), o);
  return rgb;
}

/** The framework's own model input: NHWC float32 .npy, gzipped. */
function readF32(name: string): Float32Array {
  return decodeNpyFloat32(zlib.gunzipSync(fs.readFileSync(path.join(FIXTURES, name)))).data;
}

/** The framework's affine on its 8-bit image, in float64: (p[order]·scale − mean)/std. */
function affineOf(u8: Uint8Array, a: Affine): Float64Array {
  const out = new Float64Array(u8.length);
  for (let i = 0; i < u8.length; i += 3) {
    for (let k = 0; k < 3; k++) out[i + k] = (u8[i + (a.order === 'bgr' ? 2 - k : k)] * a.scale - a.mean[k]) / a.std[k];
  }
  return out;
}

function reference(c: Case): ArrayLike<number> {
  if (c.float32) return readF32(c.float32);
  assert.ok(c.uint8, `${c.id} has neither a uint8 nor a float32 reference`);
  return affineOf(readU8(c.uint8), c.affine);
}

/** Per channel, the largest |ours − ref| in pixel levels: one level is scale/std_c, 1/255 of the scaled range. */
function levelsOff(ours: ArrayLike<number>, ref: ArrayLike<number>, a: Affine): number[] {
  assert.equal(ours.length, ref.length, 'value count');
  const worst = [0, 0, 0];
  for (let i = 0; i < ours.length; i++) {
    const k = i % 3;
    worst[k] = Math.max(worst[k], (Math.abs(ours[i] - ref[i]) * a.std[k]) / a.scale);
  }
  return worst;
}

const isWhole = (b: Box, c: Case) => b.x === 0 && b.y === 0 && b.width === c.imageSize.width && b.height === c.imageSize.height;

async function run(c: Case, text = c.preprocessing) {
  const spec = parsePipeline(text, c.modelDir ? { modelDir: path.join(FIXTURES, c.modelDir) } : {});
  return runPipeline(await caseImage(c), spec, c.input);
}

// ---- framework presets -------------------------------------------------------------------------------------------

describe('framework presets give what the framework gives', () => {
  it('the fixtures are there, made with the versions the plan names', () => {
    assert.ok(manifest.cases.length >= 15, `${manifest.cases.length} cases`);
    assert.match(manifest.versions.torchvision, /^0\.14/);
    assert.match(manifest.versions.Pillow, /^9\.4/);
  });

  for (const c of manifest.cases) {
    const where = `${c.photo}${c.sourceCrop ? ` (${c.sourceCrop.width}×${c.sourceCrop.height} of it)` : ''}`;
    it(`${c.id}: "${c.preprocessing}" on ${where} → ${c.input.width}×${c.input.height} (${c.reference.kind === 'library' ? 'the library' : 'a port'})`, async (t) => {
      const img = await caseImage(c);
      assert.deepEqual({ width: img.width, height: img.height }, c.imageSize, 'the image the pipeline receives');
      const { values, geometry } = await run(c);
      assert.equal(values.length, c.input.height * c.input.width * 3);

      const off = levelsOff(values, reference(c), c.affine);
      t.diagnostic(`max |ours − ${c.float32 ? 'library float32' : 'affine(framework uint8)'}| per channel, in 1/255 levels: ${off.map((v) => v.toExponential(2)).join(', ')}`);
      // The issue's tolerance: 1/(255·std_c) on the 0..1 scale, i.e. one level.
      for (const [k, v] of off.entries()) assert.ok(v <= 1, `channel ${k}: ${v} levels off`);
      // PIL's own integer arithmetic: the same 8-bit image, so only float rounding of the affine remains.
      for (const [k, v] of off.entries()) assert.ok(v < 1e-3, `channel ${k}: not the framework's 8-bit image (${v} levels off somewhere)`);

      assert.deepEqual(geometry.resized, c.resized, 'resized size');
      const r = geometry.inputRegion;
      for (const key of ['x', 'y', 'width', 'height'] as const) {
        assert.ok(Math.abs(r[key] - c.cropBox[key]) <= 1e-9 * Math.max(1, Math.abs(c.cropBox[key])), `crop box ${key}: ${r[key]}, the framework's ${c.cropBox[key]}`);
      }
      assert.equal(r.covers, isWhole(c.cropBox, c) ? 'whole' : 'crop');
    });
  }
});

describe('crop offsets where frameworks round differently (hand-computed)', () => {
  const windowOf = async (id: string, text?: string) => (await run(caseById(id), text)).geometry.window;

  it('torchvision rounds half to even: 450×299 → 385×256, (385−224)/2 = 80.5 → 80 (Math.round: 81)', async () => {
    assert.equal((await windowOf('torchvision-chelsea-450x299')).left, 80);
    assert.ok(Math.abs(caseById('torchvision-chelsea-450x299').cropBox.x - (80 * 450) / 385) < 1e-12);
  });

  it('torchvision 79.5 → 80 on both axes (floor: 79): rocket 640×427 → 383×256, its portrait crop → 256×383', async () => {
    assert.equal((await windowOf('torchvision-rocket')).left, 80);
    assert.equal((await windowOf('torchvision-rocket-portrait')).top, 80);
  });

  it('HuggingFace floors: ConvNext-224 on the same rocket takes column 79', async () => {
    assert.equal((await windowOf('hf-convnext-224')).left, 79);
  });

  it('the fixtures tell the roundings apart: torchvision with a floored offset is not torchvision', async () => {
    const c = caseById('torchvision-rocket');
    const floored = await run(c, '{"preset":"torchvision","crop":{"offset":"floor"}}');
    assert.equal(floored.geometry.window.left, 79);
    const off = levelsOff(floored.values, reference(c), c.affine);
    assert.ok(Math.max(...off) > 5, `a one-column shift is only ${Math.max(...off)} levels off`);
  });

  it('the fixtures tell PIL\'s 8-bit arithmetic from the same kernels in float (timm bicubic)', async () => {
    const c = caseById('timm-chelsea');
    const float = await run(c, '{"preset":"timm","resize":{"arithmetic":"float"}}');
    const off = Math.max(...levelsOff(float.values, reference(c), c.affine));
    assert.ok(off > 0.5, `float bicubic is only ${off} levels off PIL`);
  });

  it('HuggingFace pads a crop larger than the image ⌈Δ/2⌉ before with black: 299×199 in 224×224 → 13 rows above, 12 below', async () => {
    const c = caseById('hf-clip-pad');
    const { values, geometry } = await run(c);
    assert.deepEqual({ left: geometry.window.left, top: geometry.window.top }, { left: 37, top: -13 });
    const black = [0, 1, 2].map((k) => -c.affine.mean[k] / c.affine.std[k]);
    const w = c.input.width;
    for (const row of [0, 12, 212, 223]) {
      for (const x of [0, 100, 223]) {
        for (let k = 0; k < 3; k++) assert.ok(Math.abs(values[(row * w + x) * 3 + k] - black[k]) < 1e-6, `row ${row} is not black padding`);
      }
    }
    assert.ok(Math.abs(values[(13 * w + 100) * 3] - black[0]) > 1e-3, 'row 13 is the image');
  });
});

// ---- historic presets and tfjs-legacy: tfjs itself as the reference -----------------------------------------------

/**
 * The engine's conversion before pipelines existed (src/engine/image/preprocess.ts `imageToTensor` up to issue 14),
 * kept as the back-compatibility reference: channels composited over white and converted in float, then tfjs's
 * `resizeBilinear(x, size, false, true)` (half-pixel), then `x·scale + offset` with tf.mul and tf.add.
 */
function historicImageToTensor(img: DecodedImage, spec: ModelInputSpec, scale: number[], offset: number[], bgr: boolean): Float32Array {
  const data = img.data16 ?? img.data;
  const full = img.data16 ? 65535 : 255;
  const unit = 255 / full;
  const c = spec.channels;
  const n = img.width * img.height;
  const values = new Float32Array(n * c);
  for (let i = 0, o = 0; i < n * 4; i += 4, o += c) {
    let [r, g, b] = [data[i] * unit, data[i + 1] * unit, data[i + 2] * unit];
    const a = data[i + 3];
    if (c === 4) {
      values.set([bgr ? b : r, g, bgr ? r : b, a * unit], o);
      continue;
    }
    if (a !== full) {
      const t = a / full;
      [r, g, b] = [r * t + 255 * (1 - t), g * t + 255 * (1 - t), b * t + 255 * (1 - t)];
    }
    if (c === 1) values[o] = 0.299 * r + 0.587 * g + 0.114 * b;
    else values.set([bgr ? b : r, g, bgr ? r : b], o);
  }
  return tf.tidy(() => {
    let x: tf.Tensor4D = tf.tensor4d(values, [1, img.height, img.width, c], 'float32');
    if (img.height !== spec.height || img.width !== spec.width) x = tf.image.resizeBilinear(x, [spec.height, spec.width], false, true);
    return tf.add(tf.mul(x, tf.tensor1d(scale, 'float32')), tf.tensor1d(offset, 'float32')).dataSync() as Float32Array;
  });
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
const CAFFE_BGR = [103.939, 116.779, 123.68];
const mean3 = (v: number[]) => (v[0] + v[1] + v[2]) / 3;

/** Each historic preset's affine (scale, offset, BGR) for 1, 3 or 4 channels, from the documented formulas. */
const HISTORIC: Record<string, (c: 1 | 3 | 4) => [number[], number[], boolean]> = {
  raw: (c) => [Array(c).fill(1), Array(c).fill(0), false],
  unit: (c) => [Array(c).fill(1 / 255), Array(c).fill(0), false],
  symmetric: (c) => [Array(c).fill(1 / 127.5), Array(c).fill(-1), false],
  imagenet: (c) => meanStd(c === 1 ? [mean3(IMAGENET_MEAN)] : c === 3 ? IMAGENET_MEAN : [...IMAGENET_MEAN, 0], c === 1 ? [mean3(IMAGENET_STD)] : c === 3 ? IMAGENET_STD : [...IMAGENET_STD, 1]),
  caffe: (c) => {
    const mean = c === 1 ? [mean3(CAFFE_BGR)] : c === 3 ? CAFFE_BGR : [...CAFFE_BGR, 0];
    return [Array(c).fill(1), mean.map((m) => -m), c !== 1];
  },
  'custom:0.5,0.4,0.3;0.2,0.25,0.3': (c) => meanStd(c === 1 ? [0.4] : c === 3 ? [0.5, 0.4, 0.3] : [0.5, 0.4, 0.3, 0], c === 1 ? [0.25] : c === 3 ? [0.2, 0.25, 0.3] : [0.2, 0.25, 0.3, 1]),
};
function meanStd(mean: number[], std: number[]): [number[], number[], boolean] {
  return [std.map((s) => 1 / (255 * s)), mean.map((m, i) => -m / std[i]), false];
}

/** A seeded RGBA image, 8- or 16-bit, with random alpha (every third pixel opaque). */
function syntheticImage(width: number, height: number, seed: number, sixteen = false): DecodedImage {
  const rand = mulberry32(seed);
  const data16 = new Uint16Array(width * height * 4).map((_, i) => (i % 4 === 3 && (i >> 2) % 3 === 0 ? 65535 : Math.floor(rand() * 65536)));
  const data = Uint8Array.from(data16, (v) => Math.round(v / 257));
  return sixteen ? { width, height, data, data16, format: 'png' } : { width, height, data, format: 'png' };
}

function assertSameFloats(ours: Float32Array, ref: Float32Array, what: string): void {
  assert.equal(ours.length, ref.length, `${what}: value count`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i] - ref[i]);
    if (d > worst || Number.isNaN(d)) [worst, at] = [d, i];
  }
  assert.ok(worst === 0, `${what}: not byte-identical, worst |d| ${worst} at ${at} (ours ${ours[at]}, reference ${ref[at]})`);
}

describe('historic presets keep their meaning: byte-identical to the historic conversion', () => {
  before(async () => {
    await tf.setBackend('cpu');
    await tf.ready();
  });

  const photoInputs: ModelInputSpec[] = [
    { height: 224, width: 224, channels: 3 }, // down
    { height: 440, width: 300, channels: 3 }, // up on both axes for the rocket rectangle
    { height: 17, width: 11, channels: 1 },
    { height: 17, width: 11, channels: 4 },
  ];
  const smallInputs: ModelInputSpec[] = [
    { height: 23, width: 37, channels: 3 }, // no resize
    { height: 50, width: 60, channels: 3 }, // up
    { height: 17, width: 11, channels: 1 },
    { height: 17, width: 11, channels: 4 },
  ];
  const images: [string, () => Promise<DecodedImage>, ModelInputSpec[]][] = [
    ['chelsea.png', () => photo('chelsea.png'), photoInputs],
    ['a 285×427 rectangle of rocket.jpg', async () => cropImage(await photo('rocket.jpg'), { x: 178, y: 0, width: 285, height: 427 }), photoInputs],
    ['a 37×23 RGBA image with random alpha', async () => syntheticImage(37, 23, 14), smallInputs],
    ['a 16-bit 37×23 RGBA image with random alpha', async () => syntheticImage(37, 23, 15, true), smallInputs],
  ];
  for (const [imageName, image, inputs] of images) {
    for (const input of inputs) {
      it(`${imageName} → ${input.width}×${input.height}×${input.channels}, every historic preset`, async () => {
        const img = await image();
        for (const [preset, affineFor] of Object.entries(HISTORIC)) {
          const [scale, offset, bgr] = affineFor(input.channels);
          const ours = runPipeline(img, parsePipeline(preset), input);
          assertSameFloats(ours.values, historicImageToTensor(img, input, scale, offset, bgr), preset);
          assert.deepEqual(
            { ...ours.geometry.inputRegion, text: undefined },
            { x: 0, y: 0, width: img.width, height: img.height, covers: 'whole', text: undefined },
            `${preset}: a stretch covers the whole image`,
          );
        }
      });
    }
  }
});

describe('tfjs-legacy is tfjs resizeBilinear with its default flags (TF1 grid)', () => {
  before(async () => {
    await tf.setBackend('cpu');
    await tf.ready();
  });

  /** tfjs's cpu kernel on the photo's RGB, default flags (alignCorners=false, halfPixelCenters=false), then x·scale+offset. */
  function tfjsLegacy(img: DecodedImage, input: ModelInputSpec, scale: number, offset: number): Float32Array {
    return tf.tidy(() => {
      const rgba = tf.tensor4d(img.data, [1, img.height, img.width, 4], 'int32');
      const rgb = tf.slice(rgba, [0, 0, 0, 0], [1, img.height, img.width, 3]).toFloat();
      const x = tf.image.resizeBilinear(rgb as tf.Tensor4D, [input.height, input.width]);
      return tf.add(tf.mul(x, tf.scalar(scale)), tf.scalar(offset)).dataSync() as Float32Array;
    });
  }

  for (const [name, input] of [
    ['chelsea.png → 224×224 (down)', { height: 224, width: 224, channels: 3 }],
    ['chelsea.png → 500×320 (up)', { height: 320, width: 500, channels: 3 }],
    ['chelsea.png → 97×131', { height: 131, width: 97, channels: 3 }],
  ] as [string, ModelInputSpec][]) {
    it(`${name}: tfjs-legacy (x/255) and tfjs-legacy+symmetric`, async () => {
      const img = await photo('chelsea.png');
      const legacy = runPipeline(img, parsePipeline('tfjs-legacy'), input).values;
      assertSameFloats(legacy, tfjsLegacy(img, input, 1 / 255, 0), 'tfjs-legacy');
      assertSameFloats(runPipeline(img, parsePipeline('tfjs-legacy+symmetric'), input).values, tfjsLegacy(img, input, 1 / 127.5, -1), 'tfjs-legacy+symmetric');
      // x/255 as most tfjs code writes it differs from x·(1/255) by float rounding at most.
      const divided = tf.tidy(() => tf.div(tf.tensor(tfjsLegacy(img, input, 1, 0)), 255).dataSync());
      let d = 0;
      for (let i = 0; i < legacy.length; i++) d = Math.max(d, Math.abs(legacy[i] - divided[i]));
      assert.ok(d < 1e-7, `x·(1/255) vs x/255: ${d}`);
      // The TF1 grid is not the half-pixel one: the test could tell a wrong convention.
      const halfPixel = runPipeline(img, parsePipeline('unit'), input).values;
      let apart = 0;
      for (let i = 0; i < legacy.length; i++) apart = Math.max(apart, Math.abs(legacy[i] - halfPixel[i]));
      assert.ok(apart > 0.02, `legacy and half-pixel grids differ by only ${apart}`);
    });
  }
});
