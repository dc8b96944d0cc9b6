/**
 * The pure-TypeScript resamplers against their originals: pilResize against Pillow 9.4's own output
 * (test/fixtures/resample, written by scripts/preprocess/write_resample_fixtures.py), exact on 8-bit images;
 * tfResize against tfjs's cpu kernels run here, exact.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readImageFile } from '../../src/engine/image/decode';
import { pilResize, type PilFilter } from '../../src/engine/image/pipeline/pilResample';
import type { Plane, Window } from '../../src/engine/image/pipeline/plane';
import { tfResize } from '../../src/engine/image/pipeline/tfResize';
import type { PixelConvention } from '../../src/engine/image/pipeline/spec';
import { mulberry32 } from '../fixtures/seededRandom';

const DIR = path.join(__dirname, '..', 'fixtures', 'resample');

interface ImageEntry {
  file: string;
  width: number;
  height: number;
  sha256: string;
}
interface OutputEntry extends ImageEntry {
  filter: PilFilter;
  kind: string;
}
interface SourceEntry {
  name: string;
  source: ImageEntry;
  outputs: OutputEntry[];
}

const manifest = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as { sources: SourceEntry[] };

/** A fixture PNG as an RGB plane, checked against the sha256 the script recorded for PIL's raw bytes. */
function loadRgb(entry: ImageEntry): Plane {
  const img = readImageFile(path.join(DIR, entry.file));
  assert.equal(img.width, entry.width);
  assert.equal(img.height, entry.height);
  const data = new Uint8Array(img.width * img.height * 3);
  for (let i = 0, o = 0; i < img.data.length; i += 4) {
    data[o++] = img.data[i];
    data[o++] = img.data[i + 1];
    data[o++] = img.data[i + 2];
  }
  assert.equal(createHash('sha256').update(data).digest('hex'), entry.sha256, `${entry.file} decodes to PIL's bytes`);
  return { data, width: img.width, height: img.height, channels: 3 };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'same number of samples');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The window's pixels cut out of a full image. */
function subRect(p: Plane, w: Window): Plane {
  const data = p.data instanceof Uint8Array ? new Uint8Array(w.width * w.height * p.channels) : new Float32Array(w.width * w.height * p.channels);
  const rowLen = w.width * p.channels;
  for (let y = 0; y < w.height; y++) {
    const from = ((w.top + y) * p.width + w.left) * p.channels;
    data.set(p.data.subarray(from, from + rowLen), y * rowLen);
  }
  return { data, width: w.width, height: w.height, channels: p.channels };
}

/** A window inside the middle, one on the top-left corner and one on the bottom-right corner. */
function windowsOf(width: number, height: number): Window[] {
  const w = Math.max(1, Math.ceil(width / 3));
  const h = Math.max(1, Math.ceil(height / 2));
  return [
    { left: Math.floor(width / 3), top: Math.floor(height / 4), width: w, height: h },
    { left: 0, top: 0, width: w, height: Math.max(1, Math.floor(height / 5)) },
    { left: width - w, top: height - h, width: w, height: h },
  ];
}

function asFloat(p: Plane): Plane {
  return { ...p, data: Float32Array.from(p.data) };
}

const sources = manifest.sources.map((s) => ({ ...s, plane: loadRgb(s.source) }));

describe('pilResize on 8-bit images equals Pillow 9.4', () => {
  for (const s of sources) {
    for (const out of s.outputs) {
      it(`${s.name} ${s.source.width}×${s.source.height} → ${out.width}×${out.height} (${out.kind}) ${out.filter}: exact, whole and windowed`, () => {
        const expected = loadRgb(out);
        const ours = pilResize(s.plane, out.width, out.height, out.filter);
        assert.ok(ours.data instanceof Uint8Array);
        assert.deepEqual([ours.width, ours.height, ours.channels], [out.width, out.height, 3]);
        assert.equal(maxAbsDiff(ours.data, expected.data), 0, 'max |ours − PIL|');
        for (const w of windowsOf(out.width, out.height)) {
          const part = pilResize(s.plane, out.width, out.height, out.filter, w);
          assert.deepEqual([part.width, part.height], [w.width, w.height]);
          assert.equal(maxAbsDiff(part.data, subRect(expected, w).data), 0, `window ${JSON.stringify(w)}`);
        }
      });
    }
  }
  it('the fixtures cover every filter, both one-pass cases and growing and shrinking axes', () => {
    const outs = sources.flatMap((s) => s.outputs.map((o) => ({ ...o, src: s.source })));
    assert.deepEqual(new Set(outs.map((o) => o.filter)), new Set<PilFilter>(['nearest', 'bilinear', 'bicubic', 'area', 'lanczos', 'hamming']));
    assert.ok(outs.some((o) => o.width === o.src.width && o.height < o.src.height));
    assert.ok(outs.some((o) => o.height === o.src.height && o.width < o.src.width));
    assert.ok(outs.some((o) => o.width < o.src.width && o.height > o.src.height));
    assert.ok(outs.some((o) => o.width > o.src.width && o.height > o.src.height));
  });
});

describe('pilResize on float images (16-bit data)', () => {
  // The float path skips only the 8-bit roundings: the output's (0.5) and the intermediate's (0.5 each, carried
  // through the vertical weights, whose absolute sum is at most 1 for the non-negative kernels, 1.25 for
  // bicubic and 1.55 for lanczos), plus the 22-bit weights' quantisation (under 0.01 at these sizes).
  const WEIGHT_ABS_SUM: Record<PilFilter, number> = { nearest: 0, area: 1, bilinear: 1, hamming: 1, bicubic: 1.25, lanczos: 1.55 };
  it('is within 1 level of PIL\'s 8-bit result once rounded, and within the rounding it skips before', () => {
    let worst = 0;
    for (const s of sources) {
      const src = asFloat(s.plane);
      for (const out of s.outputs) {
        const ours = pilResize(src, out.width, out.height, out.filter);
        assert.ok(ours.data instanceof Float32Array);
        const pil = loadRgb(out).data;
        const label = `${s.name} ${out.kind} ${out.filter}`;
        assert.ok(maxAbsDiff(ours.data.map(Math.round), pil) <= 1, `${label}: rounded float more than 1 level from PIL`);
        const d = maxAbsDiff(ours.data, pil);
        const bound = out.filter === 'nearest' ? 0 : 0.5 + 0.5 * WEIGHT_ABS_SUM[out.filter] + 0.01;
        assert.ok(d <= bound, `${label}: max |float − PIL 8-bit| = ${d} > ${bound}`);
        worst = Math.max(worst, d);
        for (const w of windowsOf(out.width, out.height)) {
          assert.equal(maxAbsDiff(pilResize(src, out.width, out.height, out.filter, w).data, subRect(ours, w).data), 0);
        }
      }
    }
    // Something must differ, or the float path rounds like the 8-bit one.
    assert.ok(worst > 0.5);
  });
  it('keeps a constant image constant, exactly, with every filter, and clips to 0..255', () => {
    const value = Math.fround(117.3);
    const src: Plane = { data: new Float32Array(37 * 23 * 2).fill(value), width: 37, height: 23, channels: 2 };
    for (const filter of ['nearest', 'bilinear', 'bicubic', 'area', 'lanczos', 'hamming'] as const) {
      for (const [w, h] of [[11, 7], [80, 51], [37, 9], [5, 23]]) {
        const out = pilResize(src, w, h, filter);
        assert.ok(out.data.every((v) => v === value), `${filter} ${w}×${h}`);
      }
    }
    // A bright edge: bicubic's overshoot past 255 is clipped, as PIL's 8-bit passes clip.
    const edge = new Float32Array(20 * 4);
    for (let i = 0; i < edge.length; i++) edge[i] = i % 20 < 10 ? 0 : 255;
    const up = pilResize({ data: edge, width: 20, height: 4, channels: 1 }, 57, 4, 'lanczos');
    assert.equal(Math.max(...up.data), 255);
    assert.equal(Math.min(...up.data), 0);
  });
  it('returns the source unchanged at its own size (PIL copies), float and 8-bit', () => {
    const rand = mulberry32(7);
    const f: Plane = { data: Float32Array.from({ length: 13 * 9 * 3 }, () => rand() * 255), width: 13, height: 9, channels: 3 };
    for (const filter of ['nearest', 'bilinear', 'bicubic', 'area', 'lanczos', 'hamming'] as const) {
      assert.deepEqual(pilResize(f, 13, 9, filter).data, f.data, filter);
      assert.deepEqual(pilResize(sources[0].plane, 150, 100, filter).data, sources[0].plane.data, filter);
    }
  });
});

describe('pilResize and tfResize refuse bad arguments with RangeError', () => {
  const src: Plane = { data: new Uint8Array(4 * 3 * 3), width: 4, height: 3, channels: 3 };
  const bad: Array<[string, () => unknown]> = [
    ['zero output width', () => pilResize(src, 0, 3, 'bilinear')],
    ['fractional output height', () => tfResize(src, 4, 2.5, 'bilinear', 'half-pixel')],
    ['short data', () => pilResize({ ...src, data: new Uint8Array(35) }, 2, 2, 'bicubic')],
    ['zero channels', () => tfResize({ ...src, channels: 0, data: new Uint8Array(0) }, 2, 2, 'nearest', 'legacy-tf')],
    ['window past the right edge', () => pilResize(src, 8, 6, 'area', { left: 5, top: 0, width: 4, height: 2 })],
    ['window with no rows', () => tfResize(src, 8, 6, 'bilinear', 'align-corners', { left: 0, top: 0, width: 4, height: 0 })],
    ['negative window top', () => pilResize(src, 8, 6, 'nearest', { left: 0, top: -1, width: 4, height: 2 })],
    ['unknown filter', () => pilResize(src, 8, 6, 'gaussian' as PilFilter)],
    ['unknown convention', () => tfResize(src, 8, 6, 'bilinear', 'corner' as PixelConvention)],
  ];
  for (const [what, call] of bad) it(what, () => assert.throws(call, RangeError));
});

describe('tfResize equals tfjs cpu resizeBilinear / resizeNearestNeighbor', () => {
  before(async () => {
    await tf.setBackend('cpu');
    await tf.ready();
  });
  // tfjs's three legal flag pairs (alignCorners, halfPixelCenters); both true is refused by tfjs itself.
  const FLAGS: Array<[PixelConvention, boolean, boolean]> = [
    ['legacy-tf', false, false],
    ['half-pixel', false, true],
    ['align-corners', true, false],
  ];
  const SIZES: Array<[string, number, number]> = [
    ['down', 61, 43],
    ['up', 203, 131],
    ['mixed', 47, 160],
    ['1×1', 1, 1],
    ['one column', 1, 37],
    ['one row', 97, 1],
  ];
  for (const method of ['bilinear', 'nearest'] as const) {
    for (const [convention, alignCorners, halfPixelCenters] of FLAGS) {
      it(`${method} ${convention} (alignCorners=${alignCorners}, halfPixelCenters=${halfPixelCenters}): exact on a photo, whole and windowed`, () => {
        const src = asFloat(sources[0].plane);
        const x = tf.tensor3d(src.data as Float32Array, [src.height, src.width, src.channels]);
        try {
          for (const [kind, w, h] of SIZES) {
            const y = method === 'bilinear'
              ? tf.image.resizeBilinear(x, [h, w], alignCorners, halfPixelCenters)
              : tf.image.resizeNearestNeighbor(x, [h, w], alignCorners, halfPixelCenters);
            const expected: Plane = { data: y.dataSync() as Float32Array, width: w, height: h, channels: 3 };
            y.dispose();
            const ours = tfResize(src, w, h, method, convention);
            assert.ok(ours.data instanceof Float32Array);
            assert.equal(maxAbsDiff(ours.data, expected.data), 0, `${kind} ${w}×${h}`);
            for (const win of windowsOf(w, h)) {
              const part = tfResize(src, w, h, method, convention, win);
              assert.equal(maxAbsDiff(part.data, subRect(expected, win).data), 0, `${kind} window ${JSON.stringify(win)}`);
            }
          }
        } finally {
          x.dispose();
        }
      });
    }
  }
  it('the conventions really differ (each comparison above can fail)', () => {
    const src = asFloat(sources[0].plane);
    const a = tfResize(src, 61, 43, 'bilinear', 'legacy-tf').data;
    const b = tfResize(src, 61, 43, 'bilinear', 'half-pixel').data;
    const c = tfResize(src, 61, 43, 'bilinear', 'align-corners').data;
    assert.ok(maxAbsDiff(a, b) > 1 && maxAbsDiff(b, c) > 1 && maxAbsDiff(a, c) > 1);
  });
});
