#!/usr/bin/env node
// edgeseg export pull: copies the export's R2 objects for a time range into a
// local folder, keeping their keys (DIR/events/YYYY/MM/DD/HH/<batch>.ndjson.gz),
// so `edgeseg train DIR` can read them.
//
//   node tools/export-pull.mjs --url https://shop.example.com --token "$EDGESEG_ADMIN_TOKEN" \
//        --from 2026-12-01T00 --to 2026-12-02T23 DIR
//
// It goes through the Worker's admin API (GET /__edgeseg/admin/api/export?prefix=
// to list an hour, GET .../export/object?key= to fetch one object), so it needs
// only the admin token: no R2 API keys, and it works the same against
// `make dev` (local R2) and a deployed Worker. Objects already in DIR with
// the same size are skipped, so a second run only fetches what is new.
// --from/--to are UTC hours (YYYY-MM-DDTHH, default: the last 24 hours).
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** `events/YYYY/MM/DD/HH/` for each UTC hour from `from` to `to` (Dates), inclusive. */
export function hourPrefixes(from, to) {
  const out = [];
  const start = Math.floor(from.getTime() / 3_600_000);
  const end = Math.floor(to.getTime() / 3_600_000);
  if (end < start) throw new Error('--from must not be after --to');
  if (end - start > 24 * 366) throw new Error('ask for at most a year at once');
  for (let h = start; h <= end; h++) {
    const d = new Date(h * 3_600_000);
    const p = (n) => String(n).padStart(2, '0');
    out.push(`events/${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${p(d.getUTCHours())}/`);
  }
  return out;
}

function parseHour(text, name) {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}))?$/.exec(text ?? '');
  if (!m) throw new Error(`${name}: expected a UTC hour like 2026-12-01T05 (or a day, 2026-12-01), got ${JSON.stringify(text)}`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], m[4] === undefined ? 0 : +m[4]));
}

/** Pulls every object of the range into `dir`; returns {fetched, skipped, keys}. */
export async function pull({ url, token, from, to, dir, log = () => {} }) {
  const base = url.replace(/\/+$/, '');
  const headers = { authorization: `Bearer ${token}` };
  const ask = async (path) => {
    const r = await fetch(base + path, { headers });
    if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return r;
  };
  let fetched = 0;
  let skipped = 0;
  const keys = [];
  for (const prefix of hourPrefixes(from, to)) {
    let cursor = null;
    do {
      const q = `prefix=${encodeURIComponent(prefix)}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const list = await (await ask(`/__edgeseg/admin/api/export?${q}`)).json();
      for (const o of list.objects) {
        keys.push(o.key);
        const file = join(dir, ...o.key.split('/'));
        const have = await stat(file).then((s) => s.size, () => -1);
        if (have === o.size) { skipped++; continue; }
        const body = Buffer.from(await (await ask(`/__edgeseg/admin/api/export/object?key=${encodeURIComponent(o.key)}`)).arrayBuffer());
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, body);
        fetched++;
        log(`${o.key} (${body.length} bytes)`);
      }
      cursor = list.truncated ? list.cursor : null;
    } while (cursor);
  }
  return { fetched, skipped, keys };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(`--${name}`);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  try {
    const url = opt('url') ?? process.env.EDGESEG_URL;
    const token = opt('token') ?? process.env.EDGESEG_ADMIN_TOKEN;
    const now = new Date();
    const from = opt('from');
    const to = opt('to');
    const dir = args[0];
    if (!url || !token || !dir || args.length !== 1) {
      throw new Error('usage: export-pull.mjs --url URL --token TOKEN [--from YYYY-MM-DDTHH] [--to YYYY-MM-DDTHH] DIR');
    }
    const result = await pull({
      url, token, dir,
      from: from ? parseHour(from, '--from') : new Date(now.getTime() - 23 * 3_600_000),
      to: to ? parseHour(to, '--to') : now,
      log: (line) => console.log(line),
    });
    console.log(`edgeseg export pull: ${result.fetched} fetched, ${result.skipped} already there, in ${dir}`);
  } catch (e) {
    console.error(`edgeseg export pull: ${e.message}`);
    process.exit(1);
  }
}
