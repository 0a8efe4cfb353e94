//! Tidy: the repository is formatted, clippy-clean, its documentation names only files that
//! exist, and nothing refers to files outside the repository. Run by `cargo test -p xtask`
//! (and so by `cargo xtask test`); modelled on rust-analyzer's xtask/src/tidy.rs.
//!
//! Every failure lists file:line and what to do.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs `cmd`; on failure panics with its output and `fix`.
fn run_or_fail(cmd: &mut Command, fix: &str) {
    let shown = format!("{cmd:?}");
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {shown}: {e}\n{fix}"));
    if !out.status.success() {
        panic!("{shown} failed ({}):\n{}{}\n{fix}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn formatted() {
    run_or_fail(
        cargo().args(["fmt", "--all", "--check"]),
        "run `cargo fmt --all` and commit the result (rustfmt.toml has the settings; \
         `rustup component add rustfmt` if cargo fmt is missing)",
    );
}

#[test]
fn clippy_clean() {
    // A target dir of its own: the test build holds target/'s lock while tests run.
    let target = root().join("target").join("tidy");
    run_or_fail(
        cargo().env("CARGO_TARGET_DIR", &target).args(["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"]),
        "fix the warnings above (`cargo clippy --workspace --all-targets -- -D warnings`); \
         `#[allow(clippy::...)]` only with a one-line reason where the lint is wrong for the case \
         (`rustup component add clippy` if cargo clippy is missing)",
    );
}

/// The repository's files: tracked by git (or, outside a git checkout, every file but
/// target/ and .git/).
fn tracked_files() -> Vec<PathBuf> {
    let root = root();
    let out = Command::new("git").current_dir(&root).args(["ls-files", "-z"]).output();
    if let Ok(out) = out {
        if out.status.success() {
            return out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()).map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned())).collect();
        }
    }
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let rel = rel.join(e.file_name());
            if rel == Path::new("target") || rel == Path::new(".git") {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(root, &rel, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root, Path::new(""), &mut out);
    out.sort();
    out
}

/// The documents whose paths are checked: README.md, ARCHITECTURE.md, DEVELOPERS.md and
/// docs/**/*.md.
fn documents(files: &[PathBuf]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|f| {
            ["README.md", "ARCHITECTURE.md", "DEVELOPERS.md"].iter().any(|d| f.as_path() == Path::new(d))
                || (f.starts_with("docs") && f.extension().is_some_and(|e| e == "md"))
        })
        .cloned()
        .collect()
}

/// Characters a repository path is made of.
fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+')
}

/// Repository paths named in one line of markdown, as (path relative to the root, the text
/// as written): markdown links to relative files (resolved from the document's directory)
/// and words, backticked or not, that start with a top-level directory of the repository
/// (`xtask/src/flags.rs`, `packages/netd/...`, `docs/kernel.md`). Not paths: URLs, device
/// paths (`/etc/oxwrt/...`, preceded by `/`), build outputs (`target/` is not tracked),
/// placeholders (`targets/<board>.toml`, `targets/B.toml`) and globs.
fn paths_in_line(doc: &Path, line: &str, top_dirs: &BTreeSet<String>) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    // Markdown links: [text](target).
    let mut rest = line;
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].split_whitespace().next().unwrap_or("");
        let target = target.split('#').next().unwrap();
        let external = target.contains("://") || target.starts_with("mailto:") || target.is_empty() || target.starts_with('/');
        if !external {
            let dir = doc.parent().unwrap_or(Path::new(""));
            found.push((normalize(&dir.join(target)), target.to_string()));
        }
        rest = &after[end..];
    }
    // Words that start with a top-level directory.
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        if !path_char(c) || (k > 0 && (path_char(chars[k - 1].1) || chars[k - 1].1 == '~')) {
            continue;
        }
        let word_end = chars[k..].iter().find(|(_, c)| !path_char(*c)).map_or(line.len(), |(j, _)| *j);
        let word = &line[i..word_end];
        let Some((first, _)) = word.split_once('/') else { continue };
        if !top_dirs.contains(first) {
            continue;
        }
        // A placeholder, a glob, a brace list or an URL continues the word: not a path.
        if matches!(line[word_end..].chars().next(), Some('<' | '*' | '{' | '$')) {
            continue;
        }
        // `packages/netd/...` names the directory; a sentence's full stop or an ellipsis
        // is not part of the path.
        let path = word.trim_end_matches('.').trim_end_matches('/');
        // One-letter names are placeholders too: `targets/B.toml`, `targets/x.config:12`.
        if path.split('/').any(|c| c.split('.').next().is_some_and(|stem| stem.len() == 1 && stem.chars().all(|c| c.is_ascii_alphabetic()))) {
            continue;
        }
        if !found.iter().any(|(p, _)| p == Path::new(path)) {
            found.push((PathBuf::from(path), word.to_string()));
        }
    }
    found
}

/// `a/b/../c` -> `a/c`, `./a` -> `a`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

#[test]
fn documented_paths_exist() {
    let root = root();
    let files = tracked_files();
    let top_dirs: BTreeSet<String> =
        files.iter().filter(|f| f.components().count() > 1).map(|f| f.components().next().unwrap().as_os_str().to_string_lossy().into_owned()).collect();
    let mut problems = Vec::new();
    for doc in documents(&files) {
        let text = std::fs::read_to_string(root.join(&doc)).unwrap();
        for (n, line) in text.lines().enumerate() {
            for (path, written) in paths_in_line(&doc, line, &top_dirs) {
                if !root.join(&path).exists() {
                    problems.push(format!(
                        "{}:{}: `{written}` names {}, which does not exist: correct the path, or the text if the file is gone",
                        doc.display(),
                        n + 1,
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "documentation names paths that do not exist:\n{}", problems.join("\n"));
}

/// What may not appear in the repository: references to notes and files outside it
/// (spelled in pieces so this file does not contain them either).
const OUTSIDE: &[&str] = &[concat!("shared", "/reference"), concat!("..", "/shared"), concat!("/wo", "rk/")];

#[test]
fn no_references_outside_the_repository() {
    let root = root();
    let me = Path::new("xtask/tests/tidy.rs");
    let mut problems = Vec::new();
    for file in tracked_files() {
        if file == me {
            continue;
        }
        let Ok(bytes) = std::fs::read(root.join(&file)) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        for (n, line) in text.lines().enumerate() {
            for pat in OUTSIDE {
                for (i, _) in line.match_indices(pat) {
                    // `/work/` as an absolute path, not inside an URL (`http://host/work/...`).
                    if *pat == "/work/" && line[..i].chars().next_back().is_some_and(|c| path_char(c) || c == ':' || c == '~') {
                        continue;
                    }
                    problems.push(format!(
                        "{}:{}: `{pat}` refers to a file outside the repository: put the facts in docs/ \
                         (with their public sources) and point there",
                        file.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "the repository refers to files outside it:\n{}", problems.join("\n"));
}

#[test]
fn path_extraction() {
    let top: BTreeSet<String> = ["docs", "xtask", "packages", "targets"].map(String::from).into();
    let doc = Path::new("docs/install/x.md");
    let got = |line: &str| paths_in_line(doc, line, &top).into_iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>();
    assert_eq!(got("see `xtask/src/foo.rs`, and packages/netd/..."), ["xtask/src/foo.rs", "packages/netd"]);
    assert_eq!(got("[guide](../flashing.md#tftp) and [web](https://x.org/docs/a.md)"), ["docs/flashing.md"]);
    assert_eq!(got("`/etc/oxwrt/network.toml` in `target/oxwrt/<board>/` from `targets/<board>.toml`"), Vec::<String>::new());
    assert_eq!(got("`packages/*/package.toml` http://host/docs/x ~/xtask/y"), Vec::<String>::new());
    assert_eq!(got("(docs/kernel.md)."), ["docs/kernel.md"]);
    assert_eq!(got("targets/B.toml -> Board; asked y by targets/x.config:12"), Vec::<String>::new());
}
