/**
 * The methods view's results: one method's map for one (model version, image version, class, layer,
 * method call), decoded once and kept in a cache bounded by memory, so re-ticking a method, going back
 * to a class or seeing the view again never recomputes.
 */
import type { CompareSubject, ExplanationMsg, PredictionMsg } from '../src/shared/protocol';
import { isSigned, methodKey, methodSpec, type MethodName, type MethodOptions } from '../src/shared/methods';
import { decodeMap, FULL_RANGE, placementOf, type DecodedMap } from './mapStore';
import { layerFor, optionsFor } from './methodCall';

export interface MethodResult {
  method: MethodName;
  map: DecodedMap;
  /** What the method was computed with, every option set. */
  options: MethodOptions;
  /** The engine's timings of the request: the shared forward pass (`forward`, or `pass` when fused), the method, the total. */
  timings: Record<string, number>;
  /** The class explained (the top prediction when the request named none). */
  target: PredictionMsg;
  notes: string[];
}

/**
 * Which result a tile of `method` shows for `subject`: everything the map depends on. The layer is the
 * one the engine will use (the subject's, else the model's default), so "automatic" and its name share a key.
 */
export function resultKey(subject: CompareSubject, method: MethodName): string {
  const m = subject.model;
  const layer = methodSpec(method).target === 'layer' ? layerFor(method, subject) ?? m.defaultSpatialLayer ?? 'auto' : '';
  return [m.path, m.version ?? '', m.preprocessing, subject.imagePath, subject.imageVersion ?? '', subject.classIndex ?? 'top', layer,
    methodKey(method, optionsFor(method, subject))].join('\n');
}

/** The map of `method` in an answer, decoded; a sentence (thrown) when the answer holds none. */
export function methodResult(msg: ExplanationMsg, method: MethodName, options: MethodOptions): MethodResult {
  const raw = msg.maps.find((m) => m.method === method);
  if (!raw) throw new Error(msg.notes[0] ?? `The engine answered without a ${methodSpec(method).label} map.`);
  return {
    method,
    map: decodeMap(raw, isSigned(methodSpec(method), options), FULL_RANGE, placementOf(msg)),
    options: raw.options ?? options,
    timings: msg.timings,
    target: msg.target,
    notes: msg.notes,
  };
}

/** Decoded maps take raw + normalized floats (8 bytes a value): about 60 MB holds 400 maps of 224². */
const BUDGET_BYTES = 64 * 1024 * 1024;

const bytesOf = (r: MethodResult) => r.map.raw.byteLength + r.map.normalized.byteLength;

/** Results by key, the least recently used dropped first once they outgrow the budget. */
export class ResultCache {
  private readonly entries = new Map<string, MethodResult>();
  private bytes = 0;

  constructor(private readonly budget = BUDGET_BYTES) {}

  get(key: string): MethodResult | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      // Map keeps insertion order: re-inserting marks it as used last.
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, result: MethodResult): void {
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= bytesOf(old);
      this.entries.delete(key);
    }
    this.entries.set(key, result);
    this.bytes += bytesOf(result);
    for (const [k, r] of this.entries) {
      if (this.bytes <= this.budget || k === key) break;
      this.entries.delete(k);
      this.bytes -= bytesOf(r);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
