// GET /__edgeseg/decide?path=...: the page pipeline's decision for a page a
// single-page app shows without loading it, in workerd. It must record the
// page view as a page load would (the next decision and the next page load
// see it), answer what a page load of that path would apply (checked against
// `edgeseg preview --plan --tracked`, which page-differential.test.mjs ties to
// the Worker's real pages), stay private, honour consent, and refuse what is
// not a path of the site with a 400, never a 5xx. In Chromium, the page script's
// application of a decision to the origin's page equals the Worker's rewrite of
// a page load of the same path, page by page of the demo store.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startWorker, Visitor, ROOT } from './harness.mjs';
import { launchBrowser, browserMissing } from './browser.mjs';

const run = promisify(execFile);
const BIN = join(ROOT, 'target', 'debug', 'edgeseg');
const RULES = join(ROOT, 'examples', 'rules.json');
const PRODUCTS = ['/products/trail-runner', '/products/daypack-28', '/products/down-jacket'];
let worker;

before(async () => { worker = await startWorker({ rules: await readFile(RULES, 'utf8') }); });
let browser;
after(async () => { await browser?.close(); await worker?.stop(); });

const seconds = () => Math.floor(Date.now() / 1000);

async function decide(v, path, headers = {}) {
  const r = await v.get(`/__edgeseg/decide?path=${encodeURIComponent(path)}`, { headers: { accept: 'application/json', ...headers } });
  return { ...r, json: r.status === 200 ? JSON.parse(r.text) : null };
}

/** The plan's blocks the CLI decides for these page views and a last request for `path` at `now`. */
async function cliBlocks(views, path, now) {
  const args = ['preview', RULES, join(ROOT, 'www', 'index.html'), '--plan', '--tracked', '--now', String(now), '--url', `https://shop.test${path}`];
  for (const [p, at] of views) args.push('--event', `page_view:${p}@-${now - at}s`);
  const { stdout } = await run(BIN, args);
  return JSON.parse(stdout).blocks;
}

test('a decision is private, sets the cookie, and its page views count like page loads', async () => {
  const v = new Visitor(worker.url);
  const first = await decide(v, '/');
  assert.equal(first.status, 200);
  assert.match(first.headers.get('content-type'), /application\/json/);
  assert.equal(first.headers.get('cache-control'), 'private, no-store');
  assert.equal(first.setCookies.length, 1, 'the state cookie');
  assert.deepEqual(first.json.segments, []);
  assert.equal(first.json.tracked, true);
  for (const p of PRODUCTS) assert.equal((await decide(v, p)).status, 200);
  const home = await decide(v, '/');
  assert.ok(home.json.segments.includes('product_browser'), JSON.stringify(home.json.segments));
  const hero = home.json.blocks.find((b) => b.id === 'hero');
  assert.match(hero.inner_html, /data-variant="product_browser"/);
  // A full page load after client-side navigations sees them too.
  const page = await v.get('/');
  assert.match(page.text, /data-variant="product_browser">Still deciding\?/);
});

test('a decision applies what the CLI (and so a page load) would, path by path', async () => {
  for (const [views, last] of [
    [[], '/'],
    [PRODUCTS, '/'],
    [[], '/?utm_campaign=spring%3Cb%3E'],
    [['/?utm_campaign=spring'], '/products/camp-mug'],
  ]) {
    const v = new Visitor(worker.url);
    const history = [];
    for (const p of views) {
      history.push([p, seconds()]);
      assert.equal((await decide(v, p)).status, 200);
    }
    const from = seconds();
    const answer = await decide(v, last);
    const to = seconds();
    const cli = [];
    for (let now = from; now <= to; now += 1) cli.push(await cliBlocks(history, last, now));
    assert.ok(cli.some((blocks) => JSON.stringify(blocks) === JSON.stringify(answer.json.blocks)),
      `${last} after ${views.join(', ') || 'nothing'}:\n--- decide\n${JSON.stringify(answer.json.blocks)}\n--- cli\n${JSON.stringify(cli[0])}`);
  }
});

test('content from the request is escaped as on the server', async () => {
  const answer = await decide(new Visitor(worker.url), '/?utm_campaign=%3Cscript%3Ealert(1)%3C%2Fscript%3E');
  const hero = answer.json.blocks.find((b) => b.id === 'hero');
  assert.ok(hero.inner_html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), hero.inner_html);
  assert.ok(!hero.inner_html.includes('<script>alert(1)'));
});

test('a GPC visitor gets decisions that need no stored state, and nothing is stored', async () => {
  const v = new Visitor(worker.url, { 'sec-gpc': '1' });
  for (const p of PRODUCTS) await decide(v, p);
  const home = await decide(v, '/?utm_campaign=spring');
  assert.equal(home.setCookies.length, 0, 'no cookie');
  assert.equal(home.json.tracked, false);
  assert.deepEqual(home.json.segments, ['campaign_visitor'], 'the campaign needs no history; product browsing does');
});

test('bad input: not a path of this site, too long, no cookie or a tampered one: a 400 or a fresh visitor, never a 5xx', async () => {
  const v = new Visitor(worker.url);
  const bad = async (query) => (await v.get(`/__edgeseg/decide${query}`)).status;
  assert.equal(await bad(''), 400);
  for (const p of ['https://evil.test/', '//evil.test/x', 'products/a', '/\\evil', '/a\nb']) {
    assert.equal(await bad(`?path=${encodeURIComponent(p)}`), 400, p);
  }
  assert.equal(await bad(`?path=/${'a'.repeat(3000)}`), 400);
  const r = await v.get(`/__edgeseg/decide?path=/&junk=${'x'.repeat(8000)}`);
  assert.equal(r.status, 200, 'an enormous query beside the path is ignored');
  const error = JSON.parse((await v.get('/__edgeseg/decide?path=nope')).text).error;
  assert.match(error, /^path: /, 'the message names the parameter');
  const tampered = await decide(new Visitor(worker.url), '/', { cookie: 'edgeseg=AAAA.tampered' });
  assert.equal(tampered.status, 200);
  assert.deepEqual(tampered.json.segments, []);
  assert.equal(tampered.setCookies.length, 1, 'a fresh visitor gets a fresh cookie');
  const post = await fetch(`${worker.url}/__edgeseg/decide?path=/`, { method: 'POST' });
  assert.equal(post.status, 405);
});

// The origin's file of a demo store path (what the Worker rewrites).
function originFile(path) {
  const p = path.split('?')[0];
  const file = p.endsWith('/') ? `${p}index.html` : `${p}.html`;
  return join(ROOT, 'www', file);
}

test('the page script applying a decision gives the page a page load of that path gets, over the demo store', { skip: browserMissing() ?? false }, async () => {
  browser = await launchBrowser();
  const pages = ['/', '/category/', '/category/footwear', '/products/trail-runner', '/products/new/summit-shell', '/cart', '/shop/', '/?utm_campaign=spring%3Cb%3E'];
  // Nothing; product browsing (inner HTML); an interest (a template); new arrivals
  // (`after`); a likely buyer (`remove` and `before`).
  const histories = [[], PRODUCTS, ['/category/packs', '/category/packs', '/category/packs', '/products/daypack-28'],
    ['/products/new/summit-shell', '/products/new/ember-lantern'], [...PRODUCTS, ...PRODUCTS, '/products/camp-mug']];
  const body = (page) => page.evaluate(() => document.body.innerHTML);
  let compared = 0;
  for (const history of histories) {
    for (const path of pages) {
      // One visitor's state, given to two browsers: one loads the page, the other
      // gets the origin's page unchanged and applies the decide answer to it.
      const v = new Visitor(worker.url);
      for (const p of history) assert.equal((await decide(v, p)).status, 200);
      const cookies = [...v.cookies].map(([name, value]) => ({ name, value, url: worker.url }));
      const loaded = await browser.newPage();
      await loaded.context().addCookies(cookies);
      const applied = await browser.newPage();
      await applied.context().addCookies(cookies);
      const raw = await readFile(originFile(path), 'utf8');
      await applied.route((url) => url.pathname + url.search === path, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: raw }));
      await loaded.goto(`${worker.url}${path}`);
      await applied.goto(`${worker.url}${path}`);
      await applied.waitForFunction(() => window.edgeseg && typeof edgeseg.decide === 'function');
      const dec = await applied.evaluate((p) => edgeseg.decide(p).then((d) => ({ blocks: d.blocks.map((b) => b.id + ':' + b.source), segments: d.segments })), path);
      const [want, got] = [await body(loaded), await body(applied)];
      assert.equal(got, want, `${path} after ${history.join(', ') || 'nothing'} (${JSON.stringify(dec)})`);
      if (dec.blocks.length) compared += 1;
      await loaded.context().close();
      await applied.context().close();
    }
  }
  assert.ok(compared >= 10, `decisions with content compared: ${compared}`);
});
