// One pipeline, two front ends: the Worker in workerd and the `edgeseg`
// CLI both serve a page through `edgeseg::page::serve`, so for the same
// visitor (the same page views at the same times, the same request) they must
// produce the same page, byte for byte: blocks, templates, the segments
// script and the tracking scripts in <head>. The cookie is left aside (it is
// signed with the Worker's secret, and carries its own random visitor id).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startWorker, Visitor, ROOT } from './harness.mjs';

const run = promisify(execFile);
const BIN = join(ROOT, 'target', 'debug', 'edgeseg');
const RULES = join(ROOT, 'examples', 'rules.json');
let worker;

before(async () => { worker = await startWorker({ rules: await readFile(RULES, 'utf8') }); });
after(async () => { await worker?.stop(); });

const seconds = () => Math.floor(Date.now() / 1000);

/** The page the CLI serves for these page views (path, unix seconds) and a last request at `now`. */
async function cliPage(views, url, file, now) {
  const args = ['preview', RULES, join(ROOT, 'www', file), '--tracked', '--now', String(now), '--url', `https://shop.test${url}`];
  for (const [path, at] of views) args.push('--event', `page_view:${path}@-${now - at}s`);
  const { stdout } = await run(BIN, args, { maxBuffer: 16 << 20 });
  return stdout;
}

/**
 * Visits `paths` in the Worker (a fresh visitor), then `last`; returns the
 * Worker's last page and the CLI's page for the same visit. The Worker reads
 * its clock inside the request, so the last request is bracketed: the CLI
 * page is made for each second in the bracket, and one must match.
 */
async function both(paths, last, file) {
  const v = new Visitor(worker.url);
  const views = [];
  for (const p of paths) {
    const at = seconds();
    const r = await v.get(p);
    assert.equal(r.status, 200, p);
    views.push([p, at]);
  }
  const from = seconds();
  const r = await v.get(last);
  const to = seconds();
  assert.equal(r.status, 200, last);
  const cli = [];
  for (let now = from; now <= to; now += 1) cli.push(await cliPage(views, last, file, now));
  // Like the cookie, the visitor id the page exposes (the rules take server
  // events, so it is there) is each side's own random one.
  const sameId = (html) => html.replace(/visitorId:"[0-9a-f]{32}"/g, 'visitorId:"(random)"');
  return { worker: sameId(r.text), cli: cli.map(sameId), response: r };
}

for (const [name, paths, last, file] of [
  ['a first visit', [], '/', 'index.html'],
  ['three product views, then home', ['/products/trail-runner', '/products/daypack-28', '/products/down-jacket'], '/', 'index.html'],
  ['a campaign landing, with the campaign name in the hero', [], '/?utm_campaign=spring%3Cb%3E', 'index.html'],
  ['a campaign visitor on a product page', ['/?utm_campaign=spring'], '/products/camp-mug', 'products/camp-mug.html'],
  ['new arrivals browsing', ['/products/new/summit-shell', '/products/new/summit-shell'], '/', 'index.html'],
]) {
  test(`the Worker and the CLI serve the same page: ${name}`, async () => {
    const { worker: page, cli, response } = await both(paths, last, file);
    assert.ok(cli.includes(page), `the Worker's page equals the CLI's:\n--- worker\n${page.slice(0, 3000)}\n--- cli\n${cli[0].slice(0, 3000)}`);
    // The same decisions show in both: a tracked visitor gets the Worker's
    // engagement request (examples/rules.json reads engaged time), and private caching.
    assert.match(page, /engagement:1/);
    assert.match(response.headers.get('cache-control'), /private/);
  });
}

test('the comparison can fail: a different visit gives a different page', async () => {
  const { worker: page } = await both(['/products/trail-runner', '/products/daypack-28', '/products/down-jacket'], '/', 'index.html');
  const fresh = await cliPage([], '/', 'index.html', seconds());
  assert.notEqual(page, fresh);
  assert.match(page, /data-variant="product_browser"/);
});
