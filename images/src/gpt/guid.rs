//! GUIDs as GPT stores them: 16 bytes whose first three fields are little-endian on
//! disk (UEFI "mixed-endian" encoding), shown in the canonical 8-4-4-4-12 form.

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// A GUID, held in canonical (RFC 4122, big-endian) byte order: `bytes()[0]` is the
/// first hex pair of its text form. [`Guid::to_disk_bytes`] gives GPT's on-disk order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid([u8; 16]);

impl Guid {
    /// The all-zero GUID; as a partition type it marks an unused entry.
    pub const NIL: Guid = Guid([0; 16]);
    /// Partition type: EFI System Partition.
    pub const EFI_SYSTEM: Guid = Guid::from_fields(0xC12A_7328, 0xF81F, 0x11D2, [0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B]);
    /// Partition type: Linux filesystem data (generic Linux partition).
    pub const LINUX_FILESYSTEM: Guid = Guid::from_fields(0x0FC6_3DAF, 0x8483, 0x4772, [0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4]);
    /// Partition type: root filesystem of x86-64 Linux (Discoverable Partitions Spec).
    pub const LINUX_ROOT_X86_64: Guid = Guid::from_fields(0x4F68_BCE3, 0xE8CD, 0x4DB1, [0x96, 0xE7, 0xFB, 0xCA, 0xF9, 0x84, 0xB7, 0x09]);

    /// Builds a GUID from its text fields: `d1-d2-d3-d4[0..2]-d4[2..8]`.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
        let a = d1.to_be_bytes();
        let b = d2.to_be_bytes();
        let c = d3.to_be_bytes();
        Guid([a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5], d4[6], d4[7]])
    }

    /// A GUID from its canonical (big-endian, text-order) bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Guid {
        Guid(bytes)
    }

    /// The canonical (big-endian, text-order) bytes.
    pub const fn bytes(&self) -> [u8; 16] {
        self.0
    }

    /// A deterministic GUID for `seed`: the first 16 bytes of SHA-256(seed) with the
    /// RFC 4122 version (5) and variant (10xx) bits set. Same seed, same GUID, so disk
    /// images are reproducible; distinct seeds (e.g. `"oxwrt/<board>/disk"`,
    /// `"oxwrt/<board>/partition/rootfs"`) give distinct GUIDs.
    pub fn derived(seed: &[u8]) -> Guid {
        let digest = Sha256::digest(seed);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        bytes[6] = (bytes[6] & 0x0F) | 0x50;
        bytes[8] = (bytes[8] & 0x3F) | 0x80;
        Guid(bytes)
    }

    /// The 16 bytes as GPT stores them: the first three fields little-endian.
    pub fn to_disk_bytes(&self) -> [u8; 16] {
        swap_first_fields(self.0)
    }

    /// Reads GPT's on-disk encoding (the inverse of [`Guid::to_disk_bytes`]).
    pub fn from_disk_bytes(bytes: [u8; 16]) -> Guid {
        Guid(swap_first_fields(bytes))
    }

    /// Whether this is the all-zero GUID.
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }
}

/// Reverses the byte order of the 4-, 2- and 2-byte leading fields (its own inverse).
fn swap_first_fields(mut b: [u8; 16]) -> [u8; 16] {
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    b
}

impl fmt::Display for Guid {
    /// Upper-case 8-4-4-4-12 form, as the UEFI spec and sgdisk print GUIDs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

/// Why a string is not a GUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a GUID: {reason} (expected the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX, hex digits)")]
pub struct ParseGuidError {
    /// The rejected text.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for Guid {
    type Err = ParseGuidError;

    /// Parses the 8-4-4-4-12 form, either case; braces are not accepted.
    fn from_str(text: &str) -> Result<Guid, ParseGuidError> {
        let fail = |reason: String| ParseGuidError { text: text.to_string(), reason };
        if !text.is_ascii() {
            return Err(fail("it has non-ASCII characters".to_string()));
        }
        let groups: Vec<&str> = text.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lengths != [8, 4, 4, 4, 12] {
            return Err(fail(format!("its dash-separated groups have {lengths:?} characters, not [8, 4, 4, 4, 12]")));
        }
        let hex: String = groups.concat();
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let pair = &hex[2 * i..2 * i + 2];
            *byte = u8::from_str_radix(pair, 16)
                .ok()
                .filter(|_| pair.bytes().all(|c| c.is_ascii_hexdigit()))
                .ok_or_else(|| fail(format!("`{pair}` is not a hex byte")))?;
        }
        Ok(Guid(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efi_system_guid_has_the_spec_on_disk_bytes() {
        // UEFI spec, table 5-7 and its mixed-endian encoding example.
        let disk = [0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B];
        assert_eq!(Guid::EFI_SYSTEM.to_disk_bytes(), disk);
        assert_eq!(Guid::from_disk_bytes(disk), Guid::EFI_SYSTEM);
    }

    #[test]
    fn display_and_parse_are_inverse() {
        let cases = [
            (Guid::EFI_SYSTEM, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
            (Guid::LINUX_FILESYSTEM, "0FC63DAF-8483-4772-8E79-3D69D8477DE4"),
            (Guid::LINUX_ROOT_X86_64, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"),
        ];
        for (guid, text) in cases {
            assert_eq!(guid.to_string(), text);
            assert_eq!(text.parse::<Guid>().unwrap(), guid);
            assert_eq!(text.to_lowercase().parse::<Guid>().unwrap(), guid);
        }
    }

    #[test]
    fn parse_rejects_malformed_text_and_says_why() {
        let err = "C12A7328-F81F-11D2-BA4B00A0C93EC93B".parse::<Guid>().unwrap_err();
        assert!(err.to_string().contains("[8, 4, 4, 16]"), "{err}");
        let err = "C12A7328-F81F-11D2-BA4B-00A0C93EC93G".parse::<Guid>().unwrap_err();
        assert!(err.to_string().contains("`3G` is not a hex byte"), "{err}");
        let err = "+12A7328-F81F-11D2-BA4B-00A0C93EC93B".parse::<Guid>().unwrap_err();
        assert!(err.to_string().contains("`+1` is not a hex byte"), "{err}");
        assert!("{C12A7328-F81F-11D2-BA4B-00A0C93EC93B}".parse::<Guid>().is_err());
        let err = "C12A7328-F81F-11D2-BA4B-00A0C93EC9é".parse::<Guid>().unwrap_err();
        assert!(err.to_string().contains("non-ASCII"), "{err}");
    }

    #[test]
    fn derived_guids_are_stable_version_5_and_rfc4122_variant() {
        let a = Guid::derived(b"oxwrt/qemu-x86-64/disk");
        assert_eq!(a, Guid::derived(b"oxwrt/qemu-x86-64/disk"));
        assert_ne!(a, Guid::derived(b"oxwrt/qemu-x86-64/partition/esp"));
        for seed in [&b""[..], b"a", b"oxwrt", &[0xFF; 64]] {
            let g = Guid::derived(seed).bytes();
            assert_eq!(g[6] >> 4, 5, "version nibble of {seed:?}");
            assert_eq!(g[8] >> 6, 0b10, "variant bits of {seed:?}");
            // The text form shows the version as the first digit of the third group.
            assert_eq!(Guid::derived(seed).to_string().as_bytes()[14], b'5');
        }
        // Pinned: a change here changes every image's bytes.
        assert_eq!(Guid::derived(b"").to_string(), "E3B0C442-98FC-5C14-9AFB-F4C8996FB924");
    }
}
