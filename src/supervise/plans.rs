//! Which migrations a supervisor watches: the plan files named on its
//! command line, and the `*.yaml` / `*.yml` files directly inside the
//! directories named there. They are read again while it runs (a changed
//! file is validated again; a new file is picked up; a removed one is no
//! longer watched), and all of them must keep their state in one place.

use std::path::PathBuf;

/// The plan files `paths` name: files as given; directories' `*.yaml`
/// and `*.yml` files, sorted. Errors: a path that cannot be read.
pub fn plan_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries =
                std::fs::read_dir(p).map_err(|e| format!("reading {}: {e}", p.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    out.dedup();
    Ok(out)
}
