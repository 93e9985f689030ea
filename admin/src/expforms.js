// The experiment editor's forms as plain values: an experiment (who enters, variants with
// their block content and weights, coverage, goals with guardrails, allocation, schedule,
// lifecycle) and a segment's holdout, turned into the text their fields show (xFields) and
// written back (applyX) with an error per field. Pure (no DOM), like forms.js, so the round
// trip is unit-tested over every example and fixture rules file: applyX(o, xFields(o)).value
// is o again, key order included. Keys a form does not know are kept; an empty field keeps an
// absent key absent (the document's default applies: coverage 1, window 7d, hash version 2).
import { durationError } from './conditions.js';
import { contentFields, applyContentFields } from './forms.js';

const ID = /^[A-Za-z0-9_]+$/;
const NUMBER = /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v) => (v === null || v === undefined ? '' : String(v));
const defineKey = (o, k, v) => Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });

export const STATUSES = {
  draft: 'Draft: not served (preview links only)',
  running: 'Running: assigning and counting',
  stopped: 'Stopped: everyone gets one variant',
};
export const GUARDRAILS = {
  '': 'A goal to improve',
  must_not_increase: 'Guardrail: must not increase (refunds, complaints)',
  must_not_decrease: 'Guardrail: must not decrease (sign-ups, engagement)',
};
/** RFC 3339 as the Worker reads it (seconds optional fractions, Z or an offset). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Sets an optional key from a field's text: empty deletes a key that had a value. */
function setOptional(obj, key, text, convert = (t) => t) {
  if (text === '' || text === undefined || text === null) {
    if (has(obj, key) && obj[key] !== null && obj[key] !== '') delete obj[key];
    return;
  }
  obj[key] = convert(text);
}

/** A number field: the number, or the text as it is with an error. */
function numberOf(errors, key, text, { min = -Infinity, max = Infinity, what = 'a number' } = {}) {
  const t = String(text).trim();
  if (!NUMBER.test(t)) { errors[key] = `“${text}” is not a number`; return text; }
  const n = Number(t);
  if (n < min || n > max) errors[key] = `${what} from ${min} to ${max}`;
  return n;
}

// ---- goals (experiments and holdouts) ---------------------------------------------------------

/** Goals as rows: [{ was, name, event, window, value, guardrail }] (was: its name in the document). */
export function goalRows(goals) {
  return Object.entries(isObj(goals) ? goals : {}).map(([name, g]) => (isObj(g)
    ? { was: name, name, event: str(g.event), window: str(g.window), value: str(g.value), guardrail: str(g.guardrail) }
    : { was: name, name, json: JSON.stringify(g) }));
}

/** Rows back to a goals object; errors keyed `goals.I.field`. `events`: declared event names. */
export function applyGoalRows(goals, rows, errors, events = []) {
  const before = isObj(goals) ? goals : {};
  const out = {};
  const seen = new Set();
  rows.forEach((r, i) => {
    const k = `goals.${i}`;
    const name = r.name === r.was ? r.name : r.name.trim();
    if (!ID.test(name)) errors[`${k}.name`] = 'a goal name uses letters, digits and _ only';
    else if (seen.has(name)) errors[`${k}.name`] = `two goals are called “${name}”`;
    seen.add(name);
    if ('json' in r) {
      try { defineKey(out, name, JSON.parse(r.json)); } catch (e) { errors[`${k}.json`] = `not JSON: ${e.message}`; defineKey(out, name, r.json); }
      return;
    }
    const g = isObj(before[r.was]) ? { ...before[r.was] } : {};
    if (!r.event) errors[`${k}.event`] = 'pick the event that converts';
    else if (events.length && !events.includes(r.event)) errors[`${k}.event`] = `“${r.event}” is not a declared event`;
    g.event = r.event;
    if (r.window !== '' && durationError(r.window)) errors[`${k}.window`] = durationError(r.window);
    setOptional(g, 'window', r.window);
    setOptional(g, 'value', r.value === r.value.trim() ? r.value : r.value.trim());
    setOptional(g, 'guardrail', r.guardrail);
    defineKey(out, name, g);
  });
  return out;
}

// ---- variants ---------------------------------------------------------------------------------

/** A variant's fields: { was, id, weight, content: [[block, contentFields]] }, or { was, json }. */
function variantFields(v, i) {
  if (!isObj(v) || (has(v, 'content') && !isObj(v.content)) || Object.values(v.content || {}).some((c) => !isObj(c))) {
    return { was: i, json: JSON.stringify(v) };
  }
  return {
    was: i,
    id: str(v.id),
    weight: has(v, 'weight') ? str(v.weight) : '',
    content: Object.entries(v.content || {}).map(([b, c]) => [b, contentFields(c)]),
  };
}

function applyVariant(v, f, i, errors) {
  const k = `variants.${i}`;
  if ('json' in f) {
    try { return JSON.parse(f.json); } catch (e) { errors[`${k}.json`] = `not JSON: ${e.message}`; return v; }
  }
  const out = isObj(v) ? { ...v } : {};
  const id = f.id.trim();
  if (!ID.test(id)) errors[`${k}.id`] = 'a variant id uses letters, digits and _ only, and is not empty';
  out.id = isObj(v) && f.id === v.id ? v.id : id;
  setOptional(out, 'weight', f.weight, (t) => numberOf(errors, `${k}.weight`, t, { min: 0, what: 'a weight' }));
  const before = isObj(out.content) ? out.content : {};
  const content = {};
  f.content.forEach(([b, cf]) => {
    const r = applyContentFields(before[b], cf);
    for (const [ek, msg] of Object.entries(r.errors)) errors[`${k}.content.${b}.${ek}`] = msg;
    defineKey(content, b, r.value);
  });
  if (f.content.length) out.content = content;
  else if (has(out, 'content') && Object.keys(before).length) delete out.content;
  return out;
}

// ---- experiments ------------------------------------------------------------------------------

/**
 * The editor's view of one experiment. An experiment that is not an object is { json }.
 * condition: its JSON text ('' when absent); the editor shows it in words beside.
 */
export function experimentFields(key, exp) {
  if (!isObj(exp)) return { key, json: JSON.stringify(exp, null, 2) };
  const ns = isObj(exp.namespace) ? exp.namespace : null;
  const b = isObj(exp.bandit) ? exp.bandit : null;
  return {
    key,
    description: str(exp.description),
    segment: str(exp.segment),
    condition: has(exp, 'condition') && exp.condition !== null ? JSON.stringify(exp.condition) : '',
    status: str(exp.status),
    serve: str(exp.serve),
    coverage: has(exp, 'coverage') ? str(exp.coverage) : '',
    seed: str(exp.seed),
    hash_version: has(exp, 'hash_version') ? str(exp.hash_version) : '',
    hash_attribute: has(exp, 'hash_attribute') ? str(exp.hash_attribute) : '',
    namespace: { id: str(ns?.id), start: ns && has(ns, 'start') ? str(ns.start) : '', end: ns && has(ns, 'end') ? str(ns.end) : '' },
    allocation: exp.allocation === 'bandit' ? 'bandit' : 'fixed',
    bandit: { goal: str(b?.goal), floor: b && has(b, 'floor') ? str(b.floor) : '', burn_in: b && has(b, 'burn_in') ? str(b.burn_in) : '' },
    start_at: str(exp.start_at),
    end_at: str(exp.end_at),
    variants: (Array.isArray(exp.variants) ? exp.variants : []).map(variantFields),
    goals: goalRows(exp.goals),
  };
}

/**
 * Writes the fields onto a copy of `exp`. known: { segments, events, blocks, keys (the other
 * experiments' keys) } for the pickers' checks. Returns { key, value, errors }; errors are
 * keyed by field (`key`, `variants.0.id`, `goals.1.event`, `namespace.start`, ...).
 */
export function applyExperimentFields(exp, f, known = {}) {
  const errors = {};
  const key = f.key === f.key.trim() ? f.key : f.key.trim();
  if (!ID.test(key)) errors.key = 'a key uses letters, digits and _ only, and is not empty';
  else if ((known.keys || []).includes(key)) errors.key = `another experiment is called “${key}”`;
  if ('json' in f) {
    try { return { key, value: JSON.parse(f.json), errors }; } catch (e) { return { key, value: exp, errors: { ...errors, json: `not JSON: ${e.message}` } }; }
  }
  const out = isObj(exp) ? { ...exp } : {};
  setOptional(out, 'description', f.description);
  const segs = known.segments || [];
  if (f.segment && segs.length && !segs.includes(f.segment)) errors.segment = `there is no segment “${f.segment}”`;
  setOptional(out, 'segment', f.segment);
  setOptional(out, 'condition', f.condition, (t) => {
    try {
      const v = JSON.parse(t);
      if (!isObj(v)) errors.condition = 'a condition is an object, like {"device": "mobile"}';
      return isObj(exp) && JSON.stringify(exp.condition) === JSON.stringify(v) ? exp.condition : v;
    } catch (e) { errors.condition = `not JSON: ${e.message}`; return t; }
  });
  if (!f.segment && !f.condition) errors.segment = 'pick a segment, or give a condition (or both)';
  if (!STATUSES[f.status]) errors.status = 'pick a status';
  out.status = f.status;
  const ids = f.variants.map((v) => ('json' in v ? null : v.id.trim()));
  if (f.serve && !ids.includes(f.serve)) errors.serve = `“${f.serve}” is not one of the variants`;
  setOptional(out, 'serve', f.serve);
  const before = Array.isArray(out.variants) ? out.variants : [];
  out.variants = f.variants.map((v, i) => applyVariant(before[v.was], v, i, errors));
  ids.forEach((id, i) => { if (id && ids.indexOf(id) < i) errors[`variants.${i}.id`] = `two variants are called “${id}”`; });
  if (f.variants.length < 2) errors.variants = 'an experiment needs at least two variants (the first is the control)';
  const weighted = f.variants.filter((v) => !('json' in v) && v.weight !== '').length;
  if (weighted && weighted !== f.variants.length) errors.variants = 'give every variant a weight, or none (an equal split)';
  setOptional(out, 'coverage', f.coverage, (t) => numberOf(errors, 'coverage', t, { min: 0, max: 1, what: 'a share' }));
  setOptional(out, 'seed', f.seed);
  setOptional(out, 'hash_version', f.hash_version, (t) => {
    if (!/^[12]$/.test(t.trim())) { errors.hash_version = 'the hash version is 1 or 2'; return t; }
    return Number(t.trim());
  });
  setOptional(out, 'hash_attribute', f.hash_attribute);
  const ns = f.namespace;
  if (!ns.id && ns.start === '' && ns.end === '') { if (has(out, 'namespace') && out.namespace !== null) delete out.namespace; } else {
    const n = isObj(out.namespace) ? { ...out.namespace } : {};
    if (!ID.test(ns.id)) errors['namespace.id'] = 'name the namespace (letters, digits and _)';
    n.id = ns.id;
    n.start = numberOf(errors, 'namespace.start', ns.start, { min: 0, max: 1, what: 'a share' });
    n.end = numberOf(errors, 'namespace.end', ns.end, { min: 0, max: 1, what: 'a share' });
    if (!errors['namespace.start'] && !errors['namespace.end'] && n.start >= n.end) errors['namespace.end'] = 'the slice ends after it starts';
    out.namespace = n;
  }
  if (f.allocation === 'bandit' || has(out, 'allocation')) out.allocation = f.allocation;
  const b = f.bandit;
  if (b.goal === '' && b.floor === '' && b.burn_in === '') {
    // Fixed allocation takes no bandit settings (the compiler refuses them).
    if (f.allocation === 'fixed') delete out.bandit;
    else if (isObj(out.bandit) && Object.keys(out.bandit).length) out.bandit = {};
  } else {
    const o = isObj(out.bandit) ? { ...out.bandit } : {};
    setOptional(o, 'goal', b.goal);
    setOptional(o, 'floor', b.floor, (t) => numberOf(errors, 'bandit.floor', t, { min: 0, max: 0.5, what: 'a floor' }));
    setOptional(o, 'burn_in', b.burn_in, (t) => {
      if (!/^\d+$/.test(t.trim())) { errors['bandit.burn_in'] = 'a whole number of exposures'; return t; }
      return Number(t.trim());
    });
    out.bandit = o;
  }
  for (const k of ['start_at', 'end_at']) {
    if (f[k] && !RFC3339.test(f[k].trim())) errors[k] = 'a time like 2026-12-24T18:00:00Z (UTC) or with an offset (+01:00)';
    setOptional(out, k, f[k]);
  }
  out.goals = applyGoalRows(out.goals, f.goals, errors, known.events || []);
  if (!f.goals.length && !(isObj(exp) && isObj(exp.goals) && !Object.keys(exp.goals).length)) delete out.goals;
  if (f.allocation === 'bandit' && !f.goals.length) errors.goals = 'a bandit needs a goal to maximize';
  return { key, value: out, errors };
}

/** A new experiment on a segment (or everyone, with a condition): a control and one variant. */
export function newExperiment({ segment = '', block = '' } = {}) {
  const variant = { id: 'variant_b' };
  if (block) variant.content = { [block]: { inner_html: '' } };
  const e = { status: 'draft', variants: [{ id: 'control' }, variant] };
  return segment ? { segment, ...e } : { condition: {}, ...e };
}

// ---- holdouts ---------------------------------------------------------------------------------

export function holdoutFields(ho) {
  if (!isObj(ho)) return { json: JSON.stringify(ho) };
  return { share: has(ho, 'share') ? str(ho.share) : '', seed: str(ho.seed), goals: goalRows(ho.goals) };
}

export function applyHoldoutFields(ho, f, known = {}) {
  const errors = {};
  if ('json' in f) {
    try { return { value: JSON.parse(f.json), errors }; } catch (e) { return { value: ho, errors: { json: `not JSON: ${e.message}` } }; }
  }
  const out = isObj(ho) ? { ...ho } : {};
  if (f.share === '') errors.share = 'the share held out, from 0 to 1 (0.1 for 10 %)';
  out.share = f.share === '' ? 0 : numberOf(errors, 'share', f.share, { min: 0, max: 1, what: 'a share' });
  setOptional(out, 'seed', f.seed);
  out.goals = applyGoalRows(out.goals, f.goals, errors, known.events || []);
  if (!f.goals.length && !(isObj(ho) && isObj(ho.goals) && !Object.keys(ho.goals).length)) delete out.goals;
  return { value: out, errors };
}

// ---- in words -----------------------------------------------------------------------------------

const pct = (x) => `${Math.round(Number(x) * 1000) / 10} %`;

/** Who enters, the split and the lifecycle, in one sentence. */
export function describeExperiment(exp) {
  if (!isObj(exp)) return 'Written as JSON.';
  const vs = Array.isArray(exp.variants) ? exp.variants.filter(isObj) : [];
  const who = [exp.segment ? `members of ${exp.segment}` : null, exp.condition ? 'visitors matching its condition' : null].filter(Boolean).join(' who are also ') || 'nobody yet (pick a segment or a condition)';
  const cov = has(exp, 'coverage') && Number(exp.coverage) !== 1 ? `${pct(exp.coverage)} of ` : '';
  const total = vs.reduce((a, v) => a + (typeof v.weight === 'number' ? v.weight : 1), 0) || 1;
  const split = vs.map((v) => `${v.id} ${pct((typeof v.weight === 'number' ? v.weight : 1) / total)}`).join(', ');
  const how = exp.allocation === 'bandit' ? `a bandit moves the split toward the best (starting ${split})` : `split ${split}`;
  const life = exp.status === 'running' ? 'running' : exp.status === 'stopped' ? `stopped: everyone gets ${exp.serve || vs[0]?.id || 'the control'}` : 'a draft: served to nobody, preview links only';
  const when = [exp.start_at ? `from ${exp.start_at}` : null, exp.end_at ? `until ${exp.end_at}` : null].filter(Boolean).join(' ');
  return `${cov}${who}; ${how}; ${life}${when ? ` (${when})` : ''}.`;
}
