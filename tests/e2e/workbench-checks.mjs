// Browser checks of the marketer's workbench (Segments and Signals tabs, the builder,
// completion in the editor, simulate with unsaved text), written against the admin API
// contract so they run against the fake API (admin-page.test.mjs) and the real Worker
// (admin-page-worker.test.mjs). They need examples/rules.json stored and they save.
// With `storeUrl`, a visitor who matches the new segment opens the store in the same
// browser and must see its content (the Worker only).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT } from './harness.mjs';
import { screenshot as saveScreenshot } from './browser.mjs';
import { signIn, editorText, replaceRange, fillDialog, waitText, WIDE, NARROW, showTab } from './admin-page-checks.mjs';

const AXE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');

export async function runWorkbenchChecks({ t, baseUrl, token, browser, storeUrl = null, screenshotPrefix = 'workbench', eventually = null }) {
  const api = async (method, path, body, headers = {}) => {
    const res = await fetch(new URL(`api/${path}`, baseUrl), {
      method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: await res.json().catch(() => null) };
  };
  let failed = null;
  const step = (name, fn) => t.test(name, { skip: failed ? `an earlier check failed (${failed})` : false }, async () => {
    try { await fn(); } catch (e) { failed = name; throw e; }
  });
  const page = await browser.newPage(WIDE);
  page.setDefaultTimeout(15_000);
  page.on('dialog', (d) => d.accept());
  const puts = [];
  page.on('request', (r) => { if (r.method() === 'PUT' && r.url().endsWith('/api/rules')) puts.push(r); });
  const shot = async (p, name) => {
    await p.evaluate(() => document.fonts.ready);
    // A full-page capture leaves the sandboxed (out-of-process) preview frames below the
    // first screen unpainted: make the viewport as tall as the page for the picture.
    const vp = p.viewportSize();
    const height = await p.evaluate(() => document.documentElement.scrollHeight);
    await p.setViewportSize({ width: vp.width, height: Math.min(height, 8000) });
    await p.waitForTimeout(400);
    try {
      return await saveScreenshot(p, `${screenshotPrefix}-${name}`);
    } finally {
      await p.setViewportSize(vp);
    }
  };

  try {
    await step('segments overview: a card per segment with its sentence, stickiness, entries per day and block previews', async () => {
      await signIn(page, baseUrl, token);
      await showTab(page, 'segments');
      const cards = page.locator('.segment-card');
      await cards.first().waitFor();
      const stored = JSON.parse((await api('GET', 'rules')).json.text);
      assert.equal(await cards.count(), stored.segments.length);
      const browserCard = page.locator('.segment-card[data-segment="product_browser"]');
      assert.match(await browserCard.locator('.sentence').textContent(), /viewed pages under \/products\/ at least 3 times in the last 10 minutes/);
      assert.match(await page.locator('.segment-card[data-segment="campaign_visitor"] .stickiness').textContent(), /stays 30 minutes after/);
      assert.match(await browserCard.locator('.entries-chart').getAttribute('aria-label'), /^Entries per day, last 7 days: (\w{3} \d+, ){6}\w{3} \d+$/);
      await browserCard.locator('summary:has-text("Signals used")').click();
      assert.match(await browserCard.locator('.signals-used dd').first().textContent(), /number of page views under \/products\/ in the last 10 minutes/);
      const hero = browserCard.locator('details.block-preview[data-block="hero"]');
      assert.match(await hero.locator('summary').textContent(), /replaces its content/);
      await hero.locator('summary').click();
      const frame = hero.locator('iframe');
      assert.equal(await frame.getAttribute('sandbox'), '', 'the preview runs nothing');
      assert.match(await frame.getAttribute('srcdoc'), /<h1 data-variant="product_browser">Still deciding\? Compare your top picks<\/h1>/);
      await shot(page, 'overview-1280');
    });

    await step('round trip: the builder writes nothing it did not change; builder -> JSON -> builder', async () => {
      const before = await editorText(page);
      await page.locator('.segment-card[data-segment="product_browser"] .edit-segment').click();
      await page.locator('#segment-builder').waitFor();
      // Tab through every field without changing anything: the document stays as it was.
      for (let i = 0; i < 12; i++) await page.keyboard.press('Tab');
      assert.equal(await editorText(page), before, 'opening the builder changes nothing');
      // A change in the builder shows in the JSON ...
      await page.getByLabel('Priority', { exact: true }).fill('61');
      const afterBuilder = JSON.parse(await editorText(page));
      const expected = JSON.parse(before);
      expected.segments.find((s) => s.id === 'product_browser').priority = 61;
      assert.deepEqual(afterBuilder, expected);
      // ... and a change in the JSON shows in the builder.
      await showTab(page, 'rules');
      const text = await editorText(page);
      const at = text.indexOf('"$gte": 3', text.indexOf('"product_views_10m": {', text.indexOf('"id": "product_browser"')));
      assert.ok(at > 0);
      await replaceRange(page, at + '"$gte": '.length, at + '"$gte": 3'.length, '4');
      await showTab(page, 'segments');
      await waitText(page, '#builder-sentence', /at least 4 times/);
      assert.equal(await page.locator('.cond-row input.row-value').first().inputValue(), '4');
      assert.equal(await page.getByLabel('Priority', { exact: true }).inputValue(), '61');
      // What the rows cannot say stays as JSON, shown as such.
      await showTab(page, 'rules');
      const t2 = await editorText(page);
      const cond = t2.indexOf('"condition": {', t2.indexOf('"id": "product_browser"')) + '"condition": {'.length;
      await replaceRange(page, cond, cond, '"device": {"$not": {"$eq": "bot"}}, ');
      await showTab(page, 'segments');
      const rawBox = page.locator('.cond-raw textarea');
      await rawBox.waitFor();
      assert.deepEqual(JSON.parse(await rawBox.inputValue()), { device: { $not: { $eq: 'bot' } } });
      await page.getByLabel('Priority', { exact: true }).fill('60');
      assert.match(await editorText(page), /"device": \{\s*"\$not": \{\s*"\$eq": "bot"\s*\}\s*\}/, 'kept after a builder change');
      // Back to the stored text for the next checks.
      await page.locator('#builder-done').click();
      await showTab(page, 'rules');
      await page.locator('#reload').click();
      await waitText(page, '.rules-status', /Loaded the stored rules/);
    });

    await step('a new segment left as it was made is not left in the document (issue 23: new_segment_13 matched everyone)', async () => {
      await showTab(page, 'segments');
      const before = await editorText(page);
      await page.locator('#new-segment').click();
      await page.locator('#segment-builder').waitFor();
      assert.match(await editorText(page), /"id": "new_segment_\d+"/, 'the builder works on a new segment');
      await page.locator('#builder-done').click();
      assert.equal(await editorText(page), before, 'back to the overview: the untouched new segment is gone');
      // One that was given something stays (it is the user's work).
      await page.locator('#new-segment').click();
      await page.getByLabel('Priority', { exact: true }).fill('7');
      await page.locator('#builder-done').click();
      assert.match(await editorText(page), /"id": "new_segment_\d+"/);
      await showTab(page, 'rules');
      await page.locator('#reload').click();
      await waitText(page, '.rules-status', /Loaded the stored rules/);
    });

    await step('build a new segment and its hero content without typing JSON; save it with a message', async () => {
      await showTab(page, 'segments');
      await page.locator('#new-segment').click();
      await page.locator('#segment-builder').waitFor();
      await page.getByLabel('Segment id').fill('newsletter_reader');
      await page.getByLabel('Description').fill('Came from the newsletter');
      await page.getByLabel('Priority', { exact: true }).fill('200');
      await page.locator('.add-row').first().click();
      const rowEl = page.locator('.cond-row').last();
      await rowEl.locator('select.row-attr').selectOption('utm_source');
      await rowEl.locator('select.row-op').selectOption('$eq');
      await page.locator('.cond-row').last().locator('input.row-value').fill('newsletter');
      await waitText(page, '#builder-sentence', /utm_source\) is “newsletter”/);
      await page.locator('[data-block="hero"] .change-block').click();
      const html = page.locator('[data-block="hero"] textarea.html-inner_html');
      await html.fill('<h1 data-variant="newsletter_reader">Hello, newsletter reader</h1><p>Picks for {{utm_campaign|you}} <b>&lt;3</b></p>');
      const preview = page.locator('.block-edit[data-block="hero"] iframe');
      assert.equal(await preview.getAttribute('sandbox'), '');
      const src = await preview.getAttribute('srcdoc');
      assert.match(src, /<h1 data-variant="newsletter_reader">Hello, newsletter reader<\/h1>/);
      assert.match(src, /Picks for spring <b>&lt;3<\/b>/, 'templates previewed with sample values, the HTML as written');
      const doc = JSON.parse(await editorText(page));
      const seg = doc.segments.find((s) => s.id === 'newsletter_reader');
      assert.deepEqual(seg, { id: 'newsletter_reader', description: 'Came from the newsletter', priority: 200, condition: { utm_source: { $eq: 'newsletter' } } });
      assert.match(doc.blocks.hero.content.newsletter_reader.inner_html, /Hello, newsletter reader/);
      await shot(page, 'builder-1280');
      await page.locator('#builder-save').click();
      await fillDialog(page, '#save-dialog', { message: 'newsletter hero', author: 'Mia Marketer' });
      await waitText(page, '#builder-status', /Saved as revision \d+/);
      const stored = await api('GET', 'rules');
      assert.equal(stored.json.message, 'newsletter hero');
      assert.ok(JSON.parse(stored.json.text).segments.some((s) => s.id === 'newsletter_reader'));
    });

    if (storeUrl) {
      await step('a visitor who matches the new segment sees its hero on the store, in the same browser', async () => {
        const store = await page.context().newPage();
        await eventually(async () => {
          await store.goto(`${storeUrl}/?utm_source=newsletter`);
          return (await store.content()).includes('Hello, newsletter reader');
        }, { timeout: 20_000, every: 1_000, what: 'the new hero on the store' });
        assert.match(await store.locator('[data-edgeseg-block="hero"] p').first().textContent(), /Picks for you/, 'the fallback, since the link has no utm_campaign');
        await saveScreenshot(store, `${screenshotPrefix}-store-newsletter-1280`);
        await store.close();
      });
    }

    await step('the overview shows the new segment with its sentence', async () => {
      await page.locator('#builder-done').click();
      const c = page.locator('.segment-card[data-segment="newsletter_reader"]');
      await c.waitFor();
      assert.match(await c.locator('.sentence').textContent(), /campaign source \(utm_source\) is “newsletter”/);
      assert.match(await c.locator('.description').textContent(), /newsletter/);
      assert.match(await c.locator('details[data-block="hero"] summary').textContent(), /hero: replaces its content/);
    });

    await step('an invalid value in the builder shows its error at the field and cannot be saved', async () => {
      const savedBefore = (await api('GET', 'rules')).json;
      const putsBefore = puts.length;
      await page.locator('.segment-card[data-segment="newsletter_reader"] .edit-segment').click();
      const prio = page.getByLabel('Priority', { exact: true });
      await prio.fill('very high');
      const f = page.locator('.field.invalid').first();
      await f.waitFor();
      assert.match(await f.locator('.field-error').textContent(), /“very high” is not a whole number/);
      assert.equal(await prio.getAttribute('aria-invalid'), 'true');
      const describedBy = (await prio.getAttribute('aria-describedby')).split(' ');
      assert.ok(describedBy.includes(await f.locator('.field-error').getAttribute('id')), 'the error is the field’s description');
      const stay = page.getByLabel('Stays after the condition stops for', { exact: true });
      await stay.fill('2.5');
      await waitText(page, '#segment-builder .field-duration.invalid .field-error', /not a duration/);
      await page.locator('#builder-save').click();
      await waitText(page, '#builder-status', /Not saved: 2 fields to fix/);
      assert.equal(await page.locator('dialog#save-dialog').count(), 0, 'no save dialog');
      assert.equal(puts.length, putsBefore, 'nothing was sent');
      assert.equal((await api('GET', 'rules')).json.revision, savedBefore.revision);
      await shot(page, 'builder-error-1280');
      // The editor has what was typed, so the JSON and the builder agree.
      assert.match(await editorText(page), /"priority": "very high"/);
      await prio.fill('200');
      await stay.fill('');
      assert.equal(await page.locator('#segment-builder .field.invalid').count(), 0);
    });

    if (storeUrl) {
      await step('an error only the Worker finds (a bad regular expression) shows at its row, and nothing is saved', async () => {
        const savedBefore = (await api('GET', 'rules')).json;
        const putsBefore = puts.length;
        await page.locator('.add-row').first().click();
        const r = page.locator('.cond-row').last();
        await r.locator('select.row-attr').selectOption('path');
        await r.locator('select.row-op').selectOption('$regex');
        await page.locator('.cond-row').last().locator('input.row-value').fill('^/products/[unclosed');
        await page.locator('#builder-save').click();
        await waitText(page, '#builder-status', /Not saved: 1 error, marked at the fields/);
        const at = page.locator('.cond-row').last().locator('.field.invalid .field-error');
        assert.match(await at.textContent(), /invalid regular expression/);
        assert.equal(puts.length, putsBefore, 'nothing was sent');
        assert.equal((await api('GET', 'rules')).json.revision, savedBefore.revision);
        await page.locator('.cond-row').last().locator('.remove-item').click();
        assert.equal(await page.locator('.cond-row').count(), 1);
      });
    }

    await step('signals: each explained; a form per kind creates one', async () => {
      await page.locator('#builder-done').click();
      await showTab(page, 'signals');
      const card = page.locator('.signal-card[data-signal="minutes_since_cart"]');
      await card.waitFor();
      assert.match(await card.locator('.sentence').textContent(), /minutes since the visitor last did “add to cart”, unless “purchase” happened after it/);
      assert.match(await card.textContent(), /Used by cart_abandoner/);
      await page.locator('#new-signal').click();
      await page.getByLabel('Signal name').fill('cart_adds_7d');
      await page.getByLabel('Count this event').selectOption('add_to_cart');
      const within = page.getByLabel('Within the last', { exact: true });
      await within.fill('7');
      await page.getByLabel('Within the last: unit').selectOption('d');
      await waitText(page, '#signal-sentence', /“add to cart” events in the last 7 days/);
      const doc = JSON.parse(await editorText(page));
      assert.deepEqual(doc.signals.cart_adds_7d, { count: 'add_to_cart', within: '7d' });
      await page.getByLabel('Kind').selectOption('score');
      await waitText(page, '#signal-sentence', /points over the last 7 days/);
      assert.deepEqual(JSON.parse(await editorText(page)).signals.cart_adds_7d, { score: { page_view: 1 }, within: '7d' });
      await page.locator('#signal-builder button:has-text("Delete this signal")').click();
      await page.locator('.signal-card').first().waitFor();
      assert.equal(JSON.parse(await editorText(page)).signals.cart_adds_7d, undefined);
    });

    await step('the JSON editor completes from the schema and explains on hover', async () => {
      await showTab(page, 'rules');
      const text = await editorText(page);
      // A property name in settings.
      const settingsAt = text.indexOf('"settings": {') + '"settings": {'.length;
      await replaceRange(page, settingsAt, settingsAt, '\n    "counter_ret');
      const list = page.locator('.cm-tooltip-autocomplete');
      await list.waitFor();
      assert.match(await list.textContent(), /counter_retention/);
      await page.keyboard.press('Escape');
      // An attribute where a condition expects one: declared signals and built-ins.
      await reload(page);
      const t2 = await editorText(page);
      const condAt = t2.indexOf('"condition": {', t2.indexOf('"id": "product_browser"')) + '"condition": {'.length;
      await replaceRange(page, condAt, condAt, '\n        "product_vi');
      await list.waitFor();
      const opts = await page.locator('.cm-tooltip-autocomplete li').allTextContents();
      assert.ok(opts.some((o) => o.includes('product_views_10m')), opts.join(' | '));
      await page.keyboard.press('Enter');
      assert.match(await editorText(page), /"product_views_10m"/);
      // An enum value: the unit of a since signal.
      await reload(page);
      const t3 = await editorText(page);
      const unitAt = t3.indexOf('"unit": "minutes"') + '"unit": '.length;
      await replaceRange(page, unitAt, unitAt + '"minutes"'.length, '"ho');
      await list.waitFor();
      assert.match(await list.textContent(), /hours/);
      await page.keyboard.press('Escape');
      // Hover text from the schema's descriptions.
      await reload(page);
      const t4 = await editorText(page);
      const keyAt = t4.indexOf('"refresh_seconds"') + 3;
      await page.evaluate((pos) => { const { view } = window.edgesegAdmin.editor; view.dispatch({ effects: window.edgesegAdmin.scrollTo(pos) }); }, keyAt);
      await page.waitForTimeout(200);
      const box = await page.evaluate((pos) => { const c = window.edgesegAdmin.editor.view.coordsAtPos(pos); return c && { x: c.left + 2, y: (c.top + c.bottom) / 2 }; }, keyAt);
      assert.ok(box, 'the key is on screen');
      await page.mouse.move(box.x, box.y);
      const hover = page.locator('.cm-schema-hover');
      await hover.waitFor();
      assert.match(await hover.textContent(), /refresh_seconds: How often, at most, a running Worker re-reads/);
    });

    await step('simulate runs against the unsaved text in the editor', async () => {
      await reload(page);
      const text = await editorText(page);
      const at = text.indexOf('"$gte": 3', text.indexOf('"product_views_10m": {', text.indexOf('"id": "product_browser"')));
      await replaceRange(page, at + '"$gte": '.length, at + '"$gte": 3'.length, '1');
      await showTab(page, 'simulate');
      const rows = page.locator('#event-rows .event-row');
      while (await rows.count() > 0) await rows.first().locator('.remove-event').click();
      await page.locator('#sim-url').fill('https://shop.test/products/trail-runner');
      const post = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/api/simulate'));
      await page.locator('#run-simulation').click();
      const body = JSON.parse((await post).postData());
      assert.equal(body.text, await editorText(page), 'the editor’s text is sent');
      await page.locator('#sim-segments .chip').first().waitFor();
      assert.ok((await page.locator('#sim-segments .chip').allTextContents()).includes('product_browser'), 'one view is enough in the unsaved text');
      // Invalid unsaved text: the errors, not a simulation.
      await showTab(page, 'rules');
      const t2 = await editorText(page);
      const p = t2.indexOf('"priority": 60');
      await replaceRange(page, p + '"priority": '.length, p + '"priority": 60'.length, '"sixty"');
      await showTab(page, 'simulate');
      await page.locator('#run-simulation').click();
      await waitText(page, '.simulate-status', /not valid/);
      await showTab(page, 'rules');
      await page.locator('#reload').click();
    });

    for (const [vp, tag] of [[WIDE, '1280'], [NARROW, '390']]) {
      await step(`at ${tag} px: readable, keyboard usable, no serious accessibility violations (axe-core)`, async () => {
        const p = await browser.newPage(vp);
        p.setDefaultTimeout(15_000);
        p.on('dialog', (d) => d.accept());
        await signIn(p, baseUrl, token);
        const violations = [];
        const check = async (where) => {
          await p.addScriptTag({ path: AXE });
          const r = await p.evaluate(async () => {
            // eslint-disable-next-line no-undef
            // CodeMirror's scroller holds a contenteditable (the keyboard reaches it), which
            // axe's scrollable-region-focusable does not count; everything else is checked.
            const res = await axe.run({ include: [['body']], exclude: [['.cm-scroller']] }, { resultTypes: ['violations'] });
            return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
          });
          for (const v of r) if (v.impact === 'serious' || v.impact === 'critical') violations.push({ where, ...v });
          const over = await p.evaluate(() => document.documentElement.scrollWidth);
          assert.ok(over <= vp.width + 1, `${where}: the page is ${over}px wide at ${vp.width}px`);
        };
        await check('rules');
        // Keyboard only: focus the Segments tab link and follow it with Enter.
        await p.locator('#tab-segments').focus();
        await p.keyboard.press('Enter');
        await p.locator('.segment-card').first().waitFor();
        await check('segments');
        await shot(p, `overview-${tag}`);
        await p.locator('.segment-card[data-segment="cart_abandoner"] .edit-segment').focus();
        await p.keyboard.press('Enter');
        await p.locator('#segment-builder').waitFor();
        assert.equal(await p.evaluate(() => document.activeElement?.closest('.field')?.dataset.path), 'segments[0].id', 'focus moves into the builder');
        await check('builder');
        await shot(p, `builder-${tag}`);
        await showTab(p, 'signals');
        await p.locator('.signal-card').first().waitFor();
        await check('signals');
        await p.locator('.edit-signal').first().click();
        await check('signal form');
        await shot(p, `signal-${tag}`);
        assert.deepEqual(violations, [], JSON.stringify(violations, null, 1));
        assert.deepEqual((p.__errors || []).map(String), []);
      });
    }

    await step('no script errors on the page', async () => {
      assert.deepEqual((page.__errors || []).map(String), []);
    });
  } finally {
    await page.close().catch(() => {});
  }
}

/** Reloads the stored rules into the editor and waits until they are there. */
async function reload(page) {
  await page.evaluate(() => { document.querySelector('.rules-status').textContent = ''; });
  await page.locator('#reload').click();
  await waitText(page, '.rules-status', /Loaded the stored rules/);
}
