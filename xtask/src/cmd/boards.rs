//! `cargo xtask boards` and `cargo xtask check-board`.

use crate::board::{Board, BoardError};
use crate::context::Context;
use crate::size::Size;
use anyhow::{bail, Result};

pub fn list(ctx: &Context) -> Result<()> {
    let repo = ctx.repo();
    for id in repo.board_ids()? {
        match repo.load_board(&id) {
            Ok(b) => println!("{:<20} {:<8} {:<34} {}", b.id, format!("{:?}", b.arch).to_lowercase(), b.name, storage_line(&b)),
            Err(_) => println!("{id:<20} (invalid: run `cargo xtask check-board {id}`)"),
        }
    }
    Ok(())
}

fn storage_line(b: &Board) -> String {
    let kind = match b.storage.kind {
        crate::board::StorageKind::NorFlash => "NOR flash",
        crate::board::StorageKind::Disk => "disk",
    };
    format!("{} {kind}", Size(b.storage.size.0))
}

/// Validate one board or all; print each valid board's summary; fail listing every problem.
pub fn check(ctx: &Context, board: Option<&str>) -> Result<()> {
    let repo = ctx.repo();
    let ids = match board {
        Some(b) => vec![b.to_string()],
        None => repo.board_ids()?,
    };
    let mut failures = Vec::new();
    for id in &ids {
        match repo.load_board(id) {
            Ok(b) => print_summary(&b),
            Err(e) => {
                match e.downcast_ref::<BoardError>() {
                    Some(be) => eprint!("{be}"),
                    None => eprintln!("{id}: {e:#}"),
                }
                failures.push(id.clone());
            }
        }
    }
    if !failures.is_empty() {
        bail!("{} of {} board(s) invalid: {}", failures.len(), ids.len(), failures.join(", "));
    }
    Ok(())
}

fn print_summary(b: &Board) {
    let k = &b.kernel;
    println!("{}: {} — valid", b.id, b.name);
    println!(
        "  arch {:?}, Rust target {} (cpu {}{})",
        b.arch,
        b.rust.target,
        b.rust.cpu,
        if b.rust.features.is_empty() { String::new() } else { format!(", features {}", b.rust.features.join(",")) }
    );
    println!(
        "  kernel {} ({}): base {}, fragments [{}], patch sets [{}], {} {:?}",
        k.series,
        b.arch.kernel_arch(),
        k.base_config,
        k.fragments.join(", "),
        k.patch_sets.join(", "),
        k.image.file_name(),
        k.compression
    );
    if !k.cmdline.is_empty() {
        println!("  command line: {}", k.cmdline);
    }
    if k.reenable_filesystems.is_empty() {
        println!("  re-enabled obsolete filesystems: none");
    } else {
        println!("  re-enabled obsolete filesystems: {} (built in; exempt from the autoload deny list)", k.reenable_filesystems.join(", "));
    }
    if let Some(ram) = b.ram {
        println!("  RAM: {ram}");
    }
    println!(
        "  root filesystem: squashfs (xz), {} blocks, {}",
        Size(b.rootfs.block_size.0),
        if b.rootfs.fragments { "with fragments" } else { "no fragments" }
    );
    println!("  storage: {}", storage_line(b));
    for p in b.layout() {
        println!("    {:#010x} {:>10}  {:<12} {:?}{}", p.offset, Size(p.size).to_string(), p.name, p.role, if p.read_only { " (read-only)" } else { "" });
    }
    if let Some(q) = &b.qemu {
        println!(
            "  qemu: {} -M {}{} -m {} -device {}",
            q.system,
            q.machine,
            q.cpu.as_ref().map(|c| format!(" -cpu {c}")).unwrap_or_default(),
            Size(b.qemu_memory().unwrap_or_default()),
            q.nic()
        );
    }
    println!("  images: {}", b.images.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(", "));
    if let Some(budget) = b.size_budget {
        println!("  size budget: {budget}");
    }
    println!("  packages: {}", if b.packages.is_empty() { "none yet".into() } else { b.packages.join(", ") });
}
