//! `cargo xtask inspect`: a factory image built from real parts (a gzip'd kernel stand-in,
//! a squashfs made by mksquashfs) is taken apart correctly, and the result agrees with
//! independent tools: Python's zlib for the TRX CRC, binwalk for where things are,
//! unsquashfs for the root filesystem. Broken and foreign files give clear errors.

use oxwrt_images::{chk, gpt, linksys, trx, uimage};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use xtask::cmd::inspect::{inspect, inspect_bytes, Report};

/// A file in the squashfs, found again by unsquashfs.
const MARKER: &str = "etc/oxwrt-inspect-marker";

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    factory: PathBuf,
    squashfs: Vec<u8>,
    gzip: Vec<u8>,
}

impl Fixture {
    /// The squashfs superblock's bytes_used (mksquashfs pads the file to 4 KiB after it).
    fn bytes_used(&self) -> u64 {
        u64::from_le_bytes(self.squashfs[40..48].try_into().unwrap())
    }
}

fn tool(cmd: &mut Command, package: &str) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?} ({e}): install {package} (`cargo xtask setup`)"));
    assert!(out.status.success(), "{cmd:?} failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

/// A kernel stand-in: an ELF header and enough varied bytes that gzip has work to do.
fn fake_kernel() -> Vec<u8> {
    let mut k = vec![0u8; 64];
    k[..7].copy_from_slice(b"\x7fELF\x01\x01\x01");
    k[16..18].copy_from_slice(&2u16.to_le_bytes());
    k[18..20].copy_from_slice(&8u16.to_le_bytes()); // MIPS
    k[24..28].copy_from_slice(&0x8000_1000u32.to_le_bytes());
    let mut x = 0x1234_5678u32;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        k.push(b"abcdefgh"[(x % 8) as usize]);
    }
    k
}

fn gzip_named(name: &str, data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::GzBuilder::new().filename(name).mtime(0).operating_system(3).write(Vec::new(), flate2::Compression::best());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::write(root.join(MARKER), "hello from inspect\n").unwrap();
    std::fs::write(root.join("bin/sh"), fake_kernel()).unwrap();
    let sq = dir.join("rootfs.squashfs");
    tool(Command::new("mksquashfs").arg(&root).arg(&sq).args(["-comp", "xz", "-all-root", "-noappend", "-quiet", "-no-progress"]), "squashfs-tools");
    let squashfs = std::fs::read(&sq).unwrap();
    let gzip = gzip_named("vmlinux", &fake_kernel());
    let image = trx::Builder::new(1).partition(&gzip, 4).partition(&squashfs, 4096).build().unwrap();
    let mut header = linksys::Header::new(*b"W54G", linksys::date_from_unix(1_700_000_000), linksys::parse_version("v4.71.1").unwrap());
    header.flags = linksys::FLAGS_V4;
    let factory = dir.join("factory.bin");
    std::fs::write(&factory, linksys::wrap(&header, &image)).unwrap();
    Fixture { _dir: tmp, dir, factory, squashfs, gzip }
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// `cargo xtask inspect` as a user runs it: (success, stdout, stderr).
fn run_cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("inspect").args(args).output().expect("run xtask");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn one<'a>(r: &'a Report, kind: &str) -> &'a xtask::cmd::inspect::Node {
    let found = r.find(kind);
    assert_eq!(found.len(), 1, "one {kind} node expected in\n{}", r.render());
    found[0]
}

#[test]
fn factory_image_is_taken_apart_and_verified() {
    let f = fixture();
    let r = inspect(&f.factory).unwrap();
    let text = r.render();
    assert!(r.ok, "{text}");
    assert!(r.verdict.starts_with("verdict: OK"), "{text}");

    let l = one(&r, "linksys");
    assert_eq!(l.offset, 0);
    assert_eq!(l.get("pattern"), Some("W54G"));
    assert_eq!(l.get("model"), Some("WRT54G / WRT54GL"));
    assert_eq!(l.get("version"), Some("v4.71.1"));
    assert_eq!(l.get("date"), Some("2023-11-14"));
    assert_eq!(l.get("flags"), Some("0x001f"));

    let t = one(&r, "trx");
    assert_eq!(t.offset, 32);
    assert_eq!(t.get("crc"), Some("OK"));
    assert_eq!(t.get("crc_stored"), t.get("crc_computed"));
    let len: u64 = t.get("len").unwrap().parse().unwrap();
    assert_eq!(len + 32, std::fs::metadata(&f.factory).unwrap().len());

    let parts = r.find("trx-partition");
    assert_eq!(parts.len(), 2, "{text}");
    let g = one(&r, "gzip");
    assert_eq!(g.offset, 32 + 28);
    assert_eq!(g.size, f.gzip.len() as u64);
    assert_eq!(g.get("name"), Some("vmlinux"));
    assert_eq!(g.get("uncompressed_size"), Some(fake_kernel().len().to_string().as_str()));
    assert!(g.summary.contains("ELF 32-bit little-endian, MIPS"), "{text}");

    let s = one(&r, "squashfs");
    assert_eq!(s.offset, 32 + 4096 * f.gzip.len().div_ceil(4096) as u64);
    assert_eq!(parts[1].offset, s.offset);
    assert_eq!(s.get("compression"), Some("xz"));
    assert_eq!(s.get("bytes_used").unwrap().parse::<u64>().unwrap(), f.bytes_used());
    assert_eq!(s.size, f.bytes_used());
    assert!(f.bytes_used() < f.squashfs.len() as u64, "mksquashfs padded it");
    assert!(s.get("padding_after").is_some(), "{text}");
    // mksquashfs pads to 4 KiB, the TRX to 4 KiB after the header: padding shows.
    assert!(text.contains("padding (zeros)"), "{text}");
    assert!(r.checks.iter().any(|c| c.what == "TRX CRC32" && c.ok));
    assert!(r.checks.iter().any(|c| c.what == "gzip CRC32" && c.ok));
    assert!(text.lines().last().unwrap().starts_with("verdict: OK: 2 checksums valid"), "{text}");

    // The CLI prints the same tree and succeeds; --json is the same report.
    let (ok, out, err) = run_cli(&[f.factory.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("TRX v1") && out.contains("verdict: OK"), "{out}");
    let (ok, out, err) = run_cli(&[f.factory.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["nodes"][0]["kind"], "linksys");
    assert_eq!(v["nodes"][0]["children"][0]["kind"], "trx");
}

#[test]
fn trx_crc_agrees_with_pythons_zlib() {
    let f = fixture();
    let script = "import sys, zlib, struct\n\
                  d = open(sys.argv[1], 'rb').read()[32:]\n\
                  n = struct.unpack('<I', d[4:8])[0]\n\
                  print(zlib.crc32(d[12:n]) ^ 0xffffffff, struct.unpack('<I', d[8:12])[0])";
    let out = tool(Command::new("python3").args(["-c", script]).arg(&f.factory), "python3");
    let text = String::from_utf8(out.stdout).unwrap();
    let nums: Vec<u64> = text.split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert_eq!(nums[0], nums[1], "Python's CRC vs the stored one");
    let r = inspect(&f.factory).unwrap();
    assert_eq!(one(&r, "trx").get("crc_computed"), Some(format!("{:#010x}", nums[0]).as_str()));
}

/// binwalk's (DECIMAL, DESCRIPTION) lines.
fn binwalk(path: &Path) -> Vec<(u64, String)> {
    let out = tool(Command::new("binwalk").arg(path), "binwalk");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let dec = cols.next()?.parse().ok()?;
            let _hex = cols.next()?;
            Some((dec, cols.collect::<Vec<_>>().join(" ")))
        })
        .collect()
}

#[test]
fn binwalk_finds_the_same_things_at_the_same_offsets() {
    let f = fixture();
    let r = inspect(&f.factory).unwrap();
    let found = binwalk(&f.factory);
    let at = |offset: u64, what: &str| {
        assert!(
            found.iter().any(|(o, d)| *o == offset && d.to_lowercase().contains(what)),
            "binwalk reports no {what:?} at {offset}: {found:#?}\ninspect:\n{}",
            r.render()
        )
    };
    let t = one(&r, "trx");
    at(t.offset, "trx firmware header");
    let g = one(&r, "gzip");
    at(g.offset, "gzip compressed data");
    let s = one(&r, "squashfs");
    at(s.offset, "squashfs filesystem");
    // binwalk's TRX line gives the header's partition offsets and its squashfs line the size.
    let trx_line = found.iter().find(|(o, _)| *o == t.offset).unwrap().1.to_lowercase();
    let rel = s.offset - t.offset;
    assert!(trx_line.contains(&format!("{rel:#x}")), "{trx_line}");
    // binwalk prints the CRC without leading zeros (0xc9fc9b4): compare the numbers.
    let hex = |text: &str| u32::from_str_radix(text.trim_start_matches("0x"), 16).unwrap();
    let binwalk_crc =
        trx_line.split("crc32: ").nth(1).and_then(|rest| rest.split(',').next()).unwrap_or_else(|| panic!("no crc32 in binwalk's line: {trx_line}"));
    assert_eq!(hex(binwalk_crc), hex(t.get("crc_stored").unwrap()), "{trx_line}");
    // Its "BIN-Header" line is the Linksys header: pattern, date, hardware version 0 =
    // BCM4702. (binwalk 2.3 prints the version as X.Y.Y, reading byte 12 twice.)
    let l = one(&r, "linksys");
    at(l.offset, "bin-header, board id: w54g");
    let bin_line = &found.iter().find(|(o, _)| *o == l.offset).unwrap().1;
    assert!(bin_line.contains(&format!("build date: {}", l.get("date").unwrap())), "{bin_line}");
    assert!(bin_line.contains("hardware version: 4702"), "{bin_line}");
    let sq_line = &found.iter().find(|(o, _)| *o == s.offset).unwrap().1;
    assert!(sq_line.contains(&format!("size: {} bytes", f.bytes_used())), "{sq_line}");
}

#[test]
fn unsquashfs_lists_the_extracted_root_filesystem() {
    let f = fixture();
    let r = inspect(&f.factory).unwrap();
    let part = r.find("trx-partition")[1];
    let data = std::fs::read(&f.factory).unwrap();
    let rootfs = write(&f.dir, "partition1.bin", &data[part.offset as usize..(part.offset + part.size) as usize]);
    let out = tool(Command::new("unsquashfs").arg("-l").arg(&rootfs), "squashfs-tools");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains(MARKER), "{listing}");
}

#[test]
fn a_flipped_byte_is_a_crc_mismatch_and_a_failure() {
    let f = fixture();
    let mut data = std::fs::read(&f.factory).unwrap();
    let s = one(&inspect(&f.factory).unwrap(), "squashfs").offset as usize;
    data[s + 200] ^= 0x01;
    let bad = write(&f.dir, "flipped.bin", &data);
    let r = inspect(&bad).unwrap();
    assert!(!r.ok);
    let t = one(&r, "trx");
    assert_eq!(t.get("crc"), Some("MISMATCH"));
    assert!(r.verdict.starts_with("verdict: FAILED: TRX CRC32 at 0x20"), "{}", r.verdict);
    assert!(r.render().contains("MISMATCH"));
    let (ok, out, err) = run_cli(&[bad.to_str().unwrap()]);
    assert!(!ok, "exit status must be non-zero on a CRC mismatch");
    assert!(out.contains("MISMATCH"), "{out}");
    assert!(err.contains("flipped.bin") && err.contains("TRX CRC32"), "{err}");

    // A flipped byte inside the gzip stream: the TRX CRC and gzip's own CRC both fail.
    let mut data = std::fs::read(&f.factory).unwrap();
    data[32 + 28 + 5000] ^= 0x80;
    let r = inspect_bytes("gz-flipped.bin", &data).unwrap();
    assert!(!r.ok);
    let failed: Vec<_> = r.checks.iter().filter(|c| !c.ok).map(|c| c.what.as_str()).collect();
    assert_eq!(failed, ["TRX CRC32", "gzip CRC32"], "{}", r.render());
}

#[test]
fn truncated_empty_garbage_and_foreign_files_are_clear_errors() {
    let f = fixture();
    let data = std::fs::read(&f.factory).unwrap();
    let err = |name: &str, bytes: &[u8]| -> String {
        let p = write(&f.dir, name, bytes);
        let e = format!("{:#}", inspect(&p).unwrap_err());
        assert!(e.contains(name), "the error names the file: {e}");
        assert!(!e.contains('\n'), "one paragraph: {e}");
        let (ok, _, stderr) = run_cli(&[p.to_str().unwrap()]);
        assert!(!ok, "{name}: exit status must be non-zero");
        assert!(stderr.contains(name) && !stderr.contains("panicked"), "{stderr}");
        e
    };

    let e = err("truncated.bin", &data[..data.len() / 2]);
    assert!(e.contains("truncated TRX image") && e.contains("offset 0x20"), "{e}");
    assert!(e.contains(&format!("only {} bytes", data.len() / 2 - 32)), "{e}");

    let e = err("empty.bin", &[]);
    assert!(e.contains("empty"), "{e}");

    let mut x = 0x9E37_79B9u32;
    let garbage: Vec<u8> = (0..10_000)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    let e = err("garbage.bin", &garbage);
    assert!(e.contains("not a firmware image") && e.contains("offset 0x0") && e.contains("HDR0"), "{e}");

    let e = err("picture.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10");
    assert!(e.contains("PNG image") && e.contains("89 50 4e 47"), "{e}");

    let e = err("vmlinux", &fake_kernel());
    assert!(e.contains("ELF 32-bit little-endian, MIPS executable"), "{e}");

    // A Linksys header whose TRX is missing.
    let e = err("header-only.bin", &data[..40]);
    assert!(e.contains("after the Linksys header") && e.contains("offset 0x20"), "{e}");

    let e = err("erased.bin", &[0xFF; 4096]);
    assert!(e.contains("erased flash"), "{e}");
}

#[test]
fn never_panics_on_any_cut_or_flip_of_a_small_image() {
    let gz = gzip_named("k", b"kernel kernel kernel kernel");
    let image = trx::Builder::new(1).partition(&gz, 4).partition(b"hsqs-not-really", 4).pad_to(256).build().unwrap();
    let header = linksys::Header::new(*b"W54G", (23, 11, 14), (4, 71, 1));
    let file = linksys::wrap(&header, &image);
    for cut in 0..=file.len() {
        let _ = inspect_bytes("cut", &file[..cut]);
    }
    for i in 0..file.len() {
        let mut b = file.clone();
        b[i] ^= 0x5A;
        if let Ok(r) = inspect_bytes("flip", &b) {
            // Anything that still parses must not pass: the flip is in the CRC's range or in
            // the header, which the TRX parse or the CRC catches ... except the Linksys
            // header, which has no checksum of its own.
            assert!(!r.ok || i < 32 || (36..40).contains(&i), "flip at {i} unseen:\n{}", r.render());
        }
    }
}

#[test]
fn gpt_disk_chk_uimage_and_bare_squashfs() {
    let f = fixture();
    // A GPT disk with the squashfs in a partition.
    let size = 4u64 << 20;
    let mut disk = vec![0u8; size as usize];
    let g = gpt::Gpt::new(
        gpt::Guid::derived(b"inspect-test"),
        vec![gpt::Partition::new("rootfs", gpt::Guid::LINUX_ROOT_X86_64, gpt::Guid::derived(b"inspect-test/rootfs"), 2048, 2048 + 4096 - 1)],
    );
    g.write(&mut std::io::Cursor::new(&mut disk[..]), size).unwrap();
    disk[1 << 20..(1 << 20) + f.squashfs.len()].copy_from_slice(&f.squashfs);
    let r = inspect_bytes("disk.img", &disk).unwrap();
    assert!(r.ok, "{}", r.render());
    let p = one(&r, "gpt-partition");
    assert_eq!((p.offset, p.get("name")), (1 << 20, Some("rootfs")));
    assert!(p.summary.contains("Linux root (x86-64)"));
    assert_eq!(one(&r, "squashfs").offset, 1 << 20);
    // The backup GPT damaged: reported, not a crash.
    let last = disk.len() - 512;
    disk[last + 40] ^= 1;
    let r = inspect_bytes("disk.img", &disk).unwrap();
    assert!(!r.ok && r.verdict.contains("GPT"), "{}", r.verdict);

    // A Netgear CHK around a TRX.
    let image = trx::Builder::new(1).partition(&f.gzip, 4).build().unwrap();
    let c = chk::build("U12H072T00_NETGEAR", 2, [1, 0, 0, 1, 0, 0, 0], &image, &f.squashfs).unwrap();
    let r = inspect_bytes("image.chk", &c).unwrap();
    assert!(r.ok, "{}", r.render());
    assert_eq!(r.checks.len(), 4 + 2, "4 CHK checksums, the TRX and the gzip inside");
    assert_eq!(one(&r, "trx").offset, 58);
    assert_eq!(one(&r, "squashfs").offset, 58 + image.len() as u64);
    let mut bad = c.clone();
    bad[60] ^= 1;
    let r = inspect_bytes("image.chk", &bad).unwrap();
    assert!(!r.ok && r.verdict.contains("CHK kernel checksum"), "{}", r.verdict);

    // A uImage of the gzip'd kernel.
    let header = uimage::Header {
        header_crc: 0,
        time: 0,
        data_size: 0,
        load: 0x8006_0000,
        entry: 0x8006_0000,
        data_crc: 0,
        os: uimage::OS_LINUX,
        arch: uimage::ARCH_MIPS,
        image_type: uimage::TYPE_KERNEL,
        compression: uimage::COMP_GZIP,
        name: "oxwrt".into(),
    };
    let u = uimage::build(&header, &f.gzip).unwrap();
    let r = inspect_bytes("uImage", &u).unwrap();
    assert!(r.ok, "{}", r.render());
    assert!(one(&r, "uimage").summary.contains("Linux MIPS kernel"), "{}", r.render());
    assert_eq!(one(&r, "gzip").offset, 64);

    // A bare squashfs: no checksum, structure valid.
    let r = inspect_bytes("rootfs.squashfs", &f.squashfs).unwrap();
    assert!(r.ok && r.verdict.contains("no checksum"), "{}", r.verdict);
    let e = inspect_bytes("cut.squashfs", &f.squashfs[..f.squashfs.len() / 2]).unwrap_err();
    assert!(format!("{e}").contains("truncated"), "{e}");

    // A whole-flash dump: erased boot loader area, the TRX at 256 KiB, erased after.
    let mut flash = vec![0xFFu8; 1 << 20];
    let small = trx::Builder::new(1).partition(&f.gzip, 4).build().unwrap();
    flash[0x40000..0x40000 + small.len()].copy_from_slice(&small);
    let r = inspect_bytes("flash.bin", &flash).unwrap();
    assert!(r.ok, "{}", r.render());
    assert_eq!(one(&r, "trx").offset, 0x40000);
}

#[test]
fn binwalk_is_a_requirement_of_flash_boards_only() {
    let ctx = xtask::context::Context::from_env(false).unwrap();
    let repo = ctx.repo();
    let needs = |id: &str| {
        let board = repo.load_board(id).unwrap();
        xtask::toolchain::requirements(&board).iter().any(|r| matches!(&r.check, xtask::toolchain::Check::Program(p) if p == "binwalk"))
    };
    assert!(needs("linksys-wrt54gl"));
    assert!(!needs("qemu-x86-64"));
}
