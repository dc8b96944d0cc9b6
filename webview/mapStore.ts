/**
 * Decoded raw maps and the cache that makes going back to a class, a method or its options instant.
 * A map is keyed by its method call (registry name and every option, `methodKey`), the class, and for
 * maps of a layer (CAMs) the layer: a change of one option only re-requests the method it belongs to.
 */
import type { ExplanationMsg, InputRegionMsg, PredictionMsg, RawMapMsg } from '../src/shared/protocol';
import { base64ToFloat32 } from '../src/shared/protocol';
import { isSigned, methodKey, methodSpec, type MethodName, type MethodOptions } from '../src/shared/methods';
import { applyGamma, centredNormalize, DEFAULT_CLIP_PERCENTILE, minMaxNormalize } from '../src/shared/normalize';

/** How maps are drawn: a percentile clip (null = the full min–max range) and a gamma on the normalized values. */
export interface DisplaySettings {
  clip: number | null;
  gamma: number;
}

/** The explain panel's default. */
export const DEFAULT_DISPLAY: Readonly<DisplaySettings> = { clip: DEFAULT_CLIP_PERCENTILE, gamma: 1 };
/** The full range, linear: how maps decode (the compare and methods views draw them so). */
export const FULL_RANGE: Readonly<DisplaySettings> = { clip: null, gamma: 1 };
export const CLIP_CHOICES: readonly (number | null)[] = [null, 99.9, 99.5, 99, 98, 95];
export const GAMMA_RANGE = { min: 0.25, max: 4 } as const;

export interface DecodedMap {
  method: MethodName;
  width: number;
  height: number;
  /** Raw values in the method's units, row-major, model-input space. */
  raw: Float32Array;
  /**
   * Normalized to [0, 1] for colouring under `display`: unsigned maps from min to the clip percentile
   * (or max); signed maps on a scale centred on 0 (0 → 0.5, ±bound → 1 and 0, bound = the clip
   * percentile of |v| or max|v|), so the colormap's middle means "no evidence"; then the gamma.
   */
  normalized: Float32Array;
  /** The colour bar's ends, the range actually drawn: min to the clipped max, or ±bound for a signed map. */
  min: number;
  max: number;
  display: Readonly<DisplaySettings>;
  signed: boolean;
  layer?: string;
  stats?: Record<string, number>;
  /** Where the map lies on the image, when the model's input covers only part of it (or more); absent: the whole image. */
  placement?: MapPlacement;
}

/** The input region of an answer and the size of the image it is given on (the image's own, not a display copy). */
export interface MapPlacement {
  region: InputRegionMsg;
  imageWidth: number;
  imageHeight: number;
}

/**
 * The placement of an answer's maps: none when its input covers the whole image (stretched onto the input), so
 * such maps draw exactly as before pipelines could crop.
 */
export function placementOf(answer: { inputRegion?: InputRegionMsg; imageWidth: number; imageHeight: number }): MapPlacement | undefined {
  const region = answer.inputRegion;
  if (!region || region.covers === 'whole') return undefined;
  return { region, imageWidth: answer.imageWidth, imageHeight: answer.imageHeight };
}

/** A cached outcome for one method: the map, or null when the host answered without one. */
export interface CacheEntry {
  map: DecodedMap | null;
  notes: string[];
  target: PredictionMsg;
  /** The explained image's size (exports resize the map to it). */
  imageWidth: number;
  imageHeight: number;
}

/** What every map of one answer shares: the class explained, the image's size and where the maps lie on it. */
export interface AnswerContext {
  target: PredictionMsg;
  imageWidth: number;
  imageHeight: number;
  inputRegion?: InputRegionMsg;
}

/** A method with every option set, as the panel asks for it. */
export interface MethodCall {
  method: MethodName;
  options: MethodOptions;
}

/**
 * @param signed the sign the request implied; the map's own `signed` wins when it says.
 * @param display how to normalize; the full range unless given (the panel redraws with `withDisplay`).
 */
export function decodeMap(msg: RawMapMsg, signed: boolean, display: Readonly<DisplaySettings> = FULL_RANGE, placement?: MapPlacement): DecodedMap {
  const raw = base64ToFloat32(msg.data);
  if (raw.length !== msg.width * msg.height) {
    throw new RangeError(`${msg.method} map has ${raw.length} values, expected ${msg.width}x${msg.height}`);
  }
  const base = { method: msg.method, width: msg.width, height: msg.height, raw, signed: msg.signed ?? signed, layer: msg.layer, stats: msg.stats, placement };
  return { ...base, ...displayed(raw, base.signed, display) };
}

function displayed(raw: Float32Array, signed: boolean, display: Readonly<DisplaySettings>): Pick<DecodedMap, 'normalized' | 'min' | 'max' | 'display'> {
  const clip = display.clip === null ? undefined : { clipPercentile: display.clip };
  if (signed) {
    const c = centredNormalize(raw, clip);
    return { normalized: applyGamma(c.normalized, display.gamma, true), min: -c.bound, max: c.bound, display };
  }
  const n = minMaxNormalize(raw, clip);
  return { normalized: applyGamma(n.normalized, display.gamma, false), min: n.stats.min, max: n.stats.max, display };
}

function samePlacement(a: MapPlacement | undefined, b: MapPlacement | undefined): boolean {
  if (!a || !b) return a === b;
  const r = a.region;
  const q = b.region;
  return r.x === q.x && r.y === q.y && r.width === q.width && r.height === q.height && r.text === q.text &&
    a.imageWidth === b.imageWidth && a.imageHeight === b.imageHeight;
}

const redrawn = new WeakMap<DecodedMap, DecodedMap>();

/** The map normalized under other display settings (memoized per map for the last settings asked). */
export function withDisplay(map: DecodedMap, display: Readonly<DisplaySettings>): DecodedMap {
  if (map.display.clip === display.clip && map.display.gamma === display.gamma) return map;
  const hit = redrawn.get(map);
  if (hit && hit.display.clip === display.clip && hit.display.gamma === display.gamma) return hit;
  const out = { ...map, ...displayed(map.raw, map.signed, display) };
  redrawn.set(map, out);
  return out;
}

/** `classIndex` 'top' = the model's top prediction, before the panel knows which class that is. */
export function cacheKey(call: MethodCall, classIndex: number | 'top', layer: string): string {
  const spec = methodSpec(call.method);
  return `${methodKey(call.method, call.options)}|${classIndex}|${spec.target === 'layer' ? layer : ''}`;
}

export class MapCache {
  private entries = new Map<string, CacheEntry>();

  get(call: MethodCall, classIndex: number, layer: string): CacheEntry | undefined {
    return this.entries.get(cacheKey(call, classIndex, layer));
  }

  /**
   * Stores one map of an answer as it arrives (the panel draws each map when it is ready). A map nobody
   * asked for has no options to key it by and is dropped.
   */
  storeMap(msg: RawMapMsg, answer: AnswerContext, requested: { layer: string; calls: MethodCall[] }, answerNotes: string[] = []): void {
    const call = requested.calls.find((c) => c.method === msg.method);
    if (!call) return;
    const notes = [...(msg.notes ?? []), ...answerNotes];
    const entry: CacheEntry = { ...answer, notes, map: decodeMap(msg, isSigned(methodSpec(call.method), call.options), FULL_RANGE, placementOf(answer)) };
    this.entries.set(cacheKey(call, answer.target.index, requested.layer), entry);
    // The automatic layer resolves to a name: remember the answer under that name too.
    if (msg.layer && msg.layer !== requested.layer) this.entries.set(cacheKey(call, answer.target.index, msg.layer), entry);
  }

  /**
   * Stores what an explanation brought for the request it answers (except the maps `stored` already holds,
   * which arrived ahead of it, unless the answer has notes of its own to add). Notes no map carries are the
   * whole answer's and go with every map. Methods that were asked for but came back without a map are
   * remembered as absent, with the answer's notes saying why.
   */
  store(result: ExplanationMsg, requested: { layer: string; calls: MethodCall[] }, stored: ReadonlySet<MethodName> = new Set()): void {
    const answer = { target: result.target, imageWidth: result.imageWidth, imageHeight: result.imageHeight, inputRegion: result.inputRegion };
    const answerNotes = result.notes.filter((n) => !result.maps.some((m) => m.notes?.includes(n)));
    for (const msg of result.maps) {
      // A map that arrived ahead of the answer is stored again if the answer places it elsewhere on the image.
      const call = requested.calls.find((c) => c.method === msg.method);
      const early = call && this.entries.get(cacheKey(call, result.target.index, requested.layer));
      const moved = !!early && !samePlacement(early.map?.placement, placementOf(answer));
      if (!stored.has(msg.method) || answerNotes.length || moved) this.storeMap(msg, answer, requested, answerNotes);
    }
    for (const call of requested.calls) {
      if (result.maps.some((m) => m.method === call.method)) continue;
      this.entries.set(cacheKey(call, result.target.index, requested.layer), { ...answer, notes: result.notes, map: null });
    }
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
