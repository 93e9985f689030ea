//! The rules document as marketers write it (KV key `rules`), as Rust types.
//!
//! These types are the single source of truth for the document's shape: the
//! JSON Schema (`edgeseg schema`, `schema/rules.schema.json`) is generated from
//! them, and [`crate::rules::validate`] checks a document against that shape, reporting
//! every problem with its JSON path before anything is deserialized. Meaning
//! that the shape cannot express (durations, references between parts, regexes,
//! selectors, cycles) is checked when the document is compiled.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(not(target_arch = "wasm32"))]
use schemars::JsonSchema;

/// The current document format. A document declares it in `format`.
pub const FORMAT: u32 = 1;

/// A complete rules document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RulesDocument {
    /// Document format; must be 1.
    pub format: u32,
    /// A label for this version of the rules (shown by the health endpoint and
    /// the admin API), e.g. "2026-11-27-spring-sale".
    pub version: String,
    /// Cookie, refresh and session settings.
    #[serde(default)]
    pub settings: Settings,
    /// Events the site may send, by name. `page_view` is built in and need not
    /// be declared.
    #[serde(default)]
    pub events: BTreeMap<String, EventSpec>,
    /// Named values derived from the visitor's recent behaviour. Conditions
    /// refer to them by name, as top-level attributes.
    #[serde(default)]
    pub signals: BTreeMap<String, SignalSpec>,
    /// Segments in any order; `priority` decides which content a block shows.
    #[serde(default)]
    pub segments: Vec<SegmentSpec>,
    /// Content blocks by id. A block's element is found by `selector`, by
    /// default `[data-edgeseg-block="ID"]`.
    #[serde(default)]
    pub blocks: BTreeMap<String, BlockSpec>,
    /// Named lists of values for the `$inGroup` / `$notInGroup` operators.
    #[serde(default)]
    pub saved_groups: BTreeMap<String, Vec<Value>>,
    /// Counters of your own, by name: counted per hour in KV beside the
    /// built-in ones, and readable in conditions as `counters.NAME` (today's
    /// UTC total, approximate).
    #[serde(default)]
    pub counters: BTreeMap<String, CounterSpec>,
    /// Experiments by key: variants of blocks' content within a segment (or
    /// for visitors matching a condition), assigned by GrowthBook's hash.
    /// The key is the experiment's name in counters, reports and the hash seed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub experiments: BTreeMap<String, ExperimentSpec>,
    /// Signed webhooks when a visitor enters or leaves a segment (README,
    /// "Activation webhooks").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activations: Vec<ActivationSpec>,
}

/// A webhook on a segment transition.
/// Example: `{"id": "cart_reminder", "segment": "cart_abandoner", "on": "enter", "url": "https://crm.example.com/hook"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ActivationSpec {
    /// Unique id (letters, digits, `_`).
    pub id: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The segment (with `enter` and `exit`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub segment: String,
    /// `enter` or `exit` (the segment), `guardrail_stop` (an experiment's
    /// guardrail stopped a variant) or `model_drift` (a model's population
    /// stability index crossed 0.2).
    pub on: ActivationOn,
    /// With `guardrail_stop`: only this experiment's stops (default: every
    /// experiment's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// With `model_drift`: only this model signal's drift (default: every model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Where the payload is POSTed (`https://`; `http://` only to localhost).
    pub url: String,
    /// Most deliveries a minute (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 1)))]
    pub max_per_minute: Option<u32>,
    /// Most deliveries an hour (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 1)))]
    pub max_per_hour: Option<u32>,
}

/// The transition an activation fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActivationOn {
    /// The visitor became a member.
    Enter,
    /// The visitor stopped being a member.
    Exit,
    /// A guardrail stopped serving an experiment's variant (once per stop,
    /// from the cron, not per visitor).
    GuardrailStop,
    /// A model signal's drift crossed the warning level (once per crossing,
    /// from the cron).
    ModelDrift,
}

/// What a declared counter counts: one of `event`, `impressions` or `entries`.
/// Example: `{"impressions": "offer", "segment": "cart_abandoner"}` (a budget
/// cap's counter), `{"event": "request_demo"}`, `{"entries": "likely_buyer"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CounterSpec {
    /// Count this event (sent by the page) each time it is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Count each time this block is shown with a segment's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impressions: Option<String>,
    /// Count each time a visitor enters this segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<String>,
    /// With `impressions`: only impressions of this segment's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
}

/// Settings that apply to the whole document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Name of the visitor state cookie.
    pub cookie_name: String,
    /// How long the state cookie lives after the last visit (a duration such as "180d").
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub cookie_lifetime: String,
    /// How often, at most, a running Worker re-reads these rules from KV, in seconds.
    pub refresh_seconds: u32,
    /// A session ends after this long without a request (a duration).
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub session_timeout: String,
    /// Consent policy: when not to track.
    pub consent: ConsentSettings,
    /// How long hourly counter totals are kept in KV (a duration, default "35d").
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub counter_retention: String,
    /// The edge cache for pages from `ORIGIN_URL` (off by default: sharing a
    /// page between visitors is only safe once the site has checked that its
    /// personal pages say `Cache-Control: private` or set a cookie, and has
    /// listed its login cookies).
    pub origin_cache: OriginCacheSettings,
    /// The export to R2 (off by default; README, "Data out").
    pub export: ExportSettings,
    /// Who may do what in the admin when it is behind Cloudflare Access
    /// (README, "Admin users and roles"). Takes effect when a publisher
    /// publishes it, so an editor can not make themselves a publisher.
    pub admin: AdminSettings,
}

/// Roles of the people Cloudflare Access lets into the admin, by email
/// (`ann@shop.example`), Access group (`group:marketing`) or Access service
/// token (`service:<client id>`). Someone who fits several lists gets the
/// highest role.
/// Example: `{"publishers": ["lead@shop.example"], "editors": ["group:marketing"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// Publish drafts, roll back, purge the cache, start and stop experiments.
    pub publishers: Vec<String>,
    /// Save drafts and make preview links.
    pub editors: Vec<String>,
    /// Read everything, simulate, validate.
    pub viewers: Vec<String>,
    /// The role of a signed-in person who is on none of the lists (default
    /// `viewer`: Access already decides who may open the admin at all; `none`
    /// refuses them).
    pub default_role: DefaultRole,
}

/// The role of people on no list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DefaultRole {
    None,
    #[default]
    Viewer,
    Editor,
}

/// What the export writes: nothing the rules do not declare here.
/// Example: `{"enabled": true, "props": {"purchase": ["total"]}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct ExportSettings {
    /// Turn the export on.
    pub enabled: bool,
    /// A record per page view (default true).
    pub page_views: bool,
    /// Events that get a record (default: all declared).
    pub events: Option<Vec<String>>,
    /// Signals a record carries (default: all).
    pub signals: Option<Vec<String>>,
    /// Properties a record keeps, by event name (default: none).
    pub props: BTreeMap<String, Vec<String>>,
    /// UTM parameters kept, without `utm_` (default: the five standard ones).
    pub utm: Vec<String>,
}

impl Default for ExportSettings {
    fn default() -> Self {
        ExportSettings {
            enabled: false,
            page_views: true,
            events: None,
            signals: None,
            props: BTreeMap::new(),
            utm: ["source", "medium", "campaign", "term", "content"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cookie_name: "edgeseg".into(),
            cookie_lifetime: "180d".into(),
            refresh_seconds: 30,
            session_timeout: "30m".into(),
            consent: ConsentSettings::default(),
            counter_retention: "35d".into(),
            origin_cache: OriginCacheSettings::default(),
            export: ExportSettings::default(),
            admin: AdminSettings::default(),
        }
    }
}

/// Keep the origin's default pages in the edge cache and personalize each
/// visitor's copy after it, so page views do not each cost an origin request.
/// Applies only with `ORIGIN_URL` set, to `GET` requests for 2xx HTML pages.
/// Never stored: `Cache-Control: private`/`no-store`/`no-cache`, responses that
/// set a cookie, or vary on anything but `Accept-Encoding`; never used for
/// requests with `Authorization` or one of `session_cookies`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct OriginCacheSettings {
    /// Turn the origin cache on.
    pub enabled: bool,
    /// How long a page is fresh when the origin sends no `s-maxage`/`max-age`
    /// (a duration, default "60s").
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub ttl: String,
    /// The longest the origin's own `s-maxage`/`max-age` is honoured (default "1d").
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub max_ttl: String,
    /// Past its TTL, a page is still served for at most this long while a fresh
    /// copy is fetched after the response (default "60s"; "0s" turns it off).
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub stale_while_revalidate: String,
    /// When the origin fails (unreachable or a 5xx), a copy at most this long
    /// past its TTL answers instead (default "10m"; "0s" turns it off).
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub stale_if_error: String,
    /// The site's login/session cookie names: a request carrying one is never
    /// served from or stored in the cache. A trailing `*` matches a prefix
    /// (`"wordpress_logged_in_*"`).
    pub session_cookies: Vec<String>,
    /// Query parameters that do not change the page, left out of the cache key
    /// (besides `utm_*`, always left out). A trailing `*` matches a prefix.
    pub ignore_params: Vec<String>,
}

impl Default for OriginCacheSettings {
    fn default() -> Self {
        OriginCacheSettings {
            enabled: false,
            ttl: "60s".into(),
            max_ttl: "1d".into(),
            stale_while_revalidate: "60s".into(),
            stale_if_error: "10m".into(),
            session_cookies: Vec::new(),
            ignore_params: vec!["gclid".into(), "fbclid".into(), "msclkid".into()],
        }
    }
}

/// When a visitor must not be tracked. Untracked visitors get no state cookie
/// and record no events; segments that need no stored state still apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct ConsentSettings {
    /// Honour the `Sec-GPC: 1` (Global Privacy Control) request header.
    pub respect_gpc: bool,
    /// Name of the site's consent cookie, if it has one.
    pub cookie: Option<String>,
    /// Values of that cookie that mean "no tracking".
    pub deny_values: Vec<String>,
    /// The IAB TCF v2.2 consent string your consent platform writes, and the
    /// purposes each of edgeseg's consent levels needs (README, "Consent from
    /// your consent platform").
    pub tcf: TcfSettings,
}

impl Default for ConsentSettings {
    fn default() -> Self {
        ConsentSettings {
            respect_gpc: true,
            cookie: None,
            deny_values: vec!["0".into(), "no".into(), "false".into(), "deny".into()],
            tcf: TcfSettings::default(),
        }
    }
}

/// Which TCF purposes (1 to 24) each consent level needs: all of those
/// listed, by consent. A visitor is tracked (state cookie) with `store` and
/// `personalize`, and counted with `measure` too. Without a TC string in the
/// cookie nothing changes; a string that does not decode means no consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct TcfSettings {
    /// The cookie with the TC string (default "euconsent-v2"); null: TCF is not read.
    pub cookie: Option<String>,
    /// Purposes needed to keep the state cookie on the device (default `[1]`).
    #[cfg_attr(not(target_arch = "wasm32"), schemars(inner(range(min = 1, max = 24))))]
    pub store: Vec<u32>,
    /// Purposes needed to choose content from the visitor's history (default `[5, 6]`).
    #[cfg_attr(not(target_arch = "wasm32"), schemars(inner(range(min = 1, max = 24))))]
    pub personalize: Vec<u32>,
    /// Purposes needed to count the visitor, export and fire webhooks (default `[8, 9]`).
    #[cfg_attr(not(target_arch = "wasm32"), schemars(inner(range(min = 1, max = 24))))]
    pub measure: Vec<u32>,
    /// A vendor id (your own, if you are on the IAB's vendor list) that must
    /// have consent as well; without it the visitor is not tracked.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 1, max = 65535)))]
    pub vendor: Option<u32>,
}

impl Default for TcfSettings {
    fn default() -> Self {
        TcfSettings {
            cookie: Some("euconsent-v2".into()),
            store: vec![1],
            personalize: vec![5, 6],
            measure: vec![8, 9],
            vendor: None,
        }
    }
}

/// An event the site may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// How long the visitor's record of this event is kept (a duration, default "30d").
    #[serde(default = "default_remember")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub remember: String,
    /// What the event means, for people reading the rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who may send it (default "browser", the page script). Make events that
    /// carry value (a purchase, a plan upgrade) "server": the site's backend
    /// sends them signed (README, "Events from the site's server") and a
    /// browser's copy is refused with a 403.
    #[serde(default, skip_serializing_if = "EventSource::is_default")]
    pub source: EventSource,
    /// Bounds on numeric properties, by property name, e.g.
    /// `{"value": {"min": -5000, "max": 5000}}`: a value outside them (or not
    /// a number) refuses the whole request with a 400 naming the property,
    /// and nothing is recorded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub props: BTreeMap<String, PropBounds>,
}

/// Where an event may come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    /// The page (`POST /__edgeseg/event`): anyone's browser, so never trust it with value.
    #[default]
    Browser,
    /// Only the site's backend, signed (`POST /__edgeseg/server-events`).
    Server,
    /// Either.
    Any,
}

impl EventSource {
    fn is_default(&self) -> bool {
        *self == EventSource::Browser
    }
}

/// Bounds on one numeric event property (either or both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PropBounds {
    /// The smallest value accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The largest value accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

fn default_remember() -> String {
    "30d".into()
}

/// A signal: one of its kinds, told apart by their first key
/// (`count`, `since`, `visitor`, `score`, `logistic`, `cluster`, `trees`,
/// `sum`, `max`, `engaged`, `scroll`, `affinity`, `share`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[cfg_attr(
    not(target_arch = "wasm32"),
    schemars(
        title = "signal",
        example = serde_json::json!({"count": "page_view", "path": "/products/*", "within": "10m"}),
        example = serde_json::json!({"since": "add_to_cart", "unless": "purchase", "unit": "minutes"}),
        example = serde_json::json!({"sum": "purchase", "property": "value", "within": "90d"}),
        example = serde_json::json!({"engaged": "/products/*", "within": "7d", "unit": "minutes"}),
        example = serde_json::json!({"affinity": [{"path": "/category/{name}"}], "half_life": "14d"}),
    )
)]
#[serde(untagged)]
pub enum SignalSpec {
    Count(CountSignal),
    Since(SinceSignal),
    Visitor(VisitorSignal),
    Score(ScoreSignal),
    Logistic(LogisticSignal),
    Cluster(ClusterSignal),
    Trees(TreesSignal),
    Sum(SumSignal),
    Max(MaxSignal),
    Engaged(EngagedSignal),
    Scroll(ScrollSignal),
    Affinity(AffinitySignal),
    Share(ShareSignal),
}

/// The sum of a numeric property of an event over a window (RFM's
/// monetary value), e.g. what a visitor spent in 90 days. A number, or a
/// string holding one (what the DOM gives), adds its value; a missing or
/// non-numeric property adds nothing; a negative value (a refund) lowers
/// the sum. Kept to the cent (hundredths). 0 when nothing was added.
/// Example: `{"sum": "purchase", "property": "value", "within": "90d"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SumSignal {
    /// The event name.
    pub sum: String,
    /// The event property holding the amount.
    pub property: String,
    /// The window (a duration such as "90d").
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub within: String,
    /// Only events on paths matching this glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The largest value of a numeric property of an event over a window (the
/// biggest order), with the same rules as `sum`; absent when there was none.
/// Example: `{"max": "purchase", "property": "value", "within": "90d"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MaxSignal {
    /// The event name.
    pub max: String,
    /// The event property holding the amount.
    pub property: String,
    /// The window (a duration such as "90d").
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub within: String,
    /// Only events on paths matching this glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Engaged time on pages matching a path glob over a window: the time the
/// page was visible and the visitor active (input, scroll or pointer in the
/// last 5 seconds), as the page script measures and reports it when the
/// visitor leaves the page (the built-in `engagement` event). 0 when none.
/// Example: `{"engaged": "/products/*", "within": "7d", "unit": "minutes"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EngagedSignal {
    /// Path glob of the pages (`*` matches any run of characters).
    pub engaged: String,
    /// The window (a duration such as "7d").
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub within: String,
    /// Unit of the value (default seconds).
    #[serde(default)]
    pub unit: TimeUnit,
}

/// The deepest scroll reached on pages matching a path glob within a window,
/// in percent of the page (0 to 100; a page that fits the window is 100), as
/// reported by the page script. 0 when none.
/// Example: `{"scroll": "/products/*", "within": "7d"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ScrollSignal {
    /// Path glob of the pages.
    pub scroll: String,
    /// The window (a duration such as "7d").
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub within: String,
}

/// The visitor's strongest interest: categories taken from page paths or
/// from an event property, each event adding its source's weight, every
/// weight halving each `half_life`. The value is the top category's name (a
/// string: `{"top_interest": "footwear"}`, `{{top_interest|gear}}`); absent
/// when nothing is remembered. At most `keep` categories are kept (the
/// newest takes the weakest one's place); a category decayed under 0.05 is
/// forgotten. Names are cut to 32 bytes.
/// Example: `{"affinity": [{"path": "/category/{name}"}, {"event": "add_to_cart",
/// "property": "category", "weight": 3}], "half_life": "14d"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AffinitySignal {
    /// Where categories come from (at least one source).
    pub affinity: Vec<AffinitySource>,
    /// Weights halve over this long (a duration, default "30d").
    #[serde(default = "default_half_life")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub half_life: String,
    /// The most categories kept per visitor, 1 to 16 (default 5).
    #[serde(default = "default_keep")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 1, max = 16)))]
    pub keep: u32,
}

fn default_half_life() -> String {
    "30d".into()
}

fn default_keep() -> u32 {
    5
}

/// One source of categories: events (default `page_view`) whose path
/// matches a pattern with one capture, such as `/category/{name}` or
/// `/shop/{name}/*` (the capture is one path segment, `*` any run of
/// characters), or whose `property` names the category.
/// Example: `{"path": "/category/{name}"}`, `{"event": "add_to_cart", "property": "category", "weight": 3}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AffinitySource {
    /// The event (default `page_view`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// A path pattern with one `{capture}`: the category is the captured segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The event property holding the category (a string or number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// What one event adds to its category (default 1; more than 0).
    #[serde(default = "default_weight")]
    pub weight: f64,
}

fn default_weight() -> f64 {
    1.0
}

/// The share (0 to 1) of all the interest weight that an affinity signal's
/// top category holds: 1 for a visitor with one interest, lower for one
/// spread over many. Absent when the affinity is.
/// Example: `{"share": "top_interest"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ShareSignal {
    /// The name of an affinity signal.
    pub share: String,
}

/// How many times an event happened within a window, optionally only on
/// matching paths or with matching properties.
/// Example: `{"count": "page_view", "path": "/products/*", "within": "10m"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CountSignal {
    /// The event name.
    pub count: String,
    /// The window (a duration such as "10m").
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub within: String,
    /// Only events on paths matching this glob (`*` matches any run of
    /// characters, including `/`). Applies to `page_view` and to events the page
    /// sends (their path is the page's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only events whose properties equal these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub props: Option<BTreeMap<String, Value>>,
}

/// Time since the event last happened, in `unit`s; absent (so comparisons are
/// false and `$exists` is false) when it never happened, or when `unless`
/// happened after it.
/// Example: `{"since": "add_to_cart", "unless": "purchase", "unit": "minutes"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SinceSignal {
    /// The event name.
    pub since: String,
    /// Another event that cancels it: no value when this happened after `since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unless: Option<String>,
    /// Unit of the value (default seconds).
    #[serde(default)]
    pub unit: TimeUnit,
}

/// A fact about the visitor's visits.
/// Example: `{"visitor": "since_previous_visit", "unit": "days"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VisitorSignal {
    /// What to measure.
    pub visitor: VisitorMetric,
    /// Unit for the time metrics (ignored by counts).
    #[serde(default)]
    pub unit: TimeUnit,
}

/// What a visitor signal measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum VisitorMetric {
    /// Number of sessions, counting the current one.
    Sessions,
    /// Page views in the current session.
    SessionPages,
    /// Time since the current session started.
    SessionDuration,
    /// Time since the first visit.
    SinceFirstVisit,
    /// Time between the end of the previous session and the start of this one
    /// (absent on a first session).
    SincePreviousVisit,
}

/// Units for time signals. Values are fractional (90 seconds is 1.5 minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    #[default]
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl TimeUnit {
    pub fn seconds(self) -> f64 {
        match self {
            TimeUnit::Seconds => 1.0,
            TimeUnit::Minutes => 60.0,
            TimeUnit::Hours => 3_600.0,
            TimeUnit::Days => 86_400.0,
        }
    }
}

/// A weighted sum of event counts within a window.
/// Example: `{"score": {"page_view": 1, "add_to_cart": 5}, "within": "7d"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ScoreSignal {
    /// Points per event, by event name.
    pub score: BTreeMap<String, f64>,
    /// The window (a duration such as "7d").
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub within: String,
}

/// A logistic model over other signals: `1 / (1 + e^-(bias + Σ weight × signal))`,
/// a probability from 0 to 1. A missing input counts as 0. Paste in the
/// coefficients of a model trained elsewhere.
/// Example: `{"logistic": {"product_views_1h": 0.6, "engagement_7d": 0.08}, "bias": -4}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LogisticSignal {
    /// Weight per input signal, by signal name.
    pub logistic: BTreeMap<String, f64>,
    /// Added to the weighted sum before the logistic function (default 0).
    #[serde(default)]
    pub bias: f64,
    /// How it was trained (`edgeseg train` writes it; `edgeseg retrain` reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained: Option<Trained>,
    /// What the model saw when it was trained, for drift (`edgeseg train` writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "Option<ModelReference>"))]
    pub reference: Option<Value>,
}

/// A trained k-means model over other signals (`edgeseg train kmeans` prints
/// it): the nearest centroid by `Σ ((signal − centroid) / scale)²`. Its value
/// is that centroid's name from `names`, or its number (0 for the first). A
/// missing input counts as 0. At most 32 inputs and 32 centroids.
/// Example: `{"cluster": ["views_7d", "carts_7d"], "scale": [4.4, 1.9], "centroids": [[5.7, 4.1], [11.6, 0.4]], "names": ["cart_fillers", "browsers"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ClusterSignal {
    /// The input signals, in the order of each centroid's values.
    pub cluster: Vec<String>,
    /// Per input, the spread each difference is divided by (the training
    /// standard deviation).
    pub scale: Vec<f64>,
    /// The centroids, one value per input each, in the inputs' own units.
    pub centroids: Vec<Vec<f64>>,
    /// A name per centroid; the signal's value is then the nearest one's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// How it was trained (`edgeseg train` writes it; `edgeseg retrain` reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained: Option<Trained>,
    /// What the model saw when it was trained, for drift (`edgeseg train` writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "Option<ModelReference>"))]
    pub reference: Option<Value>,
}

/// A trained gradient-boosted tree ensemble over other signals (`edgeseg
/// train trees` prints it): `1 / (1 + e^-(base + Σ leaf))`, a probability
/// from 0 to 1. Each tree is a list of nodes: `[input, threshold, left,
/// right]` goes to node `left` when the input (a position in `trees`) is at
/// most `threshold`, else to `right`; `[value]` is a leaf. Children come after
/// their parent. A missing input counts as 0. At most 32 inputs, 500 trees,
/// 255 nodes a tree.
/// Example: `{"trees": ["views_7d", "carts_7d"], "base": -1.07, "ensemble": [[[1, 2.5, 1, 2], [-0.07], [0.13]]]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TreesSignal {
    /// The input signals; splits name them by position.
    pub trees: Vec<String>,
    /// The starting log-odds (default 0).
    #[serde(default)]
    pub base: f64,
    /// The trees, each a list of nodes.
    pub ensemble: Vec<Vec<Vec<f64>>>,
    /// How it was trained (`edgeseg train` writes it; `edgeseg retrain` reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained: Option<Trained>,
    /// What the model saw when it was trained, for drift (`edgeseg train` writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "Option<ModelReference>"))]
    pub reference: Option<Value>,
}

/// The `trained` field as each side keeps it: typed natively (the CLI reads
/// it); in the Worker, which never reads it, as plain JSON, since a typed
/// copy would cost the bundle about 4 KiB. Its shape is checked against the
/// schema there all the same ([`crate::rules::validate`]).
#[cfg(not(target_arch = "wasm32"))]
pub type Trained = TrainedWith;
#[cfg(target_arch = "wasm32")]
pub type Trained = Value;

/// How a model signal was trained, kept beside it so that `edgeseg retrain`
/// can train it again the same way on newer data and compare the two. The
/// Worker never reads it (scoring needs only the model).
/// Example: `{"at": "2026-12-01T04:00:00Z", "features": ["views_7d", "carts_7d"], "label": "purchase", "within": "7d", "auc": 0.81}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TrainedWith {
    /// When, in UTC (RFC 3339).
    pub at: String,
    /// The signals it learned from, in order (a retrain uses the same ones).
    pub features: Vec<String>,
    /// logistic, trees: the event it predicts a visitor sends...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// ...within this long after the moment.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    /// At most this many moments were sampled from the export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<u32>,
    /// trees: how many trees, how deep, the learning rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// cluster: the seed of k-means++.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u32>,
    /// Quality on the newer part it was tested on: ROC-AUC and log loss
    /// (logistic, trees) or silhouette (cluster), over this many moments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silhouette: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tested: Option<u32>,
}

/// A model's training-time distributions, which the Worker's live counts are
/// compared with (README, "Drift"): the share of training moments in each
/// score bin (ten bins of 0.1 for a probability, one per centroid for a
/// cluster) and, per input, the bin edges (deciles of the training values,
/// repeats dropped) with the share of moments in each bin.
/// Kept as JSON in the document (the Worker reads it once, when the rules
/// compile, in [`crate::signals::drift`]); this type is its schema.
/// Example: `{"trained": "2026-12-01", "moments": 4120, "quality": {"roc_auc": 0.81}, "scores": [0.5, 0.2, 0.1, 0.05, 0.05, 0.03, 0.03, 0.02, 0.01, 0.01], "inputs": {"views_7d": {"edges": [0, 2, 5], "shares": [0.4, 0.3, 0.2, 0.1]}}}`.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelReference {
    /// The UTC day of the newest moment the model learned from (YYYY-MM-DD).
    pub trained: String,
    /// Training moments the shares come from.
    pub moments: u32,
    /// Quality on the held-out newer moments, by measure (`roc_auc`,
    /// `log_loss`, `silhouette`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quality: BTreeMap<String, f64>,
    /// Share of moments per score bin, summing to 1.
    pub scores: Vec<f64>,
    /// Per input signal: its bin edges and shares.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, InputReference>,
}

/// One input's training distribution: bin `i` holds values above
/// `edges[i-1]` and at most `edges[i]` (the first bin everything at most
/// `edges[0]`, the last everything above the last edge).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputReference {
    /// Ascending bin edges (at most 9).
    pub edges: Vec<f64>,
    /// Share of moments per bin (one more than the edges), summing to 1.
    pub shares: Vec<f64>,
}

/// An audience segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SegmentSpec {
    /// Unique id, used by blocks, conditions (`segments`) and reports.
    pub id: String,
    /// What the segment is for, for people reading the rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Higher wins when a visitor is in several segments that have content for
    /// the same block; ties go to the segment listed first.
    #[serde(default)]
    pub priority: i32,
    /// A GrowthBook-style targeting condition over the visitor's attributes.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(
            extend("type" = "object"),
            example = serde_json::json!({"views_10m": {"$gte": 3}, "country": {"$in": ["DE", "AT"]}})
        )
    )]
    pub condition: Value,
    /// The condition must hold this long before membership starts (a duration,
    /// default "0s"): a debounce against flapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub enter_after: Option<String>,
    /// Membership lasts this long after the condition stops holding (a
    /// duration, default "0s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub hold_for: Option<String>,
    /// Keep a share of this segment's members on the default content, counted
    /// as their own arm against the personalized members, to measure the lift
    /// of the personalization itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<HoldoutSpec>,
}

/// A segment's holdout. Example: `{"share": 0.1, "goals": {"purchase": {"event": "purchase"}}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HoldoutSpec {
    /// The share of members held out, from 0 to 1 (e.g. 0.1 for 10 %).
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 0.0, max = 1.0)))]
    pub share: f64,
    /// Hash seed (default `holdout_SEGMENT`); changing it reshuffles who is held out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// What counts as a conversion, by goal name.
    #[serde(default)]
    pub goals: BTreeMap<String, GoalSpec>,
}

/// An experiment. Example:
/// `{"segment": "product_browser", "status": "running", "variants": [{"id": "control"},
/// {"id": "free_shipping", "content": {"hero": {"inner_html": "Free shipping today"}}}],
/// "goals": {"purchase": {"event": "purchase", "window": "7d", "value": "amount"}}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// What the experiment tests, for people reading the rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who enters: the members of this segment (and, with `condition` too,
    /// only those matching it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Who enters: visitors matching this condition (GrowthBook-style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("type" = "object")))]
    pub condition: Option<Value>,
    /// `draft` (not served, previews only), `running` (assigning and
    /// counting) or `stopped` (everyone who enters sees `serve`, nothing counted).
    pub status: ExperimentStatus,
    /// When stopped: the variant id everyone gets (default: the first, the control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serve: Option<String>,
    /// The variants; the first is the control. At least two.
    pub variants: Vec<VariantSpec>,
    /// Share of the entering visitors who are in the experiment, from 0 to 1
    /// (default 1). The others see the normal content and are not counted.
    #[serde(default = "default_coverage")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 0.0, max = 1.0)))]
    pub coverage: f64,
    /// Hash seed (default: the experiment key). Changing it reassigns everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// GrowthBook's hash version, 1 or 2 (default 2; 1 only to keep old assignments).
    #[serde(default = "default_hash_version")]
    pub hash_version: u32,
    /// A GrowthBook namespace: only visitors whose namespace hash falls in
    /// `[start, end)` enter, which keeps experiments in one namespace exclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceSpec>,
    /// The attribute hashed for assignment (default `id`, the visitor id).
    #[serde(default = "default_hash_attribute")]
    pub hash_attribute: String,
    /// What counts as a conversion, by goal name.
    #[serde(default)]
    pub goals: BTreeMap<String, GoalSpec>,
    /// `fixed` (the variants' weights) or `bandit` (weights moved toward the
    /// better variants by the cron; see `bandit`).
    #[serde(default)]
    pub allocation: Allocation,
    /// Bandit settings (with `allocation: "bandit"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandit: Option<BanditSpec>,
    /// When the experiment starts (with `status: "running"`): an RFC 3339 time, UTC or with an offset
    /// (e.g. "2026-12-24T18:00:00Z"). Before it, nobody is assigned and the normal content shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("format" = "date-time")))]
    pub start_at: Option<String>,
    /// When the experiment ends (RFC 3339, after `start_at`). From then on, it is as if stopped: everyone who enters sees `serve` (default the control) and nothing more is counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("format" = "date-time")))]
    pub end_at: Option<String>,
}

fn default_coverage() -> f64 {
    1.0
}

fn default_hash_version() -> u32 {
    2
}

fn default_hash_attribute() -> String {
    "id".into()
}

/// An experiment's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExperimentStatus {
    Draft,
    Running,
    Stopped,
}

/// How traffic is split between variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Allocation {
    #[default]
    Fixed,
    Bandit,
}

/// One variant of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// Unique within the experiment (letters, digits, '_').
    pub id: String,
    /// Relative weight (default: equal split). Weights are normalized, so
    /// `1, 1` and `0.5, 0.5` are the same split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 0.0)))]
    pub weight: Option<f64>,
    /// Content by block id (the same actions as a block's content). A block
    /// of the experiment that a variant leaves out shows the segment's normal
    /// content: a control with no content is "the segment's normal content".
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub content: BTreeMap<String, ContentSpec>,
}

/// A namespace slice. Example: `{"id": "checkout_tests", "start": 0, "end": 0.5}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NamespaceSpec {
    pub id: String,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 0.0, max = 1.0)))]
    pub start: f64,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 0.0, max = 1.0)))]
    pub end: f64,
}

/// A conversion goal. Example: `{"event": "purchase", "window": "7d", "value": "amount"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GoalSpec {
    /// The event (sent by the page) that converts.
    pub event: String,
    /// How long after the exposure the event counts (a duration, default "7d").
    #[serde(default = "default_window")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("format" = "duration", "pattern" = "^(0|[1-9][0-9]{0,8})[smhd]$"))
    )]
    pub window: String,
    /// A numeric property of the event to sum (revenue), for value per visitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Makes the goal a guardrail: `must_not_increase` (refunds, complaints)
    /// or `must_not_decrease` (engagement, sign-ups). A variant that
    /// significantly moves its conversion rate the wrong way (a one-sided
    /// sequential test against the control) stops being served: its
    /// visitors get the control (README, "Guardrails").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<Guardrail>,
}

/// The direction a guardrail goal's conversion rate must not move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Guardrail {
    /// Harm is a higher rate than the control's (refunds, cancellations).
    MustNotIncrease,
    /// Harm is a lower rate than the control's (engagement, sign-ups).
    MustNotDecrease,
}

fn default_window() -> String {
    "7d".into()
}

/// Thompson-sampling bandit settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct BanditSpec {
    /// The goal whose conversion rate is maximized (default: the first goal by name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// The least weight any variant keeps, from 0 to 0.5 (default 0.05).
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 0.0, max = 0.5)))]
    pub floor: f64,
    /// Exposures every variant needs before weights move (default 100).
    pub burn_in: u32,
}

impl Default for BanditSpec {
    fn default() -> Self {
        BanditSpec {
            goal: None,
            floor: 0.05,
            burn_in: 100,
        }
    }
}

/// A marked content block and its content per segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BlockSpec {
    /// CSS selector of the block's element(s); default `[data-edgeseg-block="ID"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Content by segment id. The visitor's highest-priority segment that has
    /// content here wins; with none, the page keeps its default content.
    pub content: BTreeMap<String, ContentSpec>,
    /// Lets this block's content (for every segment and experiment variant)
    /// carry `<script>` elements, event-handler attributes or `javascript:`
    /// URLs, which a save otherwise refuses: they run on shoppers' pages with
    /// the site's full rights. For a snippet you trust, never for markup
    /// pasted from somewhere you don't.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_scripts: bool,
}

/// What to do to a block for one segment. `{{attribute}}` (or
/// `{{attribute|fallback}}`) in any HTML string is replaced by that attribute's
/// value, HTML-escaped.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ContentSpec {
    /// Replace the element's content with this HTML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_html: Option<String>,
    /// Replace the whole element with this HTML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_html: Option<String>,
    /// Remove the element.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remove: bool,
    /// Set these attributes on the element.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set_attributes: BTreeMap<String, String>,
    /// Insert this HTML before the element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Insert this HTML after the element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// When this content shows starts (block content only: schedule an experiment with its own `start_at`): an RFC 3339 time, UTC or with an offset
    /// (e.g. "2026-12-24T18:00:00Z"). Before it, the block shows what it would without this content (a lower-priority segment's, or the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("format" = "date-time")))]
    pub start_at: Option<String>,
    /// When this content shows ends (RFC 3339, after `start_at`). From then on, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("format" = "date-time")))]
    pub end_at: Option<String>,
}
