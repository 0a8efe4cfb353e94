//! Images for NOR-flash boards booted by CFE (the WRT54G class) and for their QEMU
//! stand-in: `trx`, `linksys-factory`, `flash-image`, and the flash budget.
//!
//! What CFE boots (docs/cfe.md): it checks the TRX at the start of the firmware partition,
//! gunzips partition 0 to the kernel's load address (0x80001000 on BCM47xx) and jumps to
//! its first byte. oxwrt's partition 0 is the raw binary of the kernel's own `vmlinuz`
//! (the MIPS decompressor with the LZMA kernel inside), gzip'd. Patch
//! `flash-boot/0002` makes that decompressor move itself to its link address (above the
//! kernel) when started elsewhere, so no separate loader is needed.
//!
//! Layout of `<board>.trx` (v1): header (28 B), partition 0 at 28, the squashfs (only its
//! `bytes_used`, not mksquashfs' 4 KiB padding) at the next 4-byte boundary, zero padding
//! to 4 KiB. The kernel's TRX parser (generic patch 0002) puts `rootfs_data` at the first
//! erase block after the squashfs, which is never before the end of the TRX, so JFFS2
//! writes there never touch the bytes CFE checksums.
//!
//! The QEMU Malta board boots the same way: `<board>-boot.elf` is partition 0, gunzipped
//! (what CFE would do), wrapped in an ELF loaded at the kernel's load address, so QEMU's
//! `-kernel` plays CFE and the relocation runs; `<board>-flash.bin` is the whole flash chip
//! with the TRX in place, QEMU's pflash.

use super::manifest::Artifact;
use crate::board::{Board, ImageFormat, PartitionRole};
use crate::size::Size;
use crate::steps::packages::{self, Content};
use anyhow::{anyhow, bail, Context as _, Result};
use oxwrt_images::elf::{executable32, Elf, ElfError, Segment};
use oxwrt_images::{linksys, trx};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// JFFS2 refuses to mount fewer erase blocks than this (fs/jffs2/fs.c, "Too few erase blocks").
pub const JFFS2_MIN_BLOCKS: u64 = 5;

pub fn trx_path(dir: &Path, board: &Board) -> PathBuf {
    dir.join(format!("{}.trx", board.id))
}

pub fn factory_path(dir: &Path, board: &Board) -> PathBuf {
    dir.join(format!("{}-factory.bin", board.id))
}

pub fn flash_path(dir: &Path, board: &Board) -> PathBuf {
    dir.join(format!("{}-flash.bin", board.id))
}

pub fn boot_elf_path(dir: &Path, board: &Board) -> PathBuf {
    dir.join(format!("{}-boot.elf", board.id))
}

/// The kernel of a CFE board as an ELF32 little-endian file: its header and loadable
/// segments, read with [`oxwrt_images::elf`].
#[derive(Debug, Clone)]
pub struct Elf32 {
    pub header: Elf,
    pub loads: Vec<Segment>,
}

impl Elf32 {
    pub fn parse(data: &[u8], what: &str) -> Result<Elf32> {
        let header = Elf::parse(data).ok_or_else(|| anyhow!("{what} is not an ELF file"))?;
        if header.class64 || header.big_endian {
            bail!("{what} is not a 32-bit little-endian ELF (class {}, data {})", data[4], data[5]);
        }
        let loads = header.loads(data).map_err(|e| match e {
            ElfError::Truncated => anyhow!("{what} is truncated (its program headers run past the end)"),
            other => anyhow!("{what}: {other}"),
        })?;
        Ok(Elf32 { header, loads })
    }

    /// The bytes a boot loader puts in memory (`objcopy -O binary` of a one-segment ELF),
    /// checking that execution starts at the first byte, which is where CFE jumps.
    pub fn raw_binary<'a>(&self, data: &'a [u8], what: &str) -> Result<&'a [u8]> {
        let [s] = self.loads[..] else {
            bail!("{what} has {} loadable segments; a raw binary for CFE needs exactly one", self.loads.len());
        };
        if self.header.entry != s.vaddr {
            bail!("{what} starts executing at {:#x}, not at its first byte {:#x}: CFE jumps to the first byte of what it loads", self.header.entry, s.vaddr);
        }
        // loads() checked that the segment lies inside the file.
        Ok(&data[s.offset as usize..(s.offset + s.filesz) as usize])
    }
}

/// gzip as CFE reads it, reproducibly: no name, mtime 0, level 9.
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut gz = flate2::GzBuilder::new().mtime(0).operating_system(3).write(Vec::new(), flate2::Compression::best());
    gz.write_all(data)?;
    Ok(gz.finish()?)
}

fn gunzip(data: &[u8], what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).with_context(|| format!("{what} is not valid gzip"))?;
    Ok(out)
}

/// A squashfs superblock's `bytes_used`: the filesystem without mksquashfs' padding.
pub fn squashfs_bytes_used(sq: &[u8], what: &str) -> Result<usize> {
    let Some(superblock) = oxwrt_images::detect::Squashfs::parse(sq) else {
        bail!("{what} is not a squashfs 4 image (no valid \"hsqs\" superblock)");
    };
    let used = superblock.bytes_used as usize;
    if used > sq.len() {
        bail!("{what}: the superblock says {used} bytes, the file has {}", sq.len());
    }
    Ok(used)
}

/// Where the bytes of a flash image went, and how much room is left.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Budget {
    pub board: String,
    /// The firmware partition (TRX + writable area).
    pub firmware_bytes: u64,
    pub erase_block: u64,
    /// The largest TRX the board allows.
    pub budget_bytes: u64,
    pub trx_bytes: u64,
    /// Partition 0: gzip'd vmlinuz.
    pub kernel_bytes: u64,
    /// The squashfs in the TRX (bytes_used).
    pub rootfs_bytes: u64,
    /// Header, alignment and padding.
    pub overhead_bytes: u64,
    /// Where rootfs_data starts, from the start of the firmware partition.
    pub writable_offset: u64,
    /// The JFFS2 area (0 if none).
    pub writable_bytes: u64,
    pub packages: Vec<PackageBytes>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageBytes {
    pub name: String,
    pub installed_bytes: u64,
    /// Each file compressed alone with xz -9 (an estimate of its share of the squashfs).
    pub xz_bytes: u64,
    pub files: Vec<(String, u64, u64)>,
    /// The multi-call binary: (package or "shared", bytes of symbols, that share of its xz'd
    /// size) from its archive's `contains`.
    #[serde(default)]
    pub parts: Vec<(String, u64, u64)>,
}

impl Budget {
    pub fn over_by(&self) -> Option<u64> {
        (self.trx_bytes > self.budget_bytes).then(|| self.trx_bytes - self.budget_bytes)
    }

    pub fn writable_blocks(&self) -> u64 {
        self.writable_bytes / self.erase_block
    }

    /// The breakdown, for the build's output and docs/benchmarks.md.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let kib = |b: u64| format!("{:.1} KiB", b as f64 / 1024.0);
        let _ = writeln!(
            s,
            "flash budget of {}: firmware partition {} ({}), largest TRX allowed {} ({})",
            self.board,
            self.firmware_bytes,
            kib(self.firmware_bytes),
            self.budget_bytes,
            kib(self.budget_bytes)
        );
        let _ =
            writeln!(s, "  {:>10} B  {:>11}  kernel (TRX partition 0: gzip'd vmlinuz = decompressor + LZMA kernel)", self.kernel_bytes, kib(self.kernel_bytes));
        let _ = writeln!(
            s,
            "  {:>10} B  {:>11}  root filesystem (squashfs, xz), by package (installed / each file xz'd alone):",
            self.rootfs_bytes,
            kib(self.rootfs_bytes)
        );
        for p in &self.packages {
            let _ = writeln!(s, "  {:>27}    {:<10} {:>9} B / {:>9} B", "", p.name, p.installed_bytes, p.xz_bytes);
            for (path, size, xz) in &p.files {
                let _ = writeln!(s, "  {:>27}      {:<30} {:>9} B / {:>9} B", "", path, size, xz);
            }
            for (name, bytes, xz) in &p.parts {
                let _ = writeln!(s, "  {:>27}        {:<28} {:>9} B / {:>9} B  (symbols / share of xz)", "", name, bytes, xz);
            }
        }
        let _ = writeln!(s, "  {:>10} B  {:>11}  TRX header, alignment, padding", self.overhead_bytes, kib(self.overhead_bytes));
        let _ = writeln!(s, "  {:>10} B  {:>11}  TRX total", self.trx_bytes, kib(self.trx_bytes));
        match self.over_by() {
            Some(over) => {
                let _ = writeln!(s, "  OVER BUDGET by {over} B ({})", kib(over));
            }
            None => {
                let _ = writeln!(s, "  {:>10} B  {:>11}  left under the budget", self.budget_bytes - self.trx_bytes, kib(self.budget_bytes - self.trx_bytes));
            }
        }
        let _ = writeln!(
            s,
            "  {:>10} B  {:>11}  writable JFFS2 overlay (rootfs_data at firmware+{:#x}, {} erase blocks of {} KiB; JFFS2 needs {JFFS2_MIN_BLOCKS})",
            self.writable_bytes,
            kib(self.writable_bytes),
            self.writable_offset,
            self.writable_blocks(),
            self.erase_block / 1024
        );
        s
    }
}

/// The board's firmware partition and erase block.
fn firmware_area(board: &Board) -> Result<(u64, u64, u64)> {
    let fw = board
        .partition(PartitionRole::Firmware)
        .ok_or_else(|| anyhow!("targets/{}.toml has no partition with role \"firmware\" to put the TRX in", board.id))?;
    let eb = board.storage.erase_block.map(|s| s.0).ok_or_else(|| anyhow!("targets/{}.toml: storage.erase_block is missing", board.id))?;
    Ok((fw.offset, fw.size, eb))
}

/// Per-package sizes: installed bytes and each regular file xz'd alone.
fn package_bytes(archives: &[PathBuf]) -> Result<Vec<PackageBytes>> {
    let mut out = Vec::new();
    for a in archives {
        let (control, contents) = packages::read_archive(a)?;
        let mut files = Vec::new();
        for (path, c) in &contents {
            if let Content::File { data, .. } = c {
                files.push((path.clone(), data.len() as u64, xz_len(data)?));
            }
        }
        let xz_bytes = files.iter().map(|f| f.2).sum();
        out.push(PackageBytes {
            name: control.name.clone(),
            installed_bytes: files.iter().map(|f| f.1).sum(),
            xz_bytes,
            files,
            parts: shares(&control.contains, xz_bytes),
        });
    }
    Ok(out)
}

/// Each part's bytes and its share of `xz` bytes, in proportion.
pub fn shares(parts: &[crate::steps::packages::multicall::Part], xz: u64) -> Vec<(String, u64, u64)> {
    let total: u64 = parts.iter().map(|p| p.bytes).sum();
    parts.iter().map(|p| (p.name.clone(), p.bytes, (xz * p.bytes).checked_div(total).unwrap_or(0))).collect()
}

fn xz_len(data: &[u8]) -> Result<u64> {
    let mut child =
        Command::new("xz").args(["-9", "-c", "-T1"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().context("cannot run xz (install xz-utils)")?;
    let mut stdin = child.stdin.take().expect("piped");
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let mut out = Vec::new();
    child.stdout.take().expect("piped").read_to_end(&mut out)?;
    writer.join().map_err(|_| anyhow!("xz writer panicked"))??;
    child.wait()?;
    Ok(out.len() as u64)
}

/// Writes the board's flash images (those of trx, linksys-factory, flash-image it lists)
/// and checks the budget; returns the artifacts and the budget.
pub fn build(board: &Board, dir: &Path, vmlinuz: &Path, vmlinux: &Path, rootfs: &Path, archives: &[PathBuf], epoch: u64) -> Result<(Vec<Artifact>, Budget)> {
    let toml = format!("targets/{}.toml", board.id);
    let kernel = fs::read(vmlinuz).with_context(|| format!("cannot read the kernel image {}", vmlinuz.display()))?;
    let elf = Elf32::parse(&kernel, &vmlinuz.display().to_string()).with_context(|| format!("{toml}: trx images need kernel.image = \"vmlinuz\""))?;
    let raw = elf.raw_binary(&kernel, &vmlinuz.display().to_string())?;
    let part0 = gzip(raw)?;
    let sq = fs::read(rootfs)?;
    let used = squashfs_bytes_used(&sq, &rootfs.display().to_string())?;
    let image = trx::Builder::new(1)
        .partition(&part0, 4)
        .partition(&sq[..used], 4)
        .pad_to(4096)
        .build()
        .map_err(|e| anyhow!("building the TRX for {}: {e}", board.id))?;
    let parsed = trx::Trx::parse(&image).map_err(|e| anyhow!("the TRX just built does not parse back: {e}"))?;
    let rootfs_offset = parsed.partitions[1].offset as u64;

    let (fw_offset, fw_size, eb) = firmware_area(board)?;
    let writable_offset = (rootfs_offset + used as u64).div_ceil(eb) * eb;
    let budget_bytes = board.size_budget.map(|s| s.0).unwrap_or(fw_size.saturating_sub(JFFS2_MIN_BLOCKS * eb)).min(fw_size);
    let budget = Budget {
        board: board.id.clone(),
        firmware_bytes: fw_size,
        erase_block: eb,
        budget_bytes,
        trx_bytes: image.len() as u64,
        kernel_bytes: part0.len() as u64,
        rootfs_bytes: used as u64,
        overhead_bytes: image.len() as u64 - part0.len() as u64 - used as u64,
        writable_offset,
        writable_bytes: fw_size.saturating_sub(writable_offset),
        packages: package_bytes(archives)?,
    };
    if budget.trx_bytes > fw_size {
        bail!(
            "the firmware does not fit the flash of {}: the TRX is {} bytes, the firmware partition {} bytes, {} bytes over.\n{}\nMake it smaller: drop packages from {toml}, or shrink the kernel config (targets/{}).",
            board.id,
            budget.trx_bytes,
            fw_size,
            budget.trx_bytes - fw_size,
            budget.report(),
            board.kernel.fragments.join(", ")
        );
    }
    if let Some(over) = budget.over_by() {
        bail!(
            "the firmware of {} is over its flash budget by {over} bytes ({} > size_budget {} of {toml}).\n{}\nMake it smaller (drop packages, shrink the kernel) or, if the overlay can be smaller, raise size_budget.",
            board.id,
            budget.trx_bytes,
            Size(budget_bytes),
            budget.report()
        );
    }
    if budget.writable_blocks() < JFFS2_MIN_BLOCKS {
        bail!(
            "the firmware of {} leaves {} erase blocks for the writable overlay; JFFS2 needs at least {JFFS2_MIN_BLOCKS}, or settings could not be saved.\n{}",
            board.id,
            budget.writable_blocks(),
            budget.report()
        );
    }

    let mut out = Vec::new();
    let trx_file = trx_path(dir, board);
    fs::write(&trx_file, &image)?;
    out.push(Artifact::of(&trx_file, "TRX: what CFE boots; for TFTP recovery (cargo xtask flash) and upgrades")?);
    for format in &board.images {
        match format {
            ImageFormat::LinksysFactory => {
                let spec = board.linksys.as_ref().ok_or_else(|| anyhow!("{toml}: linksys-factory needs a [linksys] section"))?;
                let pattern: [u8; 4] = spec.pattern.as_bytes().try_into().map_err(|_| anyhow!("{toml}: linksys.pattern must be 4 characters"))?;
                let version = linksys::parse_version(&spec.version).map_err(|e| anyhow!("{toml}: linksys.version: {e}"))?;
                let mut header = linksys::Header::new(pattern, linksys::date_from_unix(epoch as i64), version);
                header.flags = spec.flags;
                header.hw_version = spec.hw_version;
                let path = factory_path(dir, board);
                fs::write(&path, linksys::wrap(&header, &image))?;
                out.push(Artifact::of(&path, "factory image: first install from the stock Linksys web interface")?);
            }
            ImageFormat::FlashImage => {
                let mut flash = vec![0xffu8; board.storage.size.0 as usize];
                flash[fw_offset as usize..fw_offset as usize + image.len()].copy_from_slice(&image);
                let path = flash_path(dir, board);
                fs::write(&path, &flash)?;
                out.push(Artifact::of(&path, "the whole flash chip (TRX in the firmware partition, the rest erased): QEMU's pflash")?);
                if board.qemu.is_some() {
                    // What CFE does: gunzip partition 0 and run it at the kernel's load address.
                    let loaded = gunzip(parsed.partition_data(&image, &parsed.partitions[0]), "TRX partition 0")?;
                    let vmlinux_elf = Elf32::parse(&fs::read(vmlinux)?, &vmlinux.display().to_string())?;
                    let load = vmlinux_elf.loads.first().map(|l| l.vaddr).ok_or_else(|| anyhow!("{} has no loadable segment", vmlinux.display()))?;
                    let load = u32::try_from(load).map_err(|_| anyhow!("{} loads at {load:#x}, above 4 GiB", vmlinux.display()))?;
                    let path = boot_elf_path(dir, board);
                    fs::write(&path, executable32(&loaded, load, elf.header.machine, elf.header.flags))?;
                    out.push(Artifact::of(&path, &format!("TRX partition 0 gunzipped, loaded at {load:#x} like CFE does: QEMU -kernel"))?);
                }
            }
            _ => {}
        }
    }
    fs::write(dir.join("flash-budget.json"), serde_json::to_vec_pretty(&budget)?)?;
    Ok((out, budget))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_elf_parses_back_and_starts_at_its_first_byte() {
        let payload = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let e = executable32(&payload, 0x8000_1000, 8, 0x5000_1001);
        let parsed = Elf32::parse(&e, "test").unwrap();
        assert_eq!(parsed.header.entry, 0x8000_1000);
        assert_eq!(parsed.header.machine, 8);
        assert_eq!(parsed.header.flags, 0x5000_1001);
        assert_eq!(parsed.raw_binary(&e, "test").unwrap(), &payload);
    }

    #[test]
    fn elf_errors_are_clear() {
        assert!(Elf32::parse(b"nope", "x").unwrap_err().to_string().contains("not an ELF"));
        let mut e = executable32(&[0; 8], 0x1000, 8, 0);
        e[24] = 4; // entry 0x1004: not the first byte
        let parsed = Elf32::parse(&e, "x").unwrap();
        assert!(parsed.raw_binary(&e, "x").unwrap_err().to_string().contains("CFE jumps to the first byte"));
        e.truncate(70);
        assert!(Elf32::parse(&e, "x").unwrap_err().to_string().contains("past the end"));
    }

    #[test]
    fn gzip_is_reproducible_and_round_trips() {
        let data = b"oxwrt oxwrt oxwrt".repeat(100);
        let a = gzip(&data).unwrap();
        assert_eq!(a, gzip(&data).unwrap());
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "mtime 0");
        assert_eq!(gunzip(&a, "t").unwrap(), data);
    }
}
