// `make profile-edge`: a CPU profile of a Worker in workerd (Miniflare, with
// workerd's inspector on), under the same load as `make bench-edge`, printed
// as the functions with the most self time. Used to find where the Worker's
// per-request time goes.
//
// Two views:
// - JS/wasm (always): V8's sampling profiler through workerd's inspector.
//   It sees only what runs in the isolate (JS, wasm, the runtime's JS API
//   calls); the HTML parsing of HTMLRewriter and the streaming run in
//   workerd's native code and show as "(program)" or not at all.
// - native (PROFILE_NATIVE=1, needs Linux `perf`): `perf record` on the
//   workerd process over the same requests, self time grouped by component
//   (lol_html's parser and selector matching, malloc, V8, JIT code = JS and
//   wasm, the kernel, the rest of workerd). This is the view that shows what
//   grows with the page.
// Run it for `js` beside `edgeseg` to compare the shares (the machine is
// shared: compare shares and per-request ratios, not absolute times).
//
// Knobs: PROFILE_CASE (`personalized` or `no-block`, default no-block),
// PROFILE_REQUESTS (2000), PROFILE_PAGE (`100k` or `1m`, default 100k),
// PROFILE_WORKER (`edgeseg`, `js` or `pass`, default edgeseg), PROFILE_NATIVE,
// PROFILE_PERF_DATA (a path: keep perf's recording there).
// Needs node's WebSocket (node 22, or node 20 with --experimental-websocket,
// which the Makefile passes).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort } from '../../tests/e2e/harness.mjs';
import { startMiniflare, startOrigin, drive } from '../../tests/load/miniflare.mjs';
import { benchPage } from './page.mjs';

const CASE = process.env.PROFILE_CASE || 'no-block';
const REQUESTS = Number(process.env.PROFILE_REQUESTS || 2000);
const PAGE = process.env.PROFILE_PAGE || '100k';
const WORKER = process.env.PROFILE_WORKER || 'edgeseg';
const NATIVE = process.env.PROFILE_NATIVE === '1';

function summarize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  profile.samples.forEach((nodeId, i) => {
    const n = byId.get(nodeId);
    const f = n.callFrame;
    const file = (f.url || '').split('/').pop();
    const key = `${f.functionName || '(anonymous)'} ${file}${f.lineNumber >= 0 ? `:${f.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = ['(idle)', '(program)', '(garbage collector)'];
  const busy = [...self].filter(([k]) => !idle.some((x) => k.startsWith(x))).reduce((a, [, v]) => a + v, 0);
  console.log(`profile-edge: JS/wasm view: sampled ${(total / 1000).toFixed(0)} ms, of which JS/wasm ${(busy / 1000).toFixed(0)} ms (${(busy / 1000 / REQUESTS).toFixed(3)} ms per request)`);
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, 40);
  for (const [k, v] of rows) console.log(`${(v / 1000 / REQUESTS * 1000).toFixed(1).padStart(7)} µs/req  ${(100 * v / total).toFixed(1).padStart(5)} %  ${k}`);
}

/** Native components, by the first pattern that matches a symbol. */
const COMPONENTS = [
  ['lol_html selector matching', /lol_html::selectors_vm|selectors::/],
  ['lol_html parser and rewriter', /lol_html|lol_html_/],
  ['malloc/free', /tcmalloc|malloc|free|operator new|operator delete/i],
  ['memcpy/memchr', /memmove|memcpy|memchr|memset/],
  ['JIT code (JS and wasm)', /^\[unknown\]$|^0x[0-9a-f]+$|JIT|perf-\d+\.map/],
  ['V8 runtime and GC', /^v8::|^Builtins_|^Builtin:|v8::internal|cppgc/],
  ['kernel', /^\[k\]/],
  ['kj/capnp/workerd', /kj::|capnp::|workerd::/],
];

/** Starts `perf record` on `pid`; `stop()` returns the grouped report (text). */
async function startPerf(pid, label) {
  if (spawnSync('perf', ['--version']).status !== 0) {
    return { stop: async () => 'profile-edge: native view skipped (no `perf` here)' };
  }
  const dir = await mkdtemp(join(tmpdir(), 'edgeseg-perf-'));
  // PROFILE_PERF_DATA keeps the recording (for `perf report -i FILE`).
  const data = process.env.PROFILE_PERF_DATA || join(dir, 'perf.data');
  const child = spawn('perf', ['record', '-F', '1999', '-o', data, '-p', String(pid)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  return {
    async stop() {
      child.kill('SIGINT');
      await new Promise((r) => child.on('exit', r));
      const report = spawnSync('perf', ['report', '-i', data, '--no-children', '--sort', 'sym', '--stdio', '--percent-limit', '0.05'], { encoding: 'utf8', maxBuffer: 64 << 20 });
      await rm(dir, { recursive: true, force: true });
      const rows = [];
      for (const line of report.stdout.split('\n')) {
        const m = /^\s*([\d.]+)%\s+(\[[.k]\])\s+(.*?)\s*$/.exec(line);
        if (m) rows.push({ pct: Number(m[1]), kernel: m[2] === '[k]', sym: m[3] });
      }
      const groups = new Map();
      for (const r of rows) {
        const name = r.kernel ? 'kernel' : (COMPONENTS.find(([, re]) => re.test(r.sym))?.[0] ?? 'other native');
        groups.set(name, (groups.get(name) ?? 0) + r.pct);
      }
      const lines = [`profile-edge: native view (perf, self time of the workerd process; ${label}):`];
      for (const [name, pct] of [...groups].sort((a, b) => b[1] - a[1])) lines.push(`  ${pct.toFixed(1).padStart(5)} %  ${name}`);
      lines.push('  top symbols:');
      for (const r of rows.slice(0, 25)) lines.push(`  ${r.pct.toFixed(2).padStart(6)} %  ${r.sym.slice(0, 140)}`);
      return lines.join('\n');
    },
  };
}

async function main() {
  const html = benchPage(PAGE === '1m' ? 1024 * 1024 : 100 * 1024);
  const origin = await startOrigin(() => html);
  const inspectorPort = await freePort();
  const rules = await readFile(join(ROOT, 'benches', 'edge', 'rules.json'), 'utf8');
  const scripts = { js: 'js-personalize.mjs', pass: 'passthrough.mjs' };
  const worker = WORKER === 'edgeseg'
    ? await startMiniflare({ edgeseg: true, rules, vars: { ORIGIN_URL: origin.url }, inspectorPort })
    : await startMiniflare({ script: join(ROOT, 'benches', 'edge', scripts[WORKER]), vars: { ORIGIN_URL: origin.url }, inspectorPort });
  const headers = { accept: 'text/html', 'accept-encoding': 'identity', 'user-agent': 'Mozilla/5.0 edgeseg-bench' };
  const url = `${worker.url}/p${CASE === 'personalized' ? '?utm_campaign=bench' : ''}`;
  const label = `${WORKER}, ${CASE}, ${PAGE} page, ${REQUESTS} requests`;

  try {
    await drive({ total: 500, concurrency: 8, request: () => ({ url, headers }) });
    const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
    const target = targets.find((t) => t.title?.includes(WORKER === 'edgeseg' ? 'edgeseg' : 'js')) ?? targets[0];
    const ws = new WebSocket(target.webSocketDebuggerUrl);
    await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
    let id = 0;
    const pending = new Map();
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
    };
    const send = (method, params = {}) => new Promise((ok) => { const i = ++id; pending.set(i, ok); ws.send(JSON.stringify({ id: i, method, params })); });
    await send('Profiler.enable');
    await send('Profiler.setSamplingInterval', { interval: 100 });
    await send('Profiler.start');
    const native = NATIVE ? await startPerf(worker.pid, label) : null;
    const cpu0 = await worker.cpu();
    await drive({ total: REQUESTS, concurrency: 8, request: () => ({ url, headers }) });
    const cpu1 = await worker.cpu();
    const nativeReport = native ? await native.stop() : null;
    const { result } = await send('Profiler.stop');
    ws.close();
    console.log(`profile-edge: ${label}: workerd CPU ${(((cpu1 - cpu0) * 1000) / REQUESTS).toFixed(2)} ms per request (/proc, profilers on)`);
    summarize(result.profile);
    if (nativeReport) console.log(nativeReport);
  } finally {
    await worker.stop();
    origin.close();
  }
}

await main();
