// The differential test of the two rewriters. The Worker applies a rewrite
// plan with the runtime's native HTMLRewriter (src/edge/html_rewriter.rs); the
// CLI and the native tests use the core's lol_html rewriter (src/rewrite/).
// For every rewrite fixture and for every demo store page x segment, the
// Worker's output in workerd (through the admin `rewrite` check, fed whole and
// in small chunks) must equal the core's output for the same plan, byte for
// byte, with the same report (which blocks applied: the impressions).
//
// The core's side: for fixtures, `NAME.expected.html`, which
// tests/rewrite_fixtures.rs checks the core produces at every split; for the
// demo pages, `edgeseg preview --segment S` (the HTML) and `--plan` (the plan
// it applied), run here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { startWorker, ROOT } from './harness.mjs';

const run = promisify(execFile);
const TOKEN = 'differential-test-token-0123456789';
const FIXTURES = join(ROOT, 'tests', 'fixtures', 'rewrite');
const CLI = join(ROOT, 'target', 'debug', 'edgeseg');
// Chunk sizes the page is fed to the runtime in (0 = whole): a chunk boundary
// inside a tag, an attribute value or a multi-byte character must not matter.
const CHUNKS = [0, 1, 7, 64];

// Where the runtime's rewriter and the core's may differ, case by case, with
// why. Empty: none has been found. (Both are lol_html underneath; workerd
// builds its own from the C API, so a version difference could show here.)
const KNOWN_DIFFERENCES = {};

let worker;

before(async () => {
  // The CLI binary the core's side runs (cargo test builds it too; this is a no-op then).
  await run('cargo', ['build', '--quiet', '--bin', 'edgeseg'], { cwd: ROOT, maxBuffer: 16 << 20 });
  worker = await startWorker({ rules: null, vars: { EDGESEG_ADMIN_TOKEN: TOKEN } });
});

after(async () => {
  await worker?.stop();
});

async function workerRewrite(html, plan, chunk) {
  const res = await fetch(`${worker.url}/__edgeseg/admin/api/rewrite`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(chunk ? { html, plan, chunk } : { html, plan }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, `rewrite check answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

function firstDifference(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `first difference at character ${i}:\n  core:   ${JSON.stringify(a.slice(Math.max(0, i - 40), i + 60))}\n  worker: ${JSON.stringify(b.slice(Math.max(0, i - 40), i + 60))}`;
}

test('every rewrite fixture: the Worker outputs what the core rewriter does', async () => {
  const names = (await readdir(FIXTURES)).filter((f) => f.endsWith('.plan.json')).map((f) => f.slice(0, -'.plan.json'.length));
  assert.ok(names.length >= 20, `expected the fixture corpus, found ${names.length} cases`);
  for (const name of names.sort()) {
    const file = JSON.parse(await readFile(join(FIXTURES, `${name}.plan.json`), 'utf8'));
    const src = await readFile(join(FIXTURES, `${name}.src.html`), 'utf8');
    const expected = await readFile(join(FIXTURES, `${name}.expected.html`), 'utf8');
    const plan = { blocks: file.blocks ?? [] };
    if (file.head_append != null) plan.head_append = file.head_append;
    const headAppended = file.expect_head_appended ?? file.head_append != null;
    for (const chunk of CHUNKS) {
      const got = await workerRewrite(src, plan, chunk);
      const how = `case ${name}, ${chunk ? `${chunk}-byte chunks` : 'whole'}`;
      if (KNOWN_DIFFERENCES[name]) {
        assert.notEqual(got.html, expected, `${how}: listed as a known difference but now equal: remove it from KNOWN_DIFFERENCES`);
        continue;
      }
      assert.ok(got.html === expected, `${how}: output differs; ${firstDifference(expected, got.html)}`);
      assert.deepEqual(got.applied, file.expect_applied, `${how}: applied blocks differ`);
      assert.equal(got.head_appended, headAppended, `${how}: head_appended differs`);
    }
  }
});

async function demoPages(dir = join(ROOT, 'www')) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== '__edgeseg') out.push(...await demoPages(path));
    } else if (entry.name.endsWith('.html')) {
      out.push(path);
    }
  }
  return out.sort();
}

test('every demo store page as every segment: the Worker outputs what `edgeseg preview` does', async () => {
  const rulesFile = join(ROOT, 'examples', 'rules.json');
  const rules = JSON.parse(await readFile(rulesFile, 'utf8'));
  const segments = rules.segments.map((s) => s.id);
  const pages = await demoPages();
  assert.ok(pages.length >= 10, `expected the demo store's pages, found ${pages.length}`);
  let rewritten = 0;
  for (const page of pages) {
    const html = await readFile(page, 'utf8');
    for (const segment of segments) {
      const args = ['preview', rulesFile, page, '--segment', segment, '--now', '1790000000'];
      const [{ stdout: core }, { stdout: planText }] = await Promise.all([
        run(CLI, args, { maxBuffer: 16 << 20 }),
        run(CLI, [...args, '--plan'], { maxBuffer: 16 << 20 }),
      ]);
      const plan = JSON.parse(planText);
      assert.ok(plan.blocks.length > 0, `${segment} has content: its plan has blocks`);
      for (const chunk of [0, 64]) {
        const got = await workerRewrite(html, plan, chunk);
        const how = `${relative(ROOT, page)} as ${segment}, ${chunk ? `${chunk}-byte chunks` : 'whole'}`;
        assert.ok(got.html === core, `${how}: output differs; ${firstDifference(core, got.html)}`);
        if (got.applied.length) rewritten++;
      }
    }
  }
  assert.ok(rewritten > pages.length, `blocks were actually rewritten on the demo pages (${rewritten} runs)`);
});

test('a handler that fails does not cut the page: the rest streams on unchanged', async () => {
  // The runtime refuses the attribute name (a space in it); the hero before
  // it is already rewritten, the offer after it is left as the origin sent it.
  const html = '<html><head></head><body><div data-edgeseg-block="hero">Hero</div>'
    + '<div data-edgeseg-block="bad">Bad</div><p>middle</p>'
    + '<div data-edgeseg-block="offer">Offer</div><p>tail</p></body></html>';
  const plan = {
    blocks: [
      { id: 'hero', inner_html: 'New hero' },
      { id: 'bad', set_attributes: [['not valid', 'x']], inner_html: 'never' },
      { id: 'offer', inner_html: 'New offer' },
    ],
  };
  for (const chunk of [0, 5]) {
    const got = await workerRewrite(html, plan, chunk);
    assert.equal(got.html, html.replace('>Hero<', '>New hero<'), `chunk ${chunk}: the page after the failure is unchanged`);
    assert.deepEqual(got.applied, ['hero', 'bad'], 'what matched before the failure is reported');
  }
  await eventuallyLogged(/rewriting failed mid-page, passing the rest through/);
});

async function eventuallyLogged(pattern) {
  for (let i = 0; i < 20 && !pattern.test(worker.logs()); i++) await new Promise((r) => setTimeout(r, 250));
  assert.match(worker.logs(), pattern, 'the failure is logged');
}
