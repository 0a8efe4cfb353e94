//! The protective MBR at LBA 0 (UEFI spec 5.2.3): one partition of type 0xEE covering
//! the disk from LBA 1, so MBR-only tools see the disk as in use.

use super::error::{Error, Result};
use super::SECTOR_SIZE;

const PARTITION_TABLE: usize = 446;
const GPT_PROTECTIVE: u8 = 0xEE;
const BOOT_SIGNATURE: [u8; 2] = [0x55, 0xAA];

/// LBA 0 of a disk of `disk_sectors` sectors.
pub(crate) fn protective_mbr(disk_sectors: u64) -> [u8; SECTOR_SIZE as usize] {
    let mut s = [0u8; SECTOR_SIZE as usize];
    let size = (disk_sectors - 1).min(u64::from(u32::MAX)) as u32;
    let record = &mut s[PARTITION_TABLE..PARTITION_TABLE + 16];
    record[0] = 0x00; // not bootable
    record[1..4].copy_from_slice(&[0x00, 0x02, 0x00]); // CHS of LBA 1
    record[4] = GPT_PROTECTIVE;
    record[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]); // CHS: beyond CHS reach
    record[8..12].copy_from_slice(&1u32.to_le_bytes());
    record[12..16].copy_from_slice(&size.to_le_bytes());
    s[510..512].copy_from_slice(&BOOT_SIGNATURE);
    s
}

/// Checks that LBA 0 is an MBR with a GPT-protective (0xEE) partition.
pub(crate) fn check_protective_mbr(sector: &[u8; SECTOR_SIZE as usize]) -> Result<()> {
    if sector[510..512] != BOOT_SIGNATURE {
        return Err(Error::NoProtectiveMbr { reason: "no 55AA boot signature" });
    }
    let protective = (0..4).any(|i| sector[PARTITION_TABLE + 16 * i + 4] == GPT_PROTECTIVE);
    if !protective {
        return Err(Error::NoProtectiveMbr { reason: "no partition of type 0xEE" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_the_disk_after_lba_0_capped_at_32_bits() {
        let s = protective_mbr(524_288);
        assert_eq!(s[446 + 4], 0xEE);
        assert_eq!(&s[446 + 8..446 + 12], &1u32.to_le_bytes());
        assert_eq!(&s[446 + 12..446 + 16], &524_287u32.to_le_bytes());
        assert_eq!(&s[510..], &[0x55, 0xAA]);
        assert!(s[462..510].iter().all(|&b| b == 0), "other records are empty");
        let huge = protective_mbr(1 << 40);
        assert_eq!(&huge[446 + 12..446 + 16], &u32::MAX.to_le_bytes());
        assert!(check_protective_mbr(&s).is_ok());
    }

    #[test]
    fn a_missing_signature_or_0xee_record_is_reported() {
        let mut s = protective_mbr(100);
        s[511] = 0;
        assert!(matches!(check_protective_mbr(&s), Err(Error::NoProtectiveMbr { reason }) if reason.contains("55AA")));
        let mut s = protective_mbr(100);
        s[446 + 4] = 0x83;
        assert!(matches!(check_protective_mbr(&s), Err(Error::NoProtectiveMbr { reason }) if reason.contains("0xEE")));
    }
}
