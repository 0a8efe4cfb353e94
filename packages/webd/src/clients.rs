//! The clients page: DHCP leases (netd's lease file) and the kernel's IPv4 neighbours
//! (/proc/net/arp). Both files are read as untrusted text: a client chooses its own
//! hostname, and it is shown only as escaped text (maud).

use maud::{html, Markup};

use crate::pages;

/// netd's lease file (packages/netd/src/leases.rs: `expiry mac ip hostname`, `*` for none).
pub const LEASES_FILE: &str = "/etc/oxwrt/netd/dhcp.leases";
/// At most this many lines of either file are shown (bounded work per request).
pub const MAX_ROWS: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub expires: u64,
    pub mac: String,
    pub ip: String,
    pub hostname: Option<String>,
}

/// The leases of a lease file's text; bad lines are skipped.
pub fn parse_leases(text: &str) -> Vec<Lease> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let expires = w.next()?.parse().ok()?;
            let (mac, ip) = (w.next()?.to_owned(), w.next()?.to_owned());
            let hostname = w.next().filter(|h| *h != "*").map(str::to_owned);
            Some(Lease { expires, mac, ip, hostname })
        })
        .take(MAX_ROWS)
        .collect()
}

/// The leases of the file at `path` (none if it cannot be read).
pub fn leases(path: &str) -> Vec<Lease> {
    crate::status::read(path).map(|t| parse_leases(&t)).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub ip: String,
    pub mac: String,
    pub device: String,
}

/// /proc/net/arp: `IP HWtype Flags HWaddress Mask Device`; incomplete entries (flags 0x0)
/// are left out.
pub fn parse_arp(text: &str) -> Vec<Neighbour> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let [ip, _, flags, mac, _, device] = w.as_slice() else { return None };
            (*flags != "0x0").then(|| Neighbour { ip: ip.to_string(), mac: mac.to_string(), device: device.to_string() })
        })
        .take(MAX_ROWS)
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub fn page(hostname: &str, csrf: &str) -> Markup {
    let leases = leases(LEASES_FILE);
    let neighbours = crate::status::read("/proc/net/arp").map(|t| parse_arp(&t)).unwrap_or_default();
    let now = now();
    pages::layout(
        "Clients",
        hostname,
        Some(csrf),
        html! {
            h2 { "DHCP leases" }
            @if leases.is_empty() { p { "No leases." } } @else {
                table {
                    tr { th { "Hostname" } th { "Address" } th { "MAC" } th { "Expires" } }
                    @for l in &leases {
                        tr {
                            td.host { (l.hostname.as_deref().unwrap_or("-")) }
                            td { code { (l.ip) } }
                            td { code { (l.mac) } }
                            td { @if l.expires > now { "in " (crate::html::format_uptime((l.expires - now) as f64)) } @else { "expired" } }
                        }
                    }
                }
            }
            h2 { "Neighbours (IPv4)" }
            @if neighbours.is_empty() { p { "None." } } @else {
                table {
                    tr { th { "Address" } th { "MAC" } th { "Interface" } }
                    @for n in &neighbours { tr { td { code { (n.ip) } } td { code { (n.mac) } } td { (n.device) } } }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_parse_and_skip_bad_lines() {
        let t = "# netd DHCP leases: expiry mac ip hostname (* for none)\n\
                 1767225600 02:00:00:00:00:10 192.168.1.100 laptop\n\
                 1767225601 02:00:00:00:00:11 192.168.1.101 *\n\
                 garbage\n\
                 12 02:00:00:00:00:12\n";
        let l = parse_leases(t);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0], Lease { expires: 1767225600, mac: "02:00:00:00:00:10".into(), ip: "192.168.1.100".into(), hostname: Some("laptop".into()) });
        assert_eq!(l[1].hostname, None);
    }

    #[test]
    fn arp_skips_incomplete() {
        let t = "IP address       HW type     Flags       HW address            Mask     Device\n\
                 192.168.1.100    0x1         0x2         02:00:00:00:00:10     *        br-lan\n\
                 192.168.1.7      0x1         0x0         00:00:00:00:00:00     *        br-lan\n";
        assert_eq!(parse_arp(t), vec![Neighbour { ip: "192.168.1.100".into(), mac: "02:00:00:00:00:10".into(), device: "br-lan".into() }]);
    }

    #[test]
    fn hostnames_are_text() {
        let m = html! { @for l in parse_leases("1 m 1.2.3.4 <img/src=x/onerror=alert(1)>\n") { td { (l.hostname.unwrap()) } } };
        assert_eq!(m.into_string(), "<td>&lt;img/src=x/onerror=alert(1)&gt;</td>");
    }
}
