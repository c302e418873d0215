//! Hooks: `run` (a program, no shell unless the plan writes one) and
//! `webhook` (an HTTP call). A non-zero exit or a non-2xx answer fails the
//! step. Hooks are not retried: they need not be idempotent.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::plan::{describe::duration_words, Step, Text};
use crate::providers::web;
use crate::redact;
use crate::state::{Claim, Entry};

use super::{Engine, EngineError, Event, Session};

/// SIGINT: what a terminal sends its foreground process group on Ctrl-C.
const SIGINT: i32 = 2;

/// Hooks without their own `timeout` get this long.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(300);

/// How much of a hook's output is kept for the journal and messages.
const OUTPUT_LIMIT: usize = 4000;

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let n = text.chars().count();
    let cut: String = if n > OUTPUT_LIMIT {
        let skip = n - OUTPUT_LIMIT;
        format!("…{}", text.chars().skip(skip).collect::<String>())
    } else {
        text.to_string()
    };
    redact::clean(&cut).into_owned()
}

impl Engine<'_> {
    pub async fn run_hook(
        &self,
        step: &str,
        argv: &[Text],
        env: &[(String, Text)],
        timeout: Option<Duration>,
    ) -> Result<Option<String>, String> {
        let Some((program, args)) = argv.split_first() else {
            return Err("the command is empty".to_string());
        };
        let shown = argv
            .iter()
            .map(Text::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = tokio::process::Command::new(program.expose());
        cmd.args(args.iter().map(Text::expose))
            .envs(env.iter().map(|(k, v)| (k, v.expose())))
            .env("MIGRATE_NAME", &self.plan.name)
            .env("MIGRATE_STEP", step)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start `{shown}`: {e}"))?;
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let limit = timeout.unwrap_or(DEFAULT_HOOK_TIMEOUT);
        let work = async {
            let mut o = Vec::new();
            let mut e = Vec::new();
            let read_o = async {
                if let Some(s) = out.as_mut() {
                    let _ = s.read_to_end(&mut o).await;
                }
            };
            let read_e = async {
                if let Some(s) = err.as_mut() {
                    let _ = s.read_to_end(&mut e).await;
                }
            };
            tokio::join!(read_o, read_e);
            let status = child.wait().await;
            (status, o, e)
        };
        match tokio::time::timeout(limit, work).await {
            Err(_) => Err(format!(
                "`{shown}` did not finish within {} and was killed",
                duration_words(limit)
            )),
            Ok((Err(e), _, _)) => Err(format!("waiting for `{shown}`: {e}")),
            Ok((Ok(status), o, e)) => {
                let stdout = tail(&o);
                let stderr = tail(&e);
                if !stdout.is_empty() {
                    self.events.event(&Event::HookOutput {
                        step: step.to_string(),
                        text: stdout.clone(),
                    });
                }
                if status.success() {
                    Ok((!stdout.is_empty()).then_some(stdout))
                } else {
                    if status.signal() == Some(SIGINT) {
                        // Ctrl-C at a terminal reaches the hook with
                        // migrate (one process group): the hook stopped
                        // because the operator interrupted, whichever of the
                        // two heard it first.
                        self.interrupt.raise();
                    }
                    let code = status.code().map_or_else(
                        || "was killed by a signal".to_string(),
                        |c| format!("exited with {c}"),
                    );
                    let detail = if stderr.is_empty() { stdout } else { stderr };
                    Err(if detail.is_empty() {
                        format!("`{shown}` {code}")
                    } else {
                        format!("`{shown}` {code}: {detail}")
                    })
                }
            }
        }
    }

    pub async fn call_webhook(
        &self,
        method: &str,
        url: &Text,
        headers: &[(String, Text)],
        body: Option<&Text>,
        timeout: Option<Duration>,
    ) -> Result<Option<String>, String> {
        let limit = timeout.unwrap_or(self.plan.settings.timeout);
        let client = web::shared_client(&crate::plan::Tls::default())
            .map_err(|(doing, message)| format!("{doing}: {message}"))?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("'{method}' is not an HTTP method"))?;
        let mut req = client.request(method.clone(), url.expose()).timeout(limit);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.expose());
        }
        if let Some(b) = body {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                req = req.header("content-type", "application/json");
            }
            req = req.body(b.expose().to_string());
        }
        let resp = req.send().await.map_err(|e| {
            let what = if e.is_timeout() {
                format!("no answer within {}", duration_words(limit))
            } else if e.is_connect() {
                format!("cannot connect: {}", web::root_cause(&e))
            } else {
                web::root_cause(&e)
            };
            format!("{method} {url}: {}", redact::clean(&what))
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(Some(format!("answered {status}")))
        } else {
            Err(format!(
                "{method} {url} answered {status}: {}",
                web::quote(&text)
            ))
        }
    }
}

impl Engine<'_> {
    /// Say that the run which claimed `step` stopped (killed, the machine
    /// lost) before recording how the step ended, so the step runs again.
    pub(super) fn note_stopped_claim(&self, c: &Claim, step: &Step) {
        let what = match &step.kind {
            crate::plan::StepKind::Run { .. } => "its hook",
            crate::plan::StepKind::Webhook { .. } => "its webhook",
            _ => "it",
        };
        self.events.event(&Event::Note {
            message: format!(
                "an earlier run by {} (pid {} on {}, since {}) was running step {} and stopped before it finished; running {what} again (it may have done part of its work)",
                c.actor, c.pid, c.host, c.since, step.id
            ),
        });
    }

    /// Ctrl-C while a claimed step ran and it did not finish: release the
    /// claim (nothing is recorded as failed) so that the next `advance`
    /// runs the step again, and say so.
    pub(super) async fn release_interrupted(
        &self,
        s: &mut Session,
        step: &Step,
        error: &str,
    ) -> Result<(), EngineError> {
        let reason = format!("interrupted (Ctrl-C) before it finished: {error}");
        self.commit(
            s,
            vec![Entry::Released {
                step: step.id.clone(),
                reason: reason.clone(),
            }],
        )
        .await?;
        self.events.event(&Event::Note {
            message: format!(
                "step {} was {reason}; it is not recorded as failed, and the next `migrate advance` runs it again",
                step.id
            ),
        });
        Ok(())
    }
}
