// The builder's forms as plain values: a segment, a signal or a block's content turned into
// the text its fields show (xFields), and those fields written back onto the object
// (applyX), with an error per field. Pure (no DOM), so the round trip is unit-tested:
// applyX(o, xFields(o)).value is o again, key order and explicit nulls included. Keys a form
// does not know are kept as they are; a field left empty keeps an absent key absent and a
// null null.
import { durationError } from './conditions.js';

const ID = /^[A-Za-z0-9_]+$/;
const NUMBER = /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Sets an optional key from a field's text: empty keeps absent/null/"" as it was, else deletes. */
function setOptional(obj, key, text, convert = (t) => t) {
  if (text === '' || text === undefined || text === null) {
    if (has(obj, key) && obj[key] !== null && obj[key] !== '') delete obj[key];
    return;
  }
  obj[key] = convert(text);
}

const str = (v) => (v === null || v === undefined ? '' : String(v));

// ---- segments -------------------------------------------------------------------------------

export function segmentFields(seg) {
  return {
    id: str(seg.id),
    description: str(seg.description),
    priority: has(seg, 'priority') ? str(seg.priority) : '',
    enter_after: str(seg.enter_after),
    hold_for: str(seg.hold_for),
  };
}

/** Writes the fields onto a copy of `seg` (condition untouched). `others`: the other ids. */
export function applySegmentFields(seg, f, others = []) {
  const out = { ...seg };
  const errors = {};
  const id = f.id.trim();
  if (!ID.test(id)) errors.id = 'an id uses letters, digits and _ only, and is not empty';
  else if (others.includes(id)) errors.id = `another segment is called “${id}”`;
  out.id = f.id === seg.id ? seg.id : id;
  setOptional(out, 'description', f.description);
  const p = f.priority.trim();
  if (p !== '' && !/^-?\d+$/.test(p)) errors.priority = `“${f.priority}” is not a whole number`;
  setOptional(out, 'priority', f.priority, (t) => (/^-?\d+$/.test(t.trim()) ? Number(t.trim()) : t));
  for (const k of ['enter_after', 'hold_for']) {
    if (f[k] !== '') { const e = durationError(f[k]); if (e) errors[k] = e; }
    setOptional(out, k, f[k]);
  }
  return { value: out, errors };
}

// ---- signals --------------------------------------------------------------------------------

export const SIGNAL_KINDS = {
  count: 'Count of an event in a window',
  since: 'Time since an event',
  visitor: 'A fact about the visits',
  score: 'Points per event in a window',
  logistic: 'A model over other signals',
};
export const TIME_UNITS = ['seconds', 'minutes', 'hours', 'days'];
export const VISITOR_METRICS = ['sessions', 'session_pages', 'session_duration', 'since_first_visit', 'since_previous_visit'];

/** The kind of a signal (its first known key), or null when the forms do not know it. */
export function signalKind(spec) {
  if (!isObj(spec)) return null;
  const k = Object.keys(spec).find((x) => x in SIGNAL_KINDS);
  return k || null;
}

export function signalFields(spec) {
  const kind = signalKind(spec);
  const f = { kind: kind || 'json', json: JSON.stringify(spec, null, 2) };
  if (kind === 'count') Object.assign(f, { event: str(spec.count), within: str(spec.within), path: str(spec.path), props: isObj(spec.props) ? JSON.stringify(spec.props) : '' });
  if (kind === 'since') Object.assign(f, { event: str(spec.since), unless: str(spec.unless), unit: str(spec.unit) });
  if (kind === 'visitor') Object.assign(f, { metric: str(spec.visitor), unit: str(spec.unit) });
  if (kind === 'score') Object.assign(f, { points: isObj(spec.score) ? Object.entries(spec.score).map(([k, v]) => [k, str(v)]) : [], within: str(spec.within) });
  if (kind === 'logistic') Object.assign(f, { weights: isObj(spec.logistic) ? Object.entries(spec.logistic).map(([k, v]) => [k, str(v)]) : [], bias: has(spec, 'bias') ? str(spec.bias) : '' });
  return f;
}

/**
 * Writes signal fields back. `known`: { events: [...names, page_view included], signals: [...] }
 * for the pickers' checks. Changing the kind starts a new object of that kind.
 */
export function applySignalFields(spec, f, known = { events: [], signals: [] }) {
  const errors = {};
  if (f.kind === 'json') {
    try { return { value: JSON.parse(f.json), errors }; } catch (e) { return { value: spec, errors: { json: `not JSON: ${e.message}` } }; }
  }
  const out = signalKind(spec) === f.kind ? { ...spec } : {};
  const event = (key, text, required = true) => {
    if (!text) { if (required) errors[key] = 'pick an event'; return; }
    if (known.events.length && !known.events.includes(text)) errors[key] = `“${text}” is not a declared event`;
  };
  const numberOf = (key, text) => {
    if (!NUMBER.test(String(text).trim())) { errors[key] = `“${text}” is not a number`; return text; }
    return Number(String(text).trim());
  };
  const map = (key, rows, names, what) => {
    const o = {};
    rows.forEach(([k, v], i) => {
      if (!k) errors[`${key}.${i}`] = `pick ${what}`;
      else if (names.length && !names.includes(k)) errors[`${key}.${i}`] = `“${k}” is not a declared ${what.replace(/^an? /, '')}`;
      Object.defineProperty(o, k, { value: numberOf(`${key}.${i}.value`, v), enumerable: true, writable: true, configurable: true });
    });
    return o;
  };
  if (f.kind === 'count') {
    event('event', f.event);
    out.count = f.event;
    if (durationError(f.within)) errors.within = durationError(f.within);
    out.within = f.within;
    setOptional(out, 'path', f.path);
    setOptional(out, 'props', f.props, (t) => {
      try {
        const v = JSON.parse(t);
        if (!isObj(v)) errors.props = 'an object of property values, like {"category": "boots"}';
        return v;
      } catch (e) { errors.props = `not JSON: ${e.message}`; return t; }
    });
  } else if (f.kind === 'since') {
    event('event', f.event);
    out.since = f.event;
    event('unless', f.unless, false);
    setOptional(out, 'unless', f.unless);
    setOptional(out, 'unit', f.unit);
  } else if (f.kind === 'visitor') {
    if (!VISITOR_METRICS.includes(f.metric)) errors.metric = 'pick what to measure';
    out.visitor = f.metric;
    setOptional(out, 'unit', f.unit);
  } else if (f.kind === 'score') {
    out.score = map('points', f.points, known.events, 'an event');
    if (durationError(f.within)) errors.within = durationError(f.within);
    out.within = f.within;
  } else if (f.kind === 'logistic') {
    out.logistic = map('weights', f.weights, known.signals, 'a signal');
    setOptional(out, 'bias', f.bias, (t) => numberOf('bias', t));
  }
  // Keep the kind's key first, as people write it (and as the Worker tells kinds apart).
  if (signalKind(spec) !== f.kind) return { value: { [f.kind]: out[f.kind], ...out }, errors };
  return { value: out, errors };
}

// ---- block content --------------------------------------------------------------------------

export const HTML_ACTIONS = {
  inner_html: 'Replace its content',
  outer_html: 'Replace the whole element',
  before: 'Insert before it',
  after: 'Insert after it',
};

export function contentFields(spec) {
  const s = isObj(spec) ? spec : {};
  return {
    inner_html: str(s.inner_html), outer_html: str(s.outer_html), before: str(s.before), after: str(s.after),
    remove: s.remove === true,
    attrs: isObj(s.set_attributes) ? Object.entries(s.set_attributes).map(([k, v]) => [k, str(v)]) : [],
  };
}

export function applyContentFields(spec, f) {
  const out = isObj(spec) ? { ...spec } : {};
  const errors = {};
  for (const k of Object.keys(HTML_ACTIONS)) setOptional(out, k, f[k]);
  if (f.remove) out.remove = true;
  else if (out.remove === true) delete out.remove;
  if (f.attrs.length || has(out, 'set_attributes')) {
    if (!f.attrs.length && isObj(out.set_attributes) && Object.keys(out.set_attributes).length) delete out.set_attributes;
    else if (f.attrs.length) {
      const o = {};
      f.attrs.forEach(([k, v], i) => {
        if (!/^[A-Za-z_:][-A-Za-z0-9_:.]*$/.test(k)) errors[`attrs.${i}`] = `“${k}” is not an attribute name`;
        else if (/^on/i.test(k)) errors[`attrs.${i}`] = 'event handler attributes (on…) are not allowed';
        Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      });
      out.set_attributes = o;
    }
  }
  if (f.remove && (f.inner_html || f.outer_html || f.attrs.length)) errors.remove = 'removing the element excludes replacing it or setting attributes';
  if (f.inner_html && f.outer_html) errors.outer_html = 'replace the content or the whole element, not both';
  return { value: out, errors };
}
