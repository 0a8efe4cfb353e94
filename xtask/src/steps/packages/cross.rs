//! Cross-compiling the device crates for a board's CPU: Debian's Rust (std built from
//! source with -Zbuild-std) and zig as the linker of static musl binaries
//! (cargo-zigbuild), with the workspace's `device` profile (size first). See
//! docs/building-elsewhere.md for why not rustup targets or `cross`.

use crate::board::Board;
use crate::context::Context;
use crate::toolchain::{self, Purpose};
use anyhow::{Context as _, Result};
use std::path::PathBuf;
use std::process::Command;

/// Where the board's device binaries land: a cargo target dir per (target, CPU), so that
/// boards sharing both share the build.
pub fn target_dir(ctx: &Context, board: &Board) -> PathBuf {
    ctx.root.join("target").join("device").join(format!("{}-{}{}", board.rust.target, board.rust.cpu, board.rust.features.concat()))
}

/// The rustc flags for the board: CPU, features, static non-PIE (zig's musl crt objects;
/// PIE crashes on MIPS32r1, see docs/toolchain.md), and source paths remapped so
/// the binaries do not depend on where the repository or cargo's registry live.
pub fn rustflags(ctx: &Context, board: &Board) -> Vec<String> {
    let mut f = vec!["-C".to_string(), format!("target-cpu={}", board.rust.cpu)];
    for feat in &board.rust.features {
        f.extend(["-C".into(), format!("target-feature={feat}")]);
    }
    f.extend(["-C", "relocation-model=static", "-C", "link-self-contained=no"].map(String::from));
    // Size (measured in docs/toolchain.md, "Size"): no file/line strings for panics, and a
    // panic traps at once instead of formatting a message.
    f.extend(["-Z", "location-detail=none", "-Z", "unstable-options", "-C", "panic=immediate-abort"].map(String::from));
    f.push(format!("--remap-path-prefix={}=/oxwrt", ctx.root.display()));
    if let Some(home) = cargo_home() {
        f.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    f
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

/// Runs `cargo build` for the board with `args` (`-p CRATE`, `--features ...`) and `envs`;
/// `what` names the build in the log and in errors. Returns the directory holding the
/// binaries.
pub fn build(ctx: &Context, board: &Board, what: &str, args: &[String], envs: &[(&str, String)], epoch: u64) -> Result<PathBuf> {
    toolchain::require(ctx, board, Purpose::Userland)?;
    let dir = target_dir(ctx, board);
    let mut cmd = Command::new("cargo-zigbuild");
    cmd.current_dir(&ctx.root)
        .args([
            "build",
            "--profile",
            "device",
            "--locked",
            "-Zbuild-std=std,panic_abort",
            "-Zbuild-std-features=optimize_for_size",
            "--target",
            &board.rust.target,
        ])
        // Debian's cargo/rustc (they have the std sources) ahead of rustup's.
        .env("PATH", format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default()))
        .env("CARGO", "/usr/bin/cargo")
        .env("RUSTC", "/usr/bin/rustc")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags(ctx, board).join("\x1f"))
        .env("RUSTC_BOOTSTRAP", "1")
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("CARGO_TARGET_DIR", &dir)
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    ctx.runner(&board.id)
        .run("packages-cargo", &format!("cargo build ({}: {what})", board.rust.target), &mut cmd)
        .with_context(|| format!("cross-compiling {what} for {} failed", board.id))?;
    Ok(dir.join(&board.rust.target).join("device"))
}
