// What "Pick on page" writes into the rules document (admin/src/pick-doc.js), without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { contentTargets, placeContent } from '../../admin/src/pick-doc.js';

const doc = JSON.parse(readFileSync(new URL('../../examples/rules.json', import.meta.url), 'utf8'));

test('the content can be for every segment and every experiment variant of the rules', () => {
  const t = contentTargets(doc).map((x) => x.value);
  assert.ok(t.includes('s:campaign_visitor'));
  const variants = doc.experiments.new_gear_checkout.variants.map((v) => `v:new_gear_checkout:${v.id}`);
  for (const v of variants) assert.ok(t.includes(v), v);
  assert.deepEqual(contentTargets(null), []);
});

test('a new block gets the selector and the segment\'s content; the document given is left as it was', () => {
  const before = JSON.stringify(doc);
  const r = placeContent(doc, { selector: 'div.product-info > h1', block: '', newId: 'product_title', target: 's:campaign_visitor', spec: { inner_html: 'Hi' } });
  assert.equal(r.id, 'product_title');
  assert.deepEqual(r.doc.blocks.product_title, { selector: 'div.product-info > h1', content: { campaign_visitor: { inner_html: 'Hi' } } });
  assert.equal(JSON.stringify(doc), before);
});

test('an existing block gets the picked selector as its target and keeps its other content', () => {
  const r = placeContent(doc, { selector: 'aside.offer', block: 'offer', target: 's:big_spender', spec: { remove: true } });
  assert.equal(r.doc.blocks.offer.selector, 'aside.offer');
  assert.deepEqual(r.doc.blocks.offer.content.big_spender, { remove: true });
  for (const k of Object.keys(doc.blocks.offer.content)) if (k !== 'big_spender') assert.deepEqual(r.doc.blocks.offer.content[k], doc.blocks.offer.content[k]);
});

test('content for an experiment variant goes into the variant, by block id', () => {
  const v = doc.experiments.new_gear_checkout.variants[1].id;
  const r = placeContent(doc, { selector: 'h1', block: '', newId: 'title', target: `v:new_gear_checkout:${v}`, spec: { after: '<p>x</p>' } });
  assert.deepEqual(r.doc.experiments.new_gear_checkout.variants[1].content.title, { after: '<p>x</p>' });
  assert.deepEqual(r.doc.blocks.title, { selector: 'h1', content: {} });
});

test('a bad or taken block id, or no target, is an error at its field', () => {
  assert.equal(placeContent(doc, { selector: 'h1', block: '', newId: 'a b', target: 's:campaign_visitor', spec: {} }).field, 'block-id');
  assert.match(placeContent(doc, { selector: 'h1', block: '', newId: 'hero', target: 's:campaign_visitor', spec: {} }).error, /already/);
  assert.equal(placeContent(doc, { selector: 'h1', block: '', newId: 'new_one', target: '', spec: {} }).field, 'for');
  assert.equal(placeContent(doc, { selector: 'h1', block: '', newId: 'new_one', target: 'v:nope:b', spec: {} }).field, 'for');
});
