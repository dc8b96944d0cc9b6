/**
 * Shared by the ONNX gradient tests: one-op and chained model specs, the finite-difference check with its
 * limits, the several-seeds-at-once check, and the refusal check. `useGradTestDir()` registers the hooks
 * that make the temporary directory models are written to.
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { UserError } from '../../src/engine/errors';
import { OnnxRuntime } from '../../src/engine/runtimes/onnx/onnxRuntime';
import { A, buildModel, Init, ModelSpec, NodeSpec, randn, size } from '../fixtures/onnxBuilder';
import { checkGradient, CheckOptions } from '../fixtures/onnxGradCheck';
import { cleanupTempDirs, tempDir } from './helpers';

let dir = '';

/** Registers the hooks that start the backend and make (and remove) the directory models are written to. */
export function useGradTestDir(): { readonly dir: string } {
  before(async () => {
    await initBackend();
    dir = tempDir('saliency-onnx-');
  });
  after(cleanupTempDirs);
  return { get dir() { return dir; } };
}

export type Attr = ReturnType<typeof A.i>;

/** One op on input x of the given shape, with float initializers named by the caller. */
export function single(op: string, dims: number[], attrs: Attr[] = [], inits: Init[] = [], extraInputs: string[] = [], opset = 17): ModelSpec {
  return {
    input: { name: 'x', dims },
    nodes: [{ op, inputs: ['x', ...extraInputs], outputs: ['y'], attrs, name: `the_${op}` }],
    inits,
    outputs: ['y'],
    opset,
  };
}

export function chain(dims: number[], nodes: NodeSpec[], inits: Init[] = [], opset = 17): ModelSpec {
  return { input: { name: 'x', dims }, nodes, inits, outputs: [nodes[nodes.length - 1].outputs[0]], opset };
}

export const w = (name: string, dims: number[], seed: number, scale = 0.5): Init => ({ name, dims, values: randn(size(dims), seed, scale) });

export async function expectMatch(spec: ModelSpec, opts: Partial<CheckOptions> = {}, tol?: number) {
  const r = await checkGradient(spec, { dir, ...opts });
  r.runtime.dispose();
  const limit = tol ?? opts.tol ?? (r.precision === 'float64' ? 1e-4 : 3e-3);
  if (process.env.SHOW_PRECISION) console.log(`${r.precision} ${r.error.toExponential(1)} ${r.checked}/${r.checked + r.skipped}`);
  assert.ok(r.ours.some((v) => v !== 0), 'the gradient is all zeros');
  assert.ok(r.checked >= Math.max(1, (r.checked + r.skipped) * 0.7), `only ${r.checked} of ${r.checked + r.skipped} coordinates without a kink`);
  assert.ok(r.error <= limit, `max relative error ${r.error.toExponential(2)} > ${limit} (${r.precision} reference, ${r.checked} coordinates)`);
}

/**
 * Three seeds in one vjp equal one vjp per seed, at the input and at `layers`; `batched` says whether
 * they must run as one batch, or fall back to one seed per run (a rule mixing the seed axis).
 */
export async function expectSeedsAtOnce(spec: ModelSpec, name: string, layers: string[], batched: boolean) {
  const file = path.join(dir, `seeds_${name}.onnx`);
  fs.writeFileSync(file, buildModel(spec));
  const runtime = await OnnxRuntime.load(file, { layout: 'asis' });
  const x = tf.randomNormal([1, ...runtime.inputShape], 0, 1, 'float32', 4);
  const trace = await runtime.trace(x, layers);
  const seeds = tf.randomNormal([3, runtime.numClasses], 0, 1, 'float32', 5) as tf.Tensor2D;
  const targets = ['input', ...layers];
  const all = await trace.vjp(seeds, targets);
  const oneSeedOnly = (runtime as unknown as { oneSeedOnly: Set<string> }).oneSeedOnly;
  assert.equal(oneSeedOnly.size === 0, batched, batched ? 'fell back to one seed per run' : 'ran the seeds as one batch');
  for (const target of targets) {
    const grads = all.get(target)!;
    assert.equal(grads.shape[0], 3);
    for (let r = 0; r < 3; r++) {
      const one = seeds.slice([r, 0], [1, -1]) as tf.Tensor2D;
      const g = (await trace.vjp(one, [target])).get(target)!;
      const row = grads.slice([r], [1]);
      const diff = tf.max(tf.abs(tf.sub(row, g))).dataSync()[0];
      const scale = tf.max(tf.abs(g)).dataSync()[0];
      assert.ok(scale > 0 && diff <= 1e-5 * scale, `${target} row ${r}: ${diff} vs scale ${scale}`);
      tf.dispose([one, g, row]);
    }
    grads.dispose();
  }
  tf.dispose([x, seeds]);
  trace.dispose();
  runtime.dispose();
}


/** Loading the model is refused with one sentence naming the file and matching `pattern`. */
export async function expectRefused(spec: ModelSpec, name: string, pattern: RegExp): Promise<void> {
  const file = path.join(dir, `${name}.onnx`);
  fs.writeFileSync(file, buildModel(spec));
  await assert.rejects(OnnxRuntime.load(file, { layout: 'asis' }), (e: Error) => {
    assert.ok(e instanceof UserError, `not a UserError: ${e.message}`);
    assert.ok(e.message.startsWith(`${file}: `) && !e.message.includes('\n'), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

export const ints = (name: string, dims: number[], values: number[]): Init => ({ name, dims, values, type: 'int64' });
export { A, randn, size };
export type { Init, ModelSpec, NodeSpec };
