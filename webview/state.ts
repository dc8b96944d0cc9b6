/** The panel's persisted UI state: what is selected and how it is shown. */
import type { ColormapChoice, PanelSettings, ViewMode } from '../src/shared/protocol';
import { isColormapName } from '../src/shared/colormaps';

export interface PanelState {
  /** Selected class; undefined = the model's top prediction. */
  classIndex?: number;
  viewMode: ViewMode;
  colormap: ColormapChoice;
  /** 0..1 */
  opacity: number;
  /** Grad-CAM layer; undefined = the automatic choice. */
  layer?: string;
  /** Signed saliency (keeps negative evidence) instead of absolute values. */
  signed: boolean;
}

const VIEW_MODES: readonly ViewMode[] = ['saliency', 'gradcam', 'side-by-side'];

export function isViewMode(v: unknown): v is ViewMode {
  return typeof v === 'string' && (VIEW_MODES as readonly string[]).includes(v);
}

/** Validates whatever getState() returned; unknown or malformed fields are dropped. */
export function parseSavedState(raw: unknown): Partial<PanelState> {
  if (!raw || typeof raw !== 'object') return {};
  const r = raw as Record<string, unknown>;
  const out: Partial<PanelState> = {};
  if (Number.isInteger(r.classIndex) && (r.classIndex as number) >= 0) out.classIndex = r.classIndex as number;
  if (isViewMode(r.viewMode)) out.viewMode = r.viewMode;
  if (isColormapName(r.colormap)) out.colormap = r.colormap;
  if (typeof r.opacity === 'number' && r.opacity >= 0 && r.opacity <= 1) out.opacity = r.opacity;
  if (typeof r.layer === 'string' && r.layer) out.layer = r.layer;
  if (typeof r.signed === 'boolean') out.signed = r.signed;
  return out;
}

/** Saved fields win; the rest come from the host's settings, then from built-in defaults. */
export function resolveState(saved: Partial<PanelState>, settings?: PanelSettings): PanelState {
  const opacity = settings && settings.opacity >= 0 && settings.opacity <= 1 ? settings.opacity : 0.5;
  return {
    classIndex: saved.classIndex,
    viewMode: saved.viewMode ?? (settings && isViewMode(settings.defaultView) ? settings.defaultView : 'saliency'),
    colormap: saved.colormap ?? (settings && isColormapName(settings.colormap) ? settings.colormap : 'jet'),
    opacity: saved.opacity ?? opacity,
    layer: saved.layer,
    signed: saved.signed ?? false,
  };
}

/** The image file the panel shows, kept in the same state for the host's panel serializer. */
export function savedImagePath(raw: unknown): string | undefined {
  const v = raw && typeof raw === 'object' ? (raw as Record<string, unknown>).imagePath : undefined;
  return typeof v === 'string' && v ? v : undefined;
}
