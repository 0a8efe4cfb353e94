//! The init binary's applets with standard output or error a pipe nobody reads (EPIPE on
//! every write): they exit with a status, never a panic (which `println!` would be).

use std::os::fd::OwnedFd;
use std::process::{Command, Output, Stdio};

/// The write end of a pipe whose read end is already closed.
fn dead_pipe() -> Stdio {
    let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
    drop(r);
    Stdio::from(w)
}

fn init(args: &[&str], stdout: Stdio, stderr: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_init")).args(args).stdin(Stdio::null()).stdout(stdout).stderr(stderr).output().unwrap()
}

fn no_panic(out: &Output) {
    assert_ne!(out.status.code(), Some(101), "panicked: {out:?}");
    assert!(out.status.code().is_some(), "killed by a signal: {out:?}");
}

#[test]
fn version_to_a_closed_stdout_exits_1() {
    let out = init(&["--version"], dead_pipe(), Stdio::piped());
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let ok = init(&["--version"], Stdio::piped(), Stdio::piped());
    assert_eq!((ok.status.code(), String::from_utf8_lossy(&ok.stdout).starts_with("oxwrt init ")), (Some(0), true));
}

#[test]
fn errors_to_a_closed_stderr_keep_their_exit_status() {
    // Not PID 1, no applet: usage on stderr, status 2.
    let out = init(&[], Stdio::piped(), dead_pipe());
    no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    let out = init(&["frobnicate"], Stdio::piped(), dead_pipe());
    assert_eq!(out.status.code(), Some(2));
    // `logread` with a bad argument: its error on stderr, status 1.
    let out = init(&["logread", "-x"], dead_pipe(), dead_pipe());
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
}
