// The Experiments tab's setup: the experiments and holdouts in the editor's document (saved or
// not), each in words with Edit; New experiment (in a segment, or by condition) and New
// holdout; and preview links (pick segments and variants, the live rules or the editor's
// unsaved document as a draft, an expiry; copy the link; the links made, revocable).
import { call } from './api.js';
import { h, formatTime } from './ui.js';
import { describeExperiment } from './expforms.js';
import { saveDraft, gate } from './drafts.js';
import { durationError } from './conditions.js';

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The experiments and holdouts of the editor's document, with the buttons that open the editors. */
export function rulesPanel(app, { open }) {
  const list = h('ul.exp-rules-list#exp-rules-list');
  const segPick = h('select#new-exp-segment', { 'aria-label': 'The new experiment’s segment' });
  const holdPick = h('select#new-holdout-segment', { 'aria-label': 'Segment for the new holdout' });
  const newExp = h('button.primary.small#new-experiment', { type: 'button', onclick: () => open({ kind: 'experiment', key: null, segment: segPick.value }) }, '+ New experiment');
  const newHold = h('button.secondary.small#new-holdout', { type: 'button', onclick: () => {
    const i = Number(holdPick.value);
    if (Number.isInteger(i) && holdPick.value !== '') open({ kind: 'holdout', index: i });
  } }, '+ Holdout');
  const meta = h('span.meta-more#exp-rules-meta');
  const el = h('section.card.exp-rules#exp-rules', { 'aria-labelledby': 'exp-rules-title' },
    h('div.card-head', h('h2#exp-rules-title', 'In the rules'), meta),
    list,
    h('div.exp-new',
      h('label.inline', 'In the segment ', segPick), newExp,
      h('label.inline#new-holdout-label', 'Hold out some members of ', holdPick), newHold));

  function render() {
    const r = app.shared.read();
    if (!r.doc) {
      list.replaceChildren(h('li.status.status-error', `The rules in the editor are not valid JSON (${r.error.message}). Fix them in the Rules tab.`));
      return;
    }
    const doc = r.doc;
    const segs = (Array.isArray(doc.segments) ? doc.segments : []).map((s, i) => [s, i]).filter(([s]) => isObj(s));
    segPick.replaceChildren(...segs.map(([s]) => h('option', { value: s.id }, s.id)), h('option', { value: '' }, '(none: by a condition)'));
    const free = segs.filter(([s]) => !s.holdout);
    holdPick.replaceChildren(...free.map(([s, i]) => h('option', { value: String(i) }, s.id)));
    // Every segment has its holdout: nothing to offer.
    newHold.hidden = !free.length;
    el.querySelector('#new-holdout-label').hidden = !free.length;
    const items = Object.entries(isObj(doc.experiments) ? doc.experiments : {}).map(([key, e]) => h('li.exp-rule', { dataset: { experiment: key } },
      h('div.exp-rule-head', h('code', key), h(`span.badge.exp-status.exp-${isObj(e) ? e.status : 'x'}`, isObj(e) ? e.status || '?' : 'JSON'),
        isObj(e) && e.allocation === 'bandit' ? h('span.badge', 'bandit') : null,
        h('button.secondary.small.edit-experiment', { type: 'button', 'aria-label': `Edit experiment ${key}`, onclick: () => open({ kind: 'experiment', key }) }, 'Edit')),
      isObj(e) && e.description ? h('p.description', e.description) : null,
      h('p.hint', describeExperiment(e))));
    for (const [s, i] of segs.filter(([x]) => x.holdout)) {
      items.push(h('li.exp-rule', { dataset: { holdout: s.id } },
        h('div.exp-rule-head', h('code', `holdout_${s.id}`), h('span.badge', 'holdout'),
          h('button.secondary.small.edit-holdout', { type: 'button', 'aria-label': `Edit the holdout on ${s.id}`, onclick: () => open({ kind: 'holdout', index: i }) }, 'Edit')),
        h('p.hint', `${Number.isFinite(Number(s.holdout.share)) ? `${Math.round(Number(s.holdout.share) * 1000) / 10} %` : 'A share'} of ${s.id}’s members keep the default content; goals: ${Object.keys(s.holdout.goals || {}).join(', ') || 'none yet'}.`)));
    }
    list.replaceChildren(...(items.length ? items : [h('li.hint', 'No experiments or holdouts yet.')]));
    meta.textContent = app.rules.isDirty() ? ' · the editor’s document, with unsaved changes' : ' · as saved';
  }
  return { el, render };
}

/** Preview links: the form, the link made (copy, open), and the links made so far (revoke). */
export function previewLinksPanel(app, status) {
  const segBox = h('fieldset.pl-segments', h('legend', 'Force these segments'));
  const varBox = h('fieldset.pl-variants', h('legend', 'Force these variants'));
  const pathIn = h('input#pl-path', { type: 'text', value: '/', autocomplete: 'off', spellcheck: 'false' });
  const ttlIn = h('input#pl-ttl', { type: 'text', value: '1h', autocomplete: 'off', size: 6, 'aria-describedby': 'pl-ttl-hint' });
  const draftBox = h('input#pl-draft', { type: 'checkbox' });
  const draftLabel = h('label.field-check', { for: 'pl-draft' }, draftBox, ' Preview the editor’s unsaved changes (saved as a draft first: not live)');
  const result = h('div.pl-result#pl-result', { 'aria-live': 'polite' });
  const links = h('ul.pl-links#pl-links');
  const make = gate(app, h('button.primary#pl-make', { type: 'button', onclick: () => app.run(create, status) }, 'Make the link'), 'preview_link');
  const el = h('details.card.preview-links#preview-links',
    h('summary', h('h2', 'Preview links')),
    h('p.hint', 'A signed link that shows the site as members of these segments, or with these variants, in the browser that opens it; nothing is counted. Send it to a colleague or open it yourself.'),
    h('div.pl-form', segBox, varBox,
      h('div.pair',
        h('div.field', h('label', { for: 'pl-path' }, 'Page'), pathIn),
        h('div.field', h('label', { for: 'pl-ttl' }, 'Valid for'), ttlIn, h('p.hint#pl-ttl-hint', 'A duration up to 7d: 30m, 1h, 2d.'))),
      draftLabel, h('div.buttons', make)),
    result,
    h('h3', 'Links made'), links);
  el.addEventListener('toggle', () => { if (el.open) app.run(render, status); });

  function render() {
    const r = app.shared.read();
    const doc = r.doc || {};
    const segs = (Array.isArray(doc.segments) ? doc.segments : []).filter(isObj).map((s) => s.id);
    segBox.replaceChildren(segBox.firstChild, ...segs.map((s) => h('label.field-check.pl-seg', h('input', { type: 'checkbox', value: s, name: 'pl-seg' }), ' ', s)));
    const exps = Object.entries(isObj(doc.experiments) ? doc.experiments : {}).filter(([, e]) => isObj(e) && Array.isArray(e.variants));
    varBox.replaceChildren(varBox.firstChild, ...(exps.length ? exps.map(([k, e]) => h('div.field.pl-var',
      h('label', { for: `pl-var-${k}` }, k),
      h('select.pl-variant', { id: `pl-var-${k}`, dataset: { experiment: k } }, h('option', { value: '' }, 'as assigned'), e.variants.filter(isObj).map((v) => h('option', { value: v.id }, v.id)))))
      : [h('p.hint', 'No experiments in the editor’s document.')]));
    draftBox.disabled = !app.rules.isDirty();
    draftLabel.title = draftBox.disabled ? 'No unsaved changes: the link shows the live rules.' : '';
    return listLinks();
  }

  async function create() {
    const ttl = ttlIn.value.trim();
    if (durationError(ttl)) { status.set('error', `Valid for: ${durationError(ttl)}`); ttlIn.focus(); return; }
    const body = {
      segments: [...segBox.querySelectorAll('input:checked')].map((i) => i.value),
      variants: Object.fromEntries([...varBox.querySelectorAll('select')].filter((s) => s.value).map((s) => [s.dataset.experiment, s.value])),
      ttl,
      path: pathIn.value.trim() || '/',
    };
    if (draftBox.checked) {
      const d = await saveDraft(app, app.rules.editor.getText(), status);
      if (!d) return;
      body.draft = d.draft;
    }
    status.set('busy', 'Signing the link…');
    const r = await call('POST', 'preview', { body, accept: [400, 409, 422] });
    if (r.status !== 200) {
      status.set('error', `No link: ${r.body?.error || (r.body?.errors || []).map((e) => e.message).join('; ') || `status ${r.status}`}${body.draft ? '' : ' (a link of the live rules names only what is saved: save first, or tick “unsaved changes”)'}.`);
      return;
    }
    const url = new URL(r.body.url, window.location.origin).href;
    const out = h('input#pl-url', { type: 'text', readonly: true, value: url, 'aria-label': 'The preview link' });
    const copy = h('button.secondary.small#pl-copy', { type: 'button', onclick: async () => {
      out.select();
      try { await navigator.clipboard.writeText(url); copy.textContent = 'Copied'; } catch { document.execCommand?.('copy'); copy.textContent = 'Selected: press Ctrl/Cmd+C'; }
    } }, 'Copy');
    result.replaceChildren(h('p.status.status-ok', `Link made, valid until ${formatTime(r.body.expires_at * 1000)}${body.draft ? ` (draft ${body.draft})` : ''}.`),
      h('div.pl-url-row', out, copy, h('a.button.secondary.small#pl-open', { href: url, target: '_blank', rel: 'noopener' }, 'Open')));
    status.set('', '');
    await listLinks();
  }

  async function listLinks() {
    const r = await call('GET', 'preview/links', { accept: [404] });
    const all = (r.status === 200 ? r.body?.links || [] : []).filter((l) => l && l.id).sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
    const now = Date.now() / 1000;
    links.replaceChildren(...(all.length ? all.map((l) => {
      const what = [...(l.segments || []), ...(l.variants || []).map(([k, v]) => `${k}: ${v}`)].join(', ') || 'nothing forced';
      const gone = l.revoked_at ? `revoked ${formatTime(l.revoked_at * 1000)}` : l.expires_at <= now ? 'expired' : `until ${formatTime(l.expires_at * 1000)}`;
      const revoke = l.revoked_at || l.expires_at <= now ? null : gate(app, h('button.secondary.small.danger.pl-revoke', {
        type: 'button', 'aria-label': `Revoke the link for ${what}`,
        onclick: () => app.run(async () => {
          if (!confirm('Revoke this link? Browsers that opened it stop previewing at their next page.')) return;
          await call('POST', `preview/revoke/${encodeURIComponent(l.id)}`, { body: {} });
          status.set('ok', 'Link revoked.');
          await listLinks();
        }, status),
      }, 'Revoke'), 'preview_link');
      return h('li.pl-link', { dataset: { id: l.id } },
        h('span', h('strong', what), ' on ', h('code', l.path || '/'), l.draft ? ` · draft ${l.draft}` : ''),
        h('span.meta-more', ` · ${gone}${l.by ? ` · by ${l.by}` : ''}`), ' ',
        l.revoked_at ? null : h('a', { href: new URL(l.url, window.location.origin).href, target: '_blank', rel: 'noopener' }, 'open'), ' ', revoke);
    }) : [h('li.hint', 'No links yet.')]));
  }

  return { el, render };
}
