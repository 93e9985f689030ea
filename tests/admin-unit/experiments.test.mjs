// The experiment editor's forms without a browser: every experiment and every holdout in
// every example and fixture rules file (examples/*.json, tests/fixtures/rules/**, the
// invalid and semantic ones included when they are JSON) goes form -> JSON -> form and comes
// back identical, key order included; and the forms' own checks. Run: node --test tests/admin-unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  experimentFields, applyExperimentFields, holdoutFields, applyHoldoutFields, newExperiment, describeExperiment,
} from '../../admin/src/expforms.js';
import { fromCondition, toCondition } from '../../admin/src/conditions.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function jsonFiles(dir) {
  const out = [];
  for (const e of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...await jsonFiles(p));
    else if (e.name.endsWith('.json')) out.push(p);
  }
  return out.sort();
}
const files = [...await jsonFiles('examples'), ...await jsonFiles(join('tests', 'fixtures', 'rules'))];
const docs = [];
for (const file of files) {
  try {
    const doc = JSON.parse(await readFile(join(ROOT, file), 'utf8'));
    if (doc && typeof doc === 'object' && !Array.isArray(doc)) docs.push([file, doc]);
  } catch { /* a syntax-error fixture: no experiments to read */ }
}
const known = (doc) => ({
  segments: Array.isArray(doc.segments) ? doc.segments.map((s) => s?.id) : [],
  events: ['page_view', ...Object.keys(doc.events || {})],
});

test('the fixtures hold experiments and holdouts to check, with every field the forms have', () => {
  const exps = docs.flatMap(([, d]) => Object.values(d.experiments || {}));
  const holdouts = docs.flatMap(([, d]) => (Array.isArray(d.segments) ? d.segments : []).filter((s) => s?.holdout));
  assert.ok(exps.length >= 5, `${exps.length} experiments`);
  assert.ok(holdouts.length >= 2, `${holdouts.length} holdouts`);
  const keys = new Set(exps.flatMap((e) => Object.keys(e)));
  for (const k of ['segment', 'condition', 'status', 'serve', 'variants', 'coverage', 'seed', 'hash_version', 'namespace', 'hash_attribute', 'goals', 'allocation', 'bandit', 'start_at', 'end_at']) {
    assert.ok(keys.has(k), `some fixture experiment has ${k}`);
  }
  assert.ok(exps.some((e) => Object.values(e.goals || {}).some((g) => g.guardrail)), 'a guardrail goal');
});

for (const [file, doc] of docs) {
  const exps = Object.entries(doc.experiments && typeof doc.experiments === 'object' ? doc.experiments : {});
  const segs = Array.isArray(doc.segments) ? doc.segments : [];
  if (!exps.length && !segs.some((s) => s?.holdout)) continue;
  test(`round trip form -> JSON -> form: experiments and holdouts of ${file}`, () => {
    for (const [key, exp] of exps) {
      const f = experimentFields(key, exp);
      const others = exps.map(([k]) => k).filter((k) => k !== key);
      const r = applyExperimentFields(exp, structuredClone(f), { ...known(doc), keys: others });
      assert.equal(r.key, key);
      assert.equal(JSON.stringify(r.value), JSON.stringify(exp), `${file} experiments.${key}: JSON, key order included`);
      assert.deepEqual(experimentFields(r.key, r.value), f, `${file} experiments.${key}: the form again`);
      if (!file.includes('semantic') && !file.includes('invalid')) assert.deepEqual(r.errors, {}, `${file} experiments.${key}: no form errors`);
    }
    segs.forEach((s, i) => {
      if (!s?.holdout) return;
      const f = holdoutFields(s.holdout);
      const r = applyHoldoutFields(s.holdout, structuredClone(f), known(doc));
      assert.equal(JSON.stringify(r.value), JSON.stringify(s.holdout), `${file} segments[${i}].holdout`);
      assert.deepEqual(holdoutFields(r.value), f);
      assert.deepEqual(r.errors, {});
    });
  });
}

test('editing through the form: weights, a variant and its content, a guardrail goal, a bandit, a schedule, a namespace', () => {
  const exp = newExperiment({ segment: 'shopper', block: 'hero' });
  assert.deepEqual(exp, { segment: 'shopper', status: 'draft', variants: [{ id: 'control' }, { id: 'variant_b', content: { hero: { inner_html: '' } } }] });
  const f = experimentFields('hero_test', exp);
  f.variants[1].content[0][1].inner_html = '<h1>B</h1>';
  f.variants[0].weight = '1';
  f.variants[1].weight = '3';
  f.goals.push({ was: null, name: 'purchase', event: 'purchase', window: '3d', value: 'total', guardrail: '' });
  f.goals.push({ was: null, name: 'refunds', event: 'refund', window: '', value: '', guardrail: 'must_not_increase' });
  f.coverage = '0.5';
  f.start_at = '2026-12-24T18:00:00Z';
  f.allocation = 'bandit';
  f.bandit.floor = '0.1';
  f.namespace = { id: 'hero_tests', start: '0', end: '0.5' };
  const r = applyExperimentFields(exp, f, { segments: ['shopper'], events: ['page_view', 'purchase', 'refund'] });
  assert.deepEqual(r.errors, {});
  assert.deepEqual(r.value, {
    segment: 'shopper', status: 'draft',
    variants: [{ id: 'control', weight: 1 }, { id: 'variant_b', content: { hero: { inner_html: '<h1>B</h1>' } }, weight: 3 }],
    coverage: 0.5, namespace: { id: 'hero_tests', start: 0, end: 0.5 }, allocation: 'bandit', bandit: { floor: 0.1 }, start_at: '2026-12-24T18:00:00Z',
    goals: { purchase: { event: 'purchase', window: '3d', value: 'total' }, refunds: { event: 'refund', guardrail: 'must_not_increase' } },
  });
  assert.match(describeExperiment(r.value), /50 % of members of shopper; a bandit .* control 25 %, variant_b 75 %.*a draft.*from 2026-12-24T18:00:00Z/);
  // Back to a fixed split: the bandit settings go (the compiler refuses them with "fixed").
  const g = experimentFields('hero_test', r.value);
  g.allocation = 'fixed';
  g.bandit = { goal: '', floor: '', burn_in: '' };
  const back = applyExperimentFields(r.value, g, {}).value;
  assert.equal(back.allocation, 'fixed');
  assert.ok(!('bandit' in back));
});

test('the forms say what is wrong, at the field', () => {
  const exp = { segment: 'shopper', status: 'running', variants: [{ id: 'control' }, { id: 'b' }] };
  const f = experimentFields('x', exp);
  Object.assign(f, { key: 'bad key', segment: 'nobody', serve: 'c', coverage: '1.5', hash_version: '3', start_at: 'tomorrow' });
  f.variants[1].id = 'control';
  f.variants[0].weight = '2';
  f.namespace = { id: 'ns', start: '0.5', end: '0.2' };
  f.goals.push({ was: null, name: 'g', event: 'nope', window: '7 days', value: '', guardrail: '' });
  const { errors } = applyExperimentFields(exp, f, { segments: ['shopper'], events: ['page_view'], keys: [] });
  for (const k of ['key', 'segment', 'serve', 'coverage', 'hash_version', 'start_at', 'variants.1.id', 'variants', 'namespace.end', 'goals.0.event', 'goals.0.window']) {
    assert.ok(errors[k], `an error at ${k}: ${JSON.stringify(errors)}`);
  }
  const one = experimentFields('x', exp);
  one.variants.pop();
  one.segment = '';
  const e2 = applyExperimentFields(exp, one, {}).errors;
  assert.match(e2.variants, /at least two/);
  assert.match(e2.segment, /segment, or give a condition/);
  const ho = applyHoldoutFields({ share: 0.1 }, { share: '2', seed: '', goals: [] }).errors;
  assert.match(ho.share, /from 0 to 1/);
});

test('an experiment’s condition through the editor’s condition rows (tree -> JSON text -> form) comes back identical', () => {
  // The editor keeps the rows' condition as the form's JSON text (expeditor.js conditionEl).
  let n = 0;
  const made = { format: 1, experiments: Object.fromEntries([
    { device: 'mobile' }, { device: { $eq: 'mobile' } }, { $or: [{ device: 'mobile' }, { utm_source: { $in: ['mail', 'ads'] } }] },
    { device: 'desktop', utm_source: { $not: { $eq: 'x' } } }, { $nor: [{ country: 'DE' }] }, {},
  ].map((condition, i) => [`e${i}`, { condition, status: 'draft', variants: [{ id: 'control' }, { id: 'b', content: { hero: { inner_html: 'B' } } }] }])) };
  for (const [file, doc] of [...docs, ['(made here)', made]]) {
    for (const [key, exp] of Object.entries(doc.experiments && typeof doc.experiments === 'object' ? doc.experiments : {})) {
      if (!exp || typeof exp !== 'object' || Array.isArray(exp) || exp.condition === undefined || exp.condition === null) continue;
      const f = experimentFields(key, exp);
      f.condition = JSON.stringify(toCondition(fromCondition(JSON.parse(f.condition))));
      const { value } = applyExperimentFields(exp, f, known(doc));
      assert.equal(JSON.stringify(value), JSON.stringify(exp), `${file}: ${key}`);
      n++;
    }
  }
  assert.ok(n >= 7, `experiments with a condition checked: ${n}`);
  // A new one by condition starts with an empty condition: no rows, the same object back.
  assert.deepEqual(toCondition(fromCondition(newExperiment({ segment: '', block: 'hero' }).condition)), {});
});
