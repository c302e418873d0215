//! Steps in words, for `plan` and the journal: "send 25% of traffic to
//! payments-v2 via lb".

use std::time::Duration;

use super::model::{Plan, Step, StepKind};

pub fn step(plan: &Plan, step: &Step) -> String {
    let candidate = |provider: &str| {
        plan.provider(provider)
            .map_or_else(|| "the candidate".to_string(), |p| p.candidate_label())
    };
    match &step.kind {
        StepKind::Traffic { provider, percent } => {
            match plan.provider(provider).and_then(|p| p.config.split_by()) {
                Some(by) => format!(
                    "send {percent} of customers (by {by}) to {} via {provider}",
                    candidate(provider)
                ),
                None => format!(
                    "send {percent} of traffic to {} via {provider}",
                    candidate(provider)
                ),
            }
        }
        StepKind::Mirror { provider, percent } => {
            format!(
                "mirror {percent} of traffic to {} via {provider}",
                candidate(provider)
            )
        }
        StepKind::Flag {
            provider,
            key,
            enabled,
            percent,
        } => match (enabled, percent) {
            (Some(true), Some(p)) => format!("turn flag {key} on for {p} via {provider}"),
            (Some(false), Some(p)) => {
                format!("turn flag {key} off (rollout {p}) via {provider}")
            }
            (Some(on), None) => format!(
                "turn flag {key} {} via {provider}",
                if *on { "on" } else { "off" }
            ),
            (None, Some(p)) => format!("roll flag {key} out to {p} via {provider}"),
            (None, None) => format!("touch flag {key} via {provider}"),
        },
        StepKind::Soak { duration, gates } => {
            if gates.is_empty() {
                format!("wait {}", duration_words(*duration))
            } else {
                format!(
                    "hold {}, watching {}",
                    duration_words(*duration),
                    gates.join(", ")
                )
            }
        }
        StepKind::Check { gates, timeout } => match timeout {
            Some(t) => format!(
                "check {} until they pass (up to {})",
                gates.join(", "),
                duration_words(*t)
            ),
            None => format!("check {} once", gates.join(", ")),
        },
        StepKind::Approve { message } => format!("wait for approval: “{message}”"),
        StepKind::Run { argv, .. } => {
            let words: Vec<String> = argv.iter().map(|a| shell_word(a.shown())).collect();
            format!("run `{}`", words.join(" "))
        }
        StepKind::Webhook { method, url, .. } => format!("call {method} {url}"),
        StepKind::Reconcile {
            reconciliation,
            repair,
            min_parity,
        } => {
            let mut s = match plan.reconciliation(reconciliation) {
                Some(r) => format!(
                    "reconcile {reconciliation} ({}.{} → {}.{})",
                    r.source.provider, r.source.table, r.target.provider, r.target.table
                ),
                None => format!("reconcile {reconciliation}"),
            };
            if *repair {
                s.push_str(", copying what is missing or different");
            }
            if let Some(p) = min_parity {
                s.push_str(&format!(", needing parity ≥ {p}"));
            }
            s
        }
    }
}

fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+{}$".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `48h`, `1h30m`, `2.5s`, `500ms`, `13d1h`: a duration as plans write it.
/// Days appear only from 100 hours on, where hours stop being easy to read.
pub fn duration_words(d: Duration) -> String {
    let total_ms = d.as_millis();
    if total_ms == 0 {
        return "0s".to_string();
    }
    if total_ms < 1000 {
        return format!("{total_ms}ms");
    }
    let secs = d.as_secs();
    let ms = total_ms % 1000;
    let (days, hours) = if secs >= 100 * 3600 {
        (secs / 86_400, (secs % 86_400) / 3600)
    } else {
        (0, secs / 3600)
    };
    let minutes = (secs % 3600) / 60;
    let seconds = secs % 60;
    let mut out = String::new();
    if days > 0 {
        out.push_str(&format!("{days}d"));
    }
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 || ms > 0 {
        if ms > 0 {
            let frac = format!("{:03}", ms);
            out.push_str(&format!("{seconds}.{}s", frac.trim_end_matches('0')));
        } else {
            out.push_str(&format!("{seconds}s"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_plans() {
        let cases = [
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(2500), "2.5s"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(48 * 3600), "48h"),
            (Duration::from_secs(313 * 3600), "13d1h"),
        ];
        for (d, want) in cases {
            assert_eq!(duration_words(d), want);
        }
    }
}
