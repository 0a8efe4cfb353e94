//! Checks of a partition list: names and GUIDs (before writing) and placement, i.e.
//! inside the usable LBAs and not overlapping (before writing and after reading).

use super::entry::encode_name;
use super::error::{Error, Result};
use super::Partition;
use std::collections::HashMap;

/// The LBAs partitions may use, and the disk size for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usable {
    pub first_lba: u64,
    pub last_lba: u64,
    pub disk_size: u64,
}

/// Checks what only the writer controls: each partition has a name that fits, a type,
/// and a unique GUID of its own. Partition numbers in messages count from 1.
pub(crate) fn check_identities(partitions: &[Partition]) -> Result<()> {
    let mut owners = HashMap::new();
    for (index, p) in partitions.iter().enumerate() {
        if p.name.is_empty() {
            return Err(Error::EmptyName { number: index + 1 });
        }
        encode_name(&p.name)?;
        if p.type_guid.is_nil() {
            return Err(Error::NilTypeGuid { name: p.name.clone() });
        }
        if let Some(first) = owners.insert(p.unique_guid, &p.name) {
            return Err(Error::DuplicateUniqueGuid { first: first.clone(), second: p.name.clone(), guid: p.unique_guid });
        }
    }
    Ok(())
}

/// Checks that every partition lies within `usable` and that none overlap.
pub(crate) fn check_placement(partitions: &[Partition], usable: Usable) -> Result<()> {
    for p in partitions {
        if p.last_lba < p.first_lba {
            return Err(Error::EndsBeforeStart { name: p.name.clone(), first_lba: p.first_lba, last_lba: p.last_lba });
        }
        if p.first_lba < usable.first_lba {
            return Err(Error::StartsBeforeFirstUsable { name: p.name.clone(), first_lba: p.first_lba, first_usable: usable.first_lba });
        }
        if p.last_lba > usable.last_lba {
            return Err(Error::EndsPastLastUsable { name: p.name.clone(), last_lba: p.last_lba, last_usable: usable.last_lba, disk_size: usable.disk_size });
        }
    }
    // Sorted by start, any overlap shows between neighbours.
    let mut by_start: Vec<&Partition> = partitions.iter().collect();
    by_start.sort_by_key(|p| (p.first_lba, p.last_lba));
    for pair in by_start.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.first_lba <= a.last_lba {
            return Err(Error::Overlap {
                first: a.name.clone(),
                first_start: a.first_lba,
                first_end: a.last_lba,
                second: b.name.clone(),
                second_start: b.first_lba,
                second_end: b.last_lba,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpt::Guid;

    const MIB: u64 = 2048; // sectors
    const DISK_256: Usable = Usable { first_lba: 34, last_lba: 524_254, disk_size: 256 << 20 };

    fn part(name: &str, first_lba: u64, sectors: u64) -> Partition {
        Partition::new(name, Guid::LINUX_FILESYSTEM, Guid::derived(name.as_bytes()), first_lba, first_lba + sectors - 1)
    }

    #[test]
    fn the_x86_64_board_layout_passes() {
        let parts = [part("esp", MIB, 32 * MIB), part("rootfs", 33 * MIB, 64 * MIB), part("data", 97 * MIB, 158 * MIB)];
        check_identities(&parts).unwrap();
        check_placement(&parts, DISK_256).unwrap();
    }

    #[test]
    fn a_partition_into_the_backup_gpt_says_how_much_to_shrink() {
        let parts = [part("data", 97 * MIB, 159 * MIB)];
        let err = check_placement(&parts, DISK_256).unwrap_err();
        assert_eq!(err.to_string(), "partition `data` ends at LBA 524287, past the last usable LBA 524254 of a 256 MiB disk: shrink it by 33 sectors");
    }

    #[test]
    fn a_partition_over_the_primary_gpt_is_rejected() {
        let err = check_placement(&[part("esp", 33, 10)], DISK_256).unwrap_err();
        assert!(matches!(err, Error::StartsBeforeFirstUsable { first_lba: 33, first_usable: 34, .. }), "{err}");
        assert!(err.to_string().contains("move it to LBA 34 or later"), "{err}");
    }

    #[test]
    fn overlaps_name_both_partitions_and_the_overlap() {
        // Listed out of order: the check sorts by start.
        let parts = [part("rootfs", 33 * MIB - 8, 64 * MIB), part("esp", MIB, 32 * MIB)];
        let err = check_placement(&parts, DISK_256).unwrap_err();
        assert_eq!(
            err.to_string(),
            "partitions `esp` (LBA 2048-67583) and `rootfs` (LBA 67576-198647) overlap by 8 sectors: \
             start `rootfs` at LBA 67584 or later, or shrink `esp`"
        );
        // One inside another.
        let parts = [part("big", MIB, 100 * MIB), part("small", 2 * MIB, MIB)];
        let err = check_placement(&parts, DISK_256).unwrap_err();
        assert!(err.to_string().contains(&format!("overlap by {MIB} sectors")), "{err}");
    }

    #[test]
    fn reversed_ranges_are_rejected() {
        let mut p = part("esp", MIB, 1);
        p.last_lba = p.first_lba - 1;
        assert!(matches!(check_placement(&[p], DISK_256), Err(Error::EndsBeforeStart { .. })));
    }

    #[test]
    fn identity_errors_name_the_partition() {
        let err = check_identities(&[part("esp", MIB, 1), part("", 2 * MIB, 1)]).unwrap_err();
        assert!(err.to_string().starts_with("partition #2 has an empty name"), "{err}");
        let mut nil = part("esp", MIB, 1);
        nil.type_guid = Guid::NIL;
        assert!(matches!(check_identities(&[nil]), Err(Error::NilTypeGuid { name }) if name == "esp"));
        let mut twin = part("rootfs", 2 * MIB, 1);
        twin.unique_guid = Guid::derived(b"esp");
        let err = check_identities(&[part("esp", MIB, 1), twin]).unwrap_err();
        assert!(err.to_string().starts_with("partitions `esp` and `rootfs` share the unique GUID"), "{err}");
        let long = "p".repeat(40);
        assert!(matches!(check_identities(&[part(&long, MIB, 1)]), Err(Error::NameTooLong { units: 40, .. })));
    }
}
