//! State in a local directory: `.migrate/<name>/` with `state.json`
//! (mode 0600, written atomically and durably), `journal.ndjson`
//! (append-only, fsynced per write) and `lock`. The directory is 0700.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::lock;
use super::model::{Entry, Record, State, Timestamp, JOURNAL_SCHEMA, STATE_SCHEMA};
use super::recover::{self, Checkpoint, Recovery, Skipped};
use super::{Holder, LockGuard, Store, StoreError};
use crate::fsutil;
use crate::redact;

pub struct LocalStore {
    dir: PathBuf,
    migration: String,
    /// Length of the journal when this process last read or wrote it: a
    /// different length at commit time means another writer got in.
    journal_len: Mutex<Option<u64>>,
    /// The state as of a journal length: the journal only grows, so while
    /// its length is unchanged the state is too, and a run polling during a
    /// soak need not re-read the journal.
    cache: Mutex<Option<(u64, State)>>,
    /// The last load found the checkpoint behind the journal.
    behind: AtomicBool,
}

/// What a read of the journal found.
#[derive(Default)]
struct Scan {
    exists: bool,
    bytes: Vec<u8>,
    /// Records, with the byte range of their line.
    records: Vec<(Record, std::ops::Range<usize>)>,
    skipped: Vec<Skipped>,
    good_len: u64,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{what} {}: {e}", path.display()))
}

impl LocalStore {
    /// The store for `migration` under `root` (e.g. `.migrate`).
    pub fn new(root: &Path, migration: &str) -> Self {
        Self {
            dir: root.join(migration),
            migration: migration.to_string(),
            journal_len: Mutex::new(None),
            cache: Mutex::new(None),
            behind: AtomicBool::new(false),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("journal.ndjson")
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }

    fn ensure_dir(&self) -> Result<(), StoreError> {
        if !self.dir.exists() {
            if let Some(parent) = self.dir.parent() {
                if !parent.exists() {
                    fsutil::create_private_dir(parent, 0o700)
                        .map_err(|e| io("creating", parent, e))?;
                }
            }
            fsutil::create_private_dir(&self.dir, 0o700)
                .map_err(|e| io("creating", &self.dir, e))?;
        }
        Ok(())
    }

    /// Journal records and the byte length they span. A torn last line
    /// (a crash in the middle of an append) is ignored; damage anywhere
    /// else, or a gap in the numbering, is an error.
    fn read_journal(&self) -> Result<(Vec<Record>, u64), StoreError> {
        let scan = self.scan_journal()?;
        let path = self.journal_path();
        if let Some(s) = scan.skipped.iter().find(|s| !s.torn) {
            return Err(StoreError::JournalDamaged {
                what: format!("{} {}", path.display(), s.place),
                detail: format!("{} ({} bytes)", s.reason, s.bytes),
            });
        }
        if scan.skipped.iter().any(|s| s.torn) {
            tracing::warn!("ignoring a torn last journal line");
        }
        let records: Vec<Record> = scan.records.into_iter().map(|(r, _)| r).collect();
        if let Some(g) = recover::gaps(&records).first() {
            return Err(StoreError::JournalDamaged {
                what: path.display().to_string(),
                detail: format!(
                    "{} {} missing (record {} follows record {})",
                    recover::range_words(g),
                    if g.0 == g.1 { "is" } else { "are" },
                    g.1 + 1,
                    g.0 - 1
                ),
            });
        }
        Ok((records, scan.good_len))
    }

    /// Every line of the journal that is a record of this migration (with
    /// its bytes), in order, and the lines that are not: a torn last line,
    /// garbage, a record of another migration, a number repeated or going
    /// back. `good_len`: where the last complete record ends.
    fn scan_journal(&self) -> Result<Scan, StoreError> {
        let path = self.journal_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Scan::default());
            }
            Err(e) => return Err(io("reading", &path, e)),
        };
        let mut scan = Scan {
            exists: true,
            ..Scan::default()
        };
        let mut offset = 0usize;
        let mut line_no = 0usize;
        while offset < bytes.len() {
            line_no += 1;
            let end = bytes[offset..].iter().position(|&b| b == b'\n');
            let (line, next, complete) = match end {
                Some(i) => (&bytes[offset..offset + i], offset + i + 1, true),
                None => (&bytes[offset..], bytes.len(), false),
            };
            let here = offset;
            offset = next;
            if line.iter().all(u8::is_ascii_whitespace) {
                if complete && scan.skipped.is_empty() {
                    scan.good_len = next as u64;
                }
                continue;
            }
            let skip = |reason: String, torn: bool| Skipped {
                place: format!("line {line_no}"),
                bytes: line.len(),
                reason,
                seq: None,
                torn,
            };
            if !complete {
                // The last line, cut short by a crash: it never counted.
                scan.skipped.push(skip("torn".into(), true));
                continue;
            }
            let last = scan.records.last().map_or(0, |(r, _)| r.seq);
            match serde_json::from_slice::<Record>(line) {
                Ok(r) if r.migration != self.migration => {
                    scan.skipped
                        .push(skip("a record of another migration".into(), false));
                }
                Ok(r) if r.seq <= last => {
                    scan.skipped.push(skip(
                        format!(
                            "record number {} repeats or goes back (after {last})",
                            r.seq
                        ),
                        false,
                    ));
                }
                Ok(r) => {
                    scan.records.push((r, here..next));
                    if scan.skipped.is_empty() {
                        scan.good_len = next as u64;
                    }
                }
                Err(e) => scan.skipped.push(skip(recover::reason(line, &e), false)),
            }
        }
        scan.bytes = bytes;
        Ok(scan)
    }

    fn read_state(&self) -> Result<Option<State>, StoreError> {
        let path = self.state_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("reading", &path, e)),
        };
        let st: State = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            what: path.display().to_string(),
            detail: recover::state_detail(&bytes, &e),
        })?;
        if st.schema != STATE_SCHEMA {
            return Err(StoreError::Corrupt {
                what: path.display().to_string(),
                detail: format!(
                    "state schema {} is not the one this migrate reads ({STATE_SCHEMA})",
                    st.schema
                ),
            });
        }
        if st.migration != self.migration {
            return Err(StoreError::Corrupt {
                what: path.display().to_string(),
                detail: format!(
                    "it belongs to migration '{}', not '{}'",
                    st.migration, self.migration
                ),
            });
        }
        Ok(Some(st))
    }

    fn write_state(&self, st: &State) -> Result<(), StoreError> {
        let mut text = serde_json::to_string_pretty(st)
            .map_err(|e| StoreError::Io(format!("encoding the state: {e}")))?;
        text.push('\n');
        let text = redact::clean(&text);
        let path = self.state_path();
        fsutil::write_atomic(&path, text.as_bytes(), Some(0o600))
            .map_err(|e| io("writing", &path, e))
    }

    /// The checkpoint with whatever the journal has beyond it folded in.
    fn load_fully(&self) -> Result<Option<State>, StoreError> {
        let checkpoint = self.read_state()?;
        let (records, len) = self.read_journal()?;
        self.set_journal_len(len);
        let last_seq = records.last().map_or(0, |r| r.seq);
        match checkpoint {
            Some(mut st) => {
                if st.journal_seq > last_seq {
                    let path = self.journal_path();
                    return Err(StoreError::JournalLost {
                        what: path.display().to_string(),
                        detail: if records.is_empty() && !path.exists() {
                            format!(
                                "it is missing, but state.json has seen record {}",
                                st.journal_seq
                            )
                        } else {
                            format!(
                                "it ends at record {last_seq}, but state.json has seen record {}",
                                st.journal_seq
                            )
                        },
                    });
                }
                // A crash between the journal append and the checkpoint:
                // fold in what the checkpoint missed.
                let seen = st.journal_seq;
                for r in records.iter().filter(|r| r.seq > seen) {
                    st.apply(r);
                }
                self.behind.store(seen < last_seq, Ordering::SeqCst);
                Ok(Some(st))
            }
            None if records.is_empty() => Ok(None),
            None => {
                self.behind.store(true, Ordering::SeqCst);
                Ok(Some(State::replay(&self.migration, &records)))
            }
        }
    }

    fn cached(&self) -> Option<(u64, State)> {
        self.cache.lock().ok().and_then(|c| c.clone())
    }

    fn remember(&self, len: u64, st: &State) {
        if let Ok(mut c) = self.cache.lock() {
            *c = Some((len, st.clone()));
        }
    }

    fn set_journal_len(&self, len: u64) {
        if let Ok(mut l) = self.journal_len.lock() {
            *l = Some(len);
        }
    }

    /// Append journal lines durably. The journal must be as long as this
    /// process last saw it (else another writer got in: refused); a torn
    /// tail left by a crash is cut off first.
    fn append(&self, lines: &str) -> Result<(), StoreError> {
        let path = self.journal_path();
        let current = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let known = self.journal_len.lock().ok().and_then(|l| *l);
        let good = match known {
            Some(k) if k == current => k,
            _ => {
                let (_, good) = self.read_journal()?;
                if let Some(k) = known {
                    if good != k {
                        return Err(StoreError::Fenced(format!(
                            "the journal changed under this run ({k} bytes were read, {good} are there now): another run wrote it; nothing was written"
                        )));
                    }
                }
                good
            }
        };
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io("opening", &path, e))?;
        if good < current {
            f.set_len(good).map_err(|e| io("repairing", &path, e))?;
        }
        f.write_all(lines.as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| io("appending to", &path, e))?;
        self.set_journal_len(good + lines.len() as u64);
        Ok(())
    }
}

/// Writing needs the lock: a guard of this backend.
fn held(guard: &dyn LockGuard) -> Result<(), StoreError> {
    if guard.as_any().is::<lock::FileLock>() {
        Ok(())
    } else {
        Err(StoreError::Io(
            "writing the state without holding its lock (this is a bug in migrate)".into(),
        ))
    }
}

#[async_trait]
impl Store for LocalStore {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    async fn lock(
        &self,
        holder: &Holder,
        wait: Duration,
        _takeover: bool,
    ) -> Result<Box<dyn LockGuard>, StoreError> {
        self.ensure_dir()?;
        let path = self.lock_path();
        let holder = holder.clone();
        let g = tokio::task::spawn_blocking(move || lock::acquire(&path, &holder, wait))
            .await
            .map_err(|e| StoreError::Io(format!("waiting for the lock: {e}")))??;
        Ok(Box::new(g))
    }

    async fn holder(&self) -> Result<Option<(Holder, bool)>, StoreError> {
        lock::holder(&self.lock_path())
    }

    async fn break_lock(&self) -> Result<Option<Holder>, StoreError> {
        lock::break_lock(&self.lock_path())
    }

    async fn load(&self) -> Result<Option<State>, StoreError> {
        let now_len = fs::metadata(self.journal_path()).map(|m| m.len()).ok();
        if let (Some(now_len), Some((len, st))) = (now_len, self.cached()) {
            if len == now_len {
                self.set_journal_len(now_len);
                return Ok(Some(st));
            }
        }
        let loaded = self.load_fully()?;
        if let (Some(st), Some(len)) = (&loaded, self.journal_len.lock().ok().and_then(|l| *l)) {
            self.remember(len, st);
        }
        Ok(loaded)
    }

    async fn catch_up(&self, guard: &dyn LockGuard, state: &State) -> Result<(), StoreError> {
        if self.behind.swap(false, Ordering::SeqCst) {
            held(guard)?;
            self.write_state(state)?;
        }
        Ok(())
    }

    async fn commit(
        &self,
        guard: &dyn LockGuard,
        state: &mut State,
        actor: &str,
        now: Timestamp,
        entries: Vec<Entry>,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        held(guard)?;
        self.ensure_dir()?;
        let now = Timestamp::new(now.0);
        let mut next = state.clone();
        let mut lines = String::new();
        let first = next.journal_seq + 1;
        // Where each record's line ends, for the crash seam below.
        let mut ends = Vec::new();
        for entry in entries {
            let r = Record {
                v: JOURNAL_SCHEMA,
                seq: next.journal_seq + 1,
                at: now,
                actor: actor.to_string(),
                migration: self.migration.clone(),
                entry,
            };
            let line = serde_json::to_string(&r)
                .map_err(|e| StoreError::Io(format!("encoding a journal record: {e}")))?;
            lines.push_str(&redact::clean(&line));
            lines.push('\n');
            ends.push(lines.len());
            next.apply(&r);
        }
        let last = next.journal_seq;
        if let Some(n) = super::crash::after_record().filter(|n| (first..=last).contains(n)) {
            // The journal holds record N (and those before it in this
            // commit), the checkpoint does not: the process dies here.
            let end = usize::try_from(n - first)
                .ok()
                .and_then(|i| ends.get(i))
                .copied()
                .unwrap_or(lines.len());
            self.append(lines.get(..end).unwrap_or(&lines))?;
            super::crash::die(&format!("after appending journal record {n}"));
        }
        self.append(&lines)?;
        self.write_state(&next)?;
        if let Some(len) = self.journal_len.lock().ok().and_then(|l| *l) {
            self.remember(len, &next);
        }
        if super::crash::after_checkpoint().is_some_and(|n| (first..=last).contains(&n)) {
            super::crash::die(&format!(
                "after checkpointing journal records {first}..={last}"
            ));
        }
        *state = next;
        Ok(())
    }

    async fn journal(&self) -> Result<Vec<Record>, StoreError> {
        Ok(self.read_journal()?.0)
    }

    async fn others(&self) -> Result<Vec<State>, StoreError> {
        let Some(root) = self.dir.parent() else {
            return Ok(Vec::new());
        };
        let entries = match fs::read_dir(root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("reading", root, e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name != &self.migration)
            .collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            match LocalStore::new(root, &name).load_fully() {
                Ok(Some(st)) => out.push(st),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(migration = %name, error = %e, "skipping a state that cannot be read")
                }
            }
        }
        Ok(out)
    }

    async fn import(
        &self,
        guard: &dyn LockGuard,
        records: &[Record],
        state: &State,
    ) -> Result<(), StoreError> {
        held(guard)?;
        super::check_import(&self.migration, records, state)?;
        self.ensure_dir()?;
        let mut lines = String::new();
        for r in records {
            let line = serde_json::to_string(r)
                .map_err(|e| StoreError::Io(format!("encoding a journal record: {e}")))?;
            lines.push_str(&redact::clean(&line));
            lines.push('\n');
        }
        // What was here is kept beside the copy, not overwritten.
        let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        for path in [self.journal_path(), self.state_path()] {
            if path.exists() {
                let mut aside = path.clone().into_os_string();
                aside.push(format!(".replaced-{stamp}"));
                fs::rename(&path, &aside).map_err(|e| io("moving aside", &path, e))?;
            }
        }
        let path = self.journal_path();
        fsutil::write_atomic(&path, lines.as_bytes(), Some(0o600))
            .map_err(|e| io("writing", &path, e))?;
        self.set_journal_len(lines.len() as u64);
        self.write_state(state)
    }

    async fn recover(
        &self,
        actor: &str,
        now: Timestamp,
        by: &str,
    ) -> Result<Option<Recovery>, StoreError> {
        Ok(self.plan_rebuild(actor, now, by)?.map(|(r, _)| r))
    }

    async fn rebuild(
        &self,
        guard: &dyn LockGuard,
        actor: &str,
        now: Timestamp,
        by: &str,
    ) -> Result<Option<Recovery>, StoreError> {
        held(guard)?;
        let Some((mut rec, scan)) = self.plan_rebuild(actor, now, by)? else {
            return Ok(None);
        };
        let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        let aside = |path: &Path| -> PathBuf {
            let mut p = path.as_os_str().to_owned();
            p.push(format!(".damaged-{stamp}"));
            PathBuf::from(p)
        };
        let journal = self.journal_path();
        let mut len = scan.good_len;
        if let Some(r) = &rec.record {
            // The damaged journal stays as it was, beside the new one (a
            // second name for it, then the new one replaces it atomically:
            // a crash leaves one or the other in place, never neither).
            if scan.exists {
                let kept = aside(&journal);
                fs::hard_link(&journal, &kept)
                    .or_else(|_| fs::copy(&journal, &kept).map(|_| ()))
                    .map_err(|e| io("keeping aside", &journal, e))?;
                rec.aside
                    .push(format!("the damaged journal as {}", kept.display()));
            }
            let mut text = Vec::new();
            for (_, range) in &scan.records {
                text.extend_from_slice(&scan.bytes[range.clone()]);
                if text.last() != Some(&b'\n') {
                    text.push(b'\n');
                }
            }
            let line = serde_json::to_string(r)
                .map_err(|e| StoreError::Io(format!("encoding a journal record: {e}")))?;
            text.extend_from_slice(redact::clean(&line).as_bytes());
            text.push(b'\n');
            fsutil::write_atomic(&journal, &text, Some(0o600))
                .map_err(|e| io("writing", &journal, e))?;
            len = text.len() as u64;
        }
        self.set_journal_len(len);
        let path = self.state_path();
        if rec.checkpoint_replaced.is_some() && path.exists() {
            let kept = aside(&path);
            fs::rename(&path, &kept).map_err(|e| io("moving aside", &path, e))?;
            rec.aside
                .push(format!("the old state.json as {}", kept.display()));
        }
        self.write_state(&rec.state)?;
        self.behind.store(false, Ordering::SeqCst);
        self.remember(len, &rec.state);
        Ok(Some(rec))
    }
}

impl LocalStore {
    /// What a rebuild does, from what can be read now.
    fn plan_rebuild(
        &self,
        actor: &str,
        now: Timestamp,
        by: &str,
    ) -> Result<Option<(Recovery, Scan)>, StoreError> {
        let scan = self.scan_journal()?;
        let checkpoint = match self.read_state() {
            Ok(Some(st)) => Checkpoint::Good(Box::new(st)),
            Ok(None) => Checkpoint::Missing,
            Err(StoreError::Corrupt { what, detail }) => {
                Checkpoint::Damaged(format!("{what} is damaged: {detail}"))
            }
            Err(e) => return Err(e),
        };
        let records: Vec<Record> = scan.records.iter().map(|(r, _)| r.clone()).collect();
        let rec = recover::plan(
            &self.migration,
            &self.dir.display().to_string(),
            &records,
            scan.skipped.clone(),
            checkpoint,
            actor,
            now,
            by,
        )?;
        Ok(rec.map(|r| (r, scan)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::model::{Status, StepInfo};
    use std::os::unix::fs::PermissionsExt;

    fn now() -> Timestamp {
        Timestamp(std::time::SystemTime::now())
    }

    fn holder() -> Holder {
        Holder {
            actor: "t@h".into(),
            host: "h".into(),
            pid: std::process::id(),
            command: "test".into(),
            since: now(),
        }
    }

    fn started() -> Entry {
        Entry::Started {
            steps: vec![StepInfo {
                id: "p.1".into(),
                phase: "p".into(),
                kind: "approve".into(),
                action: "wait".into(),
                digest: "d".into(),
                keep_on_rollback: false,
                irreversible: false,
            }],
        }
    }

    #[tokio::test]
    async fn commits_are_journaled_checkpointed_and_private() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalStore::new(&root.path().join(".migrate"), "m");
        assert!(store.load().await.unwrap().is_none());
        let g = store.lock(&holder(), Duration::ZERO, false).await.unwrap();
        let mut st = State::empty("m");
        store
            .commit(g.as_ref(), &mut st, "t@h", now(), vec![started()])
            .await
            .unwrap();
        store
            .commit(
                g.as_ref(),
                &mut st,
                "t@h",
                now(),
                vec![Entry::StepDone {
                    step: "p.1".into(),
                    note: None,
                }],
            )
            .await
            .unwrap();
        assert_eq!(st.serial, 2);
        assert_eq!(st.position, 1);
        let loaded = store.load().await.unwrap().unwrap();
        assert_eq!(loaded, st);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.dir()), 0o700);
        assert_eq!(mode(&store.state_path()), 0o600);
        assert_eq!(mode(&store.journal_path()), 0o600);
        assert_eq!(store.journal().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_torn_last_journal_line_is_ignored_and_repaired() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalStore::new(root.path(), "m");
        let g = store.lock(&holder(), Duration::ZERO, false).await.unwrap();
        let mut st = State::empty("m");
        store
            .commit(g.as_ref(), &mut st, "a", now(), vec![started()])
            .await
            .unwrap();
        drop(g);
        // A crash mid-append leaves half a line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(store.journal_path())
            .unwrap();
        f.write_all(b"{\"v\":1,\"seq\":2,\"at\":\"20").unwrap();
        let store = LocalStore::new(root.path(), "m");
        let mut st = store.load().await.unwrap().unwrap();
        assert_eq!(st.journal_seq, 1);
        let g = store.lock(&holder(), Duration::ZERO, false).await.unwrap();
        store
            .commit(
                g.as_ref(),
                &mut st,
                "a",
                now(),
                vec![Entry::StepDone {
                    step: "p.1".into(),
                    note: None,
                }],
            )
            .await
            .unwrap();
        let records = store.journal().await.unwrap();
        assert_eq!(
            records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }

    #[tokio::test]
    async fn a_checkpoint_behind_the_journal_catches_up() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalStore::new(root.path(), "m");
        let g = store.lock(&holder(), Duration::ZERO, false).await.unwrap();
        let mut st = State::empty("m");
        store
            .commit(g.as_ref(), &mut st, "a", now(), vec![started()])
            .await
            .unwrap();
        let before = fs::read(store.state_path()).unwrap();
        store
            .commit(
                g.as_ref(),
                &mut st,
                "a",
                now(),
                vec![Entry::StepDone {
                    step: "p.1".into(),
                    note: None,
                }],
            )
            .await
            .unwrap();
        // As if the process died after the journal append, before the
        // checkpoint was replaced.
        fs::write(store.state_path(), before).unwrap();
        // The next run (a new process) folds in what the checkpoint missed.
        let store = LocalStore::new(root.path(), "m");
        let loaded = store.load().await.unwrap().unwrap();
        assert_eq!(loaded.position, 1);
        assert_eq!(loaded.status, Status::Active);
        // And, under the lock, writes the checkpoint again.
        store.catch_up(g.as_ref(), &loaded).await.unwrap();
        let on_disk: State =
            serde_json::from_slice(&fs::read(store.state_path()).unwrap()).unwrap();
        assert_eq!(on_disk, loaded);
        assert_eq!(on_disk, State::replay("m", &store.journal().await.unwrap()));
    }

    #[tokio::test]
    async fn a_damaged_state_file_is_a_clear_error_and_rebuilds_from_the_journal() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalStore::new(root.path(), "m");
        let g = store.lock(&holder(), Duration::ZERO, false).await.unwrap();
        let mut st = State::empty("m");
        store
            .commit(g.as_ref(), &mut st, "a", now(), vec![started()])
            .await
            .unwrap();
        let text = fs::read_to_string(store.state_path()).unwrap();
        fs::write(store.state_path(), &text[..text.len() / 2]).unwrap();
        // The next run (a new process) finds the damage.
        let store = LocalStore::new(root.path(), "m");
        let err = store.load().await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("migrate state rebuild"));
        let rebuilt = store
            .rebuild(g.as_ref(), "a", now(), "test")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rebuilt.state, st);
        assert!(rebuilt.record.is_none(), "the journal is whole: unchanged");
        assert_eq!(
            LocalStore::new(root.path(), "m")
                .load()
                .await
                .unwrap()
                .unwrap(),
            st
        );
    }

    #[tokio::test]
    async fn a_writer_that_missed_another_writers_records_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let a = LocalStore::new(root.path(), "m");
        let b = LocalStore::new(root.path(), "m");
        let g = a.lock(&holder(), Duration::ZERO, false).await.unwrap();
        let mut st = State::empty("m");
        a.commit(g.as_ref(), &mut st, "a", now(), vec![started()])
            .await
            .unwrap();
        let mut stale = b.load().await.unwrap().unwrap();
        a.commit(
            g.as_ref(),
            &mut st,
            "a",
            now(),
            vec![Entry::StepDone {
                step: "p.1".into(),
                note: None,
            }],
        )
        .await
        .unwrap();
        let err = b
            .commit(g.as_ref(), &mut stale, "b", now(), vec![Entry::Resumed])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Fenced { .. }), "{err}");
    }
}
