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
import { FAMILIES, isSigned, METHODS, METHOD_NAMES, methodSpec, resolveOptions, type MethodName, type MethodOptions } from '../../src/shared/methods';
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

function rawMap(method: MethodName, size: number, data: Float32Array, extra: Partial<RawMapMsg>): RawMapMsg {
  let min = Infinity;
  let max = -Infinity;
  for (const v of data) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { method, width: size, height: size, data: float32ToBase64(data), min, max, ...extra };
}

/** Integrated Gradients' made-up completeness check: attributions miss the logit change of 1.25 by 0.00375 (0.3 %). */
const IG_STATS = { completenessResidual: 0.00375, logitChange: 1.25 };

/** A small number from a method's options, so that other options draw another picture. */
function optionsSalt(options: MethodOptions | undefined): number {
  let h = 0;
  for (const c of JSON.stringify(options ?? {})) h = (h * 31 + c.charCodeAt(0)) % 9973;
  return h % 5;
}

/** What a host would answer: a map per method asked for, at the input's size, or a CAM's at its layer. */
function fakeMap(method: MethodName, cls: number, layer: string, options: MethodOptions | undefined): RawMapMsg {
  const spec = methodSpec(method);
  const salt = optionsSalt(options);
  if (spec.target === 'layer') return rawMap(method, CAM, blob(CAM, cls + 3 + salt, false, 1.7), { layer, options });
  const signed = isSigned(spec, resolveOptions(spec, options));
  return rawMap(method, INPUT, blob(INPUT, cls + salt, signed, 0.02), { signed, options, ...(method === 'ig' ? { stats: IG_STATS } : {}) });
}

function explanationFor(msg: Extract<WebviewToHost, { type: 'explain' }>): HostToWebview {
  const cls = msg.request.classIndex ?? TOP;
  const layer = msg.request.layer ?? MODEL.defaultSpatialLayer!;
  const methods = msg.request.methods ?? ['saliency', 'gradcam'];
  const maps = methods.map((m) => fakeMap(m, cls, layer, msg.request.options?.[m]));
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
      assert.deepEqual(explain.request.methods, ['saliency'], 'only the method in view');
      assert.equal(explain.request.options?.saliency?.signed, false);
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
    assert.equal(msg.suggestedName, 'street.saliency.png', 'the top class: named as the CLI names it');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, 'webview-export.png'), PNG.sync.write(png));
  });

  await t.test('export raw map posts exportNpy for the shown method, with the map shown', async () => {
    const n = (await posted(page)).length;
    await page.getByTestId('export-npy').click();
    const msg = await waitForPosted(page, n, (m) => m.type === 'exportNpy', 'exportNpy');
    assert.ok(msg.type === 'exportNpy');
    assert.equal(msg.method, 'saliency');
    assert.equal(msg.suggestedName, 'street.saliency.npy');
    // The raw values drawn (the fake host's blob for the top class), not recomputed by the host.
    const shown = fakeMap('saliency', TOP, 'conv2d_2', { signed: false });
    assert.deepEqual([msg.map.width, msg.map.height, msg.imageWidth, msg.imageHeight], [INPUT, INPUT, IMG_W, IMG_H]);
    assert.equal(msg.map.data, shown.data);
    assert.equal((await posted(page)).slice(n).filter((m) => m.type === 'explain').length, 0);
  });

  await fs.promises.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'webview-panel.png') });

  await t.test('side by side shows saliency and Grad-CAM canvases, asking only for Grad-CAM', async () => {
    const n = (await posted(page)).length;
    await page.getByTestId('view-mode').getByText('Side by side').click();
    const explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain for the second picker');
    assert.ok(explain.type === 'explain');
    assert.deepEqual(explain.request.methods, ['gradcam'], 'saliency is cached');
    await answerExplains(page, answered);
    const s = await canvasStats(page, 'saliency-canvas');
    const g = await canvasStats(page, 'gradcam-canvas');
    assert.ok(s.distinct > 20 && g.distinct > 20);
    assert.equal(await page.getByTestId('heatmap-canvas').count(), 0);
    const sb = (await page.getByTestId('saliency-canvas').boundingBox())!;
    const gb = (await page.getByTestId('gradcam-canvas').boundingBox())!;
    assert.ok(gb.x > sb.x + sb.width - 1, 'in a row');
    assert.equal(await page.locator('.colorbar-row').count(), 2);
    // A CAM says its layer, in its caption and its colour bar.
    assert.match((await page.locator('.colorbar').textContent()) ?? '', /Grad-CAM · conv2d_2/);
    assert.match((await page.locator('[data-pane="gradcam"] .pane-caption').textContent()) ?? '', /Grad-CAM · conv2d_2/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'webview-side-by-side.png') });
  });

  await t.test('layer and signed changes re-request only what they affect', async () => {
    let n = (await posted(page)).length;
    await page.getByTestId('method-slot-0').getByTestId('option-signed').check();
    let explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain after signed toggle');
    assert.ok(explain.type === 'explain' && explain.request.options?.saliency?.signed === true);
    assert.deepEqual(explain.type === 'explain' && explain.request.methods, ['saliency']);
    await answerExplains(page, answered);
    await page.waitForSelector('.colorbar-zero');
    // Signed: a scale centred on 0 (the zero tick in the middle, ends ±max|value|).
    const row = page.locator('.colorbar-row[data-signed="true"]');
    const [min, max] = [Number(await row.getAttribute('data-min')), Number(await row.getAttribute('data-max'))];
    assert.ok(max > 0 && min === -max, `signed range ${min}..${max}`);
    assert.equal(await page.locator('.colorbar-zero').evaluate((el) => (el as HTMLElement).style.left), '50%');

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
    assert.ok(explain.type === 'explain' && explain.request.options?.saliency?.signed === true && explain.request.layer === 'conv2d_1');
    assert.deepEqual(explain.type === 'explain' && explain.request.methods, ['saliency', 'gradcam']);
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
    assert.deepEqual(first3.type === 'explain' && first3.request.methods, ['gradcam'], '"Explain with…" view honoured');
    assert.equal(await page3.locator('.segment.active').textContent(), 'One map');
    assert.equal(await page3.getByTestId('method-slot-0').getByTestId('method-picker').inputValue(), 'gradcam');
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


// ---- every registry method ---------------------------------------------------------------------

/** An ONNX model without any spatial layer (an MLP): no CAM can run; ONNX Runtime can run guided methods. */
const MLP: ModelInfoMsg = {
  ...MODEL,
  path: '/workspace/models/mlp/model.onnx',
  format: 'onnx',
  spatialLayers: [],
  defaultSpatialLayer: undefined,
  backend: { name: 'onnxruntime', threads: 2, note: 'test' },
  layers: [{ name: 'fc', type: 'Gemm', outputShape: [LABELS.length], params: 3 * INPUT * INPUT * LABELS.length }],
};

function init(defaultView: string, model = MODEL): HostToWebview {
  return {
    type: 'init', imageUri: imageDataUrl(), imageName: 'street.png', imagePath: '/workspace/images/street.png', model,
    settings: { colormap: 'jet', opacity: 0.5, defaultView: defaultView as 'side-by-side' },
  };
}

interface PickerGroup {
  label: string;
  options: { value: string; text: string; title: string; disabled: boolean }[];
}

async function pickerGroups(page: Page, slot: number): Promise<PickerGroup[]> {
  return page.getByTestId(`method-slot-${slot}`).getByTestId('method-picker').evaluate((el) =>
    Array.from(el.querySelectorAll('optgroup')).map((g) => ({
      label: g.label,
      options: Array.from(g.querySelectorAll('option')).map((o) => ({ value: o.value, text: o.textContent ?? '', title: o.title, disabled: o.disabled })),
    })));
}

const explainsAfter = async (page: Page, n: number) => (await posted(page)).slice(n).filter((m) => m.type === 'explain');

webviewTest('webview panel: every registry method, its options, progress and cancel', 'webview.js', { timeout: 120_000, viewport: { width: 1100, height: 760 } }, async (t, harness) => {
  const { page } = harness;
  const answered = new Set<number>();
  const slot0 = page.getByTestId('method-slot-0');
  const slot1 = page.getByTestId('method-slot-1');
  await waitForPosted(page, 0, (m) => m.type === 'ready', 'ready');
  await send(page, init('saliency'));
  await waitForPosted(page, 0, (m) => m.type === 'explain', 'first explain');
  await answerExplains(page, answered);
  await canvasStats(page, 'heatmap-canvas');

  await t.test('the picker lists every registry method grouped by family, each with what it shows as tooltip', async () => {
    const groups = await pickerGroups(page, 0);
    const families = FAMILIES.map((f) => ({ label: f.label, names: METHODS.filter((m) => m.family === f.name).map((m) => m.name as string) }))
      .filter((f) => f.names.length);
    assert.deepEqual(groups.map((g) => g.label), families.map((f) => f.label));
    assert.deepEqual(groups.map((g) => g.options.map((o) => o.value)), families.map((f) => f.names));
    assert.equal(groups.flatMap((g) => g.options).length, METHOD_NAMES.length, 'every method, once');
    for (const o of groups.flatMap((g) => g.options)) {
      const spec = methodSpec(o.value as MethodName);
      if (spec.runtime === 'onnxruntime') {
        // This model runs on tfjs (wasm): Guided Backprop and attention rollout need ONNX Runtime, and the entry says so.
        assert.ok(o.disabled, `${o.value} disabled`);
        assert.equal(o.text, `${spec.label} (needs ONNX Runtime)`);
        assert.match(o.title, /needs ONNX Runtime; this model runs on tfjs \(wasm\)/);
      } else {
        assert.ok(!o.disabled, `${o.value} enabled`);
        assert.equal(o.text, spec.label);
        assert.equal(o.title, spec.shows);
      }
    }
  });

  let drawn25: CanvasStats;
  await t.test('choosing a method sends an explain request for it only, with its options; the form is its OptionSpec list', async () => {
    const n = (await posted(page)).length;
    await slot0.getByTestId('method-picker').selectOption('smoothgrad');
    const explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain for SmoothGrad');
    assert.ok(explain.type === 'explain');
    assert.deepEqual(explain.request.methods, ['smoothgrad']);
    assert.deepEqual(explain.request.options, { smoothgrad: resolveOptions(methodSpec('smoothgrad')) }, 'the registry defaults');
    assert.equal(explain.request.classIndex, undefined);
    const fields = await slot0.getByTestId('method-options').locator('[data-option]').evaluateAll((els) =>
      els.map((e) => [e.getAttribute('data-option'), (e as HTMLInputElement).type, e.getAttribute('min'), e.getAttribute('max'), e.getAttribute('step')]));
    assert.deepEqual(fields, [
      ['samples', 'number', '1', '1000', '1'],
      ['sigma', 'number', '0', '1', 'any'],
      ['seed', 'number', '0', String(2 ** 31 - 1), '1'],
      ['signed', 'checkbox', null, null, null],
    ]);
    assert.equal(await slot0.getByTestId('option-samples').inputValue(), '25');
    await answerExplains(page, answered);
    drawn25 = await canvasStats(page, 'heatmap-canvas');
    assert.ok(drawn25.distinct > 20);
    assert.match((await page.getByTestId('colorbar').textContent()) ?? '', /SmoothGrad/);
  });

  await t.test('changing an option re-requests with it; an option set already computed shows without a request', async () => {
    const samples = slot0.getByTestId('option-samples');
    let n = (await posted(page)).length;
    await samples.fill('8');
    await samples.press('Enter');
    const explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain with 8 samples');
    assert.ok(explain.type === 'explain');
    assert.deepEqual(explain.request.methods, ['smoothgrad']);
    assert.deepEqual(explain.request.options?.smoothgrad, resolveOptions(methodSpec('smoothgrad'), { samples: 8 }));
    await answerExplains(page, answered);
    const drawn8 = await waitForHashChange(page, 'heatmap-canvas', drawn25.hash);
    n = (await posted(page)).length;
    await samples.fill('25');
    await samples.press('Enter');
    const back = await waitForHashChange(page, 'heatmap-canvas', drawn8.hash);
    assert.equal(back.hash, drawn25.hash, 'the 25-sample map again');
    assert.equal((await explainsAfter(page, n)).length, 0, 'cached: no request');
    // Remembered per method: another method and back keeps 8 samples.
    await samples.fill('8');
    await samples.press('Enter');
    await waitForHashChange(page, 'heatmap-canvas', drawn25.hash);
    const state = await page.evaluate(() => (window as unknown as { __getState(): { options: Record<string, unknown> } }).__getState());
    assert.deepEqual(state.options.smoothgrad, { samples: 8 }, 'only what differs from the defaults is kept');
    n = (await posted(page)).length;
    await slot0.getByTestId('method-picker').selectOption('saliency');
    await slot0.getByTestId('method-picker').selectOption('smoothgrad');
    assert.equal(await samples.inputValue(), '8');
    assert.equal((await explainsAfter(page, n)).length, 0, 'both maps were cached');
  });

  await t.test('an invalid option shows the registry\'s sentence beside the field and sends nothing', async () => {
    const samples = slot0.getByTestId('option-samples');
    const sigma = slot0.getByTestId('option-sigma');
    const n = (await posted(page)).length;
    await samples.fill('0');
    await samples.press('Enter');
    const error = slot0.locator('[data-field="samples"]').getByTestId('option-error');
    await error.waitFor({ state: 'visible' });
    assert.match((await error.textContent()) ?? '', /"samples" is 0; it takes 1 to 1000/);
    assert.equal(await samples.getAttribute('aria-invalid'), '');
    await samples.fill('2.5');
    await samples.press('Enter');
    assert.match((await error.textContent()) ?? '', /"samples" takes a whole number, not 2\.5/);
    await sigma.fill('3');
    await sigma.press('Enter');
    assert.match((await slot0.locator('[data-field="sigma"]').getByTestId('option-error').textContent()) ?? '', /"sigma" is 3; it takes 0 to 1/);
    assert.equal((await explainsAfter(page, n)).length, 0, 'nothing sent while a value is invalid');
    // Fixed: the message goes and the request carries the new values.
    await sigma.fill('0.2');
    await sigma.press('Enter');
    assert.equal((await explainsAfter(page, n)).length, 0, 'samples is still invalid');
    await samples.fill('9');
    await samples.press('Enter');
    const explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain after fixing');
    assert.ok(explain.type === 'explain');
    assert.deepEqual(explain.request.options?.smoothgrad, resolveOptions(methodSpec('smoothgrad'), { samples: 9, sigma: 0.2 }));
    assert.equal(await slot0.getByTestId('option-error').first().isVisible(), false);
    await answerExplains(page, answered);
  });

  await t.test('progress shows "<method> done/total inputs" with a bar; Cancel stops the request and keeps the maps shown', async () => {
    let n = (await posted(page)).length;
    await page.getByTestId('view-mode').getByText('Side by side').click();
    await waitForPosted(page, n, (m) => m.type === 'explain', 'explain for the second picker');
    await answerExplains(page, answered);
    const kept = await canvasStats(page, 'smoothgrad-canvas');
    n = (await posted(page)).length;
    await slot1.getByTestId('method-picker').selectOption('ig');
    const explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain for Integrated Gradients');
    assert.ok(explain.type === 'explain');
    assert.deepEqual(explain.request.methods, ['ig'], 'SmoothGrad is cached');
    await send(page, { type: 'progress', requestId: explain.requestId, method: 'ig', done: 12, total: 34 });
    const status = page.getByTestId('status');
    await status.getByText('Integrated Gradients 12/34 inputs').waitFor();
    assert.equal(await page.locator('[data-pane="ig"]').getByTestId('pane-message').textContent(), 'Computing Integrated Gradients… 12/34 inputs');
    const bar = status.getByTestId('progress-bar');
    assert.ok(await bar.isVisible());
    assert.deepEqual(await bar.evaluate((el) => [(el as unknown as { value: number }).value, (el as unknown as { max: number }).max]), [12, 34]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'webview-progress.png') });
    n = (await posted(page)).length;
    await status.getByTestId('cancel').click();
    const cancel = await waitForPosted(page, n, (m) => m.type === 'cancel', 'cancel');
    assert.ok(cancel.type === 'cancel' && cancel.requestId === explain.requestId);
    await send(page, { type: 'cancelled', requestId: explain.requestId });
    await untilTrue(async () => (await status.textContent())?.trim() === 'Cancelled.', 'Cancelled. in the status');
    assert.equal(await page.getByTestId('error').isVisible(), false, 'not an error');
    assert.equal(await bar.isVisible(), false);
    const still = await canvasStats(page, 'smoothgrad-canvas');
    assert.ok(still.visible && still.hash === kept.hash, 'the SmoothGrad map stays');
    const message = page.locator('[data-pane="ig"]').getByTestId('pane-message');
    assert.match((await message.textContent()) ?? '', /Integrated Gradients: cancelled/);
    assert.equal((await explainsAfter(page, n)).length, 0, 'not asked again by itself');
    // One click computes it after all.
    n = (await posted(page)).length;
    await message.getByTestId('compute').click();
    const again = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain after Compute');
    assert.ok(again.type === 'explain');
    assert.deepEqual(again.request.methods, ['ig']);
    await answerExplains(page, answered);
    await canvasStats(page, 'ig-canvas');
  });

  await t.test('the legend: signed maps centred on 0, Integrated Gradients\' completeness residual, file names by registry name', async () => {
    const row = page.locator('.colorbar-row[data-signed="true"]');
    assert.equal(await row.count(), 1, 'Integrated Gradients is signed; SmoothGrad without "Keep sign" is not');
    assert.match((await row.textContent()) ?? '', /Integrated Gradients/);
    assert.equal(Number(await row.getAttribute('data-min')), -Number(await row.getAttribute('data-max')));
    // 0.00375 of a logit change of 1.25 is 0.3 %.
    assert.equal(await page.getByTestId('colorbar-note').textContent(), 'completeness residual 0.3 % of the logit change (1.25)');
    const n = (await posted(page)).length;
    await page.getByTestId('export-npy-2').click();
    const msg = await waitForPosted(page, n, (m) => m.type === 'exportNpy', 'exportNpy of the second map');
    assert.ok(msg.type === 'exportNpy');
    assert.equal(msg.method, 'ig');
    assert.equal(msg.suggestedName, 'street.ig.npy');
    await page.getByTestId('export-png').click();
    const png = await waitForPosted(page, n, (m) => m.type === 'exportPng', 'exportPng of both');
    assert.ok(png.type === 'exportPng' && png.suggestedName === 'street.smoothgrad.ig.png');
    await page.screenshot({ path: path.join(ARTIFACTS, 'webview-methods.png') });
  });

  await t.test('each option kind has its control: choices as a select, a colour input, layer names with the model\'s layers as hints', async () => {
    const form = slot1.getByTestId('method-options');
    assert.equal(await form.getAttribute('data-method'), 'ig');
    const controls = await form.locator('[data-option]').evaluateAll((els) => els.map((e) => ({
      name: e.getAttribute('data-option'), tag: e.tagName, type: (e as HTMLInputElement).type,
      choices: e.tagName === 'SELECT' ? Array.from((e as HTMLSelectElement).options, (o) => o.value) : undefined,
    })));
    const spec = methodSpec('ig');
    assert.deepEqual(controls.map((c) => c.name), spec.options.map((o) => o.name));
    for (const o of spec.options) {
      const c = controls.find((x) => x.name === o.name)!;
      if (o.kind === 'choice') assert.deepEqual([c.tag, c.choices], ['SELECT', o.choices.map((x) => x.value)]);
      else if (o.kind === 'color') assert.equal(c.type, 'color');
      else if (o.kind === 'number') assert.equal(c.type, 'number');
    }
    // A choice re-requests with it.
    let n = (await posted(page)).length;
    await form.getByTestId('option-rule').selectOption('trapezoid');
    let explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain with the trapezoid rule');
    assert.ok(explain.type === 'explain' && explain.request.options?.ig?.rule === 'trapezoid');
    assert.deepEqual(explain.request.methods, ['ig']);
    await answerExplains(page, answered);
    await form.getByTestId('option-rule').selectOption('gausslegendre');
    // LayerCAM's fused layers: a text field hinted with the model's spatial layers, checked against them.
    n = (await posted(page)).length;
    await slot1.getByTestId('method-picker').selectOption('layercam');
    await waitForPosted(page, n, (m) => m.type === 'explain', 'explain for LayerCAM');
    await answerExplains(page, answered);
    const layers = slot1.getByTestId('option-layers');
    const hints = await layers.evaluate((el) => Array.from((el as HTMLInputElement).list?.options ?? [], (o) => o.value));
    assert.deepEqual(hints, MODEL.spatialLayers.map((l) => l.name));
    n = (await posted(page)).length;
    await layers.fill('conv2d_9');
    await layers.press('Enter');
    assert.match((await slot1.getByTestId('option-error').textContent()) ?? '', /no spatial layer "conv2d_9"; its spatial layers: conv2d_1, conv2d_2/);
    assert.equal((await explainsAfter(page, n)).length, 0);
    await layers.fill(' conv2d_1 ');
    await layers.press('Enter');
    explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain for LayerCAM fusing conv2d_1');
    assert.ok(explain.type === 'explain' && explain.request.options?.layercam?.layers === 'conv2d_1');
    assert.equal(await layers.inputValue(), 'conv2d_1', 'written back as the registry keeps it');
    await answerExplains(page, answered);
    n = (await posted(page)).length;
    await slot1.getByTestId('method-picker').selectOption('ig');
    assert.equal((await explainsAfter(page, n)).length, 0, 'Integrated Gradients with Gauss–Legendre is cached');
  });

  await t.test('a method that fails hides no other map: methods that run many inputs go in requests of their own', async () => {
    let n = (await posted(page)).length;
    await page.locator(`[data-testid="class-chip"][data-class-index="${PREDS[1].index}"]`).click();
    await untilTrue(async () => (await explainsAfter(page, n)).length === 2, 'two requests, one per method');
    const [a, b] = await explainsAfter(page, n);
    assert.ok(a.type === 'explain' && b.type === 'explain');
    assert.deepEqual([a.request.methods, b.request.methods].sort(), [['ig'], ['smoothgrad']]);
    const ig = a.request.methods?.[0] === 'ig' ? a : b;
    answered.add(ig.requestId);
    const failure = 'The model could not be run on wasm (method "ig" has no implementation).';
    await send(page, { type: 'error', requestId: ig.requestId, message: failure, actions: ['Open Log'] });
    await answerExplains(page, answered);
    await canvasStats(page, 'smoothgrad-canvas');
    assert.equal(await page.getByTestId('smoothgrad-canvas').isVisible(), true, 'SmoothGrad drawn');
    assert.equal(await page.locator('[data-pane="ig"]').getByTestId('pane-message').textContent(), `Integrated Gradients could not be computed: ${failure}`);
    // Back to the top class: both cached, nothing asked.
    n = (await posted(page)).length;
    await page.locator(`[data-testid="class-chip"][data-class-index="${TOP}"]`).click();
    await canvasStats(page, 'ig-canvas');
    assert.equal((await explainsAfter(page, n)).length, 0);
  });

  await t.test('a failed request for two single-pass maps is asked again one method at a time', async () => {
    await slot0.getByTestId('method-picker').selectOption('gradxinput');
    await slot1.getByTestId('method-picker').selectOption('gradcam');
    await untilTrue(async () => {
      await answerExplains(page, answered);
      return (await page.getByTestId('gradcam-canvas').isVisible()) && (await page.getByTestId('gradxinput-canvas').isVisible());
    }, 'both maps of the top class drawn');
    // Another class: both maps are needed, in one request; it fails.
    let n = (await posted(page)).length;
    await page.locator(`[data-testid="class-chip"][data-class-index="${PREDS[2].index}"]`).click();
    const both = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain for another class');
    assert.ok(both.type === 'explain');
    assert.deepEqual(both.request.methods, ['gradxinput', 'gradcam']);
    answered.add(both.requestId);
    n = (await posted(page)).length;
    const failure = 'The model could not be run on wasm (operator "Foo" is not supported for gradients yet).';
    await send(page, { type: 'error', requestId: both.requestId, message: failure, actions: ['Open Log'] });
    await untilTrue(async () => (await explainsAfter(page, n)).length === 2, 'two requests, one per method');
    const [a, b] = await explainsAfter(page, n);
    assert.ok(a.type === 'explain' && b.type === 'explain');
    assert.deepEqual([a.request.methods, b.request.methods].sort(), [['gradcam'], ['gradxinput']]);
    const gx = a.request.methods?.[0] === 'gradxinput' ? a : b;
    answered.add(gx.requestId);
    await send(page, { type: 'error', requestId: gx.requestId, message: failure, actions: ['Open Log'] });
    await answerExplains(page, answered);
    await canvasStats(page, 'gradcam-canvas');
    assert.equal(await page.locator('[data-pane="gradxinput"]').getByTestId('pane-message').textContent(), `Gradient × Input could not be computed: ${failure}`);
    // The panes as the tests after this one expect them.
    n = (await posted(page)).length;
    await page.locator(`[data-testid="class-chip"][data-class-index="${TOP}"]`).click();
    await slot0.getByTestId('method-picker').selectOption('smoothgrad');
    await slot1.getByTestId('method-picker').selectOption('ig');
    await answerExplains(page, answered);
  });

  await t.test('a model without spatial layers: CAMs are disabled with the reason and not asked for', async () => {
    const page2 = await harness.newPage('webview', {}, { width: 1000, height: 700 });
    await waitForPosted(page2, 0, (m) => m.type === 'ready', 'ready');
    await send(page2, init('side-by-side', MLP));
    const explain = await waitForPosted(page2, 0, (m) => m.type === 'explain', 'explain on the MLP');
    assert.ok(explain.type === 'explain');
    assert.deepEqual(explain.request.methods, ['saliency'], 'Grad-CAM is in view but cannot run');
    const options = (await pickerGroups(page2, 1)).flatMap((g) => g.options);
    for (const o of options) {
      const spec = methodSpec(o.value as MethodName);
      const cam = spec.target === 'layer';
      // An MLP has no attention either: rollout says what it needs.
      const off = cam || spec.needsAttention === true;
      assert.equal(o.disabled, off, `${o.value} ${off ? 'disabled' : 'enabled'}`);
      if (cam) assert.match(o.title, /needs a convolutional layer; this model has none/);
      if (spec.needsAttention) assert.match(o.title, /needs a vision transformer whose blocks attend over all patch tokens; this model has none/);
    }
    assert.ok(options.some((o) => o.value === 'guided-backprop' && !o.disabled), 'ONNX Runtime runs Guided Backprop');
    assert.match((await page2.locator('[data-pane="gradcam"]').getByTestId('pane-message').textContent()) ?? '', /Grad-CAM needs a convolutional layer/);
    await answerExplains(page2, new Set());
    await canvasStats(page2, 'saliency-canvas');
    assert.equal((await explainsAfter(page2, 0)).length, 1, 'one request, for saliency');
    await page2.close();
  });

  await t.test('state saved before the registry (one view mode, a global signed toggle) still opens as it was', async () => {
    const old = { viewMode: 'gradcam', signed: true, colormap: 'viridis', opacity: 0.4, imagePath: '/workspace/images/street.png' };
    const page3 = await harness.newPage('webview', { state: JSON.stringify(old) }, { width: 900, height: 600 });
    await waitForPosted(page3, 0, (m) => m.type === 'ready', 'ready');
    await send(page3, init('side-by-side'));
    const first = await waitForPosted(page3, 0, (m) => m.type === 'explain', 'explain');
    assert.ok(first.type === 'explain');
    assert.deepEqual(first.request.methods, ['gradcam'], 'Grad-CAM alone, as saved');
    assert.equal(await page3.locator('.segment.active').textContent(), 'One map');
    await answerExplains(page3, new Set());
    const n = (await posted(page3)).length;
    await page3.getByTestId('method-slot-0').getByTestId('method-picker').selectOption('saliency');
    const explain = await waitForPosted(page3, n, (m) => m.type === 'explain', 'explain for saliency');
    assert.ok(explain.type === 'explain' && explain.request.options?.saliency?.signed === true, 'the signed toggle became saliency\'s option');
    await page3.close();
  });

  await t.test('a Methods view tile click (showMethod) shows that method with its options; "Compare methods" asks the host', async () => {
    let n = (await posted(page)).length;
    await send(page, { type: 'showMethod', method: 'ig', options: { steps: 8, rule: 'trapezoid' } });
    const explain = await waitForPosted(page, n, (m) => m.type === 'explain', 'explain of the clicked method');
    assert.ok(explain.type === 'explain');
    assert.deepEqual(explain.request.methods, ['ig']);
    assert.deepEqual(explain.request.options?.ig, resolveOptions(methodSpec('ig'), { steps: 8, rule: 'trapezoid' }));
    assert.equal(await slot0.getByTestId('method-picker').inputValue(), 'ig');
    await answerExplains(page, answered);
    n = (await posted(page)).length;
    await page.getByTestId('open-methods').click();
    await waitForPosted(page, n, (m) => m.type === 'compareMethods', 'compareMethods');
  });

  await t.test('no page errors', async () => {
    assert.deepEqual(harness.errors, []);
  });
});

// ---- the class search list ----------------------------------------------------------------------

/** ImageNet-like names: "eagle" is in "bald eagle" (3) and "beagle" (6), in that order. */
const NAMED_LABELS = ['tench', 'goldfish', 'great white shark', 'bald eagle', 'hen', 'ostrich', 'beagle', 'tabby cat', 'tiger cat', 'Persian cat', 'jay', 'magpie'];
const NAMED: ModelInfoMsg = { ...MODEL, labels: NAMED_LABELS };

webviewTest('webview panel: the class search list', 'webview.js', { timeout: 60_000, viewport: { width: 1100, height: 760 } }, async (t, harness) => {
  const { page } = harness;
  const answered = new Set<number>();
  const search = page.getByTestId('class-search');
  const input = search.locator('input');
  const classIndex = async () => (await page.evaluate(() => (window as unknown as { __getState(): { classIndex?: number } }).__getState())).classIndex;
  /** Types a query and presses keys, then waits for the class change it causes (the panel posts a selection) and returns the class. */
  const pickBy = async (query: string, keys: string[]) => {
    const n = (await posted(page)).length;
    await input.fill(query);
    for (const key of keys) await input.press(key);
    const selection = await waitForPosted(page, n, (m) => m.type === 'selection', `selection after "${query}" ${keys.join(' ')}`);
    await answerExplains(page, answered);
    return selection.type === 'selection' ? selection.classIndex : undefined;
  };
  await waitForPosted(page, 0, (m) => m.type === 'ready', 'ready');
  await send(page, init('saliency', NAMED));
  await waitForPosted(page, 0, (m) => m.type === 'explain', 'first explain');
  await answerExplains(page, answered);

  await t.test('a query lists the classes containing it, and Enter picks the first match', async () => {
    await input.fill('eagle');
    assert.deepEqual((await search.getByRole('option').allTextContents()).map((s) => s.trim()), ['3 · bald eagle', '6 · beagle']);
    await input.press('Escape');
    assert.equal(await pickBy('eagle', ['Enter']), 3, 'bald eagle, not tench');
    assert.equal(await classIndex(), 3);
    assert.equal(await input.inputValue(), '3 · bald eagle', 'the field shows the chosen class');
  });

  await t.test('ArrowDown moves to the next match and Enter picks it; ArrowUp moves back', async () => {
    assert.equal(await pickBy('eagle', ['ArrowDown', 'Enter']), 6, 'beagle');
    assert.equal(await pickBy('eagle', ['ArrowDown', 'ArrowUp', 'Enter']), 3, 'bald eagle again');
  });

  await t.test('a query without a match: Enter picks nothing and keeps the class', async () => {
    await page.locator('[data-testid="class-chip"][data-class-index="9"]').click();
    await untilTrue(async () => (await classIndex()) === 9, 'class 9 from its chip');
    await answerExplains(page, answered);
    const n = (await posted(page)).length;
    await input.fill('zebra');
    assert.equal(await search.getByRole('option').count(), 0);
    await input.press('Enter');
    // Something that does post, after the Enter: only its request may follow.
    assert.equal(await input.inputValue(), '9 · Persian cat', 'the field shows the kept class again');
    await page.locator('[data-testid="class-chip"][data-class-index="2"]').click();
    await waitForPosted(page, n, (m) => m.type === 'selection', 'selection from the chip');
    await answerExplains(page, answered);
    const classes = (await posted(page)).slice(n).flatMap((m) => (m.type === 'selection' ? [m.classIndex] : []));
    assert.deepEqual(classes, [2], 'the Enter on no match changed nothing');
    assert.equal(await classIndex(), 2);
  });

  await t.test('a click on a match picks it', async () => {
    const n = (await posted(page)).length;
    await input.fill('cat');
    await search.getByRole('option', { name: '8 · tiger cat' }).click();
    const selection = await waitForPosted(page, n, (m) => m.type === 'selection', 'selection from a click');
    assert.ok(selection.type === 'selection' && selection.classIndex === 8);
    await answerExplains(page, answered);
  });

  await t.test('new labels from modelUpdated ("Use ImageNet Class Names") rebuild the list', async () => {
    const renamed = NAMED_LABELS.map((l, i) => (i === 11 ? 'axolotl' : l));
    await send(page, { type: 'modelUpdated', time: '12:00:00', model: { ...NAMED, labels: renamed } });
    await answerExplains(page, answered);
    await input.fill('magpie');
    assert.equal(await search.getByRole('option').count(), 0, 'the old label is gone');
    assert.equal(await pickBy('axolotl', ['Enter']), 11);
  });

  await t.test('new labels from init rebuild the list', async () => {
    await send(page, init('saliency', { ...NAMED, labels: NAMED_LABELS.map((l, i) => (i === 4 ? 'kit fox' : l)) }));
    await waitForPosted(page, 0, (m) => m.type === 'explain' && !answered.has(m.requestId), 'explain after init');
    await answerExplains(page, answered);
    assert.equal(await pickBy('kit fox', ['Enter']), 4);
  });

  await t.test('no page errors', async () => {
    assert.deepEqual(harness.errors, []);
  });
});

// ---- display clip and gamma (issue 10, item 3) ---------------------------------------------------

/** numpy.percentile(values, p), method 'linear', written out here independently of src/shared/normalize. */
function numpyPercentile(values: Float32Array, p: number): number {
  const s = Array.from(values).sort((a, b) => a - b);
  const h = ((s.length - 1) * p) / 100;
  const lo = Math.floor(h);
  return lo >= s.length - 1 ? s[s.length - 1] : s[lo] + (h - lo) * (s[lo + 1] - s[lo]);
}

/** A faint ramp 0 … 0.1 over the columns with one pixel at 100, as a real saliency map's few extreme pixels. */
function outlierMap(): Float32Array {
  const data = new Float32Array(INPUT * INPUT);
  for (let i = 0; i < data.length; i++) data[i] = (0.1 * (i % INPUT)) / (INPUT - 1);
  data[5 * INPUT + 7] = 100;
  return data;
}

/** Mean of the red channel over a canvas drawn with the gray colormap: the mean heat index, 0..255. */
async function meanGray(page: Page, testid: string): Promise<number> {
  return page.evaluate((id) => {
    const c = document.querySelector(`[data-testid="${id}"]`) as HTMLCanvasElement;
    const { data } = c.getContext('2d')!.getImageData(0, 0, c.width, c.height);
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) sum += data[i];
    return sum / (data.length / 4);
  }, testid);
}

async function canvasRgba(page: Page, testid: string): Promise<number[]> {
  return page.evaluate((id) => {
    const c = document.querySelector(`[data-testid="${id}"]`) as HTMLCanvasElement;
    return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data);
  }, testid);
}

webviewTest('webview panel: display clip and gamma', 'webview.js', { timeout: 60_000, viewport: { width: 1100, height: 760 } }, async (t, harness) => {
  const { page } = harness;
  const data = outlierMap();
  const p99 = numpyPercentile(data, 99);
  const barMax = async () => Number(await page.locator('.colorbar-row').first().getAttribute('data-max'));

  await t.test('by default the scale is clipped at the 99th percentile and the colour bar says so', async () => {
    await waitForPosted(page, 0, (m) => m.type === 'ready', 'ready');
    await send(page, { type: 'init', imageUri: imageDataUrl(), imageName: 'street.png', imagePath: '/workspace/images/street.png', model: MODEL, settings: { colormap: 'gray', opacity: 0.5, defaultView: 'saliency' } });
    const explain = await waitForPosted(page, 0, (m) => m.type === 'explain', 'explain');
    assert.ok(explain.type === 'explain');
    const result: ExplanationMsg = {
      imagePath: '/workspace/images/street.png', imageWidth: IMG_W, imageHeight: IMG_H, predictions: PREDS.slice(0, 5), target: PREDS[0],
      maps: [rawMap('saliency', INPUT, data, { signed: false, options: explain.request.options?.saliency })], timings: {}, notes: [],
    };
    await send(page, { type: 'explanation', requestId: explain.requestId, result });
    await canvasStats(page, 'heatmap-canvas');
    await page.waitForSelector('.colorbar-row');
    assert.ok(Math.abs((await barMax()) - p99) <= 1e-6 * p99, `bar max ${await barMax()} vs 99th percentile ${p99}`);
    assert.equal(await page.getByTestId('colorbar-scale').textContent(), 'clipped at the 99th percentile');
    // The ramp's mean is 0.05 of 0.1: about half the scale once clipped (p99 ≈ 0.1), 0.05 % of it under min–max.
    const mean = await meanGray(page, 'heatmap-canvas');
    assert.ok(mean > 100, `mean heat index ${mean.toFixed(1)} with the clip`);
  });

  let clipped = 0;
  await t.test('Clip "none" restores min–max: the bar ends at the outlier and the map goes dark', async () => {
    clipped = (await canvasStats(page, 'heatmap-canvas')).hash;
    const n = (await posted(page)).length;
    await page.getByTestId('clip').click();
    await page.getByTestId('clip').getByRole('option', { name: 'none', exact: true }).click();
    const unclipped = (await waitForHashChange(page, 'heatmap-canvas', clipped)).hash;
    assert.equal(await barMax(), 100);
    assert.equal(await page.getByTestId('colorbar-scale').count(), 0, 'no clip note');
    const mean = await meanGray(page, 'heatmap-canvas');
    assert.ok(mean < 5, `mean heat index ${mean.toFixed(1)} under min–max`);
    assert.equal((await posted(page)).slice(n).filter((m) => m.type === 'explain').length, 0, 'no request for a clip change');
    const state = await page.evaluate(() => (window as unknown as { __getState(): { clip: unknown } }).__getState());
    assert.equal(state.clip, null);
    await page.getByTestId('clip').click();
    await page.getByTestId('clip').getByRole('option', { name: '99th pct', exact: true }).click();
    assert.equal((await waitForHashChange(page, 'heatmap-canvas', unclipped)).hash, clipped, 'back to the clipped drawing');
  });

  await t.test('gamma re-colours locally, without a request, and the bar names it', async () => {
    const n = (await posted(page)).length;
    const before = await meanGray(page, 'heatmap-canvas');
    await page.getByTestId('gamma').fill('-1'); // log2 scale: gamma 0.5
    await waitForHashChange(page, 'heatmap-canvas', clipped);
    const after = await meanGray(page, 'heatmap-canvas');
    // v^0.5 ≥ v on [0, 1]: faint values lift.
    assert.ok(after > before + 20, `mean ${before.toFixed(1)} → ${after.toFixed(1)} with gamma 0.5`);
    assert.equal(await page.getByTestId('colorbar-scale').textContent(), 'clipped at the 99th percentile · gamma 0.5');
    assert.equal((await posted(page)).slice(n).filter((m) => m.type === 'explain').length, 0, 'no request for a gamma change');
    const state = await page.evaluate(() => (window as unknown as { __getState(): { gamma: unknown } }).__getState());
    assert.equal(state.gamma, 0.5);
  });

  await t.test('the exported PNG is the canvas drawn (same clip and gamma), composed over the image', async () => {
    // Opacity 1: the export's heatmap pixels are then the canvas's pixels, at the same (natural) size.
    await page.getByTestId('opacity').fill('100');
    const canvas = await canvasRgba(page, 'heatmap-canvas');
    const n = (await posted(page)).length;
    await page.getByTestId('export-png').click();
    const msg = await waitForPosted(page, n, (m) => m.type === 'exportPng', 'exportPng');
    assert.ok(msg.type === 'exportPng');
    const png = PNG.sync.read(Buffer.from(msg.dataUrl.split(',')[1], 'base64'));
    assert.equal(canvas.length, png.data.length, 'canvas at the natural size (64x48)');
    let worst = 0;
    for (let i = 0; i < canvas.length; i++) if (i % 4 !== 3) worst = Math.max(worst, Math.abs(canvas[i] - png.data[i]));
    assert.ok(worst <= 1, `largest channel difference ${worst}`);
    assert.match(await page.getByTestId('export-npy').getAttribute('title') ?? '', /no clip or gamma/);
  });
});

/** The parts of an answer a host sends ahead of it: the predictions, then one map. */
function predictionsPartial(requestId: number, cls: number): HostToWebview {
  return {
    type: 'partial', requestId,
    partial: { kind: 'predictions', predictions: PREDS.slice(0, 5), target: PREDS.find((p) => p.index === cls)!, imageWidth: IMG_W, imageHeight: IMG_H },
  };
}

function mapPartial(msg: Extract<WebviewToHost, { type: 'explain' }>, method: MethodName): HostToWebview {
  const cls = msg.request.classIndex ?? TOP;
  const map = fakeMap(method, cls, msg.request.layer ?? MODEL.defaultSpatialLayer!, msg.request.options?.[method]);
  return { type: 'partial', requestId: msg.requestId, partial: { kind: 'map', map } };
}

webviewTest('webview panel: results as they come', 'webview.js', { timeout: 60_000, viewport: { width: 1100, height: 760 } }, async (t, harness) => {
  const { page } = harness;
  const chipsOf = (p: Page) => p.getByTestId('class-chip').allTextContents();
  const paneText = (p: Page, method: MethodName) => p.locator(`[data-pane="${method}"]`).getByTestId('pane-message').textContent();
  const canvasShown = (p: Page, method: MethodName) => p.getByTestId(`${method}-canvas`).evaluate((c) => !(c as HTMLCanvasElement).hidden);

  await t.test('predictions are drawn before any map arrives, and each map draws on arrival', async () => {
    await waitForPosted(page, 0, (m) => m.type === 'ready', 'ready');
    await send(page, init('side-by-side'));
    const explain = await waitForPosted(page, 0, (m) => m.type === 'explain', 'explain');
    assert.ok(explain.type === 'explain');
    assert.deepEqual(explain.request.methods, ['saliency', 'gradcam'], 'two single-pass maps: one request');
    assert.deepEqual(await chipsOf(page), [], 'no chips before the predictions');
    await send(page, predictionsPartial(explain.requestId, TOP));
    await untilTrue(async () => (await chipsOf(page)).length === 5, 'five chips from the predictions alone');
    assert.match((await chipsOf(page))[0], new RegExp(PREDS[0].label));
    assert.match((await paneText(page, 'saliency')) ?? '', /^Computing Saliency/);
    assert.match((await paneText(page, 'gradcam')) ?? '', /^Computing Grad-CAM/);

    // The engine computes in the order asked: saliency first.
    await send(page, mapPartial(explain, 'saliency'));
    await untilTrue(() => canvasShown(page, 'saliency'), 'the saliency map drawn on arrival');
    const saliency = await canvasStats(page, 'saliency-canvas');
    assert.ok(saliency.distinct > 10, 'a real heatmap, not a blank canvas');
    assert.equal(await canvasShown(page, 'gradcam'), false, 'Grad-CAM still computing');
    assert.match((await paneText(page, 'gradcam')) ?? '', /^Computing Grad-CAM/);

    const n = (await posted(page)).length;
    await send(page, explanationFor(explain));
    await untilTrue(() => canvasShown(page, 'gradcam'), 'Grad-CAM drawn with the answer');
    assert.equal((await canvasStats(page, 'saliency-canvas')).hash, saliency.hash, 'the streamed saliency map is the one kept');
    assert.equal((await explainsAfter(page, n)).length, 0, 'nothing asked again');
  });

  await t.test('a method that runs many inputs is asked for alone: the single-pass map beside it does not wait for it', async () => {
    let n = (await posted(page)).length;
    await page.getByTestId('method-slot-0').getByTestId('method-picker').selectOption('smoothgrad');
    await waitForPosted(page, n, (m) => m.type === 'explain', 'explain for SmoothGrad');
    const [smooth] = await explainsAfter(page, n);
    assert.ok(smooth.type === 'explain');
    assert.deepEqual(smooth.request.methods, ['smoothgrad'], 'Grad-CAM is cached');
    await send(page, explanationFor(smooth));
    await canvasStats(page, 'smoothgrad-canvas');
    // Another class: SmoothGrad and Grad-CAM are both needed, in two requests.
    n = (await posted(page)).length;
    await page.getByTestId('class-chip').nth(1).click();
    await untilTrue(async () => (await explainsAfter(page, n)).length === 2, 'two explain requests');
    const requests = (await explainsAfter(page, n)).flatMap((m) => (m.type === 'explain' ? [m] : []));
    assert.deepEqual(requests.map((r) => r.request.methods), [['gradcam'], ['smoothgrad']]);
    const [cam, slow] = requests;
    await send(page, explanationFor(cam));
    await untilTrue(() => canvasShown(page, 'gradcam'), 'Grad-CAM drawn while SmoothGrad runs');
    assert.match((await paneText(page, 'smoothgrad')) ?? '', /^Computing SmoothGrad/);
    await send(page, explanationFor(slow));
    await untilTrue(() => canvasShown(page, 'smoothgrad'), 'SmoothGrad drawn when it comes');
  });

  await t.test('Cancel keeps the predictions and the maps that arrived, and says so neutrally', async () => {
    // A fresh panel, so that the predictions on screen can only have come ahead of the answer.
    const fresh = await harness.newPage('webview', {}, { width: 1100, height: 760 });
    await waitForPosted(fresh, 0, (m) => m.type === 'ready', 'ready');
    await send(fresh, init('side-by-side'));
    const explain = await waitForPosted(fresh, 0, (m) => m.type === 'explain', 'explain');
    assert.ok(explain.type === 'explain');
    await send(fresh, predictionsPartial(explain.requestId, TOP));
    await send(fresh, mapPartial(explain, 'saliency'));
    const drawn = (await waitForHashChange(fresh, 'saliency-canvas', 0)).hash;
    const n = (await posted(fresh)).length;
    await fresh.getByTestId('status').getByTestId('cancel').click();
    const cancel = await waitForPosted(fresh, n, (m) => m.type === 'cancel', 'cancel');
    assert.ok(cancel.type === 'cancel' && cancel.requestId === explain.requestId);
    await send(fresh, { type: 'cancelled', requestId: explain.requestId });
    await untilTrue(async () => (await fresh.getByTestId('status').textContent())?.trim() === 'Cancelled.', 'Cancelled. in the status');
    assert.equal(await fresh.getByTestId('error').isVisible(), false, 'not an error');
    assert.equal((await chipsOf(fresh)).length, 5, 'the predictions stay');
    assert.equal((await canvasStats(fresh, 'saliency-canvas')).hash, drawn, 'the saliency map that arrived stays');
    assert.match((await paneText(fresh, 'gradcam')) ?? '', /Grad-CAM: cancelled/);
    assert.equal((await explainsAfter(fresh, n)).length, 0, 'not asked again by itself');
    await fresh.close();
  });
});
