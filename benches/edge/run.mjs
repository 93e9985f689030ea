// `make bench-edge`: the whole Worker side by side on real workerd.
//
// The same page (100 KB and 1 MB, two marked blocks) from a local origin goes
// through three Workers, each in its own workerd process under Miniflare:
//   pass     a JavaScript pass-through Worker (benches/edge/passthrough.mjs)
//   js       the same personalization as edgeseg's bench rules, written as a
//            JavaScript Worker with HTMLRewriter (benches/edge/js-personalize.mjs)
//   edgeseg  the built Worker (build/) with benches/edge/rules.json in local KV
// For each page and case ("personalized": a campaign visitor, both blocks
// rewritten and the segments appended to <head>; "no block": a visitor in no
// segment, so edgeseg classifies and passes the body through), after a
// warm-up long enough for V8 to tier up the wasm, rounds are interleaved
// (pass, js, edgeseg, pass, ...) and each reports requests per second,
// median and p99 latency, and the workerd process's CPU per request read from
// /proc. The table prints medians over the rounds, and the ratio the design
// budgets: the CPU edgeseg adds over pass-through against what the JS
// HTMLRewriter Worker adds. It reports; it asserts nothing about timings.
//
// Before that, two more rows (benches/edge/cold-start.mjs): the Worker's bundle
// size as `wrangler deploy --dry-run` reports it (gzipped: the number
// Cloudflare limits, and the one that costs cold start), and cold starts:
// fresh workerd processes for pass, js, edgeseg and GrowthBook's edge app
// (benches/edge/growthbook.mjs), the time to ready and the first request.
//
// Bounded: a fixed number of requests to 127.0.0.1 only. Knobs: BENCH_ROUNDS
// (default 5), BENCH_CONCURRENCY (8), BENCH_SCALE (1: multiplies request counts),
// BENCH_COLD_STARTS (5 fresh starts per Worker; 0 skips the cold-start row).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { ROOT } from '../../tests/e2e/harness.mjs';
import { startMiniflare, startOrigin, drive, median, quantile } from '../../tests/load/miniflare.mjs';
import { benchPage } from './page.mjs';
import { bundleSize, coldStarts } from './cold-start.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY || 8);
const SCALE = Number(process.env.BENCH_SCALE || 1);
const COLD_STARTS = Number(process.env.BENCH_COLD_STARTS ?? 5);
/** The bundle must stay under this (gzipped; Cloudflare's free plan allows 3 MB, see BENCHMARKS.md). */
const BUNDLE_BUDGET_KIB = 1024;

const PAGES = {
  '100 KB': { path: '/p100', html: benchPage(100 * 1024), warmup: 400, requests: 400 },
  '1 MB': { path: '/p1m', html: benchPage(1024 * 1024), warmup: 80, requests: 60 },
};
const CASES = {
  personalized: '?utm_campaign=bench',
  'no block': '',
};

async function main() {
  const origin = await startOrigin((url) => Object.values(PAGES).find((p) => url.startsWith(p.path))?.html);
  const vars = { ORIGIN_URL: origin.url };
  const rules = await readFile(join(ROOT, 'benches', 'edge', 'rules.json'), 'utf8');
  const headers = { accept: 'text/html', 'accept-encoding': 'identity', 'user-agent': 'Mozilla/5.0 edgeseg-bench' };
  const size = await bundleSize();
  if (size) {
    console.log(`bench-edge: Worker bundle ${size.uploadKiB.toFixed(1)} KiB upload, ${size.gzipKiB.toFixed(1)} KiB gzipped (wrangler deploy --dry-run; budget ${BUNDLE_BUDGET_KIB} KiB gzipped: ${size.gzipKiB < BUNDLE_BUDGET_KIB ? `${(BUNDLE_BUDGET_KIB - size.gzipKiB).toFixed(1)} KiB to spare` : 'OVER'})`);
  }
  if (COLD_STARTS > 0) {
    const cold = await coldStarts({
      kinds: ['pass', 'js', 'edgeseg', 'growthbook'],
      starts: COLD_STARTS,
      originUrl: origin.url,
      rules,
      path: `${PAGES['100 KB'].path}?utm_campaign=bench`,
      headers,
    });
    printColdStarts(cold);
  }
  const workers = {
    pass: await startMiniflare({ script: join(ROOT, 'benches', 'edge', 'passthrough.mjs'), vars }),
    js: await startMiniflare({ script: join(ROOT, 'benches', 'edge', 'js-personalize.mjs'), vars }),
    edgeseg: await startMiniflare({ edgeseg: true, vars, rules }),
  };
  const results = [];
  const rssStart = await workers.edgeseg.rss();
  try {
    // Check each Worker does what it should before timing it.
    for (const [name, w] of Object.entries(workers)) {
      const r = await fetch(`${w.url}/p100?utm_campaign=bench`, { headers });
      const text = await r.text();
      const personalized = text.includes('Welcome, campaign visitor') && text.includes('15% off') && text.includes('segments:["campaign"]');
      if (r.status !== 200 || personalized !== (name !== 'pass')) {
        throw new Error(`${name}: unexpected response (${r.status}, personalized: ${personalized})`);
      }
    }
    for (const [pageName, page] of Object.entries(PAGES)) {
      for (const [caseName, query] of Object.entries(CASES)) {
        const url = (w) => `${w.url}${page.path}${query}`;
        for (const w of Object.values(workers)) {
          await drive({ total: page.warmup * SCALE, concurrency: CONCURRENCY, request: () => ({ url: url(w), headers }) });
        }
        const rounds = Object.fromEntries(Object.keys(workers).map((k) => [k, []]));
        for (let round = 0; round < ROUNDS; round++) {
          for (const [name, w] of Object.entries(workers)) {
            const total = page.requests * SCALE;
            const cpu0 = await w.cpu();
            const run = await drive({ total, concurrency: CONCURRENCY, request: () => ({ url: url(w), headers }) });
            const cpu1 = await w.cpu();
            const ok = run.statuses[200] ?? 0;
            if (ok !== total) throw new Error(`${name} ${pageName} ${caseName}: ${JSON.stringify(run.statuses)}`);
            rounds[name].push({
              cpuMs: ((cpu1 - cpu0) * 1000) / total,
              rps: total / run.seconds,
              p50: median(run.latencies),
              p99: quantile(run.latencies, 0.99),
            });
          }
        }
        const summary = {};
        for (const [name, rs] of Object.entries(rounds)) {
          summary[name] = {
            cpuMs: median(rs.map((r) => r.cpuMs)),
            rps: median(rs.map((r) => r.rps)),
            p50: median(rs.map((r) => r.p50)),
            p99: median(rs.map((r) => r.p99)),
          };
        }
        results.push({ page: pageName, case: caseName, summary });
        printRow(pageName, caseName, summary);
      }
    }
    const decision = await decideBeside(workers.edgeseg, headers);
    console.log(`\nbench-edge: edgeseg, 100 KB page personalized vs GET /__edgeseg/decide for the same path (single-page apps), medians of ${ROUNDS} interleaved rounds`);
    console.log(`  page load ${decision.page.toFixed(2)} ms CPU/req, decide ${decision.decide.toFixed(2)} ms CPU/req (the page load includes the origin fetch and the rewrite; decide fetches nothing)`);
    const ttfb = {};
    for (const [name, w] of Object.entries(workers)) {
      ttfb[name] = {};
      for (const [pageName, page] of Object.entries(PAGES)) {
        ttfb[name][pageName] = await timeToFirstByte(`${w.url}${page.path}?utm_campaign=bench`, headers, 40);
      }
    }
    const refresh = await refreshLatency(vars, rules, headers);
    const rssEnd = await workers.edgeseg.rss();
    console.log('');
    for (const [name, t] of Object.entries(ttfb)) {
      console.log(`bench-edge: ${name} time to first byte (median of 40, sequential, personalized): ${Object.entries(t).map(([p, ms]) => `${p} ${ms.toFixed(2)} ms`).join(', ')}`);
    }
    console.log(`bench-edge: requests that started a rules refresh (after the response) ${refresh.refreshing.toFixed(2)} ms median of ${refresh.n.refreshing}, the others ${refresh.others.toFixed(2)} ms median of ${refresh.n.others} (rules with refresh_seconds 1, sequential, 100 KB personalized)`);
    console.log(`bench-edge: edgeseg workerd RSS ${rssStart.toFixed(0)} MiB at start, ${rssEnd.toFixed(0)} MiB at the end`);
    console.log(`bench-edge: ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${ROUNDS} rounds, concurrency ${CONCURRENCY}, node ${process.version}, ${new Date().toISOString()}`);
  } finally {
    for (const w of Object.values(workers)) await w.stop();
    origin.close();
  }
  return results;
}

/** CPU per request of a 100 KB personalized page load and of a decision for the same path, interleaved. */
async function decideBeside(w, headers) {
  const page = `${w.url}${PAGES['100 KB'].path}?utm_campaign=bench`;
  const decide = `${w.url}/__edgeseg/decide?path=${encodeURIComponent(`${PAGES['100 KB'].path}?utm_campaign=bench`)}`;
  const check = await (await fetch(decide, { headers })).json();
  if (!check.segments?.includes('campaign')) throw new Error(`decide: unexpected answer ${JSON.stringify(check)}`);
  const cpu = { page: [], decide: [] };
  for (const [name, url] of Object.entries({ page, decide })) {
    await drive({ total: 200 * SCALE, concurrency: CONCURRENCY, request: () => ({ url, headers }) });
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, url] of Object.entries({ page, decide })) {
      const total = 400 * SCALE;
      const cpu0 = await w.cpu();
      const run = await drive({ total, concurrency: CONCURRENCY, request: () => ({ url, headers }) });
      const cpu1 = await w.cpu();
      if ((run.statuses[200] ?? 0) !== total) throw new Error(`${name}: ${JSON.stringify(run.statuses)}`);
      cpu[name].push(((cpu1 - cpu0) * 1000) / total);
    }
  }
  return { page: median(cpu.page), decide: median(cpu.decide) };
}

function printRow(page, caseName, s) {
  const added = (name) => s[name].cpuMs - s.pass.cpuMs;
  const ratio = added('js') > 0 ? added('edgeseg') / added('js') : NaN;
  const fmt = (name) => `${name.padEnd(7)} ${s[name].cpuMs.toFixed(2).padStart(6)} ms CPU/req ${s[name].rps.toFixed(0).padStart(5)} req/s  p50 ${s[name].p50.toFixed(1).padStart(6)} ms  p99 ${s[name].p99.toFixed(1).padStart(6)} ms`;
  console.log(`\nbench-edge: ${page} page, ${caseName}`);
  for (const name of ['pass', 'js', 'edgeseg']) console.log(`  ${fmt(name)}`);
  const addedLine = `  added over pass-through: js +${added('js').toFixed(2)} ms, edgeseg +${added('edgeseg').toFixed(2)} ms`;
  console.log(caseName === 'personalized'
    ? `${addedLine}; edgeseg / js = ${ratio.toFixed(2)}x (target: at most 1.1x)`
    : `${addedLine} (js passes this visitor through; edgeseg classifies, sets the cookie, passes the body through)`);
}

function printColdStarts(cold) {
  console.log(`\nbench-edge: cold start (a fresh workerd per start, median of ${Object.values(cold)[0].n}; first request: 100 KB page, personalized, whole body)`);
  for (const [name, c] of Object.entries(cold)) {
    console.log(`  ${name.padEnd(10)} ready ${c.ready.toFixed(0).padStart(5)} ms  first request ${c.first.toFixed(1).padStart(6)} ms  second ${c.second.toFixed(1).padStart(6)} ms`);
  }
}

/**
 * Latency of the requests that start a rules refresh against those that do
 * not: an edgeseg Worker whose rules say `refresh_seconds: 1`, requests
 * 50 ms apart for a few seconds, told apart by their Server-Timing.
 */
async function refreshLatency(vars, rulesText, headers) {
  const doc = JSON.parse(rulesText);
  doc.settings = { ...(doc.settings ?? {}), refresh_seconds: 1 };
  const w = await startMiniflare({ edgeseg: true, vars, rules: JSON.stringify(doc) });
  const groups = { refreshing: [], others: [] };
  try {
    const url = `${w.url}${PAGES['100 KB'].path}?utm_campaign=bench`;
    await drive({ total: 200, concurrency: 4, request: () => ({ url, headers }) });
    for (let i = 0; i < 120; i++) {
      const t0 = process.hrtime.bigint();
      const res = await fetch(url, { headers });
      await res.arrayBuffer();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const refreshing = (res.headers.get('server-timing') ?? '').includes('rules refresh');
      groups[refreshing ? 'refreshing' : 'others'].push(ms);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await w.stop();
  }
  if (!groups.refreshing.length) throw new Error('no request started a rules refresh');
  return {
    refreshing: median(groups.refreshing),
    others: median(groups.others),
    n: { refreshing: groups.refreshing.length, others: groups.others.length },
  };
}

/** Median time until the first byte of the body arrives, over `n` sequential requests. */
async function timeToFirstByte(url, headers, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const res = await fetch(url, { headers });
    const reader = res.body.getReader();
    await reader.read();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    for (;;) { const { done } = await reader.read(); if (done) break; }
  }
  return median(times);
}

await main();
