// Proves the real-VS-Code harness end to end with a fixture extension:
//   node --import tsx test/integration/harness.selftest.ts
// 1. a mocha suite inside code-server's extension host; 2. Playwright E2E: Explorer context menu + command palette.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT, skipUnlessCodeServer, startCodeServer } from './codeServer';
import { buildTestBundle, runExtensionTestsInCodeServer } from './runExtensionTests';
import { chooseContextMenuItem, openWorkbench, rightClickExplorerItem, runCommand, screenshot, waitForExplorer, webviewFrame } from './browser';

const FIXTURES = path.join(__dirname, 'fixtures');
const HELLO_EXT = path.join(FIXTURES, 'hello-extension');
const SCREENSHOT = path.join(REPO_ROOT, '.vscode-test', 'screenshots', 'explorer-context-menu.png');

async function main(): Promise<void> {
  if (skipUnlessCodeServer()) return;
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-ws-'));
  fs.writeFileSync(path.join(workspace, 'a.txt'), 'hello\n');
  const t = (start: number) => `${((Date.now() - start) / 1000).toFixed(1)}s`;
  const problems: string[] = [];

  // 1. mocha inside the extension host
  let start = Date.now();
  const [entry] = await buildTestBundle([path.join(FIXTURES, 'hello-suite', 'index.ts'), path.join(FIXTURES, 'hello-suite', 'hello.test.ts')]);
  const suite = await runExtensionTestsInCodeServer({ extensionDevelopmentPath: HELLO_EXT, extensionTestsPath: entry, workspace, timeoutMs: 90_000 });
  const suiteTime = t(start);
  console.log(suite.output.split('\n--- code-server log')[0]);
  if (suite.failed || suite.passed !== 4) problems.push(`extension-host suite: ${suite.passed} passed, ${suite.failed} failed\n${suite.output}`);

  // 2. E2E with Playwright
  start = Date.now();
  const server = await startCodeServer({ workspace, extensionDevelopmentPath: HELLO_EXT });
  const serverStart = t(start);
  const wb = await openWorkbench(server.url, workspace, { extensionDevelopmentPath: HELLO_EXT });
  try {
    const { page } = wb;
    await waitForExplorer(page);
    await rightClickExplorerItem(page, 'a.txt');
    await screenshot(page, SCREENSHOT);
    // A context-menu action with a visible effect: "Open to the Side" opens a.txt in an editor.
    await chooseContextMenuItem(page, 'Open to the Side');
    await page.locator('.tabs-container .tab', { hasText: 'a.txt' }).first().waitFor({ timeout: 15_000 });
    // The fixture command through the palette; its notification proves it ran.
    await runCommand(page, 'Hello Fixture: Say Hello');
    await page.locator('.notifications-toasts', { hasText: 'Hello from the fixture' }).waitFor({ timeout: 15_000 });
    // A webview's content, reached through its nested iframes.
    await runCommand(page, 'Hello Fixture: Show Webview');
    const frame = await webviewFrame(page, 'Hello Webview');
    const greeting = await frame.locator('#greeting').textContent();
    if (greeting !== 'Hello from the webview') throw new Error(`webview text: ${greeting}`);
    await screenshot(page, SCREENSHOT.replace(/\.png$/, '-webview.png'));
  } catch (err) {
    await screenshot(wb.page, SCREENSHOT.replace(/\.png$/, '-failure.png')).catch(() => undefined);
    problems.push(`E2E: ${(err as Error).stack}\n--- code-server log ---\n${server.logs()}`);
  } finally {
    await wb.close();
    await server.stop();
  }
  const e2eTime = t(start);
  fs.rmSync(workspace, { recursive: true, force: true });

  for (const p of problems) console.error(p);
  console.log(
    `harness selftest: ${problems.length ? 'FAIL' : 'OK'} — extension host ${suite.passed}/${suite.passed + suite.failed} passed in ${suiteTime}; ` +
      `E2E (code-server start ${serverStart}) ${problems.some((p) => p.startsWith('E2E')) ? 'failed' : 'passed'} in ${e2eTime}; screenshot ${path.relative(REPO_ROOT, SCREENSHOT)}`,
  );
  if (problems.length) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
