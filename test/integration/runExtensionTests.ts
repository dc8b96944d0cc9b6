// Runs an extension's mocha suite inside the real extension host of code-server: the web equivalent of
// @vscode/test-electron's runTests. The workbench URL's `payload` parameter carries extensionDevelopmentPath and
// extensionTestsPath (as vscode-remote URIs, so the *server-side* Node extension host loads them); the test entry
// calls runMochaSuites (mochaInHost.ts), which writes the results to a file this harness polls.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCodeServer, workbenchUrl, REPO_ROOT } from './codeServer';
import { launchChromium } from './browser';
import { RESULTS_ENV, type TestResults } from './mochaInHost';

export interface ExtensionTestOptions {
  extensionDevelopmentPath: string;
  /** Compiled JS file exporting `run(): Promise<void>` (see buildTestBundle). */
  extensionTestsPath: string;
  workspace: string;
  timeoutMs?: number;
  extraArgs?: string[];
  env?: Record<string, string>;
  /** Extensions folder to run with, e.g. one filled by installVsix (default: a fresh empty one). */
  extensionsDir?: string;
}

export async function runExtensionTestsInCodeServer(opts: ExtensionTestOptions): Promise<TestResults> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const resultsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-results-')), 'results.json');
  const server = await startCodeServer({
    workspace: opts.workspace,
    extraArgs: opts.extraArgs,
    extensionsDir: opts.extensionsDir,
    env: { ...opts.env, [RESULTS_ENV]: resultsFile },
  });
  const browserLog: string[] = [];
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    // Extension-host console output is forwarded to the page console in development mode: keep it for diagnosis.
    page.on('console', (m) => browserLog.push(`[browser ${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => browserLog.push(`[browser pageerror] ${e.message}`));
    await page.goto(workbenchUrl(server.url, opts.workspace, opts), { waitUntil: 'domcontentloaded' });

    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (fs.existsSync(resultsFile)) {
        const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as TestResults;
        if (results.failed) results.output += `\n--- code-server log ---\n${server.logs()}\n--- browser console ---\n${browserLog.join('\n')}`;
        return results;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const why = `no test results after ${timeoutMs} ms (did the test entry call runMochaSuites?)`;
    return {
      passed: 0,
      failed: 1,
      failures: [why],
      output: `${why}\n--- code-server log ---\n${server.logs()}\n--- browser console ---\n${browserLog.join('\n')}`,
    };
  } finally {
    await browser.close().catch(() => undefined);
    await server.stop();
    fs.rmSync(path.dirname(resultsFile), { recursive: true, force: true });
  }
}

/**
 * Compiles TypeScript test files for the extension host with esbuild: one CommonJS file per entry, `vscode` and
 * `mocha` left external. The output folder lives inside the repository (.vscode-test/out by default) so that
 * `require('mocha')` resolves to the project's node_modules. Returns the output paths in entry order.
 */
export async function buildTestBundle(entries: string[], outDir = path.join(REPO_ROOT, '.vscode-test', 'out')): Promise<string[]> {
  const esbuild = await import('esbuild');
  fs.mkdirSync(outDir, { recursive: true });
  const outs: string[] = [];
  for (const entry of entries) {
    const out = path.join(outDir, path.basename(entry).replace(/\.[cm]?tsx?$/, '') + '.js');
    await esbuild.build({
      entryPoints: [entry],
      outfile: out,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: ['vscode', 'mocha'],
      sourcemap: 'inline',
      logLevel: 'warning',
    });
    outs.push(out);
  }
  return outs;
}
