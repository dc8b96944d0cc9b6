// Writes the registry's method names into package.json's settings enums and the README's methods table
// (src/shared/manifestEnums.ts).
// Run after adding a method: `npm run sync:manifest`. test/unit/manifest.test.ts fails while they differ.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { manifestEnums, methodsTableMarkdown, METHODS_TABLE_BEGIN, METHODS_TABLE_END } from '../../src/shared/manifestEnums';

const file = path.join(__dirname, '..', '..', 'package.json');
const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
for (const e of manifestEnums()) {
  let node = pkg.contributes.configuration.properties;
  // A default belongs to the setting, the enum to its items (array settings).
  if (e.default) pkg.contributes.configuration.properties[e.path[0]].default = e.default;
  for (const key of e.path) node = node[key];
  node.enum = e.values;
  node.enumDescriptions = e.descriptions;
}
fs.writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
console.log(`package.json: ${manifestEnums().map((e) => e.path.join('.')).join(', ')} synced with the method registry`);

const readme = path.join(__dirname, '..', '..', 'README.md');
const text = fs.readFileSync(readme, 'utf8');
const begin = text.indexOf(METHODS_TABLE_BEGIN);
const end = text.indexOf(METHODS_TABLE_END);
if (begin < 0 || end < begin) throw new Error(`README.md: no ${METHODS_TABLE_BEGIN} … ${METHODS_TABLE_END} markers`);
fs.writeFileSync(readme, `${text.slice(0, begin + METHODS_TABLE_BEGIN.length)}\n${methodsTableMarkdown()}\n${text.slice(end)}`);
console.log('README.md: methods table synced with the method registry');
