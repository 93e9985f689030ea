// A marketer's day in the admin page, in headless Chromium against the real Worker in
// workerd, without typing JSON anywhere: a value signal (sum) and an affinity signal with
// their forms, a segment on them with its hero, an experiment with two variants and a
// holdout on the segment, a preview link of the variant (opened, seen, revoked) and one of
// unsaved changes (saved as a draft), simulated shoppers (the harness's Visitor), the
// experiment's result read in the Experiments tab, and a rollback from Versions.
// Screenshots at 390 and 1280 px of the new forms and the Experiments tab, with axe-core
// (no serious or critical violation). The rules start with events and blocks only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startWorker, ROOT, eventually, Visitor, flushCounters } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';
import { signIn, fillDialog, waitText, editorText, showTab, WIDE, NARROW } from './admin-page-checks.mjs';

const skip = browserMissing() ?? false;
const TOKEN = 'journey-admin-token-0123456789';
const AXE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');
const START = {
  format: 1,
  version: 'journey',
  settings: { refresh_seconds: 2 },
  events: {
    add_to_cart: { remember: '30d', description: 'props: category' },
    purchase: { remember: '90d', description: 'props: value (the order total)', props: { value: { min: 0, max: 10000 } } },
  },
  signals: {},
  segments: [],
  blocks: { hero: { content: {} }, offer: { content: {} }, cta: { content: {} } },
};
const VARIANT_HTML = '<h1 data-journey="free_shipping">Free shipping on your next order</h1>';
const DRAFT_HTML = '<h1 data-journey="free_shipping">Free shipping, on us</h1>';
const SEGMENT_HTML = '<h1 data-journey="keen">Welcome back, keen shopper</h1>';

let worker;
let browser;
const api = async (method, path, body) => {
  const r = await fetch(`${worker.url}/__edgeseg/admin/api/${path}`, {
    method, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, json: await r.json().catch(() => null) };
};

before(async () => {
  worker = await startWorker({ rules: JSON.stringify(START, null, 2), vars: { EDGESEG_ADMIN_TOKEN: TOKEN } });
  const r = await fetch(`${worker.url}/__edgeseg/admin/api/rules`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text: `${JSON.stringify(START, null, 2)}\n`, author: 'seed', message: 'events and blocks only' }),
  });
  assert.equal(r.status, 200, await r.text());
  if (!skip) browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await worker?.stop();
});

/** Full-page picture with the sandboxed preview frames painted (the viewport as tall as the page). */
async function shot(p, name) {
  await p.evaluate(() => document.fonts.ready);
  const vp = p.viewportSize();
  const height = await p.evaluate(() => document.documentElement.scrollHeight);
  await p.setViewportSize({ width: vp.width, height: Math.min(height, 9000) });
  await p.waitForTimeout(300);
  try { return await screenshot(p, `journey-${name}`); } finally { await p.setViewportSize(vp); }
}

async function axeCheck(p, where, violations) {
  await p.addScriptTag({ path: AXE });
  const r = await p.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const res = await axe.run({ include: [['body']], exclude: [['.cm-scroller']] }, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  for (const v of r) if (v.impact === 'serious' || v.impact === 'critical') violations.push({ where, ...v });
  const wide = await p.evaluate(() => document.documentElement.scrollWidth);
  const vw = p.viewportSize().width;
  assert.ok(wide <= vw + 1, `${where}: the page is ${wide}px wide at ${vw}px`);
}

async function saveWith(page, button, message, statusSel) {
  await page.locator(button).click();
  await fillDialog(page, '#save-dialog', { message, author: 'Mia Marketer' });
  await waitText(page, statusSel, /Saved as revision \d+/);
}

/** A shopper: adds to the cart (a member of the segment from then on), sees the home page, maybe buys. */
async function shop(i, buys) {
  const v = new Visitor(worker.url);
  const ip = `2001:db8::${(i + 1).toString(16)}`;
  const send = async (events) => {
    const res = await fetch(`${worker.url}/__edgeseg/event`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: v.cookieHeader(), 'cf-connecting-ip': ip },
      body: JSON.stringify({ events }),
    });
    assert.equal(res.status, 204, await res.text());
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const k = pair.indexOf('=');
      v.cookies.set(pair.slice(0, k).trim(), pair.slice(k + 1).trim());
    }
  };
  await v.get('/products/trail-runner');
  await send([{ name: 'add_to_cart', props: { category: 'shoes' }, path: '/products/trail-runner' }]);
  const home = await v.get('/');
  const arm = home.text.includes('data-journey="free_shipping"') ? 'free_shipping' : home.text.includes('data-journey="keen"') ? 'keen' : 'default';
  await v.get('/category/'); // the next request carries the exposure into the cookie
  if (buys) await send([{ name: 'purchase', props: { value: 40 + (i % 7) * 10 }, path: '/checkout/complete' }]);
  return arm;
}

test('a marketer builds, previews, runs, reads and rolls back an experiment without typing JSON', { skip, timeout: 420_000 }, async (t) => {
  const page = await browser.newPage(WIDE);
  page.setDefaultTimeout(20_000);
  page.on('dialog', (d) => d.accept());
  const typedInEditor = [];
  const base = `${worker.url}/__edgeseg/admin/`;
  let failed = null;
  const step = (name, fn) => t.test(name, { skip: failed ? `an earlier step failed (${failed})` : false }, async () => {
    try { await fn(); } catch (e) { failed = name; throw e; }
  });
  await signIn(page, base, TOKEN);
  // Nothing in this journey types into the JSON editor: every keystroke there is recorded.
  await page.evaluate(() => {
    document.querySelector('.cm-content').addEventListener('beforeinput', (e) => { (window.__typed ||= []).push(e.inputType); });
  });
  const firstRevision = (await api('GET', 'rules')).json.revision;
  let experimentRevision = null;

  await step('a value signal with its form: the total of purchases over 30 days', async () => {
    await showTab(page, 'signals');
    await page.locator('#new-signal').click();
    await page.locator('#signal-builder').waitFor();
    await page.locator('#signal-name').fill('spend_30d');
    await page.locator('#signal-kind').selectOption('sum');
    await page.locator('#signal-event').selectOption('purchase');
    await page.getByLabel('Property holding the amount').fill('value');
    await page.locator('#signal-within').fill('30');
    await page.locator('#signal-within-unit').selectOption('d');
    await waitText(page, '#signal-sentence', /the total “value” of “purchase” events in the last 30 days/);
    await shot(page, 'value-signal-1280');
    await saveWith(page, '#signal-save', 'spend over 30 days', '#signal-status');
    assert.deepEqual(JSON.parse((await api('GET', 'rules')).json.text).signals.spend_30d, { sum: 'purchase', property: 'value', within: '30d' });
  });

  await step('an affinity signal with its form: the category most added to the cart', async () => {
    await page.locator('#signal-done').click();
    await page.locator('#new-signal').click();
    await page.locator('#signal-builder').waitFor();
    await page.locator('#signal-name').fill('fav_category');
    await page.locator('#signal-kind').selectOption('affinity');
    await page.locator('#affinity-0-from').selectOption('property');
    await page.locator('#affinity-0-event').selectOption('add_to_cart');
    await page.locator('#affinity-0-property').fill('category');
    await page.locator('#signal-half-life').fill('7');
    await page.locator('#signal-half-life-unit').selectOption('d');
    await waitText(page, '#signal-sentence', /top interest .*“add to cart” by “category”, fading by half every 7 days/);
    await shot(page, 'affinity-signal-1280');
    await saveWith(page, '#signal-save', 'favourite category', '#signal-status');
    assert.deepEqual(JSON.parse((await api('GET', 'rules')).json.text).signals.fav_category, { affinity: [{ event: 'add_to_cart', property: 'category' }], half_life: '7d' });
  });

  await step('a segment on the signals, with its hero', async () => {
    await showTab(page, 'segments');
    await page.locator('#new-segment').click();
    await page.locator('#segment-builder').waitFor();
    await page.getByLabel('Segment id').fill('keen_shopper');
    await page.getByLabel('Description').fill('Shoes first, not a big spender yet');
    await page.locator('.add-row').first().click();
    const row = page.locator('.cond-row').last();
    await row.locator('select.row-attr').selectOption('fav_category');
    await row.locator('select.row-op').selectOption('$eq');
    await page.locator('.cond-row').last().locator('input.row-value').fill('shoes');
    await page.locator('.add-row').first().click();
    const row2 = page.locator('.cond-row').last();
    await row2.locator('select.row-attr').selectOption('spend_30d');
    await row2.locator('select.row-op').selectOption('$lt');
    await page.locator('.cond-row').last().locator('input.row-value').fill('500');
    await waitText(page, '#builder-sentence', /is most interested in “shoes”, and the total “value” of “purchase” events in the last 30 days is less than 500/);
    await page.locator('[data-block="hero"] .change-block').click();
    await page.locator('[data-block="hero"] textarea.html-inner_html').fill(SEGMENT_HTML);
    await saveWith(page, '#builder-save', 'keen shoppers get a welcome hero', '#builder-status');
    const seg = JSON.parse((await api('GET', 'rules')).json.text).segments.find((s) => s.id === 'keen_shopper');
    assert.deepEqual(seg.condition, { fav_category: { $eq: 'shoes' }, spend_30d: { $lt: 500 } });
  });

  await step('an experiment in the segment, from its card: two variants, a goal, started', async () => {
    await page.locator('#builder-done').click();
    const card = page.locator('.segment-card[data-segment="keen_shopper"]');
    await card.locator('.new-segment-experiment').click();
    await page.locator('#experiment-editor').waitFor();
    await page.getByLabel('Key', { exact: true }).fill('hero_test');
    await page.getByLabel('Description').fill('Free shipping in the hero against the welcome');
    assert.equal(await page.getByLabel('Who enters: members of the segment').inputValue(), 'keen_shopper');
    const b = page.locator('.variant[data-index="1"]');
    await b.getByLabel('Variant id', { exact: true }).fill('free_shipping');
    await page.locator('.variant[data-index="1"] [data-block="hero"] textarea.html-inner_html').fill(VARIANT_HTML);
    const frame = page.locator('.variant[data-index="1"] [data-block="hero"] iframe');
    assert.equal(await frame.getAttribute('sandbox'), '');
    assert.match(await frame.getAttribute('srcdoc'), /Free shipping on your next order/);
    await page.locator('.add-goal').click();
    await page.locator('.goal-row').first().getByLabel('Converts on the event').selectOption('purchase');
    await page.locator('.goal-row').first().getByLabel('Value property (optional)').fill('value');
    await page.getByLabel('Coverage: share of the entering visitors in the experiment').fill('1');
    await waitText(page, '.exp-sentence', /members of keen_shopper; split control 50 %, free_shipping 50 %; a draft/);
    await shot(page, 'experiment-editor-1280');
    await page.locator('.exp-start').click();
    await fillDialog(page, '#save-dialog', { message: 'start the hero test', author: 'Mia Marketer' });
    await waitText(page, '#exp-editor-status', /Saved as revision \d+/);
    const stored = JSON.parse((await api('GET', 'rules')).json.text).experiments.hero_test;
    assert.deepEqual(stored, {
      segment: 'keen_shopper', status: 'running', description: 'Free shipping in the hero against the welcome',
      variants: [{ id: 'control' }, { id: 'free_shipping', content: { hero: { inner_html: VARIANT_HTML } } }],
      coverage: 1,
      goals: { purchase: { event: 'purchase', value: 'value' } },
    });
    experimentRevision = (await api('GET', 'rules')).json.revision;
  });

  await step('a holdout on the segment', async () => {
    await page.locator('#exp-done').click();
    await page.locator('#exp-rules [data-experiment="hero_test"]').waitFor();
    await page.locator('#new-holdout-segment').selectOption({ label: 'keen_shopper' });
    await page.locator('#new-holdout').click();
    await page.locator('#holdout-editor').waitFor();
    await page.getByLabel('Share of the members held out').fill('0.2');
    await page.locator('.add-goal').click();
    await page.locator('.goal-row').first().getByLabel('Converts on the event').selectOption('purchase');
    await shot(page, 'holdout-editor-1280');
    await saveWith(page, '#holdout-save', 'hold out a fifth of the keen shoppers', '#holdout-status');
    const seg = JSON.parse((await api('GET', 'rules')).json.text).segments.find((s) => s.id === 'keen_shopper');
    assert.deepEqual(seg.holdout, { share: 0.2, goals: { purchase: { event: 'purchase' } } });
    await page.locator('#holdout-done').click();
    assert.match(await page.locator('#exp-rules [data-holdout="keen_shopper"]').textContent(), /20 % of keen_shopper’s members keep the default content/);
  });

  let link = null;
  await step('a preview link of the variant: made, copied, opened (the variant shows), then revoked', async () => {
    await page.locator('#preview-links > summary').click();
    await page.locator('.pl-seg input[value="keen_shopper"]').check();
    await page.locator('#pl-var-hero_test').selectOption('free_shipping');
    await page.locator('#pl-ttl').fill('2h');
    await page.locator('#pl-make').click();
    link = await page.locator('#pl-url').inputValue();
    assert.match(link, /__edgeseg_preview=/);
    await page.locator('#pl-copy').click();
    await page.locator('.pl-link').first().waitFor();
    assert.match(await page.locator('.pl-link').first().textContent(), /keen_shopper, hero_test: free_shipping on \/ · until/);
    await shot(page, 'preview-links-1280');
    const other = await browser.newPage(WIDE);
    await eventually(async () => {
      await other.goto(link);
      return (await other.content()).includes('Free shipping on your next order');
    }, { timeout: 20_000, every: 1_000, what: 'the variant on the previewed page' });
    assert.match(await other.locator('[data-edgeseg-preview]').textContent(), /forcing keen_shopper, hero_test=free_shipping/);
    await shot(other, 'preview-opened-1280');
    await page.locator('.pl-revoke').first().click();
    await waitText(page, '.pl-link', /revoked/);
    // The browser that opened it gets the ordinary page from its next request on.
    await eventually(async () => {
      await other.goto(`${worker.url}/`);
      return !(await other.content()).includes('Free shipping on your next order');
    }, { timeout: 90_000, every: 2_000, what: 'the revoked preview to end' });
    const cookies = await other.context().cookies();
    assert.ok(!cookies.some((c) => c.name === 'edgeseg_preview' && c.value), 'the preview cookie is cleared');
    await other.close();
  });

  await step('a preview link of unsaved changes: saved as a draft (not live), opened, the changed variant shows', async () => {
    await page.locator('#exp-rules [data-experiment="hero_test"] .edit-experiment').click();
    await page.locator('#experiment-editor').waitFor();
    await page.locator('.variant[data-index="1"] [data-block="hero"] textarea.html-inner_html').fill(DRAFT_HTML);
    await page.locator('#exp-done').click();
    if (!(await page.locator('#preview-links').evaluate((d) => d.open))) await page.locator('#preview-links > summary').click();
    await page.locator('.pl-seg input[value="keen_shopper"]').check();
    await page.locator('#pl-var-hero_test').selectOption('free_shipping');
    await page.locator('#pl-draft').check();
    await page.locator('#pl-make').click();
    await fillDialog(page, '#draft-dialog', { message: 'a warmer free-shipping hero' });
    await waitText(page, '#pl-result', /\(draft \d+\)/);
    const url = await page.locator('#pl-url').inputValue();
    const other = await browser.newPage(WIDE);
    await other.goto(url);
    assert.match(await other.content(), /Free shipping, on us/);
    assert.match(await other.locator('[data-edgeseg-preview]').textContent(), /forcing draft \d+, keen_shopper, hero_test=free_shipping/);
    await other.close();
    // Not live: a shopper of the segment still gets the saved variant or the control.
    assert.doesNotMatch((await api('GET', 'rules')).json.text, /Free shipping, on us/);
    await showTab(page, 'rules');
    await page.locator('#reload').click();
    await waitText(page, '.rules-status', /Loaded the stored rules/);
    await showTab(page, 'experiments');
  });

  const arms = {};
  await step('simulated shoppers: members get the variants and the holdout keeps the default', async () => {
    await eventually(async () => (await shop(999, false)) !== 'default', { timeout: 20_000, every: 1_000, what: 'the experiment in force' });
    for (let i = 0; i < 120; i++) {
      const arm = await shop(i, i % 3 === 0);
      arms[arm] = (arms[arm] || 0) + 1;
    }
    assert.ok(arms.free_shipping > 20 && arms.keen > 20, JSON.stringify(arms));
    assert.ok((arms.default || 0) > 5, `some are held out: ${JSON.stringify(arms)}`);
    await flushCounters(worker.url, TOKEN);
  });

  await step('the experiment’s result in the Experiments tab', async () => {
    await eventually(async () => {
      await flushCounters(worker.url, TOKEN);
      const r = await api('GET', 'experiments?days=1');
      const e = r.json?.experiments?.find((x) => x.key === 'hero_test');
      return e && e.exposures.reduce((a, b) => a + b, 0) >= 40;
    }, { timeout: 60_000, every: 2_000, what: 'the exposures published' });
    const card = page.locator('#exp-hero_test');
    const rows = card.locator('table.exp-table[data-goal="purchase"] tbody tr');
    const cell = async (i, label) => Number((await rows.nth(i).locator(`td[data-label="${label}"]`).textContent()).replace(/\D/g, ''));
    // Refresh, and read the table its answer drew.
    await eventually(async () => {
      const answered = page.waitForResponse((r) => r.url().includes('/api/experiments?'));
      await page.locator('#experiments-overview button:has-text("Refresh")').click();
      await answered;
      await card.locator('table.exp-table').first().waitFor();
      return (await cell(1, 'Exposures')) > 0;
    }, { timeout: 30_000, every: 1_000, what: 'the results drawn' });
    assert.equal(await rows.count(), 2);
    const exposures = await cell(1, 'Exposures');
    assert.ok(exposures > 15, `free_shipping exposures ${exposures}`);
    const conversions = Number((await rows.nth(1).locator('td[data-label="Conversions"]').textContent()).replace(/\D/g, ''));
    assert.ok(conversions > 0, 'conversions counted');
    await page.locator('#exp-holdout_keen_shopper').waitFor();
    await shot(page, 'experiments-results-1280');
    await page.setViewportSize(NARROW);
    await shot(page, 'experiments-results-390');
    await page.setViewportSize(WIDE);
  });

  await step('roll back to the revision before the experiment', async () => {
    await showTab(page, 'versions');
    await page.locator(`button.version[data-revision="${experimentRevision - 1}"]`).click();
    await page.locator('#rollback').click();
    await fillDialog(page, '#rollback-dialog', { message: 'no test over the holidays' });
    await eventually(async () => {
      const now = JSON.parse((await api('GET', 'rules')).json.text);
      return !now.experiments?.hero_test && now.segments.some((s) => s.id === 'keen_shopper');
    }, { timeout: 15_000, what: 'the rolled-back rules' });
    await showTab(page, 'experiments');
    await page.locator('#exp-rules').waitFor();
    assert.equal(await page.locator('#exp-rules [data-experiment="hero_test"]').count(), 0);
    assert.ok((await api('GET', 'rules')).json.revision > experimentRevision);
    assert.ok(firstRevision < experimentRevision);
  });

  await step('nothing was typed into the JSON editor; no script errors', async () => {
    typedInEditor.push(...(await page.evaluate(() => window.__typed || [])));
    assert.deepEqual(typedInEditor, []);
    assert.deepEqual((page.__errors || []).map(String), []);
    assert.ok(JSON.parse(await editorText(page)));
  });

  for (const [vp, tag] of [[WIDE, '1280'], [NARROW, '390']]) {
    await step(`the new forms and the Experiments tab at ${tag} px: no serious accessibility violations (axe-core), nothing wider than the screen`, async () => {
      const p = await browser.newPage(vp);
      p.setDefaultTimeout(20_000);
      p.on('dialog', (d) => d.accept());
      const violations = [];
      await signIn(p, base, TOKEN);
      await showTab(p, 'experiments');
      await p.locator('#exp-rules').waitFor();
      await p.locator('#preview-links > summary').click();
      await p.locator('.pl-seg').first().waitFor();
      await axeCheck(p, 'experiments tab', violations);
      await shot(p, `experiments-tab-${tag}`);
      await p.locator('#new-experiment').click();
      await p.locator('#experiment-editor').waitFor();
      await p.locator('.add-goal').click();
      await p.getByLabel('Allocation').selectOption('bandit');
      await axeCheck(p, 'experiment editor', violations);
      await shot(p, `experiment-editor-${tag}`);
      await p.locator('#exp-done').click();
      await p.locator('#new-holdout').click();
      await p.locator('#holdout-editor').waitFor();
      await axeCheck(p, 'holdout editor', violations);
      await shot(p, `holdout-editor-${tag}`);
      await p.locator('#holdout-done').click();
      await showTab(p, 'segments');
      await p.locator('.segment-card[data-segment="keen_shopper"]').waitFor();
      await axeCheck(p, 'segments with their experiments', violations);
      await showTab(p, 'signals');
      await p.locator('#new-signal').click();
      await axeCheck(p, 'signal form', violations);
      await shot(p, `signal-form-${tag}`);
      assert.deepEqual(violations, [], JSON.stringify(violations, null, 1));
      assert.deepEqual((p.__errors || []).map(String), []);
      await p.close();
    });
  }
  await page.close();
});
