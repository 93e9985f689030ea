// Test harness: runs the real Worker in `wrangler dev` (workerd) on a free
// port with its own local KV directory, and stops it by process group id.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as httpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { verifyWebhook } from '../../examples/verify-webhook.mjs';

const run = promisify(execFile);
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
export const TEST_SECRET = 'e2e-secret-not-for-production-0123456789';

export async function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const env = { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' };

async function wrangler(args, opts = {}) {
  return run(process.execPath, [WRANGLER, ...args], { cwd: ROOT, env, maxBuffer: 64 << 20, ...opts });
}

let built;
/**
 * Brings the Worker and the admin page in build/ and www/ up to date, once per test process
 * (`make -s worker`: a no-op under `make e2e`, a rebuild when a test file is run by hand after
 * an edit). wrangler.toml has no [build] command: wrangler dev 4.86 runs it a second time when
 * its watcher's first scan ends, as if a file had changed.
 */
export function buildWorker() {
  built ??= run('make', ['-s', 'worker'], { cwd: ROOT, maxBuffer: 64 << 20 });
  return built;
}

/** Puts a KV value into a local persistence directory (seen by a running wrangler dev at once). */
export async function kvPut(persistDir, key, value) {
  const dir = await mkdtemp(join(tmpdir(), 'edgeseg-kv-'));
  const file = join(dir, 'value');
  await writeFile(file, value);
  try {
    await wrangler(['kv', 'key', 'put', '--binding', 'EDGESEG_KV', '--local', '--persist-to', persistDir, key, '--path', file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Starts `wrangler dev`. Options: rules (JSON text or null for none), vars (extra --var pairs),
 * persistDir (local KV and Durable Object storage to reuse; kept on stop, the caller removes it).
 * Returns { url, persistDir, kvPut(key, value), logs(), stop() }.
 */
export async function startWorker({ rules, vars = {}, persistDir: keepDir } = {}) {
  await buildWorker();
  const port = await freePort();
  const inspectorPort = await freePort();
  const persistDir = keepDir ?? await mkdtemp(join(tmpdir(), 'edgeseg-e2e-'));
  if (rules !== null && rules !== undefined) await kvPut(persistDir, 'rules', rules);
  const allVars = { EDGESEG_SECRET: TEST_SECRET, ...vars };
  const args = [WRANGLER, 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspectorPort),
    '--persist-to', persistDir, '--show-interactive-dev-session=false', '--log-level', 'log', '--test-scheduled'];
  for (const [k, v] of Object.entries(allVars)) args.push('--var', `${k}:${v}`);
  const child = spawn(process.execPath, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let exited = null;
  const exit = new Promise((ok) => child.on('exit', (code, signal) => { exited = { code, signal }; ok(); }));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!exited) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
      await exit;
      clearTimeout(timer);
    }
    if (!keepDir) await rm(persistDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`wrangler dev exited early (${JSON.stringify(exited)}):\n${output}`);
    }
    try {
      const r = await fetch(`${url}/__edgeseg/health`);
      if (r.ok) {
        const h = await r.json();
        if (rules == null || h.rules_version) break;
      }
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not become ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url, persistDir, kvPut: (k, v) => kvPut(persistDir, k, v), logs: () => output, stop };
}

/** A browser-like client with a cookie jar (one cookie per name, no expiry handling). */
export class Visitor {
  constructor(base, headers = {}) {
    this.base = base;
    this.cookies = new Map();
    this.headers = headers;
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async get(path, { headers = {} } = {}) {
    const h = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) edgeseg-e2e', accept: 'text/html', ...this.headers, ...headers };
    const cookie = this.cookieHeader();
    if (cookie && !('cookie' in headers)) h.cookie = cookie;
    const res = await fetch(this.base + path, { headers: h, redirect: 'manual' });
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, body, text: body.toString('utf8'), setCookies: res.headers.getSetCookie() };
  }
}

/** Waits until fn() returns truthy, polling; returns its value or throws with the last value. */
export async function eventually(fn, { timeout = 10_000, every = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
    } catch (e) {
      // A network failure ('fetch failed': undici reusing a keep-alive socket the server has just
      // closed, after a burst of traffic) is "not yet"; a Worker that is really gone still fails
      // at the deadline with that error. Anything else fails at once.
      if (!(e instanceof TypeError && e.message === 'fetch failed') || Date.now() > deadline) throw e;
      last = null;
    }
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * Makes every count served so far readable in KV: this isolate's batch goes to
 * its counter shard and every shard publishes now (`POST
 * /__edgeseg/admin/api/counters/flush`, admin token). Locally there is one
 * isolate, so that is everything. Throws unless all of it succeeded.
 */
export async function flushCounters(base, token) {
  const r = await fetch(`${base}/__edgeseg/admin/api/counters/flush`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  const body = await r.text();
  if (r.status !== 200) throw new Error(`counters flush: ${r.status} ${body}`);
  return JSON.parse(body);
}

/**
 * The admin API as a test calls it: `api(method, path, body?, headers?)` answers
 * `{ status, json, body, headers }` (`json` the parsed answer or null; `body` the parsed
 * answer, else its text). `base` is the Worker's URL or a function giving it (a worker
 * started later, in `before`).
 */
export function adminApi(base, token) {
  return async (method, path, body, headers = {}) => {
    const url = typeof base === 'function' ? base() : base;
    const res = await fetch(`${url}/__edgeseg/admin/api/${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    return { status: res.status, json, body: json ?? text, headers: res.headers };
  };
}

/**
 * A local webhook receiver on a free port: each delivery's signature is verified with
 * `secret` (as a site would, `examples/verify-webhook.mjs`) and kept in `deliveries` as
 * `{ payload, key }`; a bad signature gets a 400 and is not kept.
 */
export async function webhookReceiver(secret) {
  const deliveries = [];
  const server = httpServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      try {
        deliveries.push({ payload: verifyWebhook(secret, req.headers['x-edgeseg-signature'], body), key: req.headers['idempotency-key'] });
        res.writeHead(204).end();
      } catch (e) {
        res.writeHead(400).end(String(e));
      }
    });
  });
  const port = await freePort();
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return { port, deliveries, close: () => new Promise((ok) => server.close(ok)) };
}
