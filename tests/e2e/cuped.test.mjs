// CUPED from the cookie end to end in workerd (issue 19, item 3): simulated
// visitors whose purchase history predicts whether they buy again. Each
// visitor first looks at a page without the experiment's block (no exposure),
// buys 0 to 4 times (their history, kept in their cookie), then opens the
// home page, which exposes them (their history goes into the counters' sums
// and stays in the cookie), then buys or not: likelier for past buyers, and a
// little likelier in the "bold" variant. Once the counts are published, the
// results endpoint must show the CUPED-adjusted uplift beside the raw one with
// a clearly narrower interval and the variance reduction; a goal nobody had
// history for says so instead of showing numbers. Then the Experiments tab in
// Chromium at 1280 and 390 px (screenshots in test-output/screenshots/).
// Under Miniflare, as experiments.test.mjs: this many requests are a load.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Visitor, eventually, flushCounters } from './harness.mjs';
import { startMiniflare } from '../load/miniflare.mjs';
import { browserMissing, launchBrowser, screenshot } from './browser.mjs';
import { WIDE, NARROW, showTab } from './admin-page-checks.mjs';

const TOKEN = 'e2e-admin-token-cuped';
const VISITORS = 1200;
const CONCURRENCY = 12;

const RULES = {
  format: 1,
  version: 'cuped-e2e',
  settings: { refresh_seconds: 2 },
  events: { purchase: {}, signup: {} },
  segments: [{ id: 'everyone', condition: {} }],
  blocks: { offer: { content: {} }, cta: { content: {} } },
  experiments: {
    offer_copy: {
      segment: 'everyone',
      status: 'running',
      variants: [
        { id: 'control', content: { offer: { inner_html: '<span data-exp-offer="control">Free returns</span>' } } },
        { id: 'bold', content: { offer: { inner_html: '<span data-exp-offer="bold">20 % off today</span>' } } },
      ],
      goals: {
        purchase: { event: 'purchase', window: '1d' },
        revenue: { event: 'purchase', window: '1d', value: 'amount' },
        signup: { event: 'signup', window: '1d' },
      },
    },
  },
};

let worker;
before(async () => {
  worker = await startMiniflare({ edgeseg: true, assets: true, rules: JSON.stringify(RULES), vars: { EDGESEG_ADMIN_TOKEN: TOKEN } });
});
after(async () => { await worker?.stop(); });

function rng(seed) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

async function admin(path) {
  const r = await fetch(`${worker.url}/__edgeseg/admin/api/${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return r.json();
}

const clientAddress = (i) => `2001:db8::c:${i.toString(16)}`;

// Sends events as the page script would, keeping the cookie the Worker sets.
async function send(v, events, i) {
  const res = await fetch(`${worker.url}/__edgeseg/event`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: v.cookieHeader(), 'cf-connecting-ip': clientAddress(i) },
    body: JSON.stringify({ events }),
  });
  assert.equal(res.status, 204);
  for (const sc of res.headers.getSetCookie()) {
    const [pair] = sc.split(';');
    const at = pair.indexOf('=');
    v.cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
  }
}

const purchase = (amount) => ({ name: 'purchase', props: { amount }, path: '/checkout' });

test(`${VISITORS} visitors whose history predicts buying: CUPED narrows the uplift interval`, async () => {
  const random = rng(19);
  let next = 0;
  const exposed = { control: 0, bold: 0 };
  async function one(i) {
    const v = new Visitor(worker.url);
    // Browsing before the experiment's block is in front of them: no exposure.
    const cart = await v.get('/cart');
    assert.equal(cart.status, 200);
    assert.doesNotMatch(cart.text, /data-exp-offer/);
    const roll = random();
    const prior = roll < 0.5 ? 0 : roll < 0.75 ? 1 : roll < 0.88 ? 2 : roll < 0.96 ? 3 : 4;
    const amounts = Array.from({ length: prior }, () => 20 + Math.round(random() * 8000) / 100);
    if (prior) await send(v, amounts.map(purchase), i);
    const home = await v.get('/');
    const variant = home.text.match(/data-exp-offer="(\w+)"/)?.[1];
    assert.ok(variant, `visitor ${i} was exposed on the home page`);
    exposed[variant] += 1;
    const p = 0.02 + 0.18 * prior + (variant === 'bold' ? 0.03 : 0);
    const [buys, amount] = [random() < p, 20 + Math.round(random() * 8000) / 100];
    // Any request after the exposure page confirms the exposure into the cookie.
    if (buys) await send(v, [purchase(amount + 0.3 * amounts.reduce((a, b) => a + b, 0))], i);
    else await v.get('/cart');
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < VISITORS) await one(next++);
  }));

  const results = await eventually(async () => {
    await flushCounters(worker.url, TOKEN);
    const r = await admin('experiments');
    const e = r.experiments.find((x) => x.key === 'offer_copy');
    return e.exposures.reduce((a, b) => a + b, 0) === VISITORS ? r : null;
  }, { timeout: 60_000, every: 1_000, what: `${VISITORS} exposures published` });
  const e = results.experiments.find((x) => x.key === 'offer_copy');
  assert.deepEqual(e.exposures, [exposed.control, exposed.bold]);

  const [control, bold] = e.goals.purchase.variants;
  // Past purchases per exposed visitor, as the counters summed them: about 0.96.
  for (const row of [control, bold]) assert.ok(row.covariate_mean > 0.7 && row.covariate_mean < 1.25, `covariate mean ${row.covariate_mean}`);
  const raw = bold.vs_control.absolute;
  const cuped = bold.vs_control.cuped;
  assert.match(cuped.covariate, /purchase events in the 14 days before exposure/);
  assert.equal(cuped.rate.not_adjusted, undefined, JSON.stringify(cuped.rate));
  const width = (i) => i.high - i.low;
  assert.ok(width(cuped.rate.absolute) < 0.92 * width(raw),
    `CUPED interval ${JSON.stringify(cuped.rate.absolute)} against raw ${JSON.stringify(raw)}`);
  assert.ok(cuped.rate.variance_reduction > 0.1, `variance reduction ${cuped.rate.variance_reduction}`);
  assert.ok(cuped.rate.theta > 0, 'past purchases predict purchases');
  assert.ok(Math.abs(width(cuped.rate.raw_absolute) - width(raw)) < 1e-12, 'the raw interval beside it is the raw result');

  // Revenue: past value predicts value per visitor.
  const revenue = e.goals.revenue.variants[1].vs_control;
  assert.equal(revenue.cuped.value.not_adjusted, undefined, JSON.stringify(revenue.cuped.value));
  assert.ok(width(revenue.cuped.value.absolute) < width(revenue.value_difference));
  assert.ok(revenue.cuped.value.variance_reduction > 0.05, `revenue variance reduction ${revenue.cuped.value.variance_reduction}`);

  // Nobody ever signed up: no history, nothing to adjust, and the results say so.
  const signup = e.goals.signup.variants[1].vs_control.cuped.rate;
  assert.match(signup.not_adjusted, /no visitor had pre-exposure history/);
  assert.equal(signup.absolute, undefined);
});

test('the Experiments tab shows CUPED beside the raw uplift, at 1280 and 390 px', { skip: browserMissing() ?? false }, async () => {
  const b = await launchBrowser();
  try {
    for (const [name, viewport] of [['1280', WIDE], ['390', NARROW]]) {
      const page = await b.newPage(viewport);
      await page.goto(`${worker.url}/__edgeseg/admin/`);
      await page.locator('#token').fill(TOKEN);
      await page.locator('#signin-button').click();
      await page.locator('.cm-editor').waitFor();
      await showTab(page, 'experiments');
      const section = page.locator('#exp-offer_copy details.cuped[data-goal="purchase"]');
      await section.waitFor();
      assert.match(await section.locator('summary').textContent(), /CUPED/);
      assert.match(await section.textContent(), /purchase events in the 14 days before exposure/);
      const row = section.locator('tr[data-variant="bold"][data-metric="rate"]');
      assert.match(await row.locator('.cuped-adjusted').textContent(), /^[+−]\d+\.\d\d \[[+−]\d+\.\d\d, [+−]\d+\.\d\d\]$/);
      assert.match(await row.locator('.cuped-reduction').textContent(), /^\d+ % · interval \d+ % narrower$/);
      const revenue = page.locator('#exp-offer_copy details.cuped[data-goal="revenue"] tr[data-metric="value"]');
      assert.equal(await revenue.count(), 1, 'a value goal shows the adjusted value per visitor too');
      const none = page.locator('#exp-offer_copy details.cuped[data-goal="signup"] .cuped-none');
      assert.match(await none.textContent(), /no visitor had pre-exposure history/);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `no sideways scrolling at ${name} px (${overflow})`);
      await section.scrollIntoViewIfNeeded();
      await screenshot(page, `admin-experiments-cuped-${name}`);
    }
  } finally {
    await b.close();
  }
});
