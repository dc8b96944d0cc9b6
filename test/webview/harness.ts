/**
 * Plumbing for the webview tests: serves the repository over loopback, opens test/webview/harness.html
 * (the webviews' CSP, a fake acquireVsCodeApi that records posted messages) in Debian's chromium, and
 * plays the host: sends messages, waits for posted ones.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';

export const ROOT = path.resolve(__dirname, '../..');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the test cannot run here, if it cannot: chromium or the bundle missing. */
export function skipReason(bundle: string): string | undefined {
  if (!fs.existsSync(CHROMIUM)) return `chromium not found at ${CHROMIUM}`;
  if (!fs.existsSync(path.join(ROOT, 'dist', bundle))) return `dist/${bundle} missing (run node esbuild.mjs)`;
  return undefined;
}

function serve(): Promise<http.Server> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const file = path.normalize(path.join(ROOT, decodeURIComponent(url.pathname)));
    if (!file.startsWith(ROOT + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export interface Harness {
  page: Page;
  /** Page errors and console errors seen so far, on every page. */
  errors: string[];
  /** Opens the harness page running dist/<script>.js, with query parameters (theme, state). */
  open(script: string, query?: Record<string, string>): Promise<void>;
  /** Another page (e.g. a reload with saved state), opened like `open`. */
  newPage(script: string, query: Record<string, string>, viewport: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

export async function launchHarness(viewport = { width: 1100, height: 760 }): Promise<Harness> {
  const { chromium } = await import('playwright-core');
  const server = await serve();
  const port = (server.address() as AddressInfo).port;
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--no-first-run', '--disable-sync', '--disable-quic', '--allow-file-access-from-files'],
    });
  } catch (err) {
    server.close();
    throw err;
  }
  const errors: string[] = [];
  const watched = async (size: { width: number; height: number }) => {
    const p = await browser!.newPage({ viewport: size });
    p.on('pageerror', (e) => errors.push(String(e)));
    p.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    return p;
  };
  const goto = (p: Page, script: string, query: Record<string, string>) =>
    p.goto(`http://127.0.0.1:${port}/test/webview/harness.html?${new URLSearchParams({ script, ...query })}`);
  const page = await watched(viewport);
  return {
    page,
    errors,
    open: async (script, query = {}) => {
      await goto(page, script, query);
    },
    newPage: async (script, query, size) => {
      const p = await watched(size);
      await goto(p, script, query);
      return p;
    },
    close: async () => {
      await browser?.close();
      server.close();
    },
  };
}

export type Posted<T> = T & Record<string, unknown>;

export async function posted<T>(page: Page): Promise<Posted<T>[]> {
  return page.evaluate(() => (window as unknown as { __posted: Posted<T>[] }).__posted);
}

export async function waitForPosted<T extends { type: string }>(page: Page, from: number, pred: (m: Posted<T>) => boolean, what: string,
  timeout = 5000): Promise<Posted<T>> {
  const end = Date.now() + timeout;
  for (;;) {
    const found = (await posted<T>(page)).slice(from).find(pred);
    if (found) return found;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; posted: ${JSON.stringify((await posted<T>(page)).map((m) => m.type))}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function send(page: Page, msg: unknown): Promise<void> {
  await page.evaluate((m) => window.postMessage(m, '*'), msg);
}

/** Polls a condition (page.waitForFunction would need eval, which the webviews' CSP forbids). */
export async function untilTrue(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * A chromium test of one webview bundle, with a harness opened on it and closed after. Where chromium
 * or the bundle is missing it is skipped with the reason printed, except under CI=true, where it fails.
 */
export function webviewTest(name: string, bundle: string, opts: { timeout: number; viewport: { width: number; height: number } },
  body: (t: TestContext, harness: Harness) => Promise<void>): void {
  const reason = skipReason(bundle);
  if (reason && process.env.CI !== 'true') {
    console.log(`# skipping ${name}: ${reason}`);
    test(name, { skip: reason }, () => {});
    return;
  }
  test(name, { timeout: opts.timeout }, async (t) => {
    if (reason) throw new Error(`cannot run in CI: ${reason}`);
    const harness = await launchHarness(opts.viewport);
    try {
      await harness.open(bundle.replace(/\.js$/, ''));
      await body(t, harness);
    } finally {
      await harness.close();
    }
  });
}

/**
 * The host's side of a webview that sends one request at a time: waits for the request not answered yet among
 * `pending()` (exactly one may be open), marks it answered, sends `answer(it)` and returns it.
 */
export async function nextOpenRequest<R extends { requestId: number }>(pending: () => Promise<R[]>, answered: Set<number>, what: string): Promise<R> {
  let open: R[] = [];
  await untilTrue(async () => (open = (await pending()).filter((m) => !answered.has(m.requestId))).length > 0, what);
  assert.equal(open.length, 1, 'one request at a time');
  return open[0];
}

export async function answerNextRequest<R extends { requestId: number }>(page: Page, pending: () => Promise<R[]>, answered: Set<number>,
  answer: (request: R) => unknown, what: string): Promise<R> {
  const req = await nextOpenRequest(pending, answered, what);
  answered.add(req.requestId);
  await send(page, answer(req));
  return req;
}
