//! `cargo xtask doctor` (what the build machine has and lacks, with each fix) and
//! `cargo xtask setup` (install what is missing: apt-get, pip; fetch the pinned kernel
//! sources). The requirements themselves are in [`crate::toolchain`].

use super::boards;
use crate::board::Board;
use crate::context::Context;
use crate::steps::kernel::source;
use crate::toolchain::{requirements, Fix, Purpose, Requirement};
use crate::tools::exec;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Requirements of several boards, without duplicates.
pub fn merged(boards: &[Board]) -> Vec<Requirement> {
    let mut all: Vec<Requirement> = Vec::new();
    for b in boards {
        for r in requirements(b) {
            if !all.iter().any(|a| a.what == r.what) {
                all.push(r);
            }
        }
    }
    all.sort_by_key(|r| r.purpose);
    all
}

/// `cargo xtask doctor`: print each requirement as present or missing with its fix.
pub fn doctor(ctx: &Context, board: Option<&str>) -> Result<()> {
    let boards = boards(ctx, board)?;
    let reqs = merged(&boards);
    println!("Build requirements for {}:", boards.iter().map(|b| b.id.as_str()).collect::<Vec<_>>().join(", "));
    let mut missing = 0;
    for r in &reqs {
        if r.present() {
            println!("  ok       [{}] {}", r.purpose.label(), r.what);
        } else {
            if r.purpose != Purpose::Maintainer {
                missing += 1;
            }
            println!("  MISSING  [{}] {}\n           fix: {}", r.purpose.label(), r.what, r.fix_text());
        }
    }
    for b in &boards {
        if let Some(origin) = b.kernel.source.origin() {
            let path = source::pinned_path(ctx, &origin);
            let state = if path.is_file() { "ok      " } else { "to fetch" };
            println!("  {state} [kernel] {}'s source: {} (setup or the first kernel build fetches it)", b.id, path.display());
        }
    }
    if missing > 0 {
        println!("\n{missing} missing. `cargo xtask setup{}` installs them on Debian/Ubuntu.", board.map(|b| format!(" --board {b}")).unwrap_or_default());
        std::process::exit(1);
    }
    println!("\nEverything needed is present.");
    Ok(())
}
/// `cargo xtask run`'s first step: on a machine missing something the board needs, say so
/// and run [`setup`] for it, so that a newcomer's first command works.
pub fn install_missing(ctx: &Context, board: &Board) -> Result<()> {
    let missing: Vec<String> = requirements(board).into_iter().filter(|r| r.purpose != Purpose::Maintainer && !r.present()).map(|r| r.what).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "{} needs what this machine lacks: {}
installing it (the same as `cargo xtask setup --board {}`)",
        board.id,
        missing.join("; "),
        board.id
    );
    setup(ctx, Some(&board.id), false)
}

/// `cargo xtask setup`: install what is missing (apt-get, pip); say what to do elsewhere.
pub fn setup(ctx: &Context, board: Option<&str>, with_maintainer: bool) -> Result<()> {
    let boards = boards(ctx, board)?;
    let missing: Vec<Requirement> = merged(&boards).into_iter().filter(|r| (with_maintainer || r.purpose != Purpose::Maintainer) && !r.present()).collect();
    if missing.is_empty() {
        fetch_sources(ctx, &boards)?;
        println!("setup: everything needed is already installed.");
        return Ok(());
    }
    let mut default_pkgs: Vec<String> = Vec::new();
    let mut suite_pkgs: Vec<(&'static str, String)> = Vec::new();
    let mut pip: Vec<String> = Vec::new();
    let mut manual: Vec<String> = Vec::new();
    for r in &missing {
        for f in &r.fixes {
            match f {
                Fix::Debian { package, suite: None } => push_unique(&mut default_pkgs, package),
                Fix::Debian { package, suite: Some(s) } => {
                    if !suite_pkgs.iter().any(|(_, p)| p == package) {
                        suite_pkgs.push((s, package.clone()))
                    }
                }
                Fix::Pip(p) => push_unique(&mut pip, p),
                Fix::Manual(m) => manual.push(format!("{}: {m}", r.what)),
            }
        }
    }
    if exec::which("apt-get").is_none() {
        println!("setup: this is not a Debian/Ubuntu system; install these yourself:");
        for r in &missing {
            println!("  - {}: {}", r.what, r.elsewhere);
        }
        bail!("{} requirement(s) missing", missing.len());
    }
    let sudo: Vec<String> = if is_root() { vec![] } else { vec!["sudo".into()] };
    let apt = |args: &[String]| -> Result<()> {
        let mut cmd = Command::new(sudo.first().map(String::as_str).unwrap_or("apt-get"));
        if !sudo.is_empty() {
            cmd.arg("apt-get");
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        println!("$ {}", exec::display(&cmd));
        let status = cmd.status()?;
        if !status.success() {
            bail!("`{}` failed ({status}); fix the apt problem above and run setup again", exec::display(&cmd));
        }
        Ok(())
    };
    for (suite, _) in &suite_pkgs {
        ensure_suite(suite, sudo.is_empty())?;
    }
    apt(&["update".into(), "-q".into()])?;
    if !default_pkgs.is_empty() {
        apt(&[vec!["install".into(), "-y".into(), "-q".into()], default_pkgs.clone()].concat())?;
    }
    for (suite, pkg) in &suite_pkgs {
        apt(&["install".into(), "-y".into(), "-q".into(), "-t".into(), suite.to_string(), pkg.clone()])?;
    }
    if !pip.is_empty() {
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "pip", "install", "--quiet"]).args(pip.iter().flat_map(|p| p.split_whitespace()));
        println!("$ {}", exec::display(&cmd));
        if !cmd.status()?.success() {
            bail!("pip install {} failed; install Python 3 with pip and run setup again", pip.join(" "));
        }
        // pyenv puts new console scripts on PATH only after a rehash.
        if exec::which("pyenv").is_some() {
            let _ = Command::new("pyenv").arg("rehash").status();
        }
    }
    fetch_sources(ctx, &boards)?;
    let still: Vec<&Requirement> = missing.iter().filter(|r| !r.present()).collect();
    if !still.is_empty() {
        for m in &manual {
            println!("  to do by hand: {m}");
        }
        bail!("still missing after setup: {}", still.iter().map(|r| r.what.as_str()).collect::<Vec<_>>().join(", "));
    }
    println!("setup: installed everything needed.");
    Ok(())
}

/// The boards' pinned kernel sources, each fetched once into the download directory.
fn fetch_sources(ctx: &Context, boards: &[Board]) -> Result<()> {
    let mut done: Vec<PathBuf> = Vec::new();
    for b in boards {
        let origin = source::origin(b)?;
        let path = source::pinned_path(ctx, &origin);
        if done.contains(&path) {
            continue;
        }
        source::fetch(ctx, &origin, &b.kernel.source.sha256.to_lowercase(), &format!("targets/{}.toml, kernel.source", b.id))?;
        println!("kernel source for {}: {} (sha256 verified)", b.id, path.display());
        done.push(path);
    }
    Ok(())
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

fn is_root() -> bool {
    exec::capture(Command::new("id").arg("-u")).map(|s| s == "0").unwrap_or(false)
}

/// Add an apt suite (e.g. bookworm-backports) beside the existing Debian suites.
fn ensure_suite(suite: &str, root: bool) -> Result<()> {
    let dir = Path::new("/etc/apt/sources.list.d");
    let mentions = |p: &Path| std::fs::read_to_string(p).map(|t| t.lines().any(|l| !l.trim_start().starts_with('#') && l.contains(suite))).unwrap_or(false);
    let listed = mentions(Path::new("/etc/apt/sources.list")) || std::fs::read_dir(dir).into_iter().flatten().flatten().any(|e| mentions(&e.path()));
    if listed {
        return Ok(());
    }
    let file = dir.join(format!("{suite}.sources"));
    let text = format!(
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: {suite}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    );
    if !root {
        bail!("QEMU comes from {suite} on this system: as root, write {} with:\n{text}", file.display());
    }
    println!("adding the {suite} suite: {}", file.display());
    std::fs::write(&file, text)?;
    Ok(())
}
