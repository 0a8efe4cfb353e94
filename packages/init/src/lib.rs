//! oxwrt's init: PID 1 and the device's commands. Its applets (package.toml) all enter at
//! [`main`], which picks the command by the name it was started as.
//!
//! As PID 1 (`/sbin/init`): mounts /proc, /sys, /dev, puts an overlay over the read-only
//! squashfs root (writable layer on the board's data partition, tmpfs when there is none),
//! mounts /tmp and /run, sets the hostname, brings up `lo`, then supervises the services of
//! `/lib/oxwrt/init.toml` ([`oxwrt_config::init`]): dependency order, restart with backoff, reaping,
//! a log ring of their output and kernel messages, a control socket, clean shutdown.
//! It prints `oxwrt: ready` on the console once every service has started.
//!
//! Linked under other names (symlinks in /sbin) it is `logread`, `reboot`, `poweroff`,
//! `service` ([`commands`]) and `oxsh`, the console shell ([`shell`]).

pub mod commands;
pub mod control;
pub mod log;
pub mod logring;
pub mod mounts;
pub mod pid1;
pub mod privs;
pub mod shell;
pub mod supervisor;

use log::stderr;
use std::io::Write;

/// The entry of every init applet (`init`, `logread`, `reboot`, `poweroff`, `halt`,
/// `service`, `oxsh`): `args[0]` is the name it was started as (`init <command>` also
/// works); returns the exit status. As process 1 it runs the system and never returns.
pub fn main(args: Vec<String>) -> i32 {
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
                return 2;
            }
        },
        _ => (name.clone(), args.get(1..).unwrap_or_default()),
    };
    if applet == "oxsh" || applet == "sh" {
        return shell::main();
    }
    if applet == "--version" {
        return if writeln!(std::io::stdout().lock(), "oxwrt init {}", env!("CARGO_PKG_VERSION")).is_ok() { 0 } else { 1 };
    }
    match commands::run(&applet, rest, &mut std::io::stdout()) {
        Some(status) => status,
        None => {
            stderr(format_args!("init: unknown command `{applet}`\n{}\n  oxsh                          the console shell", commands::HELP));
            2
        }
    }
}
