// The Settings tab's forms without a browser (issue 23, item 4): every example and fixture
// rules file (examples/*.json, tests/fixtures/rules/**) goes document -> fields ->
// document and comes back identical (text, so key order, absent keys and nulls too) for
// the export, activations, origin cache and consent; edits change only their key; field
// errors are keyed by the JSON path the server uses. Also the Stats' freshness sentence
// and refusal series (item 5). Run: node --test tests/admin-unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, dirname, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as settingsForms from '../../admin/src/settings-forms.js';
import { settingsFields, applySettingsFields, newActivationRow } from '../../admin/src/settings-forms.js';
import { describeFreshness, refusalSeries } from '../../admin/src/freshness.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function jsonFiles(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...await jsonFiles(p));
    else if (e.name.endsWith('.json')) out.push(p);
  }
  return out.sort();
}
const files = [
  ...(await readdir(join(ROOT, 'examples'))).filter((f) => f.endsWith('.json')).sort().map((f) => join(ROOT, 'examples', f)),
  ...await jsonFiles(join(ROOT, 'tests', 'fixtures', 'rules')),
];
const docs = [];
for (const f of files) {
  try {
    const doc = JSON.parse(await readFile(f, 'utf8'));
    if (doc && typeof doc === 'object' && !Array.isArray(doc)) docs.push([relative(ROOT, f), doc]);
  } catch { /* a fixture that is not JSON on purpose */ }
}
const clone = (x) => JSON.parse(JSON.stringify(x));

test('there are rules files with each section to check', () => {
  assert.ok(docs.length > 40, `${docs.length} documents`);
  for (const key of ['export', 'origin_cache', 'consent']) {
    assert.ok(docs.some(([, d]) => d.settings?.[key]), `a file with settings.${key}`);
  }
  assert.ok(docs.some(([, d]) => d.activations?.length), 'a file with activations');
  assert.ok(docs.some(([, d]) => d.settings?.consent?.tcf), 'a file with consent.tcf');
});

test('document -> fields -> document is identical for every example and fixture file', () => {
  for (const [name, doc] of docs) {
    const before = JSON.stringify(doc);
    const f = settingsFields(doc);
    const { value } = applySettingsFields(doc, f);
    assert.equal(JSON.stringify(value), before, name);
    // The fields read back from the result are the same fields.
    assert.deepEqual(settingsFields(value), f, name);
    assert.equal(JSON.stringify(doc), before, `${name}: the input is not changed`);
  }
});

test('turning the origin cache on changes only that key; emptying a duration brings the default back', () => {
  const [, doc] = docs.find(([n]) => n === join('examples', 'rules.json'));
  const f = settingsFields(doc);
  assert.equal(f.origin_cache.enabled, doc.settings.origin_cache?.enabled ?? false);
  f.origin_cache.enabled = true;
  f.origin_cache.ttl = '5m';
  const { value, errors } = applySettingsFields(doc, f);
  assert.deepEqual(errors, {});
  assert.equal(value.settings.origin_cache.enabled, true);
  assert.equal(value.settings.origin_cache.ttl, '5m');
  const rest = (d) => { const c = clone(d); delete c.settings.origin_cache; return c; };
  assert.deepEqual(rest(value), rest(doc));
  const g = settingsFields(value);
  g.origin_cache.ttl = '';
  g.origin_cache.max_ttl = '3 days';
  const r = applySettingsFields(value, g);
  assert.equal('ttl' in r.value.settings.origin_cache, false);
  assert.match(r.errors['settings.origin_cache.max_ttl'], /./);
});

test('a document without settings gets only the section that changed', () => {
  const doc = { format: 1, version: 'x', segments: [{ id: 'vip', condition: {} }] };
  const f = settingsFields(doc);
  assert.equal(f.export.enabled, false);
  assert.equal(f.export.utm, 'source, medium, campaign, term, content');
  assert.equal(f.consent.tcf_read, true);
  assert.equal(f.consent.tcf_cookie, 'euconsent-v2');
  f.export.enabled = true;
  f.export.events_all = false;
  f.export.events = 'purchase, nope';
  f.export.props = 'purchase: total, currency';
  const { value, errors } = applySettingsFields({ ...doc, events: { purchase: {} } }, f);
  assert.deepEqual(value.settings, { export: { enabled: true, props: { purchase: ['total', 'currency'] }, events: ['purchase', 'nope'] } });
  assert.deepEqual(Object.keys(errors), ['settings.export.events']);
  assert.match(errors['settings.export.events'], /nope/);
});

test('consent: TCF off is an explicit null, on again is the default cookie; purposes are 1 to 24', () => {
  const doc = { format: 1, version: 'x' };
  const f = settingsFields(doc);
  f.consent.tcf_read = false;
  f.consent.cookie = 'nw_consent';
  const off = applySettingsFields(doc, f).value;
  assert.deepEqual(off.settings.consent, { cookie: 'nw_consent', tcf: { cookie: null } });
  const g = settingsFields(off);
  assert.equal(g.consent.tcf_read, false);
  g.consent.tcf_read = true;
  g.consent.tcf_cookie = '';
  g.consent.measure = '7, 8, 25';
  const on = applySettingsFields(off, g);
  assert.deepEqual(on.value.settings.consent.tcf, { measure: [7, 8, 25] });
  assert.match(on.errors['settings.consent.tcf.measure'], /25/);
  const h = settingsFields(on.value);
  h.consent.cookie = '';
  assert.equal(applySettingsFields(on.value, h).value.settings.consent.cookie, null);
});

test('activations: a new row, checks at their paths, removing a row, the secret stays out', () => {
  const doc = { format: 1, version: 'x', segments: [{ id: 'cart', condition: {} }], experiments: {} };
  const f = settingsFields(doc);
  assert.deepEqual(f.activations, []);
  const row = newActivationRow(doc);
  assert.equal(row.id, 'webhook_1');
  assert.equal(row.segment, 'cart');
  f.activations.push({ ...row, url: 'http://crm.example.com/hook', max_per_minute: '0' });
  let r = applySettingsFields(doc, f);
  assert.deepEqual(Object.keys(r.errors).sort(), ['activations[0].max_per_minute', 'activations[0].url']);
  f.activations[0].url = 'https://crm.example.com/hook';
  f.activations[0].max_per_minute = '30';
  r = applySettingsFields(doc, f);
  assert.deepEqual(r.errors, {});
  assert.deepEqual(r.value.activations, [{ id: 'webhook_1', segment: 'cart', on: 'enter', url: 'https://crm.example.com/hook', max_per_minute: 30 }]);
  assert.doesNotMatch(JSON.stringify(r.value), /secret/i);
  const g = settingsFields(r.value);
  g.activations[0].on = 'guardrail_stop';
  assert.deepEqual(Object.keys(applySettingsFields(r.value, g).errors), ['activations[0].segment']);
  g.activations = [];
  assert.deepEqual(applySettingsFields(r.value, g).value.activations, []);
  // Two rows with one id.
  const h = settingsFields(r.value);
  h.activations.push({ ...h.activations[0], at: undefined });
  assert.match(applySettingsFields(r.value, h).errors['activations[1].id'], /another webhook/);
});

test('Stats freshness in words, and the refusal series', () => {
  const clock = (s) => `@${s}`;
  const base = { publish_interval_secs: 173, send_interval_secs: 30, shards: 1, shards_unanswered: 0 };
  assert.match(describeFreshness({ ...base, as_of: 1000, next_publish: null }, clock, 1000), /^As of @1000; nothing received is waiting to be published\. Counts are published every 3 min, and each Worker instance sends its own at most every 30 s/);
  assert.match(describeFreshness({ ...base, as_of: 900, next_publish: 1180 }, clock, 1000), /^As of @900; next publish in about 3 min\./);
  assert.match(describeFreshness({ ...base, as_of: 0, next_publish: 1010 }, clock, 1000), /^Nothing is published yet; the first publish is due in about 10 s/);
  assert.match(describeFreshness({ ...base, as_of: null, shards_unanswered: 1 }, clock, 1000), /unknown: 1 of 1 counter shard did not answer/);
  assert.equal(describeFreshness(undefined), '');
  assert.deepEqual(refusalSeries({ page_views: [3], events_refused: [0, 2], values_refused: [1, 0] }),
    [['rate limit (per client)', [0, 2]], ['property not a number', [1, 0]]]);
});

test('every field reads back what it shows: each section written from its text alone equals the document', () => {
  // The fields of a document applied to the same document without those sections: every
  // field that differs from the default is parsed from its text, so a lossy text form
  // (a list, purposes, props, durations) would change the value.
  // Valid documents only: an invalid fixture's `deny_values: [0, false]` reads back as text.
  const { DEFAULTS } = settingsForms;
  const valid = docs.filter(([n]) => n.startsWith('examples') || n.includes(join('rules', 'valid')));
  assert.ok(valid.length >= 6, `${valid.length} valid documents`);
  for (const [name, doc] of valid) {
    const f = settingsFields(doc);
    const bare = clone(doc);
    if (bare.settings && typeof bare.settings === 'object') { delete bare.settings.export; delete bare.settings.origin_cache; delete bare.settings.consent; }
    delete bare.activations;
    const rows = f.activations.map((r) => ({ ...r, at: undefined }));
    const { value } = applySettingsFields(bare, { ...f, activations: rows });
    const check = (section, orig, got, defaults) => {
      if (!orig || typeof orig !== 'object') return;
      for (const [k, v] of Object.entries(orig)) {
        if (k === 'tcf') continue;
        if (!(k in defaults) && section !== 'activations') continue;
        const back = got && k in got ? got[k] : defaults[k];
        assert.deepEqual(back ?? null, v ?? null, `${name}: ${section}.${k}`);
      }
    };
    check('export', doc.settings?.export, value.settings?.export, DEFAULTS.export);
    check('origin_cache', doc.settings?.origin_cache, value.settings?.origin_cache, DEFAULTS.origin_cache);
    check('consent', doc.settings?.consent, value.settings?.consent, DEFAULTS.consent);
    check('tcf', doc.settings?.consent?.tcf, value.settings?.consent?.tcf, DEFAULTS.tcf);
    (doc.activations || []).forEach((a, i) => check('activations', a, value.activations?.[i], {}));
  }
});

test('activations: a model drift webhook names a model signal or none, and no segment', () => {
  const doc = {
    format: 1, version: 'x', segments: [{ id: 'cart', condition: {} }],
    signals: { buyer: { logistic: ['views'], weights: [1], bias: 0 }, views: { count: 'page_view', within: '7d' } },
  };
  const f = settingsFields(doc);
  f.activations.push({ ...newActivationRow(doc), on: 'model_drift', segment: '', signal: 'buyer', url: 'https://ops.example.com/hook' });
  let r = applySettingsFields(doc, f);
  assert.deepEqual(r.errors, {});
  assert.deepEqual(r.value.activations, [{ id: 'webhook_1', on: 'model_drift', signal: 'buyer', url: 'https://ops.example.com/hook' }]);
  const g = settingsFields(r.value);
  assert.equal(g.activations[0].signal, 'buyer');
  g.activations[0].signal = 'views';
  g.activations[0].segment = 'cart';
  r = applySettingsFields(r.value, g);
  assert.deepEqual(Object.keys(r.errors).sort(), ['activations[0].segment', 'activations[0].signal']);
  assert.match(r.errors['activations[0].signal'], /not a model signal/);
  const e = settingsFields(doc);
  e.activations.push({ ...newActivationRow(doc), signal: 'buyer', url: 'https://ops.example.com/hook' });
  assert.match(applySettingsFields(doc, e).errors['activations[0].signal'], /only a model drift/);
});

// General settings and declared events (issue 23: everything in the rules without JSON).
const rulesDoc = () => clone(docs.find(([n]) => n === join('examples', 'rules.json'))[1]);

test('there are rules files with general settings and event bounds to round-trip', () => {
  for (const key of ['cookie_name', 'cookie_lifetime', 'refresh_seconds', 'session_timeout', 'counter_retention']) {
    assert.ok(docs.some(([, d]) => d.settings && key in d.settings), `a file with settings.${key}`);
  }
  assert.ok(docs.some(([, d]) => Object.values(d.events || {}).some((e) => e?.props && Object.keys(e.props).length)), 'a file with event props');
  assert.ok(docs.some(([, d]) => Object.values(d.events || {}).some((e) => e?.source)), 'a file with an event source');
});

test('general settings: a changed session timeout changes only that key; empty brings the default back; bad values are refused at the field', () => {
  const doc = rulesDoc();
  const f = settingsFields(doc);
  assert.equal(f.general.session_timeout, doc.settings.session_timeout);
  assert.equal(f.general.counter_retention, '35d', 'the default shows when absent');
  f.general.session_timeout = '45m';
  const { value, errors } = applySettingsFields(doc, f);
  assert.deepEqual(errors, {});
  assert.equal(value.settings.session_timeout, '45m');
  assert.deepEqual(Object.keys(value.settings), Object.keys(doc.settings), 'key order kept');
  const rest = (d) => { const c = clone(d); delete c.settings.session_timeout; return c; };
  assert.deepEqual(rest(value), rest(doc));
  const g = settingsFields(value);
  g.general.cookie_name = '';
  g.general.refresh_seconds = 'often';
  g.general.cookie_lifetime = '6 months';
  const r = applySettingsFields(value, g);
  assert.equal('cookie_name' in r.value.settings, false, 'emptied: absent, so the default applies');
  assert.match(r.errors['settings.refresh_seconds'], /whole number of seconds/);
  assert.match(r.errors['settings.cookie_lifetime'], /./);
  // A document without settings gets only the changed key.
  const bare = { format: 1, version: 'x' };
  const b = settingsFields(bare);
  b.general.counter_retention = '90d';
  assert.deepEqual(applySettingsFields(bare, b).value, { format: 1, version: 'x', settings: { counter_retention: '90d' } });
});

test('events: a bound changes only that number; min above max and non-numbers are refused at the field', () => {
  const doc = rulesDoc();
  const f = settingsFields(doc);
  const purchase = f.events.find((e) => e.name === 'purchase');
  assert.deepEqual(purchase.props, [{ at: 'value', name: 'value', min: '-10000', max: '10000' }]);
  assert.equal(purchase.source, 'server');
  purchase.props[0].max = '2500.5';
  const { value, errors } = applySettingsFields(doc, f);
  assert.deepEqual(errors, {});
  assert.deepEqual(value.events.purchase.props.value, { min: -10000, max: 2500.5 });
  const rest = (d) => { const c = clone(d); delete c.events.purchase.props.value.max; return c; };
  assert.deepEqual(rest(value), rest(doc));
  assert.deepEqual(Object.keys(value.events), Object.keys(doc.events));
  const g = settingsFields(value);
  const p = g.events.find((e) => e.name === 'purchase').props[0];
  p.min = '5000';
  const r = applySettingsFields(value, g);
  assert.match(r.errors['events.purchase.props.value.max'], /below the smallest/);
  p.min = 'lots';
  assert.match(applySettingsFields(value, g).errors['events.purchase.props.value.min'], /not a number/);
  p.min = '';
  const noMin = applySettingsFields(value, g);
  assert.deepEqual(noMin.value.events.purchase.props.value, { max: 2500.5 }, 'an emptied bound is absent');
});

test('events: add one with a bound, remove an unused one; removing or renaming one that signals or goals use is refused with their names', () => {
  const doc = rulesDoc();
  const f = settingsFields(doc);
  const row = settingsForms.newEventRow(doc);
  row.name = 'newsletter_signup';
  row.source = 'any';
  row.props.push({ ...settingsForms.newPropRow(), min: '0' });
  f.events.push(row);
  f.events = f.events.filter((e) => e.name !== 'request_demo' || settingsForms.eventUses(doc, 'request_demo').length);
  const { value, errors } = applySettingsFields(doc, f);
  assert.deepEqual(errors, {});
  assert.deepEqual(value.events.newsletter_signup, { source: 'any', props: { value: { min: 0 } } });
  assert.deepEqual(settingsFields(value).events.map((e) => e.name).slice(-1), ['newsletter_signup']);

  const used = Object.keys(doc.events).find((n) => settingsForms.eventUses(doc, n).length);
  assert.ok(used, 'an event that the rules use');
  const uses = settingsForms.eventUses(doc, used);
  assert.ok(uses.every((u) => /^(signals|experiments|counters)\.|^segments\[/.test(u)), uses.join(', '));
  const g = settingsFields(doc);
  g.events = g.events.filter((e) => e.name !== used);
  const r = applySettingsFields(doc, g);
  assert.match(r.errors[`events.${used}`], new RegExp(`used by .*${uses[0].replace(/[.[\]()]/g, '\\$&')}`));
  assert.ok(used in r.value.events, 'kept');
  const k = settingsFields(doc);
  k.events.find((e) => e.name === used).name = `${used}_2`;
  assert.match(applySettingsFields(doc, k).errors[`events.${used}_2.name`], /renaming/);
  const bad = settingsFields(doc);
  bad.events[0].name = 'has space';
  bad.events.push({ ...settingsForms.newEventRow(doc), name: bad.events[1].name });
  const br = applySettingsFields(doc, bad);
  assert.match(br.errors['events.has space.name'], /letters, digits and _/);
  assert.match(br.errors[`events.${bad.events[1].name}.name`], /another event/);
});

test('counters and saved groups: edits change only their entry; unknown targets and bad names are refused at the field', () => {
  const [, full] = docs.find(([n]) => n === join('tests', 'fixtures', 'rules', 'valid', 'full.json'));
  const doc = clone(full);
  assert.ok(Object.keys(doc.counters).length && Object.keys(doc.saved_groups).length);
  const f = settingsFields(doc);
  const budget = f.counters.find((c) => c.name === 'offer_budget');
  assert.deepEqual(budget, { at: 'offer_budget', name: 'offer_budget', kind: 'impressions', target: 'hero', segment: 'cart_abandoner' });
  budget.segment = '';
  const vip = f.saved_groups.find((g) => g.name === 'vip_ids');
  assert.equal(vip.values, 'v-1\nv-2\n3', 'a number shows as written');
  vip.values = 'v-1\n3\n"10001"';
  const row = settingsForms.newCounterRow(doc);
  row.name = 'demo_entries';
  row.kind = 'entries';
  row.target = doc.segments[0].id;
  f.counters.push(row);
  f.saved_groups.push({ ...settingsForms.newGroupRow(doc), name: 'zips', values: '10001\nabc' });
  const { value, errors } = applySettingsFields(doc, f);
  assert.deepEqual(errors, {});
  assert.deepEqual(value.counters.offer_budget, { impressions: 'hero' });
  assert.deepEqual(value.counters.demo_entries, { entries: doc.segments[0].id });
  assert.deepEqual(value.saved_groups.vip_ids, ['v-1', 3, '10001']);
  assert.deepEqual(value.saved_groups.zips, [10001, 'abc']);
  assert.deepEqual(Object.keys(value.counters), [...Object.keys(doc.counters), 'demo_entries']);
  const rest = (d) => { const c = clone(d); delete c.counters; delete c.saved_groups; return c; };
  assert.deepEqual(rest(value), rest(doc));
  assert.deepEqual(settingsFields(applySettingsFields(value, settingsFields(value)).value), settingsFields(value), 'and back');
  const g = settingsFields(value);
  g.counters[0].target = 'no_such_block';
  g.counters[1].name = 'bad name';
  g.saved_groups.push({ name: g.saved_groups[0].name, values: 'x' });
  const r = applySettingsFields(value, g);
  assert.match(r.errors['counters.offer_budget.impressions'], /not a block/);
  assert.match(r.errors['counters.bad name.name'], /letters, digits and _/);
  assert.match(r.errors[`saved_groups.${g.saved_groups[0].name}.name`], /another one/);
});
