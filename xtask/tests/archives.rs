//! Package archives are untrusted input: crafted `.oxpkg` files (written with the tar crate,
//! names set byte for byte so that nothing cleans them up), one per attack, installed into
//! a staging directory next to a sentinel directory. Each must be refused with an error
//! naming the archive and the entry, leave the staging directory as it was, and write
//! nothing into the sentinel.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use xtask::steps::packages::oxpkg;
use xtask::steps::packages::{self, Content, Control, FileRecord, Package};

/// One tar entry, its name raw.
#[derive(Clone)]
enum E {
    File(String, &'static [u8]),
    Link(String, String),
    HardLink(String, String),
    Dir(String),
    Other(String, tar::EntryType),
}

fn file(name: &str, data: &'static [u8]) -> E {
    E::File(name.to_string(), data)
}

fn link(name: &str, target: &str) -> E {
    E::Link(name.to_string(), target.to_string())
}

/// What control.json lists for `entries`: every file and symlink, its name minus `data`.
fn records(entries: &[E]) -> Vec<FileRecord> {
    let mut out = Vec::new();
    for e in entries {
        match e {
            E::File(name, data) => out.push(FileRecord {
                path: name.trim_start_matches("data").to_string(),
                mode: "0644".into(),
                size: data.len() as u64,
                sha256: hex::encode(Sha256::digest(data)),
                link: None,
            }),
            E::Link(name, target) => out.push(FileRecord {
                path: name.trim_start_matches("data").to_string(),
                mode: "0777".into(),
                size: 0,
                sha256: hex::encode(Sha256::digest(target.as_bytes())),
                link: Some(target.clone()),
            }),
            _ => {}
        }
    }
    out
}

fn control(name: &str, files: Vec<FileRecord>) -> Control {
    Control {
        name: name.into(),
        version: "1.0".into(),
        architecture: "x86_64-unknown-linux-musl+x86-64".into(),
        license: "MIT".into(),
        description: "crafted".into(),
        depends: Vec::new(),
        kernel_options: Vec::new(),
        services: Vec::new(),
        conffiles: Vec::new(),
        files,
        contains: Vec::new(),
    }
}

fn header(kind: tar::EntryType, name: &str, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    let raw = &mut h.as_old_mut().name;
    assert!(name.len() < raw.len(), "test names fit the header");
    raw[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h
}

fn set_link(h: &mut tar::Header, target: &str) {
    let raw = &mut h.as_old_mut().linkname;
    raw[..target.len()].copy_from_slice(target.as_bytes());
}

/// Writes `<dir>/<pkg>_1.0_x86_64.oxpkg`: control.json (with `files`), then `entries`.
fn craft(dir: &Path, pkg: &str, entries: &[E], files: Vec<FileRecord>) -> PathBuf {
    let path = dir.join(format!("{pkg}_1.0_x86_64.oxpkg"));
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    let json = serde_json::to_vec_pretty(&control(pkg, files)).unwrap();
    let mut h = header(tar::EntryType::Regular, "control.json", json.len() as u64, 0o644);
    h.set_cksum();
    b.append(&h, json.as_slice()).unwrap();
    for e in entries {
        let mut h;
        let data: &[u8] = match e {
            E::File(name, data) => {
                h = header(tar::EntryType::Regular, name, data.len() as u64, 0o644);
                data
            }
            E::Link(name, target) => {
                h = header(tar::EntryType::Symlink, name, 0, 0o777);
                set_link(&mut h, target);
                b""
            }
            E::HardLink(name, target) => {
                h = header(tar::EntryType::Link, name, 0, 0o644);
                set_link(&mut h, target);
                b""
            }
            E::Dir(name) => {
                h = header(tar::EntryType::Directory, name, 0, 0o755);
                b""
            }
            E::Other(name, kind) => {
                h = header(*kind, name, 0, 0o644);
                b""
            }
        };
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
    path
}

/// A scratch place: `stage` (with /etc/skel.conf and the skeleton's `var -> tmp`) and,
/// next to it, `outside`, the sentinel that must stay empty.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("stage/etc")).unwrap();
        std::fs::create_dir_all(dir.path().join("stage/tmp")).unwrap();
        std::fs::write(dir.path().join("stage/etc/skel.conf"), "skeleton\n").unwrap();
        std::os::unix::fs::symlink("tmp", dir.path().join("stage/var")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        Scene { dir }
    }

    fn stage(&self) -> PathBuf {
        self.dir.path().join("stage")
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    /// Every path under the staging dir, with its kind (and a symlink's target).
    fn snapshot(&self) -> Vec<String> {
        fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let p = format!("{rel}/{}", e.file_name().to_string_lossy());
                let t = e.file_type().unwrap();
                if t.is_symlink() {
                    out.push(format!("{p} -> {}", std::fs::read_link(e.path()).unwrap().display()));
                } else if t.is_dir() {
                    out.push(format!("{p}/"));
                    walk(&e.path(), &p, out);
                } else {
                    out.push(format!("{p} ({} bytes)", e.metadata().unwrap().len()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.stage(), "", &mut out);
        out
    }

    /// Installs an archive that must be refused; checks the error names it and `entry`,
    /// and that neither the staging dir nor the sentinel changed. Returns the error.
    fn refused(&self, archive: &Path, entry: &str) -> String {
        let before = self.snapshot();
        let e = format!("{:#}", oxpkg::install(&self.stage(), archive).unwrap_err());
        assert!(e.contains(&archive.display().to_string()), "the error does not name the archive: {e}");
        assert!(e.contains(&format!("entry `{entry}`")), "the error does not name the entry `{entry}`: {e}");
        assert!(e.contains("cargo xtask package"), "the error does not say what to do: {e}");
        assert_eq!(self.snapshot(), before, "a refused archive changed the staging dir");
        self.assert_outside_untouched();
        e
    }

    fn assert_outside_untouched(&self) {
        let left: Vec<_> = std::fs::read_dir(self.outside()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "written outside the staging dir: {left:?}");
        assert!(!self.dir.path().join("evil").exists(), "written next to the staging dir");
    }
}

#[test]
fn a_dotdot_entry_is_refused() {
    let s = Scene::new();
    for name in ["data/../outside/evil", "data/../evil", "data/etc/../../outside/evil"] {
        let entries = [file("data/etc/ok.conf", b"ok\n"), file(name, b"pwned\n")];
        let a = craft(s.dir.path(), "dotdot", &entries, records(&entries));
        let e = s.refused(&a, name);
        assert!(e.contains("`..` component"), "{e}");
    }
}

#[test]
fn an_absolute_entry_is_refused() {
    let s = Scene::new();
    let name = format!("{}/evil", s.outside().display());
    let entries = [file(&name, b"pwned\n")];
    let a = craft(s.dir.path(), "abs", &entries, Vec::new());
    let e = s.refused(&a, &name);
    assert!(e.contains("absolute path"), "{e}");
}

#[test]
fn dot_tricks_empty_components_and_names_outside_data_are_refused() {
    let s = Scene::new();
    for (name, why) in [
        ("data/./etc/x", "`.` component"),
        ("./data/etc/x", "neither control.json nor under data/"),
        ("data//etc/x", "empty component"),
        ("data/etc/x/", "empty component"),
        ("database/x", "neither control.json nor under data/"),
        ("etc/x", "neither control.json nor under data/"),
        ("C:\\evil", "Windows prefix"),
        ("c:/evil", "Windows prefix"),
        ("\\\\server\\share\\evil", "Windows prefix"),
        ("data/etc\\..\\..\\evil", "backslash"),
    ] {
        let entries = [file(name, b"x\n")];
        let a = craft(s.dir.path(), "tricks", &entries, records(&entries));
        let e = s.refused(&a, name);
        assert!(e.contains(why), "{name}: {e}");
    }
}

#[test]
fn a_file_through_a_symlink_of_the_same_archive_is_refused() {
    let s = Scene::new();
    let target = s.outside().display().to_string();
    for (first, second) in [("data/x", "data/x/evil"), ("data/x", "data/x/sub/evil")] {
        let entries = [link(first, &target), file(second, b"pwned\n")];
        let a = craft(s.dir.path(), "through", &entries, records(&entries));
        let e = s.refused(&a, second);
        assert!(e.contains("/x is a symlink"), "{e}");
    }
    // A directory entry below a symlink, too.
    let entries = [link("data/x", &target), E::Dir("data/x/d/".into())];
    let a = craft(s.dir.path(), "through", &entries, records(&entries));
    s.refused(&a, "data/x/d");
}

#[test]
fn a_file_through_a_symlink_of_an_earlier_package_or_the_skeleton_is_refused() {
    let s = Scene::new();
    let target = s.outside().display().to_string();
    let entries = [link("data/x", &target), link("data/rel", "../outside")];
    let first = craft(s.dir.path(), "first", &entries, records(&entries));
    oxpkg::install(&s.stage(), &first).unwrap();
    // The later package also has a legitimate file, written before the bad one if
    // checking and writing were interleaved: it must not appear either.
    for (bad, link) in [("data/x/evil", "/x"), ("data/rel/evil", "/rel"), ("data/var/evil", "/var")] {
        let entries = [file("data/etc/later.conf", b"later\n"), file(bad, b"pwned\n")];
        let later = craft(s.dir.path(), "later", &entries, records(&entries));
        let e = s.refused(&later, bad);
        assert!(e.contains(&format!("{link} is a symlink")) && e.contains("earlier package"), "{e}");
        assert!(!s.stage().join("etc/later.conf").exists());
    }
    assert!(std::fs::read_dir(s.stage().join("tmp")).unwrap().next().is_none(), "written through the skeleton's var -> tmp");
}

#[test]
fn a_hard_link_is_refused() {
    let s = Scene::new();
    let target = format!("{}/evil", s.outside().display());
    let entries = [E::HardLink("data/etc/h".into(), target), E::HardLink("data/etc/h2".into(), "data/etc/skel.conf".into())];
    let a = craft(s.dir.path(), "hard", &entries, Vec::new());
    let e = s.refused(&a, "data/etc/h");
    assert!(e.contains("a hard link"), "{e}");
}

#[test]
fn devices_and_fifos_are_refused() {
    let s = Scene::new();
    for (kind, what) in [(tar::EntryType::Char, "a device node"), (tar::EntryType::Block, "a device node"), (tar::EntryType::Fifo, "a fifo")] {
        let entries = [E::Other("data/dev/thing".into(), kind)];
        let a = craft(s.dir.path(), "dev", &entries, Vec::new());
        let e = s.refused(&a, "data/dev/thing");
        assert!(e.contains(what) && e.contains("only regular files, directories and symlinks"), "{e}");
    }
}

#[test]
fn an_unlisted_entry_is_refused() {
    let s = Scene::new();
    let entries = [file("data/etc/listed", b"a\n"), file("data/etc/unlisted", b"b\n")];
    let a = craft(s.dir.path(), "unlisted", &entries, records(&entries[..1]));
    let e = s.refused(&a, "data/etc/unlisted");
    assert!(e.contains("not listed in control.json"), "{e}");
}

#[test]
fn a_listed_entry_missing_from_the_archive_is_refused() {
    let s = Scene::new();
    let entries = [file("data/etc/here", b"a\n"), file("data/etc/gone", b"b\n")];
    let a = craft(s.dir.path(), "missing", &entries[..1], records(&entries));
    let e = s.refused(&a, "data/etc/gone");
    assert!(e.contains("listed in control.json but missing"), "{e}");
}

#[test]
fn a_hash_mismatch_is_refused_for_files_and_symlinks() {
    let s = Scene::new();
    let entries = [file("data/etc/a", b"honest\n")];
    let mut recs = records(&entries);
    recs[0].sha256 = hex::encode(Sha256::digest(b"other\n"));
    let a = craft(s.dir.path(), "hash", &entries, recs);
    let e = s.refused(&a, "data/etc/a");
    assert!(e.contains("/etc/a does not match its sha256 in control.json"), "{e}");
    // A symlink whose target differs from the listed one.
    let entries = [link("data/sbin/x", "/etc/shadow")];
    let mut recs = records(&[link("data/sbin/x", "init")]);
    recs[0].sha256 = hex::encode(Sha256::digest(b"/etc/shadow"));
    let a = craft(s.dir.path(), "hash", &entries, recs);
    s.refused(&a, "data/sbin/x");
}

#[test]
fn a_duplicate_entry_is_refused() {
    let s = Scene::new();
    let entries = [file("data/etc/a", b"same\n"), file("data/etc/a", b"same\n")];
    let a = craft(s.dir.path(), "dup", &entries, records(&entries[..1]));
    let e = s.refused(&a, "data/etc/a");
    assert!(e.contains("duplicate"), "{e}");
    // Twice as a file and a symlink, and a second control.json.
    let entries = [file("data/etc/a", b"same\n"), link("data/etc/a", "b")];
    let a = craft(s.dir.path(), "dup", &entries, records(&entries[..1]));
    s.refused(&a, "data/etc/a");
    let entries = [file("control.json", b"{}")];
    let a = craft(s.dir.path(), "dup", &entries, Vec::new());
    s.refused(&a, "control.json");
    // And control.json listing one path twice.
    let entries = [file("data/etc/a", b"same\n")];
    let mut recs = records(&entries);
    recs.push(recs[0].clone());
    let a = craft(s.dir.path(), "dup", &entries, recs);
    let e = s.refused(&a, "control.json");
    assert!(e.contains("lists /etc/a twice"), "{e}");
}

#[test]
fn control_json_may_not_name_paths_or_packages_outside() {
    let s = Scene::new();
    // A package name becomes lib/oxwrt/packages/<name>.json.
    let path = s.dir.path().join("evilname_1.0_x.oxpkg");
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    let json = serde_json::to_vec(&control("../../outside/evil", Vec::new())).unwrap();
    let mut h = header(tar::EntryType::Regular, "control.json", json.len() as u64, 0o644);
    h.set_cksum();
    b.append(&h, json.as_slice()).unwrap();
    b.into_inner().unwrap().finish().unwrap();
    let e = s.refused(&path, "control.json");
    assert!(e.contains("is not a package name"), "{e}");
    // A listed path with `..`.
    let recs = vec![FileRecord { path: "/../evil".into(), mode: "0644".into(), size: 0, sha256: String::new(), link: None }];
    let a = craft(s.dir.path(), "listed", &[], recs);
    let e = s.refused(&a, "control.json");
    assert!(e.contains("`..` component"), "{e}");
}

#[test]
fn a_package_may_not_replace_what_is_already_there() {
    let s = Scene::new();
    let entries = [file("data/etc/new.conf", b"new\n"), file("data/etc/skel.conf", b"mine\n")];
    let a = craft(s.dir.path(), "clash", &entries, records(&entries));
    let e = s.refused(&a, "data/etc/skel.conf");
    assert!(e.contains("package clash installs /etc/skel.conf, which another package (or the skeleton) already has"), "{e}");
    // A file where the tree has a file, used as a directory.
    let entries = [file("data/etc/skel.conf/x", b"x\n")];
    let a = craft(s.dir.path(), "clash", &entries, records(&entries));
    let e = s.refused(&a, "data/etc/skel.conf/x");
    assert!(e.contains("/etc/skel.conf is a file"), "{e}");
}

#[test]
fn the_error_names_the_board_of_a_build_tree() {
    let s = Scene::new();
    let dir = s.dir.path().join("target/oxwrt/qemu-malta-mipsel/packages");
    std::fs::create_dir_all(&dir).unwrap();
    let entries = [file("data/../evil", b"x")];
    let a = craft(&dir, "webd", &entries, Vec::new());
    let e = s.refused(&a, "data/../evil");
    assert!(e.ends_with("; rebuild the package with `cargo xtask package webd --board qemu-malta-mipsel` and use only archives that command writes"), "{e}");
}

#[test]
fn a_good_archive_with_relative_symlinks_and_directory_entries_installs() {
    let s = Scene::new();
    let entries = [
        E::Dir("data/".into()),
        E::Dir("data/bin/".into()),
        link("data/bin/foo", "init"),
        link("data/bin/init", "../sbin/init"),
        link("data/etc/localtime", "/tmp/TZ"),
        E::Dir("data/sbin".into()),
        file("data/sbin/init", b"\x7fELF"),
    ];
    let a = craft(s.dir.path(), "good", &entries, records(&entries));
    let (control, contents) = oxpkg::install(&s.stage(), &a).unwrap();
    assert_eq!(control.name, "good");
    assert_eq!(contents.keys().collect::<Vec<_>>(), ["/bin/foo", "/bin/init", "/etc/localtime", "/sbin/init"]);
    let snap = s.snapshot();
    for want in ["/bin/foo -> init", "/bin/init -> ../sbin/init", "/etc/localtime -> /tmp/TZ", "/sbin/init (4 bytes)", "/etc/skel.conf (9 bytes)"] {
        assert!(snap.iter().any(|l| l == want), "{want} missing from {snap:#?}");
    }
    // foo -> init -> ../sbin/init, resolved inside the tree.
    assert_eq!(std::fs::read(s.stage().join("bin/foo")).unwrap(), b"\x7fELF");
    s.assert_outside_untouched();
}

#[test]
fn what_write_archive_writes_installs_with_its_modes() {
    let s = Scene::new();
    let pkg = Package {
        name: "init".into(),
        version: "1.0".into(),
        license: "MIT".into(),
        description: "d".into(),
        depends: Vec::new(),
        kernel_options: Vec::new(),
        crate_name: None,
        applets: BTreeMap::new(),
        links: BTreeMap::new(),
        files: Vec::new(),
        services: Vec::new(),
        dir: PathBuf::new(),
    };
    let mut c = BTreeMap::new();
    c.insert("/sbin/init".to_string(), Content::File { data: b"\x7fELF".to_vec(), mode: 0o755 });
    c.insert("/sbin/reboot".to_string(), Content::Link("init".into()));
    c.insert("/etc/init.conf".to_string(), Content::File { data: b"x\n".to_vec(), mode: 0o600 });
    let a = packages::write_archive(&pkg, "x86_64+x", c.clone(), 0, s.dir.path(), Vec::new()).unwrap();
    oxpkg::install(&s.stage(), &a).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::symlink_metadata(s.stage().join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!((mode("sbin/init"), mode("etc/init.conf")), (0o755, 0o600));
    assert_eq!(std::fs::read(s.stage().join("sbin/reboot")).unwrap(), b"\x7fELF");
    // The writer refuses a path no archive may hold.
    c.insert("/../evil".to_string(), Content::File { data: Vec::new(), mode: 0o644 });
    let e = format!("{:#}", packages::write_archive(&pkg, "x86_64+x", c, 0, s.dir.path(), Vec::new()).unwrap_err());
    assert_eq!(e, "package init: cannot archive `/../evil`: the install path has a `..` component (it could leave the root filesystem)");
}
