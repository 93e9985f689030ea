// Counters end to end in workerd: isolate batch -> counter shard Durable
// Object (SQLite) -> published day keys in KV -> the stats endpoint; a runtime
// restart with the same persisted storage in the middle of a run; the event
// endpoint's per-client rate limit; the cron writing no KV key of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startWorker, Visitor, ROOT, flushCounters } from './harness.mjs';

const TOKEN = 'e2e-admin-token-counters';
const rules = await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8');
const vars = { EDGESEG_ADMIN_TOKEN: TOKEN };

async function stats(url) {
  const r = await fetch(`${url}/__edgeseg/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  return r.json();
}
const total = (s, name) => (s.counters[name] || []).reduce((a, b) => a + b, 0);

async function serve(url, n, visitors = 5) {
  const vs = Array.from({ length: visitors }, () => new Visitor(url));
  const paths = ['/', '/category/', '/products/camp-mug', '/products/trail-runner'];
  for (let i = 0; i < n; i++) {
    const r = await vs[i % visitors].get(paths[i % paths.length]);
    assert.equal(r.status, 200);
  }
}

async function health(url) {
  return (await fetch(`${url}/__edgeseg/health`)).json();
}

test('pages served, flushed through the shard to KV, equal the page views in the stats', async () => {
  const worker = await startWorker({ rules, vars });
  try {
    const h = await health(worker.url);
    assert.equal(h.counters.shards, 1);
    assert.equal(h.counters.dropped, 0);
    const N = 40;
    await serve(worker.url, N);
    const flushed = await flushCounters(worker.url, TOKEN);
    assert.equal(flushed.unsent, false);
    assert.equal(flushed.shards.length, 1);
    const s = await stats(worker.url);
    assert.equal(total(s, 'page_views'), N);
    assert.ok(total(s, 'entries:product_browser') >= 1);
    // A second flush sends nothing new and the totals stay: nothing counted twice.
    await serve(worker.url, 0);
    await flushCounters(worker.url, TOKEN);
    assert.equal(total(await stats(worker.url), 'page_views'), N);
    const after = await health(worker.url);
    assert.ok(after.counters.batches_acked >= 1, JSON.stringify(after.counters));
    assert.equal(after.counters.send_failures, 0, JSON.stringify(after.counters));
  } finally {
    await worker.stop();
  }
});

test('restarting the runtime between two halves of a run (same --persist-to) loses nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeseg-restart-'));
  try {
    const first = await startWorker({ rules, vars, persistDir: dir });
    try {
      await serve(first.url, 25);
      // The cron sends this isolate's batch to its shard, which stores it in
      // SQLite; nothing is published yet (the publish interval has not passed).
      const r = await fetch(`${first.url}/__scheduled`);
      assert.equal(r.status, 200);
      const h = await health(first.url);
      assert.equal(h.counters.batch_pending, false, JSON.stringify(h.counters));
      assert.equal(h.counters.open_entries, 0);
    } finally {
      await first.stop();
    }
    const second = await startWorker({ rules: null, vars, persistDir: dir });
    try {
      await serve(second.url, 17);
      await flushCounters(second.url, TOKEN);
      assert.equal(total(await stats(second.url), 'page_views'), 25 + 17);
    } finally {
      await second.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Names of the keys in a local KV persistence directory (no wrangler dev may be using it). */
async function kvKeys(persistDir) {
  const wrangler = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
  const { stdout } = await promisify(execFile)(process.execPath,
    [wrangler, 'kv', 'key', 'list', '--binding', 'EDGESEG_KV', '--local', '--persist-to', persistDir],
    { cwd: ROOT, env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' } });
  return JSON.parse(stdout.slice(stdout.indexOf('['))).map((k) => k.name);
}

// The cron once also ran an upgrade from a delta-key design that never
// shipped, writing its state to KV (`counters:legacy`) every minute until done.
// Now it only sends this isolate's counts: KV holds the rules and, at most,
// the day keys the shards publish.
test('the cron sends the counts and writes no KV key of its own', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeseg-cron-'));
  try {
    const worker = await startWorker({ rules, vars, persistDir: dir });
    try {
      await serve(worker.url, 6);
      for (let i = 0; i < 2; i++) {
        const r = await fetch(`${worker.url}/__scheduled`);
        assert.equal(r.status, 200);
      }
      const h = await health(worker.url);
      assert.equal(h.counters.batch_pending, false, JSON.stringify(h.counters));
      assert.equal(h.counters.open_entries, 0);
      assert.ok(h.counters.batches_acked >= 1, JSON.stringify(h.counters));
    } finally {
      await worker.stop();
    }
    const keys = await kvKeys(dir);
    assert.ok(keys.includes('rules'), keys.join(' '));
    const other = keys.filter((k) => k !== 'rules' && !/^s:\d+:\d+$/.test(k));
    assert.deepEqual(other, [], `keys besides the rules and published days: ${keys.join(' ')}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('event requests past the per-client rate limit get 429 and are counted as refused', async () => {
  const worker = await startWorker({ rules, vars });
  try {
    const send = () => fetch(`${worker.url}/__edgeseg/event`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'add_to_cart', path: '/' }),
    });
    const statuses = [];
    // wrangler.toml allows 120 a minute per client; a minute boundary can
    // reset the window once, so send enough to cross the limit either way.
    for (let i = 0; i < 250; i++) statuses.push((await send()).status);
    const ok = statuses.filter((s) => s === 204).length;
    const refused = statuses.filter((s) => s === 429).length;
    assert.equal(ok + refused, statuses.length, `only 204 and 429: ${[...new Set(statuses)]}`);
    assert.ok(refused >= 10, `refused ${refused} of ${statuses.length}`);
    const r = await send();
    if (r.status === 429) {
      assert.equal(r.headers.get('retry-after'), '60');
      assert.match((await r.json()).error, /too many event requests/);
      statuses.push(429);
    } else statuses.push(r.status);
    const refusedAll = statuses.filter((s) => s === 429).length;
    assert.equal((await health(worker.url)).counters.refused_events, refusedAll);
    await flushCounters(worker.url, TOKEN);
    const s = await stats(worker.url);
    assert.equal(total(s, 'events_refused'), refusedAll);
    assert.equal(total(s, 'events:add_to_cart'), statuses.length - refusedAll);
  } finally {
    await worker.stop();
  }
});
