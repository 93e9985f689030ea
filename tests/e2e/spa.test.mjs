// Single-page apps in headless Chromium against the real Worker (wrangler dev /
// workerd), on the demo store's client-routed shop (www/shop/, plain JS, the
// page script's data-edgeseg-follow): client-side navigations record page
// views (the segment and the hero change after three product views, with no
// reload), blocks swap, a block the route renders late gets its content,
// back and forward decide again, impressions and exposures are counted
// exactly once (the counters after a flush; a block seen on the server page
// and then client-side exposes once), engagement is reported per route, a
// GPC visitor gets stateless decisions and nothing is recorded, and the
// applied-blocks report refuses what the browser could forge with a 4xx.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker, Visitor, eventually, flushCounters } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';

const TOKEN = 'e2e-admin-token-spa';
const RULES = JSON.stringify({
  format: 1,
  version: 'e2e-spa',
  events: { add_to_cart: { remember: '30d' } },
  signals: {
    product_views: { count: 'page_view', path: '/products/*', within: '10m' },
    product_engaged: { engaged: '/products/*', within: '1h' },
  },
  segments: [
    { id: 'campaign', priority: 30, condition: { utm_campaign: { $exists: true } } },
    { id: 'product_browser', priority: 20, condition: { product_views: { $gte: 3 } } },
    { id: 'shopper', priority: 0, condition: {} },
  ],
  blocks: {
    hero: {
      content: {
        campaign: { inner_html: '<h1 data-variant="campaign">{{utm_campaign|Our}} offer is here</h1>' },
        product_browser: { inner_html: '<h1 data-variant="product_browser">Still deciding? Compare your picks</h1>' },
      },
    },
    cta: { content: { product_browser: { inner_html: '<p data-variant="product_browser">A guide will help you choose</p>' } } },
    offer: { content: {} },
  },
  experiments: {
    offer_test: {
      segment: 'shopper',
      status: 'running',
      variants: [
        { id: 'control', weight: 0 },
        { id: 'bold', weight: 1, content: { offer: { inner_html: '<p data-variant="bold">Free express shipping today</p>', set_attributes: { 'data-offer': 'bold' } } } },
      ],
    },
  },
});

const skip = browserMissing() ?? false;
let worker;
let browser;

before(async () => {
  if (skip) return;
  worker = await startWorker({ rules: RULES, vars: { EDGESEG_ADMIN_TOKEN: TOKEN } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await worker?.stop();
});

async function counters() {
  await flushCounters(worker.url, TOKEN);
  const r = await fetch(`${worker.url}/__edgeseg/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  const s = await r.json();
  const out = {};
  for (const [k, v] of Object.entries(s.counters)) out[k] = v.reduce((a, b) => a + b, 0);
  return out;
}
function delta(before, after) {
  const out = {};
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const d = (after[k] || 0) - (before[k] || 0);
    if (d) out[k] = d;
  }
  return out;
}

/** A page of the client-routed shop with a log of what it sent and loaded. */
async function shop(viewport, headers) {
  const page = await browser.newPage(viewport);
  if (headers) await page.context().setExtraHTTPHeaders(headers);
  const log = { documents: 0, decides: [], reports: [], events: [] };
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (r.resourceType() === 'document') log.documents += 1;
    if (u.pathname === '/__edgeseg/decide') log.decides.push(u.searchParams.get('path'));
    if (u.pathname === '/__edgeseg/applied') log.reports.push(JSON.parse(r.postData()));
    if (u.pathname === '/__edgeseg/event') log.events.push(...JSON.parse(r.postData()).events);
  });
  await page.goto(`${worker.url}/shop/`);
  await page.waitForFunction(() => window.edgeseg && typeof edgeseg.decide === 'function');
  await page.evaluate(() => { window.__sameDocument = true; });
  return { page, log };
}

const hero = (page) => page.textContent('[data-edgeseg-block="hero"] h1');
/** Clicks a route link and waits for the decision of the new route to be applied. */
async function go(page, selector) {
  const decided = page.evaluate(() => new Promise((ok) => { const off = edgeseg.on('decision', (d) => { off(); ok(d.path); }); }));
  await page.click(selector);
  return decided;
}
const toProduct = (page, slug) => go(page, `.grid a[href="/products/${slug}"]`);
const toShop = (page) => go(page, '.crumbs a[href="/shop/"]');

test('client-side navigation: page views, the segment after three products, late blocks, back and forward, no reload', { skip }, async () => {
  const { page, log } = await shop({ width: 1280, height: 900 });
  assert.equal(await hero(page), 'Everything for the trail, one tap away', 'a fresh visitor sees the default hero');
  assert.deepEqual(log.decides, [], 'the first page is the server\'s: nothing is decided for it');
  for (const slug of ['trail-runner', 'daypack-28', 'down-jacket']) {
    assert.equal(await toProduct(page, slug), `/products/${slug}`);
    await page.waitForSelector('[data-edgeseg-block="cta"]'); // rendered late by the app
    if (slug !== 'down-jacket') await toShop(page);
  }
  // The third product view made the visitor a product browser: the late cta got its content.
  await page.waitForSelector('[data-edgeseg-block="cta"] [data-variant="product_browser"]', { timeout: 5000 });
  assert.deepEqual(await page.evaluate(() => edgeseg.segments), ['product_browser', 'shopper']);
  await toShop(page);
  assert.equal(await hero(page), 'Still deciding? Compare your picks', 'the hero changed without a reload');
  await screenshot(page, 'spa-shop-after-three-products-1280');
  // Back to the product, forward to the shop: each is a navigation of its own, decided again.
  const back = page.evaluate(() => new Promise((ok) => { const off = edgeseg.on('decision', (d) => { off(); ok(d.path); }); }));
  await page.goBack();
  assert.equal(await back, '/products/down-jacket');
  assert.equal(new URL(page.url()).pathname, '/products/down-jacket');
  await page.waitForSelector('[data-edgeseg-block="cta"] [data-variant="product_browser"]');
  const forward = page.evaluate(() => new Promise((ok) => { const off = edgeseg.on('decision', (d) => { off(); ok(d.path); }); }));
  await page.goForward();
  assert.equal(await forward, '/shop/');
  assert.equal(await hero(page), 'Still deciding? Compare your picks');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'one document all along');
  assert.equal(log.documents, 1, 'no page was loaded after the first');
  assert.deepEqual(log.decides, ['/products/trail-runner', '/shop/', '/products/daypack-28', '/shop/', '/products/down-jacket', '/shop/', '/products/down-jacket', '/shop/']);
  assert.deepEqual(page.__errors ?? [], []);
});

test('impressions and exposures are counted exactly once, as for server-rewritten pages', { skip }, async () => {
  const start = await counters();
  const { page, log } = await shop({ width: 390, height: 800 });
  // The server rewrote the offer (the experiment's bold variant) and counted the exposure.
  assert.equal(await page.getAttribute('[data-edgeseg-block="offer"]', 'data-offer'), 'bold');
  const routes = ['trail-runner', 'daypack-28', 'down-jacket'];
  for (const slug of routes) {
    await toProduct(page, slug);
    await page.waitForSelector('[data-edgeseg-block="cta"]');
    await toShop(page);
  }
  assert.equal(await page.evaluate(() => edgeseg.variant('offer_test')), 'bold');
  assert.equal(await page.getAttribute('[data-edgeseg-block="offer"]', 'data-offer'), 'bold', 'the re-rendered offer got the variant again');
  await page.evaluate(() => edgeseg.flush());
  await eventually(() => log.reports.length >= 6, { what: 'a report per decision' });
  // A replayed report (same token, same blocks) counts nothing.
  const replay = await page.evaluate(async (body) => {
    const r = await fetch('/__edgeseg/applied', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: await r.text() };
  }, log.reports.at(-1));
  assert.equal(replay.status, 200, replay.body);
  assert.deepEqual(JSON.parse(replay.body).counted, [], 'each block of a decision counts once');
  const d = delta(start, await counters());
  assert.equal(d.page_views, 1 + 2 * routes.length, JSON.stringify(d));
  assert.equal(d['exp:offer_test:bold:exposures'], 1, `seen on the server page and on six routes, exposed once: ${JSON.stringify(d)}`);
  // Segment content showed once each: the third product's late cta, then the last hero.
  assert.equal(d['impressions:cta:product_browser'], 1, JSON.stringify(d));
  assert.equal(d['impressions:hero:product_browser'], 1, JSON.stringify(d));
  assert.equal(d['entries:product_browser'], 1, JSON.stringify(d));
  await screenshot(page, 'spa-shop-counted-390');
});

test('quick navigations and events in between lose nothing: each request carries the cookie the last one set', { skip }, async () => {
  const { page } = await shop({ width: 1280, height: 800 });
  // Three navigations faster than a round trip, and an event in the middle: were
  // their requests to overlap, one reply's cookie would overwrite another's page view.
  const segments = await page.evaluate(async () => {
    edgeseg.decide('/products/trail-runner');
    edgeseg.track('add_to_cart', { sku: 'NW-TR-001' });
    edgeseg.decide('/products/daypack-28');
    const last = await edgeseg.decide('/products/down-jacket');
    await edgeseg.flush();
    return last.segments;
  });
  assert.deepEqual(segments, ['product_browser', 'shopper'], 'all three product views are in the state');
});

test('engagement is reported per route, for the route left', { skip }, async () => {
  const { page, log } = await shop({ width: 1280, height: 600 });
  await toProduct(page, 'camp-mug');
  await page.waitForSelector('[data-edgeseg-block="cta"]');
  for (let i = 0; i < 6; i++) { await page.mouse.move(100 + i * 10, 200); await page.mouse.wheel(0, 200); await new Promise((r) => setTimeout(r, 400)); }
  await toShop(page);
  await page.evaluate(() => edgeseg.flush());
  const reports = await eventually(() => { const e = log.events.filter((x) => x.name === 'engagement'); return e.length >= 2 && e; }, { what: 'engagement reports' });
  assert.deepEqual(reports.map((e) => e.path), ['/shop/', '/products/camp-mug'], 'one report per route left, with its path');
  assert.ok(reports[1].props.seconds >= 1, JSON.stringify(reports[1]));
});

test('a GPC visitor gets decisions that need no stored state, and nothing is recorded', { skip }, async () => {
  const start = await counters();
  const { page, log } = await shop({ width: 390, height: 800 }, { 'sec-gpc': '1' });
  for (const slug of ['trail-runner', 'daypack-28', 'down-jacket']) {
    await toProduct(page, slug);
    await toShop(page);
  }
  assert.equal(await hero(page), 'Everything for the trail, one tap away', 'no history, no product browser');
  const d = await page.evaluate(() => edgeseg.decide('/shop/?utm_campaign=Spring'));
  assert.equal(d.tracked, false);
  assert.equal(d.token, null);
  assert.equal(await hero(page), 'Spring offer is here', 'the campaign needs no stored state');
  assert.equal(await page.evaluate(() => edgeseg.variant('offer_test')), null, 'nobody untracked enters an experiment');
  assert.deepEqual(await page.context().cookies(), [], 'no cookie');
  assert.deepEqual(log.reports, [], 'no report');
  assert.deepEqual(delta(start, await counters()), {}, 'nothing counted');
});

test('the applied-blocks report: bad input is a clear 4xx, never a 5xx', { skip }, async () => {
  const v = new Visitor(worker.url);
  const dec = JSON.parse((await v.get('/__edgeseg/decide?path=/shop/', { headers: { accept: 'application/json' } })).text);
  assert.ok(dec.token, 'a tracked visitor\'s decision with content carries a token');
  const post = async (body, headers = {}) => {
    const r = await fetch(`${worker.url}/__edgeseg/applied`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: v.cookieHeader(), ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: r.status, text: await r.text() };
  };
  const [payload, tag] = dec.token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url'));
  claims.c.push(['hero', 'product_browser']);
  const forged = `${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${tag}`;
  for (const [what, body, status, message] of [
    ['not JSON', 'nope', 400, /expected \{"token"/],
    ['no token', { blocks: ['offer'] }, 400, /token/],
    ['a token that is not ours', { token: 'abc', blocks: ['offer'] }, 400, /^token: not a decision token/],
    ['a forged token', { token: forged, blocks: ['hero'] }, 400, /^token: the signature does not verify/],
    ['too many blocks', { token: dec.token, blocks: Array.from({ length: 65 }, (_, i) => `b${i}`) }, 400, /^blocks: at most 64/],
    ['an enormous body', { token: dec.token, blocks: ['x'.repeat(9000)] }, 400, /larger than 8192 bytes/],
  ]) {
    const r = await post(body);
    assert.equal(r.status, status, `${what}: ${r.text}`);
    assert.match(JSON.parse(r.text).error, message, what);
  }
  const other = await post({ token: dec.token, blocks: ['offer'] }, { cookie: '' });
  assert.equal(other.status, 403, `no cookie is a fresh visitor, not the decision's: ${other.text}`);
  const tampered = await post({ token: dec.token, blocks: ['offer'] }, { cookie: 'edgeseg=AAAA.tampered' });
  assert.equal(tampered.status, 403, tampered.text);
  const gpc = await post({ token: dec.token, blocks: ['offer'] }, { 'sec-gpc': '1' });
  assert.equal(gpc.status, 204, 'an untracked visitor\'s report is accepted and counts nothing');
  const ok = await post({ token: dec.token, blocks: ['offer', 'footer'] });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(JSON.parse(ok.text), { counted: ['offer'], exposures: 1 }, 'a block the decision did not name is ignored');
  const again = await post({ token: dec.token, blocks: ['offer'] });
  assert.deepEqual(JSON.parse(again.text), { counted: [], exposures: 0 });
  const get = await fetch(`${worker.url}/__edgeseg/applied`);
  assert.equal(get.status, 404);
});
