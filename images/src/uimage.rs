//! U-Boot legacy uImage headers: what U-Boot's `bootm` takes on ath79, ramips and most
//! U-Boot boards. [`UImage::parse`] verifies one (both CRCs); [`build`] writes one, for
//! tests and future boards.
//!
//! Layout (big-endian, 64 bytes; docs/image-formats.md, numbering confirmed with `mkimage`):
//!
//! | offset | size | field                                                          |
//! |--------|------|----------------------------------------------------------------|
//! | 0      | 4    | magic 0x27051956                                               |
//! | 4      | 4    | header CRC: zlib crc32 of the 64 bytes with this field zero    |
//! | 8      | 4    | creation time (Unix seconds)                                   |
//! | 12     | 4    | data size                                                      |
//! | 16     | 4    | load address                                                   |
//! | 20     | 4    | entry point                                                    |
//! | 24     | 4    | data CRC: zlib crc32 of the data                               |
//! | 28     | 1    | OS (5 Linux, 17 U-Boot)                                        |
//! | 29     | 1    | architecture (2 ARM, 3 x86, 5 MIPS, 22 ARM64, 24 x86-64, ...)  |
//! | 30     | 1    | type (2 kernel, 4 multi, 7 filesystem, ...)                    |
//! | 31     | 1    | compression (0 none, 1 gzip, 2 bzip2, 3 lzma, 4 lzo, 5 lz4, 6 zstd) |
//! | 32     | 32   | name, NUL-padded (not terminated when 32 long)                 |
//!
//! The data follows the header. (A "multi" image's data starts with a list of sizes;
//! this module treats the data as one blob.)

use crate::bytes::{array, be_u32, c_string};
use std::ops::Range;

/// The magic at byte 0.
pub const MAGIC: u32 = 0x2705_1956;
/// Size of the header.
pub const HEADER_LEN: usize = 64;
/// Longest name.
pub const NAME_LEN: usize = 32;

/// OS: Linux.
pub const OS_LINUX: u8 = 5;
/// Architecture: ARM.
pub const ARCH_ARM: u8 = 2;
/// Architecture: MIPS.
pub const ARCH_MIPS: u8 = 5;
/// Architecture: ARM64.
pub const ARCH_ARM64: u8 = 22;
/// Type: kernel.
pub const TYPE_KERNEL: u8 = 2;
/// Type: multi-file image.
pub const TYPE_MULTI: u8 = 4;
/// Type: filesystem.
pub const TYPE_FILESYSTEM: u8 = 7;
/// Compression: none.
pub const COMP_NONE: u8 = 0;
/// Compression: gzip.
pub const COMP_GZIP: u8 = 1;
/// Compression: LZMA.
pub const COMP_LZMA: u8 = 3;

/// Bytes that are not a valid uImage, or one that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("not a uImage: it is {available} bytes long, shorter than the 64-byte uImage header")]
    TooShort { available: usize },
    #[error("not a uImage: bytes 0..4 hold {found:#010x} instead of the magic 0x27051956")]
    BadMagic { found: u32 },
    #[error("truncated uImage: header byte 12 gives the data size as {data_size} bytes, but only {available} bytes follow the 64-byte header ({} missing)", *data_size as u64 - available)]
    Truncated { data_size: u32, available: u64 },
    #[error("uimage::build: name {name:?} is longer than 32 bytes")]
    NameTooLong { name: String },
    #[error("uimage::build: {size} bytes of data do not fit the 32-bit size field")]
    TooLarge { size: u64 },
}

/// Shorthand for results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A uImage header as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub header_crc: u32,
    pub time: u32,
    pub data_size: u32,
    pub load: u32,
    pub entry: u32,
    pub data_crc: u32,
    pub os: u8,
    pub arch: u8,
    pub image_type: u8,
    pub compression: u8,
    pub name: String,
}

impl Header {
    /// The 64 header bytes as stored.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        for (i, v) in [MAGIC, self.header_crc, self.time, self.data_size, self.load, self.entry, self.data_crc].into_iter().enumerate() {
            b[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
        }
        b[28] = self.os;
        b[29] = self.arch;
        b[30] = self.image_type;
        b[31] = self.compression;
        let name = self.name.as_bytes();
        let n = name.len().min(NAME_LEN);
        b[32..32 + n].copy_from_slice(&name[..n]);
        b
    }

    /// The OS's name, if known.
    pub fn os_name(&self) -> Option<&'static str> {
        lookup(OS_NAMES, self.os)
    }

    /// The architecture's name, if known.
    pub fn arch_name(&self) -> Option<&'static str> {
        lookup(ARCH_NAMES, self.arch)
    }

    /// The image type's name, if known.
    pub fn type_name(&self) -> Option<&'static str> {
        lookup(TYPE_NAMES, self.image_type)
    }

    /// The compression's name, if known.
    pub fn compression_name(&self) -> Option<&'static str> {
        lookup(COMP_NAMES, self.compression)
    }
}

const OS_NAMES: &[(u8, &str)] = &[(1, "OpenBSD"), (2, "NetBSD"), (3, "FreeBSD"), (5, "Linux"), (17, "U-Boot")];
const ARCH_NAMES: &[(u8, &str)] = &[(2, "ARM"), (3, "x86"), (5, "MIPS"), (6, "MIPS64"), (7, "PowerPC"), (22, "ARM64"), (24, "x86-64"), (26, "RISC-V")];
const TYPE_NAMES: &[(u8, &str)] = &[(1, "standalone"), (2, "kernel"), (3, "ramdisk"), (4, "multi"), (5, "firmware"), (6, "script"), (7, "filesystem")];
const COMP_NAMES: &[(u8, &str)] = &[(0, "none"), (1, "gzip"), (2, "bzip2"), (3, "lzma"), (4, "lzo"), (5, "lz4"), (6, "zstd")];

fn lookup(table: &[(u8, &'static str)], v: u8) -> Option<&'static str> {
    table.iter().find(|&&(k, _)| k == v).map(|&(_, n)| n)
}

/// A parsed uImage with both CRCs recomputed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UImage {
    pub header: Header,
    pub computed_header_crc: u32,
    pub computed_data_crc: u32,
}

impl UImage {
    /// Parses the uImage at the start of `data`: magic, that the data is all there, and
    /// recomputes both CRCs. A CRC mismatch is not an error: see [`UImage::header_crc_ok`]
    /// and [`UImage::data_crc_ok`].
    pub fn parse(data: &[u8]) -> Result<UImage> {
        let raw: [u8; HEADER_LEN] = array(data, 0).ok_or(Error::TooShort { available: data.len() })?;
        let field = |off| be_u32(&raw, off).unwrap_or(0);
        if field(0) != MAGIC {
            return Err(Error::BadMagic { found: field(0) });
        }
        let header = Header {
            header_crc: field(4),
            time: field(8),
            data_size: field(12),
            load: field(16),
            entry: field(20),
            data_crc: field(24),
            os: raw[28],
            arch: raw[29],
            image_type: raw[30],
            compression: raw[31],
            name: c_string(&raw[32..]),
        };
        let available = (data.len() - HEADER_LEN) as u64;
        if header.data_size as u64 > available {
            return Err(Error::Truncated { data_size: header.data_size, available });
        }
        let mut zeroed = raw;
        zeroed[4..8].fill(0);
        let payload = &data[HEADER_LEN..HEADER_LEN + header.data_size as usize];
        Ok(UImage { computed_header_crc: crc32fast::hash(&zeroed), computed_data_crc: crc32fast::hash(payload), header })
    }

    pub fn header_crc_ok(&self) -> bool {
        self.header.header_crc == self.computed_header_crc
    }

    pub fn data_crc_ok(&self) -> bool {
        self.header.data_crc == self.computed_data_crc
    }

    /// Where the data is in the image.
    pub fn data_range(&self) -> Range<usize> {
        HEADER_LEN..HEADER_LEN + self.header.data_size as usize
    }
}

/// A uImage of `data` with `header`'s OS, architecture, type, compression, addresses,
/// time and name; its size and both CRCs are filled in.
pub fn build(header: &Header, data: &[u8]) -> Result<Vec<u8>> {
    if header.name.len() > NAME_LEN {
        return Err(Error::NameTooLong { name: header.name.clone() });
    }
    let data_size = u32::try_from(data.len()).map_err(|_| Error::TooLarge { size: data.len() as u64 })?;
    let mut h = Header { header_crc: 0, data_size, data_crc: crc32fast::hash(data), ..header.clone() };
    h.header_crc = crc32fast::hash(&h.to_bytes());
    let mut out = h.to_bytes().to_vec();
    out.extend_from_slice(data);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel_header() -> Header {
        Header {
            header_crc: 0,
            time: 1_700_000_000,
            data_size: 0,
            load: 0x8006_0000,
            entry: 0x8006_0000,
            data_crc: 0,
            os: OS_LINUX,
            arch: ARCH_MIPS,
            image_type: TYPE_KERNEL,
            compression: COMP_LZMA,
            name: "MIPS OpenWrt Linux-6.6".into(),
        }
    }

    #[test]
    fn header_byte_by_byte() {
        let img = build(&kernel_header(), b"abc").unwrap();
        let data_crc = crc32fast::hash(b"abc");
        #[rustfmt::skip]
        let mut expected: Vec<u8> = [
            &[0x27, 0x05, 0x19, 0x56][..],
            &[0, 0, 0, 0],                       // header CRC, below
            &1_700_000_000u32.to_be_bytes(),
            &[0, 0, 0, 3],
            &[0x80, 0x06, 0, 0],
            &[0x80, 0x06, 0, 0],
            &data_crc.to_be_bytes(),
            &[5, 5, 2, 3],
            b"MIPS OpenWrt Linux-6.6",
            &[0; 10],
        ].concat();
        let hcrc = crc32fast::hash(&expected);
        expected[4..8].copy_from_slice(&hcrc.to_be_bytes());
        expected.extend_from_slice(b"abc");
        assert_eq!(img, expected);
    }

    #[test]
    fn round_trip_and_names() {
        let img = build(&kernel_header(), &[9u8; 1000]).unwrap();
        let u = UImage::parse(&img).unwrap();
        assert!(u.header_crc_ok() && u.data_crc_ok());
        assert_eq!(u.header.name, "MIPS OpenWrt Linux-6.6");
        assert_eq!(u.header.arch_name(), Some("MIPS"));
        assert_eq!(u.header.os_name(), Some("Linux"));
        assert_eq!(u.header.type_name(), Some("kernel"));
        assert_eq!(u.header.compression_name(), Some("lzma"));
        assert_eq!(u.data_range(), 64..1064);
        let mut long = kernel_header();
        long.name = "x".repeat(32);
        let u = UImage::parse(&build(&long, b"z").unwrap()).unwrap();
        assert_eq!(u.header.name.len(), 32);
        long.name.push('y');
        assert!(matches!(build(&long, b"z"), Err(Error::NameTooLong { .. })));
    }

    #[test]
    fn errors_and_crc_mismatches() {
        let img = build(&kernel_header(), &[9u8; 100]).unwrap();
        assert_eq!(UImage::parse(&img[..63]), Err(Error::TooShort { available: 63 }));
        let e = UImage::parse(&img[..100]).unwrap_err();
        assert_eq!(e, Error::Truncated { data_size: 100, available: 36 });
        let mut bad = img.clone();
        bad[3] = 0;
        assert_eq!(UImage::parse(&bad), Err(Error::BadMagic { found: 0x2705_1900 }));
        let mut bad = img.clone();
        bad[40] ^= 1;
        let u = UImage::parse(&bad).unwrap();
        assert!(!u.header_crc_ok() && u.data_crc_ok());
        let mut bad = img.clone();
        bad[100] ^= 1;
        let u = UImage::parse(&bad).unwrap();
        assert!(u.header_crc_ok() && !u.data_crc_ok());
        for cut in 0..=img.len() {
            assert_eq!(UImage::parse(&img[..cut]).is_ok(), cut == img.len());
        }
        for i in 0..img.len() {
            let mut bad = img.clone();
            bad[i] ^= 0x80;
            if let Ok(u) = UImage::parse(&bad) {
                assert!(!(u.header_crc_ok() && u.data_crc_ok()), "flip at {i} unseen");
            }
        }
    }
}
