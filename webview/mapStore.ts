/**
 * Decoded raw maps and the cache that makes going back to a class instant.
 * Saliency is keyed by (class, signed), Grad-CAM by (class, layer): together they cover the
 * (class, layer, signed) selection, and a change of one option only re-requests the method it affects.
 */
import type { ExplanationMsg, MethodName, PredictionMsg, RawMapMsg } from '../src/shared/protocol';
import { base64ToFloat32 } from '../src/shared/protocol';
import { minMaxNormalize } from '../src/shared/normalize';

export interface DecodedMap {
  method: MethodName;
  width: number;
  height: number;
  /** Raw values in the method's units, row-major, model-input space. */
  raw: Float32Array;
  /** Min-max normalized to [0, 1] (per map). */
  normalized: Float32Array;
  /** Range of `raw` (non-finite counted as 0): the colour bar's ends. */
  min: number;
  max: number;
  layer?: string;
  signed?: boolean;
}

/** A cached outcome for one method: the map, or null when the host answered without one. */
export interface CacheEntry {
  map: DecodedMap | null;
  notes: string[];
  target: PredictionMsg;
}

export interface Selection {
  classIndex: number;
  layer: string;
  signed: boolean;
}

export function decodeMap(msg: RawMapMsg): DecodedMap {
  const raw = base64ToFloat32(msg.data);
  if (raw.length !== msg.width * msg.height) {
    throw new RangeError(`${msg.method} map has ${raw.length} values, expected ${msg.width}x${msg.height}`);
  }
  const { normalized, stats } = minMaxNormalize(raw);
  return {
    method: msg.method,
    width: msg.width,
    height: msg.height,
    raw,
    normalized,
    min: stats.min,
    max: stats.max,
    layer: msg.layer,
    signed: msg.signed,
  };
}

export function cacheKey(method: MethodName, sel: Selection): string {
  return method === 'saliency' ? `saliency|${sel.classIndex}|${sel.signed ? 'signed' : 'abs'}` : `gradcam|${sel.classIndex}|${sel.layer}`;
}

export class MapCache {
  private entries = new Map<string, CacheEntry>();

  get(method: MethodName, sel: Selection): CacheEntry | undefined {
    return this.entries.get(cacheKey(method, sel));
  }

  /**
   * Stores what an explanation brought for the request it answers. Methods that were asked for
   * but came back without a map are remembered as absent (with the notes saying why).
   */
  store(result: ExplanationMsg, requested: { layer: string; signed: boolean; methods: MethodName[] }): void {
    const classIndex = result.target.index;
    const seen = new Set<MethodName>();
    for (const msg of result.maps) {
      const map = decodeMap(msg);
      const sel: Selection = {
        classIndex,
        layer: msg.method === 'gradcam' && msg.layer ? msg.layer : requested.layer,
        signed: msg.method === 'saliency' && msg.signed !== undefined ? msg.signed : requested.signed,
      };
      this.entries.set(cacheKey(msg.method, sel), { map, notes: result.notes, target: result.target });
      // The automatic layer resolves to a name: remember the answer under the requested key too.
      if (msg.method === 'gradcam' && sel.layer !== requested.layer) {
        this.entries.set(cacheKey('gradcam', { ...sel, layer: requested.layer }), { map, notes: result.notes, target: result.target });
      }
      seen.add(msg.method);
    }
    for (const method of requested.methods) {
      if (seen.has(method)) continue;
      const sel: Selection = { classIndex, layer: requested.layer, signed: requested.signed };
      this.entries.set(cacheKey(method, sel), { map: null, notes: result.notes, target: result.target });
    }
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
