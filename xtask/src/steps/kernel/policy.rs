//! Kernel security policy that every board inherits.
//!
//! Obsolete and unmaintained filesystems are neither built nor autoloaded: the list is the
//! one openSUSE adopted in 2019 (suse-module-tools' blacklist of local filesystems that
//! mount(8) would otherwise probe on any inserted device). A board may re-enable one
//! explicitly (`kernel.reenable_filesystems`); `check-board` lists what it re-enabled. The
//! generic patch `0001-fs-deny-autoloading-of-obsolete-filesystems` makes the kernel refuse
//! to autoload the rest even on a kernel with modules (CONFIG_FS_AUTOLOAD_DENYLIST).

/// (filesystem type name, Kconfig symbol without CONFIG_). `exofs` was removed from Linux
/// in 4.20 and has no symbol in 6.1; it stays in the autoload deny list.
pub const OBSOLETE_FILESYSTEMS: &[(&str, Option<&str>)] = &[
    ("adfs", Some("ADFS_FS")),
    ("affs", Some("AFFS_FS")),
    ("befs", Some("BEFS_FS")),
    ("bfs", Some("BFS_FS")),
    ("cramfs", Some("CRAMFS")),
    ("efs", Some("EFS_FS")),
    ("erofs", Some("EROFS_FS")),
    ("exofs", None),
    ("f2fs", Some("F2FS_FS")),
    ("freevxfs", Some("VXFS_FS")),
    ("hfs", Some("HFS_FS")),
    ("hpfs", Some("HPFS_FS")),
    ("jfs", Some("JFS_FS")),
    ("minix", Some("MINIX_FS")),
    ("nilfs2", Some("NILFS2_FS")),
    ("ntfs", Some("NTFS_FS")),
    ("omfs", Some("OMFS_FS")),
    ("qnx4", Some("QNX4FS_FS")),
    ("qnx6", Some("QNX6FS_FS")),
    ("sysv", Some("SYSV_FS")),
    ("ufs", Some("UFS_FS")),
];

/// Names of the policy's filesystems.
pub fn names() -> Vec<&'static str> {
    OBSOLETE_FILESYSTEMS.iter().map(|(n, _)| *n).collect()
}

/// The entry for a filesystem name, if it is one of the policy's.
pub fn obsolete_filesystem(name: &str) -> Option<(&'static str, Option<&'static str>)> {
    OBSOLETE_FILESYSTEMS.iter().copied().find(|(n, _)| *n == name)
}

/// Config lines the policy adds for a board: `# CONFIG_X is not set` for each obsolete
/// filesystem not re-enabled, `CONFIG_X=y` for re-enabled ones, and the autoload deny list
/// (the policy's filesystems minus the re-enabled ones).
pub fn config_lines(reenabled: &[String]) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    let mut deny = Vec::new();
    for (name, symbol) in OBSOLETE_FILESYSTEMS {
        let on = reenabled.iter().any(|r| r == name);
        if let Some(sym) = symbol {
            lines.push((sym.to_string(), if on { "y".into() } else { "n".into() }));
        }
        if !on {
            deny.push(*name);
        }
    }
    lines.push(("FS_AUTOLOAD_DENYLIST".into(), format!("\"{}\"", deny.join(","))));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reenabling_builds_it_and_lifts_the_autoload_deny() {
        let lines = config_lines(&["cramfs".into()]);
        assert!(lines.contains(&("CRAMFS".into(), "y".into())));
        assert!(lines.contains(&("JFS_FS".into(), "n".into())));
        let deny = &lines.iter().find(|(k, _)| k == "FS_AUTOLOAD_DENYLIST").unwrap().1;
        assert!(!deny.contains("cramfs") && deny.contains("jfs") && deny.contains("exofs"));
    }
}
