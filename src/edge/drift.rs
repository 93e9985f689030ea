//! The Worker's side of drift (the counting and the PSI are the core's,
//! [`crate::signals::drift`]): `GET admin/api/models` for the Models tab, and
//! the cron that raises each model's alarm and announces a crossing to the
//! `model_drift` activations once.
//!
//! Nothing here runs on the content path: the page only adds counts.

use serde_json::json;
use worker::{console_error, Env, Response, Result};

use crate::counters::Counts;
use crate::document::ActivationOn;
use crate::export::batch::QueueMessage;
use crate::rules::compile::CompiledActivation;
use crate::rules::CompiledRules;
use crate::signals::drift::{self, Alarms, DriftDelivery, DriftModel};

/// Days of PSI the Models tab shows.
const DAYS: u64 = 14;
/// How often, at most, the cron checks the alarms (one KV write each time);
/// the `EDGESEG_DRIFT_EVERY` var (seconds) overrides it.
const DRIFT_EVERY_SECS: u64 = 3_600;
/// The KV key of every model's alarm.
const ALARMS_KEY: &str = "drift:alarms";

/// The drift counters of the last `days` UTC days, per hour.
async fn hours(env: &Env, days: u64) -> Vec<(u64, Counts)> {
    let now_hour = super::now_secs() / 3_600;
    let from = (now_hour / 24).saturating_sub(days - 1) * 24;
    super::counters::read_totals(env, from, now_hour).await
}

/// `GET models` (admin): per model signal its reference, its score and
/// input distributions on the newest day against it, and the PSI per day.
pub async fn models(env: &Env) -> Result<Response> {
    let Some(rules) = super::rules_cache::current(env).await else {
        return super::json_reply(200, &json!({"models": [], "threshold": drift::WARN_PSI}));
    };
    let hours = if rules.drift.is_empty() {
        Vec::new()
    } else {
        hours(env, DAYS).await
    };
    let models: Vec<_> = rules
        .drift
        .iter()
        .map(|m| drift::model_json(m, &m.days_of_hours(&hours)))
        .collect();
    super::json_reply(
        200,
        &json!({
            "models": models,
            "threshold": drift::WARN_PSI,
            "min_day_moments": drift::MIN_DAY_MOMENTS,
        }),
    )
}

/// The cron's part: at most every [`DRIFT_EVERY_SECS`], when some
/// activation listens, each model's alarm from its newest day's PSI;
/// a crossing queues one webhook per listening activation.
pub async fn scheduled(env: &Env) {
    let Some(rules) = super::rules_cache::current(env).await else {
        return;
    };
    fn listening<'a>(
        rules: &'a CompiledRules,
        m: &'a DriftModel,
    ) -> impl Iterator<Item = &'a CompiledActivation> + 'a {
        rules.activations.iter().filter(move |a| {
            a.on == ActivationOn::ModelDrift && a.signal.as_ref().is_none_or(|s| *s == m.name)
        })
    }
    if !rules
        .drift
        .iter()
        .any(|m| listening(&rules, m).next().is_some())
    {
        return;
    }
    let Ok(kv) = env.kv(super::KV_BINDING) else {
        return;
    };
    let every = env
        .var("EDGESEG_DRIFT_EVERY")
        .ok()
        .and_then(|v| v.to_string().trim().parse::<u64>().ok())
        .unwrap_or(DRIFT_EVERY_SECS);
    let now = super::now_secs();
    let mut alarms = match kv.get(ALARMS_KEY).text().await {
        Ok(Some(text)) => Alarms::from_json(&text),
        _ => Alarms::default(),
    };
    if alarms.checked != 0 && now.saturating_sub(alarms.checked) < every {
        return;
    }
    let hours = hours(env, 2).await;
    let mut messages = Vec::new();
    for m in &rules.drift {
        let days = drift::days(m, &m.days_of_hours(&hours));
        let newest = drift::newest(&days);
        let at = match alarms.models.iter().position(|(n, _)| *n == m.name) {
            Some(at) => at,
            None => {
                alarms.models.push((m.name.clone(), Default::default()));
                alarms.models.len() - 1
            }
        };
        let alarm = &mut alarms.models[at].1;
        if !alarm.update(newest) {
            continue;
        }
        let Some(day) = newest else { continue };
        for a in listening(&rules, m) {
            let delivery = DriftDelivery {
                activation: &a.id,
                signal: &m.name,
                crossing: alarm.crossings,
                at: now,
                day,
                rules_version: super::rules_cache::revision(),
                rules_label: rules.version(),
            };
            messages.push(
                QueueMessage::Webhook {
                    activation: a.id.clone(),
                    idempotency_key: delivery.idempotency_key(),
                    body: delivery.body(),
                }
                .encode(),
            );
        }
    }
    alarms.checked = now;
    let written = match kv.put(ALARMS_KEY, alarms.to_json()) {
        Ok(p) => p.execute().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(err) = written {
        // Not announced until the alarm is in KV: the next run tries again.
        console_error!("edgeseg: writing the drift alarms failed: {err}");
        return;
    }
    if !messages.is_empty() && super::export::webhooks_enabled(env) {
        if let Err(err) = super::export::send_now(env, messages).await {
            console_error!("edgeseg: announcing model drift failed: {err}");
        }
    }
}
