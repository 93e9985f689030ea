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
    s.then(function () { inflight.splice(inflight.indexOf(s), 1); });
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

  function enqueue(name, props, now) {
    var it;
    var p = new Promise(function (ok, fail) {
      if (typeof name !== 'string' || !name) throw new TypeError('edgeseg: track(name, props) needs a non-empty event name');
      var ev = { name: name, props: clean(props), path: location.pathname };
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
    function report() {
      if (sent) return;
      tally(clock());
      sent = true;
      var seconds = Math.round(ms / 1000);
      if (seconds > 0 || deepest > 0) enqueue('engagement', { seconds: seconds, scroll: deepest }, false);
    }
    ['scroll', 'pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart'].forEach(function (type) {
      w.addEventListener(type, active, { capture: true, passive: true });
    });
    d.addEventListener('visibilitychange', function () { if (d.visibilityState === 'hidden') report(); else active(); });
    w.addEventListener('pagehide', report);
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
