use super::*;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// (read end, write end); `nonblocking` sets O_NONBLOCK on the write end.
fn pipe(nonblocking: bool) -> (std::fs::File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two fds.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 just made them; each is owned once.
    let (r, w) = unsafe { (std::fs::File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    if nonblocking {
        // SAFETY: fcntl on our own fd.
        unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    }
    (r, w)
}

fn leak(sink: Sink) -> &'static Sink {
    Box::leak(Box::new(sink))
}

fn read_all(r: &mut std::fs::File) -> String {
    // SAFETY: fcntl on our own fd.
    unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn lines_have_tag_and_level_marker() {
    let (mut r, w) = pipe(false);
    let sink = leak(Sink::new(w.as_raw_fd()));
    let log = Logger::new("netd", sink);
    assert_eq!(log.info(format_args!("running")), Outcome::Written);
    log.warn(format_args!("no IPv6"));
    log.error(format_args!("cannot {}", "bind"));
    assert_eq!(read_all(&mut r), "netd: running\nnetd: WARNING: no IPv6\nnetd: ERROR: cannot bind\n");
    assert_eq!((Level::of("WARNING: x"), Level::of("ERROR: y"), Level::of("z")), (Level::Warn, Level::Error, Level::Info));
}

#[test]
fn a_closed_pipe_counts_failures_and_never_panics() {
    // Rust ignores SIGPIPE in main; the test harness does too, but be explicit.
    // SAFETY: setting a signal disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let (r, w) = pipe(false);
    drop(r);
    let sink = leak(Sink::new(w.as_raw_fd()));
    for i in 0..3 {
        assert_eq!(sink.line("init", Level::Info, format_args!("line {i}")), Outcome::Failed(libc::EPIPE));
    }
    assert_eq!((sink.failed(), sink.dropped()), (3, 0));
}

/// What a console that went away gives a writer that opened the terminal itself (not
/// through /dev/console, which Linux never hangs up: see xtask/tests/system.rs
/// `x86_init_keeps_supervising_when_its_console_is_closed_or_unplugged`): the kernel hangs
/// the terminal up and every write fails with EIO. Here a pseudo-terminal whose master
/// closes, on the host's kernel, with the non-blocking fd PID 1 uses.
#[test]
fn a_hung_up_terminal_fails_with_eio() {
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r on the fd just opened; the slave is
    // opened by the name the kernel gave it; each fd is owned once.
    let (master, slave) = unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = OwnedFd::from_raw_fd(m);
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let mut name = [0 as libc::c_char; 64];
        assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
        let s = libc::open(name.as_ptr(), libc::O_WRONLY | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC);
        assert!(s >= 0, "open the pty slave: {}", std::io::Error::last_os_error());
        (master, OwnedFd::from_raw_fd(s))
    };
    let sink = leak(Sink::new(slave.as_raw_fd()));
    assert_eq!(sink.line("init", Level::Info, format_args!("while the terminal is there")), Outcome::Written);
    drop(master);
    for i in 0..3 {
        assert_eq!(sink.line("init", Level::Info, format_args!("hung up {i}")), Outcome::Failed(libc::EIO));
    }
    assert_eq!((sink.failed(), sink.dropped()), (3, 0));
}

#[test]
fn a_bad_fd_fails_quietly() {
    let sink = Sink::new(-1);
    assert_eq!(sink.text(format_args!("nowhere")), Outcome::Failed(libc::EBADF));
    assert_eq!(sink.failed(), 1);
}

#[test]
fn a_full_pipe_drops_lines_without_waiting_and_says_so_later() {
    for nonblocking in [true, false] {
        // A blocking pipe too: poll says it is full, so the write is never tried.
        let (mut r, w) = pipe(nonblocking);
        let sink = leak(Sink::new(w.as_raw_fd()));
        let log = Logger::new("webd", sink);
        let line = "x".repeat(200);
        let started = Instant::now();
        let mut written = 0;
        for _ in 0..2000 {
            if log.info(format_args!("{line}")) == Outcome::Written {
                written += 1;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(5), "it waited");
        assert!(written > 0 && sink.dropped() > 0 && sink.failed() == 0, "written {written}, dropped {}", sink.dropped());
        assert_eq!(written + sink.dropped(), 2000);
        let mut text = read_all(&mut r);
        // Room again: the next line first says how many were lost (if that was not said yet).
        log.info(format_args!("after"));
        text += &read_all(&mut r);
        assert!(text.ends_with("webd: after\n"), "{text}");
        // Every line that got through is whole (one write, at most PIPE_BUF bytes), and the
        // announcements add up to what was dropped.
        let mut announced = 0;
        for l in text.lines() {
            if let Some(n) = l.strip_prefix("webd: WARNING: ").and_then(|l| l.split(' ').next()) {
                assert!(l.ends_with(" dropped (output blocked)"), "{l}");
                announced += n.parse::<u64>().unwrap();
            } else {
                assert!(l == format!("webd: {line}") || l == "webd: after", "nonblocking {nonblocking}: {l}");
            }
        }
        assert_eq!(announced, sink.dropped(), "nonblocking {nonblocking}");
    }
}

#[test]
fn long_lines_are_cut_on_a_character_boundary() {
    let (mut r, w) = pipe(false);
    let sink = leak(Sink::new(w.as_raw_fd()));
    let long = "é".repeat(MAX_LINE);
    sink.line("init", Level::Info, format_args!("{long}"));
    sink.line("init", Level::Info, format_args!("{}{}", "a".repeat(MAX_LINE - 10), "bcdefghijklmnop"));
    let text = read_all(&mut r);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert!(l.len() < MAX_LINE && l.len() > MAX_LINE - 8 && l.ends_with("..."), "{} {l}", l.len());
    }
    assert!(lines[0].starts_with("init: éé"));
}

#[test]
fn allows_a_burst_per_minute_and_counts_the_rest() {
    let t0 = Instant::now();
    let mut r = RateLimited::new(2);
    assert_eq!(r.allow(t0), (true, 0));
    assert_eq!(r.allow(t0), (true, 0));
    assert_eq!(r.allow(t0 + Duration::from_secs(10)), (false, 0));
    assert_eq!(r.allow(t0 + Duration::from_secs(20)), (false, 0));
    assert_eq!(r.allow(t0 + Duration::from_secs(60)), (true, 2));
}

#[test]
fn limits_are_per_kind_and_summed_up() {
    let (mut r, w) = pipe(false);
    let sink = leak(Sink::new(w.as_raw_fd()));
    let log: &'static Logger = Box::leak(Box::new(Logger::new("netd", sink)));
    let mut limits = Limited::new(log, 2);
    let t0 = Instant::now();
    for i in 0..5 {
        let peer = format!("10.0.0.{i}");
        crate::limited!(limits, t0, "dns: dropped a malformed query from {peer}");
    }
    // Another kind is not held back by the flood of the first.
    crate::limited!(limits, t0, "dns: no answer from {}", "192.0.2.1");
    assert_eq!(
        read_all(&mut r),
        "netd: dns: dropped a malformed query from 10.0.0.0\nnetd: dns: dropped a malformed query from 10.0.0.1\nnetd: dns: no answer from 192.0.2.1\n"
    );
    // A minute later any message brings the summary of the suppressed kind.
    crate::limited!(limits, t0 + Duration::from_secs(61), "dns: no answer from {}", "192.0.2.1");
    assert_eq!(read_all(&mut r), "netd: (3 more \"dns: dropped a malformed query from {peer}\" messages suppressed)\nnetd: dns: no answer from 192.0.2.1\n");
    // The number of kinds is bounded.
    const KINDS: [&str; 40] = [
        "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10", "k11", "k12", "k13", "k14", "k15", "k16", "k17", "k18", "k19", "k20", "k21", "k22",
        "k23", "k24", "k25", "k26", "k27", "k28", "k29", "k30", "k31", "k32", "k33", "k34", "k35", "k36", "k37", "k38", "k39",
    ];
    for k in KINDS {
        limits.say(k, t0, || k.to_string());
    }
    assert!(limits.kinds.len() <= Limited::MAX_KINDS);
}
