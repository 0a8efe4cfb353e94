//! PID 1's main loop: starts the services in dependency order, restarts the ones that die
//! (with backoff), reaps every orphan, collects services' output and kernel messages into
//! the log ring, answers the control socket, and takes the system down cleanly.
//!
//! Single-threaded: one poll(2) over a signalfd (SIGCHLD, shutdown signals), the control
//! socket, /dev/kmsg and each service's output pipe; timers are the poll timeout.

use crate::control::{self, Request};
use crate::log::{self as initlog, CONSOLE, LOG};
use crate::logring::{parse_kmsg, Entry, LineBuffer, LogRing, DEFAULT_CAPACITY};
use crate::mounts;
use crate::privs;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{pipe2, sync, Pid};
use oxwrt_config::init::{InitConfig, Restart};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long services get between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// A service that ran this long before dying starts again without delay build-up.
const HEALTHY_RUN: Duration = Duration::from_secs(10);

/// The signals init handles itself (blocked, read from the signalfd).
pub fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGPWR, Signal::SIGPIPE] {
        set.add(s);
    }
    set
}

/// Delay before the n-th consecutive restart: 0.5 s, 1 s, 2 s ... capped at 30 s.
pub fn backoff(failures: u32) -> Duration {
    let ms = 500u64.saturating_mul(1u64 << failures.saturating_sub(1).min(16));
    Duration::from_millis(ms.min(30_000))
}

/// `exited with status 1`, `killed by SIGKILL`.
pub fn describe(status: &WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exited with status {code}"),
        WaitStatus::Signaled(_, sig, core) => format!("killed by {}{}", sig.as_str(), if *core { " (core dumped)" } else { "" }),
        other => format!("{other:?}"),
    }
}

fn failed(status: &WaitStatus) -> bool {
    !matches!(status, WaitStatus::Exited(_, 0))
}

/// Milliseconds since boot (CLOCK_MONOTONIC, the clock kernel messages use).
pub fn uptime_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// In a child between fork and exec: nothing blocked, default dispositions (init blocks
/// the signals it reads from its signalfd, and a blocked mask survives exec).
fn child_signals() {
    // SAFETY: sigemptyset, sigprocmask and signal are async-signal-safe.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    Reboot,
    Poweroff,
}

#[derive(Default)]
struct ServiceState {
    pid: Option<Pid>,
    output: Option<(File, LineBuffer)>,
    /// Should be running (false after `service stop` or a final exit).
    wanted: bool,
    ever_started: bool,
    failures: u32,
    restarts: u32,
    started_at: Option<Instant>,
    next_start: Option<Instant>,
    /// Being stopped; SIGKILL at this time.
    kill_at: Option<Instant>,
    stopping: bool,
    restart_after_stop: bool,
    last_exit: Option<String>,
}

enum Ready {
    Signals,
    Listener,
    Kmsg,
    Output(usize),
}

pub struct Supervisor {
    cfg: InitConfig,
    order: Vec<usize>,
    services: Vec<ServiceState>,
    ring: LogRing,
    kmsg: Option<File>,
    signals: SignalFd,
    listener: Option<UnixListener>,
    followers: Vec<UnixStream>,
    ready: bool,
}

impl Supervisor {
    /// `signals` must already be blocked in this thread (see [`handled_signals`]).
    pub fn new(cfg: InitConfig, early: Vec<Entry>) -> Result<Supervisor, String> {
        let order = cfg.start_order()?;
        let signals = SignalFd::with_flags(&handled_signals(), SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).map_err(|e| format!("signalfd: {e}"))?;
        let mut ring = LogRing::new(DEFAULT_CAPACITY);
        let kmsg = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg").ok();
        let mut sup = Supervisor {
            services: cfg.services.iter().map(|_| ServiceState { wanted: true, ..Default::default() }).collect(),
            cfg,
            order,
            ring: LogRing::new(0),
            kmsg,
            signals,
            listener: None,
            followers: Vec::new(),
            ready: false,
        };
        // Kernel messages since boot first, then what init said before the loop.
        sup.read_kmsg(&mut ring);
        for e in early {
            ring.push(e);
        }
        sup.ring = ring;
        let _ = std::fs::remove_file(control::SOCKET);
        match control::listen().and_then(|l| l.set_nonblocking(true).map(|_| l)) {
            Ok(l) => sup.listener = Some(l),
            Err(e) => sup.say(format!("cannot listen on {}: {e}; service/logread/reboot commands will not work", control::SOCKET)),
        }
        Ok(sup)
    }

    /// Logs a line of init's own, echoed to the console.
    fn say(&mut self, line: String) {
        LOG.info(format_args!("{line}"));
        self.record("init", line);
    }

    fn record(&mut self, source: &str, line: String) {
        let entry = Entry { uptime_ms: uptime_ms(), source: source.to_string(), line };
        if !self.followers.is_empty() {
            let text = format!("{}\n", entry.format());
            self.followers.retain(|f| send_nowait(f, text.as_bytes()));
        }
        self.ring.push(entry);
    }

    pub fn run(mut self) -> ! {
        let now = Instant::now();
        for s in &mut self.services {
            s.next_start = Some(now);
        }
        loop {
            self.timers();
            if !self.ready && self.services.iter().all(|s| s.ever_started) {
                self.ready = true;
                CONSOLE.text(format_args!("oxwrt: ready"));
                self.record("init", "oxwrt: ready".into());
            }
            for r in self.wait() {
                match r {
                    Ready::Signals => self.signals(),
                    Ready::Listener => self.accept(),
                    Ready::Kmsg => {
                        let mut ring = std::mem::replace(&mut self.ring, LogRing::new(0));
                        self.read_kmsg(&mut ring);
                        self.ring = ring;
                    }
                    Ready::Output(i) => self.read_output(i),
                }
            }
        }
    }

    /// poll(2) until something is readable or the next timer is due.
    fn wait(&mut self) -> Vec<Ready> {
        let now = Instant::now();
        let next = self.services.iter().flat_map(|s| [s.next_start.filter(|_| s.pid.is_none() && s.wanted), s.kill_at]).flatten().min();
        let timeout = match next {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::from(t.saturating_duration_since(now).as_millis().min(u16::MAX as u128) as u16),
        };
        let mut tags = vec![Ready::Signals];
        let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
        if let Some(l) = &self.listener {
            fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
            tags.push(Ready::Listener);
        }
        if let Some(k) = &self.kmsg {
            fds.push(PollFd::new(k.as_fd(), PollFlags::POLLIN));
            tags.push(Ready::Kmsg);
        }
        for (i, s) in self.services.iter().enumerate() {
            if let Some((f, _)) = &s.output {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                tags.push(Ready::Output(i));
            }
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => return Vec::new(),
            Err(e) => {
                LOG.error(format_args!("poll: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                return Vec::new();
            }
        }
        let hits: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        tags.into_iter().zip(hits).filter_map(|(t, hit)| hit.then_some(t)).collect()
    }

    fn timers(&mut self) {
        let now = Instant::now();
        for &i in &self.order.clone() {
            let s = &mut self.services[i];
            if let (Some(t), Some(pid)) = (s.kill_at, s.pid) {
                if t <= now {
                    s.kill_at = None;
                    let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGKILL).or_else(|_| kill(pid, Signal::SIGKILL));
                    let name = self.cfg.services[i].name.clone();
                    self.say(format!("{name} did not stop within {} s of SIGTERM: sent SIGKILL", STOP_GRACE.as_secs()));
                }
            }
            let s = &self.services[i];
            if s.wanted && s.pid.is_none() && s.next_start.is_some_and(|t| t <= now) {
                self.start(i);
            }
        }
    }

    fn start(&mut self, i: usize) {
        let svc = self.cfg.services[i].clone();
        self.services[i].next_start = None;
        let Some((program, args)) = svc.command.split_first() else {
            self.services[i].wanted = false;
            return self.say(format!("WARNING: {} has no command; not started", svc.name));
        };
        // Resolved at every start (the accounts may change); a service whose user or group
        // cannot be found does not start at all: never as root by mistake.
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
        let privs = match privs::resolve(&svc, &passwd, &group) {
            Ok(p) => p,
            Err(e) => {
                self.services[i].wanted = false;
                self.services[i].last_exit = Some(format!("not started: {e}"));
                LOG.error(format_args!("{}: {e}; not started (`service start {}` once it is fixed)", svc.name, svc.name));
                return self.record("init", format!("ERROR: {}: {e}; not started", svc.name));
            }
        };
        if let Some(p) = &privs {
            for d in svc.owned_dirs() {
                match privs::own_dir(&d, p.uid, p.gid) {
                    // The image has them; a repair means something changed them (or the
                    // image is older than the service's `dirs`).
                    Ok(true) if !d.starts_with("/run/") => self.say(format!("{}: {d} was missing or not {}:{}; fixed", svc.name, p.uid, p.gid)),
                    Ok(_) => {}
                    Err(e) => self.say(format!("WARNING: {}: {e}", svc.name)),
                }
            }
        }
        let mut cmd = Command::new(program);
        let home = if privs.is_some() { "/" } else { "/root" };
        cmd.args(args).env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").env("HOME", home).envs(&svc.env).current_dir("/");
        let mut reader = None;
        let setup = if svc.console {
            // init's own lines follow the console the shell gets (it may have changed).
            initlog::reopen_console();
            OpenOptions::new().read(true).write(true).open("/dev/console").and_then(|con| {
                cmd.stdin(con.try_clone()?).stdout(con.try_clone()?).stderr(con).env("TERM", "vt102");
                // SAFETY: only async-signal-safe calls between fork and exec.
                unsafe {
                    cmd.pre_exec(|| {
                        child_signals();
                        libc::setsid();
                        libc::ioctl(0, libc::TIOCSCTTY, 1);
                        Ok(())
                    });
                }
                Ok(())
            })
        } else {
            pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from).and_then(|(r, w)| {
                fcntl(&r, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(std::io::Error::from)?;
                cmd.stdin(Stdio::null()).stdout(Stdio::from(w.try_clone()?)).stderr(Stdio::from(w));
                reader = Some(File::from(r));
                // SAFETY: only async-signal-safe calls between fork and exec.
                unsafe {
                    cmd.pre_exec(move || {
                        child_signals();
                        libc::setsid();
                        match &privs {
                            Some(p) => p.apply(),
                            None => Ok(()),
                        }
                    });
                }
                Ok(())
            })
        };
        let spawned = setup.and_then(|_| cmd.spawn());
        drop(cmd); // closes our copies of the pipe's write end
        match spawned {
            Ok(child) => {
                let pid = Pid::from_raw(child.id() as i32);
                let s = &mut self.services[i];
                s.pid = Some(pid);
                s.output = reader.map(|r| (r, LineBuffer::default()));
                s.started_at = Some(Instant::now());
                s.ever_started = true;
                self.say(format!("started {} (pid {pid})", svc.name));
            }
            Err(e) => {
                let s = &mut self.services[i];
                s.failures += 1;
                let delay = backoff(s.failures);
                s.next_start = Some(Instant::now() + delay);
                self.say(format!("cannot start {}: {program}: {e}; retrying in {:.1} s", svc.name, delay.as_secs_f32()));
            }
        }
    }

    fn signals(&mut self) {
        loop {
            match self.signals.read_signal() {
                Ok(Some(info)) => match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGCHLD) => self.reap(),
                    Ok(Signal::SIGTERM | Signal::SIGINT) => self.shutdown(Shutdown::Reboot),
                    Ok(Signal::SIGUSR1 | Signal::SIGUSR2 | Signal::SIGPWR) => self.shutdown(Shutdown::Poweroff),
                    _ => {}
                },
                Ok(None) => return,
                Err(e) => {
                    LOG.error(format_args!("signalfd: {e}"));
                    return;
                }
            }
        }
    }

    fn reap(&mut self) {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => s,
            };
            let Some(pid) = status.pid() else { continue };
            if let Some(i) = self.services.iter().position(|s| s.pid == Some(pid)) {
                self.exited(i, &status);
            }
        }
    }

    fn exited(&mut self, i: usize, status: &WaitStatus) {
        let name = self.cfg.services[i].name.clone();
        let policy = self.cfg.services[i].restart;
        let now = Instant::now();
        let s = &mut self.services[i];
        let pid = s.pid.take().map(|p| p.as_raw()).unwrap_or(0);
        let what = describe(status);
        s.last_exit = Some(what.clone());
        s.kill_at = None;
        if s.stopping {
            s.stopping = false;
            let again = std::mem::take(&mut s.restart_after_stop);
            s.wanted = again;
            s.next_start = again.then_some(now);
            self.say(format!("{name} (pid {pid}) stopped: {what}"));
            return;
        }
        let restart = s.wanted
            && match policy {
                Restart::Always => true,
                Restart::OnFailure => failed(status),
                Restart::Never => false,
            };
        if !restart {
            s.wanted = false;
            self.say(format!("{name} (pid {pid}) {what}; not restarted (restart = {policy:?})"));
            return;
        }
        if s.started_at.is_some_and(|t| now.duration_since(t) >= HEALTHY_RUN) {
            s.failures = 0;
        }
        s.failures += 1;
        s.restarts += 1;
        let delay = backoff(s.failures);
        s.next_start = Some(now + delay);
        self.say(format!("{name} (pid {pid}) {what}; restarting in {:.1} s", delay.as_secs_f32()));
    }

    fn read_output(&mut self, i: usize) {
        let name = self.cfg.services[i].name.clone();
        let mut lines = Vec::new();
        let mut eof = false;
        if let Some((file, buf)) = &mut self.services[i].output {
            let mut chunk = [0u8; 4096];
            loop {
                match file.read(&mut chunk) {
                    Ok(0) => {
                        buf.finish(&mut |l| lines.push(l));
                        eof = true;
                        break;
                    }
                    Ok(n) => buf.feed(&chunk[..n], &mut |l| lines.push(l)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
        }
        if eof {
            self.services[i].output = None;
        }
        for l in lines {
            let l = initlog::untag(&name, &l);
            if initlog::to_console(l) {
                CONSOLE.text(format_args!("{name}: {l}"));
            }
            self.record(&name, l.to_string());
        }
    }

    /// Drains /dev/kmsg into `ring` (records the ring overwrote are skipped: EPIPE).
    fn read_kmsg(&mut self, ring: &mut LogRing) {
        let Some(k) = &mut self.kmsg else { return };
        let mut buf = [0u8; 2048];
        loop {
            match k.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if let Some(e) = parse_kmsg(&String::from_utf8_lossy(&buf[..n])) {
                        ring.push(e);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => return,
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let Some(listener) = &self.listener else { return };
            let stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(_) => return,
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
            let user_services: Vec<String> = self.cfg.services.iter().filter(|s| s.user.is_some()).map(|s| s.name.clone()).collect();
            match control::admit(&stream, &user_services) {
                Ok(req) => self.answer(req, stream),
                Err(e) => {
                    let mut s = stream;
                    let _ = writeln!(s, "error: {e}");
                }
            }
        }
    }

    fn answer(&mut self, req: Request, mut stream: UnixStream) {
        let text = match req {
            Request::Status => self.status(),
            Request::Log | Request::LogFollow => {
                let mut text = String::new();
                for e in self.ring.iter() {
                    text.push_str(&e.format());
                    text.push('\n');
                }
                if req == Request::LogFollow && stream.write_all(text.as_bytes()).is_ok() {
                    self.followers.push(stream);
                    return;
                }
                text
            }
            Request::Reboot | Request::Poweroff => {
                let _ = writeln!(stream, "{}", if req == Request::Reboot { "rebooting" } else { "powering off" });
                drop(stream);
                self.shutdown(if req == Request::Reboot { Shutdown::Reboot } else { Shutdown::Poweroff });
            }
            Request::Start(ref n) | Request::Stop(ref n) | Request::Restart(ref n) => match self.cfg.services.iter().position(|s| &s.name == n) {
                None => {
                    let names: Vec<&str> = self.cfg.services.iter().map(|s| s.name.as_str()).collect();
                    format!("error: no service named `{n}` (services: {})\n", names.join(", "))
                }
                Some(i) => self.control_service(i, &req),
            },
        };
        let _ = stream.write_all(text.as_bytes());
    }

    fn control_service(&mut self, i: usize, req: &Request) -> String {
        let name = self.cfg.services[i].name.clone();
        let s = &mut self.services[i];
        match (req, s.pid) {
            (Request::Start(_), Some(pid)) => format!("{name} is already running (pid {pid})\n"),
            (Request::Start(_) | Request::Restart(_), None) => {
                s.wanted = true;
                s.failures = 0;
                s.next_start = Some(Instant::now());
                format!("starting {name}\n")
            }
            (Request::Stop(_), None) => {
                s.wanted = false;
                s.next_start = None;
                format!("{name} is not running\n")
            }
            (Request::Stop(_) | Request::Restart(_), Some(pid)) => {
                s.stopping = true;
                s.restart_after_stop = matches!(req, Request::Restart(_));
                s.kill_at = Some(Instant::now() + STOP_GRACE);
                let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGTERM).or_else(|_| kill(pid, Signal::SIGTERM));
                format!("{} {name} (pid {pid})\n", if s.restart_after_stop { "restarting" } else { "stopping" })
            }
            _ => String::new(),
        }
    }

    fn status(&self) -> String {
        let mut out = format!("{:<12} {:<9} {:>6} {:>9} {:>8}  {}\n", "SERVICE", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT");
        let now = Instant::now();
        for &i in &self.order {
            let (svc, s) = (&self.cfg.services[i], &self.services[i]);
            let state = match (s.pid, s.stopping, s.wanted) {
                (Some(_), true, _) => "stopping",
                (Some(_), false, _) => "running",
                (None, _, true) => "waiting",
                (None, _, false) => "stopped",
            };
            let pid = s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
            let up = match (s.pid, s.started_at) {
                (Some(_), Some(t)) => format!("{}s", now.duration_since(t).as_secs()),
                _ => "-".into(),
            };
            out.push_str(&format!("{:<12} {:<9} {:>6} {:>9} {:>8}  {}\n", svc.name, state, pid, up, s.restarts, s.last_exit.as_deref().unwrap_or("-")));
        }
        let (dropped, failed) = (CONSOLE.dropped(), CONSOLE.failed());
        if dropped + failed > 0 {
            out.push_str(&format!("console: {dropped} line(s) dropped (console full), {failed} failed (write errors); the log ring has them all\n"));
        }
        out
    }

    /// Stops everything and reboots or powers off. Never returns.
    pub fn shutdown(&mut self, kind: Shutdown) -> ! {
        self.say(format!("{}: stopping services", if kind == Shutdown::Reboot { "reboot" } else { "power off" }));
        for &i in self.order.iter().rev() {
            if let Some(pid) = self.services[i].pid {
                self.services[i].stopping = true;
                let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGTERM).or_else(|_| kill(pid, Signal::SIGTERM));
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        while self.services.iter().any(|s| s.pid.is_some()) && Instant::now() < deadline {
            self.reap();
            for i in 0..self.services.len() {
                if self.services[i].output.is_some() {
                    self.read_output(i);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let stubborn: Vec<String> = self.services.iter().zip(&self.cfg.services).filter(|(s, _)| s.pid.is_some()).map(|(_, c)| c.name.clone()).collect();
        if !stubborn.is_empty() {
            self.say(format!("still running after {} s, killing: {}", STOP_GRACE.as_secs(), stubborn.join(", ")));
        }
        // Everything else (services' children, shells' jobs): TERM, a moment, KILL.
        let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
        std::thread::sleep(Duration::from_millis(200));
        let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
        while waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)).is_ok_and(|s| s != WaitStatus::StillAlive) {}
        sync();
        for problem in mounts::remount_read_only() {
            self.say(format!("WARNING: {problem}"));
        }
        sync();
        CONSOLE.text(format_args!("oxwrt: {}", if kind == Shutdown::Reboot { "rebooting" } else { "powering off" }));
        let mode = if kind == Shutdown::Reboot { RebootMode::RB_AUTOBOOT } else { RebootMode::RB_POWER_OFF };
        let e = match reboot(mode) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        LOG.error(format_args!("reboot(2) failed: {e}; halting here"));
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// Sends a line to a `logread -f` client if its socket takes it now (MSG_DONTWAIT: PID 1
/// never waits on a client; MSG_NOSIGNAL: no SIGPIPE). false: drop this client (it went
/// away, or took only part of the line, which would garble what follows).
fn send_nowait(stream: &UnixStream, bytes: &[u8]) -> bool {
    // SAFETY: bytes is valid for bytes.len() bytes; the fd is the stream's.
    let n = unsafe { libc::send(stream.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    if n < 0 {
        // Full: this line is lost to this client, the next may go.
        let e = std::io::Error::last_os_error().raw_os_error();
        return e == Some(libc::EAGAIN) || e == Some(libc::EWOULDBLOCK) || e == Some(libc::EINTR);
    }
    n as usize == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followers_never_block_pid_1() {
        let (a, b) = UnixStream::pair().unwrap();
        // A client that does not read: its buffer fills, lines are skipped, no wait.
        let started = Instant::now();
        let line = [b'x'; 1000];
        let sent = (0..2000).filter(|_| send_nowait(&a, &line)).count();
        assert_eq!(sent, 2000, "a full socket is not a reason to drop the client");
        assert!(started.elapsed() < Duration::from_secs(5));
        // A client that went away: dropped (EPIPE, and no SIGPIPE).
        drop(b);
        assert!(!send_nowait(&a, b"gone\n"));
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        let d: Vec<u64> = (1..=9).map(|n| backoff(n).as_millis() as u64).collect();
        assert_eq!(d, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    }

    #[test]
    fn describes_exits() {
        let pid = Pid::from_raw(7);
        assert_eq!(describe(&WaitStatus::Exited(pid, 3)), "exited with status 3");
        assert_eq!(describe(&WaitStatus::Signaled(pid, Signal::SIGKILL, false)), "killed by SIGKILL");
        assert!(failed(&WaitStatus::Exited(pid, 1)) && !failed(&WaitStatus::Exited(pid, 0)));
    }
}
