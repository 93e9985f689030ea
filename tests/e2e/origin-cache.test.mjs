// The origin cache end to end in workerd (wrangler dev's local Cache API), in
// front of a local origin that counts its requests per path: many visitors
// cost the origin one request per page per TTL and each still gets their own
// segment's content; private pages, pages that set cookies and logged-in
// requests are never shared; UTM variants share one entry; purges; stale
// copies while refetching and when the origin fails, within their bounds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { startWorker, Visitor, freePort, eventually, flushCounters } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';
import { signIn, waitText, showTab } from './admin-page-checks.mjs';

const TOKEN = 'e2e-admin-token-cache-0123456789';
const RULES = {
  format: 1,
  version: 'origin-cache-e2e',
  settings: {
    refresh_seconds: 1,
    origin_cache: {
      enabled: true,
      ttl: '10m', // the pages' TTL: one period, however slow this machine is today
      stale_while_revalidate: '2s',
      stale_if_error: '6s',
      session_cookies: ['sessionid', 'wp_logged_in_*'],
      ignore_params: ['gclid'],
    },
  },
  signals: { page_views_10m: { count: 'page_view', path: '/page/*', within: '10m' } },
  segments: [
    { id: 'campaign', priority: 10, condition: { utm_campaign: { $exists: true } } },
    { id: 'explorer', priority: 5, condition: { page_views_10m: { $gte: 3 } } },
  ],
  blocks: {
    hero: {
      content: {
        campaign: { inner_html: '<h1 data-variant="campaign">Campaign {{utm_campaign}}</h1>' },
        explorer: { inner_html: '<h1 data-variant="explorer">Welcome back, explorer</h1>' },
      },
    },
  },
};

let worker;
let origin;
const hits = new Map(); // path -> origin requests
let mode = {}; // path -> 'ok' | 'error' | 'down'
let version = 1; // bumps the body of /swr and /flaky
const count = (path) => hits.get(path) || 0;
const total = (prefix) => [...hits].filter(([p]) => p.startsWith(prefix)).reduce((s, [, n]) => s + n, 0);

function page(title, extra = '') {
  return `<!doctype html><html><head><title>${title}</title></head><body>\n<div data-edgeseg-block="hero"><h1>Default ${title}</h1></div>\n${extra}</body></html>\n`;
}

before(async () => {
  const port = await freePort();
  origin = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const path = url.pathname;
    hits.set(path, count(path) + 1);
    const n = count(path);
    if (mode[path] === 'down') { req.socket.destroy(); return; }
    if (mode[path] === 'error') {
      res.writeHead(503, { 'content-type': 'text/html' });
      res.end('<h1>origin is down</h1>');
      return;
    }
    const html = { 'content-type': 'text/html; charset=utf-8' };
    if (path.startsWith('/page/')) {
      res.writeHead(200, html);
      res.end(page(path, `<p>origin request ${n}</p>`));
    } else if (path === '/private') {
      res.writeHead(200, { ...html, 'cache-control': 'private, max-age=600' });
      res.end(page('private', `<p>private copy ${n}</p>`));
    } else if (path === '/sets-cookie') {
      res.writeHead(200, { ...html, 'cache-control': 'public, max-age=600', 'set-cookie': `cart=c${n}; Path=/` });
      res.end(page('cookie', `<p>cart c${n}</p>`));
    } else if (path === '/account') {
      const who = /sessionid=([a-z]+)/.exec(req.headers.cookie || '')?.[1];
      res.writeHead(200, html); // the origin forgot to say private: the session cookie list must protect it
      res.end(page('account', who ? `<p>signed in as ${who}</p>` : '<p>please sign in</p>'));
    } else if (path === '/swr' || path === '/flaky') {
      // The refetched /swr copy lives a minute, so the check that it is then a
      // HIT does not race its own 1 s expiry on a slow machine.
      const maxAge = path === '/swr' && version > 1 ? 60 : 1;
      res.writeHead(200, { ...html, 'cache-control': `max-age=${maxAge}` });
      res.end(page(path, `<p>version ${version}</p>`));
    } else if (path === '/slow') {
      setTimeout(() => { res.writeHead(200, html); res.end(page('slow', `<p>slow copy ${n}</p>`)); }, 400);
    } else if (path === '/same') {
      res.writeHead(200, { ...html, etag: '"v1"', 'last-modified': 'Tue, 01 Dec 2026 00:00:00 GMT' });
      res.end(page('same', '<p>the same bytes every time</p>'));
    } else if (path === '/gzipped') {
      res.writeHead(200, { ...html, 'content-encoding': 'gzip', vary: 'Accept-Encoding' });
      res.end(gzipSync(page('gzipped', `<p>compressed copy ${n}</p>`)));
    } else if (path === '/origin-ttl') {
      res.writeHead(200, { ...html, 'cache-control': 'public, max-age=1, stale-while-revalidate=0, stale-if-error=0' });
      res.end(page('origin-ttl', `<p>request ${n}</p>`));
    } else {
      res.writeHead(200, html);
      res.end(page(path, `<p>origin request ${n} for ${url.search}</p>`));
    }
  });
  await new Promise((ok) => origin.listen(port, '127.0.0.1', ok));
  worker = await startWorker({
    rules: JSON.stringify(RULES),
    vars: { ORIGIN_URL: `http://127.0.0.1:${port}`, EDGESEG_ADMIN_TOKEN: TOKEN },
  });
});

after(async () => {
  await worker?.stop();
  origin?.close();
});

async function admin(method, path, body) {
  const res = await fetch(`${worker.url}/__edgeseg/admin/api/${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

const variant = (text) => /data-variant="([a-z]+)"/.exec(text)?.[1] ?? 'default';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('1,000 page views by 100 visitors over 10 pages cost the origin one request per page, each visitor personalized', async () => {
  const VISITORS = 100;
  const PAGES = 10;
  const CONCURRENCY = 8;
  const before = total('/page/');
  const statuses = {};
  let views = 0;
  const started = Date.now();
  let next = 0;
  async function visit(i) {
    // Every fourth visitor comes from a campaign (its own UTM value on every view).
    const campaign = i % 4 === 0 ? `v${i}` : null;
    const v = new Visitor(worker.url);
    for (let k = 0; k < PAGES; k++) {
      const p = (i + k * 3) % PAGES; // each visitor walks the pages in its own order
      const r = await v.get(`/page/${p}${campaign ? `?utm_campaign=${campaign}&utm_source=mail` : ''}`);
      views++;
      assert.equal(r.status, 200);
      statuses[r.headers.get('x-edgeseg-cache')] = (statuses[r.headers.get('x-edgeseg-cache')] || 0) + 1;
      assert.match(r.headers.get('cache-control'), /private/, 'the personalized page is private');
      assert.match(r.text, new RegExp(`<title>/page/${p}</title>`), 'the page for the path asked');
      const expected = campaign ? 'campaign' : k >= 2 ? 'explorer' : 'default';
      assert.equal(variant(r.text), expected, `visitor ${i}, view ${k + 1}`);
      if (campaign) assert.match(r.text, new RegExp(`Campaign ${campaign}<`), 'their own campaign, not a cached one');
      if (k === 0) assert.equal(r.setCookies.length, 1, 'a new visitor gets their state cookie');
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < VISITORS) await visit(next++);
  }));
  const seconds = (Date.now() - started) / 1000;
  const originRequests = total('/page/') - before;
  console.log(`# origin cache on: ${views} page views in ${seconds.toFixed(1)} s (${(views / seconds).toFixed(0)}/s), ` +
    `${originRequests} origin requests; served ${JSON.stringify(statuses)}`);
  assert.equal(views, 1000);
  const periods = Math.ceil(seconds / 600);
  assert.ok(originRequests >= PAGES && originRequests <= PAGES * periods + 2,
    `about one origin request per page per TTL: ${originRequests} for ${PAGES} pages in ${periods} TTL period(s)`);
  const health = await (await fetch(`${worker.url}/__edgeseg/health`)).json();
  assert.equal(health.origin_cache.enabled, true);
  assert.ok(health.origin_cache.hit_ratio_today > 0.95, `hit ratio ${health.origin_cache.hit_ratio_today}`);
  // The stats read the totals the counter shards published: send this
  // isolate's batch to its shard and have the shards publish now.
  const stats = await eventually(async () => {
    await flushCounters(worker.url, TOKEN);
    const r = await admin('GET', 'stats');
    return r.json.origin_cache?.hits >= 990 && r;
  }, { timeout: 30_000, every: 500, what: 'the cache counters in the stats' });
  assert.ok(stats.json.origin_cache.misses >= PAGES);
  assert.ok(stats.json.origin_cache.hit_ratio > 0.95);
  assert.ok(stats.json.counters['origin_cache:hits'].reduce((a, b) => a + b, 0) >= 990);
});

test('visitors arriving together at a page not yet cached cost the origin one request', async () => {
  const views = await Promise.all(Array.from({ length: 6 }, (_, i) => new Visitor(worker.url).get(`/slow${i % 2 ? '?utm_source=x' : ''}`)));
  assert.equal(count('/slow'), 1);
  for (const r of views) {
    assert.equal(r.status, 200);
    assert.match(r.text, /slow copy 1/);
  }
  const labels = views.map((r) => r.headers.get('x-edgeseg-cache')).sort();
  assert.deepEqual(labels, ['HIT', 'HIT', 'HIT', 'HIT', 'HIT', 'MISS']);
});

test('the cached copy is personalized byte for byte as the fresh one, with the same cookie and headers', async () => {
  const fresh = await new Visitor(worker.url).get('/same?utm_campaign=equal');
  const cached = await new Visitor(worker.url).get('/same?utm_campaign=equal');
  assert.deepEqual([fresh.headers.get('x-edgeseg-cache'), cached.headers.get('x-edgeseg-cache')], ['MISS', 'HIT']);
  assert.equal(cached.text, fresh.text);
  assert.match(cached.text, /Campaign equal</);
  for (const r of [fresh, cached]) {
    assert.equal(r.setCookies.length, 1);
    assert.match(r.setCookies[0], /^edgeseg=/);
    assert.equal(r.headers.get('cache-control'), 'private, no-cache');
    assert.equal(r.headers.get('etag'), null, 'validators describe the origin\'s bytes, not this page');
    assert.ok(!r.headers.has('x-edgeseg-cache-meta'), 'the stored copy\'s own header never leaves');
    assert.ok(!r.headers.has('x-edgeseg-origin-cache-control'));
  }
  // A consenting-not visitor (GPC) gets the cached copy without a cookie, as a fresh one.
  const gpc = await new Visitor(worker.url, { 'sec-gpc': '1' }).get('/same?utm_campaign=equal');
  assert.equal(gpc.headers.get('x-edgeseg-cache'), 'HIT');
  assert.equal(gpc.setCookies.length, 0);
  assert.match(gpc.text, /Campaign equal</);
  assert.equal(count('/same'), 1);
});

test('a compressed page is stored and personalized like any other', async () => {
  const v = new Visitor(worker.url);
  const first = await v.get('/gzipped?utm_campaign=zip');
  const second = await new Visitor(worker.url).get('/gzipped?utm_campaign=zap');
  assert.deepEqual([first.headers.get('x-edgeseg-cache'), second.headers.get('x-edgeseg-cache')], ['MISS', 'HIT']);
  for (const [r, c] of [[first, 'zip'], [second, 'zap']]) {
    assert.match(r.text, /compressed copy 1/);
    assert.match(r.text, new RegExp(`Campaign ${c}<`));
  }
  assert.equal(count('/gzipped'), 1);
});

test('a private page is never cached or shared', async () => {
  const a = await new Visitor(worker.url).get('/private');
  const b = await new Visitor(worker.url).get('/private');
  assert.equal(count('/private'), 2);
  assert.equal(a.headers.get('x-edgeseg-cache'), 'PASS');
  assert.match(a.text, /private copy 1/);
  assert.match(b.text, /private copy 2/);
});

test('a response that sets a cookie is never cached: each visitor gets their own', async () => {
  const a = await new Visitor(worker.url).get('/sets-cookie');
  const b = await new Visitor(worker.url).get('/sets-cookie');
  assert.equal(count('/sets-cookie'), 2);
  assert.ok(a.setCookies.some((c) => c.startsWith('cart=c1')));
  assert.ok(b.setCookies.some((c) => c.startsWith('cart=c2')));
  assert.ok(!b.setCookies.some((c) => c.startsWith('cart=c1')), 'never the first visitor\'s cookie');
});

test('a request with a session cookie bypasses the cache and its page is never shared', async () => {
  const signedIn = await new Visitor(worker.url).get('/account', { headers: { cookie: 'theme=dark; sessionid=alice' } });
  assert.equal(signedIn.headers.get('x-edgeseg-cache'), 'BYPASS');
  assert.match(signedIn.text, /signed in as alice/);
  const prefixed = await new Visitor(worker.url).get('/account', { headers: { cookie: 'wp_logged_in_abc=1; sessionid=bob' } });
  assert.equal(prefixed.headers.get('x-edgeseg-cache'), 'BYPASS');
  const anonymous = await new Visitor(worker.url).get('/account');
  assert.match(anonymous.text, /please sign in/);
  assert.doesNotMatch(anonymous.text, /alice|bob/);
  assert.equal(count('/account'), 3, 'every one of them went to the origin');
  // The anonymous copy was stored; a signed-in request still never sees it.
  assert.equal((await new Visitor(worker.url).get('/account')).headers.get('x-edgeseg-cache'), 'HIT');
  const again = await new Visitor(worker.url).get('/account', { headers: { cookie: 'sessionid=carol' } });
  assert.match(again.text, /signed in as carol/);
  assert.equal(count('/account'), 4);
});

test('UTM and listed parameters share one entry; parameters the page reads do not', async () => {
  const urls = ['/shared', '/shared?utm_source=a', '/shared?utm_campaign=b&utm_medium=c', '/shared?gclid=xyz', '/shared?utm_source=a&gclid=1'];
  const served = [];
  for (const u of urls) served.push((await new Visitor(worker.url).get(u)).headers.get('x-edgeseg-cache'));
  assert.deepEqual(served, ['MISS', 'HIT', 'HIT', 'HIT', 'HIT']);
  assert.equal(count('/shared'), 1);
  const p2 = await new Visitor(worker.url).get('/shared?page=2&utm_source=a');
  assert.equal(p2.headers.get('x-edgeseg-cache'), 'MISS');
  assert.match(p2.text, /for \?page=2&amp;utm_source=a|for \?page=2&utm_source=a/);
  assert.equal(count('/shared'), 2);
  // A preview token is edgeseg's own state: never part of the key.
  const preview = await new Visitor(worker.url).get('/shared?__edgeseg_preview=not-a-valid-token');
  assert.equal(preview.headers.get('x-edgeseg-cache'), 'HIT');
});

test('a purge of a path, then of everything, makes the next view fetch the origin', async () => {
  const v = () => new Visitor(worker.url).get('/purge-me?x=1');
  await v();
  await v();
  assert.equal(count('/purge-me'), 1);
  const bad = await admin('POST', 'purge', {});
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /say what to purge/);
  const one = await admin('POST', 'purge', { path: '/purge-me' });
  assert.equal(one.status, 200);
  assert.equal(one.json.purged, '/purge-me');
  assert.equal((await v()).headers.get('x-edgeseg-cache'), 'MISS', 'every query variant of the path is purged');
  assert.equal(count('/purge-me'), 2);
  assert.equal((await v()).headers.get('x-edgeseg-cache'), 'HIT');
  const gen = (await (await fetch(`${worker.url}/__edgeseg/health`)).json()).origin_cache.generation;
  const all = await admin('POST', 'purge', { all: true });
  assert.equal(all.status, 200);
  assert.equal(all.json.purged, 'everything');
  assert.equal(all.json.generation, gen + 1);
  assert.equal((await v()).headers.get('x-edgeseg-cache'), 'MISS');
  assert.equal(count('/purge-me'), 3);
  const pageBefore = count('/page/1');
  await new Visitor(worker.url).get('/page/1');
  assert.equal(count('/page/1'), pageBefore + 1, 'everything means every page');
  // Unauthenticated purges are refused.
  const anon = await fetch(`${worker.url}/__edgeseg/admin/api/purge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"all":true}' });
  assert.equal(anon.status, 401);
});

test('a rules save that changes the cache settings purges everything; other changes do not', async () => {
  const get = await admin('GET', 'rules');
  const rules = JSON.parse(get.json.text);
  const view = () => new Visitor(worker.url).get('/after-save');
  await view();
  assert.equal(count('/after-save'), 1);
  rules.version = 'origin-cache-e2e-2';
  rules.blocks.hero.content.explorer.inner_html = '<h1 data-variant="explorer">Hello again</h1>';
  const content = await fetch(`${worker.url}/__edgeseg/admin/api/rules`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'if-match': get.headers.get('etag') },
    body: JSON.stringify({ text: JSON.stringify(rules), message: 'content only' }),
  });
  assert.equal(content.status, 200);
  assert.equal(content.headers.get('x-edgeseg-cache-purged'), null);
  await eventually(async () => (await (await fetch(`${worker.url}/__edgeseg/health`)).json()).rules_version === 'origin-cache-e2e-2', { what: 'rules reloaded' });
  assert.equal((await view()).headers.get('x-edgeseg-cache'), 'HIT', 'content is applied after the cache');
  rules.version = 'origin-cache-e2e-3';
  rules.settings.origin_cache.session_cookies.push('auth_token');
  const revision = (await content.json()).revision;
  const settings = await fetch(`${worker.url}/__edgeseg/admin/api/rules`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'if-match': `"${revision}"` },
    body: JSON.stringify({ text: JSON.stringify(rules), message: 'a new session cookie' }),
  });
  assert.equal(settings.status, 200);
  assert.match(settings.headers.get('x-edgeseg-cache-purged'), /^everything/);
  assert.equal((await view()).headers.get('x-edgeseg-cache'), 'MISS');
  assert.equal(count('/after-save'), 2);
});

test('past its TTL a copy is served stale while one refetch runs after the response', async () => {
  version = 1;
  const v = () => new Visitor(worker.url).get('/swr');
  const first = await v();
  assert.equal(first.headers.get('x-edgeseg-cache'), 'MISS');
  assert.match(first.text, /version 1/);
  assert.equal((await v()).headers.get('x-edgeseg-cache'), 'HIT');
  version = 2;
  await sleep(1200); // past max-age=1, within stale_while_revalidate (2 s)
  const stale = await v();
  assert.equal(stale.headers.get('x-edgeseg-cache'), 'STALE');
  assert.match(stale.text, /version 1/, 'the stale copy, at once');
  assert.match(stale.headers.get('cache-control'), /private/, 'still personalized and private');
  await eventually(() => count('/swr') === 2, { what: 'the refetch after the response' });
  const fresh = await eventually(async () => {
    const r = await v();
    return /version 2/.test(r.text) && r;
  }, { what: 'the refetched copy' });
  assert.equal(fresh.headers.get('x-edgeseg-cache'), 'HIT');
  assert.equal(count('/swr'), 2, 'one refetch, not one per request');
  // The origin's own smaller bounds win: stale-while-revalidate=0 means no stale serving.
  await new Visitor(worker.url).get('/origin-ttl');
  await sleep(1200);
  const expired = await new Visitor(worker.url).get('/origin-ttl');
  assert.equal(expired.headers.get('x-edgeseg-cache'), 'MISS');
  assert.equal(count('/origin-ttl'), 2);
});

test('an origin that fails after a hit is answered from the stale copy within the bound, not past it', async () => {
  version = 7;
  const v = () => new Visitor(worker.url).get('/flaky');
  assert.match((await v()).text, /version 7/);
  const stored = Date.now();
  mode['/flaky'] = 'error';
  await sleep(3100); // past max-age=1 and stale_while_revalidate (2 s), within stale_if_error (6 s)
  const onError = await v();
  assert.equal(onError.status, 200);
  assert.equal(onError.headers.get('x-edgeseg-cache'), 'STALE-IF-ERROR');
  assert.match(onError.text, /version 7/);
  assert.match(onError.text, /data-edgeseg-block="hero"/, 'personalized as a fresh copy would be');
  mode['/flaky'] = 'down';
  const unreachable = await v();
  assert.equal(unreachable.headers.get('x-edgeseg-cache'), 'STALE-IF-ERROR', 'also when the origin cannot be reached');
  assert.match(unreachable.text, /version 7/);
  mode['/flaky'] = 'error';
  await sleep(Math.max(0, stored + 7300 - Date.now())); // past 1 s + stale_if_error (6 s)
  const past = await v();
  assert.equal(past.status, 503, 'past the bound the origin\'s error passes through');
  assert.equal(past.text, '<h1>origin is down</h1>');
  mode['/flaky'] = 'ok';
  const back = await v();
  assert.equal(back.headers.get('x-edgeseg-cache'), 'MISS');
  assert.match(back.text, /version 7/);
  // An error is never stored.
  assert.equal((await v()).headers.get('x-edgeseg-cache'), 'HIT');
});

test('the admin page shows the hit ratio and purges a path and everything', { skip: browserMissing() ?? false }, async () => {
  const view = () => new Visitor(worker.url).get('/from-the-page');
  await view();
  assert.equal((await view()).headers.get('x-edgeseg-cache'), 'HIT');
  const b = await launchBrowser();
  try {
    const page = await b.newPage({ width: 1280, height: 800 });
    await signIn(page, `${worker.url}/__edgeseg/admin/`, TOKEN);
    await showTab(page, 'cache');
    await waitText(page, '#cache-ratio', /^\d+\.\d %$/);
    assert.ok(await page.locator('#cache-off').isHidden(), 'no "cache is off" note when it is on');
    await page.locator('#purge-path').fill('/from-the-page');
    await page.locator('#purge-path-button').click();
    await waitText(page, '.cache-status', /Purged \/from-the-page\./);
    await screenshot(page, 'admin-cache-tab');
    assert.equal((await view()).headers.get('x-edgeseg-cache'), 'MISS');
    page.once('dialog', (d) => d.accept());
    await page.locator('#purge-all-button').click();
    await waitText(page, '.cache-status', /Purged everything\./);
    assert.equal((await view()).headers.get('x-edgeseg-cache'), 'MISS');
    assert.deepEqual(page.__errors || [], []);
  } finally {
    await b.close();
  }
});
