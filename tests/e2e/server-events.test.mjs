// Events from the site's server, end to end in workerd (README, "Events from
// the site's server"), with examples/rules.json (purchase is server-only,
// value bounded to ±10000) and the example backend's own signing code
// (examples/shop-backend.mjs): the forged browser purchase of issue 20 gets a
// 403 and changes nothing; an out-of-bounds value gets a 400 naming the
// property; a signed server purchase makes the shopper a big spender on
// their next page, once; tampered, replayed and unsigned deliveries get a 401
// and record nothing; refusals show on the health endpoint; rules with a wrong
// source or bounds are refused with paths, the last good ones kept. A Worker without
// the server events secret answers 503 and records nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, Visitor, ROOT, eventually, flushCounters } from './harness.mjs';
import { sendServerEvents, signatureHeader } from '../../examples/shop-backend.mjs';

const SECRET = 'e2e-server-events-secret-0123456789';
const rules = await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8');
let worker;

const TOKEN = 'e2e-admin-token-server-events';
before(async () => { worker = await startWorker({ rules, vars: { EDGESEG_SERVER_EVENTS_SECRET: SECRET, EDGESEG_ADMIN_TOKEN: TOKEN } }); });
after(async () => { await worker?.stop(); });

const BIG_SPENDER = /data-variant="big_spender"/;

async function browserEvent(v, body) {
  const res = await fetch(`${worker.url}/__edgeseg/event`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: v.cookieHeader() },
    body: JSON.stringify(body),
  });
  for (const sc of res.headers.getSetCookie()) {
    const [pair] = sc.split(';');
    v.cookies.set(pair.slice(0, pair.indexOf('=')).trim(), pair.slice(pair.indexOf('=') + 1).trim());
  }
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, setCookies: res.headers.getSetCookie() };
}

/** A shopper with a cookie and the id the page exposes. */
async function shopper() {
  const v = new Visitor(worker.url);
  const home = await v.get('/');
  const id = /visitorId:"([0-9a-f]{32})"/.exec(home.text)?.[1];
  assert.ok(id, 'the page exposes edgeseg.visitorId when the rules take server events');
  assert.doesNotMatch(home.text, BIG_SPENDER);
  return { v, id };
}

async function post(body, signature) {
  const headers = { 'content-type': 'application/json' };
  if (signature) headers['x-edgeseg-signature'] = signature;
  const res = await fetch(`${worker.url}/__edgeseg/server-events`, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function health() {
  return (await (await fetch(`${worker.url}/__edgeseg/health`)).json()).server_events;
}

test('issue 20: the forged browser purchase gets a 403 and changes nothing', async () => {
  const { v } = await shopper();
  const before = v.cookies.get('edgeseg');
  const refusedBefore = (await health()).browser_refused_source;
  const r = await browserEvent(v, { name: 'purchase', props: { value: 1e300 } });
  assert.equal(r.status, 403);
  assert.equal(r.json.event, 'purchase');
  assert.match(r.json.error, /"purchase" may only be sent by the site's server/);
  assert.deepEqual(r.setCookies, [], 'no new cookie');
  assert.equal(v.cookies.get('edgeseg'), before);
  // A plausible total from the page: the same.
  assert.equal((await browserEvent(v, { events: [{ name: 'add_to_cart' }, { name: 'purchase', props: { value: 250 } }] })).status, 403);
  const next = await v.get('/');
  assert.doesNotMatch(next.text, BIG_SPENDER);
  assert.equal((await health()).browser_refused_source, refusedBefore + 2);
});

test('a signed server purchase makes the shopper a big spender on their next page, once', async () => {
  const { v, id } = await shopper();
  const order = `NW-${Date.now()}`;
  const events = [{ id: order, name: 'purchase', props: { order, value: 250 }, path: '/checkout/complete' }];
  const sent = await sendServerEvents(worker.url, SECRET, id, events);
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  assert.deepEqual([sent.body.stored, sent.body.duplicates, sent.body.waiting], [1, 0, 1]);
  // The backend retries (a new signature, the same order id): acknowledged, not stored again.
  const retry = await sendServerEvents(worker.url, SECRET, id, events, { t: Math.floor(Date.now() / 1000) - 1 });
  assert.equal(retry.status, 202);
  assert.deepEqual([retry.body.stored, retry.body.duplicates], [0, 1]);

  const next = await v.get('/');
  assert.equal(next.status, 200);
  assert.match(next.text, BIG_SPENDER);
  assert.match(next.text, /free express shipping/);
  assert.match(next.text, /segments:\[[^\]]*"big_spender"/);
  // Acknowledged after the page went out (wait_until): nothing waits any more,
  // and the segment holds on the pages after (tests/server_events.rs checks
  // that the purchase is not counted twice).
  await new Promise((r) => setTimeout(r, 500));
  const later = await v.get('/category/');
  assert.equal(later.status, 200);
  assert.match((await v.get('/')).text, BIG_SPENDER);
  const again = await sendServerEvents(worker.url, SECRET, id, events);
  assert.equal(again.body.duplicates, 1, 'an id already applied is still known');
  assert.equal(again.body.waiting, 0, 'nothing waits after the page applied it');
});

test('a value out of bounds gets a 400 naming the property, and nothing is recorded', async () => {
  const { v, id } = await shopper();
  const sent = await sendServerEvents(worker.url, SECRET, id, [{ id: 'huge-1', name: 'purchase', props: { value: 1e300 } }]);
  assert.equal(sent.status, 400);
  assert.equal(sent.body.property, 'value');
  assert.equal(sent.body.event, 'purchase');
  assert.match(sent.body.error, /^events\[0\]\.props\.value: 1e\+?300 is above 10000/);
  const notNumber = await sendServerEvents(worker.url, SECRET, id, [{ id: 'huge-2', name: 'purchase', props: { value: 'lots' } }]);
  assert.equal(notNumber.status, 400);
  assert.equal(notNumber.body.property, 'value');
  assert.doesNotMatch((await v.get('/')).text, BIG_SPENDER);
  // The page's own events are bounded the same way (an event taking both sources would be;
  // here the page's purchase is refused first, by source).
  assert.ok((await health()).refused_bounds >= 2);
});

test('tampered, replayed and unsigned deliveries get a 401 and record nothing', async () => {
  const { v, id } = await shopper();
  const body = JSON.stringify({ visitor: id, events: [{ id: 'T-1', name: 'purchase', props: { value: 25 } }] });
  const now = Math.floor(Date.now() / 1000);
  const signature = signatureHeader(SECRET, body, now);
  const before = (await health()).refused_signature;

  const tampered = await post(body.replace('"value":25', '"value":2500'), signature);
  assert.equal(tampered.status, 401);
  assert.match(tampered.json.error, /the signature does not match the body/);
  const wrongSecret = await post(body, signatureHeader('not-the-secret', body, now));
  assert.equal(wrongSecret.status, 401);
  // A capture replayed ten minutes later (its signing time is outside the window).
  const old = now - 600;
  const replayed = await post(body, signatureHeader(SECRET, body, old));
  assert.equal(replayed.status, 401);
  assert.match(replayed.json.error, /signed 6\d\d s away from now, beyond the 300 s allowed/);
  // Moving t into the window breaks the signature.
  const moved = await post(body, signatureHeader(SECRET, body, old).replace(`t=${old}`, `t=${now}`));
  assert.equal(moved.status, 401);
  const unsigned = await post(body, null);
  assert.equal(unsigned.status, 401);
  assert.match(unsigned.json.error, /no X-Edgeseg-Signature header/);
  assert.equal((await health()).refused_signature, before + 5);

  // None of them was stored: the genuine delivery is the first of its id.
  const genuine = await post(body, signature);
  assert.equal(genuine.status, 202);
  assert.deepEqual([genuine.json.stored, genuine.json.duplicates], [1, 0]);
  assert.equal(genuine.json.waiting, 1);
  // Sent again byte for byte within the window: nothing recorded twice.
  const again = await post(body, signature);
  assert.equal(again.status, 202);
  assert.deepEqual([again.json.stored, again.json.duplicates, again.json.waiting], [0, 1, 1]);
  assert.equal((await v.get('/')).status, 200);
});

test('bad bodies and browser-only events from the server say what is wrong', async () => {
  const { id } = await shopper();
  const cases = [
    [{ visitor: 'nope', events: [{ id: 'a', name: 'purchase' }] }, 400, /visitor: expected the 32 hex digits/],
    [{ visitor: id, events: [{ name: 'purchase' }] }, 400, /events\[0\]\.id: missing/],
    [{ visitor: id, events: [{ id: 'a', name: 'purchse' }] }, 400, /did you mean "purchase"/],
    [{ visitor: id, events: [{ id: 'a', name: 'add_to_cart' }] }, 403, /is sent by the page/],
  ];
  for (const [doc, status, message] of cases) {
    const body = JSON.stringify(doc);
    const r = await post(body, signatureHeader(SECRET, body));
    assert.equal(r.status, status, body);
    assert.match(r.json.error, message);
  }
  const h = await health();
  assert.equal(h.secret_configured, true);
  assert.equal(h.rules_accept_server_events, true);
  assert.equal(h.inbox_bound, true);
});

// Regression: a server purchase converting an experiment carried its value
// (in cents) as that many +1 counts, and the Worker ran out of memory.
test('a server purchase converts the demo experiment with its value', async () => {
  const { v, id } = await shopper();
  await v.get('/category/new-arrivals');
  await v.get('/products/new/summit-shell');
  assert.equal((await browserEvent(v, { events: [{ name: 'add_to_cart', props: { sku: 'summit-shell', category: 'new-arrivals' }, path: '/products/new/summit-shell' }] })).status, 204);
  const cart = await v.get('/cart');
  assert.equal(cart.status, 200);
  await v.get('/checkout/complete');
  // Counters are the Worker's, shared with the tests above: compare before and after.
  const stats = async () => {
    await flushCounters(worker.url, TOKEN);
    const r = await fetch(`${worker.url}/__edgeseg/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return (await r.json()).counters;
  };
  const before = await stats();
  const order = `EXP-${Date.now()}`;
  const sent = await sendServerEvents(worker.url, SECRET, id, [{ id: order, name: 'purchase', props: { order, value: '129.00' }, path: '/checkout/complete' }]);
  assert.equal(sent.status, 202);
  const next = await v.get('/');
  assert.equal(next.status, 200);
  assert.equal((await v.get('/category/')).status, 200, 'the Worker is still serving');
  const counters = await stats();
  const sum = (c, re) => Object.entries(c).filter(([k]) => re.test(k)).reduce((a, [, v]) => a + v.reduce((x, y) => x + y, 0), 0);
  const total = (re) => sum(counters, re) - sum(before, re);
  assert.match(cart.text, /data-(variant|experiment)="(new_gear_shopper|free_express)"|data-edgeseg-block="cta"/);
  // The demo experiment's goal is "revenue" (the purchase's value). The
  // shopper is in the experiment or in its holdout (random): whichever it
  // is, one conversion worth $129.00.
  const keys = JSON.stringify(Object.fromEntries(Object.entries(counters).filter(([k]) => /exp|purchase/.test(k))));
  const experiments = [...new Set(Object.keys(counters).filter((k) => /^exp:[^:]+:[^:]+:conversions:revenue$/.test(k)).map((k) => k.split(':')[1]))]
    .filter((e) => total(new RegExp(`^exp:${e}:[^:]+:conversions:revenue$`)) > 0);
  assert.ok(experiments.length >= 1, keys);
  for (const e of experiments) {
    assert.equal(total(new RegExp(`^exp:${e}:[^:]+:conversions:revenue$`)), 1, keys);
    assert.equal(total(new RegExp(`^exp:${e}:[^:]+:value:revenue$`)), 12900, keys);
  }
  assert.equal(total(/^events:purchase$/), 1);
});

test('rules with a wrong source or bounds are refused with their paths; the last good rules stay', async () => {
  const doc = JSON.parse(rules);
  doc.version = 'bad-sources';
  doc.events.purchase.source = 'backend';
  doc.events.add_to_cart.props = { qty: { min: 5, max: 1 } };
  await worker.kvPut('rules', JSON.stringify(doc));
  const h = await eventually(async () => {
    const h = await (await fetch(`${worker.url}/__edgeseg/health`)).json();
    return h.last_error && h.last_error.errors.some((e) => e.includes('events.purchase.source')) ? h : null;
  }, { timeout: 20_000, what: 'the rules errors' });
  const errors = h.last_error.errors.join('\n');
  assert.match(errors, /events\.purchase\.source: .*"backend"/);
  assert.notEqual(h.rules_version, 'bad-sources');
  // The other error shows once the shape is right.
  doc.events.purchase.source = 'server';
  await worker.kvPut('rules', JSON.stringify(doc));
  const h2 = await eventually(async () => {
    const h = await (await fetch(`${worker.url}/__edgeseg/health`)).json();
    return h.last_error && h.last_error.errors.some((e) => e.includes('events.add_to_cart.props.qty')) ? h : null;
  }, { timeout: 20_000, what: 'the bounds error' });
  assert.match(h2.last_error.errors.join('\n'), /events\.add_to_cart\.props\.qty: min \(5\) is above max \(1\)/);
  assert.notEqual(h2.rules_version, 'bad-sources');
  // Still in force: the page's purchase is refused, the server's accepted.
  const { v, id } = await shopper();
  assert.equal((await browserEvent(v, { name: 'purchase', props: { value: 250 } })).status, 403);
  const sent = await sendServerEvents(worker.url, SECRET, id, [{ id: `late-${Date.now()}`, name: 'purchase', props: { value: 250 } }]);
  assert.equal(sent.status, 202);
  await worker.kvPut('rules', rules);
});

test('without the server events secret the endpoint answers 503 and records nothing', async () => {
  const bare = await startWorker({ rules });
  try {
    const body = JSON.stringify({ visitor: '0'.repeat(32), events: [{ id: 'a', name: 'purchase', props: { value: 1 } }] });
    const res = await fetch(`${bare.url}/__edgeseg/server-events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-edgeseg-signature': signatureHeader(SECRET, body) },
      body,
    });
    assert.equal(res.status, 503);
    assert.match((await res.json()).error, /EDGESEG_SERVER_EVENTS_SECRET secret is not set/);
    const h = (await (await fetch(`${bare.url}/__edgeseg/health`)).json()).server_events;
    assert.equal(h.secret_configured, false);
    assert.equal(h.stored, 0);
  } finally {
    await bare.stop();
  }
});
