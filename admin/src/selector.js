// Robust selectors for "Pick on page" (README, "Picking blocks on the page"). Pure: no DOM.
//
// The picker in the framed page describes the clicked element as its ancestor chain
// (describeNode's shape, root first): tag, id, classes, a few attributes, and its place among
// siblings of its type. From that this module proposes selectors, most robust first:
//   1. a unique id that does not look generated,
//   2. stable data attributes (data-testid, data-product-title...), name/itemprop/role,
//   3. a stable class combination (never hashed names: css-1x2y3z, sc-aXZVg, _3kF9a,
//      Button_root__a1B2c, Tailwind arbitrary values like w-[90px] or md:px-4...),
//   4. the element's tag under the nearest ancestor with one of the above,
//   5. a short structural path (tag > tag:nth-of-type(n)).
// Which of them really fits is decided against pages as the Worker serves them (the admin
// page counts each candidate's matches there): `choose` takes those counts.
//
// Decision: only what lol_html supports in the Worker is generated (type, #id, .class,
// [attr], [attr="v"], descendant and child combinators, :nth-of-type), so a proposal never
// fails the save's selector check.

/** Class names and ids that a build tool or framework generated, so change between builds. */
export function looksGenerated(name) {
  if (typeof name !== 'string' || !name) return true;
  if (name.length > 48) return true;
  // Tailwind variants and arbitrary values, escaped characters: w-[90px], md:px-4, w-1/2, !mt-0.
  if (/[[\]:/!@%#(){}=,.'"\\]/.test(name)) return true;
  // styled-components, styled-jsx, svelte and astro scopes are always hashes; emotion and
  // JSS ones when they carry a digit or capital (css-1x2y3z; css-truncate stays); so are
  // react-native-web's atomic classes (r-bcqeeo).
  if (/^(sc|jsx|svelte|astro|emotion|jss|makeStyles)-./.test(name)) return true;
  if (/^(css|tw)-[A-Za-z0-9_-]*[0-9A-Z]/.test(name)) return true;
  if (/^r-[a-z0-9]{6,}$/.test(name)) return true;
  // CSS modules: _3kF9a, Button_root__a1B2c, button-module__primary___2Xy9z.
  if (/^_[A-Za-z0-9_-]{3,}$/.test(name)) return true;
  if (/__[A-Za-z0-9_-]{5}$/.test(name) && /_/.test(name.slice(0, -7))) return true;
  if (/___[A-Za-z0-9]{4,}$/.test(name)) return true;
  // Long runs of digits: section ids (template--15328405717213__main), timestamps, uuids.
  if (/\d{4,}/.test(name)) return true;
  if (/[0-9a-f]{8}-[0-9a-f]{4}-/i.test(name)) return true;
  // Framework ids: ember123, :r1: (caught above), headlessui-menu-1, radix-..., mui-12.
  if (/^(ember|headlessui|radix|mui|react-aria|rc[-_]|yui_|ext-gen|gwt-)/i.test(name)) return true;
  // A hash-looking part: five or more letters and digits mixed, with two digits or more
  // (1x2y3z, a8f3k2), or mixed case with a digit (aXZV9g).
  for (const part of name.split(/[-_]+/)) {
    if (part.length < 5) continue;
    const digits = (part.match(/\d/g) || []).length;
    const letters = (part.match(/[A-Za-z]/g) || []).length;
    if (digits >= 2 && letters >= 2) return true;
    if (digits >= 1 && /[a-z][A-Z]|[A-Z]{2}[a-z]/.test(part)) return true;
  }
  return false;
}

/** Attributes worth anchoring on besides data-*, in order of preference. */
const NAMED_ATTRS = ['itemprop', 'name', 'role', 'for', 'aria-labelledby'];
/** data-* attributes that frameworks and trackers write, never the site's own meaning. */
const VOLATILE_DATA = /^data-(v-[0-9a-f]+|reactid|reactroot|react-.*|emotion|styled.*|n-head|server-rendered|hk|astro-.*|svelte-.*|turbo.*|gtm.*|ga.*|analytics.*|track.*|sentry.*|edgeseg-track|state|loading|loaded|active|open|selected|index|position|media-position|id|key|src|srcset|sizes|width|height|aspect.*)$/;

/** CSS identifier escape (CSS.escape's rules, for the characters an id or class can hold). */
export function cssEscape(s) {
  const text = String(s);
  const lead = /^-?\d/.exec(text);
  const rest = (t) => t.replace(/[^A-Za-z0-9_\u00a0-\uffff-]/g, (c) => `\\${c}`);
  if (!lead) return rest(text);
  const dash = lead[0].length === 2 ? '-' : '';
  return `${dash}\\3${text[dash.length]} ${rest(text.slice(dash.length + 1))}`;
}

/** An attribute value in double quotes. */
function quoted(v) {
  return `"${String(v).replace(/["\\]/g, (c) => `\\${c}`).replace(/\n/g, '\\a ')}"`;
}

/** The stable parts of one node: its id, attribute selectors and classes (generated ones left out). */
export function stableParts(node) {
  const id = node.id && !looksGenerated(node.id) ? `#${cssEscape(node.id)}` : null;
  const attrs = [];
  for (const [name, value] of Object.entries(node.attrs || {})) {
    if (!/^[a-z][a-z0-9_-]*$/.test(name)) continue;
    const data = name.startsWith('data-');
    if (data && VOLATILE_DATA.test(name)) continue;
    if (!data && !NAMED_ATTRS.includes(name)) continue;
    const v = String(value ?? '');
    // A value that is long, a number or looks generated names one element on one page:
    // the attribute alone is kept (it may fit every page of the kind).
    const valueStable = v && v.length <= 40 && !/^\d+$/.test(v) && !looksGenerated(v.replace(/\s+/g, '-'));
    attrs.push({ name, data, presence: `[${name}]`, exact: valueStable ? `[${name}=${quoted(v)}]` : null });
  }
  attrs.sort((a, b) => (b.data - a.data) || (NAMED_ATTRS.indexOf(a.name) - NAMED_ATTRS.indexOf(b.name)));
  const classes = (node.classes || []).filter((c) => !looksGenerated(c)).map((c) => `.${cssEscape(c)}`);
  return { id, attrs, classes };
}

/** The ways one node can be named alone, most robust first. */
function ownSelectors(node) {
  const tag = node.tag;
  const { id, attrs, classes } = stableParts(node);
  const out = [];
  if (id) out.push({ sel: id, kind: 'id' });
  for (const a of attrs) {
    if (a.exact) out.push({ sel: `${tag}${a.exact}`, kind: a.data ? 'data' : 'attr' });
    out.push({ sel: `${tag}${a.presence}`, kind: a.data ? 'data' : 'attr' });
  }
  for (const c of classes.slice(0, 4)) out.push({ sel: `${tag}${c}`, kind: 'class' });
  for (let i = 0; i < Math.min(classes.length, 4); i++) {
    for (let j = i + 1; j < Math.min(classes.length, 4); j++) out.push({ sel: `${tag}${classes[i]}${classes[j]}`, kind: 'class' });
  }
  return out;
}

/**
 * Candidate selectors for the last node of `path` (root first), most robust first, each
 * { sel, kind } with kind id | data | attr | class | anchored | path. No duplicates.
 */
export function candidates(path) {
  if (!Array.isArray(path) || !path.length) return [];
  const target = path[path.length - 1];
  const out = [];
  const seen = new Set();
  const add = (sel, kind) => { if (!seen.has(sel)) { seen.add(sel); out.push({ sel, kind }); } };
  for (const c of ownSelectors(target)) add(c.sel, c.kind);
  // The target by its tag (and its own best class, if any) under each ancestor that can be
  // named, nearest first: `.product-info > h1`, `.product-info h1`, `#main h1`.
  const own = [target.tag, ...ownSelectors(target).filter((c) => c.kind === 'class').map((c) => c.sel)].slice(0, 2);
  const nth = target.ofType > 1 ? `${target.tag}:nth-of-type(${target.nth})` : null;
  for (let i = path.length - 2, depth = 1; i >= 0 && depth <= 4; i--, depth++) {
    const anchors = ownSelectors(path[i]).slice(0, 3);
    for (const a of anchors) {
      for (const t of own) {
        if (depth === 1) add(`${a.sel} > ${t}`, 'anchored');
        add(`${a.sel} ${t}`, 'anchored');
      }
      if (depth === 1 && nth) add(`${a.sel} > ${nth}`, 'anchored');
    }
  }
  // A short structural path from the nearest ancestor that can be named (or the body).
  const steps = [];
  for (let i = path.length - 1; i >= 0 && steps.length < 4; i--) {
    const n = path[i];
    if (n.tag === 'body' || n.tag === 'html') break;
    const anchor = i < path.length - 1 ? ownSelectors(n)[0] : null;
    if (anchor) { steps.unshift(anchor.sel); break; }
    steps.unshift(n.ofType > 1 ? `${n.tag}:nth-of-type(${n.nth})` : n.tag);
  }
  if (steps.length) add(steps.join(' > '), 'path');
  // The tag alone: the widest step of the ladder.
  add(target.tag, 'tag');
  return out;
}

/**
 * Picks the proposal from candidates and their match counts: counts.here[i] on the picked
 * page (where 1 means the picked element alone, as the caller checked), counts.others[i]
 * an array with one count per other page of the same kind. The first candidate (most
 * robust) that matches exactly once here and exactly once on every other page wins; else
 * the first that matches once here. Returns its index, or -1.
 */
export function choose(list, counts) {
  const here = counts?.here || [];
  const others = counts?.others || [];
  const onceHere = (i) => here[i] === 1;
  const onceEverywhere = (i) => onceHere(i) && (others[i] || []).every((n) => n === 1);
  for (let i = 0; i < list.length; i++) if (onceEverywhere(i)) return i;
  for (let i = 0; i < list.length; i++) if (onceHere(i)) return i;
  return -1;
}

/** How constrained a selector is: its compound parts plus its ids, classes and attributes. */
export function specificity(sel) {
  return sel.split(/\s*>\s*|\s+/).filter(Boolean).length + (sel.match(/[#.[]/g) || []).length;
}

/**
 * The widen/narrow ladder: candidate indexes from widest to narrowest: most matches on this
 * page and the other pages first, then the least constrained; candidates matching nothing
 * here are left out. Ties keep the robustness order.
 */
export function ladder(list, counts) {
  const total = (i) => (counts?.here?.[i] ?? 0) * 1000 + (counts?.others?.[i] || []).reduce((a, b) => a + b, 0);
  return list.map((_, i) => i).filter((i) => (counts?.here?.[i] ?? 0) > 0)
    .sort((a, b) => (total(b) - total(a)) || (specificity(list[a].sel) - specificity(list[b].sel)) || (a - b));
}

/** Pages "of the same kind" as `path` among `hrefs`: same first segment and depth, not itself. */
export function samePagesOfKind(path, hrefs, max = 3) {
  const parts = (p) => p.split(/[?#]/)[0].split('/').filter(Boolean);
  const mine = parts(path);
  const out = [];
  for (const href of hrefs) {
    if (typeof href !== 'string' || !href.startsWith('/') || href.startsWith('//')) continue;
    const clean = href.split(/[?#]/)[0];
    const p = parts(clean);
    if (clean === path.split(/[?#]/)[0] || out.includes(clean)) continue;
    if (p.length === mine.length && p.length > 0 && (mine.length === 1 || p[0] === mine[0])) out.push(clean);
    if (out.length >= max) break;
  }
  return out;
}
