// The experiment editor and the holdout editor, on the shared rules document like the
// segment builder: every change is written to the document at once (the JSON editor shows
// it), errors show at their field (the form's own checks as you type, the server's by JSON
// path), and Save goes through the same validate-then-save path (workbench.js builderSave).
// Variants carry block content with the same live preview as a segment's content.
import { h } from './ui.js';
import { field } from './fields.js';
import { HTML_ACTIONS } from './forms.js';
import {
  experimentFields, applyExperimentFields, newExperiment, describeExperiment, holdoutFields, applyHoldoutFields,
  STATUSES, GUARDRAILS,
} from './expforms.js';
import { describeCondition } from './sentences.js';
import { sampleValues, contentPreviewHtml, previewFrame } from './preview.js';
import { placeServerErrors, vocabulary } from './builder.js';
import { fromCondition } from './conditions.js';
import { conditionRows } from './condrows.js';

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Field bookkeeping shared by both editors: errors by form key, fields by JSON path. */
function registry() {
  const byKey = new Map(); // form error key -> field
  const errs = new Map(); // field -> message
  const rows = []; // the condition rows' fields: their own errors, placed by path only
  const setErr = (f, msg) => { f.setError(msg); if (msg) errs.set(f, msg); else errs.delete(f); };
  return {
    reset() { byKey.clear(); errs.clear(); rows.length = 0; },
    reg(key, f) { byKey.set(key, f); return f; },
    setErr,
    track(f) { rows.push(f); return f; },
    untrackRows() { for (const f of rows) errs.delete(f); rows.length = 0; },
    /** Shows the form's errors; an error whose field is gone goes to the nearest parent key's. */
    show(errors) {
      for (const f of byKey.values()) setErr(f, '');
      for (const [k, msg] of Object.entries(errors)) {
        let key = k;
        while (key && !byKey.has(key)) key = key.includes('.') ? key.slice(0, key.lastIndexOf('.')) : '';
        const f = byKey.get(key || k) || byKey.get('status');
        if (f) setErr(f, errs.get(f) && errs.get(f) !== msg ? `${errs.get(f)}; ${msg}` : msg);
      }
    },
    errors: () => [...errs.entries()].map(([fl, message]) => ({ field: fl, message })),
    server: (list) => placeServerErrors(list, [...byKey.values(), ...rows], setErr),
  };
}

/** Goal rows (experiments and holdouts): name, event, window, value property, guardrail. */
function goalsSection(rows, { events, reg, write, rerender, path, guardrails = true }) {
  const list = h('div.goal-rows');
  rows.forEach((r, i) => {
    const gp = `${path}.${r.was ?? r.name}`;
    const remove = h('button.icon', { type: 'button', 'aria-label': `Remove the goal ${r.name}`, onclick: () => { rows.splice(i, 1); write(); rerender(); } }, '×');
    if ('json' in r) {
      const fj = reg(`goals.${i}.json`, field({ label: `Goal ${r.name} (JSON)`, kind: 'textarea', rows: 2, value: r.json, path: gp, onInput: (v) => { r.json = v; write(); } }));
      list.append(h('div.goal-row', fj.el, remove));
      return;
    }
    const fields = [
      reg(`goals.${i}.name`, field({ label: 'Goal name', value: r.name, path: gp, onInput: (v) => { r.name = v; write(); } })),
      reg(`goals.${i}.event`, field({ label: 'Converts on the event', kind: 'select', options: events.map((e) => [e, e]), value: r.event, path: `${gp}.event`, onInput: (v) => { r.event = v; write(); } })),
      reg(`goals.${i}.window`, field({ label: 'Within (after the exposure)', kind: 'duration', value: r.window, path: `${gp}.window`, hint: 'Empty: 7 days.', onInput: (v) => { r.window = v; write(); } })),
      reg(`goals.${i}.value`, field({ label: 'Value property (optional)', value: r.value, path: `${gp}.value`, placeholder: 'total', hint: 'A numeric event property summed: revenue.', onInput: (v) => { r.value = v; write(); } })),
    ];
    if (guardrails) fields.push(reg(`goals.${i}.guardrail`, field({ label: 'Kind', kind: 'select', options: Object.entries(GUARDRAILS), value: r.guardrail, path: `${gp}.guardrail`, onInput: (v) => { r.guardrail = v; write(); } })));
    list.append(h(`div.goal-row${guardrails ? '' : '.no-guardrail'}`, { role: 'group', 'aria-label': `Goal ${r.name}` }, ...fields.map((f) => f.el), remove));
  });
  const add = h('button.secondary.small.add-goal', { type: 'button', onclick: () => {
    let n = rows.length + 1;
    while (rows.some((r) => r.name === `goal_${n}`)) n++;
    rows.push({ was: null, name: events.includes('purchase') ? (rows.some((r) => r.name === 'purchase') ? `goal_${n}` : 'purchase') : `goal_${n}`, event: events.find((e) => e !== 'page_view') || events[0], window: '', value: '', guardrail: '' });
    write(); rerender();
  } }, '+ Goal');
  return [list, add];
}

/**
 * A block's content for one variant: the HTML actions it uses (more can be added), remove,
 * attributes, and the live preview. cf: contentFields of the spec (mutated by the inputs).
 */
function contentEditor(cf, { block, label, path, samples, reg, key, write, onRemove }) {
  const frame = previewFrame(`Preview of block ${block} for ${label}`);
  const host = h('div.block-fields');
  const refresh = () => frame.update(contentPreviewHtml(cfSpec(cf), samples));
  const change = () => { write(); refresh(); };
  for (const [k, l] of Object.entries(HTML_ACTIONS)) {
    if (!cf.shown.has(k)) continue;
    const f = reg(`${key}.${k}`, field({ label: `${l} (HTML)`, kind: 'textarea', rows: 3, value: cf[k], path: `${path}.${k}`, onInput: (v) => { cf[k] = v; change(); } }));
    f.input.classList.add(`html-${k}`);
    host.append(f.el);
  }
  const absent = Object.entries(HTML_ACTIONS).filter(([k]) => !cf.shown.has(k));
  if (absent.length) {
    const pick = h('select', { 'aria-label': `Add an action to block ${block} for ${label}` }, h('option', { value: '' }, 'Add…'), absent.map(([k, l]) => h('option', { value: k }, l)));
    pick.addEventListener('change', () => { if (pick.value) { cf.shown.add(pick.value); onRemove(null); } });
    host.append(h('div.field', h('label', 'More actions', pick)));
  }
  const rm = reg(`${key}.remove`, field({ label: 'Remove the element', kind: 'checkbox', value: cf.remove, path: `${path}.remove`, onInput: (v) => { cf.remove = v; change(); } }));
  host.append(rm.el);
  cf.attrs.forEach((pair, i) => {
    const kf = reg(`${key}.attrs.${i}`, field({ label: 'Attribute name', value: pair[0], hideLabel: true, path: `${path}.set_attributes`, onInput: (v) => { pair[0] = v; change(); } }));
    const vf = field({ label: 'Attribute value', value: pair[1], hideLabel: true, onInput: (v) => { pair[1] = v; change(); } });
    host.append(h('div.attr-row', { role: 'group', 'aria-label': 'Attribute' }, kf.el, vf.el,
      h('button.icon', { type: 'button', 'aria-label': 'Remove this attribute', onclick: () => { cf.attrs.splice(i, 1); write(); onRemove(null); } }, '×')));
  });
  host.append(h('div.buttons',
    h('button.secondary.small', { type: 'button', onclick: () => { cf.attrs.push(['', '']); onRemove(null); } }, '+ Attribute'),
    h('button.secondary.small.stop-change', { type: 'button', onclick: () => onRemove(block) }, `Stop changing ${block} in ${label}`)));
  refresh();
  return h('section.block-edit', { dataset: { block }, 'aria-label': `Block ${block} in ${label}` },
    h('h4', 'Block ', h('code', block)), host,
    h('div.preview-box', h('p.preview-label', 'Preview (sample values, escaped)'), frame.el));
}

/** The spec a content form stands for, for the preview only (the document gets applyContentFields). */
function cfSpec(cf) {
  const s = {};
  for (const k of Object.keys(HTML_ACTIONS)) if (cf[k]) s[k] = cf[k];
  if (cf.remove) s.remove = true;
  if (cf.attrs.length) s.set_attributes = Object.fromEntries(cf.attrs);
  if (!s.inner_html && !s.outer_html && !s.remove && !cf.shown.has('inner_html')) s.inner_html = undefined;
  return s;
}

/** Which HTML actions a content form shows: those with text or present, else "replace its content". */
function withShown(cf, spec) {
  const shown = new Set(Object.keys(HTML_ACTIONS).filter((k) => cf[k] || (isObj(spec) && k in spec)));
  if (!shown.size && !cf.remove && !cf.attrs.length) shown.add('inner_html');
  return Object.assign(cf, { shown });
}

/**
 * The experiment editor. opts: { shared, key (null: a new one), segment (for a new one),
 * onDone(), onSave() }. Returns what workbench.js's builderSlot expects.
 */
export function experimentEditor({ shared, key, segment = null, onDone, onSave }) {
  let { doc } = shared.read();
  let created = null;
  doc.experiments = isObj(doc.experiments) ? doc.experiments : {};
  if (key === null) {
    let n = 1;
    while (doc.experiments[`new_experiment_${n}`]) n++;
    key = `new_experiment_${n}`;
    const firstBlock = Object.keys(doc.blocks || {})[0] || '';
    doc.experiments[key] = newExperiment({ segment: segment ?? ((doc.segments || [])[0]?.id || ''), block: firstBlock });
    created = JSON.stringify(doc.experiments[key]);
    shared.write(doc);
  }
  let current = key;
  const F = experimentFields(key, doc.experiments[key]);
  const prepare = () => F.variants?.forEach((v, i) => v.content?.forEach(([, cf]) => withShown(cf, doc.experiments[current]?.variants?.[i]?.content?.[cf.block])));
  F.variants?.forEach((v) => v.content?.forEach(([b, cf]) => { cf.block = b; }));
  prepare();
  const R = registry();
  // The condition as rows, as in the segment builder: what rows cannot show (a test, or a
  // condition that is no object) is a JSON item among them. null while absent (or, never from
  // experimentFields, not JSON: then it stays one JSON field).
  const treeOf = (t) => { try { return fromCondition(JSON.parse(t)); } catch { return null; } };
  let tree = treeOf(F.condition);
  const title = h('code', key);
  const sentence = h('p.sentence.exp-sentence', { 'aria-live': 'polite' });
  const condWords = h('p.hint.cond-words');
  const body = h('div.exp-form');
  const status = h('p.status.builder-status#exp-editor-status', { role: 'status', 'aria-live': 'polite' });
  const lifecycle = h('div.exp-lifecycle');

  const known = () => {
    const v = vocabulary(doc);
    return { segments: v.segments, events: v.events, keys: Object.keys(doc.experiments || {}).filter((k) => k !== current) };
  };
  /** The fields onto the document (renaming the key in place); the form's errors at the fields. */
  function write() {
    const r = shared.read();
    if (!r.doc) return;
    doc = r.doc;
    doc.experiments = isObj(doc.experiments) ? doc.experiments : {};
    const { key: k, value, errors } = applyExperimentFields(doc.experiments[current], F, known());
    R.show(errors);
    // The document is now in the form's order: variants and goals are known by where they are.
    F.variants?.forEach((x, i) => { x.was = i; });
    F.goals?.forEach((g) => { g.was = g.name; });
    const next = errors.key ? current : k;
    doc.experiments = Object.fromEntries(Object.entries(doc.experiments).map(([x, e]) => (x === current ? [next, value] : [x, e])));
    if (next !== current) { current = next; title.textContent = next; }
    shared.write(doc);
    words();
  }
  function words() {
    const e = doc.experiments[current];
    sentence.textContent = describeExperiment(e);
    condWords.textContent = isObj(e?.condition) ? `In words: ${describeCondition(e.condition, doc)}` : '';
    renderLifecycle();
  }
  /** Start, stop, serve one variant to everyone: set the status (and serve), then Save…. */
  function renderLifecycle() {
    const set = (st, serve) => { F.status = st; F.serve = serve; write(); render(); onSave?.(); };
    if ('json' in F) { lifecycle.replaceChildren(); return; }
    const ids = F.variants.filter((v) => !('json' in v)).map((v) => v.id);
    const badge = h(`span.badge.exp-status.exp-${F.status}`, F.status || 'no status');
    const buttons = [];
    if (F.status !== 'running') buttons.push(h('button.primary.small.exp-start', { type: 'button', onclick: () => set('running', '') }, F.status === 'stopped' ? 'Run again…' : 'Start…'));
    if (F.status === 'running') buttons.push(h('button.secondary.small.exp-stop', { type: 'button', onclick: () => set('stopped', '') }, `Stop (everyone gets ${ids[0] || 'the control'})…`));
    for (const id of ids.slice(F.status === 'running' ? 1 : 0)) {
      if (F.status === 'stopped' && (F.serve || ids[0]) === id) continue;
      buttons.push(h('button.secondary.small.exp-serve', { type: 'button', dataset: { variant: id }, onclick: () => set('stopped', id) }, `Serve ${id} to everyone…`));
    }
    lifecycle.replaceChildren(h('span.meta-more', 'Now: '), badge, ...buttons);
  }

  /** Who enters by condition: rows, a button to add one, or (not rows) its JSON. */
  function conditionEl(p) {
    if (!F.condition) {
      return h('div.field.exp-condition', h('span.field-label', 'and (or only) visitors matching a condition (optional)'),
        h('button.secondary.small#exp-add-condition', { type: 'button', onclick: () => { F.condition = '{}'; tree = fromCondition({}); write(); render(); } }, '+ Condition on who enters'));
    }
    if (!tree) tree = treeOf(F.condition);
    if (!tree) {
      return R.reg('condition', field({ label: 'and (or only) visitors matching this condition (JSON)', kind: 'textarea', rows: 2, value: F.condition, path: `${p}.condition`, placeholder: '{"device": "mobile"}', hint: 'A condition is an object, as in segments; empty: everyone in the segment.', onInput: (x) => { F.condition = x; write(); } })).el;
    }
    const rows = conditionRows({
      tree, path: `${p}.condition`, id: 'exp-condition-tree', getDoc: () => doc, setErr: R.setErr, track: R.track, beforeRender: R.untrackRows,
      onChange: (c) => { F.condition = JSON.stringify(c); write(); },
      legend: 'and (or only) visitors matching', emptyHint: 'No conditions yet: everyone (in the segment, if one is picked) enters.',
    });
    rows.render();
    const box = h('div.exp-condition', rows.el,
      h('button.secondary.small.danger#exp-remove-condition', { type: 'button', onclick: () => { F.condition = ''; tree = null; write(); render(); } }, 'Remove the condition'));
    R.reg('condition', { el: box, input: rows.el.querySelector('select'), path: `${p}.condition`, setError: errorLine(box) });
    return box;
  }

  function render() {
    R.reset();
    const rules = doc;
    const p = `experiments.${current}`;
    if ('json' in F) {
      body.replaceChildren(R.reg('json', field({ label: 'This experiment, as JSON (the form cannot read it)', kind: 'textarea', rows: 10, value: F.json, path: p, onInput: (v) => { F.json = v; write(); } })).el);
      return;
    }
    const v = vocabulary(rules);
    const reg = R.reg;
    const segOpts = [['', '(no segment: by condition only)'], ...v.segments.map((s) => [s, s])];
    const variantIds = F.variants.filter((x) => !('json' in x)).map((x) => x.id);
    const who = h('fieldset.exp-who', h('legend', 'Experiment'),
      reg('key', field({ label: 'Key', value: F.key, path: p, required: true, hint: 'Letters, digits and _; the results and preview links name it.', onInput: (x) => { F.key = x; write(); } })).el,
      reg('description', field({ label: 'Description', value: F.description, path: `${p}.description`, placeholder: 'What it tests', onInput: (x) => { F.description = x; write(); } })).el,
      reg('segment', field({ label: 'Who enters: members of the segment', kind: 'select', options: segOpts, value: F.segment, path: `${p}.segment`, onInput: (x) => { F.segment = x; write(); } })).el,
      conditionEl(p),
      condWords,
      reg('status', field({ label: 'Status', kind: 'select', options: Object.entries(STATUSES), value: F.status, path: `${p}.status`, onInput: (x) => { F.status = x; write(); render(); } })).el,
      reg('serve', field({ label: 'When stopped, everyone gets', kind: 'select', options: [['', `${variantIds[0] || 'the first variant'} (the control, default)`], ...variantIds.slice(1).map((x) => [x, x])], value: F.serve, path: `${p}.serve`, onInput: (x) => { F.serve = x; write(); renderLifecycle(); } })).el);

    const samples = sampleValues(rules);
    const blocks = Object.keys(rules.blocks || {});
    const variants = h('fieldset.exp-variants', h('legend', 'Variants'),
      h('p.hint', 'The first is the control. A block a variant leaves out shows the segment’s normal content, so a control without content is “what the segment shows now”. Weights are relative (1 and 1 = half each); give all or none.'));
    reg('variants', { el: variants, input: variants.querySelector('legend'), path: `${p}.variants`, setError: errorLine(variants) });
    F.variants.forEach((vf, i) => {
      const vp = `${p}.variants[${i}]`;
      const remove = h('button.secondary.small.danger.remove-variant', { type: 'button', disabled: i === 0 && F.variants.length <= 2, onclick: () => { F.variants.splice(i, 1); write(); render(); } }, 'Remove this variant');
      if ('json' in vf) {
        variants.append(h('div.variant', reg(`variants.${i}.json`, field({ label: `Variant ${i + 1} (JSON)`, kind: 'textarea', rows: 4, value: vf.json, path: vp, onInput: (x) => { vf.json = x; write(); } })).el, remove));
        return;
      }
      const label = i === 0 ? `${vf.id} (control)` : vf.id;
      const head = h('div.variant-head',
        reg(`variants.${i}.id`, field({ label: i === 0 ? 'Variant id (the control)' : 'Variant id', value: vf.id, path: `${vp}.id`, onInput: (x) => { vf.id = x; write(); } })).el,
        reg(`variants.${i}.weight`, field({ label: 'Weight', kind: 'number', value: vf.weight, path: `${vp}.weight`, placeholder: 'equal', onInput: (x) => { vf.weight = x; write(); words(); } })).el);
      const contents = vf.content.map(([b, cf], j) => contentEditor(cf, {
        block: b, label, path: `${vp}.content.${b}`, samples, reg, key: `variants.${i}.content.${b}`, write,
        onRemove: (gone) => { if (gone) { vf.content.splice(j, 1); write(); } render(); },
      }));
      const unused = blocks.filter((b) => !vf.content.some(([x]) => x === b));
      const addBlock = unused.length ? h('div.field.add-variant-block', h('label', `Change a block in ${vf.id}`, (() => {
        const s = h('select.variant-add-block', h('option', { value: '' }, 'Pick a block…'), unused.map((b) => h('option', { value: b }, b)));
        s.addEventListener('change', () => {
          if (!s.value) return;
          vf.content.push([s.value, withShown({ inner_html: '', outer_html: '', before: '', after: '', remove: false, attrs: [], block: s.value }, null)]);
          write(); render();
          body.querySelector(`.variant[data-index="${i}"] [data-block="${s.value}"] textarea`)?.focus();
        });
        return s;
      })())) : null;
      variants.append(h('section.variant', { dataset: { index: String(i), variant: vf.id }, 'aria-label': `Variant ${label}` },
        h('h3', 'Variant ', h('code', vf.id), i === 0 ? h('span.meta-more', ' · control') : null),
        head, contents.length ? contents : h('p.hint', i === 0 ? 'No content: the segment’s normal content (the usual control).' : 'Changes no block yet.'), addBlock, remove));
    });
    variants.append(h('button.secondary.small#add-variant', { type: 'button', onclick: () => {
      let n = F.variants.length;
      const used = new Set(F.variants.map((x) => x.id));
      let id = `variant_${String.fromCharCode(97 + Math.min(n, 25))}`;
      while (used.has(id)) id = `variant_${++n}`;
      F.variants.push({ was: -1, id, weight: F.variants.some((x) => x.weight) ? '1' : '', content: [] });
      write(); render();
    } }, '+ Variant'));

    const goals = h('fieldset.exp-goals', h('legend', 'Goals'),
      h('p.hint', 'What counts as a conversion. A guardrail goal stops a variant that moves it the wrong way (README, “Guardrails”). CUPED needs no setup: every goal is also shown adjusted for the visitors’ history.'),
      ...goalsSection(F.goals, { events: v.events, reg, write, rerender: render, path: `${p}.goals` }));
    reg('goals', { el: goals, input: goals.querySelector('legend'), path: `${p}.goals`, setError: errorLine(goals) });

    const split = h('fieldset.exp-split-fields', h('legend', 'Who is in it, and the split'),
      reg('coverage', field({ label: 'Coverage: share of the entering visitors in the experiment', kind: 'number', value: F.coverage, path: `${p}.coverage`, placeholder: '1', hint: 'From 0 to 1 (0.5: half); the rest see the normal content, uncounted. Empty: all.', onInput: (x) => { F.coverage = x; write(); } })).el,
      reg('allocation', field({ label: 'Allocation', kind: 'select', options: [['fixed', 'Fixed: the weights'], ['bandit', 'Bandit: weights move toward the best variant']], value: F.allocation, path: `${p}.allocation`, onInput: (x) => {
        F.allocation = x;
        if (x === 'fixed') F.bandit = { goal: '', floor: '', burn_in: '' };
        write(); render();
      } })).el);
    if (F.allocation === 'bandit') {
      split.append(h('div.pair',
        reg('bandit.goal', field({ label: 'Bandit maximizes the goal', kind: 'select', options: [['', 'the first goal (default)'], ...F.goals.map((g) => [g.name, g.name])], value: F.bandit.goal, path: `${p}.bandit.goal`, onInput: (x) => { F.bandit.goal = x; write(); } })).el,
        reg('bandit.floor', field({ label: 'Least weight a variant keeps', kind: 'number', value: F.bandit.floor, path: `${p}.bandit.floor`, placeholder: '0.05', onInput: (x) => { F.bandit.floor = x; write(); } })).el,
        reg('bandit.burn_in', field({ label: 'Exposures per variant before weights move', kind: 'number', value: F.bandit.burn_in, path: `${p}.bandit.burn_in`, placeholder: '100', onInput: (x) => { F.bandit.burn_in = x; write(); } })).el));
    }
    const when = h('fieldset.exp-schedule', h('legend', 'Schedule (optional)'),
      h('div.pair',
        reg('start_at', field({ label: 'Starts at', value: F.start_at, path: `${p}.start_at`, placeholder: '2026-12-24T18:00:00Z', hint: 'RFC 3339: UTC (Z) or with an offset (+01:00).', onInput: (x) => { F.start_at = x; write(); } })).el,
        reg('end_at', field({ label: 'Ends at', value: F.end_at, path: `${p}.end_at`, placeholder: '2026-12-31T00:00:00Z', hint: 'From then on as if stopped.', onInput: (x) => { F.end_at = x; write(); } })).el));
    const adv = h('details.exp-advanced', { open: !!(F.seed || F.hash_version || F.hash_attribute || F.namespace.id) },
      h('summary', 'Assignment (seed, hash, namespace)'),
      reg('seed', field({ label: 'Seed', value: F.seed, path: `${p}.seed`, placeholder: current, hint: 'Changing it reassigns everyone. Empty: the key.', onInput: (x) => { F.seed = x; write(); } })).el,
      h('div.pair',
        reg('hash_version', field({ label: 'Hash version', kind: 'select', options: [['', '2 (default)'], ['2', '2'], ['1', '1 (old GrowthBook assignments)']], value: F.hash_version, path: `${p}.hash_version`, onInput: (x) => { F.hash_version = x; write(); } })).el,
        reg('hash_attribute', field({ label: 'Hash attribute', value: F.hash_attribute, path: `${p}.hash_attribute`, placeholder: 'id', hint: 'Empty: the visitor id.', onInput: (x) => { F.hash_attribute = x; write(); } })).el),
      h('div.pair',
        reg('namespace.id', field({ label: 'Namespace', value: F.namespace.id, path: `${p}.namespace`, placeholder: 'hero_tests', onInput: (x) => { F.namespace.id = x; write(); } })).el,
        reg('namespace.start', field({ label: 'Namespace slice from', kind: 'number', value: F.namespace.start, path: `${p}.namespace.start`, placeholder: '0', onInput: (x) => { F.namespace.start = x; write(); } })).el,
        reg('namespace.end', field({ label: 'to', kind: 'number', value: F.namespace.end, path: `${p}.namespace.end`, placeholder: '0.5', onInput: (x) => { F.namespace.end = x; write(); } })).el));
    body.replaceChildren(h('div.builder-grid', h('div', who, split, when, adv), h('div', variants, goals)));
    words();
    // Errors stay shown after a re-render.
    R.show(applyExperimentFields(doc.experiments[current], F, known()).errors);
  }
  render();
  words();

  const el = h('section.builder#experiment-editor', { 'aria-labelledby': 'exp-editor-title' },
    h('div.toolbar', h('h2#exp-editor-title', 'Experiment ', title),
      h('div.actions',
        h('button.primary#exp-save', { type: 'button', onclick: () => onSave?.() }, 'Save…'),
        h('button.secondary#exp-done', { type: 'button', onclick: () => onDone?.() }, 'Back to the experiments'))),
    sentence, lifecycle, body, status,
    h('div.buttons', h('button.secondary.danger#exp-delete', { type: 'button', onclick: () => {
      if (!confirm(`Delete the experiment ${current}? Its results stay in the counters.`)) return;
      const r = shared.read();
      if (!r.doc) return;
      delete r.doc.experiments[current];
      shared.write(r.doc);
      onDone?.();
    } }, 'Delete this experiment')));
  return {
    el,
    status,
    key: () => current,
    errors: R.errors,
    showServerErrors: R.server,
    /** Leaving a new experiment as it was made takes it back out (like a new segment). */
    discardIfUntouched() {
      const d = shared.read().doc;
      if (!created || !d?.experiments || JSON.stringify(d.experiments[current]) !== created) return;
      delete d.experiments[current];
      shared.write(d);
    },
  };
}

/** An error line at the end of a fieldset, for errors about the whole list (variants, goals). */
function errorLine(fs) {
  const p = h('p.field-error', { role: 'alert', hidden: true });
  fs.append(p);
  return (msg) => { p.hidden = !msg; p.textContent = msg || ''; fs.append(p); };
}

/**
 * The holdout editor: a share of a segment's members keeps the default content, to measure
 * the personalization itself. opts: { shared, index (the segment's), onDone, onSave }.
 */
export function holdoutEditor({ shared, index, onDone, onSave }) {
  let { doc } = shared.read();
  const segs = Array.isArray(doc.segments) ? doc.segments : [];
  let created = null;
  if (!segs[index].holdout) {
    segs[index].holdout = { share: 0.1 };
    created = JSON.stringify(segs[index].holdout);
    shared.write(doc);
  }
  const id = segs[index].id;
  const F = holdoutFields(segs[index].holdout);
  const R = registry();
  const body = h('div.exp-form');
  const status = h('p.status.builder-status#holdout-status', { role: 'status', 'aria-live': 'polite' });
  const p = `segments[${index}].holdout`;
  function write() {
    const r = shared.read();
    if (!r.doc?.segments?.[index]) return;
    doc = r.doc;
    const { value, errors } = applyHoldoutFields(doc.segments[index].holdout, F, { events: vocabulary(doc).events });
    R.show(errors);
    F.goals?.forEach((g) => { g.was = g.name; });
    doc.segments[index].holdout = value;
    shared.write(doc);
  }
  function render() {
    R.reset();
    if ('json' in F) {
      body.replaceChildren(R.reg('json', field({ label: 'The holdout, as JSON', kind: 'textarea', value: F.json, path: p, onInput: (x) => { F.json = x; write(); } })).el);
      return;
    }
    const goals = h('fieldset.exp-goals', h('legend', 'Goals'), h('p.hint', 'What the held-out and the personalized members are compared on.'),
      ...goalsSection(F.goals, { events: vocabulary(doc).events, reg: R.reg, write, rerender: render, path: `${p}.goals`, guardrails: false }));
    body.replaceChildren(h('fieldset', h('legend', 'Holdout'),
      R.reg('share', field({ label: 'Share of the members held out', kind: 'number', value: F.share, path: `${p}.share`, hint: 'From 0 to 1 (0.1: 10 %). They keep the page’s default content and enter none of the segment’s experiments.', onInput: (x) => { F.share = x; write(); } })).el,
      R.reg('seed', field({ label: 'Seed (optional)', value: F.seed, path: `${p}.seed`, placeholder: `holdout_${id}`, hint: 'Changing it reshuffles who is held out.', onInput: (x) => { F.seed = x; write(); } })).el), goals);
    R.show(applyHoldoutFields(doc.segments[index].holdout, F, { events: vocabulary(doc).events }).errors);
  }
  render();
  const el = h('section.builder#holdout-editor', { 'aria-labelledby': 'holdout-title' },
    h('div.toolbar', h('h2#holdout-title', 'Holdout on ', h('code', id)),
      h('div.actions',
        h('button.primary#holdout-save', { type: 'button', onclick: () => onSave?.() }, 'Save…'),
        h('button.secondary#holdout-done', { type: 'button', onclick: () => onDone?.() }, 'Back to the experiments'))),
    h('p.hint', `Results show it as the experiment holdout_${id}: the arms holdout (control) and personalized.`),
    body, status,
    h('div.buttons', h('button.secondary.danger#holdout-delete', { type: 'button', onclick: () => {
      if (!confirm(`Remove the holdout from ${id}?`)) return;
      const r = shared.read();
      if (!r.doc?.segments?.[index]) return;
      delete r.doc.segments[index].holdout;
      shared.write(r.doc);
      onDone?.();
    } }, 'Remove the holdout')));
  return {
    el,
    status,
    index,
    errors: R.errors,
    showServerErrors: R.server,
    discardIfUntouched() {
      const d = shared.read().doc;
      const s = d?.segments?.[index];
      if (!created || !s || JSON.stringify(s.holdout) !== created) return;
      delete s.holdout;
      shared.write(d);
    },
  };
}
