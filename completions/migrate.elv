
use builtin;
use str;

set edit:completion:arg-completer[migrate] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'migrate'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'migrate'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand demo 'Watch a live migration: a payments API moved to its replacement in under a minute, a rollback on the way'
            cand validate 'Check the plan: every problem, with its line and column (exit 0 or 2)'
            cand plan 'The steps, where the migration stands and what the next advance changes (--offline: the file alone)'
            cand advance 'Run steps: until the end, a soak, an approval, or the limit given'
            cand rollback 'Put every changed target back (or to its value after a step)'
            cand status 'Where the migration stands: position, soak time left, gates, drift'
            cand history 'The journal: every change, who made it, before and after'
            cand pause 'Hold automatic progress (a running `advance --wait` stops)'
            cand resume 'Release a pause'
            cand retry 'After a rollback, start again at the phase that failed'
            cand check 'Evaluate gates now and change nothing (exit 7 when one fails)'
            cand unlock 'Show who holds the migration''s lock; clear a stale one'
            cand state 'Look after the state itself'
            cand reconcile 'Compare a reconciliation''s tables exactly; with --repair, backfill the target (exit 0 when equal or repaired to parity 1, 7 when different)'
            cand supervise 'Run as a service: watch every active migration''s soak, evaluate its gates on their intervals and trip the breaker on a breach (several replicas: one active, by a lease)'
            cand schema 'Print the JSON Schema of the plan, for editors'
            cand completions 'Print shell completions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'migrate;demo'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --keep 'Leave the system running at the end (until Ctrl-C), to explore it with status, history and rollback'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;validate'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;plan'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --offline 'Show the plan from the file alone, without contacting any provider'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'migrate;advance'= {
            cand --steps 'Run at most N steps'
            cand --to 'Run up to and including step ID'
            cand --approve 'Approve the approval step ID (repeatable)'
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --all 'Run every step that can run (the default)'
            cand --wait 'Wait through soaks instead of exiting 4 while one runs'
            cand --force 'Carry on even though live values differ from the state (drift)'
            cand --adopt-gates 'Guard the soak in progress by the plan''s gates as they are now, where they changed since it started (without it, a changed gate applies from the next soak)'
            cand --accept-baseline 'Take a target''s first baseline even though the candidate already has a share, or another migration of the same state drives it (journaled; rollback restores that value)'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;rollback'= {
            cand --to 'Restore the values as they were after step ID, instead of the baselines'
            cand --reason 'Why, for the journal'
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --force 'Roll back past irreversible steps (with --legacy: also send the targets of keep_on_rollback steps)'
            cand --legacy 'Send every target of the plan to its legacy side (traffic and mirror 0%, flags off), whatever the state knows: when the state is lost or knows nothing of the changes. Targets of keep_on_rollback steps are left as they are unless --force'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'migrate;status'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --watch 'Refresh every second until interrupted'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'migrate;history'= {
            cand --last 'Show only the last N records'
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --gates 'Include every gate reading (by default only breaches are shown)'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;pause'= {
            cand --reason 'Why, for the journal and for whoever looks at `status`'
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;resume'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;retry'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;check'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;unlock'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --force 'Break the lock even though its holder is alive'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;state'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand rebuild 'Recover the state from what can be read: a damaged state.json from the journal, a lost journal from state.json, the valid records around damaged lines'
            cand push 'Copy the migration''s local state (journal and checkpoint) into PostgreSQL'
            cand pull 'Copy the migration''s state from PostgreSQL into the local state directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'migrate;state;rebuild'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;state;push'= {
            cand --dir 'The local state directory (default: settings.state.dir, else .migrate next to the plan)'
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --force 'Replace the migration if it already exists at the destination'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;state;pull'= {
            cand --dir 'The local state directory (default: settings.state.dir, else .migrate next to the plan)'
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --force 'Replace the migration if it already exists at the destination'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;state;help'= {
            cand rebuild 'Recover the state from what can be read: a damaged state.json from the journal, a lost journal from state.json, the valid records around damaged lines'
            cand push 'Copy the migration''s local state (journal and checkpoint) into PostgreSQL'
            cand pull 'Copy the migration''s state from PostgreSQL into the local state directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'migrate;state;help;rebuild'= {
        }
        &'migrate;state;help;push'= {
        }
        &'migrate;state;help;pull'= {
        }
        &'migrate;state;help;help'= {
        }
        &'migrate;reconcile'= {
            cand --report 'Write one JSON line per differing row to FILE'
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --repair 'Write missing and different rows into the target (and delete extra rows when the reconciliation has `delete_extra: true`); with --dry-run, show what would be written'
            cand --follow 'Keep comparing until Ctrl-C: every `continuous.every`, re-check the rows changed since the watermark and the next slice of a rolling sweep; print a line (or JSON event) per pass and record the readings for parity gates'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;supervise'= {
            cand --listen 'Serve the page (/), its API (/api/v1/), /metrics and /healthz on this address'
            cand --poll 'How often to look at the states and, on standby, at the lease'
            cand --stale-after '/healthz fails when the loop, or a soak''s gate evaluations, are this late'
            cand --group 'Supervisors of the same group share one lease: one of them is active'
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --advance 'Also complete soaks and run the following steps, as `advance --wait --all` does (stopping at approvals); by default only the gates of running soaks are watched'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;schema'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;completions'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
            cand --state-url 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)'
            cand -o 'Output format: human (tables, on stderr what is not data) or json'
            cand --output 'Output format: human (tables, on stderr what is not data) or json'
            cand --dry-run 'Show what would change, change nothing'
            cand -y 'Answer yes to confirmations (needed without a terminal)'
            cand --yes 'Answer yes to confirmations (needed without a terminal)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more detail (repeat for more)'
            cand --verbose 'Print more detail (repeat for more)'
            cand --no-color 'Never use colors (NO_COLOR is honoured too)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;help'= {
            cand demo 'Watch a live migration: a payments API moved to its replacement in under a minute, a rollback on the way'
            cand validate 'Check the plan: every problem, with its line and column (exit 0 or 2)'
            cand plan 'The steps, where the migration stands and what the next advance changes (--offline: the file alone)'
            cand advance 'Run steps: until the end, a soak, an approval, or the limit given'
            cand rollback 'Put every changed target back (or to its value after a step)'
            cand status 'Where the migration stands: position, soak time left, gates, drift'
            cand history 'The journal: every change, who made it, before and after'
            cand pause 'Hold automatic progress (a running `advance --wait` stops)'
            cand resume 'Release a pause'
            cand retry 'After a rollback, start again at the phase that failed'
            cand check 'Evaluate gates now and change nothing (exit 7 when one fails)'
            cand unlock 'Show who holds the migration''s lock; clear a stale one'
            cand state 'Look after the state itself'
            cand reconcile 'Compare a reconciliation''s tables exactly; with --repair, backfill the target (exit 0 when equal or repaired to parity 1, 7 when different)'
            cand supervise 'Run as a service: watch every active migration''s soak, evaluate its gates on their intervals and trip the breaker on a breach (several replicas: one active, by a lease)'
            cand schema 'Print the JSON Schema of the plan, for editors'
            cand completions 'Print shell completions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'migrate;help;demo'= {
        }
        &'migrate;help;validate'= {
        }
        &'migrate;help;plan'= {
        }
        &'migrate;help;advance'= {
        }
        &'migrate;help;rollback'= {
        }
        &'migrate;help;status'= {
        }
        &'migrate;help;history'= {
        }
        &'migrate;help;pause'= {
        }
        &'migrate;help;resume'= {
        }
        &'migrate;help;retry'= {
        }
        &'migrate;help;check'= {
        }
        &'migrate;help;unlock'= {
        }
        &'migrate;help;state'= {
            cand rebuild 'Recover the state from what can be read: a damaged state.json from the journal, a lost journal from state.json, the valid records around damaged lines'
            cand push 'Copy the migration''s local state (journal and checkpoint) into PostgreSQL'
            cand pull 'Copy the migration''s state from PostgreSQL into the local state directory'
        }
        &'migrate;help;state;rebuild'= {
        }
        &'migrate;help;state;push'= {
        }
        &'migrate;help;state;pull'= {
        }
        &'migrate;help;reconcile'= {
        }
        &'migrate;help;supervise'= {
        }
        &'migrate;help;schema'= {
        }
        &'migrate;help;completions'= {
        }
        &'migrate;help;help'= {
        }
    ]
    $completions[$command]
}
