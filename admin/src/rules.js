// The Rules tab: the editor, Validate, Save (with If-Match), and the 409 / 422 handling.
import { call, etagRevision } from './api.js';
import { saveDraft, gate } from './drafts.js';
import { createEditor } from './editor.js';
import { diffLines, renderDiff } from './diff.js';
import { h, statusLine, askForm, formatTime, relativeTime, author, byLine } from './ui.js';

export const EMPTY_TEMPLATE = `{
  "format": 1,
  "version": "draft-1",
  "settings": {},
  "events": {},
  "signals": {},
  "segments": [],
  "blocks": {}
}
`;

export function rulesView(app) {
  const meta = h('div.meta#rules-meta');
  const dirtyBadge = h('span.badge.badge-warn#rules-dirty', { hidden: true }, 'Unsaved changes');
  const validateBtn = h('button.secondary#validate', { type: 'button', onclick: () => app.run(validate, status) }, 'Validate');
  const saveBtn = h('button.primary#save', { type: 'button', onclick: () => app.run(save, status), title: 'Save these rules as the live version' }, 'Publish…');
  const draftBtn = h('button.secondary#save-draft', {
    type: 'button', title: 'Save as a draft: not live; preview it by link, a publisher publishes it',
    onclick: () => app.run(() => saveDraft(app, editor.getText(), status), status),
  }, 'Save draft…');
  gate(app, saveBtn, 'publish');
  gate(app, draftBtn, 'save_draft');
  // What the role may not do, said where the buttons are (not only in a tooltip).
  const roleNote = !app.can('publish')
    ? h('p.hint.role-note#role-note', app.can('save_draft')
      ? `You are an ${app.me.identity.role}: save your changes as a draft and preview them; a publisher publishes them.`
      : `You are a ${app.me.identity.role}: you can read, validate and simulate; saving needs an editor, publishing a publisher.`)
    : null;
  const reloadBtn = h('button.secondary#reload', {
    type: 'button', title: 'Load the stored rules again',
    onclick: () => app.run(async () => {
      if (isDirty() && !confirm('Discard your unsaved changes and load the stored rules?')) return;
      await load();
      status.set('info', 'Loaded the stored rules.');
    }, status),
  }, 'Reload');
  const conflict = h('section.panel.conflict#conflict', { hidden: true, 'aria-live': 'polite' });
  const host = h('div.editor-host#editor');
  const status = statusLine('rules-status');
  const errorList = h('ol.errors#errors', { hidden: true });

  const el = h('section.view#view-rules', { 'aria-labelledby': 'tab-rules' },
    h('div.toolbar', h('div.toolbar-meta', meta, dirtyBadge), h('div.actions', validateBtn, draftBtn, saveBtn, reloadBtn)),
    roleNote,
    conflict,
    host,
    status.el,
    errorList);

  const editor = createEditor(host, { onChange: () => updateDirty(), onSave: () => app.run(save, status) });
  const doc = app.doc; // shared: { exists, revision, label, text (as stored), author, message, saved_at }

  function isDirty() { return editor.getText() !== (doc.exists ? doc.text : EMPTY_TEMPLATE); }
  function updateDirty() {
    const dirty = isDirty();
    // Saved as a draft is not live, but not lost either: say which.
    const drafted = dirty && app.lastDraft && app.lastDraft.text === editor.getText();
    dirtyBadge.hidden = !dirty;
    dirtyBadge.textContent = drafted ? `Draft ${app.lastDraft.draft}, not live` : 'Unsaved changes';
  }

  function renderMeta() {
    if (!doc.exists) {
      meta.replaceChildren(h('strong', 'No rules saved yet.'), ' Start from this template and save the first version.');
    } else if (!doc.saved_at) {
      // Rules put into KV directly (make dev's seed, wrangler kv key put): no revision history yet.
      meta.replaceChildren(
        h('strong', 'Rules put into KV directly'), ' · ', h('span.label', doc.label || '(no label)'),
        h('span.meta-more', ' · not saved through this page yet, so there is no history; your first save starts it'));
    } else {
      meta.replaceChildren(
        h('strong', `Revision ${doc.revision}`), ' · ', h('span.label', doc.label || '(no label)'),
        h('span.meta-more', ' · ', `${byLine(doc)}, `, h('time', { datetime: doc.saved_at || '', title: formatTime(doc.saved_at) }, relativeTime(doc.saved_at)),
          doc.message ? [' · “', doc.message, '”'] : null));
    }
    app.setRevision(doc.exists ? doc.revision : null);
    updateDirty();
  }

  function setDoc(body, headers) {
    if (!body) {
      Object.assign(doc, { exists: false, revision: null, label: null, text: '', author: null, message: null, saved_at: null });
      return;
    }
    const rev = Number.isInteger(body.revision) ? body.revision : etagRevision(headers);
    Object.assign(doc, { exists: true, revision: rev, label: body.label, text: body.text ?? '', author: body.author, message: body.message, saved_at: body.saved_at, by: body.by, drafted_by: body.drafted_by });
  }

  /** GET api/rules; replaces the editor text unless keepText. */
  async function load({ keepText = false } = {}) {
    const r = await call('GET', 'rules', { accept: [404] });
    setDoc(r.status === 404 ? null : r.body, r.headers);
    if (!keepText) {
      editor.setText(doc.exists ? doc.text : EMPTY_TEMPLATE);
      showErrorList([]);
    }
    renderMeta();
    return r;
  }

  function showErrorList(errors) {
    errorList.replaceChildren();
    errorList.hidden = !errors.length;
    for (const e of errors) {
      const where = Number.isInteger(e.line) ? `Line ${e.line}${Number.isInteger(e.column) ? `:${e.column}` : ''}` : 'No line';
      const warning = e.severity === 'warning';
      const item = h(warning ? 'li.error-item.warning-item' : 'li.error-item', { dataset: { line: Number.isInteger(e.line) ? String(e.line) : '' } },
        h('button.linklike', { type: 'button', disabled: e.from === null, onclick: () => editor.goTo(e.from) }, where),
        ' ', warning ? h('strong', 'Warning: ') : null, e.path ? h('code', e.path) : null, e.path ? ': ' : '', e.message);
      errorList.append(item);
    }
  }

  function showErrors(errors, what) {
    const list = Array.isArray(errors) ? errors : [];
    const placed = editor.showErrors(list);
    showErrorList(placed);
    status.set('error', `${what}: ${list.length} error${list.length === 1 ? '' : 's'}.`);
  }

  /** What a save or validation only warns about (content size), shown in the list and editor. */
  function showWarnings(warnings) {
    const list = (Array.isArray(warnings) ? warnings : []).map((w) => ({ ...w, severity: 'warning' }));
    showErrorList(editor.showErrors(list));
    return list.length ? ` ${list.length} warning${list.length === 1 ? '' : 's'} below.` : '';
  }

  async function validate() {
    status.set('busy', 'Validating…');
    const r = await call('POST', 'rules/validate', { body: { text: editor.getText() }, accept: [400, 422] });
    if (r.status === 200 && r.body && r.body.valid !== false) {
      const b = r.body;
      const warned = showWarnings(b.warnings);
      status.set('ok', `Valid${b.label ? ` (“${b.label}”)` : ''}: ${b.segments ?? '?'} segments, ${b.blocks ?? '?'} blocks.${warned}`);
      return true;
    }
    showErrors(r.body?.errors || [{ path: '', message: r.body?.error || `status ${r.status}`, line: null, column: null }], 'Not valid');
    return false;
  }

  async function save() {
    const vals = await askForm({
      id: 'save-dialog',
      title: doc.exists ? `Publish over revision ${doc.revision}` : 'Publish the first version',
      text: `The Worker picks the new rules up within its refresh interval. Recorded as ${app.me.identity.id}.`,
      fields: [
        { name: 'message', label: 'What changed', required: true, placeholder: 'e.g. spring hero for campaign visitors' },
        // The admin token is shared: a typed name is a note beside it. People are known.
        ...(app.me.identity.kind === 'service' ? [{ name: 'author', label: 'Your name (a note)', required: true, value: author.get() }] : []),
      ],
      submit: 'Publish',
    });
    if (!vals) return;
    if (vals.author) author.set(vals.author);
    const text = editor.getText();
    const headers = doc.exists ? { 'if-match': `"${doc.revision}"` } : { 'if-none-match': '*' };
    status.set('busy', 'Saving…');
    const r = await call('PUT', 'rules', { body: { text, author: vals.author || '', message: vals.message }, headers, accept: [409, 412, 422] });
    if (r.status === 409 || r.status === 412) {
      showConflict(r.body?.current_revision, text);
      status.set('error', 'Not saved: the rules changed on the server meanwhile.');
      return;
    }
    if (r.status === 422) {
      showErrors(r.body?.errors, 'Not saved, the rules are not valid');
      return;
    }
    const rev = r.body?.revision;
    const warnings = r.body?.warnings;
    hideConflict();
    // Refresh the metadata (label, time) without touching the text we just sent.
    await load({ keepText: true });
    const warned = showWarnings(warnings);
    if (doc.revision !== rev || doc.text !== text) {
      // Someone saved right after us: keep our text, note the stored revision.
      status.set('info', `Saved as revision ${rev}; the server now holds revision ${doc.revision}.${warned}`);
    } else {
      status.set('ok', `Saved as revision ${rev}.${warned}`);
    }
    updateDirty();
    app.invalidateVersions();
  }

  function hideConflict() { conflict.hidden = true; conflict.replaceChildren(); }

  function showConflict(current, mine) {
    const base = doc.revision;
    conflict.hidden = false;
    conflict.replaceChildren(
      h('h2', 'Someone else saved meanwhile'),
      h('p', `Revision ${current ?? '?'} was saved while you were editing revision ${base ?? '(none)'}. Your text is not saved.`),
      h('div.buttons',
        h('button.primary#load-theirs', { type: 'button', onclick: () => app.run(() => loadTheirs(mine), status) }, `Load revision ${current ?? 'theirs'} (keep my text aside)`),
        h('button.secondary', { type: 'button', onclick: hideConflict }, 'Keep editing')));
    conflict.scrollIntoView({ block: 'nearest' });
  }

  async function loadTheirs(mine) {
    await load();
    const d = diffLines(doc.text, mine);
    const copy = h('textarea.mine-copy#my-text', { readonly: true, rows: 8, spellcheck: 'false' });
    copy.value = mine;
    conflict.hidden = false;
    conflict.replaceChildren(
      h('h2', `The editor now shows revision ${doc.revision}`),
      h('p', `Saved by ${byLine(doc)}${doc.message ? ` (“${doc.message}”)` : ''}. Below: what your text changes compared with it.`),
      h('div.buttons',
        h('button.secondary#put-mine-back', {
          type: 'button',
          title: `Put your text in the editor; saving then replaces revision ${doc.revision}`,
          onclick: () => { editor.setText(mine); hideConflict(); status.set('info', `Your text is back in the editor; saving will replace revision ${doc.revision}.`); },
        }, 'Use my text instead'),
        h('button.secondary', {
          type: 'button',
          onclick: async () => {
            try { await navigator.clipboard.writeText(mine); status.set('ok', 'Your text is on the clipboard.'); } catch { copy.select(); status.set('info', 'Select-all done: copy it with Ctrl+C.'); }
          },
        }, 'Copy my text'),
        h('button.secondary', { type: 'button', onclick: hideConflict }, 'Discard my text')),
      renderDiff(d, { oldLabel: `revision ${doc.revision} (theirs)`, newLabel: 'your text' }),
      h('details', h('summary', 'Your text, whole'), copy));
    status.set('info', `Loaded revision ${doc.revision}; your text is kept in the panel above.`);
  }

  // save(): the same Save… as the button, for the workbench's builders.
  return { el, editor, load, validate, isDirty, renderMeta, save: () => app.run(save, status), onShow() { editor.view.requestMeasure(); } };
}
