//! The device binaries of an image. The applets of the board's packages (package.toml
//! `[applets]`) are linked into one multi-call binary, /bin/oxwrt (crate `oxwrt`,
//! crates/multicall: one cargo feature per package, the applet table passed in
//! `OXWRT_APPLETS`), with LTO across all of them: std, the allocator, serde, the netlink core
//! and the HTTP stack are in flash once and their pages are shared in RAM. Each applet's
//! path is a symlink to it. A package the board lists in `standalone` (and every package
//! `cargo xtask package` builds, to be installed later on a device) gets a binary of its own,
//! the same program with only its applets, installed at its main applet's path (the applet
//! named after the package), its other applets linked to it.
//!
//! The binary is linked with its symbols (the `device` profile has `strip = false`), measured
//! ([`Part`]: bytes per package and crate, the way cargo-bloat counts them), then stripped with
//! the board's binutils: what is installed carries no symbols.

use super::{cross, CrateInfo, Package};
use crate::board::Board;
use crate::context::Context;
use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Where the multi-call binary is installed.
pub const PATH: &str = "/bin/oxwrt";
/// Its package (archive) name, which is also the crate's.
pub const NAME: &str = "oxwrt";
/// What a share of a binary that more than one package uses is called.
pub const SHARED: &str = "shared";

/// Bytes of a binary that belong to a package (its crate and the crates only it uses) or
/// to several ([`SHARED`]: std, core, alloc, musl, crates used by more than one package):
/// the sizes of the symbols in .text, .rodata and .data, by the crate their demangled
/// name starts with. Bytes no symbol covers (headers, merged string literals) are in none.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub bytes: u64,
    /// Crate (library name; `musl` for C symbols) -> bytes, largest first.
    pub crates: Vec<(String, u64)>,
}

/// A built device binary: stripped, and where its bytes went.
pub struct Binary {
    pub data: Vec<u8>,
    pub parts: Vec<Part>,
}

/// Builds the binary holding the applets of `members` (crates with applets, in dependency
/// order) for the board.
pub fn build(ctx: &Context, board: &Board, members: &[&Package], epoch: u64) -> Result<Binary> {
    let names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
    check_features(&ctx.root, members)?;
    let applets: Vec<String> = members.iter().flat_map(|p| p.applets.iter().map(|(n, a)| format!("{n}={}", a.entry))).collect();
    let args = ["-p", NAME, "--no-default-features", "--features", &names.join(",")].map(String::from);
    let what = format!("{NAME} with the applets of {}", names.join(", "));
    let dir = cross::build(ctx, board, &what, &args, &[("OXWRT_APPLETS", applets.join(";"))], epoch)?;
    let linked = dir.join(NAME);
    let stripped = dir.join(format!("{NAME}.stripped"));
    let strip = format!("{}strip", board.kernel.cross_compile);
    let out = Command::new(&strip)
        .args(["--strip-all", "-o"])
        .arg(&stripped)
        .arg(&linked)
        .output()
        .with_context(|| format!("cannot run {strip} (binutils for the board's CPU: `cargo xtask setup --board {}`)", board.id))?;
    if !out.status.success() {
        bail!("{strip} --strip-all {} failed: {}", linked.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let data = std::fs::read(&stripped).with_context(|| format!("cannot read {}", stripped.display()))?;
    let owners = crate_owners(ctx, board, members)?;
    let parts = attribute(&symbols(board, &linked)?, &owners, &names);
    Ok(Binary { data, parts })
}

/// Every member must be a feature of crates/multicall/Cargo.toml (cargo's own error would
/// not say what to add).
fn check_features(root: &Path, members: &[&Package]) -> Result<()> {
    let path = root.join("crates/multicall/Cargo.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let manifest: toml::Table = toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let features = manifest.get("features").and_then(|f| f.as_table());
    for p in members {
        if !features.is_some_and(|f| f.contains_key(&p.name)) {
            bail!(
                "packages/{0}/package.toml has applets, but crates/multicall/Cargo.toml has no feature `{0}`: add `{0} = [\"dep:{1}\"]` under [features] and `{1} = {{ path = \"../../packages/{0}\", optional = true }}` under [dependencies]",
                p.name,
                p.crate_name.as_deref().unwrap_or(&p.name)
            );
        }
    }
    Ok(())
}

/// The package crate that each crate (library name) in the binary belongs to: the one member
/// whose normal dependencies reach it, else none (used by several: shared).
fn crate_owners(ctx: &Context, board: &Board, members: &[&Package]) -> Result<BTreeMap<String, String>> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", &board.rust.target, "--manifest-path"])
        .arg(ctx.root.join("Cargo.toml"))
        .output()
        .context("cannot run `cargo metadata`")?;
    if !out.status.success() {
        bail!("`cargo metadata` failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).context("`cargo metadata` printed something that is not JSON")?;
    let mut lib_of: BTreeMap<&str, String> = BTreeMap::new();
    let mut id_of: BTreeMap<&str, &str> = BTreeMap::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        let (Some(id), Some(name)) = (p["id"].as_str(), p["name"].as_str()) else { continue };
        let lib = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| {
                t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k != "bin" && k != "test" && k != "bench" && k != "example" && k != "custom-build"))
            })
            .and_then(|t| t["name"].as_str())
            .unwrap_or(name)
            .replace('-', "_");
        lib_of.insert(id, lib);
        if p["source"].is_null() {
            id_of.insert(name, id);
        }
    }
    let mut deps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
        let Some(id) = node["id"].as_str() else { continue };
        let normal = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["dep_kinds"].as_array().is_some_and(|k| k.iter().any(|k| k["kind"].is_null())))
            .filter_map(|d| d["pkg"].as_str());
        deps.insert(id, normal.collect());
    }
    let mut users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in members {
        let crate_name = p.crate_name.as_deref().unwrap_or(&p.name);
        let Some(start) = id_of.get(crate_name) else { bail!("`cargo metadata` does not list the crate `{crate_name}` of package {}", p.name) };
        let mut seen = BTreeSet::new();
        let mut todo = vec![*start];
        while let Some(id) = todo.pop() {
            if seen.insert(id) {
                todo.extend(deps.get(id).into_iter().flatten());
            }
        }
        for id in seen {
            if let Some(lib) = lib_of.get(id) {
                users.entry(lib.clone()).or_default().insert(p.name.clone());
            }
        }
    }
    Ok(users.into_iter().filter(|(_, u)| u.len() == 1).filter_map(|(lib, u)| u.into_iter().next().map(|p| (lib, p))).collect())
}

/// (demangled name, size) of every symbol of .text, .rodata and .data (what flash holds),
/// each address once: aliases (`free` and `c.malloc.free`, weak and strong names) share
/// their bytes, which go to a Rust path when one of the names is one.
fn symbols(board: &Board, binary: &Path) -> Result<Vec<(String, u64)>> {
    let nm = format!("{}nm", board.kernel.cross_compile);
    let out = Command::new(&nm)
        .args(["--print-size", "--demangle", "--defined-only"])
        .arg(binary)
        .output()
        .with_context(|| format!("cannot run {nm} (binutils for the board's CPU: `cargo xtask setup --board {}`)", board.id))?;
    if !out.status.success() {
        bail!("{nm} {} failed: {}", binary.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut by_address: BTreeMap<u64, (String, u64)> = BTreeMap::new();
    for line in text.lines() {
        // ADDRESS SIZE TYPE NAME (the name may have spaces); symbols without a size have 3 fields.
        let mut f = line.splitn(4, ' ');
        let (Some(address), Some(size), Some(kind), Some(name)) = (f.next(), f.next(), f.next(), f.next()) else { continue };
        if !"TtRrDdWwVv".contains(kind) || kind.len() != 1 {
            continue;
        }
        let (Ok(address), Ok(size)) = (u64::from_str_radix(address, 16), u64::from_str_radix(size, 16)) else { continue };
        let keep = by_address.get(&address).is_none_or(|(old, old_size)| size > *old_size || (size == *old_size && !old.contains("::") && name.contains("::")));
        if keep {
            by_address.insert(address, (name.to_string(), size));
        }
    }
    let syms: Vec<(String, u64)> = by_address.into_values().collect();
    if syms.is_empty() {
        bail!("{nm} found no sized symbols in {}: was it stripped at link time? (the `device` profile must have strip = false)", binary.display());
    }
    Ok(syms)
}

/// The crate a demangled Rust symbol belongs to: the first path segment, past `<`, `&`,
/// `*const`, `dyn` and the like (`<netd::Lease as core::fmt::Debug>::fmt` is netd's). C
/// symbols (no `::`) are musl's.
pub fn crate_of(symbol: &str) -> &str {
    let mut s = symbol;
    loop {
        let t = s.trim_start_matches(['<', '&', '*', '(', '[', ' ']);
        let t = ["mut ", "const ", "dyn ", "impl "].iter().find_map(|p| t.strip_prefix(p)).unwrap_or(t);
        if t.len() == s.len() {
            break;
        }
        s = t;
    }
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    if end > 0 && s[end..].starts_with("::") {
        &s[..end]
    } else {
        "musl"
    }
}

/// Sums symbol sizes per crate, then per owner (a member package, or [`SHARED`]); parts in
/// member order, shared last.
pub fn attribute(symbols: &[(String, u64)], owners: &BTreeMap<String, String>, members: &[&str]) -> Vec<Part> {
    let mut by_crate: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, size) in symbols {
        *by_crate.entry(crate_of(name)).or_default() += size;
    }
    let mut parts: Vec<Part> = members.iter().chain([&SHARED]).map(|m| Part { name: m.to_string(), bytes: 0, crates: Vec::new() }).collect();
    for (krate, bytes) in by_crate {
        let owner = owners.get(krate).map(String::as_str).unwrap_or(SHARED);
        let part = parts.iter_mut().find(|p| p.name == owner).unwrap_or_else(|| unreachable!("every owner is a member"));
        part.bytes += bytes;
        part.crates.push((krate.to_string(), bytes));
    }
    for p in &mut parts {
        p.crates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    parts
}

/// The multi-call binary's own package: its version and licence are the crate's, plus the
/// licences of the packages inside (their archives list them too).
pub fn package(root: &Path, members: &[&Package]) -> Result<Package> {
    let crates = CrateInfo::load(root)?;
    let dir = root.join("crates/multicall");
    let meta = crates
        .0
        .values()
        .find(|m| m.name == NAME)
        .with_context(|| format!("the workspace has no crate `{NAME}` (crates/multicall): the multi-call binary cannot be built"))?;
    let mut licenses: Vec<String> = Vec::new();
    for l in meta.license.iter().chain(members.iter().map(|p| &p.license)) {
        if !licenses.contains(l) {
            licenses.push(l.clone());
        }
    }
    let names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
    Ok(Package {
        name: NAME.into(),
        version: meta.version.clone(),
        license: licenses.join(" AND "),
        description: format!("multi-call binary with the applets of {}", names.join(", ")),
        depends: Vec::new(),
        kernel_options: Vec::new(),
        crate_name: Some(NAME.into()),
        applets: BTreeMap::new(),
        links: BTreeMap::new(),
        files: Vec::new(),
        services: Vec::new(),
        dir,
    })
}

/// The symlink target from `link` to `target` (both absolute): relative, so that the tree
/// works wherever it is mounted (`/usr/sbin/netd` -> `../../bin/oxwrt`).
pub fn relative_link(link: &str, target: &str) -> String {
    let from: Vec<&str> = Path::new(link).parent().map(|p| p.iter().skip(1).filter_map(|c| c.to_str()).collect()).unwrap_or_default();
    let to: Vec<&str> = Path::new(target).iter().skip(1).filter_map(|c| c.to_str()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = std::iter::repeat_n("..", from.len() - common).collect();
    parts.extend(&to[common..]);
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_belong_to_the_crate_their_path_starts_with() {
        assert_eq!(crate_of("netd::dhcp_server::Server::handle::h0123456789abcdef"), "netd");
        assert_eq!(crate_of("<netd::leases::Lease as core::fmt::Debug>::fmt"), "netd");
        assert_eq!(crate_of("<&mut serde_json::ser::Serializer<W> as serde::ser::Serializer>::serialize_str"), "serde_json");
        assert_eq!(crate_of("<*const T as core::fmt::Pointer>::fmt"), "musl");
        assert_eq!(crate_of("<dyn core::any::Any>::type_id"), "core");
        assert_eq!(crate_of("memcpy"), "musl");
        assert_eq!(crate_of("__rust_alloc"), "musl");
    }

    #[test]
    fn bytes_go_to_the_one_package_that_uses_a_crate_or_to_shared() {
        let syms: Vec<(String, u64)> =
            [("netd::main", 10), ("hyper::proto::h1::dispatch", 40), ("webd::main", 5), ("std::io::stdio::_print", 100), ("memcpy", 7), ("serde::de::x", 3)]
                .iter()
                .map(|(n, s)| (n.to_string(), *s))
                .collect();
        let owners: BTreeMap<String, String> =
            [("netd", "netd"), ("webd", "webd"), ("hyper", "webd")].iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        let parts = attribute(&syms, &owners, &["netd", "webd"]);
        let brief: Vec<(&str, u64)> = parts.iter().map(|p| (p.name.as_str(), p.bytes)).collect();
        assert_eq!(brief, [("netd", 10), ("webd", 45), (SHARED, 110)]);
        assert_eq!(parts[1].crates, [("hyper".to_string(), 40), ("webd".to_string(), 5)]);
    }

    #[test]
    fn links_are_relative() {
        assert_eq!(relative_link("/usr/sbin/netd", "/bin/oxwrt"), "../../bin/oxwrt");
        assert_eq!(relative_link("/sbin/init", "/bin/oxwrt"), "../bin/oxwrt");
        assert_eq!(relative_link("/bin/sh", "/bin/oxwrt"), "oxwrt");
        assert_eq!(relative_link("/sbin/logread", "/sbin/init"), "init");
    }
}
