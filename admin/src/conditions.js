// Conditions as builder rows and groups, and back. Pure (no DOM), so node's test runner
// checks it directly (tests/admin-unit/).
//
// A condition (GrowthBook's targeting language) becomes a tree:
//   group { kind: 'group', mode: 'all' | 'any' | 'none', form: 'object' | 'list', items }
//   row   { kind: 'row', attr, op, value, bare }   one attribute test ("bare": `{"country": "DE"}`)
//   raw   { kind: 'raw', json }                    anything the rows cannot say, kept as JSON
// and `toCondition(fromCondition(c))` is `c` again, key order included, for every condition
// (the unit test runs it over the example rules and GrowthBook's own test cases). What the
// builder cannot show as rows ($not, $elemMatch, operators it does not know, values of odd
// shapes) stays in the tree as a raw item that the page shows as editable JSON: never dropped.

/** Operators a row can hold, with the kind of value input that fits them. */
export const OPERATORS = {
  $eq: { label: 'is', value: 'scalar' },
  $ne: { label: 'is not', value: 'scalar' },
  $gt: { label: 'is more than', value: 'number' },
  $gte: { label: 'is at least', value: 'number' },
  $lt: { label: 'is less than', value: 'number' },
  $lte: { label: 'is at most', value: 'number' },
  $in: { label: 'is one of', value: 'list' },
  $nin: { label: 'is none of', value: 'list' },
  $ini: { label: 'is one of (any case)', value: 'list' },
  $nini: { label: 'is none of (any case)', value: 'list' },
  $all: { label: 'includes all of', value: 'list' },
  $alli: { label: 'includes all of (any case)', value: 'list' },
  $exists: { label: 'is set', value: 'bool' },
  $regex: { label: 'matches the pattern', value: 'text' },
  $regexi: { label: 'matches the pattern (any case)', value: 'text' },
  $type: { label: 'is of type', value: 'type' },
  $size: { label: 'has this many items', value: 'number' },
  $veq: { label: 'is version', value: 'text' },
  $vne: { label: 'is not version', value: 'text' },
  $vgt: { label: 'is a version after', value: 'text' },
  $vgte: { label: 'is version or after', value: 'text' },
  $vlt: { label: 'is a version before', value: 'text' },
  $vlte: { label: 'is version or before', value: 'text' },
  $inGroup: { label: 'is in the saved group', value: 'group' },
  $notInGroup: { label: 'is not in the saved group', value: 'group' },
};

export const TYPES = ['string', 'number', 'boolean', 'array', 'object', 'null'];
const LIST_KEYS = { $and: 'all', $or: 'any', $nor: 'none' };
const KEY_OF = { all: '$and', any: '$or', none: '$nor' };

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
/** GrowthBook's rule: an object is an operator test when it has keys and all start with `$`. */
export const isOperatorObject = (v) => isPlainObject(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => k[0] === '$');

export const row = (attr, op, value, bare = false) => ({ kind: 'row', attr, op, value, bare });
export const group = (mode, items = [], form = mode === 'all' ? 'object' : 'list') => ({ kind: 'group', mode, form, items });
export const raw = (json) => ({ kind: 'raw', json });

/** The rows of one `attribute: test` pair, or null when the test needs a raw item. */
function testToRows(attr, test) {
  if (!isOperatorObject(test)) return [row(attr, '$eq', test, true)];
  const rows = [];
  for (const [op, v] of Object.entries(test)) {
    if (!(op in OPERATORS) || !fitsOperator(op, v)) return null;
    rows.push(row(attr, op, v));
  }
  return rows;
}

/** Whether a value is one the row's input for `op` can show (others keep the test raw). */
function fitsOperator(op, v) {
  switch (OPERATORS[op].value) {
    case 'bool': return typeof v === 'boolean';
    case 'number': return op === '$size' ? typeof v === 'number' : true;
    case 'type': return TYPES.includes(v);
    case 'group': return typeof v === 'string';
    default: return true;
  }
}

function entriesToItems(obj) {
  const items = [];
  for (const [k, v] of Object.entries(obj)) {
    if (k in LIST_KEYS && Array.isArray(v)) {
      items.push(group(LIST_KEYS[k], v.map(elementToItem), 'list'));
    } else if (k[0] === '$') {
      items.push(raw({ [k]: v }));
    } else {
      const rows = testToRows(k, v);
      if (rows) items.push(...rows);
      else items.push(raw({ [k]: v }));
    }
  }
  return items;
}

/** One element of an `$and` / `$or` / `$nor` list. */
function elementToItem(c) {
  if (!isPlainObject(c)) return raw(c);
  const items = entriesToItems(c);
  if (Object.keys(c).length === 1 && items.length === 1) return items[0];
  return group('all', items, 'object');
}

/** The builder tree of a condition. A condition that is not an object is one raw item. */
export function fromCondition(cond) {
  if (!isPlainObject(cond)) return group('all', [raw(cond)], 'object');
  const items = entriesToItems(cond);
  if (Object.keys(cond).length === 1 && items.length === 1 && items[0].kind === 'group') return items[0];
  return group('all', items, 'object');
}

/** The condition of a builder tree (the root group). */
export function toCondition(root) {
  if (root.kind !== 'group') return elementOf(root);
  if (root.items.length === 1 && root.items[0].kind === 'raw' && !isPlainObject(root.items[0].json) && root.form === 'object') {
    return root.items[0].json;
  }
  return condOf(root);
}

function condOf(g) {
  if (g.mode === 'all' && g.form === 'object') return objectOf(g.items);
  return { [KEY_OF[g.mode]]: g.items.map(elementOf) };
}

function elementOf(item) {
  if (item.kind === 'raw') return item.json;
  if (item.kind === 'group') return condOf(item);
  return { [item.attr]: testOf([item]) };
}

function testOf(rows) {
  if (rows.length === 1 && rows[0].bare) return rows[0].value;
  return Object.fromEntries(rows.map((r) => [r.op, r.value]));
}

/**
 * Items merged into one object: rows of one attribute become one test object. When two items
 * want the same key (two `$or` groups, a bare row beside another row of its attribute, one
 * operator twice), the items go into an `$and` list instead, which means the same.
 */
function objectOf(items) {
  const byAttr = new Map();
  const out = [];
  let clash = false;
  const keys = new Set();
  const claim = (k) => { if (keys.has(k)) clash = true; keys.add(k); };
  for (const item of items) {
    if (item.kind === 'row') {
      if (!byAttr.has(item.attr)) {
        claim(item.attr);
        const rows = [];
        byAttr.set(item.attr, rows);
        out.push(['attr', item.attr, rows]);
      }
      const rows = byAttr.get(item.attr);
      if (rows.length && (item.bare || rows.some((r) => r.bare || r.op === item.op))) clash = true;
      rows.push(item);
    } else if (item.kind === 'group') {
      const c = condOf(item);
      for (const k of Object.keys(c)) claim(k);
      out.push(['cond', c]);
    } else {
      if (!isPlainObject(item.json)) { clash = true; continue; }
      for (const k of Object.keys(item.json)) claim(k);
      out.push(['cond', item.json]);
    }
  }
  if (clash) return { $and: items.map(elementOf) };
  const obj = {};
  // defineProperty, not assignment: an attribute named "__proto__" stays a key.
  const put = (k, v) => Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  for (const part of out) {
    if (part[0] === 'attr') put(part[1], testOf(part[2]));
    else for (const [k, v] of Object.entries(part[1])) put(k, v);
  }
  return obj;
}

/** Every attribute a condition reads (rows and raw items), in document order. */
export function attributesOf(cond, out = new Set()) {
  if (Array.isArray(cond)) cond.forEach((c) => attributesOf(c, out));
  else if (isPlainObject(cond)) {
    for (const [k, v] of Object.entries(cond)) {
      if (k in LIST_KEYS || k === '$not') attributesOf(v, out);
      else if (k[0] !== '$') out.add(k);
    }
  }
  return out;
}

// ---- values as the builder's inputs show them --------------------------------------------

/**
 * Which input a row's value gets: 'number', 'text', 'list', 'bool', 'type', 'group',
 * 'enum' (attr has a fixed set, e.g. device) or 'json' (a value of another shape, shown as JSON).
 * `attrType` is 'number', 'string', 'array', 'object' or undefined (unknown).
 */
const NUMBER = /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

export function inputKind(op, value, attrType) {
  const want = OPERATORS[op]?.value || 'json';
  if (want === 'list') {
    if (!Array.isArray(value)) return 'json';
    if (value.every((v) => typeof v === 'string' && !v.includes(',') && v === v.trim() && v !== '')) return 'list';
    if (value.every((v) => typeof v === 'number' && Number.isFinite(v))) return 'numlist';
    return 'json';
  }
  if (want === 'number' || (want === 'scalar' && attrType === 'number')) {
    if (typeof value === 'number') return 'number';
    // A string compared with a number attribute: a number field that shows it as not a
    // number, unless it reads as one (then kept as text, so it stays a string).
    if (typeof value === 'string') return attrType === 'number' && !NUMBER.test(value.trim()) ? 'number' : 'text';
    return 'json';
  }
  if (want === 'scalar') {
    if (typeof value === 'number') return 'number';
    if (typeof value === 'boolean') return 'boolval';
    if (typeof value === 'string') return 'text';
    return 'json';
  }
  if (want === 'text') return typeof value === 'string' ? 'text' : 'json';
  return want;
}

/** The text an input shows for a value. */
export function formatValue(kind, value) {
  switch (kind) {
    case 'list': return value.join(', ');
    case 'numlist': return value.map(String).join(', ');
    case 'number': return String(value);
    case 'bool': case 'boolval': return String(value);
    case 'json': return JSON.stringify(value);
    default: return value === undefined ? '' : String(value);
  }
}

/**
 * The value for an input's text: { value } or { error } (the message shown at the field;
 * the value is then the text as typed, so the JSON shows what is there).
 */
export function parseValue(kind, text) {
  const t = String(text);
  switch (kind) {
    case 'number': {
      const s = t.trim();
      if (s === '' || !NUMBER.test(s)) return { value: t, error: `“${t}” is not a number` };
      return { value: Number(s) };
    }
    case 'list': {
      const items = t.split(',').map((x) => x.trim()).filter((x) => x !== '');
      return items.length ? { value: items } : { value: [], error: 'give at least one value' };
    }
    case 'numlist': {
      const parts = t.split(',').map((x) => x.trim()).filter((x) => x !== '');
      const bad = parts.find((p) => !NUMBER.test(p));
      if (bad !== undefined) return { value: parts, error: `“${bad}” is not a number` };
      return parts.length ? { value: parts.map(Number) } : { value: [], error: 'give at least one number' };
    }
    case 'bool': case 'boolval': return { value: t === 'true' };
    case 'json':
      try { return { value: JSON.parse(t) }; } catch (e) { return { value: t, error: `not JSON: ${e.message}` }; }
    default: return { value: t };
  }
}

// ---- durations ------------------------------------------------------------------------------

export const DURATION = /^(0|[1-9][0-9]{0,8})([smhd])$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 };
export const UNIT_WORDS = { s: ['second', 'seconds'], m: ['minute', 'minutes'], h: ['hour', 'hours'], d: ['day', 'days'] };

/** "10m" -> { n: 10, unit: 'm' }, or null. */
export function splitDuration(d) {
  const m = DURATION.exec(String(d ?? ''));
  return m ? { n: Number(m[1]), unit: m[2] } : null;
}

/** An error message for a duration, or '' when it is one (at most 400 days, as the Worker wants). */
export function durationError(d) {
  const s = splitDuration(d);
  if (!s) return `“${d}” is not a duration: a whole number and s, m, h or d (“30s”, “10m”, “24h”, “7d”)`;
  if (s.n * UNIT_SECONDS[s.unit] > 400 * 86400) return 'at most 400 days';
  return '';
}

/** "10m" -> "10 minutes", "1d" -> "1 day". */
export function durationWords(d) {
  const s = splitDuration(d);
  if (!s) return String(d);
  const [one, many] = UNIT_WORDS[s.unit];
  return `${s.n} ${s.n === 1 ? one : many}`;
}
