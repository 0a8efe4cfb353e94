//! Netgear CHK images: the header the stock firmware of Netgear's Broadcom boards
//! (WGR614, WNR834B, WNDR3300, ...) expects in front of a kernel (usually a whole TRX
//! image) and an optional root filesystem. [`build`] writes one; [`Chk::parse`] verifies
//! one.
//!
//! Layout (big-endian; docs/image-formats.md, confirmed against OpenWrt's `mkchkimg`):
//!
//! | offset | size | field                                                        |
//! |--------|------|--------------------------------------------------------------|
//! | 0      | 4    | magic 0x2A23245E                                             |
//! | 4      | 4    | header length: 40 + length of the board id                   |
//! | 8      | 8    | region (1 worldwide, 2 North America), then version A..G    |
//! | 16     | 4    | kernel checksum                                              |
//! | 20     | 4    | rootfs checksum (0 without a rootfs)                         |
//! | 24     | 4    | kernel length                                                |
//! | 28     | 4    | rootfs length                                                |
//! | 32     | 4    | image checksum: kernel and rootfs together                   |
//! | 36     | 4    | header checksum                                              |
//! | 40     | n    | board id, ASCII, not NUL-terminated, e.g. `U12H072T00_NETGEAR` |
//!
//! The kernel follows the header and the rootfs follows the kernel, unaligned.
//!
//! Checksum ([`checksum`]): over the bytes, `c0 += byte; c1 += c0` in 32-bit arithmetic
//! (it wraps on large inputs, as in `mkchkimg`), then each folded to 16 bits with an
//! end-around carry; the result is `c1 << 16 | c0`. The header checksum covers the 40
//! fixed bytes with the header checksum field zero, then the board id. The version bytes
//! are the digits of the firmware name `V A.B.C.D_E.F.G`; `mkchkimg` writes 99 in each.

use crate::bytes::{array, be_u32, show};
use std::ops::Range;

/// The magic at byte 0.
pub const MAGIC: u32 = 0x2A23_245E;
/// The fixed part of the header, before the board id.
pub const FIXED_LEN: usize = 40;
/// Longest board id written (`mkchkimg`'s limit).
pub const MAX_BOARD_ID_LEN: usize = 64;

/// Bytes that are not a valid CHK image, or an image that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("not a Netgear CHK image: it is {available} bytes long, shorter than the {needed}-byte CHK header")]
    TooShort { available: usize, needed: usize },
    #[error("not a Netgear CHK image: bytes 0..4 hold {found:#010x} instead of the magic 0x2a23245e")]
    BadMagic { found: u32 },
    #[error("CHK header byte 4: header length {header_len} is not 40 plus a board id of 1 to {MAX_BOARD_ID_LEN} bytes")]
    BadHeaderLen { header_len: u32 },
    #[error("CHK header byte 40: the board id \"{}\" is not printable ASCII", show(found))]
    BadBoardId { found: Vec<u8> },
    #[error("truncated CHK image: its header (bytes 24..32) announces a {kernel_len}-byte kernel and a {rootfs_len}-byte rootfs after the {header_len}-byte header, {} bytes in all, but the file has {available}", *header_len as u64 + *kernel_len as u64 + *rootfs_len as u64)]
    Truncated { header_len: u32, kernel_len: u32, rootfs_len: u32, available: u64 },
    #[error("chk::build: board id {board_id:?} must be 1 to {MAX_BOARD_ID_LEN} printable ASCII characters")]
    InvalidBoardId { board_id: String },
    #[error("chk::build: a {what} of {size} bytes does not fit the 32-bit length field")]
    TooLarge { what: &'static str, size: u64 },
}

/// Shorthand for results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The Netgear checksum, fed in pieces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    c0: u32,
    c1: u32,
}

impl Checksum {
    pub fn new() -> Checksum {
        Checksum::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.c0 = self.c0.wrapping_add(b as u32);
            self.c1 = self.c1.wrapping_add(self.c0);
        }
    }

    pub fn finish(&self) -> u32 {
        (fold(self.c1) << 16) | fold(self.c0)
    }
}

/// 32 bits to 16 with end-around carry.
fn fold(c: u32) -> u32 {
    let b = (c & 0xFFFF) + (c >> 16);
    ((b >> 16) + b) & 0xFFFF
}

/// The Netgear checksum of `data`.
pub fn checksum(data: &[u8]) -> u32 {
    let mut c = Checksum::new();
    c.update(data);
    c.finish()
}

/// A CHK header as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// 1 worldwide, 2 North America.
    pub region: u8,
    /// Version digits A..G.
    pub version: [u8; 7],
    pub kernel_checksum: u32,
    pub rootfs_checksum: u32,
    pub kernel_len: u32,
    pub rootfs_len: u32,
    pub image_checksum: u32,
    pub header_checksum: u32,
    pub board_id: String,
}

impl Header {
    /// 40 + the board id.
    pub fn header_len(&self) -> usize {
        FIXED_LEN + self.board_id.len()
    }

    /// The header's bytes as stored (checksum fields as they are).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.header_len());
        b.extend_from_slice(&MAGIC.to_be_bytes());
        b.extend_from_slice(&(self.header_len() as u32).to_be_bytes());
        b.push(self.region);
        b.extend_from_slice(&self.version);
        for v in [self.kernel_checksum, self.rootfs_checksum, self.kernel_len, self.rootfs_len, self.image_checksum, self.header_checksum] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(self.board_id.as_bytes());
        b
    }

    /// The header checksum these fields call for (its own field counted as zero).
    pub fn compute_header_checksum(&self) -> u32 {
        let mut zeroed = self.clone();
        zeroed.header_checksum = 0;
        checksum(&zeroed.to_bytes())
    }
}

/// The four checksums as recomputed from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksums {
    pub kernel: u32,
    pub rootfs: u32,
    pub image: u32,
    pub header: u32,
}

/// A parsed CHK image: the header and the checksums recomputed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chk {
    pub header: Header,
    pub computed: Checksums,
}

impl Chk {
    /// Parses the CHK image at the start of `data`: magic, header length, board id, that
    /// the kernel and rootfs are all there; recomputes the checksums. A checksum mismatch
    /// is not an error: see [`Chk::mismatches`].
    pub fn parse(data: &[u8]) -> Result<Chk> {
        let short = |needed| Error::TooShort { available: data.len(), needed };
        let field = |off| be_u32(data, off).ok_or(short(FIXED_LEN));
        let magic = field(0)?;
        if magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let header_len = field(4)?;
        let id_len = (header_len as usize).wrapping_sub(FIXED_LEN);
        if (header_len as usize) <= FIXED_LEN || id_len > MAX_BOARD_ID_LEN {
            return Err(Error::BadHeaderLen { header_len });
        }
        let reserved: [u8; 8] = array(data, 8).ok_or(short(FIXED_LEN))?;
        let header_end = header_len as usize;
        let id = data.get(FIXED_LEN..header_end).ok_or(short(header_end))?;
        if !id.iter().all(|b| b.is_ascii_graphic()) {
            return Err(Error::BadBoardId { found: id.to_vec() });
        }
        let header = Header {
            region: reserved[0],
            version: [reserved[1], reserved[2], reserved[3], reserved[4], reserved[5], reserved[6], reserved[7]],
            kernel_checksum: field(16)?,
            rootfs_checksum: field(20)?,
            kernel_len: field(24)?,
            rootfs_len: field(28)?,
            image_checksum: field(32)?,
            header_checksum: field(36)?,
            board_id: String::from_utf8_lossy(id).into_owned(),
        };
        let end = header_len as u64 + header.kernel_len as u64 + header.rootfs_len as u64;
        if end > data.len() as u64 {
            return Err(Error::Truncated { header_len, kernel_len: header.kernel_len, rootfs_len: header.rootfs_len, available: data.len() as u64 });
        }
        let chk = Chk { computed: Checksums { kernel: 0, rootfs: 0, image: 0, header: header.compute_header_checksum() }, header };
        let kernel = &data[chk.kernel_range()];
        let rootfs = &data[chk.rootfs_range()];
        let mut image = Checksum::new();
        image.update(kernel);
        image.update(rootfs);
        Ok(Chk {
            computed: Checksums {
                kernel: checksum(kernel),
                rootfs: if rootfs.is_empty() { 0 } else { checksum(rootfs) },
                image: image.finish(),
                ..chk.computed
            },
            ..chk
        })
    }

    /// Where the kernel is in the image.
    pub fn kernel_range(&self) -> Range<usize> {
        let start = self.header.header_len();
        start..start + self.header.kernel_len as usize
    }

    /// Where the rootfs is (empty when there is none).
    pub fn rootfs_range(&self) -> Range<usize> {
        let start = self.kernel_range().end;
        start..start + self.header.rootfs_len as usize
    }

    /// The checksums that do not match, as (name, stored, computed).
    pub fn mismatches(&self) -> Vec<(&'static str, u32, u32)> {
        let h = &self.header;
        let c = &self.computed;
        [
            ("kernel", h.kernel_checksum, c.kernel),
            ("rootfs", h.rootfs_checksum, c.rootfs),
            ("image", h.image_checksum, c.image),
            ("header", h.header_checksum, c.header),
        ]
        .into_iter()
        .filter(|(_, stored, computed)| stored != computed)
        .collect()
    }

    /// Whether all four checksums match.
    pub fn checksums_ok(&self) -> bool {
        self.mismatches().is_empty()
    }
}

/// A CHK image for `board_id` (e.g. `U12H072T00_NETGEAR`), `region` and `version`
/// digits, holding `kernel` (usually a TRX image) and `rootfs` (may be empty).
pub fn build(board_id: &str, region: u8, version: [u8; 7], kernel: &[u8], rootfs: &[u8]) -> Result<Vec<u8>> {
    if board_id.is_empty() || board_id.len() > MAX_BOARD_ID_LEN || !board_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidBoardId { board_id: board_id.into() });
    }
    let len32 = |what, data: &[u8]| u32::try_from(data.len()).map_err(|_| Error::TooLarge { what, size: data.len() as u64 });
    let mut image = Checksum::new();
    image.update(kernel);
    image.update(rootfs);
    let mut header = Header {
        region,
        version,
        kernel_checksum: checksum(kernel),
        rootfs_checksum: if rootfs.is_empty() { 0 } else { checksum(rootfs) },
        kernel_len: len32("kernel", kernel)?,
        rootfs_len: len32("rootfs", rootfs)?,
        image_checksum: image.finish(),
        header_checksum: 0,
        board_id: board_id.into(),
    };
    header.header_checksum = header.compute_header_checksum();
    let mut out = header.to_bytes();
    out.extend_from_slice(kernel);
    out.extend_from_slice(rootfs);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_by_hand() {
        // bytes 1, 2, 3: c0 = 6, c1 = 1 + 3 + 6 = 10.
        assert_eq!(checksum(&[1, 2, 3]), (10 << 16) | 6);
        assert_eq!(checksum(&[]), 0);
        // End-around carry: 0x1_0005 folds to 0x0006.
        assert_eq!(fold(0x0001_0005), 6);
        assert_eq!(fold(0xFFFF_FFFF), 0xFFFF);
        // Feeding in pieces is the same as at once.
        let data: Vec<u8> = (0..=255).cycle().take(100_000).collect();
        let mut c = Checksum::new();
        c.update(&data[..777]);
        c.update(&data[777..]);
        assert_eq!(c.finish(), checksum(&data));
    }

    #[test]
    fn header_byte_by_byte() {
        let file = build("AB", 2, [1, 0, 0, 58, 1, 0, 38], b"\x01\x02", b"\x03").unwrap();
        let k = checksum(&[1, 2]);
        let r = checksum(&[3]);
        let i = checksum(&[1, 2, 3]);
        #[rustfmt::skip]
        let mut expected: Vec<u8> = [
            &[0x2A, 0x23, 0x24, 0x5E][..],   // magic
            &[0, 0, 0, 42],                 // header length 40 + 2
            &[2, 1, 0, 0, 58, 1, 0, 38],    // region, version
            &k.to_be_bytes(),
            &r.to_be_bytes(),
            &[0, 0, 0, 2],                  // kernel length
            &[0, 0, 0, 1],                  // rootfs length
            &i.to_be_bytes(),
            &[0, 0, 0, 0],                  // header checksum, filled below
            b"AB",
        ].concat();
        let h = checksum(&expected);
        expected[36..40].copy_from_slice(&h.to_be_bytes());
        expected.extend_from_slice(&[1, 2, 3]);
        assert_eq!(file, expected);
    }

    #[test]
    fn round_trip() {
        let kernel = vec![7u8; 3000];
        let file = build("U12H072T00_NETGEAR", 1, [99; 7], &kernel, &[]).unwrap();
        let chk = Chk::parse(&file).unwrap();
        assert!(chk.checksums_ok(), "{:?}", chk.mismatches());
        assert_eq!(chk.header.board_id, "U12H072T00_NETGEAR");
        assert_eq!(chk.header.header_len(), 58);
        assert_eq!(chk.kernel_range(), 58..3058);
        assert!(chk.rootfs_range().is_empty());
        assert_eq!(chk.header.rootfs_checksum, 0);
    }

    #[test]
    fn errors_and_mismatches() {
        let file = build("BOARD", 1, [99; 7], b"kernel", b"rootfs").unwrap();
        assert_eq!(Chk::parse(&file[..10]), Err(Error::TooShort { available: 10, needed: 40 }));
        assert_eq!(Chk::parse(&file[..42]), Err(Error::TooShort { available: 42, needed: 45 }));
        let mut bad = file.clone();
        bad[0] = 0;
        assert_eq!(Chk::parse(&bad), Err(Error::BadMagic { found: 0x0023_245E }));
        let mut bad = file.clone();
        bad[7] = 40;
        assert_eq!(Chk::parse(&bad), Err(Error::BadHeaderLen { header_len: 40 }));
        let mut bad = file.clone();
        bad[41] = 0;
        assert!(matches!(Chk::parse(&bad), Err(Error::BadBoardId { .. })));
        let e = Chk::parse(&file[..file.len() - 1]).unwrap_err();
        assert!(matches!(e, Error::Truncated { available: 56, .. }), "{e:?}");
        assert!(e.to_string().contains("57 bytes in all"), "{e}");
        // A flipped rootfs byte: rootfs and image checksums no longer match.
        let mut bad = file.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let names: Vec<_> = Chk::parse(&bad).unwrap().mismatches().iter().map(|m| m.0).collect();
        assert_eq!(names, ["rootfs", "image"]);
        // A flipped region byte: only the header checksum.
        let mut bad = file.clone();
        bad[8] ^= 1;
        let names: Vec<_> = Chk::parse(&bad).unwrap().mismatches().iter().map(|m| m.0).collect();
        assert_eq!(names, ["header"]);
        assert!(build("", 1, [0; 7], b"k", b"").is_err());
        assert!(build("with space", 1, [0; 7], b"k", b"").is_err());
        assert!(build(&"x".repeat(65), 1, [0; 7], b"k", b"").is_err());
    }

    #[test]
    fn never_panics() {
        let file = build("BOARD", 1, [99; 7], b"kernel", b"rootfs").unwrap();
        for cut in 0..=file.len() {
            assert_eq!(Chk::parse(&file[..cut]).is_ok(), cut == file.len());
        }
        for i in 0..file.len() {
            for bit in 0..8 {
                let mut bad = file.clone();
                bad[i] ^= 1 << bit;
                if let Ok(chk) = Chk::parse(&bad) {
                    assert!(!chk.checksums_ok() || i >= file.len(), "flip {i}/{bit} unseen");
                }
            }
        }
    }
}
