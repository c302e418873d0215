//! The lock of a local state directory: an advisory `flock` on `lock`,
//! held only while the state changes. The kernel drops it when its holder
//! dies, so a crashed run never blocks the next one; the holder's details
//! (written into the file) say who holds it now, and — when they are found
//! in a file nobody holds — who died holding it (a stale lock).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Holder, LockGuard, StoreError};

pub struct FileLock {
    file: File,
    path: PathBuf,
    stale: Option<Holder>,
}

impl LockGuard for FileLock {
    fn stale_previous(&self) -> Option<&Holder> {
        self.stale.as_ref()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Clear the holder's details, then let go: an empty file that
        // nobody holds is a clean release.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
        let _ = &self.path;
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{what} {}: {e}", path.display()))
}

fn open(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("opening the lock", path, e))
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

/// The lock file at `path` still is the file we locked (`unlock --force`
/// removes it, and the next locker creates a new one).
fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// Take the lock at `path`, waiting up to `wait`.
pub fn acquire(path: &Path, holder: &Holder, wait: Duration) -> Result<FileLock, StoreError> {
    let start = Instant::now();
    loop {
        let mut file = open(path)?;
        match file.try_lock() {
            Ok(()) => {
                if !same_file(&file, path) {
                    continue;
                }
                let stale = read_holder(&mut file);
                let body = serde_json::to_string(holder).unwrap_or_default();
                file.set_len(0)
                    .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
                    .and_then(|()| file.write_all(body.as_bytes()))
                    .map_err(|e| io("writing the lock", path, e))?;
                return Ok(FileLock {
                    file,
                    path: path.to_path_buf(),
                    stale,
                });
            }
            Err(TryLockError::WouldBlock) => {
                if start.elapsed() >= wait {
                    return Err(match read_holder(&mut file) {
                        Some(h) => StoreError::Locked(Box::new(h)),
                        None => StoreError::LockedUnknown,
                    });
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(TryLockError::Error(e)) => return Err(io("locking", path, e)),
        }
    }
}

/// Who holds the lock now (`true`), or died holding it (`false`).
pub fn holder(path: &Path) -> Result<Option<(Holder, bool)>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let mut file = open(path)?;
    let held = match file.try_lock() {
        Ok(()) => {
            let h = read_holder(&mut file);
            let _ = file.unlock();
            return Ok(h.map(|h| (h, false)));
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(e)) => return Err(io("locking", path, e)),
    };
    Ok(read_holder(&mut file).map(|h| (h, held)))
}

/// Remove the lock file: whoever holds it keeps a lock on a file nobody
/// else will open, so the next run proceeds.
pub fn break_lock(path: &Path) -> Result<Option<Holder>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let mut file = open(path)?;
    let h = read_holder(&mut file);
    match fs::remove_file(path) {
        Ok(()) => Ok(h),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(h),
        Err(e) => Err(io("removing the lock", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Timestamp;

    fn holder(pid: u32) -> Holder {
        Holder {
            actor: "ana@box".into(),
            host: "box".into(),
            pid,
            command: "advance".into(),
            since: Timestamp(std::time::SystemTime::now()),
        }
    }

    #[test]
    fn a_second_locker_waits_then_is_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let first = acquire(&p, &holder(1), Duration::ZERO).unwrap();
        match acquire(&p, &holder(2), Duration::from_millis(60)) {
            Err(StoreError::Locked(h)) => assert_eq!(h.pid, 1),
            other => panic!("expected Locked, got {:?}", other.map(|_| ())),
        }
        assert_eq!(
            super::holder(&p).unwrap().map(|(h, live)| (h.pid, live)),
            Some((1, true))
        );
        drop(first);
        let second = acquire(&p, &holder(2), Duration::ZERO).unwrap();
        assert!(
            second.stale_previous().is_none(),
            "a clean release is not stale"
        );
    }

    #[test]
    fn a_holder_that_died_is_reported_as_stale() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        // A dead holder: its details are in the file, nobody holds the lock.
        fs::write(&p, serde_json::to_string(&holder(42)).unwrap()).unwrap();
        assert_eq!(
            super::holder(&p).unwrap().map(|(h, live)| (h.pid, live)),
            Some((42, false))
        );
        let g = acquire(&p, &holder(2), Duration::ZERO).unwrap();
        assert_eq!(g.stale_previous().map(|h| h.pid), Some(42));
    }

    #[test]
    fn breaking_the_lock_lets_the_next_run_in() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let _stuck = acquire(&p, &holder(1), Duration::ZERO).unwrap();
        assert_eq!(break_lock(&p).unwrap().map(|h| h.pid), Some(1));
        let g = acquire(&p, &holder(3), Duration::ZERO);
        assert!(g.is_ok());
    }
}
