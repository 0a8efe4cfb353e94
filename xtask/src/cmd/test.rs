//! `cargo xtask test`: what CI runs. The workspace's tests, then the end-to-end checks: every
//! board's kernel built through the real pipeline and inspected (xtask/tests/kernels.rs),
//! then every board's images built, the QEMU boards' booted and the flash images checked
//! with independent tools (xtask/tests/system.rs), then the network checks: the images on
//! socket links played by the smoltcp harness (xtask/tests/network.rs). It first installs
//! what is missing (as `setup` does) and runs every test strictly: a missing prerequisite
//! fails the test (`OXWRT_STRICT_TESTS=1`, crates/testkit).

use crate::context::Context;
use crate::steps::kernel::{KernelOptions, Plan};
use anyhow::{bail, Result};
use std::process::Command;

pub fn run(ctx: &Context, no_e2e: bool) -> Result<()> {
    // What every board and every test needs, installed as `run` does (a newcomer's second
    // command works on a machine where the first never ran), and the kernel sources fetched.
    crate::cmd::doctor::setup(ctx, None, false)?;
    // A test whose prerequisite is missing fails here instead of skipping (crates/testkit).
    std::env::set_var("OXWRT_STRICT_TESTS", "1");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    step("workspace tests", Command::new(&cargo).current_dir(&ctx.root).args(["test", "--workspace", "--quiet"]))?;
    // The DHCP and DNS parsers under libFuzzer for a bounded time (installs cargo-fuzz
    // from crates.io the first time; see crates/netproto/fuzz/README.md).
    let secs = std::env::var("OXWRT_FUZZ_SECONDS").unwrap_or_else(|_| "30".into());
    step(
        &format!("fuzzing the DHCP and DNS parsers ({secs} s per target)"),
        Command::new("bash").current_dir(&ctx.root).arg("crates/netproto/fuzz/run.sh").arg(&secs),
    )?;
    if no_e2e {
        eprintln!("end-to-end checks skipped (--no-e2e)");
        return Ok(());
    }
    let repo = ctx.repo();
    for id in repo.board_ids()? {
        let board = repo.load_board(&id)?;
        if board.qemu.is_some() {
            crate::toolchain::require(ctx, &board, crate::toolchain::Purpose::Emulation)?;
        }
        let plan = Plan::new(ctx, &board, &KernelOptions::default())?;
        let info = plan.build()?;
        crate::steps::kernel::summarize(&board, &info, &plan.paths);
    }
    step(
        "end-to-end kernel checks",
        Command::new(&cargo).current_dir(&ctx.root).args(["test", "--quiet", "-p", "xtask", "--test", "kernels", "--", "--ignored", "--test-threads=1"]),
    )?;
    // Every board's images: the QEMU boards are booted, the routers' images checked with
    // independent tools and against their flash budget.
    for id in repo.board_ids()? {
        let board = repo.load_board(&id)?;
        let built = crate::cmd::build::build(ctx, &board)?;
        crate::cmd::build::summarize(ctx, &board, &built);
    }
    step(
        "end-to-end system checks",
        Command::new(&cargo).current_dir(&ctx.root).args(["test", "--quiet", "-p", "xtask", "--test", "system", "--", "--ignored", "--test-threads=1"]),
    )?;
    step(
        "end-to-end network checks",
        Command::new(&cargo).current_dir(&ctx.root).args(["test", "--quiet", "-p", "xtask", "--test", "network", "--", "--ignored", "--test-threads=1"]),
    )?;
    eprintln!("all tests passed");
    Ok(())
}

fn step(title: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("==> {title}: {}", crate::tools::exec::display(cmd));
    let status = cmd.status()?;
    if !status.success() {
        bail!("{title} failed ({status})");
    }
    Ok(())
}
