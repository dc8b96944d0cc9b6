/**
 * Decoded raw maps and the cache that makes going back to a class, a method or its options instant.
 * A map is keyed by its method call (registry name and every option, `methodKey`), the class, and for
 * maps of a layer (CAMs) the layer: a change of one option only re-requests the method it belongs to.
 */
import type { ExplanationMsg, PredictionMsg, RawMapMsg } from '../src/shared/protocol';
import { base64ToFloat32 } from '../src/shared/protocol';
import { isSigned, methodKey, methodSpec, type MethodName, type MethodOptions } from '../src/shared/methods';
import { centredNormalize, minMaxNormalize } from '../src/shared/normalize';

export interface DecodedMap {
  method: MethodName;
  width: number;
  height: number;
  /** Raw values in the method's units, row-major, model-input space. */
  raw: Float32Array;
  /**
   * Normalized to [0, 1] for colouring: min–max for unsigned maps; signed maps on a scale centred on 0
   * (0 → 0.5, ±max|v| → 1 and 0), so the colormap's middle means "no evidence".
   */
  normalized: Float32Array;
  /** The colour bar's ends: the raw range, or ±max|v| for a signed map. */
  min: number;
  max: number;
  signed: boolean;
  layer?: string;
  stats?: Record<string, number>;
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

/** A method with every option set, as the panel asks for it. */
export interface MethodCall {
  method: MethodName;
  options: MethodOptions;
}

/** @param signed the sign the request implied; the map's own `signed` wins when it says. */
export function decodeMap(msg: RawMapMsg, signed: boolean): DecodedMap {
  const raw = base64ToFloat32(msg.data);
  if (raw.length !== msg.width * msg.height) {
    throw new RangeError(`${msg.method} map has ${raw.length} values, expected ${msg.width}x${msg.height}`);
  }
  const isSignedMap = msg.signed ?? signed;
  let normalized: Float32Array;
  let min: number;
  let max: number;
  if (isSignedMap) {
    const c = centredNormalize(raw);
    normalized = c.normalized;
    [min, max] = [-c.bound, c.bound];
  } else {
    const n = minMaxNormalize(raw);
    normalized = n.normalized;
    [min, max] = [n.stats.min, n.stats.max];
  }
  return { method: msg.method, width: msg.width, height: msg.height, raw, normalized, min, max, signed: isSignedMap, layer: msg.layer, stats: msg.stats };
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
   * Stores what an explanation brought for the request it answers. Methods that were asked for
   * but came back without a map are remembered as absent (with the notes saying why).
   */
  store(result: ExplanationMsg, requested: { layer: string; calls: MethodCall[] }): void {
    const classIndex = result.target.index;
    const base = { notes: result.notes, target: result.target, imageWidth: result.imageWidth, imageHeight: result.imageHeight };
    const decoded = result.maps.map((msg) => ({ msg, call: requested.calls.find((c) => c.method === msg.method) }));
    for (const { msg, call } of decoded) {
      if (!call) continue; // a map nobody asked for: no options to key it by
      const map = decodeMap(msg, isSigned(methodSpec(call.method), call.options));
      this.entries.set(cacheKey(call, classIndex, requested.layer), { ...base, map });
      // The automatic layer resolves to a name: remember the answer under that name too.
      if (msg.layer && msg.layer !== requested.layer) this.entries.set(cacheKey(call, classIndex, msg.layer), { ...base, map });
    }
    for (const call of requested.calls) {
      if (decoded.some((d) => d.call === call)) continue;
      this.entries.set(cacheKey(call, classIndex, requested.layer), { ...base, map: null });
    }
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
