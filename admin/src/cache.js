// The Cache tab: the origin cache's hit ratio over the last 24 h (api/stats) and
// purges (POST api/purge) of one path or of everything.
import { call } from './api.js';
import { h, statusLine } from './ui.js';
import { gate } from './drafts.js';
import { describeFreshness } from './freshness.js';

export function cacheView(app) {
  const ratio = h('strong#cache-ratio', '—');
  const counts = h('span.meta-more#cache-counts', '');
  const status = statusLine('cache-status');
  const fresh = h('p.hint#cache-freshness', '');
  const path = h('input#purge-path', { name: 'path', placeholder: '/products/boots', autocomplete: 'off', required: true, pattern: '/.*' });
  const form = h('form.cache-form#purge-form', { novalidate: true },
    h('label', h('span', 'Path'), path),
    h('div.actions',
      gate(app, h('button.primary#purge-path-button', { type: 'submit' }, 'Purge path'), 'purge'),
      gate(app, h('button.secondary#purge-all-button', { type: 'button', onclick: () => app.run(purgeAll, status) }, 'Purge everything'), 'purge')),
    app.can('purge') ? null : h('p.hint.role-note', app.reason('purge')),
    h('p.hint', 'A path purges every query variant of it. Other locations see a purge within about a minute.'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!path.value.trim().startsWith('/')) {
      status.set('error', 'A path starts with “/”, like /products/boots.');
      return;
    }
    app.run(() => purge({ path: path.value.trim() }), status);
  });
  // The rules in the editor turn it on, yet the Worker says off: no ORIGIN_URL (or not in force yet).
  const noOrigin = h('div.status.status-info#cache-no-origin', { hidden: true },
    h('strong', 'The rules turn the origin cache on, but this Worker does not use it'),
    ': it has no ORIGIN_URL (it serves the www/ pages itself, which are never put in this cache), or the saved rules are not in force yet (within refresh_seconds).');
  const off = h('div.status.status-info#cache-off', { hidden: true },
    h('strong', 'The origin cache is off'), ': every page is fetched from the origin, so nothing is cached and there is nothing to purge. ',
    'Turn it on in ', h('a#cache-settings-link', { href: '#settings', onclick: () => { app.settingsFocus = 'origin-cache'; } }, 'Settings → Origin cache'),
    ' (or in the rules with ', h('code', '"settings": {"origin_cache": {"enabled": true}}'),
    '; README, “Origin cache”): pages the origin marks cacheable are then kept at the edge and personalized after the cache.');
  const el = h('section.view#view-cache', { 'aria-labelledby': 'tab-cache', hidden: true },
    h('div.toolbar', h('div.toolbar-meta', h('strong', 'Origin cache'), h('span.meta-more', ' · hit ratio, last 24 h: '), ratio, counts)),
    fresh, off, noOrigin, status.el, h('section.card', form));

  /** Whether the rules in force have the origin cache on (the health endpoint, no token); null if unknown. */
  async function cacheEnabled() {
    try {
      const res = await fetch(new URL('../health', window.location.href), { cache: 'no-store' });
      const enabled = res.ok ? (await res.json())?.origin_cache?.enabled : undefined;
      return typeof enabled === 'boolean' ? enabled : null;
    } catch { return null; }
  }

  async function load() {
    const enabled = await cacheEnabled();
    const inRules = app.shared?.read().doc?.settings?.origin_cache?.enabled === true;
    off.hidden = enabled !== false || inRules;
    noOrigin.hidden = enabled !== false || !inRules;
    // A role that may not purge keeps its own reason (gate); otherwise the cache being off is the reason.
    if (app.can('purge')) {
      for (const b of form.querySelectorAll('button')) {
        b.disabled = enabled === false;
        b.title = enabled === false ? 'The origin cache is off: there is nothing to purge' : '';
      }
    }
    const r = await call('GET', 'stats');
    const c = r.body?.origin_cache;
    ratio.textContent = c && c.hit_ratio !== null && c.hit_ratio !== undefined ? `${(c.hit_ratio * 100).toFixed(1)} %` : '—';
    counts.textContent = c ? ` (${c.hits.toLocaleString()} hits, ${c.misses.toLocaleString()} misses)` : '';
    fresh.textContent = describeFreshness(r.body?.freshness);
  }

  async function purge(body) {
    status.set('busy', 'Purging…');
    const r = await call('POST', 'purge', { body });
    status.set('ok', r.body.purged === 'everything' ? 'Purged everything.' : `Purged ${r.body.purged}.`);
  }

  async function purgeAll() {
    if (!window.confirm('Purge every cached page? The origin will be asked for each page again.')) return;
    await purge({ all: true });
  }

  return { el, onShow: () => app.run(load, status) };
}
