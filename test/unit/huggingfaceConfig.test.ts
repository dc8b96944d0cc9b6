/**
 * preprocessor_config.json -> PipelineSpec. Every expectation is derived by hand from transformers' slow processors
 * (image_processing_utils.py get_size_dict/convert_to_size_dict, image_transforms.py, models/<name>/
 * image_processing_<name>.py); the reasoning is in the comment beside each case.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HF_PREPROCESSOR_FILE, huggingFacePipeline, readHuggingFacePipeline } from '../../src/engine/image/pipeline/huggingface';
import { UserError } from '../../src/engine/errors';

const FIX = path.join(__dirname, '..', 'fixtures', 'huggingface');
const F = 'model/preprocessor_config.json';
const IMAGENET_DEFAULT = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const HALF = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const CLIP = { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] };

/** The resize fields every HF pipeline shares: PIL resize on uint8 (image_transforms.py `resize`). */
const PIL = { antialias: true, convention: 'half-pixel', arithmetic: 'pil-uint8' } as const;

function refused(config: unknown, ...mustName: string[]): string {
  let err: unknown;
  try {
    huggingFacePipeline(config, F);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
  const msg = (err as UserError).message;
  assert.ok(msg.startsWith(`${F}: `), msg);
  for (const s of mustName) assert.ok(msg.includes(s), `"${msg}" should name ${s}`);
  assert.ok(!msg.includes('\n'), 'one line');
  return msg;
}

test('the file name is the one HuggingFace writes', () => {
  assert.equal(HF_PREPROCESSOR_FILE, 'preprocessor_config.json');
});

test('google/vit-base-patch16-224 (legacy: int size, no do_rescale)', () => {
  const spec = readHuggingFacePipeline(path.join(FIX, 'vit-base-patch16-224.json'));
  // ViTFeatureExtractor -> ViTImageProcessor; get_size_dict(224) with default_to_square=True -> {224, 224};
  // resample 2 = BILINEAR; no crop in ViT; do_rescale absent -> the class default True with 1/255.
  assert.equal(spec.name, 'huggingface (ViTImageProcessor)');
  assert.equal(spec.channels, 'pil');
  assert.deepEqual(spec.resize, { edge: 'both', size: [224, 224], interpolation: 'bilinear', ...PIL });
  assert.deepEqual(spec.crop, { kind: 'none' });
  assert.deepEqual(spec.affine, { preset: 'custom', scale: 1 / 255, ...HALF });
  assert.match(spec.source ?? '', /vit-base-patch16-224\.json: ViTImageProcessor .*image_processing_vit\.py.*saved as ViTFeatureExtractor/);
});

test('openai/clip-vit-base-patch32 (size dicts)', () => {
  const spec = readHuggingFacePipeline(path.join(FIX, 'clip-vit-base-patch32.json'));
  // {shortest_edge: 224}: get_resize_output_image_size(default_to_square=False); then center_crop 224x224 (floor).
  assert.equal(spec.name, 'huggingface (CLIPImageProcessor)');
  assert.deepEqual(spec.resize, { edge: 'shorter', size: 224, interpolation: 'bicubic', ...PIL });
  assert.deepEqual(spec.crop, { kind: 'center', offset: 'floor', size: [224, 224] });
  assert.deepEqual(spec.affine, { preset: 'custom', scale: 0.00392156862745098, ...CLIP });
  assert.match(spec.source ?? '', /centre crop 224×224/);
});

test('microsoft/beit-base-patch16-224 (int size on a square class, crop off, reduce_labels ignored)', () => {
  const spec = readHuggingFacePipeline(path.join(FIX, 'beit-base-patch16-224.json'));
  // BEiT: get_size_dict(224) -> square; do_center_crop false; reduce_labels only touches segmentation maps.
  assert.equal(spec.name, 'huggingface (BeitImageProcessor)');
  assert.deepEqual(spec.resize, { edge: 'both', size: [224, 224], interpolation: 'bilinear', ...PIL });
  assert.deepEqual(spec.crop, { kind: 'none' });
  assert.deepEqual(spec.affine, { preset: 'custom', scale: 1 / 255, ...HALF });
});

test('microsoft/resnet-50 (ConvNext, size 224 < 384: shorter edge int(224/0.875) = 256, then crop 224)', () => {
  const spec = readHuggingFacePipeline(path.join(FIX, 'resnet-50.json'));
  // convert_to_size_dict(224, default_to_square=False) -> {shortest_edge: 224}; 224/0.875 = 256.
  assert.equal(spec.name, 'huggingface (ConvNextImageProcessor)');
  assert.deepEqual(spec.resize, { edge: 'shorter', size: 256, interpolation: 'bicubic', ...PIL });
  assert.deepEqual(spec.crop, { kind: 'center', offset: 'floor', size: [224, 224] });
  assert.deepEqual(spec.affine, { preset: 'custom', scale: 1 / 255, ...IMAGENET_DEFAULT });
  assert.match(spec.source ?? '', /shorter edge to 256 .*centre crop 224×224/);
});

test('facebook/deit-base-distilled-patch16-224 (stretch 256, crop 224)', () => {
  const spec = readHuggingFacePipeline(path.join(FIX, 'deit-base-distilled-patch16-224.json'));
  // DeiT is default_to_square: int 256 -> 256x256; int crop_size 224 -> 224x224.
  assert.deepEqual(spec.resize, { edge: 'both', size: [256, 256], interpolation: 'bicubic', ...PIL });
  assert.deepEqual(spec.crop, { kind: 'center', offset: 'floor', size: [224, 224] });
  assert.deepEqual(spec.affine, { preset: 'custom', scale: 1 / 255, ...IMAGENET_DEFAULT });
  assert.match(spec.source ?? '', /stretch to 256×256 \(BICUBIC\), centre crop 224×224/);
});

test('ConvNext: crop_pct truncation, its default, and the stretch from 384 on', () => {
  // int(224/0.9) = int(248.89) = 248 (truncation: rounding would give 249).
  const a = huggingFacePipeline({ image_processor_type: 'ConvNextImageProcessor', size: { shortest_edge: 224 }, crop_pct: 0.9 }, F);
  assert.deepEqual(a.resize, { edge: 'shorter', size: 248, interpolation: 'bicubic', ...PIL });
  assert.deepEqual(a.crop, { kind: 'center', offset: 'floor', size: [224, 224] });
  // crop_pct null -> 224/256: int(224/(224/256)) = 256. Class defaults: bicubic, mean/std 0.5.
  const b = huggingFacePipeline({ image_processor_type: 'ConvNextImageProcessor', size: 224, crop_pct: null }, F);
  assert.equal(b.resize.size, 256);
  assert.deepEqual(b.affine, { preset: 'custom', scale: 1 / 255, ...HALF });
  // shortest_edge >= 384: "warping (no cropping)" to s x s.
  const c = huggingFacePipeline({ image_processor_type: 'ConvNextImageProcessor', size: { shortest_edge: 384 }, crop_pct: 0.875 }, F);
  assert.deepEqual(c.resize, { edge: 'both', size: [384, 384], interpolation: 'bicubic', ...PIL });
  assert.deepEqual(c.crop, { kind: 'none' });
  // No size at all: the class default {shortest_edge: 384}.
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'ConvNextImageProcessor' }, F).resize.size, [384, 384]);
});

test('legacy int size: a square for ViT, the shorter edge for CLIP', () => {
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'ViTImageProcessor', size: 384 }, F).resize.size, [384, 384]);
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'DeiTImageProcessor', size: 300 }, F).resize.size, [300, 300]);
  const clip = huggingFacePipeline({ image_processor_type: 'CLIPImageProcessor', size: 336, crop_size: 336 }, F);
  assert.equal(clip.resize.edge, 'shorter');
  assert.equal(clip.resize.size, 336);
  assert.match(clip.source ?? '', /centre crop 336×336/);
  // A list is (height, width) whatever the class.
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'ViTImageProcessor', size: [200, 300] }, F).resize.size, [200, 300]);
  // CLIP with {height, width} stretches; use_square_size turns {shortest_edge} into a square (Kosmos-2).
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'CLIPImageProcessor', size: { height: 224, width: 224 } }, F).resize.edge, 'both');
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'CLIPImageProcessor', size: { shortest_edge: 224 }, use_square_size: true }, F).resize.size, [224, 224]);
});

test('every resample code, and each class default when it is absent', () => {
  const expected = ['nearest', 'lanczos', 'bilinear', 'bicubic', 'area', 'hamming'];
  for (let code = 0; code <= 5; code++) {
    assert.equal(huggingFacePipeline({ image_processor_type: 'ViTImageProcessor', resample: code }, F).resize.interpolation, expected[code]);
  }
  const byDefault = (t: string) => huggingFacePipeline({ image_processor_type: t }, F).resize.interpolation;
  assert.equal(byDefault('ViTImageProcessor'), 'bilinear');
  assert.equal(byDefault('DeiTImageProcessor'), 'bicubic');
  assert.equal(byDefault('BeitImageProcessor'), 'bicubic');
  assert.equal(byDefault('CLIPImageProcessor'), 'bicubic');
  assert.equal(byDefault('ConvNextImageProcessor'), 'bicubic');
  refused({ image_processor_type: 'ViTImageProcessor', resample: 6 }, '"resample"');
  refused({ image_processor_type: 'ViTImageProcessor', resample: 'PIL.Image.BOX' }, '"resample"');
});

test('crop on and off, with each class default', () => {
  // DeiT and BEiT crop by default (256 -> 224), CLIP too; ViT never.
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'BeitImageProcessor' }, F).crop, { kind: 'center', offset: 'floor', size: [224, 224] });
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'BeitImageProcessor' }, F).resize.size, [256, 256]);
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'DeiTImageProcessor', do_center_crop: false }, F).crop, { kind: 'none' });
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'ViTImageProcessor', do_center_crop: true, crop_size: { height: 200, width: 180 } }, F).crop, { kind: 'center', offset: 'floor', size: [200, 180] });
  assert.match(huggingFacePipeline({ image_processor_type: 'ViTImageProcessor', do_center_crop: true, crop_size: { height: 200, width: 180 } }, F).source ?? '', /centre crop 200×180/);
  // A malformed crop_size is refused even when the crop is off.
  refused({ image_processor_type: 'DeiTImageProcessor', do_center_crop: false, crop_size: { shortest_edge: 224 } }, '"crop_size"');
});

test('do_rescale and do_normalize: the affine (p·scale − mean)/std', () => {
  // do_rescale false: pixels stay on 0..255 (scale 1); the mean/std still apply.
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'ViTImageProcessor', do_rescale: false }, F).affine, { preset: 'custom', scale: 1, ...HALF });
  // do_normalize false: mean 0, std 1; rescale_factor is used as given.
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'ViTImageProcessor', do_normalize: false, rescale_factor: 0.5 }, F).affine, { preset: 'custom', scale: 0.5, mean: [0], std: [1] });
  // A scalar mean/std is one value for every channel.
  assert.deepEqual(huggingFacePipeline({ image_processor_type: 'ViTImageProcessor', image_mean: 0.25, image_std: 2 }, F).affine, { preset: 'custom', scale: 1 / 255, mean: [0.25], std: [2] });
  refused({ image_processor_type: 'ViTImageProcessor', image_std: [0.5, 0, 0.5] }, '"image_std"');
  refused({ image_processor_type: 'ViTImageProcessor', image_mean: [0.5, 0.5] }, '"image_mean"');
  refused({ image_processor_type: 'ViTImageProcessor', rescale_factor: -1 }, '"rescale_factor"');
  refused({ image_processor_type: 'ViTImageProcessor', do_normalize: 'yes' }, '"do_normalize"');
});

test('Fast and Pil variants read as the slow processor, with a note', () => {
  const spec = huggingFacePipeline({ image_processor_type: 'ViTImageProcessorFast' }, F);
  assert.equal(spec.name, 'huggingface (ViTImageProcessor)');
  assert.match(spec.source ?? '', /saved as ViTImageProcessorFast; the slow processor's PIL arithmetic is used/);
  assert.equal(huggingFacePipeline({ image_processor_type: 'CLIPImageProcessorPil' }, F).name, 'huggingface (CLIPImageProcessor)');
  // image_processor_type wins over feature_extractor_type.
  assert.equal(huggingFacePipeline({ image_processor_type: 'DeiTImageProcessor', feature_extractor_type: 'ViTFeatureExtractor' }, F).name, 'huggingface (DeiTImageProcessor)');
});

test('an unknown type: BaseImageProcessor meaning, with a note; its own defaults are not guessed', () => {
  const full = {
    image_processor_type: 'BitImageProcessor', do_resize: true, size: { shortest_edge: 224 }, do_center_crop: true,
    crop_size: { height: 224, width: 224 }, do_rescale: true, do_normalize: true, image_mean: CLIP.mean, image_std: CLIP.std,
  };
  const spec = huggingFacePipeline(full, F);
  assert.equal(spec.name, 'huggingface (BitImageProcessor)');
  assert.match(spec.source ?? '', /not a processor Saliency Lens knows; read with BaseImageProcessor's meaning/);
  // PilBackend.resize: resample None -> BILINEAR; rescale_factor class default 1/255.
  assert.deepEqual(spec.resize, { edge: 'shorter', size: 224, interpolation: 'bilinear', ...PIL });
  assert.deepEqual(spec.affine, { preset: 'custom', scale: 1 / 255, ...CLIP });
  // BaseImageProcessor.default_to_square = True: an int size is a square.
  assert.deepEqual(huggingFacePipeline({ ...full, size: 240 }, F).resize.size, [240, 240]);
  // A missing step switch or size is the unknown class's own default: refused, naming the key.
  for (const key of ['do_resize', 'do_center_crop', 'do_rescale', 'do_normalize', 'size', 'image_mean']) {
    const partial: Record<string, unknown> = { ...full };
    delete partial[key];
    refused(partial, `"${key}"`);
  }
  // No type at all is the same.
  assert.equal(huggingFacePipeline({ ...full, image_processor_type: undefined }, F).name, 'huggingface (BaseImageProcessor)');
});

test('each refusal names the file and the key', () => {
  const vit = { image_processor_type: 'ViTImageProcessor' };
  const clip = { image_processor_type: 'CLIPImageProcessor' };
  refused({ ...vit, do_resize: false }, '"do_resize"', "model's input size");
  refused({ ...clip, size: { shortest_edge: 224, longest_edge: 448 } }, '"size"', 'longest_edge');
  refused({ ...clip, size: { longest_edge: 448 } }, '"size"', 'longest_edge');
  refused({ ...clip, size: { max_height: 448, max_width: 448 } }, '"size"', 'max_height');
  refused({ ...clip, size: { height: 224 } }, '"size"');
  refused({ ...clip, size: 0 }, '"size"');
  refused({ ...clip, size: 2.5 }, '"size"');
  refused({ ...vit, size: { shortest_edge: 224 } }, '"size"', 'ViTImageProcessor');
  refused({ image_processor_type: 'ConvNextImageProcessor', size: { height: 224, width: 224 } }, '"size"', 'ConvNextImageProcessor');
  refused({ image_processor_type: 'ConvNextImageProcessor', size: 224, crop_pct: 1.5 }, '"crop_pct"');
  refused({ image_processor_type: 'ConvNextImageProcessor', size: 224, do_center_crop: true }, '"do_center_crop"');
  refused({ ...vit, do_pad: true }, '"do_pad"');
  refused({ ...vit, do_flip_channel_order: true }, '"do_flip_channel_order"');
  refused({ ...vit, size_divisor: 32 }, '"size_divisor"');
  refused({ ...clip, default_to_square: true, size: 224 }, '"default_to_square"');
  refused({ ...vit, do_convert_rgb: 'no' }, '"do_convert_rgb"');
  refused({ ...vit, image_processor_type: 42 }, '"image_processor_type"');
  refused({ image_processor_type: 'SomeImageProcessor', do_resize: true, size: 224, do_center_crop: false, do_rescale: true, do_normalize: false, crop_pct: 0.9 }, '"crop_pct"');
  refused([1, 2], 'JSON object');
  // Keys that are off, and bookkeeping keys, pass.
  assert.doesNotThrow(() => huggingFacePipeline({ ...vit, do_pad: false, pad_size: null, processor_class: 'X', _processor_class: null, use_fast: true, do_reduce_labels: true }, F));
});

test('unreadable files: malformed JSON, a missing file, and a 2 MB file refused before parsing', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hfcfg-'));
  try {
    const bad = path.join(dir, HF_PREPROCESSOR_FILE);
    fs.writeFileSync(bad, '{"size": 224,');
    assert.throws(() => readHuggingFacePipeline(bad), (e: unknown) => e instanceof UserError && e.message.startsWith(`${bad}: is not valid JSON`));
    assert.throws(() => readHuggingFacePipeline(path.join(dir, 'missing.json')), (e: unknown) => e instanceof UserError && /cannot be read/.test(e.message));
    assert.throws(() => readHuggingFacePipeline(dir), (e: unknown) => e instanceof UserError && /not a regular file|cannot be read/.test(e.message));
    // Not JSON either: a parse would say "not valid JSON"; the size check must come first.
    const big = path.join(dir, 'big.json');
    fs.writeFileSync(big, Buffer.alloc(2 * 1024 * 1024, 0x7b));
    assert.throws(() => readHuggingFacePipeline(big), (e: unknown) => e instanceof UserError && /is 2097152 bytes, more than the 1048576 bytes/.test(e.message));
    // A byte-order mark, as some editors write, is not an error.
    const bom = path.join(dir, 'bom.json');
    fs.writeFileSync(bom, '\ufeff{"image_processor_type": "ViTImageProcessor"}');
    assert.equal(readHuggingFacePipeline(bom).name, 'huggingface (ViTImageProcessor)');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
