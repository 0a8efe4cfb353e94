//! Test prerequisites, one mechanism for the whole workspace (a dev-dependency only).
//!
//! A test that needs something the host may lack (root for network namespaces, a program
//! such as `dnsmasq`, a built file) asks first and returns when told to:
//!
//! ```no_run
//! use oxwrt_testkit::{require_all, Prereq};
//! # fn body() {
//! if !require_all(&[Prereq::Root, Prereq::program("dnsmasq", "apt-get install dnsmasq-base")]) {
//!     return;
//! }
//! // ... the test proper
//! # }
//! ```
//!
//! What a missing prerequisite does depends on [`STRICT_ENV`]:
//! - `OXWRT_STRICT_TESTS=1` (`cargo xtask test` and CI set it): the test fails, panicking
//!   with what is missing and how to get it (the Debian package, "run as root", or
//!   `cargo xtask setup`). Nothing is skipped silently where the results count.
//! - unset (a developer's plain `cargo test`, maybe not as root): the test returns, so it
//!   shows as passed, but the skip is recorded and, when the test binary exits, a summary
//!   goes to stderr (written by an `atexit` handler, so it shows even with `--quiet` and
//!   after libtest's own summary):
//!
//! ```text
//! 2 test(s) skipped (a prerequisite is missing; OXWRT_STRICT_TESTS=1 makes that a failure):
//!   applies_bridge_ports: root (fix: run the tests as root, e.g. `sudo -E cargo test`)
//!   leases_from_dnsmasq: program `dnsmasq` (fix: apt-get install dnsmasq-base)
//! ```
//!
//! The test's name is its thread's (libtest names each test's thread after the test), so
//! call these at the start of the test, not on a thread it spawned. The functions are
//! `#[track_caller]`: a strict failure points at the test's line (mark helpers that
//! wrap them the same way).

pub mod mutation;
pub mod netns;

use std::path::Path;
use std::sync::{Mutex, Once};

/// The environment variable that makes a missing prerequisite a failure: set and neither
/// empty nor `0`.
pub const STRICT_ENV: &str = "OXWRT_STRICT_TESTS";

/// How to become root for the tests.
pub const ROOT_FIX: &str = "run the tests as root, e.g. `sudo -E cargo test`";

/// Something a test needs from the host.
#[derive(Clone, Copy, Debug)]
pub enum Prereq<'a> {
    /// Effective user id 0 (network namespaces, nftables, raw sockets).
    Root,
    /// A program found on PATH; `fix` says how to install it ("apt-get install iproute2").
    Program { name: &'a str, fix: &'a str },
    /// A file that must exist (a built kernel, an image); `fix` says how to make it.
    File { path: &'a Path, fix: &'a str },
}

impl<'a> Prereq<'a> {
    pub fn program(name: &'a str, fix: &'a str) -> Prereq<'a> {
        Prereq::Program { name, fix }
    }

    pub fn file(path: &'a Path, fix: &'a str) -> Prereq<'a> {
        Prereq::File { path, fix }
    }

    /// None when present; else what is missing and its fix.
    pub fn check(&self) -> Option<Missing> {
        match *self {
            Prereq::Root => (!is_root()).then(|| Missing::new("root", ROOT_FIX)),
            Prereq::Program { name, fix } => (!on_path(name)).then(|| Missing::new(format!("program `{name}` (not on PATH)"), fix)),
            Prereq::File { path, fix } => (!path.exists()).then(|| Missing::new(format!("file {}", path.display()), fix)),
        }
    }
}

/// A missing prerequisite and how to get it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub what: String,
    pub fix: String,
}

impl Missing {
    pub fn new(what: impl Into<String>, fix: impl Into<String>) -> Missing {
        Missing { what: what.into(), fix: fix.into() }
    }
}

/// A test that was skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub test: String,
    pub missing: Vec<Missing>,
}

/// Whether the test may run: true when `prereq` is present. Else it panics (strict mode)
/// or records the skip and returns false.
#[track_caller]
pub fn require(prereq: Prereq) -> bool {
    require_all(&[prereq])
}

/// [`require`] for several prerequisites at once (every missing one is reported).
#[track_caller]
pub fn require_all(prereqs: &[Prereq]) -> bool {
    let missing: Vec<Missing> = prereqs.iter().filter_map(Prereq::check).collect();
    missing.is_empty() || unavailable(missing)
}

/// `require(Prereq::Root)`.
#[track_caller]
pub fn require_root() -> bool {
    require(Prereq::Root)
}

/// `require(Prereq::program(name, fix))`.
#[track_caller]
pub fn require_program(name: &str, fix: &str) -> bool {
    require(Prereq::program(name, fix))
}

/// For a test that found out by itself that it cannot run (e.g. creating a namespace
/// failed with EPERM): panics in strict mode, else records the skip and returns false
/// (the test then returns).
#[track_caller]
pub fn missing(what: &str, fix: &str) -> bool {
    unavailable(vec![Missing::new(what, fix)])
}

/// Whether [`STRICT_ENV`] asks for failures instead of skips.
pub fn strict() -> bool {
    std::env::var_os(STRICT_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The skips recorded so far in this process.
pub fn skipped() -> Vec<Skip> {
    SKIPS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

static SKIPS: Mutex<Vec<Skip>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

#[track_caller]
fn unavailable(missing: Vec<Missing>) -> bool {
    let test = current_test();
    match outcome(strict(), &test, missing) {
        Err(message) => panic!("{message}"),
        Ok(skip) => {
            AT_EXIT.call_once(|| {
                // SAFETY: registers a plain extern "C" function with no preconditions.
                let r = unsafe { libc::atexit(print_summary) };
                if r != 0 {
                    eprintln!("oxwrt-testkit: atexit failed: skipped tests will not be summarized");
                }
            });
            SKIPS.lock().unwrap_or_else(|e| e.into_inner()).push(skip);
            false
        }
    }
}

fn current_test() -> String {
    std::thread::current().name().unwrap_or("<unnamed thread>").to_string()
}

/// Strict: Err(the panic message). Else: Ok(the skip to record).
fn outcome(strict: bool, test: &str, missing: Vec<Missing>) -> Result<Skip, String> {
    if strict {
        let list: Vec<String> = missing.iter().map(|m| format!("{} (fix: {})", m.what, m.fix)).collect();
        return Err(format!("{test}: missing prerequisite: {}. {STRICT_ENV}=1 makes this a failure (without it the test would be skipped)", list.join("; ")));
    }
    Ok(Skip { test: test.to_string(), missing })
}

/// The end-of-run text; empty when nothing was skipped.
fn summary(skips: &[Skip]) -> String {
    if skips.is_empty() {
        return String::new();
    }
    let mut text = format!("\n{} test(s) skipped (a prerequisite is missing; {STRICT_ENV}=1 makes that a failure):\n", skips.len());
    for s in skips {
        let list: Vec<String> = s.missing.iter().map(|m| format!("{} (fix: {})", m.what, m.fix)).collect();
        text += &format!("  {}: {}\n", s.test, list.join("; "));
    }
    text
}

extern "C" fn print_summary() {
    let text = summary(&skipped());
    // Straight to fd 2: std's stderr handle may be gone this late in the exit.
    let mut bytes = text.as_bytes();
    while !bytes.is_empty() {
        // SAFETY: writes from a valid buffer of the given length.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            break;
        }
        bytes = &bytes[n as usize..];
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `name` (or a path, if it has a slash) is an executable file, looked up as
/// `Command::new` would (PATH, or the default path when it is unset).
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if name.contains('/') {
        return executable(Path::new(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).any(|dir| executable(&dir.join(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const NO_SUCH: &str = "oxwrt-testkit-no-such-program";

    #[test]
    fn strict_mode_fails_naming_what_is_missing_and_the_fix() {
        let e = outcome(true, "some_test", vec![Missing::new("program `dnsmasq`", "apt-get install dnsmasq-base")]).unwrap_err();
        assert!(e.starts_with("some_test: missing prerequisite: program `dnsmasq` (fix: apt-get install dnsmasq-base)."), "{e}");
        assert!(e.contains("OXWRT_STRICT_TESTS=1"), "{e}");
    }

    #[test]
    fn non_strict_mode_records_and_summarizes() {
        let skips = [
            outcome(false, "a", vec![Missing::new("root", ROOT_FIX)]).unwrap(),
            outcome(false, "b", vec![Missing::new("root", ROOT_FIX), Missing::new("program `nft`", "apt-get install nftables")]).unwrap(),
        ];
        assert_eq!(skips[0], Skip { test: "a".into(), missing: vec![Missing::new("root", ROOT_FIX)] });
        let text = summary(&skips);
        assert!(text.contains("2 test(s) skipped"), "{text}");
        assert!(text.contains(&format!("  a: root (fix: {ROOT_FIX})\n")), "{text}");
        assert!(text.contains(&format!("  b: root (fix: {ROOT_FIX}); program `nft` (fix: apt-get install nftables)\n")), "{text}");
        assert_eq!(summary(&[]), "");
    }

    #[test]
    fn prerequisites_are_checked() {
        assert!(Prereq::program("sh", "-").check().is_none());
        assert!(Prereq::program("/bin/sh", "-").check().is_none());
        let m = Prereq::program(NO_SUCH, "apt-get install nothing").check().unwrap();
        assert_eq!(m, Missing::new(format!("program `{NO_SUCH}` (not on PATH)"), "apt-get install nothing"));
        assert!(Prereq::file(Path::new("/"), "-").check().is_none());
        assert!(Prereq::file(Path::new("/nonexistent/oxwrt"), "cargo xtask build").check().is_some());
        assert_eq!(Prereq::Root.check().is_none(), is_root());
    }

    // The two below run in a child process of this test binary (`--ignored --exact`), the
    // way a real test would: through the public functions, the thread name, the env var
    // and the atexit summary.

    #[test]
    #[ignore = "run in a child process by the_end_of_run_summary_and_strict_failures"]
    fn child_missing_program() {
        assert!(!require_program(NO_SUCH, "apt-get install nothing"));
    }

    #[test]
    #[ignore = "run in a child process by the_end_of_run_summary_and_strict_failures"]
    fn child_missing_file() {
        let path = Path::new("/nonexistent/oxwrt");
        assert!(!require_all(&[Prereq::program("sh", "-"), Prereq::file(path, "cargo xtask build")]));
    }

    fn child(strict: Option<&str>) -> (bool, String, String) {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--ignored", "--quiet", "--test-threads=1", "child_"]).env_remove(STRICT_ENV);
        if let Some(v) = strict {
            cmd.env(STRICT_ENV, v);
        }
        let out = cmd.output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    #[test]
    fn the_end_of_run_summary_and_strict_failures() {
        for strict in [None, Some("0"), Some("")] {
            let (ok, stdout, stderr) = child(strict);
            assert!(ok, "{strict:?}: skipped, not failed:\n{stdout}\n{stderr}");
            let expected = format!(
                "2 test(s) skipped (a prerequisite is missing; OXWRT_STRICT_TESTS=1 makes that a failure):\n  \
                 tests::child_missing_file: file /nonexistent/oxwrt (fix: cargo xtask build)\n  \
                 tests::child_missing_program: program `{NO_SUCH}` (not on PATH) (fix: apt-get install nothing)\n"
            );
            assert!(stderr.ends_with(&expected), "{strict:?}: the summary ends stderr:\n{stderr}");
        }
        let (ok, stdout, stderr) = child(Some("1"));
        assert!(!ok, "strict: failed:\n{stdout}\n{stderr}");
        let all = stdout + &stderr;
        assert!(
            all.contains(&format!("tests::child_missing_program: missing prerequisite: program `{NO_SUCH}` (not on PATH) (fix: apt-get install nothing)")),
            "{all}"
        );
        assert!(all.contains("tests::child_missing_file: missing prerequisite: file /nonexistent/oxwrt (fix: cargo xtask build)"), "{all}");
        assert!(!all.contains("skipped ("), "strict: nothing recorded as skipped:\n{all}");
    }
}
