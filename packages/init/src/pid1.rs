//! The boot sequence of PID 1: mounts, overlay root, hostname, loopback, then the
//! supervisor's loop (see `supervisor`).

use crate::log::{self as initlog, LOG};
use crate::logring::Entry;
use crate::mounts;
use crate::supervisor::{handled_signals, uptime_ms, Supervisor};
use nix::sys::reboot::set_cad_enabled;
use nix::sys::signal::{sigprocmask, SigmaskHow};
use oxwrt_config::init::{self as config, InitConfig};
use std::fs;

pub fn main() -> ! {
    // First a console that cannot stall or panic PID 1.
    initlog::open_console();
    let mut early: Vec<Entry> = Vec::new();
    let mut say = |line: String| {
        LOG.info(format_args!("{line}"));
        early.push(Entry { uptime_ms: uptime_ms(), source: "init".into(), line });
    };
    say(format!("oxwrt init {} starting", env!("CARGO_PKG_VERSION")));
    // Signals first: a child dying before the loop runs must still be seen.
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&handled_signals()), None);
    // Ctrl-Alt-Del sends SIGINT to init (a clean reboot) instead of an instant reset.
    let _ = set_cad_enabled(false);
    mounts::early(&mut say);
    let cfg = match fs::read_to_string(config::PATH) {
        Ok(text) => InitConfig::parse(&text).unwrap_or_else(|e| {
            say(format!("{}: {e}; starting no services", config::PATH));
            InitConfig::default()
        }),
        Err(e) => {
            say(format!("cannot read {}: {e}; starting no services", config::PATH));
            InitConfig::default()
        }
    };
    mounts::overlay_root(cfg.data.as_ref(), &mut say);
    mounts::late(&mut say);
    // A configuration change still waiting for its confirmation when the power went (or
    // the system crashed): the previous files come back before any service reads them.
    match oxwrt_config::rollback::revert(std::path::Path::new(oxwrt_config::DIR)) {
        Ok(names) if !names.is_empty() => say(format!("unconfirmed configuration change rolled back: {} restored", names.join(", "))),
        Ok(_) => {}
        Err(e) => say(format!("WARNING: cannot roll back the unconfirmed change in /etc/oxwrt/.rollback: {e}")),
    }
    // The web UI's (/etc/oxwrt/hostname, if valid), else the image's, else "oxwrt".
    let read = |p: &str| fs::read_to_string(p).ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty());
    let set = read(&format!("{}/{}", oxwrt_config::DIR, oxwrt_config::HOSTNAME_FILE)).filter(|h| oxwrt_config::check_hostname(h).is_ok());
    let hostname = set.or_else(|| read("/etc/hostname")).unwrap_or_else(|| "oxwrt".into());
    if let Err(e) = nix::unistd::sethostname(&hostname) {
        say(format!("cannot set hostname {hostname}: {e}"));
    }
    if let Err(e) = loopback_up() {
        say(format!("cannot bring up lo: {e}"));
    }
    match Supervisor::new(cfg, early) {
        Ok(sup) => sup.run(),
        Err(e) => {
            LOG.error(format_args!("{e}; no services started"));
            match Supervisor::new(InitConfig::default(), Vec::new()) {
                Ok(sup) => sup.run(),
                Err(e) => reap_forever(&e),
            }
        }
    }
}

/// The last resort when even an empty supervisor cannot run (no signalfd): PID 1 must not
/// exit (that is a kernel panic), so it stays and reaps orphans.
fn reap_forever(why: &str) -> ! {
    LOG.error(format_args!("cannot supervise: {why}; only reaping orphans from now on"));
    loop {
        if nix::sys::wait::wait().is_err() {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}

/// `ip link set lo up`, with the one ioctl it takes.
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: plain socket + ioctl on a zeroed ifreq naming "lo"; the fd is closed below.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        let mut r = libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut ifr);
        if r == 0 {
            ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            r = libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &ifr);
        }
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if r == 0 {
            Ok(())
        } else {
            Err(err)
        }
    }
}
