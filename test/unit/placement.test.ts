/**
 * Maps placed on the image where the model's input lies (src/shared/placement.ts), and what draws them: NaN gives
 * no heat (colorize, overlay), and the CLI's overlays, .npy and JSON (src/engine/io/writeExplanation.ts).
 * Expected values are hand-computed from the geometry (pixel edges at integers, centres at +0.5).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { placeMap, regionOnDisplay, regionValueAt, OUTSIDE_REGION_TEXT } from '../../src/shared/placement';
import { bilinearResize } from '../../src/shared/resize';
import { colorize, colormapLut } from '../../src/shared/colormaps';
import { overlayHeatmap, OUTSIDE_BRIGHTNESS } from '../../src/shared/overlay';
import { decodeNpyFloat32 } from '../../src/engine/io/npy';
import { mapAtImageSize, overlayRgba, writeExplanation } from '../../src/engine/io/writeExplanation';
import type { ImageExplanation } from '../../src/engine/explain';
import { reportEntryFor } from '../../src/engine/report/reportEntry';
import { buildHtmlReport } from '../../src/shared/htmlReport';
import type { AttributionMap } from '../../src/engine/methods/types';
import type { InputRegionMsg } from '../../src/shared/protocol';

/** A deterministic map with no structure the resize could hide (a xorshift sequence). */
function noiseMap(w: number, h: number, seed = 7): Float32Array {
  const out = new Float32Array(w * h);
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) % 10007) / 10007 - 0.3;
  }
  return out;
}

function oneHot(w: number, h: number, x: number, y: number): Float32Array {
  const m = new Float32Array(w * h);
  m[y * w + x] = 1;
  return m;
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('placeMap', () => {
  test('without a region, or with the whole image as the region, it is bilinearResize bit for bit', () => {
    for (const [mw, mh, W, H] of [[7, 5, 451, 300], [224, 224, 451, 300], [224, 224, 100, 80], [3, 9, 3, 9]]) {
      const map = noiseMap(mw, mh);
      const expected = bytes(bilinearResize(map, mw, mh, W, H));
      assert.ok(bytes(placeMap(map, mw, mh, undefined, W, H, W, H)).equals(expected), `${mw}x${mh} -> ${W}x${H}, no region`);
      assert.ok(bytes(placeMap(map, mw, mh, { x: 0, y: 0, width: W, height: H }, W, H, W, H)).equals(expected), `${mw}x${mh} -> ${W}x${H}, whole region`);
    }
  });

  // A 4×4 map on the 8×8 box at (2, 1) of a 12×10 image: each map pixel covers 2×2 image pixels. Image pixel x has
  // u = (x + 0.5 − 2)·4/8 − 0.5 = x/2 − 1.25 and v = (y + 0.5 − 1)·4/8 − 0.5 = y/2 − 0.75 (clamped to [0, 3]).
  const region = { x: 2, y: 1, width: 8, height: 8 };
  // Weight of map column 1 at x = 2..9 (u −0.25→0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25→3), of map row 2 at y = 1..8.
  const colWeight: Record<number, number> = { 2: 0, 3: 0.25, 4: 0.75, 5: 0.75, 6: 0.25, 7: 0, 8: 0, 9: 0 };
  const rowWeight: Record<number, number> = { 1: 0, 2: 0, 3: 0, 4: 0.25, 5: 0.75, 6: 0.75, 7: 0.25, 8: 0 };

  test('a crop: the one-hot map pixel lands on the image pixels its box covers, NaN outside the box', () => {
    const placed = placeMap(oneHot(4, 4, 1, 2), 4, 4, region, 12, 10, 12, 10);
    for (let y = 0; y < 10; y++) {
      for (let x = 0; x < 12; x++) {
        const v = placed[y * 12 + x];
        if (x < 2 || x >= 10 || y < 1 || y >= 9) assert.ok(Number.isNaN(v), `(${x}, ${y}) is outside: got ${v}`);
        else assert.equal(v, colWeight[x] * rowWeight[y], `(${x}, ${y})`);
      }
    }
    // The peak: image pixels 4–5 × 5–6 are map pixel (1, 2)'s 2×2 block.
    assert.equal(placed[5 * 12 + 4], 0.5625);
  });

  test('a crop drawn at half the image size samples the image at each display pixel\'s centre', () => {
    // Display pixel i's centre is at image coordinate (i + 0.5)·2 = 1, 3, 5, 7, 9, 11; u = (X − 2)·4/8 − 0.5 and
    // v = (Y − 1)·4/8 − 0.5. Column 2: X = 5, u = 1 (map column 1 alone); row 2: Y = 5, v = 1.5 (rows 1 and 2 half each).
    const placed = placeMap(oneHot(4, 4, 1, 2), 4, 4, region, 12, 10, 6, 5);
    assert.ok(Number.isNaN(placed[2 * 6 + 0]), 'display column 0 (X = 1) lies left of the box');
    assert.ok(Number.isNaN(placed[2 * 6 + 5]), 'display column 5 (X = 11) lies right of the box');
    assert.ok(Number.isNaN(placed[4 * 6 + 2]), 'display row 4 (Y = 9) lies on the box\'s far edge: outside');
    assert.equal(placed[2 * 6 + 2], 0.5);
    assert.equal(placed[3 * 6 + 2], 0.5); // Y = 7, v = 2.5: rows 2 and 3
    assert.equal(placed[2 * 6 + 1], 0); // X = 3, u = 0: map column 0 alone, inside the box
    assert.equal(placed[1 * 6 + 2], 0); // Y = 3, v = 0.5: rows 0 and 1
  });

  test('torchvision on a 451×300 photo: the map pixel lands where the crop box puts it', () => {
    // Resize(256): 384×256 (int(256·451/300)), CenterCrop(224) at (80, 16): the box in the image is 80·451/384, 16·300/256, 224·451/384 × 224·300/256.
    const sx = 451 / 384;
    const sy = 300 / 256;
    const box = { x: 80 * sx, y: 16 * sy, width: 224 * sx, height: 224 * sy };
    for (const [i, j] of [[100, 50], [0, 0], [223, 223], [37, 190]]) {
      const placed = placeMap(oneHot(224, 224, i, j), 224, 224, box, 451, 300, 451, 300);
      let best = -1;
      let at = -1;
      placed.forEach((v, k) => {
        if (v > best) [best, at] = [v, k];
      });
      // The image pixel holding the map pixel's centre, (i + 0.5)·scale + offset.
      const X = Math.floor(box.x + (i + 0.5) * sx);
      const Y = Math.floor(box.y + (j + 0.5) * sy);
      assert.deepEqual([at % 451, Math.floor(at / 451)], [X, Y], `map pixel (${i}, ${j})`);
    }
    const placed = placeMap(noiseMap(224, 224), 224, 224, box, 451, 300, 451, 300);
    // Column 93 (centre 93.5 < 93.96) is outside, 94 inside; the last inside column is 356 (centre 356.5 < 357.04).
    assert.ok(Number.isNaN(placed[150 * 451 + 93]) && !Number.isNaN(placed[150 * 451 + 94]));
    assert.ok(!Number.isNaN(placed[150 * 451 + 356]) && Number.isNaN(placed[150 * 451 + 357]));
    // Rows: 18 (centre 18.5 < 18.75) outside, 19 inside, 280 inside (280.5 < 281.25), 281 outside.
    assert.ok(Number.isNaN(placed[18 * 451 + 200]) && !Number.isNaN(placed[19 * 451 + 200]));
    assert.ok(!Number.isNaN(placed[280 * 451 + 200]) && Number.isNaN(placed[281 * 451 + 200]));
  });

  test('a letterbox: the 8×4 image in the middle of an 8×8 input reads map rows 2–5', () => {
    // The region reaches 2 px above and below the image; v = (y + 0.5 + 2)·8/8 − 0.5 = y + 2.
    const map = new Float32Array(64);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) map[y * 8 + x] = 10 * y + x;
    const placed = placeMap(map, 8, 8, { x: 0, y: -2, width: 8, height: 8 }, 8, 4, 8, 4);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 8; x++) assert.equal(placed[y * 8 + x], 10 * (y + 2) + x, `(${x}, ${y})`);
  });

  test('a region with no size is refused in one sentence', () => {
    assert.throws(() => placeMap(new Float32Array(4), 2, 2, { x: 1, y: 1, width: 0, height: 2 }, 4, 4, 4, 4), /positive size/);
    assert.throws(() => placeMap(new Float32Array(4), 2, 2, { x: NaN, y: 1, width: 2, height: 2 }, 4, 4, 4, 4), /finite/);
  });
});

describe('regionValueAt and regionOnDisplay', () => {
  test('the hover value is the placed map at the image\'s size, NaN outside', () => {
    const map = noiseMap(4, 4);
    const region = { x: 2, y: 1, width: 8, height: 8 };
    const placed = placeMap(map, 4, 4, region, 12, 10, 12, 10);
    for (let y = 0; y < 10; y++) {
      for (let x = 0; x < 12; x++) {
        const v = regionValueAt(map, 4, 4, region, 12, 10, x, y);
        const p = placed[y * 12 + x];
        if (Number.isNaN(p)) assert.ok(Number.isNaN(v), `(${x}, ${y}) outside`);
        else assert.ok(Math.abs(v - p) < 1e-6, `(${x}, ${y}): ${v} vs ${p}`);
      }
    }
    assert.equal(regionValueAt(oneHot(4, 4, 1, 2), 4, 4, region, 12, 10, 4, 5), 0.5625);
    assert.match(OUTSIDE_REGION_TEXT, /outside the model's input \(no attribution\)/);
  });

  test('without a region the hover value is bilinearResize\'s', () => {
    const map = noiseMap(7, 5);
    const resized = bilinearResize(map, 7, 5, 45, 30);
    for (const [x, y] of [[0, 0], [44, 29], [13, 7], [30, 22]]) {
      assert.ok(Math.abs(regionValueAt(map, 7, 5, undefined, 45, 30, x, y) - resized[y * 45 + x]) < 1e-6, `(${x}, ${y})`);
    }
  });

  test('the box in display pixels scales with the rendering', () => {
    assert.deepEqual(regionOnDisplay({ x: 94, y: 0, width: 263, height: 300 }, 451, 300, 902, 600), { left: 188, top: 0, width: 526, height: 600 });
    assert.deepEqual(regionOnDisplay({ x: 0, y: -2, width: 8, height: 8 }, 8, 4, 4, 2), { left: 0, top: -1, width: 4, height: 4 });
  });
});

describe('NaN gives no heat', () => {
  test('colorize leaves NaN transparent when asked, and colours it as 0 otherwise', () => {
    const lut = colormapLut('jet');
    const values = new Float32Array([NaN, 0]);
    assert.deepEqual(Array.from(colorize(values, 'jet', { nanTransparent: true })), [0, 0, 0, 0, lut[0], lut[1], lut[2], 255]);
    assert.deepEqual(Array.from(colorize(values, 'jet')), [lut[0], lut[1], lut[2], 255, lut[0], lut[1], lut[2], 255]);
  });

  test('overlay: a transparent heat pixel dims the image and adds no heat', () => {
    const image = new Uint8ClampedArray([100, 160, 200, 255, 100, 160, 200, 255]);
    const heat = new Uint8ClampedArray([0, 0, 0, 0, 255, 0, 0, 255]);
    const out = overlayHeatmap(image, heat, new Float32Array([NaN, 0.5]), 0.25, 2, 1);
    // Outside: 100·0.5, 160·0.5, 200·0.5; inside as before: a = 0.25.
    assert.equal(OUTSIDE_BRIGHTNESS, 0.5);
    assert.deepEqual(Array.from(out), [50, 80, 100, 255, 139, 120, 150, 255]);
  });
});

describe('CLI overlays, .npy and JSON with an input region', () => {
  const W = 12;
  const H = 10;
  const crop: InputRegionMsg = { x: 2, y: 1, width: 8, height: 8, covers: 'crop', text: 'centre crop 8×8 at (2, 1) of the 12×10 image' };
  const map: AttributionMap = { method: 'saliency', width: 4, height: 4, data: noiseMap(4, 4).map((v) => v + 1) };
  const grey = () => {
    const data = new Uint8Array(W * H * 4);
    for (let i = 0; i < W * H; i++) data.set([120, 120, 120, 255], 4 * i);
    return { width: W, height: H, data };
  };

  test('the overlay is dimmed with no heat outside, outlined on the ring just outside, coloured inside', () => {
    const pixels = grey();
    const placement = { region: crop, imageWidth: W, imageHeight: H };
    const out = overlayRgba(pixels, map, { colormap: 'jet', opacity: 0.5 }, placement);
    const px = (x: number, y: number) => Array.from(out.subarray(4 * (y * W + x), 4 * (y * W + x) + 3));
    assert.deepEqual(px(0, 5), [60, 60, 60], 'outside, off the ring: the image at half brightness');
    assert.deepEqual(px(11, 0), [60, 60, 60]);
    // Ring: columns 1 and 10, rows 0 and 9 around the box (2..9 × 1..8).
    for (const [x, y] of [[1, 4], [10, 4], [5, 0], [5, 9], [1, 0], [10, 9]]) assert.deepEqual(px(x, y), [0x00, 0x78, 0xd4], `ring (${x}, ${y})`);
    for (const [x, y] of [[2, 1], [9, 8], [5, 5]]) assert.notDeepEqual(px(x, y), [120, 120, 120], `inside (${x}, ${y}) is tinted`);
    // Normalized over the inside only: the inside spans the whole colormap (its min is jet's first colour blended at 0.5).
    const lut = colormapLut('jet');
    const placed = mapAtImageSize(map, W, H, placement);
    let minAt = -1;
    placed.forEach((v, k) => {
      if (!Number.isNaN(v) && (minAt < 0 || v < placed[minAt])) minAt = k;
    });
    assert.deepEqual(Array.from(out.subarray(4 * minAt, 4 * minAt + 3)), [0, 1, 2].map((c) => Math.round(120 * 0.5 + lut[c] * 0.5)));
  });

  test('without a region the overlay is as before: the whole image tinted, no outline', () => {
    const out = overlayRgba(grey(), map, { colormap: 'jet', opacity: 0.5 });
    for (let i = 0; i < W * H; i++) assert.notDeepEqual(Array.from(out.subarray(4 * i, 4 * i + 3)), [60, 60, 60], `pixel ${i}`);
    assert.ok(bytes(mapAtImageSize(map, W, H)).equals(bytes(bilinearResize(map.data, 4, 4, W, H))));
  });

  const explanation = (inputRegion: InputRegionMsg) => ({
    image: { file: '/x/photo.png', width: W, height: H, format: 'png' },
    inputRegion,
    pixels: grey(),
    modelInput: { width: 4, height: 4, channels: 3 },
    preprocessing: 'torchvision',
    predictions: [{ index: 0, label: 'a', logit: 1, probability: 1 }],
    target: { index: 0, label: 'a', logit: 1, probability: 1 },
    maps: [map],
    notes: [],
    timings: { forward: 1 },
  }) as unknown as ImageExplanation;

  test('the HTML report states what the maps cover, only when it is not the whole image', () => {
    const header = { title: 't', model: 'm', backend: 'b', preprocessing: 'p', created: '2026-12-06' };
    const cropped = reportEntryFor(explanation(crop), { colormap: 'jet', opacity: 0.5 });
    assert.equal(cropped.covers, crop.text);
    assert.match(buildHtmlReport(header, [cropped]), /maps cover: centre crop 8×8 at \(2, 1\) of the 12×10 image/);
    const whole = reportEntryFor(explanation({ x: 0, y: 0, width: W, height: H, covers: 'whole', text: 'the whole 12×10 image' }), { colormap: 'jet', opacity: 0.5 });
    assert.equal(whole.covers, undefined);
    assert.doesNotMatch(buildHtmlReport(header, [whole]), /maps cover/);
  });

  test('writeExplanation: the .npy at the image\'s size with NaN outside, the JSON states the region', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-placement-'));
    try {
      const result = explanation(crop);
      const written = writeExplanation(result, dir, { colormap: 'jet', opacity: 0.5 }, {}, 'photo');
      const npy = decodeNpyFloat32(fs.readFileSync(written.arrays[0]));
      assert.deepEqual(npy.shape, [H, W]);
      const expected = placeMap(map.data, 4, 4, crop, W, H, W, H);
      assert.ok(bytes(npy.data).equals(bytes(expected)));
      assert.ok(Number.isNaN(npy.data[0]) && Number.isNaN(npy.data[5 * W + 10]) && !Number.isNaN(npy.data[5 * W + 9]));
      const json = JSON.parse(fs.readFileSync(written.report, 'utf8'));
      assert.deepEqual(json.inputRegion, { ...crop, npy: 'NaN outside the region' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
