//! The 92-byte GPT header (UEFI spec 5.3.2): encoding with its CRC32, and decoding that
//! checks signature, revision, size and CRC32.

use super::error::{Error, HeaderCopy, Result};
use super::{Guid, SECTOR_SIZE};

const SIGNATURE: [u8; 8] = *b"EFI PART";
const REVISION_1_0: u32 = 0x0001_0000;
/// Size of the header proper; the rest of its sector is zero.
const HEADER_SIZE: u32 = 92;
/// Offset of the header's own CRC32 field.
const HEADER_CRC_OFFSET: usize = 16;

/// A GPT header's fields (the constant ones, signature, revision and size, are implied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub first_usable_lba: u64,
    pub last_usable_lba: u64,
    pub disk_guid: Guid,
    pub entries_lba: u64,
    pub entry_count: u32,
    pub entry_size: u32,
    pub entries_crc32: u32,
}

impl Header {
    /// The header's sector: the 92 header bytes with their CRC32, then zeros.
    pub fn encode(&self) -> [u8; SECTOR_SIZE as usize] {
        let mut s = [0u8; SECTOR_SIZE as usize];
        s[0..8].copy_from_slice(&SIGNATURE);
        s[8..12].copy_from_slice(&REVISION_1_0.to_le_bytes());
        s[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        // 16..20: CRC32, filled in below; 20..24: reserved, zero.
        s[24..32].copy_from_slice(&self.my_lba.to_le_bytes());
        s[32..40].copy_from_slice(&self.alternate_lba.to_le_bytes());
        s[40..48].copy_from_slice(&self.first_usable_lba.to_le_bytes());
        s[48..56].copy_from_slice(&self.last_usable_lba.to_le_bytes());
        s[56..72].copy_from_slice(&self.disk_guid.to_disk_bytes());
        s[72..80].copy_from_slice(&self.entries_lba.to_le_bytes());
        s[80..84].copy_from_slice(&self.entry_count.to_le_bytes());
        s[84..88].copy_from_slice(&self.entry_size.to_le_bytes());
        s[88..92].copy_from_slice(&self.entries_crc32.to_le_bytes());
        let crc = header_crc32(&s[..HEADER_SIZE as usize]);
        s[HEADER_CRC_OFFSET..HEADER_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        s
    }

    /// Decodes the header sector read from `lba`, checking signature, revision, header
    /// size and header CRC32 (in that order). Where it sits is the caller's to check.
    pub fn decode(sector: &[u8; SECTOR_SIZE as usize], copy: HeaderCopy, lba: u64) -> Result<Header> {
        let found: [u8; 8] = sector[0..8].try_into().expect("8 bytes");
        if found != SIGNATURE {
            return Err(Error::BadSignature { copy, lba, found });
        }
        let revision = u32_at(sector, 8);
        if revision != REVISION_1_0 {
            return Err(Error::UnsupportedRevision { copy, lba, found: revision });
        }
        let size = u32_at(sector, 12);
        if !(HEADER_SIZE..=SECTOR_SIZE as u32).contains(&size) {
            return Err(Error::BadHeaderSize { copy, lba, found: size });
        }
        let stored = u32_at(sector, HEADER_CRC_OFFSET);
        let computed = header_crc32(&sector[..size as usize]);
        if stored != computed {
            return Err(Error::HeaderCrcMismatch { copy, lba, stored, computed });
        }
        Ok(Header {
            my_lba: u64_at(sector, 24),
            alternate_lba: u64_at(sector, 32),
            first_usable_lba: u64_at(sector, 40),
            last_usable_lba: u64_at(sector, 48),
            disk_guid: Guid::from_disk_bytes(sector[56..72].try_into().expect("16 bytes")),
            entries_lba: u64_at(sector, 72),
            entry_count: u32_at(sector, 80),
            entry_size: u32_at(sector, 84),
            entries_crc32: u32_at(sector, 88),
        })
    }

    /// Bytes of the partition entry array.
    pub fn entries_bytes(&self) -> u64 {
        u64::from(self.entry_count) * u64::from(self.entry_size)
    }

    /// The last LBA of the partition entry array.
    pub fn entries_last_lba(&self) -> u64 {
        self.entries_lba.saturating_add(self.entries_bytes().div_ceil(SECTOR_SIZE).max(1) - 1)
    }
}

/// CRC32 of the header bytes with the CRC field taken as zero.
fn header_crc32(header: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[..HEADER_CRC_OFFSET]);
    hasher.update(&[0; 4]);
    hasher.update(&header[HEADER_CRC_OFFSET + 4..]);
    hasher.finalize()
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            my_lba: 1,
            alternate_lba: 524_287,
            first_usable_lba: 34,
            last_usable_lba: 524_254,
            disk_guid: Guid::derived(b"disk"),
            entries_lba: 2,
            entry_count: 128,
            entry_size: 128,
            entries_crc32: 0xDEAD_BEEF,
        }
    }

    #[test]
    fn encode_then_decode_gives_the_same_fields() {
        let sector = sample().encode();
        assert_eq!(&sector[0..8], b"EFI PART");
        assert_eq!(&sector[8..16], &[0, 0, 1, 0, 92, 0, 0, 0]);
        assert!(sector[92..].iter().all(|&b| b == 0));
        assert_eq!(Header::decode(&sector, HeaderCopy::Primary, 1).unwrap(), sample());
    }

    #[test]
    fn header_crc_covers_the_header_with_its_crc_field_zeroed() {
        let sector = sample().encode();
        let mut zeroed = sector;
        zeroed[16..20].fill(0);
        let expected = crc32fast::hash(&zeroed[..92]);
        assert_eq!(u32_at(&sector, 16), expected);
    }

    #[test]
    fn decode_names_the_first_thing_wrong() {
        let good = sample().encode();
        let mut s = good;
        s[0] = b'X';
        assert!(matches!(Header::decode(&s, HeaderCopy::Backup, 9), Err(Error::BadSignature { lba: 9, .. })));
        let mut s = good;
        s[10] = 2;
        assert!(matches!(Header::decode(&s, HeaderCopy::Primary, 1), Err(Error::UnsupportedRevision { found: 0x0002_0000, .. })));
        let mut s = good;
        s[12] = 91;
        assert!(matches!(Header::decode(&s, HeaderCopy::Primary, 1), Err(Error::BadHeaderSize { found: 91, .. })));
        let mut s = good;
        s[40] ^= 1;
        assert!(matches!(Header::decode(&s, HeaderCopy::Primary, 1), Err(Error::HeaderCrcMismatch { .. })));
        // Bytes past the header size are outside the CRC.
        let mut s = good;
        s[100] = 1;
        assert!(Header::decode(&s, HeaderCopy::Primary, 1).is_ok());
    }

    #[test]
    fn entries_span_whole_sectors() {
        let h = sample();
        assert_eq!(h.entries_last_lba(), 33);
        let h = Header { entry_count: 5, ..sample() };
        assert_eq!(h.entries_last_lba(), 3);
    }
}
