// `make profile-edge`: a CPU profile of the edgeseg Worker in workerd
// (Miniflare, with workerd's inspector on), under the same load as
// `make bench-edge`, printed as the functions with the most self time.
// Used to find where the Worker's per-request time goes. Knobs: PROFILE_CASE
// (`personalized` or `no-block`, default no-block), PROFILE_REQUESTS (2000).
// Needs node's WebSocket (node 22, or node 20 with --experimental-websocket,
// which the Makefile passes).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, freePort } from '../../tests/e2e/harness.mjs';
import { startMiniflare, startOrigin, drive } from '../../tests/load/miniflare.mjs';
import { benchPage } from './page.mjs';

const CASE = process.env.PROFILE_CASE || 'no-block';
const REQUESTS = Number(process.env.PROFILE_REQUESTS || 2000);

const html = benchPage(100 * 1024);
const origin = await startOrigin(() => html);
const inspectorPort = await freePort();
const rules = await readFile(join(ROOT, 'benches', 'edge', 'rules.json'), 'utf8');
const worker = await startMiniflare({ edgeseg: true, rules, vars: { ORIGIN_URL: origin.url }, inspectorPort });
const headers = { accept: 'text/html', 'accept-encoding': 'identity', 'user-agent': 'Mozilla/5.0 edgeseg-bench' };
const url = `${worker.url}/p100${CASE === 'personalized' ? '?utm_campaign=bench' : ''}`;

try {
  await drive({ total: 500, concurrency: 8, request: () => ({ url, headers }) });
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
  const target = targets.find((t) => t.title?.includes('edgeseg')) ?? targets[0];
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
  await drive({ total: REQUESTS, concurrency: 8, request: () => ({ url, headers }) });
  const { result } = await send('Profiler.stop');
  ws.close();
  summarize(result.profile);
} finally {
  await worker.stop();
  origin.close();
}

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
  console.log(`profile-edge: ${CASE}, ${REQUESTS} requests; sampled ${(total / 1000).toFixed(0)} ms, of which JS/wasm ${(busy / 1000).toFixed(0)} ms (${(busy / 1000 / REQUESTS).toFixed(3)} ms per request)`);
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, 40);
  for (const [k, v] of rows) console.log(`${(v / 1000 / REQUESTS * 1000).toFixed(1).padStart(7)} µs/req  ${(100 * v / total).toFixed(1).padStart(5)} %  ${k}`);
}
