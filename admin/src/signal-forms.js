// The signal forms as plain values, one per kind: a signal turned into the text its fields
// show (signalFields) and those fields written back onto it (applySignalFields), with an
// error per field. Pure (no DOM), so the round trip is unit-tested over every example and
// fixture rules file: applySignalFields(s, signalFields(s)).value is s again, key order,
// explicit nulls and wrongly typed values included. Two rules make that hold:
// - a field whose text was not changed writes back the value it came from (a `"within": 10`
//   stays the number 10 while its field shows the error the Worker will give);
// - what a form cannot show as it is (a list where a name belongs, two kinds in one object,
//   an affinity source with both a path and a property) is edited as JSON instead.
// Trained models (cluster, trees) are shown, not edited: a new training run replaces them
// by pasting what `edgeseg train` prints, checked here before it goes into the document.
import { durationError } from './conditions.js';
import { str, has, isObj, NUMBER, putter } from './forms.js';

/** The kinds the forms know, in the order the Kind picker offers them. */
export const SIGNAL_KINDS = {
  count: 'Count of an event in a window',
  since: 'Time since an event',
  visitor: 'A fact about the visits',
  score: 'Points per event in a window',
  sum: 'Total of an event property (e.g. spend)',
  max: 'Largest event property (e.g. biggest order)',
  engaged: 'Reading time on pages',
  scroll: 'Scroll depth on pages',
  affinity: 'Top interest (a category)',
  share: 'How focused the top interest is',
  logistic: 'A model over other signals',
  cluster: 'A trained cluster model (pasted)',
  trees: 'A trained tree model (pasted)',
};
export const TIME_UNITS = ['seconds', 'minutes', 'hours', 'days'];
export const VISITOR_METRICS = ['sessions', 'session_pages', 'session_duration', 'since_first_visit', 'since_previous_visit'];
/** Kinds whose value a model (logistic, cluster, trees) cannot read: models, and an affinity's category name. */
const NOT_MODEL_INPUTS = ['logistic', 'cluster', 'trees', 'affinity'];
const MAX_FEATURES = 32;
const MAX_CLUSTERS = 32;
const MAX_TREES = 500;
const MAX_NODES = 255;
const MAX_KEEP = 16;

/** The kind of a signal (its one kind key), or null when there is none or more than one. */
export function signalKind(spec) {
  if (!isObj(spec)) return null;
  const ks = Object.keys(spec).filter((x) => x in SIGNAL_KINDS);
  return ks.length === 1 ? ks[0] : null;
}

/** A trained model signal (cluster, trees). */
export const isModel = (spec) => ['cluster', 'trees'].includes(signalKind(spec));

/**
 * What the pickers and checks of signal `current` may use: events (page_view first), the
 * signals a model can read, the affinity signals (for share), all other signal names.
 */
export function signalVocabulary(doc, current = null) {
  const sigs = isObj(doc.signals) ? doc.signals : {};
  const names = Object.keys(sigs).filter((n) => n !== current);
  return {
    events: ['page_view', ...Object.keys(isObj(doc.events) ? doc.events : {}).filter((e) => e !== 'page_view')],
    signals: names.filter((n) => !NOT_MODEL_INPUTS.includes(signalKind(sigs[n]))),
    affinities: names.filter((n) => signalKind(sigs[n]) === 'affinity'),
    all: names,
  };
}

/**
 * Property names to offer for an event: its declared bounds (`events.E.props`), then the
 * properties other signals read from it (sum, max, affinity, count's props).
 */
export function propertySuggestions(doc, event) {
  const out = [];
  const add = (p) => { if (typeof p === 'string' && p && !out.includes(p)) out.push(p); };
  const ev = isObj(doc.events) && isObj(doc.events[event]) ? doc.events[event] : {};
  Object.keys(isObj(ev.props) ? ev.props : {}).forEach(add);
  for (const s of Object.values(isObj(doc.signals) ? doc.signals : {})) {
    if (!isObj(s)) continue;
    if ((s.sum === event || s.max === event)) add(s.property);
    if (s.count === event && isObj(s.props)) Object.keys(s.props).forEach(add);
    if (Array.isArray(s.affinity)) for (const src of s.affinity) if (isObj(src) && (src.event || 'page_view') === event) add(src.property);
  }
  return out;
}

/**
 * A note for a sum or max over `event` (not an error: it saves): page views carry no
 * amounts, and an event the browser may send (source browser, the default, or any) can
 * carry any amount anyone types. '' when there is nothing to say.
 */
export function valueWarning(doc, event) {
  if (event === 'page_view') return 'Page views carry no amounts: pick the event that does (a purchase).';
  const ev = isObj(doc.events) ? doc.events[event] : null;
  if (!isObj(ev) || ev.source === 'server') return '';
  return `“${event}” may come from the browser, where anyone can send any amount: for money, make it a server event (README, “Events from the site’s server”).`;
}

/** Why an affinity path pattern would be refused (as src/signals/affinity.rs says it), or ''. */
export function patternError(p) {
  if (!p.startsWith('/') && !p.startsWith('*')) return 'the pattern must start with “/” (or “*”)';
  let captures = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] !== '{') continue;
    const end = p.indexOf('}', i);
    if (end < 0) return 'a {capture} is not closed; write it as {name}';
    captures++;
    i = end;
  }
  if (captures !== 1) return `the pattern needs exactly one {capture} for the category, such as “/category/{name}”; it has ${captures}`;
  return '';
}

/** Why a page glob (engaged, scroll, a path filter) can never match, or ''. */
function globError(g, required) {
  if (!g.trim()) return required ? 'name the pages, like /products/*' : '';
  return g.startsWith('/') || g.startsWith('*') ? '' : 'a page path starts with “/” (or “*”), like /products/*';
}

/** The fields a kind's form shows (without the self-check of signalFields). */
function formFields(spec, kind) {
  const f = { kind, json: JSON.stringify(spec, null, 2) };
  const rows = (o) => (isObj(o) ? Object.entries(o).map(([k, v]) => [k, str(v)]) : []);
  switch (kind) {
    case 'count': return Object.assign(f, { event: str(spec.count), within: str(spec.within), path: str(spec.path), props: showJson(spec.props) });
    case 'since': return Object.assign(f, { event: str(spec.since), unless: str(spec.unless), unit: str(spec.unit) });
    case 'visitor': return Object.assign(f, { metric: str(spec.visitor), unit: str(spec.unit) });
    case 'score': return Object.assign(f, { points: rows(spec.score), within: str(spec.within) });
    case 'logistic': return Object.assign(f, { weights: rows(spec.logistic), bias: str(spec.bias) });
    case 'sum': case 'max': return Object.assign(f, { event: str(spec[kind]), property: str(spec.property), within: str(spec.within), path: str(spec.path) });
    case 'engaged': return Object.assign(f, { pages: str(spec.engaged), within: str(spec.within), unit: str(spec.unit) });
    case 'scroll': return Object.assign(f, { pages: str(spec.scroll), within: str(spec.within) });
    case 'affinity': return Object.assign(f, {
      sources: (Array.isArray(spec.affinity) ? spec.affinity : []).map((s) => {
        const o = isObj(s) ? s : {};
        return { from: has(o, 'property') && !has(o, 'path') ? 'property' : 'path', event: str(o.event), path: str(o.path), property: str(o.property), weight: str(o.weight) };
      }),
      half_life: str(spec.half_life),
      keep: str(spec.keep),
    });
    case 'share': return Object.assign(f, { of: str(spec.share) });
    case 'cluster': case 'trees': return Object.assign(f, { inputs: Array.isArray(spec[kind]) ? spec[kind].map(str) : [], model: '' });
    default: return { kind: 'json', json: f.json };
  }
}

const showJson = (v) => (v === undefined || v === null ? '' : JSON.stringify(v));

/**
 * The fields of a signal's form. `kind` is 'json' when the forms do not know it, or when
 * its form could not show it as it is (`why` says so): then it is edited as JSON.
 */
export function signalFields(spec) {
  const kind = signalKind(spec);
  const f = formFields(spec, kind);
  if (f.kind === 'json') {
    return isObj(spec) && Object.keys(spec).filter((x) => x in SIGNAL_KINDS).length > 1
      ? { ...f, why: `it names two kinds (${Object.keys(spec).filter((x) => x in SIGNAL_KINDS).join(' and ')}): keep one` } : f;
  }
  const back = applySignalFields(spec, f).value;
  if (JSON.stringify(back) !== JSON.stringify(spec)) return { kind: 'json', json: f.json, why: `its ${kind} form cannot show it as it is written` };
  return f;
}

/**
 * Writes signal fields back: { value, errors, name } (`name`: the name in a pasted model, or
 * null). `known`: signalVocabulary(doc, name), for the pickers' checks (empty lists check
 * nothing). Changing the kind starts a new object of that kind.
 */
export function applySignalFields(spec, f, known = {}) {
  const k = { events: [], signals: [], affinities: [], all: [], ...known };
  const errors = {};
  if (f.kind === 'json') {
    try { return { value: JSON.parse(f.json), errors, name: null }; } catch (e) { return { value: spec, errors: { json: `not JSON: ${e.message}` }, name: null }; }
  }
  const same = signalKind(spec) === f.kind;
  const base = same ? spec : {};
  const out = same ? { ...spec } : {};
  const put = putter(base, out);
  const event = (key, text, required = true) => {
    if (!text) { if (required) errors[key] = 'pick an event'; return; }
    if (k.events.length && !k.events.includes(text)) errors[key] = `“${text}” is not a declared event`;
  };
  const numberOf = (key, text) => {
    if (!NUMBER.test(String(text).trim())) { errors[key] = `“${text}” is not a number`; return text; }
    return Number(String(text).trim());
  };
  const within = (text) => { if (durationError(text)) errors.within = durationError(text); put('within', text); };
  const map = (key, rows, names, what) => {
    const o = {};
    const was = isObj(base[f.kind]) ? base[f.kind] : {};
    rows.forEach(([name, v], i) => {
      if (!name) errors[`${key}.${i}`] = `pick ${what}`;
      else if (names.length && !names.includes(name)) {
        errors[`${key}.${i}`] = k.all.includes(name) && what === 'a signal'
          ? `“${name}” is a model or an interest: a model reads numbers from other signals`
          : `“${name}” is not a declared ${what.replace(/^an? /, '')}`;
      }
      const n = numberOf(`${key}.${i}.value`, v);
      const value = has(was, name) && v === str(was[name]) ? was[name] : n;
      Object.defineProperty(o, name, { value, enumerable: true, writable: true, configurable: true });
    });
    return o;
  };
  const glob = (key, field, text, required) => {
    const e = globError(text, required);
    if (e) errors[field] = e;
    put(key, text, { optional: !required });
  };
  let name = null;
  switch (f.kind) {
    case 'count':
      event('event', f.event);
      put('count', f.event);
      within(f.within);
      glob('path', 'path', f.path, false);
      put('props', f.props, {
        optional: true,
        show: showJson,
        convert: (t) => {
          try {
            const v = JSON.parse(t);
            if (!isObj(v)) errors.props = 'an object of property values, like {"category": "boots"}';
            return v;
          } catch (e) { errors.props = `not JSON: ${e.message}`; return t; }
        },
      });
      break;
    case 'since':
      event('event', f.event);
      put('since', f.event);
      event('unless', f.unless, false);
      put('unless', f.unless, { optional: true });
      put('unit', f.unit, { optional: true });
      break;
    case 'visitor':
      if (!VISITOR_METRICS.includes(f.metric)) errors.metric = 'pick what to measure';
      put('visitor', f.metric);
      put('unit', f.unit, { optional: true });
      break;
    case 'score':
      out.score = map('points', f.points, k.events, 'an event');
      if (!f.points.length) errors.points = 'name at least one event and its points';
      within(f.within);
      break;
    case 'logistic':
      out.logistic = map('weights', f.weights, k.signals, 'a signal');
      put('bias', f.bias, { optional: true, convert: (t) => numberOf('bias', t) });
      break;
    case 'sum': case 'max':
      event('event', f.event);
      put(f.kind, f.event);
      if (!f.property.trim()) errors.property = 'name the event property that holds the amount, like value';
      put('property', f.property);
      within(f.within);
      glob('path', 'path', f.path, false);
      break;
    case 'engaged': case 'scroll':
      glob(f.kind, 'pages', f.pages, true);
      within(f.within);
      if (f.kind === 'engaged') put('unit', f.unit, { optional: true });
      break;
    case 'affinity':
      out.affinity = affinitySources(Array.isArray(base.affinity) ? base.affinity : [], f.sources, k, errors);
      if (f.half_life !== '') {
        const e = durationError(f.half_life);
        if (e) errors.half_life = e;
        else if (/^0+[smhd]$/.test(f.half_life)) errors.half_life = 'the half-life must be longer than 0s';
      }
      put('half_life', f.half_life, { optional: true });
      put('keep', f.keep, {
        optional: true,
        convert: (t) => {
          const n = Number(t.trim());
          if (!/^\d+$/.test(t.trim()) || n < 1 || n > MAX_KEEP) { errors.keep = `keep from 1 to ${MAX_KEEP} categories`; return t; }
          return n;
        },
      });
      break;
    case 'share':
      if (!f.of) errors.of = k.affinities.length || !k.all.length ? 'pick an affinity signal' : 'make an affinity signal first: a share is of its top category';
      else if (k.all.length && !k.affinities.includes(f.of)) errors.of = k.all.includes(f.of) ? `“${f.of}” is not an affinity signal: a share is of an affinity’s top category` : `“${f.of}” is not a declared signal`;
      put('share', f.of);
      break;
    case 'cluster': case 'trees': {
      if (!f.model || !f.model.trim()) break; // shown, not edited: unchanged
      const pasted = parseModel(f.model, k);
      if (pasted.error) { errors.model = pasted.error; break; }
      return { value: pasted.value, errors, name: pasted.name };
    }
    default:
      errors.kind = `the forms do not know the kind “${f.kind}”`;
  }
  // Keep the kind's key first, as people write it (and as the Worker tells kinds apart).
  if (!same) return { value: { [f.kind]: out[f.kind], ...out }, errors, name };
  return { value: out, errors, name };
}

/** An affinity's sources from their rows; each keeps its own keys, order and untouched values. */
function affinitySources(was, rows, known, errors) {
  if (!rows.length) errors.sources = 'name at least one source, such as a path pattern /category/{name}';
  return rows.map((r, i) => {
    const base = isObj(was[i]) ? was[i] : {};
    const out = { ...base };
    const at = `sources.${i}`;
    const put = putter(base, out);
    if (r.event && known.events.length && !known.events.includes(r.event)) errors[`${at}.event`] = `“${r.event}” is not a declared event`;
    put('event', r.event, { optional: true });
    if (r.from === 'property') {
      delete out.path;
      if (!r.property.trim()) errors[`${at}.property`] = 'name the event property that holds the category';
      put('property', r.property);
    } else {
      delete out.property;
      const e = r.path.trim() ? patternError(r.path) : 'give a path pattern with one {capture}, like /category/{name}';
      if (e) errors[`${at}.path`] = e;
      put('path', r.path);
    }
    put('weight', r.weight, {
      optional: true,
      convert: (t) => {
        const n = Number(t.trim());
        if (!NUMBER.test(t.trim()) || !(n > 0)) { errors[`${at}.weight`] = 'the weight must be a number above 0'; return t; }
        return n;
      },
    });
    return out;
  });
}

// ---- trained models -------------------------------------------------------------------------

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const whole = (v, below) => Number.isInteger(v) && v >= 0 && v < below;
// `trained`: how the model was trained (edgeseg train writes it; edgeseg retrain reads it); `reference`: its training distributions, for drift.
const MODEL_KEYS = { cluster: ['cluster', 'scale', 'centroids', 'names', 'trained', 'reference'], trees: ['trees', 'base', 'ensemble', 'trained', 'reference'] };

/**
 * A pasted trained model: the block `edgeseg train` prints (`{"name": {"cluster": …}}`,
 * perhaps with its heading line) or the signal alone. Returns { value, name } or { error }:
 * the checks the Worker makes of its shape (src/signals/cluster.rs, trees.rs) and of its
 * inputs (declared signals that read numbers), so a bad paste never enters the document.
 */
export function parseModel(text, known = {}) {
  const k = { signals: [], all: [], ...known };
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  const hint = 'paste the block edgeseg train prints: {"name": {"cluster": …}} or {"name": {"trees": …}}';
  if (start < 0 || end < start) return { error: hint };
  let v;
  try { v = JSON.parse(text.slice(start, end + 1)); } catch (e) { return { error: `not JSON: ${e.message}` }; }
  let name = null;
  if (isObj(v) && !isModel(v) && Object.keys(v).length === 1 && isModel(Object.values(v)[0])) [[name, v]] = Object.entries(v);
  if (!isModel(v)) return { error: `this is not a trained model (it needs “cluster” or “trees”): ${hint}` };
  if (name !== null && !/^[A-Za-z0-9_]+$/.test(name)) return { error: `“${name}” is not a signal name: letters, digits and _ only` };
  const kind = signalKind(v);
  const problems = [];
  const extra = Object.keys(v).filter((x) => !MODEL_KEYS[kind].includes(x));
  if (extra.length) problems.push(`${extra.map((x) => `“${x}”`).join(', ')} is not part of a ${kind} model`);
  const inputs = v[kind];
  if (!Array.isArray(inputs) || !inputs.every((x) => typeof x === 'string')) problems.push(`“${kind}” must list the input signals by name`);
  const d = Array.isArray(inputs) ? inputs.length : 0;
  if (d === 0 || d > MAX_FEATURES) problems.push(`a ${kind} model reads 1 to ${MAX_FEATURES} signals, got ${d}`);
  for (const x of Array.isArray(inputs) ? inputs : []) {
    if (typeof x !== 'string' || !k.all.length) continue;
    if (!k.all.includes(x)) problems.push(`its input “${x}” is not a declared signal: add it first`);
    else if (!k.signals.includes(x)) problems.push(`its input “${x}” is a model or an interest: a model reads numbers from other signals`);
  }
  if (kind === 'cluster') {
    const scale = v.scale;
    if (!Array.isArray(scale) || scale.length !== d) problems.push(`expected one scale per input (${d}), got ${Array.isArray(scale) ? scale.length : 'none'}`);
    else scale.forEach((s, i) => { if (!(isNum(s) && s > 0)) problems.push(`scale[${i}]: a scale must be above 0, got ${JSON.stringify(s)}`); });
    const cs = Array.isArray(v.centroids) ? v.centroids : [];
    if (cs.length < 1 || cs.length > MAX_CLUSTERS) problems.push(`a cluster model has 1 to ${MAX_CLUSTERS} centroids, got ${cs.length}`);
    cs.forEach((c, i) => {
      if (!Array.isArray(c) || c.length !== d) problems.push(`centroids[${i}]: expected one value per input (${d}), got ${Array.isArray(c) ? c.length : 'none'}`);
      else if (!c.every(isNum)) problems.push(`centroids[${i}]: values must be finite numbers`);
    });
    if (has(v, 'names') && v.names !== null) {
      if (!Array.isArray(v.names) || v.names.length !== cs.length) problems.push(`expected one name per centroid (${cs.length}), got ${Array.isArray(v.names) ? v.names.length : 'none'}`);
      else v.names.forEach((n, i) => { if (typeof n !== 'string') problems.push(`names[${i}] must be text`); else if (v.names.indexOf(n) < i) problems.push(`the name “${n}” is used twice`); });
    }
  } else {
    if (has(v, 'base') && !isNum(v.base)) problems.push('base must be a finite number');
    const ts = Array.isArray(v.ensemble) ? v.ensemble : [];
    if (ts.length < 1 || ts.length > MAX_TREES) problems.push(`a trees model has 1 to ${MAX_TREES} trees, got ${ts.length}`);
    ts.forEach((t, ti) => {
      if (!Array.isArray(t) || t.length < 1 || t.length > MAX_NODES) { problems.push(`ensemble[${ti}]: a tree has 1 to ${MAX_NODES} nodes, got ${Array.isArray(t) ? t.length : 'none'}`); return; }
      t.forEach((node, i) => {
        const at = `ensemble[${ti}][${i}]`;
        if (Array.isArray(node) && node.length === 1 && isNum(node[0])) return;
        if (!Array.isArray(node) || node.length !== 4 || !node.every(isNum)) { problems.push(`${at}: a node is [value] (a leaf) or [input, threshold, left, right]`); return; }
        const [input, , left, right] = node;
        if (!whole(input, d)) problems.push(`${at}: the input ${input} is not a position in “trees” (0 to ${Math.max(0, d - 1)})`);
        else if (!(whole(left, t.length) && whole(right, t.length) && left > i && right > i)) problems.push(`${at}: children must be later nodes of this tree (${i + 1} to ${t.length - 1})`);
      });
    });
  }
  if (problems.length) {
    const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
    return { error: `not used: ${problems.slice(0, 3).join('; ')}${more}` };
  }
  return { value: v, name };
}

/** A trained model's parts, to show it read-only: inputs, and per kind its shape in numbers. */
export function modelSummary(spec) {
  const kind = signalKind(spec);
  const inputs = Array.isArray(spec[kind]) ? spec[kind].map(String) : [];
  if (kind === 'cluster') {
    const cs = Array.isArray(spec.centroids) ? spec.centroids : [];
    return {
      kind, inputs,
      scale: Array.isArray(spec.scale) ? spec.scale : [],
      clusters: cs.map((c, i) => ({ name: Array.isArray(spec.names) && spec.names[i] !== undefined ? String(spec.names[i]) : String(i), values: Array.isArray(c) ? c : [] })),
    };
  }
  const trees = Array.isArray(spec.ensemble) ? spec.ensemble : [];
  const splits = inputs.map(() => 0);
  let nodes = 0;
  for (const t of trees) {
    if (!Array.isArray(t)) continue;
    nodes += t.length;
    for (const n of t) if (Array.isArray(n) && n.length === 4 && splits[n[0]] !== undefined) splits[n[0]]++;
  }
  return { kind, inputs, base: isNum(spec.base) ? spec.base : 0, trees: trees.length, nodes, splits };
}
