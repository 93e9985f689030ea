// The admin API client: every call carries the bearer token kept in sessionStorage (when
// there is one: behind Cloudflare Access the browser's requests carry the Access token
// instead), and resolves paths against the page's own base (/__edgeseg/admin/ -> /__edgeseg/admin/api/...).

const TOKEN_KEY = 'edgeseg.admin.token';

export class AuthError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** A non-2xx answer other than 401/403: status, the parsed body (or null), and a message. */
export class ApiError extends Error {
  constructor(status, body, message) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || '',
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** The page's directory, even when opened as `/__edgeseg/admin` or `/__edgeseg/admin/index.html`. */
export function baseUrl(loc = window.location) {
  let path = loc.pathname;
  if (path.endsWith('/index.html')) path = path.slice(0, -'index.html'.length);
  if (!path.endsWith('/')) path += '/';
  return new URL(path, loc.origin);
}

/**
 * Calls `api/<path>`. Returns { status, body, headers } for 2xx and for the statuses listed
 * in `accept` (e.g. [404, 409, 422]); throws AuthError on 401/403 and ApiError otherwise.
 */
export async function call(method, path, { body, headers = {}, accept = [] } = {}) {
  const url = new URL(`api/${path}`, baseUrl());
  const auth = token.get() ? { authorization: `Bearer ${token.get()}` } : {};
  const init = { method, headers: { accept: 'application/json', ...auth, ...headers } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, null, `Could not reach the server (${e.message}).`);
  }
  let parsed = null;
  const text = await res.text();
  if (text) {
    try { parsed = JSON.parse(text); } catch { parsed = null; }
  }
  if (res.status === 401 || res.status === 403) {
    const why = parsed && parsed.error ? `: ${parsed.error}` : '';
    // A 403 for a role that may not do something is not a failed sign-in.
    if (res.status === 403 && parsed && /\bmay not\b/.test(parsed.error || '')) {
      throw new ApiError(403, parsed, parsed.error);
    }
    throw new AuthError(res.status, res.status === 401
      ? `Sign in with the admin token (401${why}).`
      : token.get() ? `That token was not accepted (403${why}).` : `Cloudflare Access signed you in, but the admin refused you (403${why}).`);
  }
  if (res.ok || accept.includes(res.status)) return { status: res.status, body: parsed, headers: res.headers };
  const msg = parsed && parsed.error ? parsed.error : (text.slice(0, 200) || res.statusText);
  throw new ApiError(res.status, parsed, `${method} ${path} failed: ${res.status} ${msg}`);
}

/** The revision number in an ETag such as `"7"` or `W/"7"`, or null. */
export function etagRevision(headers) {
  const tag = headers && headers.get('etag');
  const m = tag && tag.match(/^(?:W\/)?"?(\d+)"?$/);
  return m ? Number(m[1]) : null;
}

/**
 * Who is signed in and what their role allows (GET api/whoami), as
 * { identity: {id, kind, role, groups}, can(action), reason(action), actions }.
 * A server without whoami (older Workers) is taken as the admin token with every right.
 */
export async function whoami() {
  const r = await call('GET', 'whoami', { accept: [404] });
  const body = r.status === 404
    ? { identity: { id: 'service:admin-token', kind: 'service', role: 'publisher' }, actions: [] }
    : r.body;
  const by = new Map((body.actions || []).map((a) => [a.action, a]));
  return {
    identity: body.identity,
    actions: body.actions || [],
    can: (action) => (by.has(action) ? by.get(action).allowed : r.status === 404),
    reason: (action) => by.get(action)?.reason || '',
  };
}
