//! What migrate tells the people watching a migration: alerts (conditions
//! that hold for a while, for Alertmanager) and notices (events, for
//! webhooks). Built by the application layer, sent by the notifier
//! adapters.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

/// The version of a webhook notice's JSON body.
pub const NOTICE_SCHEMA: &str = "migrate.notify/v1";

/// A condition, as Alertmanager's API v2 takes it: identified by its
/// labels; firing while `ends_at` is in the future, resolved when it is
/// now or past.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: SystemTime,
    pub ends_at: SystemTime,
}

impl Alert {
    /// `alertname`, the condition's name.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// Whether it fires at `now` (its end is still ahead).
    pub fn firing_at(&self, now: SystemTime) -> bool {
        self.ends_at > now
    }

    /// What identifies it: its labels, in one string.
    pub fn key(&self) -> String {
        self.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Something that happened to a migration, for a webhook.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notice {
    /// `step_done`, `breach`, `rollback_started`, `rollback_finished`,
    /// `approval_needed`, `mismatch`, `parity_restored`, `completed`.
    pub event: String,
    pub migration: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// What happened, in one line.
    pub summary: String,
    /// The command to run next, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The event's details (step, gate, value, reconciliation, ...).
    pub fields: serde_json::Value,
}
