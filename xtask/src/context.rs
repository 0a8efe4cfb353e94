//! Where things are: the repository, its build outputs and the shared cache.

use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

/// Paths and settings shared by every command.
#[derive(Clone, Debug)]
pub struct Context {
    /// The repository root (the workspace of `cargo xtask`).
    pub root: PathBuf,
    /// Build outputs: `<root>/target/oxwrt`.
    pub out: PathBuf,
    /// Cache shared across clones: `$OXWRT_CACHE_DIR`, else `$XDG_CACHE_HOME/oxwrt`,
    /// else `~/.cache/oxwrt`.
    pub cache: PathBuf,
    /// Downloaded sources (kernel tarballs): `$OXWRT_DL_DIR`, else `<cache>/dl`. A
    /// distributor pre-seeds or mirrors it.
    pub dl: PathBuf,
    pub verbose: bool,
    /// Parallel jobs for make.
    pub jobs: usize,
}

impl Context {
    pub fn from_env(verbose: bool) -> Result<Context> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask has no parent directory")?.to_path_buf();
        let cache = cache_dir()?;
        let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let dl = std::env::var_os("OXWRT_DL_DIR").filter(|d| !d.is_empty()).map(PathBuf::from).unwrap_or_else(|| cache.join("dl"));
        Ok(Context { out: root.join("target").join("oxwrt"), root, cache, dl, verbose, jobs })
    }

    /// `target/oxwrt/<board>`.
    pub fn board_out(&self, board: &str) -> PathBuf {
        self.out.join(board)
    }

    /// A runner logging into `target/oxwrt/<board>/logs`.
    pub fn runner(&self, board: &str) -> crate::tools::exec::Runner {
        crate::tools::exec::Runner { verbose: self.verbose, log_dir: self.board_out(board).join("logs") }
    }

    pub fn repo(&self) -> crate::board::Repo<'_> {
        crate::board::Repo { root: &self.root }
    }
}

fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("OXWRT_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("oxwrt"));
    }
    let home = std::env::var_os("HOME")
        .context("neither OXWRT_CACHE_DIR, XDG_CACHE_HOME nor HOME is set: set OXWRT_CACHE_DIR to a directory for oxwrt's build cache")?;
    Ok(PathBuf::from(home).join(".cache").join("oxwrt"))
}

/// Format a Unix time as the kernel's build timestamp ("Thu Jan  1 00:00:00 UTC 1970"): the
/// device's formatter (oxwrt-log), one implementation.
pub use oxwrt_log::format_utc;
