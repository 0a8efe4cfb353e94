//! webd: see the library docs (src/lib.rs) for the CLI, the API and the design.

use std::io::Write;
use std::process::ExitCode;

use webd::cli::{self, Command};
use webd::server;

fn main() -> ExitCode {
    let cmd = match cli::parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            webd::log(format_args!("{e}\ntry 'webd --help'"));
            return ExitCode::from(2);
        }
    };
    let listen = match cmd {
        Command::Help => {
            let _ = std::io::stdout().write_all(cli::USAGE.as_bytes());
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            let _ = writeln!(std::io::stdout(), "webd {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Run { listen } => listen,
    };
    let bound = if listen.is_empty() { server::bind_default() } else { server::bind_all(&listen) };
    let listeners = match bound {
        Ok(l) => l,
        Err(e) => {
            webd::log(format_args!("{e}"));
            return ExitCode::FAILURE;
        }
    };
    match server::serve(listeners) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            webd::log(format_args!("cannot serve: {}", server::describe(&e)));
            ExitCode::FAILURE
        }
    }
}
