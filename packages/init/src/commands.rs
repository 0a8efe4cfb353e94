//! The device's commands, applets of the init binary (by argv[0] or `init <command>`):
//! `logread [-f]`, `reboot`, `poweroff`, `service [status|start|stop|restart NAME]`.

use crate::control::{self, Request};
use std::io::Write;

pub const HELP: &str = "\
commands:
  logread [-f]                  the log ring: kernel, init and services (-f: follow)
  service [status]              every service: state, pid, uptime, restarts, last exit
  service start|stop|restart NAME
  reboot [-f]                   stop services, unmount cleanly, reboot (-f: immediately)
  poweroff [-f]                 the same, then power off";

/// Runs an applet; returns the exit status. None: `name` is not one.
pub fn run(name: &str, args: &[String], out: &mut dyn Write) -> Option<i32> {
    let result = match name {
        "logread" => match args {
            [] => control::call(&Request::Log, out),
            [f] if f == "-f" => control::call(&Request::LogFollow, out),
            _ => Err("usage: logread [-f]".into()),
        },
        "service" => service(args, out),
        "reboot" | "poweroff" | "halt" => {
            let reboot = name == "reboot";
            if args.iter().any(|a| a == "-f") {
                nix::unistd::sync();
                let mode = if reboot { nix::sys::reboot::RebootMode::RB_AUTOBOOT } else { nix::sys::reboot::RebootMode::RB_POWER_OFF };
                match nix::sys::reboot::reboot(mode) {
                    Ok(never) => match never {},
                    Err(e) => Err(format!("reboot(2): {e}")),
                }
            } else {
                control::call(if reboot { &Request::Reboot } else { &Request::Poweroff }, out).or_else(|e| {
                    // init's socket is gone (e.g. /run unmounted): signal it instead.
                    let sig = if reboot { nix::sys::signal::Signal::SIGTERM } else { nix::sys::signal::Signal::SIGUSR2 };
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(1), sig).map_err(|k| format!("{e}; signalling init failed too: {k}"))
                })
            }
        }
        _ => return None,
    };
    Some(match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = out.flush();
            crate::log::stderr(format_args!("{name}: {e}"));
            1
        }
    })
}

fn service(args: &[String], out: &mut dyn Write) -> Result<(), String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let req = match args.as_slice() {
        [] | ["status"] => Request::Status,
        ["start", n] => Request::Start(n.to_string()),
        ["stop", n] => Request::Stop(n.to_string()),
        ["restart", n] => Request::Restart(n.to_string()),
        _ => return Err("usage: service [status] | service start|stop|restart NAME".into()),
    };
    control::call(&req, out)
}
