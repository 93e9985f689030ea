// Pure: what "Pick on page" changes in the rules document (README, "Picking blocks on the
// page"). The picked element becomes a new block, or the target of an existing one (its
// selector is replaced), and gets content for a segment (blocks.ID.content.SEGMENT) or for an
// experiment variant (experiments.KEY.variants[i].content.ID).

/** The targets content can be for: [{ value, label }], segments first, then each variant. */
export function contentTargets(doc) {
  const d = doc && typeof doc === 'object' ? doc : {};
  const out = (Array.isArray(d.segments) ? d.segments : []).filter((s) => s && typeof s.id === 'string')
    .map((s) => ({ value: `s:${s.id}`, label: `Segment ${s.id}` }));
  for (const [key, e] of Object.entries(d.experiments && typeof d.experiments === 'object' ? d.experiments : {})) {
    for (const v of Array.isArray(e?.variants) ? e.variants : []) {
      if (v && typeof v.id === 'string') out.push({ value: `v:${key}:${v.id}`, label: `Experiment ${key}, variant ${v.id}` });
    }
  }
  return out;
}

/**
 * Puts the pick into a copy of `doc`: { doc } or { error, field } (field: 'block-id' | 'for').
 * block: an existing block's id, or '' with newId for a new block; target: a contentTargets value.
 */
export function placeContent(doc, { selector, block, newId, target, spec }) {
  const d = structuredClone(doc);
  d.blocks = d.blocks && typeof d.blocks === 'object' && !Array.isArray(d.blocks) ? d.blocks : {};
  let id = block;
  if (!id) {
    id = String(newId || '').trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return { error: 'Give the new block an id: letters, digits, _ or -.', field: 'block-id' };
    if (d.blocks[id]) return { error: `There is a block ${id} already: choose it in the list, or another id.`, field: 'block-id' };
    d.blocks[id] = { selector, content: {} };
  } else if (!d.blocks[id]) {
    return { error: `There is no block ${id} any more (the rules changed): choose again.`, field: 'block-id' };
  } else {
    d.blocks[id] = { ...d.blocks[id], selector, content: d.blocks[id].content || {} };
  }
  const m = /^s:(.+)$/.exec(target || '') || null;
  if (m) {
    d.blocks[id].content[m[1]] = spec;
    return { doc: d, id };
  }
  const v = /^v:([^:]+):(.+)$/.exec(target || '');
  const variant = v && d.experiments?.[v[1]]?.variants?.find?.((x) => x && x.id === v[2]);
  if (!variant) return { error: 'Choose the segment or experiment variant the content is for (add a segment in the Segments tab first).', field: 'for' };
  variant.content = variant.content && typeof variant.content === 'object' ? variant.content : {};
  variant.content[id] = spec;
  return { doc: d, id };
}
