// The demo store's order (README, "Events from the site's server"). In a real
// shop the backend that takes the payment sends the purchase to edgeseg,
// signed; the page never does, since a browser can send any total. Here the
// page asks the example backend (`node examples/shop-backend.mjs`, beside
// `make dev`) to place the demo order, and the backend sends the purchase.
// The shopper's next page counts it.
(function () {
  var note = document.getElementById('demo-order');
  var visitor = window.edgeseg && window.edgeseg.visitorId;
  var backend = document.body.getAttribute('data-demo-backend') || 'http://127.0.0.1:8790';
  function say(text) { note.textContent = text; note.hidden = false; }
  if (!visitor) { say('Demo: this visitor is not tracked, so no purchase is recorded.'); return; }
  fetch(backend + '/checkout', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ visitor: visitor }),
  }).then(function (r) { return r.json(); }).then(function (b) {
    if (b.order && b.edgeseg && b.edgeseg.status === 202) {
      document.getElementById('order-number').textContent = b.order.id;
      say('Demo: the shop backend placed order ' + b.order.id + ' ($' + b.order.value.toFixed(2) + ') and sent the signed purchase to edgeseg; your next page counts it.');
    } else {
      say('Demo: the shop backend could not record the purchase: ' + JSON.stringify(b.edgeseg ? b.edgeseg.body : b));
    }
  }).catch(function () {
    say('Demo: start the example shop backend (node examples/shop-backend.mjs) to record this purchase.');
  });
})();
