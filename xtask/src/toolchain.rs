//! What a board needs on the build machine (the commands `doctor` and `setup`, in
//! cmd/doctor.rs, list and install it).
//!
//! Each [`Requirement`] knows how to check itself and how to fix it: a Debian package (from
//! which suite), a pip package, or words for other systems. Every build command calls
//! [`require`] first, so a missing tool stops the build with the fix, never with a crash
//! deep in a log.

use crate::board::{Arch, Board, Compression, SourceOrigin, StorageKind};
use crate::context::Context;
use crate::tools::exec;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a requirement is needed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Purpose {
    Kernel,
    Userland,
    Emulation,
    /// Kernel maintainers only (menuconfig).
    Maintainer,
}

impl Purpose {
    pub fn label(self) -> &'static str {
        match self {
            Purpose::Kernel => "kernel",
            Purpose::Userland => "userland",
            Purpose::Emulation => "qemu",
            Purpose::Maintainer => "maintainer (optional)",
        }
    }
}

#[derive(Clone, Debug)]
pub enum Check {
    /// A program on PATH.
    Program(String),
    /// A file that must exist (headers, tarballs, std sources).
    File(PathBuf),
    /// A Rust target whose std the host toolchain (rustup) already has.
    RustupStd(String),
}

/// How to get a missing requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fix {
    /// A Debian package, and the suite it must come from (None = the default suites).
    Debian { package: String, suite: Option<&'static str> },
    /// `pip install <package>`.
    Pip(String),
    /// Nothing to install automatically: what to do.
    Manual(String),
}

#[derive(Clone, Debug)]
pub struct Requirement {
    pub what: String,
    pub purpose: Purpose,
    pub check: Check,
    pub fixes: Vec<Fix>,
    /// What to install on other systems.
    pub elsewhere: String,
}

impl Requirement {
    fn new(what: impl Into<String>, purpose: Purpose, check: Check, fixes: Vec<Fix>, elsewhere: impl Into<String>) -> Requirement {
        Requirement { what: what.into(), purpose, check, fixes, elsewhere: elsewhere.into() }
    }

    pub fn present(&self) -> bool {
        match &self.check {
            Check::Program(p) => exec::which(p).is_some(),
            Check::File(f) => f.exists(),
            Check::RustupStd(t) => rustup_has_std(t),
        }
    }

    /// The one-line fix shown by doctor.
    pub fn fix_text(&self) -> String {
        let mut debs = Vec::new();
        let mut parts = Vec::new();
        for f in &self.fixes {
            match f {
                Fix::Debian { package, suite: None } => debs.push(package.clone()),
                Fix::Debian { package, suite: Some(s) } => parts.push(format!("apt-get install -t {s} {package} (add the {s} suite first)")),
                Fix::Pip(p) => parts.push(format!("pip install {p}")),
                Fix::Manual(m) => parts.push(m.clone()),
            }
        }
        if !debs.is_empty() {
            parts.insert(0, format!("apt-get install {}", debs.join(" ")));
        }
        format!("{}; elsewhere: {}", parts.join(" and "), self.elsewhere)
    }
}

fn deb(package: &str) -> Fix {
    Fix::Debian { package: package.into(), suite: None }
}

/// Does rustup's (the host) toolchain have std for this target?
fn rustup_has_std(target: &str) -> bool {
    let Ok(sysroot) = exec::capture(Command::new("rustc").args(["--print", "sysroot"])) else { return false };
    Path::new(&sysroot).join("lib/rustlib").join(target).join("lib").is_dir()
}

/// Debian's Rust (rustc-web) with std sources, for -Zbuild-std.
pub const DEBIAN_RUST_SRC: &str = "/usr/lib/rustlib/src/rust/library/std/Cargo.toml";

/// Everything a board needs, in the order doctor lists it.
pub fn requirements(board: &Board) -> Vec<Requirement> {
    use Purpose::*;
    let mut r = Vec::new();
    let any = "your distribution's package";
    for (prog, pkg) in [
        ("make", "make"),
        ("gcc", "gcc"),
        ("flex", "flex"),
        ("bison", "bison"),
        ("bc", "bc"),
        ("perl", "perl"),
        ("patch", "patch"),
        ("tar", "tar"),
        ("xz", "xz-utils"),
    ] {
        r.push(Requirement::new(format!("{prog} (kernel build)"), Kernel, Check::Program(prog.into()), vec![deb(pkg)], format!("{any} of {prog}")));
    }
    r.push(Requirement::new(
        "libelf headers (kernel objtool/resolve_btfids)",
        Kernel,
        Check::File("/usr/include/gelf.h".into()),
        vec![deb("libelf-dev")],
        "elfutils-libelf-devel / libelf-dev",
    ));
    r.push(Requirement::new(
        "OpenSSL headers (kernel certificate tools)",
        Kernel,
        Check::File("/usr/include/openssl/opensslv.h".into()),
        vec![deb("libssl-dev")],
        "openssl-devel / libssl-dev",
    ));
    if board.kernel.compression == Compression::Lzma {
        r.push(Requirement::new("lzma (LZMA kernel compression)", Kernel, Check::Program("lzma".into()), vec![deb("xz-utils")], "xz-utils (it provides lzma)"));
    }
    if !board.kernel.cross_compile.is_empty() {
        let prefix = board.kernel.cross_compile.trim_end_matches('-');
        r.push(Requirement::new(
            format!("{}gcc (cross compiler for the kernel)", board.kernel.cross_compile),
            Kernel,
            Check::Program(format!("{}gcc", board.kernel.cross_compile)),
            vec![deb(&format!("gcc-{prefix}"))],
            format!("a {prefix} cross GCC (your distribution's, or a toolchain built with crosstool-ng)"),
        ));
    }
    // The kernel source itself is fetched by `setup` and by the kernel step (steps/kernel/source.rs);
    // here only the tools that fetch it.
    match board.kernel.source.origin() {
        Some(SourceOrigin::Url(_)) => {
            r.push(Requirement::new("curl (downloads the kernel source)", Kernel, Check::Program("curl".into()), vec![deb("curl")], "curl"))
        }
        Some(SourceOrigin::Debian { package, .. }) => r.push(Requirement::new(
            format!("apt-get and dpkg-deb (fetch the pinned {package})"),
            Kernel,
            Check::Program("dpkg-deb".into()),
            vec![Fix::Manual("a Debian/Ubuntu system, or pre-seed OXWRT_DL_DIR with the tarball (docs/kernel.md)".into())],
            "pre-seed OXWRT_DL_DIR with the tarball, or pass --tarball/--sha256 (docs/building-elsewhere.md)",
        )),
        Some(SourceOrigin::File(_)) | None => {}
    }
    // Rust std for the board's target: rustup's if it has it, else Debian's rustc-web with
    // std sources, built with -Zbuild-std.
    let target = &board.rust.target;
    if !rustup_has_std(target) {
        r.push(Requirement::new(
            format!("Rust 1.96 with std sources, for -Zbuild-std of {target}"),
            Userland,
            Check::File(DEBIAN_RUST_SRC.into()),
            vec![deb("rustc-web"), deb("cargo-web"), deb("rust-web-src")],
            format!("`rustup target add {target}` if rustup ships it, else `rustup component add rust-src` on a toolchain that can build it"),
        ));
    } else {
        r.push(Requirement::new(
            format!("Rust std for {target}"),
            Userland,
            Check::RustupStd(target.clone()),
            vec![Fix::Manual(format!("rustup target add {target}"))],
            format!("rustup target add {target}"),
        ));
    }
    if target.contains("musl") {
        r.push(Requirement::new(
            "zig (links static musl for the exact CPU: cargo-zigbuild)",
            Userland,
            Check::Program("cargo-zigbuild".into()),
            vec![Fix::Pip("ziglang cargo-zigbuild".into())],
            "pip install ziglang cargo-zigbuild",
        ));
    }
    // The multi-call binary is measured (nm) and stripped (strip) with the board's binutils.
    let binutils =
        if board.kernel.cross_compile.is_empty() { "binutils".to_string() } else { format!("binutils-{}", board.kernel.cross_compile.trim_end_matches('-')) };
    for tool in ["nm", "strip"] {
        r.push(Requirement::new(
            format!("{}{tool} (measures and strips the device binaries)", board.kernel.cross_compile),
            Userland,
            Check::Program(format!("{}{tool}", board.kernel.cross_compile)),
            vec![deb(&binutils)],
            "binutils for the board's architecture",
        ));
    }
    if let Some(q) = &board.qemu {
        let pkg = match board.arch {
            Arch::X86_64 => "qemu-system-x86",
            Arch::Mips | Arch::Mipsel => "qemu-system-mips",
            Arch::Arm | Arch::Aarch64 => "qemu-system-arm",
        };
        r.push(Requirement::new(
            format!("{} (boots the image)", q.system),
            Emulation,
            Check::Program(q.system.clone()),
            vec![Fix::Debian { package: pkg.into(), suite: backports_suite() }],
            format!("QEMU 8 or newer ({pkg})"),
        ));
    }
    if matches!(board.arch, Arch::Mips | Arch::Mipsel) {
        let prog = if board.arch == Arch::Mipsel { "qemu-mipsel-static" } else { "qemu-mips-static" };
        r.push(Requirement::new(
            format!("{prog} (tests run the device binaries on an emulated MIPS32r1 CPU)"),
            Emulation,
            Check::Program(prog.into()),
            vec![Fix::Debian { package: "qemu-user-static".into(), suite: backports_suite() }],
            "QEMU user-mode emulation (qemu-user-static)",
        ));
        r.push(Requirement::new(
            format!("{}objdump (tests scan the device binaries for instructions the CPU lacks)", board.kernel.cross_compile),
            Emulation,
            Check::Program(format!("{}objdump", board.kernel.cross_compile)),
            vec![deb(&format!("binutils-{}", board.kernel.cross_compile.trim_end_matches('-')))],
            "binutils for the board's architecture",
        ));
    }
    // The network daemon's tests play real peers in network namespaces (as root): nft and ip
    // read back what netd set, dig queries its DNS forwarder, busybox udhcpc and dnsmasq are
    // independent DHCP implementations it must interoperate with.
    for (prog, pkg, why) in [
        ("nft", "nftables", "tests read netd's firewall back"),
        ("ip", "iproute2", "tests inspect netd's links and routes"),
        ("dig", "dnsutils", "tests query netd's DNS forwarder"),
        ("busybox", "busybox", "tests run udhcpc against netd's DHCP server"),
        ("dnsmasq", "dnsmasq-base", "tests run netd's DHCP client against dnsmasq"),
        ("radvd", "radvd", "IPv6 tests: the ISP's router advertisements"),
        ("dhcpd", "isc-dhcp-server", "IPv6 tests: the ISP's DHCPv6 server with prefix delegation (dhcpd -6)"),
        ("rdisc6", "ndisc6", "IPv6 tests: a LAN host reads netd's router advertisements (RDNSS)"),
        ("dhclient", "isc-dhcp-client", "IPv6 tests: a LAN host asks netd's stateless DHCPv6 server (dhclient -S)"),
        ("chronyd", "chrony", "tests run timed's SNTP client against chronyd"),
        ("iperf3", "iperf3", "the bufferbloat test loads the line through sqmd's shaping, 4 flows each way"),
        ("fping", "fping", "the bufferbloat test measures the latency under load"),
        ("irtt", "irtt", "latency measurements for the SQM benchmarks"),
        ("faketime", "faketime", "tests run a chronyd whose clock is wrong (timed must refuse it)"),
        ("c++", "g++", "libFuzzer, built by the fuzz targets of the DHCP and DNS parsers"),
        ("zbarimg", "zbar-tools", "tests decode vpnd's QR codes"),
        ("wg-quick", "wireguard-tools", "tests bring vpnd's client configurations up as a road warrior"),
        ("wireguard-go", "wireguard-go", "tests' WireGuard on the host, whose kernel has none"),
        ("chromium", "chromium", "the web UI's tests run a real browser, headless"),
        ("chromedriver", "chromium-driver", "the web UI's tests drive chromium over WebDriver"),
    ] {
        r.push(Requirement::new(format!("{prog} ({why})"), Emulation, Check::Program(prog.into()), vec![deb(pkg)], pkg.to_string()));
    }
    r.push(Requirement::new(
        "mksquashfs (root filesystem images)",
        Userland,
        Check::Program("mksquashfs".into()),
        vec![deb("squashfs-tools")],
        "squashfs-tools 4.4 or newer",
    ));
    if board.storage.kind == StorageKind::NorFlash {
        r.push(Requirement::new(
            "binwalk (tests cross-check TRX/factory images with it)",
            Emulation,
            Check::Program("binwalk".into()),
            vec![deb("binwalk")],
            "binwalk 2.3 or newer",
        ));
    }
    if board.storage.kind == StorageKind::Disk {
        r.push(Requirement::new(
            "mkfs.ext4 (the disk image's data partition)",
            Userland,
            Check::Program("mkfs.ext4".into()),
            vec![deb("e2fsprogs")],
            "e2fsprogs 1.43 or newer",
        ));
    }
    if board.storage.kind == StorageKind::NorFlash {
        r.push(Requirement::new(
            "in.tftpd (tests of `cargo xtask flash` upload to a real TFTP server)",
            Emulation,
            Check::Program("in.tftpd".into()),
            vec![deb("tftpd-hpa")],
            "tftp-hpa's server (tftpd-hpa / tftp-server)",
        ));
    }
    if board.qemu.is_some() && board.arch == Arch::X86_64 {
        r.push(Requirement::new(
            "OVMF (UEFI firmware: boots the disk image in QEMU)",
            Emulation,
            Check::File("/usr/share/OVMF/OVMF_CODE_4M.fd".into()),
            vec![deb("ovmf")],
            "edk2-ovmf / ovmf",
        ));
        for (prog, pkg) in [("sfdisk", "fdisk"), ("sgdisk", "gdisk"), ("fsck.fat", "dosfstools"), ("mdir", "mtools"), ("e2fsck", "e2fsprogs")] {
            r.push(Requirement::new(
                format!("{prog} (tests check the disk image with it)"),
                Emulation,
                Check::Program(prog.into()),
                vec![deb(pkg)],
                pkg.to_string(),
            ));
        }
    }
    r.push(Requirement::new(
        "ncurses headers (kernel menuconfig)",
        Maintainer,
        Check::File("/usr/include/ncurses.h".into()),
        vec![deb("libncurses-dev")],
        "ncurses-devel / libncurses-dev",
    ));
    r
}

/// On Debian 12 QEMU comes from bookworm-backports: the preinstalled qemu-utils is from
/// there and bookworm's own qemu-system conflicts with it.
fn backports_suite() -> Option<&'static str> {
    (os_codename().as_deref() == Some("bookworm")).then_some("bookworm-backports")
}

fn os_codename() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| l.strip_prefix("VERSION_CODENAME=")).map(|s| s.trim_matches('"').to_string())
}

/// Stop with the fixes if anything a build step needs is missing.
pub fn require(ctx: &Context, board: &Board, purpose: Purpose) -> Result<()> {
    require_except(ctx, board, purpose, |_| false)
}

/// [`require`], leaving out what `skip` says is provided another way (e.g. a kernel source
/// given with --tarball).
pub fn require_except(_ctx: &Context, board: &Board, purpose: Purpose, skip: impl Fn(&Requirement) -> bool) -> Result<()> {
    let missing: Vec<Requirement> = requirements(board).into_iter().filter(|r| r.purpose == purpose && !skip(r) && !r.present()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.iter().map(|r| format!("  - {}\n    fix: {}", r.what, r.fix_text())).collect::<Vec<_>>().join("\n");
    bail!(
        "cannot build the {} for {}: missing\n{list}\nRun `cargo xtask setup --board {}` to install them (Debian/Ubuntu).",
        purpose.label(),
        board.id,
        board.id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(cross: &str) -> Board {
        let text = format!(
            "id = \"t\"\nname = \"T\"\narch = \"mipsel\"\nimages = [\"trx\"]\n[rust]\ntarget = \"mipsel-unknown-linux-musl\"\ncpu = \"mips32\"\n\
             [kernel]\nseries = \"6.1\"\nsource = {{ debian = \"linux-source-6.1\", version = \"6.1.192-3\", sha256 = \"{}\" }}\nbase_config = \"tinyconfig\"\npatch_sets = []\n\
             image = \"vmlinuz\"\ncompression = \"lzma\"\ncross_compile = \"{cross}\"\n[storage]\nkind = \"nor-flash\"\nsize = \"4MiB\"\nerase_block = \"64KiB\"\n\
             [[partitions]]\nname = \"firmware\"\nrole = \"firmware\"\n[qemu]\nsystem = \"qemu-system-mipsel-missing\"\nmachine = \"malta\"\nmemory = \"128MiB\"\n",
            "0".repeat(64)
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn missing_tools_come_with_their_debian_package() {
        let b = board("mips-oxwrt-missing-");
        let reqs = requirements(&b);
        let find = |what: &str| reqs.iter().find(|r| r.what.contains(what)).unwrap_or_else(|| panic!("no requirement {what}"));
        let cc = find("mips-oxwrt-missing-gcc");
        assert!(!cc.present());
        assert_eq!(cc.fixes, vec![deb("gcc-mips-oxwrt-missing")]);
        // A Debian-pinned source is fetched with dpkg-deb's help.
        assert!(matches!(&find("fetch the pinned linux-source-6.1").check, Check::Program(p) if p == "dpkg-deb"));
        let qemu = find("qemu-system-mipsel-missing");
        assert!(matches!(&qemu.fixes[0], Fix::Debian { package, .. } if package == "qemu-system-mips"));
        assert!(reqs.iter().any(|r| r.what.starts_with("lzma")), "LZMA boards need lzma");
        assert!(reqs.iter().any(|r| r.what.starts_with("zig")), "MIPS musl boards need zig");
        assert!(find("in.tftpd").fixes == vec![deb("tftpd-hpa")], "flash boards' tests need a TFTP server");
        // A build step stops before running anything, with the fixes.
        let ctx = Context::from_env(false).unwrap();
        let err = require(&ctx, &b, Purpose::Kernel).unwrap_err().to_string();
        assert!(err.starts_with("cannot build the kernel for t: missing\n"), "{err}");
        assert!(err.contains("fix: apt-get install gcc-mips-oxwrt-missing"), "{err}");
        assert!(err.ends_with("Run `cargo xtask setup --board t` to install them (Debian/Ubuntu)."), "{err}");
    }
}
