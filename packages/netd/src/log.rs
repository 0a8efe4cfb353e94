//! netd's log: one line per event on standard error (init keeps it in the log ring), each
//! starting with `netd: `, through `oxwrt_log` (a failed or blocked write is counted, never
//! a panic or a wait); and per-kind rate limits for what untrusted packets can make us say.

use oxwrt_log::{Limited, Logger};

/// netd's logger: `netd: ...` on standard error.
pub static LOG: Logger = Logger::new("netd", &oxwrt_log::STDERR);

/// `say!("created bridge {name}")` logs `netd: created bridge br-lan`.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{ $crate::log::LOG.info(format_args!($($t)*)); }};
}

/// At most `burst` messages of each kind per minute (the kind: the format string of
/// `oxwrt_log::limited!`); the rest are counted and summed up once the minute is over.
pub fn rate_limited(burst: u32) -> Limited {
    Limited::new(&LOG, burst)
}
