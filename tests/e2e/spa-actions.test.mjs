// Every content action, applied by the page script in Chromium, gives the page
// the Worker's rewrite gives it (the server's meaning, README "What each action
// does"): set_attributes (with & and quotes), before, inner_html, after,
// outer_html, remove; a selector matching many elements; inner_html on a void
// element (nothing); an outer block replacing an inner block's element (the inner
// one does not apply); two blocks on one element, the first replacing it (the
// second skips it). One visitor's state, two browsers: one loads the page
// through the Worker, the other gets the origin's file unchanged and applies
// the decide answer of the same path to it; their bodies must be equal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, Visitor, ROOT } from './harness.mjs';
import { launchBrowser, browserMissing } from './browser.mjs';

const RULES = JSON.stringify({
  format: 1,
  version: 'e2e-spa-actions',
  segments: [{ id: 'everyone', condition: {} }],
  blocks: {
    hero: { content: { everyone: { set_attributes: { 'data-a': 'x & y "quoted" &amp; <b>' }, before: '<p class="b">before</p>', inner_html: '<h1>New <em>hero</em></h1>', after: '<p class="a">after</p>' } } },
    offer: { content: { everyone: { outer_html: '<aside class="offer" data-replaced="1"><p>Replaced</p></aside>' } } },
    cards: { selector: '.card-price', content: { everyone: { inner_html: 'On sale', set_attributes: { 'data-sale': '1' } } } },
    art: { selector: '.hero-art img', content: { everyone: { inner_html: '<b>never</b>', set_attributes: { alt: 'Mountains' } } } },
    legal: { selector: '.legal', content: { everyone: { remove: true, before: '<p class="legal2">Moved</p>' } } },
    section: { selector: '.b2b', content: { everyone: { inner_html: '<div>Gone inner</div>' } } },
    inside: { selector: '.b2b h2', content: { everyone: { inner_html: 'never shown' } } },
    first: { selector: '.site-nav', content: { everyone: { outer_html: '<nav class="site-nav">One link</nav>' } } },
    second: { selector: '.site-nav', content: { everyone: { set_attributes: { 'data-second': '1' } } } },
  },
});

const skip = browserMissing() ?? false;
let worker;
let browser;
before(async () => {
  if (skip) return;
  worker = await startWorker({ rules: RULES });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await worker?.stop();
});

test('the page script applies every action as the Worker\'s rewrite does', { skip }, async () => {
  for (const [path, file] of [['/', 'index.html'], ['/category/', 'category/index.html'], ['/products/trail-runner', 'products/trail-runner.html']]) {
    const v = new Visitor(worker.url);
    await v.get('/__edgeseg/decide?path=/');
    const cookies = [...v.cookies].map(([name, value]) => ({ name, value, url: worker.url }));
    const loaded = await browser.newPage();
    await loaded.context().addCookies(cookies);
    const applied = await browser.newPage();
    await applied.context().addCookies(cookies);
    const raw = await readFile(join(ROOT, 'www', file), 'utf8');
    await applied.route((url) => url.pathname === path, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: raw }));
    await loaded.goto(`${worker.url}${path}`);
    await applied.goto(`${worker.url}${path}`);
    await applied.waitForFunction(() => window.edgeseg && typeof edgeseg.decide === 'function');
    const before = await applied.evaluate(() => document.body.innerHTML);
    const reported = path === '/' ? applied.waitForRequest((r) => r.url().endsWith('/__edgeseg/applied')) : null;
    const dec = await applied.evaluate((p) => edgeseg.decide(p), path);
    const [want, got] = await Promise.all([loaded, applied].map((p) => p.evaluate(() => document.body.innerHTML)));
    assert.notEqual(got, before, `${path}: the decision changed the page`);
    assert.equal(got, want, `${path}: ${JSON.stringify(dec.blocks.map((b) => b.id))}`);
    if (path === '/') {
      assert.match(want, /data-a="x &amp; y &quot;quoted&quot; &amp; (<|&lt;)b(>|&gt;)"/, 'attribute text as the server writes it');
      assert.match(want, /data-replaced="1"/);
      assert.doesNotMatch(want, /never/);
      assert.doesNotMatch(want, /data-second/);
      // Reported as the server's rewrite reports: not the inner block an outer one replaced.
      const blocks = JSON.parse((await reported).postData()).blocks;
      assert.ok(blocks.includes('section') && blocks.includes('first') && blocks.includes('hero'), blocks.join());
      assert.ok(!blocks.includes('inside') && !blocks.includes('second'), blocks.join());
    }
    await loaded.context().close();
    await applied.context().close();
  }
});
