// Writes the registry's method names into package.json's settings enums (src/shared/manifestEnums.ts).
// Run after adding a method: `npm run sync:manifest`. test/unit/manifest.test.ts fails while they differ.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { manifestEnums } from '../../src/shared/manifestEnums';

const file = path.join(__dirname, '..', '..', 'package.json');
const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
for (const e of manifestEnums()) {
  let node = pkg.contributes.configuration.properties;
  for (const key of e.path) node = node[key];
  node.enum = e.values;
  node.enumDescriptions = e.descriptions;
}
fs.writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
console.log(`package.json: ${manifestEnums().map((e) => e.path.join('.')).join(', ')} synced with the method registry`);
