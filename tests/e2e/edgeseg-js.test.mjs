// The front-end event script (www/__edgeseg/edgeseg.js) in headless Chromium,
// against a small local HTTP server that stands in for the Worker's endpoint:
// it serves test pages and the script, records every POST /__edgeseg/event, and
// answers 204 with a Set-Cookie, or 400 {"error": ...} for the event name "bad".
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, eventually } from './harness.mjs';
import { launchBrowser, browserMissing } from './browser.mjs';

const SCRIPT = join(ROOT, 'www', '__edgeseg', 'edgeseg.js');
const skip = browserMissing() ?? false;

const page = (head, body, bodyAttrs = '') => `<!doctype html><html><head><meta charset="utf-8"><title>t</title>${head}</head>
<body${bodyAttrs}>${body}<script src="/__edgeseg/edgeseg.js" defer></script></body></html>`;
const injected = '<script>window.edgeseg = {"segments":["cart_abandoner","returning_visitor"]};</script>';

const PAGES = {
  '/t/basic': page(injected, '<p>basic</p>'),
  '/t/bare': page('', '<p>no injected object</p>'),
  // The Worker's head script for a visitor in an experiment (classify::page_script's bytes).
  '/t/variant': page('<script>window.edgeseg=Object.assign(window.edgeseg||{},{segments:["campaign"],variants:{"hero_copy":"bold"}});</script>', '<p>variant</p>'),
  '/t/twice': page(injected, '<p>twice</p><script src="/__edgeseg/edgeseg.js"></script>', ' data-edgeseg-event="purchase"'),
  '/t/product': page(injected, `
    <form class="buy" action="/t/cart" method="get">
      <input type="hidden" name="sku" value="NW-TR-001">
      <button id="add" type="submit" data-edgeseg-track="add_to_cart" data-sku="NW-TR-001" data-edgeseg-block="x"><span id="inner">Add to cart</span></button>
    </form>
    <a id="link" href="/t/cart?from=link" data-edgeseg-track="request_demo" data-plan="b2b">Ask for a demo</a>
    <a id="blank" href="/t/cart?from=blank" target="_blank" data-edgeseg-track="request_demo">New tab</a>
    <button id="spa" data-edgeseg-track="add_to_cart" data-sku="SPA-1">AJAX add</button>
    <form id="ajaxform" action="/t/cart" method="get"><button id="ajaxsubmit" data-edgeseg-track="add_to_cart" data-sku="AJAX-2">Add (ajax)</button></form>
    <script>document.getElementById('ajaxform').addEventListener('submit', function (e) { e.preventDefault(); window.ajaxSubmitted = (window.ajaxSubmitted || 0) + 1; });</script>`),
  '/t/purchase': page(injected, '<p>thanks</p>', ' data-edgeseg-event="purchase" data-edgeseg-prop-order="A123" data-other="x"'),
  '/t/cart': page(injected, '<p id="cart">cart</p>'),
};

let server;
let base;
let browser;
let events = []; // {at, events, contentType, cookie}
let requests = []; // {at, url, cookie}
let eventDelayMs = 0;
let cookieSerial = 0;

function readBody(req) {
  return new Promise((ok, fail) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => ok(Buffer.concat(chunks).toString('utf8')));
    req.on('error', fail);
  });
}

before(async () => {
  if (skip) return;
  server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    try {
      if (req.method === 'POST' && url.pathname === '/__edgeseg/event') {
        const text = await readBody(req);
        let parsed;
        try { parsed = JSON.parse(text); } catch { parsed = null; }
        const list = parsed && Array.isArray(parsed.events) ? parsed.events : parsed ? [parsed] : [];
        events.push({ at: Date.now(), events: list, contentType: req.headers['content-type'], cookie: req.headers.cookie || '', bytes: Buffer.byteLength(text) });
        if (eventDelayMs) await new Promise((r) => setTimeout(r, eventDelayMs));
        const bad = list.find((e) => e.name === 'bad');
        if (!parsed || bad) {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: `unknown event "${bad ? bad.name : '?'}"` }));
          return;
        }
        cookieSerial += 1;
        res.writeHead(204, { 'set-cookie': `st=ev${cookieSerial}-${list.map((e) => e.name).join('.')}; Path=/; HttpOnly; SameSite=Lax` });
        res.end();
        return;
      }
      if (req.method === 'GET' && url.pathname === '/__edgeseg/edgeseg.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
        res.end(await readFile(SCRIPT));
        return;
      }
      if (req.method === 'GET' && PAGES[url.pathname]) {
        requests.push({ at: Date.now(), url: req.url, cookie: req.headers.cookie || '' });
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(PAGES[url.pathname]);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    } catch (err) {
      res.writeHead(500);
      res.end(String(err));
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server) {
    server.closeAllConnections?.();
    await new Promise((ok) => server.close(ok));
  }
});

beforeEach(() => { events = []; requests = []; eventDelayMs = 0; });

const allEvents = () => events.flatMap((b) => b.events);

async function open(path) {
  const p = await browser.newPage({ width: 1000, height: 700 });
  const warnings = [];
  p.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
  await p.goto(base + path);
  await p.waitForFunction(() => window.edgeseg && typeof window.edgeseg.track === 'function');
  return { p, warnings };
}

test('segments injected by the Worker are kept; API present; default [] without injection', { skip }, async () => {
  const { p } = await open('/t/basic');
  assert.deepEqual(await p.evaluate(() => window.edgeseg.segments), ['cart_abandoner', 'returning_visitor']);
  assert.equal(await p.evaluate(() => typeof window.edgeseg.flush), 'function');
  const { p: bare } = await open('/t/bare');
  assert.deepEqual(await bare.evaluate(() => window.edgeseg.segments), []);
  // Issue 21: variant() answers on the server-rendered page, not only after a client-side decision.
  const { p: v } = await open('/t/variant');
  assert.equal(await v.evaluate(() => window.edgeseg.variant('hero_copy')), 'bold');
  assert.equal(await v.evaluate(() => window.edgeseg.variant('other')), null);
  assert.equal(await bare.evaluate(() => window.edgeseg.variant('hero_copy')), null);
  assert.deepEqual(p.__errors ?? [], []);
});

test('events within 50 ms go in one batch, as JSON, with the page path; over 20 are split', { skip }, async () => {
  const { p } = await open('/t/basic');
  await p.evaluate(() => Promise.all([
    window.edgeseg.track('add_to_cart', { sku: 'A' }),
    window.edgeseg.track('add_to_cart', { sku: 'B' }),
    window.edgeseg.track('request_demo'),
  ]));
  assert.equal(events.length, 1, 'one request');
  assert.equal(events[0].contentType, 'application/json');
  assert.deepEqual(events[0].events, [
    { name: 'add_to_cart', props: { sku: 'A' }, path: '/t/basic' },
    { name: 'add_to_cart', props: { sku: 'B' }, path: '/t/basic' },
    { name: 'request_demo', props: {}, path: '/t/basic' },
  ]);
  events = [];
  await p.evaluate(() => Promise.all(Array.from({ length: 25 }, (_, i) => window.edgeseg.track('e', { i }))));
  assert.deepEqual(events.map((b) => b.events.length), [20, 5]);
  assert.deepEqual(allEvents().map((e) => e.props.i), Array.from({ length: 25 }, (_, i) => i));
  // No batch goes over 8 KB: 10 events of 1.5 KB each are split.
  events = [];
  await p.evaluate(() => Promise.all(Array.from({ length: 10 }, (_, i) => window.edgeseg.track('big', { i, s: 'x'.repeat(1500) }))));
  assert.ok(events.length >= 2, `split into ${events.length}`);
  for (const b of events) assert.ok(b.bytes <= 8192, `${b.bytes} bytes`);
  assert.equal(allEvents().length, 10);
  // The reply's Set-Cookie was applied (fetch with credentials), and sent with later requests.
  events = [];
  await p.evaluate(() => window.edgeseg.track('again'));
  assert.match(events[0].cookie, /st=ev\d+-big/);
});

test('only scalar props are sent; the rest are dropped with a console warning', { skip }, async () => {
  const { p, warnings } = await open('/t/basic');
  await p.evaluate(() => window.edgeseg.track('x', {
    s: 'a', n: 1.5, b: false, z: null, o: { a: 1 }, arr: [1], f() {}, u: undefined, nan: NaN, inf: Infinity,
  }));
  assert.deepEqual(allEvents()[0].props, { s: 'a', n: 1.5, b: false, z: null });
  for (const k of ['o', 'arr', 'f', 'u', 'nan', 'inf']) assert.ok(warnings.some((w) => w.includes(`"${k}"`)), `warned about ${k}: ${warnings}`);
  // Non-object props and a bad name do not throw into the page.
  const r = await p.evaluate(async () => {
    const out = [];
    try { await window.edgeseg.track('y', 'not an object'); out.push('ok'); } catch (e) { out.push('rejected ' + e.message); }
    try { await window.edgeseg.track(''); out.push('ok'); } catch (e) { out.push('rejected ' + e.name); }
    window.edgeseg.track(42); // ignored rejection: must not be an unhandled rejection
    return out;
  });
  assert.deepEqual(r, ['ok', 'rejected TypeError']);
  assert.ok(warnings.some((w) => w.includes('props must be an object')));
  assert.deepEqual(p.__errors ?? [], []);
});

test('track() resolves on 204 and rejects with the server message on 400', { skip }, async () => {
  const { p } = await open('/t/basic');
  const r = await p.evaluate(async () => {
    const ok = await window.edgeseg.track('fine').then(() => 'resolved', (e) => 'rejected ' + e.message);
    const bad = await window.edgeseg.track('bad', { a: 1 }).then(() => 'resolved', (e) => ({ message: e.message, status: e.status }));
    return { ok, bad };
  });
  assert.equal(r.ok, 'resolved');
  assert.equal(r.bad.status, 400);
  assert.match(r.bad.message, /unknown event "bad"/);
  // A rejection that the page ignores does not surface as an error.
  const unhandled = await p.evaluate(() => new Promise((ok) => {
    let seen = false;
    window.addEventListener('unhandledrejection', () => { seen = true; });
    window.edgeseg.track('bad');
    setTimeout(() => ok(seen), 300);
  }));
  assert.equal(unhandled, false);
});

test('clicking a tracked submit button that navigates: the event arrives, and the next page carries its cookie', { skip }, async () => {
  eventDelayMs = 300; // a slow endpoint: a plain fire-and-forget would lose the cookie race
  const { p } = await open('/t/product');
  await Promise.all([p.waitForURL(/\/t\/cart\?sku=NW-TR-001$/), p.click('#inner')]);
  await p.waitForSelector('#cart');
  assert.deepEqual(allEvents(), [{ name: 'add_to_cart', props: { sku: 'NW-TR-001' }, path: '/t/product' }]);
  const cart = requests.find((r) => r.url.startsWith('/t/cart'));
  assert.ok(cart, 'the form was submitted');
  assert.match(cart.cookie, /st=ev\d+-add_to_cart/, 'the cart request carries the cookie from the event reply');
  assert.ok(cart.at >= events[0].at + eventDelayMs - 5, 'navigation waited for the reply');
});

test('the navigation is held at most about 1 s when the endpoint hangs, and the event is still delivered', { skip }, async () => {
  eventDelayMs = 2500;
  const { p } = await open('/t/product');
  const t0 = Date.now();
  await Promise.all([p.waitForURL(/\/t\/cart\?from=link$/), p.click('#link')]);
  const held = Date.now() - t0;
  assert.ok(held < 2000, `held ${held} ms`);
  await eventually(() => allEvents().length === 1, { what: 'the demo event' });
  assert.deepEqual(allEvents()[0], { name: 'request_demo', props: { plan: 'b2b' }, path: '/t/product' });
});

test('a tracked click the page handles itself (no navigation, or its own submit handler) is tracked and not replayed', { skip }, async () => {
  const { p } = await open('/t/product');
  await p.click('#spa');
  await eventually(() => allEvents().length === 1, { what: 'spa event' });
  assert.deepEqual(allEvents()[0].props, { sku: 'SPA-1' });
  await p.click('#ajaxsubmit');
  await eventually(() => allEvents().length === 2, { what: 'ajax event' });
  await eventually(() => p.evaluate(() => window.ajaxSubmitted === 1), { what: 'the page submit handler ran once' });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await p.evaluate(() => window.ajaxSubmitted), 1);
  assert.equal(new URL(p.url()).pathname, '/t/product');
  assert.equal(requests.filter((r) => r.url.startsWith('/t/cart')).length, 0);
});

test('an event tracked just before leaving the page goes by beacon on pagehide', { skip }, async () => {
  const { p } = await open('/t/basic');
  await Promise.all([
    p.waitForURL(/\/t\/cart$/),
    p.evaluate(() => { window.edgeseg.track('late', { n: 1 }); location.href = '/t/cart'; }),
  ]);
  await eventually(() => allEvents().some((e) => e.name === 'late'), { what: 'the late event' });
  const b = events.find((x) => x.events.some((e) => e.name === 'late'));
  assert.equal(b.contentType, 'application/json');
  assert.deepEqual(b.events, [{ name: 'late', props: { n: 1 }, path: '/t/basic' }]);
});

test('<body data-edgeseg-event> is tracked once on load, with data-edgeseg-prop-* props', { skip }, async () => {
  await open('/t/purchase');
  await eventually(() => allEvents().length === 1, { what: 'purchase' });
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(allEvents(), [{ name: 'purchase', props: { order: 'A123' }, path: '/t/purchase' }]);
});

test('loading the script twice: one API, one page event, one event per click', { skip }, async () => {
  const { p } = await open('/t/twice');
  await eventually(() => allEvents().length === 1, { what: 'purchase' });
  await p.waitForTimeout(200);
  assert.equal(allEvents().length, 1, 'the page event once');
  assert.deepEqual(await p.evaluate(() => window.edgeseg.segments), ['cart_abandoner', 'returning_visitor']);
  await p.evaluate(() => {
    const b = document.createElement('button');
    b.id = 'b';
    b.setAttribute('data-edgeseg-track', 'clicked');
    document.body.append(b);
    b.click();
  });
  await eventually(() => allEvents().length === 2, { what: 'click event' });
  await p.waitForTimeout(200);
  assert.deepEqual(allEvents().map((e) => e.name), ['purchase', 'clicked']);
  assert.deepEqual(p.__errors ?? [], []);
});

test('a tracked link with target=_blank is not held (the new tab opens at once)', { skip }, async () => {
  eventDelayMs = 2000;
  const { p } = await open('/t/product');
  const [popup] = await Promise.all([p.context().waitForEvent('page'), p.click('#blank')]);
  await popup.waitForLoadState('domcontentloaded');
  assert.equal(new URL(p.url()).pathname, '/t/product');
  await eventually(() => allEvents().length === 1, { what: 'event' });
});
