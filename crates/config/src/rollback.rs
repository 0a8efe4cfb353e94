//! Apply with rollback: a change that can cut the administrator off (LAN address, WAN,
//! firewall) is applied at once but kept only if it is confirmed within a window
//! ([`WINDOW`], 90 s); otherwise the previous files come back and are applied.
//!
//! On flash, in the configuration directory:
//! - `.rollback/NAME` the previous text of each file the change replaces;
//! - `.rollback/pending`, written last (atomically), the marker: `boot_id DEADLINE FILE...`
//!   where DEADLINE is in seconds of the boot's clock (/proc/uptime: it does not jump
//!   with the wall clock, which a router without a battery-backed clock sets late), and
//!   a FILE written `-NAME` did not exist before (a rollback removes it).
//!
//! Who reverts:
//! - the web UI (webd) when the window ends without confirmation, and when it starts and
//!   finds a marker whose window has ended or that is from an earlier boot;
//! - init at boot, before any service starts, for any marker: a power cut or a crash
//!   during the window boots the previous configuration.
//!
//! Confirming removes the marker first, then the copies. Only one change is pending at a
//! time ([`pending`] is checked before [`begin`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::write_atomic;

/// How long a change waits for its confirmation.
pub const WINDOW: Duration = Duration::from_secs(90);
/// The directory of the previous files, inside the configuration directory.
pub const DIR: &str = ".rollback";
pub const MARKER: &str = "pending";

/// A change waiting for confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub boot_id: String,
    /// Seconds since boot ([`uptime`]) when the window ends.
    pub deadline: u64,
    /// The files replaced, and whether each existed before.
    pub files: Vec<(String, bool)>,
}

impl Pending {
    /// Whether the window is over at `now` (seconds since boot) of boot `boot_id`.
    pub fn expired(&self, boot_id: &str, now: u64) -> bool {
        self.boot_id != boot_id || now >= self.deadline
    }
}

/// This boot's id (/proc/sys/kernel/random/boot_id), "" when unknown.
pub fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// Whole seconds since boot (/proc/uptime), 0 when unknown.
pub fn uptime() -> u64 {
    fs::read_to_string("/proc/uptime").ok().and_then(|s| s.split('.').next()?.trim().parse().ok()).unwrap_or(0)
}

fn rdir(dir: &Path) -> PathBuf {
    dir.join(DIR)
}

/// The pending change in `dir`, if any (a marker that does not parse counts as one from
/// another boot: it is reverted).
pub fn pending(dir: &Path) -> Option<Pending> {
    let text = fs::read_to_string(rdir(dir).join(MARKER)).ok()?;
    let mut w = text.split_whitespace();
    let boot_id = w.next().unwrap_or("").to_owned();
    let deadline = w.next().and_then(|d| d.parse().ok()).unwrap_or(0);
    let files = w
        .map(|f| match f.strip_prefix('-') {
            Some(n) => (n.to_owned(), false),
            None => (f.to_owned(), true),
        })
        .collect();
    Some(Pending { boot_id, deadline, files })
}

/// A file name that may be saved and restored: plain, in the directory itself.
fn plain(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.starts_with('-') && !name.contains(['/', '\\']) && !name.contains(char::is_whitespace)
}

/// Saves the current text of `files` (names in `dir`) and writes the marker, before the
/// change is written. Err: nothing is pending (the change must not be written).
pub fn begin(dir: &Path, files: &[&str], boot_id: &str, deadline: u64) -> io::Result<()> {
    let r = rdir(dir);
    fs::create_dir_all(&r)?;
    let mut marker = format!("{} {deadline}", if boot_id.is_empty() { "unknown" } else { boot_id });
    for name in files {
        if !plain(name) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("`{name}` is not a plain file name")));
        }
        match fs::read(dir.join(name)) {
            Ok(old) => {
                write_atomic(&r.join(name), &old)?;
                marker.push_str(&format!(" {name}"));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => marker.push_str(&format!(" -{name}")),
            Err(e) => return Err(e),
        }
    }
    marker.push('\n');
    write_atomic(&r.join(MARKER), marker.as_bytes())
}

/// Keeps the change: the marker goes first, then the copies.
pub fn confirm(dir: &Path) -> io::Result<()> {
    let r = rdir(dir);
    match fs::remove_file(r.join(MARKER)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    let _ = fs::remove_dir_all(&r);
    Ok(())
}

/// Puts the previous files back (atomically, each) and removes the marker; returns the
/// names put back. Nothing pending: Ok(empty).
pub fn revert(dir: &Path) -> io::Result<Vec<String>> {
    let Some(p) = pending(dir) else { return Ok(Vec::new()) };
    let r = rdir(dir);
    let mut done = Vec::new();
    for (name, existed) in &p.files {
        if !plain(name) {
            continue;
        }
        if *existed {
            let old = fs::read(r.join(name))?;
            write_atomic(&dir.join(name), &old)?;
        } else {
            match fs::remove_file(dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        done.push(name.clone());
    }
    confirm(dir)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_then_revert_restores_and_removes() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("network.toml"), "old network").unwrap();
        begin(d.path(), &["network.toml", "firewall.toml"], "b1", 190).unwrap();
        let p = pending(d.path()).unwrap();
        assert_eq!(p, Pending { boot_id: "b1".into(), deadline: 190, files: vec![("network.toml".into(), true), ("firewall.toml".into(), false)] });
        assert!(!p.expired("b1", 189));
        assert!(p.expired("b1", 190));
        assert!(p.expired("b2", 0), "another boot");
        fs::write(d.path().join("network.toml"), "new network").unwrap();
        fs::write(d.path().join("firewall.toml"), "new firewall").unwrap();
        assert_eq!(revert(d.path()).unwrap(), vec!["network.toml", "firewall.toml"]);
        assert_eq!(fs::read_to_string(d.path().join("network.toml")).unwrap(), "old network");
        assert!(!d.path().join("firewall.toml").exists());
        assert_eq!(pending(d.path()), None);
        assert!(!d.path().join(DIR).exists());
        assert_eq!(revert(d.path()).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn confirm_keeps_the_change() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("network.toml"), "old").unwrap();
        begin(d.path(), &["network.toml"], "b", 10).unwrap();
        fs::write(d.path().join("network.toml"), "new").unwrap();
        confirm(d.path()).unwrap();
        assert_eq!(pending(d.path()), None);
        assert_eq!(revert(d.path()).unwrap(), Vec::<String>::new());
        assert_eq!(fs::read_to_string(d.path().join("network.toml")).unwrap(), "new");
    }

    #[test]
    fn only_plain_names() {
        let d = tempfile::tempdir().unwrap();
        assert!(begin(d.path(), &["../x"], "b", 1).is_err());
        assert!(begin(d.path(), &[".rollback"], "b", 1).is_err());
        assert_eq!(pending(d.path()), None, "no marker after a refusal");
    }
}
