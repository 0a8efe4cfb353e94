//! The system clock: the floor it never goes below (the image's build time, the time saved
//! on flash), stepping and slewing it, and the signals timed waits for between rounds.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The image's build time (SOURCE_DATE_EPOCH, which xtask sets for every device build);
/// 0 in a build without it.
pub fn build_time() -> u64 {
    oxwrt_log::build_time()
}

/// Seconds since 1970 now (0 if the clock is before it).
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `Mon Dec  7 18:40:58 UTC 2026`.
pub fn utc(secs: u64) -> String {
    oxwrt_log::format_utc(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// The saved time: decimal seconds on the file's first line; None when missing or not a
/// number (a torn write cannot happen: it is written with write_atomic).
pub fn read_saved(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().next()?.trim().parse().ok()
}

/// Saves the current time to `path`.
pub fn save(path: &Path) -> io::Result<()> {
    oxwrt_config::write_atomic(path, format!("{}\n", now_secs()).as_bytes())
}

/// Moves the clock forward to the newest of `build` and `saved` when it is behind it; the
/// time it was set to, or None when the clock was already past it.
pub fn floor(build: u64, saved: Option<u64>) -> Result<Option<u64>, String> {
    let target = build.max(saved.unwrap_or(0));
    let now = now_secs();
    if now >= target {
        return Ok(None);
    }
    set(Duration::from_secs(target))
        .map_err(|e| format!("the clock ({}) is behind the last known time ({}) and cannot be moved: {e} (timed needs CAP_SYS_TIME)", utc(now), utc(target)))?;
    Ok(Some(target))
}

/// Corrects the clock by `offset_us`: a step (clock_settime) when it is at least `step_at`,
/// else a slew (adjtime: the kernel runs the clock slightly faster or slower until the
/// offset is gone, so time never jumps backwards for a small correction).
pub fn correct(offset_us: i64, step_at: Duration) -> io::Result<()> {
    if offset_us.unsigned_abs() >= step_at.as_micros() as u64 {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let us = i128::try_from(now.as_micros()).unwrap_or(0) + i128::from(offset_us);
        let us = u64::try_from(us.max(0)).unwrap_or(u64::MAX);
        return set(Duration::from_micros(us));
    }
    let delta = libc::timeval { tv_sec: (offset_us / 1_000_000) as libc::time_t, tv_usec: (offset_us % 1_000_000) as libc::suseconds_t };
    // SAFETY: adjtime reads `delta` and writes nothing (old delta pointer is null).
    if unsafe { libc::adjtime(&delta, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set(to: Duration) -> io::Result<()> {
    let ts = libc::timespec { tv_sec: to.as_secs() as libc::time_t, tv_nsec: to.subsec_nanos() as _ };
    // SAFETY: clock_settime reads `ts` only.
    if unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &ts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What ended a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Timeout,
    /// SIGHUP: read the configuration again.
    Reload,
    /// SIGTERM or SIGINT.
    Stop,
}

/// SIGTERM, SIGINT and SIGHUP blocked (on the one thread), taken with sigtimedwait.
pub struct Signals {
    set: libc::sigset_t,
}

impl Signals {
    pub fn block() -> io::Result<Signals> {
        // SAFETY: a zeroed sigset_t is then initialised by sigemptyset; the calls only read
        // and write that set and this thread's mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                libc::sigaddset(&mut set, s);
            }
            let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if r != 0 {
                return Err(io::Error::from_raw_os_error(r));
            }
            Ok(Signals { set })
        }
    }

    /// Waits `limit` at most for one of the signals.
    pub fn wait(&self, limit: Duration) -> Signal {
        let ts = libc::timespec { tv_sec: limit.as_secs().min(i32::MAX as u64) as libc::time_t, tv_nsec: limit.subsec_nanos() as _ };
        // SAFETY: sigtimedwait reads the set and the timeout; no siginfo is asked for.
        let r = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &ts) };
        match r {
            libc::SIGHUP => Signal::Reload,
            libc::SIGTERM | libc::SIGINT => Signal::Stop,
            // EAGAIN: the time is up; EINTR (another signal): go on as after a timeout.
            _ => Signal::Timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_time_round_trips_and_garbage_is_ignored() {
        let dir = std::env::temp_dir().join(format!("timed-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("clock");
        assert_eq!(read_saved(&p), None);
        save(&p).unwrap();
        let t = read_saved(&p).unwrap();
        assert!(t.abs_diff(now_secs()) <= 1, "{t}");
        std::fs::write(&p, "not a time\n").unwrap();
        assert_eq!(read_saved(&p), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_clock_past_the_floor_is_left_alone() {
        // The host's clock is past 2001: nothing to do, nothing set (no privilege needed).
        assert_eq!(floor(1_000_000_000, Some(999)), Ok(None));
    }

    #[test]
    fn a_signal_ends_the_wait_and_the_time_limit_does_too() {
        let s = Signals::block().unwrap();
        let t = std::time::Instant::now();
        assert_eq!(s.wait(Duration::from_millis(50)), Signal::Timeout);
        assert!(t.elapsed() >= Duration::from_millis(45));
        // SAFETY: raise to this thread a signal it blocks: it stays pending for sigtimedwait.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGHUP) };
        assert_eq!(s.wait(Duration::from_secs(5)), Signal::Reload);
    }
}
