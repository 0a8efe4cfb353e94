//! Package manifests, dependency resolution and archives, on scratch repositories:
//! the errors a package author sees, and archives checked with GNU tar.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use xtask::steps::kernel::config::DotConfig;
use xtask::steps::packages::{self, Content};

/// A scratch repository: an empty workspace and the given packages (name -> package.toml).
fn repo(pkgs: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    for (name, manifest) in pkgs {
        let p = dir.path().join("packages").join(name);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("package.toml"), manifest).unwrap();
    }
    dir
}

fn plain(depends: &str) -> String {
    format!("[package]\ndescription = \"test\"\nversion = \"1.0\"\nlicense = \"MIT\"\ndepends = [{depends}]\n")
}

fn init_pkg() -> String {
    format!("{}[links]\n\"/sbin/init\" = \"busybox-free\"\n", plain(""))
}

fn err(root: &Path, wanted: &[&str]) -> String {
    let wanted: Vec<String> = wanted.iter().map(|s| s.to_string()).collect();
    format!("{:#}", packages::resolve(root, &wanted, "targets/test.toml packages").unwrap_err())
}

#[test]
fn an_unknown_dependency_names_who_needs_it_and_what_exists() {
    let r = repo(&[("init", &init_pkg()), ("webd", &plain("\"netd\""))]);
    assert_eq!(err(r.path(), &["init", "webd"]), "packages/webd/package.toml (depends) needs package `netd`, which does not exist (packages: init, webd)");
    assert_eq!(err(r.path(), &["init", "sqmd"]), "targets/test.toml packages needs package `sqmd`, which does not exist (packages: init, webd)");
}

#[test]
fn a_dependency_cycle_is_shown_whole() {
    let r = repo(&[("init", &init_pkg()), ("a", &plain("\"b\"")), ("b", &plain("\"c\"")), ("c", &plain("\"a\""))]);
    assert_eq!(err(r.path(), &["init", "a"]), "packages depend on each other in a cycle: a -> b -> c -> a (break it in one of their package.toml `depends`)");
}

#[test]
fn dependencies_come_first_and_once() {
    let r = repo(&[("init", &init_pkg()), ("netd", &plain("\"init\"")), ("webd", &plain("\"init\", \"netd\""))]);
    let pkgs = packages::resolve(r.path(), &["webd".into(), "netd".into()], "b").unwrap();
    let names: Vec<&str> = pkgs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["init", "netd", "webd"]);
}

#[test]
fn an_image_without_init_or_with_a_service_nobody_installs_is_refused() {
    let r = repo(&[("webd", &plain(""))]);
    assert_eq!(err(r.path(), &["webd"]), "targets/test.toml packages: no package installs /sbin/init, so the image could not boot: add \"init\" to packages");
    let svc = format!("{}[[service]]\nname = \"webd\"\ncommand = [\"/usr/sbin/webd\"]\n", plain(""));
    let r = repo(&[("init", &init_pkg()), ("webd", &svc)]);
    assert_eq!(err(r.path(), &["init", "webd"]), "packages/webd/package.toml: service `webd` runs /usr/sbin/webd, which no package in this image installs");
}

#[test]
fn manifest_mistakes_name_the_file_and_key() {
    let r = repo(&[("init", &init_pkg()), ("x", "[package]\ndescription = \"x\"\nversion = \"1\"\n")]);
    assert_eq!(err(r.path(), &["init", "x"]), "packages/x/package.toml: package.license (SPDX) is required");
    let r = repo(&[("init", &init_pkg()), ("x", &format!("{}colour = \"red\"\n", plain("")))]);
    let e = err(r.path(), &["init", "x"]);
    assert!(e.starts_with("packages/x/package.toml: ") && e.contains("unknown field `colour`"), "{e}");
    let r = repo(&[("init", &init_pkg()), ("x", &format!("{}[[files]]\nsource = \"x.conf\"\npath = \"/etc/x.conf\"\n", plain("")))]);
    assert_eq!(err(r.path(), &["init", "x"]), "packages/x/package.toml: files[0].source: packages/x/x.conf does not exist");
    let r = repo(&[("init", &init_pkg()), ("x", &format!("{}[kernel]\noptions = [\"NET_SCH_CAKE=y\"]\n", plain("")))]);
    let e = err(r.path(), &["init", "x"]);
    assert!(e.contains("packages/x/package.toml kernel.options"), "{e}");
}

#[test]
fn a_kernel_option_the_board_lacks_stops_the_build() {
    let text = format!("{}[kernel]\noptions = [\"CONFIG_NET_SCH_CAKE=y\", \"CONFIG_WIREGUARD=y\"]\n", plain(""));
    let r = repo(&[("init", &init_pkg()), ("sqmd", &text)]);
    let pkgs = packages::resolve(r.path(), &["init".into(), "sqmd".into()], "b").unwrap();
    let ctx = xtask::context::Context::from_env(false).unwrap();
    let board = ctx.repo().load_board("qemu-x86-64").unwrap();
    let config = DotConfig::parse("CONFIG_NET_SCH_CAKE=y\n# CONFIG_WIREGUARD is not set\n");
    let e = format!("{:#}", packages::check_kernel_options(&pkgs, &board, &config).unwrap_err());
    assert!(e.starts_with("package sqmd needs CONFIG_WIREGUARD=y but the kernel of qemu-x86-64 has it off\n"), "{e}");
    assert!(e.contains("cargo xtask kernel --board qemu-x86-64"), "{e}");
    assert!(packages::check_kernel_options(&pkgs, &board, &DotConfig::parse("CONFIG_NET_SCH_CAKE=y\nCONFIG_WIREGUARD=y\n")).is_ok());
}

fn contents() -> BTreeMap<String, Content> {
    let mut c = BTreeMap::new();
    c.insert("/usr/sbin/x".to_string(), Content::File { data: b"\x7fELF binary".to_vec(), mode: 0o755 });
    c.insert("/etc/x.conf".to_string(), Content::File { data: b"a = 1\n".to_vec(), mode: 0o600 });
    c.insert("/sbin/y".to_string(), Content::Link("x".into()));
    c
}

#[test]
fn archives_are_reproducible_owned_by_root_dated_from_the_epoch_and_verified() {
    let r = repo(&[("x", &format!("{}[[files]]\nsource = \"x.conf\"\npath = \"/etc/x.conf\"\nmode = \"0600\"\nconffile = true\n", plain("")))]);
    std::fs::write(r.path().join("packages/x/x.conf"), "a = 1\n").unwrap();
    let pkg = packages::load(r.path(), "x", &packages::CrateInfo::default()).unwrap();
    let (a, b) = (r.path().join("a"), r.path().join("b"));
    let pa = packages::write_archive(&pkg, "mipsel-unknown-linux-musl+mips32", contents(), 1_700_000_000, &a, Vec::new()).unwrap();
    let pb = packages::write_archive(&pkg, "mipsel-unknown-linux-musl+mips32", contents(), 1_700_000_000, &b, Vec::new()).unwrap();
    assert_eq!(pa.file_name().unwrap(), "x_1.0_mipsel-unknown-linux-musl_mips32.oxpkg");
    assert_eq!(std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap(), "same inputs, different bytes");
    // GNU tar's view: sorted, root-owned, the epoch's date (2023-11-14 22:13 UTC).
    let out = Command::new("tar").args(["-tzvf"]).arg(&pa).env("TZ", "UTC").output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 4, "{listing}");
    assert!(
        lines[0].ends_with(" control.json")
            && lines[1].ends_with(" data/etc/x.conf")
            && lines[2].ends_with(" data/sbin/y -> x")
            && lines[3].ends_with(" data/usr/sbin/x"),
        "{listing}"
    );
    assert!(lines.iter().all(|l| l.contains(" 0/0 ") && l.contains("2023-11-14 22:13")), "{listing}");
    assert!(lines[1].starts_with("-rw-------") && lines[3].starts_with("-rwxr-xr-x"), "{listing}");
    let (control, back) = packages::read_archive(&pa).unwrap();
    assert_eq!((control.name.as_str(), control.version.as_str(), control.license.as_str()), ("x", "1.0", "MIT"));
    assert_eq!(control.conffiles, ["/etc/x.conf"]);
    assert_eq!(control.files.len(), 3);
    assert_eq!(back.len(), 3);
    // A changed byte inside the archive is caught by the per-file sha256.
    let mut c = contents();
    c.insert("/usr/sbin/x".into(), Content::File { data: b"\x7fELF binarY".to_vec(), mode: 0o755 });
    let evil = packages::write_archive(&pkg, "a", c, 0, &r.path().join("evil"), Vec::new()).unwrap();
    let (mut ctl, _) = packages::read_archive(&evil).unwrap();
    ctl.files = control.files.clone();
    // Rebuild the archive with the honest control data but the tampered file.
    let dir = tempfile::tempdir().unwrap();
    assert!(Command::new("tar").arg("-xzf").arg(&evil).arg("-C").arg(dir.path()).status().unwrap().success());
    std::fs::write(dir.path().join("control.json"), serde_json::to_vec(&ctl).unwrap()).unwrap();
    let bad = r.path().join("bad.oxpkg");
    assert!(Command::new("tar").arg("-czf").arg(&bad).arg("-C").arg(dir.path()).args(["control.json", "data"]).status().unwrap().success());
    let e = format!("{:#}", packages::read_archive(&bad).unwrap_err());
    assert!(e.contains("/usr/sbin/x does not match its sha256 in control.json"), "{e}");
}

/// The error of loading package `x` with `extra` appended to a plain package.toml.
fn load_err(extra: &str) -> String {
    let r = repo(&[("x", &format!("{}{extra}", plain("")))]);
    std::fs::create_dir_all(r.path().join("packages/x/files")).unwrap();
    std::fs::write(r.path().join("packages/x/files/x.conf"), "a = 1\n").unwrap();
    format!("{:#}", packages::load(r.path(), "x", &packages::CrateInfo::default()).unwrap_err())
}

#[test]
fn install_paths_in_package_toml_are_absolute_plain_and_once() {
    assert_eq!(
        load_err("[applets]\nx = { path = \"usr/sbin/x\", entry = \"x::main\" }\n"),
        "packages/x/package.toml: applets.x.path = \"usr/sbin/x\": the install path is not an absolute path (it must start with /); \
         write an absolute path on the device made of plain names, like \"/usr/sbin/webd\""
    );
    assert_eq!(
        load_err("[links]\n\"/sbin/../../etc/passwd\" = \"init\"\n"),
        "packages/x/package.toml: links.\"/sbin/../../etc/passwd\" = \"/sbin/../../etc/passwd\": the install path has a `..` component \
         (it could leave the root filesystem); write an absolute path on the device made of plain names, like \"/usr/sbin/webd\""
    );
    for (path, why) in [
        ("/etc//x.conf", "empty component"),
        ("/etc/./x.conf", "`.` component"),
        ("/etc/x.conf/", "empty component"),
        ("/", "the root directory itself"),
        ("/etc\\\\x.conf", "backslash"),
        ("/etc/x\\u0000", "NUL"),
    ] {
        let e = load_err(&format!("[[files]]\nsource = \"files/x.conf\"\npath = \"{path}\"\n"));
        assert!(e.starts_with("packages/x/package.toml: files[0].path = \"") && e.contains(why) && e.contains("write an absolute path"), "{path}: {e}");
    }
    let e = load_err("[links]\n\"/sbin/x\" = \"\"\n");
    assert_eq!(e, "packages/x/package.toml: links.\"/sbin/x\" = \"\": the symlink target is empty; write what the link points to, like \"init\"");
    let e = load_err("[links]\n\"/etc/x.conf\" = \"init\"\n[[files]]\nsource = \"files/x.conf\"\npath = \"/etc/x.conf\"\n");
    assert_eq!(e, "packages/x/package.toml: files[0].path = \"/etc/x.conf\": links.\"/etc/x.conf\" installs /etc/x.conf already; install each path once");
    let e = load_err("[links]\n\"/etc/x\" = \"/tmp\"\n[[files]]\nsource = \"files/x.conf\"\npath = \"/etc/x/x.conf\"\n");
    assert_eq!(
        e,
        "packages/x/package.toml: files[0].path = \"/etc/x/x.conf\": links.\"/etc/x\" installs /etc/x as a file or symlink, so nothing can be installed inside it; choose another path"
    );
}

#[test]
fn file_sources_in_package_toml_stay_in_the_package_folder() {
    for (source, why) in [("../init/package.toml", "`..` component"), ("/etc/shadow", "is absolute"), ("files/./x.conf", "`.` component"), ("", "is empty")] {
        let e = load_err(&format!("[[files]]\nsource = \"{source}\"\npath = \"/etc/x.conf\"\n"));
        assert!(
            e.starts_with(&format!("packages/x/package.toml: files[0].source = \"{source}\": the source path "))
                && e.contains(why)
                && e.contains("inside packages/x/"),
            "{source}: {e}"
        );
    }
    // Relative links with `..` are fine: a link is never written through.
    let r = repo(&[("x", &format!("{}[links]\n\"/bin/sh\" = \"../sbin/init\"\n\"/sbin/logread\" = \"init\"\n", plain("")))]);
    packages::load(r.path(), "x", &packages::CrateInfo::default()).unwrap();
}

#[test]
fn the_repository_packages_pass_the_path_checks() {
    let ctx = xtask::context::Context::from_env(false).unwrap();
    let names = packages::package_names(&ctx.root).unwrap();
    let pkgs = packages::resolve_some(&ctx.root, &names, "test").unwrap();
    assert!(pkgs.iter().any(|p| p.applets.get("reboot").is_some_and(|a| a.path == "/sbin/reboot")), "init's reboot applet");
}

/// The error of loading package `x`, a crate whose library is `xlib`, with `applets`.
fn applet_err(applets: &str) -> String {
    let r = repo(&[("x", &format!("[package]\ndescription = \"test\"\n[applets]\n{applets}"))]);
    let mut crates = packages::CrateInfo::default();
    let meta = packages::CrateMeta { name: "x".into(), version: "1.0.0".into(), license: Some("MIT".into()), lib: Some("xlib".into()) };
    crates.insert(r.path().join("packages/x").canonicalize().unwrap(), meta);
    format!("{:#}", packages::load(r.path(), "x", &crates).unwrap_err())
}

#[test]
fn applets_name_a_function_of_the_crate_and_the_package_has_a_main_one() {
    assert_eq!(
        applet_err("x = { path = \"/usr/sbin/x\", entry = \"other::main\" }\n"),
        "packages/x/package.toml: applets.x.entry = \"other::main\": write the path of a `pub fn(Vec<String>) -> i32` in the crate's library, starting with its name, like \"xlib::main\""
    );
    assert!(applet_err("x = { path = \"/usr/sbin/x\", entry = \"xlib\" }\n").contains("applets.x.entry = \"xlib\""));
    assert!(applet_err("x = { path = \"/usr/sbin/x\", entry = \"xlib::9main\" }\n").contains("applets.x.entry"));
    assert_eq!(
        applet_err("y = { path = \"/usr/sbin/y\", entry = \"xlib::main\" }\n"),
        "packages/x/package.toml: no applet is named `x`: the applet named after the package is its main one (a standalone build installs the binary at its path); \
         add `x = { path = \"...\", entry = \"xlib::main\" }` to [applets]"
    );
    for bad in ["\"-x\"", "\".x\"", "\"a b\"", "oxwrt"] {
        let e =
            applet_err(&format!("x = {{ path = \"/usr/sbin/x\", entry = \"xlib::main\" }}\n{bad} = {{ path = \"/usr/sbin/z\", entry = \"xlib::main\" }}\n"));
        assert!(e.contains("an applet name is letters, digits and `_.-`"), "{bad}: {e}");
    }
    let e = format!(
        "{:#}",
        packages::load(
            repo(&[("x", &format!("{}[applets]\nx = {{ path = \"/x\", entry = \"x::main\" }}\n", plain("")))]).path(),
            "x",
            &packages::CrateInfo::default()
        )
        .unwrap_err()
    );
    assert_eq!(e, "packages/x/package.toml: `applets` needs a crate, but packages/x/ has no Cargo.toml in the workspace");
}

#[test]
fn two_packages_cannot_have_the_same_applet() {
    let r = repo(&[("init", &init_pkg())]);
    std::fs::write(r.path().join("Cargo.toml"), "[workspace]\nmembers = [\"packages/a\", \"packages/b\"]\n").unwrap();
    for name in ["a", "b"] {
        let dir = r.path().join("packages").join(name);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("Cargo.toml"), format!("[package]\nname = \"{name}\"\nversion = \"1.0.0\"\nlicense = \"MIT\"\nedition = \"2021\"\n")).unwrap();
        std::fs::write(dir.join("src/lib.rs"), "").unwrap();
        let applets = format!(
            "{name} = {{ path = \"/usr/sbin/{name}\", entry = \"{name}::main\" }}\nping = {{ path = \"/usr/bin/ping-{name}\", entry = \"{name}::main\" }}\n"
        );
        std::fs::write(dir.join("package.toml"), format!("[package]\ndescription = \"t\"\n[applets]\n{applets}")).unwrap();
    }
    assert_eq!(
        err(r.path(), &["init", "a", "b"]),
        "packages/b/package.toml: applet `ping` is an applet of package a already: applets share one binary, so give it another name"
    );
}
