// The comparison of `make bench-edge`: the same personalization as edgeseg's
// bench rules (benches/edge/rules.json), written by hand as a JavaScript Worker
// with the runtime's HTMLRewriter. A visitor who came from a campaign
// (`utm_campaign` in the URL) gets two blocks replaced and the visitor's
// segments appended to <head>; the page is marked private. Anyone else gets
// the origin's page.
const HERO = '<h1>Welcome, campaign visitor</h1><p>Your spring offer is inside.</p>';
const OFFER = '<p><strong>15% off</strong> for the next 24 hours.</p>';
const HEAD = '<script>window.edgeseg=Object.assign(window.edgeseg||{},{segments:["campaign"]});</script>';

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const origin = await fetch(env.ORIGIN_URL + url.pathname + url.search, { headers: request.headers });
    const html = (origin.headers.get('content-type') || '').startsWith('text/html');
    if (!origin.ok || !html || !url.searchParams.has('utm_campaign')) return origin;
    const response = new Response(origin.body, origin);
    response.headers.set('cache-control', 'private, no-cache');
    response.headers.append('vary', 'Cookie');
    response.headers.delete('content-length');
    return new HTMLRewriter()
      .on('[data-edgeseg-block="hero"]', { element(el) { el.setInnerContent(HERO, { html: true }); } })
      .on('[data-edgeseg-block="offer"]', { element(el) { el.setInnerContent(OFFER, { html: true }); } })
      .on('head', { element(el) { el.onEndTag((end) => { end.before(HEAD, { html: true }); }); } })
      .transform(response);
  },
};
