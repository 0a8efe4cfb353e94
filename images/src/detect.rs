//! Naming what a byte slice starts with, from its magic numbers and the few header fields
//! that confirm them: the containers of this crate ([`crate::trx`], [`crate::linksys`],
//! [`crate::chk`], [`crate::uimage`], [`crate::gpt`]) and what firmware images carry
//! inside them. [`detect`] never panics and reads only headers (a GPT is read whole,
//! through [`crate::gpt::Gpt::read`]).
//!
//! Signatures checked (docs/image-formats.md and the formats' own specifications):
//!
//! | format       | where  | signature and what is reported                                   |
//! |--------------|--------|------------------------------------------------------------------|
//! | Linksys      | 14     | `U2ND`, after a 4-character printable model pattern              |
//! | TRX          | 0      | `HDR0`                                                           |
//! | Netgear CHK  | 0      | 0x2A23245E (big-endian)                                          |
//! | uImage       | 0      | 0x27051956 (big-endian)                                          |
//! | squashfs     | 0      | `hsqs` (little-endian v4.0): inodes @4, block size @12 (= 1 << block log @22), compression @20, bytes used @40 |
//! | gzip         | 0      | 1f 8b 08: flags, mtime, OS, original name                        |
//! | xz           | 0      | fd `7zXZ` 00                                                     |
//! | ELF          | 0      | 7f `ELF`: class, byte order, machine, entry point                |
//! | GPT disk     | 0, 512 | protective MBR (type 0xEE, 55 aa) and `EFI PART` at LBA 1        |
//! | FAT          | 0      | boot sector: jump, 55 aa, `FAT12`/`FAT16` @54 or `FAT32` @82     |
//! | ext2/3/4     | 1024   | superblock magic 0xEF53 @56; journal / extents features          |
//! | JFFS2        | 0      | node magic 0x1985 (either byte order) and a known node type      |
//! | JFFS2 end    | 0      | de ad c0 de: OpenWrt's "empty writable area starts here" marker  |
//! | LZMA alone   | 0      | properties < 225, dictionary 2^n or 3·2^(n-1), size, then a 0 byte |
//! | erased flash | all    | every byte 0xff                                                  |
//! | zeros        | all    | every byte 0x00                                                  |

use crate::bytes::{array, be_u16, be_u32, c_string, le_u16, le_u32, le_u64};
pub use crate::elf::Elf;
use crate::{chk, gpt, linksys, trx, uimage};
use std::fmt;

/// What a byte slice starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// A Linksys code pattern header (parse the rest with [`linksys::Header::parse`]).
    Linksys(linksys::Header),
    /// A TRX image ([`trx::Trx::parse`]).
    Trx,
    /// A Netgear CHK image ([`chk::Chk::parse`]).
    Chk,
    /// A U-Boot legacy image ([`uimage::UImage::parse`]).
    UImage,
    Squashfs(Squashfs),
    Gzip(Gzip),
    Xz,
    Elf(Elf),
    /// A disk with a GPT that verifies.
    Gpt(gpt::Gpt),
    /// A disk that has a protective MBR and a GPT header signature, but whose GPT does
    /// not verify: why.
    GptInvalid(String),
    Fat(Fat),
    Ext(Ext),
    Jffs2 {
        big_endian: bool,
        node_type: u16,
    },
    /// `de ad c0 de`: the end-of-filesystem marker OpenWrt writes where the (empty)
    /// writable JFFS2 area starts; the kernel formats from there on first boot.
    Jffs2EndMarker,
    Lzma(Lzma),
    /// Every byte is 0xff: erased flash.
    Erased,
    /// Every byte is 0x00.
    Zeros,
}

impl Format {
    /// A short name: "TRX", "squashfs", ...
    pub fn name(&self) -> &'static str {
        match self {
            Format::Linksys(_) => "Linksys code pattern header",
            Format::Trx => "TRX",
            Format::Chk => "Netgear CHK",
            Format::UImage => "uImage",
            Format::Squashfs(_) => "squashfs",
            Format::Gzip(_) => "gzip",
            Format::Xz => "xz",
            Format::Elf(_) => "ELF",
            Format::Gpt(_) | Format::GptInvalid(_) => "GPT disk",
            Format::Fat(f) => f.kind,
            Format::Ext(e) => e.version,
            Format::Jffs2 { .. } => "JFFS2",
            Format::Jffs2EndMarker => "JFFS2 end marker",
            Format::Lzma(_) => "LZMA",
            Format::Erased => "erased flash (0xff)",
            Format::Zeros => "zeros",
        }
    }
}

/// Names what `data` starts with, or `None` for anything else (including an empty slice).
pub fn detect(data: &[u8]) -> Option<Format> {
    if data.is_empty() {
        return None;
    }
    if let Ok(h) = linksys::Header::decode(data) {
        return Some(Format::Linksys(h));
    }
    let magic4: Option<[u8; 4]> = array(data, 0);
    if magic4 == Some(trx::MAGIC) {
        return Some(Format::Trx);
    }
    match be_u32(data, 0) {
        Some(chk::MAGIC) => return Some(Format::Chk),
        Some(uimage::MAGIC) => return Some(Format::UImage),
        _ => {}
    }
    if let Some(s) = Squashfs::parse(data) {
        return Some(Format::Squashfs(s));
    }
    if let Some(g) = Gzip::parse(data) {
        return Some(Format::Gzip(g));
    }
    if data.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0]) {
        return Some(Format::Xz);
    }
    if let Some(e) = Elf::parse(data) {
        return Some(Format::Elf(e));
    }
    if let Some(g) = gpt_disk(data) {
        return Some(g);
    }
    if let Some(f) = Fat::parse(data) {
        return Some(Format::Fat(f));
    }
    if let Some(e) = Ext::parse(data) {
        return Some(Format::Ext(e));
    }
    if let Some(j) = jffs2(data) {
        return Some(j);
    }
    if magic4 == Some([0xDE, 0xAD, 0xC0, 0xDE]) {
        return Some(Format::Jffs2EndMarker);
    }
    if let Some(l) = Lzma::parse(data) {
        return Some(Format::Lzma(l));
    }
    if data.iter().all(|&b| b == 0xFF) {
        return Some(Format::Erased);
    }
    if data.iter().all(|&b| b == 0) {
        return Some(Format::Zeros);
    }
    None
}

/// A squashfs 4.0 superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Squashfs {
    pub inodes: u32,
    pub mkfs_time: u32,
    pub block_size: u32,
    pub fragments: u32,
    /// 1 gzip, 2 lzma, 3 lzo, 4 xz, 5 lz4, 6 zstd.
    pub compression: u16,
    pub flags: u16,
    /// The filesystem's size: what follows it (up to a 4 KiB boundary in images made
    /// with mksquashfs's default padding) is padding.
    pub bytes_used: u64,
}

impl Squashfs {
    /// Size of the superblock.
    pub const SUPERBLOCK_LEN: usize = 96;

    /// The superblock at the start of `data`, if it is a little-endian squashfs 4.0 one
    /// with a consistent block size.
    pub fn parse(data: &[u8]) -> Option<Squashfs> {
        if !data.starts_with(b"hsqs") || data.len() < Self::SUPERBLOCK_LEN {
            return None;
        }
        let block_size = le_u32(data, 12)?;
        let block_log = le_u16(data, 22)?;
        let (major, minor) = (le_u16(data, 28)?, le_u16(data, 30)?);
        if (major, minor) != (4, 0) || !(12..=20).contains(&block_log) || block_size != 1 << block_log {
            return None;
        }
        let bytes_used = le_u64(data, 40)?;
        if bytes_used < Self::SUPERBLOCK_LEN as u64 {
            return None;
        }
        Some(Squashfs {
            inodes: le_u32(data, 4)?,
            mkfs_time: le_u32(data, 8)?,
            block_size,
            fragments: le_u32(data, 16)?,
            compression: le_u16(data, 20)?,
            flags: le_u16(data, 24)?,
            bytes_used,
        })
    }

    /// The compression's name.
    pub fn compression_name(&self) -> &'static str {
        match self.compression {
            1 => "gzip",
            2 => "lzma",
            3 => "lzo",
            4 => "xz",
            5 => "lz4",
            6 => "zstd",
            _ => "unknown compression",
        }
    }
}

/// A gzip member header (RFC 1952).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gzip {
    pub flags: u8,
    /// Modification time recorded (0 = none).
    pub mtime: u32,
    /// 3 = Unix, 255 = unknown.
    pub os: u8,
    /// The original file name (FNAME), if recorded.
    pub name: Option<String>,
    /// The comment (FCOMMENT), if recorded.
    pub comment: Option<String>,
    /// Where the deflate data starts, if the header is complete in the slice.
    pub header_len: Option<usize>,
}

impl Gzip {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;

    /// The gzip header at the start of `data` (deflate method, no reserved flags).
    pub fn parse(data: &[u8]) -> Option<Gzip> {
        if !data.starts_with(&[0x1F, 0x8B, 0x08]) || data.len() < 10 {
            return None;
        }
        let flags = data[3];
        if flags & 0xE0 != 0 {
            return None;
        }
        let mut pos = Some(10usize);
        if flags & Self::FEXTRA != 0 {
            pos = pos.and_then(|p| Some(p + 2 + le_u16(data, p)? as usize)).filter(|&p| p <= data.len());
        }
        let mut text = |flag: u8| -> Option<String> {
            if flags & flag == 0 {
                return None;
            }
            let start = pos?;
            let rest = data.get(start..)?;
            match rest.iter().position(|&b| b == 0) {
                Some(n) => {
                    pos = Some(start + n + 1);
                    Some(String::from_utf8_lossy(&rest[..n]).into_owned())
                }
                None => {
                    pos = None;
                    Some(String::from_utf8_lossy(rest).into_owned())
                }
            }
        };
        let name = text(Self::FNAME);
        let comment = text(Self::FCOMMENT);
        if flags & Self::FHCRC != 0 {
            pos = pos.map(|p| p + 2);
        }
        Some(Gzip { flags, mtime: le_u32(data, 4)?, os: data[9], name, comment, header_len: pos.filter(|&p| p <= data.len()) })
    }
}

/// A FAT boot sector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fat {
    /// "FAT12", "FAT16" or "FAT32", from the boot sector's type string.
    pub kind: &'static str,
    pub label: String,
    pub bytes_per_sector: u16,
}

impl Fat {
    /// The FAT boot sector at the start of `data`.
    pub fn parse(data: &[u8]) -> Option<Fat> {
        if data.len() < 512 || data[510..512] != [0x55, 0xAA] || !matches!(data[0], 0xEB | 0xE9) {
            return None;
        }
        let bytes_per_sector = le_u16(data, 11)?;
        if !(512..=4096).contains(&bytes_per_sector) || !bytes_per_sector.is_power_of_two() {
            return None;
        }
        let (kind, label_at) = match (&data[54..59], &data[82..87]) {
            (b"FAT12", _) => ("FAT12", 43),
            (b"FAT16", _) => ("FAT16", 43),
            (_, b"FAT32") => ("FAT32", 71),
            _ => return None,
        };
        Some(Fat { kind, label: c_string(&data[label_at..label_at + 11]).trim_end().to_string(), bytes_per_sector })
    }
}

/// An ext2/3/4 superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext {
    /// "ext4" with extents, "ext3" with a journal, else "ext2".
    pub version: &'static str,
    pub label: String,
    pub block_size: u64,
    pub blocks: u64,
}

impl Ext {
    const SUPERBLOCK: usize = 1024;

    /// The superblock at byte 1024 of `data`.
    pub fn parse(data: &[u8]) -> Option<Ext> {
        let sb = data.get(Self::SUPERBLOCK..Self::SUPERBLOCK + 1024)?;
        if le_u16(sb, 56)? != 0xEF53 {
            return None;
        }
        let log = le_u32(sb, 24)?;
        if log > 6 {
            return None;
        }
        let compat = le_u32(sb, 92)?;
        let incompat = le_u32(sb, 96)?;
        let version = if incompat & 0x40 != 0 {
            "ext4"
        } else if compat & 0x4 != 0 {
            "ext3"
        } else {
            "ext2"
        };
        let hi = if incompat & 0x80 != 0 { le_u32(sb, 0x150)? as u64 } else { 0 };
        Some(Ext { version, label: c_string(&sb[120..136]), block_size: 1024 << log, blocks: (hi << 32) | le_u32(sb, 4)? as u64 })
    }
}

/// A JFFS2 node header: magic 0x1985 and a known node type.
fn jffs2(data: &[u8]) -> Option<Format> {
    const NODE_TYPES: [u16; 7] = [0xE001, 0xE002, 0x2003, 0x2004, 0x2006, 0xE008, 0xE009];
    for big_endian in [false, true] {
        let read = |o| {
            if big_endian {
                be_u16(data, o)
            } else {
                le_u16(data, o)
            }
        };
        if read(0)? == 0x1985 {
            let node_type = read(2)?;
            if NODE_TYPES.contains(&node_type) {
                return Some(Format::Jffs2 { big_endian, node_type });
            }
        }
    }
    None
}

/// A protective MBR and `EFI PART` at LBA 1: then the GPT, verified.
fn gpt_disk(data: &[u8]) -> Option<Format> {
    if data.len() < 1024 || data[510..512] != [0x55, 0xAA] || data[450] != 0xEE || &data[512..520] != b"EFI PART" {
        return None;
    }
    let mut disk = std::io::Cursor::new(data);
    Some(match gpt::Gpt::read(&mut disk, data.len() as u64) {
        Ok(g) => Format::Gpt(g),
        Err(e) => Format::GptInvalid(e.to_string()),
    })
}

/// An LZMA "alone" (.lzma) header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lzma {
    /// lc + lp·9 + pb·45.
    pub properties: u8,
    pub dict_size: u32,
    /// `None` when the stream has an end marker instead (stored as all ones).
    pub uncompressed_size: Option<u64>,
}

impl Lzma {
    /// Header length: properties, dictionary size, uncompressed size.
    pub const HEADER_LEN: usize = 13;

    /// The .lzma header at the start of `data`, if it is plausible: valid properties,
    /// a dictionary of 2^n or 3·2^(n-1) bytes from 4 KiB to 1 GiB (what LZMA encoders
    /// write), a size that is unknown or below 4 GiB, and the range coder's first byte,
    /// which is always 0.
    pub fn parse(data: &[u8]) -> Option<Lzma> {
        let properties = *data.first()?;
        if properties >= 9 * 5 * 5 {
            return None;
        }
        let dict_size = le_u32(data, 1)?;
        let d = dict_size;
        let plausible_dict = (4096..=1 << 30).contains(&d) && (d.is_power_of_two() || (d % 3 == 0 && (d / 3).is_power_of_two()));
        let size = le_u64(data, 5)?;
        let uncompressed_size = (size != u64::MAX).then_some(size);
        if !plausible_dict || uncompressed_size.is_some_and(|s| s > u32::MAX as u64) || data.get(Self::HEADER_LEN).is_some_and(|&b| b != 0) {
            return None;
        }
        Some(Lzma { properties, dict_size, uncompressed_size })
    }

    /// (lc, lp, pb).
    pub fn lc_lp_pb(&self) -> (u8, u8, u8) {
        let p = self.properties;
        (p % 9, (p / 9) % 5, p / 45)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Linksys(h) => write!(
                f,
                "Linksys code pattern header {} ({}), {}, {}",
                h.pattern_str(),
                h.model().unwrap_or("unknown model"),
                h.version_string(),
                h.date_string()
            ),
            Format::Squashfs(s) => {
                write!(f, "squashfs 4.0, {}, block size {}, {} inodes, {} bytes used", s.compression_name(), s.block_size, s.inodes, s.bytes_used)
            }
            Format::Gzip(g) => match &g.name {
                Some(n) => write!(f, "gzip, original name {n:?}"),
                None => f.write_str("gzip"),
            },
            Format::Elf(e) => write!(
                f,
                "ELF {}-bit {}, {} {}, entry {:#x}",
                if e.class64 { 64 } else { 32 },
                if e.big_endian { "big-endian" } else { "little-endian" },
                e.machine_name(),
                e.type_name(),
                e.entry
            ),
            Format::Gpt(g) => write!(f, "GPT disk, {} partitions", g.partitions.len()),
            Format::GptInvalid(why) => write!(f, "GPT disk that does not verify: {why}"),
            Format::Fat(x) => write!(f, "{} filesystem, label {:?}", x.kind, x.label),
            Format::Ext(x) => write!(f, "{} filesystem, label {:?}, {} blocks of {}", x.version, x.label, x.blocks, x.block_size),
            Format::Jffs2 { big_endian, node_type } => write!(f, "JFFS2 node {node_type:#06x}, {}", if *big_endian { "big-endian" } else { "little-endian" }),
            Format::Lzma(l) => {
                let (lc, lp, pb) = l.lc_lp_pb();
                write!(f, "LZMA, lc={lc} lp={lp} pb={pb}, dictionary {} bytes, ", l.dict_size)?;
                match l.uncompressed_size {
                    Some(s) => write!(f, "{s} bytes uncompressed"),
                    None => f.write_str("size unknown (end marker)"),
                }
            }
            other => f.write_str(other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn squashfs_superblock(block_log: u16, bytes_used: u64) -> Vec<u8> {
        let mut s = vec![0u8; 96];
        s[0..4].copy_from_slice(b"hsqs");
        s[4..8].copy_from_slice(&7u32.to_le_bytes());
        s[12..16].copy_from_slice(&(1u32 << block_log).to_le_bytes());
        s[20..22].copy_from_slice(&4u16.to_le_bytes());
        s[22..24].copy_from_slice(&block_log.to_le_bytes());
        s[28..30].copy_from_slice(&4u16.to_le_bytes());
        s[40..48].copy_from_slice(&bytes_used.to_le_bytes());
        s
    }

    #[test]
    fn squashfs_superblock_fields() {
        let s = squashfs_superblock(18, 4000);
        let Some(Format::Squashfs(sq)) = detect(&s) else { panic!() };
        assert_eq!((sq.inodes, sq.block_size, sq.bytes_used), (7, 1 << 18, 4000));
        assert_eq!(sq.compression_name(), "xz");
        // Inconsistent block size / log, or a wrong version: not squashfs.
        let mut bad = s.clone();
        bad[22] = 17;
        assert_eq!(Squashfs::parse(&bad), None);
        let mut bad = s.clone();
        bad[28] = 3;
        assert_eq!(Squashfs::parse(&bad), None);
        assert_eq!(Squashfs::parse(&s[..95]), None);
    }

    #[test]
    fn gzip_header_with_name() {
        // gzip -c with a name, written by hand: flags FNAME, mtime 1, OS Unix.
        let mut g = vec![0x1F, 0x8B, 8, 0x08, 1, 0, 0, 0, 2, 3];
        g.extend_from_slice(b"vmlinux\0");
        g.extend_from_slice(&[0x03, 0x00]);
        let Some(Format::Gzip(h)) = detect(&g) else { panic!() };
        assert_eq!(h.name.as_deref(), Some("vmlinux"));
        assert_eq!((h.mtime, h.os, h.header_len), (1, 3, Some(18)));
        // Name cut short: still gzip, header incomplete.
        let h = Gzip::parse(&g[..14]).unwrap();
        assert_eq!((h.name.as_deref(), h.header_len), (Some("vmli"), None));
        // Reserved flag bits: not gzip.
        let mut bad = g.clone();
        bad[3] = 0x80;
        assert_eq!(Gzip::parse(&bad), None);
    }

    #[test]
    fn lzma_headers() {
        let mut l = vec![0x5D];
        l.extend_from_slice(&(1u32 << 23).to_le_bytes());
        l.extend_from_slice(&u64::MAX.to_le_bytes());
        l.push(0);
        let Some(Format::Lzma(h)) = detect(&l) else { panic!("{:?}", detect(&l)) };
        assert_eq!(h.lc_lp_pb(), (3, 0, 2));
        assert_eq!(h.uncompressed_size, None);
        // The first range-coder byte must be 0.
        l[13] = 1;
        assert_eq!(Lzma::parse(&l), None);
        l[13] = 0;
        // 3 MiB dictionaries are fine; 5000 bytes is not what an encoder writes.
        l[1..5].copy_from_slice(&(3u32 << 20).to_le_bytes());
        assert!(Lzma::parse(&l).is_some());
        l[1..5].copy_from_slice(&5000u32.to_le_bytes());
        assert_eq!(Lzma::parse(&l), None);
    }

    #[test]
    fn elf_header() {
        let mut e = vec![0u8; 64];
        e[..7].copy_from_slice(b"\x7fELF\x01\x01\x01");
        e[16..18].copy_from_slice(&2u16.to_le_bytes());
        e[18..20].copy_from_slice(&8u16.to_le_bytes());
        e[24..28].copy_from_slice(&0x8000_1000u32.to_le_bytes());
        let Some(Format::Elf(h)) = detect(&e) else { panic!() };
        assert_eq!((h.class64, h.big_endian, h.machine_name(), h.entry), (false, false, "MIPS", 0x8000_1000));
        assert_eq!(Format::Elf(h).to_string(), "ELF 32-bit little-endian, MIPS executable, entry 0x80001000");
    }

    #[test]
    fn containers_fills_and_unknowns() {
        let t = trx::Builder::new(1).partition(b"k", 4).build().unwrap();
        assert_eq!(detect(&t), Some(Format::Trx));
        let h = linksys::Header::new(*b"W54G", (25, 1, 1), (4, 71, 1));
        assert!(matches!(detect(&linksys::wrap(&h, &t)), Some(Format::Linksys(_))));
        let c = chk::build("B", 1, [0; 7], b"k", b"").unwrap();
        assert_eq!(detect(&c), Some(Format::Chk));
        assert_eq!(detect(&[0xFF; 100]), Some(Format::Erased));
        assert_eq!(detect(&[0; 100]), Some(Format::Zeros));
        assert_eq!(detect(&[0xDE, 0xAD, 0xC0, 0xDE, 0xFF]), Some(Format::Jffs2EndMarker));
        assert_eq!(detect(&[0x85, 0x19, 0x03, 0x20, 0, 0, 0, 0]), Some(Format::Jffs2 { big_endian: false, node_type: 0x2003 }));
        assert_eq!(detect(&[]), None);
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"), None);
        assert_eq!(detect(b"hello world"), None);
    }

    #[test]
    fn never_panics_on_prefixes_of_headers() {
        let mut samples: Vec<Vec<u8>> = vec![squashfs_superblock(17, 500)];
        samples.push(trx::Builder::new(2).partition(b"k", 4).pad_to(64).build().unwrap());
        let mut gz = vec![0x1F, 0x8B, 8, 0x1E, 0, 0, 0, 0, 0, 3, 4, 0];
        gz.extend_from_slice(b"abcdname\0comment\0\0\0");
        samples.push(gz);
        let mut mbr = vec![0u8; 2048];
        mbr[450] = 0xEE;
        mbr[510..512].copy_from_slice(&[0x55, 0xAA]);
        mbr[512..520].copy_from_slice(b"EFI PART");
        samples.push(mbr.clone());
        let mut ext = vec![0u8; 2048];
        ext[1024 + 56..1024 + 58].copy_from_slice(&0xEF53u16.to_le_bytes());
        samples.push(ext);
        for s in &samples {
            for cut in 0..=s.len() {
                let _ = detect(&s[..cut]);
            }
            for i in 0..s.len().min(200) {
                let mut b = s.clone();
                b[i] ^= 0xFF;
                let _ = detect(&b);
            }
        }
        assert!(matches!(detect(&mbr), Some(Format::GptInvalid(_))));
    }
}
