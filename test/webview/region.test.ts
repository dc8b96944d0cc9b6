/**
 * Maps on the original image, honest about the crop, in a real Chromium (the harness plays the host): when an
 * answer says the model's input covers only a centre crop of the image, the heat is drawn only inside the crop
 * (canvas pixels sampled inside and outside), the crop is outlined and the rest dimmed, the header says what the
 * maps cover, the readout outside says so instead of a value, and the exports draw the same; an answer without a
 * region draws over the whole image as before. The compare view's tiles likewise.
 *
 * Run: node esbuild.mjs && node --import tsx --test test/webview/region.test.ts
 */
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import type { Page } from 'playwright-core';
import type { CompareSubject, CompareToHost, HostToCompare, HostToWebview, InputRegionMsg, RawMapMsg, WebviewToHost } from '../../src/shared/protocol';
import { float32ToBase64 } from '../../src/shared/protocol';
import type { MethodName } from '../../src/shared/methods';
import { posted, send, untilTrue, waitForPosted, webviewTest } from './harness';
import { answerExplains, IMG_H, IMG_W, initMsg, MODEL, RANKED, TOP5 } from './panelFixture';

/** The 64×48 fixture image's centre crop: 32×32 at (16, 8). */
const CROP: InputRegionMsg = { x: 16, y: 8, width: 32, height: 32, covers: 'crop', text: 'centre crop 32×32 at (16, 8) of the 64×48 image' };
const INSIDE = (x: number, y: number) => x >= 16 && x < 48 && y >= 8 && y < 40;

/**
 * Saliency 32×32 with value 100 + column, Grad-CAM 8×8 with 200 + row: over the 32×32 crop saliency pixel (i, j)
 * is image pixel (16 + i, 8 + j) exactly, so the readout at image x reads 100 + (x − 16).
 */
function mapOf(method: MethodName): RawMapMsg {
  const n = method === 'gradcam' ? 8 : 32;
  const data = new Float32Array(n * n);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) data[y * n + x] = method === 'gradcam' ? 200 + y : 100 + x;
  return { method, width: n, height: n, data: float32ToBase64(data), min: data[0], max: data[n * n - 1], signed: false,
    layer: method === 'gradcam' ? MODEL.defaultSpatialLayer : undefined };
}

async function answerAll(page: Page, answered: Set<number>, region: InputRegionMsg | undefined): Promise<void> {
  await answerExplains(page, answered, (m) => ({
    type: 'explanation', requestId: m.requestId,
    result: {
      imagePath: '/workspace/images/street.png', imageWidth: IMG_W, imageHeight: IMG_H, inputRegion: region, predictions: TOP5,
      target: RANKED.find((p) => p.index === (m.request.classIndex ?? RANKED[0].index))!, maps: (m.request.methods ?? ['saliency']).map(mapOf),
      timings: { forward: 1 }, notes: [],
    },
  }));
}

/** Alpha of every pixel of a pane's heat canvas, row-major. */
async function canvasAlpha(page: Page, testid: string): Promise<{ w: number; h: number; alpha: number[] }> {
  return page.getByTestId(testid).evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const alpha: number[] = [];
    for (let i = 3; i < d.length; i += 4) alpha.push(d[i]);
    return { w: c.width, h: c.height, alpha };
  });
}

/** The image pixel (x, y) under the pointer in the pane of `canvasId` (its centre, on the drawn box). */
async function hoverPixel(page: Page, canvasId: string, x: number, y: number): Promise<string> {
  const box = (await page.getByTestId(canvasId).boundingBox())!;
  await page.mouse.move(box.x + ((x + 0.5) / IMG_W) * box.width, box.y + ((y + 0.5) / IMG_H) * box.height);
  const readout = page.getByTestId('hover-readout');
  await untilTrue(async () => (await readout.getAttribute('data-x')) === String(x) && (await readout.getAttribute('data-y')) === String(y), `readout at ${x},${y}`);
  return (await readout.textContent()) ?? '';
}

async function exportedPng(page: Page, testid: string): Promise<PNG> {
  const n = (await posted(page)).length;
  await page.getByTestId(testid).click();
  const msg = await waitForPosted<WebviewToHost>(page, n, (m) => m.type === 'exportPng', `exportPng from ${testid}`);
  assert.ok(msg.type === 'exportPng');
  return PNG.sync.read(Buffer.from(msg.dataUrl.split(',')[1], 'base64'));
}

const rgb = (png: PNG, x: number, y: number) => [...png.data.subarray(4 * (y * png.width + x), 4 * (y * png.width + x) + 3)];
/** The fixture image's pixel (panelFixture.imageDataUrl), away from its disc. */
const imagePixel = (x: number, y: number) => [90 + y * 2, 140 + x, 210 - y];
/** At half brightness, rounded as canvas pixels are (Uint8ClampedArray: half to even). */
const dimmed = (x: number, y: number) => Array.from(Uint8ClampedArray.from(imagePixel(x, y), (c) => c * 0.5));

webviewTest('maps on the input region in the explain panel', 'webview.js', { timeout: 90_000, viewport: { width: 1100, height: 760 } }, async (t, harness) => {
  const { page } = harness;
  const answered = new Set<number>();
  await waitForPosted<WebviewToHost>(page, 0, (m) => m.type === 'ready', 'ready');
  await send(page, initMsg('side-by-side'));
  await waitForPosted<WebviewToHost>(page, 0, (m) => m.type === 'explain', 'explain');
  await answerAll(page, answered, CROP);
  await page.waitForSelector('[data-testid="gradcam-canvas"]', { state: 'visible' });
  await page.waitForSelector('[data-testid="saliency-canvas"]', { state: 'visible' });

  await t.test('heat only inside the crop, in both map panes', async () => {
    for (const id of ['saliency-canvas', 'gradcam-canvas']) {
      const { w, h, alpha } = await canvasAlpha(page, id);
      assert.deepEqual([w, h], [IMG_W, IMG_H]);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) assert.equal(alpha[y * w + x], INSIDE(x, y) ? 255 : 0, `${id} pixel ${x},${y}`);
      }
    }
  });

  await t.test('the crop is outlined in the focus border colour over each map pane, not over the bare image', async () => {
    const marks = await page.locator('.pane').evaluateAll((panes) => panes.map((p) => {
      const mark = p.querySelector<HTMLElement>('.map-region');
      const img = p.querySelector('img')!.getBoundingClientRect();
      if (!mark) return { pane: (p as HTMLElement).dataset.pane };
      const r = mark.getBoundingClientRect();
      const style = getComputedStyle(mark);
      return { pane: (p as HTMLElement).dataset.pane, covers: mark.dataset.covers, outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
        shadow: style.boxShadow, box: [(r.left - img.left) / img.width, (r.top - img.top) / img.height, r.width / img.width, r.height / img.height] };
    }));
    assert.deepEqual(marks.map((m) => m.pane), ['image', 'saliency', 'gradcam']);
    assert.equal(marks[0].covers, undefined, 'the bare image pane has no mark');
    for (const m of marks.slice(1)) {
      assert.equal(m.covers, 'crop');
      assert.equal(m.outline, 'solid 1px rgb(0, 120, 212)', `${m.pane}: the theme's --vscode-focusBorder`);
      assert.match(m.shadow ?? '', /rgba\(0, 0, 0, 0\.5\)/, `${m.pane}: the outside dimmed`);
      const expected = [16 / 64, 8 / 48, 32 / 64, 32 / 48];
      m.box!.forEach((v, k) => assert.ok(Math.abs(v - expected[k]) < 0.02, `${m.pane} box[${k}] ${v} vs ${expected[k]}`));
    }
  });

  await t.test('the header says once what the maps cover', async () => {
    const notes = await page.getByTestId('map-covers').allTextContents();
    assert.deepEqual(notes, [`map covers: ${CROP.text}`]);
    assert.ok(await page.getByTestId('map-covers').isVisible());
  });

  await t.test('the readout: values inside, one sentence outside', async () => {
    const inside = await hoverPixel(page, 'saliency-canvas', 30, 20);
    assert.match(inside, /Saliency 114\b/, inside);
    assert.match(inside, /Grad-CAM 2\d\d/, inside);
    assert.doesNotMatch(inside, /outside/);
    const outside = await hoverPixel(page, 'saliency-canvas', 4, 20);
    assert.match(outside, /x 4, y 20 px/);
    assert.equal(outside.match(/outside the model's input \(no attribution\)/g)?.length, 1, outside);
    assert.doesNotMatch(outside, /Saliency|Grad-CAM/, outside);
    await page.mouse.move(1, 1);
  });

  let legendWithRegion = 0;
  await t.test('the PNG export: no heat and dimmed outside, outlined, tinted inside; the legend has the extra line', async () => {
    const png = await exportedPng(page, 'export-png');
    assert.deepEqual([png.width, png.height], [3 * IMG_W, IMG_H], 'side by side: image, saliency, Grad-CAM');
    for (const panel of [1, 2]) {
      const left = panel * IMG_W;
      for (const [x, y] of [[2, 2], [60, 30], [30, 45], [5, 44]]) {
        assert.deepEqual(rgb(png, left + x, y), dimmed(x, y), `panel ${panel} outside pixel ${x},${y}: dimmed, no heat`);
      }
      for (const [x, y] of [[15, 20], [48, 20], [30, 7], [30, 40]]) assert.deepEqual(rgb(png, left + x, y), [0, 120, 212], `panel ${panel} outline at ${x},${y}`);
      for (const [x, y] of [[16, 8], [47, 39], [30, 20]]) assert.notDeepEqual(rgb(png, left + x, y), imagePixel(x, y), `panel ${panel} tinted at ${x},${y}`);
    }
    assert.deepEqual(rgb(png, 2, 2), imagePixel(2, 2), 'the bare image panel is untouched');
    legendWithRegion = (await exportedPng(page, 'export-png-legend')).height;
  });

  await t.test('the .npy export says where its map lies', async () => {
    const n = (await posted(page)).length;
    await page.getByTestId('export-npy').click();
    const msg = await waitForPosted<WebviewToHost>(page, n, (m) => m.type === 'exportNpy', 'exportNpy');
    assert.deepEqual((msg as unknown as { inputRegion: InputRegionMsg }).inputRegion, CROP);
    assert.deepEqual([msg.imageWidth, msg.imageHeight], [IMG_W, IMG_H]);
  });

  await t.test('an answer without a region draws over the whole image, as before', async () => {
    const from = (await posted(page)).length;
    await send(page, { type: 'invalidate', reason: '' });
    await waitForPosted<WebviewToHost>(page, from, (m) => m.type === 'explain', 'explain again');
    await answerAll(page, answered, undefined);
    await untilTrue(async () => (await canvasAlpha(page, 'saliency-canvas')).alpha.every((a) => a === 255), 'heat everywhere');
    assert.ok((await canvasAlpha(page, 'gradcam-canvas')).alpha.every((a) => a === 255));
    assert.equal(await page.locator('.map-region').count(), 0);
    assert.equal(await page.getByTestId('map-covers').isVisible(), false);
    // Saliency 32 wide over the 64 px image: half-pixel centres, x = 4 reads u = 4.5·0.5 − 0.5 = 1.75 → 101.75.
    const text = await hoverPixel(page, 'saliency-canvas', 4, 20);
    assert.match(text, /Saliency 102\b|Saliency 101\.\d/, text);
    await page.mouse.move(1, 1);
    const png = await exportedPng(page, 'export-png');
    assert.notDeepEqual(rgb(png, IMG_W + 2, 2), dimmed(2, 2), 'tinted, not dimmed');
    const legend = await exportedPng(page, 'export-png-legend');
    assert.ok(legendWithRegion > legend.height, `the legend with a region has one more line: ${legendWithRegion} vs ${legend.height}`);
    const n = (await posted(page)).length;
    await page.getByTestId('export-npy').click();
    const msg = await waitForPosted<WebviewToHost>(page, n, (m) => m.type === 'exportNpy', 'exportNpy');
    assert.equal((msg as unknown as { inputRegion?: InputRegionMsg }).inputRegion, undefined);
  });

  await t.test('maps that arrive ahead of the answer are placed when the answer says where', async () => {
    const from = (await posted(page)).length;
    await send(page, { type: 'invalidate', reason: '' });
    const req = await waitForPosted<WebviewToHost>(page, from, (m) => m.type === 'explain', 'explain again');
    assert.ok(req.type === 'explain');
    answered.add(req.requestId);
    const methods = req.request.methods ?? ['saliency'];
    const target = RANKED.find((p) => p.index === (req.request.classIndex ?? RANKED[0].index))!;
    await send(page, { type: 'partial', requestId: req.requestId, partial: { kind: 'predictions', predictions: TOP5, target, imageWidth: IMG_W, imageHeight: IMG_H } });
    for (const m of methods) await send(page, { type: 'partial', requestId: req.requestId, partial: { kind: 'map', map: mapOf(m) } });
    await untilTrue(async () => (await canvasAlpha(page, 'saliency-canvas')).alpha.every((a) => a === 255), 'the early map drawn');
    await send(page, { type: 'explanation', requestId: req.requestId, result: { imagePath: '/workspace/images/street.png', imageWidth: IMG_W,
      imageHeight: IMG_H, inputRegion: CROP, predictions: TOP5, target, maps: methods.map(mapOf), timings: { forward: 1 }, notes: [] } } satisfies HostToWebview);
    await untilTrue(async () => (await canvasAlpha(page, 'saliency-canvas')).alpha[0] === 0, 'placed on the crop');
    const { w, alpha } = await canvasAlpha(page, 'saliency-canvas');
    alpha.forEach((a, k) => assert.equal(a, INSIDE(k % w, Math.floor(k / w)) ? 255 : 0, `pixel ${k % w},${Math.floor(k / w)}`));
    assert.equal(await page.locator('.pane[data-pane="saliency"] .map-region').count(), 1);
  });

  assert.deepEqual(harness.errors, []);
});

// The compare view: a 48×36 picture whose model input is the centre 36×36 crop at (6, 0).
const CMP_CROP: InputRegionMsg = { x: 6, y: 0, width: 36, height: 36, covers: 'crop', text: 'centre crop 36×36 at (6, 0) of the 48×36 image' };

function comparePicture(): string {
  const png = new PNG({ width: 48, height: 36 });
  for (let i = 0; i < 48 * 36; i++) png.data.set([(i * 7) % 255, (i * 3) % 255, 120, 255], i * 4);
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

webviewTest('compare tiles on the input region', 'compare.js', { timeout: 60_000, viewport: { width: 900, height: 900 } }, async (_t, harness) => {
  const { page } = harness;
  const subject: CompareSubject = { imageUri: comparePicture(), imageName: 'photo.png', imagePath: '/w/photo.png', model: MODEL, classIndex: 0 };
  await waitForPosted<CompareToHost>(page, 0, (m) => m.type === 'ready', 'ready');
  await send(page, { type: 'subject', subject, settings: { colormap: 'jet', opacity: 0.6, defaultView: 'side-by-side' } } satisfies HostToCompare);
  const req = await waitForPosted<CompareToHost>(page, 0, (m) => m.type === 'compare', 'compare');
  assert.ok(req.type === 'compare');
  const classes = TOP5.slice(0, 2);
  const map = (scale: number): RawMapMsg => {
    const data = new Float32Array(36).map((_, k) => scale * (k + 1));
    return { method: req.request.method, width: 6, height: 6, data: float32ToBase64(data), min: scale, max: 36 * scale, signed: false, layer: 'conv2d_2' };
  };
  await send(page, {
    type: 'comparison', requestId: req.requestId,
    result: { imagePath: '/w/photo.png', imageWidth: 48, imageHeight: 36, inputRegion: CMP_CROP, method: req.request.method, predictions: classes,
      ranked: RANKED, maps: classes.map((_, i) => map(i + 1)), layer: 'conv2d_2', timings: { total: 1 } },
  } satisfies HostToCompare);
  await page.waitForSelector('[data-testid="compare-tile"][data-drawn="true"]');
  const tiles = await page.locator('[data-testid="compare-tile"]').evaluateAll((els) => els.map((tile) => {
    const c = tile.querySelector('canvas')!;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    return { w: c.width, h: c.height, row: Array.from({ length: c.width }, (_, x) => d[4 * (18 * c.width + x) + 3]), covers: tile.querySelector<HTMLElement>('.map-region')?.dataset.covers };
  }));
  assert.equal(tiles.length, 2);
  for (const tile of tiles) {
    assert.deepEqual([tile.w, tile.h], [48, 36]);
    assert.deepEqual(tile.row, Array.from({ length: 48 }, (_, x) => (x >= 6 && x < 42 ? 255 : 0)), 'heat in columns 6–41 only');
    assert.equal(tile.covers, 'crop');
  }
  assert.deepEqual(harness.errors, []);
});

webviewTest('the sensitivity note under the predictions', 'webview.js', { timeout: 60_000, viewport: { width: 900, height: 700 } }, async (_t, harness) => {
  const { page } = harness;
  await waitForPosted<WebviewToHost>(page, 0, (m) => m.type === 'ready', 'ready');
  await send(page, initMsg('saliency'));
  const first = await waitForPosted<WebviewToHost>(page, 0, (m) => m.type === 'explain', 'explain');
  assert.ok(first.type === 'explain');
  const text = `Preprocessed with half-pixel centres (TF2, PyTorch), the top class is ${TOP5[1].label} (30%), not ${TOP5[0].label} (62%).`;
  const answer = (requestId: number, sensitivity?: { pipeline: string; top: typeof TOP5[number]; text: string }[]): HostToWebview => ({
    type: 'explanation', requestId,
    result: {
      imagePath: '/workspace/images/street.png', imageWidth: IMG_W, imageHeight: IMG_H, predictions: TOP5, target: TOP5[0],
      maps: [mapOf('saliency')], timings: { forward: 1 }, notes: [], ...(sensitivity ? { sensitivity } : {}),
    },
  });
  await send(page, answer(first.requestId, [{ pipeline: 'with half-pixel centres (TF2, PyTorch)', top: TOP5[1], text }]));
  const note = page.getByTestId('sensitivity-note');
  await note.waitFor({ state: 'visible' });
  assert.equal((await note.textContent())?.trim(), text);
  // It sits right under the class chips, where the predictions it qualifies are.
  const [chips, noteBox] = await Promise.all([page.locator('.class-picker').first().boundingBox(), note.boundingBox()]);
  if (chips && noteBox) assert.ok(noteBox.y >= chips.y + chips.height - 1, 'the note is below the predictions');

  // A new model (init) forgets it; an answer without disagreements shows none.
  const n = (await posted(page)).length;
  await send(page, initMsg('saliency'));
  const second = await waitForPosted<WebviewToHost>(page, n, (m) => m.type === 'explain', 'explain after init');
  assert.ok(second.type === 'explain');
  assert.equal(await note.isHidden(), true);
  await send(page, answer(second.requestId));
  await untilTrue(async () => (await page.getByTestId('class-chip').count()) > 0, 'the predictions of the second answer');
  assert.equal(await note.isHidden(), true);
  assert.deepEqual(harness.errors, []);
});
