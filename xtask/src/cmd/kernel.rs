//! `cargo xtask kernel [prepare|refresh|menuconfig|savedefconfig] --board B`.

use crate::context::Context;
use crate::flags::{BoardKernelCmd, KernelArgs, KernelCmd};
use crate::steps::kernel::{self, config::DotConfig, source::SourceOverride, KernelOptions, Plan};
use anyhow::{bail, Context as _, Result};

pub fn run(ctx: &Context, args: KernelArgs) -> Result<()> {
    let action = match args.action {
        // Every board: no --board.
        Some(KernelCmd::BumpSource { version, package, no_build }) => {
            return kernel::bump::run(ctx, &kernel::bump::Bump { version: &version, package: package.as_deref(), build: !no_build });
        }
        Some(KernelCmd::Board(cmd)) => Some(cmd),
        None => None,
    };
    let Some(id) = args.board.as_deref() else {
        bail!("which board? pass --board <id> (boards: {})", ctx.repo().board_ids()?.join(", "));
    };
    let board = ctx.repo().load_board(id)?;
    let opts = KernelOptions { source: SourceOverride { tarball: args.tarball, sha256: args.sha256 }, extra_fragments: args.fragments };
    let plan = Plan::new(ctx, &board, &opts)?;
    match action {
        None => {
            let info = plan.build()?;
            kernel::summarize(&board, &info, &plan.paths);
        }
        Some(BoardKernelCmd::Prepare) => {
            plan.prepare_tree()?;
            eprintln!("patched tree ready: {}\nedit it, then `cargo xtask kernel refresh --board {id} [--patch <set>/<file>]`", plan.paths.tree.display());
        }
        Some(BoardKernelCmd::Refresh { patch, add }) => {
            let report = kernel::refresh::refresh(&plan, patch.as_deref(), &add)?;
            if report.changed {
                eprintln!("refreshed {}: {}", report.patch, report.files.join(", "));
            } else {
                eprintln!("{} is unchanged: the tree holds exactly its changes", report.patch);
            }
        }
        Some(BoardKernelCmd::Configure) => {
            plan.prepare_tree()?;
            plan.configure()?;
            plan.verify()?;
            eprintln!("configured: {}/.config (every requested option verified)", plan.paths.obj.display());
        }
        Some(BoardKernelCmd::Menuconfig) => {
            plan.prepare_tree()?;
            plan.configure()?;
            let status = plan.make().arg("menuconfig").status().context("cannot run make menuconfig")?;
            if !status.success() {
                bail!("make menuconfig failed ({status}); it needs ncurses headers: cargo xtask setup --maintainer");
            }
            eprintln!("saved {}/.config; `cargo xtask kernel savedefconfig --board {id}` shows what you changed as fragment lines", plan.paths.obj.display());
        }
        Some(BoardKernelCmd::Savedefconfig { write }) => savedefconfig(&plan, write)?,
    }
    Ok(())
}

/// Save the kernel's minimal defconfig and turn the options changed since the fragments
/// were applied into fragment lines (optionally appended to the board's last fragment).
fn savedefconfig(plan: &Plan, write: bool) -> Result<()> {
    let obj = &plan.paths.obj;
    let (current, generated) = (obj.join(".config"), obj.join(".config.oxwrt"));
    if !current.is_file() || !generated.is_file() {
        bail!("no configured kernel for {}: run `cargo xtask kernel menuconfig --board {}` first", plan.board.id, plan.board.id);
    }
    plan.runner.run("kernel-savedefconfig", "make savedefconfig", plan.make().arg("savedefconfig"))?;
    std::fs::create_dir_all(&plan.paths.out)?;
    let saved = plan.paths.out.join("defconfig");
    std::fs::copy(obj.join("defconfig"), &saved)?;
    let (now, before) = (DotConfig::read(&current)?, DotConfig::read(&generated)?);
    // Only options a maintainer chose: those in the minimal defconfig or already requested
    // (options that merely followed from a change are left to Kconfig).
    let minimal = DotConfig::read(&saved)?;
    let chosen = |sym: &str| minimal.0.contains_key(sym) || plan.requests.iter().any(|r| r.symbol == sym);
    let mut lines = Vec::new();
    for (sym, val) in &now.0 {
        if before.get(sym) != val && chosen(sym) {
            lines.push(kernel::config::Request { symbol: sym.clone(), value: val.clone(), origin: String::new() }.config_line());
        }
    }
    for sym in before.0.keys().filter(|s| !now.0.contains_key(*s) && before.get(s) != "n" && chosen(s)) {
        lines.push(format!("# CONFIG_{sym} is not set"));
    }
    eprintln!("minimal defconfig: {}", saved.display());
    if lines.is_empty() {
        eprintln!("no option differs from what the fragments produce");
        return Ok(());
    }
    eprintln!("options changed since the fragments were applied:\n{}", lines.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"));
    if write {
        let frag = plan.board.kernel.fragments.last().context("the board has no config fragment to write to: add one to kernel.fragments")?;
        let path = plan.ctx.repo().targets().join(frag);
        let mut text = std::fs::read_to_string(&path)?;
        text.push_str("\n# from `cargo xtask kernel savedefconfig`\n");
        for l in &lines {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(&path, text)?;
        eprintln!("appended {} line(s) to {}", lines.len(), path.display());
    }
    Ok(())
}
