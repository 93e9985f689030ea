// The selector generator of "Pick on page" (admin/src/selector.js), without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  looksGenerated, candidates, choose, ladder, samePagesOfKind, cssEscape, stableParts, specificity,
} from '../../admin/src/selector.js';

test('generated class names and ids are recognised, and the site\'s own names are not', () => {
  const generated = [
    'css-1x2y3z', 'css-1rynq56', 'sc-aXZVg', 'sc-bdVaJa', '_3kF9a', '_1Xy2z', 'Button_root__a1B2c',
    'button-module__primary___2Xy9z', 'jsx-2871354811', 'svelte-1abc2de', 'astro-J7PV25F6',
    'w-[90px]', 'md:px-4', 'hover:bg-zinc-400', 'w-1/2', '!mt-0', 'bg-[#060A07]', 'r-bcqeeo',
    'template--15328405717213__main', 'ProductInfo-template--15328405717213__main', 'ember123x4',
    'headlessui-menu-button-1', 'radix-:r1:', 'a8f3k2', 'x-aXZV9g', 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
  ];
  for (const g of generated) assert.equal(looksGenerated(g), true, g);
  const stable = [
    'product', 'product__title', 'product-info', 'price', 'card-name', 'btn-big', 'grid--2-col-tablet',
    'product__info-container--sticky', 'h-64', 'px-10', 'text-xl', 'css-truncate', 'main', 'MainContent',
    'site-header', 'is-active', 'h1', 'col-6',
  ];
  for (const s of stable) assert.equal(looksGenerated(s), false, s);
});

const node = (tag, { id = '', classes = [], attrs = {}, nth = 1, ofType = 1 } = {}) => ({ tag, id, classes, attrs, nth, ofType });

test('the demo store\'s product title (an h1 with no class) is named under its stable ancestor', () => {
  const path = [
    node('html'), node('body'), node('main', { id: 'main' }),
    node('section', { classes: ['wrap', 'section', 'product'], nth: 1, ofType: 2 }),
    node('div', { classes: ['product-row'] }),
    node('div', { classes: ['product-info'], nth: 2, ofType: 2 }),
    node('h1'),
  ];
  const list = candidates(path).map((c) => c.sel);
  assert.equal(list[0], 'div.product-info > h1');
  assert.ok(list.includes('#main h1'));
  assert.equal(list[list.length - 1], 'h1', 'the tag alone is the last resort');
  // Every candidate is in lol_html's dialect: no :nth-child of, no :has, no pseudo-elements.
  for (const s of list) assert.doesNotMatch(s, /:(has|is|where|not)\(|::/);
});

test('an id wins over data attributes, which win over classes; generated ones are skipped', () => {
  const path = [node('html'), node('body'), node('h1', {
    id: 'ProductTitle', classes: ['css-1x2y3z', 'product__title', 'sc-aXZVg'], attrs: { 'data-testid': 'product-title', 'data-v-7ba5bd90': '' },
  })];
  const list = candidates(path);
  assert.deepEqual(list.slice(0, 4).map((c) => [c.sel, c.kind]), [
    ['#ProductTitle', 'id'],
    ['h1[data-testid="product-title"]', 'data'],
    ['h1[data-testid]', 'data'],
    ['h1.product__title', 'class'],
  ]);
  assert.ok(!list.some((c) => /css-1x2y3z|sc-aXZVg|data-v-/.test(c.sel)));
});

test('a generated id and hashed classes leave the element to its stable classes and ancestors', () => {
  const v1 = [node('html'), node('body'),
    node('div', { id: 'ProductInfo-template--15328405717213__main', classes: ['product__info-container', 'css-9k3j2h'] }),
    node('div', { classes: ['product__title', '_3kF9a'] }), node('h1', { classes: ['sc-aXZVg'] })];
  const v2 = [node('html'), node('body'),
    node('div', { id: 'ProductInfo-template--99887766554433__main', classes: ['product__info-container', 'css-1q2w3e'] }),
    node('div', { classes: ['product__title', '_9Zq1b'] }), node('h1', { classes: ['sc-gKsewC'] })];
  // The same proposals for both builds: nothing generated went in.
  assert.deepEqual(candidates(v1).map((c) => c.sel), candidates(v2).map((c) => c.sel));
  assert.equal(candidates(v1)[0].sel, 'div.product__title > h1');
});

test('choose prefers the most robust candidate that fits every page of the kind', () => {
  const list = [{ sel: 'h1[data-sku="A-1"]' }, { sel: '.product-info > h1' }, { sel: 'h1' }];
  // The exact data value fits this page only; the anchored one fits all.
  assert.equal(choose(list, { here: [1, 1, 2], others: [[0, 0], [1, 1], [2, 2]] }), 1);
  // No other pages: the first that is unique here.
  assert.equal(choose(list, { here: [1, 1, 2], others: [] }), 0);
  assert.equal(choose(list, { here: [0, 3, 2], others: [] }), -1);
  // The ladder goes from the widest to the narrowest, without candidates that match nothing.
  assert.deepEqual(ladder(list, { here: [1, 1, 2], others: [[0, 0], [1, 1], [2, 2]] }), [2, 1, 0]);
  // Equal counts: the less constrained selector is the wider one.
  const one = [{ sel: 'div.product-info > h1' }, { sel: '#main section.product h1' }, { sel: 'h1' }];
  assert.deepEqual(ladder(one, { here: [1, 1, 1], others: [[1], [1], [1]] }), [2, 0, 1]);
  assert.equal(specificity('div.product-info > h1'), 3);
});

test('pages of the same kind share the first path segment and depth', () => {
  const hrefs = ['/products/trail-runner', '/products/camp-mug', '/category/packs', '//evil.example/products/x',
    'https://x.example/products/y', '/products/daypack-28?x=1', '/products/daypack-28', '/products/a/b', '/products/down-jacket'];
  assert.deepEqual(samePagesOfKind('/products/camp-mug', hrefs), ['/products/trail-runner', '/products/daypack-28', '/products/down-jacket']);
});

test('ids and classes with special characters are escaped, and attribute values quoted', () => {
  assert.equal(cssEscape('a.b'), 'a\\.b');
  assert.equal(cssEscape('1st'), '\\31 st');
  const parts = stableParts(node('a', { attrs: { 'data-role': 'main title', 'data-note': 'x"y', itemprop: 'name', onclick: 'evil()' } }));
  assert.deepEqual(parts.attrs.map((a) => a.exact), ['[data-role="main title"]', null, '[itemprop="name"]']);
});
