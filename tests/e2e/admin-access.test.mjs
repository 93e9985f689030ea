// Admin users behind Cloudflare Access, end to end in workerd: the Worker verifies the
// Cf-Access-Jwt-Assertion token against the team's keys (served here on loopback by a
// test key pair), gives people roles from the rules' settings.admin, refuses what a role
// may not do, and records verified authors. An editor saves a draft and previews it by
// link; a publisher publishes it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, Visitor, ROOT, eventually } from './harness.mjs';
import { keyPair, accessToken, certsServer, accessVars } from './access-keys.mjs';

const TOKEN = 'e2e-admin-token-access-0123456789';
const base = JSON.parse(await readFile(join(ROOT, 'examples', 'test-rules.json'), 'utf8'));
base.settings.admin = {
  publishers: ['pat@shop.example'],
  editors: ['group:marketing'],
  viewers: ['vic@shop.example'],
  default_role: 'none',
};
const rules = JSON.stringify(base, null, 2);
const key = keyPair('test-key-1');
const other = keyPair('test-key-1'); // same kid, different key: a forged signature
let certs;
let worker;

const people = {
  viewer: () => accessToken(key, { email: 'vic@shop.example' }),
  editor: () => accessToken(key, { email: 'eve@shop.example', custom: { groups: ['marketing'] } }),
  publisher: () => accessToken(key, { email: 'Pat@Shop.example' }),
};

before(async () => {
  certs = await certsServer([key]);
  worker = await startWorker({ rules, vars: { EDGESEG_ADMIN_TOKEN: TOKEN, ...accessVars(certs.url) } });
});
after(async () => {
  await worker?.stop();
  await certs?.close();
});

async function api(method, path, { body, jwt, bearer, headers = {} } = {}) {
  const h = { ...headers };
  if (jwt) h['cf-access-jwt-assertion'] = jwt;
  if (bearer) h.authorization = `Bearer ${bearer}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(`${worker.url}/__edgeseg/admin/api/${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const txt = await res.text();
  let json = null;
  try { json = JSON.parse(txt); } catch { /* not JSON */ }
  return { status: res.status, json };
}

const allowed = (who) => Object.fromEntries(who.actions.map((a) => [a.action, a.allowed]));

test('whoami: each person gets the role the rules give them, and sees what it allows', async () => {
  const viewer = await api('GET', 'whoami', { jwt: people.viewer() });
  assert.equal(viewer.status, 200, JSON.stringify(viewer.json));
  assert.deepEqual(viewer.json.identity, { id: 'vic@shop.example', kind: 'person', role: 'viewer' });
  assert.deepEqual(allowed(viewer.json), { read: true, check: true, save_draft: false, preview_link: false, publish: false, rollback: false, purge: false, operate: false });
  assert.match(viewer.json.actions.find((a) => a.action === 'purge').reason, /vic@shop.example is a viewer and may not purge the page cache: that needs a publisher/);

  const editor = await api('GET', 'whoami', { jwt: people.editor() });
  assert.equal(editor.json.identity.role, 'editor', 'by the Access group');
  assert.deepEqual(editor.json.identity.groups, ['marketing']);
  assert.equal(allowed(editor.json).save_draft, true);
  assert.equal(allowed(editor.json).publish, false);

  const publisher = await api('GET', 'whoami', { jwt: people.publisher() });
  assert.equal(publisher.json.identity.id, 'pat@shop.example', 'emails compare without case');
  assert.equal(publisher.json.identity.role, 'publisher');
  assert.ok(publisher.json.actions.every((a) => a.allowed));

  const service = await api('GET', 'whoami', { bearer: TOKEN });
  assert.deepEqual(service.json.identity, { id: 'service:admin-token', kind: 'service', role: 'publisher' });

  // default_role "none": someone Access let in but the rules do not list.
  const stranger = await api('GET', 'whoami', { jwt: accessToken(key, { email: 'sam@elsewhere.example' }) });
  assert.equal(stranger.status, 403);
  assert.match(stranger.json.error, /sam@elsewhere.example has no role in this admin/);
  // The team's keys were fetched once and kept.
  assert.equal(certs.served.fetches, 1);
});

test('a wrong signature, audience, issuer, an expired token or alg none: 403, and the token is never logged', async () => {
  const bad = {
    signature: accessToken(other, { email: 'pat@shop.example' }),
    audience: accessToken(key, { email: 'pat@shop.example', aud: ['another-app'] }),
    issuer: accessToken(key, { email: 'pat@shop.example', iss: 'https://evil.cloudflareaccess.com' }),
    expired: accessToken(key, { email: 'pat@shop.example', exp: Math.floor(Date.now() / 1000) - 3600 }),
    none: accessToken(key, { email: 'pat@shop.example' }, { alg: 'none' }),
    garbage: 'not.a.token',
  };
  const expect = {
    signature: /signature does not match/, audience: /another application/, issuer: /issued by/,
    expired: /expired/, none: /not RS256/, garbage: /malformed/,
  };
  for (const [what, jwt] of Object.entries(bad)) {
    const r = await api('PUT', 'rules', { jwt, body: { text: rules } });
    assert.equal(r.status, 403, what);
    assert.match(r.json.error, expect[what], what);
  }
  await eventually(async () => worker.logs().includes('refused an Access token'), { what: 'the refusals in the log' });
  for (const jwt of Object.values(bad)) {
    for (const part of jwt.split('.').filter((p) => p.length > 8)) assert.ok(!worker.logs().includes(part), 'no part of a refused token is logged');
  }
  // No header at all is a 401 that says how to sign in.
  const none = await api('GET', 'rules');
  assert.equal(none.status, 401);
  assert.match(none.json.error, /Cloudflare Access|Bearer/);
});

test('a viewer reads and validates, but may not publish, purge, save drafts or make preview links', async () => {
  const jwt = people.viewer();
  assert.equal((await api('GET', 'rules', { jwt })).status, 200);
  assert.equal((await api('POST', 'rules/validate', { jwt, body: { text: rules } })).status, 200);
  const put = await api('PUT', 'rules', { jwt, body: { text: rules } });
  assert.equal(put.status, 403);
  assert.match(put.json.error, /vic@shop.example is a viewer and may not publish rules/);
  const purge = await api('POST', 'purge', { jwt, body: { all: true } });
  assert.equal(purge.status, 403);
  assert.match(purge.json.error, /may not purge the page cache: that needs a publisher/);
  assert.equal((await api('POST', 'rules/drafts', { jwt, body: { text: rules, message: 'x' } })).status, 403);
  assert.equal((await api('POST', 'preview', { jwt, body: { segments: ['product_browser'] } })).status, 403);
  assert.equal((await api('POST', 'rules/rollback', { jwt, body: { revision: 1 } })).status, 403);
  // Erasing a visitor from the export is a publisher's (an editor's neither).
  for (const who of [jwt, people.editor()]) {
    const erase = await api('POST', 'export/erase', { jwt: who, body: { visitor: '00112233445566778899aabbccddeeff' } });
    assert.equal(erase.status, 403);
    assert.match(erase.json.error, /may not flush counters, send export records and erase a visitor from the export: that needs a publisher/);
  }
});

test('an editor saves a draft and previews it by link; a publisher publishes it; revisions and the audit log name both', async () => {
  const editor = people.editor();
  const doc = JSON.parse(rules);
  doc.version = 'draft-hero';
  doc.blocks.hero.content.campaign_visitor.inner_html = '<h1 data-variant="campaign_visitor">Drafted by an editor</h1>';
  const text = JSON.stringify(doc, null, 2);

  const direct = await api('PUT', 'rules', { jwt: editor, body: { text } });
  assert.equal(direct.status, 403);
  assert.match(direct.json.error, /save it as a draft and ask a publisher to publish it/);

  const noMessage = await api('POST', 'rules/drafts', { jwt: editor, body: { text } });
  assert.equal(noMessage.status, 400);
  const saved = await api('POST', 'rules/drafts', { jwt: editor, body: { text, message: 'new campaign hero' } });
  assert.equal(saved.status, 200, JSON.stringify(saved.json));
  const draft = saved.json.draft;
  assert.equal(saved.json.by.id, 'eve@shop.example');
  assert.equal(saved.json.label, 'draft-hero');

  // Not live.
  const live = async () => (await new Visitor(worker.url).get('/?utm_campaign=spring')).text;
  assert.doesNotMatch(await live(), /Drafted by an editor/);

  // The editor's preview link shows the draft's rules on the real site, to that browser only.
  const link = await api('POST', 'preview', { jwt: editor, body: { draft, path: '/?utm_campaign=spring' } });
  assert.equal(link.status, 200, JSON.stringify(link.json));
  assert.equal(link.json.draft, draft);
  const marketer = new Visitor(worker.url);
  const page = await marketer.get(link.json.url);
  assert.match(page.text, /Drafted by an editor/);
  assert.match(page.text, new RegExp(`edgeseg preview: forcing <strong>draft ${draft}</strong>`));
  assert.match((await marketer.get('/?utm_campaign=spring')).text, /Drafted by an editor/, 'the preview cookie keeps the draft on later pages');
  assert.doesNotMatch(await live(), /Drafted by an editor/, 'everyone else sees the live rules');

  // Drafts are listed for everyone who reads.
  const listed = await api('GET', 'rules/drafts', { jwt: people.viewer() });
  assert.equal(listed.json.drafts[0].draft, draft);
  assert.equal((await api('GET', `rules/drafts/${draft}`, { jwt: people.viewer() })).json.text, text);

  // The editor can not publish it; the publisher can.
  assert.equal((await api('POST', 'rules/publish', { jwt: editor, body: { draft } })).status, 403);
  const published = await api('POST', 'rules/publish', { jwt: people.publisher(), body: { draft } });
  assert.equal(published.status, 200, JSON.stringify(published.json));
  const revision = published.json.revision;
  await eventually(async () => /Drafted by an editor/.test(await live()), { timeout: 15_000, what: 'the published draft on the live site' });
  assert.equal((await api('POST', 'rules/publish', { jwt: people.publisher(), body: { draft } })).status, 409, 'a draft goes live once');

  const versions = await api('GET', 'rules/versions', { jwt: people.viewer() });
  const v = versions.json.versions.find((x) => x.revision === revision);
  assert.equal(v.by.id, 'pat@shop.example');
  assert.equal(v.by.role, 'publisher');
  assert.equal(v.drafted_by.id, 'eve@shop.example');
  assert.equal(v.draft, draft);
  assert.equal(v.message, 'new campaign hero');

  const log = (await api('GET', 'audit', { jwt: people.viewer() })).json.entries;
  assert.ok(log.some((e) => e.action === 'save_draft' && e.by.id === 'eve@shop.example'), JSON.stringify(log));
  assert.ok(log.some((e) => e.action === 'publish' && e.by.id === 'pat@shop.example' && e.detail.includes(`from draft ${draft}`)));
});

test('a draft saved from an older revision is not published over a newer one without force', async () => {
  const current = (await api('GET', 'rules', { bearer: TOKEN })).json;
  const stale = await api('POST', 'rules/drafts', { jwt: people.editor(), body: { text: current.text, message: 'stale', base_revision: current.revision - 1 } });
  const r = await api('POST', 'rules/publish', { jwt: people.publisher(), body: { draft: stale.json.draft } });
  assert.equal(r.status, 409);
  assert.match(r.json.error, /went live after draft/);
});

test('publishing starts an experiment, a purge and a rollback: each records the verified person', async () => {
  const current = (await api('GET', 'rules', { bearer: TOKEN })).json;
  const doc = JSON.parse(current.text);
  doc.version = 'with-experiment';
  doc.experiments = {
    hero_test: {
      segment: 'product_browser', status: 'running',
      variants: [{ id: 'control' }, { id: 'bold', content: { hero: { inner_html: '<h1>Bold</h1>' } } }],
    },
  };
  const put = await api('PUT', 'rules', { jwt: people.publisher(), body: { text: JSON.stringify(doc, null, 2), message: 'start the hero test' }, headers: { 'if-match': `"${current.revision}"` } });
  assert.equal(put.status, 200, JSON.stringify(put.json));
  const meta = (await api('GET', 'rules', { jwt: people.viewer() })).json;
  assert.deepEqual(meta.experiments, [{ experiment: 'hero_test', change: 'started' }]);
  assert.equal(meta.by.id, 'pat@shop.example');

  const purge = await api('POST', 'purge', { jwt: people.publisher(), body: { all: true } });
  assert.equal(purge.status, 200, JSON.stringify(purge.json));
  assert.equal(purge.json.by.id, 'pat@shop.example');

  const back = await api('POST', 'rules/rollback', { jwt: people.publisher(), body: { revision: current.revision } });
  assert.equal(back.status, 200, JSON.stringify(back.json));
  const rolled = (await api('GET', 'rules', { jwt: people.viewer() })).json;
  assert.deepEqual(rolled.experiments, [{ experiment: 'hero_test', change: 'stopped' }]);

  const log = (await api('GET', 'audit', { jwt: people.viewer() })).json.entries;
  for (const action of ['experiment_started', 'experiment_stopped', 'purge', 'rollback']) {
    assert.ok(log.some((e) => e.action === action && e.by.id === 'pat@shop.example'), `${action} in ${JSON.stringify(log)}`);
  }
});

test('roles in the rules: wrong entries are errors with paths (last good rules kept); a roles change takes effect only once a publisher publishes it', async () => {
  const current = (await api('GET', 'rules', { bearer: TOKEN })).json;
  const doc = JSON.parse(current.text);
  doc.settings.admin.publishers = ['pat@shop.example', 'eve'];
  doc.settings.admin.editors = ['group:marketing', 'pat@shop.example'];
  const bad = await api('PUT', 'rules', { bearer: TOKEN, body: { text: JSON.stringify(doc, null, 2) }, headers: { 'if-match': `"${current.revision}"` } });
  assert.equal(bad.status, 422);
  const paths = bad.json.errors.map((e) => e.path);
  assert.ok(paths.includes('settings.admin.publishers[1]'), JSON.stringify(bad.json));
  assert.ok(paths.includes('settings.admin.editors[1]'), JSON.stringify(bad.json));
  assert.match(bad.json.errors.find((e) => e.path === 'settings.admin.publishers[1]').message, /an email address .* got "eve"/);
  assert.match(bad.json.errors.find((e) => e.path === 'settings.admin.editors[1]').message, /duplicate admin role entry/);
  // Nobody becomes a publisher by default.
  const open = JSON.parse(current.text);
  open.settings.admin.default_role = 'publisher';
  const opened = await api('PUT', 'rules', { bearer: TOKEN, body: { text: JSON.stringify(open, null, 2) }, headers: { 'if-match': `"${current.revision}"` } });
  assert.equal(opened.status, 422);
  assert.equal(opened.json.errors[0].path, 'settings.admin.default_role');
  assert.match(opened.json.errors[0].message, /expected one of "none", "viewer", "editor", got "publisher"/);
  assert.equal((await api('GET', 'rules', { bearer: TOKEN })).json.revision, current.revision, 'nothing saved');

  // The editor drafts themselves into publishers: still an editor until a publisher publishes it.
  const grant = JSON.parse(current.text);
  grant.settings.admin.publishers.push('eve@shop.example');
  const draft = await api('POST', 'rules/drafts', { jwt: people.editor(), body: { text: JSON.stringify(grant, null, 2), message: 'make me a publisher' } });
  assert.equal(draft.status, 200);
  assert.equal((await api('GET', 'whoami', { jwt: people.editor() })).json.identity.role, 'editor');
  assert.equal((await api('POST', 'rules/publish', { jwt: people.editor(), body: { draft: draft.json.draft } })).status, 403);
  assert.equal((await api('POST', 'rules/publish', { jwt: people.publisher(), body: { draft: draft.json.draft } })).status, 200);
  await eventually(async () => (await api('GET', 'whoami', { jwt: people.editor() })).json.identity.role === 'publisher', { timeout: 15_000, what: 'the published role' });
});

test('a rotated key: an unknown kid fetches the certs again, at most every 30 s', { timeout: 60_000 }, async () => {
  const next = keyPair('test-key-2');
  certs.served.keys.push(next.jwk);
  const jwt = accessToken(next, { email: 'pat@shop.example' });
  const fetches = certs.served.fetches;
  if (Date.now() - certs.served.lastFetch < 25_000) {
    // Within 30 s of the last fetch: not fetched again, so made-up kids can not hammer the URL.
    const early = await api('GET', 'whoami', { jwt });
    assert.equal(early.status, 403);
    assert.match(early.json.error, /a key the team does not publish \(kid "test-key-2"\)/);
    assert.equal(certs.served.fetches, fetches);
    await new Promise((r) => setTimeout(r, 31_000 - (Date.now() - certs.served.lastFetch)));
  }
  const later = await api('GET', 'whoami', { jwt });
  assert.equal(later.status, 200, JSON.stringify(later.json));
  assert.equal(later.json.identity.role, 'publisher');
  assert.equal(certs.served.fetches, fetches + 1);
  // The old key still works from the same fetch.
  assert.equal((await api('GET', 'whoami', { jwt: people.viewer() })).status, 200);
  assert.equal(certs.served.fetches, fetches + 1);
});
