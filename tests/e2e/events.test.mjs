// Events from the page, consent, and counters, end to end in workerd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, Visitor, ROOT, eventually, flushCounters } from './harness.mjs';

const TOKEN = 'e2e-admin-token-events';
const rules = await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8');
let worker;

before(async () => { worker = await startWorker({ rules, vars: { EDGESEG_ADMIN_TOKEN: TOKEN } }); });
after(async () => { await worker?.stop(); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function sendEvents(v, body, headers = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  const cookie = v.cookieHeader();
  if (cookie) h.cookie = cookie;
  const res = await fetch(`${worker.url}/__edgeseg/event`, { method: 'POST', headers: h, body: typeof body === 'string' ? body : JSON.stringify(body) });
  for (const sc of res.headers.getSetCookie()) {
    const [pair] = sc.split(';');
    const i = pair.indexOf('=');
    v.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
  }
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, setCookies: res.headers.getSetCookie() };
}

async function stats() {
  const r = await fetch(`${worker.url}/__edgeseg/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  return r.json();
}
const total = (s, name) => (s.counters[name] || []).reduce((a, b) => a + b, 0);

test('an add_to_cart event sent like a beacon makes a cart abandoner on the next page; a purchase ends it', async () => {
  const v = new Visitor(worker.url);
  await v.get('/products/trail-runner');
  const r = await sendEvents(v, { events: [{ name: 'add_to_cart', props: { sku: 'NW-TR-001', value: 129.5 }, path: '/products/trail-runner' }] });
  assert.equal(r.status, 204);
  assert.equal(r.setCookies.length, 1, 'the reply carries the updated cookie');
  await sleep(2_200);
  const home = await v.get('/');
  assert.match(home.text, /data-variant="cart_abandoner">You left something at base camp/);
  assert.match(home.text, /window\.edgeseg=Object\.assign\(window\.edgeseg\|\|\{\},\{segments:\["cart_abandoner"/);
  assert.equal((await sendEvents(v, { name: 'purchase', path: '/checkout/complete' })).status, 204);
  assert.doesNotMatch((await v.get('/')).text, /data-variant="cart_abandoner"/);
});

test('bad events get a 400 that says what is wrong, and the cookie is left as it was', async () => {
  const v = new Visitor(worker.url);
  await v.get('/');
  const before = v.cookies.get('edgeseg');
  const cases = [
    [{ events: [{ name: 'add_to_kart' }] }, /unknown event "add_to_kart" \(did you mean "add_to_cart"\?\)/],
    [{ events: [{ name: 'add_to_cart', props: { nested: { a: 1 } } }] }, /events\[0\].*nested/],
    ['{"events": [', /JSON/i],
    [{ events: Array.from({ length: 21 }, () => ({ name: 'purchase' })) }, /20/],
    [{ events: [{ name: 'page_view' }] }, /page_view/],
    ['x'.repeat(9 * 1024), /larger than 8192 bytes|8 ?K/i],
  ];
  for (const [body, message] of cases) {
    const r = await sendEvents(v, body);
    assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
    assert.match(r.json.error, message);
    assert.equal(r.setCookies.length, 0, 'no cookie change on a rejected batch');
    assert.equal(v.cookies.get('edgeseg'), before);
  }
});

test('Sec-GPC: 1 means no state cookie and no counter moves; request-only segments still apply', async () => {
  await flushCounters(worker.url, TOKEN);
  const before = await stats();
  const v = new Visitor(worker.url, { 'sec-gpc': '1' });
  const page = await v.get('/?utm_campaign=private');
  assert.equal(page.setCookies.length, 0);
  assert.match(page.text, /data-variant="campaign_visitor"/, 'a campaign needs no stored state');
  const ev = await sendEvents(v, { name: 'add_to_cart' }, { 'sec-gpc': '1' });
  assert.equal(ev.status, 204);
  assert.equal(ev.setCookies.length, 0);
  const denied = new Visitor(worker.url, { cookie: 'nw_consent=no' });
  assert.equal((await denied.get('/')).setCookies.length, 0, 'the consent cookie says no');
  await flushCounters(worker.url, TOKEN);
  const after = await stats();
  assert.equal(total(after, 'page_views'), total(before, 'page_views'));
  assert.equal(total(after, 'events:add_to_cart'), total(before, 'events:add_to_cart'));
});

test('after N page views and a counters flush, the stats report exactly N more', async () => {
  await flushCounters(worker.url, TOKEN);
  const before = await stats();
  const N = 7;
  const v = new Visitor(worker.url);
  for (let i = 0; i < N; i++) assert.equal((await v.get(i % 2 ? '/category/' : '/products/camp-mug')).status, 200);
  assert.equal((await sendEvents(v, { name: 'request_demo', path: '/' })).status, 204);
  // Entering product_browser happens once; its hero impressions on category pages are counted.
  const s = await eventually(async () => {
    await flushCounters(worker.url, TOKEN);
    const s = await stats();
    return total(s, 'page_views') - total(before, 'page_views') === N ? s : null;
  }, { timeout: 20_000, every: 1_000, what: `${N} more page views in the stats` });
  assert.equal(total(s, 'page_views') - total(before, 'page_views'), N);
  assert.equal(total(s, 'entries:product_browser') - total(before, 'entries:product_browser'), 1);
  assert.ok(total(s, 'impressions:hero:product_browser') > total(before, 'impressions:hero:product_browser'));
  assert.equal(s.hours.length, s.counters.page_views.length);
  // A counter the rules declare ("demo_requests": {"event": "request_demo"}) counts beside the built-in one.
  assert.equal(total(s, 'events:request_demo') - total(before, 'events:request_demo'), 1);
  assert.equal(total(s, 'demo_requests') - total(before, 'demo_requests'), 1);
  // "cart_offer_shown": {"impressions": "offer", "segment": "cart_abandoner"} — the first test showed it.
  assert.ok(total(s, 'cart_offer_shown') > 0);
  assert.equal(total(s, 'cart_offer_shown'), total(s, 'impressions:offer:cart_abandoner'));
  // Flushing again changes nothing: nothing is counted twice.
  await flushCounters(worker.url, TOKEN);
  await sleep(500);
  assert.equal(total(await stats(), 'page_views'), total(s, 'page_views'));
});

test('the stats need the admin token', async () => {
  assert.equal((await fetch(`${worker.url}/__edgeseg/stats`)).status, 401);
  assert.equal((await fetch(`${worker.url}/__edgeseg/stats`, { headers: { authorization: 'Bearer nope' } })).status, 403);
});

test('the page script is served', async () => {
  const r = await fetch(`${worker.url}/__edgeseg/edgeseg.js`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /javascript/);
  assert.match(await r.text(), /edgeseg/);
});
