/**
 * Looking closer, in chromium: Ctrl+wheel zooms the image and every map together about the pointer
 * (the image point under it stays under it, measured on the drawn boxes), a drag pans, a double click
 * fits again, and the view survives a reload from the saved state; the readout beside the pointer names
 * the pixel under it and the maps' known values there, also zoomed; keys 1–5 and [ ] pick classes from
 * the ranking but not while typing in the class search; a class outside the top 5 shows its probability.
 *
 * Run: node esbuild.mjs && node --import tsx --test test/webview/zoom.test.ts
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { WebviewToHost } from '../../src/shared/protocol';
import { posted, send, untilTrue, waitForPosted, webviewTest, type Posted } from './harness';
import { answerExplains, IMG_H, IMG_W, initMsg, mapValue, RANKED, TOP5 } from './panelFixture';

type Rect = { left: number; top: number; width: number; height: number };

/** Each pane's frame and, inside it, the drawn image and heatmap boxes (after CSS transforms). */
async function paneBoxes(page: Page): Promise<{ frame: Rect; image: Rect; canvas?: Rect }[]> {
  // No named functions inside: tsx would wrap them in a helper the page does not have.
  return page.locator('.pane-frame').evaluateAll((frames) => frames.map((f) => {
    const [frame, image, canvas] = [f, f.querySelector('img'), f.querySelector('canvas')]
      .map((e) => (e ? (({ left, top, width, height }) => ({ left, top, width, height }))(e.getBoundingClientRect()) : undefined));
    return { frame: frame!, image: image!, canvas };
  }));
}

/** Where client point (x, y) falls on the drawn image, as fractions of its width and height. */
function onImage(image: Rect, x: number, y: number): { u: number; v: number } {
  return { u: (x - image.left) / image.width, v: (y - image.top) / image.height };
}

async function ctrlWheel(page: Page, x: number, y: number, deltaY: number): Promise<void> {
  await page.mouse.move(x, y);
  // A synthetic wheel event as Chromium sends for Ctrl+wheel and for a trackpad pinch.
  await page.evaluate(({ x, y, deltaY }) => {
    const target = document.elementFromPoint(x, y)!;
    target.dispatchEvent(new WheelEvent('wheel', { clientX: x, clientY: y, deltaY, ctrlKey: true, bubbles: true, cancelable: true }));
  }, { x, y, deltaY });
}

async function savedState(page: Page): Promise<Record<string, unknown>> {
  return page.evaluate(() => (window as unknown as { __getState(): Record<string, unknown> }).__getState());
}

/** The readout beside the pointer: its text, or null when hidden. */
async function tipText(page: Page): Promise<string | null> {
  const tip = page.getByTestId('cursor-readout');
  return (await tip.isVisible()) ? (await tip.innerText()).replace(/\s+/g, ' ') : null;
}

async function openPanel(page: Page, answered: Set<number>): Promise<void> {
  await waitForPosted<WebviewToHost>(page, 0, (m) => m.type === 'ready', 'ready');
  await send(page, initMsg('side-by-side'));
  await waitForPosted<WebviewToHost>(page, 0, (m) => m.type === 'explain', 'explain');
  await answerExplains(page, answered);
  await page.waitForSelector('[data-testid="gradcam-canvas"]', { state: 'visible' });
  await untilTrue(async () => (await paneBoxes(page))[0].frame.width > 200, 'panes laid out');
}

webviewTest('explain panel: zoom, pan and the cursor readout', 'webview.js', { timeout: 90_000, viewport: { width: 1100, height: 760 } }, async (t, harness) => {
  const { page } = harness;
  const answered = new Set<number>();
  await openPanel(page, answered);
  let zoomed: { frame: Rect; image: Rect; canvas?: Rect }[] = [];

  await t.test('Ctrl+wheel zooms about the pointer, every pane alike', async () => {
    const [image] = await paneBoxes(page);
    const x = image.frame.left + image.frame.width * 0.3;
    const y = image.frame.top + image.frame.height * 0.6;
    const before = onImage(image.image, x, y);
    await ctrlWheel(page, x, y, -200);
    zoomed = await paneBoxes(page);
    const scale = zoomed[0].image.width / image.image.width;
    assert.ok(scale > 1.5, `zoomed in ${scale.toFixed(2)}x`);
    const after = onImage(zoomed[0].image, x, y);
    assert.ok(Math.abs(after.u - before.u) < 1e-3 && Math.abs(after.v - before.v) < 1e-3,
      `the point under the pointer moved from ${JSON.stringify(before)} to ${JSON.stringify(after)}`);
    // Every pane shows the same part: image and heatmaps at the same place relative to their frames.
    for (const p of zoomed) {
      for (const r of [p.image, p.canvas].filter((r): r is Rect => !!r)) {
        assert.ok(Math.abs(r.left - p.frame.left - (zoomed[0].image.left - zoomed[0].frame.left)) < 0.5, 'panes in step (x)');
        assert.ok(Math.abs(r.top - p.frame.top - (zoomed[0].image.top - zoomed[0].frame.top)) < 0.5, 'panes in step (y)');
        assert.ok(Math.abs(r.width - zoomed[0].image.width) < 0.5, 'panes at the same zoom');
      }
    }
    const zoom = (await savedState(page)).zoom as { scale: number };
    assert.ok(Math.abs(zoom.scale - scale) < 0.01, `state keeps the zoom (${zoom.scale} vs ${scale})`);
  });

  await t.test('the readout beside the pointer names the pixel under it and the maps\' values there, zoomed', async () => {
    const [p] = await paneBoxes(page);
    const x = p.frame.left + p.frame.width * 0.55;
    const y = p.frame.top + p.frame.height * 0.45;
    await page.mouse.move(x, y);
    const at = onImage(p.image, x, y);
    const px = Math.floor(at.u * IMG_W);
    const py = Math.floor(at.v * IMG_H);
    const text = await tipText(page);
    assert.ok(text, 'readout shown');
    assert.match(text, new RegExp(`x ${px}, y ${py} px`));
    assert.match(text, new RegExp(`Saliency ${mapValue('saliency', px, py)}\\b`));
    assert.match(text, new RegExp(`Grad-CAM ${mapValue('gradcam', px, py)}\\b`));
    // It sits beside the pointer.
    const tip = (await page.getByTestId('cursor-readout').boundingBox())!;
    assert.ok(Math.abs(tip.x - x) < 40 + tip.width && Math.abs(tip.y - y) < 40 + tip.height, 'readout near the pointer');
    // Over a map pane too, the same pixel of the image.
    const m = (await paneBoxes(page))[2];
    const mx = m.frame.left + (x - p.frame.left);
    const my = m.frame.top + (y - p.frame.top);
    await page.mouse.move(mx, my);
    assert.match((await tipText(page))!, new RegExp(`x ${px}, y ${py} px`));
    await page.mouse.move(2, 2);
    assert.equal(await tipText(page), null, 'hidden off the image');
  });

  await t.test('a drag pans all panes; the view stays inside the image', async () => {
    const [before] = await paneBoxes(page);
    const x = before.frame.left + before.frame.width / 2;
    const y = before.frame.top + before.frame.height / 2;
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x + 30, y + 10, { steps: 3 });
    await page.mouse.up();
    const after = await paneBoxes(page);
    assert.ok(Math.abs(after[0].image.left - before.image.left - 30) < 0.5, `moved ${after[0].image.left - before.image.left}px right`);
    assert.ok(Math.abs(after[0].image.top - before.image.top - 10) < 0.5, `moved ${after[0].image.top - before.image.top}px down`);
    assert.ok(Math.abs(after[2].canvas!.left - after[2].frame.left - (after[0].image.left - after[0].frame.left)) < 0.5, 'maps pan with the image');
    // A drag far past the edge stops with the image's corner at the frame's.
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x + 2000, y + 2000, { steps: 4 });
    await page.mouse.up();
    const [edge] = await paneBoxes(page);
    assert.ok(Math.abs(edge.image.left - edge.frame.left) < 0.5 && Math.abs(edge.image.top - edge.frame.top) < 0.5, 'clamped to the image');
  });

  let saved: Record<string, unknown> = {};
  await t.test('zoom and pan survive a reload from the saved state', async () => {
    await page.mouse.move(10, 10);
    const [p] = await paneBoxes(page);
    await ctrlWheel(page, p.frame.left + p.frame.width * 0.7, p.frame.top + p.frame.height * 0.3, 100); // out a little
    const [before] = await paneBoxes(page);
    saved = await savedState(page);
    assert.ok((saved.zoom as { scale: number }).scale > 1);
    const page2 = await harness.newPage('webview', { state: JSON.stringify(saved) }, { width: 1100, height: 760 });
    await openPanel(page2, new Set());
    const [after] = await paneBoxes(page2);
    for (const k of ['left', 'top', 'width', 'height'] as const) {
      const rel = (b: typeof before) => (k === 'left' || k === 'top' ? b.image[k] - b.frame[k] : b.image[k]);
      assert.ok(Math.abs(rel(after) - rel(before)) < 0.5, `restored ${k}: ${rel(after)} vs ${rel(before)}`);
    }
    await page2.close();
  });

  await t.test('a malformed saved zoom is dropped: the image shows fitted', async () => {
    const page3 = await harness.newPage('webview', { state: JSON.stringify({ ...saved, zoom: { scale: 1e9, cx: 'x', cy: 0.5 } }) }, { width: 1100, height: 760 });
    await openPanel(page3, new Set());
    const [p] = await paneBoxes(page3);
    assert.ok(Math.abs(p.image.width - p.frame.width) < 0.5 && Math.abs(p.image.left - p.frame.left) < 0.5, 'fitted');
    await page3.close();
  });

  await t.test('double click fits again; + and 0 on the focused stage zoom and fit, and so does the badge', async () => {
    const [p] = await paneBoxes(page);
    await page.mouse.dblclick(p.frame.left + 20, p.frame.top + 20);
    const [fit] = await paneBoxes(page);
    assert.ok(Math.abs(fit.image.width - fit.frame.width) < 0.5 && Math.abs(fit.image.left - fit.frame.left) < 0.5, 'fitted after double click');
    assert.equal((await savedState(page)).zoom && ((await savedState(page)).zoom as { scale: number }).scale, 1);
    await page.getByTestId('stage').focus();
    await page.keyboard.press('+');
    const [plus] = await paneBoxes(page);
    assert.ok(plus.image.width > fit.image.width * 1.2, 'the + key zooms in');
    // About the centre: the image's middle stays at the frame's middle.
    assert.ok(Math.abs(plus.image.left + plus.image.width / 2 - (plus.frame.left + plus.frame.width / 2)) < 0.5);
    assert.equal(await page.getByTestId('zoom-fit').innerText(), '1.5× · Fit', 'the badge says how far');
    await page.keyboard.press('0');
    const [zero] = await paneBoxes(page);
    assert.ok(Math.abs(zero.image.width - zero.frame.width) < 0.5, 'the 0 key fits');
    assert.ok(await page.getByTestId('zoom-fit').isHidden(), 'no badge when fitted');
    await page.getByTestId('stage').focus();
    await page.keyboard.press('+');
    await page.getByTestId('zoom-fit').click();
    const [badge] = await paneBoxes(page);
    assert.ok(Math.abs(badge.image.width - badge.frame.width) < 0.5, 'the badge fits');
  });
});

webviewTest('explain panel: class keys and any class\'s probability', 'webview.js', { timeout: 90_000, viewport: { width: 1100, height: 760 } }, async (t, harness) => {
  const { page } = harness;
  const answered = new Set<number>();
  await openPanel(page, answered);
  const selections = async (from: number) => (await posted<WebviewToHost>(page)).slice(from)
    .filter((m): m is Posted<Extract<WebviewToHost, { type: 'selection' }>> => m.type === 'selection');
  const selectedChip = async () => Number(await page.locator('[data-testid="class-chip"].selected').getAttribute('data-class-index'));

  /** Presses a key (focus on the page body) and waits for the selection it posts. */
  async function pressFor(key: string, classIndex: number): Promise<void> {
    const from = (await posted<WebviewToHost>(page)).length;
    await page.keyboard.press(key);
    await waitForPosted<WebviewToHost>(page, from, (m) => m.type === 'selection' && m.classIndex === classIndex, `selection of ${classIndex} after ${key}`);
    await answerExplains(page, answered);
    await untilTrue(async () => (await selectedChip()) === classIndex, `chip ${classIndex} selected`);
  }

  await t.test('keys 1–5 pick the top-5 chips', async () => {
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    for (const rank of [3, 0, 4, 1, 2]) await pressFor(String(rank + 1), TOP5[rank].index);
  });

  await t.test('] and [ move through the ranking, stopping at its ends', async () => {
    await pressFor('1', TOP5[0].index);
    await pressFor(']', TOP5[1].index);
    await pressFor(']', TOP5[2].index);
    await pressFor('[', TOP5[1].index);
    await pressFor('[', TOP5[0].index);
    const from = (await posted<WebviewToHost>(page)).length;
    await page.keyboard.press('[');
    await page.keyboard.press('5'); // a later key, so the check below does not race the first
    await waitForPosted<WebviewToHost>(page, from, (m) => m.type === 'selection', 'selection after 5');
    const picked = (await selections(from)).map((m) => m.classIndex);
    assert.deepEqual(picked, [TOP5[4].index], '[ at the top class does nothing');
    assert.match((await page.getByTestId('previous-class').getAttribute('title')) ?? '', /\[/);
    assert.match((await page.getByTestId('next-class').getAttribute('title')) ?? '', /\]/);
    assert.match((await page.locator('[data-testid="class-chip"]').nth(2).getAttribute('title')) ?? '', /key 3/);
  });

  await t.test('digits typed in the class search are text, not class keys', async () => {
    await pressFor('1', TOP5[0].index);
    const from = (await posted<WebviewToHost>(page)).length;
    const input = page.getByTestId('class-search').locator('input');
    await input.click();
    await page.keyboard.type('23');
    assert.equal(await input.inputValue(), '23');
    await page.keyboard.press('[');
    await page.keyboard.press(']');
    assert.equal(await input.inputValue(), '23[]');
    await page.keyboard.press('Escape');
    assert.deepEqual(await selections(from), [], 'no class picked while typing');
    assert.equal(await selectedChip(), TOP5[0].index);
  });

  await t.test('a class outside the top 5 shows its probability and logit', async () => {
    const outside = RANKED.find((p) => p.index === 11)!;
    assert.ok(!TOP5.some((p) => p.index === 11), 'class 11 is outside the top 5');
    const from = (await posted<WebviewToHost>(page)).length;
    const input = page.getByTestId('class-search').locator('input');
    await input.fill('golden');
    await page.keyboard.press('Enter');
    await waitForPosted<WebviewToHost>(page, from, (m) => m.type === 'explain' && m.request.classIndex === 11, 'explain for class 11');
    await answerExplains(page, answered);
    const chip = page.getByTestId('class-chip-picked');
    await untilTrue(async () => /%/.test((await chip.innerText().catch(() => '')) ?? ''), 'picked class chip with a probability');
    const text = (await chip.innerText()).replace(/\s+/g, ' ');
    assert.match(text, /golden retriever/);
    assert.ok(text.includes(`${(outside.probability * 100).toFixed(1)}%`), `"${text}" shows p = ${outside.probability}`);
    assert.ok(text.includes(`logit ${outside.logit.toFixed(2)}`), `"${text}" shows the logit ${outside.logit}`);
    assert.equal(await chip.getAttribute('aria-pressed'), 'true');
    assert.match((await chip.getAttribute('title')) ?? '', new RegExp(`p = ${outside.probability.toFixed(4)}`));
    // From there, ] goes to the top prediction; the picked chip goes away.
    await page.locator('body').click({ position: { x: 5, y: 5 } }); // out of the search field
    await pressFor(']', TOP5[0].index);
    assert.equal(await chip.count(), 0);
  });
});
