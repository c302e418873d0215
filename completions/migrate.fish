# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_migrate_global_optspecs
    string join \n f/file= state-dir= state-url= o/output= dry-run y/yes q/quiet v/verbose no-color h/help V/version
end

function __fish_migrate_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_migrate_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_migrate_using_subcommand
    set -l cmd (__fish_migrate_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c migrate -n "__fish_migrate_needs_command" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_needs_command" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_needs_command" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_needs_command" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_needs_command" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_needs_command" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_needs_command" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_needs_command" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_needs_command" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c migrate -n "__fish_migrate_needs_command" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "demo" -d 'Watch a live migration: a payments API moved to its replacement in under a minute, a rollback on the way'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "validate" -d 'Check the plan: every problem, with its line and column (exit 0 or 2)'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "plan" -d 'The steps, where the migration stands and what the next advance changes (--offline: the file alone)'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "advance" -d 'Run steps: until the end, a soak, an approval, or the limit given'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "rollback" -d 'Put every changed target back (or to its value after a step)'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "status" -d 'Where the migration stands: position, soak time left, gates, drift'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "history" -d 'The journal: every change, who made it, before and after'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "pause" -d 'Hold automatic progress (a running `advance --wait` stops)'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "resume" -d 'Release a pause'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "retry" -d 'After a rollback, start again at the phase that failed'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "check" -d 'Evaluate gates now and change nothing (exit 7 when one fails)'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "unlock" -d 'Show who holds the migration\'s lock; clear a stale one'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "state" -d 'Look after the state itself'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "reconcile" -d 'Compare a reconciliation\'s tables exactly; with --repair, backfill the target (exit 0 when equal or repaired to parity 1, 7 when different)'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "supervise" -d 'Run as a service: watch every active migration\'s soak, evaluate its gates on their intervals and trip the breaker on a breach (several replicas: one active, by a lease)'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "schema" -d 'Print the JSON Schema of the plan, for editors'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c migrate -n "__fish_migrate_using_subcommand demo" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand demo" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand demo" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand demo" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand demo" -l keep -d 'Leave the system running at the end (until Ctrl-C), to explore it with status, history and rollback'
complete -c migrate -n "__fish_migrate_using_subcommand demo" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand demo" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand demo" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand demo" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand demo" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand demo" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand validate" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand validate" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand validate" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand plan" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand plan" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand plan" -l offline -d 'Show the plan from the file alone, without contacting any provider'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c migrate -n "__fish_migrate_using_subcommand advance" -l steps -d 'Run at most N steps' -r
complete -c migrate -n "__fish_migrate_using_subcommand advance" -l to -d 'Run up to and including step ID' -r
complete -c migrate -n "__fish_migrate_using_subcommand advance" -l approve -d 'Approve the approval step ID (repeatable)' -r
complete -c migrate -n "__fish_migrate_using_subcommand advance" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand advance" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand advance" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand advance" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand advance" -l all -d 'Run every step that can run (the default)'
complete -c migrate -n "__fish_migrate_using_subcommand advance" -l wait -d 'Wait through soaks instead of exiting 4 while one runs'
complete -c migrate -n "__fish_migrate_using_subcommand advance" -l force -d 'Carry on even though live values differ from the state (drift)'
complete -c migrate -n "__fish_migrate_using_subcommand advance" -l adopt-gates -d 'Guard the soak in progress by the plan\'s gates as they are now, where they changed since it started (without it, a changed gate applies from the next soak)'
complete -c migrate -n "__fish_migrate_using_subcommand advance" -l accept-baseline -d 'Take a target\'s first baseline even though the candidate already has a share, or another migration of the same state drives it (journaled; rollback restores that value)'
complete -c migrate -n "__fish_migrate_using_subcommand advance" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand advance" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand advance" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand advance" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand advance" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand advance" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l to -d 'Restore the values as they were after step ID, instead of the baselines' -r
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l reason -d 'Why, for the journal' -r
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l force -d 'Roll back past irreversible steps (with --legacy: also send the targets of keep_on_rollback steps)'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l legacy -d 'Send every target of the plan to its legacy side (traffic and mirror 0%, flags off), whatever the state knows: when the state is lost or knows nothing of the changes. Targets of keep_on_rollback steps are left as they are unless --force'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c migrate -n "__fish_migrate_using_subcommand status" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand status" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand status" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand status" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand status" -l watch -d 'Refresh every second until interrupted'
complete -c migrate -n "__fish_migrate_using_subcommand status" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand status" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand status" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand status" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand status" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c migrate -n "__fish_migrate_using_subcommand history" -l last -d 'Show only the last N records' -r
complete -c migrate -n "__fish_migrate_using_subcommand history" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand history" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand history" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand history" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand history" -l gates -d 'Include every gate reading (by default only breaches are shown)'
complete -c migrate -n "__fish_migrate_using_subcommand history" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand history" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand history" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand history" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand history" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand history" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand pause" -l reason -d 'Why, for the journal and for whoever looks at `status`' -r
complete -c migrate -n "__fish_migrate_using_subcommand pause" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand pause" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand pause" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand pause" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand pause" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand pause" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand pause" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand pause" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand pause" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand pause" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand resume" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand resume" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand resume" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand resume" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand resume" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand resume" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand resume" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand resume" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand resume" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand resume" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand retry" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand retry" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand retry" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand retry" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand retry" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand retry" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand retry" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand retry" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand retry" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand retry" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand check" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand check" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand check" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand check" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand check" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand check" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand check" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand check" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand check" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand check" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand unlock" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand unlock" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand unlock" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand unlock" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand unlock" -l force -d 'Break the lock even though its holder is alive'
complete -c migrate -n "__fish_migrate_using_subcommand unlock" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand unlock" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand unlock" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand unlock" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand unlock" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand unlock" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -f -a "rebuild" -d 'Recover the state from what can be read: a damaged state.json from the journal, a lost journal from state.json, the valid records around damaged lines'
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -f -a "push" -d 'Copy the migration\'s local state (journal and checkpoint) into PostgreSQL'
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -f -a "pull" -d 'Copy the migration\'s state from PostgreSQL into the local state directory'
complete -c migrate -n "__fish_migrate_using_subcommand state; and not __fish_seen_subcommand_from rebuild push pull help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from rebuild" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from rebuild" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from rebuild" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from rebuild" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from rebuild" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from rebuild" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from rebuild" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from rebuild" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from rebuild" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from rebuild" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from push" -l dir -d 'The local state directory (default: settings.state.dir, else .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from push" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from push" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from push" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from push" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from push" -l force -d 'Replace the migration if it already exists at the destination'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from push" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from push" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from push" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from push" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from push" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from push" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from pull" -l dir -d 'The local state directory (default: settings.state.dir, else .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from pull" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from pull" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from pull" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from pull" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from pull" -l force -d 'Replace the migration if it already exists at the destination'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from pull" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from pull" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from pull" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from pull" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from pull" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from pull" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "rebuild" -d 'Recover the state from what can be read: a damaged state.json from the journal, a lost journal from state.json, the valid records around damaged lines'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "push" -d 'Copy the migration\'s local state (journal and checkpoint) into PostgreSQL'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "pull" -d 'Copy the migration\'s state from PostgreSQL into the local state directory'
complete -c migrate -n "__fish_migrate_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -l report -d 'Write one JSON line per differing row to FILE' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -l repair -d 'Write missing and different rows into the target (and delete extra rows when the reconciliation has `delete_extra: true`); with --dry-run, show what would be written'
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -l follow -d 'Keep comparing until Ctrl-C: every `continuous.every`, re-check the rows changed since the watermark and the next slice of a rolling sweep; print a line (or JSON event) per pass and record the readings for parity gates'
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand reconcile" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -l listen -d 'Serve the page (/), its API (/api/v1/), /metrics and /healthz on this address' -r
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -l poll -d 'How often to look at the states and, on standby, at the lease' -r
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -l stale-after -d '/healthz fails when the loop, or a soak\'s gate evaluations, are this late' -r
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -l group -d 'Supervisors of the same group share one lease: one of them is active' -r
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -l advance -d 'Also complete soaks and run the following steps, as `advance --wait --all` does (stopping at approvals); by default only the gates of running soaks are watched'
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand supervise" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand schema" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand schema" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand schema" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand schema" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand schema" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand schema" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand schema" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand schema" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand schema" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand schema" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand completions" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand completions" -l state-url -d 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)' -r
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand completions" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "demo" -d 'Watch a live migration: a payments API moved to its replacement in under a minute, a rollback on the way'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "validate" -d 'Check the plan: every problem, with its line and column (exit 0 or 2)'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "plan" -d 'The steps, where the migration stands and what the next advance changes (--offline: the file alone)'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "advance" -d 'Run steps: until the end, a soak, an approval, or the limit given'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "rollback" -d 'Put every changed target back (or to its value after a step)'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "status" -d 'Where the migration stands: position, soak time left, gates, drift'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "history" -d 'The journal: every change, who made it, before and after'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "pause" -d 'Hold automatic progress (a running `advance --wait` stops)'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "resume" -d 'Release a pause'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "retry" -d 'After a rollback, start again at the phase that failed'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "check" -d 'Evaluate gates now and change nothing (exit 7 when one fails)'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "unlock" -d 'Show who holds the migration\'s lock; clear a stale one'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "state" -d 'Look after the state itself'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "reconcile" -d 'Compare a reconciliation\'s tables exactly; with --repair, backfill the target (exit 0 when equal or repaired to parity 1, 7 when different)'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "supervise" -d 'Run as a service: watch every active migration\'s soak, evaluate its gates on their intervals and trip the breaker on a breach (several replicas: one active, by a lease)'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "schema" -d 'Print the JSON Schema of the plan, for editors'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "completions" -d 'Print shell completions'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from demo validate plan advance rollback status history pause resume retry check unlock state reconcile supervise schema completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c migrate -n "__fish_migrate_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "rebuild" -d 'Recover the state from what can be read: a damaged state.json from the journal, a lost journal from state.json, the valid records around damaged lines'
complete -c migrate -n "__fish_migrate_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "push" -d 'Copy the migration\'s local state (journal and checkpoint) into PostgreSQL'
complete -c migrate -n "__fish_migrate_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "pull" -d 'Copy the migration\'s state from PostgreSQL into the local state directory'
