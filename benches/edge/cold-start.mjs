// The cold-start and bundle-size rows of `make bench-edge`.
//
// Cold start: a fresh workerd (one Miniflare instance, as in the rest of the
// bench) per start, for edgeseg beside the JavaScript pass-through, the
// JavaScript HTMLRewriter Worker and GrowthBook's edge app. Per start it
// times `new Miniflare(...)` until `ready` (workerd spawned, the Worker's
// modules compiled and evaluated, the socket listening) and then the first
// request (the 100 KB page, personalized, body read whole), whose time
// includes what V8 compiles lazily on first use (the wasm's functions, the
// JS glue) and, for edgeseg, the first read of the rules from KV. The second
// request is timed too, for the warm reference. Starts are interleaved
// (pass, js, edgeseg, growthbook, pass, ...) and the table prints medians.
//
// Bundle size: what `wrangler deploy --dry-run --outdir DIR` reports for the
// Worker (the upload and its gzipped size, the one Cloudflare limits).
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { ROOT } from '../../tests/e2e/harness.mjs';
import { edgesegOptions, median } from '../../tests/load/miniflare.mjs';

const BENCH_DIR = join(ROOT, '.wrangler', 'bench');

/** GrowthBook's edge app bundled for workerd (it is an npm package). */
export async function bundleGrowthBook() {
  const esbuild = await import('esbuild');
  const outfile = join(BENCH_DIR, 'growthbook.mjs');
  await esbuild.build({
    entryPoints: [join(ROOT, 'benches', 'edge', 'growthbook.mjs')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['worker', 'browser'],
    minify: true,
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

/** Miniflare options for one Worker kind (no KV seeding: `persist` holds the rules). */
function options(kind, { originUrl, persist, growthbook }) {
  const port = 0;
  if (kind === 'edgeseg') {
    return { ...edgesegOptions({ vars: { ORIGIN_URL: originUrl } }), defaultPersistRoot: persist, host: '127.0.0.1', port };
  }
  const scripts = {
    pass: join(ROOT, 'benches', 'edge', 'passthrough.mjs'),
    js: join(ROOT, 'benches', 'edge', 'js-personalize.mjs'),
    growthbook,
  };
  const bindings = kind === 'growthbook' ? { PROXY_TARGET: originUrl } : { ORIGIN_URL: originUrl };
  return {
    name: kind,
    modules: true,
    scriptPath: scripts[kind],
    modulesRoot: kind === 'growthbook' ? BENCH_DIR : join(ROOT, 'benches', 'edge'),
    compatibilityDate: '2025-10-01',
    bindings,
    host: '127.0.0.1',
    port,
  };
}

async function timed(fn) {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

/**
 * `starts` fresh starts of each kind, interleaved. `rules` is put in a
 * persisted local KV once, so every edgeseg start finds it as a deployed
 * Worker would. Returns { kind: { ready, first, second } } in ms (medians).
 */
export async function coldStarts({ kinds, starts, originUrl, rules, path, headers }) {
  const persist = join(BENCH_DIR, 'cold-state');
  await rm(persist, { recursive: true, force: true });
  await mkdir(persist, { recursive: true });
  const growthbook = kinds.includes('growthbook') ? await bundleGrowthBook() : null;
  {
    // Seed the rules (and let workerd create its state files) outside the timings.
    const mf = new Miniflare(options('edgeseg', { originUrl, persist }));
    await mf.ready;
    await (await mf.getKVNamespace('EDGESEG_KV')).put('rules', rules);
    await mf.dispose();
  }
  const samples = Object.fromEntries(kinds.map((k) => [k, { ready: [], first: [], second: [] }]));
  for (let i = 0; i < starts; i++) {
    for (const kind of kinds) {
      const opts = options(kind, { originUrl, persist, growthbook });
      let mf;
      const ready = await timed(async () => {
        mf = new Miniflare(opts);
        return mf.ready;
      });
      try {
        const url = `${ready.value.toString().replace(/\/$/, '')}${path}`;
        const get = async () => {
          const res = await fetch(url, { headers });
          await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`${kind}: first requests answered ${res.status}`);
        };
        const first = await timed(get);
        const second = await timed(get);
        samples[kind].ready.push(ready.ms);
        samples[kind].first.push(first.ms);
        samples[kind].second.push(second.ms);
      } finally {
        await mf.dispose();
      }
    }
  }
  return Object.fromEntries(
    Object.entries(samples).map(([k, s]) => [k, { ready: median(s.ready), first: median(s.first), second: median(s.second), n: s.ready.length }]),
  );
}

/**
 * The Worker's size as `wrangler deploy --dry-run` reports it:
 * { uploadKiB, gzipKiB }, or null (with the reason printed) if it could not tell.
 */
export async function bundleSize() {
  const outdir = join(BENCH_DIR, 'dry-run');
  const out = await new Promise((resolve) => {
    const child = spawn('wrangler', ['deploy', '--dry-run', '--outdir', outdir], { cwd: ROOT, env: process.env });
    let text = '';
    child.stdout.on('data', (d) => { text += d; });
    child.stderr.on('data', (d) => { text += d; });
    child.on('error', (e) => resolve(`spawn failed: ${e.message}`));
    child.on('close', () => resolve(text));
  });
  const m = /Total Upload:\s*([\d.,]+)\s*KiB\s*\/\s*gzip:\s*([\d.,]+)\s*KiB/.exec(out);
  if (!m) {
    console.log(`bench-edge: could not read the bundle size from wrangler deploy --dry-run:\n${out.slice(-2000)}`);
    return null;
  }
  const num = (s) => Number(s.replace(/,/g, ''));
  return { uploadKiB: num(m[1]), gzipKiB: num(m[2]) };
}
