//! A board's images from its kernel and root filesystem: `kernel-rootfs` (the two files,
//! for QEMU -kernel), `gpt-disk` (EFI system partition with the kernel as
//! \EFI\BOOT\BOOTX64.EFI, the squashfs root partition, an ext4 data partition), the NOR
//! flash formats (`trx`, `linksys-factory`, `flash-image`: [`crate::steps::image::flash`]), then
//! target/oxwrt/<board>/manifest.json listing every artifact.

pub mod flash;

use crate::board::{Arch, Board, ImageFormat, PartitionRole};
use crate::context::Context;
use crate::steps::kernel::BuildInfo;
use crate::steps::packages::Control;
use crate::steps::rootfs::BuildId;
use anyhow::{bail, Context as _, Result};
use flash::Budget;
use oxwrt_images::gpt::{Gpt, Guid, Partition, SECTOR_SIZE};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifact {
    /// File name in target/oxwrt/<board>/images/.
    pub name: String,
    /// What it is for.
    pub kind: String,
    pub size: u64,
    pub sha256: String,
}

impl Artifact {
    pub fn of(path: &Path, kind: &str) -> Result<Artifact> {
        let data = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Artifact {
            name: path.file_name().unwrap_or_default().to_string_lossy().into_owned(),
            kind: kind.into(),
            size: data.len() as u64,
            sha256: hex::encode(Sha256::digest(&data)),
        })
    }
}

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
                gpt_disk(ctx, board, kernel_image, rootfs, id, &path)?;
                out.push(Artifact::of(&path, "GPT disk image: EFI system partition (kernel), root, data")?);
            }
            ImageFormat::Trx | ImageFormat::LinksysFactory | ImageFormat::FlashImage => {}
            other => bail!("targets/{}.toml: image format {other:?} is not implemented yet; the formats oxwrt writes: gpt-disk, kernel-rootfs, trx, linksys-factory, flash-image", board.id),
        }
    }
    Ok((out, budget))
}

fn gpt_disk(ctx: &Context, board: &Board, kernel_image: &Path, rootfs: &Path, id: &BuildId, path: &Path) -> Result<()> {
    let size = board.storage.size.0;
    let toml = format!("targets/{}.toml", board.id);
    let mut disk = fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    disk.set_len(size)?;
    let mut partitions = Vec::new();
    for p in board.layout() {
        let contents: Vec<u8> = match p.role {
            PartitionRole::Esp => {
                let kernel = fs::read(kernel_image)?;
                let volume_id = u32::from_le_bytes(Sha256::digest(board.id.as_bytes())[..4].try_into().expect("4 bytes"));
                oxwrt_images::fat::build_esp(p.size, "OXWRT", volume_id, &[("EFI/BOOT/BOOTX64.EFI", &kernel)])
                    .map_err(|e| anyhow::anyhow!("{toml}: partition `{}`: {e}", p.name))?
            }
            PartitionRole::Rootfs => {
                let data = fs::read(rootfs)?;
                if data.len() as u64 > p.size {
                    bail!("the root filesystem ({} bytes) does not fit partition `{}` ({} bytes) of {toml}: raise its size", data.len(), p.name, p.size);
                }
                data
            }
            PartitionRole::Data => ext4(ctx, board, &p.name, p.size, id)?,
            other => bail!("{toml}: partition `{}` has role {other:?}, which a GPT disk image does not hold", p.name),
        };
        disk.seek(SeekFrom::Start(p.offset))?;
        disk.write_all(&contents)?;
        let type_guid = match (p.role, board.arch) {
            (PartitionRole::Esp, _) => Guid::EFI_SYSTEM,
            (PartitionRole::Rootfs, Arch::X86_64) => Guid::LINUX_ROOT_X86_64,
            _ => Guid::LINUX_FILESYSTEM,
        };
        let unique = Guid::derived(format!("oxwrt/{}/{}", board.id, p.name).as_bytes());
        partitions.push(Partition::new(&p.name, type_guid, unique, p.offset / SECTOR_SIZE, (p.offset + p.size) / SECTOR_SIZE - 1));
    }
    let gpt = Gpt::new(Guid::derived(format!("oxwrt/{}", board.id).as_bytes()), partitions);
    gpt.write(&mut disk, size).map_err(|e| anyhow::anyhow!("{toml}: {e}"))?;
    disk.sync_all()?;
    Ok(())
}

/// An empty ext4 filesystem of `size` bytes, made reproducible: fixed UUID and hash seed
/// (derived from the board), timestamps from SOURCE_DATE_EPOCH.
fn ext4(ctx: &Context, board: &Board, label: &str, size: u64, id: &BuildId) -> Result<Vec<u8>> {
    let tmp = ctx.board_out(&board.id).join(format!("{label}.ext4"));
    let _ = fs::remove_file(&tmp);
    fs::File::create(&tmp)?.set_len(size)?;
    let uuid = Guid::derived(format!("oxwrt/{}/{label}/fs", board.id).as_bytes()).to_string().to_lowercase();
    let mut cmd = Command::new("mkfs.ext4");
    // MKE2FS_CONFIG=/dev/null keeps the host's mke2fs.conf out (reproducibility), and with it
    // the ext4 feature list: name the features here, or the result is ext2 (no journal).
    cmd.args([
        "-F",
        "-q",
        "-t",
        "ext4",
        "-O",
        "has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize",
        "-L",
        label,
        "-U",
        &uuid,
        "-m",
        "0",
        "-E",
    ])
    .arg(format!("hash_seed={uuid},root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0,nodiscard"))
    .arg(&tmp)
    .env("E2FSPROGS_FAKE_TIME", id.epoch.to_string())
    .env("SOURCE_DATE_EPOCH", id.epoch.to_string())
    .env("MKE2FS_CONFIG", "/dev/null");
    ctx.runner(&board.id).run("image-ext4", &format!("mkfs.ext4 ({label} partition)"), &mut cmd)?;
    let data = fs::read(&tmp)?;
    fs::remove_file(&tmp)?;
    Ok(data)
}

/// target/oxwrt/<board>/manifest.json
#[derive(Debug, Serialize)]
pub struct Manifest<'a> {
    pub board: &'a str,
    pub oxwrt_version: &'a str,
    pub build_id: &'a str,
    pub source_date_epoch: u64,
    pub kernel: ManifestKernel<'a>,
    pub packages: Vec<ManifestPackage<'a>>,
    pub artifacts: &'a [Artifact],
}

#[derive(Debug, Serialize)]
pub struct ManifestKernel<'a> {
    pub version: &'a str,
    pub image: &'a str,
    pub image_bytes: u64,
    pub compression: &'a str,
    pub patches: &'a [String],
}

#[derive(Debug, Serialize)]
pub struct ManifestPackage<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub license: &'a str,
    pub architecture: &'a str,
    pub archive: String,
    pub archive_sha256: String,
    pub installed_bytes: u64,
}

pub fn write_manifest(
    ctx: &Context,
    board: &Board,
    id: &BuildId,
    kernel: &BuildInfo,
    packages: &[(Control, PathBuf)],
    artifacts: &[Artifact],
) -> Result<PathBuf> {
    let pkgs = packages
        .iter()
        .map(|(c, archive)| {
            Ok(ManifestPackage {
                name: &c.name,
                version: &c.version,
                license: &c.license,
                architecture: &c.architecture,
                archive: archive.file_name().unwrap_or_default().to_string_lossy().into_owned(),
                archive_sha256: hex::encode(Sha256::digest(fs::read(archive)?)),
                installed_bytes: c.files.iter().map(|f| f.size).sum(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let m = Manifest {
        board: &board.id,
        oxwrt_version: &id.version,
        build_id: &id.build_id,
        source_date_epoch: id.epoch,
        kernel: ManifestKernel {
            version: &kernel.release,
            image: &kernel.image,
            image_bytes: kernel.image_bytes,
            compression: &kernel.compression,
            patches: &kernel.patches,
        },
        packages: pkgs,
        artifacts,
    };
    let path = ctx.board_out(&board.id).join("manifest.json");
    fs::write(&path, serde_json::to_vec_pretty(&m)?)?;
    Ok(path)
}
