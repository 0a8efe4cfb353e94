//! A board's images from its kernel and root filesystem: `kernel-rootfs` (the two files,
//! for QEMU -kernel), `gpt-disk` ([`disk`]), the NOR flash formats (`trx`,
//! `linksys-factory`, `flash-image`: [`flash`]), then target/oxwrt/<board>/manifest.json
//! listing every artifact ([`manifest`]). This module dispatches on the board's formats and
//! knows where each file goes; [`flash`] and [`disk`] use only [`manifest`], not it.

pub mod disk;
pub mod flash;
pub mod manifest;

pub use manifest::{write_manifest, Artifact};

use crate::board::{Board, ImageFormat};
use crate::context::Context;
use crate::steps::rootfs::BuildId;
use anyhow::{bail, Result};
use flash::Budget;
use std::fs;
use std::path::{Path, PathBuf};

pub fn images_dir(ctx: &Context, board: &Board) -> PathBuf {
    ctx.board_out(&board.id).join("images")
}

/// The disk image's path (gpt-disk boards).
pub fn disk_path(ctx: &Context, board: &Board) -> PathBuf {
    images_dir(ctx, board).join(format!("oxwrt-{}-disk.img", board.id))
}

pub fn kernel_path(ctx: &Context, board: &Board) -> PathBuf {
    images_dir(ctx, board).join(format!("oxwrt-{}-{}", board.id, board.kernel.image.file_name()))
}

pub fn rootfs_path(ctx: &Context, board: &Board) -> PathBuf {
    images_dir(ctx, board).join(format!("oxwrt-{}-rootfs.squashfs", board.id))
}

/// Writes the board's images; returns them as artifacts, and for flash boards the budget.
pub fn build(ctx: &Context, board: &Board, kernel_image: &Path, rootfs: &Path, id: &BuildId, archives: &[PathBuf]) -> Result<(Vec<Artifact>, Option<Budget>)> {
    let dir = images_dir(ctx, board);
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    let mut out = Vec::new();
    let mut budget = None;
    if board.images.contains(&ImageFormat::Trx) {
        let vmlinux = kernel_image.with_file_name("vmlinux");
        let (artifacts, b) = flash::build(board, &dir, kernel_image, &vmlinux, rootfs, archives, id.epoch)?;
        out.extend(artifacts);
        budget = Some(b);
    }
    for format in &board.images {
        match format {
            ImageFormat::KernelRootfs => {
                fs::copy(kernel_image, kernel_path(ctx, board))?;
                fs::copy(rootfs, rootfs_path(ctx, board))?;
                out.push(Artifact::of(&kernel_path(ctx, board), "kernel (QEMU -kernel, or a boot loader)")?);
                out.push(Artifact::of(&rootfs_path(ctx, board), "root filesystem (squashfs, xz)")?);
            }
            ImageFormat::GptDisk => {
                let path = disk_path(ctx, board);
                disk::gpt_disk(ctx, board, kernel_image, rootfs, id, &path)?;
                out.push(Artifact::of(&path, "GPT disk image: EFI system partition (kernel), root, data")?);
            }
            ImageFormat::Trx | ImageFormat::LinksysFactory | ImageFormat::FlashImage => {}
            other => bail!("targets/{}.toml: image format {other:?} is not implemented yet; the formats oxwrt writes: gpt-disk, kernel-rootfs, trx, linksys-factory, flash-image", board.id),
        }
    }
    Ok((out, budget))
}
