//! What netd's tests share: the prerequisite check ([`can_run`]: root and `ip`; without
//! them a test is skipped and listed at the end of the run, or fails under
//! OXWRT_STRICT_TESTS=1; see oxwrt_testkit), scratch directories, and the network
//! namespaces of oxwrt_testkit::netns.

#![allow(dead_code, unused_imports)]

pub use oxwrt_testkit::netns::{enter, run, wait_for, Netns, Proc};
use oxwrt_testkit::Prereq;
use std::path::PathBuf;

/// Whether the test may run here: root, iproute2's `ip`, and `also` (else the test
/// returns: oxwrt_testkit records the skip, or panics under OXWRT_STRICT_TESTS=1).
#[track_caller]
pub fn can_run(also: &[Prereq]) -> bool {
    let mut all = vec![Prereq::Root, Prereq::program("ip", "apt-get install iproute2")];
    all.extend_from_slice(also);
    oxwrt_testkit::require_all(&all)
}

/// A fresh directory for a test's files.
pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netd-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("etc/oxwrt")).unwrap();
    d
}
