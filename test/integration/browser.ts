// Playwright helpers for E2E tests against code-server, driving Debian's chromium (no browser download).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { CHROMIUM_PATH, workbenchUrl } from './codeServer';

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--no-first-run', '--disable-sync', '--disable-quic',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

export interface Workbench {
  browser: Browser;
  page: Page;
  close(): Promise<void>;
}

/**
 * Opens the workbench of a running code-server (its `url`) on `folder`, in a fresh headless browser; with
 * `extensionDevelopmentPath`, that folder is loaded as a development extension (like F5 in desktop VS Code).
 */
export async function openWorkbench(
  url: string,
  folder: string,
  opts: { extensionDevelopmentPath?: string; viewport?: { width: number; height: number } } = {},
): Promise<Workbench> {
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: opts.viewport ?? { width: 1400, height: 900 } });
  const dev = opts.extensionDevelopmentPath ? { extensionDevelopmentPath: opts.extensionDevelopmentPath } : undefined;
  await page.goto(workbenchUrl(url, folder, dev), { waitUntil: 'domcontentloaded' });
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  return { browser, page, close: () => browser.close() };
}

/** Waits until the Explorer shows the folder's tree (opening the Explorer view if another view is active). */
export async function waitForExplorer(page: Page, timeoutMs = 60_000): Promise<void> {
  const rows = page.locator('.explorer-folders-view .monaco-list-row');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await rows.first().isVisible().catch(() => false)) return;
    // Explorer not showing yet: the usual keybinding reveals it; harmless when it is already open.
    await page.keyboard.press('Control+Shift+E').catch(() => undefined);
    await page.waitForTimeout(500);
  }
  throw new Error('Explorer did not show the workspace tree');
}

/** Right-clicks an Explorer row by its label, retrying until a context menu appears (menus load a moment late). */
export async function rightClickExplorerItem(page: Page, name: string, timeoutMs = 30_000): Promise<void> {
  // Rows carry the file name as aria-label (the label's own text is split into highlight spans).
  const row = page.locator(`.explorer-folders-view .monaco-list-row[aria-label=${JSON.stringify(name)}]`);
  const menu = page.locator('.context-view .monaco-menu .action-item');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await row.first().isVisible().catch(() => false)) {
      await row.first().click({ button: 'right' }).catch(() => undefined);
      try {
        await menu.first().waitFor({ state: 'visible', timeout: 1500 });
        return;
      } catch {
        await page.keyboard.press('Escape'); // close any half-built menu before the next try
      }
    }
    await page.waitForTimeout(500);
  }
  throw new Error(`no context menu for Explorer item "${name}"`);
}

/** Picks a context-menu entry by label: hover, then Enter (a plain click did not always fire the action). */
export async function chooseContextMenuItem(page: Page, label: string | RegExp, timeoutMs = 10_000): Promise<void> {
  const item = page.locator('.context-view .monaco-menu .action-item a.action-menu-item', {
    has: page.locator('.action-label', { hasText: label }),
  }).first();
  await item.waitFor({ state: 'visible', timeout: timeoutMs });
  await item.hover();
  await page.keyboard.press('Enter');
}

/** Runs a command by its palette title through F1. */
export async function runCommand(page: Page, title: string, timeoutMs = 15_000): Promise<void> {
  const input = page.locator('.quick-input-widget input.input');
  await page.keyboard.press('F1');
  await input.waitFor({ state: 'visible', timeout: timeoutMs });
  await input.fill(`>${title}`);
  // The list filters asynchronously: wait for a row whose label is exactly the title, then run it.
  const row = page.locator('.quick-input-list .monaco-list-row', {
    has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${escapeRegExp(title)}\\s*$`) }),
  }).first();
  await row.waitFor({ state: 'visible', timeout: timeoutMs });
  await row.hover();
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: timeoutMs }).catch(() => undefined);
}

export async function screenshot(page: Page, file: string): Promise<string> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  await page.screenshot({ path: file });
  return path.resolve(file);
}

/**
 * The content frame of a visible webview. VS Code hosts each webview in an outer `iframe.webview` (its URL carries
 * `extensionId=`) whose document holds the real content in an inner `iframe#active-frame`. A string matches the
 * inner document's <title> or the extension id; a predicate gets each candidate inner frame.
 */
export async function webviewFrame(
  page: Page,
  titleOrPredicate: string | ((frame: Frame) => boolean | Promise<boolean>),
  timeoutMs = 30_000,
): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const outer of page.frames()) {
      if (!/\/webview\/|webview\/index\.html/.test(outer.url()) || outer.parentFrame() !== page.mainFrame()) continue;
      // Only the visible webview counts: hidden tabs keep their iframes around.
      const el = await outer.frameElement().catch(() => undefined);
      if (!el || !(await el.isVisible().catch(() => false))) continue;
      const inner = outer.childFrames().find((f) => f.name() === 'active-frame')
        ?? (await (await outer.$('iframe#active-frame').catch(() => null))?.contentFrame());
      if (!inner) continue;
      const ok = typeof titleOrPredicate === 'function'
        ? await titleOrPredicate(inner)
        : (await inner.title().catch(() => '')) === titleOrPredicate || outer.url().includes(`extensionId=${encodeURIComponent(titleOrPredicate)}`);
      if (ok) return inner;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no visible webview matching ${typeof titleOrPredicate === 'string' ? `"${titleOrPredicate}"` : 'predicate'}`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
