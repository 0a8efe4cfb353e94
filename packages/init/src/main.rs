//! Entry point: picks the applet by the name the binary was run as (`init <applet>` also
//! works), see the crate docs in lib.rs.

use oxinit::log::stderr;
use oxinit::{commands, pid1, shell};
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).unwrap_or_default();
    if std::process::id() == 1 {
        pid1::main();
    }
    let (applet, rest) = match name.as_str() {
        "init" => match args.get(1) {
            Some(a) => (a.clone(), args.get(2..).unwrap_or_default()),
            None => {
                stderr(format_args!(
                    "init: not PID 1 (this is process {}); init runs the system only when the kernel starts it.\n{}",
                    std::process::id(),
                    commands::HELP
                ));
                std::process::exit(2);
            }
        },
        _ => (name.clone(), args.get(1..).unwrap_or_default()),
    };
    if applet == "oxsh" || applet == "sh" {
        std::process::exit(shell::main());
    }
    if applet == "--version" {
        let ok = writeln!(std::io::stdout().lock(), "oxwrt init {}", env!("CARGO_PKG_VERSION")).is_ok();
        std::process::exit(if ok { 0 } else { 1 });
    }
    match commands::run(&applet, rest, &mut std::io::stdout()) {
        Some(status) => std::process::exit(status),
        None => {
            stderr(format_args!("init: unknown command `{applet}`\n{}\n  oxsh                          the console shell", commands::HELP));
            std::process::exit(2);
        }
    }
}
