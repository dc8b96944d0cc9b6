/**
 * WebP, TIFF and 16-bit images, EXIF orientation, and the CLI's overlay pictures at a viewable size.
 *
 * Fixtures: test/fixtures/images/, written by scripts/images/make_image_fixtures.py with Debian's PIL and numpy
 * from a real photo (skimage's astronaut). Every expected pixel comes from there (PIL's own decodes, numpy's
 * arrays, PNGs read here with pngjs), never from the decoders under test.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import { UserError } from '../../src/engine/errors';
import { loadImage, loadImageFile, realSize } from '../../src/engine/image/load';
import { displayCopyOf } from '../../src/engine/image/display';
import { decodeToSize, sharpIfAvailable } from '../../src/engine/image/sharpCodec';
import { imageToTensor, parsePreprocessing } from '../../src/engine/image/preprocess';
import { decodeImage, type DecodedImage } from '../../src/engine/image/decode';
import { decodeNpyFloat32 } from '../../src/engine/io/npy';
import { overlayRgba } from '../../src/engine/io/writeExplanation';
import type { AttributionMap } from '../../src/engine/methods/types';
import { main } from '../../src/cli';
import { cleanupTempDirs, tempDir } from './helpers';

after(cleanupTempDirs);

const FIXTURES = 'test/fixtures/images';
const fixture = (name: string) => path.join(FIXTURES, name);

/** A PNG written by PIL, read with pngjs (8-bit RGBA). */
function pngPixels(name: string): { width: number; height: number; data: Uint8Array } {
  const png = PNG.sync.read(fs.readFileSync(fixture(name)));
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}

/** A little-endian uint16 .npy written by numpy. */
function npyU16(name: string): { shape: number[]; data: Uint16Array } {
  const buf = fs.readFileSync(fixture(name));
  const headerLength = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + headerLength).toString('latin1');
  assert.match(header, /'descr': '<u2'/);
  assert.match(header, /'fortran_order': False/);
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const body = buf.subarray(10 + headerLength);
  const data = new Uint16Array(body.length / 2);
  for (let i = 0; i < data.length; i++) data[i] = body.readUInt16LE(2 * i);
  return { shape, data };
}

/** RGB differences between an image and `ref` (RGBA, `ref` read from row `refTop` of a taller picture). */
function rgbDiff(img: { width: number; height: number; data: Uint8Array }, ref: { width: number; data: Uint8Array }, refTop = 0): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(img.data[(y * img.width + x) * 4 + c] - ref.data[((y + refTop) * ref.width + x) * 4 + c]);
        max = Math.max(max, d);
        sum += d;
      }
    }
  }
  return { max, mean: sum / (img.width * img.height * 3) };
}

function assertOpaque(img: DecodedImage): void {
  for (let i = 3; i < img.data.length; i += 4) assert.equal(img.data[i], 255, `alpha at ${i}`);
  if (img.data16) for (let i = 3; i < img.data16.length; i += 4) assert.equal(img.data16[i], 65535, `16-bit alpha at ${i}`);
}

/** The RGB samples of a decoded 16-bit image, in the order of a numpy (H, W, 3) array. */
function rgb16Of(img: DecodedImage): number[] {
  assert.ok(img.data16, 'the 16-bit samples are kept');
  return Array.from(img.data16.filter((_, i) => i % 4 !== 3));
}

describe('WebP', () => {
  it('lossless decodes to the source pixels exactly', async () => {
    const img = await loadImageFile(fixture('lossless.webp'));
    const photo = pngPixels('photo.png');
    assert.equal(img.format, 'webp');
    assert.deepEqual([img.width, img.height], [photo.width, photo.height]);
    assert.deepEqual(rgbDiff(img, photo), { max: 0, mean: 0 });
    assertOpaque(img);
  });

  it("lossy decodes within 2 levels (mean 0.5) of PIL's own decode, and is not the source", async () => {
    const img = await loadImageFile(fixture('lossy.webp'));
    const pil = pngPixels('lossy.pil.png');
    const d = rgbDiff(img, pil);
    // Both are libwebp (sharp ships 1.6, Debian's PIL its own); different releases may round a sample differently.
    assert.ok(d.max <= 2 && d.mean <= 0.5, `against PIL: ${JSON.stringify(d)}`);
    assert.ok(rgbDiff(img, pngPixels('photo.png')).mean > 1, 'quality 80 loses detail: the comparison can tell');
  });
});

describe('TIFF and 16-bit PNG', () => {
  it('an 8-bit RGB TIFF decodes to the source pixels exactly, without 16-bit samples', async () => {
    const img = await loadImageFile(fixture('rgb8.tif'));
    assert.equal(img.format, 'tiff');
    assert.deepEqual(rgbDiff(img, pngPixels('photo.png')), { max: 0, mean: 0 });
    assert.equal(img.data16, undefined);
    assertOpaque(img);
  });

  it('a 16-bit grey TIFF keeps the array written, exactly, on every colour channel', async () => {
    const img = await loadImageFile(fixture('grey16.tif'));
    const { shape, data } = npyU16('grey16.npy');
    assert.deepEqual([img.height, img.width], shape);
    assert.deepEqual(rgb16Of(img), Array.from(data).flatMap((v) => [v, v, v]));
    assertOpaque(img);
  });

  for (const name of ['rgb16.tif', 'rgb16.png']) {
    it(`${name}: 16-bit RGB samples exactly as written, and 8-bit ones rounded from them`, async () => {
      const img = await loadImageFile(fixture(name));
      const { shape, data } = npyU16('rgb16.npy');
      assert.deepEqual([img.height, img.width, 3], shape);
      assert.deepEqual(rgb16Of(img), Array.from(data));
      // The 8-bit copy (display, overlays): each sample to the nearest of 0..255, v·255/65535.
      const eight = Array.from(img.data.filter((_, i) => i % 4 !== 3));
      assert.deepEqual(eight, Array.from(data).map((v) => Math.round((v * 255) / 65535)));
      assertOpaque(img);
    });
  }

  it('a 32-bit floating-point TIFF is refused in one sentence', async () => {
    const file = fixture('float32.tif');
    const err = await loadImageFile(file).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UserError);
    assert.equal(err.message, `${file}: a TIFF with 32-bit floating-point samples is not supported; save it with unsigned 8- or 16-bit samples`);
  });
});

describe('16-bit samples reach the model at full precision', () => {
  const near = npyU16('near16.npy'); // (2, H, W, 3)
  const [, h, w] = near.shape;
  const values = (t: tf.Tensor) => {
    const v = Array.from(t.dataSync());
    t.dispose();
    return v;
  };

  it('two images that differ only below 1/255 look the same in 8 bits and give different inputs, v/65535 under the preset', async () => {
    const a = await loadImageFile(fixture('near16-a.png'));
    const b = await loadImageFile(fixture('near16-b.png'));
    assert.deepEqual(Array.from(a.data), Array.from(b.data), 'the same 8-bit pixels (what the panel shows)');
    const spec = { height: h, width: w, channels: 3 as const };
    const n = h * w * 3;
    for (const [k, img] of [a, b].entries()) {
      const expected = Array.from(near.data.subarray(k * n, (k + 1) * n));
      const unit = values(imageToTensor(img, spec, parsePreprocessing('unit')));
      unit.forEach((v, i) => assert.ok(Math.abs(v - expected[i] / 65535) <= 1e-6, `unit [${i}]: ${v} vs ${expected[i] / 65535}`));
      const mean = [0.485, 0.456, 0.406];
      const std = [0.229, 0.224, 0.225];
      const imagenet = values(imageToTensor(img, spec, parsePreprocessing('imagenet')));
      imagenet.forEach((v, i) => {
        const want = (expected[i] / 65535 - mean[i % 3]) / std[i % 3];
        assert.ok(Math.abs(v - want) <= 1e-5, `imagenet [${i}]: ${v} vs ${want}`);
      });
    }
    const ua = values(imageToTensor(a, spec, parsePreprocessing('unit')));
    const ub = values(imageToTensor(b, spec, parsePreprocessing('unit')));
    assert.ok(ua.every((v, i) => ub[i] - v > 100 / 65535), 'every input differs by the 120/65535 written');
  });
});

describe('EXIF orientation', () => {
  const upright = pngPixels('orient-upright.png'); // PIL's exif_transpose decodes, 48×32 each, stacked
  const stored = pngPixels('orient-stored.png'); // PIL's plain decodes, each in a 48×48 cell

  for (let n = 1; n <= 8; n++) {
    it(`orientation ${n}: upright by default, as PIL's exif_transpose; as stored when turned off`, async () => {
      const file = fixture(`orient-${n}.jpg`);
      const img = await loadImageFile(file);
      assert.deepEqual([img.width, img.height], [48, 32], 'the upright size');
      assert.deepEqual(realSize(img), { width: 48, height: 32 });
      assert.deepEqual(img.orientation, n === 1 ? undefined : { stated: n, applied: true });
      // JPEG tolerance: sharp's libjpeg-turbo and Debian's (PIL's) may round differently; jpeg-js, the fallback where
      // sharp cannot load, upsamples chroma otherwise (measured: max 12, mean 1.05).
      const own = rgbDiff(img, upright, 32 * (n - 1));
      assert.ok(own.max <= 16 && own.mean <= 1.5, `against PIL's upright decode: ${JSON.stringify(own)}`);
      // All eight show the same upright photo (each file's own compression on top).
      const common = rgbDiff(img, upright, 0);
      assert.ok(common.mean <= 3, `against orientation 1's upright decode: ${JSON.stringify(common)}`);

      const off = await loadImageFile(file, { exifOrientation: false });
      assert.deepEqual([off.width, off.height], n >= 5 ? [32, 48] : [48, 32], 'the stored size');
      assert.deepEqual(off.orientation, n === 1 ? undefined : { stated: n, applied: false });
      const raw = rgbDiff(off, stored, 48 * (n - 1));
      assert.ok(raw.max <= 16 && raw.mean <= 1.5, `against PIL's plain decode: ${JSON.stringify(raw)}`);
    });
  }

  it('the checks above can tell the turns apart: orientations 6 and 8 store pixels far apart (a swap would fail)', async () => {
    const six = await loadImageFile(fixture('orient-6.jpg'), { exifOrientation: false });
    const eight = await loadImageFile(fixture('orient-8.jpg'), { exifOrientation: false });
    assert.ok(rgbDiff(six, { width: 32, data: eight.data }).mean > 20);
  });

  for (const name of ['orient-6.webp', 'orient-6.png', 'orient-6.tif']) {
    it(`${name} (lossless, orientation 6 in its ${name.endsWith('webp') ? 'EXIF chunk' : name.endsWith('png') ? 'eXIf chunk' : 'own directory'}) decodes upright, exactly`, async () => {
      const img = await loadImageFile(fixture(name));
      assert.deepEqual([img.width, img.height], [48, 32]);
      assert.deepEqual(rgbDiff(img, pngPixels('face.png')), { max: 0, mean: 0 });
      const off = await loadImageFile(fixture(name), { exifOrientation: false });
      assert.deepEqual([off.width, off.height], [32, 48]);
    });
  }

  it('the panel is shown the pixels the maps lie over: upright by default, as stored when turned off', async () => {
    const bytes = new Uint8Array(fs.readFileSync(fixture('orient-6.jpg')));
    for (const apply of [true, false]) {
      const copy = await displayCopyOf(bytes, 'orient-6.jpg', () => loadImage(bytes, 'orient-6.jpg', { exifOrientation: apply }));
      const m = /^data:image\/(png|jpeg);base64,/.exec(copy.dataUrl);
      assert.ok(m, 're-encoded, not the file (a browser would turn the file whatever the engine did)');
      assert.deepEqual([copy.width, copy.height], apply ? [48, 32] : [32, 48]);
    }
    const plain = new Uint8Array(fs.readFileSync(fixture('orient-1.jpg')));
    const copy = await displayCopyOf(plain, 'orient-1.jpg', () => loadImage(plain, 'orient-1.jpg'));
    assert.equal(copy.dataUrl, `data:image/jpeg;base64,${Buffer.from(plain).toString('base64')}`, 'an upright file goes as itself');
  });
});

describe('corrupt and truncated files: one sentence naming the file', () => {
  async function refusal(bytes: Uint8Array, file: string): Promise<string> {
    const err = await loadImage(bytes, file).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UserError, `${file}: expected a UserError, got ${err === undefined ? 'a decoded image' : String(err)}`);
    assert.doesNotMatch(err.message, /\n|\bat .*:\d+:\d+/, 'one line, no stack');
    return err.message;
  }

  const cases: [string, string][] = [
    ['lossless.webp', 'WebP'], ['lossy.webp', 'WebP'], ['rgb8.tif', 'TIFF'], ['grey16.tif', 'TIFF'],
    ['rgb16.tif', 'TIFF'], ['rgb16.png', 'PNG'], ['orient-6.jpg', 'JPEG'], ['orient-6.webp', 'WebP'],
  ];
  // rgb8.tif (written by PIL) ends with its ICC profile: past 72% the cut only loses that (see the next test),
  // so it is cut in its strip (10%, 50%, 70%) and in its directory (72%).
  const shares = (name: string) => (name === 'rgb8.tif' ? [0.1, 0.5, 0.7, 0.72] : [0.1, 0.5, 0.9, 0.99]);
  for (const [name, format] of cases) {
    it(`${name} cut at ${shares(name).map((v) => `${v * 100}%`).join(', ')}`, async () => {
      const full = fs.readFileSync(fixture(name));
      for (const share of shares(name)) {
        const file = `cut-${share}-${name}`;
        const message = await refusal(new Uint8Array(full.subarray(0, Math.floor(full.length * share))), file);
        assert.match(message, new RegExp(`^${file.replace(/\./g, '\\.')}: the ${format} data is truncated or corrupt \\(.*the file ends early\\)$`));
      }
    });
  }

  it('a TIFF cut inside a tag the decoder does not read (its ICC profile) decodes, the pixels exact', async () => {
    const full = fs.readFileSync(fixture('rgb8.tif'));
    const img = await loadImage(new Uint8Array(full.subarray(0, Math.floor(full.length * 0.99))), 'cut-icc.tif');
    assert.deepEqual(rgbDiff(img, pngPixels('photo.png')), { max: 0, mean: 0 });
  });

  it('damaged data inside each format', async () => {
    const damaged = (name: string, at: (b: Buffer) => number, length: number, value = 0xff) => {
      const b = Buffer.from(fs.readFileSync(fixture(name)));
      b.fill(value, at(b), at(b) + length);
      return new Uint8Array(b);
    };
    const messages = [
      // The lossy frame's start code (bytes 23–25 of a simple WebP), and the lossless bit stream's middle.
      await refusal(damaged('lossy.webp', () => 23, 3, 0), 'bad-start.webp'),
      await refusal(damaged('lossless.webp', (b) => b.length >> 1, 200), 'bad-stream.webp'),
      // The deflate stream of the TIFF's strip, and its first directory's offset.
      await refusal(damaged('rgb8.tif', () => 8, 64), 'bad-strip.tif'),
      await refusal(damaged('rgb16.tif', () => 4, 4), 'bad-ifd.tif'),
      // A byte of the 16-bit PNG's image data (its CRC no longer matches).
      await refusal(damaged('rgb16.png', (b) => b.length >> 1, 1, 0x55), 'bad-crc.png'),
    ];
    // A JPEG cut short with an end marker glued on: libjpeg only warns (sharp runs strict), jpeg-js refuses it.
    const jpg = fs.readFileSync(fixture('orient-6.jpg'));
    messages.push(await refusal(new Uint8Array(Buffer.concat([jpg.subarray(0, Math.floor(jpg.length * 0.7)), Buffer.from([0xff, 0xd9])])), 'patched.jpg'));
    const files = ['bad-start.webp', 'bad-stream.webp', 'bad-strip.tif', 'bad-ifd.tif', 'bad-crc.png', 'patched.jpg'];
    messages.forEach((m, i) => assert.match(m, new RegExp(`^${files[i].replace(/\./g, '\\.')}: the (WebP|TIFF|PNG|JPEG) data is truncated or corrupt \\(.+\\)$`), m));
  });
});

describe('the size guards read WebP and TIFF headers before any pixel is decoded', () => {
  async function refusal(bytes: Uint8Array, file: string): Promise<string> {
    const err = await loadImage(bytes, file).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    return err.message;
  }

  it('a WebP (VP8X header only) of 16383×16383: libwebp would decode the whole frame, beyond the memory bound', async () => {
    const b = Buffer.alloc(30);
    b.write('RIFF', 0, 'latin1');
    b.writeUInt32LE(22, 4);
    b.write('WEBPVP8X', 8, 'latin1');
    b.writeUInt32LE(10, 16);
    b.writeUIntLE(16383 - 1, 24, 3); // canvas width - 1
    b.writeUIntLE(16383 - 1, 27, 3); // canvas height - 1
    const message = await refusal(new Uint8Array(b), 'huge.webp');
    assert.match(message, /^huge\.webp: the image is 16383×16383 \(268\.4 megapixels\); decoding it needs about \d+ MB, more than the 1024 MB memory bound$/);
  });

  it("a JPEG decoded whole by jpeg-js is charged the turned copy orientImage makes too (20 + 4 bytes a pixel)", () => {
    // SOI, a JFIF APP0 (image-size reads the size after one), a baseline frame header of 10000×5000 with 3 components
    // (50 megapixels, 954 MB for jpeg-js alone), a scan header and a few bytes of scan: headers only.
    const app0 = [0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
    const sof = [0xff, 0xc0, 0, 17, 8, 5000 >> 8, 5000 & 0xff, 10000 >> 8, 10000 & 0xff, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1];
    const sos = [0xff, 0xda, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0];
    const bytes = new Uint8Array([0xff, 0xd8, ...app0, ...sof, ...sos, ...Array(16).fill(0)]);
    assert.throws(() => decodeImage(bytes, 'wide.jpg'), {
      message: `wide.jpg: the image is 10000×5000 (50.0 megapixels); decoding it needs about ${Math.ceil((bytes.length + 24 * 50e6) / 2 ** 20)} MB, more than the 1024 MB memory bound`,
    });
  });

  it('a TIFF (first directory only) of 30000×30000: within the memory bound in strips, beyond the pixel limit', async () => {
    // Little-endian: header, then one directory of width, height, bits per sample, samples per pixel, rows per strip.
    const entries: [number, number, number][] = [[256, 4, 30000], [257, 4, 30000], [258, 3, 8], [277, 3, 1], [278, 4, 16]];
    const b = Buffer.alloc(8 + 2 + 12 * entries.length + 4);
    b.write('II', 0, 'latin1');
    b.writeUInt16LE(42, 2);
    b.writeUInt32LE(8, 4);
    b.writeUInt16LE(entries.length, 8);
    entries.forEach(([tag, type, value], i) => {
      const at = 10 + 12 * i;
      b.writeUInt16LE(tag, at);
      b.writeUInt16LE(type, at + 2);
      b.writeUInt32LE(1, at + 4);
      if (type === 3) b.writeUInt16LE(value, at + 8);
      else b.writeUInt32LE(value, at + 8);
    });
    assert.equal(await refusal(new Uint8Array(b), 'huge.tif'), 'huge.tif: the image is 30000×30000 (900.0 megapixels), more than the 500-megapixel limit for decoding');
  });
});

/**
 * A little-endian TIFF of zeros: `samples` 16-bit (or `bits`) samples per pixel, deflate, in strips of
 * `rowsPerStrip` rows, chunky or one plane per channel. Every strip has the same size, so all point to one
 * deflated strip of zeros: the file stays a few KB however large the image.
 */
function zeroTiff(o: { width: number; height: number; samples: number; planar: boolean; rowsPerStrip: number; bits?: number }): Uint8Array {
  const bits = o.bits ?? 16;
  assert.equal(o.height % o.rowsPerStrip, 0, 'whole strips only');
  const perStrip = (o.planar ? 1 : o.samples) * Math.ceil((o.width * bits) / 8) * o.rowsPerStrip;
  const strip = zlib.deflateSync(Buffer.alloc(perStrip), { level: 1 });
  const strips = (o.planar ? o.samples : 1) * (o.height / o.rowsPerStrip);
  const tags: [number, number, number[]][] = [ // tag, type (3 SHORT, 4 LONG), values
    [256, 4, [o.width]], [257, 4, [o.height]], [258, 3, Array(o.samples).fill(bits)], [259, 3, [8]], [262, 3, [o.samples >= 3 ? 2 : 1]],
    [273, 4, Array(strips).fill(0)], [277, 3, [o.samples]], [278, 4, [o.rowsPerStrip]], [279, 4, Array(strips).fill(strip.length)],
    [284, 3, [o.planar ? 2 : 1]], ...(o.samples === 4 ? [[338, 3, [2]] as [number, number, number[]]] : []),
  ];
  const dirSize = 2 + 12 * tags.length + 4;
  const outside = tags.map(([, type, v]) => (v.length * (type === 3 ? 2 : 4) > 4 ? v.length * (type === 3 ? 2 : 4) : 0));
  const dataAt = 8 + dirSize + outside.reduce((a, b) => a + b, 0);
  const b = Buffer.alloc(dataAt + strip.length);
  b.write('II', 0, 'latin1');
  b.writeUInt16LE(42, 2);
  b.writeUInt32LE(8, 4);
  b.writeUInt16LE(tags.length, 8);
  let next = 8 + dirSize;
  tags.forEach(([tag, type, values], i) => {
    const at = 10 + 12 * i;
    b.writeUInt16LE(tag, at);
    b.writeUInt16LE(type, at + 2);
    b.writeUInt32LE(values.length, at + 4);
    if (tag === 273) values = values.map(() => dataAt);
    let to = at + 8;
    if (outside[i]) {
      b.writeUInt32LE(next, at + 8);
      to = next;
      next += outside[i];
    }
    values.forEach((v, k) => (type === 3 ? b.writeUInt16LE(v, to + 2 * k) : b.writeUInt32LE(v, to + 4 * k)));
  });
  strip.copy(b, dataAt);
  return new Uint8Array(b);
}

describe('a TIFF is charged the strip libtiff decodes whole, read from its directory', () => {
  // 16-bit RGBA stored as four planes, 8320×8192: one strip per plane is 136 MB of samples, and libvips holds all
  // four planes and their interleaved copy at once (measured: a 12000×12000 16-bit RGB TIFF of 840 KB, one strip
  // per plane, peaked at 1.69 GB RSS, estimated 2097 MB; in 16-row strips at 396 MB. This one in 16-row strips:
  // 370 MB peak RSS, estimated 444 MB).
  const size = { width: 8320, height: 8192, samples: 4, planar: true };

  it('in one strip per plane (four 136 MB planes and their interleaved copy: 1040 MB, more than the bound alone) it is refused from the header, in one sentence', async () => {
    const bomb = zeroTiff({ ...size, rowsPerStrip: 8192 });
    assert.ok(bomb.length < 1_000_000, `the file is under 1 MB (${bomb.length} bytes)`);
    const err = await loadImage(bomb, 'bomb.tif').then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    const m = /^bomb\.tif: the image is 8320×8192 \(68\.2 megapixels\); decoding it needs about (\d+) MB, more than the 1024 MB memory bound$/.exec(err.message);
    assert.ok(m, err.message);
    assert.ok(Number(m[1]) > 1040, `the strip buffers are charged: ${m[1]} MB`);
  });

  it('the same image in 16-row strips decodes (shrunk on load to the working size)', async () => {
    const img = await loadImage(zeroTiff({ ...size, rowsPerStrip: 16 }), 'strips.tif');
    assert.deepEqual([img.width, img.height, realSize(img).width], [4096, 4033, 8320]);
    assert.ok(img.data16, '16 bits kept');
    assert.equal(img.data16[0], 0);
  });

  it('the synchronous decoder refuses WebP and TIFF in one sentence (they need sharp)', () => {
    assert.throws(() => decodeImage(new Uint8Array(fs.readFileSync(fixture('lossless.webp'))), 'a.webp'), (e: unknown) => e instanceof UserError && /^a\.webp: WebP images need the asynchronous loader/.test(e.message));
  });

  it('12-bit samples (libvips cannot read them) and more than 5 samples per pixel are refused in one sentence', async () => {
    const twelve = zeroTiff({ width: 64, height: 16, samples: 1, planar: false, rowsPerStrip: 16, bits: 12 });
    await assert.rejects(loadImage(twelve, 'twelve.tif'), { message: 'twelve.tif: a TIFF with 12-bit integer samples is not supported; save it with unsigned 8- or 16-bit samples' });
    const many = zeroTiff({ width: 64, height: 16, samples: 7, planar: false, rowsPerStrip: 16, bits: 8 });
    await assert.rejects(loadImage(many, 'many.tif'), { message: 'many.tif: a TIFF with 7 samples per pixel is not supported; save it as grey, RGB or RGBA' });
  });
});

describe('embedded ICC profiles are ignored: every decoder gives the samples as stored', () => {
  it("a Display P3 JPEG decodes to the same pixels as the untagged one, and as PIL's convert('RGB') does", async () => {
    const tagged = await loadImageFile(fixture('photo-p3.jpg'));
    const plain = await loadImageFile(fixture('photo.jpg'));
    assert.deepEqual(rgbDiff(tagged, plain), { max: 0, mean: 0 }, 'the same scan data, the same pixels');
    const pil = rgbDiff(tagged, pngPixels('photo-p3.pil.png'));
    assert.ok(pil.max <= 2 && pil.mean <= 0.5, `against PIL: ${JSON.stringify(pil)}`);
    // The check can tell: a colour-managed decode (sharp's default) moves the pixels.
    const managed = await sharp(fs.readFileSync(fixture('photo-p3.jpg'))).toColourspace('srgb').raw().toBuffer();
    let far = 0;
    for (let i = 0, j = 0; i < managed.length; i++, j++) {
      if (j % 4 === 3) j++;
      far = Math.max(far, Math.abs(managed[i] - tagged.data[j]));
    }
    assert.ok(far > 3, `a colour-managed decode differs by ${far} levels`);
  });

  it('a 16-bit TIFF tagged sRGB keeps the samples written (sharp left alone moves them into Display P3)', async () => {
    const img = await loadImageFile(fixture('rgb16-srgb.tif'));
    assert.deepEqual(rgb16Of(img), Array.from(npyU16('rgb16.npy').data));
  });

  it('a 16-bit PNG tagged sRGB keeps the samples written, through pngjs and through sharp (large files)', async () => {
    const want = Array.from(npyU16('rgb16.npy').data);
    const bytes = new Uint8Array(fs.readFileSync(fixture('rgb16-srgb.png')));
    assert.deepEqual(rgb16Of(await loadImage(bytes, 'rgb16-srgb.png')), want, 'pngjs');
    const s = sharpIfAvailable();
    assert.ok(s, 'sharp loads here');
    const size = { width: 32, height: 24 };
    const viaSharp = await decodeToSize(s, bytes, 'rgb16-srgb.png', 'png', size, size, 16);
    assert.deepEqual(rgb16Of({ ...size, ...viaSharp, format: 'png' }), want, 'sharp');
  });
});

describe('one JPEG damage policy at every size', () => {
  it('a 5000×3000 JPEG cut at 60% with an end marker glued on is refused; whole, it decodes', async () => {
    // The photo tiled to 5000×3000 (a real photo's statistics at a size above the working size).
    const photo = pngPixels('photo.png');
    const [w, h] = [5000, 3000];
    const raw = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const s = ((y % photo.height) * photo.width + (x % photo.width)) * 4;
        const o = (y * w + x) * 3;
        raw[o] = photo.data[s];
        raw[o + 1] = photo.data[s + 1];
        raw[o + 2] = photo.data[s + 2];
      }
    }
    const jpg = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
    const whole = await loadImage(new Uint8Array(jpg), 'big.jpg');
    assert.deepEqual([whole.width, whole.height, realSize(whole).width], [4096, 2458, 5000]);
    const cut = Buffer.concat([jpg.subarray(0, Math.floor(jpg.length * 0.6)), Buffer.from([0xff, 0xd9])]);
    const err = await loadImage(new Uint8Array(cut), 'big-cut.jpg').then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UserError, `expected a UserError, got ${err === undefined ? 'a decoded image' : String(err)}`);
    assert.match(err.message, /^big-cut\.jpg: the JPEG data is truncated or corrupt \(.+\)$/);
  });
});

describe('CLI overlays at a viewable size', () => {
  const MODEL = 'examples/mnist-cnn-onnx/model.onnx';
  async function cli(args: string[]): Promise<void> {
    const log = console.log;
    console.log = () => undefined;
    try {
      assert.equal(await main(args), 0);
    } finally {
      console.log = log;
    }
  }

  it("a 28×28 digit's overlay is its nearest-neighbour blow-up to 532×532; the .npy stays 28×28", async () => {
    const out = tempDir('saliency-overlay-');
    await cli(['explain', '--model', MODEL, '--image', 'examples/digits/digit-0-0.png', '--method', 'saliency', '--out', out]);
    const picture = PNG.sync.read(fs.readFileSync(path.join(out, 'digit-0-0.saliency.png')));
    assert.deepEqual([picture.width, picture.height], [532, 532], '19× the digit: at least 512 px, whole factor');
    const npy = decodeNpyFloat32(fs.readFileSync(path.join(out, 'digit-0-0.saliency.npy')));
    assert.deepEqual(npy.shape, [28, 28]);
    // The 28×28 overlay, drawn from the saved map over the digit as read by pngjs.
    const digit = PNG.sync.read(fs.readFileSync('examples/digits/digit-0-0.png'));
    const map = { data: npy.data, width: 28, height: 28, signed: false } as unknown as AttributionMap;
    const small = overlayRgba({ width: 28, height: 28, data: new Uint8Array(digit.data) }, map, { colormap: 'jet', opacity: 0.5 });
    for (let y = 0; y < 532; y++) {
      for (let x = 0; x < 532; x++) {
        const o = (y * 532 + x) * 4;
        const s = (Math.floor(y / 19) * 28 + Math.floor(x / 19)) * 4;
        for (let c = 0; c < 4; c++) if (picture.data[o + c] !== small[s + c]) assert.fail(`pixel (${x}, ${y}) channel ${c}: ${picture.data[o + c]} vs ${small[s + c]}`);
      }
    }
  });

  it('--no-exif-orientation explains a photo as stored (the saved map has the stored shape)', async () => {
    for (const [flag, shape] of [[[], [32, 48]], [['--no-exif-orientation'], [48, 32]]] as const) {
      const out = tempDir('saliency-exif-');
      await cli(['explain', '--model', MODEL, '--image', fixture('orient-6.jpg'), '--method', 'saliency', '--out', out, ...flag]);
      assert.deepEqual(decodeNpyFloat32(fs.readFileSync(path.join(out, 'orient-6.saliency.npy'))).shape, shape);
      const picture = PNG.sync.read(fs.readFileSync(path.join(out, 'orient-6.saliency.png')));
      const factor = Math.ceil(512 / 48);
      assert.deepEqual([picture.height, picture.width], [shape[0] * factor, shape[1] * factor]);
    }
  });
});
