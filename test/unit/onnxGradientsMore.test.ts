/**
 * Finite-difference checks of the gradient rules for Tile, Resize, Einsum, InstanceNormalization,
 * GroupNormalization, Celu and negative-step Slice (issue 13), with ONNX Runtime's forward as the
 * reference, plus their refusals and their multi-seed and batched graphs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { OnnxRuntime } from '../../src/engine/runtimes/onnx/onnxRuntime';
import { buildModel, tensorProto } from '../fixtures/onnxBuilder';
import { relativeError } from './helpers';
import {
  A, Attr, chain, expectMatch, expectRefused, expectSeedsAtOnce, Init, ints, ModelSpec, NodeSpec, randn, single, size, useGradTestDir, w,
} from './onnxGradHelpers';

const kit = useGradTestDir();
const floats = (name: string, values: number[]): Init => ({ name, dims: [values.length], values, type: 'float32' });
/** Every coordinate of a small input, each exactly (the ops below are linear in x, or checked at float32 with eps 0.5). */
const all = (dims: number[]) => ({ coords: size(dims) });

describe('ONNX gradient rules: Tile and negative-step Slice', () => {
  // Squared after the op, so the gradient depends on where each value came from.
  const squared = (dims: number[], node: NodeSpec, inits: Init[], opset = 17) =>
    chain(dims, [node, { op: 'Mul', inputs: [node.outputs[0], node.outputs[0]], outputs: ['y'] }], inits, opset);
  const tile = (dims: number[], repeats: number[]) =>
    squared(dims, { op: 'Tile', inputs: ['x', 'r'], outputs: ['t'], name: 'the_Tile' }, [ints('r', [repeats.length], repeats)]);
  it('Tile along H and W (copies summed back)', () => expectMatch(tile([1, 2, 3, 4], [1, 1, 3, 2]), all([1, 2, 3, 4])));
  it('Tile along channels only (3-D)', () => expectMatch(tile([1, 3, 5], [1, 4, 1]), all([1, 3, 5])));
  it('Tile along the batch axis (a batch of copies, then flattened)', () =>
    expectMatch(chain([1, 3, 2], [
      { op: 'Tile', inputs: ['x', 'r'], outputs: ['t'] },
      { op: 'Mul', inputs: ['t', 't'], outputs: ['s'] },
      { op: 'Reshape', inputs: ['s', 'flat'], outputs: ['y'] },
    ], [ints('r', [3], [3, 1, 2]), ints('flat', [2], [1, -1])]), all([1, 3, 2])));
  it('Tile with all repeats 1 (the identity)', () => expectMatch(tile([1, 3, 4], [1, 1, 1])));
  it('Tile whose repeats depend on the input is refused at load', () =>
    expectRefused(chain([1, 2, 3], [
      { op: 'ReduceMax', inputs: ['x'], outputs: ['m'], attrs: [A.i('keepdims', 0)] },
      { op: 'Abs', inputs: ['m'], outputs: ['a'] },
      { op: 'Cast', inputs: ['a'], outputs: ['c'], attrs: [A.i('to', 7)] },
      { op: 'Add', inputs: ['c', 'one'], outputs: ['k'] },
      { op: 'Concat', inputs: ['ones', 'k'], outputs: ['r'], attrs: [A.i('axis', 0)] },
      { op: 'Tile', inputs: ['x', 'r'], outputs: ['t'], name: 'the_Tile' },
      { op: 'ReduceSum', inputs: ['t', 'axes'], outputs: ['y'], attrs: [A.i('keepdims', 0)] },
    ], [ints('one', [1], [1]), ints('ones', [2], [1, 1]), ints('axes', [1], [2])]), 'tile-dynamic',
    /operator "Tile" \(node "the_Tile"\) is not supported for gradients yet \(its repeats depend on the input\)/));

  const slice = (dims: number[], starts: number[], ends: number[], axes: number[], steps: number[]) =>
    squared(dims, { op: 'Slice', inputs: ['x', 's', 'e', 'a', 'st'], outputs: ['t'] },
      [ints('s', [starts.length], starts), ints('e', [ends.length], ends), ints('a', [axes.length], axes), ints('st', [steps.length], steps)]);
  const INT64_MIN = -(2 ** 63);
  it('Slice reversing W (torch.flip: start −1, end INT64_MIN, step −1)', () =>
    expectMatch(slice([1, 2, 3, 5], [-1], [INT64_MIN], [3], [-1]), all([1, 2, 3, 5])));
  it('Slice with step −2 on H and −3 on W, starts past the end (clamped), ends inside', () =>
    expectMatch(slice([1, 2, 7, 8], [100, 6], [0, -9], [2, 3], [-2, -3]), all([1, 2, 7, 8])));
  it('Slice with a negative start and step −1 on H, a positive step 2 on W', () =>
    expectMatch(slice([1, 2, 6, 7], [-2, 1], [1, 7], [2, 3], [-1, 2]), all([1, 2, 6, 7])));
  it('Slice with step −1 on channels (RGB → BGR)', () => expectMatch(slice([1, 3, 4, 3], [2], [-4], [1], [-1]), all([1, 3, 4, 3])));
});

describe('ONNX gradient rules: Celu, InstanceNormalization, GroupNormalization', () => {
  const dims = [1, 3, 5, 6];
  // ORT has no float64 Celu: a float32 reference.
  it('Celu (default alpha 1)', () => expectMatch(single('Celu', dims), { x: randn(size(dims), 60, 2) }));
  it('Celu (alpha 0.4)', () => expectMatch(single('Celu', dims, [A.f('alpha', 0.4)]), { x: randn(size(dims), 61, 2) }));

  const instanceNorm = (d: number[], eps: number) =>
    chain(d, [
      { op: 'InstanceNormalization', inputs: ['x', 'S', 'B'], outputs: ['n'], attrs: [A.f('epsilon', eps)] },
      { op: 'Mul', inputs: ['n', 'k'], outputs: ['y'] },
    ], [w('S', [d[1]], 62, 1), w('B', [d[1]], 63), w('k', d.slice(1), 64, 1)]);
  it('InstanceNormalization over H, W', () => expectMatch(instanceNorm([1, 3, 4, 5], 1e-5)));
  it('InstanceNormalization over one spatial axis (3-D input), large epsilon', () => expectMatch(instanceNorm([1, 4, 7], 0.5)));

  // Opset 18: scale and bias per group; opset 21: per channel.
  const groupNorm = (d: number[], groups: number, opset: number) => {
    const per = opset >= 21 ? d[1] : groups;
    return chain(d, [
      { op: 'GroupNormalization', inputs: ['x', 'S', 'B'], outputs: ['n'], attrs: [A.i('num_groups', groups), A.f('epsilon', 1e-3)] },
      { op: 'Mul', inputs: ['n', 'k'], outputs: ['y'] },
    ], [w('S', [per], 65, 1), w('B', [per], 66), w('k', d.slice(1), 67, 1)], opset);
  };
  // Opset 21's function body normalizes in float32 (stash_type 1) even in a float64 model: its reference
  // has float32 precision, so it takes float32's step and limit.
  for (const opset of [18, 21]) {
    const opts = opset >= 21 ? { eps: 1e-2, tol: 3e-3 } : {};
    it(`GroupNormalization, 2 groups of 2 channels (opset ${opset})`, () => expectMatch(groupNorm([1, 4, 3, 5], 2, opset), opts));
    it(`GroupNormalization, one group (as LayerNorm over C, H, W; opset ${opset})`, () => expectMatch(groupNorm([1, 3, 4, 4], 1, opset), opts));
    it(`GroupNormalization, a group per channel (as InstanceNorm; 3-D input; opset ${opset})`, () =>
      expectMatch(groupNorm([1, 3, 6], 3, opset), opts));
  }
});

/** Resize of x by scales or sizes; roi and scales as the opset wants them. */
function resize(dims: number[], o: { mode: string; coord?: string; nearest?: string; scales?: number[]; sizes?: number[]; opset?: number;
  axes?: number[]; extra?: Attr[]; roi?: number[] }): ModelSpec {
  const opset = o.opset ?? 13;
  const attrs = [A.s('mode', o.mode), ...(o.coord ? [A.s('coordinate_transformation_mode', o.coord)] : []),
    ...(o.nearest ? [A.s('nearest_mode', o.nearest)] : []), ...(o.axes ? [A.ints('axes', o.axes)] : []), ...(o.extra ?? [])];
  const inits: Init[] = [];
  let inputs: string[];
  if (opset < 13) {
    inits.push(floats('roi', []), floats('scales', o.scales ?? []));
    inputs = ['roi', 'scales', ...(o.sizes ? ['sizes'] : [])];
  } else {
    if (o.roi) inits.push(floats('roi', o.roi));
    inputs = [o.roi ? 'roi' : '', o.scales ? 'scales' : '', ...(o.sizes ? ['sizes'] : [])];
  }
  if (o.scales && opset >= 13) inits.push(floats('scales', o.scales));
  if (o.sizes) inits.push(ints('sizes', [o.sizes.length], o.sizes));
  return single('Resize', dims, attrs, inits, inputs, opset);
}

describe('ONNX gradient rules: Resize (linear in x, so every coordinate is checked with eps 0.5)', () => {
  // Per coordinate mode, a shape whose W axis meets exact ties (x.5, where round_prefer_floor and _ceil
  // differ) and whose H axis does not (where floor, ceil and rounding differ).
  const shapes: Record<string, { dims: number[]; scales?: number[]; sizes?: number[] }> = {
    half_pixel: { dims: [1, 2, 5, 4], scales: [1, 1, 1.6, 1.5] },
    pytorch_half_pixel: { dims: [1, 2, 5, 4], scales: [1, 1, 1.6, 1.5] },
    asymmetric: { dims: [1, 2, 5, 3], scales: [1, 1, 1.6, 2] },
    align_corners: { dims: [1, 2, 5, 3], sizes: [1, 2, 8, 5] },
  };
  for (const [coord, s] of Object.entries(shapes)) {
    for (const nearest of ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil']) {
      it(`nearest, ${coord}, ${nearest}`, () =>
        expectMatch(resize(s.dims, { mode: 'nearest', coord, nearest, scales: s.scales, sizes: s.sizes }), { ...all(s.dims), eps: 0.5 }));
    }
    it(`linear, ${coord}`, () => expectMatch(resize(s.dims, { mode: 'linear', coord, scales: s.scales, sizes: s.sizes }), { ...all(s.dims), eps: 0.5 }));
  }
  it('nearest, tf_half_pixel_for_nn (opset 11, roi and scales as inputs)', () =>
    expectMatch(resize([1, 2, 5, 4], { mode: 'nearest', coord: 'tf_half_pixel_for_nn', scales: [1, 1, 1.6, 1.5], opset: 11 }), { ...all([1, 2, 5, 4]), eps: 0.5 }));
  for (const mode of ['nearest', 'linear']) {
    it(`${mode}, half_pixel_symmetric (opset 19)`, () =>
      expectMatch(resize([1, 2, 5, 4], { mode, coord: 'half_pixel_symmetric', scales: [1, 1, 1.6, 0.7], opset: 19 }), { ...all([1, 2, 5, 4]), eps: 0.5 }));
    it(`${mode}, half_pixel, downsampling both axes`, () =>
      expectMatch(resize([1, 2, 9, 7], { mode, coord: 'half_pixel', scales: [1, 1, 0.5, 0.6] }), { ...all([1, 2, 9, 7]), eps: 0.5 }));
  }
  it('nearest ×2, asymmetric, floor (torch nn.Upsample: each cell repeated, summed back by ReduceSum)', () =>
    expectMatch(resize([1, 3, 4, 5], { mode: 'nearest', coord: 'asymmetric', nearest: 'floor', scales: [1, 1, 2, 2] }), { ...all([1, 3, 4, 5]), eps: 0.5 }));
  it('linear by sizes, pytorch_half_pixel, one axis resized to length 1', () =>
    expectMatch(resize([1, 2, 5, 4], { mode: 'linear', coord: 'pytorch_half_pixel', sizes: [1, 2, 1, 7] }), { ...all([1, 2, 5, 4]), eps: 0.5 }));
  it('nearest along channels (an axis before the last two)', () =>
    expectMatch(resize([1, 3, 4, 5], { mode: 'nearest', scales: [1, 1.5, 1, 1] }), { ...all([1, 3, 4, 5]), eps: 0.5 }));
  it('linear on a 3-D input (last two axes)', () =>
    expectMatch(resize([1, 4, 6], { mode: 'linear', coord: 'align_corners', scales: [1, 1.5, 1.5] }), { ...all([1, 4, 6]), eps: 0.5 }));
  it('linear with axes [2, 3] and their scales (opset 18)', () =>
    expectMatch(resize([1, 2, 5, 4], { mode: 'linear', scales: [1.6, 1.5], axes: [2, 3], opset: 18 }), { ...all([1, 2, 5, 4]), eps: 0.5 }));
  it('nearest with axes [−1] and its size (opset 18)', () =>
    expectMatch(resize([1, 2, 5, 4], { mode: 'nearest', sizes: [7], axes: [-1], opset: 18 }), { ...all([1, 2, 5, 4]), eps: 0.5 }));
  it('several seeds at once through Resize (MatMul on each side, ReduceSum) and Tile', () =>
    expectSeedsAtOnce(chain([1, 2, 4, 5], [
      { op: 'Resize', inputs: ['x', '', 'up'], outputs: ['u'], attrs: [A.s('mode', 'linear')], name: 'resize' },
      { op: 'Resize', inputs: ['u', '', 'twice'], outputs: ['v'], attrs: [A.s('mode', 'nearest'), A.s('coordinate_transformation_mode', 'asymmetric'), A.s('nearest_mode', 'floor')] },
      { op: 'Tile', inputs: ['v', 'r'], outputs: ['t'] },
      { op: 'Mul', inputs: ['t', 't'], outputs: ['s'] },
      { op: 'ReduceMean', inputs: ['s'], outputs: ['m'], attrs: [A.ints('axes', [2, 3]), A.i('keepdims', 0)] },
      { op: 'Gemm', inputs: ['m', 'W'], outputs: ['y'], attrs: [A.i('transB', 1)] },
    ], [floats('up', [1, 1, 1.5, 1.6]), floats('twice', [1, 1, 2, 2]), ints('r', [4], [1, 2, 1, 1]), w('W', [3, 4], 68, 1)]),
    'resize', ['resize'], true));

  const refused = (name: string, spec: ModelSpec, why: RegExp) => it(`${name} is refused at load, naming it`, () => expectRefused(spec, name.replace(/\W+/g, '-'), why));
  refused('cubic mode', resize([1, 2, 4, 4], { mode: 'cubic', scales: [1, 1, 2, 2] }), /operator "Resize" \(node "the_Resize"\) is not supported for gradients yet \(in "cubic" mode\)/);
  refused('antialias', resize([1, 2, 8, 8], { mode: 'linear', scales: [1, 1, 0.5, 0.5], opset: 18, extra: [A.i('antialias', 1)] }), /\(with antialias\)/);
  refused('tf_crop_and_resize', resize([1, 2, 4, 4], { mode: 'linear', coord: 'tf_crop_and_resize', scales: [1, 1, 2, 2], roi: [0, 0, 0.1, 0, 1, 1, 0.9, 1] }),
    /\(with coordinate_transformation_mode "tf_crop_and_resize"\)/);
  refused('keep_aspect_ratio_policy', resize([1, 2, 4, 6], { mode: 'nearest', sizes: [8, 8], axes: [2, 3], opset: 18, extra: [A.s('keep_aspect_ratio_policy', 'not_larger')] }),
    /\(with keep_aspect_ratio_policy "not_larger"\)/);
  refused('scales computed from the input', chain([1, 2, 3, 3], [
    { op: 'ReduceMax', inputs: ['x'], outputs: ['m'], attrs: [A.i('keepdims', 0)] },
    { op: 'Mul', inputs: ['m', 'zero'], outputs: ['z'] },
    { op: 'Add', inputs: ['z', 'two'], outputs: ['k'] },
    { op: 'Concat', inputs: ['ones', 'k'], outputs: ['s'], attrs: [A.i('axis', 0)] },
    { op: 'Resize', inputs: ['x', '', 's'], outputs: ['y'], attrs: [A.s('mode', 'nearest')], name: 'the_Resize' },
  ], [floats('zero', [0]), floats('two', [2]), floats('ones', [1, 1, 2])]), /\(its scales or sizes depend on the input\)/);

  // Upsample (opsets 7–9) is not differentiated: models older than opset 11 holding it are refused by the
  // opset upgrade (opset.ts), and ONNX Runtime refuses Upsample at opset 10 and later. This records the
  // fact an upgrade would rest on: Upsample is Resize-11 with asymmetric coordinates and floor rounding.
  for (const mode of ['nearest', 'linear']) {
    it(`ONNX Runtime's Upsample-9 (${mode}) equals Resize-11 with asymmetric coordinates and nearest_mode floor`, async () => {
      const dims = [1, 2, 3, 5];
      const scales = floats('s', [1, 1, 2, 3]);
      const run = async (spec: ModelSpec) => {
        const session = await ort.InferenceSession.create(buildModel(spec), { logSeverityLevel: 4 });
        const out = await session.run({ x: new ort.Tensor('float32', randn(size(dims), 69), dims) });
        await session.release();
        return out.y;
      };
      const up = await run({ ...single('Upsample', dims, [A.s('mode', mode)], [scales], ['s'], 9) });
      const rs = await run(resize(dims, { mode, coord: 'asymmetric', nearest: 'floor', scales: [1, 1, 2, 3], opset: 11 }));
      assert.deepEqual(up.dims, [1, 2, 6, 15]);
      assert.deepEqual(Array.from(up.data as Float32Array), Array.from(rs.data as Float32Array));
    });
  }
});

describe('ONNX gradient rules: Einsum as exporters write it', () => {
  const einsum = (equation: string, inputs: string[], output: string) =>
    ({ op: 'Einsum', inputs, outputs: [output], attrs: [A.s('equation', equation)], name: 'the_Einsum' });
  // Attention in small: scores = q·kᵀ over d, softmax over k, then the weighted sum of values.
  const attention = chain([1, 2, 3, 4], [
    { op: 'Mul', inputs: ['x', 'K'], outputs: ['k'] },
    einsum('bhqd,bhkd->bhqk', ['x', 'k'], 's'),
    { op: 'Softmax', inputs: ['s'], outputs: ['a'], attrs: [A.i('axis', -1)] },
    { op: 'Einsum', inputs: ['a', 'x'], outputs: ['y'], attrs: [A.s('equation', 'bhqk,bhkd->bhqd')], name: 'mix' },
  ], [w('K', [3, 4], 70, 1)]);
  it('attention: "bhqd,bhkd->bhqk", Softmax, "bhqk,bhkd->bhqd" (both operands from x)', () => expectMatch(attention));
  // ONNX wants as many ellipsis axes in every operand; those of size 1 broadcast.
  it('a batched matrix product with broadcasting: "...ij,...jk->...ik", x [1,1,2,4] against W [1,3,4,5] (x summed over the broadcast)', () =>
    expectMatch(chain([1, 1, 2, 4], [einsum('...ij,...jk->...ik', ['x', 'W'], 'e'), { op: 'Mul', inputs: ['e', 'e'], outputs: ['y'] }],
      [w('W', [1, 3, 4, 5], 71)])));
  it('"...jk,...ij->...ik" with the weight broadcast (W [1,1,4,5] against x [1,3,2,4]), weight first', () =>
    expectMatch(chain([1, 3, 2, 4], [einsum('...jk,...ij->...ik', ['W', 'x'], 'e'), { op: 'Mul', inputs: ['e', 'e'], outputs: ['y'] }],
      [w('W', [1, 1, 4, 5], 72)])));
  it('a transpose "bij->bji"', () =>
    expectMatch(chain([1, 3, 4], [einsum('bij->bji', ['x'], 'e'), { op: 'Mul', inputs: ['e', 'k'], outputs: ['y'] }], [w('k', [4, 3], 73, 1)])));
  it('a transpose that moves the batch axis "bij->jbi" (then flattened)', () =>
    expectMatch(chain([1, 3, 4], [
      einsum('bij->jbi', ['x'], 'e'),
      { op: 'Mul', inputs: ['e', 'e'], outputs: ['s'] },
      { op: 'Reshape', inputs: ['s', 'flat'], outputs: ['y'] },
    ], [ints('flat', [2], [1, -1])])));
  it('an index summed out of one operand only: "bij,jk->bk" (the gradient broadcast back over i)', () =>
    expectMatch(chain([1, 3, 4], [einsum('bij,jk->bk', ['x', 'W'], 'e'), { op: 'Mul', inputs: ['e', 'e'], outputs: ['y'] }], [w('W', [4, 5], 74)])));
  it('a reduction "bij->bi"', () =>
    expectMatch(chain([1, 3, 4], [einsum('bij->bi', ['x'], 'e'), { op: 'Mul', inputs: ['e', 'e'], outputs: ['y'] }])));
  it('the implicit output: "bij,jk" (→ "bik")', () =>
    expectMatch(chain([1, 3, 4], [einsum('bij,jk', ['x', 'W'], 'e'), { op: 'Mul', inputs: ['e', 'e'], outputs: ['y'] }], [w('W', [4, 2], 75)])));
  it('a Gram matrix "bij,bkj->bik" (x twice: both gradients summed)', () =>
    expectMatch(chain([1, 3, 4], [einsum('bij,bkj->bik', ['x', 'x'], 'y')])));
  it('a label repeated within one operand (a diagonal) is refused at load, naming the equation', () =>
    expectRefused(chain([1, 3, 3], [einsum('bii->bi', ['x'], 'y')]), 'einsum-diagonal',
      /operator "Einsum" \(node "the_Einsum"\) is not supported for gradients yet \(with equation "bii->bi": a label is repeated within one operand \(a diagonal\)\)/));
  it('several seeds at once through attention Einsums (and one seed per run after "bij->jbi")', async () => {
    await expectSeedsAtOnce(attention, 'einsum', ['the_Einsum'], true);
    await expectSeedsAtOnce(chain([1, 3, 4], [
      einsum('bij->jbi', ['x'], 'e'),
      { op: 'Reshape', inputs: ['e', 'flat'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'W'], outputs: ['y'], attrs: [A.i('transB', 1)] },
    ], [ints('flat', [2], [1, -1]), w('W', [2, 12], 76)]), 'einsum-moved', [], false);
  });
});

describe('ONNX gradients through shape arithmetic (Swin-style attention masks)', () => {
  // The mask comes from the input's shape only (Shape, Gather, Range, Unsqueeze, Div, Equal, ConstantOfShape,
  // Where): no gradient flows through it, and attention with the mask added is differentiated as usual.
  // ConstantOfShape's value is float32 in the float64 reference too, so the reference runs in float32.
  it('a block-diagonal mask built from Shape → Range → Equal → Where, added to attention scores', () =>
    expectMatch(chain([1, 4, 3], [
      { op: 'Shape', inputs: ['x'], outputs: ['shape'] },
      { op: 'Gather', inputs: ['shape', 'one'], outputs: ['tokens'], attrs: [A.i('axis', 0)] },
      { op: 'Range', inputs: ['zero', 'tokens', 'one'], outputs: ['r'] },
      { op: 'Div', inputs: ['r', 'two'], outputs: ['window'] },
      { op: 'Unsqueeze', inputs: ['window', 'ax1'], outputs: ['wi'] },
      { op: 'Unsqueeze', inputs: ['window', 'ax0'], outputs: ['wj'] },
      { op: 'Equal', inputs: ['wi', 'wj'], outputs: ['same'] },
      { op: 'Shape', inputs: ['same'], outputs: ['maskShape'] },
      { op: 'ConstantOfShape', inputs: ['maskShape'], outputs: ['blocked'], attrs: [A.t('value', tensorProto({ name: '', dims: [1], values: [-100] }, 'float32'))] },
      { op: 'Where', inputs: ['same', 'zeros', 'blocked'], outputs: ['mask'] },
      { op: 'Transpose', inputs: ['x'], outputs: ['xt'], attrs: [A.ints('perm', [0, 2, 1])] },
      { op: 'MatMul', inputs: ['x', 'xt'], outputs: ['scores'] },
      { op: 'Add', inputs: ['scores', 'mask'], outputs: ['masked'] },
      { op: 'Softmax', inputs: ['masked'], outputs: ['a'], attrs: [A.i('axis', -1)] },
      { op: 'MatMul', inputs: ['a', 'x'], outputs: ['o'] },
      { op: 'Mul', inputs: ['o', 'k'], outputs: ['y'] },
    ], [ints('one', [], [1]), ints('zero', [], [0]), ints('two', [], [2]), ints('ax0', [1], [0]), ints('ax1', [1], [1]),
      { name: 'zeros', dims: [1], values: [0], type: 'float32' }, w('k', [4, 3], 85, 1)])));
});

describe('batched gradient graphs through the new rules: every row equals a single run', () => {
  /** gradientBatch of 3 distinct inputs against trace + vjp row by row, and whether it ran as one batch. */
  async function expectRows(spec: ModelSpec, name: string, batched: boolean) {
    const file = path.join(kit.dir, `rows_${name}.onnx`);
    fs.writeFileSync(file, buildModel(spec));
    const rt = await OnnxRuntime.load(file, { layout: 'asis' });
    try {
      const n = 3;
      const x = tf.randomNormal([n, ...rt.inputShape], 0, 1, 'float32', 77);
      const seeds = tf.randomNormal([n, rt.numClasses], 0, 1, 'float32', 78) as tf.Tensor2D;
      const out = await rt.gradientBatch(x, seeds);
      assert.equal(rt.batchDecision('gradient')?.batched, batched, JSON.stringify(rt.batchDecision('gradient')));
      const rows = out.gradient.dataSync() as Float32Array;
      const rowSize = size(rt.inputShape);
      for (let i = 0; i < n; i++) {
        const row = tf.slice(x, i, 1);
        const seed = tf.slice(seeds, i, 1) as tf.Tensor2D;
        const trace = await rt.trace(row);
        const g = (await trace.vjp(seed, ['input'])).get('input')!;
        const one = g.dataSync() as Float32Array;
        assert.ok(one.some((v) => v !== 0), `${name}: zero gradient`);
        const err = relativeError(rows.subarray(i * rowSize, (i + 1) * rowSize), one);
        assert.ok(err <= 1e-5, `${name} row ${i}: relative error ${err.toExponential(2)}`);
        trace.dispose();
        tf.dispose([row, seed, g]);
      }
      tf.dispose([x, seeds, out.gradient]);
    } finally {
      rt.dispose();
    }
  }
  it('Einsum attention, GroupNormalization, InstanceNormalization, Celu, Resize, Tile and a reversing Slice run as one batch', () =>
    expectRows(chain([1, 4, 3, 4], [
      { op: 'GroupNormalization', inputs: ['x', 'gs', 'gb'], outputs: ['g'], attrs: [A.i('num_groups', 2)] },
      { op: 'InstanceNormalization', inputs: ['g', 'is', 'ib'], outputs: ['n'] },
      { op: 'Celu', inputs: ['n'], outputs: ['c'] },
      { op: 'Resize', inputs: ['c', '', 'sc'], outputs: ['r'], attrs: [A.s('mode', 'linear')] },
      { op: 'Slice', inputs: ['r', 'st', 'en', 'ax', 'sp'], outputs: ['f'] },
      { op: 'Tile', inputs: ['f', 'rep'], outputs: ['t'] },
      { op: 'Einsum', inputs: ['t', 't'], outputs: ['s'], attrs: [A.s('equation', 'bcqd,bckd->bcqk')] },
      { op: 'Softmax', inputs: ['s'], outputs: ['a'], attrs: [A.i('axis', -1)] },
      { op: 'Einsum', inputs: ['a', 'f'], outputs: ['o'], attrs: [A.s('equation', 'bcqk,bckd->bcqd')] },
      { op: 'Einsum', inputs: ['o', 'W'], outputs: ['y'], attrs: [A.s('equation', 'bcqd,cqdk->bk')] },
    ], [w('gs', [4], 79, 1), w('gb', [4], 80), w('is', [4], 81, 1), w('ib', [4], 82), floats('sc', [1, 1, 2, 1.5]),
      ints('st', [1], [-1]), ints('en', [1], [-(2 ** 63)]), ints('ax', [1], [3]), ints('sp', [1], [-1]), ints('rep', [4], [1, 1, 1, 2]),
      w('W', [4, 6, 6, 5], 83)], 21), 'new-rules', true));
  it('an Einsum whose weight carries the batch label runs row by row, correctly', () =>
    expectRows(chain([1, 3, 4], [
      { op: 'Einsum', inputs: ['x', 'W'], outputs: ['y'], attrs: [A.s('equation', 'bij,bj->bi')] },
    ], [w('W', [1, 4], 84, 1)]), 'einsum-shared', false));
});
