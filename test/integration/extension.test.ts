// The integration suite (suite/extension.test.ts) inside code-server's real extension host, driven from
// node's test runner so that `npm test` runs it. Skips with the reason where code-server or chromium is
// missing, except on CI.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exampleWorkspace, REPO_ROOT, skipUnlessCodeServer } from './codeServer';
import { runExtensionTestsInCodeServer } from './runExtensionTests';

const skip = skipUnlessCodeServer();
const workspace = skip ? '' : exampleWorkspace();
after(() => workspace && fs.rmSync(workspace, { recursive: true, force: true }));

describe('extension inside the real VS Code (code-server 1.100.3)', { skip }, () => {
  it('passes its integration suite', async () => {
    const bundle = path.join(REPO_ROOT, 'dist-test', 'integration', 'index.js');
    assert.ok(fs.existsSync(bundle), 'npm test builds dist-test/ first');
    const results = await runExtensionTestsInCodeServer({
      extensionDevelopmentPath: REPO_ROOT,
      extensionTestsPath: bundle,
      workspace,
      timeoutMs: 240_000,
    });
    console.log(results.output);
    assert.equal(results.failed, 0, results.failures.join('\n\n'));
    assert.ok(results.passed >= 12, `ran ${results.passed} tests`);
  });
});
