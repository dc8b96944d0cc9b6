/**
 * A model exported by torch.onnx.export in the explain panel (a real Chromium; the harness plays the host): its
 * layers are offered and captioned by their PyTorch module path, as src/shared/layerNames.ts forms them
 * (independently written out here), while requests carry the full node names.
 *
 * Run: node esbuild.mjs && node --import tsx --test test/webview/layerNames.test.ts
 */
import assert from 'node:assert/strict';
import type { HostToWebview, ModelInfoMsg, RawMapMsg, WebviewToHost } from '../../src/shared/protocol';
import { float32ToBase64 } from '../../src/shared/protocol';
import { posted, send, untilTrue, waitForPosted, webviewTest } from './harness';
import { answerExplains, IMG_H, IMG_W, imageDataUrl, MODEL, RANKED, TOP5 } from './panelFixture';

const LAYERS = ['/layer4/layer4.1/conv2/Conv', '/layer4/layer4.1/Add', '/layer4/layer4.1/relu_1/Relu'];
/** What the picker shows for each: a module's output by its path, the block's Add by path and node. */
const SHOWN = ['layer4.1.conv2', 'layer4.1/Add', 'layer4.1.relu_1'];

const TORCH_MODEL: ModelInfoMsg = {
  ...MODEL,
  path: '/workspace/models/resnet/model.onnx',
  format: 'onnx',
  spatialLayers: LAYERS.map((name) => ({ name, type: name.split('/').at(-1)!, height: 8, width: 8, channels: 16 })),
  defaultSpatialLayer: LAYERS[2],
};

function mapFor(method: string, layer: string | undefined): RawMapMsg {
  const n = method === 'gradcam' ? 8 : 32;
  const data = Float32Array.from({ length: n * n }, (_, i) => i);
  return { method: method as RawMapMsg['method'], width: n, height: n, data: float32ToBase64(data), min: 0, max: n * n - 1, signed: false,
    layer: method === 'gradcam' ? layer ?? LAYERS[2] : undefined };
}

webviewTest('PyTorch module paths in the explain panel', 'webview.js', { timeout: 60_000, viewport: { width: 1100, height: 760 } }, async (t, harness) => {
  const { page } = harness;
  const answered = new Set<number>();
  const answer = () => answerExplains(page, answered, (m) => ({
    type: 'explanation', requestId: m.requestId,
    result: {
      imagePath: '/workspace/images/street.png', imageWidth: IMG_W, imageHeight: IMG_H, predictions: TOP5, target: RANKED[0],
      maps: (m.request.methods ?? ['saliency']).map((method) => mapFor(method, m.request.layer)), timings: { forward: 1 }, notes: [],
    },
  }));
  await waitForPosted<WebviewToHost>(page, 0, (m) => m.type === 'ready', 'ready');
  await send(page, { type: 'init', imageUri: imageDataUrl(), imageName: 'street.png', imagePath: '/workspace/images/street.png', model: TORCH_MODEL,
    settings: { colormap: 'jet', opacity: 0.5, defaultView: 'side-by-side' } } as HostToWebview);
  await waitForPosted<WebviewToHost>(page, 0, (m) => m.type === 'explain', 'explain');
  await answer();
  await page.waitForSelector('[data-testid="gradcam-canvas"]', { state: 'visible' });

  await t.test('the layer picker offers module paths, the automatic one marked; the values stay full names', async () => {
    const options = await page.getByTestId('layer-select').evaluate((el) =>
      Array.from(el.querySelectorAll('vscode-option'), (o) => [o.getAttribute('value'), (o.textContent ?? '').trim()]));
    assert.deepEqual(options, LAYERS.map((l, i) => [l, `${SHOWN[i]}${i === 2 ? ' (auto)' : ''}`]));
  });

  await t.test('the Grad-CAM caption names the layer as the picker does; a chosen layer is requested by its full name', async () => {
    await untilTrue(async () => /Grad-CAM · layer4\.1\.relu_1/.test((await page.locator('[data-pane="gradcam"] .pane-caption').textContent()) ?? ''), 'caption');
    const n = (await posted(page)).length;
    await page.getByTestId('layer-select').click();
    await page.getByTestId('layer-select').getByRole('option', { name: /^layer4\.1\/Add/ }).click();
    const explain = await waitForPosted<WebviewToHost>(page, n, (m) => m.type === 'explain', 'explain at the Add');
    assert.ok(explain.type === 'explain' && explain.request.layer === LAYERS[1]);
    await answer();
    await untilTrue(async () => /Grad-CAM · layer4\.1\/Add/.test((await page.locator('[data-pane="gradcam"] .pane-caption').textContent()) ?? ''), 'caption at the Add');
  });
});
