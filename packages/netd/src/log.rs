//! netd's log: one line per event on standard error (init keeps it in the log ring), each
//! starting with `netd: `; and a rate limit for what untrusted packets can make us say.

use std::time::{Duration, Instant};

/// `say!("created bridge {name}")` prints `netd: created bridge br-lan`.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => { eprintln!("netd: {}", format_args!($($t)*)) };
}

/// At most `burst` messages per minute; the rest are counted and summed up in the first
/// message of the next minute.
#[derive(Debug, Clone)]
pub struct RateLimited {
    burst: u32,
    window: Option<Instant>,
    sent: u32,
    suppressed: u32,
}

impl RateLimited {
    pub fn new(burst: u32) -> RateLimited {
        RateLimited { burst, window: None, sent: 0, suppressed: 0 }
    }

    /// Whether to log now; when a new minute starts with messages suppressed in the last,
    /// also returns how many.
    pub fn allow(&mut self, now: Instant) -> (bool, u32) {
        let mut dropped = 0;
        if self.window.is_none_or(|w| now.saturating_duration_since(w) >= Duration::from_secs(60)) {
            self.window = Some(now);
            self.sent = 0;
            dropped = std::mem::take(&mut self.suppressed);
        }
        if self.sent < self.burst {
            self.sent += 1;
            (true, dropped)
        } else {
            self.suppressed += 1;
            (false, dropped)
        }
    }

    /// Logs `msg` if allowed (with the count of those suppressed before it).
    pub fn say(&mut self, now: Instant, msg: impl FnOnce() -> String) {
        let (ok, dropped) = self.allow(now);
        if dropped > 0 {
            say!("({dropped} similar messages suppressed)");
        }
        if ok {
            say!("{}", msg());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
