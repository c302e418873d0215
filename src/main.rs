use std::process;

use clap::Parser as _;

use migrate::cli::{Cli, DemoArgs};
use migrate::error::{exit_code_of, Error, ExitCode};
use migrate::output::Printer;

/// `migrate demo`: a live migration of an example system, start to finish.
/// It lives in the binary, over the library's public interface.
mod demo;

fn run_demo(
    args: DemoArgs,
    printer: Printer,
) -> futures_util::future::BoxFuture<'static, anyhow::Result<ExitCode>> {
    Box::pin(async move { demo::run(&demo::Options { keep: args.keep }, printer).await })
}

/// Reconciliation decodes rows on one thread and frees them on another,
/// millions of times: glibc's allocator spends more time on its arena locks
/// than the comparison itself; mimalloc's per-thread free lists do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    let code = match migrate::commands::run(cli, run_demo) {
        Ok(code) => code,
        Err(err) => {
            let reported = err
                .chain()
                .find_map(|e| e.downcast_ref::<Error>())
                .is_some_and(Error::already_reported);
            if !reported {
                let mut text = format!("error: {err}");
                for cause in err.chain().skip(1) {
                    text.push_str(&format!("\n  caused by: {cause}"));
                }
                anstream::eprintln!("{}", migrate::redact::clean(&text));
            }
            exit_code_of(&err)
        }
    };
    process::exit(code.code());
}
