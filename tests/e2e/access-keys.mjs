// A stand-in for a Cloudflare Access team in tests: an RSA key pair made here, its public
// key served as the team's certs (JWKS) on loopback, and Access-style tokens signed with it
// (RS256, `aud` list, `iss`, `exp`, `email`), the way Access puts them in the
// Cf-Access-Jwt-Assertion header. Nothing reaches the network.
import { generateKeyPairSync, createSign } from 'node:crypto';
import { createServer } from 'node:http';

export const TEAM = 'edgeseg-test.cloudflareaccess.com';
export const AUD = 'edgeseg-test-aud-0123456789abcdef';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

export function keyPair(kid) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, jwk };
}

/**
 * Signs a token. claims override the defaults (a person at `email`, valid for 10 minutes);
 * header overrides alg/kid. `key` is a keyPair; its kid goes in the header unless overridden.
 */
export function accessToken(key, claims = {}, header = {}) {
  const now = Math.floor(Date.now() / 1000);
  const h = { alg: 'RS256', kid: key.kid, typ: 'JWT', ...header };
  const c = {
    aud: [AUD], iss: `https://${TEAM}`, iat: now, nbf: now, exp: now + 600,
    type: 'app', sub: 'user-1', identity_nonce: 'n', country: 'DE', ...claims,
  };
  const input = `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(c))}`;
  const sig = createSign('RSA-SHA256').update(input).sign(key.privateKey);
  return `${input}.${b64url(sig)}`;
}

/** Serves { keys: [jwk...] } at /cdn-cgi/access/certs on 127.0.0.1; counts the fetches. */
export async function certsServer(keys) {
  const served = { keys: keys.map((k) => k.jwk), fetches: 0, lastFetch: 0 };
  const server = createServer((req, res) => {
    if (req.url === '/cdn-cgi/access/certs') {
      served.fetches += 1;
      served.lastFetch = Date.now();
      res.writeHead(200, { 'content-type': 'application/json' });
      // Access also publishes the certificates in PEM; a verifier must ignore them.
      res.end(JSON.stringify({ keys: served.keys, public_cert: { kid: keys[0].kid, cert: '-----BEGIN CERTIFICATE-----' }, public_certs: [] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/cdn-cgi/access/certs`,
    served,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

/** The Worker vars that point it at this team. */
export function accessVars(certsUrl) {
  return { ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD, ACCESS_CERTS_URL: certsUrl };
}
