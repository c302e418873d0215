//! The command line: clap definitions only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

/// Where `migrate supervise` serves its page, `/metrics` and `/healthz` by
/// default: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9465";

#[derive(Debug, Parser)]
#[command(
    name = "migrate",
    version,
    about = "Zero-downtime service migrations, driven by a declarative plan",
    long_about = "Zero-downtime service migrations, driven by a declarative plan.\n\n\
        A plan (YAML) lists phases: dual write, shadow reads, reconciliation, canary steps with \
        soak windows and abort thresholds, clean-up. migrate checks it, shows it, and drives it \
        against the proxies, flag services, metrics and databases you already run.",
    after_help = "Exit codes: 0 done · 1 runtime error (safe to retry) · 2 invalid usage or plan · \
        3 rolled back after a breach · 4 waiting · 5 locked · 6 rollback incomplete · \
        7 checks failed · 130 interrupted"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The plan file
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        env = "MIGRATE_PLAN",
        default_value = "migrate.yaml",
        value_name = "PLAN"
    )]
    pub file: PathBuf,

    /// Where the migration's state lives (default: .migrate next to the plan)
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)
    #[arg(
        long,
        global = true,
        env = "MIGRATE_STATE_URL",
        hide_env_values = true,
        value_name = "URL",
        conflicts_with = "state_dir"
    )]
    pub state_url: Option<String>,

    /// Output format: human (tables, on stderr what is not data) or json
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// Show what would change, change nothing
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Answer yes to confirmations (needed without a terminal)
    #[arg(short = 'y', long = "yes", global = true)]
    pub yes: bool,

    /// Print only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more detail (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Never use colors (NO_COLOR is honoured too)
    #[arg(long, global = true)]
    pub no_color: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch a live migration: a payments API moved to its replacement in under a minute,
    /// a rollback on the way
    Demo(DemoArgs),
    /// Check the plan: every problem, with its line and column (exit 0 or 2)
    Validate,
    /// The steps, where the migration stands and what the next advance changes (--offline: the file alone)
    ///
    /// Exit 0, or 2 when the plan no longer fits the migration (a step it has already run was
    /// changed, so `advance` refuses): everything is still shown, with the incompatibility
    /// first and why on stderr.
    Plan(PlanArgs),
    /// Run steps: until the end, a soak, an approval, or the limit given
    Advance(AdvanceArgs),
    /// Put every changed target back (or to its value after a step)
    #[command(
        long_about = "Put every changed target back to its baseline (or, with --to, to its value \
            after a step), verified and journaled. Traffic and mirroring are tried first, then \
            flags; targets that fail are retried in parallel until settings.rollback_timeout \
            (exit 6 while any stays wrong).\n\n\
            A rollback that knows nothing of the changes (no state, or none recorded: a renamed \
            migration, a lost state) changes nothing and says so: exit 0 when every target of \
            the plan is already on its legacy side, else exit 6 with each target's live value. \
            --legacy then sends every target of the plan to its legacy side (traffic and mirror \
            0%, flags off), journaled as a rollback; targets of keep_on_rollback steps stay \
            unless --force."
    )]
    Rollback(RollbackArgs),
    /// Where the migration stands: position, soak time left, gates, drift
    ///
    /// Exit 0, or 2 when the plan no longer fits the migration (a step it has already run was
    /// changed, so `advance` refuses): everything is still shown, with the incompatibility
    /// first and why on stderr (with --watch, on every refresh, and exit 0 at Ctrl-C).
    Status(StatusArgs),
    /// The journal: every change, who made it, before and after
    History(HistoryArgs),
    /// Hold automatic progress (a running `advance --wait` stops)
    Pause(PauseArgs),
    /// Release a pause
    Resume,
    /// After a rollback, start again at the phase that failed
    Retry,
    /// Evaluate gates now and change nothing (exit 7 when one fails)
    Check(CheckArgs),
    /// Show who holds the migration's lock; clear a stale one
    Unlock(UnlockArgs),
    /// Look after the state itself
    #[command(subcommand)]
    State(StateCommand),
    /// Compare a reconciliation's tables exactly; with --repair, backfill the target
    /// (exit 0 when equal or repaired to parity 1, 7 when different)
    Reconcile(ReconcileArgs),
    /// Run as a service: watch every active migration's soak, evaluate its gates on their
    /// intervals and trip the breaker on a breach (several replicas: one active, by a lease)
    Supervise(SuperviseArgs),
    /// Print the JSON Schema of the plan, for editors
    Schema,
    /// Print shell completions
    Completions {
        /// bash | zsh | fish | powershell | elvish
        shell: Shell,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Leave the system running at the end (until Ctrl-C), to explore it with
    /// status, history and rollback
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct AdvanceArgs {
    /// Run at most N steps
    #[arg(long, value_name = "N", conflicts_with_all = ["to", "all"])]
    pub steps: Option<usize>,
    /// Run up to and including step ID
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    pub to: Option<String>,
    /// Run every step that can run (the default)
    #[arg(long)]
    pub all: bool,
    /// Wait through soaks instead of exiting 4 while one runs
    #[arg(long)]
    pub wait: bool,
    /// Approve the approval step ID (repeatable)
    #[arg(long, value_name = "ID")]
    pub approve: Vec<String>,
    /// Carry on even though live values differ from the state (drift)
    #[arg(long)]
    pub force: bool,
    /// Guard the soak in progress by the plan's gates as they are now, where
    /// they changed since it started (without it, a changed gate applies
    /// from the next soak)
    #[arg(long)]
    pub adopt_gates: bool,
    /// Take a target's first baseline even though the candidate already has a share, or
    /// another migration of the same state drives it (journaled; rollback restores that value)
    #[arg(long)]
    pub accept_baseline: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Restore the values as they were after step ID, instead of the baselines
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
    /// Roll back past irreversible steps (with --legacy: also send the targets of
    /// keep_on_rollback steps)
    #[arg(long)]
    pub force: bool,
    /// Why, for the journal
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Send every target of the plan to its legacy side (traffic and mirror 0%, flags off),
    /// whatever the state knows: when the state is lost or knows nothing of the changes.
    /// Targets of keep_on_rollback steps are left as they are unless --force
    #[arg(long, conflicts_with = "to")]
    pub legacy: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Refresh every second until interrupted
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Include every gate reading (by default only breaches are shown)
    #[arg(long)]
    pub gates: bool,
    /// Show only the last N records
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Why, for the journal and for whoever looks at `status`
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Gates to evaluate (default: the current step's, or every gate)
    pub gates: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Break the lock even though its holder is alive
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Recover the state from what can be read: a damaged state.json from the journal, a lost journal from state.json, the valid records around damaged lines
    Rebuild,
    /// Copy the migration's local state (journal and checkpoint) into PostgreSQL
    Push(TransferArgs),
    /// Copy the migration's state from PostgreSQL into the local state directory
    Pull(TransferArgs),
}

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The local state directory (default: settings.state.dir, else .migrate next to the plan)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Replace the migration if it already exists at the destination
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// Plan files, and directories whose *.yaml / *.yml files are plans (default: the -f plan);
    /// read again while running
    #[arg(value_name = "PLAN|DIR")]
    pub plans: Vec<PathBuf>,
    /// Serve the page (/), its API (/api/v1/), /metrics and /healthz on this address
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: std::net::SocketAddr,
    /// Also complete soaks and run the following steps, as `advance --wait --all` does
    /// (stopping at approvals); by default only the gates of running soaks are watched
    #[arg(long)]
    pub advance: bool,
    /// How often to look at the states and, on standby, at the lease
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub poll: std::time::Duration,
    /// /healthz fails when the loop, or a soak's gate evaluations, are this late
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub stale_after: std::time::Duration,
    /// Supervisors of the same group share one lease: one of them is active
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub group: String,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 500ms, 1s, 2m)"))?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Show the plan from the file alone, without contacting any provider
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The reconciliation to run (a key of `reconciliations:` in the plan)
    pub name: String,

    /// Write missing and different rows into the target (and delete extra
    /// rows when the reconciliation has `delete_extra: true`); with
    /// --dry-run, show what would be written
    #[arg(long)]
    pub repair: bool,

    /// Write one JSON line per differing row to FILE
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Keep comparing until Ctrl-C: every `continuous.every`, re-check the
    /// rows changed since the watermark and the next slice of a rolling
    /// sweep; print a line (or JSON event) per pass and record the readings
    /// for parity gates
    #[arg(long, conflicts_with_all = ["repair", "report"])]
    pub follow: bool,
}

/// The clap command, for completions and the man page.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
