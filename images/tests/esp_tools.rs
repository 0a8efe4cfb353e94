//! The ESP builder checked by independent tools: fsck.fat finds nothing to fix, mtools
//! lists and reads back the files, label and serial; and the ESP inside the board's
//! GPT disk image is found at its partition's offset.

mod common;

use common::{path_str, run, run_ok, scratch_disk, scratch_file, MIB};
use oxwrt_images::fat::{build_esp, fat_type_of, Error};
use oxwrt_images::gpt::{Gpt, Guid, Partition};
use oxwrt_testkit::mutation::noise;
use std::io::{Seek, SeekFrom, Write};

const LABEL: &str = "OXWRT";
const VOLUME_ID: u32 = 0x0A0B_0C0D;

fn kernel() -> Vec<u8> {
    noise(5 * MIB as usize + 12_345, 7)
}

fn files(kernel: &[u8]) -> Vec<(&'static str, &[u8])> {
    vec![
        ("EFI/BOOT/BOOTX64.EFI", kernel),
        ("EFI/BOOT/startup.nsh", b"\\EFI\\BOOT\\BOOTX64.EFI\r\n"),
        ("loader/entries/oxwrt-a-long-name.conf", b"title oxwrt\n"),
    ]
}

/// fsck.fat -n: exit 0 and no complaint (it lists problems before "Leaving"/summary).
fn assert_fsck_clean(image: &std::path::Path) {
    let out = run("fsck.fat", &["-n", path_str(image)], "dosfstools");
    assert!(out.success, "fsck.fat -n failed:\n{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "fsck.fat reports problems:\n{}", out.stdout);
    assert!(lines[0].starts_with("fsck.fat "), "{}", out.stdout);
    assert!(lines[1].contains(" files, "), "{}", out.stdout);
}

fn mtools_image(image: &std::path::Path, offset: Option<u64>) -> String {
    match offset {
        Some(offset) => format!("{}@@{offset}", path_str(image)),
        None => path_str(image).to_string(),
    }
}

fn mtype(image: &str, path: &str) -> Vec<u8> {
    let out = run("mtype", &["-i", image, path], "mtools");
    assert!(out.success, "mtype {path} failed: {}", out.stderr);
    out.raw_stdout
}

fn check_with_mtools(image: &str, kernel: &[u8]) {
    let listing = run_ok("mdir", &["-i", image, "::/EFI/BOOT"], "mtools");
    assert!(listing.contains(&format!("Volume in drive : is {LABEL}")), "{listing}");
    assert!(listing.contains("Volume Serial Number is 0A0B-0C0D"), "{listing}");
    let line = listing.lines().find(|l| l.starts_with("BOOTX64  EFI")).unwrap_or_else(|| panic!("no BOOTX64.EFI:\n{listing}"));
    assert!(line.contains(&format!(" {} 1980-01-01   0:00", kernel.len())), "{line}");
    assert!(listing.contains("startup.nsh"), "{listing}");
    assert_eq!(mtype(image, "::/EFI/BOOT/BOOTX64.EFI"), kernel, "BOOTX64.EFI read back differs");
    assert_eq!(mtype(image, "::/efi/boot/STARTUP.NSH"), b"\\EFI\\BOOT\\BOOTX64.EFI\r\n");
    assert_eq!(mtype(image, "::/loader/entries/oxwrt-a-long-name.conf"), b"title oxwrt\n");
}

#[test]
fn esp_of_32_mib_is_fat16_that_fsck_and_mtools_accept() {
    let kernel = kernel();
    let esp = build_esp(32 * MIB, LABEL, VOLUME_ID, &files(&kernel)).unwrap();
    assert_eq!(fat_type_of(&esp), Some("FAT16"));
    let image = scratch_file(&esp);
    assert_fsck_clean(image.path());
    check_with_mtools(path_str(image.path()), &kernel);
    let info = run_ok("minfo", &["-i", path_str(image.path()), "::"], "mtools");
    assert!(info.contains("serial number: 0A0B0C0D"), "{info}");
    assert!(info.contains("label=\"OXWRT      \""), "{info}");
    assert!(info.contains("disk type=\"FAT16   \""), "{info}");
}

#[test]
fn esp_of_64_mib_is_fat32_that_fsck_and_mtools_accept() {
    let kernel = kernel();
    let esp = build_esp(64 * MIB, LABEL, VOLUME_ID, &files(&kernel)).unwrap();
    assert_eq!(fat_type_of(&esp), Some("FAT32"));
    let image = scratch_file(&esp);
    assert_fsck_clean(image.path());
    check_with_mtools(path_str(image.path()), &kernel);
}

#[test]
fn esp_of_2_mib_is_fat12_that_fsck_and_mtools_accept() {
    let kernel = noise(300_000, 3);
    let esp = build_esp(2 * MIB, LABEL, VOLUME_ID, &files(&kernel)).unwrap();
    assert_eq!(fat_type_of(&esp), Some("FAT12"));
    let image = scratch_file(&esp);
    assert_fsck_clean(image.path());
    check_with_mtools(path_str(image.path()), &kernel);
}

#[test]
fn building_twice_gives_identical_bytes() {
    let kernel = kernel();
    let a = build_esp(32 * MIB, LABEL, VOLUME_ID, &files(&kernel)).unwrap();
    let b = build_esp(32 * MIB, LABEL, VOLUME_ID, &files(&kernel)).unwrap();
    assert!(a == b, "ESP images differ");
    let other_id = build_esp(32 * MIB, LABEL, VOLUME_ID + 1, &files(&kernel)).unwrap();
    assert!(a != other_id, "the volume id must be in the image");
}

#[test]
fn a_kernel_larger_than_the_esp_is_refused_with_the_fix() {
    let big = vec![0u8; 40 * MIB as usize];
    let err = build_esp(32 * MIB, LABEL, VOLUME_ID, &[("EFI/BOOT/BOOTX64.EFI", &big)]).unwrap_err();
    assert!(matches!(err, Error::DoesNotFit { .. }));
    let text = err.to_string();
    assert!(text.starts_with("ESP of 32 MiB cannot hold EFI/BOOT/BOOTX64.EFI (40 MiB; "), "{text}");
    assert!(text.ends_with("free after the files before it): raise the esp partition size in targets/<board>.toml"), "{text}");
}

/// The board's disk: GPT from targets/qemu-x86-64.toml with the ESP written at 1 MiB.
#[test]
fn board_disk_with_its_esp_passes_sgdisk_and_mtools() {
    const DISK: u64 = 256 * MIB;
    let mib = MIB / 512;
    let gpt = Gpt::new(
        Guid::derived(b"oxwrt/qemu-x86-64/disk"),
        vec![
            Partition::new("esp", Guid::EFI_SYSTEM, Guid::derived(b"esp"), mib, 33 * mib - 1),
            Partition::new("rootfs", Guid::LINUX_ROOT_X86_64, Guid::derived(b"rootfs"), 33 * mib, 97 * mib - 1),
            Partition::new("data", Guid::LINUX_FILESYSTEM, Guid::derived(b"data"), 97 * mib, 255 * mib - 1),
        ],
    );
    let kernel = kernel();
    let esp_part = gpt.partition("esp").unwrap();
    let esp = build_esp(esp_part.size(), LABEL, VOLUME_ID, &files(&kernel)).unwrap();

    let disk = scratch_disk(DISK);
    let mut file = disk.reopen().unwrap();
    gpt.write(&mut file, DISK).unwrap();
    file.seek(SeekFrom::Start(esp_part.offset())).unwrap();
    file.write_all(&esp).unwrap();
    drop(file);

    let verify = run_ok("sgdisk", &["-v", path_str(disk.path())], "gdisk");
    assert!(verify.contains("No problems found."), "{verify}");
    check_with_mtools(&mtools_image(disk.path(), Some(esp_part.offset())), &kernel);
    let disk_bytes = std::fs::read(disk.path()).unwrap();
    let esp_on_disk = &disk_bytes[esp_part.offset() as usize..(esp_part.offset() + esp_part.size()) as usize];
    assert_fsck_clean(scratch_file(esp_on_disk).path());
    assert_eq!(Gpt::read(&mut disk.reopen().unwrap(), DISK).unwrap(), gpt);
}
