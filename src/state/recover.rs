//! Recovering a damaged state, the same way for every backend: keep every
//! journal record that can be read, take the checkpoint where the journal
//! lost records it had seen, and record what was done in the journal
//! itself (a `recovered` record holding the whole state), so that the
//! journal's fold is the state again and `history` shows the recovery.
//!
//! What a damaged line or row held is never shown (it could hold anything,
//! a secret included): only where it was, its length and why it is not a
//! record.

use serde_json::error::Category;

use super::model::{Entry, Record, State, Timestamp, JOURNAL_SCHEMA};
use super::StoreError;

/// A journal line (local state) or row (PostgreSQL) that was not kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    /// "line 4" or "record 4".
    pub place: String,
    pub bytes: usize,
    /// Why, in words that never quote it.
    pub reason: String,
    /// The record number it had, when known (a PostgreSQL row's key).
    pub seq: Option<u64>,
    /// A last line cut short by a crash while it was written: it never
    /// counted, nothing is lost.
    pub torn: bool,
}

impl Skipped {
    pub fn describe(&self) -> String {
        format!("{}: {} ({} bytes)", self.place, self.reason, self.bytes)
    }
}

/// How the checkpoint was found.
#[derive(Clone, Debug, PartialEq)]
pub enum Checkpoint {
    Missing,
    /// It could not be read: "<where> is damaged: <why>", without its
    /// content.
    Damaged(String),
    Good(Box<State>),
}

/// What a rebuild recovers, and what it could not.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovery {
    /// The state rebuilt (with `recovered` folded in, when it is written).
    pub state: State,
    /// Journal records kept.
    pub kept: usize,
    /// Lines or rows set aside.
    pub skipped: Vec<Skipped>,
    /// Records missing, as ranges (first, last): gaps in the numbering, and
    /// the records the checkpoint had seen beyond the journal's end.
    pub missing: Vec<(u64, u64)>,
    /// The journal had no record at all.
    pub journal_lost: bool,
    /// The checkpoint's record number, when it was read.
    pub checkpoint_seq: Option<u64>,
    /// The state starts from the checkpoint (the journal lost records it
    /// had seen), not from the journal's first record.
    pub from_checkpoint: bool,
    /// The checkpoint could not be read, or disagreed with the journal: it
    /// is replaced (and kept aside).
    pub checkpoint_replaced: Option<String>,
    /// Records are missing that no checkpoint covers: the state is rebuilt
    /// without them.
    pub unsure: bool,
    /// The record that rebuilds the journal, when it changes.
    pub record: Option<Record>,
    /// Where the damaged originals were kept (filled in by the store).
    pub aside: Vec<String>,
}

/// Why `bytes` (a line or row) is not a journal record, in words that
/// never quote it.
pub fn reason(bytes: &[u8], e: &serde_json::Error) -> String {
    match e.classify() {
        Category::Eof => "cut short (incomplete JSON)".into(),
        Category::Syntax if std::str::from_utf8(bytes).is_err() => "not text".into(),
        Category::Syntax => "not JSON".into(),
        Category::Data => {
            // Only the name of a field of migrate's own records is safe to
            // repeat; other messages can quote a value.
            let msg = e.to_string();
            let field = msg
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
                .filter(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            match field {
                Some(f) => format!("JSON, but not a journal record (no `{f}` field)"),
                None => "JSON, but not a journal record this migrate reads (a damaged field, or a newer migrate's record)".into(),
            }
        }
        Category::Io => "unreadable".into(),
    }
}

/// Why a state checkpoint does not decode: serde's position for a syntax
/// error (it quotes nothing), our own words for the rest (its messages can
/// quote a value).
pub fn state_detail(bytes: &[u8], e: &serde_json::Error) -> String {
    match e.classify() {
        Category::Syntax | Category::Eof => e.to_string(),
        _ => reason(bytes, e).replace("journal record", "state"),
    }
}

/// A record that may follow a gap in the numbering, or start a journal:
/// it sets the whole state.
pub fn may_follow_a_gap(r: &Record) -> bool {
    matches!(r.entry, Entry::Recovered { .. })
}

/// The gaps in the numbering of `records` (in order), as ranges of the
/// missing numbers, the first record expected after `after`. Gaps before
/// a `recovered` record do not count: it holds the whole state.
pub fn gaps_after(after: u64, records: &[Record]) -> Vec<(u64, u64)> {
    let (mut prev, rest) = match records.iter().rposition(may_follow_a_gap) {
        Some(i) => (records[i].seq, &records[i + 1..]),
        None => (after, records),
    };
    let mut out = Vec::new();
    for r in rest {
        if r.seq > prev + 1 {
            out.push((prev + 1, r.seq - 1));
        }
        prev = r.seq;
    }
    out
}

/// [`gaps_after`] for a whole journal.
pub fn gaps(records: &[Record]) -> Vec<(u64, u64)> {
    gaps_after(0, records)
}

pub fn range_words(&(a, b): &(u64, u64)) -> String {
    if a == b {
        format!("record {a}")
    } else {
        format!("records {a}..{b}")
    }
}

/// Work out the rebuild from what could be read: `records` (valid, in
/// increasing order), the lines or rows `skipped`, and the checkpoint.
/// `None`: there is nothing at all (the migration never started here).
#[allow(clippy::too_many_arguments)]
pub fn plan(
    migration: &str,
    location: &str,
    records: &[Record],
    skipped: Vec<Skipped>,
    checkpoint: Checkpoint,
    actor: &str,
    now: Timestamp,
    by: &str,
) -> Result<Option<Recovery>, StoreError> {
    let last = records.last().map_or(0, |r| r.seq);
    let cp = match &checkpoint {
        Checkpoint::Good(st) => Some(st.as_ref()),
        _ => None,
    };
    if records.is_empty() && cp.is_none() {
        return match (&checkpoint, skipped.iter().any(|s| !s.torn)) {
            (Checkpoint::Missing, false) => Ok(None),
            (Checkpoint::Damaged(why), _) => Err(StoreError::Unrecoverable {
                location: location.to_string(),
                detail: format!(
                    "{why}, and the journal has no readable record{}; migrate cannot tell what this migration changed. The files are left as they are.",
                    if skipped.is_empty() { String::new() } else { format!(" ({} damaged)", count(skipped.len(), "line")) }
                ),
            }),
            _ => Err(StoreError::Unrecoverable {
                location: location.to_string(),
                detail: format!(
                    "the journal has no readable record ({} damaged) and there is no state checkpoint; migrate cannot tell what this migration changed. The files are left as they are.",
                    count(skipped.len(), "line")
                ),
            }),
        };
    }
    let mut missing = gaps(records);
    if let Some(cp) = cp {
        if cp.journal_seq > last {
            missing.push((last + 1, cp.journal_seq));
        }
    }
    let from_checkpoint = cp.is_some_and(|cp| missing.iter().any(|g| g.0 <= cp.journal_seq));
    let mut state = match cp {
        Some(cp) if from_checkpoint => {
            let mut st = cp.clone();
            for r in records.iter().filter(|r| r.seq > cp.journal_seq) {
                st.apply(r);
            }
            st
        }
        _ => State::replay(migration, records),
    };
    let unsure = missing
        .iter()
        .any(|g| cp.is_none_or(|cp| g.1 > cp.journal_seq));
    let checkpoint_replaced = match &checkpoint {
        Checkpoint::Damaged(why) => Some(why.clone()),
        Checkpoint::Good(cp) if !from_checkpoint => {
            let seen = State::replay(
                migration,
                records.iter().filter(|r| r.seq <= cp.journal_seq),
            );
            (seen != **cp).then(|| {
                format!(
                    "the checkpoint disagreed with the journal records it had seen (up to {})",
                    cp.journal_seq
                )
            })
        }
        _ => None,
    };
    let mut rec = Recovery {
        state: state.clone(),
        kept: records.len(),
        skipped,
        missing,
        journal_lost: records.is_empty(),
        checkpoint_seq: cp.map(|c| c.journal_seq),
        from_checkpoint,
        checkpoint_replaced,
        unsure,
        record: None,
        aside: Vec::new(),
    };
    if !rec.skipped.is_empty() || !rec.missing.is_empty() {
        let seq = last
            .max(cp.map_or(0, |c| c.journal_seq))
            .max(rec.skipped.iter().filter_map(|s| s.seq).max().unwrap_or(0))
            + 1;
        let r = Record {
            v: JOURNAL_SCHEMA,
            seq,
            at: Timestamp::new(now.0),
            actor: actor.to_string(),
            migration: migration.to_string(),
            entry: Entry::Recovered {
                reason: format!("journal rebuilt by `{by}`: {}", rec.what_was_lost()),
                state: Box::new(state.clone()),
            },
        };
        state.apply(&r);
        rec.state = state;
        rec.record = Some(r);
    }
    Ok(Some(rec))
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

impl Recovery {
    /// Whether the journal is rewritten.
    pub fn journal_changed(&self) -> bool {
        self.record.is_some()
    }

    /// In one line, for the `recovered` record.
    fn what_was_lost(&self) -> String {
        let mut parts = Vec::new();
        if self.journal_lost {
            parts.push(format!(
                "the journal was lost; started again from the state checkpoint{} (the history before it is lost)",
                self.checkpoint_seq
                    .map(|s| format!(", which had seen record {s}"))
                    .unwrap_or_default()
            ));
        }
        let damaged: Vec<String> = self.skipped.iter().map(Skipped::describe).collect();
        if !damaged.is_empty() {
            parts.push(format!("set aside {}", damaged.join(", ")));
        }
        if !self.journal_lost && !self.missing.is_empty() {
            parts.push(format!(
                "missing {}{}",
                self.missing
                    .iter()
                    .map(range_words)
                    .collect::<Vec<_>>()
                    .join(", "),
                if self.unsure {
                    " (the state is rebuilt without them)"
                } else {
                    " (the checkpoint had seen them: the state is taken from it)"
                }
            ));
        }
        parts.join("; ")
    }

    /// What was done, a line each, for people.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.journal_lost {
            out.push(format!(
                "The journal was lost: a new one starts at record {} from the state checkpoint{}; the history before it is lost{}.",
                self.record.as_ref().map_or(1, |r| r.seq),
                self.checkpoint_seq
                    .map(|s| format!(", which had seen record {s}"))
                    .unwrap_or_default(),
                if self.aside.is_empty() { "" } else { " (kept aside below)" }
            ));
        }
        for s in &self.skipped {
            out.push(if s.torn {
                format!(
                    "Skipped {}: torn, cut short by a crash while it was written; it never counted ({} bytes).",
                    s.place, s.bytes
                )
            } else {
                format!("Skipped {}: {} ({} bytes).", s.place, s.reason, s.bytes)
            });
        }
        if !self.journal_lost {
            for g in &self.missing {
                let covered = self.checkpoint_seq.is_some_and(|c| g.1 <= c);
                let it = if g.0 == g.1 { "it" } else { "them" };
                out.push(if covered {
                    format!(
                        "Missing {}: the state checkpoint had seen {it}, the state is taken from there.",
                        range_words(g)
                    )
                } else {
                    format!(
                        "Missing {}: no checkpoint had seen {it}, the state is rebuilt without {it}; check `migrate status` against the targets before going on.",
                        range_words(g)
                    )
                });
            }
        }
        if let Some(why) = &self.checkpoint_replaced {
            out.push(format!("The state checkpoint was rebuilt: {why}."));
        }
        if let Some(r) = self.record.as_ref().filter(|_| self.kept > 0) {
            out.push(format!(
                "The journal was rewritten with the {} records kept and a `recovered` record (number {}) holding the state.",
                self.kept, r.seq
            ));
        }
        for a in &self.aside {
            out.push(format!("Kept aside: {a}."));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, entry: Entry) -> Record {
        Record {
            v: JOURNAL_SCHEMA,
            seq,
            at: Timestamp::new(std::time::SystemTime::now()),
            actor: "a".into(),
            migration: "m".into(),
            entry,
        }
    }

    fn resumed(seq: u64) -> Record {
        record(seq, Entry::Resumed)
    }

    #[test]
    fn gaps_before_a_recovered_record_do_not_count() {
        let rs = vec![resumed(1), resumed(2), resumed(5), resumed(6)];
        assert_eq!(gaps(&rs), vec![(3, 4)]);
        let recovered = record(
            7,
            Entry::Recovered {
                reason: String::new(),
                state: Box::new(State::empty("m")),
            },
        );
        let mut rs = rs;
        rs.push(recovered);
        rs.push(resumed(9));
        assert_eq!(gaps(&rs), vec![(8, 8)]);
        assert_eq!(gaps_after(4, &[resumed(5), resumed(6)]), vec![]);
    }

    #[test]
    fn a_recovered_record_sets_the_state_and_the_numbering_goes_on() {
        let mut cp = State::replay("m", &[resumed(1), resumed(2), resumed(3)]);
        cp.position = 7;
        let plan = plan(
            "m",
            "here",
            &[resumed(1)],
            Vec::new(),
            Checkpoint::Good(Box::new(cp.clone())),
            "a",
            Timestamp::new(std::time::SystemTime::now()),
            "test",
        )
        .unwrap()
        .unwrap();
        assert_eq!(plan.missing, vec![(2, 3)]);
        assert!(plan.from_checkpoint && !plan.unsure);
        let r = plan.record.as_ref().unwrap();
        assert_eq!(r.seq, 4);
        assert_eq!(plan.state.position, 7);
        assert_eq!(plan.state.journal_seq, 4);
        assert!(plan.state.serial > cp.serial);
        // The journal as rewritten folds to the same state.
        assert_eq!(State::replay("m", &[resumed(1), r.clone()]), plan.state);
    }

    #[test]
    fn nothing_readable_is_unrecoverable_and_nothing_at_all_is_none() {
        let now = Timestamp::new(std::time::SystemTime::now());
        let p = |cp| plan("m", "here", &[], Vec::new(), cp, "a", now, "t");
        assert!(p(Checkpoint::Missing).unwrap().is_none());
        let err = p(Checkpoint::Damaged("state.json is damaged: x".into())).unwrap_err();
        assert!(matches!(err, StoreError::Unrecoverable { .. }), "{err}");
        assert!(err.to_string().starts_with("nothing recoverable in here"));
    }
}
