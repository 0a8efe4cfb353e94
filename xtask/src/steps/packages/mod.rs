//! Packages: `packages/<name>/package.toml` (plus Cargo.toml when the package is a crate)
//! -> [`Package`]; the set a board needs, in dependency order; cross-compilation of the
//! crates for the board's CPU; reproducible `.oxpkg` archives.
//!
//! A package archive is a gzip'd tar, entries sorted, owner 0:0, mtime SOURCE_DATE_EPOCH:
//! `control.json` ([`Control`]: name, version, architecture, dependencies, licence,
//! services, conffiles, sha256 per file) then the files under `data/`.

pub mod cross;
pub mod multicall;
pub mod oxpkg;

use crate::board::Board;
use crate::context::Context;
use crate::steps::kernel::config::{self, DotConfig};
use anyhow::{bail, Context as _, Result};
use oxwrt_config::init::Service;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// package.toml, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    package: ManifestPackage,
    #[serde(default)]
    kernel: KernelSection,
    /// Applet name -> where it is installed and the function it runs
    /// (`webd = { path = "/usr/sbin/webd", entry = "webd::main" }`).
    #[serde(default)]
    applets: BTreeMap<String, Applet>,
    /// Symlink path -> target (`"/sbin/reboot" = "init"`).
    #[serde(default)]
    links: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<FileEntry>,
    #[serde(default, rename = "service")]
    services: Vec<Service>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestPackage {
    description: String,
    /// Required when the package is not a crate (crates take it from Cargo.toml).
    version: Option<String>,
    /// SPDX expression; likewise.
    license: Option<String>,
    #[serde(default)]
    depends: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KernelSection {
    #[serde(default)]
    options: Vec<String>,
}

/// A file shipped from the package folder.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to packages/<name>/.
    pub source: String,
    /// Absolute path on the device.
    pub path: String,
    #[serde(default = "default_mode")]
    pub mode: String,
    /// A default configuration file: upgrades keep the user's version.
    #[serde(default)]
    pub conffile: bool,
}

/// An applet: a command of a package crate, one entry function (`fn(Vec<String>) -> i32`,
/// its own name first in the arguments) installed at `path`: a symlink to the multi-call
/// /bin/oxwrt, or to the package's standalone binary (see [`multicall`]).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Applet {
    pub path: String,
    /// A Rust path starting with the crate's library name, like `netd::main`.
    pub entry: String,
}

fn default_mode() -> String {
    "0644".into()
}

#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub license: String,
    pub description: String,
    pub depends: Vec<String>,
    pub kernel_options: Vec<String>,
    /// The crate's package name when the package is a crate.
    pub crate_name: Option<String>,
    pub applets: BTreeMap<String, Applet>,
    pub links: BTreeMap<String, String>,
    pub files: Vec<FileEntry>,
    pub services: Vec<Service>,
    pub dir: PathBuf,
}

/// What cargo says about one workspace crate.
#[derive(Debug, Clone)]
pub struct CrateMeta {
    pub name: String,
    pub version: String,
    pub license: Option<String>,
    /// The library target's name (`oxinit` for package `init`), if it has one.
    pub lib: Option<String>,
}

/// What cargo says about the workspace's crates, by folder.
#[derive(Debug, Default)]
pub struct CrateInfo(BTreeMap<PathBuf, CrateMeta>);

impl CrateInfo {
    /// Says that the crate in `dir` is `meta` (tests, and callers that know).
    pub fn insert(&mut self, dir: PathBuf, meta: CrateMeta) {
        self.0.insert(dir, meta);
    }
}

impl CrateInfo {
    pub fn load(root: &Path) -> Result<CrateInfo> {
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["metadata", "--no-deps", "--format-version", "1", "--offline", "--manifest-path"])
            .arg(root.join("Cargo.toml"))
            .output()
            .context("cannot run `cargo metadata`")?;
        if !out.status.success() {
            bail!("`cargo metadata` failed:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).context("`cargo metadata` printed something that is not JSON")?;
        let mut map = BTreeMap::new();
        for p in meta["packages"].as_array().into_iter().flatten() {
            let dir = Path::new(p["manifest_path"].as_str().unwrap_or_default()).parent().map(Path::to_path_buf).unwrap_or_default();
            let lib = p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "lib" || k == "rlib")))
                .and_then(|t| t["name"].as_str().map(|n| n.replace('-', "_")));
            map.insert(
                dir,
                CrateMeta {
                    name: p["name"].as_str().unwrap_or_default().to_string(),
                    version: p["version"].as_str().unwrap_or_default().to_string(),
                    license: p["license"].as_str().map(String::from),
                    lib,
                },
            );
        }
        Ok(CrateInfo(map))
    }
}

/// Every package folder name under packages/.
pub fn package_names(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("packages");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .filter(|e| e.path().join("package.toml").is_file())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .collect();
    names.sort();
    Ok(names)
}

/// Reads and checks packages/<name>/package.toml.
pub fn load(root: &Path, name: &str, crates: &CrateInfo) -> Result<Package> {
    let dir = root.join("packages").join(name);
    let path = dir.join("package.toml");
    let shown = format!("packages/{name}/package.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {shown}: is `{name}` a package (a folder under packages/ with a package.toml)?"))?;
    let m: ManifestFile = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    check_paths(&shown, name, &m)?;
    let krate = crates.0.get(&dir.canonicalize().unwrap_or(dir.clone())).or_else(|| crates.0.get(&dir));
    let (crate_name, version, license) = match krate {
        Some(meta) => {
            if m.package.version.is_some() {
                bail!("{shown}: package.version is taken from packages/{name}/Cargo.toml ({}); remove it here", meta.version);
            }
            check_applets(&shown, name, meta, &m.applets)?;
            let license = m
                .package
                .license
                .clone()
                .or(meta.license.clone())
                .with_context(|| format!("{shown}: no licence: set `license` (SPDX) in packages/{name}/Cargo.toml"))?;
            (Some(meta.name.clone()), meta.version.clone(), license)
        }
        None => {
            if !m.applets.is_empty() {
                bail!("{shown}: `applets` needs a crate, but packages/{name}/ has no Cargo.toml in the workspace");
            }
            let version = m.package.version.clone().with_context(|| format!("{shown}: package.version is required (the package is not a crate)"))?;
            let license = m.package.license.clone().with_context(|| format!("{shown}: package.license (SPDX) is required"))?;
            (None, version, license)
        }
    };
    for (i, f) in m.files.iter().enumerate() {
        if !dir.join(&f.source).is_file() {
            bail!("{shown}: files[{i}].source: packages/{name}/{} does not exist", f.source);
        }
        if u32::from_str_radix(&f.mode, 8).map_or(true, |m| m > 0o7777) {
            bail!("{shown}: files[{i}].mode `{}` is not an octal mode like \"0644\"", f.mode);
        }
    }
    for (i, s) in m.services.iter().enumerate() {
        if s.command.first().is_none_or(|c| !c.starts_with('/')) {
            bail!("{shown}: service[{i}] ({}): command must start with an absolute path", s.name);
        }
        // user, group, capabilities (known names), dirs: the schema init checks too.
        s.check().map_err(|e| anyhow::anyhow!("{shown}: service[{i}]: {e}"))?;
    }
    // Checked now so that the error names this file.
    config::parse_fragment(&m.kernel.options.join("\n"), &format!("{shown} kernel.options"))?;
    Ok(Package {
        name: name.to_string(),
        version,
        license,
        description: m.package.description,
        depends: m.package.depends,
        kernel_options: m.kernel.options,
        crate_name,
        applets: m.applets,
        links: m.links,
        files: m.files,
        services: m.services,
        dir,
    })
}

/// Applet names (letters, digits, `_.-`, not starting with `-` or `.`), entries (a Rust path
/// into the crate's library), and the main applet, named after the package, which a
/// standalone build installs as the binary.
fn check_applets(shown: &str, name: &str, meta: &CrateMeta, applets: &BTreeMap<String, Applet>) -> Result<()> {
    if applets.is_empty() {
        return Ok(());
    }
    let Some(lib) = &meta.lib else {
        bail!("{shown}: `applets` call functions of the crate's library, but the crate `{}` has none: add a src/lib.rs", meta.name);
    };
    for (applet, a) in applets {
        let name_ok = applet.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) && !applet.starts_with(['-', '.']) && !applet.is_empty();
        if !name_ok || applet == "oxwrt" {
            bail!("{shown}: applets.\"{}\": an applet name is letters, digits and `_.-` (not first), and not `oxwrt`", applet.escape_debug());
        }
        let segs: Vec<&str> = a.entry.split("::").collect();
        let ident = |s: &str| !s.is_empty() && !s.starts_with(|c: char| c.is_ascii_digit()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if segs.len() < 2 || segs[0] != lib || !segs.iter().all(|s| ident(s)) {
            bail!(
                "{shown}: applets.{applet}.entry = \"{}\": write the path of a `pub fn(Vec<String>) -> i32` in the crate's library, starting with its name, like \"{lib}::main\"",
                a.entry.escape_debug()
            );
        }
    }
    if !applets.contains_key(name) {
        bail!(
            "{shown}: no applet is named `{name}`: the applet named after the package is its main one (a standalone build installs the binary at its path); add `{name} = {{ path = \"...\", entry = \"{lib}::main\" }}` to [applets]",
        );
    }
    Ok(())
}

/// The paths of package.toml: install paths absolute and made of plain components (no
/// `..`, `.`, empty component, NUL, backslash), each installed once and none inside
/// another; files[].source relative to the package folder, inside it; link targets
/// non-empty. The error names the file, the key and the value, and what to write instead.
fn check_paths(shown: &str, name: &str, m: &ManifestFile) -> Result<()> {
    let install_fix = "write an absolute path on the device made of plain names, like \"/usr/sbin/webd\"";
    let mut installed: BTreeMap<String, String> = BTreeMap::new();
    let mut add = |key: String, path: &str| -> Result<()> {
        if let Some(why) = oxpkg::bad_install_path(path) {
            bail!("{shown}: {key} = \"{}\": the install path {why}; {install_fix}", path.escape_debug());
        }
        if let Some(first) = installed.insert(path.to_string(), key.clone()) {
            bail!("{shown}: {key} = \"{path}\": {first} installs {path} already; install each path once");
        }
        Ok(())
    };
    for (applet, a) in &m.applets {
        add(format!("applets.{applet}.path"), &a.path)?;
    }
    for (link, target) in &m.links {
        add(format!("links.\"{}\"", link.escape_debug()), link)?;
        if let Some(why) = oxpkg::bad_link_target(target) {
            bail!(
                "{shown}: links.\"{}\" = \"{}\": the symlink target {why}; write what the link points to, like \"init\"",
                link.escape_debug(),
                target.escape_debug()
            );
        }
    }
    for (i, f) in m.files.iter().enumerate() {
        add(format!("files[{i}].path"), &f.path)?;
        if let Some(why) = oxpkg::bad_relative_path(&f.source) {
            bail!(
                "{shown}: files[{i}].source = \"{}\": the source path {why}; write a path inside packages/{name}/, relative to it, like \"files/{name}.toml\"",
                f.source.escape_debug()
            );
        }
    }
    // A path inside another installed one (a file, or a symlink nothing may be written through).
    for (path, key) in &installed {
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent.and_then(|p| p.to_str()).filter(|p| *p != "/") {
            if let Some(outer) = installed.get(p) {
                bail!("{shown}: {key} = \"{path}\": {outer} installs {p} as a file or symlink, so nothing can be installed inside it; choose another path");
            }
            parent = Path::new(p).parent();
        }
    }
    Ok(())
}

/// The packages of an image: [`resolve_some`], then checks that they make a system: a
/// package installs /sbin/init, and every service's command is installed.
pub fn resolve(root: &Path, wanted: &[String], origin: &str) -> Result<Vec<Package>> {
    let pkgs = resolve_some(root, wanted, origin)?;
    let installed: BTreeSet<String> = pkgs
        .iter()
        .flat_map(|p| p.applets.values().map(|a| a.path.clone()).chain(p.links.keys().cloned()).chain(p.files.iter().map(|f| f.path.clone())))
        .collect();
    let mut applet_of: BTreeMap<&str, &str> = BTreeMap::new();
    for p in &pkgs {
        for applet in p.applets.keys() {
            if let Some(first) = applet_of.insert(applet, &p.name) {
                bail!(
                    "packages/{}/package.toml: applet `{applet}` is an applet of package {first} already: applets share one binary, so give it another name",
                    p.name
                );
            }
        }
    }
    if !installed.contains("/sbin/init") {
        bail!("{origin}: no package installs /sbin/init, so the image could not boot: add \"init\" to packages");
    }
    for p in &pkgs {
        for s in &p.services {
            if !installed.contains(&s.command[0]) {
                bail!("packages/{}/package.toml: service `{}` runs {}, which no package in this image installs", p.name, s.name, s.command[0]);
            }
        }
    }
    Ok(pkgs)
}

/// The packages `wanted` pulls in (their dependencies too), dependencies first. Errors:
/// an unknown package (naming who asked for it), a dependency cycle.
pub fn resolve_some(root: &Path, wanted: &[String], origin: &str) -> Result<Vec<Package>> {
    let crates = CrateInfo::load(root)?;
    let known = package_names(root)?;
    let mut loaded: BTreeMap<String, Package> = BTreeMap::new();
    let mut order = Vec::new();
    #[allow(clippy::too_many_arguments)] // a local recursive helper: its arguments are the walk's state
    fn visit(
        name: &str,
        asked_by: &str,
        root: &Path,
        crates: &CrateInfo,
        known: &[String],
        loaded: &mut BTreeMap<String, Package>,
        order: &mut Vec<String>,
        path: &mut Vec<String>,
    ) -> Result<()> {
        if let Some(pos) = path.iter().position(|p| p == name) {
            let mut cycle = path[pos..].to_vec();
            cycle.push(name.to_string());
            bail!("packages depend on each other in a cycle: {} (break it in one of their package.toml `depends`)", cycle.join(" -> "));
        }
        if order.iter().any(|o| o == name) {
            return Ok(());
        }
        if !known.iter().any(|k| k == name) {
            bail!("{asked_by} needs package `{name}`, which does not exist (packages: {})", known.join(", "));
        }
        let pkg = load(root, name, crates)?;
        path.push(name.to_string());
        for dep in pkg.depends.clone() {
            visit(&dep, &format!("packages/{name}/package.toml (depends)"), root, crates, known, loaded, order, path)?;
        }
        path.pop();
        order.push(name.to_string());
        loaded.insert(name.to_string(), pkg);
        Ok(())
    }
    for w in wanted {
        visit(w, origin, root, &crates, &known, &mut loaded, &mut order, &mut Vec::new())?;
    }
    Ok(order.iter().filter_map(|n| loaded.remove(n)).collect())
}

/// Each package's kernel options against the built kernel's .config.
pub fn check_kernel_options(pkgs: &[Package], board: &Board, dotconfig: &DotConfig) -> Result<()> {
    let mut problems = Vec::new();
    for p in pkgs {
        for r in config::parse_fragment(&p.kernel_options.join("\n"), &p.name)? {
            let have = dotconfig.get(&r.symbol);
            if have != r.value {
                problems.push(format!(
                    "package {} needs CONFIG_{}={} but the kernel of {} has {}",
                    p.name,
                    r.symbol,
                    r.value,
                    board.id,
                    if have == "n" { "it off".to_string() } else { have.to_string() }
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "{}\nthe kernel pipeline adds package options to the board's config: rebuild with `cargo xtask kernel --board {}` and read what it says about them",
            problems.join("\n"),
            board.id
        );
    }
    Ok(())
}

/// `<triple>+<cpu><features>`: what a package archive's binaries run on.
pub fn architecture(board: &Board) -> String {
    format!("{}+{}{}", board.rust.target, board.rust.cpu, board.rust.features.concat())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Control {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub license: String,
    pub description: String,
    pub depends: Vec<String>,
    pub kernel_options: Vec<String>,
    pub services: Vec<Service>,
    pub conffiles: Vec<String>,
    pub files: Vec<FileRecord>,
    /// The multi-call binary's package: where its bytes went, by package ([`multicall::Part`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contains: Vec<multicall::Part>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRecord {
    pub path: String,
    pub mode: String,
    pub size: u64,
    /// Hex sha256 of the content; for a symlink, of its target.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// One thing to put in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    File { data: Vec<u8>, mode: u32 },
    Link(String),
}

/// Writes `<out>/<name>_<version>_<arch>.oxpkg`; returns its path.
pub fn write_archive(
    pkg: &Package,
    arch: &str,
    contents: BTreeMap<String, Content>,
    epoch: u64,
    out: &Path,
    contains: Vec<multicall::Part>,
) -> Result<PathBuf> {
    let mut files = Vec::new();
    for (path, c) in &contents {
        if let Some(why) = oxpkg::bad_install_path(path) {
            bail!("package {}: cannot archive `{path}`: the install path {why}", pkg.name);
        }
        files.push(match c {
            Content::File { data, mode } => {
                FileRecord { path: path.clone(), mode: format!("{mode:04o}"), size: data.len() as u64, sha256: hex::encode(Sha256::digest(data)), link: None }
            }
            Content::Link(t) => {
                FileRecord { path: path.clone(), mode: "0777".into(), size: 0, sha256: hex::encode(Sha256::digest(t.as_bytes())), link: Some(t.clone()) }
            }
        });
    }
    let control = Control {
        name: pkg.name.clone(),
        version: pkg.version.clone(),
        architecture: arch.to_string(),
        license: pkg.license.clone(),
        description: pkg.description.clone(),
        depends: pkg.depends.clone(),
        kernel_options: pkg.kernel_options.clone(),
        services: pkg.services.clone(),
        conffiles: pkg.files.iter().filter(|f| f.conffile).map(|f| f.path.clone()).collect(),
        files,
        contains,
    };
    std::fs::create_dir_all(out)?;
    let file_name = format!("{}_{}_{}.oxpkg", pkg.name, pkg.version, arch.replace('+', "_"));
    let path = out.join(&file_name);
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?, flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    let header = |size: u64, mode: u32, kind: tar::EntryType| {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(epoch);
        h.set_entry_type(kind);
        h
    };
    let control_json = serde_json::to_vec_pretty(&control)?;
    tar.append_data(&mut header(control_json.len() as u64, 0o644, tar::EntryType::Regular), "control.json", control_json.as_slice())?;
    for (p, c) in &contents {
        let name = format!("data{p}");
        match c {
            Content::File { data, mode } => tar.append_data(&mut header(data.len() as u64, *mode, tar::EntryType::Regular), &name, data.as_slice())?,
            Content::Link(target) => tar.append_link(&mut header(0, 0o777, tar::EntryType::Symlink), &name, target)?,
        }
    }
    tar.into_inner()?.finish()?;
    Ok(path)
}

/// Reads an archive back, checking all of it first: [`crate::steps::packages::oxpkg::read`] (names, entry
/// kinds, the control.json list, every sha256).
pub fn read_archive(path: &Path) -> Result<(Control, BTreeMap<String, Content>)> {
    crate::steps::packages::oxpkg::read(path)
}

/// Cross-compiles the packages' applets and writes every package's archive into `out`
/// (cleared first); returns the archives, the multi-call
/// binary's own package ([`multicall::NAME`]) first when there is one, then `pkgs` in order.
/// Packages named in `standalone` get a binary of their own; the others' applets are links
/// to the multi-call /bin/oxwrt ([`multicall`]).
pub fn build_archives(ctx: &Context, board: &Board, pkgs: &[Package], epoch: u64, standalone: &[String], out: &Path) -> Result<Vec<PathBuf>> {
    let with_applets: Vec<&Package> = pkgs.iter().filter(|p| !p.applets.is_empty()).collect();
    let joined: Vec<&Package> = with_applets.iter().copied().filter(|p| !standalone.contains(&p.name)).collect();
    let arch = architecture(board);
    let mut archives = Vec::new();
    let mut binaries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut staged: Vec<(Package, BTreeMap<String, Content>, Vec<multicall::Part>)> = Vec::new();
    if !joined.is_empty() {
        let bin = multicall::build(ctx, board, &joined, epoch)?;
        let mut contents = BTreeMap::new();
        contents.insert(multicall::PATH.to_string(), Content::File { data: bin.data, mode: 0o755 });
        staged.push((multicall::package(&ctx.root, &joined)?, contents, bin.parts));
    }
    for p in with_applets.iter().filter(|p| standalone.contains(&p.name)) {
        binaries.insert(p.name.clone(), multicall::build(ctx, board, &[p], epoch)?.data);
    }
    for p in pkgs {
        let mut pkg = p.clone();
        let mut contents = BTreeMap::new();
        if let Some(data) = binaries.remove(&p.name) {
            let main = p.applets[&p.name].path.clone();
            for a in p.applets.values().filter(|a| a.path != main) {
                contents.insert(a.path.clone(), Content::Link(multicall::relative_link(&a.path, &main)));
            }
            contents.insert(main, Content::File { data, mode: 0o755 });
        } else if !p.applets.is_empty() {
            for a in p.applets.values() {
                contents.insert(a.path.clone(), Content::Link(multicall::relative_link(&a.path, multicall::PATH)));
            }
            pkg.depends.push(multicall::NAME.into());
        }
        for (link, target) in &p.links {
            contents.insert(link.clone(), Content::Link(target.clone()));
        }
        for f in &p.files {
            let data = std::fs::read(p.dir.join(&f.source))?;
            contents.insert(f.path.clone(), Content::File { data, mode: u32::from_str_radix(&f.mode, 8)? });
        }
        staged.push((pkg, contents, Vec::new()));
    }
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    for (pkg, contents, parts) in staged {
        archives.push(write_archive(&pkg, &arch, contents, epoch, out, parts)?);
    }
    Ok(archives)
}
