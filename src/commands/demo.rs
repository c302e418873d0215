//! `migrate demo`: a live migration of an example system, start to finish
//! (see [`crate::demo`]).

use crate::cli::DemoArgs;
use crate::demo::{self, Options};
use crate::error::ExitCode;
use crate::output::Printer;

pub async fn run(args: &DemoArgs, printer: Printer) -> anyhow::Result<ExitCode> {
    demo::run(&Options { keep: args.keep }, printer).await
}
