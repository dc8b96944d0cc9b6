/**
 * Spearman rank correlation and SSIM against scipy.stats.spearmanr and skimage.metrics.structural_similarity
 * (reference values written by scripts/metrics/similarity_fixtures.py into test/fixtures/metrics/similarity.json).
 * Tolerance 1e-9 absolute: both sides compute in float64 and differ only in summation order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { averageRanks, MapLike, sameSize, spearman, ssim } from '../../src/engine/metrics/similarity';
import { UserError } from '../../src/engine/errors';

interface Fixture {
  spearman: { name: string; a: MapLike; b: MapLike; rho: number; rhoAbsolute: number }[];
  ssim: { name: string; a: MapLike; b: MapLike; ssim: number; dataRange?: number }[];
}

const fixture: Fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/metrics/similarity.json'), 'utf8'));
const TOL = 1e-9;

test('average ranks give tied values the mean of their ranks (scipy rankdata "average")', () => {
  assert.deepEqual(Array.from(averageRanks([10, 20, 20, 5, 20])), [2, 4, 4, 1, 4]);
});

for (const c of fixture.spearman) {
  test(`Spearman matches scipy.stats.spearmanr: ${c.name}`, () => {
    assert.ok(Math.abs(spearman(c.a, c.b) - c.rho) < TOL, `${spearman(c.a, c.b)} vs ${c.rho}`);
    assert.ok(Math.abs(spearman(c.a, c.b, { absolute: true }) - c.rhoAbsolute) < TOL);
  });
}

for (const c of fixture.ssim) {
  test(`SSIM matches skimage structural_similarity: ${c.name}`, () => {
    const value = ssim(c.a, c.b, c.dataRange === undefined ? {} : { dataRange: c.dataRange });
    assert.ok(Math.abs(value - c.ssim) < TOL, `${value} vs ${c.ssim}`);
    // Symmetric in its two maps, as the formula is.
    assert.ok(Math.abs(ssim(c.b, c.a, c.dataRange === undefined ? {} : { dataRange: c.dataRange }) - value) < TOL);
  });
}

test('identical maps: SSIM 1 and Spearman 1; a constant map has no ranking (NaN)', () => {
  const m = fixture.ssim[0].a;
  assert.ok(Math.abs(ssim(m, m) - 1) < 1e-12);
  assert.equal(spearman(m, m), 1);
  const flat = { width: 8, height: 8, data: new Float32Array(64).fill(2) };
  assert.equal(ssim(flat, flat), 1);
  assert.ok(Number.isNaN(spearman(flat, { width: 8, height: 8, data: new Float32Array(64).map((_, i) => i) })));
});

test('maps of different sizes are compared at the larger size (the smaller bilinearly resized)', () => {
  // A 2×2 map upsampled to 4×4 with half-pixel centres keeps its ordering along each axis.
  const small = { width: 2, height: 2, data: [0, 1, 2, 3] };
  const big = { width: 4, height: 4, data: Array.from({ length: 16 }, (_, i) => Math.floor(i / 4) * 2 + (i % 4) * 0.5) };
  const same = sameSize(small, big);
  assert.equal(same.width, 4);
  assert.deepEqual(Array.from(same.a), [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3]);
  assert.deepEqual(Array.from(same.b), big.data);
  assert.ok(spearman(small, big) > 0.95);
  assert.ok(Math.abs(spearman(small, big) - spearman(big, small)) < 1e-12);
});

test('bad maps and options are refused with a UserError', () => {
  const m = { width: 8, height: 8, data: new Float32Array(64).map((_, i) => i) };
  assert.throws(() => spearman({ width: 3, height: 3, data: [1, 2] }, m), UserError);
  assert.throws(() => spearman({ width: 2, height: 1, data: [1, NaN] }, { width: 2, height: 1, data: [1, 2] }), UserError);
  assert.throws(() => ssim({ width: 6, height: 6, data: new Float32Array(36) }, { width: 6, height: 6, data: new Float32Array(36) }), UserError);
  assert.throws(() => ssim(m, m, { dataRange: 0 }), UserError);
});
