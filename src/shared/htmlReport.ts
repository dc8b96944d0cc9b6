/**
 * One self-contained HTML page for a batch of explanations: every image and overlay is embedded as a
 * data: URL, styles are inline, there is no script. Pure TypeScript: the CLI and the extension share it.
 */
import { layerLabel } from './layerNames';
import { findMethod } from './methods';
import type { PredictionMsg } from './protocol';

export interface ReportEntry {
  name: string;
  /** The image, sized for viewing: base64 with its MIME type. */
  image?: EmbeddedImage;
  /** Overlays as drawn, sized like the image, one per method (its registry name). */
  overlays: { method: string; layer?: string; picture: EmbeddedImage }[];
  predictions: PredictionMsg[];
  target?: PredictionMsg;
  timings: Record<string, number>;
  notes: string[];
  /** Where the overlays lie when the model's input covers only part of the image: "centre crop 263×263 at (94, 0) of …". */
  covers?: string;
  /** Set when this image could not be explained: the one-sentence reason. */
  error?: string;
}

export interface EmbeddedImage {
  mime: string;
  base64: string;
}

export interface ReportHeader {
  title: string;
  model: string;
  backend: string;
  preprocessing: string;
  created: string;
  /** The model's spatial layers, so a CAM's layer is named as the panel names it (its full name in the tooltip). */
  spatialLayers?: readonly string[];
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
.notes { font-size: 12px; color: #9a6700; } .summary { margin: 0 0 20px; } .summary a { color: inherit; }`;

/** A method's label, with the layer a CAM used. */
function methodCaption(method: string, layer?: string, spatialLayers: readonly string[] = []): string {
  let label = method;
  try {
    label = findMethod(method).label;
  } catch {
    // A report written by another version may name a method this one does not know: show the name.
  }
  return layer ? `${label} (${layerLabel(layer, spatialLayers)})` : label;
}

/** Only the image types a report embeds: a MIME type from elsewhere cannot break out of the attribute. */
const dataUrl = (p: EmbeddedImage) => `data:${/^image\/[a-z+.-]+$/.test(p.mime) ? p.mime : 'application/octet-stream'};base64,${p.base64.replace(/[^A-Za-z0-9+/=]/g, '')}`;

/** Each entry's anchor, unique even when two names differ only in characters an id cannot hold. */
function entryIds(entries: ReportEntry[]): string[] {
  const used = new Set<string>();
  return entries.map((e) => {
    const base = `img-${e.name.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}-${n}`;
    used.add(id);
    return id;
  });
}

/** Compute time of one image: the shared pass (or forward) and every map. */
const totalMs = (e: ReportEntry) => Object.values(e.timings).reduce((a, b) => a + b, 0);

/** The table at the top: per image its top class, the class explained, the time, or why it failed; each row links to its entry. */
function summaryHtml(entries: ReportEntry[], ids: string[]): string {
  const rows = entries.map((e, i) => {
    const top = e.predictions[0];
    const cells = [
      `<a href="#${ids[i]}">${escape(e.name)}</a>`,
      escape(top?.label ?? '–'),
      top ? pct(top.probability) : '–',
      escape(e.target?.label ?? '–'),
      ms(Object.keys(e.timings).length ? totalMs(e) : undefined),
      e.error ? escape(e.error) : '',
    ];
    const classes = ['', 'top', '', '', '', 'error'];
    return `<tr${e.error ? ' class="failed"' : ''}>${cells.map((c, k) => `<td${classes[k] ? ` class="${classes[k]}"` : ''}>${c}</td>`).join('')}</tr>`;
  }).join('');
  return `<table class="summary"><thead><tr><th>image</th><th>top class</th><th>probability</th><th>explained</th><th>time</th><th>error</th></tr></thead>` +
    `<tbody>${rows}</tbody></table>`;
}

function entryHtml(e: ReportEntry, id: string, spatialLayers?: readonly string[]): string {
  if (e.error) return `<section class="card" id="${id}"><h2>${escape(e.name)}</h2><p class="error">${escape(e.error)}</p></section>`;
  const figures = [
    e.image ? `<figure><img alt="${escape(e.name)}" src="${dataUrl(e.image)}"><figcaption>image</figcaption></figure>` : '',
    ...e.overlays.map((o) => `<figure><img alt="${escape(o.method)} of ${escape(e.name)}" src="${dataUrl(o.picture)}">` +
      `<figcaption${o.layer ? ` title="${escape(o.layer)}"` : ''}>${escape(methodCaption(o.method, o.layer, spatialLayers))}</figcaption></figure>`),
  ].join('');
  const rows = e.predictions.map((p) => `<tr><td>${escape(p.label)}</td><td>${pct(p.probability)}</td><td>${p.logit.toFixed(3)}</td></tr>`).join('');
  // One native run (ONNX Runtime) times forward and gradients together as 'pass'; the maps then only reduce.
  const first: [string, string] = e.timings.pass !== undefined ? ['forward + gradients', 'pass'] : ['forward', 'forward'];
  const methods = e.overlays.map((o): [string, string] => [methodCaption(o.method), o.method]);
  const timing = [first, ...methods].map(([label, k]) => `${label} ${ms(e.timings[k])}`).join(' · ');
  const notes = e.notes.length ? `<p class="notes">${e.notes.map(escape).join('<br>')}</p>` : '';
  const covers = e.covers ? `<p class="meta">maps cover: ${escape(e.covers)} (dimmed outside: no attribution)</p>` : '';
  return `<section class="card" id="${id}"><h2>${escape(e.name)} — explained: ${escape(e.target?.label ?? '')}</h2>` +
    `<div class="row">${figures}<table><thead><tr><th>class</th><th>probability</th><th>logit</th></tr></thead><tbody>${rows}</tbody></table></div>` +
    `${covers}<p class="meta">${timing}</p>${notes}</section>`;
}

export function buildHtmlReport(header: ReportHeader, entries: ReportEntry[]): string {
  const failed = entries.filter((e) => e.error).length;
  const ids = entryIds(entries);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${escape(header.title)}</title><style>${STYLE}</style></head><body>
<h1>${escape(header.title)}</h1>
<p class="meta">${entries.length} image${entries.length === 1 ? '' : 's'}${failed ? `, ${failed} failed` : ''} · model ${escape(header.model)} · ` +
    `${escape(header.backend)} · preprocessing ${escape(header.preprocessing)} · ${escape(header.created)}</p>
${summaryHtml(entries, ids)}
${entries.map((e, i) => entryHtml(e, ids[i], header.spatialLayers)).join('\n')}
</body></html>
`;
}
