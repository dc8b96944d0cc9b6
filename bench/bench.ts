/**
 * `npm run bench`: medians of forward, Grad-CAM and saliency (each end to end: forward + backward +
 * map) for the bundled example CNN and ResNet-18 / MobileNetV2-shaped models at 224×224 with random
 * weights, per backend, with peak memory. Each backend runs in its own process (a backend is chosen
 * once per process). A benchmark, not a test: nothing here passes or fails on time.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend';
import { Explainer, MethodName } from '../src/engine/explain';
import { saveLayersModel } from '../src/engine/model/saveModel';
import { buildMobileNetV2, buildResNet18 } from '../test/fixtures/architectures';

interface Row {
  backend: string;
  threads: number;
  model: string;
  input: string;
  forwardMs: number;
  gradcamMs: number;
  saliencyMs: number;
  gradcamLayer: string;
  runs: number;
  peakRssMb: number;
  wasmHeapMb?: number;
}

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

let peakRss = 0;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));

async function timeMethod(explainer: Explainer, x: tf.Tensor, methods: MethodName[] | 'forward', runs: number): Promise<number> {
  const once = async () => {
    const t0 = performance.now();
    if (methods === 'forward') {
      const trace = await explainer.runtime.trace(x);
      trace.logits.dataSync();
      trace.dispose();
    } else {
      await explainer.explainTensor(x, { methods });
    }
    sampleRss();
    return performance.now() - t0;
  };
  await once(); // warm-up: kernel setup, flipped-kernel caches
  await once();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await once());
  return median(times);
}

async function benchModel(name: string, modelDir: string, runs: number, backend: { name: string; threads: number }): Promise<Row> {
  const explainer = await Explainer.open(modelDir);
  const x = tf.randomUniform([1, ...explainer.runtime.inputShape], 0, 1, 'float32', 42);
  const row: Row = {
    backend: backend.name,
    threads: backend.threads,
    model: name,
    input: explainer.runtime.inputShape.join('×'),
    forwardMs: await timeMethod(explainer, x, 'forward', runs),
    gradcamMs: await timeMethod(explainer, x, ['gradcam'], runs),
    saliencyMs: await timeMethod(explainer, x, ['saliency'], runs),
    gradcamLayer: explainer.runtime.defaultGradcamLayer() ?? '',
    runs,
    peakRssMb: Math.round(peakRss / 2 ** 20),
  };
  const wasmModule = (tf.backend() as unknown as { wasm?: { HEAP8?: Int8Array } }).wasm;
  if (wasmModule?.HEAP8) row.wasmHeapMb = Math.round(wasmModule.HEAP8.length / 2 ** 20);
  x.dispose();
  explainer.dispose();
  return row;
}

/** Child process: benchmark every model on the backend given by the environment. */
async function runOneBackend(): Promise<void> {
  const backend = await initBackend();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-bench-'));
  const rows: Row[] = [];
  const slow = backend.name === 'cpu';
  try {
    rows.push(await benchModel('example MNIST CNN', path.resolve('examples/mnist-cnn'), RUNS, backend));
    for (const [name, build] of [['ResNet-18', buildResNet18], ['MobileNetV2', buildMobileNetV2]] as const) {
      const dir = path.join(tmp, name);
      const model = build({ inputSize: 224, classes: 1000, seed: 1 });
      await saveLayersModel(model, dir);
      model.dispose();
      // The cpu backend takes seconds per pass at 224²: fewer runs keep the bench short.
      rows.push(await benchModel(name, dir, slow ? 5 : RUNS, backend));
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  process.stdout.write(`BENCH_JSON ${JSON.stringify(rows)}\n`);
}

function runChild(env: Record<string, string>): Row[] {
  const res = spawnSync(process.execPath, [__filename, '--child'], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = res.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) {
    console.error(`bench for ${JSON.stringify(env)} failed:\n${res.stderr.slice(-2000)}`);
    return [];
  }
  return JSON.parse(line.slice('BENCH_JSON '.length));
}

function main(): void {
  const configs = (process.env.BENCH_CONFIGS ?? 'wasm:1,cpu:1').split(',').map((c) => c.split(':'));
  const rows: Row[] = [];
  for (const [backend, threads] of configs) {
    console.log(`running ${backend} with ${threads} thread(s)…`);
    rows.push(...runChild({ SALIENCY_LENS_BACKEND: backend, SALIENCY_LENS_THREADS: threads }));
  }
  const header = ['backend', 'threads', 'model', 'input', 'forward ms', 'grad-cam ms', 'saliency ms', 'peak RSS MB', 'wasm heap MB', 'Grad-CAM layer'];
  const table = rows.map((r) => [r.backend, String(r.threads), r.model, r.input, r.forwardMs.toFixed(1), r.gradcamMs.toFixed(1),
    r.saliencyMs.toFixed(1), String(r.peakRssMb), String(r.wasmHeapMb ?? ''), r.gradcamLayer]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(`\nmedians of ${RUNS} runs after 2 warm-ups (cpu at 224²: 5 runs); ${os.cpus().length} cores, ${os.cpus()[0]?.model}`);
  console.log(fmt(header));
  table.forEach((t) => console.log(fmt(t)));
  fs.mkdirSync('bench-results', { recursive: true });
  const out = path.join('bench-results', 'bench.json');
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: os.cpus().length, rows }, null, 2));
  console.log(`\nwritten ${out}`);
}

if (process.argv.includes('--child')) {
  runOneBackend().then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main();
}
