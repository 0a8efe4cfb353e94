//! `cargo xtask test`: what CI runs. It first installs what is missing (as `setup` does) and
//! runs every test strictly: a missing prerequisite fails the test (`OXWRT_STRICT_TESTS=1`,
//! crates/testkit). Then the workspace's tests, the fuzzing of the DHCP, DNS and netlink parsers and
//! the boards' package archives (cross builds), while every board's kernel is built through
//! the real pipeline beside them (the fuzzing runs for a fixed time and the device crates
//! link with LTO on one core, so the two lines share the 2 cores well); then the end-to-end checks: the kernels inspected (xtask/tests/kernels.rs), every
//! board's images built, the QEMU boards booted and the flash images checked with
//! independent tools (xtask/tests/system.rs), then the network checks: the images on socket
//! links played by the smoltcp harness (xtask/tests/network.rs), then the lab checks (the
//! routers between real Linux stacks in network namespaces, xtask/tests/lab.rs, and IPv6
//! through them, xtask/tests/lab_ipv6.rs), the shaper (xtask/tests/sqm.rs), the web UI in
//! a real browser (xtask/tests/webui.rs), the VPN (xtask/tests/vpn.rs). At the end, the time of
//! each stage (docs/benchmarks.md, "CI").

use crate::context::Context;
use crate::steps::kernel::{KernelOptions, Plan};
use anyhow::{anyhow, bail, Result};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn run(ctx: &Context, no_e2e: bool) -> Result<()> {
    let started = Instant::now();
    let mut times = Vec::new();
    // What every board and every test needs, installed as `run` does (a newcomer's second
    // command works on a machine where the first never ran), and the kernel sources fetched.
    timed(&mut times, "setup (install what is missing, fetch kernel sources)", || crate::cmd::doctor::setup(ctx, None, false))?;
    // A test whose prerequisite is missing fails here instead of skipping (crates/testkit).
    std::env::set_var("OXWRT_STRICT_TESTS", "1");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (tests, kernels) = std::thread::scope(|s| {
        let kernels = (!no_e2e).then(|| s.spawn(|| timed_owned("kernels of every board (beside the tests)", || build_kernels(ctx))));
        let mut t = Vec::new();
        let tests = (|| -> Result<()> {
            timed(&mut t, "workspace tests", || step("workspace tests", Command::new(&cargo).current_dir(&ctx.root).args(["test", "--workspace", "--quiet"])))?;
            // The wire-format parsers under libFuzzer for a bounded time each (installs
            // cargo-fuzz from crates.io the first time): DHCP and DNS
            // (crates/netproto/fuzz/README.md), netlink (crates/netlink/fuzz/README.md).
            let secs = std::env::var("OXWRT_FUZZ_SECONDS").unwrap_or_else(|_| "30".into());
            for (what, crate_dir) in [("DHCP and DNS", "crates/netproto"), ("netlink", "crates/netlink")] {
                let title = format!("fuzzing the {what} parsers ({secs} s per target)");
                let script = format!("{crate_dir}/fuzz/run.sh");
                timed(&mut t, &format!("fuzzing {what} (build + targets)"), || {
                    step(&title, Command::new("bash").current_dir(&ctx.root).arg(&script).arg(&secs))
                })?;
            }
            if no_e2e {
                return Ok(());
            }
            // The boards' userland (cross builds; LTO links on one core) while the kernels
            // still build: `build` later finds the archives up to date.
            timed(&mut t, "package archives of every board", || {
                let repo = ctx.repo();
                for id in repo.board_ids()? {
                    crate::cmd::build::archives_of(ctx, &repo.load_board(&id)?)?;
                }
                Ok(())
            })
        })();
        let kernels = kernels.map(|h| h.join().unwrap_or_else(|_| (Err(anyhow!("the kernel build thread panicked")), Duration::ZERO)));
        ((tests, t), kernels)
    });
    times.extend(tests.1);
    if let Some((result, took)) = kernels {
        times.push(("kernels of every board (beside the tests)".into(), took));
        // Both results count; the tests' failure is reported first.
        tests.0.and(result)?;
    } else {
        tests.0?;
    }
    if no_e2e {
        eprintln!("end-to-end checks skipped (--no-e2e)");
        report(&times, started);
        return Ok(());
    }
    let e2e = |name: &str| {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&ctx.root).args(["test", "--quiet", "-p", "xtask", "--test", name, "--", "--ignored", "--test-threads=1"]);
        cmd
    };
    timed(&mut times, "end-to-end kernel checks", || step("end-to-end kernel checks", &mut e2e("kernels")))?;
    // Every board's images: the QEMU boards are booted, the routers' images checked with
    // independent tools and against their flash budget.
    timed(&mut times, "images of every board", || {
        let repo = ctx.repo();
        for id in repo.board_ids()? {
            let board = repo.load_board(&id)?;
            let built = crate::cmd::build::build(ctx, &board)?;
            crate::cmd::build::summarize(ctx, &board, &built);
        }
        Ok(())
    })?;
    timed(&mut times, "end-to-end system checks", || step("end-to-end system checks", &mut e2e("system")))?;
    timed(&mut times, "end-to-end network checks", || step("end-to-end network checks", &mut e2e("network")))?;
    timed(&mut times, "end-to-end shaper checks", || step("end-to-end shaper checks (sqmd)", &mut e2e("sqm")))?;
    // The routers between real Linux stacks in network namespaces (xtask/src/tools/lab.rs).
    timed(&mut times, "end-to-end lab checks", || step("end-to-end lab checks", &mut e2e("lab")))?;
    // IPv6 through the booted routers: radvd and dhcpd -6 on the lab's ISP (xtask/tests/lab_ipv6.rs).
    timed(&mut times, "end-to-end IPv6 lab checks", || step("end-to-end IPv6 lab checks", &mut e2e("lab_ipv6")))?;
    // The web UI in headless chromium, driven from the lab's laptop (xtask/tests/webui.rs).
    timed(&mut times, "end-to-end web UI checks", || step("end-to-end web UI checks", &mut e2e("webui")))?;
    // vpnd: road warriors with wg-quick + wireguard-go, 500 peers (xtask/tests/vpn.rs).
    timed(&mut times, "end-to-end VPN checks", || step("end-to-end VPN checks", &mut e2e("vpn")))?;
    eprintln!("all tests passed");
    report(&times, started);
    Ok(())
}

/// Every board's kernel (boards with the same inputs share one build).
fn build_kernels(ctx: &Context) -> Result<()> {
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
    Ok(())
}

fn timed(times: &mut Vec<(String, Duration)>, name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let (result, took) = timed_owned(name, f);
    times.push((name.to_string(), took));
    result
}

fn timed_owned(name: &str, f: impl FnOnce() -> Result<()>) -> (Result<()>, Duration) {
    let t = Instant::now();
    let result = f();
    let took = t.elapsed();
    eprintln!("<== {name}: {} in {}", if result.is_ok() { "done" } else { "FAILED" }, minutes(took));
    (result, took)
}

fn minutes(d: Duration) -> String {
    format!("{}:{:02}", d.as_secs() / 60, d.as_secs() % 60)
}

/// The stages and their wall time (the kernel line overlaps the two before it).
fn report(times: &[(String, Duration)], started: Instant) {
    eprintln!("stage times (min:s):");
    for (name, took) in times {
        eprintln!("  {:>6}  {name}", minutes(*took));
    }
    eprintln!("  {:>6}  total", minutes(started.elapsed()));
}

fn step(title: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("==> {title}: {}", crate::tools::exec::display(cmd));
    let status = cmd.status()?;
    if !status.success() {
        bail!("{title} failed ({status})");
    }
    Ok(())
}
