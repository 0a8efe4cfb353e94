//! The DHCP server's lease table and its file, `/etc/oxwrt/netd/dhcp.leases` (on the overlay,
//! so leases survive a restart of netd and a reboot; in netd's own directory, which user netd
//! owns), written atomically.
//!
//! One lease per line, dnsmasq-like, times in Unix seconds:
//! ```text
//! # netd DHCP leases: expiry mac ip hostname (* for none)
//! 1767225600 02:00:00:00:00:10 192.168.1.100 laptop
//! ```
//! Expired leases stay in the table (a client that comes back gets its old address again)
//! until a week after they expired. A bad line is skipped and reported, never fatal.

use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

/// Where the leases live on the device.
pub const LEASES_FILE: &str = "/etc/oxwrt/netd/dhcp.leases";

/// Expired leases are forgotten this long after their expiry.
const FORGET_AFTER: u64 = 7 * 86400;

/// One client's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseEntry {
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    /// Unix seconds.
    pub expires: u64,
    /// A DNS label (see [`sanitize_hostname`]).
    pub hostname: Option<String>,
}

/// The leases, by client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseTable {
    pub entries: Vec<LeaseEntry>,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    s.parse::<oxwrt_config::MacAddr>().ok().map(|m| m.octets())
}

pub fn fmt_mac(m: [u8; 6]) -> String {
    oxwrt_config::MacAddr(m).to_string()
}

/// A client's hostname (DHCP option 12) as a DNS label: the part before the first dot,
/// lowercase, letters, digits and `-` only (others dropped), no leading or trailing `-`,
/// at most 63 bytes. None when nothing is left.
pub fn sanitize_hostname(raw: &[u8]) -> Option<String> {
    let first = raw.split(|&b| b == b'.' || b == 0).next().unwrap_or_default();
    let s: String = first.iter().filter(|b| b.is_ascii_alphanumeric() || **b == b'-').map(|b| b.to_ascii_lowercase() as char).collect();
    let s = s.trim_matches('-');
    let s = &s[..s.len().min(63)];
    let s = s.trim_end_matches('-');
    (!s.is_empty()).then(|| s.to_string())
}

impl LeaseTable {
    /// The table of a file's text, and the lines that could not be read.
    pub fn parse(text: &str) -> (LeaseTable, Vec<String>) {
        let mut table = LeaseTable::default();
        let mut bad = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            let entry = match f.as_slice() {
                [exp, mac, ip, host] => (|| {
                    Some(LeaseEntry {
                        expires: exp.parse().ok()?,
                        mac: parse_mac(mac)?,
                        ip: ip.parse().ok()?,
                        hostname: if *host == "*" { None } else { Some(sanitize_hostname(host.as_bytes())?) },
                    })
                })(),
                _ => None,
            };
            match entry {
                Some(e) if !table.entries.iter().any(|o| o.mac == e.mac || o.ip == e.ip) => table.entries.push(e),
                Some(_) => bad.push(format!("line {}: a second lease for the same client or address", n + 1)),
                None => bad.push(format!("line {}: not `expiry mac ip hostname`: {line:?}", n + 1)),
            }
        }
        (table, bad)
    }

    pub fn to_text(&self) -> String {
        let mut s = String::from("# netd DHCP leases: expiry mac ip hostname (* for none)\n");
        for e in &self.entries {
            s.push_str(&format!("{} {} {} {}\n", e.expires, fmt_mac(e.mac), e.ip, e.hostname.as_deref().unwrap_or("*")));
        }
        s
    }

    /// Reads the file (missing: empty), reporting bad lines in the log.
    pub fn load(path: &Path) -> LeaseTable {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let (table, bad) = LeaseTable::parse(&text);
                for b in bad {
                    crate::say!("{}: {b} (skipped)", path.display());
                }
                table
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => LeaseTable::default(),
            Err(e) => {
                crate::say!("cannot read {}: {e}; starting with no leases", path.display());
                LeaseTable::default()
            }
        }
    }

    /// Writes the file atomically (temporary file, fsync, rename), leases expired for more
    /// than a week left out.
    pub fn save(&mut self, path: &Path, now: u64) -> io::Result<()> {
        self.entries.retain(|e| e.expires + FORGET_AFTER > now);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        oxwrt_config::write_atomic(path, self.to_text().as_bytes())
    }

    pub fn by_mac(&self, mac: [u8; 6]) -> Option<&LeaseEntry> {
        self.entries.iter().find(|e| e.mac == mac)
    }

    pub fn by_ip(&self, ip: Ipv4Addr) -> Option<&LeaseEntry> {
        self.entries.iter().find(|e| e.ip == ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_skips_bad_lines() {
        let text = "# c\n100 02:00:00:00:00:10 192.168.1.100 laptop\n200 02:00:00:00:00:11 192.168.1.101 *\n\
                    garbage\n300 02:00:00:00:00:10 192.168.1.102 again\n";
        let (t, bad) = LeaseTable::parse(text);
        assert_eq!(t.entries.len(), 2);
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].starts_with("line 4:"), "{bad:?}");
        assert_eq!(t.entries[0].hostname.as_deref(), Some("laptop"));
        assert_eq!(t.entries[1].hostname, None);
        assert_eq!(LeaseTable::parse(&t.to_text()).0, t);
    }

    #[test]
    fn hostnames_become_dns_labels() {
        assert_eq!(sanitize_hostname(b"Laptop.home"), Some("laptop".into()));
        assert_eq!(sanitize_hostname(b"my pc_1"), Some("mypc1".into()));
        assert_eq!(sanitize_hostname(b"-x-"), Some("x".into()));
        assert_eq!(sanitize_hostname(b"\xff\xfe"), None);
        assert_eq!(sanitize_hostname(&[b'a'; 100]).unwrap().len(), 63);
    }

    #[test]
    fn save_is_atomic_and_forgets_old_leases() {
        let dir = std::env::temp_dir().join(format!("netd-leases-{}", std::process::id()));
        let path = dir.join("dhcp.leases");
        let mut t = LeaseTable::default();
        t.entries.push(LeaseEntry { mac: [2, 0, 0, 0, 0, 1], ip: Ipv4Addr::new(10, 0, 0, 5), expires: 1000, hostname: None });
        t.entries.push(LeaseEntry { mac: [2, 0, 0, 0, 0, 2], ip: Ipv4Addr::new(10, 0, 0, 6), expires: 10, hostname: None });
        t.save(&path, 10 + FORGET_AFTER).unwrap();
        assert_eq!(LeaseTable::load(&path).entries.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
