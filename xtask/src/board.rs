//! Board descriptions: `targets/<board>.toml` parsed into [`Board`] and validated.
//!
//! Parsing is strict (unknown keys and wrong types are errors) and validation checks what a
//! type cannot: the partition layout against the storage, erase-block alignment, that patch
//! sets, fragments and packages exist, that the image kind fits the architecture. Every
//! problem is reported as `file:line:col: key: what is wrong; what is allowed`, all at once.

use crate::size::Size;
use crate::steps::kernel::policy;
use oxwrt_config::span::{line_col, path_string, Seg, Source};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// One board, as described by its TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Short name; must equal the file stem (`targets/<id>.toml`).
    pub id: String,
    /// Human name, e.g. "Linksys WRT54GL v1.1".
    pub name: String,
    pub arch: Arch,
    pub rust: RustTarget,
    pub kernel: KernelSpec,
    pub storage: Storage,
    #[serde(default)]
    pub partitions: Vec<Partition>,
    pub images: Vec<ImageFormat>,
    #[serde(default)]
    pub packages: Vec<String>,
    /// Packages among `packages` whose applets get a binary of their own instead of joining
    /// the multi-call /bin/oxwrt (docs/packages.md, "One binary or several").
    #[serde(default)]
    pub standalone: Vec<String>,
    /// Largest allowed firmware (kernel + root filesystem) in bytes.
    pub size_budget: Option<Size>,
    /// The board's RAM. An emulated board stands for a real one: QEMU runs it with this
    /// much (`qemu.memory` defaults to it and may not differ), and the memory benchmark
    /// measures against it.
    pub ram: Option<Size>,
    /// How the squashfs root filesystem is packed.
    #[serde(default)]
    pub rootfs: RootfsSpec,
    pub qemu: Option<QemuSpec>,
    /// The code-pattern header of `linksys-factory` images.
    pub linksys: Option<LinksysSpec>,
    /// The Ethernet switch: which ports are WAN and LAN (netd configures it from this).
    pub switch: Option<SwitchSpec>,
}

/// mksquashfs choices that trade flash for RAM: the kernel keeps caches of whole blocks
/// per mount (docs/memory.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootfsSpec {
    /// `mksquashfs -b`: a power of two from 4 KiB to 1 MiB; default 256 KiB. The xz
    /// dictionary is the same size.
    #[serde(default = "default_squashfs_block")]
    pub block_size: Size,
    /// Pack file tails into shared fragment blocks (default true); false is
    /// `-no-fragments`, and the kernel then allocates no fragment cache.
    #[serde(default = "default_true")]
    pub fragments: bool,
}

impl Default for RootfsSpec {
    fn default() -> Self {
        RootfsSpec { block_size: default_squashfs_block(), fragments: true }
    }
}

fn default_squashfs_block() -> Size {
    Size(256 << 10)
}

fn default_true() -> bool {
    true
}

/// What the stock Linksys firmware checks when a factory image is uploaded.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinksysSpec {
    /// Four-character model pattern, e.g. "W54G" (WRT54G/GL) or "W54S" (WRT54GS).
    pub pattern: String,
    /// Firmware version put in the header, "X.Y.Z"; the stock UI refuses some low ones.
    pub version: String,
    /// Board support bits (byte 20): the stock firmware of some models refuses an image
    /// without theirs. Default 0x1f, every bit the WRT54G family knows.
    #[serde(default = "default_linksys_flags")]
    pub flags: u16,
    /// Hardware version byte (byte 18).
    #[serde(default)]
    pub hw_version: u8,
}

fn default_linksys_flags() -> u16 {
    0x1f
}

/// A switch whose ports are split into LAN and WAN by VLANs, the CPU port tagged in both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchSpec {
    /// e.g. "BCM5325-compatible switch in the BCM5352".
    pub chip: String,
    /// The switch port wired to the CPU's Ethernet MAC.
    pub cpu_port: u8,
    /// The network device the CPU port appears as (e.g. "eth0").
    pub device: String,
    /// VLAN of the LAN ports (CPU port tagged).
    pub lan_vlan: u16,
    /// VLAN of the WAN port (CPU port tagged).
    pub wan_vlan: u16,
    pub ports: Vec<SwitchPort>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchPort {
    /// The switch's port number.
    pub port: u8,
    /// The label on the case, e.g. "Internet" or "1".
    pub label: String,
    pub role: PortRole,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PortRole {
    Lan,
    Wan,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    Mipsel,
    Mips,
    Arm,
    Aarch64,
}

impl Arch {
    /// The kernel's ARCH= for this architecture.
    pub fn kernel_arch(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86",
            Arch::Mipsel | Arch::Mips => "mips",
            Arch::Arm => "arm",
            Arch::Aarch64 => "arm64",
        }
    }

    /// Prefixes a Rust target triple for this architecture starts with.
    fn triple_prefixes(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &["x86_64-"],
            Arch::Mipsel => &["mipsel-", "mipsisa32r6el-"],
            Arch::Mips => &["mips-", "mipsisa32r6-"],
            Arch::Arm => &["arm-", "armv5te-", "armv7-", "thumbv7neon-"],
            Arch::Aarch64 => &["aarch64-"],
        }
    }

    /// Whether this machine's host toolchain runs this architecture natively.
    pub fn is_host(self) -> bool {
        self == Arch::X86_64 && cfg!(target_arch = "x86_64")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RustTarget {
    /// Rust target triple, e.g. `mipsel-unknown-linux-musl`.
    pub target: String,
    /// `-C target-cpu`, e.g. `mips32`.
    pub cpu: String,
    /// `-C target-feature` entries, e.g. `["-mips32r2"]`.
    #[serde(default)]
    pub features: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSpec {
    /// Kernel series, e.g. "6.1": selects `kernel-patches/<series>/`.
    pub series: String,
    pub source: KernelSource,
    /// `tinyconfig`, `allnoconfig`, `defconfig` or an arch `<name>_defconfig`.
    pub base_config: String,
    /// Config fragments in `targets/`, applied after the generic one, in order.
    #[serde(default)]
    pub fragments: Vec<String>,
    /// Patch sets in `kernel-patches/<series>/`, applied in order (generic first).
    pub patch_sets: Vec<String>,
    /// Built-in kernel command line ("" for none).
    #[serde(default)]
    pub cmdline: String,
    pub image: KernelImage,
    pub compression: Compression,
    /// Cross compiler prefix (CROSS_COMPILE=), empty for the host compiler.
    #[serde(default)]
    pub cross_compile: String,
    /// Obsolete filesystems this board builds in despite the generic policy.
    #[serde(default)]
    pub reenable_filesystems: Vec<String>,
}

/// Where a board's kernel source tarball comes from: exactly one of `debian` (+ `version`),
/// `url` or `file`, and the tarball's sha256 (steps/kernel/source.rs fetches and checks it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSource {
    /// A Debian binary package shipping the tarball in /usr/src, e.g. `linux-source-6.1`.
    #[serde(default)]
    pub debian: Option<String>,
    /// The exact Debian package version, e.g. `6.1.192-3`.
    #[serde(default)]
    pub version: Option<String>,
    /// An http(s) URL of a tarball (kernel.org or a mirror).
    #[serde(default)]
    pub url: Option<String>,
    /// An absolute path to a local tarball (offline builds).
    #[serde(default)]
    pub file: Option<String>,
    /// The old single key for a path or URL; the validator says what replaced it.
    #[serde(default)]
    pub tarball: Option<String>,
    /// The tarball's sha256, hex.
    pub sha256: String,
}

/// A validated [`KernelSource`] location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceOrigin {
    Debian { package: String, version: String },
    Url(String),
    File(String),
}

impl KernelSource {
    /// The location, if exactly one kind is given (the validator reports the rest).
    pub fn origin(&self) -> Option<SourceOrigin> {
        match (&self.debian, &self.version, &self.url, &self.file, &self.tarball) {
            (Some(p), Some(v), None, None, None) => Some(SourceOrigin::Debian { package: p.clone(), version: v.clone() }),
            (None, None, Some(u), None, None) => Some(SourceOrigin::Url(u.clone())),
            (None, None, None, Some(f), None) => Some(SourceOrigin::File(f.clone())),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
pub enum KernelImage {
    #[serde(rename = "bzImage")]
    BzImage,
    #[serde(rename = "vmlinux")]
    Vmlinux,
    #[serde(rename = "vmlinuz")]
    Vmlinuz,
    #[serde(rename = "zImage")]
    ZImage,
    Image,
}

impl KernelImage {
    /// The make target and the file it produces, relative to the object directory.
    pub fn make_target(self, kernel_arch: &str) -> (&'static str, String) {
        match self {
            KernelImage::BzImage => ("bzImage", format!("arch/{kernel_arch}/boot/bzImage")),
            KernelImage::Vmlinux => ("vmlinux", "vmlinux".into()),
            KernelImage::Vmlinuz => ("vmlinuz", "vmlinuz".into()),
            KernelImage::ZImage => ("zImage", format!("arch/{kernel_arch}/boot/zImage")),
            KernelImage::Image => ("Image", format!("arch/{kernel_arch}/boot/Image")),
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            KernelImage::BzImage => "bzImage",
            KernelImage::Vmlinux => "vmlinux",
            KernelImage::Vmlinuz => "vmlinuz",
            KernelImage::ZImage => "zImage",
            KernelImage::Image => "Image",
        }
    }

    fn fits(self, arch: Arch) -> bool {
        match self {
            KernelImage::BzImage => arch == Arch::X86_64,
            KernelImage::Vmlinux => true,
            KernelImage::Vmlinuz => matches!(arch, Arch::Mips | Arch::Mipsel),
            KernelImage::ZImage => arch == Arch::Arm,
            KernelImage::Image => matches!(arch, Arch::Arm | Arch::Aarch64),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Lzma,
    Xz,
    Zstd,
}

impl Compression {
    /// The Kconfig choice member selecting this compression.
    pub fn kconfig(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("KERNEL_GZIP"),
            Compression::Lzma => Some("KERNEL_LZMA"),
            Compression::Xz => Some("KERNEL_XZ"),
            Compression::Zstd => Some("KERNEL_ZSTD"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    pub kind: StorageKind,
    /// Flash size, or the size of the disk image.
    pub size: Size,
    /// Flash erase block; required for NOR flash.
    pub erase_block: Option<Size>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StorageKind {
    NorFlash,
    Disk,
}

/// Partition alignment on disks: 1 MiB, what partitioning tools use.
pub const DISK_ALIGN: u64 = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    pub name: String,
    pub role: PartitionRole,
    /// Start; defaults to the end of the previous partition.
    pub offset: Option<Size>,
    /// Length; may be left out to fill up to the next partition (or the end).
    pub size: Option<Size>,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PartitionRole {
    /// Bootloader (CFE, U-Boot): never written by oxwrt.
    Bootloader,
    /// Bootloader environment / NVRAM.
    Nvram,
    /// Kernel + root filesystem (+ writable area) as one flash region (TRX, uImage).
    Firmware,
    /// EFI system partition holding the kernel.
    Esp,
    Kernel,
    Rootfs,
    /// Writable data (overlay upper layer).
    Data,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFormat {
    /// GPT disk image (EFI system partition, root, data).
    GptDisk,
    /// Kernel and root filesystem as separate files, for QEMU `-kernel`.
    KernelRootfs,
    /// Broadcom TRX.
    Trx,
    /// Linksys code-pattern header + TRX, for the stock web UI.
    LinksysFactory,
    /// Netgear CHK.
    NetgearChk,
    /// The whole NOR flash as the chip holds it: boot loader and nvram areas erased, the
    /// TRX in the firmware partition. QEMU boots it as the board's pflash.
    FlashImage,
    /// U-Boot legacy uImage.
    Uimage,
}

impl ImageFormat {
    pub const ALL: &'static str = "gpt-disk, kernel-rootfs, trx, linksys-factory, netgear-chk, flash-image, uimage";
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuSpec {
    /// e.g. `qemu-system-x86_64`.
    pub system: String,
    pub machine: String,
    pub cpu: Option<String>,
    /// `-m`: defaults to the board's `ram`; a whole number of MiB.
    pub memory: Option<Size>,
    /// The NICs' QEMU device model (`-device <nic>`); default `virtio-net-pci`.
    pub nic: Option<String>,
}

/// QEMU's NIC model when a board names none.
pub const DEFAULT_QEMU_NIC: &str = "virtio-net-pci";

/// The smallest RAM a board may state: below it Linux 6.1 with oxwrt's userland cannot boot.
pub const MIN_RAM: u64 = 8 << 20;

impl QemuSpec {
    pub fn nic(&self) -> &str {
        self.nic.as_deref().unwrap_or(DEFAULT_QEMU_NIC)
    }
}

/// A partition with its offset and size resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub name: String,
    pub role: PartitionRole,
    pub offset: u64,
    pub size: u64,
    pub read_only: bool,
}

/// One problem found in a board file, located in the source.
#[derive(Debug, Clone)]
pub struct Problem {
    pub key: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Everything wrong with one board file.
#[derive(Debug)]
pub struct BoardError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(f, "{}: {n} problem{} in this board description:", self.file.display(), if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            writeln!(f, "  {}:{}:{}: `{}`: {}", self.file.display(), p.line, p.col, p.key, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for BoardError {}

/// Where the repository keeps what a board refers to.
pub struct Repo<'a> {
    pub root: &'a Path,
}

impl Repo<'_> {
    pub fn targets(&self) -> PathBuf {
        self.root.join("targets")
    }
    pub fn patch_series_dir(&self, series: &str) -> PathBuf {
        self.root.join("kernel-patches").join(series)
    }
    pub fn board_file(&self, id: &str) -> PathBuf {
        self.targets().join(format!("{id}.toml"))
    }

    /// Ids of all boards, sorted.
    pub fn board_ids(&self) -> anyhow::Result<Vec<String>> {
        let dir = self.targets();
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| anyhow::anyhow!("cannot list {}: {e}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                    ids.push(stem.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Patch sets present for a series (directories holding a `series` file), sorted.
    pub fn patch_sets(&self, series: &str) -> Vec<String> {
        let mut sets: Vec<String> = std::fs::read_dir(self.patch_series_dir(series))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("series").is_file())
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .collect();
        sets.sort();
        sets
    }

    /// Load and validate a board by id.
    pub fn load_board(&self, id: &str) -> anyhow::Result<Board> {
        let path = self.board_file(id);
        if !path.is_file() {
            let known = self.board_ids().unwrap_or_default().join(", ");
            anyhow::bail!("no board `{id}`: {} does not exist. Known boards: {known}", path.display());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Ok(parse_board(self, &path, &text)?)
    }
}

/// Parse and validate board source text. `path` is used for messages and the id check.
pub fn parse_board(repo: &Repo, path: &Path, text: &str) -> Result<Board, BoardError> {
    let fail = |problems| BoardError { file: display_path(repo, path), problems };
    let source = match Source::parse(text) {
        Ok(source) => source,
        Err(e) => {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            return Err(fail(vec![Problem { key: "(syntax)".into(), line, col, message: e.message().trim().to_string() }]));
        }
    };
    let board: Board = match toml::from_str(text) {
        Ok(b) => b,
        Err(e) => {
            let start = e.span().map(|s| s.start).unwrap_or(0);
            let (line, col) = line_col(text, start);
            let key = source.key_at(start).unwrap_or_else(|| "(top level)".into());
            return Err(fail(vec![Problem { key, line, col, message: explain_serde(e.message()) }]));
        }
    };
    let mut v = Validator { repo, source: &source, problems: Vec::new() };
    v.check(&board, path);
    if v.problems.is_empty() {
        Ok(board)
    } else {
        Err(fail(v.problems))
    }
}

fn display_path(repo: &Repo, path: &Path) -> PathBuf {
    path.strip_prefix(repo.root).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
}

/// serde's messages are good; make the common ones say what to do.
fn explain_serde(msg: &str) -> String {
    let msg = msg.trim();
    if msg.starts_with("unknown field") {
        format!("{msg}; remove or rename the key")
    } else if msg.starts_with("missing field") {
        format!("{msg}; add it (see docs/boards.md)")
    } else {
        msg.to_string()
    }
}

struct Validator<'a> {
    repo: &'a Repo<'a>,
    source: &'a Source<'a>,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    /// `kernel.source`: one location kind, well formed.
    fn check_source(&mut self, src: &KernelSource) {
        let at = |key: &'static str| [Seg::Key("kernel"), Seg::Key("source"), Seg::Key(key)];
        if let Some(t) = &src.tarball {
            let kind = if t.starts_with("http://") || t.starts_with("https://") { "url" } else { "file" };
            self.report(
                &at("tarball"),
                format!(
                    "`tarball` was replaced by `debian` + `version` (a Debian package, fetched with apt-get download), `url` or `file`: \
                     write {kind} = \"{t}\" (see docs/kernel.md, Source)"
                ),
            );
            return;
        }
        let kinds = [("debian", src.debian.is_some()), ("url", src.url.is_some()), ("file", src.file.is_some())];
        let given: Vec<&str> = kinds.iter().filter(|(_, set)| *set).map(|(k, _)| *k).collect();
        match given.as_slice() {
            [] => self.report(&[Seg::Key("kernel"), Seg::Key("source")], "says where the tarball comes from with one of `debian` + `version`, `url` or `file`"),
            [_] => {}
            many => self.report(&at(many[1]), format!("give one of {} (not several): each names a whole tarball", many.join(", "))),
        }
        match (&src.debian, &src.version) {
            (Some(_), None) => self.report(
                &[Seg::Key("kernel"), Seg::Key("source")],
                "a `debian` source needs the exact package `version` too, e.g. version = \"6.1.192-3\" (apt-cache policy <package> lists them)",
            ),
            (None, Some(_)) => self.report(&at("version"), "`version` belongs to a `debian` source; remove it or add debian = \"linux-source-<series>\""),
            (Some(p), Some(v)) => {
                if p.is_empty() || !p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c)) {
                    self.report(&at("debian"), format!("`{p}` is not a Debian package name (lowercase letters, digits, + - .)"));
                }
                if v.is_empty() || !v.chars().next().is_some_and(|c| c.is_ascii_digit()) || !v.chars().all(|c| c.is_ascii_alphanumeric() || ".+-~:".contains(c))
                {
                    self.report(&at("version"), format!("`{v}` is not a Debian version (e.g. 6.1.192-3)"));
                }
            }
            (None, None) => {}
        }
        if let Some(u) = &src.url {
            if !(u.starts_with("http://") || u.starts_with("https://")) || u.ends_with('/') {
                self.report(&at("url"), format!("`{u}` must be an http(s) URL of a tarball"));
            }
        }
        if let Some(f) = &src.file {
            if !f.starts_with('/') {
                self.report(&at("file"), format!("`{f}` must be an absolute path"));
            }
        }
    }

    fn report(&mut self, path: &[Seg], message: impl Into<String>) {
        let (line, col) = self.source.locate(path).unwrap_or((1, 1));
        self.problems.push(Problem { key: path_string(path), line, col, message: message.into() });
    }

    fn check(&mut self, b: &Board, path: &Path) {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if b.id != stem {
            self.report(&[Seg::Key("id")], format!("is `{}` but the file is named `{stem}.toml`; the id must equal the file name", b.id));
        }
        if b.id.is_empty() || !b.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            self.report(&[Seg::Key("id")], "may contain only a-z, 0-9 and `-`");
        }
        if b.name.trim().is_empty() {
            self.report(&[Seg::Key("name")], "is empty; give the board's human name");
        }
        self.check_rust(b);
        self.check_kernel(b);
        self.check_layout(b);
        self.check_images(b);
        self.check_packages(b);
        self.check_switch(b);
        self.check_ram(b);
        let block = b.rootfs.block_size;
        if !(block.0.is_power_of_two() && (4 << 10..=1 << 20).contains(&block.0)) {
            self.report(
                &[Seg::Key("rootfs"), Seg::Key("block_size")],
                format!("{block} is not a squashfs block size: mksquashfs takes a power of two from 4KiB to 1MiB (e.g. \"64KiB\")"),
            );
        }
    }

    /// `ram` and `qemu.memory`: whole MiB (QEMU's -m), and an emulated board runs with the
    /// RAM of the board it stands for.
    fn check_ram(&mut self, b: &Board) {
        let whole_mib = |s: Size| s.0.is_multiple_of(1 << 20);
        if let Some(ram) = b.ram {
            if ram.0 < MIN_RAM || !whole_mib(ram) {
                self.report(&[Seg::Key("ram")], format!("{ram} is not a RAM size: give whole MiB, at least {} (e.g. \"16MiB\")", Size(MIN_RAM)));
            }
        }
        let Some(q) = &b.qemu else { return };
        match (q.memory, b.ram) {
            (None, None) => self.report(
                &[Seg::Key("qemu")],
                "says nothing about RAM: add the board's `ram` at the top level (e.g. ram = \"16MiB\"), which QEMU then runs with, or `memory` here for a board without fixed RAM",
            ),
            (Some(m), Some(ram)) if m.0 != ram.0 => self.report(
                &[Seg::Key("qemu"), Seg::Key("memory")],
                format!("is {m} but the board's `ram` is {ram}: the emulator must run with the RAM of the board it stands for; remove `memory` (it defaults to `ram`)"),
            ),
            (Some(m), _) if m.0 < MIN_RAM || !whole_mib(m) => self.report(
                &[Seg::Key("qemu"), Seg::Key("memory")],
                format!("{m} is not a RAM size for QEMU's -m: give whole MiB, at least {} (e.g. \"256MiB\")", Size(MIN_RAM)),
            ),
            _ => {}
        }
        if let Some(nic) = &q.nic {
            if nic.is_empty() || !nic.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                self.report(
                    &[Seg::Key("qemu"), Seg::Key("nic")],
                    format!(
                        "`{nic}` is not a QEMU device model (letters, digits, - and _; e.g. \"pcnet\" or \"virtio-net-pci\"; `{} -device help` lists them)",
                        q.system
                    ),
                );
            }
        }
    }

    fn check_rust(&mut self, b: &Board) {
        if !b.arch.triple_prefixes().iter().any(|p| b.rust.target.starts_with(p)) {
            self.report(
                &[Seg::Key("rust"), Seg::Key("target")],
                format!("`{}` is not a target for arch {:?}; it must start with one of: {}", b.rust.target, b.arch, b.arch.triple_prefixes().join(", ")),
            );
        }
        for (i, f) in b.rust.features.iter().enumerate() {
            if !(f.starts_with('+') || f.starts_with('-')) {
                self.report(&[Seg::Key("rust"), Seg::Key("features"), Seg::Index(i)], format!("`{f}` must start with + or - (e.g. \"-mips32r2\")"));
            }
        }
    }

    fn check_kernel(&mut self, b: &Board) {
        let k = &b.kernel;
        let series_dir = self.repo.patch_series_dir(&k.series);
        if !series_dir.is_dir() {
            self.report(
                &[Seg::Key("kernel"), Seg::Key("series")],
                format!("no directory kernel-patches/{} for series `{}`; known series are the folders of kernel-patches/", k.series, k.series),
            );
        } else {
            let known = self.repo.patch_sets(&k.series);
            for (i, set) in k.patch_sets.iter().enumerate() {
                if !known.contains(set) {
                    self.report(
                        &[Seg::Key("kernel"), Seg::Key("patch_sets"), Seg::Index(i)],
                        format!("unknown patch set `{set}`: kernel-patches/{}/{set}/series does not exist; known sets: {}", k.series, known.join(", ")),
                    );
                }
            }
            if k.patch_sets.first().map(String::as_str) != Some("generic") && known.iter().any(|s| s == "generic") {
                self.report(&[Seg::Key("kernel"), Seg::Key("patch_sets")], "must start with \"generic\": the generic set applies first, then the board's");
            }
        }
        for (i, frag) in k.fragments.iter().enumerate() {
            let p = self.repo.targets().join(frag);
            if !p.is_file() {
                self.report(
                    &[Seg::Key("kernel"), Seg::Key("fragments"), Seg::Index(i)],
                    format!("config fragment targets/{frag} does not exist (fragments are files in targets/)"),
                );
            }
        }
        let base = k.base_config.as_str();
        if !(matches!(base, "tinyconfig" | "allnoconfig" | "defconfig") || base.ends_with("_defconfig")) {
            self.report(
                &[Seg::Key("kernel"), Seg::Key("base_config")],
                format!("`{base}` is not a base config; allowed: tinyconfig, allnoconfig, defconfig or an arch's <name>_defconfig"),
            );
        }
        let sha = &k.source.sha256;
        if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            self.report(
                &[Seg::Key("kernel"), Seg::Key("source"), Seg::Key("sha256")],
                "must be the 64 hex digits of the tarball's sha256 (sha256sum <tarball>)",
            );
        }
        self.check_source(&k.source);
        if !k.image.fits(b.arch) {
            self.report(
                &[Seg::Key("kernel"), Seg::Key("image")],
                format!(
                    "{} is not a kernel image for {:?}; x86_64: bzImage, vmlinux; mips(el): vmlinux, vmlinuz; arm: zImage, Image; aarch64: Image",
                    k.image.file_name(),
                    b.arch
                ),
            );
        }
        match (k.image, k.compression) {
            (KernelImage::Vmlinux, c) if c != Compression::None => self.report(
                &[Seg::Key("kernel"), Seg::Key("compression")],
                "must be \"none\" for a vmlinux image (it is not compressed); use vmlinuz/bzImage for a compressed kernel",
            ),
            (KernelImage::BzImage | KernelImage::Vmlinuz | KernelImage::ZImage, Compression::None) => self.report(
                &[Seg::Key("kernel"), Seg::Key("compression")],
                format!("{} is a self-decompressing image: choose gzip, lzma, xz or zstd", k.image.file_name()),
            ),
            _ => {}
        }
        if k.cmdline.contains('"') || k.cmdline.contains('\n') {
            self.report(&[Seg::Key("kernel"), Seg::Key("cmdline")], "may not contain quotes or newlines");
        }
        let cross_needed = !b.arch.is_host();
        if cross_needed && k.cross_compile.is_empty() {
            self.report(&[Seg::Key("kernel"), Seg::Key("cross_compile")], format!("is required for {:?} (e.g. \"mipsel-linux-gnu-\")", b.arch));
        }
        for (i, fs) in k.reenable_filesystems.iter().enumerate() {
            if policy::obsolete_filesystem(fs).is_none() {
                self.report(
                    &[Seg::Key("kernel"), Seg::Key("reenable_filesystems"), Seg::Index(i)],
                    format!("`{fs}` is not an obsolete filesystem of the policy; allowed: {}", policy::names().join(", ")),
                );
            }
        }
    }

    fn check_layout(&mut self, b: &Board) {
        let s = &b.storage;
        match (s.kind, s.erase_block) {
            (StorageKind::NorFlash, None) => self.report(&[Seg::Key("storage"), Seg::Key("kind")], "NOR flash needs `erase_block` (e.g. \"64KiB\")"),
            (StorageKind::NorFlash, Some(eb)) if eb.0 == 0 || !eb.0.is_power_of_two() => {
                self.report(&[Seg::Key("storage"), Seg::Key("erase_block")], format!("{eb} is not a power of two"))
            }
            (StorageKind::Disk, Some(_)) => {
                self.report(&[Seg::Key("storage"), Seg::Key("erase_block")], "only NOR flash has erase blocks; remove it for a disk")
            }
            _ => {}
        }
        if s.size.0 == 0 {
            self.report(&[Seg::Key("storage"), Seg::Key("size")], "must be larger than zero");
            return;
        }
        let placed = match place_partitions(b) {
            Ok(p) => p,
            Err((i, key, msg)) => {
                self.report(&[Seg::Key("partitions"), Seg::Index(i), Seg::Key(key)], msg);
                return;
            }
        };
        let align = match s.kind {
            StorageKind::NorFlash => s.erase_block.map(|e| e.0).unwrap_or(0),
            StorageKind::Disk => DISK_ALIGN,
        };
        let what = match s.kind {
            StorageKind::NorFlash => "an erase block",
            StorageKind::Disk => "a 1 MiB disk alignment",
        };
        for (i, p) in placed.iter().enumerate() {
            if b.partitions[..i].iter().any(|q| q.name == p.name) {
                self.report(&[Seg::Key("partitions"), Seg::Index(i), Seg::Key("name")], format!("`{}` is used twice; partition names must be unique", p.name));
            }
            if align > 1 && p.offset % align != 0 {
                self.report(
                    &[Seg::Key("partitions"), Seg::Index(i), Seg::Key("offset")],
                    format!(
                        "partition `{}` starts at {:#x}, not on {what} ({}): use {:#x} or {:#x}",
                        p.name,
                        p.offset,
                        Size(align),
                        p.offset / align * align,
                        (p.offset / align + 1) * align
                    ),
                );
            }
            if align > 1 && p.size % align != 0 {
                self.report(
                    &[Seg::Key("partitions"), Seg::Index(i), Seg::Key("size")],
                    format!("partition `{}` is {} long, not a multiple of {what} ({})", p.name, Size(p.size), Size(align)),
                );
            }
            if p.size == 0 {
                self.report(&[Seg::Key("partitions"), Seg::Index(i), Seg::Key("size")], format!("partition `{}` is empty", p.name));
            }
            let end = p.offset + p.size;
            if end > s.size.0 {
                self.report(
                    &[Seg::Key("partitions"), Seg::Index(i), Seg::Key("size")],
                    format!(
                        "partition `{}` ends at {:#x}, past the end of the {} storage ({:#x}) by {}",
                        p.name,
                        end,
                        Size(s.size.0),
                        s.size.0,
                        Size(end - s.size.0)
                    ),
                );
            }
            if let Some(prev) = i.checked_sub(1).map(|j| &placed[j]) {
                if p.offset < prev.offset + prev.size {
                    self.report(
                        &[Seg::Key("partitions"), Seg::Index(i), Seg::Key("offset")],
                        format!(
                            "partition `{}` starts at {:#x}, inside `{}` ({:#x}..{:#x}); partitions must be in order and not overlap",
                            p.name,
                            p.offset,
                            prev.name,
                            prev.offset,
                            prev.offset + prev.size
                        ),
                    );
                }
            }
        }
        let has = |r: PartitionRole| placed.iter().any(|p| p.role == r);
        match s.kind {
            StorageKind::NorFlash if !has(PartitionRole::Firmware) => self
                .report(&[Seg::Key("partitions")], "NOR flash needs a partition with role = \"firmware\" (where kernel, root filesystem and writable area go)"),
            StorageKind::Disk if !has(PartitionRole::Rootfs) => self.report(&[Seg::Key("partitions")], "a disk needs a partition with role = \"rootfs\""),
            _ => {}
        }
        if let Some(budget) = b.size_budget {
            let area: u64 = placed
                .iter()
                .filter(|p| matches!(p.role, PartitionRole::Firmware | PartitionRole::Rootfs | PartitionRole::Kernel | PartitionRole::Esp))
                .map(|p| p.size)
                .sum();
            if area > 0 && budget.0 > area {
                self.report(
                    &[Seg::Key("size_budget")],
                    format!("{} is more than the firmware area of the layout ({}): the budget must fit the partitions", budget, Size(area)),
                );
            }
        }
    }

    fn check_images(&mut self, b: &Board) {
        if b.images.is_empty() {
            self.report(&[Seg::Key("images")], format!("lists no image format; allowed: {}", ImageFormat::ALL));
        }
        for (i, f) in b.images.iter().enumerate() {
            let flash_only = matches!(f, ImageFormat::Trx | ImageFormat::LinksysFactory | ImageFormat::NetgearChk | ImageFormat::FlashImage);
            if flash_only && b.storage.kind != StorageKind::NorFlash {
                self.report(&[Seg::Key("images"), Seg::Index(i)], format!("{f:?} images are for NOR flash boards; this board has a {:?}", b.storage.kind));
            }
            if *f == ImageFormat::GptDisk && b.storage.kind != StorageKind::Disk {
                self.report(&[Seg::Key("images"), Seg::Index(i)], "gpt-disk needs storage.kind = \"disk\"");
            }
            if *f == ImageFormat::LinksysFactory {
                match &b.linksys {
                    None => {
                        self.report(&[Seg::Key("images"), Seg::Index(i)], "linksys-factory needs a [linksys] section with the model `pattern` and `version`")
                    }
                    Some(l) => {
                        if l.pattern.len() != 4 || !l.pattern.bytes().all(|c| c.is_ascii_alphanumeric()) {
                            self.report(
                                &[Seg::Key("linksys"), Seg::Key("pattern")],
                                format!("`{}` is not a 4-character model pattern like \"W54G\"", l.pattern),
                            );
                        }
                        if let Err(e) = oxwrt_images::linksys::parse_version(&l.version) {
                            self.report(&[Seg::Key("linksys"), Seg::Key("version")], e.to_string());
                        }
                    }
                }
            }
            if matches!(f, ImageFormat::LinksysFactory | ImageFormat::FlashImage) && !b.images.contains(&ImageFormat::Trx) {
                self.report(&[Seg::Key("images"), Seg::Index(i)], format!("{f:?} holds the TRX image: add \"trx\" to images"));
            }
        }
    }

    fn check_switch(&mut self, b: &Board) {
        let Some(sw) = &b.switch else { return };
        if sw.lan_vlan == sw.wan_vlan {
            self.report(
                &[Seg::Key("switch"), Seg::Key("wan_vlan")],
                format!("LAN and WAN are both VLAN {}: they must differ, or the switch bridges the Internet port into the LAN", sw.lan_vlan),
            );
        }
        for (i, p) in sw.ports.iter().enumerate() {
            if p.port == sw.cpu_port {
                self.report(
                    &[Seg::Key("switch"), Seg::Key("ports"), Seg::Index(i), Seg::Key("port")],
                    format!("port {} is the CPU port; list only the ports on the case", p.port),
                );
            }
            if sw.ports[..i].iter().any(|q| q.port == p.port) {
                self.report(&[Seg::Key("switch"), Seg::Key("ports"), Seg::Index(i), Seg::Key("port")], format!("port {} is listed twice", p.port));
            }
        }
        for role in [PortRole::Wan, PortRole::Lan] {
            if !sw.ports.iter().any(|p| p.role == role) {
                self.report(&[Seg::Key("switch"), Seg::Key("ports")], format!("no {role:?} port: a router needs at least one WAN and one LAN port"));
            }
        }
    }

    fn check_packages(&mut self, b: &Board) {
        for (i, p) in b.packages.iter().enumerate() {
            if !self.repo.root.join("packages").join(p).is_dir() {
                self.report(&[Seg::Key("packages"), Seg::Index(i)], format!("unknown package `{p}`: there is no packages/{p}/"));
            }
        }
        for (i, p) in b.standalone.iter().enumerate() {
            if !b.packages.contains(p) {
                self.report(
                    &[Seg::Key("standalone"), Seg::Index(i)],
                    format!(
                        "`{p}` is not in packages ({}): list only packages of this board here",
                        if b.packages.is_empty() { "none".to_string() } else { b.packages.join(", ") }
                    ),
                );
            }
        }
    }
}

/// Resolve offsets and sizes. Err carries (partition index, key, message).
pub fn place_partitions(b: &Board) -> Result<Vec<Placed>, (usize, &'static str, String)> {
    let mut placed: Vec<Placed> = Vec::new();
    let total = b.storage.size.0;
    for (i, p) in b.partitions.iter().enumerate() {
        let offset = match p.offset {
            Some(o) => o.0,
            None => placed.last().map(|q| q.offset + q.size).unwrap_or(0),
        };
        let size = match p.size {
            Some(s) => s.0,
            None => {
                let limit = match b.partitions.get(i + 1) {
                    None => total,
                    Some(next) => match next.offset {
                        Some(o) => o.0,
                        None => {
                            return Err((
                                i,
                                "size",
                                format!(
                                    "partition `{}` has no size; leave it out only when the next partition has an explicit offset (or this is the last one)",
                                    p.name
                                ),
                            ))
                        }
                    },
                };
                if limit < offset {
                    return Err((i, "offset", format!("partition `{}` starts at {offset:#x}, after the next partition's offset {limit:#x}", p.name)));
                }
                limit - offset
            }
        };
        placed.push(Placed { name: p.name.clone(), role: p.role, offset, size, read_only: p.read_only });
    }
    Ok(placed)
}

impl Board {
    /// Partitions with resolved offsets and sizes (the board is validated, so this holds).
    pub fn layout(&self) -> Vec<Placed> {
        place_partitions(self).unwrap_or_default()
    }

    /// The RAM QEMU gives the emulated board (`qemu.memory`, else `ram`), in bytes; None
    /// for a board without [qemu] (the board is validated, so one of them is set).
    pub fn qemu_memory(&self) -> Option<u64> {
        let q = self.qemu.as_ref()?;
        q.memory.or(self.ram).map(|s| s.0)
    }

    /// The first partition with `role`, placed.
    pub fn partition(&self, role: PartitionRole) -> Option<Placed> {
        self.layout().into_iter().find(|p| p.role == role)
    }
}
