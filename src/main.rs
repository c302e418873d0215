use std::process;

use clap::Parser as _;

use migrate::cli::Cli;
use migrate::error::{exit_code_of, Error};

fn main() {
    let cli = Cli::parse();
    let code = match migrate::commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            let reported = err
                .chain()
                .find_map(|e| e.downcast_ref::<Error>())
                .is_some_and(Error::already_reported);
            if !reported {
                let mut text = format!("error: {err}");
                for cause in err.chain().skip(1) {
                    text.push_str(&format!("\n  caused by: {cause}"));
                }
                anstream::eprintln!("{text}");
            }
            exit_code_of(&err)
        }
    };
    process::exit(code.code());
}
