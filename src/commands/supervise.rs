//! `migrate supervise [PLAN|DIR]..`: the long-running service that watches
//! every active migration's soak and trips the breaker on a breach; see
//! [`crate::supervise`].

use crate::cli::{Global, SuperviseArgs};
use crate::error::{Error, ExitCode};
use crate::output::Printer;
use crate::supervise::{http, Options, Out, Shutdown, Supervisor};

pub async fn run(
    global: &Global,
    args: &SuperviseArgs,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    if global.dry_run {
        return Err(Error::Usage(
            "supervise changes what a breach calls for; it has no --dry-run (use `migrate check` or `status --watch` to look)".into(),
        )
        .into());
    }
    let paths = if args.plans.is_empty() {
        vec![global.file.clone()]
    } else {
        args.plans.clone()
    };
    let out = Out::new(printer.json, printer.quiet, printer.verbose > 0);
    let opts = Options {
        paths,
        advance: args.advance,
        poll: args.poll,
        stale_after: args.stale_after,
        group: args.group.clone(),
    };
    // The continuous reconciliations the parity gates of active migrations
    // read are followed, and their readings recorded, by the active one.
    let followers: Option<Box<dyn crate::supervise::continuous::Followers>> =
        Some(Box::new(crate::supervise::continuous::PlanFollowers));
    // Off loopback, nothing is served without a token.
    let access = http::Access::from_env(args.listen);
    if !access.page_served() {
        return Err(crate::error::Error::Usage(format!(
            "--listen {}: not a loopback address, and no token is set: set {} (every request but /healthz must then carry `Authorization: Bearer <token>`), or listen on 127.0.0.1",
            args.listen,
            http::TOKEN_VAR
        ))
        .into());
    }
    let sup = Supervisor::new(global, opts, out, &printer, followers)?;
    if !args.listen.ip().is_loopback() {
        printer.note(&format!(
            "note: serving on {}, not a loopback address: every request but /healthz needs the bearer token from {}",
            args.listen,
            http::TOKEN_VAR
        ));
    }
    let server = http::serve(
        args.listen,
        sup.metrics(),
        sup.page(),
        access,
        args.stale_after,
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "serving the page, /metrics and /healthz on {}: {e}",
            args.listen
        )
    })?;
    let shutdown = Shutdown::default();
    catch_signals(shutdown.clone());
    let code = sup.run(shutdown, server.addr).await;
    drop(server);
    Ok(code)
}

/// SIGTERM stops the supervisor cleanly (exit 0); Ctrl-C (SIGINT) too, with
/// exit 130; a second Ctrl-C exits at once.
fn catch_signals(shutdown: Shutdown) {
    let (on_term, on_int) = (shutdown.clone(), shutdown);
    crate::app::interrupt::catch(crate::app::interrupt::Signals {
        first: Box::new(move || on_int.interrupt()),
        second: Box::new(|| {}),
        terminate: Some(Box::new(move || on_term.terminate())),
    });
}
