// Starts code-server (VS Code 1.100.3 for the web, installed by .ci/install-vscode-test-deps.sh) on 127.0.0.1 for
// integration tests. Every server gets its own temp user-data and extensions folders, so runs never share state.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CODE_SERVER_BIN = path.join(REPO_ROOT, '.vscode-test', 'code-server', 'node_modules', '.bin', 'code-server');
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const EXPECTED_VSCODE_VERSION = '1.100.3';

export interface CodeServerOptions {
  workspace: string;
  /**
   * Development extension to load. code-server has no such CLI flag: the browser passes it in the workbench URL's
   * payload, so this only feeds the returned `workbenchUrl()`.
   */
  extensionDevelopmentPath?: string;
  extraArgs?: string[];
  /** Extra environment for the server; the extension host it forks inherits it. */
  env?: Record<string, string>;
  /** Use this extensions folder instead of a fresh temp one (e.g. after installVsix). */
  extensionsDir?: string;
  startTimeoutMs?: number;
}

export interface CodeServer {
  url: string;
  port: number;
  /** Folders the server was given, useful for installing a VSIX or reading logs. */
  userDataDir: string;
  extensionsDir: string;
  /** Workbench URL for `folder` (default: the workspace), carrying extensionDevelopmentPath if one was given. */
  workbenchUrl(folder?: string): string;
  logs(): string;
  stop(): Promise<void>;
}

/** Why the real-VS-Code tests cannot run here, or undefined when they can. */
export function codeServerAvailable(): string | undefined {
  if (!fs.existsSync(CODE_SERVER_BIN)) return `code-server not installed (${CODE_SERVER_BIN}); run .ci/install-vscode-test-deps.sh`;
  if (!fs.existsSync(CHROMIUM_PATH)) return `chromium not found at ${CHROMIUM_PATH}; run .ci/install-vscode-test-deps.sh or set CHROMIUM_PATH`;
  return undefined;
}

/**
 * Skip helper: returns true when tests should be skipped (printing why). On CI (CI=true) a missing dependency is an
 * error instead, so a broken install can never pass as "skipped".
 */
export function skipUnlessCodeServer(): boolean {
  const reason = codeServerAvailable();
  if (!reason) return false;
  if (process.env.CI === 'true') throw new Error(`real VS Code tests cannot run on CI: ${reason}`);
  console.log(`SKIP real VS Code tests: ${reason}`);
  return true;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startCodeServer(opts: CodeServerOptions): Promise<CodeServer> {
  const reason = codeServerAvailable();
  if (reason) throw new Error(reason);
  const port = await freePort();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-cs-'));
  const userDataDir = path.join(tmp, 'user-data');
  const extensionsDir = opts.extensionsDir ?? path.join(tmp, 'extensions');
  fs.mkdirSync(userDataDir, { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });
  const config = path.join(tmp, 'config.yaml');
  fs.writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  // Quiet first-run UI that would otherwise steal focus from the Explorer in E2E tests.
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.writeFileSync(
    path.join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'security.workspace.trust.enabled': false,
      'telemetry.telemetryLevel': 'off',
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'chat.commandCenter.enabled': false,
    }),
  );

  const args = [
    '--config', config,
    '--user-data-dir', userDataDir,
    '--extensions-dir', extensionsDir,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
    ...(opts.extraArgs ?? []),
    opts.workspace,
  ];
  let log = '';
  const child: ChildProcess = spawn(CODE_SERVER_BIN, args, {
    // The extension gallery points at loopback: tests make no request beyond this machine.
    env: { ...process.env, EXTENSIONS_GALLERY: JSON.stringify({ serviceUrl: 'http://127.0.0.1:9/gallery', itemUrl: 'http://127.0.0.1:9/item' }), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group, so stop() also ends the extension host and other children
  });
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  let exited = false;
  const exitPromise = new Promise<void>((r) => child.on('exit', () => { exited = true; r(); }));

  const stop = async () => {
    if (!exited && child.pid) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
      const timedOut = await Promise.race([exitPromise.then(() => false), sleep(5000).then(() => true)]);
      if (timedOut) try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`code-server exited before answering:\n${log}`);
    }
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer /healthz within ${opts.startTimeoutMs ?? 30_000} ms:\n${log}`);
    }
    await sleep(100);
  }
  const dev = opts.extensionDevelopmentPath ? { extensionDevelopmentPath: opts.extensionDevelopmentPath } : undefined;
  return {
    url, port, userDataDir, extensionsDir, stop,
    workbenchUrl: (folder = opts.workspace) => workbenchUrl(url, folder, dev),
    logs: () => log,
  };
}

/** Workbench URL that opens `folder` and, optionally, loads a development extension and its tests. */
export function workbenchUrl(
  serverUrl: string,
  folder: string,
  dev?: { extensionDevelopmentPath: string; extensionTestsPath?: string },
): string {
  const authority = new URL(serverUrl).host; // 127.0.0.1:PORT: the remote authority the web workbench uses
  const remote = (p: string) => `vscode-remote://${authority}${path.resolve(p)}`;
  let url = `${serverUrl}/?folder=${encodeURIComponent(path.resolve(folder))}`;
  if (dev) {
    const payload: [string, string][] = [['extensionDevelopmentPath', remote(dev.extensionDevelopmentPath)]];
    if (dev.extensionTestsPath) payload.push(['extensionTestsPath', remote(dev.extensionTestsPath)]);
    url += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  }
  return url;
}

/** Installs a packaged .vsix into an extensions folder (pass that folder as `extensionsDir` to startCodeServer). */
export function installVsix(vsixPath: string, extensionsDir: string): string {
  const reason = codeServerAvailable();
  if (reason) throw new Error(reason);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-cs-install-'));
  try {
    const r = spawnSync(
      CODE_SERVER_BIN,
      ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--install-extension', path.resolve(vsixPath), '--force'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    if (r.status !== 0) throw new Error(`code-server --install-extension failed (${r.status ?? r.signal}):\n${out}`);
    return out;
  } finally {
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

/** A copy of examples/ to open as the workspace: tests change workspace settings, never the repository's. */
export function exampleWorkspace(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-ws-'));
  fs.cpSync(path.join(REPO_ROOT, 'examples'), dir, { recursive: true });
  return dir;
}
