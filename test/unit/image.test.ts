import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import * as bmp from 'bmp-js';
import { GifWriter } from 'omggif';
import { initBackend } from '../../src/engine/backend';
import { UserError } from '../../src/engine/errors';
import { decodeImage, readImageFile, type DecodedImage } from '../../src/engine/image/decode';
import { loadImageFile } from '../../src/engine/image/load';
import { MEMORY_BOUND_BYTES } from '../../src/engine/image/budget';
import {
  describePreprocessing,
  imageToTensor,
  parsePreprocessing,
  type Preprocessing,
} from '../../src/engine/image/preprocess';

// ---------------------------------------------------------------------------------------------------------
// Fixture helpers (all fixtures are generated into a temp dir; nothing binary lives in git)

let dir = '';
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-lens-image-'));
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function writeFixture(name: string, bytes: Uint8Array | string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** A deterministic RGBA test pattern with varied colours and alpha. */
function pattern(width: number, height: number, opaque = false): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      data[o] = (x * 53 + y * 7) & 255;
      data[o + 1] = (x * 11 + y * 97 + 3) & 255;
      data[o + 2] = (x * 201 + y * 29 + 100) & 255;
      data[o + 3] = opaque ? 255 : (x * 31 + y * 67 + 1) & 255;
    }
  }
  return data;
}

// CRC-32 (IEEE), written here so that hand-made PNGs do not depend on the library under test.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(width: number, height: number, bitDepth: number, colorType: number, interlace = 0): Buffer {
  const b = Buffer.alloc(13);
  b.writeUInt32BE(width, 0);
  b.writeUInt32BE(height, 4);
  b[8] = bitDepth;
  b[9] = colorType;
  b[12] = interlace;
  return pngChunk('IHDR', b);
}

/** A PNG from already-packed scanlines (each prefixed here with filter type 0). */
function handPng(
  width: number,
  height: number,
  bitDepth: number,
  colorType: number,
  rows: Uint8Array[],
  extra: Buffer[] = [],
  interlace = 0,
): Buffer {
  const raw = Buffer.concat(rows.map((r) => Buffer.concat([Buffer.from([0]), Buffer.from(r)])));
  return Buffer.concat([
    PNG_SIGNATURE,
    ihdr(width, height, bitDepth, colorType, interlace),
    ...extra,
    pngChunk('IDAT', zlib.deflateSync(raw)),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

function assertUserError(fn: () => unknown, file: string, ...parts: (string | RegExp)[]): UserError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, 'expected an error');
  assert.ok(caught instanceof UserError, `expected a UserError, got ${String(caught)}`);
  assert.ok(caught.message.includes(file), `message "${caught.message}" should name ${file}`);
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(caught.message.includes(p), `message "${caught.message}" should contain "${p}"`);
    else assert.match(caught.message, p);
  }
  assert.ok(!/\n\s+at /.test(caught.message), 'no stack trace in the message');
  return caught;
}

function pixel(img: DecodedImage, x: number, y: number): number[] {
  const o = (y * img.width + x) * 4;
  return Array.from(img.data.subarray(o, o + 4));
}

/** RGBA -> the ABGR layout bmp-js expects. */
function toAbgr(rgba: Uint8Array): Buffer {
  const out = Buffer.alloc(rgba.length);
  for (let i = 0; i < rgba.length; i += 4) {
    out[i] = rgba[i + 3];
    out[i + 1] = rgba[i + 2];
    out[i + 2] = rgba[i + 1];
    out[i + 3] = rgba[i];
  }
  return out;
}

interface BmpSpec {
  width: number;
  height: number;
  bpp: 16 | 24 | 32;
  /** One packed pixel, little-endian, from RGBA. */
  pack: (r: number, g: number, b: number, a: number) => number;
  rgba: Uint8Array;
  dib?: 40 | 124;
  compression?: number;
  masks?: [number, number, number, number];
  topDown?: boolean;
  gap?: number;
}

/** A BMP written by hand: 40-byte or V5 header, optional masks, bottom-up unless topDown, rows padded to 4. */
function handBmp(s: BmpSpec): Buffer {
  const dib = s.dib ?? 40;
  const compression = s.compression ?? 0;
  const bytesPP = s.bpp / 8;
  const stride = Math.ceil((s.width * bytesPP) / 4) * 4;
  const maskBytes = dib === 40 && compression === 3 ? 12 : 0;
  const offset = 14 + dib + maskBytes + (s.gap ?? 0);
  const out = Buffer.alloc(offset + stride * s.height);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(offset, 10);
  out.writeUInt32LE(dib, 14);
  out.writeInt32LE(s.width, 18);
  out.writeInt32LE(s.topDown ? -s.height : s.height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(s.bpp, 28);
  out.writeUInt32LE(compression, 30);
  out.writeUInt32LE(stride * s.height, 34);
  if (s.masks) {
    const at = dib === 40 ? 54 : 14 + 40;
    const n = dib === 40 ? 3 : 4;
    for (let i = 0; i < n; i++) out.writeUInt32LE(s.masks[i] >>> 0, at + 4 * i);
  }
  if (dib === 124) out.writeUInt32LE(0x73524742, 14 + 56); // 'sRGB'
  for (let y = 0; y < s.height; y++) {
    const row = offset + (s.topDown ? y : s.height - 1 - y) * stride;
    for (let x = 0; x < s.width; x++) {
      const i = (y * s.width + x) * 4;
      const v = s.pack(s.rgba[i], s.rgba[i + 1], s.rgba[i + 2], s.rgba[i + 3]) >>> 0;
      if (s.bpp === 16) out.writeUInt16LE(v, row + 2 * x);
      else if (s.bpp === 24) out.writeUIntLE(v, row + 3 * x, 3);
      else out.writeUInt32LE(v, row + 4 * x);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

describe('decodeImage: PNG', () => {
  it('round-trips 8-bit RGBA exactly (pngjs encoder)', () => {
    const data = pattern(7, 5);
    const png = new PNG({ width: 7, height: 5 });
    png.data.set(data);
    const file = writeFixture('rgba.png', PNG.sync.write(png));
    const img = readImageFile(file);
    assert.equal(img.format, 'png');
    assert.equal(img.width, 7);
    assert.equal(img.height, 5);
    assert.deepEqual(Array.from(img.data), Array.from(data));
  });

  it('scales 16-bit RGB to 8 bits (k*257 -> k) and makes it opaque', () => {
    const ks = [
      [0, 128, 255],
      [1, 254, 77],
    ];
    const row = Buffer.alloc(2 * 3 * 2);
    ks.forEach((k, x) => k.forEach((v, c) => row.writeUInt16BE(v * 257, (x * 3 + c) * 2)));
    const img = decodeImage(handPng(2, 1, 16, 2, [row]), 'rgb16.png');
    assert.deepEqual(Array.from(img.data), [0, 128, 255, 255, 1, 254, 77, 255]);
  });

  it('expands 8-bit greyscale and greyscale+alpha to RGBA', () => {
    const grey = decodeImage(handPng(3, 1, 8, 0, [Uint8Array.from([0, 90, 255])]), 'grey.png');
    assert.deepEqual(Array.from(grey.data), [0, 0, 0, 255, 90, 90, 90, 255, 255, 255, 255, 255]);
    const ga = decodeImage(handPng(2, 1, 8, 4, [Uint8Array.from([40, 7, 200, 255])]), 'greyalpha.png');
    assert.deepEqual(Array.from(ga.data), [40, 40, 40, 7, 200, 200, 200, 255]);
  });

  it('expands a 16-bit greyscale PNG', () => {
    const row = Buffer.alloc(4);
    row.writeUInt16BE(10 * 257, 0);
    row.writeUInt16BE(0xffff, 2);
    const img = decodeImage(handPng(2, 1, 16, 0, [row]), 'grey16.png');
    assert.deepEqual(Array.from(img.data), [10, 10, 10, 255, 255, 255, 255, 255]);
  });

  it('expands a 2-bit palette PNG with tRNS transparency', () => {
    const plte = pngChunk('PLTE', Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7]));
    const trns = pngChunk('tRNS', Uint8Array.from([255, 128, 0])); // index 3 has no entry: opaque
    // 5 pixels of 2 bits: indices 0,1,2,3,1 -> 00 01 10 11 | 01 000000
    const img = decodeImage(handPng(5, 1, 2, 3, [Uint8Array.from([0b00011011, 0b01000000])], [plte, trns]), 'pal.png');
    assert.deepEqual(Array.from(img.data), [
      255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 9, 8, 7, 255, 0, 255, 0, 128,
    ]);
  });

  it('de-interlaces an Adam7 PNG', () => {
    const w = 9;
    const h = 7;
    const data = pattern(w, h, true);
    // Adam7 passes: start x, start y, step x, step y.
    const passes = [
      [0, 0, 8, 8],
      [4, 0, 8, 8],
      [0, 4, 4, 8],
      [2, 0, 4, 4],
      [0, 2, 2, 4],
      [1, 0, 2, 2],
      [0, 1, 1, 2],
    ];
    const chunks: Buffer[] = [];
    for (const [sx, sy, dx, dy] of passes) {
      for (let y = sy; y < h; y += dy) {
        const row: number[] = [0];
        for (let x = sx; x < w; x += dx) row.push(data[(y * w + x) * 4], data[(y * w + x) * 4 + 1], data[(y * w + x) * 4 + 2]);
        if (row.length > 1) chunks.push(Buffer.from(row));
      }
    }
    const bytes = Buffer.concat([
      PNG_SIGNATURE,
      ihdr(w, h, 8, 2, 1),
      pngChunk('IDAT', zlib.deflateSync(Buffer.concat(chunks))),
      pngChunk('IEND', new Uint8Array(0)),
    ]);
    const img = decodeImage(bytes, 'interlaced.png');
    assert.deepEqual(Array.from(img.data), Array.from(data));
  });

  it('sniffs the format from the bytes, not the extension', () => {
    const png = new PNG({ width: 1, height: 1 });
    png.data.set([1, 2, 3, 4]);
    const img = readImageFile(writeFixture('actually-png.jpg', PNG.sync.write(png)));
    assert.equal(img.format, 'png');
    assert.deepEqual(Array.from(img.data), [1, 2, 3, 4]);
  });
});

describe('decodeImage: JPEG', () => {
  it('decodes within a tolerance of the encoded pixels', () => {
    const w = 32;
    const h = 24;
    const data = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 4;
        data.set([x * 8, y * 10, 128, 255], o);
      }
    }
    const enc = jpeg.encode({ width: w, height: h, data }, 95).data;
    const file = writeFixture('smooth.jpg', enc);
    const img = readImageFile(file);
    assert.equal(img.format, 'jpeg');
    assert.equal(img.width, w);
    assert.equal(img.height, h);
    let maxDiff = 0;
    for (let i = 0; i < data.length; i++) {
      if (i % 4 === 3) assert.equal(img.data[i], 255);
      else maxDiff = Math.max(maxDiff, Math.abs(img.data[i] - data[i]));
    }
    assert.ok(maxDiff <= 12, `max difference ${maxDiff}`);
  });
});

describe('decodeImage: BMP', () => {
  it('round-trips a bmp-js 24-bit file exactly (ABGR converted to RGBA, opaque)', () => {
    const rgba = pattern(5, 3, true); // width 5: rows need padding
    const enc = bmp.encode({ width: 5, height: 3, data: toAbgr(rgba) }).data;
    const img = readImageFile(writeFixture('enc.bmp', enc));
    assert.equal(img.format, 'bmp');
    assert.deepEqual(Array.from(img.data), Array.from(rgba));
  });

  it('decodes a bottom-up 24-bit BMP with a V5 header and a gap before the pixels', () => {
    const rgba = pattern(3, 4, true);
    const bytes = handBmp({ width: 3, height: 4, bpp: 24, rgba, dib: 124, gap: 6, pack: (r, g, b) => b | (g << 8) | (r << 16) });
    assert.deepEqual(Array.from(decodeImage(bytes, 'v5.bmp').data), Array.from(rgba));
  });

  it('keeps 32-bit BI_RGB alpha, and treats all-zero alpha as opaque', () => {
    const rgba = pattern(4, 3);
    const pack = (r: number, g: number, b: number, a: number) => b | (g << 8) | (r << 16) | (a << 24);
    const img = decodeImage(handBmp({ width: 4, height: 3, bpp: 32, rgba, pack }), 'alpha32.bmp');
    assert.deepEqual(Array.from(img.data), Array.from(rgba));

    const noAlpha = decodeImage(handBmp({ width: 4, height: 3, bpp: 32, rgba, pack: (r, g, b) => b | (g << 8) | (r << 16) }), 'x32.bmp');
    assert.deepEqual(Array.from(noAlpha.data), Array.from(pattern(4, 3, true)).map((v, i) => (i % 4 === 3 ? 255 : rgba[i])));
  });

  it('decodes 32-bit BI_BITFIELDS with a non-BGRA mask layout (V5 header, top-down)', () => {
    const rgba = pattern(3, 2);
    const bytes = handBmp({
      width: 3,
      height: 2,
      bpp: 32,
      rgba,
      dib: 124,
      compression: 3,
      topDown: true,
      masks: [0x000000ff, 0x0000ff00, 0x00ff0000, 0xff000000],
      pack: (r, g, b, a) => r | (g << 8) | (b << 16) | (a << 24),
    });
    assert.deepEqual(Array.from(decodeImage(bytes, 'rgba-masks.bmp').data), Array.from(rgba));
  });

  it('decodes 16-bit 5-6-5 bit fields with hand-computed scaling', () => {
    // r=31/31 -> 255, g=32/63 -> round(129.52) = 130, b=0 -> 0; second pixel r=0, g=63 -> 255, b=16/31 -> round(131.61) = 132
    const raw = [(31 << 11) | (32 << 5) | 0, (0 << 11) | (63 << 5) | 16];
    const bytes = handBmp({
      width: 2,
      height: 1,
      bpp: 16,
      rgba: new Uint8Array(8),
      compression: 3,
      masks: [0xf800, 0x07e0, 0x001f, 0],
      pack: () => raw.shift() ?? 0,
    });
    assert.deepEqual(Array.from(decodeImage(bytes, '565.bmp').data), [255, 130, 0, 255, 0, 255, 132, 255]);
  });
  it('decodes bottom-up 16-bit BI_RGB (implicit 5-5-5) with hand-computed scaling', () => {
    // top: r=31 -> 255, g=0, b=16/31 -> round(131.61) = 132; bottom: r=0, g=31 -> 255, b=1/31 -> round(8.23) = 8
    const raw = [(31 << 10) | (0 << 5) | 16, (0 << 10) | (31 << 5) | 1];
    const bytes = handBmp({ width: 1, height: 2, bpp: 16, rgba: new Uint8Array(8), pack: () => raw.shift() ?? 0 });
    assert.deepEqual(Array.from(decodeImage(bytes, '555.bmp').data), [255, 0, 132, 255, 0, 255, 8, 255]);
  });
});

describe('decodeImage: GIF', () => {
  function gif(build: (w: GifWriter) => void): Uint8Array {
    const buf = new Uint8Array(4096);
    const writer = new GifWriter(buf, 4, 3, { palette: [0xff0000, 0x00ff00, 0x0000ff, 0x123456] });
    build(writer);
    return buf.slice(0, writer.end());
  }

  it('round-trips a full-screen palette frame exactly', () => {
    const indices = [0, 1, 2, 3, 3, 2, 1, 0, 1, 1, 2, 2];
    const bytes = gif((w) => w.addFrame(0, 0, 4, 3, indices));
    const img = readImageFile(writeFixture('full.gif', bytes));
    assert.equal(img.format, 'gif');
    const colours = [
      [255, 0, 0, 255],
      [0, 255, 0, 255],
      [0, 0, 255, 255],
      [0x12, 0x34, 0x56, 255],
    ];
    assert.deepEqual(Array.from(img.data), indices.flatMap((i) => colours[i]));
  });

  it('composites the first frame into the logical screen with a transparent index', () => {
    const bytes = gif((w) => {
      w.addFrame(1, 1, 2, 2, [0, 3, 2, 1], { transparent: 3 });
      w.addFrame(0, 0, 4, 3, new Array(12).fill(2)); // second frame: must be ignored
    });
    const img = decodeImage(bytes, 'sub.gif');
    assert.equal(img.width, 4);
    assert.equal(img.height, 3);
    const T = [0, 0, 0, 0];
    const expected = [
      [T, T, T, T],
      [T, [255, 0, 0, 255], T, T],
      [T, [0, 0, 255, 255], [0, 255, 0, 255], T],
    ];
    for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) assert.deepEqual(pixel(img, x, y), expected[y][x], `pixel ${x},${y}`);
  });
});

describe('decodeImage: bad input', () => {
  it('missing file', () => {
    const file = path.join(dir, 'nope.png');
    assertUserError(() => readImageFile(file), file, 'file not found');
  });

  it('a text file named .png', () => {
    const file = writeFixture('notes.png', 'hello, this is not an image\n');
    assertUserError(() => readImageFile(file), file, 'not a PNG, JPEG, WebP, TIFF, BMP or GIF image');
  });

  it('a truncated PNG', () => {
    const png = new PNG({ width: 20, height: 20 });
    png.data.set(pattern(20, 20));
    const full = PNG.sync.write(png);
    const file = writeFixture('cut.png', full.subarray(0, Math.floor(full.length * 0.6)));
    assertUserError(() => readImageFile(file), file, 'the PNG data is truncated or corrupt (');
  });

  it('a PNG with a damaged chunk (CRC mismatch)', () => {
    const png = new PNG({ width: 8, height: 8 });
    png.data.set(pattern(8, 8));
    const bytes = Buffer.from(PNG.sync.write(png));
    bytes[bytes.length - 20] ^= 0xff; // inside IDAT
    assertUserError(() => decodeImage(bytes, 'crc.png'), 'crc.png', 'the PNG data is truncated or corrupt (');
  });

  it('a truncated JPEG (at several cut points, including just the missing end marker)', () => {
    const w = 64;
    const h = 48;
    const data = pattern(w, h, true);
    const full = jpeg.encode({ width: w, height: h, data }, 90).data;
    for (const cut of [Math.floor(full.length * 0.5), Math.floor(full.length * 0.9), full.length - 2]) {
      const file = writeFixture(`cut-${cut}.jpg`, full.subarray(0, cut));
      assertUserError(() => readImageFile(file), file, 'the JPEG data is truncated or corrupt (');
    }
    // cut short but with an end marker glued on: jpeg-js itself must refuse it (no partly-black image)
    const patched = Buffer.concat([full.subarray(0, Math.floor(full.length * 0.7)), Buffer.from([0xff, 0xd9])]);
    assertUserError(() => decodeImage(patched, 'patched.jpg'), 'patched.jpg', 'the JPEG data is truncated or corrupt (');
    // the untruncated file still decodes
    assert.equal(decodeImage(full, 'whole.jpg').width, w);
  });

  it('a truncated BMP and a truncated GIF', () => {
    const enc = bmp.encode({ width: 6, height: 6, data: toAbgr(pattern(6, 6, true)) }).data;
    assertUserError(() => decodeImage(enc.subarray(0, 80), 'cut.bmp'), 'cut.bmp', 'the BMP data is truncated or corrupt (');
    const buf = new Uint8Array(4096);
    const writer = new GifWriter(buf, 16, 16, { palette: [0, 0xffffff] });
    writer.addFrame(0, 0, 16, 16, Array.from({ length: 256 }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0));
    const gifBytes = buf.slice(0, writer.end());
    assertUserError(() => decodeImage(gifBytes.subarray(0, gifBytes.length - 12), 'cut.gif'), 'cut.gif', 'the GIF data is truncated or corrupt (');
  });

  it('refuses a PNG whose header claims 20000×15000 before decoding any pixels', () => {
    // Signature + IHDR only: if the decoder ran, it would fail on the missing image data instead.
    const bytes = Buffer.concat([PNG_SIGNATURE, ihdr(20000, 15000, 8, 6)]);
    const file = writeFixture('huge.png', bytes);
    assert.ok(20000 * 15000 * 4 > MEMORY_BOUND_BYTES, 'its RGBA alone exceeds the bound');
    assertUserError(() => readImageFile(file), file, 'the image is 20000×15000 (300.0 megapixels); decoding it needs about ', 'more than the 1024 MB memory bound');
  });

  it('refuses an oversized BMP and GIF from their headers too', () => {
    const bmpHeader = handBmp({ width: 1, height: 1, bpp: 24, rgba: new Uint8Array(4), pack: () => 0 });
    bmpHeader.writeInt32LE(19000, 18);
    bmpHeader.writeInt32LE(-8000, 22);
    assertUserError(() => decodeImage(bmpHeader, 'big.bmp'), 'big.bmp', 'image is 19000×8000 (152.0 megapixels)', 'memory bound');
    const gifHeader = Buffer.from([...Buffer.from('GIF89a'), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x3b]);
    assertUserError(() => decodeImage(gifHeader, 'big.gif'), 'big.gif', 'image is 65535×65535');
  });

  it('a WebP named .png is recognised as WebP (decoded by loadImage; imageFormats.test.ts), and an empty frame refused', async () => {
    const riff = Buffer.alloc(30);
    riff.write('RIFF', 0, 'latin1');
    riff.writeUInt32LE(22, 4);
    riff.write('WEBPVP8 ', 8, 'latin1');
    const file = writeFixture('photo.png', riff);
    const err = await loadImageFile(file).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.ok(err.message.startsWith(`${file}: the WebP data is truncated or corrupt (`), err.message);
  });

  it('an empty file', () => {
    const file = writeFixture('empty.jpg', '');
    assertUserError(() => readImageFile(file), file, 'empty');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Preprocessing

function img(width: number, height: number, pixels: number[][]): DecodedImage {
  assert.equal(pixels.length, width * height);
  return { width, height, data: Uint8Array.from(pixels.flat()), format: 'png' };
}

function values(t: tf.Tensor): number[] {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
}

function assertClose(actual: number[], expected: number[], tol = 1e-4, what = ''): void {
  assert.equal(actual.length, expected.length, `${what} length`);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) <= tol, `${what}[${i}]: ${a} vs ${expected[i]}`));
}

const P = (spec: string): Preprocessing => parsePreprocessing(spec);

describe('parsePreprocessing / describePreprocessing', () => {
  it('accepts the presets and custom mean/std', () => {
    for (const p of ['raw', 'unit', 'symmetric', 'imagenet', 'caffe'] as const) assert.deepEqual(parsePreprocessing(p), { preset: p });
    assert.deepEqual(parsePreprocessing(' ImageNet '), { preset: 'imagenet' });
    assert.deepEqual(parsePreprocessing('custom:0.5,0.5,0.5;0.25,0.25,0.25'), {
      preset: 'custom',
      mean: [0.5, 0.5, 0.5],
      std: [0.25, 0.25, 0.25],
    });
    assert.deepEqual(parsePreprocessing('custom:0.1;0.3'), { preset: 'custom', mean: [0.1], std: [0.3] });
  });

  it('rejects bad specs with a UserError naming the allowed values', () => {
    for (const bad of ['', 'torch', 'custom:', 'custom:0.5', 'custom:a,b,c;1,1,1', 'custom:0.5,0.5;1', 'custom:0.5;0', 'custom:0.5;-1']) {
      assert.throws(
        () => parsePreprocessing(bad),
        (err: unknown) => err instanceof UserError && err.message.includes(JSON.stringify(bad).slice(1, -1)),
        `spec ${JSON.stringify(bad)}`,
      );
    }
    assert.throws(() => parsePreprocessing('torch'), (err: unknown) =>
      err instanceof UserError && ['raw', 'unit', 'symmetric', 'imagenet', 'caffe', 'custom:MEAN;STD'].every((w) => err.message.includes(w)));
  });

  it('describes each preset', () => {
    assert.equal(describePreprocessing({ preset: 'imagenet' }), 'imagenet (mean/std)');
    assert.match(describePreprocessing({ preset: 'caffe' }), /^caffe .*BGR/);
    assert.equal(describePreprocessing(P('custom:0.5;0.25')), 'custom (mean 0.5; std 0.25)');
    for (const p of ['raw', 'unit', 'symmetric'] as const) assert.ok(describePreprocessing({ preset: p }).startsWith(p));
  });
});

describe('imageToTensor', () => {
  before(async () => {
    await initBackend();
  });

  const rgb3 = { height: 1, width: 1, channels: 3 } as const;
  const px = img(1, 1, [[0, 128, 255, 255]]);

  it('returns [1,h,w,c] float32', () => {
    const t = imageToTensor(px, rgb3, P('raw'));
    assert.deepEqual(t.shape, [1, 1, 1, 3]);
    assert.equal(t.dtype, 'float32');
    t.dispose();
  });

  it('applies each preset to known pixel values', () => {
    assertClose(values(imageToTensor(px, rgb3, P('raw'))), [0, 128, 255], 1e-5, 'raw');
    assertClose(values(imageToTensor(px, rgb3, P('unit'))), [0, 0.5019608, 1], 1e-5, 'unit');
    // 128/127.5 - 1 = 0.0039216
    assertClose(values(imageToTensor(px, rgb3, P('symmetric'))), [-1, 0.0039216, 1], 1e-5, 'symmetric');
    // (0 - .485)/.229 = -2.1179039; (0.5019608 - .456)/.224 = 0.2051821; (1 - .406)/.225 = 2.64
    assertClose(values(imageToTensor(px, rgb3, P('imagenet'))), [-2.1179039, 0.2051821, 2.64], 1e-5, 'imagenet');
    // BGR order: 255 - 103.939, 128 - 116.779, 0 - 123.68
    assertClose(values(imageToTensor(px, rgb3, P('caffe'))), [151.061, 11.221, -123.68], 1e-4, 'caffe');
    // (0 - .5)/.25 = -2; (0.5019608 - .5)/.25 = 0.0078431; (1 - .5)/.25 = 2
    assertClose(values(imageToTensor(px, rgb3, P('custom:0.5;0.25'))), [-2, 0.0078431, 2], 1e-5, 'custom');
    // per-channel custom: (0 - .1)/.5 = -0.2; (0.5019608 - .2)/1 = 0.3019608; (1 - .3)/2 = 0.35
    assertClose(values(imageToTensor(px, rgb3, P('custom:0.1,0.2,0.3;0.5,1,2'))), [-0.2, 0.3019608, 0.35], 1e-5, 'custom3');
  });

  it('puts caffe channels in BGR order', () => {
    const t = imageToTensor(img(1, 1, [[10, 20, 30, 255]]), rgb3, P('caffe'));
    // [30 - 103.939, 20 - 116.779, 10 - 123.68]
    assertClose(values(t), [-73.939, -96.779, -113.68], 1e-4, 'caffe order');
  });

  it('uses the mean of the RGB statistics for one channel', () => {
    const grey = img(1, 1, [[100, 100, 100, 255]]);
    const one = { height: 1, width: 1, channels: 1 } as const;
    // mean (.485+.456+.406)/3 = .449, std (.229+.224+.225)/3 = .226: (100/255 - .449)/.226 = -0.2515183
    assertClose(values(imageToTensor(grey, one, P('imagenet'))), [-0.2515183], 1e-4, 'imagenet 1ch');
    // 100 - (103.939+116.779+123.68)/3 = 100 - 114.799333 = -14.799333
    assertClose(values(imageToTensor(grey, one, P('caffe'))), [-14.799333], 1e-4, 'caffe 1ch');
  });

  it('composites alpha over white (default) and over black', () => {
    const half = img(1, 1, [[200, 100, 0, 128]]);
    // over white: c*128/255 + 255*127/255 -> 200: 100.392157 + 127 = 227.392157; 100: 50.196078 + 127 = 177.196078; 0: 127
    assertClose(values(imageToTensor(half, rgb3, P('raw'))), [227.392157, 177.196078, 127], 1e-3, 'white');
    // over black: c*128/255 -> 100.392157, 50.196078, 0
    assertClose(values(imageToTensor(half, rgb3, P('raw'), [0, 0, 0])), [100.392157, 50.196078, 0], 1e-3, 'black');
    // fully transparent pixel is exactly the background
    assertClose(values(imageToTensor(img(1, 1, [[9, 9, 9, 0]]), rgb3, P('raw'), [10, 20, 30])), [10, 20, 30], 1e-4, 'bg');
  });

  it('keeps alpha (no compositing) for 4-channel models', () => {
    const t = imageToTensor(img(1, 1, [[10, 20, 30, 40]]), { height: 1, width: 1, channels: 4 }, P('raw'));
    assertClose(values(t), [10, 20, 30, 40], 1e-5, 'rgba');
  });

  it('converts to greyscale with 0.299R + 0.587G + 0.114B', () => {
    const one = { height: 1, width: 1, channels: 1 } as const;
    // 0.299*10 + 0.587*200 + 0.114*30 = 2.99 + 117.4 + 3.42 = 123.81
    assertClose(values(imageToTensor(img(1, 1, [[10, 200, 30, 255]]), one, P('raw'))), [123.81], 1e-3, 'luma');
    // composited first: (0, 0, 0, 0) over white is 255
    assertClose(values(imageToTensor(img(1, 1, [[0, 0, 0, 0]]), one, P('raw'))), [255], 1e-3, 'luma over white');
  });

  it('resizing a constant image keeps it constant', () => {
    const constant = img(7, 5, new Array(35).fill([77, 140, 3, 255]));
    for (const [h, w] of [
      [3, 4],
      [11, 13],
    ]) {
      const v = values(imageToTensor(constant, { height: h, width: w, channels: 3 }, P('raw')));
      assert.equal(v.length, h * w * 3);
      v.forEach((x, i) => assert.ok(Math.abs(x - [77, 140, 3][i % 3]) < 1e-3, `${h}x${w}[${i}] = ${x}`));
    }
  });

  it('resizes 2x2 -> 4x4 bilinearly with half-pixel centres', () => {
    // Grey pixels a=0 (0,0), b=100 (0,1), c=200 (1,0), d=40 (1,1). Source coordinate of output i is
    // (i + 0.5) * 2/4 - 0.5, clamped: 0, 0.25, 0.75, 1 -> interpolation weights towards the second pixel.
    const g = (v: number) => [v, v, v, 255];
    const src = img(2, 2, [g(0), g(100), g(200), g(40)]);
    const expected = [
      [0, 25, 75, 100], // top row: 0 + w * 100
      [50, 58.75, 76.25, 85], // 0.75 * top + 0.25 * bottom
      [150, 126.25, 78.75, 55], // 0.25 * top + 0.75 * bottom
      [200, 160, 80, 40], // bottom row: 200 + w * (40 - 200)
    ].flat();
    const v = values(imageToTensor(src, { height: 4, width: 4, channels: 3 }, P('raw')));
    assertClose(
      v.filter((_, i) => i % 3 === 0),
      expected,
      1e-3,
      'resize',
    );
  });

  it('rejects custom statistics that do not fit the channel count', () => {
    assert.throws(
      () => imageToTensor(px, rgb3, P('custom:0.1,0.2,0.3,0.4;1')),
      (err: unknown) => err instanceof UserError && /4 mean values/.test(err.message),
    );
  });

  it('does not leak tensors', () => {
    const before = tf.memory().numTensors;
    const big = img(6, 4, Array.from({ length: 24 }, (_, i) => [i * 10, 255 - i * 10, i, (i * 37) % 256]));
    for (const prep of ['raw', 'unit', 'symmetric', 'imagenet', 'caffe', 'custom:0.5;0.25'].map(P)) {
      for (const channels of [1, 3, 4] as const) {
        const t = imageToTensor(big, { height: 3, width: 5, channels }, prep);
        assert.equal(tf.memory().numTensors, before + 1);
        t.dispose();
        const same = imageToTensor(big, { height: 4, width: 6, channels }, prep); // no resize path
        same.dispose();
      }
    }
    assert.equal(tf.memory().numTensors, before);
  });
});
