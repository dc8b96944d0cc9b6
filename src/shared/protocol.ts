/**
 * Messages between the extension host, the engine process and the explain panel's webview.
 * Discriminated unions on `type`; requests carry an id the reply echoes. Maps travel raw (float32,
 * base64) so the webview colours, normalizes and blends them without asking again.
 */

import type { MethodName, MethodOptions } from './methods';
import type { ReportEntry } from './htmlReport';
import type { Measure, MethodEvaluation } from './measures';

export type { MethodName, MethodOptions } from './methods';

export interface PredictionMsg {
  index: number;
  label: string;
  probability: number;
  logit: number;
}

export interface RawMapMsg {
  method: MethodName;
  /** Size of the map in model-input space (Grad-CAM: the layer's size). */
  width: number;
  height: number;
  /** Float32 little-endian values, row-major, base64. */
  data: string;
  min: number;
  max: number;
  layer?: string;
  signed?: boolean;
  /** The options it was computed with, every one set. */
  options?: MethodOptions;
  /** What the method measured about its map, e.g. Integrated Gradients' completeness residual. */
  stats?: Record<string, number>;
  /** Things worth telling the user about this map (e.g. a Grad-CAM with no positive evidence). */
  notes?: string[];
}

export interface SpatialLayerMsg {
  name: string;
  type: string;
  height: number;
  width: number;
  channels: number;
}

export interface LayerRowMsg {
  name: string;
  type: string;
  outputShape: (number | null)[];
  params: number;
}

export interface ModelInfoMsg {
  path: string;
  format: string;
  numClasses: number;
  /** One per class: the label file's names, or "class N". */
  labels: string[];
  /** Where the names come from (a labels file, or the built-in ImageNet names and who asked for them); absent = none. */
  labelsSource?: string;
  outputActivation: string;
  /** The input as the engine handles it: [H, W, C] for images, whatever the model's layout. */
  inputShape: number[];
  /** The model's own input tensor as it is fed (batch 1), and its layout when 4-D: [1, 3, 224, 224] NCHW. */
  modelInput?: { shape: number[]; layout?: 'NCHW' | 'NHWC' };
  /** The image the model sees. */
  imageSize?: { height: number; width: number; channels: number };
  /** The preset in use and where it came from: "unit (0..1) (picked in the panel for this model)". */
  preprocessing: string;
  spatialLayers: SpatialLayerMsg[];
  defaultSpatialLayer?: string;
  /** Blocks whose attention covers every patch token (a ViT's), which attention rollout reads; absent: none. */
  attentionBlocks?: number;
  /** Why the engine chose that layer, in a sentence (e.g. a ViT's later layers give blank maps). */
  defaultSpatialLayerReason?: string;
  /** What computes the maps; `note` says why (for TF.js models: converted to ONNX, or what kept them on tfjs). */
  backend: { name: string; threads: number; note: string };
  warnings: string[];
  /** Every layer (Layers models, nested ones flattened as outer/inner) or graph node, input side first. */
  layers: LayerRowMsg[];
  totalParams: number;
  /** Name of the output attributed. */
  outputName: string;
  /**
   * The engine's fingerprint of what the maps depend on (the model's files but not its label files, sizes and
   * mtimes, and the preprocessing): the same value means the same maps, so a late or repeated file event, or new
   * class names alone, is not a new version.
   */
  version?: string;
}

/**
 * The part of the image the model's input covers, in the image's own pixels (x, y of its top-left corner, edges
 * at integers, fractional where the resize is not a whole factor): a centre crop lies inside the image, a
 * letterbox reaches outside it. Maps are drawn only inside it; the rest of the image carries no attribution.
 */
export interface InputRegionMsg {
  x: number;
  y: number;
  width: number;
  height: number;
  /** `whole`: the image is stretched onto the input (the region is the image); `crop`; `letterbox`. */
  covers: 'whole' | 'crop' | 'letterbox';
  /** One line for exports and the UI: "centre crop 263×263 at (94, 0) of the 451×300 image". */
  text: string;
}

/** The top class under a neighbouring pipeline, where it differs from the one in use. */
export interface PipelineDisagreementMsg {
  /** How that pipeline differs: "without antialiasing", "with half-pixel centres (TF2, PyTorch)". */
  pipeline: string;
  top: PredictionMsg;
  /** The sentence to show: "Preprocessed without antialiasing, the top class is X (66%), not Y (83%)." */
  text: string;
}

export interface ExplanationMsg {
  imagePath: string;
  imageWidth: number;
  imageHeight: number;
  /** Where the maps lie on the image; absent means the whole image (as before pipelines had crops). */
  inputRegion?: InputRegionMsg;
  /** Neighbouring preprocessing pipelines under which the top class differs (the sensitivity note); absent: none. */
  sensitivity?: PipelineDisagreementMsg[];
  predictions: PredictionMsg[];
  target: PredictionMsg;
  maps: RawMapMsg[];
  timings: Record<string, number>;
  notes: string[];
}

/** What the panel asks to see. */
export interface ExplainRequest {
  /** Class index; omitted = top prediction. */
  classIndex?: number;
  layer?: string;
  signed?: boolean;
  methods?: MethodName[];
  /** Options per method; the rest take the registry's defaults. */
  options?: Partial<Record<MethodName, MethodOptions>>;
}

// ---- host ↔ engine process (JSON-RPC) -------------------------------------------------------------

/** An engine request: its JSON-RPC name, declared once with its params and result types. */
export interface EngineRequest<P, R> {
  readonly method: string;
  /** Carries the types only; never set. */
  readonly types?: (params: P) => R;
}

const engineRequest = <P, R>(method: string): EngineRequest<P, R> => ({ method });

export interface EngineInfoMsg {
  pid: number;
  backend: { name: string; threads: number; note: string };
}

/** Progress of a long method, sent by the engine while it works on a request. */
export const ENGINE_PROGRESS = 'saliencyLens/progress';

export interface EngineProgressMsg {
  /** The progressId of the request it belongs to. */
  progressId?: number;
  method: MethodName;
  /** Model inputs run so far, out of all; for an evaluation, measures done out of all. */
  done: number;
  total: number;
  /** An evaluation's measure now running (then `done` and `total` count measures). */
  measure?: Measure;
  /** How far that measure is, when it runs many steps (randomization: randomized models; the curves: batched inputs). */
  step?: { done: number; total: number };
}

/**
 * What an explain request has ready before its answer: the predictions right after the forward pass, then
 * each map as soon as it is computed. (The panel asks for a method that runs many inputs in a request of its own,
 * which the engine serves beside the others, so it holds back no other map.)
 */
export type ExplainPartial =
  | { kind: 'predictions'; predictions: PredictionMsg[]; target: PredictionMsg; imageWidth: number; imageHeight: number; inputRegion?: InputRegionMsg }
  | { kind: 'map'; map: RawMapMsg };

/** Partial results of a request, sent by the engine while it works on it; tagged like progress. */
export const ENGINE_PARTIAL = 'saliencyLens/partial';

export type EnginePartialMsg = ExplainPartial & { progressId?: number };

/** Requests whose long methods report progress carry an id (set by the host's engine client) that progress echoes. */
export interface ProgressParams {
  progressId?: number;
}

export interface EngineReportEntryParams extends ProgressParams {
  modelPath: string;
  imagePath: string;
  preprocessing?: string;
  colormap: ColormapChoice;
  opacity: number;
  /** Percentile above which maps saturate (the panel's default clip); none = min–max. */
  clipPercentile?: number;
  /** Methods for every image (default saliency and Grad-CAM) and their options. */
  methods?: MethodName[];
  options?: Partial<Record<MethodName, MethodOptions>>;
}

/** Where a preprocessing given with a request came from, as the user would say it ("the saliencyLens.preprocessing setting"). */
export interface PreprocessingSourceParam {
  preprocessingSource?: string;
}

export interface EngineOpenParams extends PreprocessingSourceParam {
  modelPath: string;
  preprocessing?: string;
}

export interface EngineExplainParams extends ExplainRequest, ProgressParams, PreprocessingSourceParam {
  modelPath: string;
  imagePath: string;
  preprocessing?: string;
  topK?: number;
}

/** The trust measures of one method's map of one image (the methods table asks one method per request). */
export interface EvaluateRequest {
  method: MethodName;
  options?: MethodOptions;
  /** The class to explain; the top class when absent. */
  classIndex?: number;
  layer?: string;
  measures: Measure[];
  /** Seeds the random order, the noise and the randomized weights (0 when absent). */
  seed?: number;
}

export interface EngineEvaluateParams extends EvaluateRequest, ProgressParams, PreprocessingSourceParam {
  modelPath: string;
  imagePath: string;
  preprocessing?: string;
}

export interface EvaluationMsg {
  imagePath: string;
  /** The class measured, with its probability on the image. */
  classIndex: number;
  label: string;
  probability: number;
  evaluation: MethodEvaluation;
  /**
   * The map the measures ran on, as `explain` answers it (its predictions, timings and notes): the methods view
   * shows it and caches it as the method's map, so measuring never computes a map twice.
   */
  explanation: ExplanationMsg;
}

export interface CompareRequest {
  method: MethodName;
  options?: MethodOptions;
  /** Classes to compare; omitted = the top 4. */
  classes?: number[];
  layer?: string;
  signed?: boolean;
  /** Also the map of S_a − S_b: evidence for a over b; 'top2' = the two highest classes. */
  contrast?: [number, number] | 'top2';
}

export interface EngineCompareParams extends CompareRequest, ProgressParams {
  modelPath: string;
  imagePath: string;
  preprocessing?: string;
}

export interface ComparisonMsg {
  imagePath: string;
  imageWidth: number;
  imageHeight: number;
  /** Where the maps lie on the image; absent means the whole image. */
  inputRegion?: InputRegionMsg;
  method: MethodName;
  /** The compared classes, in the order of `maps`. */
  predictions: PredictionMsg[];
  /** Every class, highest logit first. */
  ranked: PredictionMsg[];
  maps: RawMapMsg[];
  contrast?: { classes: [number, number]; map: RawMapMsg };
  layer?: string;
  timings: Record<string, number>;
}

export interface ModelInputMsg {
  width: number;
  height: number;
  channels: number;
  /** 8-bit RGBA, base64: the input min–max scaled to 0–255 (BGR inputs shown as RGB). */
  rgba: string;
  /** Per-channel range of the actual values the model receives. */
  min: number[];
  max: number[];
  preprocessing: string;
}

/** The picture the panel shows for an image: the file itself, or a copy at most DISPLAY_LONG_SIDE long. */
export interface DisplayImageMsg {
  /** data: URL of the picture to draw. */
  dataUrl: string;
  /** The image's real size: what hover coordinates, the header and exports mean. */
  width: number;
  height: number;
  /** The picture's own size (the real size, or smaller): for drawing only. */
  displayWidth: number;
  displayHeight: number;
}

/** Every engine request, each with its params and result. */
export const ENGINE = {
  info: engineRequest<Record<string, never>, EngineInfoMsg>('saliencyLens/info'),
  open: engineRequest<EngineOpenParams, ModelInfoMsg>('saliencyLens/open'),
  explain: engineRequest<EngineExplainParams, ExplanationMsg>('saliencyLens/explain'),
  /** Maps of several classes for one image, and optionally the contrast map of two (compare view). */
  compare: engineRequest<EngineCompareParams, ComparisonMsg>('saliencyLens/compare'),
  /** The tensor the model sees for an image, displayed back as an image (preprocessing inspector). */
  modelInput: engineRequest<EngineExplainParams, ModelInputMsg>('saliencyLens/modelInput'),
  /** One image of a batch report (never rejects for a bad image: the entry carries the error). */
  reportEntry: engineRequest<EngineReportEntryParams, ReportEntry>('saliencyLens/reportEntry'),
  /** The picture to show for an image (a display-sized copy of a large one) and its real size. */
  displayImage: engineRequest<{ imagePath: string }, DisplayImageMsg>('saliencyLens/displayImage'),
  /** The trust measures of one method's map (the methods table's row). */
  evaluate: engineRequest<EngineEvaluateParams, EvaluationMsg>('saliencyLens/evaluate'),
} as const;

/** The affine presets: a half-pixel bilinear stretch to the model's input, then this per-channel scaling. */
export const AFFINE_PRESETS = ['raw', 'unit', 'symmetric', 'imagenet', 'caffe'] as const;
/** Framework pipelines (engine/image/pipeline/presets.ts): each framework's eval resize, crop and normalization. */
export const FRAMEWORK_PIPELINES = ['torchvision', 'timm', 'keras-caffe', 'keras-tf', 'keras-torch', 'tfjs-legacy', 'huggingface'] as const;
export type FrameworkPipeline = (typeof FRAMEWORK_PIPELINES)[number];
/** Preprocessing presets the panel offers. */
export const PRESETS = [...AFFINE_PRESETS, ...FRAMEWORK_PIPELINES] as const;

/** A failure the user can act on travels as this JSON-RPC error code with a one-sentence message. */
export const USER_ERROR_CODE = -32001;

// ---- host → webview -------------------------------------------------------------------------------

export type ColormapChoice = 'jet' | 'turbo' | 'viridis' | 'inferno' | 'gray';
/** What the explain panel shows first: two methods side by side, or one method (the `saliencyLens.defaultView` setting). */
export type ViewMode = 'side-by-side' | MethodName;

export interface PanelSettings {
  colormap: ColormapChoice;
  opacity: number;
  defaultView: ViewMode;
}

export type HostToWebview =
  /** Sent after `ready`, and again when the model changes. */
  | {
      type: 'init';
      imageUri: string;
      /** The image's real size when `imageUri` is a smaller display copy; absent: the picture's own size. */
      imageWidth?: number;
      imageHeight?: number;
      imageName: string;
      /** Kept in the webview's state so a reloaded window can restore the panel. */
      imagePath: string;
      model: ModelInfoMsg;
      settings: PanelSettings;
      /** What "Explain with…" asked for; overrides the remembered class and view once. */
      initial?: { classIndex?: number; view?: ViewMode };
    }
  /**
   * The image alone, with no model: none chosen yet, or the chosen one did not load. The panel shows the image
   * and drops the model it had (its maps and preset), so nothing claims a model that is not in use.
   */
  | { type: 'image'; imageUri: string; imageWidth?: number; imageHeight?: number; imageName: string; imagePath: string }
  /** The same model with other class names (a labels file or "labels": "imagenet"): the maps stay, the names change. */
  | { type: 'labelsChanged'; model: ModelInfoMsg }
  | { type: 'busy'; message: string }
  /** Part of the answer to `explain`, ahead of it: predictions first, then each map when it is ready. */
  | { type: 'partial'; requestId: number; partial: ExplainPartial }
  | { type: 'explanation'; requestId: number; result: ExplanationMsg }
  /** One sentence; `actions` are button labels the webview sends back as `action`. */
  | { type: 'error'; requestId?: number; message: string; actions?: string[] }
  /** The model's files changed and the new version loaded: recompute, keeping the old maps to flip back to. */
  | { type: 'modelUpdated'; time: string; model: ModelInfoMsg }
  /** Answer to `modelInput`. */
  | { type: 'modelInput'; input: ModelInputMsg }
  /** The Model view's "Use for Grad-CAM": show Grad-CAM at this layer. */
  | { type: 'setLayer'; layer: string }
  /** A Methods view tile was clicked: show this method, with these options, in the first pane. */
  | { type: 'showMethod'; method: MethodName; options: MethodOptions }
  /** A tile clicked in the compare view: show this class. */
  | { type: 'setClass'; classIndex: number }
  /** The image or model changed on disk: the webview re-requests what it shows. */
  | { type: 'invalidate'; reason: string; imageUri?: string; imageWidth?: number; imageHeight?: number }
  /** Progress of a long method working on an `explain` request: model inputs run so far, out of all. */
  | { type: 'progress'; requestId: number; method: MethodName; done: number; total: number }
  /** The request was cancelled (the panel's Cancel, or the host's): no map, and no error either. */
  | { type: 'cancelled'; requestId: number };

// ---- webview → host -------------------------------------------------------------------------------

export type WebviewToHost =
  | { type: 'ready' }
  | { type: 'explain'; requestId: number; request: ExplainRequest }
  /** Stop an `explain` still running (the engine process is stopped; maps already shown stay). */
  | { type: 'cancel'; requestId: number }
  /** Export: the overlay as drawn (PNG data URL) or the raw map of one method (.npy). */
  | { type: 'exportPng'; dataUrl: string; suggestedName: string }
  /**
   * The raw map shown (the webview's own copy: a slow method is not computed again), which the host writes
   * resized to the image's size, as the CLI does.
   */
  /** `inputRegion`: where the map lies on the image (absent: the whole image); the .npy is NaN outside it. */
  | { type: 'exportNpy'; method: MethodName; suggestedName: string; map: { width: number; height: number; data: string }; imageWidth: number; imageHeight: number; inputRegion?: InputRegionMsg }
  | { type: 'action'; action: string }
  /** Show the tensor the model sees (preprocessing inspector). */
  | { type: 'modelInput' }
  /** Use this preprocessing preset for this model (remembered per model). */
  | { type: 'setPreprocessing'; preset: string }
  /** Open the compare view for this image. */
  | { type: 'compare' }
  /** Open the Methods view (one tile per method) for this image and class. */
  | { type: 'compareMethods' }
  /** Open the Methods view's trust table (measures per method, with curves) for this image and class. */
  | { type: 'measureTrust' }
  /**
   * What the panel shows now: class, CAM layer (undefined = automatic), signed saliency, the methods in view,
   * and every registry method's options as the panel computes it (every option set).
   */
  | { type: 'selection'; classIndex?: number; layer?: string; signed: boolean; methods?: MethodName[]; options?: Partial<Record<MethodName, MethodOptions>> }
  /** The browser could not display the image: the panel cannot show maps over it. */
  | { type: 'imageError'; message: string }
  /** The class names the panel's search list now holds: how many, the first and the last (the host logs it; tests read it). */
  | { type: 'labelsShown'; count: number; first: string; last: string }
  /** The user chose a colormap or opacity: the views beside the panel follow, and the next panel starts with it. */
  | { type: 'display'; colormap: ColormapChoice; opacity: number }
  /** Persisted UI state changed (also kept with setState for reloads). */
  | { type: 'log'; message: string };

/** Encodes float32 values as base64 (little-endian, as typed arrays are on every platform we ship to). */
export function float32ToBase64(values: Float32Array): string {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

export function base64ToFloat32(text: string): Float32Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

// ---- compare view (host ↔ its webview) ------------------------------------------------------------

/** The explain panel's colormap and opacity changed: the views that follow it draw with them. */
export interface DisplayMsg {
  type: 'display';
  colormap: ColormapChoice;
  opacity: number;
}

/** The image and model the compare view works on. */
export interface CompareSubject {
  imageUri: string;
  imageName: string;
  imagePath: string;
  model: ModelInfoMsg;
  /** The class the explain panel shows (tiles mark it). */
  classIndex?: number;
  /** The Grad-CAM layer to use (the panel's, else the Model view's choice), else the model's default. */
  layer?: string;
  /** Signed saliency, as the panel shows it. */
  signed?: boolean;
  /** The explain panel's options per method, when it says; the rest take the registry's defaults. */
  options?: Partial<Record<MethodName, MethodOptions>>;
  /** Changes when the image file changes (its size and mtime): part of the methods view's cache keys. */
  imageVersion?: string;
}

export type HostToCompare =
  | { type: 'subject'; subject: CompareSubject; settings: PanelSettings }
  /** No explain panel is open: nothing to compare yet. */
  | { type: 'empty'; message: string }
  | { type: 'busy'; message: string }
  | { type: 'comparison'; requestId: number; result: ComparisonMsg }
  /** How far the engine is with the request in flight (perturbation and sampling methods). */
  | { type: 'progress'; requestId: number; progress: EngineProgressMsg }
  /** A failed request, or a failure of the view; `stale`: asked for a subject the panel no longer shows. */
  | { type: 'error'; requestId?: number; message: string; stale?: boolean }
  /** The model changed on disk, or the image, or the panel's layer: request again. */
  | { type: 'refresh'; subject: CompareSubject }
  /** The panel shows another class: mark its tile (nothing to recompute). */
  | { type: 'current'; classIndex?: number }
  /** Tests and commands: compare exactly these classes. */
  | { type: 'setClasses'; classes: number[] }
  | DisplayMsg;

export type CompareToHost =
  | { type: 'ready' }
  /** `imagePath` and `modelPath` (the subject's) let the host refuse a request meant for a panel that changed. */
  | { type: 'compare'; requestId: number; request: CompareRequest; imagePath: string; modelPath: string }
  /** Stop the request in flight (a slow method over several classes). */
  | { type: 'cancel'; requestId: number }
  /** A tile was clicked: make it the explain panel's class. */
  | { type: 'selectClass'; classIndex: number; imagePath: string }
  /** What the view drew (tests read it): one tile per class, plus the contrast tile. */
  | { type: 'rendered'; classes: number[]; drawnTiles: number; contrast: boolean; sharedScale: boolean }
  | { type: 'log'; message: string };

// ---- methods view (host ↔ its webview) ------------------------------------------------------------

/** How a method's tile stands: its map drawn, its error shown, or still to come. */
export type MethodTileStatus = 'drawn' | 'error' | 'computing' | 'queued' | 'cancelled';

export interface MethodTileMsg {
  method: MethodName;
  status: MethodTileStatus;
  /** The one sentence an error tile shows. */
  error?: string;
}

/** The methods view's two tabs: the maps as tiles, or the trust table with its curves. */
export type MethodsTab = 'maps' | 'trust';

/** One row of the trust table as drawn (tests read it): the numbers shown, by SCALARS name, null where none. */
export interface TrustRowMsg {
  method: MethodName;
  /** 'measured' once every chosen measure has its number or its error. */
  status: MethodTileStatus | 'measured' | 'measuring';
  values: Record<string, number | null>;
  /** Per measure, the sentence a cell shows instead of a number. */
  errors?: Partial<Record<Measure, string>>;
  /** Flagged by the randomization check. */
  insensitive?: boolean;
}

export type HostToMethods =
  /** What to show (after `ready`, and whenever the explain panel's image, model, class or layer changes). */
  | { type: 'subject'; subject: CompareSubject; settings: PanelSettings }
  /** The same subject, to request again (the view was hidden when it changed). */
  | { type: 'refresh'; subject: CompareSubject }
  /** No explain panel is open: nothing to show yet. */
  | { type: 'empty'; message: string }
  | { type: 'busy'; message: string }
  /** The answer to `explain`: one method's map. */
  | { type: 'explanation'; requestId: number; result: ExplanationMsg }
  | { type: 'progress'; requestId: number; progress: EngineProgressMsg }
  /**
   * A failed request (with its id: that method's tile shows it), or a failure of the view. `stale`: the request was
   * for an image or model the explain panel no longer shows (not a failure of the method; a new subject follows).
   */
  | { type: 'error'; requestId?: number; message: string; stale?: boolean }
  /** Tests and commands: show exactly these methods. */
  | { type: 'setMethods'; methods: MethodName[] }
  /** The answer to `evaluate`: one method's trust measures. */
  | { type: 'evaluation'; requestId: number; result: EvaluationMsg }
  /** Commands and tests: show this tab (and, for the trust table, measure these). */
  | { type: 'setTab'; tab: MethodsTab; measures?: Measure[] }
  | DisplayMsg;

export type MethodsToHost =
  | { type: 'ready' }
  /** One method per request (`request.methods` holds one name), for the subject's image and model. */
  | { type: 'explain'; requestId: number; request: ExplainRequest; imagePath: string; modelPath: string }
  /** Stop the request in flight; the tiles already drawn stay. */
  | { type: 'cancel'; requestId: number }
  /** A tile was clicked: show this method (with these options) in the explain panel. */
  | { type: 'selectMethod'; method: MethodName; options: MethodOptions; imagePath: string }
  /** What the view shows (tests read it): one tile per chosen method, in order. */
  | { type: 'rendered'; tiles: MethodTileMsg[] }
  /** The trust measures of one method, for the subject's image and model (one method per request). */
  | { type: 'evaluate'; requestId: number; request: EvaluateRequest; imagePath: string; modelPath: string }
  /** What the trust table shows (tests read it): the tab, its rows in their order, the sort and the selected row. */
  | { type: 'renderedTrust'; tab: MethodsTab; rows: TrustRowMsg[]; sortedBy?: string; selected?: MethodName; curves: number }
  | { type: 'log'; message: string };
