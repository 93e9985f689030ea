// Rules live in KV: edits apply within the refresh interval without a restart,
// and a broken value never replaces the last good rules.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, Visitor, ROOT, eventually } from './harness.mjs';

const text = await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8');
let worker;

before(async () => { worker = await startWorker({ rules: text }); });
after(async () => { await worker?.stop(); });

const health = async () => (await fetch(`${worker.url}/__edgeseg/health`)).json();
const campaignHero = async () => {
  const r = await new Visitor(worker.url).get('/?utm_campaign=spring');
  assert.equal(r.status, 200);
  return r.text;
};

test('rules edited in KV while the server runs apply within the refresh interval', async () => {
  assert.match(await campaignHero(), /Your trail-ready offer is here/);
  const doc = JSON.parse(text);
  doc.version = 'test-2';
  doc.blocks.hero.content.campaign_visitor.inner_html = '<h1 data-variant="campaign_visitor">Edited live in KV for {{utm_campaign}}</h1>';
  await worker.kvPut('rules', JSON.stringify(doc));
  await eventually(async () => /Edited live in KV for spring/.test(await campaignHero()), { timeout: 15_000, what: 'the edited hero' });
  assert.equal((await health()).rules_version, 'test-2');
});

test('invalid JSON in KV: the previous rules stay in force, no 5xx, health shows the error', async () => {
  const before = (await health()).rules_version;
  await worker.kvPut('rules', '{"format": 1, "version": "broken", ');
  const h = await eventually(async () => { const h = await health(); return h.last_error ? h : null; }, { timeout: 15_000, what: 'the load error' });
  assert.match(h.last_error.errors.join('\n'), /not valid JSON/);
  assert.equal(h.rules_version, before);
  const r = await new Visitor(worker.url).get('/?utm_campaign=spring');
  assert.equal(r.status, 200);
  assert.match(r.text, /data-variant="campaign_visitor"/, 'still personalized by the last good rules');
});

test('a schema-invalid document is rejected with every error and its path; the last good rules stay', async () => {
  const doc = JSON.parse(text);
  doc.version = 'bad-schema';
  doc.segments[0].priority = 'three';
  doc.segments[1].conditon = doc.segments[1].condition;
  delete doc.segments[1].condition;
  doc.signals.product_views_10m.within = '10 minutes';
  await worker.kvPut('rules', JSON.stringify(doc));
  const h = await eventually(async () => {
    const h = await health();
    return h.last_error && h.last_error.errors.some((e) => e.includes('priority')) ? h : null;
  }, { timeout: 15_000, what: 'the validation errors' });
  const errors = h.last_error.errors.join('\n');
  assert.match(errors, /segments\[0\]\.priority: expected .*"three"/);
  assert.match(errors, /segments\[1\]\.conditon: unknown field "conditon" \(did you mean "condition"\?\)/);
  assert.match(errors, /signals\.product_views_10m\.within: invalid duration "10 minutes"/);
  assert.notEqual(h.rules_version, 'bad-schema');
  for (const path of ['/', '/category/', '/products/trail-runner']) {
    const r = await new Visitor(worker.url).get(path);
    assert.equal(r.status, 200, path);
  }
  assert.match(await campaignHero(), /data-variant="campaign_visitor"/);
});

test('with no rules at all, pages pass through untouched and no cookie is set', async () => {
  const bare = await startWorker({ rules: null });
  try {
    const r = await new Visitor(bare.url).get('/?utm_campaign=spring');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, await readFile(join(ROOT, 'www', 'index.html')));
    assert.equal(r.setCookies.length, 0);
    const h = await (await fetch(`${bare.url}/__edgeseg/health`)).json();
    assert.equal(h.status, 'no_rules');
  } finally {
    await bare.stop();
  }
});
