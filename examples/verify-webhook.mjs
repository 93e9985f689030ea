// Verifying an edgeseg activation webhook (README, "Activation webhooks").
//
// edgeseg POSTs a JSON body with two headers:
//   X-Edgeseg-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//   Idempotency-Key:     <32 hex, the same for every attempt of one transition>
// Verify the signature over the RAW body (before parsing it), compare in
// constant time, refuse old signing times (a replayed capture), and ignore
// an Idempotency-Key you have seen before (a retry of a delivery you took).
//
// Node 18+ (node:crypto); the same steps work in any language.
import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Throws an Error saying why, unless `header` is a valid signature of
 * `rawBody` with `secret`, signed at most `toleranceSecs` from `nowSecs`.
 * Returns the parsed payload.
 */
export function verifyWebhook(secret, header, rawBody, { nowSecs = Math.floor(Date.now() / 1000), toleranceSecs = 300 } = {}) {
  const parts = Object.fromEntries(String(header ?? '').split(',').map((p) => {
    const i = p.indexOf('=');
    return i < 0 ? [p.trim(), ''] : [p.slice(0, i).trim(), p.slice(i + 1).trim()];
  }));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(parts.v1 ?? '')) {
    throw new Error('malformed X-Edgeseg-Signature header');
  }
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  const given = Buffer.from(parts.v1, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new Error('signature mismatch: wrong secret, or the body was changed');
  }
  if (Math.abs(nowSecs - t) > toleranceSecs) {
    throw new Error(`signed ${Math.abs(nowSecs - t)} s from now, beyond ${toleranceSecs} s`);
  }
  return JSON.parse(rawBody);
}

// A receiver, e.g. `EDGESEG_WEBHOOK_SECRET=... node examples/verify-webhook.mjs 9999`.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { createServer } = await import('node:http');
  const secret = process.env.EDGESEG_WEBHOOK_SECRET;
  if (!secret) throw new Error('set EDGESEG_WEBHOOK_SECRET');
  const seen = new Set(); // keep these for a day in a real receiver
  createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      try {
        const payload = verifyWebhook(secret, req.headers['x-edgeseg-signature'], body);
        const key = req.headers['idempotency-key'];
        if (!seen.has(key)) {
          seen.add(key);
          console.log(`${payload.visitor} ${payload.transition} ${payload.segment} (${payload.activation})`);
        }
        res.writeHead(204).end();
      } catch (e) {
        res.writeHead(401).end(e.message);
      }
    });
  }).listen(Number(process.argv[2] ?? 9999), '127.0.0.1');
}
