/**
 * One self-contained HTML page for a batch of explanations: every image and overlay is embedded as a
 * data: URL, styles are inline, there is no script. Pure TypeScript: the CLI and the extension share it.
 */
import { shortLayerName } from './layerNames';
import { findMethod } from './methods';
import type { PredictionMsg } from './protocol';

export interface ReportEntry {
  name: string;
  /** The image itself, base64, with its MIME type. */
  image?: { mime: string; base64: string };
  /** Overlays as drawn (PNG, base64), one per method (its registry name). */
  overlays: { method: string; layer?: string; png: string }[];
  predictions: PredictionMsg[];
  target?: PredictionMsg;
  timings: Record<string, number>;
  notes: string[];
  /** Set when this image could not be explained: the one-sentence reason. */
  error?: string;
}

export interface ReportHeader {
  title: string;
  model: string;
  backend: string;
  preprocessing: string;
  created: string;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (p: number) => (p < 0.001 ? '<0.1%' : `${(p * 100).toFixed(1)}%`);
const ms = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(1)} ms`);

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1f2328; background: #fff; }
@media (prefers-color-scheme: dark) { body { color: #e6edf3; background: #0d1117; } .card { border-color: #30363d; } th, td { border-color: #30363d; } }
h1 { font-size: 20px; margin: 0 0 4px; } .meta { color: #8b949e; margin-bottom: 20px; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 12px 16px; margin: 0 0 16px; break-inside: avoid; }
.card h2 { font-size: 15px; margin: 0 0 8px; } .row { display: flex; gap: 12px; flex-wrap: wrap; align-items: flex-start; }
figure { margin: 0; text-align: center; } figure img { width: 224px; height: auto; image-rendering: pixelated; border-radius: 3px; }
figcaption { font-size: 12px; color: #8b949e; } table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #d0d7de; padding: 2px 10px 2px 0; text-align: left; } .error { color: #cf222e; }
.notes { font-size: 12px; color: #9a6700; }`;

/** A method's label, with the layer a CAM used. */
function methodCaption(method: string, layer?: string): string {
  let label = method;
  try {
    label = findMethod(method).label;
  } catch {
    // A report written by another version may name a method this one does not know: show the name.
  }
  return layer ? `${label} (${shortLayerName(layer)})` : label;
}

function entryHtml(e: ReportEntry): string {
  const id = `img-${escape(e.name).replace(/[^a-zA-Z0-9_-]/g, '_')}`;
  if (e.error) return `<section class="card" id="${id}"><h2>${escape(e.name)}</h2><p class="error">${escape(e.error)}</p></section>`;
  const figures = [
    e.image ? `<figure><img alt="${escape(e.name)}" src="data:${e.image.mime};base64,${e.image.base64}"><figcaption>image</figcaption></figure>` : '',
    ...e.overlays.map((o) => `<figure><img alt="${escape(o.method)} of ${escape(e.name)}" src="data:image/png;base64,${o.png}">` +
      `<figcaption${o.layer ? ` title="${escape(o.layer)}"` : ''}>${escape(methodCaption(o.method, o.layer))}</figcaption></figure>`),
  ].join('');
  const rows = e.predictions.map((p) => `<tr><td>${escape(p.label)}</td><td>${pct(p.probability)}</td><td>${p.logit.toFixed(3)}</td></tr>`).join('');
  // One native run (ONNX Runtime) times forward and gradients together as 'pass'; the maps then only reduce.
  const first: [string, string] = e.timings.pass !== undefined ? ['forward + gradients', 'pass'] : ['forward', 'forward'];
  const methods = e.overlays.map((o): [string, string] => [methodCaption(o.method), o.method]);
  const timing = [first, ...methods].map(([label, k]) => `${label} ${ms(e.timings[k])}`).join(' · ');
  const notes = e.notes.length ? `<p class="notes">${e.notes.map(escape).join('<br>')}</p>` : '';
  return `<section class="card" id="${id}"><h2>${escape(e.name)} — explained: ${escape(e.target?.label ?? '')}</h2>` +
    `<div class="row">${figures}<table><thead><tr><th>class</th><th>probability</th><th>logit</th></tr></thead><tbody>${rows}</tbody></table></div>` +
    `<p class="meta">${timing}</p>${notes}</section>`;
}

export function buildHtmlReport(header: ReportHeader, entries: ReportEntry[]): string {
  const failed = entries.filter((e) => e.error).length;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${escape(header.title)}</title><style>${STYLE}</style></head><body>
<h1>${escape(header.title)}</h1>
<p class="meta">${entries.length} image${entries.length === 1 ? '' : 's'}${failed ? `, ${failed} failed` : ''} · model ${escape(header.model)} · ` +
    `${escape(header.backend)} · preprocessing ${escape(header.preprocessing)} · ${escape(header.created)}</p>
${entries.map(entryHtml).join('\n')}
</body></html>
`;
}
