// An in-memory stand-in for the Worker's admin API (/__edgeseg/admin/api/...), for the
// admin page's own browser tests. It serves the built page from www/__edgeseg/admin/ and
// implements the API contract with simple logic: validation is JSON syntax (with line and
// column) plus one rule (segments[i].priority must be a whole number); simulate evaluates
// the example rules' signal kinds and a few condition operators, against the stored rules or
// the unsaved `text` it is sent.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, dirname, resolve, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PAGE_DIR = join(ROOT, 'www', '__edgeseg', 'admin');
const BASE = '/__edgeseg/admin/';
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/**
 * Starts the fake. Options: token (the accepted bearer token), rules (initial text, or null for
 * none), history (older texts to store before `rules`, oldest first).
 * Returns { url, baseUrl, token, state, stop() }.
 */
export async function startFakeAdminApi({ token = 'test-admin-token', rules = null, history = [], port = 0 } = {}) {
  const state = { versions: [], current: null, requests: [] };
  const t0 = Date.now() - (history.length + 2) * 86400e3; // seeded versions: a day apart, in the past
  for (const text of [...history, ...(rules === null ? [] : [rules])]) {
    const n = state.versions.length + 1;
    store(state, { text, author: n === 1 ? 'ann' : 'ben', message: n === 1 ? 'first rules' : `update ${n}`, saved_at: new Date(t0 + n * 86400e3).toISOString() });
  }
  const server = createServer((req, res) => {
    handle(req, res, state, token).catch((e) => {
      send(res, 500, { error: String(e && e.stack || e) });
    });
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    baseUrl: `${url}${BASE}`,
    token,
    state,
    stop: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(() => ok()); }),
  };
}

function store(state, { text, author, message, saved_at = new Date().toISOString(), rollback_of = null }) {
  const revision = (state.versions.length ? state.versions[state.versions.length - 1].revision : 0) + 1;
  let label = null;
  try { label = JSON.parse(text).version ?? null; } catch { /* stored as given */ }
  state.versions.push({ revision, label, text, author, message, saved_at, rollback_of });
  state.current = revision;
  return revision;
}

const meta = ({ text, ...rest }) => rest;

async function handle(req, res, state, token) {
  const url = new URL(req.url, 'http://x');
  let path = url.pathname;
  if (path === '/__edgeseg/admin') return redirect(res, BASE);
  if (!path.startsWith(BASE)) return send(res, 404, { error: 'not found' });
  path = path.slice(BASE.length);
  if (!path.startsWith('api/')) return serveFile(res, path || 'index.html');

  const auth = req.headers.authorization || '';
  state.requests.push({ method: req.method, path, auth, ifMatch: req.headers['if-match'] ?? null, contentType: req.headers['content-type'] ?? null });
  if (!auth.startsWith('Bearer ') || !auth.slice(7)) return send(res, 401, { error: 'missing bearer token' });
  if (auth.slice(7) !== token) return send(res, 403, { error: 'wrong token' });
  const route = `${req.method} ${path.slice(4)}`;
  let body = null;
  if (req.method === 'POST' || req.method === 'PUT') {
    if (!/^application\/json\b/.test(req.headers['content-type'] || '')) return send(res, 415, { error: 'send content-type: application/json' });
    try { body = JSON.parse(await readBody(req)); } catch { return send(res, 400, { error: 'the body is not JSON' }); }
  }
  const current = state.versions.find((v) => v.revision === state.current);

  if (route === 'GET whoami') {
    // The admin token's identity, as the Worker answers it (README, "Admin users and roles").
    const actions = ['read', 'check', 'save_draft', 'preview_link', 'publish', 'rollback', 'purge', 'operate'];
    return send(res, 200, {
      identity: { id: 'service:admin-token', kind: 'service', role: 'publisher' },
      actions: actions.map((action) => ({ action, what: action.replace('_', ' '), allowed: true, needs: 'viewer', reason: null })),
    });
  }
  if (route === 'GET rules') {
    if (!current) return send(res, 404, { error: 'no rules stored yet' });
    return send(res, 200, current, { etag: `"${current.revision}"` });
  }
  if (route === 'POST rules/validate') {
    if (typeof body?.text !== 'string') return send(res, 400, { error: 'text: expected a string' });
    const v = validate(body.text);
    return send(res, v.valid ? 200 : 422, v);
  }
  if (route === 'PUT rules') {
    if (typeof body?.text !== 'string') return send(res, 400, { error: 'text: expected a string' });
    const ifMatch = req.headers['if-match'];
    const expected = ifMatch ? Number(String(ifMatch).replace(/^W\//, '').replace(/"/g, '')) : null;
    if (current && expected !== current.revision) {
      return send(res, 409, { error: `the rules were changed meanwhile: revision ${current.revision} is current`, current_revision: current.revision });
    }
    if (!current && ifMatch) return send(res, 409, { error: 'no rules are stored yet', current_revision: null });
    const v = validate(body.text);
    if (!v.valid) return send(res, 422, v);
    const revision = store(state, { text: body.text, author: String(body.author || ''), message: String(body.message || '') });
    return send(res, 200, { revision }, { etag: `"${revision}"` });
  }
  if (route === 'GET rules/versions') {
    return send(res, 200, { current: state.current, versions: [...state.versions].reverse().map(meta) });
  }
  const one = route.match(/^GET rules\/versions\/(\d+)$/);
  if (one) {
    const v = state.versions.find((x) => x.revision === Number(one[1]));
    return v ? send(res, 200, v, { etag: `"${v.revision}"` }) : send(res, 404, { error: `no revision ${one[1]}` });
  }
  if (route === 'POST rules/rollback') {
    const v = state.versions.find((x) => x.revision === body?.revision);
    if (!v) return send(res, 404, { error: `no revision ${body?.revision}` });
    const revision = store(state, { text: v.text, author: String(body.author || ''), message: String(body.message || ''), rollback_of: v.revision });
    return send(res, 200, { revision });
  }
  if (route === 'POST simulate') {
    // `text`: the editor's unsaved rules, simulated instead of the stored ones (as the Worker does).
    if (body && 'text' in body && typeof body.text !== 'string') return send(res, 400, { error: 'text: expected a string' });
    if (typeof body?.text === 'string') {
      const v = validate(body.text);
      if (!v.valid) return send(res, 422, v);
    } else if (!current) return send(res, 409, { error: 'no rules are loaded yet' });
    try {
      return send(res, 200, simulate(JSON.parse(typeof body?.text === 'string' ? body.text : current.text), body));
    } catch (e) {
      return send(res, 400, { error: e.message });
    }
  }
  if (route === 'GET stats') {
    const from = Number(url.searchParams.get('from'));
    const to = Number(url.searchParams.get('to'));
    if (!Number.isFinite(from) || !Number.isFinite(to) || to < from) return send(res, 400, { error: 'from and to: unix seconds, from <= to' });
    if (to - from > 31 * 86400) return send(res, 400, { error: 'at most 31 days at a time' });
    return send(res, 200, stats(current ? safeParse(current.text) : null, from, to));
  }
  return send(res, 404, { error: `no route ${route}` });
}

function safeParse(t) { try { return JSON.parse(t); } catch { return null; } }

function readBody(req) {
  return new Promise((ok, fail) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => ok(Buffer.concat(chunks).toString('utf8')));
    req.on('error', fail);
  });
}

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function redirect(res, to) {
  res.writeHead(308, { location: to });
  res.end();
}

async function serveFile(res, rel) {
  const file = normalize(join(PAGE_DIR, rel));
  if (!file.startsWith(PAGE_DIR)) return send(res, 404, { error: 'not found' });
  try {
    const data = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream', 'cache-control': 'no-cache' });
    res.end(data);
  } catch {
    send(res, 404, { error: 'not found' });
  }
}

// ---- validation: a JSON parser that knows where each value starts -------------------------

class JsonError extends Error {
  constructor(message, pos) { super(message); this.pos = pos; }
}

/** Parses JSON; returns { value, positions: Map(path -> offset of the value) }. Throws JsonError. */
export function parseWithPositions(text) {
  let i = 0;
  const positions = new Map();
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i])) i++; };
  const fail = (what) => {
    throw new JsonError(i >= text.length ? `unexpected end of the document, expected ${what}` : `unexpected ${JSON.stringify(text[i])}, expected ${what}`, i);
  };
  const value = (path) => {
    ws();
    positions.set(path, i);
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = {};
      ws();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a key in double quotes');
        const keyPos = i;
        const key = string();
        ws();
        if (text[i] !== ':') fail('":"');
        i++;
        const p = path ? `${path}.${key}` : key;
        obj[key] = value(p);
        positions.set(`${p}#key`, keyPos);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return obj; }
        fail('"," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value(`${path}[${arr.length}]`));
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        fail('"," or "]"');
      }
    }
    if (c === '"') return string();
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 64));
    if (m && m[0]) { i += m[0].length; return Number(m[0]); }
    for (const [word, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, i)) { i += word.length; return v; }
    }
    return fail('a value');
  };
  const string = () => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if (text[i] === '\n') fail('a closing quote before the end of the line');
      i++;
    }
    if (i >= text.length) { i = start; fail('a closing quote'); }
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const v = value('');
  ws();
  if (i < text.length) fail('the end of the document');
  return { value: v, positions };
}

function lineCol(text, pos) {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  return { line, column: pos - before.lastIndexOf('\n') };
}

export function validate(text) {
  let parsed;
  try {
    parsed = parseWithPositions(text);
  } catch (e) {
    if (!(e instanceof JsonError)) throw e;
    return { valid: false, errors: [{ path: '', message: `not valid JSON: ${e.message}`, ...lineCol(text, e.pos) }] };
  }
  const { value: doc, positions } = parsed;
  const errors = [];
  const at = (path) => (positions.has(path) ? lineCol(text, positions.get(path)) : { line: null, column: null });
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    return { valid: false, errors: [{ path: '', message: 'expected an object', ...at('') }] };
  }
  if (doc.format !== 1) errors.push({ path: 'format', message: `expected 1, got ${JSON.stringify(doc.format)}`, ...at('format') });
  if (typeof doc.version !== 'string') errors.push({ path: 'version', message: 'expected a string', line: null, column: null });
  const segments = Array.isArray(doc.segments) ? doc.segments : [];
  segments.forEach((s, n) => {
    if (s && 'priority' in s && !Number.isInteger(s.priority)) {
      errors.push({ path: `segments[${n}].priority`, message: `expected a whole number, got ${JSON.stringify(s.priority)}`, ...at(`segments[${n}].priority`) });
    }
  });
  if (errors.length) return { valid: false, errors };
  return { valid: true, label: doc.version, segments: segments.length, blocks: Object.keys(doc.blocks || {}).length };
}

// ---- simulate: enough of the rules' semantics for the page's tests ------------------------

const UNIT = { s: 1, m: 60, h: 3600, d: 86400 };
const dur = (d) => {
  const m = /^(\d+)([smhd])$/.exec(String(d ?? ''));
  if (!m) throw new Error(`invalid duration ${JSON.stringify(d)}: expected a whole number followed by s, m, h or d`);
  return Number(m[1]) * UNIT[m[2]];
};
const glob = (pattern, path) => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(path || '');

export function simulate(doc, input) {
  if (!input || !Array.isArray(input.events)) throw new Error('events: expected a list');
  const events = input.events.map((e, n) => {
    if (!e || typeof e.name !== 'string' || !e.name) throw new Error(`events[${n}].name: expected an event name`);
    if (e.name !== 'page_view' && !(doc.events && e.name in doc.events)) throw new Error(`events[${n}].name: unknown event "${e.name}"`);
    let ago;
    try { ago = dur(e.ago); } catch (err) { throw new Error(`events[${n}].ago: ${err.message}`); }
    return { name: e.name, path: e.path || null, ago };
  });
  let url;
  try { url = new URL(input.url || 'https://shop.test/'); } catch { throw new Error('url: not a URL'); }
  // The request itself is a page view, now.
  events.push({ name: 'page_view', path: url.pathname, ago: 0 });
  const attrs = { path: url.pathname, url: url.href, query: Object.fromEntries(url.searchParams), device: input.device || 'desktop' };
  for (const k of ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content']) if (url.searchParams.has(k)) attrs[k] = url.searchParams.get(k);
  if (input.country) attrs.country = input.country;
  if (input.language) attrs.language = input.language;

  const signals = {};
  const per = { seconds: 1, minutes: 60, hours: 3600, days: 86400 };
  const defs = doc.signals || {};
  for (const [name, s] of Object.entries(defs)) {
    if ('count' in s) signals[name] = events.filter((e) => e.name === s.count && e.ago <= dur(s.within) && (!s.path || glob(s.path, e.path))).length;
    else if ('since' in s) {
      const last = events.filter((e) => e.name === s.since).sort((a, b) => a.ago - b.ago)[0];
      const undone = last && s.unless && events.some((e) => e.name === s.unless && e.ago < last.ago);
      signals[name] = last && !undone ? last.ago / per[s.unit || 'seconds'] : null;
    } else if ('score' in s) {
      signals[name] = events.filter((e) => e.ago <= dur(s.within)).reduce((sum, e) => sum + (s.score[e.name] || 0), 0);
    } else if ('visitor' in s) {
      signals[name] = s.visitor === 'sessions' ? 1 : s.visitor === 'session_pages' ? events.filter((e) => e.name === 'page_view').length : null;
    }
  }
  for (const [name, s] of Object.entries(defs)) {
    if ('logistic' in s) {
      const z = (s.bias || 0) + Object.entries(s.logistic).reduce((sum, [k, w]) => sum + w * (signals[k] || 0), 0);
      signals[name] = 1 / (1 + Math.exp(-z));
    }
  }
  const all = { ...attrs, ...signals, segments: [] };
  const outcomes = [];
  for (const seg of doc.segments || []) {
    const held = matches(seg.condition || {}, all);
    // A fresh visitor: a condition that must hold for a while first is pending.
    const standing = held ? (seg.enter_after && dur(seg.enter_after) > 0 ? 'pending' : 'entered') : 'out';
    if (standing === 'entered') all.segments.push(seg.id);
    outcomes.push({ id: seg.id, priority: seg.priority, condition: held, standing });
  }
  const segments = [...all.segments].sort((a, b) => prio(doc, b) - prio(doc, a));
  const blocks = {};
  for (const [id, b] of Object.entries(doc.blocks || {})) {
    blocks[id] = segments.find((s) => b.content && s in b.content) ?? null;
  }
  return { signals, segments, outcomes, blocks };
}

const prio = (doc, id) => (doc.segments.find((s) => s.id === id) || {}).priority || 0;
const get = (obj, path) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);

function matches(cond, attrs) {
  return Object.entries(cond).every(([k, test]) => {
    if (k === '$and') return test.every((c) => matches(c, attrs));
    if (k === '$or') return test.some((c) => matches(c, attrs));
    if (k === '$nor') return !test.some((c) => matches(c, attrs));
    const v = get(attrs, k);
    if (test === null || typeof test !== 'object' || Array.isArray(test)) return JSON.stringify(v) === JSON.stringify(test);
    return Object.entries(test).every(([op, x]) => {
      switch (op) {
        case '$exists': return x ? v != null : v == null;
        case '$eq': return v === x;
        case '$ne': return v !== x;
        // GrowthBook compares a missing attribute as null, with JS coercion
        // (null < 5000 holds), which budget caps on counters rely on.
        case '$gt': return (v ?? null) > x;
        case '$gte': return (v ?? null) >= x;
        case '$lt': return (v ?? null) < x;
        case '$lte': return (v ?? null) <= x;
        case '$in': return Array.isArray(v) ? v.some((e) => x.includes(e)) : x.includes(v);
        case '$nin': return Array.isArray(v) ? !v.some((e) => x.includes(e)) : !x.includes(v);
        default: return false;
      }
    });
  });
}

// ---- stats: made-up hourly counts, deterministic per hour --------------------------------

function stats(doc, from, to) {
  const hours = [];
  for (let t = Math.floor(from / 3600) * 3600; t <= to; t += 3600) hours.push(t);
  const wave = (t, scale, seed) => {
    const hour = new Date(t * 1000).getUTCHours();
    const day = 0.35 + 0.65 * Math.max(0, Math.sin(((hour - 6) / 24) * 2 * Math.PI));
    const noise = ((Math.sin(t / 3600 * 12.9898 + seed * 78.233) * 43758.5453) % 1 + 1) % 1;
    return Math.round(scale * day * (0.7 + 0.6 * noise));
  };
  const segments = (doc?.segments || []).map((s) => s.id).slice(0, 4);
  const counters = { page_views: hours.map((t) => wave(t, 400, 1)) };
  segments.forEach((s, n) => { counters[`entries:${s}`] = hours.map((t) => wave(t, 30 / (n + 1), n + 2)); });
  for (const [block, b] of Object.entries(doc?.blocks || {}).slice(0, 2)) {
    segments.filter((s) => b.content && s in b.content).forEach((s, n) => {
      counters[`impressions:${block}:${s}`] = hours.map((t) => wave(t, 80 / (n + 1), n + 7));
    });
  }
  for (const e of Object.keys(doc?.events || {}).slice(0, 2)) counters[`events:${e}`] = hours.map((t) => wave(t, 12, e.length));
  return { hours, counters };
}

// `node tests/e2e/fake-admin-api.mjs [port]`: serves the page on the example rules, to look at by hand.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rules = await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8');
  const fake = await startFakeAdminApi({ rules, port: Number(process.argv[2] || 0) });
  console.log(`${fake.baseUrl}  (token: ${fake.token})`);
}
