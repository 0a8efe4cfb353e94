//! init's own lines and the echo of services' warnings and errors ([`to_console`]), on the console, through `oxwrt_log`:
//! a console that fails (EIO, EBADF) or is full never stops PID 1 nor panics it (a panic in
//! PID 1 is a kernel panic); such lines are counted (`service status` shows the counts).
//! A console that goes away is not a failure for /dev/console's files: Linux keeps them
//! writable and discards (docs/device.md "The console"; xtask/tests/system.rs boots a guest
//! whose console is unplugged). The applets (`logread`, `service`, ...) write their errors to standard
//! error the same way.

use oxwrt_log::{Logger, Sink};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::fs::OpenOptionsExt;

/// Where init's lines go: standard output at first, the console of [`open_console`] once
/// PID 1 has opened it.
pub static CONSOLE: Sink = Sink::new(1);

/// `init: ...` on the console.
pub static LOG: Logger = Logger::new("init", &CONSOLE);

/// PID 1: a console fd of init's own, `O_NONBLOCK` so a write never waits (a blocking
/// console would stall the loop when it is flow-controlled or stuck); the kernel's fds 0-2
/// stay as they are. Without /dev/console, standard output becomes non-blocking instead
/// (nothing else shares it: services get pipes, /dev/null or a console opened for them).
pub fn open_console() {
    match std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC).open("/dev/console") {
        Ok(f) => CONSOLE.set_fd(f.into_raw_fd()),
        // SAFETY: fcntl on fd 1, which is ours.
        Err(_) => unsafe {
            let flags = libc::fcntl(1, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(1, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        },
    }
}

/// PID 1, about to start a console service: opens /dev/console again and puts it in place of
/// init's console fd (same fd number, dup2), so init's lines follow the console the new
/// shell gets. The kernel resolves /dev/console at each open to the last `console=` whose
/// device still exists: after a console went away (a hot-unplugged virtio console, a USB
/// serial adapter) init's old fd writes into nothing, and this moves it to the one left.
/// Nothing changes when /dev/console cannot be opened.
pub fn reopen_console() {
    let Ok(f) = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC).open("/dev/console") else {
        return;
    };
    let old = CONSOLE.fd();
    if old <= 2 {
        // Still on standard output (no console at boot): start using the new fd.
        CONSOLE.set_fd(f.into_raw_fd());
        return;
    }
    // SAFETY: dup3 onto init's own console fd, which only this process's single thread
    // writes; the new fd's flags (O_NONBLOCK) come along, O_CLOEXEC is set again.
    unsafe {
        libc::dup3(f.as_raw_fd(), old, libc::O_CLOEXEC);
    }
}

/// A service's line without the service's own `NAME: ` (the log ring records the source):
/// `netd: created bridge br-lan` from netd -> `created bridge br-lan`.
pub fn untag<'a>(name: &str, line: &'a str) -> &'a str {
    line.strip_prefix(name).and_then(|rest| rest.strip_prefix(": ")).unwrap_or(line)
}

/// Whether a service's line (without its tag, as [`untag`] leaves it) is echoed on the
/// console: only warnings and errors (the `oxwrt_log` markers, [`oxwrt_log::Level::of`]).
/// Every line goes to the log ring (`logread`) whatever this says. Informational lines stay
/// off the console because untrusted packets can cause them (a lease, a DNS failure) and a
/// 115200-baud console takes about 11 KiB/s: a flood would fill it and drop the lines that
/// matter. init's own lines (mounts, a service started, exited, restarted, `oxwrt: ready`,
/// shutdown) always go to the console: there are few and each is a lifecycle event.
pub fn to_console(line: &str) -> bool {
    oxwrt_log::Level::of(line) <= oxwrt_log::Level::Warn
}

/// A line on standard error for the applets: never a panic, whatever stderr is.
pub fn stderr(text: std::fmt::Arguments<'_>) {
    oxwrt_log::STDERR.text(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untags_only_the_services_own_tag() {
        assert_eq!(untag("netd", "netd: running"), "running");
        assert_eq!(untag("netd", "netd: WARNING: x"), "WARNING: x");
        assert_eq!(untag("netd", "netdx: running"), "netdx: running");
        assert_eq!(untag("webd", "listening"), "listening");
        assert_eq!(untag("webd", "webd:"), "webd:");
    }

    #[test]
    fn only_warnings_and_errors_of_services_reach_the_console() {
        for (line, console) in [
            ("ERROR: cannot open /etc/oxwrt/network.toml: No such file or directory", true),
            ("WARNING: 12 log lines dropped (output blocked)", true),
            ("running", false),
            ("wan: lease 10.0.2.15 from 10.0.2.2 (86400 s)", false),
            ("dhcp: lease 192.168.1.100 to 52:54:00:12:34:56 (laptop)", false),
            // A marker not at the start is text, not a level.
            ("dns: ERROR: from the network", false),
            ("", false),
        ] {
            assert_eq!(to_console(line), console, "{line:?}");
        }
        // The routing of a service's raw line, as read_output does it: the ring gets all.
        let raw = "netd: WARNING: x";
        assert!(to_console(untag("netd", raw)));
        assert!(!to_console(untag("netd", "netd: created bridge br-lan")));
    }

    #[test]
    fn a_console_nobody_reads_is_counted_not_a_panic() {
        use std::os::fd::AsRawFd;
        // The only test that touches CONSOLE.
        let (r, w) = nix::unistd::pipe().unwrap();
        drop(r);
        CONSOLE.set_fd(w.as_raw_fd());
        for i in 0..3 {
            LOG.error(format_args!("nobody reads line {i}"));
        }
        assert_eq!(CONSOLE.failed(), 3);
        CONSOLE.set_fd(-1);
        LOG.info(format_args!("no console at all"));
        assert_eq!(CONSOLE.failed(), 4);
    }
}
