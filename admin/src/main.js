// The edgeseg admin page: sign in with the admin token, then the tabs —
// Rules (editor), Segments and Signals (the workbench), Versions, Simulate, Stats, Cache, Experiments. Everything talks to api/ beside the page.
import './style.css';
import { EditorView } from '@codemirror/view';
import { token, whoami, AuthError, ApiError } from './api.js';
import { h, identityName } from './ui.js';
import { rulesView } from './rules.js';
import { versionsView } from './versions.js';
import { simulateView } from './simulate.js';
import { statsView } from './stats.js';
import { experimentsView } from './experiments.js';
import { modelsView } from './models.js';
import { segmentsView, signalsView } from './workbench.js';
import { cacheView } from './cache.js';
import { pickView } from './pick.js';
import { settingsView } from './settings.js';

const TABS = [
  ['rules', 'Rules'],
  ['segments', 'Segments'],
  ['signals', 'Signals'],
  ['versions', 'Versions'],
  ['simulate', 'Simulate'],
  ['stats', 'Stats'],
  ['cache', 'Cache'],
  ['experiments', 'Experiments'],
  ['pick', 'Pick'],
  ['settings', 'Settings'],
  ['models', 'Models'],
];

const root = document.getElementById('app');
let app = null;

function signInView(message) {
  const input = h('input#token', { type: 'password', name: 'token', autocomplete: 'current-password', required: true, placeholder: 'the EDGESEG_ADMIN_TOKEN secret' });
  const msg = h('p.status.status-error#signin-message', { role: 'alert', hidden: !message }, message || '');
  const button = h('button.primary#signin-button', { type: 'submit' }, 'Sign in');
  const form = h('form.signin-card#signin', { autocomplete: 'on' },
    h('h1', h('span.logo', 'edgeseg'), ' admin'),
    h('p', 'Sign in with the admin token. It is kept in this tab only (session storage) and sent with each request.'),
    h('label', h('span', 'Admin token'), input),
    button, msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t = input.value.trim();
    if (!t) return;
    button.disabled = true;
    msg.hidden = true;
    token.set(t);
    try {
      await start();
    } catch (e) {
      token.clear();
      msg.textContent = e instanceof AuthError || e instanceof ApiError ? e.message : `Could not sign in: ${e.message}`;
      msg.hidden = false;
      button.disabled = false;
      input.select();
    }
  });
  root.replaceChildren(h('main.signin', form));
  input.focus();
}

/** Builds the signed-in app and loads the rules; throws (AuthError, ApiError) when it cannot. */
async function start() {
  const me = await whoami(); // checks the token (or the Access session), too
  const ctx = {
    me,
    can: me.can,
    reason: me.reason,
    doc: { exists: false, revision: null },
    go,
    setRevision: (r) => { revBadge.textContent = r === null ? 'no rules yet' : `revision ${r}`; },
    // After a save or rollback: the version list, and the experiments the rules now have.
    invalidateVersions: () => { views.versions.invalidate(); views.experiments.invalidate(); },
    signOut,
    /** Runs an action; auth failures sign out, other failures go to the view's status line. */
    async run(fn, status) {
      try {
        return await fn();
      } catch (e) {
        if (e instanceof AuthError) return signOut(e.message);
        console.error(e);
        status?.set('error', e.message || String(e));
        return undefined;
      }
    },
  };
  const revBadge = h('span.badge#revision-badge', '');
  const nav = h('nav.tabs', { role: 'tablist', 'aria-label': 'Sections' }, TABS.map(([id, label]) => h('a.tab', {
    href: `#${id}`, id: `tab-${id}`, role: 'tab', dataset: { tab: id },
  }, label)));
  const viaAccess = me.identity.kind !== 'service';
  const header = h('header.top',
    h('div.brand', h('span.logo', 'edgeseg'), h('span.brand-sub', 'admin')),
    nav,
    whoPanel(me),
    h('div.session', revBadge,
      viaAccess
        // Cloudflare Access owns the session: its logout ends it.
        ? h('a.button.secondary.small#signout', { href: '/cdn-cgi/access/logout' }, 'Sign out')
        : h('button.secondary.small#signout', { type: 'button', onclick: () => signOut('Signed out.') }, 'Sign out')));
  const main = h('main.content');
  const views = {};
  ctx.rules = views.rules = rulesView(ctx);
  views.segments = segmentsView(ctx);
  views.signals = signalsView(ctx);
  views.versions = versionsView(ctx);
  views.simulate = simulateView(ctx);
  views.stats = statsView(ctx);
  views.cache = cacheView(ctx);
  views.experiments = experimentsView(ctx);
  views.pick = pickView(ctx);
  views.settings = settingsView(ctx);
  views.models = modelsView(ctx);
  for (const v of Object.values(views)) main.append(v.el);

  await views.rules.load();
  root.replaceChildren(header, main);
  app = { ctx, views, nav };
  window.addEventListener('hashchange', route);
  route();

  function go(tab) { if (location.hash !== `#${tab}`) location.hash = tab; else route(); }
  return app;
}

/** Who is signed in, with a panel of what their role allows and what it does not (and why). */
function whoPanel(me) {
  const { identity } = me;
  const how = identity.kind === 'person' ? 'signed in through Cloudflare Access' : identity.kind === 'service' ? 'the admin token' : 'an Access service token';
  return h('details.who#whoami',
    h('summary', { title: `${identity.id}: ${how}` }, h('span.who-id#who-id', identityName(identity)), ' ', h('span.badge.badge-role#who-role', identity.role)),
    h('div.who-panel#who-panel',
      h('p', h('strong', identity.id), h('br'), `${how}; role: ${identity.role}`,
        identity.groups?.length ? ` · groups: ${identity.groups.join(', ')}` : ''),
      h('ul.who-actions', me.actions.map((a) => h('li', { class: a.allowed ? 'can' : 'cannot', dataset: { action: a.action } },
        h('span.mark', { 'aria-hidden': 'true' }, a.allowed ? '✓' : '✕'), ' ',
        a.allowed ? `You can ${a.what}` : `You can’t ${a.what} (needs ${a.needs === 'editor' ? 'an editor' : `a ${a.needs}`})`)))));
}

function route() {
  if (!app) return;
  const id = (location.hash.slice(1) || 'rules');
  const tab = TABS.some(([t]) => t === id) ? id : 'rules';
  for (const [t] of TABS) {
    const on = t === tab;
    app.views[t].el.hidden = !on;
    const a = app.nav.querySelector(`[data-tab="${t}"]`);
    a.setAttribute('aria-selected', String(on));
    if (on) a.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }
  document.title = `${TABS.find(([t]) => t === tab)[1]} · edgeseg admin`;
  app.views[tab].onShow?.();
}

function signOut(message) {
  token.clear();
  window.removeEventListener('hashchange', route);
  app = null;
  signInView(message);
}

window.addEventListener('beforeunload', (ev) => {
  if (app && app.views.rules.isDirty()) { ev.preventDefault(); ev.returnValue = ''; }
});

// A test hook: lets browser tests select text in the editor before typing over it.
window.edgesegAdmin = {
  get editor() { return app ? app.views.rules.editor : null; },
  get shared() { return app ? app.ctx.shared : null; },
  scrollTo: (pos) => EditorView.scrollIntoView(pos, { y: 'center' }),
};

if (token.get()) {
  start().catch((e) => { token.clear(); signInView(e.message); });
} else {
  // Behind Cloudflare Access the browser is signed in already: try that first.
  start().catch((e) => signInView(e instanceof AuthError && e.status === 401 ? '' : e.message));
}
