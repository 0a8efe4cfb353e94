//! oxwrt's init: PID 1 and the device's commands, one multi-call binary.
//!
//! As PID 1 (`/sbin/init`): mounts /proc, /sys, /dev, puts an overlay over the read-only
//! squashfs root (writable layer on the board's data partition, tmpfs when there is none),
//! mounts /tmp and /run, sets the hostname, brings up `lo`, then supervises the services of
//! `/lib/oxwrt/init.toml` ([`oxwrt_config::init`]): dependency order, restart with backoff, reaping,
//! a log ring of their output and kernel messages, a control socket, clean shutdown.
//! It prints `oxwrt: ready` on the console once every service has started.
//!
//! Linked under other names (symlinks in /sbin) it is `logread`, `reboot`, `poweroff`,
//! `service` ([`commands`]) and `oxsh`, the console shell ([`shell`]).

pub mod commands;
pub mod control;
pub mod log;
pub mod logring;
pub mod mounts;
pub mod pid1;
pub mod privs;
pub mod shell;
pub mod supervisor;
