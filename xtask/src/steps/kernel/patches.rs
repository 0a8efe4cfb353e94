//! Kernel patch sets: `kernel-patches/<series>/<set>/series` + patch files.
//!
//! Patches apply in order (the board's sets in order, each set's `series` in order) with
//! GNU patch, each first as a dry run so a failing patch leaves the tree untouched; the
//! error names the patch, the file and the hunk. [`refresh`] regenerates one patch from an
//! edited tree, as `quilt refresh` does.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One patch of a set, with its content (read once: it goes into the cache key).
#[derive(Debug, Clone)]
pub struct Patch {
    pub set: String,
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

impl Patch {
    /// `set/name`, how patches are named to users.
    pub fn id(&self) -> String {
        format!("{}/{}", self.set, self.name)
    }
}

/// The patches of the given sets, in application order.
pub fn load(series_dir: &Path, sets: &[String]) -> Result<Vec<Patch>> {
    let mut out = Vec::new();
    for set in sets {
        let dir = series_dir.join(set);
        let series = dir.join("series");
        let text = std::fs::read_to_string(&series).with_context(|| format!("cannot read patch series {}", series.display()))?;
        for (i, line) in text.lines().enumerate() {
            let name = line.split('#').next().unwrap_or("").trim();
            if name.is_empty() {
                continue;
            }
            let name = name.split_whitespace().next().unwrap_or(name);
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{}:{}: patch `{name}` is listed but {} cannot be read", series.display(), i + 1, path.display()))?;
            if file_sections(&text).is_empty() {
                bail!("{}:{}: `{name}` contains no unified diff (no `--- a/...` / `+++ b/...` lines)", series.display(), i + 1);
            }
            out.push(Patch { set: set.clone(), name: name.to_string(), path, text });
        }
    }
    Ok(out)
}

/// One file's part of a unified diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSection {
    /// Path in the tree (prefix stripped), the new name unless the file is deleted.
    pub path: String,
    /// The section's text, from its `---` line to before the next file's.
    pub text: String,
}

/// Split a patch into its file sections; the description before the first diff is skipped.
pub fn file_sections(patch: &str) -> Vec<FileSection> {
    let lines: Vec<&str> = patch.split_inclusive('\n').collect();
    let mut starts = Vec::new();
    for i in 0..lines.len().saturating_sub(1) {
        if lines[i].starts_with("--- ") && lines[i + 1].starts_with("+++ ") {
            starts.push(i);
        }
    }
    let mut out = Vec::new();
    for (n, &s) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).copied().unwrap_or(lines.len());
        // Drop `diff --git`/`index` lines that belong to the next section.
        while end > s + 2 && !is_hunk_body(lines[end - 1]) {
            end -= 1;
        }
        let old = strip_prefix_path(&lines[s][4..]);
        let new = strip_prefix_path(&lines[s + 1][4..]);
        let path = if new == "/dev/null" { old } else { new };
        out.push(FileSection { path, text: lines[s..end].concat() });
    }
    out
}

fn is_hunk_body(line: &str) -> bool {
    line.starts_with(' ') || line.starts_with('+') || line.starts_with('-') || line.starts_with('\\') || line.starts_with("@@") || line == "\n"
}

/// `a/fs/filesystems.c\t2024-...` -> `fs/filesystems.c` (one leading component, like -p1).
fn strip_prefix_path(field: &str) -> String {
    let name = field.trim_end_matches('\n').split('\t').next().unwrap_or("").trim();
    if name == "/dev/null" {
        return name.to_string();
    }
    name.split_once('/').map(|(_, rest)| rest.to_string()).unwrap_or_else(|| name.to_string())
}

/// Apply patches to a tree in order. Each is dry-run first; a failure names the patch, the
/// files and hunks that do not apply, and what to do.
pub fn apply_all(tree: &Path, patches: &[Patch], log: &mut dyn std::io::Write) -> Result<()> {
    for p in patches {
        writeln!(log, "applying {}", p.id())?;
        apply_one(tree, p, log)?;
    }
    Ok(())
}

fn patch_command(tree: &Path, patch: &Path, dry_run: bool) -> Command {
    let mut cmd = Command::new("patch");
    cmd.current_dir(tree).args(["-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-F0", "-i"]).arg(patch);
    if dry_run {
        cmd.arg("--dry-run");
    }
    cmd
}

fn apply_one(tree: &Path, p: &Patch, log: &mut dyn std::io::Write) -> Result<()> {
    let out = patch_command(tree, &p.path, true).output().context("cannot run `patch` (GNU patch): install it (apt-get install patch)")?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    log.write_all(text.as_bytes())?;
    if !out.status.success() {
        bail!("{}", failure_message(p, &text));
    }
    let out = patch_command(tree, &p.path, false).output()?;
    log.write_all(&out.stdout)?;
    if !out.status.success() {
        bail!("patch {} applied in a dry run but not for real:\n{}", p.id(), String::from_utf8_lossy(&out.stdout));
    }
    Ok(())
}

/// Turn GNU patch's output into: which patch, which file, which hunks, and what to do.
pub fn failure_message(p: &Patch, output: &str) -> String {
    let mut problems = Vec::new();
    let mut file = String::new();
    for line in output.lines() {
        if let Some(f) = line.strip_prefix("checking file ").or_else(|| line.strip_prefix("patching file ")) {
            file = f.trim().trim_matches('\'').to_string();
        } else if line.starts_with("Hunk #") && line.contains("FAILED") {
            // "Hunk #2 FAILED at 284."
            problems.push(format!("{file}: {}", line.trim().trim_end_matches('.').replace("FAILED at", "does not apply at line")));
        } else if line.contains("Reversed (or previously applied) patch detected") {
            problems.push(format!("{file}: already applied (the change is in the source already: drop the patch or its hunk)"));
        } else if line.contains("can't find file to patch") {
            problems.push("a file to patch does not exist in this kernel source (wrong path or -p level)".into());
        } else if line.starts_with("patch: ****") {
            problems.push(line.trim_start_matches("patch: **** ").to_string());
        }
    }
    if problems.is_empty() {
        problems.push(output.trim().lines().last().unwrap_or("patch failed").to_string());
    }
    format!(
        "kernel patch {} ({}) does not apply:\n{}\nThe tree was left as it was before this patch. Fix the patch (rebase it on this kernel source, \
         then `cargo xtask kernel refresh`), or remove it from {}.",
        p.id(),
        p.path.display(),
        problems.iter().map(|s| format!("  - {s}")).collect::<Vec<_>>().join("\n"),
        p.path.parent().map(|d| d.join("series").display().to_string()).unwrap_or_default()
    )
}

/// Text of a patch's description (everything before its first file section).
pub fn header(patch: &str) -> &str {
    let mut offset = 0;
    let mut prev: Option<&str> = None;
    for line in patch.split_inclusive('\n') {
        if let Some(p) = prev {
            if p.starts_with("--- ") && line.starts_with("+++ ") {
                let start = offset - p.len();
                // Keep `diff --git`/`index` lines out of the header.
                let head = &patch[..start];
                let cut = head.rfind("\ndiff --git ").map(|i| i + 1).unwrap_or(head.len());
                return &patch[..cut.min(start)];
            }
        }
        offset += line.len();
        prev = Some(line);
    }
    patch
}

/// Unified diff of one file, `a/` and `b/` prefixed; `None` for absent files.
pub fn diff_file(path: &str, before: Option<&str>, after: Option<&str>) -> String {
    let old_name = if before.is_some() { format!("a/{path}") } else { "/dev/null".into() };
    let new_name = if after.is_some() { format!("b/{path}") } else { "/dev/null".into() };
    let diff = similar::TextDiff::from_lines(before.unwrap_or(""), after.unwrap_or(""));
    diff.unified_diff().context_radius(3).header(&old_name, &new_name).missing_newline_hint(true).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_FILES: &str = "From: x\nSubject: [PATCH] demo\n\nWhy.\n---\ndiff --git a/x/one.c b/x/one.c\nindex 1..2 100644\n--- a/x/one.c\n+++ b/x/one.c\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/two.c b/two.c\n--- a/two.c\n+++ b/two.c\n@@ -1 +1,2 @@\n c\n+d\n";

    #[test]
    fn splits_files_and_header() {
        let s = file_sections(TWO_FILES);
        assert_eq!(s.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["x/one.c", "two.c"]);
        assert!(s[0].text.ends_with("+b\n"), "{:?}", s[0].text);
        assert_eq!(header(TWO_FILES), "From: x\nSubject: [PATCH] demo\n\nWhy.\n---\n");
    }

    #[test]
    fn diff_of_a_new_file_uses_dev_null() {
        let d = diff_file("n.c", None, Some("x\n"));
        assert!(d.starts_with("--- /dev/null\n+++ b/n.c\n@@ -0,0 +1 @@\n+x\n"), "{d}");
    }
}
