// The Settings tab's forms as plain values (issue 23, item 4 and "everything in the rules
// without JSON"): the general settings (`settings.cookie_name` … `counter_retention`), the
// declared events (`events`, with property bounds), `counters`, `saved_groups`, the export
// (`settings.export`), the activation webhooks (`activations`), the origin cache
// (`settings.origin_cache`) and consent (`settings.consent`) as the text their fields
// show (settingsFields), and those fields written back onto the document
// (applySettingsFields) with an error per field, keyed by the field's JSON path (the
// paths the server's errors use, so both show at the same field). Pure (no DOM): the
// round trip is unit-tested over every example and fixture rules file:
// applySettingsFields(doc, settingsFields(doc)).value is doc again, key order, absent
// keys and explicit nulls included. A field left as it was read leaves its key exactly
// as it was (absent stays absent, so the Worker's default still applies); keys the forms
// do not know are kept.
//
// Secrets are never in the rules: webhooks are signed with the EDGESEG_WEBHOOK_SECRET
// Worker secret, which no field here reads or writes.
import { durationError } from './conditions.js';

const has = (o, k) => o !== null && typeof o === 'object' && Object.prototype.hasOwnProperty.call(o, k);
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const ID = /^[A-Za-z0-9_]+$/;

/** The Worker's defaults (src/document.rs), shown where the document says nothing. */
export const DEFAULTS = {
  export: { enabled: false, page_views: true, events: null, signals: null, props: {}, utm: ['source', 'medium', 'campaign', 'term', 'content'] },
  origin_cache: { enabled: false, ttl: '60s', max_ttl: '1d', stale_while_revalidate: '60s', stale_if_error: '10m', session_cookies: [], ignore_params: ['gclid', 'fbclid', 'msclkid'] },
  consent: { respect_gpc: true, cookie: null, deny_values: ['0', 'no', 'false', 'deny'] },
  tcf: { cookie: 'euconsent-v2', store: [1], personalize: [5, 6], measure: [8, 9], vendor: null },
  general: { cookie_name: 'edgeseg', cookie_lifetime: '180d', refresh_seconds: 30, session_timeout: '30m', counter_retention: '35d' },
  event: { remember: '30d', source: 'browser' },
};
export const EVENT_SOURCE = { browser: 'the page (browser)', server: 'the site’s server only (signed)', any: 'either' };
export const ACTIVATION_ON = { enter: 'a visitor enters the segment', exit: 'a visitor leaves the segment', guardrail_stop: 'a guardrail stops a variant', model_drift: 'a model drifts (PSI over 0.2)' };
/** The signal kinds that are models (their drift is watched: README, "Drift"). */
const MODEL_KINDS = ['logistic', 'trees', 'cluster'];

const listText = (v) => (Array.isArray(v) ? v.map(String).join(', ') : '');
const parseList = (t) => String(t).split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
const propsText = (v) => (isObj(v) ? Object.entries(v).map(([e, ps]) => `${e}: ${listText(ps)}`).join('\n') : '');

/**
 * Field kinds: text(value) is what the field shows for a stored value (the default when
 * absent), parse(text, err) the value to store (err(msg) marks the field).
 */
const KIND = {
  bool: { text: (v) => v === true, parse: (t) => t === true },
  text: { text: (v) => (v === null || v === undefined ? '' : String(v)), parse: (t) => String(t).trim() },
  duration: {
    text: (v) => (v === null || v === undefined ? '' : String(v)),
    parse: (t, err) => { const s = String(t).trim(); const e = durationError(s); if (e) err(e); return s; },
  },
  list: { text: listText, parse: parseList },
  purposes: {
    text: listText,
    parse: (t, err) => parseList(t).map((p) => {
      if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 24) err(`“${p}” is not a TCF purpose: purposes are numbered 1 to 24`);
      return /^\d+$/.test(p) ? Number(p) : p;
    }),
  },
  props: {
    text: propsText,
    parse: (t, err) => {
      const out = {};
      for (const line of String(t).split('\n').map((l) => l.trim()).filter(Boolean)) {
        const i = line.indexOf(':');
        if (i < 1) { err(`“${line}”: write a line per event as “event: property, property”`); continue; }
        out[line.slice(0, i).trim()] = parseList(line.slice(i + 1));
      }
      return out;
    },
  },
  cap: {
    text: (v) => (v === null || v === undefined ? '' : String(v)),
    parse: (t, err) => {
      const s = String(t).trim();
      if (!/^\d+$/.test(s) || Number(s) < 1) err(`“${s}” is not a whole number above 0`);
      return /^\d+$/.test(s) ? Number(s) : s;
    },
  },
  seconds: {
    text: (v) => (v === null || v === undefined ? '' : String(v)),
    parse: (t, err) => {
      const s = String(t).trim();
      if (!/^\d+$/.test(s) || Number(s) > 4294967295) err(`“${s}” is not a whole number of seconds`);
      return /^\d+$/.test(s) ? Number(s) : s;
    },
  },
  number: {
    text: (v) => (v === null || v === undefined ? '' : String(v)),
    parse: (t, err) => {
      const s = String(t).trim();
      const n = Number(s);
      if (s === '' || !Number.isFinite(n)) err(`“${s}” is not a number`);
      return Number.isFinite(n) && s !== '' ? n : s;
    },
  },
  vendor: {
    text: (v) => (v === null || v === undefined ? '' : String(v)),
    parse: (t, err) => {
      const s = String(t).trim();
      if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 65535) err(`“${s}” is not an IAB vendor id (1 to 65535)`);
      return /^\d+$/.test(s) ? Number(s) : s;
    },
  },
};

// [field key, document key, kind, empty text means]: 'absent' (delete the key, so the
// default applies), 'null' (store null), or 'value' (store the parsed empty value).
const SECTIONS = {
  export: [
    ['enabled', 'enabled', 'bool'], ['page_views', 'page_views', 'bool'],
    ['events', 'events', 'list', 'value'], ['signals', 'signals', 'list', 'value'],
    ['props', 'props', 'props', 'value'], ['utm', 'utm', 'list', 'value'],
  ],
  origin_cache: [
    ['enabled', 'enabled', 'bool'],
    ['ttl', 'ttl', 'duration', 'absent'], ['max_ttl', 'max_ttl', 'duration', 'absent'],
    ['stale_while_revalidate', 'stale_while_revalidate', 'duration', 'absent'], ['stale_if_error', 'stale_if_error', 'duration', 'absent'],
    ['session_cookies', 'session_cookies', 'list', 'value'], ['ignore_params', 'ignore_params', 'list', 'value'],
  ],
  consent: [
    ['respect_gpc', 'respect_gpc', 'bool'], ['cookie', 'cookie', 'text', 'null'], ['deny_values', 'deny_values', 'list', 'value'],
  ],
  tcf: [
    ['tcf_cookie', 'cookie', 'text', 'absent'],
    ['store', 'store', 'purposes', 'value'], ['personalize', 'personalize', 'purposes', 'value'], ['measure', 'measure', 'purposes', 'value'],
    ['vendor', 'vendor', 'vendor', 'absent'],
  ],
};
const GENERAL = [
  ['cookie_name', 'cookie_name', 'text', 'absent'], ['cookie_lifetime', 'cookie_lifetime', 'duration', 'absent'],
  ['refresh_seconds', 'refresh_seconds', 'seconds', 'absent'], ['session_timeout', 'session_timeout', 'duration', 'absent'],
  ['counter_retention', 'counter_retention', 'duration', 'absent'],
];
const EVENT = [['remember', 'remember', 'duration', 'absent'], ['description', 'description', 'text', 'absent'], ['source', 'source', 'text', 'absent']];
const PROP = [['min', 'min', 'number', 'absent'], ['max', 'max', 'number', 'absent']];
const ACTIVATION = [
  ['id', 'id', 'text', 'value'], ['description', 'description', 'text', 'absent'], ['segment', 'segment', 'text', 'absent'],
  ['on', 'on', 'text', 'value'], ['experiment', 'experiment', 'text', 'absent'], ['signal', 'signal', 'text', 'absent'], ['url', 'url', 'text', 'value'],
  ['max_per_minute', 'max_per_minute', 'cap', 'absent'], ['max_per_hour', 'max_per_hour', 'cap', 'absent'],
];

function fieldsOf(obj, spec, defaults = {}) {
  const f = {};
  for (const [key, docKey, kind] of spec) f[key] = KIND[kind].text(has(obj, docKey) ? obj[docKey] : defaults[docKey]);
  return f;
}

/** Writes changed fields onto a copy of obj; errors go to errors[`${base}.${docKey}`]. */
function applyFields(obj, fields, spec, defaults, base, errors) {
  const before = fieldsOf(obj, spec, defaults);
  const out = isObj(obj) ? { ...obj } : {};
  for (const [key, docKey, kind, empty] of spec) {
    if (!(key in fields) || same(fields[key], before[key])) continue;
    const text = fields[key];
    const path = `${base}.${docKey}`;
    if (kind !== 'bool' && String(text).trim() === '' && empty !== 'value') {
      if (empty === 'null') out[docKey] = null; else delete out[docKey];
      continue;
    }
    out[docKey] = KIND[kind].parse(text, (msg) => { errors[path] = msg; });
  }
  return out;
}

/** The fields of every settings section, and a row per activation. */
export function settingsFields(doc) {
  const s = isObj(doc?.settings) ? doc.settings : {};
  const ex = isObj(s.export) ? s.export : {};
  const oc = isObj(s.origin_cache) ? s.origin_cache : {};
  const co = isObj(s.consent) ? s.consent : {};
  const tcf = isObj(co.tcf) ? co.tcf : {};
  const exportFields = fieldsOf(ex, SECTIONS.export, DEFAULTS.export);
  // null (the default) is "every declared event / every signal"; a list is "only these".
  exportFields.events_all = !Array.isArray(ex.events);
  exportFields.signals_all = !Array.isArray(ex.signals);
  const tcfFields = fieldsOf(tcf, SECTIONS.tcf, DEFAULTS.tcf);
  tcfFields.tcf_read = !(has(tcf, 'cookie') && tcf.cookie === null);
  if (!tcfFields.tcf_read) tcfFields.tcf_cookie = '';
  return {
    export: exportFields,
    origin_cache: fieldsOf(oc, SECTIONS.origin_cache, DEFAULTS.origin_cache),
    consent: { ...fieldsOf(co, SECTIONS.consent, DEFAULTS.consent), ...tcfFields },
    activations: (Array.isArray(doc?.activations) ? doc.activations : []).map((a, i) => ({ at: i, ...fieldsOf(a, ACTIVATION) })),
    general: fieldsOf(s, GENERAL, DEFAULTS.general),
    events: Object.entries(isObj(doc?.events) ? doc.events : {}).map(([name, e]) => eventRow(name, e)),
    counters: Object.entries(isObj(doc?.counters) ? doc.counters : {}).map(([name, c]) => counterRow(name, c)),
    saved_groups: Object.entries(isObj(doc?.saved_groups) ? doc.saved_groups : {}).map(([name, g]) => groupRow(name, g)),
  };
}

/** What a counter counts: the first of these keys it has. */
export const COUNTER_KIND = { event: 'an event, when recorded', impressions: 'a block’s impressions', entries: 'entries into a segment' };
const counterRow = (name, c) => {
  const kind = Object.keys(COUNTER_KIND).find((k) => has(c, k)) || 'event';
  return { at: name, name, kind, target: KIND.text.text(c?.[kind]), segment: KIND.text.text(c?.segment) };
};
export const newCounterRow = (doc) => {
  const names = new Set(Object.keys(isObj(doc?.counters) ? doc.counters : {}));
  let n = 1;
  while (names.has(`counter_${n}`)) n++;
  return { name: `counter_${n}`, kind: 'event', target: Object.keys(isObj(doc?.events) ? doc.events : {})[0] || '', segment: '' };
};

// A saved group's values, one a line: a number as written, a string that looks like one in quotes.
const valueText = (v) => (typeof v === 'string' ? (/^-?\d+(\.\d+)?$/.test(v) || /^".*"$/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v));
const parseValue = (t) => {
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  if (/^".*"$/.test(t)) { try { return JSON.parse(t); } catch { return t; } }
  return t;
};
const groupRow = (name, g) => ({ at: name, name, values: (Array.isArray(g) ? g : []).map(valueText).join('\n') });
export const newGroupRow = (doc) => {
  const names = new Set(Object.keys(isObj(doc?.saved_groups) ? doc.saved_groups : {}));
  let n = 1;
  while (names.has(`group_${n}`)) n++;
  return { name: `group_${n}`, values: '' };
};

const eventRow = (name, e) => ({
  at: name, name, ...fieldsOf(e, EVENT, DEFAULTS.event),
  props: Object.entries(isObj(e?.props) ? e.props : {}).map(([p, b]) => ({ at: p, name: p, ...fieldsOf(b, PROP) })),
});

/** A new event row (no `at`: it is not in the document yet). */
export function newEventRow(doc) {
  const names = new Set(Object.keys(isObj(doc?.events) ? doc.events : {}));
  let n = 1;
  while (names.has(`event_${n}`)) n++;
  return { name: `event_${n}`, ...fieldsOf({}, EVENT, DEFAULTS.event), props: [] };
}

/** A new property bound row. */
export const newPropRow = () => ({ name: 'value', min: '', max: '' });

// The keys whose string value names an event (signals, goals, counters); a score's keys are events.
const EVENT_KEYS = new Set(['count', 'since', 'unless', 'sum', 'max', 'event', 'share']);

/** What in the rules uses an event by name: `signals.carts`, `experiments.hero_test`, `counters.demos`, `segments[2]`. */
export function eventUses(doc, name) {
  const out = new Set();
  const walk = (v, owner, key) => {
    if (typeof v === 'string') { if (v === name && EVENT_KEYS.has(key)) out.add(owner); return; }
    if (Array.isArray(v)) { v.forEach((x) => walk(x, owner, key)); return; }
    if (!isObj(v)) return;
    if (key === 'score' && has(v, name)) out.add(owner);
    for (const [k, x] of Object.entries(v)) walk(x, owner, k);
  };
  for (const top of ['signals', 'experiments', 'counters']) {
    for (const [k, v] of Object.entries(isObj(doc[top]) ? doc[top] : {})) walk(v, `${top}.${k}`, '');
  }
  (Array.isArray(doc.segments) ? doc.segments : []).forEach((sg, i) => walk(sg?.holdout, `segments[${i}] (${sg?.id})`, ''));
  return [...out];
}

/** A new activation row (no `at`: it is not in the document yet). */
export function newActivationRow(doc) {
  const ids = new Set((doc?.activations || []).map((a) => a?.id));
  let n = 1;
  while (ids.has(`webhook_${n}`)) n++;
  return { ...fieldsOf({}, ACTIVATION), id: `webhook_${n}`, on: 'enter', segment: doc?.segments?.[0]?.id || '' };
}

function checkActivation(row, i, rows, known, errors) {
  const p = `activations[${i}]`;
  if (!ID.test(row.id.trim())) errors[`${p}.id`] = 'an id uses letters, digits and _ only, and is not empty';
  else if (rows.slice(0, i).some((r) => r.id.trim() === row.id.trim())) errors[`${p}.id`] = `another webhook is called “${row.id.trim()}”`;
  if (!(row.on in ACTIVATION_ON)) errors[`${p}.on`] = 'pick when it fires';
  const url = row.url.trim();
  if (!/^https:\/\/[^/\s]+/.test(url) && !/^http:\/\/(localhost|127\.0\.0\.1)(:\d+)?(\/|$)/.test(url)) {
    errors[`${p}.url`] = 'a webhook URL starts with https:// (plain http:// only to localhost, for testing)';
  }
  const signal = (row.signal || '').trim();
  if (row.on === 'model_drift') {
    if (row.segment.trim()) errors[`${p}.segment`] = 'a model\'s drift is not about a segment: leave it empty';
    if (row.experiment.trim()) errors[`${p}.experiment`] = 'only a guardrail stop names an experiment';
    if (signal && !known.models.includes(signal)) errors[`${p}.signal`] = `“${signal}” is not a model signal (logistic, trees or cluster) in the rules`;
    return;
  }
  if (signal) errors[`${p}.signal`] = 'only a model drift names a signal';
  if (row.on === 'guardrail_stop') {
    if (row.segment.trim()) errors[`${p}.segment`] = 'a guardrail stop is not about a segment: leave it empty';
    if (row.experiment.trim() && known.experiments.length && !known.experiments.includes(row.experiment.trim())) errors[`${p}.experiment`] = `“${row.experiment.trim()}” is not an experiment in the rules`;
  } else {
    if (!row.segment.trim()) errors[`${p}.segment`] = 'pick the segment';
    else if (known.segments.length && !known.segments.includes(row.segment.trim())) errors[`${p}.segment`] = `“${row.segment.trim()}” is not a segment in the rules`;
    if (row.experiment.trim()) errors[`${p}.experiment`] = 'only a guardrail stop names an experiment';
  }
}

/**
 * Writes the fields back: { value: the new document, errors: { 'json.path': message } }.
 * Unchanged sections leave the document's keys exactly as they were.
 */
export function applySettingsFields(doc, f) {
  const errors = {};
  const out = { ...doc };
  const s = isObj(doc.settings) ? doc.settings : {};
  const settings = { ...s };
  const known = {
    blocks: Object.keys(isObj(doc.blocks) ? doc.blocks : {}),
    segments: (Array.isArray(doc.segments) ? doc.segments : []).map((x) => x?.id),
    events: Object.keys(isObj(doc.events) ? doc.events : {}),
    signals: Object.keys(isObj(doc.signals) ? doc.signals : {}),
    experiments: Object.keys(isObj(doc.experiments) ? doc.experiments : {}),
    models: Object.entries(isObj(doc.signals) ? doc.signals : {}).filter(([, v]) => isObj(v) && MODEL_KINDS.some((k) => k in v)).map(([k]) => k),
  };

  // export: events and signals are null ("all") or a list.
  const ex = isObj(s.export) ? s.export : {};
  const exFields = { ...f.export };
  const listOrAll = (key, what, names) => {
    const was = !Array.isArray(ex[key]);
    if (f.export[`${key}_all`] === was && (was || same(f.export[key], listText(ex[key])))) { delete exFields[key]; return undefined; }
    delete exFields[key];
    if (f.export[`${key}_all`]) return null;
    const list = parseList(f.export[key]);
    const unknown = list.filter((n) => names.length && !names.includes(n));
    if (unknown.length) errors[`settings.export.${key}`] = `not ${what} in the rules: ${unknown.join(', ')}`;
    return list;
  };
  const events = listOrAll('events', 'declared events', known.events);
  const signals = listOrAll('signals', 'signals', known.signals);
  let newEx = applyFields(ex, exFields, SECTIONS.export, DEFAULTS.export, 'settings.export', errors);
  for (const [key, v] of [['events', events], ['signals', signals]]) {
    if (v === undefined) continue;
    if (v === null && !has(ex, key)) delete newEx[key]; else newEx = { ...newEx, [key]: v };
  }
  if (!same(newEx, ex)) settings.export = newEx;

  const oc = isObj(s.origin_cache) ? s.origin_cache : {};
  const newOc = applyFields(oc, f.origin_cache, SECTIONS.origin_cache, DEFAULTS.origin_cache, 'settings.origin_cache', errors);
  if (!same(newOc, oc)) settings.origin_cache = newOc;

  const co = isObj(s.consent) ? s.consent : {};
  const newCo = applyFields(co, f.consent, SECTIONS.consent, DEFAULTS.consent, 'settings.consent', errors);
  const tcf = isObj(co.tcf) ? co.tcf : {};
  const tcfBefore = settingsFields(doc).consent;
  const tcfChanged = f.consent.tcf_read !== tcfBefore.tcf_read;
  let newTcf;
  if (tcfChanged && !f.consent.tcf_read) newTcf = { ...tcf, cookie: null };
  else {
    const tf = { ...f.consent };
    // Turned back on with no name: the default cookie.
    if (tcfChanged) { newTcf = { ...tcf }; delete newTcf.cookie; tf.tcf_cookie = f.consent.tcf_cookie; }
    newTcf = applyFields(newTcf ?? tcf, tf, SECTIONS.tcf, DEFAULTS.tcf, 'settings.consent.tcf', errors);
  }
  if (!same(newTcf, tcf)) newCo.tcf = newTcf;
  if (!same(newCo, co)) settings.consent = newCo;

  const newGeneral = f.general ? applyFields(settings, f.general, GENERAL, DEFAULTS.general, 'settings', errors) : settings;
  if (!same(newGeneral, settings)) {
    for (const [, k] of GENERAL) if (has(newGeneral, k)) settings[k] = newGeneral[k]; else delete settings[k];
  }
  if (!same(settings, s)) out.settings = settings;

  if (f.events) applyEvents(doc, f.events, out, errors);
  if (f.counters) applyNamed(doc, 'counters', f.counters, counterRow, out, errors, (row, p) => {
    const target = row.target.trim();
    if (!(row.kind in COUNTER_KIND)) errors[`${p}.${row.kind}`] = 'pick what it counts';
    const list = row.kind === 'event' ? ['page_view', ...Object.keys(isObj(out.events) ? out.events : {})] : row.kind === 'impressions' ? known.blocks : known.segments;
    if (!target) errors[`${p}.${row.kind}`] = 'pick what it counts';
    else if (list.length && !list.includes(target)) errors[`${p}.${row.kind}`] = `“${target}” is not ${row.kind === 'event' ? 'a declared event' : row.kind === 'impressions' ? 'a block' : 'a segment'} in the rules`;
    const c = { [row.kind]: target };
    const seg = row.segment.trim();
    if (row.kind === 'impressions' && seg) {
      if (known.segments.length && !known.segments.includes(seg)) errors[`${p}.segment`] = `“${seg}” is not a segment in the rules`;
      c.segment = seg;
    }
    return c;
  });
  if (f.saved_groups) applyNamed(doc, 'saved_groups', f.saved_groups, groupRow, out, errors, (row) => String(row.values).split('\n').map((l) => l.trim()).filter(Boolean).map(parseValue));

  // activations: rows keep the ones they came from (`at`), in the rows' order.
  const was = Array.isArray(doc.activations) ? doc.activations : [];
  const rows = f.activations || [];
  const list = rows.map((row, i) => {
    const orig = row.at !== undefined && row.at !== null && isObj(was[row.at]) ? was[row.at] : {};
    checkActivation(row, i, rows, known, errors);
    const e = {};
    const v = applyFields(orig, row, ACTIVATION, {}, `activations[${i}]`, e);
    for (const [k, m] of Object.entries(e)) if (!errors[k]) errors[k] = m;
    return v;
  });
  if (!same(list, was)) {
    if (list.length || has(doc, 'activations')) out.activations = list;
  }
  return { value: out, errors };
}

/** The event rows back into `events` (renamed, added, removed; props with bounds). */
function applyEvents(doc, rows, out, errors) {
  const was = isObj(doc.events) ? doc.events : {};
  const events = {};
  rows.forEach((row) => {
    const name = String(row.name).trim();
    const p = `events.${name}`;
    // A row left as it was read keeps its value exactly (even one the forms can not show).
    if (has(was, row.at) && same(row, eventRow(row.at, was[row.at])) && !(name in events)) { events[name] = was[row.at]; return; }
    if (!ID.test(name)) errors[`${p}.name`] = 'an event name uses letters, digits and _ only, and is not empty';
    else if (row.at !== undefined && name !== row.at && eventUses(doc, row.at).length) {
      errors[`${p}.name`] = `“${row.at}” is used by ${eventUses(doc, row.at).join(', ')}: renaming it leaves them counting nothing`;
    }
    else if (name in events) errors[`${p}.name`] = `another event is called “${name}”`;
    if (!(row.source in EVENT_SOURCE)) errors[`${p}.source`] = 'pick who may send it';
    const orig = row.at !== undefined && isObj(was[row.at]) ? was[row.at] : {};
    const e = applyFields(orig, row, EVENT, DEFAULTS.event, p, errors);
    const origProps = isObj(orig.props) ? orig.props : {};
    const props = {};
    for (const pr of row.props || []) {
      const pn = String(pr.name).trim();
      const pp = `${p}.props.${pn}`;
      if (!pn) { errors[`${pp}.name`] = 'name the property'; continue; }
      if (pn in props) errors[`${pp}.name`] = `“${pn}” is bounded twice`;
      const b = applyFields(pr.at !== undefined && isObj(origProps[pr.at]) ? origProps[pr.at] : {}, pr, PROP, {}, pp, errors);
      if (typeof b.min === 'number' && typeof b.max === 'number' && b.min > b.max) errors[`${pp}.max`] = `the largest value (${b.max}) is below the smallest (${b.min})`;
      props[pn] = b;
    }
    if (!same(props, origProps)) { if (Object.keys(props).length) e.props = props; else delete e.props; }
    events[name] = e;
  });
  for (const name of Object.keys(was)) {
    if (name in events) continue;
    const uses = eventUses({ ...doc, events }, name);
    // Refused (the UI asks first): kept, with the error.
    if (uses.length) { errors[`events.${name}`] = `“${name}” is used by ${uses.join(', ')}: change those first`; events[name] = was[name]; }
  }
  if (!same(events, was)) {
    if (Object.keys(events).length || has(doc, 'events')) out.events = events;
  }
}

/**
 * Rows of a map of named things (counters, saved groups) back into doc[key]: a row left
 * as it was read keeps its value exactly; a changed one is rebuilt by build(row, path).
 */
function applyNamed(doc, key, rows, rowOf, out, errors, build) {
  const was = isObj(doc[key]) ? doc[key] : {};
  const map = {};
  for (const row of rows) {
    const name = String(row.name).trim();
    const p = `${key}.${name}`;
    if (has(was, row.at) && same(row, rowOf(row.at, was[row.at])) && !(name in map)) { map[name] = was[row.at]; continue; }
    if (!ID.test(name)) errors[`${p}.name`] = 'a name uses letters, digits and _ only, and is not empty';
    else if (name in map) errors[`${p}.name`] = `another one is called “${name}”`;
    map[name] = build(row, p);
  }
  if (!same(map, was) && (Object.keys(map).length || has(doc, key))) out[key] = map;
}
