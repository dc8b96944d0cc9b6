/**
 * Open-to-first-map on large models (issue 13, item 3): VGG-11 (530 MB) and ViT-B/16 (350 MB) from
 * torchvision with random weights, exported by PyTorch (scripts/onnx/export_big_models.py) into the
 * system's temporary folder, kept there between runs. Each model is measured in a fresh process, so its
 * peak RSS is that of a process that opened only this model: from the moment the engine starts opening
 * it to the first saliency map, and the peak RSS against the bytes of the model's weights.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend';
import { Explainer } from '../src/engine/explain';
import type { OnnxRuntime } from '../src/engine/runtimes/onnx/onnxRuntime';
import { tensorBytes } from '../src/engine/runtimes/onnx/proto';

export const BIG_MODELS = [['VGG-11', 'vgg11'], ['ViT-B/16', 'vit_b_16']] as const;
const BIG_DIR = path.join(os.tmpdir(), 'saliency-lens-bench-big');
/** What issue 13 asks. */
const TARGET_SECONDS = 3;
const TARGET_RATIO = 2.5;

export interface OpenRow {
  model: string;
  weightMb: number;
  /** Seconds from the start of Explainer.open to the model being open, and to the first saliency map. */
  openS: number;
  firstMapS: number;
  /** RSS of the process before opening (Node, tfjs, ONNX Runtime loaded). */
  baseRssMb: number;
  peakRssMb: number;
  ratio: number;
}

/** Child process: opens one model, explains one image with saliency, prints the row. */
export async function measureOpen(file: string, name: string): Promise<void> {
  await initBackend();
  const x = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 42);
  const mb = (b: number) => b / 2 ** 20;
  const baseRss = process.memoryUsage().rss;
  const t0 = performance.now();
  const explainer = await Explainer.open(file);
  const opened = performance.now();
  await explainer.explainTensor(x, { methods: ['saliency'] });
  const firstMap = performance.now();
  const runtime = explainer.runtime as unknown as OnnxRuntime;
  const weightBytes = [...runtime.model.graph.initializers.values()].reduce((n, t) => n + tensorBytes(t), 0);
  // maxRSS: the peak of this process (kilobytes).
  const peak = process.resourceUsage().maxRSS * 1024;
  const row: OpenRow = {
    model: name, weightMb: Math.round(mb(weightBytes)), openS: (opened - t0) / 1000, firstMapS: (firstMap - t0) / 1000,
    baseRssMb: Math.round(mb(baseRss)), peakRssMb: Math.round(mb(peak)), ratio: peak / weightBytes,
  };
  explainer.dispose();
  x.dispose();
  process.stdout.write(`BENCH_OPEN_JSON ${JSON.stringify(row)}\n`);
}

/** Exports the models when PyTorch is here and measures each in a child; prints the rows (or why there are none). */
export function runOpenBench(python: string | undefined, script: string): OpenRow[] {
  if (!python) {
    console.log('\nopen-to-first-map: skipped, PyTorch not installed (apt install python3-torch python3-torchvision) to export VGG-11 and ViT-B/16');
    return [];
  }
  console.log(`\nexporting VGG-11 and ViT-B/16 (random weights) to ${BIG_DIR} if not there yet…`);
  const exported = spawnSync(python, ['scripts/onnx/export_big_models.py', BIG_DIR], { encoding: 'utf8' });
  if (exported.status !== 0) {
    console.log(`open-to-first-map: skipped, the export failed:\n${exported.stderr.slice(-1000)}`);
    return [];
  }
  const rows: OpenRow[] = [];
  for (const [name, key] of BIG_MODELS) {
    const res = spawnSync(process.execPath, [script, '--open', path.join(BIG_DIR, `${key}.onnx`), name], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const line = res.stdout.split('\n').find((l) => l.startsWith('BENCH_OPEN_JSON '));
    if (!line) {
      console.log(`open-to-first-map, ${name}: failed:\n${res.stderr.slice(-1500)}`);
      continue;
    }
    rows.push(JSON.parse(line.slice('BENCH_OPEN_JSON '.length)));
  }
  if (rows.length) {
    console.log(`open-to-first-map (fresh process each; saliency at 224²; issue 13 asks ≤ ${TARGET_SECONDS} s and peak RSS ≤ ${TARGET_RATIO}× the weight bytes):`);
    console.log('  model      weights MB  open s  open-to-first-map s  RSS before MB  peak RSS MB  peak RSS / weight bytes');
    for (const r of rows) {
      console.log(`  ${r.model.padEnd(9)}  ${String(r.weightMb).padStart(10)}  ${r.openS.toFixed(2).padStart(6)}  ${r.firstMapS.toFixed(2).padStart(19)}  `
        + `${String(r.baseRssMb).padStart(13)}  ${String(r.peakRssMb).padStart(11)}  ${r.ratio.toFixed(2).padStart(23)}`);
    }
  }
  return rows;
}
