// "Pick on page" (README, "Picking blocks on the page") in headless Chromium against the real
// Worker in workerd. The site is an origin server (ORIGIN_URL) that serves the demo store's
// pages from www/ and, under /product/<slug>, a storefront page that was not written for
// edgeseg (tests/fixtures/pick/, two builds whose generated class names differ).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { join, extname } from 'node:path';
import { startWorker, ROOT, eventually, Visitor, flushCounters, freePort, adminApi } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot as save } from './browser.mjs';
import { signIn, fillDialog, waitText, WIDE, NARROW } from './admin-page-checks.mjs';

const skip = browserMissing() ?? false;
const TOKEN = 'pick-admin-token-0123456789';
const AXE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');
const FIXTURE = join(ROOT, 'tests', 'fixtures', 'pick');
const rules = await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8');
const builds = {
  v1: await readFile(join(FIXTURE, 'commerce-product-v1.html'), 'utf8'),
  v2: await readFile(join(FIXTURE, 'commerce-product-v2.html'), 'utf8'),
};
const PRODUCTS = { 'lightweight-jacket': 'Lightweight Jacket', 'special-edition-t-shirt': 'Special Edition T-Shirt', 'acme-cup': 'ACME Cup', 'quarter-zip': 'Quarter Zip' };
const DEMO_PRODUCTS = ['/products/camp-mug', '/products/daypack-28', '/products/down-jacket', '/products/trail-runner', '/products/new/ember-lantern', '/products/new/summit-shell'];
const DEMO_OTHERS = ['/', '/category/', '/category/packs', '/category/new-arrivals', '/cart'];
let build = 'v1';

/** A full-page screenshot from the top (the sticky header stays where it belongs). */
async function screenshot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0));
  return save(page, name);
}

// A page whose script tries what a hostile third-party script on a framed page would: the
// admin page's storage (the token), its API, its cookies. It writes what happened into its
// own body for the test to read, and also posts a forged pick to the admin page.
const ATTACK = `<!doctype html><html lang="en"><head><title>Attack</title></head><body><h1>Nothing to see</h1><script>
(async function () {
  var out = {};
  function name(e) { return e && (e.name + ': ' + e.message); }
  try { out.parentStorage = String(window.parent.sessionStorage.getItem('edgeseg.admin.token')); } catch (e) { out.parentStorage = name(e); }
  try { out.ownStorage = String(window.sessionStorage.length); } catch (e) { out.ownStorage = name(e); }
  try { out.parentCookie = String(window.parent.document.cookie); } catch (e) { out.parentCookie = name(e); }
  try { out.cookie = String(document.cookie); } catch (e) { out.cookie = name(e); }
  try { var r = await fetch('/__edgeseg/admin/api/rules', { credentials: 'include' }); out.apiRead = 'status ' + r.status + ' ' + (await r.text()).slice(0, 80); } catch (e) { out.apiRead = name(e); }
  try { var w = await fetch('/__edgeseg/admin/api/rules/rollback', { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{"revision":1}' }); out.apiWrite = 'type ' + w.type + ' status ' + w.status; } catch (e) { out.apiWrite = name(e); }
  window.parent.postMessage({ edgesegPick: 1, type: 'pick', path: [{ tag: 'html' }, { tag: 'body' }, { tag: 'h1' }], text: 'Nothing to see', html: '<h1>x</h1>', inner: 'x' }, '*');
  document.body.setAttribute('data-results', JSON.stringify(out));
})();
</script></body></html>`;

let origin;
let worker;
let browser;
const TYPES = { '.html': 'text/html; charset=utf-8', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png', '.js': 'text/javascript' };

async function wwwFile(path) {
  const base = join(ROOT, 'www', decodeURIComponent(path));
  for (const f of [base, `${base}.html`, join(base, 'index.html')]) {
    try { if ((await stat(f)).isFile()) return f; } catch { /* next */ }
  }
  return null;
}

before(async () => {
  const port = await freePort();
  origin = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://origin');
    const product = /^\/product\/([a-z0-9-]+)$/.exec(url.pathname);
    if (product && PRODUCTS[product[1]]) {
      // The storefront sets a session cookie of its own, as real ones do.
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'set-cookie': 'origin_session=abc; Path=/', 'x-frame-options': 'DENY' });
      res.end(builds[build].replaceAll('Lightweight Jacket', PRODUCTS[product[1]]));
      return;
    }
    if (url.pathname === '/attack') { res.writeHead(200, { 'content-type': 'text/html' }); res.end(ATTACK); return; }
    const file = await wwwFile(url.pathname);
    if (!file) { res.writeHead(404, { 'content-type': 'text/html' }); res.end('<h1>Not found</h1>'); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream' });
    res.end(await readFile(file));
  });
  await new Promise((ok) => origin.listen(port, '127.0.0.1', ok));
  worker = await startWorker({ rules, vars: { EDGESEG_ADMIN_TOKEN: TOKEN, ORIGIN_URL: `http://127.0.0.1:${port}` } });
  // A saved revision, so Publish goes over it with If-Match.
  const r = await api('PUT', 'rules', { text: rules, author: 'seed', message: 'seeded' }, { 'if-none-match': '*' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  if (!skip) browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await worker?.stop();
  origin?.close();
});

const api = adminApi(() => worker.url, TOKEN);

/** Today's page views and the number of any counters, after this isolate's counts are published. */
async function pageViews() {
  await flushCounters(worker.url, TOKEN);
  const now = Math.floor(Date.now() / 1000);
  const r = await api('GET', `stats?from=${now - 86400}&to=${now + 3600}`);
  const sum = (k) => (r.body.counters?.[k] || []).reduce((a, b) => a + b, 0);
  return { views: sum('page_views'), all: Object.keys(r.body.counters || {}).reduce((n, k) => n + sum(k), 0) };
}

async function openPick(page, path) {
  if (!(await page.locator('#view-pick').isVisible())) {
    await page.locator('#tab-pick').click();
    await page.locator('#view-pick').waitFor({ state: 'visible' });
  }
  await page.locator('#pick-path').fill(path);
  await page.locator('#pick-open button[type="submit"]').click();
  await waitText(page, '.pick-status', new RegExp(`Opened ${path.replace(/[/.]/g, '\\$&')}`));
  const frame = page.frameLocator('#pick-frame');
  return frame;
}

async function pick(page, frame, locator) {
  await frame.locator(locator).first().click();
  await waitText(page, '.pick-status', /Proposed|No selector/);
  return page.locator('#pick-selector').inputValue();
}

/** Matches of `selector` on each path as the Worker serves it to a new visitor (pick mode), parsed in the admin page. */
async function countOn(page, selector, paths) {
  const g = (await api('POST', 'pick', {})).body;
  return page.evaluate(async ([sel, list, param, token]) => {
    const out = {};
    for (const p of list) {
      const res = await fetch(`${p}?${param}=${encodeURIComponent(token)}`, { credentials: 'omit' });
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      out[p] = [...doc.querySelectorAll(sel)].map((e) => e.textContent.trim());
    }
    return out;
  }, [selector, paths, g.param, g.token]);
}

test('pick mode: a signed grant, the page as a new visitor gets it, sandboxed, nothing stored; the grant is worth nothing else', async () => {
  const g = await api('POST', 'pick', {});
  assert.equal(g.status, 200);
  assert.equal(g.body.param, '__edgeseg_pick');
  assert.ok(g.body.expires > Date.now() / 1000 + 60 && g.body.expires <= Date.now() / 1000 + 601, 'a short-lived grant');
  const before = await pageViews();
  const url = `${worker.url}/product/acme-cup?${g.body.param}=${encodeURIComponent(g.body.token)}`;
  const res = await fetch(url, { headers: { accept: 'text/html', cookie: 'edgeseg=tampered-or-old; origin_session=x' } });
  const html = await res.text();
  assert.equal(res.status, 200);
  assert.deepEqual(res.headers.getSetCookie(), [], 'no visitor cookie, and the origin\'s own Set-Cookie is dropped');
  assert.match(res.headers.get('content-security-policy') || '', /sandbox allow-scripts/);
  assert.equal(res.headers.get('x-frame-options'), null);
  assert.match(res.headers.get('cache-control'), /no-store/);
  assert.match(html, /edgeseg "Pick on page"/, 'the picker is in the page');
  assert.match(html, /<h1 class="ProductView_name__2ksK-">ACME Cup<\/h1>/);
  // The same page without a grant, or with a preview link's token: an ordinary visit.
  const link = await api('POST', 'preview', { segments: ['campaign_visitor'] });
  for (const bad of ['nonsense', link.body.token]) {
    const r = await fetch(`${worker.url}/product/acme-cup?__edgeseg_pick=${encodeURIComponent(bad)}`, { headers: { accept: 'text/html' } });
    await r.text();
    assert.equal(r.headers.get('content-security-policy'), null, 'not pick mode');
    assert.ok(r.headers.getSetCookie().some((c) => c.startsWith('edgeseg=')), 'an ordinary visit writes the visitor cookie');
  }
  // A preview token is not a pick grant, and a pick grant is no preview link either.
  const asPreview = await fetch(`${worker.url}/product/acme-cup?__edgeseg_preview=${encodeURIComponent(g.body.token)}`, { headers: { accept: 'text/html' } });
  await asPreview.text();
  assert.equal(asPreview.headers.get('x-edgeseg-debug'), null, 'a pick grant previews nothing');
  // A pick-mode request of something that is not a page says so, sandboxed.
  const img = await fetch(`${worker.url}/images/logo.svg?__edgeseg_pick=${encodeURIComponent(g.body.token)}`);
  assert.equal(img.status, 422);
  assert.match(await img.text(), /HTML pages only/);
  const afterViews = await pageViews();
  // The two ordinary visits above count; the pick-mode page does not.
  assert.equal(afterViews.views - before.views, 3, 'only the three ordinary page views counted');
});

test('the admin API refuses state-changing requests from another origin (a framed page\'s script: Origin: null)', async () => {
  const flush = (headers) => api('POST', 'counters/flush', {}, headers);
  const fromNull = await flush({ origin: 'null' });
  assert.equal(fromNull.status, 403);
  assert.match(fromNull.body.error, /another origin \(null\)/);
  const crossSite = await flush({ 'sec-fetch-site': 'cross-site' });
  assert.equal(crossSite.status, 403);
  assert.match(crossSite.body.error, /another site/);
  assert.equal((await flush({ origin: 'https://evil.example' })).status, 403);
  assert.equal((await flush({ origin: worker.url, 'sec-fetch-site': 'same-origin' })).status, 200, 'the admin page itself');
  assert.equal((await flush({})).status, 200, 'a tool with the token');
  // Reading stays as it was: a GET changes nothing.
  assert.equal((await api('GET', 'whoami', undefined, { origin: 'null' })).status, 200);
});

test('pick the demo store\'s product title, a selector for every product page, content for a segment, saved, seen by a matching shopper; nothing counted, no cookie', { skip, timeout: 240_000 }, async () => {
  const page = await browser.newPage(WIDE);
  page.on('dialog', (d) => d.accept());
  await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);
  const before = await pageViews();
  const frame = await openPick(page, '/products/camp-mug');
  const sel = await pick(page, frame, 'h1');
  assert.equal(sel, 'div.product-info > h1');
  // Shown on this page and the product pages it links to: one match each.
  const rows = await page.locator('#pick-counts li').allTextContents();
  assert.equal(rows.length, 4, rows.join(' | '));
  for (const r of rows) assert.match(r, /1 match$/, r);
  // Every product page: the title alone; every other page: nothing.
  const counted = await countOn(page, sel, [...DEMO_PRODUCTS, ...DEMO_OTHERS]);
  for (const p of DEMO_PRODUCTS) assert.equal(counted[p].length, 1, `${p}: ${counted[p]}`);
  for (const p of DEMO_OTHERS) assert.deepEqual(counted[p], [], p);
  assert.equal(counted['/products/daypack-28'][0], 'Cascade 28L Daypack');
  // Wider and narrower move along the candidates, with their counts.
  await page.locator('#pick-wider').click();
  assert.equal(await page.locator('#pick-selector').inputValue(), 'h1');
  await page.locator('#pick-narrower').click();
  assert.notEqual(await page.locator('#pick-selector').inputValue(), 'h1');
  // The selector is the marketer's to edit, too.
  await page.locator('#pick-selector').fill(sel);
  // Content for the campaign visitors, shown in place.
  await page.locator('#pick-block-id').fill('product_title');
  await page.locator('#pick-for').selectOption('s:campaign_visitor');
  await page.locator('#pick-action').selectOption('inner_html');
  await page.locator('#pick-content').fill('Picked for {{utm_campaign|you}}');
  await frame.locator('h1', { hasText: 'Picked for spring' }).waitFor();
  await screenshot(page, 'pick-demo-1280');
  await page.locator('#pick-save').click();
  await fillDialog(page, '#save-dialog', { message: 'product title for campaign visitors', author: 'Ann' });
  await waitText(page, '.pick-status', /Saved block product_title as revision \d+/);
  const saved = JSON.parse((await api('GET', 'rules')).body.text);
  assert.deepEqual(saved.blocks.product_title, { selector: 'div.product-info > h1', content: { campaign_visitor: { inner_html: 'Picked for {{utm_campaign|you}}' } } });
  // Picking, editing and saving counted nothing and wrote no visitor cookie.
  const afterViews = await pageViews();
  assert.deepEqual(afterViews, before, 'no page view (or any counter) from picking');
  const cookies = await page.context().cookies();
  assert.deepEqual(cookies.filter((c) => c.name === 'edgeseg' || c.name === 'edgeseg_preview'), [], 'no visitor cookie in the admin\'s browser');
  // A matching shopper sees it on another product page; others keep the title.
  await eventually(async () => (await new Visitor(worker.url).get('/products/daypack-28?utm_campaign=spring')).text.includes('<h1>Picked for spring</h1>'),
    { timeout: 20_000, every: 1_000, what: 'the picked block for a campaign visitor' });
  assert.match((await new Visitor(worker.url).get('/products/daypack-28')).text, /<h1>Cascade 28L Daypack<\/h1>/);
  // The segment's preview link opens the real page with the change, applied by the Worker.
  await page.locator('#pick-preview').click();
  const link = await page.locator('#pick-preview-url').getAttribute('href');
  const shop = await page.context().newPage();
  await shop.goto(link);
  assert.equal(await shop.locator('h1').first().textContent(), 'Picked for you');
  await shop.close();
});

test('the same on a storefront page not written for edgeseg: the selector stays the same when a rebuild changes its generated class names', { skip, timeout: 240_000 }, async () => {
  const page = await browser.newPage(WIDE);
  page.on('dialog', (d) => d.accept());
  await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);
  const paths = Object.keys(PRODUCTS).map((s) => `/product/${s}`);
  const found = {};
  for (const v of ['v1', 'v2']) {
    build = v;
    const frame = await openPick(page, '/product/lightweight-jacket');
    found[v] = await pick(page, frame, 'h1');
    const rows = await page.locator('#pick-counts li').allTextContents();
    assert.equal(rows.length, 4, rows.join(' | '));
    for (const r of rows) assert.match(r, /1 match$/, `${v}: ${r}`);
    const counted = await countOn(page, found[v], [...paths, '/']);
    for (const p of paths) assert.deepEqual(counted[p], [PRODUCTS[p.slice(9)]], `${v} ${p}`);
    assert.deepEqual(counted['/'], []);
    await screenshot(page, `pick-fixture-${v}-1280`);
  }
  assert.equal(found.v1, found.v2, 'the same selector for both builds');
  assert.doesNotMatch(found.v1, /__|css-|sc-/, `no generated name in ${found.v1}`);
  // Content for the campaign visitors, saved, on the new build.
  await page.locator('#pick-block-id').fill('storefront_title');
  await page.locator('#pick-for').selectOption('s:campaign_visitor');
  await page.locator('#pick-action').selectOption('after');
  await page.locator('#pick-content').fill('<p class="picked-note">Campaign price inside</p>');
  await page.frameLocator('#pick-frame').locator('p.picked-note').waitFor();
  await page.locator('#pick-save').click();
  await fillDialog(page, '#save-dialog', { message: 'storefront note', author: 'Ann' });
  await waitText(page, '.pick-status', /Saved block storefront_title as revision \d+/);
  await eventually(async () => {
    const r = await new Visitor(worker.url).get('/product/quarter-zip?utm_campaign=spring');
    return r.text.includes('Quarter Zip</h1><p class="picked-note">Campaign price inside</p>');
  }, { timeout: 20_000, every: 1_000, what: 'the note after the title for a campaign visitor' });
  build = 'v1';
});

test('a script on the framed page can not read the admin page\'s storage, cookies or API, and its messages save nothing', { skip, timeout: 120_000 }, async () => {
  const page = await browser.newPage(WIDE);
  await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);
  // A cookie of the admin's own origin (behind Cloudflare Access it would be the session).
  await page.context().addCookies([{ name: 'admin_session', value: 'secret-session', url: worker.url }]);
  const revision = (await api('GET', 'rules')).body.revision;
  await page.locator('#tab-pick').click();
  await page.locator('#pick-path').fill('/attack');
  await page.locator('#pick-open button[type="submit"]').click();
  let frame;
  await eventually(() => { frame = page.frames().find((f) => f.url().includes('/attack')); return frame; }, { what: 'the framed page' });
  await frame.waitForFunction(() => document.body.hasAttribute('data-results'));
  const out = JSON.parse(await frame.evaluate(() => document.body.getAttribute('data-results')));
  assert.match(out.parentStorage, /^SecurityError: .*cross-origin frame/, `the parent's sessionStorage: ${out.parentStorage}`);
  assert.match(out.ownStorage, /^SecurityError: .*(sandboxed|denied)/i, `its own storage: ${out.ownStorage}`);
  assert.match(out.parentCookie, /^SecurityError: .*cross-origin frame/, `the parent's cookies: ${out.parentCookie}`);
  assert.match(out.cookie, /^SecurityError: .*sandboxed/i, `document.cookie: ${out.cookie}`);
  assert.equal(out.apiRead, 'TypeError: Failed to fetch', `the admin API, read (CORS, an opaque origin): ${out.apiRead}`);
  assert.equal(out.apiWrite, 'type opaque status 0', 'a blind write gets nothing back');
  // Its forged pick message was taken for what it can only be: a proposal, shown and not saved.
  await waitText(page, '.pick-status', /Proposed/);
  // ... and the Worker refused the write as coming from another origin (403 before any
  // sign-in check, which would be a 401 here), so the rules are as they were.
  await eventually(() => /POST \/__edgeseg\/admin\/api\/rules\/rollback 403/.test(worker.logs()), { what: 'the refused write in the Worker\'s log' });
  assert.equal((await api('GET', 'rules')).body.revision, revision);
  const token = await page.evaluate(() => sessionStorage.getItem('edgeseg.admin.token'));
  assert.equal(token, TOKEN, 'the admin page still has its token');
  assert.ok(!(await frame.content()).includes(TOKEN), 'the frame never saw it');
});

test('the Pick tab at 390 and 1280 px: no serious accessibility violations (axe-core), fits the width', { skip, timeout: 180_000 }, async () => {
  for (const [vp, tag] of [[WIDE, '1280'], [NARROW, '390']]) {
    const page = await browser.newPage(vp);
    page.on('dialog', (d) => d.accept());
    await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);
    const frame = await openPick(page, '/products/trail-runner');
    if (tag === '390') {
      // Keyboard only: a typed selector is counted without a pick.
      await page.locator('#pick-selector').focus();
      await page.keyboard.type('div.product-info > h1');
      await eventually(async () => (await page.locator('#pick-counts li').allTextContents()).filter((r) => /1 match$/.test(r)).length === 4, { what: 'counts of a typed selector' });
    }
    await pick(page, frame, 'h1');
    await page.addScriptTag({ path: AXE });
    const violations = await page.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const res = await axe.run({ include: [['body']], exclude: [['.cm-scroller'], ['#pick-frame']] }, { resultTypes: ['violations'] });
      return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
    });
    assert.deepEqual(violations, [], `${tag} px`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= vp.width + 1, `the page is ${width}px wide at ${vp.width}px`);
    await screenshot(page, `pick-${tag}`);
    await page.close();
  }
});
