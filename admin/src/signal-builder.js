// The signal builder: a form per kind (signal-forms.js turns them into JSON and back),
// edited on the shared rules document. Every change is written to the document at once, so
// the JSON editor shows it; the sentence under the name says what the signal measures as it
// is now. Errors show at their field (the form's checks as you type, the server's by JSON
// path at save); while a field has one, the builder does not save. Trained models (cluster,
// trees) are shown read-only with their inputs and replaced by pasting a new training run.
// Inputs have stable ids (signal-event, signal-property, affinity-0-path, ...; README).
import './signal-builder.css';
import { h } from './ui.js';
import { field } from './fields.js';
import { placeServerErrors } from './builder.js';
import { isObj } from './forms.js';
import {
  SIGNAL_KINDS, TIME_UNITS, VISITOR_METRICS, signalKind, signalFields, applySignalFields,
  signalVocabulary, propertySuggestions, modelSummary, isModel, parseModel, valueWarning,
} from './signal-forms.js';
import { ATTRIBUTES, describeSignal } from './sentences.js';

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US', { maximumFractionDigits: 4 }) : String(n));

/** A model's JSON laid out a centroid a line, or a tree a line (as edgeseg train prints trees). */
const compactJson = (v) => {
  const flat = (m) => m.replace(/\s+/g, '');
  const text = JSON.stringify(v, null, 1).replace(/\[[^[\]{}"]*\]/g, flat);
  return 'trees' in v ? text.replace(/\[(\s*\[[^[\]{}"]*\],?)+\s*\]/g, flat) : text;
};

/** A list of rows with a label, an add button and an error line (a field for errors by path). */
function listField(label, host, add, path) {
  const err = h('p.field-error', { hidden: true, role: 'alert' });
  const el = h('div.field', { dataset: { path } }, h('span.field-label', label), host, add, err);
  return {
    el, input: add, path,
    get: () => '',
    setError(msg) { err.hidden = !msg; err.textContent = msg || ''; el.classList.toggle('invalid', !!msg); },
  };
}

/**
 * The signal builder: a form per kind. opts: { shared, name (null for a new signal), onDone, onSave }.
 */
export function signalBuilder({ shared, name, onDone, onSave }) {
  let { doc } = shared.read();
  if (name === null) {
    doc.signals = isObj(doc.signals) ? doc.signals : {};
    let n = 1;
    while (doc.signals[`new_signal_${n}`]) n++;
    name = `new_signal_${n}`;
    doc.signals[name] = { count: 'page_view', within: '10m' };
    shared.write(doc);
  }
  let current = name;
  let pending = null; // a model kind picked, waiting for its paste (the document is unchanged)
  const fieldErrors = new Map();
  const fieldsByPath = [];
  let modelField = null; // the paste field, which takes every server error below a model
  let renderedAs = name; // the name the fields' paths were made with (a rename re-renders nothing)
  const setErr = (f, msg) => { f.setError(msg); if (msg) fieldErrors.set(f, msg); else fieldErrors.delete(f); };
  const sentence = h('p.sentence#signal-sentence', { 'aria-live': 'polite' });
  const host = h('div.signal-form');

  /** Renames the current signal in the document (keeping its place); '' or an error message. */
  const rename = (next) => {
    const r = shared.read();
    if (!r.doc) return 'the rules are not valid JSON';
    doc = r.doc;
    if (!/^[A-Za-z0-9_]+$/.test(next)) return 'a name uses letters, digits and _ only';
    if (next !== current && Object.prototype.hasOwnProperty.call(doc.signals, next)) return `another signal is called “${next}”`;
    if (ATTRIBUTES[next]) return `“${next}” is a built-in attribute`;
    doc.signals = Object.fromEntries(Object.entries(doc.signals).map(([k, s]) => [k === current ? next : k, s]));
    current = next;
    shared.write(doc);
    return '';
  };
  const nameField = field({
    label: 'Signal name', id: 'signal-name', value: name, path: `signals.${name}`, hint: 'Conditions read it by this name. Letters, digits and _.',
    onInput: (v) => setErr(nameField, rename(v.trim())),
  });
  fieldsByPath.push(nameField);

  /** Writes `value` as the signal (the document re-read first) and updates the sentence. */
  const store = (value) => {
    const r = shared.read();
    if (!r.doc) return;
    doc = r.doc;
    doc.signals[current] = value;
    shared.write(doc);
    sentence.textContent = describeSignal(value, doc);
  };

  function render() {
    for (let i = fieldsByPath.length - 1; i >= 1; i--) { fieldErrors.delete(fieldsByPath[i]); fieldsByPath.splice(i, 1); }
    modelField = null;
    renderedAs = current;
    nameField.path = `signals.${current}`;
    const spec = doc.signals[current];
    const sf = pending ? { kind: pending, inputs: [], model: '' } : signalFields(spec);
    const path = `signals.${current}`;
    const v = signalVocabulary(doc, current);
    const f = {};
    const pairs = [];
    const sources = [];
    const lists = {};
    const write = () => {
      const vals = { kind: sf.kind };
      for (const [k, x] of Object.entries(f)) vals[k] = x.get();
      if (sf.kind === 'score') vals.points = pairs.map(([a, b]) => [a.get(), b.get()]);
      if (sf.kind === 'logistic') vals.weights = pairs.map(([a, b]) => [a.get(), b.get()]);
      if (sf.kind === 'affinity') vals.sources = sources.map((s) => Object.fromEntries(Object.entries(s).map(([k, x]) => [k, x.get()])));
      const r = shared.read();
      if (!r.doc) return;
      doc = r.doc;
      const { value, errors } = applySignalFields(doc.signals[current], vals, signalVocabulary(doc, current));
      for (const [k, x] of Object.entries(f)) setErr(x, errors[k] || '');
      const pk = sf.kind === 'score' ? 'points' : 'weights';
      pairs.forEach(([a, b], i) => { setErr(a, errors[`${pk}.${i}`] || ''); setErr(b, errors[`${pk}.${i}.value`] || ''); });
      sources.forEach((s, i) => { for (const [k, x] of Object.entries(s)) setErr(x, errors[`sources.${i}.${k}`] || ''); });
      for (const [k, x] of Object.entries(lists)) setErr(x, errors[k] || '');
      if (warn) {
        // The event may have changed: its note, and the properties it has to offer.
        warn.textContent = valueWarning(doc, vals.event);
        f.property.el.querySelector('datalist')?.replaceChildren(...propertySuggestions(doc, vals.event).map((p) => h('option', { value: p })));
      }
      store(value);
    };
    const add = (k, x) => { f[k] = x; fieldsByPath.push(x); return x.el; };
    const eventOpts = v.events.map((e) => [e, e]);
    const unitOpts = [['', 'seconds (default)'], ...TIME_UNITS.filter((u) => u !== 'seconds' || sf.unit === 'seconds').map((u) => [u, u])];
    const pairsHost = h('div.pair-rows');
    const addPair = (k, val, options, what) => {
      const a = field({ label: what, kind: 'select', options, value: k, hideLabel: true, onInput: write, path: `${path}.${sf.kind}.${k}` });
      const b = field({ label: sf.kind === 'score' ? 'Points' : 'Weight', kind: 'number', value: val, hideLabel: true, onInput: write, path: `${path}.${sf.kind}.${k}` });
      fieldsByPath.push(a, b);
      const p = [a, b];
      pairs.push(p);
      const rowEl = h('div.attr-row', { role: 'group', 'aria-label': what }, a.el, b.el,
        h('button.icon', { type: 'button', 'aria-label': `Remove this ${what.toLowerCase()}`, onclick: () => { pairs.splice(pairs.indexOf(p), 1); rowEl.remove(); write(); } }, '×'));
      pairsHost.append(rowEl);
    };
    const list = (key, label, hostEl, button) => { lists[key] = listField(label, hostEl, button, `${path}.${sf.kind}`); fieldsByPath.push(lists[key]); return lists[key].el; };
    const within = () => add('within', field({ label: 'Within the last', id: 'signal-within', kind: 'duration', value: sf.within, path: `${path}.within`, onInput: write }));
    let warn = null;
    const parts = [];
    switch (sf.kind) {
      case 'count':
        parts.push(add('event', field({ label: 'Count this event', id: 'signal-event', kind: 'select', options: eventOpts, value: sf.event, path: `${path}.count`, onInput: write })));
        parts.push(within());
        parts.push(add('path', field({ label: 'Only on paths matching (optional)', id: 'signal-path', value: sf.path, path: `${path}.path`, placeholder: '/products/*', hint: '* matches anything, / included.', onInput: write })));
        parts.push(add('props', field({ label: 'Only with these properties (optional, JSON)', id: 'signal-props', value: sf.props, path: `${path}.props`, placeholder: '{"category": "boots"}', onInput: write })));
        break;
      case 'since':
        parts.push(add('event', field({ label: 'Time since this event', id: 'signal-event', kind: 'select', options: eventOpts, value: sf.event, path: `${path}.since`, onInput: write })));
        parts.push(add('unless', field({ label: 'Unless this happened after it', id: 'signal-unless', kind: 'select', options: [['', '(nothing)'], ...eventOpts], value: sf.unless, path: `${path}.unless`, onInput: write })));
        parts.push(add('unit', field({ label: 'In', id: 'signal-unit', kind: 'select', options: unitOpts, value: sf.unit, path: `${path}.unit`, onInput: write })));
        break;
      case 'visitor':
        parts.push(add('metric', field({ label: 'Measure', id: 'signal-metric', kind: 'select', options: VISITOR_METRICS.map((m) => [m, describeSignal({ visitor: m }, doc)]), value: sf.metric, path: `${path}.visitor`, onInput: write })));
        parts.push(add('unit', field({ label: 'In (time metrics)', id: 'signal-unit', kind: 'select', options: unitOpts, value: sf.unit, path: `${path}.unit`, onInput: write })));
        break;
      case 'score':
        sf.points.forEach(([k, val]) => addPair(k, val, eventOpts, 'Event'));
        parts.push(list('points', 'Points per event', pairsHost,
          h('button.secondary.small', { type: 'button', onclick: () => { addPair(v.events[0], '1', eventOpts, 'Event'); write(); } }, '+ Event')));
        parts.push(within());
        break;
      case 'logistic': {
        const sigOpts = v.signals.map((s) => [s, s]);
        sf.weights.forEach(([k, val]) => addPair(k, val, sigOpts, 'Signal'));
        parts.push(list('weights', 'Weight per input signal', pairsHost,
          h('button.secondary.small', { type: 'button', onclick: () => { if (sigOpts.length) { addPair(sigOpts[0][0], '0.1', sigOpts, 'Signal'); write(); } } }, '+ Signal')));
        parts.push(add('bias', field({ label: 'Bias', id: 'signal-bias', kind: 'number', value: sf.bias, path: `${path}.bias`, onInput: write })));
        break;
      }
      case 'sum': case 'max': {
        parts.push(add('event', field({ label: sf.kind === 'sum' ? 'Add up this event' : 'Largest of this event', id: 'signal-event', kind: 'select', options: eventOpts, value: sf.event, path: `${path}.${sf.kind}`, onInput: write })));
        parts.push(add('property', field({
          label: 'Property holding the amount', id: 'signal-property', value: sf.property, path: `${path}.property`, placeholder: 'value',
          suggestions: propertySuggestions(doc, sf.event), onInput: write,
          hint: sf.kind === 'sum' ? 'A number (or text holding one); a negative amount (a refund) counts against the total.' : 'A number (or text holding one); the signal is absent while there is none.',
        })));
        warn = h('p.hint.value-warning', { 'aria-live': 'polite' }, valueWarning(doc, sf.event));
        parts.push(warn);
        parts.push(within());
        parts.push(add('path', field({ label: 'Only on pages matching (optional)', id: 'signal-path', value: sf.path, path: `${path}.path`, placeholder: '/checkout/*', hint: '* matches anything, / included.', onInput: write })));
        break;
      }
      case 'engaged': case 'scroll':
        parts.push(add('pages', field({
          label: 'Pages matching', id: 'signal-pages', value: sf.pages, path: `${path}.${sf.kind}`, placeholder: '/products/*', onInput: write,
          hint: sf.kind === 'engaged' ? 'Time the page was visible and the visitor active, as the page script reports it. * matches anything.' : 'The deepest scroll, 0 to 100 % of the page, as the page script reports it. * matches anything.',
        })));
        parts.push(within());
        if (sf.kind === 'engaged') parts.push(add('unit', field({ label: 'In', id: 'signal-unit', kind: 'select', options: unitOpts, value: sf.unit, path: `${path}.unit`, onInput: write })));
        break;
      case 'affinity': {
        const srcHost = h('div.affinity-sources');
        sf.sources.forEach((s, i) => srcHost.append(sourceEl(s, i)));
        const addSource = h('button.secondary.small#affinity-add-source', { type: 'button', onclick: () => {
          const r = shared.read();
          if (!r.doc) return;
          doc = r.doc;
          doc.signals[current].affinity.push({ path: '' });
          shared.write(doc);
          render();
          host.querySelector(`#affinity-${sf.sources.length}-path`)?.focus();
        } }, '+ Source');
        parts.push(list('sources', 'Categories come from', srcHost, addSource));
        parts.push(h('div.pair',
          add('half_life', field({ label: 'Interest halves every', id: 'signal-half-life', kind: 'duration', value: sf.half_life, path: `${path}.half_life`, hint: 'Empty: 30 days. Older visits count less and less.', onInput: write })),
          add('keep', field({ label: 'Categories kept per visitor', id: 'signal-keep', kind: 'number', value: sf.keep, path: `${path}.keep`, placeholder: '5', hint: '1 to 16; empty: 5.', onInput: write }))));
        break;
      }
      case 'share':
        parts.push(add('of', field({
          label: 'Share of this interest', id: 'signal-share-of', kind: 'select', options: v.affinities.map((a) => [a, `${a}: ${describeSignal(doc.signals[a], doc)}`]), value: sf.of, path: `${path}.share`, onInput: write,
          hint: '1 when the visitor has one interest, lower when it is spread over many.',
        })));
        break;
      case 'cluster': case 'trees':
        parts.push(...modelParts(sf, spec, path));
        break;
      default:
        parts.push(add('json', field({
          label: 'This signal, as JSON', id: 'signal-json', kind: 'textarea', rows: 6, value: sf.json, path, onInput: write,
          hint: sf.why ? `Shown as JSON: ${sf.why}.` : 'The forms do not know its kind.',
        })));
    }

    /** One affinity source: from the path or an event property, its event, its weight. */
    function sourceEl(s, i) {
      const at = `${path}.affinity[${i}]`;
      const row = {};
      const toggle = () => { row.path.el.hidden = row.from.get() !== 'path'; row.property.el.hidden = row.from.get() !== 'property'; };
      row.from = field({ label: 'Categories from', id: `affinity-${i}-from`, kind: 'select', options: [['path', 'the page path'], ['property', 'an event property']], value: s.from, path: at, onInput: () => { toggle(); write(); } });
      row.event = field({ label: 'Event', id: `affinity-${i}-event`, kind: 'select', options: [['', 'page views (the default)'], ...eventOpts], value: s.event, path: `${at}.event`, onInput: write });
      row.path = field({ label: 'Path pattern', id: `affinity-${i}-path`, value: s.path, path: `${at}.path`, placeholder: '/category/{name}', hint: '{name} is the category (one path segment); * matches anything.', onInput: write });
      row.property = field({ label: 'Property holding the category', id: `affinity-${i}-property`, value: s.property, path: `${at}.property`, placeholder: 'category', suggestions: propertySuggestions(doc, s.event || 'page_view'), onInput: write });
      row.weight = field({ label: 'Weight', id: `affinity-${i}-weight`, kind: 'number', value: s.weight, path: `${at}.weight`, placeholder: '1', hint: 'What one event adds; empty: 1.', onInput: write });
      fieldsByPath.push(...Object.values(row));
      sources.push(row);
      toggle();
      const remove = h('button.secondary.small.remove-source', {
        type: 'button', disabled: sf.sources.length < 2, title: sf.sources.length < 2 ? 'An affinity needs a source' : null, onclick: () => {
          const r = shared.read();
          if (!r.doc) return;
          doc = r.doc;
          doc.signals[current].affinity.splice(i, 1);
          shared.write(doc);
          render();
        },
      }, `Remove source ${i + 1}`);
      return h('fieldset.affinity-source', { dataset: { source: i } }, h('legend', `Source ${i + 1}`),
        h('div.source-grid', row.from.el, row.event.el, row.path.el, row.property.el, row.weight.el), remove);
    }

    const kindSel = field({
      label: 'Kind', id: 'signal-kind', kind: 'select', options: [...Object.entries(SIGNAL_KINDS), ...(sf.kind === 'json' ? [['json', 'Other (JSON)']] : [])], value: sf.kind, path: '', onInput: (k) => {
        const r = shared.read();
        if (!r.doc) return;
        doc = r.doc;
        const was = doc.signals[current];
        if (isModel(was) && !(k in { cluster: 1, trees: 1 }) && !confirm(`Replace the trained model ${current} with a new ${k} signal? (Undo in the Rules tab brings it back.)`)) { kindSel.set(sf.kind); return; }
        if (k === 'cluster' || k === 'trees') { pending = isModel(was) ? null : k; render(); return; }
        pending = null;
        doc.signals[current] = freshSignal(k, doc, current);
        shared.write(doc);
        render();
      },
    });
    sentence.textContent = describeSignal(spec, doc);
    host.replaceChildren(kindSel.el, ...parts);
  }

  /** A trained model, read-only (inputs, its numbers, its JSON), and the paste that replaces it. */
  function modelParts(sf, spec, path) {
    const out = [];
    if (pending) {
      out.push(h('p.hint.model-pending', `Until you paste a model, ${current} stays as it is: ${describeSignal(spec, doc)}.`));
    } else {
      const m = modelSummary(spec);
      out.push(h('h3.model-title', 'Inputs'),
        h('ul.model-inputs', m.inputs.map((n) => h('li', h('code', n), ': ', doc.signals[n] !== undefined ? describeSignal(doc.signals[n], doc) : 'not a declared signal'))));
      if (m.kind === 'cluster') {
        out.push(h('div.table-scroll', { tabindex: '0', role: 'region', 'aria-label': 'Centroids of the model' },
          h('table.model-table',
            h('caption', `The ${m.clusters.length} centroids, in each input’s own units`),
            h('thead', h('tr', h('th', { scope: 'col' }, 'Cluster'), m.inputs.map((n) => h('th', { scope: 'col' }, h('code', n))))),
            h('tbody',
              m.clusters.map((c) => h('tr', h('th', { scope: 'row' }, c.name), c.values.map((x) => h('td', fmt(x))))),
              h('tr.scale-row', h('th', { scope: 'row' }, 'scale (spread)'), m.scale.map((x) => h('td', fmt(x))))))));
      } else {
        out.push(h('p.model-shape', `${m.trees} tree${m.trees === 1 ? '' : 's'}, ${m.nodes} nodes, starting log-odds ${fmt(m.base)}. Splits per input: `,
          m.inputs.map((n, i) => [i ? ', ' : '', h('code', n), ` ${m.splits[i]}`]), '.'));
      }
      out.push(h('details.model-json', h('summary', 'The model as JSON (read-only)'), h('pre', { tabindex: '0', 'aria-label': `${current} as JSON` }, compactJson(spec))));
    }
    const paste = field({
      label: 'Paste a trained model', id: 'signal-model-paste', kind: 'textarea', rows: 5, value: '', path,
      placeholder: '{\n  "name": {"trees": […], "base": …, "ensemble": […]}\n}',
      hint: 'The block edgeseg train prints (“Paste into the rules’ signals”). It replaces this model once it checks out; the server checks it again at save.',
      onInput: (t) => {
        const r = t.trim() ? parseModel(t, signalVocabulary(doc, current)) : {};
        setErr(paste, r.error || '');
        status.textContent = r.value ? `A ${signalKind(r.value)} model over ${r.value[signalKind(r.value)].length} signals${r.name ? `, named ${r.name}` : ''}: press “Use this model”.` : '';
      },
    });
    modelField = paste;
    fieldsByPath.push(paste);
    const status = h('p.hint.model-status', { role: 'status' });
    const use = h('button.primary.small#signal-model-use', { type: 'button', onclick: () => {
      const r = shared.read();
      if (!r.doc) return;
      doc = r.doc;
      const { value, errors, name: pasted } = applySignalFields(doc.signals[current], { kind: sf.kind, inputs: sf.inputs, model: paste.get() }, signalVocabulary(doc, current));
      if (!paste.get().trim()) { setErr(paste, 'paste the block edgeseg train printed first'); return; }
      if (errors.model) { setErr(paste, errors.model); return; }
      if (pasted && pasted !== current) {
        const e = rename(pasted);
        if (e) { setErr(paste, `the paste names the signal “${pasted}”: ${e}. Open that signal to replace its model, or change the name in the paste`); return; }
        nameField.set(current);
        setErr(nameField, '');
      }
      pending = null;
      store(value);
      render();
      host.querySelector('.model-status').textContent = `Using the pasted ${signalKind(value)} model. Save to make it live.`;
    } }, 'Use this model');
    out.push(h('div.model-paste', paste.el, h('div.buttons', use), status));
    return out;
  }

  render();

  const el = h('section.builder#signal-builder', { 'aria-labelledby': 'signal-builder-title' },
    h('div.toolbar', h('h2#signal-builder-title', 'Signal'),
      h('div.actions',
        h('button.primary#signal-save', { type: 'button', onclick: () => onSave?.() }, 'Save…'),
        h('button.secondary#signal-done', { type: 'button', onclick: () => onDone?.() }, 'Back to the signals'))),
    h('fieldset', h('legend', 'Signal'), nameField.el, h('p.hint', 'What it measures: ', sentence), host),
    h('p.status.builder-status#signal-status', { role: 'status', 'aria-live': 'polite' }),
    h('div.buttons', h('button.secondary.danger#signal-delete', { type: 'button', onclick: () => {
      if (!confirm(`Delete the signal ${current}? Conditions that read it stop validating.`)) return;
      const r = shared.read();
      if (!r.doc) return;
      delete r.doc.signals[current];
      shared.write(r.doc);
      onDone?.();
    } }, 'Delete this signal')));
  return {
    el,
    name: () => current,
    status: el.querySelector('#signal-status'),
    errors: () => [...fieldErrors.entries()].map(([fl, message]) => ({ field: fl, message })),
    /** Server errors at their fields; below a trained model, all at its paste field. */
    showServerErrors(list) {
      const below = `signals.${renderedAs}`;
      const rest = [];
      const now = `signals.${current}`;
      for (const e0 of list || []) {
        // Renamed since the fields were made: the server's paths name the signal as it is now.
        const p = e0.path || '';
        const e = current !== renderedAs && (p === now || p.startsWith(`${now}.`) || p.startsWith(`${now}[`)) ? { ...e0, path: below + p.slice(now.length) } : e0;
        if (modelField && (e.path || '').length > below.length && (e.path.startsWith(`${below}.`) || e.path.startsWith(`${below}[`))) setErr(modelField, `${e.path.slice(below.length + 1)}: ${e.message}`);
        else rest.push(e);
      }
      return placeServerErrors(rest, fieldsByPath, setErr);
    },
  };
}

/** A new signal of a kind, filled with what the document most likely means. */
function freshSignal(kind, doc, current) {
  const v = signalVocabulary(doc, current);
  const events = isObj(doc.events) ? doc.events : {};
  const valueEvent = v.events.find((e) => isObj(events[e]) && events[e].source === 'server') || v.events[1] || 'page_view';
  const amount = propertySuggestions(doc, valueEvent)[0] || 'value';
  return {
    count: { count: 'page_view', within: '10m' },
    since: { since: v.events[1] || 'page_view', unit: 'minutes' },
    visitor: { visitor: 'sessions' },
    score: { score: { page_view: 1 }, within: '7d' },
    logistic: { logistic: {}, bias: 0 },
    sum: { sum: valueEvent, property: amount, within: '30d' },
    max: { max: valueEvent, property: amount, within: '30d' },
    engaged: { engaged: '/*', within: '7d', unit: 'minutes' },
    scroll: { scroll: '/*', within: '7d' },
    affinity: { affinity: [{ path: '/category/{name}' }], half_life: '30d' },
    share: { share: v.affinities[0] || '' },
  }[kind];
}
