//! Kernel settings for a router, written by netd at start, before it touches a link: one
//! table, [`SETTINGS`], of (setting, value, why, source); docs/network-config.md "Kernel
//! settings" is the same table for readers.
//!
//! # Who writes them
//! netd, as user netd with CAP_NET_ADMIN: every file here is a per-network-namespace
//! setting under /proc/sys/net, and the kernel gives a process with CAP_NET_ADMIN in the
//! namespace's user namespace the owner's (root's) access to those files
//! (`net_ctl_permissions`, net/sysctl_net.c, in 6.1 as today). netd already wrote
//! ip_forward that way. They belong to the network function netd runs, they are applied in
//! netd's own namespace (which is what the tests check, in a namespace of their own), and
//! init stays free of network policy.
//!
//! # Errors
//! A file that does not exist means the kernel lacks the option that provides it: one
//! warning naming the option, never fatal. A file netd may not write: a warning when it is
//! read-only here (`nf_conntrack_max` is global, read-only outside the initial network
//! namespace), an error otherwise; netd goes on either way (the router works without
//! them, less well defended). Each message names the file.

use crate::log::LOG;
use std::io;
use std::path::{Path, PathBuf};

/// What a setting is set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Fixed(&'static str),
    /// [`conntrack_max`] of the RAM (MemTotal of /proc/meminfo).
    ConntrackMax,
}

/// One kernel setting.
#[derive(Debug)]
pub struct Setting {
    /// The file under /proc/sys; `*` (in `net/ipv4/conf/*/...`) stands for `all`,
    /// `default` (links created later) and every link that exists already (a link's own
    /// value counts too: e.g. send_redirects is on when `all` OR the link's is).
    pub key: &'static str,
    pub value: Value,
    pub why: &'static str,
    pub source: &'static str,
    /// The kernel option without which the file does not exist.
    pub option: &'static str,
}

/// The settings, in the order they are applied.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "net/netfilter/nf_conntrack_max",
        value: Value::ConntrackMax,
        why: "the connection table's size for this RAM (conntrack_max): about 1/16384 of it in entries, so a full table (300-400 bytes an entry) costs at most ~2.5% of RAM; the kernel's own default is sized for the hash table, not for a flood",
        source: "kernel Documentation/networking/nf_conntrack-sysctl.rst (nf_conntrack_max, nf_conntrack_buckets); OpenWrt package/kernel/linux/files/sysctl-nf-conntrack.conf (a fixed 16384)",
        option: "CONFIG_NF_CONNTRACK",
    },
    Setting {
        key: "net/netfilter/nf_conntrack_tcp_timeout_established",
        value: Value::Fixed("7440"),
        why: "the kernel keeps an idle established TCP entry 5 days (432000 s): connections whose ends vanished fill the table; 7440 s (2 h 4 min) is the least a NAT may use",
        source: "RFC 5382 REQ-5; OpenWrt package/kernel/linux/files/sysctl-nf-conntrack.conf (7440); nf_conntrack-sysctl.rst",
        option: "CONFIG_NF_CONNTRACK",
    },
    Setting {
        key: "net/ipv4/conf/*/rp_filter",
        value: Value::Fixed("0"),
        why: "off, deliberately: with rp_filter 1 or 2 the kernel drops every packet with a source it has no route back to, and on a WAN with no address yet that is the DHCP server's offer (netd's client uses a UDP socket, not a packet socket); measured: with 2, netd's DHCP client tests (tests/dhcp.rs) get no lease; anti-spoofing belongs in the firewall, where DHCP can be let through",
        source: "kernel Documentation/networking/ip-sysctl.rst (rp_filter); fib_validate_source, net/ipv4/fib_frontend.c",
        option: "CONFIG_INET",
    },
    Setting {
        key: "net/ipv4/conf/*/accept_redirects",
        value: Value::Fixed("0"),
        why: "an ICMP redirect from anyone on a link would change the router's routes",
        source: "kernel Documentation/networking/ip-sysctl.rst (accept_redirects); RFC 1812 4.3.3.2",
        option: "CONFIG_INET",
    },
    Setting {
        key: "net/ipv4/conf/*/send_redirects",
        value: Value::Fixed("0"),
        why: "no host on the router's links has a better first hop than the router; redirects would only tell the topology",
        source: "kernel Documentation/networking/ip-sysctl.rst (send_redirects); RFC 1812 5.2.7.2",
        option: "CONFIG_INET",
    },
    Setting {
        key: "net/ipv6/conf/*/accept_redirects",
        value: Value::Fixed("0"),
        why: "as for IPv4: redirects from the link must not change the router's routes",
        source: "kernel Documentation/networking/ip-sysctl.rst (IPv6 accept_redirects); RFC 4861 8",
        option: "CONFIG_IPV6",
    },
    Setting {
        key: "net/ipv4/tcp_syncookies",
        value: Value::Fixed("1"),
        why: "the router's own TCP services (the web UI, DNS over TCP) keep answering during a SYN flood",
        source: "kernel Documentation/networking/ip-sysctl.rst (tcp_syncookies); RFC 4987 3.6; OpenWrt package/base-files/files/etc/sysctl.d/10-default.conf",
        option: "CONFIG_SYN_COOKIES",
    },
    Setting {
        key: "net/ipv4/icmp_echo_ignore_broadcasts",
        value: Value::Fixed("1"),
        why: "a ping to a broadcast address is the smurf amplifier: one packet, an answer from every host",
        source: "kernel Documentation/networking/ip-sysctl.rst (icmp_echo_ignore_broadcasts); RFC 2644; OpenWrt 10-default.conf",
        option: "CONFIG_INET",
    },
];

/// With `wan.ipv6 = "auto"`: per-device settings that [`crate::ipv6`] applies
/// ([`apply_device`]) when it starts the WAN or LAN side; `WAN` and `LAN` in a key stand for
/// wan.device and lan.bridge. (IPv6 forwarding itself follows the firewall, like
/// ip_forward: [`crate::ipv6::set_forwarding`].)
pub const IPV6_SETTINGS: &[Setting] = &[
    Setting {
        key: "net/ipv6/conf/WAN/accept_ra",
        value: Value::Fixed("2"),
        why: "a router (forwarding on) ignores router advertisements unless accept_ra is 2; the ISP's give the WAN its default route (and SLAAC address)",
        source: "kernel Documentation/networking/ip-sysctl.rst (accept_ra); RFC 7084 4.2 (WAN-side configuration)",
        option: "CONFIG_IPV6",
    },
    Setting {
        key: "net/ipv6/conf/LAN/accept_ra",
        value: Value::Fixed("0"),
        why: "the router advertises on the LAN; an advertisement from a LAN host must not change its routes",
        source: "kernel Documentation/networking/ip-sysctl.rst (accept_ra); RFC 4861 6.2.7",
        option: "CONFIG_IPV6",
    },
];

/// Applies the [`IPV6_SETTINGS`] of `role` ("WAN" or "LAN") to `device` under `root`
/// (/proc/sys), logging like [`apply`]. Returns the files set to a new value.
pub fn apply_device(root: &Path, role: &str, device: &str) -> Vec<PathBuf> {
    let mut changed = Vec::new();
    for s in IPV6_SETTINGS.iter().filter(|s| s.key.split('/').any(|part| part == role)) {
        let Value::Fixed(value) = s.value else { continue };
        let key = s.key.replace(&format!("/{role}/"), &format!("/{device}/"));
        let path = root.join(key);
        match set(&path, value) {
            Outcome::Unchanged => {}
            Outcome::Set(_) => changed.push(path),
            Outcome::Missing => {
                LOG.warn(format_args!("{} does not exist: no device {device}, or a kernel without {}; not set to {value}", path.display(), s.option));
            }
            Outcome::ReadOnly(now) => {
                LOG.warn(format_args!("{} is read-only here: left at {now}, not {value}", path.display()));
            }
            Outcome::Failed(e) => {
                LOG.error(format_args!("{}: {e}; netd needs CAP_NET_ADMIN in its network namespace to set it", path.display()));
            }
        }
    }
    changed
}

/// Connection-table entries per byte of RAM: one per 16 KiB.
const RAM_PER_ENTRY: u64 = 16 * 1024;
/// Bounds of [`conntrack_max`]: the least that keeps a small LAN working, and the most a
/// home router needs (the kernel's own default on a 32-bit machine with more than 1 GiB).
pub const CONNTRACK_MIN: u64 = 512;
pub const CONNTRACK_CAP: u64 = 65536;

/// The connection table's size for `mem_total_kib` of RAM (MemTotal): one entry per 16 KiB,
/// from [`CONNTRACK_MIN`] to [`CONNTRACK_CAP`]. A 16 MiB WRT54G (MemTotal about 13.5 MiB)
/// gets about 860; 256 MiB gets 16384, OpenWrt's fixed value; 1 GiB and more, 65536. The
/// kernel's default is the size of its hash table (RAM / 16384 / pointer size buckets, at
/// least 1024), one entry per bucket; this is the same order on small boards and 4 times
/// it on 32-bit boards of 64 MiB and more. An entry (struct nf_conn in its slab, with
/// the NAT and accounting extensions) is 300-400 bytes, so a full table costs at most
/// ~2.5% of RAM.
pub fn conntrack_max(mem_total_kib: u64) -> u64 {
    (mem_total_kib.saturating_mul(1024) / RAM_PER_ENTRY).clamp(CONNTRACK_MIN, CONNTRACK_CAP)
}

/// MemTotal (KiB) from /proc/meminfo's text.
pub fn mem_total_kib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let n = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(n)
}

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already the value.
    Unchanged,
    /// Written: it was the old value.
    Set(String),
    /// No such file (the kernel lacks the option).
    Missing,
    /// Read-only here (mode 0444: a global setting outside the initial namespace); its value.
    ReadOnly(String),
    Failed(String),
}

/// The files `key` names under `root` (/proc/sys): `*` expanded.
pub fn files(root: &Path, key: &str) -> Vec<PathBuf> {
    let Some((dir, leaf)) = key.split_once("/*/") else { return vec![root.join(key)] };
    let mut names = vec!["all".to_string(), "default".to_string()];
    if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
        let mut links: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n != "all" && n != "default").collect();
        links.sort();
        names.extend(links);
    }
    names.into_iter().map(|n| root.join(dir).join(n).join(leaf)).collect()
}

/// Sets one file to `value` unless it has it.
pub fn set(path: &Path, value: &str) -> Outcome {
    use std::os::unix::fs::PermissionsExt;
    let now = match std::fs::read_to_string(path) {
        Ok(s) => s.trim().to_string(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Outcome::Missing,
        Err(e) => return Outcome::Failed(format!("cannot read it: {e}")),
    };
    if now == value {
        return Outcome::Unchanged;
    }
    match std::fs::write(path, format!("{value}\n")) {
        Ok(()) => Outcome::Set(now),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied && std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o222 == 0) => {
            Outcome::ReadOnly(now)
        }
        Err(e) => Outcome::Failed(format!("cannot write {value} (it is {now}): {e}")),
    }
}

/// Applies [`SETTINGS`] under `root` (/proc/sys) with `meminfo` (/proc/meminfo), logging what
/// fails (see the module docs) and one line of what the connection table got. Returns the
/// files set to a new value.
pub fn apply(root: &Path, meminfo: &Path) -> Vec<PathBuf> {
    let mut changed = Vec::new();
    for s in SETTINGS {
        let value = match s.value {
            Value::Fixed(v) => v.to_string(),
            Value::ConntrackMax => match std::fs::read_to_string(meminfo).ok().as_deref().and_then(mem_total_kib) {
                Some(kib) => {
                    let max = conntrack_max(kib);
                    let buckets =
                        std::fs::read_to_string(root.join("net/netfilter/nf_conntrack_buckets")).map(|b| b.trim().to_string()).unwrap_or_else(|_| "?".into());
                    LOG.info(format_args!(
                        "conntrack: up to {max} connections for {kib} KiB of RAM; {buckets} hash buckets (the kernel sizes it at boot; nf_conntrack.hashsize= on the command line changes it)"
                    ));
                    max.to_string()
                }
                None => {
                    LOG.warn(format_args!("{}: no MemTotal line; {} left as the kernel set it", meminfo.display(), root.join(s.key).display()));
                    continue;
                }
            },
        };
        for path in files(root, s.key) {
            match set(&path, &value) {
                Outcome::Unchanged => {}
                Outcome::Set(_) => changed.push(path),
                Outcome::Missing => {
                    // Once per setting: the other links lack it for the same reason.
                    LOG.warn(format_args!("{} does not exist: the kernel was built without {}; not set to {value}", path.display(), s.option));
                    break;
                }
                Outcome::ReadOnly(now) => {
                    LOG.warn(format_args!(
                        "{} is read-only here (a global setting, writable only in the initial network namespace): left at {now}, not {value}",
                        path.display()
                    ));
                }
                Outcome::Failed(e) => {
                    LOG.error(format_args!("{}: {e}; netd needs CAP_NET_ADMIN in its network namespace to set it", path.display()));
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conntrack_max_follows_the_ram() {
        // A WRT54G: 16 MiB, of which the kernel keeps some.
        assert_eq!(conntrack_max(13_824), 864);
        assert!(conntrack_max(16 * 1024) <= 1024);
        assert_eq!(conntrack_max(32 * 1024), 2048);
        assert_eq!(conntrack_max(256 * 1024), 16384);
        assert_eq!(conntrack_max(1024 * 1024), CONNTRACK_CAP);
        assert_eq!(conntrack_max(24 * 1024 * 1024), CONNTRACK_CAP);
        assert_eq!(conntrack_max(1024), CONNTRACK_MIN);
        assert_eq!(conntrack_max(u64::MAX), CONNTRACK_CAP);
    }

    #[test]
    fn reads_mem_total() {
        assert_eq!(mem_total_kib("MemTotal:          13824 kB\nMemFree: 1 kB\n"), Some(13824));
        assert_eq!(mem_total_kib("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total_kib("MemTotal: lots\n"), None);
    }

    #[test]
    fn every_setting_says_why_and_where_from() {
        for s in SETTINGS.iter().chain(IPV6_SETTINGS) {
            assert!(!s.why.is_empty() && !s.source.is_empty() && s.option.starts_with("CONFIG_"), "{s:?}");
            assert!(!s.key.starts_with('/') && !s.key.contains('.'), "a path under /proc/sys: {s:?}");
        }
    }

    #[test]
    fn ipv6_device_settings_go_to_the_named_device() {
        let root = std::env::temp_dir().join(format!("netd-sysctl6-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for d in ["eth0", "br-lan"] {
            std::fs::create_dir_all(root.join("net/ipv6/conf").join(d)).unwrap();
            std::fs::write(root.join("net/ipv6/conf").join(d).join("accept_ra"), "1\n").unwrap();
        }
        assert_eq!(apply_device(&root, "WAN", "eth0"), [root.join("net/ipv6/conf/eth0/accept_ra")]);
        assert_eq!(apply_device(&root, "LAN", "br-lan"), [root.join("net/ipv6/conf/br-lan/accept_ra")]);
        assert_eq!(std::fs::read_to_string(root.join("net/ipv6/conf/eth0/accept_ra")).unwrap(), "2\n");
        assert_eq!(std::fs::read_to_string(root.join("net/ipv6/conf/br-lan/accept_ra")).unwrap(), "0\n");
        assert!(apply_device(&root, "WAN", "eth0").is_empty(), "already set");
        assert!(apply_device(&root, "WAN", "eth9").is_empty(), "no such device: a warning, nothing set");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn sets_files_expands_links_and_reports_missing_ones() {
        let root = std::env::temp_dir().join(format!("netd-sysctl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for d in ["all", "default", "eth0", "eth0.1"] {
            std::fs::create_dir_all(root.join("net/ipv4/conf").join(d)).unwrap();
            std::fs::write(root.join("net/ipv4/conf").join(d).join("send_redirects"), "1\n").unwrap();
        }
        let names: Vec<PathBuf> = files(&root, "net/ipv4/conf/*/send_redirects");
        let want: Vec<PathBuf> = ["all", "default", "eth0", "eth0.1"].iter().map(|d| root.join("net/ipv4/conf").join(d).join("send_redirects")).collect();
        assert_eq!(names, want);
        assert_eq!(set(&want[2], "0"), Outcome::Set("1".into()));
        assert_eq!(std::fs::read_to_string(&want[2]).unwrap(), "0\n");
        assert_eq!(set(&want[2], "0"), Outcome::Unchanged);
        assert_eq!(set(&root.join("net/netfilter/nf_conntrack_max"), "864"), Outcome::Missing);

        std::fs::write(root.join("meminfo"), "MemTotal: 13824 kB\n").unwrap();
        std::fs::create_dir_all(root.join("net/netfilter")).unwrap();
        std::fs::write(root.join("net/netfilter/nf_conntrack_max"), "4096\n").unwrap();
        let changed = apply(&root, &root.join("meminfo"));
        assert_eq!(std::fs::read_to_string(root.join("net/netfilter/nf_conntrack_max")).unwrap(), "864\n");
        assert!(changed.contains(&root.join("net/ipv4/conf/eth0.1/send_redirects")), "{changed:?}");
        assert!(!changed.contains(&want[2]), "already 0: {changed:?}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
