// The signal forms (issue 23, item 1) in headless Chromium against the real Worker in
// workerd: a value (sum) signal and an affinity signal made through their forms without
// typing JSON, saved, and the Worker runs them (its simulate, against the stored rules);
// a max signal and two trained models (trees, cluster) pasted as the real `edgeseg train`
// prints them (on a synthetic export), a bad paste refused at its field; then every new
// form (sum, max, engaged, scroll, affinity, share, cluster, trees) at 390 and 1280 px:
// axe-core finds no serious or critical violation, the page is no wider than the screen,
// and a screenshot of each.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startWorker, ROOT, eventually } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';
import { signIn, fillDialog, waitText, editorText, showTab, WIDE, NARROW } from './admin-page-checks.mjs';

const skip = browserMissing() ?? false;
const TOKEN = 'signal-forms-admin-token-0123456789';
const AXE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');
const BIN = join(ROOT, 'target', 'debug', 'edgeseg');
const FEATURES = ['views_7d', 'carts_7d', 'searches_7d'];
// The example rules, plus the signals `edgeseg train generate` exports (the models' inputs).
const seeded = JSON.parse(await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8'));
seeded.events.search = { description: 'A search on the site.' };
Object.assign(seeded.signals, { views_7d: { count: 'page_view', within: '7d' }, carts_7d: { count: 'add_to_cart', within: '7d' }, searches_7d: { count: 'search', within: '7d' } });
const rules = JSON.stringify(seeded, null, 2);
let worker;
let browser;
let dir;
/** What `edgeseg train` printed (its whole report) for a trees and a k-means model. */
const report = {};

async function api(method, path, body, headers = {}) {
  const res = await fetch(`${worker.url}/__edgeseg/admin/api/${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

before(async () => {
  const run = promisify(execFile);
  if (!existsSync(BIN)) await run('cargo', ['build', '--bin', 'edgeseg'], { cwd: ROOT });
  dir = await mkdtemp(join(tmpdir(), 'edgeseg-signal-forms-'));
  const edgeseg = async (...args) => (await run(BIN, args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 })).stdout;
  await edgeseg('train', 'generate', join(dir, 'export'), '--seed', '5');
  report.trees = await edgeseg('train', 'trees', join(dir, 'export'), '--features', FEATURES.join(','), '--name', 'buyer_trees', '--label', 'purchase', '--within', '1d');
  report.cluster = await edgeseg('train', 'kmeans', join(dir, 'export'), '--features', FEATURES.join(','), '--name', 'behaviour', '--k', '3', '--names', 'first,second,third', '--seed', '3');
  worker = await startWorker({ rules, vars: { EDGESEG_ADMIN_TOKEN: TOKEN } });
  const r = await api('PUT', 'rules', { text: rules, author: 'seed', message: 'seeded by the test' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  if (!skip) browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await worker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
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

/** The signal in a report's paste block (what the form must end up writing). */
const pasted = (text) => Object.values(JSON.parse(text.slice(text.indexOf('Paste into the rules'), text.lastIndexOf('}') + 1).replace(/^[^{]*/, '')))[0];

test('a value (sum) signal and an affinity signal through their forms, saved, and the Worker runs them', { skip, timeout: 180_000 }, async () => {
  const page = await browser.newPage(WIDE);
  page.setDefaultTimeout(15_000);
  page.on('dialog', (d) => d.accept());
  await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);

  // Spend over 30 days: the sum of purchases' "value".
  await newSignal(page, 'spend_30d', 'sum');
  await page.locator('#signal-event').selectOption('add_to_cart');
  await waitText(page, '.value-warning', /“add_to_cart” may come from the browser, where anyone can send any amount/);
  assert.deepEqual(await page.locator('#signal-property-list option').evaluateAll((os) => os.map((o) => o.value)), ['category'], 'what add_to_cart carries');
  await page.locator('#signal-event').selectOption('purchase');
  assert.equal(await page.locator('.value-warning').textContent(), '', 'purchase comes from the server');
  await page.getByLabel('Property holding the amount').fill('');
  await waitText(page, '#signal-builder .field.invalid .field-error', /name the event property that holds the amount/);
  await page.getByLabel('Property holding the amount').fill('value');
  assert.deepEqual(await page.locator('#signal-property-list option').evaluateAll((os) => os.map((o) => o.value)), ['value'], 'the picker offers the property purchase declares');
  // An error only the Worker finds (a window of 0) comes back at its field, by its JSON path.
  const revision = (await api('GET', 'rules')).json.revision;
  await page.locator('#signal-within').fill('0');
  await page.locator('#signal-name').fill('spend_in_30d'); // renamed after the fields were made
  await page.locator('#signal-save').click();
  await waitText(page, '#signal-status', /Not saved: 1 error, marked at the fields/);
  assert.match(await page.locator('#signal-builder .field-duration.invalid .field-error').textContent(), /the window must be longer than 0s/);
  assert.equal(await page.locator('dialog#save-dialog').count(), 0, 'no save dialog');
  assert.equal((await api('GET', 'rules')).json.revision, revision, 'nothing saved');
  await page.locator('#signal-name').fill('spend_30d');
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

  // A trees model for a new signal, pasted as the whole report edgeseg train printed: the
  // signal takes the name in the paste. First with an input that is not declared: refused.
  await newSignal(page, 'new_model', 'trees');
  await waitText(page, '.model-pending', /stays as it is/);
  const paste = page.getByLabel('Paste a trained model');
  const before = await editorText(page);
  await paste.fill(report.trees.replace('"searches_7d"]', '"searches_7dd"]'));
  await waitText(page, '#signal-builder .field.invalid .field-error', /its input “searches_7dd” is not a declared signal/);
  await screenshot(page, 'signal-form-trees-new-refused-1280');
  await page.locator('#signal-model-use').click();
  assert.equal(await editorText(page), before, 'a refused paste changes nothing');
  await paste.fill(report.trees);
  await waitText(page, '.model-status', /A trees model over 3 signals, named buyer_trees/);
  await page.locator('#signal-model-use').click();
  await waitText(page, '.model-status', /Using the pasted trees model/);
  assert.equal(await page.locator('#signal-name').inputValue(), 'buyer_trees');
  let doc = await docIn(page);
  assert.deepEqual(doc.signals.buyer_trees, pasted(report.trees));
  assert.equal(doc.signals.new_model, undefined);
  const [, trees, nodes] = /Model: (\d+) trees of depth at most \d+, (\d+) nodes in all/.exec(report.trees);
  assert.match(await page.locator('.model-shape').textContent(), new RegExp(`^${trees} trees, ${nodes} nodes, starting log-odds -?[\\d.]+\\. Splits per input: views_7d \\d+, carts_7d \\d+, searches_7d \\d+\\.$`));
  assert.match(await page.locator('.model-inputs').textContent(), /carts_7d: the number of “add to cart” events in the last 7 days/);

  // A cluster model, pasted as its paste block (from its heading on): two centroids with one
  // name are refused, then the real one.
  await newSignal(page, 'behaviour', 'cluster');
  const block = report.cluster.slice(report.cluster.indexOf('Paste into the rules'));
  await page.getByLabel('Paste a trained model').fill(block.replace('"second"', '"first"'));
  await waitText(page, '#signal-builder .field.invalid .field-error', /the name “first” is used twice/);
  await page.getByLabel('Paste a trained model').fill(block);
  await page.locator('#signal-model-use').click();
  await waitText(page, '.model-status', /Using the pasted cluster model/);
  assert.deepEqual(await page.locator('.model-table tbody th').allTextContents(), ['first', 'second', 'third', 'scale (spread)']);
  doc = await docIn(page);
  assert.deepEqual(doc.signals.behaviour, pasted(report.cluster));
  await saveSignal(page, 'largest order, buyer trees, behaviour clusters');
  const stored = JSON.parse((await api('GET', 'rules')).json.text);
  assert.deepEqual([stored.signals.buyer_trees, stored.signals.behaviour, stored.signals.largest_order_30d.max], [pasted(report.trees), pasted(report.cluster), 'purchase']);
  const sim = await eventually(async () => {
    const r = await api('POST', 'simulate', {
      url: 'https://shop.test/products/trail-runner',
      events: [{ name: 'purchase', ago: '3d', props: { value: 75 } }, { name: 'purchase', ago: '2d', props: { value: 40 } }, { name: 'add_to_cart', ago: '1h' }, { name: 'search', ago: '2h' }],
    });
    return r.status === 200 && 'behaviour' in r.json.signals && r.json;
  }, { timeout: 20_000, every: 500, what: 'the models in the Worker’s simulate' });
  assert.equal(sim.signals.largest_order_30d, 75);
  assert.ok(['first', 'second', 'third'].includes(sim.signals.behaviour), JSON.stringify(sim.signals));
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
