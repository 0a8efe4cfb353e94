//! The system page's work: backup (the configuration as a tar archive), restore (an
//! archive checked completely before anything is replaced), reboot (through init), factory
//! reset (a marker init acts on at the next boot, then a reboot).
//!
//! A backup holds the configuration files of /etc/oxwrt that the UI knows how to check
//! ([`RESTORABLE`]: network.toml, firewall.toml), not the password (a secret: its hash is
//! not handed out) nor netd's leases (state, not settings). A restore takes only such an
//! archive back: plain files with those names and nothing else (no directories, links,
//! paths), each at most [`MAX_FILE`] bytes; the two files must parse and validate together
//! (`oxwrt_config::Config::parse`, the rules netd applies), else nothing is written. Then
//! each is replaced atomically (`oxwrt_config::write_atomic`) and netd reloads them.

use std::io::Read;
use std::path::Path;

use oxwrt_config::{Config, FIREWALL_FILE, NETWORK_FILE};

/// The files a backup holds and a restore replaces.
pub const RESTORABLE: &[&str] = &[NETWORK_FILE, FIREWALL_FILE];
pub const MAX_FILE: u64 = 32 * 1024;

/// The backup archive of `dir`: a ustar archive of the files of [`RESTORABLE`] that exist.
pub fn backup(dir: &Path) -> Result<Vec<u8>, String> {
    let mut b = tar::Builder::new(Vec::new());
    for name in RESTORABLE {
        let path = dir.join(name);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot read {}: {}", path.display(), crate::server::describe(&e))),
        };
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data.as_slice()).map_err(|e| format!("cannot build the archive: {e}"))?;
    }
    b.into_inner().map_err(|e| format!("cannot build the archive: {e}"))
}

/// The files of a backup archive, checked (see the module docs): (name, text) pairs.
pub fn check_archive(bytes: &[u8]) -> Result<Vec<(&'static str, String)>, String> {
    let mut files: Vec<(&'static str, String)> = Vec::new();
    let mut a = tar::Archive::new(bytes);
    let entries = a.entries().map_err(|e| format!("not a tar archive: {e}"))?;
    for (i, e) in entries.enumerate() {
        let mut e = e.map_err(|e| format!("not a backup of this router (entry {i}: {e})"))?;
        let raw = e.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let name = RESTORABLE
            .iter()
            .find(|n| n.as_bytes() == raw.as_slice())
            .ok_or_else(|| format!("`{shown}` is not one of the files a backup holds ({}); nothing was restored", RESTORABLE.join(", ")))?;
        if e.header().entry_type() != tar::EntryType::Regular {
            return Err(format!("`{shown}` is not a plain file; nothing was restored"));
        }
        if files.iter().any(|(n, _)| n == name) {
            return Err(format!("`{shown}` is in the archive twice; nothing was restored"));
        }
        let size = e.header().size().map_err(|_| format!("`{shown}`: bad size"))?;
        if size > MAX_FILE {
            return Err(format!("`{shown}` is {size} bytes, more than {MAX_FILE}; nothing was restored"));
        }
        let mut text = String::new();
        (&mut e).take(MAX_FILE).read_to_string(&mut text).map_err(|_| format!("`{shown}` is not UTF-8 text; nothing was restored"))?;
        files.push((name, text));
    }
    if files.is_empty() {
        return Err("the archive holds no configuration file; nothing was restored".into());
    }
    let get = |n: &str| files.iter().find(|(f, _)| *f == n).map_or("", |(_, t)| t.as_str());
    Config::parse(get(NETWORK_FILE), get(FIREWALL_FILE)).map_err(|p| format!("the archive's configuration is invalid, nothing was restored: {p}"))?;
    Ok(files)
}

/// Restores a checked archive into `dir`; returns the names written.
pub fn restore(dir: &Path, bytes: &[u8]) -> Result<Vec<&'static str>, String> {
    let files = check_archive(bytes)?;
    let mut done = Vec::new();
    for (name, text) in &files {
        let path = dir.join(name);
        oxwrt_config::write_atomic(&path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {}; restored so far: {}", path.display(), crate::server::describe(&e), done.join(", ")))?;
        done.push(*name);
    }
    Ok(done)
}

/// The factory-reset marker's name in the configuration directory (init's
/// `FACTORY_RESET_MARKER`: /etc/oxwrt/.factory-reset in the writable layer).
pub const RESET_MARKER: &str = ".factory-reset";

/// Factory reset: writes the marker, then asks init to reboot; init empties the writable
/// layer before it mounts it (packages/init/src/mounts.rs). If the reboot is refused the
/// marker is removed again (no reset at some later reboot).
pub fn factory_reset(dir: &Path) -> Result<(), String> {
    init_reachable()?;
    let marker = dir.join(RESET_MARKER);
    oxwrt_config::write_atomic(&marker, b"factory reset asked for in the web UI\n")
        .map_err(|e| format!("cannot write {}: {}", marker.display(), crate::server::describe(&e)))?;
    reboot_later(Some(marker));
    Ok(())
}

/// Whether init's control socket is there to ask (before promising a reboot).
pub fn init_reachable() -> Result<(), String> {
    let socket = oxinit::control::SOCKET;
    std::fs::metadata(socket)
        .map(drop)
        .map_err(|e| format!("cannot reach init at {socket}: {} (is this an oxwrt device, and is init running?)", crate::server::describe(&e)))
}

/// In 1 s (the page saying so is out by then: init's reboot stops webd at once), asks
/// init for a clean reboot (control socket `reboot`, which group config may send). If
/// init refuses, that is logged, and `marker` (the factory reset's) is taken back.
/// Call within the runtime.
pub fn reboot_later(marker: Option<std::path::PathBuf>) {
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let done = tokio::task::spawn_blocking(|| oxinit::control::call(&oxinit::control::Request::Reboot, &mut std::io::sink())).await;
        let err = match done {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => "internal error".to_owned(),
        };
        crate::LOG.error(format_args!("init refused the reboot asked for in the web UI: {err}"));
        if let Some(m) = marker {
            let _ = std::fs::remove_file(m);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, &[u8], tar::EntryType)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data, kind) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            // Raw name bytes: set_path refuses `..`, which is what is tested here.
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn backup_then_restore_round_trip() {
        let a = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join(NETWORK_FILE), "[lan]\naddress = \"10.1.2.1/24\"\n").unwrap();
        std::fs::write(a.path().join("webd.password"), "scrypt secret").unwrap();
        let bytes = backup(a.path()).unwrap();
        let files = check_archive(&bytes).unwrap();
        assert_eq!(files.len(), 1, "no firewall.toml, no password");
        let b = tempfile::tempdir().unwrap();
        assert_eq!(restore(b.path(), &bytes).unwrap(), vec![NETWORK_FILE]);
        assert_eq!(Config::load(b.path()).unwrap().network.lan.address.to_string(), "10.1.2.1/24");
    }

    #[test]
    fn bad_archives_are_refused_whole() {
        let ok = b"[lan]\naddress = \"10.1.2.1/24\"\n".as_slice();
        let reg = tar::EntryType::Regular;
        for (entries, why) in [
            (vec![("../network.toml", ok, reg)], "is not one of the files"),
            (vec![("/etc/oxwrt/network.toml", ok, reg)], "is not one of the files"),
            (vec![("webd.password", b"x".as_slice(), reg)], "is not one of the files"),
            (vec![("network.toml", b"".as_slice(), tar::EntryType::Symlink)], "not a plain file"),
            (vec![("network.toml", ok, reg), ("network.toml", ok, reg)], "twice"),
            (vec![("network.toml", b"[lan]\naddress = \"10.1.2.1/99\"\n".as_slice(), reg)], "invalid"),
            (vec![("network.toml", ok, reg), ("firewall.toml", b"wan_ping = 3\n".as_slice(), reg)], "invalid"),
            (vec![], "no configuration file"),
        ] {
            let e = check_archive(&archive(&entries)).unwrap_err();
            assert!(e.contains(why), "{entries:?}: {e}");
        }
        assert!(check_archive(b"not a tar at all, just text that is long enough to be a header maybe").is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(restore(dir.path(), &archive(&[("network.toml", ok, reg), ("evil", ok, reg)])).is_err());
        assert!(!dir.path().join(NETWORK_FILE).exists(), "nothing written when any entry is bad");
    }
}
