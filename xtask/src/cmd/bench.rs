//! `cargo xtask bench`: build-time measurements, written to docs/benchmarks.md.
//!
//! `bench kernel` times, per board, a cold kernel build (empty cache, fresh tree: unpack,
//! patch, configure, compile) and a no-op rebuild (`cargo xtask kernel` with nothing
//! changed, as a user runs it). `bench build` and `bench flash` record whole builds and the
//! flash budget; `bench memory` where each QEMU board's RAM goes after boot; `bench net`
//! runs the network benchmark (xtask/tests/bench_net.rs).
//! Benchmarks measure; tests never assert timings.

use crate::context::Context;
use crate::size::Size;
use crate::steps::kernel::{KernelOptions, Plan};
use anyhow::{bail, Context as _, Result};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

pub fn kernel(ctx: &Context, board: Option<&str>) -> Result<()> {
    let boards = crate::cmd::boards(ctx, board)?;
    let bench_cache = ctx.out.join("bench-cache");
    let mut rows = Vec::new();
    for b in &boards {
        // Cold: a private, empty cache and no tree or objects.
        if bench_cache.exists() {
            std::fs::remove_dir_all(&bench_cache)?;
        }
        let cold_ctx = Context { cache: bench_cache.clone(), ..ctx.clone() };
        let plan = Plan::new(&cold_ctx, b, &KernelOptions::default())?;
        for dir in [&plan.paths.tree, &plan.paths.obj] {
            if dir.exists() {
                std::fs::remove_dir_all(dir)?;
            }
        }
        let t = Instant::now();
        let info = plan.build()?;
        let cold = t.elapsed().as_secs_f64();
        // No-op: the command a user runs, against the now-filled cache.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let t = Instant::now();
        let status = Command::new(&cargo).current_dir(&ctx.root).env("OXWRT_CACHE_DIR", &bench_cache).args(["xtask", "kernel", "--board", &b.id]).status()?;
        let noop = t.elapsed().as_secs_f64();
        if !status.success() {
            bail!("the no-op rebuild of {} failed", b.id);
        }
        // Keep the result: the user's cache gets the entry the benchmark built.
        let entry = plan.cache_entry();
        let keep = ctx.cache.join(entry.strip_prefix(&bench_cache)?);
        if !keep.exists() {
            crate::steps::kernel::copy_files(&entry, &keep)?;
        }
        rows.push(format!(
            "| {} | {} {} | {} | {:.0} s | {:.1} s |",
            b.id,
            info.image,
            format!("{:?}", b.kernel.compression).to_lowercase(),
            Size(info.image_bytes),
            cold,
            noop
        ));
    }
    std::fs::remove_dir_all(&bench_cache).ok();
    let cpus = ctx.jobs;
    let today = crate::tools::exec::capture(Command::new("date").args(["-u", "+%Y-%m-%d"])).unwrap_or_default();
    let section = format!(
        "Measured {today} on {cpus} CPU(s) with `cargo xtask bench kernel`. Cold: empty cache and no tree (unpack, patch, configure, compile). \
         No-op: `cargo xtask kernel --board B` again with nothing changed (includes cargo's own start-up).\n\n\
         | board | image | size | cold build | no-op rebuild |\n|---|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    write_section(&ctx.root.join("docs/benchmarks.md"), "kernel", &section)?;
    println!("{section}");
    Ok(())
}

/// `cargo xtask bench net`: the router's network on both QEMU boards (netd's idle memory,
/// WAN and LAN lease times, NAT throughput, added latency), measured by the ignored test
/// xtask/tests/bench_net.rs on the network harness (crates/nettest, a dev-dependency), which
/// writes the `net` section of docs/benchmarks.md. Needs the images built. Release: in a
/// debug build the harness's own smoltcp hosts cap a transfer at about 35 Mbit/s.
pub fn net(ctx: &Context) -> Result<()> {
    bench_test(ctx, "bench_net", true)
}

/// `cargo xtask bench web`: the web interface in headless chromium against both QEMU boards
/// (page weight, time to first byte and page load per page, login cost, webd's memory idle
/// and with four browsers), by the ignored test xtask/tests/bench_web.rs, which writes the
/// `web` section of docs/benchmarks.md. Needs the images built.
pub fn web(ctx: &Context) -> Result<()> {
    bench_test(ctx, "bench_web", false)
}

/// Runs the ignored benchmark test `name` of xtask (a benchmark that boots routers in the
/// lab lives with the tests: it shares their harness).
fn bench_test(ctx: &Context, name: &str, release: bool) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&ctx.root).arg("test");
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .args(["-p", "xtask", "--test", name, "--", "--ignored", "--nocapture", "--test-threads=1"])
        .status()
        .with_context(|| format!("cannot run {cargo} test"))?;
    if !status.success() {
        bail!("the benchmark xtask/tests/{name}.rs failed ({status}); its output above says where");
    }
    Ok(())
}

/// Replace the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers.
pub fn write_section(path: &Path, name: &str, body: &str) -> Result<()> {
    let (open, close) = (format!("<!-- bench:{name} -->"), format!("<!-- /bench:{name} -->"));
    let text = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let new = match (text.find(&open), text.find(&close)) {
        (Some(a), Some(z)) if a < z => format!("{}{open}\n{body}{}", &text[..a], &text[z..]),
        _ => format!("{}\n{open}\n{body}{close}\n", text.trim_end()),
    };
    std::fs::write(path, new).with_context(|| format!("cannot write {}", path.display()))
}

/// `bench build`: per QEMU board, the whole build by stage with the packages built cold
/// (their cargo target dir removed; the kernel from the cache, its cold time is `bench
/// kernel`), a no-op rebuild and a rebuild after one daemon changed (`cargo xtask build`
/// as a user runs it), the image size breakdown, boot to `oxwrt: ready` in QEMU, and the
/// idle memory of init and webd.
pub fn build(ctx: &Context, board: Option<&str>) -> Result<()> {
    let boards: Vec<_> = crate::cmd::boards(ctx, board)?.into_iter().filter(|b| b.qemu.is_some()).collect();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let timed_build = |id: &str| -> Result<f64> {
        let t = Instant::now();
        let out = Command::new(&cargo).current_dir(&ctx.root).args(["xtask", "build", "--board", id]).output()?;
        if !out.status.success() {
            bail!("cargo xtask build --board {id} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(t.elapsed().as_secs_f64())
    };
    let mut stage_rows = Vec::new();
    let mut size_rows = Vec::new();
    let mut run_rows = Vec::new();
    for b in &boards {
        let device_dir = crate::steps::packages::cross::target_dir(ctx, b);
        if device_dir.exists() {
            std::fs::remove_dir_all(&device_dir)?;
        }
        std::fs::remove_file(ctx.board_out(&b.id).join("assembly.key")).ok();
        let t = Instant::now();
        let built = crate::cmd::build::build(ctx, b)?;
        let total = t.elapsed().as_secs_f64();
        let stage = |name: &str| built.stages.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).unwrap_or(0.0);
        let noop = timed_build(&b.id)?;
        // One daemon changed: webd's library is newer, so cargo rebuilds it and relinks the multi-call binary.
        let webd_lib = ctx.root.join("packages/webd/src/lib.rs");
        std::fs::File::options().append(true).open(&webd_lib)?.set_modified(std::time::SystemTime::now())?;
        let one_daemon = timed_build(&b.id)?;
        stage_rows.push(format!(
            "| {} | {:.1} s | {:.0} s | {:.1} s | {:.1} s | {:.0} s | {:.1} s | {:.0} s |",
            b.id,
            stage("kernel"),
            stage("packages"),
            stage("rootfs"),
            stage("images"),
            total,
            noop,
            one_daemon
        ));
        // Sizes: the kernel image, the squashfs, and per package installed and xz'd bytes.
        let xz_size = |path: &Path| -> u64 { Command::new("xz").args(["-9e", "-c"]).arg(path).output().map(|o| o.stdout.len() as u64).unwrap_or(0) };
        let rootfs = ctx.board_out(&b.id).join("rootfs.squashfs");
        let mut parts = vec![
            format!("kernel {} {}", built.kernel.image, Size(built.kernel.image_bytes)),
            format!("rootfs.squashfs {}", Size(std::fs::metadata(&rootfs)?.len())),
        ];
        let stage_dir = ctx.board_out(&b.id).join("rootfs");
        for (c, _) in &built.packages {
            let (mut raw, mut packed) = (0, 0);
            for f in c.files.iter().filter(|f| f.link.is_none()) {
                raw += f.size;
                packed += xz_size(&stage_dir.join(f.path.trim_start_matches('/')));
            }
            parts.push(format!("{} {} (xz {})", c.name, Size(raw), Size(packed)));
        }
        size_rows.push(format!("| {} | {} |", b.id, parts.join("; ")));
        // Boot to ready, then idle memory from the guest's own ps.
        let dir = ctx.out.join("bench-run");
        let launch = scratch_launch(ctx, b, &dir)?;
        let t = Instant::now();
        let mut g = crate::tools::qemu::Guest::start(ctx, b, launch);
        g.wait_for("oxwrt: ready", std::time::Duration::from_secs(300));
        let wall = t.elapsed().as_secs_f64();
        std::thread::sleep(std::time::Duration::from_secs(5));
        let log = g.shell("logread");
        let ready_at = log
            .lines()
            .find(|l| l.ends_with("init: oxwrt: ready"))
            .and_then(|l| l.trim_start_matches('[').split(']').next())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        let ps = g.shell("ps");
        let rss = |name: &str| ps.lines().find(|l| l.trim_end().ends_with(name)).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("?").to_string();
        run_rows.push(format!("| {} | {:.1} s | {:.2} s | {} KiB | {} KiB |", b.id, wall, ready_at, rss("/sbin/init"), rss("/usr/sbin/webd")));
        g.send("poweroff");
        std::fs::remove_dir_all(&dir).ok();
    }
    let today = crate::tools::exec::capture(Command::new("date").args(["-u", "+%Y-%m-%d"])).unwrap_or_default();
    let section = format!(
        "Measured {today} on {} CPU(s) with `cargo xtask bench build`. Stages of a build with the packages built cold (cargo target dir removed: std is compiled \
         too) and the kernel from the cache (its cold build is the table above). No-op: `cargo xtask build` again, nothing changed (goal: under 2 s). \
         One daemon changed: webd's source touched, then `cargo xtask build` (goal: under 60 s).\n\n\
         | board | kernel (cached) | packages (cold) | rootfs | images | total | no-op rebuild | one daemon changed |\n|---|---|---|---|---|---|---|---|\n{}\n\n\
         Image contents (installed bytes, and what each package costs xz-compressed, as in the squashfs):\n\n| board | sizes |\n|---|---|\n{}\n\n\
         Boot in QEMU (TCG) to `oxwrt: ready`: wall time from starting QEMU (firmware and all), and the guest's uptime when init printed it; \
         idle resident memory of init and webd 5 s later (the guest's `ps`).\n\n\
         | board | wall | guest uptime | init RSS | webd RSS |\n|---|---|---|---|---|\n{}\n",
        ctx.jobs,
        stage_rows.join("\n"),
        size_rows.join("\n"),
        run_rows.join("\n")
    );
    write_section(&ctx.root.join("docs/benchmarks.md"), "build", &section)?;
    println!("{section}");
    Ok(())
}

/// A QEMU launch of the board's built image from a copy in `dir` (the guest writes its
/// data partition or JFFS2 overlay), console only, QEMU exiting on reboot.
fn scratch_launch(ctx: &Context, b: &crate::board::Board, dir: &Path) -> Result<crate::tools::qemu::Launch> {
    use crate::board::ImageFormat;
    let launch = crate::tools::qemu::Launch { exit_on_reboot: true, ..Default::default() };
    std::fs::create_dir_all(dir)?;
    Ok(if b.images.contains(&ImageFormat::GptDisk) {
        let disk = dir.join("disk.img");
        std::fs::copy(crate::steps::image::disk_path(ctx, b), &disk)?;
        crate::tools::qemu::Launch { disk: Some(disk), ..launch }
    } else if b.images.contains(&ImageFormat::FlashImage) {
        let flash = dir.join("flash.bin");
        std::fs::copy(crate::steps::image::flash::flash_path(&crate::steps::image::images_dir(ctx, b), b), &flash)?;
        crate::tools::qemu::Launch { disk: Some(flash), ..launch }
    } else {
        launch
    })
}

/// How long `bench memory` lets a booted router settle (netd's lease, first page faults)
/// before it reads the guest's memory.
const MEMORY_SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// `cargo xtask bench memory`: builds and boots each QEMU board with its RAM (`ram`, or
/// `qemu.memory`), waits for `oxwrt: ready` and the WAN lease plus [`MEMORY_SETTLE`], and
/// records where the RAM goes (`Guest::memory`: the kernel's boot line, /proc/meminfo, the
/// PSS of PID 1 and each service) in docs/benchmarks.md. docs/memory.md explains it.
pub fn memory(ctx: &Context, board: Option<&str>) -> Result<()> {
    let boards: Vec<_> = crate::cmd::boards(ctx, board)?.into_iter().filter(|b| b.qemu.is_some()).collect();
    let mut rows = Vec::new();
    let mut details = Vec::new();
    for b in &boards {
        crate::cmd::build::build(ctx, b)?;
        let dir = ctx.out.join("bench-run");
        let mut g = crate::tools::qemu::Guest::start(ctx, b, scratch_launch(ctx, b, &dir)?);
        g.wait_for("oxwrt: ready", std::time::Duration::from_secs(300));
        g.wait_for_log("wan: lease ", std::time::Duration::from_secs(120));
        std::thread::sleep(MEMORY_SETTLE);
        let m = g.memory();
        g.send("poweroff");
        drop(g);
        std::fs::remove_dir_all(&dir).ok();
        let boot = m.boot.unwrap_or_default();
        let pss: Vec<String> = m.processes.iter().map(|p| format!("{} {}", p.name, p.pss)).collect();
        rows.push(format!(
            "| {} | {} MiB | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) |",
            b.id,
            b.qemu_memory().unwrap_or_default() >> 20,
            boot.kernel_code,
            boot.reserved,
            m.kb("MemTotal"),
            m.kb("MemAvailable"),
            m.kb("MemFree"),
            m.kb("Slab"),
            m.kb("Cached"),
            m.kb("Mapped"),
            m.kb("AnonPages"),
            m.total_pss(),
            pss.join(", ")
        ));
        details.push(format!("{}: {}", b.id, m.summary()));
    }
    let today = crate::tools::exec::capture(Command::new("date").args(["-u", "+%Y-%m-%d"])).unwrap_or_default();
    let section = format!(
        "Measured {today} with `cargo xtask bench memory`: each QEMU board booted with its RAM, read {} s after `oxwrt: ready` and the WAN lease. \
         Kernel code and reserved: the kernel's boot line (`Memory: ...K/...K available (...K kernel code, ... reserved`, KiB). The rest from \
         /proc/meminfo (kB): page cache = Cached (mostly the mapped binaries, read from the squashfs), Mapped = file pages mapped by processes. \
         PSS: /proc/<pid>/smaps_rollup of PID 1 and each running service (kB; shared pages split between the processes that map them). \
         docs/memory.md explains each number.\n\n\
         | board | RAM | kernel code / reserved (KiB) | MemTotal | MemAvailable | MemFree | Slab | page cache | Mapped | anon | PSS total (by process) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n{}\n",
        MEMORY_SETTLE.as_secs(),
        rows.join("\n")
    );
    write_section(&ctx.root.join("docs/benchmarks.md"), "memory", &section)?;
    println!("{section}");
    for d in details {
        println!("{d}");
    }
    Ok(())
}

/// `cargo xtask bench flash`: builds every NOR flash board and records where the bytes of
/// its firmware go (kernel, root filesystem by package and file) and the room left for the
/// writable overlay, in docs/benchmarks.md.
pub fn flash(ctx: &Context, board: Option<&str>) -> Result<()> {
    let boards: Vec<_> = crate::cmd::boards(ctx, board)?.into_iter().filter(|b| b.images.contains(&crate::board::ImageFormat::Trx)).collect();
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    for b in &boards {
        let built = crate::cmd::build::build(ctx, b)?;
        let Some(budget) = built.budget else { continue };
        let kib = |v: u64| format!("{:.1} KiB", v as f64 / 1024.0);
        rows.push(format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} ({} blocks) |",
            b.id,
            kib(budget.kernel_bytes),
            kib(budget.rootfs_bytes),
            kib(budget.trx_bytes),
            kib(budget.budget_bytes),
            kib(budget.budget_bytes.saturating_sub(budget.trx_bytes)),
            kib(budget.firmware_bytes),
            kib(budget.writable_bytes),
            budget.writable_blocks()
        ));
        reports.push(format!("```\n{}```", budget.report()));
    }
    let today = crate::tools::exec::capture(Command::new("date").args(["-u", "+%Y-%m-%d"])).unwrap_or_default();
    let section = format!(
        "Measured {today} with `cargo xtask bench flash`. The TRX is what CFE boots and checksums: the kernel (gzip'd vmlinuz, \
         the LZMA kernel inside) and the squashfs root. The budget is the largest TRX a board allows (`size_budget`, by default the \
         firmware partition minus the 5 erase blocks JFFS2 needs); the build fails above it and prints this breakdown. Goal for \
         linksys-wrt54gl: init + netd + webd + sqmd + vpnd in at most 3.6 MiB.\n\n\
         | board | kernel | rootfs | TRX | budget | left | firmware partition | writable overlay |\n|---|---|---|---|---|---|---|---|\n{}\n\n{}\n",
        rows.join("\n"),
        reports.join("\n\n")
    );
    write_section(&ctx.root.join("docs/benchmarks.md"), "flash", &section)?;
    println!("{section}");
    Ok(())
}

/// The line of `bench sqm`: a cheap modem's 10/2 Mbit/s with a 1000-packet FIFO (as
/// xtask/tests/sqm.rs).
const SQM_MODEM: crate::tools::lab::Modem = crate::tools::lab::Modem { down_kbit: 10_000, up_kbit: 2_000, buffer_packets: 1000 };
/// Seconds of autorate probing on an idle line over which `bench sqm` reads sqmd's CPU time.
const SQM_IDLE_SECS: u64 = 20;
/// How long `bench sqm` lets sqmd's start pass before that window.
const SQM_SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// `cargo xtask bench sqm`: per QEMU board (built, then booted in the lab of
/// xtask/src/tools/lab.rs behind [`SQM_MODEM`]), the bufferbloat table of
/// xtask/src/tools/bufferbloat.rs without sqmd, with sqmd at 95 % of the line and with
/// autorate (the ISP as reflector, 20 Hz), sqmd's CPU time per second of wall time probing
/// idle and under load (its /proc/PID/stat), and its RSS/PSS; written to docs/benchmarks.md.
pub fn sqm(ctx: &Context, board: Option<&str>) -> Result<()> {
    use crate::tools::bufferbloat::{self as bb, grade, Phase};
    use crate::tools::lab::{self, Lab};
    use std::time::Duration;
    let boards: Vec<_> = crate::cmd::boards(ctx, board)?.into_iter().filter(|b| b.qemu.is_some()).collect();
    let t = Duration::from_secs(60);
    let mut rows = Vec::new();
    let mut cpu_rows = Vec::new();
    for b in &boards {
        crate::cmd::build::build(ctx, b)?;
        let Some(mut lab) = Lab::new("bsqm", Some(SQM_MODEM)) else {
            bail!("the lab's prerequisites are missing (listed above): `cargo xtask setup` installs them");
        };
        for port in 5201..=5206 {
            lab.isp_spawn(&["iperf3", "-s", "-p", &port.to_string()]);
        }
        let dir = ctx.out.join("bench-sqm");
        std::fs::create_dir_all(&dir)?;
        let image = lab::scratch_image(ctx, b, &dir);
        let mut r = lab.router(ctx, b, image, Duration::from_secs(300));
        r.guest.wait_for_log("sqmd: running", t);
        r.guest.wait_for_log("wan: lease", t);
        r.laptop_lease(t);
        let id = b.id.as_str();
        let mut phases: Vec<(&str, Phase)> = Vec::new();
        eprintln!("{id}: without sqmd");
        phases.push(("none", bb::measure(&r, id, "none", (5201, 5202))));
        let fixed = ["enabled = true", "download_kbit = 9500", "upload_kbit = 1900", "overhead = \"docsis\"", "ack_filter = true"];
        bb::write_lines(&mut r.guest, "/etc/oxwrt/sqm.toml", &fixed);
        r.guest.send("service restart sqmd");
        r.guest.wait_for_log("eth0: shaping upload 1900 kbit/s, download 9500 kbit/s", t);
        eprintln!("{id}: fixed SQM at 95 %");
        phases.push(("fixed, 95 %", bb::measure(&r, id, "fixed", (5203, 5204))));
        let auto = [&fixed[..], &["[autorate]", "enabled = true", "reflectors = [\"192.0.2.1\"]", "pingers = 1"]].concat();
        bb::write_lines(&mut r.guest, "/etc/oxwrt/sqm.toml", &auto);
        r.guest.send("service restart sqmd");
        r.guest.wait_for_log("autorate: probing 192.0.2.1 at 20 Hz", t);
        let pid = r.guest.service_pid("sqmd");
        // The start (configuration, the kernel's state read and compared, the IFB's own
        // link notification) is not probing: let it pass.
        std::thread::sleep(SQM_SETTLE);
        eprintln!("{id}: autorate, {SQM_IDLE_SECS} s idle");
        let (t0, c0) = (Instant::now(), bb::cpu_ticks(&mut r.guest, pid, "sqmd"));
        std::thread::sleep(Duration::from_secs(SQM_IDLE_SECS));
        let idle = (bb::cpu_ticks(&mut r.guest, pid, "sqmd") - c0, t0.elapsed().as_secs_f64());
        eprintln!("{id}: autorate under load");
        let (t0, c0) = (Instant::now(), bb::cpu_ticks(&mut r.guest, pid, "sqmd"));
        phases.push(("autorate", bb::measure(&r, id, "autorate", (5205, 5206))));
        let loaded = (bb::cpu_ticks(&mut r.guest, pid, "sqmd") - c0, t0.elapsed().as_secs_f64());
        let (rss, pss) = bb::rss_pss_kb(&mut r.guest, pid);
        let status = r.guest.shell("sqm status");
        let rates = status
            .lines()
            .find(|l| l.starts_with("autorate:"))
            .map_or_else(|| format!("no autorate line in `sqm status`:\n{status}"), |l| l.trim().to_string());
        r.guest.send("poweroff");
        drop(r);
        drop(lab);
        std::fs::remove_dir_all(&dir).ok();
        for (name, p) in &phases {
            eprintln!("{id} {name}: {}", p.summary());
            let pct = |v: f64, of: f64| if *name == "none" { String::new() } else { format!(" ({:.0} %)", 100.0 * v / of) };
            rows.push(format!(
                "| {id} | {name} | {:.1} ms | {:.1} / {:.1} ms | {:.1} / {:.1} ms | **{}** | {:.0}{} / {:.0}{} kbit/s | {:.0}{} / {:.0}{} kbit/s |",
                p.idle_ms,
                p.loaded_median_ms,
                p.loaded_p95_ms,
                p.added_ms(),
                p.added_p95_ms(),
                grade(p.added_ms()),
                p.down_kbit,
                pct(p.down_kbit, 9500.0),
                p.down_steady_kbit,
                pct(p.down_steady_kbit, 9500.0),
                p.up_kbit,
                pct(p.up_kbit, 1900.0),
                p.up_steady_kbit,
                pct(p.up_steady_kbit, 1900.0)
            ));
        }
        // USER_HZ is 100: ticks per second are % of a CPU.
        let pct = |(ticks, secs): (u64, f64)| format!("{:.2} % ({ticks} ticks in {secs:.0} s)", ticks as f64 / secs);
        cpu_rows.push(format!("| {id} | {} | {} | {rss} kB / {pss} kB | {rates} |", pct(idle), pct(loaded)));
    }
    let today = crate::tools::exec::capture(Command::new("date").args(["-u", "+%Y-%m-%d"])).unwrap_or_default();
    let section = format!(
        "Measured {today} on {} CPU(s) with `cargo xtask bench sqm` (xtask/src/tools/bufferbloat.rs, the measurement of xtask/tests/sqm.rs): each QEMU \
         board in the lab, its WAN behind a modem of {}/{} kbit/s with a FIFO of {} packets. Load: 4 TCP flows up and 4 down (iperf3, {} s); latency: \
         fping from the laptop to the ISP, 10 a second from {} s into the load, idle median just before. Added = under load - idle median (median, and \
         p95); grade as DSLReports, of the median. Goodput: iperf3's receivers over the whole load / from 5 s on (slow start over), in % of the shaped \
         9500/1900 kbit/s. Fixed: \
         `download_kbit = 9500`, `upload_kbit = 1900`, `overhead = \"docsis\"`, `ack_filter = true`; autorate: the same as base rates, \
         `[autorate]` with the ISP as the one reflector at 20 Hz. Emulator numbers (TCG), on a host shared with other builds.\n\n\
         | board | sqm | idle | under load (median / p95) | added (median / p95) | grade | goodput down (whole / from 5 s) | goodput up (whole / from 5 s) |\n|---|---|---|---|---|---|---|---|\n{}\n\n\
         sqmd with autorate probing at 20 Hz: CPU time (utime + stime of /proc/PID/stat) per second of wall time, over {SQM_IDLE_SECS} s of an idle \
         line ({} s after sqmd's restart: its start is not counted) and over the autorate row's measurement (idle probe and load); RSS / PSS (/proc/PID/smaps_rollup) after it; the rates autorate \
         had then (`sqm status`).\n\n\
         | board | CPU idle line | CPU under load | RSS / PSS | autorate after the load (`sqm status`) |\n|---|---|---|---|---|\n{}\n",
        ctx.jobs,
        SQM_MODEM.down_kbit,
        SQM_MODEM.up_kbit,
        SQM_MODEM.buffer_packets,
        bb::LOAD_SECS,
        bb::RAMP_SECS,
        rows.join("\n"),
        SQM_SETTLE.as_secs(),
        cpu_rows.join("\n")
    );
    write_section(&ctx.root.join("docs/benchmarks.md"), "sqm", &section)?;
    println!("{section}");
    Ok(())
}
