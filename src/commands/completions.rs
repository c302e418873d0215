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
    let pages = man_pages()?;
    match pages.into_iter().find(|(name, _)| name == "migrate.1") {
        Some((_, page)) => out.write_all(&page),
        None => Err(std::io::Error::other("no page for migrate")),
    }
}

/// Every man page: `migrate.1`, and one for each command it lists
/// (`migrate-advance.1`, `migrate-state-rebuild.1`, ...), as checked in
/// under `man/`: file name and roff.
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out)?;
        }
        // The source, as the top page's: `migrate 0.1.0` (a command has
        // no version of its own).
        let man = clap_mangen::Man::new(cmd.clone())
            .source(format!("migrate {}", env!("CARGO_PKG_VERSION")));
        let mut page = Vec::new();
        man.render(&mut page)?;
        out.push((man.get_filename(), page));
        Ok(())
    }
    // No `help` command: it has no page of its own (`--help` is on each).
    let mut cmd = crate::cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, &mut out)?;
    out.sort();
    Ok(out)
}
