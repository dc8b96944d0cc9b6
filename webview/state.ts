/** The panel's persisted UI state: what is selected and how it is shown. */
import type { ColormapChoice, PanelSettings, ViewMode } from '../src/shared/protocol';
import { isColormapName } from '../src/shared/colormaps';
import {
  DEFAULT_METHODS, isMethodName, methodSpec, resolveOptions, type MethodName, type MethodOptions, type MethodSpec,
} from '../src/shared/methods';
import { CLIP_CHOICES, DEFAULT_DISPLAY, GAMMA_RANGE } from './mapStore';
import { parseZoom, type ZoomView } from './zoom';

/** One map, or two side by side (the image, then both maps). */
export type Layout = 'single' | 'side-by-side';

export type OptionsByMethod = Partial<Record<MethodName, MethodOptions>>;

export interface PanelState {
  /** Selected class; undefined = the model's top prediction. */
  classIndex?: number;
  layout: Layout;
  /** The two pickers' methods; a single view shows the first. */
  methods: [MethodName, MethodName];
  colormap: ColormapChoice;
  /** 0..1 */
  opacity: number;
  /** Display clip percentile (null = min–max) and gamma: how maps are coloured, local only. */
  clip: number | null;
  gamma: number;
  /** The CAMs' layer; undefined = the automatic choice. */
  layer?: string;
  /** Options the user changed, per method (valid values only; the others are the registry's defaults). */
  options: OptionsByMethod;
  /** Zoom and pan of the image and maps (zoom.ts); undefined = fitted. */
  zoom?: ZoomView;
}

export const DEFAULT_PAIR: [MethodName, MethodName] = [DEFAULT_METHODS[0], DEFAULT_METHODS[1]];
const DEFAULT_VIEW: ViewMode = 'side-by-side';

export function isViewMode(v: unknown): v is ViewMode {
  return v === 'side-by-side' || (typeof v === 'string' && isMethodName(v));
}

/** The methods in view, in pane order. */
export function shownMethods(state: Pick<PanelState, 'layout' | 'methods'>): MethodName[] {
  return state.layout === 'single' ? [state.methods[0]] : [...state.methods];
}

/** A view mode applied to the pickers: side by side keeps the pair; a method goes first and shows alone. */
export function withView(methods: [MethodName, MethodName], view: ViewMode): Pick<PanelState, 'layout' | 'methods'> {
  if (view === 'side-by-side') return { layout: 'side-by-side', methods };
  const other = methods[0] !== view ? methods[0] : methods[1];
  return { layout: 'single', methods: [view, other === view ? (view === DEFAULT_PAIR[0] ? DEFAULT_PAIR[1] : DEFAULT_PAIR[0]) : other] };
}

/** Every option of a method set: the user's values over the registry's defaults. */
export function optionsOf(state: Pick<PanelState, 'options'>, method: MethodName): MethodOptions {
  return resolveOptions(methodSpec(method), state.options[method] ?? {});
}

/** Only what differs from the registry's defaults is remembered, so a changed default reaches old panels. */
export function changedOptions(spec: MethodSpec, options: Readonly<MethodOptions>): MethodOptions {
  const out: MethodOptions = {};
  for (const o of spec.options) if (options[o.name] !== undefined && options[o.name] !== o.default) out[o.name] = options[o.name];
  return out;
}

/** Remembered options that are still valid (the registry may have changed since they were saved). */
function parseOptions(raw: unknown): OptionsByMethod {
  const out: OptionsByMethod = {};
  if (!raw || typeof raw !== 'object') return out;
  for (const [name, given] of Object.entries(raw as Record<string, unknown>)) {
    if (!isMethodName(name) || !given || typeof given !== 'object') continue;
    const spec = methodSpec(name);
    const kept: MethodOptions = {};
    for (const [option, value] of Object.entries(given as Record<string, unknown>)) {
      if (typeof value !== 'number' && typeof value !== 'string' && typeof value !== 'boolean') continue;
      try {
        Object.assign(kept, changedOptions(spec, resolveOptions(spec, { [option]: value })));
      } catch {
        // an option the method no longer has, or a value out of its range: dropped
      }
    }
    if (Object.keys(kept).length) out[name] = kept;
  }
  return out;
}

/** Validates whatever getState() returned; unknown or malformed fields are dropped. */
export function parseSavedState(raw: unknown): Partial<PanelState> {
  if (!raw || typeof raw !== 'object') return {};
  const r = raw as Record<string, unknown>;
  const out: Partial<PanelState> = {};
  if (Number.isInteger(r.classIndex) && (r.classIndex as number) >= 0) out.classIndex = r.classIndex as number;
  if (Array.isArray(r.methods) && r.methods.length === 2 && r.methods.every((m) => typeof m === 'string' && isMethodName(m))) {
    out.methods = [r.methods[0], r.methods[1]];
  }
  if (r.layout === 'single' || r.layout === 'side-by-side') out.layout = r.layout;
  // State saved before the registry: one view mode and a global signed toggle (saliency's).
  if (out.layout === undefined && isViewMode(r.viewMode)) Object.assign(out, withView(out.methods ?? DEFAULT_PAIR, r.viewMode));
  if (isColormapName(r.colormap)) out.colormap = r.colormap;
  if (typeof r.opacity === 'number' && r.opacity >= 0 && r.opacity <= 1) out.opacity = r.opacity;
  if (r.clip === null || (typeof r.clip === 'number' && CLIP_CHOICES.includes(r.clip))) out.clip = r.clip as number | null;
  if (typeof r.gamma === 'number' && r.gamma >= GAMMA_RANGE.min && r.gamma <= GAMMA_RANGE.max) out.gamma = r.gamma;
  if (typeof r.layer === 'string' && r.layer) out.layer = r.layer;
  const options = parseOptions(r.options);
  if (r.signed === true && !options.saliency) options.saliency = { signed: true };
  out.options = options;
  const zoom = parseZoom(r.zoom);
  if (zoom) out.zoom = zoom;
  return out;
}

/** Saved fields win; the rest come from the host's settings, then from built-in defaults. */
export function resolveState(saved: Partial<PanelState>, settings?: PanelSettings): PanelState {
  const opacity = settings && settings.opacity >= 0 && settings.opacity <= 1 ? settings.opacity : 0.5;
  const view = settings && isViewMode(settings.defaultView) ? settings.defaultView : DEFAULT_VIEW;
  const fromSettings = withView(saved.methods ?? DEFAULT_PAIR, view);
  return {
    classIndex: saved.classIndex,
    layout: saved.layout ?? fromSettings.layout,
    methods: saved.layout ? saved.methods ?? DEFAULT_PAIR : fromSettings.methods,
    colormap: saved.colormap ?? (settings && isColormapName(settings.colormap) ? settings.colormap : 'jet'),
    opacity: saved.opacity ?? opacity,
    clip: saved.clip !== undefined ? saved.clip : DEFAULT_DISPLAY.clip,
    gamma: saved.gamma ?? DEFAULT_DISPLAY.gamma,
    layer: saved.layer,
    options: saved.options ?? {},
    zoom: saved.zoom,
  };
}

/** The image file the panel shows, kept in the same state for the host's panel serializer. */
export function savedImagePath(raw: unknown): string | undefined {
  const v = raw && typeof raw === 'object' ? (raw as Record<string, unknown>).imagePath : undefined;
  return typeof v === 'string' && v ? v : undefined;
}
