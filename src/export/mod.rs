//! Data out: the event export (records for R2) and activation webhooks.
//!
//! Pure, like the rest of the core: the Worker (`src/edge/export.rs`) hands
//! in a classification, the state, the time and random bytes, and gets back
//! queue messages as text; its queue consumer hands the messages back and
//! gets NDJSON bytes, object keys, webhook bodies and signatures.
//!
//! - [`settings`]: `settings.export` and `activations` compiled and checked.
//! - [`record`]: one export record (schema v1, docs/export-schema.md).
//! - [`batch`]: queue messages, NDJSON objects, hour-partitioned R2 keys.
//! - [`webhook`]: the payload, its HMAC-SHA256 signature, the idempotency
//!   key, retry delays and the per-activation rate cap.
//! - [`transitions`]: which activations a request's membership changes fire.
//! - [`erase`]: erasure of one visitor id from the export's objects.

pub mod batch;
pub mod erase;
pub mod record;
pub mod settings;
pub mod transitions;
pub mod webhook;

pub use batch::{decode, partition_key, to_ndjson, QueueMessage};
pub use record::{ExportRecord, RecordKind};
pub use settings::{CompiledActivation, CompiledExport};
pub use webhook::{Delivery, Transition};

/// Counter names of the export and webhooks (hourly, in stats; today's
/// totals on the health endpoint).
pub mod names {
    /// Records handed to the queue.
    pub const RECORDS_QUEUED: &str = "export:records_queued";
    /// Messages the queue refused (send failed); they are lost.
    pub const SEND_FAILURES: &str = "export:send_failures";
    /// Records written to R2.
    pub const RECORDS_WRITTEN: &str = "export:records_written";
    /// R2 objects written.
    pub const OBJECTS_WRITTEN: &str = "export:objects_written";
    /// Records given up after the last retry (or with no bucket bound).
    pub const RECORDS_DROPPED: &str = "export:records_dropped";
    /// Queue messages the consumer could not read (acknowledged, not retried).
    pub const POISONED: &str = "export:poisoned";
    /// Webhooks delivered (the receiver answered 2xx).
    pub const WEBHOOKS_DELIVERED: &str = "webhook:delivered";
    /// Webhook attempts that failed and were put back on the queue.
    pub const WEBHOOKS_RETRIED: &str = "webhook:retried";
    /// Webhooks given up after the last retry, or with no secret set.
    pub const WEBHOOKS_DROPPED: &str = "webhook:dropped";
    /// Webhooks over their activation's rate cap (dropped).
    pub const WEBHOOKS_CAPPED: &str = "webhook:capped";

    /// Every name above, for the health endpoint.
    pub const ALL: [&str; 10] = [
        RECORDS_QUEUED,
        SEND_FAILURES,
        RECORDS_WRITTEN,
        OBJECTS_WRITTEN,
        RECORDS_DROPPED,
        POISONED,
        WEBHOOKS_DELIVERED,
        WEBHOOKS_RETRIED,
        WEBHOOKS_DROPPED,
        WEBHOOKS_CAPPED,
    ];
}

/// The script that gives the page's own code the visitor id
/// (`window.edgeseg.visitorId`, see `www/__edgeseg/edgeseg.js`), so the site
/// can send it to its own backend. The id is 32 hex digits: nothing to escape.
pub fn visitor_id_script(state: &crate::state::VisitorState) -> String {
    format!(
        "<script>window.edgeseg=Object.assign(window.edgeseg||{{}},{{visitorId:\"{}\"}});</script>",
        state.visitor_id_hex()
    )
}
