// Runs inside code-server's Node extension host (loaded through the workbench's extensionTestsPath). The harness
// cannot see this process's stdout, so results go to the JSON file named by SALIENCY_LENS_TEST_RESULTS.
import * as fs from 'node:fs';
import Mocha from 'mocha';

export const RESULTS_ENV = 'SALIENCY_LENS_TEST_RESULTS';

export interface TestResults {
  passed: number;
  failed: number;
  failures: string[];
  output: string;
}

export async function runMochaSuites(files: string[]): Promise<void> {
  const results: TestResults = { passed: 0, failed: 0, failures: [], output: '' };
  const lines: string[] = [];
  // Our own tiny reporter: the extension host's console goes to the browser devtools, not anywhere we can read.
  class Collector {
    constructor(runner: Mocha.Runner) {
      runner.on('pass', (t) => { results.passed++; lines.push(`  ✓ ${t.fullTitle()} (${t.duration ?? 0} ms)`); });
      runner.on('fail', (t, err: Error) => {
        results.failed++;
        const msg = `${t.fullTitle()}: ${err?.stack ?? String(err)}`;
        results.failures.push(msg);
        lines.push(`  ✗ ${msg}`);
      });
      runner.on('pending', (t) => lines.push(`  - ${t.fullTitle()} (pending)`));
    }
  }
  try {
    const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, color: false, reporter: Collector as unknown as Mocha.ReporterConstructor });
    for (const f of files) mocha.addFile(f);
    await new Promise<void>((resolve) => mocha.run(() => resolve()));
  } catch (err) {
    // A test file that fails to load must be a failure, not a silent timeout.
    results.failed++;
    results.failures.push(`loading tests: ${(err as Error)?.stack ?? String(err)}`);
  }
  results.output = [...lines, `${results.passed} passing, ${results.failed} failing`].join('\n');
  const out = process.env[RESULTS_ENV];
  if (out) {
    fs.writeFileSync(`${out}.tmp`, JSON.stringify(results, null, 2));
    fs.renameSync(`${out}.tmp`, out); // atomic: the poller never reads a half-written file
  } else {
    console.log(results.output);
  }
  if (results.failed) throw new Error(`${results.failed} test(s) failed`);
}
