//! Everything that can go wrong writing or reading a GPT, each with a message that says
//! what is wrong, where, and what to do about it.

use super::{Guid, BACKUP_LABEL_SECTORS, PRIMARY_LABEL_SECTORS, SECTOR_SIZE};
use crate::size::human;
use std::fmt;

/// Which of the two GPT header copies an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderCopy {
    /// The primary header at LBA 1, with its entries from LBA 2.
    Primary,
    /// The backup header at the last LBA, with its entries just before it.
    Backup,
}

impl fmt::Display for HeaderCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderCopy::Primary => "primary",
            HeaderCopy::Backup => "backup",
        })
    }
}

/// Smallest disk that holds both GPT copies and one usable sector.
pub(crate) const MIN_DISK_SECTORS: u64 = PRIMARY_LABEL_SECTORS + 1 + BACKUP_LABEL_SECTORS;

/// A GPT that cannot be written or a disk whose GPT does not verify.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- the disk as a whole
    #[error("a disk of {size} bytes is not a whole number of 512-byte sectors: make its size a multiple of 512")]
    DiskNotWholeSectors { size: u64 },
    #[error(
        "a disk of {} is too small for a GPT, which needs at least {MIN_DISK_SECTORS} sectors ({}): enlarge the disk",
        human(*size),
        human(MIN_DISK_SECTORS * SECTOR_SIZE)
    )]
    DiskTooSmall { size: u64 },
    #[error("sector size {0} is not supported: oxwrt writes and reads GPTs with 512-byte sectors only")]
    UnsupportedSectorSize(u64),

    // ---- the partition list, when writing
    #[error("{count} partitions do not fit in the GPT's {max} entries: drop {} of them", count - max)]
    TooManyPartitions { count: usize, max: usize },
    #[error("partition #{number} has an empty name: name it (the kernel finds partitions by PARTLABEL=<name>)")]
    EmptyName { number: usize },
    #[error(
        "partition name `{name}` is {units} UTF-16 code units long, but a GPT entry holds at most 36: shorten it by {}",
        units - 36
    )]
    NameTooLong { name: String, units: usize },
    #[error("partition name {name:?} contains a NUL character, which would end the name there: remove it")]
    NameHasNul { name: String },
    #[error(
        "partition `{name}` has the nil type GUID, which marks an unused entry: give it a type such as {} (Linux filesystem data)",
        Guid::LINUX_FILESYSTEM
    )]
    NilTypeGuid { name: String },
    #[error("partitions `{first}` and `{second}` share the unique GUID {guid}: derive each partition's GUID from a different seed")]
    DuplicateUniqueGuid { first: String, second: String, guid: Guid },

    // ---- where partitions lie (checked when writing and when reading)
    #[error("partition `{name}` ends at LBA {last_lba}, before it starts at LBA {first_lba}: its last LBA must be at least its first")]
    EndsBeforeStart { name: String, first_lba: u64, last_lba: u64 },
    #[error(
        "partition `{name}` starts at LBA {first_lba}, inside the primary GPT: the first usable LBA is {first_usable}; move it to LBA {first_usable} or later (LBA 2048, 1 MiB, is customary)"
    )]
    StartsBeforeFirstUsable { name: String, first_lba: u64, first_usable: u64 },
    #[error(
        "partition `{name}` ends at LBA {last_lba}, past the last usable LBA {last_usable} of a {} disk: shrink it by {} sectors",
        human(*disk_size),
        last_lba - last_usable
    )]
    EndsPastLastUsable { name: String, last_lba: u64, last_usable: u64, disk_size: u64 },
    #[error(
        "partitions `{first}` (LBA {first_start}-{first_end}) and `{second}` (LBA {second_start}-{second_end}) overlap by {} sectors: start `{second}` at LBA {} or later, or shrink `{first}`",
        first_end.min(second_end) - second_start + 1,
        first_end + 1
    )]
    Overlap { first: String, first_start: u64, first_end: u64, second: String, second_start: u64, second_end: u64 },

    // ---- reading and verifying a disk
    #[error("LBA 0 holds no protective MBR ({reason}): the disk has no GPT, or an MBR tool overwrote it")]
    NoProtectiveMbr { reason: &'static str },
    #[error(
        "the {copy} GPT header at LBA {lba} starts with {} instead of \"EFI PART\": there is no {copy} GPT header there",
        String::from_utf8_lossy(found).escape_debug()
    )]
    BadSignature { copy: HeaderCopy, lba: u64, found: [u8; 8] },
    #[error("the {copy} GPT header at LBA {lba} has revision {found:#010x}; only revision 1.0 (0x00010000) is supported")]
    UnsupportedRevision { copy: HeaderCopy, lba: u64, found: u32 },
    #[error("the {copy} GPT header at LBA {lba} claims a size of {found} bytes; a GPT header is 92 to 512 bytes long")]
    BadHeaderSize { copy: HeaderCopy, lba: u64, found: u32 },
    #[error("the {copy} GPT header at LBA {lba} is corrupt: it records CRC32 {stored:#010x}, but its bytes hash to {computed:#010x}")]
    HeaderCrcMismatch { copy: HeaderCopy, lba: u64, stored: u32, computed: u32 },
    #[error("the {copy} GPT header at LBA {lba} says it is at LBA {found}: it was copied there from elsewhere, or is corrupt")]
    WrongMyLba { copy: HeaderCopy, lba: u64, found: u64 },
    #[error(
        "the {copy} GPT header at LBA {lba} places the other header at LBA {found}, but on a disk of {} it belongs at LBA {expected}: was the disk resized without moving the backup GPT (sgdisk -e)?",
        human(*disk_size)
    )]
    WrongAlternateLba { copy: HeaderCopy, lba: u64, found: u64, expected: u64, disk_size: u64 },
    #[error("the {copy} GPT header at LBA {lba} describes {count} partition entries of {size} bytes; supported are entries of 128, 256, 512 ... 4096 bytes, 1 MiB in all at most")]
    UnsupportedEntryArray { copy: HeaderCopy, lba: u64, count: u32, size: u32 },
    #[error("the {copy} GPT header at LBA {lba} gives the usable LBAs {first_usable}-{last_usable}, which do not fit between the two GPT headers of this {disk_sectors}-sector disk")]
    BadUsableRange { copy: HeaderCopy, lba: u64, first_usable: u64, last_usable: u64, disk_sectors: u64 },
    #[error("the {copy} GPT header at LBA {lba} places its partition entries at LBA {entries_first}-{entries_last}, which is {reason}")]
    EntriesOutOfPlace { copy: HeaderCopy, lba: u64, entries_first: u64, entries_last: u64, reason: &'static str },
    #[error("the {copy} GPT partition entries at LBA {entries_lba} are corrupt: their header records CRC32 {stored:#010x}, but they hash to {computed:#010x}")]
    EntriesCrcMismatch { copy: HeaderCopy, entries_lba: u64, stored: u32, computed: u32 },
    #[error("the primary and backup GPT headers disagree on the {field} (primary {primary}, backup {backup}): one copy was changed without the other")]
    HeadersDisagree { field: &'static str, primary: String, backup: String },
    #[error("GPT partition entry {index} has a name that is not valid UTF-16")]
    NameNotUtf16 { index: usize },

    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand for results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
