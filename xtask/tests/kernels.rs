//! End-to-end checks of the kernels `cargo xtask test` has just built through the real
//! pipeline: features built in, the policy, each patch's effect (booted in QEMU where it can
//! be), LZMA compression checked with independent tools, the cache, config verification on a
//! real Kconfig tree. Ignored in a plain `cargo test`: `cargo xtask test` builds the kernels
//! first, then runs these with --ignored.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BOARDS: [&str; 4] = ["qemu-x86-64", "qemu-malta-mipsel", "linksys-wrt54gl", "linksys-wrt54gs"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn kernel_dir(board: &str) -> PathBuf {
    let dir = root().join("target/oxwrt").join(board).join("kernel");
    assert!(dir.join("info.json").is_file(), "{} has no built kernel: run `cargo xtask kernel --board {board}` (or `cargo xtask test`)", dir.display());
    dir
}

fn dot_config(board: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(kernel_dir(board).join(".config")).unwrap();
    let mut map = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.strip_prefix("CONFIG_").and_then(|l| l.split_once('=')) {
            map.insert(k.to_string(), v.to_string());
        }
    }
    map
}

fn system_map(board: &str) -> String {
    std::fs::read_to_string(kernel_dir(board).join("System.map")).unwrap()
}

fn has_symbol(map: &str, sym: &str) -> bool {
    map.lines().any(|l| l.split_whitespace().nth(2) == Some(sym))
}

/// Printable strings of a binary, like `strings`.
fn strings(path: &Path) -> String {
    let out = Command::new("strings").arg("-n").arg("6").arg(path).output().expect("strings (binutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn xtask() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.current_dir(root());
    c
}

/// Run QEMU until it exits, the kernel has finished panicking (these kernels have no root
/// filesystem to boot into, and the Malta cannot reboot), or `timeout`; return the console.
fn boot(args: &[&str], timeout: Duration) -> String {
    let mut child = Command::new(args[0]).args(&args[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("qemu starts");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut console = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(chunk) => console.extend_from_slice(&chunk),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        let done = String::from_utf8_lossy(&console).contains("---[ end Kernel panic");
        if done || started.elapsed() > timeout || child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    while let Ok(chunk) = rx.try_recv() {
        console.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&console).into_owned()
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A small raw disk for the kernel to find as /dev/vda.
fn scratch_disk(dir: &Path) -> PathBuf {
    let disk = dir.join("disk.img");
    std::fs::write(&disk, vec![0u8; 1 << 20]).unwrap();
    disk
}

/// QEMU's -m for a board: the RAM the board states (`ram`, or `qemu.memory`), as the
/// images are booted (xtask/src/tools/qemu.rs).
fn memory_mib(board: &str) -> String {
    let root = root();
    let b = xtask::board::Repo { root: &root }.load_board(board).unwrap_or_else(|e| panic!("{e:#}"));
    (b.qemu_memory().expect("a QEMU board") >> 20).to_string()
}

fn boot_x86(extra: &[&str], append: &str) -> String {
    let kernel = kernel_dir("qemu-x86-64").join("bzImage");
    let memory = memory_mib("qemu-x86-64");
    let mut args = vec![
        "qemu-system-x86_64",
        "-machine",
        "q35",
        "-accel",
        "tcg",
        "-m",
        &memory,
        "-nographic",
        "-no-reboot",
        "-kernel",
        kernel.to_str().unwrap(),
        "-append",
        append,
    ];
    args.extend_from_slice(extra);
    boot(&args, Duration::from_secs(120))
}

fn boot_malta(extra: &[&str], append: &str) -> String {
    let kernel = kernel_dir("qemu-malta-mipsel").join("vmlinux");
    let memory = memory_mib("qemu-malta-mipsel");
    let mut args = vec![
        "qemu-system-mipsel",
        "-M",
        "malta",
        "-cpu",
        "4Kc",
        "-m",
        &memory,
        "-nographic",
        "-no-reboot",
        "-kernel",
        kernel.to_str().unwrap(),
        "-append",
        append,
    ];
    args.extend_from_slice(extra);
    boot(&args, Duration::from_secs(180))
}

#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn every_board_has_the_router_features_built_in() {
    let generic = [
        "NET_SCH_CAKE",
        "NET_SCH_FQ_CODEL",
        "NET_SCH_HTB",
        "NET_SCH_INGRESS",
        "NET_ACT_MIRRED",
        "IFB",
        "WIREGUARD",
        "NF_TABLES",
        "NF_TABLES_INET",
        "NFT_NAT",
        "NFT_MASQ",
        "NF_NAT",
        "NF_CONNTRACK",
        "BRIDGE",
        "VLAN_8021Q",
        "SQUASHFS",
        "SQUASHFS_XZ",
        "OVERLAY_FS",
        "DEVTMPFS",
        "TMPFS",
    ];
    for board in BOARDS {
        let cfg = dot_config(board);
        assert_eq!(cfg.get("MODULES"), None, "{board}: no loadable modules: everything is built in");
        for opt in generic {
            assert_eq!(cfg.get(opt).map(String::as_str), Some("y"), "{board}: CONFIG_{opt} must be built in");
        }
        let map = system_map(board);
        for sym in [
            "cake_qdisc_ops",
            "fq_codel_qdisc_ops",
            "htb_qdisc_ops",
            "ifb_link_ops",
            "wg_noise_handshake_init",
            "nft_masq_ipv4_type",
            "squashfs_fs_type",
            "ovl_fs_type",
        ] {
            assert!(has_symbol(&map, sym), "{board}: System.map lacks {sym}");
        }
        let cmdline = xtask::context::Context::from_env(false).unwrap().repo().load_board(board).unwrap().kernel.cmdline;
        assert!(cmdline.starts_with("console=ttyS0,115200"), "{board}: {cmdline}");
        assert_eq!(cfg.get("CMDLINE"), Some(&format!("\"{cmdline}\"")), "{board}: the board's command line is built in");
    }
    let x86 = dot_config("qemu-x86-64");
    for opt in ["VIRTIO_PCI", "VIRTIO_NET", "VIRTIO_BLK", "EFI_STUB", "EXT4_FS", "KERNEL_XZ"] {
        assert_eq!(x86.get(opt).map(String::as_str), Some("y"), "qemu-x86-64: CONFIG_{opt}");
    }
    let malta = dot_config("qemu-malta-mipsel");
    for opt in ["PCNET32", "CPU_MIPS32_R1", "MTD_PHYSMAP_OF", "MTD_PARSER_TRX", "JFFS2_FS", "KERNEL_LZMA", "POWER_RESET_SYSCON", "POWER_RESET_PIIX4_POWEROFF"] {
        assert_eq!(malta.get(opt).map(String::as_str), Some("y"), "qemu-malta-mipsel: CONFIG_{opt}");
    }
    // The emulated WRT54G is sized like the real one (targets/wrt54g-class.config).
    let wrt = dot_config("linksys-wrt54gl");
    for (opt, value) in [("MIPS_KMALLOC_MINALIGN_L1", "y"), ("LOG_BUF_SHIFT", "14"), ("SLOB", "y")] {
        for (board, cfg) in [("qemu-malta-mipsel", &malta), ("linksys-wrt54gl", &wrt)] {
            assert_eq!(cfg.get(opt).map(String::as_str), Some(value), "{board}: CONFIG_{opt}");
        }
    }
    for opt in ["VIRTIO_NET", "VT", "INPUT", "JFFS2_SUMMARY", "JFFS2_ZLIB"] {
        assert_eq!(malta.get(opt), None, "qemu-malta-mipsel: CONFIG_{opt} costs RAM the WRT54G does not spend");
    }
    for opt in ["BCM47XX", "BCM47XX_SSB", "CPU_MIPS32_R1", "B44", "MTD_BCM47XX_PARTS", "MTD_PARSER_TRX", "JFFS2_FS", "KERNEL_LZMA"] {
        assert_eq!(wrt.get(opt).map(String::as_str), Some("y"), "linksys-wrt54gl: CONFIG_{opt}");
    }
}

#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn obsolete_filesystems_are_neither_built_nor_autoloaded() {
    for board in BOARDS {
        let cfg = dot_config(board);
        for sym in [
            "ADFS_FS",
            "AFFS_FS",
            "BEFS_FS",
            "BFS_FS",
            "CRAMFS",
            "EFS_FS",
            "EROFS_FS",
            "F2FS_FS",
            "VXFS_FS",
            "HFS_FS",
            "HPFS_FS",
            "JFS_FS",
            "MINIX_FS",
            "NILFS2_FS",
            "NTFS_FS",
            "OMFS_FS",
            "QNX4FS_FS",
            "QNX6FS_FS",
            "SYSV_FS",
            "UFS_FS",
        ] {
            assert!(!cfg.contains_key(sym), "{board}: CONFIG_{sym} is built");
        }
        let deny = cfg.get("FS_AUTOLOAD_DENYLIST").unwrap_or_else(|| panic!("{board}: the autoload deny patch is not in the kernel"));
        for name in ["cramfs", "hfs", "jfs", "exofs", "ufs"] {
            assert!(deny.split([',', '"']).any(|n| n == name), "{board}: {name} missing from {deny}");
        }
    }
}

#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn the_kernel_refuses_to_autoload_an_obsolete_filesystem_x86() {
    let dir = tempfile::tempdir().unwrap();
    let disk = scratch_disk(dir.path());
    let drive = format!("file={},format=raw,if=virtio", disk.display());
    // Mounting the root as cramfs makes the kernel itself ask for fs-cramfs.
    let log = boot_x86(&["-drive", &drive], "console=ttyS0 root=/dev/vda rootfstype=cramfs panic=-1");
    assert!(log.contains("Linux version 6.1"), "the kernel did not boot:\n{}", tail(&log));
    assert!(log.contains("fs-cramfs: autoloading denied by CONFIG_FS_AUTOLOAD_DENYLIST"), "no refusal in:\n{}", tail(&log));
    assert!(log.contains("VFS: Unable to mount root fs"), "{}", tail(&log));
}

#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn the_kernel_refuses_to_autoload_an_obsolete_filesystem_malta_4kc() {
    // The root device is the flash's TRX rootfs partition (flash-boot/0001 picks it).
    let dir = tempfile::tempdir().unwrap();
    let (flash, _, _) = wrt54g_like_flash(dir.path());
    let drive = format!("if=pflash,format=raw,file={}", flash.display());
    let log = boot_malta(&["-drive", &drive], "console=ttyS0 rootfstype=cramfs panic=-1");
    assert!(log.contains("Linux version 6.1"), "the kernel did not boot:\n{}", tail(&log));
    assert!(log.contains("CPU0 revision is: 00018"), "not a 4Kc (MIPS32r1) CPU:\n{}", tail(&log));
    assert!(log.contains("fs-cramfs: autoloading denied by CONFIG_FS_AUTOLOAD_DENYLIST"), "no refusal in:\n{}", tail(&log));
}

#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn the_apu6_patch_recognises_the_board_from_its_dmi_strings() {
    let not_apu = "failed to detect APU board via DMI";
    let smbios = |board: &str| -> Vec<String> {
        vec!["-smbios".into(), "type=1,manufacturer=PC Engines,product=apu".into(), "-smbios".into(), format!("type=2,manufacturer=PC Engines,product={board}")]
    };
    let run = |extra: Vec<String>| {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        // No root device: panic at once (the board's own root= would wait for its disk).
        boot_x86(&extra, "console=ttyS0 panic=-1 root=/dev/ram")
    };
    let plain = run(vec![]);
    assert!(plain.contains(not_apu), "without APU DMI strings the driver says so:\n{}", tail(&plain));
    let apu5 = run(smbios("apu5"));
    assert!(apu5.contains(not_apu), "apu5 is not in the table:\n{}", tail(&apu5));
    let apu6 = run(smbios("apu6"));
    assert!(apu6.contains("Linux version 6.1") && !apu6.contains(not_apu), "apu6 must be recognised:\n{}", tail(&apu6));
    assert!(strings(&kernel_dir("qemu-x86-64").join("vmlinux")).contains("PC Engines apu6"));
}

/// A 4 MiB Malta flash image laid out like a WRT54GL's: a TRX v1 at 0x40000 (the patched
/// device tree's "firmware" partition) holding a stand-in kernel and a real squashfs.
/// Returns the image and the expected (rootfs, rootfs_data) offsets inside the firmware.
fn wrt54g_like_flash(dir: &Path) -> (PathBuf, u64, u64) {
    const FLASH: usize = 4 << 20;
    const FIRMWARE: usize = 0x40000;
    const ERASE: usize = 0x10000;
    let tree = dir.join("root");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/banner"), "oxwrt flash test\n".repeat(200)).unwrap();
    let sqfs = dir.join("root.sqfs");
    let ok = Command::new("mksquashfs")
        .arg(&tree)
        .arg(&sqfs)
        .args(["-comp", "xz", "-noappend", "-all-root", "-quiet", "-no-progress"])
        .status()
        .expect("mksquashfs (squashfs-tools)")
        .success();
    assert!(ok, "mksquashfs failed");
    let sq = std::fs::read(&sqfs).unwrap();
    assert_eq!(&sq[..4], b"hsqs");
    let bytes_used = u64::from_le_bytes(sq[40..48].try_into().unwrap()) as usize;
    let align = |x: usize| x.div_ceil(ERASE) * ERASE;
    let kernel = b"oxwrt stand-in kernel ".repeat(3000);
    let (k_off, r_off) = (28usize, align(28 + kernel.len()));
    let mut trx = vec![0u8; r_off + sq.len()];
    trx[k_off..k_off + kernel.len()].copy_from_slice(&kernel);
    trx[r_off..].copy_from_slice(&sq);
    trx[0..4].copy_from_slice(b"HDR0");
    let len = trx.len() as u32;
    trx[4..8].copy_from_slice(&len.to_le_bytes());
    trx[14..16].copy_from_slice(&1u16.to_le_bytes());
    trx[16..20].copy_from_slice(&(k_off as u32).to_le_bytes());
    trx[20..24].copy_from_slice(&(r_off as u32).to_le_bytes());
    let mut image = vec![0xffu8; FLASH];
    image[FIRMWARE..FIRMWARE + trx.len()].copy_from_slice(&trx);
    let path = dir.join("flash.img");
    std::fs::write(&path, image).unwrap();
    (path, r_off as u64, align(r_off + bytes_used) as u64)
}

#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn the_malta_flash_is_split_like_a_wrt54g_with_a_writable_area_after_the_squashfs() {
    let dir = tempfile::tempdir().unwrap();
    let (flash, rootfs, data) = wrt54g_like_flash(dir.path());
    let drive = format!("if=pflash,format=raw,file={}", flash.display());
    let log = boot_malta(&["-drive", &drive], "console=ttyS0 panic=-1");
    // malta/0001: the flash is laid out like a WRT54GL's: cfe, the TRX "firmware", nvram ...
    for part in ["0x000000000000-0x000000040000 : \"cfe\"", "0x000000040000-0x0000003f0000 : \"firmware\"", "0x0000003f0000-0x000000400000 : \"nvram\""] {
        assert!(log.contains(part), "no {part}:\n{}", tail(&log));
    }
    // ... which the TRX parser splits, generic/0002 adding rootfs_data on the first erase
    // block after the squashfs, up to the end of the firmware partition.
    assert!(log.contains("3 trx partitions found on MTD device firmware"), "{}", tail(&log));
    assert!(
        log.contains(&format!("0x{rootfs:012x}-0x{data:012x} : \"rootfs\"")),
        "rootfs must end where the squashfs ends (erase-block aligned):\n{}",
        tail(&log)
    );
    assert!(log.contains(&format!("0x{data:012x}-0x0000003b0000 : \"rootfs_data\"")), "no rootfs_data:\n{}", tail(&log));
    // flash-boot/0001: with no root= the TRX's rootfs partition is the root device.
    assert!(log.contains("mtd: device 3 (rootfs) set to be root filesystem"), "{}", tail(&log));
    assert!(log.contains("VFS: Mounted root (squashfs filesystem) readonly"), "{}", tail(&log));
}

/// malta/0003: without YAMON (QEMU boots the kernel itself) the RAM below the kernel goes to
/// Linux, as on a WRT54G whose kernel starts at 0x1000: at boot the kernel reserves its
/// image, the page array and small early allocations, not another megabyte.
#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn the_malta_gives_the_ram_below_the_kernel_to_linux() {
    let log = boot_malta(&[], "console=ttyS0 panic=-1");
    let m = xtask::memory::parse_boot_line(&log).unwrap_or_else(|| panic!("no `Memory:` line:\n{}", tail(&log)));
    let image = m.kernel_code + m.rwdata + m.rodata + m.init + m.bss;
    // struct page: 32 bytes per 4 KiB page on 32-bit MIPS.
    let page_array = m.total / 4 * 32 / 1024;
    assert!(m.reserved <= image + page_array + 256, "{m:?}: {} KiB reserved beyond the kernel image and page array", m.reserved - image - page_array);
}

#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn the_wrt54gl_kernel_makes_the_rootfs_partition_the_root_device() {
    let cfg = dot_config("linksys-wrt54gl");
    assert_eq!((cfg.get("MTD").map(String::as_str), cfg.get("MTD_BLOCK").map(String::as_str)), (Some("y"), Some("y")));
    let s = strings(&kernel_dir("linksys-wrt54gl").join("vmlinux"));
    assert!(s.contains("set to be root filesystem"), "the flash-boot/0001 rootfs patch is not in the kernel");
    assert!(s.contains("rootfs_data"), "the TRX rootfs_data patch is not in the kernel");
}

#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn the_wrt54gl_kernel_is_an_lzma_payload_of_its_vmlinux() {
    let dir = kernel_dir("linksys-wrt54gl");
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("info.json")).unwrap()).unwrap();
    let size = info["image_bytes"].as_u64().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // The self-decompressing vmlinuz carries the kernel, compressed by `lzma -9`, in its
    // .data section. Find the LZMA header there, decompress with xz's LZMA decoder and
    // compare with the raw kernel cut from vmlinux the way arch/mips/boot/compressed does.
    let objcopy = "mipsel-linux-gnu-objcopy";
    let data = tmp.path().join("data.bin");
    let raw = tmp.path().join("vmlinux.bin");
    assert!(Command::new(objcopy).args(["-O", "binary", "-j", ".data"]).arg(dir.join("vmlinuz")).arg(&data).status().unwrap().success());
    assert!(Command::new(objcopy).args(["-O", "binary", "-R", ".comment", "-S"]).arg(dir.join("vmlinux")).arg(&raw).status().unwrap().success());
    let data = std::fs::read(&data).unwrap();
    // lc=3 lp=0 pb=2, 64 MiB dictionary (-9), size unknown (streamed).
    let header = [0x5d, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let start = data.windows(header.len()).position(|w| w == header).expect("no LZMA stream in the vmlinuz");
    let payload = tmp.path().join("payload.lzma");
    std::fs::write(&payload, &data[start..]).unwrap();
    let out = Command::new("xz").args(["--format=lzma", "--decompress", "--stdout", "--single-stream"]).arg(&payload).output().unwrap();
    assert!(out.status.success(), "the payload is not LZMA: {}", String::from_utf8_lossy(&out.stderr));
    let expected = std::fs::read(&raw).unwrap();
    assert_eq!(out.stdout.len(), expected.len(), "decompressed size");
    assert!(out.stdout == expected, "the LZMA payload is not the kernel");
    let lzma = (data.len() - start) as u64;
    assert!(lzma < size && size < 3_774_873, "vmlinuz {size} bytes (LZMA payload {lzma}) must fit the 3.6 MiB budget");
    eprintln!("linksys-wrt54gl: vmlinuz {size} bytes, LZMA payload {lzma} bytes, raw kernel {} bytes", expected.len());
}

#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn the_wrt54gl_and_wrt54gs_share_one_kernel_build() {
    let key = |b: &str| serde_json::from_slice::<serde_json::Value>(&std::fs::read(kernel_dir(b).join("info.json")).unwrap()).unwrap()["key"].clone();
    assert_eq!(key("linksys-wrt54gl"), key("linksys-wrt54gs"), "same fragment, patches and command line: one cache entry");
    assert_eq!(std::fs::read(kernel_dir("linksys-wrt54gl").join("vmlinuz")).unwrap(), std::fs::read(kernel_dir("linksys-wrt54gs").join("vmlinuz")).unwrap());
}

#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn a_second_run_does_no_kernel_work() {
    for board in BOARDS {
        let log = root().join("target/oxwrt").join(board).join("logs/kernel-build.log");
        let before = std::fs::metadata(&log).and_then(|m| m.modified()).ok();
        let out = xtask().args(["kernel", "--board", board]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{board}: {err}");
        assert!(err.contains(&format!("kernel for {board}: up to date, no kernel work")), "{board}: {err}");
        assert_eq!(std::fs::metadata(&log).and_then(|m| m.modified()).ok(), before, "{board}: make ran again");
        assert!(kernel_dir(board).join(".config").is_file());
    }
}

#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn config_verification_names_options_kconfig_dropped_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let frag = dir.path().join("broken.config");
    // An option no package asks for (packages' [kernel] options are applied after the
    // fragments: sqmd's CONFIG_NET_SCHED=y would switch the scheduler back on).
    std::fs::write(&frag, "# CONFIG_IP_ADVANCED_ROUTER is not set\nCONFIG_NO_SUCH_OPTION=y\n").unwrap();
    let out = xtask().args(["kernel", "--board", "qemu-x86-64", "--fragment"]).arg(&frag).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the build must stop:\n{err}");
    assert!(err.contains("CONFIG_IP_MULTIPLE_TABLES: asked y by kernel-patches/6.1/generic.config:"), "{err}");
    assert!(err.contains("depends on IP_ADVANCED_ROUTER [=n]"), "{err}");
    assert!(err.contains(&format!("CONFIG_NO_SUCH_OPTION: asked y by {}:2, got n", frag.display())), "{err}");
    assert!(err.contains("CONFIG_NO_SUCH_OPTION does not exist in this kernel's Kconfig"), "{err}");
}

#[test]
#[ignore = "needs the kernels built by `cargo xtask test`"]
fn savedefconfig_turns_a_menuconfig_change_into_fragment_lines() {
    let board = "qemu-malta-mipsel";
    let out = xtask().args(["kernel", "configure", "--board", board]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // What a maintainer would do in menuconfig: turn SFQ on, IPv6 off.
    let dot = root().join("target/oxwrt").join(board).join("kernel-obj/.config");
    let text = std::fs::read_to_string(&dot).unwrap().replace("CONFIG_IPV6=y\n", "# CONFIG_IPV6 is not set\n") + "CONFIG_NET_SCH_SFQ=y\n";
    std::fs::write(&dot, text).unwrap();
    let out = xtask().args(["kernel", "savedefconfig", "--board", board]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("options changed since the fragments were applied:"), "{err}");
    assert!(err.contains("  CONFIG_NET_SCH_SFQ=y\n"), "{err}");
    assert!(err.contains("  # CONFIG_IPV6 is not set\n"), "{err}");
    let defconfig = std::fs::read_to_string(root().join("target/oxwrt").join(board).join("kernel/defconfig")).unwrap();
    assert!(defconfig.contains("CONFIG_MIPS_MALTA=y") && defconfig.contains("CONFIG_NET_SCH_SFQ=y"), "{defconfig}");
}
