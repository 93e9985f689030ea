// The Models tab: per model signal (logistic, trees, cluster) its training date and quality,
// its score distribution now (the newest day's drift counters) against at training, and the
// population stability index (PSI) per day, with a warning past 0.2. GET api/models; the
// numbers are the core's (src/signals/drift.rs), the same `edgeseg train --compare` prints.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './models.css';
import { call } from './api.js';
import { h, idText, statusLine } from './ui.js';

const TRAINED = '#94a3b8';
const NOW = '#2563eb';

export function modelsView(app) {
  const status = statusLine('models-status');
  const list = h('div.models#models');
  const el = h('section.view#view-models', { 'aria-labelledby': 'tab-models', hidden: true },
    h('div.toolbar', h('div.toolbar-meta', h('strong', 'Models'), h('span.meta-more', ' · drift of each model against its training')),
      h('div.actions', h('button.secondary', { type: 'button', onclick: () => app.run(load, status) }, 'Refresh'))),
    status.el, list);
  let plots = [];
  let loaded = false;
  const ro = new ResizeObserver(() => {
    for (const p of plots) {
      const w = Math.max(200, p.box.clientWidth);
      if (Math.abs(w - p.plot.width) > 2) p.plot.setSize({ width: w, height: p.plot.height });
    }
  });

  async function load() {
    status.set('busy', 'Loading models…');
    const r = await call('GET', 'models');
    for (const p of plots) p.plot.destroy();
    plots = [];
    list.replaceChildren();
    loaded = true;
    const models = r.body?.models || [];
    if (!models.length) {
      list.append(h('p.hint', 'No model signals in the rules. Train one with edgeseg train and paste its block.'));
      status.set('', '');
      return;
    }
    for (const m of models) list.append(card(m, r.body.threshold, r.body.min_day_moments));
    status.set('', `${models.length} model${models.length === 1 ? '' : 's'}`);
  }

  function card(m, threshold, minMoments) {
    const drifted = m.warning;
    const badge = m.psi == null
      ? h('span.badge', 'not enough data')
      : h(`span.badge.${drifted ? 'badge-warn' : 'badge-ok'}.drift-badge`, `PSI ${m.psi.toFixed(2)}`);
    const quality = Object.entries(m.quality || {}).map(([k, v]) => `${k.replace('_', '-').replace('roc-auc', 'ROC-AUC')} ${v}`).join(', ');
    const about = m.trained
      ? `Trained on data through ${m.trained} · ${Number(m.moments).toLocaleString()} moments${quality ? ` · ${quality}` : ''}`
      : 'No training reference: paste a block from edgeseg train (it records one) to compare against.';
    const box = h('div.chart-box');
    const out = h(`section.card.model#model-${m.signal}`, { dataset: { warning: String(!!drifted) } },
      h('h2', idText(m.signal), h('span.badge', m.kind), badge),
      h('p.model-about', about));
    if (drifted) {
      const d = [...m.days].reverse().find((x) => x.worst != null);
      out.append(h('p.drift-warning', { role: 'alert' },
        `Drifted: PSI ${d.worst.toFixed(2)} on ${day(d.day)} is past ${threshold}. The visitors it scores no longer look like the ones it learned from; retrain it (edgeseg train … --compare).`));
    }
    out.append(h('p.hint', `PSI under 0.1 is stable, 0.1–0.25 a moderate shift, over 0.25 a major one (the usual rule of thumb); the warning is at ${threshold}. A day needs ${minMoments} counted views for a PSI.`));
    out.append(h('h3', 'Scores now against at training'), box);
    const labels = m.reference ? m.reference.map((_, i) => binLabel(m, i)) : (m.now?.scores || []).map((_, i) => binLabel(m, i));
    const trained = m.reference || labels.map(() => null);
    const now = m.now?.scores || labels.map(() => null);
    out.append(h('div.table-wrap', h('table.model-table.score-table',
      h('caption.sr-only', `${m.signal}: share of scores per bin`),
      h('thead', h('tr', h('th', { scope: 'col' }, m.kind === 'cluster' ? 'Cluster' : 'Score'), h('th', { scope: 'col' }, 'At training'),
        h('th', { scope: 'col' }, m.now ? `Now (${day(m.now.day)}, ${m.now.moments} views)` : 'Now'))),
      h('tbody', labels.map((l, i) => h('tr', h('th', { scope: 'row' }, l),
        h('td', { dataset: { label: 'At training' } }, pct(trained[i])), h('td', { dataset: { label: 'Now' } }, pct(now[i]))))))));
    out.append(h('h3', 'Population stability index per day'));
    out.append(m.days.length ? daysTable(m, threshold) : h('p.hint', 'No drift counts yet.'));
    if (labels.length) {
      requestAnimationFrame(() => {
        const width = Math.max(200, box.clientWidth || 600);
        const xs = labels.map((_, i) => i);
        const plot = new uPlot({
          width, height: window.innerWidth < 600 ? 160 : 200,
          cursor: { drag: { x: false, y: false } },
          legend: { live: false },
          scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: [0, 1] } },
          axes: [{ stroke: '#555', grid: { show: false }, values: (u, v) => v.map((i) => labels[i] ?? '') },
            { stroke: '#555', grid: { stroke: '#eee' }, size: 52, values: (u, v) => v.map((x) => `${Math.round(x * 100)}%`) }],
          series: [{},
            { label: 'at training', stroke: TRAINED, fill: `${TRAINED}aa`, paths: uPlot.paths.bars({ size: [0.35, 30], align: -1 }), points: { show: false } },
            { label: 'now', stroke: NOW, fill: `${NOW}cc`, paths: uPlot.paths.bars({ size: [0.35, 30], align: 1 }), points: { show: false } }],
        }, [xs, trained, now], box);
        plots.push({ plot, box });
        ro.observe(box);
      });
    }
    return out;
  }

  return {
    el,
    async onShow() { if (!loaded) await app.run(load, status); },
  };
}

function daysTable(m, threshold) {
  const inputs = m.inputs.map((i) => i.name);
  return h('div.table-wrap', h('table.model-table.psi-table',
    h('caption.sr-only', `${m.signal}: population stability index per day`),
    h('thead', h('tr', h('th', { scope: 'col' }, 'Day'), h('th', { scope: 'col' }, 'Views'), h('th', { scope: 'col' }, 'Score PSI'),
      inputs.map((n) => h('th', { scope: 'col' }, idText(n))))),
    h('tbody', [...m.days].reverse().map((d) => h(`tr${d.warning ? '.psi-warn' : ''}`, { dataset: { day: String(d.day) } },
      h('th', { scope: 'row' }, day(d.day)),
      h('td', { dataset: { label: 'Views' } }, d.moments.toLocaleString()),
      h('td', { dataset: { label: 'Score PSI' } }, psi(d.score, threshold)),
      inputs.map((n) => h('td', { dataset: { label: n } }, psi(d.inputs[n], threshold))))))));
}

function psi(v, threshold) {
  if (v == null) return '–';
  return v > threshold ? h('strong.psi-high', `${v.toFixed(3)} ⚠`) : v.toFixed(3);
}

function binLabel(m, i) {
  if (m.kind === 'cluster') return m.labels?.[i] ?? `#${i}`;
  return `${(i / 10).toFixed(1)}–${((i + 1) / 10).toFixed(1)}`;
}

const pct = (x) => (x == null ? '–' : `${(x * 100).toFixed(1)}%`);
const day = (secs) => new Date(secs * 1000).toISOString().slice(0, 10);
