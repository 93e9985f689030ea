// The baseline of `make bench-edge`: a JavaScript Worker that fetches the page
// from the origin and returns it untouched. What edgeseg and the JS
// personalizing Worker add is measured against this.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN_URL + url.pathname + url.search, { headers: request.headers });
  },
};
