//! EFI System Partition images: a FAT filesystem (FAT32 when the size gives it enough
//! clusters per the FAT spec, else FAT16, or FAT12 for tiny ones) holding given files,
//! built in memory and byte-for-byte reproducible: every timestamp is 1980-01-01 00:00,
//! the label and volume id are the caller's, and files go in in the order given.
//!
//! The `fatfs` crate formats and writes; `dot_entries` then repairs the directory
//! entries that its latest release (0.3.6) gets wrong.

mod dot_entries;
mod error;
mod names;

pub use error::{Error, Result};

use fatfs::{Date, DateTime, FatType, FileSystem, FormatVolumeOptions, FsOptions, Time, TimeProvider};
use std::io::{Cursor, Write};

const SECTOR_SIZE: u64 = 512;
/// Largest ESP built: the image is built in memory.
const MAX_ESP_SIZE: u64 = 4 << 30;

/// Builds an ESP image of `size` bytes labelled `label` (at most 11 characters, stored
/// upper-case; empty gives "NO NAME") with serial number `volume_id`, holding `files`
/// as (path, contents), paths like "EFI/BOOT/BOOTX64.EFI". Directories are created as
/// needed. The same arguments always give the same bytes.
pub fn build_esp(size: u64, label: &str, volume_id: u32, files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let label = names::label_field(label)?;
    names::check_paths(files.iter().map(|(path, _)| *path))?;
    let mut image = format(size, label, volume_id)?;
    {
        let options = FsOptions::new().time_provider(&EPOCH_1980).update_accessed_date(false);
        let fs = FileSystem::new(Cursor::new(&mut image[..]), options).map_err(|source| io_error("mounting the freshly formatted ESP", source))?;
        for (path, contents) in files {
            add_file(&fs, size, path, contents)?;
        }
        fs.unmount().map_err(|source| io_error("unmounting the ESP", source))?;
    }
    dot_entries::repair(&mut image);
    Ok(image)
}

/// A zeroed image of `size` bytes formatted as FAT: FAT32 if fatfs's FAT32 cluster size
/// gives the 65525 clusters FAT32 needs (from about 33 MiB), else fatfs's own choice for
/// the size: FAT16 (2 KiB clusters at 32 MiB), FAT12 below about 4 MiB.
fn format(size: u64, label: Option<[u8; 11]>, volume_id: u32) -> Result<Vec<u8>> {
    if !size.is_multiple_of(SECTOR_SIZE) {
        return Err(Error::NotWholeSectors { size });
    }
    if size > MAX_ESP_SIZE {
        let reason = "larger than the 4 GiB this in-memory builder makes".to_string();
        return Err(Error::UnformattableSize { size, reason });
    }
    let sectors = (size / SECTOR_SIZE) as u32;
    let mut image = vec![0u8; size as usize];
    let mut options = FormatVolumeOptions::new().total_sectors(sectors).volume_id(volume_id);
    if let Some(label) = label {
        options = options.volume_label(label);
    }
    // Asked for FAT32, fatfs picks FAT32-sized clusters but silently falls back to FAT16
    // when they are too few; then format anew with clusters sized for FAT16.
    let as_fat32 = fatfs::format_volume(Cursor::new(&mut image[..]), options.clone().fat_type(FatType::Fat32));
    if as_fat32.is_err() || fat_type_of(&image) != Some("FAT32") {
        image.fill(0);
        fatfs::format_volume(Cursor::new(&mut image[..]), options).map_err(|e| Error::UnformattableSize { size, reason: e.to_string() })?;
    }
    Ok(image)
}

/// Writes one file, creating its directories; `esp_size` is for messages.
fn add_file(fs: &FileSystem<Cursor<&mut [u8]>>, esp_size: u64, path: &str, contents: &[u8]) -> Result<()> {
    let free = free_bytes(fs)?;
    let does_not_fit = || Error::DoesNotFit { esp_size, path: path.to_string(), file_size: contents.len() as u64, free };
    let cluster = u64::from(fs.cluster_size());
    if (contents.len() as u64).div_ceil(cluster) * cluster > free {
        return Err(does_not_fit());
    }
    let root = fs.root_dir();
    let (dir, name) = match path.rsplit_once('/') {
        Some((parents, name)) => (create_dirs(&root, parents).map_err(|e| fat_error(e, path, does_not_fit))?, name),
        None => (root, path),
    };
    let mut file = dir.create_file(name).map_err(|e| fat_error(e, path, does_not_fit))?;
    file.write_all(contents).map_err(|e| fat_error(e, path, does_not_fit))?;
    file.flush().map_err(|e| fat_error(e, path, does_not_fit))
}

type Dir<'a, 'b> = fatfs::Dir<'a, Cursor<&'b mut [u8]>>;

/// Creates (or opens) each directory of `parents`, e.g. "EFI/BOOT".
fn create_dirs<'a, 'b>(root: &Dir<'a, 'b>, parents: &str) -> std::io::Result<Dir<'a, 'b>> {
    let mut dir = root.clone();
    for component in parents.split('/') {
        dir = dir.create_dir(component)?;
    }
    Ok(dir)
}

fn free_bytes(fs: &FileSystem<Cursor<&mut [u8]>>) -> Result<u64> {
    let stats = fs.stats().map_err(|source| io_error("counting the ESP's free clusters", source))?;
    Ok(u64::from(stats.free_clusters()) * u64::from(stats.cluster_size()))
}

/// fatfs reports a full volume as an `Other` error "No space left on device", or a
/// short write.
fn fat_error(source: std::io::Error, path: &str, does_not_fit: impl Fn() -> Error) -> Error {
    let full = source.kind() == std::io::ErrorKind::WriteZero || source.to_string().contains("No space left");
    if full {
        does_not_fit()
    } else {
        io_error(&format!("writing {path} into the ESP"), source)
    }
}

fn io_error(action: &str, source: std::io::Error) -> Error {
    Error::Io { action: action.to_string(), source }
}

/// The time fatfs stamps on everything: 1980-01-01 00:00:00, FAT's epoch.
#[derive(Debug)]
struct Epoch1980;

static EPOCH_1980: Epoch1980 = Epoch1980;

impl TimeProvider for Epoch1980 {
    fn get_current_date(&self) -> Date {
        Date { year: 1980, month: 1, day: 1 }
    }

    fn get_current_date_time(&self) -> DateTime {
        DateTime { date: self.get_current_date(), time: Time { hour: 0, min: 0, sec: 0, millis: 0 } }
    }
}

/// Which FAT an image built by [`build_esp`] uses, from its boot sector.
pub fn fat_type_of(image: &[u8]) -> Option<&'static str> {
    match (image.get(0x52..0x5A), image.get(0x36..0x3E)) {
        (Some(b"FAT32   "), _) => Some("FAT32"),
        (_, Some(b"FAT16   ")) => Some("FAT16"),
        (_, Some(b"FAT12   ")) => Some("FAT12"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const MIB: u64 = 1 << 20;

    fn read_back(image: &mut [u8], path: &str) -> (Vec<u8>, fatfs::DateTime) {
        let fs = FileSystem::new(Cursor::new(image), FsOptions::new()).unwrap();
        let mut contents = Vec::new();
        fs.root_dir().open_file(path).unwrap().read_to_end(&mut contents).unwrap();
        let (parent, name) = path.rsplit_once('/').unwrap();
        let entry = fs.root_dir().open_dir(parent).unwrap().iter().map(Result::unwrap).find(|e| e.file_name() == name).unwrap();
        (contents, entry.modified())
    }

    #[test]
    fn files_read_back_with_the_fixed_timestamp() {
        let kernel = vec![0x4D; 3 * 4096 + 17];
        let mut image = build_esp(32 * MIB, "OXWRT", 0x0A0B_0C0D, &[("EFI/BOOT/BOOTX64.EFI", &kernel)]).unwrap();
        assert_eq!(image.len() as u64, 32 * MIB);
        let (contents, modified) = read_back(&mut image, "EFI/BOOT/BOOTX64.EFI");
        assert_eq!(contents, kernel);
        assert_eq!((modified.date.year, modified.date.month, modified.date.day), (1980, 1, 1));
        assert_eq!((modified.time.hour, modified.time.min, modified.time.sec), (0, 0, 0));
    }

    #[test]
    fn fat_type_follows_the_cluster_count() {
        let esp = |size| build_esp(size, "", 1, &[]).unwrap();
        // 32 MiB of 512-byte clusters is under FAT32's 65525 clusters.
        assert_eq!(fat_type_of(&esp(32 * MIB)), Some("FAT16"));
        assert_eq!(fat_type_of(&esp(64 * MIB)), Some("FAT32"));
        assert_eq!(fat_type_of(&esp(2 * MIB)), Some("FAT12"));
    }

    #[test]
    fn label_and_volume_id_land_in_the_boot_sector() {
        let image = build_esp(32 * MIB, "efi", 0x1234_5678, &[]).unwrap();
        // FAT16 extended BPB: volume id at 0x27, label at 0x2B.
        assert_eq!(&image[0x27..0x2B], &0x1234_5678u32.to_le_bytes());
        assert_eq!(&image[0x2B..0x36], b"EFI        ");
        let image = build_esp(64 * MIB, "efi", 0x1234_5678, &[]).unwrap();
        // FAT32: at 0x43 and 0x47.
        assert_eq!(&image[0x43..0x47], &0x1234_5678u32.to_le_bytes());
        assert_eq!(&image[0x47..0x52], b"EFI        ");
    }

    #[test]
    fn too_large_a_file_says_how_big_against_what() {
        let big = vec![0u8; (40 * MIB) as usize];
        let err = build_esp(32 * MIB, "OXWRT", 1, &[("EFI/BOOT/BOOTX64.EFI", &big)]).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("ESP of 32 MiB cannot hold EFI/BOOT/BOOTX64.EFI (40 MiB; "), "{text}");
        assert!(text.ends_with("raise the esp partition size in targets/<board>.toml"), "{text}");
    }

    #[test]
    fn files_that_only_fill_up_the_esp_together_are_caught_on_the_one_that_overflows() {
        let half = vec![1u8; (9 * MIB) as usize];
        let files: Vec<(&str, &[u8])> = vec![("A.BIN", &half), ("B.BIN", &half), ("C/D.BIN", &half)];
        let err = build_esp(16 * MIB, "", 1, &files).unwrap_err();
        assert!(matches!(&err, Error::DoesNotFit { path, .. } if path == "B.BIN"), "{err}");
    }

    #[test]
    fn bad_sizes_are_rejected() {
        assert!(matches!(build_esp(32 * MIB + 1, "", 1, &[]), Err(Error::NotWholeSectors { .. })));
        assert!(matches!(build_esp(4096, "", 1, &[]), Err(Error::UnformattableSize { .. })));
        let err = build_esp(5 << 30, "", 1, &[]).unwrap_err();
        assert!(err.to_string().contains("4 GiB"), "{err}");
    }
}
