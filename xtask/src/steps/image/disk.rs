//! The `gpt-disk` image: a GPT disk with the EFI system partition (the EFI-stub kernel as
//! \EFI\BOOT\BOOTX64.EFI), the squashfs root partition and an empty ext4 data partition;
//! GUIDs, volume ids and the ext4 UUID/hash seed derived from the board.

use crate::board::{Arch, Board, PartitionRole};
use crate::context::Context;
use crate::steps::rootfs::BuildId;
use anyhow::{bail, Context as _, Result};
use oxwrt_images::gpt::{Gpt, Guid, Partition, SECTOR_SIZE};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

/// Writes the disk image of `board` to `path`.
pub fn gpt_disk(ctx: &Context, board: &Board, kernel_image: &Path, rootfs: &Path, id: &BuildId, path: &Path) -> Result<()> {
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
