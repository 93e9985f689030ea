// Workers under Miniflare (wrangler's own library) for load and CPU runs:
// one workerd process per Worker, no wrangler dev proxy or inspector in front
// (which costs ~9 ms of CPU per request and stopped serving under load here).
// Each Worker's workerd process id is found so its CPU and memory can be read
// from /proc. Used by `make bench-edge` (benches/edge/run.mjs) and `make load`.
import { Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';
import { createServer } from 'node:http';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, freePort, TEST_SECRET, buildWorker } from '../e2e/harness.mjs';

/** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

async function workerdChildren() {
  const out = new Set();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (Number(fields[1]) === process.pid && comm.startsWith('workerd')) out.add(Number(name));
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/** CPU seconds (user + system) a process has used so far. */
export async function cpuSeconds(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Resident memory of a process, in MiB. */
export async function rssMiB(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/**
 * Miniflare options for the built edgeseg Worker (build/, from wrangler.toml's bindings), with
 * the test secret and `vars`; without the assets router unless `assets` (see startMiniflare).
 */
export function edgesegOptions({ assets = false, vars = {} } = {}) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, 'wrangler.toml'));
  if (!assets) delete workerOptions.assets;
  return {
    ...workerOptions,
    name: 'edgeseg',
    modules: true,
    scriptPath: join(ROOT, 'build', 'index.js'),
    modulesRoot: join(ROOT, 'build'),
    // worker-build's index.js is an ES module next to its wasm.
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    bindings: { ...workerOptions.bindings, EDGESEG_SECRET: TEST_SECRET, ...vars },
  };
}

/**
 * Starts one Worker in its own workerd process.
 * - `edgeseg: true`: the built Worker (build/index.js and its wasm) with the bindings
 *   wrangler.toml declares (KV, Durable Objects, ...), less `assets` (pages come
 *   from ORIGIN_URL; the assets router would add CPU Cloudflare does not bill)
 *   unless `assets: true` (the demo store and the admin page from www/, for
 *   functional tests that need traffic: no wrangler dev proxy to stall under it).
 * - otherwise `script`: a JavaScript module Worker's path.
 * `vars` become bindings; `rules` (text) is put under the KV key `rules`;
 * `persist` (a directory) keeps KV and Durable Objects across restarts;
 * `inspectorPort` opens workerd's inspector (for CPU profiles).
 * Returns { url, pid, mf, kv, scheduled(), cpu(), rss(), stop() }.
 */
export async function startMiniflare({ edgeseg = false, assets = false, script, vars = {}, rules = null, persist, inspectorPort } = {}) {
  const before = await workerdChildren();
  const port = await freePort();
  let options;
  if (edgeseg) {
    await buildWorker();
    options = edgesegOptions({ assets, vars });
  } else {
    options = { name: 'js', modules: true, scriptPath: script, compatibilityDate: '2025-10-01', bindings: vars };
  }
  const mf = new Miniflare({
    ...options,
    host: '127.0.0.1',
    port,
    ...(persist ? { defaultPersistRoot: persist } : {}),
    ...(inspectorPort ? { inspectorPort } : {}),
  });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  const after = await workerdChildren();
  const fresh = [...after].filter((p) => !before.has(p));
  if (fresh.length !== 1) throw new Error(`expected one new workerd process, found ${fresh.length}`);
  const pid = fresh[0];
  const kv = edgeseg ? await mf.getKVNamespace('EDGESEG_KV') : null;
  if (rules != null) {
    await kv.put('rules', rules);
    // As startWorker does: traffic starts once the Worker serves these rules, so the
    // first concurrent requests are not served before the rules are read.
    const deadline = Date.now() + 30_000;
    while (!(await (await fetch(`${url}/__edgeseg/health`)).json()).rules_version) {
      if (Date.now() > deadline) throw new Error('the Worker did not load the rules');
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    url,
    pid,
    mf,
    kv,
    /** Runs the Worker's cron handler once, as the cron trigger would. */
    scheduled: async () => (await mf.getWorker()).scheduled({ cron: '* * * * *' }),
    cpu: () => cpuSeconds(pid),
    rss: () => rssMiB(pid),
    stop: () => mf.dispose(),
  };
}

/**
 * Sends `total` requests with `concurrency` in flight, each from `request(i)`
 * → { url, headers }, reading every body whole. Bounded by count; stops on
 * the first non-2xx unless `allowErrors`. Returns latencies (ms), status
 * counts, bytes and wall time.
 */
export async function drive({ total, concurrency, request, onResponse }) {
  const latencies = new Array(total);
  const statuses = {};
  let bytes = 0;
  let next = 0;
  const t0 = process.hrtime.bigint();
  async function lane() {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const { url, headers } = request(i);
      const start = process.hrtime.bigint();
      let status = 'error';
      try {
        const res = await fetch(url, { headers, redirect: 'manual' });
        const body = Buffer.from(await res.arrayBuffer());
        status = res.status;
        bytes += body.length;
        onResponse?.(i, res, body);
      } catch (e) {
        status = `error: ${e.cause?.code ?? e.message}`;
      }
      latencies[i] = Number(process.hrtime.bigint() - start) / 1e6;
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { latencies, statuses, bytes, seconds };
}

export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export function median(values) {
  return quantile(values, 0.5);
}

/**
 * A local origin that answers every request with `page(url)` (an HTML
 * string, or null for a 404), with its Content-Length. Returns { url, close }.
 */
export async function startOrigin(page) {
  const port = await freePort();
  const server = createServer((req, res) => {
    const html = page(req.url);
    if (html == null) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
    res.end(html);
  });
  // Longer than workerd keeps an idle upstream connection, so the origin never
  // closes one under a request the Worker is sending (a reset, then a 502).
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}
