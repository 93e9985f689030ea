// The content path end to end: the real Worker in workerd, assets from www/,
// rules from local KV.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, Visitor, ROOT } from './harness.mjs';

const DEFAULT_HERO = 'Gear up for the long way round';
const rules = await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8');
let worker;

before(async () => { worker = await startWorker({ rules }); });
after(async () => { await worker?.stop(); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('first visit: default blocks, a state cookie with the right flags, private caching, server timing', async () => {
  const v = new Visitor(worker.url);
  const r = await v.get('/');
  assert.equal(r.status, 200);
  assert.match(r.text, new RegExp(DEFAULT_HERO));
  assert.doesNotMatch(r.text, /data-variant=/);
  assert.equal(r.setCookies.length, 1, 'one state cookie');
  const sc = r.setCookies[0];
  assert.match(sc, /^edgeseg=[A-Za-z0-9_-]+;/);
  for (const flag of ['HttpOnly', 'Secure', 'SameSite=Lax', 'Path=/']) assert.ok(sc.includes(flag), `${flag} in ${sc}`);
  assert.match(sc, /Max-Age=15552000/);
  assert.match(r.headers.get('cache-control'), /private/);
  assert.match(r.headers.get('server-timing'), /edgeseg;dur=\d/);
});

test('three product page views, then home: the product_browser hero and offer', async () => {
  const v = new Visitor(worker.url);
  for (const p of ['/products/trail-runner', '/products/daypack-28', '/products/down-jacket']) {
    const r = await v.get(p);
    assert.equal(r.status, 200, p);
  }
  const home = await v.get('/');
  assert.match(home.text, /data-variant="product_browser">Still deciding\? Compare your top picks/);
  assert.match(home.text, /<p data-variant="product_browser"><strong>Compare &amp; save:/);
  assert.doesNotMatch(home.text, new RegExp(DEFAULT_HERO));
  // The category page carries the same blocks.
  const cat = await v.get('/category/');
  assert.match(cat.text, /data-variant="product_browser"/);
});

test('two product views are not enough', async () => {
  const v = new Visitor(worker.url);
  await v.get('/products/trail-runner');
  await v.get('/products/daypack-28');
  const home = await v.get('/');
  assert.match(home.text, new RegExp(DEFAULT_HERO));
});

test('utm_campaign visitor: campaign content, with the request value HTML-escaped', async () => {
  const v = new Visitor(worker.url);
  const r = await v.get('/?utm_campaign=%3Cscript%3Ealert(1)%3C%2Fscript%3E');
  assert.match(r.text, /data-variant="campaign_visitor">Your trail-ready offer is here/);
  assert.ok(r.text.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'escaped campaign name');
  assert.ok(!r.text.includes('<script>alert(1)</script>'), 'never raw');
  // hold_for keeps the campaign content for the visit, without the parameter.
  const next = await v.get('/category/');
  assert.match(next.text, /data-variant="campaign_visitor"/);
  const plain = await new Visitor(worker.url).get('/category/');
  assert.doesNotMatch(plain.text, /data-variant="campaign_visitor"/);
});

test('returning visitor: a new session after the timeout (3s in the test rules)', async () => {
  const v = new Visitor(worker.url);
  assert.match((await v.get('/')).text, new RegExp(DEFAULT_HERO));
  await sleep(4_000);
  const back = await v.get('/');
  assert.match(back.text, /data-variant="returning_visitor">Good to see you again, explorer/);
});

test('enter_after debounces: membership starts only after the condition held for 2s', async () => {
  const v = new Visitor(worker.url);
  assert.doesNotMatch((await v.get('/?debounce=1')).text, /data-variant="debounced"/);
  await sleep(2_200);
  assert.match((await v.get('/?debounce=1')).text, /data-variant="debounced"/);
});

test('a tampered cookie, a 10 KB cookie and random bytes all mean a fresh visitor, never an error', async () => {
  const v = new Visitor(worker.url);
  for (const p of ['/products/trail-runner', '/products/daypack-28', '/products/down-jacket']) await v.get(p);
  const good = v.cookies.get('edgeseg');
  assert.match((await v.get('/')).text, /data-variant="product_browser"/);
  const flipped = good.slice(0, 10) + (good[10] === 'A' ? 'B' : 'A') + good.slice(11);
  const random = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 73 + 11) % 256)).toString('base64url');
  for (const [name, value] of [['tampered', flipped], ['10 KB', 'A'.repeat(10 * 1024)], ['random bytes', random], ['garbage', '%%%;;']]) {
    const r = await v.get('/', { headers: { cookie: `edgeseg=${value}` } });
    assert.equal(r.status, 200, name);
    assert.match(r.text, new RegExp(DEFAULT_HERO), `${name}: default content`);
    assert.equal(r.setCookies.length, 1, `${name}: a fresh cookie is issued`);
    assert.notEqual(r.setCookies[0].split(';')[0], `edgeseg=${value}`);
  }
});

test('static files pass through byte for byte, without a cookie', async () => {
  const v = new Visitor(worker.url);
  for (const [path, file, type] of [
    ['/styles.css', 'styles.css', /text\/css/],
    ['/images/favicon.png', 'images/favicon.png', /image\/png/],
    ['/images/logo.svg', 'images/logo.svg', /image\/svg/],
  ]) {
    const r = await v.get(path);
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get('content-type'), type);
    assert.deepEqual(r.body, await readFile(join(ROOT, 'www', file)), `${path} is byte-identical`);
    assert.equal(r.setCookies.length, 0, `${path} sets no cookie`);
  }
});

test('a missing page passes through as the origin sent it (404, no cookie)', async () => {
  const r = await new Visitor(worker.url).get('/no/such/page');
  assert.equal(r.status, 404);
  assert.equal(r.setCookies.length, 0);
});

test('the health endpoint reports the rules version in use', async () => {
  const h = await (await fetch(`${worker.url}/__edgeseg/health`)).json();
  assert.equal(h.status, 'ok');
  assert.equal(h.rules_version, 'test-1');
  assert.equal(h.last_error, null);
  assert.equal(h.secret_configured, true);
});

test('regression: a navigation carrying validators still gets this visitor\'s page, never a 304 of an earlier one', async () => {
  const v = new Visitor(worker.url);
  for (const p of ['/products/trail-runner', '/products/daypack-28', '/products/down-jacket']) await v.get(p);
  const r = await v.get('/', { headers: { 'if-none-match': '*', 'if-modified-since': new Date(Date.now() + 86_400_000).toUTCString() } });
  assert.equal(r.status, 200);
  assert.match(r.text, /data-variant="product_browser"/);
  assert.equal(r.headers.get('etag'), null, 'a personalized page carries no validator');
  // Assets keep their validators and 304s.
  const css = await fetch(`${worker.url}/styles.css`);
  const etag = css.headers.get('etag');
  if (etag) assert.equal((await fetch(`${worker.url}/styles.css`, { headers: { 'if-none-match': etag } })).status, 304);
});
