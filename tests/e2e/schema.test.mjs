// The committed JSON Schema, checked by an independent validator (Ajv, draft
// 2020-12): the example rules and the valid fixtures pass it, and documents our
// validator rejects for their shape are rejected by it too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { ROOT } from './harness.mjs';

const schema = JSON.parse(await readFile(join(ROOT, 'schema', 'rules.schema.json'), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: false });
ajv.addFormat('duration', /^(0|[1-9][0-9]{0,8})[smhd]$/);
const validate = ajv.compile(schema);
const read = async (...p) => JSON.parse(await readFile(join(ROOT, ...p), 'utf8'));

test('the example rules validate against the committed schema', async () => {
  for (const file of ['rules.json', 'test-rules.json']) {
    const ok = validate(await read('examples', file));
    assert.ok(ok, `${file}: ${JSON.stringify(validate.errors, null, 1)}`);
  }
});

test('the valid fixtures validate; shape errors from the invalid fixtures are caught', async () => {
  for (const f of (await readdir(join(ROOT, 'tests', 'fixtures', 'rules', 'valid'))).filter((f) => f.endsWith('.json'))) {
    assert.ok(validate(await read('tests', 'fixtures', 'rules', 'valid', f)), `${f}: ${JSON.stringify(validate.errors)}`);
  }
  const doc = await read('examples', 'rules.json');
  doc.segments[0].priority = 'three';
  doc.segments[1].conditon = {};
  doc.signals.product_views_10m.within = '10 minutes';
  assert.equal(validate(doc), false);
  const paths = validate.errors.map((e) => e.instancePath);
  assert.ok(paths.includes('/segments/0/priority'), JSON.stringify(paths));
  assert.ok(paths.includes('/signals/product_views_10m/within') || paths.some((p) => p.startsWith('/signals/product_views_10m')), JSON.stringify(paths));
});
