/**
 * The settings in package.json whose values come from the method registry: written there by
 * scripts/manifest/sync.ts and checked by a test, so the manifest cannot drift from the registry.
 */
import { DEFAULT_METHODS, METHODS, MethodSpec, methodSpec } from './methods';

export interface ManifestEnum {
  /** Path inside contributes.configuration.properties, e.g. ['saliencyLens.defaultView']. */
  path: string[];
  values: string[];
  descriptions: string[];
  /** The setting's default, when the registry decides it. */
  default?: string[];
}

const specs = METHODS as readonly MethodSpec[];
const describe = (m: MethodSpec) => `${m.label}: ${m.shows}`;

export function manifestEnums(): ManifestEnum[] {
  return [
    {
      path: ['saliencyLens.defaultView'],
      values: ['side-by-side', ...specs.map((m) => m.name)],
      descriptions: [`${DEFAULT_METHODS.map((m) => methodSpec(m).label).join(' and ')} side by side.`, ...specs.map(describe)],
    },
    {
      path: ['saliencyLens.reportMethods', 'items'],
      values: specs.map((m) => m.name),
      descriptions: specs.map(describe),
      default: [...DEFAULT_METHODS],
    },
  ];
}

/** The README's methods table (between its `methods-table` markers), one line per method from the registry. */
export function methodsTableMarkdown(): string {
  const rows = specs.map((m) => {
    const defaults = Object.fromEntries(m.options.map((o) => [o.name, o.default]));
    const target = m.target === 'layer' ? 'a spatial layer' : 'input pixels';
    const signed = m.signed === 'option' ? 'optional' : m.signed ? 'yes' : 'no';
    const cell = (text: string) => text.replace(/\|/g, '\\|');
    return `| \`${m.name}\` | ${cell(m.label)} | ${cell(m.shows)} | ${target} | ${signed} | ${cell(m.cost(defaults))} | ${cell(m.use)} |`;
  });
  return ['| `--method` | method | what the map shows | attributes to | signed | cost at defaults | when to use it |',
    '|---|---|---|---|---|---|---|', ...rows].join('\n');
}

export const METHODS_TABLE_BEGIN = '<!-- methods-table: written by npm run sync:manifest from src/shared/methods.ts -->';
export const METHODS_TABLE_END = '<!-- /methods-table -->';
