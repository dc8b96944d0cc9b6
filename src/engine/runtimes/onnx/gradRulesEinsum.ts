import { axis0, gradReshape, gshape, Rule } from './gradContext';
import { A, attrString } from './proto';

/**
 * Einsum. y = Σ over the labels not in the output of Π_k A_k, so the gradient of operand i is the Einsum of
 * dy with the other operands, written out to operand i's labels. Labels of operand i found nowhere else
 * were summed away in the forward: the gradient is constant along them, and is broadcast back.
 *
 * Equations are rewritten with one letter per axis first: an ellipsis becomes letters aligned from the
 * right, and an operand's ellipsis axis of size 1 that broadcast against a longer one gets a letter of
 * its own (so its gradient is summed over the broadcast, inside the Einsum). A label repeated within one
 * operand (a diagonal) is refused.
 */

export interface EinsumTerms {
  /** Each operand's labels, one per axis. */
  inputs: string[][];
  output: string[];
  /** Letters the equation does not use, to hand out. */
  spare: string[];
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const ELLIPSIS = '.';

/** "bij,bjk->bik" → per-term labels, each ellipsis as one '.' entry; the implicit output is computed (ONNX's rule). */
function splitEquation(equation: string): { inputs: string[][]; output: string[] } {
  const clean = equation.replace(/\s+/g, '');
  const [lhs, rhs] = clean.split('->');
  const term = (t: string) => {
    const parts = t.split('...');
    if (parts.length > 2) throw new Error('more than one ellipsis in a term');
    const labels = [...parts[0]];
    if (parts.length === 2) labels.push(ELLIPSIS, ...parts[1]);
    for (const l of labels) if (l !== ELLIPSIS && !LETTERS.includes(l)) throw new Error(`label "${l}"`);
    return labels;
  };
  const inputs = lhs.split(',').map(term);
  if (rhs !== undefined) return { inputs, output: term(rhs) };
  // Implicit output: the ellipsis (if any) first, then the labels used once, in alphabetical order.
  const counts = new Map<string, number>();
  for (const l of inputs.flat()) if (l !== ELLIPSIS) counts.set(l, (counts.get(l) ?? 0) + 1);
  const once = [...counts].filter(([, n]) => n === 1).map(([l]) => l).sort();
  // Runtimes disagree on whether upper-case letters sort before lower-case ones.
  if (once.some((l) => l < 'a') && once.some((l) => l >= 'a')) throw new Error('its implicit output mixes upper- and lower-case labels');
  return { inputs, output: [...(inputs.flat().includes(ELLIPSIS) ? [ELLIPSIS] : []), ...once] };
}

/**
 * The equation with one letter per axis, for operands of the given shapes (throws a one-line reason
 * when it cannot be rewritten so).
 */
export function einsumTerms(equation: string, shapes: number[][]): EinsumTerms {
  const { inputs, output } = splitEquation(equation);
  if (inputs.length !== shapes.length) throw new Error(`${inputs.length} terms for ${shapes.length} operands`);
  const used = new Set(inputs.flat().concat(output));
  const spare = [...LETTERS].filter((l) => !used.has(l));
  const take = () => {
    const l = spare.shift();
    if (!l) throw new Error('too many labels');
    return l;
  };
  // Ellipsis axes of each operand, and their broadcast sizes aligned from the right.
  const dotsOf = inputs.map((t, k) => (t.includes(ELLIPSIS) ? shapes[k].length - (t.length - 1) : 0));
  if (dotsOf.some((n) => n < 0)) throw new Error('a term has more labels than its operand has axes');
  inputs.forEach((t, k) => {
    if (!t.includes(ELLIPSIS) && t.length !== shapes[k].length) throw new Error(`term ${k + 1} has ${t.length} labels for ${shapes[k].length} axes`);
  });
  const width = Math.max(0, ...dotsOf);
  const broadcast = new Array<number>(width).fill(1);
  inputs.forEach((t, k) => {
    const at = t.indexOf(ELLIPSIS);
    for (let j = 0; j < dotsOf[k]; j++) broadcast[width - dotsOf[k] + j] = Math.max(broadcast[width - dotsOf[k] + j], shapes[k][at + j]);
  });
  const dotLetters = broadcast.map(() => take());
  const expand = (t: string[], k: number) => t.flatMap((l) => {
    if (l !== ELLIPSIS) return [l];
    const at = t.indexOf(ELLIPSIS);
    return Array.from({ length: dotsOf[k] }, (_, j) => {
      const p = width - dotsOf[k] + j;
      return shapes[k][at + j] === 1 && broadcast[p] !== 1 ? take() : dotLetters[p];
    });
  });
  const explicit = inputs.map(expand);
  const out = output.flatMap((l) => (l === ELLIPSIS ? dotLetters : [l]));
  explicit.forEach((t) => {
    if (new Set(t).size !== t.length) throw new Error('a label is repeated within one operand (a diagonal)');
  });
  // Every label has one size across the operands.
  const sizes = new Map<string, number>();
  explicit.forEach((t, k) => t.forEach((l, a) => {
    const known = sizes.get(l);
    if (known !== undefined && known !== shapes[k][a]) throw new Error(`label "${l}" has sizes ${known} and ${shapes[k][a]}`);
    sizes.set(l, shapes[k][a]);
  }));
  return { inputs: explicit, output: out, spare };
}

const termString = (t: string[]) => t.join('');

const einsum: Rule = (c) => {
  const dy = c.dy[0];
  if (!dy) return [];
  const e = c.e;
  const operands = c.node.inputs;
  const shapes = operands.map((t) => c.shape(t));
  let terms: EinsumTerms;
  try {
    terms = einsumTerms(attrString(c.node.proto, 'equation', ''), shapes);
  } catch (err) {
    return c.unsupported(`with equation "${attrString(c.node.proto, 'equation', '')}": ${(err as Error).message}`);
  }
  const { inputs, output, spare } = terms;
  const seedLabel = output[0];
  gshape(c, c.shape(c.node.outputs[0]));
  return operands.map((x, i) => {
    if (!c.needs[i]) return undefined;
    // dy's axis 0 carries the seeds: it must land on operand i's axis 0.
    if (inputs[i][0] !== seedLabel) axis0(c);
    // The other operands are the same for every seed: their seed axis (size 1) is relabelled so it does not
    // meet dy's. In a batched graph the batch rows pair up instead, as the forward paired them.
    const others = inputs.flatMap((t, k) => (k === i ? [] : [
      c.seeds !== 1 && !c.batched ? t.map((l) => (l === seedLabel ? spare[k] ?? c.unsupported('with too many labels') : l)) : t]));
    const present = new Set([...output, ...others.flat()]);
    const kept = inputs[i].filter((l) => present.has(l));
    const equation = `${[output, ...others].map(termString).join(',')}->${termString(kept)}`;
    const identity = others.length === 0 && termString(kept) === termString(output);
    let g = identity ? dy : e.op('Einsum', [dy, ...operands.filter((_, k) => k !== i)], [A.s('equation', equation)]);
    if (kept.length !== inputs[i].length) {
      // Labels summed away in the forward: 1s there, then broadcast (the seed axis survives a 1 in Expand).
      const xs = shapes[i];
      g = e.expand(gradReshape(c, g, xs.map((d, a) => (present.has(inputs[i][a]) ? d : 1))), xs);
    }
    return g;
  });
};

export { einsum };
