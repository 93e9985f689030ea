// The segment builder: fields, condition rows and groups, content per block with a live
// preview, edited on the shared rules document (the signal builder: signal-builder.js). Every
// change is written to the document at once (so the JSON editor shows it); what rows cannot
// show stays as an editable JSON item. Errors show at their field; while any field has one,
// the builder does not save.
import { h } from './ui.js';
import { field } from './fields.js';
import { fromCondition } from './conditions.js';
import { conditionRows } from './condrows.js';
import { segmentFields, applySegmentFields, contentFields, applyContentFields, HTML_ACTIONS } from './forms.js';
import { describeCondition } from './sentences.js';
import { sampleValues, contentPreviewHtml, previewFrame } from './preview.js';

export { vocabulary } from './condrows.js';

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
  const rows = conditionRows({
    tree, path: `${base}.condition`, id: 'condition-tree', getDoc: () => doc, setErr, track,
    onChange: (cond) => update((d, seg) => { seg.condition = cond; }),
    beforeRender: () => {
      for (const x of [...fieldErrors.keys()]) if (x.cond) fieldErrors.delete(x);
      for (let i = fieldsByPath.length - 1; i >= 0; i--) if (fieldsByPath[i].cond) fieldsByPath.splice(i, 1);
    },
  });
  const condHost = rows.el;
  const renderTree = rows.render;

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
