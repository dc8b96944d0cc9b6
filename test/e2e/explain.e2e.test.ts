// End to end in a real browser: code-server with the extension, driven by Playwright through Debian's
// chromium, as a user would: right-click a digit in the Explorer, "Explain Image", read the panel.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { chooseContextMenuItem, openWorkbench, rightClickExplorerItem, screenshot, waitForExplorer, webviewFrame } from '../integration/browser';
import { exampleWorkspace, installVsix, REPO_ROOT, skipUnlessCodeServer, startCodeServer } from '../integration/codeServer';

const skip = skipUnlessCodeServer();
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const made: string[] = [];
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** The host's timing lines from the Saliency Lens log of this code-server run. */
function hostTimings(userDataDir: string): string[] {
  const lines: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.includes('Saliency Lens')) lines.push(...fs.readFileSync(p, 'utf8').split('\n').filter((l) => l.includes('timing ')));
    }
  };
  if (fs.existsSync(path.join(userDataDir, 'logs'))) walk(path.join(userDataDir, 'logs'));
  return lines;
}

/** A fingerprint of the canvas pixels, and how many distinct colours it holds inside the image. */
async function canvasPixels(frame: Frame, testId: string): Promise<{ distinct: number; hash: number }> {
  return frame.evaluate((id) => {
    const canvas = document.querySelector<HTMLCanvasElement>(`[data-testid="${id}"]`);
    if (!canvas || canvas.width === 0) return { distinct: 0, hash: 0 };
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set<number>();
    let hash = 0;
    for (let i = 0; i < data.length; i += 4) {
      const c = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
      colours.add(c);
      hash = (hash * 31 + c) | 0;
    }
    return { distinct: colours.size, hash };
  }, testId);
}

/** Expands digits/, right-clicks the digit, runs Explain Image, and returns the panel's frame once a heatmap is drawn. */
async function explainDigit(page: Page, digit: string, expand = true): Promise<{ frame: Frame; ms: number }> {
  await waitForExplorer(page);
  if (expand) await page.locator('.explorer-folders-view .monaco-list-row[aria-label="digits"]').first().click();
  await rightClickExplorerItem(page, digit);
  const t0 = Date.now();
  await chooseContextMenuItem(page, 'Explain Image');
  const frame = await webviewFrame(page, `Explain: ${digit}`, 60_000);
  await frame.locator('[data-testid="class-chip"]').first().waitFor({ timeout: 60_000 });
  await waitForCanvas(frame, 'saliency-canvas', (p) => p.distinct > 20);
  return { frame, ms: Date.now() - t0 };
}

async function waitForCanvas(frame: Frame, id: string, ok: (p: { distinct: number; hash: number }) => boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last = { distinct: 0, hash: 0 };
  while (Date.now() < deadline) {
    last = await canvasPixels(frame, id);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`canvas ${id} never drawn as expected (last: ${JSON.stringify(last)})`);
}

describe('E2E: right-click a digit, Explain Image, pick another class', { skip }, () => {
  it('draws the heatmaps, switches class, and saves a screenshot', async () => {
    const workspace = exampleWorkspace();
    made.push(workspace);
    const server = await startCodeServer({ workspace, extensionDevelopmentPath: REPO_ROOT });
    const wb = await openWorkbench(server.url, workspace, { extensionDevelopmentPath: REPO_ROOT, viewport: { width: 1500, height: 950 } });
    try {
      const { frame, ms } = await explainDigit(wb.page, 'digit-7-29.png');
      const first = await canvasPixels(frame, 'saliency-canvas');
      const gradcam = await canvasPixels(frame, 'gradcam-canvas');
      assert.ok(first.distinct > 20, `saliency overlay has ${first.distinct} colours`);
      assert.ok(gradcam.distinct > 20, `Grad-CAM overlay has ${gradcam.distinct} colours`);
      const chips = frame.locator('[data-testid="class-chip"]');
      assert.equal(await chips.count(), 5, 'top-5 chips');
      assert.equal(await chips.first().getAttribute('data-class-index'), '7', 'the top prediction is 7');
      const t1 = Date.now();
      await chips.nth(1).click();
      const switched = await waitForCanvas(frame, 'saliency-canvas', (p) => p.hash !== first.hash);
      const switchMs = Date.now() - t1;
      assert.ok(switched.distinct > 20);
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await screenshot(wb.page, path.join(ARTIFACTS, 'e2e-explain-panel.png'));
      // Warm engine: another image with the same model.
      const warm = await explainDigit(wb.page, 'digit-2-5.png', false);
      console.log(`E2E timings (not asserted): Explain Image → first heatmap ${ms} ms (cold engine), ${warm.ms} ms (warm); ` +
        `class switch → new map ${switchMs} ms`);
      hostTimings(server.userDataDir).forEach((l) => console.log(`host log: ${l.replace(/^\S+ \S+ /, '')}`));
    } finally {
      await wb.close();
      await server.stop();
    }
  });

  it('the packaged .vsix installs into VS Code and explains the example with no further setup', async () => {
    const vsix = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-vsix-')), 'saliency-lens.vsix');
    made.push(path.dirname(vsix));
    execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--no-dependencies',
      '--allow-missing-repository', '--no-rewrite-relative-links', '--out', vsix], { cwd: REPO_ROOT, stdio: 'pipe' });
    const extensionsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-ext-'));
    made.push(extensionsDir);
    installVsix(vsix, extensionsDir);
    const workspace = exampleWorkspace();
    made.push(workspace);
    const server = await startCodeServer({ workspace, extensionsDir });
    const wb = await openWorkbench(server.url, workspace);
    try {
      const { frame } = await explainDigit(wb.page, 'digit-3-4.png');
      assert.equal(await frame.locator('[data-testid="class-chip"]').first().getAttribute('data-class-index'), '3');
    } finally {
      await wb.close();
      await server.stop();
    }
  });
});
