
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'migrate' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'migrate'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'migrate' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Watch a live migration: a payments API moved to its replacement in under a minute, a rollback on the way')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check the plan: every problem, with its line and column (exit 0 or 2)')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'The steps, where the migration stands and what the next advance changes (--offline: the file alone)')
            [CompletionResult]::new('advance', 'advance', [CompletionResultType]::ParameterValue, 'Run steps: until the end, a soak, an approval, or the limit given')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Put every changed target back (or to its value after a step)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Where the migration stands: position, soak time left, gates, drift')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'The journal: every change, who made it, before and after')
            [CompletionResult]::new('pause', 'pause', [CompletionResultType]::ParameterValue, 'Hold automatic progress (a running `advance --wait` stops)')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Release a pause')
            [CompletionResult]::new('retry', 'retry', [CompletionResultType]::ParameterValue, 'After a rollback, start again at the phase that failed')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Evaluate gates now and change nothing (exit 7 when one fails)')
            [CompletionResult]::new('unlock', 'unlock', [CompletionResultType]::ParameterValue, 'Show who holds the migration''s lock; clear a stale one')
            [CompletionResult]::new('state', 'state', [CompletionResultType]::ParameterValue, 'Look after the state itself')
            [CompletionResult]::new('reconcile', 'reconcile', [CompletionResultType]::ParameterValue, 'Compare a reconciliation''s tables exactly; with --repair, backfill the target (exit 0 when equal or repaired to parity 1, 7 when different)')
            [CompletionResult]::new('supervise', 'supervise', [CompletionResultType]::ParameterValue, 'Run as a service: watch every active migration''s soak, evaluate its gates on their intervals and trip the breaker on a breach (several replicas: one active, by a lease)')
            [CompletionResult]::new('schema', 'schema', [CompletionResultType]::ParameterValue, 'Print the JSON Schema of the plan, for editors')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'migrate;demo' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'Leave the system running at the end (until Ctrl-C), to explore it with status, history and rollback')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;validate' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;plan' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'Show the plan from the file alone, without contacting any provider')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'migrate;advance' {
            [CompletionResult]::new('--steps', '--steps', [CompletionResultType]::ParameterName, 'Run at most N steps')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Run up to and including step ID')
            [CompletionResult]::new('--approve', '--approve', [CompletionResultType]::ParameterName, 'Approve the approval step ID (repeatable)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Run every step that can run (the default)')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Wait through soaks instead of exiting 4 while one runs')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Carry on even though live values differ from the state (drift)')
            [CompletionResult]::new('--adopt-gates', '--adopt-gates', [CompletionResultType]::ParameterName, 'Guard the soak in progress by the plan''s gates as they are now, where they changed since it started (without it, a changed gate applies from the next soak)')
            [CompletionResult]::new('--accept-baseline', '--accept-baseline', [CompletionResultType]::ParameterName, 'Take a target''s first baseline even though the candidate already has a share, or another migration of the same state drives it (journaled; rollback restores that value)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;rollback' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Restore the values as they were after step ID, instead of the baselines')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why, for the journal')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Roll back past irreversible steps (with --legacy: also send the targets of keep_on_rollback steps)')
            [CompletionResult]::new('--legacy', '--legacy', [CompletionResultType]::ParameterName, 'Send every target of the plan to its legacy side (traffic and mirror 0%, flags off), whatever the state knows: when the state is lost or knows nothing of the changes. Targets of keep_on_rollback steps are left as they are unless --force')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'migrate;status' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Refresh every second until interrupted')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'migrate;history' {
            [CompletionResult]::new('--last', '--last', [CompletionResultType]::ParameterName, 'Show only the last N records')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--gates', '--gates', [CompletionResultType]::ParameterName, 'Include every gate reading (by default only breaches are shown)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;pause' {
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why, for the journal and for whoever looks at `status`')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;resume' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;retry' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;check' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;unlock' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Break the lock even though its holder is alive')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;state' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('rebuild', 'rebuild', [CompletionResultType]::ParameterValue, 'Recover the state from what can be read: a damaged state.json from the journal, a lost journal from state.json, the valid records around damaged lines')
            [CompletionResult]::new('push', 'push', [CompletionResultType]::ParameterValue, 'Copy the migration''s local state (journal and checkpoint) into PostgreSQL')
            [CompletionResult]::new('pull', 'pull', [CompletionResultType]::ParameterValue, 'Copy the migration''s state from PostgreSQL into the local state directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'migrate;state;rebuild' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;state;push' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'The local state directory (default: settings.state.dir, else .migrate next to the plan)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace the migration if it already exists at the destination')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;state;pull' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'The local state directory (default: settings.state.dir, else .migrate next to the plan)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace the migration if it already exists at the destination')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;state;help' {
            [CompletionResult]::new('rebuild', 'rebuild', [CompletionResultType]::ParameterValue, 'Recover the state from what can be read: a damaged state.json from the journal, a lost journal from state.json, the valid records around damaged lines')
            [CompletionResult]::new('push', 'push', [CompletionResultType]::ParameterValue, 'Copy the migration''s local state (journal and checkpoint) into PostgreSQL')
            [CompletionResult]::new('pull', 'pull', [CompletionResultType]::ParameterValue, 'Copy the migration''s state from PostgreSQL into the local state directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'migrate;state;help;rebuild' {
            break
        }
        'migrate;state;help;push' {
            break
        }
        'migrate;state;help;pull' {
            break
        }
        'migrate;state;help;help' {
            break
        }
        'migrate;reconcile' {
            [CompletionResult]::new('--report', '--report', [CompletionResultType]::ParameterName, 'Write one JSON line per differing row to FILE')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--repair', '--repair', [CompletionResultType]::ParameterName, 'Write missing and different rows into the target (and delete extra rows when the reconciliation has `delete_extra: true`); with --dry-run, show what would be written')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep comparing until Ctrl-C: every `continuous.every`, re-check the rows changed since the watermark and the next slice of a rolling sweep; print a line (or JSON event) per pass and record the readings for parity gates')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;supervise' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Serve the page (/), its API (/api/v1/), /metrics and /healthz on this address')
            [CompletionResult]::new('--poll', '--poll', [CompletionResultType]::ParameterName, 'How often to look at the states and, on standby, at the lease')
            [CompletionResult]::new('--stale-after', '--stale-after', [CompletionResultType]::ParameterName, '/healthz fails when the loop, or a soak''s gate evaluations, are this late')
            [CompletionResult]::new('--group', '--group', [CompletionResultType]::ParameterName, 'Supervisors of the same group share one lease: one of them is active')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--advance', '--advance', [CompletionResultType]::ParameterName, 'Also complete soaks and run the following steps, as `advance --wait --all` does (stopping at approvals); by default only the gates of running soaks are watched')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;schema' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;completions' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The plan file')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where the migration''s state lives (default: .migrate next to the plan)')
            [CompletionResult]::new('--state-url', '--state-url', [CompletionResultType]::ParameterName, 'Keep the state in PostgreSQL at this postgres:// URL (overrides settings.state)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human (tables, on stderr what is not data) or json')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change, change nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (needed without a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more detail (repeat for more)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never use colors (NO_COLOR is honoured too)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'migrate;help' {
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Watch a live migration: a payments API moved to its replacement in under a minute, a rollback on the way')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check the plan: every problem, with its line and column (exit 0 or 2)')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'The steps, where the migration stands and what the next advance changes (--offline: the file alone)')
            [CompletionResult]::new('advance', 'advance', [CompletionResultType]::ParameterValue, 'Run steps: until the end, a soak, an approval, or the limit given')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Put every changed target back (or to its value after a step)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Where the migration stands: position, soak time left, gates, drift')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'The journal: every change, who made it, before and after')
            [CompletionResult]::new('pause', 'pause', [CompletionResultType]::ParameterValue, 'Hold automatic progress (a running `advance --wait` stops)')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Release a pause')
            [CompletionResult]::new('retry', 'retry', [CompletionResultType]::ParameterValue, 'After a rollback, start again at the phase that failed')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Evaluate gates now and change nothing (exit 7 when one fails)')
            [CompletionResult]::new('unlock', 'unlock', [CompletionResultType]::ParameterValue, 'Show who holds the migration''s lock; clear a stale one')
            [CompletionResult]::new('state', 'state', [CompletionResultType]::ParameterValue, 'Look after the state itself')
            [CompletionResult]::new('reconcile', 'reconcile', [CompletionResultType]::ParameterValue, 'Compare a reconciliation''s tables exactly; with --repair, backfill the target (exit 0 when equal or repaired to parity 1, 7 when different)')
            [CompletionResult]::new('supervise', 'supervise', [CompletionResultType]::ParameterValue, 'Run as a service: watch every active migration''s soak, evaluate its gates on their intervals and trip the breaker on a breach (several replicas: one active, by a lease)')
            [CompletionResult]::new('schema', 'schema', [CompletionResultType]::ParameterValue, 'Print the JSON Schema of the plan, for editors')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'migrate;help;demo' {
            break
        }
        'migrate;help;validate' {
            break
        }
        'migrate;help;plan' {
            break
        }
        'migrate;help;advance' {
            break
        }
        'migrate;help;rollback' {
            break
        }
        'migrate;help;status' {
            break
        }
        'migrate;help;history' {
            break
        }
        'migrate;help;pause' {
            break
        }
        'migrate;help;resume' {
            break
        }
        'migrate;help;retry' {
            break
        }
        'migrate;help;check' {
            break
        }
        'migrate;help;unlock' {
            break
        }
        'migrate;help;state' {
            [CompletionResult]::new('rebuild', 'rebuild', [CompletionResultType]::ParameterValue, 'Recover the state from what can be read: a damaged state.json from the journal, a lost journal from state.json, the valid records around damaged lines')
            [CompletionResult]::new('push', 'push', [CompletionResultType]::ParameterValue, 'Copy the migration''s local state (journal and checkpoint) into PostgreSQL')
            [CompletionResult]::new('pull', 'pull', [CompletionResultType]::ParameterValue, 'Copy the migration''s state from PostgreSQL into the local state directory')
            break
        }
        'migrate;help;state;rebuild' {
            break
        }
        'migrate;help;state;push' {
            break
        }
        'migrate;help;state;pull' {
            break
        }
        'migrate;help;reconcile' {
            break
        }
        'migrate;help;supervise' {
            break
        }
        'migrate;help;schema' {
            break
        }
        'migrate;help;completions' {
            break
        }
        'migrate;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
