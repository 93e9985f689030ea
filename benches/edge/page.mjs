// The page every edge bench and load run serves: a product listing with two
// marked blocks (hero near the top, offer in the middle).
/** A product listing page of about `size` bytes with two marked blocks. */
export function benchPage(size) {
  const card = (i) => `<article class="card"><a href="/products/p${i}"><img src="/i/${i}.svg" alt=""><h2>Product ${i}</h2></a><p class="price">$${(i * 7) % 200}.00</p><button data-edgeseg-track="add_to_cart" data-sku="SKU-${i}">Add to cart</button></article>\n`;
  let html = '<!doctype html><html><head><meta charset="utf-8"><title>Shop</title><link rel="stylesheet" href="/s.css"></head><body>\n';
  html += '<nav><a href="/">Home</a> <a href="/category/">All</a> <a href="/cart">Cart</a></nav>\n';
  html += '<section data-edgeseg-block="hero"><h1>Gear up</h1><p>Default hero</p></section>\n';
  let i = 0;
  while (html.length < size / 2) html += card(i++);
  html += '<aside data-edgeseg-block="offer"><p>Free shipping over $75</p></aside>\n';
  while (html.length < size) html += card(i++);
  html += '<script>window.dataLayer=[];</script></body></html>\n';
  return html;
}

