//! Reading and verifying a disk's GPT: protective MBR, both headers (signature,
//! revision, size, CRC32, where they say they are), both entry arrays (CRC32, place),
//! agreement between the copies, and the partitions' placement.

use super::error::{Error, HeaderCopy, Result};
use super::header::Header;
use super::layout::{self, Usable};
use super::{disk_sectors, entry, mbr, Gpt, SECTOR_SIZE};
use std::io::{Read, Seek, SeekFrom};

/// Largest entry array accepted (sgdisk and the kernel write 16 KiB).
const MAX_ENTRY_ARRAY_BYTES: u64 = 1 << 20;
const MAX_ENTRY_SIZE: u32 = 4096;

impl Gpt {
    /// Reads and verifies the GPT of `disk`, a disk (image) of `disk_size` bytes. Fails
    /// on the first problem found, naming it: a damaged primary or backup copy is an
    /// error, not silently repaired. Unused entries are skipped, so `partitions[i]` is
    /// partition number i + 1 only when the used entries are contiguous (as written).
    pub fn read<D: Read + Seek + ?Sized>(disk: &mut D, disk_size: u64) -> Result<Gpt> {
        let sectors = disk_sectors(disk_size)?;
        let last_lba = sectors - 1;

        let lba0 = read_sector(disk, 0, "the protective MBR")?;
        mbr::check_protective_mbr(&lba0)?;

        let (primary, primary_entries) = read_copy(disk, HeaderCopy::Primary, 1, last_lba, disk_size)?;
        let (backup, _) = read_copy(disk, HeaderCopy::Backup, primary.alternate_lba, 1, disk_size)?;
        check_copies_agree(&primary, &backup)?;

        let partitions = entry::decode_entries(&primary_entries, primary.entry_size as usize)?;
        let usable = Usable { first_lba: primary.first_usable_lba, last_lba: primary.last_usable_lba, disk_size };
        layout::check_placement(&partitions, usable)?;
        Ok(Gpt { disk_guid: primary.disk_guid, sector_size: SECTOR_SIZE, partitions })
    }
}

/// Reads one header at `lba`, checks it and where it points, then reads and checks its
/// entries. `alternate` is where the other header must be.
fn read_copy<D: Read + Seek + ?Sized>(disk: &mut D, copy: HeaderCopy, lba: u64, alternate: u64, disk_size: u64) -> Result<(Header, Vec<u8>)> {
    let sectors = disk_size / SECTOR_SIZE;
    let sector = read_sector(disk, lba, &format!("the {copy} GPT header"))?;
    let header = Header::decode(&sector, copy, lba)?;
    if header.my_lba != lba {
        return Err(Error::WrongMyLba { copy, lba, found: header.my_lba });
    }
    if header.alternate_lba != alternate {
        return Err(Error::WrongAlternateLba { copy, lba, found: header.alternate_lba, expected: alternate, disk_size });
    }
    check_usable_range(&header, copy, sectors)?;
    check_entry_array(&header, copy, sectors)?;

    let mut entries = vec![0u8; header.entries_bytes() as usize];
    read_exact_at(disk, header.entries_lba * SECTOR_SIZE, &mut entries, &format!("the {copy} GPT entries"))?;
    let computed = crc32fast::hash(&entries);
    if computed != header.entries_crc32 {
        return Err(Error::EntriesCrcMismatch { copy, entries_lba: header.entries_lba, stored: header.entries_crc32, computed });
    }
    Ok((header, entries))
}

/// The usable LBAs must lie between the primary header (LBA 1) and the backup (last LBA).
fn check_usable_range(h: &Header, copy: HeaderCopy, sectors: u64) -> Result<()> {
    if h.first_usable_lba < 2 || h.first_usable_lba > h.last_usable_lba || h.last_usable_lba > sectors - 2 {
        return Err(Error::BadUsableRange { copy, lba: h.my_lba, first_usable: h.first_usable_lba, last_usable: h.last_usable_lba, disk_sectors: sectors });
    }
    Ok(())
}

/// The entry array must have a supported shape and lie between its header and the
/// usable LBAs: after LBA 1 for the primary copy, before the last LBA for the backup.
fn check_entry_array(h: &Header, copy: HeaderCopy, sectors: u64) -> Result<()> {
    let size_ok = h.entry_size >= entry::ENTRY_SIZE as u32 && h.entry_size <= MAX_ENTRY_SIZE && h.entry_size.is_power_of_two();
    if !size_ok || h.entry_count == 0 || h.entries_bytes() > MAX_ENTRY_ARRAY_BYTES {
        return Err(Error::UnsupportedEntryArray { copy, lba: h.my_lba, count: h.entry_count, size: h.entry_size });
    }
    let (first, last) = (h.entries_lba, h.entries_last_lba());
    let out_of_place = |reason| Error::EntriesOutOfPlace { copy, lba: h.my_lba, entries_first: first, entries_last: last, reason };
    if last >= sectors {
        return Err(out_of_place("past the end of the disk"));
    }
    match copy {
        HeaderCopy::Primary if first <= h.my_lba => Err(out_of_place("not after the primary header")),
        HeaderCopy::Primary if last >= h.first_usable_lba => Err(out_of_place("inside the usable LBAs")),
        HeaderCopy::Backup if last >= h.my_lba => Err(out_of_place("not before the backup header")),
        HeaderCopy::Backup if first <= h.last_usable_lba => Err(out_of_place("inside the usable LBAs")),
        _ => Ok(()),
    }
}

/// Both copies must describe the same disk and the same entries.
fn check_copies_agree(primary: &Header, backup: &Header) -> Result<()> {
    let fields: [(&'static str, String, String); 6] = [
        ("disk GUID", primary.disk_guid.to_string(), backup.disk_guid.to_string()),
        ("first usable LBA", primary.first_usable_lba.to_string(), backup.first_usable_lba.to_string()),
        ("last usable LBA", primary.last_usable_lba.to_string(), backup.last_usable_lba.to_string()),
        ("number of entries", primary.entry_count.to_string(), backup.entry_count.to_string()),
        ("entry size", primary.entry_size.to_string(), backup.entry_size.to_string()),
        ("entries' CRC32", format!("{:#010x}", primary.entries_crc32), format!("{:#010x}", backup.entries_crc32)),
    ];
    for (field, p, b) in fields {
        if p != b {
            return Err(Error::HeadersDisagree { field, primary: p, backup: b });
        }
    }
    Ok(())
}

fn read_sector<D: Read + Seek + ?Sized>(disk: &mut D, lba: u64, what: &str) -> Result<[u8; SECTOR_SIZE as usize]> {
    let mut sector = [0u8; SECTOR_SIZE as usize];
    read_exact_at(disk, lba * SECTOR_SIZE, &mut sector, what)?;
    Ok(sector)
}

fn read_exact_at<D: Read + Seek + ?Sized>(disk: &mut D, offset: u64, buf: &mut [u8], what: &str) -> Result<()> {
    disk.seek(SeekFrom::Start(offset))
        .and_then(|_| disk.read_exact(buf))
        .map_err(|source| Error::Io { action: format!("reading {what} at byte {offset}"), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpt::{Guid, Partition};
    use std::io::Cursor;

    const DISK: u64 = 4 << 20;

    fn disk_with(gpt: &Gpt) -> Cursor<Vec<u8>> {
        let mut disk = Cursor::new(vec![0u8; DISK as usize]);
        gpt.write(&mut disk, DISK).unwrap();
        disk
    }

    fn sample() -> Gpt {
        Gpt::new(
            Guid::derived(b"disk"),
            vec![
                Partition::new("esp", Guid::EFI_SYSTEM, Guid::derived(b"esp"), 2048, 4095),
                Partition::new("rootfs", Guid::LINUX_ROOT_X86_64, Guid::derived(b"rootfs"), 4096, 6143),
            ],
        )
    }

    fn read(disk: &mut Cursor<Vec<u8>>) -> Result<Gpt> {
        Gpt::read(disk, DISK)
    }

    /// Rewrites the header at `lba` with `edit` applied and a fresh, valid CRC32.
    fn edit_header(disk: &mut Cursor<Vec<u8>>, lba: u64, copy: HeaderCopy, edit: impl Fn(&mut Header)) {
        let at = (lba * SECTOR_SIZE) as usize;
        let sector: [u8; 512] = disk.get_ref()[at..at + 512].try_into().unwrap();
        let mut header = Header::decode(&sector, copy, lba).unwrap();
        edit(&mut header);
        disk.get_mut()[at..at + 512].copy_from_slice(&header.encode());
    }

    #[test]
    fn reads_back_what_was_written() {
        let mut gpt = sample();
        gpt.partitions[0].attributes = Partition::ATTR_REQUIRED;
        assert_eq!(read(&mut disk_with(&gpt)).unwrap(), gpt);
    }

    #[test]
    fn wrong_my_lba_and_alternate_lba_are_reported() {
        let mut disk = disk_with(&sample());
        edit_header(&mut disk, 1, HeaderCopy::Primary, |h| h.my_lba = 2);
        assert!(matches!(read(&mut disk), Err(Error::WrongMyLba { found: 2, .. })));

        let mut disk = disk_with(&sample());
        edit_header(&mut disk, 1, HeaderCopy::Primary, |h| h.alternate_lba -= 8);
        let err = read(&mut disk).unwrap_err();
        assert!(matches!(err, Error::WrongAlternateLba { copy: HeaderCopy::Primary, .. }), "{err}");
        assert!(err.to_string().contains("sgdisk -e"), "{err}");

        let last = DISK / 512 - 1;
        let mut disk = disk_with(&sample());
        edit_header(&mut disk, last, HeaderCopy::Backup, |h| h.alternate_lba = 3);
        assert!(matches!(read(&mut disk), Err(Error::WrongAlternateLba { copy: HeaderCopy::Backup, found: 3, expected: 1, .. })));
    }

    #[test]
    fn copies_that_disagree_are_reported() {
        let last = DISK / 512 - 1;
        let mut disk = disk_with(&sample());
        edit_header(&mut disk, last, HeaderCopy::Backup, |h| h.disk_guid = Guid::derived(b"other"));
        let err = read(&mut disk).unwrap_err();
        assert!(matches!(err, Error::HeadersDisagree { field: "disk GUID", .. }), "{err}");
    }

    #[test]
    fn odd_entry_arrays_and_usable_ranges_are_reported() {
        let mut disk = disk_with(&sample());
        edit_header(&mut disk, 1, HeaderCopy::Primary, |h| h.entry_size = 100);
        assert!(matches!(read(&mut disk), Err(Error::UnsupportedEntryArray { size: 100, .. })));

        let mut disk = disk_with(&sample());
        edit_header(&mut disk, 1, HeaderCopy::Primary, |h| h.entries_lba = 1);
        assert!(matches!(read(&mut disk), Err(Error::EntriesOutOfPlace { reason: "not after the primary header", .. })));

        let mut disk = disk_with(&sample());
        edit_header(&mut disk, 1, HeaderCopy::Primary, |h| h.first_usable_lba = 20);
        assert!(matches!(read(&mut disk), Err(Error::EntriesOutOfPlace { reason: "inside the usable LBAs", .. })));

        let mut disk = disk_with(&sample());
        edit_header(&mut disk, 1, HeaderCopy::Primary, |h| h.last_usable_lba = DISK / 512);
        assert!(matches!(read(&mut disk), Err(Error::BadUsableRange { .. })));
    }

    #[test]
    fn overlapping_entries_on_disk_are_reported() {
        // Entries the writer would refuse, laid down by hand with valid CRCs.
        let mut gpt = sample();
        gpt.partitions[1].first_lba = 4000;
        let mut disk = disk_with(&sample());
        let entries = entry::encode_entries(&gpt.partitions, 128).unwrap();
        let crc = crc32fast::hash(&entries);
        let last = DISK / 512 - 1;
        disk.get_mut()[1024..1024 + entries.len()].copy_from_slice(&entries);
        let backup_at = ((last - 32) * 512) as usize;
        disk.get_mut()[backup_at..backup_at + entries.len()].copy_from_slice(&entries);
        edit_header(&mut disk, 1, HeaderCopy::Primary, |h| h.entries_crc32 = crc);
        edit_header(&mut disk, last, HeaderCopy::Backup, |h| h.entries_crc32 = crc);
        assert!(matches!(read(&mut disk), Err(Error::Overlap { .. })));
    }

    #[test]
    fn a_truncated_disk_is_an_io_error_naming_what_was_read() {
        let mut disk = disk_with(&sample());
        disk.get_mut().truncate((DISK - 512) as usize);
        let err = read(&mut disk).unwrap_err();
        assert!(err.to_string().starts_with("reading the backup GPT header at byte"), "{err}");
    }
}
