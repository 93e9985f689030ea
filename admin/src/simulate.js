// The Simulate tab: describe a visitor (events with "how long ago", URL, country,
// device, language), POST api/simulate, show signals, segments, block content and
// the experiments' variants (with why: not in the segment, held out, stopped...).
import { call } from './api.js';
import { h, idText, statusLine } from './ui.js';

const AGO = /^\d+[smhd]$/;
const DEFAULT_EVENTS = [
  { name: 'page_view', path: '/products/trail-runner', ago: '5m' },
  { name: 'add_to_cart', path: '', ago: '40m' },
];

/**
 * “value=129, category=boots” as event properties. Values stay text, as the page's
 * data-edgeseg-prop-* attributes send them: the Worker reads numbers from text.
 */
export function parseProps(text) {
  const value = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf('=');
    const key = at > 0 ? part.slice(0, at).trim() : '';
    if (!/^[A-Za-z0-9_]+$/.test(key)) return { error: `“${part}” is not like name=value` };
    value[key] = part.slice(at + 1).trim();
  }
  return { value };
}

export function simulateView(app) {
  const names = h('datalist#event-names');
  const rows = h('div.events#event-rows');
  const url = h('input#sim-url', { name: 'url', type: 'url', value: 'https://shop.test/', placeholder: 'https://shop.test/?utm_campaign=spring' });
  const country = h('input#sim-country', { name: 'country', maxlength: 2, placeholder: 'DE', autocapitalize: 'characters', size: 3 });
  const device = h('select#sim-device', { name: 'device' }, ['desktop', 'mobile', 'tablet', 'bot'].map((d) => h('option', { value: d }, d)));
  const language = h('input#sim-language', { name: 'language', placeholder: 'de', size: 4 });
  const status = statusLine('simulate-status');
  const results = h('div.sim-results#sim-results');

  const form = h('form.sim-form#simulate-form', { novalidate: true },
    h('fieldset',
      h('legend', 'What the visitor did'),
      h('div.events-head', { 'aria-hidden': 'true' }, h('span', 'Event'), h('span', 'Path'), h('span', 'How long ago'), h('span', 'Properties'), h('span')),
      rows,
      h('button.secondary#add-event', { type: 'button', onclick: () => addRow({ name: 'page_view', path: '/', ago: '1m' }, true) }, '+ Add event'),
      h('p.hint', 'How long ago: a whole number and s, m, h or d (“5m”, “2h”, “3d”). Page views take a path. Properties, as the page sends them: “value=129, category=boots”.')),
    h('fieldset',
      h('legend', 'This request'),
      h('div.grid',
        h('label.wide', h('span', 'URL (with utm_… parameters)'), url),
        h('label', h('span', 'Country'), country),
        h('label', h('span', 'Device'), device),
        h('label', h('span', 'Language'), language))),
    h('div.buttons', h('button.primary#run-simulation', { type: 'submit' }, 'Simulate')));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); app.run(run, status); });

  const el = h('section.view#view-simulate', { 'aria-labelledby': 'tab-simulate', hidden: true },
    h('div.toolbar', h('div.toolbar-meta', h('strong', 'Simulate a visitor'), h('span.meta-more', ' · against the rules in the editor, saved or not'))),
    names, form, status.el, results);

  for (const e of DEFAULT_EVENTS) addRow(e);

  function addRow(ev, focus = false) {
    const name = h('input.ev-name', { list: 'event-names', value: ev.name, 'aria-label': 'Event name', required: true });
    const path = h('input.ev-path', { value: ev.path || '', placeholder: '/products/x', 'aria-label': 'Path' });
    const ago = h('input.ev-ago', { value: ev.ago, placeholder: '5m', 'aria-label': 'How long ago', size: 5, required: true });
    const props = h('input.ev-props', { value: ev.props || '', placeholder: 'value=129, category=boots', 'aria-label': 'Properties' });
    const row = h('div.event-row', { role: 'group', 'aria-label': 'Event' }, name, path, ago, props,
      h('button.icon.remove-event', { type: 'button', title: 'Remove this event', 'aria-label': 'Remove this event', onclick: () => row.remove() }, '×'));
    rows.append(row);
    if (focus) name.focus();
  }

  function eventNames() {
    const set = new Set(['page_view']);
    try {
      const docEvents = JSON.parse(app.rules.editor.getText()).events;
      if (docEvents && typeof docEvents === 'object') Object.keys(docEvents).forEach((n) => set.add(n));
    } catch { /* the editor's text may not parse; the datalist is only a help */ }
    names.replaceChildren(...[...set].map((n) => h('option', { value: n })));
  }

  function readForm() {
    const events = [];
    const problems = [];
    [...rows.querySelectorAll('.event-row')].forEach((tr, i) => {
      const name = tr.querySelector('.ev-name').value.trim();
      const path = tr.querySelector('.ev-path').value.trim();
      const ago = tr.querySelector('.ev-ago').value.trim();
      if (!name) problems.push(`event ${i + 1}: give it a name`);
      if (!AGO.test(ago)) problems.push(`event ${i + 1}: “${ago}” is not like 5m, 2h or 3d`);
      const e = { name, ago };
      if (path) e.path = path;
      const props = parseProps(tr.querySelector('.ev-props').value);
      if (props.error) problems.push(`event ${i + 1}: ${props.error}`);
      else if (Object.keys(props.value).length) e.props = props.value;
      events.push(e);
    });
    // The editor's text, saved or not: a marketer checks a change before saving it.
    const body = { events, url: url.value.trim() || 'https://shop.test/', text: app.rules.editor.getText() };
    if (country.value.trim()) body.country = country.value.trim().toUpperCase();
    body.device = device.value;
    if (language.value.trim()) body.language = language.value.trim().toLowerCase();
    return { body, problems };
  }

  async function run() {
    const { body, problems } = readForm();
    if (problems.length) {
      status.set('error', problems.join('; '));
      return;
    }
    status.set('busy', 'Simulating…');
    const r = await call('POST', 'simulate', { body, accept: [400, 422] });
    if (r.status === 422) {
      results.replaceChildren();
      app.rules.editor.showErrors(r.body?.errors || []);
      const first = (r.body?.errors || [])[0];
      status.set('error', `The rules in the editor are not valid (${(r.body?.errors || []).length} error(s)${first ? `; ${first.path ? `${first.path}: ` : ''}${first.message}${first.line ? ` at line ${first.line}` : ''}` : ''}). The Rules tab marks them.`);
      return;
    }
    if (r.status !== 200) {
      results.replaceChildren();
      status.set('error', `Could not simulate: ${r.body?.error || (r.body?.errors || []).map((e) => e.message).join('; ') || r.status}`);
      return;
    }
    status.set('ok', 'Simulated.');
    render(r.body);
  }

  function render(res) {
    const segs = res.segments || [];
    // Best first, as content is chosen: priority, then document order (the sort is stable).
    const outcomes = [...(res.outcomes || [])].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0));
    const blocks = Object.entries(res.blocks || {});
    const signals = Object.entries(res.signals || {});
    const experiments = res.experiments || [];
    // Segment content passed over because of its start_at/end_at, by block.
    const scheduled = res.scheduled || [];
    const scheduleNote = (b) => scheduled.filter((x) => x.block === b)
      .map((x) => h('span.muted.schedule', { dataset: { segment: x.segment } }, ` (${x.segment}: ${x.why})`));
    results.replaceChildren(
      h('section.card#sim-segments',
        h('h2', 'Segments'),
        segs.length ? h('ul.chips', segs.map((s) => h('li.chip', { dataset: { segment: s } }, s))) : h('p.hint', 'In no segment.')),
      h('section.card#sim-blocks',
        h('h2', 'Content per block'),
        blocks.length
          ? h('table.kv', h('tbody', blocks.map(([b, s]) => h('tr', { dataset: { block: b } }, h('th', idText(b)), h('td', s ? h('span.chip', s) : h('span.muted', 'default content'), ...scheduleNote(b))))))
          : h('p.hint', 'The rules have no blocks.')),
      ...(experiments.length ? [h('section.card#sim-experiments',
        h('h2', 'Experiments'),
        h('table.kv', h('tbody', experiments.map((e) => h('tr', { dataset: { experiment: e.experiment } },
          h('th', idText(e.experiment)),
          h('td', e.variant ? h('span.chip', e.variant) : h('span.muted', 'no variant'), ' ', h('span.muted', e.why)))))))] : []),
      h('section.card.wide#sim-outcomes',
        h('h2', 'Every segment, best first'),
        h('div.table-scroll', h('table.outcomes',
          h('thead', h('tr', h('th', 'Segment'), h('th.num', 'Prio.'), h('th', 'Condition'), h('th', 'Standing'))),
          h('tbody', outcomes.map((o) => h('tr', { dataset: { segment: o.id }, class: segs.includes(o.id) ? 'in' : '' },
            h('td', idText(o.id)), h('td.num', o.priority ?? ''),
            h('td', o.condition ? h('span.yes', '✓ holds') : h('span.no', '✗ no')),
            h('td', h(`span.standing.standing-${o.standing}`, o.standing)))))))),
      h('section.card.wide#sim-signals',
        h('h2', 'Signals'),
        signals.length
          ? h('table.kv', h('tbody', signals.map(([n, v]) => h('tr', h('th', idText(n)), h('td.num', v === null || v === undefined ? h('span.muted', '—') : fmt(v))))))
          : h('p.hint', 'The rules define no signals.')));
  }

  return { el, onShow() { eventNames(); } };
}

function fmt(v) {
  if (typeof v !== 'number') return String(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/0+$/, '').replace(/\.$/, '');
}
