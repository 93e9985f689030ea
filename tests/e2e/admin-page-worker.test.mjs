// The admin page in headless Chromium against the real Worker in workerd: the
// same checks as against the fake API, then the marketer's whole loop — edit a
// block's content in the page, save, and see it on the store in the same browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, ROOT, eventually, Visitor, flushCounters } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';
import { runAdminPageChecks, signIn, replaceRange, fillDialog, waitText, editorText, WIDE } from './admin-page-checks.mjs';
import { runWorkbenchChecks } from './workbench-checks.mjs';

const skip = browserMissing() ?? false;
const TOKEN = 'worker-admin-token-0123456789';
const rules = await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8');
const older = rules.replace('"version": "example-1"', '"version": "example-0"').replace(/Still deciding\?/g, 'Need help choosing?');
let worker;
let browser;

async function put(text, revision) {
  const res = await fetch(`${worker.url}/__edgeseg/admin/api/rules`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(revision ? { 'if-match': `"${revision}"` } : {}) },
    body: JSON.stringify({ text, author: 'seed', message: 'seeded by the test' }),
  });
  const body = await res.text();
  assert.equal(res.status, 200, body);
  return JSON.parse(body).revision;
}

before(async () => {
  worker = await startWorker({ rules: older, vars: { EDGESEG_ADMIN_TOKEN: TOKEN } });
  const r1 = await put(older, null);
  await put(rules, r1);
  // Some traffic, published, so the stats page has page views, entries and impressions to chart.
  const shopper = new Visitor(worker.url);
  for (const p of ['/products/trail-runner', '/products/daypack-28', '/products/down-jacket', '/', '/category/']) await shopper.get(p);
  await new Visitor(worker.url).get('/?utm_campaign=spring');
  await eventually(async () => {
    await flushCounters(worker.url, TOKEN);
    const r = await fetch(`${worker.url}/__edgeseg/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const s = await r.json();
    return Object.keys(s.counters || {}).some((k) => k.startsWith('entries:'));
  }, { timeout: 20_000, every: 1_000, what: 'counters in the stats' });
  if (!skip) browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await worker?.stop();
});

test('admin page in Chromium (real Worker)', { skip, timeout: 180_000 }, async (t) => {
  await runAdminPageChecks({ t, baseUrl: `${worker.url}/__edgeseg/admin/`, token: TOKEN, browser, screenshotPrefix: 'admin-worker' });
});

test('edit a block in the page, save, and the store shows it in the same browser', { skip, timeout: 120_000 }, async () => {
  const page = await browser.newPage(WIDE);
  page.on('dialog', (d) => d.accept());
  await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);
  const text = await editorText(page);
  const phrase = 'Your trail-ready offer is here';
  const at = text.indexOf(phrase);
  assert.ok(at > 0, 'the campaign hero is in the stored rules');
  await replaceRange(page, at, at + phrase.length, 'Edited in the admin page');
  await page.locator('#save').click();
  await fillDialog(page, '#save-dialog', { message: 'new campaign headline', author: 'Ann' });
  await waitText(page, '.rules-status', /Saved as revision \d+/);
  const store = await page.context().newPage();
  await eventually(async () => {
    await store.goto(`${worker.url}/?utm_campaign=spring`);
    return (await store.content()).includes('Edited in the admin page');
  }, { timeout: 20_000, every: 1_000, what: 'the edited headline on the store' });
  await screenshot(store, 'store-after-admin-edit-1280');
});

test('the workbench against the Worker: build a segment and its hero without JSON, save, see it on the store; overview, errors at the field, completion, simulate unsaved, accessibility', { skip, timeout: 240_000 }, async (t) => {
  const current = (await (await fetch(`${worker.url}/__edgeseg/admin/api/rules`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()).revision;
  await put(rules, current);
  await runWorkbenchChecks({ t, baseUrl: `${worker.url}/__edgeseg/admin/`, token: TOKEN, browser, storeUrl: worker.url, eventually, screenshotPrefix: 'workbench-worker' });
});
