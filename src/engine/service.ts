import * as fs from 'node:fs';
import * as path from 'node:path';
import { Explainer, ProgressListener, type TensorExplanation } from './explain';
import { methodSpec } from '../shared/methods';
import { readImageBytes, type DecodedImage } from './image/decode';
import { loadImageFile, realSize } from './image/load';
import { displayCopyOf } from './image/display';
import { isKerasFile } from './model/keras';
import { isOnnxFile, resolveModelJson } from './model/readArtifacts';
import { SIDECAR_FILES } from './model/sidecar';
import {
  ComparisonMsg, DisplayImageMsg, InputRegionMsg, EngineCompareParams, EngineEvaluateParams, EvaluationMsg, EnginePartialMsg, RawMapMsg, float32ToBase64, EngineExplainParams, EngineOpenParams, EngineReportEntryParams, ExplanationMsg, ModelInfoMsg, ModelInputMsg,
} from '../shared/protocol';
import type { ReportEntry } from '../shared/htmlReport';
import { mapRange } from '../shared/normalize';
import { UserError } from './errors';
import { reportEntryFor } from './report/reportEntry';
import { checkMeasures, evaluateImage } from './metrics/evaluate';
import type { AttributionMap } from './methods/types';
import type { OnnxRuntime } from './runtimes/onnx/onnxRuntime';
import type { PipelineDisagreement } from './sensitivity';

/** An explanation as it travels to the host. */
function explanationMsg(imagePath: string, real: { width: number; height: number }, e: TensorExplanation & { sensitivity?: PipelineDisagreement[] }, inputRegion: InputRegionMsg): ExplanationMsg {
  const sensitivity = e.sensitivity?.map((d) => ({ pipeline: d.pipeline, top: d.top, text: d.text }));
  return {
    imagePath, imageWidth: real.width, imageHeight: real.height, inputRegion, ...(sensitivity?.length ? { sensitivity } : {}),
    predictions: e.predictions, target: e.target,
    maps: e.maps.map(rawMapMsg), timings: e.timings, notes: e.notes,
  };
}

/** A map as it travels: raw float32 values with their range. */
function rawMapMsg(m: AttributionMap): RawMapMsg {
  return {
    method: m.method, width: m.width, height: m.height, data: float32ToBase64(m.data), ...mapRange(m.data),
    layer: m.layer, signed: m.signed, options: m.options, stats: m.stats, ...(m.notes?.length ? { notes: m.notes } : {}),
  };
}

/**
 * The files a model is made of: a TF.js model.json and the weight shards its manifest lists (read again each
 * time: training may write other shards), or a single .onnx/.keras/.h5 file and the external-data files it read
 * when loaded (`dataFiles`); with `sidecars`, the label and settings files beside it too. Never other files that
 * share the folder (images, exports, other checkpoints).
 */
function modelFiles(modelJson: string, dataFiles: string[], sidecars: boolean): string[] {
  const dir = path.dirname(modelJson);
  const files = isOnnxFile(modelJson) || isKerasFile(modelJson) ? [modelJson, ...dataFiles] : [modelJson, ...tfjsShards(modelJson)];
  return sidecars ? [...files, ...SIDECAR_FILES.map((f) => path.join(dir, f))] : files;
}

/** The shard files a TF.js model.json names (inside its folder); while it is unreadable (half written), every .bin beside it. */
function tfjsShards(modelJson: string): string[] {
  const dir = path.dirname(modelJson);
  try {
    const manifest = (JSON.parse(fs.readFileSync(modelJson, 'utf8')) as { weightsManifest?: { paths?: unknown[] }[] }).weightsManifest ?? [];
    const names = manifest.flatMap((g) => (Array.isArray(g?.paths) ? g.paths : [])).filter((p): p is string => typeof p === 'string');
    // Only paths inside the folder (as the loader accepts them): a path the file makes up is never followed.
    const inside = names.map((p) => path.resolve(dir, p)).filter((p) => !path.relative(dir, p).startsWith('..') && !path.isAbsolute(path.relative(dir, p)));
    return [...new Set(inside)].sort();
  } catch {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.bin')).sort().map((f) => path.join(dir, f));
  }
}

/** mtimes and sizes of the model's files, sidecars included: changes when training writes a new checkpoint. */
export function modelVersion(modelJson: string, dataFiles: string[] = []): string {
  return filesVersion(modelFiles(modelJson, dataFiles, true));
}

function filesVersion(files: string[]): string {
  return files.map((f) => {
    const st = fs.statSync(f, { throwIfNoEntry: false });
    return st ? `${f}:${st.size}:${st.mtimeMs}|` : `${f}:-|`;
  }).join('');
}

/**
 * The version of what a model's maps depend on: its files without the sidecars (class names change no map;
 * saliency-lens.json's settings are compared by their effect, the preprocessing and input size).
 */
function mapsVersion(modelJson: string, dataFiles: string[] = []): string {
  return filesVersion(modelFiles(modelJson, dataFiles, false));
}

/** Where the preprocessing came from: as the caller says (the extension names its setting or the panel), else the engine's. */
function preprocessingSource(explainer: Explainer, params: { preprocessing?: string; preprocessingSource?: string }): string {
  return (params.preprocessing && params.preprocessingSource) || explainer.preprocessingSource;
}

/** The model's own input tensor: ONNX Runtime feeds the model's layout (NCHW for PyTorch exports); tfjs takes [1, ...inputShape]. */
function modelInputOf(explainer: Explainer): NonNullable<ModelInfoMsg['modelInput']> {
  const rt = explainer.runtime;
  if (rt.kind === 'onnx') {
    const { dims, layout } = (rt as OnnxRuntime).model.input;
    return { shape: [...dims], ...(layout === 'asis' ? {} : { layout }) };
  }
  return { shape: [1, ...rt.inputShape], ...(rt.inputShape.length === 3 ? { layout: 'NHWC' as const } : {}) };
}

function fileVersion(file: string): string {
  const st = fs.statSync(file);
  return `${st.size}:${st.mtimeMs}`;
}

interface OpenModel {
  key: string;
  version: string;
  /** Files besides the model file that its version covers (ONNX external data), known once loaded. */
  dataFiles: string[];
  /** In flight or done: concurrent requests for the same model share one load. */
  explainer: Promise<Explainer>;
  /** Requests running on it now. */
  users: number;
  /** Replaced by another model or version: disposed once no request uses it. */
  retired: boolean;
}

/** How the engine reads image files (the extension's settings, fixed for the life of the engine process). */
export interface ImageReading {
  /** Turn images upright by their EXIF orientation (default true, as browsers draw them). */
  exifOrientation?: boolean;
}

/**
 * What the engine process serves, without the transport: opens models (kept while their files are
 * unchanged), decodes images (likewise) and turns explanations into protocol messages.
 */
export class ExplainService {
  private model?: OpenModel;
  /** The last image's working copy, in flight or done: concurrent requests (explain, display) share one decode. */
  private image?: { file: string; version: string; pixels: Promise<DecodedImage> };

  /**
   * @param progress hears long methods' progress, with the request's progressId (the engine process forwards it to the host)
   * @param partial hears explain requests' partial results (predictions, then each map), tagged the same way
   */
  constructor(private readonly progress?: (p: Parameters<ProgressListener>[0] & { progressId?: number }) => void,
    private readonly partial?: (p: EnginePartialMsg) => void,
    private readonly images: ImageReading = {}) {}

  /** Progress of one request, tagged with its id. */
  private progressOf(params: { progressId?: number }): ProgressListener | undefined {
    const listener = this.progress;
    return listener && ((p) => listener({ ...p, progressId: params.progressId }));
  }

  async open(params: EngineOpenParams): Promise<ModelInfoMsg> {
    return this.using(params, async (explainer) => {
      // An opened model answers its first predictions fast, whatever the maps asked for next cost.
      await explainer.warmPredictions();
      const s = explainer.summary();
      const preprocessing = `${s.preprocessing.spec} (${preprocessingSource(explainer, params)})`;
      return {
        path: s.path,
        format: s.format,
        numClasses: s.numClasses,
        labels: Array.from({ length: s.numClasses }, (_, i) => explainer.labelOf(i)),
        ...(s.labels ? { labelsSource: s.labels } : {}),
        outputActivation: s.outputActivation,
        inputShape: s.inputShape,
        modelInput: modelInputOf(explainer),
        imageSize: { ...s.imageSpec },
        preprocessing,
        spatialLayers: s.spatialLayers,
        defaultSpatialLayer: s.defaultSpatialLayer,
        ...(s.defaultSpatialLayerReason ? { defaultSpatialLayerReason: s.defaultSpatialLayerReason } : {}),
        ...(s.attentionBlocks ? { attentionBlocks: s.attentionBlocks } : {}),
        backend: { name: explainer.compute.name, threads: explainer.compute.threads, note: explainer.compute.note },
        warnings: s.warnings,
        layers: s.layers,
        totalParams: s.totalParams,
        outputName: s.outputName,
        // What the maps depend on: new class names alone (a labels file, "labels": "imagenet") are not a new version.
        version: `${mapsVersion(s.path, explainer.model.files.dataFiles)}|${s.preprocessing.spec}|${s.inputShape.join('x')}`,
      };
    });
  }

  async explain(params: EngineExplainParams): Promise<ExplanationMsg> {
    return this.using(params, async (explainer) => {
      const pixels = await this.pixelsOf(params.imagePath);
      const real = realSize(pixels);
      const inputRegion = explainer.inputRegionOf(pixels);
      const send = this.partial;
      const progressId = params.progressId;
      const result = await explainer.explainImage(pixels, params.imagePath, {
        methods: params.methods,
        options: params.options,
        progress: this.progressOf(params),
        partial: send && ((p) => send(p.kind === 'map'
          ? { progressId, kind: 'map', map: rawMapMsg(p.map) }
          : { progressId, kind: 'predictions', predictions: p.predictions, target: p.target, imageWidth: real.width, imageHeight: real.height, inputRegion })),
        target: params.classIndex,
        layer: params.layer,
        signed: params.signed,
        topK: params.topK ?? 5,
        sensitivity: true,
      });
      return explanationMsg(params.imagePath, real, result, result.inputRegion);
    });
  }

  async compare(params: EngineCompareParams): Promise<ComparisonMsg> {
    return this.using(params, async (explainer) => {
      const pixels = await this.pixelsOf(params.imagePath);
      const { x, inputRegion } = explainer.prepareInput(pixels);
      try {
        const result = await explainer.compareTensor(x, {
          classes: params.classes, method: params.method, options: params.options, layer: params.layer, signed: params.signed,
          contrast: params.contrast, progress: this.progressOf(params),
        });
        return {
          imagePath: params.imagePath,
          imageWidth: realSize(pixels).width,
          imageHeight: realSize(pixels).height,
          inputRegion,
          method: params.method,
          predictions: result.predictions,
          ranked: result.ranked,
          maps: result.maps.map(rawMapMsg),
          contrast: result.contrast && { classes: result.contrast.classes, map: rawMapMsg(result.contrast.map) },
          layer: result.layer,
          timings: result.timings,
        };
      } finally {
        x.dispose();
      }
    });
  }

  /** The trust measures of one method's map of an image (a row of the methods table). */
  async evaluate(params: EngineEvaluateParams): Promise<EvaluationMsg> {
    return this.using(params, async (explainer) => {
      const measures = checkMeasures(params.measures ?? [], 'The trust measures asked for');
      const pixels = await this.pixelsOf(params.imagePath);
      const listener = this.progress;
      let explained: TensorExplanation | undefined;
      const result = await evaluateImage(explainer, pixels, params.imagePath, {
        methods: [params.method],
        options: params.options ? { [params.method]: params.options } : undefined,
        target: params.classIndex,
        layer: params.layer,
        measures,
        seed: params.seed,
        topK: 5,
        onExplained: (e) => (explained = e),
        progress: listener && (({ method, measure, step }) =>
          listener({ progressId: params.progressId, method, measure, step, done: measures.indexOf(measure), total: measures.length })),
      });
      const evaluation = result.methods[0];
      if (!evaluation || !explained) {
        throw new UserError(`${path.basename(params.imagePath)}: ${methodSpec(params.method).label} gave no map to measure${explained?.notes[0] ? ` (${explained.notes[0]})` : ''}.`);
      }
      return {
        imagePath: params.imagePath, classIndex: result.classIndex, label: result.label, probability: result.probability, evaluation,
        explanation: explanationMsg(params.imagePath, realSize(pixels), explained, explainer.inputRegionOf(pixels)),
      };
    });
  }

  /** The tensor the model receives for an image, and an 8-bit picture of it (preprocessing inspector). */
  async modelInput(params: EngineExplainParams): Promise<ModelInputMsg> {
    return this.using(params, async (explainer) => {
      const { height: h, width: w, channels: c } = explainer.imageSpec;
      const x = explainer.prepare(await this.pixelsOf(params.imagePath));
      const values = x.dataSync() as Float32Array;
      x.dispose();
      const min = new Array<number>(c).fill(Infinity);
      const max = new Array<number>(c).fill(-Infinity);
      values.forEach((v, i) => {
        min[i % c] = Math.min(min[i % c], v);
        max[i % c] = Math.max(max[i % c], v);
      });
      const lo = Math.min(...min);
      const span = Math.max(...max) - lo || 1;
      // caffe feeds BGR: show it as RGB so the picture looks like the image.
      const bgr = explainer.preprocessing.preset === 'caffe' && c >= 3;
      const rgba = new Uint8Array(w * h * 4);
      for (let p = 0; p < w * h; p++) {
        const at = (ch: number) => Math.round(((values[p * c + ch] - lo) / span) * 255);
        const [r, g, b] = c === 1 ? [at(0), at(0), at(0)] : bgr ? [at(2), at(1), at(0)] : [at(0), at(1), at(2)];
        rgba.set([r, g, b, 255], p * 4);
      }
      return {
        width: w, height: h, channels: c, rgba: Buffer.from(rgba).toString('base64'), min, max,
        preprocessing: `${explainer.preprocessingText} (${preprocessingSource(explainer, params)})`,
      };
    });
  }

  /** One image of a batch report; a bad image becomes an entry with its error, so the batch goes on. */
  async reportEntry(params: EngineReportEntryParams): Promise<ReportEntry> {
    return this.using(params, async (explainer) => {
      try {
        const result = await explainer.explainImage(await this.pixelsOf(params.imagePath), params.imagePath, {
          topK: 5, methods: params.methods, options: params.options, progress: this.progressOf(params),
        });
        return reportEntryFor(result, { colormap: params.colormap, opacity: params.opacity, clipPercentile: params.clipPercentile });
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        return { name: path.basename(params.imagePath), overlays: [], predictions: [], timings: {}, notes: [], error: err.message };
      }
    });
  }

  /**
   * Runs `work` with the explainer of a model and preprocessing, opened once and kept while its files are unchanged.
   * One model is kept at a time (the engine's memory goes to the model being looked at): the one it replaces is
   * disposed once the requests using it are done, never under them (the panel and the methods view may ask with
   * different preprocessings at once).
   */
  private async using<T>(params: { modelPath: string; preprocessing?: string }, work: (explainer: Explainer) => Promise<T>): Promise<T> {
    const open = this.openModel(params.modelPath, params.preprocessing);
    open.users++;
    try {
      return await work(await open.explainer);
    } finally {
      open.users--;
      this.disposeIfUnused(open);
    }
  }

  private openModel(modelPath: string, preprocessing?: string): OpenModel {
    const modelJson = resolveModelJson(modelPath);
    const key = `${modelJson}\u0000${preprocessing ?? ''}`;
    const same = this.model?.key === key ? this.model : undefined;
    if (same && same.version === modelVersion(modelJson, same.dataFiles)) return same;
    const previous = this.model;
    const explainer = Explainer.open(modelJson, { preprocessing });
    const base = modelVersion(modelJson);
    const open: OpenModel = { key, version: base, dataFiles: [], explainer, users: 0, retired: false };
    this.model = open;
    // Once loaded, an ONNX model's version also covers the external-data files it read; a failed load is not kept.
    explainer.then((e) => {
      const dataFiles = e.model.files.dataFiles ?? [];
      if (dataFiles.length) {
        open.dataFiles = dataFiles;
        open.version = base + filesVersion(dataFiles);
      }
    }, () => {
      if (this.model === open) this.model = undefined;
    });
    if (previous) {
      previous.retired = true;
      this.disposeIfUnused(previous);
    }
    return open;
  }

  private disposeIfUnused(open: OpenModel): void {
    if (open.retired && open.users === 0) open.explainer.then((e) => e.dispose(), () => undefined);
  }

  /** The picture the panel shows for an image: the file, or a display-sized copy of a large one. */
  async displayImage(params: { imagePath: string }): Promise<DisplayImageMsg> {
    return displayCopyOf(readImageBytes(params.imagePath), params.imagePath, () => this.pixelsOf(params.imagePath));
  }

  /** The working image of a file (downscaled when large), decoded once per file version. */
  private pixelsOf(file: string): Promise<DecodedImage> {
    const version = fs.existsSync(file) ? fileVersion(file) : '';
    if (this.image && this.image.file === file && this.image.version === version) return this.image.pixels;
    const pixels = loadImageFile(file, { exifOrientation: this.images.exifOrientation ?? true });
    const entry = { file, version, pixels };
    this.image = entry;
    // A failed decode is not kept: the next request tries again (the file may be fixed by then).
    pixels.catch(() => {
      if (this.image === entry) this.image = undefined;
    });
    return pixels;
  }

  dispose(): void {
    if (this.model) {
      this.model.retired = true;
      this.disposeIfUnused(this.model);
    }
    this.model = undefined;
  }
}
