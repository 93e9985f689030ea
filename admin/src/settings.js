// The Settings tab (issue 23, item 4): the general settings, the declared events, counters,
// saved groups, the export to R2, the activation webhooks, the origin cache and consent, as
// forms over the shared rules document (settings-forms.js). `settings.admin` (Access roles)
// has no form: it is about who may publish, and only a publisher's publish applies it.
// Every change is written into the editor at once (the JSON stays in sync, undo works);
// Save goes through the workbench's save: field errors first, then rules/validate (its
// errors at the fields by JSON path), then the Rules tab's save.
import { h } from './ui.js';
import { field } from './fields.js';
import { shared, builderSave } from './workbench.js';
import { placeServerErrors } from './builder.js';
import { settingsFields, applySettingsFields, newActivationRow, newEventRow, newPropRow, eventUses, newCounterRow, newGroupRow, COUNTER_KIND, ACTIVATION_ON, EVENT_SOURCE, DEFAULTS } from './settings-forms.js';

export function settingsView(app) {
  const doc = shared(app);
  const status = h('p.status.builder-status#settings-status', { role: 'status', 'aria-live': 'polite' });
  const saveBtn = h('button.primary#settings-save', { type: 'button', onclick: () => app.run(() => builderSave(app, form, status), null) }, 'Save');
  const body = h('div.settings-body#settings-body');
  const el = h('section.view.builder#view-settings', { 'aria-labelledby': 'tab-settings', hidden: true },
    h('div.toolbar', h('div.toolbar-meta', h('strong', 'Settings'), h('span.meta-more', ' · general, events, counters, groups, export, webhooks, cache, consent')),
      h('div.actions', saveBtn)),
    status, body);
  let fields = null; // what the forms show (settingsFields shape)
  let all = []; // every field, for errors
  let written = null; // the editor's text as this tab last read or wrote it
  let health = null;

  const form = {
    status,
    errors: () => all.filter((fl) => fl.error).map((fl) => ({ field: fl, message: fl.error })),
    /** Server errors at the field whose path is the longest prefix (the builders' rule). */
    showServerErrors: (list) => placeServerErrors(list, all, (fl, msg) => { fl.error = msg; fl.setError(msg); }),
  };

  /** Reads the fields into the document (the smallest edit), marking each field's error. */
  function write() {
    const { doc: d } = doc.read();
    if (!d) return;
    const { value, errors } = applySettingsFields(d, fields);
    for (const fl of all) { fl.error = errors[fl.path] || ''; fl.setError(fl.error); }
    doc.write(value);
    written = doc.text();
  }

  /** A field bound to fields[section][key] (or an activation row). */
  function bound(obj, key, opts) {
    const fl = field({ ...opts, value: obj[key], onInput: (v) => { obj[key] = v; opts.after?.(v); write(); } });
    fl.error = '';
    all.push(fl);
    return fl;
  }

  function card(id, title, intro, ...children) {
    return h(`section.card.settings-card#settings-${id}`, { 'aria-labelledby': `settings-${id}-title` },
      h('h2', { id: `settings-${id}-title` }, title), intro ? h('p.hint', intro) : null, children);
  }

  function exportCard(d) {
    const f = fields.export;
    const base = 'settings.export';
    const events = Object.keys(d.events || {}).filter((e) => e !== 'page_view');
    const listMode = (key, what, names) => {
      const list = bound(f, key, { label: `Only these ${what} (comma separated)`, path: `${base}.${key}`, placeholder: names.join(', '), hint: names.length ? `In the rules: ${names.join(', ')}` : '' });
      list.el.hidden = f[`${key}_all`];
      // Its own path: the server's errors about the list go to the list.
      const every = bound(f, `${key}_all`, { label: `Every ${what.replace(/s$/, '')} in the rules`, kind: 'checkbox', path: `${base}.${key}#all`, after: (v) => { list.el.hidden = v; } });
      return [every.el, list.el];
    };
    return card('export', 'Export to R2', 'Records of page views and events for tracked visitors, written to the R2 bucket as gzip NDJSON (README, “Data out”). Nothing the rules do not list here is exported.',
      bound(f, 'enabled', { label: 'Export records', kind: 'checkbox', path: `${base}.enabled` }).el,
      bound(f, 'page_views', { label: 'A record per page view', kind: 'checkbox', path: `${base}.page_views` }).el,
      listMode('events', 'events', events),
      listMode('signals', 'signals', Object.keys(d.signals || {})),
      bound(f, 'props', { label: 'Event properties kept', kind: 'textarea', rows: 3, path: `${base}.props`, placeholder: 'purchase: value, currency', hint: 'A line per event: “event: property, property”. None are kept unless listed.' }).el,
      bound(f, 'utm', { label: 'UTM parameters kept (without utm_)', path: `${base}.utm`, placeholder: DEFAULTS.export.utm.join(', ') }).el);
  }

  function activationsCard(d) {
    const rowsEl = h('div.activation-rows');
    const segments = (d.segments || []).map((s) => [s.id, s.id]);
    const experiments = Object.keys(d.experiments || {}).map((k) => [k, k]);
    const models = Object.entries(d.signals || {}).filter(([, v]) => v && ['logistic', 'trees', 'cluster'].some((k) => k in v)).map(([k]) => [k, k]);
    const secret = health?.export?.webhook_secret_configured;
    const render = () => {
      rowsEl.replaceChildren(...fields.activations.map((row, i) => {
        const p = `activations[${i}]`;
        const segmentField = bound(row, 'segment', { label: 'Segment', kind: 'select', options: [['', '(none)'], ...segments], path: `${p}.segment` });
        const experimentField = bound(row, 'experiment', { label: 'Experiment (empty: every experiment)', kind: 'select', options: [['', '(every experiment)'], ...experiments], path: `${p}.experiment` });
        const signalField = bound(row, 'signal', { label: 'Model (empty: every model)', kind: 'select', options: [['', '(every model)'], ...models], path: `${p}.signal` });
        const sync = (on) => {
          segmentField.el.hidden = on === 'guardrail_stop' || on === 'model_drift';
          experimentField.el.hidden = on !== 'guardrail_stop';
          signalField.el.hidden = on !== 'model_drift';
        };
        const onField = bound(row, 'on', { label: 'Fires when', kind: 'select', options: Object.entries(ACTIVATION_ON), path: `${p}.on`, after: sync });
        sync(row.on);
        return h('fieldset.activation-row', { dataset: { index: String(i) } },
          h('legend', `Webhook ${i + 1}`),
          bound(row, 'id', { label: 'Id', path: `${p}.id`, hint: 'Letters, digits and _; the payload names it.' }).el,
          bound(row, 'description', { label: 'Description', path: `${p}.description`, placeholder: 'What it is for' }).el,
          onField.el, segmentField.el, experimentField.el, signalField.el,
          bound(row, 'url', { label: 'URL', path: `${p}.url`, placeholder: 'https://crm.example.com/hooks/edgeseg' }).el,
          h('div.pair.settings-pair',
            bound(row, 'max_per_minute', { label: 'Most a minute', kind: 'number', path: `${p}.max_per_minute`, placeholder: '60' }).el,
            bound(row, 'max_per_hour', { label: 'Most an hour', kind: 'number', path: `${p}.max_per_hour`, placeholder: '1000' }).el),
          h('button.secondary.small.danger.remove-activation', {
            type: 'button',
            onclick: () => { fields.activations.splice(i, 1); rerender(); write(); },
          }, `Remove webhook ${i + 1}`));
      }));
    };
    const rerender = () => { all = all.filter((fl) => !fl.path.startsWith('activations[')); render(); };
    render();
    return card('activations', 'Webhooks (activations)', null,
      h('p.hint', 'A signed POST when a tracked visitor enters or leaves a segment, when a guardrail stops a variant, or when a model drifts (the Models tab). Each is signed with the ',
        h('code', 'EDGESEG_WEBHOOK_SECRET'), ' Worker secret (', h('code', 'wrangler secret put EDGESEG_WEBHOOK_SECRET'),
        '), never with anything in the rules: the rules hold only where to send. '),
      secret === false ? h('p.status.status-error#webhook-secret-missing', 'This Worker has no EDGESEG_WEBHOOK_SECRET: no webhook is sent until it is set.') : null,
      rowsEl,
      h('button.secondary#add-activation', { type: 'button', onclick: () => { fields.activations.push(newActivationRow(doc.read().doc)); rerender(); write(); } }, '+ Add webhook'));
  }

  function generalCard() {
    const f = fields.general;
    const g = DEFAULTS.general;
    const one = (key, label, kind, hint) => bound(f, key, { label, kind, path: `settings.${key}`, placeholder: String(g[key]), hint: `${hint} Empty: ${g[key]}.` }).el;
    return card('general', 'General', 'The visitor cookie, sessions and how fast the Worker picks up new rules.',
      one('cookie_name', 'Visitor cookie name', 'text', 'Renaming it starts every visitor afresh.'),
      h('div.pair.settings-pair',
        one('cookie_lifetime', 'The cookie lives for', 'duration', 'After the last visit.'),
        one('session_timeout', 'A session ends after', 'duration', 'Without a request.')),
      h('div.pair.settings-pair',
        one('refresh_seconds', 'Re-read the rules at most every (seconds)', 'number', 'How soon a save reaches every Worker.'),
        one('counter_retention', 'Keep hourly counters for', 'duration', 'In KV.')));
  }

  function eventsCard() {
    const rowsEl = h('div.decl-event-rows');
    const render = () => {
      rowsEl.replaceChildren(...fields.events.map((row, i) => {
        const mine = [];
        const on = (key, opts) => { const fl = bound(row, key, opts); mine.push(fl); return fl.el; };
        const p = () => `events.${row.name.trim()}`;
        const repath = (prefix) => { for (const fl of mine) { fl.path = prefix + fl.path.slice(fl.path.indexOf('.', 7)); fl.el.dataset.path = fl.path; } };
        const propsEl = h('div.prop-rows');
        const renderProps = () => {
          for (const fl of mine.filter((x) => x.prop)) all.splice(all.indexOf(fl), 1);
          mine.splice(0, mine.length, ...mine.filter((x) => !x.prop));
          propsEl.replaceChildren(...row.props.map((pr, j) => {
            const pp = `${p()}.props.${pr.name.trim()}`;
            const fls = [
              bound(pr, 'name', { label: 'Property', path: `${pp}.name`, after: (v) => { for (const fl of fls) { fl.path = `${p()}.props.${v.trim()}.${fl.path.split('.').pop()}`; fl.el.dataset.path = fl.path; } } }),
              bound(pr, 'min', { label: 'Smallest', kind: 'number', path: `${pp}.min`, placeholder: 'no bound' }),
              bound(pr, 'max', { label: 'Largest', kind: 'number', path: `${pp}.max`, placeholder: 'no bound' }),
            ];
            for (const fl of fls) { fl.prop = true; mine.push(fl); }
            return h('div.prop-row', h('div.settings-triple', fls.map((fl) => fl.el)),
              h('button.secondary.small.danger.remove-prop', { type: 'button', onclick: () => { row.props.splice(j, 1); renderProps(); write(); } }, `Remove the bound on ${pr.name.trim() || 'the property'}`));
          }));
        };
        const nameEl = on('name', { label: 'Name', path: `${p()}.name`, hint: 'What the page sends: edgeseg.track(“name”).', after: (v) => repath(`events.${v.trim()}`) });
        const fs = h('fieldset.decl-event-row', { dataset: { index: String(i) } },
          h('legend', `Event ${row.name.trim() || i + 1}`),
          nameEl,
          on('description', { label: 'Description', path: `${p()}.description`, placeholder: 'What it means' }),
          h('div.pair.settings-pair',
            on('remember', { label: 'Remembered for', kind: 'duration', path: `${p()}.remember`, hint: 'Empty: 30d.' }),
            on('source', { label: 'Sent by', kind: 'select', options: Object.entries(EVENT_SOURCE), path: `${p()}.source` })),
          h('p.hint', 'Bounds on numeric properties: a value outside them refuses the event (400) and nothing is recorded.'),
          propsEl,
          h('div.actions',
            h('button.secondary.small.add-prop', { type: 'button', onclick: () => { row.props.push(newPropRow()); renderProps(); write(); } }, '+ Bound a property'),
            h('button.secondary.small.danger.remove-decl-event', {
              type: 'button',
              onclick: () => {
                const uses = row.at !== undefined ? eventUses(doc.read().doc || {}, row.at) : [];
                if (uses.length) { status.textContent = `“${row.at}” is used by ${uses.join(', ')}: change those first.`; status.className = 'status builder-status status-error'; return; }
                fields.events.splice(i, 1); rerender(); write();
              },
            }, `Remove event ${row.name.trim() || i + 1}`)));
        renderProps();
        return fs;
      }));
    };
    const rerender = () => { all = all.filter((fl) => !fl.path.startsWith('events.')); render(); };
    render();
    return card('events', 'Events', 'The events the site may send besides page_view (edgeseg.track on the page, or signed from its server).',
      rowsEl,
      h('button.secondary#add-event', { type: 'button', onclick: () => { fields.events.push(newEventRow(doc.read().doc)); rerender(); write(); } }, '+ Add event'));
  }

  /** A card of named rows (counters, saved groups): fields(row, path) gives a row's fields. */
  function namedCard(id, key, title, intro, what, newRow, rowFields) {
    const rowsEl = h('div.activation-rows');
    const render = () => {
      rowsEl.replaceChildren(...fields[key].map((row, i) => {
        const mine = [];
        const p = `${key}.${row.name.trim()}`;
        // A field's path is the row's plus its own part ('' for the row's value itself, as a saved group's list).
        const on = (k, opts) => { const part = opts.path ?? k; const fl = bound(row, k, { ...opts, path: part ? `${p}.${part}` : p }); fl.part = () => (part === '' ? '' : fl.path.split('.').pop()); mine.push(fl); return fl; };
        const nameFl = on('name', { label: 'Name', after: (v) => { for (const fl of mine) { const part = fl.part(); fl.path = part ? `${key}.${v.trim()}.${part}` : `${key}.${v.trim()}`; fl.el.dataset.path = fl.path; } } });
        return h(`fieldset.activation-row.${id}-row`, h('legend', `${what} ${row.name.trim() || i + 1}`),
          nameFl.el, rowFields(row, on),
          h('button.secondary.small.danger', { type: 'button', onclick: () => { fields[key].splice(i, 1); rerender(); write(); } }, `Remove ${what.toLowerCase()} ${row.name.trim() || i + 1}`));
      }));
    };
    const rerender = () => { all = all.filter((fl) => !fl.path.startsWith(`${key}.`)); render(); };
    render();
    return card(id, title, intro, rowsEl,
      h(`button.secondary#add-${id}`, { type: 'button', onclick: () => { fields[key].push(newRow(doc.read().doc)); rerender(); write(); } }, `+ Add ${what.toLowerCase()}`));
  }

  function countersCard(d) {
    const opts = {
      event: ['page_view', ...Object.keys(d.events || {})], impressions: Object.keys(d.blocks || {}), entries: (d.segments || []).map((s) => s.id),
    };
    const segments = [['', '(any segment)'], ...(d.segments || []).map((s) => [s.id, s.id])];
    return namedCard('counters', 'counters', 'Counters', 'Counted per hour in KV beside the built-in ones; a condition reads today’s total as counters.NAME (README, “Counters”).', 'Counter', newCounterRow, (row, on) => {
      const choices = (k) => [...new Set([...(row.target && row.kind === k ? [row.target] : []), ...opts[k]])].map((v) => [v, v]);
      const target = on('target', { label: 'Which', kind: 'select', options: choices(row.kind), path: row.kind });
      const seg = on('segment', { label: 'Only this segment’s content', kind: 'select', options: segments, path: 'segment' });
      seg.el.hidden = row.kind !== 'impressions';
      const kind = on('kind', {
        label: 'Counts', kind: 'select', options: Object.entries(COUNTER_KIND), path: 'kind',
        after: (v) => {
          seg.el.hidden = v !== 'impressions';
          target.input.replaceChildren(...choices(v).map(([val]) => h('option', { value: val }, val)));
          row.target = target.input.value;
          target.path = target.path.replace(/[^.]+$/, v); target.el.dataset.path = target.path;
        },
      });
      return [kind.el, target.el, seg.el];
    });
  }

  function groupsCard() {
    return namedCard('saved-groups', 'saved_groups', 'Saved groups', 'Named lists of values for the “is in group” conditions ($inGroup, $notInGroup).', 'Group', newGroupRow,
      (row, on) => on('values', { label: 'Values, one a line', kind: 'textarea', rows: 3, path: '', hint: 'A number as written; in quotes ("10001") a text that looks like a number.' }).el);
  }

  function cacheCard() {
    const f = fields.origin_cache;
    const base = 'settings.origin_cache';
    const dur = (key, label, hint) => bound(f, key, { label, kind: 'duration', path: `${base}.${key}`, hint: `${hint} Empty: ${DEFAULTS.origin_cache[key]}.` }).el;
    return card('origin-cache', 'Origin cache', 'Keeps the origin’s default pages at the edge and personalizes each visitor’s copy after the cache (README, “Origin cache”).',
      bound(f, 'enabled', { label: 'Cache the origin’s pages', kind: 'checkbox', path: `${base}.enabled`, hint: 'Only once your personal pages say Cache-Control: private (or set a cookie) and your login cookies are listed below: a cached page is shared by every visitor.' }).el,
      h('div.pair.settings-pair',
        dur('ttl', 'Fresh for', 'When the origin sends no max-age.'),
        dur('max_ttl', 'At most', 'The longest max-age honoured.')),
      h('div.pair.settings-pair',
        dur('stale_while_revalidate', 'Served stale while refetching for', '0: off.'),
        dur('stale_if_error', 'Served stale when the origin fails for', '0: off.')),
      bound(f, 'session_cookies', { label: 'Login cookies (never cached; comma separated)', path: `${base}.session_cookies`, placeholder: 'session, wordpress_logged_in_*', hint: 'A trailing * matches a prefix.' }).el,
      bound(f, 'ignore_params', { label: 'Query parameters left out of the cache key', path: `${base}.ignore_params`, hint: 'Besides utm_*, always left out. A trailing * matches a prefix.' }).el);
  }

  function consentCard() {
    const f = fields.consent;
    const base = 'settings.consent';
    const purposes = (key, label) => bound(f, key, { label, path: `${base}.tcf.${key}`, placeholder: DEFAULTS.tcf[key].join(', ') }).el;
    const tcfName = bound(f, 'tcf_cookie', { label: 'TCF cookie', path: `${base}.tcf.cookie`, placeholder: 'euconsent-v2' });
    const tcfBox = h('div.tcf-fields', tcfName.el,
      purposes('store', 'Purposes to keep the state cookie'),
      purposes('personalize', 'Purposes to personalize from history'),
      purposes('measure', 'Purposes to count, export and send webhooks'),
      bound(f, 'vendor', { label: 'Your IAB vendor id (optional)', kind: 'number', path: `${base}.tcf.vendor` }).el);
    tcfBox.hidden = !f.tcf_read;
    return card('consent', 'Consent', 'When not to track: an untracked visitor gets no state cookie, and nothing about them is counted, exported or sent (README, “Consent and privacy”).',
      bound(f, 'respect_gpc', { label: 'Honour Global Privacy Control (Sec-GPC: 1)', kind: 'checkbox', path: `${base}.respect_gpc` }).el,
      bound(f, 'cookie', { label: 'Your consent cookie (optional)', path: `${base}.cookie`, placeholder: 'nw_consent' }).el,
      bound(f, 'deny_values', { label: 'Its values that mean “no tracking”', path: `${base}.deny_values` }).el,
      bound(f, 'tcf_read', { label: 'Read the IAB TCF consent string', kind: 'checkbox', path: `${base}.tcf`, after: (v) => { tcfBox.hidden = !v; } }).el,
      tcfBox);
  }

  function render() {
    const { doc: d, error } = doc.read();
    all = [];
    written = doc.text();
    if (!d || typeof d !== 'object') {
      fields = null;
      body.replaceChildren(h('p.status.status-error', `The rules in the editor are not valid JSON${error ? ` (${error.message})` : ''}: fix them in the Rules tab first.`));
      saveBtn.disabled = true;
      return;
    }
    saveBtn.disabled = false; // the Rules tab's save knows the role (a draft for editors)
    fields = settingsFields(d);
    body.replaceChildren(h('div.settings-grid', generalCard(), eventsCard(), countersCard(d), groupsCard(), exportCard(d), activationsCard(d), cacheCard(), consentCard()));
  }

  async function loadHealth() {
    try {
      const res = await fetch(new URL('../health', window.location.href), { cache: 'no-store' });
      health = res.ok ? await res.json() : null;
    } catch { health = null; }
  }

  return {
    el,
    async onShow() {
      if (!health) await loadHealth();
      if (!fields || doc.text() !== written) render();
      if (app.settingsFocus) {
        const target = el.querySelector(`#settings-${app.settingsFocus}`);
        app.settingsFocus = null;
        target?.scrollIntoView({ block: 'start' });
        target?.querySelector('input')?.focus();
      }
    },
  };
}
