// The export as a data engineer uses it (issue 24), end to end in workerd with
// its local Queues and R2, and in headless Chromium:
// - purchase.value sent as a number by edgeseg.track() and as text by
//   <body data-edgeseg-prop-value> (the page script's own code, in a real
//   browser) is exported as the same number; an undeclared property as text;
// - seq orders a visitor's page views and the events of one request, where
//   whole-second ts cannot;
// - every record the Worker wrote validates against docs/export-record.schema.json (Ajv);
// - the loading guide's DuckDB and pandas code (docs/loading-the-export.md, run
//   as written by tests/loading/check_guide.py) loads what the Worker wrote;
// - erasure: `edgeseg export erase` removes one visitor id from every object in
//   R2 (read back through the admin API), the other visitors' records stay
//   byte for byte, a server event waiting in the visitor's inbox (a Durable
//   Object) is dropped, the audit log has it (a reference, not the id), refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Ajv2020 from 'ajv/dist/2020.js';
import { startWorker, Visitor, ROOT, eventually } from './harness.mjs';
import { launchBrowser, browserMissing } from './browser.mjs';
import { pull } from '../../tools/export-pull.mjs';
import { sendServerEvents } from '../../examples/shop-backend.mjs';

const run = promisify(execFile);
const TOKEN = 'e2e-admin-token-export-data';
const SERVER_SECRET = 'e2e-server-events-secret-export-data';
const OUT = join(ROOT, 'target', 'e2e-export-data');
const BIN = join(ROOT, 'target', 'debug', 'edgeseg');
const PYTHON = join(ROOT, '.tools', 'py', 'bin', 'python');
const started = Math.floor(Date.now() / 1000);
const noBrowser = browserMissing();

const rules = JSON.parse(await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8'));
rules.version = 'export-data-e2e';
// purchase.value has bounds in test-rules.json: the rules read it as a number.
// order and add_to_cart's sku and qty are read by nothing: text.
rules.settings.export = { enabled: true, props: { purchase: ['value', 'order'], add_to_cart: ['sku', 'qty'] } };

let worker;
let browser;
before(async () => {
  worker = await startWorker({ rules: JSON.stringify(rules), vars: { EDGESEG_ADMIN_TOKEN: TOKEN, EDGESEG_SERVER_EVENTS_SECRET: SERVER_SECRET } });
  if (!noBrowser) browser = await launchBrowser();
  await run('cargo', ['build', '--bin', 'edgeseg'], { cwd: ROOT });
});
after(async () => {
  await browser?.close();
  await worker?.stop();
});

const admin = (path, init = {}) => fetch(`${worker.url}/__edgeseg/admin/api/${path}`, {
  ...init,
  headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
});

/** Every export object in R2, read through the admin API: key -> NDJSON text. */
async function objects() {
  const out = new Map();
  let cursor = null;
  do {
    const q = new URLSearchParams({ prefix: 'events/' });
    if (cursor) q.set('cursor', cursor);
    const list = await (await admin(`export?${q}`)).json();
    for (const { key } of list.objects) {
      const r = await admin(`export/object?key=${encodeURIComponent(key)}`);
      assert.equal(r.status, 200, key);
      out.set(key, gunzipSync(Buffer.from(await r.arrayBuffer())).toString('utf8'));
    }
    cursor = list.truncated ? list.cursor : null;
  } while (cursor);
  return out;
}

const linesOf = (objs) => [...objs.values()].flatMap((t) => t.split('\n').filter(Boolean));
const recordsOf = (objs) => linesOf(objs).map((line) => ({ line, record: JSON.parse(line) }));

/** Waits until R2 holds at least n records; returns them. */
async function recordsInR2(n) {
  let records;
  await eventually(async () => {
    records = recordsOf(await objects());
    return records.length >= n;
  }, { timeout: 45_000, every: 1_000, what: `${n} records in R2` });
  return records;
}

class Shopper extends Visitor {
  constructor(ip) {
    super(worker.url, { 'cf-connecting-ip': ip });
    this.ip = ip;
    this.id = null;
    this.lastPage = null;
  }

  async view(path) {
    const r = await this.get(path);
    assert.equal(r.status, 200, path);
    this.id = /visitorId:"([0-9a-f]{32})"/.exec(r.text)?.[1] ?? this.id;
    this.lastPage = this.base + path;
  }

  async track(events) {
    const res = await fetch(`${this.base}/__edgeseg/event`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': this.ip, referer: this.lastPage, cookie: this.cookieHeader() },
      body: JSON.stringify({ events }),
    });
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    assert.equal(res.status, 204, await res.text());
  }
}

const ids = {}; // visitor ids by role in the session
let expected = 0; // records the session should have written

test('purchase.value from edgeseg.track() and from data-edgeseg-prop-value export as one number, in Chromium', { skip: noBrowser ?? false, timeout: 120_000 }, async () => {
  // The track() path: the demo store's home page, then the page's own API.
  const tracker = await browser.newPage();
  await tracker.goto(`${worker.url}/`);
  await tracker.waitForFunction(() => window.edgeseg && typeof window.edgeseg.track === 'function');
  ids.track = await tracker.evaluate(() => window.edgeseg.visitorId);
  assert.match(ids.track ?? '', /^[0-9a-f]{32}$/);
  const sent = tracker.waitForResponse((r) => r.url().endsWith('/__edgeseg/event'));
  await tracker.evaluate(() => { window.edgeseg.track('purchase', { value: 129.5, order: 1042 }); return window.edgeseg.flush(); });
  assert.equal((await sent).status(), 204);

  // The attribute path: an order page whose <body> names the event, as a shop
  // template would; the script served by the Worker reads the attributes.
  const attrs = await browser.newPage();
  await attrs.goto(`${worker.url}/`);
  ids.attrs = await attrs.evaluate(() => window.edgeseg.visitorId);
  await attrs.route(`${worker.url}/order/thanks`, (route) => route.fulfill({
    contentType: 'text/html; charset=utf-8',
    body: '<!doctype html><html><head><meta charset="utf-8"><title>Thanks</title></head>'
      + '<body data-edgeseg-event="purchase" data-edgeseg-prop-value="129.50" data-edgeseg-prop-order="1042">'
      + '<p>Thank you</p><script src="/__edgeseg/edgeseg.js"></script></body></html>',
  }));
  const posted = attrs.waitForRequest((r) => r.url().endsWith('/__edgeseg/event'));
  const answered = attrs.waitForResponse((r) => r.url().endsWith('/__edgeseg/event'));
  await attrs.goto(`${worker.url}/order/thanks`);
  const wire = JSON.parse((await posted).postData());
  assert.deepEqual(wire.events[0].props, { value: '129.50', order: '1042' }, 'the page sent text, as attributes are');
  assert.equal((await answered).status(), 204);
  expected += 2 + 2; // two page views, two purchases

  const records = await recordsInR2(expected);
  const purchase = (v) => records.find((r) => r.record.visitor === v && r.record.event === 'purchase');
  const [fromTrack, fromAttrs] = [purchase(ids.track), purchase(ids.attrs)];
  assert.ok(fromTrack && fromAttrs, 'both purchases are in R2');
  for (const { record, line } of [fromTrack, fromAttrs]) {
    assert.deepEqual(record.props, { value: 129.5, order: '1042' });
    assert.equal(typeof record.props.value, 'number');
    assert.match(line, /"props":\{"value":129\.5,"order":"1042"\}/);
  }
});

test('seq orders a visitor\'s records within a second and within one event request', async () => {
  const s = new Shopper('203.0.113.40');
  await s.view('/');
  // Three events in one request, the second's qty as text, then another page.
  await s.track([
    { name: 'add_to_cart', props: { sku: 'NW-TR-001', qty: 1 }, path: '/' },
    { name: 'add_to_cart', props: { sku: 'NW-DP-028', qty: '2' }, path: '/' },
    { name: 'purchase', props: { value: '49.90', order: 'A7' }, path: '/checkout/complete' },
  ]);
  await s.view('/products/trail-runner');
  ids.seq = s.id;
  // A third shopper, to be left alone by the erasure below.
  const other = new Shopper('203.0.113.41');
  await other.view('/');
  await other.track([{ name: 'add_to_cart', props: { sku: 'NW-CM-001', qty: 3 }, path: '/' }]);
  ids.other = other.id;
  expected += 5 + 2;

  const records = await recordsInR2(expected);
  const mine = records.map((r) => r.record).filter((r) => r.visitor === ids.seq);
  assert.equal(mine.length, 5);
  for (const r of mine) {
    assert.ok(Number.isSafeInteger(r.seq), `seq ${r.seq} is an exact integer`);
    assert.equal(Math.floor(r.seq / 100_000), r.ts, 'seq starts with the millisecond of ts');
  }
  assert.equal(new Set(mine.map((r) => r.seq)).size, 5, 'no two records of the visitor share a seq');
  mine.sort((a, b) => a.seq - b.seq);
  assert.deepEqual(
    mine.map((r) => [r.event, r.props.sku ?? r.props.value ?? r.path]),
    [['page_view', '/'], ['add_to_cart', 'NW-TR-001'], ['add_to_cart', 'NW-DP-028'], ['purchase', 49.9], ['page_view', '/products/trail-runner']],
    'the order the visitor did things in',
  );
  const batch = mine.slice(1, 4).map((r) => r.seq);
  assert.deepEqual(batch.map((x) => x - batch[0]), [0, 1, 2], 'one request\'s events keep their places');
  assert.deepEqual(mine.slice(1, 3).map((r) => r.props.qty), ['1', '2'], 'an undeclared property is text, however it was sent');
});

test('every record the Worker wrote validates against docs/export-record.schema.json', async () => {
  const schema = JSON.parse(await readFile(join(ROOT, 'docs', 'export-record.schema.json'), 'utf8'));
  const validate = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
  const records = await recordsInR2(expected);
  assert.ok(records.length >= expected);
  for (const { line, record } of records) {
    assert.ok(validate(record), `${line}\n${JSON.stringify(validate.errors, null, 1)}`);
  }
  // And the schema refuses what it should: a text value where a number is
  // not wanted is fine, but a record of another version, a bad id, an
  // object-valued prop are not.
  const one = records[0].record;
  for (const bad of [{ ...one, v: 2 }, { ...one, visitor: 'x' }, { ...one, props: { value: { a: 1 } } }, { ...one, kind: 'event', event: 'page_view' }]) {
    assert.equal(validate(bad), false, JSON.stringify(bad));
  }
});

test('the loading guide\'s DuckDB and pandas code loads the export as the Worker wrote it', { timeout: 120_000 }, async (t) => {
  if (!existsSync(PYTHON)) assert.fail(`no ${PYTHON}: run \`make tools\` (it installs DuckDB and pandas into .tools/py)`);
  await recordsInR2(expected);
  await rm(OUT, { recursive: true, force: true });
  await pull({ url: worker.url, token: TOKEN, from: new Date(started * 1000 - 3_600_000), to: new Date(), dir: OUT });
  const { stdout } = await run(PYTHON, [join(ROOT, 'tests', 'loading', 'check_guide.py'), OUT], { cwd: ROOT });
  const loaded = JSON.parse(stdout);
  const records = recordsOf(await objects()).map((r) => r.record);
  const unique = new Map(records.map((r) => [r.id, r]));
  assert.equal(loaded.duckdb.ids, unique.size);
  assert.equal(loaded.duckdb.records, unique.size, 'repeated ids dropped');
  assert.equal(loaded.pandas.records, unique.size);
  const purchases = [...unique.values()].filter((r) => r.event === 'purchase')
    .sort((a, b) => (a.visitor < b.visitor ? -1 : a.visitor > b.visitor ? 1 : a.seq - b.seq))
    .map((r) => [r.visitor, r.seq, r.props.value]);
  assert.ok(purchases.length >= 2);
  assert.deepEqual(loaded.duckdb.purchases, purchases);
  assert.deepEqual(loaded.pandas.purchases, purchases);
  assert.deepEqual(loaded.duckdb.value_type, [['DOUBLE']], 'DuckDB reads purchase.value as one type');
  assert.equal(loaded.pandas.value_dtype, 'float64');
  assert.equal(loaded.bigquery_columns, 16);
  t.diagnostic(`loaded ${unique.size} records, ${purchases.length} purchases`);
});

test('edgeseg export erase removes one visitor id from R2; the others\' records stay byte for byte; audited', { timeout: 120_000 }, async () => {
  const victim = ids.seq;
  assert.match(victim ?? '', /^[0-9a-f]{32}$/);
  const before = await objects();
  const beforeLines = linesOf(before);
  const theirs = beforeLines.filter((l) => l.includes(victim));
  const others = beforeLines.filter((l) => !l.includes(victim)).sort();
  assert.equal(theirs.length, 5);
  assert.ok(others.some((l) => l.includes(ids.other)));
  assert.ok(before.size >= 2, `${before.size} objects`);

  // Refusals first: no token, a bad id, an out-of-range limit, the CLI's usage and a wrong token.
  const anon = await fetch(`${worker.url}/__edgeseg/admin/api/export/erase`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ visitor: victim }) });
  assert.equal(anon.status, 401);
  const bad = await admin('export/erase', { method: 'POST', body: JSON.stringify({ visitor: 'not-an-id' }) });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /32 hex digits/);
  assert.equal((await admin('export/erase', { method: 'POST', body: JSON.stringify({ visitor: victim, limit: 0 }) })).status, 400);
  assert.equal((await admin('export/erase', { method: 'POST', body: JSON.stringify({ visitor: victim, prefix: 'rules' }) })).status, 400);
  const usage = await run(BIN, ['export', 'erase', '--worker', worker.url, '--token', TOKEN, 'nope']).catch((e) => e);
  assert.equal(usage.code, 2, usage.stderr);
  const refused = await run(BIN, ['export', 'erase', '--worker', worker.url, '--token', 'wrong', victim]).catch((e) => e);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /refused the admin token \(403: .*EDGESEG_ADMIN_TOKEN.*an erasure a publisher/);
  assert.equal(linesOf(await objects()).length, beforeLines.length, 'a refused erasure changed nothing');

  // A purchase the shop's backend sent is waiting for the visitor's next page (their inbox).
  const waiting = await sendServerEvents(worker.url, SERVER_SECRET, victim, [{ id: 'order-A7-refund', name: 'purchase', props: { value: -49.9 }, path: '/account' }]);
  assert.equal(waiting.status, 202, JSON.stringify(waiting.body));

  // One object a call: the CLI follows the cursor through every object.
  const { stdout, stderr } = await run(BIN, ['export', 'erase', '--worker', worker.url, '--token', TOKEN, victim.toUpperCase(), '--limit', '1', '--json']);
  const report = JSON.parse(stdout);
  assert.equal(report.done, true);
  assert.equal(report.records_removed, 5, stderr);
  assert.equal(report.inbox_events_removed, 1, 'the waiting server event is dropped too');
  assert.ok(report.calls >= before.size, `${report.calls} calls for ${before.size} objects`);
  assert.equal(report.objects_scanned, before.size);
  assert.equal(report.objects_rewritten + report.objects_deleted, new Set([...before].filter(([, t]) => t.includes(victim)).map(([k]) => k)).size);

  const after = await objects();
  for (const [key, text] of after) {
    assert.ok(!text.includes(victim) && !text.toUpperCase().includes(victim.toUpperCase()), `${key} still holds the erased id`);
  }
  assert.deepEqual(linesOf(after).sort(), others, 'every other record is still there, unchanged');
  for (const [key, text] of after) assert.ok(text.length === 0 || text.endsWith('\n'), `${key} is NDJSON`);

  // Again: nothing left to remove, and it says so.
  const again = await admin('export/erase', { method: 'POST', body: JSON.stringify({ visitor: victim, limit: 200 }) });
  assert.deepEqual((({ records_removed: r, inbox_events_removed: i, done }) => ({ r, i, done }))(await again.json()), { r: 0, i: 0, done: true });

  const ref = createHash('sha256').update(victim).digest('hex').slice(0, 16);
  const audit = (await (await admin('audit')).json()).entries.filter((e) => e.action === 'erase_export');
  assert.ok(audit.length >= 2, JSON.stringify(audit));
  assert.ok(audit.every((e) => e.detail.includes(ref) && !e.detail.includes(victim)), 'the log names a reference, not the id');
  assert.ok(audit.some((e) => /5 records removed|[1-5] records removed/.test(e.detail)));
  assert.ok(audit.some((e) => e.detail.endsWith('; done')));
  assert.ok(audit.some((e) => e.detail.includes('1 waiting server events dropped')), JSON.stringify(audit));
  assert.equal(audit[0].by.id.startsWith('service:'), true);
  assert.equal(report.visitor_ref, ref);
});
