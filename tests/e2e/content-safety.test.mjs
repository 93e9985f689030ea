// Content safety at save (issue 23, item 6) through the admin API in workerd:
// content that would run script is refused with its path unless its block opts
// in; large content saves with a warning naming it; a too-large document's
// error names its biggest parts. The live site keeps serving what was saved.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, Visitor, ROOT, eventually } from './harness.mjs';

const TOKEN = 'e2e-admin-token-0123456789';
const text = await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8');
let worker;

before(async () => { worker = await startWorker({ rules: text, vars: { EDGESEG_ADMIN_TOKEN: TOKEN } }); });
after(async () => { await worker?.stop(); });

async function api(method, path, body, headers = {}) {
  const res = await fetch(`${worker.url}/__edgeseg/admin/api/${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

/** The test rules with the campaign hero's content replaced, and the block's opt-in. */
function withHero(html, { allow = false } = {}) {
  const doc = JSON.parse(text);
  const [id, block] = Object.entries(doc.blocks).find(([, b]) => b.content.campaign_visitor);
  block.content.campaign_visitor = { inner_html: html };
  if (allow) block.allow_scripts = true;
  return { id, text: JSON.stringify(doc, null, 2) };
}

async function save(doc, message) {
  const current = await api('GET', 'rules');
  const headers = current.json?.revision ? { 'if-match': `"${current.json.revision}"` } : {};
  return api('PUT', 'rules', { text: doc, author: 'e2e', message }, headers);
}

const campaignPage = async () => (await new Visitor(worker.url).get('/?utm_campaign=spring')).text;

test('script, on* handlers and javascript: URLs in content are refused at save with the path; the live rules stay', async () => {
  for (const html of ['<h2>Sale</h2><script>alert(1)</script>', '<img src=x onerror="alert(1)">', '<a href=" java&#x73;cript:alert(1)">Sale</a>']) {
    const { id, text: doc } = withHero(html);
    for (const endpoint of ['validate', 'save']) {
      const r = endpoint === 'validate' ? await api('POST', 'rules/validate', { text: doc }) : await save(doc, 'hero');
      assert.equal(r.status, 422, `${endpoint} ${html}: ${JSON.stringify(r.json)}`);
      const e = r.json.errors.find((x) => x.kind === 'active_content');
      assert.ok(e, JSON.stringify(r.json));
      assert.equal(e.path, `blocks.${id}.content.campaign_visitor.inner_html`);
      assert.match(e.message, /allow_scripts/);
      assert.ok(Number.isInteger(e.line), 'located in the text');
    }
  }
  assert.equal((await api('GET', 'rules')).json.text, text, 'nothing was saved');
  assert.ok(!(await campaignPage()).includes('alert(1)'));
});

test('with the block\'s allow_scripts the snippet saves and reaches shoppers as written', async () => {
  const { text: doc } = withHero('<h2>Tracked sale</h2><script>window.snippetRan = 1</script>', { allow: true });
  const r = await save(doc, 'a tracking snippet we trust');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json.warnings, []);
  await eventually(async () => (await campaignPage()).includes('<script>window.snippetRan = 1</script>'), { what: 'the snippet on the page', timeout: 20_000 });
  // Issue 23: the console said `rules version "test-1" loaded` for every save; the revision tells them apart.
  await eventually(() => worker.logs().includes(`rules revision ${r.json.revision} (version "test-1") loaded`), { what: 'the load logged with its revision' });
});

test('a large content saves with a warning naming its path; a too-large document names its biggest parts', async () => {
  const { id, text: doc } = withHero('<p>lots of markup</p>'.repeat(1200));
  const r = await save(doc, 'a big hero');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.warnings.length, 1, JSON.stringify(r.json));
  assert.equal(r.json.warnings[0].path, `blocks.${id}.content.campaign_visitor`);
  assert.equal(r.json.warnings[0].kind, 'large_content');
  assert.match(r.json.warnings[0].message, /this content is 25 KB, over 16 KB/);

  const huge = withHero('x'.repeat(2_200_000)).text;
  const big = await api('POST', 'rules/validate', { text: huge });
  assert.equal(big.status, 422);
  const e = big.json.errors[0];
  assert.equal(e.kind, 'document_too_large');
  assert.match(e.message, new RegExp(`larger than the 512 KB the admin API stores; its largest parts: blocks\\.${id} \\(2,?1\\d\\d KB\\)`));
});
