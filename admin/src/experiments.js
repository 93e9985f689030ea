// The Experiments tab: GET api/experiments (the Worker computes the stats), one card per
// experiment or holdout: status, SRM warning, per goal a table of variants against the
// control (rate, uplift with 95 % interval, chance to beat control, sequential p-value,
// value per visitor), CUPED-adjusted uplift beside the raw one, the cumulative conversion
// rate per variant and, for bandits, the weights over time. Charts with uPlot, like the Stats tab.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './experiments.css';
import { call } from './api.js';
import { h, statusLine, formatTime } from './ui.js';
import { builderSlot } from './workbench.js';
import { experimentEditor, holdoutEditor } from './expeditor.js';
import { rulesPanel, previewLinksPanel } from './expsetup.js';

const PALETTE = ['#475569', '#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2'];
const pct = (x, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? '—' : `${(x * 100).toFixed(digits)} %`);
const signed = (x, digits = 1) => (x === null || x === undefined ? '—' : `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(digits)}`);
const money = (x) => (x === null || x === undefined ? '—' : x.toFixed(2));

/** The keys of the experiments and holdouts in the saved rules text (app.doc.text), as the results name them. */
function savedExperiments(doc) {
  try {
    const d = JSON.parse(doc?.text || '');
    const holdouts = (Array.isArray(d.segments) ? d.segments : []).filter((s) => s && s.holdout).map((s) => `holdout_${s.id}`);
    return [...Object.keys(d.experiments || {}), ...holdouts];
  } catch { return []; }
}

export function experimentsView(app) {
  const status = statusLine('experiments-status');
  const list = h('div.experiments#experiments');
  const days = h('select#experiments-days', { 'aria-label': 'Days of results' },
    [1, 7, 14, 35].map((d) => h('option', { value: String(d), selected: d === 7 }, d === 1 ? 'Today' : `Last ${d} days`)));
  days.addEventListener('change', () => app.run(load, status));
  const overview = h('div#experiments-overview',
    h('div.toolbar', h('div.toolbar-meta', h('strong', 'Experiments'),
      h('span.meta-more', ' · results from the published counters, a few minutes behind')),
    h('div.actions', days, h('button.secondary', { type: 'button', onclick: () => app.run(load, status) }, 'Refresh'))),
    status.el);
  const editorHost = h('div#experiment-editor-host');
  const el = h('section.view#view-experiments', { 'aria-labelledby': 'tab-experiments', hidden: true }, overview, editorHost);
  // The editors open in place of the overview, like the segment builder (same save path).
  const slot = builderSlot(app, {
    overview,
    host: editorHost,
    status,
    make: (o) => (o.index.kind === 'holdout'
      ? holdoutEditor({ ...o, index: o.index.index })
      : experimentEditor({ ...o, key: o.index.key, segment: o.index.segment })),
    arg: (b) => (b.key ? { kind: 'experiment', key: b.key() } : { kind: 'holdout', index: b.index }),
    render: () => app.run(showOverview, status),
  });
  const setup = rulesPanel(app, { open: (which) => slot.open(which) });
  const links = previewLinksPanel(app, status);
  overview.append(setup.el, links.el, list);
  /** Opens an experiment's editor from elsewhere (a segment's card): { key } or { key: null, segment }. */
  app.openExperiment = (which) => { slot.open({ kind: 'experiment', ...which }); app.go('experiments'); };
  async function showOverview() {
    setup.render();
    if (links.el.open) await links.render();
    if (!loaded) await load(); else resize();
  }
  let plots = [];
  let loaded = false;
  let retry = null; // a timer while saved experiments are not in force yet
  const ro = new ResizeObserver(() => resize());

  function resize() {
    for (const p of plots) {
      const w = Math.max(200, p.box.clientWidth);
      if (Math.abs(w - p.plot.width) > 2) p.plot.setSize({ width: w, height: chartHeight() });
    }
  }

  async function load() {
    status.set('busy', 'Loading results…');
    const r = await call('GET', `experiments?days=${days.value}`);
    for (const p of plots) p.plot.destroy();
    plots = [];
    list.replaceChildren();
    loaded = true;
    const exps = r.body?.experiments || [];
    clearTimeout(retry);
    // Saved a moment ago: the Worker puts saved rules in force within its refresh interval,
    // so say which are not there yet and look again (before, the tab loaded once and said
    // "No experiments in the rules yet" after one was saved).
    const inForce = new Set(exps.map((e) => e.key));
    const pending = savedExperiments(app.doc).filter((k) => !inForce.has(k));
    if (pending.length) {
      list.append(h('p.hint#experiments-pending', `Saved, not in force yet: ${pending.join(', ')}. The Worker puts saved rules in force within a few seconds (settings.refresh_seconds); checking again…`));
      if (!el.hidden) retry = setTimeout(() => app.run(load, status), 2000);
    }
    if (!exps.length) {
      if (pending.length) { status.set('', ''); return; }
      list.append(h('p.hint', 'No results: no experiment or holdout is in force. Make one above (+ New experiment, + Holdout), start it and save.'));
      status.set('', '');
      return;
    }
    for (const e of exps) list.append(card(e, r.body));
    status.set('', `${exps.length} experiment${exps.length === 1 ? '' : 's'} · ${r.body.sequential_test}`);
  }

  function card(e, body) {
    const colors = Object.fromEntries(e.variants.map((v, i) => [v, PALETTE[i % PALETTE.length]]));
    const badges = [
      h(`span.badge.exp-status.exp-${e.status}`, e.status),
      h('span.badge', e.kind === 'holdout' ? 'holdout' : e.allocation === 'bandit' ? 'bandit' : 'fixed split'),
      e.segment ? h('span.badge', `segment ${e.segment}`) : null,
    ];
    const srm = e.srm?.flag
      ? h('p.status.status-error.srm-warning', { role: 'alert' },
        `Sample ratio mismatch (p = ${e.srm.p.toExponential(1)}): exposures ${e.exposures.join(' / ')} do not fit the weights ${e.weights.map((w) => pct(w, 0)).join(' / ')}. Check the setup before trusting these results.`)
      : null;
    const enough = e.enough_data ? null
      : h('p.status.status-info.not-enough', `Not enough data yet: every variant needs ${e.min_exposures} exposures and ${e.min_conversions} conversions before these numbers mean much.`);
    const split = h('p.exp-split', 'Exposures: ', e.variants.map((v, i) => h('span.exp-chip', h('i', { style: `background:${colors[v]}` }), `${v} ${e.exposures[i].toLocaleString()}`)),
      e.allocation === 'bandit' ? h('span.meta-more', ` · weights now ${e.current_weights.map((w) => pct(w, 0)).join(' / ')}`) : null,
      e.srm?.p !== null && e.srm?.p !== undefined && !e.srm.flag ? h('span.meta-more', ` · SRM check p = ${e.srm.p.toFixed(3)}`) : null);
    const goals = Object.entries(e.goals || {});
    const sections = goals.map(([goal, g]) => goalSection(e, goal, g, colors, body));
    if (e.guardrails) sections.unshift(...guardrailSection(e));
    if (!goals.length) sections.push(h('p.hint', 'No goals: declare one to measure conversions.'));
    const c = h('section.card.experiment', { id: `exp-${e.key}`, dataset: { key: e.key } },
      h('h2', e.key, ...badges), ...guardrailAlerts(e), srm, enough, split, ...sections);
    if (e.allocation === 'bandit' && e.bandit_history.length) {
      const times = e.bandit_history.map(([t]) => t);
      const series = e.variants.map((v, i) => [v, e.bandit_history.map(([, w]) => w[i])]);
      c.append(h('h3', 'Bandit weights over time'));
      c.append(chart(`weights-${e.key}`, times, series, colors, [0, 1], false, [body.from, body.to]));
    }
    return c;
  }

  function goalSection(e, goal, g, colors, body) {
    // With several variants or goals the p-values shown are Holm-adjusted (the results say so).
    const corrected = (e.corrections?.comparisons || 0) > 1;
    // The fixed-horizon p sits under the sequential one, labelled, so the table keeps its width.
    const pLabel = `p-value: sequential / fixed horizon${corrected ? ' (Holm)' : ''}`;
    const pValue = (p) => (p === undefined || p === null ? '—' : p < 0.001 ? '< 0.001' : p.toFixed(3));
    const rows = g.variants.map((v) => {
      const vs = v.vs_control;
      const win = vs && vs.absolute.low > 0;
      const lose = vs && vs.absolute.high < 0;
      const cls = win ? '.exp-win' : lose ? '.exp-lose' : '';
      return h(`tr${cls}`, { dataset: { variant: v.variant } },
        h('th', { scope: 'row', 'data-label': 'Variant' }, h('i.swatch', { style: `background:${colors[v.variant]}` }), v.variant, vs ? '' : h('span.meta-more', ' (control)'),
          (e.guardrails?.stopped || []).includes(v.variant) ? h('span.badge.badge-stopped', 'stopped') : ''),
        h('td', { 'data-label': 'Exposures' }, v.exposures.toLocaleString()),
        h('td', { 'data-label': 'Conversions' }, v.conversions.toLocaleString()),
        h('td', { 'data-label': 'Rate' }, pct(v.rate, 2)),
        h('td.uplift', { 'data-label': 'Uplift (pts, 95 %)' }, vs ? `${signed(vs.absolute.estimate, 2)} [${signed(vs.absolute.low, 2)}, ${signed(vs.absolute.high, 2)}]` : '—'),
        h('td', { 'data-label': 'Relative' }, vs && vs.relative ? `${signed(vs.relative.estimate)} % [${signed(vs.relative.low)}, ${signed(vs.relative.high)}]` : '—'),
        h('td.chance', { 'data-label': 'Chance to beat control' }, vs ? pct(vs.chance_to_beat) : '—'),
        h('td.pvalue', { 'data-label': pLabel }, vs ? h('span', pValue(corrected ? vs.p_value_adjusted : vs.p_value),
          h('span.pvalue-fixed', `fixed ${pValue(corrected ? vs.p_fixed_horizon_adjusted : vs.p_fixed_horizon)}`)) : '—'),
        h('td', { 'data-label': 'Value / visitor (95 %)' }, g.has_value
          ? `${money(v.value_per_visitor.estimate)} [${money(v.value_per_visitor.low)}, ${money(v.value_per_visitor.high)}]` : '—'));
    });
    const table = h('div.table-wrap', h('table.exp-table', { dataset: { goal } },
      h('thead', h('tr', ['Variant', 'Exposures', 'Conversions', 'Rate', 'Uplift (pts, 95 %)', 'Relative', 'Chance to beat control', pLabel, 'Value / visitor (95 %)'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', rows)));
    // From the first look with any exposure on.
    let series = Object.entries(g.cumulative_rate || {});
    const first = Math.max(0, e.looks.findIndex((_, i) => series.some(([, v]) => v[i] !== null)));
    series = series.map(([k, v]) => [k, v.slice(first)]);
    return h('div.goal', h('h3', `Goal “${goal}”`), table, cupedSection(goal, g),
      h('p.hint.exp-p-note', 'The sequential p-value stays valid however often you look; the fixed-horizon one only if you read it once, at a sample size planned in advance.'
        + (corrected ? ` Both are Holm-adjusted for ${e.corrections.comparisons} comparisons (variants × goals).` : '')),
      h('h3', 'Cumulative conversion rate'),
      chart(`rate-${e.key}-${goal}`, e.looks.slice(first), series, colors, null, true, [body.from, body.to]),
      h('p.hint', `Points are daily looks (${formatTime(body.from * 1000)} – ${formatTime(body.to * 1000)}).`));
  }

  // Guardrails: a stopped variant is an alert with why and when, and a way to serve it again.
  function guardrailAlerts(e) {
    const stops = e.guardrails?.stops || [];
    return stops.map((s) => (s.active
      ? h('div.status.status-error.guardrail-stop', { role: 'alert', dataset: { variant: s.variant } },
        h('p', h('strong', `Variant ${s.variant} stopped`), ` ${formatTime(s.at * 1000)} by the guardrail “${s.goal}” (${s.guardrail.replaceAll('_', ' ')}). Its visitors get the control and are no longer counted.`),
        h('p.meta-more', s.reason),
        h('button.secondary.guardrail-restart', { type: 'button', onclick: () => app.run(() => restart(e.key, s.variant), status) }, `Serve ${s.variant} again`))
      : h('p.status.status-info.guardrail-restarted', { dataset: { variant: s.variant } },
        `Variant ${s.variant} was stopped ${formatTime(s.at * 1000)} by the guardrail “${s.goal}” and served again ${formatTime(s.restarted_at * 1000)}; its guardrails are tested afresh since.`)));
  }

  async function restart(key, variant) {
    if (!window.confirm(`Serve ${variant} again? Its guardrails are tested afresh from now on.`)) return;
    status.set('busy', `Restarting ${variant}…`);
    await call('POST', 'experiments/restart', { body: { experiment: key, variant } });
    await load();
    status.set('', `${variant} is served again (other Workers follow at their next rules refresh).`);
  }

  function guardrailSection(e) {
    const g = e.guardrails;
    const pValue = (p) => (p === undefined || p === null ? '—' : p < 0.001 ? p.toExponential(1) : p.toFixed(3));
    const direction = Object.fromEntries(g.goals.map((x) => [x.goal, x.guardrail.replaceAll('_', ' ')]));
    const rate = (c) => (c.exposures ? pct(c.conversions / c.exposures, 2) : '—');
    const rows = (g.checks || []).map((c) => {
      const stopped = g.stopped.includes(c.variant);
      const state = stopped ? 'stopped' : c.enough_data ? 'watching' : 'not enough data';
      return h(`tr${stopped ? '.exp-lose' : ''}`, { dataset: { variant: c.variant, goal: c.goal } },
        h('th', { scope: 'row', 'data-label': 'Variant' }, c.variant),
        h('td', { 'data-label': 'Guardrail' }, `${c.goal} (${direction[c.goal] || ''})`),
        h('td', { 'data-label': 'Control rate' }, rate(c.control)),
        h('td', { 'data-label': 'Variant rate' }, rate(c.counts)),
        h('td.pvalue', { 'data-label': 'One-sided p' }, pValue(c.p_value)),
        h('td', { 'data-label': 'Status' }, state));
    });
    const table = rows.length
      ? h('div.table-wrap', h('table.exp-table.guardrail-table', h('thead', h('tr', ['Variant', 'Guardrail', 'Control rate', 'Variant rate', 'One-sided p', 'Status'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', rows)))
      : h('p.hint', 'Not checked yet: the cron tests guardrails every 10 minutes from the published counters.');
    return [h('h3', 'Guardrails'), table,
      h('p.hint.exp-p-note', `A variant stops when its one-sided sequential p falls under ${g.threshold.toFixed(4)} (${g.alpha} over ${Math.round(g.alpha / g.threshold)} guardrail × variant pairs), once each arm has ${g.min_exposures} exposures. `
        + (g.checked ? `Last checked ${formatTime(g.checked * 1000)}.` : ''))];
  }


  // CUPED beside the raw uplift: the same comparison adjusted by the visitors' history before
  // exposure (from their cookie), with how much of the variance it removed; or why not.
  function cupedSection(goal, g) {
    const compared = g.variants.filter((v) => v.vs_control?.cuped);
    if (!compared.length) return null;
    const interval = (i, fmt, unit = '') => `${fmt(i.estimate)}${unit} [${fmt(i.low)}, ${fmt(i.high)}]`;
    const moneyDiff = (x) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;
    const cells = (c, raw, fmt) => (c.not_adjusted
      ? [h('td.cuped-none', { colSpan: 3, 'data-label': 'CUPED' }, c.not_adjusted)]
      : [h('td', { 'data-label': 'Raw (95 %)' }, interval(raw, fmt)),
        h('td.cuped-adjusted', { 'data-label': 'CUPED (95 %)' }, interval(c.absolute, fmt)),
        h('td.cuped-reduction', { 'data-label': 'Variance reduction' }, h('span', pct(Math.max(0, c.variance_reduction), 0),
          h('span.meta-more', ` · interval ${pct(1 - Math.sqrt(Math.max(0, 1 - c.variance_reduction)), 0)} narrower`)))]);
    const rows = [];
    for (const v of compared) {
      const c = v.vs_control.cuped;
      rows.push(h('tr', { dataset: { variant: v.variant, metric: 'rate' } },
        h('th', { scope: 'row', 'data-label': 'Variant' }, h('span', v.variant, h('span.meta-more', ' · uplift (pts)'))),
        ...cells(c.rate, v.vs_control.absolute, (x) => signed(x, 2))));
      if (c.value) {
        rows.push(h('tr', { dataset: { variant: v.variant, metric: 'value' } },
          h('th', { scope: 'row', 'data-label': 'Variant' }, h('span', v.variant, h('span.meta-more', ' · value / visitor'))),
          ...cells(c.value, v.vs_control.value_difference, moneyDiff)));
      }
    }
    return h('details.cuped', { open: true, dataset: { goal } },
      h('summary', 'CUPED: adjusted for visitors’ history'),
      h('p.hint', `Covariate: ${compared[0].vs_control.cuped.covariate}, from each visitor’s cookie. Same comparison as above, with the part of each visitor’s outcome that their history predicts taken out: the estimate stays unbiased, the interval narrows by the variance reduction.`),
      h('div.table-wrap', h('table.exp-table.cuped-table',
        h('thead', h('tr', ['Variant', 'Raw (95 %)', 'CUPED (95 %)', 'Variance reduction'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', rows))));
  }

  /**
   * xRange [from, to] (unix seconds): the period asked for. uPlot ranges a time axis from its
   * points, and with a single look it spread one point over years (Feb 2027 to Aug 2029 for
   * "Last 7 days"); the axis is the chosen period instead.
   */
  function chart(id, xs, series, colors, yRange, percent, xRange) {
    const box = h('div.chart-box');
    const wrap = h('div.chart.exp-chart', { id: `chart-${id}`, dataset: { series: String(series.length) } }, box);
    requestAnimationFrame(() => {
      const width = Math.max(200, box.clientWidth || 600);
      const opts = {
        width,
        height: chartHeight(),
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true, range: () => xRange }, y: { range: yRange ? () => yRange : (u, min, max) => [0, Math.max(0.01, max * 1.15)] } },
        axes: [{ stroke: '#555', grid: { stroke: '#eee' } },
          { stroke: '#555', grid: { stroke: '#eee' }, size: 52, values: (u, vals) => vals.map((v) => (percent || yRange ? `${Math.round(v * 1000) / 10}%` : v)) }],
        series: [{}, ...series.map(([label]) => ({ label, stroke: colors[label], width: 2, points: { show: xs.length < 3 } }))],
      };
      // The axis as drawn, readable from the page (uPlot sets its scales after the constructor).
      opts.hooks = { setScale: [(u, key) => { if (key === 'x') Object.assign(wrap.dataset, { xMin: String(u.scales.x.min), xMax: String(u.scales.x.max) }); }] };
      const plot = new uPlot(opts, [xs, ...series.map(([, v]) => v)], box);
      plots.push({ plot, box });
      ro.observe(box);
    });
    return wrap;
  }

  return {
    el,
    async onShow() {
      const still = (doc) => (slot.current().key ? !!doc?.experiments?.[slot.current().key()] : !!doc?.segments?.[slot.current().index]?.holdout);
      if (slot.reshow(still)) return;
      await app.run(showOverview, status);
    },
    /** The rules changed (a save, a rollback): load again on the next show. */
    invalidate() { loaded = false; },
  };
}

function chartHeight() { return window.innerWidth < 600 ? 180 : 220; }
