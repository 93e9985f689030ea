//! Classification: request facts + visitor state + rules + now → segments,
//! why, and a rewrite plan.
//!
//! Per request: the caller records the page view into the state
//! ([`record_page_view`]), then calls [`classify`], which computes signals,
//! evaluates each segment's condition in dependency order, applies stickiness
//! (`enter_after` debounce, `hold_for`), and picks each block's content from the
//! visitor's best segment that has some.

use serde_json::{Map, Value};

use crate::experiments::exposure::{self, AssignOptions, ExperimentOutcome};
use crate::request::RequestFacts;
use crate::rewrite::{BlockAction, BlockRewrite, RewritePlan};
use crate::rules::compile::{CompiledContent, CompiledRules, CompiledSegment};
use crate::signals;
use crate::state::{campaign, Membership, Timestamp, VisitorState};
use crate::util::time::Phase;

/// Where a visitor stands with one segment after this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not a member; the condition does not hold.
    Out,
    /// The condition holds but has not held for `enter_after` yet.
    Pending {
        since: Timestamp,
        enters_at: Timestamp,
    },
    /// Became a member on this request.
    Entered,
    /// A member since then, condition holding.
    Member { since: Timestamp },
    /// A member whose condition stopped holding; membership lasts until then.
    Holding { until: Timestamp },
    /// Forced by a preview, whatever the condition.
    Forced,
}

impl Standing {
    /// The standing's name in JSON output (`out`, `pending`, `entered`, `member`, `holding`, `forced`).
    pub fn name(self) -> &'static str {
        match self {
            Standing::Out => "out",
            Standing::Pending { .. } => "pending",
            Standing::Entered => "entered",
            Standing::Member { .. } => "member",
            Standing::Holding { .. } => "holding",
            Standing::Forced => "forced",
        }
    }

    pub fn is_member(self) -> bool {
        matches!(
            self,
            Standing::Entered
                | Standing::Member { .. }
                | Standing::Holding { .. }
                | Standing::Forced
        )
    }
}

/// One segment's outcome, for the CLI, the debug header and the admin API.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentOutcome {
    pub id: String,
    pub priority: i32,
    /// Whether the condition held on this request.
    pub condition: bool,
    pub standing: Standing,
}

/// Everything decided for one request.
#[derive(Debug, Clone)]
pub struct Classification {
    /// Segments the visitor is in, best first (priority, then document order).
    pub segments: Vec<String>,
    /// Segments entered on this request (for entry counters).
    pub entered: Vec<String>,
    /// Every segment, in document order (empty with [`ClassifyOptions::lean`]).
    pub outcomes: Vec<SegmentOutcome>,
    /// Every signal with its value (`None`: absent).
    pub signals: Vec<(String, Option<signals::SignalValue>)>,
    /// The attribute object the conditions saw (`segments` in it is filled
    /// only when some condition or template reads it).
    pub attributes: Map<String, Value>,
    /// Content chosen per block: (block id, segment id), for segment content
    /// (impressions); experiment variants are in `experiments`.
    pub content: Vec<(String, String)>,
    /// Every experiment (and holdout): the variant and why, and its blocks in the plan.
    pub experiments: Vec<ExperimentOutcome>,
    /// Segment content the visitor would have got but for its schedule
    /// (`start_at`/`end_at`): (block id, segment id, where now falls), best
    /// first, for the debug header and simulations.
    pub scheduled: Vec<(String, String, Phase)>,
    pub plan: RewritePlan,
}

/// Options that change classification for one request.
#[derive(Debug, Clone, Default)]
pub struct ClassifyOptions<'a> {
    /// Aggregate counters the rules may read (`counters.NAME`).
    pub counters: Option<&'a Map<String, Value>>,
    /// Segments forced on (a signed preview): members whatever their condition.
    pub forced: &'a [String],
    /// Skip the per-segment report ([`Classification::outcomes`] stays empty):
    /// the Worker's hot path needs only segments and the plan.
    pub lean: bool,
    /// Forced variants, bandit weights, tracking (see [`AssignOptions`]).
    pub experiments: AssignOptions<'a>,
}

/// Records a page view into the state (sessions, `page_view` trackers) and
/// drops data the rules no longer need.
pub fn record_page_view(
    rules: &CompiledRules,
    state: &mut VisitorState,
    path: &str,
    now: Timestamp,
) {
    rules.tracking.record_page_view(state, path, now);
    rules.tracking.prune(state, now);
}

/// Records an event sent by the page. The caller has checked that the rules
/// declare it.
pub fn record_event(
    rules: &CompiledRules,
    state: &mut VisitorState,
    name: &str,
    path: &str,
    props: &Map<String, Value>,
    at: Timestamp,
) {
    if let Some(&key) = rules.events.get(name) {
        rules.tracking.record(state, name, key, path, props, at);
    }
}

/// Classifies the visitor. Updates memberships in `state`.
pub fn classify(
    rules: &CompiledRules,
    facts: &RequestFacts,
    state: &mut VisitorState,
    options: &ClassifyOptions<'_>,
) -> Classification {
    let now = facts.now;
    let mut attributes = facts.attributes();
    // A page without `utm_*` parameters has the visit's campaign.
    if !campaign::in_query(&facts.query) {
        for (name, value) in campaign::attributes(state) {
            attributes.insert(name.into(), Value::String(value.into()));
        }
    }
    let values = signals::evaluate(&rules.signals, &rules.tracking, state, now);
    let mut signal_list = Vec::with_capacity(values.len());
    for (signal, value) in rules.signals.iter().zip(values) {
        if let Some(v) = &value {
            attributes.insert(signal.name.clone(), v.to_json());
        }
        signal_list.push((signal.name.clone(), value));
    }
    attributes.insert(
        "counters".into(),
        Value::Object(options.counters.cloned().unwrap_or_default()),
    );
    attributes.insert("id".into(), Value::String(state.visitor_id_hex()));
    attributes.insert("segments".into(), Value::Array(Vec::new()));

    // Segments in dependency order; `segments` grows as members are found, so
    // a condition sees the memberships of the segments it depends on.
    let mut attributes = Value::Object(attributes);
    let mut standings: Vec<Standing> = Vec::with_capacity(rules.segments.len());
    let mut holds: Vec<bool> = Vec::with_capacity(rules.segments.len());
    // Memberships sorted by segment key for lookup; rebuilt in evaluation order,
    // which also forgets segments that no longer exist.
    let mut previous = std::mem::take(&mut state.memberships);
    previous.sort_unstable_by_key(|m| m.segment);
    let mut memberships = Vec::with_capacity(previous.len());
    for segment in &rules.segments {
        let condition = segment.condition.eval(&attributes, &rules.groups);
        let current = previous
            .binary_search_by_key(&segment.key, |m| m.segment)
            .ok()
            .map(|i| previous[i]);
        let (next, mut standing) = advance(current, segment, condition, now);
        if options.forced.iter().any(|f| f == &segment.id) {
            standing = Standing::Forced;
        }
        memberships.extend(next);
        if standing.is_member() && rules.reads_segments {
            if let Some(Value::Array(list)) = attributes.get_mut("segments") {
                list.push(Value::String(segment.id.clone()));
            }
        }
        standings.push(standing);
        holds.push(condition);
    }
    state.memberships = memberships;

    let mut members: Vec<usize> = (0..rules.segments.len())
        .filter(|&i| standings[i].is_member())
        .collect();
    best_first(rules, &mut members);
    let segments: Vec<String> = members
        .iter()
        .map(|&i| rules.segments[i].id.clone())
        .collect();
    if rules.reads_segments {
        if let Some(Value::Array(list)) = attributes.get_mut("segments") {
            *list = segments.iter().cloned().map(Value::String).collect();
        }
    }
    let entered = members
        .iter()
        .filter(|&&i| standings[i] == Standing::Entered)
        .map(|&i| rules.segments[i].id.clone())
        .collect();
    // Outcomes in document order (`order` is each segment's index in the document).
    let report_len = if options.lean {
        0
    } else {
        rules.segments.len()
    };
    let mut outcomes: Vec<Option<SegmentOutcome>> = vec![None; report_len];
    for ((s, standing), holds) in rules.segments.iter().zip(&standings).zip(&holds) {
        if let Some(slot) = outcomes.get_mut(s.order) {
            *slot = Some(SegmentOutcome {
                id: s.id.clone(),
                priority: s.priority,
                condition: *holds,
                standing: *standing,
            });
        }
    }
    let outcomes: Vec<SegmentOutcome> = outcomes.into_iter().flatten().collect();

    let mut experiments = if rules.experiments.is_empty() {
        Vec::new()
    } else {
        exposure::assign(
            rules,
            &attributes,
            |s| standings.get(s).is_some_and(|st| st.is_member()),
            state,
            &options.experiments,
            now,
        )
    };

    let attributes = match attributes {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut plan = RewritePlan::default();
    let mut content = Vec::new();
    let mut scheduled = Vec::new();
    for (bi, block) in rules.blocks.iter().enumerate() {
        // The best member segment's content that is live now; scheduled
        // content outside its time is as if it were not there.
        let mut chosen = None;
        for c in block
            .contents
            .iter()
            .filter(|c| standings[c.segment].is_member())
        {
            match c.schedule.phase(now) {
                Phase::Live => {
                    chosen = Some(c);
                    break;
                }
                phase => scheduled.push((
                    block.id.clone(),
                    rules.segments[c.segment].id.clone(),
                    phase,
                )),
            }
        }
        // (action, source, the segment whose content it is)
        let mut decided: Option<(BlockAction, String, Option<usize>)> = chosen.map(|c| {
            (
                render(c, &attributes),
                rules.segments[c.segment].id.clone(),
                Some(c.segment),
            )
        });
        // An experiment's variant takes the block (the first experiment that
        // names it wins); a holdout only where its segment's content would
        // show, and only for its held-out arm.
        let mut taken = false;
        for o in experiments.iter_mut() {
            let e = &rules.experiments[o.experiment];
            let names_block = o.variant.is_some()
                && e.blocks.contains(&bi)
                && e.holdout_of
                    .is_none_or(|s| chosen.is_some_and(|c| c.segment == s));
            if !names_block {
                continue;
            }
            // A holdout's personalized arm sees whatever the block shows
            // (the segment's content, or an experiment's variant): it is
            // exposed here but takes nothing.
            if e.holdout_of.is_some() && o.variant != Some(0) {
                o.blocks.push(block.id.clone());
                continue;
            }
            if taken {
                continue;
            }
            taken = true;
            let v = &e.variants[o.variant.unwrap_or(0)];
            let source = format!("experiment:{}:{}", e.key, v.id);
            match v.contents.iter().find(|(b, _)| *b == bi) {
                Some((_, c)) => decided = Some((render(c, &attributes), source, None)),
                // The segment's normal content, or a plan entry that matches
                // and changes nothing, so the rewriter reports the block as
                // on the page (the control's and holdout's exposure).
                None if decided.is_none() => {
                    decided = Some((BlockAction::default(), source, None));
                }
                None => {}
            }
            o.blocks.push(block.id.clone());
        }
        if let Some((action, source, segment)) = decided {
            plan.blocks.push(BlockRewrite {
                block_id: block.id.clone(),
                selector_text: block.selector_text.clone(),
                selector: block.selector.clone(),
                action,
                source: source.clone(),
            });
            if segment.is_some() {
                content.push((block.id.clone(), source));
            }
        }
    }
    // The variants go with the segments, so `edgeseg.variant(key)` answers on
    // the first, server-rendered page as after a client-side decision.
    let variants: Vec<(&str, &str)> = experiments
        .iter()
        .filter_map(|o| Some((o.key.as_str(), o.variant_id.as_deref()?)))
        .collect();
    if !segments.is_empty() || !variants.is_empty() {
        plan.head_append = Some(page_script(&segments, &variants));
    }
    Classification {
        segments,
        entered,
        outcomes,
        signals: signal_list,
        attributes,
        content,
        experiments,
        scheduled,
        plan,
    }
}

/// Sorts segment indices best first: priority, then document order. (One
/// function for classification and the export, so the Worker carries one
/// copy of the sort.)
pub fn best_first(rules: &CompiledRules, members: &mut [usize]) {
    members.sort_by_key(|&i| {
        (
            -(rules.segments[i].priority as i64),
            rules.segments[i].order,
        )
    });
}

/// The script that tells the page's own code (`window.edgeseg.segments`, see
/// `www/__edgeseg/edgeseg.js`) which segments the visitor is in. Segment ids
/// are validated as `[A-Za-z0-9_]+`, so the JSON needs no further escaping.
pub fn segments_script(segments: &[String]) -> String {
    page_script(segments, &[])
}

/// [`segments_script`] with the visitor's experiment variants, `{key:
/// variant}`, when there are any (without, the bytes are the segments'
/// script alone). Keys and ids are JSON-escaped, and `<` too, so no value can
/// close the script element.
pub fn page_script(segments: &[String], variants: &[(&str, &str)]) -> String {
    let list = serde_json::to_string(segments).unwrap_or_else(|_| "[]".into());
    let variants = if variants.is_empty() {
        String::new()
    } else {
        let map: Map<String, Value> = variants
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        let json = serde_json::to_string(&map).unwrap_or_else(|_| "{}".into());
        format!(",variants:{}", json.replace('<', "\\u003c"))
    };
    format!(
        "<script>window.edgeseg=Object.assign(window.edgeseg||{{}},{{segments:{list}{variants}}});</script>"
    )
}

/// The script that asks the page script to measure engaged time and scroll
/// depth (see `www/__edgeseg/edgeseg.js`). Injected only for a tracked
/// visitor whose rules have an `engaged` or `scroll` signal, so an untracked
/// visitor's page measures and sends nothing.
pub const ENGAGEMENT_SCRIPT: &str =
    "<script>window.edgeseg=Object.assign(window.edgeseg||{},{engagement:1});</script>";

fn render(c: &CompiledContent, attributes: &Map<String, Value>) -> BlockAction {
    BlockAction {
        inner_html: c.inner_html.as_ref().map(|t| t.render(attributes)),
        outer_html: c.outer_html.as_ref().map(|t| t.render(attributes)),
        remove: c.remove,
        set_attributes: c
            .set_attributes
            .iter()
            .map(|(k, t)| (k.clone(), t.render(attributes)))
            .collect(),
        before: c.before.as_ref().map(|t| t.render(attributes)),
        after: c.after.as_ref().map(|t| t.render(attributes)),
    }
}

/// Moves one segment's membership forward given whether its condition holds now.
///
/// Observations happen only at requests, so "the condition held for
/// `enter_after`" means: it held at a request at least `enter_after` after the
/// request where it was first seen to hold, and at every request in between.
fn advance(
    current: Option<Membership>,
    segment: &CompiledSegment,
    holds: bool,
    now: Timestamp,
) -> (Option<Membership>, Standing) {
    let (next, standing) = match (current, holds) {
        (None, true) if segment.enter_after == 0 => (
            Some(Membership {
                segment: segment.key,
                since: now,
                member: true,
                last_held: Some(now),
            }),
            Standing::Entered,
        ),
        (None, true) => (
            Some(Membership {
                segment: segment.key,
                since: now,
                member: false,
                last_held: None,
            }),
            Standing::Pending {
                since: now,
                enters_at: now + segment.enter_after,
            },
        ),
        (None, false) => (None, Standing::Out),
        (Some(m), true) if !m.member => {
            if now.saturating_sub(m.since) >= segment.enter_after {
                (
                    Some(Membership {
                        member: true,
                        since: now,
                        last_held: Some(now),
                        ..m
                    }),
                    Standing::Entered,
                )
            } else {
                (
                    Some(m),
                    Standing::Pending {
                        since: m.since,
                        enters_at: m.since + segment.enter_after,
                    },
                )
            }
        }
        (Some(m), true) => (
            Some(Membership {
                last_held: Some(now),
                ..m
            }),
            Standing::Member { since: m.since },
        ),
        (Some(m), false) if !m.member => (None, Standing::Out),
        (Some(m), false) => {
            // Hold from the last request at which the condition held, not from
            // the first one where it failed: a visitor back a week later is out.
            let held = m.last_held.unwrap_or(m.since);
            if now.saturating_sub(held) >= segment.hold_for {
                (None, Standing::Out)
            } else {
                (
                    Some(m),
                    Standing::Holding {
                        until: held + segment.hold_for,
                    },
                )
            }
        }
    };
    (next, standing)
}

/// One line saying which segments matched and why, for the preview's debug
/// header: `product_browser: condition held (product_views_10m=3); campaign_visitor: forced`.
/// Values come from the attributes the conditions saw.
pub fn explain(rules: &CompiledRules, c: &Classification) -> String {
    let mut parts = Vec::new();
    for id in &c.segments {
        let Some(outcome) = c.outcomes.iter().find(|o| &o.id == id) else {
            continue;
        };
        let reason = match outcome.standing {
            Standing::Forced => "forced by preview".to_string(),
            Standing::Holding { until } => format!("held until {until} (hold_for)"),
            _ => {
                let values: Vec<String> = rules
                    .segment_index(id)
                    .map(|i| rules.segments[i].condition.referenced_paths())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|path| {
                        let value = crate::template::lookup(&c.attributes, path.split('.'))
                            .map_or_else(|| "absent".to_string(), |v| v.to_string());
                        // A trained model also says how it got there.
                        let how = rules
                            .signals
                            .iter()
                            .position(|s| s.name == path)
                            .and_then(|i| {
                                let values: Vec<_> =
                                    c.signals.iter().map(|(_, v)| v.clone()).collect();
                                signals::explain_model(&rules.signals, i, &values)
                            })
                            .map_or_else(String::new, |h| format!(" [{h}]"));
                        format!("{path}={value}{how}")
                    })
                    .collect();
                format!("condition held ({})", values.join(", "))
            }
        };
        parts.push(format!("{id}: {reason}"));
    }
    if parts.is_empty() {
        parts.push("no segment matched".into());
    }
    for (block, segment, phase) in &c.scheduled {
        parts.push(format!(
            "block {block}: {segment}'s content {}",
            phase.describe()
        ));
    }
    for o in &c.experiments {
        let e = &rules.experiments[o.experiment];
        if e.status == crate::document::ExperimentStatus::Draft && o.variant.is_none() {
            continue;
        }
        let what = match &o.variant_id {
            Some(v) => format!("variant {v}"),
            None => "no variant".into(),
        };
        parts.push(format!(
            "experiment {}: {what} ({})",
            o.key,
            o.why.describe()
        ));
    }
    if parts.is_empty() {
        "no segment matched".into()
    } else {
        // Header values must stay on one line of visible ASCII.
        parts
            .join("; ")
            .chars()
            .map(|ch| {
                if ch.is_ascii_graphic() || ch == ' ' {
                    ch
                } else {
                    '?'
                }
            })
            .collect()
    }
}
