/**
 * The colour bar: one row per shown map, the colormap's gradient with the ends of the range drawn (the raw
 * min and the clipped max; a signed map: ±the clipped |value|, 0 in the middle), the clip and gamma in
 * words, and a line of what the method measured about its map.
 */
import { colormapLut, type ColormapName } from '../src/shared/colormaps';
import { h, formatValue, replaceChildren } from './dom';

export interface ColorbarEntry {
  label: string;
  min: number;
  max: number;
  /** Drawn on a scale centred on 0: the colormap's middle is "no evidence". */
  signed?: boolean;
  /** A line under the row, e.g. Integrated Gradients' completeness residual. */
  note?: string;
  /** The display clip percentile the ends come from (null/undefined = the true min and max). */
  clip?: number | null;
  /** The display gamma (1 or undefined = linear). */
  gamma?: number;
}

/** "clipped at the 99th percentile · gamma 0.5", or undefined for a plain min–max linear scale. */
export function scaleNote(e: Pick<ColorbarEntry, 'clip' | 'gamma' | 'signed'>): string | undefined {
  const parts: string[] = [];
  if (e.clip !== undefined && e.clip !== null) parts.push(`clipped at the ${e.clip}th percentile${e.signed ? ' of |value|' : ''}`);
  if (e.gamma !== undefined && e.gamma !== 1) parts.push(`gamma ${Number(e.gamma.toPrecision(2))}`);
  return parts.length ? parts.join(' · ') : undefined;
}

/** The ends of the drawn range as text; ends that are zero up to float noise relative to the range read as 0. */
export function rangeEnds(e: Pick<ColorbarEntry, 'min' | 'max'>): { min: string; max: string } {
  const span = Math.max(Math.abs(e.min), Math.abs(e.max));
  const fmt = (v: number) => formatValue(Math.abs(v) < span * 1e-4 ? 0 : v);
  return { min: fmt(e.min), max: fmt(e.max) };
}

export class Colorbar {
  readonly element = h('div', { class: 'colorbar', 'data-testid': 'colorbar', role: 'group', 'aria-label': 'Colour scale' });

  update(entries: ColorbarEntry[], colormap: ColormapName): void {
    this.element.hidden = entries.length === 0;
    replaceChildren(this.element, ...entries.flatMap((e) => [
      this.row(e, colormap),
      e.note ? h('div', { class: 'colorbar-note', 'data-testid': 'colorbar-note' }, e.note) : null,
    ]));
  }

  private row(e: ColorbarEntry, colormap: ColormapName): HTMLElement {
    const gradient = h('canvas', { class: 'colorbar-gradient', width: 256, height: 1, 'aria-hidden': 'true' });
    const ctx = gradient.getContext('2d');
    if (ctx) {
      const lut = colormapLut(colormap);
      const px = new Uint8ClampedArray(256 * 4);
      for (let i = 0; i < 256; i++) {
        px[4 * i] = lut[3 * i];
        px[4 * i + 1] = lut[3 * i + 1];
        px[4 * i + 2] = lut[3 * i + 2];
        px[4 * i + 3] = 255;
      }
      ctx.putImageData(new ImageData(px, 256, 1), 0, 0);
    }
    const track = h('div', { class: 'colorbar-track' }, gradient);
    // A tick at zero when the range straddles it (signed maps): where negative evidence ends.
    if (e.min < 0 && e.max > 0) {
      const tick = h('span', { class: 'colorbar-zero', title: '0' });
      tick.style.left = `${(100 * -e.min) / (e.max - e.min)}%`;
      track.append(tick);
    }
    const { min, max } = rangeEnds(e);
    const scale = scaleNote(e);
    return h(
      'div',
      {
        class: 'colorbar-row', 'data-min': e.min, 'data-max': e.max, 'data-signed': e.signed ? 'true' : undefined,
        'data-clip': e.clip ?? undefined, 'data-gamma': e.gamma ?? undefined,
        'aria-label': `${e.label}: ${min} to ${max}${e.signed ? ', 0 in the middle' : ''}${scale ? `, ${scale}` : ''}`,
      },
      h('span', { class: 'colorbar-label', title: e.signed ? 'Signed: above 0 is evidence for the class, below 0 against' : undefined }, e.label),
      h('span', { class: 'colorbar-value colorbar-min' }, min),
      track,
      h('span', { class: 'colorbar-value' }, max),
      scale ? h('span', { class: 'colorbar-scale', 'data-testid': 'colorbar-scale' }, scale) : null,
    );
  }
}

/**
 * What a method measured about its map, in words: Integrated Gradients' completeness residual as a share
 * of the logit change it should add up to; any other statistic by its name.
 */
export function statsNote(stats: Readonly<Record<string, number>> | undefined): string | undefined {
  if (!stats) return undefined;
  const parts: string[] = [];
  const { completenessResidual: residual, logitChange: change, ...others } = stats;
  const rest: Record<string, number> = { ...others };
  if (residual !== undefined) {
    parts.push(change !== undefined && change !== 0 && Number.isFinite(change)
      ? `completeness residual ${formatPercentOf(residual, change)} of the logit change (${formatValue(change)})`
      : `completeness residual ${formatValue(residual)}`);
  } else if (change !== undefined) {
    rest.logitChange = change;
  }
  for (const [name, value] of Object.entries(rest)) parts.push(`${words(name)} ${formatValue(value)}`);
  return parts.length ? parts.join(' · ') : undefined;
}

/** |a| as a percentage of |b|, two significant digits: "0.3 %". */
function formatPercentOf(a: number, b: number): string {
  const p = (100 * Math.abs(a)) / Math.abs(b);
  if (p === 0) return '0 %';
  if (p < 0.01) return '<0.01 %';
  return `${Number(p.toPrecision(2))} %`;
}

/** "noiseSigma" → "noise sigma". */
function words(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}
