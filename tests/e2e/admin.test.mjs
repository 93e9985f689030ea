// The marketer's admin API end to end in workerd: auth, validate, save with
// If-Match, conflicts, versions, rollback, simulate, and signed preview links.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, Visitor, ROOT, eventually } from './harness.mjs';

const TOKEN = 'e2e-admin-token-0123456789';
const text = await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8');
let worker;

before(async () => { worker = await startWorker({ rules: text, vars: { EDGESEG_ADMIN_TOKEN: TOKEN } }); });
after(async () => { await worker?.stop(); });

async function api(method, path, { body, token = TOKEN, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined && !('content-type' in h)) h['content-type'] = 'application/json';
  const res = await fetch(`${worker.url}/__edgeseg/admin/api/${path}`, {
    method, headers: h, body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const txt = await res.text();
  let json = null;
  try { json = JSON.parse(txt); } catch { /* not JSON */ }
  return { status: res.status, json, headers: res.headers };
}

const hero = async (query = '?utm_campaign=spring') => (await new Visitor(worker.url).get(`/${query}`)).text;

test('auth: 401 without a token, 403 with a wrong one, 200 with the right one', async () => {
  assert.equal((await api('GET', 'rules', { token: null })).status, 401);
  assert.equal((await api('GET', 'rules', { token: 'not-the-token-7731' })).status, 403);
  const ok = await api('GET', 'rules');
  assert.equal(ok.status, 200);
  assert.equal(ok.json.label, 'test-1');
  assert.equal(ok.json.text, text);
  assert.ok(!worker.logs().includes('not-the-token-7731'), 'the refused token is not logged');
});

test('writes need a JSON content type (no form posts)', async () => {
  const r = await api('POST', 'rules/validate', { body: 'text=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(r.status, 415);
});

test('validate: every error with its path and line, nothing written', async () => {
  const doc = JSON.parse(text);
  doc.segments[0].priority = 'three';
  const bad = JSON.stringify(doc, null, 2);
  const r = await api('POST', 'rules/validate', { body: { text: bad } });
  assert.equal(r.status, 422);
  const e = r.json.errors.find((x) => x.path === 'segments[0].priority');
  assert.ok(e, JSON.stringify(r.json));
  assert.match(e.message, /expected a whole number, got "three"/);
  const line = bad.split('\n').findIndex((l) => l.includes('"three"')) + 1;
  assert.equal(e.line, line);
  const good = await api('POST', 'rules/validate', { body: { text } });
  assert.equal(good.status, 200);
  assert.equal(good.json.valid, true);
  assert.equal((await api('GET', 'rules')).json.text, text, 'validate wrote nothing');
});

test('save, 409 on a stale revision, versions, then rollback; the live site follows', async () => {
  const first = await api('GET', 'rules');
  const doc = JSON.parse(text);
  doc.version = 'admin-1';
  doc.blocks.hero.content.campaign_visitor.inner_html = '<h1 data-variant="campaign_visitor">Saved from the admin API</h1>';
  const saved = await api('PUT', 'rules', { body: { text: JSON.stringify(doc, null, 2), author: 'ann', message: 'new hero' }, headers: { 'if-match': `"${first.json.revision}"` } });
  assert.equal(saved.status, 200, JSON.stringify(saved.json));
  const rev = saved.json.revision;
  assert.ok(rev > first.json.revision);
  await eventually(async () => (await hero()).includes('Saved from the admin API'), { timeout: 15_000, what: 'the saved hero on the live site' });

  const stale = await api('PUT', 'rules', { body: { text, author: 'bob', message: 'old base' }, headers: { 'if-match': `"${first.json.revision}"` } });
  assert.equal(stale.status, 409);
  assert.equal(stale.json.current_revision, rev);

  const versions = await api('GET', 'rules/versions');
  assert.equal(versions.json.current, rev);
  const mine = versions.json.versions.find((v) => v.revision === rev);
  assert.equal(mine.author, 'ann');
  assert.equal(mine.message, 'new hero');
  assert.equal(mine.label, 'admin-1');
  const original = versions.json.versions.find((v) => v.label === 'test-1');
  assert.ok(original, 'the rules found in KV were kept as a revision before the first save');

  const back = await api('POST', 'rules/rollback', { body: { revision: original.revision, author: 'ann' } });
  assert.equal(back.status, 200, JSON.stringify(back.json));
  await eventually(async () => (await hero()).includes('Your trail-ready offer is here'), { timeout: 15_000, what: 'the old hero after rollback' });
  const after = await api('GET', 'rules');
  assert.equal(after.json.rollback_of, original.revision);
  assert.equal(after.json.text, text);
});

test('simulate: a described visitor gets segments, reasons and content per block', async () => {
  const r = await api('POST', 'simulate', { body: {
    events: [{ name: 'page_view', path: '/products/a', ago: '5m' }, { name: 'page_view', path: '/products/b', ago: '3m' }, { name: 'page_view', path: '/products/c', ago: '1m' }],
    url: 'https://shop.test/', country: 'DE', device: 'mobile',
  } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.ok(r.json.segments.includes('product_browser'));
  assert.equal(r.json.blocks.hero, 'product_browser');
  assert.equal(r.json.signals.product_views_10m, 3);
  assert.match(r.json.explain, /product_browser: condition held \(product_views_10m=3\)/);
  const bad = await api('POST', 'simulate', { body: { events: [{ name: 'add_to_kart' }] } });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /did you mean "add_to_cart"/);
});

test('simulate: against unsaved rules text (the editor text), with validation errors as rules/validate gives them', async () => {
  const stored = (await api('GET', 'rules')).json.text;
  // One product view is enough in the unsaved text; the stored rules need three.
  const text = stored.replace(/("product_views_10m": \{\s*"\$gte": )3/, '$11');
  assert.notEqual(text, stored);
  const visitor = { events: [{ name: 'page_view', path: '/products/a', ago: '1m' }], url: 'https://shop.test/' };
  const saved = await api('POST', 'simulate', { body: visitor });
  assert.equal(saved.status, 200);
  assert.ok(!saved.json.segments.includes('product_browser'), 'the stored rules need 3 views');
  const unsaved = await api('POST', 'simulate', { body: { ...visitor, text } });
  assert.equal(unsaved.status, 200, JSON.stringify(unsaved.json));
  assert.ok(unsaved.json.segments.includes('product_browser'), 'the unsaved text needs 1');
  assert.equal(unsaved.json.blocks.hero, 'product_browser');
  // Nothing was saved by simulating.
  assert.equal((await api('GET', 'rules')).json.text, stored);
  const badText = text.replace('"priority": 60', '"priority": "sixty"');
  const bad = await api('POST', 'simulate', { body: { ...visitor, text: badText } });
  const validated = await api('POST', 'rules/validate', { body: { text: badText } });
  assert.equal(bad.status, 422);
  assert.equal(validated.status, 422);
  assert.deepEqual(bad.json, validated.json);
  assert.match(bad.json.errors[0].path, /^segments\[\d\]\.priority$/);
  assert.ok(Number.isInteger(bad.json.errors[0].line));
});

test('preview: a signed link forces a segment for that browser only, shows a banner and a debug header, and expires', async () => {
  const link = await api('POST', 'preview', { body: { segments: ['product_browser'], ttl: '3s' } });
  assert.equal(link.status, 200, JSON.stringify(link.json));
  const marketer = new Visitor(worker.url);
  const first = await marketer.get(link.json.url);
  assert.match(first.text, /data-variant="product_browser"/);
  assert.match(first.text, /edgeseg preview: forcing <strong>product_browser<\/strong>/);
  assert.match(first.headers.get('x-edgeseg-debug'), /product_browser: forced by preview/);
  assert.ok(first.setCookies.some((c) => c.startsWith('edgeseg_preview=')), 'the preview sticks to this browser');
  assert.ok(!first.setCookies.some((c) => c.startsWith('edgeseg=')), 'a preview stores no visitor state');
  // The same browser keeps the preview on other pages, without the query.
  assert.match((await marketer.get('/category/')).text, /data-variant="product_browser"/);
  // Anybody else: nothing forced, even with a forged or altered token.
  assert.doesNotMatch((await new Visitor(worker.url).get('/')).text, /data-variant="product_browser"/);
  const forged = link.json.url.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
  const other = await new Visitor(worker.url).get(forged);
  assert.doesNotMatch(other.text, /data-variant="product_browser"/);
  assert.equal(other.headers.get('x-edgeseg-debug'), null);
  // It expires.
  await new Promise((r) => setTimeout(r, 3_500));
  const late = await marketer.get('/');
  assert.doesNotMatch(late.text, /data-variant="product_browser"/);
  assert.doesNotMatch(late.text, /edgeseg preview/);
});

test('preview links name known segments only', async () => {
  const r = await api('POST', 'preview', { body: { segments: ['nope'] } });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /unknown segment "nope"/);
});
