import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { manifestEnums, methodsTableMarkdown, METHODS_TABLE_BEGIN, METHODS_TABLE_END } from '../../src/shared/manifestEnums';
import { METHOD_NAMES } from '../../src/shared/methods';
import { IMAGE_EXTENSIONS, IMAGE_FILE } from '../../src/shared/imageFiles';
import { PRESETS } from '../../src/shared/protocol';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));

test('package.json settings list exactly the registry methods (npm run sync:manifest writes them)', () => {
  for (const e of manifestEnums()) {
    let node = pkg.contributes.configuration.properties;
    for (const key of e.path) node = node[key];
    assert.deepEqual(node.enum, e.values, `${e.path.join('.')}: run npm run sync:manifest`);
    assert.deepEqual(node.enumDescriptions, e.descriptions, `${e.path.join('.')}: run npm run sync:manifest`);
    for (const m of METHOD_NAMES) assert.ok(node.enum.includes(m), `${e.path.join('.')} lacks ${m}`);
    if (e.default) assert.deepEqual(pkg.contributes.configuration.properties[e.path[0]].default, e.default, `${e.path[0]} default`);
  }
  const report = pkg.contributes.configuration.properties['saliencyLens.reportMethods'];
  for (const m of report.default) assert.ok(METHOD_NAMES.includes(m), `default report method ${m}`);
});

test('the README methods table is the registry\'s (npm run sync:manifest writes it)', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const begin = readme.indexOf(METHODS_TABLE_BEGIN);
  const end = readme.indexOf(METHODS_TABLE_END);
  assert.ok(begin >= 0 && end > begin, 'README has the methods-table markers');
  assert.equal(readme.slice(begin + METHODS_TABLE_BEGIN.length, end).trim(), methodsTableMarkdown());
  for (const m of METHOD_NAMES) assert.ok(readme.includes(`| \`${m}\` |`), `README lists ${m}`);
});

test('the Explorer menu offers exactly the image files a folder run picks up (IMAGE_EXTENSIONS)', () => {
  const whens = (pkg.contributes.menus['explorer/context'] as { command: string; when: string }[])
    .filter((m) => m.command !== 'saliencyLens.explainFolder').map((m) => m.when);
  assert.ok(whens.length >= 2);
  for (const when of whens) {
    const source = /resourceExtname =~ \/(.+)\/i$/.exec(when)?.[1];
    assert.ok(source, `a resourceExtname regex: ${when}`);
    const menu = new RegExp(source, 'i');
    for (const ext of IMAGE_EXTENSIONS) assert.ok(menu.test(`.${ext}`) && IMAGE_FILE.test(`a.${ext}`), `.${ext} is offered: ${when}`);
    for (const other of ['.npy', '.json', '.svg', '.tif.bak', '.pngx']) assert.equal(menu.test(other), IMAGE_FILE.test(`a${other}`), `${other}: ${when}`);
  }
});

test('the preprocessing setting names every pipeline the panel offers (PRESETS)', () => {
  const description: string = pkg.contributes.configuration.properties['saliencyLens.preprocessing'].markdownDescription;
  for (const name of PRESETS) assert.ok(description.includes(`\`${name}\``), `saliencyLens.preprocessing's description lacks ${name}`);
});
