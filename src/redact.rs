//! The last line of defence for secrets: every value a plan took from the
//! environment is registered here, and everything migrate writes — output,
//! logs, the journal, the state file, error messages — passes through
//! [`clean`], which replaces those values with `***`.
//!
//! Plan strings already display as the template they were written as
//! (`Bearer ${TOKEN}`); this catches the rest: an error from a library that
//! quotes a URL, a hook that prints its environment, a provider that echoes
//! a header.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, RwLock};

use crate::domain::env::Env;

/// Shorter values would mask ordinary words and numbers (`1`, `on`), and
/// are not secrets anyone could use.
const MIN_LEN: usize = 4;

const MASK: &str = "***";

fn secrets() -> &'static RwLock<Vec<String>> {
    static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Register a secret value; it is masked everywhere from now on.
pub fn register(value: &str) {
    let mut candidates = vec![value.to_string()];
    // A URL's password also appears on its own, and percent-decoded.
    if let Some(pw) = url_password(value) {
        candidates.push(pw);
    }
    let Ok(mut list) = secrets().write() else {
        return;
    };
    for v in candidates {
        if v.chars().count() >= MIN_LEN && !list.contains(&v) {
            list.push(v);
        }
    }
    // Longest first, so that a secret containing another is masked whole.
    list.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret replaced by `***`.
pub fn clean(text: &str) -> Cow<'_, str> {
    let Ok(list) = secrets().read() else {
        return Cow::Borrowed(text);
    };
    let mut out = Cow::Borrowed(text);
    for s in list.iter() {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), MASK));
        }
    }
    out
}

/// `postgres://user:pa%40ss@host/db` → `pa@ss` (and the raw `pa%40ss` is
/// covered by the whole value or by the caller).
fn url_password(value: &str) -> Option<String> {
    let (_, rest) = value.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, pw) = userinfo.split_once(':')?;
    if pw.is_empty() {
        return None;
    }
    Some(percent_decode(pw))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An [`Env`] that registers every value it hands out as a secret, so that
/// whatever a plan took from the environment is masked.
pub struct SecretEnv<E: Env> {
    inner: E,
    seen: Mutex<HashSet<String>>,
}

impl<E: Env> SecretEnv<E> {
    pub fn new(inner: E) -> Self {
        Self {
            inner,
            seen: Mutex::new(HashSet::new()),
        }
    }
}

impl<E: Env> Env for SecretEnv<E> {
    fn var(&self, name: &str) -> Option<String> {
        let v = self.inner.var(name)?;
        if let Ok(mut seen) = self.seen.lock() {
            if seen.insert(v.clone()) {
                register(&v);
            }
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_masked() {
        register("hunter2-secret");
        assert_eq!(
            clean("token=hunter2-secret; again hunter2-secret"),
            "token=***; again ***"
        );
        assert_eq!(clean("nothing here"), "nothing here");
    }

    #[test]
    fn short_values_are_not_masked() {
        register("on");
        assert_eq!(clean("turn it on"), "turn it on");
    }

    #[test]
    fn url_passwords_are_masked_alone_and_decoded() {
        register("postgres://app:p%40ssw0rd@db:5432/payments");
        assert_eq!(clean("auth failed for p@ssw0rd"), "auth failed for ***");
        assert_eq!(
            clean("connecting to postgres://app:p%40ssw0rd@db:5432/payments"),
            "connecting to ***"
        );
    }
}
