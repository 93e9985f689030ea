// Browser checks of the admin page (/__edgeseg/admin/), written against the API contract
// only, so that they run against the fake API (admin-page.test.mjs) and later against the
// real Worker. They need rules like examples/rules.json stored (segments with a numeric
// `priority`, a `version` label, a `cart_abandoner`-style segment for the simulation) and at
// least two stored versions, and they change the stored rules (saves and a rollback).
import assert from 'node:assert/strict';
import { launchBrowser, screenshot as saveScreenshot } from './browser.mjs';

export const WIDE = { width: 1280, height: 800 };
export const NARROW = { width: 390, height: 844 };

/**
 * Runs the checks. Options:
 * - baseUrl: the page's URL, ending in `/__edgeseg/admin/`
 * - token: the admin token; wrongToken: one that must be refused (403)
 * - t: a node:test context; each check becomes a subtest (without it they just run in order)
 * - browser: { newPage(viewport), close() } from browser.mjs' launchBrowser (launched here if not given)
 * - simulate: { url, events, expectSegments, expectBlock } for the simulation check
 * - screenshotPrefix: file name prefix for test-output/screenshots/ (default 'admin')
 */
export async function runAdminPageChecks({
  baseUrl, token, wrongToken = 'not-the-admin-token', t = null, browser = null,
  simulate = {}, screenshotPrefix = 'admin',
}) {
  assert.ok(baseUrl.endsWith('/'), 'baseUrl must end with a slash');
  const sim = {
    url: 'https://shop.test/products/trail-runner?utm_campaign=spring',
    events: [{ name: 'page_view', path: '/products/trail-runner', ago: '5m' }, { name: 'add_to_cart', path: '', ago: '40m' }],
    expectSegments: ['cart_abandoner', 'campaign_visitor'],
    expectBlock: ['hero', 'cart_abandoner'],
    ...simulate,
  };
  const ownBrowser = !browser;
  const b = browser || await launchBrowser();
  const api = apiClient(baseUrl, token);
  const ctx = { baseUrl, token, api, pages: [] };
  let failed = null;
  const step = async (name, fn) => {
    if (!t) return fn();
    return t.test(name, { skip: failed ? `an earlier check failed (${failed})` : false }, async () => {
      try { await fn(); } catch (e) { failed = name; throw e; }
    });
  };

  try {
    const page = await openPage(b, WIDE, ctx);

    await step('sign in: a wrong token is refused with a message', async () => {
      await page.goto(baseUrl);
      await page.locator('#token').fill(wrongToken);
      await page.locator('#signin-button').click();
      const msg = page.locator('#signin-message');
      await msg.waitFor({ state: 'visible' });
      assert.match(await msg.textContent(), /not accepted|403/i);
      assert.equal(await page.locator('.cm-editor').count(), 0, 'no editor before signing in');
      assert.equal(await page.evaluate(() => Object.keys(sessionStorage).length), 0, 'a refused token is not kept');
    });

    await step('sign in: the right token opens the editor with the stored rules', async () => {
      await signIn(page, baseUrl, token);
      const stored = await api.getRules();
      await waitText(page, '#rules-meta', new RegExp(`Revision ${stored.revision}\\b`));
      assert.equal(await editorText(page), stored.text, 'the editor shows the stored text as is');
      assert.ok(await page.locator('.cm-lineNumbers .cm-gutterElement').count() > 5, 'line numbers');
      assert.ok(await page.locator('.cm-content span[class]').count() > 5, 'JSON syntax highlighting');
      const storage = await page.evaluate(() => ({ session: Object.values(sessionStorage), local: Object.keys(localStorage).length, cookie: document.cookie }));
      assert.ok(storage.session.includes(token), 'the token is in sessionStorage');
      assert.equal(storage.local, 0, 'nothing in localStorage');
      assert.ok(!storage.cookie.includes(token), 'the token is not in a cookie');
    });

    await step('an invalid edit shows an error marker at its line and in the list', async () => {
      const text = await editorText(page);
      const m = /"priority":\s*(\d+)/.exec(text);
      assert.ok(m, 'the rules have a numeric priority to break');
      const from = m.index + m[0].length - m[1].length;
      const line = lineOf(text, from);
      await replaceRange(page, from, from + m[1].length, '"three"');
      await waitText(page, '#rules-dirty', /Unsaved/);
      await page.locator('#validate').click();
      const marked = page.locator('.cm-content .cm-line:has(.cm-lintRange-error)');
      await marked.first().waitFor();
      assert.match(await marked.first().textContent(), /"priority":\s*"three"/, 'the underlined line is the edited one');
      await page.locator('.cm-gutter-lint .cm-lint-marker-error').first().waitFor();
      const item = page.locator('#errors .error-item').first();
      assert.equal(await item.getAttribute('data-line'), String(line), `the error is listed at line ${line}`);
      assert.match(await item.textContent(), /priority/);
      await waitText(page, '.rules-status', /Not valid/);
      // Saving it is refused (422) with the error at the same line.
      await page.locator('#save').click();
      await fillDialog(page, '#save-dialog', { message: 'should be refused', author: 'Ann Tester' });
      await waitText(page, '.rules-status', /Not saved/);
      assert.equal(await page.locator('#errors .error-item').first().getAttribute('data-line'), String(line));
      ctx.badPriority = { from, line };
    });

    await step('a valid edit of a rule saves with If-Match and becomes the stored revision', async () => {
      const before = await api.getRules();
      const { from } = ctx.badPriority;
      await replaceRange(page, from, from + '"three"'.length, '95');
      // Edit content too: the label.
      const label = `admin-check-${Date.now()}`;
      await replaceJsonString(page, 'version', label);
      await page.locator('#validate').click();
      await waitText(page, '.rules-status', /^Valid/);
      assert.equal(await page.locator('.cm-lintRange-error').count(), 0, 'the markers are gone');
      const put = page.waitForRequest((r) => r.method() === 'PUT' && r.url().endsWith('/api/rules'));
      await page.locator('#save').click();
      await fillDialog(page, '#save-dialog', { message: 'priority 95 and a new label', author: 'Ann Tester' });
      const req = await put;
      assert.equal(req.headers()['if-match'], `"${before.revision}"`);
      assert.match(req.headers()['content-type'], /^application\/json/);
      await waitText(page, '.rules-status', /Saved as revision \d+/);
      const after = await api.getRules();
      assert.ok(after.revision > before.revision);
      assert.equal(after.text, await editorText(page), 'the stored text is the editor text');
      assert.match(after.text, /"priority":\s*95/);
      assert.equal(after.label, label);
      assert.equal(after.author, 'Ann Tester');
      await waitText(page, '#rules-meta', new RegExp(`Revision ${after.revision}\\b`));
      assert.equal(await page.locator('#rules-dirty').isHidden(), true);
      ctx.savedLabel = label;
    });

    await step('409: someone else saved meanwhile; their version loads and my text is kept', async () => {
      const mine = await api.getRules();
      const theirsText = mine.text.replace(`"${ctx.savedLabel}"`, `"${ctx.savedLabel}-theirs"`);
      const theirRev = await api.putRules(theirsText, mine.revision, 'Zoe Other', 'saved from another tab');
      await replaceJsonString(page, 'version', `${ctx.savedLabel}-mine`);
      const myText = await editorText(page);
      await page.locator('#save').click();
      await fillDialog(page, '#save-dialog', { message: 'my conflicting edit', author: 'Ann Tester' });
      const conflict = page.locator('#conflict');
      await conflict.waitFor({ state: 'visible' });
      assert.match(await conflict.textContent(), new RegExp(`Revision ${theirRev} was saved`));
      await page.locator('#load-theirs').click();
      await waitText(page, '#rules-meta', new RegExp(`Revision ${theirRev}\\b`));
      assert.equal(await editorText(page), theirsText, 'the editor shows their version');
      assert.match(await conflict.locator('.diff-line.diff-add').first().textContent(), /-mine/, 'the diff shows my change');
      assert.equal(await page.locator('#my-text').inputValue(), myText, 'my text is kept whole');
      await page.locator('#put-mine-back').click();
      assert.equal(await editorText(page), myText);
      await page.locator('#save').click();
      await fillDialog(page, '#save-dialog', { message: 'my edit over theirs', author: 'Ann Tester' });
      await waitText(page, '.rules-status', new RegExp(`Saved as revision ${theirRev + 1}`));
      assert.equal((await api.getRules()).label, `${ctx.savedLabel}-mine`);
    });

    await screenshot(page, `${screenshotPrefix}-editor-1280`);

    await step('versions: list, diff against the editor, roll back', async () => {
      await showTab(page, 'versions');
      const items = page.locator('#version-list button.version');
      await items.first().waitFor();
      const listed = await api.versions();
      assert.ok(listed.versions.length >= 2, 'at least two stored versions');
      assert.equal(await items.count(), listed.versions.length);
      const first = items.first();
      assert.equal(await first.getAttribute('data-revision'), String(listed.current));
      assert.match(await first.textContent(), /current/);
      assert.match(await first.textContent(), /Ann Tester/);
      assert.match(await first.textContent(), /my edit over theirs/);
      // The oldest differs from the editor (our label edits at least).
      const oldest = listed.versions[listed.versions.length - 1];
      await items.last().click();
      await waitText(page, '#version-detail h2', new RegExp(`Revision ${oldest.revision}\\b`));
      const del = page.locator('#version-detail .diff-line.diff-del');
      const add = page.locator('#version-detail .diff-line.diff-add');
      assert.ok(await del.count() > 0 && await add.count() > 0, 'the diff shows removed and added lines');
      assert.match(await del.first().textContent() + await del.allTextContents(), /-mine/);
      // The current version has no rollback button to offer.
      await first.click();
      await waitText(page, '#version-detail h2', new RegExp(`Revision ${listed.current}\\b`));
      assert.equal(await page.locator('#rollback').isDisabled(), true);
      assert.match(await page.locator('#version-detail').textContent(), /No differences/);
      await items.last().click();
      await waitText(page, '#version-detail h2', new RegExp(`Revision ${oldest.revision}\\b`));
      const post = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/api/rules/rollback'));
      await page.locator('#rollback').click();
      await fillDialog(page, '#rollback-dialog', { author: 'Ann Tester' });
      const body = JSON.parse((await post).postData());
      assert.equal(body.revision, oldest.revision);
      assert.equal(body.author, 'Ann Tester');
      assert.match(body.message, /Roll back/);
      await waitText(page, '.versions-status', /Rolled back/);
      const now = await api.getRules();
      const oldText = (await api.version(oldest.revision)).text;
      assert.equal(now.revision, listed.current + 1);
      assert.equal(now.text, oldText, 'the stored rules are the old version’s');
      await page.locator(`#version-list button.version[data-revision="${now.revision}"]`).waitFor();
      assert.match(await items.first().textContent(), new RegExp(`rollback of #${oldest.revision}`));
      assert.equal(await editorText(page), oldText, 'the editor shows the rolled-back rules');
    });

    await step('simulate: a visitor with events, URL and device gets segments and block content', async () => {
      await showTab(page, 'simulate');
      const rows = page.locator('#event-rows .event-row');
      await rows.first().waitFor();
      // Rows can be added and removed; set the events wanted.
      while (await rows.count() > 0) await rows.first().locator('.remove-event').click();
      for (const e of sim.events) {
        await page.locator('#add-event').click();
        const row = rows.last();
        await row.locator('.ev-name').fill(e.name);
        await row.locator('.ev-path').fill(e.path || '');
        await row.locator('.ev-ago').fill(e.ago);
      }
      assert.equal(await rows.count(), sim.events.length);
      await page.locator('#sim-url').fill(sim.url);
      await page.locator('#sim-country').fill('DE');
      await page.locator('#sim-device').selectOption('mobile');
      await page.locator('#sim-language').fill('de');
      const post = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/api/simulate'));
      await page.locator('#run-simulation').click();
      const body = JSON.parse((await post).postData());
      assert.deepEqual(body.events.map((e) => [e.name, e.ago]), sim.events.map((e) => [e.name, e.ago]));
      assert.equal(body.url, sim.url);
      assert.deepEqual([body.country, body.device, body.language], ['DE', 'mobile', 'de']);
      await page.locator('#sim-segments .chip').first().waitFor();
      const chips = await page.locator('#sim-segments .chip').allTextContents();
      for (const s of sim.expectSegments) assert.ok(chips.includes(s), `segment ${s} in ${chips.join(', ')}`);
      const [block, seg] = sim.expectBlock;
      assert.match(await page.locator(`#sim-blocks tr[data-block="${block}"]`).textContent(), new RegExp(seg));
      const held = page.locator(`#sim-outcomes tr[data-segment="${sim.expectSegments[0]}"]`);
      assert.match(await held.textContent(), /holds/);
      assert.ok(await page.locator('#sim-signals tr').count() > 0, 'signals are listed');
      // A bad "how long ago" is caught before sending.
      await rows.first().locator('.ev-ago').fill('5 minutes');
      await page.locator('#run-simulation').click();
      await waitText(page, '.simulate-status', /not like 5m/);
      await rows.first().locator('.ev-ago').fill(sim.events[0].ago);
    });

    await step('stats: charts of page views, segment entries and block impressions; 24 h and 7 d', async () => {
      const get = page.waitForRequest((r) => r.url().includes('/api/stats?'));
      await showTab(page, 'stats');
      const u = new URL((await get).url());
      assert.equal(Number(u.searchParams.get('to')) - Number(u.searchParams.get('from')), 24 * 3600);
      await page.locator('#chart-page-views canvas').waitFor();
      await page.locator('#chart-segment-entries canvas').waitFor();
      assert.ok(await page.locator('[id^="chart-impressions-"] canvas').count() >= 1, 'a block impressions chart');
      assert.ok(await canvasPainted(page, '#chart-page-views canvas'), 'the page views chart is drawn');
      assert.ok(await canvasPainted(page, '#chart-segment-entries canvas'), 'the entries chart is drawn');
      assert.ok(Number(await page.locator('#chart-segment-entries').getAttribute('data-series')) >= 1);
      await screenshot(page, `${screenshotPrefix}-stats-1280`);
      const week = page.waitForRequest((r) => r.url().includes('/api/stats?'));
      await page.locator('button[data-range="7d"]').click();
      const w = new URL((await week).url());
      assert.equal(Number(w.searchParams.get('to')) - Number(w.searchParams.get('from')), 7 * 24 * 3600);
      await page.locator('#chart-page-views canvas').waitFor();
      assert.equal(await page.locator('button[data-range="7d"]').getAttribute('aria-pressed'), 'true');
    });

    await step('every API call carried the bearer token', async () => {
      assert.ok(ctx.apiRequests.length >= 10, `${ctx.apiRequests.length} API calls seen`);
      // Before signing in, the page asks whoami without a token once per load: behind
      // Cloudflare Access the browser is signed in already (README, "Admin users and roles").
      const probe = (r) => r.auth === undefined && r.method === 'GET' && new URL(r.url).pathname.endsWith('/api/whoami');
      const wrong = ctx.apiRequests.filter((r) => r.auth !== `Bearer ${token}` && r.auth !== `Bearer ${wrongToken}` && !probe(r));
      assert.deepEqual(wrong, []);
      const writes = ctx.apiRequests.filter((r) => r.method !== 'GET');
      assert.ok(writes.every((r) => /^application\/json/.test(r.contentType || '')), 'writes send JSON');
    });

    await step('at 390 px: editor and stats fit the width', async () => {
      const narrow = await openPage(b, NARROW, ctx);
      await signIn(narrow, baseUrl, token);
      await narrow.locator('.cm-editor').waitFor();
      await assertFits(narrow, NARROW.width);
      await screenshot(narrow, `${screenshotPrefix}-editor-390`);
      await showTab(narrow, 'stats');
      await narrow.locator('#chart-page-views canvas').waitFor();
      await assertFits(narrow, NARROW.width);
      const w = await narrow.locator('#chart-page-views canvas').evaluate((c) => c.getBoundingClientRect().width);
      assert.ok(w <= NARROW.width, `chart width ${w}`);
      await screenshot(narrow, `${screenshotPrefix}-stats-390`);
      await showTab(narrow, 'versions');
      await narrow.locator('#version-list button.version').first().waitFor();
      await assertFits(narrow, NARROW.width);
      await showTab(narrow, 'simulate');
      await narrow.locator('#run-simulation').click();
      await narrow.locator('#sim-segments').waitFor();
      await assertFits(narrow, NARROW.width);
      await screenshot(narrow, `${screenshotPrefix}-simulate-390`);
    });

    await step('a token refused later (403) goes back to sign in with a message', async () => {
      await page.evaluate((tok) => { for (const k of Object.keys(sessionStorage)) if (sessionStorage.getItem(k) === tok) sessionStorage.setItem(k, 'revoked-token'); }, token);
      await showTab(page, 'versions');
      await page.locator('#version-list').waitFor({ state: 'attached' });
      await page.locator('button[type="button"]:has-text("Refresh")').first().click();
      await page.locator('#signin-message').waitFor({ state: 'visible' });
      assert.match(await page.locator('#signin-message').textContent(), /403|not accepted/);
      const kept = await page.evaluate(() => Object.values(sessionStorage));
      assert.ok(!kept.includes('revoked-token'), 'the refused token is forgotten');
      assert.ok(kept.includes('Ann Tester'), 'the author name is remembered');
    });

    await step('no script errors on the page', async () => {
      const errors = ctx.pages.flatMap((p) => (p.__errors || []).map(String));
      assert.deepEqual(errors, []);
    });
  } finally {
    if (ownBrowser) await b.close();
    else for (const p of ctx.pages) await p.close().catch(() => {});
  }
}

// ---- helpers ---------------------------------------------------------------------------

async function openPage(b, viewport, ctx) {
  const page = await b.newPage(viewport);
  page.setDefaultTimeout(15_000);
  page.on('dialog', (d) => d.accept()); // confirm() in the page, beforeunload
  ctx.apiRequests ||= [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.includes('/api/')) {
      const hdr = r.headers();
      ctx.apiRequests.push({ method: r.method(), url: r.url(), auth: hdr.authorization, contentType: hdr['content-type'] });
    }
  });
  ctx.pages.push(page);
  return page;
}

/**
 * Opens a tab of the admin page and waits until its view is shown: the click only changes
 * `location.hash`, and the page switches views on the `hashchange` event that follows, so
 * typing or reading right after the click could reach a view that is still hidden.
 */
export async function showTab(page, name) {
  await page.locator(`#tab-${name}`).click();
  await page.locator(`#view-${name}`).waitFor({ state: 'visible' });
}

export async function signIn(page, baseUrl, token) {
  await page.goto(baseUrl);
  await page.locator('#token').fill(token);
  await page.locator('#signin-button').click();
  await page.locator('.cm-editor').waitFor();
}

async function screenshot(page, name) {
  await page.evaluate(() => document.fonts.ready);
  return saveScreenshot(page, name);
}

export const editorText = (page) => page.evaluate(() => window.edgesegAdmin.editor.getText());

/** Selects [from, to) in the editor and types `text` over it, as a user would. */
export async function replaceRange(page, from, to, text) {
  await page.evaluate(([a, b]) => {
    const { view } = window.edgesegAdmin.editor;
    view.focus();
    view.dispatch({ selection: { anchor: a, head: b }, scrollIntoView: true });
  }, [from, to]);
  if (to > from) await page.keyboard.press('Delete');
  await page.keyboard.type(text);
}

/** Replaces the value of the first `"key": "..."` string in the editor. */
async function replaceJsonString(page, key, value) {
  const text = await editorText(page);
  const m = new RegExp(`"${key}":\\s*"([^"]*)"`).exec(text);
  assert.ok(m, `the editor has a "${key}" string`);
  const from = m.index + m[0].length - 1 - m[1].length; // after the opening quote
  await replaceRange(page, from, from + m[1].length, value);
}

export async function fillDialog(page, sel, values) {
  const dlg = page.locator(`dialog${sel}`);
  await dlg.waitFor();
  for (const [k, v] of Object.entries(values)) await dlg.locator(`input[name="${k}"]`).fill(v);
  await dlg.locator('button[type="submit"]').click();
  await dlg.waitFor({ state: 'detached' });
}

export async function waitText(page, selector, re) {
  try {
    await page.waitForFunction(([s, src, flags]) => {
      const el = document.querySelector(s);
      return !!el && new RegExp(src, flags).test(el.textContent || '');
    }, [selector, re.source, re.flags]);
  } catch (e) {
    const now = await page.locator(selector).first().textContent().catch(() => '(missing)');
    throw new Error(`${selector} never matched ${re}; it reads: ${now}`);
  }
}

function lineOf(text, pos) { return text.slice(0, pos).split('\n').length; }

async function canvasPainted(page, selector) {
  return page.locator(selector).first().evaluate((c) => {
    const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
    return painted > 500;
  });
}

async function assertFits(page, width) {
  const over = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(over <= width + 1, `the page is ${over}px wide at a ${width}px viewport`);
}

function apiClient(baseUrl, token) {
  const call = async (method, path, body, headers = {}) => {
    const res = await fetch(new URL(`api/${path}`, baseUrl), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  return {
    getRules: () => call('GET', 'rules'),
    versions: () => call('GET', 'rules/versions'),
    version: (n) => call('GET', `rules/versions/${n}`),
    async putRules(text, revision, author, message) {
      return (await call('PUT', 'rules', { text, author, message }, { 'if-match': `"${revision}"` })).revision;
    },
  };
}
