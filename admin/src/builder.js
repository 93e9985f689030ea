// The segment builder: fields, condition rows and groups, content per block with a live
// preview, edited on the shared rules document (the signal builder: signal-builder.js). Every
// change is written to the document at once (so the JSON editor shows it); what rows cannot
// show stays as an editable JSON item. Errors show at their field; while any field has one,
// the builder does not save.
import { h } from './ui.js';
import { field } from './fields.js';
import {
  OPERATORS, TYPES, fromCondition, toCondition, row, group, inputKind, formatValue, parseValue,
} from './conditions.js';
import { segmentFields, applySegmentFields, contentFields, applyContentFields, HTML_ACTIONS } from './forms.js';
import { ATTRIBUTES, attributeType, describeCondition, describeSignal } from './sentences.js';
import { sampleValues, contentPreviewHtml, previewFrame } from './preview.js';

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
 * The segment builder. opts: { shared (the shared document), index (segment index, or null
 * for a new one), onDone(), onSave() }. Returns { el, errors() (the fields in error),
 * showServerErrors(list) }.
 */
export function segmentBuilder({ shared, index, onDone, onSave }) {
  let { doc } = shared.read();
  let created = null; // the new segment as made, to take back if left untouched
  if (index === null) {
    doc.segments = Array.isArray(doc.segments) ? doc.segments : [];
    let n = doc.segments.length + 1;
    while (doc.segments.some((s) => s.id === `new_segment_${n}`)) n++;
    created = { id: `new_segment_${n}`, description: '', priority: 0, condition: {} };
    doc.segments.push(created);
    created = JSON.stringify(created);
    index = doc.segments.length - 1;
    shared.write(doc);
  }
  const seg0 = doc.segments[index];
  const tree = fromCondition(seg0.condition);
  const fieldErrors = new Map(); // field -> message
  const fieldsByPath = [];
  const base = `segments[${index}]`;
  const title = h('code', seg0.id);

  const setErr = (f, msg) => { f.setError(msg); if (msg) fieldErrors.set(f, msg); else fieldErrors.delete(f); };
  const track = (f) => { fieldsByPath.push(f); return f; };

  /** Re-reads the document, applies fn(doc, seg) and writes it back. */
  function update(fn) {
    const r = shared.read();
    if (!r.doc) return;
    doc = r.doc;
    const seg = doc.segments?.[index];
    if (!seg) return;
    fn(doc, seg);
    shared.write(doc);
    sentence.textContent = describeCondition(doc.segments[index].condition, doc);
  }

  // ---- fields ----
  const sf = segmentFields(seg0);
  const f = {};
  const writeFields = () => {
    let renamed = false;
    update((d, seg) => {
      const vals = Object.fromEntries(Object.entries(f).map(([k, x]) => [k, x.get()]));
      const others = d.segments.filter((_, i) => i !== index).map((s) => s.id);
      const { value, errors } = applySegmentFields(seg, vals, others);
      for (const [k, x] of Object.entries(f)) setErr(x, errors[k] || '');
      if (value.id !== seg.id && !errors.id) { renameContent(d, seg.id, value.id); renamed = true; }
      d.segments[index] = value;
    });
    if (renamed) { title.textContent = doc.segments[index].id; renderContent(); }
  };
  f.id = track(field({ label: 'Segment id', value: sf.id, path: `${base}.id`, hint: 'Letters, digits and _; blocks and reports use it.', onInput: writeFields, required: true }));
  f.description = track(field({ label: 'Description', value: sf.description, path: `${base}.description`, onInput: writeFields, placeholder: 'What the segment is for' }));
  f.priority = track(field({ label: 'Priority', kind: 'number', value: sf.priority, path: `${base}.priority`, hint: 'Higher wins when a visitor is in several segments with content for a block.', onInput: writeFields }));
  f.enter_after = track(field({ label: 'Joins after the condition held for', kind: 'duration', value: sf.enter_after, path: `${base}.enter_after`, hint: 'Empty or 0: at once.', onInput: writeFields }));
  f.hold_for = track(field({ label: 'Stays after the condition stops for', kind: 'duration', value: sf.hold_for, path: `${base}.hold_for`, hint: 'Empty or 0: leaves at once.', onInput: writeFields }));

  // ---- condition ----
  const sentence = h('p.sentence#builder-sentence', { 'aria-live': 'polite' }, describeCondition(seg0.condition, doc));
  const condHost = h('div.condition-tree#condition-tree');
  const writeCondition = () => update((d, seg) => { seg.condition = toCondition(tree); });
  const renderTree = () => {
    for (const x of [...fieldErrors.keys()]) if (x.cond) fieldErrors.delete(x);
    for (let i = fieldsByPath.length - 1; i >= 0; i--) if (fieldsByPath[i].cond) fieldsByPath.splice(i, 1);
    condHost.replaceChildren(groupEl(tree, null, `${base}.condition`, 0));
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
      const attr = vocabulary(doc).signals[0] || 'utm_source';
      const op = attributeType(attr, doc) === 'number' ? '$gte' : '$eq';
      g.items.push(row(attr, op, defaultValue(attr, op, doc)));
      writeCondition(); renderTree();
      condHost.querySelector('.cond-row:last-of-type select.row-attr')?.focus();
    } }, '+ Condition');
    const addGroup = h('button.secondary.small.add-group', { type: 'button', onclick: () => { g.items.push(group('any', [])); writeCondition(); renderTree(); } }, '+ Group');
    const remove = parent ? h('button.icon.remove-item', { type: 'button', 'aria-label': 'Remove this group', title: 'Remove this group', onclick: () => { parent.items.splice(parent.items.indexOf(g), 1); writeCondition(); renderTree(); } }, '×') : null;
    return h(`fieldset.cond-group.depth-${Math.min(depth, 3)}`, h('legend', depth ? 'Group' : 'Who is in it'),
      h('div.group-head', h('span', depth ? 'Matches' : 'The visitor matches'), mode, remove),
      g.items.length ? items : h('p.hint', depth ? 'An empty group.' : 'No conditions: everyone is in this segment.'),
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
    const attr = field({ label: 'Attribute or signal', kind: 'select', options: attributeOptions(doc, r.attr), value: r.attr, hideLabel: true, cls: 'row-attr-field', onInput: (v) => {
      r.attr = v;
      const ops = opsFor(v, doc).map(([o]) => o);
      if (!ops.includes(r.op)) { r.op = ops[0]; r.bare = false; }
      r.value = defaultValue(v, r.op, doc);
      writeCondition(); renderTree();
    } });
    attr.input.classList.add('row-attr');
    const op = field({ label: 'Operator', kind: 'select', options: opsFor(r.attr, doc, r.op), value: r.op, hideLabel: true, cls: 'row-op-field', onInput: (v) => {
      const kindBefore = OPERATORS[r.op]?.value;
      r.op = v;
      r.bare = false;
      if (OPERATORS[v]?.value !== kindBefore) r.value = defaultValue(r.attr, v, doc);
      writeCondition(); renderTree();
    } });
    op.input.classList.add('row-op');
    const vf = valueField(r, rowPath);
    const remove = h('button.icon.remove-item', { type: 'button', 'aria-label': `Remove the condition on ${r.attr}`, title: 'Remove this condition', onclick: () => { parent.items.splice(parent.items.indexOf(r), 1); writeCondition(); renderTree(); } }, '×');
    return h('div.cond-row', { role: 'group', 'aria-label': `Condition on ${r.attr}` }, attr.el, op.el, vf ? vf.el : h('span'), remove);
  }

  function valueField(r, path) {
    const type = attributeType(r.attr, doc);
    const kind = inputKind(r.op, r.value, type);
    const label = `Value for ${r.attr}`;
    let fl;
    const onInput = (text) => {
      const { value, error } = parseValue(kind, text);
      r.value = value;
      setErr(fl, error || '');
      writeCondition();
    };
    const enumValues = r.attr === 'segments' ? vocabulary(doc).segments : ATTRIBUTES[r.attr]?.values;
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
    else if (kind === 'group') fl = field({ label, kind: 'select', options: vocabulary(doc).groups.map((g) => [g, g]), value: r.value, hideLabel: true, onInput, path });
    else if (kind === 'text' && enumValues && enumValues.includes(r.value)) fl = field({ label, kind: 'select', options: enumValues.map((v) => [v, v]), value: r.value, hideLabel: true, onInput, path });
    else {
      const hint = { list: 'Separate values with commas', numlist: 'Numbers, separated by commas', json: 'A JSON value' }[kind] || '';
      const listOf = r.attr === 'segments' ? `segments: ${vocabulary(doc).segments.join(', ')}` : enumValues ? enumValues.join(', ') : '';
      fl = field({ label, kind: kind === 'number' ? 'number' : 'text', value: formatValue(kind, r.value), hideLabel: true, onInput, path, hint: [hint, listOf].filter(Boolean).join(' · '), placeholder: kind === 'number' ? '3' : '' });
    }
    fl.el.classList.add('row-value-field');
    fl.input.classList.add('row-value');
    fl.cond = true;
    return track(fl);
  }

  // ---- content per block ----
  const contentHost = h('div.content-blocks#builder-content');
  function renderContent() {
    for (let i = fieldsByPath.length - 1; i >= 0; i--) if (fieldsByPath[i].content) { fieldErrors.delete(fieldsByPath[i]); fieldsByPath.splice(i, 1); }
    const segId = doc.segments[index].id;
    const blocks = Object.entries(doc.blocks || {});
    const newBlock = field({ label: 'New block id', value: '', placeholder: 'e.g. banner', hideLabel: false });
    const addBlock = h('button.secondary.small#add-block', { type: 'button', onclick: () => {
      const id = newBlock.get().trim();
      if (!/^[A-Za-z0-9_-]+$/.test(id)) { newBlock.setError('a block id uses letters, digits, _ and -'); return; }
      update((d) => { d.blocks = d.blocks || {}; if (!d.blocks[id]) d.blocks[id] = { content: {} }; });
      renderContent();
    } }, 'Add block');
    contentHost.replaceChildren(...[
      h('h3', 'What this segment sees'),
      blocks.length ? null : h('p.hint', 'The rules have no blocks yet. Mark an element with data-edgeseg-block="ID" and add the block here.'),
      ...blocks.map(([b, block]) => blockEl(b, block, segId)),
      h('div.add-block', newBlock.el, addBlock)].filter(Boolean));
  }

  function blockEl(b, block, segId) {
    const spec = block && block.content && Object.prototype.hasOwnProperty.call(block.content, segId) ? block.content[segId] : undefined;
    const path = `blocks.${b}.content.${segId}`;
    const frame = previewFrame(`Preview of block ${b} for this segment`);
    const samples = sampleValues(doc);
    const host = h('div.block-fields');
    const refresh = (s) => frame.update(s === undefined ? '' : contentPreviewHtml(s, samples));
    const previewBox = h('div.preview-box', h('p.preview-label', 'Preview (sample values, escaped)'), frame.el);
    const section = h('section.block-edit', { dataset: { block: b }, 'aria-label': `Block ${b}` },
      h('h4', 'Block ', h('code', b)), host, previewBox);
    if (spec === undefined) {
      host.append(h('p.hint', 'Not changed for this segment: visitors see the page’s default content.'),
        h('button.secondary.small.change-block', { type: 'button', onclick: () => {
          update((d) => { d.blocks[b].content = d.blocks[b].content || {}; d.blocks[b].content[segId] = { inner_html: '' }; });
          renderContent();
          contentHost.querySelector(`[data-block="${b}"] textarea`)?.focus();
        } }, `Change ${b} for this segment`));
      previewBox.hidden = true;
      return section;
    }
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
      const fl = field({ label: 'Content (JSON)', kind: 'textarea', value: JSON.stringify(spec), path, onInput: (t) => {
        try { const v = JSON.parse(t); setErr(fl, ''); update((d) => { d.blocks[b].content[segId] = v; }); } catch (e) { setErr(fl, `not JSON: ${e.message}`); }
      } });
      fl.content = true;
      host.append(track(fl).el);
      return section;
    }
    const cf = contentFields(spec);
    const inputs = {};
    const write = () => {
      const vals = { ...cf };
      for (const k of Object.keys(HTML_ACTIONS)) if (inputs[k]) vals[k] = inputs[k].get();
      vals.remove = inputs.remove.get();
      vals.attrs = attrRows.map(([k, v]) => [k.get(), v.get()]);
      update((d) => {
        const { value, errors } = applyContentFields(d.blocks[b].content[segId], vals);
        for (const [k, x] of Object.entries(inputs)) setErr(x, errors[k] || '');
        attrRows.forEach(([k], i) => setErr(k, errors[`attrs.${i}`] || ''));
        d.blocks[b].content[segId] = value;
        refresh(value);
        Object.assign(cf, vals);
      });
    };
    for (const [k, label] of Object.entries(HTML_ACTIONS)) {
      if (!cf[k] && !(k in spec) && !(k === 'inner_html' && !cf.outer_html && !cf.remove && !Object.keys(spec).length)) continue;
      inputs[k] = track(field({ label: `${label} (HTML)`, kind: 'textarea', rows: 4, value: cf[k], path: `${path}.${k}`, onInput: write, hint: k === 'inner_html' ? 'Use {{utm_campaign|fallback}} to put in a value from the visit (escaped).' : '' }));
      inputs[k].content = true;
      inputs[k].input.classList.add(`html-${k}`);
      host.append(inputs[k].el);
    }
    const absent = Object.entries(HTML_ACTIONS).filter(([k]) => !inputs[k]);
    if (absent.length) {
      const pick = h('select', { 'aria-label': `Add an action to block ${b}` }, h('option', { value: '' }, 'Add…'), absent.map(([k, l]) => h('option', { value: k }, l)));
      pick.addEventListener('change', () => {
        if (!pick.value) return;
        const k = pick.value;
        update((d) => { d.blocks[b].content[segId][k] = ''; });
        renderContent();
      });
      host.append(h('div.field', h('label', 'More actions', pick)));
    }
    inputs.remove = track(field({ label: 'Remove the element', kind: 'checkbox', value: cf.remove, path: `${path}.remove`, onInput: write }));
    inputs.remove.content = true;
    host.append(inputs.remove.el);
    const attrRows = [];
    const attrsHost = h('div.attr-rows');
    const addAttrRow = (k = '', v = '') => {
      const kf = track(field({ label: 'Attribute name', value: k, hideLabel: true, placeholder: 'data-theme', path: `${path}.set_attributes`, onInput: write }));
      const vf = track(field({ label: 'Attribute value', value: v, hideLabel: true, placeholder: 'value', onInput: write }));
      kf.content = true; vf.content = true;
      const pair = [kf, vf];
      attrRows.push(pair);
      const rowEl2 = h('div.attr-row', { role: 'group', 'aria-label': 'Attribute' }, kf.el, vf.el,
        h('button.icon', { type: 'button', 'aria-label': 'Remove this attribute', onclick: () => { attrRows.splice(attrRows.indexOf(pair), 1); rowEl2.remove(); write(); } }, '×'));
      attrsHost.append(rowEl2);
    };
    cf.attrs.forEach(([k, v]) => addAttrRow(k, v));
    host.append(h('div.field', h('span.field-label', 'Set attributes'), attrsHost,
      h('button.secondary.small', { type: 'button', onclick: () => { addAttrRow(); attrRows[attrRows.length - 1][0].input.focus(); } }, '+ Attribute')));
    host.append(h('button.secondary.small.stop-change', { type: 'button', onclick: () => {
      update((d) => { delete d.blocks[b].content[segId]; });
      renderContent();
    } }, `Stop changing ${b} for this segment`));
    refresh(spec);
    return section;
  }

  const status = h('p.status.builder-status#builder-status', { role: 'status', 'aria-live': 'polite' });
  const el = h('section.builder#segment-builder', { 'aria-labelledby': 'builder-title' },
    h('div.toolbar', h('h2#builder-title', 'Segment ', title),
      h('div.actions',
        h('button.primary#builder-save', { type: 'button', onclick: () => onSave?.() }, 'Save…'),
        h('button.secondary#builder-done', { type: 'button', onclick: () => onDone?.() }, 'Back to the overview'))),
    h('div.builder-grid',
      h('fieldset.seg-fields', h('legend', 'Segment'), f.id.el, f.description.el, f.priority.el, h('div.pair', f.enter_after.el, f.hold_for.el)),
      h('section.cond-section', { 'aria-label': 'Condition' }, h('h3', 'Condition'), h('p.hint', 'In words: ', sentence), condHost)),
    contentHost,
    status,
    h('div.buttons',
      h('button.secondary.danger#builder-delete', { type: 'button', onclick: () => {
        if (!confirm(`Delete the segment ${doc.segments[index].id} and its content?`)) return;
        update((d, seg) => { for (const block of Object.values(d.blocks || {})) if (block && block.content) delete block.content[seg.id]; d.segments.splice(index, 1); });
        onDone?.();
      } }, 'Delete this segment')));
  renderTree();
  renderContent();

  return {
    el,
    status,
    index,
    /** The fields in error, first first (and each shows its message). */
    errors: () => [...fieldErrors.entries()].map(([fl, message]) => ({ field: fl, message })),
    /** Server errors [{path, message}] shown at the field whose path is the longest prefix. */
    showServerErrors(list) { return placeServerErrors(list, fieldsByPath, setErr); },
    /**
     * Leaving a new segment as it was made takes it back out of the document: with no
     * condition it matches everyone, and the next save from any tab would store it.
     */
    discardIfUntouched() {
      const d = shared.read().doc;
      const seg = d?.segments?.[index];
      const hasContent = Object.values(d?.blocks || {}).some((b) => b?.content && seg && seg.id in b.content);
      if (!created || !seg || JSON.stringify(seg) !== created || hasContent) return;
      d.segments.splice(index, 1);
      shared.write(d);
    },
  };
}

/** Moves a segment's block content to its new id, keeping each block's order. */
function renameContent(doc, from, to) {
  for (const block of Object.values(doc.blocks || {})) {
    if (!block || !block.content || !Object.prototype.hasOwnProperty.call(block.content, from)) continue;
    block.content = Object.fromEntries(Object.entries(block.content).map(([k, v]) => [k === from ? to : k, v]));
  }
}

/** Puts each server error at its field (longest matching path); returns the unplaced ones. */
export function placeServerErrors(list, fields, setErr) {
  const left = [];
  for (const e of list || []) {
    const p = e.path || '';
    let best = null;
    for (const fl of fields) {
      if (!fl.path) continue;
      if (p === fl.path || p.startsWith(`${fl.path}.`) || p.startsWith(`${fl.path}[`)) {
        if (!best || fl.path.length > best.path.length) best = fl;
      }
    }
    if (best) setErr(best, e.message); else left.push(e);
  }
  return left;
}
