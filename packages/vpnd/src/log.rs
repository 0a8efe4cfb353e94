//! vpnd's log: `vpnd: ...` lines on standard error (init keeps them in the log ring), and
//! `vpn: ...` for the console command's errors, through `oxwrt_log` (never a panic or a
//! wait on a full or closed output).

use oxwrt_log::Logger;

/// The daemon's logger.
pub static LOG: Logger = Logger::new("vpnd", &oxwrt_log::STDERR);
/// The `vpn` command's error lines.
pub static CLI: Logger = Logger::new("vpn", &oxwrt_log::STDERR);

/// `say!("wg0: 2 peers added")` logs `vpnd: wg0: 2 peers added`.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{ $crate::log::LOG.info(format_args!($($t)*)); }};
}
