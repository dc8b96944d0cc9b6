import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { BackendName, initBackend } from './engine/backend';
import { describeError, UserError } from './engine/errors';
import { Explainer, ImageExplanation, MethodName, ModelSummary, OpenOptions } from './engine/explain';
import { methodOptionFlags, parseMethodOptions, methodsHelp } from './cliMethods';
import { DEFAULT_METHODS, METHOD_NAMES, METHODS, MethodSpec } from './shared/methods';
import { reportEntryFor } from './engine/report/reportEntry';
import { buildHtmlReport, ReportEntry } from './shared/htmlReport';
import { listInputImages } from './engine/io/folderImages';
import { IMAGE_FORMATS_TEXT } from './shared/imageFiles';
import { writeExplanation } from './engine/io/writeExplanation';
import { COLORMAPS, ColormapName, isColormapName } from './shared/colormaps';
import { layerLabel, shortLayerNames } from './shared/layerNames';
import { isRuntimeChoice, RUNTIME_CHOICES, RuntimeChoice } from './engine/model/loadModel';
import { checkMeasures, DEFAULT_MEASURES, evaluateImage, ImageEvaluation, MEASURES, summarize } from './engine/metrics/evaluate';
import { formatScore } from './shared/measures';
import { FAITHFULNESS_BASELINES, FaithfulnessBaseline, MAX_STEPS } from './engine/metrics/faithfulness';
import { buildEvaluationReport } from './engine/report/evaluationReport';
import { loadImageFile, LoadOptions } from './engine/image/load';
import { AFFINE_PRESETS, FRAMEWORK_PIPELINES } from './shared/protocol';

const usage = () => `Usage:
  saliency-lens explain --model PATH --image FILE|DIR [--image …] [options]
  saliency-lens evaluate --model PATH --image FILE|DIR [--image …] [options]
  saliency-lens inspect --model PATH [--json]

explain options:
  --method NAME[,NAME…]       methods to run (default saliency,gradcam; see below)
  --class N|LABEL|top         class to explain (default: top prediction)
  --layer NAME                spatial layer of the CAM methods (default: automatic; see inspect)
  --preprocessing P           how images become the model's input (alias --preset): a framework's eval pipeline
                              (${FRAMEWORK_PIPELINES.join(' | ')}), an affine preset (${AFFINE_PRESETS.join(' | ')} | custom:MEAN;STD),
                              NAME+AFFINE, or JSON such as '{"preset":"timm","crop":{"fraction":0.95}}'
  --out DIR                   output folder (default ./saliency-lens-out)
  --colormap NAME             ${COLORMAPS.join(' | ')} (default jet)
  --opacity A                 heatmap opacity 0–1 (default 0.5)
  --clip P                    saturate values above the P-th percentile (e.g. 99)
  --signed                    keep the sign in methods that can (${signedMethods()})
  --top-k K                   predictions to report (default 5)
  --output NAME|N             model output to explain when it has several
  --input-size HxW            size for models whose input size is free
  --labels imagenet           the built-in ImageNet-1k class names (1000-class models without a labels file)
  --image-shape HxWxC         image a flat input encodes (default: inferred when square)
  --no-exif-orientation       read photos as stored, ignoring their EXIF orientation (default: turned upright,
                              as browsers show them)
  --runtime auto|onnx|tfjs    what runs TF.js models: ONNX Runtime on the converted graph (onnx), tfjs,
                              or ONNX Runtime whenever the model converts (auto, default)
  --backend wasm|cpu|tensorflow, --threads N

evaluate options (also --method, --class, --layer, --preprocessing, --out, --runtime, --no-exif-orientation and the
model options above):
  --measure M[,M…]            ${MEASURES.join(', ')} (default ${DEFAULT_MEASURES.join(',')}; randomization
                              randomizes the model's weights layer by layer, ONNX Runtime only)
  --curve-steps N             deletion/insertion intervals (default 10)
  --curve-baseline black|blur|mean
                              what a removed pixel becomes (default black)
  --measure-seed N            seed of every random order and noise (default 0)
  Writes evaluation.json and evaluation.html (curves, per-method means and spreads over the images).

${methodsHelp()}`;


function parseShape(text: string | undefined, parts: number, flag: string): number[] | undefined {
  if (text === undefined) return undefined;
  const dims = text.toLowerCase().split('x').map(Number);
  if (dims.length !== parts || dims.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new UserError(`${flag} expects ${parts === 2 ? 'HxW' : 'HxWxC'} with positive integers, got "${text}"`);
  }
  return dims;
}

function parseNumber(text: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isFinite(v) || v < min || v > max) throw new UserError(`${flag} expects a number from ${min} to ${max}, got "${text}"`);
  return v;
}

/** Expands folders to the images inside them (sorted, not recursive). */
function collectImages(entries: string[]): string[] {
  const files: string[] = [];
  for (const entry of entries) {
    if (!fs.existsSync(entry)) throw new UserError(`${entry}: file not found`);
    if (fs.statSync(entry).isDirectory()) {
      const inside = listInputImages(entry);
      if (inside.length === 0) throw new UserError(`${entry}: folder has no ${IMAGE_FORMATS_TEXT} images`);
      files.push(...inside.map((f) => path.join(entry, f)));
    } else {
      files.push(entry);
    }
  }
  return files;
}

/** Output names per image: the file name without extension, made unique when two images share it. */
function uniqueStems(files: string[]): string[] {
  const used = new Set<string>();
  return files.map((file) => {
    const base = path.basename(file).replace(/\.[^.]+$/, '');
    let stem = used.has(base) ? `${base}-${path.extname(file).slice(1)}` : base;
    for (let n = 2; used.has(stem); n++) stem = `${base}-${n}`;
    used.add(stem);
    return stem;
  });
}

function parseMethods(text: string | undefined): MethodName[] {
  if (!text) return [...DEFAULT_METHODS];
  const methods = text.split(',').map((m) => m.trim().toLowerCase()).filter(Boolean);
  for (const m of methods) {
    if (!METHOD_NAMES.includes(m as MethodName)) throw new UserError(`unknown method "${m}"; choose from ${METHOD_NAMES.join(', ')}`);
  }
  if (methods.length === 0) throw new UserError(`--method needs at least one of ${METHOD_NAMES.join(', ')}`);
  return [...new Set(methods)] as MethodName[];
}

/** --output 1 is the second output; --output logits names one. */
const outputChoice = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : v);

/** --preprocessing, or its older name --preset (one of them). */
function preprocessingFlag(values: { preset?: string; preprocessing?: string }): string | undefined {
  if (values.preset !== undefined && values.preprocessing !== undefined && values.preset !== values.preprocessing) {
    throw new UserError('give --preprocessing or --preset (the same option), not both');
  }
  return values.preprocessing ?? values.preset;
}

/** The model options explain and inspect share: --preset, --output, --input-size, --image-shape, --labels. */
function openOptions(values: { preset?: string; preprocessing?: string; output?: string; 'input-size'?: string; 'image-shape'?: string; labels?: string; runtime?: string }): OpenOptions {
  if (values.labels !== undefined && values.labels !== 'imagenet') {
    throw new UserError(`--labels expects imagenet (other names come from a labels.txt beside the model), got "${values.labels}"`);
  }
  if (values.runtime !== undefined && !isRuntimeChoice(values.runtime)) {
    throw new UserError(`--runtime expects ${RUNTIME_CHOICES.join(', ')}, got "${values.runtime}"`);
  }
  return {
    runtime: values.runtime as RuntimeChoice | undefined,
    labels: values.labels as 'imagenet' | undefined,
    preprocessing: preprocessingFlag(values),
    output: outputChoice(values.output),
    inputShape: parseShape(values['input-size'], 2, '--input-size'),
    imageShape: parseShape(values['image-shape'], 3, '--image-shape') as [number, number, number] | undefined,
  };
}

/** How images are read: --no-exif-orientation keeps a photo's pixels as stored. */
function loadOptions(values: { 'no-exif-orientation'?: boolean }): LoadOptions {
  return { exifOrientation: !values['no-exif-orientation'] };
}

/** The methods with a `signed` option, from the registry. */
const signedMethods = () => (METHODS as readonly MethodSpec[]).filter((m) => m.options.some((o) => o.name === 'signed')).map((m) => m.name).join(', ');

/** On a terminal, one self-updating stderr line for long methods ("smoothgrad 12/25 inputs"). */
function progressLine() {
  if (!process.stderr.isTTY) return undefined;
  return (p: { method: string; done: number; total: number }) => {
    process.stderr.write(`\r${p.method} ${p.done}/${p.total} inputs${p.done >= p.total ? '\x1b[K\r' : ''}`);
  };
}

const pct = (p: number) => `${(p * 100).toFixed(1)}%`;
const ms = (v: number | undefined) => (v === undefined ? '' : `${v.toFixed(1)} ms`);

async function startBackend(values: { backend?: string; threads?: string }) {
  const prefer = values.backend as BackendName | undefined;
  if (prefer && !['wasm', 'cpu', 'tensorflow'].includes(prefer)) throw new UserError(`--backend expects wasm, cpu or tensorflow, got "${prefer}"`);
  return initBackend({ prefer, threads: parseNumber(values.threads, '--threads', 1, 64) });
}

/** The flags `explain` and `evaluate` share: the model and how to open it, the images, the methods and their options. */
function imageCommandOptions() {
  return {
    model: { type: 'string' }, image: { type: 'string', multiple: true }, method: { type: 'string' },
    class: { type: 'string' }, layer: { type: 'string' }, preset: { type: 'string' }, preprocessing: { type: 'string' }, out: { type: 'string' },
    output: { type: 'string' }, 'input-size': { type: 'string' }, 'image-shape': { type: 'string' }, backend: { type: 'string' },
    threads: { type: 'string' }, labels: { type: 'string' }, runtime: { type: 'string' }, option: { type: 'string', multiple: true },
    'no-exif-orientation': { type: 'boolean' },
    ...methodOptionFlags(),
  } as const;
}

async function explainCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...imageCommandOptions(),
      colormap: { type: 'string' }, opacity: { type: 'string' }, clip: { type: 'string' }, signed: { type: 'boolean' },
      'top-k': { type: 'string' },
    },
  });
  if (!values.model) throw new UserError('explain needs --model PATH (a TF.js model folder or its model.json, or an .onnx file)');
  if (!values.image?.length) throw new UserError('explain needs at least one --image FILE or folder');
  const colormap = (values.colormap ?? 'jet') as ColormapName;
  if (!isColormapName(colormap)) throw new UserError(`unknown colormap "${values.colormap}"; choose from ${COLORMAPS.join(', ')}`);
  const render = {
    colormap,
    opacity: parseNumber(values.opacity, '--opacity', 0, 1) ?? 0.5,
    clipPercentile: parseNumber(values.clip, '--clip', 0, 100),
  };
  const methods = parseMethods(values.method);
  const methodOptions = parseMethodOptions(methods, values as Record<string, unknown>);
  const topK = parseNumber(values['top-k'], '--top-k', 1, 100000) ?? 5;
  const images = collectImages(values.image);
  const outDir = path.resolve(values.out ?? 'saliency-lens-out');
  const load = loadOptions(values);
  await startBackend(values);
  const explainer = await Explainer.open(values.model, openOptions(values));
  const backend = explainer.compute;
  try {
    const summary = explainer.summary();
    const spatialNames = summary.spatialLayers.map((l) => l.name);
    for (const w of summary.warnings) console.warn(`warning: ${w}`);
    console.log(`model ${summary.path} (${summary.format}, ${summary.numClasses} classes, output activation: ${summary.outputActivation}, attributing logits)`);
    console.log(`backend ${backend.name}, ${backend.threads} thread(s) — ${backend.note}; preprocessing ${summary.preprocessing.spec} (${summary.preprocessing.source})`);
    const stems = uniqueStems(images);
    const entries: ReportEntry[] = [];
    const failures: string[] = [];
    // A note said of every image alike (a ViT's Grad-CAM) is printed once; the JSON and report keep it per image.
    const noted = new Set<string>();
    for (const [i, file] of images.entries()) {
      let result: ImageExplanation;
      try {
        result = await explainer.explainImage(await loadImageFile(file, load), file, {
          methods, options: methodOptions, target: values.class, layer: values.layer, signed: values.signed, topK, progress: progressLine(),
          sensitivity: true,
        });
      } catch (err) {
        // One bad image in a folder does not stop the others; it is reported, and the exit code says so.
        if (!(err instanceof UserError)) throw err;
        failures.push(err.message);
        entries.push({ name: path.basename(file), overlays: [], predictions: [], timings: {}, notes: [], error: err.message });
        continue;
      }
      const written = writeExplanation(result, outDir, render, {
        model: summary.path,
        backend: { name: backend.name, threads: backend.threads },
        runtime: backend.runtime,
      }, stems[i]);
      entries.push(reportEntryFor(result, render));
      const top = result.predictions[0];
      console.log(`${path.basename(file)}: predicted "${top.label}" (${pct(top.probability)}); explained "${result.target.label}"` +
        (result.timings.pass !== undefined ? ` · forward + gradients ${ms(result.timings.pass)}` : ` · forward ${ms(result.timings.forward)}`) +
        result.maps.map((m) => ` · ${m.method} ${ms(result.timings[m.method])}${m.layer ? ` (layer ${layerLabel(m.layer, spatialNames)})` : ''}`).join(''));
      if (result.inputRegion.covers !== 'whole') console.log(`  map covers the ${result.inputRegion.text}`);
      for (const note of result.notes.filter((n) => !noted.has(n))) {
        noted.add(note);
        console.log(`  note: ${note}`);
      }
      // On stderr too: a preprocessing the top class hangs on is a warning about every map of this image.
      for (const d of result.sensitivity ?? []) console.warn(`  warning: ${d.text}`);
      console.log(`  → ${[...written.overlays, ...written.arrays, written.report].map((f) => path.relative(process.cwd(), f)).join(', ')}`);
    }
    if (entries.every((e) => e.error)) throw new UserError(failures.length === 1 ? failures[0] : `no image could be explained: ${failures.join('; ')}`);
    const reportFile = path.join(outDir, 'report.html');
    fs.writeFileSync(reportFile, buildHtmlReport({
      title: `Saliency Lens report: ${images.length} image${images.length === 1 ? '' : 's'}`,
      model: summary.path,
      backend: `${backend.name}, ${backend.threads} thread(s)`,
      preprocessing: summary.preprocessing.spec,
      created: new Date().toISOString(),
      spatialLayers: spatialNames,
    }, entries));
    console.log(`report ${path.relative(process.cwd(), reportFile)}`);
    if (failures.length) throw new UserError(failures.length === 1 ? failures[0] : `${failures.length} images could not be explained: ${failures.join('; ')}`);
    console.log(`results in ${outDir}`);
  } finally {
    explainer.dispose();
  }
}

async function evaluateCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...imageCommandOptions(),
      measure: { type: 'string' }, 'curve-steps': { type: 'string' }, 'curve-baseline': { type: 'string' }, 'measure-seed': { type: 'string' },
    },
  });
  if (!values.model) throw new UserError('evaluate needs --model PATH (a TF.js model folder or its model.json, or an .onnx file)');
  if (!values.image?.length) throw new UserError('evaluate needs at least one --image FILE or folder');
  const methods = parseMethods(values.method);
  const options = parseMethodOptions(methods, values as Record<string, unknown>);
  const measures = checkMeasures((values.measure ?? DEFAULT_MEASURES.join(',')).split(',').map((m) => m.trim()).filter(Boolean), '--measure');
  const baseline = values['curve-baseline'];
  if (baseline !== undefined && !(FAITHFULNESS_BASELINES as readonly string[]).includes(baseline)) {
    throw new UserError(`--curve-baseline: unknown "${baseline}"; choose from ${FAITHFULNESS_BASELINES.join(', ')}`);
  }
  const steps = parseNumber(values['curve-steps'], '--curve-steps', 1, MAX_STEPS);
  const seed = parseNumber(values['measure-seed'], '--measure-seed', 0, 2 ** 31 - 1);
  if ((steps !== undefined && !Number.isInteger(steps)) || (seed !== undefined && !Number.isInteger(seed))) throw new UserError('--curve-steps and --measure-seed take whole numbers');
  const images = collectImages(values.image);
  const outDir = path.resolve(values.out ?? 'saliency-lens-out');
  const load = loadOptions(values);
  await startBackend(values);
  const explainer = await Explainer.open(values.model, openOptions(values));
  try {
    const evaluations: ImageEvaluation[] = [];
    const failures: string[] = [];
    for (const file of images) {
      try {
        const evaluation = await evaluateImage(explainer, await loadImageFile(file, load), file, {
          methods, options, target: values.class, layer: values.layer, measures, steps,
          baseline: baseline as FaithfulnessBaseline | undefined, seed,
          progress: ({ method, measure }) => process.stderr.isTTY && process.stderr.write(`\r${path.basename(file)}: ${method} ${measure}…\x1b[K`),
        });
        if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
        evaluations.push(evaluation);
        console.log(`${path.basename(file)}: "${evaluation.label}" (${pct(evaluation.probability)})` + evaluation.methods.map((m) =>
          ` · ${m.method}: deletion ${formatScore(m.deletion?.auc)} insertion ${formatScore(m.insertion?.auc)} ROAD ${formatScore(m.road?.combined)}` +
          ` stability ${formatScore(m.stability?.spearman)}${m.randomization ? ` randomized ${formatScore(m.randomization.fullyRandomized)}${m.randomization.insensitive ? ' (insensitive to the weights!)' : ''}` : ''}` +
          Object.entries(m.errors ?? {}).map(([measure, why]) => ` (${measure}: ${why})`).join('')).join(''));
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        failures.push(err.message);
      }
    }
    if (!evaluations.length) throw new UserError(failures.length === 1 ? failures[0] : `no image could be evaluated: ${failures.join('; ')}`);
    const summary = summarize(evaluations);
    fs.mkdirSync(outDir, { recursive: true });
    const created = new Date().toISOString();
    const json = path.join(outDir, 'evaluation.json');
    fs.writeFileSync(json, JSON.stringify({ model: explainer.summary().path, created, measures, summary, images: evaluations }, null, 1));
    const html = path.join(outDir, 'evaluation.html');
    fs.writeFileSync(html, buildEvaluationReport({ model: explainer.summary().path, created, measures }, evaluations, summary));
    console.log(`→ ${path.relative(process.cwd(), json)}, ${path.relative(process.cwd(), html)}`);
    if (failures.length) throw new UserError(failures.length === 1 ? failures[0] : `${failures.length} images could not be evaluated: ${failures.join('; ')}`);
  } finally {
    explainer.dispose();
  }
}


function printSummary(s: ModelSummary): void {
  // Shown as the panel shows layers (layerNames.ts; --json keeps the full names; both are accepted by --layer).
  const short = shortLayerNames(s.layers.map((l) => l.name), s.spatialLayers.map((l) => l.name));
  const shown = (name: string) => short.get(name) ?? name;
  const rows = s.layers.map((l) => [shown(l.name), l.type, `[${l.outputShape.map((d) => d ?? '?').join(', ')}]`, l.params.toLocaleString('en-US')]);
  const header = ['layer', 'type', 'output shape', 'params'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log(`model      ${s.path} (${s.format})`);
  console.log(`input      [${s.inputShape.join(', ')}] read as ${s.imageSpec.height}×${s.imageSpec.width}×${s.imageSpec.channels} image; preprocessing ${s.preprocessing.spec} (${s.preprocessing.source})`);
  console.log(`output     ${s.outputName}: ${s.numClasses} classes, activation ${s.outputActivation} (attribution targets the logits)`);
  console.log(`labels     ${s.labels ?? 'none (classes are named "class N")'}`);
  console.log('');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  rows.forEach((r) => console.log(line(r)));
  console.log(`total params: ${s.totalParams.toLocaleString('en-US')}`);
  console.log('');
  if (s.spatialLayers.length === 0) {
    console.log('Grad-CAM: no layer with a spatial output (saliency only)');
  } else {
    console.log('Grad-CAM candidates (input side first; * = automatic choice):');
    for (const c of s.spatialLayers) {
      console.log(`  ${c.name === s.defaultSpatialLayer ? '*' : ' '} ${shown(c.name)}  ${c.type}  ${c.height}×${c.width}×${c.channels}`);
    }
  }
  s.warnings.forEach((w) => console.log(`warning: ${w}`));
}

async function inspectCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, json: { type: 'boolean' }, output: { type: 'string' }, 'input-size': { type: 'string' },
      'image-shape': { type: 'string' }, preset: { type: 'string' }, preprocessing: { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' },
      labels: { type: 'string' }, runtime: { type: 'string' },
    },
  });
  if (!values.model) throw new UserError('inspect needs --model PATH (a TF.js model folder or its model.json, or an .onnx file)');
  await startBackend(values);
  const explainer = await Explainer.open(values.model, openOptions(values));
  const backend = explainer.compute;
  try {
    const summary = explainer.summary();
    if (values.json) console.log(JSON.stringify({ ...summary, backend }, null, 2));
    else {
      printSummary(summary);
      console.log(`backend    ${backend.name}, ${backend.threads} thread(s) — ${backend.note}`);
    }
  } finally {
    explainer.dispose();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(usage());
      return 0;
    }
    if (command === 'explain') await explainCommand(rest);
    else if (command === 'inspect') await inspectCommand(rest);
    else if (command === 'evaluate') await evaluateCommand(rest);
    else if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      console.log(usage());
      return command === undefined ? 2 : 0;
    } else throw new UserError(`unknown command "${command}"\n${usage()}`);
    return 0;
  } catch (err) {
    if (err instanceof UserError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`saliency-lens: ${describeError(err)}`);
      return 2;
    }
    console.error(`saliency-lens: internal error: ${describeError(err)}`);
    if (process.env.SALIENCY_LENS_DEBUG) console.error((err as Error).stack);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
