/**
 * Layout at real widths, in chromium: the explain panel at 320, 490 and 1200 px wide has no header,
 * picker, method, control, pane or footer elements overlapping or running past the window (checked on
 * element boxes, not by eye; screenshots go to test-artifacts/), keeps the file name visible, and
 * stacks side-by-side panes that would be narrower than 240 px. The compare view's tiles grow with
 * the view and keep the image's aspect ratio.
 *
 * Run: node esbuild.mjs && node --import tsx --test test/webview/layout.test.ts
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import type { Page } from 'playwright-core';
import type { CompareToHost, ComparisonMsg, HostToCompare, ModelInfoMsg, PredictionMsg, WebviewToHost } from '../../src/shared/protocol';
import { float32ToBase64 } from '../../src/shared/protocol';
import { posted, ROOT, send, untilTrue, waitForPosted, webviewTest } from './harness';
import { answerExplains, IMAGE_NAME, initMsg } from './panelFixture';

const ARTIFACTS = path.join(ROOT, 'test-artifacts');

interface Box { what: string; left: number; top: number; right: number; bottom: number }

/**
 * The boxes of every visible element of the panel's rows, none inside another: header parts, action
 * buttons, class picker parts, method pickers' parts, toolbar fields, pane frames and footer parts.
 * Also the window's width and how far the app's content runs past its own width.
 */
async function panelBoxes(page: Page): Promise<{ boxes: Box[]; width: number; overflowX: number; title: { width: number; text: string; full: string } }> {
  return page.evaluate(() => {
    const selectors = [
      '.header-title', '.header-meta > *', '.busy:not(.idle)', '.header-actions > vscode-button', '.export-npy > vscode-button',
      '.class-picker > .field-label', '.step-button', '.chips > *', '.class-search-field > .field-label', '.class-search-input',
      '.method-slot .field-label', '.method-slot .method-picker', '.method-slot .method-shows', '.method-slot .option-field',
      '.toolbar > .segmented', '.toolbar > .field', '.pane-frame', '.pane-caption', '.footer > *',
    ];
    const boxes: { what: string; left: number; top: number; right: number; bottom: number }[] = [];
    const els: Element[] = [];
    for (const sel of selectors) {
      for (const el of Array.from(document.querySelectorAll(sel))) {
        const r = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        if (r.width <= 0 || r.height <= 0 || style.visibility === 'hidden' || (el as HTMLElement).closest('[hidden]')) continue;
        if (els.some((o) => o.contains(el) || el.contains(o))) throw new Error(`${sel} nests in another element checked`);
        els.push(el);
        const name = `${sel}${el.getAttribute('data-testid') ? `[${el.getAttribute('data-testid')}]` : ''} "${(el.textContent ?? '').trim().slice(0, 24)}"`;
        boxes.push({ what: name, left: r.left, top: r.top, right: r.right, bottom: r.bottom });
      }
    }
    const app = document.querySelector('.app') as HTMLElement;
    const title = document.querySelector('.header-title') as HTMLElement;
    return {
      boxes, width: window.innerWidth, overflowX: app.scrollWidth - app.clientWidth,
      title: { width: title.getBoundingClientRect().width, text: title.textContent ?? '', full: title.title },
    };
  });
}

function overlap(a: Box, b: Box): number {
  const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
  const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
  return w > 0.5 && h > 0.5 ? w * h : 0;
}

webviewTest('explain panel layout at 320, 490 and 1200 px', 'webview.js', { timeout: 120_000, viewport: { width: 1200, height: 800 } }, async (t, harness) => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const width of [320, 490, 1200]) {
    await t.test(`${width} px: nothing overlaps or runs past the window, the file name shows, panes are usable`, async () => {
      const page = await harness.newPage('webview', {}, { width, height: 800 });
      await waitForPosted<WebviewToHost>(page, 0, (m) => m.type === 'ready', 'ready');
      await send(page, initMsg('side-by-side'));
      await waitForPosted<WebviewToHost>(page, 0, (m) => m.type === 'explain', 'explain');
      await answerExplains(page, new Set());
      await page.waitForSelector('[data-testid="saliency-canvas"]', { state: 'visible' });
      await page.waitForSelector('[data-testid="gradcam-canvas"]', { state: 'visible' });
      // The busy text is a header element too: shown, it must find room like the rest.
      await send(page, { type: 'busy', message: 'Loading the model in the engine process…' });
      await page.waitForSelector('.busy:not(.idle)');
      // Layout settles after the image and the resize observer.
      await untilTrue(async () => (await page.locator('.pane-frame').first().boundingBox())!.width > 100, 'panes sized');
      await page.screenshot({ path: path.join(ARTIFACTS, `panel-${width}.png`) });

      const { boxes, width: inner, overflowX, title } = await panelBoxes(page);
      assert.equal(inner, width);
      assert.ok(boxes.length > 20, `found ${boxes.length} elements to check`);
      for (const b of boxes) {
        assert.ok(b.left >= -0.5 && b.right <= width + 0.5, `${b.what} runs past the window: ${b.left.toFixed(1)}..${b.right.toFixed(1)} of ${width}`);
      }
      assert.ok(overflowX <= 0, `the panel's content is ${overflowX}px wider than the panel`);
      const overlaps: string[] = [];
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) if (overlap(boxes[i], boxes[j]) > 0) overlaps.push(`${boxes[i].what} × ${boxes[j].what}`);
      }
      assert.deepEqual(overlaps, [], 'overlapping elements');

      // The file name: visible (ellipsis allowed), the full name in its title.
      assert.ok(title.width >= Math.min(120, width / 3), `file name shown ${title.width}px wide`);
      assert.ok(title.text.startsWith(IMAGE_NAME.slice(0, 8)));
      assert.equal(title.full, IMAGE_NAME);

      // Side by side: three panes, each at least 240 px wide or, stacked, as wide as the panel allows.
      const frames = await page.locator('.pane-frame').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON() as DOMRect));
      assert.equal(frames.length, 3);
      const stacked = frames[1].top >= frames[0].bottom;
      const appWidth = await page.locator('.app').evaluate((e) => e.clientWidth - 32);
      if (width >= 1200) assert.ok(!stacked, 'a wide panel keeps the panes in a row');
      else assert.ok(stacked, 'a narrow panel stacks the panes');
      for (const f of frames) assert.ok(f.width >= Math.min(240, appWidth - 1), `pane ${f.width.toFixed(0)}px wide at ${width}px`);
      await page.close();
    });
  }
});

// ---- compare view -------------------------------------------------------------------------------

const LABELS = ['cat', 'dog', 'fox', 'owl', 'bee'];
const COMPARE_MODEL: ModelInfoMsg = {
  path: '/w/animals/model.json', format: 'layers-model', numClasses: LABELS.length, labels: LABELS, outputActivation: 'softmax',
  inputShape: [24, 24, 3], preprocessing: 'unit (0..1) (default)',
  spatialLayers: [{ name: 'conv_last', type: 'Conv2D', height: 6, width: 6, channels: 8 }], defaultSpatialLayer: 'conv_last',
  backend: { name: 'wasm', threads: 1, note: 'test' }, warnings: [], layers: [], totalParams: 0, outputName: 'probs',
};
const PIC_W = 48;
const PIC_H = 36;

function comparePicture(): string {
  const png = new PNG({ width: PIC_W, height: PIC_H });
  for (let i = 0; i < PIC_W * PIC_H; i++) png.data.set([(i * 7) % 255, (i * 3) % 255, 120, 255], i * 4);
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

function comparison(req: Extract<CompareToHost, { type: 'compare' }>): HostToCompare {
  const ranked: PredictionMsg[] = LABELS.map((label, index) => ({ index, label, logit: 3 - index, probability: [0.5, 0.2, 0.15, 0.1, 0.05][index] }));
  const classes = req.request.classes ?? [0, 1, 2, 3];
  const map = (c: number) => {
    const data = new Float32Array(36).map((_, i) => ((i + c) % 7) / 7);
    return { method: req.request.method, width: 6, height: 6, data: float32ToBase64(data), min: 0, max: 6 / 7, layer: 'conv_last' };
  };
  const result: ComparisonMsg = {
    imagePath: '/w/photo.png', imageWidth: PIC_W, imageHeight: PIC_H, method: req.request.method,
    predictions: classes.map((c) => ranked[c]), ranked, maps: classes.map(map), layer: 'conv_last', timings: { forward: 1, backward: 1, total: 2 },
  };
  return { type: 'comparison', requestId: req.requestId, result };
}

webviewTest('compare tiles grow with the view', 'compare.js', { timeout: 60_000, viewport: { width: 490, height: 800 } }, async (t, harness) => {
  const sizes: Record<number, { w: number; h: number }> = {};
  for (const width of [490, 1200]) {
    await t.test(`${width} px: tiles drawn at the image's aspect ratio`, async () => {
      const page = await harness.newPage('compare', {}, { width, height: 800 });
      await waitForPosted<CompareToHost>(page, 0, (m) => m.type === 'ready', 'ready');
      await send(page, { type: 'subject', subject: { imageUri: comparePicture(), imageName: 'photo.png', imagePath: '/w/photo.png', model: COMPARE_MODEL, classIndex: 0 },
        settings: { colormap: 'jet', opacity: 0.6, defaultView: 'side-by-side' } });
      const req = await waitForPosted<CompareToHost>(page, 0, (m) => m.type === 'compare', 'compare');
      assert.ok(req.type === 'compare');
      await send(page, comparison(req));
      await untilTrue(async () => (await posted<CompareToHost>(page)).some((m) => m.type === 'rendered'), 'rendered');
      const stages = await page.locator('[data-testid="compare-tile"] .tile-stage').evaluateAll((els) => els.map((e) => {
        const r = e.getBoundingClientRect();
        const img = e.querySelector('img')!.getBoundingClientRect();
        return { w: r.width, h: r.height, imgW: img.width, imgH: img.height, right: r.right };
      }));
      assert.equal(stages.length, 4);
      for (const s of stages) {
        assert.ok(Math.abs(s.w / s.h - PIC_W / PIC_H) < 0.02, `tile ${s.w}x${s.h} keeps ${PIC_W}:${PIC_H}`);
        assert.ok(Math.abs(s.imgW - s.w) < 1 && Math.abs(s.imgH - s.h) < 1, 'the image fills its tile');
        assert.ok(s.right <= width, 'tile inside the view');
      }
      sizes[width] = stages[0];
      await page.screenshot({ path: path.join(ARTIFACTS, `compare-${width}.png`) });
      await page.close();
    });
  }
  await t.test('tiles are larger in the wide view', () => {
    assert.ok(sizes[1200].w > sizes[490].w * 1.15, `tile ${sizes[1200].w}px wide at 1200 vs ${sizes[490].w}px at 490`);
  });
});
