//! `migrate completions SHELL`.

use clap_complete::Shell;

use crate::error::ExitCode;

pub fn run(shell: Shell) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    write(shell, &mut out);
    Ok(ExitCode::Ok)
}

/// Completions for `shell`, as checked in under `completions/`.
pub fn write(shell: Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(shell, &mut crate::cli::command(), "migrate", out);
}
