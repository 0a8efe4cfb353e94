//! `cargo xtask run [--board B] [--efi] [--fresh] [--port P]`: builds if needed, then boots
//! the board's image in QEMU with the serial console on this terminal and the status page
//! on a local port. The guest writes to a copy of the disk image (target/oxwrt/<board>/
//! run/disk.img) that survives between runs like a real disk; a new build replaces the
//! system partitions and keeps the data partition.

use crate::board::{Board, PartitionRole};
use crate::cmd::build;
use crate::context::Context;
use crate::steps::image;
use crate::toolchain::{self, Purpose};
use crate::tools::qemu::{self, Launch};
use anyhow::{bail, Context as _, Result};
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct RunArgs {
    pub efi: bool,
    pub fresh: bool,
    pub port: Option<u16>,
}

pub fn run(ctx: &Context, board: &Board, args: &RunArgs) -> Result<()> {
    if board.qemu.is_none() {
        bail!("board {} runs on real hardware only (no [qemu] in targets/{}.toml); try --board qemu-x86-64", board.id, board.id);
    }
    crate::cmd::doctor::install_missing(ctx, board)?;
    toolchain::require(ctx, board, Purpose::Emulation)?;
    let built = build::build(ctx, board)?;
    build::summarize(ctx, board, &built);
    let disk = if board.images.contains(&crate::board::ImageFormat::GptDisk) {
        Some(run_disk(ctx, board, args.fresh)?)
    } else if board.images.contains(&crate::board::ImageFormat::FlashImage) {
        Some(run_flash(ctx, board, args.fresh)?)
    } else {
        None
    };
    if args.efi && !board.images.contains(&crate::board::ImageFormat::GptDisk) {
        bail!("--efi boots the GPT disk image, which board {} does not have", board.id);
    }
    let port = match args.port {
        Some(p) => p,
        None => qemu::free_port()?,
    };
    let launch = Launch { disk, efi: args.efi, http_port: Some(port), exit_on_reboot: false, ..Default::default() };
    let mut cmd = qemu::command(ctx, board, &launch)?;
    eprintln!("\nbooting {} in QEMU (TCG); the console follows. Quit: Ctrl-A then X.", board.id);
    eprintln!("web interface: http://127.0.0.1:{port}/ (the router's LAN address {}:80; JSON: /api/status) once netd has set up the LAN", qemu::ROUTER_LAN_IP);
    eprintln!("eth0 = WAN on QEMU's user network (DHCP, Internet through the host), eth1 = LAN");
    eprintln!();
    let status = cmd.status().with_context(|| format!("cannot start {}", crate::tools::exec::display(&cmd)))?;
    if !status.success() {
        bail!("QEMU exited with {status}");
    }
    Ok(())
}

/// target/oxwrt/<board>/run/disk.img: a fresh copy of the built disk image, or the
/// previous one with its system partitions replaced (the data partition is kept).
/// The guest's writable copy of a built image, in target/oxwrt/<board>/run/: its path, its
/// stamp file, the built image's stamp, and whether the copy is of that build already.
struct RunCopy {
    copy: PathBuf,
    stamp: PathBuf,
    built_id: String,
    current: bool,
}

impl RunCopy {
    fn of(ctx: &Context, board: &Board, built: &Path, name: &str, fresh: bool) -> Result<RunCopy> {
        let dir = ctx.board_out(&board.id).join("run");
        fs::create_dir_all(&dir)?;
        let copy = dir.join(name);
        let stamp = dir.join(format!("{}.source", Path::new(name).file_stem().unwrap_or_default().to_string_lossy()));
        let built_id = fs::metadata(built).and_then(|m| m.modified()).map(|t| format!("{t:?}")).unwrap_or_default();
        let current = !fresh && copy.is_file() && fs::read_to_string(&stamp).ok().as_deref() == Some(built_id.as_str());
        Ok(RunCopy { copy, stamp, built_id, current })
    }
}

fn run_disk(ctx: &Context, board: &Board, fresh: bool) -> Result<PathBuf> {
    let built = image::disk_path(ctx, board);
    let RunCopy { copy: disk, stamp, built_id, current } = RunCopy::of(ctx, board, &built, "disk.img", fresh)?;
    if current {
        return Ok(disk);
    }
    let data = board.layout().into_iter().find(|p| p.role == PartitionRole::Data);
    let keep = match (&data, fresh || !disk.is_file()) {
        (Some(p), false) => Some(read_range(&disk, p.offset, p.size)?),
        _ => None,
    };
    fs::copy(&built, &disk).with_context(|| format!("cannot copy {} to {}", built.display(), disk.display()))?;
    if let (Some(bytes), Some(p)) = (keep, data) {
        let mut f = fs::OpenOptions::new().write(true).open(&disk)?;
        f.seek(SeekFrom::Start(p.offset))?;
        f.write_all(&bytes)?;
        eprintln!("run disk {}: new system partitions, data partition kept (--fresh starts clean)", disk.display());
    }
    fs::write(&stamp, built_id)?;
    Ok(disk)
}

/// The flash the guest writes to: a copy of the built one. A new build replaces it whole:
/// the writable area's start moves with the squashfs' size, so the old JFFS2 cannot be kept
/// (a sysupgrade that carries settings over is future work).
fn run_flash(ctx: &Context, board: &Board, fresh: bool) -> Result<PathBuf> {
    let built = crate::steps::image::flash::flash_path(&image::images_dir(ctx, board), board);
    let RunCopy { copy: flash, stamp, built_id, current } = RunCopy::of(ctx, board, &built, "flash.bin", fresh)?;
    if current {
        return Ok(flash);
    }
    if flash.is_file() && !fresh {
        eprintln!("run flash {}: the firmware changed, starting from the new image (the old overlay is not carried over)", flash.display());
    }
    fs::copy(&built, &flash).with_context(|| format!("cannot copy {} to {}", built.display(), flash.display()))?;
    fs::write(&stamp, built_id)?;
    Ok(flash)
}

fn read_range(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
    let mut f = fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0; len as usize];
    f.read_exact(&mut buf).with_context(|| format!("{} is shorter than its partition table says", path.display()))?;
    Ok(buf)
}
