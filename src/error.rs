//! Errors in a rules document, each tied to the JSON path where it was found.
//!
//! A marketer fixes rules by reading these messages, so every message names the
//! spot (`segments[2].condition.views_10m.$gte`) and says what was expected and
//! what was found.

use std::fmt;

/// Kept at its old path: the CLI and the compiler call `error::suggest`.
pub use crate::util::suggest::suggest;

/// One problem in a rules document.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    /// JSON path of the offending value, e.g. `segments[2].condition.views_10m.$gte`.
    /// Empty for the document itself.
    pub path: String,
    pub kind: RuleErrorKind,
}

/// What is wrong at a path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleErrorKind {
    #[error("the document is not valid JSON: {message} (line {line}, column {column})")]
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("expected {expected}, got {found}")]
    WrongType {
        expected: &'static str,
        found: String,
    },
    #[error("unknown field \"{field}\"{}", did_you_mean(.suggestion))]
    UnknownField {
        field: String,
        suggestion: Option<String>,
    },
    #[error("missing required field \"{0}\"")]
    MissingField(&'static str),
    #[error("unknown operator \"{operator}\"{}", did_you_mean(.suggestion))]
    UnknownOperator {
        operator: String,
        suggestion: Option<String>,
    },
    #[error("invalid regular expression: {0}")]
    BadRegex(String),
    #[error("invalid duration \"{found}\": expected a whole number followed by s, m, h or d, like \"30s\", \"10m\", \"24h\", \"7d\"")]
    BadDuration { found: String },
    #[error("unknown {what} \"{name}\"{}", did_you_mean(.suggestion))]
    UnknownReference {
        what: &'static str,
        name: String,
        suggestion: Option<String>,
    },
    #[error("duplicate {what} \"{name}\"")]
    Duplicate { what: &'static str, name: String },
    #[error("segments depend on each other in a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("invalid CSS selector \"{selector}\": {reason}")]
    BadSelector { selector: String, reason: String },
    #[error("unsupported format {found}: this Worker reads format {supported}")]
    UnsupportedFormat { found: u64, supported: u32 },
    /// A value outside the allowed ones (`expected` lists them).
    #[error("expected {expected}, got {found}{}", did_you_mean(.suggestion))]
    NotOneOf {
        expected: String,
        found: String,
        suggestion: Option<String>,
    },
    /// A number outside the schema's bounds (`expected` says which).
    #[error("expected {expected}, got {found}")]
    OutOfRange { expected: String, found: String },
    /// An object that fits none of the shapes allowed here (a signal with no
    /// known kind key, say); `expected` lists them.
    #[error("{expected}{}", did_you_mean(.suggestion))]
    NoMatchingShape {
        expected: String,
        suggestion: Option<String>,
    },
    #[error("fits more than one of the allowed shapes; make it fit one")]
    AmbiguousShape,
    /// A name or id that breaks the rules for its kind of name.
    #[error("{}", bad_name(*.of, .name))]
    BadName { of: NameOf, name: String },
    #[error("{0}")]
    Reserved(Reserved),
    /// A duration of 0s where time must pass (`what`: "window", "half-life").
    #[error("{}must be longer than 0s{hint}", the(*.what))]
    ZeroDuration {
        what: Option<&'static str>,
        hint: &'static str,
    },
    #[error("{0}")]
    DurationLimit(DurationLimit),
    #[error("{0}")]
    OutOfBounds(Bound),
    /// Something that must be named is not.
    #[error("{0}")]
    Needs(Needed),
    /// Exactly one of several fields must be given.
    #[error("{0}")]
    ChooseOne(Choice),
    /// A field that means nothing with the others.
    #[error("{0}")]
    NotApplicable(NotApplicable),
    /// `page_view` where only events the page sends belong.
    #[error("{0}")]
    PageViewHere(PageViewUse),
    /// Content that contradicts itself.
    #[error("{0}")]
    Content(ContentProblem),
    #[error("{0}")]
    Experiment(ExperimentProblem),
    /// A `start_at`/`end_at` that is not an RFC 3339 time.
    #[error("invalid time \"{found}\": expected an RFC 3339 time in UTC like \"2026-12-24T18:00:00Z\" (or with an offset, \"2026-12-24T19:00:00+01:00\")")]
    BadTime { found: String },
    /// `end_at` not after `start_at` (both shown in UTC).
    #[error("end_at ({end}) must be after start_at ({start}): as written, it would never run")]
    EndNotAfterStart { start: String, end: String },
    #[error("\"{input}\" is a {model} signal: a model cannot read another model's value (logistic, cluster or trees); use the signals that model reads")]
    ModelReadsModel { input: String, model: &'static str },
    #[error("\"{input}\" is an affinity signal, whose value is a category name: a model reads numbers; use a share signal of it (how strong the top interest is)")]
    ModelReadsAffinity { input: String },
    #[error("\"{name}\" is not an affinity signal: a share is of an affinity's top category")]
    NotAnAffinity { name: String },
    /// A trained model's shape (centroids, trees) does not hold together.
    #[error("{0}")]
    BadModel(String),
    /// An affinity's path pattern.
    #[error("{0}")]
    BadPattern(String),
    #[error("{0}")]
    BadUrl(UrlProblem),
    #[error("\"{operator}\" must be inside an attribute's condition, like {{\"attribute\": {{\"{operator}\": ...}}}}")]
    OperatorAtTop { operator: String },
    #[error("\"{operator}\" combines whole conditions, so it belongs at the top of a condition, not inside an attribute's")]
    OperatorInside { operator: String },
    #[error("operators and field names are mixed in one object, so GrowthBook compares it as a plain value and \"{operator}\" is not applied")]
    MixedOperators { operator: String },
    /// Content that would run script on shoppers' pages, found when rules are
    /// saved (`rules::review`); the block's `allow_scripts` says it is meant.
    #[error("{found} here would run on the page of every shopper who sees this content; if that is meant (a tracking snippet you trust, say), set \"allow_scripts\": true on block \"{block}\"")]
    ActiveContent { found: ActiveContent, block: String },
    /// A content over `rules::review::LARGE_CONTENT_BYTES` (a warning).
    #[error("this content is {} KB, over {} KB: every page that shows it carries it; put large images or markup in files of the site and link them", .bytes.div_ceil(1024), .limit / 1024)]
    LargeContent { bytes: usize, limit: usize },
    /// A document over the admin API's size limit, with its largest parts.
    #[error("the document is {} KB, larger than the {} KB the admin API stores; its largest parts: {}", .bytes.div_ceil(1024), .limit / 1024, largest(.parts))]
    DocumentTooLarge {
        bytes: usize,
        limit: usize,
        parts: Vec<(String, usize)>,
    },
    /// Anything no kind above fits.
    #[error("{0}")]
    Invalid(String),
}

/// What makes content able to run script in a shopper's browser.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActiveContent {
    Script,
    Handler(String),
    JavascriptUrl(String),
    Srcdoc,
}

impl fmt::Display for ActiveContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Script => f.write_str("a <script> element"),
            Self::Handler(name) => write!(f, "an event-handler attribute ({name}=...)"),
            Self::JavascriptUrl(attr) => write!(f, "a javascript: URL ({attr}=...)"),
            Self::Srcdoc => {
                f.write_str("an iframe's srcdoc (a page of its own, which can run script)")
            }
        }
    }
}

fn largest(parts: &[(String, usize)]) -> String {
    let named: Vec<String> = parts
        .iter()
        .map(|(path, bytes)| format!("{path} ({} KB)", bytes.div_ceil(1024)))
        .collect();
    if named.is_empty() {
        "(not readable as JSON)".into()
    } else {
        named.join(", ")
    }
}

/// Which kind of name a [`RuleErrorKind::BadName`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameOf {
    Counter,
    Event,
    Signal,
    Segment,
    Experiment,
    Goal,
    Variant,
    Activation,
    /// edgeseg's own cookie (`settings.cookie_name`).
    Cookie,
    /// A site cookie that marks a session (`settings.origin_cache.session_cookies`).
    SessionCookie,
    /// An HTML attribute content sets.
    HtmlAttribute,
    UtmParameter,
}

fn bad_name(of: NameOf, name: &str) -> String {
    const PLAIN: &str = "must use only letters, digits and '_'";
    const NON_EMPTY: &str = "must be non-empty and use only letters, digits and '_'";
    match of {
        NameOf::Counter => format!(
            "counter name \"{name}\" {PLAIN} (conditions read it as counters.{name})"
        ),
        NameOf::Event => format!("event name \"{name}\" {PLAIN}"),
        NameOf::Signal => {
            format!("signal name \"{name}\" {PLAIN} (conditions read it as an attribute)")
        }
        NameOf::Segment => format!("segment id \"{name}\" {NON_EMPTY}"),
        NameOf::Experiment => format!("experiment key \"{name}\" {PLAIN}"),
        NameOf::Goal => format!("goal name \"{name}\" {PLAIN}"),
        NameOf::Variant => format!("variant id \"{name}\" {NON_EMPTY}"),
        NameOf::Activation => format!("activation id \"{name}\" {NON_EMPTY}"),
        NameOf::Cookie => {
            format!("\"{name}\" is not a valid cookie name: use letters, digits, '-' and '_'")
        }
        NameOf::SessionCookie => format!(
            "\"{name}\" is not a cookie name: no spaces, quotes or any of ()<>@,;:\\/[]?={{}}, with an optional '*' at the end"
        ),
        NameOf::HtmlAttribute => format!("\"{name}\" is not a valid attribute name"),
        NameOf::UtmParameter => format!(
            "\"{name}\" is not a UTM parameter name: write it without \"utm_\" (\"source\" for utm_source), letters, digits and '_' only"
        ),
    }
}

fn the(what: Option<&str>) -> String {
    what.map(|w| format!("the {w} ")).unwrap_or_default()
}

/// A name that is taken by something built in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reserved {
    #[error("{0} is built in: do not declare it")]
    Event(String),
    #[error("{0} is built in: choose another name")]
    Counter(String),
    #[error("\"{0}\" is a built-in attribute: choose another signal name")]
    Attribute(String),
    #[error("keys starting with holdout_ are taken by segment holdouts")]
    HoldoutPrefix,
}

/// A duration outside what a setting allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationLimit {
    #[error("keep counters at least 8d: totals must outlive the 7-day delta keys they fold")]
    CounterRetention,
    #[error("must not be longer than max_ttl (\"{max_ttl}\")")]
    OverMaxTtl { max_ttl: String },
    #[error("at most 7d: a page that old is no longer the site's")]
    StaleOver7Days,
}

/// A number outside its bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Bound {
    #[error("the weight must be a number above 0")]
    AffinityWeight,
    #[error("keep from 1 to {max} categories")]
    AffinityKeep { max: u32 },
    #[error("a holdout share is more than 0 and less than 1")]
    HoldoutShare,
    #[error("the weights add up to 0: nobody would be assigned")]
    ZeroWeights,
    #[error("hash_version is 1 or 2 (GrowthBook's), got {found}")]
    HashVersion { found: u32 },
    #[error("a namespace's start is below its end")]
    NamespaceRange,
    #[error("floor times the number of variants must not exceed 1")]
    BanditFloor,
    #[error("a property name must be 1 to 256 characters")]
    PropertyNameLength,
    #[error("must be at least 1 (remove the activation to stop it)")]
    DeliveryCap,
    #[error("min ({min}) is above max ({max}): no value would be accepted")]
    PropBoundsOrder { min: String, max: String },
    #[error("give \"min\", \"max\" or both")]
    PropBoundsEmpty,
}

/// Something that must be named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Needed {
    #[error("name at least one event and its points")]
    ScorePoints,
    #[error("name the segment whose entries or exits fire the webhook")]
    ActivationSegment,
    #[error("name at least one source, such as {{\"path\": \"/category/{{name}}\"}}")]
    AffinitySource,
    #[error("name the event property that holds the amount")]
    ValueProperty,
    #[error("name the attribute to hash (default id)")]
    HashAttribute,
    #[error("name a parameter (a prefix ending in '*' at most)")]
    IgnoredParameter,
}

/// Fields of which exactly one must be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Choice {
    #[error("say what to count with exactly one of event, impressions or entries")]
    CounterSource,
    #[error(
        "give either \"path\" (a pattern with a {{capture}}) or \"property\", not both or neither"
    )]
    AffinitySource,
    #[error("say who enters: a segment, a condition, or both")]
    ExperimentAudience,
}

/// A field that applies only with another.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotApplicable {
    #[error("segment narrows impressions only")]
    CounterSegment,
    #[error("bandit settings apply with \"allocation\": \"bandit\"")]
    BanditSettings,
    #[error("a variant's content has no schedule of its own: give the experiment start_at/end_at instead")]
    VariantSchedule,
    #[error("a holdout cannot have guardrails: it measures the personalization itself and never stops; put the guardrail on an experiment's goal")]
    GuardrailOnHoldout,
    #[error("segment is for enter and exit: a guardrail_stop activation names an experiment, a model_drift one a model signal (or none, for all)")]
    ActivationSegment,
    #[error("experiment is for guardrail_stop activations: enter and exit name a segment")]
    ActivationExperiment,
    #[error("signal is for model_drift activations: they name a model signal (or none, for every model)")]
    ActivationSignal,
}

/// Where `page_view` may not be named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PageViewUse {
    #[error("page views are counted as page_views already: read counters.page_views")]
    Counter,
    #[error("a goal is an event the page sends (edgeseg.track); page_view is not one")]
    Goal,
    #[error("page views are exported with \"page_views\": true, not listed as an event")]
    Export,
}

/// Content of a block or variant that contradicts itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentProblem {
    #[error("say what to do: inner_html, outer_html, remove, set_attributes, before or after")]
    Nothing,
    #[error("use inner_html or outer_html, not both")]
    InnerAndOuter,
    #[error("remove takes the element away: it cannot be combined with inner_html, outer_html or set_attributes")]
    RemoveAndChange,
    #[error("outer_html replaces the element: set its attributes in the HTML instead")]
    OuterAndAttributes,
    #[error("event-handler attributes (on...) can not be set: they would run script from request values")]
    EventHandler,
}

/// An experiment that cannot run as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentProblem {
    #[error("an experiment needs at least two variants")]
    TooFewVariants,
    #[error("give every variant a weight, or none (an equal split)")]
    SomeWeights,
    #[error("no variant changes any block: give at least one variant content")]
    NoContent,
    #[error("a bandit maximizes a goal's conversion rate: declare a goal")]
    BanditWithoutGoal,
    #[error("the bandit maximizes \"{goal}\", whose rate must not increase (a guardrail): give the bandit another goal with bandit.goal")]
    BanditMaximizesGuardrail { goal: String },
    #[error("experiment \"{0}\" has no guardrail goal, so it never stops a variant: give one of its goals \"guardrail\"")]
    NoGuardrail(String),
}

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlProblem {
    #[error("\"{0}\" is not a URL: write it as https://host/path")]
    NotAUrl(String),
    #[error("webhooks go over https:// (plain http:// only to localhost, for testing)")]
    PlainHttp,
    #[error("unsupported scheme \"{0}\": webhooks go to https:// URLs")]
    Scheme(String),
}

impl RuleErrorKind {
    /// A stable, machine-readable name of the kind (`unknown_reference`,
    /// `bad_name`, ...), for the admin API and editors.
    pub fn code(&self) -> &'static str {
        use RuleErrorKind as K;
        match self {
            K::Syntax { .. } => "syntax",
            K::WrongType { .. } => "wrong_type",
            K::UnknownField { .. } => "unknown_field",
            K::MissingField(_) => "missing_field",
            K::UnknownOperator { .. } => "unknown_operator",
            K::BadRegex(_) => "bad_regex",
            K::BadDuration { .. } => "bad_duration",
            K::UnknownReference { .. } => "unknown_reference",
            K::Duplicate { .. } => "duplicate",
            K::Cycle(_) => "cycle",
            K::BadSelector { .. } => "bad_selector",
            K::UnsupportedFormat { .. } => "unsupported_format",
            K::NotOneOf { .. } => "not_one_of",
            K::OutOfRange { .. } => "out_of_range",
            K::NoMatchingShape { .. } => "no_matching_shape",
            K::AmbiguousShape => "ambiguous_shape",
            K::BadName { .. } => "bad_name",
            K::Reserved(_) => "reserved",
            K::ZeroDuration { .. } => "zero_duration",
            K::DurationLimit(_) => "duration_limit",
            K::OutOfBounds(_) => "out_of_bounds",
            K::Needs(_) => "needs",
            K::ChooseOne(_) => "choose_one",
            K::NotApplicable(_) => "not_applicable",
            K::PageViewHere(_) => "page_view_here",
            K::Content(_) => "content",
            K::Experiment(_) => "experiment",
            K::BadTime { .. } => "bad_time",
            K::EndNotAfterStart { .. } => "end_not_after_start",
            K::ModelReadsModel { .. } => "model_reads_model",
            K::ModelReadsAffinity { .. } => "model_reads_affinity",
            K::NotAnAffinity { .. } => "not_an_affinity",
            K::BadModel(_) => "bad_model",
            K::BadPattern(_) => "bad_pattern",
            K::BadUrl(_) => "bad_url",
            K::OperatorAtTop { .. } => "operator_at_top",
            K::OperatorInside { .. } => "operator_inside",
            K::MixedOperators { .. } => "mixed_operators",
            K::ActiveContent { .. } => "active_content",
            K::LargeContent { .. } => "large_content",
            K::DocumentTooLarge { .. } => "document_too_large",
            K::Invalid(_) => "invalid",
        }
    }

    /// The did-you-mean of kinds that carry one.
    pub fn suggestion(&self) -> Option<&str> {
        match self {
            RuleErrorKind::UnknownField { suggestion, .. }
            | RuleErrorKind::UnknownOperator { suggestion, .. }
            | RuleErrorKind::UnknownReference { suggestion, .. }
            | RuleErrorKind::NotOneOf { suggestion, .. }
            | RuleErrorKind::NoMatchingShape { suggestion, .. } => suggestion.as_deref(),
            _ => None,
        }
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    crate::util::suggest::did_you_mean(suggestion.as_deref())
}

impl RuleError {
    pub fn new(path: impl Into<String>, kind: RuleErrorKind) -> Self {
        RuleError {
            path: path.into(),
            kind,
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "(document): {}", self.kind)
        } else {
            write!(f, "{}: {}", self.path, self.kind)
        }
    }
}

impl std::error::Error for RuleError {}

/// Every problem found in one pass over a rules document, in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleErrors(pub Vec<RuleError>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleErrors {}

/// Appends an object key to a JSON path: `a` + `b` → `a.b`; keys that are not
/// plain identifiers are quoted: `a["x.y"]`.
pub fn path_key(base: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-');
    match (base.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{base}.{key}"),
        (_, false) => format!("{base}[{}]", serde_json::Value::String(key.to_string())),
    }
}

/// Appends an array index to a JSON path: `segments` + 2 → `segments[2]`.
pub fn path_index(base: &str, index: usize) -> String {
    format!("{base}[{index}]")
}

/// A short description of a JSON value for "got ..." messages.
pub fn describe(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() > 40 => {
            let cut: String = s.chars().take(37).collect();
            format!("\"{cut}...\"")
        }
        Value::String(s) => format!("{:?}", s),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_quote_keys_that_are_not_identifiers() {
        assert_eq!(path_key("", "segments"), "segments");
        assert_eq!(
            path_key("segments[2].condition", "$gte"),
            "segments[2].condition.$gte"
        );
        assert_eq!(path_key("a", "x.y"), "a[\"x.y\"]");
        assert_eq!(path_index("segments", 2), "segments[2]");
    }

    #[test]
    fn error_messages_name_path_expectation_and_finding() {
        let e = RuleError::new(
            "segments[2].condition.views_10m.$gte",
            RuleErrorKind::WrongType {
                expected: "a number",
                found: describe(&serde_json::json!("three")),
            },
        );
        assert_eq!(
            e.to_string(),
            "segments[2].condition.views_10m.$gte: expected a number, got \"three\""
        );
    }
}
