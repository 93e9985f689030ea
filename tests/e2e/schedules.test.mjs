// Schedules and revenue in workerd (wrangler dev): an experiment whose
// start_at is still to come is served to nobody (the page keeps its content,
// simulate and the preview's debug header say "not started until ..."),
// while a running one beside it counts a purchase whose value comes as a
// numeric string ("129.00", as the demo store's checkout sends it) into value
// per visitor; a value that is not a number counts nothing and is counted as
// refused in the stats.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker, Visitor, eventually, flushCounters } from './harness.mjs';

const TOKEN = 'e2e-admin-token-schedules';
const LATER = '2099-01-01T09:00:00Z';

const RULES = {
  format: 1,
  version: 'schedules-e2e',
  events: { purchase: {} },
  segments: [{ id: 'shopper', condition: {} }],
  blocks: {
    hero: { content: { shopper: { inner_html: '<span data-hero="segment">Welcome</span>' } } },
    offer: { content: {} },
  },
  experiments: {
    later_test: {
      segment: 'shopper',
      status: 'running',
      start_at: LATER,
      variants: [
        { id: 'control', content: { hero: { inner_html: '<span data-hero="later-control">Later A</span>' } } },
        { id: 'bold', content: { hero: { inner_html: '<span data-hero="later-bold">Later B</span>' } } },
      ],
      goals: { purchase: { event: 'purchase', window: '1d', value: 'value' } },
    },
    offer_test: {
      segment: 'shopper',
      status: 'running',
      start_at: '2020-01-01T00:00:00Z',
      variants: [
        { id: 'control', content: { offer: { inner_html: '<span data-offer="control">Free returns</span>' } } },
        { id: 'bold', content: { offer: { inner_html: '<span data-offer="bold">20 % off</span>' } } },
      ],
      goals: { purchase: { event: 'purchase', window: '1d', value: 'value' } },
    },
  },
};

let worker;
// Visitors exposed to offer_test without buying (the first test's).
const lookers = { control: 0, bold: 0 };
before(async () => { worker = await startWorker({ rules: JSON.stringify(RULES), vars: { EDGESEG_ADMIN_TOKEN: TOKEN } }); });
after(async () => { await worker?.stop(); });

async function admin(method, path, body) {
  const r = await fetch(`${worker.url}/__edgeseg/admin/api/${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return r.json();
}

async function buy(v, value, i) {
  const res = await fetch(`${worker.url}/__edgeseg/event`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: v.cookieHeader(), 'cf-connecting-ip': `2001:db8::5:${i}` },
    body: JSON.stringify({ events: [{ name: 'purchase', props: { value }, path: '/checkout/complete' }] }),
  });
  assert.equal(res.status, 204);
}

test('an experiment before its start_at is served to nobody, and says why', async () => {
  const v = new Visitor(worker.url);
  const page = await v.get('/');
  assert.equal(page.status, 200);
  assert.match(page.text, /data-hero="segment"/, 'the segment\'s own hero, not a variant');
  assert.doesNotMatch(page.text, /data-hero="later-/);
  const arm = page.text.match(/data-offer="(control|bold)"/)?.[1];
  assert.ok(arm, 'the running experiment beside it is served');
  lookers[arm] += 1;

  const sim = await admin('POST', 'simulate', { url: 'https://shop.test/' });
  const later = sim.experiments.find((e) => e.experiment === 'later_test');
  assert.equal(later.variant, null);
  assert.equal(later.why, `not started until ${LATER}`);
  assert.match(sim.explain, /experiment later_test: no variant \(not started until 2099-01-01T09:00:00Z\)/);

  // The preview link's debug header says the same.
  const link = await admin('POST', 'preview', { segments: ['shopper'], ttl: '5m' });
  const marketer = new Visitor(worker.url);
  const at = new URL(link.url, worker.url);
  const previewed = await marketer.get(at.pathname + at.search);
  assert.match(previewed.headers.get('x-edgeseg-debug'), /later_test: no variant \(not started until 2099-01-01T09:00:00Z\)/);
});

test('revenue sent as "129.00" counts into value per visitor; "12 EUR" is refused and counted', async () => {
  const bought = { control: 0, bold: 0 };
  for (let i = 0; i < 6; i++) {
    const v = new Visitor(worker.url);
    const page = await v.get('/');
    const arm = page.text.match(/data-offer="(\w+)"/)?.[1];
    assert.ok(arm, 'served the offer test');
    await buy(v, '129.00', i);
    bought[arm] += 1;
  }
  const refused = new Visitor(worker.url);
  const refusedArm = (await refused.get('/')).text.match(/data-offer="(\w+)"/)?.[1];
  await buy(refused, '12 EUR', 99);

  const results = await eventually(async () => {
    await flushCounters(worker.url, TOKEN);
    const r = await admin('GET', 'experiments?days=1');
    const e = r.experiments.find((x) => x.key === 'offer_test');
    return e && e.exposures.reduce((a, b) => a + b, 0) === 7 + lookers.control + lookers.bold ? e : null;
  }, { timeout: 30_000, every: 1_000, what: 'exposures published' });
  const later = (await admin('GET', 'experiments?days=1')).experiments.find((x) => x.key === 'later_test');
  assert.ok(!later || later.exposures.every((n) => n === 0), 'nobody exposed before start_at');

  const goal = results.goals.purchase.variants;
  for (const [i, arm] of ['control', 'bold'].entries()) {
    const g = goal[i];
    const buyers = bought[arm] + (refusedArm === arm ? 1 : 0);
    assert.equal(results.exposures[i], buyers + lookers[arm], `${arm}: one exposure per visitor`);
    assert.equal(g.conversions, buyers, `${arm}: every purchase converts, the one with a refused value too`);
    if (bought[arm] > 0) {
      // Value per visitor: 129 for each buyer with a numeric value, 0 for the refused one.
      const expected = (129 * bought[arm]) / results.exposures[i];
      assert.ok(Math.abs(g.value_per_visitor.estimate - expected) < 1e-6, `${arm}: ${JSON.stringify(g.value_per_visitor)} against ${expected}`);
    }
  }

  const stats = await (await fetch(`${worker.url}/__edgeseg/stats`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
  const total = (name) => (stats.counters[name] || []).reduce((a, b) => a + b, 0);
  assert.equal(total('values_refused'), 1);
  assert.equal(total('values_refused:purchase:value'), 1);
});
