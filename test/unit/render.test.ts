import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';

import { applyGamma, centredNormalize, minMaxNormalize, normalizeShared, percentile } from '../../src/shared/normalize';
import { bilinearResize } from '../../src/shared/resize';
import { COLORMAPS, colormapLut, colorize, lutIndex } from '../../src/shared/colormaps';
import { overlayHeatmap } from '../../src/shared/overlay';
import { encodeNpyFloat32, decodeNpyFloat32 } from '../../src/engine/io/npy';
import { encodePngRgba } from '../../src/engine/io/png';

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6, what = 'value'): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (tol ${tol})`,
    );
  }
}

function rgbAt(lut: Uint8Array, i: number): [number, number, number] {
  return [lut[i * 3], lut[i * 3 + 1], lut[i * 3 + 2]];
}

function assertRgbNear(actual: [number, number, number], expected: [number, number, number], tol: number, what: string): void {
  for (let c = 0; c < 3; c++) {
    assert.ok(
      Math.abs(actual[c] - expected[c]) <= tol,
      `${what}: got (${actual.join(',')}), expected about (${expected.join(',')})`,
    );
  }
}

describe('normalize', () => {
  test('min-max of a known vector', () => {
    // min -2, max 6, range 8: (v + 2) / 8
    const { normalized, stats } = minMaxNormalize(new Float32Array([-2, 0, 2, 6, 4]));
    assert.deepEqual(stats, { min: -2, max: 6 });
    assertClose(normalized, [0, 0.25, 0.5, 1, 0.75]);
  });

  test('constant map gives zeros, never NaN', () => {
    const { normalized, stats } = minMaxNormalize(new Float32Array(9).fill(3.5));
    assert.deepEqual(stats, { min: 3.5, max: 3.5 });
    assert.deepEqual(Array.from(normalized), new Array(9).fill(0));
    const empty = minMaxNormalize(new Float32Array(0));
    assert.equal(empty.normalized.length, 0);
  });

  test('non-finite inputs count as 0', () => {
    // values [NaN, 4, Inf, -Inf, 2] -> [0, 4, 0, 0, 2]; min 0, max 4
    const { normalized, stats } = minMaxNormalize(new Float32Array([NaN, 4, Infinity, -Infinity, 2]));
    assert.deepEqual(stats, { min: 0, max: 4 });
    assertClose(normalized, [0, 1, 0, 0, 0.5]);
    for (const v of normalized) assert.ok(Number.isFinite(v));
    const allNaN = minMaxNormalize(new Float32Array([NaN, NaN]));
    assert.deepEqual(Array.from(allNaN.normalized), [0, 0]);
  });

  test('percentile matches numpy linear interpolation (hand-computed)', () => {
    const v = [1, 2, 3, 4, 10]; // sorted; n - 1 = 4
    assert.equal(percentile(v, 0), 1);
    assert.equal(percentile(v, 100), 10);
    assert.equal(percentile(v, 50), 3); // h = 2
    assert.ok(Math.abs(percentile(v, 90) - 7.6) < 1e-12); // h = 3.6: 4 + 0.6 * 6
    assert.ok(Math.abs(percentile(v, 25) - 2) < 1e-12); // h = 1
    assert.ok(Math.abs(percentile(v, 99) - 9.76) < 1e-12); // h = 3.96: 4 + 0.96 * 6
    // unsorted input, even count: [3, 1, 4, 2] sorted 1..4, p = 50 -> h = 1.5 -> 2.5
    assert.equal(percentile(new Float32Array([3, 1, 4, 2]), 50), 2.5);
    // p = 10 -> h = 0.3 -> 1.3
    assert.ok(Math.abs(percentile([3, 1, 4, 2], 10) - 1.3) < 1e-12);
    assert.equal(percentile([5], 37), 5);
    assert.throws(() => percentile([], 50), RangeError);
    assert.throws(() => percentile([1, 2], 101), RangeError);
  });

  test('clipPercentile saturates values above the percentile', () => {
    // [0, 1, 2, 3, 100]: 75th percentile h = 3 -> 3; (v - 0) / 3, 100 saturates
    const { normalized, stats } = minMaxNormalize(new Float32Array([0, 1, 2, 3, 100]), { clipPercentile: 75 });
    assert.deepEqual(stats, { min: 0, max: 3 });
    assertClose(normalized, [0, 1 / 3, 2 / 3, 1, 1]);
    // clip percentile equal to the minimum: degenerate -> zeros, not NaN
    const degenerate = minMaxNormalize(new Float32Array([5, 5, 5, 9]), { clipPercentile: 50 });
    assert.deepEqual(Array.from(degenerate.normalized), [0, 0, 0, 0]);
  });

  test('shared normalization uses the global min/max', () => {
    const a = new Float32Array([0, 5]);
    const b = new Float32Array([10, -10]);
    const { normalized, stats } = normalizeShared([a, b]);
    assert.deepEqual(stats, { min: -10, max: 10 });
    assertClose(normalized[0], [0.5, 0.75]);
    assertClose(normalized[1], [1, 0]);
    // a alone would have normalized to [0, 1]
    assertClose(minMaxNormalize(a).normalized, [0, 1]);
    // clip percentile over the pooled values [-10, 0, 5, 10]: p = 50 -> h = 1.5 -> 2.5
    const clipped = normalizeShared([a, b], { clipPercentile: 50 });
    assert.deepEqual(clipped.stats, { min: -10, max: 2.5 });
    assertClose(clipped.normalized[0], [10 / 12.5, 1]);
  });
});

describe('bilinear resize (half-pixel centers)', () => {
  test('constant stays constant', () => {
    const src = new Float32Array(7 * 7).fill(0.625);
    for (const [w, h] of [[224, 224], [13, 5], [3, 3], [1, 1]]) {
      const out = bilinearResize(src, 7, 7, w, h);
      assert.equal(out.length, w * h);
      for (const v of out) assert.equal(v, 0.625);
    }
  });

  test('2x2 -> 4x4 against hand-computed values', () => {
    // src [[0, 1], [2, 3]]; x positions for dst 0..3: (x + 0.5) * 0.5 - 0.5 = -0.25, 0.25, 0.75, 1.25
    // clamped -> 0, 0.25, 0.75, 1; value = x + 2y
    const out = bilinearResize(new Float32Array([0, 1, 2, 3]), 2, 2, 4, 4);
    assertClose(
      out,
      [
        0, 0.25, 0.75, 1,
        0.5, 0.75, 1.25, 1.5,
        1.5, 1.75, 2.25, 2.5,
        2, 2.25, 2.75, 3,
      ],
      1e-6,
      'resized',
    );
  });

  test('non-square 2x1 -> 4x2', () => {
    // one row [0, 4]: x weights 0, .25, .75, 1 -> [0, 1, 3, 4] on both rows
    const out = bilinearResize(new Float32Array([0, 4]), 2, 1, 4, 2);
    assertClose(out, [0, 1, 3, 4, 0, 1, 3, 4]);
  });

  test('identity when sizes are equal (a copy)', () => {
    const src = new Float32Array([1, -2, 3.5, 4, 5, 6]);
    const out = bilinearResize(src, 3, 2, 3, 2);
    assert.deepEqual(Array.from(out), Array.from(src));
    assert.notEqual(out, src);
  });

  test('downscale sanity: exact 2x reduction averages 2x2 blocks, stays in range', () => {
    const src = new Float32Array(16);
    for (let i = 0; i < 16; i++) src[i] = i; // 4x4, row-major
    const out = bilinearResize(src, 4, 4, 2, 2);
    // blocks: (0+1+4+5)/4 = 2.5, (2+3+6+7)/4 = 4.5, (8+9+12+13)/4 = 10.5, (10+11+14+15)/4 = 12.5
    assertClose(out, [2.5, 4.5, 10.5, 12.5]);
    const big = new Float32Array(224 * 224);
    for (let i = 0; i < big.length; i++) big[i] = Math.sin(i * 0.37) * 3;
    const small = bilinearResize(big, 224, 224, 7, 7);
    for (const v of small) assert.ok(v >= -3 && v <= 3);
  });

  test('rejects mismatched sizes', () => {
    assert.throws(() => bilinearResize(new Float32Array(5), 2, 2, 4, 4), RangeError);
    assert.throws(() => bilinearResize(new Float32Array(4), 2, 2, 0, 4), RangeError);
  });
});

describe('colormaps', () => {
  test('every LUT has 256 RGB entries (768 bytes)', () => {
    for (const name of COLORMAPS) {
      const lut = colormapLut(name);
      assert.ok(lut instanceof Uint8Array);
      assert.equal(lut.length, 768, name);
    }
  });

  test('jet endpoints and midpoints (MATLAB jet(256))', () => {
    const lut = colormapLut('jet');
    assert.deepEqual(rgbAt(lut, 0), [0, 0, 131]); // jet(256)(1,:) = [0 0 0.5156]: dark blue
    assert.deepEqual(rgbAt(lut, 255), [128, 0, 0]); // jet(256)(256,:) = [0.5 0 0]: dark red
    // jet(256) row 32 (1-based) is pure blue; rows 96..97 are cyan-ish; 160 is yellow-ish; row 224 pure red
    assert.deepEqual(rgbAt(lut, 31), [0, 0, 255]);
    assert.deepEqual(rgbAt(lut, 223), [255, 0, 0]);
    assert.deepEqual(rgbAt(lut, 95), [0, 255, 255]);
    assert.deepEqual(rgbAt(lut, 159), [255, 255, 0]);
  });

  test('gray is identity', () => {
    const lut = colormapLut('gray');
    for (let i = 0; i < 256; i++) assert.deepEqual(rgbAt(lut, i), [i, i, i]);
  });

  test('viridis, inferno and turbo endpoints', () => {
    assertRgbNear(rgbAt(colormapLut('viridis'), 0), [68, 1, 84], 1, 'viridis 0');
    assertRgbNear(rgbAt(colormapLut('viridis'), 255), [253, 231, 37], 1, 'viridis 1');
    assertRgbNear(rgbAt(colormapLut('inferno'), 0), [0, 0, 4], 1, 'inferno 0');
    assertRgbNear(rgbAt(colormapLut('inferno'), 255), [252, 255, 164], 1, 'inferno 1');
    assertRgbNear(rgbAt(colormapLut('turbo'), 0), [48, 18, 59], 1, 'turbo 0');
    assertRgbNear(rgbAt(colormapLut('turbo'), 255), [122, 4, 3], 1, 'turbo 1');
    // a midpoint each (matplotlib cmap(128) * 255, rounded): viridis #21918c, inferno #bc3754
    assertRgbNear(rgbAt(colormapLut('viridis'), 128), [33, 145, 140], 1, 'viridis 0.5');
    assertRgbNear(rgbAt(colormapLut('inferno'), 128), [188, 55, 84], 1, 'inferno 0.5');
  });

  test('tables are smooth (no transcription glitches)', () => {
    for (const name of COLORMAPS) {
      const lut = colormapLut(name);
      for (let i = 2; i < 256; i++) {
        for (let c = 0; c < 3; c++) {
          const d2 = lut[i * 3 + c] - 2 * lut[(i - 1) * 3 + c] + lut[(i - 2) * 3 + c];
          // jet has kinks of one ramp step (4 levels); the others are smooth to rounding
          assert.ok(Math.abs(d2) <= (name === 'jet' ? 5 : 3), `${name}[${i}] channel ${c}: second difference ${d2}`);
        }
      }
    }
  });

  test('colormapLut returns a copy', () => {
    const a = colormapLut('viridis');
    a[0] = 255;
    assert.equal(colormapLut('viridis')[0], 68);
  });

  test('colorize maps values through the LUT with alpha 255', () => {
    const lutIdx = [0, 0, 128, 255, 255, 255, 0];
    const values = new Float32Array([0, NaN, 0.5, 1, 2, 0.999, -1]);
    assert.deepEqual(Array.from(values, lutIndex), lutIdx);
    const rgba = colorize(values, 'jet');
    const lut = colormapLut('jet');
    assert.equal(rgba.length, values.length * 4);
    for (let p = 0; p < values.length; p++) {
      assert.deepEqual(Array.from(rgba.subarray(p * 4, p * 4 + 4)), [...rgbAt(lut, lutIdx[p]), 255]);
    }
    const gray = colorize(new Float32Array([0.25]), 'gray');
    assert.deepEqual(Array.from(gray), [64, 64, 64, 255]);
  });
});

describe('overlay', () => {
  const image = new Uint8ClampedArray([100, 160, 200, 7]);
  const heat = new Uint8ClampedArray([255, 0, 0, 255]);

  test('uniform opacity, hand-computed pixel', () => {
    // a = 0.25: R 100*.75 + 255*.25 = 138.75 -> 139; G 160*.75 = 120; B 200*.75 = 150
    const out = overlayHeatmap(image, heat, new Float32Array([0.5]), 0.25, 1, 1);
    assert.deepEqual(Array.from(out), [139, 120, 150, 255]);
  });

  test('weightByValue, hand-computed pixel', () => {
    // a = 0.25 * 0.5 = 0.125: R 100*.875 + 255*.125 = 119.375 -> 119; G 140; B 175
    const out = overlayHeatmap(image, heat, new Float32Array([0.5]), 0.25, 1, 1, { weightByValue: true });
    assert.deepEqual(Array.from(out), [119, 140, 175, 255]);
    // value 0 leaves the image untouched
    const zero = overlayHeatmap(image, heat, new Float32Array([0]), 1, 1, 1, { weightByValue: true });
    assert.deepEqual(Array.from(zero), [100, 160, 200, 255]);
  });

  test('opacity 0 and 1 give the image and the heatmap', () => {
    const img = new Uint8Array([10, 20, 30, 0, 40, 50, 60, 128]);
    const h = new Uint8ClampedArray([200, 210, 220, 255, 1, 2, 3, 255]);
    const n = new Float32Array([1, 1]);
    assert.deepEqual(Array.from(overlayHeatmap(img, h, n, 0, 2, 1)), [10, 20, 30, 255, 40, 50, 60, 255]);
    assert.deepEqual(Array.from(overlayHeatmap(img, h, n, 1, 2, 1)), [200, 210, 220, 255, 1, 2, 3, 255]);
  });

  test('rejects mismatched sizes', () => {
    assert.throws(() => overlayHeatmap(image, heat, new Float32Array([0]), 0.5, 2, 1), RangeError);
  });
});

describe('npy', () => {
  test('header bytes are exact (format 1.0, 64-byte aligned)', () => {
    const data = new Float32Array([1, -2.5, 0.1, 3, 4, 5]);
    const buf = encodeNpyFloat32(data, [2, 3]);
    assert.deepEqual(Array.from(buf.subarray(0, 6)), [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
    assert.equal(buf.subarray(1, 6).toString('latin1'), 'NUMPY');
    assert.deepEqual(Array.from(buf.subarray(6, 8)), [1, 0]);
    const headerLen = buf.readUInt16LE(8);
    assert.equal((10 + headerLen) % 64, 0);
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    // dict is 60 chars: 10 + 60 + 1 = 71 -> padded to 128, header length 118
    assert.equal(headerLen, 118);
    const header = buf.subarray(10, 10 + headerLen).toString('latin1');
    assert.equal(header, dict + ' '.repeat(118 - dict.length - 1) + '\n');
    assert.equal(buf.length, 128 + 6 * 4);
    // float bytes little-endian: 1.0 = 0x3f800000, -2.5 = 0xc0200000
    assert.deepEqual(Array.from(buf.subarray(128, 136)), [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0]);
    for (let i = 0; i < data.length; i++) assert.equal(buf.readFloatLE(128 + i * 4), data[i]);
  });

  test('1-D shape is written as a Python one-tuple', () => {
    const buf = encodeNpyFloat32(new Float32Array([7]), [1]);
    const headerLen = buf.readUInt16LE(8);
    assert.equal((10 + headerLen) % 64, 0);
    assert.ok(buf.subarray(10, 10 + headerLen).toString('latin1').startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }"));
  });

  test('decode round-trip', () => {
    const data = new Float32Array(7 * 5);
    for (let i = 0; i < data.length; i++) data[i] = Math.fround(Math.cos(i) * 1e3);
    const back = decodeNpyFloat32(encodeNpyFloat32(data, [7, 5]));
    assert.deepEqual(back.shape, [7, 5]);
    assert.deepEqual(Array.from(back.data), Array.from(data));
    assert.throws(() => encodeNpyFloat32(data, [7, 4]), RangeError);
    assert.throws(() => decodeNpyFloat32(Buffer.from('not numpy at all')), /magic/);
  });

  test('numpy reads the file (np.load)', (t) => {
    const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      const reason = `python3 with numpy not available (${probe.error?.message ?? probe.stderr.trim().split('\n').pop()})`;
      console.log(`skipping np.load check: ${reason}`);
      t.skip(reason);
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'saliency-npy-'));
    try {
      const data = new Float32Array([0, 1.5, -2.25, 3e-8, 1e20, -0.1]);
      const file = join(dir, 'map.npy');
      writeFileSync(file, encodeNpyFloat32(data, [2, 3]));
      const script = [
        'import sys, json, numpy as np',
        'a = np.load(sys.argv[1])',
        'print(json.dumps({"dtype": a.dtype.str, "shape": list(a.shape), "fortran": bool(np.isfortran(a)),',
        '  "values": [float(x) for x in a.ravel()]}))',
      ].join('\n');
      const run = spawnSync('python3', ['-c', script, file], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      const got = JSON.parse(run.stdout) as { dtype: string; shape: number[]; fortran: boolean; values: number[] };
      assert.equal(got.dtype, '<f4');
      assert.deepEqual(got.shape, [2, 3]);
      assert.equal(got.fortran, false);
      assert.deepEqual(got.values, Array.from(data));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('png', () => {
  test('encode then decode with pngjs gives the same pixels', () => {
    const w = 5;
    const h = 3;
    const rgba = new Uint8ClampedArray(w * h * 4);
    for (let i = 0; i < rgba.length; i++) rgba[i] = (i * 37 + 11) % 256;
    const buf = encodePngRgba(rgba, w, h);
    assert.deepEqual(Array.from(buf.subarray(0, 8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const decoded = PNG.sync.read(buf);
    assert.equal(decoded.width, w);
    assert.equal(decoded.height, h);
    assert.deepEqual(Array.from(decoded.data), Array.from(rgba));
  });

  test('a colorized overlay round-trips through PNG', () => {
    const w = 4;
    const h = 4;
    const map = bilinearResize(new Float32Array([0, 1, 2, 3]), 2, 2, w, h);
    const { normalized } = minMaxNormalize(map);
    const heat = colorize(normalized, 'turbo');
    const img = new Uint8Array(w * h * 4).fill(128);
    const over = overlayHeatmap(img, heat, normalized, 0.6, w, h);
    const decoded = PNG.sync.read(encodePngRgba(over, w, h));
    assert.deepEqual(Array.from(decoded.data), Array.from(over));
  });

  test('rejects a wrong buffer size', () => {
    assert.throws(() => encodePngRgba(new Uint8Array(10), 2, 2), RangeError);
  });
});

describe('centredNormalize (signed maps, panel and CLI alike)', () => {
  test('0 maps to the middle, ±max|v| to the ends, non-finite values to 0', () => {
    const { normalized, bound } = centredNormalize(new Float32Array([-2, 0, 1, NaN, 2]));
    assert.equal(bound, 2);
    assert.deepEqual(Array.from(normalized), [0, 0.5, 0.75, 0.5, 1]);
    const flat = centredNormalize(new Float32Array([0, 0]));
    assert.deepEqual([flat.bound, ...flat.normalized], [0, 0.5, 0.5]);
  });
});

describe('display clip and gamma (panel)', () => {
  test('centredNormalize with a clip: bound = that percentile of |v|, beyond ±bound saturates', () => {
    // |v| sorted: 0 1 1 2 4; the 75th percentile (numpy linear): h = 4·0.75 = 3 → 2.
    const { normalized, bound } = centredNormalize(new Float32Array([-4, -1, 0, 1, 2]), { clipPercentile: 75 });
    assert.equal(bound, 2);
    assert.deepEqual(Array.from(normalized), [0, 0.25, 0.5, 0.75, 1]);
    // Between order statistics: h = 4·0.5 = 2 → 1; and no clip (or 100) keeps max|v|.
    assert.equal(centredNormalize(new Float32Array([-4, -1, 0, 1, 2]), { clipPercentile: 50 }).bound, 1);
    assert.equal(centredNormalize(new Float32Array([-4, -1, 0, 1, 2]), { clipPercentile: 100 }).bound, 4);
    assert.throws(() => centredNormalize(new Float32Array([1]), { clipPercentile: 101 }), RangeError);
  });

  test('minMaxNormalize with a clip saturates the outlier: min → 0, the 99th percentile → 1', () => {
    // 0 … 99 and one outlier 10000 (101 values): h = 100·0.99 = 99 → the value 99.
    const map = new Float32Array(101);
    for (let i = 0; i < 100; i++) map[i] = i;
    map[100] = 10000;
    const { normalized, stats } = minMaxNormalize(map, { clipPercentile: 99 });
    assert.deepEqual(stats, { min: 0, max: 99 });
    assert.ok(Math.abs(normalized[33] - 33 / 99) < 1e-7);
    assert.equal(normalized[100], 1);
  });

  test('applyGamma: v^γ unsigned; signed maps raise |v−0.5|·2 and keep the side', () => {
    assert.deepEqual(Array.from(applyGamma(new Float32Array([0, 0.25, 1]), 0.5, false)), [0, 0.5, 1]);
    assert.deepEqual(Array.from(applyGamma(new Float32Array([0.5]), 2, false)), [0.25]);
    // 0.375: distance 0.25 → √0.25 = 0.5 → 0.5 − 0.25 = 0.25 (still below the middle).
    assert.deepEqual(Array.from(applyGamma(new Float32Array([0, 0.375, 0.5, 0.625, 1]), 0.5, true)), [0, 0.25, 0.5, 0.75, 1]);
    const same = new Float32Array([0.3]);
    assert.equal(applyGamma(same, 1, false), same, 'gamma 1 draws as before');
    assert.throws(() => applyGamma(same, 0, false), RangeError);
  });
});
