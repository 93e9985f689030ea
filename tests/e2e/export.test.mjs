// The export and activation webhooks end to end in workerd (wrangler dev with
// its local Queues and R2): a browsing session's records are read back from
// local R2 through the admin API (with tools/export-pull.mjs, which saves them
// under target/e2e-export/ for `edgeseg train`) and checked field by field;
// a GPC visitor leaves nothing; poisoned queue messages are counted and do
// not block their batch; a local webhook receiver gets one signed delivery
// per entry, after a first 500 and the queue's retry. Last, `edgeseg train`
// reads the pulled folder as it is: the export and the trainer fit together.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile, readdir, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startWorker, Visitor, ROOT, eventually, freePort } from './harness.mjs';
import { verifyWebhook } from '../../examples/verify-webhook.mjs';
import { pull } from '../../tools/export-pull.mjs';
import Ajv2020 from 'ajv/dist/2020.js';

const TOKEN = 'e2e-admin-token-export';
const WEBHOOK_SECRET = 'e2e-webhook-secret-0123456789abcdef';
const OUT = join(ROOT, 'target', 'e2e-export');
const UA = 'Mozilla/5.0 (X11; Linux x86_64) edgeseg-e2e-export-ua';
const started = Math.floor(Date.now() / 1000);

// The receiver: answers 500 to the very first delivery, 204 after.
const deliveries = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    deliveries.push({ method: req.method, url: req.url, headers: req.headers, body, at: Date.now() });
    res.writeHead(deliveries.length === 1 ? 500 : 204).end();
  });
});
const receiverPort = await freePort();
await new Promise((ok) => receiver.listen(receiverPort, '127.0.0.1', ok));

const rules = JSON.parse(await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8'));
rules.version = 'export-e2e';
rules.events.purchase.description = 'An order was completed; props: total (the order value).';
rules.settings.export = {
  enabled: true,
  props: { purchase: ['value', 'total'], add_to_cart: ['sku'] },
  utm: ['source', 'campaign'],
};
rules.activations = [
  { id: 'cart_reminder', segment: 'cart_abandoner', on: 'enter', url: `http://127.0.0.1:${receiverPort}/hooks/edgeseg` },
];

let worker;
before(async () => {
  worker = await startWorker({
    rules: JSON.stringify(rules),
    vars: { EDGESEG_ADMIN_TOKEN: TOKEN, EDGESEG_WEBHOOK_SECRET: WEBHOOK_SECRET, EXPORT_RETRY_DELAY_SECS: '1' },
  });
});
after(async () => {
  await worker?.stop();
  await new Promise((ok) => receiver.close(ok));
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const admin = (path, init = {}) => fetch(`${worker.url}/__edgeseg/admin/api/${path}`, {
  ...init,
  headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
});
const health = async () => (await (await fetch(`${worker.url}/__edgeseg/health`)).json()).export;

/** A shopper: page views with a cookie jar, events as the page script sends them. */
class Shopper extends Visitor {
  constructor(base, ip, extra = {}) {
    super(base, { 'user-agent': UA, 'cf-connecting-ip': ip, ...extra });
    this.ip = ip;
    this.visitorId = null;
    this.lastPage = null;
    this.sent = 0; // page views and events a tracked shopper should be exported for
  }

  async view(path) {
    const r = await this.get(path);
    assert.equal(r.status, 200, path);
    const m = /visitorId:"([0-9a-f]{32})"/.exec(r.text);
    if (m) this.visitorId = m[1];
    this.lastPage = this.base + path;
    this.sent++;
    return r;
  }

  async track(events) {
    const h = { 'content-type': 'application/json', 'cf-connecting-ip': this.ip, 'user-agent': UA, referer: this.lastPage, ...this.headers };
    const cookie = this.cookieHeader();
    if (cookie) h.cookie = cookie;
    const res = await fetch(`${this.base}/__edgeseg/event`, { method: 'POST', headers: h, body: JSON.stringify({ events }) });
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    assert.equal(res.status, 204, await res.text());
    this.sent += events.length;
  }
}

/** Every record in the pulled folder, with the object it came from. */
async function readRecords(dir) {
  const out = [];
  const walk = async (d) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.ndjson.gz')) {
        const text = gunzipSync(await readFile(p)).toString('utf8');
        assert.ok(text.endsWith('\n'), 'NDJSON ends with a newline');
        for (const line of text.split('\n').filter(Boolean)) out.push({ key: relative(dir, p), record: JSON.parse(line), line });
      }
    }
  };
  await walk(dir).catch((e) => { if (e.code !== 'ENOENT') throw e; });
  return out;
}

async function pullAll() {
  await rm(OUT, { recursive: true, force: true });
  const now = new Date();
  return pull({ url: worker.url, token: TOKEN, from: new Date(started * 1000 - 3_600_000), to: now, dir: OUT });
}

test('a browsing session is exported to R2 as gzip NDJSON by hour, field by field; GPC leaves nothing; poison does not block', async () => {
  const h = await health();
  assert.deepEqual(
    { enabled: h.enabled, activations: h.activations, queue: h.queue_bound, bucket: h.bucket_bound, secret: h.webhook_secret_configured },
    { enabled: true, activations: 1, queue: true, bucket: true, secret: true },
  );

  // Poisoned messages go on the queue first, so they share a batch with real records.
  const poison = await admin('export/enqueue', { method: 'POST', body: JSON.stringify({ messages: ['not json at all', { type: 'record', record: { v: 99 } }, 42] }) });
  assert.equal(poison.status, 200, await poison.text());

  // A: campaign visit, cart, waits, becomes a cart abandoner (webhook), buys.
  const a = new Shopper(worker.url, '203.0.113.11');
  await a.view('/products/trail-runner?utm_source=newsletter&utm_campaign=winter&utm_medium=email&gclid=secret-click-id&email=a%40example.com');
  assert.ok(a.visitorId, 'a tracked visitor gets edgeseg.visitorId on the page');
  await a.track([{ name: 'add_to_cart', props: { sku: 'NW-TR-001', value: 129.5 }, path: '/products/trail-runner' }]);
  await sleep(2_300);
  const home = await a.view('/');
  assert.match(home.text, /segments:\["cart_abandoner"/);
  await a.track([{ name: 'purchase', props: { value: 129.5, total: 129.5, coupon: 'WINTER10' }, path: '/checkout/complete' }]);

  // More shoppers, so the folder is training input: some buy, some do not.
  const others = [];
  for (const [i, buys] of [[2, true], [3, true], [4, false], [5, false], [6, true]]) {
    const s = new Shopper(worker.url, `203.0.113.${20 + i}`);
    await s.view('/');
    await s.view('/products/daypack-28');
    if (i % 2 === 0) await s.view('/products/camp-mug');
    if (buys) await s.track([{ name: 'purchase', props: { total: 40 + i }, path: '/checkout/complete' }]);
    others.push({ s, buys });
  }

  // D: Global Privacy Control: nothing may leave the edge.
  const d = new Shopper(worker.url, '203.0.113.99', { 'sec-gpc': '1' });
  const gpcPage = await d.view('/products/down-jacket?utm_source=gpc-only');
  assert.equal(d.visitorId, null, 'no visitor id for an untracked visitor');
  assert.doesNotMatch(gpcPage.text, /visitorId:/);
  await d.track([{ name: 'purchase', props: { total: 999 }, path: '/checkout/gpc-only' }]);

  const expected = a.sent + others.reduce((n, { s }) => n + s.sent, 0);
  assert.equal(expected, 20);
  let records;
  await eventually(async () => {
    await pullAll();
    records = await readRecords(OUT);
    return records.length >= expected;
  }, { timeout: 45_000, every: 1_000, what: `${expected} exported records` });
  assert.equal(records.length, expected, 'one record per page view and accepted event, no more');

  // Keys: events/YYYY/MM/DD/HH/<batch>.ndjson.gz, by the UTC hour of the object's first record.
  for (const { key, record } of records) {
    assert.match(key, /^events\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/\d+-[0-9a-f]{16}\.ndjson\.gz$/);
  }
  const firstOf = new Map();
  for (const { key, record } of records) if (!firstOf.has(key)) firstOf.set(key, record.ts);
  for (const [key, ts] of firstOf) {
    const t = new Date(ts * 1000);
    const p = (n) => String(n).padStart(2, '0');
    assert.ok(key.startsWith(`events/${t.getUTCFullYear()}/${p(t.getUTCMonth() + 1)}/${p(t.getUTCDate())}/${p(t.getUTCHours())}/`), key);
  }

  // Nothing beyond what the rules declare.
  for (const { line, record } of records) {
    assert.doesNotMatch(line, /edgeseg-e2e-export-ua|203\.0\.113|gclid|secret-click-id|example\.com|WINTER10|coupon/);
    assert.equal(record.v, 1);
    assert.match(record.id, /^[0-9a-f]{32}$/);
    assert.ok(record.ts >= started && record.ts <= Math.floor(Date.now() / 1000) + 1, 'ts is the time of the visit');
    assert.equal(record.rules_version, null, 'rules put with wrangler carry no admin revision');
    assert.equal(record.rules_label, 'export-e2e');
    assert.notEqual(record.visitor, undefined);
  }
  assert.equal(new Set(records.map((r) => r.record.id)).size, records.length, 'record ids are unique');
  const validate = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true })
    .compile(JSON.parse(await readFile(join(ROOT, 'docs', 'export-record.schema.json'), 'utf8')));
  for (const { line, record } of records) assert.ok(validate(record), `${line}: ${JSON.stringify(validate.errors)}`);
  assert.ok(!records.some((r) => r.record.path.includes('gpc-only') || r.record.utm.source === 'gpc-only'), 'GPC visitor exported nothing');

  const mine = records.map((r) => r.record).filter((r) => r.visitor === a.visitorId).sort((x, y) => x.seq - y.seq);
  assert.equal(mine.length, 4);
  const [view1, cart, view2, purchase] = mine;
  assert.deepEqual(Object.keys(view1), ['v', 'id', 'ts', 'seq', 'kind', 'visitor', 'event', 'path', 'props', 'utm', 'signals', 'segments', 'experiments', 'rules_version', 'rules_label']);
  assert.equal(view1.kind, 'page_view');
  assert.equal(view1.event, 'page_view');
  assert.equal(view1.path, '/products/trail-runner');
  assert.deepEqual(view1.props, {});
  assert.deepEqual(view1.utm, { source: 'newsletter', campaign: 'winter' }, 'only the declared UTM parameters');
  assert.equal(view1.signals.product_views_10m, 1);
  assert.equal(view1.signals.sessions, 1);
  assert.equal(view1.signals.engagement_7d, 1);
  assert.ok(!('seconds_since_cart' in view1.signals), 'absent signals are left out');
  assert.ok(!('days_since_previous_visit' in view1.signals));
  assert.ok(view1.signals.likely_buyer_score > 0 && view1.signals.likely_buyer_score < 1);
  assert.deepEqual(view1.segments, ['campaign_visitor']);
  assert.deepEqual(view1.experiments, {});

  assert.equal(cart.kind, 'event');
  assert.equal(cart.event, 'add_to_cart');
  assert.equal(cart.path, '/products/trail-runner');
  assert.deepEqual(cart.props, { sku: 'NW-TR-001' }, 'only the declared props (value is not)');
  assert.deepEqual(cart.utm, { source: 'newsletter', campaign: 'winter' }, 'UTM from the page the event came from');
  assert.equal(cart.signals.seconds_since_cart, 0, 'signals right after the event');
  assert.equal(cart.signals.engagement_7d, 6);
  assert.deepEqual(cart.segments, ['campaign_visitor'], 'segments as of the last page view');

  assert.equal(view2.path, '/');
  assert.deepEqual(view2.utm, {});
  assert.deepEqual(view2.segments.slice(0, 2), ['cart_abandoner', 'campaign_visitor']);
  assert.ok(view2.signals.seconds_since_cart >= 2);

  assert.equal(purchase.event, 'purchase');
  assert.equal(purchase.path, '/checkout/complete');
  // value has bounds in the rules (a number); total is read by nothing (text).
  assert.deepEqual(purchase.props, { value: 129.5, total: '129.5' });
  assert.ok(!('seconds_since_cart' in purchase.signals), 'a purchase cancels the cart signal');
  assert.equal(purchase.signals.engagement_7d, 1 + 5 + 1 + 20);

  const purchases = records.filter((r) => r.record.event === 'purchase');
  assert.equal(purchases.length, 1 + others.filter((o) => o.buys).length);
  assert.equal(new Set(records.map((r) => r.record.visitor)).size, 1 + others.length);

  const e = await eventually(async () => {
    const x = await health();
    return x.this_isolate['export:poisoned'] >= 3 && x.this_isolate['export:records_written'] >= expected ? x : null;
  }, { timeout: 15_000, what: 'poisoned messages counted on health' });
  assert.equal(e.this_isolate['export:poisoned'], 3);
  assert.equal(e.this_isolate['export:records_dropped'] ?? 0, 0);
  assert.equal(e.this_isolate['export:records_written'], expected);
  assert.ok(e.today['export:poisoned'] >= 3, 'also in the day\'s counters');
});

test('one signed webhook per entry into cart_abandoner, retried by the queue after a first 500', async () => {
  // The session above made one entry; wait for the retry to be delivered.
  await eventually(() => deliveries.length >= 2, { timeout: 45_000, every: 250, what: 'the webhook retry' });
  await sleep(3_000); // a third delivery would be a duplicate
  assert.equal(deliveries.length, 2, 'one failed attempt and one delivery, no more');
  const [first, second] = deliveries;
  for (const dlv of deliveries) {
    assert.equal(dlv.method, 'POST');
    assert.equal(dlv.url, '/hooks/edgeseg');
    assert.equal(dlv.headers['content-type'], 'application/json');
    assert.match(dlv.headers['idempotency-key'], /^[0-9a-f]{32}$/);
    verifyWebhook(WEBHOOK_SECRET, dlv.headers['x-edgeseg-signature'], dlv.body);
  }
  assert.equal(first.headers['idempotency-key'], second.headers['idempotency-key'], 'a retry carries the same key');
  assert.equal(first.body, second.body, 'the same payload');
  const payload = JSON.parse(second.body);
  assert.equal(payload.v, 1);
  assert.equal(payload.activation, 'cart_reminder');
  assert.equal(payload.segment, 'cart_abandoner');
  assert.equal(payload.transition, 'entered');
  assert.match(payload.visitor, /^[0-9a-f]{32}$/);
  assert.ok(payload.at >= started);
  assert.equal(payload.rules_label, 'export-e2e');
  assert.equal(payload.idempotency_key, second.headers['idempotency-key']);

  // The documented verification catches a wrong secret and a changed body.
  assert.throws(() => verifyWebhook('not-the-secret', second.headers['x-edgeseg-signature'], second.body), /signature mismatch/);
  assert.throws(() => verifyWebhook(WEBHOOK_SECRET, second.headers['x-edgeseg-signature'], second.body.replace('entered', 'exited')), /signature mismatch/);
  assert.throws(() => verifyWebhook(WEBHOOK_SECRET, second.headers['x-edgeseg-signature'], second.body, { nowSecs: payload.at + 3_600 }), /beyond/);

  const h = await health();
  assert.equal(h.this_isolate['webhook:delivered'], 1);
  assert.equal(h.this_isolate['webhook:retried'], 1);
  assert.equal(h.this_isolate['webhook:dropped'] ?? 0, 0);
});

test('the export admin API needs the token and refuses keys outside the export', async () => {
  assert.equal((await fetch(`${worker.url}/__edgeseg/admin/api/export`)).status, 401);
  assert.equal((await admin('export?prefix=rules')).status, 400);
  assert.equal((await admin('export/object?key=../rules')).status, 400);
  assert.equal((await admin('export/object?key=events/none.ndjson.gz')).status, 404);
  const list = await (await admin('export')).json();
  assert.ok(list.objects.length >= 1 && list.objects.every((o) => o.key.startsWith('events/') && o.size > 0));
});

test('edgeseg train reads the pulled export as it is: k-means over the session\'s signals, and its signal pastes', async () => {
  const run = promisify(execFile);
  const bin = join(ROOT, 'target', 'debug', 'edgeseg');
  if (!existsSync(bin)) await run('cargo', ['build', '--bin', 'edgeseg'], { cwd: ROOT });
  // Visitors enough for the trainer's minimums (50 moments, 20 in the newer
  // part), two kinds of them: quick lookers and product browsers. They come a
  // second apart: the time split never cuts through one second, so moments
  // crowded into a few seconds could leave the newer part too small.
  for (let i = 0; i < 24; i++) {
    await sleep(1_000);
    const s = new Shopper(worker.url, `198.51.100.${10 + i}`);
    await s.view('/');
    if (i % 2 === 0) {
      for (const p of ['/products/trail-runner', '/products/daypack-28', '/products/camp-mug']) await s.view(p);
      await s.track([{ name: 'add_to_cart', props: { sku: 'NW-TR-001' }, path: '/products/trail-runner' }]);
    }
  }
  let records;
  await eventually(async () => {
    await pullAll();
    records = await readRecords(OUT);
    return records.length >= 20 + 24 + 12 * 4;
  }, { timeout: 45_000, every: 1_000, what: 'the new records in R2' });

  const { stdout } = await run(bin, ['train', 'kmeans', OUT, '--k', '2', '--features', 'product_views_10m,engagement_7d', '--json']);
  const report = JSON.parse(stdout);
  assert.equal(report.records, records.length, 'the trainer read every exported record');
  assert.equal(report.duplicates, 0);
  assert.equal(report.skipped, 0, 'no line of the export was unreadable to the trainer');
  assert.deepEqual(report.features, ['product_views_10m', 'engagement_7d']);
  assert.equal(report.train.examples + report.test.examples, records.length, 'one moment per record');
  assert.ok(report.test.from >= report.train.to, 'the newer part is tested');
  assert.equal(report.clusters.length, 2);
  const product = Math.max(...report.clusters.map((c) => c.centroid[0]));
  assert.ok(product >= 2, `one cluster is the product browsers (centroids ${JSON.stringify(report.clusters.map((c) => c.centroid))})`);

  // The printed signal is valid in the rules the export came from.
  const pasted = { ...rules, signals: { ...rules.signals, ...report.signal } };
  const dir = await mkdtemp(join(tmpdir(), 'edgeseg-export-train-'));
  const file = join(dir, 'rules.json');
  await writeFile(file, JSON.stringify(pasted));
  const { stdout: valid } = await run(bin, ['validate', file]);
  assert.match(valid, /valid/);
  await rm(dir, { recursive: true, force: true });
});
