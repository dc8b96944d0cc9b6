/**
 * `evaluate`: every measure of every chosen method for an image, a folder's means and spreads, and the CLI that
 * writes them. The measures themselves are tested in their own files; here, what the orchestration must keep.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Explainer } from '../../src/engine/explain';
import { loadImageFile } from '../../src/engine/image/load';
import { evaluateImage, summarize, type ImageEvaluation, type MethodEvaluation } from '../../src/engine/metrics/evaluate';
import { main } from '../../src/cli';
import { ExplainService } from '../../src/engine/service';
import { UserError } from '../../src/engine/errors';
import { cleanupTempDirs, tempDir } from './helpers';

after(cleanupTempDirs);

const example = path.resolve('examples/mnist-cnn');
const digit = (name: string) => path.resolve('examples/digits', name);

function methodWith(values: { deletion?: number; stability?: number }): MethodEvaluation {
  const curve = (auc: number) => ({ auc, randomAuc: 0.5, fractions: [], probability: [], randomProbability: [] });
  return {
    method: 'saliency', label: 'Saliency', options: {}, ms: {},
    ...(values.deletion !== undefined ? { deletion: curve(values.deletion) } : {}),
    ...(values.stability !== undefined ? { stability: { spearman: values.stability, ssim: null, samples: 5 } } : {}),
  };
}

describe('evaluate', () => {
  it('summarize: per method, the mean and sample standard deviation of each measure, over the images that have it', () => {
    const images: ImageEvaluation[] = [0.1, 0.2, 0.6].map((d, i) => ({
      image: `${i}.png`, classIndex: 0, label: '0', probability: 1, methods: [methodWith({ deletion: d, stability: i === 2 ? NaN : 0.5 + i / 10 })],
    }));
    const s = summarize(images).saliency;
    // By hand: mean 0.3; deviations −0.2, −0.1, 0.3 → squares 0.04, 0.01, 0.09 → 0.14 / 2 = 0.07.
    assert.ok(Math.abs(s.deletionAuc.mean - 0.3) < 1e-12);
    assert.ok(Math.abs(s.deletionAuc.std - Math.sqrt(0.07)) < 1e-12);
    assert.equal(s.deletionAuc.n, 3);
    // NaN (a constant map) is left out: 0.5 and 0.6.
    assert.equal(s.stability.n, 2);
    assert.ok(Math.abs(s.stability.mean - 0.55) < 1e-12);
    assert.ok(Math.abs(s.stability.std - Math.sqrt(0.005)) < 1e-12);
    assert.equal(s.road, undefined, 'no ROAD was measured');
  });

  it('on the trained example: saliency deletes faster and inserts faster than the random order; a measure that cannot apply leaves the others', async () => {
    const ex = await Explainer.open(example);
    try {
      const result = await evaluateImage(ex, await loadImageFile(digit('digit-9-1.png')), 'digit-9-1.png', {
        methods: ['saliency', 'gradcam'], measures: ['curves', 'road', 'randomization'], steps: 10,
      });
      assert.equal(result.label, '9');
      const [saliency, gradcam] = result.methods;
      assert.ok(saliency.deletion!.auc < saliency.deletion!.randomAuc, `deletion ${saliency.deletion!.auc} vs random ${saliency.deletion!.randomAuc}`);
      assert.ok(saliency.insertion!.auc > saliency.insertion!.randomAuc, `insertion ${saliency.insertion!.auc} vs random ${saliency.insertion!.randomAuc}`);
      assert.equal(saliency.deletion!.probability.length, 11, '10 intervals: 11 points');
      assert.ok(Number.isFinite(saliency.road!.combined));
      // Grad-CAM of this 9 at the default layer is constant (no positive evidence): no measure of a ranking applies,
      // and each says so instead of a chance-level number; the saliency map's measures stand.
      for (const measure of ['curves', 'road', 'randomization'] as const) assert.match(gradcam.errors?.[measure] ?? '', /constant/, measure);
      assert.equal(gradcam.deletion, undefined);
      assert.ok(saliency.randomization && !saliency.errors, 'the saliency map has every measure');
    } finally {
      ex.dispose();
    }
  });

  it('the CLI writes evaluation.json and evaluation.html for a folder, with a summary over its images', async () => {
    const out = tempDir('saliency-evaluate-');
    const code = await main(['evaluate', '--model', example, '--image', path.resolve('examples/digits'), '--method', 'saliency', '--measure', 'curves', '--curve-steps', '5', '--out', out]);
    assert.equal(code, 0);
    const images = fs.readdirSync(path.resolve('examples/digits')).filter((f) => f.endsWith('.png'));
    const json = JSON.parse(fs.readFileSync(path.join(out, 'evaluation.json'), 'utf8'));
    assert.equal(json.images.length, images.length);
    assert.equal(json.summary.saliency.deletionAuc.n, images.length);
    const html = fs.readFileSync(path.join(out, 'evaluation.html'), 'utf8');
    assert.equal((html.match(/<svg /g) ?? []).length, 2 * images.length, 'a deletion and an insertion curve per image');
    assert.doesNotMatch(html, /<script/);
  });

  it('the engine request measures one method for the class asked, only the measures asked, with progress by measure', async () => {
    const progress: { method: string; measure?: string; done: number; total: number; progressId?: number; step?: { done: number; total: number } }[] = [];
    const service = new ExplainService((p) => progress.push(p));
    const image = digit('digit-7-29.png');
    try {
      // Class 3, not the top class (7): the measured class is the one asked for.
      const answer = await service.evaluate({ modelPath: example, imagePath: image, method: 'saliency', classIndex: 3, measures: ['curves', 'stability'], seed: 4, progressId: 9 });
      assert.equal(answer.classIndex, 3);
      assert.equal(answer.label, '3');
      assert.ok(answer.probability < 0.5, `class 3 of a 7 is unlikely: ${answer.probability}`);
      const m = answer.evaluation;
      assert.equal(m.method, 'saliency');
      assert.ok(m.deletion && m.insertion && m.stability, 'the curves and stability');
      assert.equal(m.road, undefined, 'ROAD was not asked for');
      assert.deepEqual(progress.filter((p) => !p.step).map((p) => [p.measure, p.done, p.total, p.progressId]), [['curves', 0, 2, 9], ['stability', 1, 2, 9]]);
      // The curves' batched inputs report how far they are, up to all of them.
      const steps = progress.filter((p) => p.step).map((p) => p.step!);
      assert.ok(steps.length > 0 && progress.filter((p) => p.step).every((p) => p.measure === 'curves'));
      assert.ok(steps.every((st, i) => st.done <= st.total && (i === 0 || st.done >= steps[i - 1].done)), JSON.stringify(steps));
      assert.equal(steps.at(-1)!.done, steps.at(-1)!.total);
      // The map measured travels with the numbers, as `explain` would answer it: the methods view shows it.
      assert.deepEqual(answer.explanation.maps.map((mp) => mp.method), ['saliency']);
      assert.equal(answer.explanation.target.index, 3);
      assert.equal(answer.explanation.predictions[0].label, '7', 'the top predictions too');
      // The same numbers as `evaluate` of the same image, class and seed outside the engine's request path.
      const ex = await Explainer.open(example);
      try {
        const direct = await evaluateImage(ex, await loadImageFile(image), image, { methods: ['saliency'], target: 3, measures: ['curves', 'stability'], seed: 4 });
        assert.equal(m.deletion!.auc, direct.methods[0].deletion!.auc);
        assert.equal(m.stability!.spearman, direct.methods[0].stability!.spearman);
      } finally {
        ex.dispose();
      }
      await assert.rejects(service.evaluate({ modelPath: example, imagePath: image, method: 'saliency', measures: [] }),
        (err: Error) => err instanceof UserError && /none chosen/.test(err.message));
      await assert.rejects(service.evaluate({ modelPath: example, imagePath: image, method: 'saliency', measures: ['vibes' as 'road'] }),
        (err: Error) => err instanceof UserError && /unknown "vibes"/.test(err.message));
    } finally {
      service.dispose();
    }
  });

  it('the CLI refuses an unknown measure in one sentence', async () => {
    const errors: string[] = [];
    const log = console.error;
    console.error = (m: string) => errors.push(m);
    try {
      assert.equal(await main(['evaluate', '--model', example, '--image', digit('digit-7-29.png'), '--measure', 'curves,vibes']), 2);
    } finally {
      console.error = log;
    }
    assert.deepEqual(errors, ['saliency-lens: --measure: unknown "vibes"; choose from curves, road, stability, randomization']);
  });
});
