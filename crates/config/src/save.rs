//! Writing configuration files so that a crash or power cut at any moment leaves either the
//! old file or the new one, never a mix, and never an invalid configuration.
//!
//! `write_atomic`: write a temporary file in the same directory, fsync it, rename it over the
//! target, fsync the directory (so the rename itself survives a power cut).

use crate::problem::File;
use crate::{Config, Error};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Replaces `path` with `bytes` atomically and durably (see the module docs). The new file
/// keeps the old one's permissions (0644 when there was none). On error the old file is
/// untouched and the temporary file removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = parent_dir(path);
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(".{}.tmp.{}.{}", name.to_string_lossy(), std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&tmp)?;
        if let Ok(old) = fs::metadata(path) {
            f.set_permissions(old.permissions())?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Saves the new text of network.toml or firewall.toml (named by `path`'s file name), but only
/// if it parses and, together with the other file of the same directory (missing: its
/// defaults), validates. On any problem nothing is written and the old file stays. Returns the
/// configuration now in effect on disk, to [`crate::diff()`] against the running one.
pub fn save_atomic(path: &Path, text: &str) -> Result<Config, Error> {
    let file = path.file_name().and_then(|n| n.to_str()).and_then(File::from_name);
    let Some(file) = file else { return Err(Error::NotAConfigFile(path.to_path_buf())) };
    let dir = parent_dir(path);
    let config = match file {
        File::Network => Config::parse(text, &crate::read_or_empty(&dir.join(crate::FIREWALL_FILE))?),
        File::Firewall => Config::parse(&crate::read_or_empty(&dir.join(crate::NETWORK_FILE))?, text),
        File::Sqm => return Err(Error::NotAConfigFile(path.to_path_buf())),
        File::Vpn | File::Web => return Err(Error::NotAConfigFile(path.to_path_buf())),
        // Not part of the network configuration: `Time::save`.
        File::Time => return Err(Error::NotAConfigFile(path.to_path_buf())),
    }
    .map_err(Error::Invalid)?;
    write_atomic(path, text.as_bytes()).map_err(|error| Error::Write { path: path.to_path_buf(), error })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("network.toml");
        fs::write(&p, "old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(files(dir.path()), ["network.toml"]);
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_and_keeps_the_target() {
        let dir = tempfile::tempdir().unwrap();
        // A directory in the way: rename(file, non-empty dir) fails.
        let p = dir.path().join("network.toml");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("keep"), "x").unwrap();
        assert!(write_atomic(&p, b"new").is_err());
        assert_eq!(files(dir.path()), ["network.toml"]);
        assert!(p.join("keep").is_file());
    }

    #[test]
    fn save_writes_a_valid_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("network.toml");
        fs::write(&p, "[lan]\nports = [\"eth1\"]\n").unwrap();
        let cfg = save_atomic(&p, "[wan]\nmtu = 1492\n").unwrap();
        assert_eq!(cfg.network.wan.mtu, Some(1492));
        assert_eq!(fs::read_to_string(&p).unwrap(), "[wan]\nmtu = 1492\n");
    }

    #[test]
    fn an_invalid_file_is_not_written_and_the_old_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("network.toml");
        let old = "[lan]\naddress = \"192.168.1.1/24\"\n";
        fs::write(&p, old).unwrap();
        let e = save_atomic(&p, "[wan]\nproto = \"static\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "network.toml:1:2: wan.address: missing: proto = \"static\" needs address and gateway, e.g. address = \"203.0.113.2/24\" (from your ISP)\n\
             network.toml:1:2: wan.gateway: missing: proto = \"static\" needs a gateway (your ISP's router), e.g. gateway = \"203.0.113.1\""
        );
        assert_eq!(fs::read_to_string(&p).unwrap(), old);
        assert_eq!(files(dir.path()), ["network.toml"]);
        // Syntax errors too.
        assert!(matches!(save_atomic(&p, "[wan\n"), Err(Error::Invalid(_))));
        assert_eq!(fs::read_to_string(&p).unwrap(), old);
    }

    #[test]
    fn a_firewall_is_validated_against_the_network_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("network.toml"), "[lan]\naddress = \"10.0.0.1/24\"\n").unwrap();
        let p = dir.path().join("firewall.toml");
        let fw = "[[forward]]\nname = \"web\"\nwan_port = 80\nto = \"192.168.1.10\"\n";
        let e = save_atomic(&p, fw).unwrap_err();
        assert_eq!(
            e.to_string(),
            "firewall.toml:4:1: forward[0].to: 192.168.1.10 is outside the LAN subnet 10.0.0.0/24 (network.toml lan.address); forwards go to LAN hosts"
        );
        assert!(!p.exists());
        save_atomic(&p, &fw.replace("192.168.1.10", "10.0.0.10")).unwrap();
        assert!(p.exists());
    }

    #[test]
    fn only_the_configuration_files_can_be_saved() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        assert_eq!(save_atomic(&p, "").unwrap_err().to_string(), format!("{}: not a configuration file (network.toml or firewall.toml)", p.display()));
    }
}
