// Labelled form fields for the builder, each with its error line: the error is shown at the
// field (aria-invalid + aria-describedby, so screen readers read it with the field) and
// matched to server errors by the field's JSON path (data-path).
import { h } from './ui.js';
import { splitDuration, UNIT_WORDS } from './conditions.js';

let seq = 0;
const nextId = (p) => `${p}-${++seq}`;

/**
 * A field: { el, input, get(), set(v), setError(msg), path }. kind: 'text' | 'number' |
 * 'textarea' | 'select' | 'duration' | 'checkbox'. options: [[value, label]] or [{group, options}].
 * id: a stable id for the input (tests and other scripts find it by it); suggestions: values
 * a text input offers (a datalist) while any text stays allowed.
 */
export function field({ label, kind = 'text', value = '', path = '', options = [], hint = '', placeholder = '', onInput, required = false, rows = 4, hideLabel = false, cls = '', id: fixedId = '', suggestions = null }) {
  const id = fixedId || nextId('f');
  const errId = `${id}-err`;
  const hintId = hint ? `${id}-hint` : null;
  const err = h('p.field-error', { id: errId, hidden: true, role: 'alert' });
  const describedBy = [hintId, errId].filter(Boolean).join(' ');
  let input;
  let get;
  let set;
  if (kind === 'select') {
    input = h('select', { id, 'aria-describedby': describedBy }, renderOptions(options, value));
    get = () => input.value;
    set = (v) => { ensureOption(input, v); input.value = v; };
    ensureOption(input, value);
    input.value = value;
  } else if (kind === 'textarea') {
    input = h('textarea', { id, rows, spellcheck: 'false', 'aria-describedby': describedBy, placeholder });
    input.value = value;
    get = () => input.value;
    set = (v) => { input.value = v; };
  } else if (kind === 'checkbox') {
    input = h('input', { id, type: 'checkbox', 'aria-describedby': describedBy });
    input.checked = !!value;
    get = () => input.checked;
    set = (v) => { input.checked = !!v; };
  } else if (kind === 'duration') {
    return durationField({ label, value, path, hint, onInput, required, hideLabel, cls, id: fixedId });
  } else {
    input = h('input', {
      id, type: 'text', value, placeholder, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': describedBy,
      inputmode: kind === 'number' ? 'decimal' : null, required, list: suggestions ? `${id}-list` : null,
    });
    get = () => input.value;
    set = (v) => { input.value = v; };
  }
  const labelEl = h(`label${hideLabel ? '.sr-only' : ''}`, { for: id }, label);
  const el = h(`div.field${kind === 'checkbox' ? '.field-check' : ''}${cls ? `.${cls}` : ''}`, { dataset: { path } },
    kind === 'checkbox' ? [input, labelEl] : [labelEl, input],
    suggestions ? h('datalist', { id: `${id}-list` }, suggestions.map((v) => h('option', { value: v }))) : null,
    hint ? h('p.hint', { id: hintId }, hint) : null, err);
  if (onInput) input.addEventListener(kind === 'select' || kind === 'checkbox' ? 'change' : 'input', () => onInput(get()));
  return { el, input, get, set, path, setError: errorSetter(el, [input], err) };
}

function errorSetter(el, inputs, err) {
  return (msg) => {
    err.hidden = !msg;
    err.textContent = msg || '';
    el.classList.toggle('invalid', !!msg);
    for (const i of inputs) { if (msg) i.setAttribute('aria-invalid', 'true'); else i.removeAttribute('aria-invalid'); }
  };
}

/** Options: [[value, label]] or [{ group: 'Signals', options: [[value, label]] }]. */
export function renderOptions(options, current) {
  return options.map((o) => (Array.isArray(o)
    ? h('option', { value: o[0], selected: o[0] === current }, o[1] ?? o[0])
    : h('optgroup', { label: o.group }, o.options.map(([v, l]) => h('option', { value: v, selected: v === current }, l ?? v)))));
}

function ensureOption(select, v) {
  if (v === undefined || v === null) return;
  if (![...select.options].some((o) => o.value === v)) select.append(h('option', { value: v }, v === '' ? '(none)' : `${v} (not known)`));
}

/** A duration as an amount and a unit; get() is "10m", "" when the amount is empty. */
function durationField({ label, value, path, hint, onInput, hideLabel, cls, id: fixedId }) {
  const id = fixedId || nextId('d');
  const errId = `${id}-err`;
  const hintId = hint ? `${id}-hint` : null;
  const parts = splitDuration(value);
  const amount = h('input', {
    id, type: 'text', inputmode: 'numeric', autocomplete: 'off', value: parts ? String(parts.n) : String(value ?? ''),
    'aria-describedby': [hintId, errId].filter(Boolean).join(' '), size: 6,
  });
  const unit = h('select', { 'aria-label': `${label}: unit`, id: fixedId ? `${fixedId}-unit` : null }, Object.entries(UNIT_WORDS).map(([u, [, many]]) => h('option', { value: u }, many)));
  unit.value = parts ? parts.unit : 'm';
  const err = h('p.field-error', { id: errId, hidden: true, role: 'alert' });
  const el = h(`div.field.field-duration${cls ? `.${cls}` : ''}`, { dataset: { path } },
    h(`label${hideLabel ? '.sr-only' : ''}`, { for: id }, label),
    h('div.duration', amount, unit),
    hint ? h('p.hint', { id: hintId }, hint) : null, err);
  const get = () => {
    const a = amount.value.trim();
    if (a === '') return '';
    return /^\d+$/.test(a) ? `${Number(a)}${unit.value}` : a;
  };
  const set = (v) => { const p = splitDuration(v); amount.value = p ? String(p.n) : String(v ?? ''); if (p) unit.value = p.unit; };
  if (onInput) {
    amount.addEventListener('input', () => onInput(get()));
    unit.addEventListener('change', () => onInput(get()));
  }
  return { el, input: amount, get, set, path, setError: errorSetter(el, [amount, unit], err) };
}
