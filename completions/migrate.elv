
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
            cand validate 'Check the plan: every problem, with its line and column (exit 0 or 2)'
            cand plan 'Show the steps of the plan, what each does, and how long it takes at least'
            cand schema 'Print the JSON Schema of the plan, for editors'
            cand completions 'Print shell completions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'migrate;validate'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
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
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'migrate;schema'= {
            cand -f 'The plan file'
            cand --file 'The plan file'
            cand --state-dir 'Where the migration''s state lives (default: .migrate next to the plan)'
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
            cand validate 'Check the plan: every problem, with its line and column (exit 0 or 2)'
            cand plan 'Show the steps of the plan, what each does, and how long it takes at least'
            cand schema 'Print the JSON Schema of the plan, for editors'
            cand completions 'Print shell completions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'migrate;help;validate'= {
        }
        &'migrate;help;plan'= {
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
