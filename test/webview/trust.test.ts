/**
 * The methods view's Trust tab in chromium without VS Code (test/webview/harness.html?script=methods): this test
 * plays the host — sends the subject, answers each one-method `explain` with a synthetic map and each `evaluate`
 * with a synthetic evaluation whose numbers differ for every method (curves with known points) and the map it ran
 * on, or with an error — and checks the table (one row per method, each number where it belongs, "n/a" for a
 * measure without a number), the curves (lines counted and seen in the canvas pixels, in the theme's colours),
 * sorting, selecting, the measures checklist, progress with steps, cancel and resume, retrying failures, a subject
 * or tab change mid-request, the saved state, the Maps tab (showing the maps the measures brought), the CSP, and
 * the layout at 320 px.
 *
 * Run: node esbuild.mjs && node --import tsx --test test/webview/trust.test.ts
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import type { Page } from 'playwright-core';
import type {
  EvaluationMsg, ExplanationMsg, HostToMethods, MethodName, MethodOptions, MethodsToHost,
} from '../../src/shared/protocol';
import { float32ToBase64 } from '../../src/shared/protocol';
import { INSENSITIVE_NOTE, RANDOMIZED_CONSTANT_NOTE, type Measure, type MethodEvaluation } from '../../src/shared/measures';
import { METHOD_NAMES } from '../../src/shared/methods';
import { answerNextRequest, nextOpenRequest, posted, ROOT, send, untilTrue, waitForPosted, webviewTest } from './harness';
import { CAM, LABELS, MODEL, prediction, SIZE, SUBJECT } from './methodsFixture';

/** Screenshots of the trust tab at 320 and 1000 px, to look at (nothing is compared with them). */
const ARTIFACTS = path.join(ROOT, 'test-artifacts');


/** The methods shown, in registry order (as sent they are shuffled). */
const SHOWN: MethodName[] = ['saliency', 'smoothgrad', 'gradcam', 'occlusion'];
const LABEL: Partial<Record<MethodName, string>> = {
  saliency: 'Saliency', smoothgrad: 'SmoothGrad', gradcam: 'Grad-CAM', occlusion: 'Occlusion', ig: 'Integrated Gradients',
};
const CAMS = new Set<MethodName>(['gradcam']);
/** Its evaluation fails as a whole (unless only randomization is asked). */
const FAILING: MethodName = 'occlusion';
const FAILURE = 'Occlusion gave a constant map of photo.png: there is nothing to rank.';
/** Set by the retry test: the failing method then measures like the others. */
let failureCured = false;
/** Its ROAD fails alone. */
const ROAD_FAILS: MethodName = 'saliency';
const ROAD_ERROR = 'ROAD needs at least two distinct map values.';

/** The numbers sent, all different per method (and with a 4th decimal, so the 3-decimal rounding shows). */
const NUMBERS: Record<string, { deletion: number; insertion: number; road: number; stability: number; randomization: number }> = {
  saliency: { deletion: 0.2134, insertion: 0.4121, road: 0.0513, stability: 0.6342, randomization: 0.9121 },
  smoothgrad: { deletion: 0.1873, insertion: 0.7262, road: 0.1424, stability: 0.8813, randomization: 0.3052 },
  gradcam: { deletion: 0.2544, insertion: 0.5834, road: 0.0, stability: 0.7751, randomization: 0.1281 },
  occlusion: { deletion: 0.3012, insertion: 0.3321, road: 0.0211, stability: 0.5123, randomization: 0.4442 },
};
/** Any other method's numbers: different per method too. */
const numbers = (method: MethodName) => {
  const i = METHOD_NAMES.indexOf(method) + 1;
  return NUMBERS[method] ?? { deletion: 0.1 + i / 100, insertion: 0.9 - i / 100, road: i / 200, stability: 0.5 + i / 100, randomization: 0.2 + i / 100 };
};
const INSENSITIVE: MethodName = 'saliency';
/** Its map with every layer random is constant: randomization runs but has no number, only its note. */
const CONSTANT_AFTER_RANDOM: MethodName = 'gradcam';
/** A note of src/shared/measures.ts as the first sentence of a tooltip. */
const asSentence = (note: string) => `${note.charAt(0).toUpperCase()}${note.slice(1)}. `;
const FRACTIONS = [0, 0.25, 0.5, 0.75, 1];
const RANDOM = [0.9, 0.7, 0.5, 0.3, 0.1];
const RANDOM_AUC = { deletion: 0.5, insertion: 0.5 };


const SETTINGS = { colormap: 'jet' as const, opacity: 0.6, defaultView: 'side-by-side' as const };


type Explain = Extract<MethodsToHost, { type: 'explain' }>;
type Evaluate = Extract<MethodsToHost, { type: 'evaluate' }>;
type Request = Explain | Evaluate;
type Trust = Extract<MethodsToHost, { type: 'renderedTrust' }>;
type Msg = Extract<MethodsToHost, { type: string }>;

function mapAnswer(req: Explain): HostToMethods {
  const method = req.request.methods![0];
  return { type: 'explanation', requestId: req.requestId, result: explanationOf(method, req.request.classIndex ?? 0, req.request.options?.[method]) };
}

/** The synthetic map of `method` as the engine answers it (alone, or as the map an evaluation ran on). */
function explanationOf(method: MethodName, classIndex: number, options: MethodOptions | undefined): ExplanationMsg {
  const size = CAMS.has(method) ? CAM : SIZE;
  const data = new Float32Array(size * size);
  for (let i = 0; i < data.length; i++) data[i] = (i % size) / size;
  const result: ExplanationMsg = {
    imagePath: SUBJECT.imagePath, imageWidth: 48, imageHeight: 48,
    predictions: [0, 1, 2, 3].map(prediction), target: prediction(classIndex),
    maps: [{ method, width: size, height: size, data: float32ToBase64(data), min: 0, max: (size - 1) / size, signed: false, options }],
    timings: { pass: 1, [method]: 20, total: 21 + SHOWN.indexOf(method) },
    notes: [],
  };
  return result;
}

/** A curve whose shape differs per method, within [0, 0.9] (its points are what the chart draws). */
const curve = (auc: number, falling: boolean) => ({
  auc, randomAuc: falling ? RANDOM_AUC.deletion : RANDOM_AUC.insertion, fractions: FRACTIONS,
  probability: FRACTIONS.map((f) => 0.9 * (falling ? 1 - f : f) ** (1 / auc - 1)),
  randomProbability: falling ? RANDOM : [...RANDOM].reverse(),
});

/** The evaluation of `method` for the measures asked: only those, as the engine answers. */
function evaluation(method: MethodName, measures: Measure[]): MethodEvaluation {
  const n = numbers(method);
  const e: MethodEvaluation = { method, label: LABEL[method] ?? method, options: {}, ms: { map: 20 } };
  for (const m of measures) {
    e.ms[m] = 100;
    if (m === 'curves') Object.assign(e, { deletion: curve(n.deletion, true), insertion: curve(n.insertion, false) });
    if (m === 'road') {
      if (method === ROAD_FAILS) e.errors = { road: ROAD_ERROR };
      else e.road = { combined: n.road, percentiles: [0.1, 0.5, 0.9], morf: [0.5, 0.4, 0.3], lerf: [0.6, 0.6, 0.5] };
    }
    if (m === 'stability') e.stability = { spearman: n.stability, ssim: 0.5, samples: 8 };
    if (m === 'randomization') {
      const constant = method === CONSTANT_AFTER_RANDOM;
      e.randomization = {
        fullyRandomized: constant ? null : n.randomization, insensitive: method === INSENSITIVE,
        note: method === INSENSITIVE ? INSENSITIVE_NOTE : constant ? RANDOMIZED_CONSTANT_NOTE : undefined,
        coverage: 1, cascading: [{ layer: 'conv_last', similarity: n.randomization }],
      };
    }
  }
  return e;
}

function evaluateAnswer(req: Evaluate): HostToMethods {
  const { method, measures } = req.request;
  if (method === FAILING && !failureCured && measures.join() !== 'randomization') return { type: 'error', requestId: req.requestId, message: FAILURE };
  const classIndex = req.request.classIndex ?? 0;
  const result: EvaluationMsg = {
    imagePath: req.imagePath, classIndex, label: LABELS[classIndex], probability: 0.6,
    evaluation: evaluation(method, measures), explanation: explanationOf(method, classIndex, req.request.options),
  };
  return { type: 'evaluation', requestId: req.requestId, result };
}

const answer = (req: Request): HostToMethods => (req.type === 'explain' ? mapAnswer(req) : evaluateAnswer(req));

const requests = async (page: Page, from = 0) =>
  (await posted<Msg>(page)).slice(from).filter((m): m is Request & Record<string, unknown> => m.type === 'explain' || m.type === 'evaluate');

/** Waits for the request not answered yet (exactly one may be open) and returns it. */
const nextOpen = (page: Page, answered: Set<number>) => nextOpenRequest(() => requests(page), answered, 'a request');

const answerNext = (page: Page, answered: Set<number>) => answerNextRequest(page, () => requests(page), answered, answer, 'a request');

/** Answers every request until none comes for a while; returns them. */
async function answerAll(page: Page, answered: Set<number>): Promise<Request[]> {
  const done: Request[] = [];
  for (;;) {
    try {
      await untilTrue(async () => (await requests(page)).some((m) => !answered.has(m.requestId)), 'a request', 500);
    } catch {
      return done;
    }
    done.push(await answerNext(page, answered));
  }
}

const what = (r: Request) => `${r.type === 'explain' ? 'map' : 'measure'} ${r.type === 'explain' ? r.request.methods![0] : r.request.method}`;

async function lastTrust(page: Page, from = 0): Promise<Trust | undefined> {
  return (await posted<Msg>(page)).slice(from).filter((m): m is Trust & Record<string, unknown> => m.type === 'renderedTrust').at(-1);
}

async function cellText(page: Page, method: MethodName, scalar: string): Promise<string> {
  return (await page.locator(`[data-testid="trust-row"][data-method="${method}"] [data-scalar="${scalar}"]`).innerText()).trim();
}

async function cellTitle(page: Page, method: MethodName, scalar: string): Promise<string> {
  return (await page.locator(`[data-testid="trust-row"][data-method="${method}"] [data-scalar="${scalar}"]`).getAttribute('title')) ?? '';
}

const rowOrder = (page: Page) => page.locator('[data-testid="trust-row"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-method')));

/** Opaque pixels of the chart's canvas, in its top half (the plot: the legend sits at the bottom), within 40 of `rgb`. */
async function colourPixels(page: Page, chart: 'deletion' | 'insertion', rgb: [number, number, number]): Promise<number> {
  return page.evaluate(([id, r, g, b]) => {
    const c = document.querySelector<HTMLCanvasElement>(`[data-testid="trust-chart-${id}"]`)!;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, Math.floor(c.height / 2)).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 200 && Math.abs(d[i] - Number(r)) <= 40 && Math.abs(d[i + 1] - Number(g)) <= 40 && Math.abs(d[i + 2] - Number(b)) <= 40) n++;
    }
    return n;
  }, [chart, ...rgb.map(String)] as const);
}

/** VS Code's dark chart colours, the fallbacks the panel uses when the theme gives none (as in this harness). */
const BLUE: [number, number, number] = [0x37, 0x94, 0xff];
const RED: [number, number, number] = [0xf1, 0x4c, 0x4c];
const GREEN: [number, number, number] = [0x89, 0xd1, 0x85];
const YELLOW: [number, number, number] = [0xcc, 0xa7, 0x00];

webviewTest('methods view Trust tab in chromium', 'methods.js', { timeout: 180_000, viewport: { width: 1000, height: 1400 } }, async (t, harness) => {
  const { page } = harness;
  const answered = new Set<number>();
  /** The map request of each method (class 0): its options are what the evaluation must be asked with. */
  const mapRequests = new Map<MethodName, Explain>();

  await t.test('two accessible tabs, Maps first; the Maps tab computes only maps', async () => {
    await waitForPosted<Msg>(page, 0, (m) => m.type === 'ready', 'ready');
    await send(page, { type: 'setMethods', methods: ['occlusion', 'gradcam', 'saliency', 'smoothgrad'] });
    await send(page, { type: 'subject', subject: SUBJECT, settings: SETTINGS });
    const asked = await answerAll(page, answered);
    assert.deepEqual(asked.map(what), SHOWN.map((m) => `map ${m}`), 'maps only, in registry order');
    for (const r of asked) if (r.type === 'explain') mapRequests.set(r.request.methods![0], r);
    assert.equal(await page.getByRole('tablist').count(), 1);
    const maps = page.getByRole('tab', { name: 'Maps' });
    const trust = page.getByRole('tab', { name: 'Trust' });
    assert.equal(await maps.getAttribute('aria-selected'), 'true');
    assert.equal(await trust.getAttribute('aria-selected'), 'false');
    assert.ok(await page.getByTestId('methods-grid').isVisible());
    assert.ok(await page.getByTestId('trust-table').isHidden());
    await untilTrue(async () => (await page.locator('[data-testid="method-tile"][data-drawn="true"]').count()) === SHOWN.length, 'tiles drawn');
  });

  await t.test('the Trust tab: one evaluate request per method in registry order, with its options, class, layer, the default measures and seed 0', async () => {
    const from = (await posted<Msg>(page)).length;
    await page.getByRole('tab', { name: 'Trust' }).click();
    const shown = await waitForPosted<Msg>(page, from, (m) => m.type === 'renderedTrust' && m.tab === 'trust', 'renderedTrust on the Trust tab');
    assert.ok(shown.type === 'renderedTrust');
    assert.equal(await page.getByRole('tab', { name: 'Trust' }).getAttribute('aria-selected'), 'true');
    assert.ok(await page.getByTestId('methods-grid').isHidden());
    // The measures checklist: one box per measure, the defaults ticked, what each runs as its tooltip.
    const boxes = await page.locator('[data-testid="trust-measures"] input[type="checkbox"]').evaluateAll((els) =>
      els.map((e) => ({ measure: e.getAttribute('data-measure'), checked: (e as HTMLInputElement).checked, title: e.parentElement!.title, text: e.parentElement!.textContent })));
    assert.deepEqual(boxes.map((b) => [b.measure, b.checked, b.text]), [
      ['curves', true, 'Deletion & insertion'], ['road', true, 'ROAD'], ['stability', true, 'Stability'], ['randomization', false, 'Randomization']]);
    assert.match(boxes[3].title, /randomized copy of the model per layer/);

    // The first request: progress of its second measure shows in the row and the status line.
    const first = await nextOpen(page, answered);
    assert.equal(first.type, 'evaluate');
    await send(page, { type: 'progress', requestId: first.requestId, progress: { method: 'saliency', measure: 'stability', done: 1, total: 3 } });
    const expected = 'Measuring 1 of 4: Saliency — Stability (2 of 3 measures)';
    await untilTrue(async () => (await page.getByTestId('methods-status').innerText()) === expected, 'the measure in the status line');
    assert.equal(await page.locator('[data-method="saliency"] [data-testid="trust-activity"]').innerText(), expected);
    assert.equal((await lastTrust(page))?.rows.find((r) => r.method === 'saliency')?.status, 'measuring');
    assert.equal(await cellText(page, 'saliency', 'deletionAuc'), '…', 'being measured');
    // A measure of many steps says how far it is.
    await send(page, { type: 'progress', requestId: first.requestId, progress: { method: 'saliency', measure: 'stability', done: 1, total: 3, step: { done: 4, total: 12 } } });
    const stepped = `${expected} · 4 of 12 steps`;
    await untilTrue(async () => (await page.getByTestId('methods-status').innerText()) === stepped, 'the steps in the status line');
    assert.equal(await page.locator('[data-method="saliency"] [data-testid="trust-activity"]').innerText(), stepped);

    answered.add(first.requestId);
    await send(page, answer(first));
    const asked = [first, ...(await answerAll(page, answered))];
    assert.deepEqual(asked.map(what), SHOWN.map((m) => `measure ${m}`), 'maps were cached: only measures asked');
    for (const r of asked) {
      assert.ok(r.type === 'evaluate');
      const m = r.request.method;
      assert.deepEqual(r.request, {
        method: m, options: mapRequests.get(m)!.request.options![m], classIndex: 0, ...(CAMS.has(m) ? { layer: 'conv_last' } : {}),
        measures: ['curves', 'road', 'stability'], seed: 0,
      }, m);
      assert.equal(r.imagePath, SUBJECT.imagePath);
      assert.equal(r.modelPath, MODEL.path);
    }
  });

  await t.test('one row per method with its numbers (3 decimals), its time, and what is missing said per cell', async () => {
    await untilTrue(async () => (await lastTrust(page))?.rows.every((r) => r.status === 'measured' || r.status === 'error') === true, 'all measured');
    const trust = (await lastTrust(page))!;
    assert.deepEqual(trust.rows.map((r) => r.method), SHOWN);
    assert.deepEqual(await rowOrder(page), SHOWN);
    for (const m of SHOWN.filter((x) => x !== FAILING)) {
      const n = NUMBERS[m];
      const row = trust.rows.find((r) => r.method === m)!;
      assert.equal(row.status, 'measured', m);
      assert.deepEqual(row.values, {
        deletionAuc: n.deletion, insertionAuc: n.insertion, road: m === ROAD_FAILS ? null : n.road, stability: n.stability, randomization: null,
      }, m);
      assert.equal(await cellText(page, m, 'deletionAuc'), n.deletion.toFixed(3), `${m} deletion`);
      assert.equal(await cellText(page, m, 'insertionAuc'), n.insertion.toFixed(3), `${m} insertion`);
      assert.equal(await cellText(page, m, 'stability'), n.stability.toFixed(3), `${m} stability`);
      if (m !== ROAD_FAILS) assert.equal(await cellText(page, m, 'road'), n.road.toFixed(3), `${m} ROAD`);
      assert.match(await cellTitle(page, m, 'deletionAuc'), /^Random order: 0\.500\. Lower is better: removing the top pixels first should drop the class fast\.$/);
      assert.equal(await cellText(page, m, 'randomization'), '–');
      assert.equal(await cellTitle(page, m, 'randomization'), 'Tick Randomization to measure it.');
      assert.equal(await page.locator(`[data-testid="trust-row"][data-method="${m}"] [data-testid="trust-time"]`).innerText(), `${21 + SHOWN.indexOf(m)} ms`);
      assert.equal(await page.locator(`[data-testid="trust-row"][data-method="${m}"] [data-testid="trust-thumb"]`).getAttribute('data-drawn'), 'true');
      assert.match(await page.locator(`[data-testid="trust-row"][data-method="${m}"] .trust-label`).innerText(), new RegExp(`^${LABEL[m]}$`));
    }
    // The column headers: the label, which way is better in words under it (arrows are the sort's only), how to read it as the tooltip.
    const header = (name: string) => page.locator(`button[data-sort="${name}"]`).evaluate((b) => ({
      label: b.querySelector('[data-testid="trust-sort-label"]')!.textContent, better: b.querySelector('[data-testid="trust-better"]')?.textContent,
      arrow: getComputedStyle(b.querySelector('[data-testid="trust-sort-label"]')!, '::after').content,
    }));
    assert.deepEqual(await header('deletionAuc'), { label: 'Deletion AUC', better: 'lower is better', arrow: 'none' });
    assert.deepEqual(await header('insertionAuc'), { label: 'Insertion AUC', better: 'higher is better', arrow: 'none' });
    assert.deepEqual(await header('method'), { label: 'Method', better: undefined, arrow: '" ▴"' }, 'registry order: the Method column is the sorted one');
    assert.match((await page.locator('button[data-sort="stability"]').getAttribute('title'))!, /^higher is better: Spearman/);
    // A measure that failed alone: its cell marks it, with the sentence; the note under the table writes it out.
    assert.deepEqual(trust.rows.find((r) => r.method === ROAD_FAILS)!.errors, { road: ROAD_ERROR });
    assert.equal(await cellTitle(page, ROAD_FAILS, 'road'), ROAD_ERROR);
    assert.equal(await cellText(page, ROAD_FAILS, 'road'), '⚠');
    assert.match(await page.getByTestId('trust-notes').innerText(), /Saliency — ROAD: ROAD needs at least two distinct map values\./);
    // The request that failed as a whole: the row says why.
    const failed = trust.rows.find((r) => r.method === FAILING)!;
    assert.equal(failed.status, 'error');
    assert.deepEqual(failed.values, { deletionAuc: null, insertionAuc: null, road: null, stability: null, randomization: null });
    assert.equal(await page.locator(`[data-method="${FAILING}"] [data-testid="trust-row-error"]`).innerText(), FAILURE);
    assert.equal(await page.locator(`[data-method="${FAILING}"] [data-testid="trust-retry"]`).innerText(), 'Retry failed asks for it again.', 'the row says how to retry');
    assert.ok(await page.getByTestId('methods-retry').isVisible());
    assert.ok(await page.getByTestId('methods-compute').isHidden(), 'nothing was cancelled');
    assert.match(await page.getByTestId('methods-status').innerText(), /^3 of 4 methods measured, 1 failed\.$/);
    // The ⚠ mark is an image to assistive technology, named by its measure.
    assert.equal(await page.locator(`[data-method="${ROAD_FAILS}"] [data-scalar="road"] [role="img"]`).getAttribute('aria-label'), 'ROAD failed');
  });

  await t.test('the curves: one line per measured method, in the theme\'s chart colours, plus the random order', async () => {
    const trust = (await lastTrust(page))!;
    assert.equal(trust.curves, 3, 'saliency, SmoothGrad, Grad-CAM; the failed one draws none');
    // Colours by row: blue, red, green, yellow — the failed fourth has no line.
    for (const chart of ['deletion', 'insertion'] as const) {
      assert.ok(await colourPixels(page, chart, BLUE) > 30, `${chart}: saliency's blue line`);
      assert.ok(await colourPixels(page, chart, RED) > 30, `${chart}: SmoothGrad's red line`);
      assert.ok(await colourPixels(page, chart, GREEN) > 30, `${chart}: Grad-CAM's green line`);
      assert.equal(await colourPixels(page, chart, YELLOW), 0, `${chart}: no line for the failed method`);
    }
    // Another theme: the colours are read again when the body's theme class changes.
    await page.evaluate(() => {
      document.documentElement.style.setProperty('--vscode-charts-blue', '#ff00ff');
      document.body.className = 'vscode-high-contrast';
    });
    await untilTrue(async () => (await colourPixels(page, 'deletion', [255, 0, 255])) > 30, 'the new blue drawn');
    assert.equal(await colourPixels(page, 'deletion', BLUE), 0, 'the old blue is gone');
    await page.evaluate(() => {
      document.documentElement.style.removeProperty('--vscode-charts-blue');
      document.body.className = 'vscode-dark';
    });
    await untilTrue(async () => (await colourPixels(page, 'deletion', BLUE)) > 30, 'back to the dark theme\'s blue');
  });

  await t.test('sorting: a header sorts by its column (best first), again reverses; rows without a number last', async () => {
    const from = (await posted<Msg>(page)).length;
    await page.locator('button[data-sort="insertionAuc"]').click();
    // Insertion AUCs sent: saliency 0.412, SmoothGrad 0.726, Grad-CAM 0.583; Occlusion none.
    const desc: MethodName[] = ['smoothgrad', 'gradcam', 'saliency', 'occlusion'];
    await untilTrue(async () => (await lastTrust(page, from))?.sortedBy === 'insertionAuc:desc', 'sorted descending');
    assert.deepEqual((await lastTrust(page))!.rows.map((r) => r.method), desc);
    assert.deepEqual(await rowOrder(page), desc);
    assert.equal(await page.locator('th[data-scalar="insertionAuc"]').getAttribute('aria-sort'), 'descending');
    await page.locator('button[data-sort="insertionAuc"]').click();
    await untilTrue(async () => (await lastTrust(page))?.sortedBy === 'insertionAuc:asc', 'sorted ascending');
    assert.deepEqual(await rowOrder(page), ['saliency', 'gradcam', 'smoothgrad', 'occlusion']);
    assert.equal(await page.locator('th[data-scalar="insertionAuc"]').getAttribute('aria-sort'), 'ascending');
    // Deletion: lower is better, so the first click puts the lowest first.
    await page.locator('button[data-sort="deletionAuc"]').click();
    await untilTrue(async () => (await lastTrust(page))?.sortedBy === 'deletionAuc:asc', 'deletion, best first');
    assert.deepEqual(await rowOrder(page), ['smoothgrad', 'saliency', 'gradcam', 'occlusion']);
    assert.equal(await page.locator('th[data-scalar="insertionAuc"]').getAttribute('aria-sort'), 'none');
    // ROAD: the first row in registry order has none (its ROAD failed): it goes last, whichever the direction.
    await page.locator('button[data-sort="road"]').click();
    await untilTrue(async () => (await lastTrust(page))?.sortedBy === 'road:desc', 'ROAD, best first');
    assert.deepEqual(await rowOrder(page), ['smoothgrad', 'gradcam', 'saliency', 'occlusion']);
    await page.locator('button[data-sort="road"]').click();
    await untilTrue(async () => (await lastTrust(page))?.sortedBy === 'road:asc', 'ROAD reversed');
    assert.deepEqual(await rowOrder(page), ['gradcam', 'smoothgrad', 'saliency', 'occlusion']);
    await page.locator('button[data-sort="method"]').click();
    await untilTrue(async () => (await lastTrust(page))?.sortedBy === undefined, 'registry order again');
    assert.deepEqual(await rowOrder(page), SHOWN);
    assert.equal(await page.locator('th[data-scalar="method"]').getAttribute('aria-sort'), 'ascending');
  });

  await t.test('a clicked row is selected, its line drawn thicker, and the explain panel asked to show its map', async () => {
    const greenBefore = await colourPixels(page, 'deletion', GREEN);
    const blueBefore = await colourPixels(page, 'deletion', BLUE);
    const from = (await posted<Msg>(page)).length;
    await page.locator('[data-testid="trust-row"][data-method="gradcam"]').click();
    const sel = await waitForPosted<Msg>(page, from, (m) => m.type === 'selectMethod', 'selectMethod');
    assert.deepEqual(sel, { type: 'selectMethod', method: 'gradcam', options: mapRequests.get('gradcam')!.request.options!.gradcam, imagePath: SUBJECT.imagePath });
    await untilTrue(async () => (await lastTrust(page))?.selected === 'gradcam', 'gradcam selected');
    assert.equal(await page.locator('[data-testid="trust-row"][data-method="gradcam"]').getAttribute('aria-current'), 'true');
    assert.equal(await page.locator('[data-testid="trust-row"][aria-current="true"]').count(), 1);
    const greenAfter = await colourPixels(page, 'deletion', GREEN);
    assert.ok(greenAfter > greenBefore * 1.4, `the selected line is thicker: ${greenBefore} → ${greenAfter} pixels`);
    assert.ok(await colourPixels(page, 'deletion', BLUE) < blueBefore, 'the others thinner');
    // The keyboard: rows are focusable, Enter selects.
    const before = (await posted<Msg>(page)).length;
    await page.locator('[data-testid="trust-row"][data-method="smoothgrad"]').focus();
    await page.keyboard.press('Enter');
    const sel2 = await waitForPosted<Msg>(page, before, (m) => m.type === 'selectMethod', 'selectMethod by Enter');
    assert.deepEqual(sel2, { type: 'selectMethod', method: 'smoothgrad', options: { samples: 25, sigma: 0.15, seed: 0, signed: false }, imagePath: SUBJECT.imagePath });
    await untilTrue(async () => (await lastTrust(page))?.selected === 'smoothgrad', 'smoothgrad selected');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-method')), 'smoothgrad', 'the focus stays on the row');
  });

  await t.test('ticking Randomization asks only for it, and adds it to each row; the insensitive map is flagged', async () => {
    const from = (await posted<Msg>(page)).length;
    await page.locator('#measure-randomization').check();
    const asked = await answerAll(page, answered);
    assert.deepEqual(asked.map(what), SHOWN.map((m) => `measure ${m}`));
    for (const r of asked) {
      assert.ok(r.type === 'evaluate');
      assert.deepEqual(r.request.measures, ['randomization'], r.request.method);
      assert.equal(r.request.classIndex, 0);
      assert.equal(r.request.layer, CAMS.has(r.request.method) ? 'conv_last' : undefined);
    }
    await untilTrue(async () => (await lastTrust(page, from))?.rows.every((r) => r.values.randomization !== null || r.method === CONSTANT_AFTER_RANDOM) === true,
      'randomization numbers');
    const trust = (await lastTrust(page))!;
    // A measure that ran without a number: "n/a" with its note, the row measured (not "…" waiting forever).
    const constant = trust.rows.find((r) => r.method === CONSTANT_AFTER_RANDOM)!;
    assert.equal(constant.values.randomization, null);
    assert.equal(constant.status, 'measured');
    assert.equal(await cellText(page, CONSTANT_AFTER_RANDOM, 'randomization'), 'n/a');
    assert.equal(await cellTitle(page, CONSTANT_AFTER_RANDOM, 'randomization'),
      `${asSentence(RANDOMIZED_CONSTANT_NOTE)}Lower is better: Spearman |map| correlation with every layer random.`);
    assert.match(await page.getByTestId('trust-notes').innerText(), /Grad-CAM — After randomization: With every layer random the map is constant/);
    for (const m of SHOWN.filter((x) => x !== CONSTANT_AFTER_RANDOM)) {
      const row = trust.rows.find((r) => r.method === m)!;
      assert.equal(row.values.randomization, NUMBERS[m].randomization, m);
      assert.equal((await cellText(page, m, 'randomization')).split('\n')[0], NUMBERS[m].randomization.toFixed(3), m);
      if (m !== FAILING) assert.equal(row.values.deletionAuc, NUMBERS[m].deletion, `${m}: what was measured before stays`);
      assert.equal(row.insensitive, m === INSENSITIVE ? true : undefined, m);
    }
    assert.equal(await page.locator('[data-scalar="randomization"][data-insensitive="true"]').count(), 1);
    assert.equal(await page.locator(`[data-method="${INSENSITIVE}"] [data-testid="trust-insensitive"]`).textContent(), 'insensitive', 'flagged in the cell');
    assert.match(await page.getByTestId('trust-notes').innerText(), /Saliency: Insensitive to the model's weights/);
    assert.ok((await cellTitle(page, INSENSITIVE, 'randomization')).startsWith(asSentence(INSENSITIVE_NOTE)));
    // The failed row now has a number: its failed measures are marked per cell, with the sentence.
    assert.equal(await cellTitle(page, FAILING, 'deletionAuc'), `${FAILURE} Retry failed asks for it again.`);
    assert.deepEqual(trust.rows.find((r) => r.method === FAILING)!.errors, { curves: FAILURE, road: FAILURE, stability: FAILURE });
    assert.deepEqual((await page.evaluate(() => (window as unknown as { __getState(): { measures: string[] } }).__getState())).measures,
      ['curves', 'road', 'stability', 'randomization'], 'the measures are kept in the webview state');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await requests(page, from)).length, SHOWN.length, 'nothing more to ask');
  });

  await t.test('another class: measures again (each bringing its map), with its class; Cancel stops, Compute resumes', async () => {
    const from = (await posted<Msg>(page)).length;
    await send(page, { type: 'refresh', subject: { ...SUBJECT, classIndex: 1 } });
    const asked = [await answerNext(page, answered)];
    assert.deepEqual(asked.map(what), ['measure saliency'], 'no separate map request: the evaluation brings the map');
    await untilTrue(async () => (await page.locator('[data-testid="trust-row"][data-method="saliency"] [data-testid="trust-thumb"]').getAttribute('data-drawn')) === 'true',
      'the thumbnail drawn from the map the measures ran on');
    const inFlight = await nextOpen(page, answered);
    assert.equal(what(inFlight), 'measure smoothgrad');
    assert.ok(inFlight.type === 'evaluate');
    assert.equal(inFlight.request.classIndex, 1);
    assert.deepEqual(inFlight.request.measures, ['curves', 'road', 'stability', 'randomization']);
    await page.getByTestId('methods-cancel').click();
    const cancel = await waitForPosted<Msg>(page, from, (m) => m.type === 'cancel', 'cancel');
    assert.ok(cancel.type === 'cancel');
    assert.equal(cancel.requestId, inFlight.requestId);
    answered.add(inFlight.requestId);
    await send(page, { type: 'error', requestId: inFlight.requestId, message: 'Cancelled.' });
    await untilTrue(async () => (await lastTrust(page))?.rows.find((r) => r.method === 'smoothgrad')?.status === 'cancelled', 'smoothgrad cancelled');
    const trust = (await lastTrust(page))!;
    assert.deepEqual(trust.rows.map((r) => [r.method, r.status]), [['saliency', 'measured'], ['smoothgrad', 'cancelled'], ['gradcam', 'cancelled'], ['occlusion', 'cancelled']]);
    assert.equal(await cellText(page, 'gradcam', 'deletionAuc'), '–');
    assert.ok(await page.getByTestId('methods-compute').isVisible());
    assert.ok(await page.getByTestId('methods-cancel').isHidden());
    assert.match(await page.getByTestId('methods-status').innerText(), /1 of 4 methods measured, 3 cancelled/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await requests(page, from)).length, 2, 'nothing asked after Cancel');

    await page.getByTestId('methods-compute').click();
    const resumed = await answerAll(page, answered);
    // Occlusion's measures fail as a whole: no measure is left to ask, so its map is asked alone, for the thumbnail.
    assert.deepEqual(resumed.map(what), ['measure smoothgrad', 'measure gradcam', 'measure occlusion', 'map occlusion']);
    for (const r of resumed) {
      assert.equal(r.request.classIndex, 1);
      const m = r.type === 'explain' ? r.request.methods![0] : r.request.method;
      assert.equal(r.request.layer, CAMS.has(m) ? 'conv_last' : undefined);
    }
    await untilTrue(async () => (await lastTrust(page))?.rows.map((r) => r.status).join() === 'measured,measured,measured,error', 'all measured again');
  });

  await t.test('setTab from the host: the tab and the measures; the Maps tab still draws and selects', async () => {
    let from = (await posted<Msg>(page)).length;
    await send(page, { type: 'setTab', tab: 'maps' });
    const maps = await waitForPosted<Msg>(page, from, (m) => m.type === 'renderedTrust', 'renderedTrust on switching');
    assert.ok(maps.type === 'renderedTrust');
    assert.equal(maps.tab, 'maps');
    assert.ok(await page.getByTestId('methods-grid').isVisible());
    // The maps the class-1 measures ran on are the tiles: none is computed again.
    await untilTrue(async () => (await page.locator('[data-testid="method-tile"][data-drawn="true"]').count()) === SHOWN.length, 'tiles drawn');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await requests(page, from), [], 'the Maps tab asks for no map the measures brought');
    await page.locator('[data-testid="method-tile"][data-method="saliency"]').click();
    const sel = await waitForPosted<Msg>(page, from, (m) => m.type === 'selectMethod', 'selectMethod from a tile');
    assert.ok(sel.type === 'selectMethod');
    assert.equal(sel.method, 'saliency');

    from = (await posted<Msg>(page)).length;
    await send(page, { type: 'setTab', tab: 'trust', measures: ['stability'] });
    await waitForPosted<Msg>(page, from, (m) => m.type === 'renderedTrust' && m.tab === 'trust', 'back on Trust');
    const ticked = await page.locator('[data-testid="trust-measures"] input').evaluateAll((els) => els.filter((e) => (e as HTMLInputElement).checked).map((e) => e.getAttribute('data-measure')));
    assert.deepEqual(ticked, ['stability']);
    // Unticked measures are hidden, not forgotten: their cells say how to show them, and no curve is drawn.
    assert.equal(await cellText(page, 'saliency', 'deletionAuc'), '–');
    assert.equal(await cellTitle(page, 'saliency', 'deletionAuc'), 'Tick Deletion & insertion to measure it.');
    assert.deepEqual((await lastTrust(page))!.rows.find((r) => r.method === 'saliency')!.values,
      { deletionAuc: null, insertionAuc: null, road: null, stability: NUMBERS.saliency.stability, randomization: null });
    assert.equal(await cellText(page, 'saliency', 'stability'), NUMBERS.saliency.stability.toFixed(3), 'still known');
    assert.equal((await lastTrust(page))!.curves, 0, 'no curves when they are not ticked');
    assert.ok(await page.getByTestId('trust-curves-note').isVisible());
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await requests(page, from), [], 'stability is measured already');
    assert.equal((await page.evaluate(() => (window as unknown as { __getState(): { tab: string } }).__getState())).tab, 'trust');
    // Ticked again, the curves come back from the cache, drawn in charts that were hidden meanwhile.
    await page.locator('#measure-curves').check();
    await untilTrue(async () => (await lastTrust(page))?.curves === 3, 'the curves again');
    await untilTrue(async () => (await colourPixels(page, 'deletion', RED)) > 30, 'SmoothGrad\'s line drawn');
    assert.deepEqual(await requests(page, from), [], 'the curves were measured already');
  });

  await t.test('a subject change mid-request cancels the stale request and goes on with the new subject; a late answer is kept', async () => {
    const from = (await posted<Msg>(page)).length;
    const classOf = (r: Request) => r.request.classIndex;
    await send(page, { type: 'refresh', subject: { ...SUBJECT, classIndex: 2 } });
    const a = await nextOpen(page, answered);
    assert.deepEqual([what(a), classOf(a)], ['measure saliency', 2]);
    // Class 3 while class 2's first request runs: that one is cancelled, and class 3's queue starts now.
    await send(page, { type: 'refresh', subject: { ...SUBJECT, classIndex: 3 } });
    await waitForPosted<Msg>(page, from, (m) => m.type === 'cancel' && m.requestId === a.requestId, 'the stale request cancelled');
    answered.add(a.requestId);
    const b = await nextOpen(page, answered);
    assert.deepEqual([what(b), classOf(b)], ['measure saliency', 3]);
    await untilTrue(async () => (await lastTrust(page))?.rows.map((r) => r.status).join() === 'measuring,queued,queued,queued', 'class 3: its own request in flight, nothing cancelled');
    assert.equal(await page.getByTestId('methods-status').innerText(), 'Measuring 1 of 4: Saliency…');
    // Class 2's answer comes late: kept for class 2, no new request for it.
    await send(page, answer(a));
    // The host's answer for a panel that moved on is no failure: nothing is asked until the new subject comes.
    answered.add(b.requestId);
    await send(page, { type: 'error', requestId: b.requestId, message: 'The explain panel of photo.png has closed or changed.', stale: true });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await requests(page, from)).length, 2, 'nothing asked before the new subject');
    assert.equal((await lastTrust(page))!.rows.find((r) => r.method === 'saliency')!.status, 'queued', 'not recorded as a failure');
    await send(page, { type: 'subject', subject: { ...SUBJECT, classIndex: 2 }, settings: SETTINGS });
    const c = await nextOpen(page, answered);
    assert.deepEqual([what(c), classOf(c)], ['measure smoothgrad', 2], 'class 2\'s Saliency came from the late answer');
    const saliency = (await lastTrust(page))!.rows.find((r) => r.method === 'saliency')!;
    assert.equal(saliency.status, 'measured');
    assert.equal(saliency.values.stability, NUMBERS.saliency.stability);
    // Back to class 1, all measured: the request for class 2 is cancelled, nothing else asked, nothing failed.
    await send(page, { type: 'refresh', subject: { ...SUBJECT, classIndex: 1 } });
    await waitForPosted<Msg>(page, from, (m) => m.type === 'cancel' && m.requestId === c.requestId, 'class 2\'s request cancelled');
    answered.add(c.requestId);
    await send(page, { type: 'error', requestId: c.requestId, message: 'Cancelled.' });
    await untilTrue(async () => (await lastTrust(page))?.rows.map((r) => r.status).join() === 'measured,measured,measured,error', 'class 1 as it was');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await requests(page, from)).length, 3);
    assert.match(await page.getByTestId('methods-status').innerText(), /^3 of 4 methods measured, 1 failed\.$/);
  });

  await t.test('a tab switch mid-request: the Maps tab\'s queue goes on, the Trust tab asks the dropped measures again', async () => {
    const from = (await posted<Msg>(page)).length;
    // VarGrad's map first (on Maps), then its measures (on Trust): in flight while its map is cached.
    await page.getByRole('tab', { name: 'Maps' }).click();
    await page.locator('#method-vargrad').check();
    assert.equal(what(await answerNext(page, answered)), 'map vargrad');
    await page.getByRole('tab', { name: 'Trust' }).click();
    const a = await nextOpen(page, answered);
    assert.equal(what(a), 'measure vargrad');
    await page.locator('#method-ig').check();
    await page.getByRole('tab', { name: 'Maps' }).click();
    // The Maps tab has a map to ask: VarGrad's measures are dropped (not marked cancelled), Integrated Gradients' map asked now.
    await waitForPosted<Msg>(page, from, (m) => m.type === 'cancel' && m.requestId === a.requestId, 'the measures cancelled');
    answered.add(a.requestId);
    const b = await answerNext(page, answered);
    assert.equal(what(b), 'map ig');
    await untilTrue(async () => (await page.locator('[data-testid="method-tile"][data-method="ig"][data-drawn="true"]').count()) === 1, 'ig drawn');
    await send(page, { type: 'error', requestId: a.requestId, message: 'Cancelled.' });
    await page.getByRole('tab', { name: 'Trust' }).click();
    const rest = await answerAll(page, answered);
    assert.deepEqual(rest.map(what), ['measure vargrad', 'measure ig'], 'what was dropped is asked again');
    for (const r of rest) assert.deepEqual(r.type === 'evaluate' && r.request.measures, ['curves', 'stability']);
    await untilTrue(async () => (await lastTrust(page))?.rows.map((r) => r.status).join() === 'measured,measured,measured,measured,measured,error', 'all measured');
  });

  await t.test('Retry failed asks again for what failed as a whole, and the row is measured', async () => {
    const from = (await posted<Msg>(page)).length;
    failureCured = true;
    try {
      assert.ok(await page.getByTestId('methods-retry').isVisible());
      assert.match((await page.getByTestId('methods-retry').getAttribute('title'))!, /failed/);
      await page.getByTestId('methods-retry').click();
      const asked = await answerAll(page, answered);
      assert.deepEqual(asked.map(what), ['measure occlusion']);
      assert.deepEqual(asked[0].type === 'evaluate' && asked[0].request.measures, ['curves', 'stability']);
      await untilTrue(async () => (await lastTrust(page, from))?.rows.every((r) => r.status === 'measured') === true, 'all measured');
      assert.equal((await lastTrust(page))!.rows.find((r) => r.method === FAILING)!.values.stability, NUMBERS.occlusion.stability);
      assert.ok(await page.getByTestId('methods-retry').isHidden());
      assert.equal(await page.getByTestId('methods-status').innerText(), '6 of 6 methods measured.');
    } finally {
      failureCured = false;
    }
  });

  await t.test('past six methods the colours repeat with another mark: rows 1 and 7 differ in the swatch', async () => {
    await send(page, { type: 'setMethods', methods: ['saliency', 'gradxinput', 'smoothgrad', 'vargrad', 'ig', 'gradcam', 'occlusion'] });
    await answerAll(page, answered);
    await untilTrue(async () => (await lastTrust(page))?.rows.length === 7 && (await lastTrust(page))!.rows.every((r) => r.status === 'measured'), 'seven rows measured');
    const swatches = await page.locator('[data-testid="trust-swatch"]').evaluateAll((els) => els.map((e) => {
      const css = getComputedStyle(e);
      return { color: e.getAttribute('data-color'), mark: e.getAttribute('data-mark'), background: css.backgroundColor, radius: css.borderRadius, height: css.height };
    }));
    assert.deepEqual(swatches.map((x) => `${x.color}/${x.mark}`), ['0/line', '1/line', '2/line', '3/line', '4/line', '5/line', '0/circle']);
    assert.equal(swatches[6].background, swatches[0].background, 'the same colour');
    assert.notDeepEqual([swatches[6].radius, swatches[6].height], [swatches[0].radius, swatches[0].height], 'drawn differently');
    assert.equal((await lastTrust(page))!.curves, 7);
  });

  await t.test('no page errors, no CSP violations', async () => {
    const violations = await page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);
    assert.deepEqual(violations, []);
    assert.deepEqual(harness.errors, []);
  });

  await t.test('saved states: an old one (methods only) opens on Maps with the default measures; unknown values are dropped', async () => {
    const old = await harness.newPage('methods', { state: JSON.stringify({ methods: ['saliency', 'gradcam'] }) }, { width: 800, height: 800 });
    await waitForPosted<Msg>(old, 0, (m) => m.type === 'ready', 'ready');
    // No subject yet: the tabs are there but hidden until there is something to show.
    assert.equal(await old.getByTestId('methods-tab-maps').getAttribute('aria-selected'), 'true');
    const checked = (p: Page) => p.locator('[data-testid="trust-measures"] input').evaluateAll((els) => els.filter((e) => (e as HTMLInputElement).checked).map((e) => e.getAttribute('data-measure')));
    assert.deepEqual(await checked(old), ['curves', 'road', 'stability']);
    await old.close();
    const odd = await harness.newPage('methods', { state: JSON.stringify({ methods: ['saliency'], tab: 'trust', measures: ['randomization', 'bogus', 'road'], sort: { by: 'nope', dir: 'up' } }) },
      { width: 800, height: 800 });
    await waitForPosted<Msg>(odd, 0, (m) => m.type === 'ready', 'ready');
    assert.equal(await odd.getByTestId('methods-tab-trust').getAttribute('aria-selected'), 'true');
    assert.deepEqual(await checked(odd), ['road', 'randomization']);
    await odd.close();
  });

  await t.test('no measure ticked: only the map, for the thumbnail; a portrait image keeps its aspect', async () => {
    const portrait = new PNG({ width: 24, height: 48 });
    portrait.data.fill(200);
    const imageUri = `data:image/png;base64,${PNG.sync.write(portrait).toString('base64')}`;
    const tall = await harness.newPage('methods', { state: JSON.stringify({ methods: ['saliency'], tab: 'trust', measures: [] }) }, { width: 800, height: 800 });
    const own = new Set<number>();
    await waitForPosted<Msg>(tall, 0, (m) => m.type === 'ready', 'ready');
    await send(tall, { type: 'subject', subject: { ...SUBJECT, imageUri, imageVersion: 'portrait' }, settings: SETTINGS });
    const asked = await answerAll(tall, own);
    assert.deepEqual(asked.map(what), ['map saliency']);
    const stage = tall.locator('[data-testid="trust-row"][data-method="saliency"] [data-testid="trust-thumb"]');
    await untilTrue(async () => (await stage.getAttribute('data-drawn')) === 'true', 'thumbnail drawn');
    const boxes = await stage.evaluate((el) => [el, el.querySelector('img')!, el.querySelector('canvas')!].map((e) => {
      const r = e.getBoundingClientRect();
      return { w: Math.round(r.width), h: Math.round(r.height) };
    }));
    // 24 × 48 within 56 × 72: 36 × 72, the image and the map over it at the same size.
    assert.deepEqual(boxes, [{ w: 36, h: 72 }, { w: 36, h: 72 }, { w: 36, h: 72 }]);
    assert.equal((await lastTrust(tall))!.rows[0].status, 'drawn');
    await tall.close();
  });

  await t.test('at 320 px nothing runs past the view: the table scrolls in its own box, the charts stack', async () => {
    // In the light theme, where the dark one was used above.
    const narrow = await harness.newPage('methods', { state: JSON.stringify({ methods: SHOWN, tab: 'trust' }), theme: 'light' }, { width: 320, height: 900 });
    const own = new Set<number>();
    await waitForPosted<Msg>(narrow, 0, (m) => m.type === 'ready', 'ready');
    await send(narrow, { type: 'subject', subject: SUBJECT, settings: SETTINGS });
    await answerAll(narrow, own);
    await untilTrue(async () => ((await lastTrust(narrow))?.curves ?? 0) === 3, 'curves drawn');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await narrow.screenshot({ path: path.join(ARTIFACTS, 'trust-320.png'), fullPage: true });
    const layout = await narrow.evaluate(() => {
      const scroller = document.querySelector('[data-testid="trust-table-scroll"]')!;
      const outside = Array.from(document.querySelectorAll('.app *')).filter((e) => !scroller.contains(e) || e === scroller)
        .map((e) => ({ what: `${e.tagName.toLowerCase()}.${e.className}`, r: e.getBoundingClientRect() }))
        .filter((x) => x.r.width > 0 && x.r.right > window.innerWidth + 0.5).map((x) => `${x.what} ${x.r.right.toFixed(0)}`);
      const [del, ins] = ['deletion', 'insertion'].map((k) => document.querySelector(`[data-chart="${k}"]`)!.getBoundingClientRect());
      return {
        width: window.innerWidth, pageWidth: document.documentElement.scrollWidth, outside,
        scroller: { client: scroller.clientWidth, scroll: scroller.scrollWidth },
        stacked: ins.top >= del.bottom, chartWidth: del.width, chartHeight: del.height,
      };
    });
    assert.equal(layout.width, 320);
    assert.ok(layout.pageWidth <= 320, `the page is ${layout.pageWidth}px wide`);
    assert.deepEqual(layout.outside, [], 'elements past the right edge');
    assert.ok(layout.scroller.scroll > layout.scroller.client, 'the table is wider than 320 px');
    // It scrolls inside its box: scrolled to the end, its last column comes into the box.
    const scrolled = await narrow.evaluate(() => {
      const scroller = document.querySelector<HTMLElement>('[data-testid="trust-table-scroll"]')!;
      scroller.scrollLeft = scroller.scrollWidth;
      const last = document.querySelector('.trust-table th:last-child')!.getBoundingClientRect();
      return { left: scroller.scrollLeft, lastRight: last.right, boxRight: scroller.getBoundingClientRect().right };
    });
    assert.ok(scrolled.left > 0, 'the table scrolls sideways');
    assert.ok(scrolled.lastRight <= scrolled.boxRight + 0.5, `the last column is reachable: ${scrolled.lastRight} of ${scrolled.boxRight}`);
    assert.ok(layout.stacked, 'the charts stack');
    assert.ok(layout.chartWidth > 200 && layout.chartHeight > 200, `a chart is ${layout.chartWidth}×${layout.chartHeight}`);
    // Wide: side by side.
    await narrow.setViewportSize({ width: 1000, height: 900 });
    await untilTrue(async () => narrow.evaluate(() => {
      const [del, ins] = ['deletion', 'insertion'].map((k) => document.querySelector(`[data-chart="${k}"]`)!.getBoundingClientRect());
      return Math.abs(del.top - ins.top) < 1 && ins.left >= del.right;
    }), 'the charts side by side');
    await narrow.locator('[data-testid="trust-row"][data-method="smoothgrad"]').click();
    await narrow.screenshot({ path: path.join(ARTIFACTS, 'trust-1000.png'), fullPage: true });
    // The selected row's muted, error and warning texts take the selection's foreground (readable on its background).
    await untilTrue(async () => (await lastTrust(narrow))?.selected === 'smoothgrad', 'smoothgrad selected');
    const colours = await narrow.evaluate(() => {
      const row = document.querySelector('[data-testid="trust-row"][aria-current="true"]')!;
      const other = document.querySelector('[data-testid="trust-row"]:not([aria-current]) .trust-family')!;
      return {
        row: getComputedStyle(row).color, time: getComputedStyle(row.querySelector('.trust-time')!).color,
        family: getComputedStyle(row.querySelector('.trust-family')!).color, otherFamily: getComputedStyle(other).color,
      };
    });
    assert.deepEqual([colours.time, colours.family], [colours.row, colours.row], 'muted texts of the selected row');
    assert.notEqual(colours.otherFamily, colours.row, 'other rows keep the muted colour');
    assert.deepEqual(await narrow.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations), []);
    await narrow.close();
    assert.deepEqual(harness.errors, []);
  });
});
