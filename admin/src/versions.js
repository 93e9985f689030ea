// The Versions tab: the stored versions, newest first; a diff of one against the
// editor's text; roll back to it.
import { call } from './api.js';
import { diffLines, renderDiff } from './diff.js';
import { h, statusLine, askForm, formatTime, relativeTime, author, byLine } from './ui.js';
import { draftsPanel, gate } from './drafts.js';

export function versionsView(app) {
  const list = h('ol.version-list#version-list', { 'aria-label': 'Stored versions, newest first' });
  const detail = h('div.version-detail#version-detail', h('p.hint', 'Select a version to compare it with the editor’s text.'));
  const status = statusLine('versions-status');
  const drafts = draftsPanel(app, status, () => refresh());
  const el = h('section.view#view-versions', { 'aria-labelledby': 'tab-versions', hidden: true },
    h('div.toolbar', h('div.toolbar-meta', h('strong', 'Versions'), h('span.meta-more', ' · every save and rollback is kept')),
      h('div.actions', h('button.secondary', { type: 'button', onclick: () => app.run(refresh, status) }, 'Refresh'))),
    status.el,
    drafts.el,
    h('div.versions-layout', list, detail));

  let data = null;
  let selected = null;
  let stale = true;

  async function refresh() {
    status.set('busy', 'Loading versions…');
    const r = await call('GET', 'rules/versions', { accept: [404] });
    data = r.status === 404 ? { current: null, versions: [] } : r.body;
    stale = false;
    await drafts.refresh();
    renderList();
    status.set('', '');
    if (selected !== null && data.versions.some((v) => v.revision === selected)) await select(selected);
    else if (selected !== null) { selected = null; detail.replaceChildren(h('p.hint', 'Select a version.')); }
  }

  function renderList() {
    list.replaceChildren();
    if (!data.versions.length) {
      list.append(h('li.hint', 'No versions stored yet.'));
      return;
    }
    for (const v of data.versions) {
      const isCurrent = v.revision === data.current;
      list.append(h('li', h('button.version', {
        type: 'button',
        dataset: { revision: String(v.revision) },
        'aria-pressed': String(v.revision === selected),
        onclick: () => app.run(() => select(v.revision), status),
      },
      h('span.v-head', h('strong', `#${v.revision}`), ' ', h('span.label', v.label || ''),
        isCurrent ? h('span.badge.badge-ok', 'current') : null,
        v.rollback_of != null ? h('span.badge', `rollback of #${v.rollback_of}`) : null),
      h('span.v-msg', v.message || '(no message)'),
      h('span.v-by', byLine(v), ' · ', h('time', { datetime: v.saved_at || '', title: formatTime(v.saved_at) }, `${formatTime(v.saved_at)} (${relativeTime(v.saved_at)})`)))));
    }
  }

  async function select(revision) {
    selected = revision;
    for (const b of list.querySelectorAll('button.version')) b.setAttribute('aria-pressed', String(Number(b.dataset.revision) === revision));
    detail.replaceChildren(h('p.hint', `Loading revision ${revision}…`));
    const r = await call('GET', `rules/versions/${revision}`);
    const v = r.body;
    const editorText = app.rules.editor.getText();
    const dirty = app.rules.isDirty();
    const isCurrent = data && revision === data.current;
    const d = diffLines(editorText, v.text ?? '');
    detail.replaceChildren(
      h('h2', `Revision ${revision}`, v.label ? ` · ${v.label}` : ''),
      h('p.meta', `${byLine(v)}, ${formatTime(v.saved_at)}`, v.message ? ` · “${v.message}”` : '',
        v.experiments?.length ? ` · ${v.experiments.map((c) => `${c.change} ${c.experiment}`).join(', ')}` : ''),
      h('div.buttons',
        isCurrent ? h('button.primary#rollback', { type: 'button', disabled: true, title: 'This is the version in use' }, 'Roll back to this')
          : gate(app, h('button.primary#rollback', {
            type: 'button',
            title: `Store revision ${revision}'s rules as a new version`,
            onclick: () => app.run(() => rollback(v), status),
          }, 'Roll back to this'), 'rollback'),
        h('button.secondary#open-in-editor', {
          type: 'button',
          onclick: () => {
            if (dirty && !confirm('Replace your unsaved changes in the editor with this version?')) return;
            app.rules.editor.setText(v.text ?? '');
            app.go('rules');
          },
        }, 'Open in the editor')),
      h('p.hint', `Lines marked − are in the editor${dirty ? ' (with your unsaved changes)' : ''}; lines marked + are in revision ${revision}.`),
      renderDiff(d, { oldLabel: dirty ? 'editor (unsaved)' : `editor (revision ${app.doc.revision ?? '—'})`, newLabel: `revision ${revision}` }));
    detail.scrollIntoView({ block: 'nearest' });
  }

  async function rollback(v) {
    if (app.rules.isDirty() && !confirm('The editor has unsaved changes; rolling back replaces them with the rolled-back rules. Go on?')) return;
    const vals = await askForm({
      id: 'rollback-dialog',
      title: `Roll back to revision ${v.revision}`,
      text: 'This stores that version’s rules as a new revision; nothing is deleted.',
      fields: [
        { name: 'message', label: 'Why', required: true, value: `Roll back to revision ${v.revision}` },
        ...(app.me.identity.kind === 'service' ? [{ name: 'author', label: 'Your name (a note)', required: true, value: author.get() }] : []),
      ],
      submit: 'Roll back',
    });
    if (!vals) return;
    if (vals.author) author.set(vals.author);
    status.set('busy', 'Rolling back…');
    const r = await call('POST', 'rules/rollback', { body: { revision: v.revision, author: vals.author || '', message: vals.message } });
    await app.rules.load();
    selected = null;
    await refresh();
    detail.replaceChildren(h('p.hint', 'Select a version to compare it with the editor’s text.'));
    status.set('ok', `Rolled back: revision ${r.body?.revision} now holds revision ${v.revision}’s rules.`);
  }

  return {
    el,
    invalidate() { stale = true; },
    async onShow() { if (stale || !data) await app.run(refresh, status); },
  };
}
