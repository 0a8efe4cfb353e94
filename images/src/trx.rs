//! Broadcom TRX images: what the CFE boot loader of BCM47xx routers (WRT54G class) checks
//! and boots, and what Linux's `bcm47xxpart` MTD parser splits into kernel and rootfs.
//! [`Builder`] writes one; [`Trx::parse`] verifies one.
//!
//! Layout (little-endian; docs/image-formats.md has it with its sources, confirmed against
//! OpenWrt's `trx` and `otrx` tools):
//!
//! | offset | size | field                                                          |
//! |--------|------|----------------------------------------------------------------|
//! | 0      | 4    | magic `HDR0` (0x30524448 as a little-endian u32)               |
//! | 4      | 4    | length of the image, header included                           |
//! | 8      | 4    | CRC32 of bytes `[12, length)`                                  |
//! | 12     | 2    | flags                                                          |
//! | 14     | 2    | version: 1 (28-byte header) or 2 (32-byte header)              |
//! | 16     | 12   | offsets of partitions 0..=2 from the start of the header      |
//! | 28     | 4    | offset of partition 3 (version 2 only)                         |
//!
//! - An offset of 0 marks an unused partition. A partition runs to the next used offset,
//!   or to the length: its size includes the alignment padding after its data.
//! - The CRC is the reflected CRC-32 (polynomial 0xEDB88320, initial value 0xFFFFFFFF)
//!   **without** the final inversion: the bitwise NOT of zlib's `crc32`.
//! - Partition 0 is what CFE boots (a gzip'd kernel, or a small loader followed by an LZMA
//!   kernel); the next one is the root filesystem. Partitions start 4-byte aligned (oxwrt
//!   aligns the root filesystem further, see [`Builder::partition`]) and the whole image is
//!   padded with zeros to a multiple of 4 KiB.
//! - The length may be shorter than the file: OpenWrt's images continue after it with a
//!   JFFS2 end-of-filesystem marker (`de ad c0 de`) on the next 64 KiB erase block, outside
//!   the CRC. Data after `length` is the caller's business.
//!
//! Version 2 (from OpenWrt's `trx -2`): in a version 2 image, partition 3 holds a
//! 32-byte Linksys pattern header ([`crate::linksys`]) whose boot counters (bytes 22..30:
//! stable, try1..try3) the firmware rewrites on flash. The CRC is therefore computed as if
//! those 8 bytes were 0xFF, which is what CFE does; both [`Builder`] and [`Trx::parse`]
//! follow it.

use crate::bytes::{le_u16, le_u32, show};
use std::ops::Range;

/// `HDR0`.
pub const MAGIC: [u8; 4] = *b"HDR0";
/// Header size of a version 1 image.
pub const HEADER_LEN_V1: usize = 28;
/// Header size of a version 2 image.
pub const HEADER_LEN_V2: usize = 32;
/// What an image is padded to unless told otherwise: 4 KiB.
pub const DEFAULT_PAD: u32 = 4096;
/// Where the CRC starts: the flags field.
pub const CRC_START: usize = 12;
/// In a version 2 image, the bytes of partition 3 (a Linksys pattern header) counted as
/// 0xFF by the CRC: the boot counters, relative to the partition's start.
pub const V2_BOOT_COUNTERS: Range<usize> = 22..30;

/// A TRX image that cannot be built, or bytes that are not a valid TRX image. Parse
/// errors name the header byte at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    // ---- parsing
    #[error("not a TRX image: it is {available} bytes long, shorter than the {needed}-byte TRX header")]
    TooShort { available: usize, needed: usize },
    #[error("not a TRX image: bytes 0..4 hold \"{}\" instead of the magic \"HDR0\"", show(found))]
    BadMagic { found: [u8; 4] },
    #[error("TRX header byte 14: version {version} is unknown (known: 1, with a 28-byte header, and 2, with a 32-byte header)")]
    UnknownVersion { version: u16 },
    #[error("TRX header byte 4: the image length {len} is smaller than the {header_len}-byte header itself")]
    LengthTooSmall { len: u32, header_len: usize },
    #[error("truncated TRX image: header byte 4 gives its length as {len} bytes, but only {available} bytes are there ({} missing)", *len as u64 - available)]
    Truncated { len: u32, available: u64 },
    #[error("TRX header byte {}: partition {index} starts at {offset:#x}, inside the {header_len}-byte header", 16 + 4 * index)]
    OffsetInHeader { index: usize, offset: u32, header_len: usize },
    #[error("TRX header byte {}: partition {index} starts at {offset:#x}, at or past the end of the {len}-byte image", 16 + 4 * index)]
    OffsetBeyondLength { index: usize, offset: u32, len: u32 },
    #[error("TRX header byte {}: partition {index} starts at {offset:#x}, not after partition {previous_index} at {previous:#x}: offsets must increase", 16 + 4 * index)]
    OffsetsNotIncreasing { index: usize, offset: u32, previous_index: usize, previous: u32 },

    // ---- building
    #[error("trx::Builder: version {version} is not a TRX version: use 1 (up to 3 partitions) or 2 (up to 4)")]
    UnsupportedVersion { version: u16 },
    #[error("trx::Builder: {count} partitions do not fit a version {version} header, which holds {max}")]
    TooManyPartitions { version: u16, count: usize, max: usize },
    #[error("trx::Builder: a TRX image needs at least one partition (CFE boots partition 0)")]
    NoPartitions,
    #[error("trx::Builder: partition {index} is empty; an empty partition would share its offset with the next one")]
    EmptyPartition { index: usize },
    #[error("trx::Builder: partition {index} has alignment {align}, which is not a power of two of at least 4")]
    BadAlign { index: usize, align: u32 },
    #[error("trx::Builder: pad_to({pad_to}) is not a power of two of at least 4")]
    BadPadTo { pad_to: u32 },
    #[error("trx::Builder: the image would be {size} bytes, more than the 4 GiB a TRX length field can hold")]
    TooLarge { size: u64 },
}

/// Shorthand for results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The header size of a TRX `version`, if it is one.
pub fn header_len(version: u16) -> Option<usize> {
    match version {
        1 => Some(HEADER_LEN_V1),
        2 => Some(HEADER_LEN_V2),
        _ => None,
    }
}

/// Partitions a TRX `version` can hold.
fn max_partitions(version: u16) -> usize {
    if version == 2 {
        4
    } else {
        3
    }
}

/// The TRX CRC of `image[12..len]` (`len` clamped to the image), with the v2 boot counters
/// of a Linksys header at `bin_header` counted as 0xFF.
fn compute_crc(image: &[u8], len: usize, bin_header: Option<usize>) -> u32 {
    let end = len.min(image.len());
    let mut h = crc32fast::Hasher::new();
    let mut pos = CRC_START.min(end);
    if let Some(start) = bin_header {
        let mask_start = start.saturating_add(V2_BOOT_COUNTERS.start).clamp(pos, end);
        let mask_end = start.saturating_add(V2_BOOT_COUNTERS.end).clamp(mask_start, end);
        h.update(&image[pos..mask_start]);
        h.update(&[0xFF; 8][..mask_end - mask_start]);
        pos = mask_end;
    }
    h.update(&image[pos..end]);
    // crc32fast inverts at the end (zlib's crc32); TRX does not.
    !h.finalize()
}

/// One used partition of a TRX image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// Its slot in the header's offset table: 0 is what CFE boots.
    pub index: usize,
    /// Where it starts, from the start of the TRX header.
    pub offset: u32,
    /// Up to the next partition or the image length, padding included.
    pub len: u32,
}

impl Partition {
    /// Its bytes within the TRX image.
    pub fn range(&self) -> Range<usize> {
        self.offset as usize..self.offset as usize + self.len as usize
    }
}

/// A parsed TRX header, its partitions and its CRC, stored and recomputed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trx {
    /// 1 or 2.
    pub version: u16,
    pub flags: u16,
    /// The image length from the header (the file may go on after it).
    pub len: u32,
    /// The CRC recorded in the header.
    pub stored_crc: u32,
    /// The CRC of the bytes as they are.
    pub computed_crc: u32,
    /// The offset table as stored (3 entries for v1, 4 for v2; 0 = unused).
    pub offsets: Vec<u32>,
    /// The used partitions, in table order.
    pub partitions: Vec<Partition>,
}

impl Trx {
    /// Parses and verifies the TRX image at the start of `data`: magic, version, length
    /// (within `data`), offsets (inside the image, after the header, increasing), and
    /// computes the CRC. A CRC mismatch is not an error: see [`Trx::crc_ok`].
    pub fn parse(data: &[u8]) -> Result<Trx> {
        let short = |needed| Error::TooShort { available: data.len(), needed };
        let magic: [u8; 4] = crate::bytes::array(data, 0).ok_or(short(HEADER_LEN_V1))?;
        if magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let version = le_u16(data, 14).ok_or(short(HEADER_LEN_V1))?;
        let header_len = header_len(version).ok_or(Error::UnknownVersion { version })?;
        if data.len() < header_len {
            return Err(short(header_len));
        }
        let field = |off| le_u32(data, off).ok_or(short(header_len));
        let len = field(4)?;
        let stored_crc = field(8)?;
        let flags = le_u16(data, 12).ok_or(short(header_len))?;
        if (len as usize) < header_len {
            return Err(Error::LengthTooSmall { len, header_len });
        }
        if len as u64 > data.len() as u64 {
            return Err(Error::Truncated { len, available: data.len() as u64 });
        }
        let offsets = (0..max_partitions(version)).map(|i| field(16 + 4 * i)).collect::<Result<Vec<u32>>>()?;

        let mut used: Vec<(usize, u32)> = Vec::new();
        for (index, &offset) in offsets.iter().enumerate() {
            if offset == 0 {
                continue;
            }
            if (offset as usize) < header_len {
                return Err(Error::OffsetInHeader { index, offset, header_len });
            }
            if offset >= len {
                return Err(Error::OffsetBeyondLength { index, offset, len });
            }
            if let Some(&(previous_index, previous)) = used.last() {
                if offset <= previous {
                    return Err(Error::OffsetsNotIncreasing { index, offset, previous_index, previous });
                }
            }
            used.push((index, offset));
        }
        let partitions = used
            .iter()
            .enumerate()
            .map(|(k, &(index, offset))| {
                let end = used.get(k + 1).map_or(len, |&(_, next)| next);
                Partition { index, offset, len: end - offset }
            })
            .collect();

        let bin_header = (version == 2).then(|| offsets.get(3).copied()).flatten().filter(|&o| o != 0).map(|o| o as usize);
        let computed_crc = compute_crc(data, len as usize, bin_header);
        Ok(Trx { version, flags, len, stored_crc, computed_crc, offsets, partitions })
    }

    /// Whether the stored CRC matches the bytes.
    pub fn crc_ok(&self) -> bool {
        self.stored_crc == self.computed_crc
    }

    /// The header size: 28 (v1) or 32 (v2).
    pub fn header_len(&self) -> usize {
        header_len(self.version).unwrap_or(HEADER_LEN_V1)
    }

    /// The bytes of `partition` within `image` (the slice `parse` was given); empty if
    /// `image` is not that slice and is too short.
    pub fn partition_data<'a>(&self, image: &'a [u8], partition: &Partition) -> &'a [u8] {
        image.get(partition.range()).unwrap_or(&[])
    }
}

/// Writes a TRX image: partitions in order, each at its alignment, then zero padding.
///
/// ```
/// use oxwrt_images::trx::{Builder, Trx};
/// let image = Builder::new(1).partition(b"kernel", 4).partition(b"rootfs", 1024).build().unwrap();
/// let trx = Trx::parse(&image).unwrap();
/// assert!(trx.crc_ok());
/// assert_eq!(trx.partitions[1].offset, 1024);
/// assert_eq!(image.len(), 4096);
/// ```
#[derive(Debug, Clone)]
pub struct Builder<'a> {
    version: u16,
    flags: u16,
    partitions: Vec<(&'a [u8], u32)>,
    pad_to: u32,
}

impl<'a> Builder<'a> {
    /// An empty image of TRX `version` (1 or 2; checked by [`Builder::build`]), flags 0,
    /// padded to [`DEFAULT_PAD`].
    pub fn new(version: u16) -> Builder<'a> {
        Builder { version, flags: 0, partitions: Vec::new(), pad_to: DEFAULT_PAD }
    }

    /// Sets the header's flags field.
    pub fn flags(mut self, flags: u16) -> Builder<'a> {
        self.flags = flags;
        self
    }

    /// Adds a partition holding `data`, starting at the next multiple of `align` (a power
    /// of two, at least 4) counted from the start of the header. At most 3 partitions for
    /// version 1, 4 for version 2.
    pub fn partition(mut self, data: &'a [u8], align: u32) -> Builder<'a> {
        self.partitions.push((data, align));
        self
    }

    /// Pads the image with zeros to a multiple of `pad_to` (a power of two, at least 4;
    /// default 4096).
    pub fn pad_to(mut self, pad_to: u32) -> Builder<'a> {
        self.pad_to = pad_to;
        self
    }

    /// The image bytes.
    pub fn build(&self) -> Result<Vec<u8>> {
        let header_len = header_len(self.version).ok_or(Error::UnsupportedVersion { version: self.version })?;
        let max = max_partitions(self.version);
        if self.partitions.len() > max {
            return Err(Error::TooManyPartitions { version: self.version, count: self.partitions.len(), max });
        }
        if self.partitions.is_empty() {
            return Err(Error::NoPartitions);
        }
        if !valid_alignment(self.pad_to) {
            return Err(Error::BadPadTo { pad_to: self.pad_to });
        }

        // Lay out first, in u64, so an oversized image is an error, not a wrap.
        let mut offsets = Vec::with_capacity(self.partitions.len());
        let mut end = header_len as u64;
        for (index, &(data, align)) in self.partitions.iter().enumerate() {
            if !valid_alignment(align) {
                return Err(Error::BadAlign { index, align });
            }
            if data.is_empty() {
                return Err(Error::EmptyPartition { index });
            }
            let start = align_up(end, align as u64);
            offsets.push(start);
            end = start + data.len() as u64;
        }
        let total = align_up(end, self.pad_to as u64);
        if total > u32::MAX as u64 {
            return Err(Error::TooLarge { size: total });
        }

        let mut image = vec![0u8; total as usize];
        for (&(data, _), &start) in self.partitions.iter().zip(&offsets) {
            image[start as usize..start as usize + data.len()].copy_from_slice(data);
        }
        image[0..4].copy_from_slice(&MAGIC);
        image[4..8].copy_from_slice(&(total as u32).to_le_bytes());
        image[12..14].copy_from_slice(&self.flags.to_le_bytes());
        image[14..16].copy_from_slice(&self.version.to_le_bytes());
        for (i, &start) in offsets.iter().enumerate() {
            image[16 + 4 * i..20 + 4 * i].copy_from_slice(&(start as u32).to_le_bytes());
        }
        let bin_header = (self.version == 2).then(|| offsets.get(3).map(|&o| o as usize)).flatten();
        let crc = compute_crc(&image, total as usize, bin_header);
        image[8..12].copy_from_slice(&crc.to_le_bytes());
        Ok(image)
    }
}

fn valid_alignment(align: u32) -> bool {
    align >= 4 && align.is_power_of_two()
}

fn align_up(value: u64, align: u64) -> u64 {
    value.div_ceil(align) * align
}

#[cfg(test)]
mod tests {
    use super::*;

    /// zlib's crc32 (with the final inversion), bit by bit: an independent reference.
    fn zlib_crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn v1_header_byte_by_byte() {
        let image = Builder::new(1).flags(0x0102).partition(b"KERNEL", 4).partition(b"ROOT", 64).pad_to(128).build().unwrap();
        assert_eq!(image.len(), 128);
        let crc = !zlib_crc32(&image[12..]);
        #[rustfmt::skip]
        let expected_header: Vec<u8> = [
            &b"HDR0"[..],
            &[128, 0, 0, 0],            // length
            &crc.to_le_bytes(),         // CRC, no final xor
            &[0x02, 0x01],              // flags
            &[1, 0],                    // version
            &[28, 0, 0, 0],             // partition 0 right after the header
            &[64, 0, 0, 0],             // partition 1 aligned to 64
            &[0, 0, 0, 0],              // unused
        ].concat();
        assert_eq!(&image[..28], &expected_header[..]);
        assert_eq!(&image[28..34], b"KERNEL");
        assert!(image[34..64].iter().all(|&b| b == 0), "padding is zeros");
        assert_eq!(&image[64..68], b"ROOT");
        assert!(image[68..].iter().all(|&b| b == 0));
    }

    #[test]
    fn v2_header_byte_by_byte_and_boot_counters_outside_the_crc() {
        let mut pattern = [0u8; 32];
        pattern[..4].copy_from_slice(b"W54G");
        pattern[22..30].copy_from_slice(&[0x73, 0, 0x74, 0, 1, 2, 3, 4]);
        let image = Builder::new(2).partition(b"L", 4).partition(b"K", 4).partition(b"R", 4).partition(&pattern, 4).pad_to(4).build().unwrap();
        assert_eq!(&image[0..4], b"HDR0");
        assert_eq!(&image[4..8], &[76, 0, 0, 0]);
        assert_eq!(&image[12..16], &[0, 0, 2, 0]);
        assert_eq!(&image[16..32], &[32, 0, 0, 0, 36, 0, 0, 0, 40, 0, 0, 0, 44, 0, 0, 0]);
        assert_eq!(image.len(), 44 + 32);
        // The CRC counts the boot counters as 0xFF.
        let mut masked = image.clone();
        masked[44 + 22..44 + 30].fill(0xFF);
        let crc = !zlib_crc32(&masked[12..]);
        assert_eq!(&image[8..12], &crc.to_le_bytes());
        let trx = Trx::parse(&image).unwrap();
        assert!(trx.crc_ok());
        // So the firmware rewriting them leaves the image valid.
        let mut rewritten = image.clone();
        rewritten[44 + 22..44 + 30].fill(0x00);
        assert!(Trx::parse(&rewritten).unwrap().crc_ok());
        // But anything else in the pattern header is covered.
        rewritten[44] ^= 1;
        assert!(!Trx::parse(&rewritten).unwrap().crc_ok());
    }

    #[test]
    fn round_trip_v1_and_v2() {
        let kernel = vec![0xAB; 5000];
        let root = vec![0xCD; 70_000];
        for version in [1, 2] {
            let image = Builder::new(version).flags(7).partition(&kernel, 4).partition(&root, 65536).build().unwrap();
            let trx = Trx::parse(&image).unwrap();
            assert_eq!(trx.version, version);
            assert_eq!(trx.flags, 7);
            assert_eq!(trx.len as usize, image.len());
            assert_eq!(image.len() % 4096, 0);
            assert!(trx.crc_ok());
            assert_eq!(trx.stored_crc, trx.computed_crc);
            assert_eq!(trx.partitions.len(), 2);
            let p0 = trx.partitions[0];
            assert_eq!(p0.offset as usize, header_len(version).unwrap());
            assert_eq!(p0.len, 65536 - p0.offset);
            assert_eq!(&trx.partition_data(&image, &p0)[..5000], &kernel[..]);
            let p1 = trx.partitions[1];
            assert_eq!((p1.index, p1.offset), (1, 65536));
            assert_eq!(p1.offset + p1.len, trx.len);
            assert_eq!(&trx.partition_data(&image, &p1)[..70_000], &root[..]);
        }
    }

    #[test]
    fn builder_misuse_is_an_error() {
        let d = [1u8; 8];
        assert_eq!(Builder::new(3).partition(&d, 4).build(), Err(Error::UnsupportedVersion { version: 3 }));
        assert_eq!(
            Builder::new(1).partition(&d, 4).partition(&d, 4).partition(&d, 4).partition(&d, 4).build(),
            Err(Error::TooManyPartitions { version: 1, count: 4, max: 3 })
        );
        assert!(Builder::new(2).partition(&d, 4).partition(&d, 4).partition(&d, 4).partition(&d, 4).build().is_ok());
        assert_eq!(Builder::new(1).build(), Err(Error::NoPartitions));
        for align in [0, 1, 2, 3, 6, 1000] {
            assert_eq!(Builder::new(1).partition(&d, 4).partition(&d, align).build(), Err(Error::BadAlign { index: 1, align }));
        }
        assert_eq!(Builder::new(1).partition(&d, 4).pad_to(3000).build(), Err(Error::BadPadTo { pad_to: 3000 }));
        assert_eq!(Builder::new(1).partition(&[], 4).build(), Err(Error::EmptyPartition { index: 0 }));
        // Alignment alone can push an image past 4 GiB without allocating it.
        assert_eq!(Builder::new(1).partition(&d, 4).partition(&d, 1 << 31).pad_to(1 << 31).build(), Err(Error::TooLarge { size: 1 << 32 }));
        let msg = Error::BadAlign { index: 1, align: 6 }.to_string();
        assert!(msg.contains("partition 1") && msg.contains("power of two"), "{msg}");
    }

    fn small_image() -> Vec<u8> {
        Builder::new(1).partition(b"kernel-bytes", 4).partition(b"rootfs-bytes", 64).pad_to(256).build().unwrap()
    }

    fn set_u32(image: &mut [u8], off: usize, v: u32) {
        image[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn each_parse_error_names_the_fault() {
        let good = small_image();
        assert_eq!(Trx::parse(&good[..10]), Err(Error::TooShort { available: 10, needed: 28 }));
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(Trx::parse(&bad), Err(Error::BadMagic { found: *b"XDR0" }));
        let mut bad = good.clone();
        bad[14] = 9;
        assert_eq!(Trx::parse(&bad), Err(Error::UnknownVersion { version: 9 }));
        let mut bad = good.clone();
        set_u32(&mut bad, 4, 20);
        assert_eq!(Trx::parse(&bad), Err(Error::LengthTooSmall { len: 20, header_len: 28 }));
        let e = Trx::parse(&good[..200]).unwrap_err();
        assert_eq!(e, Error::Truncated { len: 256, available: 200 });
        assert!(e.to_string().contains("256") && e.to_string().contains("200"));
        let mut bad = good.clone();
        set_u32(&mut bad, 20, 256);
        assert_eq!(Trx::parse(&bad), Err(Error::OffsetBeyondLength { index: 1, offset: 256, len: 256 }));
        assert!(Trx::parse(&bad).unwrap_err().to_string().contains("byte 20"));
        let mut bad = good.clone();
        set_u32(&mut bad, 16, 8);
        assert_eq!(Trx::parse(&bad), Err(Error::OffsetInHeader { index: 0, offset: 8, header_len: 28 }));
        let mut bad = good.clone();
        set_u32(&mut bad, 24, 40);
        assert_eq!(Trx::parse(&bad), Err(Error::OffsetsNotIncreasing { index: 2, offset: 40, previous_index: 1, previous: 64 }));
        // A flipped data byte parses, with a CRC mismatch.
        let mut bad = good.clone();
        bad[70] ^= 0x40;
        let trx = Trx::parse(&bad).unwrap();
        assert!(!trx.crc_ok());
        assert_eq!(trx.stored_crc, Trx::parse(&good).unwrap().stored_crc);
    }

    #[test]
    fn longer_file_is_fine_and_trailing_bytes_are_outside_the_crc() {
        let mut image = small_image();
        image.extend_from_slice(&[0xde, 0xad, 0xc0, 0xde]);
        let trx = Trx::parse(&image).unwrap();
        assert!(trx.crc_ok());
        assert_eq!(trx.len, 256);
    }

    #[test]
    fn unused_slots_are_skipped() {
        let mut image = small_image();
        // Move partition 1 to slot 2: slot 1 unused.
        set_u32(&mut image, 24, 64);
        set_u32(&mut image, 20, 0);
        let trx = Trx::parse(&image).unwrap();
        let got: Vec<_> = trx.partitions.iter().map(|p| (p.index, p.offset, p.len)).collect();
        assert_eq!(got, vec![(0, 28, 36), (2, 64, 192)]);
    }

    #[test]
    fn never_panics_on_any_truncation_or_byte_flip() {
        for version in [1, 2] {
            let image = Builder::new(version).partition(b"kernel-bytes", 4).partition(b"rootfs-bytes", 64).pad_to(128).build().unwrap();
            for cut in 0..=image.len() {
                let r = Trx::parse(&image[..cut]);
                assert_eq!(r.is_ok(), cut == image.len(), "cut at {cut}: {r:?}");
            }
            for i in 0..image.len() {
                for bit in 0..8 {
                    let mut bad = image.clone();
                    bad[i] ^= 1 << bit;
                    // Either an error, or parsed with the flip seen by the CRC (or in the
                    // CRC field itself).
                    if let Ok(trx) = Trx::parse(&bad) {
                        let changed_len = (4..8).contains(&i);
                        assert!(!trx.crc_ok() || changed_len, "flip at {i} bit {bit} unseen");
                    }
                }
            }
        }
    }
}
