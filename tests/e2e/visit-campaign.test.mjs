// The visit remembers its campaign (issue 23's demo store finding: "on later
// pages of the same visit the offer says '(limited time)' instead of the
// campaign"), in real workerd with the example rules: the landing page's
// utm_* parameters are kept in the state cookie (format 5) for the rest of
// the session, a page with other utm_* parameters replaces them, and a new
// session starts without. The session timeout is shortened to 4 s here so
// the test can see a visit end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, Visitor, ROOT } from './harness.mjs';

const example = JSON.parse(await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8'));
example.settings.session_timeout = '4s';
let worker;

before(async () => { worker = await startWorker({ rules: JSON.stringify(example) }); });
after(async () => { await worker?.stop(); });

/** The offer block's text on a page (the campaign_visitor content names the campaign). */
function offer(html) {
  const m = /<aside class="offer[^"]*"[^>]*>([\s\S]*?)<\/aside>/.exec(html);
  assert.ok(m, 'the page has its offer block');
  return m[1].replace(/<[^>]+>/g, '').replace(/\s+/g, ' ').trim();
}

test('later pages of a campaign visit name the campaign; a new campaign replaces it; a new session forgets it', async () => {
  const v = new Visitor(worker.url);
  const campaign = 'spring_newsletter_2026_week14_variantB';
  const landing = await v.get(`/?utm_source=newsletter&utm_campaign=${campaign}`);
  assert.equal(landing.status, 200);
  assert.match(offer(landing.text), new RegExp(`\\(${campaign}\\)`));
  // The cookie carries the campaign: format 5 (its first payload byte).
  const cookie = v.cookies.get('edgeseg');
  assert.equal(Buffer.from(cookie, 'base64url')[0], 5);

  for (const path of ['/category/footwear', '/products/trail-runner', '/']) {
    const page = await v.get(path);
    assert.equal(page.status, 200);
    const text = offer(page.text);
    assert.match(text, new RegExp(`\\(${campaign}\\)`), `${path}: ${text}`);
    assert.doesNotMatch(text, /limited time/);
  }

  // A page with its own campaign starts that one (all utm_* of the visit replaced).
  const other = await v.get('/category/packs?utm_campaign=autumn_clearance');
  assert.match(offer(other.text), /\(autumn_clearance\)/);
  assert.match(offer((await v.get('/category/clothing')).text), /\(autumn_clearance\)/);

  // After the session timeout, a new visit: the segment still holds (hold_for 30m) but
  // the campaign is gone, so the template's fallback shows.
  await new Promise((r) => setTimeout(r, 5_000));
  const later = offer((await v.get('/category/clothing')).text);
  assert.match(later, /\(limited time\)/, later);
});

test('an untracked visitor (Sec-GPC) keeps nothing: the campaign shows on its landing page only', async () => {
  const v = new Visitor(worker.url, { 'sec-gpc': '1' });
  const landing = await v.get('/?utm_campaign=gpc_visit');
  assert.match(offer(landing.text), /\(gpc_visit\)/);
  assert.equal(v.cookies.get('edgeseg'), undefined);
  const next = await v.get('/category/footwear');
  assert.doesNotMatch(next.text, /gpc_visit/);
});
