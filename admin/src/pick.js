// The Pick tab ("Pick on page", README "Picking blocks on the page"): a site page in a
// sandboxed frame, served by the Worker in pick mode (a visitor with no history, nothing
// counted or stored); a click there proposes a robust selector (selector.js), counted on
// this page and on a few pages of the same kind as the Worker serves them; the picked
// element becomes a block (or an existing block's target) with content for a segment or an
// experiment variant, shown in place, saved through the Rules tab's validation and Publish.
//
// Security: the frame is `sandbox="allow-scripts"` without allow-same-origin, and the Worker
// adds `Content-Security-Policy: sandbox allow-scripts` to pick-mode pages, so the site's
// scripts (and its third-party ones) run with an opaque origin: no access to this page's
// sessionStorage (the token), its cookies or its API as the admin. Every message from the
// frame is untrusted: only one from the frame's own window, shaped as a pick, is read, and
// all it can do is propose a selection shown here; nothing is saved without the Save button.
import './pick.css';
import { call } from './api.js';
import { h, statusLine } from './ui.js';
import { sharedDocument } from './document.js';
import { sampleValues, renderTemplate } from './preview.js';
import { candidates, choose, ladder, samePagesOfKind } from './selector.js';
import { contentTargets, placeContent } from './pick-doc.js';
import { saveDraft } from './drafts.js';

const ACTIONS = [
  ['inner_html', 'Replace its content'],
  ['outer_html', 'Replace the whole element'],
  ['before', 'Insert before it'],
  ['after', 'Insert after it'],
  ['set_attributes', 'Set attributes (name=value, one a line)'],
  ['remove', 'Remove it'],
];
const TAG = /^[a-z][a-z0-9-]{0,30}$/;

/** A pick message from the frame, rebuilt from what it may hold; null when it is not one. */
export function readPick(data) {
  if (!data || data.edgesegPick !== 1 || data.type !== 'pick' || !Array.isArray(data.path)) return null;
  if (!data.path.length || data.path.length > 80) return null;
  const str = (v, n) => (typeof v === 'string' ? v.slice(0, n) : '');
  const path = [];
  for (const n of data.path) {
    if (!n || !TAG.test(n.tag)) return null;
    const attrs = {};
    for (const [k, v] of Object.entries(n.attrs && typeof n.attrs === 'object' ? n.attrs : {}).slice(0, 30)) {
      if (/^[a-z][a-z0-9_.:-]{0,60}$/.test(k)) attrs[k] = str(v, 200);
    }
    path.push({
      tag: n.tag, id: str(n.id, 100), attrs,
      classes: (Array.isArray(n.classes) ? n.classes : []).filter((c) => typeof c === 'string').slice(0, 12).map((c) => c.slice(0, 100)),
      nth: Number.isInteger(n.nth) && n.nth > 0 ? n.nth : 1,
      ofType: Number.isInteger(n.ofType) && n.ofType > 0 ? n.ofType : 1,
    });
  }
  return { path, text: str(data.text, 200), html: str(data.html, 20000), inner: str(data.inner, 20000) };
}

const norm = (s) => String(s || '').replace(/\s+/g, ' ').trim();

export function pickView(app) {
  const status = statusLine('pick-status');
  const pathInput = h('input#pick-path', { type: 'text', value: '/', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'pick-path-hint' });
  const frame = h('iframe#pick-frame', { sandbox: 'allow-scripts', title: 'The site page, for picking an element', referrerpolicy: 'no-referrer' });
  const selInput = h('input#pick-selector', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const counts = h('ul.pick-counts#pick-counts', { 'aria-live': 'polite' });
  const picked = h('p.pick-picked#pick-picked', 'Click an element of the page to pick it.');
  const blockSel = h('select#pick-block');
  const blockId = h('input#pick-block-id', { type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. product_title' });
  const forSel = h('select#pick-for');
  const actionSel = h('select#pick-action', ACTIONS.map(([v, l]) => h('option', { value: v }, l)));
  const content = h('textarea#pick-content', { rows: 5, spellcheck: 'false' });
  const previewOut = h('p.pick-preview-link#pick-preview-out', { hidden: true });
  let token = null;
  let current = null; // { path, servedDoc, pages: [{path, doc}], list, counts, order, at }
  let here = '/';

  const el = h('section.view#view-pick', { 'aria-labelledby': 'tab-pick', hidden: true },
    h('div.toolbar', h('div.toolbar-meta', h('strong', 'Pick on page'),
      h('span.meta-more', ' · the page as a new visitor gets it; nothing is counted or stored'))),
    status.el,
    h('form.pick-open#pick-open', { onsubmit: (ev) => { ev.preventDefault(); app.run(() => open(pathInput.value), status); } },
      h('label', { for: 'pick-path' }, 'Page of the site'), pathInput,
      h('button.primary', { type: 'submit' }, 'Open'),
      h('p.hint#pick-path-hint', 'A path like /products/camp-mug. Links in the frame do not navigate: open pages here. Without a pointer, type a selector below: it is counted the same way.')),
    h('div.pick-layout',
      h('div.pick-stage', frame),
      h('div.pick-panel',
        picked,
        h('div.field', h('label', { for: 'pick-selector' }, 'Selector'), selInput,
          h('div.buttons',
            h('button.secondary.small#pick-wider', { type: 'button', onclick: () => step(-1) }, 'Wider'),
            h('button.secondary.small#pick-narrower', { type: 'button', onclick: () => step(1) }, 'Narrower'))),
        h('h3.pick-h', 'Matches, as the Worker serves the pages'), counts,
        h('div.field', h('label', { for: 'pick-block' }, 'Block'), blockSel),
        h('div.field#pick-block-id-field', h('label', { for: 'pick-block-id' }, 'New block id'), blockId),
        h('div.field', h('label', { for: 'pick-for' }, 'Content for'), forSel),
        h('div.field', h('label', { for: 'pick-action' }, 'What it does'), actionSel),
        h('div.field#pick-content-field', h('label', { for: 'pick-content' }, 'HTML'), content),
        h('div.buttons',
          h('button.primary#pick-save', { type: 'button', onclick: () => app.run(save, status) }, 'Save…'),
          h('button.secondary#pick-preview', { type: 'button', onclick: () => app.run(previewLink, status) }, 'Preview link')),
        previewOut)));

  const shared = () => app.shared || (app.shared = sharedDocument(app.rules.editor));
  const post = (msg) => frame.contentWindow?.postMessage({ edgesegPick: 1, ...msg }, '*');

  async function grant() {
    if (token && token.expires - 60 > Date.now() / 1000) return token;
    const r = await call('POST', 'pick', { body: {} });
    token = r.body;
    return token;
  }
  const pickUrl = (path, t) => {
    const u = new URL(path, window.location.origin);
    u.searchParams.set(t.param, t.token);
    return `${u.pathname}${u.search}`;
  };

  /** The page as the Worker serves it in pick mode, parsed (scripts do not run in it). */
  async function served(path) {
    const t = await grant();
    const res = await fetch(pickUrl(path, t), { credentials: 'omit' });
    if (!res.ok) return null;
    return new DOMParser().parseFromString(await res.text(), 'text/html');
  }

  async function open(raw) {
    const path = String(raw || '/').trim();
    if (!path.startsWith('/') || path.startsWith('//') || path.startsWith('/__edgeseg/')) {
      status.set('error', 'Give a path of this site, starting with / (like /products/camp-mug).');
      return;
    }
    here = path;
    const t = await grant();
    current = null;
    counts.replaceChildren();
    picked.textContent = 'Click an element of the page to pick it.';
    frame.src = pickUrl(path, t);
    status.set('info', `Opened ${path}. Click an element to pick it.`);
  }

  function count(doc, sel, target) {
    let list;
    try { list = doc.querySelectorAll(sel); } catch { return { n: -1 }; }
    const n = list.length;
    if (n !== 1 || !target) return { n };
    // The one match must be the picked element (same tag, same text as far as the page shows it).
    const m = list[0];
    const same = m.tagName.toLowerCase() === target.tag
      && (!target.text || !norm(m.textContent) || norm(m.textContent).slice(0, 40) === target.text.slice(0, 40));
    return { n, other: !same };
  }

  /** This page and up to three of the same kind it links to, as the Worker serves them. */
  async function servedPages() {
    const doc = await served(here);
    if (!doc) { status.set('error', `Could not load ${here} in pick mode.`); return null; }
    const hrefs = [...doc.querySelectorAll('a[href]')].map((a) => {
      try { const u = new URL(a.getAttribute('href'), new URL(here, window.location.origin)); return u.origin === window.location.origin ? u.pathname : null; } catch { return null; }
    }).filter(Boolean);
    const pages = [];
    for (const path of samePagesOfKind(here, hrefs, 3)) {
      const d = await served(path);
      if (d) pages.push({ path, doc: d });
    }
    return { doc, pages };
  }

  /** A selector typed without a pick (the keyboard's way): counted all the same. */
  async function typed() {
    if (current || !selInput.value.trim()) { showCounts(); return; }
    const loaded = await servedPages();
    if (!loaded) return;
    current = { ...loaded, list: [], counts: { here: [], others: [] }, order: [], at: -1, target: null };
    showCounts();
  }

  async function onPick(p) {
    const loaded = await servedPages();
    if (!loaded) return;
    const { doc, pages } = loaded;
    const target = { tag: p.path[p.path.length - 1].tag, text: norm(p.text) };
    const list = candidates(p.path);
    const hereCounts = list.map((c) => { const r = count(doc, c.sel, target); return r.other ? 0 : r.n; });
    const otherCounts = list.map((c) => pages.map((pg) => Math.max(0, count(pg.doc, c.sel).n)));
    const cs = { here: hereCounts, others: otherCounts };
    const order = ladder(list, cs);
    const chosen = choose(list, cs);
    current = { ...p, doc, pages, list, counts: cs, order, at: order.indexOf(chosen), target };
    picked.textContent = `Picked: <${target.tag}>${target.text ? ` “${target.text.slice(0, 80)}”` : ''}`;
    if (chosen < 0) {
      status.set('error', 'No selector names this element alone on the page as the Worker serves it (a script may have made it). Write one below.');
      selInput.value = list[0]?.sel || '';
    } else {
      selInput.value = list[chosen].sel;
      status.set('ok', `Proposed ${list[chosen].sel} (${list[chosen].kind}).`);
    }
    if (!content.value) content.value = p.inner.trim();
    showCounts();
  }

  function step(dir) {
    if (!current || !current.order.length) return;
    const at = Math.max(0, Math.min(current.order.length - 1, (current.at < 0 ? 0 : current.at) + dir));
    current.at = at;
    selInput.value = current.list[current.order[at]].sel;
    showCounts();
  }

  function showCounts() {
    const sel = selInput.value.trim();
    if (!current || !sel) { counts.replaceChildren(); return; }
    const rows = [[`This page (${here})`, count(current.doc, sel, current.target)]]
      .concat(current.pages.map((pg) => [pg.path, count(pg.doc, sel)]));
    counts.replaceChildren(...rows.map(([where, r]) => h('li', { class: r.n === 1 && !r.other ? 'one' : 'not-one' },
      h('span', where), ' ', h('strong', r.n < 0 ? 'not a valid selector' : r.other ? '1, another element' : `${r.n} match${r.n === 1 ? '' : 'es'}`))));
    if (!current.pages.length) counts.append(h('li.hint', 'No other page of the same kind is linked from this one.'));
    post({ type: 'highlight', selector: sel, scroll: false });
    livePreview();
  }

  function fillFor() {
    const { doc } = shared().read();
    const d = doc || {};
    const blocks = Object.keys(d.blocks || {});
    blockSel.replaceChildren(h('option', { value: '' }, 'A new block'), ...blocks.map((b) => h('option', { value: b }, `${b}${d.blocks[b]?.selector ? ` (${d.blocks[b].selector})` : ''}`)));
    const targets = contentTargets(d).map((t) => h('option', { value: t.value }, t.label));
    const keep = forSel.value;
    forSel.replaceChildren(...targets);
    if (keep) forSel.value = keep;
    blockIdField();
  }
  function blockIdField() { el.querySelector('#pick-block-id-field').hidden = !!blockSel.value; }

  /** The content spec the form describes. */
  function spec() {
    const a = actionSel.value;
    if (a === 'remove') return { remove: true };
    if (a === 'set_attributes') {
      const o = {};
      for (const line of content.value.split('\n')) {
        const i = line.indexOf('=');
        if (i > 0) o[line.slice(0, i).trim()] = line.slice(i + 1).trim().replace(/^"(.*)"$/, '$1');
      }
      return { set_attributes: o };
    }
    return { [a]: content.value };
  }

  let timer = null;
  function livePreview() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const sel = selInput.value.trim();
      if (!current || !sel) return;
      // Nothing typed yet for an HTML action: the page shows its own content.
      if (!['remove', 'set_attributes'].includes(actionSel.value) && !content.value.trim()) {
        post({ type: 'apply', selector: sel, content: null });
        return;
      }
      const samples = sampleValues(shared().read().doc || {});
      const s = spec();
      const rendered = {};
      for (const [k, v] of Object.entries(s)) {
        rendered[k] = typeof v === 'string' ? renderTemplate(v, samples)
          : k === 'set_attributes' ? Object.fromEntries(Object.entries(v).map(([n, x]) => [n, renderTemplate(x, samples, { escape: false })])) : v;
      }
      post({ type: 'apply', selector: sel, content: rendered });
    }, 150);
  }

  function save() {
    const sel = selInput.value.trim();
    if (!sel) { status.set('error', 'Pick an element (or write a selector) first.'); return undefined; }
    const { doc, error } = shared().read();
    if (!doc) { status.set('error', `The rules in the Rules tab are not valid JSON (${error.message}); fix them there first.`); return undefined; }
    const r = placeContent(doc, { selector: sel, block: blockSel.value, newId: blockId.value, target: forSel.value, spec: spec() });
    if (r.error) {
      status.set('error', r.error);
      (r.field === 'block-id' ? blockId : forSel).focus();
      return undefined;
    }
    return saveDoc(r.doc, r.id);
  }

  async function saveDoc(doc, id) {
    const sd = shared();
    const before = sd.text();
    sd.write(doc);
    const text = sd.text();
    const v = await call('POST', 'rules/validate', { body: { text }, accept: [400, 422] });
    if (v.status !== 200) {
      const list = v.body?.errors || [{ path: '', message: v.body?.error || `status ${v.status}` }];
      app.rules.editor.showErrors?.(list);
      status.set('error', `Not saved: ${list.map((e) => `${e.path ? `${e.path}: ` : ''}${e.message}`).join('; ')}`);
      return;
    }
    if (!app.can('publish')) {
      // An editor saves a draft (a publisher publishes it); its preview link shows it.
      await saveDraft(app, text, status);
      return;
    }
    const rev = app.doc.revision;
    await app.rules.save();
    if (app.doc.revision !== rev && app.doc.text === text) {
      status.set('ok', `Saved block ${id} as revision ${app.doc.revision}.`);
      fillFor();
      blockSel.value = id;
      blockIdField();
    } else if (sd.text() !== before) status.set('info', 'Not saved yet: the change is in the Rules tab\'s editor (Publish there, or save it as a draft).');
  }

  async function previewLink() {
    const target = forSel.value;
    if (!target) { status.set('error', 'Choose a segment or variant first.'); return; }
    const body = { path: here, ttl: '1h' };
    if (target.startsWith('s:')) body.segments = [target.slice(2)];
    else { const [, key, variant] = target.split(':'); body.variants = { [key]: variant }; }
    const r = await call('POST', 'preview', { body });
    const url = new URL(r.body.url, window.location.origin).href;
    previewOut.hidden = false;
    previewOut.replaceChildren('Preview (saved rules, this browser, 1 h): ', h('a#pick-preview-url', { href: url, target: '_blank', rel: 'noopener' }, url));
  }

  window.addEventListener('message', (ev) => {
    // Only the frame's own window, with an opaque origin (the sandbox), and only a pick.
    if (!frame.contentWindow || ev.source !== frame.contentWindow || ev.origin !== 'null') return;
    const p = readPick(ev.data);
    if (p) app.run(() => onPick(p), status);
  });
  let typing = null;
  selInput.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(() => app.run(typed, status), 200); });
  for (const x of [content, actionSel]) x.addEventListener('input', livePreview);
  actionSel.addEventListener('change', () => { el.querySelector('#pick-content-field').hidden = actionSel.value === 'remove'; livePreview(); });
  blockSel.addEventListener('change', () => {
    blockIdField();
    const { doc } = shared().read();
    const s = doc?.blocks?.[blockSel.value]?.selector;
    if (s && !selInput.value) selInput.value = s;
  });

  return {
    el,
    onShow() {
      fillFor();
      if (!frame.getAttribute('src')) app.run(() => open(pathInput.value), status);
    },
  };
}
