// Drift end to end in workerd (issue 24, item 3): a logistic model whose training reference
// says visitors view about one page a day, then visitors who each view eight. The Worker
// counts the model's score and input bins per page; the admin API's Models view shows the
// population stability index past 0.2 for today, one signed `model_drift` webhook reaches a
// local receiver (once, however often the cron runs), and the Models tab shows the warning in
// headless Chromium at 1280 and 390 px (screenshots in test-output/screenshots/), with no
// serious or critical axe-core violations.
// Under Miniflare (tests/load/miniflare.mjs), with its local Queues, as the guardrails test runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Visitor, eventually, flushCounters, ROOT, webhookReceiver } from './harness.mjs';
import { startMiniflare } from '../load/miniflare.mjs';
import { browserMissing, launchBrowser, screenshot } from './browser.mjs';
import { WIDE, NARROW, showTab, signIn } from './admin-page-checks.mjs';

const TOKEN = 'e2e-admin-token-drift';
const WEBHOOK_SECRET = 'e2e-drift-webhook-secret-0123456789';
const VISITORS = 30;
const PAGES = 8;

const hook = await webhookReceiver(WEBHOOK_SECRET);
const { deliveries, port: receiverPort } = hook;

// At training, 80% of moments had seen one page that day, so nearly every score was under 0.1.
const RULES = {
  format: 1,
  version: 'drift-e2e',
  settings: { refresh_seconds: 2 },
  signals: {
    views_1d: { count: 'page_view', within: '1d' },
    buyer: {
      logistic: { views_1d: 0.5 },
      bias: -3,
      reference: {
        trained: '2026-11-30',
        moments: 5000,
        quality: { roc_auc: 0.78, log_loss: 0.21 },
        scores: [0.9, 0.08, 0.02, 0, 0, 0, 0, 0, 0, 0],
        inputs: { views_1d: { edges: [1, 2, 4], shares: [0.8, 0.12, 0.06, 0.02] } },
      },
    },
  },
  segments: [{ id: 'likely_buyer', condition: { buyer: { $gte: 0.5 } } }],
  blocks: { hero: { content: { likely_buyer: { inner_html: 'Free shipping today' } } } },
  activations: [
    { id: 'drift_alert', on: 'model_drift', signal: 'buyer', url: `http://127.0.0.1:${receiverPort}/hooks/drift` },
  ],
};

let worker;
before(async () => {
  worker = await startMiniflare({
    edgeseg: true,
    assets: true,
    rules: JSON.stringify(RULES),
    vars: { EDGESEG_ADMIN_TOKEN: TOKEN, EDGESEG_WEBHOOK_SECRET: WEBHOOK_SECRET, EDGESEG_DRIFT_EVERY: '0', EXPORT_RETRY_DELAY_SECS: '1' },
  });
});
after(async () => {
  await worker?.stop();
  await hook.close();
});

async function admin(path) {
  const r = await fetch(`${worker.url}/__edgeseg/admin/api/${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: r.status, body: await r.json() };
}

test(`${VISITORS} visitors viewing ${PAGES} pages each: the Models view shows drift past 0.2`, async () => {
  const quiet = await admin('models');
  assert.equal(quiet.status, 200);
  assert.equal(quiet.body.threshold, 0.2);
  assert.equal(quiet.body.models[0].signal, 'buyer');
  assert.equal(quiet.body.models[0].psi, null, 'no counts, no PSI');
  assert.equal(quiet.body.models[0].warning, false);

  await Promise.all(Array.from({ length: VISITORS }, async () => {
    const v = new Visitor(worker.url);
    for (let p = 0; p < PAGES; p += 1) assert.equal((await v.get('/')).status, 200);
  }));
  const model = await eventually(async () => {
    await flushCounters(worker.url, TOKEN);
    const m = (await admin('models')).body.models[0];
    return m.now?.moments >= VISITORS * PAGES ? m : null;
  }, { timeout: 30_000, every: 1_000, what: 'the drift counts published' });

  assert.equal(model.kind, 'logistic');
  assert.equal(model.trained, '2026-11-30');
  assert.deepEqual(model.quality, { roc_auc: 0.78, log_loss: 0.21 });
  assert.equal(model.now.moments, VISITORS * PAGES, 'one score per counted page view');
  // Views 1..8 each page: one eighth at 1 (bin ≤1), one at 2, two at 3-4, four above 4.
  const views = model.inputs.find((i) => i.name === 'views_1d');
  assert.deepEqual(views.edges, [1, 2, 4]);
  assert.deepEqual(views.now, [0.125, 0.125, 0.25, 0.5]);
  const today = model.days[model.days.length - 1];
  assert.equal(today.moments, VISITORS * PAGES);
  assert.ok(today.score > 0.2 && today.inputs.views_1d > 0.2, JSON.stringify(today));
  assert.equal(today.warning, true);
  assert.equal(model.warning, true);
  assert.ok(model.psi > 0.2);
});

test('one signed model_drift webhook, however often the cron runs', async () => {
  await eventually(async () => {
    await worker.scheduled();
    return deliveries.length >= 1;
  }, { timeout: 30_000, every: 1_000, what: 'the drift webhook' });
  for (let i = 0; i < 3; i += 1) await worker.scheduled();
  await new Promise((r) => setTimeout(r, 5_000));
  assert.equal(deliveries.length, 1, JSON.stringify(deliveries.map((d) => d.payload)));
  const { payload, key } = deliveries[0];
  assert.equal(payload.event, 'model_drift');
  assert.equal(payload.activation, 'drift_alert');
  assert.equal(payload.signal, 'buyer');
  assert.equal(payload.threshold, 0.2);
  assert.equal(payload.crossing, 1);
  assert.ok(payload.psi > 0.2);
  assert.equal(payload.moments, VISITORS * PAGES);
  assert.equal(payload.idempotency_key, key);
  assert.equal(payload.rules_label, 'drift-e2e');
  const m = (await admin('models')).body.models[0];
  assert.equal(payload.psi, m.psi, 'the webhook and the Models view say the same PSI');
});

test('the Models tab shows the drift, in Chromium at 1280 and 390 px, with no serious axe violations', { skip: browserMissing() ?? false }, async () => {
  const b = await launchBrowser();
  const AXE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');
  try {
    for (const [name, viewport] of [['1280', WIDE], ['390', NARROW]]) {
      const page = await b.newPage(viewport);
      await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);
      await showTab(page, 'models');
      const card = page.locator('#model-buyer');
      await card.locator('.drift-warning').waitFor();
      assert.match(await card.locator('.drift-warning').textContent(), /Drifted: PSI \d\.\d\d on \d{4}-\d\d-\d\d is past 0\.2/);
      assert.match(await card.locator('.model-about').textContent(), /Trained on data through 2026-11-30 · 5,000 moments · ROC-AUC 0\.78/);
      assert.equal(await card.locator('.score-table tbody tr').count(), 10);
      assert.equal(await card.locator('.psi-table tr.psi-warn').count(), 1);
      await card.locator('.uplot').waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `no sideways scrolling at ${name} px (${overflow})`);
      await page.addScriptTag({ path: AXE });
      const bad = await page.evaluate(async () => {
        // eslint-disable-next-line no-undef
        const res = await axe.run({ include: [['#view-models']] }, { resultTypes: ['violations'] });
        return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
      });
      assert.deepEqual(bad, [], `axe at ${name} px`);
      await screenshot(page, `admin-models-${name}`);
    }
  } finally {
    await b.close();
  }
});
