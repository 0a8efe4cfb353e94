//! `cargo xtask kernel refresh`: turn edits in the patched tree back into a patch file, the
//! way `quilt refresh` does.
//!
//! The patch's files (plus any `--add`ed ones) are rebuilt as they were before the patch
//! (pristine source + the earlier patches), diffed against the tree, and the patch file is
//! rewritten with its description kept. Files touched by a later patch are refused: refresh
//! that later patch instead. A patch name not in the set's series starts a new patch.

use super::patches::{self, Patch};
use super::Plan;
use anyhow::{bail, Context as _, Result};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

#[derive(Debug)]
pub struct RefreshReport {
    pub patch: String,
    pub files: Vec<String>,
    pub changed: bool,
}

pub fn refresh(plan: &Plan, patch_id: Option<&str>, add: &[String]) -> Result<RefreshReport> {
    let tree = &plan.paths.tree;
    if std::fs::read_to_string(tree.join(".oxwrt-tree")).ok() != Some(plan.tree_stamp()) {
        bail!(
            "{} was not prepared from the current patches (or does not exist): run `cargo xtask kernel prepare --board {}` first, edit, then refresh",
            tree.display(),
            plan.board.id
        );
    }
    let mut all: Vec<Patch> = plan.patches.clone();
    let index = match patch_id {
        None => all.len().checked_sub(1).context("the board has no patches; name a new one with --patch <set>/<name>.patch")?,
        Some(id) => match all.iter().position(|p| p.id() == id || p.name == id) {
            Some(i) => i,
            None => {
                let (set, name) =
                    id.split_once('/').with_context(|| format!("`{id}` is not a patch of this board; a new patch is named <set>/<name>.patch"))?;
                if !plan.board.kernel.patch_sets.iter().any(|s| s == set) {
                    bail!("patch set `{set}` is not one of this board's ({})", plan.board.kernel.patch_sets.join(", "));
                }
                if add.is_empty() {
                    bail!("a new patch needs the files it changes: --add <path in the tree>");
                }
                let dir = plan.ctx.repo().patch_series_dir(&plan.board.kernel.series).join(set);
                let text = format!("From: oxwrt developers\nSubject: [PATCH] {name}\n\nWhy oxwrt needs this change: (describe it here)\n\nSigned-off-by: oxwrt developers\n---\n");
                let pos = all.iter().rposition(|p| p.set == set).map(|i| i + 1).unwrap_or(all.len());
                all.insert(pos, Patch { set: set.into(), name: name.into(), path: dir.join(name), text });
                pos
            }
        },
    };
    let target = all[index].clone();
    let mut files: BTreeSet<String> = patches::file_sections(&target.text).into_iter().map(|s| s.path).collect();
    for f in add {
        let f = f.trim_start_matches("./").to_string();
        if !tree.join(&f).exists() {
            bail!("--add {f}: no such file in {}", tree.display());
        }
        files.insert(f);
    }
    for later in &all[index + 1..] {
        for s in patches::file_sections(&later.text) {
            if files.contains(&s.path) {
                bail!("{} is also changed by the later patch {}: refresh that one instead (or reorder the series)", s.path, later.id());
            }
        }
    }
    let before = tempfile_dir(plan)?;
    extract_pristine(&plan.source.path, &before, &files)?;
    for earlier in &all[..index] {
        for s in patches::file_sections(&earlier.text).into_iter().filter(|s| files.contains(&s.path)) {
            apply_section(&before, &s.text)
                .with_context(|| format!("re-applying {} to {} while reconstructing its state before {}", earlier.id(), s.path, target.id()))?;
        }
    }
    let mut diffs = String::new();
    let mut touched = Vec::new();
    for f in &files {
        let old = std::fs::read_to_string(before.join(f)).ok();
        let new = std::fs::read_to_string(tree.join(f)).ok();
        if old == new {
            continue;
        }
        diffs.push_str(&patches::diff_file(f, old.as_deref(), new.as_deref()));
        touched.push(f.clone());
    }
    std::fs::remove_dir_all(&before).ok();
    if touched.is_empty() {
        bail!("{} would be empty: the tree has none of its changes. Remove it from {} instead.", target.id(), target.path.with_file_name("series").display());
    }
    let text = format!("{}{}", patches::header(&target.text), diffs);
    let changed = text != target.text;
    if changed {
        std::fs::write(&target.path, &text).with_context(|| format!("cannot write {}", target.path.display()))?;
        let series = target.path.with_file_name("series");
        let listed = std::fs::read_to_string(&series).unwrap_or_default();
        if !listed.lines().any(|l| l.split('#').next().unwrap_or("").trim() == target.name) {
            // A new patch: list it after the set's last patch.
            let mut s = listed;
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&target.name);
            s.push('\n');
            std::fs::write(&series, s)?;
        }
        all[index].text = text;
        std::fs::write(tree.join(".oxwrt-tree"), super::tree_stamp_of(&plan.source.sha256, &all))?;
    }
    Ok(RefreshReport { patch: target.id(), files: touched, changed })
}

fn tempfile_dir(plan: &Plan) -> Result<std::path::PathBuf> {
    let dir = plan.ctx.board_out(&plan.board.id).join("refresh-before");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Extract the given files (those the tarball has) from a source tarball.
fn extract_pristine(tarball: &Path, dest: &Path, files: &BTreeSet<String>) -> Result<()> {
    let out = Command::new("tar")
        .arg("-xf")
        .arg(tarball)
        .arg("-C")
        .arg(dest)
        .arg("--strip-components=1")
        .arg("--wildcards")
        .args(files.iter().map(|f| format!("*/{f}")))
        .output()
        .context("cannot run tar")?;
    let err = String::from_utf8_lossy(&out.stderr);
    let real_errors: Vec<&str> = err.lines().filter(|l| !l.contains("Not found in archive") && !l.contains("Exiting with failure status")).collect();
    if !out.status.success() && !real_errors.is_empty() {
        bail!("extracting pristine files from {} failed: {}", tarball.display(), real_errors.join("; "));
    }
    Ok(())
}

fn apply_section(dir: &Path, section: &str) -> Result<()> {
    let tmp = dir.join(".oxwrt-section.patch");
    std::fs::write(&tmp, section)?;
    let out = Command::new("patch").current_dir(dir).args(["-p1", "--batch", "--forward", "-F0", "--no-backup-if-mismatch", "-i"]).arg(&tmp).output()?;
    std::fs::remove_file(&tmp).ok();
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stdout).trim());
    }
    Ok(())
}
