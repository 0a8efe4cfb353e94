//! Board descriptions: the repository's boards parse; each kind of mistake is reported with
//! the file, the line, the key and what is allowed.

use std::path::Path;
use xtask::board::{parse_board, BoardError, Repo};

/// A scratch repository with one patch series and fragment, and a valid flash board.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for set in ["generic", "bcm47xx"] {
        std::fs::create_dir_all(root.join("kernel-patches/6.1").join(set)).unwrap();
        std::fs::write(root.join("kernel-patches/6.1").join(set).join("series"), "").unwrap();
    }
    std::fs::create_dir_all(root.join("targets")).unwrap();
    std::fs::write(root.join("targets/flash.config"), "CONFIG_BCM47XX=y\n").unwrap();
    dir
}

const GOOD: &str = r#"id = "flash"
name = "A 4 MiB flash router"
arch = "mipsel"
images = ["trx", "linksys-factory"]
size_budget = "3.6MiB"

[rust]
target = "mipsel-unknown-linux-musl"
cpu = "mips32"
features = ["-mips32r2"]

[kernel]
series = "6.1"
source = { debian = "linux-source-6.1", version = "6.1.192-3", sha256 = "cacdc3830989309d042083be3307969e55600ed7f908cf00df544c5ff50759a1" }
base_config = "tinyconfig"
fragments = ["flash.config"]
patch_sets = ["generic", "bcm47xx"]
image = "vmlinuz"
compression = "lzma"
cross_compile = "mipsel-linux-gnu-"

[storage]
kind = "nor-flash"
size = "4MiB"
erase_block = "64KiB"

[[partitions]]
name = "cfe"
role = "bootloader"
offset = 0
size = "256KiB"

[[partitions]]
name = "firmware"
role = "firmware"

[[partitions]]
name = "nvram"
role = "nvram"
offset = "0x3f0000"
size = "64KiB"

[linksys]
pattern = "W54G"
version = "4.71.1"

[switch]
chip = "BCM5352 built-in"
cpu_port = 5
device = "eth0"
lan_vlan = 0
wan_vlan = 1
ports = [
    { port = 4, label = "Internet", role = "wan" },
    { port = 3, label = "1", role = "lan" },
]
"#;

fn parse(root: &Path, text: &str) -> Result<xtask::board::Board, BoardError> {
    let repo = Repo { root };
    parse_board(&repo, &root.join("targets/flash.toml"), text)
}

/// Parse `text` expecting exactly one problem; return its one-line rendering.
fn problem(text: &str) -> String {
    let dir = scratch();
    let err = parse(dir.path(), text).expect_err("the board should be rejected");
    assert_eq!(err.problems.len(), 1, "{err}");
    let p = &err.problems[0];
    format!("{}:{}: `{}`: {}", p.line, p.col, p.key, p.message)
}

#[test]
fn the_repository_boards_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let repo = Repo { root };
    let ids = repo.board_ids().unwrap();
    for required in ["qemu-x86-64", "qemu-malta-mipsel", "linksys-wrt54gl"] {
        assert!(ids.iter().any(|i| i == required), "missing board {required}");
    }
    for id in ids {
        repo.load_board(&id).unwrap_or_else(|e| panic!("{e:#}"));
    }
}

#[test]
fn factory_images_need_a_valid_linksys_pattern() {
    let no_section = GOOD.replace("[linksys]\npattern = \"W54G\"\nversion = \"4.71.1\"\n", "");
    assert!(problem(&no_section).contains("linksys-factory needs a [linksys] section"), "{}", problem(&no_section));
    let p = problem(&GOOD.replace("pattern = \"W54G\"", "pattern = \"W54GX\""));
    assert!(p.contains("`linksys.pattern`") && p.contains("not a 4-character model pattern"), "{p}");
    let p = problem(&GOOD.replace("version = \"4.71.1\"", "version = \"four\""));
    assert!(p.contains("`linksys.version`"), "{p}");
}

#[test]
fn standalone_packages_must_be_packages_of_the_board() {
    let p = problem(&format!("standalone = [\"netd\"]\n{GOOD}"));
    assert!(p.contains("`standalone[0]`") && p.contains("`netd` is not in packages (none): list only packages of this board here"), "{p}");
}

#[test]
fn switch_ports_are_checked() {
    let p = problem(&GOOD.replace("wan_vlan = 1", "wan_vlan = 0"));
    assert!(p.contains("LAN and WAN are both VLAN 0"), "{p}");
    let p = problem(&GOOD.replace("{ port = 3, label = \"1\"", "{ port = 5, label = \"1\""));
    assert!(p.contains("port 5 is the CPU port"), "{p}");
    let p = problem(&GOOD.replace("role = \"wan\"", "role = \"lan\""));
    assert!(p.contains("no Wan port"), "{p}");
    let p = problem(&GOOD.replace("role = \"wan\"", "role = \"dmz\""));
    assert!(p.contains("unknown variant `dmz`"), "{p}");
}

#[test]
fn a_good_board_resolves_its_layout() {
    let dir = scratch();
    let b = parse(dir.path(), GOOD).unwrap();
    let layout = b.layout();
    assert_eq!(layout[1].name, "firmware");
    assert_eq!((layout[1].offset, layout[1].size), (0x40000, 0x3f0000 - 0x40000));
    assert_eq!(b.size_budget.unwrap().0, 3_774_873);
}

#[test]
fn unknown_key_names_line_key_and_allowed_keys() {
    let msg = problem(&GOOD.replace("cpu = \"mips32\"", "cpu = \"mips32\"\ncolour = \"blue\""));
    assert!(msg.starts_with("10:1: `rust.colour`: unknown field `colour`, expected one of `target`, `cpu`, `features`"), "{msg}");
}

#[test]
fn wrong_type_names_the_key_and_the_expected_type() {
    let msg = problem(&GOOD.replace("size = \"4MiB\"", "size = true"));
    assert!(msg.starts_with("24:8: `storage.size`: invalid type: boolean `true`, expected a size"), "{msg}");
}

#[test]
fn bad_size_text_says_how_to_write_one() {
    let msg = problem(&GOOD.replace("size = \"4MiB\"", "size = \"4MB\""));
    assert!(msg.contains("`storage.size`") && msg.contains("KiB, MiB or GiB"), "{msg}");
}

#[test]
fn unknown_image_format_lists_the_formats() {
    let msg = problem(&GOOD.replace("images = [\"trx\", \"linksys-factory\"]", "images = [\"trx\", \"dmg\"]"));
    assert!(msg.starts_with("4:18: `images[1]`: unknown variant `dmg`, expected one of `gpt-disk`, `kernel-rootfs`, `trx`"), "{msg}");
}

#[test]
fn unknown_compression_lists_the_choices() {
    let msg = problem(&GOOD.replace("compression = \"lzma\"", "compression = \"lz5\""));
    assert!(msg.contains("`kernel.compression`: unknown variant `lz5`, expected one of `none`, `gzip`, `lzma`, `xz`, `zstd`"), "{msg}");
}

#[test]
fn unknown_patch_set_lists_the_known_sets() {
    let msg = problem(&GOOD.replace("patch_sets = [\"generic\", \"bcm47xx\"]", "patch_sets = [\"generic\", \"bcm4700\"]"));
    assert!(msg.starts_with("17:26: `kernel.patch_sets[1]`: unknown patch set `bcm4700`"), "{msg}");
    assert!(msg.contains("known sets: bcm47xx, generic"), "{msg}");
}

#[test]
fn layout_larger_than_the_flash_says_by_how_much() {
    let msg = problem(&GOOD.replace("offset = \"0x3f0000\"", "offset = \"0x400000\""));
    assert!(msg.contains("`partitions[2].size`: partition `nvram` ends at 0x410000, past the end of the 4 MiB storage (0x400000) by 64 KiB"), "{msg}");
}

#[test]
fn unaligned_partition_suggests_aligned_offsets() {
    let dir = scratch();
    let err = parse(dir.path(), &GOOD.replace("offset = \"0x3f0000\"", "offset = \"0x3f8000\"")).unwrap_err().to_string();
    assert!(
        err.contains("flash.toml:40:1: `partitions[2].offset`: partition `nvram` starts at 0x3f8000, not on an erase block (64 KiB): use 0x3f0000 or 0x400000"),
        "{err}"
    );
    // The size is reported too when it is not a multiple of the erase block.
    let dir = scratch();
    let err = parse(dir.path(), &GOOD.replace("size = \"64KiB\"\n", "size = \"32KiB\"\n")).unwrap_err();
    assert!(err.to_string().contains("is 32 KiB long, not a multiple of an erase block (64 KiB)"), "{err}");
}

#[test]
fn budget_larger_than_the_firmware_area_is_rejected() {
    let msg = problem(&GOOD.replace("size_budget = \"3.6MiB\"", "size_budget = \"4MiB\""));
    assert!(msg.starts_with("5:1: `size_budget`: 4 MiB is more than the firmware area of the layout (3776 KiB)"), "{msg}");
}

#[test]
fn only_policy_filesystems_can_be_reenabled() {
    let msg = problem(&GOOD.replace("cross_compile = \"mipsel-linux-gnu-\"", "cross_compile = \"mipsel-linux-gnu-\"\nreenable_filesystems = [\"ext4\"]"));
    assert!(msg.contains("`kernel.reenable_filesystems[0]`: `ext4` is not an obsolete filesystem of the policy; allowed: adfs, affs"), "{msg}");
}

#[test]
fn image_kind_must_fit_the_architecture() {
    let msg = problem(&GOOD.replace("image = \"vmlinuz\"", "image = \"bzImage\""));
    assert!(msg.contains("`kernel.image`: bzImage is not a kernel image for Mipsel"), "{msg}");
}

#[test]
fn every_problem_is_reported_at_once_with_the_file_name() {
    let dir = scratch();
    let text = GOOD.replace("id = \"flash\"", "id = \"other\"").replace("images = [\"trx\", \"linksys-factory\"]", "images = [\"gpt-disk\"]");
    let err = parse(dir.path(), &text).unwrap_err();
    let shown = err.to_string();
    assert!(shown.starts_with("targets/flash.toml: 2 problems"), "{shown}");
    assert!(shown.contains("targets/flash.toml:1:1: `id`: is `other` but the file is named `flash.toml`"), "{shown}");
    assert!(shown.contains("`images[0]`: gpt-disk needs storage.kind = \"disk\""), "{shown}");
}

#[test]
fn syntax_errors_are_located() {
    let msg = problem(&GOOD.replace("arch = \"mipsel\"", "arch = mipsel"));
    assert!(msg.starts_with("3:8: `(syntax)`"), "{msg}");
}

#[test]
fn kernel_sources_name_exactly_one_pinned_location() {
    let pin = r#"source = { debian = "linux-source-6.1", version = "6.1.192-3", sha256 = "cacdc3830989309d042083be3307969e55600ed7f908cf00df544c5ff50759a1" }"#;
    let sha = "sha256 = \"cacdc3830989309d042083be3307969e55600ed7f908cf00df544c5ff50759a1\"";
    let with = |src: &str| GOOD.replace(pin, src);
    // The old single `tarball` key says what replaced it.
    let p = problem(&with(&format!("source = {{ tarball = \"/usr/src/linux-source-6.1.tar.xz\", {sha} }}")));
    assert!(p.contains("`kernel.source.tarball`") && p.contains("file = \"/usr/src/linux-source-6.1.tar.xz\""), "{p}");
    let p = problem(&with(&format!("source = {{ debian = \"linux-source-6.1\", {sha} }}")));
    assert!(p.contains("`kernel.source`") && p.contains("needs the exact package `version`"), "{p}");
    let p = problem(&with(&format!("source = {{ debian = \"linux-source-6.1\", version = \"latest\", {sha} }}")));
    assert!(p.contains("`kernel.source.version`") && p.contains("not a Debian version"), "{p}");
    let p =
        problem(&with(&format!("source = {{ url = \"https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.1.192.tar.xz\", file = \"/tmp/x.tar.xz\", {sha} }}")));
    assert!(p.contains("`kernel.source.file`") && p.contains("give one of url, file"), "{p}");
    let p = problem(&with(&format!("source = {{ file = \"linux.tar.xz\", {sha} }}")));
    assert!(p.contains("`kernel.source.file`") && p.contains("must be an absolute path"), "{p}");
    let dir = scratch();
    let e = parse(dir.path(), &with(&format!("source = {{ version = \"6.1.192-3\", {sha} }}"))).unwrap_err().to_string();
    assert!(e.contains("says where the tarball comes from") && e.contains("`version` belongs to a `debian` source"), "{e}");
    // url and file alone are fine.
    parse(dir.path(), &with(&format!("source = {{ url = \"https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.1.192.tar.xz\", {sha} }}"))).unwrap();
    parse(dir.path(), &with(&format!("source = {{ file = \"/srv/dl/linux-6.1.192.tar.xz\", {sha} }}"))).unwrap();
}

#[test]
fn an_emulated_board_runs_with_the_ram_it_states() {
    let dir = scratch();
    let qemu = "\n[qemu]\nsystem = \"qemu-system-mipsel\"\nmachine = \"malta\"\n";
    let ram = |r: &str| GOOD.replace("size_budget = \"3.6MiB\"", &format!("size_budget = \"3.6MiB\"\nram = \"{r}\""));
    // QEMU's -m follows the board's RAM.
    let b = parse(dir.path(), &(ram("16MiB") + qemu)).unwrap();
    assert_eq!((b.ram.unwrap().0, b.qemu_memory()), (16 << 20, Some(16 << 20)));
    assert_eq!(b.qemu.as_ref().unwrap().nic(), "virtio-net-pci");
    // A different memory would measure another board.
    let p = problem(&(ram("16MiB") + qemu + "memory = \"128MiB\"\n"));
    assert!(p.contains("`qemu.memory`") && p.contains("is 128 MiB but the board's `ram` is 16 MiB") && p.contains("remove `memory`"), "{p}");
    // Neither: QEMU would not know how much.
    let p = problem(&(GOOD.to_string() + qemu));
    assert!(p.contains("`qemu`") && p.contains("add the board's `ram`"), "{p}");
    // memory alone (a board without fixed RAM) is fine; a RAM size is whole MiB.
    assert_eq!(parse(dir.path(), &(GOOD.to_string() + qemu + "memory = \"256MiB\"\n")).unwrap().qemu_memory(), Some(256 << 20));
    let p = problem(&ram("16.5MiB"));
    assert!(p.contains("`ram`") && p.contains("give whole MiB, at least 8 MiB"), "{p}");
    let p = problem(&ram("4MiB"));
    assert!(p.contains("`ram`") && p.contains("at least 8 MiB"), "{p}");
    let p = problem(&(ram("16MiB") + qemu + "nic = \"pcnet,addr=3\"\n"));
    assert!(p.contains("`qemu.nic`") && p.contains("is not a QEMU device model"), "{p}");
}

#[test]
fn squashfs_block_size_is_one_mksquashfs_takes() {
    let dir = scratch();
    let b = parse(dir.path(), GOOD).unwrap();
    assert_eq!((b.rootfs.block_size.0, b.rootfs.fragments), (256 << 10, true));
    let b = parse(dir.path(), &(GOOD.to_string() + "\n[rootfs]\nblock_size = \"64KiB\"\nfragments = false\n")).unwrap();
    assert_eq!((b.rootfs.block_size.0, b.rootfs.fragments), (64 << 10, false));
    let p = problem(&(GOOD.to_string() + "\n[rootfs]\nblock_size = \"96KiB\"\n"));
    assert!(p.contains("`rootfs.block_size`") && p.contains("a power of two from 4KiB to 1MiB"), "{p}");
    let p = problem(&(GOOD.to_string() + "\n[rootfs]\nblock_size = \"2MiB\"\n"));
    assert!(p.contains("`rootfs.block_size`"), "{p}");
}
