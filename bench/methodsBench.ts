/**
 * The multi-pass methods on ResNet-18 (ONNX Runtime, 224²), each one batched explain, next to PyTorch
 * batched the same way in the same bench run (scripts/onnx/torch_bench.py --methods). Issue 11's
 * acceptance: SmoothGrad-25 and IG-32 ≤ 0.8× PyTorch; Score-CAM over the last block's 512 maps ≤ 2 s.
 */
import * as tf from '@tensorflow/tfjs';
import { Explainer } from '../src/engine/explain';
import type { MethodName, MethodOptions } from '../src/shared/methods';

export interface MethodRow {
  runtime: string;
  model: string;
  method: MethodName;
  options: MethodOptions;
  ms: number;
  runs: number;
  layer?: string;
}

/** What is timed, with the options PyTorch's side uses too. */
export const METHOD_BENCH: { method: MethodName; options: MethodOptions; torchKey: string }[] = [
  { method: 'smoothgrad', options: { samples: 25, sigma: 0.15 }, torchKey: 'smoothgrad' },
  { method: 'ig', options: { steps: 32, rule: 'gausslegendre', baseline: 'black' }, torchKey: 'ig' },
  { method: 'scorecam', options: { batch: 32 }, torchKey: 'scorecam' },
];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function benchMethods(modelPath: string, model: string, runs: number): Promise<MethodRow[]> {
  const explainer = await Explainer.open(modelPath);
  const x = tf.randomNormal([1, ...explainer.runtime.inputShape], 0, 1, 'float32', 7);
  const rows: MethodRow[] = [];
  try {
    for (const { method, options } of METHOD_BENCH) {
      const once = async () => {
        const t0 = performance.now();
        const result = await explainer.explainTensor(x, { methods: [method], options: { [method]: options } });
        return { ms: performance.now() - t0, layer: result.maps[0].layer };
      };
      const first = await once();
      const times: number[] = [];
      const n = method === 'scorecam' ? Math.max(1, Math.ceil(runs / 2)) : runs;
      for (let i = 0; i < n; i++) times.push((await once()).ms);
      rows.push({ runtime: 'onnxruntime (.onnx)', model, method, options, ms: median(times), runs: n, layer: first.layer });
    }
  } finally {
    x.dispose();
    explainer.dispose();
  }
  return rows;
}
