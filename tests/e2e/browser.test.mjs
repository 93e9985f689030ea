// A shopper's journey in headless Chromium through the real Worker (wrangler dev /
// workerd) with examples/test-rules.json: browse, add to cart (the event must
// survive the form's navigation), leave, come back to the cart-abandoner hero,
// buy, and the hero is gone. Screenshots go to test-output/screenshots/.
//
// The Worker serves http://127.0.0.1:PORT and sets `Secure` state cookies; Chromium
// stores them there because 127.0.0.1 is a potentially trustworthy origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, freePort, ROOT } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';
import { startShopBackend } from '../../examples/shop-backend.mjs';

const SERVER_SECRET = 'e2e-browser-server-events-secret';

const rules = await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8');
const skip = browserMissing() ?? false;
const DEFAULT_HERO = 'Gear up for the long way round';
const CART_HERO = '[data-edgeseg-block="hero"] [data-variant="cart_abandoner"]';
const WIDE = { width: 1280, height: 800 };
const NARROW = { width: 390, height: 844 };

let worker;
let browser;
let backend;
let backendUrl;

before(async () => {
  if (skip) return;
  worker = await startWorker({ rules, vars: { EDGESEG_SERVER_EVENTS_SECRET: SERVER_SECRET } });
  // The demo's checkout backend (the order page calls it at :8790; routed here).
  const port = await freePort();
  backend = await startShopBackend({ workerUrl: worker.url, secret: SERVER_SECRET, port });
  backendUrl = `http://127.0.0.1:${port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (backend ? backend.close(ok) : ok()));
  await worker?.stop();
});

const isEvent = (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/__edgeseg/event';

/** Screenshots the current page at both widths (resizing only: no reload, no extra page view). */
async function shots(page, name) {
  await page.setViewportSize(WIDE);
  await screenshot(page, `${name}-1280`);
  await page.setViewportSize(NARROW);
  await screenshot(page, `${name}-390`);
  await page.setViewportSize(WIDE);
}

test('cart abandoner journey: add to cart, leave, come back to the cart hero; buy, and it is gone', { skip, timeout: 120_000 }, async () => {
  const page = await browser.newPage(WIDE);
  const base = worker.url;

  await page.goto(`${base}/`);
  await page.waitForFunction(() => window.edgeseg && typeof window.edgeseg.track === 'function');
  assert.match(await page.textContent('[data-edgeseg-block="hero"] h1'), new RegExp(DEFAULT_HERO));
  assert.equal(await page.locator('[data-variant]').count(), 0, 'a first visit sees default content');
  await shots(page, 'home-before');

  const cookies = await page.context().cookies();
  const state = cookies.find((c) => c.name === 'edgeseg');
  assert.ok(state, `Chromium stored the state cookie on ${base}: ${JSON.stringify(cookies)}`);
  assert.equal(state.secure, true);
  assert.equal(state.httpOnly, true);

  // Two product pages; "Add to cart" on the second submits a GET form to /cart.
  await page.goto(`${base}/products/daypack-28`);
  await page.goto(`${base}/products/trail-runner`);
  await page.waitForFunction(() => window.edgeseg && typeof window.edgeseg.track === 'function');
  const [event] = await Promise.all([
    page.waitForResponse(isEvent),
    page.waitForURL(/\/cart\?sku=NW-TR-001$/),
    page.click('button[data-edgeseg-track="add_to_cart"]'),
  ]);
  await event.finished();
  assert.equal(event.status(), 204, `event reply: ${event.status()} ${await event.text().catch(() => '')}`);
  assert.deepEqual(JSON.parse(event.request().postData()), {
    events: [{ name: 'add_to_cart', props: { sku: 'NW-TR-001', category: 'footwear' }, path: '/products/trail-runner' }],
  });
  await page.waitForLoadState('domcontentloaded');

  // Leave the cart, let more than 2 s pass, come back home.
  await page.goto(`${base}/category/`);
  await page.waitForTimeout(2500);
  await page.goto(`${base}/`);
  await page.waitForSelector(CART_HERO);
  assert.match(await page.textContent(CART_HERO), /You left something at base camp/);
  const segments = await page.evaluate(() => window.edgeseg.segments);
  assert.ok(Array.isArray(segments) && segments.includes('cart_abandoner'), `segments: ${JSON.stringify(segments)}`);
  await shots(page, 'home-cart-abandoner');

  // Checkout: the order page asks the shop backend to place the order, and
  // the backend sends the signed "purchase" (README, "Events from the site's server").
  await page.route('http://127.0.0.1:8790/**', (route) => route.continue({ url: backendUrl + new URL(route.request().url()).pathname }));
  const [order] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/checkout') && r.request().method() === 'POST'),
    page.goto(`${base}/checkout/complete`),
  ]);
  const placed = await order.json();
  assert.equal(placed.edgeseg.status, 202, `purchase: ${JSON.stringify(placed)}`);

  await page.goto(`${base}/`);
  assert.equal(await page.locator(CART_HERO).count(), 0, 'no cart-abandoner hero after the purchase');
  assert.equal(await page.locator('[data-variant="cart_abandoner"]').count(), 0, 'no cart-abandoner content anywhere');
  const after = await page.evaluate(() => window.edgeseg.segments);
  assert.ok(!after.includes('cart_abandoner'), `segments after purchase: ${JSON.stringify(after)}`);
  await shots(page, 'home-after-purchase');

  assert.deepEqual(page.__errors ?? [], [], 'no script errors on the pages');
});
