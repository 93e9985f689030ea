// A page where no block applies leaves the Worker as the origin sent it, with
// its Content-Length. Checked under Miniflare (real workerd, the Worker alone):
// wrangler dev's local proxy re-streams every response and drops the length
// whatever the Worker does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, freePort } from './harness.mjs';
import { startMiniflare } from '../load/miniflare.mjs';

const PAGE = '<html><head><title>Sized</title></head><body><div data-edgeseg-block="hero">Default</div></body></html>';
let origin;
let worker;

before(async () => {
  const port = await freePort();
  origin = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(PAGE) });
    res.end(PAGE);
  });
  await new Promise((ok) => origin.listen(port, '127.0.0.1', ok));
  // The test rules, with every event from the browser: an event the site's server may send
  // needs edgeseg.visitorId on every tracked page (README, "Events from the site's server"),
  // and then no page passes through untouched.
  const doc = JSON.parse(await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8'));
  for (const e of Object.values(doc.events)) delete e.source;
  const rules = JSON.stringify(doc);
  worker = await startMiniflare({ edgeseg: true, rules, vars: { ORIGIN_URL: `http://127.0.0.1:${port}` } });
});

after(async () => {
  await worker?.stop();
  origin?.close();
});

const get = (path) => fetch(`${worker.url}${path}`, { headers: { accept: 'text/html', 'accept-encoding': 'identity' } });

test('no block applies: the body is untouched and keeps its Content-Length', async () => {
  // A fresh visitor with no campaign is in no segment of the test rules.
  const res = await get('/sized');
  const body = await res.text();
  assert.equal(body, PAGE);
  assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(PAGE)));
  assert.equal(res.headers.get('cache-control'), 'private, no-cache', 'still per visitor: it carries a state cookie');
  assert.equal(res.headers.getSetCookie().length, 1);
});

test('rewritten: the length is no longer known in advance, and is not claimed', async () => {
  const res = await get('/sized?utm_campaign=x');
  const body = await res.text();
  assert.match(body, /data-variant="campaign_visitor"/);
  assert.equal(res.headers.get('content-length'), null);
});
