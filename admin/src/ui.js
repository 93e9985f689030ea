// Small DOM helpers shared by the views.

/** h('div.card#x', {attrs}, ...children): an element; strings become text nodes. */
export function h(spec, attrs = {}, ...children) {
  const [, tag = 'div', rest = ''] = spec.match(/^([a-z0-9-]*)(.*)$/i);
  const el = document.createElement(tag || 'div');
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

/**
 * An id (`campaign_visitor`) as text that may wrap only after its underscores, so a
 * narrow column shows `campaign_` / `visitor`, never `campaign_visito` / `r`.
 */
export function idText(id) {
  return String(id).split(/(?<=_)/).flatMap((part, i) => (i ? [document.createElement('wbr'), part] : [part]));
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** A status line: set(kind, text) with kind in ok | error | info | busy | ''. */
export function statusLine(extraClass = '') {
  const el = h(`p.status${extraClass ? `.${extraClass}` : ''}`, { role: 'status', 'aria-live': 'polite' });
  return {
    el,
    set(kind, ...content) {
      el.className = `status${extraClass ? ` ${extraClass}` : ''}${kind ? ` status-${kind}` : ''}`;
      el.replaceChildren(...content.flat().map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
    },
  };
}

/**
 * A modal form. fields: [{name, label, value, required, placeholder}]. Resolves to the values
 * object, or null when cancelled.
 */
export function askForm({ title, text, fields, submit = 'OK', id }) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => h('input', {
      name: f.name, value: f.value || '', required: !!f.required, placeholder: f.placeholder || '', autocomplete: 'off',
    }));
    const form = h('form.dialog-form', { method: 'dialog' },
      h('h2', title),
      text ? h('p', text) : null,
      fields.map((f, i) => h('label', h('span', f.label), inputs[i])),
      h('div.buttons',
        h('button.secondary', { type: 'button', value: 'cancel', onclick: () => close(null) }, 'Cancel'),
        h('button.primary', { type: 'submit', value: 'ok' }, submit)));
    const dlg = h('dialog', { id: id || null }, form);
    let done = false;
    const close = (value) => {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      resolve(value);
    };
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!form.reportValidity()) return;
      close(Object.fromEntries(fields.map((f, i) => [f.name, inputs[i].value.trim()])));
    });
    dlg.addEventListener('cancel', (ev) => { ev.preventDefault(); close(null); });
    document.body.append(dlg);
    dlg.showModal();
    (inputs.find((i) => !i.value) || inputs[0])?.focus();
  });
}

/** "2026-11-27 09:00 UTC" style, in the browser's time zone, with a relative hint. */
export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function relativeTime(iso, now = Date.now()) {
  // new Date(null) is 1970: an unknown time is no time, not "20792 d ago".
  if (iso === null || iso === undefined || iso === '') return '';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '';
  const s = Math.round((now - t) / 1000);
  if (s < -60) return formatTime(iso);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

const AUTHOR_KEY = 'edgeseg.admin.author';
export const author = {
  get: () => sessionStorage.getItem(AUTHOR_KEY) || '',
  set: (a) => sessionStorage.setItem(AUTHOR_KEY, a),
};

/** A service identity's id reads better without its prefix: `service:ci` -> `ci (service)`. */
export function identityName(who) {
  if (!who) return 'unknown';
  return who.kind === 'person' ? who.id : `${who.id.replace(/^service:/, '')} (service)`;
}

/**
 * Who made a revision: the verified identity (`by`, with its role), who drafted it, and the
 * name typed in beside it as a note; older revisions have only the typed name.
 */
export function byLine(v) {
  if (!v.by) return v.author || 'unknown';
  let s = `${identityName(v.by)}, ${v.by.role}`;
  if (v.drafted_by && v.drafted_by.id !== v.by.id) s += ` · drafted by ${identityName(v.drafted_by)}`;
  if (v.author && v.author !== v.by.id) s += ` · note: ${v.author}`;
  return s;
}
