/**
 * State that stays true, in the panel's and the compare view's webviews (chromium, no VS Code; the test plays
 * the host): the image before any model, a model that fails, new class names without a "model updated",
 * one export label scheme, the display choice posted, and the compare view following the panel's colormap.
 *
 * Run: node esbuild.mjs && node --import tsx --test test/webview/state.test.ts
 */
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import type { Page } from 'playwright-core';
import type {
  CompareSubject, CompareToHost, ComparisonMsg, ExplanationMsg, HostToCompare, HostToWebview, ModelInfoMsg, PredictionMsg, RawMapMsg, WebviewToHost,
} from '../../src/shared/protocol';
import { float32ToBase64 } from '../../src/shared/protocol';
import { posted as postedBy, send as sendTo, untilTrue, waitForPosted as waitForPostedBy, webviewTest, type Posted as HarnessPosted } from './harness';

const SIZE = 16;
const NUMBERED = Array.from({ length: 12 }, (_, i) => `class ${i}`);
const NAMED = ['tench', 'goldfish', 'shark', 'bald eagle', 'hen', 'ostrich', 'beagle', 'jay', 'magpie', 'Persian cat', 'tabby cat', 'tiger cat'];

const MODEL: ModelInfoMsg = {
  path: '/w/models/tiny-cnn/model.json', format: 'layers-model', numClasses: NUMBERED.length, labels: NUMBERED, outputActivation: 'softmax',
  inputShape: [SIZE, SIZE, 3], modelInput: { shape: [1, SIZE, SIZE, 3], layout: 'NHWC' }, imageSize: { height: SIZE, width: SIZE, channels: 3 },
  preprocessing: 'unit (0..1) (picked in the panel for this model)',
  spatialLayers: [{ name: 'conv', type: 'Conv2D', height: 4, width: 4, channels: 8 }], defaultSpatialLayer: 'conv',
  backend: { name: 'onnxruntime', threads: 2, note: 'test' }, warnings: [], layers: [], totalParams: 0, outputName: 'probs', version: 'v1',
};
const RENAMED: ModelInfoMsg = { ...MODEL, labels: NAMED, labelsSource: 'ImageNet-1k class names (built in)' };

function picture(): string {
  const png = new PNG({ width: 40, height: 30 });
  for (let i = 0; i < 40 * 30; i++) png.data.set([(i * 7) % 255, (i * 3) % 255, 120, 255], i * 4);
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

function ramp(method: 'saliency' | 'gradcam', size: number, layer?: string): RawMapMsg {
  const data = Float32Array.from({ length: size * size }, (_, i) => i / (size * size));
  return { method, width: size, height: size, data: float32ToBase64(data), min: 0, max: data[data.length - 1], ...(layer ? { layer } : {}) };
}

function predictions(labels: string[]): PredictionMsg[] {
  return [10, 9, 3, 0, 1].map((index, rank) => ({ index, label: labels[index], logit: 5 - rank, probability: 0.5 / (rank + 1) }));
}

type Posted = HarnessPosted<WebviewToHost>;
const posted = (page: Page) => postedBy<WebviewToHost>(page);
const waitForPosted = (page: Page, from: number, pred: (m: Posted) => boolean, what: string) => waitForPostedBy<WebviewToHost>(page, from, pred, what);
const send = (page: Page, msg: HostToWebview) => sendTo(page, msg);

/** Answers every unanswered `explain` with ramps and the numbered class names. */
async function answerExplains(page: Page, answered: Set<number>): Promise<void> {
  for (const m of await posted(page)) {
    if (m.type !== 'explain' || answered.has(m.requestId)) continue;
    answered.add(m.requestId);
    const preds = predictions(NUMBERED);
    const result: ExplanationMsg = {
      imagePath: '/w/photo.png', imageWidth: 40, imageHeight: 30, predictions: preds, target: preds[0],
      maps: (m.request.methods ?? ['saliency', 'gradcam']).map((x) => (x === 'gradcam' ? ramp('gradcam', 4, 'conv') : ramp('saliency', SIZE))),
      timings: {}, notes: [],
    };
    await send(page, { type: 'explanation', requestId: m.requestId, result });
  }
}

const visible = (page: Page, testid: string) => page.getByTestId(testid).first().isVisible();
const imageShown = (page: Page) => page.getByTestId('image').evaluate((img: HTMLImageElement) => img.naturalWidth > 0 && img.getBoundingClientRect().width > 0);

webviewTest('webview panel: state that stays true', 'webview.js', { timeout: 90_000, viewport: { width: 1000, height: 760 } }, async (t, harness) => {
  const { page } = harness;
  const answered = new Set<number>();
  await waitForPosted(page, 0, (m) => m.type === 'ready', 'ready');

  await t.test('before a model: the image shows, with no preset and no model claimed, while the user chooses', async () => {
    // Before anything arrives, the preset picker is not offering "raw" for a model there is none of.
    assert.equal(await visible(page, 'input-inspector'), false, 'no preset before a model');
    await send(page, { type: 'image', imageUri: picture(), imageName: 'photo.png', imagePath: '/w/photo.png' });
    await send(page, { type: 'busy', message: 'Choose a model…' });
    await untilTrue(() => imageShown(page), 'the image shown');
    assert.equal(await visible(page, 'input-inspector'), false, 'still no preset');
    assert.match((await page.locator('.header').textContent()) ?? '', /photo\.png[\s\S]*No model yet/);
    assert.match((await page.getByTestId('status').textContent()) ?? '', /Choose a model…/);
    assert.equal((await posted(page)).filter((m) => m.type === 'explain').length, 0, 'nothing asked without a model');
    const state = await page.evaluate(() => (window as unknown as { __getState(): { imagePath?: string } }).__getState());
    assert.equal(state.imagePath, '/w/photo.png', 'the serializer can restore it');
  });

  await t.test('a model that does not load: the image stays, with the error, still no preset', async () => {
    await send(page, { type: 'error', message: '/w/broken/model.json: is not valid JSON (Unexpected end of JSON input).', actions: ['Select Model…', 'Open Log'] });
    await page.getByTestId('error').waitFor({ state: 'visible' });
    assert.match((await page.getByTestId('error').textContent()) ?? '', /broken\/model\.json: is not valid JSON/);
    assert.ok(await imageShown(page), 'the image is still shown');
    assert.equal(await visible(page, 'input-inspector'), false);
  });

  await t.test('a good model then: maps drawn, the preset shown, the header in the shared wording', async () => {
    const n = (await posted(page)).length;
    await send(page, { type: 'init', imageUri: picture(), imageName: 'photo.png', imagePath: '/w/photo.png', model: MODEL, settings: { colormap: 'jet', opacity: 0.5, defaultView: 'side-by-side' } });
    await waitForPosted(page, n, (m) => m.type === 'explain', 'explain');
    await answerExplains(page, answered);
    await page.getByTestId('class-chip').first().waitFor();
    assert.equal(await visible(page, 'error'), false, 'the error is gone');
    assert.equal(await visible(page, 'input-inspector'), true, 'the preset picker, now that a model is loaded');
    const meta = (await page.locator('.header-meta').textContent()) ?? '';
    assert.match(meta, /tiny-cnn/, 'the model named by its folder, as the status bar names it');
    assert.doesNotMatch(meta, /model\.json/);
    assert.match(meta, /onnxruntime · 2 threads/);
    const shown = await waitForPosted(page, n, (m) => m.type === 'labelsShown', 'labelsShown');
    assert.deepEqual(shown.type === 'labelsShown' && [shown.count, shown.first, shown.last], [12, 'class 0', 'class 11']);
  });

  await t.test('new class names: the search list and the chips take them, the maps stay, no "model updated"', async () => {
    const n = (await posted(page)).length;
    const search = page.getByTestId('class-search');
    await search.locator('input').fill('tabby');
    assert.equal(await search.getByRole('option').count(), 0, 'no class is called tabby yet');
    await search.locator('input').press('Escape');
    await send(page, { type: 'labelsChanged', model: RENAMED });
    const shown = await waitForPosted(page, n, (m) => m.type === 'labelsShown', 'labelsShown after the rename');
    assert.deepEqual(shown.type === 'labelsShown' && [shown.count, shown.first, shown.last], [12, 'tench', 'tiger cat']);
    await search.locator('input').fill('tabby');
    assert.deepEqual((await search.getByRole('option').allTextContents()).map((s) => s.trim()), ['10 · tabby cat']);
    await search.locator('input').press('Escape');
    assert.match((await page.getByTestId('class-chip').first().textContent()) ?? '', /tabby cat/, 'the top chip renamed');
    assert.equal(await visible(page, 'model-updated'), false, 'not announced as a new model');
    assert.equal((await posted(page)).slice(n).filter((m) => m.type === 'explain').length, 0, 'the maps stay: nothing recomputed');
    assert.equal(await page.locator('canvas.pane-heatmap:visible').count() > 0, true, 'the maps still drawn');
  });

  await t.test('the .npy export buttons keep one label scheme whatever the view', async () => {
    const labels = async () => (await page.locator('.export-npy vscode-button').allTextContents()).map((s) => s.trim());
    assert.deepEqual(await labels(), ['saliency.npy', 'gradcam.npy']);
    await page.getByTestId('view-mode').getByText('One map').click();
    await untilTrue(async () => (await labels()).length === 1, 'one export button');
    assert.deepEqual(await labels(), ['saliency.npy']);
    await page.getByTestId('view-mode').getByText('Side by side').click();
    await untilTrue(async () => (await labels()).length === 2, 'two export buttons');
    assert.deepEqual(await labels(), ['saliency.npy', 'gradcam.npy']);
    await answerExplains(page, answered);
  });

  await t.test('a colormap or opacity choice is posted for the views beside the panel and the next panel', async () => {
    const n = (await posted(page)).length;
    await page.getByTestId('colormap').click();
    await page.getByTestId('colormap').getByRole('option', { name: 'viridis', exact: true }).click();
    const colormap = await waitForPosted(page, n, (m) => m.type === 'display', 'display after the colormap');
    assert.deepEqual(colormap.type === 'display' && [colormap.colormap, colormap.opacity], ['viridis', 0.5]);
    const m = (await posted(page)).length;
    await page.getByTestId('opacity').fill('80');
    const opacity = await waitForPosted(page, m, (x) => x.type === 'display', 'display after the opacity');
    assert.deepEqual(opacity.type === 'display' && [opacity.colormap, opacity.opacity], ['viridis', 0.8]);
    // Class changes are no display choice.
    const k = (await posted(page)).length;
    await page.locator('[data-testid="class-chip"]').nth(1).click();
    await waitForPosted(page, k, (x) => x.type === 'selection', 'selection');
    assert.equal((await posted(page)).slice(k).filter((x) => x.type === 'display').length, 0);
    await answerExplains(page, answered);
  });

  await t.test('the model dropped (the next one failed): maps, chips and preset go, the image stays', async () => {
    await send(page, { type: 'image', imageUri: picture(), imageName: 'photo.png', imagePath: '/w/photo.png' });
    await untilTrue(async () => (await page.getByTestId('class-chip').count()) === 0, 'chips gone');
    assert.equal(await page.locator('canvas.pane-heatmap:visible').count(), 0, 'no maps of a model not in use');
    assert.equal(await visible(page, 'input-inspector'), false);
    assert.match((await page.locator('.header-meta').textContent()) ?? '', /No model yet/);
    await untilTrue(() => imageShown(page), 'the image shown');
  });
});

// ---- the compare view follows the panel's colormap ----------------------------------------------

const COMPARE_MODEL: ModelInfoMsg = { ...MODEL, labels: NAMED };
const SUBJECT: CompareSubject = { imageUri: picture(), imageName: 'photo.png', imagePath: '/w/photo.png', model: COMPARE_MODEL, classIndex: 10 };
type CompareMsg = Extract<CompareToHost, { type: string }>;

function compareAnswer(m: Extract<CompareToHost, { type: 'compare' }>): HostToCompare {
  const ranked = predictions(NAMED);
  const classes = m.request.classes ?? ranked.slice(0, 4).map((p) => p.index);
  const result: ComparisonMsg = {
    imagePath: '/w/photo.png', imageWidth: 40, imageHeight: 30, method: m.request.method,
    predictions: classes.map((c) => ranked.find((p) => p.index === c)!), ranked,
    maps: classes.map(() => ({ ...ramp('gradcam', 4, 'conv'), method: m.request.method })), layer: 'conv', timings: {},
  };
  return { type: 'comparison', requestId: m.requestId, result };
}

async function tilesHash(page: Page): Promise<number> {
  return page.evaluate(() => {
    let hash = 0;
    for (const c of Array.from(document.querySelectorAll<HTMLCanvasElement>('[data-testid="compare-tile"] canvas'))) {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i++) hash = (Math.imul(hash, 31) + d[i]) | 0;
    }
    return hash;
  });
}

webviewTest('compare view: follows the explain panel\'s colormap', 'compare.js', { timeout: 60_000, viewport: { width: 900, height: 900 } }, async (t, harness) => {
  const { page } = harness;
  await waitForPostedBy<CompareMsg>(page, 0, (m) => m.type === 'ready', 'ready');
  await sendTo(page, { type: 'subject', subject: SUBJECT, settings: { colormap: 'jet', opacity: 0.6, defaultView: 'side-by-side' } } satisfies HostToCompare);
  const request = await waitForPostedBy<CompareMsg>(page, 0, (m) => m.type === 'compare', 'compare');
  assert.ok(request.type === 'compare');
  await sendTo(page, compareAnswer(request));
  await waitForPostedBy<CompareMsg>(page, 0, (m) => m.type === 'rendered', 'rendered');
  await untilTrue(async () => (await tilesHash(page)) !== 0, 'tiles drawn');

  await t.test('a display message recolours the tiles without a new request', async () => {
    const before = await tilesHash(page);
    const n = (await postedBy<CompareMsg>(page)).length;
    await sendTo(page, { type: 'display', colormap: 'gray', opacity: 0.6 } satisfies HostToCompare);
    await untilTrue(async () => (await tilesHash(page)) !== before, 'tiles recoloured');
    assert.equal((await postedBy<CompareMsg>(page)).slice(n).filter((m) => m.type === 'compare').length, 0, 'nothing recomputed');
    // Grey tiles: every drawn pixel of a heatmap-only region has r = g = b once the opacity is 1.
    await sendTo(page, { type: 'display', colormap: 'gray', opacity: 1 } satisfies HostToCompare);
    await untilTrue(async () => page.evaluate(() => {
      const c = document.querySelector<HTMLCanvasElement>('[data-testid="compare-tile"] canvas')!;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2]) return false;
      return true;
    }), 'grey tiles at full opacity');
  });
});
