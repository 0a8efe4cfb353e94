//! Kernel source tarballs: find (board, `OXWRT_KERNEL_TARBALL` or `--tarball`), download if
//! a URL, verify the sha256, unpack.

use crate::board::Board;
use crate::context::Context;
use crate::exec::Runner;
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

/// Locate (downloading if needed) and verify the kernel source for a board.
pub fn resolve(ctx: &Context, board: &Board, over: &SourceOverride) -> Result<Source> {
    let (location, expected, origin) = match &over.tarball {
        Some(t) => {
            let Some(sha) = &over.sha256 else {
                let got = local_path(ctx, t).ok().and_then(|p| sha256_file(ctx, &p).ok()).unwrap_or_else(|| "(could not read it)".into());
                bail!(
                    "a kernel tarball override ({t}) needs its sha256 too: pass --sha256 or set OXWRT_KERNEL_SHA256.\n\
                     Its sha256 is {got}; check it against the publisher's (kernel.org: sha256sums.asc) before using it."
                );
            };
            (t.clone(), sha.to_lowercase(), "the override (--tarball / OXWRT_KERNEL_TARBALL)".to_string())
        }
        None => (board.kernel.source.tarball.clone(), board.kernel.source.sha256.to_lowercase(), format!("targets/{}.toml, kernel.source", board.id)),
    };
    let path = local_path(ctx, &location)?;
    if !path.is_file() {
        bail!(
            "kernel source tarball {} (from {origin}) does not exist.\n\
             On Debian/Ubuntu: `cargo xtask setup --board {}` installs linux-source-{}; elsewhere download linux-{}.y from kernel.org \
             and pass --tarball <file> --sha256 <hash> (or OXWRT_KERNEL_TARBALL / OXWRT_KERNEL_SHA256).",
            path.display(),
            board.id,
            board.kernel.series,
            board.kernel.series
        );
    }
    let actual = sha256_file(ctx, &path)?;
    if actual != expected {
        bail!(
            "kernel source tarball {} does not match its sha256:\n  expected {expected} ({origin})\n  actual   {actual}\n\
             If you meant to use this tarball (a newer Debian linux-source or a kernel.org release), update the sha256 in {origin} \
             after checking the file is genuine; otherwise restore the right tarball.",
            path.display()
        );
    }
    Ok(Source { path, sha256: actual })
}

/// A local file for a tarball location, downloading URLs into the cache.
fn local_path(ctx: &Context, location: &str) -> Result<PathBuf> {
    if !(location.starts_with("http://") || location.starts_with("https://")) {
        return Ok(PathBuf::from(location));
    }
    let name = location.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("kernel.tar");
    let dir = ctx.cache.join("downloads");
    let path = dir.join(name);
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)?;
    let partial = dir.join(format!("{name}.part"));
    let status = Command::new("curl")
        .args(["--fail", "--location", "--silent", "--show-error", "--output"])
        .arg(&partial)
        .arg(location)
        .status()
        .context("downloading the kernel source needs curl: install it (apt-get install curl)")?;
    if !status.success() {
        bail!("downloading {location} failed (curl {status}); check the URL and the network, or download it yourself and pass --tarball <file>");
    }
    std::fs::rename(&partial, &path)?;
    Ok(path)
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
