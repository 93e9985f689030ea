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

pub mod batch;
pub mod record;
pub mod settings;
pub mod transitions;
pub mod webhook;

pub use batch::{decode, partition_key, to_ndjson, QueueMessage};
pub use record::{ExportRecord, RecordKind};
pub use settings::{CompiledActivation, CompiledExport};
pub use webhook::{Delivery, Transition};

