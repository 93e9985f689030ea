// An experiment by condition (no segment), its condition made with the same rows as a
// segment's, in headless Chromium against the real Worker in workerd, without typing JSON:
// "device is mobile", saved and started; a mobile visitor is exposed (gets a variant's hero,
// counted as an exposure), a desktop one is not. A condition the rows cannot show stays an
// editable JSON item among them, as in the segment builder. axe-core (no serious or critical
// violation) and screenshots at 390 and 1280 px of the editor with its rows; the condition
// removed and added back (Remove the condition, + Condition on who enters).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startWorker, ROOT, eventually, Visitor, flushCounters } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';
import { signIn, fillDialog, waitText, showTab, WIDE, NARROW } from './admin-page-checks.mjs';

const skip = browserMissing() ?? false;
const TOKEN = 'expcond-admin-token-0123456789';
const AXE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');
const MOBILE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';
const START = {
  format: 1,
  version: 'expcond',
  settings: { refresh_seconds: 2 },
  events: { purchase: { remember: '90d' } },
  signals: {},
  segments: [],
  blocks: { hero: { content: {} } },
  experiments: {
    // Rows have no $not: it stays a JSON item.
    odd_one: { condition: { device: 'desktop', utm_source: { $not: { $eq: 'x' } } }, status: 'draft', variants: [{ id: 'control' }, { id: 'b', content: { hero: { inner_html: 'B' } } }] },
  },
};
const ARM_HTML = { control: '<h1 data-arm="control">Control hero</h1>', app_banner: '<h1 data-arm="app_banner">Get the app</h1>' };

let worker;
let browser;
const api = async (method, path) => {
  const r = await fetch(`${worker.url}/__edgeseg/admin/api/${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: r.status, json: await r.json().catch(() => null) };
};

before(async () => {
  worker = await startWorker({ rules: JSON.stringify(START, null, 2), vars: { EDGESEG_ADMIN_TOKEN: TOKEN } });
  if (!skip) browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await worker?.stop();
});

async function axeCheck(p, where) {
  await p.addScriptTag({ path: AXE });
  const r = await p.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const res = await axe.run({ include: [['body']], exclude: [['.cm-scroller']] }, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${where}: ${JSON.stringify(bad, null, 1)}`);
  const wide = await p.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= p.viewportSize().width + 1, `${where}: the page is ${wide}px wide`);
}

async function shot(p, name) {
  const vp = p.viewportSize();
  const height = await p.evaluate(() => document.documentElement.scrollHeight);
  await p.setViewportSize({ width: vp.width, height: Math.min(height, 9000) });
  await p.waitForTimeout(300);
  try { return await screenshot(p, `expcond-${name}`); } finally { await p.setViewportSize(vp); }
}

/** The hero a visitor gets on the home page, and its next request (carrying the exposure). */
async function heroOf(ua) {
  const v = new Visitor(worker.url, { 'user-agent': ua });
  const home = await v.get('/');
  await v.get('/category/');
  return Object.keys(ARM_HTML).find((a) => home.text.includes(`data-arm="${a}"`)) || 'default';
}

test('an experiment by condition, its condition made with rows (device is mobile), exposes mobile visitors only', { skip, timeout: 240_000 }, async (t) => {
  const base = `${worker.url}/__edgeseg/admin/`;
  const page = await browser.newPage(WIDE);
  page.setDefaultTimeout(20_000);
  page.on('dialog', (d) => d.accept());
  await signIn(page, base, TOKEN);
  await page.evaluate(() => {
    document.querySelector('.cm-content').addEventListener('beforeinput', (e) => { (window.__typed ||= []).push(e.inputType); });
  });

  await t.test('a condition the rows cannot show stays a JSON item among them', async () => {
    await showTab(page, 'experiments');
    await page.locator('#exp-rules [data-experiment="odd_one"] .edit-experiment').click();
    const tree = page.locator('#exp-condition-tree');
    await tree.waitFor();
    assert.equal(await tree.locator('.cond-row').count(), 1);
    assert.equal(await tree.locator('.cond-row select.row-attr').inputValue(), 'device');
    assert.deepEqual(JSON.parse(await tree.locator('.cond-raw textarea').inputValue()), { utm_source: { $not: { $eq: 'x' } } });
    await page.locator('#exp-done').click();
  });

  await t.test('made, saved and started without typing JSON', async () => {
    await page.locator('#new-exp-segment').selectOption('');
    await page.locator('#new-experiment').click();
    await page.locator('#experiment-editor').waitFor();
    await page.getByLabel('Key', { exact: true }).fill('app_banner_test');
    assert.equal(await page.getByLabel('Who enters: members of the segment').inputValue(), '');
    const tree = page.locator('#exp-condition-tree');
    await tree.locator('.add-row').click();
    const row = tree.locator('.cond-row').last();
    await row.locator('select.row-attr').selectOption('device');
    await row.locator('select.row-op').selectOption('$eq');
    await tree.locator('.cond-row').last().locator('select.row-value').selectOption('mobile');
    await waitText(page, '.cond-words', /mobile/);
    const c = page.locator('.variant[data-index="0"]');
    await c.locator('.variant-add-block').selectOption('hero');
    await page.locator('.variant[data-index="0"] [data-block="hero"] textarea.html-inner_html').fill(ARM_HTML.control);
    await page.locator('.variant[data-index="1"]').getByLabel('Variant id', { exact: true }).fill('app_banner');
    // A new experiment's second variant already changes the first block.
    if (!(await page.locator('.variant[data-index="1"] [data-block="hero"]').count())) await page.locator('.variant[data-index="1"] .variant-add-block').selectOption('hero');
    await page.locator('.variant[data-index="1"] [data-block="hero"] textarea.html-inner_html').fill(ARM_HTML.app_banner);
    await waitText(page, '.exp-sentence', /visitors matching its condition/);
    await page.locator('.exp-start').click();
    await fillDialog(page, '#save-dialog', { message: 'app banner for mobile visitors', author: 'Mia Marketer' });
    await waitText(page, '#exp-editor-status', /Saved as revision \d+/);
    const stored = JSON.parse((await api('GET', 'rules')).json.text).experiments.app_banner_test;
    assert.deepEqual(stored.condition, { device: { $eq: 'mobile' } });
    assert.equal(stored.segment, undefined);
    assert.equal(stored.status, 'running');
    assert.deepEqual((await page.evaluate(() => window.__typed || [])), []);
  });

  await t.test('a mobile visitor is exposed, a desktop visitor is not', async () => {
    await eventually(async () => (await heroOf(MOBILE_UA)) !== 'default', { timeout: 20_000, every: 1_000, what: 'the experiment in force' });
    const arms = {};
    for (let i = 0; i < 12; i++) {
      const a = await heroOf(MOBILE_UA);
      arms[a] = (arms[a] || 0) + 1;
    }
    assert.equal(arms.default, undefined, JSON.stringify(arms));
    for (let i = 0; i < 4; i++) assert.equal(await heroOf('Mozilla/5.0 (X11; Linux x86_64) edgeseg-e2e'), 'default');
    await eventually(async () => {
      await flushCounters(worker.url, TOKEN);
      const e = (await api('GET', 'experiments?days=1')).json?.experiments?.find((x) => x.key === 'app_banner_test');
      return e && e.exposures.reduce((x, y) => x + y, 0) >= 12;
    }, { timeout: 60_000, every: 2_000, what: 'the mobile visitors’ exposures counted' });
  });

  await t.test('the editor with its rows at 1280 and 390 px: axe-core, nothing wider than the screen', async () => {
    for (const [vp, tag] of [[WIDE, '1280'], [NARROW, '390']]) {
      await page.setViewportSize(vp);
      await page.locator('#experiment-editor').waitFor();
      await axeCheck(page, `experiment editor with condition rows at ${tag} px`);
      await shot(page, `editor-${tag}`);
    }
    assert.deepEqual((page.__errors || []).map(String), []);
  });

  await t.test('the condition removed (then no one enters: said at the segment) and added back as empty rows', async () => {
    await page.setViewportSize(WIDE);
    await page.locator('#exp-remove-condition').click();
    await page.locator('#exp-add-condition').waitFor();
    assert.equal(await page.locator('#exp-condition-tree').count(), 0);
    await waitText(page, '#experiment-editor .field.invalid', /pick a segment, or give a condition/);
    await page.locator('#exp-add-condition').click();
    await waitText(page, '#exp-condition-tree', /No conditions yet/);
    assert.equal(await page.locator('#exp-condition-tree .cond-row').count(), 0);
    const inDoc = await page.evaluate(() => JSON.parse(window.edgesegAdmin.editor.getText()).experiments.app_banner_test.condition);
    assert.deepEqual(inDoc, {});
  });
  await page.close();
});
