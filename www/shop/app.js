/* The express shop: a single-page app in plain JavaScript, no framework.
 *
 * Its routes are the store's own URLs: /shop/ (home) and /products/... (a
 * product). Links marked data-route change the view with history.pushState,
 * without loading a page; back and forward re-render from popstate. A reload
 * or a shared link gets the server-rendered page of the same URL.
 *
 * edgeseg follows the navigations by itself (the data-edgeseg-follow
 * attribute on its script tag): it asks /__edgeseg/decide for each route and
 * fills the marked blocks (data-edgeseg-block) as they render, including the
 * product's call to action, which this app renders late (after a simulated
 * data fetch). The app only listens to edgeseg.on('decision') to show the
 * visitor's segments in the strip under the header.
 */
(function () {
  'use strict';
  var PRODUCTS = [
    { path: '/products/trail-runner', name: 'Ridgeline Trail Runner', cat: 'footwear', catName: 'Footwear', price: '$129', sku: 'NW-TR-001', img: 'trail-runner',
      desc: 'A light, grippy trail shoe with a rock plate and a roomy toe box for long days on technical ground.' },
    { path: '/products/daypack-28', name: 'Cascade 28L Daypack', cat: 'packs', catName: 'Packs', price: '$89', sku: 'NW-DP-028', img: 'daypack-28',
      desc: "Carries a full day's kit with a ventilated back panel, hip-belt pockets and a hydration sleeve." },
    { path: '/products/down-jacket', name: 'Alpine Down Jacket', cat: 'clothing', catName: 'Clothing', price: '$219', sku: 'NW-DJ-210', img: 'down-jacket',
      desc: 'Warm, packable 800-fill down for cold belays, dawn starts and camp evenings.' },
    { path: '/products/camp-mug', name: 'Titanium Camp Mug', cat: 'camp-kitchen', catName: 'Camp kitchen', price: '$29', sku: 'NW-MG-450', img: 'camp-mug',
      desc: 'A 450 ml titanium mug that doubles as a pot: folding handles, measuring marks and a lid.' },
    { path: '/products/new/summit-shell', name: 'Summit Shell Jacket', cat: 'clothing', catName: 'Clothing', price: '$249', sku: 'NW-SS-300', img: 'summit-shell',
      desc: 'Our new three-layer waterproof shell: fully taped, pit zips, and a helmet-compatible hood.' },
    { path: '/products/new/ember-lantern', name: 'Ember Rechargeable Lantern', cat: 'camp-kitchen', catName: 'Camp kitchen', price: '$49', sku: 'NW-EL-060', img: 'ember-lantern',
      desc: 'New for this season: a 300-lumen lantern with warm-white mode that also charges your phone.' }
  ];
  // How long the product view "fetches" before its details (and the cta block) render.
  var LOAD_MS = 250;
  var view = document.querySelector('[data-spa-view]');
  var status = document.querySelector('[data-spa-status]');
  var token = 0;

  function card(p) {
    return '<li class="card"><a href="' + p.path + '" data-route>' +
      '<img src="/images/products/' + p.img + '.svg" alt="' + p.name + '" width="320" height="240" loading="lazy">' +
      '<span class="card-cat">' + p.catName + '</span><span class="card-name">' + p.name + '</span>' +
      '<span class="card-price">' + p.price + '</span></a></li>';
  }
  function grid(list) { return list.map(card).join(''); }

  function home() {
    return '<aside class="offer" data-edgeseg-block="offer">' +
      '<p><strong>Free shipping</strong> on orders over $75 &middot; 30-day returns &middot; Free repairs for life</p></aside>' +
      '<section class="hero"><div class="wrap hero-row"><div class="hero-copy" data-edgeseg-block="hero">' +
      '<p class="eyebrow">Express shop</p><h1>Everything for the trail, one tap away</h1>' +
      '<p>Browse our favourites without waiting for pages to load.</p>' +
      '<a class="btn" href="/products/trail-runner" data-route>Start with the trail runner</a></div>' +
      '<div class="hero-art"><img src="/images/hero.svg" alt="" width="480" height="320"></div></div></section>' +
      '<section class="wrap section"><div class="section-head"><h2>Trail favourites</h2></div>' +
      '<ul class="grid" data-spa-grid>' + grid(PRODUCTS) + '</ul></section>';
  }

  function product(p) {
    return '<aside class="offer" data-edgeseg-block="offer">' +
      '<p><strong>Free shipping</strong> on orders over $75 &middot; 30-day returns &middot; Free repairs for life</p></aside>' +
      '<section class="wrap section product">' +
      '<nav class="crumbs" aria-label="Breadcrumb"><a href="/shop/" data-route>Express shop</a> / <span>' + p.name + '</span></nav>' +
      '<div class="product-row" data-spa-product><p class="spa-loading">Loading ' + p.name + '&hellip;</p></div></section>' +
      '<section class="wrap section"><div class="section-head"><h2>You might also like</h2></div>' +
      '<ul class="grid">' + grid(PRODUCTS.filter(function (q) { return q !== p; }).slice(0, 3)) + '</ul></section>';
  }
  function details(p) {
    return '<div class="product-media"><img src="/images/products/' + p.img + '.svg" alt="' + p.name + '" width="640" height="480"></div>' +
      '<div class="product-info"><p class="eyebrow">' + p.catName + '</p><h1>' + p.name + '</h1>' +
      '<p class="price">' + p.price + '</p><p>' + p.desc + '</p>' +
      '<p><button class="btn btn-big" type="button" data-edgeseg-track="add_to_cart" data-sku="' + p.sku + '" data-category="' + p.cat + '" data-spa-add>Add to cart</button></p>' +
      '<div class="cta" data-edgeseg-block="cta"><p><strong>Need a hand choosing?</strong> Our gear specialists reply within the hour.</p>' +
      '<a class="btn btn-ghost" href="/shop/" data-route>Compare similar gear</a></div>' +
      '<p class="sku">SKU ' + p.sku + '</p></div>';
  }

  function find(path) {
    for (var i = 0; i < PRODUCTS.length; i++) if (PRODUCTS[i].path === path) return PRODUCTS[i];
    return null;
  }
  function isRoute(path) { return path === '/shop/' || find(path) !== null; }

  function render(path) {
    var mine = ++token;
    var p = find(path);
    if (!p) {
      view.innerHTML = home();
      document.title = 'Express shop | Northwind Outfitters';
    } else {
      view.innerHTML = product(p);
      document.title = p.name + ' | Express shop';
      setTimeout(function () {
        if (mine !== token) return; // left the route meanwhile
        view.querySelector('[data-spa-product]').innerHTML = details(p);
      }, LOAD_MS);
    }
    window.scrollTo(0, 0);
  }

  document.addEventListener('click', function (e) {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    var add = e.target.closest && e.target.closest('[data-spa-add]');
    if (add) {
      add.insertAdjacentHTML('afterend', '<span class="spa-added"> Added to your cart</span>');
      add.disabled = true;
      return;
    }
    var a = e.target.closest && e.target.closest('a[data-route]');
    if (!a) return;
    var url = new URL(a.href);
    if (url.origin !== location.origin || !isRoute(url.pathname)) return;
    e.preventDefault();
    if (url.pathname + url.search === location.pathname + location.search) return;
    history.pushState({ spa: true }, '', url.pathname + url.search);
    render(url.pathname);
  });
  window.addEventListener('popstate', function () {
    if (isRoute(location.pathname)) render(location.pathname);
    else location.reload();
  });

  function showSegments(list) {
    status.textContent = list && list.length
      ? 'Your segments: ' + list.join(', ') + ' (decided for this route, no reload)'
      : 'No segment yet: view three products and come back to the shop.';
  }
  if (window.edgeseg && typeof edgeseg.on === 'function') {
    edgeseg.on('decision', function (d) { showSegments(d.segments); });
    showSegments(edgeseg.segments);
  }

  if (location.pathname === '/shop/') {
    // The first view came from the server (already personalized): only the grid is ours.
    view.querySelector('[data-spa-grid]').innerHTML = grid(PRODUCTS);
  } else {
    render(location.pathname);
  }
})();
