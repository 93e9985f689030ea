// Engagement and interest in headless Chromium through the real Worker (wrangler dev /
// workerd), with the browser's real timers and short thresholds in the rules below:
//
// - a reader stays on a product page, scrolls it and leaves: the page script's one
//   beacon carries the built-in "engagement" event (engaged seconds, deepest scroll,
//   the page's path), and the next page served carries the engaged-reader content;
// - a page left at once sends exactly one report (counted on the Worker) and makes
//   no engaged reader;
// - a shopper views several pages of one category: the hero names that category
//   (an affinity signal, a text value in a condition and a template);
// - a visitor with Global Privacy Control gets no engagement measurement at all
//   (the Worker does not ask for it) and sends nothing when leaving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker, eventually, flushCounters } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';

const rules = JSON.stringify({
  format: 1,
  version: 'e2e-engagement',
  events: { add_to_cart: { remember: '30d' }, purchase: { remember: '90d' } },
  signals: {
    product_engaged_seconds: { engaged: '/products/*', within: '1h' },
    product_scroll: { scroll: '/products/*', within: '1h' },
    top_interest: {
      affinity: [{ path: '/category/{name}' }, { event: 'add_to_cart', property: 'category', weight: 3 }],
      half_life: '1d',
    },
    interest_share: { share: 'top_interest' },
    category_views: { count: 'page_view', path: '/category/*', within: '1h' },
  },
  segments: [
    {
      id: 'engaged_reader',
      priority: 50,
      condition: { product_engaged_seconds: { $gte: 2 }, product_scroll: { $gte: 50 } },
    },
    {
      id: 'interest_shopper',
      priority: 40,
      condition: { top_interest: { $exists: true }, interest_share: { $gte: 0.5 }, category_views: { $gte: 3 } },
    },
  ],
  blocks: {
    hero: {
      content: {
        engaged_reader: { inner_html: '<h1 data-variant="engaged_reader">Still reading up? Our field guide is here</h1>' },
        interest_shopper: { inner_html: '<h1 data-variant="interest_shopper">More {{top_interest|gear}} for your next trip</h1>' },
      },
    },
  },
});

const skip = browserMissing() ?? false;
const SMALL = { width: 390, height: 500 }; // a product page is several screens tall here
const TOKEN = 'e2e-admin-token-engagement';
let worker;
let browser;

async function stats(base) {
  const r = await fetch(`${base}/__edgeseg/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  return r.json();
}
const total = (s, name) => (s.counters[name] || []).reduce((a, b) => a + b, 0);

before(async () => {
  if (skip) return;
  worker = await startWorker({ rules, vars: { EDGESEG_ADMIN_TOKEN: TOKEN } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

const isEvent = (r) => r.method() === 'POST' && new URL(r.url()).pathname === '/__edgeseg/event';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const heroText = (page) => page.textContent('[data-edgeseg-block="hero"] h1');

test('a reader who stays on a product page and scrolls gets the engaged-reader content on the next page', { skip, timeout: 90_000 }, async () => {
  const page = await browser.newPage(SMALL);
  const base = worker.url;

  await page.goto(`${base}/products/trail-runner`);
  await page.waitForFunction(() => window.edgeseg && typeof window.edgeseg.track === 'function');
  assert.equal(await page.evaluate(() => window.edgeseg.engagement), 1, 'the Worker asked this tracked visitor\'s page to measure engagement');
  assert.equal(await page.locator('[data-variant="engaged_reader"]').count(), 0, 'not an engaged reader yet');

  // Read for about three seconds, scrolling down as one does (real wheel events).
  for (let i = 0; i < 6; i++) {
    await page.mouse.move(100 + i * 10, 200);
    await page.mouse.wheel(0, 400);
    await sleep(500);
  }
  const seen = await page.evaluate(() => (scrollY + innerHeight) / document.documentElement.scrollHeight);
  assert.ok(seen > 0.5, `scrolled past half the page: ${seen}`);

  // Leave for the home page. The product page's beacon goes out as it unloads, so
  // after the home page (which the browser requested before unloading the product
  // page), the next page carries the engaged-reader content. (Playwright does not
  // report a keepalive request from a document that is gone, so the beacon is seen
  // here by its effect; the test below counts the beacons on the Worker.)
  await page.goto(`${base}/`);
  const hero = await eventually(async () => {
    await page.goto(`${base}/category/`);
    const text = await heroText(page);
    return /Still reading up\? Our field guide is here/.test(text) && text;
  }, { timeout: 10_000, every: 300, what: 'the engaged-reader hero after leaving the product page' });
  assert.match(hero, /Our field guide is here/);
  await screenshot(page, 'engaged-reader-390');
  assert.deepEqual(page.__errors ?? [], []);
});

test('a page left without reading sends its one report but makes no engaged reader', { skip, timeout: 60_000 }, async () => {
  const page = await browser.newPage(SMALL);
  const base = worker.url;
  await flushCounters(base, TOKEN);
  const before = total(await stats(base), 'events:engagement');
  await page.goto(`${base}/products/daypack-28`);
  await page.waitForFunction(() => window.edgeseg && window.edgeseg.engagement === 1);
  // Leave to a page without the script: pagehide and the hidden visibilitychange both
  // fire, and exactly one report goes out.
  await page.goto('about:blank');
  await eventually(async () => {
    await flushCounters(base, TOKEN);
    return total(await stats(base), 'events:engagement') > before;
  }, { timeout: 10_000, every: 300, what: 'the engagement report on the Worker' });
  await sleep(1_000);
  await flushCounters(base, TOKEN);
  assert.equal(total(await stats(base), 'events:engagement') - before, 1, 'one report for one page');
  // A second or so of a page that was not scrolled is not an engaged reader.
  await page.goto(`${base}/category/`);
  assert.doesNotMatch(await heroText(page), /Still reading up/);
});

test('a shopper who views several pages of one category sees a hero naming it', { skip, timeout: 90_000 }, async () => {
  const page = await browser.newPage({ width: 1280, height: 800 });
  const base = worker.url;
  for (const path of ['/category/packs', '/category/clothing', '/category/clothing']) {
    await page.goto(`${base}${path}`);
  }
  // Three category views: clothing leads 2 to 1 (two thirds of the interest).
  await page.goto(`${base}/category/clothing`);
  assert.match(await heroText(page), /More clothing for your next trip/);
  await page.goto(`${base}/`);
  assert.equal(await page.textContent('[data-variant="interest_shopper"]'), 'More clothing for your next trip');
  await screenshot(page, 'interest-hero-1280');

  // Adding packs to the cart weighs 3: the interest moves to packs.
  await page.goto(`${base}/products/daypack-28`);
  const added = page.context().waitForEvent('requestfinished', { predicate: (r) => isEvent(r) && (r.postData() ?? '').includes('add_to_cart'), timeout: 15_000 });
  await Promise.all([page.waitForURL(/\/cart\?sku=NW-DP-028$/), page.click('button[data-edgeseg-track="add_to_cart"]')]);
  const addBody = JSON.parse((await added).postData());
  assert.deepEqual(addBody.events.map((e) => [e.name, e.props]), [['add_to_cart', { sku: 'NW-DP-028', category: 'packs' }]]);
  await page.goto(`${base}/`);
  assert.equal(await page.textContent('[data-variant="interest_shopper"]'), 'More packs for your next trip');
  assert.deepEqual(page.__errors ?? [], []);
});

test('a visitor with Global Privacy Control is not measured and sends nothing when leaving', { skip, timeout: 60_000 }, async () => {
  const context = await browser.browser.newContext({ viewport: SMALL, extraHTTPHeaders: { 'Sec-GPC': '1' } });
  try {
    const page = await context.newPage();
    const events = [];
    context.on('request', (r) => { if (isEvent(r)) events.push(r); });
    await page.goto(`${worker.url}/products/trail-runner`);
    await page.waitForFunction(() => window.edgeseg && typeof window.edgeseg.track === 'function');
    assert.equal(await page.evaluate(() => window.edgeseg.engagement), undefined);
    await page.mouse.wheel(0, 800);
    await sleep(1_500);
    await page.goto(`${worker.url}/`);
    await page.goto(`${worker.url}/category/`);
    assert.equal(events.length, 0, `untracked visitor sent: ${events.map((r) => r.postData()).join(' ')}`);
    assert.deepEqual(await context.cookies(), [], 'no state cookie for an untracked visitor');
  } finally {
    await context.close();
  }
});
