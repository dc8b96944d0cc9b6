/**
 * `npm run bench`: medians of forward, Grad-CAM and saliency (each end to end: forward + backward +
 * map) for the bundled example CNNs and ResNet-18 / MobileNetV2-shaped models at 224×224 with random
 * weights, per backend, with peak memory; on ONNX Runtime also ViT-B/16 and ConvNeXt-T (issue 13). Each
 * backend runs in its own process (a backend is chosen once per process). The ONNX path runs torchvision's models exported by PyTorch when Debian's
 * python3-torch is installed (else the same architectures built here), and PyTorch CPU itself on the
 * same models in the same run, with the ratio. The same ResNet-18 / MobileNetV2 shapes built with tfjs
 * (test/fixtures/architectures.ts) are also benched as TF.js models, once as a Layers model and once as
 * a GraphModel in the TF.js converter's fused form: on ONNX Runtime (converted at load time, runtime
 * 'onnx', in the ONNX process) and on tfjs (runtime 'tfjs', in each tfjs backend's process). They are
 * written once per run into a temp dir that every process reads (BENCH_TF_MODELS).
 * A benchmark, not a test: nothing passes or fails on time.
 *
 * Environment: BENCH_RUNS (timed runs, default 7), BENCH_CONFIGS (default onnx,wasm:1,cpu:1; `onnx` is
 * ONNX Runtime + PyTorch, `wasm:N` / `cpu:N` a tfjs backend with N threads), BENCH_TF (0 leaves the TF.js
 * Layers/Graph rows out), BENCH_GRAPH_RUNS (timed runs for tfjs GraphModels, default 3),
 * BENCH_SLOW_BUDGET_MS (a tfjs GraphModel method whose first pass takes longer is not repeated, default 20000),
 * BENCH_METHODS (0 leaves out SmoothGrad-25, IG-32 and Score-CAM on ResNet-18 and their PyTorch peers),
 * BENCH_MODELS (the torchvision models on ONNX Runtime and PyTorch, default resnet18,mobilenetv2,vit_b_16,convnext_tiny),
 * BENCH_LARGE_RUNS (timed runs for ViT-B/16 and ConvNeXt-T, default min(BENCH_RUNS, 5): ~0.2–0.6 s per pass).
 * Only ViT-B/16 and ConvNeXt-T, with PyTorch:
 *   BENCH_CONFIGS=onnx BENCH_TF=0 BENCH_METHODS=0 BENCH_OPEN=0 BENCH_MODELS=vit_b_16,convnext_tiny npm run bench
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend';
import { Explainer, MethodName, OpenOptions } from '../src/engine/explain';
import { saveLayersModel } from '../src/engine/model/saveModel';
import { buildMobileNetV2, buildResNet18 } from '../test/fixtures/architectures';
import { saveAsGraphModel } from '../test/fixtures/graphModelWriter';
import { writeBenchModels } from './onnxModels';
import { measureOpen, OpenRow, runOpenBench } from './openBench';
import { benchMethods, METHOD_BENCH, MethodRow } from './methodsBench';

interface Row {
  backend: string;
  /** What ran the model: 'onnxruntime (.onnx)', 'onnxruntime (converted)', 'tfjs wasm', 'tfjs cpu', 'pytorch'. */
  runtime: string;
  threads: number;
  model: string;
  /** The architecture, for the ratio to PyTorch ('ResNet-18', 'MobileNetV2'), when it is one of those. */
  arch?: string;
  /** 'onnx', 'tfjs layers', 'tfjs graph (fused)', 'torchvision'. */
  format?: string;
  input: string;
  forwardMs: number;
  gradcamMs: number;
  saliencyMs: number;
  gradcamLayer: string;
  runs: number;
  /** Runs per method when they differ from `runs`, e.g. { saliency: 1 }. */
  methodRuns?: Partial<Record<'forward' | 'gradcam' | 'saliency', number>>;
  /** Methods skipped or cut short, and why. */
  notes?: string[];
  /** The tfjs tensors left after the explainer was disposed (0 = nothing leaked). */
  tensorsLeft?: number;
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

interface Timing {
  ms: number;
  runs: number;
  /** Set when the method was not repeated: its first (cold) pass exceeded the budget. */
  overBudget?: boolean;
}

async function timeMethod(explainer: Explainer, x: tf.Tensor, methods: MethodName[] | 'forward', runs: number, opts: { warmups?: number; budgetMs?: number } = {}): Promise<Timing> {
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
  const warmups = opts.warmups ?? 2;
  // warm-up: kernel setup, flipped-kernel caches, ORT sessions
  for (let i = 0; i < warmups; i++) {
    const t = await once();
    if (i === 0 && opts.budgetMs !== undefined && t > opts.budgetMs) return { ms: t, runs: 1, overBudget: true };
  }
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await once());
  return { ms: median(times), runs };
}

interface BenchSpec {
  name: string;
  path: string;
  runs: number;
  runtime: string;
  arch?: string;
  format?: string;
  load?: OpenOptions;
  /** Fewer warm-ups and a time budget per method (tfjs GraphModels: seconds per saliency map). */
  slow?: { warmups: number; budgetMs: number };
}

async function benchModel(spec: BenchSpec, backend: { name: string; threads: number }): Promise<Row> {
  const tensorsBefore = tf.memory().numTensors;
  const explainer = await Explainer.open(spec.path, spec.load);
  const runtimeKind = explainer.runtime.kind;
  const converted = explainer.model.conversion;
  // The model must have run where the row says: a TF.js model that fell back to tfjs is not an ONNX row.
  if (spec.load?.runtime === 'onnx' && runtimeKind !== 'onnx') throw new Error(`${spec.name} did not run on ONNX Runtime: ${converted?.reason}`);
  if (spec.load?.runtime === 'tfjs' && runtimeKind === 'onnx') throw new Error(`${spec.name} ran on ONNX Runtime, not tfjs`);
  const x = tf.randomUniform([1, ...explainer.runtime.inputShape], 0, 1, 'float32', 42);
  const methodOpts = spec.slow ? { warmups: spec.slow.warmups, budgetMs: spec.slow.budgetMs } : {};
  const notes: string[] = [];
  const methodRuns: Row['methodRuns'] = {};
  const timed: Partial<Record<'forward' | 'gradcam' | 'saliency', number>> = {};
  for (const [key, methods] of [['forward', 'forward'], ['gradcam', ['gradcam']], ['saliency', ['saliency']]] as const) {
    const t = await timeMethod(explainer, x, methods as MethodName[] | 'forward', spec.runs, methodOpts);
    timed[key] = t.ms;
    if (t.runs !== spec.runs) methodRuns[key] = t.runs;
    if (t.overBudget) notes.push(`${key}: first (cold) pass ${(t.ms / 1000).toFixed(1)} s > budget ${(spec.slow!.budgetMs / 1000).toFixed(0)} s, not repeated`);
  }
  const row: Row = {
    backend: backend.name,
    runtime: spec.runtime,
    threads: runtimeKind === 'onnx' ? (explainer.runtime as unknown as { threads: number }).threads : backend.threads,
    model: spec.name,
    arch: spec.arch,
    format: spec.format,
    input: explainer.runtime.inputShape.join('×'),
    forwardMs: timed.forward!,
    gradcamMs: timed.gradcam!,
    saliencyMs: timed.saliency!,
    gradcamLayer: explainer.runtime.defaultSpatialLayer() ?? '',
    runs: spec.runs,
    peakRssMb: Math.round(peakRss / 2 ** 20),
  };
  if (Object.keys(methodRuns).length) row.methodRuns = methodRuns;
  if (spec.slow && spec.slow.warmups !== 2) notes.push(`${spec.slow.warmups} warm-up(s)`);
  if (notes.length) row.notes = notes;
  const wasmModule = (tf.backend() as unknown as { wasm?: { HEAP8?: Int8Array } }).wasm;
  if (wasmModule?.HEAP8) row.wasmHeapMb = Math.round(wasmModule.HEAP8.length / 2 ** 20);
  x.dispose();
  explainer.dispose();
  row.tensorsLeft = tf.memory().numTensors - tensorsBefore;
  (globalThis as { gc?: () => void }).gc?.();
  return row;
}

const ONNX_MODELS = path.resolve('bench-results', 'onnx-models');
/** The torchvision models run on ONNX Runtime and PyTorch: name, key (file / torch_bench.py), PyTorch's Grad-CAM module, large. */
const ALL_ONNX_BENCH = [
  { name: 'ResNet-18', key: 'resnet18', torchLayer: 'layer4', large: false },
  { name: 'MobileNetV2', key: 'mobilenetv2', torchLayer: 'features', large: false },
  { name: 'ViT-B/16', key: 'vit_b_16', torchLayer: 'encoder_layer_11.ln_1', large: true },
  { name: 'ConvNeXt-T', key: 'convnext_tiny', torchLayer: 'features', large: true },
] as const;
const ONNX_BENCH = selectedModels(process.env.BENCH_MODELS);
/** Timed runs for the large models: each pass takes a few hundred ms on 2 cores. */
const LARGE_RUNS = Number(process.env.BENCH_LARGE_RUNS ?? Math.min(RUNS, 5));
const WITH_RESNET = ONNX_BENCH.some((m) => m.key === 'resnet18');

function selectedModels(list: string | undefined): (typeof ALL_ONNX_BENCH)[number][] {
  if (!list) return [...ALL_ONNX_BENCH];
  const keys = list.split(',').map((k) => k.trim()).filter(Boolean);
  const unknown = keys.filter((k) => !ALL_ONNX_BENCH.some((m) => m.key === k));
  if (unknown.length) throw new Error(`BENCH_MODELS: unknown model(s) ${unknown.join(', ')}; known: ${ALL_ONNX_BENCH.map((m) => m.key).join(', ')}`);
  return ALL_ONNX_BENCH.filter((m) => keys.includes(m.key));
}
const TF_ARCHS = [['ResNet-18', 'resnet18', buildResNet18], ['MobileNetV2', 'mobilenetv2', buildMobileNetV2]] as const;
const TF_FORMATS = [
  { key: 'layers', label: 'TF.js Layers', format: 'tfjs layers' },
  { key: 'graph', label: 'TF.js Graph', format: 'tfjs graph (fused)' },
] as const;
/** BENCH_METHODS=0 leaves out the multi-pass methods (SmoothGrad, IG, Score-CAM) and their PyTorch peers. */
const WITH_METHODS = process.env.BENCH_METHODS !== '0';
const GRAPH_RUNS = Number(process.env.BENCH_GRAPH_RUNS ?? 3);
const SLOW_BUDGET_MS = Number(process.env.BENCH_SLOW_BUDGET_MS ?? 20000);
/** Where the TF.js models of this run are (written once by the parent's --build-tf child). */
const TF_MODELS = process.env.BENCH_TF_MODELS;

/** The TF.js bench models of this run: each architecture as a Layers model and as a fused GraphModel. */
function tfSpecs(): { name: string; arch: string; key: string; format: (typeof TF_FORMATS)[number]; dir: string }[] {
  if (!TF_MODELS) return [];
  return TF_ARCHS.flatMap(([arch, key]) => TF_FORMATS.map((format) => ({
    name: `${arch} (${format.label})`, arch, key, format, dir: path.join(TF_MODELS, `${key}-${format.key}`),
  })));
}

/** Child process: builds ResNet-18 and MobileNetV2 (224², 1000 classes, seed 1) and writes each as a Layers model and a fused GraphModel. */
async function buildTfModels(dir: string): Promise<void> {
  await initBackend();
  for (const [, key, build] of TF_ARCHS) {
    const model = build({ inputSize: 224, classes: 1000, seed: 1 });
    await saveLayersModel(model, path.join(dir, `${key}-layers`));
    // As `tensorflowjs_converter --output_format=tfjs_graph_model` writes it: _FusedConv2D, FusedDepthwiseConv2dNative, _FusedMatMul.
    await saveAsGraphModel(model, path.join(dir, `${key}-graph`), { fused: true });
    model.dispose();
  }
}

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
    const res = spawnSync(python, ['scripts/onnx/export_bench_models.py', ONNX_MODELS, ...ONNX_BENCH.map((m) => m.key)], { encoding: 'utf8' });
    if (res.status === 0) return 'torchvision, exported by PyTorch';
    console.error(`PyTorch export failed, building the models here instead:\n${res.stderr.slice(-1000)}`);
  }
  writeBenchModels(ONNX_MODELS);
  return 'built by the project (no python3-torch)';
}

/** Child process: the ONNX path on the example, the exported models and the TF.js models converted at load time. */
async function runOnnx(onnxFormat: string): Promise<void> {
  const backend = await initBackend();
  const rows: Row[] = [];
  const onnxBackend = { name: 'onnxruntime', threads: Math.min(os.availableParallelism(), 4) };
  const runtime = 'onnxruntime (.onnx)';
  rows.push(await benchModel({ name: 'example MNIST CNN (ONNX)', path: path.resolve('examples/mnist-cnn-onnx/model.onnx'), runs: RUNS, runtime, format: 'onnx' }, onnxBackend));
  for (const { name, key, large } of ONNX_BENCH) {
    const file = path.join(ONNX_MODELS, `${key}.onnx`);
    // Without PyTorch the project builds only ResNet-18 and MobileNetV2 (onnxModels.ts).
    if (!fs.existsSync(file)) continue;
    rows.push(await benchModel({ name: `${name} (ONNX)`, arch: name, path: file, runs: large ? LARGE_RUNS : RUNS, runtime, format: onnxFormat }, onnxBackend));
  }
  for (const m of tfSpecs()) {
    rows.push(await benchModel({ name: m.name, arch: m.arch, path: m.dir, runs: RUNS, runtime: 'onnxruntime (converted)', format: m.format.format, load: { runtime: 'onnx' } }, onnxBackend));
  }
  rows.forEach((r) => (r.tfBackend = backend.name));
  process.stdout.write(`BENCH_JSON ${JSON.stringify(rows)}\n`);
  if (WITH_METHODS && WITH_RESNET) {
    const methodRows = await benchMethods(path.join(ONNX_MODELS, 'resnet18.onnx'), 'ResNet-18 (ONNX)', RUNS);
    process.stdout.write(`BENCH_METHODS_JSON ${JSON.stringify(methodRows)}\n`);
  }
}

/** PyTorch CPU on the same models (scripts/onnx/torch_bench.py) with ONNX Runtime's thread count, as rows. */
function runTorch(python: string, threads: number): { rows: Row[]; methods: MethodRow[]; blas?: string } {
  const res = spawnSync(python, ['scripts/onnx/torch_bench.py', '--runs', String(RUNS), '--large-runs', String(LARGE_RUNS), '--threads', String(threads),
    '--models', ONNX_BENCH.map((m) => m.key).join(','), ...(WITH_METHODS && WITH_RESNET ? ['--methods'] : [])], { encoding: 'utf8' });
  if (res.status !== 0) {
    console.error(`PyTorch bench failed:\n${res.stderr.slice(-1000)}`);
    return { rows: [], methods: [] };
  }
  const out = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Record<string, { forward: number; saliency: number; gradcam: number }> &
    { torch: string; threads: number; blas?: string; methods?: Record<string, number> };
  const methods: MethodRow[] = METHOD_BENCH.filter((m) => out.methods?.[m.torchKey] !== undefined).map((m) => ({
    runtime: 'pytorch', model: 'ResNet-18 (torchvision)', method: m.method, options: m.options, ms: out.methods![m.torchKey], runs: RUNS,
  }));
  const rows = ONNX_BENCH.map(({ name, key, torchLayer, large }) => ({
    backend: `pytorch ${out.torch}`, runtime: 'pytorch', threads: out.threads, model: `${name} (torchvision)`, arch: name, format: 'torchvision',
    input: '3×224×224', forwardMs: out[key].forward, gradcamMs: out[key].gradcam,
    saliencyMs: out[key].saliency, gradcamLayer: torchLayer, runs: large ? LARGE_RUNS : RUNS, peakRssMb: 0,
  }));
  return { rows, methods, blas: out.blas };
}

/** Child process: benchmark every model on the tfjs backend given by the environment. */
async function runOneBackend(): Promise<void> {
  const backend = await initBackend();
  const runtime = `tfjs ${backend.name}`;
  const rows: Row[] = [];
  const slow = backend.name === 'cpu';
  const tfjs: OpenOptions = { runtime: 'tfjs' };
  rows.push(await benchModel({ name: 'example MNIST CNN', path: path.resolve('examples/mnist-cnn'), runs: RUNS, runtime, format: 'tfjs layers', load: tfjs }, backend));
  for (const m of tfSpecs()) {
    // The cpu backend takes seconds per pass at 224²: fewer runs, and no GraphModels (minutes per saliency map).
    if (slow && m.format.key === 'graph') continue;
    if (m.format.key === 'graph') {
      // tfjs GraphModels take tens of seconds per saliency map (issue 9): fewer runs, one warm-up, a time budget.
      rows.push(await benchModel({ name: m.name, arch: m.arch, path: m.dir, runs: Math.min(RUNS, GRAPH_RUNS), runtime, format: m.format.format, load: tfjs,
        slow: { warmups: 1, budgetMs: SLOW_BUDGET_MS } }, backend));
    } else {
      rows.push(await benchModel({ name: m.name, arch: m.arch, path: m.dir, runs: slow ? 5 : RUNS, runtime, format: m.format.format, load: tfjs }, backend));
    }
  }
  process.stdout.write(`BENCH_JSON ${JSON.stringify(rows)}\n`);
}

/** Method rows a child printed (BENCH_METHODS_JSON), collected as the child's rows are. */
const childMethodRows: MethodRow[] = [];

function runChild(env: Record<string, string>, ...args: string[]): Row[] {
  const res = spawnSync(process.execPath, ['--expose-gc', __filename, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = res.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) {
    console.error(`bench for ${JSON.stringify(env)} ${args.join(' ')} failed:\n${res.stderr.slice(-2000)}`);
    return [];
  }
  const methods = res.stdout.split('\n').find((l) => l.startsWith('BENCH_METHODS_JSON '));
  if (methods) childMethodRows.push(...JSON.parse(methods.slice('BENCH_METHODS_JSON '.length)));
  else if (args.includes('--onnx') && WITH_METHODS) console.error(`method bench failed:\n${res.stderr.slice(-2000)}`);
  return JSON.parse(line.slice('BENCH_JSON '.length));
}

const fmtMs = (ms: number) => (ms >= 10000 ? ms.toFixed(0) : ms.toFixed(1));

/** A timing cell: the median, marked when it rests on fewer runs than the row's. */
function cell(r: Row, key: 'forward' | 'gradcam' | 'saliency'): string {
  const ms = r[`${key}Ms`];
  const runs = r.methodRuns?.[key];
  if (runs === undefined) return fmtMs(ms);
  return r.notes?.some((n) => n.startsWith(`${key}:`)) ? `>${fmtMs(ms)}*` : `${fmtMs(ms)} (${runs})`;
}

function main(): void {
  const configs = (process.env.BENCH_CONFIGS ?? 'onnx,wasm:1,cpu:1').split(',').map((c) => c.split(':'));
  const withTf = process.env.BENCH_TF !== '0';
  const rows: Row[] = [];
  let onnxSource: string | undefined;
  let torchRows: Row[] = [];
  let torchMethods: MethodRow[] = [];
  let torchBlas: string | undefined;
  let openRows: OpenRow[] = [];
  let openPython: string | undefined | null = null;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-bench-'));
  const env: Record<string, string> = {};
  // Other work on the cores skews every row (2-thread ORT and PyTorch most): the load is reported with the results.
  const loadBefore = os.loadavg()[0];
  try {
    if (withTf) {
      console.log('writing ResNet-18 and MobileNetV2 as TF.js Layers models and fused GraphModels…');
      const t0 = performance.now();
      const res = spawnSync(process.execPath, [__filename, '--build-tf', tmp], { encoding: 'utf8', env: { ...process.env, SALIENCY_LENS_BACKEND: 'wasm' } });
      if (res.status !== 0) throw new Error(`could not write the TF.js bench models:\n${res.stderr.slice(-2000)}`);
      console.log(`  written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      env.BENCH_TF_MODELS = tmp;
    }
    for (const [backend, threads] of configs) {
      if (backend === 'onnx') {
        const python = torchPython();
        openPython = python;
        onnxSource = prepareOnnxModels(python);
        console.log(`running ONNX Runtime on ${onnxSource}${withTf ? ' and on the TF.js models converted at load time' : ''}…`);
        const onnxRows = runChild({ ...env, BENCH_ONNX_FORMAT: python ? 'onnx (torchvision)' : 'onnx (project-built)' }, '--onnx');
        rows.push(...onnxRows);
        if (python) {
          // PyTorch gets the threads ONNX Runtime ran with, so the ratio compares like with like.
          const threads = onnxRows.find((r) => r.format === 'onnx (torchvision)')?.threads ?? 2;
          console.log(`running PyTorch CPU on the same models (${threads} threads)…`);
          ({ rows: torchRows, methods: torchMethods, blas: torchBlas } = runTorch(python, threads));
          rows.push(...torchRows);
        } else {
          console.log('PyTorch not installed (apt install python3-torch python3-torchvision): no PyTorch comparison');
        }
        continue;
      }
      console.log(`running tfjs ${backend} with ${threads} thread(s)…`);
      rows.push(...runChild({ ...env, SALIENCY_LENS_BACKEND: backend, SALIENCY_LENS_THREADS: threads }, '--child'));
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  // BENCH_OPEN=0 leaves out VGG-11 and ViT-B/16 (an export of ~900 MB the first time).
  if (openPython !== null && process.env.BENCH_OPEN !== '0') openRows = runOpenBench(openPython, __filename);
  const loadAfter = os.loadavg()[0];
  const header = ['runtime', 'threads', 'model', 'input', 'forward ms', 'grad-cam ms', 'saliency ms', 'peak RSS MB', 'wasm heap MB', 'Grad-CAM layer'];
  const table = rows.map((r) => [r.runtime, String(r.threads), r.model, r.input, cell(r, 'forward'), cell(r, 'gradcam'),
    cell(r, 'saliency'), String(r.peakRssMb || ''), String(r.wasmHeapMb ?? ''), r.gradcamLayer.length > 48 ? `…${r.gradcamLayer.slice(-47)}` : r.gradcamLayer]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(`\nmedians of ${RUNS} runs after 2 warm-ups (ViT-B/16 and ConvNeXt-T: ${LARGE_RUNS} runs; tfjs cpu at 224²: 5 runs; tfjs GraphModels: ${Math.min(RUNS, GRAPH_RUNS)} runs after 1 warm-up, `
    + `a method whose first pass exceeds ${SLOW_BUDGET_MS / 1000} s is not repeated); ${os.cpus().length} cores, ${os.cpus()[0]?.model}`);
  console.log(`load average (1 min) ${loadBefore.toFixed(2)} at the start, ${loadAfter.toFixed(2)} at the end`
    + (Math.max(loadBefore, loadAfter) > os.cpus().length / 2 ? ': other processes were using the cores, timings and ratios are unreliable' : ''));
  console.log('"(n)" = median of n runs; ">x*" = the one cold pass measured, over the budget and not repeated');
  console.log('PyTorch rows run torchvision\'s models (the ONNX rows run their exports): for the TF.js fixtures, the closest peer to their architectures, not identical graphs.');
  console.log(fmt(header));
  table.forEach((t) => console.log(fmt(t)));
  for (const r of rows.filter((r) => r.notes?.length)) console.log(`  note, ${r.runtime} ${r.model}: ${r.notes!.join('; ')}`);
  for (const r of rows.filter((r) => r.tensorsLeft)) console.log(`  note, ${r.runtime} ${r.model}: ${r.tensorsLeft} tfjs tensors left after dispose`);
  const ratios = rows.flatMap((ours) => {
    const t = torchRows.find((t) => t.arch === ours.arch);
    if (!t || ours.runtime === 'pytorch') return [];
    return [{ model: ours.model, runtime: ours.runtime, forward: ours.forwardMs / t.forwardMs, gradcam: ours.gradcamMs / t.gradcamMs, saliency: ours.saliencyMs / t.saliencyMs,
      ...(ours.notes?.length ? { notes: ours.notes } : {}) }];
  });
  if (ratios.length) {
    console.log(`\n÷ PyTorch CPU (torchvision's architecture), same run (below 1 = faster than PyTorch; issue 9 asks ≤ 0.8 for TF.js models, issue 13 `
      + `saliency ≤ 0.8 for ViT-B/16 and ConvNeXt-T; ONNX models: ${onnxSource})`);
    const w = Math.max(...ratios.map((r) => r.model.length));
    const rw = Math.max(...ratios.map((r) => r.runtime.length));
    for (const r of ratios) {
      const mark = (key: 'forward' | 'gradcam' | 'saliency') => (r.notes?.some((n) => n.startsWith(`${key}:`)) ? '>' : ' ');
      console.log(`${r.runtime.padEnd(rw)}  ${r.model.padEnd(w)}  forward ${mark('forward')}${r.forward.toFixed(2).padStart(6)}  grad-cam ${mark('gradcam')}${r.gradcam.toFixed(2).padStart(6)}  saliency ${mark('saliency')}${r.saliency.toFixed(2).padStart(7)}`);
    }
  }
  if (ratios.length && torchBlas === 'generic' && ONNX_BENCH.some((m) => m.large)) {
    console.log('  PyTorch here is built with BLAS_INFO=generic (Debian): Linear/MatMul run on a reference BLAS, convolutions on oneDNN, so the '
      + 'transformer rows (ViT-B/16, ConvNeXt-T\'s MLPs) flatter us against a pip (MKL) PyTorch.');
  }
  const methodRows = [...childMethodRows, ...torchMethods];
  if (methodRows.length) {
    console.log('\nmulti-pass methods on ResNet-18 at 224² (one batched explain each; PyTorch batched the same way, same run):');
    for (const m of childMethodRows) {
      const peer = torchMethods.find((t) => t.method === m.method);
      const ratio = peer ? ` · ÷ PyTorch ${(m.ms / peer.ms).toFixed(2)} (PyTorch ${fmtMs(peer.ms)})` : '';
      const opts = Object.entries(m.options).map(([k, v]) => `${k}=${v}`).join(' ');
      console.log(`  ${m.method.padEnd(11)} ${opts.padEnd(44)} ${fmtMs(m.ms).padStart(9)} ms (median of ${m.runs})${ratio}${m.layer ? ` · layer ${m.layer}` : ''}`);
    }
    console.log('  issue 11 asks: SmoothGrad-25 and IG-32 ≤ 0.8× PyTorch; Score-CAM on the last block (512 maps) ≤ 2 s');
  }
  fs.mkdirSync('bench-results', { recursive: true });
  const out = path.join('bench-results', 'bench.json');
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: os.cpus().length, loadAverage: { start: loadBefore, end: loadAfter }, onnxModels: onnxSource,
    torchPeer: `torchvision ${ONNX_BENCH.map((m) => m.key).join(' / ')} (closest peer to the TF.js fixtures' architectures)`, runs: RUNS, largeRuns: LARGE_RUNS, graphRuns: Math.min(RUNS, GRAPH_RUNS),
    torchBlas, slowBudgetMs: SLOW_BUDGET_MS, rows, ratios, methodRows, openRows }, null, 2));
  console.log(`\nwritten ${out}`);
  if (configs.some(([b]) => b === 'onnx') && WITH_RESNET) void import('./metricsBench').then((m) => m.runMetricsBench(path.join(ONNX_MODELS, 'resnet18.onnx'), RUNS));
}

const exit = (p: Promise<void>) => p.then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});

if (process.argv.includes('--build-tf')) {
  exit(buildTfModels(process.argv[process.argv.indexOf('--build-tf') + 1]));
} else if (process.argv.includes('--open')) {
  const at = process.argv.indexOf('--open');
  exit(measureOpen(process.argv[at + 1], process.argv[at + 2]));
} else if (process.argv.includes('--onnx')) {
  exit(runOnnx(process.env.BENCH_ONNX_FORMAT ?? 'onnx'));
} else if (process.argv.includes('--child')) {
  exit(runOneBackend());
} else {
  main();
}
