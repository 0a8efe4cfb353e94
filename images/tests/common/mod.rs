//! Helpers shared by the integration tests: running the independent tools (sgdisk,
//! sfdisk, fsck.fat, mtools) that check our encoders, and scratch disk images.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Command;

pub const MIB: u64 = 1 << 20;

/// What a tool printed.
pub struct Output {
    pub success: bool,
    pub raw_stdout: Vec<u8>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tool` from Debian package `package`; a missing tool fails the test (with the
/// package to install), it does not skip it.
pub fn run(tool: &str, args: &[&str], package: &str) -> Output {
    let output =
        Command::new(tool).args(args).env("LC_ALL", "C").output().unwrap_or_else(|e| panic!("cannot run {tool} ({e}): install the Debian package `{package}`"));
    Output {
        success: output.status.success(),
        raw_stdout: output.stdout.clone(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `tool` and requires it to succeed; returns its standard output.
pub fn run_ok(tool: &str, args: &[&str], package: &str) -> String {
    let out = run(tool, args, package);
    assert!(out.success, "{tool} {args:?} failed:\n{}\n{}", out.stdout, out.stderr);
    out.stdout
}

/// A sparse scratch file of `size` bytes.
pub fn scratch_disk(size: u64) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    file.as_file().set_len(size).expect("set_len");
    file
}

/// A scratch file holding `bytes`.
pub fn scratch_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), bytes).expect("write temp file");
    file
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// Overwrites one byte of a file.
pub fn flip_byte(path: &Path, offset: u64) {
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.read_exact(&mut byte).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    std::io::Write::write_all(&mut file, &[byte[0] ^ 0xFF]).unwrap();
}

pub fn open(path: &Path) -> File {
    std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap()
}
