/**
 * The methods view's webview in chromium without VS Code (test/webview/harness.html?script=methods):
 * this test plays the host — sends the subject, answers each one-method `explain` request with a
 * synthetic map (or an error), sends progress — and checks the tiles, their order, labels, times and
 * scales, the cache, cancel, and what the view posts.
 *
 * Run: node esbuild.mjs && node --import tsx --test test/webview/methods.test.ts
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type {
  ExplanationMsg, HostToMethods, MethodName, MethodsToHost, MethodTileMsg, ModelInfoMsg,
} from '../../src/shared/protocol';
import { float32ToBase64 } from '../../src/shared/protocol';
import { colormapLut } from '../../src/shared/colormaps';
import { answerNextRequest, nextOpenRequest, posted, send, untilTrue, waitForPosted, webviewTest } from './harness';
import { CAM, MODEL, prediction, SIZE, SUBJECT } from './methodsFixture';


/** The default choice, in registry order (gradient methods, then CAMs, then perturbation). */
const DEFAULT_ORDER: MethodName[] = ['saliency', 'gradxinput', 'smoothgrad', 'ig', 'gradcam', 'gradcam++', 'hirescam', 'scorecam', 'occlusion'];
const LABEL: Partial<Record<MethodName, string>> = {
  saliency: 'Saliency', gradxinput: 'Gradient × Input', smoothgrad: 'SmoothGrad', ig: 'Integrated Gradients', gradcam: 'Grad-CAM',
  'gradcam++': 'Grad-CAM++', hirescam: 'HiResCAM', scorecam: 'Score-CAM', occlusion: 'Occlusion',
};
const CAMS = new Set<MethodName>(['gradcam', 'gradcam++', 'hirescam', 'scorecam', 'eigencam', 'xgradcam', 'layercam', 'guided-gradcam']);
const SIGNED = new Set<MethodName>(['gradxinput', 'ig', 'occlusion']);
const FAILING: MethodName = 'scorecam';
/** Engine time of each method's request, all different so a tile showing another's time is caught. */
const TOTAL_MS = (m: MethodName) => 12 + 3 * DEFAULT_ORDER.indexOf(m) + (m === 'occlusion' ? 4000 : 0);




/**
 * A map for `method`: unsigned ones a bump with maximum `peak` and minimum 0; signed ones zero everywhere
 * except −1 at the first pixel and +0.5 at the last, so their scale is ±1 and most pixels sit at 0.
 */
function mapData(method: MethodName, size: number, peak: number): { data: Float32Array; min: number; max: number } {
  const data = new Float32Array(size * size);
  if (SIGNED.has(method)) {
    data[0] = -1;
    data[size * size - 1] = 0.5;
    return { data, min: -1, max: 0.5 };
  }
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) data[y * size + x] = peak * Math.exp(-((x - size / 3) ** 2 + (y - size / 2) ** 2) / 8);
  data[size * size - 1] = 0;
  let max = 0;
  data.forEach((v) => (max = Math.max(max, v)));
  return { data, min: 0, max };
}

type Explain = Extract<MethodsToHost, { type: 'explain' }>;

function answer(req: Explain): HostToMethods {
  const method = req.request.methods![0];
  if (method === FAILING) return { type: 'error', requestId: req.requestId, message: `method "${method}" has no implementation` };
  const size = CAMS.has(method) ? CAM : SIZE;
  const { data, min, max } = mapData(method, size, 2 + (req.request.classIndex ?? 0));
  const result: ExplanationMsg = {
    imagePath: SUBJECT.imagePath, imageWidth: 48, imageHeight: 48,
    predictions: [0, 1, 2, 3].map(prediction), target: prediction(req.request.classIndex ?? 0),
    maps: [{
      method, width: size, height: size, data: float32ToBase64(data), min, max, signed: SIGNED.has(method),
      layer: CAMS.has(method) ? 'conv_last' : undefined, options: req.request.options?.[method],
      stats: method === 'ig' ? { completenessResidual: 0.002, logitChange: 2.5 } : undefined,
    }],
    timings: { pass: 1, [method]: TOTAL_MS(method) - 1, total: TOTAL_MS(method) },
    notes: [],
  };
  return { type: 'explanation', requestId: req.requestId, result };
}

type Msg = Extract<MethodsToHost, { type: string }>;

const explains = async (page: Page, from = 0) => (await posted<Msg>(page)).slice(from).filter((m): m is Explain & Record<string, unknown> => m.type === 'explain');

const nextOpen = (page: Page, answered: Set<number>) => nextOpenRequest(() => explains(page), answered, 'an explain request');

/** Answers the next request (with a map, or the failing method's error) and returns it. */
const answerNext = (page: Page, answered: Set<number>) => answerNextRequest(page, () => explains(page), answered, answer, 'an explain request');

async function lastTiles(page: Page): Promise<MethodTileMsg[] | undefined> {
  const r = (await posted<Msg>(page)).filter((m) => m.type === 'rendered').at(-1);
  return r && r.type === 'rendered' ? r.tiles : undefined;
}

async function tileText(page: Page, method: MethodName): Promise<string> {
  return (await page.locator(`[data-testid="method-tile"][data-method="${method}"]`).innerText()).replace(/\s+/g, ' ');
}

/** The canvas pixel of a tile at a fraction of its size. */
async function tilePixel(page: Page, method: MethodName, fx: number, fy: number): Promise<number[]> {
  return page.evaluate(([m, x, y]) => {
    const c = document.querySelector<HTMLCanvasElement>(`[data-testid="method-tile"][data-method="${m}"] canvas`)!;
    return Array.from(c.getContext('2d')!.getImageData(Math.floor(Number(x) * c.width), Math.floor(Number(y) * c.height), 1, 1).data);
  }, [method, String(fx), String(fy)]);
}

webviewTest('methods view webview in chromium', 'methods.js', { timeout: 120_000, viewport: { width: 1000, height: 1000 } }, async (t, harness) => {
  const { page } = harness;
  const answered = new Set<number>();
  const settings = { colormap: 'jet' as const, opacity: 0.6, defaultView: 'side-by-side' as const };

  await t.test('one request per method, in registry order, one at a time; CAMs carry the layer, input methods none', async () => {
    await waitForPosted<Msg>(page, 0, (m) => m.type === 'ready', 'ready');
    await send(page, { type: 'subject', subject: SUBJECT, settings });
    const asked: Explain[] = [];
    for (let i = 0; i < DEFAULT_ORDER.length; i++) asked.push(await answerNext(page, answered));
    assert.deepEqual(asked.map((r) => r.request.methods), DEFAULT_ORDER.map((m) => [m]));
    for (const r of asked) {
      const m = r.request.methods![0];
      assert.equal(r.request.classIndex, 0);
      assert.equal(r.imagePath, SUBJECT.imagePath);
      assert.equal(r.modelPath, MODEL.path);
      assert.equal(r.request.layer, CAMS.has(m) ? 'conv_last' : undefined, m);
      assert.ok(r.request.options?.[m], `${m} is asked with its options`);
    }
    // Every option set, at the registry's defaults (the panel said none): a few, written out.
    assert.deepEqual(asked[0].request.options?.saliency, { signed: false });
    assert.deepEqual(asked[2].request.options?.smoothgrad, { samples: 25, sigma: 0.15, seed: 0, signed: false });
    assert.deepEqual(asked[4].request.options?.gradcam, {});
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await explains(page)).length, DEFAULT_ORDER.length, 'nothing more to ask');
  });

  await t.test('one tile per method: drawn with label, family and time; the failing method shows its sentence', async () => {
    await untilTrue(async () => (await lastTiles(page))?.filter((x) => x.status === 'drawn').length === DEFAULT_ORDER.length - 1, 'all drawn');
    const tiles = (await lastTiles(page))!;
    assert.deepEqual(tiles.map((x) => x.method), DEFAULT_ORDER);
    assert.deepEqual(tiles.find((x) => x.method === FAILING), { method: FAILING, status: 'error', error: 'method "scorecam" has no implementation' });
    assert.equal(await page.locator('[data-testid="method-tile"]').count(), DEFAULT_ORDER.length);
    assert.equal(await page.locator('[data-testid="method-tile"][data-drawn="true"]').count(), DEFAULT_ORDER.length - 1);
    for (const m of DEFAULT_ORDER) {
      const label = await page.locator(`[data-testid="method-tile"][data-method="${m}"] .tile-label`).innerText();
      assert.equal(label, LABEL[m]);
      if (m === FAILING) continue;
      const detail = await page.locator(`[data-testid="method-tile"][data-method="${m}"] .tile-detail`).innerText();
      assert.equal(detail, m === 'occlusion' ? '4.04 s' : `${TOTAL_MS(m)} ms`, `${m} time`);
    }
    assert.match(await tileText(page, 'saliency'), /^Saliency \d+ ms Gradient /);
    assert.match(await tileText(page, 'hirescam'), /Class activation \(CAM\) · conv_last/);
    assert.equal(await page.locator(`[data-method="${FAILING}"] [data-testid="tile-error"]`).innerText(), 'method "scorecam" has no implementation');
    assert.match(await page.getByTestId('methods-status').innerText(), /8 of 9 maps, 1 failed/);
  });

  await t.test('each tile on its own scale: unsigned from its minimum to its maximum, signed ±max|v| with 0 in the middle', async () => {
    const saliency = page.locator('[data-testid="method-tile"][data-method="saliency"]');
    assert.equal(Number(await saliency.getAttribute('data-min')), 0);
    assert.ok(Math.abs(Number(await saliency.getAttribute('data-max')) - 2) < 0.05, 'the bump\'s peak');
    const gxi = page.locator('[data-testid="method-tile"][data-method="gradxinput"]');
    assert.equal(Number(await gxi.getAttribute('data-min')), -1);
    assert.equal(Number(await gxi.getAttribute('data-max')), 1, 'symmetric around 0, not up to 0.5');
    // Most of the signed map is exactly 0: painted with the colormap's middle colour.
    const jet = colormapLut('jet');
    const middle = [jet[128 * 3], jet[128 * 3 + 1], jet[128 * 3 + 2], 255];
    assert.deepEqual(await tilePixel(page, 'gradxinput', 0.5, 0.5), middle);
    // The unsigned map's zero corner is the colormap's first colour.
    assert.deepEqual(await tilePixel(page, 'saliency', 0.99, 0.99), [jet[0], jet[1], jet[2], 255]);
    assert.match(await tileText(page, 'ig'), /completeness residual 0\.08 % of the logit change \(2\.5\)/);
  });

  await t.test('unticking removes a tile without a request; ticking it again draws it from the cache', async () => {
    const from = (await posted<Msg>(page)).length;
    await page.locator('#method-occlusion').uncheck();
    await untilTrue(async () => (await page.locator('[data-testid="method-tile"][data-method="occlusion"]').count()) === 0, 'occlusion tile removed');
    assert.equal(await page.locator('[data-testid="method-tile"]').count(), DEFAULT_ORDER.length - 1);
    await page.locator('#method-occlusion').check();
    await untilTrue(async () => (await page.locator('[data-testid="method-tile"][data-method="occlusion"][data-drawn="true"]').count()) === 1, 'occlusion back');
    assert.deepEqual(await explains(page, from), [], 'no request either way');
    // The default choice includes the attention methods; this CNN cannot run them, so they got no tile above.
    assert.deepEqual((await page.evaluate(() => (window as unknown as { __getState(): { methods: string[] } }).__getState())).methods,
      [...DEFAULT_ORDER, 'rollout', 'grad-rollout'], 'the choice is kept in the webview state');
  });

  await t.test('a clicked tile asks the host to show its method in the explain panel', async () => {
    const from = (await posted<Msg>(page)).length;
    await page.locator('[data-testid="method-tile"][data-method="smoothgrad"]').click();
    const sel = await waitForPosted<Msg>(page, from, (m) => m.type === 'selectMethod', 'selectMethod');
    assert.deepEqual(sel, { type: 'selectMethod', method: 'smoothgrad', options: { samples: 25, sigma: 0.15, seed: 0, signed: false }, imagePath: SUBJECT.imagePath });
    const before = (await posted<Msg>(page)).length;
    // aria-disabled: playwright would wait for it to be enabled.
    await page.locator(`[data-testid="method-tile"][data-method="${FAILING}"]`).click({ force: true });
    await new Promise((r) => setTimeout(r, 200));
    assert.ok((await posted<Msg>(page)).slice(before).every((m) => m.type !== 'selectMethod'), 'an error tile has nothing to show');
  });

  await t.test('progress moves the computing tile; Cancel keeps the drawn tiles and leaves the rest for Compute', async () => {
    const from = (await posted<Msg>(page)).length;
    await page.locator('#method-rise').check();
    await page.locator('#method-lime').check();
    const rise = await waitForPosted<Msg>(page, from, (m) => m.type === 'explain', 'rise request');
    assert.ok(rise.type === 'explain');
    assert.deepEqual(rise.request.methods, ['rise']);
    await send(page, { type: 'progress', requestId: rise.requestId, progress: { method: 'rise', done: 1200, total: 4000 } });
    const bar = page.locator('[data-method="rise"] [data-testid="tile-progress"]');
    await untilTrue(async () => (await bar.evaluate((p: HTMLProgressElement) => p.value)) === 1200, 'progress shown');
    assert.equal(await bar.evaluate((p: HTMLProgressElement) => p.max), 4000);
    assert.match(await tileText(page, 'rise'), /1,200 of 4,000 model inputs/);
    assert.match(await page.getByTestId('methods-status').innerText(), /RISE: 1,200 of 4,000 model inputs/);
    await page.getByTestId('methods-cancel').click();
    const cancel = await waitForPosted<Msg>(page, from, (m) => m.type === 'cancel', 'cancel');
    assert.ok(cancel.type === 'cancel');
    assert.equal(cancel.requestId, rise.requestId);
    answered.add(rise.requestId);
    await send(page, { type: 'error', requestId: rise.requestId, message: 'Cancelled.' });
    await untilTrue(async () => (await lastTiles(page))?.find((x) => x.method === 'rise')?.status === 'cancelled', 'rise cancelled');
    const tiles = (await lastTiles(page))!;
    assert.equal(tiles.find((x) => x.method === 'lime')?.status, 'cancelled', 'what waited is not computed');
    assert.equal(tiles.filter((x) => x.status === 'drawn').length, DEFAULT_ORDER.length - 1, 'finished tiles stay');
    assert.equal((await explains(page, from)).length, 1, 'nothing more asked after Cancel');
    await page.getByTestId('methods-compute').click();
    const again = await answerNext(page, answered);
    assert.deepEqual(again.request.methods, ['rise']);
    assert.deepEqual((await answerNext(page, answered)).request.methods, ['lime']);
    await untilTrue(async () => (await lastTiles(page))?.filter((x) => x.status === 'drawn').length === DEFAULT_ORDER.length + 1, 'rise and lime drawn');
  });

  await t.test('another class recomputes; going back to the first class draws from the cache', async () => {
    const from = (await posted<Msg>(page)).length;
    await send(page, { type: 'refresh', subject: { ...SUBJECT, classIndex: 1 } });
    const first = await answerNext(page, answered);
    assert.equal(first.request.classIndex, 1);
    assert.deepEqual(first.request.methods, ['saliency']);
    const second = await nextOpen(page, answered);
    assert.equal(second.request.classIndex, 1);
    // Back to class 0 while class 1's second map is computing: that one is kept, nothing else is asked.
    await send(page, { type: 'refresh', subject: SUBJECT });
    answered.add(second.requestId);
    await send(page, answer(second));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await explains(page, from)).length, 2, 'class 0 is all cached');
    assert.equal((await lastTiles(page))?.filter((x) => x.status === 'drawn').length, DEFAULT_ORDER.length + 1);
    assert.match(await page.getByTestId('methods-meta').innerText(), /class 0 · cat · layer conv_last/);
  });

  await t.test('the host chooses the methods; a model without spatial layers gets no CAM tiles', async () => {
    await send(page, { type: 'setMethods', methods: ['saliency', 'gradcam', 'ig'] });
    await untilTrue(async () => (await lastTiles(page))?.map((x) => x.method).join() === 'saliency,ig,gradcam', 'three tiles, registry order');
    const from = (await posted<Msg>(page)).length;
    const flat: ModelInfoMsg = { ...MODEL, path: '/w/mlp/model.onnx', spatialLayers: [], defaultSpatialLayer: undefined };
    await send(page, { type: 'subject', subject: { ...SUBJECT, model: flat, layer: undefined }, settings });
    const asked = [await answerNext(page, answered), await answerNext(page, answered)];
    assert.deepEqual(asked.map((r) => r.request.methods![0]), ['saliency', 'ig']);
    await untilTrue(async () => (await lastTiles(page))?.map((x) => x.method).join() === 'saliency,ig', 'no Grad-CAM tile');
    assert.ok(await page.locator('#method-gradcam').isDisabled(), 'CAMs cannot be ticked');
    assert.ok(await page.locator('#method-saliency').isEnabled());
    assert.match((await page.locator('label[for="method-gradcam"]').getAttribute('title'))!, /^Not for this model: needs /, 'says why');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await explains(page, from)).length, 2);
  });

  await t.test('no page errors, no CSP violations', async () => {
    const violations = await page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);
    assert.deepEqual(violations, []);
    assert.deepEqual(harness.errors, []);
  });
});
