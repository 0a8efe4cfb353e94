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
        // A closed or failing stdout: exit status 1, not a panic.
        Command::Help => return exit(std::io::stdout().lock().write_all(cli::USAGE.as_bytes())),
        Command::Version => return exit(writeln!(std::io::stdout().lock(), "webd {}", env!("CARGO_PKG_VERSION"))),
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

fn exit(written: std::io::Result<()>) -> ExitCode {
    if written.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
