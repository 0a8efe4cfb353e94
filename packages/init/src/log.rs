//! init's own lines and the echo of services' lines, on the console, through `oxwrt_log`:
//! a console that fails (EIO, EBADF) or is full never stops PID 1 nor panics it (a panic in
//! PID 1 is a kernel panic); such lines are counted (`service status` shows the counts).
//! A console that goes away is not a failure for /dev/console's files: Linux keeps them
//! writable and discards (docs/device.md "The console"; xtask/tests/system.rs boots a guest
//! whose console is unplugged). The applets (`logread`, `service`, ...) write their errors to standard
//! error the same way.

use oxwrt_log::{Logger, Sink};
use std::os::fd::IntoRawFd;
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

/// A service's line without the service's own `NAME: ` (the log ring records the source):
/// `netd: created bridge br-lan` from netd -> `created bridge br-lan`.
pub fn untag<'a>(name: &str, line: &'a str) -> &'a str {
    line.strip_prefix(name).and_then(|rest| rest.strip_prefix(": ")).unwrap_or(line)
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
