// Learning end to end: the real `edgeseg train` binary fits models on a
// seeded synthetic export, the printed signals are pasted into the rules
// through the admin API's normal save, and visitors crafted by page views and
// events are classified by the Worker (in workerd) the way the CLI predicted:
// the same cluster, the same side of 0.5, and (in the preview's debug header)
// the same probability.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorker, Visitor, ROOT, adminApi } from './harness.mjs';

const run = promisify(execFile);
const TOKEN = 'e2e-admin-token-learn';
const FEATURES = 'views_7d,carts_7d,searches_7d';
const BIN = join(ROOT, 'target', 'debug', 'edgeseg');

// Crafted visitors: [views (page requests, the checked one included), carts, searches].
const VISITORS = [[1, 5, 0], [14, 0, 0], [2, 0, 9], [3, 2, 1]];

const base = {
  format: 1,
  version: 'learn-0',
  settings: { refresh_seconds: 1 },
  events: { add_to_cart: {}, search: {}, purchase: {} },
  signals: {
    views_7d: { count: 'page_view', within: '7d' },
    carts_7d: { count: 'add_to_cart', within: '7d' },
    searches_7d: { count: 'search', within: '7d' },
  },
  segments: [],
  blocks: {},
};

let worker;
let dir;
const trained = {};

async function edgeseg(...args) {
  const { stdout } = await run(BIN, args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

async function train(model, name, extra) {
  const out = join(dir, `${name}.json`);
  const predict = JSON.stringify(VISITORS.map(([v, c, s]) => ({ views_7d: v, carts_7d: c, searches_7d: s })));
  const json = JSON.parse(await edgeseg('train', model, join(dir, 'export'), '--features', FEATURES, '--name', name,
    '--signal-out', out, '--predict', predict, '--json', ...extra));
  // The file holds exactly the paste block the report printed.
  const pasted = JSON.parse(await readFile(out, 'utf8'));
  assert.deepEqual(pasted, json.signal);
  assert.ok(json.report.includes('Paste into the rules'));
  return { signal: pasted[name], predictions: json.predictions, json };
}

before(async () => {
  if (!existsSync(BIN)) await run('cargo', ['build', '--bin', 'edgeseg'], { cwd: ROOT });
  dir = await mkdtemp(join(tmpdir(), 'edgeseg-learn-'));
  await edgeseg('train', 'generate', join(dir, 'export'), '--seed', '5');
  trained.cluster = await train('kmeans', 'behaviour', ['--k', '3', '--names', 'first,second,third', '--seed', '3']);
  trained.trees = await train('trees', 'buyer_trees', ['--label', 'purchase', '--within', '1d']);
  trained.logistic = await train('logistic', 'buyer_logistic', ['--label', 'purchase', '--within', '1d']);
  worker = await startWorker({ rules: JSON.stringify(base), vars: { EDGESEG_ADMIN_TOKEN: TOKEN } });
});
after(async () => {
  await worker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const api = adminApi(() => worker.url, TOKEN);

async function events(v, list, ip) {
  const res = await fetch(`${worker.url}/__edgeseg/event`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: v.cookieHeader(), 'cf-connecting-ip': ip },
    body: JSON.stringify({ events: list }),
  });
  for (const sc of res.headers.getSetCookie()) {
    const [pair] = sc.split(';');
    const i = pair.indexOf('=');
    v.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
  }
  assert.equal(res.status, 204, await res.text());
}

test('trained signals pasted through the admin save classify crafted visitors as the CLI predicted', async () => {
  const { cluster, trees, logistic } = trained;
  assert.equal(cluster.predictions.length, VISITORS.length);
  // Paste the three printed signals and target segments by them: one per
  // cluster name, and one per model for "more likely than not".
  const doc = structuredClone(base);
  doc.version = 'learn-1';
  Object.assign(doc.signals, { behaviour: cluster.signal, buyer_trees: trees.signal, buyer_logistic: logistic.signal });
  doc.segments = [
    ...['first', 'second', 'third'].map((n, i) => ({ id: `cluster_${n}`, priority: 10 + i, condition: { behaviour: n } })),
    { id: 'likely_buyer_trees', priority: 20, condition: { buyer_trees: { $gt: 0.5 } } },
    { id: 'likely_buyer_logistic', priority: 21, condition: { buyer_logistic: { $gt: 0.5 } } },
    { id: 'probe', priority: 1, condition: { views_7d: { $lt: 0 } } },
  ];
  const current = await api('GET', 'rules');
  assert.equal(current.status, 200);
  const saved = await api('PUT', 'rules', { text: JSON.stringify(doc, null, 2), author: 'analyst', message: 'trained models from the export' },
    { 'if-match': `"${current.json.revision}"` });
  assert.equal(saved.status, 200, JSON.stringify(saved.json));
  // The Worker picks up the new rules.
  for (let i = 0; ; i++) {
    const h = await (await fetch(`${worker.url}/__edgeseg/health`)).json();
    if (h.rules_version === 'learn-1') break;
    assert.ok(i < 100, 'the saved rules reach the Worker');
    await new Promise((r) => setTimeout(r, 100));
  }
  const link = await api('POST', 'preview', { segments: ['probe'], ttl: '10m' });
  assert.equal(link.status, 200, JSON.stringify(link.json));
  const previewUrl = new URL(link.json.url, worker.url);
  const previewPath = previewUrl.pathname + previewUrl.search;

  for (const [i, [views, carts, searches]] of VISITORS.entries()) {
    const ip = `198.51.100.${40 + i}`;
    const v = new Visitor(worker.url, { 'cf-connecting-ip': ip });
    for (let n = 0; n < views - 1; n++) assert.equal((await v.get('/')).status, 200);
    const list = [...Array(carts).fill({ name: 'add_to_cart' }), ...Array(searches).fill({ name: 'search' })];
    if (list.length) await events(v, list, ip);
    if (views === 1 && !list.length) await v.get('/');
    await new Promise((r) => setTimeout(r, 1_200));
    // The checked request: the preview (it stores nothing) explains the values.
    const page = await v.get(previewPath);
    assert.equal(page.status, 200);
    const debug = page.headers.get('x-edgeseg-debug') || '';
    const segments = JSON.parse(page.text.match(/segments:(\[[^\]]*\])/)[1]);
    const who = `visitor ${i} (views ${views}, carts ${carts}, searches ${searches}); debug: ${debug}`;
    const name = cluster.predictions[i];
    assert.ok(segments.includes(`cluster_${name}`), `${who}: the CLI put it in cluster ${name}; segments ${segments}`);
    assert.equal(segments.filter((s) => s.startsWith('cluster_')).length, 1, who);
    for (const [model, id, p] of [['trees', 'likely_buyer_trees', trees.predictions[i]], ['logistic', 'likely_buyer_logistic', logistic.predictions[i]]]) {
      assert.equal(segments.includes(id), p > 0.5, `${who}: the CLI's ${model} chance is ${p}`);
      if (p > 0.5) {
        const shown = Number(debug.match(new RegExp(`buyer_${model}=([0-9.e-]+)`))[1]);
        assert.ok(Math.abs(shown - p) < 1e-9, `${who}: the Worker's ${model} chance ${shown}, the CLI's ${p}`);
      }
    }
    assert.match(debug, new RegExp(`cluster_${name}: condition held \\(behaviour="${name}"`), who);
  }
  // The crafted visitors span both sides of 0.5, so the check above means something.
  assert.ok(trees.predictions.some((p) => p > 0.5) && trees.predictions.some((p) => p < 0.5), JSON.stringify(trees.predictions));
});

test('train on a folder with too little data says how much is needed, and exits 1', async () => {
  const tiny = join(dir, 'tiny');
  await edgeseg('train', 'generate', tiny, '--visitors', '2', '--days', '2');
  await assert.rejects(edgeseg('train', 'trees', tiny, '--label', 'purchase', '--within', '1d'),
    (e) => e.code === 1 && /only \d+ examples .*need at least 50/.test(e.stderr));
});
