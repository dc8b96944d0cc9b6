/**
 * SLIC superpixels: checked on a real photo (every segment one connected piece, the image covered, the
 * count near the one asked for) and on synthesized images of coloured blocks of uneven sizes, whose block
 * boundaries the segments must follow (boundary recall, measured here from the known blocks). CIELAB
 * values are checked against published reference values.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { readImageFile } from '../../src/engine/image/decode';
import { enforceConnectivity, segmentInput, slic, toLab } from '../../src/engine/methods/superpixels';
import type { Regions } from '../../src/engine/methods/perturbation';
import { mulberry32 } from '../fixtures/seededRandom';

const PHOTO = path.join(__dirname, '..', 'fixtures', 'photos', 'astronaut96.png');

/** The photo as 0..255 RGB values in image order. */
function photo(): { pixels: Float32Array; height: number; width: number } {
  const img = readImageFile(PHOTO);
  const n = img.width * img.height;
  const pixels = new Float32Array(n * 3);
  for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) pixels[p * 3 + c] = img.data[p * 4 + c];
  return { pixels, height: img.height, width: img.width };
}

/** Asserts labels are 0 … count−1, each used, and each label's pixels one 4-connected piece. */
function assertConnectedCover(r: Regions, height: number, width: number): void {
  assert.equal(r.labels.length, height * width);
  const sizes = new Array<number>(r.count).fill(0);
  for (const l of r.labels) {
    assert.ok(Number.isInteger(l) && l >= 0 && l < r.count, `label ${l} outside 0…${r.count - 1}`);
    sizes[l]++;
  }
  assert.ok(sizes.every((s) => s > 0), 'a label is unused');
  // Breadth-first from each label's first pixel must reach all its pixels.
  const seen = new Uint8Array(height * width);
  const firstOf = new Map<number, number>();
  r.labels.forEach((l, p) => firstOf.has(l) || firstOf.set(l, p));
  for (const [label, start] of firstOf) {
    const queue = [start];
    seen[start] = 1;
    let reached = 0;
    while (queue.length) {
      const p = queue.pop()!;
      reached++;
      const y = Math.floor(p / width);
      const x = p % width;
      for (const [yy, xx] of [[y - 1, x], [y + 1, x], [y, x - 1], [y, x + 1]]) {
        const q = yy * width + xx;
        if (yy >= 0 && yy < height && xx >= 0 && xx < width && !seen[q] && r.labels[q] === label) {
          seen[q] = 1;
          queue.push(q);
        }
      }
    }
    assert.equal(reached, sizes[label], `segment ${label} is in pieces: ${reached} of its ${sizes[label]} pixels connected`);
  }
}

/** Pixels whose right or lower neighbour has another label. */
function boundaries(labels: ArrayLike<number>, height: number, width: number): Uint8Array {
  const b = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if ((x + 1 < width && labels[p + 1] !== labels[p]) || (y + 1 < height && labels[p + width] !== labels[p])) b[p] = 1;
    }
  }
  return b;
}

/** Share of the true boundary pixels with a segment boundary within `tolerance` pixels (Chebyshev). */
function boundaryRecall(truth: ArrayLike<number>, segments: ArrayLike<number>, height: number, width: number, tolerance = 1): number {
  const t = boundaries(truth, height, width);
  const s = boundaries(segments, height, width);
  let hit = 0;
  let total = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!t[y * width + x]) continue;
      total++;
      let found = false;
      for (let dy = -tolerance; dy <= tolerance && !found; dy++) {
        for (let dx = -tolerance; dx <= tolerance && !found; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          found = yy >= 0 && yy < height && xx >= 0 && xx < width && s[yy * width + xx] === 1;
        }
      }
      if (found) hit++;
    }
  }
  return hit / total;
}

/** An image of blocks with uneven edges, each a random colour (or gray level) plus a little noise. */
function blocks(channels: 1 | 3, seed: number): { pixels: Float32Array; truth: Int32Array; height: number; width: number; count: number } {
  const rows = [0, 13, 31, 44, 60];
  const cols = [0, 9, 27, 38, 52, 64];
  const height = rows[rows.length - 1];
  const width = cols[cols.length - 1];
  const rand = mulberry32(seed);
  const count = (rows.length - 1) * (cols.length - 1);
  // Colours far apart: gray levels spread over 0..255, colours drawn until each differs from the others.
  const colours: number[][] = [];
  while (colours.length < count) {
    const c = channels === 1 ? [Math.round((255 * (colours.length + 0.5)) / count)] : [0, 0, 0].map(() => Math.floor(256 * rand()));
    if (channels === 1 || colours.every((o) => Math.hypot(o[0] - c[0], o[1] - c[1], o[2] - c[2]) > 80)) colours.push(c);
  }
  // Gray levels in a shuffled order, so neighbours are not always similar.
  for (let i = colours.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [colours[i], colours[j]] = [colours[j], colours[i]];
  }
  const truth = new Int32Array(height * width);
  const pixels = new Float32Array(height * width * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const by = rows.findIndex((r, i) => y >= r && y < rows[i + 1]);
      const bx = cols.findIndex((c, i) => x >= c && x < cols[i + 1]);
      const block = by * (cols.length - 1) + bx;
      truth[y * width + x] = block;
      for (let c = 0; c < channels; c++) pixels[(y * width + x) * channels + c] = Math.min(255, Math.max(0, colours[block][c] + 6 * (rand() - 0.5)));
    }
  }
  return { pixels, truth, height, width, count };
}

describe('SLIC superpixels', () => {
  it('converts sRGB to CIELAB (D65) as the published reference values', () => {
    // White, black, and the sRGB primaries' L*a*b* (Bruce Lindbloom's calculator / colormath).
    const cases: [number[], number[]][] = [
      [[255, 255, 255], [100, 0, 0]],
      [[0, 0, 0], [0, 0, 0]],
      [[255, 0, 0], [53.2408, 80.0925, 67.2032]],
      [[0, 255, 0], [87.7347, -86.1827, 83.1793]],
      [[0, 0, 255], [32.2970, 79.1875, -107.8602]],
      [[128, 128, 128], [53.5850, 0, 0]],
    ];
    for (const [rgb, lab] of cases) {
      const out = toLab(Float32Array.from(rgb), 1, 3);
      for (let i = 0; i < 3; i++) assert.ok(Math.abs(out[i] - lab[i]) < 0.02, `Lab of ${rgb}: ${Array.from(out)} vs ${lab}`);
    }
    // A gray pixel of one channel is the same gray in RGB.
    assert.deepEqual(Array.from(toLab(Float32Array.from([128]), 1, 1)), Array.from(toLab(Float32Array.from([128, 128, 128]), 1, 3)));
  });

  it('covers a real photo with connected segments, about as many as asked', () => {
    const { pixels, height, width } = photo();
    for (const segments of [10, 25, 50, 100, 200]) {
      const r = slic(pixels, height, width, 3, { segments });
      assertConnectedCover(r, height, width);
      assert.ok(r.count >= 0.5 * segments && r.count <= 1.5 * segments, `${segments} asked, ${r.count} made`);
    }
  });

  it('is deterministic', () => {
    const { pixels, height, width } = photo();
    assert.deepEqual(slic(pixels, height, width, 3, { segments: 40 }).labels, slic(pixels, height, width, 3, { segments: 40 }).labels);
  });

  for (const channels of [3, 1] as const) {
    it(`follows the edges of coloured blocks (${channels === 3 ? 'colour' : 'grayscale'})`, () => {
      for (const seed of [1, 2, 3]) {
        const { pixels, truth, height, width, count } = blocks(channels, seed);
        // As many segments as blocks, and more: either way block edges must be segment edges.
        for (const segments of [count, 3 * count]) {
          const r = slic(pixels, height, width, channels, { segments });
          assertConnectedCover(r, height, width);
          const recall = boundaryRecall(truth, r.labels, height, width);
          assert.ok(recall >= 0.9, `seed ${seed}, ${segments} segments: boundary recall ${recall.toFixed(3)}`);
          // And segments do not straddle blocks: each lies ≥ 90 % in one block (undersegmentation).
          const inBlock = new Map<number, Map<number, number>>();
          r.labels.forEach((l, p) => {
            const m = inBlock.get(l) ?? new Map<number, number>();
            m.set(truth[p], (m.get(truth[p]) ?? 0) + 1);
            inBlock.set(l, m);
          });
          let leak = 0;
          for (const m of inBlock.values()) {
            const all = [...m.values()];
            leak += all.reduce((a, b) => a + b, 0) - Math.max(...all);
          }
          assert.ok(leak <= 0.05 * height * width, `seed ${seed}, ${segments} segments: ${leak} pixels outside their segment's main block`);
        }
      }
    });
  }

  it('segments a preprocessed input as the pixels it came from (any per-channel affine preprocessing)', () => {
    const { pixels, height, width } = photo();
    // Stretch the photo to span 0..255 per channel (min–max rescaling then recovers it exactly).
    const stretched = new Float32Array(pixels.length);
    for (let c = 0; c < 3; c++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = c; i < pixels.length; i += 3) [lo, hi] = [Math.min(lo, pixels[i]), Math.max(hi, pixels[i])];
      for (let i = c; i < pixels.length; i += 3) stretched[i] = ((pixels[i] - lo) * 255) / (hi - lo);
    }
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const imagenet = stretched.map((v, i) => (v / 255 - mean[i % 3]) / std[i % 3]);
    const direct = slic(stretched, height, width, 3, { segments: 50 });
    const viaInput = segmentInput(imagenet, { height, width, channels: 3 }, 50);
    let same = 0;
    for (let p = 0; p < direct.labels.length; p++) if (direct.labels[p] === viaInput.labels[p]) same++;
    // Float rounding may move a pixel or two at a tie; the segmentations must otherwise be the same.
    assert.equal(viaInput.count, direct.count);
    assert.ok(same >= 0.99 * direct.labels.length, `${same} of ${direct.labels.length} pixels agree`);
  });

  it('makes a fragmented cluster connected and absorbs orphan pixels', () => {
    // Cluster 0 in two pieces (left column and right column), cluster 1 between them, one stray pixel of 1 inside 0.
    const width = 6;
    const height = 4;
    const labels = Int32Array.from([
      0, 1, 1, 1, 1, 0,
      0, 1, 1, 1, 1, 0,
      0, 1, 0, 1, 1, 0,
      0, 1, 1, 1, 1, 0,
    ]);
    const r = enforceConnectivity(labels, height, width, 2);
    assertConnectedCover(r, height, width);
    // The stray 0 inside cluster 1 is absorbed by it; the two columns of 0 (4 pixels each, above the minimum) stay apart.
    assert.equal(r.count, 3);
    assert.equal(r.labels[2 * width + 2], r.labels[2 * width + 3]);
    assert.notEqual(r.labels[0], r.labels[5]);
  });
});
