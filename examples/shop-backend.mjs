// A stand-in for a shop's backend sending signed events to edgeseg
// (README, "Events from the site's server").
//
// A browser can send anything, so what carries value (a purchase and its
// total) comes from the backend that took the payment: it POSTs
//   POST /__edgeseg/server-events
//   X-Edgeseg-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//   {"visitor": "<edgeseg.visitorId>", "events": [{"id": "<order id>", "name": "purchase", "props": {"value": 129}}]}
// signed with EDGESEG_SERVER_EVENTS_SECRET, the same scheme as the webhooks
// edgeseg sends (examples/verify-webhook.mjs). The Worker keeps the events for
// the visitor's next page. Use a fresh `t` for every attempt and keep the
// event ids: a retry then counts once.
//
// Node 18+ (node:crypto, fetch); the same steps work in any language.
//
// Run it beside `make dev` (it reads the secret from .dev.vars):
//   node examples/shop-backend.mjs                  the demo store's checkout backend on :8790
//   node examples/shop-backend.mjs send VISITOR_ID  one signed $129 purchase for that visitor
// Options: --worker http://127.0.0.1:8787, --port 8790.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The X-Edgeseg-Signature value for `rawBody` signed at `t` (unix seconds). */
export function signatureHeader(secret, rawBody, t = Math.floor(Date.now() / 1000)) {
  const v1 = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

/**
 * Sends events for a visitor, signed now. Returns { status, body }: 202 when
 * stored (body.stored, body.duplicates), 401 for a bad signature, 403 for an
 * event the rules do not take from the server, 400 for a bad body or a value
 * out of bounds (body.property), 429 when too many wait for the visitor.
 */
export async function sendServerEvents(workerUrl, secret, visitor, events, { t } = {}) {
  const body = JSON.stringify({ visitor, events });
  const res = await fetch(`${workerUrl}/__edgeseg/server-events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-edgeseg-signature': signatureHeader(secret, body, t) },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** The secret from the environment, else from .dev.vars (make dev writes one). */
export function secretFromEnv(file = '.dev.vars') {
  if (process.env.EDGESEG_SERVER_EVENTS_SECRET) return process.env.EDGESEG_SERVER_EVENTS_SECRET;
  try {
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('EDGESEG_SERVER_EVENTS_SECRET='));
    if (line) return line.slice(line.indexOf('=') + 1).trim();
  } catch { /* no file */ }
  throw new Error('set EDGESEG_SERVER_EVENTS_SECRET (or run from the repo after make dev wrote .dev.vars)');
}

/**
 * The demo store's checkout backend: `POST /checkout {"visitor": "..."}`
 * takes the demo cart (one Trail Runner, $129.00: the price comes from here,
 * never from the browser), makes an order, and sends its purchase to edgeseg.
 * Answers the order and what the Worker said. Returns the http.Server.
 */
export async function startShopBackend({ workerUrl, secret, port = 8790, host = '127.0.0.1' }) {
  const { createServer } = await import('node:http');
  let next = 10483;
  const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'content-type', 'access-control-allow-methods': 'POST' };
  const server = createServer((req, res) => {
    if (req.method === 'OPTIONS') return res.writeHead(204, cors).end();
    if (req.method !== 'POST' || req.url !== '/checkout') return res.writeHead(404, cors).end();
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { raw += c; });
    req.on('end', async () => {
      const reply = (status, body) => res.writeHead(status, { ...cors, 'content-type': 'application/json' }).end(JSON.stringify(body));
      try {
        const { visitor } = JSON.parse(raw || '{}');
        if (typeof visitor !== 'string' || !/^[0-9a-f]{32}$/.test(visitor)) {
          return reply(400, { error: 'visitor: expected edgeseg.visitorId (the visitor is not tracked, or the rules expose no id)' });
        }
        const order = { id: `NW-${next++}`, value: 129.0 };
        const sent = await sendServerEvents(workerUrl, secret, visitor, [
          { id: order.id, name: 'purchase', props: { order: order.id, value: order.value }, path: '/checkout/complete' },
        ]);
        console.log(`order ${order.id} $${order.value} for ${visitor}: edgeseg answered ${sent.status} ${JSON.stringify(sent.body)}`);
        reply(sent.status === 202 ? 200 : 502, { order, edgeseg: sent });
      } catch (e) {
        reply(500, { error: e.message });
      }
    });
  });
  await new Promise((ok) => server.listen(port, host, ok));
  return server;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args.splice(i, 2)[1] : dflt;
  };
  const workerUrl = opt('worker', `http://127.0.0.1:${process.env.PORT ?? 8787}`);
  const port = Number(opt('port', 8790));
  const secret = secretFromEnv();
  if (args[0] === 'send') {
    const visitor = args[1];
    const id = `cli-${Date.now()}`;
    const sent = await sendServerEvents(workerUrl, secret, visitor, [{ id, name: 'purchase', props: { order: id, value: 129 } }]);
    console.log(sent.status, JSON.stringify(sent.body));
    process.exitCode = sent.status === 202 ? 0 : 1;
  } else {
    await startShopBackend({ workerUrl, secret, port });
    console.log(`demo shop backend on http://127.0.0.1:${port}/checkout, sending purchases to ${workerUrl}`);
  }
}
