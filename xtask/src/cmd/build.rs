//! `cargo xtask build --board B` (everything a board needs: kernel, packages, root
//! filesystem, images, manifest) and `cargo xtask package NAME --board B`.
//!
//! Each stage is skipped when its inputs did not change: the kernel by its cache key,
//! the crates by cargo, the root filesystem and images by a key over the kernel, the
//! package archives, the skeleton, the board file, the build id and the code that
//! assembles them (code_hash.rs).

use crate::board::Board;
use crate::context::Context;
use crate::steps::image::flash::Budget;
use crate::steps::image::{self, Artifact};
use crate::steps::kernel::{config::DotConfig, BuildInfo, KernelOptions, Plan};
use crate::steps::packages::{self, Control};
use crate::steps::rootfs::{self, BuildId};
use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The hash of the code that assembles root filesystems and images (code_hash.rs): an
/// edit to that code is a new input.
pub const ASSEMBLY_CODE: &str = env!("OXWRT_ASSEMBLY_CODE");

/// What a build produced, and how long each stage took.
pub struct Built {
    pub kernel: BuildInfo,
    pub manifest: PathBuf,
    pub artifacts: Vec<Artifact>,
    pub packages: Vec<(Control, PathBuf)>,
    pub stages: Vec<(&'static str, f64)>,
    /// Flash boards: where the bytes went and the room left.
    pub budget: Option<Budget>,
}

pub fn build(ctx: &Context, board: &Board) -> Result<Built> {
    let id = BuildId::of(ctx);
    let mut stages = Vec::new();
    let mut t = Instant::now();
    let mut lap = |name: &'static str, stages: &mut Vec<(&'static str, f64)>| {
        stages.push((name, t.elapsed().as_secs_f64()));
        t = Instant::now();
    };
    // Package errors first: they are cheap to find and the kernel build is not.
    let pkgs = packages::resolve(&ctx.root, &board.packages, &format!("targets/{}.toml packages", board.id))?;
    let plan = Plan::new(ctx, board, &KernelOptions::default())?;
    let kernel = plan.build()?;
    lap("kernel", &mut stages);
    packages::check_kernel_options(&pkgs, board, &DotConfig::read(&plan.paths.out.join(".config"))?)?;
    let archives = packages::build_archives(ctx, board, &pkgs, id.epoch, &board.standalone, &packages_dir(ctx, board))?;
    let controls: Vec<(Control, PathBuf)> = archives.iter().map(|a| packages::read_archive(a).map(|(c, _)| (c, a.clone()))).collect::<Result<_>>()?;
    lap("packages", &mut stages);
    let kernel_image = plan.paths.out.join(&kernel.image);
    let key = assembly_key(ctx, board, &kernel, &archives, &id)?;
    let out = ctx.board_out(&board.id);
    let key_file = out.join("assembly.key");
    let manifest = out.join("manifest.json");
    if std::fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str()) && manifest.is_file() {
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest)?)?;
        let artifacts: Vec<Artifact> = serde_json::from_value(m["artifacts"].clone())?;
        if artifacts.iter().all(|a| image::images_dir(ctx, board).join(&a.name).metadata().is_ok_and(|m| m.len() == a.size)) {
            eprintln!("root filesystem and images for {}: up to date", board.id);
            stages.push(("rootfs", 0.0));
            stages.push(("images", 0.0));
            let budget = std::fs::read(image::images_dir(ctx, board).join("flash-budget.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
            return Ok(Built { kernel, manifest, artifacts, packages: controls, stages, budget });
        }
    }
    let _ = std::fs::remove_file(&key_file);
    let rootfs = rootfs::build(ctx, board, &archives, &id)?;
    lap("rootfs", &mut stages);
    let (artifacts, budget) = image::build(ctx, board, &kernel_image, &rootfs, &id, &archives)?;
    let manifest = image::write_manifest(ctx, board, &id, &kernel, &controls, &artifacts)?;
    std::fs::write(&key_file, &key)?;
    lap("images", &mut stages);
    Ok(Built { kernel, manifest, artifacts, packages: controls, stages, budget })
}

/// Hash of everything the root filesystem and images are made of.
fn assembly_key(ctx: &Context, board: &Board, kernel: &BuildInfo, archives: &[PathBuf], id: &BuildId) -> Result<String> {
    let mut h = Sha256::new();
    h.update(format!("assembly {ASSEMBLY_CODE} {} {}\n", id.build_id, id.epoch));
    h.update(&kernel.key);
    h.update(std::fs::read(ctx.root.join("targets").join(format!("{}.toml", board.id)))?);
    for a in archives {
        h.update(std::fs::read(a)?);
    }
    hash_tree(&ctx.root.join("rootfs/skeleton"), &mut h)?;
    Ok(hex::encode(h.finalize()))
}

fn hash_tree(dir: &Path, h: &mut Sha256) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        h.update(p.file_name().unwrap_or_default().as_encoded_bytes());
        let kind = std::fs::symlink_metadata(&p).with_context(|| format!("cannot read {}", p.display()))?.file_type();
        if kind.is_symlink() {
            // A link is its target (never followed: /run/netd/resolv.conf is the device's).
            h.update(b"-> ");
            h.update(std::fs::read_link(&p)?.as_os_str().as_encoded_bytes());
        } else if kind.is_dir() {
            hash_tree(&p, h)?;
        } else {
            h.update(std::fs::read(&p)?);
        }
    }
    Ok(())
}

/// Prints what was built, where, and how big.
pub fn summarize(ctx: &Context, board: &Board, built: &Built) {
    eprintln!("built {} (kernel {}):", board.id, built.kernel.release);
    for a in &built.artifacts {
        eprintln!("  {:>12} B  {}  ({})", a.size, image::images_dir(ctx, board).join(&a.name).display(), a.kind);
    }
    for (c, _) in &built.packages {
        let bytes: u64 = c.files.iter().map(|f| f.size).sum();
        let links = c.files.iter().filter(|f| f.link.is_some()).count();
        eprintln!("  package {} {} ({}): {} B installed, {links} symlink(s)", c.name, c.version, c.license, bytes);
    }
    if let Some(b) = &built.budget {
        eprint!("{}", b.report());
    }
    eprintln!("  manifest: {}", built.manifest.display());
}

/// A board's package archives, without its kernel: what [`build`] makes next anyway, so that
/// `cargo xtask test` cross-compiles while the kernels build.
pub fn archives_of(ctx: &Context, board: &Board) -> Result<Vec<PathBuf>> {
    let pkgs = packages::resolve(&ctx.root, &board.packages, &format!("targets/{}.toml packages", board.id))?;
    packages::build_archives(ctx, board, &pkgs, BuildId::of(ctx).epoch, &board.standalone, &packages_dir(ctx, board))
}

/// Where a board's image build puts its package archives.
pub fn packages_dir(ctx: &Context, board: &Board) -> PathBuf {
    ctx.board_out(&board.id).join("packages")
}

/// Where `cargo xtask package` puts the archives it builds.
pub fn standalone_dir(ctx: &Context, board: &Board) -> PathBuf {
    ctx.board_out(&board.id).join("standalone")
}

/// `cargo xtask package NAME --board B`: the package's archive with a binary of its own
/// (standalone), to be installed later on a device beside its image's multi-call binary,
/// in target/oxwrt/B/standalone/. Its dependencies (checked to exist) are the device's.
pub fn package(ctx: &Context, board: &Board, name: &str) -> Result<Vec<PathBuf>> {
    let pkgs: Vec<_> = packages::resolve_some(&ctx.root, &[name.to_string()], "the command line")?.into_iter().filter(|p| p.name == name).collect();
    let id = BuildId::of(ctx);
    let archives = packages::build_archives(ctx, board, &pkgs, id.epoch, &[name.to_string()], &standalone_dir(ctx, board))?;
    for a in &archives {
        eprintln!("{} ({} B)", a.display(), std::fs::metadata(a)?.len());
    }
    Ok(archives)
}
