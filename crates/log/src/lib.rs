//! oxwrt's device runtime, shared by init and the services: logging that never panics and
//! never waits ([`Sink`], [`Logger`]), per-kind rate limits ([`Limited`]), random bytes
//! ([`rng`]), the date as text ([`format_utc`]) and a service's signals and watched
//! configuration directory ([`control`]).
//!
//! # Lines
//!
//! One event, one line: `TAG: MESSAGE`, with a level marker for the two that need
//! attention: `netd: ERROR: ...`, `init: WARNING: ...`; informational lines have none
//! (`webd: listening on [::]:80`). Services write them to standard error, which init reads
//! from a pipe into its log ring (dropping the service's own `TAG: `, since the ring records
//! the source: `logread` shows `[   12.345] netd: created bridge br-lan`); init writes its
//! own lines and the services' errors and warnings to the console, so a line an operator
//! must see on the serial console needs a marker (init's `log::to_console`).
//!
//! # Write errors and full outputs
//!
//! `eprintln!` panics when the write fails (EPIPE, EIO on a console that went away), and
//! with `panic = "abort"` a panic in PID 1 is a kernel panic. A [`Sink`] instead
//! counts the failure ([`Sink::failed`]) and goes on. Nor does it wait: each line is
//! formatted into a fixed buffer (no allocation, at most [`MAX_LINE`] bytes, longer ones are
//! cut and end in `...`), then written with one write(2) only if the fd takes it now: on a
//! blocking fd `poll(2)` must say it is writable, on an `O_NONBLOCK` fd the write itself says
//! EAGAIN. When it does not (the reader is behind, a serial console is flow-controlled) the
//! line is dropped and counted ([`Sink::dropped`]), and the next line that gets through is
//! preceded by `TAG: WARNING: N log lines dropped (output blocked)`.
//!
//! Why poll and not `O_NONBLOCK` everywhere: a service's stderr is a pipe shared with its
//! stdout and with the programs it starts, and `O_NONBLOCK` is a flag of that shared open
//! file, so setting it would make *their* writes fail with EAGAIN. A pipe that polls
//! writable has a free page, and a line (at most `MAX_LINE` <= `PIPE_BUF` bytes, one
//! write(2), so never interleaved with another writer's) fits in it, so the write does not
//! block. A terminal polls writable only when less than 256 bytes wait in it, and may
//! then have less room than a line, so PID 1 writes to a console fd of its own, opened
//! with `O_NONBLOCK` ([`Sink::set_fd`]): the kernel takes what fits in the console's buffer
//! (kilobytes) and only when it is full is the line (or its rest) dropped; a line cut short
//! is ended by a newline before the next one.
//!
//! A write to a pipe nobody reads fails with EPIPE rather than killing the process because
//! Rust's runtime ignores SIGPIPE before `main` (and init blocks it for its signalfd).

/// The process's arguments as strings, for an applet's entry function: an argument that is not
/// UTF-8 is converted lossily (U+FFFD) rather than panicking, as `std::env::args` would.
pub fn args() -> Vec<String> {
    std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect()
}

use std::fmt::{self, Write as _};
use std::os::fd::RawFd;
// 32-bit counters: MIPS32 (the WRT54G) has no 64-bit atomics.
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod control;
pub mod rng;
mod time;
pub use time::{civil, format_iso, format_utc, Civil};

/// The longest line written, newline included (`PIPE_BUF` is 4096 on Linux; init's reader
/// cuts lines at 1024 bytes, so a longer line would come out in pieces anyway).
pub const MAX_LINE: usize = 1024;

/// How important a line is; the marker after the tag says it (`ERROR: `, `WARNING: `).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
}

impl Level {
    pub fn marker(self) -> &'static str {
        match self {
            Level::Error => "ERROR: ",
            Level::Warn => "WARNING: ",
            Level::Info => "",
        }
    }

    /// The level a line says it has (its marker after the tag): what init uses for lines
    /// read from services.
    pub fn of(message: &str) -> Level {
        if message.starts_with(Level::Error.marker()) {
            Level::Error
        } else if message.starts_with(Level::Warn.marker()) {
            Level::Warn
        } else {
            Level::Info
        }
    }
}

/// What became of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Written,
    /// The fd would have blocked: not written (or only its start), counted in `dropped`.
    Dropped,
    /// write(2) or poll(2) failed with this errno: counted in `failed`.
    Failed(i32),
}

/// Where lines go: an fd, with the counts of lines dropped and failed. Shareable between
/// threads (a `static`); each line is one write(2).
#[derive(Debug)]
pub struct Sink {
    fd: AtomicI32,
    dropped: AtomicU32,
    failed: AtomicU32,
    /// Drops already announced in-band.
    announced: AtomicU32,
    /// A line was cut short: the next one starts with a newline.
    cut: AtomicBool,
}

/// Standard error (fd 2): where services log.
pub static STDERR: Sink = Sink::new(2);

impl Sink {
    pub const fn new(fd: RawFd) -> Sink {
        Sink { fd: AtomicI32::new(fd), dropped: AtomicU32::new(0), failed: AtomicU32::new(0), announced: AtomicU32::new(0), cut: AtomicBool::new(false) }
    }

    /// Writes to `fd` from now on (the caller keeps it open for as long as the sink is used).
    pub fn set_fd(&self, fd: RawFd) {
        self.fd.store(fd, Ordering::Relaxed);
    }

    pub fn fd(&self) -> RawFd {
        self.fd.load(Ordering::Relaxed)
    }

    /// Lines (or the rest of lines) not written because the fd would have blocked.
    pub fn dropped(&self) -> u64 {
        u64::from(self.dropped.load(Ordering::Relaxed))
    }

    /// Lines not written because writing failed (EPIPE, EIO, EBADF, ...).
    pub fn failed(&self) -> u64 {
        u64::from(self.failed.load(Ordering::Relaxed))
    }

    /// `TAG: ` + the level's marker + the message, as one line.
    pub fn line(&self, tag: &str, level: Level, message: fmt::Arguments<'_>) -> Outcome {
        let dropped = self.dropped();
        let n = dropped - u64::from(self.announced.load(Ordering::Relaxed)).min(dropped);
        if n > 0 {
            // Not a line of its own in the counts: if it cannot go, neither can this line.
            let s = if n == 1 { "" } else { "s" };
            match self.write(format_args!("{tag}: {}{n} log line{s} dropped (output blocked)", Level::Warn.marker())) {
                Outcome::Written => self.announced.store(dropped as u32, Ordering::Relaxed),
                other => return self.count(other),
            }
        }
        self.text(format_args!("{tag}: {}{message}", level.marker()))
    }

    /// The text as it is, plus a newline (command-line errors, console echoes of lines that
    /// already carry their tag).
    pub fn text(&self, text: fmt::Arguments<'_>) -> Outcome {
        let outcome = self.write(text);
        self.count(outcome)
    }

    fn write(&self, text: fmt::Arguments<'_>) -> Outcome {
        let mut buf = LineBuf::new();
        if self.cut.load(Ordering::Relaxed) {
            let _ = buf.write_char('\n');
        }
        let _ = buf.write_fmt(text);
        let (outcome, partly) = write_nowait(self.fd(), buf.finish());
        self.cut.store(outcome != Outcome::Written && partly, Ordering::Relaxed);
        outcome
    }

    fn count(&self, outcome: Outcome) -> Outcome {
        match outcome {
            Outcome::Written => {}
            Outcome::Dropped => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Failed(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        outcome
    }
}

/// A fixed buffer that keeps the first `MAX_LINE - 1` bytes of what is written to it (on a
/// character boundary) and marks a cut with `...`.
struct LineBuf {
    buf: [u8; MAX_LINE],
    len: usize,
    cut: bool,
}

impl LineBuf {
    fn new() -> LineBuf {
        LineBuf { buf: [0; MAX_LINE], len: 0, cut: false }
    }

    /// The line with its newline.
    fn finish(&mut self) -> &[u8] {
        // After a cut, len <= MAX_LINE - 4: room for `...` and the newline.
        if self.cut {
            self.buf[self.len..self.len + 3].copy_from_slice(b"...");
            self.len += 3;
        }
        self.buf[self.len] = b'\n';
        &self.buf[..self.len + 1]
    }
}

impl fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Ok(());
        }
        if self.len + s.len() < MAX_LINE {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            return Ok(());
        }
        // Too long: keep what fits before `...` and the newline, on a character boundary.
        self.cut = true;
        let limit = MAX_LINE - 4;
        if self.len > limit {
            self.len = limit;
            while self.len > 0 && (self.buf[self.len] & 0xc0) == 0x80 {
                self.len -= 1;
            }
        } else {
            let mut end = limit - self.len;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.buf[self.len..self.len + end].copy_from_slice(&s.as_bytes()[..end]);
            self.len += end;
        }
        Ok(())
    }
}

/// Writes all of `bytes` if the fd takes them without waiting. EINTR is retried (a few
/// times: this must not loop forever either). Also says whether some bytes went out.
fn write_nowait(fd: RawFd, mut bytes: &[u8]) -> (Outcome, bool) {
    if fd < 0 {
        return (Outcome::Failed(libc::EBADF), false);
    }
    // SAFETY: F_GETFL on any fd number is harmless.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return (Outcome::Failed(errno()), false);
    }
    let nonblocking = flags & libc::O_NONBLOCK != 0;
    let mut interrupted = 0;
    let mut wrote_some = false;
    while !bytes.is_empty() {
        if nonblocking {
            // write(2) itself says EAGAIN; a terminal takes what fits in its buffer.
            match write_once(fd, bytes, &mut interrupted) {
                Ok(0) => return (Outcome::Failed(libc::EIO), wrote_some),
                Ok(n) => {
                    wrote_some = true;
                    bytes = bytes.get(n..).unwrap_or_default();
                    continue;
                }
                Err(o) => return (o, wrote_some),
            }
        }
        let mut p = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, 0) };
        if r < 0 {
            let e = errno();
            if e == libc::EINTR && interrupted < 8 {
                interrupted += 1;
                continue;
            }
            return (Outcome::Failed(e), wrote_some);
        }
        if p.revents & libc::POLLNVAL != 0 {
            return (Outcome::Failed(libc::EBADF), wrote_some);
        }
        // POLLERR/POLLHUP: the write below says what is wrong.
        if r == 0 {
            return (Outcome::Dropped, wrote_some);
        }
        match write_once(fd, bytes, &mut interrupted) {
            Ok(0) => return (Outcome::Failed(libc::EIO), wrote_some),
            Ok(n) => {
                wrote_some = true;
                bytes = bytes.get(n..).unwrap_or_default();
            }
            Err(o) => return (o, wrote_some),
        }
    }
    (Outcome::Written, true)
}

/// One write(2), EINTR retried while `interrupted` < 8; Err: what became of the line.
fn write_once(fd: RawFd, bytes: &[u8], interrupted: &mut u32) -> Result<usize, Outcome> {
    loop {
        // SAFETY: bytes is valid for bytes.len() bytes.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = errno();
        if e == libc::EINTR && *interrupted < 8 {
            *interrupted += 1;
            continue;
        }
        if e == libc::EAGAIN || e == libc::EWOULDBLOCK {
            return Err(Outcome::Dropped);
        }
        return Err(Outcome::Failed(e));
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// A tag and a sink: `static LOG: Logger = Logger::new("netd", &oxwrt_log::STDERR);`
/// then `LOG.info(format_args!("running"))`.
#[derive(Debug)]
pub struct Logger {
    tag: &'static str,
    sink: &'static Sink,
}

impl Logger {
    pub const fn new(tag: &'static str, sink: &'static Sink) -> Logger {
        Logger { tag, sink }
    }

    pub fn tag(&self) -> &'static str {
        self.tag
    }

    pub fn sink(&self) -> &'static Sink {
        self.sink
    }

    pub fn log(&self, level: Level, message: fmt::Arguments<'_>) -> Outcome {
        self.sink.line(self.tag, level, message)
    }

    pub fn error(&self, message: fmt::Arguments<'_>) -> Outcome {
        self.log(Level::Error, message)
    }

    pub fn warn(&self, message: fmt::Arguments<'_>) -> Outcome {
        self.log(Level::Warn, message)
    }

    pub fn info(&self, message: fmt::Arguments<'_>) -> Outcome {
        self.log(Level::Info, message)
    }
}

/// At most `burst` messages per minute; the rest are counted and summed up when the next
/// minute starts.
#[derive(Debug, Clone)]
pub struct RateLimited {
    burst: u32,
    window: Option<Instant>,
    sent: u32,
    suppressed: u32,
}

const WINDOW: Duration = Duration::from_secs(60);

impl RateLimited {
    pub fn new(burst: u32) -> RateLimited {
        RateLimited { burst, window: None, sent: 0, suppressed: 0 }
    }

    /// Whether to log now; when a new minute starts with messages suppressed in the last,
    /// also returns how many.
    pub fn allow(&mut self, now: Instant) -> (bool, u32) {
        let dropped = self.roll(now);
        if self.sent < self.burst {
            self.sent += 1;
            (true, dropped)
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
            (false, dropped)
        }
    }

    /// Starts a new window if the last one is over; returns what it suppressed.
    fn roll(&mut self, now: Instant) -> u32 {
        if self.window.is_none_or(|w| now.saturating_duration_since(w) >= WINDOW) {
            self.window = Some(now);
            self.sent = 0;
            return std::mem::take(&mut self.suppressed);
        }
        0
    }
}

/// Rate limits per kind of message (the kind is a `&'static str`, normally the format
/// string: see [`limited!`]), so a flood of one kind does not hide the others. Kinds beyond
/// [`Limited::MAX_KINDS`] share one limit.
#[derive(Debug)]
pub struct Limited {
    logger: &'static Logger,
    burst: u32,
    kinds: Vec<(&'static str, RateLimited)>,
}

impl Limited {
    pub const MAX_KINDS: usize = 32;
    const OTHER: &'static str = "(other messages)";

    pub const fn new(logger: &'static Logger, burst: u32) -> Limited {
        Limited { logger, burst, kinds: Vec::new() }
    }

    /// See [`RateLimited::allow`], for this kind of message.
    pub fn allow(&mut self, kind: &'static str, now: Instant) -> (bool, u32) {
        let i = match self.kinds.iter().position(|(k, _)| *k == kind) {
            Some(i) => i,
            None if self.kinds.len() < Self::MAX_KINDS => {
                self.kinds.push((kind, RateLimited::new(self.burst)));
                self.kinds.len() - 1
            }
            None => match self.kinds.iter().position(|(k, _)| *k == Self::OTHER) {
                Some(i) => i,
                None => {
                    // Replace the last kind: its count goes to the shared one.
                    let last = self.kinds.len() - 1;
                    self.kinds[last].0 = Self::OTHER;
                    last
                }
            },
        };
        self.kinds[i].1.allow(now)
    }

    /// Logs `message` (made only if it is logged) at `level` unless this kind is over its
    /// limit; first the summaries of every kind whose minute is over with messages
    /// suppressed: `TAG: (N more "KIND" messages suppressed)`.
    pub fn log(&mut self, level: Level, kind: &'static str, now: Instant, message: impl FnOnce() -> String) {
        let (ok, dropped) = self.allow(kind, now);
        if dropped > 0 {
            self.summary(kind, dropped);
        }
        for i in 0..self.kinds.len() {
            let (k, limit) = &mut self.kinds[i];
            let k = *k;
            if k != kind && limit.suppressed > 0 {
                let n = limit.roll(now);
                if n > 0 {
                    self.summary(k, n);
                }
            }
        }
        if ok {
            self.logger.log(level, format_args!("{}", message()));
        }
    }

    pub fn say(&mut self, kind: &'static str, now: Instant, message: impl FnOnce() -> String) {
        self.log(Level::Info, kind, now, message)
    }

    fn summary(&self, kind: &str, n: u32) {
        self.logger.info(format_args!("({n} more \"{kind}\" message{} suppressed)", if n == 1 { "" } else { "s" }));
    }
}

/// `limited!(limits, now, "dns: no answer from {server}")`: logs (info) through a
/// [`Limited`], the format string being the kind of message.
#[macro_export]
macro_rules! limited {
    ($limits:expr, $now:expr, $fmt:literal $($args:tt)*) => {
        $limits.say($fmt, $now, || format!($fmt $($args)*))
    };
}

#[cfg(test)]
mod tests;
