//! Kernel source pins: fetched into the download directory, verified, shared; a pre-seeded
//! download directory is used as it is; a Debian version the archive no longer has is
//! reported with the versions it has and the command that moves the pins.

use std::path::Path;
use std::process::Command;
use xtask::board::SourceOrigin;
use xtask::context::Context;
use xtask::steps::kernel::source;

fn ctx(dir: &Path) -> Context {
    Context { dl: dir.join("dl"), cache: dir.join("cache"), ..Context::from_env(false).unwrap() }
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

#[test]
fn a_vanished_debian_pin_names_the_versions_the_archive_has() {
    if !oxwrt_testkit::require_program("apt-get", "a Debian or Ubuntu host") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(dir.path());
    let gone = SourceOrigin::Debian { package: "linux-source-6.1".into(), version: "6.1.0-0oxwrt-gone".into() };
    let err = source::fetch(&c, &gone, &"0".repeat(64), "targets/x.toml, kernel.source").unwrap_err().to_string();
    assert!(err.contains("cannot fetch linux-source-6.1 6.1.0-0oxwrt-gone (from targets/x.toml, kernel.source)"), "{err}");
    assert!(err.contains("available now: 6.1."), "the archive's versions are listed: {err}");
    assert!(err.contains("cargo xtask kernel bump-source --version 6.1."), "{err}");
    // Nothing half-fetched is left behind.
    let left: Vec<_> = std::fs::read_dir(&c.dl).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_pre_seeded_download_directory_is_used_without_fetching() {
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(dir.path());
    // A package apt has never heard of: only the pre-seeded file can satisfy the pin.
    let origin = SourceOrigin::Debian { package: "linux-source-oxwrt-test".into(), version: "1.0-1".into() };
    let name = source::download_name(&origin).unwrap();
    assert_eq!(name, "linux-source-oxwrt-test_1.0-1.tar.xz");
    std::fs::create_dir_all(&c.dl).unwrap();
    std::fs::write(c.dl.join(&name), b"not really a kernel").unwrap();
    let sha = sha256(&c.dl.join(&name));
    let src = source::fetch(&c, &origin, &sha, "targets/x.toml, kernel.source").unwrap();
    assert_eq!(src.path, c.dl.join(&name));
    // The same file with another pin: both hashes, and what to do.
    let err = source::fetch(&c, &origin, &"1".repeat(64), "targets/x.toml, kernel.source").unwrap_err().to_string();
    assert!(err.contains(&format!("expected {} (targets/x.toml, kernel.source)", "1".repeat(64))) && err.contains(&format!("actual   {sha}")), "{err}");
    assert!(err.contains("bump-source"), "{err}");
}

#[test]
fn a_url_is_downloaded_once_into_the_download_directory() {
    if !oxwrt_testkit::require_program("curl", "apt-get install curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(dir.path());
    let served = dir.path().join("linux-9.9.tar.xz");
    std::fs::write(&served, b"tarball bytes").unwrap();
    let sha = sha256(&served);
    let origin = SourceOrigin::Url(format!("file://{}", served.display()));
    let src = source::fetch(&c, &origin, &sha, "pin").unwrap();
    assert_eq!(src.path, c.dl.join("linux-9.9.tar.xz"));
    // Gone from the server: the download is reused.
    std::fs::remove_file(&served).unwrap();
    assert_eq!(source::fetch(&c, &origin, &sha, "pin").unwrap().path, src.path);
    // A download that fails leaves no partial file and says what to do.
    let missing = SourceOrigin::Url(format!("file://{}/nothing-here.tar.xz", dir.path().display()));
    let err = source::fetch(&c, &missing, &sha, "pin").unwrap_err().to_string();
    assert!(err.contains("failed (curl") && err.contains("OXWRT_DL_DIR"), "{err}");
    assert!(!c.dl.join("nothing-here.part").exists() && !c.dl.join("nothing-here.tar.part").exists());
}
