/**
 * A large image in the panel, in chromium: the host sends a small display copy plus the image's real size;
 * the header, the hover readout and (as before) the maps go by the real size, the picture is only drawn.
 *
 * Run: node esbuild.mjs && node --import tsx --test test/webview/bigImage.test.ts
 */
import assert from 'node:assert/strict';
import type { HostToWebview, WebviewToHost } from '../../src/shared/protocol';
import { posted, send, untilTrue, webviewTest, type Posted } from './harness';
import { explanationFor, IMG_H, IMG_W, initMsg } from './panelFixture';

// The fixture's 64×48 picture stands for the display copy of a 100× larger image.
const REAL_W = IMG_W * 100;
const REAL_H = IMG_H * 100;

webviewTest('a display copy is measured at the real image size', 'webview.js', { timeout: 60_000, viewport: { width: 1100, height: 760 } }, async (t, { page }) => {
  await send(page, { ...initMsg('saliency'), imageWidth: REAL_W, imageHeight: REAL_H } as HostToWebview);
  // Answer explains with the real size, as the engine does.
  const answered = new Set<number>();
  const answer = async () => {
    for (const m of await posted<WebviewToHost>(page) as Posted<WebviewToHost>[]) {
      if (m.type !== 'explain' || answered.has(m.requestId)) continue;
      answered.add(m.requestId);
      const reply = explanationFor(m) as Extract<HostToWebview, { type: 'explanation' }>;
      await send(page, { ...reply, result: { ...reply.result, imageWidth: REAL_W, imageHeight: REAL_H } });
    }
    return answered.size > 0;
  };
  await untilTrue(answer, 'an explain request');
  await untilTrue(async () => (await page.locator('.header-dim').count()) > 0, 'the header size');

  await t.test('the header names the real size, not the display copy\'s', async () => {
    assert.equal(((await page.locator('.header-dim').textContent()) ?? '').trim(), `${REAL_W}×${REAL_H}`);
  });

  await t.test('hover coordinates are real image pixels', async () => {
    const box = (await page.getByTestId('image').boundingBox())!;
    const u = 0.26;
    const v = 0.51;
    await page.mouse.move(box.x + box.width * u, box.y + box.height * v);
    const readout = page.getByTestId('hover-readout');
    await untilTrue(async () => (await readout.getAttribute('data-x')) !== null, 'a hover readout');
    const x = Number(await readout.getAttribute('data-x'));
    const y = Number(await readout.getAttribute('data-y'));
    // Within one screen pixel of the pointer, in real pixels (a display-copy coordinate would be ~100× smaller).
    assert.ok(Math.abs(x - u * REAL_W) <= REAL_W / box.width + 1, `x ${x}, expected about ${u * REAL_W}`);
    assert.ok(Math.abs(y - v * REAL_H) <= REAL_H / box.height + 1, `y ${y}, expected about ${v * REAL_H}`);
    assert.match((await readout.textContent()) ?? '', new RegExp(`x ${x}, y ${y} px`));
    await page.mouse.move(1, 1);
  });

  await t.test('an image changed on disk brings its new real size', async () => {
    await send(page, { type: 'invalidate', reason: 'The image changed on disk.', imageUri: (initMsg('saliency') as { imageUri: string }).imageUri, imageWidth: 3200, imageHeight: 2400 });
    await untilTrue(async () => ((await page.locator('.header-dim').textContent()) ?? '').trim() === '3200×2400', 'the new size in the header');
  });

  await t.test('without a real size the picture\'s own size stands', async () => {
    await send(page, { type: 'invalidate', reason: 'The image changed on disk.', imageUri: (initMsg('saliency') as { imageUri: string }).imageUri });
    await untilTrue(async () => ((await page.locator('.header-dim').textContent()) ?? '').trim() === `${IMG_W}×${IMG_H}`, 'the picture size in the header');
  });
});
