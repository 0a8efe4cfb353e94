//! The hash of the code that assembles root filesystems and images: xtask's sources, the
//! in-tree crates it links (image formats; the configuration schemas, init.toml's among
//! them) and Cargo.lock (the versions of everything else). build.rs embeds it as
//! `OXWRT_ASSEMBLY_CODE`, and it is part of the assembly cache key (cmd/build.rs), so an
//! edit to steps/rootfs.rs or steps/image/ never reuses images made by the old code.
//!
//! This file is compiled twice: into build.rs (`#[path]`) and into the library, where a
//! test checks the embedded hash against the tree.

use std::path::Path;

/// Directories (and files) whose content is the assembly code, relative to the workspace.
pub const INPUTS: &[&str] =
    &["xtask/src", "xtask/build.rs", "xtask/Cargo.toml", "images/src", "images/Cargo.toml", "crates/config/src", "crates/config/Cargo.toml", "Cargo.lock"];

/// sha256 over the sorted relative paths and contents of [`INPUTS`] (missing ones count as
/// absent).
pub fn hash(workspace: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    for input in INPUTS {
        collect(workspace, &workspace.join(input), &mut files);
    }
    files.sort();
    let mut h = Sha256::new();
    for rel in files {
        let bytes = std::fs::read(workspace.join(&rel)).unwrap_or_default();
        h.update(rel.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn collect(workspace: &Path, path: &Path, out: &mut Vec<String>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            collect(workspace, &entry.path(), out);
        }
    } else if path.is_file() {
        if let Ok(rel) = path.strip_prefix(workspace) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_embedded_hash_is_the_trees() {
        // Fails if cargo did not rerun build.rs after an edit to the assembly code, i.e. if
        // a stale key could reuse images made by older code.
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert_eq!(crate::cmd::build::ASSEMBLY_CODE, super::hash(workspace));
    }
}
