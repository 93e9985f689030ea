//! The per-page pipeline: everything decided for one page, as one pure function.
//!
//! [`serve`] takes the request's facts, the visitor (consent and state, see
//! [`Visitor::load`]), the compiled rules, counter values, bandit weights and
//! the time, and returns a [`PageOutcome`]: the segments and variants, the
//! rewrite plan with its `<head>` insertions, the new cookie, the response's
//! header changes, the counts to add now, the counts to add once the rewrite
//! reports which blocks it applied ([`AfterRewrite`]), and the export's
//! records and webhooks.
//!
//! The Worker's content path, `edgeseg simulate`/`preview` and the admin
//! page's Simulate all call it, so what they show cannot drift apart: the
//! Worker only does the I/O around it (reading the cookie and the counters,
//! fetching the page, streaming the rewrite, sending counts and records).

pub mod decide;
mod events;
pub mod report;
mod visitor;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::classify::{self, Classification, ClassifyOptions};
use crate::counters::names as counter_names;
use crate::experiments::cuped;
use crate::experiments::exposure::{self, AssignOptions, ExperimentOutcome};
use crate::export::record::RecordSource;
use crate::export::webhook::Delivery;
use crate::export::ExportRecord;
use crate::preview::{self, PreviewDecision, PreviewGrant};
use crate::request::RequestFacts;
use crate::rewrite::RewriteReport;
use crate::rules::CompiledRules;
use crate::state::Timestamp;

pub use events::record_events;
pub use visitor::{ConsentSignals, Keys, Visitor};

/// One page request, as the pipeline needs it.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub facts: RequestFacts,
    /// The request's `Cookie` header (empty when there is none).
    pub cookies: String,
    /// A preview forced by the caller instead of one read from the request
    /// (`edgeseg preview`, simulations with forced segments): decided like a
    /// signed preview link, with nothing counted, but without the link's
    /// banner, cookie and debug header, which are for a browser.
    pub force: Option<PreviewGrant>,
    /// Keep the per-segment report ([`Classification::outcomes`]) even when no
    /// preview asks for it (simulations explain every segment).
    pub explain: bool,
    /// Events the site's server sent for this visitor since their last page
    /// (README, "Events from the site's server"): recorded before the page
    /// view, at the times they happened, through [`record_events`].
    pub server_events: Vec<crate::server_events::Pending>,
}

/// What the pipeline reads besides the request: the rules and what the
/// Worker keeps beside them.
#[derive(Clone, Copy)]
pub struct PageContext<'a> {
    pub rules: &'a CompiledRules,
    /// `None` when the secret is not set: nobody is tracked, no preview verifies.
    pub keys: Option<&'a Keys>,
    /// Aggregate counters the rules read (`counters.NAME`), when they read any.
    pub counters: Option<&'a Map<String, Value>>,
    /// Bandit weights by experiment key.
    pub weights: Option<&'a BTreeMap<String, Vec<f64>>>,
    /// Variants stopped by a guardrail, by experiment key (read from KV
    /// only for experiments that have guardrails): their visitors get the control.
    pub stopped: Option<&'a crate::experiments::guardrail::Stopped>,
    /// The admin revision of the rules in force, for export records.
    pub rules_version: Option<u64>,
    /// Whether webhooks can be signed (the webhook secret is set): without
    /// it no webhook is queued.
    pub webhooks: bool,
}

/// One change to the origin's response headers, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderChange {
    Remove(&'static str),
    Set(&'static str, String),
    Append(&'static str, String),
}

/// Everything the Worker must do for one page.
#[derive(Debug, Clone)]
pub struct PageOutcome {
    /// Segments, variants, signals, and the rewrite plan (head insertions included).
    pub classification: Classification,
    /// Consent allows storing and counting this visitor.
    pub tracked: bool,
    /// This page view is counted and exported (tracked, measured, and no preview).
    pub counted: bool,
    pub preview: PreviewDecision,
    /// Header changes to the origin's response, `Set-Cookie` included.
    pub headers: Vec<HeaderChange>,
    /// Counters to add 1 to now (at [`PageOutcome::now`]).
    pub counts: Vec<String>,
    /// Export records and webhooks to queue.
    pub records: Vec<ExportRecord>,
    pub webhooks: Vec<Delivery>,
    /// What to count when the rewrite reports which blocks it applied.
    pub after_rewrite: AfterRewrite,
    pub now: Timestamp,
    /// Counters the recorded server events move, with their amounts (a
    /// goal's value in cents is one add of that many, not that many adds).
    pub event_counts: Vec<(String, u64)>,
    /// Ids of the [`PageRequest::server_events`] recorded into the state this
    /// page's cookie carries: the Worker acknowledges them once the page has
    /// gone out, and the rest keep waiting.
    pub server_events_applied: Vec<String>,
}

impl PageOutcome {
    /// Whether the page goes out as the origin sent it (no rewrite).
    pub fn passes_body_through(&self) -> bool {
        self.classification.plan.is_empty()
    }
}

/// The counting that waits for the rewrite's report: impressions and
/// experiment exposures count only for blocks that were really in the page.
#[derive(Debug, Clone, Default)]
pub struct AfterRewrite {
    counted: bool,
    now: Timestamp,
    /// Segment content chosen per block: (block id, segment id).
    content: Vec<(String, String)>,
    experiments: Vec<ExperimentOutcome>,
    /// CUPED covariates taken on this page (see [`crate::experiments::cuped`]).
    covariates: Vec<cuped::Snapshot>,
}

/// What the rewrite's report adds up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportCounts {
    /// Counters to add 1 to.
    pub counts: Vec<String>,
    /// Experiments (by their cookie key) the visitor was exposed to on this
    /// page; the visitor's next request writes them into the cookie.
    pub exposures: Vec<u32>,
    /// Counters to add more than 1 to: CUPED's `Σx` and `Σx²` of the exposures.
    pub sums: Vec<(String, u64)>,
}

impl AfterRewrite {
    /// The counts the report adds: nothing for a visitor who is not counted.
    pub fn counts(&self, rules: &CompiledRules, report: &RewriteReport) -> ReportCounts {
        let mut out = ReportCounts::default();
        if !self.counted {
            return out;
        }
        for (key, name) in exposure::exposures(rules, &self.experiments, &report.applied) {
            out.counts.push(name);
            out.exposures.push(key);
        }
        out.sums =
            cuped::exposure_sums(rules, &self.experiments, &self.covariates, &report.applied);
        for block in &report.applied {
            if let Some((_, segment)) = self.content.iter().find(|(b, _)| b == block) {
                out.counts.push(counter_names::impressions(block, segment));
                out.counts.extend(
                    rules
                        .counters_for_impression(block, segment)
                        .map(str::to_string),
                );
            }
        }
        out
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }
}

/// Decides one page, and records it into the visitor's state (which the
/// outcome's `Set-Cookie` carries). `record_id` names the page view's export record
/// (random bytes from the caller: the core has no randomness of its own).
pub fn serve(
    request: &PageRequest,
    ctx: PageContext<'_>,
    visitor: &mut Visitor,
    record_id: [u8; 16],
) -> PageOutcome {
    let rules = ctx.rules;
    let facts = &request.facts;
    let now = facts.now;
    let preview = match (&request.force, ctx.keys) {
        (Some(grant), _) => PreviewDecision::Active {
            grant: grant.clone(),
            set_cookie: None,
        },
        (None, Some(keys)) => preview::decide(
            facts.query_param(preview::QUERY_PARAM),
            &request.cookies,
            &keys.preview,
            now,
        ),
        (None, None) => PreviewDecision::None,
    };
    let (forced, forced_variants): (&[String], &[(String, String)]) = match preview.grant() {
        Some(grant) => (&grant.segments, &grant.variants),
        None => (&[], &[]),
    };
    // Not in a preview: it keeps nothing, so the events wait for a real page.
    let mut event_counts = Vec::new();
    let mut server_events_applied = Vec::new();
    if !request.server_events.is_empty() && !preview.is_active() && visitor.tracked {
        event_counts = events::record_server_events(rules, visitor, &request.server_events, now);
        server_events_applied = request.server_events.iter().map(|e| e.id.clone()).collect();
    }
    classify::record_page_view(rules, &mut visitor.state, &facts.path, now);
    // Later pages of the visit still know the campaign it came from.
    crate::state::campaign::remember(&mut visitor.state, &facts.query);
    // The per-segment report is only needed to explain a preview.
    let options = ClassifyOptions {
        forced,
        counters: ctx.counters,
        lean: !(preview.is_active() || request.explain),
        experiments: AssignOptions {
            forced: forced_variants,
            weights: ctx.weights,
            untracked: !visitor.tracked,
            stopped: ctx.stopped,
        },
    };
    let members_before = if rules.activations.is_empty() {
        Vec::new()
    } else {
        crate::export::transitions::member_keys(&visitor.state.memberships)
    };
    let mut classification = classify::classify(rules, facts, &mut visitor.state, &options);
    // Counted (and exported) only for visitors who may be tracked and
    // measured, and never for previews.
    let counted = visitor.tracked && visitor.measured && !preview.is_active();
    // Before the cookie is written: the covariates of the experiments this
    // page may expose the visitor to, from their history so far.
    let covariates = if counted {
        cuped::snapshot(rules, &mut visitor.state, &classification.experiments, now)
    } else {
        Vec::new()
    };

    let mut records = Vec::new();
    let mut webhooks = Vec::new();
    let mut head = String::new();
    if counted && (rules.export.is_some() || !rules.activations.is_empty()) {
        if let Some(export) = rules.export.as_ref().filter(|e| e.page_views) {
            let source = RecordSource {
                rules,
                export,
                rules_version: ctx.rules_version,
            };
            records.push(source.page_view(record_id, facts, &visitor.state, &classification));
        }
        if ctx.webhooks {
            let fired = crate::export::transitions::fired(
                rules,
                &members_before,
                &visitor.state.memberships,
            );
            for (activation, transition) in fired {
                webhooks.push(Delivery {
                    activation: activation.id.clone(),
                    segment: activation.segment.clone(),
                    transition,
                    at: now,
                    visitor: visitor.state.visitor_id_hex(),
                    rules_version: ctx.rules_version,
                    rules_label: rules.version().to_string(),
                });
            }
        }
        // The page's own code may pass the id to the site's backend, which is
        // how a webhook receiver or the export's reader links it to a person.
        head.push_str(&crate::export::visitor_id_script(&visitor.state));
    }
    // The site's backend names the visitor by this id when it sends their
    // server events (README, "Events from the site's server").
    let id_exposed = counted && (rules.export.is_some() || !rules.activations.is_empty());
    if !id_exposed
        && visitor.tracked
        && !preview.is_active()
        && crate::server_events::accepts_server_events(rules)
    {
        head.push_str(&crate::export::visitor_id_script(&visitor.state));
    }
    // The page measures engagement only for a tracked visitor, outside
    // previews, whose rules read it.
    if counted && !rules.tracking.engagement.is_empty() {
        head.push_str(classify::ENGAGEMENT_SCRIPT);
    }

    // Validators describe the origin's bytes, not this visitor's page.
    let mut headers = vec![
        HeaderChange::Remove("etag"),
        HeaderChange::Remove("last-modified"),
    ];
    let cookie = |visitor: &Visitor| visitor.set_cookie(rules, ctx.keys);
    match &preview {
        PreviewDecision::Active { .. } if request.force.is_some() => {}
        PreviewDecision::Active { grant, set_cookie } => {
            // A preview is the marketer's look at content: it keeps nothing of
            // the visit and counts nothing.
            if let Some(c) = set_cookie {
                headers.push(HeaderChange::Append("set-cookie", c.clone()));
            }
            head.push_str(&preview::banner_script(grant));
            headers.push(HeaderChange::Set(
                "x-edgeseg-debug",
                classify::explain(rules, &classification),
            ));
        }
        PreviewDecision::End { clear_cookie } => {
            headers.push(HeaderChange::Append("set-cookie", clear_cookie.clone()));
            headers.extend(cookie(visitor).map(|c| HeaderChange::Append("set-cookie", c)));
        }
        PreviewDecision::None => {
            headers.extend(cookie(visitor).map(|c| HeaderChange::Append("set-cookie", c)));
        }
    }
    if !head.is_empty() {
        classification
            .plan
            .head_append
            .get_or_insert_with(String::new)
            .push_str(&head);
    }
    // The page now depends on the visitor: no shared cache may store it.
    headers.push(HeaderChange::Set(
        "cache-control",
        "private, no-cache".into(),
    ));
    headers.push(HeaderChange::Append("vary", "Cookie".into()));
    if !classification.plan.is_empty() {
        // The rewritten page's length is not known in advance.
        headers.push(HeaderChange::Remove("content-length"));
    }

    let mut counts = Vec::new();
    if counted {
        counts.push(counter_names::PAGE_VIEWS.to_string());
        for segment in &classification.entered {
            counts.push(counter_names::entries(segment));
            counts.extend(rules.counters_for_entry(segment).map(str::to_string));
        }
        // Each model's score and input bins, for its drift (signals::drift).
        let value = |i: usize| classification.signals.get(i).and_then(|(_, v)| v.clone());
        for model in &rules.drift {
            model.counts(&model.bins(&value), &mut counts);
        }
    }
    let after_rewrite = AfterRewrite {
        counted,
        now,
        content: classification.content.clone(),
        experiments: if counted {
            classification.experiments.clone()
        } else {
            Vec::new()
        },
        covariates,
    };
    PageOutcome {
        classification,
        tracked: visitor.tracked,
        counted,
        preview,
        headers,
        counts,
        records,
        webhooks,
        after_rewrite,
        now,
        event_counts,
        server_events_applied,
    }
}
