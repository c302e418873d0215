//! `migrate completions SHELL`, and the man page. Both are generated from
//! [`crate::cli::command`], so they follow the command line; the copies
//! checked in under completions/ and man/ are kept current by a test.

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

/// The man page (roff), as checked in as `man/migrate.1`.
pub fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(crate::cli::command()).render(out)
}
