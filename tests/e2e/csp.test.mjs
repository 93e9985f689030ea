// Sites with a strict Content-Security-Policy, in headless Chromium through the
// real Worker (wrangler dev / workerd) in front of an origin on loopback that
// sends each policy: a nonce with 'strict-dynamic', hashes, 'self' only,
// 'strict-dynamic' with hashes only, report-only, a <meta> policy, several
// policies at once, and 'none'. On each page, everything edgeseg injects must
// work (window.edgeseg.segments, the visitor id, the engagement request, whose
// report reaches the Worker, and the preview banner), and no policy may be
// violated: a `securitypolicyviolation` listener installed before any page
// script (Playwright's init script, which no policy governs) and the policies'
// report-uri endpoint on the origin must both stay silent. A control page with
// a violation of the site's own proves that both listeners do hear one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, eventually, flushCounters, freePort, ROOT } from './harness.mjs';
import { launchBrowser, browserMissing, screenshot } from './browser.mjs';

const skip = browserMissing() ?? false;
const TOKEN = 'e2e-admin-token-csp';
const NONCE = 'cspN0nce+e2e/Xy_-Q==';
const sha256 = (text) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

// The site's own inline script, allowed by its hash where the policy lists hashes.
const SITE_INLINE = 'window.siteInline = true;';
// The site's loader under 'strict-dynamic' without a nonce: a hashed inline
// script that adds the page script (trusted because its parent is).
const LOADER = "var s=document.createElement('script');s.src='/__edgeseg/edgeseg.js';s.defer=true;document.head.appendChild(s);";

const rules = JSON.parse(await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8'));
rules.version = 'e2e-csp';
rules.settings.export = { enabled: true };
rules.signals.csp_engaged = { engaged: '/csp/*', within: '1h' };
rules.segments.push({ id: 'csp_reader', priority: 5, condition: { csp_engaged: { $gte: 600 } } });

let reportUri;
const reports = []; // report-uri bodies the origin received
let worker;
let origin;
let browser;

/** What the origin sends for /csp/KIND: headers and page. */
function site(kind) {
  const report = `; report-uri ${reportUri}`;
  const external = (attrs = '') => `<script src="/__edgeseg/edgeseg.js" defer${attrs}></script>`;
  const own = (attrs = '') => `<script${attrs}>${SITE_INLINE}</script>`;
  const pages = {
    nonce: {
      csp: `script-src 'nonce-${NONCE}' 'strict-dynamic'; object-src 'none'; base-uri 'none'; style-src 'self'${report}`,
      head: own(` nonce="${NONCE}"`) + external(` nonce="${NONCE}"`),
    },
    hashes: {
      csp: `default-src 'self'; script-src 'self' ${sha256(SITE_INLINE)}; style-src 'self'${report}`,
      head: own() + external(),
    },
    self: { csp: `default-src 'self'${report}`, head: external() },
    'strict-dynamic': {
      csp: `script-src 'strict-dynamic' ${sha256(LOADER)} ${sha256(SITE_INLINE)}; object-src 'none'; style-src 'self'${report}`,
      head: own(),
      tail: `<script>${LOADER}</script>`,
    },
    'report-only': { reportOnly: `default-src 'self'; style-src 'self'${report}`, head: external() },
    meta: {
      meta: `<meta http-equiv="Content-Security-Policy" content="default-src 'self'; style-src 'self'">`,
      head: external(),
    },
    // Two headers: the runtime joins them; the nonce serves the first, hashes the second.
    several: {
      csp: [`script-src 'nonce-${NONCE}' 'strict-dynamic'${report}`, `default-src 'self'; style-src 'self'${report}`],
      head: external(` nonce="${NONCE}"`),
    },
    none: { csp: `script-src 'none'${report}`, head: '' },
    // The control: the site's own inline script breaks its own policy.
    control: { csp: `default-src 'self'${report}`, head: own() + external() },
  };
  const p = pages[kind];
  if (!p) return null;
  const headers = { 'content-type': 'text/html; charset=utf-8' };
  if (p.csp) headers['content-security-policy'] = p.csp;
  if (p.reportOnly) headers['content-security-policy-report-only'] = p.reportOnly;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">${p.meta ?? ''}<title>CSP ${kind}</title>${p.head}</head>
<body><div data-edgeseg-block="hero"><h1>Default hero</h1></div>
<main><p>${'A paragraph to read and scroll past. '.repeat(40)}</p></main>
${Array.from({ length: 40 }, (_, i) => `<p>Line ${i}</p>`).join('\n')}
${p.tail ?? ''}</body></html>
`;
  return { headers, html };
}

before(async () => {
  if (skip) return;
  const port = await freePort();
  reportUri = `http://127.0.0.1:${port}/csp-report`;
  origin = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/csp-report') {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => { reports.push(body); res.writeHead(204).end(); });
      return;
    }
    const p = url.pathname.startsWith('/csp/') ? site(url.pathname.slice(5)) : null;
    if (!p) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such page');
      return;
    }
    res.writeHead(200, p.headers);
    res.end(p.html);
  });
  await new Promise((ok) => origin.listen(port, '127.0.0.1', ok));
  worker = await startWorker({
    rules: JSON.stringify(rules),
    vars: { ORIGIN_URL: `http://127.0.0.1:${port}`, EDGESEG_ADMIN_TOKEN: TOKEN },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
  origin?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A page whose every CSP violation is kept in window.__violations, from before any page script. */
async function watchedPage(viewport = { width: 1280, height: 700 }) {
  const page = await browser.newPage(viewport);
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample, disposition: e.disposition });
    });
  });
  return page;
}

async function engagementReports() {
  await flushCounters(worker.url, TOKEN);
  const r = await fetch(`${worker.url}/__edgeseg/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  const s = await r.json();
  return (s.counters['events:engagement'] || []).reduce((a, b) => a + b, 0);
}

async function previewLink() {
  const r = await fetch(`${worker.url}/__edgeseg/admin/api/preview`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ segments: ['product_browser'], ttl: '10m' }),
  });
  assert.equal(r.status, 200);
  return (await r.json()).url;
}

const STRICT = ['nonce', 'hashes', 'self', 'strict-dynamic', 'report-only', 'meta', 'several'];

for (const kind of STRICT) {
  test(`CSP ${kind}: segments, visitor id, engagement and the preview banner work, with no violation`, { skip, timeout: 60_000 }, async () => {
    const reportsBefore = reports.length;
    const page = await watchedPage(kind === 'self' ? { width: 390, height: 700 } : undefined);
    const res = await page.goto(`${worker.url}/csp/${kind}?utm_campaign=csp`);
    assert.equal(res.status(), 200);
    const sent = await res.allHeaders();
    const policy = sent['content-security-policy'] ?? sent['content-security-policy-report-only'] ?? '';
    assert.doesNotMatch(policy, /unsafe-inline/, 'never loosened');
    // How edgeseg fitted in: the page's nonce (header unchanged), or hashes
    // (in the header, or in the page's meta).
    const html = await res.text();
    const originPolicy = [site(kind).headers['content-security-policy']].flat().join(', ');
    if (kind === 'nonce') {
      assert.equal(policy, originPolicy);
      assert.match(html, new RegExp(`<script nonce="${NONCE.replace(/[+/]/g, '\\$&')}">window\\.edgeseg=`));
    } else if (kind === 'meta') {
      assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'self' 'sha256-[^"]+'; style-src 'self'">/);
    } else {
      assert.match(policy, /'sha256-[A-Za-z0-9+/]+=*'/);
    }
    await page.waitForFunction(() => window.edgeseg && typeof window.edgeseg.track === 'function', null, { timeout: 10_000 });
    const es = await page.evaluate(() => ({ segments: window.edgeseg.segments, visitorId: window.edgeseg.visitorId, engagement: window.edgeseg.engagement }));
    assert.deepEqual(es.segments, ['campaign_visitor']);
    assert.match(es.visitorId ?? '', /^[0-9a-f]{32}$/, 'the visitor id script ran');
    assert.equal(es.engagement, 1, 'the engagement request ran');
    assert.equal(await page.getAttribute('[data-edgeseg-block="hero"] h1', 'data-variant'), 'campaign_visitor', 'the block is personalized');

    // Engagement: read and scroll, then leave; the report reaches the Worker.
    const engagedBefore = await engagementReports();
    for (let i = 0; i < 3; i++) {
      await page.mouse.move(100 + i * 10, 200);
      await page.mouse.wheel(0, 300);
      await sleep(300);
    }
    assert.deepEqual(await page.evaluate(() => window.__violations), [], `no violation on the ${kind} page`);
    await page.goto('about:blank');
    await eventually(async () => (await engagementReports()) > engagedBefore, { timeout: 10_000, every: 300, what: `the engagement report from the ${kind} page` });

    // The preview banner, under the same policy.
    const link = new URL(await previewLink(), worker.url);
    await page.goto(`${worker.url}/csp/${kind}${link.search}`);
    const banner = page.locator('[data-edgeseg-preview]');
    await banner.waitFor({ timeout: 10_000 });
    assert.match(await banner.textContent(), /edgeseg preview: forcing product_browser/);
    assert.equal(await banner.evaluate((b) => getComputedStyle(b).position), 'fixed', 'its styles applied');
    assert.ok((await page.evaluate(() => window.edgeseg.segments)).includes('product_browser'), 'the preview forces its segment');
    if (kind === 'nonce') await screenshot(page, 'csp-nonce-preview-1280');
    if (kind === 'self') await screenshot(page, 'csp-self-preview-390');
    await page.locator('[data-edgeseg-preview] button').click();
    assert.equal(await banner.count(), 0, 'the banner dismisses');
    assert.deepEqual(await page.evaluate(() => window.__violations), [], `no violation on the ${kind} preview`);
    assert.deepEqual(page.__errors ?? [], []);
    await page.context().close();
    await sleep(500); // a report the browser would send is on its way by now
    assert.deepEqual(reports.slice(reportsBefore), [], 'no report reached report-uri');
  });
}

test("CSP 'none': nothing that needs a script is injected, the policy is unchanged, no violation", { skip, timeout: 60_000 }, async () => {
  const reportsBefore = reports.length;
  const page = await watchedPage();
  const res = await page.goto(`${worker.url}/csp/none?utm_campaign=csp`);
  const sent = await res.allHeaders();
  assert.equal(sent['content-security-policy'], site('none').headers['content-security-policy']);
  const html = await res.text();
  assert.doesNotMatch(html, /<script/);
  assert.equal(await page.getAttribute('[data-edgeseg-block="hero"] h1', 'data-variant'), 'campaign_visitor', 'blocks still apply');
  await sleep(500);
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  assert.equal(await page.evaluate(() => typeof window.edgeseg), 'undefined');
  await page.context().close();
  await sleep(500);
  assert.deepEqual(reports.slice(reportsBefore), []);
});

test('the control: a violation of the site\'s own is heard by the listener and by report-uri', { skip, timeout: 60_000 }, async () => {
  const reportsBefore = reports.length;
  const page = await watchedPage();
  await page.goto(`${worker.url}/csp/control?utm_campaign=csp`);
  await page.waitForFunction(() => window.edgeseg && typeof window.edgeseg.track === 'function');
  // edgeseg's own scripts ran (their hashes are in the header)...
  assert.deepEqual(await page.evaluate(() => window.edgeseg.segments), ['campaign_visitor']);
  // ...the site's unhashed inline script did not, and both listeners saw it.
  assert.equal(await page.evaluate(() => window.siteInline), undefined);
  const violations = await page.evaluate(() => window.__violations);
  assert.equal(violations.length, 1, JSON.stringify(violations));
  assert.equal(violations[0].directive, 'script-src-elem');
  await eventually(() => reports.length > reportsBefore, { timeout: 10_000, every: 200, what: 'the report at report-uri' });
  assert.match(reports[reportsBefore], /script-src-elem|csp-report/);
  await page.context().close();
});
