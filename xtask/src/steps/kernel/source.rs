//! Kernel source tarballs: the board pins one exactly (`debian` package + version, `url` or
//! `file`, always with its sha256); this module fetches it into the download directory
//! (`OXWRT_DL_DIR`, default `<cache>/dl`), verifies it and unpacks it. Boards with the same
//! pin share one download. `--tarball`/`OXWRT_KERNEL_TARBALL` override the pin.
//!
//! Debian sources come from the archive with `apt-get download PKG=VERSION` (apt checks the
//! .deb against the archive's signed index) and the tarball is taken out of the .deb with
//! `dpkg-deb`: nothing depends on what /usr/src holds. When the archive no longer has the
//! pinned version, the error lists the versions it has and the command that moves the pins.

use crate::board::{Board, SourceOrigin};
use crate::context::Context;
use crate::tools::exec::{self, Runner};
use anyhow::{bail, Context as _, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A verified source tarball.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub sha256: String,
}

/// Overrides of the board's tarball (command-line flags; the environment is read here).
#[derive(Debug, Default, Clone)]
pub struct SourceOverride {
    pub tarball: Option<String>,
    pub sha256: Option<String>,
}

impl SourceOverride {
    pub fn with_env(mut self) -> SourceOverride {
        if self.tarball.is_none() {
            self.tarball = std::env::var("OXWRT_KERNEL_TARBALL").ok().filter(|s| !s.is_empty());
        }
        if self.sha256.is_none() {
            self.sha256 = std::env::var("OXWRT_KERNEL_SHA256").ok().filter(|s| !s.is_empty());
        }
        self
    }
}

/// The file name a fetched source has in the download directory.
fn remote_name(origin: &SourceOrigin) -> String {
    match origin {
        SourceOrigin::Debian { package, version } => format!("{package}_{}.tar.xz", version.replace(':', "%3a")),
        SourceOrigin::Url(url) => url.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("kernel.tar").to_string(),
        SourceOrigin::File(path) => Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    }
}

/// The file name a source has in the download directory (None for a local `file`, used
/// where it is).
pub fn download_name(origin: &SourceOrigin) -> Option<String> {
    (!matches!(origin, SourceOrigin::File(_))).then(|| remote_name(origin))
}

/// Where a board's pinned tarball is, or will be once fetched.
pub fn pinned_path(ctx: &Context, origin: &SourceOrigin) -> PathBuf {
    match origin {
        SourceOrigin::File(f) => PathBuf::from(f),
        _ => ctx.dl.join(remote_name(origin)),
    }
}

/// The board's pin, or an error saying the board file is not valid (the validator reports
/// the details; a parsed board always has one).
pub fn origin(board: &Board) -> Result<SourceOrigin> {
    board
        .kernel
        .source
        .origin()
        .with_context(|| format!("targets/{}.toml, kernel.source: give one of debian + version, url or file (cargo xtask check-board {})", board.id, board.id))
}

/// Locate (fetching if needed) and verify the kernel source for a board.
pub fn resolve(ctx: &Context, board: &Board, over: &SourceOverride) -> Result<Source> {
    if let Some(t) = &over.tarball {
        return resolve_override(ctx, t, over.sha256.as_deref());
    }
    let origin = origin(board)?;
    let expected = board.kernel.source.sha256.to_lowercase();
    let pin = format!("targets/{}.toml, kernel.source", board.id);
    fetch(ctx, &origin, &expected, &pin)
}

/// The pinned tarball, fetched into the download directory if it is not there yet, and
/// checked against `expected`.
pub fn fetch(ctx: &Context, origin: &SourceOrigin, expected: &str, pin: &str) -> Result<Source> {
    let path = download(ctx, origin, pin)?;
    let actual = sha256_file(ctx, &path)?;
    if actual != expected {
        let what = match origin {
            SourceOrigin::Debian { package, version } => format!("Debian's {package} {version} holds a tarball that"),
            SourceOrigin::Url(url) => format!("the download of {url}"),
            SourceOrigin::File(_) => "this file".to_string(),
        };
        bail!(
            "kernel source tarball {} does not match its sha256:\n  expected {expected} ({pin})\n  actual   {actual}\n\
             {what} is not the one pinned. If it is a damaged or foreign download, delete it and run again; if the pin is \
             wrong, fix the sha256 in {pin} after checking the file (or move every board to another Debian version with \
             `cargo xtask kernel bump-source --version <version>`).",
            path.display()
        );
    }
    Ok(Source { path, sha256: actual })
}

/// The tarball of `origin` in the download directory (fetched if missing), not yet verified.
pub fn download(ctx: &Context, origin: &SourceOrigin, pin: &str) -> Result<PathBuf> {
    let path = pinned_path(ctx, origin);
    if !path.is_file() {
        match origin {
            SourceOrigin::File(f) => bail!(
                "kernel source tarball {f} (from {pin}) does not exist.\n\
                 Put the tarball there, or pin a Debian package (debian + version) or a url that xtask can fetch (docs/kernel.md)."
            ),
            SourceOrigin::Debian { package, version } => fetch_debian(&path, package, version, pin)?,
            SourceOrigin::Url(url) => fetch_url(&path, url)?,
        }
    }
    Ok(path)
}

fn resolve_override(ctx: &Context, t: &str, sha: Option<&str>) -> Result<Source> {
    let origin = if t.starts_with("http://") || t.starts_with("https://") { SourceOrigin::Url(t.to_string()) } else { SourceOrigin::File(t.to_string()) };
    let Some(sha) = sha else {
        let got =
            Some(pinned_path(ctx, &origin)).filter(|p| p.is_file()).and_then(|p| sha256_file(ctx, &p).ok()).unwrap_or_else(|| "(could not read it)".into());
        bail!(
            "a kernel tarball override ({t}) needs its sha256 too: pass --sha256 or set OXWRT_KERNEL_SHA256.\n\
             Its sha256 is {got}; check it against the publisher's (kernel.org: sha256sums.asc) before using it."
        );
    };
    fetch(ctx, &origin, &sha.to_lowercase(), "the override (--tarball / OXWRT_KERNEL_TARBALL)")
}

/// `curl` a URL into `path` (through a .part file, so an interrupted download never counts).
fn fetch_url(path: &Path, url: &str) -> Result<()> {
    let dir = path.parent().context("download path without a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the download directory {} (OXWRT_DL_DIR)", dir.display()))?;
    let partial = path.with_extension("part");
    eprintln!("    downloading {url}");
    let status = Command::new("curl")
        .args(["--fail", "--location", "--silent", "--show-error", "--output"])
        .arg(&partial)
        .arg(url)
        .status()
        .context("downloading the kernel source needs curl: install it (apt-get install curl)")?;
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        bail!("downloading {url} failed (curl {status}); check the URL and the network, or download it yourself into {} (OXWRT_DL_DIR)", dir.display());
    }
    std::fs::rename(&partial, path)?;
    Ok(())
}

/// `apt-get download PACKAGE=VERSION`, then the tarball out of the .deb into `path`.
fn fetch_debian(path: &Path, package: &str, version: &str, pin: &str) -> Result<()> {
    for tool in ["apt-get", "dpkg-deb"] {
        if exec::which(tool).is_none() {
            bail!(
                "{pin} pins the Debian package {package} {version}, and fetching it needs {tool} (Debian/Ubuntu).\n\
                 Elsewhere: put the tarball (the usr/src/*.tar.xz inside {package}_{version}_all.deb) at {}, \
                 or build with --tarball <linux-{}.y tarball> --sha256 <hash> (docs/building-elsewhere.md).",
                path.display(),
                package.trim_start_matches("linux-source-")
            );
        }
    }
    let dir = path.parent().context("download path without a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the download directory {} (OXWRT_DL_DIR)", dir.display()))?;
    let work = dir.join(format!(".fetch-{package}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let result = (|| -> Result<()> {
        eprintln!("    fetching {package} {version} from the Debian archive (apt-get download)");
        let spec = format!("{package}={version}");
        let mut out = apt_download(&work, &spec)?;
        if !out.status.success() && is_root() {
            // A fresh machine may have no package lists yet: read them once and try again.
            let _ = Command::new("apt-get").args(["update", "-q"]).env("DEBIAN_FRONTEND", "noninteractive").output();
            out = apt_download(&work, &spec)?;
        }
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let available = debian_versions(package);
            let listing = if available.is_empty() {
                format!("apt knows no version of {package} at all: run `apt-get update` (as root) and check the sources list has the security suite")
            } else {
                format!("available now: {}", available.join(", "))
            };
            let newest = available.first().cloned().unwrap_or_else(|| "<version>".into());
            bail!(
                "cannot fetch {package} {version} (from {pin}) from the Debian archive: {}\n{listing}.\n\
                 Move every board to one of them: cargo xtask kernel bump-source --version {newest}\n\
                 (re-applies every patch set, rewrites the pins, rebuilds and reports the size change), \
                 or pre-seed {} with the pinned tarball (docs/kernel.md).",
                stderr.lines().filter(|l| l.starts_with("E:")).collect::<Vec<_>>().join(" ").trim(),
                path.display()
            );
        }
        let deb = std::fs::read_dir(&work)?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .with_context(|| format!("apt-get download {spec} wrote no .deb into {}", work.display()))?;
        let unpacked = work.join("x");
        exec::capture(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
        let src = unpacked.join("usr/src");
        let tarball = std::fs::read_dir(&src)
            .with_context(|| format!("{} has no usr/src: is {package} a kernel source package?", deb.display()))?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("linux-source-") && n.ends_with(".tar.xz")))
            .with_context(|| format!("{} holds no usr/src/linux-source-*.tar.xz", deb.display()))?;
        std::fs::rename(&tarball, path).with_context(|| format!("cannot move the tarball to {}", path.display()))?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn apt_download(dir: &Path, spec: &str) -> Result<std::process::Output> {
    Command::new("apt-get")
        .args(["download", "-q", spec])
        .current_dir(dir)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .context("cannot run apt-get download")
}

/// The versions of a Debian package the archive offers now, newest first (`apt-cache madison`).
pub fn debian_versions(package: &str) -> Vec<String> {
    let Ok(out) = Command::new("apt-cache").args(["madison", package]).output() else { return Vec::new() };
    let mut versions: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut fields = line.split('|').map(str::trim);
        if let (Some(_), Some(v)) = (fields.next(), fields.next()) {
            if !v.is_empty() && !versions.iter().any(|x| x == v) {
                versions.push(v.to_string());
            }
        }
    }
    versions
}

fn is_root() -> bool {
    exec::capture(Command::new("id").arg("-u")).map(|s| s == "0").unwrap_or(false)
}

/// sha256 of a file, remembered in the cache by (path, size, mtime) so a no-op build does
/// not hash 140 MB every time.
pub fn sha256_file(ctx: &Context, path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
    let memo_key = hex::encode(Sha256::digest(format!("{}\0{}\0{mtime}", path.display(), meta.len())));
    let memo = ctx.cache.join("sha256-memo").join(&memo_key[..32]);
    if let Ok(known) = std::fs::read_to_string(&memo) {
        if known.trim().len() == 64 {
            return Ok(known.trim().to_string());
        }
    }
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let sum = hex::encode(h.finalize());
    if std::fs::create_dir_all(memo.parent().unwrap()).is_ok() {
        let _ = std::fs::write(&memo, &sum);
    }
    Ok(sum)
}

/// Unpack a tarball into `dest` (emptied first), dropping its top-level directory, and
/// check it is the kernel series the board names.
pub fn unpack(runner: &Runner, src: &Source, dest: &Path, series: &str) -> Result<()> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).with_context(|| format!("cannot remove {}", dest.display()))?;
    }
    std::fs::create_dir_all(dest)?;
    runner.run("kernel-unpack", "unpacking kernel source", Command::new("tar").arg("-xf").arg(&src.path).arg("-C").arg(dest).arg("--strip-components=1"))?;
    let found = tree_series(dest)?;
    if found != series {
        bail!("{} is Linux {found}, but the board asks for series {series}: point it at a {series} tarball", src.path.display());
    }
    Ok(())
}

/// `VERSION.PATCHLEVEL` from a kernel tree's Makefile.
pub fn tree_series(tree: &Path) -> Result<String> {
    let mk = std::fs::read_to_string(tree.join("Makefile")).with_context(|| format!("{} has no Makefile: is this a Linux source tree?", tree.display()))?;
    let field = |name: &str| mk.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.trim_start().strip_prefix('=')).map(|v| v.trim().to_string()));
    match (field("VERSION"), field("PATCHLEVEL")) {
        (Some(v), Some(p)) => Ok(format!("{v}.{p}")),
        _ => bail!("{}/Makefile has no VERSION/PATCHLEVEL: is this a Linux source tree?", tree.display()),
    }
}
