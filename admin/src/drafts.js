// Drafts: rules saved without going live. An editor saves one (with a message), opens a
// signed preview link of it on the real site, and a publisher publishes it.
import { call } from './api.js';
import { h, askForm, formatTime, relativeTime, identityName } from './ui.js';

/** Disables a button the signed-in role may not use, and says why (title and aria). */
export function gate(app, button, action) {
  if (app.can(action)) return button;
  button.disabled = true;
  button.title = app.reason(action);
  button.setAttribute('aria-description', app.reason(action));
  button.dataset.deniedReason = app.reason(action);
  return button;
}

/** Asks for a message, saves `text` as a draft; returns the draft, or undefined when cancelled. */
export async function saveDraft(app, text, status) {
  const vals = await askForm({
    id: 'draft-dialog',
    title: 'Save as a draft',
    text: `Not live: you get a preview link, and a publisher publishes it. Recorded as ${app.me.identity.id}.`,
    fields: [{ name: 'message', label: 'What it changes', required: true, placeholder: 'e.g. spring hero for campaign visitors' }],
    submit: 'Save draft',
  });
  if (!vals) return undefined;
  status.set('busy', 'Saving the draft…');
  const r = await call('POST', 'rules/drafts', { body: { text, message: vals.message, base_revision: app.doc.revision ?? 0 }, accept: [422] });
  if (r.status === 422) {
    status.set('error', `Not saved: the rules are not valid (${r.body?.errors?.length ?? '?'} errors; Validate shows them).`);
    return undefined;
  }
  const d = r.body;
  app.lastDraft = { text, draft: d.draft };
  app.rules.renderMeta();
  app.invalidateVersions();
  status.set('ok', `Saved as draft ${d.draft}. `, previewButton(app, d.draft, status, 'Open its preview'));
  return d;
}

/** A button that signs a preview link of the draft and opens it in a new tab. */
export function previewButton(app, draft, status, label = 'Preview') {
  return gate(app, h('button.linklike.preview-draft', {
    type: 'button', dataset: { draft: String(draft) },
    onclick: () => app.run(async () => {
      const tab = window.open('', '_blank');
      const r = await call('POST', 'preview', { body: { draft, ttl: '1h' } });
      const url = new URL(r.body.url, window.location.origin).href;
      if (tab) tab.location.href = url;
      status.set('ok', `Preview of draft ${draft} (valid 1 h, for this browser): `, h('a', { href: url, target: '_blank', rel: 'noopener' }, url));
    }, status),
  }, label), 'preview_link');
}

/** The drafts list for the Versions tab: preview, publish (publishers), open in the editor. */
export function draftsPanel(app, status, onPublished) {
  const list = h('ol.draft-list#draft-list', { 'aria-label': 'Drafts, newest first' });
  const el = h('section.drafts', h('h2', 'Drafts'), h('p.hint', 'Saved, not live. Preview by link; a publisher publishes.'), list);

  async function refresh() {
    const r = await call('GET', 'rules/drafts', { accept: [404] });
    const drafts = r.status === 404 ? [] : (r.body?.drafts || []);
    el.hidden = r.status === 404;
    list.replaceChildren();
    const open = drafts.filter((d) => d.published_as == null);
    if (!open.length) list.append(h('li.hint', 'No unpublished drafts.'));
    for (const d of open) {
      const publish = gate(app, h('button.primary.small.publish-draft', {
        type: 'button', dataset: { draft: String(d.draft) },
        onclick: () => app.run(() => publishDraft(d), status),
      }, 'Publish'), 'publish');
      list.append(h('li.draft', { dataset: { draft: String(d.draft) } },
        h('span.v-head', h('strong', `Draft ${d.draft}`), ' ', h('span.label', d.label || ''),
          d.base_revision !== app.doc.revision ? h('span.badge.badge-warn', `from revision ${d.base_revision}`) : null),
        h('span.v-msg', d.message || '(no message)'),
        h('span.v-by.draft-by', identityName(d.by), ', ', d.by?.role || '', ' · ',
          h('time', { datetime: d.saved_at || '', title: formatTime(d.saved_at) }, relativeTime(d.saved_at))),
        h('span.buttons', previewButton(app, d.draft, status), publish,
          h('button.linklike', { type: 'button', onclick: () => app.run(() => openDraft(d), status) }, 'Open in the editor'))));
    }
  }

  async function openDraft(d) {
    const r = await call('GET', `rules/drafts/${d.draft}`);
    if (app.rules.isDirty() && !confirm('Replace your unsaved changes in the editor with this draft?')) return;
    app.rules.editor.setText(r.body.text ?? '');
    app.go('rules');
  }

  async function publishDraft(d) {
    const vals = await askForm({
      id: 'publish-dialog',
      title: `Publish draft ${d.draft}`,
      text: `Makes ${identityName(d.by)}’s draft the live rules, recorded as published by ${app.me.identity.id}.`,
      fields: [{ name: 'message', label: 'Message', required: true, value: d.message || '' }],
      submit: 'Publish',
    });
    if (!vals) return;
    status.set('busy', `Publishing draft ${d.draft}…`);
    const r = await call('POST', 'rules/publish', { body: { draft: d.draft, message: vals.message }, accept: [409, 422] });
    if (r.status === 409) {
      status.set('error', r.body?.error || 'Not published.');
      return;
    }
    if (r.status === 422) {
      status.set('error', 'Not published: the draft is not valid any more.');
      return;
    }
    await app.rules.load({ keepText: app.rules.isDirty() });
    await onPublished();
    status.set('ok', `Published draft ${d.draft} as revision ${r.body.revision}.`);
  }

  return { el, refresh };
}
