#!/usr/bin/env node
// make demo-traffic: a few hundred simulated shoppers through a running
// `make dev`, so the demo experiment of examples/rules.json
// (`new_gear_checkout` with its holdout `holdout_new_gear_shopper`) has
// results, revenue per visitor included, in the admin page's Experiments tab
// within a minute or two.
//
// Each shopper is a fresh visitor (its own cookie jar and client address):
// home, the new arrivals, one or two new-arrival products, most add one to
// the cart (`add_to_cart`), then the cart page, where the demo experiment
// shows its `cta` block. The shopper reads which arm it was served from the
// page (free_express, control, or the holdout's default content) and buys
// with a probability that depends on it, so the results have something to
// find: holdout 18 %, control 26 %, free_express 34 %, orders of $40 to $250
// sent as the store's backend sends them (a signed server event, the value a
// string like "129.00"; the server events secret from .dev.vars).
// Finally the counters are flushed and published (admin token from
// .dev.vars), so the results show at once instead of minutes later.
//
// Usage: node tools/demo-traffic.mjs [--url http://127.0.0.1:8787] [--shoppers 600]
//        [--concurrency 8] [--seed 1] [--token TOKEN]
// Local only: the client address is set with CF-Connecting-IP, which
// Cloudflare overwrites in production (the event endpoint limits each
// address to 120 requests a minute).
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { secretFromEnv, sendServerEvents } from '../examples/shop-backend.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function options(argv) {
  const o = { url: 'http://127.0.0.1:8787', shoppers: 600, concurrency: 8, seed: 1, token: null };
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--url': o.url = value().replace(/\/+$/, ''); break;
      case '--shoppers': o.shoppers = Number(value()); break;
      case '--concurrency': o.concurrency = Number(value()); break;
      case '--seed': o.seed = Number(value()); break;
      case '--token': o.token = value(); break;
      case '-h': case '--help':
        console.log('node tools/demo-traffic.mjs [--url URL] [--shoppers N] [--concurrency N] [--seed N] [--token ADMIN_TOKEN]');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${argv[i]} (try --help)`);
    }
  }
  for (const k of ['shoppers', 'concurrency', 'seed']) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`--${k} must be a whole number of at least 1`);
  }
  if (!o.token) {
    try {
      o.token = readFileSync(join(ROOT, '.dev.vars'), 'utf8').match(/^EDGESEG_ADMIN_TOKEN=(.*)$/m)?.[1]?.trim() || null;
    } catch { /* no .dev.vars: results publish on the Worker's own schedule */ }
  }
  o.secret = secretFromEnv(join(ROOT, '.dev.vars'));
  return o;
}

// A fixed-seed generator: the same run sends the same shoppers.
function rng(seed) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

/** One simulated shopper: a cookie jar and a client address of its own. */
class Shopper {
  constructor(base, n) {
    this.base = base;
    this.address = `2001:db8::de:${n.toString(16)}`;
    this.cookies = new Map();
  }

  headers(extra = {}) {
    const h = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) edgeseg-demo-traffic', 'cf-connecting-ip': this.address, ...extra };
    if (this.cookies.size) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    return h;
  }

  keep(res) {
    for (const sc of res.headers.getSetCookie()) {
      const pair = sc.split(';')[0];
      const i = pair.indexOf('=');
      if (i > 0) this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
  }

  async get(path) {
    const res = await fetch(this.base + path, { headers: this.headers({ accept: 'text/html' }), redirect: 'manual' });
    this.keep(res);
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
    this.visitorId = /visitorId:"([0-9a-f]{32})"/.exec(text)?.[1] ?? this.visitorId;
    return text;
  }

  /** Events the page would send (edgeseg.track); the reply carries the updated cookie. */
  async track(name, path, props) {
    const res = await fetch(`${this.base}/__edgeseg/event`, {
      method: 'POST',
      headers: this.headers({ 'content-type': 'application/json' }),
      body: JSON.stringify({ events: [{ name, path, props }] }),
    });
    this.keep(res);
    await res.arrayBuffer();
    if (res.status !== 204) throw new Error(`event ${name}: ${res.status}`);
  }
}

/**
 * The one place a purchase is sent: as the demo store's backend does
 * (examples/shop-backend.mjs), a signed server event for the shopper's
 * `edgeseg.visitorId`, the value as a string like "129.00". It reaches the
 * shopper's state (and converts the experiment) on their next page, which
 * the shopper then loads.
 */
async function sendPurchase(shopper, order, secret) {
  if (!shopper.visitorId) throw new Error('the page exposes no edgeseg.visitorId: are the rules examples/rules.json?');
  const sent = await sendServerEvents(shopper.base, secret, shopper.visitorId, [
    { id: order.id, name: 'purchase', props: { order: order.id, value: order.value }, path: '/checkout/complete' },
  ]);
  if (sent.status !== 202) throw new Error(`purchase: ${sent.status} ${JSON.stringify(sent.body)}`);
  await shopper.get('/');
}

const NEW_ARRIVALS = ['/products/new/summit-shell', '/products/new/ember-lantern'];
const BUY_RATE = { holdout: 0.18, control: 0.26, free_express: 0.34 };

/** Which arm of the demo experiment the cart page showed. */
function armOf(cart) {
  if (/data-experiment="free_express"/.test(cart)) return 'free_express';
  if (/data-variant="new_gear_shopper"/.test(cart)) return 'control';
  return 'holdout';
}

async function shop(base, n, random, tally, secret) {
  const s = new Shopper(base, n);
  await s.get('/');
  await s.get('/category/new-arrivals');
  const product = NEW_ARRIVALS[Math.floor(random() * NEW_ARRIVALS.length)];
  await s.get(product);
  if (random() < 0.4) await s.get(NEW_ARRIVALS.find((p) => p !== product));
  if (random() >= 0.85) {
    tally.browsed += 1;
    return;
  }
  await s.track('add_to_cart', product, { sku: product.split('/').pop(), category: 'new-arrivals' });
  const arm = armOf(await s.get('/cart'));
  tally.arms[arm].shoppers += 1;
  if (random() < BUY_RATE[arm]) {
    await s.get('/checkout/complete');
    const value = (40 + Math.round(random() * 21000) / 100).toFixed(2);
    await sendPurchase(s, { id: `DEMO-${Date.now()}-${n}`, value }, secret);
    tally.arms[arm].orders += 1;
    tally.arms[arm].revenue += Number(value);
  }
}

async function main() {
  const o = options(process.argv.slice(2));
  try {
    const r = await fetch(`${o.url}/__edgeseg/health`);
    await r.arrayBuffer();
  } catch (e) {
    throw new Error(`nothing answers at ${o.url} (${e.cause?.code || e.message}): start the demo store with make dev first, or pass --url`);
  }
  const random = rng(o.seed);
  const tally = { browsed: 0, failed: 0, arms: Object.fromEntries(Object.keys(BUY_RATE).map((k) => [k, { shoppers: 0, orders: 0, revenue: 0 }])) };
  let next = 0;
  let done = 0;
  const started = Date.now();
  await Promise.all(Array.from({ length: o.concurrency }, async () => {
    while (next < o.shoppers) {
      const n = next++;
      try {
        await shop(o.url, n, random, tally, o.secret);
      } catch (e) {
        tally.failed += 1;
        if (tally.failed <= 3) console.error(`shopper ${n}: ${e.message}`);
      }
      done += 1;
      if (done % 100 === 0) console.log(`${done}/${o.shoppers} shoppers (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
  }));
  console.log(`\n${o.shoppers} shoppers in ${((Date.now() - started) / 1000).toFixed(0)} s: ${tally.browsed} only browsed, ${tally.failed} failed`);
  console.log('arm seen at the cart   shoppers  orders  revenue/shopper');
  for (const [arm, t] of Object.entries(tally.arms)) {
    const rps = t.shoppers ? (t.revenue / t.shoppers).toFixed(2) : '-';
    console.log(`  ${arm.padEnd(20)} ${String(t.shoppers).padStart(8)} ${String(t.orders).padStart(7)}  ${rps.padStart(15)}`);
  }
  if (o.token) {
    const r = await fetch(`${o.url}/__edgeseg/admin/api/counters/flush`, {
      method: 'POST',
      headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    await r.arrayBuffer();
    console.log(r.status === 200 ? '\ncounters published.' : `\npublishing the counters answered ${r.status}: the results show within minutes anyway.`);
  } else {
    console.log('\nno admin token (.dev.vars or --token): the results show once the Worker publishes its counters (minutes).');
  }
  console.log(`results: ${o.url}/__edgeseg/admin/#experiments (new_gear_checkout, holdout_new_gear_shopper)`);
  if (tally.failed) process.exitCode = 1;
}

main().catch((e) => { console.error(`demo-traffic: ${e.message}`); process.exit(1); });
