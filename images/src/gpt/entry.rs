//! GPT partition entries (UEFI spec 5.3.3): 128 bytes each, holding type and unique
//! GUIDs, the LBA range, attributes and a UTF-16LE name of at most 36 code units.

use super::error::{Error, Result};
use super::{Guid, Partition};

/// Size of one entry as written; readers accept 128 * 2^n.
pub(crate) const ENTRY_SIZE: usize = 128;
/// UTF-16 code units in the name field (72 bytes).
pub(crate) const NAME_UNITS: usize = 36;

/// The name as the entry stores it: UTF-16LE, zero-padded. Rejects names that do not fit
/// or that a NUL would cut short.
pub(crate) fn encode_name(name: &str) -> Result<[u8; 2 * NAME_UNITS]> {
    if name.contains('\0') {
        return Err(Error::NameHasNul { name: name.to_string() });
    }
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.len() > NAME_UNITS {
        return Err(Error::NameTooLong { name: name.to_string(), units: units.len() });
    }
    let mut field = [0u8; 2 * NAME_UNITS];
    for (slot, unit) in field.chunks_exact_mut(2).zip(units) {
        slot.copy_from_slice(&unit.to_le_bytes());
    }
    Ok(field)
}

/// One 128-byte entry. The name must have passed [`encode_name`].
pub(crate) fn encode_entry(partition: &Partition) -> Result<[u8; ENTRY_SIZE]> {
    let mut e = [0u8; ENTRY_SIZE];
    e[0..16].copy_from_slice(&partition.type_guid.to_disk_bytes());
    e[16..32].copy_from_slice(&partition.unique_guid.to_disk_bytes());
    e[32..40].copy_from_slice(&partition.first_lba.to_le_bytes());
    e[40..48].copy_from_slice(&partition.last_lba.to_le_bytes());
    e[48..56].copy_from_slice(&partition.attributes.to_le_bytes());
    e[56..128].copy_from_slice(&encode_name(&partition.name)?);
    Ok(e)
}

/// The whole entry array: `partitions` in entries 0.., the rest of `count` zeroed.
pub(crate) fn encode_entries(partitions: &[Partition], count: usize) -> Result<Vec<u8>> {
    let mut array = vec![0u8; count * ENTRY_SIZE];
    for (slot, partition) in array.chunks_exact_mut(ENTRY_SIZE).zip(partitions) {
        slot.copy_from_slice(&encode_entry(partition)?);
    }
    Ok(array)
}

/// The used entries of an array of `entry_size`-byte entries, in table order; entries
/// with the nil type GUID are unused and skipped.
pub(crate) fn decode_entries(array: &[u8], entry_size: usize) -> Result<Vec<Partition>> {
    let mut partitions = Vec::new();
    for (index, e) in array.chunks_exact(entry_size).enumerate() {
        let type_guid = guid_at(e, 0);
        if type_guid.is_nil() {
            continue;
        }
        let units: Vec<u16> = e[56..128].chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).take_while(|&unit| unit != 0).collect();
        let name = String::from_utf16(&units).map_err(|_| Error::NameNotUtf16 { index })?;
        partitions.push(Partition {
            name,
            type_guid,
            unique_guid: guid_at(e, 16),
            first_lba: u64::from_le_bytes(e[32..40].try_into().expect("8 bytes")),
            last_lba: u64::from_le_bytes(e[40..48].try_into().expect("8 bytes")),
            attributes: u64::from_le_bytes(e[48..56].try_into().expect("8 bytes")),
        });
    }
    Ok(partitions)
}

fn guid_at(entry: &[u8], offset: usize) -> Guid {
    Guid::from_disk_bytes(entry[offset..offset + 16].try_into().expect("16 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esp() -> Partition {
        Partition {
            name: "esp".into(),
            type_guid: Guid::EFI_SYSTEM,
            unique_guid: Guid::derived(b"esp"),
            first_lba: 2048,
            last_lba: 67_583,
            attributes: Partition::ATTR_REQUIRED,
        }
    }

    #[test]
    fn entry_layout_matches_the_spec() {
        let e = encode_entry(&esp()).unwrap();
        assert_eq!(&e[0..16], &Guid::EFI_SYSTEM.to_disk_bytes());
        assert_eq!(&e[32..40], &2048u64.to_le_bytes());
        assert_eq!(&e[40..48], &67_583u64.to_le_bytes());
        assert_eq!(&e[48..56], &1u64.to_le_bytes());
        assert_eq!(&e[56..62], &[b'e', 0, b's', 0, b'p', 0]);
        assert!(e[62..].iter().all(|&b| b == 0));
    }

    #[test]
    fn entries_round_trip_and_unused_slots_are_skipped() {
        let mut data = esp();
        data.name = "données-ü€".into();
        data.first_lba = 100_000;
        let array = encode_entries(&[esp(), data.clone()], 128).unwrap();
        assert_eq!(array.len(), 128 * 128);
        assert_eq!(decode_entries(&array, 128).unwrap(), vec![esp(), data]);
    }

    #[test]
    fn names_longer_than_36_units_or_with_nul_are_rejected() {
        assert!(encode_name(&"a".repeat(36)).is_ok());
        let err = encode_name(&"a".repeat(37)).unwrap_err();
        assert!(matches!(err, Error::NameTooLong { units: 37, .. }));
        assert!(err.to_string().contains("shorten it by 1"), "{err}");
        // A character outside the BMP takes two code units.
        assert!(matches!(encode_name(&"😀".repeat(19)), Err(Error::NameTooLong { units: 38, .. })));
        assert!(matches!(encode_name("a\0b"), Err(Error::NameHasNul { .. })));
    }

    #[test]
    fn a_lone_surrogate_in_a_read_name_is_an_error() {
        let mut array = encode_entries(&[esp()], 4).unwrap();
        array[56..58].copy_from_slice(&0xD800u16.to_le_bytes());
        assert!(matches!(decode_entries(&array, 128), Err(Error::NameNotUtf16 { index: 0 })));
    }
}
