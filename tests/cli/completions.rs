//! The shell completions under completions/ and the man page under man/ are
//! generated from the command line definition; this fails when they are
//! stale. Regenerate them with:
//!
//!     UPDATE_COMPLETIONS=1 cargo test --test cli completions

use crate::support::{migrate, root};

const SHELLS: &[(&str, &str)] = &[
    ("bash", "completions/migrate.bash"),
    ("zsh", "completions/_migrate"),
    ("fish", "completions/migrate.fish"),
    ("powershell", "completions/_migrate.ps1"),
    ("elvish", "completions/migrate.elv"),
];

fn updating() -> bool {
    std::env::var_os("UPDATE_COMPLETIONS").is_some_and(|v| v != "0" && !v.is_empty())
}

/// Compare `generated` with the checked-in `file`, or rewrite the file when
/// UPDATE_COMPLETIONS is set. Returns a complaint when stale.
fn check(file: &str, generated: &[u8]) -> Option<String> {
    let path = root().join(file);
    if updating() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create directory");
        }
        std::fs::write(&path, generated).expect("write generated file");
        return None;
    }
    let current = std::fs::read(&path).unwrap_or_default();
    (current != generated).then(|| format!("{file} is stale or missing"))
}

#[test]
fn completions_and_man_page_are_current() {
    let mut stale = Vec::new();
    for (shell, file) in SHELLS {
        let out = migrate()
            .args(["completions", shell])
            .output()
            .expect("run migrate");
        assert_eq!(out.status.code(), Some(0), "completions {shell}");
        assert!(
            !out.stdout.is_empty(),
            "completions {shell} printed nothing"
        );
        // The binary prints what the library generates.
        let shell_value: clap_complete::Shell = shell.parse().expect("a shell");
        let mut lib = Vec::new();
        migrate::commands::completions::write(shell_value, &mut lib);
        assert_eq!(out.stdout, lib, "completions {shell}");
        stale.extend(check(file, &out.stdout));
    }
    // The man pages: migrate(1) and one per command it refers to.
    let pages = migrate::commands::completions::man_pages().expect("render the man pages");
    for (name, page) in &pages {
        stale.extend(check(&format!("man/{name}"), page));
    }
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    for entry in std::fs::read_dir(root().join("man")).expect("man/") {
        let name = entry.expect("an entry of man/").file_name();
        let name = name.to_string_lossy();
        if !names.contains(&name.as_ref()) {
            if updating() {
                std::fs::remove_file(root().join("man").join(name.as_ref()))
                    .expect("remove a page of a command that is gone");
            } else {
                stale.push(format!("man/{name} is a page of no command"));
            }
        }
    }
    // Every page migrate(1) refers to is there.
    let top = String::from_utf8_lossy(
        &pages
            .iter()
            .find(|(n, _)| n == "migrate.1")
            .expect("migrate.1")
            .1,
    )
    .into_owned();
    let mut referred = 0;
    for line in top.lines() {
        if let Some(name) = line.strip_suffix("(1)") {
            let file = format!("{}.1", name.replace("\\-", "-"));
            assert!(
                names.contains(&file.as_str()),
                "migrate(1) refers to {name}(1): no {file}"
            );
            referred += 1;
        }
    }
    assert!(referred >= 15, "migrate(1) lists its commands: {top}");
    assert!(
        stale.is_empty(),
        "{}\nregenerate with: UPDATE_COMPLETIONS=1 cargo test --test cli completions",
        stale.join("\n")
    );
}

#[test]
fn every_verb_is_completed() {
    let mut bash = Vec::new();
    migrate::commands::completions::write(clap_complete::Shell::Bash, &mut bash);
    let bash = String::from_utf8_lossy(&bash);
    let mut fish = Vec::new();
    migrate::commands::completions::write(clap_complete::Shell::Fish, &mut fish);
    let fish = String::from_utf8_lossy(&fish);
    // Every command of the command line, as each shell's script names it.
    let cmd = migrate::cli::command();
    let verbs: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
    assert!(verbs.len() >= 17, "{verbs:?}");
    for verb in verbs {
        assert!(
            bash.contains(&format!("migrate,{verb})")),
            "bash completions lack {verb}"
        );
        assert!(
            fish.contains(&format!("__fish_migrate_needs_command\" -f -a \"{verb}\"")),
            "fish completions lack {verb}"
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = migrate()
        .args(["completions", "tcsh"])
        .output()
        .expect("run migrate");
    assert_eq!(out.status.code(), Some(2));
}
