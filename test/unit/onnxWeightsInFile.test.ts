/**
 * Large weights stay in their file (readOnnx.ts, scanOnnx.ts, weightFile.ts): ONNX Runtime reads them as
 * external data at the place the scan recorded. The threshold is lowered here so that a small model's
 * weights are left in the file; the results must equal those of the same model read whole.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { onnx } from 'onnx-proto';
import { initBackend } from '../../src/engine/backend';
import { UserError } from '../../src/engine/errors';
import { OnnxRuntime } from '../../src/engine/runtimes/onnx/onnxRuntime';
import { LEAVE_IN_FILE_BYTES } from '../../src/engine/runtimes/onnx/readOnnx';
import { SCAN_LIMITS, scanModelFile } from '../../src/engine/runtimes/onnx/scanOnnx';
import { buildSessionModel, PREPACK_LIMIT_BYTES } from '../../src/engine/runtimes/onnx/sessionModel';
import { fileSliceOf } from '../../src/engine/runtimes/onnx/weightFile';
import { floatValues } from '../../src/engine/runtimes/onnx/weights';
import { buildModel, modelProto, resnet18Spec } from '../fixtures/onnxBuilder';
import { cleanupTempDirs, tempDir } from './helpers';

const spec = resnet18Spec(32, 10, 8);
const LOW = 256;

/** A linear classifier over an 8×8 RGB image, whose logits and input gradient are written out by hand below. */
const K = 192;
const C = 10;
const CLASS = 4;
const W = Float32Array.from({ length: K * C }, (_, i) => Math.sin(i * 0.37) * 0.1);
const W2 = Float32Array.from({ length: K * C }, (_, i) => Math.cos(i * 0.91) * 0.3);

function matmulSpec(w: Float32Array) {
  return {
    input: { name: 'input', dims: [1, 3, 8, 8] }, outputs: ['logits'],
    nodes: [{ op: 'Flatten', inputs: ['input'], outputs: ['f'] }, { op: 'MatMul', inputs: ['f', 'w'], outputs: ['logits'] }],
    inits: [{ name: 'w', dims: [K, C], values: w }],
  };
}

/** The same model with `w` as given (or none). */
function matmulProto(w: onnx.ITensorProto | undefined): onnx.IModelProto {
  const m = modelProto(matmulSpec(W));
  m.graph!.initializer = w ? [w] : [];
  return m;
}

/** The image fed, channels-last [1, 8, 8, 3]. */
function childInput(): Float32Array {
  return Float32Array.from({ length: K }, (_, i) => Math.sin(i * 0.7));
}

/** Where NHWC element (h, w, c) lands in the flattened NCHW input. */
const flatIndex = (i: number) => (i % 3) * 64 + Math.floor(i / 3);

function handLogits(x: Float32Array, w: Float32Array): number[] {
  const out = new Array<number>(C).fill(0);
  for (let i = 0; i < K; i++) for (let j = 0; j < C; j++) out[j] += x[i] * w[flatIndex(i) * C + j];
  return out;
}

/** d logits[j] / d input, channels-last: column j of w. */
function handGradient(w: Float32Array, j: number): number[] {
  return Array.from({ length: K }, (_, i) => w[flatIndex(i) * C + j]);
}

/** A length-delimited protobuf field. */
function field(n: number, body: Uint8Array): Buffer {
  const varint = (v: number) => {
    const b: number[] = [];
    for (; v >= 0x80; v = Math.floor(v / 0x80)) b.push((v % 0x80) | 0x80);
    b.push(v);
    return Buffer.from(b);
  };
  return Buffer.concat([varint(n * 8 + 2), varint(body.length), body]);
}

/** Lets session releases (and the removal of copies after them) happen. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

/**
 * The child process of the rewrite test: loads `file` with its weight left in the file and not prepacked (so
 * ONNX Runtime reads it where it was mapped for the session's life), then rewrites the file in place as a
 * training script does, and runs old and new sessions again. Prints what it computed as one JSON line.
 */
async function rewriteChild({ file, other }: { file: string; other: string }): Promise<void> {
  await initBackend();
  LEAVE_IN_FILE_BYTES.min = LOW;
  PREPACK_LIMIT_BYTES.max = 0;
  const rt = await OnnxRuntime.load(file);
  const folder = fileSliceOf(rt.model.graph.initializers.get('w')!)!.folder;
  const x = tf.tensor(childInput(), [1, 8, 8, 3]);
  const seed = tf.oneHot(tf.tensor1d([CLASS], 'int32'), C).toFloat() as tf.Tensor2D;
  const pass = async (): Promise<[number[], number[]]> => {
    const trace = await rt.trace(x);
    const g = (await trace.vjp(seed, ['input'])).get('input')!;
    const out: [number[], number[]] = [Array.from(trace.logits.dataSync()), Array.from(g.dataSync())];
    g.dispose();
    trace.dispose();
    return out;
  };
  const first = await rt.trace(x);
  const before = Array.from(first.logits.dataSync());
  first.dispose();
  const bytes = fs.readFileSync(other);
  // Overwritten in place with other weights, same size (no truncation).
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, bytes, 0, bytes.length, 0);
  fs.closeSync(fd);
  const [afterOverwrite, gradAfterOverwrite] = await pass();
  // Truncated and half written, as open(..., 'wb') leaves it while a training script writes.
  const fd2 = fs.openSync(file, 'w');
  fs.writeSync(fd2, bytes, 0, bytes.length >> 1, 0);
  fs.closeSync(fd2);
  const [afterTruncate, gradAfterTruncate] = await pass();
  rt.dispose();
  await settle();
  console.log(JSON.stringify({ before, afterOverwrite, gradAfterOverwrite, afterTruncate, gradAfterTruncate, folder }));
}

const CHILD = process.env.SALIENCY_REWRITE_CHILD;
if (CHILD) void rewriteChild(JSON.parse(CHILD));

interface Result {
  logits: Float32Array;
  grad: Float32Array;
}

async function run(file: string): Promise<Result> {
  const rt = await OnnxRuntime.load(file);
  try {
    const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 3);
    const trace = await rt.trace(x);
    const seed = tf.oneHot(tf.tensor1d([4], 'int32'), 10).toFloat() as tf.Tensor2D;
    const g = (await trace.vjp(seed, ['input'])).get('input')!;
    const out = { logits: Float32Array.from(trace.logits.dataSync()), grad: Float32Array.from(g.dataSync()) };
    tf.dispose([x, seed, g]);
    trace.dispose();
    return out;
  } finally {
    rt.dispose();
  }
}

async function withThreshold<T>(min: number, f: () => Promise<T>): Promise<T> {
  const saved = LEAVE_IN_FILE_BYTES.min;
  LEAVE_IN_FILE_BYTES.min = min;
  try {
    return await f();
  } finally {
    LEAVE_IN_FILE_BYTES.min = saved;
  }
}

if (!CHILD) describe('weights left in their file', () => {
  let dir = '';
  before(async () => {
    await initBackend();
    dir = tempDir('saliency-infile-');
  });
  after(cleanupTempDirs);

  it('the scan leaves out exactly the large raw data, at its place in the file', () => {
    const file = path.join(dir, 'scan.onnx');
    const bytes = buildModel(spec);
    fs.writeFileSync(file, bytes);
    const scanned = scanModelFile(file, LOW);
    const whole = onnx.ModelProto.decode(bytes);
    const small = onnx.ModelProto.decode(scanned.bytes);
    const inits = whole.graph!.initializer!;
    assert.equal(small.graph!.initializer!.length, inits.length);
    let left = 0;
    inits.forEach((t, i) => {
      const place = scanned.leftOut.get(i);
      const raw = t.rawData!;
      if (raw.length >= LOW) {
        left++;
        assert.ok(place, `${t.name} was not left out`);
        assert.ok(Buffer.from(bytes.subarray(place!.offset, place!.offset + place!.length)).equals(Buffer.from(raw)));
        assert.equal(small.graph!.initializer![i].rawData!.length, 0);
      } else {
        assert.equal(place, undefined);
        assert.ok(Buffer.from(small.graph!.initializer![i].rawData!).equals(Buffer.from(raw)));
      }
      assert.equal(small.graph!.initializer![i].name, t.name);
    });
    assert.ok(left > 5);
    // Everything but the weights is as written.
    assert.equal(small.graph!.node!.length, whole.graph!.node!.length);
  });

  it('logits and input gradient equal those of the model read whole; sessions carry no weight bytes', async () => {
    const file = path.join(dir, 'model.onnx');
    fs.writeFileSync(file, buildModel(spec));
    const whole = await withThreshold(2 ** 40, () => run(file));
    const inFile = await withThreshold(LOW, () => run(file));
    assert.deepEqual(inFile.logits, whole.logits);
    assert.deepEqual(inFile.grad, whole.grad);
    await withThreshold(LOW, async () => {
      const rt = await OnnxRuntime.load(file);
      try {
        const left = [...rt.model.graph.initializers.values()].filter((t) => fileSliceOf(t));
        assert.ok(left.length > 5);
        // The weights are readable on demand (weight randomization reads them).
        const t = left[0];
        const expected = spec.inits!.find((i) => i.name === t.name)!.values;
        assert.deepEqual(floatValues(t), Float32Array.from(expected));
        const session = buildSessionModel(rt.model, { logits: true, keep: [], grads: { targets: [rt.model.input.name], seeds: 1 } });
        assert.ok(session.bytes.length < fs.statSync(file).size / 2, `session model of ${session.bytes.length} bytes`);
        // The session maps the engine's private copy, not the user's file.
        const folder = session.config.model_external_initializers_file_folder_path;
        assert.equal(path.dirname(folder), os.tmpdir());
        assert.match(path.basename(folder), new RegExp(`^saliency-lens-weights-${process.pid}-`));
        assert.equal(fileSliceOf(t)!.folder, folder);
      } finally {
        rt.dispose();
      }
    });
  });

  it('weights in an external-data file stay there too, with the same results', async () => {
    const sub = tempDir('saliency-infile-ext-');
    const proto = onnx.ModelProto.fromObject(modelProto(spec));
    const chunks: Buffer[] = [];
    let offset = 0;
    for (const t of proto.graph!.initializer!) {
      const raw = Buffer.from(t.rawData!);
      t.externalData = [{ key: 'location', value: 'weights.bin' }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(raw.length) }]
        .map((e) => onnx.StringStringEntryProto.create(e));
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.rawData = new Uint8Array();
      chunks.push(raw);
      offset += raw.length;
    }
    fs.writeFileSync(path.join(sub, 'weights.bin'), Buffer.concat(chunks));
    const file = path.join(sub, 'model.onnx');
    fs.writeFileSync(file, onnx.ModelProto.encode(proto).finish());
    const inline = path.join(dir, 'inline.onnx');
    fs.writeFileSync(inline, buildModel(spec));
    const expected = await withThreshold(2 ** 40, () => run(inline));
    const ours = await withThreshold(LOW, () => run(file));
    assert.deepEqual(ours.logits, expected.logits);
    assert.deepEqual(ours.grad, expected.grad);
  });

  it('the private copy of the weights is removed when the runtime is disposed, and at the next load for a dead process', async () => {
    const file = path.join(dir, 'owned.onnx');
    fs.writeFileSync(file, buildModel(spec));
    // A folder left by a process that died without exiting (a pid that has just ended).
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const stale = path.join(os.tmpdir(), `saliency-lens-weights-${dead}-test`);
    fs.mkdirSync(stale, { recursive: true });
    fs.writeFileSync(path.join(stale, '1-model.onnx'), 'x');
    await withThreshold(LOW, async () => {
      const rt = await OnnxRuntime.load(file);
      const copy = fileSliceOf([...rt.model.graph.initializers.values()].find((t) => fileSliceOf(t))!)!.file;
      assert.ok(fs.existsSync(copy));
      assert.notEqual(fs.realpathSync(copy), fs.realpathSync(file));
      assert.ok(!fs.existsSync(stale), 'the dead process\'s folder was not removed');
      // A runtime over replaced weights shares the copy: disposing it first must not take the copy away.
      const first = [...rt.model.graph.initializers.values()].find((t) => fileSliceOf(t))!;
      const other = await rt.withInitializers(new Map([[first.name!, new Float32Array(floatValues(first).length)]]));
      other.dispose();
      await settle();
      assert.ok(fs.existsSync(copy), 'the copy went with a runtime that shared it');
      rt.dispose();
      await settle();
      assert.ok(!fs.existsSync(copy), 'the copy outlived its runtime');
    });
  });

  it('a model rewritten in place after loading changes nothing: old sessions, new sessions, no crash (child process)', async () => {
    const file = path.join(dir, 'rewritten.onnx');
    fs.writeFileSync(file, buildModel(matmulSpec(W)));
    const other = path.join(dir, 'other.onnx');
    fs.writeFileSync(other, buildModel(matmulSpec(W2)));
    assert.equal(fs.statSync(file).size, fs.statSync(other).size);
    // A SIGBUS from a truncated mapped file kills the process: run it in a child, so it fails this test instead.
    const res = spawnSync(process.execPath, ['--import', 'tsx', __filename], {
      cwd: path.resolve(__dirname, '../..'), encoding: 'utf8', timeout: 120_000,
      env: { ...process.env, NODE_TEST_CONTEXT: '', SALIENCY_REWRITE_CHILD: JSON.stringify({ file, other }) },
    });
    assert.equal(res.signal, null, `child killed by ${res.signal}: ${res.stderr.slice(-2000)}`);
    assert.equal(res.status, 0, res.stderr.slice(-2000));
    const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as Record<string, number[]> & { folder: string };
    const x = childInput();
    const logits = handLogits(x, W);
    const close = (a: number[], b: ArrayLike<number>, what: string) =>
      assert.ok(a.every((v, i) => Math.abs(v - b[i]) <= 1e-5 * (1 + Math.abs(b[i]))), `${what}: ${a.slice(0, 4)} vs ${Array.from(b).slice(0, 4)}`);
    close(out.before, logits, 'logits before');
    close(out.afterOverwrite, logits, 'logits of the existing session after the file was overwritten');
    close(out.gradAfterOverwrite, handGradient(W, CLASS), 'gradient of a session made after the file was overwritten');
    close(out.afterTruncate, logits, 'logits of the existing session after the file was truncated');
    close(out.gradAfterTruncate, handGradient(W, CLASS), 'gradient of the existing session after the file was truncated');
    assert.ok(!fs.existsSync(out.folder), 'the private folder outlived its process');
  });

  it('a file of a million repeated fields opens, in a bounded number of parts', async () => {
    const file = path.join(dir, 'repeated.onnx');
    // ir_version = 8 a million times (protobuf keeps the last), then the model.
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc(2e6).fill(Buffer.from([0x08, 0x08])), Buffer.from(buildModel(spec))]));
    const scanned = scanModelFile(file, LOW);
    assert.ok(scanned.leftOut.size > 5);
    // A run of copied fields is one part; each left-out raw data adds a few (the runs around it, the new headers).
    assert.ok(scanned.parts <= 4 * scanned.leftOut.size + 4, `${scanned.parts} parts for ${scanned.leftOut.size} left out`);
    const plain = path.join(dir, 'plain.onnx');
    fs.writeFileSync(plain, buildModel(spec));
    const expected = await withThreshold(2 ** 40, () => run(plain));
    const ours = await withThreshold(LOW, () => run(file));
    assert.deepEqual(ours.logits, expected.logits);
  });

  it('a file needing more parts than the limit is read whole, with the same results', async () => {
    const file = path.join(dir, 'parts.onnx');
    fs.writeFileSync(file, buildModel(spec));
    const saved = SCAN_LIMITS.parts;
    SCAN_LIMITS.parts = 8;
    try {
      assert.throws(() => scanModelFile(file, LOW), /too many parts/);
      const rt = await withThreshold(LOW, () => OnnxRuntime.load(file));
      assert.equal([...rt.model.graph.initializers.values()].filter((t) => fileSliceOf(t)).length, 0);
      rt.dispose();
    } finally {
      SCAN_LIMITS.parts = saved;
    }
    const whole = await withThreshold(2 ** 40, () => run(file));
    const ours = await withThreshold(LOW, () => run(file));
    assert.deepEqual(ours.logits, whole.logits);
  });

  it('a tensor whose bytes do not fill its shape is refused before anything is allocated for it', async () => {
    const declared = 2 ** 29;
    const held = 2 ** 20;
    const bytes = (w: onnx.ITensorProto) => onnx.ModelProto.encode(matmulProto(w)).finish();
    const lying = { name: 'w', dims: [declared], dataType: 1, rawData: new Uint8Array(held) };
    const message = (err: Error) => err instanceof UserError && err.message.includes(`tensor "w" holds ${held} bytes, its shape [${declared}] needs ${declared * 4}`);
    const inFile = path.join(dir, 'lying.onnx');
    fs.writeFileSync(inFile, bytes(lying));
    // Left in the file (the scan), and read into memory (the probe's zeros are made by the declared shape).
    await withThreshold(LOW, () => assert.rejects(OnnxRuntime.load(inFile), message));
    await withThreshold(2 ** 40, () => assert.rejects(OnnxRuntime.load(inFile), message));
    // Stored in an external-data file.
    const sub = tempDir('saliency-infile-lying-');
    fs.writeFileSync(path.join(sub, 'w.bin'), new Uint8Array(held));
    const external = path.join(sub, 'model.onnx');
    fs.writeFileSync(external, bytes({ name: 'w', dims: [declared], dataType: 1, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: '0' }, { key: 'length', value: String(held) }] }));
    await withThreshold(LOW, () => assert.rejects(OnnxRuntime.load(external), message));
  });

  it('raw data given twice: the last one counts, as protobuf decodes it', async () => {
    const file = path.join(dir, 'twice.onnx');
    const right = Buffer.from(W.buffer, W.byteOffset, W.byteLength);
    // First a large wrong raw_data (left out if the scan took it), then the right one, small enough to stay inline.
    const wrong = Buffer.alloc(right.length * 2, 0x41);
    const head = onnx.TensorProto.encode({ name: 'w', dims: [K, C], dataType: 1 }).finish();
    const tensor = Buffer.concat([head, field(9, wrong), field(9, right)]);
    const graph = Buffer.concat([onnx.GraphProto.encode(matmulProto(undefined).graph!).finish(), field(5, tensor)]);
    const model = Buffer.concat([onnx.ModelProto.encode({ ...matmulProto(undefined), graph: undefined }).finish(), field(7, graph)]);
    fs.writeFileSync(file, model);
    assert.ok(Buffer.from(onnx.ModelProto.decode(model).graph!.initializer![0].rawData!).equals(right));
    await withThreshold(right.length + 1, async () => {
      const rt = await OnnxRuntime.load(file);
      try {
        const x = tf.tensor(childInput(), [1, 8, 8, 3]);
        const trace = await rt.trace(x);
        const got = Array.from(trace.logits.dataSync());
        const expected = handLogits(childInput(), W);
        assert.ok(got.every((v, i) => Math.abs(v - expected[i]) <= 1e-5 * (1 + Math.abs(expected[i]))), `${got.slice(0, 3)} vs ${expected.slice(0, 3)}`);
        trace.dispose();
        x.dispose();
      } finally {
        rt.dispose();
      }
    });
  });
});
