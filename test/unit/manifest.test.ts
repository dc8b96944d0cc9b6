import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { manifestEnums } from '../../src/shared/manifestEnums';
import { METHOD_NAMES } from '../../src/shared/methods';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));

test('package.json settings list exactly the registry methods (npm run sync:manifest writes them)', () => {
  for (const e of manifestEnums()) {
    let node = pkg.contributes.configuration.properties;
    for (const key of e.path) node = node[key];
    assert.deepEqual(node.enum, e.values, `${e.path.join('.')}: run npm run sync:manifest`);
    assert.deepEqual(node.enumDescriptions, e.descriptions, `${e.path.join('.')}: run npm run sync:manifest`);
    for (const m of METHOD_NAMES) assert.ok(node.enum.includes(m), `${e.path.join('.')} lacks ${m}`);
  }
  const report = pkg.contributes.configuration.properties['saliencyLens.reportMethods'];
  for (const m of report.default) assert.ok(METHOD_NAMES.includes(m), `default report method ${m}`);
});
