/**
 * The panel's exports in a real Chromium (the harness plays the host): "Export PNG with legend" is the overlay as
 * exported plainly, with a strip under it — black text on white whatever the theme (the harness runs the dark
 * one) and the colour bar drawn in the colormap's own colours, in order.
 *
 * Run: node esbuild.mjs && node --import tsx --test test/webview/export.test.ts
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import type { Page } from 'playwright-core';
import { colormapLut } from '../../src/shared/colormaps';
import type { HostToWebview, ModelInfoMsg, PredictionMsg, RawMapMsg, WebviewToHost } from '../../src/shared/protocol';
import { float32ToBase64 } from '../../src/shared/protocol';
import { posted, ROOT, send, waitForPosted, webviewTest } from './harness';
import { answerExplains } from './panelFixture';

const ARTIFACTS = path.join(ROOT, 'test-artifacts');

const IMG_W = 64;
const IMG_H = 48;
const INPUT = 32;
const LABELS = ['cat', 'dog', 'tabby cat'];

const MODEL: ModelInfoMsg = {
  path: '/workspace/models/tiny/model.onnx',
  format: 'onnx',
  numClasses: LABELS.length,
  labels: LABELS,
  outputActivation: 'softmax',
  inputShape: [1, INPUT, INPUT, 3],
  preprocessing: 'scale-0-1',
  spatialLayers: [{ name: 'conv', type: 'Conv', height: 8, width: 8, channels: 4 }],
  defaultSpatialLayer: 'conv',
  backend: { name: 'onnxruntime', threads: 1, note: 'test' },
  warnings: [],
  layers: [{ name: 'conv', type: 'Conv', outputShape: [8, 8, 4], params: 112 }],
  totalParams: 112,
  outputName: 'logits',
} as ModelInfoMsg;

const PREDS: PredictionMsg[] = [
  { index: 2, label: 'tabby cat', logit: 3, probability: 0.84 },
  { index: 0, label: 'cat', logit: 1.2, probability: 0.14 },
  { index: 1, label: 'dog', logit: -1, probability: 0.02 },
];

/** A smooth ramp with a peak: an unsigned map with a wide range of values. */
function saliencyMap(): RawMapMsg {
  const data = new Float32Array(INPUT * INPUT);
  for (let y = 0; y < INPUT; y++) for (let x = 0; x < INPUT; x++) data[y * INPUT + x] = Math.exp(-((x - 20) ** 2 + (y - 12) ** 2) / 60) + x / 200;
  let min = Infinity;
  let max = -Infinity;
  for (const v of data) [min, max] = [Math.min(min, v), Math.max(max, v)];
  return { method: 'saliency', width: INPUT, height: INPUT, data: float32ToBase64(data), min, max, signed: false };
}

function imageDataUrl(): string {
  const png = new PNG({ width: IMG_W, height: IMG_H });
  for (let i = 0; i < IMG_W * IMG_H; i++) png.data.set([90 + (i % IMG_W), 140, 200 - Math.floor(i / IMG_W), 255], 4 * i);
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

async function answerSaliency(page: Page, answered: Set<number>): Promise<void> {
  await answerExplains(page, answered, (m) => ({
    type: 'explanation', requestId: m.requestId,
    result: {
      imagePath: '/workspace/images/street.png', imageWidth: IMG_W, imageHeight: IMG_H, predictions: PREDS, target: PREDS[0],
      maps: (m.request.methods ?? ['saliency']).filter((x) => x === 'saliency').map(() => saliencyMap()), timings: { forward: 1, saliency: 2 }, notes: [],
    },
  }));
}

async function exported(page: Page, testid: string): Promise<{ png: PNG; name: string }> {
  const n = (await posted(page)).length;
  await page.getByTestId(testid).click();
  const msg = await waitForPosted<WebviewToHost>(page, n, (m) => m.type === 'exportPng', `exportPng from ${testid}`);
  assert.ok(msg.type === 'exportPng');
  return { png: PNG.sync.read(Buffer.from(msg.dataUrl.split(',')[1], 'base64')), name: msg.suggestedName };
}

const px = (png: PNG, x: number, y: number) => [...png.data.subarray(4 * (y * png.width + x), 4 * (y * png.width + x) + 3)];

webviewTest('export with legend in chromium', 'webview.js', { timeout: 60_000, viewport: { width: 1100, height: 760 } }, async (t, harness) => {
  const { page } = harness;
  const answered = new Set<number>();
  await waitForPosted<WebviewToHost>(page, 0, (m) => m.type === 'ready', 'ready');
  await send(page, { type: 'init', imageUri: imageDataUrl(), imageName: 'street.png', imagePath: '/workspace/images/street.png', model: MODEL,
    settings: { colormap: 'jet', opacity: 0.5, defaultView: 'saliency' } } as HostToWebview);
  await waitForPosted<WebviewToHost>(page, 0, (m) => m.type === 'explain', 'explain');
  await answerSaliency(page, answered);
  await page.waitForSelector('[data-testid="colorbar"] .colorbar-row');

  const plain = await exported(page, 'export-png');
  const { png, name } = await exported(page, 'export-png-legend');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(path.join(ARTIFACTS, 'webview-export-legend.png'), PNG.sync.write(png));

  await t.test('the overlay as the plain export, with a legend strip under it, named as a legend export', () => {
    assert.equal(name, 'street.saliency.legend.png');
    assert.deepEqual([plain.png.width, plain.png.height], [IMG_W, IMG_H]);
    assert.ok(png.width >= IMG_W);
    assert.ok(png.height > IMG_H + 40, `taller than the overlay by a strip: ${png.height} px for a ${IMG_H} px overlay`);
    // The overlay sits centred above the strip, pixel for pixel the plain export.
    const left = Math.floor((png.width - IMG_W) / 2);
    for (let y = 0; y < IMG_H; y += 7) {
      for (let x = 0; x < IMG_W; x += 5) assert.deepEqual(px(png, left + x, y), px(plain.png, x, y), `overlay pixel ${x},${y}`);
    }
  });

  await t.test('the strip is white with dark text, whatever the theme', () => {
    let white = 0;
    let dark = 0;
    for (let y = IMG_H; y < png.height; y++) {
      for (let x = 0; x < png.width; x++) {
        const [r, g, b] = px(png, x, y);
        if (r === 255 && g === 255 && b === 255) white++;
        if (r < 90 && g < 90 && b < 90) dark++;
      }
    }
    const total = png.width * (png.height - IMG_H);
    assert.ok(white > total / 2, `mostly white: ${white}/${total}`);
    // Image name, class line, method line and the two range ends: hundreds of text pixels.
    assert.ok(dark > 300, `text pixels in the strip: ${dark}`);
    // Text above the bar: the first text line (the image name) starts near the top of the strip.
    let firstDarkRow = -1;
    for (let y = IMG_H; y < png.height && firstDarkRow < 0; y++) {
      for (let x = 0; x < png.width; x++) if (px(png, x, y).every((c) => c < 90)) { firstDarkRow = y; break; }
    }
    assert.ok(firstDarkRow > IMG_H && firstDarkRow < IMG_H + 40, `first text row ${firstDarkRow}`);
  });

  await t.test('the colour bar is the colormap\'s table, low to high, left to right', () => {
    const lut = colormapLut('jet');
    const index = new Map<number, number>();
    for (let i = 255; i >= 0; i--) index.set((lut[3 * i] << 16) | (lut[3 * i + 1] << 8) | lut[3 * i + 2], i);
    // The row with the longest run of pixels that are exactly colormap entries is the bar.
    let best: number[] = [];
    for (let y = IMG_H; y < png.height; y++) {
      let run: number[] = [];
      for (let x = 0; x < png.width; x++) {
        const [r, g, b] = px(png, x, y);
        const k = index.get((r << 16) | (g << 8) | b);
        if (k === undefined) run = [];
        else run.push(k);
        if (run.length > best.length) best = [...run];
      }
    }
    assert.ok(best.length >= 200, `a bar of ${best.length} px`);
    assert.ok(best[0] <= 2 && best.at(-1)! >= 253, `from entry ${best[0]} to ${best.at(-1)}`);
    for (let i = 1; i < best.length; i++) assert.ok(best[i] >= best[i - 1], `entry ${best[i]} after ${best[i - 1]} at ${i}`);
    assert.ok(new Set(best).size >= 200, `${new Set(best).size} distinct entries`);
  });

  await t.test('nothing went wrong in the page', () => {
    assert.deepEqual(harness.errors, []);
  });
});
