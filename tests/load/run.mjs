// A load run against the real Worker in workerd (`make load`): the same 100 KB
// page from a local origin, through a Worker with no rules (pass-through) and
// through a Worker that personalizes three blocks. Reports wall-clock latency
// per request as measured here (through wrangler dev's local proxy), not
// workerd's CPU time, which wrangler dev does not expose. Bounded: a fixed
// number of sequential requests to 127.0.0.1 only.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, freePort, ROOT } from '../e2e/harness.mjs';

const REQUESTS = Number(process.env.LOAD_REQUESTS || 400);
const WARMUP = 50;

function page() {
  const card = (i) => `<article class="card"><a href="/products/p${i}"><img src="/i/${i}.svg" alt=""><h2>Product ${i}</h2></a><p class="price">$${(i * 7) % 200}.00</p><button data-edgeseg-track="add_to_cart" data-sku="SKU-${i}">Add to cart</button></article>\n`;
  let html = '<!doctype html><html><head><meta charset="utf-8"><title>Shop</title><link rel="stylesheet" href="/s.css"></head><body>\n';
  html += '<nav><a href="/">Home</a> <a href="/category/">All</a> <a href="/cart">Cart</a></nav>\n';
  html += '<aside data-edgeseg-block="offer"><p>Free shipping over $75</p></aside>\n';
  html += '<section data-edgeseg-block="hero"><h1>Gear up</h1><p>Default hero</p></section>\n';
  let i = 0;
  while (html.length < 100 * 1024) html += card(i++);
  html += '<div data-edgeseg-block="cta"><p>Need a hand?</p></div>\n<script>window.dataLayer=[];</script></body></html>\n';
  return html;
}

async function measure(url, headers) {
  const times = [];
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    const t0 = process.hrtime.bigint();
    const res = await fetch(url, { headers });
    const body = await res.arrayBuffer();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (res.status !== 200 || body.byteLength < 100 * 1024) throw new Error(`bad response ${res.status} ${body.byteLength}`);
    if (i >= WARMUP) times.push(ms);
  }
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  return { median: q(0.5), p95: q(0.95), mean: times.reduce((a, b) => a + b, 0) / times.length };
}

const html = page();
const originPort = await freePort();
const origin = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
  res.end(html);
});
await new Promise((ok) => origin.listen(originPort, '127.0.0.1', ok));
const vars = { ORIGIN_URL: `http://127.0.0.1:${originPort}` };
const rules = await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8');
const plain = await startWorker({ rules: null, vars });
const personalized = await startWorker({ rules, vars });
try {
  const headers = { accept: 'text/html', 'accept-encoding': 'identity' };
  const direct = await measure(`http://127.0.0.1:${originPort}/page`, headers);
  const pass = await measure(`${plain.url}/page?utm_campaign=load`, headers);
  const classified = await measure(`${personalized.url}/page`, headers);
  const pers = await measure(`${personalized.url}/page?utm_campaign=load`, headers);
  const fmt = (r) => `median ${r.median.toFixed(2)} ms, p95 ${r.p95.toFixed(2)} ms, mean ${r.mean.toFixed(2)} ms`;
  console.log(`load: ${REQUESTS} sequential requests each (after ${WARMUP} warm-up), ${(html.length / 1024).toFixed(0)} KB page`);
  console.log(`load: origin directly:                 ${fmt(direct)}`);
  console.log(`load: Worker pass-through (no rules):  ${fmt(pass)}`);
  console.log(`load: Worker classifying, no block:   ${fmt(classified)}`);
  console.log(`load: Worker personalizing 3 blocks:   ${fmt(pers)}`);
  console.log(`load: personalization adds ${(pers.median - pass.median).toFixed(2)} ms at the median (wall clock, incl. cookie, classification, streaming rewrite)`);
} finally {
  await plain.stop();
  await personalized.stop();
  origin.close();
}
