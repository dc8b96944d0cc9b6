/**
 * The CLI's method flags, derived from the registry: one `--kebab-name` flag per option name (applied to
 * every chosen method that has that option), `--option METHOD.NAME=VALUE` for one method, and the help text.
 */
import { UserError } from './engine/errors';
import { FAMILIES, METHODS, MethodName, MethodOptions, MethodSpec, methodSpec, OptionSpec, resolveOptions } from './shared/methods';

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** `signed` keeps its own global flag (--signed), shared by every method that has the option. */
const GLOBAL_OPTIONS = new Set(['signed']);

function optionNames(): string[] {
  const names = new Set<string>();
  for (const m of METHODS as readonly MethodSpec[]) for (const o of m.options) if (!GLOBAL_OPTIONS.has(o.name)) names.add(o.name);
  return [...names];
}

/** parseArgs declarations of the option flags. */
export function methodOptionFlags(): Record<string, { type: 'string' }> {
  return Object.fromEntries(optionNames().map((n) => [kebab(n), { type: 'string' as const }]));
}

/**
 * Options per chosen method from the flags. A flag no chosen method takes is an error naming the methods that
 * do; values are checked against the registry's ranges.
 */
export function parseMethodOptions(methods: MethodName[], values: Record<string, unknown>): Partial<Record<MethodName, MethodOptions>> {
  const out: Partial<Record<MethodName, MethodOptions>> = {};
  const set = (method: MethodName, name: string, value: string, flag: string) => {
    (out[method] ??= {})[name] = value;
    try {
      resolveOptions(methodSpec(method), out[method]);
    } catch (err) {
      throw new UserError(`${flag}: ${(err as Error).message}`);
    }
  };
  for (const name of optionNames()) {
    const value = values[kebab(name)];
    if (typeof value !== 'string') continue;
    const takers = methods.filter((m) => methodSpec(m).options.some((o) => o.name === name));
    if (takers.length === 0) {
      const all = (METHODS as readonly MethodSpec[]).filter((m) => m.options.some((o) => o.name === name)).map((m) => m.name);
      throw new UserError(`--${kebab(name)} is an option of ${all.join(', ')}; none of them is in --method`);
    }
    for (const m of takers) set(m, name, value, `--${kebab(name)}`);
  }
  for (const entry of (values.option as string[] | undefined) ?? []) {
    const match = /^([^.=\s]+)\.([^=\s]+)=(.*)$/.exec(entry.trim());
    if (!match) throw new UserError(`--option expects METHOD.NAME=VALUE (e.g. ig.steps=64), got "${entry}"`);
    const [, method, name, value] = match;
    if (!methods.includes(method as MethodName)) throw new UserError(`--option ${entry}: method "${method}" is not in --method`);
    set(method as MethodName, name, value, `--option ${entry}`);
  }
  return out;
}

function describeOption(o: OptionSpec): string {
  switch (o.kind) {
    case 'number': return `${o.min}–${o.max}, default ${o.default}`;
    case 'choice': return `${o.choices.map((c) => c.value).join(' | ')}, default ${o.default}`;
    case 'boolean': return `flag`;
    case 'color': return `#rrggbb, default ${o.default}`;
    case 'layers': return 'layer names, comma-separated';
  }
}

/** The methods and their options, grouped by family, for --help. */
export function methodsHelp(): string {
  const lines = ['methods (--method), by family; their options as --flag VALUE or --option METHOD.NAME=VALUE:'];
  for (const family of FAMILIES) {
    lines.push(`  ${family.label}:`);
    for (const m of (METHODS as readonly MethodSpec[]).filter((s) => s.family === family.name)) {
      lines.push(`    ${m.name.padEnd(16)}${m.label}: ${m.shows}`);
      for (const o of m.options) {
        const flag = GLOBAL_OPTIONS.has(o.name) ? `--${o.name}` : `--${kebab(o.name)}`;
        lines.push(`      ${flag.padEnd(16)}${o.help} (${describeOption(o)})`);
      }
    }
  }
  return lines.join('\n');
}
