// The Stats tab: GET api/stats for the last 24 h or 7 d, charted with uPlot:
// page views, segment entries per segment, block impressions per segment (one chart per block).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { call } from './api.js';
import { h, statusLine, formatTime } from './ui.js';
import { describeFreshness, refusalSeries } from './freshness.js';

const RANGES = { '24h': 24 * 3600, '7d': 7 * 24 * 3600 };
const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#65a30d', '#475569', '#ea580c'];

export function statsView(app) {
  let range = '24h';
  const rangeButtons = Object.keys(RANGES).map((r) => h('button.seg-btn', {
    type: 'button', dataset: { range: r }, 'aria-pressed': String(r === range),
    onclick: () => { range = r; syncButtons(); app.run(load, status); },
  }, r === '24h' ? 'Last 24 h' : 'Last 7 days'));
  const syncButtons = () => rangeButtons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.range === range)));
  const status = statusLine('stats-status');
  const charts = h('div.charts#charts');
  const fresh = h('p.hint#stats-freshness', '');
  const el = h('section.view#view-stats', { 'aria-labelledby': 'tab-stats', hidden: true },
    h('div.toolbar', h('div.toolbar-meta', h('strong', 'Stats'), h('span.meta-more', ' · hourly, approximate (counters are batched)')),
      h('div.actions', h('div.segmented', { role: 'group', 'aria-label': 'Time range' }, rangeButtons),
        h('button.secondary', { type: 'button', onclick: () => app.run(load, status) }, 'Refresh'))),
    fresh, status.el, charts);

  let plots = [];
  let colorOf = () => PALETTE[0];
  let loaded = false;
  const ro = new ResizeObserver(() => resize());

  function destroy() {
    for (const p of plots) p.plot.destroy();
    plots = [];
    charts.replaceChildren();
  }

  function resize() {
    for (const p of plots) {
      const w = Math.max(200, p.box.clientWidth);
      if (Math.abs(w - p.plot.width) > 2) p.plot.setSize({ width: w, height: chartHeight() });
    }
  }

  async function load() {
    const to = Math.floor(Date.now() / 1000);
    const from = to - RANGES[range];
    status.set('busy', 'Loading stats…');
    const r = await call('GET', `stats?from=${from}&to=${to}`);
    const hours = r.body?.hours || [];
    const counters = r.body?.counters || {};
    destroy();
    loaded = true;
    fresh.textContent = describeFreshness(r.body?.freshness);
    if (!hours.length) {
      charts.append(h('p.hint', 'No counts in this range yet.'));
      status.set('', '');
      return;
    }
    const groups = groupCounters(counters);
    colorOf = colorMap(groups);
    addChart('page-views', 'Page views', hours, [['page views', counters.page_views || zeros(hours)]]);
    addChart('segment-entries', 'Segment entries', hours, groups.entries);
    for (const [block, series] of groups.impressions) addChart(`impressions-${block}`, `Impressions of block “${block}”, by segment`, hours, series);
    if (groups.events.length) addChart('events', 'Events', hours, groups.events);
    // Refused events, which before showed only on /__edgeseg/health (issue 23).
    addChart('refused', 'Refused events', hours, refusalSeries(counters));
    status.set('', `${hours.length} hours: ${formatTime(hours[0] * 1000)} – ${formatTime((hours[hours.length - 1] + 3600) * 1000)}`);
  }

  function addChart(id, title, hours, series) {
    const total = series.reduce((s, [, v]) => s + v.reduce((a, b) => a + (b || 0), 0), 0);
    const box = h('div.chart-box');
    const card = h('section.card.chart', { id: `chart-${id}`, dataset: { series: String(series.length) } },
      h('h2', title, h('span.total', ` · ${total.toLocaleString()} in all`)), box);
    charts.append(card);
    if (!series.length) {
      box.append(h('p.hint', 'None in this range.'));
      return;
    }
    const width = Math.max(200, box.clientWidth || charts.clientWidth || 600);
    const opts = {
      width,
      height: chartHeight(),
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ stroke: '#555', grid: { stroke: '#eee' } }, { stroke: '#555', grid: { stroke: '#eee' }, size: 48 }],
      series: [{}, ...series.map(([label]) => ({
        label, stroke: colorOf(label), width: 2, fill: series.length === 1 ? `${colorOf(label)}22` : undefined, points: { show: false },
      }))],
    };
    const plot = new uPlot(opts, [hours, ...series.map(([, v]) => v)], box);
    plots.push({ plot, box });
    ro.observe(box);
  }

  return {
    el,
    async onShow() { if (!loaded) await app.run(load, status); else resize(); },
  };
}

/** One color per series name (segment, event) across all charts. */
function colorMap(groups) {
  const names = [];
  const add = (n) => { if (!names.includes(n)) names.push(n); };
  groups.entries.forEach(([n]) => add(n));
  groups.impressions.forEach(([, series]) => series.forEach(([n]) => add(n)));
  groups.events.forEach(([n]) => add(n));
  return (n) => (names.includes(n) ? PALETTE[names.indexOf(n) % PALETTE.length] : PALETTE[0]);
}

function chartHeight() { return window.innerWidth < 600 ? 180 : 240; }
function zeros(hours) { return hours.map(() => 0); }

/** Splits counters by kind: entries:SEG, impressions:BLOCK:SEG, events:NAME. */
export function groupCounters(counters) {
  const entries = [];
  const impressions = new Map();
  const events = [];
  for (const [key, values] of Object.entries(counters).sort(([a], [b]) => a.localeCompare(b))) {
    const parts = key.split(':');
    if (parts[0] === 'entries' && parts.length === 2) entries.push([parts[1], values]);
    else if (parts[0] === 'impressions' && parts.length === 3) {
      if (!impressions.has(parts[1])) impressions.set(parts[1], []);
      impressions.get(parts[1]).push([parts[2], values]);
    } else if (parts[0] === 'events' && parts.length === 2) events.push([parts[1], values]);
  }
  return { entries, impressions: [...impressions], events };
}
