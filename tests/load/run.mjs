// `make load`: a real load on the real runtime. The Worker runs alone in its
// own workerd process under Miniflare (no wrangler dev proxy), pages come from
// a local origin, and LOAD_REQUESTS (10,000) requests go at LOAD_CONCURRENCY
// (64) connections from a crowd of visitors, each with its own cookie jar: new
// visitors, returning ones, campaign arrivals, and some who send GPC (not
// tracked, so not counted). It checks, and fails otherwise:
//   - zero errors: every response is a 200 with the whole page;
//   - memory flat: the Worker's wasm memory grows by less than
//     LOAD_MAX_WASM_GROWTH_MIB (1) after the first quarter (it never shrinks,
//     so a leak of a kilobyte per request, 7.5 MiB here, would show; the
//     bounded in-isolate maps, such as counters and pending exposures, may
//     still take a 64 KiB page or two as they fill), the
//     workerd process's RSS (V8's heaps too, which the garbage collector
//     sizes as it likes) grows by less than LOAD_MAX_RSS_GROWTH_MIB (96: a 30,000-request run here rose
//     and fell between 208 and 358 MiB as V8 collected), and
//     no rewrite is left in flight (health's `rewrites_in_flight`);
//   - counters exact: once the counts are flushed to the counter shard and
//     published to KV (the admin `counters/flush`), the `page_views` counter
//     equals the number of pages served to tracked visitors.
// It prints throughput and latency, which it does not judge. Bounded: a
// fixed number of requests to 127.0.0.1 only.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, eventually, flushCounters } from '../e2e/harness.mjs';
import { startMiniflare, startOrigin, drive, median, quantile } from './miniflare.mjs';
import { benchPage } from '../../benches/edge/page.mjs';

const TOTAL = Number(process.env.LOAD_REQUESTS || 10_000);
const CONCURRENCY = Number(process.env.LOAD_CONCURRENCY || 64);
const VISITORS = Number(process.env.LOAD_VISITORS || 1_500);
const MAX_RSS_GROWTH_MIB = Number(process.env.LOAD_MAX_RSS_GROWTH_MIB || 96);
const MAX_WASM_GROWTH_MIB = Number(process.env.LOAD_MAX_WASM_GROWTH_MIB || 1);
const PAGE_BYTES = Number(process.env.LOAD_PAGE_BYTES || 32 * 1024);
const TOKEN = 'load-test-admin-token-0123456789';
const PATHS = ['/', '/products/trail-runner', '/products/camp-mug', '/products/daypack-28', '/category/', '/category/new-arrivals', '/cart'];

function fail(message) {
  console.error(`load: FAILED: ${message}`);
  process.exitCode = 1;
}

const html = benchPage(PAGE_BYTES);
const origin = await startOrigin(() => html);
// The example rules with every event from the browser. With `purchase` from the server, each
// returning visitor's page asks that visitor's inbox (a Durable Object), and locally all 1,500
// inboxes live in this one workerd process: its RSS then grew by ~200 MiB, which says nothing
// about the Worker's own memory, the thing measured here (the wasm memory stayed flat).
const doc = JSON.parse(await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8'));
for (const e of Object.values(doc.events)) delete e.source;
const rules = JSON.stringify(doc);
const worker = await startMiniflare({ edgeseg: true, rules, vars: { ORIGIN_URL: origin.url, EDGESEG_ADMIN_TOKEN: TOKEN } });
const admin = { authorization: `Bearer ${TOKEN}` };

async function pageViews() {
  const now = Math.floor(Date.now() / 1000);
  const r = await fetch(`${worker.url}/__edgeseg/stats?from=${now - 2 * 3600}&to=${now}`, { headers: admin });
  const body = await r.json();
  return (body.counters?.page_views ?? []).reduce((a, b) => a + b, 0);
}

// Visitor k: a cookie jar; every 20th sends GPC; every 7th arrives from a campaign.
const jars = Array.from({ length: VISITORS }, () => new Map());
const gpc = (k) => k % 20 === 0;
let tracked = 0;
let served = 0;
let shortPages = 0;
const rss = [];
const wasm = [];

try {
  const before = await pageViews();
  const quarter = Math.floor(TOTAL / 4);
  const request = (i) => {
    const k = (i * 7919) % VISITORS; // spread each visitor's requests over the run
    const jar = jars[k];
    const headers = { accept: 'text/html', 'accept-encoding': 'identity', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) edgeseg-load' };
    if (jar.size) headers.cookie = [...jar].map(([n, v]) => `${n}=${v}`).join('; ');
    if (gpc(k)) headers['sec-gpc'] = '1';
    const path = PATHS[i % PATHS.length] + (k % 7 === 0 ? '?utm_campaign=load' : '');
    return { url: `${worker.url}${path}`, headers, k };
  };
  const onResponse = (i, res, body) => {
    const k = (i * 7919) % VISITORS;
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const at = pair.indexOf('=');
      jars[k].set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    }
    if (res.status === 200) {
      served++;
      if (!gpc(k)) tracked++;
      if (body.length < PAGE_BYTES || !body.toString('utf8', body.length - 16).includes('</html>')) shortPages++;
    }
  };
  const runs = [];
  for (let part = 0; part < 4; part++) {
    const offset = part * quarter;
    const total = part === 3 ? TOTAL - offset : quarter;
    runs.push(await drive({ total, concurrency: CONCURRENCY, request: (i) => request(i + offset), onResponse: (i, res, body) => onResponse(i + offset, res, body) }));
    rss.push(await worker.rss());
    wasm.push((await (await fetch(`${worker.url}/__edgeseg/health`)).json()).wasm_memory_bytes / (1 << 20));
  }
  const latencies = runs.flatMap((r) => r.latencies);
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  const statuses = {};
  for (const r of runs) for (const [s, n] of Object.entries(r.statuses)) statuses[s] = (statuses[s] ?? 0) + n;
  console.log(`load: ${TOTAL} requests at ${CONCURRENCY} connections from ${VISITORS} visitors, ${(PAGE_BYTES / 1024).toFixed(0)} KB page: ${(TOTAL / seconds).toFixed(0)} req/s, median ${median(latencies).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms`);
  console.log(`load: statuses ${JSON.stringify(statuses)}; after each quarter, workerd RSS: ${rss.map((m) => `${m.toFixed(0)} MiB`).join(', ')}; the Worker's wasm memory: ${wasm.map((m) => `${m.toFixed(1)} MiB`).join(', ')}`);
  if ((statuses[200] ?? 0) !== TOTAL) fail(`expected ${TOTAL} responses of 200, got ${JSON.stringify(statuses)}`);
  if (shortPages) fail(`${shortPages} pages arrived cut short`);
  const growth = rss[3] - rss[0];
  if (growth >= MAX_RSS_GROWTH_MIB) fail(`workerd RSS grew by ${growth.toFixed(0)} MiB after the first quarter (bound ${MAX_RSS_GROWTH_MIB})`);
  if (wasm[3] - wasm[0] >= MAX_WASM_GROWTH_MIB) fail(`the Worker's wasm memory grew by ${(wasm[3] - wasm[0]).toFixed(1)} MiB after the first quarter (bound ${MAX_WASM_GROWTH_MIB})`);
  const health = await (await fetch(`${worker.url}/__edgeseg/health`)).json();
  console.log(`load: rewrites in flight after the run: ${health.rewrites_in_flight}`);
  if (health.rewrites_in_flight !== 0) fail(`${health.rewrites_in_flight} rewrites still in flight after every response ended`);

  // This isolate's counts to its counter shard, and the shards' totals to KV.
  let counted = 0;
  await eventually(async () => {
    await flushCounters(worker.url, TOKEN);
    counted = (await pageViews()) - before;
    return counted >= tracked;
  }, { timeout: 60_000, every: 2_000, what: 'page_views to reach the pages served' }).catch(() => {});
  console.log(`load: pages served ${served}, to tracked visitors ${tracked}; page_views counted ${counted}`);
  if (counted !== tracked) fail(`page_views counted ${counted}, expected exactly ${tracked}`);
  if (!process.exitCode) console.log('load: every check held (no errors, memory flat, counters exact)');
} finally {
  await worker.stop();
  origin.close();
}
