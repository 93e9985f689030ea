// Small pieces of the admin page's UI helpers that need no DOM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relativeTime } from '../../admin/src/ui.js';

test('an unknown time reads as nothing, not as 1970 (issue 23: "Revision 0 · unknown, 20792 d ago")', () => {
  for (const none of [null, undefined, '', 'not a time']) assert.equal(relativeTime(none), '');
  const now = Date.parse('2026-12-07T12:00:00Z');
  assert.equal(relativeTime('2026-12-07T11:59:30Z', now), 'just now');
  assert.equal(relativeTime('2026-12-07T09:00:00Z', now), '3 h ago');
  assert.equal(relativeTime('2026-12-04T12:00:00Z', now), '3 d ago');
});

