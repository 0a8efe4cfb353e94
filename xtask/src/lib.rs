//! oxwrt's build orchestrator as a library: `cargo xtask` (main.rs) dispatches to these
//! modules, and the tests in xtask/tests drive them directly. Map: ARCHITECTURE.md.
//!
//! The tree reads as the data flow: [`cmd`] (one module per command) runs the [`steps`]
//! (kernel -> packages -> rootfs -> images), which call the [`tools`] (external commands,
//! QEMU, TFTP). Shared by all of them, the model at the top: [`flags`] (the command line),
//! [`board`] (targets/<board>.toml), [`context`] (where things are), [`size`], [`memory`]
//! (what a booted guest's RAM holds),
//! [`toolchain`] (what the build machine needs) and [`code_hash`] (the assembly code's hash).

pub mod board;
pub mod cmd;
pub mod code_hash;
pub mod context;
pub mod flags;
pub mod memory;
pub mod size;
pub mod steps;
pub mod toolchain;
pub mod tools;
