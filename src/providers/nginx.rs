//! NGINX through a configuration file migrate owns, then a reload.
//!
//! The file (included in `http {}`) holds the operator's `upstream <name>`
//! block. migrate takes it over: the legacy and candidate servers get
//! weights for the split (a side at 0% is written `down`, since nginx has
//! no weight 0), every other directive and server parameter is kept. The
//! mirrored share is a `split_clients` block setting `$<mirror_variable>`
//! to "1" for that share of requests, which the operator's mirror location
//! checks. A `map` sets `$migrate_<upstream>_split` to the split the file
//! holds, so the live configuration can be seen from outside (e.g. in a
//! response header). With `sticky`, the upstream is the template of one
//! upstream per side, and a `split_clients` on the customer's key chooses
//! between them (see below).
//!
//! A change writes the file atomically, runs `test` (if given) and
//! `reload`; if either fails, the previous file is put back and the error
//! quotes nginx. Then the file is read back.

use std::ops::Range;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::split::{holding, percent_of};
use super::{
    config_of, file_holds, fmt_number, same_percent, Adapter, CallCtx, Channel, Failure,
    ProviderError, Router,
};
use crate::plan::decode::Cx;
use crate::plan::providers::{overlap, Fields, Reported};
use crate::plan::spec::{self, Key, ProviderConfig, ProviderSpec, Shape};
use crate::plan::{Capability, Missing, Provider, Sticky, StickyKey, Text};

/// nginx takes any positive weight; this bound keeps the numbers readable
/// while holding the common percents exactly.
pub const MAX_WEIGHT: u32 = 100;

pub struct NginxRouter {
    ctx: CallCtx,
    cfg: Config,
    /// Traffic and mirror live in the same file: one change at a time.
    lock: tokio::sync::Mutex<()>,
}

// ---------------------------------------------------------------------------
// A small reader of nginx configuration syntax: words, quoted strings,
// `;`, `{`, `}` and comments, with byte positions.

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Semi,
    Open,
    Close,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    span: Range<usize>,
}

fn line_of(src: &str, at: usize) -> usize {
    src[..at.min(src.len())].matches('\n').count() + 1
}

fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b';' | b'{' | b'}' => {
                let tok = match c {
                    b';' => Tok::Semi,
                    b'{' => Tok::Open,
                    _ => Tok::Close,
                };
                out.push(Token {
                    tok,
                    span: i..i + 1,
                });
                i += 1;
            }
            b'"' | b'\'' => {
                let start = i;
                let mut value = Vec::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => {
                            return Err(format!(
                                "line {}: a quoted string is not closed",
                                line_of(src, start)
                            ))
                        }
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') if i + 1 < b.len() => {
                            value.push(b[i + 1]);
                            i += 2;
                        }
                        Some(&x) => {
                            value.push(x);
                            i += 1;
                        }
                    }
                }
                out.push(Token {
                    tok: Tok::Word(String::from_utf8_lossy(&value).into_owned()),
                    span: start..i,
                });
            }
            _ => {
                let start = i;
                while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{') {
                    // `}` ends a word unless it closes a `${...}`.
                    if b[i] == b'}' && !src[start..i].contains("${") {
                        break;
                    }
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Word(src[start..i].to_string()),
                    span: start..i,
                });
            }
        }
    }
    Ok(out)
}

/// A statement: its words, its source span (through `;` or the closing
/// `}`), and for a block, the statements inside.
#[derive(Clone, Debug)]
struct Stmt {
    words: Vec<String>,
    span: Range<usize>,
    block: Option<Vec<Stmt>>,
}

fn parse_stmts(
    src: &str,
    toks: &[Token],
    pos: &mut usize,
    nested: bool,
) -> Result<Vec<Stmt>, String> {
    let mut out = Vec::new();
    let mut words = Vec::new();
    let mut start = None;
    while let Some(t) = toks.get(*pos) {
        *pos += 1;
        match &t.tok {
            Tok::Word(w) => {
                start.get_or_insert(t.span.start);
                words.push(w.clone());
            }
            Tok::Semi => {
                let s = start.take().unwrap_or(t.span.start);
                out.push(Stmt {
                    words: std::mem::take(&mut words),
                    span: s..t.span.end,
                    block: None,
                });
            }
            Tok::Open => {
                let s = start.take().unwrap_or(t.span.start);
                let inner = parse_stmts(src, toks, pos, true)?;
                let end = toks.get(*pos - 1).map_or(src.len(), |c| c.span.end);
                out.push(Stmt {
                    words: std::mem::take(&mut words),
                    span: s..end,
                    block: Some(inner),
                });
            }
            Tok::Close => {
                if !nested {
                    return Err(format!(
                        "line {}: unexpected '}}'",
                        line_of(src, t.span.start)
                    ));
                }
                if !words.is_empty() {
                    return Err(format!(
                        "line {}: '{}' is not ended by ';'",
                        line_of(src, t.span.start),
                        words.join(" ")
                    ));
                }
                return Ok(out);
            }
        }
    }
    if nested {
        return Err("a '{' is not closed by '}' before the end of the file".to_string());
    }
    if !words.is_empty() {
        return Err(format!(
            "'{}' is not ended by ';' at the end of the file",
            words.join(" ")
        ));
    }
    Ok(out)
}

fn parse(src: &str) -> Result<Vec<Stmt>, String> {
    let toks = tokenize(src)?;
    let mut pos = 0;
    parse_stmts(src, &toks, &mut pos, false)
}

// ---------------------------------------------------------------------------
// The blocks migrate manages.

/// A `server` line of the upstream: address, weight (0 when `down`), and
/// the other parameters, kept as written.
#[derive(Clone, Debug, PartialEq)]
struct Server {
    address: String,
    weight: u32,
    rest: Vec<String>,
}

fn server_of(words: &[String]) -> Result<Server, String> {
    let address = words
        .get(1)
        .cloned()
        .ok_or("a 'server' line without an address")?;
    let mut weight = 1;
    let mut down = false;
    let mut rest = Vec::new();
    for w in words.iter().skip(2) {
        if let Some(v) = w.strip_prefix("weight=") {
            weight = v
                .parse()
                .map_err(|_| format!("server {address}: '{w}' is not a weight"))?;
        } else if w == "down" {
            down = true;
        } else {
            rest.push(w.clone());
        }
    }
    Ok(Server {
        address,
        weight: if down { 0 } else { weight },
        rest,
    })
}

fn find_block(stmts: &[Stmt], pred: impl Fn(&[String]) -> bool) -> Option<&Stmt> {
    stmts.iter().find(|s| s.block.is_some() && pred(&s.words))
}

/// Render a word for the file, quoting it when nginx would not read it
/// back as one word.
fn word(w: &str) -> String {
    if !w.is_empty()
        && !w
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ';' | '{' | '}' | '"' | '\'' | '#' | '\\'))
    {
        w.to_string()
    } else {
        format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// What the file holds for this provider.
#[derive(Debug)]
struct Parsed {
    stmts: Vec<Stmt>,
}

impl NginxRouter {
    pub fn new(ctx: CallCtx, cfg: Config) -> Self {
        Self {
            ctx,
            cfg,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    fn file(&self) -> &Text {
        &self.cfg.file
    }

    fn err(&self, failure: Failure, doing: &str, msg: impl Into<String>) -> ProviderError {
        self.ctx.error(failure, doing, msg)
    }

    fn read(&self, doing: &str) -> Result<(String, Parsed), ProviderError> {
        let file = self.file();
        let text = std::fs::read_to_string(file.expose()).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    " (write the 'upstream {} {{ ... }}' block there and include the file in http {{}} first)",
                    self.cfg.upstream
                )
            } else {
                String::new()
            };
            self.err(Failure::Rejected, doing, format!("cannot read {file}: {e}{hint}"))
        })?;
        let stmts =
            parse(&text).map_err(|e| self.err(Failure::Rejected, doing, format!("{file}: {e}")))?;
        Ok((text, Parsed { stmts }))
    }

    fn is_upstream(&self, w: &[String]) -> bool {
        w.len() == 2 && w[0] == "upstream" && w[1] == self.cfg.upstream
    }

    fn mirror_var(&self) -> String {
        format!("${}", self.cfg.mirror_variable)
    }

    fn is_split(&self, w: &[String]) -> bool {
        w.len() == 3 && w[0] == "split_clients" && w[2] == self.mirror_var()
    }

    fn marker_var(&self) -> String {
        let name: String = self
            .cfg
            .upstream
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format!("$migrate_{name}_split")
    }

    fn is_marker(&self, w: &[String]) -> bool {
        w.len() == 3 && w[0] == "map" && w[2] == self.marker_var()
    }

    fn upstream<'a>(&self, doing: &str, p: &'a Parsed) -> Result<&'a Stmt, ProviderError> {
        find_block(&p.stmts, |w| self.is_upstream(w)).ok_or_else(|| {
            self.err(
                Failure::Rejected,
                doing,
                format!(
                    "{} has no 'upstream {} {{ ... }}' block",
                    self.file(),
                    self.cfg.upstream
                ),
            )
        })
    }

    /// The upstream's servers, each checked to be in the plan.
    fn servers(&self, doing: &str, up: &Stmt) -> Result<Vec<Server>, ProviderError> {
        let mut out = Vec::new();
        for s in up.block.iter().flatten() {
            if s.words.first().map(String::as_str) != Some("server") {
                continue;
            }
            let srv = server_of(&s.words).map_err(|e| {
                self.err(
                    Failure::Rejected,
                    doing,
                    format!("{}: upstream {}: {e}", self.file(), self.cfg.upstream),
                )
            })?;
            if !self.cfg.legacy.contains(&srv.address) && !self.cfg.candidate.contains(&srv.address)
            {
                return Err(self.err(
                    Failure::Rejected,
                    doing,
                    format!(
                        "{}: upstream {} has server {}, which is neither legacy nor candidate in the plan (it would take a share migrate cannot account for)",
                        self.file(),
                        self.cfg.upstream,
                        srv.address
                    ),
                ));
            }
            out.push(srv);
        }
        Ok(out)
    }

    fn traffic_of(&self, doing: &str, p: &Parsed) -> Result<f64, ProviderError> {
        let up = self.upstream(doing, p)?;
        let servers = self.servers(doing, up)?;
        let side = |names: &[String]| -> f64 {
            servers
                .iter()
                .filter(|s| names.contains(&s.address))
                .map(|s| f64::from(s.weight))
                .sum()
        };
        percent_of(side(&self.cfg.legacy), side(&self.cfg.candidate)).ok_or_else(|| {
            self.err(
                Failure::Rejected,
                doing,
                format!(
                    "{}: every server of upstream {} is down or missing",
                    self.file(),
                    self.cfg.upstream
                ),
            )
        })
    }

    fn mirror_of(&self, doing: &str, p: &Parsed) -> Result<f64, ProviderError> {
        let Some(block) = find_block(&p.stmts, |w| self.is_split(w)) else {
            return Ok(0.0);
        };
        let bad = |what: String| {
            self.err(
                Failure::Rejected,
                doing,
                format!(
                    "{}: split_clients for {}: {what}",
                    self.file(),
                    self.mirror_var()
                ),
            )
        };
        let mut listed = 0.0;
        let mut on = 0.0;
        let mut star_on = None;
        for s in block.block.iter().flatten() {
            let (Some(share), Some(value)) = (s.words.first(), s.words.get(1)) else {
                return Err(bad(format!("'{}' is not 'N% value;'", s.words.join(" "))));
            };
            if share == "*" {
                star_on = Some(!value.is_empty());
                continue;
            }
            let pct: f64 = share
                .strip_suffix('%')
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad(format!("'{share}' is not a percentage")))?;
            listed += pct;
            if !value.is_empty() {
                on += pct;
            }
        }
        if star_on == Some(true) {
            on += (100.0 - listed).max(0.0);
        }
        Ok(on)
    }

    fn render_upstream(
        &self,
        up: &Stmt,
        src: &str,
        percent: f64,
        doing: &str,
    ) -> Result<String, ProviderError> {
        let w = holding(
            percent,
            self.cfg.legacy.len(),
            self.cfg.candidate.len(),
            MAX_WEIGHT,
            "nginx weights (1 to 100, or down)",
        )
        .map_err(|m| self.ctx.error(Failure::Rejected, doing, m))?;
        let weight_of = |addr: &str| {
            if self.cfg.candidate.iter().any(|c| c == addr) {
                w.candidate
            } else {
                w.legacy
            }
        };
        let line = |s: &Server| {
            let weight = weight_of(&s.address);
            let mut parts = vec!["server".to_string(), word(&s.address)];
            if weight == 0 {
                parts.push("down".to_string());
            } else {
                parts.push(format!("weight={weight}"));
            }
            parts.extend(s.rest.iter().map(|r| word(r)));
            format!("    {};\n", parts.join(" "))
        };
        let servers = self.servers(doing, up)?;
        let mut seen: Vec<String> = Vec::new();
        let mut body = String::new();
        let stmts = up.block.as_deref().unwrap_or(&[]);
        let last_server = stmts
            .iter()
            .rposition(|s| s.words.first().map(String::as_str) == Some("server"));
        let missing = || {
            self.cfg
                .legacy
                .iter()
                .chain(&self.cfg.candidate)
                .filter(|a| !servers.iter().any(|s| &s.address == *a))
                .map(|a| {
                    line(&Server {
                        address: a.clone(),
                        weight: 1,
                        rest: Vec::new(),
                    })
                })
                .collect::<String>()
        };
        for (i, s) in stmts.iter().enumerate() {
            if s.words.first().map(String::as_str) == Some("server") {
                let srv = server_of(&s.words).map_err(|e| self.err(Failure::Rejected, doing, e))?;
                if seen.contains(&srv.address) {
                    return Err(self.err(
                        Failure::Rejected,
                        doing,
                        format!(
                            "{}: upstream {} lists server {} twice",
                            self.file(),
                            self.cfg.upstream,
                            srv.address
                        ),
                    ));
                }
                seen.push(srv.address.clone());
                body.push_str(&line(&srv));
            } else {
                body.push_str("    ");
                body.push_str(src.get(s.span.clone()).unwrap_or_default());
                body.push('\n');
            }
            if Some(i) == last_server {
                body.push_str(&missing());
            }
        }
        if last_server.is_none() {
            body.push_str(&missing());
        }
        Ok(format!(
            "upstream {} {{\n{body}}}",
            word(&self.cfg.upstream)
        ))
    }

    fn render_split(&self, percent: f64) -> String {
        let p = (percent * 100.0).round() / 100.0;
        let entries = if p <= 0.0 {
            "    *       \"\";\n".to_string()
        } else if p >= 100.0 {
            "    *       \"1\";\n".to_string()
        } else {
            format!(
                "    {:<7} \"1\";\n    *       \"\";\n",
                format!("{}%", fmt_number(p))
            )
        };
        format!(
            "split_clients \"${{request_id}}\" {} {{\n{entries}}}",
            self.mirror_var()
        )
    }

    fn render_marker(&self, traffic: Option<f64>, mirror: f64) -> String {
        let t = traffic.map_or("-".to_string(), fmt_number);
        format!(
            "map \"\" {} {{\n    default \"traffic={t} mirror={}\";\n}}",
            self.marker_var(),
            fmt_number(mirror)
        )
    }

    /// The file with `channel` set to `percent`, everything else kept.
    fn rewrite(
        &self,
        doing: &str,
        src: &str,
        p: &Parsed,
        channel: Channel,
        percent: f64,
    ) -> Result<String, ProviderError> {
        let mut edits: Vec<(Range<usize>, String)> = Vec::new();
        let mut appended = Vec::new();
        let (traffic, mirror) = match channel {
            Channel::Traffic => {
                let up = self.upstream(doing, p)?;
                match &self.cfg.sticky {
                    Some(sticky) => {
                        for (found, text) in self.render_sticky(doing, up, src, sticky, percent)? {
                            match found.and_then(|f| find_block(&p.stmts, f)) {
                                Some(b) => edits.push((b.span.clone(), text)),
                                None => appended.push(text),
                            }
                        }
                    }
                    None => edits.push((
                        up.span.clone(),
                        self.render_upstream(up, src, percent, doing)?,
                    )),
                }
                (Some(percent), self.mirror_of(doing, p)?)
            }
            Channel::Mirror => {
                let traffic = match find_block(&p.stmts, |w| self.is_upstream(w)) {
                    Some(_) => Some(self.live_traffic(doing, p)?),
                    None => None,
                };
                let split = self.render_split(percent);
                match find_block(&p.stmts, |w| self.is_split(w)) {
                    Some(b) => edits.push((b.span.clone(), split)),
                    None => appended.push(split),
                }
                (traffic, percent)
            }
        };
        // The mirror variable is always defined, so the operator's mirror
        // location can refer to it before the first mirror step.
        if channel == Channel::Traffic && find_block(&p.stmts, |w| self.is_split(w)).is_none() {
            appended.push(self.render_split(0.0));
        }
        let marker = self.render_marker(traffic, mirror);
        match find_block(&p.stmts, |w| self.is_marker(w)) {
            Some(b) => edits.push((b.span.clone(), marker)),
            None => appended.push(marker),
        }
        edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
        let mut out = src.to_string();
        for (r, text) in edits {
            out.replace_range(r, &text);
        }
        if !appended.is_empty() {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            for a in appended {
                out.push('\n');
                out.push_str(&a);
                out.push('\n');
            }
        }
        if !out.contains(HEADER_MARK) {
            out.insert_str(0, HEADER);
        }
        Ok(out)
    }

    fn write(&self, doing: &str, text: &str) -> Result<(), ProviderError> {
        crate::fsutil::write_atomic(Path::new(self.file().expose()), text.as_bytes(), None).map_err(
            |e| {
                self.err(
                    Failure::Rejected,
                    doing,
                    format!("cannot write {}: {e}", self.file()),
                )
            },
        )
    }

    /// Run the test or reload command; its failure quotes nginx.
    async fn run(&self, doing: &str, what: &str, argv: &[Text]) -> Result<(), ProviderError> {
        let shown: Vec<String> = argv.iter().map(|a| a.shown().to_string()).collect();
        let shown = shown.join(" ");
        let Some((program, args)) = argv.split_first() else {
            return Err(self.err(
                Failure::Rejected,
                doing,
                format!("the {what} command is empty"),
            ));
        };
        self.ctx
            .call(doing, true, || async {
                let out = tokio::process::Command::new(program.expose())
                    .args(args.iter().map(Text::expose))
                    .stdin(Stdio::null())
                    .kill_on_drop(true)
                    .output()
                    .await
                    .map_err(|e| {
                        self.err(
                            Failure::Rejected,
                            doing,
                            format!("cannot run the {what} command '{shown}': {e}"),
                        )
                    })?;
                if out.status.success() {
                    return Ok(());
                }
                let mut said = String::from_utf8_lossy(&out.stderr).into_owned();
                said.push_str(&String::from_utf8_lossy(&out.stdout));
                let said = super::web::quote(&said);
                Err(self.err(
                    Failure::Rejected,
                    doing,
                    format!(
                        "the {what} command '{shown}' failed ({}){}",
                        out.status,
                        if said.is_empty() {
                            String::new()
                        } else {
                            format!(": {said}")
                        }
                    ),
                ))
            })
            .await
    }
}

// ---------------------------------------------------------------------------
// Customer-consistent splits (`sticky`).
//
// The operator's upstream is the template of two upstreams migrate writes,
// `migrate_<upstream>_legacy` and `migrate_<upstream>_candidate` (each
// side's servers with their parameters, and the upstream's other
// directives). A `split_clients` on the key (`$http_<header>` or
// `$cookie_<name>`) sets `$migrate_<upstream>_keyed` to the candidate's
// upstream for the plan's share of keys: split_clients hashes the key
// (MurmurHash2) and gives the first share of the hash range to the first
// entry, so with the candidate listed first the keys it takes at 10% are
// among those it takes at 25%: the cohort only grows. A `map` on the key
// sends a request without it (an empty key) to legacy (`missing: legacy`;
// to the candidate at 100%) or to `$migrate_<upstream>_random`, a
// `split_clients` on `$request_id` (`missing: split`). The operator's
// location proxies to `http://$migrate_<upstream>_upstream`.

/// A test of a block's words, to find the block migrate wrote before.
type BlockTest<'a> = Box<dyn Fn(&[String]) -> bool + 'a>;

impl NginxRouter {
    fn up_ident(&self) -> String {
        self.cfg
            .upstream
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    }

    /// `migrate_<upstream>_<side>`: an upstream's name, or (with `$`) a
    /// variable's.
    fn sticky_name(&self, what: &str) -> String {
        format!("migrate_{}_{what}", self.up_ident())
    }

    /// The nginx variable holding the request's key.
    fn key_var(sticky: &Sticky) -> String {
        match &sticky.key {
            StickyKey::Header(h) => format!("$http_{}", h.to_ascii_lowercase().replace('-', "_")),
            StickyKey::Cookie(c) => format!("$cookie_{c}"),
        }
    }

    /// The blocks of a sticky split at `percent`, each with how to find
    /// the one it replaces.
    fn render_sticky(
        &self,
        doing: &str,
        up: &Stmt,
        src: &str,
        sticky: &Sticky,
        percent: f64,
    ) -> Result<Vec<(Option<BlockTest<'_>>, String)>, ProviderError> {
        let servers = self.servers(doing, up)?;
        let mut out: Vec<(Option<BlockTest<'_>>, String)> = Vec::new();
        for (side, names) in [("legacy", &self.cfg.legacy), ("candidate", &self.cfg.candidate)] {
            let name = self.sticky_name(side);
            let mut body = String::new();
            for s in up.block.iter().flatten() {
                match s.words.first().map(String::as_str) {
                    Some("server") => {}
                    // A shared memory zone is named once per configuration.
                    Some("zone") if s.words.len() >= 2 => {
                        let mut words = s.words.clone();
                        words[1] = format!("{}_{side}", words[1]);
                        let words: Vec<String> = words.iter().map(|w| word(w)).collect();
                        body.push_str(&format!("    {};\n", words.join(" ")));
                    }
                    _ => {
                        body.push_str("    ");
                        body.push_str(src.get(s.span.clone()).unwrap_or_default());
                        body.push('\n');
                    }
                }
            }
            for addr in names {
                let rest = servers
                    .iter()
                    .find(|s| &s.address == addr)
                    .map(|s| s.rest.clone())
                    .unwrap_or_default();
                let mut parts = vec!["server".to_string(), word(addr)];
                parts.extend(rest.iter().map(|r| word(r)));
                body.push_str(&format!("    {};\n", parts.join(" ")));
            }
            let test_name = name.clone();
            out.push((
                Some(Box::new(move |w: &[String]| {
                    w.len() == 2 && w[0] == "upstream" && w[1] == test_name
                })),
                format!("upstream {name} {{\n{body}}}"),
            ));
        }
        let (legacy, candidate) = (self.sticky_name("legacy"), self.sticky_name("candidate"));
        let split = |source: &str, var: String| {
            let p = (percent * 100.0).round() / 100.0;
            let entries = if p <= 0.0 {
                format!("    *       {legacy};\n")
            } else if p >= 100.0 {
                format!("    *       {candidate};\n")
            } else {
                format!(
                    "    {:<7} {candidate};\n    *       {legacy};\n",
                    format!("{}%", fmt_number(p))
                )
            };
            let test_var = var.clone();
            (
                Some(Box::new(move |w: &[String]| {
                    w.len() == 3 && w[0] == "split_clients" && w[2] == test_var
                }) as BlockTest<'_>),
                format!("split_clients \"{source}\" {var} {{\n{entries}}}"),
            )
        };
        let key_var = Self::key_var(sticky);
        out.push(split(
            &format!("${{{}}}", &key_var[1..]),
            format!("${}", self.sticky_name("keyed")),
        ));
        let keyless = match sticky.missing {
            Missing::Legacy if percent >= 100.0 => candidate.clone(),
            Missing::Legacy => legacy.clone(),
            Missing::Split => {
                out.push(split(
                    "${request_id}",
                    format!("${}", self.sticky_name("random")),
                ));
                format!("${}", self.sticky_name("random"))
            }
        };
        let map_var = format!("${}", self.sticky_name("upstream"));
        let test_var = map_var.clone();
        out.push((
            Some(Box::new(move |w: &[String]| {
                w.len() == 3 && w[0] == "map" && w[2] == test_var
            })),
            format!(
                "map {key_var} {map_var} {{\n    \"\"      {keyless};\n    default ${};\n}}",
                self.sticky_name("keyed")
            ),
        ));
        Ok(out)
    }

    /// The candidate's share of a `split_clients` block whose values name
    /// the candidate's upstream; `None` when there is no such block.
    fn sticky_split_of(&self, doing: &str, p: &Parsed, var: &str) -> Result<Option<f64>, ProviderError> {
        let var = format!("${}", self.sticky_name(var));
        let Some(block) = find_block(&p.stmts, |w| w.len() == 3 && w[0] == "split_clients" && w[2] == var) else {
            return Ok(None);
        };
        let candidate = self.sticky_name("candidate");
        let bad = |what: String| {
            self.err(
                Failure::Rejected,
                doing,
                format!("{}: split_clients for {var}: {what}", self.file()),
            )
        };
        let (mut listed, mut on, mut star_on) = (0.0, 0.0, false);
        for s in block.block.iter().flatten() {
            let (Some(share), Some(value)) = (s.words.first(), s.words.get(1)) else {
                return Err(bad(format!("'{}' is not 'N% upstream;'", s.words.join(" "))));
            };
            if share == "*" {
                star_on = *value == candidate;
                continue;
            }
            let pct: f64 = share
                .strip_suffix('%')
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad(format!("'{share}' is not a percentage")))?;
            listed += pct;
            if *value == candidate {
                on += pct;
            }
        }
        if star_on {
            on += (100.0 - listed).max(0.0);
        }
        Ok(Some(on))
    }

    /// The share a sticky split holds: the keyed share, unless the rule for
    /// requests without the key says otherwise (then that rule's share, so
    /// a hand change of either is seen).
    fn sticky_of(&self, doing: &str, p: &Parsed, sticky: &Sticky) -> Result<f64, ProviderError> {
        let Some(keyed) = self.sticky_split_of(doing, p, "keyed")? else {
            // Before the first change, the operator's placeholder sends
            // requests to the upstream: its weights hold the share.
            return self.traffic_of(doing, p);
        };
        let map_var = format!("${}", self.sticky_name("upstream"));
        let keyless = find_block(&p.stmts, |w| w.len() == 3 && w[0] == "map" && w[2] == map_var)
            .and_then(|b| {
                b.block
                    .iter()
                    .flatten()
                    .find(|s| s.words.first().is_some_and(String::is_empty))
                    .and_then(|s| s.words.get(1).cloned())
            })
            .ok_or_else(|| {
                self.err(
                    Failure::Rejected,
                    doing,
                    format!(
                        "{}: no 'map {} {map_var}' sending requests without the key somewhere",
                        self.file(),
                        Self::key_var(sticky)
                    ),
                )
            })?;
        let random = format!("${}", self.sticky_name("random"));
        let keyless_share = if keyless == random {
            self.sticky_split_of(doing, p, "random")?.unwrap_or(0.0)
        } else if keyless == self.sticky_name("candidate") {
            100.0
        } else {
            0.0
        };
        let expected = match sticky.missing {
            Missing::Split => keyed,
            Missing::Legacy if keyed >= 100.0 => 100.0,
            Missing::Legacy => 0.0,
        };
        let rule_kept = match sticky.missing {
            Missing::Split => keyless == random,
            Missing::Legacy => keyless != random,
        };
        // The marker holds what migrate wrote last: a keyed share that
        // differs from it was changed by hand; otherwise a rule for
        // requests without the key that does not fit the keyed share was.
        let written = self.marker_traffic(p);
        if written.is_some_and(|w| !same_percent(w, keyed)) {
            return Ok(keyed);
        }
        if rule_kept && same_percent(keyless_share, expected) {
            Ok(keyed)
        } else {
            Ok(keyless_share)
        }
    }

    /// The traffic share the marker says migrate wrote last.
    fn marker_traffic(&self, p: &Parsed) -> Option<f64> {
        let block = find_block(&p.stmts, |w| self.is_marker(w))?;
        let value = block
            .block
            .iter()
            .flatten()
            .find(|s| s.words.first().map(String::as_str) == Some("default"))?
            .words
            .get(1)?;
        value
            .split_whitespace()
            .find_map(|w| w.strip_prefix("traffic="))?
            .parse()
            .ok()
    }

    /// The traffic share the file holds, by weights or by key.
    fn live_traffic(&self, doing: &str, p: &Parsed) -> Result<f64, ProviderError> {
        match &self.cfg.sticky {
            Some(sticky) => self.sticky_of(doing, p, sticky),
            None => self.traffic_of(doing, p),
        }
    }
}

const HEADER_MARK: &str = "Managed by migrate";
const HEADER: &str = "# Managed by migrate: the upstream, split_clients and map blocks it\n# names are rewritten on every traffic or mirror change.\n";

#[async_trait]
impl Router for NginxRouter {
    async fn set(&self, channel: Channel, percent: f64) -> Result<(), ProviderError> {
        let doing = format!(
            "setting {channel} of upstream '{}' to {}% in {}",
            self.cfg.upstream,
            fmt_number(percent),
            self.file()
        );
        let _held = self.lock.lock().await;
        let (old, parsed) = self.read(&doing)?;
        let new = self.rewrite(&doing, &old, &parsed, channel, percent)?;
        self.write(&doing, &new)?;
        let mut result = Ok(());
        if let Some(test) = &self.cfg.test {
            result = self.run(&doing, "test", test).await;
        }
        if result.is_ok() {
            result = self.run(&doing, "reload", &self.cfg.reload).await;
        }
        if let Err(mut e) = result {
            match self.write(&doing, &old) {
                Ok(()) => e.message.push_str("; the previous file was put back"),
                Err(w) => e.message.push_str(&format!(
                    "; AND the previous file could not be put back: {}",
                    w.message
                )),
            }
            return Err(e);
        }
        // Read back what nginx was told to load.
        let verify = format!("{doing}: reading back");
        let (_, parsed) = self.read(&verify)?;
        let live = match channel {
            Channel::Traffic => self.live_traffic(&verify, &parsed)?,
            Channel::Mirror => self.mirror_of(&verify, &parsed)?,
        };
        file_holds(&self.ctx, &verify, self.file(), live, percent)
    }

    async fn get(&self, channel: Channel) -> Result<f64, ProviderError> {
        let doing = format!(
            "reading {channel} of upstream '{}' from {}",
            self.cfg.upstream,
            self.file()
        );
        let (_, parsed) = self.read(&doing)?;
        match channel {
            Channel::Traffic => self.live_traffic(&doing, &parsed),
            Channel::Mirror => self.mirror_of(&doing, &parsed),
        }
    }
}

// The declaration: what an `nginx` provider is in a plan, and what it builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "nginx",
    article: "an",
    capabilities: &[Capability::Traffic, Capability::Mirror],
    needs: &[],
    keys: &[
        Key::required(
            "file",
            Shape::Text,
            "the upstream configuration file migrate rewrites (atomically)",
        ),
        Key::required(
            "reload",
            Shape::Argv,
            "command that reloads nginx after the file is written (no shell)",
        ),
        Key::optional(
            "test",
            Shape::Argv,
            "command that checks the configuration before the reload (no shell), e.g. [nginx, -t]",
        ),
        Key::required(
            "upstream",
            Shape::Literal,
            "name of the nginx upstream block",
        ),
        Key::required(
            "legacy",
            Shape::OneOrMany,
            "the upstream's server(s) (host:port) that serve the legacy version",
        ),
        Key::required(
            "candidate",
            Shape::OneOrMany,
            "the upstream's server(s) (host:port) that serve the candidate",
        ),
        Key::optional(
            "mirror_variable",
            Shape::Literal,
            "nginx variable set by split_clients for mirroring (default migrate_mirror)",
        ),
        Key::optional(
            "sticky",
            Shape::Sticky,
            "split traffic by customer: split_clients on a header or cookie, the location proxying to $migrate_<upstream>_upstream",
        ),
    ],
    decode,
    check_query: None,
};

pub static ADAPTER: Adapter = Adapter {
    router: Some(router),
    ..Adapter::of(&SPEC)
};

fn router(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Router>> {
    Ok(Arc::new(NginxRouter::new(
        ctx,
        config_of::<Config>(p)?.clone(),
    )))
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub file: Text,
    pub reload: Vec<Text>,
    pub test: Option<Vec<Text>>,
    pub upstream: String,
    pub legacy: Vec<String>,
    pub candidate: Vec<String>,
    pub mirror_variable: String,
    /// Absent from the JSON form when unset, so that step digests of
    /// plans without it stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
}

impl ProviderConfig for Config {
    fn candidate_label(&self) -> String {
        self.candidate.join(", ")
    }

    fn split_by(&self) -> Option<String> {
        self.sticky.as_ref().map(|s| s.key.describe())
    }
}

fn decode(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<spec::Config> {
    let file = r.text(cx, "file");
    let reload = r
        .map
        .req(cx, "reload", r.what)
        .and_then(|(n, p)| cx.argv(n, &p));
    let test = match r.map.opt("test") {
        Some((n, p)) => cx.argv(n, &p).map(Some),
        None => Some(None),
    };
    let upstream = r.literal(cx, "upstream");
    let legacy = r.servers(cx, "legacy");
    let candidate = r.servers(cx, "candidate");
    let mirror_variable = match r.map.opt("mirror_variable") {
        Some((n, p)) => cx.literal(n, &p).and_then(|v| {
            let v = v.trim_start_matches('$').to_string();
            if v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                Some(v)
            } else {
                cx.error(
                    n.span,
                    &p,
                    "an nginx variable name holds letters, digits and '_'",
                );
                None
            }
        }),
        None => Some("migrate_mirror".to_string()),
    };
    let sticky = r.sticky(cx, Ok(())).and_then(|s| match &s {
        // nginx reads a cookie through the variable $cookie_<name>, and a
        // variable's name has no '-'.
        Some(Sticky {
            key: StickyKey::Cookie(c),
            ..
        }) if c.contains('-') => {
            if let Some((n, p)) = r.map.opt("sticky") {
                cx.error_hint(
                    n.span,
                    &p,
                    format!("nginx cannot read the cookie '{c}': its $cookie_ variable cannot name a '-'"),
                    "key the split on a header, or on a cookie named with letters, digits and '_'",
                );
            }
            Err(Reported)
        }
        _ => Ok(s),
    });
    let (legacy, candidate) = (legacy?, candidate?);
    overlap(cx, r, &legacy, &candidate)?;
    spec::config(Config {
        file: file?,
        reload: reload?,
        test: test?,
        upstream: upstream?,
        legacy,
        candidate,
        mirror_variable: mirror_variable?,
        sticky: sticky.ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Text;
    use crate::providers::same_percent;

    fn router(file: &str) -> NginxRouter {
        let ctx = CallCtx {
            provider: "edge".into(),
            kind: "nginx",
            timeout: std::time::Duration::from_secs(5),
            retries: 0,
        };
        NginxRouter::new(
            ctx,
            Config {
                file: Text::literal(file),
                reload: vec![Text::literal("true")],
                test: None,
                upstream: "payments".into(),
                legacy: vec!["10.0.0.1:8080".into(), "10.0.0.2:8080".into()],
                candidate: vec!["10.0.1.1:8080".into()],
                mirror_variable: "migrate_mirror".into(),
                sticky: None,
            },
        )
    }

    const OPERATOR: &str = "# the operator's upstream
upstream payments {
    zone payments 64k;
    server 10.0.0.1:8080 max_fails=3 fail_timeout=10s;
    server 10.0.0.2:8080 weight=1;
    keepalive 16;
}
";

    #[test]
    fn tokenizes_quotes_variables_and_comments() {
        let t = tokenize("split_clients \"${request_id}\" $v { 5% \"1\"; * \"\"; } # c\n").unwrap();
        let words: Vec<_> = t
            .iter()
            .filter_map(|t| match &t.tok {
                Tok::Word(w) => Some(w.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            words,
            ["split_clients", "${request_id}", "$v", "5%", "1", "*", ""]
        );
        assert!(parse("upstream a { server x; ").is_err());
        assert!(parse("server x }").is_err());
    }

    #[test]
    fn takes_over_the_operators_upstream() {
        let r = router("unused");
        let p = Parsed {
            stmts: parse(OPERATOR).unwrap(),
        };
        assert_eq!(r.traffic_of("t", &p).unwrap(), 0.0);
        assert_eq!(r.mirror_of("t", &p).unwrap(), 0.0);
        let out = r
            .rewrite("t", OPERATOR, &p, Channel::Traffic, 10.0)
            .unwrap();
        assert!(
            out.contains("server 10.0.0.1:8080 weight=9 max_fails=3 fail_timeout=10s;"),
            "{out}"
        );
        assert!(out.contains("server 10.0.1.1:8080 weight=2;"), "{out}");
        assert!(out.contains("zone payments 64k;"), "{out}");
        assert!(out.contains("keepalive 16;"), "{out}");
        assert!(out.contains("$migrate_payments_split"), "{out}");
        let p2 = Parsed {
            stmts: parse(&out).unwrap(),
        };
        assert!(same_percent(r.traffic_of("t", &p2).unwrap(), 10.0));
        // Idempotent: the same change again gives the same file.
        let again = r.rewrite("t", &out, &p2, Channel::Traffic, 10.0).unwrap();
        assert_eq!(again, out);
        // 0% and 100% use `down`, never weight=0.
        let zero = r.rewrite("t", &out, &p2, Channel::Traffic, 0.0).unwrap();
        assert!(zero.contains("server 10.0.1.1:8080 down;"), "{zero}");
        assert!(!zero.contains("weight=0"));
        let full = r.rewrite("t", &out, &p2, Channel::Traffic, 100.0).unwrap();
        assert!(
            full.contains("server 10.0.0.1:8080 down max_fails=3"),
            "{full}"
        );
    }

    #[test]
    fn mirror_share_is_a_split_clients_block() {
        let r = router("unused");
        let p = Parsed {
            stmts: parse(OPERATOR).unwrap(),
        };
        let out = r.rewrite("t", OPERATOR, &p, Channel::Mirror, 25.0).unwrap();
        assert!(
            out.contains("split_clients \"${request_id}\" $migrate_mirror {"),
            "{out}"
        );
        let p2 = Parsed {
            stmts: parse(&out).unwrap(),
        };
        assert_eq!(r.mirror_of("t", &p2).unwrap(), 25.0);
        assert_eq!(r.traffic_of("t", &p2).unwrap(), 0.0);
        for pct in [0.0, 100.0, 0.5] {
            let o = r.rewrite("t", &out, &p2, Channel::Mirror, pct).unwrap();
            let p3 = Parsed {
                stmts: parse(&o).unwrap(),
            };
            assert_eq!(r.mirror_of("t", &p3).unwrap(), pct, "{o}");
        }
    }

    #[test]
    fn a_sticky_split_writes_side_upstreams_a_keyed_split_and_the_map() {
        let mut r = router("unused");
        r.cfg.sticky = Some(Sticky {
            key: StickyKey::Header("X-Customer".into()),
            missing: Missing::Legacy,
        });
        let p = Parsed {
            stmts: parse(OPERATOR).unwrap(),
        };
        let out = r
            .rewrite("t", OPERATOR, &p, Channel::Traffic, 10.0)
            .unwrap();
        // The operator's upstream is kept as written: the template.
        assert!(out.contains("server 10.0.0.1:8080 max_fails=3 fail_timeout=10s;"), "{out}");
        assert!(
            out.contains("upstream migrate_payments_legacy {\n    zone payments_legacy 64k;\n    keepalive 16;\n    server 10.0.0.1:8080 max_fails=3 fail_timeout=10s;\n    server 10.0.0.2:8080;\n}"),
            "{out}"
        );
        assert!(out.contains("upstream migrate_payments_candidate {"), "{out}");
        // The candidate's share comes first, so it grows from one end.
        assert!(
            out.contains("split_clients \"${http_x_customer}\" $migrate_payments_keyed {\n    10%     migrate_payments_candidate;\n    *       migrate_payments_legacy;\n}"),
            "{out}"
        );
        assert!(
            out.contains("map $http_x_customer $migrate_payments_upstream {\n    \"\"      migrate_payments_legacy;\n    default $migrate_payments_keyed;\n}"),
            "{out}"
        );
        let p2 = Parsed {
            stmts: parse(&out).unwrap(),
        };
        assert!(same_percent(r.live_traffic("t", &p2).unwrap(), 10.0));
        let again = r.rewrite("t", &out, &p2, Channel::Traffic, 10.0).unwrap();
        assert_eq!(again, out, "idempotent");
        // At 100%, requests without the key go to the candidate too.
        let full = r.rewrite("t", &out, &p2, Channel::Traffic, 100.0).unwrap();
        assert!(full.contains("\"\"      migrate_payments_candidate;"), "{full}");
        let p3 = Parsed {
            stmts: parse(&full).unwrap(),
        };
        assert_eq!(r.live_traffic("t", &p3).unwrap(), 100.0);

        // `missing: split`: a per-request split_clients at the same share.
        r.cfg.sticky = Some(Sticky {
            key: StickyKey::Cookie("customer".into()),
            missing: Missing::Split,
        });
        let split = r.rewrite("t", &out, &p2, Channel::Traffic, 25.0).unwrap();
        assert!(
            split.contains("split_clients \"${request_id}\" $migrate_payments_random {\n    25%"),
            "{split}"
        );
        assert!(
            split.contains("map $cookie_customer $migrate_payments_upstream {\n    \"\"      $migrate_payments_random;"),
            "{split}"
        );
        let p4 = Parsed {
            stmts: parse(&split).unwrap(),
        };
        assert_eq!(r.live_traffic("t", &p4).unwrap(), 25.0);
        // A hand change of the per-request share is seen.
        let random = split
            .rfind("25%     migrate_payments_candidate")
            .unwrap();
        let hand = format!("{}60%{}", &split[..random], &split[random + 3..]);
        let p5 = Parsed {
            stmts: parse(&hand).unwrap(),
        };
        assert_eq!(r.live_traffic("t", &p5).unwrap(), 60.0);
    }

    #[test]
    fn unknown_servers_are_refused() {
        let r = router("unused");
        let src = "upstream payments { server 10.9.9.9:80; }";
        let p = Parsed {
            stmts: parse(src).unwrap(),
        };
        let e = r.traffic_of("t", &p).unwrap_err();
        assert!(e.message.contains("10.9.9.9:80"), "{e}");
    }
}
