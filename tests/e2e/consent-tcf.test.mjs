// Consent from the site's consent platform, end to end in workerd: TCF v2.2
// strings made by the IAB's own library (tests/fixtures/tcf/strings.json) in
// the `euconsent-v2` cookie switch storing and counting as the README's
// "Consent from your consent platform" says; a string that does not decode is
// served as no consent, with a 200.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, Visitor, ROOT, flushCounters } from './harness.mjs';

const TOKEN = 'e2e-admin-token-tcf';
const rules = await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8');
const fixture = JSON.parse(await readFile(join(ROOT, 'tests', 'fixtures', 'tcf', 'strings.json'), 'utf8'));
const tc = (name) => fixture.generated.find((c) => c.name === name).string;
let worker;

before(async () => { worker = await startWorker({ rules, vars: { EDGESEG_ADMIN_TOKEN: TOKEN } }); });
after(async () => { await worker?.stop(); });

async function stats() {
  const r = await fetch(`${worker.url}/__edgeseg/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  return r.json();
}
const total = (s, name) => (s.counters[name] || []).reduce((a, b) => a + b, 0);

async function sendEvent(v, body) {
  const res = await fetch(`${worker.url}/__edgeseg/event`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: v.cookieHeader() },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return { status: res.status, setCookies: res.headers.getSetCookie() };
}

test('TCF strings from the IAB library: without the store purpose nothing is kept or counted, with it the visitor is tracked, a broken one is no consent', async () => {
  await flushCounters(worker.url, TOKEN);
  const before = await stats();

  // Purposes 8 and 9 (measure) but not 1 (store): no state cookie, nothing counted.
  const noStore = new Visitor(worker.url);
  noStore.cookies.set('euconsent-v2', tc('measure_only'));
  for (const path of ['/?utm_campaign=tcf', '/products/camp-mug']) {
    const page = await noStore.get(path);
    assert.equal(page.status, 200);
    assert.deepEqual(page.setCookies, [], `${path}: no state cookie without purpose 1`);
  }
  assert.match((await noStore.get('/?utm_campaign=tcf')).text, /data-variant="campaign_visitor"/, 'content from the request alone still applies');
  const ev = await sendEvent(noStore, { name: 'add_to_cart' });
  assert.equal(ev.status, 204);
  assert.deepEqual(ev.setCookies, []);

  // Everything accepted: tracked and counted, as without a CMP.
  const all = new Visitor(worker.url);
  all.cookies.set('euconsent-v2', tc('accept_all'));
  const first = await all.get('/products/camp-mug');
  assert.equal(first.status, 200);
  assert.ok(first.setCookies.some((c) => c.startsWith('edgeseg=')), 'the state cookie is written');
  assert.equal((await all.get('/category/')).status, 200);
  const added = await sendEvent(all, { name: 'add_to_cart' });
  assert.equal(added.status, 204);
  assert.equal(added.setCookies.length, 1);

  // A truncated string, and one that is not base64url: served, as no consent.
  for (const broken of [tc('accept_all').slice(0, 15), 'not%20a%20tc%20string', 'B' + tc('accept_all').slice(1)]) {
    const v = new Visitor(worker.url);
    v.cookies.set('euconsent-v2', broken);
    const page = await v.get('/?utm_campaign=tcf');
    assert.equal(page.status, 200, broken);
    assert.deepEqual(page.setCookies, [], broken);
    assert.match(page.text, /data-variant="campaign_visitor"/);
  }

  await flushCounters(worker.url, TOKEN);
  const after = await stats();
  assert.equal(total(after, 'page_views') - total(before, 'page_views'), 2, 'only the consenting visitor\'s two pages');
  assert.equal(total(after, 'events:add_to_cart') - total(before, 'events:add_to_cart'), 1);
});
