// Generates experiment runs and GrowthBook's own answers to them, for
// tests/growthbook_differential.rs: the official JS SDK (`@growthbook/growthbook`,
// a pinned dev dependency) runs every generated (context, experiment) pair,
// and edgeseg must give the same answer to each.
//
//   node tests/support/growthbook_sdk_cases.mjs [--seed N] [--count N]
//
// Prints one JSON document on stdout:
//   { sdk: "<version>", seed, cases: [ { name, context, experiment, expected } ] }
// where `context` is { attributes, enabled?, qaMode?, savedGroups? }, `experiment`
// is GrowthBook's experiment object, and `expected` is what `run` returned:
// { inExperiment, variationId, hashUsed, bucket (or null), hashValue (String() of
// the value hashed, or null when not hashed) }.
//
// Deterministic: the cases depend only on the seed (a mulberry32 generator).

import { readFileSync } from "node:fs";
import { GrowthBook } from "@growthbook/growthbook";

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : dflt;
};
const SEED = arg("--seed", 20261204);
const COUNT = arg("--count", 5000);

const sdkVersion = JSON.parse(
  readFileSync(new URL("../../node_modules/@growthbook/growthbook/package.json", import.meta.url), "utf8"),
).version;

function mulberry32(a) {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(SEED);
const int = (n) => Math.floor(rand() * n);
const pick = (xs) => xs[int(xs.length)];
const chance = (p) => rand() < p;
const round = (x, places) => Number(x.toFixed(places));

const CHARS = [
  "a", "b", "z", "0", "7", "-", "_", " ", ".", "é", "ß", "ж", "中", "文",
  "😀", "🎉", "\u0301", "\u200b", "\t", '"', "\\",
];
function randomString(maxLen = 12) {
  const n = 1 + int(maxLen);
  let s = "";
  for (let i = 0; i < n; i++) s += chance(0.6) ? String.fromCharCode(97 + int(26)) : pick(CHARS);
  return s;
}

// An id of every JSON type, with the values where JS and other languages part:
// falsy 0 / false / "", floats that print as integers, big and tiny numbers.
function randomId() {
  switch (int(16)) {
    case 0: return String(int(100000));
    case 1: return randomString(20);
    case 2: return int(1000000);
    case 3: return round(rand() * 1000 - 500, 1 + int(6));
    // Not integers beyond 2^64 written out in digits (123456789012345680000):
    // serde_json, without its `float_roundtrip` feature, may read them one
    // unit in the last place off JS's JSON.parse (see the README).
    case 4: return pick([0, -0, 1, -1, 1.5, 0.1 + 0.2, 1e21, 1.5e-7, 1e-6, 2 ** 53 + 2, -42, 1e300]);
    case 5: return pick([true, false]);
    case 6: return null;
    case 7: return "";
    case 8: return [int(10), randomString(4)];
    case 9: return pick([[], [null], [1, [2, 3]], { a: 1 }, {}]);
    case 10: return `user-${int(1e9)}`;
    case 11: return pick(["0", "false", "true", "null", "1.0", "abc"]);
    default: return `${int(1e6)}-${randomString(6)}`;
  }
}

const COUNTRIES = ["US", "GB", "DE", "FR", "JP"];
function randomAttributes() {
  const attributes = {};
  if (chance(0.93)) attributes.id = randomId();
  if (chance(0.5)) attributes.companyId = randomId();
  if (chance(0.3)) attributes.anonId = randomString(10);
  if (chance(0.2)) attributes["user.id"] = randomId();
  if (chance(0.2)) attributes.user = { id: randomId() };
  if (chance(0.7)) attributes.country = pick(COUNTRIES);
  if (chance(0.6)) attributes.age = int(80);
  if (chance(0.4)) attributes.tags = pick([["vip"], ["new", "mobile"], []]);
  return attributes;
}

const CONDITIONS = [
  { country: "US" },
  { country: { $in: ["US", "GB"] } },
  { age: { $gt: 30 } },
  { age: { $gte: 18, $lt: 65 } },
  { tags: { $elemMatch: { $eq: "vip" } } },
  { companyId: { $exists: true } },
  { $or: [{ country: "DE" }, { age: { $lt: 20 } }] },
  { $not: { country: "FR" } },
  { id: { $inGroup: "beta" } },
  { "user.id": { $exists: true } },
  {},
];

function randomWeights(n) {
  switch (int(6)) {
    case 0: return undefined;
    case 1: return Array(n).fill(1 / n);
    case 2: {
      const raw = Array.from({ length: n }, () => rand() + 0.01);
      const total = raw.reduce((a, b) => a + b, 0);
      return raw.map((w) => round(w / total, 4));
    }
    case 3: return Array.from({ length: n + pick([-1, 1]) }, () => 1 / n); // wrong length
    case 4: return Array.from({ length: n }, () => round(rand(), 2)); // need not sum to 1
    default: { // negative weights that sum to 1
      const w = Array(n).fill(0);
      w[0] = -0.5;
      w[n - 1] += 1.5;
      return w;
    }
  }
}

function randomRanges(n) {
  const cuts = Array.from({ length: 2 * n }, () => round(rand(), 3)).sort((a, b) => a - b);
  return Array.from({ length: n }, (_, i) => [cuts[2 * i], cuts[2 * i + 1]]);
}

function randomFilter() {
  const filter = { seed: chance(0.8) ? randomString(6) : "", ranges: [] };
  const k = 1 + int(3);
  for (let i = 0; i < k; i++) {
    const a = round(rand(), 2);
    filter.ranges.push([a, round(Math.min(1, a + rand() * 0.6), 2)]);
  }
  if (chance(0.6)) filter.attribute = pick(["id", "companyId", "anonId", "user.id", "missing", ""]);
  if (chance(0.7)) filter.hashVersion = pick([1, 2, 0, 3]);
  return filter;
}

function randomExperiment() {
  const n = chance(0.05) ? pick([0, 1]) : pick([2, 2, 2, 3, 4, 5]);
  const experiment = {
    key: chance(0.9) ? `exp-${randomString(8)}` : randomString(5),
    variations: Array.from({ length: n }, (_, i) => (chance(0.2) ? { v: i } : i)),
  };
  const weights = randomWeights(n);
  if (weights) experiment.weights = weights;
  if (chance(0.3)) experiment.coverage = pick([round(rand(), 3), 0, 1, -0.2, 1.3, 0.5]);
  if (chance(0.5)) experiment.seed = chance(0.9) ? randomString(8) : "";
  if (chance(0.7)) experiment.hashVersion = pick([1, 1, 2, 2, 2, 2, 0, 3]);
  if (chance(0.25)) {
    experiment.hashAttribute = pick(["id", "companyId", "anonId", "user.id", "missing", "country", "age", ""]);
  }
  if (chance(0.2)) experiment.namespace = [pick(["ns1", "ns2", "checkout"]), ...[round(rand(), 2), round(rand(), 2)].sort()];
  if (chance(0.15)) experiment.filters = chance(0.1) ? [] : Array.from({ length: 1 + int(2) }, randomFilter);
  if (chance(0.12)) experiment.ranges = chance(0.05) ? [] : randomRanges(n);
  if (chance(0.2)) experiment.condition = pick(CONDITIONS);
  if (chance(0.2)) experiment.force = pick([0, 1, n - 1, n, -1, -8, 25]);
  if (chance(0.08)) experiment.active = chance(0.5);
  if (chance(0.08)) experiment.status = pick(["draft", "running", "stopped"]);
  return experiment;
}

function randomContext() {
  const context = { attributes: randomAttributes() };
  if (chance(0.03)) context.enabled = false;
  if (chance(0.05)) context.qaMode = true;
  if (chance(0.3)) context.savedGroups = { beta: ["1", "2", "3", 4, "user-1"].concat(Array.from({ length: 5 }, () => String(int(100)))) };
  return context;
}

const cases = [];
for (let i = 0; i < COUNT; i++) {
  const context = randomContext();
  const experiment = randomExperiment();
  // The SDK may add to the objects it is given: keep pristine copies.
  const sent = { context: structuredClone(context), experiment: structuredClone(experiment) };
  const gb = new GrowthBook({
    attributes: context.attributes,
    enabled: context.enabled,
    qaMode: context.qaMode,
    savedGroups: context.savedGroups,
  });
  const result = gb.run(experiment);
  gb.destroy();
  cases.push({
    name: `case ${i}`,
    ...sent,
    expected: {
      inExperiment: result.inExperiment,
      variationId: result.variationId,
      hashUsed: result.hashUsed,
      bucket: result.bucket === undefined ? null : result.bucket,
      hashValue: result.hashUsed ? String(result.hashValue) : null,
    },
  });
}

process.stdout.write(JSON.stringify({ sdk: sdkVersion, seed: SEED, cases }));
