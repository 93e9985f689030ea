// An upstream origin (ORIGIN_URL) instead of the assets: streaming rewrite of a
// large page, and everything that must pass through untouched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, Visitor, ROOT, freePort } from './harness.mjs';

const rules = await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8');
let worker;
let origin;
let release; // resolves when the test lets the streamed page finish
let released;

const filler = (n) => {
  const card = '<article class="card"><h2>Item</h2><p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p></article>\n';
  return card.repeat(Math.ceil(n / card.length)); // whole cards: never cut a tag
};
const BIG_HEAD = '<!doctype html><html><head><title>Big</title></head><body>\n<div data-edgeseg-block="hero"><h1>Default hero</h1></div>\n';
const BIG_MIDDLE = filler(1024 * 1024) + '<aside data-edgeseg-block="offer"><p>Default offer</p></aside>\n';
const BIG_TAIL = filler(1024 * 1024) + '<div data-edgeseg-block="cta"><p>Default cta</p></div>\n</body></html>\n';

before(async () => {
  const port = await freePort();
  origin = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    switch (url.pathname) {
      case '/big': {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.write(BIG_HEAD);
        res.write(BIG_MIDDLE);
        // The rest waits until the client has seen rewritten bytes: a worker
        // that buffered the whole page would never send any, and the test
        // would time out instead.
        released.then(() => res.end(BIG_TAIL));
        break;
      }
      case '/error':
        res.writeHead(500, { 'content-type': 'text/html', 'x-origin': 'yes' });
        res.end('<h1>origin broke</h1><div data-edgeseg-block="hero">x</div>');
        break;
      case '/moved':
        res.writeHead(302, { location: '/elsewhere', 'content-type': 'text/html' });
        res.end('<a href="/elsewhere">moved</a>');
        break;
      case '/data.json':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"data-edgeseg-block":"hero"}');
        break;
      default:
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<html><body><div data-edgeseg-block="hero">Default at ${url.pathname}</div></body></html>`);
    }
  });
  await new Promise((ok) => origin.listen(port, '127.0.0.1', ok));
  worker = await startWorker({ rules, vars: { ORIGIN_URL: `http://127.0.0.1:${port}` } });
});

after(async () => {
  await worker?.stop();
  origin?.close();
});

test('a 2 MB page is rewritten as a stream: rewritten bytes arrive before the origin has finished', async () => {
  released = new Promise((ok) => { release = ok; });
  // identity: a compressing hop would hold back this very repetitive page and hide our streaming.
  const res = await fetch(`${worker.url}/big?utm_campaign=stream`, { headers: { accept: 'text/html', 'accept-encoding': 'identity' } });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  const chunks = [];
  let seen = 0;
  let timedOut = false;
  const timeout = setTimeout(() => { timedOut = true; release(); }, 30_000); // never hang the suite
  while (seen < 64 * 1024) {
    const { value, done } = await reader.read();
    assert.ok(!done, 'the body ended before the origin was released');
    chunks.push(Buffer.from(value));
    seen += value.length;
  }
  assert.ok(!timedOut, 'no rewritten bytes arrived while the origin was still sending: the page was buffered');
  const early = Buffer.concat(chunks).toString('utf8');
  assert.match(early, /data-variant="campaign_visitor"/, 'the hero is already rewritten in the first bytes');
  release();
  clearTimeout(timeout);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(Buffer.from(value));
  }
  const page = Buffer.concat(chunks).toString('utf8');
  assert.ok(page.length > 2 * 1024 * 1024, `whole page arrived (${page.length} bytes)`);
  assert.match(page, /<aside data-edgeseg-block="offer"><p data-variant="campaign_visitor"><strong>Campaign exclusive:<\/strong> 15% off everything with code <code>TRAIL15<\/code> \(stream\)<\/p><\/aside>/);
  assert.match(page, /<div data-edgeseg-block="cta"><p data-variant="campaign_visitor">/);
  assert.ok(page.endsWith('</body></html>\n'));
  // Everything outside the blocks is untouched.
  const expectedLength = BIG_HEAD.length + BIG_MIDDLE.length + BIG_TAIL.length;
  const rewrittenDelta = page.length - expectedLength;
  assert.ok(Math.abs(rewrittenDelta) < 4096, `only the blocks changed size (${rewrittenDelta})`);
});

test('origin errors, redirects and non-HTML pass through unchanged', async () => {
  const v = new Visitor(worker.url);
  const err = await v.get('/error?utm_campaign=x');
  assert.equal(err.status, 500);
  assert.equal(err.headers.get('x-origin'), 'yes');
  assert.equal(err.text, '<h1>origin broke</h1><div data-edgeseg-block="hero">x</div>');
  assert.equal(err.setCookies.length, 0);
  const moved = await v.get('/moved');
  assert.equal(moved.status, 302);
  assert.equal(moved.headers.get('location'), '/elsewhere');
  const json = await v.get('/data.json?utm_campaign=x');
  assert.equal(json.text, '{"data-edgeseg-block":"hero"}');
  assert.equal(json.setCookies.length, 0);
});

test('pages from the origin are personalized like assets', async () => {
  const v = new Visitor(worker.url);
  const r = await v.get('/landing?utm_campaign=autumn');
  assert.match(r.text, /<p class="eyebrow">autumn<\/p><h1 data-variant="campaign_visitor">/);
  assert.equal(r.setCookies.length, 1);
});
