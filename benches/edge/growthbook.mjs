// The cold-start comparison of `make bench-edge`: GrowthBook's edge app for
// Cloudflare Workers (@growthbook/edge-cloudflare, a dev dependency), as its
// README deploys it, proxying the same local origin (PROXY_TARGET). It is
// given an empty feature payload so it never calls GrowthBook's API: the bench
// runs offline, and what is timed is the app's own start and first page.
// run.mjs bundles it with esbuild (workerd does not resolve npm packages).
import { handleRequest } from '@growthbook/edge-cloudflare';

const PAYLOAD = { features: {}, experiments: [] };

export default {
  async fetch(request, env) {
    return handleRequest(request, env, { payload: PAYLOAD });
  },
};
