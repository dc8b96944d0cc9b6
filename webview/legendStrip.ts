/**
 * The legend strip under an exported overlay: the image, the class and its probability, the part of the image the
 * maps cover when the model's input is only part of it (a centre crop), then per map its
 * method (with the CAM layer), the colour bar over the range drawn, and the clip and gamma — what the panel's
 * colour bar states. Black on white whatever the theme, so it reads in any image viewer.
 */
import { colormapLut, type ColormapName } from '../src/shared/colormaps';
import { rangeEnds, scaleNote, type ColorbarEntry } from './colorbar';

export interface LegendContent {
  imageName: string;
  /** "tabby cat (class 10) · p 93.1%" */
  classLine: string;
  /** One per map in the export, in its order. */
  bars: ColorbarEntry[];
  /** Where the maps lie when the model's input covers only part of the image: "centre crop 263×263 at (94, 0) of …". */
  covers?: string;
}

const INK = '#000';
const PAPER = '#fff';

/** The narrowest strip: a tiny image (a 28 px digit) still gets a legend one can read. */
export const MIN_LEGEND_WIDTH = 480;

/** Sizes for a strip this wide: the text grows with the image, so a 4000 px photo's legend is not a smudge. */
function metrics(width: number, legend: LegendContent) {
  const font = Math.max(12, Math.min(48, Math.round(width / 40)));
  const pad = Math.round(font * 0.75);
  const line = Math.round(font * 1.4);
  const barHeight = font;
  const block = line + barHeight + pad;
  const lines = legend.covers ? 3 : 2;
  return { font, pad, line, barHeight, block, height: pad + lines * line + legend.bars.length * block + pad };
}

export function legendHeight(width: number, legend: LegendContent): number {
  return metrics(width, legend).height;
}

/** Draws the strip at (0, top) across `width` pixels of `ctx`. */
export function drawLegend(ctx: CanvasRenderingContext2D, top: number, width: number, legend: LegendContent, colormap: ColormapName): void {
  const m = metrics(width, legend);
  ctx.fillStyle = PAPER;
  ctx.fillRect(0, top, width, m.height);
  ctx.fillStyle = INK;
  ctx.textBaseline = 'top';
  const textWidth = width - 2 * m.pad;
  let y = top + m.pad;
  ctx.font = `bold ${m.font}px sans-serif`;
  ctx.fillText(legend.imageName, m.pad, y, textWidth);
  y += m.line;
  ctx.font = `${m.font}px sans-serif`;
  ctx.fillText(legend.classLine, m.pad, y, textWidth);
  y += m.line;
  if (legend.covers) {
    ctx.fillText(`map covers: ${legend.covers}; outside it (dimmed) no attribution`, m.pad, y, textWidth);
    y += m.line;
  }
  for (const bar of legend.bars) {
    const scale = scaleNote(bar);
    ctx.fillStyle = INK;
    ctx.fillText(scale ? `${bar.label} — ${scale}` : bar.label, m.pad, y, textWidth);
    y += m.line;
    drawBar(ctx, m, y, width, bar, colormap);
    y += m.barHeight + m.pad;
  }
}

/** "min [gradient] max", the gradient drawn entry by entry from the colormap's table, 0 marked under it when signed. */
function drawBar(ctx: CanvasRenderingContext2D, m: ReturnType<typeof metrics>, y: number, width: number, bar: ColorbarEntry, colormap: ColormapName): void {
  const { min, max } = rangeEnds(bar);
  const gap = Math.round(m.font / 2);
  const minWidth = Math.ceil(ctx.measureText(min).width);
  const maxWidth = Math.ceil(ctx.measureText(max).width);
  const x = m.pad + minWidth + gap;
  const barWidth = Math.max(16, width - 2 * m.pad - minWidth - maxWidth - 2 * gap);
  const textY = y + Math.round((m.barHeight - m.font) / 2);
  ctx.fillStyle = INK;
  ctx.fillText(min, m.pad, textY);
  ctx.fillText(max, x + barWidth + gap, textY);
  const lut = colormapLut(colormap);
  const px = new Uint8ClampedArray(barWidth * m.barHeight * 4);
  for (let i = 0; i < barWidth; i++) {
    const k = Math.min(255, Math.floor((i * 256) / barWidth));
    for (let r = 0; r < m.barHeight; r++) {
      const o = 4 * (r * barWidth + i);
      px[o] = lut[3 * k];
      px[o + 1] = lut[3 * k + 1];
      px[o + 2] = lut[3 * k + 2];
      px[o + 3] = 255;
    }
  }
  ctx.putImageData(new ImageData(px, barWidth, m.barHeight), x, y);
  if (bar.min < 0 && bar.max > 0) {
    const zero = x + Math.round((barWidth * -bar.min) / (bar.max - bar.min));
    ctx.fillRect(zero - 1, y + m.barHeight, 2, Math.round(m.pad / 2));
  }
}
