/**
 * `saliency-lens evaluate`'s HTML report: one self-contained page (no script, no external resource) with, per
 * method, the folder's means and spreads, then per image the deletion and insertion curves (the method's order
 * against the seeded random order) drawn as inline SVG, and the other measures' numbers.
 */
import * as path from 'node:path';
import type { ImageEvaluation, Spread } from '../metrics/evaluate';
import { formatScore, scalarHint, SCALARS, type CurveSummary } from '../../shared/measures';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A probability curve and its random-order reference, as an SVG polyline plot on [0, 1]². */
function curveSvg(title: string, c: CurveSummary): string {
  const W = 280;
  const H = 120;
  const pad = 24;
  const xy = (values: number[]) => values.map((v, i) => `${(pad + (c.fractions[i] ?? 0) * (W - 2 * pad)).toFixed(1)},${(H - pad - Math.max(0, Math.min(1, v)) * (H - 2 * pad)).toFixed(1)}`).join(' ');
  return `<figure><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">` +
    `<rect x="${pad}" y="${pad}" width="${W - 2 * pad}" height="${H - 2 * pad}" fill="none" stroke="#999"/>` +
    (c.randomProbability.length ? `<polyline points="${xy(c.randomProbability)}" fill="none" stroke="#999" stroke-dasharray="4 3"/>` : '') +
    `<polyline points="${xy(c.probability)}" fill="none" stroke="#c0392b" stroke-width="2"/>` +
    `<text x="${pad}" y="14" font-size="10">${esc(title)}: AUC ${formatScore(c.auc)} (random ${formatScore(c.randomAuc)})</text>` +
    `<text x="${pad}" y="${H - 6}" font-size="10">0 %</text><text x="${W - pad - 24}" y="${H - 6}" font-size="10">100 %</text>` +
    `</svg></figure>`;
}

export interface EvaluationReportHeader {
  model: string;
  created: string;
  measures: string[];
}

export function buildEvaluationReport(header: EvaluationReportHeader, images: readonly ImageEvaluation[],
  summary: Record<string, Record<string, Spread>>): string {
  const summaryRows = Object.entries(summary).map(([method, row]) =>
    `<tr><th scope="row">${esc(method)}</th>${SCALARS.map(({ name }) => `<td>${row[name] ? `${formatScore(row[name].mean)} ± ${formatScore(row[name].std)} <small>(n ${row[name].n})</small>` : '–'}</td>`).join('')}</tr>`).join('');
  const perImage = images.map((img) => {
    const rows = img.methods.map((m) => `<section><h3>${esc(m.label)}</h3>` +
      `<div class="curves">${m.deletion ? curveSvg('Deletion', m.deletion) : ''}${m.insertion ? curveSvg('Insertion', m.insertion) : ''}</div>` +
      `<p>${m.road ? `ROAD ${formatScore(m.road.combined)} · ` : ''}${m.stability ? `stability ${formatScore(m.stability.spearman)} (SSIM ${formatScore(m.stability.ssim)}) · ` : ''}` +
      `${m.randomization ? `after randomization ${formatScore(m.randomization.fullyRandomized)}${m.randomization.note ? ` — <strong>${esc(m.randomization.note)}</strong>` : ''}` +
        `${m.randomization.coverageNote ? ` (${esc(m.randomization.coverageNote)})` : ''} · ` : ''}` +
      `map ${formatScore(m.ms.map, 0)} ms</p>` +
      Object.entries(m.errors ?? {}).map(([measure, why]) => `<p><small>${esc(measure)}: ${esc(why)}</small></p>`).join('') + '</section>').join('');
    return `<article><h2>${esc(path.basename(img.image))} — ${esc(img.label)} (${(img.probability * 100).toFixed(1)} %)</h2>${rows}</article>`;
  }).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Saliency Lens evaluation</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.curves{display:flex;gap:12px;flex-wrap:wrap}figure{margin:0}small{color:#666}</style></head><body>
<h1>Saliency Lens evaluation</h1>
<p>Model ${esc(header.model)} · ${images.length} image${images.length === 1 ? '' : 's'} · measures ${esc(header.measures.join(', '))} · ${esc(header.created)}</p>
<table><thead><tr><th>Method</th>${SCALARS.map((s) => `<th title="${esc(scalarHint(s))}">${esc(s.label)}</th>`).join('')}</tr></thead><tbody>${summaryRows}</tbody></table>
<p><small>${SCALARS.map((s) => `${esc(s.label)}: ${esc(scalarHint(s))}.`).join(' ')} Curves: the class probability as pixels are removed (deletion) or revealed (insertion) in the map's order (red) and in a seeded random order (grey).</small></p>
${perImage}</body></html>`;
}
