//! sqmd's log: `sqmd: ...` lines on standard error (init keeps them in the log ring),
//! through `oxwrt_log` (a failed or blocked write is counted, never a panic or a wait).

use oxwrt_log::Logger;

pub static LOG: Logger = Logger::new("sqmd", &oxwrt_log::STDERR);

/// `say!("added CAKE on {dev}")` logs `sqmd: added CAKE on eth0`.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{ $crate::log::LOG.info(format_args!($($t)*)); }};
}
