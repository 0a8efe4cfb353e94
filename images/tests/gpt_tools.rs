//! The GPT writer checked by independent tools (sgdisk -v, sfdisk --json), the reader
//! checked on a table sgdisk wrote, and the reader's verification on damaged disks.

mod common;

use common::{flip_byte, open, path_str, run, run_ok, scratch_disk, MIB};
use oxwrt_images::gpt::{Error, Gpt, Guid, HeaderCopy, Partition};
use serde_json::Value;

const DISK: u64 = 256 * MIB;
const SECTORS_PER_MIB: u64 = MIB / 512;

fn mib_partition(name: &str, type_guid: Guid, start_mib: u64, size_mib: u64) -> Partition {
    let first = start_mib * SECTORS_PER_MIB;
    Partition::new(name, type_guid, Guid::derived(format!("oxwrt/qemu-x86-64/partition/{name}").as_bytes()), first, first + size_mib * SECTORS_PER_MIB - 1)
}

/// targets/qemu-x86-64.toml: esp at 1 MiB (32 MiB), rootfs (64 MiB), data (158 MiB),
/// leaving the last MiB, which holds the backup GPT.
fn board_gpt() -> Gpt {
    Gpt::new(
        Guid::derived(b"oxwrt/qemu-x86-64/disk"),
        vec![
            mib_partition("esp", Guid::EFI_SYSTEM, 1, 32),
            mib_partition("rootfs", Guid::LINUX_ROOT_X86_64, 33, 64),
            mib_partition("data", Guid::LINUX_FILESYSTEM, 97, 158),
        ],
    )
}

fn write_disk(gpt: &Gpt, size: u64) -> tempfile::NamedTempFile {
    let disk = scratch_disk(size);
    gpt.write(&mut open(disk.path()), size).expect("write GPT");
    disk
}

fn read_disk(path: &std::path::Path, size: u64) -> Result<Gpt, Error> {
    Gpt::read(&mut open(path), size)
}

/// What `sgdisk -v` says on standard error, where it reports damaged headers.
fn sgdisk_complaints(path: &std::path::Path) -> String {
    run("sgdisk", &["-v", path_str(path)], "gdisk").stderr
}

#[test]
fn board_disk_passes_sgdisk_verify() {
    let disk = write_disk(&board_gpt(), DISK);
    let out = run("sgdisk", &["-v", path_str(disk.path())], "gdisk");
    assert!(out.success, "sgdisk -v failed:\n{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("No problems found."), "sgdisk -v:\n{}", out.stdout);
    assert!(!out.stdout.contains("Caution"), "sgdisk -v warns:\n{}", out.stdout);
    assert!(out.stderr.trim().is_empty(), "sgdisk -v complains:\n{}", out.stderr);
}

#[test]
fn sfdisk_sees_the_names_guids_and_extents_written() {
    let gpt = board_gpt();
    let disk = write_disk(&gpt, DISK);
    let json: Value = serde_json::from_str(&run_ok("sfdisk", &["--json", path_str(disk.path())], "fdisk")).unwrap();
    let table = &json["partitiontable"];
    assert_eq!(table["label"], "gpt");
    assert_eq!(table["id"], gpt.disk_guid.to_string());
    assert_eq!(table["firstlba"], 34);
    assert_eq!(table["lastlba"], DISK / 512 - 34);
    assert_eq!(table["sectorsize"], 512);
    let listed = table["partitions"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    let expected =
        [("esp", Guid::EFI_SYSTEM, 2048, 65_536), ("rootfs", Guid::LINUX_ROOT_X86_64, 67_584, 131_072), ("data", Guid::LINUX_FILESYSTEM, 198_656, 323_584)];
    for ((seen, written), (name, type_guid, start, size)) in listed.iter().zip(&gpt.partitions).zip(expected) {
        assert_eq!(seen["name"], name);
        assert_eq!(seen["type"], type_guid.to_string());
        assert_eq!(seen["uuid"], written.unique_guid.to_string());
        assert_eq!(seen["start"], start);
        assert_eq!(seen["size"], size);
        assert!(seen.get("attrs").is_none(), "{seen}");
    }
    // data ends right before the last MiB.
    assert_eq!(198_656 + 323_584, 255 * SECTORS_PER_MIB);
}

#[test]
fn sfdisk_and_sgdisk_see_attributes_and_non_ascii_names() {
    let mut part = mib_partition("données-é€", Guid::LINUX_FILESYSTEM, 1, 2);
    part.attributes = Partition::ATTR_REQUIRED | Partition::ATTR_LEGACY_BIOS_BOOTABLE;
    let gpt = Gpt::new(Guid::derived(b"attrs"), vec![part]);
    let disk = write_disk(&gpt, 8 * MIB);
    let json: Value = serde_json::from_str(&run_ok("sfdisk", &["--json", path_str(disk.path())], "fdisk")).unwrap();
    let seen = &json["partitiontable"]["partitions"][0];
    assert_eq!(seen["name"], "données-é€");
    assert_eq!(seen["attrs"], "RequiredPartition LegacyBIOSBootable");
    let info = run_ok("sgdisk", &["-i", "1", path_str(disk.path())], "gdisk");
    assert!(info.contains("Attribute flags: 0000000000000005"), "{info}");
    assert!(run_ok("sgdisk", &["-v", path_str(disk.path())], "gdisk").contains("No problems found."));
}

#[test]
fn reads_a_table_that_sgdisk_wrote() {
    let disk = scratch_disk(64 * MIB);
    let esp_guid = "AAAAAAAA-BBBB-4CCC-9DDD-EEEEEEEEEEEE";
    run_ok(
        "sgdisk",
        &[
            "-o",
            "-U",
            "11111111-2222-4333-8444-555555555555",
            "-n",
            "1:2048:+16M",
            "-c",
            "1:esp",
            "-t",
            "1:EF00",
            "-u",
            &format!("1:{esp_guid}"),
            "-A",
            "1:set:0",
            "-n",
            "2:0:0",
            "-c",
            "2:data",
            "-t",
            "2:8300",
            path_str(disk.path()),
        ],
        "gdisk",
    );
    let gpt = read_disk(disk.path(), 64 * MIB).expect("read sgdisk's GPT");
    assert_eq!(gpt.disk_guid.to_string(), "11111111-2222-4333-8444-555555555555");
    assert_eq!(gpt.partitions.len(), 2);
    let esp = &gpt.partitions[0];
    assert_eq!((esp.name.as_str(), esp.type_guid, esp.unique_guid.to_string()), ("esp", Guid::EFI_SYSTEM, esp_guid.to_string()));
    assert_eq!((esp.first_lba, esp.last_lba, esp.attributes), (2048, 2048 + 32_768 - 1, Partition::ATTR_REQUIRED));
    let data = &gpt.partitions[1];
    assert_eq!((data.name.as_str(), data.type_guid), ("data", Guid::LINUX_FILESYSTEM));
    assert_eq!((data.first_lba, data.last_lba), (2048 + 32_768, 64 * SECTORS_PER_MIB - 34));
}

#[test]
fn write_then_read_gives_the_same_label() {
    let gpt = board_gpt();
    let disk = write_disk(&gpt, DISK);
    assert_eq!(read_disk(disk.path(), DISK).unwrap(), gpt);
}

#[test]
fn writing_twice_gives_identical_bytes() {
    let a = write_disk(&board_gpt(), DISK);
    let b = write_disk(&board_gpt(), DISK);
    assert!(std::fs::read(a.path()).unwrap() == std::fs::read(b.path()).unwrap(), "GPT images differ");
}

#[test]
fn a_flipped_byte_in_the_primary_header_fails_its_crc() {
    let disk = write_disk(&board_gpt(), DISK);
    flip_byte(disk.path(), 512 + 40); // first usable LBA
    let err = read_disk(disk.path(), DISK).unwrap_err();
    assert!(matches!(err, Error::HeaderCrcMismatch { copy: HeaderCopy::Primary, lba: 1, .. }), "{err}");
    assert!(err.to_string().starts_with("the primary GPT header at LBA 1 is corrupt"), "{err}");
    assert!(sgdisk_complaints(disk.path()).contains("Main header: ERROR"), "sgdisk agrees");
}

#[test]
fn a_flipped_byte_in_the_backup_header_is_detected() {
    let disk = write_disk(&board_gpt(), DISK);
    let last = DISK / 512 - 1;
    flip_byte(disk.path(), last * 512 + 60); // disk GUID
    let err = read_disk(disk.path(), DISK).unwrap_err();
    assert!(matches!(err, Error::HeaderCrcMismatch { copy: HeaderCopy::Backup, lba, .. } if lba == last), "{err}");
    assert!(sgdisk_complaints(disk.path()).contains("Backup header: ERROR"), "sgdisk agrees");
}

#[test]
fn a_flipped_byte_in_either_entry_array_fails_its_crc() {
    let disk = write_disk(&board_gpt(), DISK);
    flip_byte(disk.path(), 2 * 512 + 128 + 56); // entry 1's name
    let err = read_disk(disk.path(), DISK).unwrap_err();
    assert!(matches!(err, Error::EntriesCrcMismatch { copy: HeaderCopy::Primary, entries_lba: 2, .. }), "{err}");

    let disk = write_disk(&board_gpt(), DISK);
    flip_byte(disk.path(), DISK - 33 * 512 + 40); // entry 0's last LBA, backup copy
    let err = read_disk(disk.path(), DISK).unwrap_err();
    assert!(matches!(err, Error::EntriesCrcMismatch { copy: HeaderCopy::Backup, .. }), "{err}");
}

#[test]
fn a_wiped_signature_or_mbr_is_named() {
    let disk = write_disk(&board_gpt(), DISK);
    flip_byte(disk.path(), 512);
    assert!(matches!(read_disk(disk.path(), DISK), Err(Error::BadSignature { copy: HeaderCopy::Primary, .. })));

    let disk = write_disk(&board_gpt(), DISK);
    flip_byte(disk.path(), 510);
    assert!(matches!(read_disk(disk.path(), DISK), Err(Error::NoProtectiveMbr { .. })));
}

#[test]
fn a_disk_grown_after_writing_is_reported_as_such() {
    let disk = write_disk(&board_gpt(), DISK);
    disk.as_file().set_len(DISK + MIB).unwrap();
    let err = read_disk(disk.path(), DISK + MIB).unwrap_err();
    assert!(matches!(err, Error::WrongAlternateLba { copy: HeaderCopy::Primary, .. }), "{err}");
}

#[test]
fn data_running_into_the_backup_gpt_is_refused_with_the_numbers() {
    let mut gpt = board_gpt();
    gpt.partitions[2] = mib_partition("data", Guid::LINUX_FILESYSTEM, 97, 159);
    let disk = scratch_disk(DISK);
    let err = gpt.write(&mut open(disk.path()), DISK).unwrap_err();
    assert_eq!(err.to_string(), "partition `data` ends at LBA 524287, past the last usable LBA 524254 of a 256 MiB disk: shrink it by 33 sectors");
    assert!(std::fs::read(disk.path()).unwrap().iter().all(|&b| b == 0), "nothing written");
}

#[test]
fn overlapping_partitions_are_refused_naming_both() {
    let mut gpt = board_gpt();
    gpt.partitions[1] = mib_partition("rootfs", Guid::LINUX_ROOT_X86_64, 32, 64);
    let err = gpt.validate(DISK).unwrap_err();
    assert!(matches!(&err, Error::Overlap { first, second, .. } if first == "esp" && second == "rootfs"), "{err}");
    assert!(err.to_string().contains(&format!("overlap by {SECTORS_PER_MIB} sectors")), "{err}");
}

#[test]
fn a_name_over_36_utf16_units_is_refused() {
    let mut gpt = board_gpt();
    gpt.partitions[0].name = "an-efi-system-partition-with-a-long-name".into();
    let err = gpt.validate(DISK).unwrap_err();
    assert!(matches!(err, Error::NameTooLong { units: 40, .. }), "{err}");
    assert!(err.to_string().contains("shorten it by 4"), "{err}");
}
