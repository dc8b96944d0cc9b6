/** The colour bar: one row per shown map, the colormap's gradient with the map's raw min and max. */
import { colormapLut, type ColormapName } from '../src/shared/colormaps';
import { h, formatValue, replaceChildren } from './dom';

export interface ColorbarEntry {
  label: string;
  min: number;
  max: number;
}

export class Colorbar {
  readonly element = h('div', { class: 'colorbar', 'data-testid': 'colorbar', role: 'group', 'aria-label': 'Colour scale' });

  update(entries: ColorbarEntry[], colormap: ColormapName): void {
    this.element.hidden = entries.length === 0;
    replaceChildren(this.element, ...entries.map((e) => this.row(e, colormap)));
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
    // Ends that are zero up to float noise relative to the range read as 0.
    const scale = Math.max(Math.abs(e.min), Math.abs(e.max));
    const fmt = (v: number) => formatValue(Math.abs(v) < scale * 1e-4 ? 0 : v);
    const min = fmt(e.min);
    const max = fmt(e.max);
    return h(
      'div',
      { class: 'colorbar-row', 'data-min': e.min, 'data-max': e.max, 'aria-label': `${e.label}: ${min} to ${max}` },
      h('span', { class: 'colorbar-label' }, e.label),
      h('span', { class: 'colorbar-value colorbar-min' }, min),
      track,
      h('span', { class: 'colorbar-value' }, max),
    );
  }
}
