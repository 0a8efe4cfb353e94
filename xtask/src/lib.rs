//! oxwrt's build orchestrator as a library: `cargo xtask` (main.rs) dispatches to these
//! modules, and the tests in xtask/tests drive them directly. Map: ARCHITECTURE.md.

pub mod bench;
pub mod board;
pub mod boards_cmd;
pub mod build_cmd;
pub mod code_hash;
pub mod context;
pub mod cross;
pub mod exec;
pub mod flags;
pub mod flash_cmd;
pub mod flash_image;
pub mod image;
pub mod inspect_cmd;
pub mod kernel;
pub mod kernel_cmd;
pub mod oxpkg;
pub mod packages;
pub mod qemu;
pub mod rootfs;
pub mod run_cmd;
pub mod size;
pub mod test_cmd;
pub mod tftp;
pub mod toolchain;
