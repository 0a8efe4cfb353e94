//! Repair of the "." and ".." entries that fatfs 0.3.6 (the latest release) writes
//! wrongly, so that fsck.fat and strict firmware accept the image:
//! - it puts a long-name (LFN) entry before each of them, while they must fill the
//!   first two slots of a directory (fixed upstream in rafalh/rust-fatfs#100);
//! - on FAT32, ".." of a directory in the root points at the root's cluster instead
//!   of 0 (rafalh/rust-fatfs#99).
//!
//! Runs on the finished image: walks every directory and drops those two LFN entries,
//! moving the directory's other entries up two slots, and zeroes such ".." clusters.

const ENTRY: usize = 32;
const ATTR_LFN: u8 = 0x0F;
const ATTR_DIRECTORY: u8 = 0x10;
const DOT: &[u8; 11] = b".          ";
const DOTDOT: &[u8; 11] = b"..         ";

/// FAT flavour, by cluster count as the FAT spec defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fat {
    Fat12,
    Fat16,
    Fat32,
}

/// Where things are, from the boot sector.
struct Geometry {
    fat: Fat,
    bytes_per_cluster: usize,
    fat_offset: usize,
    data_offset: usize,
    /// FAT12/16: the fixed root directory region (offset, length).
    fixed_root: Option<(usize, usize)>,
    /// FAT32: the root directory's first cluster.
    root_cluster: u32,
}

impl Geometry {
    fn of(image: &[u8]) -> Geometry {
        let u16_at = |o: usize| usize::from(u16::from_le_bytes([image[o], image[o + 1]]));
        let u32_at = |o: usize| u32::from_le_bytes(image[o..o + 4].try_into().expect("4 bytes"));
        let bytes_per_sector = u16_at(11);
        let sectors_per_cluster = usize::from(image[13]);
        let reserved = u16_at(14);
        let fats = usize::from(image[16]);
        let root_entries = u16_at(17);
        let total_sectors = if u16_at(19) != 0 { u16_at(19) } else { u32_at(32) as usize };
        let fat_sectors = if u16_at(22) != 0 { u16_at(22) } else { u32_at(36) as usize };
        let root_sectors = (root_entries * ENTRY).div_ceil(bytes_per_sector);
        let root_offset = (reserved + fats * fat_sectors) * bytes_per_sector;
        let data_sector = reserved + fats * fat_sectors + root_sectors;
        let clusters = (total_sectors - data_sector) / sectors_per_cluster;
        let fat = match clusters {
            0..4085 => Fat::Fat12,
            4085..65525 => Fat::Fat16,
            _ => Fat::Fat32,
        };
        Geometry {
            fat,
            bytes_per_cluster: sectors_per_cluster * bytes_per_sector,
            fat_offset: reserved * bytes_per_sector,
            data_offset: data_sector * bytes_per_sector,
            fixed_root: (fat != Fat::Fat32).then_some((root_offset, root_entries * ENTRY)),
            root_cluster: u32_at(44),
        }
    }

    /// The FAT entry of `cluster`: the next cluster, or None at the end of the chain.
    fn next(&self, image: &[u8], cluster: u32) -> Option<u32> {
        let n = cluster as usize;
        let (value, end) = match self.fat {
            Fat::Fat12 => {
                let o = self.fat_offset + n + n / 2;
                let pair = u32::from(u16::from_le_bytes([image[o], image[o + 1]]));
                (if n % 2 == 1 { pair >> 4 } else { pair & 0xFFF }, 0xFF8)
            }
            Fat::Fat16 => {
                let o = self.fat_offset + 2 * n;
                (u32::from(u16::from_le_bytes([image[o], image[o + 1]])), 0xFFF8)
            }
            Fat::Fat32 => {
                let o = self.fat_offset + 4 * n;
                (u32::from_le_bytes(image[o..o + 4].try_into().expect("4 bytes")) & 0x0FFF_FFFF, 0x0FFF_FFF8)
            }
        };
        (2..end).contains(&value).then_some(value)
    }

    /// Byte ranges of a directory: its clusters in chain order.
    fn extents(&self, image: &[u8], first_cluster: u32) -> Vec<(usize, usize)> {
        let mut extents = Vec::new();
        let mut cluster = Some(first_cluster);
        while let Some(c) = cluster {
            if extents.len() > image.len() / self.bytes_per_cluster {
                break; // a loop in the chain; fatfs does not write those
            }
            extents.push((self.data_offset + (c as usize - 2) * self.bytes_per_cluster, self.bytes_per_cluster));
            cluster = self.next(image, c);
        }
        extents
    }
}

/// Repairs every directory of the FAT image in place.
pub(crate) fn repair(image: &mut [u8]) {
    let geometry = Geometry::of(image);
    let root = match geometry.fixed_root {
        Some(region) => vec![region],
        None => geometry.extents(image, geometry.root_cluster),
    };
    // (directory extents, whether its parent is the root)
    let mut pending = subdirectories(&read(image, &root), true);
    while let Some((cluster, parent_is_root)) = pending.pop() {
        let extents = geometry.extents(image, cluster);
        let mut entries = read(image, &extents);
        fix_dot_entries(&mut entries, parent_is_root);
        write(image, &extents, &entries);
        pending.extend(subdirectories(&entries, false));
    }
}

/// Drops the LFN entries before "." and "..", shifting the rest up, and points ".." of
/// a root subdirectory at cluster 0.
fn fix_dot_entries(entries: &mut [u8], parent_is_root: bool) {
    let is_lfn = |i: usize| entries.len() >= ENTRY * (i + 1) && entries[ENTRY * i + 11] == ATTR_LFN;
    let name = |i: usize| &entries[ENTRY * i..ENTRY * i + 11];
    if is_lfn(0) && is_lfn(2) && name(1) == DOT && name(3) == DOTDOT {
        let len = entries.len();
        entries.copy_within(ENTRY..2 * ENTRY, 0);
        entries.copy_within(3 * ENTRY..len, ENTRY);
        entries[len - 2 * ENTRY..].fill(0);
    }
    if parent_is_root && entries.len() >= 2 * ENTRY && &entries[ENTRY..ENTRY + 11] == DOTDOT {
        entries[ENTRY + 20..ENTRY + 22].fill(0); // first cluster, high half
        entries[ENTRY + 26..ENTRY + 28].fill(0); // first cluster, low half
    }
}

/// First clusters of the subdirectories listed in `entries`.
fn subdirectories(entries: &[u8], parent_is_root: bool) -> Vec<(u32, bool)> {
    let mut found = Vec::new();
    for e in entries.chunks_exact(ENTRY) {
        match e[0] {
            0x00 => break,
            0xE5 => continue,
            _ => {}
        }
        let attr = e[11];
        if attr == ATTR_LFN || attr & ATTR_DIRECTORY == 0 || &e[..11] == DOT || &e[..11] == DOTDOT {
            continue;
        }
        let cluster = u32::from(u16::from_le_bytes([e[20], e[21]])) << 16 | u32::from(u16::from_le_bytes([e[26], e[27]]));
        if cluster >= 2 {
            found.push((cluster, parent_is_root));
        }
    }
    found
}

fn read(image: &[u8], extents: &[(usize, usize)]) -> Vec<u8> {
    extents.iter().flat_map(|&(o, len)| &image[o..o + len]).copied().collect()
}

fn write(image: &mut [u8], extents: &[(usize, usize)], mut bytes: &[u8]) {
    for &(o, len) in extents {
        image[o..o + len].copy_from_slice(&bytes[..len]);
        bytes = &bytes[len..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &[u8; 11], attr: u8, cluster: u32) -> Vec<u8> {
        let mut e = vec![0u8; ENTRY];
        e[..11].copy_from_slice(name);
        e[11] = attr;
        e[20..22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes());
        e[26..28].copy_from_slice(&(cluster as u16).to_le_bytes());
        e
    }

    #[test]
    fn lfn_entries_before_dot_entries_are_dropped_and_the_rest_moves_up() {
        let lfn = entry(b"A\0\0\0\0\0\0\0\0\0\0", ATTR_LFN, 0);
        let child = entry(b"BOOT       ", ATTR_DIRECTORY, 7);
        let mut dir = [lfn.clone(), entry(DOT, ATTR_DIRECTORY, 5), lfn, entry(DOTDOT, ATTR_DIRECTORY, 2), child.clone(), vec![0; ENTRY]].concat();
        fix_dot_entries(&mut dir, true);
        let expected = [entry(DOT, ATTR_DIRECTORY, 5), entry(DOTDOT, ATTR_DIRECTORY, 0), child, vec![0; 3 * ENTRY]].concat();
        assert_eq!(dir, expected);
        assert_eq!(subdirectories(&dir, false), vec![(7, false)]);
    }

    #[test]
    fn correct_directories_are_left_alone() {
        let dir = [entry(DOT, ATTR_DIRECTORY, 5), entry(DOTDOT, ATTR_DIRECTORY, 3), vec![0; 2 * ENTRY]].concat();
        let mut fixed = dir.clone();
        fix_dot_entries(&mut fixed, false);
        assert_eq!(fixed, dir);
    }
}
