// The signal forms without a browser (admin/src/signal-forms.js): each kind's form <-> JSON,
// its checks, and the round trip form -> JSON -> form over every signal, segment and block
// content of every example and fixture rules file (tests/fixtures/rules/** included, invalid
// ones too: the forms must never change what they do not show, however it is written).
// Run: node --test tests/admin-unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  signalFields, applySignalFields, signalVocabulary, signalKind, parseModel, patternError,
  propertySuggestions, modelSummary, valueWarning, SIGNAL_KINDS,
} from '../../admin/src/signal-forms.js';
import { segmentFields, applySegmentFields, contentFields, applyContentFields } from '../../admin/src/forms.js';
import { fromCondition, toCondition } from '../../admin/src/conditions.js';
import { describeSignal, describeCondition, signalsUsed } from '../../admin/src/sentences.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

async function jsonFiles(dir) {
  const out = [];
  for (const e of (await readdir(join(ROOT, dir), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.isDirectory()) out.push(...await jsonFiles(join(dir, e.name)));
    else if (e.name.endsWith('.json')) out.push(join(dir, e.name));
  }
  return out;
}
const files = [...await jsonFiles('examples'), ...await jsonFiles(join('tests', 'fixtures', 'rules'))];

const doc = JSON.parse(await readFile(join(ROOT, 'examples', 'rules.json'), 'utf8'));
const known = (name) => signalVocabulary(doc, name);
/** Applies changed fields to a signal: { value, errors }. */
const edit = (spec, change, name = 'x') => applySignalFields(spec, { ...signalFields(spec), ...change }, known(name));

test('every kind of the Rust SignalSpec has a form, and the Kind picker lists them', async () => {
  const rs = await readFile(join(ROOT, 'src', 'document.rs'), 'utf8');
  const kinds = /told apart by their first key\n\/\/\/ \(([^)]*)\)/.exec(rs)[1].match(/`([a-z]+)`/g).map((s) => s.slice(1, -1));
  assert.deepEqual([...kinds].sort(), Object.keys(SIGNAL_KINDS).sort());
});

test('sum and max: event, property, window, pages; the property is required', () => {
  const spend = doc.signals.spend_90d;
  const f = signalFields(spend);
  assert.deepEqual(f, { kind: 'sum', json: JSON.stringify(spend, null, 2), event: 'purchase', property: 'value', within: '90d', path: '' });
  assert.deepEqual(edit(spend, { within: '30d', path: '/checkout/*' }).value, { sum: 'purchase', property: 'value', within: '30d', path: '/checkout/*' });
  const bad = edit(spend, { property: ' ', event: 'purchse', within: '3 months', path: 'checkout' });
  assert.deepEqual(Object.keys(bad.errors).sort(), ['event', 'path', 'property', 'within']);
  assert.match(bad.errors.property, /name the event property that holds the amount/);
  assert.match(bad.errors.event, /“purchse” is not a declared event/);
  assert.match(bad.errors.path, /starts with “\/”/);
  const big = { max: 'purchase', property: 'value', within: '90d', path: null };
  assert.deepEqual(signalFields(big).path, '');
  assert.equal(JSON.stringify(edit(big, {}).value), JSON.stringify(big), 'an explicit null stays');
  assert.deepEqual(edit(big, { property: 'total' }).value, { max: 'purchase', property: 'total', within: '90d', path: null });
  // A new one from the Kind picker: the kind's key first.
  assert.deepEqual(Object.keys(applySignalFields({ count: 'page_view', within: '1h' }, { kind: 'max', event: 'purchase', property: 'value', within: '1h', path: '' }, known('x')).value), ['max', 'property', 'within']);
  assert.equal(describeSignal(spend), 'the total “value” of “purchase” events in the last 90 days (refunds count against it)');
  assert.equal(describeCondition({ spend_90d: { $gte: 500 } }, doc), 'the total “value” of “purchase” events in the last 90 days is at least 500');
});

test('a sum or max over an event the browser may send says so (it still saves)', () => {
  assert.equal(valueWarning(doc, 'purchase'), '', 'purchase comes from the server');
  assert.match(valueWarning(doc, 'add_to_cart'), /“add_to_cart” may come from the browser, where anyone can send any amount/);
  assert.match(valueWarning({ events: { order: { source: 'any' } } }, 'order'), /may come from the browser/);
  assert.match(valueWarning(doc, 'page_view'), /Page views carry no amounts/);
  assert.equal(valueWarning(doc, 'not_declared'), '', 'its error says enough');
});

test('the property picker offers what the event declares and what other signals read', () => {
  assert.deepEqual(propertySuggestions(doc, 'purchase'), ['value']);
  assert.deepEqual(propertySuggestions(doc, 'add_to_cart'), ['category']);
  assert.deepEqual(propertySuggestions(doc, 'request_demo'), []);
});

test('engaged and scroll: pages matching, window, unit', () => {
  const eng = doc.signals.product_engaged_minutes_7d;
  assert.deepEqual(signalFields(eng), { kind: 'engaged', json: JSON.stringify(eng, null, 2), pages: '/products/*', within: '7d', unit: 'minutes' });
  assert.deepEqual(edit(eng, { unit: '', pages: '/blog/*' }).value, { engaged: '/blog/*', within: '7d' });
  assert.match(edit(eng, { pages: '' }).errors.pages, /name the pages/);
  const sc = doc.signals.product_scroll_7d;
  assert.deepEqual(signalFields(sc), { kind: 'scroll', json: JSON.stringify(sc, null, 2), pages: '/products/*', within: '7d' });
  assert.deepEqual(edit(sc, { within: '1d' }).value, { scroll: '/products/*', within: '1d' });
  assert.match(edit(sc, { within: '0.5d' }).errors.within, /not a duration/);
  assert.equal(describeCondition({ product_scroll_7d: { $gte: 50 } }, doc), 'scrolled at least 50 % down pages under /products/ in the last 7 days');
  assert.equal(describeCondition({ product_engaged_minutes_7d: { $gt: 3 } }, doc), 'read pages under /products/ for more than 3 minutes in the last 7 days');
});

test('affinity: sources from a path pattern or an event property, weights, half-life, keep', () => {
  const aff = doc.signals.top_interest;
  const f = signalFields(aff);
  assert.deepEqual(f.sources, [
    { from: 'path', event: '', path: '/category/{name}', property: '', weight: '' },
    { from: 'property', event: 'add_to_cart', path: '', property: 'category', weight: '3' },
  ]);
  assert.deepEqual([f.half_life, f.keep], ['14d', '5']);
  // A third source, from the property of purchases, weighing 5.
  const three = edit(aff, { sources: [...f.sources, { from: 'property', event: 'purchase', path: '', property: 'category', weight: '5' }] });
  assert.deepEqual(three.errors, {});
  assert.deepEqual(three.value.affinity[2], { event: 'purchase', property: 'category', weight: 5 });
  // Switching a source from path to property drops the path, and says what is missing.
  const switched = edit(aff, { sources: [{ ...f.sources[0], from: 'property' }, f.sources[1]] });
  assert.deepEqual(switched.value.affinity[0], {});
  assert.match(switched.errors['sources.0.property'], /name the event property that holds the category/);
  // The Worker's pattern rules, at the field.
  const bad = edit(aff, { sources: [{ ...f.sources[0], path: '/category/*' }, { ...f.sources[1], weight: '0', event: 'add_to_kart' }], half_life: '0d', keep: '17' });
  assert.match(bad.errors['sources.0.path'], /exactly one \{capture\}.*it has 0/);
  assert.match(bad.errors['sources.1.weight'], /above 0/);
  assert.match(bad.errors['sources.1.event'], /not a declared event/);
  assert.match(bad.errors.half_life, /longer than 0s/);
  assert.match(bad.errors.keep, /1 to 16/);
  assert.equal(patternError('/shop/{name}/*'), '');
  assert.match(patternError('/shop/{name'), /not closed/);
  assert.match(patternError('shop/{name}'), /must start with/);
  assert.match(patternError('/{a}/{b}'), /it has 2/);
  // Empty half-life and keep: their defaults, the keys absent.
  assert.deepEqual(edit(aff, { half_life: '', keep: '' }).value, { affinity: aff.affinity });
  assert.match(edit(aff, { sources: [] }).errors.sources, /at least one source/);
  assert.equal(describeCondition({ top_interest: 'footwear' }, doc), 'is most interested in “footwear”');
});

test('share: of which affinity, picked among the affinity signals only', () => {
  const sh = doc.signals.interest_share;
  assert.deepEqual(signalFields(sh), { kind: 'share', json: JSON.stringify(sh, null, 2), of: 'top_interest' });
  assert.deepEqual(known('interest_share').affinities, ['top_interest']);
  assert.match(edit(sh, { of: 'spend_90d' }, 'interest_share').errors.of, /“spend_90d” is not an affinity signal/);
  assert.match(edit(sh, { of: 'nope' }, 'interest_share').errors.of, /not a declared signal/);
  assert.match(edit(sh, { of: '' }, 'interest_share').errors.of, /pick an affinity signal/);
  assert.equal(describeCondition({ interest_share: { $gte: 0.6 } }, doc), 'their top interest holds at least 60 % of their interest (“top_interest”)');
  assert.deepEqual(signalsUsed({ interest_share: { $gte: 0.5 } }, doc), ['interest_share', 'top_interest'], 'a segment card names the affinity too');
});

const full = JSON.parse(await readFile(join(ROOT, 'tests', 'fixtures', 'rules', 'valid', 'full.json'), 'utf8'));

test('cluster and trees: shown with their inputs, unchanged unless a model is pasted', () => {
  const cl = full.signals.behaviour;
  const f = signalFields(cl);
  assert.deepEqual([f.kind, f.inputs, f.model], ['cluster', ['product_views_1h', 'engagement_7d'], '']);
  assert.equal(JSON.stringify(applySignalFields(cl, f, signalVocabulary(full, 'behaviour')).value), JSON.stringify(cl), 'nothing written');
  assert.deepEqual(modelSummary(cl), { kind: 'cluster', inputs: ['product_views_1h', 'engagement_7d'], scale: [2.5, 12], clusters: [{ name: 'browsing', values: [1, 4] }, { name: 'engaged', values: [6, 30] }] });
  assert.deepEqual(modelSummary(full.signals.buyer_trees), { kind: 'trees', inputs: ['product_views_1h', 'engagement_7d'], base: -2, trees: 1, nodes: 5, splits: [2, 0] });
});

test('paste a trained model: the block edgeseg train prints, checked before it goes in', () => {
  const k = signalVocabulary(full, 'buyer_trees');
  // What `edgeseg train trees` prints (src/learn/report.rs, paste_section + signal_block).
  const printed = 'Paste into the rules\' "signals" (admin page: Rules, then save with a message):\n{\n  "buyer": {\n    "trees": ["product_views_1h","engagement_7d"],\n    "base": -1.07,\n    "ensemble": [\n      [[1,2.5,1,2],[-0.07],[0.13]],\n      [[0,3,1,2],[0.02],[0.2]]\n    ]\n  }\n}\n';
  const r = applySignalFields(full.signals.buyer_trees, { kind: 'trees', inputs: [], model: printed }, k);
  assert.deepEqual(r.errors, {});
  assert.equal(r.name, 'buyer');
  assert.deepEqual(r.value, { trees: ['product_views_1h', 'engagement_7d'], base: -1.07, ensemble: [[[1, 2.5, 1, 2], [-0.07], [0.13]], [[0, 3, 1, 2], [0.02], [0.2]]] });
  // The signal alone works too, and a cluster may replace a trees model.
  const cl = parseModel(JSON.stringify(full.signals.behaviour), k);
  assert.deepEqual([cl.name, cl.value], [null, full.signals.behaviour]);
  const refused = [
    ['{"m": {"trees": [}', /not JSON/],
    ['nothing pasted', /paste the block edgeseg train prints/],
    ['{"x": {"count": "page_view", "within": "1h"}}', /not a trained model/],
    ['{"m": {"cluster": ["product_views_1h"], "scale": [0], "centroids": [[1], [2, 3]]}}', /scale\[0\]: a scale must be above 0.*centroids\[1\]: expected one value per input \(1\), got 2/],
    ['{"m": {"cluster": ["nope"], "scale": [1], "centroids": [[1]]}}', /“nope” is not a declared signal/],
    ['{"m": {"trees": ["behaviour"], "ensemble": [[[0.5]]]}}', /“behaviour” is a model or an interest/],
    ['{"m": {"trees": ["product_views_1h"], "ensemble": [[[0, 1, 0, 1], [0.1]]]}}', /ensemble\[0\]\[0\]: children must be later nodes/],
    ['{"m": {"trees": ["product_views_1h"], "ensemble": [[[3, 1, 1, 2], [0.1], [0.2]]]}}', /the input 3 is not a position/],
    ['{"m": {"trees": ["product_views_1h"], "ensemble": [], "depth": 3}}', /“depth” is not part of a trees model.*1 to 500 trees, got 0/],
    ['{"m": {"cluster": ["product_views_1h"], "scale": [1], "centroids": [[1], [2]], "names": ["a", "a"]}}', /the name “a” is used twice/],
    ['{"bad name": {"trees": ["product_views_1h"], "ensemble": [[[0.1]]]}}', /not a signal name/],
  ];
  for (const [text, why] of refused) {
    const out = applySignalFields(full.signals.buyer_trees, { kind: 'trees', inputs: [], model: text }, k);
    assert.match(out.errors.model || '', why, text);
    assert.deepEqual(out.value, full.signals.buyer_trees, `${text}: the model stays as it was`);
  }
});

test('a form shows what it can and keeps the rest: wrong types stay, with their error; other shapes are JSON', () => {
  // A number where a duration belongs: the count form, the 10 kept, the error shown.
  const s = { count: 'page_view', within: 10 };
  const f = signalFields(s);
  assert.equal(f.kind, 'count');
  const r = applySignalFields(s, f, known('x'));
  assert.equal(r.value.within, 10);
  assert.match(r.errors.within, /“10” is not a duration/);
  // Two kinds in one object, or an affinity source with a path and a property: JSON.
  assert.equal(signalKind({ since: 'a', count: 'b' }), null);
  assert.match(signalFields({ since: 'a', count: 'b' }).why, /two kinds/);
  const both = { affinity: [{ path: '/c/{name}', property: 'x' }] };
  assert.equal(signalFields(both).kind, 'json');
  assert.match(signalFields(both).why, /affinity form cannot show it/);
});

/** Each signal, segment and block content of a document through its form and back. */
function roundTrip(file, d) {
  const stats = { forms: 0, json: 0 };
  if (isObj(d.signals)) {
    for (const [name, spec] of Object.entries(d.signals)) {
      const f = signalFields(spec);
      stats[f.kind === 'json' ? 'json' : 'forms']++;
      const { value } = applySignalFields(spec, f, signalVocabulary(d, name));
      assert.equal(JSON.stringify(value), JSON.stringify(spec), `${file} signals.${name}: JSON -> form -> JSON`);
      assert.deepEqual(signalFields(value), f, `${file} signals.${name}: form -> JSON -> form`);
    }
  }
  if (Array.isArray(d.segments)) {
    d.segments.forEach((seg, i) => {
      if (!isObj(seg)) return;
      const f = segmentFields(seg);
      const others = d.segments.filter((_, j) => j !== i).map((s) => s?.id);
      const { value } = applySegmentFields(seg, f, others);
      if (Object.prototype.hasOwnProperty.call(seg, 'condition')) value.condition = toCondition(fromCondition(seg.condition));
      assert.equal(JSON.stringify(value), JSON.stringify(seg), `${file} segments[${i}]: JSON -> form -> JSON`);
      assert.deepEqual(segmentFields(value), f, `${file} segments[${i}]: form -> JSON -> form`);
    });
  }
  if (isObj(d.blocks)) {
    for (const [b, block] of Object.entries(d.blocks)) {
      if (!isObj(block) || !isObj(block.content)) continue;
      for (const [seg, c] of Object.entries(block.content)) {
        if (!isObj(c)) continue; // the builder edits other shapes as JSON
        const f = contentFields(c);
        const { value } = applyContentFields(c, f);
        assert.equal(JSON.stringify(value), JSON.stringify(c), `${file} blocks.${b}.content.${seg}: JSON -> form -> JSON`);
        assert.deepEqual(contentFields(value), f, `${file} blocks.${b}.content.${seg}: form -> JSON -> form`);
      }
    }
  }
  return stats;
}

test('there are example and fixture rules files, valid and invalid', () => {
  assert.ok(files.some((f) => f.includes('invalid')) && files.some((f) => f.includes('semantic')) && files.length > 50, files.join(', '));
});

for (const file of files) {
  test(`round trip form -> JSON -> form, every signal, segment and content: ${file}`, async () => {
    let d;
    try { d = JSON.parse(await readFile(join(ROOT, file), 'utf8')); } catch { return; } // not JSON: the builder does not open it
    if (!isObj(d)) return;
    const stats = roundTrip(file, d);
    // Examples and valid files: every signal in its own form, without an error.
    if (file.startsWith('examples') || file.includes(`${join('rules', 'valid')}`)) {
      assert.equal(stats.json, 0, `${file}: every signal has its form`);
      for (const [name, spec] of Object.entries(d.signals || {})) assert.deepEqual(applySignalFields(spec, signalFields(spec), signalVocabulary(d, name)).errors, {}, `${file} signals.${name}`);
    }
  });
}

test('invalid fixtures: most wrongly written signals still get their form (with errors), few fall back to JSON', async () => {
  let forms = 0;
  let json = 0;
  for (const file of files.filter((f) => /invalid|semantic/.test(f))) {
    let d;
    try { d = JSON.parse(await readFile(join(ROOT, file), 'utf8')); } catch { continue; }
    if (!isObj(d) || !isObj(d.signals)) continue;
    for (const s of Object.values(d.signals)) if (signalFields(s).kind === 'json') json++; else forms++;
  }
  assert.ok(forms > 3 * json, `${forms} forms, ${json} JSON`);
});
