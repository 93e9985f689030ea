// Completion and hover help in the rules editor, from the committed JSON Schema
// (schema/rules.schema.json, bundled): property names, enum values, and inside conditions
// the attributes that exist (declared signals, built-in attributes, counters) and the
// operators; event, segment, block and signal names where the document expects one.
import { ensureSyntaxTree, syntaxTree } from '@codemirror/language';
import { StateEffect, EditorState } from '@codemirror/state';
import { EditorView, hoverTooltip } from '@codemirror/view';
import schema from '../../schema/rules.schema.json';
import { OPERATORS, TYPES } from './conditions.js';
import { ATTRIBUTES, describeSignal } from './sentences.js';
import { vocabulary } from './builder.js';

const LOGIC = { $and: 'all of these conditions', $or: 'any of these conditions', $nor: 'none of these conditions', $not: 'the condition inside does not hold' };

function deref(s) {
  let guard = 0;
  while (s && s.$ref && guard++ < 20) {
    const name = s.$ref.replace('#/$defs/', '');
    const target = schema.$defs[name];
    s = { ...target, ...s, $ref: undefined, description: s.description || target.description };
  }
  return s;
}

/** The alternatives a schema allows (anyOf / oneOf flattened), each dereferenced. */
function alternatives(s) {
  s = deref(s);
  if (!s) return [];
  const alts = s.anyOf || s.oneOf;
  if (alts && !alts.every((a) => 'const' in a)) return alts.flatMap((a) => alternatives(a));
  return [s];
}

function child(s, key) {
  const out = [];
  for (const a of alternatives(s)) {
    if (typeof key === 'number') { if (a.items) out.push(a.items); continue; }
    if (a.properties && a.properties[key]) out.push(a.properties[key]);
    else if (a.additionalProperties && typeof a.additionalProperties === 'object') out.push(a.additionalProperties);
  }
  return out;
}

/**
 * Where a path points: { schemas } in the schema, or { condition: 'keys'|'test'|'value', attr }
 * inside a segment condition.
 */
export function locate(path) {
  let schemas = [schema];
  for (let i = 0; i < path.length; i++) {
    const key = path[i];
    if (path[0] === 'segments' && i === 3 && path[2] === 'condition') return conditionAt(path.slice(3));
    schemas = schemas.flatMap((s) => child(s, key));
    if (path[0] === 'segments' && i === 2 && key === 'condition' && path.length === 3) return { schemas, condition: 'root' };
  }
  return { schemas };
}

/** Inside a condition: path relative to it. */
function conditionAt(rel) {
  let i = 0;
  for (;;) {
    const k = rel[i];
    if (k === undefined) return { condition: 'keys' };
    if ((k === '$and' || k === '$or' || k === '$nor') && typeof rel[i + 1] === 'number') { i += 2; continue; }
    if (k === '$not') { i += 1; continue; }
    if (typeof k === 'string' && k[0] !== '$') {
      const op = rel[i + 1];
      if (op === undefined) return { condition: 'test', attr: k };
      if (op === '$not' || op === '$elemMatch') { return rel.length === i + 2 ? { condition: 'ops', attr: k } : { condition: 'value', attr: k, op: rel[i + 2] }; }
      return { condition: 'value', attr: k, op };
    }
    return { condition: 'keys' };
  }
}

/** The JSON path of a syntax node: keys and array indexes from the document's root. */
function pathOf(node, state) {
  const path = [];
  let n = node;
  while (n) {
    const parent = n.parent;
    if (!parent) break;
    if (parent.name === 'Property' && n.name !== 'PropertyName') {
      const nameNode = parent.getChild('PropertyName');
      if (nameNode) path.unshift(keyText(state, nameNode));
    } else if (parent.name === 'Array' && n.name !== '[' && n.name !== ']' && n.name !== ',') {
      let idx = 0;
      for (let c = parent.firstChild; c && c.from < n.from; c = c.nextSibling) if (!['[', ']', ',', '⚠'].includes(c.name)) idx++;
      path.unshift(idx);
    }
    n = parent;
  }
  return path;
}

function keyText(state, node) {
  const t = state.sliceDoc(node.from, node.to);
  try { return JSON.parse(t); } catch { return t.replace(/^"|"$/g, ''); }
}

const option = (label, info, type = 'property', boost = 0) => ({ label, info, type, boost });
// Labels carry their quotes: the typed text (from the opening quote) is matched against them.
const quoted = (o) => ({ ...o, label: JSON.stringify(o.label), apply: JSON.stringify(o.label) });

function keyOptions(loc, doc, present) {
  if (loc.condition === 'keys' || loc.condition === 'root') {
    const v = vocabulary(doc);
    return [
      ...v.signals.map((s) => option(s, `signal: ${describeSignal(doc.signals[s], doc)}`, 'variable', 3)),
      ...Object.entries(ATTRIBUTES).map(([k, a]) => option(k, a.about, 'property', 2)),
      ...v.counters.map((c) => option(`counters.${c}`, `today’s count of ${c} (approximate)`, 'property', 1)),
      ...Object.entries(LOGIC).map(([k, about]) => option(k, about, 'keyword')),
    ];
  }
  if (loc.condition === 'test' || loc.condition === 'ops') {
    return [...Object.entries(OPERATORS).map(([k, o]) => option(k, o.label, 'keyword')), option('$not', 'the test inside fails', 'keyword'), option('$elemMatch', 'some item matches the test inside', 'keyword')];
  }
  const out = [];
  const seen = new Set();
  for (const s of loc.schemas || []) {
    for (const a of alternatives(s)) {
      for (const [k, p] of Object.entries(a.properties || {})) {
        if (seen.has(k) || present.has(k)) continue;
        seen.add(k);
        out.push(option(k, deref(p)?.description || '', 'property'));
      }
    }
  }
  return out;
}

/** Names a document-specific map key may take (blocks.X.content keys are segment ids, ...). */
function mapKeyOptions(path, doc) {
  const v = vocabulary(doc);
  const last = path[path.length - 1];
  if (path[0] === 'blocks' && last === 'content' && path.length === 3) return v.segments.map((s) => option(s, 'segment', 'variable'));
  if (path[0] === 'signals' && last === 'score') return v.events.map((e) => option(e, 'event', 'variable'));
  if (path[0] === 'signals' && last === 'logistic') return v.signals.filter((s) => s !== path[1]).map((s) => option(s, `signal: ${describeSignal(doc.signals[s], doc)}`, 'variable'));
  return [];
}

function valueOptions(path, loc, doc) {
  const v = vocabulary(doc);
  const last = path[path.length - 1];
  if (loc.condition === 'value' || loc.condition === 'test') {
    const attr = loc.attr;
    if (loc.op === '$type') return TYPES.map((t) => option(t, 'type', 'enum'));
    if (loc.op === '$exists') return [option('true', 'set', 'keyword'), option('false', 'not set', 'keyword')];
    if (loc.op === '$inGroup' || loc.op === '$notInGroup') return v.groups.map((g) => option(g, 'saved group', 'enum'));
    if (attr === 'segments') return v.segments.map((s) => option(s, 'segment', 'enum'));
    if (ATTRIBUTES[attr]?.values) return ATTRIBUTES[attr].values.map((x) => option(x, attr, 'enum'));
    return [];
  }
  if (path[0] === 'signals' && ['count', 'since', 'unless'].includes(last)) return v.events.map((e) => option(e, 'event', 'enum'));
  if (path[0] === 'counters' && path.length === 3) {
    if (last === 'event') return v.events.filter((e) => e !== 'page_view').map((e) => option(e, 'event', 'enum'));
    if (last === 'impressions') return Object.keys(doc.blocks || {}).map((b) => option(b, 'block', 'enum'));
    if (last === 'entries' || last === 'segment') return v.segments.map((s) => option(s, 'segment', 'enum'));
  }
  const out = [];
  for (const s of loc.schemas || []) {
    const d = deref(s);
    for (const e of d?.enum || []) out.push(option(e, d.description || '', 'enum'));
    for (const a of d?.oneOf || []) if ('const' in a) out.push(option(a.const, a.description || '', 'enum'));
    for (const a of alternatives(s)) if (a.type === 'boolean' || (Array.isArray(a.type) && a.type.includes('boolean'))) out.push(option('true', '', 'keyword'), option('false', '', 'keyword'));
  }
  return out;
}

/**
 * The syntax tree up to `pos`. CodeMirror parses in time slices, so on a busy machine the tree
 * may not reach the cursor yet when completion or hover asks; without this, completion silently
 * offers nothing for that keystroke. A long document gets at most 100 ms.
 */
function treeAt(state, pos) {
  return ensureSyntaxTree(state, pos, 100) || syntaxTree(state);
}

/** The completion source. getDoc() returns the parsed document (or null while it does not parse). */
export function schemaCompletion(getDoc) {
  let lastGood = {};
  return (ctx) => {
    const doc = getDoc() || lastGood;
    lastGood = doc;
    const { state, pos } = ctx;
    const node = treeAt(state, pos).resolveInner(pos, -1);
    const word = ctx.matchBefore(/"?[\w$.:-]*"?/);
    const from = word ? word.from : pos;
    const inKey = node.name === 'PropertyName' || node.name === 'Object' || (node.name === '⚠' && node.parent?.name === 'Object')
      || (node.name === 'String' && node.parent?.name === 'Object');
    if (inKey) {
      const obj = node.name === 'Object' ? node : node.parent?.name === 'Property' ? node.parent.parent : node.parent;
      if (!obj) return null;
      const path = pathOf(obj, state);
      const present = new Set();
      for (let c = obj.firstChild; c; c = c.nextSibling) if (c.name === 'Property') { const k = c.getChild('PropertyName'); if (k && k.from !== node.from) present.add(keyText(state, k)); }
      const opts = [...mapKeyOptions(path, doc), ...keyOptions(locate(path), doc, present)];
      if (!opts.length) return null;
      const to = (node.name === 'PropertyName' || node.name === 'String') && node.to >= pos ? node.to : undefined;
      return { from, to, options: opts.map(quoted), validFor: /^"?[\w$.:-]*"?$/ };
    }
    // A value: a string (or the start of one) after a property's colon, or an array item.
    let valueNode = node;
    if (node.name === 'Property') valueNode = null;
    const prop = node.name === 'Property' ? node : node.parent?.name === 'Property' ? node.parent : null;
    const arr = node.parent?.name === 'Array' ? node.parent : node.name === 'Array' ? node : null;
    let path;
    if (prop) {
      path = pathOf(valueNode || prop, state);
      if (!valueNode) { const k = prop.getChild('PropertyName'); if (k) path.push(keyText(state, k)); }
    } else if (arr) {
      path = pathOf(arr, state);
      path.push(0);
    } else return null;
    const opts = valueOptions(path, locate(path), doc);
    if (!opts.length) return null;
    return {
      from,
      to: node.name === 'String' && node.to >= pos ? node.to : undefined,
      options: opts.map((o) => {
        const text = typeof o.label === 'string' && o.type !== 'keyword' ? JSON.stringify(o.label) : String(o.label);
        return { ...o, label: text, apply: text };
      }),
      validFor: /^"?[\w$.:-]*"?$/,
    };
  };
}

/** Hover text: the schema's description of the property under the pointer. */
export function schemaHover(getDoc) {
  return hoverTooltip((view, pos) => {
    const node = treeAt(view.state, pos).resolveInner(pos, 1);
    if (node.name !== 'PropertyName') return null;
    const key = keyText(view.state, node);
    const path = pathOf(node.parent, view.state);
    path.push(key);
    const text = describePath(path, getDoc() || {});
    if (!text) return null;
    return {
      pos: node.from, end: node.to, above: true,
      create() {
        const dom = document.createElement('div');
        dom.className = 'cm-schema-hover';
        dom.setAttribute('role', 'tooltip');
        const b = document.createElement('strong');
        b.textContent = key;
        dom.append(b, document.createTextNode(`: ${text}`));
        return { dom };
      },
    };
  });
}

/** The description of what a path names, from the schema (or the condition language). */
export function describePath(path, doc) {
  const parent = locate(path.slice(0, -1));
  const key = path[path.length - 1];
  if (parent.condition === 'keys' || parent.condition === 'root') {
    if (LOGIC[key]) return LOGIC[key];
    if (doc.signals && Object.prototype.hasOwnProperty.call(doc.signals, key)) return `signal: ${describeSignal(doc.signals[key], doc)}`;
    if (ATTRIBUTES[key]) return ATTRIBUTES[key].about;
    if (String(key).startsWith('counters.')) return `today’s count of ${String(key).slice(9)} (approximate)`;
    return 'not a known attribute or signal';
  }
  if (parent.condition === 'test' || parent.condition === 'ops') return OPERATORS[key]?.label || (key === '$not' ? 'the test inside fails' : key === '$elemMatch' ? 'some item matches' : '');
  for (const s of parent.schemas || []) {
    for (const a of alternatives(s)) {
      const p = a.properties?.[key];
      if (p) return deref(p).description || '';
      if (a.additionalProperties && typeof a.additionalProperties === 'object') {
        const d = deref(a.additionalProperties);
        return `${d.title || d.description || ''}`.split('\n')[0];
      }
    }
  }
  return '';
}

/** Adds completion, hover and a change listener to the rules editor (no change to editor.js). */
export function installSchemaHelp(editor, getDoc, onDocChanged) {
  // One source, created once: the completion plugin tells sources apart by identity.
  const data = [{ autocomplete: schemaCompletion(getDoc) }];
  editor.view.dispatch({
    effects: StateEffect.appendConfig.of([
      EditorState.languageData.of(() => data),
      schemaHover(getDoc),
      EditorView.updateListener.of((u) => { if (u.docChanged) onDocChanged?.(); }),
    ]),
  });
}
