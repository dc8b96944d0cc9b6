/**
 * Fuzz test of every model reader: hundreds of mutated model.json files, weight shards, .onnx, .h5 and
 * .keras files (truncations, byte flips, repeated, zeroed and random spans; JSON values swapped for
 * wrong types, deleted, duplicated or made huge; ONNX fields changed past the protobuf decoder; the
 * model_config text of .h5 files edited; config.json and model.weights.h5 of .keras archives broken
 * inside a valid zip). Each case opens the model as the user would and, when it opens, explains an
 * image. It must end, within the time limit, with a result or with a UserError of one line that starts
 * with the path of the model's file or folder. Anything else fails, with the seed and case to rerun.
 *
 * Where the cases run: in one forked worker process (test/fixtures/fuzzWorker.ts), one case in flight
 * at a time. Loading is in-process and partly synchronous (JSON, protobuf, HDF5 parsing), so a hang
 * could not be interrupted from inside, and a native crash or an out-of-memory abort would take the
 * test runner down. From the outside all three are seen: a case that does not answer in time is a hang
 * (the worker is killed), a worker that exits mid-case is a crash (its stderr tail says why), and a
 * worker whose resident memory passes the limit is an allocation blow-up. Since only one case is ever
 * in flight, the culprit is always known (no bisecting), and a fresh worker carries on with the next
 * case. A process per case would cost ~2 s of engine start-up each; the shared worker costs it once.
 *
 * Env: FUZZ_SEED (default below), FUZZ_CASES (total cases, spread over the targets round-robin),
 * FUZZ_CASE=i (run only case i, print what it did and keep its folder), FUZZ_TIMEOUT_MS (per case),
 * FUZZ_MAX_RSS_MB (worker memory limit), FUZZ_TARGET (only targets whose name contains it), FUZZ_TRACE (a line per case).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { buildSmallResidual } from '../fixtures/architectures';
import { saveAsGraphModel } from '../fixtures/graphModelWriter';
import { describeCase, planCase, TARGETS } from '../fixtures/fuzzCases';
import type { CaseReply, Outcome, WorkerMessage } from '../fixtures/fuzzWorker';
import { UserError } from '../../src/engine/errors';
import { loadModel } from '../../src/engine/model/loadModel';
import { cleanupTempDirs, tempDir } from './helpers';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5a11e);
/**
 * Measured here (2 cores): ~15 ms per case on average (most refusals take 1–5 ms, a model that opens and
 * is explained 50–500 ms); 150 cases per target (2,400) take about 70 s with start-up.
 */
const CASES = Number(process.env.FUZZ_CASES ?? 150 * TARGETS.length);
const ONLY = process.env.FUZZ_CASE !== undefined ? Number(process.env.FUZZ_CASE) : undefined;
/** Only the targets whose name contains this, e.g. FUZZ_TARGET=onnx. */
const ONLY_TARGET = process.env.FUZZ_TARGET;
const CASE_TIMEOUT_MS = Number(process.env.FUZZ_TIMEOUT_MS ?? 20_000);
const MAX_RSS_MB = Number(process.env.FUZZ_MAX_RSS_MB ?? 3072);

const ROOT = path.join(__dirname, '..', '..');
const WORKER = path.join(__dirname, '..', 'fixtures', 'fuzzWorker.ts');
const rerun = (index: number) => `FUZZ_SEED=${SEED} FUZZ_CASE=${index} node --import tsx --test test/unit/fuzz.test.ts`;

let seedsDir = '';
let reportDir = '';
let hasKeras = false;

/** The seed models, each in its own folder: layers, graph, onnx, keras. */
async function writeSeeds(dir: string): Promise<void> {
  const copy = (from: string, to: string, only?: (f: string) => boolean) => {
    fs.mkdirSync(to, { recursive: true });
    for (const f of fs.readdirSync(from)) if (!only || only(f)) fs.copyFileSync(path.join(from, f), path.join(to, f));
  };
  copy(path.join(ROOT, 'examples', 'mnist-cnn'), path.join(dir, 'layers'));
  copy(path.join(ROOT, 'examples', 'mnist-cnn-onnx'), path.join(dir, 'onnx'));
  // A GraphModel in the TF.js converter's fused form, of a small residual net (16×16×3, 5 classes), its
  // weights in three shards of one group as the converter splits them.
  const graph = path.join(dir, 'graph');
  await saveAsGraphModel(buildSmallResidual({ seed: 3, classes: 5 }), graph);
  const bin = fs.readFileSync(path.join(graph, 'group1-shard1of1.bin'));
  fs.rmSync(path.join(graph, 'group1-shard1of1.bin'));
  const cuts = [0, 1000, Math.floor(bin.length / 2), bin.length];
  const shards = [1, 2, 3].map((k) => `group1-shard${k}of3.bin`);
  shards.forEach((name, k) => fs.writeFileSync(path.join(graph, name), bin.subarray(cuts[k], cuts[k + 1])));
  const json = JSON.parse(fs.readFileSync(path.join(graph, 'model.json'), 'utf8'));
  json.weightsManifest[0].paths = shards;
  fs.writeFileSync(path.join(graph, 'model.json'), JSON.stringify(json));
  fs.writeFileSync(path.join(graph, 'labels.txt'), 'cat\ndog\nbird\nfish\nfrog\n');
  // The ONNX example with its weights in an external-data file beside it.
  const external = path.join(dir, 'onnx-external');
  fs.mkdirSync(external);
  const model = onnx.ModelProto.decode(fs.readFileSync(path.join(dir, 'onnx', 'model.onnx')));
  const data: Buffer[] = [];
  let offset = 0;
  for (const t of model.graph!.initializer!) {
    const raw = Buffer.from(t.rawData!);
    t.externalData = [{ key: 'location', value: 'model.onnx.data' }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(raw.length) }];
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.rawData = new Uint8Array(0);
    data.push(raw);
    offset += raw.length;
  }
  fs.writeFileSync(path.join(external, 'model.onnx'), onnx.ModelProto.encode(model).finish());
  fs.writeFileSync(path.join(external, 'model.onnx.data'), Buffer.concat(data));
  const keras = path.join(ROOT, 'test', 'fixtures', 'keras');
  hasKeras = fs.existsSync(path.join(keras, 'cnn.keras'));
  if (hasKeras) copy(keras, path.join(dir, 'keras'), (f) => /\.(h5|keras)$/.test(f));
}

type Run =
  | { kind: 'reply'; reply: CaseReply }
  | { kind: 'hang' | 'crash' | 'memory'; detail: string };

/** The worker process, restarted after a hang, crash or memory blow-up. */
class Worker {
  private child?: ChildProcess;
  private stderrTail = '';
  private onMessage?: (m: WorkerMessage) => void;
  private onExit?: (code: number | null, signal: string | null) => void;
  ready?: Extract<WorkerMessage, { type: 'ready' }>;

  /** Starts the worker; the first start also checks that the unmutated seeds open. */
  async start(): Promise<void> {
    const env: NodeJS.ProcessEnv = {
      ...process.env, FUZZ_SEEDS_DIR: seedsDir, FUZZ_SEED: String(SEED),
      ...(ONLY !== undefined ? { FUZZ_KEEP: '1' } : {}), ...(this.ready ? { FUZZ_SKIP_SEEDS: '1' } : {}),
    };
    delete env.NODE_TEST_CONTEXT;
    const child = fork(WORKER, [], {
      cwd: ROOT,
      env,
      // On a hang, SIGUSR2 makes Node write a diagnostic report: where the worker's JavaScript is stuck.
      execArgv: ['--import', 'tsx', '--max-old-space-size=2048', '--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${reportDir}`],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.child = child;
    this.stderrTail = '';
    const keepTail = (chunk: Buffer) => { this.stderrTail = (this.stderrTail + chunk.toString()).slice(-6000); };
    child.stdout!.on('data', keepTail);
    child.stderr!.on('data', keepTail);
    child.on('message', (m: WorkerMessage) => this.onMessage?.(m));
    child.on('exit', (code, signal) => this.onExit?.(code, signal));
    const ready = await new Promise<Extract<WorkerMessage, { type: 'ready' }>>((resolve, reject) => {
      this.onMessage = (m) => m.type === 'ready' && resolve(m);
      this.onExit = (code, signal) => reject(new Error(`fuzz worker exited while starting (${code ?? signal}):\n${this.stderrTail}`));
    });
    this.ready ??= ready;
  }

  /** Memory the worker holds (Linux; elsewhere the worker's own report after each case must do). */
  private rssMb(): number | undefined {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${this.child!.pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  async run(index: number): Promise<Run> {
    if (!this.child) await this.start();
    const child = this.child!;
    const result = await new Promise<Run>((resolve) => {
      const done = (r: Run) => { clearTimeout(timer); clearInterval(poll); resolve(r); };
      const timer = setTimeout(() => done({ kind: 'hang', detail: `no answer within ${CASE_TIMEOUT_MS} ms` }), CASE_TIMEOUT_MS);
      const poll = setInterval(() => {
        const rss = this.rssMb();
        if (rss !== undefined && rss > MAX_RSS_MB) done({ kind: 'memory', detail: `worker memory reached ${Math.round(rss)} MB (limit ${MAX_RSS_MB} MB)` });
      }, 100);
      this.onMessage = (m) => m.type === 'result' && m.reply.index === index && done({ kind: 'reply', reply: m.reply });
      this.onExit = (code, signal) => done({ kind: 'crash', detail: `worker exited with ${signal ?? `code ${code}`}; its last output:\n${this.stderrTail.slice(-3000)}` });
      child.send({ index });
    }).finally(() => { this.onMessage = undefined; this.onExit = undefined; });
    if (result.kind === 'reply' && result.reply.rssMb > MAX_RSS_MB) {
      await this.stop();
      return { kind: 'memory', detail: `worker memory reached ${Math.round(result.reply.rssMb)} MB after the case (limit ${MAX_RSS_MB} MB)` };
    }
    if (result.kind === 'hang') result.detail += `; ${await this.stuckAt()}; its last output:\n${this.stderrTail.slice(-1500)}`;
    if (result.kind !== 'reply') await this.stop();
    return result;
  }

  /** The JavaScript stack of a hung worker, from a diagnostic report. */
  private async stuckAt(): Promise<string> {
    const child = this.child!;
    const before = new Set(fs.readdirSync(reportDir));
    child.kill('SIGUSR2');
    for (let waited = 0; waited < 5000; waited += 100) {
      await new Promise((r) => setTimeout(r, 100));
      const fresh = fs.readdirSync(reportDir).filter((f) => !before.has(f) && f.endsWith('.json'));
      if (!fresh.length) continue;
      try {
        const report = JSON.parse(fs.readFileSync(path.join(reportDir, fresh[0]), 'utf8'));
        const js = report.javascriptStack;
        return `stuck in: ${js?.message ?? ''}\n${(js?.stack ?? []).slice(0, 25).join('\n')}`;
      } catch {
        // Still being written.
      }
    }
    return 'no diagnostic report from the worker';
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

/** Why an outcome fails the test, or undefined when it is a result or a clear sentence naming the model. */
function judge(outcome: Outcome, dir: string): string | undefined {
  if (outcome.status === 'ok') return undefined;
  if (outcome.status === 'error') return `${outcome.name} escaped: ${outcome.stack || outcome.message}`;
  const m = outcome.message;
  if (m.includes('\n')) return `UserError of several lines: ${m}`;
  if (/\bat \S+ \(?\S+:\d+:\d+\)?/.test(m)) return `UserError carrying a stack frame: ${m}`;
  if (!m.startsWith(dir)) return `UserError that does not start with the model's path (${dir}): ${m}`;
  return undefined;
}

const worker = new Worker();
const failures: string[] = [];
const stats = { ok: 0, refused: 0, ms: 0, slowest: { ms: 0, index: -1 }, maxRssMb: 0, leakedTensors: 0, restarts: 0 };

before(async () => {
  seedsDir = tempDir('saliency-fuzz-seeds-');
  reportDir = tempDir('saliency-fuzz-reports-');
  await writeSeeds(seedsDir);
  await worker.start();
});

after(async () => {
  await worker.stop();
  cleanupTempDirs();
});

describe(`fuzzed model files (seed ${SEED})`, { timeout: 30 * 60_000 }, () => {
  it('the unmutated seed models open and explain', () => {
    const seeds = worker.ready!.seedOutcomes;
    for (const [name, outcome] of Object.entries(seeds)) {
      if (!hasKeras && name.startsWith('keras/')) continue;
      assert.equal(outcome.status, 'ok', `${name}: ${JSON.stringify(outcome)}`);
    }
  });

  const targets = TARGETS.map((t, i) => ({ t, i }))
    .filter(({ t }) => (ONLY === undefined || TARGETS[ONLY % TARGETS.length] === t) && (!ONLY_TARGET || t.name.includes(ONLY_TARGET)));
  for (const { t, i: ti } of targets) {
    it(t.name, async (ctx) => {
      if (t.seed === 'keras' && !hasKeras) return ctx.skip('no Keras fixtures in test/fixtures/keras');
      if (t.seed === 'keras' && !worker.ready?.kerasWired) ctx.diagnostic('loadModel does not open Keras files yet: readKerasFile, then its artifacts as a TF.js folder');
      const indices = ONLY !== undefined ? [ONLY] : Array.from({ length: CASES }, (_, i) => i).filter((i) => i % TARGETS.length === ti);
      const mine: string[] = [];
      for (const index of indices) {
        const run = await worker.run(index);
        let problem: string | undefined;
        let description: string;
        if (run.kind === 'reply') {
          const { reply } = run;
          description = reply.description;
          problem = judge(reply.outcome, reply.dir);
          stats.ms += reply.ms;
          if (reply.ms > stats.slowest.ms) stats.slowest = { ms: reply.ms, index };
          stats.maxRssMb = Math.max(stats.maxRssMb, reply.rssMb);
          stats.leakedTensors += reply.leakedTensors;
          if (process.env.FUZZ_TRACE) ctx.diagnostic(`case ${index}: ${Math.round(reply.ms)} ms, rss ${Math.round(reply.rssMb)} MB, ${reply.outcome.status}${reply.leakedTensors ? `, ${reply.leakedTensors} tensors left` : ''}` +
            `${reply.outcome.status === 'user-error' ? `: ${reply.outcome.message.replace(reply.dir, '…')}` : ''}`);
          if (!problem) reply.outcome.status === 'ok' ? stats.ok++ : stats.refused++;
          // An error that escaped may have left the process broken (a tfjs wasm kernel writing out of
          // bounds poisons every later wasm op): later cases get a fresh worker, so they are judged alone.
          if (reply.outcome.status === 'error') {
            await worker.stop();
            stats.restarts++;
          }
          if (ONLY !== undefined) {
            ctx.diagnostic(`case ${index}: ${description}`);
            ctx.diagnostic(`folder: ${reply.dir}`);
            ctx.diagnostic(`outcome (${Math.round(reply.ms)} ms): ${JSON.stringify(reply.outcome)}`);
          }
        } else {
          try {
            description = describeCase(planCase(seedsDir, SEED, index));
          } catch (err) {
            description = `(the case could not be planned: ${(err as Error).message})`;
          }
          problem = `${run.kind}: ${run.detail}`;
          stats.restarts++;
          // Once more in a fresh worker: does the case do it alone, or only after the cases before it?
          const again = await worker.run(index);
          if (again.kind !== 'reply') stats.restarts++;
          problem += again.kind === run.kind ? `\n  (the same again in a fresh worker)`
            : `\n  (in a fresh worker it ended otherwise: ${again.kind === 'reply' ? JSON.stringify(again.reply.outcome).slice(0, 300) : again.kind}; ` +
              'so it depends on the cases before it, or on the machine\'s load)';
        }
        if (problem) mine.push(`case ${index} [${description}]\n  ${problem}\n  rerun: ${rerun(index)}`);
      }
      failures.push(...mine);
      assert.equal(mine.length, 0, `${mine.length} of ${indices.length} cases failed:\n\n${mine.join('\n\n')}`);
    });
  }

  it('summary', (ctx) => {
    ctx.diagnostic(`${stats.ok} opened and explained, ${stats.refused} refused with a sentence, ${failures.length} failed; ` +
      `${Math.round(stats.ms / 1000)} s in cases, slowest case ${stats.slowest.index} (${Math.round(stats.slowest.ms)} ms); ` +
      `worker memory at most ${Math.round(stats.maxRssMb)} MB, ${stats.restarts} worker restarts, ${stats.leakedTensors} tfjs tensors left behind`);
  });
});

/** What fuzzing found, pinned down: each a file that once escaped as a TypeError or a message off the rules. */
describe('regressions found by fuzzing', () => {
  /** A copy of a seed model folder with one file replaced. */
  function variant(seed: string, file: string, content: string | Uint8Array): string {
    const dir = tempDir('saliency-fuzz-regression-');
    for (const f of fs.readdirSync(path.join(seedsDir, seed))) fs.copyFileSync(path.join(seedsDir, seed, f), path.join(dir, f));
    fs.writeFileSync(path.join(dir, file), content);
    return dir;
  }

  async function refuses(target: string, named: string, what: RegExp): Promise<void> {
    await assert.rejects(loadModel(target), (e: Error) => {
      assert.ok(e instanceof UserError, `not a UserError: ${e.stack}`);
      assert.ok(e.message.startsWith(`${named}: `), `does not name ${named}: ${e.message}`);
      assert.ok(!e.message.includes('\n'), `not one line: ${e.message}`);
      assert.match(e.message, what);
      return true;
    });
  }

  const settings = (extra: object) => JSON.stringify({ preprocessing: 'unit', ...extra });
  it('saliency-lens.json whose "preprocessing" is neither a name nor a pipeline object, or no preprocessing there is', async () => {
    for (const value of [7, [], null]) {
      const dir = variant('layers', 'saliency-lens.json', settings({ preprocessing: value }));
      await refuses(dir, path.join(dir, 'saliency-lens.json'), /"preprocessing": .*expected a name such as "imagenet"/);
    }
    const object = variant('layers', 'saliency-lens.json', settings({ preprocessing: { a: 1 } }));
    await refuses(object, path.join(object, 'saliency-lens.json'), /preprocessing JSON has unknown key "a"; it takes preset, resize, crop, affine, channels/);
    const dir = variant('layers', 'saliency-lens.json', settings({ preprocessing: 'Small CNN trained on MNIST' }));
    await refuses(dir, path.join(dir, 'saliency-lens.json'), /unknown preprocessing "Small CNN trained on MNIST"; use one of raw/);
    const custom = variant('layers', 'saliency-lens.json', settings({ preprocessing: 'custom:0.5;0' }));
    await refuses(custom, path.join(custom, 'saliency-lens.json'), /every std value must be greater than 0/);
  });

  it('saliency-lens.json that is not an object', async () => {
    for (const text of ['null', '[1]', '"unit"']) {
      const dir = variant('layers', 'saliency-lens.json', text);
      await refuses(dir, path.join(dir, 'saliency-lens.json'), /is not a JSON object of settings/);
    }
  });

  it('JSON files whose parse error quotes a newline of the file', async () => {
    const broken = '{"modelTopology": {"a": tr\n\u0001ue}}';
    let dir = variant('layers', 'model.json', broken);
    await refuses(dir, path.join(dir, 'model.json'), /is not valid JSON \(.*\\u000a/);
    dir = variant('layers', 'saliency-lens.json', broken);
    await refuses(dir, path.join(dir, 'saliency-lens.json'), /is not valid JSON \(.*\\u000a/);
    dir = variant('layers', 'labels.json', broken);
    fs.rmSync(path.join(dir, 'labels.txt'));
    await refuses(dir, path.join(dir, 'labels.json'), /is not valid JSON \(.*\\u000a/);
  });

  it('a weight file name with a newline in model.json', async () => {
    const json = JSON.parse(fs.readFileSync(path.join(seedsDir, 'layers', 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['group1\nshard.bin'];
    const dir = variant('layers', 'model.json', JSON.stringify(json));
    await refuses(dir, path.join(dir, 'model.json'), /weight file name "group1\\nshard\.bin" holds control characters/);
  });

  /** The external-data seed with its first tensor's entry `key` set to `value`. */
  function externalVariant(key: string, value: string): string {
    const model = onnx.ModelProto.decode(fs.readFileSync(path.join(seedsDir, 'onnx-external', 'model.onnx')));
    const entry = model.graph!.initializer![0].externalData!.find((e) => e.key === key)!;
    entry.value = value;
    return path.join(variant('onnx-external', 'model.onnx', onnx.ModelProto.encode(model).finish()), 'model.onnx');
  }

  it('ONNX external data with an offset or length that is not a byte count', async () => {
    for (const [key, value] of [['offset', 'abc'], ['offset', '-1'], ['length', '1.5'], ['length', '1e3']]) {
      const file = externalVariant(key, value);
      await refuses(file, file, new RegExp(`malformed external-data ${key} "${value.replace('.', '\\.')}" \\(expected a byte count\\)`));
    }
  });

  it('ONNX names with newlines are quoted on one line', async () => {
    const file = externalVariant('location', 'model.onnx\n.data');
    await refuses(file, file, /external data location "model\.onnx\\n\.data" of tensor "conv1\.weight" is not a usable file name/);
    const model = onnx.ModelProto.decode(fs.readFileSync(path.join(seedsDir, 'onnx', 'model.onnx')));
    model.graph!.input![0].type!.tensorType!.elemType = onnx.TensorProto.DataType.INT64;
    for (const n of model.graph!.node!) n.input = n.input!.map((i) => (i === 'input' ? 'in\nput' : i));
    model.graph!.input![0].name = 'in\nput';
    const dir = variant('onnx', 'model.onnx', onnx.ModelProto.encode(model).finish());
    await refuses(path.join(dir, 'model.onnx'), path.join(dir, 'model.onnx'), /input "in\\nput" is int64/);
  });
});
