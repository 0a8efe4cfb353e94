//! `cargo xtask kernel`: a board's patched, configured and verified Linux kernel.
//!
//! source tarball (sha256) -> unpack -> patch sets -> base config + fragments + policy +
//! board + packages -> olddefconfig -> verify -> make -> outputs. Outputs are cached outside
//! the clone under a key hashing every input ([`Inputs`]), so a second run with nothing
//! changed does no kernel work, and a fresh clone or CI reuses them.

pub mod bump;
pub mod config;
pub mod kconfig;
pub mod patches;
pub mod policy;
pub mod refresh;
pub mod source;

use crate::board::{Arch, Board};
use crate::context::Context;
use crate::size::Size;
use crate::tools::exec::{self, Runner};
use anyhow::{bail, Context as _, Result};
use config::{DotConfig, Request};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Bump when the pipeline changes in a way that changes outputs for the same inputs.
const PIPELINE_VERSION: u32 = 1;

/// Everything a kernel build depends on; its hash is the cache key. The board's name is not
/// in it: boards whose kernels have the same inputs (the WRT54GL and WRT54GS) share one build.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Inputs {
    pub pipeline: u32,
    pub series: String,
    pub source_sha256: String,
    pub arch: String,
    pub cross_compile: String,
    /// First line of `<cross>gcc --version`.
    pub compiler: String,
    /// (`set/name`, sha256 of the patch text), in order.
    pub patches: Vec<(String, String)>,
    pub base_config: String,
    /// The requested config lines, merged, in order.
    pub config: Vec<String>,
    pub image: String,
    /// KBUILD_BUILD_TIMESTAMP's epoch.
    pub timestamp: i64,
}

impl Inputs {
    pub fn key(&self) -> String {
        hex::encode(Sha256::digest(serde_json::to_vec(self).expect("inputs serialize")))
    }
}

/// What a build produced, stored beside the outputs as info.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildInfo {
    pub board: String,
    pub key: String,
    pub release: String,
    pub image: String,
    pub image_bytes: u64,
    pub compression: String,
    pub vmlinux_bytes: u64,
    pub patches: Vec<String>,
    pub build_seconds: f64,
}

/// Paths of one board's kernel work.
pub struct KernelPaths {
    /// target/oxwrt/<board>/kernel: the outputs users look at.
    pub out: PathBuf,
    /// The patched source tree (edit it, then `kernel refresh`).
    pub tree: PathBuf,
    /// Object directory (make O=).
    pub obj: PathBuf,
}

impl KernelPaths {
    pub fn new(ctx: &Context, board: &str) -> KernelPaths {
        let out = ctx.board_out(board).join("kernel");
        KernelPaths { tree: ctx.board_out(board).join("linux"), obj: ctx.board_out(board).join("kernel-obj"), out }
    }
}

/// A board's kernel, with every input read and verified.
pub struct Plan<'a> {
    pub ctx: &'a Context,
    pub board: &'a Board,
    pub source: source::Source,
    pub patches: Vec<patches::Patch>,
    pub requests: Vec<Request>,
    pub inputs: Inputs,
    pub paths: KernelPaths,
    pub runner: Runner,
}

/// Options of `cargo xtask kernel`.
#[derive(Debug, Default, Clone)]
pub struct KernelOptions {
    pub source: source::SourceOverride,
    /// Extra fragments (files) after the board's: used by tests and for experiments.
    pub extra_fragments: Vec<PathBuf>,
}

impl<'a> Plan<'a> {
    pub fn new(ctx: &'a Context, board: &'a Board, opts: &KernelOptions) -> Result<Plan<'a>> {
        let over = opts.source.clone().with_env();
        // With an override, the pin's fetching tools are not needed.
        let fetch_tool = |r: &crate::toolchain::Requirement| matches!(&r.check, crate::toolchain::Check::Program(p) if p == "dpkg-deb" || p == "curl");
        crate::toolchain::require_except(ctx, board, crate::toolchain::Purpose::Kernel, |r| over.tarball.is_some() && fetch_tool(r))?;
        let source = source::resolve(ctx, board, &over)?;
        let series_dir = ctx.repo().patch_series_dir(&board.kernel.series);
        let patches = patches::load(&series_dir, &board.kernel.patch_sets)?;
        let requests = requested_options(ctx, board, &opts.extra_fragments)?;
        let cc = format!("{}gcc", board.kernel.cross_compile);
        let compiler = exec::capture(Command::new(&cc).arg("--version"))
            .with_context(|| format!("the kernel compiler {cc} does not run: cargo xtask doctor --board {}", board.id))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        Ok(Plan::from_parts(ctx, board, source, patches, requests, compiler))
    }

    /// A plan from inputs already gathered and checked (what `new` does after its checks).
    pub fn from_parts(
        ctx: &'a Context,
        board: &'a Board,
        source: source::Source,
        patches: Vec<patches::Patch>,
        requests: Vec<Request>,
        compiler: String,
    ) -> Plan<'a> {
        let inputs = Inputs {
            pipeline: PIPELINE_VERSION,
            series: board.kernel.series.clone(),
            source_sha256: source.sha256.clone(),
            arch: board.arch.kernel_arch().into(),
            cross_compile: board.kernel.cross_compile.clone(),
            compiler,
            patches: patches.iter().map(|p| (p.id(), hex::encode(Sha256::digest(&p.text)))).collect(),
            base_config: board.kernel.base_config.clone(),
            config: requests.iter().map(Request::config_line).collect(),
            image: board.kernel.image.file_name().into(),
            timestamp: build_timestamp(ctx, board),
        };
        Plan { ctx, board, source, patches, requests, inputs, paths: KernelPaths::new(ctx, &board.id), runner: ctx.runner(&board.id) }
    }

    pub fn cache_entry(&self) -> PathBuf {
        self.ctx.cache.join("kernel").join(&self.inputs.key()[..32])
    }

    /// `make -C <tree> O=<obj> ARCH= [CROSS_COMPILE=]` with the reproducibility variables.
    pub fn make(&self) -> Command {
        let mut cmd = Command::new("make");
        cmd.arg("-C").arg(&self.paths.tree).arg(format!("O={}", self.paths.obj.display())).arg(format!("ARCH={}", self.board.arch.kernel_arch()));
        if !self.board.kernel.cross_compile.is_empty() {
            cmd.arg(format!("CROSS_COMPILE={}", self.board.kernel.cross_compile));
        }
        cmd.env("KBUILD_BUILD_TIMESTAMP", crate::context::format_utc(self.inputs.timestamp))
            .env("KBUILD_BUILD_USER", "oxwrt")
            .env("KBUILD_BUILD_HOST", "oxwrt")
            .env("KBUILD_BUILD_VERSION", "1");
        cmd
    }

    /// Stamp of the patched tree: source + patches. A tree with another stamp is re-made.
    pub fn tree_stamp(&self) -> String {
        tree_stamp_of(&self.source.sha256, &self.patches)
    }

    fn stamp_path(&self) -> PathBuf {
        self.paths.tree.join(".oxwrt-tree")
    }

    /// Make sure the patched tree matches the inputs: unpack and patch if it does not.
    pub fn prepare_tree(&self) -> Result<()> {
        let stamp = self.tree_stamp();
        if std::fs::read_to_string(self.stamp_path()).ok().as_deref() == Some(stamp.as_str()) {
            return Ok(());
        }
        if self.paths.tree.exists() {
            // Keep the previous tree (and any edits in it) one generation back.
            let old = self.paths.tree.with_file_name("linux.old");
            if old.exists() {
                std::fs::remove_dir_all(&old)?;
            }
            std::fs::rename(&self.paths.tree, &old)?;
            eprintln!("    the patches changed: the previous tree was moved to {}", old.display());
        }
        if self.paths.obj.exists() {
            std::fs::remove_dir_all(&self.paths.obj)?;
        }
        source::unpack(&self.runner, &self.source, &self.paths.tree, &self.board.kernel.series)?;
        let log_path = self.runner.log_dir.join("kernel-patch.log");
        let mut log = std::fs::File::create(&log_path)?;
        patches::apply_all(&self.paths.tree, &self.patches, &mut log)?;
        eprintln!("    applied {} patch(es): {}", self.patches.len(), self.patches.iter().map(|p| p.id()).collect::<Vec<_>>().join(", "));
        std::fs::write(self.stamp_path(), stamp)?;
        Ok(())
    }

    /// Base config + requests + olddefconfig in the object directory.
    pub fn configure(&self) -> Result<()> {
        std::fs::create_dir_all(&self.paths.obj)?;
        self.runner.run(
            "kernel-config",
            &format!("kernel config ({} + fragments)", self.board.kernel.base_config),
            self.make().arg(&self.board.kernel.base_config),
        )?;
        let dot = self.paths.obj.join(".config");
        let text = std::fs::read_to_string(&dot)?;
        std::fs::write(&dot, config::apply(&text, &self.requests))?;
        self.runner.run("kernel-olddefconfig", "kernel config (olddefconfig)", self.make().arg("olddefconfig"))?;
        std::fs::copy(&dot, self.paths.obj.join(".config.oxwrt"))?;
        Ok(())
    }

    /// Every requested option must be in the final .config as asked.
    pub fn verify(&self) -> Result<()> {
        let dot = self.paths.obj.join(".config");
        let cfg = DotConfig::read(&dot)?;
        let kconfig = std::cell::OnceCell::new();
        let explain = |r: &Request, actual: &str| {
            kconfig.get_or_init(|| kconfig::Kconfig::load(&self.paths.tree, self.board.arch.kernel_arch())).explain(&r.symbol, &r.value, actual, &cfg)
        };
        config::verify(&self.requests, &cfg, &dot.display().to_string(), &explain)?;
        Ok(())
    }

    /// The whole pipeline, or nothing if the cache has the outputs.
    pub fn build(&self) -> Result<BuildInfo> {
        let entry = self.cache_entry();
        let key = self.inputs.key();
        if entry.join("info.json").is_file() {
            let info: BuildInfo = serde_json::from_slice(&std::fs::read(entry.join("info.json"))?)?;
            self.install(&entry)?;
            eprintln!("kernel for {}: up to date, no kernel work (cache key {}, {})", self.board.id, &key[..16], entry.display());
            return Ok(info);
        }
        eprintln!("kernel for {}: building (cache key {}; logs in {})", self.board.id, &key[..16], self.runner.log_dir.display());
        let started = Instant::now();
        self.prepare_tree()?;
        self.configure()?;
        self.verify()?;
        let arch = self.board.arch.kernel_arch();
        let (target, produced) = self.board.kernel.image.make_target(arch);
        let jobs = format!("-j{}", self.ctx.jobs);
        self.runner.run("kernel-build", &format!("kernel build ({target})"), self.make().arg(&jobs).arg(target))?;
        // vmlinux and System.map come with every image target.
        let release = std::fs::read_to_string(self.paths.obj.join("include/config/kernel.release")).unwrap_or_default().trim().to_string();
        let tmp = entry.with_extension("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        let image_name = self.board.kernel.image.file_name();
        for (from, to) in [(produced.as_str(), image_name), (".config", ".config"), ("System.map", "System.map"), ("vmlinux", "vmlinux")] {
            let src = self.paths.obj.join(from);
            std::fs::copy(&src, tmp.join(to)).with_context(|| format!("the kernel build did not produce {}", src.display()))?;
        }
        let info = BuildInfo {
            board: self.board.id.clone(),
            key: key.clone(),
            release,
            image: image_name.into(),
            image_bytes: std::fs::metadata(tmp.join(image_name))?.len(),
            compression: format!("{:?}", self.board.kernel.compression).to_lowercase(),
            vmlinux_bytes: std::fs::metadata(tmp.join("vmlinux"))?.len(),
            patches: self.patches.iter().map(|p| p.id()).collect(),
            build_seconds: started.elapsed().as_secs_f64(),
        };
        std::fs::write(tmp.join("info.json"), serde_json::to_vec_pretty(&info)?)?;
        if entry.exists() {
            std::fs::remove_dir_all(&entry)?;
        }
        std::fs::rename(&tmp, &entry)?;
        self.install(&entry)?;
        Ok(info)
    }

    /// Copy cached outputs to target/oxwrt/<board>/kernel/.
    fn install(&self, entry: &Path) -> Result<()> {
        let out = &self.paths.out;
        if out.exists() {
            std::fs::remove_dir_all(out)?;
        }
        copy_files(entry, out)
    }
}

/// Copy the files of a (flat) directory into `to`, creating it.
pub fn copy_files(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for f in std::fs::read_dir(from)? {
        let f = f?;
        std::fs::copy(f.path(), to.join(f.file_name()))?;
    }
    Ok(())
}

/// Stamp of a patched tree: the source's sha256 and every patch, in order.
pub fn tree_stamp_of(source_sha256: &str, patches: &[patches::Patch]) -> String {
    let mut h = Sha256::new();
    h.update(source_sha256);
    for p in patches {
        h.update(p.id());
        h.update(&p.text);
    }
    hex::encode(h.finalize())
}

/// The config lines a board asks for, in order: generic fragment, board fragments, extra
/// fragments, policy, what the board file implies, what its packages require.
pub fn requested_options(ctx: &Context, board: &Board, extra: &[PathBuf]) -> Result<Vec<Request>> {
    let k = &board.kernel;
    let mut reqs = Vec::new();
    let generic = ctx.repo().patch_series_dir(&k.series).join("generic.config");
    if generic.is_file() {
        reqs.extend(config::read_fragment(&generic, &format!("kernel-patches/{}/generic.config", k.series))?);
    }
    for frag in &k.fragments {
        reqs.extend(config::read_fragment(&ctx.repo().targets().join(frag), &format!("targets/{frag}"))?);
    }
    for frag in extra {
        reqs.extend(config::read_fragment(frag, &frag.display().to_string())?);
    }
    // The policy comes after the fragments: a fragment cannot turn an obsolete filesystem
    // back on; `kernel.reenable_filesystems` in the board file can.
    for r in &reqs {
        let obsolete = policy::OBSOLETE_FILESYSTEMS.iter().find(|(_, sym)| *sym == Some(r.symbol.as_str()));
        if let Some((name, _)) = obsolete {
            if r.value != "n" && !k.reenable_filesystems.iter().any(|f| f == name) {
                bail!(
                    "{} enables CONFIG_{}={}, the obsolete filesystem `{name}` that oxwrt's policy leaves out.\n\
                     To build it anyway, add \"{name}\" to kernel.reenable_filesystems in targets/{}.toml (check-board will list it); \
                     otherwise remove the line.",
                    r.origin,
                    r.symbol,
                    r.value,
                    board.id
                );
            }
        }
    }
    for (symbol, value) in policy::config_lines(&k.reenable_filesystems) {
        reqs.push(Request { symbol, value, origin: "the obsolete-filesystem policy (kernel/policy.rs)".into() });
    }
    let origin = format!("targets/{}.toml", board.id);
    let mut implied = |symbol: &str, value: String, key: &str| reqs.push(Request { symbol: symbol.into(), value, origin: format!("{origin}, {key}") });
    if let Some(sym) = k.compression.kconfig() {
        implied(sym, "y".into(), "kernel.compression");
    }
    if !k.cmdline.is_empty() {
        implied("CMDLINE_BOOL", "y".into(), "kernel.cmdline");
        implied("CMDLINE", format!("\"{}\"", k.cmdline), "kernel.cmdline");
    }
    for pkg in &board.packages {
        reqs.extend(package_kernel_options(ctx, pkg)?);
    }
    Ok(config::merge(reqs))
}

/// `[kernel] options = ["CONFIG_X=y", ...]` of `packages/<name>/package.toml`, if any.
pub fn package_kernel_options(ctx: &Context, package: &str) -> Result<Vec<Request>> {
    let manifest = ctx.root.join("packages").join(package).join("package.toml");
    let Ok(text) = std::fs::read_to_string(&manifest) else { return Ok(Vec::new()) };
    let value: toml::Value = toml::from_str(&text).with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    let Some(options) = value.get("kernel").and_then(|k| k.get("options")) else { return Ok(Vec::new()) };
    let Some(list) = options.as_array() else { bail!("{}: kernel.options must be an array of config lines", manifest.display()) };
    let lines: Vec<String> = list
        .iter()
        .map(|v| v.as_str().map(String::from).ok_or_else(|| anyhow::anyhow!("{}: kernel.options must hold strings", manifest.display())))
        .collect::<Result<_>>()?;
    let mut reqs = config::parse_fragment(&lines.join("\n"), &format!("packages/{package}/package.toml kernel.options"))?;
    for r in &mut reqs {
        r.origin = format!("package {package} (packages/{package}/package.toml)");
    }
    Ok(reqs)
}

/// KBUILD_BUILD_TIMESTAMP: the time of the last commit touching the kernel's inputs, so it
/// changes only when they do; SOURCE_DATE_EPOCH, else 0, outside git.
/// The kernel's build timestamp: the last commit that touched its patch sets, the generic
/// fragment or its board fragments (not the board file: a new package must not rebuild the
/// kernel, and boards sharing a kernel get the same time).
fn build_timestamp(ctx: &Context, board: &Board) -> i64 {
    let series = format!("kernel-patches/{}", board.kernel.series);
    let mut cmd = Command::new("git");
    cmd.current_dir(&ctx.root).args(["log", "-1", "--format=%ct", "--"]).arg(format!("{series}/generic.config"));
    for set in &board.kernel.patch_sets {
        cmd.arg(format!("{series}/{set}"));
    }
    for f in &board.kernel.fragments {
        cmd.arg(format!("targets/{f}"));
    }
    exec::capture(&mut cmd).ok().and_then(|s| s.parse().ok()).or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok())).unwrap_or(0)
}

/// Print a one-line summary of a build.
pub fn summarize(board: &Board, info: &BuildInfo, paths: &KernelPaths) {
    let comp = if board.kernel.compression == crate::board::Compression::None {
        "uncompressed".to_string()
    } else {
        format!("{}-compressed", info.compression.to_uppercase())
    };
    eprintln!(
        "kernel {} for {}: {} is {} ({comp}; vmlinux {}), patches: {}\n  outputs: {}",
        info.release,
        board.id,
        info.image,
        Size(info.image_bytes),
        Size(info.vmlinux_bytes),
        if info.patches.is_empty() { "none".to_string() } else { info.patches.join(", ") },
        paths.out.display()
    );
    if let Some(budget) = board.size_budget {
        if matches!(board.arch, Arch::Mips | Arch::Mipsel) || board.storage.kind == crate::board::StorageKind::NorFlash {
            eprintln!("  the kernel takes {:.0} % of the {} firmware budget", info.image_bytes as f64 * 100.0 / budget.0 as f64, budget);
        }
    }
}
