// How fresh the Stats are, in words (issue 23: "Page views · 1 in all" after about 50 page
// views, with nothing saying how fresh the numbers are), and which counters are refusals.
// Pure (no DOM): unit-tested in tests/admin-unit/settings.test.mjs.

const clock = (secs) => {
  const d = new Date(secs * 1000);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
};
const about = (secs) => (secs < 90 ? `${Math.max(1, Math.round(secs))} s` : `${Math.round(secs / 60)} min`);

/**
 * The stats reply's `freshness` as a sentence: "As of 14:05; next publish in about 3 min.
 * Counts are published every 173 s, and each Worker instance sends its counts at most every
 * 30 s." `clockOf` formats Unix seconds (the browser's local time by default).
 */
export function describeFreshness(f, clockOf = clock, now = Date.now() / 1000) {
  if (!f) return '';
  const how = `Counts are published every ${about(f.publish_interval_secs)}, and each Worker instance sends its own at most every ${about(f.send_interval_secs)}, so the newest page views can take that long to show.`;
  if (f.as_of === null || f.as_of === undefined) {
    return `How fresh these numbers are is unknown: ${f.shards_unanswered} of ${f.shards} counter shard${f.shards === 1 ? '' : 's'} did not answer. ${how}`;
  }
  if (f.as_of === 0) return `Nothing is published yet; the first publish is due ${f.next_publish ? `in about ${about(Math.max(0, f.next_publish - now))}` : 'soon'}. ${how}`;
  const next = f.next_publish
    ? `next publish in about ${about(Math.max(0, f.next_publish - now))}`
    : 'nothing received is waiting to be published';
  return `As of ${clockOf(f.as_of)}; ${next}. ${how}`;
}

/** Refusal counters, with what each means, in the order they are charted. */
export const REFUSALS = [
  ['events_refused', 'rate limit (per client)'],
  ['events_refused_source', 'server-only event sent by a page'],
  ['events_refused_bounds', 'value outside its bounds'],
  ['values_refused', 'property not a number'],
  ['server_events_refused', 'server events refused'],
];

/** [[label, values]] for the refusal counters the stats have (absent ones left out). */
export function refusalSeries(counters) {
  return REFUSALS.filter(([key]) => counters[key]).map(([key, label]) => [label, counters[key]]);
}
