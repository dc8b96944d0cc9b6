/**
 * The trust measures, as every consumer names them: what runs (`MEASURES`), what a result holds
 * (`MethodEvaluation`), and the numbers a table shows (`SCALARS`, with which direction is better and one sentence
 * on how to read it). The engine's metrics/evaluate.ts computes them; the CLI report, the panel's methods table and
 * the folder summary all read their labels and directions from here.
 */
import type { MethodName, MethodOptions } from './methods';

/** The measures, in the order they run and are reported; 'curves' is deletion and insertion together. */
export const MEASURES = ['curves', 'road', 'stability', 'randomization'] as const;
export type Measure = (typeof MEASURES)[number];

/**
 * Run unless asked otherwise. Randomization is left out by default: it builds one randomized copy of the model per
 * layer and step (ONNX Runtime only), which costs seconds per layer on a real network.
 */
export const DEFAULT_MEASURES: readonly Measure[] = ['curves', 'road', 'stability'];

/** Each measure's name in a checklist or a progress line, and what it runs. */
export const MEASURE_SPECS: Record<Measure, { label: string; runs: string }> = {
  curves: { label: 'Deletion & insertion', runs: 'forward passes of the image with pixels removed or revealed, batched' },
  road: { label: 'ROAD', runs: 'forward passes of the image with pixels imputed, batched' },
  stability: { label: 'Stability', runs: 'the method again on noised copies of the image' },
  randomization: { label: 'Randomization', runs: 'the method again on one randomized copy of the model per layer (ONNX Runtime only)' },
};

/** What the randomization check says of a map that barely changes when every layer is random (Adebayo et al. 2018). */
export const INSENSITIVE_NOTE = 'insensitive to the model\'s weights: this map may show the image, not the model';

/** What the randomization check says when the map with every layer random is constant. */
export const RANDOMIZED_CONSTANT_NOTE = 'with every layer random the map is constant: none of its ranking is left, so it depends on the weights';

export function isMeasure(name: string): name is Measure {
  return (MEASURES as readonly string[]).includes(name);
}

export interface CurveSummary {
  /** Area under the class probability curve, normalized to [0, 1]. */
  auc: number;
  /** The same for the seeded random order: the chance level to compare with. */
  randomAuc: number;
  fractions: number[];
  probability: number[];
  randomProbability: number[];
}

export interface MethodEvaluation {
  method: MethodName;
  label: string;
  options: MethodOptions;
  /** Milliseconds the map took, then each measure. */
  ms: Partial<Record<'map' | Measure, number>>;
  deletion?: CurveSummary;
  insertion?: CurveSummary;
  road?: { combined: number; percentiles: number[]; morf: number[]; lerf: number[] };
  stability?: { spearman: number; ssim: number | null; samples: number };
  randomization?: {
    /** null when the map with every layer random is constant (RANDOMIZED_CONSTANT_NOTE says so). */
    fullyRandomized: number | null; insensitive: boolean; note?: string; coverage: number; coverageNote?: string;
    cascading: { layer: string; similarity: number }[];
  };
  /** Measures that could not apply to this map, each with its one sentence (e.g. a constant map has no ranking). */
  errors?: Partial<Record<Measure, string>>;
}

/** One number of a method's evaluation, as a table column shows it. */
export interface ScalarSpec {
  name: 'deletionAuc' | 'insertionAuc' | 'road' | 'stability' | 'randomization';
  /** The measure that produces it. */
  measure: Measure;
  label: string;
  better: 'lower' | 'higher';
  /** How to read it, after "lower/higher is better: ". */
  reads: string;
  value: (m: MethodEvaluation) => number | null | undefined;
}

export const SCALARS: readonly ScalarSpec[] = [
  {
    name: 'deletionAuc', measure: 'curves', label: 'Deletion AUC', better: 'lower',
    reads: 'removing the top pixels first should drop the class fast', value: (m) => m.deletion?.auc,
  },
  {
    name: 'insertionAuc', measure: 'curves', label: 'Insertion AUC', better: 'higher',
    reads: 'revealing the top pixels first should raise the class fast', value: (m) => m.insertion?.auc,
  },
  {
    name: 'road', measure: 'road', label: 'ROAD', better: 'higher',
    reads: '(LeRF − MoRF)/2 with noisy linear imputation', value: (m) => m.road?.combined,
  },
  {
    name: 'stability', measure: 'stability', label: 'Stability', better: 'higher',
    reads: 'Spearman correlation with the maps of noised copies', value: (m) => m.stability?.spearman,
  },
  {
    name: 'randomization', measure: 'randomization', label: 'After randomization', better: 'lower',
    reads: 'Spearman |map| correlation with every layer random', value: (m) => m.randomization?.fullyRandomized,
  },
];

/** A trust number as every report writes it: 3 decimals (`digits` for other figures), '–' where there is none. */
export const formatScore = (v: number | null | undefined, digits = 3): string =>
  (v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));

/** "lower is better: removing the top pixels first…" */
export const scalarHint = (s: ScalarSpec): string => `${s.better} is better: ${s.reads}`;
