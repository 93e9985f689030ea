// The admin page in headless Chromium against the in-memory fake of the admin API
// (fake-admin-api.mjs). The same checks (admin-page-checks.mjs) can run against the Worker.
// `make e2e` builds the page first (make admin); this test checks the built files are current.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ROOT } from './harness.mjs';
import { launchBrowser, browserMissing } from './browser.mjs';
import { startFakeAdminApi } from './fake-admin-api.mjs';
import { runAdminPageChecks } from './admin-page-checks.mjs';
import { runWorkbenchChecks } from './workbench-checks.mjs';

const skip = browserMissing() ?? false;
const rules = await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8');
// An older version to diff against: another label and a different hero headline.
const older = rules.replace('"version": "example-1"', '"version": "example-0"').replace(/Still deciding\?/g, 'Need help choosing?');
const TOKEN = 'fake-admin-token-0123456789';

let fake;
let browser;
before(async () => {
  fake = await startFakeAdminApi({ token: TOKEN, rules, history: [older] });
  if (!skip) browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await fake?.stop();
});

test('the built page is up to date with admin/ and within budget', async () => {
  const dir = join(ROOT, 'www', '__edgeseg', 'admin');
  // The budget is what a browser downloads (admin/build.mjs): app.js gzipped.
  const { bundle, LIMIT_GZIPPED } = await import('../../admin/build.mjs');
  const gzipped = gzipSync(await readFile(join(dir, 'app.js')), { level: 9 }).length;
  assert.ok(gzipped <= LIMIT_GZIPPED, `app.js is ${gzipped} bytes gzipped, over ${LIMIT_GZIPPED}`);
  for (const [name, data] of Object.entries(await bundle())) {
    const built = await readFile(join(dir, name));
    assert.ok(Buffer.from(data).equals(built), `www/__edgeseg/admin/${name} is stale: run make admin`);
  }
  const html = await readFile(join(dir, 'index.html'), 'utf8');
  assert.match(html, /src="app\.js"/);
  assert.doesNotMatch(html, /https?:\/\//, 'no CDN: everything is bundled');
});

test('the fake API answers by the contract', async () => {
  const api = (path, init = {}) => fetch(`${fake.baseUrl}api/${path}`, init);
  assert.equal((await api('rules')).status, 401);
  assert.equal((await api('rules', { headers: { authorization: 'Bearer nope' } })).status, 403);
  const auth = { authorization: `Bearer ${TOKEN}` };
  const r = await api('rules', { headers: auth });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('etag'), '"2"');
  const bad = await api('rules/validate', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ text: '{\n  "format": 1,\n  "version": "x",\n  "segments": [{"id": "a", "priority": "three"}]\n}' }) });
  assert.equal(bad.status, 422);
  assert.deepEqual((await bad.json()).errors[0], { path: 'segments[0].priority', message: 'expected a whole number, got "three"', line: 4, column: 40 });
  const syntax = await api('rules/validate', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ text: '{\n  "format": 1,\n  "version": "x" "y"\n}' }) });
  const e = (await syntax.json()).errors[0];
  assert.deepEqual([e.line, e.column], [3, 18]);
  const stale = await api('rules', { method: 'PUT', headers: { ...auth, 'content-type': 'application/json', 'if-match': '"1"' }, body: JSON.stringify({ text: rules, author: 'x', message: 'y' }) });
  assert.equal(stale.status, 409);
  assert.equal((await stale.json()).current_revision, 2);
});

test('admin page in Chromium (fake API)', { skip }, async (t) => {
  await runAdminPageChecks({ t, baseUrl: fake.baseUrl, token: TOKEN, browser, screenshotPrefix: 'admin-fake' });
});

test('the workbench in Chromium (fake API): overview, builder, completion, simulate unsaved, accessibility', { skip, timeout: 180_000 }, async (t) => {
  // Fresh stored rules: the checks above saved and rolled back.
  await fetch(`${fake.baseUrl}api/rules`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const current = fake.state.current;
  const res = await fetch(`${fake.baseUrl}api/rules`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'if-match': `"${current}"` }, body: JSON.stringify({ text: rules, author: 'seed', message: 'examples' }) });
  assert.equal(res.status, 200);
  await runWorkbenchChecks({ t, baseUrl: fake.baseUrl, token: TOKEN, browser, screenshotPrefix: 'workbench-fake' });
});

test('the fake API simulates unsaved text as the Worker does (422 for invalid text)', async () => {
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const text = rules.replace(/("product_views_10m": \{\s*"\$gte": )3/, '$11');
  const visitor = { events: [], url: 'https://shop.test/products/a' };
  const r = await fetch(`${fake.baseUrl}api/simulate`, { method: 'POST', headers: auth, body: JSON.stringify({ ...visitor, text }) });
  assert.equal(r.status, 200);
  assert.ok((await r.json()).segments.includes('product_browser'));
  const bad = await fetch(`${fake.baseUrl}api/simulate`, { method: 'POST', headers: auth, body: JSON.stringify({ ...visitor, text: '{"format": 1' }) });
  assert.equal(bad.status, 422);
  assert.equal((await bad.json()).valid, false);
});
