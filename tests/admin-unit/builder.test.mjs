// The admin page's builder, without a browser: every example rules file (examples/*.json,
// tests/fixtures/rules/valid/*.json) goes builder -> JSON -> builder and comes back
// identical: conditions as rows and groups, every row's value through the text its input
// shows, segment, signal and content forms through their fields, and the document through
// the text the builder writes into the editor. GrowthBook's own condition test cases go
// through the rows too. Run: node --test tests/admin-unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromCondition, toCondition, inputKind, formatValue, parseValue, durationError } from '../../admin/src/conditions.js';
import { segmentFields, applySegmentFields, contentFields, applyContentFields } from '../../admin/src/forms.js';
import { signalFields, applySignalFields, signalVocabulary } from '../../admin/src/signal-forms.js';
import { describeCondition, describeSignal, attributeType, ATTRIBUTES, signalsUsed } from '../../admin/src/sentences.js';
import { serialize, parseDoc } from '../../admin/src/document.js';
import { renderTemplate, contentPreviewHtml } from '../../admin/src/preview.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const files = [];
for (const dir of ['examples', join('tests', 'fixtures', 'rules', 'valid')]) {
  for (const f of (await readdir(join(ROOT, dir))).sort()) if (f.endsWith('.json')) files.push(join(dir, f));
}

/** Every row of a builder tree. */
function rowsOf(item, out = []) {
  if (item.kind === 'row') out.push(item);
  if (item.kind === 'group') item.items.forEach((i) => rowsOf(i, out));
  return out;
}

/** The builder's whole view of a document: what each form and row would show. */
function builderView(doc) {
  return {
    segments: (doc.segments || []).map((s) => ({ fields: segmentFields(s), tree: fromCondition(s.condition) })),
    signals: Object.entries(doc.signals || {}).map(([n, s]) => [n, signalFields(s)]),
    content: Object.entries(doc.blocks || {}).map(([b, block]) => [b, Object.entries(block.content || {}).map(([seg, c]) => [seg, contentFields(c)])]),
  };
}

test('there are example rules files to check', () => {
  assert.ok(files.length >= 5, files.join(', '));
});

for (const file of files) {
  test(`round trip builder -> JSON -> builder: ${file}`, async () => {
    const text = await readFile(join(ROOT, file), 'utf8');
    const doc = JSON.parse(text);
    // The builder writes what its forms and rows read back, unchanged, for every part.
    const written = structuredClone(doc);
    (written.segments || []).forEach((seg, i) => {
      const tree = fromCondition(seg.condition);
      for (const r of rowsOf(tree)) {
        const kind = inputKind(r.op, r.value, attributeType(r.attr, doc));
        const back = parseValue(kind, formatValue(kind, r.value));
        assert.deepEqual(back.value, r.value, `${file} segments[${i}] row ${r.attr} ${r.op}: ${kind} input`);
      }
      const others = doc.segments.filter((_, j) => j !== i).map((s) => s.id);
      const { value, errors } = applySegmentFields(seg, segmentFields(seg), others);
      assert.deepEqual(errors, {}, `${file} segments[${i}] fields`);
      value.condition = toCondition(tree);
      written.segments[i] = value;
    });
    for (const [name, spec] of Object.entries(doc.signals || {})) {
      const fields = signalFields(spec);
      assert.notEqual(fields.kind, 'json', `${file} signals.${name}: every kind has a form`);
      const { value, errors } = applySignalFields(spec, fields, signalVocabulary(doc, name));
      assert.deepEqual(errors, {}, `${file} signals.${name}`);
      written.signals[name] = value;
    }
    for (const [b, block] of Object.entries(doc.blocks || {})) {
      for (const [seg, c] of Object.entries(block.content || {})) {
        const { value } = applyContentFields(c, contentFields(c));
        written.blocks[b].content[seg] = value;
      }
    }
    assert.deepEqual(written, doc, 'the document the builder writes is the one it read');
    assert.equal(JSON.stringify(written), JSON.stringify(doc), 'key order too');
    // ... and through the editor's text, the builder sees the same again.
    const again = parseDoc(serialize(written));
    assert.equal(again.error, null);
    assert.deepEqual(builderView(again.doc), builderView(doc));
    // Each segment reads as a sentence, each signal as what it measures.
    for (const s of doc.segments || []) assert.ok(describeCondition(s.condition, doc).length > 0);
    for (const s of Object.values(doc.signals || {})) assert.doesNotMatch(describeSignal(s, doc), /cannot describe/);
  });
}

test('GrowthBook condition test cases go through rows and groups unchanged', async () => {
  const cases = JSON.parse(await readFile(join(ROOT, 'tests', 'fixtures', 'growthbook', 'cases.json'), 'utf8')).evalCondition;
  assert.ok(cases.length > 100);
  for (const [name, cond] of cases) {
    const back = toCondition(fromCondition(cond));
    assert.deepEqual(back, cond, name);
    assert.equal(JSON.stringify(back), JSON.stringify(cond), `${name}: key order`);
  }
});

test('what rows cannot say stays as raw JSON in the tree', () => {
  const cond = { device: { $not: { $eq: 'bot' } }, segments: { $elemMatch: { $eq: 'vip' } }, country: { $in: ['DE'] } };
  const tree = fromCondition(cond);
  assert.deepEqual(tree.items.map((i) => i.kind), ['raw', 'raw', 'row']);
  assert.deepEqual(tree.items[0].json, { device: { $not: { $eq: 'bot' } } });
  assert.deepEqual(toCondition(tree), cond);
});

test('rows the builder adds are merged per attribute; clashes become an $and list', () => {
  const tree = fromCondition({});
  tree.items.push({ kind: 'row', attr: 'hour', op: '$gte', value: 9, bare: false });
  tree.items.push({ kind: 'row', attr: 'hour', op: '$lt', value: 17, bare: false });
  assert.deepEqual(toCondition(tree), { hour: { $gte: 9, $lt: 17 } });
  tree.items.push({ kind: 'row', attr: 'hour', op: '$lt', value: 12, bare: false });
  assert.deepEqual(toCondition(tree), { $and: [{ hour: { $gte: 9 } }, { hour: { $lt: 17 } }, { hour: { $lt: 12 } }] });
  const any = { kind: 'group', mode: 'any', form: 'list', items: [{ kind: 'row', attr: 'country', op: '$eq', value: 'DE', bare: true }, { kind: 'row', attr: 'language', op: '$eq', value: 'de', bare: false }] };
  assert.deepEqual(toCondition(any), { $or: [{ country: 'DE' }, { language: { $eq: 'de' } }] });
});

test('inputs that fit the type: numbers, lists, durations, with an error for what does not fit', () => {
  assert.deepEqual(parseValue('number', '3'), { value: 3 });
  assert.match(parseValue('number', 'three').error, /not a number/);
  assert.equal(parseValue('number', 'three').value, 'three', 'the JSON shows what was typed');
  assert.deepEqual(parseValue('list', 'DE, AT ,CH').value, ['DE', 'AT', 'CH']);
  assert.deepEqual(parseValue('numlist', '1, 2').value, [1, 2]);
  assert.equal(inputKind('$gte', 3, 'number'), 'number');
  assert.equal(inputKind('$in', ['a,b'], 'string'), 'json', 'a comma inside an item: edited as JSON');
  assert.equal(durationError('10m'), '');
  assert.match(durationError('10 minutes'), /not a duration/);
  assert.match(durationError('401d'), /400 days/);
});

test('form checks: ids, priorities, durations, declared events', () => {
  const seg = { id: 'a', condition: {} };
  const bad = applySegmentFields(seg, { ...segmentFields(seg), id: 'has space', priority: 'high', hold_for: '5 min' }, []);
  assert.deepEqual(Object.keys(bad.errors).sort(), ['hold_for', 'id', 'priority']);
  assert.equal(bad.value.priority, 'high');
  assert.match(applySegmentFields(seg, segmentFields(seg), ['a']).errors.id, /another segment/);
  const sig = applySignalFields({}, { kind: 'count', event: 'add_to_kart', within: '10m', path: '', props: '' }, { events: ['page_view', 'add_to_cart'], signals: [] });
  assert.match(sig.errors.event, /not a declared event/);
  assert.deepEqual(Object.keys(sig.value), ['count', 'within']);
});

test('sentences: the issue’s example reads as a marketer would say it', () => {
  const doc = { signals: { views: { count: 'page_view', path: '/products/*', within: '10m' }, since_purchase: { since: 'purchase' } } };
  assert.equal(describeCondition({ views: { $gte: 3 }, since_purchase: { $exists: false } }, doc),
    'viewed pages under /products/ at least 3 times in the last 10 minutes, and has not done “purchase”');
  assert.equal(describeCondition({ $or: [{ country: { $in: ['DE', 'AT'] } }, { language: 'de' }] }, doc),
    'either country is one of “DE” or “AT”, or language is “de”');
  assert.equal(describeCondition({}, doc), 'everyone');
  assert.deepEqual(signalsUsed({ $or: [{ views: { $gt: 1 } }] }, doc), ['views']);
});

test('built-in attributes match the Rust list (src/request.rs)', async () => {
  const rs = await readFile(join(ROOT, 'src', 'request.rs'), 'utf8');
  const list = /BUILT_IN_ATTRIBUTES: &\[&str\] = &\[([^\]]*)\]/.exec(rs)[1].match(/"([a-z_]+)"/g).map((s) => s.slice(1, -1));
  assert.deepEqual(Object.keys(ATTRIBUTES).sort(), list.sort());
});

test('previews fill templates with sample values, escaped', () => {
  assert.equal(renderTemplate('<h1>{{utm_campaign|Our offer}} is on</h1>', { utm_campaign: '<b>x</b>' }), '<h1>&lt;b&gt;x&lt;/b&gt; is on</h1>');
  assert.equal(renderTemplate('{{ missing | fall back }} {{open', {}), 'fall back {{open');
  assert.match(contentPreviewHtml({ set_attributes: { 'data-x': '{{a}}"' }, inner_html: 'hi' }, { a: '&' }), /data-x="&amp;&quot;"/);
});

test('trained model signals (cluster, trees) read as sentences and name their inputs', () => {
  const doc = {
    signals: {
      views_7d: { count: 'page_view', within: '7d' },
      carts_7d: { count: 'add_to_cart', within: '7d' },
      behaviour: { cluster: ['views_7d', 'carts_7d'], scale: [3, 1], centroids: [[12, 0], [4, 3]], names: ['browsers', 'cart_fillers'] },
      numbered: { cluster: ['views_7d'], scale: [3], centroids: [[1], [9], [20]] },
      buyer: { trees: ['views_7d', 'carts_7d'], base: -2, ensemble: [[[1, 0.5, 1, 2], [-0.1], [0.4]]] },
    },
  };
  assert.equal(describeSignal(doc.signals.behaviour, doc),
    'a trained k-means model over 2 features (views_7d and carts_7d): the nearest of 2 clusters, named “browsers” or “cart_fillers”');
  assert.match(describeSignal(doc.signals.numbered, doc), /over 1 feature \(views_7d\): the nearest of 3 clusters, numbered from 0/);
  assert.equal(describeSignal(doc.signals.buyer, doc),
    'a probability from 0 to 1, from a trained ensemble of 1 decision tree over views_7d and carts_7d');
  assert.equal(attributeType('behaviour', doc), 'string');
  assert.equal(attributeType('numbered', doc), 'number');
  assert.deepEqual(signalsUsed({ behaviour: 'browsers' }, doc), ['behaviour', 'views_7d', 'carts_7d']);
  assert.deepEqual(signalsUsed({ buyer: { $gt: 0.5 } }, doc), ['buyer', 'views_7d', 'carts_7d']);
  // A model is shown read-only (its inputs), and survives the round trip untouched.
  assert.equal(signalFields(doc.signals.buyer).kind, 'trees');
  assert.deepEqual(signalFields(doc.signals.buyer).inputs, ['views_7d', 'carts_7d']);
  assert.deepEqual(applySignalFields(doc.signals.buyer, signalFields(doc.signals.buyer)).value, doc.signals.buyer);
});
