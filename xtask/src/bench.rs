//! `cargo xtask bench`: build-time measurements, written to docs/benchmarks.md.
//!
//! `bench kernel` times, per board, a cold kernel build (empty cache, fresh tree: unpack,
//! patch, configure, compile) and a no-op rebuild (`cargo xtask kernel` with nothing
//! changed, as a user runs it). Benchmarks measure; tests never assert timings.

use crate::context::Context;
use crate::kernel::{KernelOptions, Plan};
use crate::size::Size;
use anyhow::{bail, Context as _, Result};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

pub fn kernel(ctx: &Context, board: Option<&str>) -> Result<()> {
    let boards = crate::toolchain::boards(ctx, board)?;
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
            crate::kernel::copy_files(&entry, &keep)?;
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
    let today = crate::exec::capture(Command::new("date").args(["-u", "+%Y-%m-%d"])).unwrap_or_default();
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
