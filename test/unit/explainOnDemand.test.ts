/**
 * The engine computes only the maps asked for, and says what it has as soon as it has it: the backward
 * passes a request runs are counted on both runtimes (ONNX Runtime's fused pass and tfjs's trace), and the
 * partial results come in the order they are ready.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Explainer, PartialListener } from '../../src/engine/explain';
import { readImageFile } from '../../src/engine/image/decode';
import type { ModelRuntime } from '../../src/engine/runtimes/types';
import type { MethodName } from '../../src/shared/methods';

const example = path.resolve('examples/mnist-cnn');
const digit = path.resolve('examples/digits/digit-7-29.png');

/** Records the gradient targets of every backward pass the runtime runs (fused pass, or trace then vjp). */
function countBackward(runtime: ModelRuntime): string[][] {
  const passes: string[][] = [];
  const fused = runtime.explainPass?.bind(runtime);
  if (fused) {
    runtime.explainPass = (x, target, keep, targets, early) => {
      if (targets.length) passes.push([...targets]);
      return fused(x, target, keep, targets, early);
    };
  }
  const trace = runtime.trace.bind(runtime);
  runtime.trace = async (x, keep) => {
    const t = await trace(x, keep);
    const vjp = t.vjp.bind(t);
    t.vjp = (seed, targets) => {
      passes.push([...targets]);
      return vjp(seed, targets);
    };
    return t;
  };
  return passes;
}

for (const runtime of ['onnx', 'tfjs'] as const) {
  describe(`explain computes only what is asked (${runtime})`, () => {
    let ex: Explainer;
    // Opened in turn (not at describe time, when both runtimes' describes would initialise the backend at once).
    before(async () => {
      ex = await Explainer.open(example, { runtime });
    });
    after(() => ex.dispose());

    const run = async (methods: MethodName[], partial?: PartialListener) => {
      const passes = countBackward(ex.runtime);
      const x = ex.prepare(readImageFile(digit));
      try {
        const result = await ex.explainTensor(x, { methods, partial });
        return { result, passes };
      } finally {
        x.dispose();
      }
    };

    it('Grad-CAM alone runs no backward pass to the input', async () => {
      const { result, passes } = await run(['gradcam']);
      assert.deepEqual(result.maps.map((m) => m.method), ['gradcam']);
      assert.equal(passes.length, 1, `one backward pass, not ${JSON.stringify(passes)}`);
      assert.deepEqual(passes[0], [ex.runtime.defaultSpatialLayer()]);
    });

    it('saliency alone runs one backward pass, to the input only', async () => {
      const { result, passes } = await run(['saliency']);
      assert.deepEqual(result.maps.map((m) => m.method), ['saliency']);
      assert.deepEqual(passes, [['input']]);
    });

    it('partial results: the predictions first, then each map in order, equal to the answer', async () => {
      const heard: string[] = [];
      const streamed: unknown[] = [];
      const { result } = await run(['saliency', 'gradcam'], (p) => {
        heard.push(p.kind === 'map' ? p.map.method : 'predictions');
        if (p.kind === 'predictions') assert.equal(p.target.index, 7, 'the predicted class explained');
        else streamed.push(p.map);
      });
      assert.deepEqual(heard, ['predictions', 'saliency', 'gradcam']);
      assert.deepEqual(streamed, result.maps);
    });
  });
}

describe('predictions ahead of a pass still being prepared (ONNX Runtime)', () => {
  it('a cold gradient graph: the predictions come from a forward run before the pass ends, and equal its own', async () => {
    const ex = await Explainer.open(example, { runtime: 'onnx' });
    try {
      await ex.warmPredictions();
      const heard: string[] = [];
      const fused = ex.runtime.explainPass!.bind(ex.runtime);
      ex.runtime.explainPass = async (...args) => {
        const pass = await fused(...args);
        heard.push('pass done');
        return pass;
      };
      const explain = async () => {
        const x = ex.prepare(readImageFile(digit));
        const told: unknown[] = [];
        try {
          const result = await ex.explainTensor(x, {
            methods: ['saliency'], partial: (p) => p.kind === 'predictions' && (heard.push('predictions'), told.push(p)),
          });
          assert.deepEqual(told, [{ kind: 'predictions', predictions: result.predictions, target: result.target }]);
        } finally {
          x.dispose();
        }
      };
      await explain();
      assert.deepEqual(heard, ['predictions', 'pass done'], 'cold: the predictions first');
      heard.length = 0;
      await explain();
      assert.deepEqual(heard, ['pass done', 'predictions'], 'prepared: no extra forward run, the pass brings them');
    } finally {
      ex.dispose();
    }
  });
});
