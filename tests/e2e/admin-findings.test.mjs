// What a first session with the admin page ran into (issue 23), checked in
// Chromium against the real Worker, each where it would have been caught:
// Simulate with event properties (item 7: the admin API and the Simulate tab
// honour an event's properties, so a value-based segment such as big_spender,
// spend_90d >= 200, can be checked before it goes live; before,
// `"props": {"value": 300}` was ignored silently), the first sign-in's
// revision line, tabs and ids at 390 px, and the Cache tab with the cache off.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, ROOT } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';
import { signIn, showTab, waitText, fillDialog } from './admin-page-checks.mjs';

const skip = browserMissing() ?? false;
const TOKEN = 'e2e-admin-token-0123456789';
const rules = await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8');
let worker;
let browser;

before(async () => {
  worker = await startWorker({ rules, vars: { EDGESEG_ADMIN_TOKEN: TOKEN } });
  if (!skip) browser = await launchBrowser();
});
after(async () => { await browser?.close(); await worker?.stop(); });

async function simulate(events) {
  const res = await fetch(`${worker.url}/__edgeseg/admin/api/simulate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events, url: 'https://shop.test/' }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

test('api/simulate: purchases with values make a big spender; the same purchases without values do not', async () => {
  const orders = (props) => [
    { name: 'purchase', path: '/checkout', ago: '3d', ...(props ? { props: { value: '129.00' } } : {}) },
    { name: 'purchase', path: '/checkout', ago: '1d', ...(props ? { props: { value: 90 } } : {}) },
  ];
  const withValues = await simulate(orders(true));
  assert.equal(withValues.signals.spend_90d, 219);
  assert.ok(withValues.segments.includes('big_spender'), JSON.stringify(withValues.segments));
  const without = await simulate(orders(false));
  assert.equal(without.signals.spend_90d, 0);
  assert.ok(!without.segments.includes('big_spender'));
});

for (const [width, height] of [[390, 844], [1280, 900]]) {
  test(`the Simulate tab's Properties field reaches the simulation (${width} px)`, { skip }, async () => {
    const page = await browser.newPage({ width, height });
    await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);
    // Issue 23: rules seeded into KV (no revision yet) read "Revision 0 · unknown, 20792 d ago".
    await waitText(page, '#rules-meta', /Rules put into KV directly/);
    assert.doesNotMatch(await page.locator('#rules-meta').textContent(), /\d+ d ago|unknown/);
    if (width === 390) await screenshot(page, 'rules-first-sign-in-390');
    await showTab(page, 'simulate');
    const rows = page.locator('#event-rows .event-row');
    while (await rows.count() > 0) await rows.first().locator('.remove-event').click();
    for (const [ago, props] of [['3d', 'value=129.00'], ['1d', 'value=90, category=boots']]) {
      await page.locator('#add-event').click();
      const row = rows.last();
      await row.locator('.ev-name').fill('purchase');
      await row.locator('.ev-path').fill('/checkout');
      await row.locator('.ev-ago').fill(ago);
      await row.locator('.ev-props').fill(props);
    }
    const post = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/api/simulate'));
    await page.locator('#run-simulation').click();
    const body = JSON.parse((await post).postData());
    assert.deepEqual(body.events.map((e) => e.props), [{ value: '129.00' }, { value: '90', category: 'boots' }]);
    await page.locator('#sim-segments .chip').first().waitFor();
    const chips = await page.locator('#sim-segments .chip').allTextContents();
    assert.ok(chips.includes('big_spender'), chips.join(', '));
    // Issue 23: every segment listed best first (priority), as content is chosen.
    const listed = await page.locator('#sim-outcomes tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.children[1].textContent)));
    assert.deepEqual(listed, [...listed].sort((x, y) => y - x), 'by priority');
    // Issue 23: ids wrap only after an underscore, never inside a word.
    const brokenInside = await page.evaluate(() => {
      const bad = [];
      for (const cell of document.querySelectorAll('#sim-outcomes tbody td:first-child, #sim-signals th')) {
        const lines = new Set();
        for (const node of cell.childNodes) {
          if (node.nodeType !== Node.TEXT_NODE) continue;
          const range = document.createRange();
          range.selectNodeContents(node);
          const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
          if (tops.size > 1) bad.push(node.textContent);
          tops.forEach((t) => lines.add(t));
        }
      }
      return bad;
    });
    assert.deepEqual(brokenInside, [], 'parts of ids broken mid-word');
    // Issue 23: at 390 px only about 4 of 8 tabs were visible, with no hint of the rest.
    const tabsOut = await page.locator('.tabs .tab').evaluateAll((tabs) => tabs
      .filter((t) => { const r = t.getBoundingClientRect(); return r.left < 0 || r.right > window.innerWidth + 0.5; })
      .map((t) => t.textContent));
    assert.deepEqual(tabsOut, [], 'tabs outside the window');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the window`);
    await screenshot(page, `simulate-props-${width}`);
    // A property that is not name=value is caught before sending.
    await rows.first().locator('.ev-props').fill('129');
    await page.locator('#run-simulation').click();
    await waitText(page, '.simulate-status', /not like name=value/);
    await page.close();
  });
}

test('the Cache tab says the origin cache is off and how to turn it on, and offers no purge', { skip }, async () => {
  const page = await browser.newPage({ width: 390, height: 844 });
  await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);
  await showTab(page, 'cache');
  await page.locator('#cache-off').waitFor({ state: 'visible' });
  assert.match(await page.locator('#cache-off').textContent(), /origin cache is off.*"settings": \{"origin_cache": \{"enabled": true\}\}/s);
  assert.ok(await page.locator('#purge-path-button').isDisabled());
  assert.ok(await page.locator('#purge-all-button').isDisabled());
  await screenshot(page, 'admin-cache-off-390');
  await page.close();
});

test('an experiment saved in the Rules tab shows in the Experiments tab without a page reload', { skip }, async () => {
  const page = await browser.newPage({ width: 1280, height: 900 });
  await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);
  await showTab(page, 'experiments');
  await page.locator('#exp-new_gear_checkout').waitFor();
  assert.equal(await page.locator('#exp-cta_copy_test').count(), 0);
  // The marketer adds an experiment in the JSON and saves it.
  await showTab(page, 'rules');
  await page.evaluate(() => {
    const doc = JSON.parse(window.edgesegAdmin.editor.getText());
    doc.experiments.cta_copy_test = { ...doc.experiments.new_gear_checkout, description: 'copy test' };
    window.edgesegAdmin.editor.setText(JSON.stringify(doc, null, 2));
  });
  await page.locator('#save').click();
  await fillDialog(page, '#save-dialog', { message: 'a second experiment', author: 'e2e' });
  await waitText(page, '.rules-status', /Saved as revision/);
  // Issue 23: 1.5 s after saving, the tab still said "No experiments in the rules yet" (loaded once, never again).
  await showTab(page, 'experiments');
  await page.locator('#exp-cta_copy_test').waitFor({ timeout: 20_000 });
  await page.close();
});

test("a segment's card says which experiment replaces its content, and its holdout", { skip }, async () => {
  const page = await browser.newPage({ width: 390, height: 844 });
  await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);
  await showTab(page, 'segments');
  const card = page.locator('.segment-card[data-segment="new_gear_shopper"]');
  await card.waitFor();
  const note = await card.locator('.experiments-note').textContent();
  assert.match(note, /new_gear_checkout \(running\): its variants \([^)]+\) replace this segment's \w+/);
  assert.match(note, /a holdout: 20 % of its visitors keep the default content/);
  assert.equal(await page.locator('.segment-card[data-segment="returning_visitor"] .experiments-note').count(), 0);
  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(ROOT, 'test-output', 'screenshots', 'segment-card-experiment-390.png') });
  await page.close();
});

test('the store at 390 px: a long campaign name in the personalized hero and offer wraps instead of widening the page', { skip }, async () => {
  const page = await browser.newPage({ width: 390, height: 844 });
  for (const campaign of ['spring_newsletter_2026_week14_variantB', 'x'.repeat(300)]) {
    await page.goto(`${worker.url}/?utm_campaign=${campaign}`);
    await page.locator('[data-variant="campaign_visitor"]').first().waitFor();
    assert.match(await page.locator('[data-edgeseg-block="hero"]').textContent(), new RegExp(campaign.slice(0, 30)));
    // Issue 23: 413 px wide with the realistic name, 3,364 px with the long one.
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page is ${width}px wide for a ${campaign.length}-character campaign`);
  }
  await screenshot(page, 'store-long-campaign-390');
  await page.close();
});
