//! `cargo xtask kernel bump-source --version V`: move every board pinned to a Debian kernel
//! source package to another version of it. The new tarball is fetched and hashed, every
//! distinct patch-set list is applied to it (stopping at the first patch or hunk that no
//! longer applies, before any pin changes), the pins in targets/*.toml are rewritten in
//! place (comments and layout kept), and then the kernels are rebuilt and their sizes
//! compared with the last build.

use crate::board::{Board, SourceOrigin};
use crate::context::Context;
use crate::steps::kernel::{self, patches, source, BuildInfo, KernelOptions, Plan};
use anyhow::{bail, Context as _, Result};

/// What `bump-source` was asked.
pub struct Bump<'a> {
    pub version: &'a str,
    /// The Debian package; needed only when boards pin several.
    pub package: Option<&'a str>,
    /// Rebuild the kernels and compare sizes (the default).
    pub build: bool,
}

pub fn run(ctx: &Context, req: &Bump) -> Result<()> {
    let repo = ctx.repo();
    let boards: Vec<Board> = repo.board_ids()?.iter().map(|id| repo.load_board(id)).collect::<Result<_>>()?;
    let mut packages: Vec<String> = Vec::new();
    for b in &boards {
        if let Some(SourceOrigin::Debian { package, .. }) = b.kernel.source.origin() {
            if !packages.contains(&package) {
                packages.push(package);
            }
        }
    }
    let package = match (req.package, packages.as_slice()) {
        (Some(p), _) if packages.iter().any(|x| x == p) => p.to_string(),
        (Some(p), _) => bail!("no board pins the Debian package {p}; boards pin: {}", list_or_none(&packages)),
        (None, [one]) => one.clone(),
        (None, []) => bail!("no board pins a Debian kernel source package (kernel.source.debian); edit url/file pins by hand (docs/kernel.md)"),
        (None, _) => bail!("boards pin several Debian packages ({}): say which with --package", packages.join(", ")),
    };
    let affected: Vec<&Board> =
        boards.iter().filter(|b| matches!(b.kernel.source.origin(), Some(SourceOrigin::Debian { package: p, .. }) if p == package)).collect();
    let origin = SourceOrigin::Debian { package: package.clone(), version: req.version.to_string() };
    let path = source::download(ctx, &origin, "the command line (bump-source --version)")?;
    let sha256 = source::sha256_file(ctx, &path)?;
    eprintln!("{package} {}: {} (sha256 {sha256})", req.version, path.display());

    // Every distinct patch-set list must apply to the new tree before any pin changes.
    let fresh = source::Source { path: path.clone(), sha256: sha256.clone() };
    let mut checked: Vec<(String, Vec<String>)> = Vec::new();
    for b in &affected {
        let sets = (b.kernel.series.clone(), b.kernel.patch_sets.clone());
        if checked.contains(&sets) {
            continue;
        }
        check_patches(ctx, b, &fresh).with_context(|| {
            format!(
                "{package} {} does not take the patches of {} (sets {}): no pin was changed.\n\
                 Refresh the failing patch on the new tree (docs/kernel.md, `cargo xtask kernel prepare` then `refresh`), or pick another version",
                req.version,
                b.id,
                b.kernel.patch_sets.join(", ")
            )
        })?;
        eprintln!("  patch sets {} apply to {} {}", b.kernel.patch_sets.join(", "), package, req.version);
        checked.push(sets);
    }

    let before: Vec<Option<BuildInfo>> = affected.iter().map(|b| last_build(ctx, b)).collect();
    let mut moved = 0;
    for b in &affected {
        let file = repo.targets().join(format!("{}.toml", b.id));
        let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let new = rewrite_pin(&text, req.version, &sha256).with_context(|| format!("{}: cannot rewrite kernel.source", file.display()))?;
        if new != text {
            std::fs::write(&file, new).with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!("  targets/{}.toml: kernel.source = {package} {}", b.id, req.version);
            moved += 1;
        }
    }
    if moved == 0 {
        eprintln!("every board already pins {package} {}", req.version);
    }
    if !req.build {
        eprintln!("build the kernels with `cargo xtask kernel --board <id>` (or `cargo xtask test`)");
        return Ok(());
    }
    eprintln!("rebuilding the kernels of {} board(s) (boards with the same inputs share one build)", affected.len());
    for (b, old) in affected.iter().zip(before) {
        let board = repo.load_board(&b.id)?;
        let plan = Plan::new(ctx, &board, &KernelOptions::default())?;
        let info = plan.build()?;
        eprintln!("  {}", size_change(&board.id, old.as_ref(), &info));
    }
    eprintln!("done: review `git diff targets/` and commit the new pins");
    Ok(())
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Unpack `src` into a scratch tree and apply the board's patch sets to it.
fn check_patches(ctx: &Context, board: &Board, src: &source::Source) -> Result<()> {
    let series_dir = ctx.repo().patch_series_dir(&board.kernel.series);
    let list = patches::load(&series_dir, &board.kernel.patch_sets)?;
    let scratch = ctx.out.join("bump-source").join(&board.id);
    let runner = ctx.runner(&board.id);
    source::unpack(&runner, src, &scratch, &board.kernel.series)?;
    std::fs::create_dir_all(&runner.log_dir)?;
    let log_path = runner.log_dir.join("bump-source-patch.log");
    let mut log = std::fs::File::create(&log_path)?;
    let applied = patches::apply_all(&scratch, &list, &mut log);
    let _ = std::fs::remove_dir_all(&scratch);
    applied
}

/// The board's last kernel build in this tree, if any.
fn last_build(ctx: &Context, board: &Board) -> Option<BuildInfo> {
    let info = kernel::KernelPaths::new(ctx, &board.id).out.join("info.json");
    serde_json::from_slice(&std::fs::read(info).ok()?).ok()
}

/// "qemu-x86-64: bzImage 2.0 MiB -> 2.0 MiB (+1.2 KiB)".
pub fn size_change(board: &str, old: Option<&BuildInfo>, new: &BuildInfo) -> String {
    use crate::size::Size;
    match old {
        Some(o) => {
            let delta = new.image_bytes as i64 - o.image_bytes as i64;
            let sign = if delta < 0 { "-" } else { "+" };
            format!(
                "{board}: {} {} ({}) -> {} ({}), {sign}{}",
                new.image,
                Size(o.image_bytes),
                o.release,
                Size(new.image_bytes),
                new.release,
                Size(delta.unsigned_abs())
            )
        }
        None => format!("{board}: {} {} ({}); no earlier build in this tree to compare with", new.image, Size(new.image_bytes), new.release),
    }
}

/// Set `kernel.source.version` and `.sha256` in a board file, keeping everything else.
pub fn rewrite_pin(text: &str, version: &str, sha256: &str) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().context("not valid TOML")?;
    let source = doc.get_mut("kernel").and_then(|k| k.get_mut("source")).and_then(|s| s.as_table_like_mut()).context("no kernel.source table")?;
    if source.get("debian").is_none() {
        bail!("kernel.source is not a Debian package pin");
    }
    for (key, value) in [("version", version), ("sha256", sha256)] {
        let item = source.get_mut(key).context(format!("kernel.source has no {key}"))?;
        let decor = item.as_value().map(|v| v.decor().clone());
        let mut new = toml_edit::Value::from(value);
        if let Some(d) = decor {
            *new.decor_mut() = d;
        }
        *item = toml_edit::Item::Value(new);
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_is_rewritten_in_place() {
        let text = "# a comment\n[kernel]\nseries = \"6.1\"\nsource = { debian = \"linux-source-6.1\", version = \"6.1.192-2\", sha256 = \"aa\" }\nbase_config = \"tinyconfig\"\n";
        let new = rewrite_pin(text, "6.1.192-3", "bb").unwrap();
        assert_eq!(new, text.replace("6.1.192-2", "6.1.192-3").replace("\"aa\"", "\"bb\""));
        let err = rewrite_pin("[kernel]\nsource = { url = \"https://x/y.tar.xz\", sha256 = \"aa\" }\n", "1", "bb").unwrap_err().to_string();
        assert!(err.contains("not a Debian package pin"), "{err}");
    }
}
