// The builder's forms as plain values: a segment or a block's content (a signal's are in
// signal-forms.js) turned into the text its fields show (xFields), and those fields written
// back onto the object (applyX), with an error per field. Pure (no DOM), so the round trip
// is unit-tested: applyX(o, xFields(o)).value is o again, key order and explicit nulls
// included. Keys a form does not know are kept as they are; a field left empty keeps an
// absent key absent and a null null; a field whose text was not changed keeps the value it
// came from (a number where text belongs stays a number, with its error shown).
import { durationError } from './conditions.js';

const ID = /^[A-Za-z0-9_]+$/;
export const NUMBER = /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
export const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
export const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

export const str = (v) => (v === null || v === undefined ? '' : String(v));

/**
 * put(key, text, {convert, optional, show}) sets out[key] from a field's text (`base`: the
 * object as it was). The check in `convert` runs either way, but a text that is what the
 * field showed (show(base[key])) keeps the value as it was. Empty: an optional key goes
 * (absent, null and "" stay as they were); a required one stays absent if it was.
 */
export function putter(base, out) {
  return (key, text, { convert = (t) => t, optional = false, show = str } = {}) => {
    const value = text === '' ? '' : convert(text);
    if (has(base, key) && text === show(base[key])) return;
    if (text !== '') out[key] = value;
    else if (optional) delete out[key];
    else if (has(base, key)) out[key] = '';
  };
}

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
  const put = putter(seg, out);
  const errors = {};
  const id = f.id.trim();
  if (!ID.test(id)) errors.id = 'an id uses letters, digits and _ only, and is not empty';
  else if (others.includes(id)) errors.id = `another segment is called “${id}”`;
  put('id', f.id, { convert: (t) => t.trim() });
  put('description', f.description, { optional: true });
  const p = f.priority.trim();
  if (p !== '' && !/^-?\d+$/.test(p)) errors.priority = `“${f.priority}” is not a whole number`;
  put('priority', f.priority, { optional: true, convert: (t) => (/^-?\d+$/.test(t.trim()) ? Number(t.trim()) : t) });
  for (const k of ['enter_after', 'hold_for']) {
    if (f[k] !== '') { const e = durationError(f[k]); if (e) errors[k] = e; }
    put(k, f[k], { optional: true });
  }
  return { value: out, errors };
}

// ---- signals: see signal-forms.js ------------------------------------------------------

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
  const base = isObj(spec) ? spec : {};
  const out = { ...base };
  const put = putter(base, out);
  const errors = {};
  for (const k of Object.keys(HTML_ACTIONS)) put(k, f[k], { optional: true });
  if (f.remove) out.remove = true;
  else if (out.remove === true) delete out.remove;
  if (f.attrs.length || has(out, 'set_attributes')) {
    if (!f.attrs.length && isObj(out.set_attributes) && Object.keys(out.set_attributes).length) delete out.set_attributes;
    else if (f.attrs.length) {
      const o = {};
      f.attrs.forEach(([k, v], i) => {
        if (!/^[A-Za-z_:][-A-Za-z0-9_:.]*$/.test(k)) errors[`attrs.${i}`] = `“${k}” is not an attribute name`;
        else if (/^on/i.test(k)) errors[`attrs.${i}`] = 'event handler attributes (on…) are not allowed';
        const was = isObj(base.set_attributes) && has(base.set_attributes, k) ? base.set_attributes[k] : undefined;
        Object.defineProperty(o, k, { value: was !== undefined && v === str(was) ? was : v, enumerable: true, writable: true, configurable: true });
      });
      out.set_attributes = o;
    }
  }
  if (f.remove && (f.inner_html || f.outer_html || f.attrs.length)) errors.remove = 'removing the element excludes replacing it or setting attributes';
  if (f.inner_html && f.outer_html) errors.outer_html = 'replace the content or the whole element, not both';
  return { value: out, errors };
}
