import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { onnx } from 'onnx-proto';
import { PNG } from 'pngjs';
import { initBackend } from '../../src/engine/backend';
import { UserError } from '../../src/engine/errors';
import { Explainer } from '../../src/engine/explain';
import { loadModel } from '../../src/engine/model/loadModel';
import { OnnxRuntime, SESSION_BUDGET } from '../../src/engine/runtimes/onnx/onnxRuntime';
import { chooseLayout } from '../../src/engine/runtimes/onnx/onnxModel';
import { modelVersion } from '../../src/engine/service';
import { A, buildModel, Init, modelProto, ModelSpec, NodeSpec, randn, size } from '../fixtures/onnxBuilder';
import { cleanupTempDirs, tempDir } from './helpers';

before(async () => {
  await initBackend();
});
after(cleanupTempDirs);

const w = (name: string, dims: number[], seed: number, scale = 0.5): Init => ({ name, dims, values: randn(size(dims), seed, scale) });
const convAttrs = [A.ints('kernel_shape', [3, 3]), A.ints('pads', [1, 1, 1, 1])];

/** A small CNN: conv → relu → maxpool → conv → relu → GAP → flatten → gemm, optionally with a final op. */
function cnn(opts: { dims?: (number | string)[]; channels?: number; tail?: NodeSpec[]; extraOutputs?: string[]; layoutNhwc?: boolean } = {}): ModelSpec {
  const c = opts.channels ?? 3;
  const nodes: NodeSpec[] = [
    ...(opts.layoutNhwc ? [{ op: 'Transpose', inputs: ['image'], outputs: ['x'], attrs: [A.ints('perm', [0, 3, 1, 2])], name: 'to_nchw' }] : []),
    { op: 'Conv', inputs: ['x', 'W1', 'B1'], outputs: ['c1'], attrs: convAttrs, name: 'conv1' },
    { op: 'Relu', inputs: ['c1'], outputs: ['r1'], name: 'relu1' },
    { op: 'MaxPool', inputs: ['r1'], outputs: ['p1'], attrs: [A.ints('kernel_shape', [2, 2]), A.ints('strides', [2, 2])], name: 'pool1' },
    // Unnamed: the layer table names it by its output.
    { op: 'Conv', inputs: ['p1', 'W2', 'B2'], outputs: ['c2'], attrs: convAttrs, name: '' },
    { op: 'Relu', inputs: ['c2'], outputs: ['r2'], name: 'relu2' },
    { op: 'GlobalAveragePool', inputs: ['r2'], outputs: ['g'], name: 'gap' },
    { op: 'Flatten', inputs: ['g'], outputs: ['f'], name: 'flatten' },
    { op: 'Gemm', inputs: ['f', 'Wd', 'Bd'], outputs: ['logits'], attrs: [A.i('transB', 1)], name: 'fc' },
    ...(opts.tail ?? []),
  ];
  const last = nodes[nodes.length - 1].outputs[0];
  return {
    input: { name: opts.layoutNhwc ? 'image' : 'x', dims: opts.dims ?? (opts.layoutNhwc ? [1, 8, 8, c] : ['batch', c, 8, 8]) },
    nodes,
    inits: [w('W1', [4, c, 3, 3], 1), w('B1', [4], 2, 0.1), w('W2', [6, 4, 3, 3], 3), w('B2', [6], 4, 0.1), w('Wd', [5, 6], 5), w('Bd', [5], 6)],
    outputs: [last, ...(opts.extraOutputs ?? [])],
  };
}

function writeModel(spec: ModelSpec | Uint8Array, name = 'model.onnx', dir = tempDir('saliency-onnx-')): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, spec instanceof Uint8Array ? spec : buildModel(spec));
  return file;
}

/** Checks a promise rejects with a UserError whose message names the file and matches. */
async function rejectsNaming(p: Promise<unknown>, file: string, pattern: RegExp): Promise<string> {
  let message = '';
  await assert.rejects(p, (e: Error) => {
    message = e.message;
    return e instanceof UserError && e.message.includes(file) && pattern.test(e.message) && !e.message.includes('\n');
  });
  return message;
}

/** Moves the model's initializers into `data` beside it (ONNX external data), at 4-byte-aligned offsets. */
function externalize(spec: ModelSpec, dir: string, data = 'weights.bin', location = data): string {
  const proto = onnx.ModelProto.fromObject(modelProto(spec));
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of proto.graph!.initializer ?? []) {
    const bytes = Buffer.from(t.rawData ?? []);
    const pad = (4 - (offset % 4)) % 4;
    chunks.push(Buffer.alloc(pad));
    offset += pad;
    t.externalData = [
      onnx.StringStringEntryProto.create({ key: 'location', value: location }),
      onnx.StringStringEntryProto.create({ key: 'offset', value: String(offset) }),
      onnx.StringStringEntryProto.create({ key: 'length', value: String(bytes.length) }),
    ];
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.rawData = new Uint8Array();
    chunks.push(bytes);
    offset += bytes.length;
  }
  fs.writeFileSync(path.join(dir, data), Buffer.concat(chunks));
  return writeModel(onnx.ModelProto.encode(proto).finish(), 'model.onnx', dir);
}

async function logitsOf(file: string, x: tf.Tensor): Promise<Float32Array> {
  const rt = await OnnxRuntime.load(file);
  const trace = await rt.trace(x);
  const out = trace.logits.dataSync() as Float32Array;
  trace.dispose();
  rt.dispose();
  return out;
}

describe('reading .onnx files', () => {
  it('external data beside the model: same logits as inline weights; the version covers the data file, not other files', async () => {
    const spec = cnn();
    const inline = writeModel(spec);
    const dir = tempDir('saliency-onnx-');
    const file = externalize(spec, dir);
    const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 1);
    assert.deepEqual(await logitsOf(file, x), await logitsOf(inline, x));
    x.dispose();
    const model = await loadModel(file);
    assert.equal(model.files.format, 'onnx');
    assert.equal(model.files.modelJson, file);
    assert.deepEqual(model.files.dataFiles, [path.join(dir, 'weights.bin')]);
    model.runtime.dispose();
    const before = modelVersion(file, model.files.dataFiles);
    fs.writeFileSync(path.join(dir, 'photo.png'), 'not part of the model');
    assert.equal(modelVersion(file, model.files.dataFiles), before);
    fs.appendFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(4));
    assert.notEqual(modelVersion(file, model.files.dataFiles), before);
  });

  it('a missing external-data file is named', async () => {
    const dir = tempDir('saliency-onnx-');
    const file = externalize(cnn(), dir);
    fs.rmSync(path.join(dir, 'weights.bin'));
    await rejectsNaming(OnnxRuntime.load(file), path.join(dir, 'weights.bin'), /external data file is missing/);
  });

  it('external data that points outside the model folder is refused', async () => {
    const dir = tempDir('saliency-onnx-');
    fs.mkdirSync(path.join(dir, 'model'));
    const file = externalize(cnn(), path.join(dir, 'model'), '../weights.bin', '../weights.bin');
    await rejectsNaming(OnnxRuntime.load(file), file, /points outside the model's folder/);
  });

  it('external data through a symlink leading out of the folder is refused', async () => {
    const outside = tempDir('saliency-onnx-');
    const dir = tempDir('saliency-onnx-');
    externalize(cnn(), outside);
    fs.symlinkSync(path.join(outside, 'weights.bin'), path.join(dir, 'weights.bin'));
    const file = externalize(cnn(), dir, 'unused.bin', 'weights.bin');
    await rejectsNaming(OnnxRuntime.load(file), path.join(dir, 'weights.bin'), /links outside the model's folder/);
  });

  describe('external data anywhere in the model is read from the model folder only', () => {
    const secret = Float32Array.from([11, 22, 33, 44]);
    const external = (name: string, location: string, dims = [1, 4]): onnx.ITensorProto =>
      ({ name, dims, dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: location }] });
    const output = (name: string) => ({ name, type: { tensorType: { elemType: 1 } } });
    /** y = If(true) then x + S else x + 0, where S (1×4) sits as `place` says. */
    function ifModel(place: 'branch initializer' | 'branch Constant' | 'nested branch' | 'sparse initializer', location: string): onnx.IModelProto {
      const branch = (name: string, nodes: onnx.INodeProto[], inits: onnx.ITensorProto[] = []): onnx.IGraphProto =>
        ({ name, node: nodes, initializer: inits, output: [output(`${name}_out`)] });
      const addS = (name: string) => ({ opType: 'Add', input: ['x', 'S'], output: [`${name}_out`] });
      const cond = { opType: 'Constant', output: ['cond'], attribute: [A.t('value', { dims: [], dataType: 9, int32Data: [1] })] };
      const ifNode = (name: string, then: onnx.IGraphProto): onnx.INodeProto => ({
        opType: 'If', input: ['cond'], output: [name],
        attribute: [{ name: 'then_branch', type: 5, g: then },
          { name: 'else_branch', type: 5, g: branch(`${name}_else`, [{ opType: 'Identity', input: ['x'], output: [`${name}_else_out`] }]) }],
      });
      let then: onnx.IGraphProto;
      const graph: onnx.IGraphProto = { name: 'g', node: [cond], input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] } } } }], output: [output('y')] };
      if (place === 'branch initializer') then = branch('then', [addS('then')], [external('S', location)]);
      else if (place === 'branch Constant') {
        then = branch('then', [{ opType: 'Constant', output: ['S'], attribute: [A.t('value', external('S', location))] }, addS('then')]);
      } else if (place === 'nested branch') {
        then = branch('then', [ifNode('inner', branch('inner_then', [addS('inner_then')], [external('S', location)])),
          { opType: 'Identity', input: ['inner'], output: ['then_out'] }]);
      } else {
        then = branch('then', [addS('then')]);
        const indices: onnx.ITensorProto = { name: 'S_indices', dims: [4], dataType: 7, int64Data: [0, 1, 2, 3] };
        graph.sparseInitializer = [{ values: external('S', location, [4]), indices, dims: [1, 4] }];
      }
      graph.node!.push(ifNode('y', then));
      return { irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph };
    }
    for (const place of ['branch initializer', 'branch Constant', 'nested branch', 'sparse initializer'] as const) {
      it(`in a ${place}: read from beside the model, never from the working directory or outside`, async () => {
        const dir = tempDir('saliency-onnx-');
        const file = writeModel(onnx.ModelProto.encode(ifModel(place, 'secret.bin')).finish(), 'model.onnx', dir);
        // Missing beside the model: named, though the working directory holds a file of that name.
        const cwd = process.cwd();
        const elsewhere = tempDir('saliency-onnx-');
        fs.writeFileSync(path.join(elsewhere, 'secret.bin'), Buffer.from(Float32Array.from([9, 9, 9, 9]).buffer));
        process.chdir(elsewhere);
        try {
          await rejectsNaming(OnnxRuntime.load(file), path.join(dir, 'secret.bin'), /external data file is missing/);
        } finally {
          process.chdir(cwd);
        }
        fs.writeFileSync(path.join(dir, 'secret.bin'), Buffer.from(secret.buffer));
        const rt = await OnnxRuntime.load(file);
        const trace = await rt.trace(tf.zeros([1, 4]));
        assert.deepEqual(Array.from(trace.logits.dataSync()), Array.from(secret));
        trace.dispose();
        rt.dispose();
        const outside = writeModel(onnx.ModelProto.encode(ifModel(place, '../secret.bin')).finish(), 'outside.onnx', dir);
        await rejectsNaming(OnnxRuntime.load(outside), outside, /points outside the model's folder/);
      });
    }
  });

  it('a PNG renamed .onnx is not an ONNX model', async () => {
    const png = new PNG({ width: 4, height: 4 });
    png.data.fill(200);
    const file = writeModel(PNG.sync.write(png));
    await rejectsNaming(OnnxRuntime.load(file), file, /could not be read as an ONNX model|is not an ONNX model/);
  });

  it('a truncated file is named as such', async () => {
    const bytes = buildModel(cnn());
    const file = writeModel(bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await rejectsNaming(OnnxRuntime.load(file), file, /truncated/);
  });

  it('an operator without a gradient rule on the input path is named with its node, at load time', async () => {
    const spec = cnn();
    spec.nodes.splice(2, 0, { op: 'Sin', inputs: ['r1'], outputs: ['e1'], name: 'my_sin' });
    spec.nodes[3].inputs = ['e1'];
    const file = writeModel(spec);
    const message = await rejectsNaming(OnnxRuntime.load(file), file, /operator "Sin" \(node "my_sin"\) is not supported for gradients yet/);
    assert.equal(message, `${file}: operator "Sin" (node "my_sin") is not supported for gradients yet`);
  });

  it('an unsupported operator off the path to the logits does not matter', async () => {
    const spec = cnn({ tail: [{ op: 'Sin', inputs: ['logits'], outputs: ['aux'], name: 'aux_sin' }] });
    spec.outputs = ['logits', 'aux'];
    const rt = await OnnxRuntime.load(writeModel(spec));
    assert.equal(rt.numClasses, 5);
    rt.dispose();
  });

  it('a free input size needs the size given, and says how', async () => {
    const spec = cnn({ dims: ['batch', 3, 'height', 'width'] });
    const file = writeModel(spec);
    await rejectsNaming(OnnxRuntime.load(file), file, /free size \[batch, 3, height, width\].*--input-size/);
    const rt = await OnnxRuntime.load(file, { inputShape: [12, 10] });
    assert.deepEqual(rt.inputShape, [12, 10, 3]);
    rt.dispose();
    // In the extension there is no command line: saliency-lens.json beside the model gives the size.
    const settings = path.join(path.dirname(file), 'saliency-lens.json');
    fs.writeFileSync(settings, JSON.stringify({ inputSize: [14, 16] }));
    const loaded = await loadModel(file);
    assert.deepEqual(loaded.runtime.inputShape, [14, 16, 3]);
    loaded.runtime.dispose();
    fs.writeFileSync(settings, JSON.stringify({ inputSize: [14] }));
    await rejectsNaming(loadModel(file), settings, /"inputSize": \[14\]; expected \[height, width\]/);
  });

  it('an input too large to allocate is refused before anything is allocated, naming the file and the size', async () => {
    const file = writeModel(cnn({ dims: [1, 3, 100000, 100000] }));
    await rejectsNaming(OnnxRuntime.load(file), file, /input "x" of shape \[1, 3, 100000, 100000\] holds 30,000,000,000 values/);
    // The same cap for a size given at load time.
    await rejectsNaming(OnnxRuntime.load(writeModel(cnn({ dims: ['batch', 3, 'h', 'w'] })), { inputShape: [30000, 30000] }),
      'model.onnx', /holds 2,700,000,000 values, more than the 67,108,864/);
  });

  it('refuses two inputs, a fixed batch above 1 and non-float inputs, naming the file', async () => {
    const two = cnn();
    const proto = modelProto(two);
    proto.graph!.input!.push({ name: 'extra', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }] } } } });
    let file = writeModel(onnx.ModelProto.encode(proto).finish());
    await rejectsNaming(OnnxRuntime.load(file), file, /has 2 inputs/);
    file = writeModel(cnn({ dims: [4, 3, 8, 8] }));
    await rejectsNaming(OnnxRuntime.load(file), file, /fixed batch of 4/);
  });

  it('an old opset with an operator whose meaning changed is refused with what to do', async () => {
    const spec = cnn({ tail: [{ op: 'Upsample', inputs: ['logits'], outputs: ['up'], attrs: [A.floats('scales', [1, 1])], name: 'up' }] });
    // Upsample of opset 7–10 is read as Resize (onnxUpsample.test.ts); Upsample-1 (opset 1–6) is not.
    spec.opset = 6;
    const file = writeModel(spec);
    await rejectsNaming(OnnxRuntime.load(file), file, /opset 6.*"Upsample".*re-export the model with opset 11 or newer/);
  });

  it('a folder with one .onnx file opens it; with two, asks which', async () => {
    const file = writeModel(cnn());
    const model = await loadModel(path.dirname(file));
    assert.equal(model.files.modelJson, file);
    model.runtime.dispose();
    writeModel(cnn(), 'other.onnx', path.dirname(file));
    await rejectsNaming(loadModel(path.dirname(file)), path.dirname(file), /folder has several models \(model\.onnx, other\.onnx\); choose one/);
  });
});

describe('malformed graphs', () => {
  const one = (name: string) => ({ name, dims: [], values: [1] });
  const tiny = (nodes: NodeSpec[], outputs: string[], inits: Init[] = []): ModelSpec => ({ input: { name: 'x', dims: [1, 4] }, nodes, inits, outputs });
  const cases: [string, ModelSpec, RegExp][] = [
    // These used to send the search for a final Softmax round a loop forever.
    ['a node writing its own input (Identity x → x)', tiny([{ op: 'Identity', inputs: ['x'], outputs: ['x'], name: 'same' }], ['x']),
      /node "same" writes tensor "x", which is also its own input/],
    ['a node rewriting its input (Relu → y, Identity y → y)', tiny([{ op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'relu' },
      { op: 'Identity', inputs: ['y'], outputs: ['y'], name: 'again' }], ['y']), /node "again" writes tensor "y", which is also its own input/],
    ['two nodes writing one tensor', tiny([{ op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'relu' },
      { op: 'Sigmoid', inputs: ['x'], outputs: ['y'], name: 'sig' }], ['y']), /tensor "y" is written by two nodes \("relu" and "sig"\)/],
    ['a node writing the graph input', tiny([{ op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'relu' },
      { op: 'Neg', inputs: ['k'], outputs: ['x'], name: 'neg' }], ['y'], [one('k')]), /node "neg" writes tensor "x", which is also an input of the graph/],
    ['a node writing an initializer', tiny([{ op: 'Add', inputs: ['x', 'k'], outputs: ['y'], name: 'add' },
      { op: 'Relu', inputs: ['x'], outputs: ['k'], name: 'relu' }], ['y'], [one('k')]), /node "relu" writes tensor "k", which is also an initializer/],
    ['a cycle', tiny([{ op: 'Add', inputs: ['x', 'b'], outputs: ['a'], name: 'add' }, { op: 'Relu', inputs: ['a'], outputs: ['b'], name: 'relu' }], ['a']),
      /has a cycle in its graph: node "(add|relu)" depends on its own output/],
  ];
  for (const [name, spec, pattern] of cases) {
    it(`${name} is refused, naming the file`, async () => {
      const file = writeModel(spec);
      await rejectsNaming(OnnxRuntime.load(file), file, pattern);
    });
  }

  it('20,000 nodes stored in reverse order are sorted and run', async () => {
    const n = 20000;
    const nodes: NodeSpec[] = Array.from({ length: n }, (_, i) =>
      ({ op: 'Add', inputs: [i === 0 ? 'x' : `t${i - 1}`, 'one'], outputs: [i === n - 1 ? 'y' : `t${i}`], name: `add${i}` }));
    const rt = await OnnxRuntime.load(writeModel({ input: { name: 'x', dims: [1, 4] }, nodes: nodes.reverse(), inits: [one('one')], outputs: ['y'] }));
    const sorted = rt.model.graph.nodes;
    assert.equal(sorted.length, n);
    sorted.forEach((node, i) => assert.equal(node.name, `add${i}`));
    const trace = await rt.trace(tf.tensor2d([[0, 1, 2, 3]]));
    assert.deepEqual(Array.from(trace.logits.dataSync()), [n, n + 1, n + 2, n + 3]);
    trace.dispose();
    rt.dispose();
  });
});

describe('input layout', () => {
  const cases: [(number | string)[], string][] = [
    [[1, 3, 224, 224], 'NCHW'], [['N', 224, 224, 3], 'NHWC'], [[1, 1, 28, 28], 'NCHW'], [[1, 28, 28, 1], 'NHWC'],
    [['N', 3, 'H', 'W'], 'NCHW'], [['N', 'H', 'W', 3], 'NHWC'], [[1, 3, 4, 3], 'NCHW'], [[1, 'c', 'h', 'w'], 'NCHW'], [[1, 32, 32, 'c'], 'NHWC'],
    // Neither end is 1, 3 or 4: the smaller end holds the channels (NCHW on a tie).
    [[1, 32, 32, 6], 'NHWC'], [[1, 6, 32, 32], 'NCHW'], [['N', 16, 16, 16], 'NCHW'],
  ];
  for (const [dims, expected] of cases) it(`${JSON.stringify(dims)} is ${expected}`, () => assert.equal(chooseLayout(dims), expected));

  it('an NHWC model takes the image as is and hands activations out as NHWC', async () => {
    const rt = await OnnxRuntime.load(writeModel(cnn({ layoutNhwc: true })));
    assert.deepEqual(rt.inputShape, [8, 8, 3]);
    assert.deepEqual(rt.spatialLayers().map((c) => [c.name, c.height, c.width, c.channels]).slice(0, 1), [['conv1', 8, 8, 4]]);
    const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 2);
    const trace = await rt.trace(x, ['relu2']);
    assert.deepEqual(trace.activation('relu2').shape, [1, 4, 4, 6]);
    tf.dispose(x);
    trace.dispose();
    rt.dispose();
  });
});

describe('outputs', () => {
  it('a final Softmax is skipped: logits attributed, softmax reported', async () => {
    const file = writeModel(cnn({ tail: [{ op: 'Softmax', inputs: ['logits'], outputs: ['probs'], attrs: [A.i('axis', -1)], name: 'softmax' }] }));
    const rt = await OnnxRuntime.load(file);
    assert.equal(rt.outputActivation, 'softmax');
    assert.equal(rt.outputName, 'probs');
    const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 3);
    const trace = await rt.trace(x);
    const logits = Array.from(trace.logits.dataSync());
    assert.ok(Math.abs(logits.reduce((a, b) => a + b, 0) - 1) > 1e-3, 'logits, not probabilities');
    assert.deepEqual(Array.from(logits), Array.from(await logitsOf(writeModel(cnn()), x)));
    tf.dispose(x);
    trace.dispose();
    rt.dispose();
  });

  it('a final Sigmoid is skipped and reported', async () => {
    const rt = await OnnxRuntime.load(writeModel(cnn({ tail: [{ op: 'Sigmoid', inputs: ['logits'], outputs: ['p'], name: 'sig' }] })));
    assert.equal(rt.outputActivation, 'sigmoid');
    rt.dispose();
  });

  it('a softmax over part of the output is refused', async () => {
    const file = writeModel(cnn({ tail: [
      { op: 'Concat', inputs: ['logits', 'logits'], outputs: ['two'], attrs: [A.i('axis', 0)], name: 'two' },
      { op: 'Softmax', inputs: ['two'], outputs: ['probs'], attrs: [A.i('axis', -1)], name: 'softmax' },
    ] }));
    await rejectsNaming(OnnxRuntime.load(file), file, /softmax runs over part of its output/);
  });

  it('another output by name or index', async () => {
    const spec = cnn();
    spec.outputs = ['logits', 'g'];
    const file = writeModel(spec);
    for (const choice of ['g', 1]) {
      const rt = await OnnxRuntime.load(file, { output: choice });
      assert.equal(rt.outputName, 'g');
      assert.equal(rt.numClasses, 6);
      rt.dispose();
    }
    await rejectsNaming(OnnxRuntime.load(file, { output: 'nope' }), file, /has no output "nope"; its outputs are: logits, g/);
  });
});

describe('layers, labels and the Explainer', () => {
  it('layer table: node names (or the output of unnamed nodes), op types, shapes, shared weights counted once', async () => {
    const spec = cnn();
    // conv1 and a second conv share W1/B1.
    spec.nodes.splice(1, 0, { op: 'Conv', inputs: ['x', 'W1', 'B1'], outputs: ['c1b'], attrs: convAttrs, name: 'conv1_twin' });
    spec.nodes.splice(2, 0, { op: 'Add', inputs: ['c1', 'c1b'], outputs: ['sum'], name: 'sum' });
    spec.nodes[3].inputs = ['sum'];
    spec.nodes.push({ op: 'Constant', inputs: [], outputs: ['unused'], attrs: [A.t('value', { dims: [], dataType: 1, floatData: [1] })], name: 'k' });
    const rt = await OnnxRuntime.load(writeModel(spec));
    const rows = rt.layerTable();
    assert.deepEqual(rows.map((r) => r.name), ['conv1', 'conv1_twin', 'sum', 'relu1', 'pool1', 'c2', 'relu2', 'gap', 'flatten', 'fc']);
    assert.deepEqual(rows.map((r) => r.type), ['Conv', 'Conv', 'Add', 'Relu', 'MaxPool', 'Conv', 'Relu', 'GlobalAveragePool', 'Flatten', 'Gemm']);
    assert.deepEqual(rows[0].outputShape, [4, 8, 8]);
    assert.deepEqual(rows.map((r) => r.params), [4 * 3 * 9 + 4, 0, 0, 0, 0, 6 * 4 * 9 + 6, 0, 0, 0, 5 * 6 + 5]);
    assert.deepEqual(rt.spatialLayers().map((c) => c.name), ['conv1', 'conv1_twin', 'sum', 'relu1', 'pool1', 'c2', 'relu2']);
    assert.equal(rt.defaultSpatialLayer(), 'relu2');
    assert.equal(rt.resolveTensor('relu2'), 'r2');
    assert.equal(rt.resolveTensor('r2'), 'r2');
    assert.throws(() => rt.resolveTensor('nope'), (e: Error) => e instanceof UserError && /no layer "nope"; spatial layers \(for the CAM methods\): conv1/.test(e.message));
    rt.dispose();
  });

  it('layer table: shape arithmetic (int64 Shape/Gather/Concat) is no layer and has no parameters; only a batch axis is dropped', async () => {
    const i64 = (name: string, values: number[], dims = [values.length]): Init => ({ name, dims, values, type: 'int64' });
    const spec: ModelSpec = { input: { name: 'x', dims: [1, 3, 6, 5] }, outputs: ['y'], nodes: [
      { op: 'Conv', inputs: ['x', 'W'], outputs: ['c'], attrs: convAttrs, name: 'conv' },
      { op: 'Shape', inputs: ['c'], outputs: ['s'], name: 'shape' },
      { op: 'Gather', inputs: ['s', 'zero'], outputs: ['n'], attrs: [A.i('axis', 0)], name: 'gather' },
      { op: 'Unsqueeze', inputs: ['n', 'axis0'], outputs: ['n1'], name: 'unsqueeze' },
      { op: 'Concat', inputs: ['n1', 'minus1'], outputs: ['shape'], attrs: [A.i('axis', 0)], name: 'concat' },
      { op: 'Reshape', inputs: ['c', 'shape'], outputs: ['f'], name: 'flat' },
      // [60, 1] and [4, 1]: a leading axis that is not the batch stays.
      { op: 'Transpose', inputs: ['f'], outputs: ['ft'], attrs: [A.ints('perm', [1, 0])], name: 'column' },
      { op: 'MatMul', inputs: ['Wd', 'ft'], outputs: ['m'], name: 'dense' },
      { op: 'Reshape', inputs: ['m', 'row'], outputs: ['y'], name: 'row' },
    ], inits: [w('W', [2, 3, 3, 3], 1), i64('zero', [0], []), i64('axis0', [0]), i64('minus1', [-1]), w('Wd', [4, 60], 2), i64('row', [1, -1])] };
    const rt = await OnnxRuntime.load(writeModel(spec), { layout: 'asis' });
    assert.deepEqual(rt.layerTable().map((r) => [r.name, r.outputShape, r.params]), [
      ['conv', [2, 6, 5], 54], ['flat', [60], 0], ['column', [60, 1], 0], ['dense', [4, 1], 240], ['row', [4], 0],
    ]);
    rt.dispose();
  });

  it('sessions kept are budgeted by weight bytes: weights filling the budget keep one session, with the same answers', async () => {
    const rt = await OnnxRuntime.load(writeModel(cnn()));
    const cached = () => (rt as unknown as { sessions: Map<string, unknown> }).sessions.size;
    const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 6);
    const seed = tf.oneHot([2], 5).toFloat() as tf.Tensor2D;
    const layers = ['conv1', 'relu1', 'pool1', 'relu2'];
    const gradients = async (check: () => void) => {
      const out: number[][] = [];
      for (const layer of layers) {
        const trace = await rt.trace(x, [layer]);
        const g = (await trace.vjp(seed, [layer])).get(layer)!;
        out.push(Array.from(g.dataSync()));
        tf.dispose([g]);
        trace.dispose();
        check();
      }
      return out;
    };
    const saved = SESSION_BUDGET.bytes;
    try {
      assert.equal(rt.sessionLimit, 6);
      const unlimited = await gradients(() => undefined);
      assert.equal(cached(), 6);
      // 369 float32 weights (1476 bytes), counted 3× per session (4428 bytes): a 2000-byte budget holds
      // one session (the one in use), 13,500 bytes three.
      SESSION_BUDGET.bytes = 2000;
      assert.equal(rt.sessionLimit, 1);
      assert.deepEqual(await gradients(() => assert.equal(cached(), 1)), unlimited);
      SESSION_BUDGET.bytes = 13_500;
      assert.equal(rt.sessionLimit, 3);
      assert.deepEqual(await gradients(() => assert.ok(cached() <= 3, `${cached()} sessions`)), unlimited);
    } finally {
      SESSION_BUDGET.bytes = saved;
      tf.dispose([x, seed]);
      rt.dispose();
    }
  });

  it('the default Grad-CAM layer skips pooling right before the collapse', async () => {
    const spec = cnn();
    spec.nodes.splice(5, 0, { op: 'MaxPool', inputs: ['r2'], outputs: ['p2'], attrs: [A.ints('kernel_shape', [2, 2]), A.ints('strides', [2, 2])], name: 'pool2' });
    spec.nodes[6].inputs = ['p2'];
    const rt = await OnnxRuntime.load(writeModel(spec));
    assert.equal(rt.spatialLayers().at(-1)!.name, 'pool2');
    assert.equal(rt.defaultSpatialLayer(), 'relu2');
    rt.dispose();
  });

  it('the layer table lists no Identity a weight is passed through (torch.onnx.export\'s shared weights); the weight counts at its use, once', async () => {
    const spec = cnn();
    // conv1 reads W1 through two Identities, the Gemm its bias through one: as the exporter writes a reused weight.
    spec.nodes.unshift({ op: 'Identity', inputs: ['W1'], outputs: ['W1_a'], name: 'Identity_0' },
      { op: 'Identity', inputs: ['W1_a'], outputs: ['W1_b'], name: 'Identity_1' }, { op: 'Identity', inputs: ['Bd'], outputs: ['Bd_a'], name: 'Identity_2' });
    spec.nodes.find((n) => n.name === 'conv1')!.inputs[1] = 'W1_b';
    spec.nodes.find((n) => n.name === 'fc')!.inputs[2] = 'Bd_a';
    const ex = await Explainer.open(writeModel(spec));
    const s = ex.summary();
    assert.deepEqual(s.layers.map((l) => l.type), ['Conv', 'Relu', 'MaxPool', 'Conv', 'Relu', 'GlobalAveragePool', 'Flatten', 'Gemm']);
    assert.equal(s.layers[0].params, 4 * 27 + 4);
    assert.equal(s.layers.at(-1)!.params, 35);
    assert.equal(s.totalParams, 4 * 27 + 4 + 6 * 36 + 6 + 35);
    ex.dispose();
  });

  it('a layer named as the layer table shows it leads to its sentence; the lists name layers as the picker does', async () => {
    const ex = await Explainer.open(path.join(__dirname, '..', '..', 'examples', 'mnist-cnn-onnx', 'model.onnx'));
    const x = tf.zeros([1, ...ex.runtime.inputShape]);
    try {
      await assert.rejects(ex.explainTensor(x, { methods: ['gradcam'], layer: 'fc/Gemm' }), (err: Error) => err instanceof UserError &&
        err.message === 'layer "/fc/Gemm" has no spatial output for Grad-CAM (its output is [10]); use one of: conv1, relu1, pool1, conv2, relu2, pool2');
      await assert.rejects(ex.explainTensor(x, { methods: ['gradcam'], layer: 'conv9' }), (err: Error) => err instanceof UserError &&
        err.message === 'the model has no layer "conv9"; spatial layers (for the CAM methods): conv1, relu1, pool1, conv2, relu2, pool2');
    } finally {
      x.dispose();
      ex.dispose();
    }
  });

  it('labels beside the model; ImageNet preprocessing by default for 3-channel NCHW, unless saliency-lens.json says otherwise', async () => {
    const file = writeModel(cnn());
    const dir = path.dirname(file);
    fs.writeFileSync(path.join(dir, 'labels.txt'), 'a\nb\nc\nd\ne\n');
    let ex = await Explainer.open(file);
    assert.equal(ex.labelOf(4), 'e');
    assert.equal(ex.preprocessing.preset, 'imagenet');
    assert.match(ex.preprocessingSource, /ONNX/);
    const s = ex.summary();
    assert.equal(s.format, 'onnx');
    assert.equal(s.path, file);
    assert.equal(s.totalParams, 4 * 27 + 4 + 6 * 36 + 6 + 35);
    ex.dispose();
    fs.writeFileSync(path.join(dir, 'saliency-lens.json'), JSON.stringify({ preprocessing: 'unit' }));
    ex = await Explainer.open(file);
    assert.equal(ex.preprocessing.preset, 'unit');
    ex.dispose();
    ex = await Explainer.open(writeModel(cnn({ channels: 1 })));
    assert.equal(ex.preprocessing.preset, 'unit');
    ex.dispose();
  });

  it('the Explainer explains an image with saliency and Grad-CAM, and compares classes', async () => {
    const ex = await Explainer.open(writeModel(cnn()));
    const x = tf.randomUniform([1, 8, 8, 3], 0, 1, 'float32', 5);
    const before = tf.memory().numTensors;
    const result = await ex.explainTensor(x, { target: 2 });
    assert.deepEqual(result.maps.map((m) => [m.method, m.height, m.width]), [['saliency', 8, 8], ['gradcam', 4, 4]]);
    assert.equal(result.maps[1].layer, 'relu2');
    assert.equal(result.target.index, 2);
    const compared = await ex.compareTensor(x, { classes: [0, 1], method: 'gradcam', layer: 'conv1', contrast: [0, 1] });
    assert.equal(compared.maps.length, 2);
    assert.equal(compared.contrast?.map.height, 8);
    assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    x.dispose();
    ex.dispose();
  });
});
