// The demo store's checkout with examples/rules.json (what `make dev`
// serves), in headless Chromium through the real Worker: the order page asks
// the example shop backend (examples/shop-backend.mjs, started here on a
// free port; the page's requests to its usual address :8790 are routed to
// it) to place the order, the backend sends the signed purchase, and after
// two $129 orders the shopper's next page is a big spender's, with free
// express shipping. The page itself sends no purchase. Screenshots go to
// test-output/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, freePort, ROOT } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';
import { startShopBackend } from '../../examples/shop-backend.mjs';

const SECRET = 'e2e-browser-server-events-secret';
const rules = await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8');
const skip = browserMissing() ?? false;
const GOLD_HERO = '[data-edgeseg-block="hero"] [data-variant="big_spender"]';

let worker;
let backend;
let backendUrl;
let browser;

before(async () => {
  if (skip) return;
  worker = await startWorker({ rules, vars: { EDGESEG_SERVER_EVENTS_SECRET: SECRET } });
  const port = await freePort();
  backend = await startShopBackend({ workerUrl: worker.url, secret: SECRET, port });
  backendUrl = `http://127.0.0.1:${port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (backend ? backend.close(ok) : ok()));
  await worker?.stop();
});

/** The order page: the backend's answer (what the page was told). */
async function checkout(page) {
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/checkout') && r.request().method() === 'POST'),
    page.goto(`${worker.url}/checkout/complete`),
  ]);
  const body = await answer.json();
  await page.waitForSelector('#demo-order:not([hidden])');
  return { body, note: await page.textContent('#demo-order') };
}

test('demo checkout through the example backend: two orders make a big spender on the next page', { skip, timeout: 120_000 }, async () => {
  for (const width of [1280, 390]) {
    const page = await browser.newPage({ width, height: 844 });
    await page.route('http://127.0.0.1:8790/**', (route) => {
      const url = new URL(route.request().url());
      return route.continue({ url: backendUrl + url.pathname });
    });
    const pageEvents = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/__edgeseg/event') pageEvents.push(r.postData());
    });

    await page.goto(`${worker.url}/`);
    const id = await page.evaluate(() => window.edgeseg && window.edgeseg.visitorId);
    assert.match(id ?? '', /^[0-9a-f]{32}$/, 'the page exposes edgeseg.visitorId');
    assert.equal(await page.locator(GOLD_HERO).count(), 0);

    const first = await checkout(page);
    assert.equal(first.body.edgeseg.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.order.value, 129);
    assert.match(first.note, /placed order NW-\d+ \(\$129\.00\) and sent the signed purchase/);
    assert.equal(await page.textContent('#order-number'), first.body.order.id, 'the page shows the order the backend placed');
    await screenshot(page, `checkout-complete-${width}`);
    await page.goto(`${worker.url}/`);
    assert.equal(await page.locator(GOLD_HERO).count(), 0, 'one $129 order is not 200');

    const second = await checkout(page);
    assert.equal(second.body.edgeseg.status, 202);
    assert.notEqual(second.body.order.id, first.body.order.id);
    await page.goto(`${worker.url}/`);
    await page.waitForSelector(GOLD_HERO);
    assert.match(await page.textContent('[data-edgeseg-block="hero"]'), /free express shipping/);
    const segments = await page.evaluate(() => window.edgeseg.segments);
    assert.ok(segments.includes('big_spender'), `segments: ${JSON.stringify(segments)}`);
    await screenshot(page, `home-big-spender-${width}`);

    assert.ok(!pageEvents.some((b) => /"purchase"/.test(b ?? '')), `the page sent no purchase: ${pageEvents}`);
    // A purchase forged from this very page is refused.
    const forged = await page.evaluate(async () => {
      const r = await fetch('/__edgeseg/event', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"purchase","props":{"value":1e300}}' });
      return r.status;
    });
    assert.equal(forged, 403);
    assert.deepEqual(page.__errors ?? [], [], 'no script errors on the pages');
  }
});

test('without the backend the order page says how to start it', { skip, timeout: 60_000 }, async () => {
  const page = await browser.newPage({ width: 1280, height: 800 });
  await page.route('http://127.0.0.1:8790/**', (route) => route.abort('connectionrefused'));
  await page.goto(`${worker.url}/`);
  await page.goto(`${worker.url}/checkout/complete`);
  await page.waitForSelector('#demo-order:not([hidden])');
  assert.match(await page.textContent('#demo-order'), /start the example shop backend \(node examples\/shop-backend\.mjs\)/);
  await screenshot(page, 'checkout-complete-no-backend-1280');
});
