//! `.oxpkg` archives as untrusted input: reading one back (names, entry kinds, the
//! control.json list and every sha256, all checked before anything is returned) and
//! installing it into a staging directory without ever writing through a symlink or
//! outside that directory. The writer is `packages::write_archive`.
//!
//! What an archive may hold:
//! - `control.json` once, a regular file, at the top;
//! - under `data/`: regular files, symlinks and directories, named by plain components
//!   (no `..`, `.`, empty component, NUL, backslash, absolute path); no hard links,
//!   devices, fifos or anything else;
//! - every file and symlink listed in control.json exactly once with its sha256 (for a
//!   symlink, of its target), mode and size, and nothing listed that is not there.
//!   Directory entries (tar tools add them) carry nothing: install creates the
//!   directories its files need.
//! - no entry below a file or symlink of the same archive (`data/x -> /tmp` then
//!   `data/x/evil`).
//!
//! [`install`] then checks every destination before writing anything: each parent must be
//! a real directory of the staging tree (checked with `symlink_metadata`, so a symlink from
//! the skeleton or an earlier package is never followed) or one this archive creates, and
//! the destination must not exist. Writes use `create_dir`, `create_new` and `symlink`,
//! none of which follows a final symlink.

use crate::steps::packages::{Content, Control};
use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why `path` is not an absolute install path of plain components ("/usr/sbin/webd"),
/// or `None` when it is one.
pub fn bad_install_path(path: &str) -> Option<String> {
    let Some(rel) = path.strip_prefix('/') else {
        return Some("is not an absolute path (it must start with /)".into());
    };
    if rel.is_empty() {
        return Some("is the root directory itself, not a file in it".into());
    }
    bad_components(rel)
}

/// Why a relative path of plain components is not one, or `None`.
fn bad_components(rel: &str) -> Option<String> {
    if rel.contains('\0') {
        return Some("contains a NUL byte".into());
    }
    if rel.contains('\\') {
        return Some("contains a backslash (a Windows separator)".into());
    }
    for c in rel.split('/') {
        match c {
            "" => return Some("has an empty component (`//`, or a leading or trailing /)".into()),
            "." => return Some("has a `.` component".into()),
            ".." => return Some("has a `..` component (it could leave the root filesystem)".into()),
            _ => {}
        }
    }
    None
}

/// Why a relative path (like files[].source, relative to the package folder) is not a
/// plain relative path, or `None`.
pub fn bad_relative_path(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return Some("is absolute; it must be relative to the package folder".into());
    }
    if path.is_empty() {
        return Some("is empty".into());
    }
    bad_components(path)
}

/// Why a symlink target cannot be stored, or `None`. Any target is allowed otherwise
/// (absolute or with `..`): install never follows one.
pub fn bad_link_target(target: &str) -> Option<String> {
    if target.is_empty() {
        Some("is empty".into())
    } else if target.contains('\0') {
        Some("contains a NUL byte".into())
    } else {
        None
    }
}

/// Why a package name cannot be one (it names files: lib/oxwrt/packages/<name>.json), or `None`.
fn bad_package_name(name: &str) -> Option<String> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        && name.len() <= 64;
    (!ok).then(|| "is not a package name (letters, digits and . _ + -, starting with a letter or digit)".into())
}

/// The error of a bad archive: the archive, the entry, what is wrong, and what to do.
struct Bad<'a> {
    archive: &'a Path,
    package: String,
    /// From target/oxwrt/<board>/packages/, else a placeholder.
    board: String,
}

impl Bad<'_> {
    fn new(archive: &Path) -> Bad<'_> {
        // Until control.json is read: the name from `<name>_<version>_<arch>.oxpkg`.
        let stem = archive.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let package = stem.split('_').next().filter(|n| bad_package_name(n).is_none()).unwrap_or("NAME").to_string();
        let dir = archive.parent().filter(|d| d.file_name().is_some_and(|n| n == "packages"));
        let board = dir.and_then(|d| d.parent()).and_then(|b| b.file_name()).and_then(|b| b.to_str()).unwrap_or("BOARD").to_string();
        Bad { archive, package, board }
    }

    fn fix(&self) -> String {
        format!("rebuild the package with `cargo xtask package {} --board {}` and use only archives that command writes", self.package, self.board)
    }

    fn entry(&self, entry: &str, what: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("{}: entry `{entry}`: {what}; {}", self.archive.display(), self.fix())
    }

    fn whole(&self, what: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("{}: {what}; {}", self.archive.display(), self.fix())
    }
}

/// The name of an entry, checked.
enum Name {
    Control,
    /// The data root itself (`data/`).
    DataRoot,
    /// `/usr/sbin/x` for `data/usr/sbin/x`.
    Data(String),
}

fn entry_name(raw: &str, is_dir: bool) -> std::result::Result<Name, String> {
    // Directory entries conventionally end with one /.
    let name = if is_dir { raw.strip_suffix('/').unwrap_or(raw) } else { raw };
    if name == "control.json" {
        return Ok(Name::Control);
    }
    if name == "data" && is_dir {
        return Ok(Name::DataRoot);
    }
    if name.starts_with('/') {
        return Err("is an absolute path; entries are control.json and data/...".into());
    }
    let b = name.as_bytes();
    if name.starts_with('\\') || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':') {
        return Err("starts with a Windows prefix (a drive or a \\\\server path); entries are control.json and data/...".into());
    }
    let Some(rel) = name.strip_prefix("data/") else {
        return Err("is neither control.json nor under data/".into());
    };
    if let Some(why) = bad_components(rel) {
        return Err(why);
    }
    Ok(Name::Data(format!("/{rel}")))
}

/// Reads `archive` and checks all of it (see the module docs); nothing is returned from an
/// archive with one bad entry. Directories are left out of the contents.
pub fn read(archive: &Path) -> Result<(Control, BTreeMap<String, Content>)> {
    let mut bad = Bad::new(archive);
    let f = fs::File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let unreadable = |e: std::io::Error, bad: &Bad| bad.whole(format!("cannot read it as a gzip'd tar ({e})"));
    let mut control = None;
    // Entry name -> (content, header mode).
    let mut contents: BTreeMap<String, (Content, u32)> = BTreeMap::new();
    let mut dirs = BTreeSet::new();
    for entry in ar.entries().map_err(|e| unreadable(e, &bad))? {
        let mut e = entry.map_err(|e| unreadable(e, &bad))?;
        let raw = e.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let Ok(raw) = String::from_utf8(raw) else {
            return Err(bad.entry(&shown, "its name is not UTF-8"));
        };
        let kind = e.header().entry_type();
        let name = entry_name(&raw, kind.is_dir()).map_err(|why| bad.entry(&shown, format!("the name {why}")))?;
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
            let what = match kind {
                tar::EntryType::Link => "a hard link".to_string(),
                tar::EntryType::Char | tar::EntryType::Block => "a device node".to_string(),
                tar::EntryType::Fifo => "a fifo".to_string(),
                other => format!("of tar type {:?}", other.as_byte() as char),
            };
            return Err(bad.entry(&shown, format!("is {what}; an archive holds only regular files, directories and symlinks")));
        }
        match name {
            Name::Control => {
                if !kind.is_file() {
                    return Err(bad.entry(&shown, "is not a regular file"));
                }
                if control.is_some() {
                    return Err(bad.entry(&shown, "appears twice (a duplicate entry)"));
                }
                let mut buf = Vec::new();
                e.read_to_end(&mut buf).map_err(|e| unreadable(e, &bad))?;
                let c: Control = serde_json::from_slice(&buf).map_err(|err| bad.entry(&shown, format!("is not valid control data ({err})")))?;
                if let Some(why) = bad_package_name(&c.name) {
                    return Err(bad.entry(&shown, format!("name `{}` {why}", c.name)));
                }
                bad.package = c.name.clone();
                control = Some(c);
            }
            Name::DataRoot => {
                if !dirs.insert("/".to_string()) {
                    return Err(bad.entry(&shown, "appears twice (a duplicate entry)"));
                }
            }
            Name::Data(path) => {
                if dirs.contains(&path) || contents.contains_key(&path) {
                    return Err(bad.entry(&shown, "appears twice (a duplicate entry)"));
                }
                if kind.is_dir() {
                    dirs.insert(path);
                    continue;
                }
                let c = if kind.is_symlink() {
                    let target = e.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                    let target = String::from_utf8(target).map_err(|_| bad.entry(&shown, "its symlink target is not UTF-8"))?;
                    if let Some(why) = bad_link_target(&target) {
                        return Err(bad.entry(&shown, format!("its symlink target {why}")));
                    }
                    Content::Link(target)
                } else {
                    let mut data = Vec::new();
                    e.read_to_end(&mut data).map_err(|e| unreadable(e, &bad))?;
                    Content::File { data, mode: e.header().mode().map_err(|e| unreadable(e, &bad))? & 0o7777 }
                };
                let mode = e.header().mode().unwrap_or(0) & 0o7777;
                contents.insert(path, (c, mode));
            }
        }
    }
    let control = control.ok_or_else(|| bad.whole("it has no control.json"))?;
    // Nothing below a file or symlink of this archive.
    for path in contents.keys().chain(dirs.iter()) {
        let mut prefix = String::new();
        let comps: Vec<&str> = path[1..].split('/').collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            prefix.push('/');
            prefix.push_str(c);
            match contents.get(&prefix) {
                Some((Content::Link(t), _)) => {
                    return Err(
                        bad.entry(&format!("data{path}"), format!("{prefix} is a symlink (to {t}) in this archive; nothing may be installed through it"))
                    )
                }
                Some((Content::File { .. }, _)) => {
                    return Err(bad.entry(&format!("data{path}"), format!("{prefix} is a file in this archive, not a directory")))
                }
                None => {}
            }
        }
    }
    // control.json lists exactly the files and symlinks, each once, with their sha256.
    let mut listed = BTreeSet::new();
    for rec in &control.files {
        let entry = format!("data{}", rec.path);
        if let Some(why) = bad_install_path(&rec.path) {
            return Err(bad.entry("control.json", format!("files lists `{}`, which {why}", rec.path)));
        }
        if !listed.insert(rec.path.as_str()) {
            return Err(bad.entry("control.json", format!("files lists {} twice", rec.path)));
        }
        let Some((c, mode)) = contents.get(&rec.path) else {
            return Err(bad.entry(&entry, "is listed in control.json but missing from the archive"));
        };
        match c {
            Content::File { data, .. } => {
                if rec.link.is_some() {
                    return Err(bad.entry(&entry, "is a regular file but control.json lists a symlink"));
                }
                if hex::encode(Sha256::digest(data)) != rec.sha256 {
                    return Err(bad.entry(&entry, format!("{} does not match its sha256 in control.json (corrupt or tampered archive)", rec.path)));
                }
                if data.len() as u64 != rec.size {
                    return Err(bad.entry(&entry, format!("{} bytes, but control.json says {}", data.len(), rec.size)));
                }
                if u32::from_str_radix(&rec.mode, 8).ok() != Some(*mode) {
                    return Err(bad.entry(&entry, format!("mode {mode:04o}, but control.json says {}", rec.mode)));
                }
            }
            Content::Link(t) => {
                if rec.link.as_deref() != Some(t.as_str()) || hex::encode(Sha256::digest(t.as_bytes())) != rec.sha256 {
                    return Err(bad.entry(&entry, format!("{} does not match its sha256 in control.json (a symlink to {t})", rec.path)));
                }
            }
        }
    }
    if let Some(extra) = contents.keys().find(|p| !listed.contains(p.as_str())) {
        return Err(bad.entry(&format!("data{extra}"), "is not listed in control.json"));
    }
    for c in &control.conffiles {
        if !matches!(contents.get(c), Some((Content::File { .. }, _))) {
            return Err(bad.entry("control.json", format!("conffiles lists {c}, which is not a regular file of the archive")));
        }
    }
    Ok((control, contents.into_iter().map(|(p, (c, _))| (p, c)).collect()))
}

/// Reads and checks `archive` ([`read`]), then installs its files into `stage`: every
/// destination is checked first (parents real directories, not symlinks; the file itself
/// new), so a refused archive leaves `stage` as it was. Returns what [`read`] returned.
pub fn install(stage: &Path, archive: &Path) -> Result<(Control, BTreeMap<String, Content>)> {
    let (control, contents) = read(archive)?;
    let mut bad = Bad::new(archive);
    bad.package = control.name.clone();
    // Directories to create, parents first (Path orders by component).
    let mut new_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for path in contents.keys() {
        let entry = format!("data{path}");
        let rel = &path[1..];
        let mut cur = stage.to_path_buf();
        let comps: Vec<&str> = rel.split('/').collect();
        for (i, c) in comps.iter().enumerate() {
            cur.push(c);
            let last = i + 1 == comps.len();
            if !last && new_dirs.contains(&cur) {
                continue;
            }
            let shown = format!("/{}", comps[..=i].join("/"));
            match cur.symlink_metadata() {
                Ok(_) if last => {
                    return Err(bad.entry(&entry, format!("package {} installs {path}, which another package (or the skeleton) already has", control.name)))
                }
                Ok(m) if m.file_type().is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    let to = fs::read_link(&cur).map(|t| t.display().to_string()).unwrap_or_default();
                    return Err(bad.entry(
                        &entry,
                        format!("{shown} is a symlink (to {to}) in the root filesystem, from the skeleton or an earlier package; nothing is installed through a symlink: install to the real path"),
                    ));
                }
                Ok(_) => {
                    return Err(
                        bad.entry(&entry, format!("{shown} is a file in the root filesystem (from the skeleton or an earlier package), not a directory"))
                    )
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !last {
                        new_dirs.insert(cur.clone());
                    }
                }
                Err(e) => return Err(e).with_context(|| format!("{}: entry `{entry}`: cannot check {}", archive.display(), cur.display())),
            }
        }
    }
    for d in &new_dirs {
        fs::create_dir(d).with_context(|| format!("installing {}: cannot create {}", archive.display(), d.display()))?;
    }
    for (path, c) in &contents {
        let dest = stage.join(&path[1..]);
        let fail = || format!("installing {}: entry `data{path}`: cannot create {}", archive.display(), dest.display());
        match c {
            Content::File { data, mode } => {
                let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&dest).with_context(fail)?;
                f.write_all(data).with_context(fail)?;
                f.set_permissions(fs::Permissions::from_mode(mode & 0o7777)).with_context(fail)?;
            }
            Content::Link(target) => symlink(target, &dest).with_context(fail)?,
        }
    }
    Ok((control, contents))
}
