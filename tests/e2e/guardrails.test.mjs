// Guardrails end to end in workerd: an experiment whose variant `bold` makes
// refunds (a guardrail goal that must not increase) far likelier. After enough
// simulated visitors the cron's one-sided sequential test stops it: the results
// say why and when, its visitors (old and new) get the control's content and are
// no longer counted, the export's page-view records say so, one signed
// `guardrail_stop` webhook reaches a local receiver (once, however often the cron
// runs), and a restart through the admin API serves `bold` again. Then the admin
// page's Experiments tab in headless Chromium at 1280 and 390 px (screenshots in
// test-output/screenshots/).
// Under Miniflare (tests/load/miniflare.mjs), with its local Queues and R2, as the
// 2,000-visitor experiments test runs: this much traffic is a load.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { Visitor, eventually, flushCounters, webhookReceiver } from './harness.mjs';
import { startMiniflare } from '../load/miniflare.mjs';
import { browserMissing, launchBrowser, screenshot } from './browser.mjs';
import { WIDE, NARROW, showTab } from './admin-page-checks.mjs';

const TOKEN = 'e2e-admin-token-guardrails';
const WEBHOOK_SECRET = 'e2e-guardrail-webhook-secret-0123456789';
const VISITORS = 600;
const CONCURRENCY = 12;

const hook = await webhookReceiver(WEBHOOK_SECRET);
const { deliveries, port: receiverPort } = hook;

const RULES = {
  format: 1,
  version: 'guardrails-e2e',
  settings: { refresh_seconds: 2, export: { enabled: true, page_views: true } },
  events: { purchase: {}, refund: {} },
  segments: [{ id: 'shopper', condition: {} }],
  blocks: { hero: { content: { shopper: { inner_html: '<span data-exp-hero="control">Welcome back</span>' } } } },
  experiments: {
    hero_test: {
      segment: 'shopper',
      status: 'running',
      variants: [
        { id: 'control' },
        { id: 'bold', content: { hero: { inner_html: '<span data-exp-hero="bold">Last pairs in your size</span>' } } },
      ],
      goals: {
        purchase: { event: 'purchase', window: '1d' },
        refunds: { event: 'refund', window: '7d', guardrail: 'must_not_increase' },
      },
    },
  },
  activations: [
    { id: 'guardrail_alert', on: 'guardrail_stop', experiment: 'hero_test', url: `http://127.0.0.1:${receiverPort}/hooks/guardrails` },
  ],
};

let worker;
before(async () => {
  worker = await startMiniflare({
    edgeseg: true,
    assets: true,
    rules: JSON.stringify(RULES),
    vars: { EDGESEG_ADMIN_TOKEN: TOKEN, EDGESEG_WEBHOOK_SECRET: WEBHOOK_SECRET, EDGESEG_GUARDRAIL_EVERY: '0', EXPORT_RETRY_DELAY_SECS: '1' },
  });
});
after(async () => {
  await worker?.stop();
  await hook.close();
});

function rng(seed) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

async function admin(path, init = {}) {
  const r = await fetch(`${worker.url}/__edgeseg/admin/api/${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
  });
  return { status: r.status, body: await r.json() };
}

const clientAddress = (i) => `2001:db8::${i.toString(16)}`;

async function send(v, name, i) {
  const res = await fetch(`${worker.url}/__edgeseg/event`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: v.cookieHeader(), 'cf-connecting-ip': clientAddress(i) },
    body: JSON.stringify({ events: [{ name, path: '/' }] }),
  });
  assert.equal(res.status, 204);
}

const heroOf = (text) => text.match(/data-exp-hero="(\w+)"/)?.[1];
// Visitors who were served bold before the stop, to come back after it.
const boldVisitors = [];
const served = { control: 0, bold: 0 };

test(`${VISITORS} visitors: the guardrail stops the variant that raises refunds, and says why and when`, async () => {
  const random = rng(19);
  let next = 0;
  async function one(i) {
    const v = new Visitor(worker.url);
    const page = await v.get('/');
    assert.equal(page.status, 200);
    const hero = heroOf(page.text);
    assert.ok(hero, `visitor ${i} was served the experiment`);
    served[hero] += 1;
    if (hero === 'bold' && boldVisitors.length < 20) boldVisitors.push(v);
    if (random() < 0.2) await send(v, 'purchase', i);
    if (random() < (hero === 'bold' ? 0.2 : 0.02)) await send(v, 'refund', i);
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < VISITORS) await one(next++);
  }));
  assert.ok(served.bold > 200 && served.control > 200, JSON.stringify(served));

  const hero = await eventually(async () => {
    await flushCounters(worker.url, TOKEN);
    await worker.scheduled();
    const r = await admin('experiments');
    const e = r.body.experiments.find((x) => x.key === 'hero_test');
    return e.guardrails?.stopped?.includes('bold') ? e : null;
  }, { timeout: 60_000, every: 1_000, what: 'the guardrail stopping bold' });

  const g = hero.guardrails;
  assert.deepEqual(g.goals, [{ goal: 'refunds', guardrail: 'must_not_increase' }]);
  assert.equal(g.stops.length, 1);
  const stop = g.stops[0];
  assert.equal(stop.variant, 'bold');
  assert.equal(stop.goal, 'refunds');
  assert.equal(stop.active, true);
  assert.ok(stop.p_value < g.threshold, `p ${stop.p_value} under ${g.threshold}`);
  assert.ok(Math.abs(stop.at - Date.now() / 1000) < 120, `stopped just now: ${stop.at}`);
  assert.match(stop.reason, /^guardrail refunds \(must not increase\): bold converted/);
  assert.ok(stop.counts.conversions > stop.control.conversions);
  assert.deepEqual([stop.control.exposures, stop.counts.exposures], hero.exposures, 'the cron tested the counts the results show');
  assert.ok(g.checks.some((c) => c.variant === 'bold' && c.goal === 'refunds' && c.enough_data));
  assert.match(hero.srm.note, /variants still served/);
});

test('after the stop, bold\'s visitors get the control and are not counted; the export says why', async () => {
  // Workers pick up the stop at their next refresh (2 s here).
  await new Promise((r) => setTimeout(r, 2_500));
  const before = (await admin('experiments')).body.experiments.find((x) => x.key === 'hero_test');
  for (const v of boldVisitors) {
    const page = await v.get('/');
    assert.equal(heroOf(page.text), 'control', 'a visitor assigned bold now sees the control');
  }
  const fresh = { control: 0, bold: 0 };
  for (let i = 0; i < 40; i += 1) fresh[heroOf((await new Visitor(worker.url).get('/')).text)] += 1;
  assert.deepEqual(fresh, { control: 40, bold: 0 }, 'nobody is served bold');
  const after = await eventually(async () => {
    await flushCounters(worker.url, TOKEN);
    const e = (await admin('experiments')).body.experiments.find((x) => x.key === 'hero_test');
    return e.exposures[0] > before.exposures[0] ? e : null;
  }, { timeout: 30_000, every: 1_000, what: 'the new control exposures published' });
  assert.equal(after.exposures[1], before.exposures[1], 'bold\'s exposures froze at the stop');

  // The page views of bold's visitors after the stop, in the export (R2 through the queue).
  const records = await eventually(async () => {
    const list = await admin('export');
    if (list.status !== 200) return null;
    const lines = [];
    for (const o of list.body.objects) {
      const r = await fetch(`${worker.url}/__edgeseg/admin/api/export/object?key=${encodeURIComponent(o.key)}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      lines.push(...gunzipSync(Buffer.from(await r.arrayBuffer())).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
    }
    const stopped = lines.filter((l) => l.guardrail_stopped);
    return stopped.length >= boldVisitors.length ? stopped : null;
  }, { timeout: 30_000, every: 1_000, what: 'records of stopped visitors in R2' });
  for (const r of records) {
    assert.equal(r.experiments.hero_test, 'bold', 'the record keeps the assignment');
    assert.deepEqual(Object.keys(r.guardrail_stopped), ['hero_test']);
    assert.equal(r.guardrail_stopped.hero_test.served, 'control');
    assert.equal(r.guardrail_stopped.hero_test.goal, 'refunds');
    assert.equal(typeof r.guardrail_stopped.hero_test.stopped_at, 'number');
  }
});

test('one signed guardrail_stop webhook, however often the cron runs', async () => {
  await eventually(() => deliveries.length >= 1, { timeout: 30_000, every: 250, what: 'the guardrail webhook' });
  for (let i = 0; i < 3; i += 1) await worker.scheduled();
  await new Promise((r) => setTimeout(r, 7_000));
  assert.equal(deliveries.length, 1, JSON.stringify(deliveries.map((d) => d.payload)));
  const { payload, key } = deliveries[0];
  assert.equal(payload.event, 'guardrail_stop');
  assert.equal(payload.activation, 'guardrail_alert');
  assert.equal(payload.experiment, 'hero_test');
  assert.equal(payload.variant, 'bold');
  assert.equal(payload.served, 'control');
  assert.equal(payload.goal, 'refunds');
  assert.equal(payload.guardrail, 'must_not_increase');
  assert.ok(payload.p_value < payload.threshold);
  assert.equal(payload.idempotency_key, key);
  assert.equal(payload.rules_label, 'guardrails-e2e');
});

test('the Experiments tab shows the stop, in Chromium at 1280 and 390 px', { skip: browserMissing() ?? false }, async () => {
  const b = await launchBrowser();
  try {
    for (const [name, viewport] of [['1280', WIDE], ['390', NARROW]]) {
      const page = await b.newPage(viewport);
      await page.goto(`${worker.url}/__edgeseg/admin/`);
      await page.locator('#token').fill(TOKEN);
      await page.locator('#signin-button').click();
      await page.locator('.cm-editor').waitFor();
      await showTab(page, 'experiments');
      const alert = page.locator('#exp-hero_test .guardrail-stop');
      await alert.first().waitFor();
      assert.match(await alert.first().textContent(), /bold.*stopped.*refunds/i);
      assert.equal(await page.locator('#exp-hero_test .guardrail-table tr[data-variant="bold"]').count(), 1);
      assert.equal(await page.locator('#exp-hero_test tr[data-variant="bold"] .badge-stopped').count() > 0, true);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `no sideways scrolling at ${name} px (${overflow})`);
      await screenshot(page, `admin-guardrails-${name}`);
    }
  } finally {
    await b.close();
  }
});

test('a restart through the admin API serves bold again', async () => {
  const refused = await admin('experiments/restart', { method: 'POST', body: JSON.stringify({ experiment: 'hero_test', variant: 'control' }) });
  assert.equal(refused.status, 404);
  assert.match(refused.body.error, /not stopped by a guardrail/);
  const r = await admin('experiments/restart', { method: 'POST', body: JSON.stringify({ experiment: 'hero_test', variant: 'bold' }) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await new Promise((ok) => setTimeout(ok, 2_500));
  const page = await boldVisitors[0].get('/');
  assert.equal(heroOf(page.text), 'bold', 'the variant is served again');
  const e = (await admin('experiments')).body.experiments.find((x) => x.key === 'hero_test');
  assert.deepEqual(e.guardrails.stopped, []);
  assert.equal(e.guardrails.stops[0].active, false);
  assert.equal(typeof e.guardrails.stops[0].restarted_at, 'number');
});
