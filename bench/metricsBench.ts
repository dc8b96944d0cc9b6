/**
 * Trust measures on ResNet-18 (ONNX Runtime, 224²): deletion + insertion curves of 20 steps each on
 * Grad-CAM's map, batched. Issue 12's acceptance: ≤ 0.5 s on this machine. Also timed: the same with the
 * random-order reference curves (twice the interior points).
 *
 * `npm run bench` runs it after the other sections when the `onnx` config is on (BENCH_METRICS=0 leaves it
 * out); alone: `node --import tsx bench/metricsBench.ts [model.onnx] [runs]`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Explainer } from '../src/engine/explain';
import { evaluateFaithfulness, FaithfulnessOptions } from '../src/engine/metrics/faithfulness';

export interface MetricRow {
  measure: string;
  options: FaithfulnessOptions;
  forwardPasses: number;
  ms: number;
  runs: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const MEASURES: { measure: string; options: FaithfulnessOptions }[] = [
  { measure: 'deletion + insertion', options: { steps: 20, baseline: 'black', reference: false } },
  { measure: 'deletion + insertion + random reference', options: { steps: 20, baseline: 'black', reference: true } },
];

/** Medians of `runs` timed runs of each measure, after one warm-up (ORT prepares a session per batch size). */
export async function benchFaithfulness(modelPath: string, runs: number): Promise<{ rows: MetricRow[]; layer?: string; runtime: string }> {
  const explainer = await Explainer.open(modelPath);
  const x = tf.randomNormal([1, ...explainer.runtime.inputShape], 0, 1, 'float32', 7);
  try {
    const explained = await explainer.explainTensor(x, { methods: ['gradcam'] });
    const map = explained.maps[0];
    const classIndex = explained.target.index;
    const rows: MetricRow[] = [];
    for (const { measure, options } of MEASURES) {
      const once = async () => {
        const t0 = performance.now();
        const res = await evaluateFaithfulness(explainer, x, map, classIndex, options);
        return { ms: performance.now() - t0, passes: res.forwardPasses };
      };
      const { passes } = await once();
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push((await once()).ms);
      rows.push({ measure, options, forwardPasses: passes, ms: median(times), runs });
    }
    return { rows, layer: map.layer, runtime: explainer.compute.name };
  } finally {
    x.dispose();
    explainer.dispose();
  }
}

/**
 * The bench section: prints the medians and writes bench-results/metrics.json. Guarded: a missing model or a
 * failure is reported and leaves the rest of the bench as it was.
 */
export async function runMetricsBench(modelPath: string, runs: number): Promise<void> {
  if (process.env.BENCH_METRICS === '0') return;
  if (!fs.existsSync(modelPath)) {
    console.error(`trust-measure bench skipped: ${modelPath} not found`);
    return;
  }
  try {
    const loadBefore = os.loadavg()[0];
    const { rows, layer, runtime } = await benchFaithfulness(modelPath, runs);
    const load = Math.max(loadBefore, os.loadavg()[0]);
    console.log(`\ntrust measures on ResNet-18 at 224² (${runtime}; Grad-CAM map${layer ? ` at ${layer}` : ''}; median of ${runs} runs after 1 warm-up;`
      + ` load average ${load.toFixed(2)} on ${os.cpus().length} cores${load > os.cpus().length / 2 ? ': other processes were using the cores, timings are unreliable' : ''}):`);
    for (const r of rows) console.log(`  ${r.measure.padEnd(40)} steps=${r.options.steps} ${String(r.forwardPasses).padStart(3)} passes ${r.ms.toFixed(1).padStart(8)} ms`);
    console.log('  issue 12 asks: deletion + insertion, 20 steps each, ≤ 500 ms');
    fs.mkdirSync('bench-results', { recursive: true });
    fs.writeFileSync(path.join('bench-results', 'metrics.json'), JSON.stringify({ date: new Date().toISOString(), model: modelPath, runtime, layer, loadAverage: load, rows }, null, 2));
  } catch (err) {
    console.error(`trust-measure bench failed: ${(err as Error).stack ?? err}`);
  }
}

// Run alone (not when bundled into dist/bench.js, whose entry is bench.ts).
if (/metricsBench\.ts$/.test(process.argv[1] ?? '')) {
  const model = process.argv[2] ?? path.resolve('bench-results', 'onnx-models', 'resnet18.onnx');
  runMetricsBench(model, Number(process.argv[3] ?? process.env.BENCH_RUNS ?? 7)).then(() => process.exit(0));
}
