//! GPT disk labels (UEFI spec, chapter 5): [`Gpt::write`] lays down the protective MBR,
//! both headers and both entry arrays of a disk image; [`Gpt::read`] verifies all of
//! them on a disk (the device uses it on upgrade) and returns the partitions.
//!
//! Layout written, for a disk of N 512-byte sectors:
//!
//! | LBA            | contents                                  |
//! |----------------|-------------------------------------------|
//! | 0              | protective MBR (one 0xEE partition)       |
//! | 1              | primary header                            |
//! | 2..=33         | primary entries: 128 entries of 128 bytes |
//! | 34..=N-34      | usable by partitions                      |
//! | N-33..=N-2     | backup entries                            |
//! | N-1            | backup header                             |

mod entry;
mod error;
mod guid;
mod header;
mod layout;
mod mbr;
mod read;

pub use error::{Error, HeaderCopy, Result};
pub use guid::{Guid, ParseGuidError};

use header::Header;
use layout::Usable;
use std::io::{Seek, SeekFrom, Write};

/// The only sector size supported.
pub const SECTOR_SIZE: u64 = 512;
/// Entries in the partition entry array written.
pub const ENTRY_COUNT: usize = 128;
/// Sectors at the start of the disk taken by the GPT: MBR, header, entries.
pub const PRIMARY_LABEL_SECTORS: u64 = 2 + ENTRY_ARRAY_SECTORS;
/// Sectors at the end of the disk taken by the backup GPT: entries, header.
pub const BACKUP_LABEL_SECTORS: u64 = ENTRY_ARRAY_SECTORS + 1;
/// The first LBA a partition may use.
pub const FIRST_USABLE_LBA: u64 = PRIMARY_LABEL_SECTORS;
const ENTRY_ARRAY_SECTORS: u64 = (ENTRY_COUNT * entry::ENTRY_SIZE) as u64 / SECTOR_SIZE;

/// One partition: an entry of the GPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The name (Linux: PARTLABEL), at most 36 UTF-16 code units.
    pub name: String,
    /// What the partition holds, e.g. [`Guid::EFI_SYSTEM`].
    pub type_guid: Guid,
    /// This partition's own GUID (Linux: PARTUUID).
    pub unique_guid: Guid,
    /// First sector, inclusive.
    pub first_lba: u64,
    /// Last sector, inclusive.
    pub last_lba: u64,
    /// Attribute bits, e.g. [`Partition::ATTR_REQUIRED`].
    pub attributes: u64,
}

impl Partition {
    /// Attribute bit 0: the platform needs this partition to work.
    pub const ATTR_REQUIRED: u64 = 1 << 0;
    /// Attribute bit 1: EFI firmware must not produce a block I/O protocol for it.
    pub const ATTR_NO_BLOCK_IO: u64 = 1 << 1;
    /// Attribute bit 2: legacy BIOS bootable.
    pub const ATTR_LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;

    /// A partition over LBAs `first_lba..=last_lba` with no attributes.
    pub fn new(name: impl Into<String>, type_guid: Guid, unique_guid: Guid, first_lba: u64, last_lba: u64) -> Partition {
        Partition { name: name.into(), type_guid, unique_guid, first_lba, last_lba, attributes: 0 }
    }

    /// Its size in sectors (0 if the range is reversed).
    pub fn sectors(&self) -> u64 {
        (self.last_lba + 1).saturating_sub(self.first_lba)
    }

    /// Its byte offset on the disk.
    pub fn offset(&self) -> u64 {
        self.first_lba * SECTOR_SIZE
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.sectors() * SECTOR_SIZE
    }
}

/// A GPT disk label: the disk's GUID and its partitions, in table order (entry 0 first;
/// partition numbers, as in /dev/sda1, count from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    /// The disk's own GUID.
    pub disk_guid: Guid,
    /// Logical sector size; only [`SECTOR_SIZE`] (512) is supported.
    pub sector_size: u64,
    /// The used entries, in table order.
    pub partitions: Vec<Partition>,
}

/// The bytes [`Gpt::write`] puts on a disk: the primary label at offset 0 and the backup
/// label at `backup_offset`. Everything between is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// LBAs 0..=33: protective MBR, primary header, primary entries.
    pub primary: Vec<u8>,
    /// The last 33 sectors: backup entries, backup header.
    pub backup: Vec<u8>,
    /// Byte offset of `backup`: the disk size less 33 sectors.
    pub backup_offset: u64,
}

impl Gpt {
    /// A label with 512-byte sectors.
    pub fn new(disk_guid: Guid, partitions: Vec<Partition>) -> Gpt {
        Gpt { disk_guid, sector_size: SECTOR_SIZE, partitions }
    }

    /// Checks that this label can be written to a disk of `disk_size` bytes: names,
    /// GUIDs, partitions within the usable LBAs and not overlapping.
    pub fn validate(&self, disk_size: u64) -> Result<()> {
        if self.sector_size != SECTOR_SIZE {
            return Err(Error::UnsupportedSectorSize(self.sector_size));
        }
        let usable = usable_lbas(disk_size)?;
        if self.partitions.len() > ENTRY_COUNT {
            return Err(Error::TooManyPartitions { count: self.partitions.len(), max: ENTRY_COUNT });
        }
        layout::check_identities(&self.partitions)?;
        layout::check_placement(&self.partitions, usable)
    }

    /// The label's bytes for a disk of `disk_size` bytes (validated first). Pure: the
    /// same label and size always give the same bytes.
    pub fn label(&self, disk_size: u64) -> Result<Label> {
        self.validate(disk_size)?;
        let last_lba = disk_size / SECTOR_SIZE - 1;
        let entries = entry::encode_entries(&self.partitions, ENTRY_COUNT)?;
        let primary_header = Header {
            my_lba: 1,
            alternate_lba: last_lba,
            first_usable_lba: FIRST_USABLE_LBA,
            last_usable_lba: last_lba - BACKUP_LABEL_SECTORS,
            disk_guid: self.disk_guid,
            entries_lba: 2,
            entry_count: ENTRY_COUNT as u32,
            entry_size: entry::ENTRY_SIZE as u32,
            entries_crc32: crc32fast::hash(&entries),
        };
        let backup_header = Header { my_lba: last_lba, alternate_lba: 1, entries_lba: last_lba - ENTRY_ARRAY_SECTORS, ..primary_header.clone() };

        let mut primary = Vec::with_capacity((PRIMARY_LABEL_SECTORS * SECTOR_SIZE) as usize);
        primary.extend_from_slice(&mbr::protective_mbr(last_lba + 1));
        primary.extend_from_slice(&primary_header.encode());
        primary.extend_from_slice(&entries);

        let mut backup = entries;
        backup.extend_from_slice(&backup_header.encode());

        Ok(Label { primary, backup, backup_offset: disk_size - BACKUP_LABEL_SECTORS * SECTOR_SIZE })
    }

    /// Writes the label to `disk`, a disk (image) of `disk_size` bytes: its first 34 and
    /// last 33 sectors. The partitions' contents are not touched.
    pub fn write<D: Write + Seek + ?Sized>(&self, disk: &mut D, disk_size: u64) -> Result<()> {
        let label = self.label(disk_size)?;
        write_at(disk, 0, &label.primary, "primary GPT")?;
        write_at(disk, label.backup_offset, &label.backup, "backup GPT")?;
        disk.flush().map_err(|source| Error::Io { action: "flushing the GPT".into(), source })
    }

    /// The partition named `name`, if any.
    pub fn partition(&self, name: &str) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.name == name)
    }
}

/// The last LBA partitions may use on a disk of `disk_size` bytes.
pub fn last_usable_lba(disk_size: u64) -> Result<u64> {
    Ok(usable_lbas(disk_size)?.last_lba)
}

/// Sectors of a disk of `disk_size` bytes, if it is whole sectors and can hold a GPT.
fn disk_sectors(disk_size: u64) -> Result<u64> {
    if !disk_size.is_multiple_of(SECTOR_SIZE) {
        return Err(Error::DiskNotWholeSectors { size: disk_size });
    }
    let sectors = disk_size / SECTOR_SIZE;
    if sectors < error::MIN_DISK_SECTORS {
        return Err(Error::DiskTooSmall { size: disk_size });
    }
    Ok(sectors)
}

fn usable_lbas(disk_size: u64) -> Result<Usable> {
    let sectors = disk_sectors(disk_size)?;
    Ok(Usable { first_lba: FIRST_USABLE_LBA, last_lba: sectors - 1 - BACKUP_LABEL_SECTORS, disk_size })
}

fn write_at<D: Write + Seek + ?Sized>(disk: &mut D, offset: u64, bytes: &[u8], what: &str) -> Result<()> {
    disk.seek(SeekFrom::Start(offset))
        .and_then(|_| disk.write_all(bytes))
        .map_err(|source| Error::Io { action: format!("writing the {what} at byte {offset}"), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const DISK: u64 = 256 << 20;

    fn board_gpt() -> Gpt {
        let mib = 2048;
        Gpt::new(
            Guid::derived(b"disk"),
            vec![
                Partition::new("esp", Guid::EFI_SYSTEM, Guid::derived(b"esp"), mib, 33 * mib - 1),
                Partition::new("rootfs", Guid::LINUX_ROOT_X86_64, Guid::derived(b"rootfs"), 33 * mib, 97 * mib - 1),
                Partition::new("data", Guid::LINUX_FILESYSTEM, Guid::derived(b"data"), 97 * mib, 255 * mib - 1),
            ],
        )
    }

    #[test]
    fn label_areas_have_the_spec_sizes_and_places() {
        let label = board_gpt().label(DISK).unwrap();
        assert_eq!(label.primary.len(), 34 * 512);
        assert_eq!(label.backup.len(), 33 * 512);
        assert_eq!(label.backup_offset, DISK - 33 * 512);
        assert_eq!(&label.primary[512..520], b"EFI PART");
        assert_eq!(&label.backup[32 * 512..32 * 512 + 8], b"EFI PART");
        // Both entry arrays are the same bytes.
        assert_eq!(&label.primary[1024..], &label.backup[..32 * 512]);
        assert_eq!(board_gpt().label(DISK).unwrap(), label, "reproducible");
    }

    #[test]
    fn headers_point_at_each_other_and_at_their_entries() {
        let label = board_gpt().label(DISK).unwrap();
        let last = DISK / 512 - 1;
        let primary = Header::decode(label.primary[512..1024].try_into().unwrap(), HeaderCopy::Primary, 1).unwrap();
        let backup = Header::decode(label.backup[32 * 512..].try_into().unwrap(), HeaderCopy::Backup, last).unwrap();
        assert_eq!((primary.my_lba, primary.alternate_lba, primary.entries_lba), (1, last, 2));
        assert_eq!((backup.my_lba, backup.alternate_lba, backup.entries_lba), (last, 1, last - 32));
        assert_eq!((primary.first_usable_lba, primary.last_usable_lba), (34, last - 33));
        assert_eq!(primary.entries_crc32, crc32fast::hash(&label.primary[1024..]));
    }

    #[test]
    fn write_touches_only_the_label_areas() {
        let mut disk = Cursor::new(vec![0xA5u8; DISK as usize]);
        board_gpt().write(&mut disk, DISK).unwrap();
        let disk = disk.into_inner();
        assert_eq!(disk.len() as u64, DISK);
        assert!(disk[34 * 512..(DISK - 33 * 512) as usize].iter().all(|&b| b == 0xA5));
    }

    #[test]
    fn bad_disk_sizes_are_rejected() {
        assert!(matches!(board_gpt().label(DISK + 1), Err(Error::DiskNotWholeSectors { .. })));
        let err = Gpt::new(Guid::derived(b"d"), vec![]).label(67 * 512).unwrap_err();
        assert!(matches!(err, Error::DiskTooSmall { .. }), "{err}");
        assert!(Gpt::new(Guid::derived(b"d"), vec![]).label(68 * 512).is_ok());
    }

    #[test]
    fn only_512_byte_sectors_and_128_partitions() {
        let mut gpt = board_gpt();
        gpt.sector_size = 4096;
        assert!(matches!(gpt.validate(DISK), Err(Error::UnsupportedSectorSize(4096))));
        let many = (0..129).map(|i| Partition::new(format!("p{i}"), Guid::LINUX_FILESYSTEM, Guid::derived(&[i as u8, 1]), 34 + i, 34 + i)).collect();
        let err = Gpt::new(Guid::derived(b"d"), many).validate(DISK).unwrap_err();
        assert!(err.to_string().contains("drop 1 of them"), "{err}");
    }

    #[test]
    fn partition_sizes_and_offsets() {
        let gpt = board_gpt();
        let esp = gpt.partition("esp").unwrap();
        assert_eq!((esp.offset(), esp.size()), (1 << 20, 32 << 20));
        assert_eq!(last_usable_lba(DISK).unwrap(), 524_254);
    }
}
