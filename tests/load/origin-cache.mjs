// The origin cache under load (`make load-cache`): 1,000 page views by 100
// visitors over 10 pages of ~100 KB with three blocks, through the Worker in
// Miniflare (one workerd process, no wrangler dev proxy), once with
// `settings.origin_cache` on and once off. Reports origin requests per 1,000
// page views, requests per second and workerd CPU per request (from
// /proc/PID/stat). The origin answers after ORIGIN_DELAY_MS (default 20 ms),
// as a real one would not answer at once. Bounded: a fixed number of
// requests with a fixed concurrency, to 127.0.0.1 only.
import { createServer } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { freePort, ROOT, Visitor, TEST_SECRET } from '../e2e/harness.mjs';

const VISITORS = 100;
const PAGES = 10;
const CONCURRENCY = Number(process.env.LOAD_CONCURRENCY || 8);
const DELAY = Number(process.env.ORIGIN_DELAY_MS ?? 20);

function page(n) {
  const card = (i) => `<article class="card"><a href="/products/p${i}"><h2>Product ${i}</h2></a><p class="price">$${(i * 7) % 200}.00</p><button data-edgeseg-track="add_to_cart" data-sku="SKU-${i}">Add to cart</button></article>\n`;
  let html = `<!doctype html><html><head><meta charset="utf-8"><title>Page ${n}</title></head><body>\n`;
  html += '<aside data-edgeseg-block="offer"><p>Free shipping over $75</p></aside>\n';
  html += '<section data-edgeseg-block="hero"><h1>Gear up</h1><p>Default hero</p></section>\n';
  let i = 0;
  while (html.length < 100 * 1024) html += card(i++);
  return `${html}<div data-edgeseg-block="cta"><p>Need a hand?</p></div>\n</body></html>\n`;
}

function rules(enabled) {
  const doc = JSON.parse(readFileSync(join(ROOT, 'examples', 'test-rules.json'), 'utf8'));
  doc.settings.origin_cache = { enabled, ttl: '5m' };
  return JSON.stringify(doc);
}

/** CPU seconds (user + system) of the workerd processes that are children of this process. */
function workerdCpu() {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (comm === 'workerd' && Number(fields[1]) === process.pid) total += (Number(fields[11]) + Number(fields[12])) / tick;
    } catch { /* gone */ }
  }
  return total;
}

async function run(enabled, originUrl, counter) {
  const port = await freePort();
  const mf = new Miniflare({
    host: '127.0.0.1',
    port,
    modules: true,
    scriptPath: join(ROOT, 'build', 'index.js'),
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: '2025-10-01',
    kvNamespaces: ['EDGESEG_KV'],
    bindings: { ORIGIN_URL: originUrl, EDGESEG_SECRET: TEST_SECRET },
  });
  try {
    const url = (await mf.ready).toString().replace(/\/$/, '');
    await (await mf.getKVNamespace('EDGESEG_KV')).put('rules', rules(enabled));
    // Warm up the isolate (and, with the cache on, nothing else: the pages
    // below are not fetched here).
    for (let i = 0; i < 20; i++) await (await fetch(`${url}/__edgeseg/health`)).arrayBuffer();
    counter.n = 0;
    const cpu0 = workerdCpu();
    const t0 = process.hrtime.bigint();
    let next = 0;
    let views = 0;
    const variants = new Set();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < VISITORS) {
        const i = next++;
        const v = new Visitor(url, { 'accept-encoding': 'identity' });
        for (let k = 0; k < PAGES; k++) {
          const q = i % 4 === 0 ? `?utm_campaign=c${i}` : '';
          const r = await v.get(`/page/${(i + k * 3) % PAGES}${q}`);
          if (r.status !== 200 || r.body.length < 100 * 1024) throw new Error(`bad response ${r.status} ${r.body.length}: ${r.text.slice(0, 400)}`);
          variants.add(/data-variant="([a-z_]+)"/.exec(r.text)?.[1] ?? 'default');
          views++;
        }
      }
    }));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = workerdCpu() - cpu0;
    return { views, seconds, cpuMs: (cpu * 1000) / views, origin: counter.n, variants: [...variants].sort() };
  } finally {
    await mf.dispose();
  }
}

const bodies = Array.from({ length: PAGES }, (_, n) => page(n));
const counter = { n: 0 };
const originPort = await freePort();
const origin = createServer((req, res) => {
  counter.n++;
  const n = Number(/\/page\/(\d+)/.exec(req.url)?.[1] ?? 0) % PAGES;
  setTimeout(() => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(bodies[n]) });
    res.end(bodies[n]);
  }, DELAY);
});
await new Promise((ok) => origin.listen(originPort, '127.0.0.1', ok));
try {
  const originUrl = `http://127.0.0.1:${originPort}`;
  console.log(`origin cache load: ${VISITORS} visitors x ${PAGES} pages (~100 KB, 3 blocks), concurrency ${CONCURRENCY}, origin delay ${DELAY} ms, Miniflare`);
  for (const enabled of [false, true]) {
    const r = await run(enabled, originUrl, counter);
    console.log(`origin cache ${enabled ? 'on ' : 'off'}: ${r.views} page views, ${Math.round((r.origin * 1000) / r.views)} origin requests per 1,000, ` +
      `${(r.views / r.seconds).toFixed(0)} requests/s, workerd CPU ${r.cpuMs.toFixed(2)} ms per request; variants seen: ${r.variants.join(', ')}`);
  }
} finally {
  origin.close();
}
