/*! edgeseg front-end event script. Served by the Worker at GET /__edgeseg/edgeseg.js.
 *
 *   <script src="/__edgeseg/edgeseg.js" defer></script>
 *
 * API (on window.edgeseg; merged into the object the Worker injects into <head>):
 *
 *   edgeseg.segments          Array of the visitor's segment ids for this page, as the
 *                             Worker injected them (default []). Read it, don't write it.
 *   edgeseg.visitorId         The random visitor id (32 hex) the export and webhooks
 *                             carry, for tracked visitors on sites that use them (else
 *                             null). Send it to your own backend (e.g. with a login or a
 *                             form) to link webhooks and exported records to a person:
 *                             edgeseg itself never knows who the visitor is.
 *   edgeseg.track(name, props) -> Promise
 *                             Queues {name, props, path: location.pathname}. Events queued
 *                             within 50 ms go in one POST /__edgeseg/event {"events":[...]}
 *                             (at most 20 events and 8 KB a request) sent with fetch
 *                             keepalive, so the reply's Set-Cookie (the updated visitor
 *                             state) is applied. props: only string, number, boolean and
 *                             null values are sent; others are dropped with console.warn.
 *                             Resolves when the server accepted the batch (2xx); rejects
 *                             with an Error carrying the server's {"error": message} on a
 *                             4xx (err.status is set), or on 5xx / network failure. If the
 *                             page is being hidden or unloaded the batch goes by
 *                             navigator.sendBeacon and the promise resolves once queued.
 *                             track() itself never throws, and an ignored rejection does
 *                             not surface as an unhandled rejection.
 *   edgeseg.flush() -> Promise  Sends what is queued now; settles (never rejects) when
 *                             every batch sent so far has settled.
 *
 * Auto-tracking (no code needed):
 *   <button data-edgeseg-track="add_to_cart" data-sku="NW-TR-001">   A click on the
 *     element (or inside it) tracks "add_to_cart" with props from its other data-*
 *     attributes, keyed by the attribute name without "data-": {"sku": "NW-TR-001"}.
 *     data-edgeseg-* attributes are not props. The event is sent at once with fetch
 *     keepalive, so it arrives even when the click navigates away. When the click
 *     would navigate this tab (a link, or a submit button of a form) and nothing else
 *     cancelled it, the navigation is held until the event's reply is in (at most
 *     1 s) and then replayed: the next page's request then carries the state cookie
 *     that includes the event, instead of racing it with the old cookie.
 *   <body data-edgeseg-event="purchase" data-edgeseg-prop-order="A123">   On
 *     DOMContentLoaded, tracks "purchase" once with {"order": "A123"}.
 *
 * Engagement (only when the Worker injected {engagement: 1}, i.e. for a tracked visitor
 * whose rules have an "engaged" or "scroll" signal): the time the page was visible with
 * input, scroll or pointer activity in the last 5 s, and the deepest scroll (percent of
 * the page seen). Reported once per page, when it is first hidden or left, as the
 * built-in event "engagement" {seconds, scroll} in the beacon that leaves with the page
 * (together with anything still queued: no request of its own).
 *
 * Single-page apps (README, "Single-page apps"):
 *   <script src="/__edgeseg/edgeseg.js" data-edgeseg-follow defer></script>, or
 *   edgeseg.follow()          Follow the app's client-side navigations: on pushState,
 *                             replaceState and popstate that change path or query, report
 *                             the engagement of the route left, then edgeseg.decide() the
 *                             new one. The first page is the server's (already rewritten
 *                             and counted): nothing is decided for it.
 *   edgeseg.decide(path) -> Promise<decision>
 *                             GET /__edgeseg/decide?path= (records the page view, as a page
 *                             load would), then applies each block's content to the
 *                             elements present and, for 10 s, to those that render later
 *                             (MutationObserver), with the server rewrite's meaning; undoes
 *                             the previous decision's attribute and inner changes on
 *                             elements still on the page; and reports the blocks it applied
 *                             (POST /__edgeseg/applied with the decision's signed token),
 *                             which counts impressions and exposures. Rejects on a 4xx/5xx.
 *   edgeseg.on('decision', fn) -> off()
 *                             fn(decision) after each decision is applied:
 *                             {path, segments, experiments: {key: variant}, blocks, tracked}.
 *   edgeseg.variant(key)      The variant id of experiment key (the page's, then the last decision's), or null
 *                             (also null before the first client-side decision).
 *   edgeseg.segments          Updated by every decision.
 *
 * Plain ES2017, no dependencies; loading the script twice is harmless.
 */
(function () {
  'use strict';
  var w = window;
  var d = document;
  var es = w.edgeseg;
  if (!es || typeof es !== 'object') {
    try { es = w.edgeseg = {}; } catch (e) { return; }
  }
  if (es.__edgesegLoaded) return; // second copy of the script: keep the first
  try { Object.defineProperty(es, '__edgesegLoaded', { value: true }); } catch (e) { es.__edgesegLoaded = true; }
  if (!Array.isArray(es.segments)) es.segments = [];
  if (typeof es.visitorId !== 'string') es.visitorId = null;

  var ENDPOINT = typeof es.endpoint === 'string' ? es.endpoint : '/__edgeseg/event';
  var BATCH_MS = 50;
  var HOLD_MS = 1000;
  var MAX_EVENTS = 20;
  var MAX_BYTES = 8192;
  var queue = []; // {ev, json, bytes, ok, fail}
  var timer = null;
  var inflight = [];
  // Requests whose reply sets the state cookie, and decisions under way: an event
  // batch and a decision never overlap, so neither reply's cookie overwrites the
  // other's (one would lose the other's page view or event).
  var writing = [];
  var deciding = 0;
  var lastDecision = Promise.resolve();

  function noop() {}
  function warn(msg, x) {
    try { if (w.console && console.warn) console.warn('edgeseg: ' + msg, x === undefined ? '' : x); } catch (e) { /* ignore */ }
  }
  function bytes(s) {
    return encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, '_').length;
  }
  function isScalar(v) {
    var t = typeof v;
    return v === null || t === 'string' || t === 'boolean' || (t === 'number' && isFinite(v));
  }
  function clean(props) {
    var out = {};
    if (props === undefined || props === null) return out;
    if (typeof props !== 'object' || Array.isArray(props)) {
      warn('props must be an object; ignored', props);
      return out;
    }
    Object.keys(props).forEach(function (k) {
      var v = props[k];
      if (isScalar(v)) out[k] = v;
      else warn('prop "' + k + '" is not a string, number, boolean or null; dropped', v);
    });
    return out;
  }
  function settled(p) {
    return p.then(noop, noop);
  }

  // Splits items into batches of at most MAX_EVENTS events and MAX_BYTES of body.
  function batches(items) {
    var out = [];
    var cur = [];
    var size = 0;
    var base = bytes('{"events":[]}');
    items.forEach(function (it) {
      if (cur.length && (cur.length >= MAX_EVENTS || size + it.bytes + 1 > MAX_BYTES - base)) {
        out.push(cur);
        cur = [];
        size = 0;
      }
      cur.push(it);
      size += it.bytes + (cur.length > 1 ? 1 : 0);
    });
    if (cur.length) out.push(cur);
    return out;
  }
  function body(batch) {
    return '{"events":[' + batch.map(function (it) { return it.json; }).join(',') + ']}';
  }

  function viaFetch(batch) {
    var p = fetch(ENDPOINT, {
      method: 'POST',
      keepalive: true,
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: body(batch)
    }).then(function (res) {
      if (res.ok) return undefined;
      return res.text().then(function (text) {
        var msg = text;
        try { var j = JSON.parse(text); if (j && typeof j.error === 'string') msg = j.error; } catch (e) { /* not JSON */ }
        var err = new Error('edgeseg: ' + (msg || 'HTTP ' + res.status));
        err.status = res.status;
        throw err;
      }, function () {
        var err = new Error('edgeseg: HTTP ' + res.status);
        err.status = res.status;
        throw err;
      });
    });
    batch.forEach(function (it) { p.then(it.ok, it.fail); });
    var s = settled(p);
    inflight.push(s);
    writing.push(s);
    s.then(function () { inflight.splice(inflight.indexOf(s), 1); writing.splice(writing.indexOf(s), 1); });
    return p;
  }
  function viaBeacon(batch) {
    var sent = false;
    try {
      sent = !!(navigator.sendBeacon && navigator.sendBeacon(ENDPOINT, new Blob([body(batch)], { type: 'application/json' })));
    } catch (e) { sent = false; }
    if (sent) batch.forEach(function (it) { it.ok(); });
    else viaFetch(batch);
  }

  function send(beacon) {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    if (!queue.length) return;
    if (deciding && !beacon) return; // sent when the decision is in
    var items = queue;
    queue = [];
    batches(items).forEach(function (b) {
      try {
        if (beacon || typeof fetch !== 'function') viaBeacon(b);
        else viaFetch(b);
      } catch (e) {
        b.forEach(function (it) { it.fail(e); });
      }
    });
  }

  function enqueue(name, props, now, path) {
    var it;
    var p = new Promise(function (ok, fail) {
      if (typeof name !== 'string' || !name) throw new TypeError('edgeseg: track(name, props) needs a non-empty event name');
      var ev = { name: name, props: clean(props), path: path || location.pathname };
      var json = JSON.stringify(ev);
      var size = bytes(json);
      if (size > MAX_BYTES - bytes('{"events":[]}')) throw new RangeError('edgeseg: event "' + name + '" is larger than ' + MAX_BYTES + ' bytes');
      it = { json: json, bytes: size, ok: ok, fail: fail };
    });
    p.catch(noop); // a caller that ignores the promise gets no unhandled rejection
    if (it) {
      queue.push(it);
      if (now || d.visibilityState === 'hidden') send(d.visibilityState === 'hidden');
      else if (timer === null) timer = setTimeout(function () { timer = null; send(false); }, BATCH_MS);
    }
    return p;
  }

  es.track = function track(name, props) {
    try { return enqueue(name, props, false); } catch (e) { var r = Promise.reject(e); r.catch(noop); return r; }
  };
  es.flush = function flush() {
    try { send(false); } catch (e) { /* ignore */ }
    return Promise.all(inflight.slice()).then(noop, noop);
  };

  var routeLeft = noop; // set by the engagement measurement below: (path of the route left)

  // Engagement: engaged time and deepest scroll, one report per page. Registered
  // before the leaving handlers below, so the report joins the beacon they send.
  if (es.engagement) (function () {
    var IDLE_MS = 5000;
    var ms = 0;
    var from = null; // start of the interval being counted (visible), or null
    var until = 0; // activity counts until then
    var deepest = 0;
    var sent = false;
    function clock() { return w.performance && performance.now ? performance.now() : Date.now(); }
    function tally(t) {
      if (from !== null) ms += Math.max(0, Math.min(t, until) - from);
      from = d.visibilityState === 'hidden' ? null : t;
    }
    function depth() {
      var el = d.documentElement;
      var h = Math.max(el.scrollHeight, d.body ? d.body.scrollHeight : 0);
      var p = h > 0 ? Math.round(((w.scrollY || el.scrollTop || 0) + w.innerHeight) / h * 100) : 100;
      deepest = Math.max(deepest, Math.min(100, p));
    }
    function active(e) {
      if (sent) return;
      var t = clock();
      tally(t);
      until = t + IDLE_MS;
      if (!e || e.type === 'scroll') depth();
    }
    function report(path) {
      if (sent) return;
      tally(clock());
      sent = true;
      var seconds = Math.round(ms / 1000);
      if (seconds > 0 || deepest > 0) enqueue('engagement', { seconds: seconds, scroll: deepest }, false, path);
    }
    // A client-side navigation: report the route left, and measure the next one afresh.
    routeLeft = function (path) {
      report(path);
      ms = 0; deepest = 0; sent = false; from = null; until = 0;
      active();
    };
    ['scroll', 'pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart'].forEach(function (type) {
      w.addEventListener(type, active, { capture: true, passive: true });
    });
    d.addEventListener('visibilitychange', function () { if (d.visibilityState === 'hidden') report(); else active(); });
    w.addEventListener('pagehide', function () { report(); });
    if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', function () { active(); });
    else active();
  })();

  // Leaving or hiding the page: whatever is still queued goes by beacon.
  function leaving() { try { send(true); } catch (e) { /* ignore */ } }
  d.addEventListener('visibilitychange', function () { if (d.visibilityState === 'hidden') leaving(); });
  w.addEventListener('pagehide', leaving);

  function dataProps(el, prefix) {
    var props = {};
    var attrs = el.attributes;
    for (var i = 0; i < attrs.length; i++) {
      var n = attrs[i].name;
      if (n.indexOf(prefix) !== 0) continue;
      var key = n.slice(prefix.length);
      if (!key || (prefix === 'data-' && key.indexOf('edgeseg-') === 0)) continue;
      props[key] = attrs[i].value;
    }
    return props;
  }

  // What this click would do to this tab, as a function that does it again; or null.
  function navigation(e, el) {
    if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return null;
    var self = function (t) { return !t || t.toLowerCase() === '_self'; };
    var a = el.closest('a[href]');
    if (a) {
      if (!self(a.getAttribute('target')) || a.hasAttribute('download')) return null;
      var url = new URL(a.getAttribute('href'), d.baseURI);
      if (!/^https?:$/.test(url.protocol)) return null;
      if (url.hash && url.href.split('#')[0] === location.href.split('#')[0]) return null; // same-page anchor
      return function () { location.assign(url.href); };
    }
    var b = el.closest('button, input[type="submit"], input[type="image"]');
    if (!b || b.disabled || (b.type !== 'submit' && b.type !== 'image')) return null;
    var form = b.form;
    if (!form || !self(b.getAttribute('formtarget') || form.getAttribute('target'))) return null;
    if (typeof form.requestSubmit !== 'function') return null;
    if ((b.getAttribute('formmethod') || form.getAttribute('method') || '').toLowerCase() === 'dialog') return null;
    return function () { form.requestSubmit(b); };
  }

  d.addEventListener('click', function (e) {
    try {
      var el = e.target;
      if (el && el.nodeType !== 1) el = el.parentElement;
      if (!el || !el.closest) return;
      var t = el.closest('[data-edgeseg-track]');
      if (!t) return;
      var name = t.getAttribute('data-edgeseg-track');
      if (!name) return;
      var p = enqueue(name, dataProps(t, 'data-'), true);
      var replay = navigation(e, el);
      if (!replay) return;
      // Last listener of this click (window, bubble phase): if nobody cancelled the
      // navigation, hold it until the event is in, then do it.
      var hold = function (ev) {
        w.removeEventListener('click', hold);
        if (ev !== e || e.defaultPrevented) return;
        e.preventDefault();
        var done = false;
        var go = function () {
          if (done) return;
          done = true;
          try { replay(); } catch (err) { warn('could not resume the navigation', err); }
        };
        settled(p).then(go);
        setTimeout(go, HOLD_MS);
      };
      w.addEventListener('click', hold);
      setTimeout(function () { w.removeEventListener('click', hold); }, 0);
    } catch (err) {
      warn('click tracking failed', err);
    }
  }, true);

  // Single-page apps: decisions for client-side navigations (see the header).
  var DECIDE = '/__edgeseg/decide';
  var APPLIED = '/__edgeseg/applied';
  var WATCH_MS = 10000;
  var VOID = /^(AREA|BASE|BR|COL|EMBED|HR|IMG|INPUT|LINK|META|SOURCE|TRACK|WBR)$/;
  var listeners = {};
  // The server-rendered page's variants (the Worker's head script), until a decision replaces them.
  var variants = es.variants && typeof es.variants === 'object' ? es.variants : {};
  var ours = new WeakSet(); // elements edgeseg inserted: never matched again
  var originals = new WeakMap(); // element -> {html, attrs} before a decision changed it
  var run = null; // the latest decision being applied
  var seq = 0;
  var lastRoute = location.pathname + location.search;

  function emit(type, x) {
    (listeners[type] || []).slice().forEach(function (fn) {
      try { fn(x); } catch (e) { warn('a ' + type + ' listener failed', e); }
    });
  }
  es.on = function on(type, fn) {
    if (typeof fn !== 'function') return noop;
    (listeners[type] = listeners[type] || []).push(fn);
    return function off() { var l = listeners[type]; var i = l.indexOf(fn); if (i >= 0) l.splice(i, 1); };
  };
  es.variant = function variant(key) {
    return Object.prototype.hasOwnProperty.call(variants, key) ? variants[key] : null;
  };

  function mark(nodes) {
    nodes.forEach(function (n) {
      if (n.nodeType !== 1) return;
      ours.add(n);
      var all = n.querySelectorAll('*');
      for (var i = 0; i < all.length; i++) ours.add(all[i]);
    });
  }
  function between(a, b, parent) { // the nodes after a (or from parent's first) up to b
    var out = [];
    for (var n = a ? a.nextSibling : parent.firstChild; n && n !== b; n = n.nextSibling) out.push(n);
    return out;
  }
  // The attribute value a browser reads from `name="value"` as the server writes it.
  function attrValue(v) {
    var t = d.createElement('template');
    t.innerHTML = '<i a="' + String(v).replace(/"/g, '&quot;') + '"></i>';
    return t.content.firstChild.getAttribute('a');
  }
  function remember(el) {
    if (originals.has(el)) return;
    originals.set(el, { html: el.innerHTML, attrs: {}, inserted: [] });
  }
  // One block's content on one element, as the server's rewrite does it:
  // attributes, before, inner HTML, after, then replace or remove.
  function applyTo(el, b) {
    var parent = el.parentNode;
    remember(el);
    var o = originals.get(el);
    (b.set_attributes || []).forEach(function (kv) {
      if (!(kv[0] in o.attrs)) o.attrs[kv[0]] = el.getAttribute(kv[0]);
      el.setAttribute(kv[0], attrValue(kv[1]));
    });
    var nodes;
    if (b.before != null && parent) {
      var prev = el.previousSibling;
      el.insertAdjacentHTML('beforebegin', b.before);
      nodes = between(prev, el, parent); mark(nodes); o.inserted = o.inserted.concat(nodes);
    }
    var replaced = b.outer_html != null || b.remove;
    if (b.inner_html != null && !replaced && !VOID.test(el.tagName)) {
      el.innerHTML = b.inner_html;
      mark([].slice.call(el.children));
    }
    if (b.after != null && parent) {
      var next = el.nextSibling;
      el.insertAdjacentHTML('afterend', b.after);
      nodes = between(el, next, parent); mark(nodes); o.inserted = o.inserted.concat(nodes);
    }
    if (b.outer_html != null && parent) {
      var before = el.previousSibling, after = el.nextSibling;
      el.outerHTML = b.outer_html;
      mark(between(before, after, parent));
    } else if (b.remove) {
      el.remove();
    }
  }
  // Puts back what an earlier decision changed on an element still on the page.
  function restore(el) {
    var o = originals.get(el);
    if (!o) return;
    originals.delete(el);
    o.inserted.forEach(function (n) { if (n.parentNode) n.parentNode.removeChild(n); });
    if (!el.isConnected) return;
    Object.keys(o.attrs).forEach(function (k) {
      if (o.attrs[k] === null) el.removeAttribute(k); else el.setAttribute(k, o.attrs[k]);
    });
    if (el.innerHTML !== o.html) el.innerHTML = o.html;
  }

  function Run(dec) {
    this.dec = dec;
    this.done = new WeakSet();
    this.changed = [];
    this.shown = [];
    this.unsent = [];
    this.timer = null;
  }
  // Applies the blocks to every matching element not handled yet; queues the report.
  Run.prototype.scan = function () {
    var self = this;
    var now = [];
    (self.dec.blocks || []).forEach(function (b) {
      var els;
      try { els = d.querySelectorAll(b.selector || '[data-edgeseg-block="' + b.id + '"]'); } catch (e) { return; }
      for (var i = 0; i < els.length; i++) {
        var el = els[i];
        if (ours.has(el) || self.done.has(el) || !el.isConnected) continue;
        self.done.add(el);
        try { applyTo(el, b); } catch (e) { warn('block "' + b.id + '" could not be applied', e); continue; }
        self.changed.push(el);
        now.push([b, el]);
      }
    });
    // Shown, as the server counts it: unless a later block replaced what this one changed.
    now.forEach(function (x) {
      var b = x[0];
      if (!x[1].isConnected && b.outer_html == null && !b.remove) return;
      if (self.shown.indexOf(b.id) < 0) { self.shown.push(b.id); self.unsent.push(b.id); }
    });
    if (self.unsent.length && self.timer === null) self.timer = setTimeout(function () { self.timer = null; self.report(); }, BATCH_MS);
  };
  Run.prototype.report = function () {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    var blocks = this.unsent;
    this.unsent = [];
    if (!blocks.length || !this.dec.token) return;
    var p = fetch(APPLIED, {
      method: 'POST',
      keepalive: true,
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: this.dec.token, blocks: blocks })
    }).then(function (res) { if (!res.ok && res.status !== 409) warn('the applied-blocks report was refused: HTTP ' + res.status); }, noop);
    inflight.push(p);
    p.then(function () { inflight.splice(inflight.indexOf(p), 1); });
  };
  Run.prototype.watch = function () {
    var self = this;
    if (typeof MutationObserver !== 'function') return;
    var queued = false;
    self.observer = new MutationObserver(function () {
      if (queued) return;
      queued = true;
      Promise.resolve().then(function () { queued = false; if (self.observer) self.scan(); });
    });
    self.observer.observe(d.documentElement, { childList: true, subtree: true });
    self.stopTimer = setTimeout(function () { self.stop(); }, WATCH_MS);
  };
  Run.prototype.stop = function () {
    if (this.observer) { this.observer.disconnect(); this.observer = null; }
    clearTimeout(this.stopTimer);
    this.report();
  };

  function start(dec) {
    var prev = run;
    if (prev) {
      prev.stop();
      prev.changed.forEach(restore);
    }
    run = new Run(dec);
    if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', function () { if (run && run.dec === dec) run.scan(); });
    else run.scan();
    run.watch();
  }

  es.decide = function decide(path) {
    var n = ++seq;
    // The route changed: the last decision applies to nothing that renders from now on.
    if (run) run.stop();
    path = path == null ? location.pathname + location.search : String(path);
    var url = DECIDE + '?path=' + encodeURIComponent(path);
    deciding++;
    // After the event batches in flight and the decision before (a quick second
    // navigation), so each request carries the cookie the one before set.
    var prior = Promise.race([Promise.all(writing.concat(lastDecision)), new Promise(function (ok) { setTimeout(ok, HOLD_MS); })]);
    var p = prior.then(function () {
      return fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } });
    }).then(function (res) {
      return res.json().then(function (j) {
        if (!res.ok) { var err = new Error('edgeseg: ' + (j && j.error || 'HTTP ' + res.status)); err.status = res.status; throw err; }
        return j;
      });
    }).then(function (dec) {
      if (n !== seq) return dec; // a newer navigation asked since: its answer applies
      if (Array.isArray(dec.segments)) es.segments = dec.segments;
      variants = dec.experiments && typeof dec.experiments === 'object' ? dec.experiments : {};
      start(dec);
      emit('decision', dec);
      return dec;
    });
    var done = function () { deciding--; if (!deciding) send(false); };
    p.then(done, done);
    lastDecision = settled(p);
    return p;
  };

  function navigated() {
    var now = location.pathname + location.search;
    if (now === lastRoute) return; // a hash change or a state update on the same page
    var left = lastRoute;
    lastRoute = now;
    try { routeLeft(left.split('?')[0]); } catch (e) { warn('engagement report failed', e); }
    es.decide(now).catch(function (e) { warn('decide failed; the route keeps its default content', e); });
  }
  var following = false;
  es.follow = function follow() {
    if (following) return;
    following = true;
    ['pushState', 'replaceState'].forEach(function (m) {
      var orig = history[m];
      if (typeof orig !== 'function') return;
      history[m] = function () {
        var r = orig.apply(this, arguments);
        try { navigated(); } catch (e) { warn('following ' + m + ' failed', e); }
        return r;
      };
    });
    w.addEventListener('popstate', navigated);
  };
  var me = d.currentScript;
  if (me && me.hasAttribute('data-edgeseg-follow')) es.follow();

  function pageEvent() {
    try {
      var body = d.body;
      var name = body && body.getAttribute('data-edgeseg-event');
      if (name) es.track(name, dataProps(body, 'data-edgeseg-prop-'));
    } catch (e) { warn('page event failed', e); }
  }
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', pageEvent);
  else pageEvent();
})();
