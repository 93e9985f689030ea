(function(){
/* edgeseg "Pick on page": the picker the Worker adds to a page served in pick mode
   (README, "Picking blocks on the page"). The page runs sandboxed, with an opaque origin:
   this script can not reach the admin page, only post it messages. It outlines the element
   under the pointer, describes a clicked element (its ancestor chain) to the admin page,
   and, on the admin page's request, outlines a selector's matches and shows content in
   place. Clicks and form submissions are stopped: picking never navigates or buys. */
if (window.parent === window) return;
var P = window.parent, ORIGIN = location.protocol + '//' + location.host;
var KEEP = ['itemprop', 'name', 'role', 'for', 'aria-labelledby'];
var hover = null, marks = [], undo = [];
function box(color) {
  var d = document.createElement('div');
  d.setAttribute('data-edgeseg-pick', '');
  d.style.cssText = 'position:absolute;pointer-events:none;z-index:2147483647;box-sizing:border-box;border:2px solid ' + color + ';background:' + color + '1f;border-radius:2px;display:none';
  document.documentElement.appendChild(d);
  return d;
}
function place(d, el) {
  var r = el.getBoundingClientRect();
  d.style.left = (r.left + window.scrollX) + 'px'; d.style.top = (r.top + window.scrollY) + 'px';
  d.style.width = r.width + 'px'; d.style.height = r.height + 'px'; d.style.display = 'block';
}
function ours(el) { return el && el.hasAttribute && el.hasAttribute('data-edgeseg-pick'); }
function describe(el) {
  var path = [];
  for (var n = el; n && n.nodeType === 1; n = n.parentElement) {
    var attrs = {}, i, a, nth = 1, ofType = 0, s;
    for (i = 0; i < n.attributes.length; i++) {
      a = n.attributes[i];
      if (a.name.indexOf('data-') === 0 || KEEP.indexOf(a.name) >= 0) attrs[a.name] = a.value.slice(0, 200);
    }
    if (n.parentElement) {
      for (s = n.parentElement.firstElementChild; s; s = s.nextElementSibling) {
        if (s.tagName === n.tagName) { ofType++; if (s === n) nth = ofType; }
      }
    } else ofType = 1;
    path.unshift({ tag: n.tagName.toLowerCase(), id: n.id || '', classes: [].slice.call(n.classList, 0, 12), attrs: attrs, nth: nth, ofType: ofType });
  }
  return path;
}
function send(msg) { msg.edgesegPick = 1; P.postMessage(msg, ORIGIN); }
document.addEventListener('mouseover', function (e) {
  var t = e.target;
  if (!t || ours(t) || t === document.documentElement || t === document.body) return;
  hover = hover || box('#2563eb');
  place(hover, t);
}, true);
function stop(e) { e.preventDefault(); e.stopPropagation(); e.stopImmediatePropagation(); }
document.addEventListener('click', function (e) {
  stop(e);
  var t = e.target;
  if (!t || t.nodeType !== 1 || ours(t)) return;
  send({ type: 'pick', path: describe(t), text: (t.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 200), html: t.outerHTML.slice(0, 20000), inner: t.innerHTML.slice(0, 20000) });
}, true);
document.addEventListener('submit', stop, true);
document.addEventListener('auxclick', stop, true);
function matches(sel) { try { return [].slice.call(document.querySelectorAll(sel), 0, 200); } catch (x) { return []; } }
function restore() { while (undo.length) undo.pop()(); }
function apply(sel, c) {
  restore();
  matches(sel).forEach(function (el) {
    if (c.remove) { var ph = document.createComment('edgeseg'); el.replaceWith(ph); undo.push(function () { ph.replaceWith(el); }); return; }
    var first = el, last = el;
    if (typeof c.outer_html === 'string') {
      var t = document.createElement('template'); t.innerHTML = c.outer_html;
      var ph = document.createComment('edgeseg'), made = [].slice.call(t.content.childNodes);
      el.replaceWith(ph); ph.after.apply(ph, made);
      first = ph; last = made.length ? made[made.length - 1] : ph;
      undo.push(function () { made.forEach(function (x) { x.remove(); }); ph.replaceWith(el); });
    } else {
      if (typeof c.inner_html === 'string') { var old = el.innerHTML; el.innerHTML = c.inner_html; undo.push(function () { el.innerHTML = old; }); }
      Object.keys(c.set_attributes || {}).forEach(function (k2) {
        if (/^on/i.test(k2)) return;
        var had = el.getAttribute(k2); el.setAttribute(k2, c.set_attributes[k2]);
        undo.push(function () { if (had === null) el.removeAttribute(k2); else el.setAttribute(k2, had); });
      });
    }
    ['before', 'after'].forEach(function (w) {
      if (typeof c[w] !== 'string') return;
      var t2 = document.createElement('template'); t2.innerHTML = c[w];
      var nodes = [].slice.call(t2.content.childNodes);
      if (w === 'before') first.before.apply(first, nodes); else last.after.apply(last, nodes);
      undo.push(function () { nodes.forEach(function (x) { x.remove(); }); });
    });
  });
}
window.addEventListener('message', function (e) {
  var m = e.data;
  if (e.source !== P || e.origin !== ORIGIN || !m || m.edgesegPick !== 1) return;
  if (m.type === 'highlight') {
    marks.forEach(function (d) { d.remove(); }); marks = [];
    matches(String(m.selector || '')).slice(0, 50).forEach(function (el) { var d = box('#16a34a'); place(d, el); marks.push(d); });
    if (marks[0] && m.scroll) marks[0].scrollIntoView({ block: 'center' });
  } else if (m.type === 'apply') {
    marks.forEach(function (d) { d.remove(); }); marks = [];
    if (hover) hover.style.display = 'none';
    if (m.content) apply(String(m.selector || ''), m.content); else restore();
  }
});
send({ type: 'ready', path: location.pathname });
})();
