# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_migrate_global_optspecs
    string join \n f/file= state-dir= o/output= dry-run y/yes q/quiet v/verbose no-color h/help V/version
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
complete -c migrate -n "__fish_migrate_needs_command" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_needs_command" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_needs_command" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_needs_command" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_needs_command" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_needs_command" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c migrate -n "__fish_migrate_needs_command" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "validate" -d 'Check the plan: every problem, with its line and column (exit 0 or 2)'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "plan" -d 'Show the steps of the plan, what each does, and how long it takes at least'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "schema" -d 'Print the JSON Schema of the plan, for editors'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand validate" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
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
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand plan" -l offline -d 'Show the plan from the file alone, without contacting any provider'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand schema" -s f -l file -d 'The plan file' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand schema" -l state-dir -d 'Where the migration\'s state lives (default: .migrate next to the plan)' -r -F
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
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s o -l output -d 'Output format: human (tables, on stderr what is not data) or json' -r -f -a "human\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand completions" -l dry-run -d 'Show what would change, change nothing'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s y -l yes -d 'Answer yes to confirmations (needed without a terminal)'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s v -l verbose -d 'Print more detail (repeat for more)'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -l no-color -d 'Never use colors (NO_COLOR is honoured too)'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from validate plan schema completions help" -f -a "validate" -d 'Check the plan: every problem, with its line and column (exit 0 or 2)'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from validate plan schema completions help" -f -a "plan" -d 'Show the steps of the plan, what each does, and how long it takes at least'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from validate plan schema completions help" -f -a "schema" -d 'Print the JSON Schema of the plan, for editors'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from validate plan schema completions help" -f -a "completions" -d 'Print shell completions'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from validate plan schema completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
