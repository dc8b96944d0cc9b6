/**
 * The explain panel's webview in a real browser (Debian chromium via playwright-core), without VS Code:
 * test/webview/harness.html loads dist/webview.js under the panel's CSP with a fake acquireVsCodeApi,
 * and this test plays the host — it sends `init`, answers each `explain` with synthetic maps and
 * checks what the panel draws and posts.
 *
 * Run: node esbuild.mjs && node --import tsx --test test/webview/panel.test.ts
 * Skips (with a printed reason) when chromium is missing, unless CI=true.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import type { Page } from 'playwright-core';
import type { ExplanationMsg, HostToWebview, ModelInfoMsg, PredictionMsg, RawMapMsg, WebviewToHost } from '../../src/shared/protocol';
import { float32ToBase64 } from '../../src/shared/protocol';
import { type Posted as HarnessPosted, posted as postedBy, ROOT, send as sendTo, untilTrue, waitForPosted as waitForPostedBy, webviewTest } from './harness';

const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const IMG_W = 64;
const IMG_H = 48;
const INPUT = 32; // model input is 32x32: maps live there, the image is 64x48
const CAM = 8; // Grad-CAM layer resolution


// ---- synthetic host data ------------------------------------------------------------------------

const LABELS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'tabby cat', 'golden retriever'];

const MODEL: ModelInfoMsg = {
  path: '/workspace/models/tiny-cnn/model.json',
  format: 'layers',
  numClasses: LABELS.length,
  labels: LABELS,
  outputActivation: 'softmax',
  inputShape: [1, INPUT, INPUT, 3],
  preprocessing: 'scale-0-1',
  spatialLayers: [
    { name: 'conv2d_1', type: 'Conv2D', height: 16, width: 16, channels: 16 },
    { name: 'conv2d_2', type: 'Conv2D', height: CAM, width: CAM, channels: 32 },
  ],
  defaultSpatialLayer: 'conv2d_2',
  backend: { name: 'wasm', threads: 1, note: 'test' },
  warnings: [],
  layers: [
    { name: 'conv2d_1', type: 'Conv2D', outputShape: [16, 16, 16], params: 448 },
    { name: 'conv2d_2', type: 'Conv2D', outputShape: [CAM, CAM, 32], params: 4640 },
    { name: 'predictions', type: 'Dense', outputShape: [LABELS.length], params: 396 },
  ],
  totalParams: 5484,
  outputName: 'predictions',
};

const LOGITS = [1.2, 0.3, 2.9, 0.1, 1.9, -0.5, 0.4, 4.1, 0.9, 2.2, -1.0, 0.0];

function predictions(): PredictionMsg[] {
  const m = Math.max(...LOGITS);
  const e = LOGITS.map((l) => Math.exp(l - m));
  const s = e.reduce((a, b) => a + b, 0);
  const all = LOGITS.map((logit, index) => ({ index, label: LABELS[index], logit, probability: e[index] / s }));
  return all.sort((a, b) => b.probability - a.probability);
}
const PREDS = predictions();
const TOP = PREDS[0].index;

/** A Gaussian blob whose centre depends on the class (and a negative lobe when signed). */
function blob(size: number, classIndex: number, signed: boolean, scale: number): Float32Array {
  const out = new Float32Array(size * size);
  const cx = (0.15 + ((classIndex * 0.37) % 0.7)) * size;
  const cy = (0.2 + ((classIndex * 0.23) % 0.6)) * size;
  const sigma = size * 0.18;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d2 = (x - cx) ** 2 + (y - cy) ** 2;
      let v = Math.exp(-d2 / (2 * sigma * sigma));
      if (signed) v -= 0.5 * Math.exp(-((x - size + cx) ** 2 + (y - size + cy) ** 2) / (2 * sigma * sigma));
      out[y * size + x] = v * scale;
    }
  }
  return out;
}

function rawMap(method: 'saliency' | 'gradcam', size: number, data: Float32Array, extra: Partial<RawMapMsg>): RawMapMsg {
  let min = Infinity;
  let max = -Infinity;
  for (const v of data) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { method, width: size, height: size, data: float32ToBase64(data), min, max, ...extra };
}

function explanationFor(msg: Extract<WebviewToHost, { type: 'explain' }>): HostToWebview {
  const cls = msg.request.classIndex ?? TOP;
  const signed = msg.request.signed ?? false;
  const layer = msg.request.layer ?? MODEL.defaultSpatialLayer!;
  const methods = msg.request.methods ?? ['saliency', 'gradcam'];
  const maps: RawMapMsg[] = [];
  if (methods.includes('saliency')) maps.push(rawMap('saliency', INPUT, blob(INPUT, cls, signed, 0.02), { signed }));
  if (methods.includes('gradcam')) maps.push(rawMap('gradcam', CAM, blob(CAM, cls + 3, false, 1.7), { layer }));
  const target = PREDS.find((p) => p.index === cls)!;
  const result: ExplanationMsg = {
    imagePath: '/workspace/images/street.png',
    imageWidth: IMG_W,
    imageHeight: IMG_H,
    predictions: PREDS.slice(0, 5),
    target,
    maps,
    timings: { forward: 3, saliency: 7, gradcam: 4 },
    notes: cls === 11 ? ['Grad-CAM is near zero for this class at conv2d_2.'] : [],
  };
  return { type: 'explanation', requestId: msg.requestId, result };
}

/** A 64x48 test picture: a sky-to-ground gradient with a disc and a bar, as a PNG data URL. */
function imageDataUrl(): string {
  const png = new PNG({ width: IMG_W, height: IMG_H });
  for (let y = 0; y < IMG_H; y++) {
    for (let x = 0; x < IMG_W; x++) {
      const i = 4 * (y * IMG_W + x);
      const sky = y < IMG_H * 0.62;
      let r = sky ? 90 + y * 2 : 70 + (x % 8) * 3;
      let g = sky ? 140 + y * 1.5 : 110 + (y % 5) * 4;
      let b = sky ? 210 - y : 60;
      if ((x - 20) ** 2 + (y - 18) ** 2 < 64) [r, g, b] = [240, 200, 60];
      if (x > 40 && x < 52 && y > 14 && y < 34) [r, g, b] = [150, 60, 50];
      png.data[i] = r;
      png.data[i + 1] = g;
      png.data[i + 2] = b;
      png.data[i + 3] = 255;
    }
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

// ---- harness plumbing ---------------------------------------------------------------------------

type Posted = HarnessPosted<WebviewToHost>;
const posted = (page: Page) => postedBy<WebviewToHost>(page);
const waitForPosted = (page: Page, from: number, pred: (m: Posted) => boolean, what: string, timeout?: number) =>
  waitForPostedBy<WebviewToHost>(page, from, pred, what, timeout);
const send = (page: Page, msg: HostToWebview) => sendTo(page, msg);

/** Answers every `explain` posted after index `from` that has not been answered yet. */
async function answerExplains(page: Page, answered: Set<number>): Promise<number> {
  let n = 0;
  for (const m of await posted(page)) {
    if (m.type !== 'explain' || answered.has(m.requestId)) continue;
    answered.add(m.requestId);
    await send(page, explanationFor(m));
    n++;
  }
  return n;
}

interface CanvasStats {
  width: number;
  height: number;
  distinct: number;
  hash: number;
  visible: boolean;
  opacity: string;
}

async function canvasStats(page: Page, testid: string): Promise<CanvasStats> {
  await page.waitForSelector(`[data-testid="${testid}"]`, { state: 'visible' });
  return page.evaluate((id) => {
    const c = document.querySelector(`[data-testid="${id}"]`) as HTMLCanvasElement;
    const ctx = c.getContext('2d')!;
    const { data } = ctx.getImageData(0, 0, c.width, c.height);
    const seen = new Set<number>();
    let hash = 0;
    for (let i = 0; i < data.length; i += 4) {
      const rgb = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
      seen.add(rgb);
      hash = (Math.imul(hash, 31) + rgb) | 0;
    }
    const r = c.getBoundingClientRect();
    return { width: c.width, height: c.height, distinct: seen.size, hash, visible: r.width > 0 && r.height > 0 && !c.hidden, opacity: c.style.opacity };
  }, testid);
}

async function waitForHashChange(page: Page, testid: string, before: number): Promise<CanvasStats> {
  const end = Date.now() + 5000;
  for (;;) {
    const s = await canvasStats(page, testid);
    if (s.hash !== before) return s;
    if (Date.now() > end) throw new Error(`${testid} did not change`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// ---- the test ----------------------------------------------------------------------------------

webviewTest('webview panel in chromium', 'webview.js', { timeout: 120_000, viewport: { width: 1100, height: 760 } }, async (t, harness) => {
  const { page } = harness;
  const answered = new Set<number>();

  await t.test('posts ready, then asks for the top class after init', async () => {
    await waitForPosted(page, 0, (m) => m.type === 'ready', 'ready');
    await send(page, { type: 'init', imageUri: imageDataUrl(), imageName: 'street.png', imagePath: '/workspace/images/street.png', model: MODEL, settings: { colormap: 'jet', opacity: 0.55, defaultView: 'saliency' } });
    const explain = await waitForPosted(page, 0, (m) => m.type === 'explain', 'explain');
    assert.equal(explain.type, 'explain');
    if (explain.type === 'explain') {
      assert.equal(explain.request.classIndex, undefined, 'first request is for the top class');
      assert.equal(explain.request.signed, false);
    }
    await answerExplains(page, answered);
  });

  let first: CanvasStats;
  await t.test('draws a non-uniform heatmap over the image at its aspect ratio', async () => {
    await page.waitForSelector('[data-testid="class-chip"]');
    first = await canvasStats(page, 'heatmap-canvas');
    assert.equal(first.width, IMG_W);
    assert.equal(first.height, IMG_H);
    assert.ok(first.visible);
    assert.ok(first.distinct > 20, `heatmap has ${first.distinct} distinct colours`);
    assert.equal(first.opacity, '0.55');
    const box = await page.getByTestId('image').boundingBox();
    assert.ok(box && box.width > 300, 'image is fitted to the panel');
    assert.ok(Math.abs(box!.width / box!.height - IMG_W / IMG_H) < 0.02, 'aspect ratio kept');
    const chips = await page.getByTestId('class-chip').count();
    assert.equal(chips, 5);
    const selected = await page.locator('[data-testid="class-chip"].selected').getAttribute('data-class-index');
    assert.equal(Number(selected), TOP);
    assert.match((await page.getByTestId('colorbar').textContent()) ?? '', /Saliency/);
    assert.match((await page.locator('.header').textContent()) ?? '', /wasm/);
  });

  await t.test('another class chip requests that class and replaces the map', async () => {
    const other = PREDS[2].index;
    const n = (await posted(page)).length;
    await page.locator(`[data-testid="class-chip"][data-class-index="${other}"]`).click();
    const explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain for the other class');
    assert.ok(explain.type === 'explain' && explain.request.classIndex === other);
    await answerExplains(page, answered);
    const after = await waitForHashChange(page, 'heatmap-canvas', first.hash);
    assert.ok(after.distinct > 20);
    // Back to the top class: cached, instant, no request.
    const m = (await posted(page)).length;
    await page.locator(`[data-testid="class-chip"][data-class-index="${TOP}"]`).click();
    const back = await canvasStats(page, 'heatmap-canvas');
    assert.equal(back.hash, first.hash, 'cached map restored');
    assert.equal((await posted(page)).slice(m).filter((x) => x.type === 'explain').length, 0);
  });

  await t.test('the searchable list selects any class', async () => {
    const n = (await posted(page)).length;
    const search = page.getByTestId('class-search');
    await search.locator('input').fill('golden');
    await search.getByRole('option', { name: '11 · golden retriever' }).click();
    const explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain from the search list');
    assert.ok(explain.type === 'explain' && explain.request.classIndex === 11);
    await answerExplains(page, answered);
    await page.getByText('Grad-CAM is near zero').waitFor();
    await page.locator(`[data-testid="class-chip"][data-class-index="${TOP}"]`).click();
  });

  await t.test('colormap change re-colours locally without a request', async () => {
    const before = await canvasStats(page, 'heatmap-canvas');
    const n = (await posted(page)).length;
    await page.getByTestId('colormap').click();
    await page.getByTestId('colormap').getByRole('option', { name: 'viridis', exact: true }).click();
    const after = await waitForHashChange(page, 'heatmap-canvas', before.hash);
    assert.ok(after.distinct > 20);
    assert.equal((await posted(page)).slice(n).filter((m) => m.type === 'explain').length, 0, 'no explain for a colormap change');
    const state = await page.evaluate(() => (window as unknown as { __getState(): { colormap: string } }).__getState());
    assert.equal(state.colormap, 'viridis');
    assert.equal((state as unknown as { imagePath: string }).imagePath, '/workspace/images/street.png', 'imagePath kept for the serializer');
  });

  await t.test('opacity slider changes the overlay locally', async () => {
    const n = (await posted(page)).length;
    await page.getByTestId('opacity').fill('70');
    const s = await canvasStats(page, 'heatmap-canvas');
    assert.equal(s.opacity, '0.7');
    assert.equal((await posted(page)).slice(n).filter((m) => m.type === 'explain').length, 0);
  });

  await t.test('hover reports the original pixel coordinate and the map value', async () => {
    const box = (await page.getByTestId('image').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.26, box.y + box.height * 0.51);
    const text = (await page.getByTestId('hover-readout').textContent()) ?? '';
    assert.match(text, /x 16, y 24 px/);
    assert.match(text, /Saliency -?\d/);
    await page.mouse.move(1, 1);
  });

  await t.test('export PNG posts the overlay at the natural image size', async () => {
    const n = (await posted(page)).length;
    await page.getByTestId('export-png').click();
    const msg = await waitForPosted(page, n, (m) => m.type === 'exportPng', 'exportPng');
    assert.ok(msg.type === 'exportPng');
    assert.match(msg.dataUrl, /^data:image\/png;base64,/);
    const png = PNG.sync.read(Buffer.from(msg.dataUrl.split(',')[1], 'base64'));
    assert.equal(png.width, IMG_W);
    assert.equal(png.height, IMG_H);
    assert.match(msg.suggestedName, /^street-saliency-.*\.png$/);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, 'webview-export.png'), PNG.sync.write(png));
  });

  await t.test('export raw map posts exportNpy for the shown method', async () => {
    const n = (await posted(page)).length;
    await page.getByTestId('export-npy').click();
    const msg = await waitForPosted(page, n, (m) => m.type === 'exportNpy', 'exportNpy');
    assert.ok(msg.type === 'exportNpy');
    assert.equal(msg.method, 'saliency');
    assert.match(msg.suggestedName, /\.npy$/);
  });

  await fs.promises.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'webview-panel.png') });

  await t.test('side by side shows saliency and Grad-CAM canvases', async () => {
    await page.getByTestId('view-mode').getByText('Side by side').click();
    const s = await canvasStats(page, 'saliency-canvas');
    const g = await canvasStats(page, 'gradcam-canvas');
    assert.ok(s.distinct > 20 && g.distinct > 20);
    assert.equal(await page.getByTestId('heatmap-canvas').count(), 0);
    const sb = (await page.getByTestId('saliency-canvas').boundingBox())!;
    const gb = (await page.getByTestId('gradcam-canvas').boundingBox())!;
    assert.ok(gb.x > sb.x + sb.width - 1, 'in a row');
    assert.equal(await page.locator('.colorbar-row').count(), 2);
    await page.screenshot({ path: path.join(ARTIFACTS, 'webview-side-by-side.png') });
  });

  await t.test('layer and signed changes re-request only what they affect', async () => {
    let n = (await posted(page)).length;
    await page.getByTestId('signed-toggle').click();
    let explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain after signed toggle');
    assert.ok(explain.type === 'explain' && explain.request.signed === true);
    assert.deepEqual(explain.type === 'explain' && explain.request.methods, ['saliency']);
    await answerExplains(page, answered);
    await page.waitForSelector('.colorbar-zero');

    n = (await posted(page)).length;
    await page.getByTestId('layer-select').click();
    await page.getByTestId('layer-select').getByRole('option', { name: /^conv2d_1/ }).click();
    explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain after layer change');
    assert.ok(explain.type === 'explain' && explain.request.layer === 'conv2d_1');
    assert.deepEqual(explain.type === 'explain' && explain.request.methods, ['gradcam']);
    await answerExplains(page, answered);
    assert.match((await page.getByTestId('layer-select').textContent()) ?? '', /conv2d_2 \(auto\)/);

    // The Model view's "Use for Grad-CAM" (host → setLayer) selects that layer in the picker;
    // its Grad-CAM was cached before, so no request goes out.
    n = (await posted(page)).length;
    await send(page, { type: 'setLayer', layer: 'conv2d_2' });
    await untilTrue(async () => (await page.getByTestId('layer-select').evaluate((el) => (el as HTMLSelectElement).value)) === 'conv2d_2', 'layer conv2d_2');
    assert.equal((await posted(page)).slice(n).filter((m) => m.type === 'explain').length, 0);
    await send(page, { type: 'setLayer', layer: 'conv2d_1' });
    await untilTrue(async () => (await page.getByTestId('layer-select').evaluate((el) => (el as HTMLSelectElement).value)) === 'conv2d_1', 'layer conv2d_1');
  });

  await t.test('a model updated on disk recomputes, and "Show previous" flips to the old maps without a request', async () => {
    let n = (await posted(page)).length;
    await send(page, { type: 'modelUpdated', time: '12:34:56', model: MODEL });
    await page.getByTestId('model-updated').waitFor({ state: 'visible' });
    assert.match((await page.getByTestId('model-updated').textContent()) ?? '', /Model updated at 12:34:56/);
    await waitForPosted(page, n, (m) => m.type === 'explain', 'explain after modelUpdated');
    await answerExplains(page, answered);
    n = (await posted(page)).length;
    await page.getByTestId('show-previous').click();
    assert.equal((await page.getByTestId('show-previous').textContent())?.trim(), 'Show current');
    assert.ok(await page.getByTestId('model-updated').evaluate((el) => el.classList.contains('showing-previous')));
    await page.getByTestId('show-previous').click();
    assert.equal((await page.getByTestId('show-previous').textContent())?.trim(), 'Show previous');
    assert.equal((await posted(page)).slice(n).filter((m) => m.type === 'explain').length, 0, 'flipping is local');
  });

  await t.test('the model input toggle asks for the tensor the model sees and draws it; the preset picker asks for another preset', async () => {
    let n = (await posted(page)).length;
    await page.getByTestId('show-input').click();
    await waitForPosted(page, n, (m) => m.type === 'modelInput', 'modelInput request');
    const rgba = Buffer.alloc(8 * 6 * 4, 200).toString('base64');
    await send(page, { type: 'modelInput', input: { width: 8, height: 6, channels: 3, rgba, min: [-1, -1, -1], max: [1, 1, 1], preprocessing: 'symmetric ([-1,1]) (given)' } });
    await page.getByTestId('model-input').waitFor({ state: 'visible' });
    await untilTrue(async () => /What the model sees/.test((await page.getByTestId('model-input-caption').textContent()) ?? ''), 'caption');
    assert.match((await page.getByTestId('model-input-caption').textContent()) ?? '', /What the model sees: 6×8×3 · symmetric/);
    n = (await posted(page)).length;
    await page.getByTestId('preset-select').click();
    await page.getByTestId('preset-select').getByRole('option', { name: 'imagenet' }).click();
    const msg = await waitForPosted(page, n, (m) => m.type === 'setPreprocessing', 'setPreprocessing');
    assert.ok(msg.type === 'setPreprocessing' && msg.preset === 'imagenet');
    await page.getByTestId('show-input').click();
  });

  await t.test('an error shows one sentence with action buttons that post actions', async () => {
    await send(page, { type: 'error', message: 'The model could not be loaded: model.json has no weights manifest.', actions: ['Select Model…', 'Open Log'] });
    const error = page.getByTestId('error');
    await error.waitFor({ state: 'visible' });
    assert.match((await error.textContent()) ?? '', /could not be loaded/);
    const buttons = error.locator('vscode-button');
    assert.equal(await buttons.count(), 2);
    await page.screenshot({ path: path.join(ARTIFACTS, 'webview-error.png') });
    const n = (await posted(page)).length;
    await buttons.first().click();
    const action = await waitForPosted(page, n, (m) => m.type === 'action', 'action');
    assert.ok(action.type === 'action' && action.action === 'Select Model…');
  });

  await t.test('busy shows a progress ring and text', async () => {
    await send(page, { type: 'busy', message: 'Loading model…' });
    await page.getByTestId('status').getByText('Loading model…').waitFor();
    assert.equal(await page.getByTestId('status').locator('vscode-progress-ring').isVisible(), true);
  });

  await t.test('invalidate drops the cache and re-requests what is shown', async () => {
    const n = (await posted(page)).length;
    await send(page, { type: 'invalidate', reason: 'The image changed on disk.', imageUri: imageDataUrl() });
    const explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain after invalidate');
    assert.ok(explain.type === 'explain');
    await answerExplains(page, answered);
    await untilTrue(async () => !(await page.getByTestId('status').textContent()), 'the status cleared');
  });

  await t.test('state survives a reload', async () => {
    const state = await page.evaluate(() => (window as unknown as { __getState(): unknown }).__getState());
    const page2 = await harness.newPage('webview', { state: JSON.stringify(state) }, { width: 900, height: 600 });
    await waitForPosted(page2, 0, (m) => m.type === 'ready', 'ready after reload');
    await send(page2, { type: 'init', imageUri: imageDataUrl(), imageName: 'street.png', imagePath: '/workspace/images/street.png', model: MODEL, settings: { colormap: 'jet', opacity: 0.5, defaultView: 'saliency' } });
    const explain = await waitForPosted(page2, 0, (m) => m.type === 'explain', 'explain after reload');
    assert.ok(explain.type === 'explain' && explain.request.signed === true && explain.request.layer === 'conv2d_1');
    assert.equal(await page2.locator('.segment.active').textContent(), 'Side by side');
    assert.equal(await page2.getByTestId('opacity').inputValue(), '70');
    await page2.close();
  });

  await t.test('light theme renders (screenshot)', async () => {
    const page3 = await harness.newPage('webview', { theme: 'light' }, { width: 760, height: 620 });
    await waitForPosted(page3, 0, (m) => m.type === 'ready', 'ready (light)');
    await send(page3, { type: 'init', imageUri: imageDataUrl(), imageName: 'street.png', imagePath: '/workspace/images/street.png', model: MODEL, settings: { colormap: 'turbo', opacity: 0.5, defaultView: 'saliency' }, initial: { classIndex: 4, view: 'gradcam' } });
    const first3 = await waitForPosted(page3, 0, (m) => m.type === 'explain', 'explain (light)');
    assert.ok(first3.type === 'explain' && first3.request.classIndex === 4, '"Explain with…" class honoured');
    assert.equal(await page3.locator('.segment.active').textContent(), 'Grad-CAM');
    await answerExplains(page3, new Set());
    const s = await canvasStats(page3, 'heatmap-canvas');
    assert.ok(s.distinct > 20);
    await page3.screenshot({ path: path.join(ARTIFACTS, 'webview-panel-light.png') });
    await page3.close();
  });

  await t.test('no CSP violations and no page errors', async () => {
    const violations = await page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);
    assert.deepEqual(violations, []);
    assert.deepEqual(harness.errors, []);
  });
});
