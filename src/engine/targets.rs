//! Targets: what a step changes, how its value is read and set through the
//! provider, and what a value becomes when a change is applied to it.

use crate::plan::{Step, StepKind};
use crate::providers::{Channel, FlagChange, FlagState};
use crate::state::{Target, Value};

use super::Engine;

/// A change to a target's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Percent(f64),
    Flag(FlagChange),
    /// Remove the override: the proxy's configuration rules again (it gave
    /// this percent when it was read).
    Unset(f64),
}

impl Change {
    /// The change that makes a target hold exactly `value`.
    pub fn to(value: &Value) -> Change {
        match value {
            Value::Percent(p) => Change::Percent(*p),
            Value::Flag(f) => Change::Flag(FlagChange::to(f)),
            Value::Configured { configured } => Change::Unset(*configured),
        }
    }

    /// `value` with this change applied: what the target holds after it.
    pub fn apply(&self, value: &Value) -> Value {
        match (self, value) {
            (Change::Percent(p), _) => Value::Percent(*p),
            (Change::Unset(p), _) => Value::Configured { configured: *p },
            (Change::Flag(c), Value::Flag(f)) => Value::Flag(FlagState {
                enabled: c.enabled.unwrap_or(f.enabled),
                percent: match c.percent {
                    Some(p) => p,
                    None => f.percent,
                },
            }),
            (Change::Flag(c), Value::Percent(_) | Value::Configured { .. }) => {
                Value::Flag(FlagState {
                    enabled: c.enabled.unwrap_or(false),
                    percent: c.percent.flatten(),
                })
            }
        }
    }
}

/// The target a step changes, and the change; `None` for steps that
/// change no target (soak, check, hooks, ...).
pub fn step_change(step: &Step) -> Option<(Target, Change)> {
    match &step.kind {
        StepKind::Traffic { provider, percent } => Some((
            Target::router(provider, Channel::Traffic),
            Change::Percent(percent.value()),
        )),
        StepKind::Mirror { provider, percent } => Some((
            Target::router(provider, Channel::Mirror),
            Change::Percent(percent.value()),
        )),
        StepKind::Flag {
            provider,
            key,
            enabled,
            percent,
        } => Some((
            Target::Flag {
                provider: provider.clone(),
                key: key.clone(),
            },
            Change::Flag(FlagChange {
                enabled: *enabled,
                percent: percent.map(|p| Some(p.value())),
            }),
        )),
        _ => None,
    }
}

impl Engine<'_> {
    /// The target's live value.
    pub async fn read(&self, target: &Target) -> anyhow::Result<Value> {
        Ok(match target {
            Target::Traffic { provider } => {
                self.providers
                    .router(provider)?
                    .read(Channel::Traffic)
                    .await?
            }
            Target::Mirror { provider } => {
                self.providers
                    .router(provider)?
                    .read(Channel::Mirror)
                    .await?
            }
            Target::Flag { provider, key } => {
                Value::Flag(self.providers.flags(provider)?.get(key).await?)
            }
        })
    }

    /// Apply `change` to the target.
    pub async fn write(&self, target: &Target, change: &Change) -> anyhow::Result<()> {
        match (target, change) {
            (Target::Traffic { provider }, Change::Percent(p)) => {
                self.providers
                    .router(provider)?
                    .set(Channel::Traffic, *p)
                    .await?
            }
            (Target::Mirror { provider }, Change::Percent(p)) => {
                self.providers
                    .router(provider)?
                    .set(Channel::Mirror, *p)
                    .await?
            }
            (Target::Traffic { provider }, Change::Unset(p)) => {
                self.providers
                    .router(provider)?
                    .unset(Channel::Traffic, *p)
                    .await?
            }
            (Target::Mirror { provider }, Change::Unset(p)) => {
                self.providers
                    .router(provider)?
                    .unset(Channel::Mirror, *p)
                    .await?
            }
            (Target::Flag { provider, key }, Change::Flag(c)) => {
                self.providers.flags(provider)?.set(key, c).await?
            }
            (t, c) => anyhow::bail!("cannot apply {c:?} to {t}"),
        }
        Ok(())
    }

    /// Read a target back until it holds `want` (a few short tries, for
    /// systems that apply asynchronously: an nginx reload, a watched file).
    pub async fn verify(&self, target: &Target, want: &Value) -> anyhow::Result<Value> {
        let mut last = None;
        for attempt in 0..5u64 {
            let live = self.read(target).await?;
            if want.matches(&live) {
                return Ok(live);
            }
            last = Some(live);
            self.clock
                .sleep(std::time::Duration::from_millis(50 * (attempt + 1)))
                .await;
        }
        let seen = last.map_or_else(|| "nothing".to_string(), |v| v.to_string());
        anyhow::bail!("set {target} to {want}, but it reads back as {seen}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_changes_touch_only_what_they_name() {
        let on_at_5 = Value::Flag(FlagState {
            enabled: true,
            percent: Some(5.0),
        });
        let off = Change::Flag(FlagChange {
            enabled: Some(false),
            percent: None,
        });
        assert_eq!(
            off.apply(&on_at_5),
            Value::Flag(FlagState {
                enabled: false,
                percent: Some(5.0)
            })
        );
        let to_50 = Change::Flag(FlagChange {
            enabled: None,
            percent: Some(Some(50.0)),
        });
        assert_eq!(
            to_50.apply(&on_at_5),
            Value::Flag(FlagState {
                enabled: true,
                percent: Some(50.0)
            })
        );
        assert_eq!(Change::to(&on_at_5).apply(&Value::Percent(0.0)), on_at_5);
    }
}
