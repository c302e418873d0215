//! `migrate supervise`: a long-running service that watches every active
//! migration of its plans, evaluates the gates of the soak in progress on
//! their own intervals and trips the breaker exactly as `advance --wait`
//! does (the engine's own code: [`Engine::watch`]), so a breach during a
//! long soak is acted on whether or not anyone's terminal is open.
//!
//! Several supervisors may run at once; one is active (it holds the lease,
//! see [`lease`]), the others are standbys that take over when the lease
//! is free or runs out. The active one stops acting the moment it is no
//! longer sure to hold the lease, and every write it makes is fenced by
//! the lease's token. It serves `/metrics`, `/healthz` and a read-only
//! page of what it watches ([`http`], [`page`]).
//!
//! One round, every `--poll`: read the plans again if they changed; take
//! (or check) the lease; then, for each migration, read its state (no
//! lock) and, when the active one and the state changed or a gate is due,
//! look at it under the lock ([`Engine::watch`]).

pub mod continuous;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod page;
pub mod plans;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::app::notify::{Notify, Options as NotifyOptions};
use crate::app::outcome::{describe, outcome_name};
use crate::app::{EngineParts, Lock};
use crate::cli::Global;
use crate::engine::watch::Watch;
use crate::engine::{Engine, Event, Interrupt, Reconciler, Reporter};
use crate::error::{Error, ExitCode};
use crate::output::events::{log_line, HumanReporter, JsonReporter};
use crate::plan::{StepKind, Validated};
use crate::providers::Registry;
use crate::state::local::LocalStore;
use crate::state::postgres::{supervisor_key, PgStore};
use crate::state::{actor, hostname, Holder, State, Store, Timestamp};

use crate::app::store::Backend;
use lease::{Attempt, Held, Lease};
use metrics::Metrics;
use page::Page;

/// How long a look waits for a migration's lock (held by an operator's
/// command for a moment) before trying again next round.
/// How often the plan files are read again.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

pub struct Options {
    /// Plan files and directories of plans.
    pub paths: Vec<PathBuf>,
    /// Complete soaks and run the next steps (as `advance --all`), stopping
    /// at approvals; without it, only watch.
    pub advance: bool,
    /// How often a round runs (standbys try the lease; states are read).
    pub poll: Duration,
    /// `/healthz` fails when the loop or a soak's evaluations are this late.
    pub stale_after: Duration,
    /// Supervisors of one group share a lease.
    pub group: String,
}

/// How the process was asked to stop.
#[derive(Clone, Default)]
pub struct Shutdown(Arc<(AtomicU8, tokio::sync::Notify)>);

const RUNNING: u8 = 0;
const TERMINATE: u8 = 1;
const INTERRUPT: u8 = 2;

impl Shutdown {
    pub fn terminate(&self) {
        self.set(TERMINATE);
    }

    pub fn interrupt(&self) {
        self.set(INTERRUPT);
    }

    fn set(&self, how: u8) {
        let _ = self
            .0
             .0
            .compare_exchange(RUNNING, how, Ordering::SeqCst, Ordering::SeqCst);
        self.0 .1.notify_waiters();
    }

    fn how(&self) -> u8 {
        self.0 .0.load(Ordering::SeqCst)
    }

    pub fn requested(&self) -> bool {
        self.how() != RUNNING
    }

    /// Sleep for `d`, or less when a stop is asked for.
    async fn sleep(&self, d: Duration) {
        let notified = self.0 .1.notified();
        if self.requested() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = notified => {}
        }
    }
}

/// Where the supervisor's own lines go.
pub struct Out {
    json: Option<Arc<JsonReporter>>,
    quiet: bool,
    verbose: bool,
}

impl Out {
    pub fn new(json: bool, quiet: bool, verbose: bool) -> Self {
        Self {
            json: json.then(|| Arc::new(JsonReporter::new())),
            quiet,
            verbose,
        }
    }

    /// A notable event: a log line, or `{"type": "supervisor", "event": ..}`.
    pub fn say(&self, event: &str, message: &str, mut fields: serde_json::Value) {
        let message = crate::redact::clean(message).into_owned();
        if let Some(j) = &self.json {
            if let Some(obj) = fields.as_object_mut() {
                obj.insert("type".into(), "supervisor".into());
                obj.insert("event".into(), event.into());
                obj.insert("message".into(), message.into());
            }
            j.emit(fields);
            return;
        }
        let error = matches!(event, "error" | "lease_lost" | "problem");
        if self.quiet && !error {
            return;
        }
        anstream::eprintln!("{}", log_line("supervise", &message));
    }

    /// Where a migration's notifiers say their troubles.
    fn notify_log(&self, migration: &str) -> crate::app::notify::Log {
        let json = self.json.clone();
        let migration = migration.to_string();
        Arc::new(move |message: &str| {
            let message = crate::redact::clean(message).into_owned();
            match &json {
                Some(j) => j.emit(json!({
                    "type": "supervisor",
                    "event": "notify",
                    "migration": migration,
                    "message": message,
                })),
                None => anstream::eprintln!(
                    "{}",
                    log_line("supervise", &format!("{migration}: {message}"))
                ),
            }
        })
    }

    fn reporter(
        &self,
        migration: &str,
        metrics: Arc<Metrics>,
        notify: Option<Arc<Notify>>,
    ) -> Events {
        Events {
            migration: migration.to_string(),
            metrics,
            notify,
            human: self
                .json
                .is_none()
                .then(|| HumanReporter::log(self.quiet, self.verbose, migration)),
            json: self.json.clone(),
        }
    }
}

/// The engine's events about one migration: counted for `/metrics`, then
/// rendered (human: lines naming the migration; json: with a `migration`
/// field).
pub struct Events {
    migration: String,
    metrics: Arc<Metrics>,
    /// The plan's notifiers (`settings.notify`), told after the rest.
    notify: Option<Arc<Notify>>,
    human: Option<HumanReporter>,
    json: Option<Arc<JsonReporter>>,
}

impl Reporter for Events {
    fn event(&self, event: &Event) {
        self.metrics.event(&self.migration, event);
        if let Some(h) = &self.human {
            h.event(event);
        }
        if let Some(j) = &self.json {
            if matches!(
                event,
                Event::SoakProgress { .. } | Event::ReconcileProgress { .. }
            ) {
                return;
            }
            if let Ok(mut v) = serde_json::to_value(event) {
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("migration".into(), self.migration.clone().into());
                }
                j.emit(v);
            }
        }
        if let Some(n) = &self.notify {
            n.event(event);
        }
    }
}

/// A migration's state store.
enum StateStore {
    Local(Box<LocalStore>),
    Postgres(PgStore),
}

impl StateStore {
    fn open(backend: &Backend, name: &str) -> anyhow::Result<Self> {
        Ok(match backend {
            Backend::Local(root) => StateStore::Local(Box::new(LocalStore::new(root, name))),
            Backend::Postgres { url, shown } => StateStore::Postgres(
                PgStore::new(url, shown, name).map_err(|e| Error::Usage(e.to_string()))?,
            ),
        })
    }

    fn store(&self) -> &dyn Store {
        match self {
            StateStore::Local(s) => s.as_ref(),
            StateStore::Postgres(s) => s,
        }
    }

    fn fence(&self, lease: Option<(String, i64)>) {
        if let StateStore::Postgres(s) = self {
            s.fence_with(lease);
        }
    }
}

/// One migration watched.
struct Watched {
    file: PathBuf,
    text: String,
    plan: Validated,
    store: StateStore,
    registry: Registry,
    events: Events,
    following: continuous::Following,
    /// When to look under the lock next (a gate due, the soak's end).
    next: Option<Instant>,
    /// The serial last seen: a change (another run wrote) is looked at.
    serial: Option<u64>,
    /// What was last said about its condition (said again only when it
    /// changes).
    said: String,
}

impl Watched {
    /// The engine over this migration, as `sup` runs it.
    fn engine<'a>(&'a self, sup: &'a Supervisor, interrupt: Interrupt) -> Engine<'a> {
        EngineParts {
            plan: &self.plan.plan,
            store: self.store.store(),
            providers: &self.registry,
            events: &self.events,
            reconciler: sup.reconciler.as_ref(),
            actor: sup.holder.actor.clone(),
            command: sup.command.clone(),
            interrupt,
        }
        .engine(Lock::SUPERVISOR)
    }

    fn name(&self) -> &str {
        &self.plan.plan.name
    }

    /// The soak the state is at, with its longest gate interval.
    fn soak_of(&self, st: &State) -> Option<(String, Duration)> {
        let current = st.current()?;
        let soak = st.soak.as_ref().filter(|k| k.step == current.id)?;
        let step = self.plan.plan.step(&soak.step)?;
        let StepKind::Soak { gates, .. } = &step.kind else {
            return None;
        };
        let longest = gates
            .iter()
            .filter_map(|g| self.plan.plan.gate(g))
            .map(|g| g.interval.unwrap_or(self.plan.plan.settings.interval))
            .max()
            .unwrap_or(self.plan.plan.settings.interval);
        Some((soak.step.clone(), longest))
    }
}

pub struct Supervisor<'a> {
    global: &'a Global,
    opts: Options,
    backend: Backend,
    lease: Lease,
    watched: Vec<Watched>,
    out: Out,
    metrics: Arc<Metrics>,
    page: Arc<Page>,
    reconciler: Box<dyn Reconciler>,
    followers: Option<Box<dyn continuous::Followers>>,
    holder: Holder,
    command: String,
    /// Plan files whose current text is invalid (or clashes), and what was
    /// said about them.
    rejected: BTreeMap<PathBuf, String>,
    last_reload: Instant,
}

impl<'a> Supervisor<'a> {
    /// Read and validate every plan (exit 2 on an invalid one, shown with
    /// its diagnostics), check they share a state backend, and prepare the
    /// lease. Nothing connects yet.
    pub fn new(
        global: &'a Global,
        opts: Options,
        out: Out,
        printer: &crate::output::Printer,
        followers: Option<Box<dyn continuous::Followers>>,
    ) -> anyhow::Result<Self> {
        if opts.group.is_empty()
            || !opts
                .group
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        {
            return Err(Error::Usage(format!(
                "--group {}: use lowercase letters, digits, '.', '_' and '-'",
                opts.group
            ))
            .into());
        }
        let files = plans::plan_files(&opts.paths).map_err(Error::Usage)?;
        if files.is_empty() {
            return Err(Error::Usage(format!(
                "no plans to supervise in {} (plan files, or directories of *.yaml plans)",
                opts.paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        }
        let metrics = Arc::new(Metrics::default());
        let mut loaded: Vec<(PathBuf, String, Validated, Backend)> = Vec::new();
        for file in files {
            let text = crate::app::plan_file::read_plan_text(&file)?;
            let plan = crate::app::plan_file::load_plan(&file, printer)?;
            crate::app::plan_file::say_security_notices(&plan.plan, printer);
            let backend = crate::app::store::backend_of(global, &file, &plan)?;
            if let Some((other, ..)) = loaded
                .iter()
                .find(|(_, _, p, _)| p.plan.name == plan.plan.name)
            {
                return Err(Error::Usage(format!(
                    "{} and {} are both migration '{}': a migration is supervised from one plan",
                    other.display(),
                    file.display(),
                    plan.plan.name
                ))
                .into());
            }
            loaded.push((file, text, plan, backend));
        }
        let backend = loaded[0].3.clone();
        if let Some((file, _, _, b)) = loaded.iter().find(|(_, _, _, b)| !b.same(&backend)) {
            return Err(Error::Usage(format!(
                "{} keeps its state in {}, {} in {}: one supervisor watches the plans of one state backend; run one per backend",
                loaded[0].0.display(),
                backend.shown(),
                file.display(),
                b.shown()
            ))
            .into());
        }
        let lease = match &backend {
            Backend::Local(root) => Lease::Local {
                path: root.join(format!("supervise-{}.lock", opts.group)),
            },
            Backend::Postgres { url, shown } => Lease::Postgres {
                store: PgStore::new(url, shown, &supervisor_key(&opts.group))
                    .map_err(|e| Error::Usage(e.to_string()))?,
            },
        };
        let command = format!(
            "migrate {}",
            std::env::args().skip(1).collect::<Vec<_>>().join(" ")
        );
        let holder = Holder {
            actor: actor(),
            host: hostname(),
            pid: std::process::id(),
            command: command.clone(),
            since: Timestamp::new(std::time::SystemTime::now()),
        };
        let mut sup = Supervisor {
            global,
            opts,
            backend,
            lease,
            watched: Vec::new(),
            out,
            metrics,
            page: Arc::new(Page::default()),
            reconciler: crate::app::reconciler::reconciler(),
            followers,
            holder,
            command,
            rejected: BTreeMap::new(),
            last_reload: Instant::now(),
        };
        for (file, text, plan, _) in loaded {
            let w = sup.watch(file, text, plan)?;
            sup.watched.push(w);
        }
        sup.metrics.watching(&sup.names());
        sup.page.watching(&sup.names());
        Ok(sup)
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn page(&self) -> Arc<Page> {
        self.page.clone()
    }

    fn names(&self) -> Vec<String> {
        self.watched.iter().map(|w| w.name().to_string()).collect()
    }

    fn watch(&self, file: PathBuf, text: String, plan: Validated) -> anyhow::Result<Watched> {
        let name = plan.plan.name.clone();
        let store = StateStore::open(&self.backend, &name)?;
        // Nothing is written until this process holds the lease.
        store.fence(Some((self.lease.key(), -1)));
        let registry = Registry::new(&plan.plan);
        let notify = Notify::start(
            &plan.plan,
            &registry,
            NotifyOptions::supervisor(self.opts.poll),
            self.out.notify_log(&name),
        )
        .map(Arc::new);
        Ok(Watched {
            registry,
            events: self.out.reporter(&name, self.metrics.clone(), notify),
            file,
            text,
            plan,
            store,
            following: continuous::Following::default(),
            next: None,
            serial: None,
            said: String::new(),
        })
    }

    /// Run until asked to stop: exit 0 on SIGTERM (the lease released for
    /// a standby to take at once), 130 on Ctrl-C.
    pub async fn run(mut self, shutdown: Shutdown, listening: std::net::SocketAddr) -> ExitCode {
        let names = self.names();
        self.out.say(
            "started",
            &format!(
                "watching {} ({}) with state in {}; lease {}{}; {}; the page, /metrics and /healthz on http://{listening}",
                crate::output::plural(names.len(), "migration"),
                names.join(", "),
                self.backend.shown(),
                self.lease.location(),
                self.lease
                    .ttl()
                    .map(|t| format!(" ({} ms)", t.as_millis()))
                    .unwrap_or_default(),
                if self.opts.advance {
                    "completing soaks and advancing (stopping at approvals)"
                } else {
                    "watching soaks only (advance is left to operators)"
                }
            ),
            json!({"migrations": names, "advance": self.opts.advance, "listen": listening.to_string()}),
        );
        let mut held: Option<Held> = None;
        let mut standby_said: Option<String> = None;
        let mut store_error_said: Option<String> = None;
        while !shutdown.requested() {
            self.reload();
            // The lease.
            if held.as_ref().is_some_and(|h| !h.valid()) {
                held = None;
                self.metrics.set_role(false, None);
                self.out.say(
                    "lease_lost",
                    "lost the supervisor lease (taken over, or not renewed in time): stopped acting; standing by",
                    json!({}),
                );
            }
            if held.is_none() {
                match self.lease.try_take(&self.holder).await {
                    Ok(Attempt::Got(h)) => {
                        let token = h.token();
                        if let Some(t) = token {
                            for w in &self.watched {
                                w.store.fence(Some((self.lease.key(), t)));
                            }
                        }
                        for w in &mut self.watched {
                            w.next = None;
                            w.serial = None;
                            w.said.clear();
                        }
                        self.metrics.set_role(true, token);
                        let stale = match &h {
                            Held::Postgres(g) => g.stale_previous().cloned(),
                            Held::Local(l) => crate::state::LockGuard::stale_previous(l).cloned(),
                        };
                        let from = stale
                            .map(|p| format!(", taking over from {p}"))
                            .unwrap_or_default();
                        self.out.say(
                            "active",
                            &format!(
                                "active{}{from}",
                                token
                                    .map(|t| format!(" (fencing token {t})"))
                                    .unwrap_or_default()
                            ),
                            json!({"token": token}),
                        );
                        standby_said = None;
                        held = Some(h);
                    }
                    Ok(Attempt::Standby(who)) => {
                        self.metrics.set_role(false, None);
                        let who =
                            who.map_or_else(|| "another supervisor".to_string(), |h| h.to_string());
                        if standby_said.as_deref() != Some(who.as_str()) {
                            self.out.say(
                                "standby",
                                &format!("standing by: the active supervisor is {who}"),
                                json!({"active": who}),
                            );
                            standby_said = Some(who);
                        }
                    }
                    Err(e) => {
                        let text = e.to_string();
                        if store_error_said.as_deref() != Some(text.as_str()) {
                            self.out.say(
                                "error",
                                &format!("taking the supervisor lease: {text}"),
                                json!({}),
                            );
                            store_error_said = Some(text.clone());
                        }
                        self.metrics.round(Err(text));
                        shutdown.sleep(self.opts.poll).await;
                        continue;
                    }
                }
            }
            let result = self.round(held.as_ref(), &shutdown).await;
            match &result {
                Ok(()) => store_error_said = None,
                Err(text) => {
                    if store_error_said.as_deref() != Some(text.as_str()) {
                        self.out.say("error", text, json!({}));
                        store_error_said = Some(text.clone());
                    }
                }
            }
            self.metrics.round(result);
            shutdown.sleep(self.opts.poll).await;
        }
        let how = shutdown.how();
        let had = held.is_some();
        // Released here, for a standby to take at once.
        drop(held);
        for w in &self.watched {
            if let Some(n) = &w.events.notify {
                n.finish(crate::app::notify::FLUSH).await;
            }
        }
        self.out.say(
            "stopped",
            if had {
                "stopped; the supervisor lease is released"
            } else {
                "stopped"
            },
            json!({}),
        );
        if how == INTERRUPT {
            ExitCode::Interrupted
        } else {
            ExitCode::Ok
        }
    }

    /// Read the plan files again when it is time; take in what changed.
    fn reload(&mut self) {
        if self.last_reload.elapsed() < RELOAD_EVERY {
            return;
        }
        self.last_reload = Instant::now();
        let files = match plans::plan_files(&self.opts.paths) {
            Ok(f) => f,
            Err(e) => {
                let key = PathBuf::new();
                if self.rejected.get(&key) != Some(&e) {
                    self.out.say(
                        "error",
                        &format!("reading the plans: {e}; watching the ones read before"),
                        json!({}),
                    );
                    self.rejected.insert(key, e);
                }
                return;
            }
        };
        self.rejected.remove(&PathBuf::new());
        let mut changed = false;
        // Gone.
        let before = self.watched.len();
        self.watched.retain(|w| files.contains(&w.file));
        if self.watched.len() != before {
            changed = true;
        }
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let known = self.watched.iter().position(|w| w.file == file);
            if known.is_some_and(|i| self.watched[i].text == text) {
                continue;
            }
            if self.rejected.get(&file) == Some(&text) {
                continue;
            }
            let verdict = crate::app::plan_file::validate_text(&file, &text).and_then(|plan| {
                let backend = crate::app::store::backend_of(self.global, &file, &plan)
                    .map_err(|e| format!("{e:#}"))?;
                if !backend.same(&self.backend) {
                    return Err(format!(
                        "it keeps its state in {}, not in {} like the others",
                        backend.shown(),
                        self.backend.shown()
                    ));
                }
                if let Some(other) = self
                    .watched
                    .iter()
                    .find(|w| w.file != file && w.name() == plan.plan.name)
                {
                    return Err(format!(
                        "migration '{}' is already watched from {}",
                        plan.plan.name,
                        other.file.display()
                    ));
                }
                Ok(plan)
            });
            match verdict {
                Ok(plan) => {
                    self.rejected.remove(&file);
                    let what = if known.is_some() { "changed" } else { "new" };
                    let name = plan.plan.name.clone();
                    match self.watch(file.clone(), text, plan) {
                        Ok(mut w) => {
                            if let Some(i) = known {
                                // Same migration: keep the schedule.
                                let old = &self.watched[i];
                                if old.name() == w.name() {
                                    w.next = old.next;
                                    w.serial = old.serial;
                                    w.said = old.said.clone();
                                }
                                self.watched[i] = w;
                            } else {
                                self.watched.push(w);
                            }
                            changed = true;
                            self.out.say(
                                "plan",
                                &format!("{}: {what} plan for migration {name}", file.display()),
                                json!({"migration": name, "file": file.display().to_string()}),
                            );
                        }
                        Err(e) => self.out.say(
                            "error",
                            &format!("{}: {e:#}", file.display()),
                            json!({"file": file.display().to_string()}),
                        ),
                    }
                }
                Err(e) => {
                    self.out.say(
                        "error",
                        &format!(
                            "{} is not taken in: {e}\n(the version read before, if any, is still watched)",
                            file.display()
                        ),
                        json!({"file": file.display().to_string()}),
                    );
                    self.rejected.insert(file, text);
                }
            }
        }
        if changed {
            self.metrics.watching(&self.names());
            self.page.watching(&self.names());
        }
    }

    /// Read every migration's state; when active, look at those whose state
    /// changed or whose gates are due. `Err`: a state could not be read.
    async fn round(&mut self, held: Option<&Held>, shutdown: &Shutdown) -> Result<(), String> {
        let mut unreachable = None;
        let lease_key = self.lease.key();
        let token = held.and_then(Held::token);
        for i in 0..self.watched.len() {
            if shutdown.requested() {
                break;
            }
            let w = &self.watched[i];
            let st = match w.store.store().load().await {
                Ok(st) => st,
                Err(e) => {
                    self.metrics.error(w.name());
                    unreachable = Some(format!("reading the state of {}: {e}", w.name()));
                    continue;
                }
            };
            self.metrics.state(
                w.name(),
                st.as_ref(),
                st.as_ref().and_then(|s| w.soak_of(s)),
            );
            // Alerts follow the state: fired, kept firing, resolved.
            if let Some(n) = &w.events.notify {
                n.observe(&w.plan.plan, st.as_ref());
            }
            self.show(i, st.as_ref()).await;
            let Some(h) = held else {
                continue;
            };
            if !h.valid() {
                break;
            }
            let serial = st.as_ref().map(|s| s.serial);
            // `next` unset: looked at again only when the state changes.
            let due = w.next.is_some_and(|t| Instant::now() >= t);
            let changed = w.serial != serial;
            if !(due || changed) {
                continue;
            }
            if let Some(t) = token {
                w.store.fence(Some((lease_key.clone(), t)));
            }
            self.look(i, h, shutdown).await;
        }
        match unreachable {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Keep the page's view of migration `i` up to date: its state; while
    /// someone looks, the journal records not yet read and, now and then,
    /// its targets' live values (a read that hangs is given up on: the
    /// loop guards soaks first).
    async fn show(&self, i: usize, st: Option<&State>) {
        let w = &self.watched[i];
        let name = w.name();
        self.page.observe(name, &w.plan.plan, st);
        if let Some(after) = self.page.after(name, st) {
            if let Ok(records) = w.store.store().journal_after(after).await {
                self.page.records(name, after, &records);
            }
        }
        if let Some(st) = st.filter(|_| self.page.live_due(name)) {
            let engine = w.engine(self, Interrupt::default());
            let live = tokio::time::timeout(page::LIVE_READ_TIMEOUT, engine.live(st)).await;
            if let Ok(live) = live {
                self.page.live(name, &live);
            }
        }
    }

    /// Look at migration `i` under its lock, as `advance --wait` would on
    /// its next tick; say what changed.
    async fn look(&mut self, i: usize, held: &Held, shutdown: &Shutdown) {
        let advance = self.opts.advance;
        let poll = self.opts.poll;
        let w = &self.watched[i];
        let interrupt = Interrupt::default();
        let engine = w.engine(self, interrupt.clone());
        // The lease is watched while the engine works: lost, the engine
        // stops at its next safe point (and its writes are refused).
        let result = {
            let tick = engine.watch(advance);
            tokio::pin!(tick);
            loop {
                tokio::select! {
                    r = &mut tick => break r,
                    () = tokio::time::sleep(Duration::from_millis(50)) => {
                        if !held.valid() || shutdown.how() == INTERRUPT {
                            interrupt.raise();
                        }
                    }
                }
            }
        };
        let mut follow_errors = Vec::new();
        if held.valid() {
            if let Some(f) = &self.followers {
                if matches!(result, Ok(Watch::Soaking { .. } | Watch::Idle { .. })) {
                    let mut following = std::mem::take(&mut self.watched[i].following);
                    let engine = self.watched[i].engine(self, Interrupt::default());
                    follow_errors = continuous::follow(f.as_ref(), &mut following, &engine).await;
                    self.watched[i].following = following;
                }
            }
        }
        let w = &mut self.watched[i];
        let name = w.plan.plan.name.clone();
        for e in follow_errors {
            self.out
                .say("error", &format!("{name}: {e}"), json!({"migration": name}));
        }
        // The state as this look left it: its serial is not a change.
        w.serial = match w.store.store().load().await {
            Ok(st) => st.map(|s| s.serial),
            Err(_) => None,
        };
        let now = Timestamp::new(std::time::SystemTime::now());
        let problem = match &result {
            Ok(Watch::Soaking { problem, .. }) => problem.clone(),
            Ok(_) => None,
            Err(e) => Some(crate::redact::clean(&e.to_string()).into_owned()),
        };
        if let (Some(p), Some(n)) = (&problem, &w.events.notify) {
            if p.starts_with("drift:") {
                n.drift_seen(p.trim_start_matches("drift: "));
            }
        }
        self.page.problem(&name, problem.clone());
        self.metrics.problem(&name, problem);
        let (event, condition, fields, next) = match result {
            Ok(Watch::Idle { reason }) => ("idle", format!("{name}: {reason}"), json!({}), None),
            Ok(Watch::Blocked(o)) => (
                "blocked",
                format!("{name}: not watched now: {}", describe(&o).1),
                json!({"outcome": outcome_name(&o)}),
                None,
            ),
            Ok(Watch::Soaking {
                step,
                next,
                reason,
                problem,
                paused,
            }) => {
                let wait = next.since(now).max(Duration::from_millis(1));
                match problem {
                    Some(p) => (
                        "problem",
                        format!(
                            "{name}: {}\n  soak {step} is still guarded by the gates it started with",
                            crate::redact::clean(&p)
                        ),
                        json!({"step": step}),
                        Some(Instant::now() + wait),
                    ),
                    None if paused => (
                        "watching",
                        format!("{name}: {reason}"),
                        json!({"step": step, "paused": true}),
                        Some(Instant::now() + wait),
                    ),
                    None => (
                        "watching",
                        format!("{name}: watching the gates of soak {step}"),
                        json!({"step": step}),
                        Some(Instant::now() + wait),
                    ),
                }
            }
            Ok(Watch::Acted(o)) => {
                w.said.clear();
                (
                    "acted",
                    format!("{name}: {}", describe(&o).1),
                    json!({"outcome": outcome_name(&o)}),
                    None,
                )
            }
            Err(e) => {
                self.metrics.error(&name);
                let interval = w.plan.plan.settings.interval;
                (
                    "error",
                    format!("{name}: {}", crate::redact::clean(&e.to_string())),
                    json!({}),
                    Some(Instant::now() + interval.min(Duration::from_secs(30)).max(poll)),
                )
            }
        };
        w.next = next;
        if w.said != condition {
            let mut fields = fields;
            if let Some(obj) = fields.as_object_mut() {
                obj.insert("migration".into(), name.clone().into());
            }
            self.out.say(event, &condition, fields);
            w.said = condition;
        }
    }
}
