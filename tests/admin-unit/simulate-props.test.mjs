// The Simulate tab's event properties field (issue 23: the admin Simulate
// ignored props, so value-based segments could not be checked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProps } from '../../admin/src/simulate.js';

test('properties are name=value pairs, values kept as text', () => {
  assert.deepEqual(parseProps(' value=129.00, category = boots '), { value: { value: '129.00', category: 'boots' } });
  assert.deepEqual(parseProps(''), { value: {} });
  assert.deepEqual(parseProps('note=a=b'), { value: { note: 'a=b' } });
});

test('anything else names the part that is wrong', () => {
  assert.match(parseProps('value=1, 300').error, /“300” is not like name=value/);
  assert.match(parseProps('=3').error, /not like name=value/);
  assert.match(parseProps('my value=3').error, /not like name=value/);
});
