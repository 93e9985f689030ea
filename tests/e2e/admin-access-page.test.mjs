// The admin page in headless Chromium behind a stand-in for Cloudflare Access: every
// request of the browser carries Cf-Access-Jwt-Assertion (as Access adds it), signed by a
// test key pair whose public key the Worker reads from a loopback certs URL. The page shows
// who is signed in and what their role allows; buttons the role may not use are disabled
// with the reason; an editor saves a draft and opens its preview; a publisher publishes it,
// and the version list names both, verified. Screenshots at 390 and 1280 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, ROOT } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';
import { replaceRange, fillDialog, waitText, editorText, showTab, WIDE, NARROW } from './admin-page-checks.mjs';
import { keyPair, accessToken, certsServer, accessVars } from './access-keys.mjs';

const skip = browserMissing() ?? false;
const doc = JSON.parse(await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8'));
doc.settings.admin = { publishers: ['pat@shop.example'], editors: ['group:marketing'], default_role: 'viewer' };
const rules = JSON.stringify(doc, null, 2);
const key = keyPair('page-key-1');
let certs;
let worker;
let b;

before(async () => {
  certs = await certsServer([key]);
  worker = await startWorker({ rules, vars: { EDGESEG_ADMIN_TOKEN: 'page-access-token-0123456789', ...accessVars(certs.url) } });
  if (!skip) b = await launchBrowser();
});
after(async () => {
  await b?.close();
  await worker?.stop();
  await certs?.close();
});

/** A page whose every request carries the Access token of `claims`, as Access adds it. */
async function pageAs(claims, viewport = WIDE) {
  const context = await b.browser.newContext({ viewport, extraHTTPHeaders: { 'cf-access-jwt-assertion': accessToken(key, claims) } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.__errors = [];
  page.on('pageerror', (e) => page.__errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  await page.goto(`${worker.url}/__edgeseg/admin/`);
  await page.locator('.cm-editor').waitFor();
  return page;
}

const fits = async (page, width) => {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(w <= width + 1, `the page is ${w}px wide at ${width}px`);
};

let draft;

test('a viewer sees who they are and what they may not do, at 1280 and 390 px', { skip, timeout: 90_000 }, async () => {
  const page = await pageAs({ email: 'vic@shop.example' });
  assert.equal(await page.locator('#token').count(), 0, 'no token form: Access signed them in');
  assert.equal(await page.locator('#who-id').textContent(), 'vic@shop.example');
  assert.equal(await page.locator('#who-role').textContent(), 'viewer');
  assert.equal(await page.locator('#save').isDisabled(), true);
  assert.match(await page.locator('#save').getAttribute('title'), /vic@shop.example is a viewer and may not publish rules/);
  assert.equal(await page.locator('#save-draft').isDisabled(), true);
  assert.match(await page.locator('#role-note').textContent(), /you can read, validate and simulate; saving needs an editor, publishing a publisher/);
  assert.equal(await page.locator('#validate').isDisabled(), false, 'checking is allowed');
  await page.locator('#whoami summary').click();
  await page.locator('#who-panel').waitFor({ state: 'visible' });
  assert.match(await page.locator('#who-panel').textContent(), /signed in through Cloudflare Access; role: viewer/);
  assert.match(await page.locator('#who-panel li[data-action="purge"]').textContent(), /You can’t purge the page cache \(needs a publisher\)/);
  assert.match(await page.locator('#who-panel li[data-action="read"]').textContent(), /You can read/);
  await screenshot(page, 'access-viewer-1280');
  await page.locator('#whoami summary').click();
  await showTab(page, 'cache');
  assert.equal(await page.locator('#purge-all-button').isDisabled(), true);
  assert.match(await page.locator('#purge-all-button').getAttribute('title'), /needs a publisher/);
  assert.equal(await page.locator('#sign-out, #signout').getAttribute('href'), '/cdn-cgi/access/logout');
  assert.deepEqual(page.__errors, []);

  const narrow = await pageAs({ email: 'vic@shop.example' }, NARROW);
  await fits(narrow, NARROW.width);
  assert.equal(await narrow.locator('#who-role').isVisible(), true);
  await narrow.locator('#whoami summary').click();
  await narrow.locator('#who-panel').waitFor({ state: 'visible' });
  await fits(narrow, NARROW.width);
  await screenshot(narrow, 'access-viewer-390');
});

test('an editor saves a draft and opens its preview on the store; publishing is disabled for them', { skip, timeout: 120_000 }, async () => {
  const page = await pageAs({ email: 'eve@shop.example', custom: { groups: ['marketing'] } });
  assert.equal(await page.locator('#who-role').textContent(), 'editor');
  assert.equal(await page.locator('#save').isDisabled(), true);
  assert.match(await page.locator('#role-note').textContent(), /save your changes as a draft/);
  const text = await editorText(page);
  const phrase = 'Still deciding?';
  const at = text.indexOf(phrase);
  assert.ok(at > 0, 'the example rules have the phrase');
  await replaceRange(page, at, at + phrase.length, 'Drafted in the browser?');
  await page.locator('#save-draft').click();
  await fillDialog(page, '#draft-dialog', { message: 'a friendlier question' });
  await waitText(page, '.rules-status', /Saved as draft \d+/);
  draft = Number((await page.locator('.rules-status').textContent()).match(/draft (\d+)/)[1]);
  assert.equal(await page.locator('#rules-dirty').textContent(), `Draft ${draft}, not live`);
  const [preview] = await Promise.all([
    page.context().waitForEvent('page'),
    page.locator('.rules-status .preview-draft').click(),
  ]);
  await preview.waitForURL(/__edgeseg_preview=/);
  await preview.waitForLoadState('load');
  await preview.locator('[data-edgeseg-preview]').waitFor();
  await screenshot(page, 'access-editor-draft-1280');
  const banner = await preview.locator('[data-edgeseg-preview]').textContent();
  assert.match(banner, new RegExp(`forcing draft ${draft}`));
  await screenshot(preview, 'access-editor-preview-1280');
  // The draft is listed with its author; its Publish button says who may.
  await showTab(page, 'versions');
  const item = page.locator(`#draft-list li[data-draft="${draft}"]`);
  await item.waitFor();
  assert.match(await item.textContent(), /eve@shop.example, editor/);
  const publish = item.locator('.publish-draft');
  assert.equal(await publish.isDisabled(), true);
  assert.match(await publish.getAttribute('title'), /eve@shop.example is an editor and may not publish/);
  assert.deepEqual(page.__errors, []);
});

test('a publisher publishes the draft; the version list shows the verified authors', { skip, timeout: 90_000 }, async () => {
  assert.ok(draft, 'the editor saved a draft');
  const page = await pageAs({ email: 'pat@shop.example' });
  assert.equal(await page.locator('#who-role').textContent(), 'publisher');
  assert.equal(await page.locator('#role-note').count(), 0);
  await showTab(page, 'versions');
  const item = page.locator(`#draft-list li[data-draft="${draft}"]`);
  await item.waitFor();
  await item.locator('.publish-draft').click();
  await fillDialog(page, '#publish-dialog', {});
  await waitText(page, '.versions-status', new RegExp(`Published draft ${draft} as revision \\d+`));
  const first = page.locator('#version-list button.version').first();
  await waitText(page, '#version-list', /pat@shop.example, publisher · drafted by eve@shop.example/);
  assert.match(await first.textContent(), /a friendlier question/);
  assert.match(await first.textContent(), /pat@shop.example, publisher · drafted by eve@shop.example/);
  assert.match(await page.locator('#rules-meta').textContent(), /pat@shop.example, publisher/);
  await screenshot(page, 'access-publisher-versions-1280');
  const narrow = await pageAs({ email: 'pat@shop.example' }, NARROW);
  await showTab(narrow, 'versions');
  await narrow.locator('#version-list button.version').first().waitFor();
  await fits(narrow, NARROW.width);
  await screenshot(narrow, 'access-publisher-versions-390');
  assert.deepEqual(page.__errors, []);
});
