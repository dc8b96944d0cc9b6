/**
 * The compare view's webview in chromium without VS Code (test/webview/harness.html?script=compare):
 * this test plays the host — sends the subject, answers `compare` requests with synthetic maps of
 * known scales — and checks the tiles, the shared/per-map scale, the contrast tile and what it posts.
 *
 * Run: node esbuild.mjs && node --import tsx --test test/webview/compare.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import type { Page } from 'playwright-core';
import type { CompareSubject, CompareToHost, ComparisonMsg, HostToCompare, ModelInfoMsg, PredictionMsg, RawMapMsg } from '../../src/shared/protocol';
import { float32ToBase64 } from '../../src/shared/protocol';
import { FAMILIES, isMethodName, METHOD_NAMES, methodSpec, type MethodName } from '../../src/shared/methods';
import { posted, send, untilTrue, waitForPosted, webviewTest } from './harness';

const LABELS = ['cat', 'dog', 'fox', 'owl', 'bee', 'elk', 'yak', 'emu'];
const CAM = 6;
const SIZE = 24;
const LOGITS = [3.0, 2.5, 1.0, 0.5, 0.2, -0.3, -1.0, -2.0];
/** Per-class map scale: class 1's evidence is a tenth of class 0's. */
const SCALE = [1, 0.1, 0.5, 0.3, 0.2, 0.15, 0.12, 0.11];

const MODEL: ModelInfoMsg = {
  path: '/w/animals/model.json', format: 'layers-model', numClasses: LABELS.length, labels: LABELS, outputActivation: 'softmax',
  inputShape: [SIZE, SIZE, 3], preprocessing: 'unit (0..1) (default)',
  spatialLayers: [{ name: 'conv_last', type: 'Conv2D', height: CAM, width: CAM, channels: 8 }], defaultSpatialLayer: 'conv_last',
  backend: { name: 'wasm', threads: 1, note: 'test' }, warnings: [], layers: [], totalParams: 0, outputName: 'probs',
};

function ranked(): PredictionMsg[] {
  const e = LOGITS.map((l) => Math.exp(l));
  const s = e.reduce((a, b) => a + b, 0);
  return LOGITS.map((logit, index) => ({ index, label: LABELS[index], logit, probability: e[index] / s })).sort((a, b) => b.logit - a.logit);
}

/**
 * A map peaking at a class-dependent spot with maximum SCALE[c]; zero at the far corner so every map's minimum is 0.
 * Signed: also −SCALE[c]/2 at the first pixel (so ±SCALE[c] bounds it).
 */
function classMap(c: number, size: number, scale = SCALE[c], signed = false): RawMapMsg {
  const data = new Float32Array(size * size);
  const cx = (c % 3) + 1;
  const cy = Math.floor(c / 3) + 1;
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) data[y * size + x] = scale * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 3);
  data[size * size - 1] = 0;
  if (signed) data[0] = -scale / 2;
  let [min, max] = [0, 0];
  data.forEach((v) => ([min, max] = [Math.min(min, v), Math.max(max, v)]));
  return { method: 'gradcam', width: size, height: size, data: float32ToBase64(data), min, max, layer: 'conv_last', signed };
}

/** Methods whose maps the synthetic engine answers signed. */
const SIGNED = new Set(['ig', 'gradxinput']);

function answer(request: Extract<CompareToHost, { type: 'compare' }>): HostToCompare {
  const all = ranked();
  const classes = request.request.classes ?? all.slice(0, 4).map((p) => p.index);
  const size = request.request.method === 'gradcam' ? CAM : SIZE;
  const result: ComparisonMsg = {
    imagePath: '/w/photo.png', imageWidth: 48, imageHeight: 36, method: request.request.method,
    predictions: classes.map((c) => all.find((p) => p.index === c)!),
    ranked: all,
    maps: classes.map((c) => ({ ...classMap(c, size, SCALE[c], SIGNED.has(request.request.method)), method: request.request.method })),
    contrast: request.request.contrast && {
      classes: request.request.contrast === 'top2' ? [all[0].index, all[1].index] : request.request.contrast, map: classMap(7, size, 0.4),
    },
    layer: request.request.method === 'gradcam' ? 'conv_last' : undefined,
    timings: { forward: 2, backward: 5, total: 7 },
  };
  return { type: 'comparison', requestId: request.requestId, result };
}

function picture(): string {
  const png = new PNG({ width: 48, height: 36 });
  for (let i = 0; i < 48 * 36; i++) png.data.set([(i * 7) % 255, (i * 3) % 255, 120, 255], i * 4);
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

const SUBJECT: CompareSubject = { imageUri: picture(), imageName: 'photo.png', imagePath: '/w/photo.png', model: MODEL, classIndex: 0 };

type Msg = Extract<CompareToHost, { type: string }>;

/** Answers every unanswered compare request; returns the last one answered. */
async function answerAll(page: Page, answered: Set<number>): Promise<Extract<CompareToHost, { type: 'compare' }> | undefined> {
  let last: Extract<CompareToHost, { type: 'compare' }> | undefined;
  for (const m of await posted<Msg>(page)) {
    if (m.type !== 'compare' || answered.has(m.requestId)) continue;
    answered.add(m.requestId);
    await send(page, answer(m));
    last = m;
  }
  return last;
}

async function tileHashes(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() => {
    const out: Record<string, number> = {};
    for (const tile of Array.from(document.querySelectorAll<HTMLElement>('[data-testid="compare-tile"]'))) {
      const c = tile.querySelector('canvas')!;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let hash = 0;
      for (let i = 0; i < d.length; i++) hash = (Math.imul(hash, 31) + d[i]) | 0;
      out[tile.dataset.classIndex!] = hash;
    }
    return out;
  });
}

webviewTest('compare view webview in chromium', 'compare.js', { timeout: 90_000, viewport: { width: 900, height: 900 } }, async (t, harness) => {
  const { page } = harness;
  const answered = new Set<number>();
  const lastRendered = async () => (await posted<Msg>(page)).filter((m) => m.type === 'rendered').at(-1) as Extract<CompareToHost, { type: 'rendered' }> | undefined;

  await t.test('one request: the top 4 with Grad-CAM and the contrast of the top two, all chosen by the engine', async () => {
    await waitForPosted<Msg>(page, 0, (m) => m.type === 'ready', 'ready');
    await send(page, { type: 'subject', subject: SUBJECT, settings: { colormap: 'jet', opacity: 0.6, defaultView: 'side-by-side' } });
    const first = await waitForPosted<Msg>(page, 0, (m) => m.type === 'compare', 'compare');
    assert.ok(first.type === 'compare');
    assert.equal(first.request.classes, undefined, 'the engine picks the top 4');
    assert.equal(first.request.method, 'gradcam');
    assert.equal(first.request.contrast, 'top2');
    assert.equal(first.imagePath, SUBJECT.imagePath, 'the request says which image it is for');
    await answerAll(page, answered);
  });

  await t.test('draws 4 tiles titled with label and probability, the panel\'s class marked, and the contrast tile', async () => {
    await untilTrue(async () => (await lastRendered())?.contrast === true, 'rendered with contrast');
    const r = (await lastRendered())!;
    assert.deepEqual(r.classes, [0, 1, 2, 3]);
    assert.equal(r.drawnTiles, 4);
    assert.equal(r.sharedScale, true, 'shared scale by default');
    const tiles = page.getByTestId('compare-tile');
    assert.equal(await tiles.count(), 4);
    assert.match((await tiles.first().innerText()).replace(/\s+/g, ' '), /0 · cat \d+\.\d%/);
    assert.equal(await tiles.first().getAttribute('aria-pressed'), 'true');
    assert.equal(await tiles.nth(1).getAttribute('aria-pressed'), 'false');
    assert.match(await page.getByTestId('compare-contrast').innerText(), /cat vs dog/);
    assert.match(await page.getByTestId('scale-note').innerText(), /^Shared scale.*contrast tile has its own scale/);
    assert.equal(await page.locator('.colorbar-row').count(), 2, 'one shared range, plus the contrast');
    assert.equal(await page.getByRole('button', { name: /cat/ }).count() >= 1, true, 'tiles are buttons to assistive technology');
    assert.equal(answered.size, 1, 'one pass for the grid and the contrast');
  });

  await t.test('the panel showing another class moves the mark without asking for maps', async () => {
    const from = (await posted<Msg>(page)).length;
    await send(page, { type: 'current', classIndex: 2 });
    const tiles = page.getByTestId('compare-tile');
    await untilTrue(async () => (await tiles.nth(2).getAttribute('aria-pressed')) === 'true', 'tile 2 marked');
    assert.equal(await tiles.first().getAttribute('aria-pressed'), 'false');
    assert.ok((await posted<Msg>(page)).slice(from).every((m) => m.type !== 'compare'), 'no request');
  });

  await t.test('shared vs per-map scale: the tile holding the common maximum is unchanged, a weaker class brightens', async () => {
    const shared = await tileHashes(page);
    await page.getByTestId('shared-scale').uncheck();
    await untilTrue(async () => (await lastRendered())?.sharedScale === false, 'per-map render');
    const perMap = await tileHashes(page);
    assert.equal(perMap['0'], shared['0'], 'class 0 spans the common range either way');
    assert.notEqual(perMap['1'], shared['1'], 'class 1 (a tenth of the evidence) is stretched to its own range');
    assert.match(await page.getByTestId('scale-note').innerText(), /^Per-map scale/);
    assert.equal(await page.locator('.colorbar-row').count(), 5, 'one range per class, plus the contrast');
    assert.equal(answered.size, 1, 'changing the scale asks the host for nothing');
    await page.getByTestId('shared-scale').check();
  });

  await t.test('a clicked tile asks the host to show its class', async () => {
    const from = (await posted<Msg>(page)).length;
    await page.getByTestId('compare-tile').nth(2).click();
    const sel = await waitForPosted<Msg>(page, from, (m) => m.type === 'selectClass', 'selectClass');
    assert.ok(sel.type === 'selectClass');
    assert.equal(sel.classIndex, 2);
    assert.equal(sel.imagePath, SUBJECT.imagePath);
  });

  await t.test('classes: remove down to 2 (then no more), add up to 6 (then no more)', async () => {
    for (const expected of [[1, 2, 3], [2, 3]]) {
      const from = (await posted<Msg>(page)).length;
      await page.locator('.compare-chip .chip-remove').first().click();
      const req = await waitForPosted<Msg>(page, from, (m) => m.type === 'compare', 'compare after remove');
      assert.ok(req.type === 'compare');
      assert.deepEqual(req.request.classes, expected);
      await answerAll(page, answered);
      await untilTrue(async () => (await lastRendered())?.classes.join() === expected.join(), `rendered ${expected}`);
    }
    assert.equal(await page.locator('.compare-chip .chip-remove:disabled').count(), 2, 'two classes is the minimum');
    for (const add of [7, 6, 5, 4]) {
      const from = (await posted<Msg>(page)).length;
      await page.getByTestId('add-class').selectOption(String(add));
      assert.ok((await posted<Msg>(page)).slice(from).every((m) => m.type !== 'compare'), 'choosing alone does not add');
      await page.getByTestId('add-class-button').click();
      const req = await waitForPosted<Msg>(page, from, (m) => m.type === 'compare', 'compare after add');
      assert.ok(req.type === 'compare');
      assert.equal(req.request.classes!.at(-1), add);
      await answerAll(page, answered);
      await untilTrue(async () => (await lastRendered())?.classes.at(-1) === add, `rendered with ${add}`);
    }
    assert.equal((await lastRendered())!.drawnTiles, 6);
    assert.ok(await page.getByTestId('add-class').isDisabled(), 'six classes is the maximum');
    assert.ok(await page.getByTestId('add-class-button').isDisabled());
  });

  await t.test('method and contrast pair changes ask again; the host can set the classes', async () => {
    let from = (await posted<Msg>(page)).length;
    await page.getByTestId('compare-method').selectOption('saliency');
    let req = await waitForPosted<Msg>(page, from, (m) => m.type === 'compare', 'saliency request');
    assert.ok(req.type === 'compare');
    assert.equal(req.request.method, 'saliency');
    await answerAll(page, answered);
    from = (await posted<Msg>(page)).length;
    await page.getByTestId('contrast-b').selectOption('5');
    req = await waitForPosted<Msg>(page, from, (m) => m.type === 'compare', 'contrast request');
    assert.ok(req.type === 'compare');
    assert.deepEqual(req.request.contrast, [0, 5]);
    await answerAll(page, answered);
    from = (await posted<Msg>(page)).length;
    await send(page, { type: 'setClasses', classes: [6, 7] });
    req = await waitForPosted<Msg>(page, from, (m) => m.type === 'compare', 'setClasses request');
    assert.ok(req.type === 'compare');
    assert.deepEqual(req.request.classes, [6, 7]);
    await answerAll(page, answered);
    await untilTrue(async () => (await lastRendered())?.classes.join() === '6,7', 'rendered 6,7');
  });

  await t.test('one request in flight: changes made meanwhile are asked for once, after the answer', async () => {
    const from = (await posted<Msg>(page)).length;
    const compares = async () => (await posted<Msg>(page)).slice(from).filter((m) => m.type === 'compare');
    await page.getByTestId('compare-method').selectOption('gradcam');
    await untilTrue(async () => (await compares()).length === 1, 'the first request');
    await page.getByTestId('compare-method').selectOption('saliency');
    await page.getByTestId('compare-method').selectOption('gradcam');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await compares()).length, 1, 'nothing more while one is in flight');
    await answerAll(page, answered);
    await untilTrue(async () => (await compares()).length === 2, 'the latest wish, once');
    const last = (await compares())[1];
    assert.ok(last.type === 'compare');
    assert.equal(last.request.method, 'gradcam');
    await answerAll(page, answered);
  });

  await t.test('the method picker lists every registry method by family; other methods are asked with their options and layer', async () => {
    const picker = page.getByTestId('compare-method');
    const groups = await picker.locator('optgroup').evaluateAll((gs) => gs.map((g) => ({
      label: (g as HTMLOptGroupElement).label, methods: Array.from(g.querySelectorAll('option'), (o) => o.value),
    })));
    assert.deepEqual(groups.map((g) => g.label), FAMILIES.map((f) => f.label));
    assert.deepEqual(groups.flatMap((g) => g.methods).sort(), [...METHOD_NAMES].sort(), 'every method, once');
    for (const [i, g] of groups.entries()) assert.ok(g.methods.every((m) => isMethodName(m) && methodSpec(m).family === FAMILIES[i].name), g.label);
    // This model runs on tfjs (wasm): only what needs ONNX Runtime is off.
    const onnxOnly = METHOD_NAMES.filter((m) => methodSpec(m).runtime === 'onnxruntime');
    const disabled = async () => (await picker.locator('option:disabled').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).sort();
    assert.deepEqual(await disabled(), [...onnxOnly].sort());
    const ask = async (method: MethodName) => {
      const from = (await posted<Msg>(page)).length;
      await picker.selectOption(method);
      const req = await waitForPosted<Msg>(page, from, (m) => m.type === 'compare', `${method} request`);
      assert.ok(req.type === 'compare');
      await answerAll(page, answered);
      return req.request;
    };
    const ig = await ask('ig');
    assert.equal(ig.method, 'ig');
    assert.deepEqual(ig.options, { steps: 32, rule: 'gausslegendre', baseline: 'black', color: '#000000', seed: 0 }, 'the registry\'s defaults, every one');
    assert.equal(ig.layer, undefined, 'an input method takes no layer');
    await untilTrue(async () => /Integrated Gradients maps/.test(await page.getByTestId('compare-status').innerText()), 'status names the method');
    // Signed maps on a shared scale: ±the largest |value| of all of them (the largest peak), 0 in the middle.
    const bound = Math.max(...(await lastRendered())!.classes.map((c) => SCALE[c]));
    const row = page.locator('.colorbar-row').first();
    assert.ok(Math.abs(Number(await row.getAttribute('data-min')) + bound) < 1e-6 && Math.abs(Number(await row.getAttribute('data-max')) - bound) < 1e-6,
      `shared range ±${bound}: ${await row.getAttribute('data-min')} … ${await row.getAttribute('data-max')}`);
    for (const tile of await page.getByTestId('compare-tile').all()) assert.equal(Number(await tile.getAttribute('data-max')), Number(await row.getAttribute('data-max')));
    // The panel's layer reaches CAMs only.
    let from = (await posted<Msg>(page)).length;
    await send(page, { type: 'refresh', subject: { ...SUBJECT, layer: 'conv_last' } });
    const again = await waitForPosted<Msg>(page, from, (m) => m.type === 'compare', 'refresh request');
    assert.ok(again.type === 'compare');
    assert.equal(again.request.layer, undefined);
    await answerAll(page, answered);
    const campp = await ask('gradcam++');
    assert.equal(campp.method, 'gradcam++');
    assert.equal(campp.layer, 'conv_last');
    assert.deepEqual(campp.options, {});
    // A slow method: its progress in the status line, and Cancel.
    from = (await posted<Msg>(page)).length;
    await picker.selectOption('rise');
    const rise = await waitForPosted<Msg>(page, from, (m) => m.type === 'compare', 'rise request');
    assert.ok(rise.type === 'compare');
    await send(page, { type: 'progress', requestId: rise.requestId, progress: { method: 'rise', done: 100, total: 400 } });
    await untilTrue(async () => /RISE: 100 of 400 model inputs/.test(await page.getByTestId('compare-status').innerText()), 'progress shown');
    await page.getByTestId('compare-cancel').click();
    const cancel = await waitForPosted<Msg>(page, from, (m) => m.type === 'cancel', 'cancel');
    assert.ok(cancel.type === 'cancel');
    assert.equal(cancel.requestId, rise.requestId);
    answered.add(rise.requestId);
    await send(page, { type: 'error', requestId: rise.requestId, message: 'Cancelled.' });
    await untilTrue(async () => (await page.getByTestId('compare-status').innerText()) === 'Cancelled.', 'cancelled');
    assert.ok(await page.getByTestId('compare-cancel').isHidden());
    await ask('gradcam');
  });

  await t.test('the same class twice for the contrast is refused in the view, not sent', async () => {
    const from = (await posted<Msg>(page)).length;
    await page.getByTestId('contrast-b').selectOption(await page.getByTestId('contrast-a').inputValue());
    const req = await waitForPosted<Msg>(page, from, (m) => m.type === 'compare', 'request');
    assert.ok(req.type === 'compare');
    assert.equal(req.request.contrast, undefined);
    await answerAll(page, answered);
    await untilTrue(async () => /two different classes/.test(await page.getByTestId('compare-status').innerText()), 'said');
  });

  await t.test('a model without spatial layers: CAMs disabled in the picker, the view falls back to saliency', async () => {
    const from = (await posted<Msg>(page)).length;
    const flat: ModelInfoMsg = { ...MODEL, path: '/w/mlp/model.json', spatialLayers: [], defaultSpatialLayer: undefined };
    await send(page, { type: 'subject', subject: { ...SUBJECT, model: flat }, settings: { colormap: 'jet', opacity: 0.6, defaultView: 'side-by-side' } });
    const req = await waitForPosted<Msg>(page, from, (m) => m.type === 'compare', 'request');
    assert.ok(req.type === 'compare');
    assert.equal(req.request.method, 'saliency');
    assert.equal(req.request.layer, undefined);
    await answerAll(page, answered);
    const picker = page.getByTestId('compare-method');
    assert.equal(await picker.inputValue(), 'saliency');
    const disabled = await picker.locator('option:disabled').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    const cams = METHOD_NAMES.filter((m) => methodSpec(m).target === 'layer');
    const onnxOnly = METHOD_NAMES.filter((m) => methodSpec(m).runtime === 'onnxruntime');
    assert.deepEqual(disabled.sort(), [...new Set([...cams, ...onnxOnly])].sort(), 'the CAMs, and what needs ONNX Runtime');
    assert.match((await picker.locator('option[value="gradcam"]').getAttribute('title'))!, /^Grad-CAM: needs /, 'says why');
  });

  await t.test('an error names itself; no page errors, no CSP violations', async () => {
    const from = (await posted<Msg>(page)).length;
    await page.getByTestId('contrast-toggle').uncheck();
    const req = await waitForPosted<Msg>(page, from, (m) => m.type === 'compare', 'request');
    assert.ok(req.type === 'compare');
    assert.equal(req.request.contrast, undefined);
    await send(page, { type: 'error', requestId: req.requestId, message: 'class 9 is out of range' });
    await untilTrue(async () => /out of range/.test(await page.getByTestId('compare-status').innerText()), 'error shown');
    const violations = await page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);
    assert.deepEqual(violations, []);
    assert.deepEqual(harness.errors, []);
  });
});
