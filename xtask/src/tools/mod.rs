//! Host tools the commands and steps drive: [`exec`] (external commands, logged),
//! [`qemu`] (command lines for a board's images) and [`tftp`] (a TFTP client for
//! bootloader recovery). They know nothing of the build pipeline.

pub mod exec;
pub mod qemu;
pub mod tftp;
