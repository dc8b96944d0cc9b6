/**
 * Every trust measure of every chosen method for one image, in one call: what `saliency-lens evaluate` writes
 * (and what the panel's methods table will show). The maps come from one explanation; each measure then runs on
 * each map with its own defaults (see the measure's module), and the time each took is kept beside it.
 */
import { UserError } from '../errors';
import type { Explainer, TensorExplanation } from '../explain';
import type { DecodedImage } from '../image/decode';
import { methodSpec, type MethodName, type MethodOptions } from '../../shared/methods';
import { DEFAULT_MEASURES, isMeasure, MEASURES, RANDOMIZED_CONSTANT_NOTE, SCALARS, type CurveSummary, type Measure, type MethodEvaluation } from '../../shared/measures';
import { evaluateFaithfulness, type FaithfulnessBaseline } from './faithfulness';
import { road } from './road';
import { stability } from './stability';
import { modelRandomization } from './randomization';
import { methodMapOf } from './randomizationMaps';

export { DEFAULT_MEASURES, isMeasure, MEASURES, type CurveSummary, type Measure, type MethodEvaluation };

/** The measures asked for, checked: one sentence naming what is unknown (`what` names where they came from). */
export function checkMeasures(names: readonly string[], what = 'measures'): Measure[] {
  const unknown = names.filter((m) => !isMeasure(m));
  if (unknown.length || names.length === 0) {
    throw new UserError(`${what}: ${unknown.length ? `unknown ${unknown.map((m) => `"${m}"`).join(', ')}` : 'none chosen'}; choose from ${MEASURES.join(', ')}`);
  }
  return names as Measure[];
}

export interface EvaluateOptions {
  methods: readonly MethodName[];
  options?: Partial<Record<MethodName, MethodOptions>>;
  /** Class to explain: index, label or 'top' (default). */
  target?: string | number;
  layer?: string;
  measures?: readonly Measure[];
  /** Deletion/insertion intervals (faithfulness.ts's default when absent). */
  steps?: number;
  baseline?: FaithfulnessBaseline;
  seed?: number;
  /**
   * Which method and measure is running, and for a measure of many steps (randomization's randomized models, the
   * curves' batched inputs) how far it is.
   */
  progress?: (p: { method: MethodName; measure: Measure; step?: { done: number; total: number } }) => void;
  /** Predictions to keep with the explanation (default 1: the class measured). */
  topK?: number;
  /** Hears the explanation the measures run on (its maps, predictions and timings), before they run. */
  onExplained?: (explained: TensorExplanation) => void;
}

export interface ImageEvaluation {
  image: string;
  classIndex: number;
  label: string;
  probability: number;
  methods: MethodEvaluation[];
}

const now = () => performance.now();

type CurveScoreLike = { auc: number; curve: { probability: number[] } };

/** A seed for one purpose from the user's seed (FNV-1a over both): independent streams from one number. */
function subSeed(seed: number, purpose: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (const c of purpose) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return (h >>> 0) % 2 ** 31;
}

function isConstant(values: ArrayLike<number>): boolean {
  for (let i = 1; i < values.length; i++) if (values[i] !== values[0]) return false;
  return true;
}

function curveSummary(score: { auc: number; curve: { fractions: number[]; probability: number[] } }, random: CurveScoreLike | undefined): CurveSummary {
  return {
    auc: score.auc, randomAuc: random?.auc ?? NaN, fractions: score.curve.fractions,
    probability: score.curve.probability, randomProbability: random?.curve.probability ?? [],
  };
}

/** Evaluates each method's map of one decoded image with the chosen measures. */
export async function evaluateImage(ex: Explainer, pixels: DecodedImage, file: string, opts: EvaluateOptions): Promise<ImageEvaluation> {
  const measures = checkMeasures(opts.measures ?? DEFAULT_MEASURES);
  const seed = opts.seed ?? 0;
  // One stream per measure: the same seed must not make ROAD's first noise the stability check's first copy.
  const seeds = { curves: subSeed(seed, 'curves'), road: subSeed(seed, 'road'), stability: subSeed(seed, 'stability'), randomization: subSeed(seed, 'randomization') };
  const x = ex.prepare(pixels);
  // The random-order curves depend on the image, class, baseline and seed, not on the method: computed once.
  let reference: { deletion: CurveScoreLike; insertion: CurveScoreLike } | undefined;
  try {
    const t0 = now();
    const explained = await ex.explainTensor(x, { methods: opts.methods, options: opts.options, target: opts.target, layer: opts.layer, topK: opts.topK ?? 1 });
    opts.onExplained?.(explained);
    const mapMs = (now() - t0) / Math.max(1, explained.maps.length);
    const classIndex = explained.target.index;
    const methods: MethodEvaluation[] = [];
    for (const map of explained.maps) {
      const method = map.method as MethodName;
      const result: MethodEvaluation = { method, label: methodSpec(method).label, options: map.options ?? {}, ms: { map: explained.timings[method] ?? mapMs } };
      for (const measure of measures) {
        opts.progress?.({ method, measure });
        const t = now();
        try {
          await runMeasure(measure);
        } catch (err) {
          // One measure that cannot apply to this map leaves the others standing.
          if (!(err instanceof UserError)) throw err;
          (result.errors ??= {})[measure] = err.message;
        }
        result.ms[measure] = now() - t;
      }
      methods.push(result);

      async function runMeasure(measure: Measure): Promise<void> {
        if ((measure === 'curves' || measure === 'road') && isConstant(map.data)) {
          throw new UserError('the map is constant: its pixel order is a random order by construction, so the curves and ROAD say nothing about it');
        }
        const step = (done: number, total: number) => opts.progress?.({ method, measure, step: { done, total } });
        if (measure === 'curves') {
          const f = await evaluateFaithfulness(ex, x, map, classIndex, { steps: opts.steps, baseline: opts.baseline, seed: seeds.curves, reference: !reference, progress: step });
          reference ??= f.random;
          result.deletion = curveSummary(f.deletion, reference?.deletion);
          result.insertion = curveSummary(f.insertion, reference?.insertion);
        } else if (measure === 'road') {
          const r = await road({ runtime: ex.runtime, x, image: ex.imageSpec, map, classIndex }, { seed: seeds.road });
          result.road = { combined: r.combined, percentiles: r.percentiles, morf: r.morf, lerf: r.lerf };
        } else if (measure === 'stability') {
          const s = await stability(ex, x, method, { options: map.options, target: classIndex, layer: map.layer ?? opts.layer, seed: seeds.stability });
          if (Number.isNaN(s.spearman)) throw new UserError('the map of a noised copy is constant, so there is no ranking to correlate with');
          result.stability = { spearman: s.spearman, ssim: s.ssim, samples: s.samples.length };
        } else {
          const mapOf = methodMapOf(ex, x, { method, options: map.options, classIndex, layer: map.layer ?? opts.layer });
          const r = await modelRandomization(ex.runtime, { mapOf, modes: ['cascading'], seed: seeds.randomization, keepMaps: false, progress: step });
          // A constant map with every layer random has no ranking to correlate: it kept none of the original's.
          const constant = Number.isNaN(r.fullyRandomized);
          result.randomization = {
            fullyRandomized: constant ? null : r.fullyRandomized, insensitive: r.insensitive, coverage: r.coverage, coverageNote: r.coverageNote,
            note: constant ? RANDOMIZED_CONSTANT_NOTE : r.note,
            cascading: r.cascading.map((s) => ({ layer: s.layer, similarity: s.similarity })),
          };
        }
      }
    }
    return { image: file, classIndex, label: explained.target.label, probability: explained.target.probability, methods };
  } finally {
    x.dispose();
  }
}

export interface Spread {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for one image. */
  std: number;
  n: number;
}

/** Per method, the mean and spread of each scalar over the images that have it (NaN values left out). */
export function summarize(images: readonly ImageEvaluation[]): Record<string, Record<string, Spread>> {
  const out: Record<string, Record<string, Spread>> = {};
  for (const image of images) {
    for (const m of image.methods) {
      const row = (out[m.method] ??= {});
      for (const { name, value } of SCALARS) {
        const v = value(m);
        if (v === null || v === undefined || Number.isNaN(v)) continue;
        const s = (row[name] ??= { mean: 0, std: 0, n: 0 });
        // Welford: the running mean and the sum of squared deviations (kept in std until the end).
        s.n++;
        const d = v - s.mean;
        s.mean += d / s.n;
        s.std += d * (v - s.mean);
      }
    }
  }
  for (const row of Object.values(out)) for (const s of Object.values(row)) s.std = s.n > 1 ? Math.sqrt(s.std / (s.n - 1)) : 0;
  return out;
}
