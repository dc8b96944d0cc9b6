/**
 * Large images: decoded downscaled (aspect ratio and positions kept, real size reported), refused from the
 * header when they cannot be decoded within the memory bound, and shown through a display-sized copy.
 * Every big fixture is generated into a temp dir at run time (encoded with pngjs, jpeg-js and bmp-js, not
 * with the decoders under test).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import * as bmp from 'bmp-js';
import { UserError } from '../../src/engine/errors';
import { DISPLAY_LONG_SIDE, MEMORY_BOUND_BYTES, WORKING_LONG_SIDE } from '../../src/engine/image/budget';
import { decodeImage, type DecodedImage } from '../../src/engine/image/decode';
import { areaDownscale } from '../../src/engine/image/downscale';
import { loadImage, loadImageFile, realSize } from '../../src/engine/image/load';
import { displayCopyOf } from '../../src/engine/image/display';
import { ExplainService } from '../../src/engine/service';
import { base64ToFloat32 } from '../../src/shared/protocol';

let dir = '';
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-lens-bigimage-'));
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// A 2:1 picture larger than the working bound: dark grey with a white square at a known place.
const W = 4400;
const H = 2200;
const SQUARE = { x0: 3300, x1: 3740, y0: 550, y1: 990 };

function squarePicture(width: number, height: number, sq: typeof SQUARE): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = x >= sq.x0 && x < sq.x1 && y >= sq.y0 && y < sq.y1;
      data.set(inside ? [255, 255, 255, 255] : [40, 40, 40, 255], (y * width + x) * 4);
    }
  }
  return data;
}

function encodePng(width: number, height: number, data: Uint8Array): Buffer {
  const png = new PNG({ width, height });
  png.data = Buffer.from(data);
  return PNG.sync.write(png, { deflateLevel: 1 });
}

/** Bounding box of the bright pixels, as fractions of the image's width and height. */
function brightBox(img: { width: number; height: number; data: Uint8Array }): { x0: number; x1: number; y0: number; y1: number } {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (img.data[(y * img.width + x) * 4] > 147) { // above the midpoint of 40 and 255
        x0 = Math.min(x0, x); x1 = Math.max(x1, x + 1); y0 = Math.min(y0, y); y1 = Math.max(y1, y + 1);
      }
    }
  }
  return { x0: x0 / img.width, x1: x1 / img.width, y0: y0 / img.height, y1: y1 / img.height };
}

function assertSquareKept(img: DecodedImage, what: string): void {
  assert.deepEqual(realSize(img), { width: W, height: H }, `${what}: the real size is reported`);
  assert.equal(Math.max(img.width, img.height), WORKING_LONG_SIDE, `${what}: the long side is the working bound`);
  assert.equal(img.width / img.height, W / H, `${what}: aspect ratio kept`);
  assert.equal(img.data.length, img.width * img.height * 4);
  const box = brightBox(img);
  const expected = { x0: SQUARE.x0 / W, x1: SQUARE.x1 / W, y0: SQUARE.y0 / H, y1: SQUARE.y1 / H };
  // One working pixel of slack at each edge: the edge pixel straddles the square's border.
  for (const k of ['x0', 'x1', 'y0', 'y1'] as const) {
    const pixel = k.startsWith('x') ? 1 / img.width : 1 / img.height;
    assert.ok(Math.abs(box[k] - expected[k]) <= pixel, `${what}: ${k} at ${box[k]}, expected ${expected[k]}`);
  }
}

describe('large images decode downscaled', () => {
  const picture = squarePicture(W, H, SQUARE);

  it('a PNG over the working bound keeps its aspect ratio and the square where it was', async () => {
    const file = path.join(dir, 'big.png');
    fs.writeFileSync(file, encodePng(W, H, picture));
    assertSquareKept(await loadImageFile(file), 'PNG');
  });

  it('a JPEG (shrunk on load) likewise', async () => {
    const file = path.join(dir, 'big.jpg');
    fs.writeFileSync(file, jpeg.encode({ width: W, height: H, data: picture }, 95).data);
    assertSquareKept(await loadImageFile(file), 'JPEG');
  });

  it('a BMP (whole decode within the bound, then area-downscaled) likewise', async () => {
    const abgr = Buffer.alloc(W * H * 4);
    for (let i = 0; i < W * H; i++) abgr.set([255, picture[i * 4 + 2], picture[i * 4 + 1], picture[i * 4]], i * 4);
    const file = path.join(dir, 'big.bmp');
    fs.writeFileSync(file, bmp.encode({ width: W, height: H, data: abgr }).data);
    assertSquareKept(await loadImageFile(file), 'BMP');
  });

  it('a cut-off large PNG or JPEG is refused in one sentence, not decoded in part', async () => {
    for (const [name, format] of [['big.png', 'PNG'], ['big.jpg', 'JPEG']]) {
      const bytes = fs.readFileSync(path.join(dir, name));
      const cut = new Uint8Array(bytes.subarray(0, Math.floor(bytes.length * 0.9)));
      const err = await loadImage(cut, `cut-${name}`).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof UserError, `${name}: expected a UserError, got ${String(err)}`);
      assert.ok(err.message.startsWith(`cut-${name}: the ${format} data is truncated or corrupt (`), err.message);
    }
  });

  it('an image within the working bound decodes exactly as before (full size, no `original`)', async () => {
    const small = squarePicture(400, 200, { x0: 300, x1: 340, y0: 50, y1: 90 });
    const bytes = encodePng(400, 200, small);
    const img = await loadImage(bytes, 'small.png');
    assert.equal(img.original, undefined);
    assert.deepEqual(Array.from(img.data), Array.from(decodeImage(bytes, 'small.png').data));
  });

  it('area downscaling averages the covered area, weighting colour by alpha', () => {
    // 3×1 -> 2×1: cell 0 = pixel 0 + half of pixel 1, cell 1 = half of pixel 1 + pixel 2.
    const src = { width: 3, height: 1, data: Uint8Array.from([200, 0, 0, 255, 0, 0, 0, 0, 0, 90, 0, 255]) };
    const out = areaDownscale(src, { width: 2, height: 1 });
    // The transparent middle pixel's colour does not count; its transparency does (alpha 255·1/1.5).
    assert.deepEqual(Array.from(out), [200, 0, 0, 170, 0, 90, 0, 170]);
  });
});

describe('the same picture at its normal size and 160× larger explains the same', () => {
  it('same predictions and maps (within tolerance); the large one reports its real size', async () => {
    const digit = decodeImage(fs.readFileSync('examples/digits/digit-3-4.png'), 'digit.png');
    const k = 160; // 28 px -> 4480 px: over the working bound, so it is downscaled before the model sees it
    const bw = digit.width * k;
    const bh = digit.height * k;
    const big = new Uint8Array(bw * bh * 4);
    for (let y = 0; y < bh; y++) {
      const row = Math.floor(y / k) * digit.width;
      for (let x = 0; x < bw; x++) big.set(digit.data.subarray((row + Math.floor(x / k)) * 4, (row + Math.floor(x / k)) * 4 + 4), (y * bw + x) * 4);
    }
    const bigFile = path.join(dir, 'digit-big.png');
    fs.writeFileSync(bigFile, encodePng(bw, bh, big));

    const service = new ExplainService();
    try {
      const params = { modelPath: 'examples/mnist-cnn-onnx/model.onnx', methods: ['saliency', 'gradcam'] as const };
      const normal = await service.explain({ ...params, methods: [...params.methods], imagePath: 'examples/digits/digit-3-4.png' });
      const large = await service.explain({ ...params, methods: [...params.methods], imagePath: bigFile });
      assert.equal(large.imageWidth, bw, 'the real width travels');
      assert.equal(large.imageHeight, bh, 'the real height travels');
      assert.equal(large.target.index, normal.target.index, 'same top class');
      normal.predictions.forEach((p, i) => {
        assert.equal(large.predictions[i].index, p.index);
        assert.ok(Math.abs(large.predictions[i].probability - p.probability) < 1e-3, `class ${p.index}: ${large.predictions[i].probability} vs ${p.probability}`);
      });
      for (const method of params.methods) {
        const a = normal.maps.find((m) => m.method === method)!;
        const b = large.maps.find((m) => m.method === method)!;
        assert.deepEqual([b.width, b.height], [a.width, a.height]);
        const va = base64ToFloat32(a.data);
        const vb = base64ToFloat32(b.data);
        const scale = Math.max(...va.map(Math.abs)) || 1;
        const worst = va.reduce((m, v, i) => Math.max(m, Math.abs(v - vb[i])), 0);
        assert.ok(worst / scale < 0.02, `${method}: largest difference ${worst} of ${scale}`);
      }
    } finally {
      service.dispose();
    }
  });
});

/** A PNG of a signature and an IHDR only (no pixel data): any decoder that ran on it would fail on that instead. */
function headerOnlyPng(name: string, width: number, height: number, o: { depth: number; colorType: number; interlaced: boolean }): string {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([o.depth, o.colorType, 0, 0, o.interlaced ? 1 : 0], 8);
  const chunk = Buffer.concat([Buffer.from('IHDR'), ihdr]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(chunk) >>> 0);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(13);
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), len, chunk, crc]));
  return file;
}

describe('an image beyond the memory bound', () => {
  it('is refused from its header, in one sentence naming the file, its size and the bound', async () => {
    // Signature and an interlaced IHDR only: an interlaced PNG is decoded whole, 60000×40000 RGBA 16-bit is far
    // beyond the bound. There is no pixel data, so any decoder that ran would fail on that instead.
    const file = headerOnlyPng('enormous.png', 60000, 40000, { depth: 16, colorType: 6, interlaced: true });
    const err = await loadImageFile(file).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    const bound = `${MEMORY_BOUND_BYTES / 2 ** 20} MB`;
    assert.match(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the image is 60000×40000 \\(2400\\.0 megapixels\\); decoding it needs about \\d+ MB, more than the ${bound} memory bound$`));
    assert.doesNotMatch(err.message, /\n/);
  });

  it('an image within the memory bound but beyond the pixel limit is refused from its header (decode time grows with pixels)', async () => {
    // 30000×30000 8-bit RGB, not interlaced: sharp would stream it in little memory, but 900 megapixels take long.
    const file = headerOnlyPng('wide-but-light.png', 30000, 30000, { depth: 8, colorType: 2, interlaced: false });
    const err = await loadImageFile(file).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.equal(err.message, `${file}: the image is 30000×30000 (900.0 megapixels), more than the 500-megapixel limit for decoding`);
  });

  it('a file larger than the bound is refused unread (a sparse file: reading it would allocate over 1 GiB)', async () => {
    const file = path.join(dir, 'huge-file.png');
    const fd = fs.openSync(file, 'w');
    fs.ftruncateSync(fd, MEMORY_BOUND_BYTES + 2 ** 20);
    fs.closeSync(fd);
    const before = process.memoryUsage().arrayBuffers;
    const err = await loadImageFile(file).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.equal(err.message, `${file}: the file is 1025 MB, more than the 1024 MB memory bound for an image`);
    assert.ok(process.memoryUsage().arrayBuffers - before < 2 ** 26, 'nothing like the file was allocated');
  });
});

describe('the display copy', () => {
  it('of a large image: long side bounded, aspect ratio kept, real size reported', async () => {
    const bytes = encodePng(W, H, squarePicture(W, H, SQUARE));
    const copy = await displayCopyOf(bytes, 'big.png', () => loadImage(bytes, 'big.png'));
    assert.deepEqual([copy.width, copy.height], [W, H], 'the real size');
    assert.deepEqual([copy.displayWidth, copy.displayHeight], [DISPLAY_LONG_SIDE, DISPLAY_LONG_SIDE / 2]);
    // The picture itself is that size (decoded independently of the engine's decoders' choice: by header).
    const m = /^data:image\/(png|jpeg);base64,(.*)$/.exec(copy.dataUrl);
    assert.ok(m, 'a PNG or JPEG data URL');
    const pic = Buffer.from(m[2], 'base64');
    const decoded = m[1] === 'png' ? PNG.sync.read(pic) : jpeg.decode(pic, { useTArray: true });
    assert.deepEqual([decoded.width, decoded.height], [DISPLAY_LONG_SIDE, DISPLAY_LONG_SIDE / 2]);
    assert.ok(pic.length < bytes.length, 'smaller than the file');
  });

  it('of a small image: the file itself', async () => {
    const bytes = encodePng(300, 100, squarePicture(300, 100, { x0: 10, x1: 20, y0: 10, y1: 20 }));
    let decoded = false;
    const copy = await displayCopyOf(bytes, 'small.png', async () => {
      decoded = true;
      return loadImage(bytes, 'small.png');
    });
    assert.equal(decoded, false, 'no decode needed');
    assert.equal(copy.dataUrl, `data:image/png;base64,${bytes.toString('base64')}`);
    assert.deepEqual([copy.width, copy.height, copy.displayWidth, copy.displayHeight], [300, 100, 300, 100]);
  });

  it('of a small JPEG with an EXIF rotation: re-encoded upright as the engine sees it (no EXIF), so the browser does not turn it again', async () => {
    const [w, h] = [60, 20];
    const plain = Buffer.from(jpeg.encode({ width: w, height: h, data: squarePicture(w, h, { x0: 2, x1: 8, y0: 2, y1: 8 }) }, 95).data);
    // APP1 "Exif": a big-endian TIFF header and one IFD entry, Orientation (0x0112, SHORT) = 6 (rotate 90° clockwise).
    const tiff = Buffer.from([0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
    const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
    const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]), payload]);
    const bytes = Buffer.concat([plain.subarray(0, 2), app1, plain.subarray(2)]);
    const copy = await displayCopyOf(bytes, 'phone.jpg', () => loadImage(bytes, 'phone.jpg'));
    const m = /^data:image\/(png|jpeg);base64,(.*)$/.exec(copy.dataUrl);
    assert.ok(m, 'a PNG or JPEG data URL');
    const pic = Buffer.from(m[2], 'base64');
    assert.ok(!pic.equals(bytes), 'not the file itself');
    assert.equal(pic.indexOf(Buffer.from('Exif\0\0', 'latin1')), -1, 'no EXIF left to rotate it');
    assert.deepEqual([copy.width, copy.height, copy.displayWidth, copy.displayHeight], [h, w, h, w], 'the upright size: turned 90°');
    // The top-left white square, stored at x 2–8 of 60, y 2–8 of 20, is at the top right once turned clockwise.
    const shown = m[1] === 'png' ? PNG.sync.read(pic) : jpeg.decode(pic, { useTArray: true });
    const at = (x: number, y: number) => shown.data[(y * shown.width + x) * 4];
    assert.ok(at(h - 5, 5) > 200 && at(4, 5) < 100, 'the square is at the top right');
    // Told not to turn it, the engine's copy is the stored picture.
    const asStored = await displayCopyOf(bytes, 'phone.jpg', () => loadImage(bytes, 'phone.jpg', { exifOrientation: false }));
    assert.deepEqual([asStored.width, asStored.height], [w, h]);
    // Without the rotation the same pixels go as the file.
    const upright = await displayCopyOf(plain, 'plain.jpg', () => loadImage(plain, 'plain.jpg'));
    assert.equal(upright.dataUrl, `data:image/jpeg;base64,${plain.toString('base64')}`);
  });
});
