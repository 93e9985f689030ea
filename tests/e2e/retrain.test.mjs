// Retraining without a person, end to end against the real Worker (workerd
// with local KV, Queues and R2): a seeded synthetic export goes into R2 the
// way the Worker writes it (records put on its queue through the admin API,
// written by its own queue consumer; one corrupt object beside them), the
// rules in force carry three models with their "trained" settings, and the
// real `edgeseg retrain` binary pulls the export through the admin API,
// trains each model again and saves the better one as a draft whose message
// is the quality report. The live rules stay as they were until a publisher
// publishes. Then the refusals: a wrong token, a Worker that is down, a model
// whose settings name a signal the rules no longer have: exit 1, nothing saved.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startWorker, ROOT, eventually, freePort, adminApi } from './harness.mjs';

const run = promisify(execFile);
const TOKEN = 'e2e-admin-token-retrain';
const BIN = join(ROOT, 'target', 'debug', 'edgeseg');
const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

let worker;
let dir;
let expected = 0;
const trained = {};

/** Runs the binary; resolves to {code, stdout, stderr} whatever the exit code. */
async function edgeseg(args, env = {}) {
  try {
    const { stdout, stderr } = await run(BIN, args, { cwd: ROOT, maxBuffer: 64 << 20, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    if (typeof e.code !== 'number') throw e;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const api = adminApi(() => worker.url, TOKEN);

/** Every line of the generated export's files. */
async function lines(root) {
  const out = [];
  const walk = async (d) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(...gunzipSync(await readFile(p)).toString('utf8').split('\n').filter(Boolean));
    }
  };
  await walk(root);
  return out;
}

const features = ['carts_7d', 'searches_7d', 'views_7d'];
const rules = {
  format: 1,
  version: 'retrain-0',
  settings: { refresh_seconds: 1 },
  events: { add_to_cart: {}, search: {}, purchase: {} },
  signals: {
    views_7d: { count: 'page_view', within: '7d' },
    carts_7d: { count: 'add_to_cart', within: '7d' },
    searches_7d: { count: 'search', within: '7d' },
    // A poor model: in this export more views mean fewer purchases.
    buyer_logistic: {
      logistic: { views_7d: 0.3 }, bias: -2,
      trained: { at: '2026-10-01T00:00:00Z', features, label: 'purchase', within: '1d' },
    },
  },
  segments: [{ id: 'likely_buyer', priority: 10, condition: { buyer_logistic: { $gt: 0.5 } } }],
  blocks: {},
};

before(async () => {
  if (!existsSync(BIN)) await run('cargo', ['build', '--bin', 'edgeseg'], { cwd: ROOT });
  dir = await mkdtemp(join(tmpdir(), 'edgeseg-retrain-'));
  const exported = join(dir, 'export');
  assert.equal((await edgeseg(['train', 'generate', exported, '--visitors', '600', '--days', '10', '--seed', '5'])).code, 0);
  // Two models trained by `edgeseg train` on this very export: their paste
  // blocks carry the settings, and a retrain on the same records cannot beat them.
  for (const [model, name, extra] of [['trees', 'buyer_trees', ['--label', 'purchase', '--within', '1d']],
    ['kmeans', 'behaviour', ['--k', '3', '--names', 'browsers,searchers,cart_fillers']]]) {
    const r = await edgeseg(['train', model, exported, '--name', name, '--json', ...extra]);
    assert.equal(r.code, 0, r.stderr);
    trained[name] = JSON.parse(r.stdout).signal[name];
    assert.deepEqual(trained[name].trained.features, features);
  }
  rules.signals.buyer_trees = trained.buyer_trees;
  rules.signals.behaviour = trained.behaviour;
  worker = await startWorker({ rules: JSON.stringify(rules, null, 2), vars: { EDGESEG_ADMIN_TOKEN: TOKEN } });

  // The export into R2 through the Worker's own queue consumer, moved in
  // time so that it ends an hour ago (retrain pulls the recent days).
  const records = (await lines(exported)).map((l) => JSON.parse(l));
  const shift = Math.floor(Date.now() / 1000) - 3_600 - Math.max(...records.map((r) => r.ts));
  for (const r of records) r.ts += shift;
  expected = records.length;
  for (let i = 0; i < records.length; i += 100) {
    const res = await api('POST', 'export/enqueue', { messages: records.slice(i, i + 100).map((r) => JSON.stringify(r)) });
    assert.equal(res.status, 200, JSON.stringify(res.json));
  }
  await eventually(async () => {
    const h = await (await fetch(`${worker.url}/__edgeseg/health`)).json();
    return h.export.this_isolate['export:records_written'] >= expected;
  }, { timeout: 60_000, every: 500, what: 'every record written to R2 by the queue consumer' });
  // One corrupt object beside them, written into the same local R2.
  const d = new Date(Date.now() - 2 * 3_600_000);
  const p = (n) => String(n).padStart(2, '0');
  const key = `events/${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${p(d.getUTCHours())}/corrupt.ndjson.gz`;
  const bad = join(dir, 'corrupt.gz');
  await writeFile(bad, Buffer.from('this is not gzip'));
  await run(process.execPath, [WRANGLER, 'r2', 'object', 'put', `edgeseg-export/${key}`, '--file', bad, '--local',
    '--persist-to', worker.persistDir], { cwd: ROOT, env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' } });
  const listed = await api('GET', `export?prefix=${encodeURIComponent(key)}`);
  assert.equal(listed.json.objects.length, 1, 'the corrupt object is in R2');
});

after(async () => {
  await worker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const retrain = (args = [], env = { EDGESEG_ADMIN_TOKEN: TOKEN }) => edgeseg(['retrain', '--worker', worker.url, ...args], env);

test('a scheduled retrain proposes the better model as a draft with its report; the live rules stay as they were', async () => {
  const live = await api('GET', 'rules');
  assert.equal(live.status, 200);
  const draftsBefore = (await api('GET', 'rules/drafts')).json.drafts.length;

  // --dry-run reports and saves nothing. --keep DIR mirrors the window: a
  // file R2 does not have (an old day, an erased object) is removed.
  const keep = join(dir, 'kept');
  const stale = join(keep, 'events', '2020', '01', '01', '00', 'stale.ndjson.gz');
  await mkdir(dirname(stale), { recursive: true });
  await writeFile(stale, 'x');
  const dry = await retrain(['--days', '12', '--dry-run', '--json', '--keep', keep]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(JSON.parse(dry.stdout).draft, null);
  assert.ok(JSON.parse(dry.stdout).export.fetched > 0);
  assert.equal(existsSync(stale), false, 'the stale file is gone');
  assert.equal((await api('GET', 'rules/drafts')).json.drafts.length, draftsBefore);
  const again = JSON.parse((await retrain(['--days', '12', '--dry-run', '--json', '--keep', keep])).stdout);
  assert.equal(again.export.fetched, 0, 'a second run fetches only what is new');
  assert.equal(again.export.records_read, expected);

  const r = await retrain(['--days', '12', '--json']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(r.stdout);
  // Everything the queue wrote was read; the corrupt object was counted and skipped.
  assert.equal(out.export.records_read, expected);
  assert.equal(out.export.unreadable_files, 1);
  assert.match(out.export.skipped, /1 unreadable file \(.*corrupt\.ndjson\.gz/);
  assert.equal(out.revision, live.json.revision);
  const byName = Object.fromEntries(out.models.map((m) => [m.name, m]));
  assert.deepEqual(Object.keys(byName).sort(), ['behaviour', 'buyer_logistic', 'buyer_trees']);
  const logistic = byName.buyer_logistic;
  assert.ok(logistic.in_force.auc < 0.5, `the poor model ranks buyers backwards: ${JSON.stringify(logistic.in_force)}`);
  assert.ok(logistic.retrained.auc > 0.7, JSON.stringify(logistic.retrained));
  assert.equal(logistic.proposed, true);
  // Trained on the same records with the same settings: the same model, not proposed.
  for (const name of ['buyer_trees', 'behaviour']) {
    assert.equal(byName[name].proposed, false, `${name}: ${byName[name].verdict}`);
    assert.match(byName[name].verdict, /^kept as it is/);
  }
  assert.ok(Math.abs(byName.buyer_trees.retrained.auc - byName.buyer_trees.in_force.auc) < 0.01, JSON.stringify(byName.buyer_trees));
  assert.ok(byName.behaviour.agreement > 0.9, `about the same grouping: ${byName.behaviour.agreement}`);

  // The draft: saved by the token's identity, its message the report.
  assert.ok(out.draft, out.report);
  const drafts = (await api('GET', 'rules/drafts')).json.drafts;
  assert.equal(drafts.length, draftsBefore + 1);
  const meta = drafts[0];
  assert.equal(meta.draft, out.draft.draft);
  assert.equal(meta.message, out.draft.message);
  assert.equal(meta.base_revision, live.json.revision);
  assert.equal(meta.by.id, 'service:admin-token');
  assert.match(meta.message, /buyer_logistic ROC-AUC 0\.[0-4]\d\d -> 0\.[7-9]\d\d/);
  assert.match(meta.message, /Kept as they are: .*buyer_trees.*behaviour|Kept as they are: .*behaviour.*buyer_trees/);
  const draft = await api('GET', `rules/drafts/${meta.draft}`);
  assert.equal(draft.status, 200);
  const proposed = JSON.parse(draft.json.text);
  const model = proposed.signals.buyer_logistic;
  assert.deepEqual(Object.keys(model.logistic).sort(), features);
  assert.deepEqual(model.trained.features, features);
  assert.equal(model.trained.label, 'purchase');
  assert.equal(model.trained.within, '1d');
  assert.ok(model.trained.at > '2026-10-01T00:00:00Z' && model.trained.auc > 0.7, JSON.stringify(model.trained));
  // Only the model changed: the rest of the text is byte for byte the live one.
  const at = live.json.text.indexOf('"buyer_logistic": ');
  assert.ok(draft.json.text.startsWith(live.json.text.slice(0, at + '"buyer_logistic": '.length)));
  const tail = live.json.text.slice(live.json.text.indexOf('"buyer_trees": ') - 6);
  assert.ok(draft.json.text.endsWith(tail), 'the text after the model is unchanged');
  delete proposed.signals.buyer_logistic;
  const before = JSON.parse(live.json.text);
  delete before.signals.buyer_logistic;
  assert.deepEqual(proposed, before);

  // Nothing went live: the same revision and text, and the Worker serves it.
  const after = await api('GET', 'rules');
  assert.equal(after.json.revision, live.json.revision);
  assert.equal(after.json.text, live.json.text);
  const h = await (await fetch(`${worker.url}/__edgeseg/health`)).json();
  assert.equal(h.rules_version, 'retrain-0');

  // The words the scheduled job's log shows.
  const words = await retrain(['--days', '12', '--dry-run']);
  assert.equal(words.code, 0, words.stderr);
  assert.match(words.stdout, /buyer_logistic \(logistic; predicts "purchase" within 1d, from carts_7d, searches_7d, views_7d\):/);
  assert.match(words.stdout, /proposed: ROC-AUC better by 0\.\d{3} \(margin 0\.010\)/);
  assert.match(words.stdout, /skipped: 1 unreadable file/);
});

test('a refused token or a Worker that is down: exit 1, a clear error, nothing saved', async () => {
  const count = async () => (await api('GET', 'rules/drafts')).json.drafts.length;
  const drafts = await count();
  const wrong = await retrain(['--days', '12'], { EDGESEG_ADMIN_TOKEN: 'not-the-token' });
  assert.equal(wrong.code, 1, wrong.stdout);
  assert.match(wrong.stderr, /^error: the Worker at http:\/\/127\.0\.0\.1:\d+ refused the admin token \(403: that admin token is not valid\)/);
  assert.equal(wrong.stdout, '');
  const none = await retrain(['--days', '12'], { EDGESEG_ADMIN_TOKEN: '' });
  assert.equal(none.code, 2, 'no token at all is a usage error');
  assert.match(none.stderr, /missing the admin token: set EDGESEG_ADMIN_TOKEN/);
  const port = await freePort();
  const down = await edgeseg(['retrain', '--worker', `http://127.0.0.1:${port}`, '--token', TOKEN]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, new RegExp(`^error: cannot reach the Worker at http://127\\.0\\.0\\.1:${port}: `));
  assert.equal(await count(), drafts, 'no draft saved');
});

test('a model whose settings name a signal the rules no longer have is refused with its path', async () => {
  const live = await api('GET', 'rules');
  const doc = {
    ...rules,
    version: 'retrain-1',
    signals: {
      views_7d: rules.signals.views_7d,
      carts_7d: rules.signals.carts_7d,
      // searches_7d is gone; the model's settings still list it.
      stale: { ...rules.signals.buyer_logistic },
    },
    segments: [],
  };
  const saved = await api('PUT', 'rules', { text: JSON.stringify(doc, null, 2), message: 'searches no longer counted' },
    { 'if-match': `"${live.json.revision}"` });
  assert.equal(saved.status, 200, JSON.stringify(saved.json));
  const drafts = (await api('GET', 'rules/drafts')).json.drafts.length;
  const r = await retrain(['--days', '12']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /signals\.stale\.trained\.features\[1\]: "searches_7d" is not a signal of the rules in force/);
  assert.equal((await api('GET', 'rules/drafts')).json.drafts.length, drafts, 'no draft saved');
});
