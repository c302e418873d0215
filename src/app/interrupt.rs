//! Signals, caught in one place for every command. The first Ctrl-C runs
//! `first` (raise the engine's [`Interrupt`](crate::engine::Interrupt): it
//! stops at its next safe point, never between an intent and its
//! verification); a second runs `second` (a last clean-up) and exits at
//! once with 130 — the one exit that does not go through `main`. SIGTERM,
//! where asked for, runs `terminate`.

use crate::error::ExitCode;
use crate::output::Printer;

type Hook = Box<dyn FnOnce() + Send>;

/// What each signal does.
pub struct Signals {
    pub first: Hook,
    pub second: Hook,
    /// `None`: SIGTERM keeps its default (the process ends).
    pub terminate: Option<Hook>,
}

impl Signals {
    /// The usual: raise `interrupt` and say so on the first Ctrl-C (to
    /// people: under `-o json` the command's summary says it).
    pub fn interrupt(interrupt: &crate::engine::Interrupt, printer: &Printer) -> Signals {
        let flag = interrupt.clone();
        let printer = *printer;
        Signals {
            first: Box::new(move || {
                flag.raise();
                if !printer.json {
                    printer.note(
                        "\ninterrupted: stopping at the next safe point (Ctrl-C again to quit now)",
                    );
                }
            }),
            second: Box::new(|| {}),
            terminate: None,
        }
    }
}

impl Signals {
    /// Raise `interrupt` on the first Ctrl-C and say nothing: for a
    /// command that says itself how it stopped.
    pub fn raise(interrupt: &crate::engine::Interrupt) -> Signals {
        let flag = interrupt.clone();
        Signals {
            first: Box::new(move || flag.raise()),
            second: Box::new(|| {}),
            terminate: None,
        }
    }
}

/// Catch the signals; dropping or aborting the handle stops catching.
pub fn catch(signals: Signals) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Signals {
            first,
            second,
            terminate,
        } = signals;
        let mut term = match terminate {
            Some(_) => {
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
            }
            None => None,
        };
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = terminated => {
                if let Some(f) = terminate {
                    f();
                }
            }
            r = tokio::signal::ctrl_c() => {
                if r.is_err() {
                    return;
                }
                first();
                if tokio::signal::ctrl_c().await.is_ok() {
                    second();
                    std::process::exit(ExitCode::Interrupted.code());
                }
            }
        }
    })
}
