// The marketer's workbench: the Segments tab (an overview card per segment, in words, with
// entries per day and content previews; the segment builder) and the Signals tab (each
// signal explained; a form per kind). Both read and write the document in the rules editor.
import './workbench.css';
import { call } from './api.js';
import { h, statusLine } from './ui.js';
import { sharedDocument } from './document.js';
import { segmentBuilder } from './builder.js';
import { signalBuilder } from './signal-builder.js';
import {
  describeCondition, describeSignal, describeStickiness, describeContent, signalsUsed,
} from './sentences.js';
import { sampleValues, contentPreviewHtml, previewFrame } from './preview.js';
import { signalKind, SIGNAL_KINDS } from './signal-forms.js';
import { installSchemaHelp } from './completion.js';

const DAY = 86400;

/** Wires the shared document to the rules editor once; both tabs use it. */
export function shared(app) {
  if (app.shared) return app.shared;
  const editor = app.rules.editor;
  const doc = sharedDocument(editor);
  app.shared = doc;
  // Server errors (Validate, Save, Simulate) go to the builder's fields as well.
  const show = editor.showErrors;
  editor.showErrors = (errors) => { app.lastErrors = errors; doc.errorsShown?.(errors); return show(errors); };
  installSchemaHelp(editor, () => doc.read().doc, () => doc.editorChanged());
  return doc;
}

/** Entries per UTC day for the last 7 days, per segment: { days: [t...], bySegment: {id: [n...]} }. */
async function entriesPerDay() {
  const to = Math.floor(Date.now() / 1000);
  const today = Math.floor(to / DAY) * DAY;
  const from = today - 6 * DAY;
  const r = await call('GET', `stats?from=${from}&to=${to}`);
  const hours = r.body?.hours || [];
  const days = Array.from({ length: 7 }, (_, i) => from + i * DAY);
  const bySegment = {};
  for (const [key, values] of Object.entries(r.body?.counters || {})) {
    if (!key.startsWith('entries:')) continue;
    const per = days.map(() => 0);
    hours.forEach((t, i) => { const d = Math.floor((t - from) / DAY); if (d >= 0 && d < 7) per[d] += values[i] || 0; });
    bySegment[key.slice(8)] = per;
  }
  return { days, bySegment };
}

const WEEKDAY = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** A small bar chart (SVG) with its numbers as the accessible name and as a table for hover. */
function entriesChart(days, counts) {
  const max = Math.max(1, ...counts);
  const W = 140;
  const H = 36;
  const bw = W / 7;
  const label = `Entries per day, last 7 days: ${days.map((d, i) => `${WEEKDAY[new Date(d * 1000).getUTCDay()]} ${counts[i]}`).join(', ')}`;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H + 12}`);
  svg.setAttribute('class', 'entries-chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  counts.forEach((n, i) => {
    const bh = n ? Math.max(2, (n / max) * H) : 1;
    const r = document.createElementNS(ns, 'rect');
    Object.entries({ x: i * bw + 2, y: H - bh, width: bw - 4, height: bh, rx: 1.5, class: n ? 'bar' : 'bar bar-zero' }).forEach(([k, v]) => r.setAttribute(k, v));
    const title = document.createElementNS(ns, 'title');
    title.textContent = `${WEEKDAY[new Date(days[i] * 1000).getUTCDay()]}: ${n}`;
    r.append(title);
    svg.append(r);
    const t = document.createElementNS(ns, 'text');
    Object.entries({ x: i * bw + bw / 2, y: H + 10, 'text-anchor': 'middle', class: 'bar-label' }).forEach(([k, v]) => t.setAttribute(k, v));
    t.textContent = WEEKDAY[new Date(days[i] * 1000).getUTCDay()][0];
    svg.append(t);
  });
  const total = counts.reduce((a, b) => a + b, 0);
  return h('div.entries', h('span.entries-total', `${total.toLocaleString()} ${total === 1 ? 'entry' : 'entries'} this week`), svg);
}

/** Shared save from a builder: its own field errors first, then the server's, then the dialog. */
export async function builderSave(app, b, statusEl) {
  const say = (kind, text) => { statusEl.className = `status builder-status${kind ? ` status-${kind}` : ''}`; statusEl.textContent = text; };
  const errs = b.errors();
  if (errs.length) {
    say('error', `Not saved: ${errs.length} field${errs.length === 1 ? '' : 's'} to fix (marked). ${errs[0].message}.`);
    errs[0].field.input.focus();
    return;
  }
  const text = app.shared.text();
  const v = await call('POST', 'rules/validate', { body: { text }, accept: [400, 422] });
  if (v.status !== 200) {
    const list = v.body?.errors || [{ path: '', message: v.body?.error || `status ${v.status}` }];
    const left = b.showServerErrors(list);
    app.rules.editor.showErrors(list);
    say('error', `Not saved: ${list.length} error${list.length === 1 ? '' : 's'}${left.length ? ` (${left.map((e) => `${e.path}: ${e.message}`).join('; ')}; see the Rules tab)` : ', marked at the fields'}.`);
    b.errors()[0]?.field.input.focus();
    return;
  }
  const before = app.doc.revision;
  await app.rules.save();
  if (app.doc.revision !== before && app.doc.text === text) say('ok', `Saved as revision ${app.doc.revision}.`);
  else if (app.doc.revision === before) say('info', 'Not saved (see the Rules tab for why, if you did not cancel).');
  else say('info', `Saved; the server now holds revision ${app.doc.revision}.`);
}

/**
 * Where a tab shows its builder in place of its overview. make: segmentBuilder or
 * signalBuilder; arg(builder): what reopens the same one (index, name).
 */
export function builderSlot(app, { overview, host, status, make, arg, render }) {
  const doc = shared(app);
  let builder = null;
  let text = null; // the editor's text as the open builder last wrote or read it
  doc.onChange((source) => { if (source === 'builder') text = doc.text(); });
  const close = () => { builder = null; host.replaceChildren(); overview.hidden = false; };
  const slot = {
    current: () => builder,
    open(which) {
      builder = make({
        shared: doc,
        index: which,
        name: which,
        onDone: () => { builder?.discardIfUntouched?.(); close(); render(); },
        onSave: () => app.run(() => builderSave(app, builder, builder.status), status),
      });
      doc.errorsShown = (errors) => builder?.showServerErrors(errors);
      overview.hidden = true;
      host.replaceChildren(builder.el);
      text = doc.text();
      builder.el.querySelector('input')?.focus();
    },
    /**
     * On showing the tab: true when a builder stays open. It stays as the user left it,
     * unless the JSON changed meanwhile: then it shows the JSON's version, or, when its
     * segment or signal is gone from the JSON (stillThere(doc) false), the overview again.
     */
    reshow(stillThere) {
      if (!builder) return false;
      if (doc.text() === text) return true;
      if (stillThere(doc.read().doc)) { slot.open(arg(builder)); return true; }
      close();
      return false;
    },
  };
  return slot;
}

export function segmentsView(app) {
  shared(app); // completion and hover in the editor, and the builder's link to it, from the start
  const status = statusLine('segments-status');
  const list = h('div.segment-cards#segment-cards');
  const builderHost = h('div#segment-builder-host');
  const newBtn = h('button.primary#new-segment', { type: 'button', onclick: () => openBuilder(null) }, '+ New segment');
  const head = h('div.toolbar', h('div.toolbar-meta', h('strong', 'Segments'), h('span.meta-more#segments-count', '')), h('div.actions', newBtn));
  const overview = h('div#segments-overview', head, status.el, list);
  const el = h('section.view#view-segments', { 'aria-labelledby': 'tab-segments', hidden: true }, overview, builderHost);
  let stats = null;
  let statsAt = 0;
  const slot = builderSlot(app, { overview, host: builderHost, status, make: segmentBuilder, arg: (b) => b.index, render: () => render() });
  const openBuilder = (index) => slot.open(index);

  async function render() {
    const doc = shared(app);
    const r = doc.read();
    if (!r.doc) {
      list.replaceChildren(h('p.status.status-error', `The rules in the editor are not valid JSON (${r.error.message}${r.error.line ? `, line ${r.error.line}` : ''}). Fix them in the Rules tab; the builder needs JSON it can read.`));
      newBtn.disabled = true;
      return;
    }
    newBtn.disabled = false;
    const rules = r.doc;
    const segs = Array.isArray(rules.segments) ? rules.segments : [];
    el.querySelector('#segments-count').textContent = ` · ${segs.length} in the editor${app.rules.isDirty() ? ' (unsaved changes)' : ''}`;
    if (!stats || Date.now() - statsAt > 60_000) {
      try { stats = await entriesPerDay(); statsAt = Date.now(); } catch (e) { if (e.name === 'AuthError') throw e; stats = null; }
    }
    const samples = sampleValues(rules);
    list.replaceChildren(...segs.map((s, i) => card(rules, s, i, samples)));
    if (!segs.length) list.append(h('p.hint', 'No segments yet: start with “New segment”.'));
  }

  function card(rules, s, i, samples) {
    const id = typeof s.id === 'string' ? s.id : `(segment ${i + 1})`;
    const used = signalsUsed(s.condition, rules);
    const blocks = Object.entries(rules.blocks || {}).filter(([, b]) => b && b.content && Object.prototype.hasOwnProperty.call(b.content, id));
    const counts = stats ? (stats.bySegment[id] || stats.days.map(() => 0)) : null;
    const headId = `seg-card-${i}`;
    return h('article.card.segment-card', { dataset: { segment: id }, 'aria-labelledby': headId },
      h('div.card-head',
        h('h2', { id: headId }, h('code', id)),
        h('span.badge', { title: 'Priority: higher wins when several segments change a block' }, `priority ${s.priority ?? 0}`),
        h('button.secondary.small.edit-segment', { type: 'button', 'aria-label': `Edit segment ${id}`, onclick: () => openBuilder(i) }, 'Edit')),
      s.description ? h('p.description', s.description) : null,
      h('p.sentence', h('span.sr-only', 'Who: '), describeCondition(s.condition, rules)),
      h('p.stickiness.hint', describeStickiness(s)),
      counts ? entriesChart(stats.days, counts) : h('p.hint', 'No entry counts available.'),
      used.length ? h('details.signals-used', h('summary', `Signals used (${used.length})`),
        h('dl', used.flatMap((n) => [h('dt', h('code', n)), h('dd', describeSignal(rules.signals[n], rules))]))) : null,
      blocks.length ? h('div.changes', h('h3', 'Changes'), h('ul.block-list', blocks.map(([b, block]) => blockItem(b, block.content[id], id, samples))))
        : h('p.hint', 'Changes no block.'),
      experimentsNote(rules, s, id));
  }

  /**
   * The experiments and holdout that decide what this segment's visitors see: a variant's
   * content replaces the segment's own for the blocks it changes (the card said nothing of it).
   */
  function experimentsNote(rules, s, id) {
    const items = Object.entries(rules.experiments || {})
      .filter(([, e]) => e && e.segment === id)
      .map(([key, e]) => {
        const variants = Array.isArray(e.variants) ? e.variants : [];
        const changed = [...new Set(variants.flatMap((v) => Object.keys(v?.content || {})))];
        return h('li', { dataset: { experiment: key } }, h('code', key), ` (${e.status || 'draft'}): `,
          changed.length ? `its variants (${variants.map((v) => v?.id).join(', ')}) replace this segment's ${changed.join(', ')} for the visitors in it` : 'no variant changes a block yet',
          ' ', h('button.linklike.open-experiment', { type: 'button', onclick: () => app.openExperiment?.({ key }) }, `Edit ${key}`));
      });
    if (s.holdout) {
      const share = Number(s.holdout.share);
      items.push(h('li.holdout', `a holdout: ${Number.isFinite(share) ? `${Math.round(share * 100)} % of ` : ''}its visitors keep the default content, to measure what the segment's content does`));
    }
    const add = h('button.secondary.small.new-segment-experiment', { type: 'button', onclick: () => app.openExperiment?.({ key: null, segment: id }) }, '+ Experiment in this segment');
    return [items.length ? h('div.experiments-note', h('h3', 'Experiments'), h('ul', items)) : null, h('p.card-actions', add)];
  }

  function blockItem(b, spec, segId, samples) {
    const d = h('details.block-preview', { dataset: { block: b } },
      h('summary', h('code', b), ': ', describeContent(spec)));
    d.addEventListener('toggle', () => {
      if (!d.open || d.querySelector('iframe')) return;
      const frame = previewFrame(`Preview of block ${b} for ${segId}`);
      frame.update(contentPreviewHtml(spec, samples));
      d.append(frame.el);
    });
    return h('li', d);
  }

  return {
    el,
    async onShow() {
      if (slot.reshow((doc) => Array.isArray(doc?.segments) && !!doc.segments[slot.current().index])) return;
      await app.run(render, status);
    },
  };
}

export function signalsView(app) {
  const status = statusLine('signals-status');
  const list = h('div.signal-cards#signal-cards');
  const builderHost = h('div#signal-builder-host');
  const newBtn = h('button.primary#new-signal', { type: 'button', onclick: () => openBuilder(null) }, '+ New signal');
  const overview = h('div#signals-overview',
    h('div.toolbar', h('div.toolbar-meta', h('strong', 'Signals'), h('span.meta-more', ' · values from what the visitor did; conditions read them by name')), h('div.actions', newBtn)),
    status.el, list);
  const el = h('section.view#view-signals', { 'aria-labelledby': 'tab-signals', hidden: true }, overview, builderHost);
  const slot = builderSlot(app, { overview, host: builderHost, status, make: signalBuilder, arg: (b) => b.name(), render: () => render() });
  const openBuilder = (name) => slot.open(name);

  function render() {
    const r = shared(app).read();
    if (!r.doc) {
      list.replaceChildren(h('p.status.status-error', `The rules in the editor are not valid JSON (${r.error.message}). Fix them in the Rules tab.`));
      return;
    }
    const rules = r.doc;
    const segs = Array.isArray(rules.segments) ? rules.segments : [];
    const entries = Object.entries(rules.signals || {});
    list.replaceChildren(...entries.map(([n, s], i) => {
      const users = segs.filter((seg) => signalsUsed(seg.condition, rules).includes(n)).map((seg) => seg.id);
      const kind = signalKind(s);
      return h('article.card.signal-card', { dataset: { signal: n }, 'aria-labelledby': `sig-card-${i}` },
        h('div.card-head', h('h2', { id: `sig-card-${i}` }, h('code', n)), h('span.badge', kind ? SIGNAL_KINDS[kind] : 'other'),
          h('button.secondary.small.edit-signal', { type: 'button', 'aria-label': `Edit signal ${n}`, onclick: () => openBuilder(n) }, 'Edit')),
        h('p.sentence', describeSignal(s, rules)),
        h('p.hint', users.length ? ['Used by ', users.map((u, j) => [j ? ', ' : '', h('code', u)])] : 'Not used by any segment.'));
    }));
    if (!entries.length) list.append(h('p.hint', 'No signals yet.'));
  }

  return {
    el,
    async onShow() {
      if (slot.reshow((doc) => !!doc?.signals && Object.prototype.hasOwnProperty.call(doc.signals, slot.current().name()))) return;
      await app.run(async () => render(), status);
    },
  };
}
