//! The daemon: one thread, one poll(2) over the netlink link notifications, a signalfd
//! (SIGHUP: reload; SIGTERM, SIGINT: exit), an inotify watch on the configuration
//! directory (sqm.toml or network.toml replaced by a rename, as editors and
//! `oxwrt_config::write_atomic` do) and the status socket; a one-second tick samples the
//! shaped device's byte counters for the achieved rates. With autorate, the loop also
//! wakes when a probe is due (20 times a second by default; replies wait in the socket
//! with the kernel's arrival stamp until then) and every 200 ms to decide (once a second
//! while paused on an idle link).
//!
//! Reload (start, SIGHUP, a replaced file): sqm.toml is parsed and validated; a file with
//! problems is logged, problem by problem (file:line: key: what to do), shown in the
//! status, and NOT applied: the shaping stays as it was. A valid one is applied
//! ([`crate::shaper::apply`]: read back, compare, change only what differs).
//!
//! A link notification about the shaped device or its IFB applies again: a WAN device
//! that disappears and comes back (a USB modem, a PPP link, a driver reset) gets its
//! shaping back. SIGTERM leaves the shaping in place (a restart of sqmd does not
//! interrupt it); `enabled = false` removes what sqmd added.

use crate::autorate::{self, Autorate, Limits, Params, Rates, Reflectors, DOWN, UP};
use crate::probe::{Prober, Sample};
use crate::shaper::{self, Plan, State};
use crate::status::{self, AutorateStatus, ReflectorStatus, Status};
use netlink::rtnetlink::cake;
use netlink::rtnetlink::tc::TC_H_ROOT;
use netlink::rtnetlink::{RTMGRP_LINK, RTM_DELLINK, RTM_NEWLINK};
use netlink::{Socket, NETLINK_ROUTE};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use oxwrt_config::span::{Seg, Source};
use oxwrt_config::sqm::Sqm;
use oxwrt_config::{File, Network, Problem};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The status socket's name in the run directory.
pub const STATUS_SOCKET: &str = "status.sock";

/// Where sqmd reads and writes.
#[derive(Debug, Clone)]
pub struct Paths {
    /// sqm.toml and network.toml: /etc/oxwrt.
    pub config_dir: PathBuf,
    /// /run/sqmd: the status socket.
    pub run_dir: PathBuf,
    /// The devices' counters: /sys/class/net.
    pub sys_net: PathBuf,
}

impl Paths {
    pub fn device() -> Paths {
        Paths { config_dir: PathBuf::from(oxwrt_config::DIR), run_dir: PathBuf::from("/run/sqmd"), sys_net: PathBuf::from("/sys/class/net") }
    }

    /// root/etc/oxwrt and root/run/sqmd (tests, trying sqmd in a namespace).
    pub fn under(root: &Path) -> Paths {
        Paths { config_dir: root.join("etc/oxwrt"), run_dir: root.join("run/sqmd"), sys_net: PathBuf::from("/sys/class/net") }
    }

    pub fn socket(&self) -> PathBuf {
        self.run_dir.join(STATUS_SOCKET)
    }
}

/// The WAN device of network.toml (the default `interface`); the QEMU default when the
/// file is missing or does not parse.
fn wan_device(config_dir: &Path) -> String {
    let text = std::fs::read_to_string(config_dir.join(oxwrt_config::NETWORK_FILE)).unwrap_or_default();
    toml::from_str::<Network>(&text).map(|n| n.wan.device).unwrap_or_else(|_| Network::default().wan.device)
}

/// A device's byte counters (received, transmitted) from its sysfs statistics files,
/// opened once and read again from the start (pread) at each sample: one system call per
/// counter, no allocation. A device that goes away closes them; the next read opens the
/// files of the device then named.
#[derive(Default)]
struct Counters {
    device: String,
    files: Option<(std::fs::File, std::fs::File)>,
}

impl Counters {
    fn read(&mut self, sys_net: &Path, device: &str) -> Option<(u64, u64)> {
        use std::os::unix::fs::FileExt;
        if self.device != device {
            self.device = device.to_string();
            self.files = None;
        }
        if self.files.is_none() {
            let open = |f: &str| std::fs::File::open(sys_net.join(device).join("statistics").join(f)).ok();
            self.files = Some((open("rx_bytes")?, open("tx_bytes")?));
        }
        let (rx, tx) = self.files.as_ref()?;
        let value = |f: &std::fs::File| -> Option<u64> {
            let mut buf = [0u8; 24];
            let n = f.read_at(&mut buf, 0).ok()?;
            std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
        };
        let v = value(rx).zip(value(tx));
        if v.is_none() {
            self.files = None;
        }
        v
    }
}

pub struct Daemon {
    pub paths: Paths,
    rtnl: Socket,
    events: Socket,
    listener: Option<UnixListener>,
    signals: Option<SignalFd>,
    watch: Option<Inotify>,
    /// The configuration running (accepted), and the device it shapes.
    running: Option<Sqm>,
    status: Status,
    /// The last counters sample: when, received, transmitted.
    sample: Option<(Instant, u64, u64)>,
    counters: Counters,
    /// The last error logged, so that a repeated failure is logged once.
    last_error: Option<String>,
    /// Rate adaptation, when enabled.
    auto: Option<Auto>,
}

/// How often autorate decides (and reads the counters).
const AUTORATE_TICK: Duration = Duration::from_millis(200);
/// How often paused autorate reads the counters (to see load come back).
const PAUSED_TICK: Duration = Duration::from_secs(1);

/// Rate adaptation's running state: the state machine, the reflectors, the probe socket,
/// the devices' indexes (a rate change is one RTM_NEWQDISC change per direction).
struct Auto {
    sm: Autorate,
    reflectors: Reflectors,
    prober: Prober,
    every: Duration,
    next_probe: Instant,
    next_tick: Instant,
    counters: Option<(Instant, u64, u64)>,
    idle_since: Option<Instant>,
    idle_pause: Duration,
    paused: bool,
    last_reason: Option<autorate::Reason>,
    changes: u32,
    /// (shaped device, its IFB) indexes of the last successful apply.
    links: Option<(u32, u32)>,
}

impl Auto {
    fn new(sqm: &Sqm, now: Instant) -> Result<Auto, String> {
        let shaping = sqm.shaping().ok_or("the configuration has problems")?;
        let a = &sqm.autorate;
        let (d, u) = a.limits(shaping.download_kbit, shaping.upload_kbit);
        let lim = |l: oxwrt_config::sqm::RateLimits| Limits { min_kbit: l.min_kbit, base_kbit: l.base_kbit, max_kbit: l.max_kbit };
        let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
        let mut p = Params::with_limits(lim(d), lim(u));
        p.delay_threshold_ms = a.delay_threshold_ms as f64;
        p.delay_max_ms = a.delay_max_ms as f64;
        p.bloat_window = usize::try_from(a.bloat_window).unwrap_or(6);
        p.bloat_count = usize::try_from(a.bloat_count).unwrap_or(3);
        p.high_load = a.high_load_percent as f64 / 100.0;
        p.cut_min = a.cut_min_percent as f64 / 100.0;
        p.cut_max = a.cut_max_percent as f64 / 100.0;
        p.raise_max = a.raise_max_percent as f64 / 100.0;
        p.raise_min = a.raise_min_percent as f64 / 100.0;
        p.decay_down = a.decay_down_percent as f64 / 100.0;
        p.decay_up = a.decay_up_percent as f64 / 100.0;
        p.bloat_refractory = ms(a.bloat_refractory_ms);
        p.decay_refractory = ms(a.decay_refractory_ms);
        p.stall = ms(a.stall_ms);
        let prober =
            Prober::open().map_err(|e| format!("cannot open the ICMP socket for the probes ({e}); sqmd needs NET_RAW (packages/sqmd/package.toml)"))?;
        let pingers = usize::try_from(a.pingers).unwrap_or(6);
        Ok(Auto {
            sm: Autorate::new(p, now),
            reflectors: Reflectors::new(&a.reflectors, pingers, ms(a.dead_reflector_ms), now),
            prober,
            every: Duration::from_micros(1_000_000 / u64::try_from(a.probe_hz.max(1)).unwrap_or(20)),
            next_probe: now,
            next_tick: now + AUTORATE_TICK,
            counters: None,
            idle_since: None,
            idle_pause: Duration::from_secs(u64::try_from(a.idle_pause_s).unwrap_or(60)),
            paused: false,
            last_reason: None,
            changes: 0,
            links: None,
        })
    }

    fn status(&self) -> AutorateStatus {
        let r = self.sm.rates();
        AutorateStatus {
            download_kbit: r.download_kbit,
            upload_kbit: r.upload_kbit,
            bufferbloat: self.sm.bufferbloat(),
            last_reason: self.last_reason.map(|r| format!("{r:?}").to_lowercase()).unwrap_or_default(),
            changes: self.changes,
            paused: self.paused,
            delay_ewma_us: (self.sm.delta_ewma_ms() * 1000.0) as u64,
            reflectors: self
                .reflectors
                .active()
                .iter()
                .map(|addr| {
                    let d = self.reflectors.id(*addr).and_then(|id| self.sm.reflectors().iter().find(|r| r.id == id));
                    let us = |ms: f64| (ms * 1000.0) as u64;
                    ReflectorStatus {
                        address: addr.to_string(),
                        probe: self.prober.kind(*addr).name().to_string(),
                        // One way: the two baselines' sum is the round trip's (the clocks'
                        // offsets cancel).
                        baseline_us: d.map_or(0, |d| us(if d.one_way { d.baseline_ms[DOWN] + d.baseline_ms[UP] } else { d.baseline_ms[DOWN] })),
                        last_delta_us: d.map_or(0, |d| us(d.last_delta_ms[DOWN].max(d.last_delta_ms[UP]))),
                        last_delta_down_us: d.map_or(0, |d| us(d.last_delta_ms[DOWN])),
                        last_delta_up_us: d.map_or(0, |d| us(d.last_delta_ms[UP])),
                    }
                })
                .collect(),
        }
    }
}

impl Daemon {
    pub fn start(paths: Paths) -> Result<Daemon, String> {
        let rtnl = Socket::open(NETLINK_ROUTE, 0).map_err(|e| format!("cannot open a netlink socket: {e}"))?;
        rtnl.set_ext_ack();
        rtnl.set_recv_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        let events = Socket::open(NETLINK_ROUTE, RTMGRP_LINK).map_err(|e| format!("cannot listen to link notifications: {e}"))?;
        let sock = paths.socket();
        let _ = std::fs::remove_file(&sock);
        let listener = match UnixListener::bind(&sock) {
            Ok(l) => {
                let _ = l.set_nonblocking(true);
                // Read-only information: anyone on the router may ask (`sqm status`, webd).
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666));
                Some(l)
            }
            Err(e) => {
                crate::log::LOG.error(format_args!(
                    "cannot listen on {} ({e}); `sqm status` will not answer (is {} sqmd's?)",
                    sock.display(),
                    paths.run_dir.display()
                ));
                None
            }
        };
        let mut d = Daemon {
            paths,
            rtnl,
            events,
            listener,
            signals: None,
            watch: None,
            running: None,
            status: Status::default(),
            sample: None,
            counters: Counters::default(),
            last_error: None,
            auto: None,
        };
        d.reload();
        Ok(d)
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    fn log_error(&mut self, e: String) {
        if self.last_error.as_ref() != Some(&e) {
            crate::log::LOG.error(format_args!("{e}"));
        }
        self.last_error = Some(e.clone());
        self.status.error = Some(e);
    }

    /// Reads sqm.toml again; applies it if it is valid, else logs why and keeps what runs.
    pub fn reload(&mut self) {
        let path = self.paths.config_dir.join(oxwrt_config::sqm::FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                let msg = format!("cannot read {}: {e}; the shaping stays as it was", path.display());
                crate::log::LOG.error(format_args!("{msg}"));
                self.status.config_errors = vec![msg];
                return;
            }
        };
        let parsed = Sqm::parse(&text).map_err(|p| p.0).and_then(|sqm| {
            // An `interface` written in the file must exist now (the WAN default may come later).
            match &sqm.interface {
                Some(i) if sqm.enabled && !self.link_exists(i) => {
                    let line_col = Source::parse(&text).ok().and_then(|s| s.locate(&[Seg::Key("interface")]));
                    Err(vec![Problem {
                        file: File::Sqm,
                        key: "interface".into(),
                        line_col,
                        message: format!(
                            "no device `{i}` exists; name the WAN device (see `ls /sys/class/net`), or remove the key to shape wan.device of network.toml"
                        ),
                    }])
                }
                _ => Ok(sqm),
            }
        });
        match parsed {
            Err(problems) => {
                for p in &problems {
                    crate::log::LOG.error(format_args!("{p}; not applied, the shaping stays as it was"));
                }
                self.status.config_errors = problems.iter().map(|p| p.to_string()).collect();
                if self.running.is_none() {
                    self.status.interface = wan_device(&self.paths.config_dir);
                }
            }
            Ok(sqm) => {
                self.status.config_errors.clear();
                let device = sqm.interface_or(&wan_device(&self.paths.config_dir));
                let old = &self.status.interface;
                if self.running.as_ref().is_some_and(|o| o.enabled) && !old.is_empty() && *old != device {
                    // Another device now: what sqmd added to the old one goes.
                    let plan = Plan::new(old, None);
                    if let Err(e) = shaper::apply(&mut self.rtnl, &plan) {
                        self.log_error(format!("cannot remove the shaping of {}: {e}", plan.device));
                    }
                }
                self.status.enabled = sqm.enabled;
                self.status.interface = device;
                self.auto = None;
                if sqm.enabled && sqm.autorate.enabled {
                    match Auto::new(&sqm, Instant::now()) {
                        Ok(a) => {
                            crate::say!(
                                "autorate: probing {} at {} Hz",
                                a.reflectors.active().iter().map(|r| r.to_string()).collect::<Vec<_>>().join(" "),
                                sqm.autorate.probe_hz
                            );
                            self.auto = Some(a);
                        }
                        Err(e) => self.log_error(format!("autorate: {e}; shaping at the fixed rates")),
                    }
                }
                self.running = Some(sqm);
                self.apply();
            }
        }
    }

    fn link_exists(&mut self, name: &str) -> bool {
        State::read(&mut self.rtnl).map(|s| s.link(name).is_some()).unwrap_or(true)
    }

    /// Applies the running configuration (after a reload or a link change).
    fn apply(&mut self) {
        let Some(sqm) = &self.running else { return };
        let shaping = if sqm.enabled { sqm.shaping() } else { None };
        self.status.upload.shaped_kbit = shaping.map_or(0, |s| s.upload_kbit);
        self.status.download.shaped_kbit = shaping.map_or(0, |s| s.download_kbit);
        let mut shaping = shaping;
        if let (Some(s), Some(a)) = (shaping.as_mut(), &self.auto) {
            // The rates autorate has set, not the base ones.
            let r = a.sm.rates();
            (s.download_kbit, s.upload_kbit) = (r.download_kbit, r.upload_kbit);
        }
        let plan = Plan::new(&self.status.interface, shaping.as_ref());
        self.status.applies = self.status.applies.saturating_add(1);
        match shaper::apply(&mut self.rtnl, &plan) {
            Ok(changes) => {
                if let Some(a) = &mut self.auto {
                    a.links =
                        State::read(&mut self.rtnl).ok().and_then(|st| Some((st.link(&plan.device)?.index, st.link(&shaper::ifb_name(&plan.device))?.index)));
                }
                for c in &changes {
                    crate::say!("{c}");
                }
                if self.last_error.take().is_some() || !changes.is_empty() {
                    match (&plan.upload, &plan.download) {
                        (None, None) => crate::say!("{}: not shaped", plan.device),
                        _ => crate::say!(
                            "{}: shaping upload {} kbit/s, download {} kbit/s",
                            plan.device,
                            self.status.upload.shaped_kbit,
                            self.status.download.shaped_kbit
                        ),
                    }
                }
                self.status.error = None;
                self.status.last_changes = changes;
            }
            Err(e) => {
                self.status.last_changes.clear();
                self.log_error(e.to_string());
            }
        }
    }

    fn on_link_events(&mut self) {
        let Ok(events) = self.events.drain() else { return };
        let ifb = shaper::ifb_name(&self.status.interface);
        let ours = events
            .iter()
            .filter(|(t, _)| *t == RTM_NEWLINK || *t == RTM_DELLINK)
            .filter_map(|(_, p)| netlink::rtnetlink::parse_link(p))
            .any(|l| l.name == self.status.interface || l.name == ifb);
        if ours && self.running.as_ref().is_some_and(|s| s.enabled) {
            self.apply();
        }
    }

    fn on_signal(&mut self) -> bool {
        loop {
            let Some(Ok(Some(info))) = self.signals.as_ref().map(|s| s.read_signal()) else { return true };
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGHUP) => {
                    crate::say!("SIGHUP: reloading the configuration");
                    self.reload();
                }
                Ok(Signal::SIGTERM | Signal::SIGINT) => return false,
                _ => {}
            }
        }
    }

    fn on_watch(&mut self) {
        let Some(w) = &self.watch else { return };
        let Ok(events) = w.read_events() else { return };
        let ours =
            events.iter().any(|e| e.name.as_ref().and_then(|n| n.to_str()).is_some_and(|n| n == oxwrt_config::sqm::FILE || n == oxwrt_config::NETWORK_FILE));
        if ours {
            crate::say!("configuration file replaced: reloading");
            self.reload();
        }
    }

    /// Samples the counters of the shaped device: the achieved rates of the last interval.
    fn tick(&mut self, now: Instant) {
        let Some((rx, tx)) = self.counters.read(&self.paths.sys_net, &self.status.interface) else {
            self.sample = None;
            return;
        };
        if let Some((then, rx0, tx0)) = self.sample {
            let ms = now.saturating_duration_since(then).as_millis().max(1) as u64;
            // bits per millisecond = kbit/s
            self.status.download.achieved_kbit = rx.saturating_sub(rx0).saturating_mul(8) / ms;
            self.status.upload.achieved_kbit = tx.saturating_sub(tx0).saturating_mul(8) / ms;
        }
        self.sample = Some((now, rx, tx));
    }

    /// The status now, with the kernel's side read back.
    pub fn current_status(&mut self) -> Status {
        let mut s = self.status.clone();
        s.autorate = self.auto.as_ref().map(Auto::status);
        s.upload.device = s.interface.clone();
        match State::read(&mut self.rtnl) {
            Ok(state) => status::read_kernel(&mut s, &state),
            Err(e) => s.error = Some(format!("cannot read the qdiscs: {e}")),
        }
        s
    }

    fn on_status_client(&mut self) {
        let Some(l) = &self.listener else { return };
        let Ok((mut conn, _)) = l.accept() else { return };
        let _ = conn.set_nonblocking(false);
        let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
        let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
        // The request: "json" or "text" and a newline (a client that says nothing gets JSON).
        let mut req = [0u8; 16];
        let mut n = 0;
        while n < req.len() {
            match std::io::Read::read(&mut conn, &mut req[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    n += k;
                    if req[..n].contains(&b'\n') {
                        break;
                    }
                }
            }
        }
        let status = self.current_status();
        let answer = if req[..n].starts_with(b"text") { status::render(&status) } else { serde_json::to_string(&status).unwrap_or_default() };
        let _ = conn.write_all(answer.as_bytes());
    }

    /// Probes due, replies read, and every [`AUTORATE_TICK`] a decision; a new rate is
    /// one change message per direction. The loop wakes only for these: replies wait in
    /// the socket, stamped by the kernel, until the next probe is sent. The ticks fall on
    /// probe times (both advance from where they were due, not from when the loop woke).
    fn autorate(&mut self, now: Instant) {
        let Some(a) = &mut self.auto else { return };
        let probe_due = !a.paused && now >= a.next_probe;
        if !probe_due && now < a.next_tick {
            return;
        }
        let (reflectors, sm) = (&mut a.reflectors, &mut a.sm);
        a.prober.receive(|from, sample| {
            reflectors.on_reply(from, now);
            if let Some(id) = reflectors.id(from) {
                // Decisions on the round trip, on sqmd's monotonic clock at both ends. The
                // one-way delays (`Autorate::sample_one_way`) are not used yet: against a
                // reflector whose clock runs at another rate (the emulated Malta's does
                // against the lab's host), their offsets drift faster than the baselines
                // follow, and a direction looks queued that is not (docs/sqm.md).
                match sample {
                    Sample::RoundTrip(rtt_ms) | Sample::OneWay { rtt_ms, .. } => sm.sample(id, rtt_ms, now),
                }
            }
        });
        if probe_due {
            if let Some(to) = a.reflectors.next_target() {
                // A failed send (no route yet) is a missing answer: the reflector logic and
                // the stall rule deal with it.
                let _ = a.prober.send(to);
            }
            a.next_probe = (a.next_probe + a.every).max(now);
        }
        if now < a.next_tick {
            return;
        }
        // Paused: the counters once a second, to see the load come back.
        a.next_tick = (a.next_tick + if a.paused { PAUSED_TICK } else { AUTORATE_TICK }).max(now);
        let Some((rx, tx)) = self.counters.read(&self.paths.sys_net, &self.status.interface) else { return };
        let achieved = match a.counters.replace((now, rx, tx)) {
            Some((then, rx0, tx0)) => {
                let ms = now.saturating_duration_since(then).as_millis().max(1) as u64;
                Rates { download_kbit: rx.saturating_sub(rx0).saturating_mul(8) / ms, upload_kbit: tx.saturating_sub(tx0).saturating_mul(8) / ms }
            }
            None => return,
        };
        // Idle for long: probing pauses until load comes back.
        let base = a.sm.p.download.base_kbit.min(a.sm.p.upload.base_kbit);
        let idle = achieved.download_kbit.max(achieved.upload_kbit) < (base / 100).max(10);
        if !idle {
            a.idle_since = None;
            if a.paused {
                a.paused = false;
                a.next_probe = now;
                a.sm.resume(now);
                crate::say!("autorate: load again, probing");
            }
        } else if now.saturating_duration_since(*a.idle_since.get_or_insert(now)) >= a.idle_pause && !a.paused {
            a.paused = true;
            crate::say!("autorate: idle for {} s, probing paused", a.idle_pause.as_secs());
        }
        if a.paused {
            return;
        }
        for (dead, new) in a.reflectors.maintain(now) {
            if let Some(id) = a.reflectors.id(dead) {
                a.sm.forget(id);
            }
            crate::say!("autorate: reflector {dead} does not answer; probing {new} instead");
        }
        let Some((rates, reason)) = a.sm.tick(now, achieved) else { return };
        a.last_reason = Some(reason);
        let Some((dev, ifb)) = a.links else { return };
        for (index, kbit) in [(dev, rates.upload_kbit), (ifb, rates.download_kbit)] {
            let o = cake::Options { rate_bytes: Some(kbit.saturating_mul(125)), ..cake::Options::default() };
            match self.rtnl.request(cake::change(index, shaper::HANDLE, TC_H_ROOT, &o)) {
                Ok(()) => a.changes = a.changes.saturating_add(1),
                Err(e) => {
                    // The link went away: its notification applies again.
                    a.links = None;
                    let msg = format!("autorate: cannot change the rate: {e}");
                    if self.last_error.as_ref() != Some(&msg) {
                        crate::log::LOG.error(format_args!("{msg}"));
                        self.last_error = Some(msg);
                    }
                    return;
                }
            }
        }
        if reason == autorate::Reason::Stall {
            crate::say!("autorate: no reflector answers: the minimum rates, download {} kbit/s, upload {} kbit/s", rates.download_kbit, rates.upload_kbit);
        }
    }

    /// One round of the loop (waits at most a second). False: exit.
    pub fn step(&mut self) -> io::Result<bool> {
        #[derive(Clone, Copy)]
        enum Src {
            Events,
            Signals,
            Watch,
            Status,
        }
        // At most four sources: a fixed array, no allocation per round.
        let mut fds: [(Src, RawFd); 4] = [(Src::Events, self.events.as_raw_fd()); 4];
        let mut n = 1;
        let signals = self.signals.as_ref().map(|s| (Src::Signals, s.as_fd().as_raw_fd()));
        let watch = self.watch.as_ref().map(|w| (Src::Watch, w.as_fd().as_raw_fd()));
        let status = self.listener.as_ref().map(|l| (Src::Status, l.as_raw_fd()));
        for f in [signals, watch, status].into_iter().flatten() {
            fds[n] = f;
            n += 1;
        }
        let now = Instant::now();
        let wait = match &self.auto {
            Some(a) if !a.paused => a.next_probe.min(a.next_tick).saturating_duration_since(now).min(Duration::from_secs(1)),
            Some(a) => a.next_tick.saturating_duration_since(now).min(Duration::from_secs(1)),
            None => Duration::from_secs(1),
        };
        // SAFETY: every fd is owned by `self` and stays open until the poll returns.
        let mut pfds: [PollFd; 4] = std::array::from_fn(|i| PollFd::new(unsafe { BorrowedFd::borrow_raw(fds[i].1) }, PollFlags::POLLIN));
        let (fds, pfds) = (&fds[..n], &mut pfds[..n]);
        // Rounded up: a wake-up a little early would find nothing due and sleep again.
        match poll(pfds, PollTimeout::from(wait.as_micros().div_ceil(1000).min(1000) as u16)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let mut ready = [None; 4];
        for (i, (f, p)) in fds.iter().zip(pfds.iter()).enumerate() {
            if p.revents().is_some_and(|r| !r.is_empty()) {
                ready[i] = Some(f.0);
            }
        }
        for src in ready.into_iter().flatten() {
            match src {
                Src::Events => self.on_link_events(),
                Src::Signals => {
                    if !self.on_signal() {
                        return Ok(false);
                    }
                }
                Src::Watch => self.on_watch(),
                Src::Status => self.on_status_client(),
            }
        }
        let now = Instant::now();
        self.autorate(now);
        if self.sample.is_none_or(|(t, ..)| now.saturating_duration_since(t) >= Duration::from_millis(900)) {
            self.tick(now);
        }
        Ok(true)
    }
}

/// The daemon's main: signals blocked and read from a signalfd, the configuration
/// directory watched, then the loop until SIGTERM. Returns the exit status.
pub fn run(paths: Paths) -> i32 {
    let mut mask = SigSet::empty();
    for s in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT] {
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
    let mut d = match Daemon::start(paths) {
        Ok(d) => d,
        Err(e) => {
            crate::log::LOG.error(format_args!("cannot start: {e}"));
            return 1;
        }
    };
    d.signals = Some(signals);
    match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
        // Whole-file replacements only (a file written line by line on the console would
        // be read half-written): those edits take effect with SIGHUP or a restart.
        Ok(w) => match w.add_watch(&d.paths.config_dir, AddWatchFlags::IN_MOVED_TO) {
            Ok(_) => d.watch = Some(w),
            Err(e) => crate::say!("not watching {} ({e}): reload with SIGHUP", d.paths.config_dir.display()),
        },
        Err(e) => crate::say!("no inotify ({e}): reload with SIGHUP"),
    }
    crate::say!("running");
    loop {
        match d.step() {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                crate::say!("event loop: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    crate::say!("stopping (the shaping stays as it is)");
    0
}
