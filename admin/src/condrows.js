// The condition rows editor: a condition as rows (attribute, operator, value) in groups
// (all / any / none of these), with what rows cannot show kept as an editable JSON item.
// Used by the segment builder (a segment's condition) and the experiment editor (who enters
// an experiment by condition). The pure parts (tree <-> condition) are in conditions.js.
import { h } from './ui.js';
import { field } from './fields.js';
import {
  OPERATORS, TYPES, toCondition, row, group, inputKind, formatValue, parseValue,
} from './conditions.js';
import { ATTRIBUTES, attributeType, describeSignal } from './sentences.js';

const MODES = [['all', 'all of these'], ['any', 'any of these'], ['none', 'none of these']];
const OPS_BY_TYPE = {
  number: ['$gte', '$gt', '$lte', '$lt', '$eq', '$ne', '$exists', '$in', '$nin'],
  string: ['$eq', '$ne', '$in', '$nin', '$ini', '$nini', '$regex', '$regexi', '$exists', '$veq', '$vgt', '$vgte', '$vlt', '$vlte', '$inGroup', '$notInGroup'],
  array: ['$in', '$nin', '$all', '$size', '$exists'],
  object: ['$exists', '$type'],
};

/** What the pickers may offer: declared signals, built-in attributes, counters, events, segments. */
export function vocabulary(doc) {
  const signals = Object.keys(doc.signals || {});
  const events = ['page_view', ...Object.keys(doc.events || {}).filter((e) => e !== 'page_view')];
  const segments = (doc.segments || []).map((s) => s.id).filter((s) => typeof s === 'string');
  const counters = [
    ...Object.keys(doc.counters || {}), 'page_views',
    ...segments.map((s) => `entries:${s}`), ...events.filter((e) => e !== 'page_view').map((e) => `events:${e}`),
  ];
  return { signals, events, segments, counters, groups: Object.keys(doc.saved_groups || {}) };
}

function attributeOptions(doc, current) {
  const v = vocabulary(doc);
  const opts = [
    { group: 'Signals (declared)', options: v.signals.map((s) => [s, `${s}: ${describeSignal(doc.signals[s], doc)}`]) },
    { group: 'This request', options: Object.entries(ATTRIBUTES).filter(([k]) => !['segments', 'counters', 'query'].includes(k)).map(([k, a]) => [k, a.label]) },
    { group: 'Segments', options: [['segments', 'the visitor’s segments']] },
    { group: 'Counters (today)', options: v.counters.map((c) => [`counters.${c}`, `counter ${c}`]) },
  ].filter((g) => g.options.length);
  const known = opts.some((g) => g.options.some(([k]) => k === current));
  if (current && !known) opts.push({ group: 'Other', options: [[current, current]] });
  return opts;
}

function opsFor(attr, doc, current) {
  const type = attributeType(attr, doc) || 'string';
  const ops = [...(OPS_BY_TYPE[type] || OPS_BY_TYPE.string)];
  if (current && !ops.includes(current)) ops.push(current);
  return ops.map((o) => [o, OPERATORS[o]?.label || o]);
}

/** A value that fits a new row for an attribute and operator. */
function defaultValue(attr, op, doc) {
  const kind = OPERATORS[op]?.value;
  if (kind === 'bool') return true;
  if (kind === 'list') return attr === 'segments' ? [vocabulary(doc).segments[0] || 'segment_id'] : attr === 'device' ? ['mobile'] : ['value'];
  if (kind === 'type') return 'string';
  if (kind === 'group') return vocabulary(doc).groups[0] || '';
  if (attributeType(attr, doc) === 'number') return 1;
  if (ATTRIBUTES[attr]?.values) return ATTRIBUTES[attr].values[0];
  return '';
}

/**
 * Rows for the condition tree (conditions.js fromCondition), edited in place. opts: { tree,
 * path (the condition's JSON path, for server errors), id (of the host element), getDoc()
 * (the rules now, for the pickers), onChange(condition) after each edit, setErr(field, msg)
 * and track(field) (the caller's error bookkeeping; every field made here has .cond set),
 * beforeRender() (drop the .cond fields before they are made again), legend, emptyHint }.
 * Returns { el, render() }.
 */
export function conditionRows({
  tree, path: rootPath, id, getDoc, onChange, setErr, track, beforeRender,
  legend = 'Who is in it', emptyHint = 'No conditions: everyone is in this segment.',
}) {
  const condHost = h(`div.condition-tree${id ? `#${id}` : ''}`);
  const writeCondition = () => onChange(toCondition(tree));
  const renderTree = () => {
    beforeRender?.();
    condHost.replaceChildren(groupEl(tree, null, rootPath, 0));
  };

  function groupEl(g, parent, path, depth) {
    const mode = h('select.group-mode', { 'aria-label': depth ? 'This group matches' : 'The visitor matches' }, MODES.map(([m, l]) => h('option', { value: m, selected: g.mode === m }, l)));
    mode.addEventListener('change', () => {
      g.mode = mode.value;
      g.form = g.mode === 'all' ? 'object' : 'list';
      writeCondition();
      renderTree();
    });
    const listPath = g.form === 'list' ? `${path}.${{ all: '$and', any: '$or', none: '$nor' }[g.mode]}` : path;
    const items = h('ol.group-items', { 'aria-label': depth ? 'Conditions of this group' : 'Conditions' },
      g.items.map((item, i) => h('li', itemEl(item, g, g.form === 'list' ? `${listPath}[${i}]` : path, depth))));
    const addRow = h('button.secondary.small.add-row', { type: 'button', onclick: () => {
      const attr = vocabulary(getDoc()).signals[0] || 'utm_source';
      const op = attributeType(attr, getDoc()) === 'number' ? '$gte' : '$eq';
      g.items.push(row(attr, op, defaultValue(attr, op, getDoc())));
      writeCondition(); renderTree();
      condHost.querySelector('.cond-row:last-of-type select.row-attr')?.focus();
    } }, '+ Condition');
    const addGroup = h('button.secondary.small.add-group', { type: 'button', onclick: () => { g.items.push(group('any', [])); writeCondition(); renderTree(); } }, '+ Group');
    const remove = parent ? h('button.icon.remove-item', { type: 'button', 'aria-label': 'Remove this group', title: 'Remove this group', onclick: () => { parent.items.splice(parent.items.indexOf(g), 1); writeCondition(); renderTree(); } }, '×') : null;
    return h(`fieldset.cond-group.depth-${Math.min(depth, 3)}`, h('legend', depth ? 'Group' : legend),
      h('div.group-head', h('span', depth ? 'Matches' : 'The visitor matches'), mode, remove),
      g.items.length ? items : h('p.hint', depth ? 'An empty group.' : emptyHint),
      h('div.buttons', addRow, addGroup));
  }

  function itemEl(item, parent, path, depth) {
    if (item.kind === 'group') return groupEl(item, parent, path, depth + 1);
    if (item.kind === 'raw') return rawEl(item, parent, path);
    return rowEl(item, parent, path);
  }

  function rawEl(item, parent, path) {
    const fl = field({
      label: 'Written as JSON (the builder has no rows for this)', kind: 'textarea', rows: 3, value: JSON.stringify(item.json, null, 1), path,
      onInput: (t) => {
        try { item.json = JSON.parse(t); setErr(fl, ''); writeCondition(); } catch (e) { setErr(fl, `not JSON: ${e.message}`); }
      },
    });
    fl.cond = true;
    track(fl);
    const remove = h('button.icon.remove-item', { type: 'button', 'aria-label': 'Remove this JSON condition', title: 'Remove', onclick: () => { parent.items.splice(parent.items.indexOf(item), 1); writeCondition(); renderTree(); } }, '×');
    return h('div.cond-raw', fl.el, remove);
  }

  function rowEl(r, parent, path) {
    const rowPath = `${path}.${r.attr}${r.bare ? '' : `.${r.op}`}`;
    const attr = field({ label: 'Attribute or signal', kind: 'select', options: attributeOptions(getDoc(), r.attr), value: r.attr, hideLabel: true, cls: 'row-attr-field', onInput: (v) => {
      r.attr = v;
      const ops = opsFor(v, getDoc()).map(([o]) => o);
      if (!ops.includes(r.op)) { r.op = ops[0]; r.bare = false; }
      r.value = defaultValue(v, r.op, getDoc());
      writeCondition(); renderTree();
    } });
    attr.input.classList.add('row-attr');
    const op = field({ label: 'Operator', kind: 'select', options: opsFor(r.attr, getDoc(), r.op), value: r.op, hideLabel: true, cls: 'row-op-field', onInput: (v) => {
      const kindBefore = OPERATORS[r.op]?.value;
      r.op = v;
      r.bare = false;
      if (OPERATORS[v]?.value !== kindBefore) r.value = defaultValue(r.attr, v, getDoc());
      writeCondition(); renderTree();
    } });
    op.input.classList.add('row-op');
    const vf = valueField(r, rowPath);
    const remove = h('button.icon.remove-item', { type: 'button', 'aria-label': `Remove the condition on ${r.attr}`, title: 'Remove this condition', onclick: () => { parent.items.splice(parent.items.indexOf(r), 1); writeCondition(); renderTree(); } }, '×');
    return h('div.cond-row', { role: 'group', 'aria-label': `Condition on ${r.attr}` }, attr.el, op.el, vf ? vf.el : h('span'), remove);
  }

  function valueField(r, path) {
    const type = attributeType(r.attr, getDoc());
    const kind = inputKind(r.op, r.value, type);
    const label = `Value for ${r.attr}`;
    let fl;
    const onInput = (text) => {
      const { value, error } = parseValue(kind, text);
      r.value = value;
      setErr(fl, error || '');
      writeCondition();
    };
    const enumValues = r.attr === 'segments' ? vocabulary(getDoc()).segments : ATTRIBUTES[r.attr]?.values;
    if (kind === 'list' && enumValues && enumValues.length) {
      // A list of known values (segments, device classes): pick them, do not type them.
      const id = `ms-${Math.random().toString(36).slice(2, 9)}`;
      const sel = h('select.row-value', { id, multiple: true, size: Math.min(4, Math.max(2, enumValues.length)) },
        [...new Set([...enumValues, ...r.value])].map((v) => h('option', { value: v, selected: r.value.includes(v) }, enumValues.includes(v) ? v : `${v} (not known)`)));
      const err = h('p.field-error', { id: `${id}-err`, hidden: true, role: 'alert' });
      sel.setAttribute('aria-describedby', `${id}-err`);
      const el2 = h('div.field.row-value-field', { dataset: { path } }, h('label.sr-only', { for: id }, label), sel,
        h('p.hint', 'Ctrl/Cmd-click (or Shift+arrows) picks several'), err);
      fl = {
        el: el2, input: sel, path, cond: true,
        get: () => [...sel.selectedOptions].map((o) => o.value),
        setError: (msg) => { err.hidden = !msg; err.textContent = msg || ''; el2.classList.toggle('invalid', !!msg); if (msg) sel.setAttribute('aria-invalid', 'true'); else sel.removeAttribute('aria-invalid'); },
      };
      sel.addEventListener('change', () => {
        const picked = fl.get();
        // Keep the document's order for values still picked, then the new ones.
        r.value = [...r.value.filter((v) => picked.includes(v)), ...picked.filter((v) => !r.value.includes(v))];
        setErr(fl, picked.length ? '' : 'pick at least one');
        writeCondition();
      });
      return track(fl);
    }
    if (kind === 'bool') fl = field({ label, kind: 'select', options: [['true', 'yes'], ['false', 'no']], value: String(r.value), hideLabel: true, onInput, path });
    else if (kind === 'type') fl = field({ label, kind: 'select', options: TYPES.map((t) => [t, t]), value: r.value, hideLabel: true, onInput, path });
    else if (kind === 'group') fl = field({ label, kind: 'select', options: vocabulary(getDoc()).groups.map((g) => [g, g]), value: r.value, hideLabel: true, onInput, path });
    else if (kind === 'text' && enumValues && enumValues.includes(r.value)) fl = field({ label, kind: 'select', options: enumValues.map((v) => [v, v]), value: r.value, hideLabel: true, onInput, path });
    else {
      const hint = { list: 'Separate values with commas', numlist: 'Numbers, separated by commas', json: 'A JSON value' }[kind] || '';
      const listOf = r.attr === 'segments' ? `segments: ${vocabulary(getDoc()).segments.join(', ')}` : enumValues ? enumValues.join(', ') : '';
      fl = field({ label, kind: kind === 'number' ? 'number' : 'text', value: formatValue(kind, r.value), hideLabel: true, onInput, path, hint: [hint, listOf].filter(Boolean).join(' · '), placeholder: kind === 'number' ? '3' : '' });
    }
    fl.el.classList.add('row-value-field');
    fl.input.classList.add('row-value');
    fl.cond = true;
    return track(fl);
  }

  return { el: condHost, render: renderTree };
}
