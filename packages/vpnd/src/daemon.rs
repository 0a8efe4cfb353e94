//! The daemon: reads /etc/oxwrt/vpn.toml, makes the interfaces' private keys when they are
//! missing, applies the configuration to the kernel ([`crate::wg`]), then waits in one
//! poll(2) for
//! - SIGHUP (re-apply), SIGTERM/SIGINT (exit; the tunnels stay up: a restart of vpnd
//!   does not drop sessions);
//! - vpn.toml replaced (inotify IN_MOVED_TO on /etc/oxwrt: `vpn add-peer`, the web
//!   interface, editors that save by rename);
//! - a client of the status socket (/run/vpnd/status.sock): it gets the status as JSON
//!   ([`crate::status`]) and the connection is closed;
//! - a client of the control socket (/run/vpnd/control.sock, group `config`: the web
//!   interface): one peer change ([`crate::control`]);
//! - every 60 s: re-apply (resolves site-to-site endpoints again; sends nothing when the
//!   kernel already matches);
//! - every 5 s until the clock is synced: /run/timed/synced ([`Clock`]).
//!
//! The clock: WireGuard's handshake initiation carries the initiator's time (TAI64N), and
//! a responder ignores an initiation whose time is not later than the last one it took
//! from that peer (the WireGuard paper, section 5.1, replay protection). vpnd starts at
//! once (timed keeps the clock at or past the image's build time, and phones calling in
//! are answered whatever the router's clock says), says in the log and the status while
//! timed has not confirmed the clock (/run/timed/synced), and says so again when it has.
//! A clock before the build time has not been set at all: then sites' endpoints are held
//! back (the router starts no handshakes that would carry that time; the sites can still
//! call in) until it is.
//!
//! An invalid vpn.toml is logged with every problem (file:line: key: what to do) and the
//! running configuration stays, in the kernel and here.

use crate::wg::{Applied, Kernel};
use crate::{keys, say};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oxwrt_config::vpn::{Secret, Vpn, VPN_FILE};
use oxwrt_log::control::Control;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the configuration is applied again without a reason.
pub const REAPPLY: Duration = Duration::from_secs(60);
/// How often the clock is looked at until it is synced.
pub const CLOCK_LOOK: Duration = Duration::from_secs(5);
/// Name of the status socket in the run directory.
pub const STATUS_SOCKET: &str = "status.sock";

/// Where vpnd reads and writes.
#[derive(Debug, Clone)]
pub struct Paths {
    /// /etc/oxwrt: vpn.toml.
    pub config_dir: PathBuf,
    /// /run/vpnd: the status socket.
    pub run_dir: PathBuf,
    /// /run/timed/synced: timed's "the clock is set from a server".
    pub synced: PathBuf,
}

impl Paths {
    pub fn device() -> Paths {
        Paths { config_dir: PathBuf::from(oxwrt_config::DIR), run_dir: PathBuf::from("/run/vpnd"), synced: PathBuf::from("/run/timed/synced") }
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
    /// The clock as last seen.
    clock: Clock,
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
        let held;
        let vpn = match self.clock {
            Clock::Unset { .. } => {
                held = hold_back_sites(&self.vpn);
                &held
            }
            _ => &self.vpn,
        };
        for iface in &vpn.interfaces {
            let key = match private_key(&iface.key_file()) {
                Ok(k) => k,
                Err(e) => {
                    problems.push(format!("{}: {e}", iface.name));
                    continue;
                }
            };
            match self.kernel.apply(vpn, iface, &key) {
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
        problems.extend(self.clock.note());
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

/// 2025-01-01T00:00:00Z: no oxwrt build is older (the floor of a build without
/// SOURCE_DATE_EPOCH).
const CLOCK_FLOOR: u64 = 1_735_689_600;

/// What vpnd knows about the clock (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clock {
    /// Before the image's build time: never set (timed has not run yet).
    Unset { now: u64, floor: u64 },
    /// At or past the build time, not yet confirmed by a time server.
    NotSynced,
    /// Set from a time server: timed's line in /run/timed/synced.
    Synced(String),
}

impl Clock {
    /// The clock at `now` (seconds since 1970), with the image's build time `build` and
    /// timed's /run/timed/synced line (None: no such file).
    pub fn judge(now: u64, build: u64, synced: Option<&str>) -> Clock {
        let floor = build.max(CLOCK_FLOOR);
        if now < floor {
            return Clock::Unset { now, floor };
        }
        match synced {
            Some(line) => Clock::Synced(line.trim().chars().take(200).collect()),
            None => Clock::NotSynced,
        }
    }

    /// The clock now, from the system and `synced` (the file).
    pub fn now(synced: &Path) -> Clock {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let line = std::fs::read_to_string(synced).ok();
        Clock::judge(now, oxwrt_log::build_time(), line.as_deref())
    }

    /// What an owner should know (status and log); None when the clock is synced.
    pub fn note(&self) -> Option<String> {
        match self {
            Clock::Unset { now, floor } => Some(format!(
                "the clock has not been set (it says {}, before this image was built, {}): the router starts no handshakes to sites until it is (timed, docs/time.md); phones and sites calling in are answered",
                oxwrt_log::format_utc(*now as i64),
                oxwrt_log::format_utc(*floor as i64)
            )),
            Clock::NotSynced => Some(
                "the clock has not been confirmed by a time server yet (no /run/timed/synced): after a power cut it runs behind, and a site that took a later handshake from this router ignores the router's handshakes until the clock passes that time (docs/vpn.md, \"The clock\"); phones calling in work".to_string(),
            ),
            Clock::Synced(_) => None,
        }
    }
}

/// `vpn` with every peer's endpoint removed: the kernel keeps the peers and answers them,
/// but starts no handshake (used while the clock is [`Clock::Unset`]).
pub fn hold_back_sites(vpn: &Vpn) -> Vpn {
    let mut v = vpn.clone();
    for p in &mut v.peers {
        p.endpoint = None;
    }
    v
}

impl Daemon {
    /// Looks at the clock again; logs a change; re-applies when the clock was unset and is
    /// not any more (the sites' endpoints go in).
    pub fn check_clock(&mut self) {
        let now = Clock::now(&self.paths.synced);
        if now == self.clock {
            return;
        }
        // The empty line is run()'s "not looked at yet", not a clock timed synced.
        let was_unset = matches!(self.clock, Clock::Unset { .. });
        match (&now, now.note()) {
            (Clock::Synced(line), _) => say!("the clock is synced ({line}): handshakes the router starts carry the right time"),
            (Clock::Unset { .. }, Some(n)) => {
                crate::log::LOG.warn(format_args!("{n}"));
            }
            (_, Some(n)) => say!("{n}"),
            (_, None) => {}
        }
        self.clock = now;
        if was_unset && !matches!(self.clock, Clock::Unset { .. }) {
            say!("the clock is set now: applying the sites' endpoints");
            self.apply();
        }
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

/// The control socket: mode 0660, group [`crate::control::CONTROL_GROUP`] (vpnd is a
/// member of it in /etc/group; without that, only root could use it).
fn listen_control(path: &Path) -> Result<UnixListener, String> {
    let l = listen(path)?;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660));
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let gid = oxwrt_config::init::group_id(&group, crate::control::CONTROL_GROUP)
        .ok_or_else(|| format!("no group {} in /etc/group: the web interface cannot change peers", crate::control::CONTROL_GROUP))?;
    std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| {
        format!(
            "cannot give {} to group {} ({e}): the web interface cannot change peers; is vpnd a member of it in /etc/group?",
            path.display(),
            crate::control::CONTROL_GROUP
        )
    })?;
    Ok(l)
}

/// The daemon's main. Returns the exit status.
pub fn run(paths: Paths) -> i32 {
    let mut ctl = match Control::open(&[nix::libc::SIGPIPE]) {
        Ok(c) => c,
        Err(e) => {
            crate::log::LOG.error(format_args!("{e}"));
            return 1;
        }
    };
    // Whole-file replacements only: a file written line by line would be read half-done.
    if let Err(e) = ctl.watch(&paths.config_dir) {
        say!("{e}: reload with SIGHUP");
    }
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
    let control = match listen_control(&paths.run_dir.join(crate::control::CONTROL_SOCKET)) {
        Ok(l) => Some(l),
        Err(e) => {
            crate::log::LOG.error(format_args!("{e}"));
            None
        }
    };
    let mut d = Daemon { paths, kernel, vpn, problems: Vec::new(), clock: Clock::Synced(String::new()) };
    d.check_clock(); // logs the clock's state once
    d.apply();
    say!("running: {} interfaces, {} peers", d.vpn.interfaces.len(), d.vpn.peers.len());
    let mut next_apply = Instant::now() + REAPPLY;
    loop {
        let mut wait = next_apply.saturating_duration_since(Instant::now());
        if !matches!(d.clock, Clock::Synced(_)) {
            wait = wait.min(CLOCK_LOOK);
        }
        let timeout = PollTimeout::try_from(wait.as_millis().min(60_000) as i32 + 1).unwrap_or(PollTimeout::MAX);
        let mut fds = vec![PollFd::new(ctl.signal_fd(), PollFlags::POLLIN)];
        if let Some(w) = ctl.watch_fd() {
            fds.push(PollFd::new(w, PollFlags::POLLIN));
        }
        if let Some(l) = &listener {
            fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
        }
        if let Some(l) = &control {
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
            let got = ctl.signals();
            if got.stop {
                say!("stopping (the tunnels stay up)");
                return 0;
            }
            if got.reload {
                say!("SIGHUP: applying {VPN_FILE} again");
                d.reload();
            }
        }
        let mut i = 1;
        if ctl.watch_fd().is_some() {
            if ready.get(i) == Some(&true) && ctl.replaced().iter().any(|n| n == VPN_FILE) {
                say!("{VPN_FILE} changed: applying it");
                d.reload();
            }
            i += 1;
        }
        if let Some(l) = &listener {
            if ready.get(i) == Some(&true) {
                serve(&mut d, l);
            }
            i += 1;
        }
        if let Some(l) = &control {
            if ready.get(i) == Some(&true) {
                let dirs = crate::cli::Dirs { config: d.paths.config_dir.clone(), run: d.paths.run_dir.clone() };
                for _ in 0..4 {
                    let Ok((s, _)) = l.accept() else { break };
                    let _ = s.set_nonblocking(false);
                    crate::control::serve(&dirs, s);
                }
            }
        }
        d.check_clock();
        if Instant::now() >= next_apply {
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

#[cfg(test)]
mod tests {
    use super::*;

    const BUILD: u64 = 1_790_000_000;

    #[test]
    fn the_clock_is_judged_by_the_build_time_and_timed() {
        assert_eq!(Clock::judge(100, BUILD, None), Clock::Unset { now: 100, floor: BUILD });
        assert_eq!(Clock::judge(100, 0, Some("x")), Clock::Unset { now: 100, floor: CLOCK_FLOOR }, "no build time: the 2025 floor");
        assert_eq!(Clock::judge(BUILD, BUILD, None), Clock::NotSynced);
        assert_eq!(Clock::judge(BUILD + 5, BUILD, Some("timed: clock set from x\n")), Clock::Synced("timed: clock set from x".into()));
        assert!(Clock::judge(100, BUILD, None).note().unwrap().contains("starts no handshakes to sites"));
        assert!(Clock::NotSynced.note().unwrap().contains("/run/timed/synced"));
        assert_eq!(Clock::Synced(String::new()).note(), None);
    }

    #[test]
    fn an_unset_clock_holds_back_the_sites_endpoints_only() {
        let vpn = Vpn::parse(
            "[[interface]]\nname = \"wg0\"\naddress = [\"10.8.0.1/24\"]\n\
             [[peer]]\nname = \"site\"\npublic_key = \"HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\"\nallowed_ips = [\"10.8.0.2/32\", \"192.168.2.0/24\"]\nendpoint = \"b.example.org:51820\"\npersistent_keepalive = 25\n",
        )
        .unwrap();
        let held = hold_back_sites(&vpn);
        assert_eq!(held.peers[0].endpoint, None);
        let mut back = held.clone();
        back.peers[0].endpoint = vpn.peers[0].endpoint.clone();
        assert_eq!(back, vpn, "nothing else changes: the peer stays, and is answered");
    }
}
