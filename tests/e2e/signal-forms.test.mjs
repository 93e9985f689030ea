// The signal forms (issue 23, item 1) in headless Chromium against the real Worker in
// workerd: a value (sum) signal and an affinity signal made through their forms without
// typing JSON, saved, and the Worker runs them (its simulate, against the stored rules);
// a max signal and two trained models (trees, cluster) pasted as `edgeseg train` prints
// them, a bad paste refused at its field; then every new form (sum, max, engaged, scroll,
// affinity, share, cluster, trees) at 390 and 1280 px: axe-core finds no serious or
// critical violation, the page is no wider than the screen, and a screenshot of each.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, ROOT, eventually } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';
import { signIn, fillDialog, waitText, editorText, showTab, WIDE, NARROW } from './admin-page-checks.mjs';

const skip = browserMissing() ?? false;
const TOKEN = 'signal-forms-admin-token-0123456789';
const AXE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');
const rules = await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8');
let worker;
let browser;

async function api(method, path, body, headers = {}) {
  const res = await fetch(`${worker.url}/__edgeseg/admin/api/${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

before(async () => {
  worker = await startWorker({ rules, vars: { EDGESEG_ADMIN_TOKEN: TOKEN } });
  const r = await api('PUT', 'rules', { text: rules, author: 'seed', message: 'seeded by the test' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  if (!skip) browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await worker?.stop();
});

const docIn = async (page) => JSON.parse(await editorText(page));

/** Opens the admin page's Signals tab and a new signal's form. */
async function newSignal(page, name, kind) {
  await showTab(page, 'signals');
  if (await page.locator('#signal-done').count()) await page.locator('#signal-done').click();
  await page.locator('#new-signal').click();
  await page.locator('#signal-builder').waitFor();
  await page.locator('#signal-name').fill(name);
  await page.locator('#signal-kind').selectOption(kind);
}

/** Save… from the signal builder, with the dialog filled in; waits for the new revision. */
async function saveSignal(page, message) {
  await page.locator('#signal-save').click();
  await fillDialog(page, '#save-dialog', { message, author: 'Mia Marketer' });
  await waitText(page, '#signal-status', /Saved as revision \d+/);
}

/** What `edgeseg train` prints for a model (src/learn/report.rs: paste_section). */
const printed = (name, signal) => `Paste into the rules' "signals" (admin page: Rules, then save with a message):\n${JSON.stringify({ [name]: signal }, null, 2)}\n`;
const TREES = { trees: ['product_views_1h', 'engagement_7d'], base: -1.07, ensemble: [[[1, 2.5, 1, 2], [-0.07], [0.13]], [[0, 3, 1, 2], [0.02], [0.2]]] };
const CLUSTER = { cluster: ['product_views_1h', 'engagement_7d'], scale: [4.4, 1.9], centroids: [[5.7, 4.1], [11.6, 0.4], [1, 0]], names: ['cart_fillers', 'browsers', 'passers_by'] };

test('a value (sum) signal and an affinity signal through their forms, saved, and the Worker runs them', { skip, timeout: 180_000 }, async () => {
  const page = await browser.newPage(WIDE);
  page.setDefaultTimeout(15_000);
  page.on('dialog', (d) => d.accept());
  await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);

  // Spend over 30 days: the sum of purchases' "value".
  await newSignal(page, 'spend_30d', 'sum');
  await page.locator('#signal-event').selectOption('purchase');
  await page.getByLabel('Property holding the amount').fill('');
  await waitText(page, '#signal-builder .field.invalid .field-error', /name the event property that holds the amount/);
  await page.getByLabel('Property holding the amount').fill('value');
  assert.deepEqual(await page.locator('#signal-property-list option').evaluateAll((os) => os.map((o) => o.value)), ['value'], 'the picker offers the property purchase declares');
  // An error only the Worker finds (a window of 0) comes back at its field, by its JSON path.
  const revision = (await api('GET', 'rules')).json.revision;
  await page.locator('#signal-within').fill('0');
  await page.locator('#signal-save').click();
  await waitText(page, '#signal-status', /Not saved: 1 error, marked at the fields/);
  assert.match(await page.locator('#signal-builder .field-duration.invalid .field-error').textContent(), /the window must be longer than 0s/);
  assert.equal(await page.locator('dialog#save-dialog').count(), 0, 'no save dialog');
  assert.equal((await api('GET', 'rules')).json.revision, revision, 'nothing saved');
  await page.locator('#signal-within').fill('30');
  await page.locator('#signal-within-unit').selectOption('d');
  await waitText(page, '#signal-sentence', /^the total “value” of “purchase” events in the last 30 days \(refunds count against it\)$/);
  assert.equal(await page.locator('#signal-builder .field.invalid').count(), 0);
  assert.deepEqual((await docIn(page)).signals.spend_30d, { sum: 'purchase', property: 'value', within: '30d' });
  await saveSignal(page, 'spend over 30 days');

  // The top category, from category pages and from what goes into the cart (weighing 2).
  await newSignal(page, 'favourite_category', 'affinity');
  await page.locator('#affinity-0-path').fill('/category/*');
  await waitText(page, '#signal-builder .field.invalid .field-error', /exactly one \{capture\}/);
  await page.locator('#affinity-0-path').fill('/category/{name}');
  await page.locator('#affinity-add-source').click();
  await page.locator('#affinity-1-from').selectOption('property');
  assert.equal(await page.locator('#affinity-1-path').isVisible(), false, 'a property source has no path pattern');
  await page.locator('#affinity-1-event').selectOption('add_to_cart');
  await page.locator('#affinity-1-property').fill('category');
  await page.locator('#affinity-1-weight').fill('2');
  await page.locator('#signal-half-life').fill('7');
  await page.locator('#signal-half-life-unit').selectOption('d');
  await page.getByLabel('Categories kept per visitor').fill('3');
  await waitText(page, '#signal-sentence', /top interest \(a category name\) from pages at \/category\/\{name\} and “add to cart” by “category”, fading by half every 7 days/);
  assert.equal(await page.locator('#signal-builder .field.invalid').count(), 0);
  assert.deepEqual((await docIn(page)).signals.favourite_category, {
    affinity: [{ path: '/category/{name}' }, { event: 'add_to_cart', property: 'category', weight: 2 }], half_life: '7d', keep: 3,
  });
  await saveSignal(page, 'favourite category');
  await screenshot(page, 'signal-forms-affinity-saved-1280');

  // The stored rules hold both, and the Worker computes them (simulate, no text: its loaded rules).
  const stored = JSON.parse((await api('GET', 'rules')).json.text);
  assert.deepEqual(stored.signals.spend_30d, { sum: 'purchase', property: 'value', within: '30d' });
  assert.equal(stored.signals.favourite_category.keep, 3);
  const sim = await eventually(async () => {
    const r = await api('POST', 'simulate', {
      url: 'https://shop.test/',
      events: [
        { name: 'purchase', ago: '2d', props: { value: 120 } },
        { name: 'purchase', ago: '1d', props: { value: '80.50' } },
        { name: 'purchase', ago: '40d', props: { value: 999 } },
        { name: 'page_view', path: '/category/footwear', ago: '1h' },
        { name: 'add_to_cart', path: '/products/daypack-28', ago: '10m', props: { category: 'packs' } },
      ],
    });
    return r.status === 200 && 'spend_30d' in r.json.signals && r.json;
  }, { timeout: 20_000, every: 500, what: 'the new signals in the Worker’s simulate' });
  assert.equal(sim.signals.spend_30d, 200.5, 'the two purchases of the last 30 days, not the one 40 days ago');
  assert.equal(sim.signals.favourite_category, 'packs', 'one cart add (weight 2) outweighs one category page');
  assert.deepEqual((page.__errors || []).map(String), []);
  await page.close();
});

test('a max signal, and trained models pasted as edgeseg train prints them (a bad paste is refused at its field)', { skip, timeout: 180_000 }, async () => {
  const page = await browser.newPage(WIDE);
  page.setDefaultTimeout(15_000);
  page.on('dialog', (d) => d.accept());
  await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);

  await newSignal(page, 'largest_order_30d', 'max');
  await page.locator('#signal-event').selectOption('purchase');
  await page.locator('#signal-within').fill('30');
  await page.locator('#signal-within-unit').selectOption('d');
  await waitText(page, '#signal-sentence', /the largest “value” of “purchase” events in the last 30 days \(absent if none\)/);
  assert.deepEqual((await docIn(page)).signals.largest_order_30d, { max: 'purchase', property: 'value', within: '30d' });

  // A trees model for a new signal: the signal takes the name in the paste.
  await newSignal(page, 'new_model', 'trees');
  await waitText(page, '.model-pending', /stays as it is/);
  const paste = page.getByLabel('Paste a trained model');
  const before = await editorText(page);
  await paste.fill(printed('buyer_trees', { ...TREES, ensemble: [[[1, 2.5, 0, 2], [-0.07], [0.13]]] }));
  await waitText(page, '#signal-builder .field.invalid .field-error', /children must be later nodes/);
  await page.locator('#signal-model-use').click();
  assert.equal(await editorText(page), before, 'a refused paste changes nothing');
  await paste.fill(printed('buyer_trees', TREES));
  await waitText(page, '.model-status', /A trees model over 2 signals, named buyer_trees/);
  await page.locator('#signal-model-use').click();
  await waitText(page, '.model-status', /Using the pasted trees model/);
  assert.equal(await page.locator('#signal-name').inputValue(), 'buyer_trees');
  let doc = await docIn(page);
  assert.deepEqual(doc.signals.buyer_trees, TREES);
  assert.equal(doc.signals.new_model, undefined);
  assert.match(await page.locator('.model-shape').textContent(), /2 trees, 6 nodes, starting log-odds -1\.07\. Splits per input: product_views_1h 1, engagement_7d 1/);
  assert.match(await page.locator('.model-inputs').textContent(), /engagement_7d: points over the last 7 days/);

  // A cluster model: an input that is not declared is refused, then the real one.
  await newSignal(page, 'behaviour', 'cluster');
  await page.getByLabel('Paste a trained model').fill(printed('behaviour', { ...CLUSTER, cluster: ['product_views_1h', 'engagemnt_7d'] }));
  await waitText(page, '#signal-builder .field.invalid .field-error', /its input “engagemnt_7d” is not a declared signal/);
  await page.getByLabel('Paste a trained model').fill(printed('behaviour', CLUSTER));
  await page.locator('#signal-model-use').click();
  await waitText(page, '.model-status', /Using the pasted cluster model/);
  assert.deepEqual(await page.locator('.model-table tbody th').allTextContents(), ['cart_fillers', 'browsers', 'passers_by', 'scale (spread)']);
  doc = await docIn(page);
  assert.deepEqual(doc.signals.behaviour, CLUSTER);
  await saveSignal(page, 'largest order, buyer trees, behaviour clusters');
  const stored = JSON.parse((await api('GET', 'rules')).json.text);
  assert.deepEqual([stored.signals.buyer_trees, stored.signals.behaviour, stored.signals.largest_order_30d.max], [TREES, CLUSTER, 'purchase']);
  const sim = await eventually(async () => {
    const r = await api('POST', 'simulate', { url: 'https://shop.test/', events: [{ name: 'purchase', ago: '3d', props: { value: 75 } }, { name: 'purchase', ago: '2d', props: { value: 40 } }] });
    return r.status === 200 && 'behaviour' in r.json.signals && r.json;
  }, { timeout: 20_000, every: 500, what: 'the models in the Worker’s simulate' });
  assert.equal(sim.signals.largest_order_30d, 75);
  assert.ok(['cart_fillers', 'browsers', 'passers_by'].includes(sim.signals.behaviour), JSON.stringify(sim.signals));
  assert.ok(sim.signals.buyer_trees > 0 && sim.signals.buyer_trees < 1);
  assert.deepEqual((page.__errors || []).map(String), []);
  await page.close();
});

for (const [vp, tag] of [[WIDE, '1280'], [NARROW, '390']]) {
  test(`every new signal form at ${tag} px: no serious accessibility violation (axe-core), no sideways scroll, a screenshot each`, { skip, timeout: 180_000 }, async () => {
    const page = await browser.newPage(vp);
    page.setDefaultTimeout(15_000);
    page.on('dialog', (d) => d.accept());
    await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);
    const stored = JSON.parse((await api('GET', 'rules')).json.text);
    const forms = [['spend_30d', 'sum'], ['largest_order_30d', 'max'], ['product_engaged_minutes_7d', 'engaged'], ['product_scroll_7d', 'scroll'],
      ['favourite_category', 'affinity'], ['interest_share', 'share'], ['behaviour', 'cluster'], ['buyer_trees', 'trees']];
    for (const [name] of forms) assert.ok(stored.signals[name], `${name} is in the stored rules (the tests above made it)`);
    const violations = [];
    for (const [name, kind] of forms) {
      await showTab(page, 'signals');
      if (await page.locator('#signal-done').count()) await page.locator('#signal-done').click();
      await page.locator(`.signal-card[data-signal="${name}"] .edit-signal`).click();
      await page.locator('#signal-builder').waitFor();
      assert.equal(await page.locator('#signal-kind').inputValue(), kind, `${name} opens its ${kind} form`);
      if (kind === 'cluster' || kind === 'trees') {
        await page.locator('.model-json summary').click();
        if (kind === 'trees') {
          await page.getByLabel('Paste a trained model').fill('{"buyer_trees": {"trees": ["top_interest"], "ensemble": [[[0.1]]]}}');
          await waitText(page, '#signal-builder .field-error:not([hidden])', /“top_interest” is a model or an interest/);
        }
      }
      await page.addScriptTag({ path: AXE });
      const found = await page.evaluate(async () => {
        // eslint-disable-next-line no-undef
        const res = await axe.run({ include: [['#view-signals']] }, { resultTypes: ['violations'] });
        return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
      });
      for (const v of found) if (v.impact === 'serious' || v.impact === 'critical') violations.push({ form: kind, ...v });
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= vp.width + 1, `${kind} form: the page is ${width}px wide at ${vp.width}px`);
      // The whole form in the picture: the viewport as tall as the page.
      const height = await page.evaluate(() => document.documentElement.scrollHeight);
      await page.setViewportSize({ width: vp.width, height: Math.min(height, 6000) });
      await screenshot(page, `signal-form-${kind}-${tag}`);
      await page.setViewportSize(vp);
    }
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 1));
    assert.deepEqual((page.__errors || []).map(String), []);
    await page.close();
  });
}
