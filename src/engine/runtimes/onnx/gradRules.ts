import type { Emitter } from './emitter';
import {
  axis0, BEFORE_START, forwardReshape, gradReshape, gradZeros, gshape, normAxis, prod, range, Rule, RuleContext, unbroadcast,
} from './gradContext';
import { einsum } from './gradRulesEinsum';
import { NORMALIZATION_RULES } from './gradRulesNorm';
import { RESIZE_RULES } from './gradRulesResize';
import { A, attrFloat, attrInt, attrInts, attrString, DataType, findAttr } from './proto';

/**
 * Vector-Jacobian rules, one per ONNX op: given the gradient of a node's outputs, emit the nodes that
 * compute the gradient of the inputs that need one. Weights never get gradients. Masks come from the
 * forward values with cheap elementwise ops, so they are computed once however many seeds run.
 *
 * Gradients may carry several seeds at once: axis 0 of a gradient is the seed axis wherever the forward
 * tensor has batch 1 there (shapes from `gshape`). A rule that would mix that axis (a transpose moving
 * it, a concat along it) calls `axis0()`, and the builder falls back to one seed per run.
 *
 * Batched graphs (`batched`) run n different inputs at once: the forward tensors then carry the batch on
 * axis 0 too, and seed row i pairs with input row i through every elementwise op. Their row count is
 * unknown until the run (one session serves every chunk size): `seeds` is BATCH, which reshape targets
 * infer (-1), and zeros or expansions to a gradient's shape are taken from a forward tensor's runtime shape.
 */

export { BATCH, NotBatchable } from './gradContext';
export type { Rule, RuleContext } from './gradContext';

// --- convolution and pooling geometry -------------------------------------------------------------

interface Geometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  begin: number[];
  end: number[];
  inSize: number[];
  outSize: number[];
}

function geometry(c: RuleContext, xs: number[], ys: number[], kernel: number[]): Geometry {
  const n = xs.length - 2;
  const p = c.node.proto;
  const strides = attrInts(p, 'strides') ?? new Array(n).fill(1);
  const dilations = attrInts(p, 'dilations') ?? new Array(n).fill(1);
  const inSize = xs.slice(2);
  const outSize = ys.slice(2);
  const autoPad = attrString(p, 'auto_pad', 'NOTSET');
  let begin: number[];
  let end: number[];
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const total = inSize.map((l, i) => Math.max(0, (outSize[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - l));
    const small = total.map((t) => Math.floor(t / 2));
    begin = autoPad === 'SAME_UPPER' ? small : total.map((t, i) => t - small[i]);
    end = total.map((t, i) => t - begin[i]);
  } else if (autoPad === 'VALID') {
    begin = new Array(n).fill(0);
    end = new Array(n).fill(0);
  } else {
    const pads = attrInts(p, 'pads') ?? new Array(2 * n).fill(0);
    begin = pads.slice(0, n);
    end = pads.slice(n, 2 * n);
  }
  return { kernel, strides, dilations, begin, end, inSize, outSize };
}

const spatialAxes = (n: number) => range(2, 2 + n);

/**
 * The kernel of a convolution's transpose as a forward kernel: in/out channels swapped per group and
 * the taps reversed, W [M, C/g, k…] → [C, M/g, k…]. Emitted as ops on the weight, which ONNX Runtime
 * folds into a constant when the session is created.
 */
function flippedKernel(e: Emitter, w: string, ws: number[], group: number): string {
  const [m, cg, ...k] = ws;
  const mg = m / group;
  const c = cg * group;
  const kAxes = k.map((_, i) => i + 2);
  let t: string;
  if (group === 1) t = e.transpose(w, [1, 0, ...kAxes]);
  else if (cg === 1) t = e.reshape(w, [c, mg, ...k]);
  else t = e.reshape(e.transpose(e.reshape(w, [group, mg, cg, ...k]), [0, 2, 1, ...k.map((_, i) => i + 3)]), [c, mg, ...k]);
  const flip = kAxes.filter((_, i) => k[i] > 1);
  if (flip.length) t = e.slice(t, flip.map(() => -1), flip.map(() => BEFORE_START), flip, flip.map(() => -1));
  return t;
}

/**
 * Input gradient of a stride-1 convolution: a forward convolution of dy with the flipped kernel and
 * pads (k−1)·d − p on each side (ONNX Runtime runs it at forward speed). Pads beyond the kernel's
 * reach (negative) become a crop.
 */
function convStride1Grad(c: RuleContext, dy: string, w: string, ws: number[], group: number, geo: Geometry): string {
  const { kernel, dilations: d, begin, end, inSize, outSize } = geo;
  const n = kernel.length;
  const pb = kernel.map((k, i) => (k - 1) * d[i] - begin[i]);
  const pe = kernel.map((k, i) => (k - 1) * d[i] - end[i]);
  const padB = pb.map((p) => Math.max(0, p));
  const padE = pe.map((p) => Math.max(0, p));
  let dx = c.e.op('Conv', [dy, flippedKernel(c.e, w, ws, group)], [
    A.i('group', group), A.ints('dilations', d), A.ints('kernel_shape', kernel), A.ints('pads', [...padB, ...padE]),
    A.ints('strides', new Array(n).fill(1)),
  ]);
  const zLen = outSize.map((o, i) => o + padB[i] + padE[i] - (kernel[i] - 1) * d[i]);
  const start = pb.map((p) => Math.max(0, -p));
  if (start.some((s) => s > 0) || zLen.some((z, i) => z !== inSize[i])) {
    dx = c.e.slice(dx, start, start.map((s, i) => s + inSize[i]), spatialAxes(n));
  }
  return dx;
}

/** Input gradient of a strided convolution: ConvTranspose with output_padding X − ((Y−1)·s + (k−1)·d + 1 − pads). */
function convStridedGrad(c: RuleContext, dy: string, w: string, group: number, geo: Geometry): string {
  const { kernel, strides: s, dilations: d, begin, end, inSize, outSize } = geo;
  const outputPadding = inSize.map((l, i) => l - ((outSize[i] - 1) * s[i] + (kernel[i] - 1) * d[i] + 1 - begin[i] - end[i]));
  return c.e.op('ConvTranspose', [dy, w], [
    A.i('group', group), A.ints('dilations', d), A.ints('kernel_shape', kernel), A.ints('pads', [...begin, ...end]),
    A.ints('strides', s), A.ints('output_padding', outputPadding),
  ]);
}

/** Per spatial axis, which kernel taps feed each phase a of the input (i = s·q + a), and at which dy offset. */
interface AxisPhases {
  /** taps[a] = [k, t]: dX[s·q + a] gets dY[q + t]·W[k]. */
  taps: [number, number][][];
  tMin: number;
  /** Taps of the phase kernels: tMax − tMin + 1. */
  span: number;
}

function axisPhases(k: number, s: number, d: number, begin: number): AxisPhases {
  const taps = Array.from({ length: s }, (_, a) => {
    const list: [number, number][] = [];
    for (let kk = 0; kk < k; kk++) {
      const r = a + begin - kk * d;
      if (((r % s) + s) % s === 0) list.push([kk, r / s]);
    }
    return list;
  });
  const ts = taps.flat().map(([, t]) => t);
  const tMin = Math.min(...ts);
  return { taps, tMin, span: Math.max(...ts) - tMin + 1 };
}

/**
 * Input gradient of a strided convolution as ONE forward convolution plus a reshuffle (sub-pixel
 * decomposition): input row i = s·q + a only meets the kernel taps k with (a + pad − k·d) ≡ 0 (mod s),
 * at dy row q + (a + pad − k·d)/s. So every phase a is a small stride-1 correlation of dy; their kernels
 * are stacked as output channels (gathered from the weight, folded into a constant by ONNX Runtime),
 * and the phases are interleaved back with Reshape/Transpose. Where only one phase per axis gets taps
 * (a 1×1 stride-2 convolution) the others are zero and are inserted as padding instead of computed.
 */
function convPhaseGrad(c: RuleContext, dy: string, w: string, ws: number[], group: number, geo: Geometry): string {
  const e = c.e;
  const { kernel, strides: s, dilations: d, begin, inSize, outSize } = geo;
  const n = kernel.length;
  const [m, cg] = ws;
  const mg = m / group;
  const channels = cg * group;
  const seeds = gshape(c, [1, m, ...outSize])[0];
  const axes = kernel.map((k, i) => axisPhases(k, s[i], d[i], begin[i]));
  const live = axes.map((ax) => ax.taps.map((t, a) => (t.length ? a : -1)).filter((a) => a >= 0));
  const sparse = live.every((l) => l.length === 1);
  const phases = sparse ? axes.map(() => 1) : s;
  // Gather each phase's taps from the weight, padded with one zero tap (index k) for missing ones.
  let v = e.pad(w, [0, 0, ...kernel.map(() => 0), 0, 0, ...kernel.map(() => 1)]);
  axes.forEach((ax, i) => {
    const rows = sparse ? [live[i][0]] : range(0, s[i]);
    const table = rows.flatMap((a) => {
      const row = new Array(ax.span).fill(kernel[i]);
      for (const [k, t] of ax.taps[a]) row[t - ax.tMin] = k;
      return row;
    });
    v = e.op('Gather', [v, e.i64(table, [rows.length, ax.span])], [A.i('axis', 2 + 2 * i)]);
  });
  // v: [M, Cg, p1, J1, p2, J2, …] → [g, Cg, p1, p2, …, Mg, J1, J2, …] → [C·Πp, Mg, J…].
  const spans = axes.map((ax) => ax.span);
  v = e.reshape(v, [group, mg, cg, ...phases.flatMap((p, i) => [p, spans[i]])]);
  const phaseDims = range(0, n).map((i) => 3 + 2 * i);
  const spanDims = range(0, n).map((i) => 4 + 2 * i);
  v = e.reshape(e.transpose(v, [0, 2, ...phaseDims, 1, ...spanDims]), [channels * prod(phases), mg, ...spans]);
  // dy padded so output q of the correlation reads dy[q + tMin …]; Q rows per phase cover the input.
  const rows = inSize.map((l, i) => Math.ceil(l / s[i]));
  const padB = axes.map((ax) => Math.max(0, -ax.tMin));
  const cutB = axes.map((ax) => Math.max(0, ax.tMin));
  const padE = rows.map((q, i) => Math.max(0, q + spans[i] - 1 + axes[i].tMin - outSize[i]));
  let g = dy;
  if (cutB.some((v2) => v2 > 0)) g = e.slice(g, cutB, outSize, spatialAxes(n));
  let z = e.node('Conv', [g, v], [
    A.i('group', group), A.ints('kernel_shape', spans), A.ints('pads', [...padB, ...padE]), A.ints('strides', new Array(n).fill(1)),
    A.ints('dilations', new Array(n).fill(1)),
  ], 1, 'ConvPhases')[0];
  const zLen = rows.map((_, i) => outSize[i] - cutB[i] + padB[i] + padE[i] - spans[i] + 1);
  if (zLen.some((l, i) => l !== rows[i])) z = e.slice(z, new Array(n).fill(0), rows, spatialAxes(n));
  // Interleave: [S, C, p…, Q…] → [S, C, Q1, p1, Q2, p2, …] → [S, C, Q1·s1, …], then crop to the input.
  if (!sparse && n === 2 && s[0] === s[1]) {
    z = e.op('DepthToSpace', [z], [A.i('blocksize', s[0]), A.s('mode', 'CRD')]);
    if (rows.some((q, i) => q * s[i] !== inSize[i])) z = e.slice(z, new Array(n).fill(0), inSize, spatialAxes(n));
    return z;
  }
  z = e.reshape(z, [seeds, channels, ...phases, ...rows]);
  z = e.transpose(z, [0, 1, ...range(0, n).flatMap((i) => [2 + n + i, 2 + i])]);
  if (sparse) {
    const shape = [seeds, channels, ...rows.flatMap((q) => [q, 1])];
    const before = live.map((l) => l[0]);
    const pads = new Array(2 * shape.length).fill(0);
    before.forEach((a, i) => {
      pads[3 + 2 * i] = a;
      pads[shape.length + 3 + 2 * i] = s[i] - 1 - a;
    });
    z = e.pad(e.reshape(z, shape), pads);
  }
  z = e.reshape(z, [seeds, channels, ...rows.map((q, i) => q * s[i])]);
  if (rows.some((q, i) => q * s[i] !== inSize[i])) z = e.slice(z, new Array(n).fill(0), inSize, spatialAxes(n));
  return z;
}

/**
 * How strided convolutions are differentiated. Measured in ORT 1.30 (2 threads, ResNet-18 at 224²):
 * ConvTranspose is as fast as the phase decomposition for 3×3 and 1×1 stride-2 convolutions (whose
 * phase kernels would waste 1.8× or 4× the multiplies), and slower for the 7×7 stem (1.85 vs 1.57 ms,
 * whose phase kernels waste 1.3×). 'auto' picks phases where their kernels waste at most 1.5× and
 * DepthToSpace can interleave them (2-D, equal strides, one group); tests force each method.
 */
export const STRIDED_CONV = { method: 'auto' as 'auto' | 'phases' | 'transpose' };

function usePhases(ws: number[], group: number, geo: Geometry): boolean {
  if (STRIDED_CONV.method !== 'auto') return STRIDED_CONV.method === 'phases';
  const { kernel, strides: s, dilations: d, begin } = geo;
  if (group !== 1 || kernel.length !== 2 || s[0] !== s[1]) return false;
  const axes = kernel.map((k, i) => axisPhases(k, s[i], d[i], begin[i]));
  if (axes.some((ax) => ax.taps.some((t) => t.length === 0))) return false;
  const waste = axes.reduce((w, ax, i) => (w * s[i] * ax.span) / kernel[i], 1);
  return waste <= 1.5 && ws.length === 4;
}

const conv: Rule = (c) => {
  const [x, w] = c.node.inputs;
  if (c.needs[1] || c.needs[2]) return c.unsupported('its weights depend on the input');
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const ws = c.shape(w);
  const group = attrInt(c.node.proto, 'group', 1);
  const geo = geometry(c, c.shape(x), c.shape(c.node.outputs[0]), attrInts(c.node.proto, 'kernel_shape') ?? ws.slice(2));
  const dx = geo.strides.every((s) => s === 1)
    ? convStride1Grad(c, dy, w, ws, group, geo)
    : usePhases(ws, group, geo) ? convPhaseGrad(c, dy, w, ws, group, geo) : convStridedGrad(c, dy, w, group, geo);
  return [dx];
};

/**
 * ConvTranspose is the adjoint of a Conv with the same weights, strides, dilations, pads and groups, so its
 * input gradient is that Conv applied to dy: W [C_in, C_out/g, k…] is already a Conv kernel
 * [M = C_in, C/g = C_out/g, k…], with no flip. The Conv's output length floor((Y + pads − span)/s) + 1 is
 * X, since output_padding < stride. Sizes given only by output_shape / auto_pad are refused.
 */
const convTranspose: Rule = (c) => {
  const [, w] = c.node.inputs;
  if (c.needs[1] || c.needs[2]) return c.unsupported('its weights depend on the input');
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const p = c.node.proto;
  if (findAttr(p, 'output_shape') || attrString(p, 'auto_pad', 'NOTSET') !== 'NOTSET') {
    return c.unsupported('its output size is given by output_shape or auto_pad; give explicit pads');
  }
  const ws = c.shape(w);
  const n = ws.length - 2;
  const attrs = [
    A.ints('kernel_shape', attrInts(p, 'kernel_shape') ?? ws.slice(2)),
    A.ints('strides', attrInts(p, 'strides') ?? new Array(n).fill(1)),
    A.ints('dilations', attrInts(p, 'dilations') ?? new Array(n).fill(1)),
    A.ints('pads', attrInts(p, 'pads') ?? new Array(2 * n).fill(0)),
    A.i('group', attrInt(p, 'group', 1)),
  ];
  return [c.e.op('Conv', [dy, w], attrs)];
};

/**
 * Scatters a MaxPool gradient may take below opset 16: each is a full-size graph node, and a 63×63
 * stride-1 pool (3969 of them) took 25 s and 650 MB to build. 64 allows stride-1 windows up to 8×8.
 */
const MAX_POOL_PHASES = 64;

/** MaxPool: dy goes to the argmax of each window (the Indices output), summed where windows share one. */
const maxPool: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const p = c.node.proto;
  if (attrInt(p, 'storage_order', 0) !== 0) return c.unsupported('with column-major indices (storage_order 1)');
  const x = c.node.inputs[0];
  const xs = c.shape(x);
  const ys = c.shape(c.node.outputs[0]);
  const geo = geometry(c, xs, ys, attrInts(p, 'kernel_shape') ?? []);
  const indices = c.maxPoolIndices();
  const e = c.e;
  const seeds = gshape(c, ys)[0];
  // In a batched graph the Indices count from the start of the whole batch (ONNX flattens N·C·H·W), so
  // all rows scatter into one flat row; with several seeds over one input they index one item.
  const zeros = c.batched ? e.reshape(e.zerosLike(x), [1, -1]) : e.zeros([seeds, prod(xs)]);
  const flat = (g: string, count: number, isIndex: boolean) => {
    if (c.batched) return e.reshape(g, [1, -1]);
    const r = e.reshape(g, [isIndex ? 1 : seeds, count]);
    return isIndex && seeds > 1 ? e.expand(r, [seeds, count]) : r;
  };
  const overlapping = geo.kernel.some((k, i) => (k - 1) * geo.dilations[i] + 1 > geo.strides[i]);
  // Below opset 16, windows every P-th along each axis are disjoint (P·s ≥ window extent).
  const period = geo.kernel.map((k, i) => Math.ceil(((k - 1) * geo.dilations[i] + 1) / geo.strides[i]));
  if (overlapping && c.opset < 16 && prod(period) > MAX_POOL_PHASES) {
    return c.unsupported(`its overlapping windows would need ${prod(period)} scatters below opset 16; ` +
      're-export the model with opset 16 or newer');
  }
  let out: string;
  if (!overlapping || c.opset >= 16) {
    // Disjoint windows never pick the same element: a plain scatter. Overlapping ones add (opset 16).
    out = e.scatter(zeros, flat(indices, prod(ys), true), flat(dy, prod(ys), false), overlapping);
  } else {
    // Opset < 16 has no adding scatter: split the windows into phases whose windows are disjoint
    // (every P-th window along each axis, P·s ≥ window extent), scatter each, and sum.
    const n = xs.length - 2;
    const parts: string[] = [];
    const phase = new Array(n).fill(0);
    for (;;) {
      if (phase.every((a, i) => a < ys[i + 2])) {
        const counts = phase.map((a, i) => Math.ceil((ys[i + 2] - a) / period[i]));
        const count = ys[0] * ys[1] * prod(counts);
        const pick = (t: string) => e.slice(t, phase, ys.slice(2), spatialAxes(n), period);
        parts.push(e.scatter(zeros, flat(pick(indices), count, true), flat(pick(dy), count, false), false));
      }
      let i = 0;
      while (i < n && ++phase[i] >= period[i]) phase[i++] = 0;
      if (i === n) break;
    }
    out = e.sum(parts);
  }
  return [gradReshape(c, out, xs)];
};

/** How many input cells of each window lie inside the input (padding excluded), per output cell. */
function validCounts(geo: Geometry): number[] {
  const perAxis = geo.outSize.map((o, i) => Array.from({ length: o }, (_, j) => {
    let count = 0;
    for (let k = 0; k < geo.kernel[i]; k++) {
      const at = j * geo.strides[i] - geo.begin[i] + k * geo.dilations[i];
      if (at >= 0 && at < geo.inSize[i]) count++;
    }
    return count;
  }));
  let out = [1];
  for (const axis of perAxis) out = out.flatMap((v) => axis.map((a) => v * a));
  return out;
}

/**
 * AveragePool: each output cell hands dy/divisor to the cells of its window. The divisor is whatever
 * ONNX Runtime's forward uses (count_include_pad, ceil_mode): AveragePool of ones gives valid/divisor,
 * and valid (cells inside the input) is plain geometry. Both fold into a constant at session creation.
 */
const averagePool: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const e = c.e;
  const p = c.node.proto;
  const xs = c.shape(c.node.inputs[0]);
  const ys = c.shape(c.node.outputs[0]);
  const n = xs.length - 2;
  const geo = geometry(c, xs, ys, attrInts(p, 'kernel_shape') ?? []);
  const ones = e.f32(new Float32Array(prod(geo.inSize)).fill(1), [1, 1, ...geo.inSize]);
  const pooledOnes = e.op('AveragePool', [ones], p.attribute ?? []);
  const valid = e.f32(validCounts(geo).map((v) => Math.max(1, v)), [1, 1, ...geo.outSize]);
  const scaled = e.mul(dy, e.div(pooledOnes, valid));
  const seeds = gshape(c, ys)[0];
  const { kernel: k, strides: s, dilations: d, begin, inSize: size, outSize: out } = geo;
  if (k.every((ki, i) => ki === s[i] && d[i] === 1 && begin[i] === 0)) {
    // Disjoint tiling windows: repeat each cell k times per axis, then fit to the input's size.
    const split = out.flatMap((o) => [o, 1]);
    const tiled = e.expand(e.reshape(scaled, [seeds, ys[1], ...split]), [1, ys[1], ...out.flatMap((o, i) => [o, k[i]])]);
    let dx = e.reshape(tiled, [seeds, ys[1], ...out.map((o, i) => o * k[i])]);
    const covered = out.map((o, i) => o * k[i]);
    dx = e.pad(dx, [0, 0, ...covered.map(() => 0), 0, 0, ...covered.map((v, i) => Math.max(0, size[i] - v))]);
    if (covered.some((v, i) => v > size[i])) dx = e.slice(dx, new Array(n).fill(0), size, spatialAxes(n));
    return [dx];
  }
  // General windows: the transpose of a depthwise all-ones convolution.
  const channels = xs[1];
  const kernelOnes = e.f32(new Float32Array(channels * prod(k)).fill(1), [channels, 1, ...k]);
  const over = size.map((l, i) => (out[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - begin[i] - l);
  return [e.op('ConvTranspose', [scaled, kernelOnes], [
    A.i('group', channels), A.ints('dilations', d), A.ints('kernel_shape', k), A.ints('strides', s),
    A.ints('pads', [...begin, ...over.map((v) => Math.max(0, v))]), A.ints('output_padding', over.map((v) => Math.max(0, -v))),
  ])];
};

const globalAveragePool: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const xs = c.shape(c.node.inputs[0]);
  gshape(c, xs);
  return [c.e.expand(c.e.mul(dy, c.e.scalar(1 / prod(xs.slice(2)))), xs)];
};

/**
 * The axes a Reduce* node reduces (an attribute, or an input from `inputSince`), normalized; undefined
 * when it reduces nothing (empty axes with noop_with_empty_axes).
 */
function reducedAxes(c: RuleContext, inputSince: number): number[] | undefined {
  const p = c.node.proto;
  const rank = c.shape(c.node.inputs[0]).length;
  const axes = c.opset >= inputSince ? (c.node.inputs[1] ? c.value(c.node.inputs[1]) : []) : attrInts(p, 'axes') ?? [];
  if (axes === undefined) return c.unsupported('its axes depend on the input');
  if (axes.length === 0 && attrInt(p, 'noop_with_empty_axes', 0)) return undefined;
  const out = axes.length ? axes.map((a) => normAxis(a, rank)) : range(0, rank);
  if (out.includes(0)) axis0(c);
  return out;
}

/** A reduction's dy (or forward output) with the reduced axes kept as 1s, so it broadcasts against x. */
function keptDims(c: RuleContext, t: string, axes: number[], isGrad: boolean): string {
  if (attrInt(c.node.proto, 'keepdims', 1)) return t;
  const kept = c.shape(c.node.inputs[0]).map((v, i) => (axes.includes(i) ? 1 : v));
  return isGrad ? gradReshape(c, t, kept) : forwardReshape(c, t, kept);
}

/** ReduceMean / ReduceSum: dy spread evenly (or copied) over the reduced axes. */
function reduceRule(mean: boolean): Rule {
  return (c) => {
    const dy = c.dy[0];
    if (!c.needs[0] || !dy) return [];
    const xs = c.shape(c.node.inputs[0]);
    const axes = reducedAxes(c, mean ? 18 : 13);
    if (!axes) return [dy];
    let g = keptDims(c, dy, axes, true);
    if (mean) g = c.e.mul(g, c.e.scalar(1 / prod(axes.map((a) => xs[a]))));
    return [c.e.expand(g, xs)];
  };
}

/**
 * ReduceMax / ReduceMin: dx = dy·(x == y), as tfjs's Max/Min gradients (gradForMinAndMax) do for the
 * Keras models converted here: every element equal to the extremum gets all of dy, ties unsplit
 * (TensorFlow's own and PyTorch's amax split it equally among ties instead). Axes became an input in opset 18.
 */
const reduceExtremum: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const axes = reducedAxes(c, 18);
  if (!axes) return [dy];
  const e = c.e;
  const hit = e.maskOf(e.op('Equal', [c.node.inputs[0], keptDims(c, c.node.outputs[0], axes, false)]));
  return [e.mul(keptDims(c, dy, axes, true), hit)];
};

/** GlobalMaxPool: dy to every cell equal to its channel's max (the ReduceMax rule, ties unsplit as in tfjs). */
const globalMaxPool: Rule = (c) => masked(c, (x, y) => c.e.maskOf(c.e.op('Equal', [x, y])));

// --- elementwise -------------------------------------------------------------------------------

/** dx = dy · mask, where mask is computed from forward values. */
function masked(c: RuleContext, mask: (x: string, y: string) => string): (string | undefined)[] {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  return [c.e.mul(dy, mask(c.node.inputs[0], c.node.outputs[0]))];
}

/**
 * ReLU: dy passes where x > 0 (PyTorch's threshold_backward). Guided Backpropagation (Springenberg et
 * al. 2015) also drops negative gradients: dx = dy·(x > 0)·(dy > 0) = relu(dy)·(x > 0).
 *
 * Only Relu nodes are guided, as in Captum's GuidedBackprop (which hooks `torch.nn.ReLU` modules only,
 * captum/attr/_core/guided_backprop_deconvnet.py) and pytorch-grad-cam's GuidedBackpropReLUModel (which
 * swaps only `torch.nn.ReLU`): ReLU6 (exported as Clip), LeakyRelu, PRelu, Elu, HardSwish and the other
 * activations keep their ordinary gradients.
 */
const relu: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.guided || !c.needs[0] || !dy) return masked(c, (x) => c.e.maskOf(c.e.greater(x, c.e.scalar(0))));
  const e = c.e;
  return [e.mul(e.op('Relu', [dy]), e.maskOf(e.greater(c.node.inputs[0], e.scalar(0))))];
};

const leakyRelu: Rule = (c) => masked(c, (x) =>
  c.e.where(c.e.greater(x, c.e.scalar(0)), c.e.scalar(1), c.e.scalar(attrFloat(c.node.proto, 'alpha', 0.01))));

const prelu: Rule = (c) => {
  if (c.needs[1]) return c.unsupported('its slope depends on the input');
  return masked(c, (x) => c.e.where(c.e.greater(x, c.e.scalar(0)), c.e.scalar(1), c.node.inputs[1]));
};

const sigmoid: Rule = (c) => masked(c, (_x, y) => c.e.mul(y, c.e.sub(c.e.scalar(1), y)));

/** y = clip(αx+β, 0, 1): slope α strictly inside, where 0 < y < 1. */
const hardSigmoid: Rule = (c) => masked(c, (_x, y) => {
  const e = c.e;
  const inside = e.and(e.greater(y, e.scalar(0)), e.less(y, e.scalar(1)));
  return e.where(inside, e.scalar(attrFloat(c.node.proto, 'alpha', 0.2)), e.scalar(0));
});

/** y = x·clip(x/6 + 1/2, 0, 1): 0 below −3, 1 above 3, x/3 + 1/2 between (as PyTorch, −3 inclusive). */
const hardSwish: Rule = (c) => masked(c, (x) => {
  const e = c.e;
  const middle = e.add(e.mul(x, e.scalar(1 / 3)), e.scalar(0.5));
  return e.where(e.less(x, e.scalar(-3)), e.scalar(0), e.where(e.greater(x, e.scalar(3)), e.scalar(1), middle));
});

/** Clip: dy passes where the input lies strictly between the bounds (bounds as inputs or, before opset 11, attributes). */
const clip: Rule = (c) => {
  if (c.needs[1] || c.needs[2]) return c.unsupported('its bounds depend on the input');
  const e = c.e;
  const p = c.node.proto;
  const bound = (index: number, attr: string) =>
    c.node.inputs[index] || (findAttr(p, attr) ? e.scalar(attrFloat(p, attr, 0)) : undefined);
  const lo = bound(1, 'min');
  const hi = bound(2, 'max');
  if (!lo && !hi) return [c.dy[0]];
  return masked(c, (x) => {
    const above = lo && e.greater(x, lo);
    const below = hi && e.less(x, hi);
    return e.maskOf(above && below ? e.and(above, below) : (above ?? below)!);
  });
};

const tanh: Rule = (c) => masked(c, (_x, y) => c.e.sub(c.e.scalar(1), c.e.mul(y, y)));
const exp: Rule = (c) => masked(c, (_x, y) => y);
const neg: Rule = (c) => (c.needs[0] && c.dy[0] ? [c.e.neg(c.dy[0])] : []);

/** Elu, y = α(eˣ − 1) for x ≤ 0: slope 1 above 0, eˣ·α = y + α below. */
const elu: Rule = (c) => masked(c, (x, y) =>
  c.e.where(c.e.greater(x, c.e.scalar(0)), c.e.scalar(1), c.e.add(y, c.e.scalar(attrFloat(c.node.proto, 'alpha', 1)))));

/** Selu, y = γx above 0 and γα(eˣ − 1) below: slope γ, and γαeˣ = y + γα. */
const selu: Rule = (c) => masked(c, (x, y) => {
  const p = c.node.proto;
  const gamma = attrFloat(p, 'gamma', 1.05070102214813232421875);
  const alpha = attrFloat(p, 'alpha', 1.67326319217681884765625);
  return c.e.where(c.e.greater(x, c.e.scalar(0)), c.e.scalar(gamma), c.e.add(y, c.e.scalar(gamma * alpha)));
});

/** Celu, y = max(0, x) + min(0, α(e^(x/α) − 1)): slope 1 above 0, e^(x/α) = y/α + 1 below. */
const celu: Rule = (c) => masked(c, (x, y) => {
  const alpha = attrFloat(c.node.proto, 'alpha', 1);
  return c.e.where(c.e.greater(x, c.e.scalar(0)), c.e.scalar(1), c.e.add(c.e.mul(y, c.e.scalar(1 / alpha)), c.e.scalar(1)));
});

/** Softplus, y = ln(1 + eˣ): the slope is sigmoid(x). */
const softplus: Rule = (c) => masked(c, (x) => c.e.op('Sigmoid', [x]));

/** Softsign, y = x/(1 + |x|): slope 1/(1 + |x|)² (from x: 1 − |y| loses precision for large |x|). */
const softsign: Rule = (c) => masked(c, (x) => {
  const t = c.e.add(c.e.scalar(1), c.e.op('Abs', [x]));
  return c.e.div(c.e.scalar(1), c.e.mul(t, t));
});

/** Erf: slope 2/√π·exp(−x²). */
const erf: Rule = (c) => masked(c, (x) =>
  c.e.mul(c.e.op('Exp', [c.e.mul(c.e.mul(x, x), c.e.scalar(-1))]), c.e.scalar(2 / Math.sqrt(Math.PI))));

/** Sqrt: slope 1/(2√x) = 0.5/y (infinite at 0, as in PyTorch and TensorFlow). */
const sqrt: Rule = (c) => masked(c, (_x, y) => c.e.div(c.e.scalar(0.5), y));

/** Reciprocal, y = 1/x: slope −1/x² = −y². */
const reciprocal: Rule = (c) => masked(c, (_x, y) => c.e.neg(c.e.mul(y, y)));

/** Abs: slope sign(x), 0 at 0 (as PyTorch and TensorFlow). */
const abs: Rule = (c) => masked(c, (x) => c.e.op('Sign', [x]));

/** Log: slope 1/x. */
const log: Rule = (c) => masked(c, (x) => c.e.op('Reciprocal', [x]));

/**
 * Pow with an exponent b that does not depend on the input: dx = dy·b·x^(b−1), summed over where b
 * broadcast x. b may be an integer tensor (Pow 12+), so a known b becomes a float constant, else a Cast.
 */
const pow: Rule = (c) => {
  if (c.needs[1]) return c.unsupported('its exponent depends on the input');
  const e = c.e;
  const b = c.node.inputs[1];
  const known = c.value(b);
  const bs = c.shape(b);
  const exponent = known ? e.f32(known, bs) : e.cast(b, DataType.FLOAT);
  const lower = known ? e.f32(known.map((v) => v - 1), bs) : e.sub(exponent, e.scalar(1));
  return binary(c, (dy, x) => [() => e.mul(dy, e.mul(exponent, e.op('Pow', [x, lower]))), undefined]);
};

/** Mish, y = x·tanh(softplus(x)): slope t + x·sigmoid(x)·(1 − t²) with t = tanh(softplus(x)). */
const mish: Rule = (c) => masked(c, (x) => {
  const e = c.e;
  const t = e.op('Tanh', [e.op('Softplus', [x])]);
  return e.add(t, e.mul(e.mul(x, e.op('Sigmoid', [x])), e.sub(e.scalar(1), e.mul(t, t))));
});

/**
 * Gelu (opset 20). Exact, y = x·Φ(x): slope Φ(x) + x·φ(x), Φ(x) = ½(1 + erf(x/√2)), φ(x) = exp(−x²/2)/√(2π).
 * approximate "tanh", y = ½x(1 + t), t = tanh(k(x + 0.044715x³)), k = √(2/π): slope ½(1 + t) + ½x(1 − t²)·k(1 + 3·0.044715x²).
 */
const gelu: Rule = (c) => {
  const approximate = attrString(c.node.proto, 'approximate', 'none');
  if (approximate !== 'none' && approximate !== 'tanh') return c.unsupported(`with approximate "${approximate}"`);
  return masked(c, (x) => geluSlope(c.e, x, approximate === 'tanh'));
};

function geluSlope(e: Emitter, x: string, tanhApproximation: boolean): string {
  const k = (v: number) => e.scalar(v);
  const xx = e.mul(x, x);
  if (tanhApproximation) {
    const s = Math.sqrt(2 / Math.PI);
    const t = e.op('Tanh', [e.mul(e.mul(x, e.add(k(1), e.mul(xx, k(0.044715)))), k(s))]);
    const dt = e.mul(e.sub(k(1), e.mul(t, t)), e.add(k(s), e.mul(xx, k(3 * 0.044715 * s))));
    return e.mul(e.add(e.add(k(1), t), e.mul(x, dt)), k(0.5));
  }
  const cdf = e.mul(e.add(k(1), e.op('Erf', [e.mul(x, k(Math.SQRT1_2))])), k(0.5));
  const pdf = e.mul(e.op('Exp', [e.mul(xx, k(-0.5))]), k(1 / Math.sqrt(2 * Math.PI)));
  return e.add(cdf, e.mul(x, pdf));
}

function softmaxAxes(c: RuleContext, rank: number): number[] {
  const p = c.node.proto;
  const axis = normAxis(attrInt(p, 'axis', c.opset >= 13 ? -1 : 1), rank);
  const axes = c.opset >= 13 ? [axis] : range(axis, rank);
  if (axes.includes(0)) axis0(c);
  return axes;
}

/** Softmax inside the network: dx = y·(dy − Σ dy·y). */
const softmax: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const y = c.node.outputs[0];
  const e = c.e;
  const axes = softmaxAxes(c, c.shape(y).length);
  return [e.mul(y, e.sub(dy, e.reduceSum(e.mul(dy, y), axes, true)))];
};

/** LogSoftmax: dx = dy − softmax·Σ dy. */
const logSoftmax: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const y = c.node.outputs[0];
  const e = c.e;
  const axes = softmaxAxes(c, c.shape(y).length);
  return [e.sub(dy, e.mul(e.op('Exp', [y]), e.reduceSum(dy, axes, true)))];
};

// --- binary, broadcasting ----------------------------------------------------------------------

function binary(c: RuleContext, grads: (dy: string, a: string, b: string) => [(() => string) | undefined, (() => string) | undefined]) {
  const dy = c.dy[0];
  if (!dy) return [];
  const [a, b] = c.node.inputs;
  const ys = c.shape(c.node.outputs[0]);
  const [ga, gb] = grads(dy, a, b);
  return [
    c.needs[0] && ga ? unbroadcast(c, ga(), ys, c.shape(a)) : undefined,
    c.needs[1] && gb ? unbroadcast(c, gb(), ys, c.shape(b)) : undefined,
  ];
}

const add: Rule = (c) => binary(c, (dy) => [() => dy, () => dy]);
const sub: Rule = (c) => binary(c, (dy) => [() => dy, () => c.e.neg(dy)]);
const mul: Rule = (c) => binary(c, (dy, a, b) => [() => c.e.mul(dy, b), () => c.e.mul(dy, a)]);
const div: Rule = (c) => binary(c, (dy, _a, b) => [
  () => c.e.div(dy, b),
  () => c.e.neg(c.e.mul(dy, c.e.div(c.node.outputs[0], b))),
]);

/** Max/Min of two inputs: dy goes to the one chosen (the first on ties). */
function extremum(isMax: boolean): Rule {
  return (c) => {
    if (c.node.inputs.length !== 2) return c.unsupported(`with ${c.node.inputs.length} inputs`);
    return binary(c, (dy, a, b) => {
      const e = c.e;
      const firstWins = e.not(isMax ? e.less(a, b) : e.greater(a, b));
      const zero = e.scalar(0);
      return [() => e.where(firstWins, dy, zero), () => e.where(firstWins, zero, dy)];
    });
  };
}

/** Sum, and Mean (the elementwise mean of its inputs): dy (or dy/n) to each input, summed where it broadcast. */
function variadicSum(mean: boolean): Rule {
  return (c) => {
    const dy = c.dy[0];
    if (!dy) return [];
    const ys = c.shape(c.node.outputs[0]);
    const g = mean ? c.e.mul(dy, c.e.scalar(1 / c.node.inputs.length)) : dy;
    return c.node.inputs.map((x, i) => (c.needs[i] ? unbroadcast(c, g, ys, c.shape(x)) : undefined));
  };
}

const where: Rule = (c) => {
  const dy = c.dy[0];
  if (!dy) return [];
  const [cond, a, b] = c.node.inputs;
  const ys = c.shape(c.node.outputs[0]);
  const zero = c.e.scalar(0);
  return [
    undefined,
    c.needs[1] ? unbroadcast(c, c.e.where(cond, dy, zero), ys, c.shape(a)) : undefined,
    c.needs[2] ? unbroadcast(c, c.e.where(cond, zero, dy), ys, c.shape(b)) : undefined,
  ];
};

const expand: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  return [unbroadcast(c, dy, c.shape(c.node.outputs[0]), c.shape(c.node.inputs[0]))];
};

/**
 * Tile: output cell r·len + i along an axis copies input cell i, so dy viewed as [repeats, len] per axis
 * (row-major, the copy index outermost) is summed over the copies.
 */
const tile: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const repeats = c.value(c.node.inputs[1]);
  if (!repeats) return c.unsupported('its repeats depend on the input');
  const xs = c.shape(c.node.inputs[0]);
  if (repeats[0] !== 1) axis0(c);
  const split: number[] = [];
  const copies: number[] = [];
  xs.forEach((len, i) => {
    if (repeats[i] !== 1) {
      copies.push(split.length);
      split.push(repeats[i]);
    }
    split.push(len);
  });
  if (!copies.length) return [dy];
  return [c.e.reduceSum(gradReshape(c, dy, split), copies, false)];
};

// --- batch normalization, dense ------------------------------------------------------------------

/** Inference BatchNormalization: dx = dy · γ/√(var+ε), per channel. */
const batchNorm: Rule = (c) => {
  if (c.needs.slice(1).some(Boolean)) return c.unsupported('its statistics depend on the input');
  const p = c.node.proto;
  if (attrInt(p, 'training_mode', 0) || c.node.outputs.slice(1).some(Boolean)) return c.unsupported('in training mode');
  if (findAttr(p, 'spatial') && attrInt(p, 'spatial', 1) === 0) return c.unsupported('with spatial = 0');
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const e = c.e;
  const [x, scale, , , variance] = c.node.inputs;
  const xs = c.shape(x);
  const factor = e.div(scale, e.op('Sqrt', [e.add(variance, e.scalar(attrFloat(p, 'epsilon', 1e-5)))]));
  return [e.mul(dy, e.reshape(factor, [xs[1], ...new Array(xs.length - 2).fill(1)]))];
};

/** Gemm: Y = α·A'·B' + β·C with A' = Aᵀ if transA, B' = Bᵀ if transB. */
const gemm: Rule = (c) => {
  const dy = c.dy[0];
  if (!dy) return [];
  const e = c.e;
  const p = c.node.proto;
  const [a, b, bias] = c.node.inputs;
  const alpha = attrFloat(p, 'alpha', 1);
  const beta = attrFloat(p, 'beta', 1);
  const transA = attrInt(p, 'transA', 0);
  const transB = attrInt(p, 'transB', 0);
  const gemmOf = (x: string, y: string, ta: number, tb: number) =>
    e.op('Gemm', [x, y], [A.i('transA', ta), A.i('transB', tb), ...(alpha !== 1 ? [A.f('alpha', alpha)] : [])]);
  const out: (string | undefined)[] = [];
  if (c.needs[0]) {
    if (transA) axis0(c);
    // dA' = α·dY·B'ᵀ; dA = (dA')ᵀ when transA.
    out[0] = transA ? gemmOf(b, dy, transB, 1) : gemmOf(dy, b, 0, transB ? 0 : 1);
  }
  if (c.needs[1]) {
    axis0(c);
    // dB' = α·A'ᵀ·dY; dB = (dB')ᵀ when transB.
    out[1] = transB ? gemmOf(dy, a, 1, transA) : gemmOf(a, dy, transA ? 0 : 1, 0);
  }
  if (c.needs[2] && bias) {
    const scaled = beta === 1 ? dy : e.mul(dy, e.scalar(beta));
    out[2] = unbroadcast(c, scaled, c.shape(c.node.outputs[0]), c.shape(bias));
  }
  return out;
};

/** MatMul with numpy semantics (1-D operands promoted, batch dims broadcast). */
const matMul: Rule = (c) => {
  const dy = c.dy[0];
  if (!dy) return [];
  const e = c.e;
  const [a, b] = c.node.inputs;
  const as = c.shape(a);
  const bs = c.shape(b);
  const ys = c.shape(c.node.outputs[0]);
  const swapLast = (rank: number) => [...range(0, rank - 2), rank - 1, rank - 2];
  if (as.length === 1 && bs.length === 1) {
    // A dot product: y is a scalar (one seed, as emitBackward only batches outputs with a batch axis).
    return [c.needs[0] ? e.mul(dy, b) : undefined, c.needs[1] ? e.mul(dy, a) : undefined];
  }
  const out: (string | undefined)[] = [];
  if (c.needs[0]) {
    if (bs.length === 1) {
      // y[..., m] = Σ_k a[..., m, k]·b[k]
      out[0] = unbroadcast(c, e.mul(gradReshape(c, dy, [...ys, 1]), b), [...ys, bs[0]], as);
    } else if (as.length === 1) {
      axis0(c);
      const g = e.op('MatMul', [b, e.reshape(dy, [...ys.slice(0, -1), ys[ys.length - 1], 1])]);
      out[0] = e.reshape(e.reduceSum(g, range(0, bs.length - 2), false), as);
    } else if (bs.length === 2) {
      // dY·Bᵀ computed as (B·dYᵀ)ᵀ: with B a weight, Transpose(B) is folded by ONNX Runtime into a transposed copy
      // of the weight in every session (ViT-B/16: 311 MB more and ~1.3 s CPU to create the saliency session) and
      // prepacked once more; as Gemm's A operand B is read where it is. Same sums over k, same values.
      const rowsOfDy = e.reshape(dy, [-1, ys[ys.length - 1]]);
      const gt = e.op('Gemm', [b, rowsOfDy], [A.i('transB', 1)]);
      out[0] = gradReshape(c, e.transpose(gt, [1, 0]), as);
    } else {
      const g = e.op('MatMul', [dy, e.transpose(b, swapLast(bs.length))]);
      out[0] = unbroadcast(c, g, [...ys.slice(0, -1), as[as.length - 1]], as);
    }
  }
  if (c.needs[1]) {
    if (as.length === 1) {
      // y[..., n] = Σ_k a[k]·b[..., k, n]
      const g = e.mul(e.reshape(a, [as[0], 1]), gradReshape(c, dy, [...ys.slice(0, -1), 1, ys[ys.length - 1]]));
      out[1] = unbroadcast(c, g, [...ys.slice(0, -1), as[0], ys[ys.length - 1]], bs);
    } else if (bs.length === 1) {
      axis0(c);
      const g = e.op('MatMul', [e.reshape(dy, [...ys.slice(0, -1), 1, ys[ys.length - 1]]), a]);
      out[1] = e.reshape(e.reduceSum(g, range(0, as.length - 1), false), bs);
    } else {
      const g = e.op('MatMul', [e.transpose(a, swapLast(as.length)), dy]);
      out[1] = unbroadcast(c, g, [...ys.slice(0, -2), as[as.length - 1], ys[ys.length - 1]], bs);
    }
  }
  return out;
};

// --- shape ops ----------------------------------------------------------------------------------

const passThrough: Rule = (c) => [c.needs[0] ? c.dy[0] : undefined];

const reshapeBack: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const xs = c.shape(c.node.inputs[0]);
  gshape(c, c.shape(c.node.outputs[0]));
  return [gradReshape(c, dy, xs)];
};

const dropout: Rule = (c) => {
  const training = c.node.inputs[2];
  if (training) {
    const v = c.value(training);
    // In training mode a ratio of 0 drops nothing and scales by 1: the identity (torchvision's Swin exports its
    // attention dropout so). Any other ratio drops at random: no gradient of the model's function.
    const ratio = c.node.inputs[1] ? c.value(c.node.inputs[1])?.[0] : 0.5;
    if (v === undefined || (v[0] && ratio !== 0)) return c.unsupported('in training mode');
  }
  return passThrough(c);
};

const cast: Rule = (c) => {
  if (attrInt(c.node.proto, 'to', 0) !== DataType.FLOAT) return c.unsupported('to a type other than float32');
  return passThrough(c);
};

const transpose: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const rank = c.shape(c.node.inputs[0]).length;
  const perm = attrInts(c.node.proto, 'perm') ?? range(0, rank).reverse();
  if (perm[0] !== 0) axis0(c);
  const inverse = new Array<number>(rank);
  perm.forEach((p, i) => (inverse[p] = i));
  return [c.e.transpose(dy, inverse)];
};

const concat: Rule = (c) => {
  const dy = c.dy[0];
  if (!dy) return [];
  const rank = c.shape(c.node.outputs[0]).length;
  const axis = normAxis(attrInt(c.node.proto, 'axis', 0), rank);
  if (axis === 0) axis0(c);
  let offset = 0;
  return c.node.inputs.map((x, i) => {
    const len = c.shape(x)[axis];
    const start = offset;
    offset += len;
    return c.needs[i] ? c.e.slice(dy, [start], [start + len], [axis]) : undefined;
  });
};

const split: Rule = (c) => {
  if (!c.needs[0] || c.dy.every((d) => !d)) return [];
  const rank = c.shape(c.node.inputs[0]).length;
  const axis = normAxis(attrInt(c.node.proto, 'axis', 0), rank);
  if (axis === 0) axis0(c);
  const parts = c.node.outputs.map((o, j) => c.dy[j] ?? gradZeros(c, o));
  return [c.e.op('Concat', parts, [A.i('axis', axis)])];
};

/** Slice: dy placed back where it came from (interleaved with zeros for |steps| > 1, reversed for negative steps). */
const slice: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const e = c.e;
  const p = c.node.proto;
  const xs = c.shape(c.node.inputs[0]);
  const ys = c.shape(c.node.outputs[0]);
  const rank = xs.length;
  const param = (index: number, attr: string) => {
    if (c.opset >= 10) return c.node.inputs[index] ? c.value(c.node.inputs[index]) : undefined;
    return attrInts(p, attr);
  };
  const starts = param(1, 'starts');
  const ends = param(2, 'ends');
  if (!starts || !ends) return c.unsupported('its bounds depend on the input');
  const axes = (param(3, 'axes') ?? range(0, starts.length)).map((a) => normAxis(a, rank));
  const steps = param(4, 'steps') ?? new Array(axes.length).fill(1);
  if (steps.some((s) => s === 0)) return c.unsupported('with a step of 0');
  // A batched graph's forward slice along axis 0 would cut the batch, whatever the bounds at batch 1.
  if (axes.includes(0) && (ys[0] !== xs[0] || c.batched || steps[axes.indexOf(0)] < 0)) axis0(c);
  let g = dy;
  // The forward extent covered so far (axis 0 is never sliced here, so its seeds stay out of the arithmetic).
  let shape = [...ys];
  const begin = new Array(rank).fill(0);
  axes.forEach((axis, k) => {
    const len = xs[axis];
    let start = starts[k] < 0 ? starts[k] + len : starts[k];
    let step = steps[k];
    if (step < 0) {
      // Output j read x[start − j·|step|] (start clamped to [0, len − 1], as ONNX does for negative steps):
      // dy reversed along the axis is the positive-step slice from the last cell read.
      start = Math.min(Math.max(start, 0), len - 1) - (ys[axis] - 1) * -step;
      step = -step;
      if (ys[axis] > 1) g = e.slice(g, [-1], [BEFORE_START], [axis], [-1]);
    }
    start = Math.min(Math.max(start, 0), len);
    begin[axis] = start;
    if (step > 1) {
      const withOne = [...shape.slice(0, axis + 1), 1, ...shape.slice(axis + 1)];
      const pads = new Array(2 * withOne.length).fill(0);
      pads[withOne.length + axis + 1] = step - 1;
      g = e.pad(gradReshape(c, g, withOne), pads);
      shape = [...shape.slice(0, axis), shape[axis] * step, ...shape.slice(axis + 1)];
      g = gradReshape(c, g, shape);
    }
  });
  const after = xs.map((l, i) => l - begin[i] - shape[i]);
  g = e.pad(g, [...begin, ...after.map((a) => Math.max(0, a))]);
  const crop = range(0, rank).filter((i) => after[i] < 0);
  if (crop.length) g = e.slice(g, crop.map(() => 0), crop.map((i) => xs[i]), crop);
  return [g];
};

/**
 * Indices of a Gather or GatherElements as int64 in [0, len): constants normalized here (with `repeats`
 * saying whether two land on one cell of the data), computed ones wrapped at run time.
 */
function gatherIndices(c: RuleContext, indices: string, len: number, cell: (flat: number, index: number) => number):
  { tensor: string; repeats: boolean } {
  const e = c.e;
  const dims = c.shape(indices);
  const known = c.value(indices);
  if (known) {
    const wrapped = known.map((v) => (v < 0 ? v + len : v));
    const cells = new Set(wrapped.map((v, i) => cell(i, v)));
    return { tensor: e.i64(wrapped, dims), repeats: cells.size !== wrapped.length };
  }
  const asInt = e.cast(indices, DataType.INT64);
  const tensor = e.where(e.less(asInt, e.i64([0], [])), e.add(asInt, e.i64([len], [])), asInt);
  return { tensor, repeats: true };
}

/**
 * ScatterElements of `updates` into zeros of data's gradient shape along `axis`, adding where indices repeat
 * (reduction "add", opset 16). Below opset 16 only indices known not to repeat can be scattered.
 */
function scatterBack(c: RuleContext, data: string, indices: string, updates: string, axis: number, repeats: boolean): string {
  if (c.opset < 16 && repeats) {
    return c.unsupported('with indices that repeat or are computed, which need an adding scatter; ' +
      're-export the model with opset 16 or newer');
  }
  const attrs = c.opset >= 16 ? [A.i('axis', axis), A.s('reduction', 'add')] : [A.i('axis', axis)];
  // Expanded to the updates' shape, whose axis 0 carries the seeds (or the batch rows).
  const full = c.e.op('Expand', [indices, c.e.op('Shape', [updates])]);
  return c.e.op('ScatterElements', [gradZeros(c, data), full, updates], attrs);
}

/**
 * Gather (a class token picked with a scalar index, tokens picked by position): dy scattered back into zeros
 * of data's shape along the axis, summed where an index repeats. The indices' dims become one axis of K
 * (a scalar index, which drops the axis, gives K = 1), so the scatter's updates have data's rank.
 */
const gather: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const [data, indices] = c.node.inputs;
  const xs = c.shape(data);
  const axis = normAxis(attrInt(c.node.proto, 'axis', 0), xs.length);
  if (axis === 0) axis0(c);
  const count = prod(c.shape(indices));
  const pre = xs.slice(0, axis);
  const post = xs.slice(axis + 1);
  const { tensor, repeats } = gatherIndices(c, indices, xs[axis], (_i, v) => v);
  const updates = gradReshape(c, dy, [...pre, count, ...post]);
  const shaped = c.e.reshape(tensor, [...pre.map(() => 1), count, ...post.map(() => 1)]);
  return [scatterBack(c, data, shaped, updates, axis, repeats)];
};

/** GatherElements: dy scattered back with the same indices (ScatterElements is its adjoint), summed where they repeat. */
const gatherElements: Rule = (c) => {
  const dy = c.dy[0];
  if (!c.needs[0] || !dy) return [];
  const [data, indices] = c.node.inputs;
  const xs = c.shape(data);
  const is = c.shape(indices);
  const axis = normAxis(attrInt(c.node.proto, 'axis', 0), xs.length);
  if (axis === 0) axis0(c);
  // The data cell an element reads: its own coordinates with the index on `axis` (row-major in data).
  const cell = (flat: number, index: number) => {
    let at = 0;
    let rest = flat;
    const coords = new Array<number>(is.length);
    for (let d = is.length - 1; d >= 0; d--) {
      coords[d] = rest % is[d];
      rest = Math.floor(rest / is[d]);
    }
    coords[axis] = index;
    for (let d = 0; d < xs.length; d++) at = at * xs[d] + coords[d];
    return at;
  };
  const { tensor, repeats } = gatherIndices(c, indices, xs[axis], cell);
  return [scatterBack(c, data, tensor, dy, axis, repeats)];
};

/**
 * Folds the gradient of an edge- or reflect-padded axis (b cells before the L input cells, a after)
 * back onto the input: each padded cell copied one input cell, so its dy is added there. Edge copies
 * x[0] and x[L−1]: the borders are summed into them. Reflect mirrors without repeating the edge (padded
 * cell b−1−j is x[1+j], cell b+L+j is x[L−2−j]): the borders, reversed (Slice step −1), are added to
 * cells 1…b and L−1−a…L−2. Padding is separable (the value at a padded cell is x at the per-axis source
 * cells), so folding one axis after another is exact, corners included.
 */
function foldPadded(c: RuleContext, g: string, axis: number, len: number, b: number, a: number, reflect: boolean): string {
  const e = c.e;
  const rank = c.shape(c.node.inputs[0]).length;
  const place = (t: string, before: number, after: number) => {
    const pads = new Array(2 * rank).fill(0);
    pads[axis] = before;
    pads[rank + axis] = after;
    return e.pad(t, pads);
  };
  const parts = [e.slice(g, [b], [b + len], [axis])];
  if (reflect) {
    if (b) parts.push(place(e.slice(g, [b - 1], [BEFORE_START], [axis], [-1]), 1, len - 1 - b));
    if (a) parts.push(place(e.slice(g, [b + len + a - 1], [b + len - 1], [axis], [-1]), len - 1 - a, 1));
  } else {
    if (b) parts.push(place(e.reduceSum(e.slice(g, [0], [b], [axis]), [axis], true), 0, len - 1));
    if (a) parts.push(place(e.reduceSum(e.slice(g, [b + len], [b + len + a], [axis]), [axis], true), len - 1, 0));
  }
  return e.sum(parts);
}

/**
 * Pad. Constant mode: the gradient is dy cropped back (and zero-padded where a negative pad cropped).
 * Edge and reflect: each padded axis folded back onto the input (foldPadded).
 */
const pad: Rule = (c) => {
  const dy = c.dy[0];
  if (c.needs.slice(1).some(Boolean)) return c.unsupported('its padding value depends on the input');
  if (!c.needs[0] || !dy) return [];
  const p = c.node.proto;
  const mode = attrString(p, 'mode', 'constant');
  if (mode !== 'constant' && mode !== 'edge' && mode !== 'reflect') return c.unsupported(`in "${mode}" mode`);
  const xs = c.shape(c.node.inputs[0]);
  const rank = xs.length;
  const given = c.opset >= 11 ? c.value(c.node.inputs[1]) : attrInts(p, 'pads');
  if (!given) return c.unsupported('its pads depend on the input');
  const axesIn = c.opset >= 18 && c.node.inputs[3] ? c.value(c.node.inputs[3]) : range(0, rank);
  if (!axesIn) return c.unsupported('its axes depend on the input');
  const axes = axesIn.map((a) => normAxis(a, rank));
  const begin = new Array(rank).fill(0);
  const end = new Array(rank).fill(0);
  axes.forEach((a, k) => {
    begin[a] = given[k];
    end[a] = given[k + axes.length];
  });
  if (begin[0] || end[0]) axis0(c);
  const e = c.e;
  const cut = range(0, rank).filter((i) => begin[i] > 0 || end[i] > 0);
  if (mode !== 'constant') {
    if (range(0, rank).some((i) => begin[i] < 0 || end[i] < 0)) return c.unsupported(`in "${mode}" mode with negative pads`);
    // ONNX Runtime 1.30 refuses these itself; a runtime mirroring more than once would need more folds.
    if (mode === 'reflect' && cut.some((i) => begin[i] >= xs[i] || end[i] >= xs[i])) {
      return c.unsupported('in "reflect" mode with pads as long as the axis');
    }
    return [cut.reduce((g, i) => foldPadded(c, g, i, xs[i], begin[i], end[i], mode === 'reflect'), dy)];
  }
  const g = e.pad(dy, [...begin.map((v) => Math.max(0, -v)), ...end.map((v) => Math.max(0, -v))]);
  if (!cut.length) return [g];
  const starts = cut.map((i) => Math.max(0, begin[i]));
  return [e.slice(g, starts, cut.map((i, k) => starts[k] + xs[i]), cut)];
};

/** Every op with a rule; anything else on a gradient path is refused with its name. */
export const RULES: Record<string, Rule> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: globalAveragePool,
  ReduceMean: reduceRule(true),
  ReduceSum: reduceRule(false),
  ReduceMax: reduceExtremum,
  ReduceMin: reduceExtremum,
  GlobalMaxPool: globalMaxPool,
  BatchNormalization: batchNorm,
  ...NORMALIZATION_RULES,
  Relu: relu,
  LeakyRelu: leakyRelu,
  PRelu: prelu,
  Sigmoid: sigmoid,
  HardSigmoid: hardSigmoid,
  HardSwish: hardSwish,
  Clip: clip,
  Tanh: tanh,
  Exp: exp,
  Neg: neg,
  Elu: elu,
  Selu: selu,
  Celu: celu,
  Softplus: softplus,
  Softsign: softsign,
  Erf: erf,
  Sqrt: sqrt,
  Reciprocal: reciprocal,
  Abs: abs,
  Log: log,
  Pow: pow,
  Mish: mish,
  Gelu: gelu,
  Softmax: softmax,
  LogSoftmax: logSoftmax,
  Add: add,
  Sub: sub,
  Mul: mul,
  Div: div,
  Sum: variadicSum(false),
  Mean: variadicSum(true),
  Max: extremum(true),
  Min: extremum(false),
  Where: where,
  Expand: expand,
  Tile: tile,
  Gemm: gemm,
  MatMul: matMul,
  Identity: passThrough,
  Dropout: dropout,
  Cast: cast,
  Flatten: reshapeBack,
  Reshape: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  GatherElements: gatherElements,
  Pad: pad,
  ...RESIZE_RULES,
  Einsum: einsum,
};
