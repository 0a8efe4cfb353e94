//! The kernel pipeline on a miniature "kernel" source: patch application and its errors,
//! refresh, cache keys, and what a board asks of the configuration. The real kernels are
//! built and inspected by tests/kernels.rs.

use std::path::{Path, PathBuf};
use std::process::Command;
use xtask::board::{parse_board, Board, Repo};
use xtask::context::Context;
use xtask::steps::kernel::{self, patches, source::Source, Plan};

const FILESYSTEMS_C: &str = "/* fs/filesystems.c */\n#include <linux/fs.h>\n\nstatic int a;\nstatic int b;\nstatic int c;\n\nint get_fs_type(void)\n{\n\treturn request_module();\n}\n\nint other(void)\n{\n\treturn 0;\n}\n";
const DRIVER_C: &str = "int apu_table[] = {\n\t2,\n\t3,\n\t4,\n};\n";

const GENERIC_PATCH: &str = "From: oxwrt developers\nSubject: [PATCH] fs: deny autoload\n\nWhy: the policy.\n\nSigned-off-by: oxwrt developers\n---\n--- a/fs/filesystems.c\n+++ b/fs/filesystems.c\n@@ -8,5 +8,7 @@\n int get_fs_type(void)\n {\n+\tif (denied())\n+\t\treturn 0;\n \treturn request_module();\n }\n \n";
const BOARD_PATCH: &str = "Subject: [PATCH] apu6\n---\n--- a/drivers/apu.c\n+++ b/drivers/apu.c\n@@ -2,4 +2,5 @@\n \t2,\n \t3,\n \t4,\n+\t6,\n };\n";

struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
    tarball: PathBuf,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let src = dir.path().join("linux-mini");
    for (path, text) in [("Makefile", "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\n"), ("fs/filesystems.c", FILESYSTEMS_C), ("drivers/apu.c", DRIVER_C)] {
        std::fs::create_dir_all(src.join(path).parent().unwrap()).unwrap();
        std::fs::write(src.join(path), text).unwrap();
    }
    let tarball = dir.path().join("linux-mini.tar.xz");
    let ok = Command::new("tar").arg("-cJf").arg(&tarball).arg("-C").arg(dir.path()).arg("linux-mini").status().unwrap().success();
    assert!(ok, "tar failed");
    write(&root, "kernel-patches/6.1/generic/series", "# generic patches\n0001-deny.patch\n");
    write(&root, "kernel-patches/6.1/generic/0001-deny.patch", GENERIC_PATCH);
    write(&root, "kernel-patches/6.1/x86/series", "0001-apu6.patch\n");
    write(&root, "kernel-patches/6.1/x86/0001-apu6.patch", BOARD_PATCH);
    write(&root, "kernel-patches/6.1/generic.config", "CONFIG_NET=y\n");
    write(&root, "targets/mini.config", "CONFIG_VIRTIO=y\n");
    let sha = sha256(&tarball);
    write(&root, "targets/mini.toml", &board_toml(&tarball, &sha));
    Scratch { _dir: dir, root, tarball }
}

fn board_toml(tarball: &Path, sha: &str) -> String {
    format!(
        "id = \"mini\"\nname = \"Mini\"\narch = \"x86_64\"\nimages = [\"kernel-rootfs\"]\n[rust]\ntarget = \"x86_64-unknown-linux-musl\"\ncpu = \"x86-64\"\n\
         [kernel]\nseries = \"6.1\"\nsource = {{ file = \"{}\", sha256 = \"{sha}\" }}\nbase_config = \"tinyconfig\"\nfragments = [\"mini.config\"]\n\
         patch_sets = [\"generic\", \"x86\"]\ncmdline = \"console=ttyS0\"\nimage = \"bzImage\"\ncompression = \"xz\"\n\
         [storage]\nkind = \"disk\"\nsize = \"64MiB\"\n[[partitions]]\nname = \"rootfs\"\nrole = \"rootfs\"\noffset = \"1MiB\"\nsize = \"32MiB\"\n",
        tarball.display()
    )
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

fn ctx(root: &Path) -> Context {
    Context { root: root.to_path_buf(), out: root.join("target/oxwrt"), cache: root.join("cache"), dl: root.join("cache/dl"), verbose: false, jobs: 1 }
}

fn board(root: &Path) -> Board {
    let text = std::fs::read_to_string(root.join("targets/mini.toml")).unwrap();
    parse_board(&Repo { root }, &root.join("targets/mini.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

fn plan<'a>(ctx: &'a Context, board: &'a Board, tarball: &Path) -> Plan<'a> {
    let source = Source { path: tarball.to_path_buf(), sha256: sha256(tarball) };
    let patches = patches::load(&ctx.repo().patch_series_dir("6.1"), &board.kernel.patch_sets).unwrap();
    let requests = kernel::requested_options(ctx, board, &[]).unwrap();
    Plan::from_parts(ctx, board, source, patches, requests, "gcc (test) 12".into())
}

#[test]
fn patches_apply_in_series_order_generic_first() {
    let s = scratch();
    let (c, b) = (ctx(&s.root), board(&s.root));
    let p = plan(&c, &b, &s.tarball);
    assert_eq!(p.patches.iter().map(|p| p.id()).collect::<Vec<_>>(), ["generic/0001-deny.patch", "x86/0001-apu6.patch"]);
    p.prepare_tree().unwrap();
    let fs = std::fs::read_to_string(p.paths.tree.join("fs/filesystems.c")).unwrap();
    assert!(fs.contains("if (denied())"));
    assert!(std::fs::read_to_string(p.paths.tree.join("drivers/apu.c")).unwrap().contains("\t6,"));
}

#[test]
fn a_patch_that_does_not_apply_names_patch_file_and_hunk_and_leaves_the_tree() {
    let s = scratch();
    // The board patch now expects context that is not there.
    write(&s.root, "kernel-patches/6.1/x86/0001-apu6.patch", &BOARD_PATCH.replace(" \t3,\n", " \t5,\n"));
    let (c, b) = (ctx(&s.root), board(&s.root));
    let p = plan(&c, &b, &s.tarball);
    let err = p.prepare_tree().unwrap_err().to_string();
    assert!(err.starts_with("kernel patch x86/0001-apu6.patch ("), "{err}");
    assert!(err.contains("kernel-patches/6.1/x86/0001-apu6.patch) does not apply:\n  - drivers/apu.c: Hunk #1 does not apply at line 2"), "{err}");
    assert!(err.contains("kernel-patches/6.1/x86/series"), "{err}");
    assert_eq!(std::fs::read_to_string(p.paths.tree.join("drivers/apu.c")).unwrap(), DRIVER_C, "dry run first: the tree is untouched");
}

#[test]
fn a_patch_already_in_the_source_is_named_as_such() {
    let s = scratch();
    let (c, b) = (ctx(&s.root), board(&s.root));
    let p = plan(&c, &b, &s.tarball);
    p.prepare_tree().unwrap();
    let mut log = Vec::new();
    let err = patches::apply_all(&p.paths.tree, &p.patches[..1], &mut log).unwrap_err().to_string();
    assert!(err.contains("fs/filesystems.c: already applied"), "{err}");
}

#[test]
fn refresh_rewrites_the_patch_from_the_edited_tree_and_keeps_its_description() {
    let s = scratch();
    let (c, b) = (ctx(&s.root), board(&s.root));
    let p = plan(&c, &b, &s.tarball);
    p.prepare_tree().unwrap();
    let file = p.paths.tree.join("fs/filesystems.c");
    let edited = std::fs::read_to_string(&file).unwrap().replace("\t\treturn 0;\n", "\t\treturn -ENOENT;\n");
    std::fs::write(&file, &edited).unwrap();
    let report = kernel::refresh::refresh(&p, Some("generic/0001-deny.patch"), &[]).unwrap();
    assert!(report.changed);
    assert_eq!(report.files, ["fs/filesystems.c"]);
    let text = std::fs::read_to_string(s.root.join("kernel-patches/6.1/generic/0001-deny.patch")).unwrap();
    assert!(text.starts_with("From: oxwrt developers\nSubject: [PATCH] fs: deny autoload\n\nWhy: the policy.\n\nSigned-off-by: oxwrt developers\n---\n--- a/fs/filesystems.c\n+++ b/fs/filesystems.c\n"), "{text}");
    assert!(text.contains("+\t\treturn -ENOENT;\n"), "{text}");
    // The refreshed series rebuilds exactly the edited tree from a pristine source.
    let c2 = ctx(&s.root.join("second"));
    let b2 = board(&s.root);
    let mut p2 = plan(&c, &b2, &s.tarball);
    p2.paths = kernel::KernelPaths::new(&c2, "mini");
    p2.runner = c2.runner("mini");
    p2.prepare_tree().unwrap();
    assert_eq!(std::fs::read_to_string(p2.paths.tree.join("fs/filesystems.c")).unwrap(), edited);
    // Nothing changed since: a second refresh leaves the file alone.
    let p3 = plan(&c, &b, &s.tarball);
    assert!(!kernel::refresh::refresh(&p3, Some("generic/0001-deny.patch"), &[]).unwrap().changed);
}

#[test]
fn refresh_refuses_a_file_a_later_patch_changes_and_can_start_a_new_patch() {
    let s = scratch();
    let (c, b) = (ctx(&s.root), board(&s.root));
    let p = plan(&c, &b, &s.tarball);
    p.prepare_tree().unwrap();
    let err = kernel::refresh::refresh(&p, Some("generic/0001-deny.patch"), &["drivers/apu.c".into()]).unwrap_err().to_string();
    assert!(err.contains("drivers/apu.c is also changed by the later patch x86/0001-apu6.patch"), "{err}");
    // A new board patch adding a file.
    std::fs::write(p.paths.tree.join("drivers/new.c"), "int x;\n").unwrap();
    let report = kernel::refresh::refresh(&p, Some("x86/0002-new.patch"), &["drivers/new.c".into()]).unwrap();
    assert!(report.changed);
    let series = std::fs::read_to_string(s.root.join("kernel-patches/6.1/x86/series")).unwrap();
    assert_eq!(series, "0001-apu6.patch\n0002-new.patch\n");
    let text = std::fs::read_to_string(s.root.join("kernel-patches/6.1/x86/0002-new.patch")).unwrap();
    assert!(text.contains("--- /dev/null\n+++ b/drivers/new.c\n@@ -0,0 +1 @@\n+int x;\n"), "{text}");
}

#[test]
fn cache_key_is_stable_and_covers_every_input() {
    let s = scratch();
    let (c, b) = (ctx(&s.root), board(&s.root));
    let key = plan(&c, &b, &s.tarball).inputs.key();
    assert_eq!(key.len(), 64);
    assert_eq!(plan(&c, &b, &s.tarball).inputs.key(), key, "same inputs, same key");
    // A copy of the repository elsewhere (another clone) has the same key.
    let other = tempfile::tempdir().unwrap();
    let copy = other.path().join("clone");
    assert!(Command::new("cp").arg("-r").arg(&s.root).arg(&copy).status().unwrap().success());
    let (c2, b2) = (ctx(&copy), board(&copy));
    assert_eq!(plan(&c2, &b2, &s.tarball).inputs.key(), key, "the key does not depend on where the clone is");
    // A changed patch, fragment or compiler changes it.
    write(&copy, "kernel-patches/6.1/x86/0001-apu6.patch", &BOARD_PATCH.replace("+\t6,", "+\t7,"));
    let k_patch = plan(&c2, &b2, &s.tarball).inputs.key();
    assert_ne!(k_patch, key);
    write(&copy, "targets/mini.config", "CONFIG_VIRTIO=y\nCONFIG_VIRTIO_NET=y\n");
    let k_frag = plan(&c2, &b2, &s.tarball).inputs.key();
    assert_ne!(k_frag, k_patch);
    let mut p = plan(&c2, &b2, &s.tarball);
    p.inputs.compiler = "gcc (test) 13".into();
    assert_ne!(p.inputs.key(), k_frag);
}

#[test]
fn requested_options_come_from_fragments_policy_board_and_packages() {
    let s = scratch();
    write(&s.root, "packages/sqmd/package.toml", "[kernel]\noptions = [\"CONFIG_NET_SCH_CAKE=y\"]\n");
    let text = std::fs::read_to_string(s.root.join("targets/mini.toml")).unwrap().replace("images =", "packages = [\"sqmd\"]\nimages =");
    std::fs::write(s.root.join("targets/mini.toml"), text).unwrap();
    let (c, b) = (ctx(&s.root), board(&s.root));
    let reqs = kernel::requested_options(&c, &b, &[]).unwrap();
    let find = |sym: &str| reqs.iter().find(|r| r.symbol == sym).unwrap_or_else(|| panic!("no {sym}"));
    assert_eq!(find("NET").origin, "kernel-patches/6.1/generic.config:1");
    assert_eq!(find("VIRTIO").origin, "targets/mini.config:1");
    assert_eq!(find("CRAMFS").value, "n");
    assert!(find("FS_AUTOLOAD_DENYLIST").value.contains("cramfs"));
    assert_eq!(find("KERNEL_XZ").origin, "targets/mini.toml, kernel.compression");
    assert_eq!(find("CMDLINE").value, "\"console=ttyS0\"");
    assert_eq!(find("NET_SCH_CAKE").origin, "package sqmd (packages/sqmd/package.toml)");
}

#[test]
fn a_fragment_cannot_enable_an_obsolete_filesystem_without_the_board_saying_so() {
    let s = scratch();
    write(&s.root, "targets/mini.config", "CONFIG_VIRTIO=y\nCONFIG_CRAMFS=y\n");
    let (c, b) = (ctx(&s.root), board(&s.root));
    let err = kernel::requested_options(&c, &b, &[]).unwrap_err().to_string();
    assert!(err.starts_with("targets/mini.config:2 enables CONFIG_CRAMFS=y, the obsolete filesystem `cramfs`"), "{err}");
    assert!(err.contains("add \"cramfs\" to kernel.reenable_filesystems in targets/mini.toml"), "{err}");
    // Said in the board file, it is built in and no longer denied autoloading.
    let text = std::fs::read_to_string(s.root.join("targets/mini.toml"))
        .unwrap()
        .replace("compression = \"xz\"", "compression = \"xz\"\nreenable_filesystems = [\"cramfs\"]");
    std::fs::write(s.root.join("targets/mini.toml"), text).unwrap();
    let b = board(&s.root);
    let reqs = kernel::requested_options(&c, &b, &[]).unwrap();
    assert!(reqs.iter().any(|r| r.symbol == "CRAMFS" && r.value == "y"));
    assert!(!reqs.iter().find(|r| r.symbol == "FS_AUTOLOAD_DENYLIST").unwrap().value.contains("cramfs"));
}

#[test]
fn a_wrong_tarball_hash_prints_both_hashes() {
    let s = scratch();
    let text = std::fs::read_to_string(s.root.join("targets/mini.toml")).unwrap();
    let sha = sha256(&s.tarball);
    let wrong = "0".repeat(64);
    std::fs::write(s.root.join("targets/mini.toml"), text.replace(&sha, &wrong)).unwrap();
    let (c, b) = (ctx(&s.root), board(&s.root));
    let err = kernel::source::resolve(&c, &b, &Default::default()).unwrap_err().to_string();
    assert!(err.contains(&format!("expected {wrong} (targets/mini.toml, kernel.source)")), "{err}");
    assert!(err.contains(&format!("actual   {sha}")), "{err}");
    // An override without its hash is refused, showing the hash to check.
    let over = kernel::source::SourceOverride { tarball: Some(s.tarball.display().to_string()), sha256: None };
    let err = kernel::source::resolve(&c, &b, &over).unwrap_err().to_string();
    assert!(err.contains("needs its sha256 too") && err.contains(&sha), "{err}");
}
