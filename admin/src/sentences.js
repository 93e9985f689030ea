// Conditions and signals in plain words, for the segments overview and the builder's pickers.
// Pure (no DOM). The attribute list mirrors BUILT_IN_ATTRIBUTES in src/request.rs and the
// README's attribute table; a test checks the names against the Rust list.
import { OPERATORS, durationWords, splitDuration } from './conditions.js';

/** Built-in attributes: label, value type, what it is, and fixed values where it has them. */
export const ATTRIBUTES = {
  path: { type: 'string', label: 'page path', about: 'The request path, decoded (“/products/trail-runner”).' },
  url: { type: 'string', label: 'page URL', about: 'The full URL of the request.' },
  query: { type: 'object', label: 'query parameters', about: 'The query parameters as an object; read one as query.NAME.' },
  referrer: { type: 'string', label: 'referrer', about: 'The Referer header: the page the visitor came from.' },
  referrer_host: { type: 'string', label: 'referring site', about: 'The host name of the referrer (“www.google.com”).' },
  utm_source: { type: 'string', label: 'campaign source (utm_source)', about: 'utm_source from the query; absent when not given.' },
  utm_medium: { type: 'string', label: 'campaign medium (utm_medium)', about: 'utm_medium from the query; absent when not given.' },
  utm_campaign: { type: 'string', label: 'campaign (utm_campaign)', about: 'utm_campaign from the query; absent when not given.' },
  utm_term: { type: 'string', label: 'campaign term (utm_term)', about: 'utm_term from the query; absent when not given.' },
  utm_content: { type: 'string', label: 'campaign content (utm_content)', about: 'utm_content from the query; absent when not given.' },
  device: { type: 'string', label: 'device', about: 'Device class from the User-Agent.', values: ['mobile', 'tablet', 'desktop', 'bot'] },
  country: { type: 'string', label: 'country', about: 'ISO country code from Cloudflare (“DE”); absent locally.' },
  language: { type: 'string', label: 'language', about: 'The primary language of Accept-Language (“de”).' },
  hour: { type: 'number', label: 'hour of the day (UTC)', about: 'UTC hour, 0–23.' },
  weekday: { type: 'number', label: 'weekday (UTC)', about: 'UTC weekday, 0 (Sunday) to 6.' },
  segments: { type: 'array', label: 'segments', about: 'The visitor’s segments (those evaluated before this one).' },
  counters: { type: 'object', label: 'counters', about: 'Aggregate counters, today’s UTC totals (approximate); read one as counters.NAME.' },
  id: { type: 'string', label: 'visitor id', about: 'The random visitor id (hex).' },
};

const q = (s) => `“${s}”`;
const human = (name) => String(name).replace(/_/g, ' ');
const num = (n) => (typeof n === 'number' ? n.toLocaleString('en-US', { maximumFractionDigits: 6 }) : JSON.stringify(n));
const list = (xs, word = 'or') => {
  const parts = xs.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} ${word} ${parts[parts.length - 1]}`;
};
const eventPhrase = (e) => (e === 'page_view' ? 'viewed a page' : `did ${q(human(e))}`);
/** "10m" -> "the last 10 minutes", "1h" -> "the last hour". */
const lastWords = (d) => {
  const s = splitDuration(d);
  return s && s.n === 1 ? `the last ${durationWords(d).slice(2)}` : `the last ${durationWords(d)}`;
};
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A glob path filter in words: "/products/*" -> "under /products/". */
export function pathWords(glob) {
  if (!glob) return '';
  if (/^[^*]*\/\*$/.test(glob)) return `under ${glob.slice(0, -1)}`;
  if (!glob.includes('*')) return `at ${glob}`;
  return `matching ${glob}`;
}

/** What a signal measures, as a sentence ("page views under /products/ in the last 10 minutes"). */
export function describeSignal(spec, doc = {}) {
  if (!isObj(spec)) return 'a signal the page cannot describe';
  if ('count' in spec) {
    const what = spec.count === 'page_view' ? 'page views' : `${q(human(spec.count))} events`;
    const where = spec.path ? ` ${pathWords(spec.path)}` : '';
    const props = isObj(spec.props) && Object.keys(spec.props).length
      ? ` with ${Object.entries(spec.props).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(' and ')}` : '';
    return `the number of ${what}${where}${props} in ${lastWords(spec.within)}`;
  }
  if ('since' in spec) {
    const unit = spec.unit || 'seconds';
    const unless = spec.unless ? `, unless ${q(human(spec.unless))} happened after it` : '';
    return `${unit} since the visitor last did ${q(human(spec.since))}${unless} (absent if never)`;
  }
  if ('visitor' in spec) {
    const unit = spec.unit || 'seconds';
    return {
      sessions: 'the number of visits (sessions), this one included',
      session_pages: 'pages viewed in this visit',
      session_duration: `${unit} since this visit started`,
      since_first_visit: `${unit} since the first visit`,
      since_previous_visit: `${unit} between the previous visit and this one (absent on a first visit)`,
    }[spec.visitor] || `the visitor metric ${q(spec.visitor)}`;
  }
  if ('score' in spec) {
    const parts = Object.entries(spec.score || {}).map(([e, p]) => `${human(e)} ${num(p)}`);
    return `points over ${lastWords(spec.within)} (${parts.join(', ') || 'no events'} per event)`;
  }
  if ('logistic' in spec) {
    return `a probability from 0 to 1, from a model over ${list(Object.keys(spec.logistic || {}), 'and') || 'no inputs'}`;
  }
  if ('sum' in spec || 'max' in spec) {
    const sum = 'sum' in spec;
    const where = spec.path ? ` ${pathWords(spec.path)}` : '';
    return `${sum ? 'the total' : 'the largest'} ${q(spec.property)} of ${q(human(sum ? spec.sum : spec.max))} events${where} in ${lastWords(spec.within)}${sum ? ' (refunds count against it)' : ' (absent if none)'}`;
  }
  if ('engaged' in spec) {
    return `${spec.unit || 'seconds'} of active reading on pages ${pathWords(spec.engaged)} in ${lastWords(spec.within)}`;
  }
  if ('scroll' in spec) {
    return `the deepest scroll (0 to 100 %) on pages ${pathWords(spec.scroll)} in ${lastWords(spec.within)}`;
  }
  if ('affinity' in spec) {
    const sources = (Array.isArray(spec.affinity) ? spec.affinity : []).map((s) => (isObj(s) && s.path
      ? `pages at ${s.path}`
      : `${q(human(isObj(s) && s.event || 'page_view'))} by ${q(isObj(s) && s.property)}`));
    return `the visitor’s top interest (a category name) from ${list(sources, 'and') || 'no sources'}, fading by half every ${durationWords(spec.half_life || '30d')}`;
  }
  if ('share' in spec) {
    return `the share (0 to 1) of interest that ${q(spec.share)}’s top category holds`;
  }
  if ('cluster' in spec) {
    const features = Array.isArray(spec.cluster) ? spec.cluster.map(String) : [];
    const k = Array.isArray(spec.centroids) ? spec.centroids.length : 0;
    const names = Array.isArray(spec.names) && spec.names.length ? `, named ${list(spec.names.map((n) => q(String(n))), 'or')}` : ', numbered from 0';
    return `a trained k-means model over ${features.length} feature${features.length === 1 ? '' : 's'} (${list(features, 'and') || 'none'}): the nearest of ${k} cluster${k === 1 ? '' : 's'}${names}`;
  }
  if ('trees' in spec) {
    const features = Array.isArray(spec.trees) ? spec.trees.map(String) : [];
    const n = Array.isArray(spec.ensemble) ? spec.ensemble.length : 0;
    return `a probability from 0 to 1, from a trained ensemble of ${n} decision tree${n === 1 ? '' : 's'} over ${list(features, 'and') || 'no inputs'}`;
  }
  return 'a signal the page cannot describe (see the JSON)';
}

/** The value type of an attribute name (signals are numbers; an affinity's and a named cluster's are text), or undefined. */
export function attributeType(name, doc = {}) {
  if (doc.signals && Object.prototype.hasOwnProperty.call(doc.signals, name)) {
    // A named cluster signal's value is the cluster's name; an affinity's, a category.
    const s = doc.signals[name];
    if (isObj(s) && 'affinity' in s) return 'string';
    return isObj(s) && 'cluster' in s && Array.isArray(s.names) && s.names.length ? 'string' : 'number';
  }
  if (name.startsWith('counters.')) return 'number';
  if (name.startsWith('query.')) return 'string';
  return ATTRIBUTES[name]?.type;
}

/** An attribute's name in words ("campaign (utm_campaign)", "counter cart_offer_shown"). */
export function attributeWords(name) {
  if (ATTRIBUTES[name]) return ATTRIBUTES[name].label;
  if (name.startsWith('counters.')) return `today’s count of ${q(name.slice(9))}`;
  if (name.startsWith('query.')) return `query parameter ${q(name.slice(6))}`;
  return name;
}

function comparison(op, v) {
  switch (op) {
    case '$gt': return `more than ${num(v)}`;
    case '$gte': return `at least ${num(v)}`;
    case '$lt': return `fewer than ${num(v)}`;
    case '$lte': return `at most ${num(v)}`;
    case '$eq': return `exactly ${num(v)}`;
    case '$ne': return `other than ${num(v)}`;
    default: return null;
  }
}

/** A signal's test in words, by kind, or null to fall back to "NAME is at least 3". */
function signalTest(spec, op, v) {
  if (!isObj(spec)) return null;
  if ('count' in spec && typeof v === 'number') {
    const c = comparison(op, v);
    if (!c) return null;
    const what = spec.count === 'page_view' ? `viewed pages${spec.path ? ` ${pathWords(spec.path)}` : ''}` : eventPhrase(spec.count);
    const times = (op === '$eq' || op === '$ne') && v === 0 ? (op === '$eq' ? 'never' : 'at least once') : `${c} time${v === 1 ? '' : 's'}`;
    return `${what} ${times} in ${lastWords(spec.within)}`;
  }
  if ('since' in spec) {
    const unit = spec.unit || 'seconds';
    const after = spec.unless ? ` and not ${q(human(spec.unless))} since` : '';
    if (op === '$exists') return v ? `${eventPhrase(spec.since)}${after}` : `has not ${eventPhrase(spec.since).replace(/^did /, 'done ').replace(/^viewed/, 'viewed')}${after ? ` (or did ${q(human(spec.unless))} after it)` : ''}`;
    if (typeof v !== 'number') return null;
    const ago = { $gt: 'more than', $gte: 'at least', $lt: 'less than', $lte: 'at most' }[op];
    if (!ago) return null;
    return `${eventPhrase(spec.since)} ${ago} ${num(v)} ${unit} ago${after}`;
  }
  if ('visitor' in spec && typeof v === 'number') {
    const c = comparison(op, v);
    if (!c) return null;
    const unit = spec.unit || 'seconds';
    switch (spec.visitor) {
      case 'sessions': return `has had ${c} visit${v === 1 ? '' : 's'}`;
      case 'session_pages': return `has viewed ${c} page${v === 1 ? '' : 's'} in this visit`;
      case 'session_duration': return `has been on the site ${c} ${unit} in this visit`;
      case 'since_first_visit': return `first visited ${c} ${unit} ago`;
      case 'since_previous_visit': return `came back after ${c} ${unit} away`;
      default: return null;
    }
  }
  if ('score' in spec && typeof v === 'number') {
    const c = comparison(op, v);
    return c ? `scored ${c} points in ${lastWords(spec.within)}` : null;
  }
  const amount = typeof v === 'number' && { $gt: 'more than', $gte: 'at least', $lt: 'less than', $lte: 'at most', $eq: 'exactly', $ne: 'other than' }[op];
  if (('sum' in spec || 'max' in spec) && amount) {
    const where = spec.path ? ` ${pathWords(spec.path)}` : '';
    return `the ${'sum' in spec ? 'total' : 'largest'} ${q(spec.property)} of ${q(human(spec.sum ?? spec.max))} events${where} in ${lastWords(spec.within)} is ${amount} ${num(v)}`;
  }
  if ('engaged' in spec && amount) return `read pages ${pathWords(spec.engaged)} for ${amount} ${num(v)} ${spec.unit || 'seconds'} in ${lastWords(spec.within)}`;
  if ('scroll' in spec && amount) return `scrolled ${amount} ${num(v)} % down pages ${pathWords(spec.scroll)} in ${lastWords(spec.within)}`;
  if ('affinity' in spec) {
    if (op === '$exists') return v ? 'has a known interest' : 'has no known interest yet';
    if (op === '$eq' && typeof v === 'string') return `is most interested in ${q(v)}`;
    if (op === '$ne' && typeof v === 'string') return `is not most interested in ${q(v)}`;
    if (op === '$in' && Array.isArray(v)) return `is most interested in ${list(v.map(q))}`;
  }
  if ('share' in spec && amount) return `their top interest holds ${amount} ${num(v * 100)} % of their interest (${q(spec.share)})`;
  return null;
}

/** One attribute test in words. */
export function describeTest(attr, op, v, doc = {}, bare = false) {
  const signal = doc.signals && Object.prototype.hasOwnProperty.call(doc.signals, attr) ? doc.signals[attr] : undefined;
  if (signal !== undefined) {
    const said = signalTest(signal, op, v);
    if (said) return said;
  }
  if (attr === 'segments') {
    const segs = Array.isArray(v) ? v : [v];
    if (op === '$in' || op === '$elemMatch') return `is in segment ${list(segs.map(q))}`;
    if (op === '$nin') return `is in none of the segments ${list(segs.map(q))}`;
    if (op === '$all') return `is in the segments ${list(segs.map(q), 'and')}`;
  }
  if (op === '$exists') {
    if (attr.startsWith('utm_')) return v ? `came from a campaign link with ${attr}` : `has no ${attr} in the link`;
    return `${attributeWords(attr)} is ${v ? 'set' : 'not set'}`;
  }
  const name = signal !== undefined ? human(attr) : attributeWords(attr);
  const value = (x) => (typeof x === 'string' ? q(x) : Array.isArray(x) ? list(x.map((e) => (typeof e === 'string' ? q(e) : JSON.stringify(e)))) : JSON.stringify(x));
  if (op === '$eq') return `${name} is ${value(v)}`;
  if (op === '$ne') return `${name} is not ${value(v)}`;
  if (attr === 'path' && (op === '$regex' || op === '$regexi') && typeof v === 'string' && /^\^\/[\w/-]*$/.test(v)) return `is on a page under ${v.slice(1)}`;
  if (['$gt', '$gte', '$lt', '$lte'].includes(op) && typeof v === 'number') {
    const words = { $gt: 'is more than', $gte: 'is at least', $lt: 'is below', $lte: 'is at most' }[op];
    return `${name} ${words} ${num(v)}`;
  }
  const label = OPERATORS[op]?.label || op;
  return `${name} ${label} ${value(v)}`;
}

/**
 * A whole condition in words: "viewed pages under /products/ at least 3 times in the last
 * 10 minutes, and has not done “purchase”". An empty condition is "everyone".
 */
export function describeCondition(cond, doc = {}) {
  if (!isObj(cond)) return `a condition written as JSON (${JSON.stringify(cond)})`;
  const parts = [];
  for (const [k, t] of Object.entries(cond)) {
    if (k === '$and' && Array.isArray(t)) parts.push(t.map((c) => describeCondition(c, doc)).join(', and '));
    else if (k === '$or' && Array.isArray(t)) parts.push(t.length ? `either ${t.map((c) => describeCondition(c, doc)).join(', or ')}` : 'nobody');
    else if (k === '$nor' && Array.isArray(t)) parts.push(`not (${t.map((c) => describeCondition(c, doc)).join(', nor ')})`);
    else if (k === '$not') parts.push(`not (${describeCondition(t, doc)})`);
    else if (k[0] === '$') parts.push(`${k} ${JSON.stringify(t)}`);
    else if (isObj(t) && Object.keys(t).length && Object.keys(t).every((o) => o[0] === '$')) {
      for (const [op, v] of Object.entries(t)) {
        if (op === '$not') parts.push(`not (${describeCondition({ [k]: v }, doc)})`);
        else if (op === '$elemMatch' && isObj(v)) parts.push(`${attributeWords(k)} has an item that ${Object.entries(v).map(([o, x]) => `${OPERATORS[o]?.label || o} ${JSON.stringify(x)}`).join(' and ')}`);
        else parts.push(describeTest(k, op, v, doc));
      }
    } else parts.push(describeTest(k, '$eq', t, doc, true));
  }
  if (!parts.length) return 'everyone';
  return parts.join(', and ');
}

/** How a segment's membership starts and ends, in words. */
export function describeStickiness(seg) {
  const enter = seg.enter_after && splitDuration(seg.enter_after)?.n ? `joins once the condition has held for ${durationWords(seg.enter_after)}` : 'joins as soon as the condition holds';
  const hold = seg.hold_for && splitDuration(seg.hold_for)?.n ? `stays ${durationWords(seg.hold_for)} after it stops holding` : 'leaves when it stops holding';
  return `${enter}; ${hold}`;
}

/** Signal names a condition reads, in order. */
export function signalsUsed(cond, doc = {}, out = []) {
  const signals = doc.signals || {};
  const walk = (c) => {
    if (Array.isArray(c)) c.forEach(walk);
    else if (isObj(c)) {
      for (const [k, v] of Object.entries(c)) {
        if (k[0] === '$') walk(v);
        else if (Object.prototype.hasOwnProperty.call(signals, k) && !out.includes(k)) out.push(k);
      }
    }
  };
  walk(cond);
  // A model signal (logistic, cluster, trees) reads other signals, a share its affinity: name those too.
  for (let i = 0; i < out.length; i++) {
    const s = signals[out[i]];
    if (!isObj(s)) continue;
    const inputs = isObj(s.logistic) ? Object.keys(s.logistic)
      : Array.isArray(s.cluster) ? s.cluster : Array.isArray(s.trees) ? s.trees : typeof s.share === 'string' ? [s.share] : [];
    for (const k of inputs) if (typeof k === 'string' && signals[k] !== undefined && !out.includes(k)) out.push(k);
  }
  return out;
}

/** What a content spec does to its block, in words ("replaces its content", "removes it"). */
export function describeContent(spec) {
  if (!isObj(spec)) return 'content written as JSON';
  const acts = [];
  if (spec.remove) acts.push('removes it');
  if (typeof spec.outer_html === 'string') acts.push('replaces the whole element');
  if (typeof spec.inner_html === 'string') acts.push('replaces its content');
  if (isObj(spec.set_attributes) && Object.keys(spec.set_attributes).length) acts.push(`sets ${Object.keys(spec.set_attributes).join(', ')}`);
  if (typeof spec.before === 'string') acts.push('adds HTML before it');
  if (typeof spec.after === 'string') acts.push('adds HTML after it');
  return acts.length ? acts.join(', ') : 'leaves it as it is';
}
