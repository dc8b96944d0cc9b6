/**
 * `npm run bench`: medians of forward, Grad-CAM and saliency (each end to end: forward + backward +
 * map) for the bundled example CNNs and ResNet-18 / MobileNetV2-shaped models at 224×224 with random
 * weights, per backend, with peak memory. Each backend runs in its own process (a backend is chosen
 * once per process). The ONNX path runs torchvision's models exported by PyTorch when Debian's
 * python3-torch is installed (else the same architectures built here), and PyTorch CPU itself on the
 * same models in the same run, with the ratio. A benchmark, not a test: nothing passes or fails on time.
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
import { writeBenchModels } from './onnxModels';

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
  /** The tfjs backend doing the small tensor work around ONNX Runtime. */
  tfBackend?: string;
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

const ONNX_MODELS = path.resolve('bench-results', 'onnx-models');
const ONNX_BENCH = [['ResNet-18', 'resnet18'], ['MobileNetV2', 'mobilenetv2']] as const;

/** A Python that has torch and torchvision (Debian's python3-torch lives in /usr/bin), if any. */
function torchPython(): string | undefined {
  for (const python of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(python, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
    if (probe.status === 0) return python;
  }
  return undefined;
}

/** The ONNX bench models: torchvision's, exported by PyTorch when it is here, else built by the project. */
function prepareOnnxModels(python: string | undefined): string {
  if (python) {
    const res = spawnSync(python, ['scripts/onnx/export_bench_models.py', ONNX_MODELS], { encoding: 'utf8' });
    if (res.status === 0) return 'torchvision, exported by PyTorch';
    console.error(`PyTorch export failed, building the models here instead:\n${res.stderr.slice(-1000)}`);
  }
  writeBenchModels(ONNX_MODELS);
  return 'built by the project (no python3-torch)';
}

/** Child process: the ONNX path on the example and the exported models. */
async function runOnnx(): Promise<void> {
  const backend = await initBackend();
  const rows: Row[] = [];
  const onnxBackend = { name: 'onnxruntime', threads: Math.min(os.availableParallelism(), 4) };
  rows.push(await benchModel('example MNIST CNN (ONNX)', path.resolve('examples/mnist-cnn-onnx/model.onnx'), RUNS, onnxBackend));
  for (const [name, file] of ONNX_BENCH) rows.push(await benchModel(name, path.join(ONNX_MODELS, `${file}.onnx`), RUNS, onnxBackend));
  rows.forEach((r) => (r.tfBackend = backend.name));
  process.stdout.write(`BENCH_JSON ${JSON.stringify(rows)}\n`);
}

/** PyTorch CPU on the same two models (scripts/onnx/torch_bench.py), as rows. */
function runTorch(python: string): Row[] {
  const res = spawnSync(python, ['scripts/onnx/torch_bench.py', '--runs', String(RUNS)], { encoding: 'utf8' });
  if (res.status !== 0) {
    console.error(`PyTorch bench failed:\n${res.stderr.slice(-1000)}`);
    return [];
  }
  const out = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Record<string, { forward: number; saliency: number; gradcam: number }> & { torch: string; threads: number };
  return ONNX_BENCH.map(([name, key]) => ({
    backend: `pytorch ${out.torch}`, threads: out.threads, model: name, input: '3×224×224', forwardMs: out[key].forward, gradcamMs: out[key].gradcam,
    saliencyMs: out[key].saliency, gradcamLayer: key === 'resnet18' ? 'layer4' : 'features', runs: RUNS, peakRssMb: 0,
  }));
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

function runChild(env: Record<string, string>, mode = '--child'): Row[] {
  const res = spawnSync(process.execPath, [__filename, mode], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = res.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) {
    console.error(`bench for ${JSON.stringify(env)} failed:\n${res.stderr.slice(-2000)}`);
    return [];
  }
  return JSON.parse(line.slice('BENCH_JSON '.length));
}

function main(): void {
  const configs = (process.env.BENCH_CONFIGS ?? 'onnx,wasm:1,cpu:1').split(',').map((c) => c.split(':'));
  const rows: Row[] = [];
  let onnxSource: string | undefined;
  let torchRows: Row[] = [];
  for (const [backend, threads] of configs) {
    if (backend === 'onnx') {
      const python = torchPython();
      onnxSource = prepareOnnxModels(python);
      console.log(`running ONNX Runtime on ${onnxSource}…`);
      rows.push(...runChild({}, '--onnx'));
      if (python) {
        console.log('running PyTorch CPU on the same models…');
        torchRows = runTorch(python);
        rows.push(...torchRows);
      } else {
        console.log('PyTorch not installed (apt install python3-torch python3-torchvision): no PyTorch comparison');
      }
      continue;
    }
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
  const ratios = torchRows.flatMap((t) => {
    const ours = rows.find((r) => r.backend === 'onnxruntime' && r.model === t.model);
    if (!ours) return [];
    return [{ model: t.model, forward: ours.forwardMs / t.forwardMs, gradcam: ours.gradcamMs / t.gradcamMs, saliency: ours.saliencyMs / t.saliencyMs }];
  });
  if (ratios.length) {
    console.log(`\nONNX Runtime ÷ PyTorch CPU, same models, same run (below 1 = faster than PyTorch; ONNX models: ${onnxSource})`);
    for (const r of ratios) {
      console.log(`${r.model.padEnd(12)} forward ${r.forward.toFixed(2)}  grad-cam ${r.gradcam.toFixed(2)}  saliency ${r.saliency.toFixed(2)}`);
    }
  }
  fs.mkdirSync('bench-results', { recursive: true });
  const out = path.join('bench-results', 'bench.json');
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: os.cpus().length, onnxModels: onnxSource, rows, ratios }, null, 2));
  console.log(`\nwritten ${out}`);
}

if (process.argv.includes('--onnx')) {
  runOnnx().then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
  });
} else if (process.argv.includes('--child')) {
  runOneBackend().then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main();
}
