//! The daemon: reads /etc/oxwrt/vpn.toml, makes the interfaces' private keys when they are
//! missing, applies the configuration to the kernel ([`crate::wg`]), then waits in one
//! poll(2) for
//! - SIGHUP (re-apply), SIGTERM/SIGINT (exit; the tunnels stay up: a restart of vpnd
//!   does not drop sessions);
//! - vpn.toml replaced (inotify IN_MOVED_TO on /etc/oxwrt: `vpn add-peer`, the web
//!   interface, editors that save by rename);
//! - a client of the status socket (/run/vpnd/status.sock): it gets the status as JSON
//!   ([`crate::status`]) and the connection is closed;
//! - every 60 s: re-apply (resolves site-to-site endpoints again; sends nothing when the
//!   kernel already matches).
//!
//! An invalid vpn.toml is logged with every problem (file:line: key: what to do) and the
//! running configuration stays, in the kernel and here.

use crate::wg::{Applied, Kernel};
use crate::{keys, say};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use oxwrt_config::vpn::{Secret, Vpn, VPN_FILE};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the configuration is applied again without a reason.
pub const REAPPLY: Duration = Duration::from_secs(60);
/// Name of the status socket in the run directory.
pub const STATUS_SOCKET: &str = "status.sock";

/// Where vpnd reads and writes.
#[derive(Debug, Clone)]
pub struct Paths {
    /// /etc/oxwrt: vpn.toml.
    pub config_dir: PathBuf,
    /// /run/vpnd: the status socket.
    pub run_dir: PathBuf,
}

impl Paths {
    pub fn device() -> Paths {
        Paths { config_dir: PathBuf::from(oxwrt_config::DIR), run_dir: PathBuf::from("/run/vpnd") }
    }

    pub fn socket(&self) -> PathBuf {
        self.run_dir.join(STATUS_SOCKET)
    }
}

pub struct Daemon {
    paths: Paths,
    kernel: Kernel,
    /// The configuration applied (or being applied).
    vpn: Vpn,
    /// Why the last apply was not complete.
    problems: Vec<String>,
}

/// The private key of an interface, made when its file is missing.
fn private_key(file: &str) -> Result<Secret, String> {
    let (k, made) = keys::ensure_key_file(Path::new(file), None)?;
    if made {
        say!("made a new private key in {file} (public key {})", keys::public_of(&k));
    }
    Ok(k)
}

impl Daemon {
    /// Applies `vpn` to the kernel; every problem is logged and kept for the status.
    pub fn apply(&mut self) {
        let mut problems = Vec::new();
        for iface in &self.vpn.interfaces {
            let key = match private_key(&iface.key_file()) {
                Ok(k) => k,
                Err(e) => {
                    problems.push(format!("{}: {e}", iface.name));
                    continue;
                }
            };
            match self.kernel.apply(&self.vpn, iface, &key) {
                Ok(Applied { messages: 0, created: false, problems: p, .. }) => problems.extend(p),
                Ok(a) => {
                    say!("{}: {a}", iface.name);
                    problems.extend(a.problems.iter().map(|p| format!("{}: {p}", iface.name)));
                }
                Err(e) => problems.push(format!("{}: {e}", iface.name)),
            }
        }
        let names: Vec<&str> = self.vpn.interfaces.iter().map(|i| i.name.as_str()).collect();
        match self.kernel.remove_others(&names) {
            Ok(gone) => {
                for g in gone {
                    say!("{g}: removed (no longer in {VPN_FILE})");
                }
            }
            Err(e) => problems.push(e),
        }
        for p in &problems {
            if !self.problems.contains(p) {
                crate::log::LOG.error(format_args!("{p}"));
            }
        }
        self.problems = problems;
    }

    /// Reads vpn.toml again; applies it when valid.
    pub fn reload(&mut self) {
        match Vpn::load(&self.paths.config_dir) {
            Ok(v) => {
                self.vpn = v;
                self.apply();
            }
            Err(e) => {
                crate::log::LOG.error(format_args!("{}: {e}", self.paths.config_dir.join(VPN_FILE).display()));
                say!("the running configuration stays");
            }
        }
    }

    /// The status now.
    pub fn status(&mut self) -> crate::status::Status {
        let mut devices = Vec::new();
        let mut problems = self.problems.clone();
        for i in &self.vpn.interfaces {
            match self.kernel.device(&i.name) {
                Ok(d) => devices.push(d),
                Err(e) => {
                    problems.push(e);
                    devices.push(None);
                }
            }
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        crate::status::build(&self.vpn, &devices, now, problems)
    }
}

/// 2025-01-01T00:00:00Z: no oxwrt build is older, so a clock before it has not been set.
const CLOCK_FLOOR: u64 = 1_735_689_600;

/// Says so when the clock has not been set (boards without a real-time clock boot in 1970
/// until timed sets it) and the router is to start handshakes (a peer with an endpoint):
/// WireGuard handshake initiations carry a timestamp, and a peer that saw a later one from
/// this router ignores them. Phones calling in are answered either way.
fn clock_check(vpn: &Vpn) {
    if !vpn.peers.iter().any(|p| p.enabled && p.endpoint.is_some()) {
        return;
    }
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if now >= CLOCK_FLOOR {
        if WARNED.swap(false, Ordering::Relaxed) {
            say!("the clock is set now");
        }
    } else if !WARNED.swap(true, Ordering::Relaxed) {
        crate::log::LOG.warn(format_args!(
            "the clock is not set (it says {now} s after 1970): handshakes this router starts towards sites that saw it before are ignored until it is (timed, docs/time.md); phones calling in work"
        ));
    }
}

fn listen(path: &Path) -> Result<UnixListener, String> {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    // Read-only status without secrets: anyone on the router may ask (the web interface
    // runs as its own user).
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666));
    l.set_nonblocking(true).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(l)
}

/// The daemon's main. Returns the exit status.
pub fn run(paths: Paths) -> i32 {
    let mut mask = SigSet::empty();
    for s in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT, Signal::SIGPIPE] {
        mask.add(s);
    }
    if let Err(e) = mask.thread_block() {
        crate::log::LOG.error(format_args!("cannot block signals: {e}"));
        return 1;
    }
    let signals = match SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
        Ok(s) => s,
        Err(e) => {
            crate::log::LOG.error(format_args!("cannot open a signalfd: {e}"));
            return 1;
        }
    };
    let kernel = match Kernel::open() {
        Ok(k) => k,
        Err(e) => {
            crate::log::LOG.error(format_args!("{e}"));
            return 1;
        }
    };
    let vpn = match Vpn::load(&paths.config_dir) {
        Ok(v) => v,
        Err(e) => {
            crate::log::LOG.error(format_args!("{}: {e}", paths.config_dir.join(VPN_FILE).display()));
            say!("starting without VPN interfaces; fix the file and it is applied when saved");
            Vpn::default()
        }
    };
    let listener = match listen(&paths.socket()) {
        Ok(l) => Some(l),
        Err(e) => {
            crate::log::LOG.error(format_args!("{e}; `vpn status` will not work"));
            None
        }
    };
    let watch = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok().filter(|w| {
        // Whole-file replacements only: a file written line by line would be read half-done.
        w.add_watch(&paths.config_dir, AddWatchFlags::IN_MOVED_TO)
            .map_err(|e| say!("not watching {} ({e}): reload with SIGHUP", paths.config_dir.display()))
            .is_ok()
    });
    let mut d = Daemon { paths, kernel, vpn, problems: Vec::new() };
    clock_check(&d.vpn);
    d.apply();
    say!("running: {} interfaces, {} peers", d.vpn.interfaces.len(), d.vpn.peers.len());
    let mut next_apply = Instant::now() + REAPPLY;
    loop {
        let wait = next_apply.saturating_duration_since(Instant::now());
        let timeout = PollTimeout::try_from(wait.as_millis().min(60_000) as i32 + 1).unwrap_or(PollTimeout::MAX);
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if let Some(w) = &watch {
            fds.push(PollFd::new(w.as_fd(), PollFlags::POLLIN));
        }
        if let Some(l) = &listener {
            fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                say!("poll: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(info)) = signals.read_signal() {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGHUP) => {
                        say!("SIGHUP: applying {VPN_FILE} again");
                        d.reload();
                    }
                    Ok(Signal::SIGTERM | Signal::SIGINT) => {
                        say!("stopping (the tunnels stay up)");
                        return 0;
                    }
                    _ => {}
                }
            }
        }
        let mut i = 1;
        if let Some(w) = &watch {
            if ready.get(i) == Some(&true) {
                let ours = w.read_events().map(|ev| ev.iter().any(|e| e.name.as_ref().and_then(|n| n.to_str()) == Some(VPN_FILE))).unwrap_or(false);
                if ours {
                    say!("{VPN_FILE} changed: applying it");
                    d.reload();
                }
            }
            i += 1;
        }
        if let Some(l) = &listener {
            if ready.get(i) == Some(&true) {
                serve(&mut d, l);
            }
        }
        if Instant::now() >= next_apply {
            clock_check(&d.vpn);
            d.apply();
            next_apply = Instant::now() + REAPPLY;
        }
    }
}

/// Answers the waiting status clients (each: the JSON, then closed). A client that does
/// not read is given 1 s.
fn serve(d: &mut Daemon, l: &UnixListener) {
    for _ in 0..16 {
        let Ok((mut s, _)) = l.accept() else { return };
        let _ = s.set_nonblocking(false);
        let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
        let json = serde_json::to_string(&d.status()).unwrap_or_else(|e| format!("{{\"problems\":[\"status: {e}\"],\"interfaces\":[]}}"));
        let _ = s.write_all(json.as_bytes());
        let _ = s.write_all(b"\n");
    }
}
