import * as path from 'node:path';
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { registerWasmKernelFallbacks } from './runtimes/tfjs/wasmFallbacks';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  name: BackendName;
  threads: number;
  /** Why this backend and not a faster one, for logs and reports. */
  note: string;
}

export interface BackendOptions {
  /** Force a backend instead of picking the fastest that starts. */
  prefer?: BackendName;
  /** wasm worker threads; 0 or 1 means single-threaded. Default: SALIENCY_LENS_THREADS or 1. */
  threads?: number;
}

let current: BackendInfo | undefined;

/** Directory holding the tfjs-backend-wasm `.wasm` binaries: next to the bundle, else in node_modules. */
function wasmDir(): string | undefined {
  const besideBundle = path.join(__dirname, 'wasm');
  if (fs.existsSync(path.join(besideBundle, 'tfjs-backend-wasm-simd.wasm'))) return besideBundle + path.sep;
  try {
    const pkg = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
    return path.join(path.dirname(pkg), 'dist') + path.sep;
  } catch {
    return undefined;
  }
}

function tryTfjsNode(): boolean {
  try {
    // Optional native backend: present on machines where libtensorflow could be installed.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@tensorflow/tfjs-node');
    return tf.findBackend('tensorflow') != null;
  } catch {
    return false;
  }
}

async function tryWasm(threads: number): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dir = wasmDir();
    if (dir) wasm.setWasmPaths(dir);
    // tfjs turns wasm threads off under Node; they work when forced, so threads is opt-in.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threads > 1);
    if (threads > 1) wasm.setThreadsCount(threads);
    const ok = await tf.setBackend('wasm');
    if (!ok) return false;
    registerWasmKernelFallbacks();
    return true;
  } catch {
    return false;
  }
}

let starting: Promise<BackendInfo> | undefined;

/**
 * Picks and starts the fastest backend that works here; idempotent. Concurrent first calls (an engine whose first
 * requests open two models at once) share one start: two tf.setBackend runs at once leave tfjs half initialized
 * ("Backend 'cpu' has not yet been initialized", kernels reading a missing tensor map).
 */
export function initBackend(options: BackendOptions = {}): Promise<BackendInfo> {
  if (current) return Promise.resolve(current);
  starting ??= startBackend(options).finally(() => (starting = undefined));
  return starting;
}

async function startBackend(options: BackendOptions): Promise<BackendInfo> {
  const requestedThreads = options.threads ?? Number(process.env.SALIENCY_LENS_THREADS ?? 1);
  const prefer = options.prefer ?? (process.env.SALIENCY_LENS_BACKEND as BackendName | undefined);
  tf.env().set('PROD', true);
  if ((prefer === undefined || prefer === 'tensorflow') && tryTfjsNode() && (await tf.setBackend('tensorflow'))) {
    current = { name: 'tensorflow', threads: 0, note: 'native TensorFlow (@tensorflow/tfjs-node)' };
  } else if (prefer !== 'cpu' && (await tryWasm(requestedThreads))) {
    const threads = requestedThreads > 1 ? requestedThreads : 1;
    current = { name: 'wasm', threads, note: prefer === 'tensorflow' ? '@tensorflow/tfjs-node is not installed' : 'WebAssembly + SIMD (XNNPACK)' };
  } else {
    await tf.setBackend('cpu');
    current = { name: 'cpu', threads: 1, note: prefer === 'cpu' ? 'requested' : 'WebAssembly backend could not start' };
  }
  await tf.ready();
  return current;
}

export function backendInfo(): BackendInfo | undefined {
  return current;
}
