//! edgeseg: real-time audience segmentation and content personalization at the edge.
//!
//! The crate is split in two, and the split is the point:
//!
//! * **The pure core** — every module below except `edge`. No I/O, no clock,
//!   no randomness of its own: callers hand it plain values (request facts, the
//!   cookie string, the rules JSON, counter values, the time, random bytes) and
//!   get plain values back (segments, a rewrite plan, the new cookie). It compiles
//!   natively (tests, benchmarks, the `edgeseg` CLI) and to `wasm32-unknown-unknown`.
//!   - [`document`]: the rules document's types, as marketers write it.
//!   - [`rules`]: the rules document — parse, validate with JSON paths, compile once.
//!   - [`condition`]: GrowthBook-compatible targeting conditions.
//!   - [`bucketing`]: GrowthBook's hash and bucket functions.
//!   - [`experiments`]: experiments and holdouts: assignment, exposure, stats, bandits.
//!   - [`auth`]: the admin bearer token, compared in constant time.
//!   - [`access`]: admin users: the Cloudflare Access token's claims, roles, and what each role may do.
//!   - [`preview`]: signed preview links that force segments.
//!   - [`signals`]: behavioural values derived from the visitor state.
//!   - [`state`]: the visitor state and its signed cookie codec.
//!   - [`request`]: request facts and the attribute object conditions see.
//!   - [`consent`]: the IAB TCF v2.2 consent string and the three consent levels (store, personalize, measure).
//!   - [`classify`]: request + state + rules + now → segments and a rewrite plan.
//!   - [`page`]: the per-page pipeline: one page's every decision, for the Worker, the CLI and the admin API.
//!   - [`simulate`]: a described visitor replayed through the page pipeline (CLI and admin API).
//!   - [`events`]: events sent by the page — parse, validate, rate-limit.
//!   - [`export`]: data out — export records (NDJSON for R2), activation webhooks and their signatures.
//!   - [`counters`]: aggregate counters — per-isolate batches, counter shards that add them up exactly once, published totals in KV, stats.
//!   - [`origin_cache`]: which origin pages the edge cache may share, their key, freshness, purges.
//!   - [`util`]: the leaf every module may use: FNV hashing, names, did-you-mean, durations.
//!   - [`template`]: `{{attribute}}` placeholders in content, rendered escaped.
//!   - [`rewrite`]: a streaming HTML rewriter (lol_html) driven by the plan.
//!   - [`csp`]: the site's Content-Security-Policy, made to allow what edgeseg injects (nonce or hashes, never looser).
//!   - `learn` (native, `cli` feature only): `edgeseg train` — models fitted from the export.
//! * **The edge adapter** — `edge` (`src/edge/`), compiled only for `wasm32`, the one module
//!   that knows the `worker` crate: it turns a Cloudflare request into facts,
//!   drives the core, and streams the response.
//!
//! The core's modules form layers, each importing only from below it
//! (`make lint` fails on a circle: `tools/import_cycles.py`):
//!
//! ```text
//! learn                  edgeseg train (native, cli only)
//! simulate, export       replays (CLI, admin); records and webhooks
//! classify               request + state + compiled rules -> segments, plan
//! experiments, events    run against the compiled rules
//! rules                  validate and compile the document (CompiledRules)
//! signals, condition     signal kinds and trackers; targeting conditions
//! counters, request, preview, bucketing, error, consent
//! document, state, template, rewrite, auth, access, origin_cache
//! csp                    Content-Security-Policy: parse, add hashes (under rewrite)
//! util                   the leaf: hashing, names, did-you-mean, durations
//! ```
//!
//! Code that takes `&CompiledRules` sits above `rules`; what the compiler
//! builds on (signal kinds, conditions, cache policy) sits below it.

pub mod access;
pub mod auth;
pub mod bucketing;
pub mod classify;
pub mod condition;
pub mod consent;
pub mod counters;
pub mod csp;
pub mod document;
pub mod error;
pub mod events;
pub mod experiments;
pub mod export;
#[cfg(all(feature = "cli", not(target_arch = "wasm32")))]
pub mod learn;
pub mod origin_cache;
pub mod page;
pub mod preview;
pub mod request;
pub mod rewrite;
pub mod rules;
pub mod server_events;
pub mod signals;
pub mod simulate;
pub mod state;
pub mod template;
pub mod util;

#[cfg(target_arch = "wasm32")]
pub mod edge;

pub use error::{RuleError, RuleErrorKind, RuleErrors};
/// Durations as marketers write them (kept at its old path: the CLI and tests use it).
pub use util::duration;
